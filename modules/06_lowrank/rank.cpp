// modules/06_lowrank/rank.cpp — module 06: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.
// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)
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
  throw nibble::NotImplemented("module 06: low_rank_approx");
}

int64_t rank_for_energy(const Tensor& S, double energy) {
  validate_singular_values(S, "rank_for_energy");
  NIBBLE_CHECK(std::isfinite(energy) && energy > 0.0 && energy <= 1.0, "rank_for_energy",
               "energy = " + std::to_string(energy) + " is outside (0, 1]",
               "energy is the fraction of Σσ² to keep, e.g. 0.9 or 0.99");
  throw nibble::NotImplemented("module 06: rank_for_energy");
}

int64_t rank_for_error(const Tensor& S, double max_relative_error) {
  validate_singular_values(S, "rank_for_error");
  NIBBLE_CHECK(std::isfinite(max_relative_error) && max_relative_error >= 0.0 && max_relative_error < 1.0,
               "rank_for_error",
               "max_relative_error = " + std::to_string(max_relative_error) + " is outside [0, 1)",
               "it bounds ‖A − A_k‖_F / ‖A‖_F; 0.1 allows a 10% error");
  throw nibble::NotImplemented("module 06: rank_for_error");
}

}  // namespace nibble
