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
  // BEGIN SOLUTION sparsity
  if (t.numel() == 0) return 0.0;
  int64_t zeros = 0;
  for (const float x : t.contiguous().to_vector()) zeros += x == 0.0f ? 1 : 0;  // -0.0f == 0.0f
  return static_cast<double>(zeros) / static_cast<double>(t.numel());
  // END SOLUTION
}

Tensor threshold_mask(const Tensor& scores, double amount, const Tensor& existing_mask) {
  NIBBLE_CHECK(scores.defined(), "threshold_mask", "scores is undefined", "pass one score per weight");
  validate_amount(amount, "threshold_mask");
  check_mask_shape(scores, existing_mask, "threshold_mask");
  NoGradGuard no_grad;
  // BEGIN SOLUTION threshold_mask
  const std::vector<float> s = scores.contiguous().to_vector();
  const std::vector<float> old = existing_mask.defined() ? existing_mask.contiguous().to_vector()
                                                         : std::vector<float>(s.size(), 1.0f);
  const int64_t count = prune_count(amount, static_cast<int64_t>(s.size()));
  // Order: already pruned first, then by score ascending; stable_sort keeps ties in index order.
  std::vector<int64_t> order(s.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const bool pa = old[a] == 0.0f, pb = old[b] == 0.0f;
    if (pa != pb) return pa;
    return s[a] < s[b];
  });
  std::vector<float> mask = old;
  for (int64_t i = 0; i < count; ++i) mask[order[i]] = 0.0f;
  return Tensor::from_vector(mask, scores.shape());
  // END SOLUTION
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
  // BEGIN SOLUTION global_threshold_masks
  std::vector<float> all, old;  // every tensor's scores (and masks) one after the other
  for (size_t i = 0; i < scores.size(); ++i) {
    const std::vector<float> s = scores[i].contiguous().to_vector();
    all.insert(all.end(), s.begin(), s.end());
    const bool has_mask = !existing_masks.empty() && existing_masks[i].defined();
    const std::vector<float> m = has_mask ? existing_masks[i].contiguous().to_vector()
                                          : std::vector<float>(s.size(), 1.0f);
    old.insert(old.end(), m.begin(), m.end());
  }
  const Tensor flat_scores = Tensor::from_vector(all, {static_cast<int64_t>(all.size())});
  const Tensor flat_mask = Tensor::from_vector(old, {static_cast<int64_t>(old.size())});
  const std::vector<float> mask = threshold_mask(flat_scores, amount, flat_mask).to_vector();
  std::vector<Tensor> masks;
  size_t offset = 0;
  for (const Tensor& s : scores) {
    const size_t n = static_cast<size_t>(s.numel());
    masks.push_back(Tensor::from_vector(std::vector<float>(mask.begin() + offset, mask.begin() + offset + n),
                                        s.shape()));
    offset += n;
  }
  return masks;
  // END SOLUTION
}

Tensor taylor_scores(const Tensor& weight, const Tensor& grad) {
  NIBBLE_CHECK(weight.defined() && grad.defined(), "taylor_scores", "weight or grad is undefined",
               "run backward() first: the gradient is weight.grad()");
  NIBBLE_CHECK(weight.shape() == grad.shape(), "taylor_scores",
               "weight " + weight.shape_str() + " and grad " + grad.shape_str() + " differ",
               "the gradient has the weight's shape");
  NoGradGuard no_grad;
  // BEGIN SOLUTION taylor_scores
  return abs(mul(weight.detach(), grad.detach()));
  // END SOLUTION
}

Tensor structured_scores(const Tensor& weight, int p) {
  NIBBLE_CHECK(weight.defined() && weight.dim() >= 2, "structured_scores",
               "weight " + (weight.defined() ? weight.shape_str() : std::string("(undefined)")) +
                   " is not at least 2-D",
               "pass a Linear weight [out, in] or a Conv2d weight [OC, C, KH, KW]");
  NIBBLE_CHECK(p == 1 || p == 2, "structured_scores", "p = " + std::to_string(p) + " is not 1 or 2",
               "L1 (p = 1) or L2 (p = 2) norm of each row");
  NoGradGuard no_grad;
  // BEGIN SOLUTION structured_scores
  const Tensor rows = weight.detach().contiguous().reshape({weight.size(0), -1});  // [out, rest]
  return norm(rows, static_cast<float>(p), 1);                                     // [out]
  // END SOLUTION
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
  // BEGIN SOLUTION nm_mask
  const std::vector<float> w = weight.contiguous().to_vector();
  std::vector<float> mask(w.size(), 0.0f);
  std::vector<int64_t> order(static_cast<size_t>(m));
  for (size_t g = 0; g < w.size(); g += static_cast<size_t>(m)) {  // one group of m along K
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return std::fabs(w[g + a]) > std::fabs(w[g + b]); });
    for (int64_t i = 0; i < n; ++i) mask[g + order[i]] = 1.0f;
  }
  return Tensor::from_vector(mask, weight.shape());
  // END SOLUTION
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
  // BEGIN SOLUTION polynomial_sparsity
  if (step <= begin_step) return initial_sparsity;
  if (step >= end_step) return final_sparsity;
  const double progress = static_cast<double>(step - begin_step) / static_cast<double>(end_step - begin_step);
  return final_sparsity + (initial_sparsity - final_sparsity) * std::pow(1.0 - progress, power);
  // END SOLUTION
}

}  // namespace nibble
