// The contract between the sgemm driver (sgemm.cpp) and its micro-kernels.
// Internal header: not part of the public API, not installed for users to call.
//
// A micro-kernel computes one kMR x kNR tile of C from two packed panels:
//
//   C[i][j] = alpha * sum_p a[p*kMR + i] * b[p*kNR + j]  +  beta * C[i][j]     (0 <= p < k)
//
// `a` holds kMR rows of op(A) stored column by column (kMR floats per k step) and `b` holds kNR
// columns of op(B) stored row by row (kNR floats per k step), both written by the driver's packing
// code, so every kernel streams both operands with unit stride whatever trans_a/trans_b were.
// `b` is 32-byte aligned. `c` points to the tile's top-left element, rows ldc floats apart.
// beta == 0 means C is write-only: its old contents (even NaN) are never read.
// The kernel always computes a full tile; the driver handles ragged edges by letting the kernel
// write into a kMR x kNR scratch tile and copying the valid part out.
#pragma once

#include <cstdint>

namespace nibble::detail {

// Tile shape, chosen for x86-64 AVX2 (16 ymm registers of 8 floats):
//   12 accumulators (6 rows x 2 vectors of 8) + 2 registers for a row of B + 1 broadcast of A
//   = 15 of 16 registers. Each k step issues 12 FMAs for 2 loads + 6 broadcasts, enough to keep
//   both FMA pipes of a Zen 3 / Haswell core busy. The same shape suits aarch64 NEON
//   (32 registers of 4 floats: 24 accumulators + 4 for B + A), so the portable kernel shares it
//   and one packing format serves both kernels.
constexpr int kMR = 6;
constexpr int kNR = 16;

using MicroKernel = void (*)(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                             float alpha, float beta);

// Plain C++ that the compiler auto-vectorises; runs everywhere.
void microkernel_portable(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                          float alpha, float beta);

#if defined(__x86_64__)
// AVX2 + FMA intrinsics. Only call it when cpu_features() reports both.
void microkernel_avx2(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                      float alpha, float beta);
#endif

}  // namespace nibble::detail
