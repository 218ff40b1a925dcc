// The backward pass: topological order by an explicit stack, then reverse accumulation; the
// version check on saved tensors; freeing the graph; extension ops (apply_function).
#include "core/autograd.h"

#include <unordered_map>
#include <utility>

#include "core/ops.h"

namespace nibble {

namespace {
thread_local bool g_grad_enabled = true;
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void Node::release() {
  backward = nullptr;
  saved.clear();
  std::vector<Tensor> dropped = std::move(inputs);  // ~Node-safe: see the destructor below
  inputs.clear();
  input_versions.clear();
  freed = true;
  // `dropped` dies here; a long chain that it held alone is freed iteratively by ~Node.
}

Node::~Node() {
  thread_local std::vector<std::shared_ptr<Node>> orphans;  // Nodes no tensor refers to any more
  thread_local bool draining = false;
  backward = nullptr;  // drop the closure's references to the inputs first
  saved.clear();
  for (Tensor& input : inputs) {
    const std::shared_ptr<TensorImpl>& impl = input.impl_ptr();
    // Only take the Node of an input that dies with us; a tensor still held elsewhere keeps its
    // history.
    if (impl && impl.use_count() == 1 && impl->grad_fn) orphans.push_back(std::move(impl->grad_fn));
  }
  inputs.clear();
  if (draining) return;  // an outer ~Node is already emptying `orphans`
  draining = true;
  while (!orphans.empty()) {
    std::shared_ptr<Node> next = std::move(orphans.back());
    orphans.pop_back();
    next.reset();  // may push that Node's own inputs' Nodes onto `orphans`
  }
  draining = false;
}

Tensor record(std::string_view name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward,
              std::vector<Tensor> saved) {
  NIBBLE_CHECK(out.defined(), std::string(name), "the op's output is an undefined tensor");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].impl() == out.impl()) {
      fail(std::string(name),
           "the output is input " + std::to_string(i) + " itself (the same tensor, not a copy); "
           "recording the op on it would turn that input into its own result, and its gradient "
           "would never be stored",
           "return a new tensor: x.clone() for a copy, x.detach() or a view for shared memory");
    }
  }
  if (!any_requires_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = std::string(name);
  node->input_versions.reserve(inputs.size());
  for (const Tensor& t : inputs) node->input_versions.push_back(t.defined() ? t.version() : 0);
  node->inputs = std::move(inputs);
  node->saved.reserve(saved.size());
  for (Tensor& t : saved) {
    const uint64_t version = t.version();
    node->saved.push_back(SavedTensor{std::move(t), version});
  }
  node->backward = std::move(backward);
  TensorImpl* impl = out.impl();
  impl->requires_grad = true;
  impl->grad_fn = std::move(node);
  return out;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  Tensor g = grad;
  // 1. Sum away the leading axes that broadcasting added.
  while (g.dim() > static_cast<int64_t>(shape.size())) g = sum(g, 0, /*keepdim=*/false);
  // 2. Sum (keeping the axis) where the target had size 1 but the gradient does not.
  for (int64_t i = 0; i < g.dim(); ++i) {
    if (shape[i] == 1 && g.shape()[i] != 1) g = sum(g, i, /*keepdim=*/true);
  }
  return g;
}

namespace {

// Adds `g` into the gradient slot of `impl` (allocating it on first use).
void accumulate(std::shared_ptr<TensorImpl>& slot, const Tensor& g) {
  if (!slot) {
    // Own a fresh contiguous copy: `g` may alias another tensor's gradient or a view.
    slot = g.contiguous().clone().detach().impl_ptr();
    return;
  }
  float* dst = slot->storage->data() + slot->offset;
  slot->storage->bump_version();
  const Tensor src = g.contiguous();
  const float* s = src.data();
  const int64_t n = src.numel();
  for (int64_t i = 0; i < n; ++i) dst[i] += s[i];
}

// Post-order of the graph below `root` (inputs before the ops that use them), found with an
// explicit stack so that very long chains cannot overflow the call stack. The shared pointers
// keep every tensor alive until the pass ends, whatever the Nodes release meanwhile.
std::vector<std::shared_ptr<TensorImpl>> topological_order(const std::shared_ptr<TensorImpl>& root) {
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_map<TensorImpl*, bool> visited;
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack;  // (tensor, next input)
  stack.emplace_back(root, 0);
  visited[root.get()] = true;
  while (!stack.empty()) {
    auto& [t, next] = stack.back();
    const Node* node = t->grad_fn.get();
    if (node != nullptr && next < node->inputs.size()) {
      const std::shared_ptr<TensorImpl>& child = node->inputs[next++].impl_ptr();
      if (child != nullptr && child->requires_grad && !visited[child.get()]) {
        visited[child.get()] = true;
        stack.emplace_back(child, 0);
      }
      continue;
    }
    order.push_back(std::move(t));
    stack.pop_back();
  }
  return order;
}

// Throws when a tensor the Node needs was written in place after the Node was recorded.
void check_versions(const Node& node) {
  auto complain = [&](const std::string& which, uint64_t then, uint64_t now) {
    fail(node.name,
         "one of the variables needed for gradient computation has been modified by an in-place "
         "operation: " + which + " was at version " + std::to_string(then) + " when '" + node.name +
             "' ran forward and is at version " + std::to_string(now) + " now",
         "do in-place writes (data()/at() through a non-const tensor, set_mask, an optimizer step, "
         "load_state_dict) after backward(), or run the forward again; read through a const "
         "Tensor& to avoid counting a read as a write");
  };
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor& t = node.inputs[i];
    if (t.defined() && t.version() != node.input_versions[i]) {
      complain("input " + std::to_string(i) + " " + t.shape_str(), node.input_versions[i], t.version());
    }
  }
  for (size_t i = 0; i < node.saved.size(); ++i) {
    const SavedTensor& s = node.saved[i];
    if (s.tensor.defined() && s.tensor.version() != s.version) {
      complain("saved tensor " + std::to_string(i) + " " + s.tensor.shape_str() +
                   (i == 0 ? " (for most ops: the output)" : ""),
               s.version, s.tensor.version());
    }
  }
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& seed, bool retain_graph) {
  NIBBLE_CHECK(root.requires_grad(), "backward",
        "the tensor does not require grad, so there is nothing to differentiate",
        "call requires_grad_() on the leaves (parameters) before computing the loss");
  NoGradGuard no_grad;  // the backward pass itself is not recorded

  const std::vector<std::shared_ptr<TensorImpl>> order = topological_order(root.impl_ptr());
  // Check the whole graph before touching any gradient: a failed pass changes nothing.
  for (const auto& t : order) {
    const Node* node = t->grad_fn.get();
    if (node == nullptr) continue;
    if (node->freed) {
      fail(node->name,
           "backward through a graph that a previous backward() already freed (its saved tensors "
           "are gone)",
           "pass retain_graph = true to the first backward (loss.backward(true)) to go backward "
           "twice, or run the forward again");
    }
    check_versions(*node);
  }

  std::unordered_map<TensorImpl*, Tensor> pending;  // dL/dt summed over all uses of t so far
  pending[root.impl()] = seed;
  std::vector<Node*> ran;

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* t = it->get();
    auto found = pending.find(t);
    if (found == pending.end()) continue;  // no path from root carries gradient here
    Tensor g = std::move(found->second);
    pending.erase(found);

    Node* node = t->grad_fn.get();
    if (node == nullptr || t->retains_grad) accumulate(t->grad, g);
    if (node == nullptr) continue;

    ran.push_back(node);
    grads input_grads = node->backward(g);
    if (input_grads.size() != node->inputs.size()) {
      fail(node->name, "backward returned " + std::to_string(input_grads.size()) +
                           " gradients for " + std::to_string(node->inputs.size()) + " inputs",
           "return one gradient per input, in order (an undefined Tensor() for \"none\")");
    }
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Tensor& input = node->inputs[i];
      Tensor& gi = input_grads[i];
      if (!input.defined() || !input.requires_grad() || !gi.defined()) continue;
      if (gi.shape() != input.shape()) {
        fail(node->name, "backward returned a gradient of shape " + gi.shape_str() +
                             " for input " + std::to_string(i) + " of shape " + input.shape_str(),
             "each gradient has its input's shape (undo broadcasting with sum_to)");
      }
      auto slot = pending.find(input.impl());
      if (slot == pending.end()) {
        pending.emplace(input.impl(), std::move(gi));
      } else {
        slot->second = add(slot->second, gi);  // a tensor used twice gets both gradients
      }
    }
  }
  // Free what this pass ran through (`order` still holds every tensor, so nothing dangles).
  if (!retain_graph) {
    for (Node* node : ran) node->release();
  }
}

// ---- extension ops -------------------------------------------------------------------------------

void FunctionCtx::save_for_backward(std::vector<Tensor> tensors) {
  saved_.clear();
  for (const Tensor& t : tensors) saved_.push_back(t.defined() ? t.detach() : Tensor());
}

Tensor apply_function(std::string name, std::vector<Tensor> inputs, FunctionForward forward,
                      FunctionBackward backward) {
  NIBBLE_CHECK(forward && backward, name, "apply_function needs both a forward and a backward");
  auto ctx = std::make_shared<FunctionCtx>();
  std::vector<Tensor> detached;
  detached.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    ctx->needs_grad_.push_back(t.defined() && t.requires_grad() && grad_enabled());
    detached.push_back(t.defined() ? t.detach() : Tensor());
  }
  Tensor out;
  {
    NoGradGuard no_grad;  // the forward's own ops are not recorded: backward replaces them
    out = forward(*ctx, detached);
  }
  NIBBLE_CHECK(out.defined(), name, "forward returned an undefined tensor");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (out.impl() == detached[i].impl() || out.impl() == inputs[i].impl()) {
      fail(name,
           "forward returned input " + std::to_string(i) + " itself; the output of an op must be a "
           "new tensor, or recording it would make that input its own result",
           "return in[" + std::to_string(i) + "].clone() for an identity forward");
    }
  }
  NIBBLE_CHECK(out.is_leaf() && !out.requires_grad(), name,
        "forward returned a tensor that already requires grad (a parameter or a captured tensor?)",
        "compute a new tensor in forward; apply_function itself connects it to the inputs");
  std::vector<Tensor> saved = ctx->saved_;
  return record(name, std::move(out), std::move(inputs),
                [ctx, backward = std::move(backward)](const Tensor& g) { return backward(*ctx, g); },
                std::move(saved));
}

}  // namespace nibble
