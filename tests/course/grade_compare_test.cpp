// The autograder's comparator (tools/course/grade_compare.h): a test passes only on records that are
// well formed, end, match the reference run's assertions one by one, and whose values hold the test's
// comparison with at least one value equal to the reference's. The records here are written by hand
// the way modules/graded_record.h writes them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/course/grade_compare.h"

namespace nibble::course {
namespace {

std::string f(double v) {
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  char buf[20];
  std::snprintf(buf, sizeof buf, "f%016llx", static_cast<unsigned long long>(bits));
  return buf;
}

const std::string kNonce = "0123456789abcdef0123456789abcdef";
const std::string kTest = "EntropyGraded.FairCoin";

std::string run_text(const std::string& body, long count, const std::string& verdict = "pass") {
  return "S " + kNonce + " " + kTest + "\n" + body + "E " + kNonce + " " + kTest + " " + std::to_string(count) +
         " " + verdict + "\n";
}

RecordedRun parse(const std::string& text) { return parse_recorded_run(text, kNonce, kTest); }

// The reference: entropy_bits({1/2, 1/2}) = 1 within 1e-12, a size check, a NaN check.
const std::string kRef = "A 1 10 near " + f(1.0) + " " + f(1.0) + " " + f(1e-12) + "\nA 2 11 eq u4 i4\nA 3 12 false b0\n";

TEST(GradeCompare, TheSolutionsOwnValuesPass) {
  const RecordedRun ref = parse(run_text(kRef, 3));
  ASSERT_TRUE(ref.valid) << ref.problem;
  const Verdict v = compare_runs(parse(run_text(kRef, 3)), ref);
  EXPECT_TRUE(v.pass) << v.reason;
  // A different but correct value (within the tolerance) passes too.
  const std::string close = "A 1 10 near " + f(1.0 + 4e-13) + " " + f(1.0) + " " + f(1e-12) + "\nA 2 11 eq u4 i4\nA 3 12 false b0\n";
  EXPECT_TRUE(compare_runs(parse(run_text(close, 3)), ref).pass);
}

TEST(GradeCompare, AWrongValueFailsEvenWhenTheProcessSaysPass) {
  const RecordedRun ref = parse(run_text(kRef, 3));
  // The natural-log mistake: 0.693 instead of 1; the process claims "pass".
  const std::string nats = "A 1 10 near " + f(0.6931471805599453) + " " + f(1.0) + " " + f(1e-12) + "\nA 2 11 eq u4 i4\nA 3 12 false b0\n";
  const Verdict v = compare_runs(parse(run_text(nats, 3)), ref);
  EXPECT_FALSE(v.pass);
  EXPECT_NE(v.reason.find("assertion 1"), std::string::npos) << v.reason;
  // A huge tolerance written by the student's process does not count: the reference's is used.
  const std::string loose = "A 1 10 near " + f(0.6931471805599453) + " " + f(1.0) + " " + f(1.0) + "\nA 2 11 eq u4 i4\nA 3 12 false b0\n";
  EXPECT_FALSE(compare_runs(parse(run_text(loose, 3)), ref).pass);
}

TEST(GradeCompare, ForgedRecordsThatAgreeWithThemselvesFail) {
  const RecordedRun ref = parse(run_text(kRef, 3));
  // "Actual equals expected" with a made-up expected value: the comparison holds, but neither value
  // is the reference's.
  const std::string made_up = "A 1 10 near " + f(7.0) + " " + f(7.0) + " " + f(1e-12) + "\nA 2 11 eq u9 i9\nA 3 12 false b0\n";
  EXPECT_FALSE(compare_runs(parse(run_text(made_up, 3)), ref).pass);
  // Fewer or more assertions than the reference, another kind or line: fail.
  EXPECT_FALSE(compare_runs(parse(run_text("A 1 10 near " + f(1.0) + " " + f(1.0) + " " + f(1e-12) + "\n", 1)), ref).pass);
  EXPECT_FALSE(compare_runs(parse(run_text(kRef + "A 4 13 true b1\n", 4)), ref).pass);
  const std::string other_kind = "A 1 10 near " + f(1.0) + " " + f(1.0) + " " + f(1e-12) + "\nA 2 11 le u4 i4\nA 3 12 false b0\n";
  EXPECT_FALSE(compare_runs(parse(run_text(other_kind, 3)), ref).pass);
  // The process's own "fail" is believed.
  EXPECT_FALSE(compare_runs(parse(run_text(kRef, 3, "fail")), ref).pass);
  // A boolean check that does not hold.
  const std::string nan = "A 1 10 near " + f(1.0) + " " + f(1.0) + " " + f(1e-12) + "\nA 2 11 eq u4 i4\nA 3 12 false b1\n";
  EXPECT_FALSE(compare_runs(parse(run_text(nan, 3)), ref).pass);
}

TEST(GradeCompare, MalformedOrUnfinishedRecordsFail) {
  const RecordedRun ref = parse(run_text(kRef, 3));
  EXPECT_FALSE(parse("").valid);
  EXPECT_FALSE(parse("S " + kNonce + " " + kTest + "\n" + kRef).valid);  // no end record
  EXPECT_FALSE(parse(run_text(kRef, 2)).valid);                           // miscounted
  EXPECT_FALSE(parse_recorded_run(run_text(kRef, 3), "ffff", kTest).valid);  // another nonce
  EXPECT_FALSE(parse_recorded_run(run_text(kRef, 3), kNonce, "EntropyGraded.Other").valid);
  EXPECT_FALSE(parse(run_text("A 2 10 true b1\n", 1)).valid);            // numbered out of order
  EXPECT_FALSE(parse(run_text("A 1 10 sneaky b1\n", 1)).valid);          // an unknown kind
  EXPECT_FALSE(parse(run_text(kRef, 3) + "E " + kNonce + " " + kTest + " 3 pass\n").valid);  // two ends
  EXPECT_FALSE(compare_runs(parse(run_text(kRef, 2)), ref).pass);
}

TEST(GradeCompare, PropertyChecksCompareTheStudentsValuesWithEachOther) {
  // EXPECT_LE(H(X|Y), H(X)): both sides come from the student's code. A correct submission whose
  // values differ slightly from the solution's passes; the comparison itself must hold.
  const RecordedRun ref = parse(run_text("A 1 20 le " + f(0.9387218755408671) + " " + f(1.0) + "\n", 1));
  const RecordedRun close = parse(run_text("A 1 20 le " + f(0.9387218755408675) + " " + f(1.0000000000000002) + "\n", 1));
  EXPECT_TRUE(compare_runs(close, ref).pass);
  const RecordedRun reversed = parse(run_text("A 1 20 le " + f(1.0) + " " + f(0.9387218755408671) + "\n", 1));
  EXPECT_FALSE(compare_runs(reversed, ref).pass);
  // Integers and text compare exactly; gtest's 4-ULP rule for EXPECT_DOUBLE_EQ.
  EXPECT_TRUE(compare_runs(parse(run_text("A 1 5 eq s7b2032207d s7b2032207d\n", 1)),
                           parse(run_text("A 1 5 eq s7b2032207d s7b2032207d\n", 1))).pass);
  EXPECT_FALSE(compare_runs(parse(run_text("A 1 5 eq s7b2033207d s7b2032207d\n", 1)),
                            parse(run_text("A 1 5 eq s7b2032207d s7b2032207d\n", 1))).pass);
  const double third = 1.0 / 3;
  EXPECT_TRUE(compare_runs(parse(run_text("A 1 6 deq " + f(third) + " " + f(std::nextafter(third, 1.0)) + "\n", 1)),
                           parse(run_text("A 1 6 deq " + f(third) + " " + f(third) + "\n", 1))).pass);
  EXPECT_FALSE(compare_runs(parse(run_text("A 1 6 deq " + f(third) + " " + f(third + 1e-12) + "\n", 1)),
                            parse(run_text("A 1 6 deq " + f(third) + " " + f(third) + "\n", 1))).pass);
  // An empty text is "s".
  EXPECT_TRUE(compare_runs(parse(run_text("A 1 5 eq s s\n", 1)), parse(run_text("A 1 5 eq s s\n", 1))).pass);
  // Signed and unsigned integers compare by value (EXPECT_LT(-1, 2u) is about numbers here).
  EXPECT_TRUE(compare_runs(parse(run_text("A 1 7 lt i-1 u2\n", 1)), parse(run_text("A 1 7 lt i-1 u2\n", 1))).pass);
}

}  // namespace
}  // namespace nibble::course
