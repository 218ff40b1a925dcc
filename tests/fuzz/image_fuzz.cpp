// fuzz-sources: core
// libFuzzer target: images (core/io/image.h) through io::decode_image -- the validation in front of
// stb_image and stb_image itself (PNG, JPEG, BMP, PGM/PPM). A small size limit keeps each run
// cheap.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/io/image.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nibble::Tensor image =
        nibble::io::decode_image(data, size, "fuzz.img", /*max_values=*/1 << 18);
    nibble::fuzz::fuzz_expect(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3),
                              "[1|3, H, W]");
    const float* v = image.data();
    for (int64_t i = 0; i < image.numel(); ++i)
      nibble::fuzz::fuzz_expect(v[i] >= 0.0f && v[i] <= 1.0f, "pixel values in [0, 1]");
  } catch (const nibble::Error&) {
  }
  return 0;
}
