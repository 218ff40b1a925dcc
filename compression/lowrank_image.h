// Photos compressed by rank: each colour channel of an image [C, H, W] is a matrix [H, W]; keeping
// its k largest singular triples stores k·(H + W + 1) numbers instead of H·W. Used by
// `nibble lowrank-image` and the module-06 lesson. Calls the module-06 svd() (one SVD per channel,
// reused for every rank).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace nibble {

struct RankedImage {
  int64_t rank = 0;
  Tensor image;              // [C, H, W], clamped to [0, 1] and rounded to 256 levels (what a PNG keeps)
  double psnr_db = 0.0;      // against the original, peak 1.0 (+inf when identical)
  int64_t factor_bytes = 0;  // C·k·(H + W + 1)·4: U_k, S_k, Vh_k as float32
};

// image [C, H, W] (values in [0, 1], as io::load_image returns), ranks each in [1, min(H, W)].
std::vector<RankedImage> compress_image_by_rank(const Tensor& image, const std::vector<int64_t>& ranks);

// Peak signal-to-noise ratio 10·log10(1 / MSE) in dB for images with values in [0, 1]; same shapes.
double psnr_db(const Tensor& reference, const Tensor& test);

}  // namespace nibble
