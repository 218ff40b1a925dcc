// MultiHeadAttention and TransformerBlock against a double-precision re-computation.
#include <gtest/gtest.h>

#include <memory>

#include <cmath>

#include "gradcheck.h"
#include "nn/nn.h"

namespace nibble::nn {
namespace {

using nibble::testing::gradcheck;
using nibble::testing::throws_error_containing;

// y = x W^T + b for one token, in double.
std::vector<double> project(const Linear& fc, const Tensor& x, int64_t b, int64_t t) {
  std::vector<double> y(fc.out_features);
  for (int64_t o = 0; o < fc.out_features; ++o) {
    double acc = fc.bias.at({o});
    for (int64_t k = 0; k < fc.in_features; ++k) acc += double(x.at({b, t, k})) * fc.weight.at({o, k});
    y[o] = acc;
  }
  return y;
}

void check_against_reference(MultiHeadAttention& mha, const Tensor& x) {
  const Tensor y = mha(x);
  const int64_t B = x.size(0), T = x.size(1), D = mha.embed_dim, H = mha.num_heads, d = mha.head_dim;
  ASSERT_EQ(mha.attention.shape(), (Shape{B, H, T, T}));
  for (int64_t b = 0; b < B; ++b) {
    std::vector<std::vector<double>> q(T), k(T), v(T);
    for (int64_t t = 0; t < T; ++t) {
      q[t] = project(mha.q_proj(), x, b, t);
      k[t] = project(mha.k_proj(), x, b, t);
      v[t] = project(mha.v_proj(), x, b, t);
    }
    std::vector<std::vector<double>> context(T, std::vector<double>(D, 0.0));
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> p(T, 0.0);
        double norm = 0.0;
        for (int64_t j = 0; j < T; ++j) {
          if (mha.causal && j > i) continue;  // masked: probability 0
          double s = 0.0;
          for (int64_t c = 0; c < d; ++c) s += q[i][h * d + c] * k[j][h * d + c];
          p[j] = std::exp(s / std::sqrt(double(d)));
          norm += p[j];
        }
        for (int64_t j = 0; j < T; ++j) {
          p[j] /= norm;
          EXPECT_NEAR(mha.attention.at({b, h, i, j}), p[j], 1e-5);
          for (int64_t c = 0; c < d; ++c) context[i][h * d + c] += p[j] * v[j][h * d + c];
        }
      }
    }
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t o = 0; o < D; ++o) {
        double acc = mha.out_proj().bias.at({o});
        for (int64_t c = 0; c < D; ++c) acc += context[t][c] * mha.out_proj().weight.at({o, c});
        EXPECT_NEAR(y.at({b, t, o}), acc, 1e-4);
      }
    }
  }
}

TEST(Attention, MatchesDoubleReference) {
  manual_seed(11);
  MultiHeadAttention mha(8, 2);
  check_against_reference(mha, Tensor::randn({2, 5, 8}));
}

TEST(Attention, CausalMaskHidesTheFuture) {
  manual_seed(12);
  MultiHeadAttention mha(6, 3, /*causal=*/true);
  check_against_reference(mha, Tensor::randn({1, 4, 6}));
  for (int64_t h = 0; h < 3; ++h)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = i + 1; j < 4; ++j) EXPECT_EQ(mha.attention.at({0, h, i, j}), 0.0f);
}

TEST(Attention, GradientsFlowToInputsAndWeights) {
  manual_seed(13);
  MultiHeadAttention mha(4, 2, true);
  EXPECT_TRUE(gradcheck([&](const auto& x) { return mha(x[0]); },
                        {Tensor::randn({2, 3, 4}), mha.q_proj().weight, mha.v_proj().bias}));
  // The stored attention weights stay on the tape: a loss on them must reach q_proj.
  mha.zero_grad();
  mha(Tensor::randn({1, 3, 4}));
  mha.attention.select(-1, 0).sum().backward();
  double norm = 0;
  for (float g : mha.q_proj().weight.grad().to_vector()) norm += std::fabs(g);
  EXPECT_GT(norm, 0.0);
}

TEST(Attention, StoredWeightsDoNotKeepTheGraphAliveAfterBackward) {
  // mha.attention stays on the tape for the current step (module 02's regulariser needs that),
  // but backward() frees the graph: the last batch's activations must not live on in the layer.
  manual_seed(15);
  MultiHeadAttention mha(4, 2);
  Tensor x = mul(Tensor::randn({1, 3, 4}).requires_grad_(), 1.0f);  // as if from an earlier layer
  const std::weak_ptr<TensorImpl> watch = x.impl_ptr();
  Tensor y = mha(x);
  x = Tensor();
  ASSERT_FALSE(watch.expired()) << "before backward the graph needs x";
  y.sum().backward();
  y = Tensor();
  EXPECT_TRUE(watch.expired()) << "mha.attention keeps the previous batch's graph alive";
  EXPECT_EQ(mha.attention.shape(), (Shape{1, 2, 3, 3})) << "the weights themselves are kept";
  {
    NoGradGuard no_grad;  // evaluation: nothing recorded, nothing kept
    mha(Tensor::randn({1, 3, 4}));
    EXPECT_EQ(mha.attention.grad_fn(), nullptr);
  }
}

TEST(Attention, TransformerBlockShapesAndGradients) {
  manual_seed(14);
  TransformerBlock block(8, 2, /*causal=*/true);
  const Tensor x = Tensor::randn({2, 4, 8});
  EXPECT_EQ(block(x).shape(), (Shape{2, 4, 8}));
  block(x).sum().backward();
  for (auto& [name, p] : block.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
  EXPECT_TRUE(gradcheck([&](const auto& in) { return block(in[0]); }, {Tensor::randn({1, 3, 8})},
                        {1e-3, 2e-2, 2e-3}));
}

TEST(Attention, BadInputNamesShapes) {
  MultiHeadAttention mha(8, 2);
  EXPECT_TRUE(throws_error_containing([&] { mha(Tensor::zeros({2, 8})); }, "expects x [B, T, 8], got [2, 8]"));
}

}  // namespace
}  // namespace nibble::nn
