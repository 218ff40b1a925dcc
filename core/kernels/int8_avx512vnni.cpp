// AVX-512 VNNI micro-kernel: vpdpbusd on 512-bit registers.
//
// Scalar equivalent (micro_reference with this layout, MR=8, NR=32, KG=4):
//   for g: for m < 8: for n < 32:
//     c[m][n] += sum_{j<4} a[g][m][j] * b[g][n][j]        (a uint8, b int8)
//
// Same idea as the AVX-VNNI kernel with registers twice as wide: one zmm holds 16 columns of
// 4 k-bytes. 8 rows x 2 zmm = 16 accumulators of the 32 zmm registers.
//
// UNTESTED ON HARDWARE in this repo's CI machine (Zen 3 has no AVX-512): the tests check its
// packing/tiling through the emulated path and skip the real kernel with a printed reason.
#include <cstring>

#include "core/kernels/int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nibble::detail {

namespace {

constexpr int kMR = 8, kNR = 32, kKG = 4;

#if defined(__x86_64__)

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void micro_avx512vnni(
    const void* a_panel, const void* b_panel, int64_t kgroups, int32_t* c) {
  const auto* a = static_cast<const uint8_t*>(a_panel);  // [kgroups][8][4] uint8
  const auto* b = static_cast<const int8_t*>(b_panel);   // [kgroups][32][4] int8
  __m512i acc[kMR][2];
#pragma GCC unroll 8
  for (int m = 0; m < kMR; ++m) acc[m][0] = acc[m][1] = _mm512_setzero_si512();

  for (int64_t g = 0; g < kgroups; ++g) {
    const __m512i b0 = _mm512_loadu_si512(b);       // columns 0..15
    const __m512i b1 = _mm512_loadu_si512(b + 64);  // columns 16..31
#pragma GCC unroll 8
    for (int m = 0; m < kMR; ++m) {
      int32_t quad;
      std::memcpy(&quad, a + 4 * m, 4);
      const __m512i av = _mm512_set1_epi32(quad);
      acc[m][0] = _mm512_dpbusd_epi32(acc[m][0], av, b0);
      acc[m][1] = _mm512_dpbusd_epi32(acc[m][1], av, b1);
    }
    a += kMR * kKG;
    b += kNR * kKG;
  }
#pragma GCC unroll 8
  for (int m = 0; m < kMR; ++m) {
    _mm512_storeu_si512(c + m * kNR, acc[m][0]);
    _mm512_storeu_si512(c + m * kNR + 16, acc[m][1]);
  }
}

constexpr MicroKernel kMicro = micro_avx512vnni;
#else
constexpr MicroKernel kMicro = nullptr;  // not an x86-64 build
#endif

bool cpu_has(const CpuFeatures& f) { return f.avx512f && f.avx512bw && f.avx512vnni; }

}  // namespace

const KernelInfo& kernel_info_avx512vnni() {
  static const KernelInfo info{Int8Kernel::kAvx512Vnni, "avx512vnni", kMR, kNR, kKG,
                               PackedType::kU8, PackedType::kS8, kMicro, cpu_has, pack_a_bytes<kMR, kKG>, 255,
                               nullptr, nullptr};
  return info;
}

}  // namespace nibble::detail
