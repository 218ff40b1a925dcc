// The backward pass: topological order by an explicit stack, then reverse accumulation.
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

Node::~Node() {
  thread_local std::vector<std::shared_ptr<Node>> orphans;  // Nodes no tensor refers to any more
  thread_local bool draining = false;
  backward = nullptr;  // drop the closure's references to the inputs first
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

Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!any_requires_grad(inputs)) return out;
  TensorImpl* impl = out.impl();
  impl->requires_grad = true;
  impl->grad_fn = std::make_shared<Node>(Node{name, std::move(inputs), std::move(backward)});
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
  const Tensor src = g.contiguous();
  const float* s = src.data();
  const int64_t n = src.numel();
  for (int64_t i = 0; i < n; ++i) dst[i] += s[i];
}

// Post-order of the graph below `root` (inputs before the ops that use them), found with an
// explicit stack so that very long chains cannot overflow the call stack.
std::vector<TensorImpl*> topological_order(TensorImpl* root) {
  std::vector<TensorImpl*> order;
  std::unordered_map<TensorImpl*, bool> visited;
  std::vector<std::pair<TensorImpl*, size_t>> stack;  // (tensor, next input to visit)
  stack.emplace_back(root, 0);
  visited[root] = true;
  while (!stack.empty()) {
    auto& [t, next] = stack.back();
    const Node* node = t->grad_fn.get();
    if (node != nullptr && next < node->inputs.size()) {
      TensorImpl* child = node->inputs[next++].impl();
      if (child != nullptr && child->requires_grad && !visited[child]) {
        visited[child] = true;
        stack.emplace_back(child, 0);
      }
      continue;
    }
    order.push_back(t);
    stack.pop_back();
  }
  return order;
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& seed) {
  NIBBLE_CHECK(root.requires_grad(), "backward",
        "the tensor does not require grad, so there is nothing to differentiate",
        "call requires_grad_() on the leaves (parameters) before computing the loss");
  NoGradGuard no_grad;  // the backward pass itself is not recorded

  const std::vector<TensorImpl*> order = topological_order(root.impl());
  std::unordered_map<TensorImpl*, Tensor> pending;  // dL/dt summed over all uses of t so far
  pending[root.impl()] = seed;

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* t = *it;
    auto found = pending.find(t);
    if (found == pending.end()) continue;  // no path from root carries gradient here
    Tensor g = std::move(found->second);
    pending.erase(found);

    const Node* node = t->grad_fn.get();
    if (node == nullptr || t->retains_grad) accumulate(t->grad, g);
    if (node == nullptr) continue;

    grads input_grads = node->backward(g);
    if (input_grads.size() != node->inputs.size()) {
      fail(node->name, "internal error: backward returned " + std::to_string(input_grads.size()) +
                           " gradients for " + std::to_string(node->inputs.size()) + " inputs");
    }
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Tensor& input = node->inputs[i];
      Tensor& gi = input_grads[i];
      if (!input.defined() || !input.requires_grad() || !gi.defined()) continue;
      if (gi.shape() != input.shape()) {
        fail(node->name, "internal error: gradient of shape " + gi.shape_str() +
                             " for an input of shape " + input.shape_str());
      }
      auto slot = pending.find(input.impl());
      if (slot == pending.end()) {
        pending.emplace(input.impl(), std::move(gi));
      } else {
        slot->second = add(slot->second, gi);  // a tensor used twice gets both gradients
      }
    }
  }
}

}  // namespace nibble
