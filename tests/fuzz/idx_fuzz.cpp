// fuzz-sources: core
// libFuzzer target: IDX files (core/io/idx.h), raw or gzip, through io::decode_idx -- the reader
// behind read_idx, read_idx_images, read_idx_labels and load_fashion_mnist.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/io/idx.h"
#include "fuzz_check.h"

namespace {

void decode(const uint8_t* data, size_t size, uint32_t magic) {
  try {
    const nibble::io::IdxArray a = nibble::io::decode_idx(data, size, magic, "fuzz.idx");
    uint64_t total = 1;
    for (int64_t d : a.dims) total *= static_cast<uint64_t>(d);
    nibble::fuzz::fuzz_expect(a.dims.size() == (magic & 0xff), "one size per dimension");
    nibble::fuzz::fuzz_expect(a.data.size() == total, "data holds product(dims) bytes");
  } catch (const nibble::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode(data, size, nibble::io::kIdxLabelsMagic);
  decode(data, size, nibble::io::kIdxImagesMagic);
  // Any rank: the magic the input itself claims (raw files), so ranks other than 1 and 3 are
  // reached.
  if (size >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0x08)
    decode(data, size, 0x0800u | data[3]);
  return 0;
}
