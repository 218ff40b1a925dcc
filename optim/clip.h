// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_.
//
//   total = sqrt( sum over parameters p, entries j of  p.grad[j]^2 )   (one norm over all grads)
//   scale = max_norm / (total + 1e-6)
//   if scale < 1:  every gradient *= scale         (the direction is kept, the length capped)
//
// Call it between loss.backward() and opt.step(). Returns `total` measured *before* clipping,
// which is worth logging: a sudden spike is the classic sign of a diverging run.
// Parameters without a gradient are skipped. As in PyTorch (error_if_nonfinite=False), a NaN or
// inf norm is returned, not thrown; the gradients then become NaN and the step will show it.
// Pruned (masked) entries count: their gradients are real gradients of the loss, and the mask is
// only enforced on the weights after the step.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace nibble::optim {

float clip_grad_norm(const std::vector<Tensor>& params, float max_norm);

}  // namespace nibble::optim
