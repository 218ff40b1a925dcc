// modules/04_quantization/affine.cpp — module 04: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.
// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)
// Module 04 — affine quantization: scale and zero point, quantize, dequantize and the fake-quantize
// extension op with the straight-through estimator. The API, with what each function must do:
// compression/quantization.h. Your code replaces each `throw nibble::NotImplemented`; the input
// checks before it are given.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "compression/quantization.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble {

QParams calculate_qparams(const std::vector<float>& min_val, const std::vector<float>& max_val, bool symmetric,
                          int64_t quant_min, int64_t quant_max, int64_t ch_axis) {
  NIBBLE_CHECK(!min_val.empty() && min_val.size() == max_val.size(), "calculate_qparams",
               std::to_string(min_val.size()) + " minima and " + std::to_string(max_val.size()) + " maxima",
               "one range per tensor or per channel; an observer that saw no data has none");
  for (size_t c = 0; c < min_val.size(); ++c)
    NIBBLE_CHECK(std::isfinite(min_val[c]) && std::isfinite(max_val[c]) && min_val[c] <= max_val[c],
                 "calculate_qparams",
                 "range " + std::to_string(c) + " is [" + std::to_string(min_val[c]) + ", " +
                     std::to_string(max_val[c]) + "]",
                 "min_val <= max_val, both finite");
  QParams qp;
  qp.quant_min = quant_min;
  qp.quant_max = quant_max;
  qp.ch_axis = ch_axis < 0 ? -1 : ch_axis;
  qp.scale.push_back(1.0f);  // so that validate_qparams can check the range and the axis
  qp.zero_point.push_back(quant_min);
  validate_qparams(qp, Tensor(), "calculate_qparams");
  qp.scale.clear();
  qp.zero_point.clear();
  throw nibble::NotImplemented("module 04: calculate_qparams");
}

Tensor quantize(const Tensor& x, const QParams& qp) {
  NIBBLE_CHECK(x.defined(), "quantize", "x is undefined");
  validate_qparams(qp, x, "quantize");
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 04: quantize");
}

Tensor dequantize(const Tensor& q, const QParams& qp) {
  NIBBLE_CHECK(q.defined(), "dequantize", "q is undefined");
  validate_qparams(qp, q, "dequantize");
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 04: dequantize");
}

Tensor fake_quantize(const Tensor& x, const QParams& qp) {
  NIBBLE_CHECK(x.defined(), "fake_quantize", "x is undefined");
  validate_qparams(qp, x, "fake_quantize");
  throw nibble::NotImplemented("module 04: fake_quantize");
}

}  // namespace nibble
