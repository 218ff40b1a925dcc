// SGD with momentum, dampening, Nesterov momentum and L2 weight decay: torch.optim.SGD exactly.
//
// For each parameter p with gradient g, step t = 1, 2, ...:
//   g   = g + weight_decay * p                      (L2 penalty, added to the gradient)
//   if momentum != 0:
//     buf = g                                       if t == 1  (no dampening on the first step)
//     buf = momentum * buf + (1 - dampening) * g    otherwise
//     g   = g + momentum * buf                      if nesterov
//     g   = buf                                     otherwise
//   p   = p - lr * g
//
//   optim::SGD opt(model.parameters(), {/*lr=*/0.1f, /*momentum=*/0.9f});
#pragma once

#include "optim/optimizer.h"

namespace nibble::optim {

struct SgdOptions {
  float lr = 1e-3f;  // PyTorch's default since 2.2; pick your own in practice
  float momentum = 0.0f;      // in [0, 1)
  float dampening = 0.0f;     // in [0, 1]; must be 0 with nesterov
  float weight_decay = 0.0f;  // >= 0
  bool nesterov = false;      // needs momentum > 0 and dampening == 0
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SgdOptions options = {});
  const SgdOptions& options() const { return options_; }  // options_.lr is the *initial* lr

 protected:
  void update(float* p, const float* g, int64_t n, ParamState& state) override;

 private:
  SgdOptions options_;
};

}  // namespace nibble::optim
