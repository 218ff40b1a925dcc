// libFuzzer target for the .nbz reader (compression/nbz.h, layout in compression/FORMAT.md).
// Any input must decode to a model or throw nibble::Error: a crash, a sanitizer report, a hang or
// another exception type is a bug. Seed corpus: tests/fuzz/corpus/nbz/ (valid files written by
// save_nbz, kept current by tests/compression/nbz_test.cpp); inputs that once crashed:
// tests/fuzz/regressions/nbz/ (nbz_test.cpp decodes each of them).
//
// Each input is decoded twice: as given, and with its last 4 bytes replaced by the CRC-32 of the
// rest — otherwise nearly every mutation would stop at the checksum and the fuzzer would never
// see the end of a layer decode, the CRC-gated allocation path or decode_weight.
//
// By hand (the CMake wiring lives with the other fuzz targets):
//   clang++-14 -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/nbz_fuzz.cpp \
//       <libnibble built with clang and NIBBLE_SANITIZE=ON> -o nbz_fuzz
//   ./nbz_fuzz -max_total_time=300 tests/fuzz/corpus/nbz
#include <cstddef>
#include <cstdint>
#include <vector>

#include "compression/nbz.h"
#include "core/error.h"

namespace {

// CRC-32 as zlib computes it (reflected polynomial 0xEDB88320), bit by bit: the target needs no zlib.
uint32_t crc32_bitwise(const uint8_t* data, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

void decode(const uint8_t* data, size_t size) {
  try {
    const nibble::compression::NbzModel model = nibble::compression::decode_nbz(data, size, "fuzz-input");
    for (const auto& layer : model.layers) {
      int64_t numel = 1;
      for (const int64_t d : layer.weight.shape) numel *= d;
      if (numel <= (int64_t{1} << 20)) nibble::compression::decode_weight(layer.weight);  // a valid model decodes
    }
  } catch (const nibble::Error&) {
    // the expected outcome for a corrupt file
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode(data, size);
  if (size >= 8) {
    std::vector<uint8_t> fixed(data, data + size);
    const uint32_t crc = crc32_bitwise(fixed.data(), size - 4);
    for (int i = 0; i < 4; ++i) fixed[size - 4 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (8 * i));
    decode(fixed.data(), fixed.size());
  }
  return 0;
}
