// Sorting and selection along one axis: sort, argsort, topk, kthvalue.
//
// We view the input as [outer, n, inner] (core/ops/reduce_util.h); each (i, j) pair is one lane of
// n values along the axis. A lane is ordered by sorting the index array 0..n-1, and equal values
// keep their index order (deterministic ties). sort uses std::stable_sort, O(n log n). topk and
// kthvalue need only a prefix or one position: std::partial_sort (O(n log k)) and std::nth_element
// (O(n) on average), which are not stable, so their comparison breaks ties by index explicitly —
// that makes the order total, and both give exactly the positions the stable sort would.
// Order: NaN sits above +inf (NumPy/PyTorch), so it is last ascending and first descending.
//
// Picking values by position is linear, d values[r] / d x[index[r]] = 1, so the backward scatters
// the upstream gradient g back to the chosen positions; every other position gets 0.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/reduce_util.h"

namespace nibble {

using detail::AxisSplit;
using detail::split_at_axis;

namespace {

// Strict weak orders with NaN above everything; all NaNs are equivalent (they keep index order).
bool ascending_before(float u, float v) { return !std::isnan(u) && (std::isnan(v) || u < v); }
bool descending_before(float u, float v) { return !std::isnan(v) && (std::isnan(u) || u > v); }

// Puts the positions [first, first + count) of the stable order of `lane` into order[first ...].
void order_positions(const std::vector<float>& lane, std::vector<int64_t>& order, int64_t first,
                     int64_t count, bool descending) {
  auto before = [&](int64_t u, int64_t v) {
    return descending ? descending_before(lane[u], lane[v]) : ascending_before(lane[u], lane[v]);
  };
  auto before_or_lower_index = [&](int64_t u, int64_t v) {
    return before(u, v) || (!before(v, u) && u < v);
  };
  std::iota(order.begin(), order.end(), int64_t{0});
  const int64_t n = static_cast<int64_t>(order.size());
  if (first == 0 && count == n) {
    std::stable_sort(order.begin(), order.end(), before);
  } else if (count == 1) {
    std::nth_element(order.begin(), order.begin() + first, order.end(), before_or_lower_index);
  } else {
    std::partial_sort(order.begin(), order.begin() + first + count, order.end(),
                      before_or_lower_index);
  }
}

// Positions [first, first + count) of every lane's stable order, as a differentiable op.
// values: out_shape, row-major [outer, count, inner]; indices: the same layout.
ValuesAndIndices pick_in_order(const Tensor& a, const AxisSplit& s, int64_t first, int64_t count,
                               bool descending, const Shape& out_shape, const char* op) {
  const Tensor x = a.detach().contiguous();  // detached: reading values must not touch the tape
  const float* in = x.data();
  ValuesAndIndices result{Tensor::empty(out_shape),
                          std::vector<int64_t>(s.outer * count * s.inner)};
  float* values = result.values.data();
  std::vector<float> lane(s.n);
  std::vector<int64_t> order(s.n);
  for (int64_t i = 0; i < s.outer; ++i) {
    for (int64_t j = 0; j < s.inner; ++j) {
      for (int64_t k = 0; k < s.n; ++k) lane[k] = in[(i * s.n + k) * s.inner + j];
      order_positions(lane, order, first, count, descending);
      for (int64_t r = 0; r < count; ++r) {
        const int64_t p = (i * count + r) * s.inner + j;
        result.indices[p] = order[first + r];
        values[p] = lane[order[first + r]];
      }
    }
  }
  const Shape in_shape = a.shape();
  // dx[i, index[i, r, j], j] += g[i, r, j]   (g has out_shape, laid out as [outer, count, inner])
  auto scatter_back = [s, count, in_shape, index = result.indices](const Tensor& g) {
    Tensor dx = Tensor::zeros(in_shape);
    const Tensor gc = g.contiguous();
    const float* gp = gc.data();
    float* d = dx.data();
    for (int64_t i = 0; i < s.outer; ++i) {
      for (int64_t r = 0; r < count; ++r) {
        for (int64_t j = 0; j < s.inner; ++j) {
          const int64_t p = (i * count + r) * s.inner + j;
          d[(i * s.n + index[p]) * s.inner + j] += gp[p];
        }
      }
    }
    return grads{dx};
  };
  result.values = record(op, result.values, {a}, scatter_back);
  return result;
}

}  // namespace

ValuesAndIndices sort(const Tensor& a, int64_t axis, bool descending) {
  const AxisSplit s = split_at_axis(a, axis, "sort");
  return pick_in_order(a, s, 0, s.n, descending, a.shape(), "sort");
}

std::vector<int64_t> argsort(const Tensor& a, int64_t axis, bool descending) {
  const AxisSplit s = split_at_axis(a, axis, "argsort");
  return pick_in_order(a.detach(), s, 0, s.n, descending, a.shape(), "argsort").indices;
}

ValuesAndIndices topk(const Tensor& a, int64_t k, int64_t axis, bool largest) {
  const AxisSplit s = split_at_axis(a, axis, "topk");
  NIBBLE_CHECK(k >= 0 && k <= s.n, "topk",
               "k = " + std::to_string(k) + " is out of range for axis " + std::to_string(axis) +
                   " of shape " + a.shape_str(),
               "k must be between 0 and the axis size " + std::to_string(s.n));
  Shape out_shape = a.shape();
  out_shape[s.axis] = k;
  return pick_in_order(a, s, 0, k, /*descending=*/largest, out_shape, "topk");
}

ValuesAndIndices kthvalue(const Tensor& a, int64_t k, int64_t axis, bool keepdim) {
  const AxisSplit s = split_at_axis(a, axis, "kthvalue");
  NIBBLE_CHECK(k >= 1 && k <= s.n, "kthvalue",
               "k = " + std::to_string(k) + " is out of range for axis " + std::to_string(axis) +
                   " of shape " + a.shape_str(),
               "k is 1-based like torch.kthvalue: 1 is the smallest, " + std::to_string(s.n) +
                   " the largest");
  return pick_in_order(a, s, k - 1, 1, /*descending=*/false, keepdim ? s.kept_shape : s.out_shape,
                       "kthvalue");
}

}  // namespace nibble
