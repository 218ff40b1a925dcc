// Losses. Each is one recorded op: the forward computes per-example (or per-element) losses and
// reduces them; the backward writes the analytic gradient directly.
//
// Reductions: None keeps the per-example losses; Sum adds them; Mean divides the sum by the
// number of losses (examples for cross_entropy/nll_loss, elements for the pointwise losses);
// BatchMean divides by input.size(0) and exists for kl_div only (see core/ops.h).
// The backward of every reduction is the same idea: each loss term l_i receives
//   dL/dl_i = g_i (None),  g (Sum),  g / count (Mean, BatchMean).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/iterate.h"

namespace nibble {

using detail::binary_map;
using detail::unary_map;

namespace {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::None: return "Reduction::None";
    case Reduction::Mean: return "Reduction::Mean";
    case Reduction::Sum: return "Reduction::Sum";
    case Reduction::BatchMean: return "Reduction::BatchMean";
  }
  return "Reduction::?";
}

// BatchMean only makes sense for kl_div: for cross_entropy/nll_loss, Mean already divides by
// the batch size, and for mse/bce "per example" is ambiguous. Rejecting it catches the mix-up.
void reject_batchmean(const char* op, Reduction r) {
  NIBBLE_CHECK(r != Reduction::BatchMean, op, "Reduction::BatchMean is only supported by kl_div",
        "use Reduction::Mean (the average loss) or Reduction::Sum");
}

// The divisor that turns the sum of `count` loss terms into the requested reduction.
double reduction_divisor(Reduction r, int64_t count, int64_t batch) {
  switch (r) {
    case Reduction::Mean: return static_cast<double>(count);
    case Reduction::BatchMean: return static_cast<double>(batch);
    default: return 1.0;
  }
}

// Forward: per-term losses (contiguous) -> the reduced loss (None returns them unchanged).
Tensor reduce_terms(const Tensor& terms, Reduction r, double divisor) {
  if (r == Reduction::None) return terms;
  const float* p = terms.data();
  double total = 0.0;  // double: a float running sum of 1e6 terms loses about 3 digits
  for (int64_t i = 0; i < terms.numel(); ++i) total += p[i];
  return Tensor::scalar(static_cast<float>(total / divisor));
}

// Backward: the upstream gradient of the reduced loss -> dL/d(term) for each term, contiguous,
// with the terms' shape.
Tensor term_gradients(const Tensor& g, Reduction r, double divisor, const Shape& terms_shape) {
  if (r == Reduction::None) return g.contiguous();
  return Tensor::full(terms_shape, static_cast<float>(g.item() / divisor));
}

// ---- validation shared by cross_entropy and nll_loss -------------------------------------------

// scores [N, C] with N class indices in [0, C). `what` names the argument ("logits"/"log_probs").
void check_class_targets(const char* op, const char* what, const Tensor& scores,
                         const std::vector<int64_t>& target) {
  NIBBLE_CHECK(scores.defined(), op, std::string("argument '") + what + "' is an undefined tensor");
  const std::string shape = scores.shape_str();
  NIBBLE_CHECK(scores.dim() == 2, op, fmt::format("{} must be 2-d [N, C], got {} {}", what, what, shape),
        "flatten the extra axes first, e.g. x.reshape({-1, C}), and the targets to match");
  const int64_t n = scores.shape()[0], c = scores.shape()[1];
  NIBBLE_CHECK(n > 0, op, fmt::format("empty batch: {} {}", what, shape));
  NIBBLE_CHECK(static_cast<int64_t>(target.size()) == n, op,
        fmt::format("{} targets for {} {}", target.size(), what, shape),
        "pass exactly one class index per row");
  for (int64_t i = 0; i < n; ++i) {
    NIBBLE_CHECK(target[i] >= 0 && target[i] < c, op,
          fmt::format("target[{}] = {} is not a class index in [0, {}) for {} {}", i, target[i], c,
                      what, shape));
  }
}

// Pointwise losses: input and target must agree exactly (no silent broadcasting, which would
// turn a [N] target against [N, 1] predictions into an [N, N] loss).
void check_same_shape(const char* op, const Tensor& input, const Tensor& target) {
  NIBBLE_CHECK(input.defined() && target.defined(), op, "an argument is an undefined tensor");
  NIBBLE_CHECK(input.shape() == target.shape(), op,
        fmt::format("input {} and target {} must have the same shape", input.shape_str(),
                    target.shape_str()));
  NIBBLE_CHECK(input.numel() > 0, op, fmt::format("empty input {}", input.shape_str()));
}

}  // namespace

// ---- cross_entropy: log_softmax + nll in one pass ------------------------------------------------
// With lse = log sum_c exp(x_c) and the smoothed target q = (1-e) onehot(t) + e/C:
//   loss = -sum_c q_c (x_c - lse) = lse - (1-e) x_t - e * mean_c(x_c)
//   d loss / d x_c = softmax_c - q_c
// (and the mean over the batch divides both by N).
Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& target, Reduction reduction,
                     float label_smoothing) {
  const char* op = "cross_entropy";
  check_class_targets(op, "logits", logits, target);
  NIBBLE_CHECK(label_smoothing >= 0.0f && label_smoothing <= 1.0f, op,
        fmt::format("label_smoothing = {} is outside [0, 1]", label_smoothing));
  reject_batchmean(op, reduction);
  const int64_t n = logits.shape()[0], c = logits.shape()[1];
  const double e = label_smoothing;

  const Tensor x = logits.detach().contiguous();  // [N, C]
  Tensor probs = Tensor::empty({n, c});           // softmax, kept for the backward
  Tensor losses = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x.data() + i * c;
    float* p = probs.data() + i * c;
    float m = row[0];
    for (int64_t k = 1; k < c; ++k) m = std::max(m, row[k]);
    double exp_total = 0.0, row_total = 0.0;
    for (int64_t k = 0; k < c; ++k) {
      p[k] = std::exp(row[k] - m);  // <= 1: no overflow (see core/ops/softmax.cpp)
      exp_total += p[k];
      row_total += row[k];
    }
    const float inv_total = static_cast<float>(1.0 / exp_total);
    for (int64_t k = 0; k < c; ++k) p[k] *= inv_total;
    const double lse = m + std::log(exp_total);
    losses.data()[i] = static_cast<float>(lse - (1.0 - e) * row[target[i]] - e * row_total / c);
  }
  const double divisor = reduction_divisor(reduction, n, n);
  Tensor out = reduce_terms(losses, reduction, divisor);
  return record(op, out, {logits}, [probs, target, e, reduction, divisor, n, c](const Tensor& g) {
    const Tensor per_row = term_gradients(g, reduction, divisor, {n});  // dL/d loss_i
    Tensor dx = Tensor::empty({n, c});
    const float off_target = static_cast<float>(e / c);       // q_c for c != t
    const float on_target = static_cast<float>(1.0 - e + e / c);  // q_t
    for (int64_t i = 0; i < n; ++i) {
      const float gi = per_row.data()[i];
      const float* p = probs.data() + i * c;
      float* d = dx.data() + i * c;
      for (int64_t k = 0; k < c; ++k) d[k] = gi * (p[k] - off_target);
      d[target[i]] = gi * (p[target[i]] - on_target);
    }
    return grads{dx};
  });
}

// ---- nll_loss: picks -log_probs[i, t_i] --------------------------------------------------------
// d loss_i / d log_probs[i, c] = -1 if c == t_i else 0.
Tensor nll_loss(const Tensor& log_probs, const std::vector<int64_t>& target, Reduction reduction) {
  const char* op = "nll_loss";
  check_class_targets(op, "log_probs", log_probs, target);
  reject_batchmean(op, reduction);
  const int64_t n = log_probs.shape()[0], c = log_probs.shape()[1];
  Tensor losses = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i) losses.data()[i] = -log_probs.at({i, target[i]});
  const double divisor = reduction_divisor(reduction, n, n);
  Tensor out = reduce_terms(losses, reduction, divisor);
  return record(op, out, {log_probs}, [target, reduction, divisor, n, c](const Tensor& g) {
    const Tensor per_row = term_gradients(g, reduction, divisor, {n});
    Tensor dx = Tensor::zeros({n, c});
    for (int64_t i = 0; i < n; ++i) dx.data()[i * c + target[i]] = -per_row.data()[i];
    return grads{dx};
  });
}

// ---- mse_loss: (x - y)^2 ------------------------------------------------------------------------
// d/dx = 2 (x - y),  d/dy = -2 (x - y)
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  const char* op = "mse_loss";
  check_same_shape(op, input, target);
  reject_batchmean(op, reduction);
  const Tensor diff = binary_map(input.detach(), target.detach(), op, [](float x, float y) { return x - y; });
  const Tensor terms = unary_map(diff, [](float d) { return d * d; });
  const double divisor = reduction_divisor(reduction, input.numel(), 0);
  Tensor out = reduce_terms(terms, reduction, divisor);
  return record(op, out, {input, target}, [diff, reduction, divisor](const Tensor& g) {
    const Tensor gt = term_gradients(g, reduction, divisor, diff.shape());
    const Tensor dx = binary_map(gt, diff, "mse_loss", [](float gi, float d) { return 2.0f * gi * d; });
    const Tensor dy = binary_map(gt, diff, "mse_loss", [](float gi, float d) { return -2.0f * gi * d; });
    return grads{dx, dy};
  });
}

// ---- binary_cross_entropy_with_logits ----------------------------------------------------------
// The textbook -[y log s(x) + (1-y) log(1 - s(x))] with s = sigmoid overflows or hits log(0) for
// large |x|. Rewritten without ever forming s(x):
//   loss = max(x, 0) - x y + log(1 + exp(-|x|))        (exp of a non-positive number: safe)
//   d/dx = sigmoid(x) - y,    d/dy = -x
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  check_same_shape(op, logits, target);
  reject_batchmean(op, reduction);
  const Tensor x = logits.detach(), y = target.detach();
  const Tensor terms = binary_map(x, y, op, [](float xi, float yi) {
    return std::max(xi, 0.0f) - xi * yi + std::log1p(std::exp(-std::fabs(xi)));
  });
  const double divisor = reduction_divisor(reduction, logits.numel(), 0);
  Tensor out = reduce_terms(terms, reduction, divisor);
  return record(op, out, {logits, target}, [x, y, reduction, divisor](const Tensor& g) {
    const Tensor gt = term_gradients(g, reduction, divisor, x.shape());
    const Tensor residual = binary_map(x, y, "binary_cross_entropy_with_logits", [](float xi, float yi) {
      // The two-branch sigmoid (as in elementwise.cpp) never overflows exp().
      const float s = xi >= 0.0f ? 1.0f / (1.0f + std::exp(-xi)) : std::exp(xi) / (1.0f + std::exp(xi));
      return s - yi;
    });
    const Tensor dx = binary_map(gt, residual, "binary_cross_entropy_with_logits",
                                 [](float gi, float r) { return gi * r; });
    const Tensor dy = binary_map(gt, x, "binary_cross_entropy_with_logits",
                                 [](float gi, float xi) { return -gi * xi; });
    return grads{dx, dy};
  });
}

// ---- kl_div: KL(target || model) with the model given as log-probabilities ----------------------
// Pointwise  t * (log t - x)  with the convention 0 * log 0 = 0 (the limit of t log t as t -> 0),
// so a target with zeros (e.g. a one-hot) gives finite losses instead of 0 * -inf = NaN.
//   d/dx = -t
//   d/dt = log t + 1 - x  for t > 0. At t = 0 the true derivative is -inf (t log t has a vertical
//          tangent there); we pass 0 instead, in the spirit of 0 log 0 = 0, so that one zero in a
//          target does not turn every gradient into NaN. Targets are usually constants anyway.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction) {
  const char* op = "kl_div";
  check_same_shape(op, input, target);
  NIBBLE_CHECK(reduction != Reduction::BatchMean || input.dim() >= 1, op,
        fmt::format("{} needs a batch axis, got input {}", reduction_name(reduction), input.shape_str()));
  const Tensor x = input.detach(), t = target.detach();
  const Tensor terms = binary_map(x, t, op, [](float xi, float ti) {
    return ti == 0.0f ? 0.0f : ti * (std::log(ti) - xi);  // negative t gives log(t) = NaN: visible
  });
  const double divisor = reduction_divisor(reduction, input.numel(), input.dim() >= 1 ? input.size(0) : 1);
  Tensor out = reduce_terms(terms, reduction, divisor);
  return record(op, out, {input, target}, [x, t, reduction, divisor](const Tensor& g) {
    const Tensor gt = term_gradients(g, reduction, divisor, x.shape());
    const Tensor dx = binary_map(gt, t, "kl_div", [](float gi, float ti) { return -gi * ti; });
    const Tensor log_t_plus_1_minus_x = binary_map(x, t, "kl_div", [](float xi, float ti) {
      return ti == 0.0f ? 0.0f : std::log(ti) + 1.0f - xi;
    });
    const Tensor dt = binary_map(gt, log_t_plus_1_minus_x, "kl_div", [](float gi, float v) { return gi * v; });
    return grads{dx, dt};
  });
}

}  // namespace nibble
