#include "compression/sparse.h"

#include <algorithm>
#include <string>

#include "core/autograd.h"
#include "core/error.h"

namespace nibble {

int64_t CsrMatrix::bytes() const {
  return static_cast<int64_t>(row_ptr.size() * sizeof(int32_t) + col_idx.size() * sizeof(int32_t) +
                              values.size() * sizeof(float));
}

CsrMatrix to_csr(const Tensor& dense) {
  NIBBLE_CHECK(dense.defined() && dense.dim() == 2, "to_csr",
               "expects a 2-D tensor, got " + (dense.defined() ? dense.shape_str() : std::string("undefined")),
               "a Linear weight [out, in]; reshape a Conv2d weight to [OC, C·KH·KW]");
  NIBBLE_CHECK(dense.numel() < (int64_t{1} << 31), "to_csr", "too many entries for 32-bit indices: " + dense.shape_str());
  CsrMatrix csr;
  csr.rows = dense.size(0);
  csr.cols = dense.size(1);
  const std::vector<float> v = dense.contiguous().to_vector();
  csr.row_ptr.reserve(static_cast<size_t>(csr.rows) + 1);
  csr.row_ptr.push_back(0);
  for (int64_t r = 0; r < csr.rows; ++r) {
    for (int64_t c = 0; c < csr.cols; ++c) {
      const float x = v[static_cast<size_t>(r * csr.cols + c)];
      if (x != 0.0f) {
        csr.col_idx.push_back(static_cast<int32_t>(c));
        csr.values.push_back(x);
      }
    }
    csr.row_ptr.push_back(static_cast<int32_t>(csr.values.size()));
  }
  return csr;
}

Tensor to_dense(const CsrMatrix& csr) {
  Tensor out = Tensor::zeros({csr.rows, csr.cols});
  float* o = out.data();
  for (int64_t r = 0; r < csr.rows; ++r)
    for (int32_t k = csr.row_ptr[static_cast<size_t>(r)]; k < csr.row_ptr[static_cast<size_t>(r) + 1]; ++k)
      o[r * csr.cols + csr.col_idx[static_cast<size_t>(k)]] = csr.values[static_cast<size_t>(k)];
  return out;
}

Tensor csr_linear(const Tensor& x, const CsrMatrix& w) {
  NIBBLE_CHECK(x.defined() && x.dim() == 2 && x.size(1) == w.cols, "csr_linear",
               "x " + (x.defined() ? x.shape_str() : std::string("undefined")) + " does not match W [" +
                   std::to_string(w.rows) + ", " + std::to_string(w.cols) + "]",
               "x is [B, in] with in = W's columns");
  NoGradGuard no_grad;
  const int64_t B = x.size(0);
  const Tensor xt = x.t().contiguous();  // [in, B]: column c of x is a contiguous row
  const float* X = xt.data();
  Tensor yt = Tensor::zeros({w.rows, B});  // [out, B]
  float* Y = yt.data();
#pragma omp parallel for schedule(static) if (w.rows * B > 4096)
  for (int64_t r = 0; r < w.rows; ++r) {
    float* __restrict y = Y + r * B;
    for (int32_t k = w.row_ptr[static_cast<size_t>(r)]; k < w.row_ptr[static_cast<size_t>(r) + 1]; ++k) {
      const float v = w.values[static_cast<size_t>(k)];
      const float* __restrict xc = X + static_cast<int64_t>(w.col_idx[static_cast<size_t>(k)]) * B;
#pragma omp simd
      for (int64_t b = 0; b < B; ++b) y[b] += v * xc[b];
    }
  }
  return yt.t().contiguous();  // [B, out]
}

}  // namespace nibble
