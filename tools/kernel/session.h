// A C++ session for notebooks: clang 16's incremental interpreter (clang::Interpreter) with
// libnibble loaded and `#include <nibble.h>` working. Shared by the Jupyter kernel (kernel.cpp) and
// the terminal notebook runner (`nibble milestone run`), so a notebook behaves the same in both.
//
// Each run() is one cell: parsed, compiled, executed, its definitions kept for later cells. A cell
// whose last line is an expression without a semicolon (`t`, `entropy_bits(p)`, `viz::line(y)`) has
// that value as its result (show.h says which types are shown). A cell that uses a name defined
// nowhere is taken back before it runs (error "LinkError"). A cell
// that fails to compile is rolled back by clang (the session goes on as before it); an exception
// escaping a cell (nibble::Error, any std::exception) is caught and reported, and the next cell runs.
// Limits: cells run on the calling thread, one at a time; C++17 (the notebooks stay xeus-cling-usable).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/display.h"

namespace nibble::repl {

struct SessionOptions {
  std::vector<std::string> include_dirs;  // -I for the cells (the repository root at least)
  std::string resource_dir;               // clang's own headers (stddef.h, ...): /usr/lib/llvm-16/lib/clang/16
  std::vector<std::string> extra_args;    // more compiler flags (-D..., -O1)
};

// The options of the tree this program was built from (set by CMake).
SessionOptions default_options();

struct CellResult {
  bool ok = true;
  MimeBundle result;         // the value of a trailing expression (no semicolon), when it can be shown
  std::string error_name;    // "CompileError", "LinkError", "nibble::Error", "std::exception", "unknown exception"
  std::string error_value;   // the compiler's diagnostics, or the exception's what()
  std::string diagnostics;   // warnings of a cell that compiled
};

class Session {
 public:
  explicit Session(const SessionOptions& options = default_options());
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  CellResult run(const std::string& code);

  // Minimal completion and inspection from the library's headers and the cells run so far.
  std::vector<std::string> complete(const std::string& prefix) const;
  std::string inspect(const std::string& word) const;  // "" when nothing is known about it

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  CellResult run_code(const std::string& code);
};

// When `code` ends in an expression statement without its semicolon (outside comments, strings and
// preprocessor lines, after the last top-level `;` or `}`), splits it into what comes before and the
// expression, and returns true.
bool split_trailing_expression(const std::string& code, std::string* before, std::string* expression);

// The identifier that ends at `cursor` in `code`, and where it starts.
std::string word_at(const std::string& code, size_t cursor, size_t* start);

}  // namespace nibble::repl
