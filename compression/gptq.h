// GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022, "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers"), from scratch, beside round-to-nearest (RTN). Weight-only,
// one layer at a time; library code for module 04 (lesson: modules/04_quantization/README.md §5).
//
// A layer y = x Wᵀ (W [out, in]) is quantized to Ŵ so that the OUTPUT error on calibration inputs X
// [N, in] is small, not the weight error: minimise ‖X Wᵀ − X Ŵᵀ‖² = Σ_rows (w − ŵ) H (w − ŵ)ᵀ / 2
// with H = 2 XᵀX, the same Hessian for every row. Optimal Brain Quantization, made fast:
//   1. H += λ I with λ = damp · mean(diag H) (columns x never uses get H_ii = 1 and weight 0);
//   2. U = the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), from the Cholesky factor of H;
//   3. for each column j in order: q = quantize(W[:, j]) on the row's (or group's) grid;
//      e = (W[:, j] − q) / U[j, j];  W[:, k] −= e · U[j, k] for every later column k
//      (the error feedback: later columns absorb the rounding error of this one);
//   with the updates of later blocks batched (block_size columns at a time, "lazy batch updates":
//   the same numbers, fewer passes over W).
// The grid: asymmetric min-max, [0, 2^bits − 1], one scale and zero point per output row
// (group_size = 0) or per group of group_size consecutive input columns of a row; a group's grid is
// taken from the weights as they are when GPTQ reaches the group's first column (the reference
// implementation's default). RTN uses the same grid on the original weights.
//
// Everything runs in double; the results are float tensors. Bad input throws nibble::Error naming the
// function, the argument and its value.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace nibble {

// ---- dense linear algebra helpers (row-major, double) ------------------------------------------

// The lower-triangular L with A = L Lᵀ of a symmetric positive-definite n×n matrix A.
// Throws naming the first pivot that is not > 0 (A is not positive definite: add damping) and for
// a size that is not n·n or an asymmetric A.
std::vector<double> cholesky(const std::vector<double>& A, int64_t n);

// A⁻¹ from A's Cholesky factor L (A = L Lᵀ): L⁻ᵀ L⁻¹ (torch.cholesky_inverse).
std::vector<double> cholesky_inverse(const std::vector<double>& L, int64_t n);

// ---- GPTQ and round-to-nearest -------------------------------------------------------------------

struct GptqOptions {
  int bits = 4;                // 2..8
  int64_t group_size = 0;      // 0: one grid per output row; else must divide in_features
  double damp = 0.01;          // λ = damp · mean(diag H), in [0, 1]; > 0 keeps H invertible
  int64_t block_size = 128;    // columns per lazy batch update, >= 1
};

struct QuantizedWeight {
  Tensor weight;                  // Ŵ [out, in], dequantized: scale · (code − zero_point)
  std::vector<float> scale;       // [out · groups], row-major (row, group)
  std::vector<int64_t> zero_point;
  std::vector<uint8_t> codes;     // [out, in], each in [0, 2^bits − 1]
  int64_t group_size = 0;         // as used: in_features when options.group_size = 0
};

// W [out, in] float, X [N, in] the layer's calibration inputs (N >= 1).
QuantizedWeight gptq_quantize(const Tensor& W, const Tensor& X, const GptqOptions& options = {});
// Round-to-nearest on the same grid (X not needed).
QuantizedWeight rtn_quantize(const Tensor& W, const GptqOptions& options = {});

// ‖X Wᵀ − X Ŵᵀ‖_F (in double): the layer output error GPTQ minimises.
double layer_output_error(const Tensor& X, const Tensor& W, const Tensor& W_hat);

}  // namespace nibble
