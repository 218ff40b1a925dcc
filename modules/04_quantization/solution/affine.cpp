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
  // BEGIN SOLUTION calculate_qparams
  for (size_t c = 0; c < min_val.size(); ++c) {
    const double min_neg = std::min(min_val[c], 0.0f);
    const double max_pos = std::max(max_val[c], 0.0f);
    double scale;
    int64_t zero_point;
    if (symmetric) {
      const double a = std::max(-min_neg, max_pos);
      scale = a / (static_cast<double>(quant_max - quant_min) / 2.0);
      zero_point = quant_min < 0 ? 0 : (quant_min + quant_max + 1) / 2;
    } else {
      scale = (max_pos - min_neg) / static_cast<double>(quant_max - quant_min);
      scale = std::max(scale, static_cast<double>(kMinScale));
      zero_point = quant_min - static_cast<int64_t>(std::nearbyint(min_neg / scale));
      zero_point = std::clamp(zero_point, quant_min, quant_max);
    }
    qp.scale.push_back(std::max(static_cast<float>(scale), kMinScale));
    qp.zero_point.push_back(zero_point);
  }
  return qp;
  // END SOLUTION
}

Tensor quantize(const Tensor& x, const QParams& qp) {
  NIBBLE_CHECK(x.defined(), "quantize", "x is undefined");
  validate_qparams(qp, x, "quantize");
  NoGradGuard no_grad;
  // BEGIN SOLUTION quantize
  const std::vector<int64_t> ch = channel_of_each_element(x, qp);
  std::vector<float> v = x.contiguous().to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t c = static_cast<size_t>(ch[i]);
    const double q = std::nearbyint(static_cast<double>(v[i]) / qp.scale[c]) + static_cast<double>(qp.zero_point[c]);
    v[i] = static_cast<float>(std::clamp(q, static_cast<double>(qp.quant_min), static_cast<double>(qp.quant_max)));
  }
  return Tensor::from_vector(v, x.shape());
  // END SOLUTION
}

Tensor dequantize(const Tensor& q, const QParams& qp) {
  NIBBLE_CHECK(q.defined(), "dequantize", "q is undefined");
  validate_qparams(qp, q, "dequantize");
  NoGradGuard no_grad;
  // BEGIN SOLUTION dequantize
  const std::vector<int64_t> ch = channel_of_each_element(q, qp);
  std::vector<float> v = q.contiguous().to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t c = static_cast<size_t>(ch[i]);
    v[i] = qp.scale[c] * (v[i] - static_cast<float>(qp.zero_point[c]));
  }
  return Tensor::from_vector(v, q.shape());
  // END SOLUTION
}

Tensor fake_quantize(const Tensor& x, const QParams& qp) {
  NIBBLE_CHECK(x.defined(), "fake_quantize", "x is undefined");
  validate_qparams(qp, x, "fake_quantize");
  // BEGIN SOLUTION fake_quantize
  return apply_function(
      "fake_quantize", {x},
      [qp](FunctionCtx& ctx, const std::vector<Tensor>& in) {
        const std::vector<int64_t> ch = channel_of_each_element(in[0], qp);
        std::vector<float> v = in[0].contiguous().to_vector();
        std::vector<float> mask(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
          const size_t c = static_cast<size_t>(ch[i]);
          const double q = std::nearbyint(static_cast<double>(v[i]) / qp.scale[c]) + static_cast<double>(qp.zero_point[c]);
          mask[i] = (q >= static_cast<double>(qp.quant_min) && q <= static_cast<double>(qp.quant_max)) ? 1.0f : 0.0f;
          const double qc = std::clamp(q, static_cast<double>(qp.quant_min), static_cast<double>(qp.quant_max));
          v[i] = qp.scale[c] * static_cast<float>(qc - static_cast<double>(qp.zero_point[c]));
        }
        ctx.save_for_backward({Tensor::from_vector(mask, in[0].shape())});
        return Tensor::from_vector(v, in[0].shape());
      },
      [](const FunctionCtx& ctx, const Tensor& grad) {
        return grads{mul(grad, ctx.saved_tensors()[0])};  // STE: 1 inside the clamp range, 0 outside
      });
  // END SOLUTION
}

}  // namespace nibble
