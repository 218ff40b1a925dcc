// `nibble test NN [--hidden] [--json]`: rebuild a module's graded tests, run them, print the points.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "commands.h"
#include "course_common.h"
#include "tools/course/grading.h"

namespace nibble::cli {

namespace {

// The first lines of a failure, indented under the test's row.
void print_message(const std::string& message, size_t max_lines) {
  std::istringstream in(message);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line == "unknown file") continue;  // gtest's location for an exception: says nothing
    if (n++ == max_lines) {
      std::printf("        ...\n");
      break;
    }
    std::printf("        %s\n", line.c_str());
  }
}

void print_grade(const course::Module& mod, const course::Grade& g) {
  std::printf("module %s %s — %s%s\n", mod.number.c_str(), mod.slug.c_str(), mod.title.c_str(),
              g.hidden ? " (hidden tests)" : "");
  size_t width = 0;
  for (const auto& t : g.tests) width = std::max(width, t.name.size());
  for (const auto& t : g.tests) {
    std::printf("  %s %-*s %3d/%d\n", t.passed ? "\u2713" : "\u2717", static_cast<int>(width), t.name.c_str(),
                t.passed ? t.points : 0, t.points);
    if (!t.passed) print_message(t.message, 6);
  }
  for (const std::string& problem : g.problems) std::printf("  error: %s\n", problem.c_str());
  std::printf("%s %s: %d/%d\n", mod.number.c_str(), mod.slug.c_str(), g.earned, g.possible);
}

}  // namespace

int test_module(const Args& args) {
  const ArgParser p("nibble test", args, {"root", "build", "timeout"}, {"json", "hidden", "no-build"}, 1);
  if (p.help()) {
    std::printf(
        "usage: nibble test NN [--json] [--hidden] [--no-build] [--timeout S] [--build DIR]\n"
        "  Rebuilds module NN's graded tests in the build tree (cmake --build DIR --target\n"
        "  module_NN_tests), runs them and prints each test's points and, for a failure, its first\n"
        "  lines with the hint; then the total, e.g. `01 entropy: 85/100`. The result is saved in\n"
        "  DIR/course/results.json for `nibble status`. Exit code 0 when every test passes.\n"
        "  --hidden   the instructor-only tests (module_NN_hidden) instead; not saved.\n"
        "  --timeout  seconds before a hanging test program is stopped (default 300).\n");
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
  else print_grade(mod, g);
  return g.complete() ? 0 : 1;
}

}  // namespace nibble::cli
