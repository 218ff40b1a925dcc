// The tape: accumulation, reuse, no-grad, detach, long chains, seeds; the version check on
// saved tensors, freeing the graph (retain_graph), run-time op names, outputs aliasing inputs.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

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

// ---- in-place writes between forward and backward --------------------------------------------

TEST(AutogradVersion, WriteIntoAnInputAfterForwardIsAnErrorAtBackward) {
  // The review's reproduction: for y = sum(w*x), dL/dw = x = 3. Changing x[0] to 100 after the
  // forward used to give dL/dw[0] = 100 silently; now backward refuses, naming the op.
  Tensor w = Tensor::from_vector({2, 2}).requires_grad_();
  Tensor x = Tensor::from_vector({3, 3}).requires_grad_();
  Tensor y = mul(w, x).sum();
  x.at({0}) = 100.0f;
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "modified by an in-place operation"));
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "mul:"));
  EXPECT_FALSE(w.grad().defined()) << "a refused backward must not leave partial gradients";
}

TEST(AutogradVersion, WriteThroughDataPointerIsAnError) {
  Tensor w = Tensor::from_vector({2, 2}).requires_grad_();
  Tensor x = Tensor::from_vector({3, 3}).requires_grad_();
  Tensor y = mul(w, x).sum();
  x.data()[0] = 100.0f;
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "in-place"));
}

TEST(AutogradVersion, WriteThroughAnotherViewOfTheStorageIsAnError) {
  // The counter lives with the Storage: a detached view and a slice share it with x.
  Tensor w = Tensor::from_vector({2, 2}).requires_grad_();
  Tensor x = Tensor::from_vector({3, 3});
  Tensor y = mul(w, x).sum();
  Tensor view = x.detach().slice(0, 1, 2);
  view.at({0}) = 7.0f;
  EXPECT_EQ(x.at({1}), 7.0f);
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "input 1 [2]"));
}

TEST(AutogradVersion, WriteIntoASavedOutputIsAnError) {
  // exp's backward reads its own output y = e^x; overwriting y corrupts dy/dx = y.
  Tensor x = Tensor::from_vector({0, 1}).requires_grad_();
  Tensor y = exp(x);
  y.at({0}) = 5.0f;
  Tensor loss = y.sum();  // recorded after the write: sum itself is fine, exp is not
  EXPECT_TRUE(throws_error_containing([&] { loss.backward(); }, "exp:"));
}

TEST(AutogradVersion, ReadsAndLaterWritesDoNotTrip) {
  Tensor w = Tensor::from_vector({2, 5}).requires_grad_();
  Tensor x = Tensor::from_vector({3, 4});
  const uint64_t before = x.version();
  Tensor y = mul(w, x).sum();
  // Reading through const access is not a write.
  EXPECT_EQ(std::as_const(x).data()[1], 4.0f);
  EXPECT_EQ(std::as_const(x).at({0}), 3.0f);
  EXPECT_EQ(x.to_vector(), (std::vector<float>{3, 4}));
  EXPECT_EQ(x.version(), before);
  y.backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{3, 4}));
  x.at({0}) = 1.0f;  // after backward: allowed, and counted
  EXPECT_GT(x.version(), before);
}

TEST(AutogradVersion, SetMaskAfterForwardIsAnError) {
  // set_mask zeroes the pruned weights in place: the graph recorded before it is stale.
  Tensor w = Tensor::from_vector({2, 5}).requires_grad_();
  Tensor x = Tensor::from_vector({3, 4}).requires_grad_();
  Tensor y = mul(w, x).sum();
  w.set_mask(Tensor::from_vector({1, 0}));
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "set_mask"));  // named in the hint
}

TEST(AutogradVersion, ExplicitBumpCountsAsAWrite) {
  Tensor w = Tensor::from_vector({1}).requires_grad_();
  Tensor y = mul(w, w).sum();
  const uint64_t v = w.version();
  w.bump_version();
  EXPECT_EQ(w.version(), v + 1);
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "version"));
}

// ---- freeing the graph ----------------------------------------------------------------------

TEST(AutogradGraph, SecondBackwardThroughAFreedGraphIsAnError) {
  Tensor w = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor y = mul(w, Tensor::from_vector({3, 4})).sum();
  y.backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{3, 4}));
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "retain_graph"));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{3, 4})) << "the refused pass added nothing";
}

TEST(AutogradGraph, RetainGraphAccumulatesTwice) {
  Tensor w = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor y = mul(w, Tensor::from_vector({3, 4})).sum();
  y.backward(/*retain_graph=*/true);
  y.backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{6, 8}));
  EXPECT_TRUE(throws_error_containing([&] { y.backward(); }, "already freed"));
}

TEST(AutogradGraph, RetainGraphWithAnExplicitSeed) {
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor y = mul(x, x);
  y.backward(Tensor::from_vector({1, 1}), /*retain_graph=*/true);
  y.backward(Tensor::from_vector({1, 0}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{4, 4}));  // 2x*1 + 2x*1, 2x*1 + 0
}

TEST(AutogradGraph, BackwardReleasesTheActivations) {
  // While the loss tensor lives, its Node used to keep every intermediate alive.
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor h = mul(x, 2.0f);
  const std::weak_ptr<TensorImpl> watch = h.impl_ptr();
  Tensor loss = mul(h, h).sum();
  h = Tensor();
  ASSERT_FALSE(watch.expired()) << "before backward the graph must keep h for its gradient";
  loss.backward();
  EXPECT_TRUE(watch.expired()) << "backward() must free the graph it ran through";
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{8, 16}));  // d(4x^2)/dx = 8x
}

TEST(AutogradGraph, SharedSubgraphNeedsRetainGraph) {
  // Two losses over one h: the first backward frees h's Node, so the second needs retain_graph.
  Tensor x = Tensor::from_vector({1}).requires_grad_();
  Tensor h = mul(x, 3.0f);
  Tensor a = mul(h, 2.0f).sum(), b = mul(h, 5.0f).sum();
  a.backward();
  EXPECT_TRUE(throws_error_containing([&] { b.backward(); }, "mul_scalar"));
  Tensor h2 = mul(x, 3.0f);
  Tensor a2 = mul(h2, 2.0f).sum(), b2 = mul(h2, 5.0f).sum();
  x.zero_grad();
  a2.backward(/*retain_graph=*/true);
  b2.backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 21.0f);  // 3*2 + 3*5
}

// ---- Node names and outputs that alias inputs ------------------------------------------------

TEST(AutogradNode, NameBuiltAtRunTimeIsKept) {
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  Tensor y;
  {
    std::string name = "scale_by_" + std::to_string(3);
    y = record(name, mul(x.detach(), 3.0f), {x}, [](const Tensor& g) { return grads{mul(g, 3.0f)}; });
    name.assign(40, 'x');  // reuse (and reallocate) the buffer the name came from
  }
  EXPECT_EQ(y.grad_fn()->name, "scale_by_3");
  x.at({0}) = 0.0f;
  EXPECT_TRUE(throws_error_containing([&] { y.sum().backward(); }, "scale_by_3:"));
}

TEST(AutogradNode, OutputThatIsItsOwnInputIsAnError) {
  // Recording on the input itself used to make the leaf x a non-leaf whose Node points back at x
  // (a cycle that leaks), and x.grad() stayed empty after backward.
  Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  EXPECT_TRUE(throws_error_containing(
      [&] { record("identity", x, {x}, [](const Tensor& g) { return grads{g}; }); }, "itself"));
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.grad_fn(), nullptr);
  // The same op returning a new tensor works, and x gets its gradient.
  Tensor y = record("identity", x.detach().clone(), {x}, [](const Tensor& g) { return grads{g}; });
  mul(y, 3.0f).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3, 3}));
}

TEST(AutogradNode, ViewsAndContiguousKeepLeavesLeaves) {
  // contiguous() on a contiguous tensor returns the tensor itself: it must not record anything.
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor c = x.contiguous();
  EXPECT_EQ(c.impl(), x.impl());
  EXPECT_TRUE(x.is_leaf());
  Tensor r = x.reshape({4});  // a view: a new tensor with its own Node
  EXPECT_NE(r.impl(), x.impl());
  EXPECT_FALSE(r.is_leaf());
  mul(r, 2.0f).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 2, 2, 2}));
  const Tensor g = Tensor::ones({2, 2});
  EXPECT_EQ(sum_to(g, {2, 2}).impl(), g.impl()) << "sum_to returns its argument when shapes agree";
}

// ---- memory -------------------------------------------------------------------------------------

TEST(TensorMemory, HugeAllocationIsANibbleError) {
  EXPECT_TRUE(throws_error_containing([] { Tensor::empty({int64_t{1} << 40}); }, "Storage"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::empty({int64_t{1} << 40}); }, "GiB"));
  EXPECT_TRUE(throws_error_containing([] { Tensor::zeros({int64_t{1} << 40, int64_t{1} << 40}); },
                                      "more elements than"));
}

}  // namespace
}  // namespace nibble
