// Module 02 — graded tests for info_theory/attention_entropy.h (100 points). Expected values are
// worked out by hand or recomputed here with plain loops. Run them with `nibble test 02`.
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "gradcheck.h"
#include "info_theory/attention_entropy.h"
#include "modules/graded.h"
#include "nn/attention.h"

namespace {

using nibble::Shape;
using nibble::Tensor;
using nibble::grading::hint;

// Reference: entropy in bits of every row of a [..., T] tensor, with plain loops in double.
std::vector<double> ref_row_entropies(const Tensor& w) {
  const std::vector<float> v = w.contiguous().to_vector();
  const size_t T = static_cast<size_t>(w.size(-1));
  std::vector<double> h;
  for (size_t r = 0; r * T < v.size(); ++r) {
    double s = 0.0;
    for (size_t j = 0; j < T; ++j) {
      const double p = v[r * T + j];
      if (p > 0.0) s -= p * std::log2(p);
    }
    h.push_back(s);
  }
  return h;
}

// [1, 2, T, T]: head 0 attends uniformly (log2 T bits), head 1 one-hot on the diagonal (0 bits).
Tensor uniform_and_one_hot(int64_t T) {
  Tensor w = Tensor::zeros({1, 2, T, T});
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j < T; ++j) w.at({0, 0, i, j}) = 1.0f / static_cast<float>(T);
    w.at({0, 1, i, i}) = 1.0f;
  }
  return w;
}

// Reference attention with loops: q [N, Tq, d], k [N, Tk, d], v [N, Tk, dv] flattened batch.
void ref_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                   std::vector<double>& weights, std::vector<double>& output) {
  const int64_t tq = q.size(-2), tk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  const int64_t n = q.numel() / (tq * d);
  const std::vector<float> Q = q.contiguous().to_vector(), K = k.contiguous().to_vector(),
                           V = v.contiguous().to_vector();
  weights.assign(static_cast<size_t>(n * tq * tk), 0.0);
  output.assign(static_cast<size_t>(n * tq * dv), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < tq; ++i) {
      std::vector<double> s(static_cast<size_t>(tk));
      double mx = -1e300;
      for (int64_t j = 0; j < tk; ++j) {
        double dot = 0.0;
        for (int64_t c = 0; c < d; ++c) dot += double(Q[(b * tq + i) * d + c]) * K[(b * tk + j) * d + c];
        s[j] = (causal && j > i) ? -1e300 : dot / std::sqrt(double(d));
        mx = std::max(mx, s[j]);
      }
      double z = 0.0;
      for (int64_t j = 0; j < tk; ++j) z += (causal && j > i) ? 0.0 : std::exp(s[j] - mx);
      for (int64_t j = 0; j < tk; ++j) {
        const double w = (causal && j > i) ? 0.0 : std::exp(s[j] - mx) / z;
        weights[(b * tq + i) * tk + j] = w;
        for (int64_t c = 0; c < dv; ++c) output[(b * tq + i) * dv + c] += w * V[(b * tk + j) * dv + c];
      }
    }
}

}  // namespace

GRADED_TEST(AttentionEntropyGraded, AttentionMatchesHandComputation, 15) {
  // q = k = I (d = 2), v = [[1,2],[3,4]]: scores = I / sqrt(2), row 0 = [a, 0] with a = 1/sqrt(2).
  const Tensor q = Tensor::from_vector({1, 0, 0, 1}, {1, 1, 2, 2});
  const Tensor v = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
  const nibble::AttentionOutput out = nibble::scaled_dot_product_attention(q, q, v);
  ASSERT_EQ(out.weights.shape(), (Shape{1, 1, 2, 2})) << "weights of q, k [1,1,2,2]";
  ASSERT_EQ(out.output.shape(), (Shape{1, 1, 2, 2})) << "output for v [1,1,2,2]";
  const double a = 1.0 / std::sqrt(2.0), sigma = std::exp(a) / (std::exp(a) + 1.0);  // ≈ 0.6698
  EXPECT_NEAR(out.weights.at({0, 0, 0, 0}), sigma, 1e-5)
      << "weights[0][0] for q = k = I" << hint("divide q k^T by sqrt(d) = sqrt(2) before the softmax");
  EXPECT_NEAR(out.weights.at({0, 0, 0, 1}), 1.0 - sigma, 1e-5) << "weights[0][1]";
  EXPECT_NEAR(out.weights.at({0, 0, 1, 1}), sigma, 1e-5) << "weights[1][1]";
  EXPECT_NEAR(out.output.at({0, 0, 0, 0}), sigma * 1 + (1 - sigma) * 3, 1e-5)
      << "output[0][0] = σ·1 + (1-σ)·3" << hint("output = weights @ v");
  EXPECT_NEAR(out.output.at({0, 0, 0, 1}), sigma * 2 + (1 - sigma) * 4, 1e-5) << "output[0][1]";

  // Random shapes against loops: q [2,3,4,5], k [2,3,6,5], v [2,3,6,7].
  nibble::manual_seed(1);
  const Tensor rq = Tensor::randn({2, 3, 4, 5}), rk = Tensor::randn({2, 3, 6, 5}),
               rv = Tensor::randn({2, 3, 6, 7});
  const nibble::AttentionOutput r = nibble::scaled_dot_product_attention(rq, rk, rv);
  ASSERT_EQ(r.weights.shape(), (Shape{2, 3, 4, 6})) << "q [2,3,4,5], k [2,3,6,5]";
  ASSERT_EQ(r.output.shape(), (Shape{2, 3, 4, 7})) << "v [2,3,6,7]";
  std::vector<double> w, o;
  ref_attention(rq, rk, rv, false, w, o);
  const std::vector<float> gw = r.weights.contiguous().to_vector(), go = r.output.contiguous().to_vector();
  for (size_t i = 0; i < w.size(); ++i) ASSERT_NEAR(gw[i], w[i], 1e-5) << "weights, flat index " << i;
  for (size_t i = 0; i < o.size(); ++i) ASSERT_NEAR(go[i], o[i], 1e-4) << "output, flat index " << i;
}

GRADED_TEST(AttentionEntropyGraded, CausalMaskHidesTheFuture, 10) {
  nibble::manual_seed(2);
  const Tensor q = Tensor::randn({1, 2, 5, 4}), k = Tensor::randn({1, 2, 5, 4}), v = Tensor::randn({1, 2, 5, 3});
  const nibble::AttentionOutput out = nibble::scaled_dot_product_attention(q, k, v, true);
  ASSERT_EQ(out.weights.shape(), (Shape{1, 2, 5, 5})) << "causal, T = 5";
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 5; ++i) {
      double row = 0.0;
      for (int64_t j = 0; j < 5; ++j) {
        row += out.weights.at({0, h, i, j});
        if (j > i) {
          EXPECT_EQ(out.weights.at({0, h, i, j}), 0.0f)
              << "head " << h << ", query " << i << ", key " << j
              << hint("causal: set scores[i][j] = -inf for j > i BEFORE the softmax");
        }
      }
      EXPECT_NEAR(row, 1.0, 1e-5) << "row " << i << " of head " << h << " must sum to 1";
    }
  // Query 0 sees only key 0: its output is v's row 0.
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_NEAR(out.output.at({0, 0, 0, c}), v.at({0, 0, 0, c}), 1e-5) << "output of query 0, feature " << c;
  std::vector<double> w, o;
  ref_attention(q, k, v, true, w, o);
  const std::vector<float> go = out.output.contiguous().to_vector();
  for (size_t i = 0; i < o.size(); ++i) ASSERT_NEAR(go[i], o[i], 1e-4) << "causal output, flat index " << i;
}

GRADED_TEST(AttentionEntropyGraded, MatchesMultiHeadAttention, 10) {
  nibble::manual_seed(3);
  nibble::nn::MultiHeadAttention mha(8, 2, /*causal=*/true);
  const Tensor x = Tensor::randn({2, 5, 8});
  mha.forward(x);
  auto split = [](const Tensor& t) { return t.reshape({2, 5, 2, 4}).transpose(1, 2); };  // [B,H,T,d]
  const Tensor q = split(mha.q_proj().forward(x)), k = split(mha.k_proj().forward(x)),
               v = split(mha.v_proj().forward(x));
  const nibble::AttentionOutput out = nibble::scaled_dot_product_attention(q, k, v, true);
  ASSERT_EQ(out.weights.shape(), mha.attention.shape()) << "MultiHeadAttention(8, 2, causal), x [2,5,8]";
  const std::vector<float> a = out.weights.contiguous().to_vector(), b = mha.attention.contiguous().to_vector();
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], 1e-5) << "weights differ from MultiHeadAttention's at flat index " << i
                                  << hint("same recipe as nn/attention.cpp: scale, mask, softmax over the last axis");
}

GRADED_TEST(AttentionEntropyGraded, UniformIsLog2TAndOneHotIsZero, 15) {
  for (const int64_t T : {1, 2, 4, 7, 16}) {
    const Tensor h = nibble::attention_entropy_bits(uniform_and_one_hot(T));
    ASSERT_EQ(h.shape(), (Shape{1, 2, T})) << "weights [1, 2, " << T << ", " << T << "]"
                                           << hint("sum over the LAST axis (keys): [B,H,T,T] -> [B,H,T]");
    for (int64_t i = 0; i < T; ++i) {
      EXPECT_NEAR(h.at({0, 0, i}), std::log2(static_cast<double>(T)), 1e-5)
          << "uniform row over T = " << T << hint("uniform over T keys: log2 T bits");
      EXPECT_FALSE(std::isnan(h.at({0, 1, i}))) << "one-hot row gave NaN" << hint("0 log 0 = 0: clamp before log");
      EXPECT_NEAR(h.at({0, 1, i}), 0.0, 1e-5) << "one-hot row, T = " << T;
    }
  }
  // (1/2, 1/4, 1/4, 0) -> 1.5 bits, as in module 01.
  const Tensor w = Tensor::from_vector({0.5f, 0.25f, 0.25f, 0.0f}, {1, 1, 1, 4});
  EXPECT_THROW(nibble::attention_entropy_bits(w), nibble::Error) << "[1,1,1,4] is not square";
  const Tensor sq = Tensor::from_vector({0.5f, 0.25f, 0.25f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f,
                                         0.25f, 0.25f, 0.25f, 0.25f, 1.0f, 0.0f, 0.0f, 0.0f}, {1, 1, 4, 4});
  const Tensor hs = nibble::attention_entropy_bits(sq);
  EXPECT_NEAR(hs.at({0, 0, 0}), 1.5, 1e-5) << "row (1/2, 1/4, 1/4, 0)";
  EXPECT_NEAR(hs.at({0, 0, 2}), 2.0, 1e-5) << "row (1/4, 1/4, 1/4, 1/4)";
}

GRADED_TEST(AttentionEntropyGraded, EntropyOfMultiHeadAttentionWeights, 10) {
  nibble::manual_seed(4);
  for (const bool causal : {false, true}) {
    nibble::nn::MultiHeadAttention mha(12, 3, causal);
    mha.forward(Tensor::randn({2, 6, 12}));
    const Tensor h = nibble::attention_entropy_bits(mha.attention);
    ASSERT_EQ(h.shape(), (Shape{2, 3, 6})) << "MultiHeadAttention(12, 3), x [2,6,12]";
    const std::vector<double> ref = ref_row_entropies(mha.attention);
    const std::vector<float> got = h.contiguous().to_vector();
    for (size_t r = 0; r < ref.size(); ++r) {
      ASSERT_NEAR(got[r], ref[r], 1e-4) << (causal ? "causal" : "full") << " row " << r;
      const int64_t query = static_cast<int64_t>(r % 6);
      const double cap = std::log2(causal ? query + 1.0 : 6.0);
      EXPECT_LE(got[r], cap + 1e-4) << "row " << r << ": at most log2(#visible keys) = " << cap;
    }
    if (causal) {
      EXPECT_NEAR(got[0], 0.0, 1e-6) << "causal query 0 sees one key: 0 bits"
                                     << hint("masked entries are exactly 0: 0 log 0 = 0");
    }
  }
}

GRADED_TEST(AttentionEntropyGraded, HeadAndLayerMeans, 10) {
  const Tensor w = uniform_and_one_hot(4);
  const Tensor per_head = nibble::head_mean_entropy_bits(w);
  ASSERT_EQ(per_head.shape(), (Shape{2})) << "weights [1,2,4,4]" << hint("[B,H,T,T] -> [H]: average over B and T");
  EXPECT_NEAR(per_head.at({0}), 2.0, 1e-5) << "head 0 uniform over 4 keys";
  EXPECT_NEAR(per_head.at({1}), 0.0, 1e-5) << "head 1 one-hot";
  EXPECT_NEAR(nibble::layer_mean_entropy_bits(w), 1.0, 1e-5) << "mean of 2 and 0 bits";
  // A batch of two MHA weight tensors: means recomputed with loops.
  nibble::manual_seed(5);
  nibble::nn::MultiHeadAttention mha(8, 4);
  mha.forward(Tensor::randn({3, 5, 8}));
  const std::vector<double> rows = ref_row_entropies(mha.attention);  // [3,4,5] row-major
  const Tensor got = nibble::head_mean_entropy_bits(mha.attention);
  ASSERT_EQ(got.shape(), (Shape{4})) << "MultiHeadAttention(8, 4), x [3,5,8]";
  double all = 0.0;
  for (int64_t h = 0; h < 4; ++h) {
    double s = 0.0;
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t t = 0; t < 5; ++t) s += rows[static_cast<size_t>((b * 4 + h) * 5 + t)];
    all += s;
    EXPECT_NEAR(got.at({h}), s / 15.0, 1e-4) << "head " << h << hint("average over the batch AND the queries");
  }
  EXPECT_NEAR(nibble::layer_mean_entropy_bits(mha.attention), all / 60.0, 1e-4) << "layer mean";
}

GRADED_TEST(AttentionEntropyGraded, CollapsedHeadsDetection, 10) {
  const Tensor w = uniform_and_one_hot(4);  // head means: 2 bits, 0 bits
  EXPECT_EQ(nibble::collapsed_heads(w, 0.5), (std::vector<int64_t>{1}))
      << "head means [2, 0], threshold 0.5" << hint("a head collapses when its mean entropy < threshold");
  EXPECT_EQ(nibble::collapsed_heads(w, 0.0), (std::vector<int64_t>{}))
      << "threshold 0: nothing is strictly below" << hint("strictly below the threshold");
  EXPECT_EQ(nibble::collapsed_heads(w, 2.5), (std::vector<int64_t>{0, 1})) << "threshold 2.5";
  // Sharpening one head of a real layer collapses it: scale its query projection rows by 100.
  nibble::manual_seed(6);
  nibble::nn::MultiHeadAttention mha(8, 2);
  {
    nibble::NoGradGuard no_grad;
    for (int64_t r = 4; r < 8; ++r)  // rows 4..7 of q_proj produce head 1's queries
      for (int64_t c = 0; c < 8; ++c) mha.q_proj().weight.at({r, c}) *= 100.0f;
  }
  mha.forward(Tensor::randn({2, 6, 8}));
  const std::vector<int64_t> heads = nibble::collapsed_heads(mha.attention, 0.5);
  EXPECT_EQ(heads, (std::vector<int64_t>{1})) << "head 1's scores scaled by 100 (near one-hot attention)";
}

GRADED_TEST(AttentionEntropyGraded, RegularizerValue, 10) {
  const Tensor w = uniform_and_one_hot(4);  // rows: 2 bits (head 0), 0 bits (head 1)
  const Tensor r1 = nibble::entropy_regularizer(w, 1.0f);
  ASSERT_EQ(r1.dim(), 0) << "the regulariser is a scalar (shape []), got " << r1.shape_str();
  // head 0: max(0, 1 - 2) = 0; head 1: max(0, 1 - 0) = 1; mean over 8 rows = 0.5
  EXPECT_NEAR(r1.item(), 0.5, 1e-5) << "h_min = 1" << hint("mean of max(0, h_min - H) over every row");
  EXPECT_NEAR(nibble::entropy_regularizer(w, 3.0f).item(), (1.0 + 3.0) / 2, 1e-5)
      << "h_min = 3: rows cost 1 and 3";
  EXPECT_NEAR(nibble::entropy_regularizer(w, 0.0f).item(), 0.0, 1e-6) << "h_min = 0 never costs anything";
}

GRADED_TEST(AttentionEntropyGraded, RegularizerIsDifferentiable, 10) {
  nibble::manual_seed(7);
  // Rows of random softmax(logits) over 4 keys have H < 2 bits: with h_min = 2 every row is active.
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::entropy_regularizer(nibble::softmax(x[0], -1), 2.0f); },
      {Tensor::randn({2, 2, 4, 4})}))
      << "d regulariser / d logits" << hint("build everything from nibble ops: clamp, log, mul, sum, relu, mean");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::attention_entropy_bits(nibble::softmax(x[0], -1)); },
      {Tensor::randn({1, 2, 3, 3})}))
      << "d entropy / d logits";

  // Through MultiHeadAttention's stored weights: one SGD step on q/k raises low entropies.
  nibble::nn::MultiHeadAttention mha(8, 2);
  {
    nibble::NoGradGuard no_grad;
    for (int64_t r = 0; r < 8; ++r)
      for (int64_t c = 0; c < 8; ++c) mha.q_proj().weight.at({r, c}) *= 6.0f;  // sharpen all heads
  }
  const Tensor x = Tensor::randn({2, 6, 8});
  mha.forward(x);
  const Tensor loss = nibble::entropy_regularizer(mha.attention, 2.5f);
  const float before = loss.item();
  ASSERT_GT(before, 0.0f) << "sharpened heads should be below 2.5 bits somewhere";
  loss.backward();
  const Tensor g = mha.q_proj().weight.grad();
  ASSERT_TRUE(g.defined()) << "no gradient reached q_proj.weight" << hint("keep the weights on the tape: no detach()");
  {
    nibble::NoGradGuard no_grad;
    for (const auto& p : {mha.q_proj().weight, mha.k_proj().weight}) {
      Tensor param = p;
      const Tensor grad = param.grad();
      for (int64_t r = 0; r < 8; ++r)
        for (int64_t c = 0; c < 8; ++c) param.at({r, c}) -= 0.5f * grad.at({r, c});
    }
  }
  mha.forward(x);
  const float after = nibble::entropy_regularizer(mha.attention, 2.5f).item();
  EXPECT_LT(after, before) << "one gradient step on the regulariser should lower it: " << before << " -> " << after;
}
