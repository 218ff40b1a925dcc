// `nibble autograde SUBMISSIONS --modules 01,02 --out GRADES`, `nibble grade-one SUBMISSION ...` and
// `nibble gradebook merge DIR... --out FILE`: the instructor's autograder (tools/course/autograde.h;
// threat model: tools/autograde/SECURITY.md).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "course_common.h"
#include "tools/course/autograde.h"

namespace nibble::cli {

namespace {

namespace fs = std::filesystem;

std::vector<std::string> split_modules(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (const char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(module_number(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

const char* kOptionsHelp =
    "  --modules 01,02  the modules to grade (each a column of the gradebook)\n"
    "  --out DIR        results/STUDENT.json, feedback/STUDENT.md, gradescope/STUDENT/results.json,\n"
    "                   gradebook.csv\n"
    "  --work DIR       the grading tree (configured and built once; default DIR/.grader)\n"
    "  --jobs N         N grading trees side by side (DIR/.grader, DIR/.grader-1, ...); on one machine\n"
    "                   they share the grader user's process limit (SECURITY.md)\n"
    "  --force          regrade submissions already graded (else they are kept: resuming)\n"
    "  --timeout S      wall-clock seconds per test process (default 30; CPU limit 20 s)\n"
    "  --compile-timeout S  CPU seconds per compile of a student's file (default 180; wall clock 3x + 30)\n"
    "  --memory MB      address-space limit per test process (default 2048)\n"
    "  --root DIR       the instructor's tree (default: the one nibble was built from)\n"
    "  Threat model and limits: tools/autograde/SECURITY.md.\n";

int run(const std::string& command, const Args& args, bool one) {
  const ArgParser p(command, args, {"modules", "out", "work", "root", "timeout", "memory", "jobs", "compile-timeout"}, {"force"}, 1);
  if (p.help()) {
    std::printf(one ? "usage: nibble grade-one SUBMISSION --modules 01[,02] --out DIR [options]\n"
                      "  Grades one submission (a folder, NAME.zip or NAME.tar.gz) exactly as `nibble autograde`\n"
                      "  does; `nibble gradebook merge` joins the results of many such runs.\n"
                    : "usage: nibble autograde SUBMISSIONS_DIR --modules 01[,02] --out DIR [options]\n"
                      "  Grades every submission in SUBMISSIONS_DIR (folders, NAME.zip, NAME.tar.gz): copies the\n"
                      "  files each student owns into the grading tree, rebuilds, runs every visible and hidden\n"
                      "  graded test alone in a sandbox, and writes the gradebook, feedback and Gradescope files.\n");
    std::printf("%s", kOptionsHelp);
    return 0;
  }
  check(p.positional().size() == 1, command, one ? "which submission?" : "which folder of submissions?",
        "see " + command + " --help");
  check(p.has("modules") && p.has("out"), command, "--modules and --out are required", "see " + command + " --help");
  course::AutogradeOptions o;
  o.root = source_root(p);
  o.modules = split_modules(p.get("modules", ""));
  check(!o.modules.empty(), command, "--modules names no module", "e.g. --modules 01,02");
  o.out = p.get("out", "");
  o.work = p.get("work", "");
  o.force = p.flag("force");
  o.limits.wall_seconds = static_cast<int>(p.get_int("timeout", 30, 1, kMaxTimeoutSeconds));
  o.limits.cpu_seconds = std::min(o.limits.wall_seconds, 20);
  o.limits.mem_mb = p.get_int("memory", 2048, 64, 1 << 20);
  o.compile_seconds = static_cast<int>(p.get_int("compile-timeout", 180, 1, kMaxTimeoutSeconds));
  const std::string input = p.positional()[0];
  std::vector<std::string> submissions;
  if (one) {
    submissions.push_back(input);
  } else {
    check(course::dir_exists(input), command, "no folder " + input);
    o.submissions_dir = input;
    for (const auto& e : fs::directory_iterator(input))
      if (!course::student_name(e.path().string()).empty()) submissions.push_back(e.path().string());
    std::sort(submissions.begin(), submissions.end());
  }
  if (::geteuid() != 0)
    std::fprintf(stderr, "warning: not root: student code runs as you, with limits but without a separate user,\n"
                         "  network or file-system isolation (tools/autograde/SECURITY.md, \"Not root\")\n");
  const course::Manifest m = course_manifest(o.root, command);
  fs::create_directories(o.out);
  // --jobs N: N grading trees (<work>, <work>-1, ...), one submission at a time each, side by side.
  const int jobs = one ? 1 : static_cast<int>(p.get_int("jobs", 1, 1, 64));
  std::printf("setting up %d grading tree%s (configured and built once)...\n", jobs, jobs == 1 ? "" : "s");
  std::fflush(stdout);
  std::vector<std::unique_ptr<course::Grader>> graders;
  for (int k = 0; k < jobs; ++k) {
    course::AutogradeOptions ok = o;
    if (k > 0) ok.work = (o.work.empty() ? o.out + "/.grader" : o.work) + "-" + std::to_string(k);
    graders.push_back(std::make_unique<course::Grader>(m, ok));
  }
  const std::string before = graders[0]->instructor_fingerprint();
  int graded = 0, skipped_n = 0, compile_errors = 0, timeouts = 0, crashes = 0, failed = 0;
  double seconds = 0;
  std::atomic<size_t> next{0};
  std::mutex mu;
  auto work = [&](course::Grader& grader) {
    for (size_t i; (i = next++) < submissions.size();) {
      const std::string& s = submissions[i];
      try {
        bool skipped = false;
        const course::SubmissionRecord r = grader.grade(s, skipped);
        bool ce = false, to = false, cr = false;
        for (const course::ModuleRecord& mr : r.modules) {
          ce = ce || !mr.compiled;
          for (const course::TestRecord& t : mr.tests) {
            to = to || t.status == "timeout";
            cr = cr || t.status == "crash";
          }
        }
        const std::lock_guard<std::mutex> lock(mu);
        if (skipped) {
          ++skipped_n;
        } else {
          ++graded;
          seconds += r.seconds;
          compile_errors += ce;
          timeouts += to;
          crashes += cr;
        }
        std::printf("[%zu/%zu] %-24s %4d/%d%s%s%s%s (%.1f s)\n", i + 1, submissions.size(), r.student.c_str(),
                    r.earned(), r.possible(), skipped ? "  (already graded)" : "", ce ? "  compile error" : "",
                    to ? "  timeout" : "", cr ? "  crash" : "", r.seconds);
      } catch (const std::exception& e) {
        const std::lock_guard<std::mutex> lock(mu);
        ++failed;  // one submission's failure never stops the run
        std::printf("[%zu/%zu] %s: not graded: %s\n", i + 1, submissions.size(), s.c_str(), e.what());
      }
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> threads;
  for (auto& g : graders) threads.emplace_back(work, std::ref(*g));
  for (std::thread& t : threads) t.join();
  const std::string after = graders[0]->instructor_fingerprint();
  const size_t rows = course::write_gradebook({o.out}, o.modules, o.out + "/gradebook.csv");
  std::printf("graded %d, already graded %d, not graded %d; with compile errors %d, timeouts %d, crashes %d;"
              " %.1f s per submission; gradebook: %s/gradebook.csv (%zu rows)\n",
              graded, skipped_n, failed, compile_errors, timeouts, crashes, graded > 0 ? seconds / graded : 0.0,
              o.out.c_str(), rows);
  check(before == after, command, "the instructor's tree changed during the run (owned solutions or tests)",
        "this must never happen: inspect " + o.root + " with git status");
  return failed == 0 ? 0 : 1;
}

}  // namespace

int autograde(const Args& args) { return run("nibble autograde", args, false); }
int grade_one(const Args& args) { return run("nibble grade-one", args, true); }

int gradebook(const Args& args) {
  const ArgParser p("nibble gradebook", args, {"out", "modules"}, {}, 1000);
  if (p.help() || p.positional().empty() || p.positional()[0] != "merge") {
    std::printf("usage: nibble gradebook merge DIR... --modules 01,02 --out FILE\n"
                "  Joins the per-submission results (DIR/results/*.json of `nibble grade-one` or\n"
                "  `nibble autograde` runs) into one gradebook.csv; a student graded twice is an error.\n");
    return p.help() ? 0 : 2;
  }
  check(p.has("out") && p.has("modules"), "nibble gradebook", "--modules and --out are required");
  const std::vector<std::string> dirs(p.positional().begin() + 1, p.positional().end());
  check(!dirs.empty(), "nibble gradebook", "which result folders?", "nibble gradebook merge grades-1 grades-2 --out all.csv");
  const size_t rows = course::write_gradebook(dirs, split_modules(p.get("modules", "")), p.get("out", ""));
  std::printf("%zu students -> %s\n", rows, p.get("out", "").c_str());
  return 0;
}

}  // namespace nibble::cli
