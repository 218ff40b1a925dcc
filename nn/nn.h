// All of nn/: the Module base and every layer.
#pragma once

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/pooling.h"
#include "nn/sequential.h"
#include "nn/transformer.h"
