// Quantized layers (nn/quantized.h): the AVX2 activation quantizer against its scalar definition,
// QuantizedLinear / QuantizedConv2d against a double-precision simulation of the same quantization
// (same scales, zero points, fake-quantized weights and inputs), every available int8 kernel
// against the scalar one, and the quantized Fashion-MNIST MLP against the float model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/autograd.h"
#include "core/io/fashion_mnist.h"
#include "gradcheck.h"
#include "nn/quantized.h"
#include "nn/quantized_models.h"

namespace nibble::nn {
namespace {

using nibble::testing::throws_error_containing;

// The simulation's quantizer, in double: q = clamp(round(x / s) + za, 0, 255).
double fake_quant(double x, QuantParams p) {
  const double q = std::clamp(std::nearbyint(x / p.scale) + p.zero_point, 0.0, 255.0);
  return p.scale * (q - p.zero_point);
}

QuantParams dynamic_params(const Tensor& x) {
  const std::vector<float> v = x.to_vector();
  float lo = 0, hi = 0;
  for (float f : v) lo = std::min(lo, f), hi = std::max(hi, f);
  return choose_u8_params(lo, hi);
}

// Checks y [M, N] (from QuantizedLinear q on x [M, K]) against the double simulation.
// "Within one quantization step": the float and double quantizers (x * (1/s) + za rounded in float
// vs x / s in double) may pick neighbouring levels for an input sitting on a rounding tie; one
// input level moves output n by at most s * sw[n] * max_k |qw[n,k]|. Everything else is exact
// int32 arithmetic, so apart from ties the two agree to float rounding.
void expect_matches_simulation(const QuantizedLinear& q, const Tensor& x, const Tensor& y,
                               QuantParams p) {
  const int64_t M = x.size(0), K = q.in_features(), N = q.out_features();
  const std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  const auto& qw = q.quantized_weight();
  const auto& sw = q.weight_scales();
  // A row m is "off" when some output differs by more than float rounding: one input of that row
  // sat on a rounding tie (which then moves all N outputs of the row).
  std::vector<bool> row_off(M, false);
  for (int64_t n = 0; n < N; ++n) {
    int amax = 0;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::abs(int(qw[n * K + k])));
    const double step = double(p.scale) * sw[n] * amax;
    for (int64_t m = 0; m < M; ++m) {
      double acc = q.bias().empty() ? 0.0 : q.bias()[n];
      for (int64_t k = 0; k < K; ++k) {
        acc += fake_quant(xv[m * K + k], p) * (double(sw[n]) * qw[n * K + k]);
      }
      if (q.fuse_relu()) acc = std::max(acc, 0.0);
      const double err = std::fabs(yv[m * N + n] - acc);
      ASSERT_LE(err, step + 1e-5 * (1 + std::fabs(acc))) << "m " << m << " n " << n;
      if (err > 1e-5 * (1 + std::fabs(acc))) row_off[m] = true;
    }
  }
  // Ties need x / s within ~1e-5 of k + 1/2: rare, so nearly every row agrees to float rounding.
  EXPECT_LE(std::count(row_off.begin(), row_off.end(), true), std::max<int64_t>(2, M / 10));
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

// Direct double convolution of fake-quantized input and weights (no im2col), same params.
void expect_conv_matches_simulation(const QuantizedConv2d& q, const Tensor& x, const Tensor& y,
                                    QuantParams p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OC = q.out_channels(), KH = q.kernel_size().h, KW = q.kernel_size().w;
  const auto& o = q.options();
  const int64_t OH = y.size(2), OW = y.size(3), K = C * KH * KW;
  const auto& qw = q.quantized_weight();
  const auto& sw = q.weight_scales();
  const std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  for (int64_t oc = 0; oc < OC; ++oc) {
    int amax = 0;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::abs(int(qw[oc * K + k])));
    const double step = double(p.scale) * sw[oc] * amax;
    for (int64_t n = 0; n < N; ++n)
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
          if (q.fuse_relu()) acc = std::max(acc, 0.0);
          const double got = yv[((n * OC + oc) * OH + oh) * OW + ow];
          ASSERT_LE(std::fabs(got - acc), step + 1e-5 * (1 + std::fabs(acc)))
              << "n " << n << " oc " << oc << " oh " << oh << " ow " << ow;
        }
  }
}

TEST(QuantizedConv2d, WithinOneStepOfSimulationForStridePaddingDilation) {
  manual_seed(17);
  struct Case { int64_t C, OC, k; Conv2dOptions o; int64_t H, W; bool relu; };
  const std::vector<Case> cases = {
      {1, 8, 5, Conv2dOptions{1, 2}, 12, 12, true},          // FashionCnn conv1 geometry
      {8, 16, 5, Conv2dOptions{1, 2}, 7, 7, false},          // conv2 geometry
      {3, 5, 3, Conv2dOptions{2, 1}, 9, 8, false},           // stride 2
      {2, 4, 3, Conv2dOptions{1, 2, 2}, 10, 7, true},        // dilation 2
      {4, 3, 1, Conv2dOptions{}, 5, 6, false},               // 1x1
  };
  for (const Case& c : cases) {
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
  const Tensor h1 = relu(model.fc1->forward(x)), h2 = relu(model.fc2->forward(h1));
  double worst_ratio = 0;
  for (int64_t i = 0; i < 256; ++i) {
    const std::vector<double> e1 = layer_error_bound(q.fc1, model.fc1->weight, x.select(0, i).to_vector(),
                                                     std::vector<double>(784, 0.0));
    const std::vector<double> e2 = layer_error_bound(q.fc2, model.fc2->weight, h1.select(0, i).to_vector(), e1);
    const std::vector<double> e3 = layer_error_bound(q.fc3, model.fc3->weight, h2.select(0, i).to_vector(), e2);
    for (int64_t c = 0; c < 10; ++c) {
      const double err = std::fabs(qlogits.at({i, c}) - logits.at({i, c}));
      ASSERT_LE(err, e3[c]) << "image " << i << " class " << c;
      worst_ratio = std::max(worst_ratio, err / e3[c]);
    }
  }
  RecordProperty("worst_error_over_bound", std::to_string(worst_ratio));
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
}

}  // namespace
}  // namespace nibble::nn
