// Comparisons lt, le, gt, ge, eq, ne: 0/1 masks against a reference that walks the broadcast
// output index by index (independent of the strided iteration in core/ops/iterate.h), IEEE NaN
// rules, no gradient, empty tensors and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::throws_error_containing;
using testing::unravel;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using TensorCompare = Tensor (*)(const Tensor&, const Tensor&);
using ScalarCompare = Tensor (*)(const Tensor&, float);

struct Case {
  const char* name;
  TensorCompare tensor_form;
  ScalarCompare scalar_form;
  std::function<bool(double, double)> holds;  // the comparison in double, as the reference
};

std::vector<Case> all_cases() {
  return {{"lt", lt, lt, [](double x, double y) { return x < y; }},
          {"le", le, le, [](double x, double y) { return x <= y; }},
          {"gt", gt, gt, [](double x, double y) { return x > y; }},
          {"ge", ge, ge, [](double x, double y) { return x >= y; }},
          {"eq", eq, eq, [](double x, double y) { return x == y; }},
          {"ne", ne, ne, [](double x, double y) { return x != y; }}};
}

// Small integers, so equal pairs are frequent and eq/le/ge are really exercised.
Tensor small_integers(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(static_cast<int>(random_u64() % 5) - 2);
  return t;
}

// a[idx] read through broadcasting: right-aligned, size-1 axes read at 0.
double broadcast_read(const Tensor& t, const std::vector<int64_t>& out_index) {
  std::vector<int64_t> index(t.dim());
  const size_t lead = out_index.size() - index.size();
  for (size_t d = 0; d < index.size(); ++d) index[d] = t.shape()[d] == 1 ? 0 : out_index[lead + d];
  return t.at(index);
}

TEST(Compare, TensorTensorWithBroadcastingMatchesReference) {
  manual_seed(21);
  const Tensor a = small_integers({3, 1, 4});
  const Tensor b = small_integers({2, 4});
  for (const Case& c : all_cases()) {
    const Tensor got = c.tensor_form(a, b);
    ASSERT_EQ(got.shape(), (Shape{3, 2, 4})) << c.name;
    for (int64_t flat = 0; flat < got.numel(); ++flat) {
      const std::vector<int64_t> idx = unravel(flat, got.shape());
      const float want = c.holds(broadcast_read(a, idx), broadcast_read(b, idx)) ? 1.0f : 0.0f;
      EXPECT_EQ(got.at(idx), want) << c.name << " at " << shape_str(idx);
    }
  }
}

TEST(Compare, TensorScalarMatchesReference) {
  manual_seed(22);
  const Tensor a = small_integers({5, 3});
  for (const Case& c : all_cases()) {
    const std::vector<float> got = c.scalar_form(a, 0.0f).to_vector();
    const std::vector<float> x = a.to_vector();
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], c.holds(x[i], 0.0) ? 1.0f : 0.0f) << c.name << " x=" << x[i];
  }
}

TEST(Compare, ByHand) {
  const Tensor a = Tensor::from_vector({1, 2, 3});
  const Tensor b = Tensor::from_vector({3, 2, 1});
  EXPECT_EQ(lt(a, b).to_vector(), (std::vector<float>{1, 0, 0}));
  EXPECT_EQ(le(a, b).to_vector(), (std::vector<float>{1, 1, 0}));
  EXPECT_EQ(gt(a, b).to_vector(), (std::vector<float>{0, 0, 1}));
  EXPECT_EQ(ge(a, b).to_vector(), (std::vector<float>{0, 1, 1}));
  EXPECT_EQ(eq(a, b).to_vector(), (std::vector<float>{0, 1, 0}));
  EXPECT_EQ(ne(a, b).to_vector(), (std::vector<float>{1, 0, 1}));
  EXPECT_EQ(gt(a, 1.5f).to_vector(), (std::vector<float>{0, 1, 1}));
}

TEST(Compare, NaNComparesLikeIEEE) {
  const Tensor a = Tensor::from_vector({kNaN, kNaN, 1.0f});
  const Tensor b = Tensor::from_vector({kNaN, 1.0f, kNaN});
  for (const Case& c : all_cases()) {
    const float want = std::string(c.name) == "ne" ? 1.0f : 0.0f;
    EXPECT_EQ(c.tensor_form(a, b).to_vector(), (std::vector<float>(3, want))) << c.name;
    EXPECT_EQ(c.scalar_form(a, kNaN).to_vector(), (std::vector<float>(3, want))) << c.name << " vs scalar NaN";
    EXPECT_EQ(c.scalar_form(a, 1.0f).to_vector()[0], want) << c.name << " NaN vs 1";
  }
}

TEST(Compare, ResultIsALeafWithoutGradient) {
  Tensor a = Tensor::randn({2, 3}).requires_grad_();
  Tensor b = Tensor::randn({3}).requires_grad_();
  for (const Case& c : all_cases()) {
    const Tensor m = c.tensor_form(a, b);
    EXPECT_FALSE(m.requires_grad()) << c.name;
    EXPECT_TRUE(m.is_leaf()) << c.name;
    EXPECT_FALSE(c.scalar_form(a, 0.0f).requires_grad()) << c.name;
  }
  // A mask inside a differentiable expression: gradient flows through a only.
  mul(a, gt(a, 0.0f)).sum().backward();
  const std::vector<float> x = a.to_vector(), g = a.grad().to_vector();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(g[i], x[i] > 0 ? 1.0f : 0.0f);
}

TEST(Compare, EmptySizeOneAndNonContiguous) {
  EXPECT_EQ(lt(Tensor::zeros({0, 3}), Tensor::zeros({3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(eq(Tensor::zeros({0}), 0.0f).numel(), 0);
  EXPECT_EQ(ge(Tensor::scalar(2.0f), Tensor::scalar(2.0f)).item(), 1.0f);
  const Tensor a = Tensor::arange(6).reshape({2, 3}).t();  // [[0,3],[1,4],[2,5]]
  EXPECT_EQ(gt(a, Tensor::from_vector({2.5f, 2.5f})).to_vector(), (std::vector<float>{0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(le(a, 1.0f).to_vector(), (std::vector<float>{1, 0, 1, 0, 0, 0}));
}

TEST(Compare, BadShapesAndUndefinedThrow) {
  for (const Case& c : all_cases()) {
    EXPECT_TRUE(throws_error_containing([&] { c.tensor_form(Tensor::zeros({2, 3}), Tensor::zeros({4})); },
                                        std::string(c.name) + ": shapes [2, 3] and [4] do not broadcast"));
    EXPECT_TRUE(throws_error_containing([&] { c.tensor_form(Tensor(), Tensor::zeros({4})); }, c.name));
    EXPECT_TRUE(throws_error_containing([&] { c.scalar_form(Tensor(), 1.0f); }, c.name));
  }
}

}  // namespace
}  // namespace nibble
