#include "optim/adam.h"

#include <cmath>
#include <utility>

#include "core/error.h"

namespace nibble::optim {

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam("Adam", std::move(params), options, /*decoupled=*/false) {}

Adam::Adam(const char* name, std::vector<Tensor> params, const AdamOptions& options,
           bool decoupled)
    : Optimizer(name, std::move(params), options.lr), options_(options), decoupled_(decoupled) {
  const AdamOptions& o = options_;
  NIBBLE_CHECK(o.beta1 >= 0.0f && o.beta1 < 1.0f, name, "beta1 must be in [0, 1), got " + format_value(o.beta1));
  NIBBLE_CHECK(o.beta2 >= 0.0f && o.beta2 < 1.0f, name, "beta2 must be in [0, 1), got " + format_value(o.beta2));
  NIBBLE_CHECK(o.eps > 0.0f, name, "eps must be > 0, got " + format_value(o.eps));
  NIBBLE_CHECK(o.weight_decay >= 0.0f, name,
        "weight_decay must be >= 0, got " + format_value(o.weight_decay));
}

void Adam::update(float* p, const float* g, int64_t n, ParamState& state) {
  if (state.buffers.empty()) {
    state.buffers.push_back(Tensor::zeros({n}));  // m: exp_avg
    state.buffers.push_back(Tensor::zeros({n}));  // v: exp_avg_sq
  }
  float* m = state.buffers[0].data();
  float* v = state.buffers[1].data();
  const float b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps;
  const float wd = options_.weight_decay;
  const float lr = this->lr();

  // The per-step scalars in double, as PyTorch computes them in Python floats. Folding them the
  // way PyTorch does:  p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
  const double t = static_cast<double>(state.step);
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(b1), t);
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(b2), t);
  const float step_size = static_cast<float>(lr / bias_correction1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float shrink = 1.0f - lr * wd;  // AdamW's decoupled decay factor

  for (int64_t j = 0; j < n; ++j) {
    float grad = g[j];
    if (decoupled_) {
      p[j] *= shrink;          // p = p - lr * weight_decay * p
    } else {
      grad += wd * p[j];       // g = g + weight_decay * p
    }
    m[j] = b1 * m[j] + (1.0f - b1) * grad;
    v[j] = b2 * v[j] + (1.0f - b2) * grad * grad;
    const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
    p[j] -= step_size * m[j] / denom;
  }
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : Adam("AdamW", std::move(params), AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay},
           /*decoupled=*/true) {}

}  // namespace nibble::optim
