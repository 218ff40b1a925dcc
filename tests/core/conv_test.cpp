// conv2d: hand-computed cases, a direct 7-loop double-precision reference on random shapes,
// gradients for every option (and non-contiguous operands), batch-split consistency, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

// The definition of a convolution, written out loop by loop in double precision:
//   y[n,oc,oh,ow] = b[oc] + sum_{c,kh,kw} x[n, g*Cg + c, oh*s - p + kh*d, ow*s - p + kw*d] * w[oc,c,kh,kw]
// (g = the group of oc; out-of-image positions contribute 0). Reads through at(), so any strides.
std::vector<double> reference_conv2d(const Tensor& x, const Tensor& w, const Tensor& b,
                                     const Conv2dOptions& o) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OC = w.size(0), Cg = w.size(1), KH = w.size(2), KW = w.size(3);
  const int64_t OCg = OC / o.groups;
  const int64_t OH = (H + 2 * o.padding.h - o.dilation.h * (KH - 1) - 1) / o.stride.h + 1;
  const int64_t OW = (W + 2 * o.padding.w - o.dilation.w * (KW - 1) - 1) / o.stride.w + 1;
  EXPECT_EQ(C, Cg * o.groups);
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b.defined() ? b.at({oc}) : 0.0;
          const int64_t group = oc / OCg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * o.stride.h - o.padding.h + kh * o.dilation.h;
                const int64_t iw = ow * o.stride.w - o.padding.w + kw * o.dilation.w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += double(x.at({n, group * Cg + c, ih, iw})) * w.at({oc, c, kh, kw});
              }
          y.push_back(acc);
        }
  return y;
}

Conv2dOptions opts(Size2 stride, Size2 padding, Size2 dilation = 1, int64_t groups = 1) {
  Conv2dOptions o;
  o.stride = stride;
  o.padding = padding;
  o.dilation = dilation;
  o.groups = groups;
  return o;
}

// ---- forward -------------------------------------------------------------------------------------

TEST(ConvForward, HandComputedDifferenceKernel) {
  // x = 1..9 as 3x3; w = [[1, 0], [0, -1]] gives x[i][j] - x[i+1][j+1] = -4 everywhere.
  const Tensor x = Tensor::arange(1.0f, 10.0f).reshape({1, 1, 3, 3});
  const Tensor w = Tensor::from_vector({1, 0, 0, -1}, {1, 1, 2, 2});
  const Tensor y = conv2d(x, w);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{-4, -4, -4, -4}));
  EXPECT_EQ(conv2d(x, w, Tensor::from_vector({0.5f})).to_vector(),
            (std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f}));
}

TEST(ConvForward, HandComputedPaddingAndStride) {
  // 3x3 box filter over 1..9 with padding 1, stride 2: OH = (3 + 2 - 2 - 1)/2 + 1 = 2.
  // Windows clip to x[0:2,0:2] = 1+2+4+5, x[0:2,1:3] = 2+3+5+6, x[1:3,0:2] = 4+5+7+8, x[1:3,1:3].
  const Tensor x = Tensor::arange(1.0f, 10.0f).reshape({1, 1, 3, 3});
  const Tensor w = Tensor::ones({1, 1, 3, 3});
  const Tensor y = conv2d(x, w, Tensor(), opts(2, 1));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{12, 16, 24, 28}));
}

TEST(ConvForward, HandComputedDilation) {
  // A 2x2 kernel with dilation 2 touches the four corners of the 3x3 image: 1 + 3 + 7 + 9.
  const Tensor x = Tensor::arange(1.0f, 10.0f).reshape({1, 1, 3, 3});
  const Tensor y = conv2d(x, Tensor::ones({1, 1, 2, 2}), Tensor(), opts(1, 0, 2));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 1, 1}));
  EXPECT_EQ(y.item(), 20.0f);
}

TEST(ConvForward, HandComputedGroupsKeepChannelsApart) {
  // Two groups of one channel each: output 0 sees only channel 0, output 1 only channel 1.
  const Tensor x = Tensor::from_vector({2, 3}, {1, 2, 1, 1});
  const Tensor w = Tensor::from_vector({10, 100}, {2, 1, 1, 1});
  EXPECT_EQ(conv2d(x, w, Tensor(), opts(1, 0, 1, 2)).to_vector(), (std::vector<float>{20, 300}));
  // With groups = 1 the same numbers as a [2, 2] weight mix both channels: 1*2 + 2*3, 3*2 + 4*3.
  const Tensor w_full = Tensor::from_vector({1, 2, 3, 4}, {2, 2, 1, 1});
  EXPECT_EQ(conv2d(x, w_full).to_vector(), (std::vector<float>{8, 18}));
}

TEST(ConvForward, MatchesDirectLoopOnRandomShapes) {
  manual_seed(101);
  struct Case {
    Shape x, w;
    Conv2dOptions o;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{2, 3, 7, 6}, {4, 3, 3, 3}, opts(1, 0), true},
      {{3, 2, 9, 8}, {5, 2, 3, 2}, opts({2, 1}, {1, 0}), true},      // non-square everything
      {{2, 4, 10, 11}, {6, 2, 3, 3}, opts(2, 2, 2, 2), false},       // groups 2, dilation 2
      {{2, 4, 8, 8}, {8, 1, 3, 3}, opts(1, 1, 1, 4), true},          // depthwise, multiplier 2
      {{5, 6, 5, 7}, {4, 6, 1, 1}, opts(1, 0), true},                // 1x1: the no-im2col path
      {{2, 6, 5, 7}, {4, 3, 1, 1}, opts(2, 1, 1, 2), false},         // 1x1 with stride and padding
      {{1, 1, 28, 28}, {8, 1, 5, 5}, opts(1, 2), true},              // the Fashion-MNIST layers
      {{3, 8, 14, 14}, {16, 8, 5, 5}, opts(1, 2), true},
      {{2, 3, 4, 4}, {2, 3, 4, 4}, opts(3, 3, 1), true},             // padding wider than the image
      {{1, 2, 12, 9}, {3, 2, 2, 3}, opts({3, 2}, {0, 2}, {3, 1}), true},
  };
  for (const Case& c : cases) {
    const Tensor x = Tensor::randn(c.x);
    const Tensor w = Tensor::randn(c.w);
    const Tensor b = c.bias ? Tensor::randn({c.w[0]}) : Tensor();
    const Tensor y = conv2d(x, w, b, c.o);
    const std::vector<double> want = reference_conv2d(x, w, b, c.o);
    const std::vector<float> got = y.to_vector();
    ASSERT_EQ(got.size(), want.size()) << "x " << shape_str(c.x) << " w " << shape_str(c.w);
    const double tol = 1e-5 * std::sqrt(double(numel_of(c.w) / c.w[0])) * 10;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], tol) << "x " << shape_str(c.x) << " w " << shape_str(c.w) << " at " << i;
    }
  }
}

TEST(ConvForward, NonContiguousOperandsGiveTheSameResult) {
  manual_seed(102);
  // x stored as [N, H, W, C] and permuted to [N, C, H, W]; w stored with KH and KW swapped.
  const Tensor x = Tensor::randn({2, 6, 5, 3}).permute({0, 3, 1, 2});
  const Tensor w = Tensor::randn({4, 3, 2, 3}).transpose(2, 3);  // [4, 3, 3, 2]
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(w.is_contiguous());
  const Tensor b = Tensor::randn({4});
  const Conv2dOptions o = opts(1, 1);
  const std::vector<float> got = conv2d(x, w, b, o).to_vector();
  const std::vector<double> want = reference_conv2d(x, w, b, o);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << "at " << i;
}

// ---- backward ------------------------------------------------------------------------------------

TEST(ConvGrad, Default) {
  manual_seed(110);
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], t[2]); },
                        {Tensor::randn({2, 3, 5, 5}), Tensor::randn({4, 3, 3, 3}), Tensor::randn({4})}));
}

TEST(ConvGrad, StrideTwoWithPadding) {
  manual_seed(111);
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], t[2], opts(2, 1)); },
                        {Tensor::randn({2, 2, 7, 6}), Tensor::randn({3, 2, 3, 3}), Tensor::randn({3})}));
}

TEST(ConvGrad, DilationTwo) {
  manual_seed(112);
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], t[2], opts(1, 2, 2)); },
                        {Tensor::randn({1, 2, 6, 7}), Tensor::randn({3, 2, 3, 3}), Tensor::randn({3})}));
}

TEST(ConvGrad, GroupsTwo) {
  manual_seed(113);
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], t[2], opts(1, 1, 1, 2)); },
                        {Tensor::randn({2, 4, 5, 5}), Tensor::randn({6, 2, 3, 3}), Tensor::randn({6})}));
}

TEST(ConvGrad, Depthwise) {
  manual_seed(114);
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], Tensor(), opts(2, 1, 1, 3)); },
                        {Tensor::randn({2, 3, 6, 6}), Tensor::randn({3, 1, 3, 3})}));
}

TEST(ConvGrad, NoBias) {
  manual_seed(115);
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1]); },
                        {Tensor::randn({3, 2, 4, 5}), Tensor::randn({2, 2, 2, 2})}));
}

TEST(ConvGrad, OneByOneKernel) {
  manual_seed(116);
  // Stride 1, no padding: the path that skips im2col and col2im entirely.
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], t[2]); },
                        {Tensor::randn({3, 4, 3, 5}), Tensor::randn({6, 4, 1, 1}), Tensor::randn({6})}));
  // Grouped 1x1 on the same path, and a strided 1x1 that must go through im2col.
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], Tensor(), opts(1, 0, 1, 2)); },
                        {Tensor::randn({2, 4, 3, 3}), Tensor::randn({2, 2, 1, 1})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], t[2], opts(2, 1)); },
                        {Tensor::randn({2, 3, 4, 5}), Tensor::randn({2, 3, 1, 1}), Tensor::randn({2})}));
}

TEST(ConvGrad, NonSquareEverything) {
  manual_seed(117);
  EXPECT_TRUE(gradcheck(
      [](const auto& t) { return conv2d(t[0], t[1], t[2], opts({2, 1}, {1, 0}, {1, 2})); },
      {Tensor::randn({2, 2, 7, 8}), Tensor::randn({3, 2, 2, 3}), Tensor::randn({3})}));
}

TEST(ConvGrad, NonContiguousInputAndWeight) {
  manual_seed(118);
  // Views that are not row-major: the op must read them through their strides.
  const Tensor x = Tensor::randn({2, 5, 4, 3}).permute({0, 3, 1, 2});  // [2, 3, 5, 4]
  const Tensor w = Tensor::randn({2, 3, 3, 2}).transpose(2, 3);        // [2, 3, 2, 3]
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(w.is_contiguous());
  EXPECT_TRUE(gradcheck([](const auto& t) { return conv2d(t[0], t[1], t[2], opts(1, 1)); },
                        {x, w, Tensor::randn({2})}));
}

TEST(ConvGrad, BatchSplitOverThreadsEqualsImageByImage) {
  manual_seed(119);
  // dW and dbias sum over the batch (per-thread partial sums in the op, which splits the batch
  // over threads at this size: 7*8*16*16*72 = 1M multiply-adds). Convolving the 7 images one at a
  // time and adding their gradients by hand must give the same numbers; so must dx, image by image.
  Tensor x = Tensor::randn({7, 8, 16, 16}).requires_grad_();
  Tensor w = Tensor::randn({8, 8, 3, 3}).requires_grad_();
  Tensor b = Tensor::randn({8}).requires_grad_();
  const Tensor dy = Tensor::randn({7, 8, 16, 16});
  conv2d(x, w, b, opts(1, 1)).backward(dy);
  const std::vector<float> dx_batch = x.grad().to_vector();
  const std::vector<float> dw_batch = w.grad().to_vector();
  const std::vector<float> db_batch = b.grad().to_vector();

  std::vector<double> dw_sum(dw_batch.size(), 0.0), db_sum(db_batch.size(), 0.0);
  const size_t image = dx_batch.size() / 7;
  for (int64_t n = 0; n < 7; ++n) {
    Tensor xn = x.detach().slice(0, n, n + 1).contiguous().requires_grad_();
    w.zero_grad();
    b.zero_grad();
    conv2d(xn, w, b, opts(1, 1)).backward(dy.slice(0, n, n + 1).contiguous());
    const std::vector<float> dxn = xn.grad().to_vector();
    for (size_t i = 0; i < image; ++i) ASSERT_NEAR(dx_batch[n * image + i], dxn[i], 1e-4) << "dx " << n;
    const std::vector<float> dw = w.grad().to_vector(), db = b.grad().to_vector();
    for (size_t i = 0; i < dw.size(); ++i) dw_sum[i] += dw[i];
    for (size_t i = 0; i < db.size(); ++i) db_sum[i] += db[i];
  }
  for (size_t i = 0; i < dw_batch.size(); ++i) EXPECT_NEAR(dw_batch[i], dw_sum[i], 1e-3) << "dW " << i;
  for (size_t i = 0; i < db_batch.size(); ++i) EXPECT_NEAR(db_batch[i], db_sum[i], 1e-3) << "db " << i;
}

TEST(ConvGrad, OnlyTheWeightRequiresGrad) {
  manual_seed(120);
  // The input is data (no grad): the op must skip dx and still give the right dW.
  const Tensor x = Tensor::randn({2, 2, 4, 4});
  Tensor w = Tensor::randn({3, 2, 3, 3}).requires_grad_();
  const Tensor dy = Tensor::randn({2, 3, 2, 2});
  conv2d(x, w).backward(dy);
  ASSERT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
  // dW[oc,c,kh,kw] = sum_{n,oh,ow} dy[n,oc,oh,ow] * x[n,c,oh+kh,ow+kw]  (stride 1, no padding)
  for (int64_t oc = 0; oc < 3; ++oc)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t kh = 0; kh < 3; ++kh)
        for (int64_t kw = 0; kw < 3; ++kw) {
          double want = 0.0;
          for (int64_t n = 0; n < 2; ++n)
            for (int64_t oh = 0; oh < 2; ++oh)
              for (int64_t ow = 0; ow < 2; ++ow)
                want += double(dy.at({n, oc, oh, ow})) * x.at({n, c, oh + kh, ow + kw});
          EXPECT_NEAR(w.grad().at({oc, c, kh, kw}), want, 1e-4);
        }
}

// ---- errors --------------------------------------------------------------------------------------

TEST(ConvErrors, InputRank) {
  EXPECT_TRUE(throws_error_containing([] { conv2d(Tensor::ones({3, 5, 5}), Tensor::ones({2, 3, 3, 3})); },
                                      "conv2d: input must be 4-d [N, C, H, W], got shape [3, 5, 5]"));
}

TEST(ConvErrors, WeightRank) {
  EXPECT_TRUE(throws_error_containing([] { conv2d(Tensor::ones({1, 3, 5, 5}), Tensor::ones({2, 27})); },
                                      "conv2d: weight must be 4-d [OC, C/groups, KH, KW], got shape [2, 27]"));
}

TEST(ConvErrors, ChannelMismatch) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 3, 5, 5}), Tensor::ones({8, 4, 3, 3})); },
      "conv2d: input has 3 channels but weight expects 4 (weight [8, 4, 3, 3], groups 1)"));
  // With groups the weight expects weight.size(1) * groups channels.
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 6, 5, 5}), Tensor::ones({4, 2, 3, 3}), Tensor(), opts(1, 0, 1, 2)); },
      "conv2d: input has 6 channels but weight expects 4 (weight [4, 2, 3, 3], groups 2)"));
}

TEST(ConvErrors, InputChannelsNotDivisibleByGroups) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 3, 5, 5}), Tensor::ones({4, 1, 3, 3}), Tensor(), opts(1, 0, 1, 2)); },
      "conv2d: input channels (3) are not divisible by groups (2), input [1, 3, 5, 5]"));
}

TEST(ConvErrors, OutputChannelsNotDivisibleByGroups) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 4, 5, 5}), Tensor::ones({3, 2, 3, 3}), Tensor(), opts(1, 0, 1, 2)); },
      "conv2d: output channels (3) are not divisible by groups (2), weight [3, 2, 3, 3]"));
}

TEST(ConvErrors, GroupsNotPositive) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 4, 5, 5}), Tensor::ones({2, 4, 3, 3}), Tensor(), opts(1, 0, 1, 0)); },
      "conv2d: groups must be positive, got 0"));
}

TEST(ConvErrors, BiasShape) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 3, 5, 5}), Tensor::ones({8, 3, 3, 3}), Tensor::ones({4})); },
      "conv2d: bias must have shape [8] (one per output channel), got [4] for weight [8, 3, 3, 3]"));
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 3, 5, 5}), Tensor::ones({8, 3, 3, 3}), Tensor::ones({1, 8})); },
      "got [1, 8]"));
}

TEST(ConvErrors, StrideNotPositive) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 1, 5, 5}), Tensor::ones({1, 1, 3, 3}), Tensor(), opts({1, 0}, 0)); },
      "conv2d: stride must be positive, got 1x0"));
}

TEST(ConvErrors, DilationNotPositive) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 1, 5, 5}), Tensor::ones({1, 1, 3, 3}), Tensor(), opts(1, 0, -1)); },
      "conv2d: dilation must be positive, got -1x-1"));
}

TEST(ConvErrors, NegativePadding) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 1, 5, 5}), Tensor::ones({1, 1, 3, 3}), Tensor(), opts(1, {0, -2})); },
      "conv2d: padding must be non-negative, got 0x-2"));
}

TEST(ConvErrors, OutputSmallerThanOne) {
  // 2x2 image, 3x3 kernel, no padding: nothing fits. (With a dilated kernel too.)
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 1, 2, 2}), Tensor::ones({1, 1, 3, 3})); },
      "conv2d: output would be empty: input [1, 1, 2, 2] with padding 0x0 is smaller than the kernel 3x3"));
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 1, 4, 4}), Tensor::ones({1, 1, 3, 3}), Tensor(), opts(1, 0, 2)); },
      "input [1, 1, 4, 4] with padding 0x0 is smaller than the kernel 3x3 (dilation 2x2)"));
}

TEST(ConvErrors, UndefinedArguments) {
  EXPECT_TRUE(throws_error_containing([] { conv2d(Tensor(), Tensor::ones({1, 1, 3, 3})); },
                                      "conv2d: argument 'input' is an undefined tensor"));
  EXPECT_TRUE(throws_error_containing([] { conv2d(Tensor::ones({1, 1, 3, 3}), Tensor()); },
                                      "conv2d: argument 'weight' is an undefined tensor"));
}

TEST(ConvErrors, EmptyWeight) {
  EXPECT_TRUE(throws_error_containing(
      [] { conv2d(Tensor::ones({1, 0, 4, 4}), Tensor::ones({2, 0, 3, 3})); },
      "conv2d: weight [2, 0, 3, 3] is empty"));
}

}  // namespace
}  // namespace nibble
