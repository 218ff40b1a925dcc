// Optimizer steps write parameters in place, so they bump the version counter (core/autograd.h):
// a graph recorded before a step refuses to run backward with the new values; the usual loop
// (zero_grad, forward, backward, step) never trips it.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "gradcheck.h"
#include "optim/optim.h"

namespace nibble::optim {
namespace {

using nibble::testing::throws_error_containing;

TEST(InPlaceVersion, StepBetweenForwardAndBackwardIsAnError) {
  Tensor w = Tensor::from_vector({1, 2}).requires_grad_();
  const Tensor x = Tensor::from_vector({3, 4});
  SgdOptions options;
  options.lr = 0.1f;
  SGD opt({w}, options);
  mul(w, x).sum().backward();  // a gradient for the step to use
  Tensor stale = mul(w, x).sum();
  opt.step();
  EXPECT_TRUE(throws_error_containing([&] { stale.backward(); }, "modified by an in-place operation"));
}

TEST(InPlaceVersion, UsualTrainingLoopIsFine) {
  Tensor w = Tensor::from_vector({1, 2}).requires_grad_();
  const Tensor x = Tensor::from_vector({3, 4});
  SgdOptions options;
  options.lr = 0.01f;
  SGD opt({w}, options);
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    mul(w, x).sum().backward();  // dL/dw = x
    opt.step();
  }
  EXPECT_NEAR(w.at({0}), 1.0f - 3 * 0.01f * 3.0f, 1e-6);
  EXPECT_NEAR(w.at({1}), 2.0f - 3 * 0.01f * 4.0f, 1e-6);
}

}  // namespace
}  // namespace nibble::optim
