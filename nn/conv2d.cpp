#include "nn/conv2d.h"

#include "nn/init.h"

namespace nibble::nn {

Conv2d::Conv2d(int64_t in, int64_t out, Size2 kernel, Conv2dOptions opts, bool with_bias)
    : in_channels(in), out_channels(out), kernel_size(kernel), options(opts) {
  NIBBLE_CHECK(in > 0 && out > 0 && kernel.h > 0 && kernel.w > 0 && opts.groups > 0, "Conv2d",
        "channels, kernel size and groups must be positive");
  NIBBLE_CHECK(in % opts.groups == 0 && out % opts.groups == 0, "Conv2d",
        "in_channels " + std::to_string(in) + " and out_channels " + std::to_string(out) +
            " must both be divisible by groups " + std::to_string(opts.groups));
  Tensor w = Tensor::empty({out, in / opts.groups, kernel.h, kernel.w});
  Tensor b = with_bias ? Tensor::empty({out}) : Tensor();
  init::pytorch_default_(w, b);
  weight = register_parameter("weight", w);
  if (with_bias) bias = register_parameter("bias", b);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options); }

}  // namespace nibble::nn
