// nibble::Error — the one exception type for bad user input.
// Messages follow one pattern so students can read them at a glance:
//   "<op>: <what is wrong>: <the shapes or values involved>\n  hint: <how to fix it>"
// We never use assert() for user input: it vanishes under NDEBUG.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace nibble {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown by a course-module stub whose body the student has not written yet.
class NotImplemented : public Error {
 public:
  explicit NotImplemented(const std::string& what)
      : Error("not implemented yet: " + what +
              "\n  hint: open the module's stub file and replace the throw with your code") {}
};

// "[2, 3, 4]" — used by every error message that names a shape.
std::string shape_str(const std::vector<int64_t>& shape);

// Builds an error message "op: problem" with an optional hint line.
[[noreturn]] void fail(const std::string& op, const std::string& problem,
                       const std::string& hint = "");

// check(cond, op, problem, hint): throws nibble::Error when cond is false.
// Its arguments are evaluated on every call, so a message built with to_string / shape_str costs
// allocations even when nothing is wrong; the library itself uses NIBBLE_CHECK below.
inline void check(bool condition, const std::string& op, const std::string& problem,
                  const std::string& hint = "") {
  if (!condition) fail(op, problem, hint);
}

// NIBBLE_CHECK(cond, op, problem[, hint]): the same, but the message arguments are evaluated only
// when cond is false. Ops validate their arguments on every call, and building the message text
// eagerly (strings, shape_str) was a large part of a small op's cost; a macro is the one C++17
// way to skip evaluating arguments.
#define NIBBLE_CHECK(cond, ...)                      \
  do {                                               \
    if (!(cond)) ::nibble::fail(__VA_ARGS__);        \
  } while (0)

}  // namespace nibble
