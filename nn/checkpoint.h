// Saving and loading a whole model: its state_dict (parameters, then buffers, under their dotted
// names such as "fc1.weight") in the checkpoint format of core/io/checkpoint.h.
//
//   nn::save(model, "mlp.nbck");
//   Mlp fresh;  nn::load(fresh, "mlp.nbck");   // fresh now computes exactly what model did
//
// load() is strict, through Module::load_state_dict: every tensor the model has must be in the
// file with the same shape, and the file may hold nothing else. A checkpoint of a different
// architecture therefore fails loudly, and a failed load leaves the model as it was.
#pragma once

#include <string>

#include "nn/module.h"

namespace nibble::nn {

void save(const Module& module, const std::string& path);
void load(Module& module, const std::string& path);

}  // namespace nibble::nn
