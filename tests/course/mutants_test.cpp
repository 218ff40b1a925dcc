// Mutants: the .patch format (header lines + one unified diff), applying it, the verdict on the
// points a mutant lost, the MUTANTS.md table. The end-to-end proof (build and grade every mutant)
// is `nibble course-check --mutant-build` in CI.
#include <gtest/gtest.h>

#include <string>

#include "course/course_fixture.h"
#include "core/error.h"
#include "tools/course/files.h"
#include "tools/course/manifest.h"
#include "tools/course/mutants.h"

namespace nibble::course {
namespace {

const char* kSumMutant = R"(# function: sum(const std::vector<int>&)
# mistake:  starts counting at the second element (off by one)
# caught:   visible
--- a/modules/01_basics/solution/sum.cpp
+++ b/modules/01_basics/solution/sum.cpp
@@ -5,7 +5,7 @@
 int sum(const std::vector<int>& v) {
   // BEGIN SOLUTION sum
   int s = 0;
-  for (int x : v) s += x;
+  for (size_t i = 1; i < v.size(); ++i) s += v[i];
   return s;
   // END SOLUTION
 }
)";

std::string parse_error(const std::string& text, const std::string& file = "m/sum--off-by-one.patch") {
  try {
    parse_mutant(text, file);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CourseMutants, ParsesTheHeaderAndTheDiff) {
  const Mutant m = parse_mutant(kSumMutant, "modules/01_basics/mutants/sum--off-by-one.patch");
  EXPECT_EQ(m.name, "sum--off-by-one");
  EXPECT_EQ(m.function, "sum(const std::vector<int>&)");
  EXPECT_EQ(m.mistake, "starts counting at the second element (off by one)");
  EXPECT_FALSE(m.caught_hidden);
  EXPECT_EQ(m.target, "modules/01_basics/solution/sum.cpp");
  ASSERT_EQ(m.hunks.size(), 1u);
  EXPECT_EQ(m.hunks[0].old_start, 5);
  EXPECT_EQ(m.hunks[0].old_count, 7);
  EXPECT_EQ(m.hunks[0].new_count, 7);
  EXPECT_EQ(m.hunks[0].lines.size(), 8u);
  EXPECT_EQ(m.hunks[0].line, 6);

  std::string hidden = kSumMutant;
  hidden.replace(hidden.find("caught:   visible"), 17, "caught: hidden");
  EXPECT_TRUE(parse_mutant(hidden, "x/sum--off-by-one.patch").caught_hidden);
}

TEST(CourseMutants, RejectsMalformedMutantsWithFileAndLine) {
  const std::string good = kSumMutant;
  auto without = [&](const std::string& line) {
    std::string t = good;
    t.erase(t.find(line), line.size() + 1);
    return t;
  };
  EXPECT_NE(parse_error(good, "m/off-by-one.patch").find("named <function>--<mistake-slug>.patch"), std::string::npos);
  EXPECT_NE(parse_error(good, "m/sum--Off By One.patch").find("mistake slug"), std::string::npos);
  EXPECT_NE(parse_error(good, "m/total--off-by-one.patch").find("starts with 'total' but the function is 'sum'"),
            std::string::npos);
  EXPECT_NE(parse_error(without("# caught:   visible")).find("no '# caught: visible'"), std::string::npos);
  EXPECT_NE(parse_error(without("# function: sum(const std::vector<int>&)")).find("no '# function:"), std::string::npos);
  EXPECT_NE(parse_error(without("# mistake:  starts counting at the second element (off by one)")).find("no '# mistake:"),
            std::string::npos);
  std::string t = good;
  t.replace(t.find("visible"), 7, "sometimes");
  EXPECT_NE(parse_error(t).find("m/sum--off-by-one.patch:3: 'caught:' is 'visible' or 'hidden'"), std::string::npos);
  t = good;
  t.replace(t.find("# mistake:"), 10, "# mistak:");
  EXPECT_NE(parse_error(t).find(":2: unknown header 'mistak:'"), std::string::npos);
  t = good;
  t.replace(t.find("+++ b/modules/01_basics/solution/sum.cpp"), 40, "+++ b/modules/01_basics/solution/other.cpp");
  EXPECT_NE(parse_error(t).find("a mutant changes one file"), std::string::npos);
  t = good;
  t.replace(t.find("--- a/"), 6, "--- ");
  EXPECT_NE(parse_error(t).find(":4: the diff's path"), std::string::npos);
  t = good;
  t.replace(t.find("@@ -5,7 +5,7 @@"), 15, "@@ -5,8 +5,7 @@");
  EXPECT_NE(parse_error(t).find(":6: the hunk ends after 7 old and 7 new lines, its header says 8 and 7"),
            std::string::npos);
  t = good;
  t.replace(t.find("@@ -5,7 +5,7 @@"), 15, "@@ -5,6 +5,7 @@");
  EXPECT_NE(parse_error(t).find("more lines than its header says"), std::string::npos);
  t = good;
  t.replace(t.find("@@ -5,7 +5,7 @@"), 15, "@@ five @@");
  EXPECT_NE(parse_error(t).find("malformed hunk header"), std::string::npos);
  EXPECT_NE(parse_error(good.substr(0, good.find("@@"))).find("the diff has no hunks"), std::string::npos);
  EXPECT_NE(parse_error(good.substr(0, good.find("---"))).find("no diff"), std::string::npos);
  EXPECT_NE(parse_error(good + "--- a/x\n+++ b/x\n").find(":15: a mutant changes one file: a second diff"),
            std::string::npos);
}

TEST(CourseMutants, AppliesToTheSolution) {
  const Mutant m = parse_mutant(kSumMutant, "x/sum--off-by-one.patch");
  const std::string mutated = apply_mutant(m, testing::kFixtureSum);
  std::string expected = testing::kFixtureSum;
  expected.replace(expected.find("for (int x : v) s += x;"), 23, "for (size_t i = 1; i < v.size(); ++i) s += v[i];");
  EXPECT_EQ(mutated, expected);

  // The code moved down by two lines: found nearby, as `patch` would.
  const std::string moved = "// one\n// two\n" + std::string(testing::kFixtureSum);
  EXPECT_EQ(apply_mutant(m, moved), "// one\n// two\n" + expected);

  // The solution changed where the mutant applies: a clear error naming the hunk.
  std::string changed = testing::kFixtureSum;
  changed.replace(changed.find("s += x;"), 7, "s = s + x;");
  try {
    apply_mutant(m, changed);
    ADD_FAILURE() << "a hunk that no longer matches must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hunk 1 (line 6) no longer matches modules/01_basics/solution/sum.cpp"),
              std::string::npos)
        << e.what();
  }
}

TEST(CourseMutants, AppliesWhatDiffUWrites) {
  // A real `diff -u` (with timestamps, two hunks, a missing final newline) round-trips.
  testing::TempTree tree;
  std::string a, b;
  for (int i = 1; i <= 30; ++i) a += "line " + std::to_string(i) + "\n";
  b = a;
  b.replace(b.find("line 3\n"), 7, "line three\nline 3.5\n");
  b.replace(b.find("line 25\n"), 8, "");
  b += "tail without newline";
  tree.write("a/modules/01_basics/solution/sum.cpp", a);
  tree.write("b/modules/01_basics/solution/sum.cpp", b);
  const std::string patch = tree.path("sum--two-hunks.patch");
  tree.write("sum--two-hunks.patch", "# function: sum(const std::vector<int>&)\n# mistake: two edits\n# caught: visible\n");
  const int code = run_command("cd " + shell_quote(tree.root()) +
                               " && diff -u a/modules/01_basics/solution/sum.cpp b/modules/01_basics/solution/sum.cpp >> " +
                               shell_quote(patch));
  ASSERT_EQ(code, 1) << "diff -u reports differences with exit status 1";
  const Mutant m = parse_mutant(read_text_file(patch), patch);
  EXPECT_EQ(m.target, "modules/01_basics/solution/sum.cpp");
  ASSERT_EQ(m.hunks.size(), 2u);
  EXPECT_EQ(apply_mutant(m, a), b);
}

TEST(CourseMutants, VerdictOnThePointsLost) {
  EXPECT_EQ(mutant_verdict(false, 10, 0), "");
  EXPECT_EQ(mutant_verdict(false, 10, 5), "");
  EXPECT_EQ(mutant_verdict(true, 0, 5), "");
  EXPECT_NE(mutant_verdict(false, 0, 0).find("loses no points"), std::string::npos);
  EXPECT_NE(mutant_verdict(true, 0, 0).find("loses no points"), std::string::npos);
  EXPECT_NE(mutant_verdict(false, 0, 4).find("loses only hidden points (4)"), std::string::npos);
  EXPECT_NE(mutant_verdict(true, 3, 4).find("labelled `caught: hidden`"), std::string::npos);
}

TEST(CourseMutants, LoadsAModulesMutantsAndRejectsForeignTargets) {
  testing::TempTree tree;
  testing::write_fixture(tree);
  const Manifest manifest = load_manifest(tree.path("modules/modules.manifest"));
  const Module& basics = manifest.get("01");
  EXPECT_TRUE(load_mutants(basics, tree.root()).mutants.empty());  // no mutants/ folder: none

  tree.write("modules/01_basics/mutants/sum--off-by-one.patch", kSumMutant);
  std::string foreign = kSumMutant;
  for (size_t p; (p = foreign.find("01_basics/solution/sum.cpp")) != std::string::npos;)
    foreign.replace(p, 26, "02_more/solution/twice.cpp");
  tree.write("modules/01_basics/mutants/sum--wrong-file.patch", foreign);
  tree.write("modules/01_basics/mutants/notes.txt", "x");
  const LoadedMutants loaded = load_mutants(basics, tree.root());
  ASSERT_EQ(loaded.mutants.size(), 1u);
  EXPECT_EQ(loaded.mutants[0].file, "modules/01_basics/mutants/sum--off-by-one.patch");
  ASSERT_EQ(loaded.problems.size(), 2u);
  EXPECT_NE(loaded.problems[0].find("notes.txt is not a .patch"), std::string::npos) << loaded.problems[0];
  EXPECT_NE(loaded.problems[1].find("changes modules/02_more/solution/twice.cpp, which module 01 does not own"),
            std::string::npos)
      << loaded.problems[1];
  EXPECT_EQ(mutant_copy_path("/b", "modules/01_basics/solution/sum.cpp"), "/b/mutant-src/modules/01_basics/solution/sum.cpp");
}

TEST(CourseMutants, TableForMutantsMd) {
  Module mod;
  mod.number = "01";
  mod.slug = "basics";
  MutantOutcome caught;
  caught.name = "sum--off-by-one";
  caught.mistake = "skips the first | element";
  caught.graded = true;
  caught.visible_lost = 60;
  caught.hidden_lost = 10;
  MutantOutcome broken;
  broken.name = "sum--typo";
  broken.mistake = "a typo";
  broken.problem = "does not compile: x";
  const std::string t = mutants_table(mod, {caught, broken});
  EXPECT_NE(t.find("# Module 01 mutants"), std::string::npos);
  EXPECT_NE(t.find("2 mutants, 1 caught by the visible tests."), std::string::npos);
  EXPECT_NE(t.find("| mutant | mistake | visible points lost | hidden points lost |"), std::string::npos);
  EXPECT_NE(t.find("| `sum--off-by-one` | skips the first \\| element | 60 | 10 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| `sum--typo` | a typo — **does not compile: x** | - | - |"), std::string::npos) << t;
}

}  // namespace
}  // namespace nibble::course
