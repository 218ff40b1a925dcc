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
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/models.h"
#include "nn/nn.h"
#include "optim/optim.h"
