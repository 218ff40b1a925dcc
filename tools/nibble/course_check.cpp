// `nibble course-check --solution-build DIR --student-build DIR` (CI, instructors): the proof that
// every graded test (visible and hidden) of every module fails against the stubs and passes
// against the solutions, with the manifest's counts and points; plus the layout checks (folders
// vs manifest, 100 visible points per module) and stubs up to date. With --mutant-build, also that
// every mutant (modules/NN_slug/mutants/*.patch) loses points; it writes the table to MUTANTS.md.
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "course_common.h"
#include "tools/course/grading.h"
#include "tools/course/mutants.h"
#include "tools/course/release.h"
#include "tools/course/stubs.h"

namespace nibble::cli {

namespace {

// The mutant proof for one module; prints one line per mutant that fails and a summary.
bool check_module_mutants(const course::Module& mod, const std::string& root, const std::vector<std::string>& builds,
                          const std::string& only, int timeout, double& seconds, size_t& count) {
  const course::MutantCheck r = course::check_mutants(mod, root, builds, only, timeout, [&](const course::MutantOutcome& o) {
    if (!o.problem.empty()) std::printf("  mutant %s: %s\n", o.name.c_str(), o.problem.c_str());
    std::fflush(stdout);
  });
  for (const std::string& pr : r.problems) std::printf("  mutants: %s\n", pr.c_str());
  seconds += r.seconds;
  count += r.outcomes.size();
  if (r.outcomes.empty() && r.problems.empty()) {
    std::printf("%s %s: no mutants\n", mod.number.c_str(), mod.slug.c_str());
    return true;
  }
  size_t visible = 0, hidden = 0, bad = 0;
  double build_run = 0.0;
  for (const course::MutantOutcome& o : r.outcomes) {
    visible += o.graded && o.visible_lost > 0;
    hidden += o.graded && o.visible_lost == 0 && o.hidden_lost > 0;
    bad += !o.problem.empty();
    build_run += o.seconds;
  }
  std::printf("%s %s: %zu mutants: %zu caught by the visible tests, %zu only by the hidden ones, %zu %s"
              " (%.1f s; one mutant takes %.2f s)\n",
              mod.number.c_str(), mod.slug.c_str(), r.outcomes.size(), visible, hidden, bad,
              bad == 1 ? "fails" : "fail", r.seconds, r.outcomes.empty() ? 0.0 : build_run / r.outcomes.size());
  if (r.all_ran) {
    const std::string path = root + "/" + mod.dir() + "/MUTANTS.md";
    const std::string table = course::mutants_table(mod, r.outcomes);
    if (!course::file_exists(path) || course::read_text_file(path) != table) {
      course::write_file_atomic(path, table);
      std::printf("  wrote %s/MUTANTS.md\n", mod.dir().c_str());
    }
  }
  return r.ok();
}

}  // namespace

int course_check(const Args& args) {
  const ArgParser p(
      "nibble course-check", args,
      "The instructor's proof that the graded tests can be trusted. Checks: modules/ folders and\n"
      "the manifest agree, visible points sum to 100, stubs are up to date, and every graded test\n"
      "(visible and hidden) fails on the stubs and passes on the solutions, with the manifest's\n"
      "counts and points. With --mutant-build, each mutant (modules/NN_slug/mutants/*.patch) is\n"
      "applied to a copy of its solution file, rebuilt and graded: it must lose visible points\n"
      "(hidden ones when labelled `caught: hidden`); the table goes to modules/NN_slug/MUTANTS.md.\n"
      "The solution and student builds are optional with --mutant-build (give both or neither).\n"
      "Builds the module test programs in the trees first unless --no-build. Exit 1 on failure.",
      {{"solution-build", "DIR", "a normal build tree (solutions)"},
       {"student-build", "DIR", "a tree configured with -DNIBBLE_STUDENT=ON (stubs)"},
       {"mutant-build", "DIR[,DIR...]",
        "trees configured with -DNIBBLE_MUTANT_TREE=ON; several share the mutants side by side"},
       {"module", "NN", "only that module's tests and mutants"},
       {"mutant", "NAME", "only the mutants whose name contains NAME (MUTANTS.md is left alone)"},
       {"no-mutants", "", "skip the mutants"},
       {"no-build", "", "use the trees as they are"},
       {"timeout", "S", "seconds before a hanging test program is stopped (1..86400, default 300)"},
       {"root", "DIR", "the course's source tree (default: the one nibble was built from)"}});
  if (p.help()) {
    std::printf("%s", p.help_text().c_str());
    return 0;
  }
  const std::string sol_build = p.get("solution-build", "");
  const std::string stu_build = p.get("student-build", "");
  const std::string mut_build = p.flag("no-mutants") ? std::string() : p.get("mutant-build", "");
  std::vector<std::string> mut_builds;
  for (size_t a = 0; !mut_build.empty() && a <= mut_build.size();) {
    const size_t comma = std::min(mut_build.find(',', a), mut_build.size());
    if (comma > a) mut_builds.push_back(mut_build.substr(a, comma - a));
    a = comma + 1;
  }
  const bool stubs_proof = !sol_build.empty() || !stu_build.empty();
  check(sol_build.empty() == stu_build.empty(), "nibble course-check",
        "--solution-build DIR and --student-build DIR go together", "run `nibble course-check --help`");
  check(stubs_proof || !mut_build.empty(), "nibble course-check",
        "--solution-build DIR and --student-build DIR (or --mutant-build DIR) are required",
        "run `nibble course-check --help`");
  const std::string root = source_root(p);
  const int timeout = static_cast<int>(p.get_int("timeout", 300, 1, kMaxTimeoutSeconds));
  const course::Manifest m = course_manifest(root, "nibble course-check");
  std::vector<course::Module> modules = m.modules;
  if (!p.get("module", "").empty()) modules = {m.get(module_number(p.get("module", "")))};
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
    for (const course::Module& mod : modules) {
      targets.push_back(course::test_target(mod, false));
      if (!mod.hidden.empty()) targets.push_back(course::test_target(mod, true));
    }
    std::vector<std::string> builds;
    if (stubs_proof) builds = {sol_build, stu_build};
    builds.insert(builds.end(), mut_builds.begin(), mut_builds.end());
    for (const std::string& b : builds) {
      course::run_command("mkdir -p " + course::shell_quote(b + "/course"));
      const std::string log = b + "/course/course-check.build.log";
      if (!targets.empty() && course::build_targets(b, targets, log) != 0) {
        std::fprintf(stderr, "%s\n", course::read_text_file(log).c_str());
        fail("nibble course-check", "building the module tests in " + b + " failed (the log is above)");
      }
    }
  }

  for (const course::Module& mod : modules) {
    if (!stubs_proof) break;
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

  if (!mut_build.empty()) {
    std::printf("mutants: each is applied in one of %s, rebuilt and graded\n", mut_build.c_str());
    std::fflush(stdout);
    double seconds = 0.0;
    size_t count = 0;
    for (const course::Module& mod : modules)
      ok = check_module_mutants(mod, root, mut_builds, p.get("mutant", ""), std::min(timeout, 120), seconds, count) && ok;
    std::printf("mutants: %zu in %.1f s with %zu tree%s (%.2f s per mutant, including the baseline builds)\n", count,
                seconds, mut_builds.size(), mut_builds.size() == 1 ? "" : "s",
                count == 0 ? 0.0 : seconds / static_cast<double>(count));
  } else {
    size_t count = 0;
    for (const course::Module& mod : modules) count += course::load_mutants(mod, root).mutants.size();
    if (count > 0) std::printf("mutants: %zu not checked (give --mutant-build DIR)\n", count);
  }
  std::printf("course-check: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace nibble::cli
