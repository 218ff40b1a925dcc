// Sequential: runs child modules one after another. Handy for tests and quick examples; course
// code writes its forward passes out by hand so every step stays visible.
#pragma once

#include <memory>
#include <vector>

#include "nn/module.h"

namespace nibble::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers) {
    for (auto& layer : layers) push_back(std::move(layer));
  }
  void push_back(std::shared_ptr<Module> layer) {
    layers_.push_back(register_module(std::to_string(layers_.size()), std::move(layer)));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (auto& layer : layers_) h = layer->forward(h);
    return h;
  }
  size_t size() const { return layers_.size(); }
  std::shared_ptr<Module> operator[](size_t i) const { return layers_.at(i); }
  std::string name() const override { return "Sequential"; }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace nibble::nn
