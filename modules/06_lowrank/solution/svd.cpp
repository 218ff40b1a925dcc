// Module 06 — low-rank: the SVD from scratch. The API, with what each function must do:
// compression/lowrank.h. Your code replaces each `throw nibble::NotImplemented`; the input checks
// before it and the helpers in the anonymous namespace are given.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "compression/lowrank.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble {

namespace {

// ---- helpers (given) ---------------------------------------------------------------------------------

// A column-major matrix of doubles: column j is data[j*rows, (j+1)*rows), contiguous, because
// Gram–Schmidt and Jacobi both work on whole columns.
struct DMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> data;
  DMatrix(int64_t r, int64_t c) : rows(r), cols(c), data(static_cast<size_t>(r * c), 0.0) {}
  double* col(int64_t j) { return data.data() + j * rows; }
  const double* col(int64_t j) const { return data.data() + j * rows; }
  double& at(int64_t i, int64_t j) { return data[static_cast<size_t>(j * rows + i)]; }
};

// a [m, n] -> an m x n DMatrix, or n x m (aᵀ) when transpose is true.
DMatrix to_dmatrix(const Tensor& a, bool transpose) {
  const Tensor c = a.contiguous();
  const float* p = c.data();
  const int64_t m = a.size(0), n = a.size(1);
  DMatrix d(transpose ? n : m, transpose ? m : n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) (transpose ? d.at(j, i) : d.at(i, j)) = p[i * n + j];
  return d;
}

// A rows x cols DMatrix -> a float tensor [rows, cols], or [cols, rows] (its transpose).
Tensor to_tensor(const DMatrix& d, bool transpose) {
  Tensor t = Tensor::empty(transpose ? Shape{d.cols, d.rows} : Shape{d.rows, d.cols});
  float* p = t.data();
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t j = 0; j < d.cols; ++j) {
      const double x = d.data[static_cast<size_t>(j * d.rows + i)];
      (transpose ? p[j * d.rows + i] : p[i * d.cols + j]) = static_cast<float>(x);
    }
  return t;
}

double dot(const double* x, const double* y, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

// Column j of q becomes a unit vector orthogonal to the (orthonormal) columns 0..j-1: the standard
// basis vector e_i with the largest part outside their span, projected twice and normalised.
// Needs j < q.rows.
void complete_column(DMatrix& q, int64_t j) {
  int64_t best = 0;
  double best_rest = -1.0;
  for (int64_t i = 0; i < q.rows; ++i) {
    double inside = 0.0;  // squared length of e_i's projection on the span
    for (int64_t c = 0; c < j; ++c) inside += q.at(i, c) * q.at(i, c);
    if (1.0 - inside > best_rest) best_rest = 1.0 - inside, best = i;
  }
  double* v = q.col(j);
  std::fill(v, v + q.rows, 0.0);
  v[best] = 1.0;
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t c = 0; c < j; ++c) {
      const double r = dot(q.col(c), v, q.rows);
      for (int64_t i = 0; i < q.rows; ++i) v[i] -= r * q.col(c)[i];
    }
  const double norm = std::sqrt(dot(v, v, q.rows));
  for (int64_t i = 0; i < q.rows; ++i) v[i] /= norm;
}

}  // namespace

// ---- Gram–Schmidt --------------------------------------------------------------------------------------

Tensor orthonormalize_columns(const Tensor& a) {
  validate_matrix(a, "orthonormalize_columns");
  NIBBLE_CHECK(a.size(1) <= a.size(0), "orthonormalize_columns",
               "a " + a.shape_str() + " has more columns than rows",
               "at most m vectors of length m can be orthonormal; pass a [m, l] with l <= m");
  // BEGIN SOLUTION orthonormalize_columns
  DMatrix q = to_dmatrix(a, false);  // m x l
  for (int64_t j = 0; j < q.cols; ++j) {
    double* v = q.col(j);
    const double original = std::sqrt(dot(v, v, q.rows));
    // Modified Gram–Schmidt: subtract each earlier direction from the CURRENT v; twice.
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t i = 0; i < j; ++i) {
        const double r = dot(q.col(i), v, q.rows);
        for (int64_t row = 0; row < q.rows; ++row) v[row] -= r * q.col(i)[row];
      }
    const double norm = std::sqrt(dot(v, v, q.rows));
    if (original == 0.0 || norm <= 1e-12 * original) {
      complete_column(q, j);  // v was (almost) in the span of the earlier columns
    } else {
      for (int64_t row = 0; row < q.rows; ++row) v[row] /= norm;
    }
  }
  return to_tensor(q, false);
  // END SOLUTION
}

// ---- one-sided Jacobi SVD ------------------------------------------------------------------------------

Svd svd(const Tensor& a) {
  validate_matrix(a, "svd");
  // BEGIN SOLUTION svd
  const int64_t m = a.size(0), n = a.size(1);
  const bool wide = m < n;               // then decompose aᵀ = U' S V'ᵀ, so a = V' S U'ᵀ
  DMatrix w = to_dmatrix(a, wide);       // rows >= cols
  const int64_t rows = w.rows, cols = w.cols;
  DMatrix v(cols, cols);                 // accumulates the rotations: a V = W
  for (int64_t j = 0; j < cols; ++j) v.at(j, j) = 1.0;

  auto rotate = [](double* x, double* y, int64_t len, double c, double s) {
    for (int64_t i = 0; i < len; ++i) {
      const double xi = x[i], yi = y[i];
      x[i] = c * xi - s * yi;
      y[i] = s * xi + c * yi;
    }
  };
  for (int sweep = 0; sweep < 60; ++sweep) {
    bool rotated = false;
    for (int64_t p = 0; p + 1 < cols; ++p)
      for (int64_t q = p + 1; q < cols; ++q) {
        double* wp = w.col(p);
        double* wq = w.col(q);
        const double alpha = dot(wp, wp, rows), beta = dot(wq, wq, rows), gamma = dot(wp, wq, rows);
        if (alpha == 0.0 || beta == 0.0 || std::fabs(gamma) <= 1e-13 * std::sqrt(alpha * beta)) continue;
        rotated = true;
        // The rotation that makes w_p and w_q orthogonal (the smaller root t, |angle| <= 45°).
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = (zeta >= 0.0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1.0 + zeta * zeta));
        const double c = 1.0 / std::sqrt(1.0 + t * t), s = c * t;
        rotate(wp, wq, rows, c, s);
        rotate(v.col(p), v.col(q), cols, c, s);
      }
    if (!rotated) break;  // every pair orthogonal: converged
  }

  // σ_j = ‖w_j‖; sort descending.
  std::vector<double> sigma(static_cast<size_t>(cols));
  for (int64_t j = 0; j < cols; ++j) sigma[j] = std::sqrt(dot(w.col(j), w.col(j), rows));
  std::vector<int64_t> order(static_cast<size_t>(cols));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return sigma[x] > sigma[y]; });
  const double smax = sigma[order[0]];

  DMatrix u(rows, cols), vs(cols, cols);
  Tensor S = Tensor::empty({cols});
  for (int64_t k = 0; k < cols; ++k) {
    const int64_t j = order[k];
    S.data()[k] = static_cast<float>(sigma[j]);
    std::copy(v.col(j), v.col(j) + cols, vs.col(k));
    if (smax > 0.0 && sigma[j] > 1e-12 * smax) {
      for (int64_t i = 0; i < rows; ++i) u.col(k)[i] = w.col(j)[i] / sigma[j];
    } else {
      complete_column(u, k);  // σ = 0: any unit vector orthogonal to the others
    }
  }
  // Working matrix = u S vsᵀ. For a tall a that is a; for a wide one it is aᵀ, so swap.
  Svd out = wide ? Svd{to_tensor(vs, false), S, to_tensor(u, true)}
                 : Svd{to_tensor(u, false), S, to_tensor(vs, true)};
  canonicalize_signs(out);
  return out;
  // END SOLUTION
}

// ---- randomized range finder ---------------------------------------------------------------------------

Svd randomized_svd(const Tensor& a, int64_t rank, const RandomizedSvdOptions& options) {
  validate_matrix(a, "randomized_svd");
  const int64_t m = a.size(0), n = a.size(1);
  validate_rank(rank, std::min(m, n), "randomized_svd", "min(m, n) = " + std::to_string(std::min(m, n)));
  NIBBLE_CHECK(options.oversample >= 0 && options.power_iters >= 0, "randomized_svd",
               "oversample = " + std::to_string(options.oversample) + " and power_iters = " +
                   std::to_string(options.power_iters) + " must be >= 0",
               "Halko et al. suggest oversample 5-10 and 1-2 power iterations");
  NoGradGuard no_grad;
  // BEGIN SOLUTION randomized_svd
  const int64_t l = std::min(rank + options.oversample, std::min(m, n));
  std::mt19937_64 gen(options.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> omega(static_cast<size_t>(n * l));
  for (float& x : omega) x = static_cast<float>(normal(gen));
  const Tensor sketch = Tensor::from_vector(omega, {n, l});       // Ω [n, l]
  Tensor Q = orthonormalize_columns(matmul(a, sketch));          // [m, l], spans A Ω
  for (int64_t it = 0; it < options.power_iters; ++it) {
    const Tensor Z = orthonormalize_columns(matmul(a.t(), Q));   // [n, l]
    Q = orthonormalize_columns(matmul(a, Z));                    // [m, l]
  }
  const Svd small = svd(matmul(Q.t(), a));                       // B = Qᵀ A [l, n]
  Svd out = truncate(Svd{matmul(Q, small.U), small.S, small.Vh}, rank);
  canonicalize_signs(out);
  return out;
  // END SOLUTION
}

}  // namespace nibble
