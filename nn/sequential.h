// Sequential: runs child modules one after another. Handy for tests, quick examples and model
// surgery (replace a Linear by Sequential{Linear(in, r), Linear(r, out)}); course code writes its
// forward passes out by hand so every step stays visible.
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
    register_module(std::to_string(named_children().size()), std::move(layer));
  }
  // The layers are the children "0", "1", ... read from the registry on every call, so a layer
  // swapped by replace_module("1", ...) is the one that runs.
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (const auto& [name, layer] : named_children()) h = layer->forward(h);
    return h;
  }
  size_t size() const { return named_children().size(); }
  std::shared_ptr<Module> operator[](size_t i) const { return named_children().at(i).second; }
  std::string name() const override { return "Sequential"; }

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<Sequential>(); }
};

}  // namespace nibble::nn
