// AVX2 micro-kernel for 7-bit activations: the textbook vpmaddubsw kernel, made exact by
// restricting the activations to [0, 127] - the trade PyTorch's fbgemm backend makes with
// `reduce_range=True`.
//
// Scalar equivalent (micro_reference with this layout, MR=6, NR=16, KG=4 - the avxvnni layout):
//   for g: for m < 6: for n < 16:
//     c[m][n] += sum_{j<4} a[g][m][j] * b[g][n][j]        (a uint8 in [0, 127], b int8)
//
// vpmaddubsw multiplies 32 unsigned bytes by 32 signed bytes and adds neighbouring products into
// int16 WITH SATURATION. With a <= 127 the worst pair is 127 * -128 * 2 = -32512, inside int16,
// so nothing saturates and the result is exact (the full-range trap, 255 * -128 * 2 = -65280, is
// why the default avx2 kernel widens to int16 instead: README, "the saturation trap").
// vpmaddwd against a vector of ones then adds neighbouring int16 pairs into int32 - four
// products per lane, the same sum one vpdpbusd gives - and vpaddd accumulates.
// Why bother: per 32 MACs this issues 2 multiply uops + 1 add (the exact avx2 kernel: 2 + 2) and
// reads 8-bit instead of 16-bit packed data; on Zen 3 that is ~20% more throughput.
//
// Never picked automatically (int8_select_kernel): a caller asks for it, and the driver checks
// every activation is <= 127 in the kernel's domain (nibble::Error otherwise), so full-range data
// can never be silently wrong.
#include <cstring>

#include "core/kernels/int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "core/kernels/int8_pack_x86.h"
#endif

namespace nibble::detail {

namespace {

constexpr int kMR = 6, kNR = 16, kKG = 4;

#if defined(__x86_64__)

// kRows = 6: the full tile; kRows = 1: row 0 only (micro_1row). kHalves = 2: all 16 columns;
// 1: columns 0-7 only (micro_half). The panels are the same in every case.
template <int kRows, int kHalves = 2>
__attribute__((target("avx2"))) void micro_avx2u7(const void* a_panel, const void* b_panel,
                                                  int64_t kgroups, int32_t* c) {
  const auto* a = static_cast<const uint8_t*>(a_panel);  // [kgroups][6][4] uint8 in [0, 127]
  const auto* b = static_cast<const int8_t*>(b_panel);   // [kgroups][16][4] int8
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[kRows][kHalves];
#pragma GCC unroll 6
  for (int m = 0; m < kRows; ++m)
    for (int h = 0; h < kHalves; ++h) acc[m][h] = _mm256_setzero_si256();

  for (int64_t g = 0; g < kgroups; ++g) {
    // Lane n of b0 holds B[4g..4g+3][n] for columns 0..7, b1 for columns 8..15.
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    __m256i b1 = b0;
    if constexpr (kHalves == 2) b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
#pragma GCC unroll 6
    for (int m = 0; m < kRows; ++m) {
      int32_t quad;  // A[m][4g..4g+3], broadcast to all 8 lanes
      std::memcpy(&quad, a + 4 * m, 4);
      const __m256i av = _mm256_set1_epi32(quad);
      // int16 pairs (exact: |a| <= 127), then int32 quads, then accumulate.
      const __m256i q0 = _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones);
      acc[m][0] = _mm256_add_epi32(acc[m][0], q0);
      if constexpr (kHalves == 2) {
        const __m256i q1 = _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones);
        acc[m][1] = _mm256_add_epi32(acc[m][1], q1);
      }
    }
    a += kMR * kKG;
    b += kNR * kKG;
  }
#pragma GCC unroll 6
  for (int m = 0; m < kRows; ++m) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * kNR), acc[m][0]);
    if constexpr (kHalves == 2)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * kNR + 8), acc[m][1]);
  }
}

constexpr MicroKernel kMicro = micro_avx2u7<kMR>;
constexpr MicroKernel kMicro1 = micro_avx2u7<1>;
constexpr MicroKernel kMicroHalf = micro_avx2u7<kMR, 1>;
constexpr PackPanelA kPackA = pack_a_6x4_u8_avx2;
#else
constexpr MicroKernel kMicro = nullptr;  // not an x86-64 build
constexpr MicroKernel kMicro1 = nullptr;
constexpr MicroKernel kMicroHalf = nullptr;
constexpr PackPanelA kPackA = nullptr;
#endif

bool cpu_has(const CpuFeatures& f) { return f.avx2; }

}  // namespace

#if defined(__x86_64__)
// The A packer of the [K/4][6][4] uint8 layout (this kernel and avxvnni, whose CPUs all have
// AVX2): per k quad, the six rows' quads (A[m][4g..4g+3]) as 32-bit units, i.e. a transpose of
// 6 rows x (K/4) quads. 16 k values (4 quads) of all six rows per step:
//   rows 0-3: the classic 4x4 transpose of 32-bit units (vpunpck{l,h}dq, vpunpck{l,h}qdq)
//   rows 4-5: vpunpck{l,h}dq gives (r4 q, r5 q) side by side, 8 bytes per quad
// then 16 + 8 = 24 bytes per quad.
namespace {
__attribute__((target("avx2"))) inline void pack16_6x4(const uint8_t* const* src, uint8_t xor_mask,
                                                int quads, uint8_t* dst) {
  const __m128i mask = _mm_set1_epi8(static_cast<char>(xor_mask));
  __m128i r[kMR];
  for (int m = 0; m < kMR; ++m)
    r[m] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src[m])), mask);
  const __m128i t01lo = _mm_unpacklo_epi32(r[0], r[1]);  // r0q0 r1q0 r0q1 r1q1
  const __m128i t01hi = _mm_unpackhi_epi32(r[0], r[1]);  // r0q2 r1q2 r0q3 r1q3
  const __m128i t23lo = _mm_unpacklo_epi32(r[2], r[3]);
  const __m128i t23hi = _mm_unpackhi_epi32(r[2], r[3]);
  const __m128i rows03[4] = {_mm_unpacklo_epi64(t01lo, t23lo), _mm_unpackhi_epi64(t01lo, t23lo),
                             _mm_unpacklo_epi64(t01hi, t23hi), _mm_unpackhi_epi64(t01hi, t23hi)};
  const __m128i t45lo = _mm_unpacklo_epi32(r[4], r[5]);  // r4q0 r5q0 r4q1 r5q1
  const __m128i t45hi = _mm_unpackhi_epi32(r[4], r[5]);  // r4q2 r5q2 r4q3 r5q3
  const __m128i rows45[4] = {t45lo, _mm_unpackhi_epi64(t45lo, t45lo), t45hi,
                             _mm_unpackhi_epi64(t45hi, t45hi)};
  for (int q = 0; q < quads; ++q) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + q * 24), rows03[q]);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + q * 24 + 16), rows45[q]);
  }
}
}  // namespace

__attribute__((target("avx2"))) void pack_a_6x4_u8_avx2(const uint8_t* const* rows, int64_t K,
                                                        uint8_t xor_mask, void* panel) {
  pack_panel_in_steps_of_16<kMR>(rows, K, xor_mask, kKG, kMR * kKG,
                                 static_cast<uint8_t*>(panel), pack16_6x4);
}
#endif

const KernelInfo& kernel_info_avx2u7() {
  static const KernelInfo info{Int8Kernel::kAvx2U7, "avx2u7", kMR, kNR, kKG,
                               PackedType::kU8, PackedType::kS8, kMicro, cpu_has, kPackA, 127, kMicro1,
                               kMicroHalf};
  return info;
}

}  // namespace nibble::detail
