// LSQ (compression/lsq.h): the forward by hand, and both gradients against finite differences of the
// surrogate whose exact derivatives they are (in double), with the paper's gradient scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "compression/lsq.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "gradcheck.h"

namespace {

using namespace nibble;

using nibble::testing::error_of;

TEST(Lsq, ForwardByHand) {
  // s = 0.5, [-8, 7]: v = (0.6, -10, 4.4, 1.48) -> (1, -8, 4, 1) -> x̂ = (0.5, -4, 2, 0.5).
  const Tensor x = Tensor::from_vector({0.3f, -5, 2.2f, 0.74f});
  const Tensor y = lsq_fake_quantize(x, Tensor::from_vector({0.5f}, {1}), -8, 7, 1.0);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0.5f, -4, 2, 0.5f}));
}

TEST(Lsq, GradientsAreThoseOfTheSurrogateTimesTheGradScale) {
  const double s0 = 0.3;
  const std::vector<float> xs = {0.11f, -0.52f, 0.97f, 3.1f, -4.0f, 1.64f, -0.05f, 2.02f};  // 3.1, -4.0 clipped
  const std::vector<float> ws = {0.7f, -1.2f, 0.4f, 2.0f, -0.6f, 1.1f, 0.9f, -0.3f};         // L = Σ w · x̂
  const int64_t qn = -8, qp = 7;
  const double g = lsq_grad_scale(8, qp);
  Tensor x = Tensor::from_vector(xs).requires_grad_();
  Tensor s = Tensor::from_vector({static_cast<float>(s0)}, {1}).requires_grad_();
  sum(mul(lsq_fake_quantize(x, s, qn, qp, g), Tensor::from_vector(ws))).backward();

  // Surrogate F(x, s) = Σ w_i (s · clamp(x_i / s, qn, qp) + s · c_i), c_i = round(v_i) − v_i at the base
  // point when inside, else 0; central differences in double.
  std::vector<double> c(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i] / s0;
    c[i] = v >= qn && v <= qp ? std::nearbyint(v) - v : 0.0;
  }
  auto F = [&](const std::vector<double>& x_, double s_) {
    double f = 0;
    for (size_t i = 0; i < x_.size(); ++i)
      f += ws[i] * (s_ * std::clamp(x_[i] / s_, double(qn), double(qp)) + s_ * c[i]);
    return f;
  };
  const std::vector<double> xd(xs.begin(), xs.end());
  const double h = 1e-6;
  const double ds = (F(xd, s0 + h) - F(xd, s0 - h)) / (2 * h);
  EXPECT_NEAR(s.grad().item(), g * ds, 1e-4 * std::fabs(g * ds) + 1e-6) << "dL/ds = g · dF/ds";
  const std::vector<float> gx = x.grad().to_vector();
  for (size_t i = 0; i < xs.size(); ++i) {
    std::vector<double> xp = xd, xm = xd;
    xp[i] += h;
    xm[i] -= h;
    EXPECT_NEAR(gx[i], (F(xp, s0) - F(xm, s0)) / (2 * h), 1e-5) << "dL/dx[" << i << "]";
  }
  EXPECT_EQ(gx[3], 0.0f) << "x = 3.1 is above the range (v = 10.3 > 7): no gradient";
  EXPECT_NEAR(g, 1.0 / std::sqrt(56.0), 1e-15);
}

TEST(Lsq, DescentOnTheStepLowersTheErrorAndTheInitialStepIsThePapers) {
  const Tensor init = lsq_initial_scale(Tensor::from_vector({1, -3, 2, -2}), 4);  // 2 · 2 / 2
  EXPECT_FLOAT_EQ(init.item(), 2.0f);
  // Gradient descent on the step alone must lower the quantization MSE of a fixed tensor.
  manual_seed(30);
  const Tensor x = Tensor::randn({512});
  Tensor s = Tensor::from_vector({3.0f}, {1}).requires_grad_();  // far too coarse for 3 bits
  auto mse = [&] { return mean(pow(sub(lsq_fake_quantize(x, s, -4, 3, lsq_grad_scale(512, 3)), x), 2.0f)); };
  const float before = mse().item();
  for (int step = 0; step < 50; ++step) {
    s.zero_grad();
    mse().backward();
    NoGradGuard no_grad;
    s.data()[0] -= 20.0f * s.grad().item();  // the small g = 1/sqrt(N·Qp) asks for a large rate
  }
  EXPECT_LT(mse().item(), 0.5f * before) << "the learned step " << s.item();
}

TEST(Lsq, BadInputNamesTheArgument) {
  const Tensor x = Tensor::ones({3});
  EXPECT_NE(error_of([&] { lsq_fake_quantize(x, Tensor::from_vector({0.0f}, {1}), -8, 7, 1); }).find("scale = 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] { lsq_fake_quantize(x, Tensor::ones({2}), -8, 7, 1); }).find("scale is [2]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { lsq_fake_quantize(x, Tensor::ones({1}), -800, 7, 1); }).find("quant_min = -800"),
            std::string::npos);
  EXPECT_NE(error_of([&] { lsq_fake_quantize(x, Tensor::ones({1}), -8, 7, 0); }).find("grad_scale = 0"),
            std::string::npos);
}

}  // namespace
