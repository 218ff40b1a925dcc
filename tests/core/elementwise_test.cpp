// Elementwise ops: forward values against hand/std:: formulas, gradients against finite differences.
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

// ---- round, floor, sign: values by an independent rule, zero gradient ------------------------------

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Round half to even written out with floor: below .5 down, above .5 up, exactly .5 to the even one.
double ref_round_half_even(double v) {
  const double down = std::floor(v);
  const double frac = v - down;
  if (frac < 0.5) return down;
  if (frac > 0.5) return down + 1.0;
  return std::fmod(down, 2.0) == 0.0 ? down : down + 1.0;
}

TEST(Elementwise, RoundHalvesGoToEven) {
  const std::vector<float> xs = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 3.5f, -0.7f, 0.49999997f,
                                 1.2f, -3.8f, 4194304.5f, 0.0f};
  const std::vector<float> got = round(Tensor::from_vector(xs)).to_vector();
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(got[i], ref_round_half_even(xs[i])) << "x=" << xs[i];
  // By hand, the cases std::round gets "wrong" for torch.round's convention:
  EXPECT_EQ(got[0], -2.0f);
  EXPECT_EQ(got[3], 0.0f);
  EXPECT_EQ(got[5], 2.0f);
  EXPECT_EQ(got[11], 4194304.0f);  // 2^22 + 0.5 -> the even neighbour 2^22
}

TEST(Elementwise, FloorAndSignByHand) {
  const Tensor x = Tensor::from_vector({-1.5f, -0.25f, -0.0f, 0.0f, 0.25f, 2.999f, 7.0f, -kInf, kInf});
  EXPECT_EQ(floor(x).to_vector(), (std::vector<float>{-2, -1, 0, 0, 0, 2, 7, -kInf, kInf}));
  EXPECT_EQ(sign(x).to_vector(), (std::vector<float>{-1, -1, 0, 0, 1, 1, 1, -1, 1}));
}

TEST(Elementwise, RoundFloorSignKeepNaNAndInfinity) {
  const Tensor x = Tensor::from_vector({kNaN, kInf, -kInf});
  const std::vector<float> r = round(x).to_vector(), f = floor(x).to_vector(), s = sign(x).to_vector();
  EXPECT_TRUE(std::isnan(r[0]) && std::isnan(f[0]) && std::isnan(s[0]));
  EXPECT_EQ(r[1], kInf);
  EXPECT_EQ(r[2], -kInf);
  EXPECT_EQ(f[1], kInf);
  EXPECT_EQ(f[2], -kInf);
  EXPECT_EQ(s[1], 1.0f);
  EXPECT_EQ(s[2], -1.0f);
}

TEST(Elementwise, RoundFloorSignHaveZeroGradient) {
  for (const auto& op : std::vector<Tensor (*)(const Tensor&)>{round, floor, sign}) {
    Tensor x = Tensor::from_vector({-1.7f, -0.5f, 0.0f, 0.5f, 2.5f, 3.2f}).requires_grad_();
    op(x).sum().backward();
    ASSERT_TRUE(x.grad().defined());  // recorded (like PyTorch), so a graph through it still runs
    EXPECT_EQ(x.grad().to_vector(), (std::vector<float>(6, 0.0f)));
  }
  // Away from the jumps the finite difference is 0 too.
  const Tensor x = Tensor::from_vector({-2.8f, -1.2f, -0.3f, 0.3f, 1.1f, 2.7f}, {2, 3});
  EXPECT_TRUE(gradcheck([](const auto& t) { return round(t[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return floor(t[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return sign(t[0]); }, {x}));
}

TEST(Elementwise, StraightThroughEstimatorOnTopOfRound) {
  // x + (round(x) - x).detach(): the value of round(x), the gradient of the identity.
  Tensor x = Tensor::from_vector({0.2f, 1.6f, -2.5f}).requires_grad_();
  const Tensor y = add(x, sub(round(x), x).detach());
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 2, -2}));
  mul(y, Tensor::from_vector({1, 2, 3})).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 2, 3}));
}

TEST(Elementwise, PiecewiseConstantOnEmptyAndNonContiguous) {
  EXPECT_EQ(round(Tensor::zeros({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(sign(Tensor::zeros({2, 0})).numel(), 0);
  const Tensor t = Tensor::from_vector({0.4f, 1.6f, -0.6f, 2.5f}, {2, 2}).t();  // [[0.4,-0.6],[1.6,2.5]]
  EXPECT_EQ(round(t).to_vector(), (std::vector<float>{0, -1, 2, 2}));
  EXPECT_EQ(floor(t).to_vector(), (std::vector<float>{0, -1, 1, 2}));
  EXPECT_TRUE(throws_error_containing([] { round(Tensor()); }, "round"));
  EXPECT_TRUE(throws_error_containing([] { floor(Tensor()); }, "floor"));
  EXPECT_TRUE(throws_error_containing([] { sign(Tensor()); }, "sign"));
}

// ---- abs at its kink and at NaN -----------------------------------------------------------------

TEST(Elementwise, AbsGradientZeroAtZeroNaNAtNaN) {
  Tensor x = Tensor::from_vector({-2.0f, 0.0f, -0.0f, 3.0f, kNaN}).requires_grad_();
  const std::vector<float> y = abs(x).to_vector();
  EXPECT_TRUE(std::isnan(y[4]));
  abs(x).sum().backward();
  const std::vector<float> g = x.grad().to_vector();
  EXPECT_EQ(g[0], -1.0f);
  EXPECT_EQ(g[1], 0.0f);
  EXPECT_EQ(g[2], 0.0f);
  EXPECT_EQ(g[3], 1.0f);
  EXPECT_TRUE(std::isnan(g[4]));
}

// ---- log2 and xlogy -----------------------------------------------------------------------------

TEST(Elementwise, Log2ValuesAndSpecialCases) {
  const Tensor x = Tensor::from_vector({0.125f, 1.0f, 3.0f, 1024.0f, 0.0f, -1.0f, kInf});
  const std::vector<float> y = log2(x).to_vector();
  EXPECT_EQ(y[0], -3.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_NEAR(y[2], std::log(3.0) / std::log(2.0), 1e-6);
  EXPECT_EQ(y[3], 10.0f);
  EXPECT_EQ(y[4], -kInf);
  EXPECT_TRUE(std::isnan(y[5]));
  EXPECT_EQ(y[6], kInf);
  EXPECT_EQ(log2(Tensor::zeros({0})).numel(), 0);
  EXPECT_TRUE(throws_error_containing([] { log2(Tensor()); }, "log2"));
}

TEST(Elementwise, Log2Gradient) {
  manual_seed(11);
  EXPECT_TRUE(gradcheck([](const auto& x) { return log2(x[0]); }, {positive({3, 4})}));
  // d log2(x)/dx at x = 4: 1 / (4 ln 2)
  Tensor x = Tensor::from_vector({4.0f}).requires_grad_();
  log2(x).sum().backward();
  EXPECT_NEAR(x.grad().item(), 1.0 / (4.0 * std::log(2.0)), 1e-7);
}

TEST(Elementwise, XlogyValuesByHand) {
  const Tensor x = Tensor::from_vector({0.0f, 0.0f, 2.0f, 3.0f, 0.0f, kNaN, 1.5f, -2.0f});
  const Tensor y = Tensor::from_vector({0.0f, 2.0f, 0.0f, std::exp(1.0f), kNaN, 1.0f, 0.25f, -1.0f});
  const std::vector<float> z = xlogy(x, y).to_vector();
  EXPECT_EQ(z[0], 0.0f);   // 0 log 0 = 0
  EXPECT_EQ(z[1], 0.0f);
  EXPECT_EQ(z[2], -kInf);  // 2 log 0
  EXPECT_NEAR(z[3], 3.0, 1e-6);
  EXPECT_TRUE(std::isnan(z[4]));  // a NaN y shows even when x == 0
  EXPECT_TRUE(std::isnan(z[5]));
  EXPECT_NEAR(z[6], 1.5 * std::log(0.25), 1e-6);
  EXPECT_TRUE(std::isnan(z[7]));  // log of a negative number
}

TEST(Elementwise, XlogyBroadcastsAndIsDifferentiable) {
  const Tensor p = Tensor::from_vector({0.0f, 0.5f}, {2, 1});
  const Tensor q = Tensor::from_vector({0.25f, 1.0f, 4.0f});
  const Tensor z = xlogy(p, q);
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  const std::vector<float> v = z.to_vector();
  for (int c = 0; c < 3; ++c) EXPECT_EQ(v[c], 0.0f);
  EXPECT_NEAR(v[3], 0.5 * std::log(0.25), 1e-6);
  EXPECT_NEAR(v[5], 0.5 * std::log(4.0), 1e-6);
  manual_seed(12);
  // Exact zeros in x included: at x = 0, y > 0 the function is smooth, d/dx = ln y, d/dy = 0.
  Tensor x = Tensor::randn({3, 4});
  x.at({0, 1}) = 0.0f;
  x.at({2, 3}) = 0.0f;
  EXPECT_TRUE(gradcheck([](const auto& t) { return xlogy(t[0], t[1]); }, {x, positive({3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return xlogy(t[0], t[1]); }, {Tensor::randn({2, 3}), positive({3})}));
  EXPECT_TRUE(throws_error_containing([] { xlogy(Tensor::zeros({2}), Tensor::ones({3})); }, "xlogy"));
}

TEST(Elementwise, XlogyGradientConventionsAtZero) {
  Tensor x = Tensor::from_vector({0.0f, 0.0f, 2.0f}).requires_grad_();
  Tensor y = Tensor::from_vector({0.0f, 0.5f, 0.0f}).requires_grad_();
  xlogy(x, y).sum().backward();
  const std::vector<float> gx = x.grad().to_vector(), gy = y.grad().to_vector();
  EXPECT_EQ(gx[0], 0.0f);  // (0, 0): the 0 log 0 = 0 convention, not ln 0 = -inf
  EXPECT_EQ(gy[0], 0.0f);  // x == 0: xlogy(0, y) = 0 for every y
  EXPECT_NEAR(gx[1], std::log(0.5), 1e-7);
  EXPECT_EQ(gy[1], 0.0f);
  EXPECT_EQ(gx[2], -kInf);  // x != 0, y == 0: ln 0
  EXPECT_EQ(gy[2], kInf);   // 2 / 0
  // Entropy of a distribution with an exact zero: a finite gradient, -(ln p + 1) elsewhere.
  Tensor p = Tensor::from_vector({0.0f, 0.25f, 0.75f}).requires_grad_();
  neg(xlogy(p, p)).sum().backward();
  const std::vector<float> gp = p.grad().to_vector();
  EXPECT_EQ(gp[0], 0.0f);
  EXPECT_NEAR(gp[1], -(std::log(0.25) + 1.0), 1e-6);
  EXPECT_NEAR(gp[2], -(std::log(0.75) + 1.0), 1e-6);
}

// ---- where: scalar forms, broadcasting, NaN condition ----------------------------------------------

TEST(Elementwise, WhereScalarFormsAndNaNCondition) {
  const Tensor cond = Tensor::from_vector({1, 0, kNaN, 0}, {2, 2});
  Tensor a = Tensor::from_vector({10, 20}).requires_grad_();  // broadcasts over rows
  const Tensor w1 = where(cond, a, -1.0f);
  EXPECT_EQ(w1.shape(), (Shape{2, 2}));
  EXPECT_EQ(w1.to_vector(), (std::vector<float>{10, -1, 10, -1}));  // NaN condition picks a
  w1.sum().backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{2, 0}));
  Tensor b = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  const Tensor w2 = where(cond, 0.0f, b);
  EXPECT_EQ(w2.to_vector(), (std::vector<float>{0, 2, 0, 4}));
  w2.sum().backward();
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{0, 1, 0, 1}));
  manual_seed(13);
  EXPECT_TRUE(gradcheck([cond](const auto& x) { return where(cond, x[0], 3.0f); }, {Tensor::randn({2, 1})}));
  EXPECT_TRUE(gradcheck([cond](const auto& x) { return where(cond, 3.0f, x[0]); }, {Tensor::randn({2})}));
  EXPECT_EQ(where(Tensor::zeros({0, 2}), Tensor::ones({2}), 5.0f).shape(), (Shape{0, 2}));
  EXPECT_TRUE(throws_error_containing([] { where(Tensor::zeros({3}), Tensor::ones({2}), 0.0f); }, "where"));
}

}  // namespace
}  // namespace nibble
