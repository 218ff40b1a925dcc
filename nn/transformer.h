// A pre-norm Transformer block (as in GPT-2):
//   x = x + attention(layer_norm_1(x))
//   x = x + fc2(gelu(fc1(layer_norm_2(x))))        fc1: D -> 4D, fc2: 4D -> D
// Normalising *before* each sub-layer keeps the residual path clean and trains stably.
#pragma once

#include <memory>

#include "nn/attention.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"

namespace nibble::nn {

class TransformerBlock : public Module {
 public:
  TransformerBlock(int64_t embed_dim, int64_t num_heads, bool causal = false, int64_t mlp_ratio = 4);
  Tensor forward(const Tensor& x) override;  // [B,T,D] -> [B,T,D]
  std::string name() const override { return "TransformerBlock"; }

  std::shared_ptr<LayerNorm> ln1, ln2;
  std::shared_ptr<MultiHeadAttention> attn;
  std::shared_ptr<Linear> fc1, fc2;
};

}  // namespace nibble::nn
