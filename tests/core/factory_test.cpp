// Free-function factories (arange, full, *_like): values by hand, arange's bad steps, shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::throws_error_containing;

using Floats = std::vector<float>;

TEST(Factory, ArangeCountsLikeNumPy) {
  EXPECT_EQ(arange(5).to_vector(), (Floats{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(0).numel(), 0);
  EXPECT_EQ(arange(2.0f, 5.0f).to_vector(), (Floats{2, 3, 4}));
  EXPECT_EQ(arange(1.0f, 2.0f, 0.5f).to_vector(), (Floats{1, 1.5f}));
  EXPECT_EQ(arange(3.0f, 0.0f, -1.0f).to_vector(), (Floats{3, 2, 1}));
  EXPECT_EQ(arange(1.0f, -1.0f, -0.5f).to_vector(), (Floats{1, 0.5f, 0, -0.5f}));
  EXPECT_EQ(arange(1.0f, 1.0f).numel(), 0);  // empty, not an error
  EXPECT_EQ(arange(0.0f, 2.5f).to_vector(), (Floats{0, 1, 2}));  // a fractional end rounds up the count
}

TEST(Factory, ArangeFractionalStepCountAndValues) {
  // 0.1f is a little more than 1/10, yet [0, 1) by 0.1 has 10 elements: ceil((1 - 0) / 0.1f) = 10.
  const Floats v = arange(0.0f, 1.0f, 0.1f).to_vector();
  ASSERT_EQ(v.size(), 10u);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], 0.1 * static_cast<double>(i), 1e-6) << i;
  EXPECT_EQ(arange(0.0f, -1.0f, -0.25f).numel(), 4);
}

TEST(Factory, ArangeBadStepsThrowClearly) {
  EXPECT_TRUE(throws_error_containing([] { arange(0.0f, 1.0f, 0.0f); }, "arange: step must not be zero"));
  EXPECT_TRUE(throws_error_containing([] { arange(0.0f, 5.0f, -1.0f); }, "arange: step points away from end"));
  EXPECT_TRUE(throws_error_containing([] { arange(5.0f, 0.0f, 1.0f); }, "negative step"));
  EXPECT_TRUE(throws_error_containing([] { arange(0.0f, std::numeric_limits<float>::infinity()); }, "finite"));
  EXPECT_TRUE(throws_error_containing([] { arange(0.0f, 1.0f, std::numeric_limits<float>::quiet_NaN()); }, "finite"));
  EXPECT_TRUE(throws_error_containing([] { arange(int64_t{-3}); }, "arange: the count n must be >= 0"));
  // The static member shares the checks.
  EXPECT_TRUE(throws_error_containing([] { Tensor::arange(2.0f, 1.0f); }, "step points away"));
}

TEST(Factory, FullAndLikes) {
  EXPECT_EQ(full({2, 2}, 1.5f).to_vector(), (Floats{1.5f, 1.5f, 1.5f, 1.5f}));
  EXPECT_EQ(full({}, 2.0f).item(), 2.0f);
  EXPECT_EQ(full({0, 3}, 1.0f).shape(), (Shape{0, 3}));
  Tensor base = Tensor::randn({2, 3}).requires_grad_();
  const Tensor z = zeros_like(base), o = ones_like(base), f = full_like(base, -4.0f);
  for (const Tensor& t : {z, o, f}) {
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    EXPECT_FALSE(t.requires_grad());
  }
  EXPECT_EQ(z.to_vector(), Floats(6, 0.0f));
  EXPECT_EQ(o.to_vector(), Floats(6, 1.0f));
  EXPECT_EQ(f.to_vector(), Floats(6, -4.0f));
  EXPECT_EQ(zeros_like(base.t()).shape(), (Shape{3, 2}));
  EXPECT_EQ(ones_like(Tensor::zeros({0})).numel(), 0);
}

TEST(Factory, RandomLikes) {
  manual_seed(51);
  const Tensor base = Tensor::zeros({100, 100});
  const Floats u = rand_like(base, -2.0f, 3.0f).to_vector();
  ASSERT_EQ(u.size(), 10000u);
  double mean_u = 0;
  for (float v : u) {
    EXPECT_GE(v, -2.0f);
    EXPECT_LT(v, 3.0f);
    mean_u += v / 10000.0;
  }
  EXPECT_NEAR(mean_u, 0.5, 0.1);  // uniform mean (low + high) / 2; standard error 0.014
  const Floats g = randn_like(base, 1.0f, 2.0f).to_vector();
  double mean = 0, sq = 0;
  for (float v : g) mean += v / 10000.0;
  for (float v : g) sq += (v - mean) * (v - mean) / 10000.0;
  EXPECT_NEAR(mean, 1.0, 0.1);           // standard error 0.02
  EXPECT_NEAR(std::sqrt(sq), 2.0, 0.1);  // standard error ~0.014
  EXPECT_EQ(randn_like(Tensor::zeros({2, 0})).shape(), (Shape{2, 0}));
}

TEST(Factory, UndefinedTemplateThrows) {
  EXPECT_TRUE(throws_error_containing([] { zeros_like(Tensor()); }, "zeros_like"));
  EXPECT_TRUE(throws_error_containing([] { full_like(Tensor(), 1.0f); }, "full_like"));
  EXPECT_TRUE(throws_error_containing([] { rand_like(Tensor()); }, "rand_like"));
  EXPECT_TRUE(throws_error_containing([] { randn_like(Tensor()); }, "randn_like"));
  EXPECT_TRUE(throws_error_containing([] { ones_like(Tensor()); }, "ones_like"));
}

}  // namespace
}  // namespace nibble
