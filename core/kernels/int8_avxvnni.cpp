// AVX-VNNI micro-kernel: vpdpbusd on 256-bit registers (VEX encoding, no AVX-512 needed).
//
// Scalar equivalent (micro_reference with this layout, MR=6, NR=16, KG=4):
//   for g: for m < 6: for n < 16:
//     c[m][n] += sum_{j<4} a[g][m][j] * b[g][n][j]        (a uint8, b int8)
//
// vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes, adds the 4 products and the
// accumulator in int32 in one instruction - no int16 intermediate, so no saturation trap (the
// saturating variant is vpdpbusds, which we do not use). Same tile shape as the AVX2 kernel
// (diff the two files), but A and B stay 8-bit and KG is 4.
//
// UNTESTED ON HARDWARE in this repo's CI machine (Zen 3 has no AVX-VNNI): the tests check its
// packing/tiling through the emulated path and skip the real kernel with a printed reason.
#include <cstring>

#include "core/kernels/int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nibble::detail {

namespace {

constexpr int kMR = 6, kNR = 16, kKG = 4;

#if defined(__x86_64__)

__attribute__((target("avx2,avxvnni"))) void micro_avxvnni(const void* a_panel,
                                                           const void* b_panel,
                                                           int64_t kgroups, int32_t* c) {
  const auto* a = static_cast<const uint8_t*>(a_panel);  // [kgroups][6][4] uint8
  const auto* b = static_cast<const int8_t*>(b_panel);   // [kgroups][16][4] int8
  __m256i acc[kMR][2];
#pragma GCC unroll 6
  for (int m = 0; m < kMR; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_si256();

  for (int64_t g = 0; g < kgroups; ++g) {
    // Lane n of b0 holds B[4g..4g+3][n] for columns 0..7, b1 for columns 8..15.
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
#pragma GCC unroll 6
    for (int m = 0; m < kMR; ++m) {
      int32_t quad;  // A[m][4g..4g+3], broadcast to all 8 lanes
      std::memcpy(&quad, a + 4 * m, 4);
      const __m256i av = _mm256_set1_epi32(quad);
      acc[m][0] = _mm256_dpbusd_avx_epi32(acc[m][0], av, b0);
      acc[m][1] = _mm256_dpbusd_avx_epi32(acc[m][1], av, b1);
    }
    a += kMR * kKG;
    b += kNR * kKG;
  }
#pragma GCC unroll 6
  for (int m = 0; m < kMR; ++m) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * kNR), acc[m][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * kNR + 8), acc[m][1]);
  }
}

constexpr MicroKernel kMicro = micro_avxvnni;
constexpr PackPanelA kPackA = pack_a_6x4_u8_avx2;  // same A layout as avx2u7 (int8_avx2u7.cpp)
#else
constexpr MicroKernel kMicro = nullptr;  // not an x86-64 build
constexpr PackPanelA kPackA = nullptr;
#endif

bool cpu_has(const CpuFeatures& f) { return f.avx2 && f.avxvnni; }

}  // namespace

const KernelInfo& kernel_info_avxvnni() {
  static const KernelInfo info{Int8Kernel::kAvxVnni, "avxvnni", kMR, kNR, kKG,
                               PackedType::kU8, PackedType::kS8, kMicro, cpu_has, kPackA, 255, nullptr,
                               nullptr};
  return info;
}

}  // namespace nibble::detail
