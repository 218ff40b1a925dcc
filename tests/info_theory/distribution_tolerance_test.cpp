// One tolerance for "sums to 1" across the course: a row that module 02's attention check accepts
// must not be refused inside module 01's entropy_bits, which module 02 calls on every row.
#include <gtest/gtest.h>

#include <cmath>

#include "info_theory/attention_entropy.h"
#include "info_theory/entropy.h"

namespace nibble {
namespace {

TEST(DistributionTolerance, AnAttentionRowModule02AcceptsIsAcceptedByModule01) {
  // [B=1, H=1, T=2, T=2]; row 0 sums to 1 + 5e-4: inside 1e-3, outside the old 1e-4.
  const Tensor w = Tensor::from_vector({0.5005f, 0.5f, 0.25f, 0.75f}, {1, 1, 2, 2});
  EXPECT_NO_THROW(validate_attention_weights(w, "test"));
  const Tensor h = entropy_bits(w, -1);  // [1, 1, 2]
  // By hand: row 1 is {1/4, 3/4}: H = 1/4*2 + 3/4*log2(4/3).
  EXPECT_NEAR(h.to_vector()[1], 0.5 + 0.75 * std::log2(4.0 / 3.0), 1e-5);
  const Tensor a = attention_entropy_bits(w);  // module 02 -> module 01 on every row
  EXPECT_EQ(a.numel(), 2);
}

TEST(DistributionTolerance, BothModulesRefuseTheSameRowOutsideTheTolerance) {
  const Tensor w = Tensor::from_vector({0.502f, 0.5f, 0.25f, 0.75f}, {1, 1, 2, 2});  // 1 + 2e-3
  EXPECT_THROW(validate_attention_weights(w, "test"), Error);
  EXPECT_THROW(entropy_bits(w, -1), Error);
  EXPECT_FLOAT_EQ(kAttentionRowTolerance, kTensorDistributionTolerance);
}

}  // namespace
}  // namespace nibble
