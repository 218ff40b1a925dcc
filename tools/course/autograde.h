// The instructor's autograder: `nibble autograde` (a folder of submissions) and `nibble grade-one`
// (one submission) share grade_submission(). Threat model and defences: tools/autograde/SECURITY.md.
//
//   AutogradeOptions o; o.root = ...; o.modules = {"01"}; o.out = "grades";
//   Grader g(manifest, o);                   // configures + builds the grading tree once
//   g.grade("students/alice");              // writes grades/results/alice.json, feedback, results.json
//   write_gradebook({"grades"}, modules, "grades/gradebook.csv");
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tools/course/grade_compare.h"
#include "tools/course/json.h"
#include "tools/course/manifest.h"

namespace nibble::course {

// Limits of one sandboxed test process.
struct SandboxLimits {
  int cpu_seconds = 20;
  int wall_seconds = 30;
  long mem_mb = 2048;       // address space
  long fsize_mb = 16;       // any file it writes, its captured output included
  int nproc = 64;           // processes and threads of the grader user
  int nofile = 64;
};

struct SandboxResult {
  bool exited = false;     // normally, with exit_code
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  std::string output;      // stdout+stderr, at most 64 KiB (head and tail kept)
  std::string report;      // what the trusted listener wrote on the report descriptor (at most 64 KiB)
  std::string json;        // the gtest JSON report the process wrote (messages only; never scored)
};

struct Sandbox {
  std::string user;                 // run as this user (root only); "" = as ourselves, not isolated
  std::vector<std::string> masks;   // folders hidden under empty tmpfs mounts (root only)
  SandboxLimits limits;
};

// Runs argv (argv[0] an absolute path) in a fresh temporary working folder, removed afterwards. As root:
// new mount, network, PID and IPC namespaces, `masks` hidden, then as `user` with rlimits and no new
// privileges; the wall clock kills the whole PID namespace. File descriptor 3 is the report file;
// `env` entries are NAME=value.
SandboxResult run_sandboxed(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                            const Sandbox& sb);

struct AutogradeOptions {
  std::string root;                  // the instructor's tree (read only)
  std::vector<std::string> modules;  // "01", "02"
  std::string out;                   // results/, feedback/, gradescope/, gradebook.csv
  std::string work;                  // the grading tree; default <out>/.grader
  std::string submissions_dir;       // hidden from student code too (other students' files)
  bool force = false;                // regrade finished submissions
  int compile_seconds = 180;
  SandboxLimits limits;
  std::string cmake_extra;           // e.g. "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache" for the trusted parts
};

struct TestRecord {
  std::string name;
  bool hidden = false;
  int points = 0;
  bool passed = false;
  std::string status;   // "pass", "fail", "timeout", "crash", "compile error"
  std::string message;  // for the student (visible tests only)
};

struct ModuleRecord {
  std::string module, slug;
  int earned = 0, possible = 0;
  bool compiled = false;
  std::string compile_errors;  // the compiler's first errors, capped
  std::vector<TestRecord> tests;
};

struct SubmissionRecord {
  std::string student;
  std::vector<std::string> problems;  // rejected files (symlinks, ../ paths), unreadable archive
  std::vector<ModuleRecord> modules;
  double seconds = 0;
  int earned() const;
  int possible() const;
};

Json submission_to_json(const SubmissionRecord& r);
SubmissionRecord submission_from_json(const Json& j, const std::string& what);

// "alice" for students/alice, students/alice.zip, students/alice.tar.gz; "" when it is none of these.
std::string student_name(const std::string& path);

// Every owned file of the module, as the student wrote it or "" when the submission lacks it:
// the stub's name modules/NN_slug/X.cpp, NN_slug/X.cpp or X.cpp in the submission's top folder.
// Symlinks and files outside the folder are refused (recorded in problems).
std::vector<std::pair<std::string, std::string>> owned_files_of(const std::string& folder, const Module& mod,
                                                               std::vector<std::string>& problems);

class Grader {
 public:
  Grader(const Manifest& m, AutogradeOptions o);  // sets up (configures, builds) the grading tree
  ~Grader();
  Grader(const Grader&) = delete;
  Grader& operator=(const Grader&) = delete;
  // Grades one submission (folder or archive) unless already graded (and not force); returns its record.
  SubmissionRecord grade(const std::string& submission, bool& skipped);
  // Content hashes of the instructor's owned solutions, hidden and visible tests: must not change.
  std::string instructor_fingerprint() const;
  const AutogradeOptions& options() const { return opt_; }

 private:
  ModuleRecord grade_module(const Module& mod, const std::vector<std::pair<std::string, std::string>>& files,
                            const std::string& student);
  // Writes every owned copy for grading `graded`; returns (copy path, text) of each.
  std::vector<std::pair<std::string, std::string>> set_owned(const Module& graded,
                                                             const std::vector<std::pair<std::string, std::string>>& files);
  std::string unpack(const std::string& submission, const std::string& student, std::vector<std::string>& problems);
  // Runs every graded test of the selected modules against the instructor's solutions (the library as
  // the constructor built it, no student code) and keeps what each assertion recorded: the values the
  // students' runs are compared with. Cached in <work>/reference (root only, hidden from students),
  // keyed by the test program's and the library's bytes.
  void record_references();

  const Manifest& m_;
  AutogradeOptions opt_;
  int lock_fd_ = -1;  // an exclusive flock on <work>/lock: one grader per grading tree
  std::string build_;
  Sandbox sandbox_;
  std::map<std::string, RecordedRun> reference_;  // "<test program>/<Suite.Name>"
};

// Writes <out>/feedback/<student>.md, <out>/gradescope/<student>/results.json, <out>/results/<student>.json.
void write_outputs(const std::string& out, const SubmissionRecord& r);
std::string feedback_markdown(const SubmissionRecord& r);
Json gradescope_json(const SubmissionRecord& r);

// gradebook.csv from every <dir>/results/*.json: student, a column per module, total. Returns the rows.
size_t write_gradebook(const std::vector<std::string>& dirs, const std::vector<std::string>& modules,
                       const std::string& csv_path);

// Creates the system user `name` when missing (root only). Returns false when not root.
bool ensure_grader_user(const std::string& name);

}  // namespace nibble::course
