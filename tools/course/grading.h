// Grading from the outside: run a module's gtest program with --gtest_output=json, read the report,
// and score it against the manifest (the manifest's points are the authority; student code never
// computes its own score). A graded test that did not run counts as failed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tools/course/json.h"
#include "tools/course/manifest.h"

namespace nibble::course {

// Points of one test or one module are whole numbers in [0, kMaxPoints]: anything else in a report or in
// results.json is corrupt (and sums of them cannot overflow int).
constexpr int kMaxPoints = 1000000;

struct ReportedTest {
  bool passed = false;
  bool skipped = false;
  int points = -1;       // the "points" property GRADED_TEST records; -1 when absent or not in [0, kMaxPoints]
  std::string message;   // the failure messages, joined
  std::vector<std::string> failures;  // each failure on its own ("file:line\n<message>"), for feedback.h
};

// "Suite.Name" -> outcome, from a gtest JSON report.
std::map<std::string, ReportedTest> read_gtest_report(const std::string& json_text, const std::string& what);

struct TestOutcome {
  std::string name;
  int points = 0;  // possible, from the manifest
  bool ran = false;
  bool passed = false;
  std::string message;  // failure text (or why it did not run)
  std::vector<std::string> failures;  // gtest's failures one by one (empty when it did not run or crashed)
};

struct Grade {
  std::string module;  // "01"
  std::string slug;
  bool hidden = false;  // the instructor-only tests
  std::vector<TestOutcome> tests;  // in manifest order
  int earned = 0;
  int possible = 0;
  int ran = 0;                      // manifest tests that appear in the report
  std::vector<std::string> problems;  // count mismatches, unknown graded tests, points that differ
  bool complete() const { return problems.empty() && earned == possible; }
};

Grade grade_report(const Module& mod, bool hidden, const std::map<std::string, ReportedTest>& report);

// "module_01_tests" or "module_01_hidden".
std::string test_target(const Module& mod, bool hidden);

// cmake --build <binary_dir> --target <targets...>; output goes to log_path. Returns the exit code.
int build_targets(const std::string& binary_dir, const std::vector<std::string>& targets, const std::string& log_path);

// Runs <binary_dir>/modules/<target> with a JSON report under <binary_dir>/course/ (named after this
// process, so concurrent runs never share one; removed afterwards, the program's output is kept in
// <binary_dir>/course/<target>.log) and grades it.
// If the program dies before writing its report (crash, timeout), each test is run on its own so
// that one crashing test does not take the others' points. timeout_seconds must be positive.
Grade run_and_grade(const Module& mod, bool hidden, const std::string& binary_dir, int timeout_seconds);

Json grade_to_json(const Grade& g);

// <binary_dir>/course/results.json: {"modules": {"01": <grade>, ...}} (visible tests only).
std::string results_path(const std::string& binary_dir);
// "" when `all` is a well-formed results document, else what is wrong ("modules.01.earned is 1e+300,
// not a whole number of points between 0 and 1000000"). Points must be whole numbers in [0, kMaxPoints],
// earned <= possible, earned the sum of the tests' points: a damaged file is never shown as a grade.
std::string validate_results(const Json& all);
// Empty object when there is none yet. A file that does not parse or validate throws nibble::Error
// naming the file, the problem and the way out ("delete or move <path>; your code is not affected").
Json load_results(const std::string& binary_dir);
// The saved result of mod, or null (none yet, or saved for another module under that number).
const Json& saved_result(const Json& results, const Module& mod);
// The result is a reference into `results`: refuse temporaries, which would leave it dangling.
const Json& saved_result(Json&& results, const Module& mod) = delete;
// Adds g to the results file. The read-modify-write runs under an exclusive flock on
// "<results>.lock", so concurrent `nibble test` runs both keep their results, and the file is replaced
// atomically (io::write_atomically). A corrupt results file never blocks grading: it is renamed to
// "<results>.corrupt-YYYYmmdd-HHMMSS" (kept for a look) and a new file holds this result; the returned
// text then says so and what to do (print it); "" otherwise.
std::string save_result(const std::string& binary_dir, const Grade& g);

}  // namespace nibble::course
