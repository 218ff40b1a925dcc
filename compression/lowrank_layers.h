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
// Both are ordinary Modules: their parameters train, save and load like any other.
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

  int64_t in_features, out_features, rank;
  std::shared_ptr<Linear> down;  // in -> r, weight [r, in], no bias
  std::shared_ptr<Linear> up;    // r -> out, weight [out, r], bias [out] when the original had one
};

class LowRankConv2d : public Module {
 public:
  // groups must be 1. 1 <= rank <= min(OC, IC·KH·KW).
  static std::shared_ptr<LowRankConv2d> from_conv(const Conv2d& conv, int64_t rank);

  Tensor forward(const Tensor& x) override;  // [N, IC, H, W] -> [N, OC, OH, OW]
  std::string name() const override { return "LowRankConv2d"; }

  // The dense kernel the factors represent [OC, IC, KH, KW].
  Tensor weight() const;
  // Multiply-adds per output pixel: r·IC·KH·KW + OC·r; dense: OC·IC·KH·KW.
  int64_t macs_per_pixel() const;
  int64_t dense_macs_per_pixel() const;

  int64_t in_channels = 0, out_channels = 0, rank = 0;
  Size2 kernel_size;
  std::shared_ptr<Conv2d> reduce;  // IC -> r, K×K, the original stride/padding/dilation
  std::shared_ptr<Conv2d> expand;  // r -> OC, 1×1

 private:
  LowRankConv2d() = default;
};

}  // namespace nibble::nn

namespace nibble {

// Replaces the Linear named `name` (e.g. "fc1", "blocks.0.mlp.fc") inside `model` by its rank-r
// LowRankLinear and returns the new layer.
// NOT AVAILABLE YET: it needs nn::Module::replace_module (model surgery). Today it finds and checks
// the layer (unknown name, not a Linear, bad rank -> nibble::Error) and then throws
// nibble::Error "factorize_linear: not available yet".
std::shared_ptr<nn::LowRankLinear> factorize_linear(nn::Module& model, const std::string& name, int64_t rank);

}  // namespace nibble
