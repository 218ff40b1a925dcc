// tril / triu: by hand, against a double loop over every offset on a batch, NaN outside the
// triangle, gradients, empty and non-square shapes, rank errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

using Floats = std::vector<float>;

TEST(Triangle, ByHand) {
  const Tensor x = Tensor::arange(1.0f, 13.0f).reshape({3, 4});  // [[1..4],[5..8],[9..12]]
  EXPECT_EQ(tril(x).to_vector(), (Floats{1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0}));
  EXPECT_EQ(triu(x).to_vector(), (Floats{1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12}));
  EXPECT_EQ(tril(x, 1).to_vector(), (Floats{1, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12}));
  EXPECT_EQ(tril(x, -1).to_vector(), (Floats{0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}));
  EXPECT_EQ(triu(x, 2).to_vector(), (Floats{0, 0, 3, 4, 0, 0, 0, 8, 0, 0, 0, 0}));
  EXPECT_EQ(triu(x, -1).to_vector(), (Floats{1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12}));
}

TEST(Triangle, BatchedEveryOffsetMatchesDoubleLoop) {
  manual_seed(41);
  const Tensor x = Tensor::randn({2, 3, 4, 5});
  for (int64_t offset = -5; offset <= 6; ++offset) {
    const Tensor lo = tril(x, offset), up = triu(x, offset);
    ASSERT_EQ(lo.shape(), x.shape());
    for (int64_t a = 0; a < 2; ++a) {
      for (int64_t b = 0; b < 3; ++b) {
        for (int64_t r = 0; r < 4; ++r) {
          for (int64_t c = 0; c < 5; ++c) {
            const float v = x.at({a, b, r, c});
            EXPECT_EQ(lo.at({a, b, r, c}), c - r <= offset ? v : 0.0f) << "tril offset " << offset;
            EXPECT_EQ(up.at({a, b, r, c}), c - r >= offset ? v : 0.0f) << "triu offset " << offset;
          }
        }
      }
    }
  }
}

TEST(Triangle, NaNOutsideTheTriangleDoesNotLeak) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::from_vector({1, nan, inf, 2}, {2, 2});
  EXPECT_EQ(tril(x).to_vector(), (Floats{1, 0, inf, 2}));
  const Floats up = triu(x).to_vector();
  EXPECT_TRUE(std::isnan(up[1]));
  EXPECT_EQ(up[2], 0.0f);
}

TEST(Triangle, GradientIsTheSameTriangle) {
  Tensor x = Tensor::randn({3, 3}).requires_grad_();
  tril(x).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (Floats{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  x.zero_grad();
  triu(x, 1).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (Floats{0, 1, 1, 0, 0, 1, 0, 0, 0}));
  manual_seed(42);
  EXPECT_TRUE(gradcheck([](const auto& t) { return tril(t[0], -1); }, {Tensor::randn({2, 3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return triu(t[0], 1); }, {Tensor::randn({4, 3})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return tril(t[0]); }, {Tensor::randn({3, 4}).t()}));
}

TEST(Triangle, NonContiguousEmptyAndSizeOne) {
  const Tensor x = Tensor::arange(1.0f, 7.0f).reshape({2, 3}).t();  // [[1,4],[2,5],[3,6]]
  EXPECT_EQ(tril(x).to_vector(), (Floats{1, 0, 2, 5, 3, 6}));
  EXPECT_EQ(tril(Tensor::zeros({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(triu(Tensor::zeros({2, 0, 0})).shape(), (Shape{2, 0, 0}));
  EXPECT_EQ(tril(Tensor::zeros({0, 2, 2})).numel(), 0);
  EXPECT_EQ(triu(Tensor::full({1, 1}, 3.0f), 1).item(), 0.0f);
  EXPECT_EQ(tril(Tensor::full({1, 1}, 3.0f)).item(), 3.0f);
}

TEST(Triangle, CausalMaskForAttentionScores) {
  // Future positions (c > r) get -inf, so softmax gives them zero weight.
  const Tensor scores = Tensor::zeros({3, 3});
  const Tensor future = eq(tril(Tensor::ones({3, 3})), 0.0f);
  const Floats w = softmax(masked_fill(scores, future, -std::numeric_limits<float>::infinity()), -1).to_vector();
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(w[1], 0.0f);
  EXPECT_FLOAT_EQ(w[3], 0.5f);
  EXPECT_FLOAT_EQ(w[8], 1.0f / 3.0f);
}

TEST(Triangle, Errors) {
  EXPECT_TRUE(throws_error_containing([] { tril(Tensor::zeros({3})); }, "tril: needs a tensor of rank >= 2"));
  EXPECT_TRUE(throws_error_containing([] { triu(Tensor::scalar(1.0f)); }, "triu: needs a tensor of rank >= 2"));
  EXPECT_TRUE(throws_error_containing([] { tril(Tensor()); }, "tril"));
}

}  // namespace
}  // namespace nibble
