// A tiny course in a temporary folder, for the machinery's tests (never under modules/).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace nibble::course::testing {

class TempTree {
 public:
  TempTree() {
    static int counter = 0;
    root_ = std::filesystem::temp_directory_path() /
            ("nibble-course-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  std::string root() const { return root_.string(); }
  std::string path(const std::string& rel) const { return (root_ / rel).string(); }
  void write(const std::string& rel, const std::string& content) const {
    const auto p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  bool exists(const std::string& rel) const { return std::filesystem::exists(root_ / rel); }

 private:
  std::filesystem::path root_;
};

inline const char* kFixtureManifest = R"(# a two-module course for the tests
module 01 basics
  title     Basics
  owns      modules/01_basics/solution/sum.cpp
  requires  -
  graded    SumGraded.Small 60
  graded    SumGraded.Large 40
  hidden    SumHidden.Random 10
  milestone 01_first

module 02 more
  title     More
  owns      modules/02_more/solution/twice.cpp
  requires  01
  graded    TwiceGraded.All 100
)";

inline const char* kFixtureSum = R"(#include <vector>

namespace demo {

int sum(const std::vector<int>& v) {
  // BEGIN SOLUTION sum
  int s = 0;
  for (int x : v) s += x;
  return s;
  // END SOLUTION
}

}  // namespace demo
)";

inline const char* kFixtureTwice = R"(#include "core/error.h"

int twice(int x) {
    // BEGIN SOLUTION twice
    return 2 * x;
    // END SOLUTION
}
)";

// Writes the fixture course under tree: manifest, solutions, tests, hidden tests, a README.
inline void write_fixture(const TempTree& tree) {
  tree.write("README.md", "fixture\n");
  tree.write("modules/modules.manifest", kFixtureManifest);
  tree.write("modules/01_basics/README.md", "lesson\n");
  tree.write("modules/01_basics/solution/sum.cpp", kFixtureSum);
  tree.write("modules/01_basics/tests/sum_test.cpp", "// visible\n");
  tree.write("modules/01_basics/hidden/sum_hidden_test.cpp", "// hidden\n");
  tree.write("modules/02_more/solution/twice.cpp", kFixtureTwice);
  tree.write("modules/02_more/tests/twice_test.cpp", "// visible\n");
}

}  // namespace nibble::course::testing
