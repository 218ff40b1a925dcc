// Pruning (course module 03; lesson: modules/03_pruning/README.md).
//
// Most weights of a trained network can be set to zero with little loss: pruning chooses which by
// an importance score (|w|, the first-order Taylor term |w·∂L/∂w|, a Fisher estimate), keeps the
// zeros with a 0/1 mask (Tensor::set_mask: optimizers re-zero pruned weights after every step and
// checkpoints store "<param>_mask", nn/module.h), and either leaves the zeros in place
// (unstructured, N:M) or removes whole neurons and filters so the layers really shrink (structured).
// Names follow torch.nn.utils.prune where one exists (l1_unstructured, global_unstructured,
// ln_structured).
//
// Module 03 owns modules/03_pruning/solution/pruning.cpp: the functions marked "module 03" below
// (the scoring, the exact-count masks, N:M, the schedule). Everything marked "given" is library code
// in compression/pruning.cpp: applying masks to a model by layer name, the sparsity report,
// gradient-based importance over batches, physical removal by model surgery, gradual pruning.
//
// Conventions: `amount` is the fraction of entries that are zero afterwards, in [0, 1); the count
// pruned is round(amount · numel) (as torch.nn.utils.prune rounds). Ties in a score are broken by
// position: the LOWER flat index is pruned first, so every mask is reproducible. Masks are float
// tensors of 0s and 1s with the scored tensor's shape. Bad input throws nibble::Error naming the
// function, the argument and its value.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/module.h"

namespace nibble {

// ---- module 03: pruning.cpp ---------------------------------------------------------------------

// TODO: the fraction of entries of t that are exactly zero (0 for an empty tensor).
// EXAMPLE: [0, 1, -2, 0] -> 0.5; [-0.0, 3] -> 0.5 (minus zero is zero).
// HINTS: negative values are not zero; count in int64_t and divide once.
double sparsity(const Tensor& t);

// TODO: the 0/1 mask that keeps the largest scores: round(amount · numel) entries become 0 — those
//   already pruned by `existing_mask` first, then the smallest scores, ties to the lower flat index.
//   The result is never less pruned than existing_mask (multiply into it): when existing_mask
//   already has more zeros than the count, the result equals existing_mask.
// APPROACH: rank every entry by (already pruned?, score, index): already-pruned entries come first
//   whatever their score; the first `count` of that order get 0.
// EXAMPLE: scores [3, 1, 2, 1], amount 0.5 -> count 2 -> the two 1s go: [1, 0, 1, 0].
//   The same with existing_mask [1, 1, 0, 1] -> the masked 2 goes first, then the 1 at index 1:
//   [1, 0, 0, 1].
// HINTS: topk(…, largest = false) and argsort keep ties in index order; a score that is +0 or −0
//   for a pruned weight must not let it back in. scores must not hold NaN.
// Errors: amount outside [0, 1) (given); existing_mask of another shape (given).
Tensor threshold_mask(const Tensor& scores, double amount, const Tensor& existing_mask = Tensor());

// TODO: ONE threshold over several tensors (global pruning): the masks, one per tensor, that prune
//   round(amount · Σ numel) entries in total — already-pruned entries first, then the smallest
//   scores of ALL tensors together; ties to the earlier tensor, then the lower index.
//   existing_masks is empty (nothing pruned yet) or holds one mask per tensor (an undefined Tensor
//   means "none").
// EXAMPLE: scores {[10, 20], [1, 2, 3]}, amount 0.4 -> count 2 -> {[1, 1], [0, 0, 1]}: the small
//   layer loses everything it can, the large one nothing (layer-wise 0.4 would prune 1 of each).
// HINTS: concatenate the flattened scores, rank once (as in threshold_mask), split the mask back.
std::vector<Tensor> global_threshold_masks(const std::vector<Tensor>& scores, double amount,
                                           const std::vector<Tensor>& existing_masks = {});

// TODO: the first-order Taylor importance |w · ∂L/∂w| elementwise: the loss change predicted when
//   w is set to 0 (L(w − w) ≈ L(w) − w·∂L/∂w). Same shape as weight; no gradient.
// EXAMPLE: w = [2, -1, 0.5], grad = [0.1, 0.3, -4] -> [0.2, 0.3, 2].
Tensor taylor_scores(const Tensor& weight, const Tensor& grad);

// TODO: structured scores, one per output unit (axis 0): the Lp norm (p = 1 or 2) of each row of a
//   Linear weight [out, in] or each filter of a Conv2d weight [OC, C, KH, KW]. Result [out].
// EXAMPLE: [[3, -4], [1, 1]] -> p = 1: [7, 2]; p = 2: [5, √2].
// HINTS: flatten every axis after the first; L2 is the square root of the sum of squares.
Tensor structured_scores(const Tensor& weight, int p);

// TODO: the N:M mask: in every group of m consecutive entries along the LAST axis (K, the inputs),
//   keep the n of largest |w| (ties: the lower index is kept), zero the other m − n. 2:4 is the
//   pattern sparse tensor cores run at twice the speed. Same shape as weight.
// EXAMPLE: row [0.1, -3, 2, 0.5 | 1, 1, 1, 1], 2:4 -> [0, 1, 1, 0 | 1, 1, 0, 0].
// Errors (given): weight not at least 1-D; m < 1; n outside [1, m]; m does not divide K.
Tensor nm_mask(const Tensor& weight, int64_t n, int64_t m);

// TODO: the polynomial sparsity schedule of Zhu & Gupta (2017):
//   s_t = s_f + (s_i − s_f) · (1 − (t − t_0) / (t_1 − t_0))^power   for t_0 <= t <= t_1,
//   s_i before t_0 and s_f after t_1. power = 3 is the cubic schedule (cubic_sparsity): it prunes
//   fast while many redundant weights remain, then slowly.
// EXAMPLE: s_i = 0, s_f = 0.9, t_0 = 0, t_1 = 10, power 3: t = 5 -> 0.9 · (1 − 0.5³) = 0.7875.
// Errors (given): t_1 <= t_0; sparsities outside [0, 1); power <= 0.
double polynomial_sparsity(int64_t step, int64_t begin_step, int64_t end_step, double initial_sparsity,
                           double final_sparsity, double power);

// ---- checks and small helpers (given, compression/pruning.cpp) --------------------------------------

// Throws naming `function` and the value unless amount is finite and in [0, 1).
void validate_amount(double amount, const std::string& function);
// round(amount · numel) — the number of entries a mask with this amount prunes.
int64_t prune_count(double amount, int64_t numel);
// The cubic schedule: polynomial_sparsity(…, power = 3).
double cubic_sparsity(int64_t step, int64_t begin_step, int64_t end_step, double initial_sparsity,
                      double final_sparsity);
// |w| (magnitude importance: prune the weights closest to zero).
Tensor magnitude_scores(const Tensor& weight);

// ---- pruning a model by layer name (given) -----------------------------------------------------------
// `layer` is the dotted name of a Linear or Conv2d ("fc1", "blocks.0.fc"); its weight is pruned,
// its bias is left alone (biases are few and pruning them saves nothing). Each function multiplies
// into the weight's existing mask, so calling it again with a larger amount prunes further.

// The Linear or Conv2d weight of `layer`; throws naming the layer and listing the prunable ones.
Tensor layer_weight(nn::Module& model, const std::string& layer, const std::string& function);
// The names of every Linear and Conv2d in the model, in registration order.
std::vector<std::string> prunable_layers(nn::Module& model);

// Layer-wise magnitude pruning (torch: prune.l1_unstructured): `amount` of this layer's weights.
Tensor l1_unstructured(nn::Module& model, const std::string& layer, double amount);
// The same with any scores of the weight's shape (Taylor, Fisher ...).
Tensor prune_by_scores(nn::Module& model, const std::string& layer, const Tensor& scores, double amount);

// Scores by layer name (the keys are layer names such as "fc1").
using LayerScores = std::map<std::string, Tensor>;
// Global pruning (torch: prune.global_unstructured): `amount` of all the listed layers' weights
// together, one threshold. Magnitude scores unless `scores` names every layer. Returns the masks.
std::vector<Tensor> global_unstructured(nn::Module& model, const std::vector<std::string>& layers, double amount,
                                        const LayerScores& scores = {});

// Structured pruning as a mask (torch: prune.ln_structured along dim 0): zeroes the rows (neurons,
// filters) of smallest Lp norm — round(amount · out) of them — and their bias entries, so the unit
// outputs exactly 0. Throws if that would prune every unit. Returns the row mask [out].
Tensor ln_structured(nn::Module& model, const std::string& layer, double amount, int p = 1);

// N:M pruning of a layer's weight along its inputs (a Conv2d weight is seen as [OC, C·KH·KW]).
Tensor nm_prune(nn::Module& model, const std::string& layer, int64_t n = 2, int64_t m = 4);

// ---- physical removal by model surgery (given) ------------------------------------------------------
// Removes the output units of `layer` (a Linear's neurons or a Conv2d's filters) whose index is not
// in `keep` (ascending, distinct), and the matching inputs of `next`, the layer that consumes them:
// a Linear after a Linear, a Conv2d after a Conv2d, or a Linear after a Conv2d through a flatten
// (each channel is in_features / out_channels consecutive inputs). Both layers are replaced by
// smaller ones (replace_module); masks are carried over. With activation(0) = 0 between the layers
// (ReLU) the model's outputs equal those of the model with the same units masked by ln_structured
// — bit for bit when `next`'s inputs fit in one GEMM block (K <= 256). Build a new optimizer after.
void remove_units(nn::Module& model, const std::string& layer, const std::string& next,
                  const std::vector<int64_t>& keep);
// Structured pruning by removal: drops round(amount · out) units of smallest Lp norm
// (structured_scores) from `layer` and their inputs from `next`. Returns the kept indices.
std::vector<int64_t> prune_neurons(nn::Module& model, const std::string& layer, const std::string& next,
                                   double amount, int p = 1);

// ---- gradient-based importance over batches (given) ---------------------------------------------------
enum class Importance { Magnitude, Taylor, Fisher };
// "magnitude", "taylor", "fisher" -> the enum; throws listing the names.
Importance importance_from_name(const std::string& name);
// The scores of `layers` by `kind`: Magnitude |w|; Taylor |w · ḡ| with ḡ the mean gradient over
// the batches (taylor_scores); Fisher ½ · F · w² with F = mean over batches of g² (the diagonal
// empirical Fisher; ½Fw² is the loss increase it predicts when w is removed). loss(b) returns the
// scalar loss of batch b (0 <= b < batches) with the graph attached; gradients are cleared before
// and after.
LayerScores importance_scores(nn::Module& model, const std::vector<std::string>& layers, Importance kind,
                              int64_t batches, const std::function<Tensor(int64_t)>& loss);

// ---- reporting ------------------------------------------------------------------------------------------
struct SparsityRow {
  std::string name;  // parameter name: "fc1.weight"
  int64_t numel = 0;
  int64_t zeros = 0;
  bool is_weight = false;  // a Linear or Conv2d weight (what pruning targets)
};
struct SparsityReport {
  std::vector<SparsityRow> rows;  // every parameter, in named_parameters() order
  double weights = 0.0;           // zeros / numel over the weights only
  double all = 0.0;               // ... over every parameter (biases dilute it)
};
SparsityReport model_sparsity(const nn::Module& model);
std::string format_sparsity(const SparsityReport& report);  // a table, one line per parameter

// ---- gradual pruning (given) -----------------------------------------------------------------------------
// Prune → fine-tune with a polynomial schedule: call gradual_prune_step(model, config, t) after the
// optimizer step of every training step t. At t = begin_step, begin_step + every, ... up to end_step
// it prunes (globally or layer by layer, by magnitude) to polynomial_sparsity(t, ...); the masks
// keep pruned weights at zero through optimizer steps and checkpoints in between. Returns the target
// sparsity applied at this step, or -1 when the step prunes nothing.
struct GradualPruning {
  std::vector<std::string> layers;
  double initial_sparsity = 0.0;
  double final_sparsity = 0.9;
  int64_t begin_step = 0;
  int64_t end_step = 1000;
  int64_t every = 100;
  double power = 3.0;
  bool global = true;
};
double gradual_prune_step(nn::Module& model, const GradualPruning& config, int64_t step);

}  // namespace nibble
