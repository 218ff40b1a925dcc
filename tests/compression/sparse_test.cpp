// CSR conversion and the sparse × dense product against the dense matmul (the oracle).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "compression/sparse.h"
#include "core/ops.h"

namespace {

nibble::Tensor sparse_random(int64_t rows, int64_t cols, double density, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::bernoulli_distribution keep(density);
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (auto& x : v) x = keep(rng) ? u(rng) : 0.0f;
  return nibble::Tensor::from_vector(v, {rows, cols});
}

}  // namespace

TEST(Sparse, CsrByHand) {
  // [[0, 2, 0], [0, 0, 0], [3, 0, -1]]
  const nibble::CsrMatrix c = nibble::to_csr(nibble::Tensor::from_vector({0, 2, 0, 0, 0, 0, 3, 0, -1}, {3, 3}));
  EXPECT_EQ(c.row_ptr, (std::vector<int32_t>{0, 1, 1, 3}));
  EXPECT_EQ(c.col_idx, (std::vector<int32_t>{1, 0, 2}));
  EXPECT_EQ(c.values, (std::vector<float>{2, 3, -1}));
  EXPECT_EQ(c.bytes(), 4 * 4 + 3 * 4 + 3 * 4);
  EXPECT_EQ(nibble::to_dense(c).to_vector(), (std::vector<float>{0, 2, 0, 0, 0, 0, 3, 0, -1}));
}

TEST(Sparse, CsrLinearMatchesDenseMatmul) {
  for (const double density : {0.0, 0.03, 0.3, 1.0}) {
    const nibble::Tensor w = sparse_random(37, 53, density, 7);
    const nibble::Tensor x = sparse_random(19, 53, 1.0, 8);
    const std::vector<float> want = nibble::matmul(x, w.t()).to_vector();
    const std::vector<float> got = nibble::csr_linear(x, nibble::to_csr(w)).to_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << "density " << density << " at " << i;
  }
  EXPECT_THROW(nibble::csr_linear(nibble::Tensor::ones({2, 4}), nibble::to_csr(nibble::Tensor::ones({3, 5}))),
               nibble::Error);
}
