// The Optimizer base: zero_grad, lr, the no-grad update, and convergence on least squares.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "core/autograd.h"
#include "optim/optim.h"
#include "optim_test_util.h"

namespace nibble::optim {
namespace {

using test::least_squares_loss;
using test::param;

TEST(OptimBase, ZeroGradDropsEveryGradient) {
  Tensor a = param({1.0f, 2.0f});
  Tensor b = param({3.0f});
  SGD opt({a, b}, {0.1f});
  sum(add(mul(a, 2.0f), b)).backward();
  ASSERT_TRUE(a.grad().defined());
  ASSERT_TRUE(b.grad().defined());
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(OptimBase, SetLrChangesTheStep) {
  Tensor p = param({1.0f});
  SGD opt({p}, {0.1f});
  opt.set_lr(0.25f);
  EXPECT_FLOAT_EQ(opt.lr(), 0.25f);
  sum(p).backward();  // g = 1
  opt.step();
  EXPECT_FLOAT_EQ(p.item(), 0.75f);
}

TEST(OptimBase, StepWritesInPlaceAndRecordsNothing) {
  Tensor p = param({1.0f, 2.0f});
  const float* storage = p.data();
  SGD opt({p}, {0.1f, 0.9f});
  sum(mul(p, p)).backward();
  opt.step();
  EXPECT_EQ(p.data(), storage);  // same storage: models holding p see the update
  EXPECT_TRUE(p.is_leaf());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(grad_enabled());  // the NoGradGuard inside step() restored grad mode
}

TEST(OptimBase, GradientsAccumulateWithoutZeroGrad) {
  // Two backward passes without zero_grad: the step sees g = 1 + 1 = 2.
  Tensor p = param({0.0f});
  SGD opt({p}, {0.5f});
  sum(p).backward();
  sum(p).backward();
  opt.step();
  EXPECT_FLOAT_EQ(p.item(), -1.0f);
}

// Fits w [3, 1] with loss = sum((x @ w - y)^2), y = x @ w_true, from w = 0.
void expect_converges(const std::function<std::unique_ptr<Optimizer>(Tensor)>& make, int steps) {
  manual_seed(3);
  const Tensor x = Tensor::randn({32, 3});
  const Tensor w_true = Tensor::from_vector({1.5f, -2.0f, 0.5f}, {3, 1});
  const Tensor y = matmul(x, w_true);
  Tensor w = Tensor::zeros({3, 1});
  w.requires_grad_(true);
  std::unique_ptr<Optimizer> opt = make(w);
  const float initial = least_squares_loss(x, w, y).item();
  for (int i = 0; i < steps; ++i) {
    opt->zero_grad();
    least_squares_loss(x, w, y).backward();
    opt->step();
  }
  const float final_loss = least_squares_loss(x, w, y).item();
  EXPECT_LT(final_loss, 1e-6f * initial) << opt->name() << " from " << initial;
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(w.data()[j], w_true.data()[j], 1e-3f) << opt->name();
}

TEST(OptimConvergence, Sgd) {
  expect_converges([](Tensor w) { return std::make_unique<SGD>(std::vector<Tensor>{w}, SgdOptions{0.005f}); }, 500);
}

TEST(OptimConvergence, SgdNesterov) {
  expect_converges([](Tensor w) {
    return std::make_unique<SGD>(std::vector<Tensor>{w}, SgdOptions{0.002f, 0.9f, 0.0f, 0.0f, true});
  }, 500);
}

TEST(OptimConvergence, Adam) {
  // Near the optimum g shrinks, and so does sqrt(v_hat) (more slowly): the steps shrink too.
  expect_converges([](Tensor w) { return std::make_unique<Adam>(std::vector<Tensor>{w}, AdamOptions{0.05f}); }, 2000);
}

}  // namespace
}  // namespace nibble::optim
