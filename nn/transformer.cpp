#include "nn/transformer.h"

#include "core/ops.h"

namespace nibble::nn {

TransformerBlock::TransformerBlock(int64_t dim, int64_t heads, bool is_causal, int64_t ratio)
    : embed_dim(dim), num_heads(heads), mlp_ratio(ratio), causal(is_causal) {
  NIBBLE_CHECK(ratio > 0, "TransformerBlock", "mlp_ratio must be positive");
  register_module("ln1", std::make_shared<LayerNorm>(Shape{dim}));
  register_module("attn", std::make_shared<MultiHeadAttention>(dim, heads, is_causal));
  register_module("ln2", std::make_shared<LayerNorm>(Shape{dim}));
  register_module("fc1", std::make_shared<Linear>(dim, ratio * dim));
  register_module("fc2", std::make_shared<Linear>(ratio * dim, dim));
}

Tensor TransformerBlock::forward(const Tensor& x) {
  const Tensor h = add(x, child("attn")(child("ln1")(x)));                 // [B,T,D]
  return add(h, child("fc2")(gelu(child("fc1")(child("ln2")(h)))));        // [B,T,D]
}

}  // namespace nibble::nn
