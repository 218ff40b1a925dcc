// Module: the base of every layer and model, after the PyTorch C++ frontend.
//
// A module owns named parameters (trainable tensors), named buffers (state that is saved but not
// trained, e.g. running statistics) and named child modules. Registering them is what lets
// model.parameters() find every weight without hand-written lists, and what gives checkpoints
// their names ("conv1.weight", "blocks.0.attn.q_proj.bias").
//
//   struct Mlp : nn::Module {
//     std::shared_ptr<nn::Linear> fc1, fc2;
//     Mlp() { fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 256));
//             fc2 = register_module("fc2", std::make_shared<nn::Linear>(256, 10)); }
//     Tensor forward(const Tensor& x) override { return fc2->forward(relu(fc1->forward(x))); }
//   };
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace nibble::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;

  // The usual single-input forward. Modules with other signatures (attention with a mask, ...)
  // add their own overloads; calling this on a module that has none is an error.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // All parameters of this module and its children, depth-first in registration order.
  std::vector<Tensor> parameters() const;
  NamedTensors named_parameters() const;  // names joined with '.': "fc1.weight"
  NamedTensors named_buffers() const;
  NamedTensors state_dict() const;  // parameters then buffers: what a checkpoint stores
  // Copies values into this module's tensors (in place, so optimizers keep working). Every name
  // must be present with the right shape, and no extra names may appear.
  void load_state_dict(const NamedTensors& state);

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    return children_;
  }

  void train(bool on = true);  // recursive; affects Dropout and friends
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();  // clears the gradients of all parameters
  int64_t parameter_count() const;  // total number of scalar parameters

  virtual std::string name() const { return "Module"; }  // for printing and errors

 protected:
  // Stores `t` as a leaf requiring gradients and returns the stored handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace nibble::nn
