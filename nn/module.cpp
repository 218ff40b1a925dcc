#include "nn/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "core/autograd.h"

namespace nibble::nn {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

bool ends_with_mask_suffix(const std::string& name) {
  const size_t n = std::strlen(kMaskSuffix);
  return name.size() > n && name.compare(name.size() - n, n, kMaskSuffix) == 0;
}

// dst <- src, element by element in row-major order (dst is a registered, contiguous tensor).
void copy_values(Tensor& dst, const Tensor& src) {
  const Tensor s = src.contiguous();
  std::memcpy(dst.data(), s.data(), static_cast<size_t>(s.numel()) * sizeof(float));
}

bool same_names_and_shapes(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || a[i].second.shape() != b[i].second.shape()) return false;
  return true;
}

}  // namespace

std::string short_type_name(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string full = (status == 0 && demangled != nullptr) ? demangled : type.name();
  std::free(demangled);
  // "nibble::nn::(anonymous namespace)::Test_Body()::Tiny" -> "Tiny"; keep template arguments.
  const size_t template_start = full.find('<');
  const size_t last_scope = full.rfind("::", template_start);
  return last_scope == std::string::npos ? full : full.substr(last_scope + 2);
}

Tensor Module::forward(const Tensor&) {
  fail(name() + "::forward", "this module has no single-input forward",
       "call the forward overload the module defines");
}

// ---- registration ------------------------------------------------------------------------------

void Module::check_new_name(const std::string& name) const {
  NIBBLE_CHECK(!name.empty() && name.find('.') == std::string::npos, this->name() + "::register",
        "invalid name '" + name + "'", "names must be non-empty and contain no '.'");
  auto taken = [](const auto& list, const std::string& n) {
    for (const auto& entry : list)
      if (entry.first == n) return true;
    return false;
  };
  bool child_taken = false;
  for (const Child& c : children_) child_taken |= c.name == name;
  NIBBLE_CHECK(!taken(parameters_, name) && !taken(buffers_, name) && !child_taken,
        this->name() + "::register", "name '" + name + "' is already registered");
  // "weight_mask" is the state_dict name of weight's mask: no tensor of our own may take it.
  const std::string suffix = kMaskSuffix;
  if (ends_with_mask_suffix(name)) {
    const std::string base = name.substr(0, name.size() - suffix.size());
    NIBBLE_CHECK(!taken(parameters_, base), this->name() + "::register",
          "name '" + name + "' is reserved for the mask of parameter '" + base + "'",
          "choose another name");
  }
  NIBBLE_CHECK(!taken(parameters_, name + suffix) && !taken(buffers_, name + suffix),
        this->name() + "::register",
        "'" + name + suffix + "' is already registered, so '" + name + "' cannot be used",
        "'" + name + suffix + "' would be this name's mask in state_dict(); rename one of them");
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
  children_.push_back({name, std::move(module), false});
}

// ---- parameters, buffers, masks, state ---------------------------------------------------------

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [name, t] : params ? parameters_ : buffers_) out.emplace_back(prefix + name, t);
  for (const Child& c : children_) c.module->collect(prefix + c.name + ".", params, out);
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

NamedTensors Module::named_masks() const {
  NamedTensors out;
  for (const auto& [name, p] : named_parameters()) {
    const Tensor mask = p.mask();
    if (mask.defined()) out.emplace_back(name + kMaskSuffix, mask);
  }
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

Tensor Module::get_parameter(const std::string& path) const {
  const size_t dot = path.rfind('.');
  const Module& owner = dot == std::string::npos ? *this : get_submodule(path.substr(0, dot));
  const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
  std::vector<std::string> names;
  for (const auto& [name, t] : owner.parameters_) {
    if (name == leaf) return t;
    names.push_back(name);
  }
  fail(name() + "::get_parameter", "no parameter '" + path + "'",
       "the parameters of that " + owner.name() + " are: " + join(names));
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& entry : named_buffers()) out.push_back(entry);
  for (auto& entry : named_masks()) out.push_back(entry);
  return out;
}

void Module::load_state_dict(const NamedTensors& state) {
  const NamedTensors params = named_parameters();
  NamedTensors targets = params;  // what gets values: parameters, then buffers
  for (auto& entry : named_buffers()) targets.push_back(entry);

  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) {
    NIBBLE_CHECK(given.emplace(name, &t).second, "load_state_dict", "tensor '" + name + "' appears twice");
  }
  std::set<std::string> known;
  for (const auto& [name, t] : targets) known.insert(name);
  for (const auto& [name, t] : params) known.insert(name + kMaskSuffix);
  for (const auto& [name, t] : state) {
    NIBBLE_CHECK(known.count(name) == 1, "load_state_dict",
          "unexpected tensor '" + name + "' (this " + this->name() +
              " has no such parameter, buffer or parameter mask)");
  }

  // Validate everything first, then copy: a bad file never leaves the model half-loaded.
  std::vector<const Tensor*> sources;
  for (const auto& [name, target] : targets) {
    const auto it = given.find(name);
    NIBBLE_CHECK(it != given.end(), "load_state_dict", "missing tensor '" + name + "'");
    const Tensor& source = *it->second;
    NIBBLE_CHECK(source.defined() && source.shape() == target.shape(), "load_state_dict",
          "tensor '" + name + "' has shape " + (source.defined() ? source.shape_str() : "(undefined)") +
              " but the model expects " + target.shape_str());
    sources.push_back(&source);
  }
  std::vector<Tensor> masks(params.size());  // undefined: that parameter ends up without a mask
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string mask_name = params[i].first + kMaskSuffix;
    const auto it = given.find(mask_name);
    if (it == given.end()) continue;
    const Tensor mask = it->second->defined() ? it->second->contiguous() : Tensor();
    NIBBLE_CHECK(mask.defined() && mask.shape() == params[i].second.shape(), "load_state_dict",
          "mask '" + mask_name + "' has shape " + (mask.defined() ? mask.shape_str() : "(undefined)") +
              " but parameter '" + params[i].first + "' is " + params[i].second.shape_str());
    for (int64_t j = 0; j < mask.numel(); ++j) {
      const float v = mask.data()[j];
      NIBBLE_CHECK(v == 0.0f || v == 1.0f, "load_state_dict",
            "mask '" + mask_name + "' holds " + std::to_string(v) + " at flat index " +
                std::to_string(j) + "; a mask holds only 0 and 1");
    }
    masks[i] = mask;
  }

  NoGradGuard no_grad;
  for (size_t i = 0; i < targets.size(); ++i) copy_values(targets[i].second, *sources[i]);
  // Masks after values: set_mask() zeroes the pruned entries of the weights just copied, so the
  // model computes with pruned weights right away, whatever the stored weight held there.
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor p = params[i].second;
    if (masks[i].defined()) {
      p.set_mask(masks[i]);
    } else {
      p.clear_mask();
    }
  }
}

void Module::make_masks_permanent() {
  for (Tensor& p : parameters()) p.clear_mask();
}

void remove_mask(Module& module, const std::string& path) {
  Tensor p = module.get_parameter(path);
  NIBBLE_CHECK(p.mask().defined(), "remove_mask", "parameter '" + path + "' has no mask",
        "named_masks() lists the masked parameters");
  p.clear_mask();
}

// ---- the tree of modules -----------------------------------------------------------------------

NamedChildren Module::named_children() const {
  NamedChildren out;
  for (const Child& c : children_) out.emplace_back(c.name, c.module);
  return out;
}

void Module::collect_modules(const std::string& prefix, NamedModules& out) {
  out.emplace_back(prefix, this);
  for (const Child& c : children_) c.module->collect_modules(prefix.empty() ? c.name : prefix + "." + c.name, out);
}

NamedModules Module::named_modules() {
  NamedModules out;
  collect_modules("", out);
  return out;
}

std::vector<Module*> Module::modules() {
  std::vector<Module*> out;
  for (const auto& [name, m] : named_modules()) out.push_back(m);
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (Module* m : modules()) fn(*m);
}

Module::Child* Module::find_child(const std::string& name) {
  for (Child& c : children_)
    if (c.name == name) return &c;
  return nullptr;
}

Module& Module::child(const std::string& name) const {
  std::vector<std::string> names;
  for (const Child& c : children_) {
    if (c.name == name) return *c.module;
    names.push_back(c.name);
  }
  fail(this->name() + "::child", "no child module '" + name + "'", "its children are: " + join(names));
}

Module& Module::get_submodule(const std::string& path) const {
  const Module* current = this;
  std::string walked;  // the part of `path` found so far
  size_t start = 0;
  while (!path.empty()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const Module* next = nullptr;
    std::vector<std::string> names;
    for (const Child& c : current->children_) {
      if (c.name == part) next = c.module.get();
      names.push_back(c.name);
    }
    NIBBLE_CHECK(next != nullptr, name() + "::get_submodule",
          "no submodule '" + path + "': " +
              (walked.empty() ? "this " + name() : "'" + walked + "' (a " + current->name() + ")") +
              " has no child '" + part + "'",
          "its children are: " + join(names));
    walked += (walked.empty() ? "" : ".") + part;
    current = next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return const_cast<Module&>(*current);  // constness is shallow, as through a shared_ptr member
}

void Module::wrong_type(const std::string& path, const Module& found, const std::type_info& wanted) const {
  fail(name() + "::" + path, "'" + path + "' is now a " + found.name() + ", not a " + short_type_name(wanted),
       "it was replaced (replace_module); get_submodule(\"" + path + "\") returns the module that is there");
}

void Module::wrong_clone_type(const Module& copy, const std::type_info& wanted) const {
  fail(name() + "::clone_as", "this module is a " + copy.name() + ", not a " + short_type_name(wanted),
       "use clone() for a std::shared_ptr<Module>");
}

std::shared_ptr<Module> Module::replace_module(const std::string& path, std::shared_ptr<Module> replacement) {
  const std::string op = name() + "::replace_module";
  NIBBLE_CHECK(!path.empty(), op, "the path is empty: a model cannot replace itself",
        "name a submodule, e.g. \"fc1\" or \"blocks.0.attn\"");
  NIBBLE_CHECK(replacement != nullptr, op, "the replacement for '" + path + "' is null");
  get_submodule(path);  // throws naming the missing part of the whole path
  const size_t dot = path.rfind('.');
  Module& parent = dot == std::string::npos ? *this : get_submodule(path.substr(0, dot));
  Child* slot = parent.find_child(dot == std::string::npos ? path : path.substr(dot + 1));

  // A module present twice would list its parameters twice (an optimizer rejects that) and tie
  // the two places together; a module containing this model would make the tree a cycle.
  std::set<const Module*> staying;
  for (const auto& [name, m] : named_modules()) staying.insert(m);
  for (const auto& [name, m] : slot->module->named_modules()) staying.erase(m);
  for (const auto& [name, m] : replacement->named_modules()) {
    NIBBLE_CHECK(staying.count(m) == 0, op,
          "the replacement for '" + path + "' " + (name.empty() ? "is" : "contains ('" + name + "')") +
              " a " + m->name() + " that is already part of this " + this->name(),
          "clone() it to get an independent copy");
  }
  std::shared_ptr<Module> old = std::move(slot->module);
  slot->module = std::move(replacement);
  slot->replaced = true;
  return old;
}

// ---- copies ------------------------------------------------------------------------------------

std::shared_ptr<Module> Module::make_like() const {
  fail(name() + "::clone", name() + " does not implement make_like(), which clone() needs",
       "override it: std::shared_ptr<Module> make_like() const override { return std::make_shared<" +
           name() + ">(...its constructor arguments...); }");
}

std::shared_ptr<Module> Module::clone() const {
  std::shared_ptr<Module> copy = make_like();
  // typeid of a named reference, not of `*copy`: clang warns that the dereference in typeid is
  // evaluated (-Wpotentially-evaluated-expression), which -Werror turns into an error.
  const Module* made = copy.get();
  NIBBLE_CHECK(made != nullptr && typeid(*made) == typeid(*this), name() + "::clone",
        "make_like() returned " + (copy ? "a " + copy->name() : std::string("null")) + ", not a " + name(),
        "make_like() must return std::make_shared<" + name() + ">(...)");
  copy->copy_state_from(*this);
  return copy;
}

// `this` is freshly built by make_like() (or by its parent's constructor); `source` is the module
// it copies. Children the constructor made get the source's values in place — so typed members a
// class may keep stay valid; children put in later (replace_module, Sequential::push_back) are
// cloned whole.
void Module::copy_state_from(const Module& source) {
  const std::string op = source.name() + "::clone";
  NIBBLE_CHECK(same_names_and_shapes(parameters_, source.parameters_) &&
                   same_names_and_shapes(buffers_, source.buffers_),
        op, "the module built by make_like() has different parameters or buffers than the original",
        "make_like() must pass the original's constructor arguments");
  NoGradGuard no_grad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    Tensor& dst = parameters_[i].second;
    const Tensor& src = source.parameters_[i].second;
    copy_values(dst, src);
    dst.requires_grad_(src.requires_grad());
    if (src.mask().defined()) {
      dst.set_mask(src.mask());  // set_mask stores its own copy
    } else {
      dst.clear_mask();
    }
  }
  for (size_t i = 0; i < buffers_.size(); ++i) copy_values(buffers_[i].second, source.buffers_[i].second);
  training_ = source.training_;

  for (const Child& c : source.children_) {
    Child* mine = find_child(c.name);
    const Module* source_child = c.module.get();
    const Module* my_child = mine != nullptr ? mine->module.get() : nullptr;
    if (my_child != nullptr && !c.replaced && typeid(*my_child) == typeid(*source_child)) {
      mine->module->copy_state_from(*c.module);
    } else if (mine != nullptr) {
      mine->module = c.module->clone();
      mine->replaced = true;
    } else {
      add_child(c.name, c.module->clone());
      children_.back().replaced = c.replaced;
    }
  }
  NIBBLE_CHECK(children_.size() == source.children_.size(), op,
        "the module built by make_like() has children the original does not have",
        "make_like() must pass the original's constructor arguments");
}

// ---- training ----------------------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (Child& c : children_) c.module->train(on);
}

Module& Module::requires_grad_(bool on) {
  for (Tensor& p : parameters()) p.requires_grad_(on);
  return *this;
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
