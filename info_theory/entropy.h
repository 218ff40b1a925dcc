// Module 01 — entropy and friends (lesson: modules/01_entropy/README.md).
//
// Every function takes probabilities as std::vector<double> (one entry per symbol) or a joint table
// as std::vector<std::vector<double>> with joint[x][y] = P(X = x, Y = y): ROWS are X, COLUMNS are Y.
// Results are in BITS (log base 2) unless the name says nats (natural log). 1 nat = 1/ln 2 bits.
//
// Conventions shared by every function:
//   * 0 · log 0 = 0 (the limit of p log p as p -> 0): a zero-probability symbol adds nothing and
//     never produces NaN.
//   * A probability vector is valid when it is non-empty, every entry is finite and >= 0, and the
//     entries sum to 1 within kProbabilityTolerance (= 1e-6, absolute). A joint table is valid when
//     it is non-empty, rectangular, and its entries form a valid probability vector.
//   * Bad input throws nibble::Error "function: problem: sizes/values\n  hint: ..." naming the
//     function and the argument. The checks are done for you (validate_* below), in the student
//     edition too — you only write the maths.
//   * KL divergence and cross-entropy with q(x) = 0 where p(x) > 0 return +infinity (not an error):
//     a code built for q has no codeword for x, so describing x costs "infinitely many" bits.
//
// Related core op: nibble::kl_div(input, target) in core/ops.h is the differentiable training loss
// with PyTorch's argument order — input = LOG-probabilities of the model q, target = p — and nats.
// kl_divergence(p, q) here takes two plain distributions, p first, and answers in bits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nibble {

// How far a float32 slice may sum from 1 and still count as a distribution: one tolerance for every
// tensor check in the course (module 01's entropy_bits(Tensor), module 02's attention rows), so a row
// one module accepts is never refused inside another. 1e-3, not 1e-6 as for double vectors: a
// float32 softmax over a long row (a few thousand keys) sums to 1 only within a few 1e-4.
constexpr float kTensorDistributionTolerance = 1e-3f;

using Distribution = std::vector<double>;
using JointTable = std::vector<std::vector<double>>;  // joint[x][y] = P(X = x, Y = y)

constexpr double kProbabilityTolerance = 1e-6;

// ---- input checks (given; they throw nibble::Error, so the student edition rejects bad input) ----
// `function` and `argument` name the caller and the parameter in the message.
void validate_distribution(const Distribution& p, const std::string& function,
                           const std::string& argument = "p");
void validate_joint(const JointTable& joint, const std::string& function,
                    const std::string& argument = "joint");
// Both valid distributions of the same size.
void validate_pair(const Distribution& p, const Distribution& q, const std::string& function);

// ---- self-information ----------------------------------------------------------------------------
// TODO: the surprise of an outcome of probability p, in bits.
// APPROACH: I(p) = -log2 p. Rare outcomes are surprising (many bits), certain ones (p = 1) are not.
//   p = 0 is allowed and gives +infinity (an impossible outcome is infinitely surprising).
// EXAMPLE: self_information_bits(0.125) == 3.0   (one in eight: three yes/no questions)
// HINTS: std::log2; std::numeric_limits<double>::infinity() for p == 0. Throws if p is outside [0, 1].
double self_information_bits(double p);

// ---- Shannon entropy -------------------------------------------------------------------------
// TODO: the entropy of a distribution in bits: the average self-information.
// APPROACH: H(p) = -sum_i p_i log2 p_i, skipping p_i == 0 (0 log 0 = 0).
// EXAMPLE: entropy_bits({0.5, 0.25, 0.25}) == 1.5;  entropy_bits({1.0}) == 0;  uniform over n -> log2 n.
// HINTS: skip zeros explicitly — 0 * log2(0) is 0 * (-inf) = NaN in floating point.
double entropy_bits(const Distribution& p);

// TODO: the same entropy in nats (natural log).
// APPROACH: H_nats = -sum p_i ln p_i  (= H_bits * ln 2).
// EXAMPLE: entropy_nats({0.5, 0.5}) == ln 2 ≈ 0.693147.
// HINTS: std::log is the natural log.
double entropy_nats(const Distribution& p);

// TODO: entropy in bits along `axis` of a float tensor of probabilities (e.g. [N, C] rows -> [N]).
// APPROACH: build it from nibble ops so it is differentiable: -(p * log2(p)).sum(axis), with
//   log(p) taken on clamp(p, tiny, big) so that 0 · log 0 stays 0 (and its gradient finite).
// EXAMPLE: entropy_bits(Tensor::from_vector({0.5f, 0.5f, 1.0f, 0.0f}, {2, 2}), -1) -> [1, 0].
// HINTS: log2 x = ln x / ln 2; sum(t, axis) drops the axis. Checks: entries >= 0, sums within
//   kTensorDistributionTolerance = 1e-3 (float32 is less precise than double).
Tensor entropy_bits(const Tensor& p, int64_t axis);

// ---- joint and conditional entropy ---------------------------------------------------------------
// TODO: the joint entropy H(X, Y) of a joint table, in bits.
// APPROACH: treat every cell as one outcome of the pair: H(X,Y) = -sum_{x,y} P(x,y) log2 P(x,y).
// EXAMPLE: joint_entropy_bits({{0.25, 0.25}, {0.25, 0.25}}) == 2 (two independent fair coins).
// HINTS: flatten the table into one Distribution and reuse entropy_bits.
double joint_entropy_bits(const JointTable& joint);

// TODO: the conditional entropy H(Y | X) in bits — what is left to learn about Y once X is known.
// APPROACH: chain rule: H(Y | X) = H(X, Y) - H(X), with P(x) = sum_y P(x, y) (sum each ROW).
// EXAMPLE: Y a copy of X: {{0.5, 0}, {0, 0.5}} -> 0;  independent fair coins -> 1.
// HINTS: rows are X. Summing columns instead gives H(X | Y), a different number in general.
double conditional_entropy_bits(const JointTable& joint);

// ---- cross-entropy, KL, Jensen–Shannon -------------------------------------------------------------
// TODO: the cross-entropy H(p, q) in bits: the average code length when the data follows p but the
//   code was designed for q.
// APPROACH: H(p, q) = -sum_i p_i log2 q_i, skipping p_i == 0; +infinity when some q_i == 0 < p_i.
// EXAMPLE: cross_entropy_bits({0.5, 0.5}, {0.25, 0.75}) = 0.5*2 + 0.5*log2(4/3) ≈ 1.207519.
// HINTS: H(p, q) >= H(p) with equality iff p == q (Gibbs' inequality).
double cross_entropy_bits(const Distribution& p, const Distribution& q);

// TODO: the Kullback–Leibler divergence KL(p ‖ q) in bits: the EXTRA bits paid for using q's code.
// APPROACH: KL(p‖q) = sum_i p_i log2(p_i / q_i), skipping p_i == 0; +infinity if q_i == 0 < p_i.
// EXAMPLE: kl_divergence({0.5, 0.5}, {0.25, 0.75}) ≈ 0.207519, kl_divergence({0.25, 0.75}, {0.5, 0.5})
//   ≈ 0.188722 — NOT symmetric. kl_divergence(p, p) == 0.
// HINTS: the tensor op nibble::kl_div(log_q, p) is the training loss (other order, nats, log-probs in).
double kl_divergence(const Distribution& p, const Distribution& q);

// TODO: the Jensen–Shannon divergence in bits: a symmetric, always finite cousin of KL.
// APPROACH: m = (p + q) / 2;  JS(p, q) = KL(p‖m)/2 + KL(q‖m)/2.  0 <= JS <= 1 bit.
// EXAMPLE: js_divergence({1, 0}, {0, 1}) == 1 (disjoint supports);  js_divergence(p, p) == 0.
// HINTS: m_i > 0 wherever p_i > 0 or q_i > 0, so neither KL is infinite.
double js_divergence(const Distribution& p, const Distribution& q);

// ---- mutual information ----------------------------------------------------------------------------
// TODO: the mutual information I(X; Y) of a joint table, in bits: how much knowing X tells about Y.
// APPROACH: I = sum_{x,y} P(x,y) log2( P(x,y) / (P(x) P(y)) ), skipping P(x,y) == 0.
//   (Equivalently H(X) + H(Y) - H(X, Y) = KL(P(x,y) ‖ P(x)P(y)).)
// EXAMPLE: Y a copy of a fair coin X: {{0.5, 0}, {0, 0.5}} -> 1 bit;  independent -> 0.
// HINTS: P(x) sums a row, P(y) a column. I(X;Y) >= 0; clamp tiny negative rounding to 0 if you use
//   the H(X)+H(Y)-H(X,Y) form.
double mutual_information_bits(const JointTable& joint);

// TODO: the plug-in estimate of I(X; Y) from paired samples (xs[i], ys[i]) of two discrete variables.
// APPROACH: count pairs into a joint table of relative frequencies (labels may be any int64_t
//   values: map each distinct value to a row/column), then mutual_information_bits of it.
// EXAMPLE: xs = {0,0,1,1}, ys = {5,5,7,7} -> 1 bit;  xs = {0,0,1,1}, ys = {0,1,0,1} -> 0 bits.
// HINTS: std::map<int64_t, size_t> assigns indices. The plug-in estimate is biased upwards for few
//   samples. Throws on empty input or on different lengths.
double mutual_information_from_samples(const std::vector<int64_t>& xs, const std::vector<int64_t>& ys);

// ---- perplexity, text entropy, identity ------------------------------------------------------------
// TODO: the perplexity 2^H(p): the size of a uniform distribution with the same entropy.
// APPROACH: compute H in bits, return std::exp2(H).
// EXAMPLE: perplexity({0.25, 0.25, 0.25, 0.25}) == 4;  perplexity({0.5, 0.25, 0.25}) = 2^1.5 ≈ 2.828.
// HINTS: a language model's perplexity is 2^(cross-entropy in bits per token).
double perplexity(const Distribution& p);

// TODO: the empirical (order-0) entropy of a text in bits per character (per byte).
// APPROACH: count each of the 256 byte values, divide by the length, take the entropy.
// EXAMPLE: "aabb" -> 1 bit/char;  "aaaa" -> 0;  the fortunes corpus: about 4.76 bits/char.
// HINTS: index counts with static_cast<unsigned char>(c) — char may be signed. Throws on "".
double char_entropy_bits(const std::string& text);

// TODO: check the identity H(p, q) = H(p) + KL(p ‖ q) numerically.
// APPROACH: compute both sides with your functions; true when |lhs - rhs| <= tolerance, or when
//   both are +infinity.
// EXAMPLE: cross_entropy_identity_holds({0.5, 0.5}, {0.25, 0.75}) == true.
// HINTS: inf - inf is NaN: handle the infinite case before subtracting.
bool cross_entropy_identity_holds(const Distribution& p, const Distribution& q,
                                  double tolerance = 1e-9);

}  // namespace nibble
