// LSQ — learned step size quantization (Esser, McKinstry, Bablani, Appuswamy, Modha 2019), the
// advanced exercise of module 04 (library code; lesson: modules/04_quantization/README.md).
//
// The step (scale) s is a trained parameter, per tensor, with zero point 0 and codes [quant_min,
// quant_max] = [−Qn, Qp] (e.g. [−8, 7] for signed 4 bits, [0, 15] for unsigned):
//   v = x / s,   x̂ = s · clamp(round_half_even(v), −Qn, Qp)
//   ∂x̂/∂x = 1 if −Qn <= v <= Qp, else 0                          (the STE)
//   ∂x̂/∂s = round(v) − v inside, −Qn below, Qp above              (the paper's eq. 3)
// and the step's gradient is multiplied by g = 1/sqrt(N·Qp) (N = the number of values the step
// serves: weights of the layer, or features of an activation), which keeps the step's updates
// on the scale of the weights' (the paper's §2.2). Both are the exact derivatives of the surrogate
// s·clamp(v, −Qn, Qp) + s·c with c = round(v) − v held constant inside — which is how the test
// checks them by finite differences.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace nibble {

// x any shape; scale a one-element tensor (> 0), usually a parameter; grad_scale > 0.
// Throws naming the argument for a bad range (2..8 bits), scale or grad_scale.
Tensor lsq_fake_quantize(const Tensor& x, const Tensor& scale, int64_t quant_min, int64_t quant_max,
                         double grad_scale);

// g = 1 / sqrt(n · quant_max): the paper's gradient scale for a step shared by n values.
double lsq_grad_scale(int64_t n, int64_t quant_max);

// The paper's initial step 2·mean|x| / sqrt(Qp), as a one-element tensor [1].
Tensor lsq_initial_scale(const Tensor& x, int64_t quant_max);

}  // namespace nibble
