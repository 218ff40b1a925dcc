// `nibble sync-stubs [--check]` (instructors): regenerate every module's stub sources from solution/.
#include <cstdio>

#include "commands.h"
#include "course_common.h"
#include "tools/course/stubs.h"

namespace nibble::cli {

int sync_stubs(const Args& args) {
  const ArgParser p("nibble sync-stubs", args,
                    "For every owned modules/NN_slug/solution/X.cpp (modules/modules.manifest) writes the stub\n"
                    "modules/NN_slug/X.cpp: the solution with each `// BEGIN SOLUTION name` ... `// END SOLUTION`\n"
                    "region replaced by `throw nibble::NotImplemented(\"module NN: name\");`.",
                    {{"check", "", "write nothing; list the stubs that differ and exit 1 if any do"},
                     {"root", "DIR", "the course's source tree (default: the one nibble was built from)"}});
  if (p.help()) {
    std::printf("%s", p.help_text().c_str());
    return 0;
  }
  const std::string root = source_root(p);
  const course::Manifest m = course_manifest(root, "nibble sync-stubs");
  const auto all = course::check_stubs(m, root);
  size_t differ = 0;
  for (const auto& s : all) {
    if (s.up_to_date) continue;
    ++differ;
    if (p.flag("check")) {
      std::printf("out of date: %s (from %s)\n", s.stub.c_str(), s.solution.c_str());
    } else {
      course::write_file_atomic(root + "/" + s.stub, s.expected);
      std::printf("wrote %s\n", s.stub.c_str());
    }
  }
  if (all.empty()) std::printf("no solution/ folders here (the student edition has none): nothing to do\n");
  else if (p.flag("check") && differ > 0)
    std::printf("%zu of %zu stubs differ from their solutions; run `nibble sync-stubs`\n", differ, all.size());
  else
    std::printf("%zu stubs %s\n", all.size(), differ == 0 ? "up to date" : "checked");
  return p.flag("check") && differ > 0 ? 1 : 0;
}

}  // namespace nibble::cli
