// softmax and log_softmax along one axis, each one fused op with an analytic backward.
//
// We view the input as [outer, n, inner] (core/ops/reduce_util.h) and normalise over the middle
// axis. For each outer block the loops run k over n and j over the contiguous inner columns, with
// one scratch value per column (the column max, then the column sum).
//
// Stability: softmax(x) = softmax(x - m) for any constant m. With m = max_k x_k every exponent
// is <= 0, so exp() cannot overflow, and the largest term is exactly exp(0) = 1, so the sum is
// >= 1 and its log cannot be -inf. Logits of 1e4 therefore give finite results.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/reduce_util.h"

namespace nibble {

using detail::AxisSplit;
using detail::split_at_axis;

namespace {

// Shared forward: for each (i, j) column, writes e_k = exp(x_k - m) into `out` and returns, per
// column, the max m and the sum S = sum_k e_k (the log-sum-exp is m + log S).
// x and out are row-major [outer, n, inner].
struct ColumnStats {
  std::vector<float> max;   // [outer * inner]
  std::vector<double> sum;  // [outer * inner]; double so a 50 000-class row sums accurately
};

ColumnStats exp_shifted(const float* x, float* out, const AxisSplit& s) {
  ColumnStats st{std::vector<float>(s.outer * s.inner, -std::numeric_limits<float>::infinity()),
                 std::vector<double>(s.outer * s.inner, 0.0)};
  for (int64_t i = 0; i < s.outer; ++i) {
    const float* xb = x + i * s.n * s.inner;  // [n, inner] block
    float* ob = out + i * s.n * s.inner;
    float* m = st.max.data() + i * s.inner;
    double* total = st.sum.data() + i * s.inner;
    for (int64_t k = 0; k < s.n; ++k) {
      for (int64_t j = 0; j < s.inner; ++j) m[j] = std::max(m[j], xb[k * s.inner + j]);
    }
    for (int64_t k = 0; k < s.n; ++k) {
      for (int64_t j = 0; j < s.inner; ++j) {
        const float e = std::exp(xb[k * s.inner + j] - m[j]);
        ob[k * s.inner + j] = e;
        total[j] += e;
      }
    }
  }
  return st;
}

// sum_k a_k * b_k (or sum_k a_k when b is null) for every (i, j) column.
std::vector<float> column_sums(const float* a, const float* b, const AxisSplit& s) {
  std::vector<float> total(s.outer * s.inner, 0.0f);
  for (int64_t i = 0; i < s.outer; ++i) {
    float* t = total.data() + i * s.inner;
    for (int64_t k = 0; k < s.n; ++k) {
      const int64_t row = (i * s.n + k) * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) t[j] += a[row + j] * (b ? b[row + j] : 1.0f);
    }
  }
  return total;
}

}  // namespace

// y_k = exp(x_k - m) / sum_l exp(x_l - m)
// Backward, from the Jacobian dy_l/dx_k = y_l (delta_lk - y_k):
//   dx_k = sum_l g_l y_l (delta_lk - y_k) = y_k (g_k - sum_l g_l y_l)
Tensor softmax(const Tensor& a, int64_t axis) {
  const AxisSplit s = split_at_axis(a, axis, "softmax");
  const Tensor x = a.detach().contiguous();
  Tensor out = Tensor::empty(a.shape());
  float* y = out.data();
  const ColumnStats st = exp_shifted(x.data(), y, s);
  for (int64_t i = 0; i < s.outer; ++i) {
    for (int64_t k = 0; k < s.n; ++k) {
      float* row = y + (i * s.n + k) * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) {
        row[j] = static_cast<float>(row[j] / st.sum[i * s.inner + j]);
      }
    }
  }
  const Tensor y_saved = out.detach();  // the backward needs y, not x
  return record("softmax", out, {a}, [y_saved, s](const Tensor& g) {
    const Tensor gc = g.contiguous();
    const float* gp = gc.data();
    const float* yp = y_saved.data();
    const std::vector<float> gy = column_sums(gp, yp, s);  // sum_l g_l y_l per column
    Tensor dx = Tensor::empty(y_saved.shape());
    float* d = dx.data();
    for (int64_t i = 0; i < s.outer; ++i) {
      for (int64_t k = 0; k < s.n; ++k) {
        const int64_t row = (i * s.n + k) * s.inner;
        for (int64_t j = 0; j < s.inner; ++j) {
          d[row + j] = yp[row + j] * (gp[row + j] - gy[i * s.inner + j]);
        }
      }
    }
    return grads{dx};
  }, /*saved=*/{y_saved});
}

// z_k = x_k - m - log sum_l exp(x_l - m)   (computed directly, never as log(softmax), which
// would give log(0) = -inf for a tiny probability that z represents fine).
// Backward (dz_k/dx_l = delta_kl - softmax_l):
//   dx_l = g_l - softmax_l * sum_k g_k,   with softmax = exp(z).
Tensor log_softmax(const Tensor& a, int64_t axis) {
  const AxisSplit s = split_at_axis(a, axis, "log_softmax");
  const Tensor x = a.detach().contiguous();
  Tensor out = Tensor::empty(a.shape());
  float* z = out.data();
  const float* xp = x.data();
  const ColumnStats st = exp_shifted(xp, z, s);  // z temporarily holds exp(x - m)
  std::vector<float> log_sum(st.sum.size());
  for (size_t c = 0; c < log_sum.size(); ++c) log_sum[c] = static_cast<float>(std::log(st.sum[c]));
  for (int64_t i = 0; i < s.outer; ++i) {
    for (int64_t k = 0; k < s.n; ++k) {
      const int64_t row = (i * s.n + k) * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) {
        const int64_t c = i * s.inner + j;
        // (x - m) first: for x near m it is exact, so huge logits keep their small differences.
        z[row + j] = (xp[row + j] - st.max[c]) - log_sum[c];
      }
    }
  }
  const Tensor z_saved = out.detach();
  return record("log_softmax", out, {a}, [z_saved, s](const Tensor& g) {
    const Tensor gc = g.contiguous();
    const float* gp = gc.data();
    const float* zp = z_saved.data();
    const std::vector<float> g_total = column_sums(gp, nullptr, s);  // sum_k g_k per column
    Tensor dx = Tensor::empty(z_saved.shape());
    float* d = dx.data();
    for (int64_t i = 0; i < s.outer; ++i) {
      for (int64_t k = 0; k < s.n; ++k) {
        const int64_t row = (i * s.n + k) * s.inner;
        for (int64_t j = 0; j < s.inner; ++j) {
          d[row + j] = gp[row + j] - std::exp(zp[row + j]) * g_total[i * s.inner + j];
        }
      }
    }
    return grads{dx};
  }, /*saved=*/{z_saved});
}

}  // namespace nibble
