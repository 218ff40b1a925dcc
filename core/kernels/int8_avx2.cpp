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

#include "core/kernels/int8_pack_x86.h"
#endif

namespace nibble::detail {

namespace {

constexpr int kMR = 6, kNR = 16, kKG = 2;

#if defined(__x86_64__)

// 6 x 16 tile = 6 rows x 2 ymm of 8 int32: 12 accumulators + 2 B vectors + 1 broadcast A
// = 15 of the 16 ymm registers, so nothing spills.
// kRows = 6: the full tile; kRows = 1: row 0 only (micro_1row). kHalves = 2: all 16 columns;
// 1: columns 0-7 only (micro_half). The panels are the same in every case.
template <int kRows, int kHalves = 2>
__attribute__((target("avx2"))) void micro_avx2(const void* a_panel, const void* b_panel,
                                                int64_t kgroups, int32_t* c) {
  const auto* a = static_cast<const uint8_t*>(a_panel);  // [kgroups][6][2] int16
  const auto* b = static_cast<const uint8_t*>(b_panel);  // [kgroups][16][2] int16
  __m256i acc[kRows][kHalves];
#pragma GCC unroll 6
  for (int m = 0; m < kRows; ++m)
    for (int h = 0; h < kHalves; ++h) acc[m][h] = _mm256_setzero_si256();

  for (int64_t g = 0; g < kgroups; ++g) {
    // Lane n of b0 holds the int16 pair (B[2g][n], B[2g+1][n]) for columns 0..7, b1 for 8..15.
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    __m256i b1 = b0;
    if constexpr (kHalves == 2) b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
#pragma GCC unroll 6
    for (int m = 0; m < kRows; ++m) {
      // Broadcast row m's int16 pair (A[m][2g], A[m][2g+1]) as one 32-bit value to all 8 lanes.
      int32_t pair;
      std::memcpy(&pair, a + 4 * m, 4);
      const __m256i av = _mm256_set1_epi32(pair);
      // vpmaddwd: lane n = A[m][2g]*B[2g][n] + A[m][2g+1]*B[2g+1][n], exact in int32.
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(av, b0));
      if constexpr (kHalves == 2)
        acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(av, b1));
    }
    a += kMR * kKG * 2;
    b += kNR * kKG * 2;
  }
#pragma GCC unroll 6
  for (int m = 0; m < kRows; ++m) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * kNR), acc[m][0]);
    if constexpr (kHalves == 2)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * kNR + 8), acc[m][1]);
  }
}

// Packing A (runs on every call, since activations change): the panel is [K/2][6][2] int16, i.e.
// for each k pair g the six rows' pairs (A[m][2g], A[m][2g+1]) as 32-bit units. Each row of
// row-major A already holds its pairs contiguously, so packing is a transpose of a 6 x (K/2)
// matrix of 32-bit units plus a zero-extension. pack_a_panel_reference does it one element at a
// time (~2 ns/element); here 16 k values (8 pairs) of all six rows per step:
//   r[m] = vpmovzxbw(16 bytes of row m)   -> 32-bit unit j of r[m] = pair j of row m
//   unpack 32-bit, then 64-bit units       -> rows 0-3 of one pair side by side (16 bytes)
//   store rows 0-3 (16 bytes) and rows 4-5 (8 bytes) of each pair: 24 bytes per pair.
// Within a 256-bit register the unpack instructions work on each 128-bit half separately, so
// the low halves hold pairs 0-3 and the high halves pairs 4-7.
// One step: 16 bytes at src[m] for the six rows -> `pairs` (<= 8) packed pairs at dst.
__attribute__((target("avx2"))) inline void pack16_avx2(const uint8_t* const* src, uint8_t xor_mask,
                                                 int pairs, uint8_t* dst) {
  const __m128i mask = _mm_set1_epi8(static_cast<char>(xor_mask));
  __m256i r[kMR];
#pragma GCC unroll 6
  for (int m = 0; m < kMR; ++m) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[m]));
    r[m] = _mm256_cvtepu8_epi16(_mm_xor_si128(bytes, mask));
  }
  // Pairs p, p+1 of rows (0,1): unpacklo -> r0[p] r1[p] r0[p+1] r1[p+1] (p = 0 | 4 per half).
  const __m256i t01lo = _mm256_unpacklo_epi32(r[0], r[1]);
  const __m256i t01hi = _mm256_unpackhi_epi32(r[0], r[1]);  // pairs 2, 3 | 6, 7
  const __m256i t23lo = _mm256_unpacklo_epi32(r[2], r[3]);
  const __m256i t23hi = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t45lo = _mm256_unpacklo_epi32(r[4], r[5]);
  const __m256i t45hi = _mm256_unpackhi_epi32(r[4], r[5]);
  // Rows 0-3 of one pair: q[j] = pair j (low half) and pair j + 4 (high half).
  const __m256i q[4] = {_mm256_unpacklo_epi64(t01lo, t23lo), _mm256_unpackhi_epi64(t01lo, t23lo),
                        _mm256_unpacklo_epi64(t01hi, t23hi), _mm256_unpackhi_epi64(t01hi, t23hi)};
  // Rows 4-5 of pairs 0,1 | 4,5 sit in t45lo, of pairs 2,3 | 6,7 in t45hi (8 bytes each).
  const __m128i r45[4] = {_mm256_castsi256_si128(t45lo), _mm256_castsi256_si128(t45hi),
                          _mm256_extracti128_si256(t45lo, 1), _mm256_extracti128_si256(t45hi, 1)};
#pragma GCC unroll 8
  for (int p = 0; p < 8; ++p) {
    if (p == pairs) break;
    const __m256i rows03 = q[p % 4];
    const __m128i lo =
        p < 4 ? _mm256_castsi256_si128(rows03) : _mm256_extracti128_si256(rows03, 1);
    const __m128i pair45 = r45[(p / 4) * 2 + (p % 4) / 2];
    const __m128i rows45 = (p % 2 == 0) ? pair45 : _mm_unpackhi_epi64(pair45, pair45);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + p * 24), lo);  // 24 bytes per pair
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + p * 24 + 16), rows45);
  }
}

__attribute__((target("avx2"))) void pack_a_avx2(const uint8_t* const* rows, int64_t K,
                                                 uint8_t xor_mask, void* panel) {
  pack_panel_in_steps_of_16<kMR>(rows, K, xor_mask, kKG, kMR * kKG * 2,
                                 static_cast<uint8_t*>(panel), pack16_avx2);
}

constexpr MicroKernel kMicro = micro_avx2<kMR>;
constexpr MicroKernel kMicro1 = micro_avx2<1>;
constexpr MicroKernel kMicroHalf = micro_avx2<kMR, 1>;
constexpr PackPanelA kPackA = pack_a_avx2;
#else
constexpr MicroKernel kMicro = nullptr;  // not an x86-64 build
constexpr MicroKernel kMicro1 = nullptr;
constexpr MicroKernel kMicroHalf = nullptr;
constexpr PackPanelA kPackA = nullptr;
#endif

bool cpu_has(const CpuFeatures& f) { return f.avx2; }

}  // namespace

const KernelInfo& kernel_info_avx2() {
  static const KernelInfo info{Int8Kernel::kAvx2, "avx2", kMR, kNR, kKG,
                               PackedType::kS16, PackedType::kS16, kMicro, cpu_has, kPackA, 255, kMicro1,
                               kMicroHalf};
  return info;
}

}  // namespace nibble::detail
