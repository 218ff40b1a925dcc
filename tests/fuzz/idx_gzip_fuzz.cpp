// fuzz-sources: core
// libFuzzer target: the gzip path of the IDX reader (core/io/idx.h) on well-formed gzip streams
// whose content is the fuzzer's bytes (mutating gzip bytes directly mostly breaks its CRC), checked
// against the raw path: both must accept the same content with the same result, or both refuse it.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/io/idx.h"
#include "fuzz_check.h"

namespace {

std::vector<unsigned char> gzip(const uint8_t* data, size_t size) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    __builtin_trap();
  std::vector<unsigned char> out(deflateBound(&zs, size));
  zs.next_in = const_cast<uint8_t*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) __builtin_trap();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The result, or "error" -- messages differ between the paths (they name uncompressed offsets).
std::string outcome(const unsigned char* data, size_t size, uint32_t magic) {
  try {
    const nibble::io::IdxArray a = nibble::io::decode_idx(data, size, magic, "fuzz.idx.gz");
    std::string s;
    for (int64_t d : a.dims) s += std::to_string(d) + ",";
    return s + std::string(a.data.begin(), a.data.end());
  } catch (const nibble::Error&) {
    return "error";
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  // A raw IDX file starts 00 00; one starting 1f 8b would be read as gzip by the raw path.
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 0;
  const uint32_t magic = size >= 4 ? (0x0800u | data[3]) : nibble::io::kIdxLabelsMagic;
  const std::vector<unsigned char> gz = gzip(data, size);
  const std::string raw = outcome(data, size, magic);
  const std::string zipped = outcome(gz.data(), gz.size(), magic);
  nibble::fuzz::fuzz_expect(raw == zipped, "the raw and the gzip path agree");
  // The same stream followed by one junk byte is always an error; cut by one byte, too.
  std::vector<unsigned char> junk = gz;
  junk.push_back(0);
  nibble::fuzz::fuzz_expect(outcome(junk.data(), junk.size(), magic) == "error",
                            "junk after the gzip stream is refused");
  nibble::fuzz::fuzz_expect(outcome(gz.data(), gz.size() - 1, magic) == "error",
                            "a cut gzip stream is refused");
  return 0;
}
