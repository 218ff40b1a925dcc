// Tensor basics: factories, metadata, element access, printing, randomness.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "core/ops.h"
#include "core/tensor.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::throws_error_containing;

TEST(Tensor, FactoriesFillAsDocumented) {
  const Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  for (float v : z.to_vector()) EXPECT_EQ(v, 0.0f);
  for (float v : Tensor::ones({4}).to_vector()) EXPECT_EQ(v, 1.0f);
  for (float v : Tensor::full({2, 2}, -2.5f).to_vector()) EXPECT_EQ(v, -2.5f);
  EXPECT_EQ(Tensor::arange(0.0f, 1.0f, 0.25f).to_vector(), (std::vector<float>{0, 0.25f, 0.5f, 0.75f}));
  EXPECT_EQ(Tensor::arange(5).numel(), 5);
  EXPECT_EQ(Tensor::arange(3.0f, 0.0f, -1.0f).to_vector(), (std::vector<float>{3, 2, 1}));
  EXPECT_EQ(Tensor::eye(3).to_vector(), (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  const Tensor v = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(v.at({1, 2}), 6.0f);
  EXPECT_EQ(v.at({-1, 0}), 4.0f);
  EXPECT_EQ(Tensor::scalar(7.0f).item(), 7.0f);
  EXPECT_EQ(Tensor::scalar(7.0f).dim(), 0);
  EXPECT_EQ(Tensor::zeros({2, 0, 3}).numel(), 0);
}

TEST(Tensor, FourDimensionalStridesAreRowMajor) {
  const Tensor t = Tensor::arange(120).reshape({2, 3, 4, 5});
  EXPECT_EQ(t.strides(), (Shape{60, 20, 5, 1}));
  EXPECT_EQ(t.at({1, 2, 3, 4}), 1 * 60 + 2 * 20 + 3 * 5 + 4);
  EXPECT_EQ(t.size(-1), 5);
}

TEST(Tensor, ManualSeedRepeatsRandomNumbers) {
  manual_seed(123);
  const std::vector<float> a = Tensor::randn({100}).to_vector();
  const std::vector<float> u = Tensor::rand({100}).to_vector();
  manual_seed(123);
  EXPECT_EQ(a, Tensor::randn({100}).to_vector());
  EXPECT_EQ(u, Tensor::rand({100}).to_vector());
  manual_seed(124);
  EXPECT_NE(a, Tensor::randn({100}).to_vector());
}

TEST(Tensor, RandomDistributionsHaveTheRightMoments) {
  manual_seed(7);
  const std::vector<float> n = Tensor::randn({200000}, 1.0f, 2.0f).to_vector();
  const std::vector<float> u = Tensor::rand({200000}, -1.0f, 3.0f).to_vector();
  double mn = 0, mu = 0;
  for (size_t i = 0; i < n.size(); ++i) mn += n[i], mu += u[i];
  mn /= n.size();
  mu /= u.size();
  double vn = 0, vu = 0;
  for (size_t i = 0; i < n.size(); ++i) vn += (n[i] - mn) * (n[i] - mn), vu += (u[i] - mu) * (u[i] - mu);
  vn /= n.size();
  vu /= u.size();
  EXPECT_NEAR(mn, 1.0, 0.02);
  EXPECT_NEAR(vn, 4.0, 0.05);
  EXPECT_NEAR(mu, 1.0, 0.02);
  EXPECT_NEAR(vu, 16.0 / 12.0, 0.02);  // variance of U(a,b) = (b-a)^2 / 12
  for (float x : u) {
    ASSERT_GE(x, -1.0f);
    ASSERT_LT(x, 3.0f);
  }
}

TEST(Tensor, PrintsLikeNumPy) {
  const Tensor t = Tensor::from_vector({1, -2.5f, 0, 3}, {2, 2});
  EXPECT_EQ(to_string(t),
            "tensor([[ 1.0000, -2.5000],\n"
            "        [ 0.0000,  3.0000]], shape=[2, 2])");
  EXPECT_EQ(fmt::format("{}", Tensor::scalar(2.0f)), "tensor(2.0000, shape=[])");
  std::ostringstream os;
  os << Tensor::from_vector({1.0f, 2.0f});
  EXPECT_EQ(os.str(), "tensor([1.0000, 2.0000], shape=[2])");
}

TEST(Tensor, PrintingSummarisesBigTensors) {
  const std::string s = to_string(Tensor::arange(2000));
  EXPECT_EQ(s, "tensor([   0.0000,    1.0000,    2.0000, ..., 1997.0000, 1998.0000, 1999.0000], shape=[2000])");
  const std::string m = to_string(Tensor::zeros({100, 100}));
  EXPECT_NE(m.find("..."), std::string::npos);
  EXPECT_LT(m.size(), 1000u);
}

TEST(Tensor, BadInputThrowsNamedErrors) {
  EXPECT_TRUE(throws_error_containing([] { Tensor::from_vector({1, 2, 3}, {2, 2}); }, "[2, 2]"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::zeros({2, 2}).item(); }, "item"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::zeros({2, 2}).at({2, 0}); }, "out of range"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::zeros({2, 2}).at({0}); }, "1 indices"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::zeros({-1}); }, "negative"));
  EXPECT_TRUE(throws_error_containing([] { Tensor().shape(); }, "undefined"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::zeros({2}).size(3); }, "axis 3"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::arange(0.0f, 1.0f, 0.0f); }, "step"));
}

}  // namespace
}  // namespace nibble
