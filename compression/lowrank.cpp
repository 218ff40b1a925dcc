// The given part of compression/lowrank.h: input checks, truncation and rank by ratio. The SVD and
// the other rank rules are module 06's (modules/06_lowrank/solution/svd.cpp, rank.cpp).
#include "compression/lowrank.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"

namespace nibble {

void validate_matrix(const Tensor& a, const std::string& function) {
  NIBBLE_CHECK(a.defined() && a.dim() == 2, function,
               "expects a 2-D matrix [m, n], got " + (a.defined() ? a.shape_str() : std::string("(undefined)")),
               "flatten a conv weight [OC, IC, KH, KW] to [OC, IC*KH*KW] with reshape first");
  NIBBLE_CHECK(a.size(0) > 0 && a.size(1) > 0, function, "the matrix " + a.shape_str() + " is empty",
               "an SVD needs at least one row and one column");
  NoGradGuard no_grad;
  const Tensor c = a.contiguous();
  const float* p = c.data();
  const int64_t n = a.size(1);
  for (int64_t i = 0; i < c.numel(); ++i)
    NIBBLE_CHECK(std::isfinite(p[i]), function,
                 "the matrix " + a.shape_str() + " holds " + std::to_string(p[i]) + " at [" +
                     std::to_string(i / n) + ", " + std::to_string(i % n) + "]",
                 "every entry must be finite; look for a diverged training run or a division by zero");
}

void validate_rank(int64_t rank, int64_t limit, const std::string& function, const std::string& what) {
  NIBBLE_CHECK(rank >= 1 && rank <= limit, function,
               "rank = " + std::to_string(rank) + " is outside [1, " + what + "]",
               "a rank counts the singular values kept: at least 1, at most the smaller side of the matrix");
}

void validate_singular_values(const Tensor& S, const std::string& function) {
  NIBBLE_CHECK(S.defined() && S.dim() == 1 && S.size(0) > 0, function,
               "expects singular values S [p], p >= 1, got " + (S.defined() ? S.shape_str() : std::string("(undefined)")),
               "pass the S of an Svd");
  const std::vector<float> s = S.contiguous().to_vector();
  for (size_t i = 0; i < s.size(); ++i) {
    NIBBLE_CHECK(std::isfinite(s[i]) && s[i] >= 0.0f, function,
                 "S[" + std::to_string(i) + "] = " + std::to_string(s[i]) + " is not a singular value",
                 "singular values are finite and >= 0");
    NIBBLE_CHECK(i == 0 || s[i] <= s[i - 1], function,
                 "S is not descending: S[" + std::to_string(i - 1) + "] = " + std::to_string(s[i - 1]) +
                     " < S[" + std::to_string(i) + "] = " + std::to_string(s[i]),
                 "svd() returns S sorted largest first; sort it (with U and Vh) before choosing a rank");
  }
}

void canonicalize_signs(Svd& svd) {
  NIBBLE_CHECK(svd.U.defined() && svd.Vh.defined() && svd.U.dim() == 2 && svd.Vh.dim() == 2 &&
                   svd.U.size(1) == svd.Vh.size(0),
               "canonicalize_signs", "expects U [m, p] and Vh [p, n], got " +
                   (svd.U.defined() ? svd.U.shape_str() : "(undefined)") + " and " +
                   (svd.Vh.defined() ? svd.Vh.shape_str() : "(undefined)"));
  NoGradGuard no_grad;
  svd.U = svd.U.contiguous().clone();
  svd.Vh = svd.Vh.contiguous().clone();
  const int64_t m = svd.U.size(0), p = svd.U.size(1), n = svd.Vh.size(1);
  float* u = svd.U.data();
  float* vh = svd.Vh.data();
  for (int64_t j = 0; j < p; ++j) {
    int64_t best = 0;
    for (int64_t i = 1; i < m; ++i)
      if (std::fabs(u[i * p + j]) > std::fabs(u[best * p + j])) best = i;
    if (u[best * p + j] >= 0.0f) continue;
    for (int64_t i = 0; i < m; ++i) u[i * p + j] = -u[i * p + j];
    for (int64_t c = 0; c < n; ++c) vh[j * n + c] = -vh[j * n + c];
  }
}

Svd truncate(const Svd& svd, int64_t rank) {
  NIBBLE_CHECK(svd.U.defined() && svd.S.defined() && svd.Vh.defined() && svd.S.dim() == 1 &&
                   svd.U.dim() == 2 && svd.Vh.dim() == 2 && svd.U.size(1) == svd.S.size(0) &&
                   svd.Vh.size(0) == svd.S.size(0),
               "truncate", "expects U [m, p], S [p], Vh [p, n], got " +
                   (svd.U.defined() ? svd.U.shape_str() : "(undefined)") + ", " +
                   (svd.S.defined() ? svd.S.shape_str() : "(undefined)") + ", " +
                   (svd.Vh.defined() ? svd.Vh.shape_str() : "(undefined)"));
  validate_rank(rank, svd.S.size(0), "truncate", "p = " + std::to_string(svd.S.size(0)));
  return {svd.U.slice(1, 0, rank).contiguous(), svd.S.slice(0, 0, rank).contiguous(),
          svd.Vh.slice(0, 0, rank).contiguous()};
}

int64_t rank_for_ratio(int64_t m, int64_t n, double ratio) {
  NIBBLE_CHECK(m > 0 && n > 0, "rank_for_ratio",
               "m = " + std::to_string(m) + ", n = " + std::to_string(n) + " must be positive");
  NIBBLE_CHECK(std::isfinite(ratio) && ratio > 0.0, "rank_for_ratio",
               "ratio = " + std::to_string(ratio) + " must be finite and > 0",
               "0.25 keeps a quarter of the dense matrix's numbers");
  const double k = std::floor(ratio * static_cast<double>(m) * static_cast<double>(n) /
                              static_cast<double>(m + n));
  return std::clamp<int64_t>(static_cast<int64_t>(std::min(k, 1e18)), 1, std::min(m, n));
}

}  // namespace nibble
