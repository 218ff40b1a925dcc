// AVX2 micro-kernel: exact u8 x s8 via int16 and vpmaddwd.
//
// Scalar equivalent (micro_reference with this layout, MR=6, NR=16, KG=2):
//   for g: for m < 6: for n < 16:
//     c[m][n] += a[g][m][0] * b[g][n][0] + a[g][m][1] * b[g][n][1]
//
// Why not the "textbook" vpmaddubsw (u8 x s8 -> int16 pairs)? It adds two products into int16
// WITH SATURATION: 255 * -128 + 255 * -128 = -65280 does not fit in [-32768, 32767] and silently
// becomes -32768. That breaks bit-exactness on full-range data (see README). Instead packing
// widens both operands to int16 once (A zero-extended, B sign-extended) and vpmaddwd
// (16 x 16 -> 32, adjacent pairs summed) is exact: |255 * -128 * 2| < 2^31.
// Cost: vpmaddwd does 16 MACs per instruction, vpmaddubsw 32 - but vpmaddubsw needs a second
// vpmaddwd to widen its int16 result to int32 anyway, so both paths issue 2 multiply uops per
// 32 MACs. We pay only an extra vpaddd and twice the bytes of packed data.
#include <cstring>

#include "core/kernels/int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nibble::detail {

namespace {

constexpr int kMR = 6, kNR = 16, kKG = 2;

#if defined(__x86_64__)

// 6 x 16 tile = 6 rows x 2 ymm of 8 int32: 12 accumulators + 2 B vectors + 1 broadcast A
// = 15 of the 16 ymm registers, so nothing spills.
__attribute__((target("avx2"))) void micro_avx2(const void* a_panel, const void* b_panel,
                                                int64_t kgroups, int32_t* c) {
  const auto* a = static_cast<const uint8_t*>(a_panel);  // [kgroups][6][2] int16
  const auto* b = static_cast<const uint8_t*>(b_panel);  // [kgroups][16][2] int16
  __m256i acc[kMR][2];
#pragma GCC unroll 6
  for (int m = 0; m < kMR; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_si256();

  for (int64_t g = 0; g < kgroups; ++g) {
    // Lane n of b0 holds the int16 pair (B[2g][n], B[2g+1][n]) for columns 0..7, b1 for 8..15.
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
#pragma GCC unroll 6
    for (int m = 0; m < kMR; ++m) {
      // Broadcast row m's int16 pair (A[m][2g], A[m][2g+1]) as one 32-bit value to all 8 lanes.
      int32_t pair;
      std::memcpy(&pair, a + 4 * m, 4);
      const __m256i av = _mm256_set1_epi32(pair);
      // vpmaddwd: lane n = A[m][2g]*B[2g][n] + A[m][2g+1]*B[2g+1][n], exact in int32.
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(av, b0));
      acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(av, b1));
    }
    a += kMR * kKG * 2;
    b += kNR * kKG * 2;
  }
#pragma GCC unroll 6
  for (int m = 0; m < kMR; ++m) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * kNR), acc[m][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * kNR + 8), acc[m][1]);
  }
}

constexpr MicroKernel kMicro = micro_avx2;
#else
constexpr MicroKernel kMicro = nullptr;  // not an x86-64 build
#endif

bool cpu_has(const CpuFeatures& f) { return f.avx2; }

}  // namespace

const KernelInfo& kernel_info_avx2() {
  static const KernelInfo info{Int8Kernel::kAvx2, "avx2", kMR, kNR, kKG,
                               PackedType::kS16, PackedType::kS16, kMicro, cpu_has};
  return info;
}

}  // namespace nibble::detail
