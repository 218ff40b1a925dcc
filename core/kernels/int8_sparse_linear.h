// Sparse int8 Linear: C = A x W^T computed from W's non-zero weights only (compressed sparse rows),
// with int8_gemm_f32's exact output stage. For very sparse layers (a pruned classifier keeping
// ~1-2% of its weights) at any batch size: the dense GEMM multiplies every zero and packs A first.
// Scalar only: a row of A is read at the non-zero columns (a gather), which SIMD does not speed up
// much on x86; at a few hundred non-zeros per layer the whole layer costs well under a microsecond
// per image. Layers that are merely pruned (LeNet-300-100's 4-75%) stay faster on the dense GEMM:
// the crossover is measured in compression/deep_compression.cpp (Int8Model).
#pragma once

#include <cstdint>
#include <vector>

#include "core/kernels/int8_gemm.h"

namespace nibble {

// W [N, K] (out_features x in_features) as compressed sparse rows, built once.
class SparseLinearWeightsS8 {
 public:
  SparseLinearWeightsS8() = default;  // empty: passing it to sparse_linear_f32 is an error
  static SparseLinearWeightsS8 from_dense(const int8_t* W, int64_t N, int64_t K);

  bool empty() const { return n_ == 0; }
  int64_t N() const { return n_; }
  int64_t K() const { return k_; }
  int64_t nonzeros() const { return static_cast<int64_t>(values_.size()); }
  double density() const;
  // Row n's non-zeros: columns()[i], values()[i] for i in [row_start()[n], row_start()[n + 1]).
  const std::vector<int32_t>& row_start() const { return start_; }  // [N + 1]
  const std::vector<int32_t>& columns() const { return cols_; }
  const std::vector<int8_t>& values() const { return values_; }
  const std::vector<int32_t>& row_sums() const { return sums_; }    // [N]: sum_k W[n, k]

 private:
  int64_t n_ = 0, k_ = 0;
  std::vector<int32_t> start_, cols_, sums_;
  std::vector<int8_t> values_;
};

// C[m, n] = input_scale * weight_scale[n] * (sum_k (A[m, k] - za) * W[n, k] + bias[n]) + dq.bias[n],
// with the same float operations as int8_gemm_f32 (so the same floats, bit for bit). A uint8 or
// int8 (QuantizedInput); bias int32 [N] or nullptr; ldc = 0 means N. Throws nibble::Error on bad
// arguments.
void sparse_linear_f32(const QuantizedInput& A, const SparseLinearWeightsS8& W, const int32_t* bias,
                       const Dequantize& dq, float* C, int64_t ldc = 0);

}  // namespace nibble
