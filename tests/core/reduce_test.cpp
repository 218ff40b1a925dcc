// Reductions (sum, mean, max, min, var, argmax, norm) and cumsum: forward values against hand computations and a
// double-precision reference written here (multi-index loops, independent of the [outer, n, inner]
// arithmetic in core/ops/reduce.cpp); gradients against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;
using testing::unravel;

// Reference reduction along `axis` (non-negative) in double: for every output index, collects the
// slice along the axis through Tensor::at() and hands it to `f`. Returns values in row-major order
// over the remaining axes (the keepdim=false layout, which is also the keepdim=true layout).
std::vector<double> reference_reduce(const Tensor& x, int64_t axis,
                                     const std::function<double(const std::vector<double>&)>& f) {
  Shape rest = x.shape();
  rest.erase(rest.begin() + axis);
  std::vector<double> result;
  for (int64_t flat = 0; flat < numel_of(rest); ++flat) {
    std::vector<int64_t> index = unravel(flat, rest);
    index.insert(index.begin() + axis, 0);
    std::vector<double> slice;
    for (int64_t k = 0; k < x.shape()[axis]; ++k) {
      index[axis] = k;
      slice.push_back(x.at(index));
    }
    result.push_back(f(slice));
  }
  return result;
}

std::vector<double> as_doubles(const Tensor& t) {
  const std::vector<float> f = t.to_vector();
  return std::vector<double>(f.begin(), f.end());
}

double ref_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
double ref_mean(const std::vector<double>& v) { return ref_sum(v) / static_cast<double>(v.size()); }
double ref_max(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) m = std::max(m, x);
  return m;
}
double ref_min(const std::vector<double>& v) {
  double m = std::numeric_limits<double>::infinity();
  for (double x : v) m = std::min(m, x);
  return m;
}
double ref_argmax(const std::vector<double>& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = i;
  }
  return static_cast<double>(best);
}
double ref_var(const std::vector<double>& v, bool unbiased) {
  const double m = ref_mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size() - (unbiased ? 1 : 0));
}

void expect_values_near(const Tensor& got, const std::vector<double>& want, double tol) {
  const std::vector<float> g = got.to_vector();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], tol) << "at flat index " << i;
}

Shape without_axis(Shape s, int64_t axis) {
  s.erase(s.begin() + axis);
  return s;
}
Shape with_axis_one(Shape s, int64_t axis) {
  s[axis] = 1;
  return s;
}

// Random values that are pairwise at least 0.1 apart (a shuffled arithmetic progression), so max
// and min have no near-ties and finite differences with eps = 1e-3 never flip the winner.
Tensor distinct_values(const Shape& shape) {
  const int64_t n = numel_of(shape);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.1f * static_cast<float>(i) - 1.0f;
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[random_u64() % (i + 1)]);
  return Tensor::from_vector(v, shape);
}

// ---- sum and mean --------------------------------------------------------------------------------

TEST(ReduceSum, AllElementsByHand) {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(sum(x).shape(), Shape{});
  EXPECT_EQ(sum(x).item(), 21.0f);
  EXPECT_EQ(mean(x).item(), 3.5f);
  // Along each axis, by hand.
  EXPECT_EQ(sum(x, 0).to_vector(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(sum(x, 1).to_vector(), (std::vector<float>{6, 15}));
  EXPECT_EQ(mean(x, 0).to_vector(), (std::vector<float>{2.5f, 3.5f, 4.5f}));
  EXPECT_EQ(mean(x, -1).to_vector(), (std::vector<float>{2, 5}));
  EXPECT_EQ(sum(x, 1, /*keepdim=*/true).shape(), (Shape{2, 1}));
}

TEST(ReduceSum, EveryAxisMatchesReference) {
  manual_seed(1);
  const Tensor x = Tensor::randn({2, 3, 4});
  for (int64_t axis = -3; axis < 3; ++axis) {
    const int64_t a = axis < 0 ? axis + 3 : axis;
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE("axis " + std::to_string(axis) + (keepdim ? " keepdim" : ""));
      const Shape want_shape = keepdim ? with_axis_one(x.shape(), a) : without_axis(x.shape(), a);
      const Tensor s = sum(x, axis, keepdim);
      const Tensor m = mean(x, axis, keepdim);
      EXPECT_EQ(s.shape(), want_shape);
      EXPECT_EQ(m.shape(), want_shape);
      expect_values_near(s, reference_reduce(x, a, ref_sum), 1e-5);
      expect_values_near(m, reference_reduce(x, a, ref_mean), 1e-6);
    }
  }
}

TEST(ReduceSum, NonContiguousInputMatchesReference) {
  manual_seed(2);
  const Tensor x = Tensor::randn({3, 4, 5}).permute({2, 0, 1});  // [5, 3, 4], not row-major
  ASSERT_FALSE(x.is_contiguous());
  EXPECT_NEAR(sum(x).item(), ref_sum(as_doubles(x)), 1e-4);
  for (int64_t axis = 0; axis < 3; ++axis) {
    expect_values_near(sum(x, axis), reference_reduce(x, axis, ref_sum), 1e-5);
    expect_values_near(mean(x, axis), reference_reduce(x, axis, ref_mean), 1e-6);
  }
}

TEST(ReduceSum, GradientsAllAndEveryAxis) {
  manual_seed(3);
  EXPECT_TRUE(gradcheck([](const auto& x) { return sum(x[0]); }, {Tensor::randn({3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return mean(x[0]); }, {Tensor::randn({3, 4})}));
  for (int64_t axis : {0, 1, 2, -1}) {
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE("axis " + std::to_string(axis));
      EXPECT_TRUE(gradcheck([=](const auto& x) { return sum(x[0], axis, keepdim); }, {Tensor::randn({2, 3, 4})}));
      EXPECT_TRUE(gradcheck([=](const auto& x) { return mean(x[0], axis, keepdim); }, {Tensor::randn({2, 3, 4})}));
    }
  }
  // A transposed (non-contiguous) input.
  EXPECT_TRUE(gradcheck([](const auto& x) { return sum(x[0], 1); }, {Tensor::randn({4, 3}).t()}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return mean(x[0], 0); }, {Tensor::randn({4, 3}).t()}));
}

TEST(ReduceSum, MeanGradientIsOneOverN) {
  Tensor x = Tensor::zeros({2, 4}).requires_grad_();
  mean(x, 1).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>(8, 0.25f));
}

// ---- max and min ---------------------------------------------------------------------------------

TEST(ReduceMax, AllByHandWithTiesSplittingTheGradient) {
  Tensor x = Tensor::from_vector({1, 3, -2, 3, 2, 0}, {2, 3}).requires_grad_();
  const Tensor m = max(x);
  EXPECT_EQ(m.shape(), Shape{});
  EXPECT_EQ(m.item(), 3.0f);
  mul(m, 4.0f).backward();
  // Two tied maxima share the upstream gradient 4 equally.
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 2, 0, 2, 0, 0}));
}

TEST(ReduceMax, AlongAxisByHandFirstTieWins) {
  // [[1, 5, 5],
  //  [7, 2, 7]]
  Tensor x = Tensor::from_vector({1, 5, 5, 7, 2, 7}, {2, 3}).requires_grad_();
  const Tensor rows = max(x, 1);
  EXPECT_EQ(rows.shape(), (Shape{2}));
  EXPECT_EQ(rows.to_vector(), (std::vector<float>{5, 7}));
  EXPECT_EQ(max(x, 0).to_vector(), (std::vector<float>{7, 5, 7}));
  EXPECT_EQ(max(x, 1, /*keepdim=*/true).shape(), (Shape{2, 1}));
  rows.backward(Tensor::from_vector({10, 20}));
  // Ties: the first index (column 1 in row 0, column 0 in row 1) takes the whole gradient.
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 10, 0, 20, 0, 0}));
}

TEST(ReduceMax, MinAlongAxisByHand) {
  Tensor x = Tensor::from_vector({4, 1, 1, -3, 0, 8}, {2, 3}).requires_grad_();
  const Tensor m = min(x, -1);
  EXPECT_EQ(m.to_vector(), (std::vector<float>{1, -3}));
  EXPECT_EQ(min(x, 0).to_vector(), (std::vector<float>{-3, 0, 1}));
  m.backward(Tensor::from_vector({1, 1}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 1, 0, 1, 0, 0}));
}

TEST(ReduceMax, EveryAxisMatchesReference) {
  manual_seed(4);
  const Tensor base = Tensor::randn({3, 4, 5});
  for (const Tensor& x : {base, base.permute({1, 2, 0})}) {
    for (int64_t axis = 0; axis < 3; ++axis) {
      for (bool keepdim : {false, true}) {
        const Shape want_shape = keepdim ? with_axis_one(x.shape(), axis) : without_axis(x.shape(), axis);
        EXPECT_EQ(max(x, axis, keepdim).shape(), want_shape);
        expect_values_near(max(x, axis, keepdim), reference_reduce(x, axis, ref_max), 0.0);
        expect_values_near(min(x, axis - 3, keepdim), reference_reduce(x, axis, ref_min), 0.0);
      }
    }
  }
  EXPECT_EQ(max(base).item(), static_cast<float>(ref_max(as_doubles(base))));
}

TEST(ReduceMax, Gradients) {
  manual_seed(5);
  EXPECT_TRUE(gradcheck([](const auto& x) { return max(x[0]); }, {distinct_values({3, 4})}));
  for (int64_t axis : {0, 1, -1}) {
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE("axis " + std::to_string(axis));
      EXPECT_TRUE(gradcheck([=](const auto& x) { return max(x[0], axis, keepdim); }, {distinct_values({3, 4, 2})}));
      EXPECT_TRUE(gradcheck([=](const auto& x) { return min(x[0], axis, keepdim); }, {distinct_values({3, 4, 2})}));
    }
  }
  EXPECT_TRUE(gradcheck([](const auto& x) { return max(x[0], 0); }, {distinct_values({5, 3}).t()}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return min(x[0], 1); }, {distinct_values({2, 3, 4}).permute({2, 0, 1})}));
}

TEST(ReduceMax, NaNPropagates) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Tensor::from_vector({1, nan, 3, 4}, {2, 2});
  EXPECT_TRUE(std::isnan(max(x).item()));
  const std::vector<float> rows = max(x, 1).to_vector();
  EXPECT_TRUE(std::isnan(rows[0]));
  EXPECT_EQ(rows[1], 4.0f);
  EXPECT_TRUE(std::isnan(min(x, 1).to_vector()[0]));
}

TEST(ReduceMax, Errors) {
  EXPECT_TRUE(throws_error_containing([] { max(Tensor::zeros({0, 3})); }, "max: max of an empty tensor of shape [0, 3]"));
  EXPECT_TRUE(throws_error_containing([] { max(Tensor::zeros({2, 0}), 1); }, "max: axis 1 of shape [2, 0] is empty"));
  EXPECT_TRUE(throws_error_containing([] { min(Tensor::zeros({2, 3}), 2); }, "min: axis 2 is out of range"));
  EXPECT_TRUE(throws_error_containing([] { max(Tensor::zeros({2, 3}), -3); }, "max: axis -3 is out of range"));
}

// ---- argmax --------------------------------------------------------------------------------------

TEST(ReduceArgmax, ByHandFirstTieWins) {
  const Tensor x = Tensor::from_vector({1, 5, 5, 7, 2, 7}, {2, 3});
  EXPECT_EQ(argmax(x, 1), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(argmax(x, 0), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(argmax(x, -1), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(argmax(x.t(), 0), (std::vector<int64_t>{1, 0}));  // the transposed view, same answer
}

TEST(ReduceArgmax, MatchesReferenceOnEveryAxis) {
  manual_seed(6);
  const Tensor base = Tensor::randn({3, 4, 5});
  for (const Tensor& x : {base, base.permute({2, 0, 1})}) {
    for (int64_t axis = 0; axis < 3; ++axis) {
      const std::vector<double> want = reference_reduce(x, axis, ref_argmax);
      const std::vector<int64_t> got = argmax(x, axis);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(static_cast<double>(got[i]), want[i]);
    }
  }
}

TEST(ReduceArgmax, Errors) {
  EXPECT_TRUE(throws_error_containing([] { argmax(Tensor::zeros({3, 0}), 1); }, "argmax: axis 1 of shape [3, 0] is empty"));
  EXPECT_TRUE(throws_error_containing([] { argmax(Tensor::zeros({3}), 1); }, "argmax: axis 1 is out of range"));
}

// ---- var -----------------------------------------------------------------------------------------

TEST(ReduceVar, AllByHand) {
  // mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  EXPECT_NEAR(var(x).item(), 5.0 / 3.0, 1e-6);                    // Bessel: / (n - 1)
  EXPECT_NEAR(var(x, /*unbiased=*/false).item(), 5.0 / 4.0, 1e-7);  // / n
  EXPECT_EQ(var(x).shape(), Shape{});
  // Along axes: rows [1,2] and [3,4] each have unbiased variance 0.5; columns [1,3], [2,4] have 2.
  EXPECT_EQ(var(x, 1).to_vector(), (std::vector<float>{0.5f, 0.5f}));
  EXPECT_EQ(var(x, 0).to_vector(), (std::vector<float>{2.0f, 2.0f}));
  EXPECT_EQ(var(x, 0, /*keepdim=*/true, /*unbiased=*/false).to_vector(), (std::vector<float>{1.0f, 1.0f}));
  EXPECT_EQ(var(x, 0, /*keepdim=*/true).shape(), (Shape{1, 2}));
}

TEST(ReduceVar, LargeOffsetDoesNotCancel) {
  // E[x^2] - E[x]^2 in float would give garbage here; the variance of {1e4, 1e4+1, 1e4+2} is 1.
  const Tensor x = Tensor::from_vector({10000, 10001, 10002});
  EXPECT_EQ(var(x).item(), 1.0f);
  EXPECT_EQ(var(x.reshape({1, 3}), 1).item(), 1.0f);
}

TEST(ReduceVar, EveryAxisMatchesReference) {
  manual_seed(7);
  const Tensor base = Tensor::randn({3, 4, 5}, 2.0f, 3.0f);
  for (const Tensor& x : {base, base.permute({1, 0, 2})}) {
    for (int64_t axis = 0; axis < 3; ++axis) {
      for (bool unbiased : {true, false}) {
        for (bool keepdim : {false, true}) {
          const Shape want_shape = keepdim ? with_axis_one(x.shape(), axis) : without_axis(x.shape(), axis);
          const Tensor v = var(x, axis - 3, keepdim, unbiased);
          EXPECT_EQ(v.shape(), want_shape);
          expect_values_near(v, reference_reduce(x, axis, [=](const auto& s) { return ref_var(s, unbiased); }), 1e-4);
        }
      }
    }
  }
  EXPECT_NEAR(var(base).item(), ref_var(as_doubles(base), true), 1e-4);
}

TEST(ReduceVar, Gradients) {
  manual_seed(8);
  EXPECT_TRUE(gradcheck([](const auto& x) { return var(x[0]); }, {Tensor::randn({3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return var(x[0], false); }, {Tensor::randn({3, 4}).t()}));
  for (int64_t axis : {0, 1, 2, -2}) {
    for (bool unbiased : {true, false}) {
      SCOPED_TRACE("axis " + std::to_string(axis));
      EXPECT_TRUE(gradcheck([=](const auto& x) { return var(x[0], axis, false, unbiased); }, {Tensor::randn({2, 3, 4})}));
      EXPECT_TRUE(gradcheck([=](const auto& x) { return var(x[0], axis, true, unbiased); },
                            {Tensor::randn({4, 2, 3}).permute({1, 2, 0})}));
    }
  }
}

TEST(ReduceVar, Errors) {
  EXPECT_TRUE(throws_error_containing([] { var(Tensor::ones({1})); }, "var: n - ddof = 0 <= 0 for shape [1]"));
  EXPECT_TRUE(throws_error_containing([] { var(Tensor::ones({0}), false); }, "var: n - ddof = 0 <= 0 for shape [0]"));
  EXPECT_TRUE(throws_error_containing([] { var(Tensor::ones({3, 1}), 1); },
                                      "var: n - ddof = 0 <= 0 for axis 1 of shape [3, 1]"));
  EXPECT_TRUE(throws_error_containing([] { var(Tensor::ones({3, 2}), 2); }, "var: axis 2 is out of range"));
}

// ---- norm ------------------------------------------------------------------------------------------

double ref_l1(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += std::fabs(x);
  return s;
}
double ref_l2(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

TEST(ReduceNorm, ByHand) {
  const Tensor x = Tensor::from_vector({3, -4, 0, 12}, {2, 2});
  EXPECT_EQ(norm(x, 1.0f).item(), 19.0f);
  EXPECT_EQ(norm(x).item(), 13.0f);  // sqrt(9 + 16 + 144)
  EXPECT_EQ(norm(x).shape(), (Shape{}));
  EXPECT_EQ(norm(x, 2.0f, 1).to_vector(), (std::vector<float>{5, 12}));
  EXPECT_EQ(norm(x, 1.0f, 0).to_vector(), (std::vector<float>{3, 16}));
  EXPECT_EQ(norm(x, 2.0f, 0, true).shape(), (Shape{1, 2}));
  EXPECT_EQ(norm(x, 2.0f, -1, true).shape(), (Shape{2, 1}));
}

TEST(ReduceNorm, EveryAxisMatchesReference) {
  manual_seed(61);
  const Tensor x = Tensor::randn({3, 4, 5});
  for (int64_t axis = 0; axis < 3; ++axis) {
    expect_values_near(norm(x, 1.0f, axis), reference_reduce(x, axis, ref_l1), 1e-5);
    expect_values_near(norm(x, 2.0f, axis), reference_reduce(x, axis, ref_l2), 1e-5);
    expect_values_near(norm(x, 2.0f, axis, true), reference_reduce(x, axis, ref_l2), 1e-5);
  }
  const Tensor xt = x.transpose(0, 2);  // non-contiguous
  expect_values_near(norm(xt, 2.0f, 1), reference_reduce(xt, 1, ref_l2), 1e-5);
  const std::vector<double> all = as_doubles(x);
  EXPECT_NEAR(norm(xt).item(), ref_l2(all), 1e-5);
  EXPECT_NEAR(norm(xt, 1.0f).item(), ref_l1(all), 1e-4);
}

TEST(ReduceNorm, NoOverflowOrUnderflowInTheSquares) {
  // 1e20^2 overflows float and 1e-25^2 underflows; the double accumulator keeps both.
  EXPECT_NEAR(norm(Tensor::from_vector({3e20f, 4e20f})).item() / 5e20, 1.0, 1e-6);
  EXPECT_NEAR(norm(Tensor::from_vector({3e-25f, 4e-25f})).item() / 5e-25, 1.0, 1e-6);
}

TEST(ReduceNorm, Gradients) {
  manual_seed(62);
  EXPECT_TRUE(gradcheck([](const auto& x) { return norm(x[0]); }, {Tensor::randn({3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return norm(x[0], 2.0f, 1); }, {Tensor::randn({3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return norm(x[0], 2.0f, 0, true); }, {Tensor::randn({4, 3}).t()}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return norm(x[0], 1.0f, 1); }, {distinct_values({3, 4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return norm(x[0], 1.0f); }, {distinct_values({5})}));
  // By hand: d||x||/dx = x / ||x||
  Tensor x = Tensor::from_vector({3, 4}).requires_grad_();
  norm(x).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0.6f, 0.8f}));
}

TEST(ReduceNorm, GradientAtZeroIsZeroAndNaNPropagates) {
  Tensor zero = Tensor::zeros({2, 3}).requires_grad_();
  norm(zero, 2.0f, 1).sum().backward();
  EXPECT_EQ(zero.grad().to_vector(), std::vector<float>(6, 0.0f));  // not 0/0 = NaN
  zero.zero_grad();
  norm(zero, 1.0f).backward();
  EXPECT_EQ(zero.grad().to_vector(), std::vector<float>(6, 0.0f));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(norm(Tensor::from_vector({1, nan})).item()));
  EXPECT_TRUE(std::isnan(norm(Tensor::from_vector({1, nan}), 1.0f).item()));
}

TEST(ReduceNorm, EmptyAndErrors) {
  EXPECT_EQ(norm(Tensor::zeros({0})).item(), 0.0f);
  EXPECT_EQ(norm(Tensor::zeros({2, 0}), 2.0f, 1).to_vector(), (std::vector<float>{0, 0}));
  EXPECT_EQ(norm(Tensor::zeros({0, 3}), 1.0f, 1).shape(), (Shape{0}));
  EXPECT_TRUE(throws_error_containing([] { norm(Tensor::ones({3}), 3.0f); }, "norm: p = 3"));
  EXPECT_TRUE(throws_error_containing([] { norm(Tensor::ones({3}), 0.5f, 0); }, "p = 1"));
  EXPECT_TRUE(throws_error_containing([] { norm(Tensor::ones({3}), 2.0f, 1); }, "norm: axis 1"));
  EXPECT_TRUE(throws_error_containing([] { norm(Tensor()); }, "norm"));
}

// ---- cumsum ----------------------------------------------------------------------------------------

TEST(ReduceCumsum, ByHand) {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(cumsum(x, 1).to_vector(), (std::vector<float>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(cumsum(x, 0).to_vector(), (std::vector<float>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(cumsum(x, -1).shape(), (Shape{2, 3}));
}

TEST(ReduceCumsum, EveryAxisMatchesDoubleLoop) {
  manual_seed(63);
  const Tensor x = Tensor::randn({3, 4, 5});
  for (int64_t axis = 0; axis < 3; ++axis) {
    const Tensor y = cumsum(x, axis);
    for (int64_t flat = 0; flat < x.numel(); ++flat) {
      std::vector<int64_t> idx = unravel(flat, x.shape());
      const int64_t last = idx[axis];
      double want = 0;
      for (int64_t k = 0; k <= last; ++k) {
        idx[axis] = k;
        want += x.at(idx);
      }
      idx[axis] = last;
      EXPECT_NEAR(y.at(idx), want, 1e-5) << "axis " << axis << " at " << shape_str(idx);
    }
  }
}

TEST(ReduceCumsum, GradientIsTheReverseRunningSum) {
  Tensor x = Tensor::zeros({4}).requires_grad_();
  cumsum(x, 0).backward(Tensor::from_vector({1, 2, 3, 4}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{10, 9, 7, 4}));
  manual_seed(64);
  EXPECT_TRUE(gradcheck([](const auto& t) { return cumsum(t[0], 1); }, {Tensor::randn({3, 4, 2})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return cumsum(t[0], 0); }, {Tensor::randn({4, 3}).t()}));
}

TEST(ReduceCumsum, NaNPoisonsTheRestOfItsLaneEmptyAndErrors) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> y = cumsum(Tensor::from_vector({1, nan, 2, 5, 1, 1}, {2, 3}), 1).to_vector();
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_TRUE(std::isnan(y[1]) && std::isnan(y[2]));
  EXPECT_EQ(y[5], 7.0f);  // the other row is untouched
  EXPECT_EQ(cumsum(Tensor::zeros({0, 3}), 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(cumsum(Tensor::zeros({2, 0}), 1).numel(), 0);
  EXPECT_EQ(cumsum(Tensor::from_vector({7}), 0).item(), 7.0f);
  EXPECT_TRUE(throws_error_containing([] { cumsum(Tensor::zeros({2}), 1); }, "cumsum: axis 1"));
  EXPECT_TRUE(throws_error_containing([] { cumsum(Tensor(), 0); }, "cumsum"));
}

}  // namespace
}  // namespace nibble
