// nibble — the umbrella header for notebooks and examples:  #include <nibble.h>
// Library code includes the specific headers it needs instead.
#pragma once

#include "core/autograd.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/io/checkpoint.h"
#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "core/io/image.h"
#include "core/io/text.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "info_theory/attention_entropy.h"
#include "info_theory/entropy.h"
#include "info_theory/huffman.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/models.h"
#include "nn/nn.h"
#include "nn/quantized.h"
#include "nn/quantized_models.h"
#include "optim/optim.h"
