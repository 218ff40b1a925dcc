// Reductions: sum, mean, max, min, var, argmax, norm — over all elements or along one axis — and
// the running sum cumsum.
// Along an axis we view the (contiguous) input as [outer, n, inner] and reduce the middle axis;
// the innermost loop runs over `inner`, which is contiguous, so it vectorises.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/iterate.h"
#include "core/ops/reduce_util.h"

namespace nibble {

namespace detail {

AxisSplit split_at_axis(const Tensor& x, int64_t axis, const char* op) {
  NIBBLE_CHECK(x.defined(), op, "argument is an undefined tensor");
  AxisSplit s;
  s.axis = normalize_axis(axis, x.dim(), op);
  for (int64_t i = 0; i < s.axis; ++i) s.outer *= x.shape()[i];
  s.n = x.shape()[s.axis];
  for (int64_t i = s.axis + 1; i < x.dim(); ++i) s.inner *= x.shape()[i];
  s.kept_shape = x.shape();
  s.kept_shape[s.axis] = 1;
  s.out_shape = x.shape();
  s.out_shape.erase(s.out_shape.begin() + s.axis);
  return s;
}

Tensor spread_back(const Tensor& g, const AxisSplit& s, const Shape& in_shape) {
  return g.reshape(s.kept_shape).expand(in_shape).contiguous();
}

}  // namespace detail

using detail::AxisSplit;
using detail::split_at_axis;

// ---- sum and mean --------------------------------------------------------------------------------

Tensor sum(const Tensor& a) {
  NIBBLE_CHECK(a.defined(), "sum", "argument is an undefined tensor");
  const Tensor x = a.contiguous();
  double total = 0.0;  // double accumulation: summing 1e6 floats in float loses digits
  const float* p = x.data();
  for (int64_t i = 0; i < x.numel(); ++i) total += p[i];
  Tensor out = Tensor::scalar(static_cast<float>(total));
  const Shape in_shape = a.shape();
  // d(sum x)/dx_i = 1: every input element receives the upstream gradient.
  return record("sum", out, {a}, [in_shape](const Tensor& g) {
    return grads{Tensor::full(in_shape, g.item())};
  });
}

Tensor sum(const Tensor& a, int64_t axis, bool keepdim) {
  const AxisSplit s = split_at_axis(a, axis, "sum");
  const Tensor x = a.contiguous();
  Tensor out = Tensor::zeros(keepdim ? s.kept_shape : s.out_shape);
  const float* in = x.data();
  float* o = out.data();
  for (int64_t i = 0; i < s.outer; ++i) {
    for (int64_t k = 0; k < s.n; ++k) {
      const float* row = in + (i * s.n + k) * s.inner;
      float* acc = o + i * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) acc[j] += row[j];
    }
  }
  const Shape in_shape = a.shape();
  return record("sum_axis", out, {a}, [s, in_shape](const Tensor& g) {
    return grads{detail::spread_back(g, s, in_shape)};
  });
}

Tensor mean(const Tensor& a) {
  NIBBLE_CHECK(a.defined(), "mean", "argument is an undefined tensor");
  NIBBLE_CHECK(a.numel() > 0, "mean", "mean of an empty tensor of shape " + a.shape_str() + " is undefined");
  return mul(sum(a), 1.0f / static_cast<float>(a.numel()));
}

Tensor mean(const Tensor& a, int64_t axis, bool keepdim) {
  const AxisSplit s = split_at_axis(a, axis, "mean");
  NIBBLE_CHECK(s.n > 0, "mean", "axis " + std::to_string(axis) + " of shape " + a.shape_str() + " is empty");
  return mul(sum(a, axis, keepdim), 1.0f / static_cast<float>(s.n));
}

// ---- max, min and argmax -------------------------------------------------------------------------
// Forward remembers *which* element won; backward routes the upstream gradient to exactly that
// element (all others get 0), because max is locally just "pick element k".

namespace {

// The values we read: a detached, row-major copy (or the tensor itself if already row-major).
// Detaching first keeps contiguous() from recording a useless "clone" node on the tape.
Tensor row_major_values(const Tensor& a) { return a.detach().contiguous(); }

// NaN wins every comparison, so a NaN anywhere shows up in the result (as in NumPy/PyTorch)
// instead of being silently skipped — a diverged training run should look diverged.
bool greater_or_nan(float v, float best) { return v > best || (std::isnan(v) && !std::isnan(best)); }
bool less_or_nan(float v, float best) { return v < best || (std::isnan(v) && !std::isnan(best)); }

// The winner along one axis for each of the outer*inner output positions.
struct AxisPick {
  Tensor values;                // [outer * inner] values, already shaped as the op's output
  std::vector<int64_t> index;   // [outer * inner] position k (along the axis) of each winner
};

// Scans x (row-major) as [outer, n, inner]. `beats(v, best)` is strict, so on ties the first
// index keeps the win. The innermost loop runs over contiguous `inner` columns.
template <typename Beats>
AxisPick pick_along_axis(const Tensor& x, const AxisSplit& s, const Shape& out_shape, Beats beats) {
  AxisPick pick{Tensor::empty(out_shape), std::vector<int64_t>(s.outer * s.inner, 0)};
  const float* in = x.data();
  float* best = pick.values.data();
  for (int64_t i = 0; i < s.outer; ++i) {
    float* best_row = best + i * s.inner;
    int64_t* index_row = pick.index.data() + i * s.inner;
    const float* first = in + i * s.n * s.inner;
    for (int64_t j = 0; j < s.inner; ++j) best_row[j] = first[j];  // k = 0 starts as the winner
    for (int64_t k = 1; k < s.n; ++k) {
      const float* row = first + k * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) {
        if (beats(row[j], best_row[j])) {
          best_row[j] = row[j];
          index_row[j] = k;
        }
      }
    }
  }
  return pick;
}

// max/min along an axis: forward picks, backward scatters g[i, j] into position [i, index, j].
template <typename Beats>
Tensor extreme_along_axis(const Tensor& a, int64_t axis, bool keepdim, const char* op, Beats beats) {
  const AxisSplit s = split_at_axis(a, axis, op);
  NIBBLE_CHECK(s.n > 0, op, "axis " + std::to_string(axis) + " of shape " + a.shape_str() + " is empty",
        "a maximum or minimum needs at least one element");
  AxisPick pick = pick_along_axis(row_major_values(a), s, keepdim ? s.kept_shape : s.out_shape, beats);
  const Shape in_shape = a.shape();
  return record(op, pick.values, {a}, [s, in_shape, index = std::move(pick.index)](const Tensor& g) {
    Tensor dx = Tensor::zeros(in_shape);  // [outer, n, inner]
    const Tensor gc = g.contiguous();     // [outer, inner]
    const float* gp = gc.data();
    float* d = dx.data();
    for (int64_t i = 0; i < s.outer; ++i) {
      for (int64_t j = 0; j < s.inner; ++j) {
        const int64_t p = i * s.inner + j;
        d[(i * s.n + index[p]) * s.inner + j] = gp[p];
      }
    }
    return grads{dx};
  });
}

}  // namespace

Tensor max(const Tensor& a) {
  NIBBLE_CHECK(a.defined(), "max", "argument is an undefined tensor");
  NIBBLE_CHECK(a.numel() > 0, "max", "max of an empty tensor of shape " + a.shape_str() + " is undefined");
  const Tensor x = row_major_values(a);
  const float* p = x.data();
  float best = p[0];
  for (int64_t i = 1; i < x.numel(); ++i) {
    if (greater_or_nan(p[i], best)) best = p[i];
  }
  // Every element equal to the maximum is a winner. max is not differentiable at a tie; we take
  // the symmetric choice (like torch.max() without an axis): each tied winner gets g / count.
  std::vector<int64_t> winners;  // flat row-major positions
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (p[i] == best) winners.push_back(i);
  }
  Tensor out = Tensor::scalar(best);
  const Shape in_shape = a.shape();
  return record("max", out, {a}, [in_shape, winners = std::move(winners)](const Tensor& g) {
    Tensor dx = Tensor::zeros(in_shape);
    // (winners is empty only when the maximum is NaN: then no element gets a gradient.)
    const float share = winners.empty() ? 0.0f : g.item() / static_cast<float>(winners.size());
    for (int64_t i : winners) dx.data()[i] = share;
    return grads{dx};
  });
}

Tensor max(const Tensor& a, int64_t axis, bool keepdim) {
  return extreme_along_axis(a, axis, keepdim, "max", greater_or_nan);
}

Tensor min(const Tensor& a, int64_t axis, bool keepdim) {
  return extreme_along_axis(a, axis, keepdim, "min", less_or_nan);
}

std::vector<int64_t> argmax(const Tensor& a, int64_t axis) {
  const AxisSplit s = split_at_axis(a, axis, "argmax");
  NIBBLE_CHECK(s.n > 0, "argmax", "axis " + std::to_string(axis) + " of shape " + a.shape_str() + " is empty");
  // Output position p = i * inner + j is exactly row-major order over the remaining axes.
  return pick_along_axis(row_major_values(a), s, s.out_shape, greater_or_nan).index;
}

// ---- variance --------------------------------------------------------------------------------------
// var = sum_k (x_k - mean)^2 / (n - ddof),   ddof = 1 (Bessel's correction) when unbiased.
// Two passes (mean first, then squared deviations) in double: the one-pass formula
// E[x^2] - E[x]^2 cancels catastrophically when the mean is large compared to the spread.
// d var / d x_k = 2 (x_k - mean) / (n - ddof)   (the terms through the mean sum to zero).

namespace {

int64_t var_denominator(int64_t n, bool unbiased, const std::string& where) {
  const int64_t denom = n - (unbiased ? 1 : 0);
  NIBBLE_CHECK(denom > 0, "var",
        "n - ddof = " + std::to_string(denom) + " <= 0 for " + where + " (unbiased=" +
            (unbiased ? "true" : "false") + ")",
        "the unbiased variance needs at least 2 elements; use unbiased=false or more data");
  return denom;
}

}  // namespace

Tensor var(const Tensor& a, bool unbiased) {
  NIBBLE_CHECK(a.defined(), "var", "argument is an undefined tensor");
  const int64_t n = a.numel();
  const double denom = static_cast<double>(var_denominator(n, unbiased, "shape " + a.shape_str()));
  const Tensor x = row_major_values(a);
  const float* p = x.data();
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += p[i];
  const double mu = total / static_cast<double>(n);
  double squares = 0.0;
  for (int64_t i = 0; i < n; ++i) squares += (p[i] - mu) * (p[i] - mu);
  Tensor out = Tensor::scalar(static_cast<float>(squares / denom));
  const Shape in_shape = a.shape();
  return record("var", out, {a}, [x, mu, denom, in_shape](const Tensor& g) {
    Tensor dx = Tensor::empty(in_shape);
    const float* xp = x.data();
    float* d = dx.data();
    const double scale = 2.0 * g.item() / denom;
    for (int64_t i = 0; i < dx.numel(); ++i) d[i] = static_cast<float>(scale * (xp[i] - mu));
    return grads{dx};
  });
}

Tensor var(const Tensor& a, int64_t axis, bool keepdim, bool unbiased) {
  const AxisSplit s = split_at_axis(a, axis, "var");
  const double denom = static_cast<double>(
      var_denominator(s.n, unbiased, "axis " + std::to_string(axis) + " of shape " + a.shape_str()));
  const Tensor x = row_major_values(a);
  const float* in = x.data();
  Tensor out = Tensor::empty(keepdim ? s.kept_shape : s.out_shape);
  Tensor mean_t = Tensor::empty(s.kept_shape);  // kept for the backward
  float* o = out.data();
  float* m = mean_t.data();
  std::vector<double> mu(s.inner), squares(s.inner);  // one accumulator per inner column
  for (int64_t i = 0; i < s.outer; ++i) {
    const float* block = in + i * s.n * s.inner;  // [n, inner]
    std::fill(mu.begin(), mu.end(), 0.0);
    for (int64_t k = 0; k < s.n; ++k) {
      for (int64_t j = 0; j < s.inner; ++j) mu[j] += block[k * s.inner + j];
    }
    for (int64_t j = 0; j < s.inner; ++j) mu[j] /= static_cast<double>(s.n);
    std::fill(squares.begin(), squares.end(), 0.0);
    for (int64_t k = 0; k < s.n; ++k) {
      for (int64_t j = 0; j < s.inner; ++j) {
        const double dev = block[k * s.inner + j] - mu[j];
        squares[j] += dev * dev;
      }
    }
    for (int64_t j = 0; j < s.inner; ++j) {
      o[i * s.inner + j] = static_cast<float>(squares[j] / denom);
      m[i * s.inner + j] = static_cast<float>(mu[j]);
    }
  }
  const Shape in_shape = a.shape();
  return record("var_axis", out, {a}, [x, mean_t, s, denom, in_shape](const Tensor& g) {
    Tensor dx = Tensor::empty(in_shape);  // [outer, n, inner]
    const Tensor gc = g.contiguous();     // [outer, inner]
    const float* xp = x.data();
    const float* mp = mean_t.data();
    const float* gp = gc.data();
    float* d = dx.data();
    const float two_over_denom = static_cast<float>(2.0 / denom);
    for (int64_t i = 0; i < s.outer; ++i) {
      for (int64_t k = 0; k < s.n; ++k) {
        const int64_t row = (i * s.n + k) * s.inner;
        for (int64_t j = 0; j < s.inner; ++j) {
          const int64_t p = i * s.inner + j;
          d[row + j] = two_over_denom * gp[p] * (xp[row + j] - mp[p]);
        }
      }
    }
    return grads{dx};
  });
}

// ---- norm ---------------------------------------------------------------------------------------
// L1: sum_k |x_k|, built from abs and sum, so its gradient is sign(x) (0 at 0) with no extra code.
// L2: sqrt(sum_k x_k^2) as one op (squares summed in double). Composing sqrt(sum(x*x)) would give
// the gradient 0.5/sqrt(0) * 0 = inf * 0 = NaN at x = 0; the fused backward defines it as 0 there:
//   d ||x|| / d x_k = x_k / ||x||     (0 when ||x|| = 0)

namespace {

void check_norm_order(float p) {
  NIBBLE_CHECK(p == 1.0f || p == 2.0f, "norm", "p = " + std::to_string(p) + " is not supported",
               "use p = 1 (sum of |x|) or p = 2 (Euclidean length)");
}

}  // namespace

Tensor norm(const Tensor& a, float p) {
  NIBBLE_CHECK(a.defined(), "norm", "argument is an undefined tensor");
  // The whole tensor is one lane: the norm of the flattened tensor along its only axis.
  return norm(a.reshape({a.numel()}), p, 0, false);
}

Tensor norm(const Tensor& a, float p, int64_t axis, bool keepdim) {
  check_norm_order(p);
  const AxisSplit s = split_at_axis(a, axis, "norm");
  if (p == 1.0f) return sum(abs(a), axis, keepdim);
  const Tensor x = row_major_values(a);  // [outer, n, inner]
  const float* in = x.data();
  Tensor out = Tensor::empty(keepdim ? s.kept_shape : s.out_shape);  // [outer, inner]
  float* o = out.data();
  std::vector<double> squares(s.inner);
  for (int64_t i = 0; i < s.outer; ++i) {
    std::fill(squares.begin(), squares.end(), 0.0);
    for (int64_t k = 0; k < s.n; ++k) {
      const float* row = in + (i * s.n + k) * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) squares[j] += static_cast<double>(row[j]) * row[j];
    }
    for (int64_t j = 0; j < s.inner; ++j) {
      o[i * s.inner + j] = static_cast<float>(std::sqrt(squares[j]));
    }
  }
  const Tensor length = out.detach();
  const Shape in_shape = a.shape();
  return record("norm", out, {a}, [x, length, s, in_shape](const Tensor& g) {
    Tensor dx = Tensor::empty(in_shape);  // [outer, n, inner]
    const Tensor gc = g.contiguous();     // [outer, inner]
    const float* xp = x.data();
    const float* lp = length.data();
    const float* gp = gc.data();
    float* d = dx.data();
    for (int64_t i = 0; i < s.outer; ++i) {
      for (int64_t k = 0; k < s.n; ++k) {
        const int64_t row = (i * s.n + k) * s.inner;
        for (int64_t j = 0; j < s.inner; ++j) {
          const int64_t lane = i * s.inner + j;
          d[row + j] = lp[lane] == 0.0f ? 0.0f : gp[lane] * xp[row + j] / lp[lane];
        }
      }
    }
    return grads{dx};
  });
}

// ---- cumsum -------------------------------------------------------------------------------------
// y_k = sum_{l <= k} x_l along the axis. Each x_l feeds every y_k with k >= l, so
//   dx_l = sum_{k >= l} g_k      — the running sum of g taken from the end of the axis.

namespace {

// Running sums of row-major x ([outer, n, inner]) along the middle axis, from the front or from the
// back, accumulated in double (one accumulator per inner column).
Tensor running_sum(const Tensor& x, const AxisSplit& s, bool from_back) {
  Tensor out = Tensor::empty(x.shape());
  const float* in = x.data();
  float* o = out.data();
  std::vector<double> acc(s.inner);
  for (int64_t i = 0; i < s.outer; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t step = 0; step < s.n; ++step) {
      const int64_t k = from_back ? s.n - 1 - step : step;
      const int64_t row = (i * s.n + k) * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) {
        acc[j] += in[row + j];
        o[row + j] = static_cast<float>(acc[j]);
      }
    }
  }
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& a, int64_t axis) {
  const AxisSplit s = split_at_axis(a, axis, "cumsum");
  Tensor out = running_sum(row_major_values(a), s, /*from_back=*/false);
  return record("cumsum", out, {a}, [s](const Tensor& g) {
    return grads{running_sum(g.detach().contiguous(), s, /*from_back=*/true)};
  });
}

}  // namespace nibble
