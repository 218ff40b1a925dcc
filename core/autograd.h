// The autograd tape: each op that runs while gradients are wanted records a Node on its output.
//
// A Node holds the op's inputs and a backward function that maps dL/d(output) to dL/d(input_i).
// Tensor::backward() collects the Nodes reachable from the root in topological order — with an
// explicit stack, never recursion, so a 100 000-op chain cannot overflow the call stack — and runs
// them last-to-first, summing the gradients of a tensor used in several places.
//
// ---- Writing an op inside core/ (see core/ops/*.cpp) ----------------------------------------------
// Compute the output (with nibble::map_elements, core/map.h, or your own loop), then
//   return record("mul", out, {a, b}, [a, b](const Tensor& g) {
//     return grads{mul(g, b), mul(g, a)};   // d(ab)/da = b, d(ab)/db = a
//   });
// record() attaches the Node only when grad mode is on and some input requires_grad.
//
// ---- Writing an op outside core/: apply_function (like torch.autograd.Function) ----------------
// A module, a notebook or a student defines an op with its *own* backward — e.g. the straight-
// through estimator (STE) that quantization-aware training (module 04) is built on: the forward
// rounds, the backward pretends it did not and passes the gradient through unchanged.
//
//   Tensor ste_round(const Tensor& x) {
//     return nibble::apply_function(
//         "ste_round", {x},
//         // forward: runs without the tape, on detached views of the inputs (same memory)
//         [](FunctionCtx&, const std::vector<Tensor>& in) {
//           return nibble::map_elements(in[0], [](float v) { return std::nearbyint(v); });
//         },
//         // backward: one gradient per input (Tensor() for "none"); the STE says d round/dx := 1
//         [](const FunctionCtx&, const Tensor& grad_out) { return grads{grad_out}; });
//   }
//   Tensor x = Tensor::from_vector({0.4f, 1.6f}).requires_grad_();
//   ste_round(x).sum().backward();           // x.grad() == [1, 1]
//
// When backward needs values from the forward, save them in the context; an op whose backward
// *is* its derivative can then be checked with nibble::gradcheck (core/gradcheck.h):
//
//   Tensor cube(const Tensor& x) {           // x^3, d/dx = 3 x^2
//     return nibble::apply_function(
//         "cube", {x},
//         [](FunctionCtx& ctx, const std::vector<Tensor>& in) {
//           ctx.save_for_backward({in[0]});
//           return nibble::map_elements(in[0], [](float v) { return v * v * v; });
//         },
//         [](const FunctionCtx& ctx, const Tensor& g) {
//           const Tensor& x = ctx.saved_tensors()[0];
//           return grads{nibble::map_elements(g, x, [](float gi, float xi) { return 3 * xi * xi * gi; })};
//         });
//   }
//   nibble::gradcheck([](const std::vector<Tensor>& in) { return cube(in[0]); },
//                     {Tensor::randn({3, 4})}).ok;   // true
//
// Rules apply_function enforces, each with an error that names the op:
// - forward must return a *new* tensor: not one of its inputs (return in[0].clone() for an
//   identity), not a tensor that already requires grad (e.g. a captured parameter).
// - backward returns exactly one gradient per input, each with that input's shape (or undefined);
//   when the forward broadcast its inputs, sum the gradient back with sum_to(g, input_shape), and
//   ctx.needs_input_grad(i) tells which gradients are wanted at all.
// - Non-tensor arguments (a scale, a bit width) are captured by the lambdas, by value.
// - One output per function; an op with two outputs is two functions (or one concatenated output).
// A Node's name is a std::string held by value, so names built at run time are fine.
// More examples to copy from, each tested: tests/core/function_test.cpp.
//
// ---- The version rule (in-place writes) -------------------------------------------------------------
// Every Storage carries a version counter, shared by all views of it, bumped by each write through
// a Tensor: non-const data()/at(), Tensor::bump_version(), set_mask(), optimizer steps,
// nn::Module::load_state_dict(). A Node remembers the version of each input and each saved tensor
// (the output for exp/tanh/sigmoid/sqrt/softmax, ctx.save_for_backward for extension ops) when
// it is recorded; backward() throws nibble::Error naming the op if any of them changed since —
// the values the gradient formula needs are gone, so the gradient would be silently wrong (as in
// PyTorch: "one of the variables needed for gradient computation has been modified by an inplace
// operation"). Do in-place edits (pruning, optimizer steps) after backward, or recompute the
// forward. Reading through a const Tensor never bumps. The rule is deliberately simple: every
// input of a Node is checked, even where the formula would not read it (add only needs shapes),
// so a module's forward should read its parameters through const access and write them only
// outside a forward/backward pair.
//
// ---- Freeing the graph: retain_graph -----------------------------------------------------------------
// backward() frees the graph it ran through: each Node drops its inputs, saved tensors and
// closure, so the activations of the last batch do not outlive the step. A second backward
// through a freed Node throws; pass backward(/*retain_graph=*/true) to the first call to go
// backward twice (the gradients then accumulate twice, as in PyTorch).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace nibble {

using grads = std::vector<Tensor>;  // one entry per input; an undefined Tensor means "no gradient"
using BackwardFn = std::function<grads(const Tensor& grad_output)>;

// A tensor kept for backward with the version its storage had when the Node was recorded.
struct SavedTensor {
  Tensor tensor;
  uint64_t version = 0;
};

struct Node {
  std::string name;                     // the op, for error messages and debugging
  std::vector<Tensor> inputs;           // what the op consumed (edges of the graph)
  std::vector<uint64_t> input_versions;  // inputs[i].version() at record time
  std::vector<SavedTensor> saved;       // other tensors backward reads (e.g. the output)
  BackwardFn backward;
  bool freed = false;  // a backward without retain_graph ran through this Node
  // Drops inputs, saved tensors and the closure (what backward(retain_graph = false) does).
  void release();
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
// `saved` lists the tensors other than the inputs that backward reads — for the version check;
// pass the output's detach() when the derivative uses the output's values (exp, tanh ...).
// Backward functions must not capture `out` itself (that would be a reference cycle): capture
// out.detach() instead. Throws if `out` is one of the inputs (an op must return a new tensor:
// recording on its own input would turn a leaf into a non-leaf whose gradient is never stored).
Tensor record(std::string_view name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward,
              std::vector<Tensor> saved = {});

// True when an op on these inputs would record a Node.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Runs reverse-mode differentiation from `root` seeded with `seed` (same shape as root), then
// frees the Nodes it ran unless retain_graph.
void run_backward(const Tensor& root, const Tensor& seed, bool retain_graph = false);

// Sums `grad` down to `shape` — undoing NumPy broadcasting in a backward pass.
// E.g. grad [4, 3] -> shape [3] sums over axis 0; grad [4, 3] -> shape [4, 1] sums over axis 1.
// Returns `grad` itself when the shapes already agree (it is meant for backward functions).
Tensor sum_to(const Tensor& grad, const Shape& shape);

// ---- extension ops (see the header comment for a worked example) -------------------------------

// What an extension op's forward leaves for its backward.
class FunctionCtx {
 public:
  // Keeps tensors for backward (stored detached, so saving the output makes no cycle). Their
  // versions are checked at backward: writing into one in between is an error.
  void save_for_backward(std::vector<Tensor> tensors);
  const std::vector<Tensor>& saved_tensors() const { return saved_; }
  // Whether input i wants a gradient (backward may return Tensor() for the others).
  bool needs_input_grad(size_t i) const { return i < needs_grad_.size() && needs_grad_[i]; }

 private:
  friend Tensor apply_function(std::string name, std::vector<Tensor> inputs,
                               std::function<Tensor(FunctionCtx&, const std::vector<Tensor>&)> forward,
                               std::function<grads(const FunctionCtx&, const Tensor&)> backward);
  std::vector<Tensor> saved_;
  std::vector<bool> needs_grad_;
};

using FunctionForward = std::function<Tensor(FunctionCtx& ctx, const std::vector<Tensor>& inputs)>;
using FunctionBackward = std::function<grads(const FunctionCtx& ctx, const Tensor& grad_output)>;

// Runs `forward` without the tape on detached views of `inputs`, then records `backward` for the
// result (when grad mode is on and an input requires grad). `name` appears in every error.
Tensor apply_function(std::string name, std::vector<Tensor> inputs, FunctionForward forward,
                      FunctionBackward backward);

}  // namespace nibble
