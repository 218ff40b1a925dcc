// nibble — the umbrella header for notebooks and examples:  #include <nibble.h>
// Library code includes the specific headers it needs instead.
#pragma once

#include "core/autograd.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/ops.h"
#include "core/tensor.h"
