// The manifest parser: the fixture parses; malformed lines are reported with file:line.
#include <gtest/gtest.h>

#include "course/course_fixture.h"
#include "core/error.h"
#include "tools/course/manifest.h"

namespace nibble::course {
namespace {

// The error message for text, or "" when it parses.
std::string parse_error(const std::string& text) {
  try {
    parse_manifest(text, "m.manifest");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CourseManifest, ParsesTheFixture) {
  const Manifest m = parse_manifest(testing::kFixtureManifest, "m.manifest");
  ASSERT_EQ(m.modules.size(), 2u);
  const Module& a = m.modules[0];
  EXPECT_EQ(a.number, "01");
  EXPECT_EQ(a.slug, "basics");
  EXPECT_EQ(a.title, "Basics");
  EXPECT_EQ(a.dir(), "modules/01_basics");
  ASSERT_EQ(a.owns.size(), 1u);
  EXPECT_EQ(a.owns[0], "modules/01_basics/solution/sum.cpp");
  EXPECT_TRUE(a.requires_.empty());
  ASSERT_EQ(a.graded.size(), 2u);
  EXPECT_EQ(a.graded[1].name, "SumGraded.Large");
  EXPECT_EQ(a.graded[1].points, 40);
  EXPECT_EQ(a.graded[1].line, 7);
  EXPECT_EQ(a.visible_points(), 100);
  EXPECT_EQ(a.hidden_points(), 10);
  EXPECT_EQ(a.milestones, std::vector<std::string>{"01_first"});
  EXPECT_EQ(m.modules[1].requires_, std::vector<std::string>{"01"});
  EXPECT_EQ(m.get("02").slug, "more");
  EXPECT_EQ(m.find("03"), nullptr);
  EXPECT_THROW(m.get("03"), Error);
}

TEST(CourseManifest, TheFormatExampleParses) {
  const Manifest m = parse_manifest(
      "module 01 entropy\n"
      "  title     Entropy, KL divergence and Huffman codes\n"
      "  owns      modules/01_entropy/solution/entropy.cpp modules/01_entropy/solution/huffman.cpp\n"
      "  headers   info_theory/entropy.h info_theory/huffman.h\n"
      "  requires  -\n"
      "  graded    EntropyGraded.ShannonEntropyOfAFairCoin 10\n"
      "  graded    HuffmanGraded.RoundTrip 15\n"
      "  hidden    EntropyHidden.RandomDistributions 5\n"
      "  milestone 01_1948_shannon\n",
      "m");
  ASSERT_EQ(m.modules.size(), 1u);
  EXPECT_EQ(m.modules[0].title, "Entropy, KL divergence and Huffman codes");
  EXPECT_EQ(m.modules[0].owns.size(), 2u);
  EXPECT_EQ(m.modules[0].headers.size(), 2u);
}

TEST(CourseManifest, CommentsAndBlankLinesAreIgnored) {
  const Manifest m = parse_manifest("# top\n\nmodule 03 x   # trailing\n  title T # c\n  graded A.B 100\n", "m");
  ASSERT_EQ(m.modules.size(), 1u);
  EXPECT_EQ(m.modules[0].title, "T");
}

TEST(CourseManifest, ErrorsNameTheFileAndLine) {
  EXPECT_NE(parse_error("module 1 x\n  title T\n").find("m.manifest:1: module number must be two digits"), std::string::npos);
  EXPECT_NE(parse_error("module 01 X\n").find("m.manifest:1: module slug"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  graded A.B ten\n").find("m.manifest:3: points must be"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  graded AB 10\n").find("m.manifest:3: test name must be 'Suite.Name'"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  graded A.B 0\n").find("m.manifest:3:"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  colour red\n").find("m.manifest:3: unknown directive 'colour'"), std::string::npos);
  EXPECT_NE(parse_error("  title T\n").find("m.manifest:1: 'title' before the first 'module'"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\ntitle T\n").find("m.manifest:2: unknown directive 'title'"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\nmodule 01 y\n  title U\n").find("m.manifest:3: module 01 is declared twice"), std::string::npos);
  EXPECT_NE(parse_error("module 02 x\n  title T\nmodule 01 y\n  title U\n").find("m.manifest:3: modules must appear in course order"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  requires 02\n").find("m.manifest:3: module 01 requires '02'"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  owns modules/02_y/solution/a.cpp\n").find("m.manifest:3: owned file"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  owns modules/01_x/a.cpp\n").find("m.manifest:3: owned file"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  graded A.B 10\n  hidden A.B 5\n").find("m.manifest:4: test A.B is listed twice"), std::string::npos);
  EXPECT_NE(parse_error("\n\nmodule 01 x\n  graded A.B 10\n").find("m.manifest:3: module 01 has no 'title'"), std::string::npos);
  EXPECT_NE(parse_error("module 01 x\n  title T\n  title U\n").find("m.manifest:3: module 01 has two titles"), std::string::npos);
}

TEST(CourseManifest, StubPathDropsTheSolutionFolder) {
  EXPECT_EQ(stub_path_for("modules/01_entropy/solution/entropy.cpp"), "modules/01_entropy/entropy.cpp");
  EXPECT_THROW(stub_path_for("modules/01_entropy/entropy.cpp"), Error);
}

// Issue 17: an empty manifest was accepted silently; a garbage one echoed raw bytes.
TEST(CourseManifest, EmptyOrGarbageManifestsAreClearErrors) {
  for (const char* empty : {"", "\n\n", "# only a comment\n"}) {
    try {
      parse_manifest(empty, "m.manifest");
      ADD_FAILURE() << "an empty manifest must be an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("m.manifest:"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("no modules"), std::string::npos) << e.what();
    }
  }
  const std::string garbage = std::string("\x7f" "ELF\x02\x01\x01\x1b[31m\xff\xfe") + std::string(1000, 'A');
  try {
    parse_manifest(garbage, "m.manifest");
    ADD_FAILURE() << "garbage must be an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const char c : what) {
      const unsigned char u = static_cast<unsigned char>(c);
      EXPECT_TRUE(c == '\n' || (u >= 0x20 && u < 0x7f)) << "raw byte " << int(u) << " in the message";
    }
    EXPECT_NE(what.find("\\x7fELF\\x02\\x01\\x01\\x1b[31m??"), std::string::npos) << what;
    EXPECT_LT(what.size(), 450u) << "a long line is cut";
  }
}

TEST(CourseManifest, PointsCannotAddUpPastAMillion) {
  // 2200 tests of 999999 points would overflow int when summed; the limit stops it at the 2nd test.
  std::string text = "module 01 x\n  title T\n";
  for (int k = 0; k < 2200; ++k) text += "  graded S.T" + std::to_string(k) + " 999999\n";
  try {
    parse_manifest(text, "m");
    ADD_FAILURE() << "must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m:4: module 01's graded points add up to 1999998, more than 1000000"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace nibble::course
