// Helpers shared by the optim tests: tiny problems with known gradients.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
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

// Runs `steps` steps of optimizer Opt (built with options o) on the shifted quadratic above,
// started at p0, beside `ref`, an independent double-precision model of the same update rule
// (ref.step(q, g) updates q in place from the gradient g), and checks every entry after every
// step: |p - q| <= rtol * (1 + |q|).
template <class Opt, class Options, class Ref>
void expect_follows_reference(const Options& o, Ref ref, const std::vector<float>& a_values,
                              const std::vector<float>& p0, const std::vector<float>& c_values,
                              int steps, double rtol) {
  const Tensor a = Tensor::from_vector(a_values);
  const Tensor c = Tensor::from_vector(c_values);
  Tensor p = param(p0);
  Opt opt({p}, o);
  std::vector<double> q(p0.begin(), p0.end());
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    shifted_quadratic_backward(p, a, c);
    opt.step();
    std::vector<double> g(q.size());
    for (size_t j = 0; j < q.size(); ++j) g[j] = a_values[j] * (q[j] - c_values[j]);
    ref.step(q, g);
    for (size_t j = 0; j < q.size(); ++j) {
      ASSERT_NEAR(p.data()[j], q[j], rtol * (1 + std::abs(q[j])))
          << "step " << step << " entry " << j;
    }
  }
}

// Least squares: loss = sum((x @ w - y)^2).
inline Tensor least_squares_loss(const Tensor& x, const Tensor& w, const Tensor& y) {
  return sum(pow(sub(matmul(x, w), y), 2.0f));
}

}  // namespace nibble::optim::test
