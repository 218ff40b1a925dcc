// sort, argsort, topk, kthvalue: by hand (ties, NaN), against a reference that sorts (value,
// index) pairs with std::sort and an explicit tie-break on every axis, gradients scattered back,
// empty and size-1 axes, and bad k / axes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;
using testing::unravel;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

using Ints = std::vector<int64_t>;
using Floats = std::vector<float>;

// Floats compared with NaN == NaN, so expected vectors can contain NaN.
void expect_same(const Floats& got, const Floats& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "at " << i;
    } else {
      EXPECT_EQ(got[i], want[i]) << "at " << i;
    }
  }
}

// Reference: every lane along `axis` (through at()), ordered by std::sort on (rank key, index) —
// a different algorithm from the library's stable_sort, with the tie rule written explicitly.
// NaN gets the key +inf and a flag so it sorts above +inf.
struct Reference {
  Floats values;
  Ints indices;
};
Reference reference_sort(const Tensor& x, int64_t axis, bool descending) {
  Shape rest = x.shape();
  const int64_t n = rest[axis];
  rest.erase(rest.begin() + axis);
  Shape out_shape = x.shape();
  Reference r{Floats(x.numel()), Ints(x.numel())};
  const Shape strides = contiguous_strides(out_shape);
  for (int64_t flat = 0; flat < numel_of(rest); ++flat) {
    Ints index = unravel(flat, rest);
    index.insert(index.begin() + axis, 0);
    std::vector<std::pair<float, int64_t>> lane;
    for (int64_t k = 0; k < n; ++k) {
      index[axis] = k;
      lane.emplace_back(x.at(index), k);
    }
    auto key = [](float v) { return std::isnan(v) ? std::make_pair(1, 0.0f) : std::make_pair(0, v); };
    std::sort(lane.begin(), lane.end(), [&](const auto& p, const auto& q) {
      const auto kp = key(p.first), kq = key(q.first);
      if (kp != kq) return descending ? kq < kp : kp < kq;
      return p.second < q.second;  // ties: lower index first, both directions
    });
    for (int64_t k = 0; k < n; ++k) {
      index[axis] = k;
      int64_t pos = 0;
      for (size_t d = 0; d < index.size(); ++d) pos += index[d] * strides[d];
      r.values[pos] = lane[k].first;
      r.indices[pos] = lane[k].second;
    }
  }
  return r;
}

// Pairwise >= 0.1 apart, so finite differences (eps 1e-3) never reorder anything.
Tensor distinct_values(const Shape& shape) {
  const int64_t n = numel_of(shape);
  Floats v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.1f * static_cast<float>(i) - 1.0f;
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[random_u64() % (i + 1)]);
  return Tensor::from_vector(v, shape);
}

Tensor small_integers(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(random_u64() % 4);
  return t;
}

// ---- sort and argsort -------------------------------------------------------------------------------

TEST(Sort, ByHandTiesKeepIndexOrder) {
  const Tensor x = Tensor::from_vector({3, 1, 2, 1, 3});
  const auto [up, up_idx] = sort(x);
  EXPECT_EQ(up.to_vector(), (Floats{1, 1, 2, 3, 3}));
  EXPECT_EQ(up_idx, (Ints{1, 3, 2, 0, 4}));
  const auto [down, down_idx] = sort(x, -1, /*descending=*/true);
  EXPECT_EQ(down.to_vector(), (Floats{3, 3, 2, 1, 1}));
  EXPECT_EQ(down_idx, (Ints{0, 4, 2, 1, 3}));
  EXPECT_EQ(argsort(x), (Ints{1, 3, 2, 0, 4}));
  EXPECT_EQ(argsort(x, 0, true), (Ints{0, 4, 2, 1, 3}));
}

TEST(Sort, NaNIsLargerThanInfinity) {
  const Tensor x = Tensor::from_vector({2, kNaN, -kInf, 1, kNaN, kInf});
  const auto up = sort(x);
  expect_same(up.values.to_vector(), {-kInf, 1, 2, kInf, kNaN, kNaN});
  EXPECT_EQ(up.indices, (Ints{2, 3, 0, 5, 1, 4}));
  const auto down = sort(x, 0, true);
  expect_same(down.values.to_vector(), {kNaN, kNaN, kInf, 2, 1, -kInf});
  EXPECT_EQ(down.indices, (Ints{1, 4, 5, 0, 3, 2}));
}

TEST(Sort, EveryAxisAndDirectionMatchesReference) {
  manual_seed(31);
  const Tensor x = small_integers({3, 4, 5});  // many ties
  for (int64_t axis = 0; axis < 3; ++axis) {
    for (bool descending : {false, true}) {
      const auto got = sort(x, axis, descending);
      const Reference want = reference_sort(x, axis, descending);
      EXPECT_EQ(got.values.shape(), x.shape());
      EXPECT_EQ(got.values.to_vector(), want.values) << "axis " << axis << " descending " << descending;
      EXPECT_EQ(got.indices, want.indices) << "axis " << axis << " descending " << descending;
      EXPECT_EQ(argsort(x, axis - 3, descending), want.indices) << "negative axis " << axis - 3;
    }
  }
  // A non-contiguous input reads its logical order.
  const Tensor xt = x.transpose(0, 2);  // [5, 4, 3]
  const Reference want = reference_sort(xt, 1, false);
  EXPECT_EQ(sort(xt, 1).values.to_vector(), want.values);
  EXPECT_EQ(sort(xt, 1).indices, want.indices);
}

TEST(Sort, LongLaneIsSortedAndStable) {
  manual_seed(32);
  const Tensor x = small_integers({20000});
  const auto got = sort(x);
  const Reference want = reference_sort(x, 0, false);
  EXPECT_EQ(got.values.to_vector(), want.values);
  EXPECT_EQ(got.indices, want.indices);
}

TEST(Sort, GradientScattersBack) {
  Tensor x = Tensor::from_vector({3, 1, 2}).requires_grad_();
  sort(x).values.backward(Tensor::from_vector({10, 20, 30}));  // sorted [1, 2, 3] from positions 1, 2, 0
  EXPECT_EQ(x.grad().to_vector(), (Floats{30, 10, 20}));
  manual_seed(33);
  EXPECT_TRUE(gradcheck([](const auto& t) { return sort(t[0], 1).values; }, {distinct_values({3, 4, 2})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return sort(t[0], 0, true).values; }, {distinct_values({3, 4})}));
}

TEST(Sort, EmptyAndSizeOne) {
  EXPECT_EQ(sort(Tensor::zeros({0})).values.numel(), 0);
  EXPECT_TRUE(sort(Tensor::zeros({0})).indices.empty());
  const auto e = sort(Tensor::zeros({2, 0}), 1);
  EXPECT_EQ(e.values.shape(), (Shape{2, 0}));
  const auto one = sort(Tensor::from_vector({4, 5}, {2, 1}), 1);
  EXPECT_EQ(one.values.to_vector(), (Floats{4, 5}));
  EXPECT_EQ(one.indices, (Ints{0, 0}));
}

TEST(Sort, Errors) {
  EXPECT_TRUE(throws_error_containing([] { sort(Tensor::zeros({2, 3}), 2); }, "sort: axis 2 is out of range"));
  EXPECT_TRUE(throws_error_containing([] { argsort(Tensor::zeros({2}), -2); }, "argsort"));
  EXPECT_TRUE(throws_error_containing([] { sort(Tensor()); }, "sort"));
  EXPECT_TRUE(throws_error_containing([] { sort(Tensor::scalar(1.0f)); }, "rank 0"));
}

// ---- topk -------------------------------------------------------------------------------------------

TEST(Topk, ByHandLargestAndSmallestWithTies) {
  const Tensor x = Tensor::from_vector({1, 5, 3, 5, 0, 3});
  const auto [top, top_idx] = topk(x, 3);
  EXPECT_EQ(top.to_vector(), (Floats{5, 5, 3}));
  EXPECT_EQ(top_idx, (Ints{1, 3, 2}));
  const auto [low, low_idx] = topk(x, 2, 0, /*largest=*/false);
  EXPECT_EQ(low.to_vector(), (Floats{0, 1}));
  EXPECT_EQ(low_idx, (Ints{4, 0}));
}

TEST(Topk, RowsOfAMatrix) {
  const Tensor x = Tensor::from_vector({0.1f, 0.7f, 0.2f, 0.9f, 0.4f, 0.3f}, {2, 3});
  const auto r = topk(x, 2, 1);
  EXPECT_EQ(r.values.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.values.to_vector(), (Floats{0.7f, 0.2f, 0.9f, 0.4f}));
  EXPECT_EQ(r.indices, (Ints{1, 2, 0, 1}));
  const auto c = topk(x, 1, 0);  // along columns
  EXPECT_EQ(c.values.shape(), (Shape{1, 3}));
  EXPECT_EQ(c.values.to_vector(), (Floats{0.9f, 0.7f, 0.3f}));
  EXPECT_EQ(c.indices, (Ints{1, 0, 1}));
}

TEST(Topk, MatchesTheFirstKOfTheReferenceSort) {
  manual_seed(34);
  const Tensor x = small_integers({4, 6});
  for (bool largest : {true, false}) {
    const Reference full = reference_sort(x, 1, largest);
    const auto got = topk(x, 4, 1, largest);
    for (int64_t row = 0; row < 4; ++row) {
      for (int64_t r = 0; r < 4; ++r) {
        EXPECT_EQ(got.values.at({row, r}), full.values[row * 6 + r]);
        EXPECT_EQ(got.indices[row * 4 + r], full.indices[row * 6 + r]);
      }
    }
  }
}

TEST(Topk, NaNCountsAsLargest) {
  const Tensor x = Tensor::from_vector({1, kNaN, 3});
  const auto top = topk(x, 2);
  expect_same(top.values.to_vector(), {kNaN, 3});
  EXPECT_EQ(top.indices, (Ints{1, 2}));
  const auto low = topk(x, 3, 0, false);
  expect_same(low.values.to_vector(), {1, 3, kNaN});
  EXPECT_EQ(low.indices, (Ints{0, 2, 1}));
}

TEST(Topk, GradientGoesToTheChosen) {
  Tensor x = Tensor::from_vector({3, 1, 2, 7}).requires_grad_();
  topk(x, 2).values.backward(Tensor::from_vector({10, 20}));  // 7 (pos 3), 3 (pos 0)
  EXPECT_EQ(x.grad().to_vector(), (Floats{20, 0, 0, 10}));
  manual_seed(35);
  EXPECT_TRUE(gradcheck([](const auto& t) { return topk(t[0], 2, 1).values; }, {distinct_values({3, 5})}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return topk(t[0], 3, 0, false).values; }, {distinct_values({4, 2})}));
}

TEST(Topk, KZeroFullAndEmpty) {
  const Tensor x = Tensor::from_vector({2, 1, 3});
  const auto none = topk(x, 0);
  EXPECT_EQ(none.values.shape(), (Shape{0}));
  EXPECT_TRUE(none.indices.empty());
  EXPECT_EQ(topk(x, 3).values.to_vector(), (Floats{3, 2, 1}));
  EXPECT_EQ(topk(Tensor::zeros({0}), 0).values.numel(), 0);
  EXPECT_EQ(topk(Tensor::zeros({0, 4}), 2, 1).values.shape(), (Shape{0, 2}));
}

TEST(Topk, Errors) {
  EXPECT_TRUE(throws_error_containing([] { topk(Tensor::zeros({3}), 4); }, "topk: k = 4 is out of range"));
  EXPECT_TRUE(throws_error_containing([] { topk(Tensor::zeros({3}), -1); }, "k = -1"));
  EXPECT_TRUE(throws_error_containing([] { topk(Tensor::zeros({3}), 1, 1); }, "topk: axis 1"));
  EXPECT_TRUE(throws_error_containing([] { topk(Tensor(), 1); }, "topk"));
}

// ---- kthvalue ---------------------------------------------------------------------------------------

TEST(Kthvalue, ByHandOneBased) {
  const Tensor x = Tensor::from_vector({5, 1, 4, 1, 3});
  const auto first = kthvalue(x, 1);  // smallest; tie between positions 1 and 3 -> 1
  EXPECT_EQ(first.values.shape(), (Shape{}));
  EXPECT_EQ(first.values.item(), 1.0f);
  EXPECT_EQ(first.indices, (Ints{1}));
  const auto second = kthvalue(x, 2);  // the other 1
  EXPECT_EQ(second.values.item(), 1.0f);
  EXPECT_EQ(second.indices, (Ints{3}));
  EXPECT_EQ(kthvalue(x, 3).values.item(), 3.0f);
  EXPECT_EQ(kthvalue(x, 5).values.item(), 5.0f);
  EXPECT_EQ(kthvalue(x, 5).indices, (Ints{0}));
}

TEST(Kthvalue, AlongAxisKeepdimAndNaN) {
  const Tensor x = Tensor::from_vector({3, kNaN, 1, 2, 0, 4}, {2, 3});
  const auto mid = kthvalue(x, 2, 1);  // rows [3, NaN, 1] -> [1, 3, NaN]; [2, 0, 4] -> [0, 2, 4]
  EXPECT_EQ(mid.values.shape(), (Shape{2}));
  EXPECT_EQ(mid.values.to_vector(), (Floats{3, 2}));
  EXPECT_EQ(mid.indices, (Ints{0, 0}));
  const auto last = kthvalue(x, 3, -1, /*keepdim=*/true);
  EXPECT_EQ(last.values.shape(), (Shape{2, 1}));
  expect_same(last.values.to_vector(), {kNaN, 4});
  EXPECT_EQ(last.indices, (Ints{1, 2}));
  const auto col = kthvalue(x, 1, 0);
  expect_same(col.values.to_vector(), {2, 0, 1});
  EXPECT_EQ(col.indices, (Ints{1, 1, 0}));
}

TEST(Kthvalue, MatchesReferenceAndGradient) {
  manual_seed(36);
  const Tensor x = small_integers({3, 5});
  const Reference ref = reference_sort(x, 1, false);
  for (int64_t k = 1; k <= 5; ++k) {
    const auto got = kthvalue(x, k, 1);
    for (int64_t row = 0; row < 3; ++row) {
      EXPECT_EQ(got.values.at({row}), ref.values[row * 5 + k - 1]) << "k " << k;
      EXPECT_EQ(got.indices[row], ref.indices[row * 5 + k - 1]) << "k " << k;
    }
  }
  Tensor y = Tensor::from_vector({4, 2, 9}).requires_grad_();
  kthvalue(y, 2).values.backward(Tensor::scalar(5.0f));
  EXPECT_EQ(y.grad().to_vector(), (Floats{5, 0, 0}));
  EXPECT_TRUE(gradcheck([](const auto& t) { return kthvalue(t[0], 2, 0, true).values; }, {distinct_values({4, 3})}));
}

TEST(Kthvalue, LongLanesWithManyTiesMatchTheStableOrder) {
  // Long enough that nth_element / partial_sort leave their small-range insertion sort.
  manual_seed(37);
  const Tensor x = small_integers({2, 3000});
  const Reference up = reference_sort(x, 1, false), down = reference_sort(x, 1, true);
  for (int64_t k : {1, 2, 750, 1500, 2999, 3000}) {
    const auto got = kthvalue(x, k, 1);
    for (int64_t row = 0; row < 2; ++row) {
      EXPECT_EQ(got.values.at({row}), up.values[row * 3000 + k - 1]) << "k " << k;
      EXPECT_EQ(got.indices[row], up.indices[row * 3000 + k - 1]) << "k " << k;
    }
  }
  const auto top = topk(x, 1000, 1);
  for (int64_t row = 0; row < 2; ++row) {
    for (int64_t r = 0; r < 1000; ++r) {
      ASSERT_EQ(top.indices[row * 1000 + r], down.indices[row * 3000 + r]) << "row " << row << " rank " << r;
    }
  }
}

TEST(Kthvalue, SizeOneAndErrors) {
  EXPECT_EQ(kthvalue(Tensor::from_vector({7}), 1).values.item(), 7.0f);
  EXPECT_TRUE(throws_error_containing([] { kthvalue(Tensor::zeros({3}), 0); }, "kthvalue: k = 0 is out of range"));
  EXPECT_TRUE(throws_error_containing([] { kthvalue(Tensor::zeros({3}), 4); }, "1-based"));
  EXPECT_TRUE(throws_error_containing([] { kthvalue(Tensor::zeros({0}), 1); }, "kthvalue"));
  EXPECT_TRUE(throws_error_containing([] { kthvalue(Tensor::zeros({2, 2}), 1, 3); }, "kthvalue: axis 3"));
}

}  // namespace
}  // namespace nibble
