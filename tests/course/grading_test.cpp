// Grading from gtest's JSON report: manifest points, failures, tests that did not run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <thread>

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


// The message of the nibble::Error that f throws ("" when it throws none; another exception fails).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(CourseJson, RejectsWhatRfc8259Rejects) {
  for (const char* bad : {"[1-2, 3.4.5]", "[1-2]", "[3.4.5]", "[01]", "[1.]", "[.5]", "[+1]", "[NaN]", "[inf]",
                          "{\"a\": 1,}", "[1,]", "{'a': 1}", "[1] x", "", "   ", "[\"tab\there\"]", "tru", "nul"}) {
    const std::string what = error_of([&] { parse_json(bad, "bad.json"); });
    EXPECT_TRUE(contains(what, "bad.json: invalid JSON at byte")) << "input: " << bad << "\nerror: " << what;
  }
}

TEST(CourseJson, BadEscapesAreNibbleErrorsNamingTheFileAndByte) {
  // "\uZZZZ" used to escape as std::invalid_argument from std::stoul.
  const std::string what = error_of([] { parse_json(R"({"a": "\uZZZZ"})", "results.json"); });
  EXPECT_TRUE(contains(what, "results.json: invalid JSON at byte ")) << what;
  EXPECT_TRUE(contains(what, "line 1")) << what;
  // A lone surrogate, a truncated escape and an unknown escape are errors too.
  for (const char* bad : {R"(["\uD800"])", R"(["\u12"])", R"(["\q"])", R"(["\uDC00\uD800"])"})
    EXPECT_FALSE(error_of([&] { parse_json(bad, "f"); }).empty()) << bad;
  // Valid escapes decode to UTF-8, surrogate pairs combined.
  EXPECT_EQ(parse_json(R"(["\u00e9\u20ac\ud83d\ude00\/"])", "f").items()[0].as_string(),
            "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/");
}

TEST(CourseJson, TheByteOffsetPointsAtTheMistake) {
  // "[1, 2, x]": the x is byte 7 (counted by hand from 0).
  EXPECT_TRUE(contains(error_of([] { parse_json("[1, 2, x]", "f"); }), "at byte 7 (line 1, column 8)"));
  EXPECT_TRUE(contains(error_of([] { parse_json("{\n  \"a\": ?\n}", "f"); }), "at byte 9 (line 2, column 8)"));
}

TEST(CourseJson, DeepNestingIsAnErrorNotACrash) {
  // 50 000 brackets crashed `nibble status` (recursion). Now: an error naming the depth and where.
  for (const std::string open : {"[", "{\"a\":"}) {
    std::string deep;
    for (int k = 0; k < 50000; ++k) deep += open;
    const std::string what = error_of([&] { parse_json(deep, "deep.json"); });
    EXPECT_TRUE(contains(what, "nested deeper than " + std::to_string(kMaxJsonDepth))) << what.substr(0, 200);
    // The first bracket too many is the (kMaxJsonDepth + 1)-th one.
    EXPECT_TRUE(contains(what, "at byte " + std::to_string(kMaxJsonDepth * open.size()) + " ")) << what.substr(0, 200);
  }
  // Exactly kMaxJsonDepth levels are fine.
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(parse_json(ok, "f").is_array());
}

TEST(CourseJson, NumbersOutOfRangeAreErrors) {
  const std::string what = error_of([] { parse_json("{\"earned\": 1e400}", "f"); });
  EXPECT_TRUE(contains(what, "f: invalid JSON at byte ")) << what;
  EXPECT_TRUE(contains(what, "number overflow parsing '1e400'")) << what;
  EXPECT_FALSE(contains(what, "json.exception")) << what;
  EXPECT_EQ(parse_json("[1e300]", "f").items()[0].as_number(), 1e300);  // big but a double: the reader decides
  EXPECT_EQ(parse_json("[-0.5e-3]", "f").items()[0].as_number(), -0.0005);
  EXPECT_EQ(parse_json("[18446744073709551615]", "f").items()[0].as_number(), 18446744073709551615.0);
}

TEST(CourseJson, NonFiniteNumbersAreWrittenAsNull) {
  Json j = Json::array();
  j.push_back(std::numeric_limits<double>::quiet_NaN());
  j.push_back(std::numeric_limits<double>::infinity());
  j.push_back(-std::numeric_limits<double>::infinity());
  j.push_back(60);
  j.push_back(0.25);
  EXPECT_EQ(j.dump(0), "[null,null,null,60,0.25]");
  EXPECT_NO_THROW(parse_json(j.dump(), "f"));
}

TEST(CourseJson, InvalidUtf8IsReplacedWhenWritingAndSanitisedBeforeReading) {
  Json j = Json::object();
  j.set("message", std::string("bad byte \xff here"));
  const std::string out = j.dump(0);
  EXPECT_EQ(out, "{\"message\":\"bad byte \xef\xbf\xbd here\"}");  // U+FFFD
  // Raw input with invalid UTF-8 is an error, unless sanitised first (length kept).
  EXPECT_FALSE(error_of([] { parse_json("[\"\xff\"]", "f"); }).empty());
  EXPECT_EQ(sanitize_utf8("a\xff" "b"), "a?b");
  EXPECT_EQ(sanitize_utf8("\xc3\xa9"), "\xc3\xa9");                  // é kept
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), "??");                        // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "???");                   // an encoded surrogate
  EXPECT_EQ(sanitize_utf8("\xe2\x82"), "??");                        // cut short
  EXPECT_EQ(sanitize_utf8("\xf4\x90\x80\x80"), "????");              // above U+10FFFF
  EXPECT_EQ(sanitize_utf8("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");  // an emoji kept
}

TEST(CourseGrading, AReportWithRawBytesFromStudentCodeStillGrades) {
  std::string report = kReport;
  const std::string hint = "hint: add them all";
  report.replace(report.find(hint), hint.size(), "printed \xff\xfe then " + hint);
  const Grade g = grade_report(fixture_module(), false, read_gtest_report(report, "r.json"));
  EXPECT_EQ(g.earned, 60);
  EXPECT_TRUE(contains(g.tests[1].message, "printed ?? then hint: add them all"));
}

TEST(CourseGrading, AbsurdPointsInAReportAreAProblemNotAGrade) {
  for (const char* points : {"\"1e300\"", "1e300", "-5", "\"-5\"", "2.5", "\"99999999999\"", "\"60 \""}) {
    std::string report = kReport;
    const std::string small = "\"points\": \"60\"";
    report.replace(report.find(small), small.size(), std::string("\"points\": ") + points);
    const Grade g = grade_report(fixture_module(), false, read_gtest_report(report, "r.json"));
    ASSERT_EQ(g.problems.size(), 1u) << points;
    EXPECT_TRUE(contains(g.problems[0], "SumGraded.Small records no points")) << g.problems[0];
    EXPECT_FALSE(g.complete());
  }
}

// A results document with one module whose fields are replaced by `fields` (JSON text).
std::string results_with(const std::string& fields) {
  return R"({"modules": {"01": {"module": "01", "slug": "basics", )" + fields + "}}}";
}

TEST(CourseResults, AbsurdOrInconsistentValuesAreCorruptNotGrades) {
  const std::string ok_fields = R"("earned": 60, "possible": 100, "complete": false)";
  EXPECT_EQ(validate_results(parse_json(results_with(ok_fields), "f")), "");
  const std::pair<const char*, const char*> cases[] = {
      {R"("earned": 1e300, "possible": 100, "complete": false)", "modules.01.earned is 1e+300"},
      {R"("earned": -5, "possible": 100, "complete": false)", "modules.01.earned is -5"},
      {R"("earned": 2.5, "possible": 100, "complete": false)", "modules.01.earned is 2.5"},
      {R"("earned": "60", "possible": 100, "complete": false)", "modules.01.earned is not a number"},
      {R"("earned": 60, "possible": 1e9, "complete": false)", "modules.01.possible is 1000000000"},
      {R"("earned": 120, "possible": 100, "complete": false)", "earned (120) is more than possible (100)"},
      {R"("earned": 60, "possible": 100, "complete": true)", "complete is true but earned is not possible"},
      {R"("earned": 60, "possible": 100)", "complete is not true or false"},
      {R"("earned": 60, "possible": 100, "complete": false, "tests": [{"name": "T", "points": 100, "earned": 50}])",
       "earned is not the sum of its tests' points"},
  };
  for (const auto& [fields, expected] : cases) {
    const std::string problem = validate_results(parse_json(results_with(fields), "f"));
    EXPECT_TRUE(contains(problem, expected)) << fields << "\n-> " << problem;
  }
  EXPECT_TRUE(contains(validate_results(parse_json(R"({"modules": []})", "f")), "\"modules\" is not an object"));
  EXPECT_TRUE(contains(validate_results(parse_json("[]", "f")), "top level"));
  EXPECT_TRUE(contains(validate_results(parse_json(
                           R"({"modules": {"01": {"module": "02", "slug": "x", "earned": 0, "possible": 0, "complete": true}}})", "f")),
                       "modules.01.module is not \"01\""));
}

TEST(CourseResults, ACorruptFileIsReportedWithTheWayOutAndNeverBlocksGrading) {
  testing::TempTree build;
  const Module m = fixture_module();
  for (const std::string& garbage : {std::string("{\"modules\": {\"01\": "), results_with(R"("earned": 1e300, "possible": 100, "complete": false)")}) {
    build.write("course/results.json", garbage);
    const std::string path = build.path("course/results.json");
    const std::string what = error_of([&] { load_results(build.root()); });
    EXPECT_TRUE(contains(what, "corrupt")) << what;
    EXPECT_TRUE(contains(what, "delete or move " + path)) << what;
    EXPECT_TRUE(contains(what, "your code is not affected")) << what;

    // Grading goes on: the new result is saved, the damaged file is kept aside.
    const std::string note = save_result(build.root(), grade_report(m, false, read_gtest_report(kReport, "r.json")));
    EXPECT_TRUE(contains(note, "corrupt")) << note;
    EXPECT_TRUE(contains(note, "Your code is not affected")) << note;
    const Json results = load_results(build.root());
    EXPECT_EQ(saved_result(results, m)["earned"].as_number(), 60);
    int aside = 0;
    for (const auto& e : std::filesystem::directory_iterator(build.path("course"))) {
      const std::string name = e.path().filename().string();
      if (name.rfind("results.json.corrupt-", 0) != 0) continue;
      ++aside;
      if (contains(note, "/" + name + ";")) {  // the one this save moved aside
        std::ifstream in(e.path());
        EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), garbage) << "the damaged file is kept as it was";
      }
    }
    EXPECT_GE(aside, 1);
    // A healthy file gives no note.
    EXPECT_EQ(save_result(build.root(), grade_report(m, false, read_gtest_report(kReport, "r.json"))), "");
  }
}

// Grade of a one-test module numbered `number`, worth `points`, passed.
Grade passed_grade(const std::string& number, int points) {
  Grade g;
  g.module = number;
  g.slug = "m" + number;
  TestOutcome t;
  t.name = "S.T";
  t.points = points;
  t.ran = t.passed = true;
  g.tests.push_back(t);
  g.earned = g.possible = g.ran = points;
  g.ran = 1;
  return g;
}

// Two `nibble test` runs at once used to lose a result (read-modify-write without a lock). Two processes
// and, inside each, two threads save kSaves results each; every one of them must be in the file.
TEST(CourseResults, ConcurrentSavesKeepEveryResult) {
  testing::TempTree build;
  constexpr int kSaves = 15;
  auto saver = [&build](const std::string& who) {
    for (int k = 0; k < kSaves; ++k) save_result(build.root(), passed_grade(who + std::to_string(k), k + 1));
  };
  pid_t children[2];
  for (int c = 0; c < 2; ++c) {
    children[c] = ::fork();
    ASSERT_GE(children[c], 0);
    if (children[c] == 0) {
      int code = 0;
      try {
        std::thread other([&] { saver("p" + std::to_string(c) + "b"); });
        saver("p" + std::to_string(c) + "a");
        other.join();
      } catch (...) {
        code = 1;
      }
      ::_exit(code);
    }
  }
  for (pid_t child : children) {
    int status = -1;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a saver failed";
  }
  const Json results = load_results(build.root());
  int found = 0;
  for (const char* who : {"p0a", "p0b", "p1a", "p1b"})
    for (int k = 0; k < kSaves; ++k) {
      const Json& r = results["modules"][who + std::to_string(k)];
      EXPECT_EQ(r["earned"].as_number(), k + 1) << who << k;
      found += r.is_object() ? 1 : 0;
    }
  EXPECT_EQ(found, 4 * kSaves);
  EXPECT_EQ(results["modules"].members().size(), static_cast<size_t>(4 * kSaves));
}

}  // namespace
}  // namespace nibble::course
