// The AVX2 + FMA micro-kernel: one 6 x 16 tile of C (see microkernel.h for the contract and
// microkernel_portable.cpp for the same computation in plain C++).
//
// Per k step:   b0, b1 <- row p of the B panel (16 floats = 2 ymm loads)
//               for each of the 6 rows i:  a <- broadcast A[i][p];  acc[i][0..1] += a * b0, b1
// so 12 independent FMAs into 12 accumulator registers. Independence matters: an FMA has a
// latency of 4-5 cycles and a core retires 2 per cycle, so ~10 must be in flight at once.
//
// The function is compiled for AVX2/FMA with a target attribute rather than a -mavx2 flag on
// the file: the rest of the library stays baseline x86-64, and sgemm.cpp only calls this after
// cpu_features() has confirmed the CPU supports it.
// (No AVX-512 variant: the development machine (Zen 3) has no AVX-512, so it could not be tested.)
#if defined(__x86_64__)

#include <immintrin.h>

#include "core/gemm/microkernel.h"

namespace nibble::detail {

static_assert(kMR == 6 && kNR == 16, "microkernel_avx2 is written for a 6 x 16 tile");

__attribute__((target("avx2,fma"))) void microkernel_avx2(int64_t k, const float* a,
                                                          const float* b, float* c, int64_t ldc,
                                                          float alpha, float beta) {
  // Pull the C tile towards L1 now; it is only touched after the k loop, by which time the
  // prefetches have landed instead of stalling the final stores.
  for (int i = 0; i < kMR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kNR - 1), _MM_HINT_T0);
  }

  __m256 acc[kMR][2];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_load_ps(b);  // packed B is 32-byte aligned
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const __m256 a_ip = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(a_ip, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a_ip, b1, acc[i][1]);
    }
    a += kMR;
    b += kNR;
  }

  // C = alpha * acc + beta * C. C rows are not necessarily aligned: unaligned loads/stores.
  const __m256 alpha_v = _mm256_set1_ps(alpha);
  const __m256 beta_v = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) {
    float* c_row = c + i * ldc;
    __m256 r0 = _mm256_mul_ps(alpha_v, acc[i][0]);
    __m256 r1 = _mm256_mul_ps(alpha_v, acc[i][1]);
    if (beta != 0.0f) {  // beta == 0: C is write-only, never read (NaN in C must not leak in)
      r0 = _mm256_fmadd_ps(beta_v, _mm256_loadu_ps(c_row), r0);
      r1 = _mm256_fmadd_ps(beta_v, _mm256_loadu_ps(c_row + 8), r1);
    }
    _mm256_storeu_ps(c_row, r0);
    _mm256_storeu_ps(c_row + 8, r1);
  }
}

}  // namespace nibble::detail

#endif  // __x86_64__
