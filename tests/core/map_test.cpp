// nibble::map_elements (core/map.h): elementwise helpers without autograd.
#include <gtest/gtest.h>

#include <cmath>

#include "core/map.h"
#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::throws_error_containing;

TEST(MapElements, OneTensorAnyLayout) {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(map_elements(x, [](float v) { return v * v; }).to_vector(),
            (std::vector<float>{1, 4, 9, 16, 25, 36}));
  // A transposed (non-contiguous) view is read in its own row-major order: [[1,4],[2,5],[3,6]].
  const Tensor t = map_elements(x.t(), [](float v) { return -v; });
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.to_vector(), (std::vector<float>{-1, -4, -2, -5, -3, -6}));
  EXPECT_EQ(map_elements(Tensor::zeros({0, 3}), [](float v) { return v + 1; }).shape(), (Shape{0, 3}));
}

TEST(MapElements, TwoTensorsBroadcast) {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = Tensor::from_vector({10, 20, 30});
  EXPECT_EQ(map_elements(a, b, [](float u, float v) { return v - u; }).to_vector(),
            (std::vector<float>{9, 18, 27, 6, 15, 24}));
  const Tensor col = Tensor::from_vector({1, -1}, {2, 1});
  EXPECT_EQ(map_elements(col, b, [](float u, float v) { return u * v; }).to_vector(),
            (std::vector<float>{10, 20, 30, -10, -20, -30}));
  EXPECT_TRUE(throws_error_containing(
      [&] { map_elements(a, Tensor::ones({2}), [](float u, float v) { return u + v; }, "my_op"); },
      "my_op: shapes [2, 3] and [2] do not broadcast"));
  EXPECT_TRUE(throws_error_containing([&] { map_elements(Tensor(), [](float v) { return v; }); }, "map_elements"));
}

TEST(MapElements, NotOnTheTape) {
  const Tensor x = Tensor::from_vector({1, 2}).requires_grad_();
  const Tensor y = map_elements(x, [](float v) { return 2 * v; });
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_FALSE(map_elements(x, x, [](float u, float v) { return u * v; }).requires_grad());
}

}  // namespace
}  // namespace nibble
