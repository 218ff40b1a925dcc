// Extension ops: apply_function (core/autograd.h) — an op with its own backward, written the way a
// module or a notebook outside core/ writes it.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "core/autograd.h"
#include "core/gradcheck.h"
#include "core/map.h"
#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::throws_error_containing;

// The straight-through estimator of module 04: round forward, identity backward.
Tensor ste_round(const Tensor& x) {
  return apply_function(
      "ste_round", {x},
      [](FunctionCtx&, const std::vector<Tensor>& in) {
        return map_elements(in[0], [](float v) { return std::nearbyint(v); });
      },
      [](const FunctionCtx&, const Tensor& g) { return grads{g}; });
}

// x^3 with the true derivative 3x^2, reading x from the context.
Tensor cube(const Tensor& x) {
  return apply_function(
      "cube", {x},
      [](FunctionCtx& ctx, const std::vector<Tensor>& in) {
        ctx.save_for_backward({in[0]});
        return map_elements(in[0], [](float v) { return v * v * v; });
      },
      [](const FunctionCtx& ctx, const Tensor& g) {
        const Tensor& x = ctx.saved_tensors()[0];
        return grads{map_elements(g, x, [](float gi, float xi) { return 3.0f * xi * xi * gi; })};
      });
}

// a * b with broadcasting: the backward undoes the broadcast with sum_to.
Tensor times(const Tensor& a, const Tensor& b) {
  const Shape sa = a.shape(), sb = b.shape();
  return apply_function(
      "times", {a, b},
      [](FunctionCtx& ctx, const std::vector<Tensor>& in) {
        ctx.save_for_backward({in[0], in[1]});
        return map_elements(in[0], in[1], [](float u, float v) { return u * v; }, "times");
      },
      [sa, sb](const FunctionCtx& ctx, const Tensor& g) {
        const Tensor& a = ctx.saved_tensors()[0];
        const Tensor& b = ctx.saved_tensors()[1];
        return grads{ctx.needs_input_grad(0) ? sum_to(mul(g, b), sa) : Tensor(),
                     ctx.needs_input_grad(1) ? sum_to(mul(g, a), sb) : Tensor()};
      });
}

TEST(Function, StraightThroughRoundPassesTheGradient) {
  Tensor x = Tensor::from_vector({0.4f, 1.6f, -2.7f}).requires_grad_();
  Tensor y = ste_round(x);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 2, -3}));
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_EQ(y.grad_fn()->name, "ste_round");
  mul(y, Tensor::from_vector({1, 2, 3})).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 2, 3}));  // identity backward
}

TEST(Function, TrueDerivativePassesGradcheck) {
  manual_seed(3);
  EXPECT_TRUE(testing::gradcheck([](const auto& in) { return cube(in[0]); }, {Tensor::randn({3, 4})}));
  EXPECT_TRUE(testing::gradcheck([](const auto& in) { return times(in[0], in[1]); },
                                 {Tensor::randn({4, 3}), Tensor::randn({3})}));
}

TEST(Function, ChainsWithLibraryOps) {
  // d/dx sum(exp(x)^3) = 3 e^{3x}
  Tensor x = Tensor::from_vector({0.0f, 0.5f}).requires_grad_();
  cube(exp(x)).sum().backward();
  EXPECT_NEAR(x.grad().at({0}), 3.0, 1e-5);
  EXPECT_NEAR(x.grad().at({1}), 3.0 * std::exp(1.5), 1e-4);
}

TEST(Function, NeedsInputGradSkipsConstants) {
  Tensor a = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor b = Tensor::from_vector({5});  // a constant: its gradient is never computed
  times(a, b).sum().backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{5, 5}));
  EXPECT_FALSE(b.grad().defined());
}

TEST(Function, NoTapeWithoutGrad) {
  Tensor x = Tensor::from_vector({1.2f}).requires_grad_();
  NoGradGuard guard;
  Tensor y = ste_round(x);
  EXPECT_EQ(y.item(), 1.0f);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(ste_round(Tensor::from_vector({2.6f})).grad_fn(), nullptr);
}

TEST(Function, ForwardRunsWithoutTheTape) {
  // Ops inside forward are not recorded, even though the inputs require grad.
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  bool saw_grad = true;
  Tensor y = apply_function(
      "probe", {x},
      [&](FunctionCtx&, const std::vector<Tensor>& in) {
        Tensor t = mul(in[0], 2.0f);
        saw_grad = t.requires_grad() || in[0].requires_grad();
        return t;
      },
      [](const FunctionCtx&, const Tensor& g) { return grads{g}; });
  EXPECT_FALSE(saw_grad);
  EXPECT_TRUE(y.requires_grad());
}

TEST(Function, SavedTensorWrittenInPlaceIsAnError) {
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor y = cube(x);
  x.at({1}) = 10.0f;
  EXPECT_TRUE(throws_error_containing([&] { y.sum().backward(); }, "cube:"));
}

TEST(Function, GraphIsFreedAfterBackward) {
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor y = cube(x);
  const std::weak_ptr<TensorImpl> saved = y.grad_fn()->saved[0].tensor.impl_ptr();
  y.sum().backward();
  EXPECT_TRUE(saved.expired()) << "the context's saved tensors must go with the graph";
  EXPECT_TRUE(throws_error_containing([&] { y.sum().backward(); }, "cube:"));
}

TEST(Function, ForwardReturningItsInputIsAnError) {
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  auto identity = [](FunctionCtx&, const std::vector<Tensor>& in) { return in[0]; };
  auto pass = [](const FunctionCtx&, const Tensor& g) { return grads{g}; };
  EXPECT_TRUE(throws_error_containing([&] { apply_function("identity", {x}, identity, pass); },
                                      "returned input 0 itself"));
  auto contiguous = [](FunctionCtx&, const std::vector<Tensor>& in) { return in[0].contiguous(); };
  EXPECT_TRUE(throws_error_containing([&] { apply_function("identity", {x}, contiguous, pass); },
                                      "clone()"));
  EXPECT_TRUE(x.is_leaf());
  auto copy = [](FunctionCtx&, const std::vector<Tensor>& in) { return in[0].clone(); };
  apply_function("identity", {x}, copy, pass).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 1}));
}

TEST(Function, ForwardReturningAParameterIsAnError) {
  Tensor x = Tensor::from_vector({1}).requires_grad_();
  Tensor w = Tensor::from_vector({3}).requires_grad_();
  auto leak = [&](FunctionCtx&, const std::vector<Tensor>&) { return w; };
  auto pass = [](const FunctionCtx&, const Tensor& g) { return grads{g}; };
  EXPECT_TRUE(throws_error_containing([&] { apply_function("leak", {x}, leak, pass); },
                                      "already requires grad"));
  EXPECT_TRUE(w.is_leaf());
}

TEST(Function, BadBackwardsAreNamed) {
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  auto fwd = [](FunctionCtx&, const std::vector<Tensor>& in) { return mul(in[0], 2.0f); };
  Tensor two = apply_function("two_grads", {x}, fwd,
                              [](const FunctionCtx&, const Tensor& g) { return grads{g, g}; });
  EXPECT_TRUE(throws_error_containing([&] { two.sum().backward(); },
                                      "two_grads: backward returned 2 gradients for 1 inputs"));
  Tensor shape = apply_function("bad_shape", {x}, fwd,
                                [](const FunctionCtx&, const Tensor&) { return grads{Tensor::ones({3})}; });
  EXPECT_TRUE(throws_error_containing([&] { shape.sum().backward(); }, "bad_shape: backward returned a gradient of shape [3]"));
  auto undefined = [](FunctionCtx&, const std::vector<Tensor>&) { return Tensor(); };
  EXPECT_TRUE(throws_error_containing(
      [&] { apply_function("nothing", {x}, undefined, [](const FunctionCtx&, const Tensor& g) { return grads{g}; }); },
      "nothing: forward returned an undefined tensor"));
}

}  // namespace
}  // namespace nibble
