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
  // An empty shape whose other dims multiply past int64 (the strides would overflow).
  EXPECT_TRUE(throws_error_containing(
      [] {
        Tensor::empty({0, int64_t{1} << 40, int64_t{1} << 40});
      },
      "shape [0, 1099511627776, 1099511627776] is too large"));
  EXPECT_EQ(Tensor::empty({0, int64_t{1} << 30, int64_t{1} << 30}).numel(), 0);
}

// ---- member forms: each is the free function of the same name ------------------------------------

TEST(TensorMembers, ChainLikeTheFreeFunctions) {
  manual_seed(71);
  const Tensor x = Tensor::randn({3, 4});
  const auto same = [](const Tensor& a, const Tensor& b) {
    EXPECT_EQ(a.shape(), b.shape());
    EXPECT_EQ(a.to_vector(), b.to_vector());
  };
  same(x.softmax(-1).clamp(0.1f, 0.2f), clamp(softmax(x, -1), 0.1f, 0.2f));
  same(x.log_softmax(0), log_softmax(x, 0));
  same(x.abs().sqrt().log2(), log2(sqrt(abs(x))));
  same(x.round(), round(x));
  same(x.floor(), floor(x));
  same(x.sign(), sign(x));
  same(x.max(), max(x));
  same(x.max(1, true), max(x, 1, true));
  same(x.min(0), min(x, 0));
  EXPECT_EQ(x.argmax(1), argmax(x, 1));
  same(x.norm(), norm(x));
  same(x.norm(1.0f, 0, true), norm(x, 1.0f, 0, true));
  same(x.cumsum(1), cumsum(x, 1));
  same(x.tril(1), tril(x, 1));
  same(x.triu(-1), triu(x, -1));
  const auto [values, indices] = x.topk(2, 1, false);
  same(values, topk(x, 2, 1, false).values);
  EXPECT_EQ(indices, topk(x, 2, 1, false).indices);
  same(x.sort(0, true).values, sort(x, 0, true).values);
  EXPECT_EQ(x.sort().indices, argsort(x));
  const Tensor y = Tensor::randn({4});
  same(x.lt(y), lt(x, y));
  same(x.le(y), le(x, y));
  same(x.gt(y), gt(x, y));
  same(x.ge(y), ge(x, y));
  same(x.eq(x), eq(x, x));
  same(x.ne(y), ne(x, y));
  same(x.lt(0.5f), lt(x, 0.5f));
  same(x.le(0.5f), le(x, 0.5f));
  same(x.gt(0.5f), gt(x, 0.5f));
  same(x.ge(0.5f), ge(x, 0.5f));
  same(x.eq(0.0f), eq(x, 0.0f));
  same(x.ne(0.0f), ne(x, 0.0f));
  // x.where(c, other) keeps x where c holds (torch.Tensor.where).
  same(x.where(x.gt(0.0f), y), where(gt(x, 0.0f), x, y));
  same(x.where(x.gt(0.0f), -1.0f), where(gt(x, 0.0f), x, -1.0f));
  EXPECT_EQ(x.where(x.gt(0.0f), 0.0f).to_vector(), relu(x).to_vector());
}

TEST(TensorMembers, ChainedCallsAreDifferentiable) {
  manual_seed(72);
  Tensor x = Tensor::randn({2, 5}).requires_grad_();
  x.softmax(-1).cumsum(-1).norm().backward();
  // The same expression spelled with free functions gives the same gradient.
  const Tensor g = x.grad().clone();
  x.zero_grad();
  norm(cumsum(softmax(x, -1), -1)).backward();
  EXPECT_EQ(g.to_vector(), x.grad().to_vector());
}

}  // namespace
}  // namespace nibble
