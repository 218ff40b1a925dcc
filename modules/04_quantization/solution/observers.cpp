// Module 04 — calibration: the min-max and moving-average observers, percentiles and TensorRT's
// entropy (KL divergence) threshold search. The API, with what each function must do:
// compression/quantization.h. Your code replaces each `throw nibble::NotImplemented`; the input
// checks before it are given.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "compression/quantization.h"
#include "core/error.h"
#include "info_theory/entropy.h"

namespace nibble {

void MinMaxObserver::forward(const Tensor& x) {
  check_input(x);
  // BEGIN SOLUTION MinMaxObserver_forward
  std::vector<float> lo, hi;
  channel_min_max(x, ch_axis(), &lo, &hi);
  if (!has_data()) {
    min_val_ = lo;
    max_val_ = hi;
    return;
  }
  for (size_t c = 0; c < lo.size(); ++c) {
    min_val_[c] = std::min(min_val_[c], lo[c]);
    max_val_[c] = std::max(max_val_[c], hi[c]);
  }
  // END SOLUTION
}

void MovingAverageMinMaxObserver::forward(const Tensor& x) {
  check_input(x);
  // BEGIN SOLUTION MovingAverageMinMaxObserver_forward
  std::vector<float> lo, hi;
  channel_min_max(x, ch_axis(), &lo, &hi);
  if (!has_data()) {
    min_val_ = lo;
    max_val_ = hi;
    return;
  }
  for (size_t c = 0; c < lo.size(); ++c) {
    min_val_[c] = static_cast<float>(min_val_[c] + c_ * (lo[c] - min_val_[c]));
    max_val_[c] = static_cast<float>(max_val_[c] + c_ * (hi[c] - max_val_[c]));
  }
  // END SOLUTION
}

double percentile(std::vector<float> values, double q) {
  NIBBLE_CHECK(!values.empty(), "percentile", "values is empty", "an observer that saw no data has no percentile");
  NIBBLE_CHECK(std::isfinite(q) && q >= 0.0 && q <= 100.0, "percentile",
               "q = " + std::to_string(q) + " is outside [0, 100]", "q is a percentage, e.g. 99.99");
  // BEGIN SOLUTION percentile
  std::sort(values.begin(), values.end());
  const double pos = q / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return static_cast<double>(values[lo]) + frac * (static_cast<double>(values[hi]) - values[lo]);
  // END SOLUTION
}

double entropy_threshold(const std::vector<double>& hist, double bin_width, int64_t num_quantized_bins) {
  NIBBLE_CHECK(num_quantized_bins >= 2, "entropy_threshold",
               "num_quantized_bins = " + std::to_string(num_quantized_bins) + " is below 2",
               "2^(bits-1) levels: 128 for int8");
  NIBBLE_CHECK(static_cast<int64_t>(hist.size()) >= num_quantized_bins, "entropy_threshold",
               "hist has " + std::to_string(hist.size()) + " bins, fewer than num_quantized_bins = " +
                   std::to_string(num_quantized_bins),
               "use a finer histogram (2048 bins is usual)");
  NIBBLE_CHECK(std::isfinite(bin_width) && bin_width > 0.0, "entropy_threshold",
               "bin_width = " + std::to_string(bin_width) + " is not finite and > 0");
  double total = 0.0;
  for (const double h : hist) {
    NIBBLE_CHECK(std::isfinite(h) && h >= 0.0, "entropy_threshold", "hist holds the count " + std::to_string(h),
                 "counts are finite and >= 0");
    total += h;
  }
  NIBBLE_CHECK(total > 0.0, "entropy_threshold", "hist is all zero", "the observer saw no data");
  // BEGIN SOLUTION entropy_threshold
  const int64_t n = static_cast<int64_t>(hist.size());
  const int64_t nq = num_quantized_bins;
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = n;
  for (int64_t i = nq; i <= n; ++i) {
    std::vector<double> p(hist.begin(), hist.begin() + i);
    for (int64_t k = i; k < n; ++k) p[static_cast<size_t>(i - 1)] += hist[static_cast<size_t>(k)];
    std::vector<double> q(static_cast<size_t>(i), 0.0);
    for (int64_t j = 0; j < nq; ++j) {
      const int64_t begin = j * i / nq, end = (j + 1) * i / nq;
      double sum = 0.0;
      int64_t nonzero = 0;
      for (int64_t k = begin; k < end; ++k) {
        sum += hist[static_cast<size_t>(k)];
        if (p[static_cast<size_t>(k)] != 0.0) ++nonzero;
      }
      for (int64_t k = begin; k < end; ++k)
        if (p[static_cast<size_t>(k)] != 0.0) q[static_cast<size_t>(k)] = sum / static_cast<double>(nonzero);
    }
    double sp = 0.0, sq = 0.0;
    for (size_t k = 0; k < p.size(); ++k) {
      sp += p[k];
      sq += q[k];
    }
    if (sp == 0.0 || sq == 0.0) continue;
    for (size_t k = 0; k < p.size(); ++k) {
      p[k] /= sp;
      q[k] /= sq;
    }
    const double kl = kl_divergence(p, q);
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return static_cast<double>(best_i) * bin_width;
  // END SOLUTION
}

}  // namespace nibble
