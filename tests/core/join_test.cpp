// cat and stack: hand-computed layouts on every axis, gradients (also through non-contiguous
// views and with inputs that need no gradient), errors.
#include <gtest/gtest.h>

#include <vector>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

// ---- cat ----------------------------------------------------------------------------------------------

TEST(JoinCat, AlongRows) {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from_vector({5, 6}, {1, 2});
  const Tensor y = cat({a, b}, 0);
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(JoinCat, AlongColumnsAndNegativeAxis) {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from_vector({5, 6, 7, 8, 9, 10}, {2, 3});
  const Tensor c = Tensor::from_vector({0, 0}, {2, 1});
  const Tensor y = cat({a, b, c}, -1);
  EXPECT_EQ(y.shape(), (Shape{2, 6}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 5, 6, 7, 0, 3, 4, 8, 9, 10, 0}));
  EXPECT_EQ(cat({a, b, c}, 1).to_vector(), y.to_vector());
}

TEST(JoinCat, MiddleAxisOfA3dTensorWithATransposedInput) {
  // a [2,1,2] = [[[1,2]],[[3,4]]], b = ([2,2,2] stored transposed) — read through its strides.
  const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 1, 2});
  const Tensor b = Tensor::from_vector({10, 11, 12, 13, 14, 15, 16, 17}, {2, 2, 2}).transpose(1, 2);
  ASSERT_FALSE(b.is_contiguous());
  // b[0] = [[10,12],[11,13]], b[1] = [[14,16],[15,17]]
  EXPECT_EQ(cat({a, b}, 1).to_vector(),
            (std::vector<float>{1, 2, 10, 12, 11, 13, 3, 4, 14, 16, 15, 17}));
}

TEST(JoinCat, SingleTensorIsACopy) {
  const Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  const Tensor y = cat({a}, 0);
  EXPECT_EQ(y.to_vector(), a.to_vector());
  EXPECT_NE(y.data(), a.data());
}

TEST(JoinCat, Gradients) {
  manual_seed(401);
  EXPECT_TRUE(gradcheck([](const auto& t) { return cat({t[0], t[1], t[2]}, 1); },
                        {Tensor::randn({2, 3, 2}), Tensor::randn({2, 1, 2}), Tensor::randn({4, 2}).reshape({2, 2, 2})}));
  const Tensor at = Tensor::randn({3, 2}).t();  // [2, 3], non-contiguous
  ASSERT_FALSE(at.is_contiguous());
  EXPECT_TRUE(gradcheck([](const auto& t) { return cat({t[0], t[1]}, 0); }, {at, Tensor::randn({1, 3})}));
}

TEST(JoinCat, GradientSlicesBackAndSkipsConstants) {
  Tensor a = Tensor::zeros({2, 2}).requires_grad_();
  const Tensor constant = Tensor::zeros({2, 1});
  Tensor b = Tensor::zeros({2, 3}).requires_grad_();
  const Tensor y = cat({a, constant, b}, 1);  // [2, 6]
  y.backward(Tensor::arange(12).reshape({2, 6}));
  // rows of g: [0 1 | 2 | 3 4 5], [6 7 | 8 | 9 10 11]
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{0, 1, 6, 7}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{3, 4, 5, 9, 10, 11}));
  EXPECT_FALSE(constant.grad().defined());
}

TEST(JoinCat, Errors) {
  EXPECT_TRUE(throws_error_containing([] { cat({}, 0); }, "cat: got an empty list of tensors"));
  EXPECT_TRUE(throws_error_containing(
      [] { cat({Tensor::ones({2, 3}), Tensor::ones({4, 3}), Tensor::ones({2, 5})}, 0); },
      "cat: tensor 2 has shape [2, 5] but tensor 0 has shape [2, 3]; shapes must agree except on axis 0"));
  EXPECT_TRUE(throws_error_containing([] { cat({Tensor::ones({2, 3}), Tensor::ones({2, 3, 1})}, 1); },
                                      "cat: tensor 1 has shape [2, 3, 1] but tensor 0 has shape [2, 3]"));
  EXPECT_TRUE(throws_error_containing([] { cat({Tensor::ones({2, 3})}, 2); },
                                      "cat: axis 2 is out of range for a tensor of rank 2"));
  EXPECT_TRUE(throws_error_containing([] { cat({Tensor::scalar(1), Tensor::scalar(2)}, 0); },
                                      "cat: cannot concatenate 0-d tensors"));
  EXPECT_TRUE(throws_error_containing([] { cat({Tensor::ones({2}), Tensor()}, 0); },
                                      "cat: tensor 1 is undefined"));
}

// ---- stack --------------------------------------------------------------------------------------------

TEST(JoinStack, NewLeadingAxis) {
  const Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  const Tensor b = Tensor::from_vector({4, 5, 6}, {3});
  const Tensor y = stack({a, b}, 0);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(JoinStack, NewLastAxisInterleaves) {
  const Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  const Tensor b = Tensor::from_vector({4, 5, 6}, {3});
  const Tensor y = stack({a, b}, -1);  // axis -1 of the [3, 2] result
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(stack({a, b}, 1).to_vector(), y.to_vector());
}

TEST(JoinStack, MiddleAxisOf2dInputs) {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from_vector({5, 6, 7, 8}, {2, 2}).t();  // [[5, 7], [6, 8]]
  const Tensor y = stack({a, b}, 1);  // [2, 2, 2]: y[i] = [a[i], b[i]]
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 2, 5, 7, 3, 4, 6, 8}));
}

TEST(JoinStack, Gradients) {
  manual_seed(411);
  const Tensor ct = Tensor::randn({3, 2}).t();
  ASSERT_FALSE(ct.is_contiguous());
  for (int64_t axis : {0, 1, 2, -1}) {
    EXPECT_TRUE(gradcheck([axis](const auto& t) { return stack({t[0], t[1], t[2]}, axis); },
                          {Tensor::randn({2, 3}), Tensor::randn({2, 3}), ct}))
        << "axis " << axis;
  }
}

TEST(JoinStack, GradientSelectsBack) {
  Tensor a = Tensor::zeros({2}).requires_grad_();
  Tensor b = Tensor::zeros({2}).requires_grad_();
  stack({a, b}, 1).backward(Tensor::from_vector({1, 2, 3, 4}, {2, 2}));  // rows [a0 b0], [a1 b1]
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{1, 3}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{2, 4}));
}

TEST(JoinStack, Errors) {
  EXPECT_TRUE(throws_error_containing([] { stack({}, 0); }, "stack: got an empty list of tensors"));
  EXPECT_TRUE(throws_error_containing(
      [] { stack({Tensor::ones({2, 3}), Tensor::ones({2, 3}), Tensor::ones({3, 2})}, 0); },
      "stack: tensor 2 has shape [3, 2] but tensor 0 has shape [2, 3]; stack needs equal shapes"));
  EXPECT_TRUE(throws_error_containing([] { stack({Tensor::ones({2, 3})}, 3); },
                                      "stack: axis 3 is out of range for a tensor of rank 3"));
}

}  // namespace
}  // namespace nibble
