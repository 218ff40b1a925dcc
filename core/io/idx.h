// IDX: the tiny binary format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).
//
//   bytes 0-1   0x00 0x00
//   byte  2     element type: 0x08 = unsigned byte (the only type these data sets use)
//   byte  3     number of dimensions d
//   then d      big-endian uint32 sizes, then the elements in row-major order.
//
// So the magic number (bytes 0-3 read as big-endian uint32) says type and rank at once:
// 2051 = 0x00000803 = bytes, 3 dims (images [N, rows, cols]); 2049 = 0x00000801 = bytes, 1 dim
// (labels [N]). Files may be gzip-compressed (*.gz, as distributed: recognised by the gzip magic
// 1f 8b, one or more gzip members) or raw.
//
// Every malformed file -- wrong magic, truncated header or payload ("truncated at byte N (expected
// M)", counted in uncompressed bytes for a gzip file), junk after the data or after the gzip
// stream, a damaged gzip stream, sizes that cannot be real -- raises nibble::Error naming the file,
// what was expected and what was found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nibble::io {

constexpr uint32_t kIdxImagesMagic = 2051;  // 0x00000803
constexpr uint32_t kIdxLabelsMagic = 2049;  // 0x00000801

// The raw contents of one IDX file of unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;  // e.g. [60000, 28, 28]
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

// Any unsigned-byte IDX file whose magic equals expected_magic (the rank is its low byte).
IdxArray read_idx(const std::string& path, uint32_t expected_magic);
// The same from bytes in memory (what the fuzz target tests/fuzz/idx_fuzz.cpp calls); source_name
// names them in errors.
IdxArray decode_idx(const unsigned char* data, size_t size, uint32_t expected_magic,
                    const std::string& source_name);
// Images [N, rows, cols]; the header must agree with rows x cols.
IdxArray read_idx_images(const std::string& path, int64_t rows = 28, int64_t cols = 28);
// Labels [N], one byte each.
IdxArray read_idx_labels(const std::string& path);

// Images and labels read together; their counts must match.
struct IdxDataset {
  IdxArray images;  // [N, rows, cols]
  IdxArray labels;  // [N]
};
IdxDataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                            int64_t rows = 28, int64_t cols = 28);

// Writes an unsigned-byte IDX file (magic 0x0000 08 <rank>), gzip-compressed if gzip is true.
// Atomic: the file appears complete or not at all. Handy for tests and small custom data sets.
void write_idx(const std::string& path, const IdxArray& array, bool gzip);

}  // namespace nibble::io
