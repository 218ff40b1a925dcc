// Helpers shared by module 04's visible and hidden tests. Nothing here calls the code under test.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "compression/quantization.h"
#include "core/error.h"
#include "core/tensor.h"

namespace quant_testing {

using nibble::QParams;
using nibble::Tensor;

// The error is a nibble::Error (not NotImplemented) whose message names `function` and `value`.
inline bool rejects(const std::function<void()>& fn, const std::string& function, const std::string& value) {
  try {
    fn();
  } catch (const nibble::NotImplemented&) {
    return false;
  } catch (const nibble::Error& e) {
    const std::string what = e.what();
    return what.find(function) != std::string::npos && what.find(value) != std::string::npos;
  }
  return false;
}

inline QParams per_tensor(float scale, int64_t zero_point, int64_t quant_min, int64_t quant_max) {
  QParams qp;
  qp.scale = {scale};
  qp.zero_point = {zero_point};
  qp.quant_min = quant_min;
  qp.quant_max = quant_max;
  return qp;
}

inline QParams per_channel(std::vector<float> scale, std::vector<int64_t> zero_point, int64_t quant_min,
                           int64_t quant_max, int64_t ch_axis) {
  QParams qp;
  qp.scale = std::move(scale);
  qp.zero_point = std::move(zero_point);
  qp.quant_min = quant_min;
  qp.quant_max = quant_max;
  qp.ch_axis = ch_axis;
  return qp;
}

inline std::vector<float> values(const Tensor& t) { return t.contiguous().to_vector(); }

// Round half to even, written without nearbyint: floor, then the tie goes to the even neighbour.
inline double round_half_even(double v) {
  const double f = std::floor(v);
  const double d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1.0;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

// Uniform floats in [lo, hi).
inline std::vector<float> uniform(size_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>((rng() >> 11) * (1.0 / 9007199254740992.0));
  return v;
}

// A heavy-tailed sample: Laplace(0, 1) from the inverse CDF, deterministic for a seed.
inline std::vector<float> laplace(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) {
    const double u = ((rng() >> 11) + 0.5) * (1.0 / 9007199254740992.0) - 0.5;  // (-0.5, 0.5)
    x = static_cast<float>(-(u < 0 ? -1.0 : 1.0) * std::log(1.0 - 2.0 * std::fabs(u)));
  }
  return v;
}

}  // namespace quant_testing
