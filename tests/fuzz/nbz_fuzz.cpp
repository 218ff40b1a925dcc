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
// Run it like every target: `tools/fuzz/run nbz` (or `tools/fuzz/run --time 300 nbz`).
//
// Library sources beyond core/ (for the fuzz tree's wiring; module 01's Huffman lengths are linked
// because the codec's writer side uses them):
// fuzz-sources: compression/nbz.cpp compression/huffman_codec.cpp modules/01_entropy/solution/*.cpp
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
    // A small budget keeps each input cheap (an 89-byte file may declare 2^26 kept weights).
    const nibble::compression::NbzModel model =
        nibble::compression::decode_nbz(data, size, "fuzz-input", /*max_elements=*/int64_t{1} << 20);
    for (const auto& layer : model.layers)
      nibble::compression::decode_weight(layer.weight);  // a valid model decodes (within the budget)
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
