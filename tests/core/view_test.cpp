// Views share storage and carry gradients back to their base.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

TEST(View, ViewsShareStorage) {
  Tensor a = Tensor::arange(6).reshape({2, 3});
  Tensor v = a.view({3, 2});
  v.at({0, 1}) = 42.0f;
  EXPECT_EQ(a.at({0, 1}), 42.0f);
  Tensor t = a.transpose(0, 1);
  EXPECT_EQ(t.at({1, 0}), 42.0f);
  EXPECT_EQ(t.data(), a.data());
  Tensor s = a.slice(1, 1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.to_vector(), (std::vector<float>{42, 2, 4, 5}));
}

TEST(View, ReshapeInfersMinusOneAndCopiesNonContiguous) {
  const Tensor a = Tensor::arange(12).reshape({3, -1});
  EXPECT_EQ(a.shape(), (Shape{3, 4}));
  const Tensor r = a.t().reshape({-1});  // transposed data must come out in the new order
  EXPECT_EQ(r.to_vector(), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_EQ(a.flatten().shape(), (Shape{12}));
  EXPECT_EQ(Tensor::zeros({2, 3, 4, 5}).flatten(1).shape(), (Shape{2, 60}));
}

TEST(View, PermuteSliceSelectSqueeze) {
  const Tensor a = Tensor::arange(24).reshape({2, 3, 4});
  const Tensor p = a.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.at({3, 1, 2}), a.at({1, 2, 3}));
  EXPECT_EQ(a.slice(2, 0, 4, 2).to_vector(),
            (std::vector<float>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22}));
  EXPECT_EQ(a.slice(0, -1, 100).shape(), (Shape{1, 3, 4}));  // Python-style clamping
  EXPECT_EQ(a.select(1, -1).to_vector(), (std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23}));
  EXPECT_EQ(a.unsqueeze(0).shape(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(a.unsqueeze(-1).shape(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(a.slice(0, 0, 1).squeeze(0).shape(), (Shape{3, 4}));
  EXPECT_EQ(Tensor::from_vector({1, 2}).reshape({2, 1}).expand({2, 3}).to_vector(),
            (std::vector<float>{1, 1, 1, 2, 2, 2}));
}

TEST(View, GradientsFlowBackThroughViews) {
  manual_seed(10);
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].reshape({4, 3}).exp(); }, {Tensor::randn({3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].transpose(0, 2).exp(); }, {Tensor::randn({2, 3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].permute({1, 2, 0}).exp(); }, {Tensor::randn({2, 3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].slice(1, 1, 4, 2).exp(); }, {Tensor::randn({2, 5})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].select(0, 1).exp(); }, {Tensor::randn({3, 2})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].expand({4, 3}).exp(); }, {Tensor::randn({1, 3})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].unsqueeze(1).squeeze(1).exp(); }, {Tensor::randn({3})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].t().contiguous().exp(); }, {Tensor::randn({3, 2})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return x[0].clone(); }, {Tensor::randn({3, 2})}));
}

TEST(View, OverlappingSlicesAccumulate) {
  Tensor x = Tensor::arange(4).requires_grad_();
  add(x.slice(0, 0, 3), x.slice(0, 1, 4)).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 2, 2, 1}));
}

TEST(View, BadArgumentsNameTheOp) {
  const Tensor a = Tensor::zeros({2, 3});
  EXPECT_TRUE(throws_error_containing([&] { a.reshape({4, 2}); }, "cannot reshape [2, 3]"));
  EXPECT_TRUE(throws_error_containing([&] { a.reshape({-1, -1}); }, "only one dimension"));
  EXPECT_TRUE(throws_error_containing([&] { a.t().view({6}); }, "not contiguous"));
  EXPECT_TRUE(throws_error_containing([&] { a.transpose(0, 2); }, "axis 2 is out of range"));
  EXPECT_TRUE(throws_error_containing([&] { a.permute({0, 0}); }, "repeated"));
  EXPECT_TRUE(throws_error_containing([&] { a.permute({0}); }, "permute"));
  EXPECT_TRUE(throws_error_containing([&] { a.slice(0, 0, 1, 0); }, "step"));
  EXPECT_TRUE(throws_error_containing([&] { a.select(1, 3); }, "select"));
  EXPECT_TRUE(throws_error_containing([&] { a.squeeze(0); }, "not 1"));
  EXPECT_TRUE(throws_error_containing([&] { a.expand({3, 3}); }, "expand"));
}

}  // namespace
}  // namespace nibble
