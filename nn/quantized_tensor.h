// uint8 activations: the affine parameters, the float <-> uint8 conversions, and QuantizedTensor,
// the value quantized layers (nn/quantized.h) hand to each other so that a whole network can run
// on bytes, as TFLite and PyTorch's quantized CNNs do:
//
//   QuantizedTensor q = quantize(x, conv1.input_params());    // float [N,C,H,W] -> uint8
//   q = max_pool2d(conv1.forward(q), 2);                       // uint8 all the way
//   Tensor y = dequantize(q);                                  // back to float
//
// A QuantizedTensor is a plain row-major byte array with a shape: no strides, views or autograd
// (float Tensor stays float-only by design). Every element shares one QuantParams.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/tensor.h"

namespace nibble::nn {

// ---- activation quantization (also used by the benchmarks and tests) ----------------------------

// Affine uint8 parameters: real = scale * (q - zero_point), q in [0, qmax].
// qmax = 127 gives 7-bit activations ("reduce_range", as PyTorch's fbgemm backend): one bit of
// precision less, but the avx2u7 int8 kernel is exact on them and ~20% faster (core/kernels).
struct QuantParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int32_t qmax = 255;  // largest code: 255, or 127 for 7-bit activations
};

// Parameters covering [min(lo, 0), max(hi, 0)] with qmax + 1 levels (256, or 128). An all-zero
// range gives scale 1.
QuantParams choose_u8_params(float lo, float hi, int32_t qmax = 255);

// Smallest and largest of x[0..n) (NaNs ignored; n == 0 gives lo = hi = 0). AVX2 when available.
void min_max(const float* x, int64_t n, float* lo, float* hi);

// q[i] = clamp(nearbyint(x[i] * (1/scale)) + zero_point, 0, qmax), computed as
// nearbyint(x * inv_scale + zero_point) in float (round half to even); NaN -> 0.
// quantize_u8 uses AVX2 when the CPU has it (8 floats per step) and is bit-identical to
// quantize_u8_reference, the portable scalar definition.
void quantize_u8(const float* x, int64_t n, QuantParams p, uint8_t* q);
void quantize_u8_reference(const float* x, int64_t n, QuantParams p, uint8_t* q);

// ---- QuantizedTensor ----------------------------------------------------------------------------

struct QuantizedTensor {
  Shape shape;                // e.g. [N, C, H, W] or [N, features]
  QuantParams params;         // shared by every element
  std::vector<uint8_t> data;  // row-major, numel() bytes

  int64_t numel() const;
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  int64_t size(int64_t axis) const;  // a negative axis counts from the end, as Tensor::size
  std::string shape_str() const;
};

// Throws nibble::Error (naming op) unless data holds numel() bytes, scale is positive and finite
// and zero_point is in [0, 255]. Every function below calls it on its input.
void check_quantized(const QuantizedTensor& x, const char* op);

// Element-wise quantize_u8 of any float tensor (any strides) with the given parameters.
QuantizedTensor quantize(const Tensor& x, QuantParams params);
// The float values scale * (q - zero_point), same shape. |dequantize(quantize(x)) - x| <= scale/2
// for x inside the representable range [scale * -zero_point, scale * (255 - zero_point)].
Tensor dequantize(const QuantizedTensor& x);

// Max pooling of uint8 [N, C, H, W] -> [N, C, OH, OW], no padding; stride 0 = the kernel size.
// Exact: quantization is monotone, so the max of the bytes is the byte of the max, and the output
// keeps x.params. Bit-identical to quantize(max_pool2d(dequantize(x)), x.params).
QuantizedTensor max_pool2d(const QuantizedTensor& x, Size2 kernel, Size2 stride = 0);

}  // namespace nibble::nn
