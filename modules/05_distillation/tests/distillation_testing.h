// Shared by module 05's graded and hidden tests: independent references in double precision,
// written with plain loops from the definitions (never with the code under test).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace distill_testing {

using nibble::Tensor;

inline std::vector<double> values(const Tensor& t) {
  const std::vector<float> v = t.contiguous().to_vector();
  return std::vector<double>(v.begin(), v.end());
}

// softmax(row / T) of every row of a [N, C] tensor.
inline std::vector<std::vector<double>> ref_softmax(const Tensor& logits, double T) {
  const std::vector<double> v = values(logits);
  const size_t c = static_cast<size_t>(logits.size(-1));
  std::vector<std::vector<double>> rows;
  for (size_t r = 0; r * c < v.size(); ++r) {
    double mx = -1e300;
    for (size_t j = 0; j < c; ++j) mx = std::max(mx, v[r * c + j] / T);
    std::vector<double> p(c);
    double z = 0.0;
    for (size_t j = 0; j < c; ++j) z += p[j] = std::exp(v[r * c + j] / T - mx);
    for (double& x : p) x /= z;
    rows.push_back(p);
  }
  return rows;
}

// PyTorch: kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T².
inline double ref_kd(const Tensor& student, const Tensor& teacher, double T) {
  const auto ps = ref_softmax(student, T), pt = ref_softmax(teacher, T);
  double total = 0.0;
  for (size_t r = 0; r < ps.size(); ++r)
    for (size_t j = 0; j < ps[r].size(); ++j)
      if (pt[r][j] > 0.0) total += pt[r][j] * (std::log(pt[r][j]) - std::log(ps[r][j]));
  return total / static_cast<double>(ps.size()) * T * T;
}

// Mean cross-entropy of the logits (T = 1) against class labels, in nats.
inline double ref_ce(const Tensor& logits, const std::vector<int64_t>& labels) {
  const auto p = ref_softmax(logits, 1.0);
  double total = 0.0;
  for (size_t r = 0; r < p.size(); ++r) total -= std::log(p[r][static_cast<size_t>(labels[r])]);
  return total / static_cast<double>(p.size());
}

inline double ref_entropy_bits(const std::vector<double>& p) {
  double h = 0.0;
  for (const double x : p)
    if (x > 0.0) h -= x * std::log2(x);
  return h;
}

// KL(teacher row ‖ student row) per row of [..., K], averaged over the rows, nats.
inline double ref_attention_kl(const Tensor& student, const Tensor& teacher) {
  const std::vector<double> s = values(student), t = values(teacher);
  const size_t k = static_cast<size_t>(student.size(-1));
  double total = 0.0;
  size_t rows = 0;
  for (size_t r = 0; r * k < s.size(); ++r, ++rows)
    for (size_t j = 0; j < k; ++j)
      if (t[r * k + j] > 0.0) total += t[r * k + j] * std::log(t[r * k + j] / s[r * k + j]);
  return total / static_cast<double>(rows);
}

// Zagoruyko–Komodakis map of [N, C, H, W]: Σ_c a², flattened, divided by its L2 norm, [N][H·W].
inline std::vector<std::vector<double>> ref_attention_map(const Tensor& a) {
  const std::vector<double> v = values(a);
  const size_t n = static_cast<size_t>(a.size(0)), c = static_cast<size_t>(a.size(1)),
               hw = static_cast<size_t>(a.size(2) * a.size(3));
  std::vector<std::vector<double>> maps(n, std::vector<double>(hw, 0.0));
  for (size_t i = 0; i < n; ++i) {
    for (size_t ch = 0; ch < c; ++ch)
      for (size_t j = 0; j < hw; ++j) maps[i][j] += v[(i * c + ch) * hw + j] * v[(i * c + ch) * hw + j];
    double norm = 0.0;
    for (const double x : maps[i]) norm += x * x;
    norm = std::sqrt(norm);
    if (norm > 0.0)
      for (double& x : maps[i]) x /= norm;
  }
  return maps;
}

// (1 − p_max)·H(rest renormalised) per row, averaged.
inline double ref_dark(const Tensor& logits, double T) {
  const auto rows = ref_softmax(logits, T);
  double total = 0.0;
  for (const auto& p : rows) {
    size_t top = 0;
    for (size_t j = 1; j < p.size(); ++j)
      if (p[j] > p[top]) top = j;
    const double rest = 1.0 - p[top];
    if (rest <= 0.0) continue;
    std::vector<double> q;
    for (size_t j = 0; j < p.size(); ++j)
      if (j != top) q.push_back(p[j] / rest);
    total += rest * ref_entropy_bits(q);
  }
  return total / static_cast<double>(rows.size());
}

// A softmax'd random-ish [B, H, Tq, Tk] tensor from fixed scores, every row different.
inline Tensor attention_weights(int64_t B, int64_t H, int64_t Tq, int64_t Tk, double phase) {
  std::vector<float> w;
  for (int64_t r = 0; r < B * H * Tq; ++r) {
    std::vector<double> s(static_cast<size_t>(Tk));
    double z = 0.0;
    for (int64_t j = 0; j < Tk; ++j)
      z += s[static_cast<size_t>(j)] = std::exp(1.7 * std::sin(phase + 0.9 * static_cast<double>(r) +
                                                               1.3 * static_cast<double>(j * j)));
    for (const double x : s) w.push_back(static_cast<float>(x / z));
  }
  return Tensor::from_vector(w, {B, H, Tq, Tk});
}

}  // namespace distill_testing
