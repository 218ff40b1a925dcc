// Pooling layers: [N, C, H, W] -> [N, C, OH, OW]. The stride defaults to the kernel size.
#pragma once

#include "core/ops.h"
#include "nn/module.h"

namespace nibble::nn {

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel, Size2 stride = 0, Size2 padding = 0)
      : kernel(kernel), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, kernel, stride, padding); }
  std::string name() const override { return "MaxPool2d"; }
  Size2 kernel, stride, padding;

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<MaxPool2d>(kernel, stride, padding);
  }
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel, Size2 stride = 0, Size2 padding = 0)
      : kernel(kernel), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, kernel, stride, padding); }
  std::string name() const override { return "AvgPool2d"; }
  Size2 kernel, stride, padding;

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<AvgPool2d>(kernel, stride, padding);
  }
};

}  // namespace nibble::nn
