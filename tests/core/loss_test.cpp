// Losses: hand computations, double-precision reference formulas on random inputs, stability,
// finite-difference gradients, an information-theory identity, and every validation message.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

// Reference per-example cross-entropy in double: -sum_c q_c log softmax(x)_c with the smoothed
// target q = (1-e) onehot + e/C, the log-softmax from a max-shifted log-sum-exp.
std::vector<double> reference_cross_entropy(const Tensor& logits, const std::vector<int64_t>& target,
                                            double e = 0.0) {
  const int64_t n = logits.shape()[0], c = logits.shape()[1];
  std::vector<double> losses;
  for (int64_t i = 0; i < n; ++i) {
    double m = logits.at({i, 0});
    for (int64_t k = 1; k < c; ++k) m = std::max(m, static_cast<double>(logits.at({i, k})));
    double total = 0.0;
    for (int64_t k = 0; k < c; ++k) total += std::exp(logits.at({i, k}) - m);
    const double lse = m + std::log(total);
    double loss = 0.0;
    for (int64_t k = 0; k < c; ++k) {
      const double q = (k == target[i] ? 1.0 - e : 0.0) + e / static_cast<double>(c);
      loss -= q * (logits.at({i, k}) - lse);
    }
    losses.push_back(loss);
  }
  return losses;
}

double total(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}

std::vector<int64_t> random_targets(int64_t n, int64_t c) {
  std::vector<int64_t> t(n);
  for (int64_t& v : t) v = static_cast<int64_t>(random_u64() % static_cast<uint64_t>(c));
  return t;
}

// ---- cross_entropy ---------------------------------------------------------------------------------

TEST(LossCrossEntropy, ByHand) {
  // logits [1, 2, 3], class 2: loss = log(e + e^2 + e^3) - 3
  const Tensor logits = Tensor::from_vector({1, 2, 3}, {1, 3});
  const double want = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  EXPECT_NEAR(cross_entropy(logits, {2}).item(), want, 1e-6);
  // All-equal logits over C classes: the loss is log C whatever the target.
  EXPECT_NEAR(cross_entropy(Tensor::zeros({2, 10}), {3, 7}).item(), std::log(10.0), 1e-6);
}

TEST(LossCrossEntropy, LabelSmoothingByHand) {
  // C = 3, e = 0.3, class 0: q = [0.7 + 0.1, 0.1, 0.1].
  // logits [0, ln 2, ln 5]: softmax = [1, 2, 5] / 8.
  const Tensor logits = Tensor::from_vector({0.0f, std::log(2.0f), std::log(5.0f)}, {1, 3});
  const double want = -(0.8 * std::log(1.0 / 8) + 0.1 * std::log(2.0 / 8) + 0.1 * std::log(5.0 / 8));
  EXPECT_NEAR(cross_entropy(logits, {0}, Reduction::Mean, 0.3f).item(), want, 1e-6);
  // e = 1: the target is uniform, so the loss is the same for every class index.
  const float l0 = cross_entropy(logits, {0}, Reduction::Sum, 1.0f).item();
  const float l2 = cross_entropy(logits, {2}, Reduction::Sum, 1.0f).item();
  EXPECT_NEAR(l0, -(std::log(1.0 / 8) + std::log(2.0 / 8) + std::log(5.0 / 8)) / 3.0, 1e-6);
  EXPECT_NEAR(l0, l2, 1e-6);
}

TEST(LossCrossEntropy, RandomMatchesDoubleReferenceForEveryReduction) {
  manual_seed(21);
  const Tensor logits = Tensor::randn({64, 10}, 0.0f, 3.0f);
  const std::vector<int64_t> target = random_targets(64, 10);
  for (double e : {0.0, 0.1}) {
    const std::vector<double> want = reference_cross_entropy(logits, target, e);
    const float ef = static_cast<float>(e);
    const Tensor none = cross_entropy(logits, target, Reduction::None, ef);
    ASSERT_EQ(none.shape(), (Shape{64}));
    const std::vector<float> got = none.to_vector();
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "row " << i;
    EXPECT_EQ(cross_entropy(logits, target, Reduction::Sum, ef).shape(), Shape{});
    EXPECT_NEAR(cross_entropy(logits, target, Reduction::Sum, ef).item(), total(want), 1e-3);
    EXPECT_NEAR(cross_entropy(logits, target, Reduction::Mean, ef).item(), total(want) / 64, 1e-5);
  }
}

TEST(LossCrossEntropy, NonContiguousLogits) {
  manual_seed(22);
  const Tensor logits = Tensor::randn({5, 4}).t();  // [4, 5] view
  const std::vector<int64_t> target = {0, 4, 2, 2};
  EXPECT_NEAR(cross_entropy(logits, target).item(), total(reference_cross_entropy(logits, target)) / 4, 1e-6);
}

TEST(LossCrossEntropy, HugeLogitsStayFinite) {
  const Tensor logits = Tensor::from_vector({1e4f, 0.0f, -1e4f}, {1, 3});
  EXPECT_EQ(cross_entropy(logits, {0}).item(), 0.0f);
  EXPECT_EQ(cross_entropy(logits, {2}).item(), 2e4f);
  Tensor x = logits.clone().detach().requires_grad_();
  cross_entropy(x, {2}).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1.0f, 0.0f, -1.0f}));  // softmax - onehot
}

TEST(LossCrossEntropy, GradientIsSoftmaxMinusTargetOverN) {
  // Zero logits over 4 classes: softmax = 1/4 everywhere; Mean divides by N = 2.
  Tensor x = Tensor::zeros({2, 4}).requires_grad_();
  cross_entropy(x, {1, 3}).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0.125f, -0.375f, 0.125f, 0.125f,  //
                                                      0.125f, 0.125f, 0.125f, -0.375f}));
  // With label smoothing e = 0.4 (q = 0.1 off target, 0.7 on target), Sum: no division.
  Tensor w = Tensor::zeros({1, 4}).requires_grad_();
  cross_entropy(w, {0}, Reduction::Sum, 0.4f).backward();
  const std::vector<float> g = w.grad().to_vector();
  const std::vector<double> want = {0.25 - 0.7, 0.25 - 0.1, 0.25 - 0.1, 0.25 - 0.1};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(g[i], want[i], 1e-7);
}

TEST(LossCrossEntropy, Gradients) {
  manual_seed(23);
  const std::vector<int64_t> target = {2, 0, 4};
  for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    for (float e : {0.0f, 0.2f}) {
      EXPECT_TRUE(gradcheck([&](const auto& x) { return cross_entropy(x[0], target, r, e); }, {Tensor::randn({3, 5})}));
    }
  }
  EXPECT_TRUE(gradcheck([&](const auto& x) { return cross_entropy(x[0], target, Reduction::Mean, 0.1f); },
                        {Tensor::randn({5, 3}).t()}));
}

TEST(LossCrossEntropy, EqualsNllOfLogSoftmax) {
  manual_seed(24);
  const Tensor logits = Tensor::randn({8, 6});
  const std::vector<int64_t> target = random_targets(8, 6);
  const std::vector<float> fused = cross_entropy(logits, target, Reduction::None).to_vector();
  const std::vector<float> composed = nll_loss(log_softmax(logits, 1), target, Reduction::None).to_vector();
  for (size_t i = 0; i < fused.size(); ++i) EXPECT_NEAR(fused[i], composed[i], 1e-6);
}

TEST(LossCrossEntropy, Errors) {
  const Tensor logits = Tensor::zeros({4, 10});
  EXPECT_TRUE(throws_error_containing([&] { cross_entropy(logits, {1, 2, 3}); },
                                      "cross_entropy: 3 targets for logits [4, 10]"));
  EXPECT_TRUE(throws_error_containing([&] { cross_entropy(logits, {0, 1, 11, 2}); },
                                      "cross_entropy: target[2] = 11 is not a class index in [0, 10) for logits [4, 10]"));
  EXPECT_TRUE(throws_error_containing([&] { cross_entropy(logits, {-1, 1, 1, 2}); },
                                      "cross_entropy: target[0] = -1 is not a class index in [0, 10)"));
  EXPECT_TRUE(throws_error_containing([] { cross_entropy(Tensor::zeros({2, 3, 4}), {0, 1}); },
                                      "cross_entropy: logits must be 2-d [N, C], got logits [2, 3, 4]"));
  EXPECT_TRUE(throws_error_containing([] { cross_entropy(Tensor::zeros({0, 10}), {}); },
                                      "cross_entropy: empty batch: logits [0, 10]"));
  EXPECT_TRUE(throws_error_containing([&] { cross_entropy(logits, {0, 0, 0, 0}, Reduction::Mean, 1.5f); },
                                      "cross_entropy: label_smoothing = 1.5 is outside [0, 1]"));
  EXPECT_TRUE(throws_error_containing([&] { cross_entropy(logits, {0, 0, 0, 0}, Reduction::Mean, -0.1f); },
                                      "cross_entropy: label_smoothing = -0.1 is outside [0, 1]"));
  EXPECT_TRUE(throws_error_containing([&] { cross_entropy(logits, {0, 0, 0, 0}, Reduction::BatchMean); },
                                      "cross_entropy: Reduction::BatchMean is only supported by kl_div"));
}

// ---- nll_loss ----------------------------------------------------------------------------------

TEST(LossNll, ByHandAndGradient) {
  Tensor lp = Tensor::from_vector({-1, -2, -3, -4}, {2, 2}).requires_grad_();
  const Tensor loss = nll_loss(lp, {1, 0});
  EXPECT_EQ(loss.item(), 2.5f);  // (2 + 3) / 2
  EXPECT_EQ(nll_loss(lp, {1, 0}, Reduction::Sum).item(), 5.0f);
  EXPECT_EQ(nll_loss(lp, {1, 0}, Reduction::None).to_vector(), (std::vector<float>{2, 3}));
  loss.backward();
  EXPECT_EQ(lp.grad().to_vector(), (std::vector<float>{0, -0.5f, -0.5f, 0}));
  manual_seed(25);
  for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    EXPECT_TRUE(gradcheck([=](const auto& x) { return nll_loss(x[0], {3, 0, 1}, r); }, {Tensor::randn({4, 3}).t()}));
  }
}

TEST(LossNll, Errors) {
  EXPECT_TRUE(throws_error_containing([] { nll_loss(Tensor::zeros({4, 10}), {0}); },
                                      "nll_loss: 1 targets for log_probs [4, 10]"));
  EXPECT_TRUE(throws_error_containing([] { nll_loss(Tensor::zeros({10}), {0}); },
                                      "nll_loss: log_probs must be 2-d [N, C], got log_probs [10]"));
  EXPECT_TRUE(throws_error_containing([] { nll_loss(Tensor::zeros({2, 3}), {0, 3}); },
                                      "nll_loss: target[1] = 3 is not a class index in [0, 3) for log_probs [2, 3]"));
}

// ---- mse_loss ----------------------------------------------------------------------------------

TEST(LossMse, ByHandAndGradients) {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor y = Tensor::from_vector({1, 0, 5, 1}, {2, 2});
  // squared errors 0, 4, 4, 9
  EXPECT_EQ(mse_loss(x, y).item(), 4.25f);
  EXPECT_EQ(mse_loss(x, y, Reduction::Sum).item(), 17.0f);
  const Tensor none = mse_loss(x, y, Reduction::None);
  EXPECT_EQ(none.shape(), (Shape{2, 2}));
  EXPECT_EQ(none.to_vector(), (std::vector<float>{0, 4, 4, 9}));
  manual_seed(26);
  for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    EXPECT_TRUE(gradcheck([=](const auto& v) { return mse_loss(v[0], v[1], r); },
                          {Tensor::randn({3, 4}), Tensor::randn({4, 3}).t()}));
  }
}

TEST(LossMse, Errors) {
  EXPECT_TRUE(throws_error_containing([] { mse_loss(Tensor::zeros({4, 3}), Tensor::zeros({4})); },
                                      "mse_loss: input [4, 3] and target [4] must have the same shape"));
  EXPECT_TRUE(throws_error_containing([] { mse_loss(Tensor::zeros({0, 3}), Tensor::zeros({0, 3})); },
                                      "mse_loss: empty input [0, 3]"));
  EXPECT_TRUE(throws_error_containing([] { mse_loss(Tensor::zeros({2}), Tensor::zeros({2}), Reduction::BatchMean); },
                                      "mse_loss: Reduction::BatchMean is only supported by kl_div"));
}

// ---- binary_cross_entropy_with_logits --------------------------------------------------------------

TEST(LossBce, MatchesTextbookFormulaInDouble) {
  manual_seed(27);
  const Tensor x = Tensor::randn({5, 4}, 0.0f, 3.0f);
  const Tensor y = Tensor::rand({5, 4});
  const std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  std::vector<double> want;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(xv[i])));
    want.push_back(-(yv[i] * std::log(s) + (1.0 - yv[i]) * std::log(1.0 - s)));
  }
  const std::vector<float> got = binary_cross_entropy_with_logits(x, y, Reduction::None).to_vector();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5);
  EXPECT_NEAR(binary_cross_entropy_with_logits(x, y).item(), total(want) / 20, 1e-5);
  EXPECT_NEAR(binary_cross_entropy_with_logits(x, y, Reduction::Sum).item(), total(want), 1e-4);
}

TEST(LossBce, StableForHugeLogits) {
  // Confidently wrong: x = 100, y = 0 costs 100 nats; x = -100, y = 1 likewise. Confidently
  // right costs log(1 + e^-100) ~ 3.7e-44. The textbook formula would give log(0) = -inf here.
  const Tensor x = Tensor::from_vector({100, -100, 100, -100});
  const Tensor y = Tensor::from_vector({0, 1, 1, 0});
  const std::vector<float> l = binary_cross_entropy_with_logits(x, y, Reduction::None).to_vector();
  const std::vector<double> want = {100, 100, 0, 0};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(std::isfinite(l[i]));
    EXPECT_NEAR(l[i], want[i], 1e-6);
  }
  Tensor w = x.clone().detach().requires_grad_();
  binary_cross_entropy_with_logits(w, y, Reduction::Sum).backward();
  const std::vector<float> g = w.grad().to_vector();
  const std::vector<double> want_grad = {1, -1, 0, 0};  // sigmoid(x) - y
  for (size_t i = 0; i < want_grad.size(); ++i) EXPECT_NEAR(g[i], want_grad[i], 1e-6);
}

TEST(LossBce, Gradients) {
  manual_seed(28);
  for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    EXPECT_TRUE(gradcheck([=](const auto& v) { return binary_cross_entropy_with_logits(v[0], v[1], r); },
                          {Tensor::randn({3, 4}, 0.0f, 2.0f), Tensor::rand({4, 3}).t()}));
  }
}

TEST(LossBce, Errors) {
  EXPECT_TRUE(throws_error_containing(
      [] { binary_cross_entropy_with_logits(Tensor::zeros({8, 1}), Tensor::zeros({8})); },
      "binary_cross_entropy_with_logits: input [8, 1] and target [8] must have the same shape"));
}

// ---- kl_div ------------------------------------------------------------------------------------

TEST(LossKlDiv, ByHand) {
  // p = [1/2, 1/2], q = [1/4, 3/4]: KL(p||q) = 1/2 log 2 + 1/2 log(2/3)
  const Tensor log_q = Tensor::from_vector({std::log(0.25f), std::log(0.75f)}, {1, 2});
  const Tensor p = Tensor::from_vector({0.5f, 0.5f}, {1, 2});
  const double want = 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0);
  EXPECT_NEAR(kl_div(log_q, p, Reduction::Sum).item(), want, 1e-7);
  EXPECT_NEAR(kl_div(log_q, p, Reduction::BatchMean).item(), want, 1e-7);     // N = 1
  EXPECT_NEAR(kl_div(log_q, p, Reduction::Mean).item(), want / 2, 1e-7);      // 2 elements
  const std::vector<float> none = kl_div(log_q, p, Reduction::None).to_vector();
  EXPECT_NEAR(none[0], 0.5 * std::log(2.0), 1e-7);
  EXPECT_NEAR(none[1], 0.5 * std::log(2.0 / 3.0), 1e-7);
}

TEST(LossKlDiv, ZerosInTargetAreFinite) {
  // One-hot target: 0 log 0 = 0, so KL = -log q_target.
  Tensor log_q = Tensor::from_vector({std::log(0.2f), std::log(0.8f), -1e30f}, {1, 3}).requires_grad_();
  const Tensor p = Tensor::from_vector({0, 1, 0}, {1, 3});
  const Tensor loss = kl_div(log_q, p, Reduction::Sum);
  EXPECT_NEAR(loss.item(), -std::log(0.8), 1e-7);
  loss.backward();
  EXPECT_EQ(log_q.grad().to_vector(), (std::vector<float>{0, -1, 0}));  // d/dx = -target
}

TEST(LossKlDiv, BatchMeanIsSumOverBatchSize) {
  manual_seed(29);
  const Tensor log_q = log_softmax(Tensor::randn({6, 5}), 1);
  const Tensor p = softmax(Tensor::randn({6, 5}), 1);
  const float s = kl_div(log_q, p, Reduction::Sum).item();
  EXPECT_NEAR(kl_div(log_q, p, Reduction::BatchMean).item(), s / 6.0, 1e-6);
  EXPECT_NEAR(kl_div(log_q, p, Reduction::Mean).item(), s / 30.0, 1e-6);
  // Sum against a double reference: sum p (log p - log q).
  const std::vector<float> lq = log_q.to_vector(), pv = p.to_vector();
  double want = 0.0;
  for (size_t i = 0; i < pv.size(); ++i) want += pv[i] * (std::log(static_cast<double>(pv[i])) - lq[i]);
  EXPECT_NEAR(s, want, 1e-5);
  EXPECT_GT(s, 0.0f);  // Gibbs' inequality: KL >= 0, and these distributions differ
}

TEST(LossKlDiv, Gradients) {
  manual_seed(30);
  for (Reduction r : {Reduction::None, Reduction::Sum, Reduction::Mean, Reduction::BatchMean}) {
    // Targets kept away from 0, where d/dt (t log t) blows up.
    EXPECT_TRUE(gradcheck([=](const auto& v) { return kl_div(v[0], v[1], r); },
                          {Tensor::randn({3, 4}), Tensor::rand({4, 3}, 0.2f, 1.0f).t()}));
  }
}

TEST(LossKlDiv, Errors) {
  EXPECT_TRUE(throws_error_containing([] { kl_div(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})); },
                                      "kl_div: input [2, 3] and target [3, 2] must have the same shape"));
  EXPECT_TRUE(throws_error_containing([] { kl_div(Tensor::scalar(0.0f), Tensor::scalar(1.0f), Reduction::BatchMean); },
                                      "kl_div: Reduction::BatchMean needs a batch axis, got input []"));
}

// ---- information theory: H(p, q) = H(p) + KL(p || q) ------------------------------------------------

TEST(LossIdentity, CrossEntropyIsEntropyPlusKl) {
  manual_seed(31);
  const int64_t n = 5, c = 7;
  const Tensor p = softmax(Tensor::randn({n, c}), 1);      // true distributions
  const Tensor log_q = log_softmax(Tensor::randn({n, c}, 0.0f, 2.0f), 1);  // model
  // H(p, q) = -sum p log q and H(p) = -sum p log p, both summed over the batch, in double.
  const std::vector<float> pv = p.to_vector(), lq = log_q.to_vector();
  double cross = 0.0, entropy = 0.0;
  for (size_t i = 0; i < pv.size(); ++i) {
    cross -= pv[i] * static_cast<double>(lq[i]);
    entropy -= pv[i] * std::log(static_cast<double>(pv[i]));
  }
  EXPECT_NEAR(cross, entropy + kl_div(log_q, p, Reduction::Sum).item(), 1e-5);
  // The same identity with the ops alone: -sum(p * log q) == -sum(p * log p) + kl_div.
  const float cross_op = -sum(mul(p, log_q)).item();
  const float entropy_op = -sum(mul(p, log(p))).item();
  EXPECT_NEAR(cross_op, entropy_op + kl_div(log_q, p, Reduction::Sum).item(), 1e-5);

  // One-hot p: H(p) = 0, so cross_entropy on the logits equals KL(onehot || softmax(logits)).
  const Tensor logits = Tensor::randn({n, c});
  const std::vector<int64_t> target = random_targets(n, c);
  Tensor onehot = Tensor::zeros({n, c});
  for (int64_t i = 0; i < n; ++i) onehot.at({i, target[i]}) = 1.0f;
  EXPECT_NEAR(cross_entropy(logits, target, Reduction::Sum).item(),
              kl_div(log_softmax(logits, 1), onehot, Reduction::Sum).item(), 1e-5);
  EXPECT_NEAR(cross_entropy(logits, target, Reduction::Mean).item(),
              kl_div(log_softmax(logits, 1), onehot, Reduction::BatchMean).item(), 1e-6);
}

}  // namespace
}  // namespace nibble
