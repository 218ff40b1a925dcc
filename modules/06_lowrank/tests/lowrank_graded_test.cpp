// Module 06 — graded tests for compression/lowrank.h (100 points). Expected values are worked out
// by hand in the comments, or come from matrices built with a KNOWN spectrum (lowrank_testing.h),
// never from a solution's output. Run them with `nibble test 06`.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "compression/lowrank.h"
#include "compression/lowrank_layers.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "modules/06_lowrank/tests/lowrank_testing.h"
#include "modules/graded.h"

namespace {

using nibble::Shape;
using nibble::Svd;
using nibble::Tensor;
using nibble::grading::hint;
using namespace lowrank_testing;

// The error is a nibble::Error (not NotImplemented) whose message names `function` and `value`.
bool rejects(const std::function<void()>& fn, const std::string& function, const std::string& value) {
  try {
    fn();
  } catch (const nibble::NotImplemented&) {
    return false;
  } catch (const nibble::Error& e) {
    const std::string what = e.what();
    return what.find(function) != std::string::npos && what.find(value) != std::string::npos;
  }
  return false;
}

// s_i = scale · 10^(-i / per_decade), i = 0 .. p-1
std::vector<double> geometric(int64_t p, double scale, double per_decade) {
  std::vector<double> s;
  for (int64_t i = 0; i < p; ++i) s.push_back(scale * std::pow(10.0, -double(i) / per_decade));
  return s;
}

}  // namespace

GRADED_TEST(LowRankGraded, SvdWorkedExample, 8) {
  // A = [[3, 0], [4, 5]]: AᵀA = [[25, 20], [20, 25]], eigenvalues 45 and 5 -> S = (√45, √5),
  // v0 = (1, 1)/√2, v1 = (1, -1)/√2, u_j = A v_j / σ_j: u0 = (1, 3)/√10, u1 = (3, -1)/√10
  // (its largest entry, 3/√10, is positive: the sign rule keeps v1 = (1, -1)/√2).
  const Svd s = nibble::svd(Tensor::from_vector({3, 0, 4, 5}, {2, 2}));
  ASSERT_EQ(s.U.shape(), (Shape{2, 2})) << "U of a [2, 2] matrix";
  ASSERT_EQ(s.S.shape(), (Shape{2})) << "S of a [2, 2] matrix";
  ASSERT_EQ(s.Vh.shape(), (Shape{2, 2})) << "Vh of a [2, 2] matrix";
  const double r10 = std::sqrt(10.0), r2 = std::sqrt(2.0);
  EXPECT_NEAR(s.S.at({0}), std::sqrt(45.0), 1e-5) << "σ0 of [[3,0],[4,5]]" << hint("S is sorted largest first");
  EXPECT_NEAR(s.S.at({1}), std::sqrt(5.0), 1e-5) << "σ1 of [[3,0],[4,5]]";
  const double U[2][2] = {{1 / r10, 3 / r10}, {3 / r10, -1 / r10}};
  const double V[2][2] = {{1 / r2, 1 / r2}, {1 / r2, -1 / r2}};
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      EXPECT_NEAR(s.U.at({i, j}), U[i][j], 1e-5)
          << "U[" << i << "][" << j << "]" << hint("u_j = w_j / σ_j; then the sign rule (canonicalize_signs)");
      EXPECT_NEAR(s.Vh.at({i, j}), V[i][j], 1e-5)
          << "Vh[" << i << "][" << j << "]" << hint("Vh is Vᵀ: ROW j is the right singular vector v_j");
    }
  // A wide matrix: A = [[1, 0, 1], [0, 1, 0]], A Aᵀ = diag(2, 1): S = (√2, 1), U = I,
  // Vh rows (1, 0, 1)/√2 and (0, 1, 0).
  const Svd w = nibble::svd(Tensor::from_vector({1, 0, 1, 0, 1, 0}, {2, 3}));
  ASSERT_EQ(w.U.shape(), (Shape{2, 2})) << "U of a wide [2, 3] matrix" << hint("for m < n decompose aᵀ and swap U and V");
  ASSERT_EQ(w.Vh.shape(), (Shape{2, 3})) << "Vh of a wide [2, 3] matrix";
  EXPECT_NEAR(w.S.at({0}), r2, 1e-5) << "σ0 of [[1,0,1],[0,1,0]]";
  EXPECT_NEAR(w.S.at({1}), 1.0, 1e-5) << "σ1 of [[1,0,1],[0,1,0]]";
  const double WV[2][3] = {{1 / r2, 0, 1 / r2}, {0, 1, 0}};
  for (int64_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(w.U.at({i, i}), 1.0, 1e-5) << "U of [[1,0,1],[0,1,0]] is the identity";
    for (int64_t j = 0; j < 3; ++j) EXPECT_NEAR(w.Vh.at({i, j}), WV[i][j], 1e-5) << "Vh[" << i << "][" << j << "] (wide)";
  }
}

GRADED_TEST(LowRankGraded, SvdOrthonormalAndReconstructs, 10) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{40, 25}, {25, 40}, {33, 33}, {7, 2}};
  uint64_t seed = 60;
  for (const auto& [m, n] : shapes) {
    const Tensor a = gaussian(m, n, ++seed);
    const Svd s = nibble::svd(a);
    const int64_t p = std::min(m, n);
    const std::string what = "svd of a Gaussian [" + std::to_string(m) + ", " + std::to_string(n) + "]";
    ASSERT_EQ(s.U.shape(), (Shape{m, p})) << what << hint("thin SVD: U [m, min(m, n)]");
    ASSERT_EQ(s.S.shape(), (Shape{p})) << what;
    ASSERT_EQ(s.Vh.shape(), (Shape{p, n})) << what << hint("thin SVD: Vh [min(m, n), n]");
    EXPECT_LT(orthonormality_error(s.U, true), 1e-5) << what << ": UᵀU = I" << hint("divide each w_j by σ_j = ‖w_j‖");
    EXPECT_LT(orthonormality_error(s.Vh, false), 1e-5) << what << ": Vh Vhᵀ = I"
                                                       << hint("rotate the columns of V with the same c, s as W");
    EXPECT_LT(reconstruction_error(a, s), 1e-4) << what << ": U diag(S) Vh = A"
                                                << hint("keep U's columns, S and Vh's rows in the same order");
    for (int64_t i = 0; i < p; ++i) {
      EXPECT_GE(s.S.at({i}), 0.0f) << what << ", S[" << i << "]";
      if (i > 0) {
        EXPECT_LE(s.S.at({i}), s.S.at({i - 1})) << what << ", S[" << i << "]" << hint("sort S descending, with U and V");
      }
    }
    EXPECT_TRUE(signs_canonical(s.U)) << what << hint("the largest-magnitude entry of each column of U must be positive");
  }
}

GRADED_TEST(LowRankGraded, SvdRecoversKnownSpectrum, 10) {
  // A = Q1 diag(s) Q2ᵀ with s = 5·10^(-i/6): the singular values are s, whatever Q1, Q2.
  const std::vector<double> s = geometric(20, 5.0, 6.0);
  const Tensor a = with_spectrum(30, 20, s, 7);
  const Svd got = nibble::svd(a);
  ASSERT_EQ(got.S.shape(), (Shape{20})) << "[30, 20] matrix";
  for (int64_t i = 0; i < 20; ++i)
    EXPECT_NEAR(got.S.at({i}), s[i], 2e-6 * s[0])
        << "σ" << i << " of Q1 diag(5·10^(-i/6)) Q2ᵀ"
        << hint("sweep until a whole sweep makes no rotation; one sweep is not enough");
  // The same matrix transposed has the same singular values.
  const Svd t = nibble::svd(a.t().contiguous());
  for (int64_t i = 0; i < 20; ++i) EXPECT_NEAR(t.S.at({i}), s[i], 2e-6 * s[0]) << "σ" << i << " of the transpose [20, 30]";
}

GRADED_TEST(LowRankGraded, SvdRankDeficientAndEdgeShapes, 6) {
  // Rank 2 in a [6, 5] matrix: three singular values are 0, U must still be orthonormal.
  const Tensor a = with_spectrum(6, 5, {3.0, 1.0}, 11);
  const Svd s = nibble::svd(a);
  ASSERT_EQ(s.S.shape(), (Shape{5})) << "rank-2 [6, 5] matrix";
  EXPECT_NEAR(s.S.at({0}), 3.0, 1e-5) << "σ0 of a rank-2 matrix";
  EXPECT_NEAR(s.S.at({1}), 1.0, 1e-5) << "σ1 of a rank-2 matrix";
  for (int64_t i = 2; i < 5; ++i) EXPECT_NEAR(s.S.at({i}), 0.0, 1e-5) << "σ" << i << " of a rank-2 matrix";
  EXPECT_LT(orthonormality_error(s.U, true), 1e-5) << "U of a rank-2 matrix" << hint("complete u_j when σ_j ≈ 0");
  EXPECT_LT(orthonormality_error(s.Vh, false), 1e-5) << "Vh of a rank-2 matrix";
  EXPECT_LT(reconstruction_error(a, s), 1e-5) << "rank-2 matrix";
  // The zero matrix: S = 0, U and Vh still orthonormal.
  const Svd z = nibble::svd(Tensor::zeros({3, 2}));
  EXPECT_EQ(z.S.at({0}), 0.0f) << "zero matrix";
  EXPECT_LT(orthonormality_error(z.U, true), 1e-6) << "U of the zero [3, 2] matrix" << hint("σ = 0: complete u_j");
  EXPECT_LT(orthonormality_error(z.Vh, false), 1e-6) << "Vh of the zero [3, 2] matrix";
  // One row [1, 2, 2, 4]: σ = 5, U = [[1]], Vh = the row / 5.
  const Svd row = nibble::svd(Tensor::from_vector({1, 2, 2, 4}, {1, 4}));
  ASSERT_EQ(row.Vh.shape(), (Shape{1, 4})) << "a [1, 4] matrix";
  EXPECT_NEAR(row.S.at({0}), 5.0, 1e-5) << "σ of [[1, 2, 2, 4]]";
  EXPECT_NEAR(row.U.at({0, 0}), 1.0, 1e-6) << "U of [[1, 2, 2, 4]]";
  EXPECT_NEAR(row.Vh.at({0, 3}), 0.8, 1e-6) << "Vh of [[1, 2, 2, 4]]";
  // One column (0, -3, 4): σ = 5, U = (0, -0.6, 0.8) (largest entry 0.8 > 0), Vh = [[1]].
  const Svd col = nibble::svd(Tensor::from_vector({0, -3, 4}, {3, 1}));
  ASSERT_EQ(col.U.shape(), (Shape{3, 1})) << "a [3, 1] matrix";
  EXPECT_NEAR(col.S.at({0}), 5.0, 1e-5) << "σ of the column (0, -3, 4)";
  EXPECT_NEAR(col.U.at({1, 0}), -0.6, 1e-6) << "U of the column (0, -3, 4)";
  EXPECT_NEAR(col.U.at({2, 0}), 0.8, 1e-6) << "U of the column (0, -3, 4)";
  EXPECT_NEAR(col.Vh.at({0, 0}), 1.0, 1e-6) << "Vh of the column (0, -3, 4)";
}

GRADED_TEST(LowRankGraded, EckartYoungIdentity, 8) {
  // ‖A − A_k‖_F = sqrt(Σ_{i>=k} s_i²) for the known spectrum s, every k.
  const std::vector<double> s = {4.0, 3.0, 2.5, 1.0, 0.5, 0.25, 0.1, 0.05, 0.01};
  const Tensor a = with_spectrum(12, 9, s, 21);
  const Svd svd = nibble::svd(a);
  for (int64_t k = 1; k <= 9; ++k) {
    double tail = 0.0;
    for (int64_t i = k; i < 9; ++i) tail += s[i] * s[i];
    const Tensor ak = nibble::low_rank_approx(svd, k);
    ASSERT_EQ(ak.shape(), (Shape{12, 9})) << "low_rank_approx(svd, " << k << ") of a [12, 9] matrix";
    EXPECT_NEAR(frobenius_diff(a, ak), std::sqrt(tail), 1e-5)
        << "‖A − A_" << k << "‖_F" << hint("A_k keeps the k LARGEST singular triples: U[:, :k] diag(S[:k]) Vh[:k, :]");
  }
}

GRADED_TEST(LowRankGraded, OrthonormalizeColumns, 6) {
  // a = [[3, 1], [4, 2]]: q0 = (0.6, 0.8); (1, 2) − 2.2·q0 = (−0.32, 0.24) -> q1 = (−0.8, 0.6).
  const Tensor q = nibble::orthonormalize_columns(Tensor::from_vector({3, 1, 4, 2}, {2, 2}));
  ASSERT_EQ(q.shape(), (Shape{2, 2})) << "Q of a [2, 2] matrix";
  const double want[2][2] = {{0.6, -0.8}, {0.8, 0.6}};
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j)
      EXPECT_NEAR(q.at({i, j}), want[i][j], 1e-6) << "Q[" << i << "][" << j << "] of [[3, 1], [4, 2]]"
                                                  << hint("subtract (q_i · v) q_i, then divide by the norm");
  // Random [30, 10]: QᵀQ = I and column j of a lies in span(q_0..q_j) with q_j · a_j > 0.
  const Tensor a = gaussian(30, 10, 5);
  const Tensor r = nibble::orthonormalize_columns(a);
  ASSERT_EQ(r.shape(), (Shape{30, 10})) << "Q of a [30, 10] matrix";
  EXPECT_LT(orthonormality_error(r, true), 1e-6) << "QᵀQ = I for a Gaussian [30, 10]";
  const std::vector<double> Q = doubles(r), A = doubles(a);
  for (int64_t i = 0; i < 10; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double d = 0.0;
      for (int64_t row = 0; row < 30; ++row) d += Q[row * 10 + i] * A[row * 10 + j];
      if (i > j) {
        EXPECT_NEAR(d, 0.0, 1e-5) << "q_" << i << " · a_" << j << " (QᵀA is upper triangular)";
      } else if (i == j) {
        EXPECT_GT(d, 0.0) << "q_" << i << " · a_" << i << hint("q_j points along a_j's new part, not against it");
      }
    }
  // The third column repeats the first: Q must still be orthonormal (a completion fills in).
  const Tensor dup = nibble::orthonormalize_columns(Tensor::from_vector({1, 0, 1, 2, 1, 2, 0, 3, 0, 1, 1, 1}, {4, 3}));
  EXPECT_LT(orthonormality_error(dup, true), 1e-6) << "Q of a [4, 3] matrix whose column 2 = column 0"
                                                   << hint("a column with (almost) nothing left: complete_column");
}

GRADED_TEST(LowRankGraded, RandomizedSvdMatchesTopK, 10) {
  // Spectrum 10^(-i/4): σ0/σ7 = 10^1.75. Top 8 by the randomized range finder.
  const std::vector<double> s = geometric(90, 1.0, 4.0);
  const Tensor a = with_spectrum(120, 90, s, 31);
  const Svd full = nibble::svd(a);
  ASSERT_EQ(full.U.shape(), (Shape{120, 90})) << "svd(a [120, 90]).U" << hint("write svd first");
  for (uint64_t seed : {0u, 1u}) {
    nibble::RandomizedSvdOptions opt;
    opt.seed = seed;
    const Svd r = nibble::randomized_svd(a, 8, opt);
    ASSERT_EQ(r.U.shape(), (Shape{120, 8})) << "randomized_svd(a [120, 90], 8)" << hint("truncate to k at the end");
    ASSERT_EQ(r.S.shape(), (Shape{8})) << "randomized_svd(a [120, 90], 8)";
    ASSERT_EQ(r.Vh.shape(), (Shape{8, 90})) << "randomized_svd(a [120, 90], 8)";
    for (int64_t i = 0; i < 8; ++i)
      EXPECT_NEAR(r.S.at({i}), s[i], 1e-4 * s[i] + 1e-6)
          << "σ" << i << ", seed " << seed
          << hint("orthonormalise after EVERY product with A or Aᵀ, and sketch k + oversample columns");
    EXPECT_LT(orthonormality_error(r.U, true), 1e-5) << "U of randomized_svd, seed " << seed << hint("U = Q Ub");
    const std::vector<double> ru = doubles(r.U), fu = doubles(full.U);
    double worst = 0.0;
    for (int64_t i = 0; i < 120; ++i)
      for (int64_t j = 0; j < 8; ++j) keep_worst(worst, std::fabs(ru[i * 8 + j] - fu[i * 90 + j]));
    EXPECT_LT(worst, 1e-3) << "U[:, :8] of randomized_svd vs svd, seed " << seed << hint("apply the sign rule to U = Q Ub");
  }
}

GRADED_TEST(LowRankGraded, LowRankApproxByHand, 6) {
  // U = I, S = (3, 1), Vh = I: rank 1 -> [[3, 0], [0, 0]].
  Svd id{Tensor::eye(2), Tensor::from_vector({3, 1}), Tensor::eye(2)};
  const Tensor one = nibble::low_rank_approx(id, 1);
  ASSERT_EQ(one.shape(), (Shape{2, 2})) << "U = I, S = (3, 1), Vh = I, rank 1";
  EXPECT_NEAR(one.at({0, 0}), 3.0, 1e-6) << "U = I, S = (3, 1), Vh = I, rank 1";
  EXPECT_NEAR(one.at({1, 1}), 0.0, 1e-6) << "U = I, S = (3, 1), Vh = I, rank 1" << hint("keep only the first k values");
  // U = [[0, 1], [1, 0]], S = (2, 1), Vh = [[0.6, 0.8], [0.8, -0.6]]:
  //   U diag(S) = [[0, 1], [2, 0]] -> A = [[0.8, -0.6], [1.2, 1.6]]; rank 1: [[0, 0], [1.2, 1.6]].
  Svd s{Tensor::from_vector({0, 1, 1, 0}, {2, 2}), Tensor::from_vector({2, 1}),
        Tensor::from_vector({0.6f, 0.8f, 0.8f, -0.6f}, {2, 2})};
  const double full[2][2] = {{0.8, -0.6}, {1.2, 1.6}}, rank1[2][2] = {{0.0, 0.0}, {1.2, 1.6}};
  const Tensor f = nibble::low_rank_approx(s, 2), r = nibble::low_rank_approx(s, 1);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      EXPECT_NEAR(f.at({i, j}), full[i][j], 1e-6) << "rank 2, [" << i << "][" << j << "]"
                                                  << hint("U diag(S) Vh: S scales the columns of U (the rows of Vh)");
      EXPECT_NEAR(r.at({i, j}), rank1[i][j], 1e-6) << "rank 1, [" << i << "][" << j << "]";
    }
  // A [3, 2] x [2, 4] case: the shape is [m, n] = [3, 4].
  Svd rect{Tensor::from_vector({1, 0, 0, 1, 0, 0}, {3, 2}), Tensor::from_vector({2, 1}),
           Tensor::from_vector({1, 0, 0, 0, 0, 0, 0, 1}, {2, 4})};
  const Tensor g = nibble::low_rank_approx(rect, 2);
  ASSERT_EQ(g.shape(), (Shape{3, 4})) << "U [3, 2], Vh [2, 4]";
  EXPECT_NEAR(g.at({0, 0}), 2.0, 1e-6) << "U [3, 2], S = (2, 1), Vh [2, 4]: entry [0][0]";
  EXPECT_NEAR(g.at({1, 3}), 1.0, 1e-6) << "U [3, 2], S = (2, 1), Vh [2, 4]: entry [1][3]";
}

GRADED_TEST(LowRankGraded, RankForEnergy, 8) {
  // S = (2, 1, 1, 1, 1): σ² = 4, 1, 1, 1, 1 (total 8); cumulative 4, 5, 6, 7, 8.
  const Tensor s = Tensor::from_vector({2, 1, 1, 1, 1});
  EXPECT_EQ(nibble::rank_for_energy(s, 0.5), 1) << "S = (2,1,1,1,1), energy 0.5: 4/8 reaches it"
                                                << hint("the smallest k with kept >= energy · total (>=, not >)");
  EXPECT_EQ(nibble::rank_for_energy(s, 0.6), 2) << "S = (2,1,1,1,1), energy 0.6: 5/8 = 0.625";
  EXPECT_EQ(nibble::rank_for_energy(s, 0.75), 3) << "S = (2,1,1,1,1), energy 0.75: 6/8";
  EXPECT_EQ(nibble::rank_for_energy(s, 1.0), 5) << "S = (2,1,1,1,1), energy 1";
  // S = (3, 2, 1): σ² = 9, 4, 1 (total 14): 9/14 = 0.64, 13/14 = 0.93 -> energy 0.9 needs 2.
  EXPECT_EQ(nibble::rank_for_energy(Tensor::from_vector({3, 2, 1}), 0.9), 2)
      << "S = (3, 2, 1), energy 0.9" << hint("energy counts σ², not σ");
  // Trailing zeros add no energy: S = (2, 1, 0, 0), energy 1 -> 2; all zero -> 1.
  EXPECT_EQ(nibble::rank_for_energy(Tensor::from_vector({2, 1, 0, 0}), 1.0), 2) << "S = (2, 1, 0, 0), energy 1";
  EXPECT_EQ(nibble::rank_for_energy(Tensor::from_vector({0, 0}), 0.5), 1) << "S = (0, 0): at least 1";
}

GRADED_TEST(LowRankGraded, RankForError, 8) {
  // S = (2, 1, 1, 1, 1), ‖A‖_F = √8; tail after k = 1..5: √4, √3, √2, √1, 0 (relative ÷ √8).
  const Tensor s = Tensor::from_vector({2, 1, 1, 1, 1});
  EXPECT_EQ(nibble::rank_for_error(s, 0.5), 3) << "S = (2,1,1,1,1), max 0.5: √2/√8 = 0.5"
                                               << hint("compare sqrt(Σ_{i>=k} σ²) with max · sqrt(Σ σ²)");
  EXPECT_EQ(nibble::rank_for_error(s, 0.4), 4) << "S = (2,1,1,1,1), max 0.4: √1/√8 = 0.354";
  EXPECT_EQ(nibble::rank_for_error(s, 0.0), 5) << "S = (2,1,1,1,1), max 0: exact";
  EXPECT_EQ(nibble::rank_for_error(s, 0.99), 1) << "S = (2,1,1,1,1), max 0.99: √4/√8 = 0.71";
  // S = (3, 2, 1), ‖A‖_F = √14 = 3.742; max 0.3 -> bound 1.12: tail √5 = 2.24 > 1.12, tail 1 <= 1.12.
  EXPECT_EQ(nibble::rank_for_error(Tensor::from_vector({3, 2, 1}), 0.3), 2)
      << "S = (3, 2, 1), max 0.3" << hint("the bound is RELATIVE to ‖A‖_F");
  EXPECT_EQ(nibble::rank_for_error(Tensor::from_vector({2, 1, 0, 0}), 0.0), 2) << "S = (2, 1, 0, 0), max 0";
}

GRADED_TEST(LowRankGraded, LowRankLinearEqualsTruncatedProduct, 8) {
  // A Linear 20 -> 12 whose weight [12, 20] has the known spectrum s.
  const std::vector<double> s = {3.0, 2.0, 1.5, 1.0, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01};
  nibble::manual_seed(3);
  nibble::nn::Linear lin(20, 12);
  {
    nibble::NoGradGuard no_grad;
    const Tensor w = with_spectrum(12, 20, s, 41);
    std::copy(w.data(), w.data() + w.numel(), lin.weight.data());
  }
  const Tensor x = gaussian(5, 20, 42);
  // Full rank reproduces the layer.
  auto full = nibble::nn::LowRankLinear::from_linear(lin, 12);
  const Tensor y = lin.forward(x), yf = full->forward(x);
  ASSERT_EQ(yf.shape(), (Shape{5, 12})) << "LowRankLinear 20 -> 12, x [5, 20]";
  EXPECT_LT(frobenius_diff(y, yf), 1e-4) << "rank 12 (full) must reproduce the Linear" << hint("svd must be exact at full rank");
  // Rank 4: the weight is the truncation (‖W − W_4‖_F = sqrt(Σ_{i>=4} s²)) and forward uses it.
  auto low = nibble::nn::LowRankLinear::from_linear(lin, 4);
  double tail = 0.0;
  for (size_t i = 4; i < s.size(); ++i) tail += s[i] * s[i];
  EXPECT_NEAR(frobenius_diff(lin.weight, low->weight()), std::sqrt(tail), 1e-5) << "‖W − W_4‖_F of the rank-4 layer";
  nibble::NoGradGuard no_grad;
  const Tensor expect = nibble::add(nibble::matmul(x, low->weight().t()), lin.bias);
  EXPECT_LT(frobenius_diff(low->forward(x), expect), 1e-4) << "rank-4 forward = x W_4ᵀ + b";
  EXPECT_EQ(low->parameter_count(), 4 * (20 + 12) + 12) << "parameters of a rank-4 LowRankLinear 20 -> 12";
  EXPECT_EQ(low->macs(), 4 * (20 + 12)) << "multiply-adds per row";
}

GRADED_TEST(LowRankGraded, LowRankConv2dMatchesTruncatedKernel, 6) {
  // Conv2d 3 -> 8, 3x3, padding 1: weight [8, 3, 3, 3] = the matrix [8, 27] with spectrum s.
  const std::vector<double> s = {2.0, 1.0, 0.5, 0.25, 0.12, 0.06, 0.03, 0.01};
  nibble::manual_seed(4);
  nibble::Conv2dOptions opt;
  opt.padding = 1;
  nibble::nn::Conv2d conv(3, 8, 3, opt);
  {
    nibble::NoGradGuard no_grad;
    const Tensor w = with_spectrum(8, 27, s, 51);
    std::copy(w.data(), w.data() + w.numel(), conv.weight.data());
  }
  nibble::manual_seed(5);
  const Tensor x = Tensor::randn({2, 3, 6, 5});
  auto full = nibble::nn::LowRankConv2d::from_conv(conv, 8);
  nibble::NoGradGuard no_grad;
  const Tensor y = conv.forward(x), yf = full->forward(x);
  ASSERT_EQ(yf.shape(), y.shape()) << "LowRankConv2d of a 3 -> 8, 3x3, padding 1 conv";
  EXPECT_LT(frobenius_diff(y, yf), 1e-4) << "rank 8 (full) must reproduce the conv";
  auto low = nibble::nn::LowRankConv2d::from_conv(conv, 3);
  double tail = 0.0;
  for (size_t i = 3; i < s.size(); ++i) tail += s[i] * s[i];
  EXPECT_NEAR(frobenius_diff(conv.weight, low->weight()), std::sqrt(tail), 1e-5) << "‖W − W_3‖_F of the rank-3 conv";
  const Tensor expect = nibble::conv2d(x, low->weight(), conv.bias, opt);
  EXPECT_LT(frobenius_diff(low->forward(x), expect), 1e-4) << "rank-3 forward = conv with W_3";
  EXPECT_EQ(low->macs_per_pixel(), 3 * 27 + 8 * 3) << "multiply-adds per output pixel";
}

GRADED_TEST(LowRankGraded, RejectsBadInput, 6) {
  // A valid call first, so this test cannot pass on a stub.
  ASSERT_NEAR(nibble::svd(Tensor::from_vector({0, 2, 0, 0}, {2, 2})).S.at({0}), 2.0, 1e-6)
      << "svd([[0, 2], [0, 0]])" << hint("write svd first");
  ASSERT_EQ(nibble::rank_for_energy(Tensor::from_vector({1}), 1.0), 1) << "rank_for_energy((1), 1)";
  const Tensor a = gaussian(4, 6, 1);
  EXPECT_TRUE(rejects([] { nibble::svd(Tensor::zeros({2, 2, 2})); }, "svd", "[2, 2, 2]"));
  EXPECT_TRUE(rejects([] { nibble::svd(Tensor::zeros({0, 3})); }, "svd", "[0, 3]"));
  EXPECT_TRUE(rejects([] { nibble::svd(Tensor::from_vector({1, NAN, 0, 1}, {2, 2})); }, "svd", "nan"));
  EXPECT_TRUE(rejects([&] { nibble::randomized_svd(a, 0); }, "randomized_svd", "rank = 0"));
  EXPECT_TRUE(rejects([&] { nibble::randomized_svd(a, 5); }, "randomized_svd", "rank = 5"));
  const Tensor s = Tensor::from_vector({2, 1});
  EXPECT_TRUE(rejects([&] { nibble::rank_for_energy(s, 0.0); }, "rank_for_energy", "energy = 0"));
  EXPECT_TRUE(rejects([&] { nibble::rank_for_energy(s, 1.5); }, "rank_for_energy", "energy = 1.5"));
  EXPECT_TRUE(rejects([&] { nibble::rank_for_error(s, 1.0); }, "rank_for_error", "max_relative_error = 1"));
  EXPECT_TRUE(rejects([&] { nibble::low_rank_approx(Svd{Tensor::eye(2), s, Tensor::eye(2)}, 3); }, "low_rank_approx", "rank = 3"));
  nibble::nn::Linear lin(5, 3);
  EXPECT_TRUE(rejects([&] { nibble::nn::LowRankLinear::from_linear(lin, 0); }, "from_linear", "rank = 0"));
  EXPECT_TRUE(rejects([&] { nibble::nn::LowRankLinear::from_linear(lin, 4); }, "from_linear", "rank = 4"));
}
