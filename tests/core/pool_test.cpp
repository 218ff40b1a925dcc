// max_pool2d and avg_pool2d: hand-computed values, a direct double-precision reference on random
// shapes, routing of the max gradient (ties, overlaps), count_include_pad, gradients, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

// The definition in double: every output is the max (or the mean over KH*KW, padding counting as
// zero) of its window; padding never wins a max. Reads through at(), so any strides.
std::vector<double> reference_pool2d(const Tensor& x, Size2 k, Size2 s, Size2 p, bool is_max) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = (H + 2 * p.h - k.h) / s.h + 1, OW = (W + 2 * p.w - k.w) / s.w + 1;
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double best = -std::numeric_limits<double>::infinity(), total = 0.0;
          for (int64_t i = 0; i < k.h; ++i)
            for (int64_t j = 0; j < k.w; ++j) {
              const int64_t h = oh * s.h - p.h + i, w = ow * s.w - p.w + j;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              best = std::max(best, double(x.at({n, c, h, w})));
              total += x.at({n, c, h, w});
            }
          y.push_back(is_max ? best : total / double(k.h * k.w));
        }
  return y;
}

// Distinct values 0.1 apart in random order: no ties, so a finite-difference step of 1e-3 can
// never change which element of a window is the maximum.
Tensor shuffled_distinct(const Shape& shape) {
  const int64_t n = numel_of(shape);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.1f * static_cast<float>(i) - 0.05f * static_cast<float>(n);
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[random_u64() % (i + 1)]);
  return Tensor::from_vector(v, shape);
}

// ---- max_pool2d ------------------------------------------------------------------------------------

TEST(PoolMax, HandComputed2x2) {
  const Tensor x = Tensor::arange(16).reshape({1, 1, 4, 4});
  const Tensor y = max_pool2d(x, 2);  // stride defaults to the kernel size
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{5, 7, 13, 15}));
  EXPECT_EQ(max_pool2d(x, 2, 2).to_vector(), y.to_vector());
}

TEST(PoolMax, PaddingIsMinusInfinityNotZero) {
  // x = -1 .. -16: every value is negative. Zero padding would make the corner windows 0.
  // k3 s2 p1 on 4x4: windows x[0:2,0:2], x[0:2,1:4], x[1:4,0:2], x[1:4,1:4].
  const Tensor x = mul(add(Tensor::arange(16), 1.0f), -1.0f).reshape({1, 1, 4, 4});
  EXPECT_EQ(max_pool2d(x, 3, 2, 1).to_vector(), (std::vector<float>{-1, -2, -5, -6}));
}

TEST(PoolMax, BackwardRoutesToTheArgmax) {
  // rows [1 5 2 0; 3 4 8 7], 2x2 windows -> maxima 5 (at (0,1)) and 8 (at (1,2)).
  Tensor x = Tensor::from_vector({1, 5, 2, 0, 3, 4, 8, 7}, {1, 1, 2, 4}).requires_grad_();
  const Tensor y = max_pool2d(x, 2);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{5, 8}));
  y.backward(Tensor::from_vector({2, 3}, {1, 1, 1, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 2, 0, 0, 0, 0, 3, 0}));
}

TEST(PoolMax, TiesGoToTheFirstElement) {
  Tensor x = Tensor::ones({1, 1, 2, 4}).requires_grad_();
  max_pool2d(x, 2).backward(Tensor::from_vector({1, 1}, {1, 1, 1, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 0, 1, 0, 0, 0, 0, 0}));
}

TEST(PoolMax, OverlappingWindowsAccumulateOnASharedMaximum) {
  // 3x3 windows with stride 1 over a 3x4 image: both windows (cols 0-2 and 1-3) contain the
  // maximum 9 at (1,1), so that one pixel collects both output gradients: 0.5 + 2.
  Tensor x = Tensor::from_vector({0, 1, 2, 3, 4, 9, 5, 6, 7, 8, 1, 2}, {1, 1, 3, 4}).requires_grad_();
  const Tensor y = max_pool2d(x, 3, 1);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{9, 9}));
  y.backward(Tensor::from_vector({0.5f, 2.0f}, {1, 1, 1, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 0, 0, 0, 0, 2.5f, 0, 0, 0, 0, 0, 0}));
}

TEST(PoolMax, NaNPropagates) {
  const Tensor x = Tensor::from_vector({1, NAN, 3, 2}, {1, 1, 2, 2});
  EXPECT_TRUE(std::isnan(max_pool2d(x, 2).item()));
}

TEST(PoolMax, MatchesDirectLoopOnRandomShapes) {
  manual_seed(201);
  struct Case { Shape x; Size2 k, s, p; };
  for (const Case& c : std::vector<Case>{{{2, 3, 8, 8}, 2, 0, 0},
                                         {{1, 2, 7, 9}, 3, 2, 1},
                                         {{2, 1, 6, 11}, {2, 3}, {1, 2}, {1, 0}},
                                         {{3, 2, 5, 5}, 5, 1, 2}}) {
    const Tensor x = Tensor::randn(c.x);
    const Size2 s = c.s.h == 0 ? c.k : c.s;
    const std::vector<double> want = reference_pool2d(x, c.k, s, c.p, true);
    const std::vector<float> got = max_pool2d(x, c.k, c.s, c.p).to_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<float>(want[i])) << i;
  }
}

TEST(PoolMax, Gradients) {
  manual_seed(202);
  EXPECT_TRUE(gradcheck([](const auto& t) { return max_pool2d(t[0], 2); }, {shuffled_distinct({2, 2, 4, 6})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return max_pool2d(t[0], 3, 2, 1); }, {shuffled_distinct({1, 3, 7, 6})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return max_pool2d(t[0], {2, 3}, {1, 2}, {1, 1}); },
                        {shuffled_distinct({2, 1, 5, 7})}));
}

TEST(PoolMax, GradientsThroughANonContiguousView) {
  manual_seed(203);
  const Tensor x = shuffled_distinct({2, 6, 5, 3}).permute({0, 3, 1, 2});  // [2, 3, 6, 5]
  ASSERT_FALSE(x.is_contiguous());
  EXPECT_TRUE(gradcheck([](const auto& t) { return max_pool2d(t[0], 2, 1); }, {x}));
}

// ---- avg_pool2d ------------------------------------------------------------------------------------

TEST(PoolAvg, HandComputed) {
  const Tensor x = Tensor::arange(16).reshape({1, 1, 4, 4});
  // windows {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}
  EXPECT_EQ(avg_pool2d(x, 2).to_vector(), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
}

TEST(PoolAvg, PaddingCountsAsZeros) {
  // 3x3 windows with padding 1 over a 2x2 image: each window holds all four pixels (sum 10) plus
  // five padding zeros, and count_include_pad divides by 9, not by 4.
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
  const std::vector<float> y = avg_pool2d(x, 3, 1, 1).to_vector();
  ASSERT_EQ(y.size(), 4u);
  for (float v : y) EXPECT_FLOAT_EQ(v, 10.0f / 9.0f);
}

TEST(PoolAvg, BackwardSpreadsEvenly) {
  Tensor x = Tensor::zeros({1, 1, 2, 4}).requires_grad_();
  avg_pool2d(x, 2).backward(Tensor::from_vector({4, 8}, {1, 1, 1, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2}));
}

TEST(PoolAvg, MatchesDirectLoopOnRandomShapes) {
  manual_seed(204);
  struct Case { Shape x; Size2 k, s, p; };
  for (const Case& c : std::vector<Case>{{{2, 3, 8, 8}, 2, 0, 0},
                                         {{1, 2, 7, 9}, 3, 2, 1},
                                         {{2, 1, 6, 11}, {2, 3}, {1, 2}, {1, 0}},
                                         {{3, 2, 5, 5}, 4, 1, 2}}) {
    const Tensor x = Tensor::randn(c.x);
    const Size2 s = c.s.h == 0 ? c.k : c.s;
    const std::vector<double> want = reference_pool2d(x, c.k, s, c.p, false);
    const std::vector<float> got = avg_pool2d(x, c.k, c.s, c.p).to_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << i;
  }
}

TEST(PoolAvg, Gradients) {
  manual_seed(205);
  EXPECT_TRUE(gradcheck([](const auto& t) { return avg_pool2d(t[0], 2); }, {Tensor::randn({2, 2, 4, 6})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return avg_pool2d(t[0], 3, 2, 1); }, {Tensor::randn({1, 3, 7, 6})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return avg_pool2d(t[0], {3, 2}, {1, 2}, {1, 1}); },
                        {Tensor::randn({2, 1, 5, 7})}));
  const Tensor xt = Tensor::randn({2, 5, 6, 3}).permute({0, 3, 2, 1});  // [2, 3, 6, 5]
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_TRUE(gradcheck([](const auto& t) { return avg_pool2d(t[0], 2, 1, 1); }, {xt}));
}

// ---- errors ----------------------------------------------------------------------------------------

TEST(PoolErrors, Rank) {
  EXPECT_TRUE(throws_error_containing([] { max_pool2d(Tensor::ones({4, 4}), 2); },
                                      "max_pool2d: input must be 4-d [N, C, H, W], got shape [4, 4]"));
  EXPECT_TRUE(throws_error_containing([] { avg_pool2d(Tensor::ones({1, 4, 4}), 2); },
                                      "avg_pool2d: input must be 4-d [N, C, H, W], got shape [1, 4, 4]"));
}

TEST(PoolErrors, KernelNotPositive) {
  EXPECT_TRUE(throws_error_containing([] { max_pool2d(Tensor::ones({1, 1, 4, 4}), {0, 2}); },
                                      "max_pool2d: kernel size must be positive, got 0x2"));
}

TEST(PoolErrors, NegativeStride) {
  EXPECT_TRUE(throws_error_containing([] { avg_pool2d(Tensor::ones({1, 1, 4, 4}), 2, -1); },
                                      "avg_pool2d: stride must be positive (or 0 for the default"));
}

TEST(PoolErrors, NegativePadding) {
  EXPECT_TRUE(throws_error_containing([] { max_pool2d(Tensor::ones({1, 1, 4, 4}), 2, 2, {-1, 0}); },
                                      "max_pool2d: padding must be non-negative, got -1x0"));
}

TEST(PoolErrors, PaddingMoreThanHalfTheKernel) {
  EXPECT_TRUE(throws_error_containing([] { max_pool2d(Tensor::ones({1, 1, 4, 4}), 2, 1, 2); },
                                      "max_pool2d: padding 2x2 is more than half the kernel 2x2"));
  EXPECT_TRUE(throws_error_containing([] { avg_pool2d(Tensor::ones({1, 1, 4, 4}), {3, 4}, 1, {2, 1}); },
                                      "avg_pool2d: padding 2x1 is more than half the kernel 3x4"));
}

TEST(PoolErrors, OutputSmallerThanOne) {
  EXPECT_TRUE(throws_error_containing(
      [] { max_pool2d(Tensor::ones({1, 1, 2, 5}), 3); },
      "max_pool2d: output would be empty: input [1, 1, 2, 5] with padding 0x0 is smaller than the kernel 3x3"));
}

TEST(PoolErrors, EmptySpatialAxis) {
  EXPECT_TRUE(throws_error_containing([] { avg_pool2d(Tensor::ones({1, 1, 0, 4}), 2, 1, 1); },
                                      "avg_pool2d: input [1, 1, 0, 4] has an empty spatial axis"));
}

}  // namespace
}  // namespace nibble
