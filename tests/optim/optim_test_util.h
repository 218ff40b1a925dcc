// Helpers shared by the optim tests: tiny problems with known gradients.
#pragma once

#include <vector>

#include "core/ops.h"
#include "core/tensor.h"

namespace nibble::optim::test {

// A leaf parameter [n] holding `values`.
inline Tensor param(const std::vector<float>& values) {
  Tensor p = Tensor::from_vector(values);
  p.requires_grad_(true);
  return p;
}

// loss = 0.5 * sum(a * (p - c)^2), so dloss/dp = a * (p - c); leaves it in p.grad(). c != 0, so the
// gradient is not proportional to p (Adam is blind to a per-entry rescaling of the gradient, and
// with g ~ p it would be blind to an L2 term ~ p as well).
inline void shifted_quadratic_backward(const Tensor& p, const Tensor& a, const Tensor& c) {
  const Tensor d = sub(p, c);
  sum(mul(mul(a, mul(d, d)), 0.5f)).backward();
}

// Least squares: loss = sum((x @ w - y)^2).
inline Tensor least_squares_loss(const Tensor& x, const Tensor& w, const Tensor& y) {
  return sum(pow(sub(matmul(x, w), y), 2.0f));
}

}  // namespace nibble::optim::test
