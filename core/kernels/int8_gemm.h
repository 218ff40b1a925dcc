// int8 GEMM: the integer engine under quantized Linear / Conv2d layers.
//
//   C[M,N] = sum_k (A[m,k] - za) * W[n,k]  (+ bias[n])        accumulated exactly in int32
//
//   A  activations, row-major [M, K] with row stride lda. uint8 with zero point za (recommended:
//      it is what x86 vpmaddubsw / vpdpbusd multiply natively), or int8 with a zero point.
//   W  weights, int8, symmetric (zero point 0), given row-major as [N, K] = [out_features,
//      in_features], the PyTorch nn.Linear layout. Mathematically B = W^T is the [K, N] operand.
//
// Weights are packed once (pack_weights_s8) into the layout of one micro-kernel; the column sums
// sum_k W[n,k] are computed at the same time so the activation zero point costs nothing per call:
//   sum_k (a - za) * w  =  sum_k a * w  -  za * colsum[n].
// The result is then written as raw int32, dequantized float, or requantized uint8/int8.
//
// Every kernel (scalar, avx2, avx2u7, avxvnni, avx512vnni, neon, neondot) is bit-exact: the int32
// results are identical for all inputs, including the extremes 255 * -128 (avx2u7: for all
// activations in [0, 127], the only ones it accepts). See
// core/kernels/README.md for the walk-through and the vpmaddubsw saturation trap.
//
// Limits: 0 <= K <= 65536 (so 255 * 128 * K cannot overflow int32); all sizes >= 0.
// Bad arguments throw nibble::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

namespace nibble {

// ---- kernels -------------------------------------------------------------------------------------

enum class Int8Kernel {
  kAuto,        // the fastest kernel this CPU runs, or the one NIBBLE_KERNEL names
  kScalar,      // portable C++; the reference every other kernel is tested against
  kAvx2,        // x86: zero-/sign-extend to int16, vpmaddwd (exact; see README)
  kAvx2U7,      // x86: vpmaddubsw, exact for activations in [0, 127] only (7-bit, like PyTorch's
                //      fbgemm reduce_range); ~20% faster; never chosen by kAuto; other
                //      activations are a nibble::Error
  kAvxVnni,     // x86: vpdpbusd on ymm, VEX encoding (Alder Lake, Zen 5 ...)
  kAvx512Vnni,  // x86: vpdpbusd on zmm (Cascade Lake, Ice Lake, Zen 4 ...)
  kNeon,        // aarch64: vmull_s8 + vpadalq_s16
  kNeonDot,     // aarch64: sdot (vdotq_s32), ARMv8.2 dot-product extension
};

// "scalar", "avx2", "avx2u7", "avxvnni", "avx512vnni", "neon", "neondot" ("auto" for kAuto).
const char* int8_kernel_name(Int8Kernel kernel);
// Inverse of int8_kernel_name; throws nibble::Error for an unknown name.
Int8Kernel int8_kernel_from_name(const std::string& name);
// True when the kernel is compiled into this binary (right architecture) and the CPU has the ISA
// (always true for kScalar and kAuto).
bool int8_kernel_available(Int8Kernel kernel);
// The largest activation, in the kernel's unsigned domain, the kernel is exact for: 255, or 127
// for avx2u7 (whose layers quantize activations to 7 bits). kAuto is not allowed.
int int8_kernel_max_activation(Int8Kernel kernel);
// Every concrete kernel (not kAuto), available or not, in the order above.
std::vector<Int8Kernel> int8_all_kernels();
// Resolves a request to a concrete kernel. kAuto -> NIBBLE_KERNEL if set (read on every call),
// else the fastest available. Throws nibble::Error if the kernel is unknown or unavailable,
// naming it and what the CPU has (cpu_features().summary()).
Int8Kernel int8_select_kernel(Int8Kernel requested = Int8Kernel::kAuto);

// ---- packed weights --------------------------------------------------------------------------------

namespace detail {
struct PackedWeightsAccess;

// std::allocator with 64-byte (cache-line) alignment: the micro-kernels read packed weights with
// 32- and 64-byte vector loads, and a load that straddles two cache lines costs a second access
// (measured: up to ~30% on a small layer, depending on where malloc happened to put the panel).
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t{64}); }
  bool operator==(const CacheLineAllocator&) const { return true; }
  bool operator!=(const CacheLineAllocator&) const { return false; }
};
}  // namespace detail

// Weights rearranged once for one kernel's micro-kernel (see README: "why pack?"), plus the column
// sums for the zero-point correction. Cheap to move, immutable after packing.
class PackedWeightsS8 {
 public:
  PackedWeightsS8() = default;  // empty: pass it to a GEMM and you get a nibble::Error

  bool empty() const { return kernel_ == Int8Kernel::kAuto; }
  int64_t K() const { return k_; }
  int64_t N() const { return n_; }
  Int8Kernel kernel() const { return kernel_; }
  // colsum[n] = sum_k W[n,k].
  const std::vector<int32_t>& column_sums() const { return column_sums_; }
  // Bytes of packed weights (the avx2 layout stores int16, i.e. twice the int8 size).
  size_t packed_bytes() const { return data_.size(); }

 private:
  friend struct detail::PackedWeightsAccess;
  Int8Kernel kernel_ = Int8Kernel::kAuto;
  int64_t k_ = 0, n_ = 0;
  std::vector<int32_t> column_sums_;
  // Panels of the kernel's layout (int16 kernels reinterpret it), 64-byte aligned.
  std::vector<int8_t, detail::CacheLineAllocator<int8_t>> data_;
};

// W is [N, K] row-major (out_features x in_features). kernel = kAuto picks int8_select_kernel().
// Throws nibble::Error if the kernel is unavailable or arguments are bad.
PackedWeightsS8 pack_weights_s8(const int8_t* W, int64_t K, int64_t N,
                                Int8Kernel kernel = Int8Kernel::kAuto);

// ---- activations -----------------------------------------------------------------------------------

// A view of the quantized activations A[M, K]: real value = scale * (a - zero_point).
struct QuantizedInput {
  const void* data = nullptr;
  bool is_signed = false;  // false: uint8, zero_point in [0, 255]; true: int8, in [-128, 127]
  int64_t M = 0, K = 0;
  int64_t lda = 0;  // row stride in elements; 0 means K (dense rows)
  int32_t zero_point = 0;
};

inline QuantizedInput input_u8(const uint8_t* A, int64_t M, int64_t K, int32_t zero_point,
                               int64_t lda = 0) {
  return QuantizedInput{A, false, M, K, lda, zero_point};
}
inline QuantizedInput input_s8(const int8_t* A, int64_t M, int64_t K, int32_t zero_point = 0,
                               int64_t lda = 0) {
  return QuantizedInput{A, true, M, K, lda, zero_point};
}

// ---- GEMM with the four output stages ------------------------------------------------------------
// In all of them bias (int32 [N], may be nullptr) is added to the int32 accumulator; it is in units
// of input_scale * weight_scale, as in TFLite / ONNX QLinear. ldc = 0 means N (dense rows).
// The kernel is the one the weights were packed for.

// Raw int32: C[m,n] = sum_k (A[m,k] - za) * W[n,k] + bias[n].
void int8_gemm_s32(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                   int32_t* C, int64_t ldc = 0);

// Float: C[m,n] = input_scale * weight_scale[n] * acc[m,n] + float_bias[n].
struct Dequantize {
  float input_scale = 1.0f;
  float weight_scale = 1.0f;              // per-tensor weight scale ...
  const float* weight_scales = nullptr;   // ... or per output channel [N] (overrides when set)
  const float* bias = nullptr;            // optional float bias [N], added after scaling
};
void int8_gemm_f32(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                   const Dequantize& dq, float* C, int64_t ldc = 0);

// Requantized 8-bit output, gemmlowp / TFLite style, integers only:
//   q = zero_point + requantize(acc, multiplier, right_shift), clamped to the output type
//   (and to >= zero_point when relu: the fused ReLU, since real 0 <-> zero_point).
// multiplier/right_shift come from quantize_multiplier(input_scale*weight_scale/output_scale).
struct Requantize {
  int32_t multiplier = 0;                // per-tensor Q31 multiplier ...
  int right_shift = 0;
  const int32_t* multipliers = nullptr;  // ... or per output channel [N] (both arrays or neither)
  const int* right_shifts = nullptr;
  int32_t zero_point = 0;                // output zero point
  bool relu = false;
  int32_t max_value = 255;               // also clamp to <= this (127: 7-bit outputs that feed
                                         // an avx2u7 layer); no effect above the type's range
};
void int8_gemm_u8(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                  const Requantize& rq, uint8_t* C, int64_t ldc = 0);
void int8_gemm_s8(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                  const Requantize& rq, int8_t* C, int64_t ldc = 0);

// ---- fixed-point requantization helpers ------------------------------------------------------------

// Writes real ~= multiplier * 2^-31 * 2^-right_shift with multiplier in [2^30, 2^31) (Q31 in
// [0.5, 1)). right_shift is negative (a left shift) for real >= 1. real must be in [0, 2^31).
// real == 0 gives multiplier 0. Tiny reals (< 2^-31) keep right_shift = 31 and shrink the multiplier.
void quantize_multiplier(double real, int32_t* multiplier, int* right_shift);

// gemmlowp's SaturatingRoundingDoublingHighMul: round(a * b / 2^31) where exact halves round UP
// (toward +infinity: -0.5 -> 0, 0.5 -> 1, like ARM SQRDMULH; NOT away from zero, despite common
// descriptions); the one overflow case (INT32_MIN * INT32_MIN) saturates to INT32_MAX.
int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b);
// gemmlowp's RoundingDivideByPOT: round(x / 2^exponent), ties away from zero; exponent in [0, 31].
int32_t rounding_divide_by_pot(int32_t x, int exponent);
// The two combined (TFLite MultiplyByQuantizedMultiplier): ~ round(acc * real). A negative
// right_shift first multiplies acc by 2^-right_shift, saturating to int32.
int32_t requantize(int32_t acc, int32_t multiplier, int right_shift);

}  // namespace nibble
