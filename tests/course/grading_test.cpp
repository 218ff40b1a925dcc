// Grading from gtest's JSON report: manifest points, failures, tests that did not run.
#include <gtest/gtest.h>

#include "course/course_fixture.h"
#include "core/error.h"
#include "tools/course/grading.h"
#include "tools/course/json.h"
#include "tools/course/manifest.h"

namespace nibble::course {
namespace {

// The shape gtest 1.12 writes with --gtest_output=json (trimmed).
const char* kReport = R"({
  "tests": 3, "failures": 1,
  "testsuites": [
    {"name": "SumGraded", "tests": 2, "testsuite": [
      {"name": "Small", "status": "RUN", "result": "COMPLETED", "time": "0s", "classname": "SumGraded", "points": "60"},
      {"name": "Large", "status": "RUN", "result": "COMPLETED", "time": "0s", "classname": "SumGraded", "points": "40",
       "failures": [{"failure": "sum_test.cpp:12\nExpected equality\n  hint: add them all \u0026 return", "type": ""}]}
    ]},
    {"name": "Helpers", "tests": 1, "testsuite": [
      {"name": "NotGraded", "status": "RUN", "result": "COMPLETED", "time": "0s", "classname": "Helpers"}
    ]}
  ]
})";

Module fixture_module() {
  return parse_manifest(
             "module 01 basics\n  title B\n  graded SumGraded.Small 60\n  graded SumGraded.Large 40\n"
             "  hidden SumHidden.Random 10\n",
             "m")
      .modules[0];
}

TEST(CourseGrading, ScoresTheReportWithTheManifestsPoints) {
  const Grade g = grade_report(fixture_module(), false, read_gtest_report(kReport, "r.json"));
  EXPECT_EQ(g.earned, 60);
  EXPECT_EQ(g.possible, 100);
  EXPECT_EQ(g.ran, 2);
  EXPECT_TRUE(g.problems.empty());
  EXPECT_FALSE(g.complete());
  ASSERT_EQ(g.tests.size(), 2u);
  EXPECT_TRUE(g.tests[0].passed);
  EXPECT_FALSE(g.tests[1].passed);
  EXPECT_NE(g.tests[1].message.find("hint: add them all & return"), std::string::npos);
}

TEST(CourseGrading, ATestThatDidNotRunFailsAndTheCountIsChecked) {
  const Grade g = grade_report(fixture_module(), true, read_gtest_report(kReport, "r.json"));
  EXPECT_EQ(g.earned, 0);
  EXPECT_EQ(g.possible, 10);
  ASSERT_EQ(g.tests.size(), 1u);
  EXPECT_FALSE(g.tests[0].ran);
  EXPECT_NE(g.tests[0].message.find("did not run"), std::string::npos);
  ASSERT_FALSE(g.problems.empty());
  EXPECT_NE(g.problems[0].find("lists 1 hidden tests for module 01 but 0 ran"), std::string::npos);
  // The visible graded tests carry points but are not in the hidden list.
  EXPECT_EQ(g.problems.size(), 3u);
}

TEST(CourseGrading, PointsThatDisagreeWithTheManifestAreAProblem) {
  Module m = fixture_module();
  m.graded[0].points = 50;
  const Grade g = grade_report(m, false, read_gtest_report(kReport, "r.json"));
  ASSERT_EQ(g.problems.size(), 1u);
  EXPECT_NE(g.problems[0].find("SumGraded.Small records 60 points but the manifest says 50"), std::string::npos);
}

TEST(CourseGrading, ResultsAreSavedInTheBuildTreePerModule) {
  testing::TempTree build;
  const Module m = fixture_module();
  const Json empty = load_results(build.root());
  EXPECT_TRUE(saved_result(empty, m).is_null());
  save_result(build.root(), grade_report(m, false, read_gtest_report(kReport, "r.json")));
  EXPECT_TRUE(build.exists("course/results.json"));
  const Json results = load_results(build.root());  // saved_result returns a reference into it
  const Json& r = saved_result(results, m);
  EXPECT_EQ(r["earned"].as_number(), 60);
  EXPECT_FALSE(r["complete"].as_bool());
  Module other = m;
  other.slug = "renamed";  // a result saved for another module with that number is not used
  EXPECT_TRUE(saved_result(results, other).is_null());
}

TEST(CourseJson, RoundTripsAndReportsBadInput) {
  Json j = Json::object();
  j.set("name", "a \"quoted\"\nline");
  j.set("n", 42);
  j.set("x", 0.5);
  Json arr = Json::array();
  arr.push_back(true);
  arr.push_back(Json());
  j.set("list", arr);
  const Json back = parse_json(j.dump(), "t");
  EXPECT_EQ(back["name"].as_string(), "a \"quoted\"\nline");
  EXPECT_EQ(back["n"].as_number(), 42);
  EXPECT_EQ(back["x"].as_number(), 0.5);
  EXPECT_TRUE(back["list"].items()[0].as_bool());
  EXPECT_TRUE(back["missing"].is_null());
  EXPECT_EQ(back.dump(0), j.dump(0));
  EXPECT_THROW(parse_json("{\"a\": }", "t"), Error);
  EXPECT_THROW(parse_json("[1, 2", "t"), Error);
}

}  // namespace
}  // namespace nibble::course
