// Dropout: zeroes each element with probability p while training (scaling the rest by 1/(1-p)),
// the identity in eval() mode.
#pragma once

#include "core/ops.h"
#include "nn/module.h"

namespace nibble::nn {

class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f) : p(p) {
    NIBBLE_CHECK(p >= 0.0f && p < 1.0f, "Dropout", "p must be in [0, 1), got " + std::to_string(p));
  }
  Tensor forward(const Tensor& x) override { return dropout(x, p, is_training()); }
  std::string name() const override { return "Dropout"; }
  float p;

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<Dropout>(p); }
};

}  // namespace nibble::nn
