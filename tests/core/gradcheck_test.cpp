// nibble::gradcheck (core/gradcheck.h) itself: it must pass correct backwards, catch wrong ones,
// name the failing entry, and leave its inputs as it found them.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/gradcheck.h"
#include "core/map.h"
#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::throws_error_containing;

// exp with a deliberately wrong backward: 2 e^x instead of e^x.
Tensor wrong_exp(const Tensor& x) {
  return apply_function(
      "wrong_exp", {x},
      [](FunctionCtx& ctx, const std::vector<Tensor>& in) {
        Tensor y = map_elements(in[0], [](float v) { return std::exp(v); });
        ctx.save_for_backward({y});
        return y;
      },
      [](const FunctionCtx& ctx, const Tensor& g) { return grads{mul(mul(g, ctx.saved_tensors()[0]), 2.0f)}; });
}

TEST(Gradcheck, PassesACorrectBackward) {
  manual_seed(1);
  const GradcheckResult r = gradcheck([](const std::vector<Tensor>& x) { return mul(exp(x[0]), x[1]); },
                                      {Tensor::randn({2, 3}), Tensor::randn({3})});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.checked, 9);
  EXPECT_EQ(r.mismatches, 0);
  EXPECT_TRUE(r.message.empty());
}

TEST(Gradcheck, CatchesAWrongBackwardAndNamesTheEntry) {
  manual_seed(2);
  const Tensor x = Tensor::from_vector({0.1f, -0.3f});
  const GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return wrong_exp(in[0]); }, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.mismatches, 2);
  EXPECT_NE(r.message.find("input 0 [2] at [1]"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("analytic"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("finite-difference"), std::string::npos) << r.message;
  // The inputs come back with their values.
  EXPECT_EQ(std::as_const(x).at({0}), 0.1f);
  EXPECT_EQ(std::as_const(x).at({1}), -0.3f);
}

TEST(Gradcheck, RaiseThrowsTheMessage) {
  GradcheckOptions options;
  options.raise = true;
  EXPECT_TRUE(throws_error_containing(
      [&] { gradcheck([](const std::vector<Tensor>& in) { return wrong_exp(in[0]); }, {Tensor::ones({2})}, options); },
      "gradcheck: 2 of 2 gradient entries disagree"));
}

TEST(Gradcheck, ShortFormAndTolerance) {
  // 4x^2's derivative 8x is exact under central differences: a tight tolerance still passes.
  auto f = [](const std::vector<Tensor>& in) { return mul(mul(in[0], in[0]), 4.0f); };
  EXPECT_TRUE(gradcheck(f, {Tensor::from_vector({0.5f, 1.0f})}, 1e-2, 1e-3).ok);
  // wrong_exp is off by a factor 2: no tolerance below 1 hides that.
  EXPECT_FALSE(gradcheck([](const std::vector<Tensor>& in) { return wrong_exp(in[0]); },
                         {Tensor::from_vector({0.5f})}, 1e-3, 0.3)
                   .ok);
}

TEST(Gradcheck, InputWithoutAPathIsReported) {
  const GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return exp(in[0]); },
                                      {Tensor::ones({2}), Tensor::ones({3})});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("input 1 [3] received no gradient"), std::string::npos) << r.message;
  const Tensor leaf = Tensor::ones({1}).requires_grad_();
  EXPECT_TRUE(throws_error_containing(
      [&] { gradcheck([](const std::vector<Tensor>& in) { return exp(in[0]); }, {mul(leaf, 2.0f)}); },
      "input 0 is not a leaf"));
}

}  // namespace
}  // namespace nibble
