// `nibble course-check --solution-build DIR --student-build DIR` (CI, instructors): the proof that
// every graded test (visible and hidden) of every module fails against the stubs and passes
// against the solutions, with the manifest's counts and points; plus the layout checks (folders
// vs manifest, 100 visible points per module) and stubs up to date.
#include <cstdio>

#include "commands.h"
#include "course_common.h"
#include "tools/course/grading.h"
#include "tools/course/release.h"
#include "tools/course/stubs.h"

namespace nibble::cli {

int course_check(const Args& args) {
  const ArgParser p("nibble course-check", args, {"root", "solution-build", "student-build", "timeout"}, {"no-build"});
  if (p.help()) {
    std::printf(
        "usage: nibble course-check --solution-build DIR --student-build DIR [--no-build] [--timeout S]\n"
        "  DIR of --solution-build is a normal build (solutions); --student-build one configured with\n"
        "  -DNIBBLE_STUDENT=ON (stubs). Checks: modules/ folders and the manifest agree, visible\n"
        "  points sum to 100, stubs are up to date, and every graded test (visible and hidden)\n"
        "  fails on the stubs and passes on the solutions, with the manifest's counts and points.\n"
        "  Builds the module test programs in both trees first unless --no-build. Exit 1 on failure.\n");
    return 0;
  }
  check(!p.get("solution-build", "").empty() && !p.get("student-build", "").empty(), "nibble course-check",
        "--solution-build DIR and --student-build DIR are required", "run `nibble course-check --help`");
  const std::string root = source_root(p);
  const std::string sol_build = p.get("solution-build", "");
  const std::string stu_build = p.get("student-build", "");
  const int timeout = static_cast<int>(p.get_int("timeout", 300, 1, kMaxTimeoutSeconds));
  const course::Manifest m = course_manifest(root, "nibble course-check");
  bool ok = true;

  const auto layout = course::check_layout(m, root);
  for (const std::string& problem : layout) std::printf("layout: %s\n", problem.c_str());
  if (layout.empty()) std::printf("layout: %zu modules, folders and manifest agree, 100 visible points each\n", m.modules.size());
  ok = ok && layout.empty();

  size_t stale = 0;
  for (const auto& s : course::check_stubs(m, root))
    if (!s.up_to_date) {
      std::printf("stubs: %s differs from what `nibble sync-stubs` generates from %s\n", s.stub.c_str(), s.solution.c_str());
      ++stale;
    }
  if (stale == 0) std::printf("stubs: up to date\n");
  ok = ok && stale == 0;

  if (!p.flag("no-build")) {
    std::vector<std::string> targets;
    for (const course::Module& mod : m.modules) {
      targets.push_back(course::test_target(mod, false));
      if (!mod.hidden.empty()) targets.push_back(course::test_target(mod, true));
    }
    for (const std::string& b : {sol_build, stu_build}) {
      course::run_command("mkdir -p " + course::shell_quote(b + "/course"));
      const std::string log = b + "/course/course-check.build.log";
      if (!targets.empty() && course::build_targets(b, targets, log) != 0) {
        std::fprintf(stderr, "%s\n", course::read_text_file(log).c_str());
        fail("nibble course-check", "building the module tests in " + b + " failed (the log is above)");
      }
    }
  }

  for (const course::Module& mod : m.modules) {
    size_t total = 0;
    std::vector<std::string> problems;
    for (const bool hidden : {false, true}) {
      const auto& listed = hidden ? mod.hidden : mod.graded;
      if (listed.empty()) continue;
      total += listed.size();
      const char* kind = hidden ? "hidden" : "visible";
      const course::Grade sol = course::run_and_grade(mod, hidden, sol_build, timeout);
      const course::Grade stu = course::run_and_grade(mod, hidden, stu_build, timeout);
      for (const std::string& pr : sol.problems) problems.push_back(std::string("solutions, ") + kind + ": " + pr);
      for (const std::string& pr : stu.problems) problems.push_back(std::string("stubs, ") + kind + ": " + pr);
      for (const auto& t : sol.tests)
        if (!t.passed && t.ran)
          problems.push_back(t.name + " fails on the solutions: " + t.message.substr(0, t.message.find('\n', 200)));
      for (const auto& t : stu.tests)
        if (t.passed) problems.push_back(t.name + " passes on the stubs (it grades nothing the student writes)");
    }
    if (problems.empty()) {
      std::printf("%s %s: %zu graded tests (%zu visible, %zu hidden): all fail on stubs, all pass on solutions\n",
                  mod.number.c_str(), mod.slug.c_str(), total, mod.graded.size(), mod.hidden.size());
    } else {
      ok = false;
      std::printf("%s %s: FAILED\n", mod.number.c_str(), mod.slug.c_str());
      for (const std::string& pr : problems) std::printf("  %s\n", pr.c_str());
    }
  }
  std::printf("course-check: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace nibble::cli
