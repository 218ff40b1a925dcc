// Optimizer: the base of SGD, Adam and AdamW, after torch.optim.Optimizer.
//
//   optim::SGD opt(model.parameters(), {/*lr=*/0.1f, /*momentum=*/0.9f});
//   for (...) {
//     opt.zero_grad();
//     Tensor loss = ...;
//     loss.backward();
//     opt.step();
//   }
//
// After model surgery (Module::replace_module) build the optimizer anew from model.parameters():
// an optimizer holds tensors, and one built before keeps the old layer's (optim/README.md).
//
// step() is deliberately *not* virtual. It runs the same three stages for every optimizer:
//   1. skip each parameter whose grad() is undefined (unused by this loss) or that does not
//      require grad (frozen, e.g. by Module::requires_grad_(false));
//   2. call the optimizer's update() on the others, writing straight into the parameter's floats;
//   3. apply_masks(): re-zero the pruned entries of every masked parameter and of its state.
// An optimizer only writes update(), so none can forget the pruning mask.
//
// Why the state is masked too: the gradient of a pruned weight is generally *not* zero (the loss
// would like that weight back), so a momentum buffer or Adam moment at a pruned entry keeps
// growing while the weight is held at zero. The weight itself stays zero either way, but the
// moment the mask is cleared or changed (iterative pruning, regrowth) that stale state would push
// the revived weight by momentum it earned while it did not exist. Zeroing the state at pruned
// entries after every step makes them behave exactly as if their gradient had been zero all along.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nibble::optim {

// Everything an optimizer remembers about one parameter between steps.
struct ParamState {
  int64_t step = 0;  // updates this parameter has received (Adam's bias correction uses it)
  // Per-element buffers (momentum, Adam's moments ...), each a flat [numel] tensor, created by
  // the optimizer on the parameter's first update. apply_masks() zeroes their pruned entries.
  std::vector<Tensor> buffers;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  void step();       // update every parameter that has a gradient, then apply_masks()
  void zero_grad();  // drops every parameter's gradient (PyTorch's set_to_none=True)

  float lr() const { return lr_; }
  void set_lr(float lr);  // what learning-rate schedules call; lr >= 0

  const std::string& name() const { return name_; }  // "SGD", "Adam", ... (for error messages)
  const std::vector<Tensor>& params() const { return params_; }
  const ParamState& state(size_t index) const { return states_.at(index); }

 protected:
  // Checks the parameter list: non-empty, defined, contiguous leaves, no duplicates.
  Optimizer(std::string name, std::vector<Tensor> params, float lr);

  // One parameter's update: p and g are flat arrays of n floats (the parameter and its gradient).
  // Called with grad mode off; state.step has already been incremented for this step.
  virtual void update(float* p, const float* g, int64_t n, ParamState& state) = 0;

 private:
  void apply_masks();

  std::string name_;
  std::vector<Tensor> params_;
  std::vector<ParamState> states_;  // states_[i] belongs to params_[i]
  float lr_;
};

// "1.5", "0.001", "-1": shortest round-trip text of a float, for error messages.
std::string format_value(float value);

}  // namespace nibble::optim
