// tril / triu: keep the lower / upper triangle of the last two axes, batched over the others.
// Element (r, c) of each [R, C] matrix is kept when c - r <= offset (tril) or c - r >= offset
// (triu), and set to 0 otherwise. Keeping is linear with derivative 1, dropping has derivative 0,
// so the backward applies the same triangle to g.
#include "core/autograd.h"
#include "core/ops.h"

namespace nibble {

namespace {

// The kept triangle of x ([..., R, C]) with zeros written elsewhere — written, not multiplied, so a
// NaN or inf outside the triangle cannot leak. keep(c - r) says whether diagonal c - r survives.
template <typename Keep>
Tensor keep_triangle(const Tensor& x, Keep keep) {
  const Tensor in = x.detach().contiguous();
  const int64_t rows = in.size(-2), cols = in.size(-1);
  const int64_t batch = rows * cols == 0 ? 0 : in.numel() / (rows * cols);
  Tensor out = Tensor::empty(in.shape());
  const float* src = in.data();
  float* dst = out.data();
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = (b * rows + r) * cols;
      for (int64_t c = 0; c < cols; ++c) dst[row + c] = keep(c - r) ? src[row + c] : 0.0f;
    }
  }
  return out;
}

template <typename Keep>
Tensor triangle_op(const Tensor& a, const char* op, Keep keep) {
  NIBBLE_CHECK(a.defined(), op, "argument is an undefined tensor");
  NIBBLE_CHECK(
      a.dim() >= 2, op,
      "needs a tensor of rank >= 2 (a matrix or a batch of them), got shape " + a.shape_str(),
      "the triangle is taken on the last two axes; reshape a vector to [1, n] first");
  // d out / d x = 1 inside the triangle, 0 outside: the backward is the same triangle of g.
  return record(op, keep_triangle(a, keep), {a},
                [keep](const Tensor& g) { return grads{keep_triangle(g, keep)}; });
}

}  // namespace

Tensor tril(const Tensor& a, int64_t offset) {
  return triangle_op(a, "tril", [offset](int64_t diagonal) { return diagonal <= offset; });
}

Tensor triu(const Tensor& a, int64_t offset) {
  return triangle_op(a, "triu", [offset](int64_t diagonal) { return diagonal >= offset; });
}

}  // namespace nibble
