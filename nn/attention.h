// MultiHeadAttention, written out step by step (Vaswani et al. 2017, "Attention is all you need").
//
//   x [B,T,D] --q_proj--> q [B,T,D] -> [B,H,T,d]      (H heads of size d = D/H)
//             --k_proj--> k            [B,H,T,d]
//             --v_proj--> v            [B,H,T,d]
//   scores = q k^T / sqrt(d)           [B,H,T,T]      (causal: entries j > i set to -inf)
//   attention = softmax(scores, -1)    [B,H,T,T]      each row a probability distribution
//   context = attention v              [B,H,T,d] -> [B,T,D] --out_proj--> y [B,T,D]
//
// The layer keeps the last `attention` tensor (still on the autograd tape), so the
// attention-entropy module can measure it — and add a differentiable regulariser on it. It does
// not keep the graph alive between steps: backward() frees the graph it ran through (see
// core/autograd.h), and under NoGradGuard nothing is recorded. Until the next backward or forward,
// the tensor holds the current batch's graph, as the loss does.
#pragma once

#include <memory>

#include "nn/linear.h"
#include "nn/module.h"

namespace nibble::nn {

class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t embed_dim, int64_t num_heads, bool causal = false);
  Tensor forward(const Tensor& x) override;  // self-attention: x [B,T,D] -> [B,T,D]
  std::string name() const override { return "MultiHeadAttention"; }

  int64_t embed_dim, num_heads, head_dim;
  bool causal;
  // The projections [D, D], checked typed accessors; forward() calls them by name (nn/module.h).
  Linear& q_proj() const { return get_submodule_as<Linear>("q_proj"); }
  Linear& k_proj() const { return get_submodule_as<Linear>("k_proj"); }
  Linear& v_proj() const { return get_submodule_as<Linear>("v_proj"); }
  Linear& out_proj() const { return get_submodule_as<Linear>("out_proj"); }
  Tensor attention;  // [B,H,T,T] from the last forward

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<MultiHeadAttention>(embed_dim, num_heads, causal);
  }
};

}  // namespace nibble::nn
