// The course's two Fashion-MNIST models, written out layer by layer. They are trained by
// `nibble train`, then pruned, quantized and compressed by the later modules and `nibble demo`.
#pragma once

#include <memory>

#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/pooling.h"

namespace nibble::nn {

// MLP 784-256-128-10 with ReLU: images [B,1,28,28] (or [B,784]) -> logits [B,10].
class FashionMlp : public Module {
 public:
  FashionMlp();
  Tensor forward(const Tensor& images) override;
  std::string name() const override { return "FashionMlp"; }
  std::shared_ptr<Linear> fc1, fc2, fc3;
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
};

}  // namespace nibble::nn
