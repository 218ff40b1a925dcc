// The student edition and the layout checks, on a temporary copy of a fixture course.
#include <gtest/gtest.h>

#include <filesystem>

#include "course/course_fixture.h"
#include "core/error.h"
#include "tools/course/files.h"
#include "tools/course/manifest.h"
#include "tools/course/release.h"
#include "tools/course/stubs.h"

namespace nibble::course {
namespace {

namespace fs = std::filesystem;

TEST(CourseRelease, LeavesOutSolutionsAndHiddenTestsAndWritesStubs) {
  testing::TempTree tree;
  testing::write_fixture(tree);
  testing::TempTree out;
  const std::string dest = out.path("edition");
  const ReleaseSummary s = release(tree.root(), dest);
  EXPECT_EQ(s.excluded, 3u);  // two solutions and one hidden test
  EXPECT_EQ(s.stubs, 2u);
  EXPECT_EQ(s.stale_stubs.size(), 2u);  // the fixture has no committed stubs
  EXPECT_EQ(s.modules, (std::vector<std::string>{"01_basics", "02_more"}));
  for (auto it = fs::recursive_directory_iterator(dest); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    EXPECT_NE(name, "solution") << it->path();
    EXPECT_NE(name, "hidden") << it->path();
  }
  EXPECT_TRUE(out.exists("edition/README.md"));
  EXPECT_TRUE(out.exists("edition/modules/modules.manifest"));
  EXPECT_EQ(read_text_file(out.path("edition/modules/modules.manifest")).find("hidden"), std::string::npos)
      << "the student edition must not list the hidden tests";
  EXPECT_NE(read_text_file(tree.path("modules/modules.manifest")).find("hidden"), std::string::npos);
  EXPECT_TRUE(out.exists("edition/modules/01_basics/tests/sum_test.cpp"));
  EXPECT_EQ(read_text_file(out.path("edition/modules/01_basics/sum.cpp")),
            make_stub(testing::kFixtureSum, "01", "modules/01_basics/sum.cpp", "x"));
  // The edition is consistent on its own: stubs present, no solution/ needed.
  EXPECT_TRUE(check_layout(load_manifest(out.path("edition/modules/modules.manifest")), dest).empty());
  EXPECT_TRUE(check_stubs(load_manifest(out.path("edition/modules/modules.manifest")), dest).empty());
}

TEST(CourseRelease, LeavesOutMutantsAndTheirTable) {
  testing::TempTree tree;
  testing::write_fixture(tree);
  tree.write("modules/01_basics/mutants/sum--off-by-one.patch", "# function: sum(const std::vector<int>&)\n");
  tree.write("modules/01_basics/MUTANTS.md", "| mutant | mistake | visible points lost | hidden points lost |\n");
  testing::TempTree out;
  const std::string dest = out.path("edition");
  const ReleaseSummary s = release(tree.root(), dest);
  EXPECT_EQ(s.excluded, 5u);  // two solutions, one hidden test, one mutant, one table
  EXPECT_FALSE(out.exists("edition/modules/01_basics/mutants"));
  EXPECT_FALSE(out.exists("edition/modules/01_basics/MUTANTS.md"));
  EXPECT_TRUE(out.exists("edition/modules/01_basics/README.md"));
  EXPECT_TRUE(out.exists("edition/modules/01_basics/tests/sum_test.cpp"));
}

TEST(CourseRelease, RefusesANonEmptyFolder) {
  testing::TempTree tree;
  testing::write_fixture(tree);
  testing::TempTree out;
  out.write("something.txt", "x");
  EXPECT_THROW(release(tree.root(), out.root()), Error);
  EXPECT_FALSE(out.exists("README.md"));
}

// A release that failed used to leave 213 files in the output folder (and a rerun then refused it).
TEST(CourseRelease, AFailedReleaseLeavesNothingBehind) {
  testing::TempTree tree;
  testing::write_fixture(tree);
  // The manifest is read after every file has been copied: break it so the release fails late.
  tree.write("modules/modules.manifest", "module 01 basics\n  graded Oops\n");
  testing::TempTree out;
  EXPECT_THROW(release(tree.root(), out.path("edition")), Error);
  EXPECT_FALSE(out.exists("edition"));
  EXPECT_TRUE(fs::is_empty(out.root())) << "no staging folder may remain";
  // An empty folder given as the output stays, empty.
  fs::create_directory(out.path("empty"));
  EXPECT_THROW(release(tree.root(), out.path("empty")), Error);
  EXPECT_TRUE(fs::is_empty(out.path("empty")));
  // Fixed, the same command succeeds into the same (empty) folder.
  testing::write_fixture(tree);
  EXPECT_NO_THROW(release(tree.root(), out.path("empty/")));
  EXPECT_TRUE(out.exists("empty/README.md"));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out.root())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"empty"});
}

TEST(CourseRelease, InstructorOnlyPaths) {
  EXPECT_TRUE(is_instructor_only("modules/01_x/solution/a.cpp"));
  EXPECT_TRUE(is_instructor_only("modules/01_x/hidden/a_test.cpp"));
  EXPECT_FALSE(is_instructor_only("modules/01_x/tests/a_test.cpp"));
  EXPECT_FALSE(is_instructor_only("modules/01_x/a.cpp"));
  EXPECT_FALSE(is_instructor_only("core/solution/a.cpp"));
  EXPECT_TRUE(is_instructor_only("modules/01_x/mutants/f--natural-log.patch"));
  EXPECT_TRUE(is_instructor_only("modules/01_x/MUTANTS.md"));
  EXPECT_TRUE(is_instructor_only("tools/autograde/SECURITY.md"));
  EXPECT_TRUE(is_instructor_only("tests/autograde/run_suite.py"));
  EXPECT_FALSE(is_instructor_only("tools/course/autograde.cpp"));
  EXPECT_FALSE(is_instructor_only("modules/01_x/README.md"));
  EXPECT_FALSE(is_instructor_only("modules/MUTANTS.md"));
  EXPECT_FALSE(is_instructor_only("modules/01_x/tests/mutants_test.cpp"));
}

TEST(CourseLayout, FoldersAndManifestMustAgreeAndPointsSumTo100) {
  testing::TempTree tree;
  testing::write_fixture(tree);
  Manifest m = load_manifest(tree.path("modules/modules.manifest"));
  EXPECT_TRUE(check_layout(m, tree.root()).empty());

  tree.write("modules/03_stray/README.md", "not in the manifest\n");
  auto problems = check_layout(m, tree.root());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("modules/03_stray/ is not in"), std::string::npos);
  fs::remove_all(tree.path("modules/03_stray"));

  fs::remove_all(tree.path("modules/02_more"));
  problems = check_layout(m, tree.root());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("module 02 (manifest line 11) has no folder modules/02_more/"), std::string::npos);

  m.modules[0].graded[0].points = 50;
  problems = check_layout(m, tree.root());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("module 01: visible graded points sum to 90, not 100"), std::string::npos);
}

}  // namespace
}  // namespace nibble::course
