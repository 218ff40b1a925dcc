// Module 02 — hidden (instructor-only) graded tests: random shapes, extremes, T = 1, causal
// gradients, bad input. References are recomputed here with loops.
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
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

// Reference attention weights with loops (double): q [N, Tq, d], k [N, Tk, d], flattened batch.
std::vector<double> ref_weights(const Tensor& q, const Tensor& k, bool causal) {
  const int64_t tq = q.size(-2), tk = k.size(-2), d = q.size(-1), n = q.numel() / (tq * d);
  const std::vector<float> Q = q.contiguous().to_vector(), K = k.contiguous().to_vector();
  std::vector<double> w(static_cast<size_t>(n * tq * tk), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < tq; ++i) {
      std::vector<double> s(static_cast<size_t>(tk), 0.0);
      double mx = -1e300, z = 0.0;
      for (int64_t j = 0; j < tk && (!causal || j <= i); ++j) {
        for (int64_t c = 0; c < d; ++c) s[j] += double(Q[(b * tq + i) * d + c]) * K[(b * tk + j) * d + c];
        s[j] /= std::sqrt(double(d));
        mx = std::max(mx, s[j]);
      }
      for (int64_t j = 0; j < tk && (!causal || j <= i); ++j) z += std::exp(s[j] - mx);
      for (int64_t j = 0; j < tk && (!causal || j <= i); ++j) w[(b * tq + i) * tk + j] = std::exp(s[j] - mx) / z;
    }
  return w;
}

std::vector<double> ref_row_entropies(const Tensor& w) {
  const std::vector<float> v = w.contiguous().to_vector();
  const size_t T = static_cast<size_t>(w.size(-1));
  std::vector<double> h;
  for (size_t r = 0; r * T < v.size(); ++r) {
    double s = 0.0;
    for (size_t j = 0; j < T; ++j)
      if (v[r * T + j] > 0.0f) s -= double(v[r * T + j]) * std::log2(double(v[r * T + j]));
    h.push_back(s);
  }
  return h;
}

bool plain_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const nibble::NotImplemented&) {
    return false;
  } catch (const nibble::Error&) {
    return true;
  }
  return false;
}

}  // namespace

GRADED_TEST(AttentionEntropyHidden, RandomShapesMatchLoops, 5) {
  std::mt19937_64 rng(11);
  nibble::manual_seed(11);
  for (int trial = 0; trial < 12; ++trial) {
    const int64_t B = 1 + rng() % 3, H = 1 + rng() % 4, T = 1 + rng() % 9, d = 1 + rng() % 6;
    const bool causal = trial % 2 == 1;
    const Tensor q = Tensor::randn({B, H, T, d}, 0.0f, 2.0f), k = Tensor::randn({B, H, T, d}),
                 v = Tensor::randn({B, H, T, 3});
    const nibble::AttentionOutput out = nibble::scaled_dot_product_attention(q, k, v, causal);
    ASSERT_EQ(out.weights.shape(), (Shape{B, H, T, T})) << "trial " << trial << hint("weights are [B, H, Tq, Tk]");
    const std::vector<double> rw = ref_weights(q, k, causal);
    const std::vector<float> gw = out.weights.contiguous().to_vector();
    for (size_t i = 0; i < rw.size(); ++i)
      ASSERT_NEAR(gw[i], rw[i], 1e-4) << "trial " << trial << (causal ? " (causal)" : "") << ", weights flat index " << i
                                      << hint("softmax(q k^T / sqrt(d)) over the last axis, future keys masked with -inf");
    const Tensor h = nibble::attention_entropy_bits(out.weights);
    ASSERT_EQ(h.shape(), (Shape{B, H, T})) << "trial " << trial << hint("[B,H,T,T] -> [B,H,T]");
    const std::vector<double> ref = ref_row_entropies(out.weights);
    const std::vector<float> got = h.contiguous().to_vector();
    double total = 0.0;
    for (size_t r = 0; r < ref.size(); ++r) {
      ASSERT_NEAR(got[r], ref[r], 2e-4) << "trial " << trial << " row " << r << hint("-sum_j w_j log2 w_j over each row");
      total += ref[r];
    }
    EXPECT_NEAR(nibble::layer_mean_entropy_bits(out.weights), total / ref.size(), 2e-4)
        << "trial " << trial << hint("the mean over all B*H*T rows");
  }
}

GRADED_TEST(AttentionEntropyHidden, SingleTokenAndExtremeScores, 4) {
  // T = 1: the only key gets weight 1, entropy 0, output = v.
  const Tensor q = Tensor::randn({2, 3, 1, 4}), v = Tensor::randn({2, 3, 1, 5});
  const nibble::AttentionOutput one = nibble::scaled_dot_product_attention(q, q, v, true);
  const Tensor h1 = nibble::attention_entropy_bits(one.weights);
  for (const float x : h1.to_vector()) EXPECT_NEAR(x, 0.0f, 1e-6f) << "T = 1" << hint("one key: weight 1, 0 bits");
  for (const float x : one.weights.to_vector()) EXPECT_EQ(x, 1.0f) << "T = 1" << hint("one key: weight 1");
  // Huge scores: softmax saturates to one-hot, entropy ~0 and never NaN.
  const Tensor big = Tensor::randn({1, 2, 6, 8}, 0.0f, 1000.0f);
  const nibble::AttentionOutput sat = nibble::scaled_dot_product_attention(big, big, Tensor::randn({1, 2, 6, 2}));
  const std::vector<float> hs = nibble::attention_entropy_bits(sat.weights).to_vector();
  for (const float x : hs) {
    EXPECT_FALSE(std::isnan(x)) << "saturated softmax gave NaN entropy" << hint("0 log 0 = 0: clamp before log");
    EXPECT_NEAR(x, 0.0f, 1e-3f) << "saturated softmax" << hint("near one-hot rows have near 0 bits");
  }
  EXPECT_EQ(nibble::collapsed_heads(sat.weights, 0.1), (std::vector<int64_t>{0, 1}))
      << "all collapsed" << hint("every head whose mean entropy is below the threshold");
}

GRADED_TEST(AttentionEntropyHidden, UniformOver256Tokens, 3) {
  const Tensor w = Tensor::full({1, 1, 256, 256}, 1.0f / 256.0f);
  for (const float x : nibble::attention_entropy_bits(w).to_vector())
    EXPECT_NEAR(x, 8.0f, 1e-3f) << "uniform over 256 keys" << hint("log2 256 = 8 bits");
  EXPECT_NEAR(nibble::head_mean_entropy_bits(w).at({0}), 8.0f, 1e-3f) << "uniform over 256 keys" << hint("log2 256 = 8 bits");
  EXPECT_NEAR(nibble::entropy_regularizer(w, 9.0f).item(), 1.0f, 1e-3f) << "h_min 9 vs 8 bits" << hint("max(0, h_min - H)");
}

GRADED_TEST(AttentionEntropyHidden, CausalGradcheck, 5) {
  nibble::manual_seed(12);
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) {
        const nibble::AttentionOutput a = nibble::scaled_dot_product_attention(x[0], x[1], x[2], true);
        // h_min = 3 > log2(5): every row is active, no kink of max(0, .) is crossed.
        return nibble::entropy_regularizer(a.weights, 3.0f) + nibble::mean(a.output);
      },
      {Tensor::randn({1, 2, 5, 3}), Tensor::randn({1, 2, 5, 3}), Tensor::randn({1, 2, 5, 2})}))
      << "gradient of the causal regulariser w.r.t. q, k, v" << hint("build everything from nibble ops");
}

GRADED_TEST(AttentionEntropyHidden, InactiveRowsGetNoGradient, 3) {
  // Uniform rows (2 bits) with h_min = 1: the regulariser is 0 and so is its gradient.
  const Tensor logits = Tensor::zeros({1, 1, 4, 4}).requires_grad_();
  const Tensor r = nibble::entropy_regularizer(nibble::softmax(logits, -1), 1.0f);
  EXPECT_NEAR(r.item(), 0.0f, 1e-6f) << "uniform rows (2 bits), h_min = 1" << hint("max(0, h_min - H)");
  r.backward();
  ASSERT_TRUE(logits.grad().defined()) << hint("stay on the tape");
  for (const float g : logits.grad().to_vector())
    EXPECT_NEAR(g, 0.0f, 1e-7f) << "rows above h_min" << hint("relu: rows above h_min get no gradient");
}

GRADED_TEST(AttentionEntropyHidden, RejectsBadInput, 3) {
  const Tensor ok = Tensor::full({1, 1, 2, 2}, 0.5f);
  ASSERT_NEAR(nibble::attention_entropy_bits(ok).at({0, 0, 0}), 1.0f, 1e-5f) << "valid input first" << hint("rows (1/2, 1/2): 1 bit");
  EXPECT_TRUE(plain_error([] { nibble::attention_entropy_bits(Tensor::full({2, 2}, 0.5f)); })) << "2-d" << hint("keep the given input checks");
  EXPECT_TRUE(plain_error([] { nibble::attention_entropy_bits(Tensor::full({1, 1, 2, 2}, 0.3f)); }))
      << "rows sum to 0.6" << hint("keep the given input checks");
  EXPECT_TRUE(plain_error([] { nibble::collapsed_heads(Tensor::full({1, 1, 2, 2}, 0.5f), -1.0); }))
      << "negative threshold" << hint("keep the given input checks");
  EXPECT_TRUE(plain_error([] {
    nibble::scaled_dot_product_attention(Tensor::randn({1, 3, 4}), Tensor::randn({1, 5, 3}),
                                         Tensor::randn({1, 5, 2}));
  })) << "q d = 4, k d = 3" << hint("keep the given input checks");
  EXPECT_TRUE(plain_error([] {
    nibble::scaled_dot_product_attention(Tensor::randn({1, 3, 4}), Tensor::randn({1, 5, 4}),
                                         Tensor::randn({1, 5, 2}), true);
  })) << "causal with Tq 3 != Tk 5" << hint("keep the given input checks");
}

GRADED_TEST(AttentionEntropyHidden, TrainingAgainstCollapse, 5) {
  // A few steps of the regulariser alone lift a sharpened MultiHeadAttention's mean entropy.
  nibble::manual_seed(13);
  nibble::nn::MultiHeadAttention mha(16, 4, true);
  {
    nibble::NoGradGuard no_grad;
    for (int64_t r = 0; r < 16; ++r)
      for (int64_t c = 0; c < 16; ++c) mha.q_proj().weight.at({r, c}) *= 8.0f;
  }
  const Tensor x = Tensor::randn({2, 8, 16});
  mha.forward(x);
  const double start = nibble::layer_mean_entropy_bits(mha.attention);
  for (int step = 0; step < 10; ++step) {
    mha.zero_grad();
    mha.forward(x);
    nibble::entropy_regularizer(mha.attention, 2.0f).backward();
    nibble::NoGradGuard no_grad;
    for (Tensor p : mha.parameters()) {
      if (!p.grad().defined()) continue;
      const std::vector<float> g = p.grad().to_vector();
      float* data = p.data();
      for (size_t i = 0; i < g.size(); ++i) data[i] -= 0.2f * g[i];
    }
  }
  mha.forward(x);
  const double end = nibble::layer_mean_entropy_bits(mha.attention);
  EXPECT_GT(end, start + 0.05) << "mean entropy " << start << " -> " << end << " bits"
                               << hint("the regulariser's gradient must raise low row entropies");
}
