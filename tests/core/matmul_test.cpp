// matmul against a double-precision triple loop, batched broadcasting, gradients, errors.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::gradcheck;
using testing::throws_error_containing;

// C = A B in double for 2-d row-major inputs given as tensors of any strides.
std::vector<double> reference_matmul(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  std::vector<double> c(M * N, 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) c[i * N + j] += double(a.at({i, k})) * b.at({k, j});
  return c;
}

void expect_close(const Tensor& got, const std::vector<double>& want, double tol) {
  const std::vector<float> g = got.to_vector();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], want[i], tol) << "at flat index " << i;
}

TEST(Matmul, HandComputed2x2) {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from_vector({5, 6, 7, 8}, {2, 2});
  EXPECT_EQ(matmul(a, b).to_vector(), (std::vector<float>{19, 22, 43, 50}));
}

TEST(Matmul, RandomShapesMatchDoubleReference) {
  manual_seed(20);
  for (auto [M, K, N] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {7, 13, 5}, {64, 784, 10}, {33, 1, 17}, {130, 70, 90}}) {
    const Tensor a = Tensor::randn({M, K});
    const Tensor b = Tensor::randn({K, N});
    expect_close(matmul(a, b), reference_matmul(a, b), 1e-4 * std::sqrt(double(K)) * 4);
    // Transposed (non-contiguous) operands take the sgemm transpose path.
    const Tensor at = Tensor::randn({K, M}).t();
    const Tensor bt = Tensor::randn({N, K}).t();
    expect_close(matmul(at, bt), reference_matmul(at, bt), 1e-4 * std::sqrt(double(K)) * 4);
  }
}

TEST(Matmul, VectorsFollowNumPy) {
  const Tensor m = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor v = Tensor::from_vector({1, 0, -1});
  EXPECT_EQ(matmul(m, v).shape(), (Shape{2}));
  EXPECT_EQ(matmul(m, v).to_vector(), (std::vector<float>{-2, -2}));
  EXPECT_EQ(matmul(Tensor::from_vector({1, 1}), m).to_vector(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(matmul(v, v).dim(), 0);
  EXPECT_EQ(matmul(v, v).item(), 2.0f);
}

TEST(Matmul, BatchedWithBroadcastBatchAxes) {
  manual_seed(21);
  const Tensor a = Tensor::randn({2, 1, 3, 4});
  const Tensor b = Tensor::randn({5, 4, 2});
  const Tensor c = matmul(a, b);
  ASSERT_EQ(c.shape(), (Shape{2, 5, 3, 2}));
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      const Tensor got = c.select(0, i).select(0, j);
      expect_close(got, reference_matmul(a.select(0, i).select(0, 0), b.select(0, j)), 1e-5);
    }
  }
  // [B,T,C] @ [C,N] folds the batch into one GEMM.
  const Tensor x = Tensor::randn({3, 4, 5});
  const Tensor w = Tensor::randn({5, 6});
  const Tensor y = matmul(x, w);
  ASSERT_EQ(y.shape(), (Shape{3, 4, 6}));
  expect_close(y.select(0, 2), reference_matmul(x.select(0, 2), w), 1e-5);
}

TEST(Matmul, Gradients) {
  manual_seed(22);
  EXPECT_TRUE(gradcheck([](const auto& x) { return matmul(x[0], x[1]); }, {Tensor::randn({3, 4}), Tensor::randn({4, 5})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return matmul(x[0], x[1]); }, {Tensor::randn({4, 3}).t(), Tensor::randn({5, 4}).t()}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return matmul(x[0], x[1]); }, {Tensor::randn({2, 3, 4}), Tensor::randn({4, 2})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return matmul(x[0], x[1]); }, {Tensor::randn({2, 1, 3, 4}), Tensor::randn({3, 4, 2})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return matmul(x[0], x[1]); }, {Tensor::randn({4}), Tensor::randn({4, 3})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return matmul(x[0], x[1]); }, {Tensor::randn({3, 4}), Tensor::randn({4})}));
  EXPECT_TRUE(gradcheck([](const auto& x) { return matmul(x[0], x[1]); }, {Tensor::randn({2, 2, 3, 4}), Tensor::randn({2, 2, 4, 3})}));
}

TEST(Matmul, ErrorsNameShapes) {
  EXPECT_TRUE(throws_error_containing([] { matmul(Tensor::zeros({32, 784}), Tensor::zeros({128, 10})); },
                                      "matmul: inner dimensions differ: [32, 784] @ [128, 10]"));
  EXPECT_TRUE(throws_error_containing([] { matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({5, 4, 2})); }, "do not broadcast"));
  EXPECT_TRUE(throws_error_containing([] { matmul(Tensor::scalar(1.0f), Tensor::zeros({2})); }, "rank"));
}

}  // namespace
}  // namespace nibble
