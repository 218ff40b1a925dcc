// The autograder's comparator: decides a graded test from the values its assertions recorded in the
// student's process (modules/graded_record.h) and the values the same test recorded against the
// instructor's solution, in the grader's process (which loads no student code). Threat model and what
// each assertion kind still trusts: tools/autograde/SECURITY.md.
//
//   RecordedRun ref = parse_recorded_run(reference_report, ref_nonce, "Suite.Name");
//   RecordedRun got = parse_recorded_run(student_report, nonce, "Suite.Name");
//   Verdict v = compare_runs(got, ref);   // v.pass, v.reason (for the feedback)
#pragma once

#include <string>
#include <vector>

namespace nibble::course {

struct RecordedAssertion {
  long seq = 0;
  long line = 0;
  std::string kind;                 // near eq ne lt le gt ge deq feq true false throw
  std::vector<std::string> values;  // encoded operands (b0/b1, i-12, u7, f<hex>, s<hex>)
};

struct RecordedRun {
  bool valid = false;        // well formed: S line, A lines numbered 1..n, E line with count n, nothing else
  std::string problem;       // why not valid
  bool local_pass = false;   // what the process's own gtest said (a "fail" is believed, a "pass" never)
  std::vector<RecordedAssertion> assertions;
};

// Parses the report descriptor's content of one test process (asked to run `test` with `nonce`).
RecordedRun parse_recorded_run(const std::string& report, const std::string& nonce, const std::string& test);

struct Verdict {
  bool pass = false;
  std::string reason;  // "" on a pass
};

// A pass needs: the student run valid and ended with a local pass; the same number of assertions with
// the same kinds and lines as the reference; and for each assertion:
// - two values (eq ne lt le gt ge deq feq near): the test's comparison holds on the student's values,
//   with near's tolerance taken from the reference run, AND at least one of the two values matches the
//   reference run's same value (exactly for integers and text; for floating point within the
//   tolerance, or 1e-3 relative) — a value the student's process could only have got by computing
//   the right answer or by reading the test's expected value;
// - one boolean (true false throw): the student's process says it holds (trusted; SECURITY.md).
Verdict compare_runs(const RecordedRun& student, const RecordedRun& reference);

// One assertion alone (exposed for the unit tests).
Verdict compare_assertion(const RecordedAssertion& student, const RecordedAssertion& reference);

}  // namespace nibble::course
