// cat and stack: glue tensors together along an axis.
//
// cat([a [2,3], b [2,5]], axis 1) -> [2,8]: a fills columns 0..2, b columns 3..7.
// stack([a [2,3], b [2,3]], axis 0) -> [2,2,3]: a new axis; stack(ts, k) == cat(unsqueeze(t, k)).
//
// Forward copies each input into its block of the output (through a strided view of that block,
// so non-contiguous inputs need no extra copy). Backward is the reverse: each input's gradient is
// its block of the output gradient — a slice for cat, a select for stack.
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/iterate.h"

namespace nibble {

namespace {

void check_list(const std::vector<Tensor>& tensors, const char* op) {
  NIBBLE_CHECK(!tensors.empty(), op, "got an empty list of tensors", "pass at least one tensor");
  for (size_t i = 0; i < tensors.size(); ++i) {
    NIBBLE_CHECK(tensors[i].defined(), op, "tensor " + std::to_string(i) + " is undefined");
  }
}

// A view of `out` with `t`'s shape and `out`'s strides, starting `start` steps along `axis`:
// the block of the output that `t` is copied into.
Tensor block_of(const Tensor& out, const Shape& shape, int64_t axis, int64_t start) {
  return detail::make_view(out, shape, out.strides(), start * out.strides()[axis]);
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t axis) {
  check_list(tensors, "cat");
  const Shape& first = tensors[0].shape();
  NIBBLE_CHECK(!first.empty(), "cat", "cannot concatenate 0-d tensors (tensor 0 has shape [])",
        "use stack() to join scalars along a new axis");
  const int64_t a = normalize_axis(axis, static_cast<int64_t>(first.size()), "cat");
  Shape out_shape = first;
  out_shape[a] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Shape& s = tensors[i].shape();
    bool agrees = s.size() == first.size();
    for (size_t d = 0; agrees && d < s.size(); ++d) {
      agrees = static_cast<int64_t>(d) == a || s[d] == first[d];
    }
    NIBBLE_CHECK(agrees, "cat",
          "tensor " + std::to_string(i) + " has shape " + shape_str(s) + " but tensor 0 has shape " +
              shape_str(first) + "; shapes must agree except on axis " + std::to_string(a));
    out_shape[a] += s[a];
  }

  Tensor out = Tensor::empty(out_shape);
  std::vector<int64_t> starts;  // where each input begins along the axis
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    starts.push_back(start);
    Tensor block = block_of(out, t.shape(), a, start);
    detail::copy_strided(t, block);
    start += t.shape()[a];
  }

  // Each input's gradient is its slice of g.
  return record("cat", out, tensors, [tensors, starts, a](const Tensor& g) {
    grads result(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (!tensors[i].requires_grad()) continue;
      result[i] = g.slice(a, starts[i], starts[i] + tensors[i].shape()[a]);
    }
    return result;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t axis) {
  check_list(tensors, "stack");
  const Shape& first = tensors[0].shape();
  // The new axis may go anywhere from before the first to after the last: rank + 1 places.
  const int64_t a = normalize_axis(axis, static_cast<int64_t>(first.size()) + 1, "stack");
  for (size_t i = 1; i < tensors.size(); ++i) {
    NIBBLE_CHECK(tensors[i].shape() == first, "stack",
          "tensor " + std::to_string(i) + " has shape " + tensors[i].shape_str() +
              " but tensor 0 has shape " + shape_str(first) + "; stack needs equal shapes");
  }
  Shape out_shape = first;
  out_shape.insert(out_shape.begin() + a, static_cast<int64_t>(tensors.size()));

  Tensor out = Tensor::empty(out_shape);
  // Input i is the slab out[..., i, ...]: out's strides with the new axis left out.
  Shape slab_strides = out.strides();
  slab_strides.erase(slab_strides.begin() + a);
  for (size_t i = 0; i < tensors.size(); ++i) {
    Tensor slab = detail::make_view(out, first, slab_strides, static_cast<int64_t>(i) * out.strides()[a]);
    detail::copy_strided(tensors[i], slab);
  }

  // Each input's gradient is its slab of g (g.select drops the stacked axis again).
  return record("stack", out, tensors, [tensors, a](const Tensor& g) {
    grads result(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (tensors[i].requires_grad()) result[i] = g.select(a, static_cast<int64_t>(i));
    }
    return result;
  });
}

}  // namespace nibble
