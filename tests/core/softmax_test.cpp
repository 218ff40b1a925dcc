// softmax / log_softmax: hand-computed cases, a double-precision log-sum-exp reference on random
// inputs along every axis, stability for huge logits, and finite-difference gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;
using testing::unravel;

// Reference log_softmax along `axis` in double, indexed like x (row-major), via Tensor::at().
std::vector<double> reference_log_softmax(const Tensor& x, int64_t axis) {
  std::vector<double> out(x.numel());
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    std::vector<int64_t> index = unravel(flat, x.shape());
    const double xi = x.at(index);
    // log sum_k exp(x_k) written the naive way in double: fine for the small randn inputs here.
    double total = 0.0;
    for (int64_t k = 0; k < x.shape()[axis]; ++k) {
      index[axis] = k;
      total += std::exp(static_cast<double>(x.at(index)));
    }
    out[flat] = xi - std::log(total);
  }
  return out;
}

TEST(Softmax, HandComputedProbabilities) {
  // softmax(log p) = p for a distribution p.
  const Tensor logits = Tensor::from_vector({std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f)});
  const std::vector<float> p = softmax(logits, 0).to_vector();
  const std::vector<double> want = {0.1, 0.2, 0.3, 0.4};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(p[i], want[i], 1e-6);
  const std::vector<float> lp = log_softmax(logits, -1).to_vector();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(lp[i], std::log(want[i]), 1e-6);
  // Two equal logits and one e^1 larger: [1, 1, 2] -> [1, 1, e] / (2 + e).
  const std::vector<float> q = softmax(Tensor::from_vector({1, 1, 2}), 0).to_vector();
  const double z = 2.0 + std::exp(1.0);
  EXPECT_NEAR(q[0], 1.0 / z, 1e-7);
  EXPECT_NEAR(q[2], std::exp(1.0) / z, 1e-7);
}

TEST(Softmax, EveryAxisMatchesDoubleReference) {
  manual_seed(11);
  const Tensor base = Tensor::randn({3, 4, 5}, 0.0f, 2.0f);
  for (const Tensor& x : {base, base.permute({2, 0, 1})}) {  // also a non-contiguous view
    for (int64_t axis = -3; axis < 3; ++axis) {
      SCOPED_TRACE("axis " + std::to_string(axis));
      const std::vector<double> want = reference_log_softmax(x, axis < 0 ? axis + 3 : axis);
      const Tensor y = softmax(x, axis);
      const Tensor z = log_softmax(x, axis);
      ASSERT_EQ(y.shape(), x.shape());
      ASSERT_EQ(z.shape(), x.shape());
      const std::vector<float> yv = y.to_vector(), zv = z.to_vector();
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(yv[i], std::exp(want[i]), 1e-6);
        EXPECT_NEAR(zv[i], want[i], 2e-6);
      }
    }
  }
}

TEST(Softmax, HugeLogitsStayFinite) {
  const Tensor logits = Tensor::from_vector({1e4f, 0.0f, -1e4f});
  const std::vector<float> p = softmax(logits, 0).to_vector();
  EXPECT_EQ(p, (std::vector<float>{1.0f, 0.0f, 0.0f}));
  // log_softmax keeps the information softmax rounds to 0: exactly [0, -1e4, -2e4].
  EXPECT_EQ(log_softmax(logits, 0).to_vector(), (std::vector<float>{0.0f, -1e4f, -2e4f}));
  // All logits huge and close together: the differences still matter.
  const std::vector<float> q = softmax(Tensor::from_vector({1e4f, 1e4f + 1.0f}), 0).to_vector();
  EXPECT_NEAR(q[1], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
}

TEST(Softmax, MaskedEntriesGetZeroProbability) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> p = softmax(Tensor::from_vector({0.0f, -inf, 0.0f}), 0).to_vector();
  EXPECT_EQ(p, (std::vector<float>{0.5f, 0.0f, 0.5f}));
}

TEST(Softmax, GradientsOnEveryAxis) {
  manual_seed(12);
  for (int64_t axis : {0, 1, 2, -1}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    EXPECT_TRUE(gradcheck([=](const auto& x) { return softmax(x[0], axis); }, {Tensor::randn({2, 3, 4})}));
    EXPECT_TRUE(gradcheck([=](const auto& x) { return log_softmax(x[0], axis); }, {Tensor::randn({2, 3, 4})}));
  }
  // Non-contiguous inputs: a transpose and a permutation.
  EXPECT_TRUE(gradcheck([](const auto& x) { return softmax(x[0], 1); }, {Tensor::randn({5, 3}).t()}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return log_softmax(x[0], 0); }, {Tensor::randn({5, 3}).t()}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return softmax(x[0], -2); },
                        {Tensor::randn({2, 3, 4}).permute({2, 0, 1})}));
  // Large-magnitude logits: the analytic gradient must agree there too.
  EXPECT_TRUE(gradcheck([](const auto& x) { return log_softmax(x[0], 1); }, {Tensor::randn({2, 5}, 50.0f, 1.0f)}));
}

TEST(Softmax, BackwardByHandForUniformRow) {
  // y = softmax(0, 0) = [1/2, 1/2]; with upstream g = [1, 0]: dx = y * (g - <g, y>) = [1/4, -1/4].
  Tensor x = Tensor::zeros({2}).requires_grad_();
  softmax(x, 0).backward(Tensor::from_vector({1, 0}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0.25f, -0.25f}));
  // log_softmax: dx = g - y * sum(g) = [1 - 1/2, 0 - 1/2].
  Tensor w = Tensor::zeros({2}).requires_grad_();
  log_softmax(w, 0).backward(Tensor::from_vector({1, 0}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{0.5f, -0.5f}));
}

TEST(Softmax, Errors) {
  EXPECT_TRUE(throws_error_containing([] { softmax(Tensor::zeros({2, 3}), 2); },
                                      "softmax: axis 2 is out of range for a tensor of rank 2"));
  EXPECT_TRUE(throws_error_containing([] { log_softmax(Tensor::zeros({2, 3}), -3); },
                                      "log_softmax: axis -3 is out of range for a tensor of rank 2"));
  EXPECT_TRUE(throws_error_containing([] { softmax(Tensor(), 0); }, "softmax: argument is an undefined tensor"));
}

}  // namespace
}  // namespace nibble
