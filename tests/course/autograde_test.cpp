// The autograder's pure parts: naming students, picking owned files (symlinks refused), results that
// must agree with their tests, the gradebook, the sandbox's verdicts (exit status, time-out, output cap).
// The whole grader over hostile submissions: tests/autograde/run_suite.py (ctest -L autograde).
#include <gtest/gtest.h>
#include <unistd.h>

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tools/course/autograde.h"
#include "tools/course/files.h"
#include "tools/course/manifest.h"

namespace nibble::course {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "nibble-ag-test.XXXXXX").string();
    path = ::mkdtemp(&t[0]);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

Module module01() {
  Module m;
  m.number = "01";
  m.slug = "entropy";
  m.owns = {"modules/01_entropy/solution/entropy.cpp", "modules/01_entropy/solution/huffman.cpp"};
  return m;
}

TEST(Autograde, StudentNamesComeFromFoldersAndArchives) {
  EXPECT_EQ(student_name("subs/alice"), "alice");
  EXPECT_EQ(student_name("subs/bob.zip"), "bob");
  EXPECT_EQ(student_name("subs/carol.tar.gz"), "carol");
  EXPECT_EQ(student_name("subs/dan.tgz"), "dan");
  EXPECT_EQ(student_name("subs/e v;il"), "e_v_il");  // never a path or shell metacharacter
  EXPECT_EQ(student_name("subs/.hidden"), "");
}

TEST(Autograde, OwnedFilesByTheStubsNameAndSymlinksRefused) {
  TempDir d;
  write(d.path + "/modules/01_entropy/entropy.cpp", "// mine");
  write(d.path + "/other/huffman.cpp", "// not at a stub's place");
  write(d.path + "/CMakeLists.txt", "not owned");
  std::vector<std::string> problems;
  auto files = owned_files_of(d.path, module01(), problems);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].first, "modules/01_entropy/solution/entropy.cpp");
  EXPECT_EQ(files[0].second, "// mine");
  EXPECT_EQ(files[1].second, "");  // missing: the grader uses the stub
  EXPECT_TRUE(problems.empty());

  TempDir flat;
  write(flat.path + "/huffman.cpp", "// flat");
  fs::create_symlink("/etc/hostname", flat.path + "/entropy.cpp");
  problems.clear();
  files = owned_files_of(flat.path, module01(), problems);
  EXPECT_EQ(files[0].second, "");
  EXPECT_EQ(files[1].second, "// flat");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("symlink"), std::string::npos) << problems[0];

  TempDir linked_dir;  // a real file under a symlinked folder is refused too
  write(linked_dir.path + "/real/entropy.cpp", "// behind a link");
  fs::create_directories(linked_dir.path + "/modules");
  fs::create_directory_symlink(linked_dir.path + "/real", linked_dir.path + "/modules/01_entropy");
  problems.clear();
  files = owned_files_of(linked_dir.path, module01(), problems);
  EXPECT_EQ(files[0].second, "");
  EXPECT_EQ(problems.size(), 1u);
}

SubmissionRecord record(const std::string& student, std::vector<bool> passed) {
  SubmissionRecord r;
  r.student = student;
  ModuleRecord m;
  m.module = "01";
  m.slug = "entropy";
  m.compiled = true;
  int k = 0;
  for (const bool p : passed) {
    TestRecord t;
    t.name = "S.T" + std::to_string(k);
    t.points = 10 + k++;
    t.passed = p;
    t.status = p ? "pass" : "fail";
    m.possible += t.points;
    if (p) m.earned += t.points;
    m.tests.push_back(t);
  }
  r.modules.push_back(m);
  return r;
}

TEST(Autograde, ResultsRoundTripAndTotalsMustMatchTheirTests) {
  const SubmissionRecord r = record("alice", {true, false, true});
  const SubmissionRecord back = submission_from_json(submission_to_json(r), "alice.json");
  EXPECT_EQ(back.earned(), 10 + 12);
  EXPECT_EQ(back.possible(), 10 + 11 + 12);
  Json j = submission_to_json(r);
  Json mods = Json::array();
  Json m0 = j["modules"].items()[0];
  m0.set("earned", 33);  // a doctored total
  mods.push_back(m0);
  j.set("modules", mods);
  EXPECT_THROW(submission_from_json(j, "doctored.json"), Error);
}

TEST(Autograde, GradebookMergesFoldersAndRefusesDuplicates) {
  TempDir a, b;
  write_outputs(a.path, record("alice", {true, true, false}));
  write_outputs(b.path, record("bob", {false, false, true}));
  const std::string csv = a.path + "/book.csv";
  EXPECT_EQ(write_gradebook({a.path, b.path}, {"01", "02"}, csv), 2u);
  EXPECT_EQ(read_text_file(csv), "student,01,02,total\nalice,21,0,21\nbob,12,0,12\n");
  write_outputs(b.path, record("alice", {true, true, true}));
  EXPECT_THROW(write_gradebook({a.path, b.path}, {"01"}, csv), Error);
  // Feedback and Gradescope: a hidden test says only pass or fail.
  SubmissionRecord h = record("carol", {false});
  h.modules[0].tests[0].hidden = true;
  h.modules[0].tests[0].message = "secret input 42";
  EXPECT_EQ(feedback_markdown(h).find("secret"), std::string::npos);
  EXPECT_EQ(gradescope_json(h)["tests"].items()[0]["output"].as_string(), "fail");
  EXPECT_EQ(gradescope_json(h)["max_score"].as_number(), 10);
}

TEST(Autograde, SandboxReportsExitTimeoutAndCapsOutput) {
  Sandbox sb;  // not as another user here: the limits and the verdicts
  sb.limits.wall_seconds = 2;
  sb.limits.cpu_seconds = 2;
  SandboxResult r = run_sandboxed({"/bin/sh", "-c", "echo hi; echo line >&3; exit 3"}, {}, sb);
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.output.find("hi"), std::string::npos);
  EXPECT_EQ(r.report, "line\n");
  r = run_sandboxed({"/bin/sh", "-c", "trap '' TERM; while :; do :; done"}, {}, sb);
  EXPECT_FALSE(r.exited);
  EXPECT_TRUE(r.timed_out || r.signal == SIGXCPU || r.signal == SIGKILL);
  sb.limits.fsize_mb = 1;
  r = run_sandboxed({"/bin/sh", "-c", "yes xxxxxxxxxxxxxxxxxxxxxxxx"}, {}, sb);
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.signal, SIGXFSZ);
  EXPECT_LE(r.output.size(), 70u * 1024);
}

}  // namespace
}  // namespace nibble::course

namespace nibble::course {
namespace {

TEST(Autograde, SandboxAsTheGraderUserWithoutNetworkAndWithMasks) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces and the nibble-grader user)";
  ASSERT_TRUE(ensure_grader_user("nibble-grader"));
  TempDir secret;
  write(secret.path + "/answer.txt", "42");
  ::chmod(secret.path.c_str(), 0755);
  Sandbox sb;
  sb.user = "nibble-grader";
  sb.masks = {secret.path};
  sb.limits.wall_seconds = 5;
  SandboxResult r = run_sandboxed(
      {"/bin/sh", "-c", "id -un; cat " + secret.path + "/answer.txt || echo masked; grep -c : /proc/net/dev; touch /etc/x || echo ro"},
      {}, sb);
  EXPECT_TRUE(r.exited) << r.output;
  EXPECT_NE(r.output.find("nibble-grader"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("42"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("masked"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\n1\n"), std::string::npos) << "only the loopback interface: " << r.output;
  EXPECT_NE(r.output.find("ro"), std::string::npos) << r.output;
  sb.limits.fsize_mb = 1;
  r = run_sandboxed({"/bin/sh", "-c", "yes xxxxxxxxxxxxxxxxxxxxxxxx"}, {}, sb);
  EXPECT_FALSE(r.exited) << r.output.size();
  EXPECT_EQ(r.signal, SIGXFSZ);
}

}  // namespace
}  // namespace nibble::course
