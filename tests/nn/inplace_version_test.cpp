// load_state_dict copies into the parameters in place: a graph recorded before the load must not
// run backward with the loaded values (core/autograd.h, the version rule).
#include <gtest/gtest.h>

#include "core/ops.h"
#include "gradcheck.h"
#include "nn/nn.h"

namespace nibble::nn {
namespace {

using nibble::testing::throws_error_containing;

TEST(InPlaceVersion, LoadStateDictBetweenForwardAndBackwardIsAnError) {
  manual_seed(21);
  Linear fc(2, 1), other(2, 1);
  const Tensor x = Tensor::randn({4, 2});
  Tensor loss = fc(x).sum();
  fc.load_state_dict(other.state_dict());
  EXPECT_TRUE(throws_error_containing([&] { loss.backward(); }, "modified by an in-place operation"));
  // A forward after the load is fine.
  fc(x).sum().backward();
  EXPECT_TRUE(fc.weight.grad().defined());
}

}  // namespace
}  // namespace nibble::nn
