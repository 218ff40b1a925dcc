// GRADED_TEST: a GoogleTest test that is worth points in the course.
//
//   GRADED_TEST(EntropyGraded, EntropyOfAFairCoinIsOneBit, 10) {
//     EXPECT_NEAR(nibble::entropy_bits(p), 1.0, 1e-12) << nibble::grading::hint("...");
//   }
//
// The points are recorded as the test's "points" property (visible in the XML/JSON reports the
// grader reads) and must equal the manifest's (modules/modules.manifest); a test checks that.
// The grader never trusts a score computed by student code: in its grading tree (-DNIBBLE_GRADE_RECORD)
// every assertion also records the values it compares (modules/graded_record.h), and a process that
// loads no student code compares them with the instructor's solution's (tools/autograde/SECURITY.md).
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace nibble::grading {

// The line students see under a failed expectation: "  hint: <text>".
inline std::string hint(const std::string& text) { return "\n  hint: " + text; }

}  // namespace nibble::grading

#ifdef NIBBLE_GRADE_RECORD
#include "modules/graded_record.h"
#endif

// The body becomes a plain function so the macro can record the points before it runs;
// ASSERT_* inside it still ends the test (it returns from that function).
#define GRADED_TEST(suite, name, points)                                \
  static_assert((points) > 0, "a graded test must be worth points");    \
  static void suite##_##name##_body();                                  \
  TEST(suite, name) {                                                   \
    ::testing::Test::RecordProperty("points", (points));                \
    suite##_##name##_body();                                            \
  }                                                                     \
  static void suite##_##name##_body()
