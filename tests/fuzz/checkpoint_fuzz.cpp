// fuzz-sources: core
// libFuzzer target: checkpoints (core/io/checkpoint.h) through io::decode_tensors -- the reader
// behind load_tensors and nn::load.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/io/checkpoint.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nibble::io::NamedTensors tensors = nibble::io::decode_tensors(data, size, "fuzz.nbck");
    uint64_t values = 0;
    for (const auto& [name, t] : tensors) {
      nibble::fuzz::fuzz_expect(!name.empty() && t.defined(), "named, defined tensors");
      values += static_cast<uint64_t>(t.numel());
    }
    // Every value came from the file: 4 bytes each, plus at least 13 bytes per record and 16 of
    // header.
    nibble::fuzz::fuzz_expect(16 + 4 * values + 13 * tensors.size() <= size,
                              "no value without its bytes");
  } catch (const nibble::Error&) {
  }
  return 0;
}
