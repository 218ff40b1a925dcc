#include "nn/attention.h"

#include <cmath>
#include <limits>

#include "core/ops.h"

namespace nibble::nn {

MultiHeadAttention::MultiHeadAttention(int64_t dim, int64_t heads, bool is_causal)
    : embed_dim(dim), num_heads(heads), head_dim(heads > 0 ? dim / heads : 0), causal(is_causal) {
  NIBBLE_CHECK(dim > 0 && heads > 0 && dim % heads == 0, "MultiHeadAttention",
        "embed_dim " + std::to_string(dim) + " must be a positive multiple of num_heads " +
            std::to_string(heads));
  register_module("q_proj", std::make_shared<Linear>(dim, dim));
  register_module("k_proj", std::make_shared<Linear>(dim, dim));
  register_module("v_proj", std::make_shared<Linear>(dim, dim));
  register_module("out_proj", std::make_shared<Linear>(dim, dim));
}

Tensor MultiHeadAttention::forward(const Tensor& x) {
  NIBBLE_CHECK(x.defined() && x.dim() == 3 && x.size(2) == embed_dim, "MultiHeadAttention::forward",
        "expects x [B, T, " + std::to_string(embed_dim) + "], got " +
            (x.defined() ? x.shape_str() : std::string("(undefined)")));
  const int64_t B = x.size(0), T = x.size(1), H = num_heads, d = head_dim;
  // [B,T,D] -> [B,T,H,d] -> [B,H,T,d]: each head sees its own d-dimensional slice.
  auto split_heads = [&](const Tensor& t) { return t.reshape({B, T, H, d}).transpose(1, 2); };
  const Tensor q = split_heads(child("q_proj")(x));
  const Tensor k = split_heads(child("k_proj")(x));
  const Tensor v = split_heads(child("v_proj")(x));

  // Scaling by 1/sqrt(d) keeps the scores' variance near 1, so softmax does not saturate.
  Tensor scores = mul(matmul(q, k.transpose(-1, -2)), 1.0f / std::sqrt(static_cast<float>(d)));
  if (causal) {  // token i may only attend to tokens j <= i
    Tensor future = Tensor::zeros({T, T});
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = i + 1; j < T; ++j) future.at({i, j}) = 1.0f;
    scores = masked_fill(scores, future, -std::numeric_limits<float>::infinity());
  }
  attention = softmax(scores, -1);                 // [B,H,T,T]
  const Tensor context = matmul(attention, v);     // [B,H,T,d]
  return child("out_proj")(context.transpose(1, 2).reshape({B, T, embed_dim}));  // [B,T,D]
}

}  // namespace nibble::nn
