// embedding, layer_norm, dropout: hand-computed values, independent double-precision references,
// gradients (also through non-contiguous views), and the error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

// ---- embedding ---------------------------------------------------------------------------------------

TEST(NnOpsEmbedding, LooksUpRows) {
  const Tensor w = Tensor::arange(12).reshape({4, 3});  // row r = [3r, 3r+1, 3r+2]
  const Tensor y = embedding(w, {2, 0, 3, 2}, {2, 2});
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{6, 7, 8, 0, 1, 2, 9, 10, 11, 6, 7, 8}));
}

TEST(NnOpsEmbedding, RepeatedIndicesAccumulateGradient) {
  Tensor w = Tensor::zeros({3, 2}).requires_grad_();
  const Tensor y = embedding(w, {1, 1, 0, 1}, {4});
  // output rows' gradients: [1,2], [3,4], [5,6], [7,8] -> row 1 gets 1+3+7, 2+4+8; row 0 gets 5, 6
  y.backward(Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{5, 6, 11, 14, 0, 0}));
}

TEST(NnOpsEmbedding, GradientThroughANonContiguousTable) {
  manual_seed(301);
  const Tensor w = Tensor::randn({3, 5}).t();  // [5, 3], column-major
  ASSERT_FALSE(w.is_contiguous());
  EXPECT_TRUE(gradcheck([](const auto& t) { return embedding(t[0], {4, 0, 4, 2, 1, 4}, {3, 2}); }, {w}));
  // The forward through the view reads the right elements too.
  const Tensor y = embedding(w, {4, 1}, {2});
  EXPECT_EQ(y.to_vector(), (std::vector<float>{w.at({4, 0}), w.at({4, 1}), w.at({4, 2}),
                                                w.at({1, 0}), w.at({1, 1}), w.at({1, 2})}));
}

TEST(NnOpsEmbedding, IndexOutOfRange) {
  EXPECT_TRUE(throws_error_containing(
      [] { embedding(Tensor::ones({10, 4}), {3, 12, 0}, {3}); },
      "embedding: index 12 (at position 1) is out of range for a table of V = 10 rows (weight [10, 4])"));
  EXPECT_TRUE(throws_error_containing([] { embedding(Tensor::ones({10, 4}), {-1}, {1}); },
                                      "embedding: index -1 (at position 0) is out of range"));
}

TEST(NnOpsEmbedding, IndexShapeMismatch) {
  EXPECT_TRUE(throws_error_containing([] { embedding(Tensor::ones({10, 4}), {1, 2, 3}, {2, 2}); },
                                      "embedding: index_shape [2, 2] holds 4 indices but 3 were given"));
}

TEST(NnOpsEmbedding, WeightRank) {
  EXPECT_TRUE(throws_error_containing([] { embedding(Tensor::ones({10}), {1}, {1}); },
                                      "embedding: weight must be 2-d [V, D], got shape [10]"));
}

// ---- layer_norm --------------------------------------------------------------------------------------

// y over rows of length M, in double: (x - mean) / sqrt(var_biased + eps) * w + b.
std::vector<double> reference_layer_norm(const std::vector<float>& x, int64_t M,
                                         const std::vector<float>& w, const std::vector<float>& b,
                                         double eps) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / M; ++r) {
    double mean = 0.0, var = 0.0;
    for (int64_t j = 0; j < M; ++j) mean += x[r * M + j];
    mean /= double(M);
    for (int64_t j = 0; j < M; ++j) var += (x[r * M + j] - mean) * (x[r * M + j] - mean);
    var /= double(M);
    for (int64_t j = 0; j < M; ++j) {
      double v = (x[r * M + j] - mean) / std::sqrt(var + eps);
      if (!w.empty()) v *= w[j];
      if (!b.empty()) v += b[j];
      y[r * M + j] = v;
    }
  }
  return y;
}

TEST(NnOpsLayerNorm, HandComputedRow) {
  // [1, 2, 3, 4]: mean 2.5, biased variance (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 4});
  const std::vector<float> y = layer_norm(x, {4}, Tensor(), Tensor(), 0.0f).to_vector();
  const double s = std::sqrt(1.25);
  const std::vector<double> want = {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], want[i], 1e-6) << i;
  // weight scales and bias shifts each feature
  const std::vector<float> yw = layer_norm(x, {4}, Tensor::from_vector({2, 2, 2, 2}),
                                           Tensor::from_vector({1, 0, 0, 0}), 0.0f).to_vector();
  EXPECT_NEAR(yw[0], 1.0 - 3.0 / s, 1e-6);
  EXPECT_NEAR(yw[3], 3.0 / s, 1e-6);
}

TEST(NnOpsLayerNorm, ConstantRowStaysFiniteThanksToEps) {
  const std::vector<float> y = layer_norm(Tensor::full({2, 3}, 7.0f), {3}).to_vector();
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(NnOpsLayerNorm, MatchesDoubleReference) {
  manual_seed(311);
  // Normalising over the last two axes of [3, 2, 4, 5]: rows of M = 20; a large offset checks
  // the two-pass variance (E[x^2] - E[x]^2 would lose every digit here).
  const Tensor x = add(Tensor::randn({3, 2, 4, 5}), 1000.0f);
  const Tensor w = Tensor::randn({4, 5});
  const Tensor b = Tensor::randn({4, 5});
  const std::vector<float> got = layer_norm(x, {4, 5}, w, b).to_vector();
  const std::vector<double> want = reference_layer_norm(x.to_vector(), 20, w.to_vector(), b.to_vector(), 1e-5);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-3) << i;
  // Normalising over the last axis only.
  const Tensor z = Tensor::randn({6, 7});
  const std::vector<float> got1 = layer_norm(z, {7}).to_vector();
  const std::vector<double> want1 = reference_layer_norm(z.to_vector(), 7, {}, {}, 1e-5);
  for (size_t i = 0; i < got1.size(); ++i) ASSERT_NEAR(got1[i], want1[i], 1e-5) << i;
}

TEST(NnOpsLayerNorm, GradientsWithWeightAndBias) {
  manual_seed(312);
  EXPECT_TRUE(gradcheck([](const auto& t) { return layer_norm(t[0], {5}, t[1], t[2]); },
                        {Tensor::randn({4, 5}), Tensor::randn({5}), Tensor::randn({5})}));
}

TEST(NnOpsLayerNorm, GradientsWithoutAffine) {
  manual_seed(313);
  EXPECT_TRUE(gradcheck([](const auto& t) { return layer_norm(t[0], {3, 4}); }, {Tensor::randn({2, 3, 4})}));
}

TEST(NnOpsLayerNorm, GradientsWeightOnlyOverTwoAxes) {
  manual_seed(314);
  const Tensor w = Tensor::randn({3, 2}).t();  // [2, 3], non-contiguous
  ASSERT_FALSE(w.is_contiguous());
  EXPECT_TRUE(gradcheck([](const auto& t) { return layer_norm(t[0], {2, 3}, t[1]); },
                        {Tensor::randn({3, 2, 3}), w}));
}

TEST(NnOpsLayerNorm, ParameterGradientsWhenTheInputNeedsNone) {
  // rows [0, 2] and [1, 3] both normalise to xhat = [-1, 1] (eps 0). With g = [[1, 2], [3, 4]]:
  // dweight = sum over rows of g * xhat = [-1 - 3, 2 + 4], dbias = sum of g = [4, 6].
  const Tensor x = Tensor::from_vector({0, 2, 1, 3}, {2, 2});
  Tensor w = Tensor::ones({2}).requires_grad_();
  Tensor b = Tensor::zeros({2}).requires_grad_();
  layer_norm(x, {2}, w, b, 0.0f).backward(Tensor::from_vector({1, 2, 3, 4}, {2, 2}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{-4, 6}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{4, 6}));
}

TEST(NnOpsLayerNorm, GradientsBiasOnlyThroughANonContiguousView) {
  manual_seed(315);
  const Tensor x = Tensor::randn({6, 4}).t();  // [4, 6], not row-major
  ASSERT_FALSE(x.is_contiguous());
  EXPECT_TRUE(gradcheck([](const auto& t) { return layer_norm(t[0], {6}, Tensor(), t[1]); },
                        {x, Tensor::randn({6})}));
}

TEST(NnOpsLayerNorm, Errors) {
  EXPECT_TRUE(throws_error_containing([] { layer_norm(Tensor::ones({2, 3}), {4}); },
                                      "layer_norm: input shape [2, 3] does not end with normalized_shape [4]"));
  EXPECT_TRUE(throws_error_containing([] { layer_norm(Tensor::ones({3}), {2, 3}); },
                                      "layer_norm: input shape [3] does not end with normalized_shape [2, 3]"));
  EXPECT_TRUE(throws_error_containing([] { layer_norm(Tensor::ones({2, 3}), {}); },
                                      "layer_norm: normalized_shape is empty"));
  EXPECT_TRUE(throws_error_containing([] { layer_norm(Tensor::ones({2, 3}), {3}, Tensor::ones({2})); },
                                      "layer_norm: weight has shape [2] but normalized_shape is [3]"));
  EXPECT_TRUE(throws_error_containing(
      [] { layer_norm(Tensor::ones({2, 3}), {3}, Tensor(), Tensor::ones({1, 3})); },
      "layer_norm: bias has shape [1, 3] but normalized_shape is [3]"));
  EXPECT_TRUE(throws_error_containing([] { layer_norm(Tensor::ones({2, 0}), {0}); },
                                      "layer_norm: normalized_shape [0] has no elements"));
  EXPECT_TRUE(throws_error_containing([] { layer_norm(Tensor::ones({2, 3}), {3}, Tensor(), Tensor(), -1.0f); },
                                      "layer_norm: eps must be non-negative, got -1.0"));
}

// ---- dropout -----------------------------------------------------------------------------------------

TEST(NnOpsDropout, EvaluationAndZeroPAreTheIdentity) {
  Tensor x = Tensor::randn({3, 4}).requires_grad_();
  EXPECT_EQ(dropout(x, 0.5f, false).to_vector(), x.to_vector());
  EXPECT_EQ(dropout(x, 0.0f, true).to_vector(), x.to_vector());
  sum(dropout(x, 0.5f, false)).backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>(12, 1.0f));
}

TEST(NnOpsDropout, KeepsOrScalesEveryElement) {
  manual_seed(321);
  const float p = 0.25f;
  const Tensor x = add(Tensor::rand({100, 100}), 1.0f);  // all in [1, 2): never 0 by chance
  const std::vector<float> xs = x.to_vector(), ys = dropout(x, p, true).to_vector();
  int64_t dropped = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (ys[i] == 0.0f) {
      ++dropped;
    } else {
      ASSERT_FLOAT_EQ(ys[i], xs[i] / (1.0f - p)) << i;
    }
  }
  // 10 000 Bernoulli(0.25) draws: mean 2500, standard deviation ~43; allow 5 sigma.
  EXPECT_NEAR(double(dropped), 2500.0, 5 * 43.3);
}

TEST(NnOpsDropout, BackwardUsesTheForwardMask) {
  manual_seed(322);
  const float p = 0.5f;
  Tensor x = add(Tensor::rand({8, 16}), 1.0f).requires_grad_();
  const Tensor y = dropout(x, p, true);
  y.backward(Tensor::ones(y.shape()));
  const std::vector<float> ys = y.to_vector(), gs = x.grad().to_vector();
  for (size_t i = 0; i < ys.size(); ++i) {
    EXPECT_EQ(gs[i], ys[i] == 0.0f ? 0.0f : 2.0f) << i;  // dy/dx = mask = 0 or 1/(1-p)
  }
}

TEST(NnOpsDropout, SameSeedSameMask) {
  const Tensor x = Tensor::ones({50});
  manual_seed(7);
  const std::vector<float> a = dropout(x, 0.3f, true).to_vector();
  manual_seed(7);
  const std::vector<float> b = dropout(x, 0.3f, true).to_vector();
  EXPECT_EQ(a, b);
}

TEST(NnOpsDropout, GradcheckWithAFixedMask) {
  manual_seed(323);
  // Reseeding inside f draws the same mask on every call, so f is a fixed linear map.
  const Tensor x = Tensor::randn({4, 6}).t();
  EXPECT_TRUE(gradcheck(
      [](const auto& t) {
        manual_seed(99);
        return dropout(t[0], 0.4f, true);
      },
      {x}));
}

TEST(NnOpsDropout, ProbabilityOutOfRange) {
  EXPECT_TRUE(throws_error_containing([] { dropout(Tensor::ones({3}), 1.0f, true); },
                                      "dropout: p must be in [0, 1), got 1.0"));
  EXPECT_TRUE(throws_error_containing([] { dropout(Tensor::ones({3}), -0.1f, false); },
                                      "dropout: p must be in [0, 1), got -0.1"));
}

}  // namespace
}  // namespace nibble
