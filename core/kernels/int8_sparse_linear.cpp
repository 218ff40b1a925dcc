// Sparse int8 Linear (int8_sparse_linear.h): CSR weights and the scalar kernel.
#include "core/kernels/int8_sparse_linear.h"

#include <string>

#include "core/error.h"

namespace nibble {

SparseLinearWeightsS8 SparseLinearWeightsS8::from_dense(const int8_t* W, int64_t N, int64_t K) {
  const char* op = "SparseLinearWeightsS8::from_dense";
  NIBBLE_CHECK(N > 0 && K > 0, op, "weight shape " + shape_str({N, K}) + " has a non-positive dimension");
  NIBBLE_CHECK(K <= 65536, op, "K = " + std::to_string(K) + " exceeds 65536",
               "the int32 sums are exact only up to 65536 terms (as the dense GEMM's)");
  NIBBLE_CHECK(W != nullptr, op, "W is null");
  SparseLinearWeightsS8 s;
  s.n_ = N, s.k_ = K;
  s.start_.push_back(0);
  for (int64_t n = 0; n < N; ++n) {
    int32_t sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      const int8_t w = W[n * K + k];
      if (w == 0) continue;
      s.cols_.push_back(static_cast<int32_t>(k));
      s.values_.push_back(w);
      sum += w;
    }
    s.start_.push_back(static_cast<int32_t>(s.values_.size()));
    s.sums_.push_back(sum);
  }
  return s;
}

double SparseLinearWeightsS8::density() const {
  return empty() ? 0.0 : static_cast<double>(nonzeros()) / static_cast<double>(n_ * k_);
}

void sparse_linear_f32(const QuantizedInput& A, const SparseLinearWeightsS8& W, const int32_t* bias,
                       const Dequantize& dq, float* C, int64_t ldc) {
  const char* op = "sparse_linear_f32";
  // `if (!ok) fail(...)`: no message string is built on the good path (runs on every forward).
  if (W.empty()) fail(op, "the weights are empty", "build them with SparseLinearWeightsS8::from_dense");
  if (A.K != W.K())
    fail(op, "K mismatch: A is " + shape_str({A.M, A.K}) + ", W is " + shape_str({W.N(), W.K()}),
         "A's columns must equal the weights' in_features");
  const int64_t lda = A.lda == 0 ? A.K : A.lda, ldo = ldc == 0 ? W.N() : ldc;
  if (A.M < 0 || lda < A.K || ldo < W.N()) fail(op, "bad M, lda or ldc", "lda >= K, ldc >= N (0: dense rows)");
  const int32_t lo = A.is_signed ? -128 : 0, hi = A.is_signed ? 127 : 255;
  if (A.zero_point < lo || A.zero_point > hi)
    fail(op, "activation zero point " + std::to_string(A.zero_point) + " is outside [" + std::to_string(lo) +
                 ", " + std::to_string(hi) + "]");
  if (A.M > 0 && (A.data == nullptr || C == nullptr)) fail(op, "A or C is null");
  // int8 input: a + 128 is a uint8 with zero point za + 128 (README: "shift the data, shift the
  // zero point"); per column the constant bias - za * rowsum, wrapping as run_gemm does.
  const uint32_t shift = A.is_signed ? 128u : 0u, za = static_cast<uint32_t>(A.zero_point) + shift;
  const int32_t* start = W.row_start().data();
  const int32_t* cols = W.columns().data();
  const int8_t* vals = W.values().data();
  for (int64_t m = 0; m < A.M; ++m) {
    const uint8_t* a = static_cast<const uint8_t*>(A.data) + m * lda;  // int8 rows: same bytes
    float* out = C + m * ldo;
    for (int64_t n = 0; n < W.N(); ++n) {
      uint32_t acc = 0;  // sum a * w over the non-zeros (exact; unsigned: defined wrap-around)
      for (int32_t i = start[n]; i < start[n + 1]; ++i)
        acc += static_cast<uint32_t>((a[cols[i]] ^ shift) * vals[i]);  // ^ 128 = + 128 for int8
      const uint32_t offset = (bias ? static_cast<uint32_t>(bias[n]) : 0u) -
                              za * static_cast<uint32_t>(W.row_sums()[static_cast<size_t>(n)]);
      // int8_gemm_f32's expression, operation for operation (StoreF32 in int8_gemm.cpp).
      const float scale = dq.input_scale * (dq.weight_scales ? dq.weight_scales[n] : dq.weight_scale);
      out[n] = static_cast<float>(static_cast<int32_t>(acc + offset)) * scale + (dq.bias ? dq.bias[n] : 0.0f);
    }
  }
}

}  // namespace nibble
