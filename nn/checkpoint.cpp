#include "nn/checkpoint.h"

#include "core/io/checkpoint.h"

namespace nibble::nn {

void save(const Module& module, const std::string& path) {
  io::save_tensors(path, module.state_dict());
}

void load(Module& module, const std::string& path) {
  const NamedTensors state = io::load_tensors(path);
  // load_state_dict copies tensor by tensor and may stop half-way at a missing or mis-shaped
  // one; keep a copy of the current values so a failed load leaves the model untouched.
  NamedTensors backup;
  for (const auto& [name, t] : module.state_dict()) backup.emplace_back(name, t.detach().clone());
  try {
    module.load_state_dict(state);
  } catch (const Error& e) {
    module.load_state_dict(backup);
    // load_state_dict does not know which file the tensors came from; say it, to help find
    // the mix-up (wrong checkpoint for this architecture, or an old file).
    throw Error("nn::load: " + path + ": the checkpoint does not fit this " + module.name() +
                ":\n  " + e.what());
  }
}

}  // namespace nibble::nn
