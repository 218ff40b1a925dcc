// What a student sees after `nibble test NN`: for each failed graded test the hint, the input, the
// expected and the actual value — long messages are trimmed in the middle, hint lines never — and,
// when the student's code threw, the student's function and the file to open, e.g.
//   module 01: entropy_bits is not implemented yet (modules/01_entropy/entropy.cpp)
// Also the prerequisite warnings `nibble test` and `nibble status` print.
#pragma once

#include <string>
#include <vector>

#include "tools/course/grading.h"
#include "tools/course/json.h"
#include "tools/course/manifest.h"

namespace nibble::course {

struct FeedbackOptions {
  std::string root;      // the source tree: paths are shown relative to it, stubs are looked up in it
  bool verbose = false;  // every line of every failure as gtest wrote it, nothing trimmed
};

// One gtest failure ("file:line\n<message>", as in the JSON report) as the lines a student reads.
std::vector<std::string> failure_lines(const std::string& failure, const Module& mod, const FeedbackOptions& opt);

// The whole block `nibble test NN` prints: a row per test (✓/✗, points), the failures' lines
// indented under it, the problems, and the total `01 entropy: 85/100`.
std::string format_grade(const Module& mod, const Grade& g, const FeedbackOptions& opt);

// One line per prerequisite of `mod` that is not complete in the saved results (never run, or
// less than full points), naming it and the command to run, e.g.
//   warning: module 02 builds on module 01 (entropy), which has 85/100: finish it first (`nibble test 01`)
std::vector<std::string> prerequisite_warnings(const Manifest& m, const Module& mod, const Json& results);

}  // namespace nibble::course
