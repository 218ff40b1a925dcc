// Module 06 — test helpers shared by the visible and hidden tests. Every expected value is built
// here independently of the student's code: matrices with a KNOWN spectrum are made as
// Q1 diag(s) Q2ᵀ from orthonormal columns computed with classical Gram–Schmidt in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "compression/lowrank.h"
#include "core/tensor.h"

namespace lowrank_testing {

using nibble::Tensor;

// worst = max(worst, x), where a NaN x makes the result NaN (std::max would drop it), so a
// NaN anywhere fails every EXPECT_LT(worst, tolerance).
inline void keep_worst(double& worst, double x) {
  if (!(x <= worst)) worst = x;
}

// Row-major doubles of a 2-D or 1-D tensor.
inline std::vector<double> doubles(const Tensor& t) {
  const std::vector<float> v = t.contiguous().to_vector();
  return std::vector<double>(v.begin(), v.end());
}

// A [m, k] row-major matrix with orthonormal columns (k <= m), from Gaussian columns.
inline std::vector<double> orthonormal_columns(int64_t m, int64_t k, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::vector<double> q(static_cast<size_t>(m * k));
  for (int64_t j = 0; j < k; ++j) {
    std::vector<double> v(static_cast<size_t>(m));
    for (double& x : v) x = normal(rng);
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t c = 0; c < j; ++c) {
        double r = 0.0;
        for (int64_t i = 0; i < m; ++i) r += q[i * k + c] * v[i];
        for (int64_t i = 0; i < m; ++i) v[i] -= r * q[i * k + c];
      }
    double norm = 0.0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < m; ++i) q[i * k + j] = v[i] / norm;
  }
  return q;
}

// A float matrix [m, n] with singular values s (descending, s.size() <= min(m, n)).
inline Tensor with_spectrum(int64_t m, int64_t n, const std::vector<double>& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t k = static_cast<int64_t>(s.size());
  const std::vector<double> u = orthonormal_columns(m, k, rng), v = orthonormal_columns(n, k, rng);
  std::vector<float> a(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double x = 0.0;
      for (int64_t c = 0; c < k; ++c) x += u[i * k + c] * s[c] * v[j * k + c];
      a[i * n + j] = static_cast<float>(x);
    }
  return Tensor::from_vector(a, {m, n});
}

inline Tensor gaussian(int64_t m, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> a(static_cast<size_t>(m * n));
  for (float& x : a) x = normal(rng);
  return Tensor::from_vector(a, {m, n});
}

// max |(XᵀX − I)_ij| for the columns of X [r, c] (rows = false: for the rows of X, XXᵀ − I).
inline double orthonormality_error(const Tensor& x, bool columns) {
  if (x.dim() != 2) return INFINITY;
  const std::vector<double> d = doubles(x);
  const int64_t r = x.size(0), c = x.size(1);
  const int64_t k = columns ? c : r, len = columns ? r : c;
  auto at = [&](int64_t vec, int64_t i) { return columns ? d[i * c + vec] : d[vec * c + i]; };
  double worst = 0.0;
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = a; b < k; ++b) {
      double s = 0.0;
      for (int64_t i = 0; i < len; ++i) s += at(a, i) * at(b, i);
      keep_worst(worst, std::fabs(s - (a == b ? 1.0 : 0.0)));
    }
  return worst;
}

// max |A − U diag(S) Vh| over the entries, in double.
inline double reconstruction_error(const Tensor& a, const nibble::Svd& s) {
  const int64_t m = a.size(0), n = a.size(1), p = s.S.dim() == 1 ? s.S.size(0) : -1;
  if (s.U.dim() != 2 || s.Vh.dim() != 2 || s.U.size(0) != m || s.U.size(1) != p || s.Vh.size(0) != p ||
      s.Vh.size(1) != n)
    return INFINITY;  // shapes that do not fit A = U diag(S) Vh
  const std::vector<double> A = doubles(a), U = doubles(s.U), S = doubles(s.S), V = doubles(s.Vh);
  double worst = 0.0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double x = 0.0;
      for (int64_t c = 0; c < p; ++c) x += U[i * p + c] * S[c] * V[c * n + j];
      keep_worst(worst, std::fabs(x - A[i * n + j]));
    }
  return worst;
}

// The sign rule: in every column of U the entry of largest magnitude is positive.
inline bool signs_canonical(const Tensor& U) {
  const std::vector<double> u = doubles(U);
  const int64_t m = U.size(0), p = U.size(1);
  for (int64_t j = 0; j < p; ++j) {
    int64_t best = 0;
    for (int64_t i = 1; i < m; ++i)
      if (std::fabs(u[i * p + j]) > std::fabs(u[best * p + j])) best = i;
    if (u[best * p + j] < 0.0) return false;
  }
  return true;
}

inline double frobenius_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  const std::vector<double> x = doubles(a), y = doubles(b);
  double s = 0.0;
  for (size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return std::sqrt(s);
}

}  // namespace lowrank_testing
