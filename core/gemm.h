// fp32 matrix multiply, the engine under matmul, Linear and conv2d (via im2col).
//
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C      (all row-major)
//
// op(X) is X or X^T (trans_a / trans_b). lda/ldb/ldc are row strides in elements: A is stored as
// [M, lda] (or [K, lda] when trans_a), B as [K, ldb] (or [N, ldb] when trans_b), C as [M, ldc].
// beta == 0 means C is write-only (its old contents, even NaN, are ignored), as in BLAS.
//
// The implementation packs A and B into cache-sized panels and runs a register-blocked
// micro-kernel (AVX2+FMA on x86-64, a portable one elsewhere) chosen at run time; see
// core/gemm/README.md. OpenMP threads split the work over the N (and M) blocks.
#pragma once

#include <cstdint>

namespace nibble {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// The scalar triple loop with the same contract: the oracle the fast paths are tested against.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                     float* C, int64_t ldc);

// Which micro-kernel sgemm() runs on this machine: "avx2-fma" or "portable".
// NIBBLE_GEMM=portable forces the portable kernel (for tests and comparisons).
const char* sgemm_kernel_name();

}  // namespace nibble
