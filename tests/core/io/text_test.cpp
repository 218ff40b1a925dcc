// The fortunes corpus and character encoding (core/io/text.h).
#include "core/io/text.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "core/io/temp_dir.h"
#include "gradcheck.h"

namespace nibble::data {
namespace {

using nibble::testing::TempDir;
using nibble::testing::throws_error_containing;

void write_text(const std::string& path, const std::string& text) {
  nibble::testing::write_bytes(path, std::vector<unsigned char>(text.begin(), text.end()));
}

bool has_separator_line(const std::string& text) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line == "%") return true;
  return false;
}

TEST(Text, RealFortunesCorpus) {
  if (!std::filesystem::exists(std::string(kFortunesPackageDir) + "/fortunes"))
    GTEST_SKIP() << "fortunes not installed: apt-get install fortunes";
  const std::string text = load_fortunes();
  EXPECT_GT(text.size(), 1000000u);
  EXPECT_FALSE(has_separator_line(text));
  EXPECT_EQ(text.back(), '\n');
  for (const std::filesystem::path file : fortune_files()) {
    EXPECT_NE(file.extension(), ".dat") << file;
    if (file.extension() == ".u8") {
      EXPECT_FALSE(std::filesystem::exists(file.parent_path() / file.stem()))
          << file << " duplicates its plain twin";
    }
  }
  const EncodedText enc = encode_chars(text);
  EXPECT_EQ(enc.ids.size(), text.size());
  EXPECT_GT(enc.vocab.size(), 60);  // letters, digits, punctuation
  EXPECT_LE(enc.vocab.size(), 256);
}

TEST(Text, FileSelectionAndSeparatorsInATempDir) {
  TempDir dir;
  write_text(dir.file("a"), "one\n%\n100% sure\n%\n");
  write_text(dir.file("a.dat"), std::string("\x00\x01%\n", 4));  // strfile index: skipped
  write_text(dir.file("a.u8"), "one\n%\n100% sure\n%\n");        // twin of "a": skipped
  write_text(dir.file("b.u8"), "three");                         // no twin, no final newline: read
  std::filesystem::create_directory(dir.file("off"));
  write_text(dir.file("off/c"), "offensive\n");  // subdirectory: not entered
  EXPECT_EQ(fortune_files(dir.path()), (std::vector<std::string>{dir.file("a"), dir.file("b.u8")}));
  EXPECT_EQ(load_fortunes(dir.path()), "one\n100% sure\nthree\n");
}

TEST(Text, MissingOrEmptyDirectoryGivesInstallHint) {
  TempDir dir;
  EXPECT_TRUE(throws_error_containing([&] { load_fortunes(dir.file("none")); },
                                      dir.file("none") + " does not exist"));
  EXPECT_TRUE(throws_error_containing([&] { load_fortunes(dir.file("none")); },
                                      "apt-get install fortunes"));
  EXPECT_TRUE(throws_error_containing([&] { load_fortunes(dir.path()); },
                                      "no fortunes found in " + dir.path()));
}

TEST(Text, EncodeCharsRoundTrip) {
  const EncodedText enc = encode_chars("hello, world");
  EXPECT_EQ(enc.vocab.chars, " ,dehlorw");  // sorted distinct bytes
  EXPECT_EQ(enc.ids.size(), 12u);
  EXPECT_EQ(enc.ids[0], 4);  // 'h'
  EXPECT_EQ(enc.vocab.decode(enc.ids), "hello, world");
  EXPECT_EQ(enc.vocab.encode("low"), (std::vector<int64_t>{5, 6, 8}));
}

TEST(Text, EncodeHandlesEveryByteValue) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const EncodedText enc = encode_chars(all);
  EXPECT_EQ(enc.vocab.size(), 256);
  EXPECT_EQ(enc.vocab.decode(enc.ids), all);
}

TEST(Text, UnknownCharactersAndIdsAreErrors) {
  const EncodedText enc = encode_chars("abc");
  EXPECT_TRUE(throws_error_containing([&] { enc.vocab.encode("abz"); },
                                      "byte 122 at position 2 is not in the vocabulary"));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        enc.vocab.decode({0, 3});
      },
      "id 3 at position 1 is outside 0..2"));
}

}  // namespace
}  // namespace nibble::data
