// The tape: accumulation, reuse, no-grad, detach, long chains, seeds.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::throws_error_containing;

TEST(Autograd, GradientsAccumulateUntilZeroGrad) {
  Tensor x = Tensor::scalar(3.0f).requires_grad_();
  mul(x, x).backward();  // d(x^2)/dx = 2x = 6
  EXPECT_FLOAT_EQ(x.grad().item(), 6.0f);
  mul(x, x).backward();  // accumulates: 6 + 6
  EXPECT_FLOAT_EQ(x.grad().item(), 12.0f);
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  mul(x, 5.0f).backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 5.0f);
}

TEST(Autograd, ReusedTensorSumsItsGradients) {
  // y = x*x + x*3 + x  =>  dy/dx = 2x + 4 = 8 at x = 2
  Tensor x = Tensor::scalar(2.0f).requires_grad_();
  Tensor y = add(add(mul(x, x), mul(x, 3.0f)), x);
  y.backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 8.0f);
}

TEST(Autograd, DiamondGraph) {
  // a = x+1; b = a*a; c = a*2; y = b*c = 2 a^3  =>  dy/dx = 6 a^2 = 6*16 = 96 at x = 3
  Tensor x = Tensor::scalar(3.0f).requires_grad_();
  Tensor a = add(x, 1.0f);
  Tensor y = mul(mul(a, a), mul(a, 2.0f));
  y.backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 96.0f);
}

TEST(Autograd, LongChainDoesNotOverflowTheStack) {
  // 100 000 ops in a chain: both the backward walk and the graph's destruction must be iterative.
  Tensor x = Tensor::scalar(1.0f).requires_grad_();
  {
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = add(y, 1.0f);  // integers: exact in float
    y.backward();
    EXPECT_EQ(y.item(), 100001.0f);
  }  // y and its 100 000 Nodes die here
  EXPECT_FLOAT_EQ(x.grad().item(), 1.0f);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = Tensor::ones({3}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = mul(x, 2.0f);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE(mul(x, 2.0f).requires_grad());
}

TEST(Autograd, DetachCutsTheGraphButSharesStorage) {
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor y = mul(x, 3.0f);
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.data(), y.data());
  // z = x * detach(3x): the detached factor is a constant, so dz/dx = 3x = [3, 6]
  mul(x, d).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3, 6}));
}

TEST(Autograd, ExplicitSeedForNonScalars) {
  Tensor x = Tensor::from_vector({1, 2, 3}).requires_grad_();
  Tensor y = mul(x, x);
  y.backward(Tensor::from_vector({1, 0, -1}));  // grad = seed * 2x
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 0, -6}));
}

TEST(Autograd, RetainGradKeepsIntermediateGradients) {
  Tensor x = Tensor::scalar(2.0f).requires_grad_();
  Tensor h = mul(x, x);
  h.retain_grad();
  mul(h, 3.0f).backward();
  EXPECT_FLOAT_EQ(h.grad().item(), 3.0f);
  EXPECT_FLOAT_EQ(x.grad().item(), 12.0f);
}

TEST(Autograd, ErrorsNameTheProblem) {
  Tensor x = Tensor::ones({2, 3}).requires_grad_();
  Tensor y = mul(x, 2.0f);
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "[2, 3]"));
  EXPECT_TRUE(throws_error_containing([&] { y.backward(Tensor::ones({3})); }, "gradient shape [3]"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::ones({2}).sum().backward(); }, "does not require grad"));
  EXPECT_TRUE(throws_error_containing([&] { y.requires_grad_(); }, "leaf"));
}

}  // namespace
}  // namespace nibble
