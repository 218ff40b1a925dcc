// Fixed-point requantization, integers only, exactly as gemmlowp (fixedpoint.h) and TFLite do it:
// the int32 accumulator is scaled by a real factor (input_scale * weight_scale / output_scale)
// represented as a Q31 multiplier and a power-of-two shift. Used by int8_gemm_u8 / int8_gemm_s8.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/kernels/int8_gemm.h"

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
  // (if + fail rather than check(): this runs once per output, and check() would build its
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
  check(multiplier != nullptr && right_shift != nullptr, "quantize_multiplier",
        "null output pointer");
  check(std::isfinite(real) && real >= 0.0 && real < 2147483648.0, "quantize_multiplier",
        "real multiplier " + std::to_string(real) + " is outside [0, 2^31)",
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
  check(shift >= -31, "quantize_multiplier", "real multiplier rounds up to 2^31",
        "use a real multiplier below 2^31");
  *multiplier = static_cast<int32_t>(q31);
  *right_shift = shift;
}

}  // namespace nibble
