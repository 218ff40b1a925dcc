// Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), as torch.optim.Adam/AdamW.
//
// For each parameter p with gradient g, step t = 1, 2, ... (m, v start at 0):
//   Adam:   g = g + weight_decay * p            (L2 penalty folded into the gradient)
//   AdamW:  p = p - lr * weight_decay * p       (decoupled: shrink the weight itself, g unchanged)
//   m = beta1 * m + (1 - beta1) * g             first moment  (running mean of g)
//   v = beta2 * v + (1 - beta2) * g^2           second moment (running mean of g^2)
//   m_hat = m / (1 - beta1^t)                   bias correction: m, v start at 0, so early
//   v_hat = v / (1 - beta2^t)                   averages are too small by exactly these factors
//   p = p - lr * m_hat / (sqrt(v_hat) + eps)
//
// Why AdamW: in Adam the decay term passes through 1/sqrt(v_hat), so weights with large gradients
// are barely decayed. AdamW applies the same relative shrink to every weight.
#pragma once

#include "optim/optimizer.h"

namespace nibble::optim {

// The betas are floats like every other number in nibble: 0.999f is really 0.99899995, so our
// (1 - beta2) is 5e-5 (relative) larger than PyTorch's double 0.001. The bias correction uses the
// same float beta, so the estimates stay unbiased; only the last digits differ from PyTorch.
struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;         // in [0, 1)
  float beta2 = 0.999f;       // in [0, 1)
  float eps = 1e-8f;          // > 0: with eps = 0 an entry whose gradient was always 0 gives 0/0
  float weight_decay = 0.0f;  // >= 0; L2 added to the gradient
};

// The same fields, with PyTorch's AdamW default weight_decay = 1e-2 (decoupled decay).
struct AdamWOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 1e-2f;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  const AdamOptions& options() const { return options_; }  // options_.lr is the *initial* lr

 protected:
  // For AdamW: decoupled = true applies weight decay to the weights instead of the gradient.
  Adam(const char* name, std::vector<Tensor> params, const AdamOptions& options, bool decoupled);
  void update(float* p, const float* g, int64_t n, ParamState& state) override;

 private:
  AdamOptions options_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
};

}  // namespace nibble::optim
