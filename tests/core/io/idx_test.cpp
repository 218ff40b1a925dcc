// IDX reading and writing (core/io/idx.h): round trips on files the test writes, and every kind
// of damaged file must raise nibble::Error naming the file -- never crash or read out of bounds.
#include "core/io/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "core/io/temp_dir.h"
#include "gradcheck.h"

namespace nibble::io {
namespace {

using nibble::testing::read_bytes;
using nibble::testing::TempDir;
using nibble::testing::throws_error_containing;
using nibble::testing::write_bytes;

IdxArray make_images(int64_t n, int64_t rows = 28, int64_t cols = 28) {
  IdxArray a;
  a.dims = {n, rows, cols};
  for (int64_t i = 0; i < n * rows * cols; ++i)
    a.data.push_back(static_cast<uint8_t>((i * 37 + 11) % 256));
  return a;
}

IdxArray make_labels(int64_t n) {
  IdxArray a;
  a.dims = {n};
  for (int64_t i = 0; i < n; ++i) a.data.push_back(static_cast<uint8_t>(i % 10));
  return a;
}

// One gzip member holding `bytes` (zlib's deflate with a gzip wrapper, as gzip(1) writes).
std::vector<unsigned char> gzip_member(const std::vector<unsigned char>& bytes) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::vector<unsigned char> out(deflateBound(&zs, bytes.size()));
  zs.next_in = const_cast<unsigned char*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A raw IDX header: magic then big-endian dims.
std::vector<unsigned char> header(uint32_t magic, const std::vector<uint32_t>& dims) {
  std::vector<unsigned char> b;
  auto put = [&b](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      b.push_back(static_cast<unsigned char>(v >> shift));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  return b;
}

TEST(Idx, RoundTripGzipAndRaw) {
  TempDir dir;
  const IdxArray images = make_images(3), labels = make_labels(3);
  for (bool gzip : {true, false}) {
    const std::string ip = dir.file(gzip ? "img.gz" : "img"),
                      lp = dir.file(gzip ? "lab.gz" : "lab");
    write_idx(ip, images, gzip);
    write_idx(lp, labels, gzip);
    const std::vector<unsigned char> bytes = read_bytes(ip);
    ASSERT_GE(bytes.size(), 4u);
    if (gzip) {
      EXPECT_EQ(bytes[0], 0x1f);  // the gzip signature
      EXPECT_EQ(bytes[1], 0x8b);
    } else {
      EXPECT_EQ(bytes, [&] {  // exactly header + pixels
        std::vector<unsigned char> expected = header(kIdxImagesMagic, {3, 28, 28});
        expected.insert(expected.end(), images.data.begin(), images.data.end());
        return expected;
      }());
    }
    const IdxDataset ds = read_idx_dataset(ip, lp);
    EXPECT_EQ(ds.images.dims, images.dims);
    EXPECT_EQ(ds.images.data, images.data);
    EXPECT_EQ(ds.labels.dims, labels.dims);
    EXPECT_EQ(ds.labels.data, labels.data);
  }
  EXPECT_EQ(dir.listing().size(), 4u) << "write_idx must not leave .tmp files";
}

TEST(Idx, OtherImageSizes) {
  TempDir dir;
  write_idx(dir.file("x"), make_images(2, 5, 7), true);
  const IdxArray a = read_idx_images(dir.file("x"), 5, 7);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 5, 7}));
  EXPECT_EQ(a.data, make_images(2, 5, 7).data);
}

TEST(Idx, WrongMagicSaysWhatWasExpectedAndFound) {
  TempDir dir;
  const std::string path = dir.file("labels.gz");
  write_idx(path, make_labels(4), true);
  EXPECT_TRUE(
      throws_error_containing([&] { read_idx_images(path); },
                              path + ": expected magic 2051 (images) but found 2049 (labels)"));
  write_bytes(path, header(1234, {}));
  EXPECT_TRUE(throws_error_containing([&] { read_idx_labels(path); },
                                      "expected magic 2049 (labels) but found 1234"));
}

TEST(Idx, EmptyFile) {
  TempDir dir;
  const std::string path = dir.file("empty");
  write_bytes(path, {});
  EXPECT_TRUE(throws_error_containing([&] { read_idx_images(path); }, path + ": truncated header"));
}

TEST(Idx, MissingFile) {
  TempDir dir;
  EXPECT_TRUE(throws_error_containing([&] { read_idx_images(dir.file("nope.gz")); },
                                      dir.file("nope.gz") + ": cannot open"));
}

TEST(Idx, TruncatedAtEveryStage) {
  TempDir dir;
  write_idx(dir.file("raw"), make_images(2), false);
  const std::vector<unsigned char> full = read_bytes(dir.file("raw"));
  // inside the magic, inside the dims, right after the header, inside the pixels, one byte short
  for (size_t cut : {size_t{1}, size_t{3}, size_t{4}, size_t{9}, size_t{16}, size_t{17},
                     size_t{800}, full.size() - 1}) {
    const std::string path = dir.file("cut" + std::to_string(cut));
    write_bytes(path,
                std::vector<unsigned char>(full.begin(), full.begin() + static_cast<long>(cut)));
    EXPECT_TRUE(throws_error_containing([&] { read_idx_images(path); }, path + ": truncated"))
        << "cut at " << cut;
  }
}

TEST(Idx, TruncatedGzipFile) {
  TempDir dir;
  write_idx(dir.file("full.gz"), make_images(20), true);
  const std::vector<unsigned char> full = read_bytes(dir.file("full.gz"));
  for (size_t cut : {size_t{1}, size_t{10}, full.size() / 2, full.size() - 9, full.size() - 1}) {
    const std::string path = dir.file("cut" + std::to_string(cut) + ".gz");
    write_bytes(path,
                std::vector<unsigned char>(full.begin(), full.begin() + static_cast<long>(cut)));
    EXPECT_TRUE(throws_error_containing([&] { read_idx_images(path); }, path + ": "))
        << "cut at " << cut;
  }
}

TEST(Idx, TruncatedPayloadMessageGivesBothSizes) {
  TempDir dir;
  const std::string path = dir.file("short");
  std::vector<unsigned char> bytes = header(kIdxImagesMagic, {60000, 28, 28});
  bytes.resize(bytes.size() + 1000, 7);
  write_bytes(path, bytes);
  EXPECT_TRUE(throws_error_containing(
      [&] { read_idx_images(path); },
      path +
          ": truncated at byte 1016 (expected 47040016): the header says 60000 images of 28x28 = "
          "47040000 bytes, the file has 1000"));
}

TEST(Idx, GarbageBytes) {
  TempDir dir;
  std::vector<unsigned char> garbage;
  for (int i = 0; i < 5000; ++i)
    garbage.push_back(static_cast<unsigned char>((i * 7919 + 13) % 251));
  write_bytes(dir.file("garbage"), garbage);
  EXPECT_TRUE(throws_error_containing([&] { read_idx_images(dir.file("garbage")); },
                                      dir.file("garbage") + ": "));

  // Damage in the middle of a gzip stream: zlib's inflate or the gzip CRC must notice.
  write_idx(dir.file("ok.gz"), make_images(20), true);
  std::vector<unsigned char> gz = read_bytes(dir.file("ok.gz"));
  for (size_t i = gz.size() / 3; i < gz.size() / 3 + 8; ++i) gz[i] ^= 0x5a;
  write_bytes(dir.file("bad.gz"), gz);
  EXPECT_TRUE(throws_error_containing([&] { read_idx_images(dir.file("bad.gz")); },
                                      dir.file("bad.gz") + ": "));
}

TEST(Idx, TrailingBytes) {
  TempDir dir;
  const std::string path = dir.file("long");
  write_idx(path, make_labels(5), false);
  std::vector<unsigned char> bytes = read_bytes(path);
  bytes.push_back(0);
  write_bytes(path, bytes);
  EXPECT_TRUE(throws_error_containing([&] { read_idx_labels(path); }, path + ": trailing bytes"));
}

// The header comment promises it: zlib's gzread silently ignores junk after a gzip stream; we do
// not.
TEST(Idx, JunkAfterTheGzipStreamIsAnError) {
  TempDir dir;
  const std::string path = dir.file("junk.gz");
  write_idx(path, make_labels(5), true);
  std::vector<unsigned char> bytes = read_bytes(path);
  const size_t gzip_size = bytes.size();
  for (unsigned char c : {'j', 'u', 'n', 'k'}) bytes.push_back(c);
  write_bytes(path, bytes);
  EXPECT_TRUE(throws_error_containing([&] { read_idx_labels(path); },
                                      path + ": trailing bytes: the gzip stream ends at byte " +
                                          std::to_string(gzip_size) + " but the file has " +
                                          std::to_string(gzip_size + 4) + " bytes"));
}

// RFC 1952 allows several gzip members back to back (`cat a.gz b.gz`): one IDX file split in two.
TEST(Idx, ConcatenatedGzipMembersAreOneFile) {
  TempDir dir;
  const IdxArray labels = make_labels(10);
  write_idx(dir.file("whole"), labels, false);
  const std::vector<unsigned char> raw = read_bytes(dir.file("whole"));
  std::vector<unsigned char> joined = gzip_member({raw.begin(), raw.begin() + 7});
  const std::vector<unsigned char> second = gzip_member({raw.begin() + 7, raw.end()});
  joined.insert(joined.end(), second.begin(), second.end());
  write_bytes(dir.file("two.gz"), joined);
  const IdxArray back = read_idx_labels(dir.file("two.gz"));
  EXPECT_EQ(back.dims, labels.dims);
  EXPECT_EQ(back.data, labels.data);
}

TEST(Idx, TruncatedGzipMessagesSayWhere) {
  TempDir dir;
  const std::vector<unsigned char> raw = [&] {
    write_idx(dir.file("raw"), make_labels(100), false);
    return read_bytes(dir.file("raw"));
  }();
  // The whole IDX content inside, the gzip trailer (CRC-32, length) cut by 3 bytes.
  std::vector<unsigned char> gz = gzip_member(raw);
  gz.resize(gz.size() - 3);
  write_bytes(dir.file("trailer.gz"), gz);
  EXPECT_TRUE(throws_error_containing(
      [&] { read_idx_labels(dir.file("trailer.gz")); },
      dir.file("trailer.gz") + ": truncated gzip file: the compressed data ends at byte " +
          std::to_string(gz.size())));
  // Only 50 of the 100 labels inside a complete gzip stream: offsets count uncompressed bytes.
  write_bytes(dir.file("half.gz"), gzip_member({raw.begin(), raw.begin() + 58}));
  EXPECT_TRUE(throws_error_containing(
      [&] { read_idx_labels(dir.file("half.gz")); },
      dir.file("half.gz") + ": truncated at byte 58 of the uncompressed data (expected 108)"));
}

TEST(Idx, DimensionMismatch) {
  TempDir dir;
  const std::string path = dir.file("big.gz");
  write_idx(path, make_images(2, 32, 32), true);
  EXPECT_TRUE(throws_error_containing(
      [&] { read_idx_images(path); },
      path + ": dimension mismatch: expected images of 28x28 but the header says 32x32"));
}

TEST(Idx, CountMismatchBetweenImagesAndLabels) {
  TempDir dir;
  write_idx(dir.file("i"), make_images(3), false);
  write_idx(dir.file("l"), make_labels(4), false);
  EXPECT_TRUE(throws_error_containing(
      [&] { read_idx_dataset(dir.file("i"), dir.file("l")); },
      "count mismatch: " + dir.file("i") + " has 3 images but " + dir.file("l") + " has 4 labels"));
}

TEST(Idx, AbsurdSizeIsRefusedBeforeAllocating) {
  TempDir dir;
  const std::string path = dir.file("absurd");
  write_bytes(path, header(kIdxImagesMagic, {0xffffffffu, 0xffffffffu, 0xffffffffu}));
  EXPECT_TRUE(throws_error_containing([&] { read_idx_images(path); }, path + ": absurd size"));
}

TEST(Idx, WriteRejectsInconsistentArray) {
  TempDir dir;
  IdxArray bad = make_labels(3);
  bad.dims = {4};
  EXPECT_TRUE(throws_error_containing([&] { write_idx(dir.file("x"), bad, false); }, "write_idx"));
  EXPECT_TRUE(dir.listing().empty());
}

}  // namespace
}  // namespace nibble::io
