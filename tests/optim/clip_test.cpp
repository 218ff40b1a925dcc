// clip_grad_norm against hand-computed norms.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "optim/optim.h"
#include "optim_test_util.h"

namespace nibble::optim {
namespace {

using test::param;

// Gives p the gradient `g` (loss = sum(p * g)).
void set_grad(Tensor& p, const std::vector<float>& g) {
  sum(mul(p, Tensor::from_vector(g, p.shape()))).backward();
}

TEST(OptimClip, ScalesToMaxNorm) {
  // grads (3, 4) and (12): total norm sqrt(9 + 16 + 144) = 13.
  Tensor a = param({0.0f, 0.0f});
  Tensor b = param({0.0f});
  set_grad(a, {3.0f, 4.0f});
  set_grad(b, {12.0f});
  const float total = clip_grad_norm({a, b}, 6.5f);
  EXPECT_FLOAT_EQ(total, 13.0f);
  // scale = 6.5 / (13 + 1e-6) ~ 0.5: grads (1.5, 2) and (6), new norm 6.5.
  EXPECT_NEAR(a.grad().data()[0], 1.5f, 1e-6f);
  EXPECT_NEAR(a.grad().data()[1], 2.0f, 1e-6f);
  EXPECT_NEAR(b.grad().data()[0], 6.0f, 1e-6f);
}

TEST(OptimClip, LeavesSmallGradientsAlone) {
  Tensor a = param({0.0f, 0.0f});
  set_grad(a, {3.0f, 4.0f});
  EXPECT_FLOAT_EQ(clip_grad_norm({a}, 100.0f), 5.0f);  // scale 20 > 1: nothing to do
  EXPECT_EQ(a.grad().data()[0], 3.0f);
  EXPECT_EQ(a.grad().data()[1], 4.0f);
}

TEST(OptimClip, SkipsParametersWithoutGradient) {
  Tensor a = param({0.0f, 0.0f, 0.0f});
  Tensor no_grad = param({1.0f});
  set_grad(a, {1.0f, 2.0f, 2.0f});  // norm 3
  EXPECT_FLOAT_EQ(clip_grad_norm({a, no_grad}, 1.0f), 3.0f);
  EXPECT_FALSE(no_grad.grad().defined());
  EXPECT_NEAR(a.grad().data()[2], 2.0f / 3.0f, 1e-6f);
}

TEST(OptimClip, ZeroMaxNormZeroesGradients) {
  Tensor a = param({0.0f, 0.0f});
  set_grad(a, {3.0f, 4.0f});
  EXPECT_FLOAT_EQ(clip_grad_norm({a}, 0.0f), 5.0f);
  EXPECT_EQ(a.grad().data()[0], 0.0f);
  EXPECT_EQ(a.grad().data()[1], 0.0f);
}

TEST(OptimClip, RejectsNegativeMaxNorm) {
  Tensor a = param({0.0f});
  set_grad(a, {1.0f});
  EXPECT_TRUE(testing::throws_error_containing([&] { clip_grad_norm({a}, -1.0f); },
                                               "clip_grad_norm: max_norm must be >= 0, got -1"));
}

}  // namespace
}  // namespace nibble::optim
