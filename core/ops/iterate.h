// Internal helpers that walk tensors element by element, shared by the op files.
// (Not part of the public API: ops.h is, and core/map.h wraps unary_map/binary_map for users.)
//
// for_each_strided visits every index of `shape` in row-major order, handing the callback the
// flat offsets of that element in several strided operands. The innermost axis runs as a plain
// loop with constant strides so the compiler can vectorise it; only the outer axes pay for index
// bookkeeping.
#pragma once

#include <array>
#include <cstdint>

#include "core/autograd.h"
#include "core/tensor.h"

namespace nibble::detail {

// NumPy broadcasting: align shapes at the right; each pair of sizes must match or one be 1.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Strides that read `t` as if it had `shape` (which t broadcasts to): 0 on broadcast axes.
Shape broadcast_strides(const Tensor& t, const Shape& shape);

// A new tensor sharing `base`'s storage with the given geometry (no autograd).
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

// dst[i] = src[i] for every index; both have the same shape, any strides.
void copy_strided(const Tensor& src, Tensor& dst);

// fn(inner_count, offsets, inner_strides): called once per run of the innermost axis, where
// offsets[k] is the flat offset (from data()) of the run's first element in operand k.
template <size_t N, typename Fn>
void for_each_run(const Shape& shape, const std::array<const Shape*, N>& strides, Fn&& fn) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  for (int64_t d : shape) {
    if (d == 0) return;
  }
  if (rank == 0) {
    std::array<int64_t, N> zero{};
    std::array<int64_t, N> unit{};
    fn(int64_t{1}, zero, unit);
    return;
  }
  std::array<int64_t, N> inner{};
  for (size_t k = 0; k < N; ++k) inner[k] = (*strides[k])[rank - 1];
  std::array<int64_t, N> offsets{};
  Shape index(rank, 0);
  const int64_t runs = numel_of(shape) / shape[rank - 1];
  for (int64_t r = 0; r < runs; ++r) {
    fn(shape[rank - 1], offsets, inner);
    // Advance the outer index like an odometer, updating each operand's offset incrementally.
    for (int64_t axis = rank - 2; axis >= 0; --axis) {
      if (++index[axis] < shape[axis]) {
        for (size_t k = 0; k < N; ++k) offsets[k] += (*strides[k])[axis];
        break;
      }
      for (size_t k = 0; k < N; ++k) offsets[k] -= (*strides[k])[axis] * (shape[axis] - 1);
      index[axis] = 0;
    }
  }
}

// out = f(a) elementwise; out is a new contiguous tensor.
template <typename F>
Tensor unary_map(const Tensor& a, F f) {
  Tensor out = Tensor::empty(a.shape());
  float* o = out.data();
  const float* x = a.data();
  if (a.is_contiguous()) {
    const int64_t n = a.numel();
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    return out;
  }
  const Shape out_strides = contiguous_strides(a.shape());
  for_each_run<2>(a.shape(), {&a.strides(), &out_strides},
                  [&](int64_t n, const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& st) {
                    for (int64_t i = 0; i < n; ++i) o[off[1] + i * st[1]] = f(x[off[0] + i * st[0]]);
                  });
  return out;
}

// out = f(a, b) elementwise with broadcasting; out is a new contiguous tensor.
template <typename F>
Tensor binary_map(const Tensor& a, const Tensor& b, const char* op, F f) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape);
  float* o = out.data();
  const float* x = a.data();
  const float* y = b.data();
  const int64_t n = out.numel();
  // Fast paths: the common cases of equal contiguous shapes and a one-element operand.
  if (a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous()) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    return out;
  }
  if (b.numel() == 1 && a.shape() == shape && a.is_contiguous()) {
    const float s = *y;
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], s);
    return out;
  }
  const Shape sa = broadcast_strides(a, shape);
  const Shape sb = broadcast_strides(b, shape);
  const Shape so = contiguous_strides(shape);
  for_each_run<3>(shape, {&sa, &sb, &so},
                  [&](int64_t len, const std::array<int64_t, 3>& off, const std::array<int64_t, 3>& st) {
                    const float* xa = x + off[0];
                    const float* yb = y + off[1];
                    float* oo = o + off[2];
                    for (int64_t i = 0; i < len; ++i) oo[i] = f(xa[i * st[0]], yb[i * st[1]]);
                  });
  return out;
}

}  // namespace nibble::detail
