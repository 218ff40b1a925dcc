// Module 03 — graded tests for compression/pruning.h (100 points). Expected masks and scores are
// worked out by hand in the comments or by a brute-force count, never taken from a solution's
// output. Run them with `nibble test 03`.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "compression/pruning.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "modules/graded.h"
#include "nn/checkpoint.h"
#include "nn/linear.h"
#include "nn/models.h"
#include "optim/sgd.h"

namespace {

using nibble::Shape;
using nibble::Tensor;
using nibble::grading::hint;

// The error is a nibble::Error (not NotImplemented) whose message names `function` and `value`.
bool rejects(const std::function<void()>& fn, const std::string& function, const std::string& value) {
  try {
    fn();
  } catch (const nibble::NotImplemented&) {
    return false;
  } catch (const nibble::Error& e) {
    const std::string what = e.what();
    return what.find(function) != std::string::npos && what.find(value) != std::string::npos;
  }
  return false;
}

Tensor vec(const std::vector<float>& v) { return Tensor::from_vector(v); }

std::vector<float> values(const Tensor& t) { return t.contiguous().to_vector(); }

std::string str(const std::vector<float>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]).substr(0, 6);
  return s + "]";
}

// Two Linear layers of very different scales: a's weights in (-1, 1), b's in ±[10, 20].
class TwoScales : public nibble::nn::Module {
 public:
  TwoScales() {
    register_module("a", std::make_shared<nibble::nn::Linear>(8, 4));
    register_module("b", std::make_shared<nibble::nn::Linear>(4, 8));
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<float> small(-0.99f, 0.99f), big(10.0f, 20.0f);
    float* wa = get_parameter("a.weight").data();
    for (int i = 0; i < 32; ++i) wa[i] = small(rng);
    float* wb = get_parameter("b.weight").data();
    for (int i = 0; i < 32; ++i) wb[i] = (i % 2 ? -1.0f : 1.0f) * big(rng);
  }
  Tensor forward(const Tensor& x) override { return child("b")(nibble::relu(child("a")(x))); }
};

int64_t zeros_of(const Tensor& t) {
  int64_t z = 0;
  for (const float x : values(t)) z += x == 0.0f;
  return z;
}

}  // namespace

GRADED_TEST(PruningGraded, SparsityCountsExactZeros, 6) {
  EXPECT_DOUBLE_EQ(nibble::sparsity(vec({0, 1, -2, 0})), 0.5) << "[0, 1, -2, 0] has two zeros of four"
                                                             << hint("count x == 0, then divide by numel");
  EXPECT_DOUBLE_EQ(nibble::sparsity(vec({-0.0f, 3})), 0.5) << "-0.0 is zero" << hint("-0.0f == 0.0f is true in C++");
  EXPECT_DOUBLE_EQ(nibble::sparsity(vec({-1, -2, -3})), 0.0) << "negative values are not zero"
                                                             << hint("test x == 0, not x <= 0");
  // [2, 3] with one zero: 1/6 (not 1/2: divide by numel, not by the rows).
  EXPECT_NEAR(nibble::sparsity(Tensor::from_vector({1, 2, 0, 4, 5, 6}, {2, 3})), 1.0 / 6.0, 1e-12)
      << "[2, 3] with one zero" << hint("divide by numel() = 6, not size(0)");
  EXPECT_DOUBLE_EQ(nibble::sparsity(Tensor::zeros({3, 4})), 1.0) << "all zeros";
  EXPECT_DOUBLE_EQ(nibble::sparsity(Tensor::zeros({0})), 0.0) << "an empty tensor has sparsity 0"
                                                            << hint("return 0 before dividing by numel = 0");
}

GRADED_TEST(PruningGraded, ThresholdMaskWorkedExample, 10) {
  // scores [3, 1, 2, 1], amount 0.5: count round(2) = 2 -> the two 1s go.
  const Tensor m = nibble::threshold_mask(vec({3, 1, 2, 1}), 0.5);
  ASSERT_EQ(m.shape(), (Shape{4})) << "the mask has the scores' shape";
  EXPECT_EQ(values(m), (std::vector<float>{1, 0, 1, 0}))
      << "threshold_mask([3,1,2,1], 0.5) gave " << str(values(m)) << hint("the SMALLEST scores are pruned");
  // amount 0 prunes nothing.
  EXPECT_EQ(values(nibble::threshold_mask(vec({3, 1, 2}), 0.0)), (std::vector<float>{1, 1, 1})) << "amount 0";
  // 7 entries at amount 0.5: round(3.5) = 4 pruned (as torch rounds), the four smallest.
  const Tensor r = nibble::threshold_mask(vec({7, 1, 6, 2, 5, 3, 4}), 0.5);
  EXPECT_EQ(values(r), (std::vector<float>{1, 0, 1, 0, 1, 0, 0}))
      << "7 scores, amount 0.5 gave " << str(values(r)) << hint("count = round(amount · numel) = round(3.5) = 4 (prune_count)");
  // 2-D scores keep their shape; 0.25 of 8 = 2: the two smallest VALUES go, -3 and -1 (scores are
  // ranked as given; magnitude pruning passes |w|).
  const Tensor m2 = nibble::threshold_mask(Tensor::from_vector({4, -3, 2, 8, 5, -1, 6, 7}, {2, 4}), 0.25);
  ASSERT_EQ(m2.shape(), (Shape{2, 4})) << "a [2, 4] score tensor gives a [2, 4] mask";
  EXPECT_EQ(values(m2), (std::vector<float>{1, 0, 1, 1, 1, 0, 1, 1}))
      << "2-D scores gave " << str(values(m2)) << hint("rank the scores as they are (the caller passes |w| for magnitude)");
}

GRADED_TEST(PruningGraded, ThresholdMaskExactCountAndTies, 8) {
  // Six equal scores, amount 0.5: exactly 3 go, the LOWER indices first.
  const Tensor m = nibble::threshold_mask(vec({1, 1, 1, 1, 1, 1}), 0.5);
  EXPECT_EQ(values(m), (std::vector<float>{0, 0, 0, 1, 1, 1}))
      << "ties gave " << str(values(m)) << hint("a threshold test (score <= t) prunes all ties; rank and cut at the count, lower index first");
  // [2, 1, 2, 1, 2] at 0.6: count 3 -> both 1s, then the first 2.
  EXPECT_EQ(values(nibble::threshold_mask(vec({2, 1, 2, 1, 2}), 0.6)), (std::vector<float>{0, 0, 1, 0, 1}))
      << "ties among the 2s" << hint("stable ordering: the 2 at index 0 goes before those at 2 and 4");
  // Random scores with many repeats: exactly round(0.37 · 300) = 111 zeros, and no kept score is
  // below a pruned one.
  std::mt19937_64 rng(11);
  std::vector<float> s(300);
  for (auto& x : s) x = static_cast<float>(rng() % 40);
  const std::vector<float> mask = values(nibble::threshold_mask(Tensor::from_vector(s, {20, 15}), 0.37));
  int64_t zeros = 0;
  float max_pruned = -1, min_kept = 1e9;
  for (size_t i = 0; i < s.size(); ++i) {
    if (mask[i] == 0.0f) {
      ++zeros;
      max_pruned = std::max(max_pruned, s[i]);
    } else {
      min_kept = std::min(min_kept, s[i]);
    }
  }
  EXPECT_EQ(zeros, 111) << "300 scores at amount 0.37" << hint("exactly round(0.37 · 300) = 111, ties or not");
  EXPECT_LE(max_pruned, min_kept) << "a kept score is below a pruned one";
}

GRADED_TEST(PruningGraded, IterativePruningMultipliesIntoMask, 8) {
  // Existing mask prunes index 2 (score 2). amount 0.5 -> count 2: index 2 first, then the 1 at index 1.
  const Tensor m = nibble::threshold_mask(vec({3, 1, 2, 1}), 0.5, vec({1, 1, 0, 1}));
  EXPECT_EQ(values(m), (std::vector<float>{1, 0, 0, 1}))
      << "existing [1,1,0,1] gave " << str(values(m))
      << hint("already-pruned entries count towards the total and go first; the total stays round(amount · numel)");
  // An existing mask with more zeros than the count stays as it is.
  const Tensor keep = nibble::threshold_mask(vec({5, 6, 7, 8}), 0.25, vec({0, 1, 0, 1}));
  EXPECT_EQ(values(keep), (std::vector<float>{0, 1, 0, 1})) << "more zeros than the count"
                                                           << hint("never un-prune: the result is <= existing_mask everywhere");
  // Pruned entries with a LARGE score (e.g. a Taylor score) still stay pruned.
  const Tensor big = nibble::threshold_mask(vec({9, 1, 2, 3, 4, 5}), 0.5, vec({0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(values(big), (std::vector<float>{0, 0, 0, 1, 1, 1}))
      << "existing zero at the largest score gave " << str(values(big)) << hint("rank by (already pruned?, score, index)");
  // On a model: 50% then 75% of fc1 — the second mask contains the first and prunes 75% in total.
  nibble::manual_seed(5);
  auto mlp = std::make_shared<nibble::nn::FashionMlp>();
  const Tensor first = nibble::l1_unstructured(*mlp, "fc1", 0.5);
  const Tensor second = nibble::l1_unstructured(*mlp, "fc1", 0.75);
  EXPECT_EQ(zeros_of(second), 150528) << "75% of 784·256 = 150528" << hint("the second call prunes to 75% in total, not 75% more");
  EXPECT_EQ(zeros_of(mul(first, second)), zeros_of(second)) << "the second mask must contain the first's zeros";
}

GRADED_TEST(PruningGraded, GlobalWorkedExample, 8) {
  // {[10, 20], [1, 2, 3]} at 0.4: count round(2) = 2, the two smallest overall: 1 and 2.
  const auto m = nibble::global_threshold_masks({vec({10, 20}), vec({1, 2, 3})}, 0.4);
  ASSERT_EQ(m.size(), 2u) << "one mask per tensor";
  EXPECT_EQ(values(m[0]), (std::vector<float>{1, 1})) << "the large layer loses nothing"
                                                      << hint("one ranking over all tensors, not one per tensor");
  EXPECT_EQ(values(m[1]), (std::vector<float>{0, 0, 1})) << "the small layer loses its two smallest";
  // With existing masks: the 20 is already pruned; count round(0.4·5) = 2 -> the 20 and the 1.
  const auto e = nibble::global_threshold_masks({vec({10, 20}), vec({1, 2, 3})}, 0.4, {vec({1, 0}), Tensor()});
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(values(e[0]), (std::vector<float>{1, 0})) << "an existing zero stays pruned"
                                                      << hint("pass the existing masks on, concatenated like the scores");
  EXPECT_EQ(values(e[1]), (std::vector<float>{0, 1, 1})) << "existing zero counts towards the total";
  // Equal scores everywhere: ties go to the earlier tensor first.
  const auto t = nibble::global_threshold_masks({vec({1, 1}), Tensor::from_vector({1, 1}, {1, 2})}, 0.5);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(values(t[0]), (std::vector<float>{0, 0})) << "ties: the earlier tensor goes first";
  EXPECT_EQ(t[1].shape(), (Shape{1, 2})) << "each mask has its tensor's shape";
  EXPECT_EQ(values(t[1]), (std::vector<float>{1, 1})) << "ties: the later tensor is kept";
}

GRADED_TEST(PruningGraded, GlobalDiffersFromLayerwise, 8) {
  // 32 small weights in a, 32 large in b. Global 25% of 64 = 16: all from a. Layer-wise: 8 each.
  TwoScales global, layerwise;
  const std::vector<float> before = values(global.get_parameter("a.weight"));
  nibble::global_unstructured(global, {"a", "b"}, 0.25);
  const Tensor ga = global.get_parameter("a.weight"), gb = global.get_parameter("b.weight");
  EXPECT_EQ(zeros_of(ga), 16) << "global 25%: all 16 pruned weights come from the small layer a"
                              << hint("one threshold over both layers");
  EXPECT_EQ(zeros_of(gb), 0) << "global 25%: the large layer b keeps everything";
  // The 16 pruned in a are its 16 smallest |w|: each pruned |w| is below each kept one.
  const std::vector<float> after = values(ga);
  float max_pruned = 0, min_kept = 1e9;
  for (size_t i = 0; i < before.size(); ++i)
    (after[i] == 0.0f ? max_pruned : min_kept) =
        after[i] == 0.0f ? std::max(max_pruned, std::fabs(before[i])) : std::min(min_kept, std::fabs(before[i]));
  EXPECT_LT(max_pruned, min_kept) << "global pruning removes the smallest |w| of a" << hint("magnitude = |w|");
  nibble::l1_unstructured(layerwise, "a", 0.25);
  nibble::l1_unstructured(layerwise, "b", 0.25);
  EXPECT_EQ(zeros_of(layerwise.get_parameter("a.weight")), 8) << "layer-wise 25% of a's 32";
  EXPECT_EQ(zeros_of(layerwise.get_parameter("b.weight")), 8) << "layer-wise 25% of b's 32";
  EXPECT_DOUBLE_EQ(nibble::model_sparsity(global).weights, 0.25) << "model_sparsity over the weights";
  EXPECT_FALSE(nibble::global_unstructured(global, {"a", "b"}, 0.5).empty());
  EXPECT_EQ(zeros_of(ga), 32) << "global 50%: the whole of a" << hint("global pruning may empty a small-scale layer");
  EXPECT_EQ(zeros_of(gb), 0) << "global 50%: b untouched";
}

GRADED_TEST(PruningGraded, TaylorScoresByHand, 8) {
  // |w · g|: [2·0.1, -1·0.3, 0.5·(-4)] -> [0.2, 0.3, 2].
  const Tensor t = nibble::taylor_scores(vec({2, -1, 0.5f}), vec({0.1f, 0.3f, -4}));
  ASSERT_EQ(t.shape(), (Shape{3})) << "one score per weight";
  const std::vector<float> want = {0.2f, 0.3f, 2.0f};
  for (int i = 0; i < 3; ++i)
    EXPECT_NEAR(values(t)[i], want[i], 1e-6) << "taylor_scores entry " << i << hint("|w · ∂L/∂w|: the product, then abs");
  // From a real backward pass: L = Σ_i (W x)_i with x = (1, -2, 3) gives ∂L/∂W_ij = x_j, so the
  // score of W_ij is |W_ij · x_j|.
  nibble::nn::Linear fc(3, 2, false);
  const std::vector<float> w = {0.5f, 1.0f, -2.0f, 3.0f, -0.25f, 0.1f};
  std::copy(w.begin(), w.end(), fc.weight.data());
  fc(Tensor::from_vector({1, -2, 3}, {1, 3})).sum().backward();
  const std::vector<float> s = values(nibble::taylor_scores(fc.weight, fc.weight.grad()));
  const float x[3] = {1, -2, 3};
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(s[i], std::fabs(w[i] * x[i % 3]), 1e-5) << "score of W[" << i / 3 << "][" << i % 3 << "]";
  // Both factors matter: a big weight with zero gradient scores 0.
  EXPECT_EQ(values(nibble::taylor_scores(vec({100, 0.1f}), vec({0, 1}))), (std::vector<float>{0, 0.1f}))
      << "zero gradient -> zero score" << hint("not |w| + |g|");
}

GRADED_TEST(PruningGraded, StructuredScoresL1L2, 8) {
  const Tensor w = Tensor::from_vector({3, -4, 1, 1}, {2, 2});
  const Tensor l1 = nibble::structured_scores(w, 1), l2 = nibble::structured_scores(w, 2);
  ASSERT_EQ(l1.shape(), (Shape{2})) << "one score per row (output unit)";
  EXPECT_NEAR(l1.at({0}), 7.0, 1e-5) << "L1 of row (3, -4)" << hint("rows, not columns: axis 0 is the unit");
  EXPECT_NEAR(l1.at({1}), 2.0, 1e-5) << "L1 of row (1, 1)";
  EXPECT_NEAR(l2.at({0}), 5.0, 1e-5) << "L2 of row (3, -4)" << hint("square root of the sum of squares");
  EXPECT_NEAR(l2.at({1}), std::sqrt(2.0), 1e-5) << "L2 of row (1, 1)";
  // A non-square Linear weight [3, 2]: scores [3].
  const Tensor r = nibble::structured_scores(Tensor::from_vector({1, 2, 0, -5, 2, 2}, {3, 2}), 1);
  ASSERT_EQ(r.shape(), (Shape{3})) << "[out = 3, in = 2] -> 3 scores";
  EXPECT_EQ(values(r), (std::vector<float>{3, 5, 4})) << "L1 rows of [[1,2],[0,-5],[2,2]]";
  // A Conv2d weight [2, 1, 2, 2]: filter 0 = (1, 2, 2, 4) -> L2 = 5; filter 1 = (-1, 0, 0, 0) -> 1.
  const Tensor c = nibble::structured_scores(Tensor::from_vector({1, 2, 2, 4, -1, 0, 0, 0}, {2, 1, 2, 2}), 2);
  ASSERT_EQ(c.shape(), (Shape{2})) << "one score per filter" << hint("flatten every axis after the first");
  EXPECT_NEAR(c.at({0}), 5.0, 1e-5) << "L2 of filter 0";
  EXPECT_NEAR(c.at({1}), 1.0, 1e-5) << "L2 of filter 1";
}

GRADED_TEST(PruningGraded, NMMaskTwoFour, 8) {
  // Header example: |.| = (0.1, 3, 2, 0.5) keeps indices 1, 2; (1, 1, 1, 1) keeps the first two.
  const Tensor m = nibble::nm_mask(Tensor::from_vector({0.1f, -3, 2, 0.5f, 1, 1, 1, 1}, {1, 8}), 2, 4);
  ASSERT_EQ(m.shape(), (Shape{1, 8}));
  EXPECT_EQ(values(m), (std::vector<float>{0, 1, 1, 0, 1, 1, 0, 0}))
      << "2:4 of [0.1,-3,2,0.5 | 1,1,1,1] gave " << str(values(m)) << hint("largest |w| in each group; ties keep the lower index");
  // Groups run along the LAST axis, row by row: [2, 4] has one group per row.
  const Tensor r = nibble::nm_mask(Tensor::from_vector({4, 3, 2, 1, 1, 2, 3, 4}, {2, 4}), 2, 4);
  EXPECT_EQ(values(r), (std::vector<float>{1, 1, 0, 0, 0, 0, 1, 1})) << "one group per row of [2, 4]";
  // 1:4 keeps exactly one per group; -5 is the largest magnitude.
  EXPECT_EQ(values(nibble::nm_mask(vec({-5, 1, 2, 0.5f}), 1, 4)), (std::vector<float>{1, 0, 0, 0}))
      << "1:4 of [-5, 1, 2, 0.5]" << hint("magnitude |w|, not the signed value; keep n, not n + 1 or m - n");
  // 2:4 on random [8, 16]: exactly 2 non-zeros in every group, and each kept |w| >= each dropped one.
  std::mt19937_64 rng(24);
  std::normal_distribution<float> g;
  std::vector<float> w(128);
  for (auto& x : w) x = g(rng);
  const std::vector<float> mask = values(nibble::nm_mask(Tensor::from_vector(w, {8, 16}), 2, 4));
  for (size_t grp = 0; grp < 128; grp += 4) {
    int kept = 0;
    float min_kept = 1e9, max_dropped = 0;
    for (size_t j = grp; j < grp + 4; ++j) {
      kept += mask[j] == 1.0f;
      (mask[j] == 1.0f ? min_kept : max_dropped) =
          mask[j] == 1.0f ? std::min(min_kept, std::fabs(w[j])) : std::max(max_dropped, std::fabs(w[j]));
    }
    EXPECT_EQ(kept, 2) << "group at " << grp;
    EXPECT_GE(min_kept, max_dropped) << "group at " << grp << hint("keep the largest magnitudes");
  }
}

GRADED_TEST(PruningGraded, CubicScheduleEndPointsAndMiddle, 8) {
  // s_i = 0, s_f = 0.9 over steps 0..10.
  EXPECT_DOUBLE_EQ(nibble::cubic_sparsity(0, 0, 10, 0.0, 0.9), 0.0) << "starts at s_i";
  EXPECT_NEAR(nibble::cubic_sparsity(10, 0, 10, 0.0, 0.9), 0.9, 1e-12) << "ends at s_f";
  EXPECT_NEAR(nibble::cubic_sparsity(5, 0, 10, 0.0, 0.9), 0.9 * (1 - 0.125), 1e-12)
      << "t = 5 of 10: 0.9 · (1 − 0.5³) = 0.7875" << hint("s_f + (s_i − s_f)(1 − progress)³");
  EXPECT_NEAR(nibble::cubic_sparsity(2, 0, 10, 0.0, 0.9), 0.9 * (1 - 0.512), 1e-12)
      << "t = 2 of 10: 0.9 · (1 − 0.8³) = 0.4392 (fast at first)";
  EXPECT_NEAR(nibble::cubic_sparsity(25, 0, 10, 0.0, 0.9), 0.9, 1e-12) << "stays at s_f after end_step"
                                                                       << hint("clamp: after t_1 it is s_f");
  // s_i = 0.5, s_f = 0.9 over steps 10..20: before, at and after.
  EXPECT_DOUBLE_EQ(nibble::cubic_sparsity(3, 10, 20, 0.5, 0.9), 0.5) << "before begin_step: s_i";
  EXPECT_NEAR(nibble::cubic_sparsity(15, 10, 20, 0.5, 0.9), 0.9 - 0.4 * 0.125, 1e-12)
      << "t = 15 in [10, 20] from 0.5 to 0.9: 0.85" << hint("progress = (t − t_0)/(t_1 − t_0); s_i matters");
  // power 1 is linear; power 2 at the middle: 0.9 − 0.4 · 0.25 = 0.8.
  EXPECT_NEAR(nibble::polynomial_sparsity(15, 10, 20, 0.5, 0.9, 1.0), 0.7, 1e-12) << "power 1 is linear";
  EXPECT_NEAR(nibble::polynomial_sparsity(15, 10, 20, 0.5, 0.9, 2.0), 0.8, 1e-12) << "power 2 at the middle"
                                                                               << hint("use `power`, not a fixed 3");
}

GRADED_TEST(PruningGraded, MasksSurviveOptimizerAndCheckpoint, 6) {
  nibble::manual_seed(7);
  auto mlp = std::make_shared<nibble::nn::FashionMlp>();
  nibble::global_unstructured(*mlp, {"fc1", "fc2", "fc3"}, 0.8);
  const Tensor mask = mlp->fc2().weight.mask();
  ASSERT_TRUE(mask.defined()) << "global_unstructured sets a mask on fc2.weight";
  nibble::optim::SGD opt(mlp->parameters(), {0.1f, 0.9f});
  const Tensor x = Tensor::rand({16, 1, 28, 28});
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    nibble::cross_entropy((*mlp)(x), std::vector<int64_t>(16, 3)).backward();
    opt.step();
  }
  // 784·256 + 256·128 + 128·10 = 234752 weights; round(0.8 · 234752) = 187802 stay zero.
  EXPECT_NEAR(nibble::model_sparsity(*mlp).weights, 187802.0 / 234752.0, 1e-12)
      << "80% of the weights stay zero after 3 SGD steps" << hint("global: one count over all three layers");
  const std::vector<float> w = values(mlp->fc2().weight), m = values(mask);
  int64_t bad = 0;
  for (size_t i = 0; i < w.size(); ++i) bad += m[i] == 0.0f && w[i] != 0.0f;
  EXPECT_EQ(bad, 0) << "pruned weights of fc2 moved";
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("nibble_pruning_graded_" + std::to_string(::getpid()) + ".ckpt")).string();
  nibble::nn::save(*mlp, path);
  auto loaded = std::make_shared<nibble::nn::FashionMlp>();
  nibble::nn::load(*loaded, path);
  std::remove(path.c_str());
  EXPECT_DOUBLE_EQ(nibble::sparsity(loaded->fc1().weight), nibble::sparsity(mlp->fc1().weight)) << "after save -> load";
  ASSERT_TRUE(loaded->fc1().weight.mask().defined()) << "the mask is saved with the checkpoint";
  EXPECT_EQ(values(loaded->fc1().weight.mask()), values(mlp->fc1().weight.mask()));
}

GRADED_TEST(PruningGraded, PhysicalRemovalEqualsMaskedModel, 8) {
  nibble::manual_seed(8);
  auto masked = std::make_shared<nibble::nn::FashionMlp>();
  auto removed = masked->clone_as<nibble::nn::FashionMlp>();
  const std::vector<float> w = values(masked->fc1().weight);  // [256, 784]
  nibble::ln_structured(*masked, "fc1", 0.5, 1);
  const std::vector<int64_t> keep = nibble::prune_neurons(*removed, "fc1", "fc2", 0.5, 1);
  ASSERT_EQ(keep.size(), 128u) << "half of fc1's 256 neurons are kept";
  EXPECT_EQ(removed->fc1().out_features, 128) << "fc1 has 128 rows after removal";
  EXPECT_EQ(removed->fc2().in_features, 128) << "fc2 takes 128 inputs after removal";
  // The kept neurons are those of largest L1 row norm (computed here in double).
  std::vector<double> l1(256, 0.0);
  for (size_t i = 0; i < w.size(); ++i) l1[i / 784] += std::fabs(w[i]);
  std::vector<bool> kept(256, false);
  for (const int64_t k : keep) kept[static_cast<size_t>(k)] = true;
  double min_kept = 1e30, max_removed = 0;
  for (size_t r = 0; r < 256; ++r) (kept[r] ? min_kept : max_removed) = kept[r] ? std::min(min_kept, l1[r]) : std::max(max_removed, l1[r]);
  EXPECT_GE(min_kept, max_removed) << "a removed neuron has a larger L1 norm than a kept one"
                                   << hint("structured_scores: the L1 norm of each ROW");
  const Tensor x = Tensor::rand({5, 1, 28, 28});
  const std::vector<float> a = values((*masked)(x)), b = values((*removed)(x));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i], b[i]) << "output " << i << " differs between the masked and the smaller model"
                          << hint("structured_scores must rank rows; the same units are masked and removed");
  EXPECT_NEAR(nibble::sparsity(masked->fc1().weight), 0.5, 1e-9) << "ln_structured masks half of fc1's rows";
}

GRADED_TEST(PruningGraded, RejectsBadInput, 6) {
  nibble::manual_seed(9);
  auto mlp = std::make_shared<nibble::nn::FashionMlp>();
  EXPECT_TRUE(rejects([&] { nibble::l1_unstructured(*mlp, "fc1", 1.0); }, "l1_unstructured", "amount = 1"))
      << "amount 1 would prune everything" << hint("amount in [0, 1)");
  EXPECT_TRUE(rejects([&] { nibble::threshold_mask(vec({1, 2}), -0.1); }, "threshold_mask", "amount = -0.1"))
      << "negative amount";
  EXPECT_TRUE(rejects([&] { nibble::l1_unstructured(*mlp, "fc9", 0.5); }, "l1_unstructured", "fc9"))
      << "unknown layer name";
  EXPECT_TRUE(rejects([&] { nibble::nm_mask(Tensor::ones({2, 6}), 2, 4); }, "nm_mask", "m = 4 does not divide K = 6"))
      << "N:M with M not dividing K";
  EXPECT_TRUE(rejects([&] { nibble::prune_neurons(*mlp, "fc3", "fc2", 0.99, 1); }, "prune_neurons", "every"))
      << "removing every neuron of fc3 (round(0.99 · 10) = 10)";
  EXPECT_TRUE(rejects([&] { nibble::threshold_mask(vec({1, 2}), 0.5, vec({1, 1, 1})); }, "threshold_mask",
                      "existing_mask"))
      << "a mask of another shape";
  // Just inside the limits is accepted and works.
  EXPECT_EQ(values(nibble::threshold_mask(vec({2, 1}), 0.99)), (std::vector<float>{0, 0}))
      << "amount 0.99 of 2 entries prunes round(1.98) = 2";
  EXPECT_EQ(values(nibble::nm_mask(Tensor::from_vector({1, 3, 2, 6, 5, 4}, {1, 6}), 2, 3)),
            (std::vector<float>{0, 1, 1, 1, 1, 0}))
      << "2:3 on K = 6 is allowed (3 divides 6)";
  const auto keep = nibble::prune_neurons(*mlp, "fc2", "fc3", 0.99, 1);
  EXPECT_EQ(keep.size(), 1u) << "0.99 of fc2's 128 neurons: round(126.72) = 127 removed, one kept";
}
