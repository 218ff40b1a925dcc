// The main() of the module test programs in the autograder's tree (-DNIBBLE_GRADER_MAIN=ON, which also
// builds them with -DNIBBLE_GRADE_RECORD), in place of gtest_main. The grader runs one test per
// process and gives it, in the environment, a fresh random nonce and the number of a file descriptor
// open on a report file only the grader reads. On that descriptor this listener writes
//   S <nonce> <Suite.Name>                        when the test starts,
//   A <seq> <line> <kind> <values...>             one per assertion (modules/graded_record.h),
//   E <nonce> <Suite.Name> <count> pass|fail      when the test ends (count = assertions recorded).
// None of it is trusted by itself: the grader compares the values with those of the same test run
// against the instructor's solution (tools/course/grade_compare.h). What this does and does not
// defend: tools/autograde/SECURITY.md.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "modules/graded.h"

namespace {

namespace rec = nibble::grading::record;

class RecordListener : public ::testing::EmptyTestEventListener {
 public:
  explicit RecordListener(std::string nonce) : nonce_(std::move(nonce)) {}

  void OnTestStart(const ::testing::TestInfo& info) override {
    rec::state().seq = 0;
    write("S " + nonce_ + " " + info.test_suite_name() + "." + info.name() + "\n");
  }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    const ::testing::TestResult* r = info.result();
    const bool passed = r->Passed() && !r->Skipped();
    write("E " + nonce_ + " " + info.test_suite_name() + "." + info.name() + " " +
          std::to_string(rec::state().seq) + (passed ? " pass\n" : " fail\n"));
  }

 private:
  static void write(const std::string& line) { rec::emit(line.data(), line.size()); }
  std::string nonce_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* nonce = std::getenv("NIBBLE_GRADE_NONCE");
  const char* fd = std::getenv("NIBBLE_GRADE_FD");
  if (nonce != nullptr && fd != nullptr) {
    rec::state().fd = std::atoi(fd);
    ::testing::UnitTest::GetInstance()->listeners().Append(new RecordListener(nonce));
  }
  // Not left lying around for the student's code that runs from here on (it can still find them in
  // memory: nothing here is secret from the student's process, SECURITY.md).
  ::unsetenv("NIBBLE_GRADE_NONCE");
  ::unsetenv("NIBBLE_GRADE_FD");
  return RUN_ALL_TESTS();
}
