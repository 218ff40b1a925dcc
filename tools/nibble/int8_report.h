// The int8 line at the end of `nibble train`: the trained model converted layer by layer to int8
// (nn/quantized_models.h), its test accuracy beside the float one, and both speeds.
#pragma once

#include "core/io/fashion_mnist.h"
#include "nn/module.h"

namespace nibble::cli {

// model must be a FashionMlp or FashionCnn (anything else: nothing is printed). Calibrates on the
// first 512 training images, evaluates on the whole test set, times batches of 256.
void print_int8_report(nn::Module& model, const data::FashionMnist& train_set,
                       const data::FashionMnist& test_set);

}  // namespace nibble::cli
