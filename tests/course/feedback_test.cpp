// What a student reads after `nibble test NN`: the exact text for a failing stub, EXPECT_NEAR
// failures with their hint, trimming that never cuts a hint, and the prerequisite warnings.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "course/course_fixture.h"
#include "tools/course/feedback.h"
#include "tools/course/grading.h"
#include "tools/course/json.h"
#include "tools/course/manifest.h"

namespace nibble::course {
namespace {

// The failures exactly as gtest 1.12 writes them with --gtest_output=json (recorded from
// module_01_tests built from the stubs, and from a wrong self_information_bits), renamed to the
// fixture course: a NotImplemented escaping the test, and an EXPECT_NEAR with input and hint.
const char* kStubReport = R"({
  "testsuites": [
    {"name": "SumGraded", "testsuite": [
      {"name": "Small", "status": "RUN", "result": "COMPLETED", "classname": "SumGraded", "points": "60",
       "failures": [{"failure": "unknown file\nC++ exception with description \"not implemented yet: module 01: sum\n  hint: open the module's stub file and replace the throw with your code\" thrown in the test body.", "type": ""}]},
      {"name": "Large", "status": "RUN", "result": "COMPLETED", "classname": "SumGraded", "points": "40",
       "failures": [{"failure": "../modules/01_basics/tests/sum_test.cpp:12\nThe difference between demo::mean(v) and 2.5 is 0.5, which exceeds 1e-12, where\ndemo::mean(v) evaluates to 2,\n2.5 evaluates to 2.5, and\n1e-12 evaluates to 9.9999999999999998e-13.\ninput v = {1, 2, 3, 4}\n  hint: divide by the number of values, 4", "type": ""},
                    {"failure": "unknown file\nC++ exception with description \"sum: the vector is empty\n  hint: return 0 for an empty vector\" thrown in the test body.", "type": ""}]}
    ]}
  ]
})";

Module fixture_module() { return parse_manifest(testing::kFixtureManifest, "m").modules[0]; }

// The fixture course's source tree: the student's stub and the test file the report names.
struct StubTree {
  testing::TempTree tree;
  StubTree() {
    tree.write("modules/01_basics/sum.cpp",
               "int sum(const std::vector<int>& v) {\n  throw nibble::NotImplemented(\"module 01: sum\");\n}\n");
    tree.write("modules/01_basics/tests/sum_test.cpp", "// the graded tests\n");
  }
};

TEST(CourseFeedback, AFailingStubShowsTheFunctionTheFileAndEveryHint) {
  StubTree t;
  const Module mod = fixture_module();
  const Grade g = grade_report(mod, false, read_gtest_report(kStubReport, "r.json"));
  const std::string shown = format_grade(mod, g, {t.tree.root(), false});
  EXPECT_EQ(shown,
            "module 01 basics \u2014 Basics\n"
            "  \u2717 SumGraded.Small   0/60\n"
            "        module 01: sum is not implemented yet (modules/01_basics/sum.cpp)\n"
            "          hint: open the module's stub file and replace the throw with your code\n"
            "  \u2717 SumGraded.Large   0/40\n"
            "        modules/01_basics/tests/sum_test.cpp:12\n"
            "        demo::mean(v) gave 2, expected 2.5 (within 1e-12; off by 0.5)\n"
            "        input v = {1, 2, 3, 4}\n"
            "          hint: divide by the number of values, 4\n"
            "        module 01: sum (modules/01_basics/sum.cpp) threw: the vector is empty\n"
            "          hint: return 0 for an empty vector\n"
            "01 basics: 0/100\n");
  // --verbose: gtest's own words, every line.
  const std::string all = format_grade(mod, g, {t.tree.root(), true});
  EXPECT_NE(all.find("        1e-12 evaluates to 9.9999999999999998e-13.\n"), std::string::npos);
}

TEST(CourseFeedback, WithoutTheSourceTreeTheTextStillNamesTheFunction) {
  const std::vector<std::string> lines = failure_lines(
      "unknown file\nC++ exception with description \"not implemented yet: module 02: twice\n  hint: h\" "
      "thrown in the test body.",
      fixture_module(), {"", false});
  EXPECT_EQ(lines, (std::vector<std::string>{"module 02: twice is not implemented yet", "  hint: h"}));
  // Not a std::exception, and an exception from a function that is not the student's.
  EXPECT_EQ(failure_lines("unknown file\nUnknown C++ exception thrown in the test body.", fixture_module(), {})[0],
            "your code threw something that is not a std::exception (e.g. `throw 1`)");
  EXPECT_EQ(failure_lines("unknown file\nC++ exception with description \"vector::_M_range_check: n (which is 3) "
                          ">= this->size() (which is 3)\" thrown in the test body.",
                          fixture_module(), {}),
            (std::vector<std::string>{"an exception escaped the test: vector::_M_range_check: n (which is 3) >= "
                                      "this->size() (which is 3)"}));
}

TEST(CourseFeedback, ExpectNearReadsActualThenExpectedInEitherOrder) {
  const std::string near_literal_first =
      "t.cpp:5\nThe difference between 1.5 and h(p) is 0.25, which exceeds tol, where\n1.5 evaluates to 1.5,\n"
      "h(p) evaluates to 1.25, and\ntol evaluates to 1e-09.";
  EXPECT_EQ(failure_lines(near_literal_first, fixture_module(), {}),
            (std::vector<std::string>{"t.cpp:5", "h(p) gave 1.25, expected 1.5 (within tol; off by 0.25)"}));
  // Not gtest's shape (a line missing): shown as written.
  const std::string odd = "t.cpp:5\nThe difference between a and b is 1, which exceeds t, where\na evaluates to 1,";
  EXPECT_EQ(failure_lines(odd, fixture_module(), {}).size(), 3u);
}

TEST(CourseFeedback, LongFailuresAreCutInTheMiddleButNeverTheirHints) {
  std::string failure = "t.cpp:3\nfirst";
  for (int i = 0; i < 20; ++i) failure += "\nline " + std::to_string(i) + (i == 10 ? "\n  hint: the middle hint" : "");
  failure += "\nlast\n  hint: " + std::string(400, 'h');
  const std::vector<std::string> cut = failure_lines(failure, fixture_module(), {});
  EXPECT_EQ(cut, (std::vector<std::string>{
                     "t.cpp:3", "first", "line 0", "line 1", "line 2", "line 3",
                     "... (15 lines cut; `nibble test 01 --verbose` shows all)", "  hint: the middle hint",
                     "line 19", "last", "  hint: " + std::string(400, 'h')}));
  const std::vector<std::string> all = failure_lines(failure, fixture_module(), {"", true});
  EXPECT_EQ(all.size(), 25u);  // location, first, 20 lines, 2 hints, last
  // A very long line keeps its two ends.
  const std::vector<std::string> wide = failure_lines("t.cpp:3\ninput " + std::string(500, 'x') + " end",
                                                      fixture_module(), {});
  ASSERT_EQ(wide.size(), 2u);
  EXPECT_LT(wide[1].size(), 250u);
  EXPECT_EQ(wide[1].substr(0, 6), "input ");
  EXPECT_EQ(wide[1].substr(wide[1].size() - 4), " end");
}

TEST(CourseFeedback, AfterThreeFailuresOnlyTheOtherHintsAreShown) {
  Grade g;
  g.module = "01";
  g.possible = 100;
  TestOutcome o;
  o.name = "SumGraded.Small";
  o.points = 100;
  o.ran = true;
  for (int i = 0; i < 5; ++i)
    o.failures.push_back("t.cpp:" + std::to_string(i) + "\nwrong " + std::to_string(i) + "\n  hint: h" +
                         std::to_string(i % 4));
  g.tests.push_back(o);
  const std::string shown = format_grade(fixture_module(), g, {});
  EXPECT_NE(shown.find("wrong 2\n"), std::string::npos);
  EXPECT_EQ(shown.find("wrong 3"), std::string::npos);
  EXPECT_NE(shown.find("2 more failed checks in this test"), std::string::npos);
  EXPECT_NE(shown.find("  hint: h3\n"), std::string::npos);
  // h0 is the hint of both the first and the fifth failure: shown once.
  EXPECT_EQ(shown.find("  hint: h0"), shown.rfind("  hint: h0"));
  EXPECT_NE(format_grade(fixture_module(), g, {"", true}).find("wrong 4\n"), std::string::npos);
}

TEST(CourseFeedback, PrerequisitesThatAreNotCompleteAreNamedWithTheCommand) {
  const Manifest m = parse_manifest(testing::kFixtureManifest, "m");
  const Module& second = m.get("02");
  EXPECT_EQ(prerequisite_warnings(m, m.get("01"), Json::object()), std::vector<std::string>{});
  EXPECT_EQ(prerequisite_warnings(m, second, Json::object()),
            std::vector<std::string>{"warning: module 02 builds on module 01 (basics), which has not been tested yet: "
                                     "finish it first (`nibble test 01`)"});
  testing::TempTree build;
  save_result(build.root(), grade_report(m.get("01"), false, read_gtest_report(kStubReport, "r.json")));
  Json results = load_results(build.root());
  EXPECT_EQ(prerequisite_warnings(m, second, results),
            std::vector<std::string>{"warning: module 02 builds on module 01 (basics), which has 0/100: "
                                     "finish it first (`nibble test 01`)"});
  Grade full = grade_report(m.get("01"), false, read_gtest_report(kStubReport, "r.json"));
  for (TestOutcome& t : full.tests) t.passed = true;  // a consistent record: earned is the sum of passed tests
  full.earned = full.possible;
  save_result(build.root(), full);
  results = load_results(build.root());
  EXPECT_TRUE(prerequisite_warnings(m, second, results).empty());
}

}  // namespace
}  // namespace nibble::course
