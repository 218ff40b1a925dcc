// Stub generation: a module's solution source with every student region replaced by a throw.
//
//   // BEGIN SOLUTION entropy_bits          (the region: from this line ...)
//   ...the reference code...
//   // END SOLUTION                         (... to this one, inclusive)
// becomes, at the BEGIN line's indentation:
//   throw nibble::NotImplemented("module 01: entropy_bits");
#pragma once

#include <string>
#include <vector>

#include "tools/course/manifest.h"

namespace nibble::course {

// solution_text: the solution's content; stub_rel_path: where the stub lives ("modules/01_x/a.cpp",
// named in the header comment); source_name: for error messages ("<file>:<line>: ...").
std::string make_stub(const std::string& solution_text, const std::string& module_number,
                      const std::string& stub_rel_path, const std::string& source_name);

struct StubStatus {
  std::string solution;  // repository-relative
  std::string stub;      // repository-relative
  bool up_to_date = false;
  std::string expected;  // what the generator produces
};

// Every owned solution of every module that has a solution/ folder under root.
// Modules without solution/ (the student edition) are skipped.
std::vector<StubStatus> check_stubs(const Manifest& manifest, const std::string& root);

}  // namespace nibble::course
