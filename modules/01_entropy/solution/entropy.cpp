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
  // BEGIN SOLUTION self_information_bits
  if (p == 0.0) return std::numeric_limits<double>::infinity();
  return -std::log2(p);
  // END SOLUTION
}

double entropy_bits(const Distribution& p) {
  validate_distribution(p, "entropy_bits");
  // BEGIN SOLUTION entropy_bits
  double h = 0.0;
  for (const double pi : p) {
    if (pi > 0.0) h -= pi * std::log2(pi);  // 0 log 0 = 0: zeros are skipped
  }
  return h;
  // END SOLUTION
}

double entropy_nats(const Distribution& p) {
  validate_distribution(p, "entropy_nats");
  // BEGIN SOLUTION entropy_nats
  double h = 0.0;
  for (const double pi : p) {
    if (pi > 0.0) h -= pi * std::log(pi);
  }
  return h;
  // END SOLUTION
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
  // BEGIN SOLUTION entropy_bits_tensor
  // clamp keeps log finite at p = 0, where p * log(...) is then exactly 0 (0 log 0 = 0).
  const Tensor log2p = log(clamp(p, 1e-30f, 1e30f)) * static_cast<float>(1.0 / std::log(2.0));
  return neg(sum(mul(p, log2p), ax));
  // END SOLUTION
}

// ---- joint and conditional entropy ------------------------------------------------------------------

double joint_entropy_bits(const JointTable& joint) {
  validate_joint(joint, "joint_entropy_bits");
  // BEGIN SOLUTION joint_entropy_bits
  Distribution flat;
  for (const auto& row : joint) flat.insert(flat.end(), row.begin(), row.end());
  double h = 0.0;
  for (const double v : flat) {
    if (v > 0.0) h -= v * std::log2(v);
  }
  return h;
  // END SOLUTION
}

double conditional_entropy_bits(const JointTable& joint) {
  validate_joint(joint, "conditional_entropy_bits");
  // BEGIN SOLUTION conditional_entropy_bits
  // H(Y|X) = sum_x P(x) H(Y | X = x) = H(X,Y) - H(X); P(x) is the sum of row x.
  double h_xy = 0.0, h_x = 0.0;
  for (const auto& row : joint) {
    double px = 0.0;
    for (const double v : row) {
      px += v;
      if (v > 0.0) h_xy -= v * std::log2(v);
    }
    if (px > 0.0) h_x -= px * std::log2(px);
  }
  return std::max(0.0, h_xy - h_x);  // never below 0 (rounding)
  // END SOLUTION
}

// ---- cross-entropy, KL, Jensen–Shannon ----------------------------------------------------------------

double cross_entropy_bits(const Distribution& p, const Distribution& q) {
  validate_pair(p, q, "cross_entropy_bits");
  // BEGIN SOLUTION cross_entropy_bits
  double h = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0.0) continue;
    if (q[i] == 0.0) return std::numeric_limits<double>::infinity();
    h -= p[i] * std::log2(q[i]);
  }
  return h;
  // END SOLUTION
}

double kl_divergence(const Distribution& p, const Distribution& q) {
  validate_pair(p, q, "kl_divergence");
  // BEGIN SOLUTION kl_divergence
  double kl = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0.0) continue;
    if (q[i] == 0.0) return std::numeric_limits<double>::infinity();
    kl += p[i] * std::log2(p[i] / q[i]);
  }
  return std::max(0.0, kl);  // Gibbs: KL >= 0; clamp rounding noise like -1e-17
  // END SOLUTION
}

double js_divergence(const Distribution& p, const Distribution& q) {
  validate_pair(p, q, "js_divergence");
  // BEGIN SOLUTION js_divergence
  double js = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double m = 0.5 * (p[i] + q[i]);
    if (p[i] > 0.0) js += 0.5 * p[i] * std::log2(p[i] / m);
    if (q[i] > 0.0) js += 0.5 * q[i] * std::log2(q[i] / m);
  }
  return std::min(1.0, std::max(0.0, js));
  // END SOLUTION
}

// ---- mutual information --------------------------------------------------------------------------------

double mutual_information_bits(const JointTable& joint) {
  validate_joint(joint, "mutual_information_bits");
  // BEGIN SOLUTION mutual_information_bits
  const size_t nx = joint.size(), ny = joint[0].size();
  std::vector<double> px(nx, 0.0), py(ny, 0.0);
  for (size_t x = 0; x < nx; ++x)
    for (size_t y = 0; y < ny; ++y) {
      px[x] += joint[x][y];
      py[y] += joint[x][y];
    }
  double mi = 0.0;
  for (size_t x = 0; x < nx; ++x)
    for (size_t y = 0; y < ny; ++y) {
      const double pxy = joint[x][y];
      if (pxy > 0.0) mi += pxy * std::log2(pxy / (px[x] * py[y]));
    }
  return std::max(0.0, mi);
  // END SOLUTION
}

double mutual_information_from_samples(const std::vector<int64_t>& xs, const std::vector<int64_t>& ys) {
  check(!xs.empty(), "mutual_information_from_samples", "xs and ys are empty",
        "pass at least one (x, y) pair");
  check(xs.size() == ys.size(), "mutual_information_from_samples",
        "xs and ys have different lengths: " + std::to_string(xs.size()) + " vs " +
            std::to_string(ys.size()),
        "the samples are pairs: xs[i] goes with ys[i]");
  // BEGIN SOLUTION mutual_information_from_samples
  std::map<int64_t, size_t> xi, yi;
  for (const int64_t x : xs) xi.emplace(x, xi.size());
  for (const int64_t y : ys) yi.emplace(y, yi.size());
  JointTable joint(xi.size(), std::vector<double>(yi.size(), 0.0));
  const double n = static_cast<double>(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) joint[xi[xs[i]]][yi[ys[i]]] += 1.0 / n;
  // Renormalise: n additions of 1/n may miss 1 by a few ulps.
  double total = 0.0;
  for (const auto& row : joint)
    for (const double v : row) total += v;
  for (auto& row : joint)
    for (double& v : row) v /= total;
  return mutual_information_bits(joint);
  // END SOLUTION
}

// ---- perplexity, text entropy, identity -----------------------------------------------------------------

double perplexity(const Distribution& p) {
  validate_distribution(p, "perplexity");
  // BEGIN SOLUTION perplexity
  return std::exp2(entropy_bits(p));
  // END SOLUTION
}

double char_entropy_bits(const std::string& text) {
  check(!text.empty(), "char_entropy_bits", "text is empty (size 0)",
        "the entropy of an empty text is undefined: pass at least one character");
  // BEGIN SOLUTION char_entropy_bits
  std::vector<double> counts(256, 0.0);
  for (const char c : text) counts[static_cast<unsigned char>(c)] += 1.0;
  const double n = static_cast<double>(text.size());
  double h = 0.0;
  for (const double c : counts) {
    if (c > 0.0) h -= (c / n) * std::log2(c / n);
  }
  return h;
  // END SOLUTION
}

bool cross_entropy_identity_holds(const Distribution& p, const Distribution& q, double tolerance) {
  validate_pair(p, q, "cross_entropy_identity_holds");
  check(tolerance >= 0.0, "cross_entropy_identity_holds",
        "tolerance = " + std::to_string(tolerance) + " is negative", "pass e.g. 1e-9");
  // BEGIN SOLUTION cross_entropy_identity_holds
  const double lhs = cross_entropy_bits(p, q);
  const double rhs = entropy_bits(p) + kl_divergence(p, q);
  if (std::isinf(lhs) || std::isinf(rhs)) return std::isinf(lhs) && std::isinf(rhs);
  return std::fabs(lhs - rhs) <= tolerance;
  // END SOLUTION
}

}  // namespace nibble
