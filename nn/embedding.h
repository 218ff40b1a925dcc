// Embedding: a lookup table of learned vectors. weight [num_embeddings, dim] ~ N(0, 1) (PyTorch).
// forward(ids, shape): ids are row-major indices of the given shape -> shape + [dim].
#pragma once

#include "core/ops.h"
#include "nn/module.h"

namespace nibble::nn {

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim) : num_embeddings(num_embeddings), dim(dim) {
    NIBBLE_CHECK(num_embeddings > 0 && dim > 0, "Embedding", "sizes must be positive");
    weight = register_parameter("weight", Tensor::randn({num_embeddings, dim}));
  }
  using Module::forward;  // keep the base's forward(Tensor) visible (it throws: ids are not floats)
  Tensor forward(const std::vector<int64_t>& ids, const Shape& shape) {
    return embedding(weight, ids, shape);
  }
  std::string name() const override { return "Embedding"; }

  int64_t num_embeddings, dim;
  Tensor weight;  // [num_embeddings, dim]

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<Embedding>(num_embeddings, dim);
  }
};

}  // namespace nibble::nn
