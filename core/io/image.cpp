#include "core/io/image.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "core/io/atomic_file.h"

// stb is a single-file library: exactly one translation unit defines *_IMPLEMENTATION to compile
// its code, and this is that unit. *_STATIC keeps stb's functions private to libnibble, so they
// cannot clash with another copy of stb in a program that links us. We only decode from memory
// and encode to memory (our own file handling gives better error messages and atomic writes),
// so stb's stdio code is left out. stb is not written for -Wall -Wextra -Werror; we silence
// warnings for its code only, never for ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wtype-limits"
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace nibble::io {

namespace {

constexpr int64_t kMaxSide = 1 << 15;  // generous for figures, and far from stb's int limits

void write_png_bytes(const std::string& path, const char* op, const std::vector<unsigned char>& png) {
  write_atomically(path, op, [&png](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  });
}

// Encodes interleaved 8-bit pixels (rows of width * channels bytes) as PNG bytes; `where` names
// the file (or the thing drawn) in the error.
std::vector<unsigned char> encode_png(const std::string& where, const char* op, int64_t height, int64_t width,
                                      int channels, const std::vector<unsigned char>& pixels) {
  std::vector<unsigned char> png;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    const auto* bytes = static_cast<const unsigned char*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  const int w = static_cast<int>(width), h = static_cast<int>(height);
  NIBBLE_CHECK(stbi_write_png_to_func(append, &png, w, h, channels, pixels.data(), w * channels) != 0, op,
        where + ": PNG encoding failed");
  return png;
}

// Encodes as PNG and saves atomically.
void write_png_pixels(const std::string& path, const char* op, int64_t height, int64_t width,
                      int channels, const std::vector<unsigned char>& pixels) {
  const std::vector<unsigned char> png = encode_png(path, op, height, width, channels, pixels);
  write_png_bytes(path, op, png);
}

void check_side(int64_t side, const std::string& path, const char* op, const char* what) {
  NIBBLE_CHECK(side >= 1 && side <= kMaxSide, op,
        path + ": " + what + " must be 1.." + std::to_string(kMaxSide) + ", got " +
            std::to_string(side));
}

// The viridis colour map (van der Walt & Smith, matplotlib's default), sampled at 10 evenly
// spaced points -- the same values as R's viridisLite::viridis(10). Linear interpolation between
// neighbours is visually indistinguishable from the full 256-entry table.
constexpr unsigned char kViridis[10][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3e, 0x4a, 0x89}, {0x31, 0x68, 0x8e},
    {0x26, 0x82, 0x8e}, {0x1f, 0x9e, 0x89}, {0x35, 0xb7, 0x79}, {0x6d, 0xcd, 0x59},
    {0xb4, 0xde, 0x2c}, {0xfd, 0xe7, 0x25}};

void viridis(float t, unsigned char rgb[3]) {
  const float x = std::fmin(std::fmax(t, 0.0f), 1.0f) * 9.0f;
  const int i = std::min(static_cast<int>(x), 8);
  const float frac = x - static_cast<float>(i);
  for (int c = 0; c < 3; ++c) {
    const float v = kViridis[i][c] + frac * (kViridis[i + 1][c] - kViridis[i][c]);
    rgb[c] = static_cast<unsigned char>(std::lround(v));
  }
}

}  // namespace

Tensor load_image(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file_bytes(path, "load_image");
  NIBBLE_CHECK(!bytes.empty(), "load_image", path + ": the file is empty");
  NIBBLE_CHECK(bytes.size() <= static_cast<size_t>(INT_MAX), "load_image", path + ": file too large");
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()),
                                                &width, &height, &channels, /*desired_channels=*/0);
  if (pixels == nullptr) {
    fail("load_image", path + ": cannot decode image (" + stbi_failure_reason() + ")",
         "is the file a complete PNG/JPEG/BMP? it may be truncated or not an image at all");
  }
  // stb gives 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGB + alpha; we keep grey or RGB.
  const int kept = channels <= 2 ? 1 : 3;
  Tensor out = Tensor::empty({kept, height, width});
  float* dst = out.data();
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int c = 0; c < kept; ++c) {
    for (int64_t p = 0; p < plane; ++p) dst[c * plane + p] = pixels[p * channels + c] / 255.0f;
  }
  stbi_image_free(pixels);
  return out;
}

void save_png(const std::string& path, const Tensor& image) {
  const char* op = "save_png";
  NIBBLE_CHECK(image.defined(), op, path + ": the tensor is undefined");
  const int64_t rank = image.dim();
  const bool ok_shape = rank == 2 || (rank == 3 && (image.size(0) == 1 || image.size(0) == 3));
  NIBBLE_CHECK(ok_shape, op,
        path + ": expected [H, W], [1, H, W] or [3, H, W] but got " + image.shape_str(),
        "for a batch, save one image: x.select(0, i)");
  const int channels = rank == 3 ? static_cast<int>(image.size(0)) : 1;
  const int64_t height = image.size(-2), width = image.size(-1);
  check_side(height, path, op, "height");
  check_side(width, path, op, "width");

  const Tensor x = image.contiguous();  // [C, H, W] planes -> interleaved H x W x C bytes
  const float* src = x.data();
  const int64_t plane = height * width;
  std::vector<unsigned char> pixels(static_cast<size_t>(plane * channels));
  for (int c = 0; c < channels; ++c) {
    for (int64_t p = 0; p < plane; ++p) {
      const float v = src[c * plane + p];
      NIBBLE_CHECK(std::isfinite(v), op,
            path + ": value " + std::to_string(v) + " at channel " + std::to_string(c) +
                ", pixel " + std::to_string(p) + " is not finite");
      pixels[static_cast<size_t>(p * channels + c)] =
          static_cast<unsigned char>(std::lround(std::fmin(std::fmax(v, 0.0f), 1.0f) * 255.0f));
    }
  }
  write_png_pixels(path, op, height, width, channels, pixels);
}

namespace {

// The viridis heatmap of a 2-d map as PNG bytes (see save_heatmap_png); `path` names it in errors.
std::vector<unsigned char> heatmap_png_bytes(const std::string& path, const char* op, const Tensor& map,
                                             int64_t upscale) {
  NIBBLE_CHECK(map.defined() && map.dim() == 2, op,
        path + ": expected a 2-d map [H, W] but got " +
            (map.defined() ? map.shape_str() : "undefined"),
        "pick one map first, e.g. attention.select(0, head)");
  NIBBLE_CHECK(upscale >= 1 && upscale <= kMaxSide, op,
        path + ": upscale must be >= 1, got " + std::to_string(upscale));
  const int64_t height = map.size(0), width = map.size(1);
  check_side(height * upscale, path, op, "height * upscale");
  check_side(width * upscale, path, op, "width * upscale");

  const std::vector<float> values = map.to_vector();
  float lo = values[0], hi = values[0];
  for (size_t i = 0; i < values.size(); ++i) {
    NIBBLE_CHECK(std::isfinite(values[i]), op,
          path + ": value " + std::to_string(values[i]) + " at index " + std::to_string(i) +
              " is not finite");
    lo = std::fmin(lo, values[i]);
    hi = std::fmax(hi, values[i]);
  }
  const double range = static_cast<double>(hi) - lo;  // in double: hi - lo may overflow a float

  const int64_t out_w = width * upscale, out_h = height * upscale;
  std::vector<unsigned char> pixels(static_cast<size_t>(out_w * out_h * 3));
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      unsigned char rgb[3];
      const double v = values[static_cast<size_t>(y * width + x)];
      viridis(range > 0.0 ? static_cast<float>((v - lo) / range) : 0.5f, rgb);
      for (int64_t dy = 0; dy < upscale; ++dy) {
        for (int64_t dx = 0; dx < upscale; ++dx) {
          unsigned char* px =
              &pixels[static_cast<size_t>(((y * upscale + dy) * out_w + x * upscale + dx) * 3)];
          px[0] = rgb[0], px[1] = rgb[1], px[2] = rgb[2];
        }
      }
    }
  }
  return encode_png(path, op, out_h, out_w, 3, pixels);
}

}  // namespace

void save_heatmap_png(const std::string& path, const Tensor& map, int64_t upscale) {
  write_png_bytes(path, "save_heatmap_png", heatmap_png_bytes(path, "save_heatmap_png", map, upscale));
}

std::vector<unsigned char> heatmap_png(const Tensor& map, int64_t upscale) {
  return heatmap_png_bytes("the heatmap", "heatmap_png", map, upscale);
}

}  // namespace nibble::io
