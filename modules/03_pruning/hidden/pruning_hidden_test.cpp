// Module 03 — hidden (instructor-only) graded tests: random masks, global pruning and N:M against
// brute force, the schedule's properties, removal of Conv2d filters, Taylor scores from a real
// loss. Expected values by brute force (sorting pairs in the test) or by hand.
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "compression/pruning.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "modules/graded.h"
#include "nn/linear.h"
#include "nn/models.h"

namespace {

using nibble::Tensor;

std::vector<float> values(const Tensor& t) { return t.contiguous().to_vector(); }

// Brute force: sort (pruned-before?, score, index) and zero the first `count`.
std::vector<float> brute_mask(const std::vector<float>& s, const std::vector<float>& old, double amount) {
  const auto count = static_cast<size_t>(std::llround(amount * static_cast<double>(s.size())));
  std::vector<std::pair<std::pair<int, float>, size_t>> key;
  for (size_t i = 0; i < s.size(); ++i) key.push_back({{old[i] == 0.0f ? 0 : 1, s[i]}, i});
  std::sort(key.begin(), key.end());
  std::vector<float> m = old;
  for (size_t i = 0; i < count && i < key.size(); ++i) m[key[i].second] = 0.0f;
  return m;
}

}  // namespace

GRADED_TEST(PruningHidden, RandomMasksAgainstBruteForce, 5) {
  std::mt19937_64 rng(303);
  for (int trial = 0; trial < 40; ++trial) {
    const size_t n = 1 + rng() % 60;
    std::vector<float> s(n), old(n);
    for (size_t i = 0; i < n; ++i) {
      s[i] = static_cast<float>(rng() % 9);
      old[i] = rng() % 5 == 0 ? 0.0f : 1.0f;
    }
    const double amount = static_cast<double>(rng() % 100) / 100.0;
    const Tensor sm = Tensor::from_vector(s), om = Tensor::from_vector(old);
    EXPECT_EQ(values(nibble::threshold_mask(sm, amount, om)), brute_mask(s, old, amount))
        << "trial " << trial << ", n = " << n << ", amount " << amount;
    EXPECT_EQ(values(nibble::threshold_mask(sm, amount)), brute_mask(s, std::vector<float>(n, 1.0f), amount))
        << "trial " << trial << " without a mask";
  }
  EXPECT_EQ(values(nibble::threshold_mask(Tensor::from_vector({5}), 0.4)), (std::vector<float>{1}))
      << "one entry at 0.4: round(0.4) = 0";
  EXPECT_EQ(values(nibble::threshold_mask(Tensor::from_vector({5}), 0.6)), (std::vector<float>{0}))
      << "one entry at 0.6: round(0.6) = 1";
}

GRADED_TEST(PruningHidden, GlobalAgainstBruteForce, 5) {
  std::mt19937_64 rng(304);
  for (int trial = 0; trial < 20; ++trial) {
    const int layers = 1 + static_cast<int>(rng() % 4);
    std::vector<Tensor> scores, masks;
    std::vector<float> all, old;
    for (int l = 0; l < layers; ++l) {
      const int64_t n = 1 + static_cast<int64_t>(rng() % 12);
      std::vector<float> s(static_cast<size_t>(n)), m(static_cast<size_t>(n));
      for (auto& x : s) x = static_cast<float>(rng() % 7) * static_cast<float>(l + 1);
      for (auto& x : m) x = rng() % 4 == 0 ? 0.0f : 1.0f;
      scores.push_back(Tensor::from_vector(s));
      masks.push_back(Tensor::from_vector(m));
      all.insert(all.end(), s.begin(), s.end());
      old.insert(old.end(), m.begin(), m.end());
    }
    const double amount = static_cast<double>(rng() % 95) / 100.0;
    const std::vector<float> want = brute_mask(all, old, amount);
    const auto got = nibble::global_threshold_masks(scores, amount, masks);
    ASSERT_EQ(got.size(), scores.size()) << "trial " << trial;
    std::vector<float> flat;
    for (const auto& g : got) {
      const auto v = values(g);
      flat.insert(flat.end(), v.begin(), v.end());
    }
    EXPECT_EQ(flat, want) << "trial " << trial << ", " << layers << " layers, amount " << amount;
  }
}

GRADED_TEST(PruningHidden, NMRandomAgainstBruteForce, 4) {
  std::mt19937_64 rng(305);
  const int64_t nm[][2] = {{2, 4}, {1, 4}, {4, 8}, {1, 2}, {3, 3}, {1, 1}};
  for (const auto& p : nm) {
    const int64_t n = p[0], m = p[1], rows = 3, K = m * 3;
    std::vector<float> w(static_cast<size_t>(rows * K));
    for (auto& x : w) x = static_cast<float>(static_cast<int>(rng() % 11) - 5);  // many ties
    const std::vector<float> got = values(nibble::nm_mask(Tensor::from_vector(w, {rows, K}), n, m));
    for (size_t g = 0; g < w.size(); g += static_cast<size_t>(m)) {
      std::vector<std::pair<float, size_t>> key;  // (−|w|, index): largest first, lower index on ties
      for (size_t j = 0; j < static_cast<size_t>(m); ++j) key.push_back({-std::fabs(w[g + j]), j});
      std::sort(key.begin(), key.end());
      std::vector<float> want(static_cast<size_t>(m), 0.0f);
      for (int64_t i = 0; i < n; ++i) want[key[static_cast<size_t>(i)].second] = 1.0f;
      EXPECT_EQ(std::vector<float>(got.begin() + static_cast<long>(g), got.begin() + static_cast<long>(g) + m), want)
          << n << ":" << m << " group at " << g;
    }
  }
}

GRADED_TEST(PruningHidden, ScheduleProperties, 4) {
  for (const double power : {1.0, 2.0, 3.0, 5.0}) {
    double prev = -1;
    for (int64_t t = -5; t <= 130; ++t) {
      const double s = nibble::polynomial_sparsity(t, 7, 107, 0.2, 0.95, power);
      EXPECT_GE(s, prev - 1e-15) << "not monotone at t = " << t << ", power " << power;
      EXPECT_GE(s, 0.2 - 1e-15) << "below s_i at t = " << t;
      EXPECT_LE(s, 0.95 + 1e-15) << "above s_f at t = " << t;
      prev = s;
    }
    EXPECT_DOUBLE_EQ(nibble::polynomial_sparsity(7, 7, 107, 0.2, 0.95, power), 0.2);
    EXPECT_NEAR(nibble::polynomial_sparsity(107, 7, 107, 0.2, 0.95, power), 0.95, 1e-12);
    EXPECT_NEAR(nibble::polynomial_sparsity(57, 7, 107, 0.2, 0.95, power), 0.95 - 0.75 * std::pow(0.5, power), 1e-12);
  }
  EXPECT_NEAR(nibble::cubic_sparsity(1, 0, 1000, 0.0, 0.9), 0.9 * (1 - std::pow(0.999, 3)), 1e-12) << "first step";
}

GRADED_TEST(PruningHidden, ConvFilterRemoval, 4) {
  nibble::manual_seed(31);
  auto masked = std::make_shared<nibble::nn::FashionCnn>();
  auto removed = masked->clone_as<nibble::nn::FashionCnn>();
  nibble::ln_structured(*masked, "conv1", 0.25, 2);
  const auto keep = nibble::prune_neurons(*removed, "conv1", "conv2", 0.25, 2);
  ASSERT_EQ(keep.size(), 6u) << "8 filters, 25% removed";
  EXPECT_EQ(removed->conv1().out_channels, 6);
  EXPECT_EQ(removed->conv2().in_channels, 6);
  const Tensor x = Tensor::rand({3, 1, 28, 28});
  EXPECT_EQ(values((*masked)(x)), values((*removed)(x))) << "conv1 -> conv2 removal equals the masked model";
  // conv2 -> fc through a flatten: equal up to the GEMM's blocking of K = 784 (not bit for bit).
  auto masked2 = std::make_shared<nibble::nn::FashionCnn>();
  auto removed2 = masked2->clone_as<nibble::nn::FashionCnn>();
  nibble::ln_structured(*masked2, "conv2", 0.5, 1);
  nibble::prune_neurons(*removed2, "conv2", "fc", 0.5, 1);
  EXPECT_EQ(removed2->fc().in_features, 8 * 49);
  const auto a = values((*masked2)(x)), b = values((*removed2)(x));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << "conv2 -> fc output " << i;
}

GRADED_TEST(PruningHidden, TaylorFromRealGradients, 4) {
  // Two batches; L_b = Σ (W x_b): mean gradient of W_ij is the mean of x_bj.
  nibble::nn::Linear fc(2, 2, false);
  const std::vector<float> w = {1.0f, -2.0f, 0.5f, 4.0f};
  std::copy(w.begin(), w.end(), fc.weight.data());
  const std::vector<Tensor> xs = {Tensor::from_vector({1, 3}, {1, 2}), Tensor::from_vector({3, -1}, {1, 2})};
  const auto scores = nibble::importance_scores(fc, {""}, nibble::Importance::Taylor, 2,
                                                [&](int64_t b) { return fc(xs[static_cast<size_t>(b)]).sum(); });
  const std::vector<float> s = values(scores.at(""));
  const float mean_x[2] = {2.0f, 1.0f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s[i], std::fabs(w[i] * mean_x[i % 2]), 1e-5) << "Taylor score " << i;
  EXPECT_EQ(values(nibble::taylor_scores(Tensor::from_vector({-3}), Tensor::from_vector({-2}))),
            (std::vector<float>{6})) << "both negative";
}
