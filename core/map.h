// nibble::map_elements — apply a float function to every element of one tensor, or of two tensors
// broadcast together (NumPy rules). The quickest way to write the forward of an extension op
// (core/autograd.h) or a one-off transformation in a notebook:
//
//   Tensor r = nibble::map_elements(x, [](float v) { return std::nearbyint(v); });     // x's shape
//   Tensor d = nibble::map_elements(a, b, [](float u, float v) { return u - v; });    // [4,3],[3] -> [4,3]
//
// No autograd: the result is a new contiguous tensor that is not on the tape, whatever its inputs
// require — wrap the call in apply_function to give it a backward. Inputs may be any views
// (non-contiguous, broadcast); they are only read. The two-tensor form throws nibble::Error naming
// `op` when the shapes do not broadcast. (Not called `map`: with `using namespace std;` and
// `using namespace nibble;` in a notebook, that name would clash with std::map.)
#pragma once

#include "core/ops/iterate.h"
#include "core/tensor.h"

namespace nibble {

// out[i] = fn(a[i]); fn is any callable float -> float.
template <typename Fn>
Tensor map_elements(const Tensor& a, Fn fn) {
  NIBBLE_CHECK(a.defined(), "map_elements", "the input is an undefined tensor");
  return detail::unary_map(a, fn);
}

// out[i] = fn(a[i], b[i]) after broadcasting a and b to their common shape.
template <typename Fn>
Tensor map_elements(const Tensor& a, const Tensor& b, Fn fn, const char* op = "map_elements") {
  NIBBLE_CHECK(a.defined() && b.defined(), op, "an input is an undefined tensor");
  return detail::binary_map(a, b, op, fn);
}

}  // namespace nibble
