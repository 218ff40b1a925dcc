// Weight-only INT4 (module 04, library code): group-wise symmetric 4-bit weights, two codes per
// byte, and a linear layer that dequantizes them on the fly (activations stay float).
//
//   Int4Weights q = pack_int4(fc.weight, /*group_size=*/128);   // [out, in] -> in/2 bytes per row
//   Tensor y = int4_linear(x, q, fc.bias);                        // x [M, in] -> [M, out]
//
// Layout: row n, group g = columns [g·G, (g+1)·G) share scale[n·(in/G) + g] = max|w| / 7 over the
// group (1 for an all-zero group); code = clamp(round_half_even(w / scale), −8, 7), stored as the
// nibble code + 8 (0..15). Byte k of a row holds column 2k in its LOW nibble and 2k+1 in its HIGH
// nibble (the GGML / AWQ order). Bytes: out·in/2 + 4·out·in/G (scales) — at G = 128, 4.25 bits a weight.
//
// int4_linear: for a few rows of x (M <= 8, the memory-bound decode case) each weight row is
// dequantized into a small buffer and dotted with every x row; for larger M the whole weight is
// dequantized into a per-call buffer and the fp32 GEMM runs on it (core/gemm.h). Speed: `nibble
// quant-report` (lesson, section 6).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace nibble {

struct Int4Weights {
  int64_t out = 0, in = 0, group_size = 0;
  std::vector<uint8_t> packed;  // [out, in / 2]
  std::vector<float> scales;    // [out, in / group_size]
  int64_t bytes() const { return static_cast<int64_t>(packed.size() + 4 * scales.size()); }
};

// W [out, in]. group_size must be even and divide in (32..128 is usual); throws naming it otherwise.
Int4Weights pack_int4(const Tensor& W, int64_t group_size);
// The dequantized weights [out, in]: scale · (nibble − 8).
Tensor unpack_int4(const Int4Weights& w);
// x [..., in] -> [..., out]: x · unpack_int4(w)ᵀ + bias (bias [out] or undefined). Not on the tape.
Tensor int4_linear(const Tensor& x, const Int4Weights& w, const Tensor& bias = Tensor());

}  // namespace nibble
