// The loop shared by the x86 fast A packers (int8_avx2.cpp, int8_avx2u7.cpp); internal.
#pragma once

#include <cstdint>
#include <cstring>

#include <immintrin.h>

namespace nibble::detail {

// Drives a fast A packer that handles 16 k-values of all MR rows per step:
//   step(src, xor_mask, groups, dst) packs 16 bytes at each src[m] as `groups` k-groups at dst.
// Full steps read the rows in place. The last n = K % 16 values go through the same step from
// 16-byte copies whose bytes past n are 0 (not 0 ^ mask: padding must add nothing), and the step
// writes only the k-groups that exist, so the panel needs no slack at its end. When K >= 16 the
// copy is one load of the row's LAST 16 bytes (inside the row, so never past the buffer),
// flipped, then moved down by n bytes with vpshufb, whose index 0x80 writes a zero.
// Compiled for AVX2 so that the AVX2 step inlines into the loop.
template <int MR, class Step>
__attribute__((target("avx2"))) void pack_panel_in_steps_of_16(const uint8_t* const* rows,
                                                                int64_t K, uint8_t xor_mask,
                                                                int kg, int64_t bytes_per_group,
                                                                uint8_t* out, const Step& step) {
  const uint8_t* src[MR];
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    for (int m = 0; m < MR; ++m) src[m] = rows[m] + k;
    step(src, xor_mask, 16 / kg, out + (k / kg) * bytes_per_group);
  }
  if (k == K) return;
  const int n = static_cast<int>(K - k);  // 1 .. 15
  alignas(16) uint8_t tail[MR][16];
  if (K >= 16) {
    alignas(16) uint8_t index[16];  // byte i <- byte 16 - n + i of the last 16, or 0
    for (int i = 0; i < 16; ++i) index[i] = i < n ? static_cast<uint8_t>(16 - n + i) : 0x80;
    const __m128i select = _mm_load_si128(reinterpret_cast<const __m128i*>(index));
    const __m128i flip = _mm_set1_epi8(static_cast<char>(xor_mask));
    for (int m = 0; m < MR; ++m) {
      const __m128i last16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[m] + K - 16));
      _mm_store_si128(reinterpret_cast<__m128i*>(tail[m]),
                      _mm_shuffle_epi8(_mm_xor_si128(last16, flip), select));
      src[m] = tail[m];
    }
  } else {
    std::memset(tail, 0, sizeof tail);
    for (int m = 0; m < MR; ++m) {
      for (int i = 0; i < n; ++i) tail[m][i] = rows[m][k + i] ^ xor_mask;
      src[m] = tail[m];
    }
  }
  step(src, uint8_t{0}, (n + kg - 1) / kg, out + (k / kg) * bytes_per_group);
}

}  // namespace nibble::detail
