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

  int64_t embed_dim, num_heads, mlp_ratio;
  bool causal;
  // Checked typed accessors; forward() calls the children by name (nn/module.h says why).
  LayerNorm& ln1() const { return get_submodule_as<LayerNorm>("ln1"); }
  MultiHeadAttention& attn() const { return get_submodule_as<MultiHeadAttention>("attn"); }
  LayerNorm& ln2() const { return get_submodule_as<LayerNorm>("ln2"); }
  Linear& fc1() const { return get_submodule_as<Linear>("fc1"); }  // D -> mlp_ratio * D
  Linear& fc2() const { return get_submodule_as<Linear>("fc2"); }  // mlp_ratio * D -> D

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<TransformerBlock>(embed_dim, num_heads, causal, mlp_ratio);
  }
};

}  // namespace nibble::nn
