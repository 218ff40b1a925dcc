// modules/06_lowrank/svd.cpp — module 06: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.
// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)
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
  throw nibble::NotImplemented("module 06: orthonormalize_columns");
}

// ---- one-sided Jacobi SVD ------------------------------------------------------------------------------

Svd svd(const Tensor& a) {
  validate_matrix(a, "svd");
  throw nibble::NotImplemented("module 06: svd");
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
  throw nibble::NotImplemented("module 06: randomized_svd");
}

}  // namespace nibble
