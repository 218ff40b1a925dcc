// Low-rank approximation (course module 06; lesson: modules/06_lowrank/README.md).
//
// A weight matrix W [m, n] whose singular values fall fast carries far fewer numbers' worth of
// information than its m·n entries. Its singular value decomposition W = U diag(S) Vh gives, by the
// Eckart–Young theorem, the best rank-k approximation W_k = U_k diag(S_k) Vh_k, with the error
//   ‖W − W_k‖_F = sqrt(Σ_{i>k} σ_i²)          (no rank-k matrix is closer in Frobenius norm).
// Stored as two factors it costs k(m + n) numbers instead of m·n.
//
// Everything here is written from scratch: no LAPACK (a LAPACK oracle checks it in
// tests/compression/svd_lapack_test.cpp, which is never linked into the library).
// Module 06 owns svd.cpp and rank.cpp (the functions marked "module 06" below); the checks and
// the helpers marked "given" are library code in compression/lowrank.cpp.
//
// Conventions: matrices are 2-D float tensors [m, n], non-empty, every entry finite. Results are
// plain tensors, not on the autograd tape (no gradient flows through an SVD here). Bad input
// throws nibble::Error naming the function, the argument and its value.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace nibble {

// The thin SVD, as torch.linalg.svd(A, full_matrices=False) returns it, for A [m, n], p = min(m, n):
//   U [m, p] orthonormal columns, S [p] descending and >= 0, Vh [p, n] orthonormal rows,
//   A = U diag(S) Vh.
// Sign rule (ours, so results are reproducible and comparable; sklearn's svd_flip uses the same):
//   the entry of largest magnitude in each column of U is positive (the first one on exact ties);
//   the matching row of Vh is flipped with it, so U diag(S) Vh is unchanged.
// A truncated result (randomized_svd, truncate) has the same layout with p = k.
struct Svd {
  Tensor U;   // [m, p]
  Tensor S;   // [p]
  Tensor Vh;  // [p, n]
};

// ---- checks and small helpers (given, compression/lowrank.cpp) ----------------------------------
// Throws nibble::Error naming `function` unless a is a defined, non-empty 2-D tensor of finite
// values (the message names the shape, or the first NaN/inf and its position).
void validate_matrix(const Tensor& a, const std::string& function);
// Throws unless 1 <= rank <= limit; `what` names the limit in the message, e.g. "min(m, n) = 4".
void validate_rank(int64_t rank, int64_t limit, const std::string& function, const std::string& what);
// Throws unless S is a defined, non-empty 1-D tensor of finite values >= 0 in descending order.
void validate_singular_values(const Tensor& S, const std::string& function);

// Applies the sign rule of Svd: svd.U and svd.Vh become copies in which column j of U and row j of
// Vh are negated when the entry of largest magnitude of U's column j (the first one on exact ties)
// is negative.
void canonicalize_signs(Svd& svd);

// The first k singular triples: U[:, :k], S[:k], Vh[:k, :]. Needs 1 <= k <= S.size(0).
Svd truncate(const Svd& svd, int64_t rank);

// Rank by ratio: the largest k whose two factors store at most `ratio` of the dense matrix's
// numbers, k(m + n) <= ratio·m·n, clipped to [1, min(m, n)]. ratio must be finite and > 0.
// EXAMPLE: 784 x 300 at ratio 0.25 -> floor(0.25·235200/1084) = 54.
int64_t rank_for_ratio(int64_t m, int64_t n, double ratio);

// ---- module 06: svd.cpp ----------------------------------------------------------------------------

// TODO: an orthonormal basis of the columns of a [m, l] (l <= m): Q [m, l] with QᵀQ = I, where the
//   first j columns of Q span the first j columns of a (a QR factorisation's Q).
// APPROACH: modified Gram–Schmidt in double precision, each column projected twice ("twice is
//   enough": the second pass removes what rounding left of the first). A column that is (almost)
//   in the span of the previous ones — remaining norm <= 1e-12 of its original norm, or zero to
//   begin with — is replaced by a completion: the standard basis vector with the largest part
//   outside the span, orthonormalised (the given helper complete_column).
// EXAMPLE: a = [[3, 1], [4, 2]] -> q0 = (0.6, 0.8); 1-column remainder (1,2) - 2.2·(0.6,0.8)
//   = (-0.32, 0.24), normalised: q1 = (-0.8, 0.6).
// HINTS: work in the given column-major double matrix; subtract (q_i · v) q_i from v for every
//   earlier i, then again, then divide by the norm.
Tensor orthonormalize_columns(const Tensor& a);

// TODO: the thin SVD of a [m, n] by the one-sided Jacobi method (Hestenes 1958).
// APPROACH: if m < n, decompose aᵀ and swap the roles of U and V at the end. Otherwise let
//   W = a (in double) and V = I [n, n]. Sweep over all column pairs p < q: with α = ‖w_p‖²,
//   β = ‖w_q‖², γ = w_p·w_q, skip when |γ| <= 1e-13·sqrt(αβ) (already orthogonal), else rotate
//   columns p and q of W and of V by the Jacobi rotation that makes them orthogonal:
//     ζ = (β − α) / (2γ), t = sign(ζ) / (|ζ| + sqrt(1 + ζ²)), c = 1 / sqrt(1 + t²), s = c·t,
//     w_p <- c·w_p − s·w_q,  w_q <- s·w_p + c·w_q   (both from the old values; same for V).
//   Repeat sweeps until one makes no rotation (at most 60). Then σ_j = ‖w_j‖, u_j = w_j / σ_j,
//   v_j = column j of V. Sort by σ descending, return U, S, Vh = Vᵀ with the sign rule applied (canonicalize_signs).
//   A σ_j <= 1e-12·σ_max (or every σ zero) has no direction of its own: complete u_j.
// EXAMPLE: a = [[3, 0], [4, 5]] -> S = (√45, √5) = (6.7082, 2.2361);
//   u0 = (1, 3)/√10, v0 = (1, 1)/√2, u1 = (3, −1)/√10 with v1 = (1, −1)/√2 after the sign rule.
// HINTS: accumulate dot products in double even though the input is float; stop after a sweep
//   with no rotation, not after a fixed count; columns of the given DMatrix are contiguous.
// Accuracy: measured 4e-8 relative on the singular values of a 512 x 512 float matrix (README table).
Svd svd(const Tensor& a);

struct RandomizedSvdOptions {
  int64_t oversample = 10;   // extra sketch columns p: the sketch has l = min(k + p, min(m, n))
  int64_t power_iters = 2;   // q: sketch (A Aᵀ)^q A Ω, re-orthonormalised at every step
  uint64_t seed = 0;         // Ω is drawn from std::mt19937_64(seed), standard normal
};

// TODO: the top `rank` singular triples by a randomized range finder (Halko, Martinsson and Tropp
//   2011, algorithms 4.4 and 5.1): Svd with U [m, k], S [k], Vh [k, n].
// APPROACH: Ω [n, l] Gaussian; Q = orth(A Ω); q times: Q = orth(A orth(Aᵀ Q)); then B = Qᵀ A [l, n],
//   (Ub, S, Vh) = svd(B), U = Q Ub, keep the first k (truncate), apply the sign rule.
//   orth = orthonormalize_columns.
// EXAMPLE: for a matrix of exact rank r <= k + p the result equals svd(a) truncated to k (up to
//   float rounding); with a slowly decaying spectrum the small σ are underestimated.
// HINTS: matmul and .t() on float tensors are fine for the products; orthonormalise after EVERY
//   product with A or Aᵀ, otherwise every column turns towards the top singular vector.
// Errors: rank outside [1, min(m, n)], oversample < 0 or power_iters < 0.
Svd randomized_svd(const Tensor& a, int64_t rank, const RandomizedSvdOptions& options = {});

// ---- module 06: rank.cpp -----------------------------------------------------------------------------

// TODO: the rank-k approximation U_k diag(S_k) Vh_k [m, n] from an Svd (k = rank; 1 <= k <= p).
// EXAMPLE: U = I2, S = (3, 1), Vh = I2, k = 1 -> [[3, 0], [0, 0]].
// HINTS: scale the columns of U_k by S_k (broadcast), then matmul with Vh_k.
Tensor low_rank_approx(const Svd& svd, int64_t rank);

// TODO: rank by energy: the smallest k with Σ_{i<k} σ_i² >= energy · Σ_i σ_i² (energy in (0, 1]).
//   S descending and >= 0 (as svd returns it). All σ zero -> 1.
// EXAMPLE: S = (2, 1, 1, 1, 1): σ² = 4, 1, 1, 1, 1 (total 8); energy 0.5 -> 1, 0.6 -> 2, 1 -> 5.
// HINTS: energy is about σ², not σ. Sum in double.
int64_t rank_for_energy(const Tensor& S, double energy);

// TODO: rank by a Frobenius error bound: the smallest k whose truncation error, relative to the
//   matrix, is at most max_relative_error: sqrt(Σ_{i>=k} σ_i²) <= max_relative_error · sqrt(Σ σ_i²)
//   (Eckart–Young: the left side is ‖A − A_k‖_F / ‖A‖_F). max_relative_error in [0, 1). At least 1.
// EXAMPLE: S = (2, 1, 1, 1, 1): tails after k = 1, 2, 3, 4, 5 are sqrt(4, 3, 2, 1, 0)/sqrt(8);
//   max 0.5 (= sqrt(2)/sqrt(8)) -> 3; max 0.4 -> 4; max 0 -> 5.
int64_t rank_for_error(const Tensor& S, double max_relative_error);

}  // namespace nibble
