// Linear: y = x W^T + b, the fully connected layer.
// weight [out_features, in_features] (PyTorch's layout), bias [out_features].
#pragma once

#include "nn/module.h"

namespace nibble::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;  // x [..., in] -> [..., out]
  std::string name() const override { return "Linear"; }

  int64_t in_features, out_features;
  Tensor weight;  // [out, in]
  Tensor bias;    // [out], undefined when bias = false

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<Linear>(in_features, out_features, bias.defined());
  }
};

}  // namespace nibble::nn
