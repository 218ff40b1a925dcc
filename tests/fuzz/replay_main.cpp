// The regression replay of one fuzz target, built by the normal test suite (gcc, and the ASan/UBSan
// tree): every input in tests/fuzz/regressions/<name>/ (each crash ever found) and in
// tests/fuzz/corpus/<name>/ (the seeds) goes through the target's LLVMFuzzerTestOneInput, the same
// entry point libFuzzer calls. Passing means nibble::Error or success for each; a crash, a
// sanitizer report, or any other exception (a violated fuzz_expect property) fails the test named
// after the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename().string()[0] != '.')
      out.push_back(entry.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// One test per input file.
class Replay : public ::testing::Test {
 public:
  explicit Replay(std::string path) : path_(std::move(path)) {}
  void TestBody() override {
    std::ifstream in(path_, std::ios::binary);
    ASSERT_TRUE(in) << "cannot read " << path_;
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    // A heap block of exactly the input's size, as libFuzzer passes it: ASan sees a read one byte
    // past. libFuzzer never passes a null pointer, even for no bytes.
    std::unique_ptr<uint8_t[]> exact(new uint8_t[bytes.empty() ? 1 : bytes.size()]);
    std::copy(bytes.begin(), bytes.end(), exact.get());
    LLVMFuzzerTestOneInput(exact.get(), bytes.size());
  }

 private:
  std::string path_;
};

// Every target has seeds: an empty corpus would make the CI fuzz run start from nothing.
class HasSeeds : public ::testing::Test {
 public:
  HasSeeds(std::string dir, size_t count) : dir_(std::move(dir)), count_(count) {}
  void TestBody() override { EXPECT_GT(count_, 0u) << "add a few small valid inputs to " << dir_; }

 private:
  std::string dir_;
  size_t count_;
};

std::string test_name(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

}  // namespace

// fuzz_replay_NAME NAME [gtest options]: the inputs of tests/fuzz/{regressions,corpus}/NAME/.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s NAME [--gtest_...]   (NAME as in tests/fuzz/NAME_fuzz.cpp)\n",
                 argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  const std::string source = NIBBLE_FUZZ_SOURCE_DIR;  // tests/fuzz
  for (const char* kind : {"regressions", "corpus"}) {
    for (const std::string& path : files_in(source + "/" + kind + "/" + name)) {
      ::testing::RegisterTest(kind, test_name(path).c_str(), nullptr, path.c_str(), __FILE__,
                              __LINE__, [path]() -> ::testing::Test* { return new Replay(path); });
    }
  }
  const std::string seeds = source + "/corpus/" + name;
  const size_t count = files_in(seeds).size();
  ::testing::RegisterTest(
      "corpus", "HasSeeds", nullptr, nullptr, __FILE__, __LINE__,
      [seeds, count]() -> ::testing::Test* { return new HasSeeds(seeds, count); });
  return RUN_ALL_TESTS();
}
