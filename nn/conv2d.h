// Conv2d: 2-d convolution (cross-correlation, as in every DL framework).
// input [N, C, H, W] -> output [N, OC, OH, OW]; weight [OC, C/groups, KH, KW], bias [OC].
#pragma once

#include "core/ops.h"
#include "nn/module.h"

namespace nibble::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Conv2dOptions options = {},
         bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Conv2d"; }

  int64_t in_channels, out_channels;
  Size2 kernel_size;
  Conv2dOptions options;
  Tensor weight;  // [OC, C/groups, KH, KW]
  Tensor bias;    // [OC], undefined when bias = false

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<Conv2d>(in_channels, out_channels, kernel_size, options, bias.defined());
  }
};

}  // namespace nibble::nn
