// Module 04 — graded tests for compression/quantization.h (100 points). Expected values are worked
// out by hand in the comments or computed here by an independent formula (quant_testing.h rounds
// half to even without nearbyint), never taken from a solution's output. Run them: `nibble test 04`.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "compression/quantization.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "modules/04_quantization/tests/quant_testing.h"
#include "modules/graded.h"

namespace {

using nibble::QParams;
using nibble::QScheme;
using nibble::Shape;
using nibble::Tensor;
using nibble::grading::hint;
using namespace quant_testing;

void expect_codes(const Tensor& got, const std::vector<float>& want, const std::string& what) {
  const std::vector<float> g = values(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(g[i], want[i]) << what << ", element " << i;
}

}  // namespace

GRADED_TEST(QuantGraded, CalculateQParamsAffineByHand, 8) {
  // [-1, 3] in [0, 255]: scale = 4/255, zero_point = 0 - round(-1 / (4/255)) = round(63.75) = 64.
  QParams qp = nibble::calculate_qparams({-1.0f}, {3.0f}, false, 0, 255);
  ASSERT_EQ(qp.scale.size(), 1u) << "one range -> one scale";
  ASSERT_EQ(qp.zero_point.size(), 1u) << "one range -> one zero point";
  EXPECT_NEAR(qp.scale[0], 4.0 / 255.0, 1e-8) << "affine [-1, 3] in [0, 255]"
      << hint("255 steps between 0 and 255: divide by quant_max - quant_min, not + 1");
  EXPECT_EQ(qp.zero_point[0], 64) << "affine [-1, 3] in [0, 255]"
      << hint("zero_point = quant_min - round(min / scale): 63.75 rounds to 64 (do not truncate)");
  EXPECT_EQ(qp.quant_min, 0);
  EXPECT_EQ(qp.quant_max, 255);
  EXPECT_EQ(qp.ch_axis, -1) << "a single range is per tensor";
  // [0.5, 2] widens to [0, 2] (real 0 must be a code): scale 2/255, zero_point 0.
  qp = nibble::calculate_qparams({0.5f}, {2.0f}, false, 0, 255);
  EXPECT_NEAR(qp.scale[0], 2.0 / 255.0, 1e-8) << "affine [0.5, 2]" << hint("widen the range to contain 0 first");
  EXPECT_EQ(qp.zero_point[0], 0) << "affine [0.5, 2]";
  // [-3, -1] widens to [-3, 0]: scale 3/255, zero_point = 0 - round(-255) = 255.
  qp = nibble::calculate_qparams({-3.0f}, {-1.0f}, false, 0, 255);
  EXPECT_NEAR(qp.scale[0], 3.0 / 255.0, 1e-8) << "affine [-3, -1]" << hint("widen the range to contain 0 first");
  EXPECT_EQ(qp.zero_point[0], 255) << "affine [-3, -1]";
  // 4 bits [0, 15], range [-2.5, 12.5]: scale 15/15 = 1, zero_point = 0 - round(-2.5) = 2 (half to
  // even: -2.5 -> -2; half away from zero would give 3).
  qp = nibble::calculate_qparams({-2.5f}, {12.5f}, false, 0, 15);
  EXPECT_NEAR(qp.scale[0], 1.0, 1e-7) << "4-bit affine [-2.5, 12.5]";
  EXPECT_EQ(qp.zero_point[0], 2) << "4-bit affine [-2.5, 12.5]" << hint("torch rounds the zero point half to even");
  // A signed range: [-1, 3] in [-128, 127]: scale 4/255, zero_point = -128 + 64 = -64.
  qp = nibble::calculate_qparams({-1.0f}, {3.0f}, false, -128, 127);
  EXPECT_NEAR(qp.scale[0], 4.0 / 255.0, 1e-8) << "affine [-1, 3] in [-128, 127]";
  EXPECT_EQ(qp.zero_point[0], -64) << "affine [-1, 3] in [-128, 127]" << hint("zero_point = quant_min - round(min/scale)");
  // An all-zero range: the smallest scale, and real 0 at code 0.
  qp = nibble::calculate_qparams({0.0f}, {0.0f}, false, 0, 255);
  EXPECT_EQ(qp.scale[0], nibble::kMinScale) << "affine [0, 0]" << hint("scale = max(scale, kMinScale)");
  EXPECT_EQ(qp.zero_point[0], 0) << "affine [0, 0]";
}

GRADED_TEST(QuantGraded, CalculateQParamsSymmetricByHand, 6) {
  // [-1, 3] -> a = 3; scale = 3 / (255 / 2) = 3 / 127.5; signed: zero point 0.
  QParams qp = nibble::calculate_qparams({-1.0f}, {3.0f}, true, -128, 127);
  ASSERT_EQ(qp.scale.size(), 1u);
  EXPECT_NEAR(qp.scale[0], 3.0 / 127.5, 1e-8) << "symmetric [-1, 3] in [-128, 127]"
      << hint("a = max(-min, max); scale = a / ((quant_max - quant_min) / 2)");
  EXPECT_EQ(qp.zero_point[0], 0) << "symmetric, signed range";
  // Unsigned: the zero point is the middle code, (0 + 255 + 1) / 2 = 128.
  qp = nibble::calculate_qparams({-1.0f}, {3.0f}, true, 0, 255);
  EXPECT_NEAR(qp.scale[0], 3.0 / 127.5, 1e-8) << "symmetric [-1, 3] in [0, 255]";
  EXPECT_EQ(qp.zero_point[0], 128) << "symmetric, unsigned range" << hint("(quant_min + quant_max + 1) / 2");
  // 4 bits [-8, 7], [-2, 1]: a = max(2, 1) = 2 (the NEGATIVE end is the larger), scale = 2 / 7.5.
  qp = nibble::calculate_qparams({-2.0f}, {1.0f}, true, -8, 7);
  EXPECT_NEAR(qp.scale[0], 2.0 / 7.5, 1e-7) << "symmetric [-2, 1] in [-8, 7]"
      << hint("the symmetric range must cover max(|min|, |max|)");
  EXPECT_EQ(qp.zero_point[0], 0);
  // [0.5, 2] widened to [0, 2]: a = 2 -> scale 2 / 127.5.
  qp = nibble::calculate_qparams({0.5f}, {2.0f}, true, -128, 127);
  EXPECT_NEAR(qp.scale[0], 2.0 / 127.5, 1e-8) << "symmetric [0.5, 2]";
  qp = nibble::calculate_qparams({0.0f}, {0.0f}, true, -128, 127);
  EXPECT_EQ(qp.scale[0], nibble::kMinScale) << "symmetric [0, 0]" << hint("scale = max(scale, kMinScale)");
}

GRADED_TEST(QuantGraded, CalculateQParamsPerChannel, 5) {
  // Three ranges, affine [0, 255]: [-1, 3] -> (4/255, 64); [0, 2] -> (2/255, 0); [-3, -1] -> (3/255, 255).
  const QParams qp = nibble::calculate_qparams({-1.0f, 0.0f, -3.0f}, {3.0f, 2.0f, -1.0f}, false, 0, 255, 0);
  ASSERT_EQ(qp.scale.size(), 3u) << "three ranges -> three scales" << hint("one scale per channel");
  ASSERT_EQ(qp.zero_point.size(), 3u) << "three ranges -> three zero points";
  EXPECT_EQ(qp.ch_axis, 0) << "ch_axis is copied into the result";
  const double scale[3] = {4.0 / 255.0, 2.0 / 255.0, 3.0 / 255.0};
  const int64_t zp[3] = {64, 0, 255};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(qp.scale[c], scale[c], 1e-8) << "channel " << c;
    EXPECT_EQ(qp.zero_point[c], zp[c]) << "channel " << c;
  }
  // Symmetric per channel, int8 weights as nn::QuantizedLinear stores them ([-127, 127]):
  // scale = max|w| / 127 per row.
  const QParams w = nibble::calculate_qparams({-0.5f, -2.0f}, {1.27f, 0.1f}, true, -127, 127, 0);
  ASSERT_EQ(w.scale.size(), 2u);
  EXPECT_NEAR(w.scale[0], 1.27 / 127.0, 1e-7) << "row 0 of a weight";
  EXPECT_NEAR(w.scale[1], 2.0 / 127.0, 1e-7) << "row 1 of a weight";
  EXPECT_EQ(w.zero_point[0], 0);
  EXPECT_EQ(w.zero_point[1], 0);
}

GRADED_TEST(QuantGraded, QuantizeRoundsHalfToEvenAndClamps, 9) {
  // scale 0.5, zero point 10, [0, 255]. x / scale: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0 (half to
  // even), 6.2 -> 6, 0 -> 0; then + 10. -100 -> -200 + 10 -> clamped to 0; 200 -> 410 -> 255.
  const Tensor x = Tensor::from_vector({0.25f, 0.75f, 1.25f, -0.25f, 3.1f, 0.0f, -100.0f, 200.0f}, {2, 4});
  const Tensor q = nibble::quantize(x, per_tensor(0.5f, 10, 0, 255));
  ASSERT_EQ(q.shape(), (Shape{2, 4})) << "quantize keeps the shape";
  expect_codes(q, {10, 12, 12, 10, 16, 10, 0, 255}, "quantize, scale 0.5, zero point 10"
      + hint("round half to EVEN (std::nearbyint), add the zero point, then clamp to [quant_min, quant_max]"));
  // Signed 4 bits [-8, 7], scale 1: -9.7 -> -10 -> -8; 7.5 -> 8 -> 7; -8.5 -> -8; 6.5 -> 6; -0.4 -> 0.
  const Tensor s = nibble::quantize(Tensor::from_vector({-9.7f, 7.5f, -8.5f, 6.5f, -0.4f}), per_tensor(1.0f, 0, -8, 7));
  expect_codes(s, {-8, 7, -8, 6, 0}, "quantize, signed 4 bits" + hint("clamp to [-8, 7]; 6.5 rounds to 6"));
  // A non-contiguous input (a transpose) is quantized element by element in its own order.
  const Tensor t = Tensor::from_vector({0.0f, 1.0f, 2.0f, 3.0f}, {2, 2}).transpose(0, 1);
  expect_codes(nibble::quantize(t, per_tensor(1.0f, 0, 0, 255)), {0, 2, 1, 3}, "quantize of a transposed [2, 2]");
}

GRADED_TEST(QuantGraded, RoundTripWithinHalfAScale, 6) {
  // 8 bits, scale 0.02, zero point 100: representable range [0.02·(0 − 100), 0.02·(255 − 100)] = [−2, 3.1].
  const QParams qp = per_tensor(0.02f, 100, 0, 255);
  const std::vector<float> xs = uniform(2000, -2.0f, 3.1f, 4);
  const std::vector<float> back = values(nibble::dequantize(nibble::quantize(Tensor::from_vector(xs), qp), qp));
  ASSERT_EQ(back.size(), xs.size());
  double worst = 0.0;
  for (size_t i = 0; i < xs.size(); ++i) worst = std::max(worst, std::fabs(double(back[i]) - xs[i]));
  EXPECT_LE(worst, 0.01 + 1e-6) << "8-bit round trip inside the range" << hint("|dequantize(quantize(x)) - x| <= scale/2");
  // 4 bits, scale 0.3, zero point 3: range [-0.9, 3.6]; outside values go to the nearest end.
  const QParams q4 = per_tensor(0.3f, 3, 0, 15);
  const std::vector<float> x4 = uniform(500, -0.9f, 3.6f, 5);
  const std::vector<float> b4 = values(nibble::dequantize(nibble::quantize(Tensor::from_vector(x4), q4), q4));
  for (size_t i = 0; i < x4.size(); ++i) ASSERT_LE(std::fabs(double(b4[i]) - x4[i]), 0.15 + 1e-6) << "x = " << x4[i];
  const std::vector<float> ends = values(nibble::dequantize(nibble::quantize(Tensor::from_vector({10.0f, -5.0f}), q4), q4));
  EXPECT_NEAR(ends[0], 3.6, 1e-6) << "10 with range [-0.9, 3.6]" << hint("values beyond the range clamp to its end");
  EXPECT_NEAR(ends[1], -0.9, 1e-6) << "-5 with range [-0.9, 3.6]";
}

GRADED_TEST(QuantGraded, PerChannelBeatsPerTensor, 8) {
  // By hand, ch_axis 0, scales (0.5, 10), signed 4 bits: row 0 / 0.5 = (2, -4, 1); row 1 / 10 = (1, 2, -4).
  const Tensor x = Tensor::from_vector({1, -2, 0.5f, 10, 20, -40}, {2, 3});
  const QParams rows = per_channel({0.5f, 10.0f}, {0, 0}, -8, 7, 0);
  expect_codes(nibble::quantize(x, rows), {2, -4, 1, 1, 2, -4},
               "per-channel quantize along axis 0" + hint("element (i, j) uses scale[i] when ch_axis = 0"));
  // ch_axis 1: columns scaled by (1, 10): [[1, 10], [3, 30]] -> [[1, 1], [3, 3]].
  const QParams cols = per_channel({1.0f, 10.0f}, {0, 0}, -8, 7, 1);
  expect_codes(nibble::quantize(Tensor::from_vector({1, 10, 3, 30}, {2, 2}), cols), {1, 1, 3, 3},
               "per-channel quantize along axis 1" + hint("use channel_of_each_element"));
  // A weight [4, 16] whose row 2 is 100x larger: one per-tensor int8 scale is set by that row and
  // crushes the others; per-channel scales do not.
  std::vector<float> w = uniform(64, -1.0f, 1.0f, 6);
  for (int j = 0; j < 16; ++j) w[2 * 16 + j] *= 100.0f;
  const Tensor W = Tensor::from_vector(w, {4, 16});
  std::vector<float> lo(4, 0.0f), hi(4, 0.0f);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 16; ++j) {
      lo[i] = std::min(lo[i], w[i * 16 + j]);
      hi[i] = std::max(hi[i], w[i * 16 + j]);
    }
  const float glo = *std::min_element(lo.begin(), lo.end()), ghi = *std::max_element(hi.begin(), hi.end());
  const QParams pc = nibble::calculate_qparams(lo, hi, true, -127, 127, 0);
  const QParams pt = nibble::calculate_qparams({glo}, {ghi}, true, -127, 127);
  const std::vector<float> rc = values(nibble::dequantize(nibble::quantize(W, pc), pc));
  const std::vector<float> rt = values(nibble::dequantize(nibble::quantize(W, pt), pt));
  double err_c = 0.0, err_t = 0.0;  // squared error on the three small rows
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 16 && i != 2; ++j) {
      err_c += std::pow(rc[i * 16 + j] - w[i * 16 + j], 2);
      err_t += std::pow(rt[i * 16 + j] - w[i * 16 + j], 2);
    }
  EXPECT_LT(err_c * 100.0, err_t) << "squared error of the small rows: per channel " << err_c << ", per tensor " << err_t
                                  << hint("each row must use its own scale");
}

GRADED_TEST(QuantGraded, DequantizeByHand, 5) {
  // scale 0.5, zero point 10: 0.5·(12 − 10) = 1, 0.5·(0 − 10) = −5, 0, 0.5·245 = 122.5.
  const Tensor r = nibble::dequantize(Tensor::from_vector({12, 0, 10, 255}, {2, 2}), per_tensor(0.5f, 10, 0, 255));
  ASSERT_EQ(r.shape(), (Shape{2, 2}));
  expect_codes(r, {1.0f, -5.0f, 0.0f, 122.5f}, "dequantize, scale 0.5, zero point 10" + hint("scale · (q − zero_point)"));
  // Per channel along axis 1: scales (0.5, 2), zero points (1, −1), codes [[2, 3], [−1, 0]]
  // -> [[0.5·1, 2·4], [0.5·(−2), 2·1]] = [[0.5, 8], [−1, 2]].
  const QParams qp = per_channel({0.5f, 2.0f}, {1, -1}, -8, 7, 1);
  expect_codes(nibble::dequantize(Tensor::from_vector({2, 3, -1, 0}, {2, 2}), qp), {0.5f, 8.0f, -1.0f, 2.0f},
               "per-channel dequantize along axis 1" + hint("column j uses scale[j] and zero_point[j]"));
}

GRADED_TEST(QuantGraded, FakeQuantizeForward, 5) {
  // scale 1, zero point 0, [-2, 1]: (-3, -1.4, 0.6, 1.5) -> (-2, -1, 1, 1).
  const Tensor y = nibble::fake_quantize(Tensor::from_vector({-3.0f, -1.4f, 0.6f, 1.5f}), per_tensor(1.0f, 0, -2, 1));
  expect_codes(y, {-2, -1, 1, 1}, "fake_quantize, [-2, 1]" + hint("forward: dequantize(quantize(x))"));
  // Per channel along axis 0 on random values, against the formula computed here.
  const std::vector<float> xs = uniform(15, -3.0f, 3.0f, 7);
  const QParams qp = per_channel({0.1f, 0.25f, 0.7f}, {3, 0, -2}, -8, 7, 0);
  const std::vector<float> got = values(nibble::fake_quantize(Tensor::from_vector(xs, {3, 5}), qp));
  ASSERT_EQ(got.size(), 15u);
  for (int i = 0; i < 15; ++i) {
    const int c = i / 5;
    const double q = std::clamp(round_half_even(double(xs[i]) / qp.scale[c]) + qp.zero_point[c], -8.0, 7.0);
    EXPECT_NEAR(got[i], qp.scale[c] * (q - qp.zero_point[c]), 1e-6) << "element " << i << ", x = " << xs[i];
  }
}

GRADED_TEST(QuantGraded, FakeQuantizeStraightThroughGradient, 10) {
  // [-2, 1], scale 1: round(x) for x = (-3, -2.3, -1.4, 0.6, 1.2, 1.5) is (-3, -2, -1, 1, 1, 2):
  // inside [-2, 1] for elements 1..4 only. With upstream weights (1..6): grad = (0, 2, 3, 4, 5, 0).
  Tensor x = Tensor::from_vector({-3.0f, -2.3f, -1.4f, 0.6f, 1.2f, 1.5f}).requires_grad_();
  const Tensor y = nibble::fake_quantize(x, per_tensor(1.0f, 0, -2, 1));
  ASSERT_TRUE(y.requires_grad()) << "fake_quantize must be on the tape"
                                 << hint("write it with apply_function, not to_vector/from_vector alone");
  nibble::mul(y, Tensor::from_vector({1, 2, 3, 4, 5, 6})).sum().backward();
  ASSERT_TRUE(x.grad().defined()) << "no gradient reached x";
  expect_codes(x.grad(), {0, 2, 3, 4, 5, 0},
               "STE gradient" + hint("1 where quant_min <= round(x/scale) + zp <= quant_max (ends included), 0 outside"));
  // Gradcheck-style, per channel along axis 1: the STE is the derivative of the UNROUNDED surrogate
  //   s·(clamp(x/s + zp, quant_min − ½, quant_max + ½) − zp),
  // whose central difference is computed here and compared with the vector-Jacobian product.
  const QParams qp = per_channel({0.2f, 0.5f, 1.0f, 0.05f}, {0, 2, -3, 1}, -4, 3, 1);
  std::vector<float> xs = uniform(12, -3.0f, 3.0f, 8);
  const std::vector<float> up = uniform(12, -1.0f, 1.0f, 9);
  int inside = 0, outside = 0;
  for (int i = 0; i < 12; ++i) {  // keep every point away from the surrogate's kinks
    const int c = i % 4;
    double u = xs[i] / qp.scale[c] + qp.zero_point[c];
    if (std::fabs(u - (qp.quant_min - 0.5)) < 0.05 || std::fabs(u - (qp.quant_max + 0.5)) < 0.05) xs[i] += 0.1f * qp.scale[c];
    u = xs[i] / qp.scale[c] + qp.zero_point[c];
    (u >= qp.quant_min - 0.5 && u <= qp.quant_max + 0.5 ? inside : outside) += 1;
  }
  ASSERT_GT(inside, 0) << "test data";
  ASSERT_GT(outside, 0) << "test data";
  Tensor xt = Tensor::from_vector(xs, {3, 4}).requires_grad_();
  const Tensor yt = nibble::fake_quantize(xt, qp);
  ASSERT_TRUE(yt.requires_grad()) << "per-channel fake_quantize must be on the tape";
  nibble::mul(yt, Tensor::from_vector(up, {3, 4})).sum().backward();
  ASSERT_TRUE(xt.grad().defined());
  const std::vector<float> g = values(xt.grad());
  for (int i = 0; i < 12; ++i) {
    const int c = i % 4;
    const double s = qp.scale[c], zp = qp.zero_point[c], h = 1e-4;
    auto surrogate = [&](double v) {
      return s * (std::clamp(v / s + zp, qp.quant_min - 0.5, qp.quant_max + 0.5) - zp);
    };
    const double numeric = (surrogate(xs[i] + h) - surrogate(xs[i] - h)) / (2 * h);
    EXPECT_NEAR(g[i], up[i] * numeric, 1e-3) << "element " << i << ", x = " << xs[i] << ", channel " << c
        << hint("per-channel STE: the mask uses the element's own scale and zero point");
  }
}

GRADED_TEST(QuantGraded, MinMaxObserver, 6) {
  nibble::MinMaxObserver obs;  // per tensor, uint8
  obs.forward(Tensor::from_vector({1, -2, 3}));
  obs.forward(Tensor::from_vector({0.5f, 4}));
  ASSERT_EQ(obs.min_val().size(), 1u) << "per tensor: one min";
  EXPECT_EQ(obs.min_val()[0], -2.0f) << "min over both batches" << hint("keep the running min, not the last batch's");
  EXPECT_EQ(obs.max_val()[0], 4.0f) << "max over both batches";
  // [-2, 4]: scale 6/255, zero point round(2 / (6/255)) = 85.
  const QParams qp = obs.calculate_qparams();
  EXPECT_NEAR(qp.scale[0], 6.0 / 255.0, 1e-8);
  EXPECT_EQ(qp.zero_point[0], 85);
  nibble::MinMaxObserver positive;
  positive.forward(Tensor::from_vector({1, 2}));
  positive.forward(Tensor::from_vector({3, 5}));
  EXPECT_EQ(positive.min_val()[0], 1.0f) << "all-positive batches" << hint("the first batch starts the range; do not start from 0");
  EXPECT_EQ(positive.max_val()[0], 5.0f);
  // Per channel along axis 0 (rows) and axis 1 (columns).
  nibble::MinMaxObserver rows(QScheme::kPerChannelAffine, 8, false, 0);
  rows.forward(Tensor::from_vector({1, -2, 3, 4, 5, 6}, {2, 3}));
  rows.forward(Tensor::from_vector({0, 0, 0, 10, -1, 2}, {2, 3}));
  ASSERT_EQ(rows.min_val().size(), 2u) << "per channel along axis 0 of [2, 3]" << hint("one min per row");
  EXPECT_EQ(rows.min_val()[0], -2.0f);
  EXPECT_EQ(rows.min_val()[1], -1.0f);
  EXPECT_EQ(rows.max_val()[0], 3.0f);
  EXPECT_EQ(rows.max_val()[1], 10.0f);
  nibble::MinMaxObserver cols(QScheme::kPerChannelSymmetric, 8, true, 1);
  cols.forward(Tensor::from_vector({1, 2, 3, 4}, {2, 2}));
  ASSERT_EQ(cols.max_val().size(), 2u) << "per channel along axis 1";
  EXPECT_EQ(cols.min_val()[0], 1.0f);
  EXPECT_EQ(cols.min_val()[1], 2.0f);
  EXPECT_EQ(cols.max_val()[0], 3.0f);
  EXPECT_EQ(cols.max_val()[1], 4.0f);
  EXPECT_EQ(cols.calculate_qparams().scale.size(), 2u);
}

GRADED_TEST(QuantGraded, MovingAverageMinMaxObserver, 6) {
  // c = 0.25, batches (1, 4), (-1, 2), (2, 6):
  //   min: 1 -> 1 + 0.25·(-1 - 1) = 0.5 -> 0.5 + 0.25·(2 - 0.5) = 0.875
  //   max: 4 -> 4 + 0.25·(2 - 4) = 3.5 -> 3.5 + 0.25·(6 - 3.5) = 4.125
  nibble::MovingAverageMinMaxObserver obs(0.25);
  obs.forward(Tensor::from_vector({1, 4}));
  ASSERT_EQ(obs.min_val().size(), 1u);
  EXPECT_EQ(obs.min_val()[0], 1.0f) << "the first batch sets the range" << hint("do not average the first batch with 0");
  EXPECT_EQ(obs.max_val()[0], 4.0f) << "the first batch sets the range";
  obs.forward(Tensor::from_vector({-1, 2}));
  obs.forward(Tensor::from_vector({2, 6}));
  EXPECT_NEAR(obs.min_val()[0], 0.875, 1e-6) << "min after three batches, c = 0.25"
      << hint("min += c · (batch_min − min): the NEW batch gets weight c");
  EXPECT_NEAR(obs.max_val()[0], 4.125, 1e-6) << "max after three batches, c = 0.25";
  // Per channel along axis 0, c = 0.5: row 0 (1, 2) then (3, 4): min 2, max 3;
  // row 1 (-3, 5) then (1, 1): min -1, max 3.
  nibble::MovingAverageMinMaxObserver rows(0.5, QScheme::kPerChannelAffine, 8, false, 0);
  rows.forward(Tensor::from_vector({1, 2, -3, 5}, {2, 2}));
  rows.forward(Tensor::from_vector({3, 4, 1, 1}, {2, 2}));
  ASSERT_EQ(rows.min_val().size(), 2u) << "per channel" << hint("one moving min per channel");
  EXPECT_NEAR(rows.min_val()[0], 2.0, 1e-6);
  EXPECT_NEAR(rows.max_val()[0], 3.0, 1e-6);
  EXPECT_NEAR(rows.min_val()[1], -1.0, 1e-6);
  EXPECT_NEAR(rows.max_val()[1], 3.0, 1e-6);
}

GRADED_TEST(QuantGraded, Percentile, 6) {
  // Sorted 1 2 3 4; position q/100 · 3.
  EXPECT_NEAR(nibble::percentile({4, 1, 3, 2}, 50), 2.5, 1e-9) << "median of (4, 1, 3, 2)"
      << hint("sort first; position 1.5 lies halfway between 2 and 3");
  EXPECT_NEAR(nibble::percentile({4, 1, 3, 2}, 25), 1.75, 1e-9) << "25th percentile: position 0.75"
      << hint("interpolate linearly between neighbours (numpy's default)");
  EXPECT_NEAR(nibble::percentile({4, 1, 3, 2}, 100), 4.0, 1e-9) << "q = 100 is the max" << hint("position q/100 · (n − 1)");
  EXPECT_NEAR(nibble::percentile({4, 1, 3, 2}, 0), 1.0, 1e-9) << "q = 0 is the min";
  EXPECT_NEAR(nibble::percentile({10, 0}, 30), 3.0, 1e-9) << "(10, 0) at 30: 0 + 0.3·10";
  EXPECT_NEAR(nibble::percentile({7}, 90), 7.0, 1e-9) << "a single value";
  // The observer clips at the [100 − p, p] percentiles: 0..100 at p = 75 -> [25, 75].
  std::vector<float> v;
  for (int i = 100; i >= 0; --i) v.push_back(float(i));
  nibble::PercentileObserver obs(75.0);
  obs.forward(Tensor::from_vector(v));
  EXPECT_NEAR(obs.min_val()[0], 25.0, 1e-6) << "PercentileObserver(75) on 100, 99, ..., 0";
  EXPECT_NEAR(obs.max_val()[0], 75.0, 1e-6) << "PercentileObserver(75) on 100, 99, ..., 0";
}

GRADED_TEST(QuantGraded, EntropyThresholdByHand, 8) {
  // The header's example: i = 2, 3, 4 give KL ≈ 0.0850, 0.0149, 0.0613 -> T = 3 bins.
  EXPECT_NEAR(nibble::entropy_threshold({4, 2, 1, 1}, 1.0, 2), 3.0, 1e-12) << "hist (4, 2, 1, 1), 2 levels"
      << hint("fold the outliers into P's last bin; T is the UPPER edge of the last kept bin");
  EXPECT_NEAR(nibble::entropy_threshold({4, 2, 1, 1}, 0.5, 2), 1.5, 1e-12) << "the same with bin width 0.5";
  // hist (8, 3, 0, 1), 2 levels:
  //   i = 2: P = (8, 4)/12, Q = (8, 3)/11: KL = (2/3)log2((2/3)/(8/11)) + (1/3)log2((1/3)/(3/11)) ≈ 0.0128
  //   i = 3: P = (8, 3, 1)/12, groups {0}, {1, 2}: Q = (8, 1.5, 1.5)/11 -> ≈ 0.0757
  //   i = 4: P = (8, 3, 0, 1)/12, groups {0, 1}, {2, 3}: Q = (5.5, 5.5, 0, 1)/12 -> ≈ 0.1418.  T = 2:
  //   the first candidate, i = num_quantized_bins, must be tried.
  EXPECT_NEAR(nibble::entropy_threshold({8, 3, 0, 1}, 1.0, 2), 2.0, 1e-12) << "hist (8, 3, 0, 1), 2 levels"
      << hint("the candidates are i = num_quantized_bins .. hist.size(), both ends included");
  // hist (2, 2, 3, 0, 3): at i = 5, groups {0, 1}, {2, 3, 4}: Q = (2, 2, 3, 0, 3) = P, KL = 0 (i = 2,
  // 3, 4 give ≈ 0.278, 0.179, 0.085). Q's group totals go ONLY to bins where P is non-zero;
  // spreading over the empty bin 3 too would make i = 4 look best. T = 5.
  EXPECT_NEAR(nibble::entropy_threshold({2, 2, 3, 0, 3}, 1.0, 2), 5.0, 1e-12) << "hist (2, 2, 3, 0, 3), 2 levels"
      << hint("spread each group's total over the bins where P != 0, and give 0 to the others");
  // hist (1, 1, 1, 6, 1): KL(P‖Q) for i = 2..5 ≈ 0.531, 0.663, 0.367, 0.419 -> T = 4. (KL(Q‖P), the
  // other order, would be ≈ 0.737, 0.737, 0.466, 0.443 and pick 5.)
  EXPECT_NEAR(nibble::entropy_threshold({1, 1, 1, 6, 1}, 1.0, 2), 4.0, 1e-12) << "hist (1, 1, 1, 6, 1), 2 levels"
      << hint("KL(P‖Q): P (the clipped float histogram) first, as kl_divergence(p, q)");
}

GRADED_TEST(QuantGraded, EntropyCalibrationClipsAHeavyTail, 6) {
  // Laplace(0, 1) activations: a few samples reach 9 or more, most are within ±3. At 4 bits the
  // min-max range wastes its 16 levels on the tail; the entropy threshold clips it.
  const std::vector<float> a = laplace(20000, 11);
  const Tensor x = Tensor::from_vector(a);
  float max_abs = 0.0f;
  for (const float v : a) max_abs = std::max(max_abs, std::fabs(v));
  nibble::EntropyObserver ent(4, true);
  ent.forward(x);
  const double t = ent.threshold();
  EXPECT_LT(t, 0.8 * max_abs) << "entropy threshold " << t << " vs max|x| = " << max_abs
                              << hint("the KL search should clip the rare large values");
  EXPECT_GT(t, 1.0) << "entropy threshold " << t << " clips the bulk of a Laplace(0, 1) sample";
  nibble::MinMaxObserver mm(QScheme::kPerTensorSymmetric, 4, true);
  mm.forward(x);
  auto mse = [&](const QParams& qp) {
    const std::vector<float> r = values(nibble::dequantize(nibble::quantize(x, qp), qp));
    double e = 0.0;
    for (size_t i = 0; i < a.size(); ++i) e += std::pow(double(r[i]) - a[i], 2);
    return e / double(a.size());
  };
  const double e_ent = mse(ent.calculate_qparams()), e_mm = mse(mm.calculate_qparams());
  EXPECT_LT(e_ent, 0.8 * e_mm) << "4-bit MSE: entropy " << e_ent << ", min-max " << e_mm;
}

GRADED_TEST(QuantGraded, RejectsBadInput, 6) {
  // A valid call first, so this test cannot pass on a stub.
  ASSERT_EQ(values(nibble::quantize(Tensor::from_vector({1.5f}), per_tensor(1.0f, 0, 0, 255)))[0], 2.0f)
      << "quantize(1.5), scale 1" << hint("write quantize first");
  EXPECT_TRUE(rejects([] { nibble::quant_range(9, false); }, "quant_range", "bits = 9"));
  EXPECT_TRUE(rejects([] { nibble::quant_range(1, true); }, "quant_range", "bits = 1"));
  EXPECT_TRUE(rejects([] { nibble::MinMaxObserver(QScheme::kPerTensorAffine, 12); }, "quant_range", "bits = 12"));
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  EXPECT_TRUE(rejects([&] { nibble::quantize(x, per_tensor(0.0f, 0, 0, 255)); }, "quantize", "scale[0] = 0"));
  EXPECT_TRUE(rejects([&] { nibble::dequantize(x, per_tensor(-0.5f, 0, 0, 255)); }, "dequantize", "scale[0] = -0.5"));
  EXPECT_TRUE(rejects([&] { nibble::quantize(x, per_tensor(1.0f, 300, 0, 255)); }, "quantize", "zero_point[0] = 300"));
  EXPECT_TRUE(rejects([&] { nibble::fake_quantize(x, per_tensor(1.0f, -9, -8, 7)); }, "fake_quantize", "zero_point[0] = -9"));
  EXPECT_TRUE(rejects([&] { nibble::quantize(x, per_channel({1, 1, 1}, {0, 0, 0}, 0, 255, 0)); }, "quantize",
                      "3 per-channel scales"));
  EXPECT_TRUE(rejects([] { nibble::MinMaxObserver().calculate_qparams(); }, "MinMaxObserver", "saw no data"));
  EXPECT_TRUE(rejects([] { nibble::calculate_qparams({}, {}, false, 0, 255); }, "calculate_qparams", "0 minima"));
  EXPECT_TRUE(rejects([] { nibble::percentile({}, 50); }, "percentile", "values is empty"));
  EXPECT_TRUE(rejects([] { nibble::percentile({1}, 101); }, "percentile", "q = 101"));
  EXPECT_TRUE(rejects([] { nibble::entropy_threshold({1}, 1.0, 2); }, "entropy_threshold", "num_quantized_bins = 2"));
}
