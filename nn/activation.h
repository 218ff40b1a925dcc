// Parameter-free layers as modules, for Sequential and for printing a model's structure.
// In hand-written forward passes, calling the op (relu(x), gelu(x) ...) is just as good.
#pragma once

#include "core/ops.h"
#include "nn/module.h"

namespace nibble::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
  std::string name() const override { return "ReLU"; }

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<ReLU>(); }
};

class GELU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return gelu(x); }
  std::string name() const override { return "GELU"; }

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<GELU>(); }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override { return tanh(x); }
  std::string name() const override { return "Tanh"; }

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<Tanh>(); }
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
  std::string name() const override { return "Sigmoid"; }

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<Sigmoid>(); }
};

// [N, d1, d2, ...] -> [N, d1*d2*...]: keeps the batch axis, like torch.nn.Flatten().
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x.dim() <= 1 ? x : x.flatten(1); }
  std::string name() const override { return "Flatten"; }

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<Flatten>(); }
};

}  // namespace nibble::nn
