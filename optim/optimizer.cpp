#include "optim/optimizer.h"

#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "core/autograd.h"
#include "core/error.h"

namespace nibble::optim {

std::string format_value(float value) { return fmt::format("{}", value); }

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, float lr)
    : name_(std::move(name)), params_(std::move(params)), states_(params_.size()), lr_(0.0f) {
  NIBBLE_CHECK(!params_.empty(), name_, "params is empty: there is nothing to optimize",
        "pass model.parameters() of a model that has parameters");
  std::unordered_set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const std::string which = "parameter " + std::to_string(i);
    NIBBLE_CHECK(p.defined(), name_, which + " is an undefined tensor");
    // The updates below write into p.data() as one flat array: a view with gaps (x.t(), a slice)
    // would be updated in the wrong places, and an op's output is not a trainable tensor at all.
    NIBBLE_CHECK(p.is_leaf(), name_, which + " is not a leaf (it was produced by an op)",
          "optimize the tensor you created, not a result computed from it");
    NIBBLE_CHECK(p.is_contiguous(), name_, which + " of shape " + p.shape_str() + " is not contiguous",
          "pass the original tensor, or make a contiguous() copy and train that");
    // A tensor listed twice would be updated twice per step.
    NIBBLE_CHECK(seen.insert(p.impl()).second, name_, which + " appears more than once in params");
  }
  set_lr(lr);
}

void Optimizer::set_lr(float lr) {
  NIBBLE_CHECK(lr >= 0.0f, name_, "lr must be >= 0, got " + format_value(lr));
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::step() {
  NoGradGuard no_grad;  // an update is not part of any model: nothing here may be recorded
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor g = p.grad();
    // No gradient reached this parameter, or it is frozen (requires_grad_(false) after a gradient
    // was left in it): leave it and its state alone.
    if (!g.defined() || !p.requires_grad()) continue;
    const Tensor g_flat = g.contiguous();  // autograd keeps grads contiguous, so this is free
    ParamState& state = states_[i];
    ++state.step;
    update(p.data(), g_flat.data(), p.numel(), state);
  }
  apply_masks();
}

// Multiplying by a 0/1 mask, written as "set the pruned entries to 0": p * 0 would keep a NaN or
// inf (NaN * 0 = NaN) and turn a negative weight into -0.0f, while assignment gives exactly +0.0f.
// Masks are applied to every masked parameter, including those skipped this step: it costs little
// and also repairs a pruned entry someone wrote into by hand.
void Optimizer::apply_masks() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor mask = p.mask();
    if (!mask.defined()) continue;
    const int64_t n = p.numel();
    NIBBLE_CHECK(mask.numel() == n && mask.is_contiguous(), name_,
          "the mask of parameter " + std::to_string(i) + " does not match its shape " + p.shape_str(),
          "set masks with Tensor::set_mask()");
    const float* m = mask.data();
    float* values = p.data();
    for (int64_t j = 0; j < n; ++j) {
      if (m[j] == 0.0f) values[j] = 0.0f;
    }
    for (Tensor& buffer : states_[i].buffers) {
      float* b = buffer.data();
      for (int64_t j = 0; j < n; ++j) {
        if (m[j] == 0.0f) b[j] = 0.0f;
      }
    }
  }
}

}  // namespace nibble::optim
