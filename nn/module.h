// Module: the base of every layer and model, after the PyTorch C++ frontend (torch::nn::Module).
//
// A module owns named parameters (trainable tensors), named buffers (state that is saved but not
// trained, e.g. running statistics) and named child modules. Registering them is what lets
// model.parameters() find every weight without hand-written lists, and what gives checkpoints
// their names ("conv1.weight", "blocks.0.attn.q_proj.bias").
//
//   struct Mlp : nn::Module {
//     Mlp() { register_module("fc1", std::make_shared<nn::Linear>(784, 256));
//             register_module("fc2", std::make_shared<nn::Linear>(256, 10)); }
//     Tensor forward(const Tensor& x) override {              // x [B,784] -> logits [B,10]
//       return child("fc2")(relu(child("fc1")(x)));
//     }
//     nn::Linear& fc1() const { return get_submodule_as<nn::Linear>("fc1"); }  // typed, checked
//     std::shared_ptr<Module> make_like() const override { return std::make_shared<Mlp>(); }
//   };
//
// Model surgery. replace_module("fc1", std::make_shared<LowRankLinear>(...)) swaps a child by its
// dotted name; parameters(), state_dict() and forward() then all see the new layer. That is why the
// forward passes above (and of every model in nn/) call their children *through the registry by
// name* instead of through typed member pointers (`std::shared_ptr<Linear> fc1`): a member pointer
// is a second copy of the structure, and after a replacement it would keep calling the old layer
// while parameters() and the checkpoint already show the new one — wrong outputs, no error. Typed
// access is a checked accessor instead: fc1() returns the Linear that is there now, or throws
// "'fc1' is now a LowRankLinear, not a Linear" after a replacement.
//
// Copies. Copying a module by value is deleted (`auto student = teacher;` does not compile: a
// by-value copy would silently share every weight). clone() makes a deep copy: new storage for
// every parameter, buffer and mask, children cloned too (also those replaced by surgery), the
// training flags and requires_grad flags copied, gradients not. clone() builds the new object with
// make_like() — "a new module of my type built from my constructor arguments" — which every class
// that is cloned as a whole (a model, a layer put in by surgery, a Sequential's element) overrides
// in one line. The constructor draws fresh initial weights from the global generator (as PyTorch's
// clone() does through reset()); clone() then overwrites them.
//
// Masks (pruning). A parameter may carry a 0/1 mask (Tensor::set_mask). Invariant: the weight is
// exactly 0 wherever its mask is 0, at all times — set_mask() zeroes, every optimizer re-zeroes
// after each step (optim/optimizer.h), load_state_dict() re-applies — so forward needs no extra
// multiply. A mask is part of the module's state: state_dict() holds it as "<parameter>_mask"
// ("fc1.weight_mask"), checkpoints store it, load_state_dict() restores it. remove_mask() /
// make_masks_permanent() drop masks and keep the zeros (PyTorch's prune.remove).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace nibble::nn {

class Module;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using NamedChildren = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;
// Non-owning: valid while the model lives and the module is not replaced.
using NamedModules = std::vector<std::pair<std::string, Module*>>;

// The suffix of a mask's name in a state_dict: "fc1.weight" -> "fc1.weight_mask". PyTorch's
// torch.nn.utils.prune uses the same name, so a checkpoint reads the same to anyone who knows
// PyTorch. (PyTorch also keeps "weight_orig", the unpruned values; nibble does not: the weight
// itself holds the zeros, see the invariant above.)
inline constexpr const char* kMaskSuffix = "_mask";

// "Linear" for nibble::nn::Linear: a class name without namespaces, for error messages.
std::string short_type_name(const std::type_info& type);

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // would share the weights: use clone()
  Module& operator=(const Module&) = delete;

  // The usual single-input forward. Modules with other signatures (attention with a mask, ...)
  // add their own overloads; calling this on a module that has none is an error.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // ---- parameters, buffers, masks, state -------------------------------------------------------
  // All parameters of this module and its children, depth-first in registration order.
  std::vector<Tensor> parameters() const;
  NamedTensors named_parameters() const;  // names joined with '.': "fc1.weight"
  NamedTensors named_buffers() const;
  NamedTensors named_masks() const;  // one "fc1.weight_mask" per masked parameter
  Tensor get_parameter(const std::string& path) const;  // "fc1.weight"; throws naming what exists
  NamedTensors state_dict() const;  // parameters, buffers, then masks: what a checkpoint stores
  // Copies values into this module's tensors (in place, so optimizers keep working). Every
  // parameter and buffer must be present with the right shape, and no unknown names may appear.
  // A "<parameter>_mask" entry sets that parameter's mask (and zeroes its pruned entries); a
  // parameter without one loses its mask. Everything is checked before anything is written.
  void load_state_dict(const NamedTensors& state);
  void make_masks_permanent();  // clears every mask in the tree; the pruned zeros stay

  // ---- the tree of modules ---------------------------------------------------------------------
  NamedChildren named_children() const;  // direct children, in registration order
  // This module first (name ""), then every descendant depth-first: "fc1", "blocks.0.attn".
  NamedModules named_modules();
  std::vector<Module*> modules();  // same order, without the names
  void apply(const std::function<void(Module&)>& fn);  // fn on every module, in that order
  Module& child(const std::string& name) const;  // a direct child; throws listing the children
  Module& get_submodule(const std::string& path) const;  // "blocks.0.attn"; "" is this module
  // The submodule as a T; throws "'fc1' is now a LowRankLinear, not a Linear" if it is not one.
  template <typename T>
  T& get_submodule_as(const std::string& path) const;
  // Puts `replacement` where `path` was (same name, same place in the order) and returns the old
  // module. The replacement must not already be part of this model (it may contain the old one:
  // wrapping a layer is fine). Optimizers built before hold the old tensors: build a new one from
  // parameters() after surgery (optim/README.md).
  std::shared_ptr<Module> replace_module(const std::string& path, std::shared_ptr<Module> replacement);

  // ---- copies ----------------------------------------------------------------------------------
  std::shared_ptr<Module> clone() const;  // deep; see the top of this file
  template <typename T>
  std::shared_ptr<T> clone_as() const;  // clone() as its concrete type T (checked)

  // ---- training --------------------------------------------------------------------------------
  void train(bool on = true);  // recursive; affects Dropout and friends
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Freezes (false) or unfreezes every parameter of the tree: frozen ones get no gradient, and
  // optimizers skip them. Returns *this, so `teacher->requires_grad_(false).eval()` chains.
  Module& requires_grad_(bool on = true);
  void zero_grad();  // clears the gradients of all parameters
  int64_t parameter_count() const;  // total number of scalar parameters

  // For printing and errors; by default the class name ("TwoLayer").
  virtual std::string name() const { return short_type_name(typeid(*this)); }

 protected:
  // Stores `t` as a leaf requiring gradients and returns the stored handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // A new module of this type, built with this one's constructor arguments (its values do not
  // matter: clone() overwrites them). Override it to make the class clonable:
  //   std::shared_ptr<Module> make_like() const override {
  //     return std::make_shared<Linear>(in_features, out_features, bias.defined()); }
  virtual std::shared_ptr<Module> make_like() const;

 private:
  struct Child {
    std::string name;
    std::shared_ptr<Module> module;
    bool replaced = false;  // put in by replace_module(): clone() must clone it, not rebuild it
  };
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;
  void collect_modules(const std::string& prefix, NamedModules& out);
  Child* find_child(const std::string& name);
  void copy_state_from(const Module& source);  // clone(): source has this module's structure
  [[noreturn]] void wrong_type(const std::string& path, const Module& found,
                               const std::type_info& wanted) const;
  [[noreturn]] void wrong_clone_type(const Module& copy, const std::type_info& wanted) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<Child> children_;
  bool training_ = true;
};

template <typename T>
T& Module::get_submodule_as(const std::string& path) const {
  Module& found = get_submodule(path);
  if (T* typed = dynamic_cast<T*>(&found)) return *typed;
  wrong_type(path, found, typeid(T));
}

template <typename T>
std::shared_ptr<T> Module::clone_as() const {
  std::shared_ptr<Module> copy = clone();
  if (std::shared_ptr<T> typed = std::dynamic_pointer_cast<T>(copy)) return typed;
  wrong_clone_type(*copy, typeid(T));
}

// Makes the mask of parameter `path` ("fc1.weight") permanent: the mask is dropped, the pruned
// zeros stay (and may now be trained away). Like torch.nn.utils.prune.remove. Throws if the
// parameter has no mask.
void remove_mask(Module& module, const std::string& path);

}  // namespace nibble::nn
