// The given part of compression/pruning.h: checks, applying masks by layer name, physical removal,
// importance over batches, the sparsity report and gradual pruning. The scoring and mask maths are
// module 03's (modules/03_pruning/solution/pruning.cpp).
#include "compression/pruning.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "nn/conv2d.h"
#include "nn/linear.h"

namespace nibble {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s.empty() ? "(none)" : s;
}

// A weight's current mask, or all ones.
Tensor mask_or_ones(const Tensor& w) { return w.mask().defined() ? w.mask() : Tensor::ones(w.shape()); }

// Copies rows `keep` of a [rows, cols] view of src (cols = numel / rows) into a new tensor of shape `shape`.
Tensor take_rows(const Tensor& src, const std::vector<int64_t>& keep, Shape shape) {
  const std::vector<float> v = src.contiguous().to_vector();
  const int64_t cols = src.numel() / src.size(0);
  std::vector<float> out;
  out.reserve(keep.size() * static_cast<size_t>(cols));
  for (const int64_t r : keep) out.insert(out.end(), v.begin() + r * cols, v.begin() + (r + 1) * cols);
  shape[0] = static_cast<int64_t>(keep.size());
  return Tensor::from_vector(out, shape);
}

// Keeps, along axis 1 of src [rows, C·block, ...] seen as [rows, C, block], the channels `keep`.
Tensor take_channels(const Tensor& src, const std::vector<int64_t>& keep, int64_t channels, Shape shape) {
  const std::vector<float> v = src.contiguous().to_vector();
  const int64_t rows = src.size(0), row_len = src.numel() / rows, block = row_len / channels;
  std::vector<float> out;
  out.reserve(static_cast<size_t>(rows) * keep.size() * static_cast<size_t>(block));
  for (int64_t r = 0; r < rows; ++r)
    for (const int64_t c : keep)
      out.insert(out.end(), v.begin() + r * row_len + c * block, v.begin() + r * row_len + (c + 1) * block);
  shape[1] = static_cast<int64_t>(keep.size()) * (shape[1] / channels);
  return Tensor::from_vector(out, shape);
}

void copy_values(Tensor& dst, const Tensor& src) {
  NoGradGuard no_grad;
  const std::vector<float> v = src.contiguous().to_vector();
  std::copy(v.begin(), v.end(), dst.data());
}

// Copies values (and a mask when the source parameter has one) into a new layer's parameter.
void transplant(Tensor& dst, const Tensor& src_values, const Tensor& src_mask) {
  copy_values(dst, src_values);
  if (src_mask.defined()) dst.set_mask(src_mask);
}

}  // namespace

void validate_amount(double amount, const std::string& function) {
  NIBBLE_CHECK(std::isfinite(amount) && amount >= 0.0 && amount < 1.0, function,
               "amount = " + std::to_string(amount) + " is outside [0, 1)",
               "amount is the fraction of entries pruned, e.g. 0.9 for 90% sparsity");
}

int64_t prune_count(double amount, int64_t numel) {
  return static_cast<int64_t>(std::llround(amount * static_cast<double>(numel)));
}

double cubic_sparsity(int64_t step, int64_t begin_step, int64_t end_step, double initial_sparsity,
                      double final_sparsity) {
  return polynomial_sparsity(step, begin_step, end_step, initial_sparsity, final_sparsity, 3.0);
}

Tensor magnitude_scores(const Tensor& weight) {
  NoGradGuard no_grad;
  return abs(weight.detach());
}

std::vector<std::string> prunable_layers(nn::Module& model) {
  std::vector<std::string> names;
  for (auto& [name, module] : model.named_modules())
    if (dynamic_cast<nn::Linear*>(module) != nullptr || dynamic_cast<nn::Conv2d*>(module) != nullptr)
      names.push_back(name);
  return names;
}

Tensor layer_weight(nn::Module& model, const std::string& layer, const std::string& function) {
  for (auto& [name, module] : model.named_modules()) {
    if (name != layer) continue;
    if (auto* l = dynamic_cast<nn::Linear*>(module)) return l->weight;
    if (auto* c = dynamic_cast<nn::Conv2d*>(module)) return c->weight;
    fail(function, "layer '" + layer + "' is a " + module->name() + ", not a Linear or Conv2d",
         "prunable layers: " + join(prunable_layers(model)));
  }
  fail(function, "unknown layer '" + layer + "'", "prunable layers: " + join(prunable_layers(model)));
}

Tensor prune_by_scores(nn::Module& model, const std::string& layer, const Tensor& scores, double amount) {
  Tensor w = layer_weight(model, layer, "prune_by_scores");
  NIBBLE_CHECK(scores.defined() && scores.shape() == w.shape(), "prune_by_scores",
               "scores " + (scores.defined() ? scores.shape_str() : std::string("(undefined)")) +
                   " do not match " + layer + ".weight " + w.shape_str());
  const Tensor mask = threshold_mask(scores, amount, mask_or_ones(w));
  w.set_mask(mask);
  return mask;
}

Tensor l1_unstructured(nn::Module& model, const std::string& layer, double amount) {
  validate_amount(amount, "l1_unstructured");
  const Tensor w = layer_weight(model, layer, "l1_unstructured");
  return prune_by_scores(model, layer, magnitude_scores(w), amount);
}

std::vector<Tensor> global_unstructured(nn::Module& model, const std::vector<std::string>& layers, double amount,
                                        const LayerScores& scores) {
  validate_amount(amount, "global_unstructured");
  NIBBLE_CHECK(!layers.empty(), "global_unstructured", "no layers given",
               "prunable layers: " + join(prunable_layers(model)));
  std::vector<Tensor> weights, s, masks;
  for (const auto& layer : layers) {
    weights.push_back(layer_weight(model, layer, "global_unstructured"));
    if (scores.empty()) {
      s.push_back(magnitude_scores(weights.back()));
    } else {
      const auto it = scores.find(layer);
      NIBBLE_CHECK(it != scores.end(), "global_unstructured", "scores has no entry for layer '" + layer + "'",
                   "give scores for every layer, or none for magnitude");
      s.push_back(it->second);
    }
    masks.push_back(mask_or_ones(weights.back()));
  }
  std::vector<Tensor> result = global_threshold_masks(s, amount, masks);
  NIBBLE_CHECK(result.size() == weights.size(), "global_unstructured", "global_threshold_masks returned " +
               std::to_string(result.size()) + " masks for " + std::to_string(weights.size()) + " layers");
  for (size_t i = 0; i < weights.size(); ++i) weights[i].set_mask(result[i]);
  return result;
}

Tensor ln_structured(nn::Module& model, const std::string& layer, double amount, int p) {
  validate_amount(amount, "ln_structured");
  Tensor w = layer_weight(model, layer, "ln_structured");
  const int64_t out = w.size(0);
  NIBBLE_CHECK(prune_count(amount, out) < out, "ln_structured",
               "amount = " + std::to_string(amount) + " would prune every one of the " + std::to_string(out) +
                   " units of '" + layer + "'",
               "keep at least one unit: amount < " + std::to_string((out - 0.5) / out));
  const Tensor rows = threshold_mask(structured_scores(w, p), amount);  // [out]
  Shape bshape(w.shape().size(), 1);
  bshape[0] = out;
  w.set_mask(mul(mask_or_ones(w), rows.reshape(bshape)).contiguous());
  nn::Module& m = model.get_submodule(layer);
  Tensor bias = dynamic_cast<nn::Linear*>(&m) ? dynamic_cast<nn::Linear&>(m).bias : dynamic_cast<nn::Conv2d&>(m).bias;
  if (bias.defined()) bias.set_mask(mul(mask_or_ones(bias), rows).contiguous());
  return rows;
}

Tensor nm_prune(nn::Module& model, const std::string& layer, int64_t n, int64_t m) {
  Tensor w = layer_weight(model, layer, "nm_prune");
  const Tensor mask = nm_mask(w.detach().reshape({w.size(0), -1}), n, m).reshape(w.shape());
  w.set_mask(mul(mask_or_ones(w), mask).contiguous());
  return w.mask();
}

void remove_units(nn::Module& model, const std::string& layer, const std::string& next,
                  const std::vector<int64_t>& keep) {
  Tensor w = layer_weight(model, layer, "remove_units");
  Tensor w_next = layer_weight(model, next, "remove_units");
  const int64_t out = w.size(0);
  NIBBLE_CHECK(!keep.empty(), "remove_units", "keep is empty: that removes every unit of '" + layer + "'",
               "keep at least one unit");
  for (size_t i = 0; i < keep.size(); ++i)
    NIBBLE_CHECK(keep[i] >= 0 && keep[i] < out && (i == 0 || keep[i] > keep[i - 1]), "remove_units",
                 "keep[" + std::to_string(i) + "] = " + std::to_string(keep[i]) +
                     " is not ascending and within [0, " + std::to_string(out) + ")");
  // next consumes layer's outputs: a Linear after a Linear takes exactly `out` inputs; after a
  // Conv2d, `out` channels (a Conv2d) or out · H·W flattened inputs (a Linear).
  const bool linear_first = dynamic_cast<nn::Linear*>(&model.get_submodule(layer)) != nullptr;
  const bool linear_next = dynamic_cast<nn::Linear*>(&model.get_submodule(next)) != nullptr;
  const int64_t inputs = w_next.size(1);
  NIBBLE_CHECK(layer != next && (linear_first ? linear_next && inputs == out : inputs % out == 0 &&
                                                (linear_next || inputs == out)),
               "remove_units",
               "'" + next + "' (" + std::to_string(inputs) + " inputs per unit) does not consume the " +
                   std::to_string(out) + " outputs of '" + layer + "'",
               "next must be the layer right after '" + layer + "', e.g. prune_neurons(model, \"fc1\", \"fc2\", 0.5)");
  const int64_t k = static_cast<int64_t>(keep.size());
  NoGradGuard no_grad;
  // The layer itself: keep rows (and bias entries).
  std::shared_ptr<nn::Module> first;
  if (auto* l = dynamic_cast<nn::Linear*>(&model.get_submodule(layer))) {
    auto small = std::make_shared<nn::Linear>(l->in_features, k, l->bias.defined());
    transplant(small->weight, take_rows(l->weight, keep, l->weight.shape()),
               l->weight.mask().defined() ? take_rows(l->weight.mask(), keep, l->weight.shape()) : Tensor());
    if (l->bias.defined())
      transplant(small->bias, take_rows(l->bias, keep, l->bias.shape()),
                 l->bias.mask().defined() ? take_rows(l->bias.mask(), keep, l->bias.shape()) : Tensor());
    first = small;
  } else {
    auto& c = model.get_submodule_as<nn::Conv2d>(layer);
    NIBBLE_CHECK(c.options.groups == 1, "remove_units", "'" + layer + "' is a grouped convolution");
    auto small = std::make_shared<nn::Conv2d>(c.in_channels, k, c.kernel_size, c.options, c.bias.defined());
    transplant(small->weight, take_rows(c.weight, keep, c.weight.shape()),
               c.weight.mask().defined() ? take_rows(c.weight.mask(), keep, c.weight.shape()) : Tensor());
    if (c.bias.defined())
      transplant(small->bias, take_rows(c.bias, keep, c.bias.shape()),
                 c.bias.mask().defined() ? take_rows(c.bias.mask(), keep, c.bias.shape()) : Tensor());
    first = small;
  }
  // The consumer: keep the matching input columns (channels of `block` consecutive inputs).
  std::shared_ptr<nn::Module> second;
  const Tensor next_mask = w_next.mask();
  if (auto* l = dynamic_cast<nn::Linear*>(&model.get_submodule(next))) {
    const int64_t in = l->in_features / out * k;
    auto small = std::make_shared<nn::Linear>(in, l->out_features, l->bias.defined());
    transplant(small->weight, take_channels(l->weight, keep, out, l->weight.shape()),
               next_mask.defined() ? take_channels(next_mask, keep, out, l->weight.shape()) : Tensor());
    if (l->bias.defined()) transplant(small->bias, l->bias, l->bias.mask());
    second = small;
  } else {
    auto& c = model.get_submodule_as<nn::Conv2d>(next);
    NIBBLE_CHECK(c.options.groups == 1 && c.in_channels == out, "remove_units",
                 "'" + next + "' takes " + std::to_string(c.in_channels) + " channels, '" + layer + "' gives " +
                     std::to_string(out));
    auto small = std::make_shared<nn::Conv2d>(k, c.out_channels, c.kernel_size, c.options, c.bias.defined());
    transplant(small->weight, take_channels(c.weight, keep, out, c.weight.shape()),
               next_mask.defined() ? take_channels(next_mask, keep, out, c.weight.shape()) : Tensor());
    if (c.bias.defined()) transplant(small->bias, c.bias, c.bias.mask());
    second = small;
  }
  model.replace_module(layer, first);
  model.replace_module(next, second);
}

std::vector<int64_t> prune_neurons(nn::Module& model, const std::string& layer, const std::string& next,
                                   double amount, int p) {
  validate_amount(amount, "prune_neurons");
  const Tensor w = layer_weight(model, layer, "prune_neurons");
  layer_weight(model, next, "prune_neurons");
  const int64_t out = w.size(0);
  NIBBLE_CHECK(prune_count(amount, out) < out, "prune_neurons",
               "amount = " + std::to_string(amount) + " would remove every one of the " + std::to_string(out) +
                   " units of '" + layer + "'",
               "keep at least one unit: amount < " + std::to_string((out - 0.5) / out));
  const std::vector<float> rows = threshold_mask(structured_scores(w, p), amount).to_vector();
  std::vector<int64_t> keep;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i] != 0.0f) keep.push_back(static_cast<int64_t>(i));
  remove_units(model, layer, next, keep);
  return keep;
}

Importance importance_from_name(const std::string& name) {
  if (name == "magnitude") return Importance::Magnitude;
  if (name == "taylor") return Importance::Taylor;
  if (name == "fisher") return Importance::Fisher;
  fail("importance_from_name", "unknown importance '" + name + "'", "one of: magnitude, taylor, fisher");
}

LayerScores importance_scores(nn::Module& model, const std::vector<std::string>& layers, Importance kind,
                              int64_t batches, const std::function<Tensor(int64_t)>& loss) {
  NIBBLE_CHECK(batches >= 1, "importance_scores", "batches = " + std::to_string(batches) + " is not positive");
  std::vector<Tensor> weights;
  for (const auto& layer : layers) weights.push_back(layer_weight(model, layer, "importance_scores"));
  LayerScores scores;
  if (kind == Importance::Magnitude) {
    for (size_t i = 0; i < layers.size(); ++i) scores[layers[i]] = magnitude_scores(weights[i]);
    return scores;
  }
  std::vector<Tensor> sum(weights.size());  // Σ g (Taylor) or Σ g² (Fisher)
  for (size_t i = 0; i < weights.size(); ++i) sum[i] = Tensor::zeros(weights[i].shape());
  for (int64_t b = 0; b < batches; ++b) {
    model.zero_grad();
    loss(b).backward();
    NoGradGuard no_grad;
    for (size_t i = 0; i < weights.size(); ++i) {
      const Tensor g = weights[i].grad();
      NIBBLE_CHECK(g.defined(), "importance_scores", "'" + layers[i] + ".weight' got no gradient from loss(" +
                   std::to_string(b) + ")", "the loss must depend on the layer (and requires_grad be on)");
      sum[i] = add(sum[i], kind == Importance::Taylor ? g : mul(g, g));
    }
  }
  model.zero_grad();
  NoGradGuard no_grad;
  const float inv = 1.0f / static_cast<float>(batches);
  for (size_t i = 0; i < weights.size(); ++i) {
    const Tensor mean = mul(sum[i], inv);
    const Tensor w = weights[i].detach();
    scores[layers[i]] = kind == Importance::Taylor ? taylor_scores(w, mean) : mul(mul(mean, mul(w, w)), 0.5f);
  }
  return scores;
}

SparsityReport model_sparsity(const nn::Module& model) {
  SparsityReport r;
  // Weights of Linear/Conv2d: named_modules needs a non-const module; the tree is only read.
  auto& m = const_cast<nn::Module&>(model);
  std::vector<std::string> weight_names;
  for (const auto& layer : prunable_layers(m)) weight_names.push_back(layer.empty() ? "weight" : layer + ".weight");
  int64_t wz = 0, wn = 0, az = 0, an = 0;
  for (const auto& [name, t] : model.named_parameters()) {
    SparsityRow row;
    row.name = name;
    row.numel = t.numel();
    row.zeros = static_cast<int64_t>(std::llround(sparsity(t) * static_cast<double>(t.numel())));
    row.is_weight = std::find(weight_names.begin(), weight_names.end(), name) != weight_names.end();
    az += row.zeros;
    an += row.numel;
    if (row.is_weight) {
      wz += row.zeros;
      wn += row.numel;
    }
    r.rows.push_back(row);
  }
  r.weights = wn > 0 ? static_cast<double>(wz) / static_cast<double>(wn) : 0.0;
  r.all = an > 0 ? static_cast<double>(az) / static_cast<double>(an) : 0.0;
  return r;
}

std::string format_sparsity(const SparsityReport& report) {
  std::string s = "parameter                 numel      zeros   sparsity\n";
  char line[160];
  for (const auto& row : report.rows) {
    std::snprintf(line, sizeof line, "%-22s %9lld  %9lld   %6.2f%%%s\n", row.name.c_str(),
                  static_cast<long long>(row.numel), static_cast<long long>(row.zeros),
                  row.numel ? 100.0 * static_cast<double>(row.zeros) / static_cast<double>(row.numel) : 0.0,
                  row.is_weight ? "" : "  (not a weight)");
    s += line;
  }
  std::snprintf(line, sizeof line, "weights: %.2f%% zero, all parameters: %.2f%% zero\n", 100.0 * report.weights,
                100.0 * report.all);
  return s + line;
}

double gradual_prune_step(nn::Module& model, const GradualPruning& c, int64_t step) {
  NIBBLE_CHECK(c.every >= 1, "gradual_prune_step", "every = " + std::to_string(c.every) + " is not positive");
  if (step < c.begin_step || step > c.end_step || (step - c.begin_step) % c.every != 0) return -1.0;
  const double target =
      polynomial_sparsity(step, c.begin_step, c.end_step, c.initial_sparsity, c.final_sparsity, c.power);
  if (c.global) {
    global_unstructured(model, c.layers, target);
  } else {
    for (const auto& layer : c.layers) l1_unstructured(model, layer, target);
  }
  return target;
}

}  // namespace nibble
