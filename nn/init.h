// Weight initialisers, with PyTorch's conventions for fan-in and fan-out.
// For a weight of shape [out, in] (Linear) or [OC, C/groups, KH, KW] (Conv2d):
//   fan_in = in * receptive field,  fan_out = out * receptive field.
// Each fills the tensor in place (no autograd) from nibble's seeded generator (manual_seed).
#pragma once

#include "core/tensor.h"

namespace nibble::nn::init {

struct Fans {
  int64_t in = 0, out = 0;
};
Fans fans(const Tensor& weight);  // needs rank >= 2

// gain for ReLU is sqrt(2): keeps the activations' variance constant through ReLU layers (He 2015).
void kaiming_uniform_(Tensor& w, float gain = 1.41421356f);  // U(-b, b), b = gain * sqrt(3 / fan_in)
void kaiming_normal_(Tensor& w, float gain = 1.41421356f);   // N(0, gain^2 / fan_in)
void xavier_uniform_(Tensor& w, float gain = 1.0f);  // U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))
void xavier_normal_(Tensor& w, float gain = 1.0f);   // N(0, gain^2 * 2 / (fan_in + fan_out))
void uniform_(Tensor& t, float low, float high);
void zeros_(Tensor& t);

// PyTorch's default for Linear and Conv2d: kaiming_uniform with a = sqrt(5), which works out to
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and the same bound for the bias.
void pytorch_default_(Tensor& weight, Tensor& bias);

}  // namespace nibble::nn::init
