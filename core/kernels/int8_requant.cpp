// Fixed-point requantization, integers only, exactly as gemmlowp (fixedpoint.h) and TFLite do it:
// the int32 accumulator is scaled by a real factor (input_scale * weight_scale / output_scale)
// represented as a Q31 multiplier and a power-of-two shift. Used by int8_gemm_u8 / int8_gemm_s8.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/kernels/int8_gemm.h"
#include "core/kernels/int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nibble {

int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  // round(a * b * 2 / 2^32). The nudge then truncating division rounds to nearest; an exact
  // half (only possible when a*b is an odd multiple of 2^30) goes UP, toward +infinity:
  // (1, 2^30) -> 1 (0.5 rounds up), (-1, 2^30) -> 0 (-0.5 rounds up), like ARM's SQRDMULH.
  if (a == b && a == std::numeric_limits<int32_t>::min()) return std::numeric_limits<int32_t>::max();
  const int64_t ab = static_cast<int64_t>(a) * b;
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));  // division truncates to 0
}

int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  // x >> exponent floors; add 1 when the dropped fraction is >= 1/2 (x >= 0) or > 1/2 (x < 0).
  // Net effect: round to nearest, exact halves away from zero (-1.5 -> -2, 1.5 -> 2).
  // (if + fail rather than NIBBLE_CHECK(): this runs once per output, and NIBBLE_CHECK() would build its
  // message string every time.)
  if (exponent < 0 || exponent > 31)
    fail("rounding_divide_by_pot", "exponent " + std::to_string(exponent) + " is outside [0, 31]");
  const int64_t mask = (int64_t{1} << exponent) - 1;
  const int64_t remainder = x & mask;
  const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return static_cast<int32_t>((int64_t{x} >> exponent) + (remainder > threshold ? 1 : 0));
}

int32_t requantize(int32_t acc, int32_t multiplier, int right_shift) {
  if (right_shift >= 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(acc, multiplier),
                                  right_shift);
  // real >= 1: scale up first (saturating), then the multiplier in [0.5, 1).
  const int64_t up = static_cast<int64_t>(acc) * (int64_t{1} << std::min(-right_shift, 31));
  const int64_t sat = std::clamp<int64_t>(up, std::numeric_limits<int32_t>::min(),
                                          std::numeric_limits<int32_t>::max());
  return saturating_rounding_doubling_high_mul(static_cast<int32_t>(sat), multiplier);
}

void quantize_multiplier(double real, int32_t* multiplier, int* right_shift) {
  // if + fail, not NIBBLE_CHECK(): layers call this per channel on every forward, and NIBBLE_CHECK() would
  // format its message (to_string: a printf) every time.
  if (multiplier == nullptr || right_shift == nullptr)
    fail("quantize_multiplier", "null output pointer");
  if (!(std::isfinite(real) && real >= 0.0 && real < 2147483648.0))
    fail("quantize_multiplier", "real multiplier " + std::to_string(real) + " is outside [0, 2^31)",
         "it is input_scale * weight_scale / output_scale; check the scales are positive");
  if (real == 0.0) {
    *multiplier = 0;
    *right_shift = 0;
    return;
  }
  int exponent = 0;
  const double q = std::frexp(real, &exponent);  // real = q * 2^exponent, q in [0.5, 1)
  int64_t q31 = std::llround(q * 2147483648.0);  // q in Q31
  if (q31 == (int64_t{1} << 31)) {               // q rounded up to 1.0
    q31 /= 2;
    ++exponent;
  }
  int shift = -exponent;
  if (shift > 31) {  // real < 2^-31: keep the shift legal, give up multiplier precision
    q31 = std::min<int64_t>(std::llround(std::ldexp(real, 62)), 0x7fffffff);
    shift = 31;
  }
  if (shift < -31)
    fail("quantize_multiplier", "real multiplier rounds up to 2^31", "use a real multiplier below 2^31");
  *multiplier = static_cast<int32_t>(q31);
  *right_shift = shift;
}

// ---- the epilogue of int8_gemm_u8 / int8_gemm_s8, one row segment at a time ------------------------

template <typename T>
void detail::requantize_row_reference(const RequantRow& p, const int32_t* acc, int count, T* out) {
  for (int c = 0; c < count; ++c) {
    const auto a = static_cast<int32_t>(static_cast<uint32_t>(acc[c]) +
                                        static_cast<uint32_t>(p.offset[c]));  // wraps, as run_gemm
    const int64_t q = int64_t{p.zero_point} + requantize(a, p.multiplier[c], p.right_shift[c]);
    out[c] = static_cast<T>(std::clamp<int64_t>(q, p.lo, p.hi));
  }
}

#if defined(__x86_64__)
namespace {

// round(a * b / 2^31), exact halves up, for lanes 0, 2, 4, 6 of a and b, as 64-bit results: the
// step saturating_rounding_doubling_high_mul does per element. Its nudge-and-truncate, (ab + 2^30)
// / 2^31 for ab >= 0 and (ab + 1 - 2^30) / 2^31 truncated toward zero for ab < 0, is in both
// cases floor((ab + 2^30) / 2^31) (for negative x, trunc(x / 2^31) = floor((x + 2^31 - 1) / 2^31)),
// i.e. one add and one shift. The result fits in 32 bits, so a logical 64-bit shift gets those
// bits right (AVX2 has no 64-bit arithmetic shift). (The one saturating case, INT32_MIN squared,
// needs a negative multiplier, which the callers reject.)
__attribute__((target("avx2"), always_inline)) inline __m256i high_mul_even_lanes(__m256i a,
                                                                                  __m256i b) {
  const __m256i ab = _mm256_mul_epi32(a, b);  // exact int64 products of the even lanes
  return _mm256_srli_epi64(_mm256_add_epi64(ab, _mm256_set1_epi64x(int64_t{1} << 30)), 31);
}

// The same arithmetic as requantize() on 8 lanes; right shifts must be >= 0 and multipliers >= 0
// (int8_gemm_u8/s8 check the latter, so the one saturating case INT32_MIN * INT32_MIN of
// saturating_rounding_doubling_high_mul cannot occur).
__attribute__((target("avx2"), always_inline)) inline __m256i requantize8(__m256i acc,
                                                                          __m256i mult,
                                                                          __m256i shift) {
  const __m256i zero = _mm256_setzero_si256();
  // 1. The rounding high multiply: even lanes, then odd lanes moved down into even position.
  const __m256i even = high_mul_even_lanes(acc, mult);
  const __m256i odd = high_mul_even_lanes(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(mult, 32));
  // Low 32 bits of each 64-bit result: even lanes from `even`, odd lanes from `odd` shifted up.
  const __m256i x = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);

  // 2. rounding_divide_by_pot(x, shift): x >> shift, +1 when the remainder exceeds the threshold.
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, shift), one);  // 2^shift - 1
  const __m256i remainder = _mm256_and_si256(x, mask);
  // threshold = mask / 2, + 1 for negative x (cmpgt gives -1, so subtract it).
  const __m256i threshold =
      _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), _mm256_cmpgt_epi32(zero, x));
  return _mm256_sub_epi32(_mm256_srav_epi32(x, shift), _mm256_cmpgt_epi32(remainder, threshold));
}

// 8 int32 in [-128, 255] -> 8 bytes at out (exact: the packs only narrow in-range values).
__attribute__((target("avx2"))) inline void store8(__m256i v, uint8_t* out) {
  const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(words, words));
}
__attribute__((target("avx2"))) inline void store8(__m256i v, int8_t* out) {
  const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packs_epi16(words, words));
}

template <typename T>
__attribute__((target("avx2"))) void requantize_tile_avx2(const detail::RequantRow& p,
                                                          const int32_t* acc, int64_t acc_stride,
                                                          int rows, int count, T* out,
                                                          int64_t out_stride) {
  // Clamp before adding the zero point, so the addition cannot overflow int32.
  const __m256i zp = _mm256_set1_epi32(p.zero_point);
  const __m256i lo = _mm256_set1_epi32(p.lo - p.zero_point);
  const __m256i hi = _mm256_set1_epi32(p.hi - p.zero_point);
  int c = 0;
  for (; c + 8 <= count; c += 8) {
    // The column constants, once for all rows of the tile.
    const __m256i shift = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.right_shift + c));
    const detail::RequantRow at_c{p.offset + c, p.multiplier + c, p.right_shift + c,
                                  p.zero_point, p.lo, p.hi};
    if (_mm256_movemask_ps(_mm256_castsi256_ps(shift)) != 0) {  // a left shift (real >= 1): rare
      for (int r = 0; r < rows; ++r)
        detail::requantize_row_reference(at_c, acc + r * acc_stride + c, 8, out + r * out_stride + c);
      continue;
    }
    const __m256i offset = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.offset + c));
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.multiplier + c));
    for (int r = 0; r < rows; ++r) {  // independent rows: the out-of-order core overlaps them
      const __m256i a = _mm256_add_epi32(  // wraps around, as the reference
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + r * acc_stride + c)), offset);
      __m256i q = requantize8(a, m, shift);
      q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
      store8(_mm256_add_epi32(q, zp), out + r * out_stride + c);
    }
  }
  if (c < count) {
    const detail::RequantRow at_c{p.offset + c, p.multiplier + c, p.right_shift + c, p.zero_point,
                                  p.lo, p.hi};
    for (int r = 0; r < rows; ++r)
      detail::requantize_row_reference(at_c, acc + r * acc_stride + c, count - c,
                                       out + r * out_stride + c);
  }
}

}  // namespace
#endif

template <typename T>
void detail::requantize_tile(const RequantRow& p, const int32_t* acc, int64_t acc_stride, int rows,
                             int count, T* out, int64_t out_stride) {
#if defined(__x86_64__)
  if (cpu_features().avx2) {
    requantize_tile_avx2(p, acc, acc_stride, rows, count, out, out_stride);
    return;
  }
#endif
  for (int r = 0; r < rows; ++r)
    requantize_row_reference(p, acc + r * acc_stride, count, out + r * out_stride);
}

template void detail::requantize_row_reference(const RequantRow&, const int32_t*, int, uint8_t*);
template void detail::requantize_row_reference(const RequantRow&, const int32_t*, int, int8_t*);
template void detail::requantize_tile(const RequantRow&, const int32_t*, int64_t, int, int,
                                      uint8_t*, int64_t);
template void detail::requantize_tile(const RequantRow&, const int32_t*, int64_t, int, int,
                                      int8_t*, int64_t);

}  // namespace nibble
