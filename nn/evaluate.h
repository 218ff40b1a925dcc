// Classification accuracy of a model on a labelled set, in eval mode and without the tape.
#pragma once

#include <vector>

#include "nn/module.h"

namespace nibble::nn {

// images [N, ...], labels N class indices -> fraction of argmax(model(x)) == label.
// Runs in batches (memory stays bounded) and restores the model's train/eval mode afterwards.
double accuracy(Module& model, const Tensor& images, const std::vector<int64_t>& labels,
                int64_t batch_size = 1000);

}  // namespace nibble::nn
