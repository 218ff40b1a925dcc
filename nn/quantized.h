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
// uint8 pipeline: a static layer also calibrates its OUTPUT range (the float layer run on the
// calibration inputs, after the ReLU when fused, so that range starts at 0) and can then emit
// uint8 (QuantizedTensor, nn/quantized_tensor.h) requantized in integers by the GEMM epilogue:
//   qy = zo + round(acc * sa * sw[n] / so),  acc including bias32[n] = round(bias[n] / (sa*sw[n])).
// The uint8-input forwards take sa, za from the input's own params, whatever produced it.
// Dynamic layers have no output range: their uint8-output forwards throw nibble::Error (use the
// float forward); QuantizedLinear's uint8-in, float-out forward works for them too.
//
// forward() is inference only: it runs as if under NoGradGuard (there is no backward for integer
// arithmetic) and returns a fresh tensor without autograd history, whatever the input's
// requires_grad. Quantize-aware training would use fake quantization on floats instead.
#pragma once

#include <cstdint>
#include <vector>

#include "core/kernels/int8_gemm.h"
#include "core/kernels/int8_sparse_conv.h"
#include "core/kernels/int8_sparse_linear.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/quantized_tensor.h"

namespace nibble::nn {

// How to build a quantized layer.
struct QuantizeOptions {
  bool fuse_relu = false;                   // output max(y, 0), free in the epilogue pass
  Int8Kernel kernel = Int8Kernel::kAuto;    // which int8 micro-kernel to pack the weights for
  // 7-bit activations (QuantParams::qmax = 127) in and out, as PyTorch's fbgemm reduce_range:
  // with kernel = kAuto this picks the avx2u7 kernel where the CPU has AVX2 (~20% faster GEMMs).
  // Implied when `kernel` itself needs 7-bit activations (avx2u7).
  bool reduce_range = false;
};

// Already-quantized weights, used as they are (no re-quantization): a model whose weights were
// chosen on the int8 grid -- quantization-aware training, k-means weight sharing read back from a
// .nbz file -- then runs on the kernels with exactly the weights it was evaluated with.
struct Int8Weights {
  std::vector<int8_t> values;  // [out, K] row-major (K = in, or C*KH*KW), each in [-127, 127]
  std::vector<float> scales;   // [out], finite and > 0: weight[n, k] = scales[n] * values[n*K + k]
};

// Float activation ranges observed elsewhere (e.g. by QAT observers), instead of calibration inputs.
// Each range is widened to contain 0, as the calibration path does.
struct ActivationRanges {
  float input_lo = 0.0f, input_hi = 0.0f;    // the layer's input
  float output_lo = 0.0f, output_hi = 0.0f;  // its output (after the ReLU when fused)
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
  // The same with given int8 weights (layer supplies the shape and the bias; its float weights
  // only serve the output-range calibration), and activation ranges from calibration or given.
  static QuantizedLinear from_int8(const Linear& layer, const Int8Weights& weights,
                                   const std::vector<Tensor>& calibration_inputs,
                                   const QuantizeOptions& options = {});
  static QuantizedLinear from_int8(const Linear& layer, const Int8Weights& weights,
                                   const ActivationRanges& ranges, const QuantizeOptions& options = {});

  Tensor forward(const Tensor& x) const;  // x [..., in] -> [..., out], float
  Tensor operator()(const Tensor& x) const { return forward(x); }
  // uint8 x [..., in] (quantized with x.params) -> float [..., out]; dynamic layers too.
  Tensor forward(const QuantizedTensor& x) const;
  Tensor operator()(const QuantizedTensor& x) const { return forward(x); }
  // uint8 x [..., in] -> uint8 [..., out] with output_params(); static layers only.
  QuantizedTensor forward_u8(const QuantizedTensor& x) const;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool is_dynamic() const { return dynamic_; }
  bool fuse_relu() const { return fuse_relu_; }
  bool reduce_range() const { return qmax_ == 127; }  // 7-bit activations
  Int8Kernel kernel() const { return packed_.kernel(); }
  QuantParams input_params() const { return input_; }    // meaningless when is_dynamic()
  QuantParams output_params() const { return output_; }  // likewise
  const std::vector<float>& weight_scales() const { return weight_scales_; }
  const std::vector<int8_t>& quantized_weight() const { return qweight_; }  // [out, in]
  const std::vector<float>& bias() const { return bias_; }                  // [out] or empty

  // Sparse execution: with set_sparse(true) the float-output forwards run sparse_linear_f32
  // (core/kernels/int8_sparse_linear.h) on the non-zero weights, with bit-identical floats, for
  // the calls whose work is small: rows * nonzeros <= kSparseWork; bigger batches keep the dense
  // GEMM. Why (bench_sparse_kernels, one thread): the scalar sparse kernel costs ~0.6 ns per
  // non-zero and row, the dense GEMM has ~2-3 us of fixed cost per call (packing A, the epilogue)
  // and then streams far faster: 784 -> 10 at batch 1 is 2.8 us dense, 0.2-0.6 us sparse at 2-10%
  // density, break-even at ~75% (5 900 non-zeros); at batch 256 the dense GEMM wins from ~5%.
  // forward_u8 stays dense.
  static constexpr int64_t kSparseWork = 4096;
  void set_sparse(bool on);
  bool sparse() const { return !sparse_.empty(); }
  double weight_density() const;  // fraction of non-zero int8 weights

 private:
  int64_t in_ = 0, out_ = 0;
  bool dynamic_ = true, fuse_relu_ = false;
  QuantParams input_, output_;
  int32_t qmax_ = 255;  // activation codes: 255, or 127 with reduce_range
  std::vector<int8_t> qweight_;
  std::vector<float> weight_scales_, bias_;
  PackedWeightsS8 packed_;
  SparseLinearWeightsS8 sparse_;  // empty unless set_sparse(true)

  void check_input(const Shape& shape, const char* op) const;
  // qx [M, in] uint8 with params p -> y [M, out] float: both float-output forwards end here.
  void gemm_f32(const uint8_t* qx, int64_t M, QuantParams p, float* y) const;
};

// ---- QuantizedConv2d --------------------------------------------------------------------------------
// uint8 im2col + int8 GEMM. Per output pixel, the im2col row holds the C*KH*KW input values of its
// receptive field in the weight's [C, KH, KW] order; zero padding is written as the zero point.
// The GEMM produces [pixels, OC] (pixels are the M side: the activations must be the uint8 A
// operand), which is then transposed into NCHW: floats (ReLU applied on the way) for the float
// forward, bytes (already requantized, ReLU fused) for the uint8 forward: a quarter of the traffic.
// groups must be 1 (the course models only use ordinary convolutions).
// Speed (bench_inference, "Layers at batch 256"): uint8 in and out, FashionCnn's conv2 (8 -> 16,
// K = 200) beats the fp32 conv ~1.9x, but conv1 (1 -> 8, K = 25) is ~2x slower than it: with so
// few output channels and so short rows, packing the big pixel side and the per-row epilogue
// dominate the kernel's time; the [OC, K] x [K, pixels] orientation would avoid that, but needs a
// per-call activation packer in core/kernels that does not exist yet. A pruned layer can skip
// im2col and the GEMM altogether: set_sparse (below) runs the direct sparse kernel, which is 2x
// faster than this path on conv1 even with no zero weight at all (bench_sparse_kernels).
class QuantizedConv2d {
 public:
  QuantizedConv2d() = default;
  // calibration_inputs: tensors [N, C, H, W].
  static QuantizedConv2d from_float(const Conv2d& layer, const std::vector<Tensor>& calibration_inputs,
                                    const QuantizeOptions& options = {});
  // As QuantizedLinear::from_int8: values [OC, C*KH*KW] in the weight's [C, KH, KW] order.
  static QuantizedConv2d from_int8(const Conv2d& layer, const Int8Weights& weights,
                                   const std::vector<Tensor>& calibration_inputs,
                                   const QuantizeOptions& options = {});
  static QuantizedConv2d from_int8(const Conv2d& layer, const Int8Weights& weights,
                                   const ActivationRanges& ranges, const QuantizeOptions& options = {});

  Tensor forward(const Tensor& x) const;  // [N, C, H, W] -> [N, OC, OH, OW], float
  Tensor operator()(const Tensor& x) const { return forward(x); }
  // uint8 [N, C, H, W] (quantized with x.params) -> uint8 [N, OC, OH, OW] with output_params();
  // static layers only.
  QuantizedTensor forward(const QuantizedTensor& x) const;
  QuantizedTensor operator()(const QuantizedTensor& x) const { return forward(x); }
  // max_pool2d(forward(x), pool) (nn/quantized_tensor.h), the same bytes; on the sparse path the
  // pooling is fused into the kernel (sparse_conv2d_u8: pooled before requantizing).
  QuantizedTensor forward_pooled(const QuantizedTensor& x, int64_t pool) const;

  int64_t in_channels() const { return c_; }
  int64_t out_channels() const { return oc_; }
  bool is_dynamic() const { return dynamic_; }
  bool fuse_relu() const { return fuse_relu_; }
  bool reduce_range() const { return qmax_ == 127; }  // 7-bit activations
  Int8Kernel kernel() const { return packed_.kernel(); }
  QuantParams input_params() const { return input_; }    // meaningless when is_dynamic()
  QuantParams output_params() const { return output_; }  // likewise
  const std::vector<float>& weight_scales() const { return weight_scales_; }
  const std::vector<int8_t>& quantized_weight() const { return qweight_; }  // [OC, C*KH*KW]
  const std::vector<float>& bias() const { return bias_; }
  Size2 kernel_size() const { return {kh_, kw_}; }
  const Conv2dOptions& options() const { return options_; }

  // Sparse execution, for pruned layers: with set_sparse(true) the uint8 forward runs
  // sparse_conv2d_u8 (core/kernels/int8_sparse_conv.h) on the non-zero weights only - no im2col,
  // no multiplications by zero - with bit-identical outputs. The float forward stays dense.
  void set_sparse(bool on);
  bool sparse() const { return !sparse_.empty(); }
  double weight_density() const;  // fraction of non-zero int8 weights

 private:
  int64_t c_ = 0, oc_ = 0, kh_ = 1, kw_ = 1;
  Conv2dOptions options_;
  bool dynamic_ = true, fuse_relu_ = false;
  QuantParams input_, output_;
  int32_t qmax_ = 255;  // activation codes: 255, or 127 with reduce_range
  std::vector<int8_t> qweight_;
  std::vector<float> weight_scales_, bias_;
  PackedWeightsS8 packed_;
  SparseConvWeightsS8 sparse_;  // empty unless set_sparse(true)
};

}  // namespace nibble::nn
