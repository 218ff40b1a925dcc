#include "nn/module.h"

#include <cstring>
#include <set>

#include "core/autograd.h"

namespace nibble::nn {

Tensor Module::forward(const Tensor&) {
  fail(name() + "::forward", "this module has no single-input forward",
       "call the forward overload the module defines");
}

void Module::check_new_name(const std::string& name) const {
  NIBBLE_CHECK(!name.empty() && name.find('.') == std::string::npos, this->name() + "::register",
        "invalid name '" + name + "'", "names must be non-empty and contain no '.'");
  auto taken = [&name](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  NIBBLE_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_),
        this->name() + "::register", "name '" + name + "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name);
  NIBBLE_CHECK(t.defined() && t.is_leaf(), this->name() + "::register_parameter",
        "parameter '" + name + "' must be a defined leaf tensor", "detach() it first");
  t.requires_grad_(true);
  parameters_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  NIBBLE_CHECK(t.defined(), this->name() + "::register_buffer", "buffer '" + name + "' is undefined");
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  NIBBLE_CHECK(module != nullptr, this->name() + "::register_module", "module '" + name + "' is null");
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [name, t] : params ? parameters_ : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& entry : named_buffers()) out.push_back(entry);
  return out;
}

void Module::load_state_dict(const NamedTensors& state) {
  const NamedTensors mine = state_dict();
  std::set<std::string> expected;
  for (const auto& [name, t] : mine) expected.insert(name);
  for (const auto& [name, t] : state) {
    NIBBLE_CHECK(expected.count(name) == 1, "load_state_dict",
          "unexpected tensor '" + name + "' (this " + this->name() + " has no such parameter or buffer)");
  }
  // Validate everything first, then copy: a bad file never leaves the model half-loaded.
  std::vector<const Tensor*> sources;
  for (const auto& [name, target] : mine) {
    const Tensor* source = nullptr;
    for (const auto& [n, t] : state)
      if (n == name) source = &t;
    NIBBLE_CHECK(source != nullptr, "load_state_dict", "missing tensor '" + name + "'");
    NIBBLE_CHECK(source->shape() == target.shape(), "load_state_dict",
          "tensor '" + name + "' has shape " + source->shape_str() + " but the model expects " +
              target.shape_str());
    sources.push_back(source);
  }
  NoGradGuard no_grad;
  for (size_t i = 0; i < mine.size(); ++i) {
    const Tensor src = sources[i]->contiguous();
    Tensor dst = mine[i].second;
    std::memcpy(dst.data(), src.data(), static_cast<size_t>(src.numel()) * sizeof(float));
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

}  // namespace nibble::nn
