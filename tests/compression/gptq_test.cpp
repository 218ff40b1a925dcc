// GPTQ and its linear algebra (compression/gptq.h): Cholesky against a hand example and the
// reconstruction A = L Lᵀ, the inverse, GPTQ against round-to-nearest on correlated inputs, the
// grid, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "compression/gptq.h"
#include "core/ops.h"
#include "gradcheck.h"

namespace {

using namespace nibble;

using nibble::testing::error_of;

// A = B Bᵀ + I, symmetric positive definite.
std::vector<double> random_spd(int64_t n, uint64_t seed) {
  manual_seed(seed);
  const std::vector<float> b = Tensor::randn({n, n}).to_vector();
  std::vector<double> A(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t k = 0; k < n; ++k) A[i * n + j] += double(b[i * n + k]) * b[j * n + k];
      if (i == j) A[i * n + j] += 1.0;
    }
  return A;
}

TEST(Cholesky, HandExampleTwoByTwo) {
  // [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, √2]]: 2·2 = 4, 2·1 = 2, 1 + 2 = 3.
  const std::vector<double> L = cholesky({4, 2, 2, 3}, 2);
  EXPECT_DOUBLE_EQ(L[0], 2.0);
  EXPECT_DOUBLE_EQ(L[1], 0.0);
  EXPECT_DOUBLE_EQ(L[2], 1.0);
  EXPECT_NEAR(L[3], std::sqrt(2.0), 1e-15);
  // Its inverse: [[3, −2], [−2, 4]] / 8.
  const std::vector<double> inv = cholesky_inverse(L, 2);
  EXPECT_NEAR(inv[0], 3.0 / 8, 1e-15);
  EXPECT_NEAR(inv[1], -2.0 / 8, 1e-15);
  EXPECT_NEAR(inv[2], -2.0 / 8, 1e-15);
  EXPECT_NEAR(inv[3], 4.0 / 8, 1e-15);
}

TEST(Cholesky, ReconstructsRandomMatricesAndInverts) {
  for (const int64_t n : {1, 3, 17}) {
    const std::vector<double> A = random_spd(n, 40 + n);
    const std::vector<double> L = cholesky(A, n);
    double worst = 0.0, upper = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if (j > i) upper = std::max(upper, std::fabs(L[i * n + j]));
        double s = 0.0;
        for (int64_t k = 0; k < n; ++k) s += L[i * n + k] * L[j * n + k];
        worst = std::max(worst, std::fabs(s - A[i * n + j]) / (1.0 + std::fabs(A[i * n + j])));
      }
    EXPECT_EQ(upper, 0.0) << "L must be lower triangular, n = " << n;
    EXPECT_LT(worst, 1e-12) << "L Lᵀ != A, n = " << n;
    const std::vector<double> inv = cholesky_inverse(L, n);
    double off = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0.0;
        for (int64_t k = 0; k < n; ++k) s += A[i * n + k] * inv[k * n + j];
        off = std::max(off, std::fabs(s - (i == j ? 1.0 : 0.0)));
      }
    EXPECT_LT(off, 1e-9) << "A · A⁻¹ != I, n = " << n;
  }
}

TEST(Cholesky, BadInputNamesThePivotOrTheEntry) {
  EXPECT_NE(error_of([] { cholesky({1, 2, 2, 1}, 2); }).find("not positive definite: pivot 1"), std::string::npos);
  EXPECT_NE(error_of([] { cholesky({1, 2, 3, 1}, 2); }).find("not symmetric"), std::string::npos);
  EXPECT_NE(error_of([] { cholesky({1, 2, 3}, 2); }).find("not n x n"), std::string::npos);
}

// A layer with correlated inputs: X = Z M, M mixing the columns (as real activations are).
struct Layer {
  Tensor W, X;
};
Layer correlated_layer(int64_t out, int64_t in, int64_t N, uint64_t seed) {
  manual_seed(seed);
  const Tensor Z = Tensor::randn({N, in});
  const Tensor M = add(Tensor::eye(in), mul(Tensor::randn({in, in}), 0.4f));
  return {Tensor::randn({out, in}, 0.0f, 0.1f), matmul(Z, M)};
}

TEST(Gptq, OutputErrorBelowRoundToNearestOnCorrelatedInputs) {
  const Layer l = correlated_layer(24, 64, 256, 7);
  for (const int bits : {4, 3})
    for (const int64_t group : {int64_t{0}, int64_t{32}}) {
      GptqOptions o;
      o.bits = bits;
      o.group_size = group;
      o.block_size = 16;  // several blocks: the lazy updates between blocks are exercised
      const double e_rtn = layer_output_error(l.X, l.W, rtn_quantize(l.W, o).weight);
      const double e_gptq = layer_output_error(l.X, l.W, gptq_quantize(l.W, l.X, o).weight);
      EXPECT_LT(e_gptq, 0.8 * e_rtn) << bits << " bits, group " << group << ": GPTQ " << e_gptq << ", RTN " << e_rtn;
    }
}

TEST(Gptq, BlockSizeDoesNotChangeTheResult) {
  // Lazy batch updates reorder the same subtractions: the codes must agree.
  const Layer l = correlated_layer(8, 40, 64, 8);
  GptqOptions a, b;
  a.block_size = 1;
  b.block_size = 128;
  EXPECT_EQ(gptq_quantize(l.W, l.X, a).codes, gptq_quantize(l.W, l.X, b).codes);
}

TEST(Gptq, UncorrelatedInputsGiveRoundToNearest) {
  // X with orthogonal columns: H is diagonal, so the error of one column says nothing about the
  // others (U is diagonal, the feedback is 0) and GPTQ must round exactly like RTN.
  const int64_t in = 12;
  std::vector<float> x(static_cast<size_t>(in * in), 0.0f);
  for (int64_t i = 0; i < in; ++i) x[i * in + i] = 1.0f + 0.25f * static_cast<float>(i);
  manual_seed(9);
  const Tensor W = Tensor::randn({5, in});
  GptqOptions o;
  o.damp = 0.0;
  EXPECT_EQ(gptq_quantize(W, Tensor::from_vector(x, {in, in}), o).codes, rtn_quantize(W, o).codes);
}

TEST(Gptq, WeightsLieOnTheirGrid) {
  const Layer l = correlated_layer(6, 32, 64, 10);
  GptqOptions o;
  o.bits = 3;
  o.group_size = 8;
  const QuantizedWeight q = gptq_quantize(l.W, l.X, o);
  ASSERT_EQ(q.scale.size(), 6u * 4u);
  const std::vector<float> w = q.weight.to_vector();
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 32; ++c) {
      const size_t g = static_cast<size_t>(r * 4 + c / 8);
      const uint8_t code = q.codes[static_cast<size_t>(r * 32 + c)];
      ASSERT_LE(code, 7) << "3-bit codes are 0..7";
      EXPECT_FLOAT_EQ(w[static_cast<size_t>(r * 32 + c)], q.scale[g] * float(int64_t{code} - q.zero_point[g]));
    }
}

TEST(Gptq, BadInputNamesTheArgument) {
  const Layer l = correlated_layer(4, 48, 16, 11);
  GptqOptions o;
  o.group_size = 20;
  EXPECT_NE(error_of([&] { gptq_quantize(l.W, l.X, o); }).find("group_size = 20 does not divide the row of 48"),
            std::string::npos);
  EXPECT_NE(error_of([&] { rtn_quantize(l.W, o); }).find("group_size = 20"), std::string::npos);
  o = GptqOptions{};
  o.bits = 9;
  EXPECT_NE(error_of([&] { gptq_quantize(l.W, l.X, o); }).find("bits = 9"), std::string::npos);
  o = GptqOptions{};
  EXPECT_NE(error_of([&] { gptq_quantize(l.W, Tensor::ones({3, 47}), o); }).find("X is [3, 47]"), std::string::npos);
  o.damp = -1;
  EXPECT_NE(error_of([&] { gptq_quantize(l.W, l.X, o); }).find("damp = -1"), std::string::npos);
}

}  // namespace
