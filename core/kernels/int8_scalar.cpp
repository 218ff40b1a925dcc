// The scalar reference: plain C++ that runs everywhere and defines what "correct" means for the
// SIMD micro-kernels. Every SIMD kernel is tested bit-exact against it, and the test suite checks
// it in turn against an independent int64 triple loop.
#include <cstring>

#include "core/kernels/int8_internal.h"

namespace nibble::detail {

namespace {

// Reads element i of a panel stored as type t, widened to int32.
inline int32_t load(const void* panel, PackedType t, int64_t i) {
  switch (t) {
    case PackedType::kU8: return static_cast<const uint8_t*>(panel)[i];
    case PackedType::kS8: return static_cast<const int8_t*>(panel)[i];
    case PackedType::kS16: {
      int16_t v;  // memcpy: the panel bytes live in an int8 vector, so no int16 pointer casts
      std::memcpy(&v, static_cast<const uint8_t*>(panel) + 2 * i, sizeof v);
      return v;
    }
  }
  return 0;
}

// The scalar kernel's own layout: 4x4 tiles, one k at a time (KG = 1), so a B panel is [K][4]
// (4 weights per k) and an A panel [K][4] (4 activations per k). The same loop as
// micro_reference with the sizes and types fixed, so the compiler keeps the 16 sums in registers.
constexpr int kMR = 4, kNR = 4;

void micro_scalar(const void* a_panel, const void* b_panel, int64_t kgroups, int32_t* c) {
  const auto* a = static_cast<const uint8_t*>(a_panel);
  const auto* b = static_cast<const int8_t*>(b_panel);
  int32_t acc[kMR][kNR] = {};
  for (int64_t k = 0; k < kgroups; ++k, a += kMR, b += kNR)
    for (int m = 0; m < kMR; ++m)
      for (int n = 0; n < kNR; ++n) acc[m][n] += a[m] * b[n];
  for (int m = 0; m < kMR; ++m)
    for (int n = 0; n < kNR; ++n) c[m * kNR + n] = acc[m][n];
}

bool always(const CpuFeatures&) { return true; }

const KernelInfo kScalarInfo{Int8Kernel::kScalar, "scalar", kMR, kNR, 1,
                             PackedType::kU8, PackedType::kS8, micro_scalar, always,
                             pack_a_bytes<4, 1>, 255, nullptr, nullptr};

}  // namespace

void micro_reference(const KernelInfo& L, const void* a, const void* b, int64_t kgroups,
                     int32_t* c) {
  // The definition from int8_internal.h, written out as loops:
  //   c[m][n] = sum over groups g and lanes j of a[g][m][j] * b[g][n][j]
  // Products of u8 x s8 fit in int32 and K <= 65536 keeps the sum in int32 as well.
  for (int m = 0; m < L.mr; ++m) {
    for (int n = 0; n < L.nr; ++n) {
      int32_t sum = 0;
      for (int64_t g = 0; g < kgroups; ++g) {
        for (int j = 0; j < L.kg; ++j) {
          const int32_t av = load(a, L.a_type, (g * L.mr + m) * L.kg + j);
          const int32_t bv = load(b, L.b_type, (g * L.nr + n) * L.kg + j);
          sum += av * bv;
        }
      }
      c[m * L.nr + n] = sum;
    }
  }
}

void pack_a_panel_reference(const KernelInfo& L, const uint8_t* const* rows, int64_t K,
                            uint8_t xor_mask, void* panel) {
  // Element (g, m, j) of the panel is A[m][g * KG + j], or 0 past the end of K or of the rows.
  const int64_t kgroups = (K + L.kg - 1) / L.kg;
  for (int64_t g = 0; g < kgroups; ++g) {
    for (int m = 0; m < L.mr; ++m) {
      for (int j = 0; j < L.kg; ++j) {
        const int64_t k = g * L.kg + j, i = (g * L.mr + m) * L.kg + j;
        const uint8_t byte = (rows[m] != nullptr && k < K) ? rows[m][k] ^ xor_mask : 0;
        if (L.a_type == PackedType::kS16) {
          const int16_t v = byte;  // zero-extended: the s16 kernels take activations as 0..255
          std::memcpy(static_cast<uint8_t*>(panel) + 2 * i, &v, sizeof v);
        } else {
          static_cast<uint8_t*>(panel)[i] = byte;  // kS8 reads the same byte as int8
        }
      }
    }
  }
}

template <int MR, int KG>
void pack_a_bytes(const uint8_t* const* rows, int64_t K, uint8_t xor_mask, void* panel) {
  auto* out = static_cast<uint8_t*>(panel);
  const int64_t full = K / KG;  // complete k-groups; then one zero-padded group if K % KG != 0
  for (int64_t g = 0; g < full; ++g) {
    for (int m = 0; m < MR; ++m) {
      const uint8_t* src = rows[m] + g * KG;
      uint8_t* dst = out + (g * MR + m) * KG;
      for (int j = 0; j < KG; ++j) dst[j] = src[j] ^ xor_mask;  // KG is a constant: unrolled
    }
  }
  if (full * KG == K) return;
  for (int m = 0; m < MR; ++m) {
    uint8_t* dst = out + (full * MR + m) * KG;
    for (int j = 0; j < KG; ++j) {
      const int64_t k = full * KG + j;
      dst[j] = k < K ? rows[m][k] ^ xor_mask : 0;  // padding is 0 in the kernel's domain
    }
  }
}

template void pack_a_bytes<4, 1>(const uint8_t* const*, int64_t, uint8_t, void*);   // scalar
template void pack_a_bytes<6, 4>(const uint8_t* const*, int64_t, uint8_t, void*);   // avxvnni
template void pack_a_bytes<8, 4>(const uint8_t* const*, int64_t, uint8_t, void*);   // avx512vnni, neondot
template void pack_a_bytes<4, 16>(const uint8_t* const*, int64_t, uint8_t, void*);  // neon

PackPanelA portable_pack_a(const KernelInfo& L) {
  if (L.a_type == PackedType::kS16) return nullptr;
  if (L.mr == 4 && L.kg == 1) return pack_a_bytes<4, 1>;
  if (L.mr == 6 && L.kg == 4) return pack_a_bytes<6, 4>;
  if (L.mr == 8 && L.kg == 4) return pack_a_bytes<8, 4>;
  if (L.mr == 4 && L.kg == 16) return pack_a_bytes<4, 16>;
  return nullptr;
}

const KernelInfo& kernel_info_scalar() { return kScalarInfo; }

}  // namespace nibble::detail
