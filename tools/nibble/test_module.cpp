// `nibble test NN [--hidden] [--json]`: rebuild a module's graded tests, run them, print the points.
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "course_common.h"
#include "tools/course/feedback.h"
#include "tools/course/grading.h"

namespace nibble::cli {

int test_module(const Args& args) {
  const ArgParser p(
      "nibble test", args,
      "Rebuilds module NN's graded tests in the build tree (cmake --build DIR --target\n"
      "module_NN_tests), runs them and prints each test's points and, for a failure, the hint,\n"
      "the input, the expected and the actual value (long messages are cut in the middle);\n"
      "then the total, e.g. `01 entropy: 85/100`. The result is saved in\n"
      "DIR/course/results.json for `nibble status`. Exit code 0 when every test passes.\n"
      "Warns when a module this one builds on is not complete yet.",
      {{"verbose", "", "every line of every failure, nothing cut"},
       {"json", "", "print the result as JSON instead of the table"},
       {"hidden", "", "the instructor-only tests (module_NN_hidden) instead; not saved"},
       {"no-build", "", "run the test program as it is, without rebuilding it first"},
       {"timeout", "S", "seconds before a hanging test program is stopped (1..86400, default 300)"},
       {"root", "DIR", "the course's source tree (default: the one nibble was built from)"},
       {"build", "DIR", "the build tree holding the module tests and course/results.json"}},
      "NN");
  if (p.help()) {
    std::printf("%s", p.help_text().c_str());
    return 0;
  }
  check(!p.positional().empty(), "nibble test", "which module? e.g. `nibble test 01`",
        "`nibble modules` lists them");
  const std::string root = source_root(p);
  const std::string build = build_dir(p);
  const course::Manifest m = course_manifest(root, "nibble test");
  const course::Module& mod = m.get(module_number(p.positional()[0]));
  const bool hidden = p.flag("hidden");
  check(!hidden || !mod.hidden.empty(), "nibble test", "module " + mod.number + " has no hidden tests");
  const std::string target = course::test_target(mod, hidden);
  // Read before this run is saved; printed under the total, the last thing the student reads.
  std::vector<std::string> warnings;
  try {
    warnings = course::prerequisite_warnings(m, mod, course::load_results(build));
  } catch (const std::exception&) {
    // An unreadable results file must not block grading; saving reports it below.
  }
  if (!p.flag("no-build")) {
    const std::string log = build + "/course/" + target + ".build.log";
    course::run_command("mkdir -p " + course::shell_quote(build + "/course"));
    if (course::build_targets(build, {target}, log) != 0) {
      std::fprintf(stderr, "%s\n", course::read_text_file(log).c_str());
      fail("nibble test", "building " + target + " failed (the compiler's messages are above)",
           "fix the first error first; the log is " + log);
    }
  }
  const course::Grade g = course::run_and_grade(mod, hidden, build, static_cast<int>(p.get_int("timeout", 300, 1, kMaxTimeoutSeconds)));
  if (!hidden) {
    const std::string note = course::save_result(build, g);  // "" unless a corrupt file was moved aside
    if (!note.empty()) std::fprintf(stderr, "%s\n", note.c_str());
  }
  if (p.flag("json")) std::printf("%s\n", course::grade_to_json(g).dump().c_str());
  else std::fputs(course::format_grade(mod, g, {root, p.flag("verbose")}).c_str(), stdout);
  for (const std::string& w : warnings) std::fprintf(p.flag("json") ? stderr : stdout, "%s\n", w.c_str());
  return g.complete() ? 0 : 1;
}

}  // namespace nibble::cli
