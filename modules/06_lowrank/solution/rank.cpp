// Module 06 — low-rank: truncating an SVD and choosing the rank. The API, with what each function
// must do: compression/lowrank.h. Your code replaces each `throw nibble::NotImplemented`; the input
// checks before it are given.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "compression/lowrank.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble {

Tensor low_rank_approx(const Svd& svd, int64_t rank) {
  const int64_t p = svd.S.defined() && svd.S.dim() == 1 ? svd.S.size(0) : 0;
  validate_rank(rank, p, "low_rank_approx", "p = " + std::to_string(p) + " singular values");
  NoGradGuard no_grad;
  // BEGIN SOLUTION low_rank_approx
  const Svd k = truncate(svd, rank);    // U [m, k], S [k], Vh [k, n]; checks rank
  return matmul(mul(k.U, k.S), k.Vh);   // U_k diag(S_k): S scales the COLUMNS of U (broadcast)
  // END SOLUTION
}

int64_t rank_for_energy(const Tensor& S, double energy) {
  validate_singular_values(S, "rank_for_energy");
  NIBBLE_CHECK(std::isfinite(energy) && energy > 0.0 && energy <= 1.0, "rank_for_energy",
               "energy = " + std::to_string(energy) + " is outside (0, 1]",
               "energy is the fraction of Σσ² to keep, e.g. 0.9 or 0.99");
  // BEGIN SOLUTION rank_for_energy
  const std::vector<float> s = S.contiguous().to_vector();
  double total = 0.0;
  for (const float x : s) total += static_cast<double>(x) * x;
  if (total == 0.0) return 1;
  double kept = 0.0;
  for (size_t k = 0; k < s.size(); ++k) {
    kept += static_cast<double>(s[k]) * s[k];  // energy of the first k + 1 values
    if (kept >= energy * total) return static_cast<int64_t>(k) + 1;
  }
  return static_cast<int64_t>(s.size());
  // END SOLUTION
}

int64_t rank_for_error(const Tensor& S, double max_relative_error) {
  validate_singular_values(S, "rank_for_error");
  NIBBLE_CHECK(std::isfinite(max_relative_error) && max_relative_error >= 0.0 && max_relative_error < 1.0,
               "rank_for_error",
               "max_relative_error = " + std::to_string(max_relative_error) + " is outside [0, 1)",
               "it bounds ‖A − A_k‖_F / ‖A‖_F; 0.1 allows a 10% error");
  // BEGIN SOLUTION rank_for_error
  const std::vector<float> s = S.contiguous().to_vector();
  const size_t p = s.size();
  // tail[k] = Σ_{i>=k} σ_i², summed from the end so a tail of zeros is exactly 0.
  std::vector<double> tail(p + 1, 0.0);
  for (size_t i = p; i-- > 0;) tail[i] = tail[i + 1] + static_cast<double>(s[i]) * s[i];
  const double bound = max_relative_error * std::sqrt(tail[0]);
  for (size_t k = 1; k <= p; ++k)
    if (std::sqrt(tail[k]) <= bound) return static_cast<int64_t>(k);
  return static_cast<int64_t>(p);
  // END SOLUTION
}

}  // namespace nibble
