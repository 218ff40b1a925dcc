// Factored layers built from the SVD (compression/lowrank.h): a Linear or Conv2d whose weight is
// replaced by its best rank-r approximation, stored as two thin layers.
//
//   LowRankLinear:  x [..., in] -> down (Linear in -> r, no bias) -> up (Linear r -> out, the
//                   original bias) -> [..., out].  up.weight · down.weight = W_r, the rank-r
//                   truncation of W [out, in].
//   LowRankConv2d:  x [N, IC, H, W] -> reduce (Conv2d IC -> r, the original K×K kernel, stride,
//                   padding and dilation, no bias) -> expand (1×1 Conv2d r -> OC, the original
//                   bias) -> [N, OC, OH, OW]; the weight [OC, IC, KH, KW] is factored as the
//                   matrix [OC, IC·KH·KW].
// Splitting the singular values: each factor takes sqrt(S) (down = sqrt(S_r) Vh_r,
// up = U_r sqrt(S_r)), so both factors have the same singular values and similar magnitudes.
// Fine-tuning then moves both at a comparable pace under one learning rate, and the ranges a
// later int8 quantizer sees stay balanced (putting all of S in one factor makes it σ_1/1 larger).
// Both are ordinary Modules: their parameters train, save and load like any other; they call their
// two factors through the registry (child("down") …) so surgery inside them works too, and clone()
// rebuilds them through make_like().
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "compression/lowrank.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace nibble::nn {

class LowRankLinear : public Module {
 public:
  // A randomly initialised factored layer (PyTorch's Linear initialisation for each factor).
  LowRankLinear(int64_t in_features, int64_t out_features, int64_t rank, bool bias = true);
  // The rank-r factorisation of `linear` (its bias copied). 1 <= rank <= min(in, out).
  // Uses the module-06 svd(): in a student build it throws until svd is written.
  static std::shared_ptr<LowRankLinear> from_linear(const Linear& linear, int64_t rank);

  Tensor forward(const Tensor& x) override;  // x [..., in] -> [..., out]
  std::string name() const override { return "LowRankLinear"; }

  // The dense weight the two factors represent: up.weight @ down.weight [out, in].
  Tensor weight() const;
  // Multiply-adds per input row: r·(in + out); a dense Linear needs in·out (dense_macs()).
  int64_t macs() const { return rank * (in_features + out_features); }
  int64_t dense_macs() const { return in_features * out_features; }

  Linear& down() const { return get_submodule_as<Linear>("down"); }  // in -> r, weight [r, in], no bias
  Linear& up() const { return get_submodule_as<Linear>("up"); }  // r -> out, weight [out, r], bias [out]

  int64_t in_features, out_features, rank;

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<LowRankLinear>(in_features, out_features, rank, up().bias.defined());
  }
};

class LowRankConv2d : public Module {
 public:
  // A randomly initialised factored convolution: IC -> r with `kernel_size` and `options`, then 1×1 r -> OC.
  LowRankConv2d(int64_t in_channels, int64_t out_channels, int64_t rank, Size2 kernel_size,
                Conv2dOptions options = {}, bool bias = true);
  // groups must be 1. 1 <= rank <= min(OC, IC·KH·KW).
  static std::shared_ptr<LowRankConv2d> from_conv(const Conv2d& conv, int64_t rank);

  Tensor forward(const Tensor& x) override;  // [N, IC, H, W] -> [N, OC, OH, OW]
  std::string name() const override { return "LowRankConv2d"; }

  // The dense kernel the factors represent [OC, IC, KH, KW].
  Tensor weight() const;
  // Multiply-adds per output pixel: r·IC·KH·KW + OC·r; dense: OC·IC·KH·KW.
  int64_t macs_per_pixel() const;
  int64_t dense_macs_per_pixel() const;

  Conv2d& reduce() const { return get_submodule_as<Conv2d>("reduce"); }  // IC -> r, K×K, original stride/padding
  Conv2d& expand() const { return get_submodule_as<Conv2d>("expand"); }  // r -> OC, 1×1

  int64_t in_channels = 0, out_channels = 0, rank = 0;
  Size2 kernel_size;

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<LowRankConv2d>(in_channels, out_channels, rank, kernel_size, reduce().options,
                                           expand().bias.defined());
  }
};

}  // namespace nibble::nn

namespace nibble {

// Replaces the Linear named `name` (e.g. "fc1", "blocks.0.mlp.fc") inside `model` by its rank-r
// LowRankLinear (model surgery: nn::Module::replace_module) and returns the new layer. parameters(),
// state_dict() and forward() see the factored layer from then on: build the optimizer for fine-tuning
// after this call. Unknown name, not a Linear, or a bad rank -> nibble::Error, and the model is unchanged.
std::shared_ptr<nn::LowRankLinear> factorize_linear(nn::Module& model, const std::string& name, int64_t rank);

// The same surgery for a convolution: the Conv2d named `name` becomes its rank-r LowRankConv2d
// (K×K reduce IC -> r, 1×1 expand r -> OC). 1 <= rank <= min(OC, IC·KH·KW), groups must be 1.
// Unknown name, not a Conv2d, or a bad rank -> nibble::Error, and the model is unchanged.
std::shared_ptr<nn::LowRankConv2d> factorize_conv(nn::Module& model, const std::string& name, int64_t rank);

}  // namespace nibble
