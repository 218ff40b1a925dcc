// modules/01_entropy/entropy.cpp — module 01: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.
// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)
// Module 01 — entropy and friends. The API, with what each function must do: info_theory/entropy.h.
// Your code replaces each `throw nibble::NotImplemented`; the input checks before it are given.
#include "info_theory/entropy.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble {

// ---- input checks (given) ------------------------------------------------------------------------

void validate_distribution(const Distribution& p, const std::string& function,
                           const std::string& argument) {
  const std::string size = " (size " + std::to_string(p.size()) + ")";
  check(!p.empty(), function, argument + " is empty",
        "a distribution needs at least one outcome, e.g. {1.0}");
  double total = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    check(std::isfinite(p[i]) && p[i] >= 0.0, function,
          argument + "[" + std::to_string(i) + "] = " + std::to_string(p[i]) +
              " is not a probability" + size,
          "probabilities are finite and >= 0");
    total += p[i];
  }
  check(std::fabs(total - 1.0) <= kProbabilityTolerance, function,
        argument + " sums to " + std::to_string(total) + ", not 1" + size,
        "probabilities must sum to 1 within 1e-6; divide counts by their total first");
}

void validate_joint(const JointTable& joint, const std::string& function,
                    const std::string& argument) {
  check(!joint.empty() && !joint[0].empty(), function, argument + " is empty",
        "a joint table has at least one row and one column: joint[x][y] = P(X=x, Y=y)");
  Distribution flat;
  for (size_t x = 0; x < joint.size(); ++x) {
    check(joint[x].size() == joint[0].size(), function,
          argument + " is not rectangular: row " + std::to_string(x) + " has " +
              std::to_string(joint[x].size()) + " entries, row 0 has " +
              std::to_string(joint[0].size()),
          "every row (value of X) needs one entry per value of Y");
    flat.insert(flat.end(), joint[x].begin(), joint[x].end());
  }
  validate_distribution(flat, function, argument + " (all cells)");
}

void validate_pair(const Distribution& p, const Distribution& q, const std::string& function) {
  check(p.size() == q.size(), function,
        "p and q have different sizes: " + std::to_string(p.size()) + " vs " +
            std::to_string(q.size()),
        "both distributions must be over the same outcomes, in the same order");
  validate_distribution(p, function, "p");
  validate_distribution(q, function, "q");
}

// ---- self-information and entropy ------------------------------------------------------------------

double self_information_bits(double p) {
  check(p >= 0.0 && p <= 1.0, "self_information_bits",
        "p = " + std::to_string(p) + " is not a probability", "p must lie in [0, 1]");
  throw nibble::NotImplemented("module 01: self_information_bits");
}

double entropy_bits(const Distribution& p) {
  validate_distribution(p, "entropy_bits");
  throw nibble::NotImplemented("module 01: entropy_bits");
}

double entropy_nats(const Distribution& p) {
  validate_distribution(p, "entropy_nats");
  throw nibble::NotImplemented("module 01: entropy_nats");
}

Tensor entropy_bits(const Tensor& p, int64_t axis) {
  check(p.defined() && p.dim() >= 1, "entropy_bits(Tensor)",
        "expects a tensor of probabilities with at least one axis, got " +
            (p.defined() ? p.shape_str() : std::string("(undefined)")));
  const int64_t ax = normalize_axis(axis, p.dim(), "entropy_bits(Tensor)");
  {
    NoGradGuard no_grad;
    const std::vector<float> values = p.to_vector();
    for (const float v : values) {
      check(std::isfinite(v) && v >= 0.0f, "entropy_bits(Tensor)",
            "p " + p.shape_str() + " holds " + std::to_string(v) + ", not a probability",
            "pass probabilities (e.g. softmax(logits, axis)), not logits");
    }
    const std::vector<float> sums = sum(p.detach(), ax).to_vector();
    for (const float s : sums) {
      check(std::fabs(s - 1.0f) <= kTensorDistributionTolerance, "entropy_bits(Tensor)",
            "p " + p.shape_str() + " sums to " + std::to_string(s) + " along axis " +
                std::to_string(ax) + ", not 1",
            "each slice along `axis` must be a distribution (tolerance 1e-3 in float32)");
    }
  }
  throw nibble::NotImplemented("module 01: entropy_bits_tensor");
}

// ---- joint and conditional entropy ------------------------------------------------------------------

double joint_entropy_bits(const JointTable& joint) {
  validate_joint(joint, "joint_entropy_bits");
  throw nibble::NotImplemented("module 01: joint_entropy_bits");
}

double conditional_entropy_bits(const JointTable& joint) {
  validate_joint(joint, "conditional_entropy_bits");
  throw nibble::NotImplemented("module 01: conditional_entropy_bits");
}

// ---- cross-entropy, KL, Jensen–Shannon ----------------------------------------------------------------

double cross_entropy_bits(const Distribution& p, const Distribution& q) {
  validate_pair(p, q, "cross_entropy_bits");
  throw nibble::NotImplemented("module 01: cross_entropy_bits");
}

double kl_divergence(const Distribution& p, const Distribution& q) {
  validate_pair(p, q, "kl_divergence");
  throw nibble::NotImplemented("module 01: kl_divergence");
}

double js_divergence(const Distribution& p, const Distribution& q) {
  validate_pair(p, q, "js_divergence");
  throw nibble::NotImplemented("module 01: js_divergence");
}

// ---- mutual information --------------------------------------------------------------------------------

double mutual_information_bits(const JointTable& joint) {
  validate_joint(joint, "mutual_information_bits");
  throw nibble::NotImplemented("module 01: mutual_information_bits");
}

double mutual_information_from_samples(const std::vector<int64_t>& xs, const std::vector<int64_t>& ys) {
  check(!xs.empty(), "mutual_information_from_samples", "xs and ys are empty",
        "pass at least one (x, y) pair");
  check(xs.size() == ys.size(), "mutual_information_from_samples",
        "xs and ys have different lengths: " + std::to_string(xs.size()) + " vs " +
            std::to_string(ys.size()),
        "the samples are pairs: xs[i] goes with ys[i]");
  throw nibble::NotImplemented("module 01: mutual_information_from_samples");
}

// ---- perplexity, text entropy, identity -----------------------------------------------------------------

double perplexity(const Distribution& p) {
  validate_distribution(p, "perplexity");
  throw nibble::NotImplemented("module 01: perplexity");
}

double char_entropy_bits(const std::string& text) {
  check(!text.empty(), "char_entropy_bits", "text is empty (size 0)",
        "the entropy of an empty text is undefined: pass at least one character");
  throw nibble::NotImplemented("module 01: char_entropy_bits");
}

bool cross_entropy_identity_holds(const Distribution& p, const Distribution& q, double tolerance) {
  validate_pair(p, q, "cross_entropy_identity_holds");
  check(tolerance >= 0.0, "cross_entropy_identity_holds",
        "tolerance = " + std::to_string(tolerance) + " is negative", "pass e.g. 1e-9");
  throw nibble::NotImplemented("module 01: cross_entropy_identity_holds");
}

}  // namespace nibble
