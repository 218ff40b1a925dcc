#include "core/io/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "core/io/atomic_file.h"
#include "core/io/crc32.h"

namespace nibble::io {

namespace {

constexpr char kMagic[4] = {'N', 'B', 'C', 'K'};
constexpr uint32_t kMaxNameLength = 4096;
constexpr uint32_t kMaxRank = 16;
// No real checkpoint holds more tensors than this; a count beyond it is a damaged header.
constexpr uint64_t kMaxTensorCount = uint64_t{1} << 32;
constexpr uint64_t kMaxElements = uint64_t{1} << 40;  // 4 TiB of floats: a damaged shape
constexpr uint64_t kMaxFileBytes = uint64_t{1}
                                   << 62;  // for messages only: "expected more than ..."


// ---- little-endian encoding, byte by byte so it works on any host -------------------------------
void put_u32(std::vector<unsigned char>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
void put_u64(std::vector<unsigned char>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

uint32_t get_u32(const unsigned char* b) {
  return uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
}

// Reads fields from the file's bytes; every read is bounds-checked, so a corrupt file can make
// us throw but never read past the buffer.
struct Reader {
  const unsigned char* bytes;
  size_t size;
  const std::string& path;
  size_t pos = 0;

  size_t remaining() const { return size - pos; }
  void need(uint64_t n, const std::string& what) const {
    NIBBLE_CHECK(n <= remaining(), "load_tensors",
                 path + ": truncated at byte " + std::to_string(size) + " (expected " +
                     (n > kMaxFileBytes ? "more than " + std::to_string(kMaxFileBytes)
                                        : std::to_string(pos + n)) +
                     "): " + what + " needs " + std::to_string(n) + " bytes at offset " +
                     std::to_string(pos),
                 "the file was cut short (interrupted copy or save?)");
  }
  uint64_t uint(int width, const std::string& what) {
    need(static_cast<uint64_t>(width), what);
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) v |= uint64_t{bytes[pos + static_cast<size_t>(i)]} << (8 * i);
    pos += static_cast<size_t>(width);
    return v;
  }
};

}  // namespace

void save_tensors(const std::string& path, const NamedTensors& tensors) {
  const char* op = "save_tensors";
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    NIBBLE_CHECK(!name.empty() && name.size() <= kMaxNameLength, op,
          path + ": tensor names must be 1.." + std::to_string(kMaxNameLength) + " bytes, got '" +
              name + "'");
    NIBBLE_CHECK(seen.insert(name).second, op, path + ": duplicate tensor name '" + name + "'");
    NIBBLE_CHECK(t.defined(), op, path + ": tensor '" + name + "' is undefined");
    NIBBLE_CHECK(t.dim() <= static_cast<int64_t>(kMaxRank), op,
          path + ": tensor '" + name + "' has rank " + std::to_string(t.dim()) +
              ", the format allows " + std::to_string(kMaxRank));
  }
  write_atomically(path, op, [&tensors](std::ostream& out) {
    std::vector<unsigned char> header(kMagic, kMagic + 4);
    put_u32(header, kCheckpointVersion);
    put_u64(header, tensors.size());
    out.write(reinterpret_cast<const char*>(header.data()),
              static_cast<std::streamsize>(header.size()));

    std::vector<unsigned char> record;
    for (const auto& [name, t] : tensors) {
      record.clear();
      record.reserve(4 + name.size() + 4 + 8 * t.shape().size() +
                     4 * static_cast<size_t>(t.numel()) + 4);
      put_u32(record, static_cast<uint32_t>(name.size()));
      record.insert(record.end(), name.begin(), name.end());
      put_u32(record, static_cast<uint32_t>(t.dim()));
      for (int64_t d : t.shape()) put_u64(record, static_cast<uint64_t>(d));
      const Tensor x = t.detach().contiguous();  // detach: saving must not touch the graph
      const size_t data_start = record.size();
      for (int64_t i = 0; i < x.numel(); ++i) {
        uint32_t bits;
        std::memcpy(&bits, x.data() + i, sizeof bits);  // the float's IEEE-754 bit pattern
        put_u32(record, bits);
      }
      put_u32(record, crc32_of(record.data() + data_start, record.size() - data_start));
      out.write(reinterpret_cast<const char*>(record.data()),
                static_cast<std::streamsize>(record.size()));
    }
  });
}

NamedTensors load_tensors(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file_bytes(path, "load_tensors");
  return decode_tensors(bytes.data(), bytes.size(), path);
}

NamedTensors decode_tensors(const unsigned char* data, size_t size, const std::string& path) {
  const char* op = "load_tensors";
  const unsigned char* bytes = data;
  Reader in{data, size, path};

  in.need(4, "the magic number");
  NIBBLE_CHECK(std::memcmp(bytes, kMagic, 4) == 0, op,
               path + ": bad magic: expected \"NBCK\" but the file starts with bytes " +
                   std::to_string(bytes[0]) + " " + std::to_string(bytes[1]) + " " +
                   std::to_string(bytes[2]) + " " + std::to_string(bytes[3]),
               "this is not a nibble checkpoint (written by io::save_tensors or nn::save)");
  in.pos = 4;
  const uint64_t version = in.uint(4, "the format version");
  NIBBLE_CHECK(version == kCheckpointVersion, op,
        path + ": unsupported format version " + std::to_string(version) +
            " (this build reads version " + std::to_string(kCheckpointVersion) + ")",
        "the file was written by a different version of nibble");
  const uint64_t count = in.uint(8, "the tensor count");
  // A count that no file could hold is a damaged header. A plausible count in a short file is a
  // truncation, reported where the first missing record should start (the loop below). Nothing is
  // reserved from the count: records are appended as they are read.
  NIBBLE_CHECK(
      count <= kMaxTensorCount, op,
      path + ": absurd tensor count " + std::to_string(count) + " at offset 8 (corrupt header)");
  NamedTensors out;
  std::set<std::string> seen;
  for (uint64_t k = 0; k < count; ++k) {
    const std::string which = "tensor #" + std::to_string(k);
    const uint64_t name_length = in.uint(4, which + "'s name length");
    NIBBLE_CHECK(name_length >= 1 && name_length <= kMaxNameLength, op,
                 path + ": " + which + ": absurd name length " + std::to_string(name_length) +
                     " at offset " + std::to_string(in.pos - 4) + " (allowed 1.." +
                     std::to_string(kMaxNameLength) + ")");
    in.need(name_length, which + "'s name");
    const std::string name(reinterpret_cast<const char*>(bytes + in.pos), name_length);
    in.pos += name_length;
    const std::string label = "tensor '" + name + "'";
    NIBBLE_CHECK(
        seen.insert(name).second, op,
        path + ": duplicate " + label + " at offset " + std::to_string(in.pos - name_length - 4));

    const uint64_t rank = in.uint(4, label + "'s rank");
    NIBBLE_CHECK(rank <= kMaxRank, op,
                 path + ": " + label + ": absurd rank " + std::to_string(rank) + " at offset " +
                     std::to_string(in.pos - 4) + " (allowed 0.." + std::to_string(kMaxRank) + ")");
    Shape shape;
    uint64_t numel = 1;
    uint64_t extent =
        1;  // the product of the non-zero dims: strides are made of it, even when numel is 0
    for (uint64_t d = 0; d < rank; ++d) {
      const auto dim = static_cast<int64_t>(in.uint(8, label + "'s dims"));
      shape.push_back(dim);
      // Each dim and the product of the non-zero ones stay below kMaxElements: that rejects
      // negative or absurd dims and rules out overflow (also in the strides of [0, 2^39, 2^39],
      // found by fuzzing). A plausible shape in a short file is then a truncation (below).
      NIBBLE_CHECK(dim >= 0 && static_cast<uint64_t>(dim) <= kMaxElements &&
                       (dim == 0 || extent <= kMaxElements / static_cast<uint64_t>(dim)),
                   op,
                   path + ": " + label + ": absurd shape " + shape_str(shape) + " at offset " +
                       std::to_string(in.pos - 8) + " (more than " + std::to_string(kMaxElements) +
                       " elements)");
      numel *= static_cast<uint64_t>(dim);
      if (dim != 0) extent *= static_cast<uint64_t>(dim);
    }
    in.need(4 * numel + 4, label + " " + shape_str(shape) + "'s data and checksum");

    const unsigned char* data = bytes + in.pos;
    const uint32_t stored_crc = get_u32(data + 4 * numel);
    const uint32_t actual_crc = crc32_of(data, 4 * numel);
    NIBBLE_CHECK(stored_crc == actual_crc, op,
                 path + ": checksum mismatch in " + label + " (data at offset " +
                     std::to_string(in.pos) + "): the file is corrupt (stored CRC-32 " +
                     std::to_string(stored_crc) + ", data gives " + std::to_string(actual_crc) +
                     ")",
                 "restore the checkpoint from a good copy; its values cannot be trusted");

    Tensor t = Tensor::empty(shape);
    float* dst = t.data();
    for (uint64_t i = 0; i < numel; ++i) {
      const uint32_t bits = get_u32(data + 4 * i);
      std::memcpy(dst + i, &bits, sizeof bits);
    }
    in.pos += 4 * numel + 4;
    out.emplace_back(name, t);
  }
  NIBBLE_CHECK(in.remaining() == 0, op,
        path + ": " + std::to_string(in.remaining()) + " unexpected bytes after the last of " +
            std::to_string(count) + " tensors (corrupt file?)");
  return out;
}

}  // namespace nibble::io
