// uint8 activations (nn/quantized_tensor.h): quantize / dequantize against their definitions, the
// uint8 max pool against the float pool of the dequantized values, and the error messages.
#include "nn/quantized_tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/autograd.h"
#include "gradcheck.h"

namespace nibble::nn {
namespace {

using nibble::testing::throws_error_containing;

QuantizedTensor random_bytes(const Shape& shape, QuantParams p, std::mt19937& rng) {
  QuantizedTensor q{shape, p, {}};
  q.data.resize(static_cast<size_t>(q.numel()));
  for (uint8_t& b : q.data) b = static_cast<uint8_t>(rng() & 255);
  return q;
}

TEST(QuantizedTensor, RoundTripWithinHalfAStepAndClampsOutsideTheRange) {
  manual_seed(21);
  for (QuantParams p : {QuantParams{0.02f, 128}, QuantParams{0.1f, 0}, QuantParams{0.0037f, 255},
                        QuantParams{1.5f, 77}}) {
    const float lo = p.scale * (0 - p.zero_point), hi = p.scale * (255 - p.zero_point);
    const Tensor x = Tensor::rand({3, 5, 7}, lo, hi);  // inside the representable range
    const QuantizedTensor q = quantize(x, p);
    EXPECT_EQ(q.shape, x.shape());
    EXPECT_EQ(q.params.scale, p.scale);
    EXPECT_EQ(q.params.zero_point, p.zero_point);
    const Tensor y = dequantize(q);
    ASSERT_EQ(y.shape(), x.shape());
    const std::vector<float> xv = x.to_vector(), yv = y.to_vector();
    for (size_t i = 0; i < xv.size(); ++i) {
      // The definition: real = scale * (q - zero_point) ...
      EXPECT_EQ(yv[i], p.scale * float(q.data[i] - p.zero_point)) << i;
      // ... within half a step of x (plus float rounding in x * (1/scale)).
      EXPECT_LE(std::fabs(yv[i] - xv[i]), p.scale / 2 * (1 + 1e-4)) << "x " << xv[i];
    }
    // The levels themselves survive a second round trip: the uint8 pool test relies on it.
    EXPECT_EQ(quantize(y, p).data, q.data);
    // Beyond the range: the end levels.
    const Tensor out = Tensor::from_vector({lo - 10 * p.scale, hi + 10 * p.scale});
    EXPECT_EQ(quantize(out, p).data, (std::vector<uint8_t>{0, 255}));
  }
  // Any strides: a transposed view quantizes in its logical order.
  const Tensor x = Tensor::randn({4, 6});
  EXPECT_EQ(quantize(x.t(), {0.05f, 100}).data, quantize(x.t().contiguous(), {0.05f, 100}).data);
  EXPECT_EQ(quantize(Tensor::zeros({0, 3}), {0.1f, 3}).shape, (Shape{0, 3}));
}

TEST(QuantizedTensor, MaxPoolIsExactlyTheFloatPoolOfTheDequantizedValues) {
  std::mt19937 rng(22);
  struct Case {
    Shape shape;
    Size2 kernel, stride;
  };
  const std::vector<Case> cases = {
      {{2, 3, 8, 8}, 2, 0},            // the CNN's 2x2 pool (stride 0 = kernel)
      {{1, 2, 7, 9}, 2, 2},            // odd sizes: the last row and column are dropped
      {{2, 1, 9, 10}, 3, 2},           // overlapping windows
      {{1, 4, 6, 5}, {2, 3}, {1, 2}},  // rectangular kernel and stride
      {{3, 2, 5, 5}, 1, 1},            // identity
      {{1, 1, 4, 4}, 4, 0},            // one window per plane
      {{1, 1, 2, 2}, 2, 0},            // size-1 output
      {{8, 16, 28, 28}, 2, 0},         // large: the OpenMP path
  };
  for (const Case& c : cases) {
    const QuantizedTensor x = random_bytes(c.shape, {0.05f, 30}, rng);
    const QuantizedTensor y = max_pool2d(x, c.kernel, c.stride);
    const QuantizedTensor expected =
        quantize(max_pool2d(dequantize(x), c.kernel, c.stride), x.params);
    ASSERT_EQ(y.shape, expected.shape) << shape_str(c.shape);
    EXPECT_EQ(y.data, expected.data) << shape_str(c.shape);
    EXPECT_EQ(y.params.scale, x.params.scale);
    EXPECT_EQ(y.params.zero_point, x.params.zero_point);
  }
  const QuantizedTensor empty{{0, 2, 4, 4}, {0.1f, 0}, {}};
  EXPECT_EQ(max_pool2d(empty, 2).shape, (Shape{0, 2, 2, 2}));
}

TEST(QuantizedTensor, BadInputsNameTheShapes) {
  QuantizedTensor q{{2, 3}, {0.1f, 0}, std::vector<uint8_t>(5)};
  EXPECT_TRUE(throws_error_containing([&] { dequantize(q); }, "input [2, 3] holds 5 bytes"));
  q.data.resize(6);
  q.params.scale = 0.0f;
  EXPECT_TRUE(throws_error_containing([&] { dequantize(q); }, "scale = 0"));
  q.params = {0.1f, 300};
  EXPECT_TRUE(throws_error_containing([&] { dequantize(q); }, "zero_point = 300"));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        quantize(Tensor::zeros({2}), {-1.0f, 0});
      },
      "invalid"));
  EXPECT_TRUE(throws_error_containing([&] { quantize(Tensor(), {0.1f, 0}); }, "undefined"));
  q.params = {0.1f, 0};
  EXPECT_TRUE(throws_error_containing([&] { max_pool2d(q, 2); }, "got shape [2, 3]"));
  EXPECT_TRUE(
      throws_error_containing([&] { q.size(2); }, "axis 2 is out of range for shape [2, 3]"));
  EXPECT_EQ(q.size(-1), 3);
  const QuantizedTensor img{{1, 1, 3, 3}, {0.1f, 0}, std::vector<uint8_t>(9)};
  EXPECT_TRUE(throws_error_containing([&] { max_pool2d(img, 4); },
                                      "input [1, 1, 3, 3] is smaller than the kernel 4x4"));
  EXPECT_TRUE(throws_error_containing([&] { max_pool2d(img, 0); }, "must be positive"));
}

}  // namespace
}  // namespace nibble::nn
