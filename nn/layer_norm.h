// LayerNorm over the last axes: y = (x - mean) / sqrt(var + eps) * weight + bias,
// with mean and (biased) var taken over normalized_shape. weight starts at 1, bias at 0.
#pragma once

#include "core/ops.h"
#include "nn/module.h"

namespace nibble::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, float eps = 1e-5f, bool affine = true)
      : normalized_shape(std::move(normalized_shape)), eps(eps) {
    if (affine) {
      weight = register_parameter("weight", Tensor::ones(this->normalized_shape));
      bias = register_parameter("bias", Tensor::zeros(this->normalized_shape));
    }
  }
  Tensor forward(const Tensor& x) override { return layer_norm(x, normalized_shape, weight, bias, eps); }
  std::string name() const override { return "LayerNorm"; }

  Shape normalized_shape;
  float eps;
  Tensor weight, bias;  // normalized_shape each; undefined when affine = false

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<LayerNorm>(normalized_shape, eps, weight.defined());
  }
};

}  // namespace nibble::nn
