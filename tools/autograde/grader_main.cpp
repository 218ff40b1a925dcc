// The main() of the module test programs in the autograder's tree (-DNIBBLE_GRADER_MAIN=ON), in place
// of gtest_main. The grader runs one test per process and gives it, in the environment, a fresh random
// nonce and the number of a file descriptor open on a report file only the grader reads. At the end of
// the test this listener writes one line there:
//   nibble-grade <nonce> <Suite.Name> pass|fail
// The grader counts a pass only when the process exited normally with status 0 AND this line carries
// the nonce and the test it asked for. What this does and does not defend: tools/autograde/SECURITY.md.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace {

class NonceListener : public ::testing::EmptyTestEventListener {
 public:
  NonceListener(std::string nonce, int fd) : nonce_(std::move(nonce)), fd_(fd) {}

  void OnTestEnd(const ::testing::TestInfo& info) override {
    const ::testing::TestResult* r = info.result();
    const bool passed = r->Passed() && !r->Skipped();
    const std::string line = "nibble-grade " + nonce_ + " " + info.test_suite_name() + "." + info.name() +
                             (passed ? " pass\n" : " fail\n");
    size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  }

 private:
  std::string nonce_;
  int fd_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* nonce = std::getenv("NIBBLE_GRADE_NONCE");
  const char* fd = std::getenv("NIBBLE_GRADE_FD");
  if (nonce != nullptr && fd != nullptr) {
    ::testing::UnitTest::GetInstance()->listeners().Append(new NonceListener(nonce, std::atoi(fd)));
  }
  // Not left lying around for the student's code that runs from here on.
  ::unsetenv("NIBBLE_GRADE_NONCE");
  ::unsetenv("NIBBLE_GRADE_FD");
  return RUN_ALL_TESTS();
}
