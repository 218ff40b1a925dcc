// The course's Fashion-MNIST models (nn/models.h) running on the int8 kernels, layer by layer.
//
//   auto q = nn::QuantizedFashionMlp::from_float(mlp, calibration_images);   // e.g. 256 train images
//   Tensor logits = q.forward(images);                                         // float logits
//
// Every Linear / Conv2d becomes its Quantized* twin (nn/quantized.h) with static activation
// parameters taken from the float model's own activations on the calibration batch, and the ReLU
// that follows it fused into its epilogue.
//
// QuantizedFashionCnn runs on uint8 from end to end, as TFLite and PyTorch's quantized CNNs do:
// the standardised images are quantized once, each conv requantizes its output to uint8 in the
// GEMM's integer epilogue, max pooling works on the bytes (exact: quantization is monotone, so max
// commutes with it; a sparse conv pools its int32 sums instead, QuantizedConv2d::forward_pooled),
// flattening is a change of shape, and only the final Linear returns floats.
// QuantizedFashionMlp::forward keeps float activations between its layers (each layer quantizes its
// input in one AVX2 pass): chaining uint8 through fc1 -> fc2 was measured slower at batch 256 (the
// requantizing epilogue costs more than a float epilogue plus quantizing 256 x 256 floats).
// (Measured again on a .nbz LeNet-300-100 file: forward_u8 0.026 ms at batch 1 against forward's
// 0.023, 403k vs 455k images/s at batch 256; compression/RESULTS.md.)
// forward_u8 is that uint8 chain (fc1, fc2 requantize in their epilogues, fc3 returns floats), for
// models whose layers' ranges chain (the output range of one layer is the input range of the
// next, as in a .nbz file): it quantizes once, and its results differ from forward's only where an
// activation lands within rounding of a code boundary (integer vs float requantization).
// Both work for any widths (e.g. LeNet-300-100's 784-300-100-10), not only FashionMlp's.
//
// An undefined calibration tensor gives dynamic quantization (per-call min/max) in every layer;
// dynamic layers have no output ranges, so the CNN then runs on the float path.
// forward() is inference only and returns tensors without autograd history (see nn/quantized.h).
#pragma once

#include "nn/models.h"
#include "nn/quantized.h"

namespace nibble::nn {

class QuantizedFashionMlp {
 public:
  // calibration_images [B, 1, 28, 28] or [B, 784].
  static QuantizedFashionMlp from_float(const FashionMlp& model, const Tensor& calibration_images,
                                        Int8Kernel kernel = Int8Kernel::kAuto,
                                        bool reduce_range = false);
  Tensor forward(const Tensor& images) const;  // [B,1,28,28] or [B,784] -> logits [B,10]
  Tensor operator()(const Tensor& images) const { return forward(images); }
  // The same on uint8 from the first layer's input to the last layer (static layers only).
  Tensor forward_u8(const Tensor& images) const;

  QuantizedLinear fc1, fc2, fc3;  // fc1, fc2 with fused ReLU
  float input_mean = 0.0f, input_std = 1.0f;  // the float model's input standardisation
};

class QuantizedFashionCnn {
 public:
  // calibration_images [B, 1, 28, 28].
  static QuantizedFashionCnn from_float(const FashionCnn& model, const Tensor& calibration_images,
                                        Int8Kernel kernel = Int8Kernel::kAuto,
                                        bool reduce_range = false);
  Tensor forward(const Tensor& images) const;  // [B,1,28,28] -> logits [B,10]
  Tensor operator()(const Tensor& images) const { return forward(images); }

  QuantizedConv2d conv1, conv2;  // fused ReLU
  QuantizedLinear fc;
  float input_mean = 0.0f, input_std = 1.0f;  // the float model's input standardisation
};

}  // namespace nibble::nn
