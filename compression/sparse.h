// Compressed sparse row (CSR) weights and a sparse × dense product: does unstructured sparsity
// make a Linear layer faster? (module 03's lesson measures the crossover against the dense GEMM.)
//
// A weight W [out, in] with most entries zero is stored row by row as its non-zeros only:
//   row_ptr [out + 1]   row r's non-zeros are entries row_ptr[r] .. row_ptr[r+1]-1
//   cols    [nnz]       their column (input) indices, ascending
//   values  [nnz]       their values
// 4 + 4 bytes per non-zero (plus 4 per row) against 4 per entry dense: CSR stores less only below
// 50% density. Library code (given); the scalar loops are the reference, no SIMD intrinsics.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace nibble {

struct CsrMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<int32_t> row_ptr;  // [rows + 1]
  std::vector<int32_t> col_idx;  // [nnz]
  std::vector<float> values;     // [nnz]
  int64_t nnz() const { return static_cast<int64_t>(values.size()); }
  int64_t bytes() const;         // storage of the three arrays
};

// The non-zeros of a 2-D tensor (exact zeros are dropped; -0.0 counts as zero).
CsrMatrix to_csr(const Tensor& dense);
Tensor to_dense(const CsrMatrix& csr);

// y = x Wᵀ for x [B, in] and W (CSR) [out, in] -> y [B, out]: a Linear layer's product without the
// bias. Transposes x once, then for each row r of W accumulates value · x[:, col] over its
// non-zeros (an axpy over the batch that the compiler vectorises); OpenMP splits the rows of W.
Tensor csr_linear(const Tensor& x, const CsrMatrix& w);

}  // namespace nibble
