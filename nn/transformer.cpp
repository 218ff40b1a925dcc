#include "nn/transformer.h"

#include "core/ops.h"

namespace nibble::nn {

TransformerBlock::TransformerBlock(int64_t dim, int64_t heads, bool causal, int64_t mlp_ratio) {
  NIBBLE_CHECK(mlp_ratio > 0, "TransformerBlock", "mlp_ratio must be positive");
  ln1 = register_module("ln1", std::make_shared<LayerNorm>(Shape{dim}));
  attn = register_module("attn", std::make_shared<MultiHeadAttention>(dim, heads, causal));
  ln2 = register_module("ln2", std::make_shared<LayerNorm>(Shape{dim}));
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, mlp_ratio * dim));
  fc2 = register_module("fc2", std::make_shared<Linear>(mlp_ratio * dim, dim));
}

Tensor TransformerBlock::forward(const Tensor& x) {
  const Tensor h = add(x, attn->forward(ln1->forward(x)));                 // [B,T,D]
  return add(h, fc2->forward(gelu(fc1->forward(ln2->forward(h)))));        // [B,T,D]
}

}  // namespace nibble::nn
