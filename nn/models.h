// The course's two Fashion-MNIST models, written out layer by layer. They are trained by
// `nibble train`, then pruned, quantized and compressed by the later modules and `nibble demo`.
#pragma once

#include <memory>

#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/pooling.h"

namespace nibble::nn {

// Both models standardise their input first, x = (pixel - mean) / std, with the Fashion-MNIST
// training-set statistics stored as buffers: inputs centred near 0 with unit spread let plain SGD
// converge faster, and keeping the constants inside the model (and its checkpoint) means every
// later stage — pruning, quantization, the compressed file — sees exactly the same inputs.
constexpr float kFashionMnistMean = 0.2860f;  // mean pixel of the 60000 training images, in [0,1]
constexpr float kFashionMnistStd = 0.3530f;   // their standard deviation

// MLP 784-256-128-10 with ReLU: images [B,1,28,28] (or [B,784]) -> logits [B,10].
class FashionMlp : public Module {
 public:
  FashionMlp();
  Tensor forward(const Tensor& images) override;
  std::string name() const override { return "FashionMlp"; }
  std::shared_ptr<Linear> fc1, fc2, fc3;
  Tensor input_mean, input_std;  // buffers, shape [] each
  Tensor standardize(const Tensor& images) const;  // (images - input_mean) / input_std
};

// Small CNN: conv 1->8 5x5 pad 2, ReLU, maxpool 2, conv 8->16 5x5 pad 2, ReLU, maxpool 2,
// linear 784->10. images [B,1,28,28] -> logits [B,10].
class FashionCnn : public Module {
 public:
  FashionCnn();
  Tensor forward(const Tensor& images) override;
  std::string name() const override { return "FashionCnn"; }
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<MaxPool2d> pool;
  std::shared_ptr<Linear> fc;
  Tensor input_mean, input_std;  // buffers, shape [] each
  Tensor standardize(const Tensor& images) const;  // (images - input_mean) / input_std
};

}  // namespace nibble::nn
