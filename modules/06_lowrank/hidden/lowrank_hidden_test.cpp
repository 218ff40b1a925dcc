// Module 06 — hidden (instructor-only) graded tests: random shapes down to 1 x 1, an
// ill-conditioned spectrum, a larger matrix, randomized SVD on exact-rank input, the rank rules
// against brute force, dependent columns. Expected values from lowrank_testing.h or brute force.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "compression/lowrank.h"
#include "modules/06_lowrank/tests/lowrank_testing.h"
#include "modules/graded.h"

namespace {

using nibble::Shape;
using nibble::Svd;
using nibble::Tensor;
using namespace lowrank_testing;

}  // namespace

GRADED_TEST(LowRankHidden, RandomShapesProperties, 5) {
  std::mt19937_64 rng(606);
  for (int trial = 0; trial < 25; ++trial) {
    const int64_t m = 1 + static_cast<int64_t>(rng() % 17), n = 1 + static_cast<int64_t>(rng() % 17);
    const Tensor a = gaussian(m, n, 1000 + trial);
    const Svd s = nibble::svd(a);
    const int64_t p = std::min(m, n);
    ASSERT_EQ(s.U.shape(), (Shape{m, p})) << "trial " << trial;
    ASSERT_EQ(s.Vh.shape(), (Shape{p, n})) << "trial " << trial;
    EXPECT_LT(orthonormality_error(s.U, true), 1e-5) << "U, [" << m << ", " << n << "]";
    EXPECT_LT(orthonormality_error(s.Vh, false), 1e-5) << "Vh, [" << m << ", " << n << "]";
    EXPECT_LT(reconstruction_error(a, s), 1e-4) << "[" << m << ", " << n << "]";
    EXPECT_TRUE(signs_canonical(s.U)) << "[" << m << ", " << n << "]";
    for (int64_t i = 1; i < p; ++i) EXPECT_LE(s.S.at({i}), s.S.at({i - 1})) << "[" << m << ", " << n << "]";
  }
  const Svd one = nibble::svd(Tensor::from_vector({-2}, {1, 1}));
  EXPECT_NEAR(one.S.at({0}), 2.0, 1e-7) << "svd([[-2]])";
  EXPECT_NEAR(one.U.at({0, 0}), 1.0, 1e-7) << "svd([[-2]]): U = 1 by the sign rule";
  EXPECT_NEAR(one.Vh.at({0, 0}), -1.0, 1e-7) << "svd([[-2]]): Vh = -1";
}

GRADED_TEST(LowRankHidden, IllConditionedSpectrum, 5) {
  // s from 1 down to 1e-6 (condition number 1e6) in a [50, 40] float matrix.
  std::vector<double> s;
  for (int i = 0; i < 40; ++i) s.push_back(std::pow(10.0, -6.0 * i / 39.0));
  const Tensor a = with_spectrum(50, 40, s, 77);
  const Svd got = nibble::svd(a);
  for (int64_t i = 0; i < 40; ++i) EXPECT_NEAR(got.S.at({i}), s[i], 1e-6) << "σ" << i;
  EXPECT_LT(orthonormality_error(got.U, true), 1e-5) << "U of an ill-conditioned matrix";
  EXPECT_LT(orthonormality_error(got.Vh, false), 1e-5) << "Vh of an ill-conditioned matrix";
}

GRADED_TEST(LowRankHidden, Svd256Accuracy, 4) {
  const Tensor a = gaussian(256, 200, 256);
  const Svd s = nibble::svd(a);
  EXPECT_LT(orthonormality_error(s.U, true), 1e-5) << "U of a Gaussian [256, 200]";
  EXPECT_LT(orthonormality_error(s.Vh, false), 1e-5) << "Vh of a Gaussian [256, 200]";
  EXPECT_LT(reconstruction_error(a, s), 2e-4) << "reconstruction of a Gaussian [256, 200]";
}

GRADED_TEST(LowRankHidden, RandomizedExactRankAndOptions, 4) {
  // Exact rank 6: the randomized SVD of rank 6 recovers it; with no oversampling and no power
  // iteration too (the sketch already spans the range).
  const std::vector<double> s = {5, 4, 3, 2, 1, 0.5};
  const Tensor a = with_spectrum(70, 50, s, 88);
  nibble::RandomizedSvdOptions bare;
  bare.oversample = 0;
  bare.power_iters = 0;
  for (const auto& opt : {nibble::RandomizedSvdOptions{}, bare}) {
    const Svd r = nibble::randomized_svd(a, 6, opt);
    for (int64_t i = 0; i < 6; ++i) EXPECT_NEAR(r.S.at({i}), s[i], 1e-5) << "σ" << i << " of an exact rank-6 matrix";
    EXPECT_LT(reconstruction_error(a, r), 1e-5) << "rank-6 reconstruction";
    EXPECT_TRUE(signs_canonical(r.U)) << "sign rule on randomized U";
  }
  // k = min(m, n): the sketch is the whole space.
  const Tensor g = gaussian(9, 6, 89);
  const Svd r = nibble::randomized_svd(g, 6);
  EXPECT_LT(reconstruction_error(g, r), 1e-4) << "randomized_svd(a [9, 6], 6)";
}

GRADED_TEST(LowRankHidden, RankRulesAgainstBruteForce, 4) {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int trial = 0; trial < 30; ++trial) {
    const int p = 1 + static_cast<int>(rng() % 12);
    std::vector<float> s;
    for (int i = 0; i < p; ++i) s.push_back(static_cast<float>(u(rng) * 3));
    std::sort(s.rbegin(), s.rend());
    const double energy = 0.05 + 0.95 * u(rng), err = 0.95 * u(rng);
    double total = 0.0;
    for (float x : s) total += double(x) * x;
    int64_t want_e = p, want_f = p;
    for (int k = p; k >= 1; --k) {
      double kept = 0.0, tail = 0.0;
      for (int i = 0; i < p; ++i) (i < k ? kept : tail) += double(s[i]) * s[i];
      if (kept >= energy * total) want_e = k;
      if (std::sqrt(tail) <= err * std::sqrt(total)) want_f = k;
    }
    const Tensor S = Tensor::from_vector(s);
    EXPECT_EQ(nibble::rank_for_energy(S, energy), want_e) << "trial " << trial << ", energy " << energy;
    EXPECT_EQ(nibble::rank_for_error(S, err), want_f) << "trial " << trial << ", max error " << err;
  }
}

GRADED_TEST(LowRankHidden, OrthonormalizeDependentColumns, 3) {
  // Columns: a, 2a, zero, b: Q must be orthonormal and q_0 = a/|a|, q_3 ⟂ q_0 in span(a, b).
  const Tensor m = Tensor::from_vector({1, 2, 0, 0, 1, 2, 0, 1, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 0, 3}, {5, 4});
  const Tensor q = nibble::orthonormalize_columns(m);
  EXPECT_LT(orthonormality_error(q, true), 1e-6) << "columns a, 2a, 0, b";
  EXPECT_NEAR(q.at({0, 0}), 1.0 / std::sqrt(3.0), 1e-6) << "q_0 = a / |a|";
  const Tensor single = nibble::orthonormalize_columns(Tensor::from_vector({0, -3, 4}, {3, 1}));
  EXPECT_NEAR(single.at({1, 0}), -0.6, 1e-6) << "one column (0, -3, 4)";
}
