#include "core/io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace nibble::io {

namespace {

// Real IDX files are tens of MB; anything claiming more than 4 GiB is a corrupt header, and we
// refuse it before allocating anything.
constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 32;

std::string describe_magic(uint32_t magic) {
  if (magic == kIdxImagesMagic) return std::to_string(magic) + " (images)";
  if (magic == kIdxLabelsMagic) return std::to_string(magic) + " (labels)";
  return std::to_string(magic);
}

// "60000 images of 28x28" / "60000 labels" / "5 items of 2x3x4" -- used in truncation messages.
std::string describe_dims(const std::vector<int64_t>& dims, uint32_t magic) {
  const char* noun = magic == kIdxImagesMagic   ? "images"
                     : magic == kIdxLabelsMagic ? "labels"
                                                : "items";
  std::string s = std::to_string(dims.empty() ? 1 : dims[0]) + " " + noun;
  for (size_t i = 1; i < dims.size(); ++i) s += (i == 1 ? " of " : "x") + std::to_string(dims[i]);
  return s;
}

// The bytes of an IDX file as they are decoded: straight from the buffer, or through zlib's inflate
// when the file starts with the gzip magic 1f 8b. A gzip file may hold several members back to back
// (RFC 1952); anything else after the last member is an error, never silently ignored (zlib's
// gzread would ignore it). Everything is in memory: no file handle to leak on an exception.
class IdxStream {
 public:
  IdxStream(const unsigned char* data, size_t size, const std::string& where)
      : data_(data),
        size_(size),
        where_(where),
        gzip_(size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    if (!gzip_) return;
    zs_.next_in = const_cast<unsigned char*>(data);
    zs_.avail_in = 0;  // fed in chunks below: zlib counts in uInt
    // windowBits 15 + 16: a gzip wrapper only (the magic said so).
    NIBBLE_CHECK(inflateInit2(&zs_, 15 + 16) == Z_OK, "read_idx",
                 where_ + "zlib inflateInit2 failed");
  }
  ~IdxStream() {
    if (gzip_) inflateEnd(&zs_);
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  bool gzip() const { return gzip_; }

  // An upper bound on the bytes read() can still deliver: the bytes left, or for gzip the compressed
  // bytes left times deflate's largest expansion (1032:1), plus what zlib may hold back.
  uint64_t most_remaining() const {
    if (!gzip_) return size_ - raw_pos_;
    return static_cast<uint64_t>(size_ - consumed()) * 1032 + (1u << 16);
  }

  // Reads up to n bytes into dst; returns how many arrived (fewer only at the end of the data).
  uint64_t read(unsigned char* dst, uint64_t n) {
    if (!gzip_) {
      const uint64_t got = std::min<uint64_t>(n, size_ - raw_pos_);
      if (got > 0) std::memcpy(dst, data_ + raw_pos_, got);
      raw_pos_ += got;
      return got;
    }
    uint64_t done = 0;
    while (done < n && !finished_) {
      if (zs_.avail_in == 0) {
        const size_t left = size_ - consumed();
        zs_.avail_in = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
      }
      zs_.next_out = dst + done;
      zs_.avail_out = static_cast<uInt>(std::min<uint64_t>(n - done, 1u << 30));
      const uInt room = zs_.avail_out;
      const int status = inflate(&zs_, Z_NO_FLUSH);
      done += room - zs_.avail_out;
      if (status == Z_STREAM_END) {
        next_member();
      } else if (status == Z_BUF_ERROR && consumed() == size_) {
        fail("read_idx",
             where_ + "truncated gzip file: the compressed data ends at byte " +
                 std::to_string(size_) + " in the middle of its stream (data, CRC-32 or length)",
             "the download or copy was probably cut short; reinstall the file");
      } else if (status != Z_OK && status != Z_BUF_ERROR) {
        fail("read_idx",
             where_ + "corrupt gzip data near compressed byte " + std::to_string(consumed()) +
                 " (" + (zs_.msg != nullptr ? zs_.msg : "zlib error " + std::to_string(status)) +
                 ")",
             "the file is damaged; reinstall it");
      }
    }
    return done;
  }

 private:
  size_t consumed() const { return static_cast<size_t>(zs_.next_in - data_); }

  // After a member's trailer: the end of the file, another member, or junk (an error).
  void next_member() {
    const size_t at = consumed();
    if (at == size_) {
      finished_ = true;
      return;
    }
    NIBBLE_CHECK(size_ - at >= 2 && data_[at] == 0x1f && data_[at + 1] == 0x8b, "read_idx",
                 where_ + "trailing bytes: the gzip stream ends at byte " + std::to_string(at) +
                     " but the file has " + std::to_string(size_) + " bytes",
                 "two files concatenated, or junk appended to the download?");
    NIBBLE_CHECK(inflateReset(&zs_) == Z_OK, "read_idx", where_ + "zlib inflateReset failed");
  }

  const unsigned char* data_;
  size_t size_;
  const std::string& where_;
  bool gzip_;
  z_stream zs_{};
  size_t raw_pos_ = 0;
  bool finished_ = false;
};

uint32_t big_endian_u32(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path, uint32_t expected_magic) {
  const std::vector<unsigned char> bytes = read_file_bytes(path, "read_idx");
  return decode_idx(bytes.data(), bytes.size(), expected_magic, path);
}

IdxArray decode_idx(const unsigned char* data, size_t size, uint32_t expected_magic,
                    const std::string& source_name) {
  const std::string where = source_name + ": ";
  IdxStream in(data, size, where);
  // Offsets below count the IDX bytes: the file's bytes, or the uncompressed ones for a gzip file.
  const std::string of = in.gzip() ? " of the uncompressed data" : "";

  unsigned char magic_bytes[4];
  const uint64_t got_magic = in.read(magic_bytes, 4);
  NIBBLE_CHECK(got_magic == 4, "read_idx",
               where + "truncated header: truncated at byte " + std::to_string(got_magic) + of +
                   " (expected 4: the magic number)");
  const uint32_t magic = big_endian_u32(magic_bytes);
  NIBBLE_CHECK(magic == expected_magic, "read_idx",
               where + "expected magic " + describe_magic(expected_magic) + " but found " +
                   describe_magic(magic),
               "is this the right file (images vs labels), and an IDX file at all?");

  const uint32_t rank = magic & 0xff;  // the low byte of the magic is the number of dimensions
  const uint64_t header_bytes = 4 + 4 * uint64_t{rank};
  std::vector<unsigned char> header(4 * rank);
  const uint64_t got_header = in.read(header.data(), header.size());
  NIBBLE_CHECK(got_header == header.size(), "read_idx",
               where + "truncated header: truncated at byte " + std::to_string(4 + got_header) +
                   of + " (expected " + std::to_string(header_bytes) + ": the magic and " +
                   std::to_string(rank) + " dimension sizes)");

  IdxArray out;
  uint64_t total = 1;
  for (uint32_t d = 0; d < rank; ++d) {
    const uint32_t dim = big_endian_u32(&header[4 * d]);
    out.dims.push_back(dim);
    total *= dim;  // cannot overflow before the check below: each factor < 2^32, checked each step
    NIBBLE_CHECK(total <= kMaxIdxBytes, "read_idx",
                 where + "absurd size: header claims " + describe_dims(out.dims, magic) +
                     " (more than 4 GiB); the header is corrupt");
  }

  // Memory follows the data that is really there, not the header's claim: the buffer is reserved
  // for at most what the rest of the file can hold and grows (doubling) as data arrives. A 20-byte
  // file claiming 4 GiB costs 64 KiB, not 64 MiB (found by tests/fuzz/idx_fuzz.cpp running slowly).
  out.data.reserve(std::min({total, in.most_remaining(), uint64_t{64} << 20}));
  uint64_t have = 0;
  while (have < total) {
    const uint64_t want =
        std::min({total - have, std::max<uint64_t>(have, uint64_t{1} << 16), uint64_t{16} << 20});
    out.data.resize(have + want);
    const uint64_t got = in.read(out.data.data() + have, want);
    have += got;
    if (got < want) break;
  }
  NIBBLE_CHECK(have == total, "read_idx",
               where + "truncated at byte " + std::to_string(header_bytes + have) + of +
                   " (expected " + std::to_string(header_bytes + total) + "): the header says " +
                   describe_dims(out.dims, magic) + " = " + std::to_string(total) +
                   " bytes, the file has " + std::to_string(have),
               "the download or copy was probably cut short; reinstall the file");
  out.data.resize(total);

  // Reading one byte more also runs a gzip stream to its end: its trailer (CRC-32, length) is
  // checked and junk after it is found.
  unsigned char extra = 0;
  NIBBLE_CHECK(in.read(&extra, 1) == 0, "read_idx",
               where + "trailing bytes after byte " + std::to_string(header_bytes + total) + of +
                   ": the header says " + describe_dims(out.dims, magic) + " = " +
                   std::to_string(total) + " bytes, but the file has more",
               "two files concatenated, or a corrupt header?");
  return out;
}

IdxArray read_idx_images(const std::string& path, int64_t rows, int64_t cols) {
  IdxArray images = read_idx(path, kIdxImagesMagic);
  NIBBLE_CHECK(images.dims[1] == rows && images.dims[2] == cols, "read_idx_images",
        path + ": dimension mismatch: expected images of " + std::to_string(rows) + "x" +
            std::to_string(cols) + " but the header says " + std::to_string(images.dims[1]) + "x" +
            std::to_string(images.dims[2]));
  return images;
}

IdxArray read_idx_labels(const std::string& path) { return read_idx(path, kIdxLabelsMagic); }

IdxDataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                            int64_t rows, int64_t cols) {
  IdxDataset ds{read_idx_images(images_path, rows, cols), read_idx_labels(labels_path)};
  NIBBLE_CHECK(ds.images.dims[0] == ds.labels.dims[0], "read_idx_dataset",
        "count mismatch: " + images_path + " has " + std::to_string(ds.images.dims[0]) +
            " images but " + labels_path + " has " + std::to_string(ds.labels.dims[0]) + " labels",
        "images and labels must come from the same split (train or t10k)");
  return ds;
}

// ---- writing ------------------------------------------------------------------------------------

namespace {

std::vector<unsigned char> gzip_bytes(const std::vector<unsigned char>& raw,
                                      const std::string& path) {
  z_stream zs{};
  // windowBits 15 + 16 asks deflate for a gzip wrapper (what gzread and `gunzip` expect).
  NIBBLE_CHECK(
      deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK,
      "write_idx", path + ": zlib deflateInit2 failed");
  std::vector<unsigned char> out(deflateBound(&zs, raw.size()));
  zs.next_in = const_cast<unsigned char*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  NIBBLE_CHECK(status == Z_STREAM_END, "write_idx", path + ": zlib deflate failed");
  return out;
}

}  // namespace

void write_idx(const std::string& path, const IdxArray& array, bool gzip) {
  const size_t rank = array.dims.size();
  NIBBLE_CHECK(rank >= 1 && rank <= 255, "write_idx",
        path + ": rank must be 1..255, got " + std::to_string(rank));
  uint64_t total = 1;
  for (int64_t d : array.dims) {
    NIBBLE_CHECK(d >= 0 && d <= 0xffffffffLL, "write_idx",
          path + ": dimension " + std::to_string(d) + " does not fit IDX's uint32 sizes");
    total *= static_cast<uint64_t>(d);
  }
  NIBBLE_CHECK(total == array.data.size(), "write_idx",
        path + ": dims " + shape_str(array.dims) + " need " + std::to_string(total) +
            " bytes but data has " + std::to_string(array.data.size()));
  NIBBLE_CHECK(total < (uint64_t{1} << 31), "write_idx",
        path + ": " + std::to_string(total) + " bytes is too much",
        "write_idx keeps the whole file in memory; split the data set");

  std::vector<unsigned char> raw = {0, 0, 0x08, static_cast<unsigned char>(rank)};
  for (int64_t d : array.dims) {
    for (int shift = 24; shift >= 0; shift -= 8)
      raw.push_back(static_cast<unsigned char>(d >> shift));
  }
  raw.insert(raw.end(), array.data.begin(), array.data.end());
  const std::vector<unsigned char> bytes = gzip ? gzip_bytes(raw, path) : raw;
  write_atomically(path, "write_idx", [&bytes](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  });
}

}  // namespace nibble::io
