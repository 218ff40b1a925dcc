// Internal: the [outer, n, inner] view of a tensor around one axis, shared by the reductions,
// softmax and the losses.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace nibble::detail {

struct AxisSplit {
  int64_t axis = 0;   // normalised (non-negative)
  int64_t outer = 1;  // product of the sizes before the axis
  int64_t n = 1;      // size of the axis
  int64_t inner = 1;  // product of the sizes after the axis
  Shape kept_shape;   // input shape with the axis set to 1 (keepdim=true result)
  Shape out_shape;    // input shape without the axis (keepdim=false result)
};

AxisSplit split_at_axis(const Tensor& x, int64_t axis, const char* op);

// Broadcasts a reduced gradient (out_shape or kept_shape) back over the reduced axis.
Tensor spread_back(const Tensor& g, const AxisSplit& s, const Shape& in_shape);

}  // namespace nibble::detail
