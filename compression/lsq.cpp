#include "compression/lsq.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble {

double lsq_grad_scale(int64_t n, int64_t quant_max) {
  NIBBLE_CHECK(n >= 1 && quant_max >= 1, "lsq_grad_scale",
               "n = " + std::to_string(n) + ", quant_max = " + std::to_string(quant_max) + " (both must be >= 1)");
  return 1.0 / std::sqrt(static_cast<double>(n) * static_cast<double>(quant_max));
}

Tensor lsq_initial_scale(const Tensor& x, int64_t quant_max) {
  NIBBLE_CHECK(x.defined() && x.numel() > 0 && quant_max >= 1, "lsq_initial_scale", "x is empty or quant_max < 1");
  const std::vector<float> v = x.detach().contiguous().to_vector();
  double mean_abs = 0.0;
  for (const float a : v) mean_abs += std::fabs(a) / static_cast<double>(v.size());
  const double s = 2.0 * mean_abs / std::sqrt(static_cast<double>(quant_max));
  return Tensor::from_vector({static_cast<float>(std::max(s, 1e-8))}, {1});
}

Tensor lsq_fake_quantize(const Tensor& x, const Tensor& scale, int64_t quant_min, int64_t quant_max,
                         double grad_scale) {
  const char* fn = "lsq_fake_quantize";
  NIBBLE_CHECK(x.defined(), fn, "x is undefined");
  NIBBLE_CHECK(quant_min <= 0 && quant_max >= 1 && quant_max - quant_min >= 3 && quant_max - quant_min <= 255, fn,
               "quant_min = " + std::to_string(quant_min) + ", quant_max = " + std::to_string(quant_max) +
                   " is not a 2..8-bit range containing 0",
               "LSQ has no zero point: use [-2^(b-1), 2^(b-1)-1] or [0, 2^b-1]");
  NIBBLE_CHECK(scale.defined() && scale.numel() == 1, fn,
               "scale is " + (scale.defined() ? scale.shape_str() : std::string("undefined")),
               "one learnable step per tensor, e.g. lsq_initial_scale(x, quant_max)");
  const float s = scale.detach().item();
  NIBBLE_CHECK(std::isfinite(s) && s > 0.0f, fn, "scale = " + std::to_string(s) + " is not finite and > 0",
               "a step can go negative under a large learning rate: clamp it or lower the rate");
  NIBBLE_CHECK(std::isfinite(grad_scale) && grad_scale > 0.0, fn,
               "grad_scale = " + std::to_string(grad_scale) + " is not > 0", "use lsq_grad_scale(n, quant_max)");
  const double qn = static_cast<double>(quant_min), qp = static_cast<double>(quant_max);
  return apply_function(
      "lsq_fake_quantize", {x, scale},
      [=](FunctionCtx& ctx, const std::vector<Tensor>& in) {
        std::vector<float> v = in[0].contiguous().to_vector();
        std::vector<float> dx(v.size()), ds(v.size());  // ∂x̂/∂x and ∂x̂/∂s per element
        for (size_t i = 0; i < v.size(); ++i) {
          const double u = static_cast<double>(v[i]) / s;
          const bool inside = u >= qn && u <= qp;
          const double r = std::clamp(std::nearbyint(u), qn, qp);
          dx[i] = inside ? 1.0f : 0.0f;
          ds[i] = static_cast<float>(inside ? std::nearbyint(u) - u : (u < qn ? qn : qp));
          v[i] = static_cast<float>(s * r);
        }
        ctx.save_for_backward({Tensor::from_vector(dx, in[0].shape()), Tensor::from_vector(ds, in[0].shape())});
        return Tensor::from_vector(v, in[0].shape());
      },
      [grad_scale, shape = scale.shape()](const FunctionCtx& ctx, const Tensor& g) {
        const Tensor& dx = ctx.saved_tensors()[0];
        const Tensor& ds = ctx.saved_tensors()[1];
        const Tensor gs = mul(sum(mul(g, ds)), static_cast<float>(grad_scale)).reshape(shape);
        return grads{mul(g, dx), gs};
      });
}

}  // namespace nibble
