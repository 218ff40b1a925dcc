#include "compression/gptq.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/error.h"

namespace nibble {

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void check_square(const std::vector<double>& A, int64_t n, const char* fn) {
  NIBBLE_CHECK(n >= 1 && static_cast<int64_t>(A.size()) == n * n, fn,
               "a matrix of " + std::to_string(A.size()) + " values is not n x n with n = " + std::to_string(n),
               "pass the n*n values row by row");
}

std::vector<double> to_double(const Tensor& t) {
  const std::vector<float> v = t.detach().contiguous().to_vector();
  return {v.begin(), v.end()};
}

void check_weight(const Tensor& W, const GptqOptions& o, const char* fn) {
  NIBBLE_CHECK(W.defined() && W.dim() == 2 && W.numel() > 0, fn,
               "W is " + (W.defined() ? W.shape_str() : std::string("undefined")), "W is a Linear weight [out, in]");
  NIBBLE_CHECK(o.bits >= 2 && o.bits <= 8, fn, "bits = " + std::to_string(o.bits) + " is outside 2..8");
  const int64_t in = W.size(1);
  NIBBLE_CHECK(o.group_size >= 0 && (o.group_size == 0 || in % o.group_size == 0), fn,
               "group_size = " + std::to_string(o.group_size) + " does not divide the row of " + std::to_string(in) +
                   " weights",
               "use 0 (one grid per row) or a divisor of in_features, e.g. 32, 64 or 128");
  NIBBLE_CHECK(o.damp >= 0.0 && o.damp <= 1.0, fn, "damp = " + num(o.damp) + " is outside [0, 1]",
               "0.01 (the paper's) adds 1% of the mean diagonal of H");
  NIBBLE_CHECK(o.block_size >= 1, fn, "block_size = " + std::to_string(o.block_size) + " is below 1");
}

// The asymmetric min-max grid of values (GPTQ's quantizer): real 0 is a code; scale stored as float.
struct Grid {
  double scale = 1.0;
  double zero = 0.0;
  double maxq = 15.0;
  double quantize(double w) const { return std::clamp(std::nearbyint(w / scale) + zero, 0.0, maxq); }
};
Grid grid_of(const double* w, int64_t n, int bits) {
  double lo = 0.0, hi = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
  }
  Grid g;
  g.maxq = std::pow(2.0, bits) - 1.0;
  if (hi - lo <= 0.0) {  // an all-zero group: any grid represents it
    lo = -1.0;
    hi = 1.0;
  }
  g.scale = static_cast<float>((hi - lo) / g.maxq);
  g.zero = std::nearbyint(-lo / g.scale);
  return g;
}

// Fills result from the double weights wd [out, in] quantized column by column.
struct Builder {
  int64_t out, in, gs;
  QuantizedWeight r;
  std::vector<float> what;
  std::vector<Grid> grids;  // [out, in / gs]
  Builder(int64_t o, int64_t i, int64_t g) : out(o), in(i), gs(g == 0 ? i : g) {
    r.group_size = gs;
    r.codes.resize(static_cast<size_t>(out * in));
    what.resize(static_cast<size_t>(out * in));
    grids.resize(static_cast<size_t>(out * (in / gs)));
  }
  Grid& grid(int64_t row, int64_t col) { return grids[static_cast<size_t>(row * (in / gs) + col / gs)]; }
  // Quantizes w = W[row, col]; returns ŵ.
  double put(int64_t row, int64_t col, double w) {
    const Grid& g = grid(row, col);
    const double code = g.quantize(w);
    const double q = g.scale * (code - g.zero);
    r.codes[static_cast<size_t>(row * in + col)] = static_cast<uint8_t>(code);
    what[static_cast<size_t>(row * in + col)] = static_cast<float>(q);
    return q;
  }
  QuantizedWeight finish() {
    for (const Grid& g : grids) {
      r.scale.push_back(static_cast<float>(g.scale));
      r.zero_point.push_back(static_cast<int64_t>(g.zero));
    }
    r.weight = Tensor::from_vector(what, {out, in});
    return std::move(r);
  }
};

}  // namespace

std::vector<double> cholesky(const std::vector<double>& A, int64_t n) {
  check_square(A, n, "cholesky");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) {
      const double a = A[i * n + j], b = A[j * n + i];
      NIBBLE_CHECK(std::fabs(a - b) <= 1e-9 * (std::fabs(a) + std::fabs(b)) + 1e-300, "cholesky",
                   "A is not symmetric: A[" + std::to_string(i) + "][" + std::to_string(j) + "] = " + num(a) +
                       " but A[" + std::to_string(j) + "][" + std::to_string(i) + "] = " + num(b),
                   "a Hessian 2 XᵀX is symmetric by construction");
    }
  std::vector<double> L(static_cast<size_t>(n * n), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    // L[j][j] = sqrt(A[j][j] − Σ_k<j L[j][k]²); L[i][j] = (A[i][j] − Σ_k<j L[i][k] L[j][k]) / L[j][j].
    double d = A[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= L[j * n + k] * L[j * n + k];
    NIBBLE_CHECK(d > 0.0 && std::isfinite(d), "cholesky",
                 "A is not positive definite: pivot " + std::to_string(j) + " is " + num(d),
                 "damp the matrix (A + λI) or drop the columns the inputs never use");
    const double ljj = std::sqrt(d);
    L[j * n + j] = ljj;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = A[i * n + j];
      for (int64_t k = 0; k < j; ++k) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  return L;
}

std::vector<double> cholesky_inverse(const std::vector<double>& L, int64_t n) {
  check_square(L, n, "cholesky_inverse");
  // Linv = L⁻¹ (lower), by forward substitution, column by column of the identity.
  std::vector<double> Linv(static_cast<size_t>(n * n), 0.0);
  for (int64_t c = 0; c < n; ++c) {
    NIBBLE_CHECK(L[c * n + c] > 0.0, "cholesky_inverse", "L[" + std::to_string(c) + "][" + std::to_string(c) +
                 "] = " + num(L[c * n + c]) + " is not > 0", "pass the factor cholesky() returned");
    Linv[c * n + c] = 1.0 / L[c * n + c];
    for (int64_t i = c + 1; i < n; ++i) {
      double s = 0.0;
      for (int64_t k = c; k < i; ++k) s += L[i * n + k] * Linv[k * n + c];
      Linv[i * n + c] = -s / L[i * n + i];
    }
  }
  // A⁻¹ = Linvᵀ Linv: (i, j) = Σ_k>=max(i,j) Linv[k][i] Linv[k][j].
  std::vector<double> inv(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0.0;
      for (int64_t k = i; k < n; ++k) s += Linv[k * n + i] * Linv[k * n + j];
      inv[i * n + j] = inv[j * n + i] = s;
    }
  return inv;
}

QuantizedWeight rtn_quantize(const Tensor& W, const GptqOptions& options) {
  check_weight(W, options, "rtn_quantize");
  const int64_t out = W.size(0), in = W.size(1);
  const std::vector<double> w = to_double(W);
  Builder b(out, in, options.group_size);
  for (int64_t r = 0; r < out; ++r)
    for (int64_t g0 = 0; g0 < in; g0 += b.gs) {
      b.grid(r, g0) = grid_of(&w[static_cast<size_t>(r * in + g0)], b.gs, options.bits);
      for (int64_t c = g0; c < g0 + b.gs; ++c) b.put(r, c, w[static_cast<size_t>(r * in + c)]);
    }
  return b.finish();
}

QuantizedWeight gptq_quantize(const Tensor& W, const Tensor& X, const GptqOptions& options) {
  check_weight(W, options, "gptq_quantize");
  const int64_t out = W.size(0), in = W.size(1);
  NIBBLE_CHECK(X.defined() && X.dim() == 2 && X.size(1) == in && X.size(0) >= 1, "gptq_quantize",
               "X is " + (X.defined() ? X.shape_str() : std::string("undefined")) + " for W " + W.shape_str(),
               "X holds the layer's calibration inputs [N, in_features]");
  std::vector<double> w = to_double(W);  // updated in place by the error feedback
  const std::vector<double> x = to_double(X);
  const int64_t N = X.size(0);

  // 1. H = 2 XᵀX [in, in]; dead columns; damping.
  std::vector<double> H(static_cast<size_t>(in * in), 0.0);
  for (int64_t m = 0; m < N; ++m) {
    const double* xm = &x[static_cast<size_t>(m * in)];
    for (int64_t i = 0; i < in; ++i) {
      if (xm[i] == 0.0) continue;
      for (int64_t j = 0; j <= i; ++j) H[i * in + j] += 2.0 * xm[i] * xm[j];
    }
  }
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < i; ++j) H[j * in + i] = H[i * in + j];
  double mean_diag = 0.0;
  for (int64_t i = 0; i < in; ++i) {
    if (H[i * in + i] == 0.0) {  // input i is always 0: its weights do not matter
      H[i * in + i] = 1.0;
      for (int64_t r = 0; r < out; ++r) w[static_cast<size_t>(r * in + i)] = 0.0;
    }
    mean_diag += H[i * in + i] / static_cast<double>(in);
  }
  for (int64_t i = 0; i < in; ++i) H[i * in + i] += options.damp * mean_diag;

  // 2. U upper with H⁻¹ = UᵀU: the transpose of the lower Cholesky factor of H⁻¹.
  const std::vector<double> Lh = cholesky(cholesky_inverse(cholesky(H, in), in), in);
  std::vector<double> Ut(static_cast<size_t>(in * in));  // U row-major: U[i][j] = Lh[j][i]
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < in; ++j) Ut[static_cast<size_t>(i * in + j)] = Lh[static_cast<size_t>(j * in + i)];
  auto U = [&](int64_t i, int64_t j) { return Ut[static_cast<size_t>(i * in + j)]; };

  // 3. Column by column with error feedback, blocks of block_size columns.
  Builder b(out, in, options.group_size);
  if (options.group_size == 0)  // one grid per row, from the original weights
    for (int64_t r = 0; r < out; ++r) b.grid(r, 0) = grid_of(&w[static_cast<size_t>(r * in)], in, options.bits);
  const int64_t B = options.block_size;
  std::vector<double> err(static_cast<size_t>(out * B));
  for (int64_t i1 = 0; i1 < in; i1 += B) {
    const int64_t i2 = std::min(in, i1 + B);
    for (int64_t j = i1; j < i2; ++j) {
      if (options.group_size > 0 && j % options.group_size == 0)  // the group's grid, from W as it is now
        for (int64_t r = 0; r < out; ++r)
          b.grid(r, j) = grid_of(&w[static_cast<size_t>(r * in + j)], options.group_size, options.bits);
      const double d = U(j, j);
      for (int64_t r = 0; r < out; ++r) {
        double* row = &w[static_cast<size_t>(r * in)];
        const double e = (row[j] - b.put(r, j, row[j])) / d;
        err[static_cast<size_t>(r * B + (j - i1))] = e;
        for (int64_t k = j + 1; k < i2; ++k) row[k] -= e * U(j, k);  // inside the block: now
      }
    }
    // The later blocks take the whole block's errors at once: W[:, i2:] −= Err · U[i1:i2, i2:].
    for (int64_t r = 0; r < out; ++r) {
      double* row = &w[static_cast<size_t>(r * in)];
      for (int64_t j = i1; j < i2; ++j) {
        const double e = err[static_cast<size_t>(r * B + (j - i1))];
        for (int64_t k = i2; k < in; ++k) row[k] -= e * U(j, k);
      }
    }
  }
  return b.finish();
}

double layer_output_error(const Tensor& X, const Tensor& W, const Tensor& W_hat) {
  NIBBLE_CHECK(X.defined() && W.defined() && W_hat.defined() && X.dim() == 2 && W.dim() == 2 &&
                   W.shape() == W_hat.shape() && X.size(1) == W.size(1),
               "layer_output_error",
               "X, W, W_hat are " + (X.defined() ? X.shape_str() : std::string("undefined")) + ", " +
                   (W.defined() ? W.shape_str() : std::string("undefined")) + ", " +
                   (W_hat.defined() ? W_hat.shape_str() : std::string("undefined")),
               "X [N, in], W and W_hat [out, in]");
  const std::vector<double> x = to_double(X), a = to_double(W), b = to_double(W_hat);
  const int64_t N = X.size(0), out = W.size(0), in = W.size(1);
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  double total = 0.0;
  for (int64_t m = 0; m < N; ++m)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0.0;
      for (int64_t k = 0; k < in; ++k) s += x[static_cast<size_t>(m * in + k)] * d[static_cast<size_t>(o * in + k)];
      total += s * s;
    }
  return std::sqrt(total);
}

}  // namespace nibble
