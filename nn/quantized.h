// Post-training int8 quantization of Linear and Conv2d: the float layers re-expressed on the int8
// GEMM of core/kernels/int8_gemm.h.
//
//   auto q = nn::QuantizedLinear::from_float(fc, {calib_batch});      // static activation range
//   Tensor y = q.forward(x);                                          // float in, float out
//
// The scheme (the one PyTorch's fbgemm backend and TFLite use):
//   activations  uint8, asymmetric:  x ~= sa * (qa - za), qa in [0, 255]
//                sa, za from the min/max of the calibration inputs (range widened to contain 0, so
//                real 0 -- ReLU output, conv zero padding -- is exactly representable as za).
//                Empty calibration list -> "dynamic": min/max of every forward input instead.
//   weights      int8, symmetric, one scale per output channel: w ~= sw[n] * qw, qw in [-127, 127]
//                (-128 unused so that the range is symmetric; sw[n] = max|W[n,:]| / 127).
//   output       float: y[m,n] = sa * sw[n] * sum_k (qa[m,k] - za) * qw[n,k] + bias[n]
//                (accumulated exactly in int32), then max(y, 0) when fuse_relu.
// Inputs outside a static calibration range are clamped to it, as in every static scheme.
//
// forward() is inference only: it runs as if under NoGradGuard (there is no backward for integer
// arithmetic) and returns a fresh tensor without autograd history, whatever the input's
// requires_grad. Quantize-aware training would use fake quantization on floats instead.
#pragma once

#include <cstdint>
#include <vector>

#include "core/kernels/int8_gemm.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "nn/conv2d.h"
#include "nn/linear.h"

namespace nibble::nn {

// ---- activation quantization helpers (also used by the benchmarks and tests) --------------------

// Affine uint8 parameters: real = scale * (q - zero_point).
struct QuantParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

// Parameters covering [min(lo, 0), max(hi, 0)] with 256 levels. An all-zero range gives scale 1.
QuantParams choose_u8_params(float lo, float hi);

// Smallest and largest of x[0..n) (NaNs ignored; n == 0 gives lo = hi = 0). AVX2 when available.
void min_max(const float* x, int64_t n, float* lo, float* hi);

// q[i] = clamp(nearbyint(x[i] * (1/scale)) + zero_point, 0, 255), computed as
// nearbyint(x * inv_scale + zero_point) in float (round half to even); NaN -> 0.
// quantize_u8 uses AVX2 when the CPU has it (8 floats per step) and is bit-identical to
// quantize_u8_reference, the portable scalar definition.
void quantize_u8(const float* x, int64_t n, QuantParams p, uint8_t* q);
void quantize_u8_reference(const float* x, int64_t n, QuantParams p, uint8_t* q);

// How to build a quantized layer.
struct QuantizeOptions {
  bool fuse_relu = false;                   // output max(y, 0), free in the epilogue pass
  Int8Kernel kernel = Int8Kernel::kAuto;    // which int8 micro-kernel to pack the weights for
};

// Per-output-channel symmetric int8 weights: W [N, K] -> qw [N, K], scales [N].
void quantize_weights_per_channel(const float* W, int64_t N, int64_t K, std::vector<int8_t>* qw,
                                  std::vector<float>* scales);

// ---- QuantizedLinear ------------------------------------------------------------------------------

class QuantizedLinear {
 public:
  QuantizedLinear() = default;
  // calibration_inputs: tensors [..., in_features] seen by the layer (any number, any batch).
  static QuantizedLinear from_float(const Linear& layer, const std::vector<Tensor>& calibration_inputs,
                                    const QuantizeOptions& options = {});

  Tensor forward(const Tensor& x) const;  // x [..., in] -> [..., out], float
  Tensor operator()(const Tensor& x) const { return forward(x); }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool is_dynamic() const { return dynamic_; }
  bool fuse_relu() const { return fuse_relu_; }
  Int8Kernel kernel() const { return packed_.kernel(); }
  QuantParams input_params() const { return input_; }  // meaningless when is_dynamic()
  const std::vector<float>& weight_scales() const { return weight_scales_; }
  const std::vector<int8_t>& quantized_weight() const { return qweight_; }  // [out, in]
  const std::vector<float>& bias() const { return bias_; }                  // [out] or empty

 private:
  int64_t in_ = 0, out_ = 0;
  bool dynamic_ = true, fuse_relu_ = false;
  QuantParams input_;
  std::vector<int8_t> qweight_;
  std::vector<float> weight_scales_, bias_;
  PackedWeightsS8 packed_;
};

// ---- QuantizedConv2d --------------------------------------------------------------------------------
// uint8 im2col + int8 GEMM. Per output pixel, the im2col row holds the C*KH*KW input values of its
// receptive field in the weight's [C, KH, KW] order; zero padding is written as the zero point.
// The GEMM produces [pixels, OC] (pixels are the M side: the activations must be the uint8 A
// operand), and the epilogue transposes into NCHW while applying bias and ReLU.
// groups must be 1 (the course models only use ordinary convolutions).
// Speed (bench/RESULTS.md, "## int8"): with few output channels (OC = 8, 16) this orientation
// leaves the int8 kernel mostly packing the big pixel side, and the layer is ~2x slower than the
// fp32 conv; the faster [OC, K] x [K, pixels] orientation needs a per-call activation packer in
// core/kernels that does not exist yet.
class QuantizedConv2d {
 public:
  QuantizedConv2d() = default;
  // calibration_inputs: tensors [N, C, H, W].
  static QuantizedConv2d from_float(const Conv2d& layer, const std::vector<Tensor>& calibration_inputs,
                                    const QuantizeOptions& options = {});

  Tensor forward(const Tensor& x) const;  // [N, C, H, W] -> [N, OC, OH, OW], float
  Tensor operator()(const Tensor& x) const { return forward(x); }

  int64_t in_channels() const { return c_; }
  int64_t out_channels() const { return oc_; }
  bool is_dynamic() const { return dynamic_; }
  bool fuse_relu() const { return fuse_relu_; }
  Int8Kernel kernel() const { return packed_.kernel(); }
  QuantParams input_params() const { return input_; }
  const std::vector<float>& weight_scales() const { return weight_scales_; }
  const std::vector<int8_t>& quantized_weight() const { return qweight_; }  // [OC, C*KH*KW]
  const std::vector<float>& bias() const { return bias_; }
  Size2 kernel_size() const { return {kh_, kw_}; }
  const Conv2dOptions& options() const { return options_; }

 private:
  int64_t c_ = 0, oc_ = 0, kh_ = 1, kw_ = 1;
  Conv2dOptions options_;
  bool dynamic_ = true, fuse_relu_ = false;
  QuantParams input_;
  std::vector<int8_t> qweight_;
  std::vector<float> weight_scales_, bias_;
  PackedWeightsS8 packed_;
};

}  // namespace nibble::nn
