// Module 02 — attention entropy (lesson: modules/02_attention_entropy/README.md). Requires module 01.
//
// Each row of an attention-weights tensor is a probability distribution over the tokens a query
// looks at, so it has an entropy: log2 T bits when the query spreads its attention evenly over T
// tokens, 0 bits when it looks at a single token. Heads whose entropy collapses towards 0 are a
// known sign of unstable transformer training (Zhai et al. 2023, "Stabilizing Transformer Training
// by Preventing Attention Entropy Collapse"); a regulariser can push it back up.
//
// Shapes: weights are [B, H, T, T] — batch, head, query, key — as nn::MultiHeadAttention stores them
// in its `attention` member after forward() (still on the autograd tape). Entropies are in BITS.
// Every function is built from nibble ops (core/ops.h), so its result is differentiable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "info_theory/entropy.h"

namespace nibble {

// ---- input checks (given) --------------------------------------------------------------------------
// Throws nibble::Error naming `function` unless weights is [B, H, T, T] (T >= 1), every entry finite
// and >= 0, and every row (last axis) sums to 1 within kAttentionRowTolerance.
constexpr float kAttentionRowTolerance = kTensorDistributionTolerance;  // module 01's, shared
void validate_attention_weights(const Tensor& weights, const std::string& function);

// ---- scaled dot-product attention ------------------------------------------------------------------
struct AttentionOutput {
  Tensor output;   // [..., Tq, dv]
  Tensor weights;  // [..., Tq, Tk], each row a distribution over the Tk keys
};

// TODO: scaled dot-product attention, written out step by step.
// APPROACH: scores = q k^T / sqrt(d)          [..., Tq, Tk]   (k^T: transpose the last two axes)
//           causal: scores[i][j] = -inf for j > i (query i sees keys 0..i only; needs Tq == Tk)
//           weights = softmax(scores, -1)     each row sums to 1
//           output = weights v                [..., Tq, dv]
// EXAMPLE: q = k = [[1,0],[0,1]] (d = 2), v = [[1,2],[3,4]]: row 0 of the scores is [1/√2, 0], so
//   weights[0] = [σ, 1-σ] with σ = e^{1/√2} / (e^{1/√2} + 1) ≈ 0.6698, output[0] = σ[1,2] + (1-σ)[3,4].
// HINTS: matmul, Tensor::transpose(-1, -2), mul(t, 1/sqrt(d)), masked_fill(scores, mask, -inf)
//   with a [Tq, Tk] 0/1 mask (it broadcasts), softmax(scores, -1). Shapes are checked for you.
AttentionOutput scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             bool causal = false);

// ---- entropy of attention ----------------------------------------------------------------------------
// TODO: the entropy in bits of every query's attention row: [B, H, T, T] -> [B, H, T].
// APPROACH: H = -sum_j w_j log2 w_j over the last axis, from nibble ops (differentiable), with
//   0 log 0 = 0 (causal masks give w = 0). You wrote exactly this in module 01:
//   entropy_bits(p, axis) (info_theory/entropy.h) — call it, so your module 01 code is what runs.
// EXAMPLE: a uniform row over T = 8 keys -> 3 bits; a one-hot row -> 0 bits.
// HINTS: the rows are the LAST axis (-1); a column (axis -2) is not a distribution.
Tensor attention_entropy_bits(const Tensor& weights);

// TODO: the mean entropy of each head, over the batch and the queries: [B, H, T, T] -> [H].
// APPROACH: attention_entropy_bits(weights) is [B, H, T]: average over axis 2, then over axis 0.
// EXAMPLE: head 0 uniform over 4 keys, head 1 one-hot -> [2, 0].
Tensor head_mean_entropy_bits(const Tensor& weights);

// TODO: the mean entropy of the whole layer (every batch element, head and query), a number.
// EXAMPLE: the two heads above -> 1.0.
// HINTS: mean(...).item().
double layer_mean_entropy_bits(const Tensor& weights);

// TODO: which heads have collapsed: the indices h (ascending) whose mean entropy is BELOW
//   threshold_bits (strictly).
// EXAMPLE: the two heads above with threshold 0.5 -> {1}.
// HINTS: head_mean_entropy_bits(weights).to_vector(). threshold_bits must be >= 0 (checked).
std::vector<int64_t> collapsed_heads(const Tensor& weights, double threshold_bits);

// TODO: a differentiable penalty for low-entropy attention: the mean over B, H and T of
//   max(0, h_min_bits - H(row)). Adding it (times a small weight) to the loss pushes collapsed
//   rows back towards higher entropy, and leaves rows above h_min alone.
// APPROACH: relu(h_min_bits - attention_entropy_bits(weights)), then mean() -> shape [].
// EXAMPLE: T = 4, h_min = 1: a uniform row (2 bits) costs 0, a one-hot row costs 1; the average of
//   one of each is 0.5.
// HINTS: `h_min - t` works with a float on the left (core/ops.h operators). h_min_bits >= 0.
Tensor entropy_regularizer(const Tensor& weights, float h_min_bits);

}  // namespace nibble
