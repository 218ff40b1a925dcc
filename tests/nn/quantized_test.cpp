// Quantized layers (nn/quantized.h): the AVX2 activation quantizer against its scalar definition,
// QuantizedLinear / QuantizedConv2d (float and uint8 outputs) against a double-precision
// simulation of the same quantization (same scales, zero points, fake-quantized weights and
// inputs), every available int8 kernel against the scalar one, and the quantized Fashion-MNIST
// models against the float ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <cmath>
#include <limits>
#include <random>

#include "core/autograd.h"
#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "gradcheck.h"
#include "nn/quantized.h"
#include "nn/quantized_models.h"
#include "optim/sgd.h"

namespace nibble::nn {
namespace {

using nibble::testing::throws_error_containing;

// The simulation's quantizer, in double: q = clamp(round(x / s) + za, 0, qmax).
double fake_quant(double x, QuantParams p) {
  const double q =
      std::clamp(std::nearbyint(x / p.scale) + p.zero_point, 0.0, static_cast<double>(p.qmax));
  return p.scale * (q - p.zero_point);
}

QuantParams dynamic_params(const Tensor& x) {
  const std::vector<float> v = x.to_vector();
  float lo = 0, hi = 0;
  for (float f : v) lo = std::min(lo, f), hi = std::max(hi, f);
  return choose_u8_params(lo, hi);
}

// The double simulation of QuantizedLinear q on x [M, K] quantized with p: the same int8 weights
// and scales, fake-quantized inputs, exact arithmetic. Returns y [M, N], ReLU included.
std::vector<double> simulate_linear(const QuantizedLinear& q, const std::vector<float>& x,
                                    int64_t M, QuantParams p) {
  const int64_t K = q.in_features(), N = q.out_features();
  const auto& qw = q.quantized_weight();
  const auto& sw = q.weight_scales();
  std::vector<double> y(M * N);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = q.bias().empty() ? 0.0 : q.bias()[n];
      for (int64_t k = 0; k < K; ++k) {
        acc += fake_quant(x[m * K + k], p) * (double(sw[n]) * qw[n * K + k]);
      }
      y[m * N + n] = q.fuse_relu() ? std::max(acc, 0.0) : acc;
    }
  }
  return y;
}

// Checks y [M, N] (from QuantizedLinear q on x [M, K]) against the double simulation.
// "Within one quantization step": the float and double quantizers (x * (1/s) + za rounded in float
// vs x / s in double) may pick neighbouring levels for an input sitting on a rounding tie; one
// input level moves output n by at most s * sw[n] * max_k |qw[n,k]|. Everything else is exact
// int32 arithmetic, so apart from ties the two agree to float rounding.
void expect_matches_simulation(const QuantizedLinear& q, const Tensor& x, const Tensor& y,
                               QuantParams p) {
  const int64_t M = x.size(0), K = q.in_features(), N = q.out_features();
  const std::vector<float> yv = y.to_vector();
  const std::vector<double> expected = simulate_linear(q, x.to_vector(), M, p);
  const auto& qw = q.quantized_weight();
  // A row m is "off" when some output differs by more than float rounding: one input of that row
  // sat on a rounding tie (which then moves all N outputs of the row).
  std::vector<bool> row_off(M, false);
  for (int64_t n = 0; n < N; ++n) {
    int amax = 0;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::abs(int(qw[n * K + k])));
    const double step = double(p.scale) * q.weight_scales()[n] * amax;
    for (int64_t m = 0; m < M; ++m) {
      const double acc = expected[m * N + n];
      const double err = std::fabs(yv[m * N + n] - acc);
      ASSERT_LE(err, step + 1e-5 * (1 + std::fabs(acc))) << "m " << m << " n " << n;
      if (err > 1e-5 * (1 + std::fabs(acc))) row_off[m] = true;
    }
  }
  // Ties need x / s within ~1e-5 of k + 1/2: rare, so nearly every row agrees to float rounding.
  EXPECT_LE(std::count(row_off.begin(), row_off.end(), true), std::max<int64_t>(2, M / 10));
}

// A uint8 output y against the real-valued simulation: the level quantize(y_real) with y's
// params, within one level. The integer requantization differs from the real arithmetic only by
// the rounding of the int32 bias (half an accumulator unit) and of the Q31 multiplier, so a
// neighbouring level only happens for outputs near a rounding tie: rare.
void expect_u8_within_one_level(const QuantizedTensor& y, const std::vector<double>& y_real) {
  ASSERT_EQ(y.data.size(), y_real.size());
  const QuantParams o = y.params;
  int64_t off = 0;
  std::vector<bool> used(256, false);
  for (size_t i = 0; i < y_real.size(); ++i) {
    const double level = std::clamp(std::nearbyint(y_real[i] / o.scale) + o.zero_point, 0.0, 255.0);
    const double d = std::fabs(y.data[i] - level);
    ASSERT_LE(d, 1.0) << "element " << i << " real " << y_real[i];
    off += d > 0;
    used[y.data[i]] = true;
  }
  const int64_t n = static_cast<int64_t>(y_real.size());
  EXPECT_LE(off, 2 + n / 100) << "of " << n;
  // Not degenerate (everything saturated or zero): the outputs use many levels.
  EXPECT_GE(std::count(used.begin(), used.end(), true), std::min<int64_t>(30, n / 4));
}

TEST(QuantizedOps, Avx2QuantizerMatchesScalarReferenceBitForBit) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> wide(-40.0f, 40.0f);
  for (int64_t n : {0, 1, 7, 31, 32, 33, 64, 1000, 4099}) {
    std::vector<float> x(n);
    for (float& v : x) v = wide(rng);
    if (n > 10) {  // extremes: out of range both ways, NaN, infinities, exact ties
      x[0] = 1e30f, x[1] = -1e30f, x[2] = std::numeric_limits<float>::quiet_NaN();
      x[3] = std::numeric_limits<float>::infinity(), x[4] = -x[3], x[5] = 0.25f, x[6] = 0.75f;
    }
    const QuantParams p{0.1f, 77};
    std::vector<uint8_t> fast(n), ref(n);
    quantize_u8(x.data(), n, p, fast.data());
    quantize_u8_reference(x.data(), n, p, ref.data());
    ASSERT_EQ(fast, ref) << "n = " << n;
    if (n > 10) {
      EXPECT_EQ(ref[0], 255);
      EXPECT_EQ(ref[1], 0);
      EXPECT_EQ(ref[2], 0);  // NaN -> 0 (documented)
    }
  }
  float lo, hi;
  const std::vector<float> v = {3, -2, std::numeric_limits<float>::quiet_NaN(), 9, 0, 1, 1, 1,
                                1, 1, 1, 1, 1, 1, 1, 1, 1, -7.5f, 1};
  min_max(v.data(), int64_t(v.size()), &lo, &hi);
  EXPECT_EQ(lo, -7.5f);
  EXPECT_EQ(hi, 9.0f);
}

TEST(QuantizedOps, ParamsRepresentZeroExactlyAndCoverTheRange) {
  for (auto [lo, hi] : std::vector<std::pair<float, float>>{{-1, 3}, {0.5f, 2}, {-4, -1}, {0, 0}}) {
    const QuantParams p = choose_u8_params(lo, hi);
    uint8_t z;
    const float zero = 0.0f;
    quantize_u8_reference(&zero, 1, p, &z);
    EXPECT_EQ(z, p.zero_point);
    EXPECT_GE(p.zero_point, 0);
    EXPECT_LE(p.zero_point, 255);
    EXPECT_LE(p.scale * (0 - p.zero_point), std::min(lo, 0.0f) + p.scale);
    EXPECT_GE(p.scale * (255 - p.zero_point), std::max(hi, 0.0f) - p.scale);
  }
}

TEST(QuantizedLinear, StaticWithinOneStepOfSimulationOnRandomShapes) {
  manual_seed(11);
  std::mt19937 rng(11);
  for (int trial = 0; trial < 12; ++trial) {
    const int64_t M = 1 + rng() % 40, K = 1 + rng() % 300, N = 1 + rng() % 70;
    Linear fc(K, N, trial % 3 != 0);
    const Tensor calib = Tensor::randn({64, K}, 0.3f, 1.5f);
    const QuantizedLinear q = QuantizedLinear::from_float(fc, {calib, calib * 0.5f});
    EXPECT_FALSE(q.is_dynamic());
    // Some inputs beyond the calibration range: the simulation clamps them too.
    const Tensor x = Tensor::randn({M, K}, 0.3f, 2.0f);
    const Tensor y = q(x);
    ASSERT_EQ(y.shape(), (Shape{M, N}));
    expect_matches_simulation(q, x, y, q.input_params());
  }
}

TEST(QuantizedLinear, DynamicUsesEachInputsOwnRange) {
  manual_seed(12);
  Linear fc(50, 20);
  const QuantizedLinear q = QuantizedLinear::from_float(fc, {});
  EXPECT_TRUE(q.is_dynamic());
  for (float spread : {0.01f, 1.0f, 100.0f}) {
    const Tensor x = Tensor::randn({9, 50}, 0.0f, spread);
    expect_matches_simulation(q, x, q(x), dynamic_params(x));
    // Relative accuracy does not depend on the input's magnitude (static would clamp or waste levels).
    const Tensor yf = fc(x);
    NoGradGuard g;
    const double rel = (max(abs(q(x) - yf)).item()) / (max(abs(yf)).item());
    EXPECT_LT(rel, 0.05) << "spread " << spread;
  }
}

TEST(QuantizedLinear, PerChannelScalesFollowEachRow) {
  manual_seed(13);
  Linear fc(64, 4);
  {
    NoGradGuard g;  // rows of very different magnitudes: a per-tensor scale would zero row 3
    for (int64_t k = 0; k < 64; ++k) {
      fc.weight.at({0, k}) *= 100.0f;
      fc.weight.at({3, k}) *= 0.001f;
    }
  }
  const Tensor x = Tensor::rand({16, 64}, -1.0f, 1.0f);
  const QuantizedLinear q = QuantizedLinear::from_float(fc, {x});
  for (int64_t n = 0; n < 4; ++n) {
    float amax = 0;
    for (int64_t k = 0; k < 64; ++k) amax = std::max(amax, std::fabs(fc.weight.at({n, k})));
    EXPECT_FLOAT_EQ(q.weight_scales()[n], amax / 127.0f);
    int qmax = 0;
    for (int64_t k = 0; k < 64; ++k) qmax = std::max(qmax, std::abs(int(q.quantized_weight()[n * 64 + k])));
    EXPECT_EQ(qmax, 127);  // every row uses the full int8 range
  }
  expect_matches_simulation(q, x, q(x), q.input_params());
  // Row 3 (weights ~1e-4) is still reproduced to a few percent of its own magnitude.
  const Tensor y = q(x), yf = fc(x);
  double err = 0, mag = 0;
  for (int64_t m = 0; m < 16; ++m) {
    err = std::max(err, double(std::fabs(y.at({m, 3}) - fc.bias.at({3}) - (yf.at({m, 3}) - fc.bias.at({3})))));
    mag = std::max(mag, double(std::fabs(yf.at({m, 3}) - fc.bias.at({3}))));
  }
  EXPECT_LT(err, 0.05 * mag);
}

TEST(QuantizedLinear, FusedReluIsReluOfUnfused) {
  manual_seed(14);
  Linear fc(33, 17);
  const Tensor x = Tensor::randn({10, 33});
  const QuantizedLinear plain = QuantizedLinear::from_float(fc, {x});
  const QuantizedLinear fused = QuantizedLinear::from_float(fc, {x}, {true});
  EXPECT_TRUE(fused.fuse_relu());
  const std::vector<float> a = plain(x).to_vector(), b = fused(x).to_vector();
  int negatives = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i], std::max(a[i], 0.0f));
    negatives += a[i] < 0;
  }
  EXPECT_GT(negatives, 10);  // the test actually exercises the clamp
  expect_matches_simulation(fused, x, fused(x), fused.input_params());
}

TEST(QuantizedLinear, EveryAvailableKernelGivesIdenticalOutputs) {
  manual_seed(15);
  Linear fc(300, 45);
  const Tensor x = Tensor::randn({23, 300});
  const QuantizedLinear ref = QuantizedLinear::from_float(fc, {x}, {false, Int8Kernel::kScalar});
  const std::vector<float> expected = ref(x).to_vector();
  int ran = 0;
  for (Int8Kernel k : int8_all_kernels()) {
    if (!int8_kernel_available(k)) continue;  // e.g. VNNI on an AVX2-only CPU
    if (int8_kernel_max_activation(k) < 255) continue;  // avx2u7 quantizes to 7 bits: differs
    const QuantizedLinear q = QuantizedLinear::from_float(fc, {x}, {false, k});
    EXPECT_EQ(q.kernel(), k);
    EXPECT_EQ(q(x).to_vector(), expected) << int8_kernel_name(k);
    ++ran;
  }
  EXPECT_GE(ran, 1);
}

// reduce_range: 7-bit activations in and out, the avx2u7 kernel where the CPU has AVX2, and
// exactly the numbers any full-range kernel gives for the same 7-bit quantization.
TEST(QuantizedLinear, ReduceRangeQuantizesToSevenBitsWithinOneStep) {
  manual_seed(31);
  Linear fc(300, 40);
  const Tensor calib = Tensor::randn({64, 300}, 0.3f, 1.5f);
  QuantizeOptions o;
  o.reduce_range = true;
  const QuantizedLinear q = QuantizedLinear::from_float(fc, {calib}, o);
  EXPECT_TRUE(q.reduce_range());
  EXPECT_EQ(q.input_params().qmax, 127);
  EXPECT_EQ(q.output_params().qmax, 127);
  const bool u7 = int8_kernel_available(Int8Kernel::kAvx2U7);
  if (u7) EXPECT_EQ(q.kernel(), Int8Kernel::kAvx2U7);
  else std::cout << "[ note     ] no avx2u7 on this CPU: 7-bit data on the automatic kernel\n";
  const Tensor x = Tensor::randn({33, 300}, 0.3f, 2.0f);  // partly beyond the calibrated range
  const Tensor y = q(x);
  expect_matches_simulation(q, x, y, q.input_params());  // the simulation clamps at 127 too

  o.kernel = Int8Kernel::kScalar;  // same 7-bit quantization, the reference kernel
  const QuantizedLinear s = QuantizedLinear::from_float(fc, {calib}, o);
  EXPECT_EQ(s.input_params().qmax, 127);
  EXPECT_EQ(s(x).to_vector(), y.to_vector());

  // Chained uint8 outputs stay 7-bit, ready for the next reduce_range layer.
  const QuantizedTensor out = q.forward_u8(quantize(x, q.input_params()));
  EXPECT_LE(*std::max_element(out.data.begin(), out.data.end()), 127);
  EXPECT_GT(*std::max_element(out.data.begin(), out.data.end()), 100);  // and use the range
  // 8-bit data handed to the 7-bit kernel is refused, not silently saturated.
  if (u7) {
    const QuantizedTensor eight_bit = quantize(x, choose_u8_params(-3.0f, 3.0f));
    EXPECT_TRUE(throws_error_containing([&] { q(eight_bit); }, "needs activations in [0, 127]"));
  }
}

TEST(QuantizedLinear, LeadingAxesAndNoAutogradHistory) {
  manual_seed(16);
  Linear fc(8, 3);
  Tensor x = Tensor::randn({2, 5, 8});
  x.requires_grad_();
  const QuantizedLinear q = QuantizedLinear::from_float(fc, {x});
  const Tensor y = q(x);  // grad mode is on, input requires grad: still no history
  EXPECT_EQ(y.shape(), (Shape{2, 5, 3}));
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_TRUE(grad_enabled());  // and the guard was restored
  EXPECT_EQ(q(Tensor::empty({0, 8})).shape(), (Shape{0, 3}));
}

TEST(QuantizedLinear, BadInputsNameTheShapes) {
  Linear fc(5, 2);
  const QuantizedLinear q = QuantizedLinear::from_float(fc, {});
  EXPECT_TRUE(throws_error_containing([&] { q(Tensor::zeros({3, 7})); }, "input [3, 7]"));
  EXPECT_TRUE(throws_error_containing([&] { q(Tensor::zeros({3, 7})); }, "in_features = 5"));
  EXPECT_TRUE(throws_error_containing(
      [&] { QuantizedLinear::from_float(fc, {Tensor::zeros({4, 6})}); }, "[4, 6]"));
  EXPECT_TRUE(throws_error_containing([&] { QuantizedLinear()(Tensor::zeros({1, 5})); }, "empty"));
  EXPECT_TRUE(throws_error_containing(
      [&] { QuantizedLinear::from_float(fc, {}, {false, Int8Kernel::kNeonDot}); }, "neondot"));
}

TEST(QuantizedLinear, Uint8InputGivesExactlyTheFloatForwardsResult) {
  manual_seed(20);
  Linear fc(40, 12);
  const Tensor x = Tensor::randn({2, 5, 40});
  for (bool dynamic : {false, true}) {
    for (bool relu : {false, true}) {
      const QuantizedLinear q = QuantizedLinear::from_float(
          fc, dynamic ? std::vector<Tensor>{} : std::vector<Tensor>{x}, {relu});
      // The same bytes the float forward would make: the same GEMM, the same floats.
      const QuantParams p = dynamic ? dynamic_params(x) : q.input_params();
      const Tensor y = q(quantize(x, p));
      EXPECT_EQ(y.shape(), (Shape{2, 5, 12}));
      EXPECT_EQ(y.to_vector(), q(x).to_vector()) << "dynamic " << dynamic << " relu " << relu;
    }
  }
}

TEST(QuantizedLinear, ForwardU8WithinOneOutputLevelOfSimulation) {
  manual_seed(23);
  std::mt19937 rng(23);
  for (int trial = 0; trial < 8; ++trial) {
    const int64_t M = 1 + rng() % 40, K = 1 + rng() % 300, N = 1 + rng() % 70;
    Linear fc(K, N, trial % 3 != 0);
    const bool relu = trial % 2 == 1;
    const QuantizedLinear q =
        QuantizedLinear::from_float(fc, {Tensor::randn({64, K}, 0.3f, 1.5f)}, {relu});
    if (relu) {
      EXPECT_EQ(q.output_params().zero_point, 0);  // a ReLU's range starts at 0
    }
    // Input bytes with params of their own, not the calibrated ones: the layer must use them.
    const QuantParams p = choose_u8_params(-4.0f, 5.0f);
    const QuantizedTensor x = quantize(Tensor::randn({M, K}, 0.3f, 1.5f), p);
    const QuantizedTensor y = q.forward_u8(x);
    ASSERT_EQ(y.shape, (Shape{M, N}));
    EXPECT_EQ(y.params.scale, q.output_params().scale);
    EXPECT_EQ(y.params.zero_point, q.output_params().zero_point);
    expect_u8_within_one_level(y, simulate_linear(q, dequantize(x).to_vector(), M, p));
  }
}

// Direct double convolution of fake-quantized input x [N, C, H, W] (quantized with p) and the
// int8 weights (no im2col): y [N, OC, OH, OW], ReLU included.
std::vector<double> simulate_conv(const QuantizedConv2d& q, const Tensor& x, QuantParams p,
                                  int64_t OH, int64_t OW) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OC = q.out_channels(), KH = q.kernel_size().h, KW = q.kernel_size().w;
  const auto& o = q.options();
  const auto& qw = q.quantized_weight();
  const auto& sw = q.weight_scales();
  const std::vector<float> xv = x.to_vector();
  std::vector<double> y(N * OC * OH * OW);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < OC; ++oc)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = q.bias().empty() ? 0.0 : q.bias()[oc];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * o.stride.h - o.padding.h + kh * o.dilation.h;
                const int64_t iw = ow * o.stride.w - o.padding.w + kw * o.dilation.w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // zero padding
                acc += fake_quant(xv[((n * C + c) * H + ih) * W + iw], p) *
                       (double(sw[oc]) * qw[(oc * C + c) * KH * KW + kh * KW + kw]);
              }
          y[((n * OC + oc) * OH + oh) * OW + ow] = q.fuse_relu() ? std::max(acc, 0.0) : acc;
        }
  return y;
}

// A float output y of q against the simulation, within one input quantization step (see
// expect_matches_simulation).
void expect_conv_matches_simulation(const QuantizedConv2d& q, const Tensor& x, const Tensor& y,
                                    QuantParams p) {
  const int64_t N = x.size(0), OC = q.out_channels(), OH = y.size(2), OW = y.size(3);
  const int64_t K = x.size(1) * q.kernel_size().h * q.kernel_size().w;
  const std::vector<double> expected = simulate_conv(q, x, p, OH, OW);
  const std::vector<float> yv = y.to_vector();
  for (int64_t oc = 0; oc < OC; ++oc) {
    int amax = 0;
    for (int64_t k = 0; k < K; ++k) {
      amax = std::max(amax, std::abs(int(q.quantized_weight()[oc * K + k])));
    }
    const double step = double(p.scale) * q.weight_scales()[oc] * amax;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < OH * OW; ++i) {
        const int64_t at = (n * OC + oc) * OH * OW + i;
        ASSERT_LE(std::fabs(yv[at] - expected[at]), step + 1e-5 * (1 + std::fabs(expected[at])))
            << "n " << n << " oc " << oc << " pixel " << i;
      }
  }
}

struct ConvCase {
  int64_t C, OC, k;
  Conv2dOptions o;
  int64_t H, W;
  bool relu;
};
const std::vector<ConvCase> kConvCases = {
    {1, 8, 5, Conv2dOptions{1, 2}, 12, 12, true},    // FashionCnn conv1 geometry
    {8, 16, 5, Conv2dOptions{1, 2}, 7, 7, false},    // conv2 geometry
    {3, 5, 3, Conv2dOptions{2, 1}, 9, 8, false},     // stride 2
    {2, 4, 3, Conv2dOptions{1, 2, 2}, 10, 7, true},  // dilation 2
    {4, 3, 1, Conv2dOptions{}, 5, 6, false},         // 1x1
    {3, 11, 3, Conv2dOptions{1, 1}, 6, 5, true},     // OC, pixels not multiples of 8
};

// Given int8 weights are used as they are: scales unrelated to max|w|/127 and values far from
// +-127 would change under re-quantization, so agreement with a simulation built from the GIVEN
// Int8Weights (not from the layer's accessors) shows nothing was re-quantized.
TEST(QuantizedLinear, FromInt8UsesTheGivenWeightsAndRanges) {
  manual_seed(31);
  const int64_t M = 9, K = 37, N = 5;
  Linear fc(K, N, true);
  Int8Weights w;
  std::mt19937 rng(31);
  for (int64_t i = 0; i < N * K; ++i) w.values.push_back(static_cast<int8_t>(int(rng() % 41) - 20));
  for (int64_t n = 0; n < N; ++n) w.scales.push_back(0.01f * float(n + 1));
  // Input range [-1, 3] by hand: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
  const ActivationRanges r{-1.0f, 3.0f, -2.0f, 2.0f};
  const QuantizedLinear q = QuantizedLinear::from_int8(fc, w, r);
  EXPECT_FALSE(q.is_dynamic());
  EXPECT_NEAR(q.input_params().scale, 4.0 / 255.0, 1e-7);
  EXPECT_EQ(q.input_params().zero_point, 64);
  EXPECT_EQ(q.quantized_weight(), w.values);
  const Tensor x = Tensor::randn({M, K}, 0.5f, 1.0f);
  const std::vector<float> xv = x.to_vector(), yv = q(x).to_vector(), b = fc.bias.to_vector();
  const QuantParams p{4.0f / 255.0f, 64, 255};
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = b[n];
      for (int64_t k = 0; k < K; ++k)
        acc += fake_quant(xv[m * K + k], p) * double(w.scales[n]) * w.values[n * K + k];
      // One input level on a rounding tie moves the output by at most scale * s[n] * 20.
      EXPECT_NEAR(yv[m * N + n], acc, p.scale * w.scales[n] * 20 + 1e-4) << m << "," << n;
    }
  }
  // The calibration form gives the same weights and from_float's ranges.
  const QuantizedLinear qc = QuantizedLinear::from_int8(fc, w, std::vector<Tensor>{x});
  EXPECT_EQ(qc.quantized_weight(), w.values);
  EXPECT_EQ(qc.input_params().zero_point, QuantizedLinear::from_float(fc, {x}).input_params().zero_point);
}

TEST(QuantizedLayers, FromInt8RejectsBadWeightsAndRanges) {
  Linear fc(4, 2);
  Int8Weights w{std::vector<int8_t>(8, 1), {1.0f, 1.0f}};
  const ActivationRanges r{0.0f, 1.0f, 0.0f, 1.0f};
  Int8Weights short_values{std::vector<int8_t>(7, 1), {1.0f, 1.0f}};
  EXPECT_TRUE(throws_error_containing([&] { QuantizedLinear::from_int8(fc, short_values, r); }, "[2, 4] = 8"));
  Int8Weights bad_scale = w;
  bad_scale.scales[1] = 0.0f;
  EXPECT_TRUE(throws_error_containing([&] { QuantizedLinear::from_int8(fc, bad_scale, r); }, "scales[1]"));
  Int8Weights minus128 = w;
  minus128.values[3] = -128;
  EXPECT_TRUE(throws_error_containing([&] { QuantizedLinear::from_int8(fc, minus128, r); }, "-127, 127"));
  const ActivationRanges nan_range{0.0f, std::nanf(""), 0.0f, 1.0f};
  EXPECT_TRUE(throws_error_containing([&] { QuantizedLinear::from_int8(fc, w, nan_range); }, "input range"));
  Conv2d conv(2, 3, 3);
  Int8Weights cw{std::vector<int8_t>(3 * 2 * 9, 2), {0.5f, 0.5f, 0.5f}};
  const QuantizedConv2d qc = QuantizedConv2d::from_int8(conv, cw, r);
  EXPECT_EQ(qc.quantized_weight(), cw.values);
  cw.scales.pop_back();
  EXPECT_TRUE(throws_error_containing([&] { QuantizedConv2d::from_int8(conv, cw, r); }, "3 output channels"));
}

TEST(QuantizedConv2d, WithinOneStepOfSimulationForStridePaddingDilation) {
  manual_seed(17);
  for (const ConvCase& c : kConvCases) {
    Conv2d conv(c.C, c.OC, c.k, c.o);
    const Tensor x = Tensor::randn({3, c.C, c.H, c.W}, 0.2f, 1.0f);
    for (bool dynamic : {false, true}) {
      const QuantizedConv2d q = QuantizedConv2d::from_float(
          conv, dynamic ? std::vector<Tensor>{} : std::vector<Tensor>{x}, {c.relu});
      const Tensor y = q(x);
      const Tensor yf = [&] { NoGradGuard g; return conv(x); }();
      ASSERT_EQ(y.shape(), yf.shape());
      expect_conv_matches_simulation(q, x, y, dynamic ? dynamic_params(x) : q.input_params());
    }
  }
}

TEST(QuantizedConv2d, EveryAvailableKernelGivesIdenticalOutputs) {
  manual_seed(18);
  Conv2d conv(8, 16, 5, Conv2dOptions{1, 2});
  const Tensor x = Tensor::randn({2, 8, 14, 14});
  const std::vector<float> expected =
      QuantizedConv2d::from_float(conv, {x}, {true, Int8Kernel::kScalar})(x).to_vector();
  for (Int8Kernel k : int8_all_kernels()) {
    if (!int8_kernel_available(k) || int8_kernel_max_activation(k) < 255) continue;  // as above
    EXPECT_EQ(QuantizedConv2d::from_float(conv, {x}, {true, k})(x).to_vector(), expected)
        << int8_kernel_name(k);
  }
}

TEST(QuantizedConv2d, BadInputs) {
  Conv2d conv(3, 4, 3);
  const QuantizedConv2d q = QuantizedConv2d::from_float(conv, {});
  EXPECT_TRUE(throws_error_containing([&] { q(Tensor::zeros({1, 2, 8, 8})); }, "[1, 2, 8, 8]"));
  EXPECT_TRUE(throws_error_containing([&] { q(Tensor::zeros({2, 3, 8})); }, "[2, 3, 8]"));
  EXPECT_TRUE(throws_error_containing([&] { q(Tensor::zeros({1, 3, 2, 2})); }, "smaller than"));
  Conv2d grouped(4, 4, 3, Conv2dOptions{1, 0, 1, 2});
  EXPECT_TRUE(throws_error_containing([&] { QuantizedConv2d::from_float(grouped, {}); }, "groups"));
}

TEST(QuantizedConv2d, Uint8ForwardWithinOneOutputLevelOfSimulation) {
  manual_seed(19);
  for (const ConvCase& c : kConvCases) {
    Conv2d conv(c.C, c.OC, c.k, c.o);
    const Tensor x = Tensor::randn({3, c.C, c.H, c.W}, 0.2f, 1.0f);
    const QuantizedConv2d q = QuantizedConv2d::from_float(conv, {x}, {c.relu});
    if (c.relu) {
      EXPECT_EQ(q.output_params().zero_point, 0);  // a ReLU's range starts at 0
    }
    // Input bytes with params of their own, not the calibrated ones: the layer must use them.
    const QuantParams p = choose_u8_params(-2.5f, 3.5f);
    ASSERT_NE(p.scale, q.input_params().scale);
    const QuantizedTensor xq = quantize(x, p);
    const QuantizedTensor y = q(xq);
    const Tensor yf = [&] {
      NoGradGuard g;
      return conv(x);
    }();
    ASSERT_EQ(y.shape, yf.shape());
    EXPECT_EQ(y.params.scale, q.output_params().scale);
    EXPECT_EQ(y.params.zero_point, q.output_params().zero_point);
    expect_u8_within_one_level(y, simulate_conv(q, dequantize(xq), p, yf.size(2), yf.size(3)));
  }
}

TEST(QuantizedConv2d, Uint8ForwardOnTheScalarKernelIsIdentical) {
  manual_seed(24);
  Conv2d conv(8, 16, 5, Conv2dOptions{1, 2});
  const Tensor x = Tensor::randn({2, 8, 14, 14});
  const QuantizedTensor xq = quantize(x, choose_u8_params(-3.0f, 3.0f));
  const QuantizedConv2d fast = QuantizedConv2d::from_float(conv, {x}, {true});
  const QuantizedConv2d ref = QuantizedConv2d::from_float(conv, {x}, {true, Int8Kernel::kScalar});
  EXPECT_EQ(fast(xq).data, ref(xq).data) << int8_kernel_name(fast.kernel());
}

TEST(QuantizedLayers, Uint8BadInputsAndDynamicLayersGiveClearErrors) {
  Conv2d conv(3, 4, 3);
  const QuantizedTensor img = quantize(Tensor::zeros({1, 3, 8, 8}), {0.1f, 0});
  const QuantizedConv2d stat = QuantizedConv2d::from_float(conv, {Tensor::randn({2, 3, 8, 8})});
  EXPECT_EQ(stat(img).shape, (Shape{1, 4, 6, 6}));
  EXPECT_TRUE(
      throws_error_containing([&] { QuantizedConv2d::from_float(conv, {})(img); }, "dynamic"));
  const QuantizedTensor two_channels = quantize(Tensor::zeros({1, 2, 8, 8}), {0.1f, 0});
  EXPECT_TRUE(throws_error_containing([&] { stat(two_channels); }, "input [1, 2, 8, 8]"));
  const QuantizedTensor tiny = quantize(Tensor::zeros({1, 3, 2, 2}), {0.1f, 0});
  EXPECT_TRUE(throws_error_containing([&] { stat(tiny); }, "smaller than"));
  QuantizedTensor broken = img;
  broken.data.pop_back();
  EXPECT_TRUE(throws_error_containing([&] { stat(broken); }, "[1, 3, 8, 8] holds 191 bytes"));
  EXPECT_TRUE(throws_error_containing([&] { QuantizedConv2d()(img); }, "empty"));

  Linear fc(5, 2);
  const QuantizedTensor rows = quantize(Tensor::zeros({3, 5}), {0.1f, 0});
  const QuantizedLinear dyn = QuantizedLinear::from_float(fc, {});
  EXPECT_EQ(dyn(rows).shape(), (Shape{3, 2}));  // uint8 in, float out needs no output range
  EXPECT_TRUE(throws_error_containing([&] { dyn.forward_u8(rows); }, "dynamic"));
  const QuantizedLinear lin = QuantizedLinear::from_float(fc, {Tensor::randn({4, 5})});
  const QuantizedTensor wide = quantize(Tensor::zeros({3, 7}), {0.1f, 0});
  EXPECT_TRUE(throws_error_containing([&] { lin(wide); }, "input [3, 7]"));
  EXPECT_TRUE(throws_error_containing([&] { lin.forward_u8(wide); }, "in_features = 5"));
  EXPECT_TRUE(throws_error_containing([&] { QuantizedLinear()(rows); }, "empty"));
}

// Error bound of one quantized layer y = W x + b, element by element, given the float input x,
// a bound e_in on how far the quantized pipeline's input is from x, and the layer's scales:
//   |xq - x| <= e_in + sa/2 + dist(x, calibration range)      (rounding; clamping)
//   |y' - y| <= sum_k |W| |xq - x| + |xq| sw/2                (since y' - y = W (xq - x) + (Wq - W) xq)
// ReLU is 1-Lipschitz, so the bound passes through it unchanged.
std::vector<double> layer_error_bound(const QuantizedLinear& q, const Tensor& weight,
                                      const std::vector<float>& x, const std::vector<double>& e_in) {
  const int64_t K = q.in_features(), N = q.out_features();
  const QuantParams p = q.input_params();
  const double lo = p.scale * (0.0 - p.zero_point), hi = p.scale * (255.0 - p.zero_point);
  const std::vector<float> w = weight.to_vector();
  std::vector<double> dx(K), out(N, 0.0);
  for (int64_t k = 0; k < K; ++k) {
    const double clamp_dist = std::max({0.0, lo - x[k], x[k] - hi});
    dx[k] = e_in[k] + p.scale / 2 + clamp_dist;
  }
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      out[n] += std::fabs(w[n * K + k]) * dx[k] + (std::fabs(x[k]) + dx[k]) * q.weight_scales()[n] / 2;
    }
    out[n] = out[n] * 1.001 + 1e-5;  // float accumulation in the epilogue
  }
  return out;
}

TEST(QuantizedModels, FashionMlpAgreesWithFloatOnRealTestImages) {
  data::FashionMnist test;
  try {
    test = data::load_fashion_mnist("test");
  } catch (const Error& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed: " << e.what();
  }
  manual_seed(2024);
  FashionMlp model;
  model.eval();
  NoGradGuard g;
  const Tensor images = test.images.slice(0, 0, 256);       // evaluated
  const Tensor calib = test.images.slice(0, 1000, 1256);    // calibration: different images
  const QuantizedFashionMlp q = QuantizedFashionMlp::from_float(model, calib);
  const Tensor logits = model(images), qlogits = q(images);
  ASSERT_EQ(qlogits.shape(), (Shape{256, 10}));
  const std::vector<int64_t> a = argmax(logits, 1), b = argmax(qlogits, 1);
  int agree = 0;
  for (size_t i = 0; i < a.size(); ++i) agree += a[i] == b[i];
  EXPECT_GE(agree, int(0.95 * 256)) << agree << " / 256";

  // Logits within the propagated bound, example by example.
  const Tensor x = images.reshape({-1, 784});
  const Tensor h1 = relu(model.fc1().forward(x)), h2 = relu(model.fc2().forward(h1));
  double worst_ratio = 0;
  for (int64_t i = 0; i < 256; ++i) {
    const std::vector<double> e1 = layer_error_bound(q.fc1, model.fc1().weight, x.select(0, i).to_vector(),
                                                     std::vector<double>(784, 0.0));
    const std::vector<double> e2 = layer_error_bound(q.fc2, model.fc2().weight, h1.select(0, i).to_vector(), e1);
    const std::vector<double> e3 = layer_error_bound(q.fc3, model.fc3().weight, h2.select(0, i).to_vector(), e2);
    for (int64_t c = 0; c < 10; ++c) {
      const double err = std::fabs(qlogits.at({i, c}) - logits.at({i, c}));
      ASSERT_LE(err, e3[c]) << "image " << i << " class " << c;
      worst_ratio = std::max(worst_ratio, err / e3[c]);
    }
  }
  RecordProperty("worst_error_over_bound", std::to_string(worst_ratio));
}

// forward_u8 chains uint8 through fc1 -> fc2 (each requantizing in its epilogue to its calibrated
// output range, which is the next layer's calibrated input range) where forward quantizes each
// layer's float input: the same codes up to a rounding step, so nearly the same logits.
TEST(QuantizedModels, FashionMlpUint8ChainAgreesWithTheFloatChain) {
  data::FashionMnist test;
  try {
    test = data::load_fashion_mnist("test");
  } catch (const Error& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed: " << e.what();
  }
  manual_seed(2025);
  FashionMlp model;
  model.eval();
  NoGradGuard g;
  const Tensor images = test.images.slice(0, 0, 512);
  const QuantizedFashionMlp q = QuantizedFashionMlp::from_float(model, test.images.slice(0, 1000, 1256));
  // The chain is possible only because the ranges line up.
  EXPECT_EQ(q.fc1.output_params().scale, q.fc2.input_params().scale);
  EXPECT_EQ(q.fc1.output_params().zero_point, q.fc2.input_params().zero_point);
  const Tensor a = q.forward(images), b = q.forward_u8(images), f = model(images);
  ASSERT_EQ(b.shape(), (Shape{512, 10}));
  // A hidden code moves by at most one step, so the logits move by a small fraction of the
  // quantization error itself (float vs int8 of the same model).
  const double chain_diff = max(abs(a - b)).item(), quant_err = max(abs(a - f)).item();
  EXPECT_GT(chain_diff, 0.0) << "integer and float requantization should differ somewhere";
  EXPECT_LT(chain_diff, 0.5 * quant_err) << "chain vs float chain " << chain_diff << ", int8 vs float " << quant_err;
  const std::vector<int64_t> pa = argmax(a, 1), pb = argmax(b, 1);
  int agree = 0;
  for (size_t i = 0; i < pa.size(); ++i) agree += pa[i] == pb[i];
  EXPECT_GE(agree, 507) << agree << " / 512";
  // No output range on dynamic layers: the uint8 chain refuses them.
  const QuantizedFashionMlp dyn = QuantizedFashionMlp::from_float(model, Tensor());
  EXPECT_THROW(dyn.forward_u8(images), Error);
}

TEST(QuantizedModels, FashionCnnRunsAndAgreesOnRandomImages) {
  manual_seed(7);
  FashionCnn model;
  model.eval();
  NoGradGuard g;
  const Tensor images = Tensor::rand({64, 1, 28, 28});
  const QuantizedFashionCnn q = QuantizedFashionCnn::from_float(model, Tensor::rand({32, 1, 28, 28}));
  const Tensor logits = model(images), qlogits = q(images);
  ASSERT_EQ(qlogits.shape(), (Shape{64, 10}));
  const double rel = max(abs(qlogits - logits)).item() / max(abs(logits)).item();
  EXPECT_LT(rel, 0.1);
  EXPECT_TRUE(throws_error_containing([&] { q(Tensor::zeros({2, 1, 27, 28})); }, "[2, 1, 27, 28]"));
  // Without calibration images every layer is dynamic and the model runs on the float path.
  const QuantizedFashionCnn dyn = QuantizedFashionCnn::from_float(model, Tensor());
  EXPECT_TRUE(dyn.conv1.is_dynamic());
  EXPECT_LT(max(abs(dyn(images) - logits)).item() / max(abs(logits)).item(), 0.1);
}

// The uint8 pipeline (conv -> uint8 pool -> conv -> uint8 pool -> fc) on a CNN that has learned
// something -- a random one sits at chance, where accuracy says nothing: a short training run,
// then float vs int8 accuracy on held-out test images.
TEST(QuantizedModels, FashionCnnUint8PipelineKeepsTheFloatAccuracy) {
  data::FashionMnist train, test;
  try {
    train = data::load_fashion_mnist("train");
    test = data::load_fashion_mnist("test");
  } catch (const Error& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed: " << e.what();
  }
  manual_seed(3);
  FashionCnn model;
  {
    // 80 SGD steps of 64 images: ~79% accuracy in a second (~30 s under the sanitizers).
    const int64_t n_train = 5120;
    std::vector<int64_t> labels(train.labels.begin(), train.labels.begin() + n_train);
    data::DataLoader loader(train.images.slice(0, 0, n_train).contiguous(), labels, 64,
                            /*shuffle=*/true, /*seed=*/3);
    optim::SGD sgd(model.parameters(), {0.02f, 0.9f});
    for (const data::Batch& b : loader) {
      const Tensor loss = cross_entropy(model(b.x), b.y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
    }
  }
  model.eval();
  NoGradGuard g;
  // Calibrated on training images the model did not train on.
  // 8-bit activations, then 7-bit ones (reduce_range: the avx2u7 kernel where there is AVX2).
  for (bool reduce_range : {false, true}) {
    const QuantizedFashionCnn q = QuantizedFashionCnn::from_float(
        model, train.images.slice(0, 50000, 50256), Int8Kernel::kAuto, reduce_range);
    EXPECT_FALSE(q.conv1.is_dynamic());
    EXPECT_EQ(q.conv2.reduce_range(), reduce_range);
    const int64_t n = 4000;
    int64_t right_f = 0, right_q = 0, agree = 0;
    for (int64_t b = 0; b < n; b += 500) {
      const Tensor x = test.images.slice(0, b, b + 500);
      const std::vector<int64_t> pf = argmax(model(x), 1), pq = argmax(q(x), 1);
      for (int64_t i = 0; i < 500; ++i) {
        right_f += pf[i] == test.labels[b + i];
        right_q += pq[i] == test.labels[b + i];
        agree += pf[i] == pq[i];
      }
    }
    const double acc_f = double(right_f) / n, acc_q = double(right_q) / n;
    const std::string bits = reduce_range ? "7bit" : "8bit";
    RecordProperty("float_accuracy", std::to_string(acc_f));
    RecordProperty("int8_accuracy_" + bits, std::to_string(acc_q));
    EXPECT_GE(acc_f, 0.7) << "the short training run should have learned (chance is 0.10)";
    EXPECT_LE(std::fabs(acc_q - acc_f), 0.005) << bits << ": float " << acc_f << " int8 " << acc_q;
    EXPECT_GE(agree, n * 97 / 100) << bits << ": predictions that agree, of " << n;
  }
}

// ---- sparse execution (set_sparse: core/kernels/int8_sparse_{conv,linear}.h) ------------------------

// Zeroes a fraction of a float weight (a pruned layer); its int8 weights are then 0 there too.
void prune(Tensor& w, double fraction, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  NoGradGuard g;
  float* d = w.data();
  for (int64_t i = 0; i < w.numel(); ++i)
    if (u(rng) < fraction) d[i] = 0.0f;
}

TEST(QuantizedConv2d, SparseForwardIsTheDenseForwardBitForBit) {
  manual_seed(31);
  for (const ConvCase& c : kConvCases) {
    Conv2d conv(c.C, c.OC, c.k, c.o);
    prune(conv.weight, 0.8, 5);
    const Tensor x = Tensor::randn({3, c.C, c.H, c.W}, 0.2f, 1.0f);
    const QuantizedConv2d dense = QuantizedConv2d::from_float(conv, {x}, {c.relu});
    QuantizedConv2d sparse = dense;
    sparse.set_sparse(true);
    EXPECT_TRUE(sparse.sparse());
    EXPECT_LT(sparse.weight_density(), 0.5);  // ~0.2 (small layers vary)
    for (const int64_t batch : {1, 3}) {
      const QuantizedTensor xq = quantize(x.slice(0, 0, batch), choose_u8_params(-2.5f, 3.5f));
      const QuantizedTensor a = dense(xq), b = sparse(xq);
      EXPECT_EQ(a.shape, b.shape);
      EXPECT_EQ(a.data, b.data) << "C " << c.C << " OC " << c.OC << " batch " << batch;
      if (a.shape[2] >= 2 && a.shape[3] >= 2) {  // the fused pool = pooling the dense output
        const QuantizedTensor pa = max_pool2d(a, 2), pb = sparse.forward_pooled(xq, 2);
        EXPECT_EQ(pa.shape, pb.shape);
        EXPECT_EQ(pa.data, pb.data) << "pooled, C " << c.C << " batch " << batch;
        EXPECT_EQ(dense.forward_pooled(xq, 2).data, pa.data);
      }
    }
    sparse.set_sparse(false);
    EXPECT_FALSE(sparse.sparse());
  }
  EXPECT_TRUE(throws_error_containing([] { QuantizedConv2d().set_sparse(true); }, "empty"));
}

TEST(QuantizedLinear, SparseForwardIsTheDenseForwardBitForBit) {
  manual_seed(32);
  Linear fc(784, 10);
  prune(fc.weight, 0.96, 6);  // ~310 non-zeros: batches up to 13 rows take the sparse kernel
  const Tensor x = Tensor::randn({20, 784});
  const QuantizedLinear dense = QuantizedLinear::from_float(fc, {x});
  QuantizedLinear sparse = dense;
  sparse.set_sparse(true);
  ASSERT_TRUE(sparse.sparse());
  for (const int64_t batch : {1, 2, 20}) {  // 20 rows: over kSparseWork, the dense GEMM again
    const Tensor xb = x.slice(0, 0, batch);
    EXPECT_EQ(dense(xb).to_vector(), sparse(xb).to_vector()) << "batch " << batch;
    const QuantizedTensor xq = quantize(xb, dense.input_params());
    EXPECT_EQ(dense(xq).to_vector(), sparse(xq).to_vector()) << "uint8 input, batch " << batch;
  }
  EXPECT_TRUE(throws_error_containing([] { QuantizedLinear().set_sparse(true); }, "empty"));
}

}  // namespace
}  // namespace nibble::nn
