// The portable micro-kernel: the scalar definition of a kMR x kNR tile update (see microkernel.h),
// written so the compiler can vectorise it by itself. It is the fallback on CPUs without AVX2
// and on aarch64, and the readable reference for what microkernel_avx2.cpp does with intrinsics.
#include "core/gemm/microkernel.h"

// g++ must be told which loop to vectorise (see below). clang finds it by itself, and when asked
// explicitly it warns (an error under -Werror) in builds where it cannot vectorise, e.g. -O1.
#if defined(__clang__)
#define NIBBLE_VECTORIZE_LOOP
#else
#define NIBBLE_VECTORIZE_LOOP _Pragma("omp simd")
#endif

namespace nibble::detail {

void microkernel_portable(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                          float alpha, float beta) {
  // The accumulator tile is a local array of fixed size, so the compiler can keep it in vector
  // registers (as many as the ISA has) instead of memory.
  float acc[kMR][kNR] = {};
  for (int64_t p = 0; p < k; ++p) {
    const float* a_col = a + p * kMR;  // column p of the A panel: kMR values, one per row
    const float* b_row = b + p * kNR;  // row p of the B panel: kNR values, one per column
    for (int i = 0; i < kMR; ++i) {
      const float a_ip = a_col[i];
      // Vectorise over j, contiguous in acc and b_row (`omp simd` for g++). Left to itself
      // g++ 12 -O3 vectorised across i instead (strided, no gain) and the kernel ran ~10x
      // slower in a micro-benchmark on Zen 3 (baseline x86-64, SSE2).
      NIBBLE_VECTORIZE_LOOP
      for (int j = 0; j < kNR; ++j) acc[i][j] += a_ip * b_row[j];  // outer-product update
    }
  }
  for (int i = 0; i < kMR; ++i) {
    float* c_row = c + i * ldc;
    if (beta == 0.0f) {  // write-only: never read C, so NaN/garbage in C cannot leak in
      for (int j = 0; j < kNR; ++j) c_row[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < kNR; ++j) c_row[j] = alpha * acc[i][j] + beta * c_row[j];
    }
  }
}

}  // namespace nibble::detail
