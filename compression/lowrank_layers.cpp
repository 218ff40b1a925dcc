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
  down = register_module("down", std::make_shared<Linear>(in, r, false));
  up = register_module("up", std::make_shared<Linear>(r, out, bias));
}

std::shared_ptr<LowRankLinear> LowRankLinear::from_linear(const Linear& linear, int64_t rank) {
  NoGradGuard no_grad;
  const auto [left, right] = split_factors(linear.weight, rank, "LowRankLinear::from_linear");
  auto layer = std::make_shared<LowRankLinear>(linear.in_features, linear.out_features, rank,
                                               linear.bias.defined());
  copy_into(layer->down->weight, right);  // [r, in]
  copy_into(layer->up->weight, left);     // [out, r]
  if (linear.bias.defined()) copy_into(layer->up->bias, linear.bias);
  return layer;
}

Tensor LowRankLinear::forward(const Tensor& x) {
  // x [..., in] -> [..., r] -> [..., out]
  return up->forward(down->forward(x));
}

Tensor LowRankLinear::weight() const {
  NoGradGuard no_grad;
  return matmul(up->weight, down->weight);  // [out, r] @ [r, in]
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
  std::shared_ptr<LowRankConv2d> layer(new LowRankConv2d());
  layer->in_channels = ic;
  layer->out_channels = oc;
  layer->rank = rank;
  layer->kernel_size = conv.kernel_size;
  layer->reduce = layer->register_module("reduce", std::make_shared<Conv2d>(ic, rank, conv.kernel_size,
                                                                            conv.options, false));
  layer->expand = layer->register_module(
      "expand", std::make_shared<Conv2d>(rank, oc, Size2(1), Conv2dOptions{}, conv.bias.defined()));
  copy_into(layer->reduce->weight, right);  // [r, IC·KH·KW] -> [r, IC, KH, KW]
  copy_into(layer->expand->weight, left);   // [OC, r]       -> [OC, r, 1, 1]
  if (conv.bias.defined()) copy_into(layer->expand->bias, conv.bias);
  return layer;
}

Tensor LowRankConv2d::forward(const Tensor& x) {
  // [N, IC, H, W] -> [N, r, OH, OW] -> [N, OC, OH, OW]
  return expand->forward(reduce->forward(x));
}

Tensor LowRankConv2d::weight() const {
  NoGradGuard no_grad;
  const int64_t kh = kernel_size.h, kw = kernel_size.w;
  return matmul(expand->weight.reshape({out_channels, rank}),
                reduce->weight.reshape({rank, in_channels * kh * kw}))
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
  // Walk the dotted name through the children: "blocks.0.fc" -> blocks -> 0 -> fc.
  std::shared_ptr<nn::Module> found;
  const nn::Module* parent = &model;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    const std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    std::string children;
    found = nullptr;
    for (const auto& [child_name, child] : parent->named_children()) {
      children += (children.empty() ? "" : ", ") + child_name;
      if (child_name == part) found = child;
    }
    NIBBLE_CHECK(found != nullptr, "factorize_linear",
                 "model has no submodule '" + name + "' ('" + part + "' is not among: " +
                     (children.empty() ? std::string("no children") : children) + ")",
                 "names are those of named_parameters() without the last part, e.g. \"fc1\"");
    if (dot == std::string::npos) break;
    parent = found.get();
    start = dot + 1;
  }
  const auto linear = std::dynamic_pointer_cast<nn::Linear>(found);
  NIBBLE_CHECK(linear != nullptr, "factorize_linear",
               "submodule '" + name + "' is a " + found->name() + ", not a Linear",
               "factor convolutions with nn::LowRankConv2d::from_conv");
  validate_rank(rank, std::min(linear->in_features, linear->out_features), "factorize_linear",
                "min(in, out) = " + std::to_string(std::min(linear->in_features, linear->out_features)));
  // TODO(lead): model.replace_module(name, ...) after the surgery API lands:
  //   auto layer = nn::LowRankLinear::from_linear(*linear, rank);
  //   model.replace_module(name, layer);
  //   return layer;
  fail("factorize_linear", "not available yet: replacing '" + name + "' needs nn::Module::replace_module",
       "until model surgery lands, build nn::LowRankLinear::from_linear(layer, rank) and use it in your "
       "model's forward yourself");
}

}  // namespace nibble
