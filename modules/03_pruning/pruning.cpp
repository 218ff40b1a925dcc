// modules/03_pruning/pruning.cpp — module 03: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.
// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)
// Module 03 — pruning: scores, exact-count masks, N:M and the sparsity schedule. The API, with what
// each function must do: compression/pruning.h. Your code replaces each `throw nibble::NotImplemented`;
// the input checks before it are given.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "compression/pruning.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble {

namespace {

void check_mask_shape(const Tensor& scores, const Tensor& mask, const std::string& function) {
  NIBBLE_CHECK(!mask.defined() || mask.shape() == scores.shape(), function,
               "existing_mask " + mask.shape_str() + " does not match scores " + scores.shape_str(),
               "pass the weight's current mask (weight.mask()) or nothing");
}

}  // namespace

double sparsity(const Tensor& t) {
  NIBBLE_CHECK(t.defined(), "sparsity", "the tensor is undefined", "pass a tensor with values");
  throw nibble::NotImplemented("module 03: sparsity");
}

Tensor threshold_mask(const Tensor& scores, double amount, const Tensor& existing_mask) {
  NIBBLE_CHECK(scores.defined(), "threshold_mask", "scores is undefined", "pass one score per weight");
  validate_amount(amount, "threshold_mask");
  check_mask_shape(scores, existing_mask, "threshold_mask");
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 03: threshold_mask");
}

std::vector<Tensor> global_threshold_masks(const std::vector<Tensor>& scores, double amount,
                                           const std::vector<Tensor>& existing_masks) {
  validate_amount(amount, "global_threshold_masks");
  NIBBLE_CHECK(!scores.empty(), "global_threshold_masks", "no scores given", "pass one score tensor per layer");
  NIBBLE_CHECK(existing_masks.empty() || existing_masks.size() == scores.size(), "global_threshold_masks",
               std::to_string(existing_masks.size()) + " existing_masks for " + std::to_string(scores.size()) +
                   " score tensors",
               "pass none or one per tensor (an undefined Tensor for a layer without a mask)");
  for (size_t i = 0; i < scores.size(); ++i) {
    NIBBLE_CHECK(scores[i].defined(), "global_threshold_masks", "scores[" + std::to_string(i) + "] is undefined");
    if (!existing_masks.empty()) check_mask_shape(scores[i], existing_masks[i], "global_threshold_masks");
  }
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 03: global_threshold_masks");
}

Tensor taylor_scores(const Tensor& weight, const Tensor& grad) {
  NIBBLE_CHECK(weight.defined() && grad.defined(), "taylor_scores", "weight or grad is undefined",
               "run backward() first: the gradient is weight.grad()");
  NIBBLE_CHECK(weight.shape() == grad.shape(), "taylor_scores",
               "weight " + weight.shape_str() + " and grad " + grad.shape_str() + " differ",
               "the gradient has the weight's shape");
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 03: taylor_scores");
}

Tensor structured_scores(const Tensor& weight, int p) {
  NIBBLE_CHECK(weight.defined() && weight.dim() >= 2, "structured_scores",
               "weight " + (weight.defined() ? weight.shape_str() : std::string("(undefined)")) +
                   " is not at least 2-D",
               "pass a Linear weight [out, in] or a Conv2d weight [OC, C, KH, KW]");
  NIBBLE_CHECK(p == 1 || p == 2, "structured_scores", "p = " + std::to_string(p) + " is not 1 or 2",
               "L1 (p = 1) or L2 (p = 2) norm of each row");
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 03: structured_scores");
}

Tensor nm_mask(const Tensor& weight, int64_t n, int64_t m) {
  NIBBLE_CHECK(weight.defined() && weight.dim() >= 1, "nm_mask", "weight is undefined or 0-D",
               "pass a weight [out, K]");
  NIBBLE_CHECK(m >= 1, "nm_mask", "m = " + std::to_string(m) + " is not positive", "2:4 means n = 2, m = 4");
  NIBBLE_CHECK(n >= 1 && n <= m, "nm_mask", "n = " + std::to_string(n) + " is outside [1, m = " + std::to_string(m) + "]",
               "n is how many of every m entries are kept");
  const int64_t K = weight.size(-1);
  NIBBLE_CHECK(K % m == 0, "nm_mask",
               "m = " + std::to_string(m) + " does not divide K = " + std::to_string(K) + " (weight " +
                   weight.shape_str() + ")",
               "the groups of m run along the last axis; pick m dividing it");
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 03: nm_mask");
}

double polynomial_sparsity(int64_t step, int64_t begin_step, int64_t end_step, double initial_sparsity,
                           double final_sparsity, double power) {
  NIBBLE_CHECK(end_step > begin_step, "polynomial_sparsity",
               "end_step = " + std::to_string(end_step) + " is not after begin_step = " + std::to_string(begin_step),
               "the schedule runs from begin_step to end_step");
  validate_amount(initial_sparsity, "polynomial_sparsity");
  validate_amount(final_sparsity, "polynomial_sparsity");
  NIBBLE_CHECK(std::isfinite(power) && power > 0.0, "polynomial_sparsity",
               "power = " + std::to_string(power) + " is not positive", "3 is the cubic schedule");
  throw nibble::NotImplemented("module 03: polynomial_sparsity");
}

}  // namespace nibble
