// modules/02_attention_entropy/attention_entropy.cpp — module 02: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.
// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)
// Module 02 — attention entropy. The API, with what each function must do:
// info_theory/attention_entropy.h. Your code replaces each `throw nibble::NotImplemented`; the
// input checks before it are given.
#include "info_theory/attention_entropy.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "info_theory/entropy.h"  // module 01: entropy_bits(p, axis)

namespace nibble {

// ---- input checks (given) ---------------------------------------------------------------------------

void validate_attention_weights(const Tensor& weights, const std::string& function) {
  check(weights.defined() && weights.dim() == 4 && weights.size(2) == weights.size(3) &&
            weights.size(3) >= 1,
        function,
        "expects attention weights [B, H, T, T], got " +
            (weights.defined() ? weights.shape_str() : std::string("(undefined)")),
        "pass nn::MultiHeadAttention's `attention` member or the weights of "
        "scaled_dot_product_attention; for one head use unsqueeze(0).unsqueeze(0)");
  NoGradGuard no_grad;
  const std::vector<float> values = weights.to_vector();
  const size_t T = static_cast<size_t>(weights.size(3));
  for (size_t row = 0; row * T < values.size(); ++row) {
    float total = 0.0f;
    for (size_t j = 0; j < T; ++j) {
      const float w = values[row * T + j];
      check(std::isfinite(w) && w >= 0.0f, function,
            "weights " + weights.shape_str() + " holds " + std::to_string(w) + " in row " +
                std::to_string(row) + ", not a probability",
            "pass softmax outputs (weights), not the raw scores");
      total += w;
    }
    check(std::fabs(total - 1.0f) <= kAttentionRowTolerance, function,
          "row " + std::to_string(row) + " of weights " + weights.shape_str() + " sums to " +
              std::to_string(total) + ", not 1",
          "each query's weights must be a distribution over the keys (softmax over the LAST axis)");
  }
}

// ---- scaled dot-product attention -------------------------------------------------------------------

AttentionOutput scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             bool causal) {
  const std::string fn = "scaled_dot_product_attention";
  check(q.defined() && k.defined() && v.defined() && q.dim() >= 2 && q.dim() == k.dim() &&
            k.dim() == v.dim(),
        fn, "expects q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv] of one rank >= 2, got " +
                (q.defined() ? q.shape_str() : "(undefined)") + ", " +
                (k.defined() ? k.shape_str() : "(undefined)") + ", " +
                (v.defined() ? v.shape_str() : "(undefined)"));
  check(q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2) && q.size(-1) >= 1, fn,
        "shapes do not fit: q " + q.shape_str() + ", k " + k.shape_str() + ", v " + v.shape_str(),
        "q and k share the feature size d (last axis); k and v share the number of keys Tk");
  check(!causal || q.size(-2) == k.size(-2), fn,
        "a causal mask needs as many queries as keys: q " + q.shape_str() + ", k " + k.shape_str(),
        "causal attention is self-attention over one sequence");
  throw nibble::NotImplemented("module 02: scaled_dot_product_attention");
}

// ---- entropy of attention ----------------------------------------------------------------------------

Tensor attention_entropy_bits(const Tensor& weights) {
  validate_attention_weights(weights, "attention_entropy_bits");
  throw nibble::NotImplemented("module 02: attention_entropy_bits");
}

Tensor head_mean_entropy_bits(const Tensor& weights) {
  validate_attention_weights(weights, "head_mean_entropy_bits");
  throw nibble::NotImplemented("module 02: head_mean_entropy_bits");
}

double layer_mean_entropy_bits(const Tensor& weights) {
  validate_attention_weights(weights, "layer_mean_entropy_bits");
  throw nibble::NotImplemented("module 02: layer_mean_entropy_bits");
}

std::vector<int64_t> collapsed_heads(const Tensor& weights, double threshold_bits) {
  validate_attention_weights(weights, "collapsed_heads");
  check(std::isfinite(threshold_bits) && threshold_bits >= 0.0, "collapsed_heads",
        "threshold_bits = " + std::to_string(threshold_bits) + " must be finite and >= 0",
        "entropies are >= 0 bits; e.g. 0.5 flags heads that mostly look at one token");
  throw nibble::NotImplemented("module 02: collapsed_heads");
}

Tensor entropy_regularizer(const Tensor& weights, float h_min_bits) {
  validate_attention_weights(weights, "entropy_regularizer");
  check(std::isfinite(h_min_bits) && h_min_bits >= 0.0f, "entropy_regularizer",
        "h_min_bits = " + std::to_string(h_min_bits) + " must be finite and >= 0",
        "a target entropy in bits, e.g. 1.0; at most log2(T) can be reached");
  throw nibble::NotImplemented("module 02: entropy_regularizer");
}

}  // namespace nibble
