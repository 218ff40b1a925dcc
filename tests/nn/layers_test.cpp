// Layers: forward against independent double-precision formulas, gradients by finite differences,
// PyTorch's default initialisation bounds.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "nn/nn.h"

namespace nibble::nn {
namespace {

using nibble::testing::gradcheck;
using nibble::testing::throws_error_containing;

TEST(Layers, LinearMatchesDoubleReference) {
  manual_seed(3);
  Linear fc(5, 3);
  const Tensor x = Tensor::randn({4, 5});
  const Tensor y = fc(x);
  ASSERT_EQ(y.shape(), (Shape{4, 3}));
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t o = 0; o < 3; ++o) {
      double acc = fc.bias.at({o});
      for (int64_t k = 0; k < 5; ++k) acc += double(x.at({i, k})) * fc.weight.at({o, k});
      EXPECT_NEAR(y.at({i, o}), acc, 1e-5);
    }
  }
  EXPECT_EQ(fc(Tensor::randn({2, 7, 5})).shape(), (Shape{2, 7, 3}));  // leading axes pass through
}

TEST(Layers, LinearAndConvUsePyTorchDefaultInit) {
  manual_seed(4);
  Linear fc(100, 50);
  const float bound = 1.0f / std::sqrt(100.0f);
  float lo = 1, hi = -1;
  for (float v : fc.weight.to_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.9f * bound);  // and it really spreads over the interval
  EXPECT_GT(hi, 0.9f * bound);
  Conv2d conv(8, 16, 5);
  const float cbound = 1.0f / std::sqrt(8.0f * 25.0f);
  for (float v : conv.weight.to_vector()) ASSERT_LE(std::fabs(v), cbound);
  for (float v : conv.bias.to_vector()) ASSERT_LE(std::fabs(v), cbound);
}

TEST(Layers, InitialisersHaveTheirVariance) {
  manual_seed(5);
  Tensor w = Tensor::empty({400, 300});
  auto variance = [](const Tensor& t) {
    double m = 0, v = 0;
    for (float x : t.to_vector()) m += x;
    m /= t.numel();
    for (float x : t.to_vector()) v += (x - m) * (x - m);
    return v / t.numel();
  };
  init::kaiming_normal_(w);
  EXPECT_NEAR(variance(w), 2.0 / 300, 0.05 * 2.0 / 300);
  init::kaiming_uniform_(w);
  EXPECT_NEAR(variance(w), 2.0 / 300, 0.05 * 2.0 / 300);
  init::xavier_uniform_(w);
  EXPECT_NEAR(variance(w), 2.0 / 700, 0.05 * 2.0 / 700);
  init::xavier_normal_(w);
  EXPECT_NEAR(variance(w), 2.0 / 700, 0.05 * 2.0 / 700);
}

TEST(Layers, GradientsThroughLayers) {
  manual_seed(6);
  Linear fc(4, 3);
  EXPECT_TRUE(gradcheck([&](const auto& x) { return fc(x[0]); }, {Tensor::randn({2, 4}), fc.weight, fc.bias}));
  Conv2d conv(2, 3, 3, Conv2dOptions{1, 1});
  EXPECT_TRUE(gradcheck([&](const auto& x) { return conv(x[0]); }, {Tensor::randn({2, 2, 5, 5}), conv.weight, conv.bias}));
  LayerNorm ln({6});
  EXPECT_TRUE(gradcheck([&](const auto& x) { return ln(x[0]); }, {Tensor::randn({3, 6}), ln.weight, ln.bias}));
  Embedding emb(5, 3);
  EXPECT_TRUE(gradcheck([&](const auto&) { return emb.forward({1, 4, 1}, {3}); }, {emb.weight}));
}

TEST(Layers, SequentialChainsAndFlattens) {
  manual_seed(7);
  Sequential net({std::make_shared<Conv2d>(1, 2, 3, Conv2dOptions{1, 1}), std::make_shared<ReLU>(),
                  std::make_shared<MaxPool2d>(2), std::make_shared<Flatten>(),
                  std::make_shared<Linear>(2 * 4 * 4, 10)});
  EXPECT_EQ(net(Tensor::randn({3, 1, 8, 8})).shape(), (Shape{3, 10}));
  EXPECT_EQ(net.named_parameters()[0].first, "0.weight");
  EXPECT_EQ(net.named_parameters().back().first, "4.bias");
}

TEST(Layers, ErrorsNameLayerAndShapes) {
  Linear fc(784, 10);
  EXPECT_TRUE(throws_error_containing([&] { fc(Tensor::zeros({2, 1, 28, 28})); }, "Linear::forward: input [2, 1, 28, 28]"));
  EXPECT_TRUE(throws_error_containing([] { Linear(0, 3); }, "Linear"));
  EXPECT_TRUE(throws_error_containing([] { Conv2d(3, 4, 3, Conv2dOptions{1, 0, 1, 2}); }, "divisible by groups"));
  EXPECT_TRUE(throws_error_containing([] { Dropout(1.0f); }, "Dropout"));
  EXPECT_TRUE(throws_error_containing([] { MultiHeadAttention(10, 3); }, "multiple of num_heads"));
}

}  // namespace
}  // namespace nibble::nn
