#include "compression/lowrank_layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble::nn {

namespace {

// W [m, n] -> (left [m, r] = U_r sqrt(S_r), right [r, n] = sqrt(S_r) Vh_r), left @ right = W_r.
std::pair<Tensor, Tensor> split_factors(const Tensor& w, int64_t rank, const std::string& fn) {
  validate_rank(rank, std::min(w.size(0), w.size(1)), fn,
                "min" + shape_str(w.shape()) + " = " + std::to_string(std::min(w.size(0), w.size(1))));
  const Svd s = truncate(svd(w), rank);
  const Tensor root = sqrt(s.S);                                // [r]
  return {mul(s.U, root).contiguous(),                          // columns of U scaled
          mul(s.Vh, root.unsqueeze(1)).contiguous()};           // rows of Vh scaled
}

// Copies a factor into a layer's parameter; the sizes must agree (a wrong svd() must not write
// past the parameter's storage).
void copy_into(Tensor& dst, const Tensor& src) {
  NIBBLE_CHECK(src.numel() == dst.numel(), "LowRank layer",
               "a factor " + src.shape_str() + " does not fit the parameter " + dst.shape_str(),
               "svd() must return U [m, p], S [p], Vh [p, n] for a weight [m, n]");
  const Tensor c = src.contiguous();
  std::copy(c.data(), c.data() + c.numel(), dst.data());
}

}  // namespace

LowRankLinear::LowRankLinear(int64_t in, int64_t out, int64_t r, bool bias)
    : in_features(in), out_features(out), rank(r) {
  NIBBLE_CHECK(in > 0 && out > 0, "LowRankLinear",
               "features must be positive, got in=" + std::to_string(in) + " out=" + std::to_string(out));
  validate_rank(r, std::min(in, out), "LowRankLinear", "min(in, out) = " + std::to_string(std::min(in, out)));
  register_module("down", std::make_shared<Linear>(in, r, false));
  register_module("up", std::make_shared<Linear>(r, out, bias));
}

std::shared_ptr<LowRankLinear> LowRankLinear::from_linear(const Linear& linear, int64_t rank) {
  NoGradGuard no_grad;
  const auto [left, right] = split_factors(linear.weight, rank, "LowRankLinear::from_linear");
  auto layer = std::make_shared<LowRankLinear>(linear.in_features, linear.out_features, rank,
                                               linear.bias.defined());
  copy_into(layer->down().weight, right);  // [r, in]
  copy_into(layer->up().weight, left);     // [out, r]
  if (linear.bias.defined()) copy_into(layer->up().bias, linear.bias);
  return layer;
}

Tensor LowRankLinear::forward(const Tensor& x) {
  // x [..., in] -> [..., r] -> [..., out]
  return child("up")(child("down")(x));
}

Tensor LowRankLinear::weight() const {
  NoGradGuard no_grad;
  return matmul(up().weight, down().weight);  // [out, r] @ [r, in]
}

LowRankConv2d::LowRankConv2d(int64_t ic, int64_t oc, int64_t r, Size2 kernel, Conv2dOptions options, bool bias)
    : in_channels(ic), out_channels(oc), rank(r), kernel_size(kernel) {
  NIBBLE_CHECK(ic > 0 && oc > 0, "LowRankConv2d",
               "channels must be positive, got in=" + std::to_string(ic) + " out=" + std::to_string(oc));
  NIBBLE_CHECK(options.groups == 1, "LowRankConv2d", "groups = " + std::to_string(options.groups) + " is not supported",
               "factor a grouped convolution group by group");
  const int64_t cols = ic * kernel.h * kernel.w;
  validate_rank(r, std::min(oc, cols), "LowRankConv2d", "min(OC, IC·KH·KW) = " + std::to_string(std::min(oc, cols)));
  register_module("reduce", std::make_shared<Conv2d>(ic, r, kernel, options, false));
  register_module("expand", std::make_shared<Conv2d>(r, oc, Size2(1), Conv2dOptions{}, bias));
}

std::shared_ptr<LowRankConv2d> LowRankConv2d::from_conv(const Conv2d& conv, int64_t rank) {
  NIBBLE_CHECK(conv.options.groups == 1, "LowRankConv2d::from_conv",
               "groups = " + std::to_string(conv.options.groups) + " is not supported",
               "factor a grouped convolution group by group");
  NoGradGuard no_grad;
  const int64_t oc = conv.out_channels, ic = conv.in_channels;
  const int64_t kh = conv.kernel_size.h, kw = conv.kernel_size.w;
  // weight [OC, IC, KH, KW] as the matrix [OC, IC·KH·KW]: row o is filter o, flattened.
  const auto [left, right] =
      split_factors(conv.weight.reshape({oc, ic * kh * kw}), rank, "LowRankConv2d::from_conv");
  auto layer = std::make_shared<LowRankConv2d>(ic, oc, rank, conv.kernel_size, conv.options, conv.bias.defined());
  copy_into(layer->reduce().weight, right);  // [r, IC·KH·KW] -> [r, IC, KH, KW]
  copy_into(layer->expand().weight, left);   // [OC, r]       -> [OC, r, 1, 1]
  if (conv.bias.defined()) copy_into(layer->expand().bias, conv.bias);
  return layer;
}

Tensor LowRankConv2d::forward(const Tensor& x) {
  // [N, IC, H, W] -> [N, r, OH, OW] -> [N, OC, OH, OW]
  return child("expand")(child("reduce")(x));
}

Tensor LowRankConv2d::weight() const {
  NoGradGuard no_grad;
  const int64_t kh = kernel_size.h, kw = kernel_size.w;
  return matmul(expand().weight.reshape({out_channels, rank}),
                reduce().weight.reshape({rank, in_channels * kh * kw}))
      .reshape({out_channels, in_channels, kh, kw});
}

int64_t LowRankConv2d::macs_per_pixel() const {
  return rank * in_channels * kernel_size.h * kernel_size.w + out_channels * rank;
}

int64_t LowRankConv2d::dense_macs_per_pixel() const {
  return out_channels * in_channels * kernel_size.h * kernel_size.w;
}

}  // namespace nibble::nn

namespace nibble {

std::shared_ptr<nn::LowRankLinear> factorize_linear(nn::Module& model, const std::string& name, int64_t rank) {
  // get_submodule names the missing part of a dotted name ("blocks.0.fc": blocks -> 0 -> fc).
  nn::Module& found = model.get_submodule(name);
  const auto* linear = dynamic_cast<const nn::Linear*>(&found);
  NIBBLE_CHECK(linear != nullptr, "factorize_linear", "submodule '" + name + "' is a " + found.name() + ", not a Linear",
               "factor convolutions with nn::LowRankConv2d::from_conv");
  validate_rank(rank, std::min(linear->in_features, linear->out_features), "factorize_linear",
                "min(in, out) = " + std::to_string(std::min(linear->in_features, linear->out_features)));
  auto layer = nn::LowRankLinear::from_linear(*linear, rank);  // may throw: the model is untouched until here
  model.replace_module(name, layer);
  return layer;
}

std::shared_ptr<nn::LowRankConv2d> factorize_conv(nn::Module& model, const std::string& name, int64_t rank) {
  nn::Module& found = model.get_submodule(name);
  const auto* conv = dynamic_cast<const nn::Conv2d*>(&found);
  NIBBLE_CHECK(conv != nullptr, "factorize_conv", "submodule '" + name + "' is a " + found.name() + ", not a Conv2d",
               "factor Linear layers with factorize_linear");
  const int64_t cols = conv->in_channels * conv->kernel_size.h * conv->kernel_size.w;
  validate_rank(rank, std::min(conv->out_channels, cols), "factorize_conv",
                "min(OC, IC·KH·KW) = " + std::to_string(std::min(conv->out_channels, cols)));
  auto layer = nn::LowRankConv2d::from_conv(*conv, rank);  // may throw (groups): the model is untouched until here
  model.replace_module(name, layer);
  return layer;
}

}  // namespace nibble
