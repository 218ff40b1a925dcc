#include "optim/clip.h"

#include <cmath>

#include "core/error.h"
#include "optim/optimizer.h"

namespace nibble::optim {

float clip_grad_norm(const std::vector<Tensor>& params, float max_norm) {
  NIBBLE_CHECK(max_norm >= 0.0f, "clip_grad_norm", "max_norm must be >= 0, got " + format_value(max_norm));
  // Sum of squares in double: millions of float squares summed in float would lose the small ones.
  double sum_sq = 0.0;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    const Tensor g = p.grad().contiguous();
    const float* d = g.data();
    for (int64_t j = 0; j < g.numel(); ++j) sum_sq += static_cast<double>(d[j]) * d[j];
  }
  const double total = std::sqrt(sum_sq);
  const double scale = max_norm / (total + 1e-6);
  if (scale < 1.0) {
    const float s = static_cast<float>(scale);
    for (const Tensor& p : params) {
      if (!p.defined() || !p.grad().defined()) continue;
      // Scale in place: autograd gives each leaf its own contiguous grad buffer (see accumulate()
      // in core/autograd.cpp), so no other tensor sees this write.
      Tensor g = p.grad();
      float* d = g.data();
      for (int64_t j = 0; j < g.numel(); ++j) d[j] *= s;
    }
  }
  return static_cast<float>(total);
}

}  // namespace nibble::optim
