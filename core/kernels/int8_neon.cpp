// AArch64 micro-kernels: baseline NEON and the ARMv8.2 dot-product extension.
//
// NEON has no u8 x s8 multiply (that needs the i8mm extension's usdot), so both kernels work on
// int8 x int8: packing flips activations to signed with a ^ 0x80 (= a - 128) and the driver folds
// the -128 into the zero point: sum (a - za) w = sum ((a - 128) - (za - 128)) w.
#include <cstring>

#include "core/kernels/int8_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace nibble::detail {

namespace {

// ---- baseline NEON: vmull_s8 + vpadalq_s16 --------------------------------------------------------
// Scalar equivalent (micro_reference with MR=4, NR=4, KG=16):
//   for g: for m < 4: for n < 4: c[m][n] += sum_{j<16} a[g][m][j] * b[g][n][j]
// Each (m, n) keeps a vector of 4 partial int32 sums, reduced with vaddvq_s32 at the end.
//   vmull_s8:    8 x (s8 * s8) -> 8 x int16. |product| <= 128 * 128 = 16384: exact.
//   vpadalq_s16: adds neighbouring int16 pairs into the int32 accumulator lanes: exact.
// The trap here would be vmlal_s8 (multiply-accumulate into int16): -128*-128 + -128*-128 = 32768
// overflows int16 - gemmlowp avoids it by banning -128 weights; we avoid vmlal instead.
constexpr int kNeonMR = 4, kNeonNR = 4, kNeonKG = 16;

#if defined(__aarch64__)
void micro_neon(const void* a_panel, const void* b_panel, int64_t kgroups, int32_t* c) {
  const auto* a = static_cast<const int8_t*>(a_panel);  // [kgroups][4][16] int8
  const auto* b = static_cast<const int8_t*>(b_panel);  // [kgroups][4][16] int8
  int32x4_t acc[kNeonMR][kNeonNR];
  for (int m = 0; m < kNeonMR; ++m)
    for (int n = 0; n < kNeonNR; ++n) acc[m][n] = vdupq_n_s32(0);

  for (int64_t g = 0; g < kgroups; ++g) {
    int8x16_t bv[kNeonNR];
    for (int n = 0; n < kNeonNR; ++n) bv[n] = vld1q_s8(b + 16 * n);
    for (int m = 0; m < kNeonMR; ++m) {
      const int8x16_t av = vld1q_s8(a + 16 * m);
      for (int n = 0; n < kNeonNR; ++n) {
        const int16x8_t lo = vmull_s8(vget_low_s8(av), vget_low_s8(bv[n]));  // k 0..7
        const int16x8_t hi = vmull_high_s8(av, bv[n]);                       // k 8..15
        acc[m][n] = vpadalq_s16(acc[m][n], lo);
        acc[m][n] = vpadalq_s16(acc[m][n], hi);
      }
    }
    a += kNeonMR * kNeonKG;
    b += kNeonNR * kNeonKG;
  }
  for (int m = 0; m < kNeonMR; ++m)
    for (int n = 0; n < kNeonNR; ++n) c[m * kNeonNR + n] = vaddvq_s32(acc[m][n]);
}
constexpr MicroKernel kNeonMicro = micro_neon;
#else
constexpr MicroKernel kNeonMicro = nullptr;  // not an aarch64 build
#endif

// ---- NEON dot product: sdot (vdotq_s32) ----------------------------------------------------------
// Scalar equivalent (micro_reference with MR=8, NR=8, KG=4):
//   for g: for m < 8: for n < 8: c[m][n] += sum_{j<4} a[g][m][j] * b[g][n][j]
// vdotq_s32(acc, x, y): lane i += x[4i]*y[4i] + ... + x[4i+3]*y[4i+3], straight into int32 - the
// same shape as x86 vpdpbusd, so the same layout: one q register of B holds 4 columns x 4 k, and
// row m's 4 k-bytes are broadcast to all lanes. 8 rows x 2 q = 16 accumulators of 32 registers.
constexpr int kDotMR = 8, kDotNR = 8, kDotKG = 4;

#if defined(__aarch64__)
#if defined(__clang__)
#define NIBBLE_TARGET_DOTPROD __attribute__((target("dotprod")))
#else  // gcc's arm_neon.h declares vdotq_s32 for "arch=armv8.2-a+dotprod"; "+dotprod" alone mismatches
#define NIBBLE_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

// acc += sdot(a, b). clang < 16 only declares vdotq_s32 when the whole file is built with
// +dotprod, which we avoid (the binary must run on CPUs without it), so there we emit the one
// instruction directly.
NIBBLE_TARGET_DOTPROD inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__clang__) && !defined(__ARM_FEATURE_DOTPROD)
  __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
#else
  return vdotq_s32(acc, a, b);
#endif
}

NIBBLE_TARGET_DOTPROD void micro_neondot(const void* a_panel, const void* b_panel,
                                         int64_t kgroups, int32_t* c) {
  const auto* a = static_cast<const int8_t*>(a_panel);  // [kgroups][8][4] int8
  const auto* b = static_cast<const int8_t*>(b_panel);  // [kgroups][8][4] int8
  int32x4_t acc[kDotMR][2];
  for (int m = 0; m < kDotMR; ++m) acc[m][0] = acc[m][1] = vdupq_n_s32(0);

  for (int64_t g = 0; g < kgroups; ++g) {
    const int8x16_t b0 = vld1q_s8(b);       // columns 0..3, 4 k each
    const int8x16_t b1 = vld1q_s8(b + 16);  // columns 4..7
    for (int m = 0; m < kDotMR; ++m) {
      int32_t quad;
      std::memcpy(&quad, a + 4 * m, 4);
      const int8x16_t av = vreinterpretq_s8_s32(vdupq_n_s32(quad));
      acc[m][0] = sdot(acc[m][0], av, b0);
      acc[m][1] = sdot(acc[m][1], av, b1);
    }
    a += kDotMR * kDotKG;
    b += kDotNR * kDotKG;
  }
  for (int m = 0; m < kDotMR; ++m) {
    vst1q_s32(c + m * kDotNR, acc[m][0]);
    vst1q_s32(c + m * kDotNR + 4, acc[m][1]);
  }
}
#undef NIBBLE_TARGET_DOTPROD
constexpr MicroKernel kDotMicro = micro_neondot;
#else
constexpr MicroKernel kDotMicro = nullptr;  // not an aarch64 build
#endif

bool has_neon(const CpuFeatures& f) { return f.neon; }
bool has_neondot(const CpuFeatures& f) { return f.neon && f.neon_dot; }

}  // namespace

const KernelInfo& kernel_info_neon() {
  static const KernelInfo info{Int8Kernel::kNeon, "neon", kNeonMR, kNeonNR, kNeonKG,
                               PackedType::kS8, PackedType::kS8, kNeonMicro, has_neon,
                               pack_a_bytes<kNeonMR, kNeonKG>, 255, nullptr, nullptr};
  return info;
}

const KernelInfo& kernel_info_neondot() {
  static const KernelInfo info{Int8Kernel::kNeonDot, "neondot", kDotMR, kDotNR, kDotKG,
                               PackedType::kS8, PackedType::kS8, kDotMicro, has_neondot,
                               pack_a_bytes<kDotMR, kDotKG>, 255, nullptr, nullptr};
  return info;
}

}  // namespace nibble::detail
