// The recording mode of the graded assertions (modules/graded_record.h), as the autograder's tree builds
// the module tests: each assertion still behaves as in gtest and writes one record of the values it
// compared; the comparator (tools/course/grade_compare.h) reads them back.
#define NIBBLE_GRADE_RECORD 1
#include "modules/graded.h"

#include <fcntl.h>
#include <unistd.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/course/grade_compare.h"

namespace {

// Runs `body` with the records going to a pipe; returns what was written.
template <typename Fn>
std::string recorded(Fn&& body) {
  int p[2];
  if (::pipe(p) != 0) return "";
  auto& st = nibble::grading::record::state();
  st.fd = p[1];
  st.seq = 0;
  body();
  st.fd = -1;
  ::close(p[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  return out;
}

TEST(GradedRecord, EachAssertionWritesItsValuesExactly) {
  const int line = __LINE__ + 3;
  const std::string text = recorded([] {
    // One line each, so each records this line number + k.
    EXPECT_NEAR(0.5 + 0.25, 0.75, 1e-12);
    EXPECT_EQ(std::vector<int>({1, 2}).size(), 2u);
    EXPECT_LT(-3, 4);
    EXPECT_TRUE(std::numeric_limits<double>::infinity() > 1.0);
    EXPECT_FALSE(false);
    EXPECT_EQ(std::string("ab"), "ab");
    EXPECT_THROW(throw std::runtime_error("x"), std::runtime_error);
  });
  const std::string l = std::to_string(line);
  const auto at = [&](int k) { return std::to_string(line + k); };
  const std::string want = "A 1 " + l + " near f3fe8000000000000 f3fe8000000000000 f3d719799812dea11\n" +
                           "A 2 " + at(1) + " eq u2 u2\n" + "A 3 " + at(2) + " lt i-3 i4\n" + "A 4 " + at(3) +
                           " true b1\n" + "A 5 " + at(4) + " false b0\n" + "A 6 " + at(5) + " eq s6162 s6162\n" +
                           "A 7 " + at(6) + " throw b1\n";
  EXPECT_EQ(text, want);
}

TEST(GradedRecord, WithoutADescriptorNothingIsWrittenAndAssertionsBehaveAsInGtest) {
  ASSERT_EQ(nibble::grading::record::state().fd, -1);
  const long before = nibble::grading::record::state().seq;
  EXPECT_NEAR(1.0, 1.0 + 1e-13, 1e-12);  // records nothing, checks as usual
  EXPECT_EQ(nibble::grading::record::state().seq, before);
}

TEST(GradedRecord, TheComparatorAcceptsARunAgainstItselfAndRejectsAnotherValue) {
  const std::string nonce = "00112233445566778899aabbccddeeff", test = "X.Y";
  const auto run = [&](double v) {
    return "S " + nonce + " " + test + "\n" + recorded([v] { EXPECT_NEAR(v, 2.0, 0.5); }) + "E " + nonce + " " +
           test + " 1 pass\n";
  };
  const nibble::course::RecordedRun ref = nibble::course::parse_recorded_run(run(2.0), nonce, test);
  ASSERT_TRUE(ref.valid) << ref.problem;
  EXPECT_TRUE(nibble::course::compare_runs(nibble::course::parse_recorded_run(run(2.25), nonce, test), ref).pass);
  // Made-up values in the student's process that gtest itself would accept (the expected side is
  // what the process says): the comparator sees that 9 is not the reference's 2.
  const std::string forged = "S " + nonce + " " + test + "\n" +
                             recorded([] { EXPECT_NEAR(9.0, 9.0, 0.5); }) + "E " + nonce + " " + test + " 1 pass\n";
  // The forged record comes from another source line: make it the reference's line to test the values.
  const auto s = nibble::course::parse_recorded_run(forged, nonce, test);
  ASSERT_TRUE(s.valid);
  auto fake = s;
  fake.assertions[0].line = ref.assertions[0].line;
  const nibble::course::Verdict v = nibble::course::compare_runs(fake, ref);
  EXPECT_FALSE(v.pass);
  EXPECT_NE(v.reason.find("neither value"), std::string::npos) << v.reason;
}

}  // namespace
