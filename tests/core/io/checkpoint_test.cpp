// The checkpoint file format (core/io/checkpoint.h): bit-exact round trips, the documented byte
// layout, and an error -- never a crash -- for every kind of damaged file.
#include "core/io/checkpoint.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <thread>

#include "core/io/temp_dir.h"
#include "gradcheck.h"

namespace nibble::io {
namespace {

using nibble::testing::read_bytes;
using nibble::testing::TempDir;
using nibble::testing::throws_error_containing;
using nibble::testing::write_bytes;

std::vector<uint32_t> bits_of(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  std::vector<uint32_t> bits(v.size());
  if (!v.empty()) std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));  // null if empty
  return bits;
}

// The standard CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), bit by bit: an independent
// check that the file really uses the checksum the header documents.
uint32_t reference_crc32(const unsigned char* data, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

NamedTensors sample_tensors() {
  Tensor odd = Tensor::from_vector({-0.0f, std::numeric_limits<float>::infinity(),
                                    std::numeric_limits<float>::denorm_min(),
                                    std::numeric_limits<float>::quiet_NaN(), 1.0f / 3.0f, -1e30f});
  return {{"layer.weight", Tensor::randn({2, 3, 4})},
          {"scalar", Tensor::scalar(2.5f)},
          {"empty", Tensor::zeros({0, 5})},
          {"special", odd}};
}

TEST(Checkpoint, RoundTripIsBitIdentical) {
  TempDir dir;
  const NamedTensors saved = sample_tensors();
  save_tensors(dir.file("m.nbck"), saved);
  const NamedTensors loaded = load_tensors(dir.file("m.nbck"));
  ASSERT_EQ(loaded.size(), saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    EXPECT_EQ(loaded[i].first, saved[i].first);
    EXPECT_EQ(loaded[i].second.shape(), saved[i].second.shape()) << saved[i].first;
    EXPECT_EQ(bits_of(loaded[i].second), bits_of(saved[i].second)) << saved[i].first;
    EXPECT_FALSE(loaded[i].second.requires_grad());
  }
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"m.nbck"})
      << "the .tmp file must be renamed away";
}

TEST(Checkpoint, NonContiguousTensorsAreSavedByValue) {
  TempDir dir;
  const Tensor base = Tensor::arange(6).reshape({2, 3});
  save_tensors(dir.file("t.nbck"), {{"t", base.t()}});
  const Tensor back = load_tensors(dir.file("t.nbck"))[0].second;
  EXPECT_EQ(back.shape(), (Shape{3, 2}));
  EXPECT_EQ(back.to_vector(), base.t().contiguous().to_vector());
}

TEST(Checkpoint, FileLayoutMatchesTheDocumentation) {
  TempDir dir;
  save_tensors(dir.file("w.nbck"), {{"w", Tensor::from_vector({1.0f, -2.0f})}});
  // clang-format off
  const std::vector<unsigned char> data = {0x00, 0x00, 0x80, 0x3f,   // 1.0f  = 0x3f800000
                                           0x00, 0x00, 0x00, 0xc0};  // -2.0f = 0xc0000000
  std::vector<unsigned char> expected = {
      'N', 'B', 'C', 'K',       // magic
      1, 0, 0, 0,               // format version 1
      1, 0, 0, 0, 0, 0, 0, 0,   // one tensor
      1, 0, 0, 0, 'w',          // name length 1, name "w"
      1, 0, 0, 0,               // rank 1
      2, 0, 0, 0, 0, 0, 0, 0};  // dims [2]
  // clang-format on
  const uint32_t crc = reference_crc32(data.data(), data.size());
  expected.insert(expected.end(), data.begin(), data.end());
  for (int i = 0; i < 4; ++i) expected.push_back(static_cast<unsigned char>(crc >> (8 * i)));
  EXPECT_EQ(read_bytes(dir.file("w.nbck")), expected);
}

TEST(Checkpoint, FlippedByteIsACheckSumErrorNamingTheTensor) {
  TempDir dir;
  const std::string path = dir.file("m.nbck");
  save_tensors(path, {{"a", Tensor::ones({4})}, {"b", Tensor::ones({4})}});
  std::vector<unsigned char> bytes = read_bytes(path);
  bytes[bytes.size() - 4 - 8] ^= 0x01;  // a bit inside b's 16 data bytes, before its CRC
  write_bytes(path, bytes);
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(path); },
                                      path + ": checksum mismatch in tensor 'b'"));
}

TEST(Checkpoint, TruncatedAnywhereIsAnError) {
  TempDir dir;
  const std::string path = dir.file("m.nbck"), cut = dir.file("cut.nbck");
  save_tensors(path, sample_tensors());
  const std::vector<unsigned char> full = read_bytes(path);
  for (size_t n = 0; n < full.size(); ++n) {  // every possible truncation point
    write_bytes(cut, std::vector<unsigned char>(full.begin(), full.begin() + static_cast<long>(n)));
    EXPECT_TRUE(throws_error_containing([&] { load_tensors(cut); }, cut + ": "))
        << "truncated to " << n << " bytes";
  }
  write_bytes(cut, std::vector<unsigned char>(full.begin(), full.end() - 1));
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(cut); }, cut + ": truncated"));
}

// A checkpoint cut to 100 bytes says where it ends and where it should, not "absurd tensor count".
TEST(Checkpoint, TruncationSaysTheByteAndTheExpectedSize) {
  TempDir dir;
  const std::string path = dir.file("m.nbck");
  save_tensors(path, {{"w", Tensor::ones({10, 10})}});
  std::vector<unsigned char> bytes = read_bytes(path);
  // 16 header bytes, then: name length 4, name "w" 1, rank 4, dims 2 x 8 -> the data starts at byte
  // 41 and needs 100 floats + a CRC: 404 bytes, to byte 445.
  ASSERT_EQ(bytes.size(), 445u);
  bytes.resize(100);
  write_bytes(path, bytes);
  EXPECT_TRUE(throws_error_containing(
      [&] { load_tensors(path); },
      path + ": truncated at byte 100 (expected 445): tensor 'w' [10, 10]'s data"));
  // Cut inside the header of a file that promised 3 tensors: the first missing field is named.
  save_tensors(path,
               {{"a", Tensor::ones({2})}, {"b", Tensor::ones({2})}, {"c", Tensor::ones({2})}});
  bytes = read_bytes(path);
  bytes.resize(20);
  write_bytes(path, bytes);
  EXPECT_TRUE(
      throws_error_containing([&] { load_tensors(path); },
                              path + ": truncated at byte 20 (expected 21): tensor #0's name"));
}

TEST(Checkpoint, HeaderDamage) {
  TempDir dir;
  const std::string path = dir.file("m.nbck"), bad = dir.file("bad.nbck");
  save_tensors(path, {{"w", Tensor::ones({2, 2})}});
  const std::vector<unsigned char> good = read_bytes(path);
  auto patched = [&](size_t offset, std::vector<unsigned char> patch) {
    std::vector<unsigned char> b = good;
    std::copy(patch.begin(), patch.end(), b.begin() + static_cast<long>(offset));
    write_bytes(bad, b);
  };
  patched(0, {'P', 'K'});
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(bad); }, bad + ": bad magic"));
  patched(4, {2});
  EXPECT_TRUE(
      throws_error_containing([&] { load_tensors(bad); }, bad + ": unsupported format version 2"));
  patched(8, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f});
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(bad); }, bad + ": absurd tensor count"));
  patched(16, {0xff, 0xff, 0xff, 0x7f});  // name length
  EXPECT_TRUE(throws_error_containing(
      [&] { load_tensors(bad); }, bad + ": tensor #0: absurd name length 2147483647 at offset 16"));
  patched(21, {200});  // rank
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(bad); },
                                      bad + ": tensor 'w': absurd rank 200 at offset 21"));
  patched(25, {0, 0, 0, 0, 0, 0, 0, 0x40});  // first dim 2^62
  EXPECT_TRUE(
      throws_error_containing([&] { load_tensors(bad); }, bad + ": tensor 'w': absurd shape"));
  // [0, 2^39, 2^39]: no element, but a shape no tensor can have (found by the fuzz target).
  save_tensors(path, {{"w", Tensor::zeros({0, 1, 1})}});
  std::vector<unsigned char> zero_first = read_bytes(path);
  for (size_t offset : {33u, 41u}) {  // dims 1 and 2 (little-endian int64) become 2^39
    zero_first[offset] = 0;
    zero_first[offset + 4] = 0x80;
  }
  write_bytes(bad, zero_first);
  EXPECT_TRUE(throws_error_containing(
      [&] { load_tensors(bad); },
      bad + ": tensor 'w': absurd shape [0, 549755813888, 549755813888] at offset 41"));
  patched(25, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});  // first dim -1
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(bad); }, "absurd shape [-1]"));
  std::vector<unsigned char> longer = good;
  longer.push_back(0);
  write_bytes(bad, longer);
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(bad); },
                                      bad + ": 1 unexpected bytes after the last of 1 tensors"));
}

TEST(Checkpoint, GarbageAndMissingFiles) {
  TempDir dir;
  const std::string garbage = dir.file("garbage");
  std::vector<unsigned char> bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(static_cast<unsigned char>(i * 31 + 7));
  write_bytes(garbage, bytes);
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(garbage); }, garbage + ": bad magic"));
  EXPECT_TRUE(throws_error_containing([&] { load_tensors(dir.file("none")); },
                                      dir.file("none") + ": cannot open"));
}

TEST(Checkpoint, SaveRejectsBadInputWithoutTouchingTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("m.nbck");
  save_tensors(path, {{"w", Tensor::ones({3})}});
  const std::vector<unsigned char> before = read_bytes(path);
  EXPECT_TRUE(throws_error_containing(
      [&] {
        save_tensors(path, {{"a", Tensor::ones({1})}, {"a", Tensor::ones({1})}});
      },
      "duplicate tensor name 'a'"));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        save_tensors(path, {{"", Tensor::ones({1})}});
      },
      "tensor names must be"));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        save_tensors(path, {{"u", Tensor()}});
      },
      "tensor 'u' is undefined"));
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"m.nbck"});

  const std::string nowhere = dir.file("missing/m.nbck");
  EXPECT_TRUE(throws_error_containing(
      [&] {
        save_tensors(nowhere, {{"w", Tensor::ones({3})}});
      },
      "cannot create"));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"m.nbck"});
}

// kill -9 while a large checkpoint is being saved, at several moments: the file is always either
// the previous checkpoint, whole (it loads, bit for bit), or -- before the first save finished --
// absent; the temporary a killed saver leaves is removed by the next save of that path.
TEST(Checkpoint, KillDuringASaveLeavesThePreviousCheckpointWhole) {
  TempDir dir;
  const std::string path = dir.file("big.nbck");
  // 4 Mi floats (16 MB): a save takes long enough to be killed in the middle. Made before fork():
  // the child only writes.
  const Tensor old_values = Tensor::full({1 << 22}, 1.0f),
               new_values = Tensor::full({1 << 22}, 2.0f);
  for (int delay_ms : {0, 2, 10, 30}) {
    const bool had_previous = delay_ms > 0;
    if (had_previous) save_tensors(path, {{"w", old_values}});
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      try {
        for (;;) save_tensors(path, {{"w", new_values}});  // until killed
      } catch (...) {
      }
      ::_exit(1);  // never back into the test runner
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);

    if (std::filesystem::exists(path)) {
      const NamedTensors loaded = load_tensors(path);  // whole: a partial file would not load
      ASSERT_EQ(loaded.size(), 1u);
      const float v = loaded[0].second.data()[0];
      EXPECT_TRUE(v == 1.0f || v == 2.0f) << "killed after " << delay_ms << " ms";
      EXPECT_EQ(bits_of(loaded[0].second), bits_of(v == 1.0f ? old_values : new_values));
    } else {
      EXPECT_FALSE(had_previous) << "the previous checkpoint vanished (killed after " << delay_ms
                                 << " ms)";
    }
    save_tensors(path, {{"w", old_values}});  // the next save removes what the killed one left
    EXPECT_EQ(dir.listing(), std::vector<std::string>{"big.nbck"})
        << "killed after " << delay_ms << " ms";
    std::filesystem::remove(path);
  }
}

}  // namespace
}  // namespace nibble::io
