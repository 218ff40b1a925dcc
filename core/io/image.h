// Reading and writing images: PNG/JPEG/BMP/... in, PNG out (via the stb single-file libraries,
// Debian package libstb-dev).
//
// Tensors hold images as [C, H, W] floats in [0, 1] -- channels first, like conv2d expects.
//   load_image:       reads PNG, JPEG, BMP and binary PGM/PPM (P5/P6) -- the course's formats; any
//                     other (GIF, TGA, PSD, HDR, ...) is an error. The file is validated before it
//                     is decoded: its format by its magic bytes, JPEG Huffman tables
//                     (stb_image 2.27 writes out of bounds on a table of more than 256 codes), PNG
//                     chunks (an empty IDAT makes stb 2.27 memcpy to NULL), BMP rows and PNM
//                     pixel data present in full, and width x height x channels from the header at
//                     most max_values (default kMaxImageValues, 64 Mi: a 256 MB float tensor) --
//                     every error names the file, and the limit error the dimensions and the limit.
//                     1 channel for grayscale sources, 3 for colour ones. An alpha channel is
//                     dropped (not blended with a background): for the course's photos and
//                     figures it carries no information. 16-bit PNGs are reduced to 8 bits.
//   save_png:         [H, W] or [1, H, W] -> grayscale, [3, H, W] -> RGB. Values are clamped to
//                     [0, 1] and rounded to the nearest of 256 levels, so an image whose values
//                     are k/255 survives save_png + load_image exactly.
//   save_heatmap_png: a 2-d map (attention weights, per-pixel entropy, a weight matrix) drawn
//                     with the viridis colour map from its minimum (dark purple) to its maximum
//                     (yellow). Viridis is perceptually uniform -- equal steps in value look like
//                     equal steps in colour -- and readable in grayscale and by colour-blind
//                     viewers, unlike the rainbow "jet". `upscale` repeats each cell as an
//                     upscale x upscale block (nearest neighbour, so cells stay crisp squares),
//                     which makes a 10x10 attention map big enough to see. A constant map
//                     (max == min) is drawn in the middle colour.
//   heatmap_png:      the same picture as PNG bytes in memory (for nibble::display_heatmap).
// Writing is atomic (io::write_atomically): a failed save leaves no file behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nibble::io {

constexpr int64_t kMaxImageValues = int64_t{1} << 26;  // width x height x channels

Tensor load_image(const std::string& path, int64_t max_values = kMaxImageValues);
// The same from bytes in memory (what tests/fuzz/image_fuzz.cpp calls); source_name names them in
// errors.
Tensor decode_image(const unsigned char* data, size_t size, const std::string& source_name,
                    int64_t max_values = kMaxImageValues);
void save_png(const std::string& path, const Tensor& image);
void save_heatmap_png(const std::string& path, const Tensor& map, int64_t upscale = 1);
std::vector<unsigned char> heatmap_png(const Tensor& map, int64_t upscale = 1);

}  // namespace nibble::io
