// Views and copies: reshape, transpose, permute, slice, expand ... Each returns a tensor that
// shares storage with its input (except contiguous()/clone() copies), and each is differentiable:
// the backward pass maps the gradient back to the input's geometry.
#include <algorithm>
#include <numeric>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/iterate.h"

namespace nibble {

namespace detail {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      fail(op, "shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast",
           "aligned from the right, each pair of sizes must be equal or one of them 1");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  const size_t lead = shape.size() - t.shape().size();
  Shape strides(shape.size(), 0);
  for (size_t i = 0; i < t.shape().size(); ++i) {
    strides[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  }
  return strides;
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  return Tensor(std::move(impl));
}

void copy_strided(const Tensor& src, Tensor& dst) {
  const float* s = src.data();
  float* d = dst.data();
  for_each_run<2>(src.shape(), {&src.strides(), &dst.strides()},
                  [&](int64_t n, const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& st) {
                    for (int64_t i = 0; i < n; ++i) d[off[1] + i * st[1]] = s[off[0] + i * st[0]];
                  });
}

}  // namespace detail

using detail::make_view;

namespace {

// Resolves one -1 in a requested shape and checks the element count.
Shape infer_shape(const Shape& requested, int64_t numel, const char* op, const Shape& from) {
  Shape shape = requested;
  int64_t known = 1;
  int64_t infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      NIBBLE_CHECK(infer_at < 0, op, "only one dimension can be -1, got " + shape_str(requested));
      infer_at = static_cast<int64_t>(i);
    } else {
      NIBBLE_CHECK(shape[i] >= 0, op, "invalid dimension in " + shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    NIBBLE_CHECK(known != 0 && numel % known == 0, op,
          "cannot reshape " + shape_str(from) + " into " + shape_str(requested));
    shape[infer_at] = numel / known;
  }
  NIBBLE_CHECK(numel_of(shape) == numel, op,
        "cannot reshape " + shape_str(from) + " (" + std::to_string(numel) + " elements) into " +
            shape_str(requested) + " (" + std::to_string(numel_of(shape)) + " elements)");
  return shape;
}

// Shared by reshape and view once the target is known to be a view of a contiguous input.
Tensor reshape_view(const Tensor& x, const Shape& shape, const char* op) {
  Tensor out = make_view(x, shape, contiguous_strides(shape), x.impl()->offset);
  const Shape in_shape = x.shape();
  return record(op, out, {x}, [in_shape](const Tensor& g) { return grads{g.reshape(in_shape)}; });
}

}  // namespace

Tensor Tensor::reshape(const Shape& shape) const {
  const Shape target = infer_shape(shape, numel(), "reshape", this->shape());
  return reshape_view(contiguous(), target, "reshape");
}

Tensor Tensor::view(const Shape& shape) const {
  const Shape target = infer_shape(shape, numel(), "view", this->shape());
  NIBBLE_CHECK(is_contiguous(), "view", "tensor of shape " + shape_str() + " is not contiguous",
        "use reshape() (which copies when needed) or call contiguous() first");
  return reshape_view(*this, target, "view");
}

Tensor Tensor::flatten(int64_t start_axis, int64_t end_axis) const {
  if (dim() == 0) return reshape({1});
  const int64_t s = normalize_axis(start_axis, dim(), "flatten");
  const int64_t e = normalize_axis(end_axis, dim(), "flatten");
  NIBBLE_CHECK(s <= e, "flatten", "start_axis comes after end_axis");
  Shape target(shape().begin(), shape().begin() + s);
  target.push_back(numel_of(Shape(shape().begin() + s, shape().begin() + e + 1)));
  target.insert(target.end(), shape().begin() + e + 1, shape().end());
  return reshape(target);
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  NIBBLE_CHECK(static_cast<int64_t>(order.size()) == dim(), "permute",
        "order " + nibble::shape_str(order) + " does not match rank of shape " + shape_str());
  std::vector<int64_t> axes(order.size());
  std::vector<bool> seen(order.size(), false);
  for (size_t i = 0; i < order.size(); ++i) {
    axes[i] = normalize_axis(order[i], dim(), "permute");
    NIBBLE_CHECK(!seen[axes[i]], "permute", "axis repeated in order " + nibble::shape_str(order));
    seen[axes[i]] = true;
  }
  Shape new_shape(axes.size()), new_strides(axes.size());
  std::vector<int64_t> inverse(axes.size());
  for (size_t i = 0; i < axes.size(); ++i) {
    new_shape[i] = shape()[axes[i]];
    new_strides[i] = strides()[axes[i]];
    inverse[axes[i]] = static_cast<int64_t>(i);
  }
  Tensor out = make_view(*this, new_shape, new_strides, impl()->offset);
  return record("permute", out, {*this}, [inverse](const Tensor& g) { return grads{g.permute(inverse)}; });
}

Tensor Tensor::transpose(int64_t axis0, int64_t axis1) const {
  NIBBLE_CHECK(dim() >= 1, "transpose", "needs at least a 1-d tensor, got shape " + shape_str());
  std::vector<int64_t> order(dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[normalize_axis(axis0, dim(), "transpose")],
            order[normalize_axis(axis1, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  const int64_t a = normalize_axis(axis, dim(), "slice");
  const int64_t n = shape()[a];
  NIBBLE_CHECK(step > 0, "slice", "step must be positive, got " + std::to_string(step));
  // Python-style clamping: negative counts from the end, out-of-range ends are clipped.
  auto clip = [n](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t{0}, n); };
  const int64_t s = clip(start);
  const int64_t e = std::max(clip(end), s);
  Shape new_shape = shape();
  new_shape[a] = (e - s + step - 1) / step;
  Shape new_strides = strides();
  new_strides[a] *= step;
  Tensor out = make_view(*this, new_shape, new_strides, impl()->offset + s * strides()[a]);
  const Shape in_shape = shape();
  return record("slice", out, {*this}, [in_shape, a, s, e, step](const Tensor& g) {
    // The gradient is zero outside the slice; inside it is g.
    Tensor gx = Tensor::zeros(in_shape);
    Tensor window = gx.slice(a, s, e, step);
    detail::copy_strided(g, window);
    return grads{gx};
  });
}

Tensor Tensor::select(int64_t axis, int64_t index) const {
  const int64_t a = normalize_axis(axis, dim(), "select");
  const int64_t n = shape()[a];
  NIBBLE_CHECK(index >= -n && index < n, "select",
        "index " + std::to_string(index) + " out of range for axis " + std::to_string(a) +
            " of shape " + shape_str());
  const int64_t i = index < 0 ? index + n : index;
  return slice(a, i, i + 1).squeeze(a);
}

Tensor Tensor::unsqueeze(int64_t axis) const {
  const int64_t a = normalize_axis(axis, dim() + 1, "unsqueeze");
  Shape s = shape();
  s.insert(s.begin() + a, 1);
  return reshape(s);
}

Tensor Tensor::squeeze(int64_t axis) const {
  const int64_t a = normalize_axis(axis, dim(), "squeeze");
  NIBBLE_CHECK(shape()[a] == 1, "squeeze",
        "axis " + std::to_string(axis) + " has size " + std::to_string(shape()[a]) + ", not 1");
  Shape s = shape();
  s.erase(s.begin() + a);
  return reshape(s);
}

Tensor Tensor::expand(const Shape& shape) const {
  const Shape target = detail::broadcast_shapes(this->shape(), shape, "expand");
  NIBBLE_CHECK(target == shape, "expand", "cannot expand " + shape_str() + " to " + nibble::shape_str(shape));
  Tensor out = make_view(*this, shape, detail::broadcast_strides(*this, shape), impl()->offset);
  const Shape in_shape = this->shape();
  return record("expand", out, {*this}, [in_shape](const Tensor& g) { return grads{sum_to(g, in_shape)}; });
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape());
  detail::copy_strided(*this, out);
  return record("clone", out, {*this}, [](const Tensor& g) { return grads{g}; });
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), impl()->offset); }

}  // namespace nibble
