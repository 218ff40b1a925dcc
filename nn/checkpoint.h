// Saving and loading a whole model: its state_dict (parameters, then buffers, then pruning masks,
// under their dotted names such as "fc1.weight" and "fc1.weight_mask") in the checkpoint format of
// core/io/checkpoint.h. A mask is just one more named tensor, so the format is unchanged and
// checkpoints written before masks were saved still load (their parameters end up unmasked).
//
//   nn::save(model, "mlp.nbck");
//   Mlp fresh;  nn::load(fresh, "mlp.nbck");   // fresh now computes exactly what model did
//
// load() is strict, through Module::load_state_dict: every parameter and buffer the model has must
// be in the file with the same shape, and the file may hold nothing else but masks of those
// parameters. A stored mask is re-applied (pruned weights are zero right after the load). A checkpoint of a different
// architecture therefore fails loudly, and a failed load leaves the model as it was.
#pragma once

#include <string>

#include "nn/module.h"

namespace nibble::nn {

void save(const Module& module, const std::string& path);
void load(Module& module, const std::string& path);

}  // namespace nibble::nn
