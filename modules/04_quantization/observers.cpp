// modules/04_quantization/observers.cpp — module 04: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.
// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)
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
  throw nibble::NotImplemented("module 04: MinMaxObserver_forward");
}

void MovingAverageMinMaxObserver::forward(const Tensor& x) {
  check_input(x);
  throw nibble::NotImplemented("module 04: MovingAverageMinMaxObserver_forward");
}

double percentile(std::vector<float> values, double q) {
  NIBBLE_CHECK(!values.empty(), "percentile", "values is empty", "an observer that saw no data has no percentile");
  NIBBLE_CHECK(std::isfinite(q) && q >= 0.0 && q <= 100.0, "percentile",
               "q = " + std::to_string(q) + " is outside [0, 100]", "q is a percentage, e.g. 99.99");
  throw nibble::NotImplemented("module 04: percentile");
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
  throw nibble::NotImplemented("module 04: entropy_threshold");
}

}  // namespace nibble
