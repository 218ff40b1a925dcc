// Elementwise ops: forward values against hand/std:: formulas, gradients against finite differences.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

// Values kept away from the kinks of relu/abs/clamp so finite differences are meaningful.
Tensor away_from_zero(const Shape& shape) {
  Tensor t = Tensor::randn(shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float& v = t.data()[i];
    if (std::fabs(v) < 0.1f) v += v < 0 ? -0.2f : 0.2f;
  }
  return t;
}

Tensor positive(const Shape& shape) { return Tensor::rand(shape, 0.5f, 2.0f); }

TEST(Elementwise, ForwardMatchesStdMath) {
  const std::vector<float> xs = {-2.0f, -0.5f, 0.0f, 0.7f, 3.0f};
  const Tensor x = Tensor::from_vector(xs);
  const auto close = [&](const Tensor& got, auto f) {
    const std::vector<float> g = got.to_vector();
    for (size_t i = 0; i < xs.size(); ++i) EXPECT_NEAR(g[i], f(static_cast<double>(xs[i])), 1e-6) << "x=" << xs[i];
  };
  close(neg(x), [](double v) { return -v; });
  close(exp(x), [](double v) { return std::exp(v); });
  close(abs(x), [](double v) { return std::fabs(v); });
  close(relu(x), [](double v) { return v > 0 ? v : 0.0; });
  close(leaky_relu(x, 0.1f), [](double v) { return v > 0 ? v : 0.1 * v; });
  close(tanh(x), [](double v) { return std::tanh(v); });
  close(sigmoid(x), [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
  close(clamp(x, -1.0f, 1.0f), [](double v) { return std::min(1.0, std::max(-1.0, v)); });
  // gelu(x) = x * Phi(x); Phi via the complementary error function as a second formula.
  close(gelu(x), [](double v) { return v * 0.5 * std::erfc(-v / std::sqrt(2.0)); });
  close(pow(x, 2.0f), [](double v) { return v * v; });
  const Tensor p = Tensor::from_vector({0.25f, 1.0f, 4.0f});
  EXPECT_EQ(sqrt(p).to_vector(), (std::vector<float>{0.5f, 1.0f, 2.0f}));
  EXPECT_NEAR(log(p).to_vector()[2], std::log(4.0), 1e-6);
}

TEST(Elementwise, SigmoidIsStableForHugeInputs) {
  const std::vector<float> y = sigmoid(Tensor::from_vector({-1000.0f, 1000.0f})).to_vector();
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 1.0f);
}

TEST(Elementwise, BroadcastingFollowsNumPy) {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor row = Tensor::from_vector({10, 20, 30});
  const Tensor col = Tensor::from_vector({100, 200}, {2, 1});
  EXPECT_EQ(add(a, row).to_vector(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(add(a, col).to_vector(), (std::vector<float>{101, 102, 103, 204, 205, 206}));
  const Tensor outer = mul(col, row);  // [2,1] * [3] -> [2,3]
  EXPECT_EQ(outer.shape(), (Shape{2, 3}));
  EXPECT_EQ(outer.to_vector(), (std::vector<float>{1000, 2000, 3000, 2000, 4000, 6000}));
  EXPECT_EQ(sub(Tensor::scalar(1.0f), a).to_vector(), (std::vector<float>{0, -1, -2, -3, -4, -5}));
  EXPECT_EQ((a / 2.0f).to_vector(), (std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3}));
}

TEST(Elementwise, NonContiguousInputs) {
  const Tensor a = Tensor::arange(6).reshape({2, 3});
  const Tensor at = a.t();  // [3,2] view with strides [1,3]
  EXPECT_FALSE(at.is_contiguous());
  EXPECT_EQ(add(at, Tensor::zeros({3, 2})).to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(exp(at).to_vector()[1], std::exp(3.0f));
}

TEST(Elementwise, BinaryGradients) {
  manual_seed(1);
  EXPECT_TRUE(gradcheck([](const auto& x) { return add(x[0], x[1]); }, {Tensor::randn({3, 4}), Tensor::randn({3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return sub(x[0], x[1]); }, {Tensor::randn({3, 4}), Tensor::randn({4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return mul(x[0], x[1]); }, {Tensor::randn({2, 1, 4}), Tensor::randn({3, 1})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return div(x[0], x[1]); }, {Tensor::randn({3, 4}), positive({3, 1})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return maximum(x[0], x[1]); }, {Tensor::randn({5}), Tensor::randn({5})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return add(x[0], 2.5f); }, {Tensor::randn({3})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return mul(x[0], -1.5f); }, {Tensor::randn({3})}));
}

TEST(Elementwise, BroadcastGradientsWithNonContiguousInputs) {
  manual_seed(2);
  const Tensor a = Tensor::randn({4, 3}).t();  // [3,4], strides [1,3]
  const Tensor b = Tensor::randn({1, 4});
  EXPECT_TRUE(gradcheck([](const auto& x) { return mul(x[0], x[1]); }, {a, b}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return div(x[1], x[0]); }, {positive({4, 3}).t(), b}));
}

TEST(Elementwise, UnaryGradients) {
  manual_seed(3);
  const Shape s{3, 5};
  EXPECT_TRUE(gradcheck([](const auto& x) { return neg(x[0]); }, {Tensor::randn(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return pow(x[0], 3.0f); }, {Tensor::randn(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return pow(x[0], -0.5f); }, {positive(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return exp(x[0]); }, {Tensor::randn(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return log(x[0]); }, {positive(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return sqrt(x[0]); }, {positive(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return abs(x[0]); }, {away_from_zero(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return relu(x[0]); }, {away_from_zero(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return leaky_relu(x[0], 0.2f); }, {away_from_zero(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return gelu(x[0]); }, {Tensor::randn(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return tanh(x[0]); }, {Tensor::randn(s)}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return sigmoid(x[0]); }, {Tensor::randn(s)}));
  // clamp: inputs away from the bounds +-0.5
  Tensor c = Tensor::from_vector({-2.0f, -0.7f, -0.3f, 0.0f, 0.3f, 0.7f, 2.0f});
  EXPECT_TRUE(gradcheck([](const auto& x) { return clamp(x[0], -0.5f, 0.5f); }, {c}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return exp(x[0]); }, {Tensor::randn({3, 4}).t()}));
}

TEST(Elementwise, ClampGradientIsOneInsideZeroOutside) {
  Tensor x = Tensor::from_vector({-2.0f, 0.0f, 2.0f}).requires_grad_();
  clamp(x, -1.0f, 1.0f).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 1, 0}));
}

TEST(Elementwise, WhereAndMaskedFill) {
  const Tensor cond = Tensor::from_vector({1, 0, 1});
  const Tensor a = Tensor::from_vector({1, 2, 3});
  const Tensor b = Tensor::from_vector({-1, -2, -3});
  EXPECT_EQ(where(cond, a, b).to_vector(), (std::vector<float>{1, -2, 3}));
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> m = masked_fill(a, Tensor::from_vector({0, 1, 0}), -inf).to_vector();
  EXPECT_EQ(m[0], 1.0f);
  EXPECT_EQ(m[1], -inf);
  EXPECT_EQ(m[2], 3.0f);
  manual_seed(4);
  const Tensor c2 = Tensor::from_vector({1, 0, 0, 1}, {4, 1});
  EXPECT_TRUE(gradcheck([c2](const auto& x) { return where(c2, x[0], x[1]); },
                        {Tensor::randn({4, 3}), Tensor::randn({3})}));
}

TEST(Elementwise, BadShapesNameTheOpAndShapes) {
  EXPECT_TRUE(throws_error_containing([] { add(Tensor::zeros({2, 3}), Tensor::zeros({4})); },
                                      "add: shapes [2, 3] and [4] do not broadcast"));
  EXPECT_TRUE(throws_error_containing([] { mul(Tensor::zeros({2}), Tensor::zeros({3})); }, "mul"));
  EXPECT_TRUE(throws_error_containing([] { where(Tensor::zeros({2}), Tensor::zeros({3}), Tensor::zeros({3})); }, "where"));
  EXPECT_TRUE(throws_error_containing([] { clamp(Tensor::zeros({2}), 1.0f, 0.0f); }, "clamp"));
  EXPECT_TRUE(throws_error_containing([] { exp(Tensor()); }, "exp"));
}

}  // namespace
}  // namespace nibble
