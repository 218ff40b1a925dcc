// Tests for the sparse int8 Linear (core/kernels/int8_sparse_linear.h): the dense int8_gemm_f32
// (checked against an int64 loop in int8_gemm_test.cpp) is the oracle, float for float.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernels/int8_gemm.h"
#include "core/kernels/int8_sparse_linear.h"

namespace nibble {
namespace {

struct Case {
  int64_t M, N, K;
  double density;
  bool is_signed, with_bias;
};

TEST(SparseLinear, HandComputedCase) {
  // W = [[0, 2, 0], [-1, 0, 0]], A = [[5, 7, 9]], za = 1, no scales: C = [2*(7-1), -(5-1)] = [12, -4].
  const std::vector<int8_t> w = {0, 2, 0, -1, 0, 0};
  const std::vector<uint8_t> a = {5, 7, 9};
  const SparseLinearWeightsS8 s = SparseLinearWeightsS8::from_dense(w.data(), 2, 3);
  EXPECT_EQ(s.nonzeros(), 2);
  EXPECT_DOUBLE_EQ(s.density(), 2.0 / 6.0);
  float c[2];
  sparse_linear_f32(input_u8(a.data(), 1, 3, 1), s, nullptr, Dequantize{}, c);
  EXPECT_EQ(c[0], 12.0f);
  EXPECT_EQ(c[1], -4.0f);
}

TEST(SparseLinear, EqualsDenseInt8GemmBitForBit) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> byte(0, 255), weight(-128, 127);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const std::vector<Case> cases = {
      {1, 10, 784, 0.014, false, true}, {256, 10, 784, 0.014, false, true}, {3, 7, 29, 1.0, false, false},
      {5, 13, 100, 0.0, false, true},   {2, 300, 784, 0.04, true, true},    {7, 1, 1, 1.0, true, false},
      {0, 4, 9, 0.5, false, true},
  };
  for (const Case& k : cases) {
    std::vector<int8_t> w(static_cast<size_t>(k.N * k.K));
    for (int8_t& v : w) v = u(rng) < k.density ? static_cast<int8_t>(weight(rng)) : int8_t{0};
    std::vector<uint8_t> a(static_cast<size_t>(k.M * k.K));
    for (uint8_t& v : a) v = static_cast<uint8_t>(byte(rng));
    std::vector<int32_t> bias;
    std::vector<float> scales, fbias;
    for (int64_t n = 0; n < k.N; ++n) {
      bias.push_back(weight(rng) * 1000);
      scales.push_back(1e-4f + u(rng) * 1e-2f);
      fbias.push_back(u(rng) - 0.5f);
    }
    const int32_t za = k.is_signed ? weight(rng) : byte(rng);
    const QuantizedInput A = k.is_signed ? input_s8(reinterpret_cast<const int8_t*>(a.data()), k.M, k.K, za)
                                         : input_u8(a.data(), k.M, k.K, za);
    Dequantize dq;
    dq.input_scale = 0.037f;
    dq.weight_scales = scales.data();
    dq.bias = k.with_bias ? fbias.data() : nullptr;
    const int32_t* b = k.with_bias ? bias.data() : nullptr;
    std::vector<float> dense(static_cast<size_t>(k.M * k.N), 1.0f), sparse(dense.size(), 2.0f);
    int8_gemm_f32(A, pack_weights_s8(w.data(), k.K, k.N), b, dq, dense.data());
    sparse_linear_f32(A, SparseLinearWeightsS8::from_dense(w.data(), k.N, k.K), b, dq, sparse.data());
    EXPECT_TRUE(dense.empty() || std::memcmp(dense.data(), sparse.data(), dense.size() * sizeof(float)) == 0)
        << "M " << k.M << " N " << k.N << " K " << k.K << " density " << k.density << (k.is_signed ? " int8" : " uint8");
  }
}

TEST(SparseLinear, BadArgumentsThrow) {
  const std::vector<int8_t> w = {1, 0, 0, 1};
  const std::vector<uint8_t> a = {1, 2, 3};
  float c[4];
  const SparseLinearWeightsS8 s = SparseLinearWeightsS8::from_dense(w.data(), 2, 2);
  EXPECT_THROW(sparse_linear_f32(input_u8(a.data(), 1, 3, 0), s, nullptr, Dequantize{}, c), Error);  // K 3 vs 2
  EXPECT_THROW(sparse_linear_f32(input_u8(a.data(), 1, 2, 0), SparseLinearWeightsS8{}, nullptr, Dequantize{}, c),
               Error);
  EXPECT_THROW(sparse_linear_f32(input_u8(a.data(), 1, 2, 300), s, nullptr, Dequantize{}, c), Error);
  EXPECT_THROW(SparseLinearWeightsS8::from_dense(w.data(), 2, 0), Error);
}

}  // namespace
}  // namespace nibble
