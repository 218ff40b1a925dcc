// The sparse convolution's AVX2 loop (contract in int8_internal.h): per non-zero tap, 64 output
// positions get acc += w * x, where x are 64 consecutive input bytes.
//
// The multiply: vpmaddwd (int16 x int16, adjacent pairs summed into int32) is exact for u8 x s8,
// but it always adds two neighbours. Zero-extending 16 input bytes to int16 (vpmovzxbw) and
// multiplying by the pair (w, 0) gives w * x of the EVEN positions 0, 2, .., 14 as 8 int32; the
// pair (0, w) gives the ODD ones. So a block keeps 8 accumulators (4 x 16 positions, even and
// odd) and interleaves them back once at the end. Per tap and 16 positions: one load-and-extend,
// two multiply-adds, two additions - no int16 stage that could saturate (README: the trap), and
// no shuffle in the tap loop. (vpmulld on vpmovzxbd would need twice the extends and a
// multiply that costs two uops; grouping taps in pairs for vpmaddwd needs byte interleaving,
// about as many shuffles as it saves.)
#include "core/kernels/int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>

namespace nibble::detail {

namespace {
__attribute__((target("avx2"), always_inline)) inline __m256i extend16(const uint8_t* p) {
  return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));  // 16 x u8 -> int16
}
// even = positions 0, 2, .., 14 and odd = 1, 3, .., 15 of 16 -> acc[0 .. 15] in order.
__attribute__((target("avx2"), always_inline)) inline void store16(__m256i even, __m256i odd, int32_t* acc) {
  const __m256i lo = _mm256_unpacklo_epi32(even, odd);  // positions 0-3 | 8-11
  const __m256i hi = _mm256_unpackhi_epi32(even, odd);  // positions 4-7 | 12-15
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc), _mm256_permute2x128_si256(lo, hi, 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
}
__attribute__((target("avx2"), always_inline)) inline __m256i load(const int32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
}  // namespace

__attribute__((target("avx2"))) void sparse_conv_accumulate_avx2(const uint8_t* xp, const int32_t* off,
                                                                 const int8_t* w, int64_t ntaps,
                                                                 int64_t flat, int32_t* acc) {
  for (int64_t q0 = 0; q0 < flat; q0 += 64) {
    __m256i e0 = _mm256_setzero_si256(), e1 = e0, e2 = e0, e3 = e0;  // even positions
    __m256i o0 = e0, o1 = e0, o2 = e0, o3 = e0;                      // odd positions
    for (int64_t t = 0; t < ntaps; ++t) {
      const uint8_t* x = xp + off[t] + q0;
      const __m256i we = _mm256_set1_epi32(static_cast<uint16_t>(w[t]));  // int16 pairs (w, 0)
      const __m256i wo = _mm256_slli_epi32(we, 16);                        // (0, w)
      const __m256i x0 = extend16(x), x1 = extend16(x + 16), x2 = extend16(x + 32), x3 = extend16(x + 48);
      e0 = _mm256_add_epi32(e0, _mm256_madd_epi16(x0, we));
      o0 = _mm256_add_epi32(o0, _mm256_madd_epi16(x0, wo));
      e1 = _mm256_add_epi32(e1, _mm256_madd_epi16(x1, we));
      o1 = _mm256_add_epi32(o1, _mm256_madd_epi16(x1, wo));
      e2 = _mm256_add_epi32(e2, _mm256_madd_epi16(x2, we));
      o2 = _mm256_add_epi32(o2, _mm256_madd_epi16(x2, wo));
      e3 = _mm256_add_epi32(e3, _mm256_madd_epi16(x3, we));
      o3 = _mm256_add_epi32(o3, _mm256_madd_epi16(x3, wo));
    }
    store16(e0, o0, acc + q0);
    store16(e1, o1, acc + q0 + 16);
    store16(e2, o2, acc + q0 + 32);
    store16(e3, o3, acc + q0 + 48);
  }
}

// Rows 2py and 2py + 1: their element-wise max (vpmaxsd), then the max of neighbouring columns:
// shuffle_ps picks the even and the odd columns of 16 (per 128-bit half: even 0 2 | 8 10 ..),
// and one 64-bit permute puts the 8 results back in order.
__attribute__((target("avx2"))) void max_pool2_s32_avx2(const int32_t* acc, int64_t stride, int64_t PH,
                                                        int64_t PW, int32_t* out) {
  for (int64_t py = 0; py < PH; ++py) {
    const int32_t* r0 = acc + 2 * py * stride;
    const int32_t* r1 = r0 + stride;
    int32_t* o = out + py * PW;
    int64_t px = 0;
    for (; px + 8 <= PW; px += 8) {
      const __m256 a = _mm256_castsi256_ps(_mm256_max_epi32(load(r0 + 2 * px), load(r1 + 2 * px)));
      const __m256 b = _mm256_castsi256_ps(_mm256_max_epi32(load(r0 + 2 * px + 8), load(r1 + 2 * px + 8)));
      const __m256i even = _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
      const __m256i odd = _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
      // columns (0 1 4 5 | 2 3 6 7) of the 8 results -> 0 .. 7
      const __m256i m = _mm256_permute4x64_epi64(_mm256_max_epi32(even, odd), _MM_SHUFFLE(3, 1, 2, 0));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + px), m);
    }
    for (; px < PW; ++px)
      o[px] = std::max(std::max(r0[2 * px], r0[2 * px + 1]), std::max(r1[2 * px], r1[2 * px + 1]));
  }
}

}  // namespace nibble::detail
#endif
