// Module 05 — graded tests for compression/distillation.h (100 points). Expected values are worked
// out by hand or recomputed with the double-precision loops of distillation_testing.h (PyTorch's
// kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")·T² semantics). Run: `nibble test 05`.
// The inputs avoid the symmetries that hide mistakes: batches larger than one, N != C, T != 1,
// teacher and student that differ in both directions.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "compression/distillation.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "distillation_testing.h"
#include "gradcheck.h"
#include "modules/graded.h"
#include "nn/linear.h"

namespace {

using distill_testing::ref_attention_kl;
using distill_testing::ref_attention_map;
using distill_testing::ref_ce;
using distill_testing::ref_dark;
using distill_testing::ref_entropy_bits;
using distill_testing::ref_kd;
using distill_testing::ref_softmax;
using distill_testing::values;
using nibble::Tensor;
using nibble::grading::hint;

const double kLn3 = std::log(3.0);

// [3, 4] student and teacher logits: rows with different shapes, the teacher sharper.
Tensor student_logits() {
  return Tensor::from_vector({0.2f, -1.0f, 0.7f, 0.1f, 1.5f, 0.3f, -0.4f, 0.0f, -0.6f, 0.9f, 0.2f, 1.1f}, {3, 4});
}
Tensor teacher_logits() {
  return Tensor::from_vector({2.0f, -1.5f, 0.5f, -0.3f, 3.0f, 1.0f, -2.0f, 0.4f, -1.0f, 0.2f, 1.5f, 2.5f}, {3, 4});
}
const std::vector<int64_t> kLabels = {0, 1, 3};

// Writes `v` into a parameter (contiguous, before any op has used it).
void set_values(Tensor& p, const std::vector<float>& v) {
  ASSERT_EQ(p.numel(), static_cast<int64_t>(v.size()));
  std::copy(v.begin(), v.end(), p.data());
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const nibble::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

GRADED_TEST(DistillGraded, TemperatureSoftmaxByHand, 8) {
  const Tensor x = Tensor::from_vector({0.0f, static_cast<float>(kLn3)}, {1, 2});
  const std::vector<double> p1 = values(nibble::softmax_with_temperature(x, 1.0));
  ASSERT_EQ(p1.size(), 2u) << hint("one row of two probabilities in, one row of two out");
  EXPECT_NEAR(p1[0], 0.25, 1e-6) << hint("T = 1 is the plain softmax: e^0 / (e^0 + e^ln3) = 1/4");
  EXPECT_NEAR(p1[1], 0.75, 1e-6) << hint("T = 1 is the plain softmax");
  const std::vector<double> p2 = values(nibble::softmax_with_temperature(x, 2.0));
  const double r3 = std::sqrt(3.0);
  EXPECT_NEAR(p2[0], 1.0 / (1.0 + r3), 1e-6) << hint("T = 2: softmax([0, ln3] / 2) = (1, √3) / (1 + √3); divide the logits by T");
  EXPECT_NEAR(p2[1], r3 / (1.0 + r3), 1e-6) << hint("divide the logits by T (not multiply)");
  // A [3, 4] batch at T = 2.5 against the loop reference: each ROW is a distribution.
  const Tensor s = student_logits();
  const Tensor p = nibble::softmax_with_temperature(s, 2.5);
  ASSERT_EQ(p.shape(), s.shape()) << hint("the output has the logits' shape [N, C]");
  const auto ref = ref_softmax(s, 2.5);
  const std::vector<double> got = values(p);
  for (size_t r = 0; r < 3; ++r)
    for (size_t j = 0; j < 4; ++j)
      EXPECT_NEAR(got[r * 4 + j], ref[r][j], 1e-6)
          << hint("softmax along the LAST axis (classes) of logits / T, row " + std::to_string(r));
}

GRADED_TEST(DistillGraded, HighTemperatureIsUniform, 5) {
  const Tensor t = teacher_logits();
  const std::vector<double> hot = values(nibble::softmax_with_temperature(t, 1e4));
  for (const double x : hot) EXPECT_NEAR(x, 0.25, 1e-3) << hint("T -> infinity flattens every row to uniform 1/C");
  const std::vector<double> cold = values(nibble::softmax_with_temperature(t, 0.01));
  EXPECT_NEAR(cold[0], 1.0, 1e-6) << hint("T -> 0 puts all the mass on the argmax (row 0: class 0)");
  EXPECT_NEAR(cold[11], 1.0, 1e-6) << hint("T -> 0 puts all the mass on the argmax (row 2: class 3)");
  EXPECT_NEAR(nibble::soft_label_entropy_bits(t, 1e4), 2.0, 1e-3)
      << hint("uniform over C = 4 classes carries log2 4 = 2 bits");
}

GRADED_TEST(DistillGraded, SoftTargetKlMatchesPyTorchSemantics, 14) {
  // By hand: p_t = (1/4, 3/4), p_s = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2).
  const Tensor s1 = Tensor::from_vector({0.0f, 0.0f}, {1, 2});
  const Tensor t1 = Tensor::from_vector({0.0f, static_cast<float>(kLn3)}, {1, 2});
  const double by_hand = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);
  EXPECT_NEAR(nibble::soft_target_kl(s1, t1, 1.0).item(), by_hand, 1e-6)
      << hint("KL(p_t ‖ p_s) = Σ p_t (log p_t − log p_s): the TEACHER is the target (first argument of KL)");
  // [3, 4] at several temperatures against the loop reference (batchmean, times T²).
  for (const double T : {1.0, 2.0, 4.0, 8.0}) {
    const double got = nibble::soft_target_kl(student_logits(), teacher_logits(), T).item();
    const double want = ref_kd(student_logits(), teacher_logits(), T);
    EXPECT_NEAR(got, want, 1e-5 + 1e-4 * want)
        << hint("T = " + std::to_string(T) + ": kl_div(log_softmax(s/T), softmax(t/T), batchmean) · T² — "
                "both sides divided by T, summed over classes, MEAN over the N rows, times T²");
  }
}

GRADED_TEST(DistillGraded, IdenticalLogitsGiveZero, 4) {
  for (const double T : {1.0, 3.0}) {
    EXPECT_NEAR(nibble::soft_target_kl(teacher_logits(), teacher_logits(), T).item(), 0.0, 1e-6)
        << hint("a student that copies the teacher exactly has nothing left to learn: KL = 0");
    EXPECT_NEAR(nibble::distillation_loss(teacher_logits(), teacher_logits(), kLabels, T, 1.0).item(), 0.0, 1e-6)
        << hint("α = 1 keeps only the soft term, which is 0 for identical logits");
  }
}

GRADED_TEST(DistillGraded, DistillationLossLimitsAndMix, 12) {
  const Tensor s = student_logits(), t = teacher_logits();
  const double T = 3.0;
  EXPECT_NEAR(nibble::distillation_loss(s, t, kLabels, T, 0.0).item(), ref_ce(s, kLabels), 1e-5)
      << hint("α = 0 is plain cross-entropy on the labels, with the student's logits at T = 1");
  const double only_soft = nibble::distillation_loss(s, t, kLabels, T, 1.0).item();
  EXPECT_NEAR(only_soft, ref_kd(s, t, T), 1e-5) << hint("α = 1 is T²·KL alone (α weights the TEACHER's term)");
  EXPECT_NEAR(nibble::distillation_loss(s, t, {3, 2, 0}, T, 1.0).item(), only_soft, 1e-6)
      << hint("α = 1 ignores the labels");
  const double a = 0.3;
  EXPECT_NEAR(nibble::distillation_loss(s, t, kLabels, T, a).item(),
              a * ref_kd(s, t, T) + (1 - a) * ref_ce(s, kLabels), 1e-5)
      << hint("α·T²·KL + (1 − α)·CE with α = 0.3");
  // The worked example of the header.
  const Tensor s1 = Tensor::from_vector({0.0f, 0.0f}, {1, 2});
  const Tensor t1 = Tensor::from_vector({0.0f, static_cast<float>(kLn3)}, {1, 2});
  EXPECT_NEAR(nibble::distillation_loss(s1, t1, {1}, 1.0, 0.5).item(), 0.411980, 1e-5)
      << hint("0.5 · 0.130812 + 0.5 · ln 2");
}

GRADED_TEST(DistillGraded, GradientsOfEveryLoss, 14) {
  nibble::manual_seed(5);
  const Tensor t = teacher_logits();
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::softmax_with_temperature(x[0], 2.0); },
      {student_logits()}))
      << hint("softmax_with_temperature must stay on the tape (nibble ops, no to_vector)");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [t](const std::vector<Tensor>& x) { return nibble::soft_target_kl(x[0], t, 2.0); }, {student_logits()}))
      << hint("soft_target_kl must be differentiable in the student's logits");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [t](const std::vector<Tensor>& x) { return nibble::distillation_loss(x[0], t, kLabels, 2.0, 0.4); },
      {student_logits()}))
      << hint("distillation_loss must be differentiable in the student's logits");
  const Tensor target = Tensor::from_vector({0.5f, -1.0f, 2.0f, 0.0f, 1.0f, 0.3f}, {2, 3});
  EXPECT_TRUE(nibble::testing::gradcheck(
      [target](const std::vector<Tensor>& x) { return nibble::hidden_state_mse(x[0], target); },
      {Tensor::from_vector({1.0f, 0.2f, -0.5f, 0.7f, 0.1f, -1.2f}, {2, 3})}))
      << hint("hidden_state_mse must be differentiable in the student's hidden state");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::attention_map(x[0]); },
      {Tensor::from_vector({1.0f, -0.5f, 0.3f, 2.0f, 0.4f, 1.5f, -0.8f, 0.6f, 0.9f, -1.1f, 0.2f, 0.7f}, {1, 3, 2, 2})}))
      << hint("attention_map must stay on the tape");
  const Tensor tw = distill_testing::attention_weights(1, 2, 2, 3, 0.4);
  EXPECT_TRUE(nibble::testing::gradcheck(
      [tw](const std::vector<Tensor>& x) { return nibble::attention_kl(nibble::softmax(x[0], -1), tw); },
      {Tensor::from_vector({0.3f, -0.2f, 0.8f, 1.0f, 0.1f, -0.6f, 0.5f, 0.4f, -0.9f, 0.0f, 0.7f, 0.2f}, {1, 2, 2, 3})}))
      << hint("attention_kl must be differentiable in the student's weights");
}

GRADED_TEST(DistillGraded, HiddenStateMse, 8) {
  const Tensor s = Tensor::from_vector({1.0f, 2.0f}, {1, 2});
  const Tensor t = Tensor::from_vector({0.0f, 4.0f}, {1, 2});
  EXPECT_NEAR(nibble::hidden_state_mse(s, t).item(), 2.5, 1e-6) << hint("((1 − 0)² + (2 − 4)²) / 2: the MEAN of squares");
  // Widths 3 -> 2 through a projection with known weights: h = W x + b.
  nibble::nn::Linear proj(3, 2);
  {
    nibble::NoGradGuard g;
    set_values(proj.weight, {1.0f, 0.0f, 2.0f, -1.0f, 1.0f, 0.0f});
    set_values(proj.bias, {0.5f, -0.5f});
  }
  const Tensor sx = Tensor::from_vector({1.0f, 2.0f, 3.0f, 0.0f, -1.0f, 1.0f}, {2, 3});
  const Tensor tx = Tensor::from_vector({7.0f, 0.0f, 1.0f, 1.0f}, {2, 2});
  // rows: h0 = (1+6+0.5, -1+2-0.5) = (7.5, 0.5); h1 = (0+2+0.5, 0-1-0.5) = (2.5, -1.5)
  // errors: (0.5, 0.5), (1.5, -2.5): (0.25 + 0.25 + 2.25 + 6.25) / 4 = 2.25
  EXPECT_NEAR(nibble::hidden_state_mse(sx, tx, &proj).item(), 2.25, 1e-5)
      << hint("project the STUDENT's state (Linear d_s -> d_t) first, then the mean squared error");
  // A projection given for equal widths is used, too.
  nibble::nn::Linear square(2, 2);
  {
    nibble::NoGradGuard g;
    set_values(square.weight, {2.0f, 0.0f, 0.0f, 2.0f});
    set_values(square.bias, {0.0f, 0.0f});
  }
  EXPECT_NEAR(nibble::hidden_state_mse(s, t, &square).item(), (4.0 + 0.0) / 2.0, 1e-5)
      << hint("when a projection is given, use it even if the widths already agree: (2,4) vs (0,4)");
  // The projection learns: its weight gets a gradient.
  nibble::hidden_state_mse(sx, tx, &proj).backward();
  ASSERT_TRUE(proj.weight.grad().defined()) << hint("the projection is trained with the student: keep it on the tape");
}

GRADED_TEST(DistillGraded, AttentionMapByHand, 8) {
  // One example, 2 channels of 1x2: Q = (1+1, 0+4) = (2, 4) / √20.
  const Tensor a = Tensor::from_vector({1.0f, 0.0f, 1.0f, 2.0f}, {1, 2, 1, 2});
  const std::vector<double> q = values(nibble::attention_map(a));
  ASSERT_EQ(q.size(), 2u) << hint("[N, C, H, W] -> [N, H·W]: the channels are summed away");
  EXPECT_NEAR(q[0], 2.0 / std::sqrt(20.0), 1e-6) << hint("Σ_c a² = (2, 4), divided by its L2 norm √20");
  EXPECT_NEAR(q[1], 4.0 / std::sqrt(20.0), 1e-6) << hint("Σ_c a² = (2, 4), divided by its L2 norm √20");
  // [2, 3, 2, 2] with negative activations, against the loop reference.
  const Tensor b = Tensor::from_vector({1.0f, -0.5f, 0.3f, 2.0f, 0.4f, 1.5f, -0.8f, 0.6f, 0.9f, -1.1f, 0.2f, 0.7f,
                                        -2.0f, 0.1f, 0.5f, 0.3f, 1.2f, -0.4f, 0.0f, 0.8f, 0.6f, 0.9f, -1.3f, 0.2f},
                                       {2, 3, 2, 2});
  const Tensor m = nibble::attention_map(b);
  ASSERT_EQ(m.shape(), (nibble::Shape{2, 4})) << hint("one flattened map of H·W = 4 per example");
  const auto ref = ref_attention_map(b);
  const std::vector<double> got = values(m);
  for (size_t i = 0; i < 2; ++i)
    for (size_t j = 0; j < 4; ++j)
      EXPECT_NEAR(got[i * 4 + j], ref[i][j], 1e-5)
          << hint("example " + std::to_string(i) + ": SQUARE the activations, sum over channels, unit L2 norm per example");
  const Tensor z = Tensor::zeros({1, 2, 1, 2});
  for (const double x : values(nibble::attention_map(z)))
    EXPECT_EQ(x, 0.0) << hint("an all-zero map stays zero (no 0/0): divide by max(norm, 1e-12)");
}

GRADED_TEST(DistillGraded, AttentionKlPerRow, 10) {
  // One row by hand.
  const Tensor s1 = Tensor::from_vector({0.5f, 0.5f}, {1, 1, 1, 2});
  const Tensor t1 = Tensor::from_vector({0.25f, 0.75f}, {1, 1, 1, 2});
  EXPECT_NEAR(nibble::attention_kl(s1, t1).item(), 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-6)
      << hint("KL(teacher row ‖ student row) = Σ t (log t − log s)");
  // [2, 3, 4, 5]: every row different; the mean of the per-row KLs.
  const Tensor s = distill_testing::attention_weights(2, 3, 4, 5, 0.0);
  const Tensor t = distill_testing::attention_weights(2, 3, 4, 5, 1.1);
  EXPECT_NEAR(nibble::attention_kl(s, t).item(), ref_attention_kl(s, t), 1e-5)
      << hint("one KL per ROW (per query, per head, per example), then the mean over all B·H·Tq rows");
  EXPECT_NEAR(nibble::attention_kl(t, t).item(), 0.0, 1e-6) << hint("identical attention gives 0");
  // Zeros in the teacher contribute nothing (0 · log 0 = 0).
  const Tensor t0 = Tensor::from_vector({0.0f, 1.0f, 0.5f, 0.5f}, {1, 1, 2, 2});
  const Tensor s0 = Tensor::from_vector({0.2f, 0.8f, 0.9f, 0.1f}, {1, 1, 2, 2});
  const double want = (std::log(1.0 / 0.8) + 0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1)) / 2.0;
  EXPECT_NEAR(nibble::attention_kl(s0, t0).item(), want, 1e-5) << hint("a zero teacher weight adds 0, not NaN");
}

GRADED_TEST(DistillGraded, SoftLabelEntropy, 7) {
  const Tensor x = Tensor::from_vector({0.0f, static_cast<float>(kLn3)}, {1, 2});
  EXPECT_NEAR(nibble::soft_label_entropy_bits(x, 1.0), ref_entropy_bits({0.25, 0.75}), 1e-5)
      << hint("H(1/4, 3/4) ≈ 0.811278 BITS");
  const Tensor t = teacher_logits();
  double previous = -1.0;
  for (const double T : {1.0, 2.0, 4.0, 8.0}) {
    const auto rows = ref_softmax(t, T);
    double want = 0.0;
    for (const auto& p : rows) want += ref_entropy_bits(p);
    want /= 3.0;
    const double got = nibble::soft_label_entropy_bits(t, T);
    EXPECT_NEAR(got, want, 1e-4) << hint("T = " + std::to_string(T) + ": entropy in bits of softmax(t/T), MEAN over the rows");
    EXPECT_GT(got, previous) << hint("a higher temperature gives softer labels: more bits");
    previous = got;
  }
}

GRADED_TEST(DistillGraded, DarkKnowledge, 6) {
  const Tensor x = Tensor::from_vector({static_cast<float>(std::log(2.0)), 0.0f, 0.0f}, {1, 3});
  EXPECT_NEAR(nibble::dark_knowledge_bits(x, 1.0), 0.5, 1e-5)
      << hint("p = (1/2, 1/4, 1/4): rest (1/2, 1/2) has 1 bit, weighted by 1 − p_max = 1/2");
  const Tensor t = teacher_logits();
  for (const double T : {1.0, 4.0})
    EXPECT_NEAR(nibble::dark_knowledge_bits(t, T), ref_dark(t, T), 1e-4)
        << hint("T = " + std::to_string(T) + ": (1 − p_max)·H(rest renormalised), mean over the rows");
  const Tensor sharp = Tensor::from_vector({100.0f, 0.0f, 0.0f, 0.0f, 0.0f, 100.0f}, {2, 3});
  EXPECT_NEAR(nibble::dark_knowledge_bits(sharp, 1.0), 0.0, 1e-6) << hint("a one-hot soft label carries no dark knowledge");
}

GRADED_TEST(DistillGraded, RejectsBadInputWithClearMessages, 4) {
  const Tensor s = student_logits(), t = teacher_logits();
  std::string e = error_of([&] { nibble::soft_target_kl(s, t, 0.0); });
  EXPECT_NE(e.find("temperature"), std::string::npos) << hint("T = 0 must throw naming the temperature: " + e);
  e = error_of([&] { nibble::distillation_loss(s, t, kLabels, 2.0, 1.5); });
  EXPECT_NE(e.find("alpha = 1.5"), std::string::npos) << hint("α outside [0, 1] must throw naming alpha and its value: " + e);
  e = error_of([&] { nibble::soft_target_kl(s, Tensor::zeros({3, 5}), 1.0); });
  EXPECT_NE(e.find("teacher_logits"), std::string::npos) << hint("different class counts must throw: " + e);
  Tensor bad = student_logits().clone();
  bad.at({1, 2}) = std::numeric_limits<float>::quiet_NaN();
  e = error_of([&] { nibble::distillation_loss(bad, t, kLabels, 2.0, 0.5); });
  EXPECT_NE(e.find("NaN"), std::string::npos) << hint("NaN logits must throw naming the NaN: " + e);
  e = error_of([&] { nibble::hidden_state_mse(Tensor::zeros({2, 3}), Tensor::zeros({2, 4})); });
  EXPECT_NE(e.find("projection"), std::string::npos) << hint("a width mismatch without projection must throw: " + e);
  // The boundaries are valid input, not errors: α = 0, α = 1, a small T.
  e = error_of([&] {
    EXPECT_NEAR(nibble::distillation_loss(s, t, kLabels, 0.05, 0.0).item(), ref_ce(s, kLabels), 1e-5)
        << hint("α = 0 at T = 0.05 is still plain cross-entropy");
    EXPECT_TRUE(std::isfinite(nibble::distillation_loss(s, t, kLabels, 0.05, 1.0).item()))
        << hint("α = 1 at a small T must stay finite (log_softmax, not log of softmax)");
  });
  EXPECT_EQ(e, "") << hint("α in {0, 1} and T = 0.05 are allowed; nothing should throw");
}
