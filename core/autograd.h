// The autograd tape: each op that runs while gradients are wanted records a Node on its output.
//
// A Node holds the op's inputs and a backward function that maps dL/d(output) to dL/d(input_i).
// Tensor::backward() collects the Nodes reachable from the root in topological order — with an
// explicit stack, never recursion, so a 100 000-op chain cannot overflow the call stack — and runs
// them last-to-first, summing the gradients of a tensor used in several places.
//
// Writing an op (see core/ops/*.cpp): compute the output, then
//   return record("mul", out, {a, b}, [a, b](const Tensor& g) {
//     return grads{mul(g, b), mul(g, a)};   // d(ab)/da = b, d(ab)/db = a
//   });
// record() attaches the Node only when grad mode is on and some input requires_grad.
#pragma once

#include <functional>
#include <vector>

#include "core/tensor.h"

namespace nibble {

using grads = std::vector<Tensor>;  // one entry per input; an undefined Tensor means "no gradient"
using BackwardFn = std::function<grads(const Tensor& grad_output)>;

struct Node {
  const char* name;            // the op, for error messages and debugging
  std::vector<Tensor> inputs;  // what the op consumed
  BackwardFn backward;
  // Frees a long chain of Nodes iteratively: the default destructor would recurse once per op
  // (Node -> input tensor -> its Node -> ...) and overflow the stack on a 100 000-op chain.
  ~Node();
};

// Gradient mode is per thread and on by default.
bool grad_enabled();
void set_grad_enabled(bool on);

// RAII: no tape inside this scope (inference, optimizer updates, evaluation).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches a Node to `out` when some input requires_grad (and grad mode is on); returns out.
// Backward functions must not capture `out` itself (that would be a reference cycle): capture
// out.detach() when the derivative needs the output's values (exp, tanh, sigmoid ...).
Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

// True when an op on these inputs would record a Node.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Runs reverse-mode differentiation from `root` seeded with `seed` (same shape as root).
void run_backward(const Tensor& root, const Tensor& seed);

// Sums `grad` down to `shape` — undoing NumPy broadcasting in a backward pass.
// E.g. grad [4, 3] -> shape [3] sums over axis 0; grad [4, 3] -> shape [4, 1] sums over axis 1.
Tensor sum_to(const Tensor& grad, const Shape& shape);

}  // namespace nibble
