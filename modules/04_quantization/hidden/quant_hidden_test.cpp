// Module 04 — hidden (instructor-only) graded tests: random shapes, axes and bit widths against
// loops written here, 2-bit edges, the per-channel STE on random data, the entropy search against
// a reference written here in double precision, percentiles and moving averages on random data.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "compression/quantization.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "modules/04_quantization/tests/quant_testing.h"
#include "modules/graded.h"

namespace {

using nibble::QParams;
using nibble::QScheme;
using nibble::Shape;
using nibble::Tensor;
using namespace quant_testing;

// Channel of row-major element i for `shape` along `axis` (-1: 0).
int64_t channel(const Shape& shape, int64_t axis, int64_t i) {
  if (axis < 0) return 0;
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  return (i / inner) % shape[static_cast<size_t>(axis)];
}

// KL(p || q) in bits of two unnormalised vectors (inf when q misses p's support).
double kl_bits(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0, sq = 0;
  for (size_t i = 0; i < p.size(); ++i) sp += p[i], sq += q[i];
  double k = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    if (q[i] == 0) return std::numeric_limits<double>::infinity();
    k += p[i] / sp * std::log2((p[i] / sp) / (q[i] / sq));
  }
  return k;
}

// The TensorRT search as the header states it; returns every candidate's KL too.
double reference_threshold(const std::vector<double>& h, double w, int64_t nq, std::vector<double>* kls) {
  const int64_t n = static_cast<int64_t>(h.size());
  double best = std::numeric_limits<double>::infinity();
  int64_t bi = n;
  for (int64_t i = nq; i <= n; ++i) {
    std::vector<double> p(h.begin(), h.begin() + i), q(static_cast<size_t>(i), 0.0);
    double out = 0;
    for (int64_t k = i; k < n; ++k) out += h[static_cast<size_t>(k)];
    p.back() += out;
    for (int64_t j = 0; j < nq; ++j) {
      const int64_t b = j * i / nq, e = (j + 1) * i / nq;
      double s = 0;
      int nz = 0;
      for (int64_t k = b; k < e; ++k) s += h[static_cast<size_t>(k)], nz += p[static_cast<size_t>(k)] != 0;
      for (int64_t k = b; k < e; ++k)
        if (p[static_cast<size_t>(k)] != 0) q[static_cast<size_t>(k)] = s / nz;
    }
    double sq = 0;
    for (double v : q) sq += v;
    const double k = sq == 0 ? std::numeric_limits<double>::infinity() : kl_bits(p, q);
    kls->push_back(k);
    if (k < best) best = k, bi = i;
  }
  return double(bi) * w;
}

}  // namespace

GRADED_TEST(QuantHidden, RandomPerChannelAgainstLoops, 5) {
  std::mt19937_64 rng(404);
  for (int trial = 0; trial < 40; ++trial) {
    Shape shape;
    const int dims = 1 + int(rng() % 3);
    for (int d = 0; d < dims; ++d) shape.push_back(1 + int64_t(rng() % 5));
    int64_t numel = 1;
    for (auto s : shape) numel *= s;
    const int bits = 2 + int(rng() % 7);
    const nibble::QuantRange r = nibble::quant_range(bits, rng() % 2);
    const int64_t axis = rng() % 2 ? -1 : int64_t(rng() % dims);
    const int64_t channels = axis < 0 ? 1 : shape[size_t(axis)];
    QParams qp;
    qp.quant_min = r.quant_min, qp.quant_max = r.quant_max, qp.ch_axis = axis;
    for (int64_t c = 0; c < channels; ++c) {
      qp.scale.push_back(0.01f + float(rng() % 1000) / 500.0f);
      qp.zero_point.push_back(r.quant_min + int64_t(rng() % uint64_t(r.quant_max - r.quant_min + 1)));
    }
    std::vector<float> x = uniform(size_t(numel), -8.0f, 8.0f, 1000 + trial);
    for (size_t i = 0; i < x.size(); i += 3)  // exact ties: x / scale = k + 0.5
      x[i] = qp.scale[size_t(channel(shape, axis, int64_t(i)))] * (float(int(rng() % 9) - 4) + 0.5f);
    const std::vector<float> q = values(nibble::quantize(Tensor::from_vector(x, shape), qp));
    const std::vector<float> d = values(nibble::dequantize(Tensor::from_vector(q, shape), qp));
    for (int64_t i = 0; i < numel; ++i) {
      const size_t c = size_t(channel(shape, axis, i));
      const double want = std::clamp(round_half_even(double(x[size_t(i)]) / qp.scale[c]) + qp.zero_point[c],
                                     double(r.quant_min), double(r.quant_max));
      ASSERT_EQ(q[size_t(i)], float(want)) << "trial " << trial << ", element " << i << ", bits " << bits;
      ASSERT_NEAR(d[size_t(i)], qp.scale[c] * (want - qp.zero_point[c]), 1e-5) << "trial " << trial;
    }
    // calculate_qparams on random ranges against the formula.
    std::vector<float> lo, hi;
    for (int64_t c = 0; c < channels; ++c) {
      const float a = float(int(rng() % 200) - 100) / 7.0f, b = float(int(rng() % 200) - 100) / 7.0f;
      lo.push_back(std::min(a, b)), hi.push_back(std::max(a, b));
    }
    const bool sym = rng() % 2;
    const QParams got = nibble::calculate_qparams(lo, hi, sym, r.quant_min, r.quant_max, axis);
    ASSERT_EQ(got.scale.size(), size_t(channels));
    for (size_t c = 0; c < size_t(channels); ++c) {
      const double mn = std::min(lo[c], 0.0f), mx = std::max(hi[c], 0.0f), span = double(r.quant_max - r.quant_min);
      double s = sym ? std::max(-mn, mx) / (span / 2) : (mx - mn) / span;
      s = std::max(s, double(nibble::kMinScale));
      int64_t zp = sym ? (r.quant_min < 0 ? 0 : (r.quant_min + r.quant_max + 1) / 2)
                       : std::clamp(r.quant_min - int64_t(round_half_even(mn / s)), r.quant_min, r.quant_max);
      EXPECT_NEAR(got.scale[c], s, 1e-6 * s) << "trial " << trial << " channel " << c;
      EXPECT_EQ(got.zero_point[c], zp) << "trial " << trial << " channel " << c << " [" << lo[c] << ", " << hi[c] << "]";
    }
  }
}

GRADED_TEST(QuantHidden, TwoBitAndEightBitEdges, 4) {
  // 2 bits signed [-2, 1], symmetric [-1, 1]: scale 1 / 1.5; codes of (-1.1, -0.4, 0.3, 0.9).
  const QParams qp = nibble::calculate_qparams({-1.0f}, {1.0f}, true, -2, 1);
  EXPECT_NEAR(qp.scale[0], 1.0 / 1.5, 1e-7);
  // x / s = (-1.65, -0.6, 0.45, 1.35) -> (-2, -1, 0, 1) (away from ties: the float scale is inexact)
  const std::vector<float> q = values(nibble::quantize(Tensor::from_vector({-1.1f, -0.4f, 0.3f, 0.9f}), qp));
  EXPECT_EQ(q, (std::vector<float>{-2, -1, 0, 1}));
  // A [1] tensor and a constant tensor.
  EXPECT_EQ(values(nibble::quantize(Tensor::from_vector({2.5f}), per_tensor(1.0f, 0, 0, 3)))[0], 2.0f);
  const QParams c = nibble::calculate_qparams({3.0f}, {3.0f}, false, 0, 255);
  EXPECT_NEAR(c.scale[0], 3.0 / 255, 1e-8);
  EXPECT_EQ(c.zero_point[0], 0);
  // 8-bit signed affine, a range ending exactly on 0: [-2, 0] -> zero point 127.
  const QParams n = nibble::calculate_qparams({-2.0f}, {0.0f}, false, -128, 127);
  EXPECT_EQ(n.zero_point[0], 127);
  // The round trip at the ends of the range is exact.
  const QParams u = per_tensor(0.25f, 3, 0, 15);
  const std::vector<float> ends = values(nibble::fake_quantize(Tensor::from_vector({-0.75f, 3.0f}), u));
  EXPECT_EQ(ends, (std::vector<float>{-0.75f, 3.0f}));
}

GRADED_TEST(QuantHidden, SteGradientPerChannelRandom, 5) {
  std::mt19937_64 rng(4040);
  for (int trial = 0; trial < 10; ++trial) {
    const Shape shape{2 + int64_t(rng() % 3), 3, 2};
    const int64_t axis = int64_t(rng() % 3);
    const nibble::QuantRange r = nibble::quant_range(2 + int(rng() % 7), rng() % 2);
    QParams qp;
    qp.quant_min = r.quant_min, qp.quant_max = r.quant_max, qp.ch_axis = axis;
    for (int64_t c = 0; c < shape[size_t(axis)]; ++c) {
      qp.scale.push_back(0.05f + float(rng() % 100) / 100.0f);
      qp.zero_point.push_back(r.quant_min + int64_t(rng() % uint64_t(r.quant_max - r.quant_min + 1)));
    }
    const int64_t n = shape[0] * 6;
    const std::vector<float> x = uniform(size_t(n), -20.0f, 20.0f, 50 + trial), up = uniform(size_t(n), -1, 1, 90 + trial);
    Tensor xt = Tensor::from_vector(x, shape).requires_grad_();
    nibble::mul(nibble::fake_quantize(xt, qp), Tensor::from_vector(up, shape)).sum().backward();
    ASSERT_TRUE(xt.grad().defined()) << "trial " << trial;
    const std::vector<float> g = values(xt.grad());
    for (int64_t i = 0; i < n; ++i) {
      const size_t c = size_t(channel(shape, axis, i));
      const double code = round_half_even(double(x[size_t(i)]) / qp.scale[c]) + qp.zero_point[c];
      const bool inside = code >= r.quant_min && code <= r.quant_max;
      EXPECT_EQ(g[size_t(i)], inside ? up[size_t(i)] : 0.0f) << "trial " << trial << ", element " << i;
    }
  }
}

GRADED_TEST(QuantHidden, EntropyThresholdAgainstReference, 5) {
  std::mt19937_64 rng(4041);
  int checked = 0;
  for (int trial = 0; trial < 200 && checked < 60; ++trial) {
    const int64_t nq = 2 + int64_t(rng() % 7);
    const int64_t n = nq + int64_t(rng() % 40);
    std::vector<double> h(static_cast<size_t>(n));
    for (auto& v : h) v = rng() % 3 == 0 ? 0.0 : double(rng() % 50);
    h[0] += 1;
    std::vector<double> kls;
    const double want = reference_threshold(h, 0.125, nq, &kls);
    std::sort(kls.begin(), kls.end());
    if (kls.size() > 1 && kls[1] - kls[0] < 1e-9) continue;  // skip near-ties (rounding decides them)
    ++checked;
    EXPECT_DOUBLE_EQ(nibble::entropy_threshold(h, 0.125, nq), want) << "trial " << trial << ", nq " << nq << ", bins " << n;
  }
  EXPECT_GE(checked, 30);
}

GRADED_TEST(QuantHidden, PercentileAndMovingAverageRandom, 4) {
  std::mt19937_64 rng(4042);
  for (int trial = 0; trial < 30; ++trial) {
    const size_t n = 1 + rng() % 50;
    const std::vector<float> v = uniform(n, -5, 5, 300 + trial);
    const double q = double(rng() % 10001) / 100.0;
    std::vector<double> s(v.begin(), v.end());
    std::sort(s.begin(), s.end());
    const double pos = q / 100.0 * double(n - 1);
    const size_t k = size_t(pos);
    const double want = k + 1 < n ? s[k] * (1 - (pos - k)) + s[k + 1] * (pos - k) : s[k];
    EXPECT_NEAR(nibble::percentile(v, q), want, 1e-5) << "trial " << trial << ", q = " << q << ", n = " << n;
  }
  // Moving average over 10 batches of max m_t: closed form with weights c(1-c)^(T-1-t), first batch (1-c)^(T-1).
  const double c = 0.1;
  nibble::MovingAverageMinMaxObserver obs(c);
  std::vector<double> maxes;
  for (int t = 0; t < 10; ++t) {
    const double m = 1.0 + t % 4;
    maxes.push_back(m);
    obs.forward(Tensor::from_vector({-1.0f, float(m)}));
  }
  double want = maxes[0] * std::pow(1 - c, 9);
  for (int t = 1; t < 10; ++t) want += c * std::pow(1 - c, 9 - t) * maxes[size_t(t)];
  EXPECT_NEAR(obs.max_val()[0], want, 1e-5);
  EXPECT_NEAR(obs.min_val()[0], -1.0, 1e-6);
}

GRADED_TEST(QuantHidden, ObserversRejectBadInput, 3) {
  nibble::MinMaxObserver ok(QScheme::kPerChannelAffine, 8, false, 0);
  ok.forward(Tensor::from_vector({1, 2, 3, 4}, {2, 2}));
  ASSERT_EQ(ok.min_val().size(), 2u);
  EXPECT_TRUE(rejects([&] { ok.forward(Tensor::from_vector({1, 2, 3}, {3, 1})); }, "MinMaxObserver", "[3, 1]"));
  EXPECT_TRUE(rejects([] { nibble::MinMaxObserver().forward(Tensor::from_vector({1, NAN})); }, "MinMaxObserver", "nan"));
  EXPECT_TRUE(rejects([] { nibble::PercentileObserver(99.0, QScheme::kPerChannelAffine); }, "PercentileObserver", "per-channel"));
  EXPECT_TRUE(rejects([] { nibble::MovingAverageMinMaxObserver(0.0); }, "MovingAverageMinMaxObserver", "averaging_constant = 0"));
  EXPECT_TRUE(rejects([] { nibble::EntropyObserver().threshold(); }, "EntropyObserver", "saw no data"));
}
