// The course's Fashion-MNIST models, written out layer by layer. They are trained by
// `nibble train`, then pruned, quantized and compressed by the later modules and `nibble demo`.
//
// Their forward passes call the layers through the registry by name (child("fc1")), so a layer
// swapped by model.replace_module("fc1", ...) is the one that runs; fc1() and friends are checked
// typed accessors that throw once the layer there is no longer a Linear (nn/module.h says why).
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
  Linear& fc1() const { return get_submodule_as<Linear>("fc1"); }  // 784 -> 256
  Linear& fc2() const { return get_submodule_as<Linear>("fc2"); }  // 256 -> 128
  Linear& fc3() const { return get_submodule_as<Linear>("fc3"); }  // 128 -> 10
  Tensor input_mean, input_std;  // buffers, shape [] each
  Tensor standardize(const Tensor& images) const;  // (images - input_mean) / input_std

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<FashionMlp>(); }
};

// LeNet-300-100 (LeCun et al. 1998; the MNIST model of Han et al.'s Deep Compression):
// 784-300-100-10 with ReLU. images [B,1,28,28] (or [B,784]) -> logits [B,10].
class LeNet300 : public Module {
 public:
  LeNet300();
  Tensor forward(const Tensor& images) override;
  std::string name() const override { return "LeNet300"; }
  Linear& fc1() const { return get_submodule_as<Linear>("fc1"); }  // 784 -> 300
  Linear& fc2() const { return get_submodule_as<Linear>("fc2"); }  // 300 -> 100
  Linear& fc3() const { return get_submodule_as<Linear>("fc3"); }  // 100 -> 10
  Tensor input_mean, input_std;  // buffers, shape [] each
  Tensor standardize(const Tensor& images) const;  // (images - input_mean) / input_std

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<LeNet300>(); }
};

// Small CNN: conv 1->8 5x5 pad 2, ReLU, maxpool 2, conv 8->16 5x5 pad 2, ReLU, maxpool 2,
// linear 784->10. images [B,1,28,28] -> logits [B,10].
class FashionCnn : public Module {
 public:
  FashionCnn();
  Tensor forward(const Tensor& images) override;
  std::string name() const override { return "FashionCnn"; }
  Conv2d& conv1() const { return get_submodule_as<Conv2d>("conv1"); }  // 1 -> 8 channels
  Conv2d& conv2() const { return get_submodule_as<Conv2d>("conv2"); }  // 8 -> 16 channels
  MaxPool2d& pool() const { return get_submodule_as<MaxPool2d>("pool"); }  // 2x2, used twice
  Linear& fc() const { return get_submodule_as<Linear>("fc"); }  // 784 -> 10
  Tensor input_mean, input_std;  // buffers, shape [] each
  Tensor standardize(const Tensor& images) const;  // (images - input_mean) / input_std

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<FashionCnn>(); }
};

}  // namespace nibble::nn
