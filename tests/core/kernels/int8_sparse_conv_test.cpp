// Tests for the sparse int8 convolution (core/kernels/int8_sparse_conv.h).
//
// Chain of trust: a hand-computed case; then the dense path - an im2col written here plus
// int8_gemm_u8 (itself checked against an int64 loop in int8_gemm_test.cpp) - is the oracle for
// the scalar sparse kernel, bit for bit; the scalar kernel is the oracle for the SIMD one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/kernels/int8_gemm.h"
#include "core/kernels/int8_sparse_conv.h"

namespace nibble {
namespace {

struct ConvCase {
  int64_t N, C, H, W, OC, KH, KW, stride, pad, dilation;
  double density;  // fraction of non-zero weights
};

struct Problem {
  ConvCase k;
  std::vector<uint8_t> x;    // [N, C, H, W]
  std::vector<int8_t> w;     // [OC, C, KH, KW]
  std::vector<int32_t> bias, multipliers;
  std::vector<int> shifts;
  int32_t za = 0;
  Requantize rq;
  int64_t OH = 0, OW = 0;
};

Problem make_problem(const ConvCase& k, std::mt19937& rng, bool extreme = false) {
  Problem p;
  p.k = k;
  p.OH = (k.H + 2 * k.pad - k.dilation * (k.KH - 1) - 1) / k.stride + 1;
  p.OW = (k.W + 2 * k.pad - k.dilation * (k.KW - 1) - 1) / k.stride + 1;
  std::uniform_int_distribution<int> byte(0, 255), weight(-128, 127);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  p.x.resize(static_cast<size_t>(k.N * k.C * k.H * k.W));
  for (uint8_t& v : p.x) v = extreme ? 255 : static_cast<uint8_t>(byte(rng));
  p.w.resize(static_cast<size_t>(k.OC * k.C * k.KH * k.KW));
  for (int8_t& v : p.w) {
    const int8_t nz = extreme ? int8_t{-128} : static_cast<int8_t>(weight(rng));
    v = u(rng) < k.density ? nz : int8_t{0};
  }
  p.za = extreme ? 0 : byte(rng);
  const int64_t K = k.C * k.KH * k.KW;
  for (int64_t n = 0; n < k.OC; ++n) {
    p.bias.push_back(static_cast<int32_t>(u(rng) * 20000 - 10000));
    int32_t m;
    int s;
    // Output scale ~ the accumulator's spread, so outputs cover the byte range; sometimes >= 1.
    quantize_multiplier(n % 5 == 4 ? 1.5 : 2.0 / (1.0 + 30.0 * K * u(rng)), &m, &s);
    p.multipliers.push_back(m);
    p.shifts.push_back(s);
  }
  p.rq.multipliers = p.multipliers.data();
  p.rq.right_shifts = p.shifts.data();
  p.rq.zero_point = byte(rng);
  p.rq.relu = u(rng) < 0.5;
  p.rq.max_value = u(rng) < 0.2 ? 127 : 255;
  if (p.rq.max_value < p.rq.zero_point) p.rq.max_value = 255;
  return p;
}

SparseConvShape shape_of(const Problem& p) {
  SparseConvShape s;
  s.N = p.k.N, s.H = p.k.H, s.W = p.k.W;
  s.stride_h = s.stride_w = p.k.stride;
  s.pad_h = s.pad_w = p.k.pad;
  s.dilation_h = s.dilation_w = p.k.dilation;
  return s;
}

// The dense int8 path: im2col (padding = za) + int8_gemm_u8 [N*P, OC], transposed to NCHW.
std::vector<uint8_t> dense_conv(const Problem& p) {
  const ConvCase& k = p.k;
  const int64_t K = k.C * k.KH * k.KW, P = p.OH * p.OW;
  std::vector<uint8_t> cols(static_cast<size_t>(k.N * P * K));
  for (int64_t n = 0; n < k.N; ++n)
    for (int64_t oy = 0; oy < p.OH; ++oy)
      for (int64_t ox = 0; ox < p.OW; ++ox)
        for (int64_t c = 0; c < k.C; ++c)
          for (int64_t ky = 0; ky < k.KH; ++ky)
            for (int64_t kx = 0; kx < k.KW; ++kx) {
              const int64_t iy = oy * k.stride - k.pad + ky * k.dilation;
              const int64_t ix = ox * k.stride - k.pad + kx * k.dilation;
              const bool inside = iy >= 0 && iy < k.H && ix >= 0 && ix < k.W;
              cols[static_cast<size_t>(((n * P + oy * p.OW + ox) * K) + (c * k.KH + ky) * k.KW + kx)] =
                  inside ? p.x[static_cast<size_t>(((n * k.C + c) * k.H + iy) * k.W + ix)]
                         : static_cast<uint8_t>(p.za);
            }
  const PackedWeightsS8 packed = pack_weights_s8(p.w.data(), K, k.OC);
  std::vector<uint8_t> t(static_cast<size_t>(k.N * P * k.OC));
  if (k.N > 0) int8_gemm_u8(input_u8(cols.data(), k.N * P, K, p.za), packed, p.bias.data(), p.rq, t.data());
  std::vector<uint8_t> y(t.size());
  for (int64_t n = 0; n < k.N; ++n)
    for (int64_t pix = 0; pix < P; ++pix)
      for (int64_t oc = 0; oc < k.OC; ++oc)
        y[static_cast<size_t>((n * k.OC + oc) * P + pix)] = t[static_cast<size_t>((n * P + pix) * k.OC + oc)];
  return y;
}

std::vector<uint8_t> sparse_conv(const Problem& p, SparseConvKernel kernel, int64_t pool = 1) {
  const SparseConvWeightsS8 w = SparseConvWeightsS8::from_dense(p.w.data(), p.k.OC, p.k.C, p.k.KH, p.k.KW);
  std::vector<uint8_t> y(static_cast<size_t>(p.k.N * p.k.OC * (p.OH / pool) * (p.OW / pool)), 0xAB);
  sparse_conv2d_u8(p.x.data(), shape_of(p), p.za, w, p.bias.data(), p.rq, y.data(), kernel, pool);
  return y;
}

// Max pooling of bytes y [N*OC, OH, OW] with pool x pool windows, stride pool (partial windows dropped).
std::vector<uint8_t> max_pool_bytes(const std::vector<uint8_t>& y, const Problem& p, int64_t pool) {
  const int64_t PH = p.OH / pool, PW = p.OW / pool;
  std::vector<uint8_t> out;
  for (int64_t plane = 0; plane < p.k.N * p.k.OC; ++plane)
    for (int64_t py = 0; py < PH; ++py)
      for (int64_t px = 0; px < PW; ++px) {
        uint8_t m = 0;
        for (int64_t i = 0; i < pool; ++i)
          for (int64_t j = 0; j < pool; ++j)
            m = std::max(m, y[static_cast<size_t>((plane * p.OH + py * pool + i) * p.OW + px * pool + j)]);
        out.push_back(m);
      }
  return out;
}

std::string describe(const ConvCase& k) {
  return "N " + std::to_string(k.N) + " C " + std::to_string(k.C) + " " + std::to_string(k.H) + "x" +
         std::to_string(k.W) + " OC " + std::to_string(k.OC) + " kernel " + std::to_string(k.KH) + "x" +
         std::to_string(k.KW) + " stride " + std::to_string(k.stride) + " pad " + std::to_string(k.pad) +
         " dilation " + std::to_string(k.dilation) + " density " + std::to_string(k.density);
}

// Batch 1 and > 1; the course CNN's two layers; 1x1 and non-square kernels; strides, dilations;
// outputs of width 1; 0% and 100% non-zeros.
std::vector<ConvCase> cases() {
  std::vector<ConvCase> v = {
      {1, 1, 28, 28, 8, 5, 5, 1, 2, 1, 0.56},  {3, 8, 14, 14, 16, 5, 5, 1, 2, 1, 0.14},
      {2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1.0},     {1, 2, 5, 5, 3, 5, 5, 1, 0, 1, 0.5},
      {2, 4, 11, 13, 6, 3, 2, 2, 1, 1, 0.3},   {1, 3, 9, 9, 4, 3, 3, 1, 2, 2, 0.4},
      {2, 2, 10, 7, 3, 3, 3, 3, 0, 2, 0.6},    {1, 5, 6, 6, 7, 1, 1, 1, 0, 1, 0.7},
      {2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 0.0},     {1, 16, 3, 40, 9, 3, 3, 1, 1, 1, 0.05},
      {0, 2, 5, 5, 3, 3, 3, 1, 1, 1, 0.5},     {4, 1, 1, 1, 2, 1, 1, 1, 0, 1, 1.0},
  };
  return v;
}

TEST(SparseConv, HandComputedCase) {
  // 1x1 kernel, one weight 2, real multiplier 0.5, zero points 0: y = x exactly; and a 2x2 kernel
  // with padding 1 summing x's neighbourhood: y[0,0] = 2 * x[0,0] * 0.5 = 1 (only one tap inside).
  const std::vector<uint8_t> x = {1, 2, 3, 4};  // [1, 1, 2, 2]
  const std::vector<int8_t> w1 = {2};
  Requantize rq;
  quantize_multiplier(0.5, &rq.multiplier, &rq.right_shift);
  SparseConvShape s;
  s.N = 1, s.H = 2, s.W = 2;
  std::vector<uint8_t> y(4, 0);
  sparse_conv2d_u8(x.data(), s, 0, SparseConvWeightsS8::from_dense(w1.data(), 1, 1, 1, 1), nullptr, rq, y.data());
  EXPECT_EQ(y, x);
  // 2x2 kernel of 2s, padding 1 -> 3x3 output; output (oy, ox) sums x over rows oy-1..oy, cols ox-1..ox.
  const std::vector<int8_t> w2 = {2, 2, 2, 2};
  s.pad_h = s.pad_w = 1;
  std::vector<uint8_t> y2(9, 0);
  sparse_conv2d_u8(x.data(), s, 0, SparseConvWeightsS8::from_dense(w2.data(), 1, 1, 2, 2), nullptr, rq, y2.data());
  EXPECT_EQ(y2, (std::vector<uint8_t>{1, 3, 2, 4, 10, 6, 3, 7, 4}));
}

TEST(SparseConv, WeightsKeepOnlyTheNonZeros) {
  const std::vector<int8_t> w = {0, 3, 0, 0, -1, 0, 0, 0, 5, 0, 0, 0};  // [OC 2, C 2, 1, 3]
  const SparseConvWeightsS8 s = SparseConvWeightsS8::from_dense(w.data(), 2, 2, 1, 3);
  EXPECT_EQ(s.nonzeros(), 3);
  EXPECT_DOUBLE_EQ(s.density(), 0.25);
  EXPECT_EQ(s.channel_start(), (std::vector<int32_t>{0, 2, 3}));
  EXPECT_EQ(s.channel_sums(), (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(s.taps()[1].c, 1);
  EXPECT_EQ(s.taps()[1].kx, 1);
  EXPECT_EQ(s.taps()[1].w, -1);
  EXPECT_EQ(s.taps()[2].c, 0);
  EXPECT_EQ(s.taps()[2].kx, 2);
}

TEST(SparseConv, ScalarEqualsDenseInt8PathBitForBit) {
  std::mt19937 rng(15);
  for (const ConvCase& k : cases()) {
    for (int rep = 0; rep < 2; ++rep) {
      const Problem p = make_problem(k, rng);
      EXPECT_EQ(sparse_conv(p, SparseConvKernel::kScalar), dense_conv(p)) << describe(k);
    }
  }
}

TEST(SparseConv, FusedMaxPoolEqualsPoolingTheDenseOutput) {
  std::mt19937 rng(29);
  for (const ConvCase& k : cases()) {
    for (int64_t pool : {2, 3}) {
      const Problem p = make_problem(k, rng);
      if (p.OH < pool || p.OW < pool) continue;
      const std::vector<uint8_t> expected = max_pool_bytes(dense_conv(p), p, pool);
      EXPECT_EQ(sparse_conv(p, SparseConvKernel::kScalar, pool), expected) << describe(k) << " pool " << pool;
      EXPECT_EQ(sparse_conv(p, SparseConvKernel::kAuto, pool), expected) << describe(k) << " pool " << pool;
    }
  }
}

TEST(SparseConv, ExtremeValuesMatchTheDensePath) {
  // 255 x -128 everywhere, za = 0: the largest accumulators (no int16 stage may saturate).
  std::mt19937 rng(3);
  for (const ConvCase& k : {ConvCase{2, 16, 9, 20, 3, 5, 5, 1, 2, 1, 1.0}, ConvCase{1, 8, 14, 14, 4, 5, 5, 1, 2, 1, 0.5}}) {
    const Problem p = make_problem(k, rng, true);
    const std::vector<uint8_t> dense = dense_conv(p);
    EXPECT_EQ(sparse_conv(p, SparseConvKernel::kScalar), dense) << describe(k);
    EXPECT_EQ(sparse_conv(p, SparseConvKernel::kAuto), dense) << describe(k);
  }
}

TEST(SparseConv, EveryAvailableKernelEqualsScalar) {
  for (SparseConvKernel kernel : {SparseConvKernel::kAvx2}) {
    if (!sparse_conv_kernel_available(kernel)) {
      std::printf("[ SKIPPED  ] sparse conv kernel %s: this CPU lacks it (has: %s)\n",
                  sparse_conv_kernel_name(kernel), cpu_features().summary().c_str());
      continue;
    }
    std::mt19937 rng(7);
    for (const ConvCase& k : cases()) {
      const Problem p = make_problem(k, rng);
      EXPECT_EQ(sparse_conv(p, kernel), sparse_conv(p, SparseConvKernel::kScalar))
          << sparse_conv_kernel_name(kernel) << ": " << describe(k);
      if (p.OH >= 2 && p.OW >= 2) {
        EXPECT_EQ(sparse_conv(p, kernel, 2), sparse_conv(p, SparseConvKernel::kScalar, 2))
            << sparse_conv_kernel_name(kernel) << " pool 2: " << describe(k);
      }
    }
  }
  EXPECT_EQ(sparse_conv_select_kernel(SparseConvKernel::kScalar), SparseConvKernel::kScalar);
  EXPECT_NE(sparse_conv_select_kernel(), SparseConvKernel::kAuto);
}

TEST(SparseConv, BadArgumentsThrowClearly) {
  std::mt19937 rng(1);
  const Problem p = make_problem({1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 0.5}, rng);
  const SparseConvWeightsS8 w = SparseConvWeightsS8::from_dense(p.w.data(), 3, 2, 3, 3);
  std::vector<uint8_t> y(75);
  SparseConvShape s = shape_of(p);
  EXPECT_THROW(sparse_conv2d_u8(p.x.data(), s, 0, SparseConvWeightsS8{}, nullptr, p.rq, y.data()), Error);
  s.H = 1;  // smaller than the 3x3 kernel even with padding 1? 1 + 2 - 3 = 0 -> fits; pad 0 does not
  s.pad_h = 0;
  try {
    sparse_conv2d_u8(p.x.data(), s, 0, w, nullptr, p.rq, y.data());
    ADD_FAILURE() << "a 1-row input without padding under a 3x3 kernel was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("smaller than"), std::string::npos) << e.what();
  }
  s = shape_of(p);
  EXPECT_THROW(sparse_conv2d_u8(p.x.data(), s, 256, w, nullptr, p.rq, y.data()), Error);
  Requantize bad = p.rq;
  bad.right_shifts = nullptr;
  EXPECT_THROW(sparse_conv2d_u8(p.x.data(), s, 0, w, nullptr, bad, y.data()), Error);
  EXPECT_THROW(SparseConvWeightsS8::from_dense(p.w.data(), 0, 2, 3, 3), Error);
  EXPECT_THROW(sparse_conv2d_u8(p.x.data(), s, 0, w, nullptr, p.rq, y.data(), SparseConvKernel::kAuto, 6), Error);
  EXPECT_THROW(sparse_conv2d_u8(p.x.data(), s, 0, w, nullptr, p.rq, y.data(), SparseConvKernel::kAuto, 0), Error);
}

}  // namespace
}  // namespace nibble
