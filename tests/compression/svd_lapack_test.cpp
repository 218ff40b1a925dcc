// LAPACK as an oracle for the from-scratch SVD (compression/lowrank.h). A separate program,
// svd_lapack_tests, linked with liblapacke (Debian liblapacke-dev) — LAPACK is never linked into
// libnibble. Singular values are compared with LAPACKE_sgesdd on random, rank-deficient and
// ill-conditioned matrices; the 512 x 512 test prints the time and error table of the lesson
// (modules/06_lowrank/README.md), with LAPACKE_dgesdd (double) as the reference for both.
//   build/tests/svd_lapack_tests            (or --gtest_filter='*Time*' for the table only)
#include <gtest/gtest.h>
#include <lapacke.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "compression/lowrank.h"

namespace {

using nibble::Tensor;

Tensor gaussian(int64_t m, int64_t n, uint64_t seed, std::vector<double> scale_columns = {}) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> a(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      a[i * n + j] = normal(rng) * (scale_columns.empty() ? 1.0f : static_cast<float>(scale_columns[j]));
  return Tensor::from_vector(a, {m, n});
}

// Singular values by LAPACK: sgesdd on the float matrix, or dgesdd on its exact double copy.
std::vector<double> lapack_singular_values(const Tensor& a, bool in_double) {
  const int m = static_cast<int>(a.size(0)), n = static_cast<int>(a.size(1));
  const std::vector<float> v = a.contiguous().to_vector();
  std::vector<double> out(static_cast<size_t>(std::min(m, n)));
  if (in_double) {
    std::vector<double> d(v.begin(), v.end());
    const int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', m, n, d.data(), n, out.data(), nullptr, std::max(m, n), nullptr, std::max(m, n));
    EXPECT_EQ(info, 0) << "LAPACKE_dgesdd";
  } else {
    std::vector<float> f = v, s(out.size());
    const int info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'N', m, n, f.data(), n, s.data(), nullptr, std::max(m, n), nullptr, std::max(m, n));
    EXPECT_EQ(info, 0) << "LAPACKE_sgesdd";
    std::copy(s.begin(), s.end(), out.begin());
  }
  return out;
}

double max_relative_gap(const std::vector<double>& x, const std::vector<double>& y) {
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  return worst / y[0];
}

std::vector<double> ours(const Tensor& a) {
  const std::vector<float> s = nibble::svd(a).S.to_vector();
  return std::vector<double>(s.begin(), s.end());
}

// A [m, n] of rank r: the product of Gaussian [m, r] and [r, n] factors, rounded to float.
Tensor rank_deficient(int64_t m, int64_t n, int64_t r, uint64_t seed) {
  const std::vector<float> x = gaussian(m, r, seed).to_vector(), y = gaussian(r, n, seed + 1).to_vector();
  std::vector<float> a(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < r; ++c) s += double(x[i * r + c]) * y[c * n + j];
      a[i * n + j] = static_cast<float>(s);
    }
  return Tensor::from_vector(a, {m, n});
}

}  // namespace

TEST(SvdVsLapack, RandomMatricesAgreeWithSgesdd) {
  for (const auto& [m, n] : std::vector<std::pair<int64_t, int64_t>>{{64, 48}, {48, 64}, {100, 100}, {1, 7}}) {
    const Tensor a = gaussian(m, n, static_cast<uint64_t>(m * 1000 + n));
    EXPECT_LT(max_relative_gap(ours(a), lapack_singular_values(a, false)), 1e-5) << "[" << m << ", " << n << "]";
  }
}

TEST(SvdVsLapack, RankDeficientAgreesWithSgesdd) {
  const Tensor a = rank_deficient(60, 40, 5, 7);
  const std::vector<double> s = ours(a), l = lapack_singular_values(a, false);
  EXPECT_LT(max_relative_gap(s, l), 1e-5) << "rank 5 in [60, 40]";
  for (size_t i = 5; i < s.size(); ++i) EXPECT_LT(s[i], 1e-5 * s[0]) << "σ" << i << " of a rank-5 matrix";
}

TEST(SvdVsLapack, IllConditionedAgreesWithDgesdd) {
  // Columns scaled from 1 to 1e-6: condition number around 1e6.
  std::vector<double> scale;
  for (int j = 0; j < 50; ++j) scale.push_back(std::pow(10.0, -6.0 * j / 49.0));
  const Tensor a = gaussian(70, 50, 11, scale);
  const std::vector<double> s = ours(a), d = lapack_singular_values(a, true), f = lapack_singular_values(a, false);
  EXPECT_LT(max_relative_gap(s, d), 1e-6) << "ours vs dgesdd, condition ~1e6";
  EXPECT_LT(max_relative_gap(f, d), 1e-5) << "sgesdd vs dgesdd (sanity of the oracle)";
  // One-sided Jacobi is known for RELATIVE accuracy of small singular values on such matrices.
  for (size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(s[i] / d[i], 1.0, 1e-3) << "σ" << i << " relative to dgesdd";
}

TEST(SvdVsLapack, TimeAndError512) {
#ifndef NDEBUG
  GTEST_SKIP() << "the 512 x 512 timing table is measured in Release builds only (this build has assertions on)";
#endif
  const Tensor a = gaussian(512, 512, 512);
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
  auto t0 = clock::now();
  const nibble::Svd s = nibble::svd(a);
  const double t_ours = seconds(t0);
  t0 = clock::now();
  const std::vector<double> f = lapack_singular_values(a, false);
  const double t_sgesdd = seconds(t0);
  t0 = clock::now();
  const std::vector<double> d = lapack_singular_values(a, true);
  const double t_dgesdd = seconds(t0);
  const std::vector<float> sv = s.S.to_vector();
  const std::vector<double> o(sv.begin(), sv.end());
  // Reconstruction ‖A − U diag(S) Vh‖_F / ‖A‖_F of ours, in double.
  const std::vector<float> A = a.to_vector(), U = s.U.to_vector(), V = s.Vh.to_vector();
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < 512; ++i)
    for (int64_t j = 0; j < 512; ++j) {
      double x = 0.0;
      for (int64_t c = 0; c < 512; ++c) x += double(U[i * 512 + c]) * o[c] * V[c * 512 + j];
      num += (x - A[i * 512 + j]) * (x - A[i * 512 + j]);
      den += double(A[i * 512 + j]) * A[i * 512 + j];
    }
  const double rec = std::sqrt(num / den);
  // sgesdd with the thin U and Vh too (what svd() returns), for a like-for-like time.
  double t_sgesdd_uv = 0.0;
  {
    std::vector<float> f2 = a.to_vector(), s2(512), u2(512 * 512), vt2(512 * 512);
    t0 = clock::now();
    EXPECT_EQ(LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', 512, 512, f2.data(), 512, s2.data(), u2.data(), 512,
                             vt2.data(), 512), 0);
    t_sgesdd_uv = seconds(t0);
  }
  // The randomized SVD on the same Gaussian (flat spectrum: its weak case) and on a matrix whose
  // column scales decay as 0.97^j (a decaying spectrum: its use case), top 16.
  auto randomized_row = [&](const Tensor& m, const char* label) {
    const std::vector<double> ref = lapack_singular_values(m, true);
    auto r0 = clock::now();
    const nibble::Svd r = nibble::randomized_svd(m, 16);
    const double t = seconds(r0);
    const std::vector<float> rs = r.S.to_vector();
    double gap = 0.0;
    for (size_t i = 0; i < rs.size(); ++i) gap = std::max(gap, std::fabs(rs[i] - ref[i]) / ref[i]);
    std::printf("  | randomized_svd k=16, %-11s | %8.3f | %22.2e | %18s |  (max relative error of the top 16)\n",
                label, t, gap, "-");
  };
  std::printf("\n  512 x 512 Gaussian fp32 matrix (seed 512), reference LAPACKE_dgesdd (double):\n");
  std::printf("  | method                           | time (s) | max |σ − σ_ref| / σ_max | ‖A − USVh‖_F/‖A‖_F |\n");
  std::printf("  | nibble::svd (Jacobi, U S Vh)     | %8.3f | %22.2e | %18.2e |\n", t_ours, max_relative_gap(o, d), rec);
  std::printf("  | LAPACKE_sgesdd (U S Vh)          | %8.3f | %22s | %18s |\n", t_sgesdd_uv, "", "-");
  std::printf("  | LAPACKE_sgesdd (values only)     | %8.3f | %22.2e | %18s |\n", t_sgesdd, max_relative_gap(f, d), "-");
  std::printf("  | LAPACKE_dgesdd (values only)     | %8.3f | %22s | %18s |\n", t_dgesdd, "(reference)", "-");
  randomized_row(a, "Gaussian");
  std::vector<double> decay;
  for (int j = 0; j < 512; ++j) decay.push_back(std::pow(0.97, j));
  randomized_row(gaussian(512, 512, 513, decay), "0.97^j cols");
  EXPECT_LT(max_relative_gap(o, d), 1e-5) << "the lesson's accuracy target";
  EXPECT_LT(rec, 1e-5) << "reconstruction";
}
