// Shared by the int8 GEMM source files only; not part of the public API (tests use the hooks at
// the bottom). See README.md in this folder for the big picture.
#pragma once

#include <cstdint>

#include "core/cpu_features.h"
#include "core/kernels/int8_gemm.h"

namespace nibble::detail {

// How one operand is stored inside a packed panel.
//   kU8  : uint8 activations as given (x86 vpdpbusd wants u8 x s8)
//   kS8  : int8; activations are shifted by -128 (a ^ 0x80) for the signed-only NEON kernels
//   kS16 : int16 (u8 zero-extended / s8 sign-extended) for the exact AVX2 vpmaddwd path
enum class PackedType : uint8_t { kU8, kS8, kS16 };

inline int packed_type_bytes(PackedType t) { return t == PackedType::kS16 ? 2 : 1; }

// A micro-kernel computes one MR x NR tile of raw dot products
//   c[m * NR + n] = sum_{g < kgroups} sum_{j < KG} a[g][m][j] * b[g][n][j]
// from a packed A panel laid out [kgroups][MR][KG] and a packed B panel laid out
// [kgroups][NR][KG]: KG consecutive k values sit next to each other because that is what one
// SIMD multiply-add instruction sums (2 for vpmaddwd, 4 for vpdpbusd / sdot, 16 for vmull+vpadal).
// It overwrites c. K is zero-padded to a multiple of KG, rows/columns to MR/NR.
using MicroKernel = void (*)(const void* a_panel, const void* b_panel, int64_t kgroups,
                             int32_t* c);

// Packs one A panel into the layout above: rows[m] points at row m's K bytes, for every m < MR
// (the driver repeats a real row for the padding rows of the last panel, whose results it drops). Every byte is XOR-ed with xor_mask first: 0, or 0x80 to move between the uint8 and int8
// domains (a + 128 for int8 input into an unsigned kernel, a - 128 for uint8 input into the
// signed NEON kernels -- both are a flip of the top bit). K is zero-padded to a multiple of KG.
// A kernel may supply a fast one; pack_a_panel_reference is the definition and the fallback.
using PackPanelA = void (*)(const uint8_t* const* rows, int64_t K, uint8_t xor_mask, void* panel);

struct KernelInfo {
  Int8Kernel id;
  const char* name;
  int mr, nr, kg;                    // tile rows, tile columns, k values per multiply-add group
  PackedType a_type, b_type;         // how A and B are stored in the panels
  MicroKernel micro;                 // nullptr when compiled for another architecture
  bool (*cpu_has)(const CpuFeatures&);
  PackPanelA pack_a;                 // fast A packer, or nullptr (use the reference)
  int a_max;                         // largest activation the kernel is exact for (255, or 127)
  // Optional: the same contract for row 0 of the panel only (c's other rows are left alone), for
  // a panel holding a single real row - a batch of one, where the full tile would compute MR - 1
  // rows of padding. nullptr: the driver uses `micro`.
  MicroKernel micro_1row;
  // Optional: the same contract for columns 0 .. NR/2 - 1 only, for a B panel whose other half is
  // padding (a layer with N <= NR/2 outputs, e.g. a conv with 8 channels). nullptr: use `micro`.
  MicroKernel micro_half;
};

constexpr int kMaxTile = 8 * 32;  // largest mr * nr of any kernel (avx512vnni)

// One per source file; each returns metadata even when the code is not compiled in (micro ==
// nullptr), so the layout can be packed and emulated anywhere (see gemm_s32_emulated).
const KernelInfo& kernel_info_scalar();
const KernelInfo& kernel_info_avx2();
const KernelInfo& kernel_info_avx2u7();
const KernelInfo& kernel_info_avxvnni();
const KernelInfo& kernel_info_avx512vnni();
const KernelInfo& kernel_info_neon();
const KernelInfo& kernel_info_neondot();
const KernelInfo& kernel_info(Int8Kernel kernel);  // kAuto is not allowed

// The scalar reference micro-kernel for ANY layout: the definition every SIMD micro-kernel must
// match (int8_scalar.cpp).
void micro_reference(const KernelInfo& layout, const void* a_panel, const void* b_panel,
                     int64_t kgroups, int32_t* c);

#if defined(__x86_64__)
// The fast A packer of the [K/4][6][4] uint8 layout (avx2u7 and avxvnni), int8_avx2u7.cpp.
void pack_a_6x4_u8_avx2(const uint8_t* const* rows, int64_t K, uint8_t xor_mask, void* panel);
#endif

// A portable fast A packer for the 8-bit layouts (int8_scalar.cpp): every (k-group, row) is one
// fixed-size copy of KG bytes, which the compiler turns into a single load and store (and a
// vector XOR for KG = 16), ~10x the speed of the element-by-element reference. Used by the
// kernels that have no SIMD packer of their own (scalar, avx512vnni, neon, neondot); needs no
// instruction-set extension, so the tests check it for every layout on any machine.
template <int MR, int KG>
void pack_a_bytes(const uint8_t* const* rows, int64_t K, uint8_t xor_mask, void* panel);
// That packer for a layout (MR, KG as the kernel's, 8-bit A), or nullptr (int16 layouts, or an
// (MR, KG) without an instantiation). Test hook.
PackPanelA portable_pack_a(const KernelInfo& layout);

// The definition of A packing for ANY layout (int8_scalar.cpp). rows[m] may be nullptr for the
// padding rows of the last panel (they are written as zeros).
void pack_a_panel_reference(const KernelInfo& layout, const uint8_t* const* rows, int64_t K,
                            uint8_t xor_mask, void* panel);

// The requantizing epilogue of int8_gemm_u8 / int8_gemm_s8 for one row segment (int8_requant.cpp):
//   out[c] = clamp(zero_point + requantize(acc[c] + offset[c], multiplier[c], right_shift[c]),
//                  lo, hi)
// where acc + offset (the driver's per-column bias - za * colsum) wraps around in 32 bits.
// The arrays point at the segment's first column. requantize_tile applies it to `rows` rows of
// acc (row stride acc_stride) into out (row stride out_stride): AVX2 when the CPU has it (8
// columns per step, each column's constants loaded once per tile, bytes stored straight from
// the register), bit-identical to requantize_row_reference row by row. T is uint8_t or int8_t.
struct RequantRow {
  const int32_t* offset;
  const int32_t* multiplier;
  const int* right_shift;
  int32_t zero_point, lo, hi;  // [lo, hi] inside T's range; lo is the zero point for fused ReLU
};
template <typename T>
void requantize_row_reference(const RequantRow& p, const int32_t* acc, int count, T* out);
template <typename T>
void requantize_tile(const RequantRow& p, const int32_t* acc, int64_t acc_stride, int rows,
                     int count, T* out, int64_t out_stride);

#if defined(__x86_64__)
// The sparse convolution's AVX2 loop (int8_sparse_conv_avx2.cpp): for q in [0, flat), flat a
// multiple of 64,  acc[q] = sum_t w[t] * xp[off[t] + q]  (exact int32; xp readable up to
// max(off) + flat). The definition is the stride-1 case of the scalar loop in int8_sparse_conv.cpp.
void sparse_conv_accumulate_avx2(const uint8_t* xp, const int32_t* off, const int8_t* w, int64_t ntaps,
                                 int64_t flat, int32_t* acc);
// 2x2, stride-2 max pooling of int32 rows: out[py * PW + px] = max of acc[(2py + i) * stride + 2px + j]
// for i, j in {0, 1}.
void max_pool2_s32_avx2(const int32_t* acc, int64_t stride, int64_t PH, int64_t PW, int32_t* out);
#endif

// Friend of PackedWeightsS8: lets the implementation files read and fill it.
struct PackedWeightsAccess {
  static PackedWeightsS8 pack(const int8_t* W, int64_t K, int64_t N, Int8Kernel kernel);
  static const int8_t* data(const PackedWeightsS8& w) { return w.data_.data(); }
};

// ---- test hooks ----------------------------------------------------------------------------------
// Packs for any kernel's layout even if this CPU cannot run it (no availability check).
PackedWeightsS8 pack_weights_any_layout(const int8_t* W, int64_t K, int64_t N, Int8Kernel kernel);
// Runs int8_gemm_s32 with micro_reference standing in for the kernel's SIMD micro-kernel: checks
// that kernel's packing and tiling on machines without its ISA (the VNNI kernels here).
void gemm_s32_emulated(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                       int32_t* C, int64_t ldc = 0);

}  // namespace nibble::detail
