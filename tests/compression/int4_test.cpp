// Weight-only INT4 (compression/int4.h): the nibble layout by hand, the round trip within half a
// group's step, the on-the-fly linear against x · Ŵᵀ (both paths), and bad group sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "compression/int4.h"
#include "core/ops.h"
#include "gradcheck.h"

namespace {

using namespace nibble;

using nibble::testing::error_of;

TEST(Int4, PacksTwoCodesPerByteLowNibbleFirst) {
  // One group of 4: max|w| = 7 -> scale 1; codes 7, -2, 0, -7 -> nibbles 15, 6, 8, 1.
  const Int4Weights q = pack_int4(Tensor::from_vector({7, -2, 0.4f, -7}, {1, 4}), 4);
  ASSERT_EQ(q.packed.size(), 2u);
  EXPECT_EQ(q.packed[0], 0x6F) << "column 0 in the low nibble (15), column 1 in the high one (6)";
  EXPECT_EQ(q.packed[1], 0x18);
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_FLOAT_EQ(q.scales[0], 1.0f);
  EXPECT_EQ(q.bytes(), 2 + 4);
  EXPECT_EQ(unpack_int4(q).to_vector(), (std::vector<float>{7, -2, 0, -7}));
}

TEST(Int4, RoundTripWithinHalfAStepOfEachGroup) {
  manual_seed(20);
  const Tensor W = Tensor::randn({5, 96});
  for (const int64_t G : {32, 96}) {
    const Int4Weights q = pack_int4(W, G);
    ASSERT_EQ(q.scales.size(), static_cast<size_t>(5 * 96 / G));
    const std::vector<float> w = W.to_vector(), r = unpack_int4(q).to_vector();
    for (int64_t n = 0; n < 5; ++n)
      for (int64_t k = 0; k < 96; ++k) {
        double amax = 0;  // the group's own max|w|, computed here
        for (int64_t j = k / G * G; j < (k / G + 1) * G; ++j) amax = std::max(amax, std::fabs(double(w[n * 96 + j])));
        EXPECT_LE(std::fabs(r[n * 96 + k] - w[n * 96 + k]), amax / 7 / 2 + 1e-6) << "G " << G << " (" << n << ", " << k << ")";
      }
  }
}

TEST(Int4, LinearMatchesTheDequantizedProductOnBothPaths) {
  manual_seed(21);
  const Tensor W = Tensor::randn({70, 64}), b = Tensor::randn({70});
  const Int4Weights q = pack_int4(W, 32);
  const Tensor What = unpack_int4(q);
  for (const int64_t M : {1, 3, 37}) {  // row-by-row (M <= 8) and GEMM paths
    const Tensor x = Tensor::randn({M, 64});
    const std::vector<float> got = int4_linear(x, q, b).to_vector();
    const std::vector<float> xv = x.to_vector(), wv = What.to_vector(), bv = b.to_vector();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < 70; ++n) {
        double ref = bv[n];
        for (int64_t k = 0; k < 64; ++k) ref += double(xv[m * 64 + k]) * wv[n * 64 + k];
        EXPECT_NEAR(got[m * 70 + n], ref, 1e-4 * (1 + std::fabs(ref))) << "M " << M << " (" << m << ", " << n << ")";
      }
  }
  EXPECT_EQ(int4_linear(Tensor::randn({2, 3, 64}), q).shape(), (Shape{2, 3, 70}));
}

TEST(Int4, BadInputNamesTheGroupAndShapes) {
  const Tensor W = Tensor::ones({4, 96});
  EXPECT_NE(error_of([&] { pack_int4(W, 64); }).find("group_size = 64 does not divide the row of 96"),
            std::string::npos);
  EXPECT_NE(error_of([&] { pack_int4(W, 3); }).find("group_size = 3"), std::string::npos);
  EXPECT_NE(error_of([&] { pack_int4(W, 0); }).find("group_size = 0"), std::string::npos);
  const Int4Weights q = pack_int4(W, 32);
  EXPECT_NE(error_of([&] { int4_linear(Tensor::ones({2, 95}), q); }).find("[2, 95]"), std::string::npos);
}

}  // namespace
