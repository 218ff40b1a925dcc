// matmul: [M,K] @ [K,N] -> [M,N], batched with broadcasting, on top of sgemm (core/gemm.h).
//
// Forward   C = A B
// Backward  dA = dC B^T,   dB = A^T dC        (then summed over any broadcast batch axes)
#include "core/autograd.h"
#include "core/gemm.h"
#include "core/ops.h"
#include "core/ops/iterate.h"

namespace nibble {

namespace {

// A 2-d operand as sgemm wants it: a pointer, a row stride and whether it is stored transposed.
// Row-major and transposed (column-major) views are used in place; anything else is copied.
struct GemmOperand {
  Tensor keep_alive;
  const float* data;
  int64_t ld;
  bool transposed;
};

GemmOperand as_gemm_operand(const Tensor& m) {
  const int64_t rows = m.shape()[0], cols = m.shape()[1];
  const Shape& st = m.strides();
  if ((st[1] == 1 || cols == 1) && st[0] >= cols) return {m, m.data(), std::max<int64_t>(st[0], 1), false};
  if ((st[0] == 1 || rows == 1) && st[1] >= rows) return {m, m.data(), std::max<int64_t>(st[1], 1), true};
  const Tensor c = m.contiguous();
  return {c, c.data(), std::max<int64_t>(cols, 1), false};
}

// [M,K] @ [K,N] for 2-d tensors of any strides.
Tensor matmul_2d(const Tensor& a, const Tensor& b) {
  const int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  Tensor out = Tensor::empty({M, N});
  if (M == 0 || N == 0) return out;
  if (K == 0) return Tensor::zeros({M, N});
  const GemmOperand A = as_gemm_operand(a);
  const GemmOperand B = as_gemm_operand(b);
  sgemm(A.transposed, B.transposed, M, N, K, 1.0f, A.data, A.ld, B.data, B.ld, 0.0f, out.data(), N);
  return out;
}

// [..., M, K] @ [..., K, N] with broadcast batch axes; both at least 2-d.
Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  if (b.dim() == 2) {  // fold the batch into M: one big GEMM instead of many small ones
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    out_shape.push_back(N);
    return matmul_2d(a.reshape({-1, K}), b).reshape(out_shape);
  }
  const Shape batch = detail::broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                               Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  Shape a_full = batch, b_full = batch, out_shape = batch;
  a_full.insert(a_full.end(), {M, K});
  b_full.insert(b_full.end(), {K, N});
  out_shape.insert(out_shape.end(), {M, N});
  const int64_t count = numel_of(batch);
  const Tensor A = a.expand(a_full).contiguous().reshape({count, M, K});
  const Tensor B = b.expand(b_full).contiguous().reshape({count, K, N});
  Tensor out = Tensor::empty({count, M, N});
  for (int64_t i = 0; i < count; ++i) {
    if (K == 0) {
      for (int64_t j = 0; j < M * N; ++j) out.data()[i * M * N + j] = 0.0f;
      continue;
    }
    sgemm(false, false, M, N, K, 1.0f, A.data() + i * M * K, K, B.data() + i * K * N, N, 0.0f,
          out.data() + i * M * N, N);
  }
  return out.reshape(out_shape);
}

Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  return (a.dim() == 2 && b.dim() == 2) ? matmul_2d(a, b) : matmul_nd(a, b);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  NIBBLE_CHECK(a.defined() && b.defined(), "matmul", "an argument is an undefined tensor");
  NIBBLE_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul",
        "needs tensors of rank >= 1, got " + a.shape_str() + " @ " + b.shape_str());
  // NumPy's rule for vectors: a 1-d left operand is a row [1,K], a 1-d right operand a column [K,1];
  // the added axis is removed from the result.
  const Tensor a2 = a.dim() == 1 ? a.detach().unsqueeze(0) : a.detach();
  const Tensor b2 = b.dim() == 1 ? b.detach().unsqueeze(1) : b.detach();
  NIBBLE_CHECK(a2.size(-1) == b2.size(-2), "matmul",
        "inner dimensions differ: " + a.shape_str() + " @ " + b.shape_str(),
        "the last axis of the left operand must equal the second-to-last axis of the right one");
  const Tensor out2 = matmul_forward(a2, b2);
  Shape out_shape = out2.shape();
  if (b.dim() == 1) out_shape.erase(out_shape.end() - 1);
  if (a.dim() == 1) out_shape.erase(out_shape.end() - (b.dim() == 1 ? 1 : 2));
  Tensor out = out2.reshape(out_shape);

  const Shape out2_shape = out2.shape();
  return record("matmul", out, {a, b}, [a2, b2, a, b, out2_shape](const Tensor& g) {
    const Tensor g2 = g.reshape(out2_shape);
    Tensor ga, gb;
    if (a.requires_grad()) {  // dA = dC @ B^T
      ga = sum_to(matmul_forward(g2, b2.transpose(-1, -2)), a2.shape()).reshape(a.shape());
    }
    if (b.requires_grad()) {  // dB = A^T @ dC
      if (b2.dim() == 2) {    // batch folded into M in the forward: fold it here too
        const int64_t K = a2.size(-1), N = b2.size(-1);
        gb = matmul_2d(a2.reshape({-1, K}).t(), g2.reshape({-1, N}));
      } else {
        gb = sum_to(matmul_forward(a2.transpose(-1, -2), g2), b2.shape());
      }
      gb = gb.reshape(b.shape());
    }
    return grads{ga, gb};
  });
}

}  // namespace nibble
