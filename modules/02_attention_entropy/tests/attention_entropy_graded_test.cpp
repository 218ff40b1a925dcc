// Module 02 — graded tests for info_theory/attention_entropy.h (100 points). Expected values are
// worked out by hand or recomputed here with plain loops. Run them with `nibble test 02`.
// The inputs avoid the symmetries that hide mistakes: rows of one head with different entropies,
// batches larger than one, as many heads as queries nowhere, q and k with different lengths.
#include <cmath>
#include <functional>
#include <limits>
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

// [2, 2, 4, 4] whose rows have DIFFERENT entropies within each head (bits, worked out by hand):
//   (1/4,1/4,1/4,1/4) = 2   (1/2,1/4,1/4,0) = 1.5   (0,1/2,0,1/2) = 1   (1/8,1/8,1/4,1/2) = 1.75
//   one-hot = 0.
// Row entropies [b][h][t]:  b0 h0: 2, 0, 1.5, 1    b0 h1: 0, 0, 1.75, 0
//                           b1 h0: 1.5, 1.75, 0, 2  b1 h1: 1, 0, 0, 0
// Head means (over b and t): head 0 = 9.75/8 = 1.21875, head 1 = 2.75/8 = 0.34375; layer 0.78125.
// Its columns do not sum to 1 (a column is not a distribution).
Tensor mixed_rows() {
  const std::vector<float> u = {0.25f, 0.25f, 0.25f, 0.25f}, a = {0.5f, 0.25f, 0.25f, 0.0f},
                           h = {0.0f, 0.5f, 0.0f, 0.5f}, q = {0.125f, 0.125f, 0.25f, 0.5f};
  auto one = [](int k) {
    std::vector<float> r(4, 0.0f);
    r[static_cast<size_t>(k)] = 1.0f;
    return r;
  };
  const std::vector<std::vector<float>> rows = {u, one(2), a, h,       one(0), one(3), q, one(1),
                                                a, q,      one(0), u,  h,      one(2), one(0), one(3)};
  std::vector<float> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return Tensor::from_vector(flat, {2, 2, 4, 4});
}
const std::vector<double> kMixedRowBits = {2, 0, 1.5, 1, 0, 0, 1.75, 0, 1.5, 1.75, 0, 2, 1, 0, 0, 0};

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

// Passes when fn throws a nibble::Error — not NotImplemented — whose message names `function`.
::testing::AssertionResult rejects(const std::function<void()>& fn, const std::string& function) {
  try {
    fn();
  } catch (const nibble::NotImplemented& e) {
    return ::testing::AssertionFailure() << "it is not written yet: " << e.what();
  } catch (const nibble::Error& e) {
    const std::string what = e.what();
    if (what.rfind(function, 0) == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the error should start with '" << function << "', got: " << what;
  }
  return ::testing::AssertionFailure() << "no nibble::Error was thrown";
}

}  // namespace

GRADED_TEST(AttentionEntropyGraded, AttentionMatchesHandComputation, 12) {
  // q = k = I (d = 2), v = [[1,2],[3,4]]: scores = I / sqrt(2), row 0 = [a, 0] with a = 1/sqrt(2).
  const Tensor q = Tensor::from_vector({1, 0, 0, 1}, {1, 1, 2, 2});
  const Tensor v = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
  const nibble::AttentionOutput out = nibble::scaled_dot_product_attention(q, q, v);
  ASSERT_EQ(out.weights.shape(), (Shape{1, 1, 2, 2})) << "weights of q, k [1,1,2,2]" << hint("weights = softmax(q k^T / sqrt(d)) is [..., Tq, Tk]");
  ASSERT_EQ(out.output.shape(), (Shape{1, 1, 2, 2})) << "output for v [1,1,2,2]" << hint("output = weights @ v is [..., Tq, dv]");
  const double a = 1.0 / std::sqrt(2.0), sigma = std::exp(a) / (std::exp(a) + 1.0);  // ≈ 0.6698
  EXPECT_NEAR(out.weights.at({0, 0, 0, 0}), sigma, 1e-5)
      << "weights[0][0] for q = k = I" << hint("divide q k^T by sqrt(d) = sqrt(2) before the softmax");
  EXPECT_NEAR(out.weights.at({0, 0, 0, 1}), 1.0 - sigma, 1e-5) << "weights[0][1]" << hint("softmax over the LAST axis (the keys)");
  EXPECT_NEAR(out.weights.at({0, 0, 1, 1}), sigma, 1e-5) << "weights[1][1]" << hint("divide q k^T by sqrt(d) before the softmax");
  EXPECT_NEAR(out.output.at({0, 0, 0, 0}), sigma * 1 + (1 - sigma) * 3, 1e-5)
      << "output[0][0] = σ·1 + (1-σ)·3" << hint("output = weights @ v");
  EXPECT_NEAR(out.output.at({0, 0, 0, 1}), sigma * 2 + (1 - sigma) * 4, 1e-5) << "output[0][1]" << hint("output = weights @ v");

  // Random shapes against loops: q [2,3,4,5], k [2,3,6,5], v [2,3,6,7] (4 queries, 6 keys).
  nibble::manual_seed(1);
  const Tensor rq = Tensor::randn({2, 3, 4, 5}), rk = Tensor::randn({2, 3, 6, 5}),
               rv = Tensor::randn({2, 3, 6, 7});
  const nibble::AttentionOutput r = nibble::scaled_dot_product_attention(rq, rk, rv);
  ASSERT_EQ(r.weights.shape(), (Shape{2, 3, 4, 6})) << "q [2,3,4,5], k [2,3,6,5]" << hint("weights are [..., Tq, Tk]: q k^T with k transposed on its last two axes");
  ASSERT_EQ(r.output.shape(), (Shape{2, 3, 4, 7})) << "v [2,3,6,7]" << hint("output = weights @ v is [..., Tq, dv]");
  std::vector<double> w, o;
  ref_attention(rq, rk, rv, false, w, o);
  const std::vector<float> gw = r.weights.contiguous().to_vector(), go = r.output.contiguous().to_vector();
  for (size_t i = 0; i < w.size(); ++i)
    ASSERT_NEAR(gw[i], w[i], 1e-5) << "weights, flat index " << i << " (4 queries, 6 keys)"
                                   << hint("scale by 1/sqrt(d), then softmax over the last axis: each query's row sums to 1");
  for (size_t i = 0; i < o.size(); ++i)
    ASSERT_NEAR(go[i], o[i], 1e-4) << "output, flat index " << i << hint("output = weights @ v (not weights^T @ v)");
}

GRADED_TEST(AttentionEntropyGraded, CausalMaskHidesTheFuture, 10) {
  nibble::manual_seed(2);
  const Tensor q = Tensor::randn({1, 2, 5, 4}), k = Tensor::randn({1, 2, 5, 4}), v = Tensor::randn({1, 2, 5, 3});
  const nibble::AttentionOutput out = nibble::scaled_dot_product_attention(q, k, v, true);
  ASSERT_EQ(out.weights.shape(), (Shape{1, 2, 5, 5})) << "causal, T = 5" << hint("weights are [..., Tq, Tk]");
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 5; ++i) {
      double row = 0.0;
      for (int64_t j = 0; j < 5; ++j) {
        row += out.weights.at({0, h, i, j});
        if (j > i) {
          EXPECT_EQ(out.weights.at({0, h, i, j}), 0.0f)
              << "head " << h << ", query " << i << ", key " << j
              << hint("causal: set scores[i][j] = -inf for every j > i (and only those) BEFORE the softmax");
        } else {
          EXPECT_GT(out.weights.at({0, h, i, j}), 0.0f)
              << "head " << h << ", query " << i << " must see key " << j << " (j <= i)"
              << hint("mask only the future keys j > i; key i itself stays visible");
        }
      }
      EXPECT_NEAR(row, 1.0, 1e-5) << "row " << i << " of head " << h << " must sum to 1"
                                  << hint("mask the scores, then softmax: never zero weights after the softmax");
    }
  // Query 0 sees only key 0: its output is v's row 0.
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_NEAR(out.output.at({0, 0, 0, c}), v.at({0, 0, 0, c}), 1e-5)
        << "output of query 0, feature " << c << hint("query 0 sees key 0 only: its output is v[0]");
  std::vector<double> w, o;
  ref_attention(q, k, v, true, w, o);
  const std::vector<float> go = out.output.contiguous().to_vector();
  for (size_t i = 0; i < o.size(); ++i)
    ASSERT_NEAR(go[i], o[i], 1e-4) << "causal output, flat index " << i
                                   << hint("scale, mask j > i with -inf, softmax over the last axis, then @ v");
}

GRADED_TEST(AttentionEntropyGraded, MatchesMultiHeadAttention, 8) {
  nibble::manual_seed(3);
  nibble::nn::MultiHeadAttention mha(8, 2, /*causal=*/true);
  const Tensor x = Tensor::randn({2, 5, 8});
  mha.forward(x);
  auto split = [](const Tensor& t) { return t.reshape({2, 5, 2, 4}).transpose(1, 2); };  // [B,H,T,d]
  const Tensor q = split(mha.q_proj().forward(x)), k = split(mha.k_proj().forward(x)),
               v = split(mha.v_proj().forward(x));
  const nibble::AttentionOutput out = nibble::scaled_dot_product_attention(q, k, v, true);
  ASSERT_EQ(out.weights.shape(), mha.attention.shape()) << "MultiHeadAttention(8, 2, causal), x [2,5,8]"
                                                        << hint("weights are [B, H, Tq, Tk]");
  const std::vector<float> a = out.weights.contiguous().to_vector(), b = mha.attention.contiguous().to_vector();
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], 1e-5) << "weights differ from MultiHeadAttention's at flat index " << i
                                  << hint("same recipe as nn/attention.cpp: scale, mask, softmax over the last axis");
}

GRADED_TEST(AttentionEntropyGraded, UniformIsLog2TAndOneHotIsZero, 10) {
  for (const int64_t T : {1, 2, 4, 7, 16}) {
    const Tensor h = nibble::attention_entropy_bits(uniform_and_one_hot(T));
    ASSERT_EQ(h.shape(), (Shape{1, 2, T})) << "weights [1, 2, " << T << ", " << T << "]"
                                           << hint("sum over the LAST axis (keys): [B,H,T,T] -> [B,H,T]");
    for (int64_t i = 0; i < T; ++i) {
      EXPECT_NEAR(h.at({0, 0, i}), std::log2(static_cast<double>(T)), 1e-5)
          << "uniform row over T = " << T << hint("uniform over T keys: log2 T bits (log base 2, not e)");
      EXPECT_FALSE(std::isnan(h.at({0, 1, i}))) << "one-hot row gave NaN" << hint("0 log 0 = 0: clamp before log");
      EXPECT_NEAR(h.at({0, 1, i}), 0.0, 1e-5) << "one-hot row, T = " << T << hint("a row that looks at one key has 0 bits");
    }
  }
  // Rows with different entropies in one head: (1/2, 1/4, 1/4, 0) -> 1.5 bits (module 01's example).
  const Tensor sq = Tensor::from_vector({0.5f, 0.25f, 0.25f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f,
                                         0.25f, 0.25f, 0.25f, 0.25f, 1.0f, 0.0f, 0.0f, 0.0f}, {1, 1, 4, 4});
  const Tensor hs = nibble::attention_entropy_bits(sq);
  ASSERT_EQ(hs.shape(), (Shape{1, 1, 4})) << "weights [1,1,4,4]" << hint("one entropy per query row: [B,H,T,T] -> [B,H,T]");
  const double expected[] = {1.5, 0.0, 2.0, 0.0};
  for (int64_t i = 0; i < 4; ++i)
    EXPECT_NEAR(hs.at({0, 0, i}), expected[i], 1e-5)
        << "row " << i << " of [(1/2,1/4,1/4,0), one-hot, uniform, one-hot]"
        << hint("each row's own entropy -sum_j w_j log2 w_j over the keys (the last axis), not a head average");
  EXPECT_THROW(nibble::attention_entropy_bits(Tensor::from_vector({0.5f, 0.25f, 0.25f, 0.0f}, {1, 1, 1, 4})),
               nibble::Error)
      << "[1,1,1,4] is not square" << hint("keep the given validate_attention_weights call");
}

GRADED_TEST(AttentionEntropyGraded, EntropyOfMultiHeadAttentionWeights, 10) {
  // Hand-made rows first: every row its own entropy.
  const Tensor hm = nibble::attention_entropy_bits(mixed_rows());
  ASSERT_EQ(hm.shape(), (Shape{2, 2, 4})) << "weights [2,2,4,4]" << hint("[B,H,T,T] -> [B,H,T]");
  const std::vector<float> gm = hm.contiguous().to_vector();
  for (size_t r = 0; r < kMixedRowBits.size(); ++r)
    EXPECT_NEAR(gm[r], kMixedRowBits[r], 1e-5) << "row " << r << " of mixed_rows() (b, h, t row-major)"
                                               << hint("the entropy of each row over the keys (last axis), in bits");
  nibble::manual_seed(4);
  for (const bool causal : {false, true}) {
    nibble::nn::MultiHeadAttention mha(12, 3, causal);
    mha.forward(Tensor::randn({2, 6, 12}));
    const Tensor h = nibble::attention_entropy_bits(mha.attention);
    ASSERT_EQ(h.shape(), (Shape{2, 3, 6})) << "MultiHeadAttention(12, 3), x [2,6,12]" << hint("[B,H,T,T] -> [B,H,T]");
    const std::vector<double> ref = ref_row_entropies(mha.attention);
    const std::vector<float> got = h.contiguous().to_vector();
    for (size_t r = 0; r < ref.size(); ++r) {
      ASSERT_NEAR(got[r], ref[r], 1e-4) << (causal ? "causal" : "full") << " row " << r
                                        << hint("-sum_j w_j log2 w_j over the last axis (keys) of each row");
      const int64_t query = static_cast<int64_t>(r % 6);
      const double cap = std::log2(causal ? query + 1.0 : 6.0);
      EXPECT_LE(got[r], cap + 1e-4) << "row " << r << ": at most log2(#visible keys) = " << cap
                                    << hint("entropy in bits of a row over the keys");
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
  EXPECT_NEAR(per_head.at({0}), 2.0, 1e-5) << "head 0 uniform over 4 keys" << hint("the mean of the head's row entropies");
  EXPECT_NEAR(per_head.at({1}), 0.0, 1e-5) << "head 1 one-hot" << hint("the mean of the head's row entropies");
  EXPECT_NEAR(nibble::layer_mean_entropy_bits(w), 1.0, 1e-5) << "mean of 2 and 0 bits" << hint("the mean over every row of every head");
  // Two batch elements, rows of different entropies (see mixed_rows): worked out by hand.
  const Tensor mixed = nibble::head_mean_entropy_bits(mixed_rows());
  ASSERT_EQ(mixed.shape(), (Shape{2})) << "weights [2,2,4,4]" << hint("[B,H,T,T] -> [H]: average over B and T");
  EXPECT_NEAR(mixed.at({0}), 1.21875, 1e-5) << "head 0 of mixed_rows(): 9.75 bits / 8 rows"
                                            << hint("average over the batch AND the queries (axes 0 and 2)");
  EXPECT_NEAR(mixed.at({1}), 0.34375, 1e-5) << "head 1 of mixed_rows(): 2.75 bits / 8 rows"
                                            << hint("average over the batch AND the queries (axes 0 and 2)");
  EXPECT_NEAR(nibble::layer_mean_entropy_bits(mixed_rows()), 0.78125, 1e-5)
      << "layer mean of mixed_rows(): 12.5 bits / 16 rows" << hint("the mean over all B*H*T rows");
  // A MultiHeadAttention layer: means recomputed with loops.
  nibble::manual_seed(5);
  nibble::nn::MultiHeadAttention mha(8, 4);
  mha.forward(Tensor::randn({3, 5, 8}));
  const std::vector<double> rows = ref_row_entropies(mha.attention);  // [3,4,5] row-major
  const Tensor got = nibble::head_mean_entropy_bits(mha.attention);
  ASSERT_EQ(got.shape(), (Shape{4})) << "MultiHeadAttention(8, 4), x [3,5,8]" << hint("[B,H,T,T] -> [H]");
  double all = 0.0;
  for (int64_t h = 0; h < 4; ++h) {
    double s = 0.0;
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t t = 0; t < 5; ++t) s += rows[static_cast<size_t>((b * 4 + h) * 5 + t)];
    all += s;
    EXPECT_NEAR(got.at({h}), s / 15.0, 1e-4) << "head " << h << hint("average over the batch AND the queries");
  }
  EXPECT_NEAR(nibble::layer_mean_entropy_bits(mha.attention), all / 60.0, 1e-4)
      << "layer mean, 3 batch elements" << hint("the mean over all B*H*T rows (every batch element)");
}

GRADED_TEST(AttentionEntropyGraded, CollapsedHeadsDetection, 8) {
  const Tensor w = uniform_and_one_hot(4);  // head means: 2 bits, 0 bits
  EXPECT_EQ(nibble::collapsed_heads(w, 0.5), (std::vector<int64_t>{1}))
      << "head means [2, 0], threshold 0.5" << hint("a head collapses when its mean entropy < threshold");
  EXPECT_EQ(nibble::collapsed_heads(w, 0.0), (std::vector<int64_t>{}))
      << "threshold 0: nothing is strictly below" << hint("strictly below the threshold");
  EXPECT_EQ(nibble::collapsed_heads(w, 2.5), (std::vector<int64_t>{0, 1}))
      << "threshold 2.5" << hint("every head whose mean is below, in ascending order");
  // Head 0 of mixed_rows() has one-hot rows but a mean of 1.22 bits: it has not collapsed.
  EXPECT_EQ(nibble::collapsed_heads(mixed_rows(), 0.5), (std::vector<int64_t>{1}))
      << "mixed_rows(): head means [1.21875, 0.34375], threshold 0.5"
      << hint("compare each head's MEAN entropy (over batch and queries) with the threshold, not single rows");
  EXPECT_EQ(nibble::collapsed_heads(mixed_rows(), 1.25), (std::vector<int64_t>{0, 1}))
      << "mixed_rows(), threshold 1.25" << hint("the mean over the batch AND the queries");
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
  EXPECT_EQ(heads, (std::vector<int64_t>{1})) << "head 1's scores scaled by 100 (near one-hot attention)"
                                              << hint("the heads whose mean entropy is below the threshold");
}

GRADED_TEST(AttentionEntropyGraded, RegularizerValue, 10) {
  const Tensor w = uniform_and_one_hot(4);  // rows: 2 bits (head 0), 0 bits (head 1)
  const Tensor r1 = nibble::entropy_regularizer(w, 1.0f);
  ASSERT_EQ(r1.dim(), 0) << "the regulariser is a scalar (shape []), got " << r1.shape_str() << hint("end with mean(...)");
  // head 0: max(0, 1 - 2) = 0; head 1: max(0, 1 - 0) = 1; mean over 8 rows = 0.5
  EXPECT_NEAR(r1.item(), 0.5, 1e-5) << "h_min = 1" << hint("mean of max(0, h_min - H) over every row");
  EXPECT_NEAR(nibble::entropy_regularizer(w, 3.0f).item(), (1.0 + 3.0) / 2, 1e-5)
      << "h_min = 3: rows cost 1 and 3" << hint("mean of max(0, h_min - H) over every row");
  EXPECT_NEAR(nibble::entropy_regularizer(w, 0.0f).item(), 0.0, 1e-6)
      << "h_min = 0 never costs anything" << hint("max(0, h_min - H): rows above h_min cost 0");
  // Rows of one head with different entropies (mixed_rows): the penalty is per ROW. With h_min = 1
  // the rows cost 0,1,0,0 | 1,1,0,1 | 0,0,1,0 | 0,1,1,1: 8 / 16 = 0.5. With h_min = 1.5: 13 / 16.
  EXPECT_NEAR(nibble::entropy_regularizer(mixed_rows(), 1.0f).item(), 0.5, 1e-5)
      << "mixed_rows(), h_min = 1 (a head average would give 0.328)"
      << hint("max(0, h_min - H) for each ROW, then the mean; not max(0, h_min - mean entropy of a head)");
  EXPECT_NEAR(nibble::entropy_regularizer(mixed_rows(), 1.5f).item(), 13.0 / 16.0, 1e-5)
      << "mixed_rows(), h_min = 1.5" << hint("max(0, h_min - H) for each row, then the mean over B, H and T");
}

GRADED_TEST(AttentionEntropyGraded, RegularizerIsDifferentiable, 10) {
  nibble::manual_seed(7);
  // Rows of random softmax(logits) over 4 keys have H < 2 bits: with h_min = 2 every row is active.
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::entropy_regularizer(nibble::softmax(x[0], -1), 2.0f); },
      {Tensor::randn({2, 2, 4, 4})}))
      << "d regulariser / d logits" << hint("build everything from nibble ops: clamp, log, mul, sum, relu, mean");
  // h_min = 1.2: some rows are active and some not; a per-head penalty has other gradients.
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) {
        return nibble::entropy_regularizer(nibble::softmax(mul(x[0], 2.0f), -1), 1.2f);
      },
      {Tensor::randn({2, 2, 4, 4})}))
      << "d regulariser / d logits, some rows above h_min" << hint("max(0, h_min - H) per row, then the mean");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::attention_entropy_bits(nibble::softmax(x[0], -1)); },
      {Tensor::randn({1, 2, 3, 3})}))
      << "d entropy / d logits" << hint("stay on the tape: no to_vector()/from_vector() in attention_entropy_bits");

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
  ASSERT_GT(before, 0.0f) << "sharpened heads should be below 2.5 bits somewhere" << hint("mean of max(0, h_min - H)");
  loss.backward();
  const Tensor g = mha.q_proj().weight.grad();
  ASSERT_TRUE(g.defined()) << "no gradient reached q_proj.weight" << hint("keep the weights on the tape: no detach(), no to_vector()");
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
  EXPECT_LT(after, before) << "one gradient step on the regulariser should lower it: " << before << " -> " << after
                           << hint("the penalty's gradient must push low-entropy rows up: max(0, h_min - H)");
}

GRADED_TEST(AttentionEntropyGraded, GradientsFlowThroughEveryFunction, 6) {
  // The header promises gradients: finite differences through the student's own functions.
  nibble::manual_seed(8);
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::scaled_dot_product_attention(x[0], x[1], x[2]).output; },
      {Tensor::randn({1, 2, 3, 4}), Tensor::randn({1, 2, 5, 4}), Tensor::randn({1, 2, 5, 3})}))
      << "d output / d q, k, v (3 queries, 5 keys)"
      << hint("build attention from nibble ops (matmul, mul, softmax): no to_vector()/from_vector()");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [v = Tensor::randn({2, 1, 4, 2})](const std::vector<Tensor>& x) {
        return nibble::scaled_dot_product_attention(x[0], x[1], v, true).weights;
      },
      {Tensor::randn({2, 1, 4, 3}), Tensor::randn({2, 1, 4, 3})}))
      << "d causal weights / d q, k" << hint("masked_fill then softmax keep the weights on the tape");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::head_mean_entropy_bits(nibble::softmax(x[0], -1)); },
      {Tensor::randn({2, 3, 4, 4})}))
      << "d head means / d logits" << hint("mean(...) of attention_entropy_bits: stay on the tape, no to_vector()");
}

GRADED_TEST(AttentionEntropyGraded, RejectsBadInputWithClearMessages, 6) {
  // Valid input works first (the checks are given; the maths is yours).
  const Tensor ok = Tensor::full({1, 1, 2, 2}, 0.5f);
  ASSERT_NEAR(nibble::attention_entropy_bits(ok).at({0, 0, 0}), 1.0, 1e-5)
      << "rows (1/2, 1/2): 1 bit" << hint("write attention_entropy_bits first");
  const Tensor not_square = Tensor::from_vector({0.5f, 0.25f, 0.25f, 0.0f}, {1, 1, 1, 4});
  const Tensor bad_sum = Tensor::full({1, 1, 2, 2}, 0.3f);                   // rows sum to 0.6
  const Tensor negative = Tensor::from_vector({1.5f, -0.5f, 0.5f, 0.5f}, {1, 1, 2, 2});  // sums to 1
  const Tensor not_finite = Tensor::from_vector({std::nanf(""), 1.0f, 0.5f, 0.5f}, {1, 1, 2, 2});
  const std::string keep = "keep the given validate_attention_weights(weights, \"<your function>\") call first";
  for (const Tensor& bad : {not_square, bad_sum, negative, not_finite, Tensor::full({2, 2}, 0.5f)}) {
    const std::string what = "weights " + bad.shape_str();
    EXPECT_TRUE(rejects([&] { nibble::attention_entropy_bits(bad); }, "attention_entropy_bits")) << what << hint(keep);
    EXPECT_TRUE(rejects([&] { nibble::head_mean_entropy_bits(bad); }, "head_mean_entropy_bits")) << what << hint(keep);
    EXPECT_TRUE(rejects([&] { nibble::layer_mean_entropy_bits(bad); }, "layer_mean_entropy_bits")) << what << hint(keep);
    EXPECT_TRUE(rejects([&] { nibble::collapsed_heads(bad, 0.5); }, "collapsed_heads")) << what << hint(keep);
    EXPECT_TRUE(rejects([&] { nibble::entropy_regularizer(bad, 1.0f); }, "entropy_regularizer")) << what << hint(keep);
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const double t : {-0.5, nan})
    EXPECT_TRUE(rejects([&] { nibble::collapsed_heads(ok, t); }, "collapsed_heads"))
        << "threshold_bits = " << t << hint("keep the given check: threshold_bits finite and >= 0");
  for (const float h : {-1.0f, std::nanf("")})
    EXPECT_TRUE(rejects([&] { nibble::entropy_regularizer(ok, h); }, "entropy_regularizer"))
        << "h_min_bits = " << h << hint("keep the given check: h_min_bits finite and >= 0");
  const std::string sdpa = "scaled_dot_product_attention";
  const std::string keep_shapes = "keep the given shape checks at the top of scaled_dot_product_attention";
  EXPECT_TRUE(rejects([] { nibble::scaled_dot_product_attention(Tensor::randn({1, 3, 4}), Tensor::randn({1, 5, 3}), Tensor::randn({1, 5, 2})); }, sdpa))
      << "q has d = 4, k has d = 3" << hint(keep_shapes);
  EXPECT_TRUE(rejects([] { nibble::scaled_dot_product_attention(Tensor::randn({1, 3, 4}), Tensor::randn({1, 5, 4}), Tensor::randn({1, 6, 2})); }, sdpa))
      << "k has 5 keys, v has 6" << hint(keep_shapes);
  EXPECT_TRUE(rejects([] { nibble::scaled_dot_product_attention(Tensor::randn({3, 4}), Tensor::randn({1, 5, 4}), Tensor::randn({1, 5, 2})); }, sdpa))
      << "q of rank 2, k and v of rank 3" << hint(keep_shapes);
  EXPECT_TRUE(rejects([] { nibble::scaled_dot_product_attention(Tensor::randn({1, 3, 4}), Tensor::randn({1, 5, 4}), Tensor::randn({1, 5, 2}), true); }, sdpa))
      << "causal with 3 queries and 5 keys" << hint("keep the given check: a causal mask needs Tq == Tk");
}
