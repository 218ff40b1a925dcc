#include "tools/course/autograde.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "tools/course/feedback.h"
#include "tools/course/files.h"
#include "tools/course/grading.h"

namespace nibble::course {

namespace fs = std::filesystem;

namespace {

constexpr size_t kOutputCap = 64 * 1024;
constexpr size_t kMessageCap = 4000;
constexpr size_t kReportCap = 16u << 20;  // the assertion records of one test (the file-size limit too)

// The file, at most cap bytes: the head and the tail when longer.
std::string read_capped(const std::string& path, size_t cap) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(std::max<std::streamoff>(0, in.tellg()));
  in.seekg(0);
  std::string s;
  if (size <= cap) {
    s.resize(size);
    in.read(&s[0], static_cast<std::streamsize>(size));
    return s;
  }
  std::string head(cap / 2, '\0'), tail(cap / 2, '\0');
  in.read(&head[0], static_cast<std::streamsize>(head.size()));
  in.seekg(static_cast<std::streamoff>(size - tail.size()));
  in.read(&tail[0], static_cast<std::streamsize>(tail.size()));
  return head + "\n[... " + std::to_string(size - cap) + " bytes cut ...]\n" + tail;
}

std::string cap_text(const std::string& s, size_t cap) {
  if (s.size() <= cap) return s;
  return s.substr(0, cap / 2) + "\n[... cut ...]\n" + s.substr(s.size() - cap / 2);
}

std::string random_hex(size_t bytes) {
  std::random_device rd;  // /dev/urandom
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned v = rd() & 0xffu;
    s += kHex[v >> 4];
    s += kHex[v & 15];
  }
  return s;
}

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (const unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string make_temp_dir(const std::string& pattern) {
  std::string t = pattern;
  check(::mkdtemp(&t[0]) != nullptr, "autograde", "cannot create a temporary folder " + pattern,
        std::strerror(errno));
  return t;
}

void remove_tree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);  // does not follow symlinks
}

[[noreturn]] void child_fail(const char* what) {
  const std::string m = std::string("nibble sandbox: ") + what + ": " + std::strerror(errno) + "\n";
  if (::write(2, m.data(), m.size()) < 0) {
  }
  ::_exit(125);
}

void set_limit(int resource, rlim_t value) {
  const struct rlimit r = {value, value};
  if (::setrlimit(resource, &r) != 0) child_fail("setrlimit");
}

}  // namespace

SandboxResult run_sandboxed(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                            const Sandbox& sb) {
  check(!argv.empty(), "run_sandboxed", "nothing to run");
  const bool root = ::geteuid() == 0 && !sb.user.empty();
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  if (root) {
    const struct passwd* pw = ::getpwnam(sb.user.c_str());
    check(pw != nullptr, "run_sandboxed", "no user " + sb.user, "create it: useradd --system " + sb.user);
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  // The student's working folder (theirs) and the private folder of its output and report (ours).
  const std::string work = make_temp_dir("/tmp/nibble-run.XXXXXX");
  const std::string priv = make_temp_dir("/tmp/nibble-priv.XXXXXX");
  struct CleanUp {
    std::string a, b;
    ~CleanUp() {
      remove_tree(a);
      remove_tree(b);
    }
  } clean_up{work, priv};
  if (root && ::chown(work.c_str(), uid, gid) != 0) fail("run_sandboxed", "cannot chown " + work);
  ::chmod(priv.c_str(), 0700);
  const std::string out_path = priv + "/output", rep_path = priv + "/report", json_path = work + "/report.json";
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int rep_fd = ::open(rep_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int status_pipe[2];
  check(out_fd >= 0 && rep_fd >= 0 && ::pipe2(status_pipe, O_CLOEXEC) == 0, "run_sandboxed",
        "cannot open the output files in " + priv);

  std::vector<std::string> args = argv;
  args.push_back("--gtest_output=json:" + json_path);
  std::vector<char*> cargv;
  for (std::string& a : args) cargv.push_back(&a[0]);
  cargv.push_back(nullptr);
  std::vector<std::string> envs = {"PATH=/usr/bin:/bin", "HOME=" + work, "TMPDIR=" + work, "LANG=C.UTF-8",
                                   "OMP_NUM_THREADS=1", "OMP_WAIT_POLICY=passive"};
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cenv;
  for (std::string& e : envs) cenv.push_back(&e[0]);
  cenv.push_back(nullptr);
  const SandboxLimits lim = sb.limits;

  const pid_t mid = ::fork();
  check(mid >= 0, "run_sandboxed", "fork failed", std::strerror(errno));
  if (mid == 0) {
    // The intermediate process (trusted code): namespaces, masks, then the student's process as PID 1
    // of a new PID namespace, so that killing it kills every process it started.
    ::close(status_pipe[0]);
    ::setpgid(0, 0);
    if (root) {
      if (::unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC) != 0) child_fail("unshare");
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) child_fail("mount --make-rprivate /");
      for (const std::string& m : sb.masks) {
        struct stat st;
        if (::stat(m.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (::mount("nibble-masked", m.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=755") != 0)
          child_fail("mount tmpfs");
      }
    }
    // PID 1 of the new namespace is a trusted init (the kernel drops default-action signals such as
    // SIGXFSZ and SIGXCPU sent to a namespace's init, so the student's process must not be PID 1): it
    // starts the student's process, reaps orphans until that one ends, passes its raw status on.
    int init_pipe[2];
    if (::pipe2(init_pipe, O_CLOEXEC) != 0) child_fail("pipe2");
    const pid_t kid = ::fork();
    if (kid < 0) child_fail("fork");
    if (kid == 0 && root) {
      ::close(init_pipe[0]);
      const pid_t test = ::fork();
      if (test < 0) child_fail("fork");
      if (test > 0) {
        int st = 0;
        for (;;) {
          const pid_t w = ::wait(&st);
          if (w == test) break;
          if (w < 0 && errno != EINTR) ::_exit(125);
        }
        if (::write(init_pipe[1], &st, sizeof st) != static_cast<ssize_t>(sizeof st)) ::_exit(126);
        ::_exit(0);  // every other process of the namespace dies with its init
      }
    }
    if (kid == 0) {
      ::close(init_pipe[1]);
      if (::dup2(out_fd, 1) < 0 || ::dup2(out_fd, 2) < 0 || ::dup2(rep_fd, 3) < 0) child_fail("dup2");
      const int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      if (::chdir(work.c_str()) != 0) child_fail("chdir");
      set_limit(RLIMIT_CPU, static_cast<rlim_t>(lim.cpu_seconds));
      set_limit(RLIMIT_AS, static_cast<rlim_t>(lim.mem_mb) << 20);
      set_limit(RLIMIT_FSIZE, static_cast<rlim_t>(lim.fsize_mb) << 20);
      set_limit(RLIMIT_NOFILE, static_cast<rlim_t>(lim.nofile));
      set_limit(RLIMIT_CORE, 0);
      if (root) {
        if (::setgroups(0, nullptr) != 0) child_fail("setgroups");
        if (::setgid(gid) != 0) child_fail("setgid");
        set_limit(RLIMIT_NPROC, static_cast<rlim_t>(lim.nproc));
        if (::setuid(uid) != 0) child_fail("setuid");
        if (::setuid(0) == 0) child_fail("still root");
      } else {
        set_limit(RLIMIT_NPROC, static_cast<rlim_t>(lim.nproc) + 4096);  // shares our user's count
      }
      ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      // Default dispositions (a caller such as Python ignores SIGXFSZ and SIGPIPE, and exec keeps
      // "ignored"): an output flood must end with SIGXFSZ, not with writes failing quietly.
      for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execve(cargv[0], cargv.data(), cenv.data());
      child_fail("execve");
    }
    ::close(init_pipe[1]);
    // Wait with the wall clock; on time-out kill the namespace's init (all of it dies with it).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(lim.wall_seconds);
    int st = 0;
    int timed_out = 0;
    for (;;) {
      const pid_t w = ::waitpid(kid, &st, WNOHANG);
      if (w == kid) break;
      if (w < 0 && errno != EINTR) child_fail("waitpid");
      if (std::chrono::steady_clock::now() > deadline) {
        timed_out = 1;
        ::kill(kid, SIGKILL);
        if (!root) ::kill(-::getpgrp(), SIGKILL);  // no PID namespace: the process group (we die too)
        ::waitpid(kid, &st, 0);
        break;
      }
      ::usleep(2000);
    }
    if (root && !timed_out) {
      // The student's process's own status, from the init (when the init itself ended normally).
      int test_status = 0;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
          ::read(init_pipe[0], &test_status, sizeof test_status) == static_cast<ssize_t>(sizeof test_status))
        st = test_status;
      else
        st = 0x7f00;  // "exited 127": the sandbox itself failed
    }
    const int msg[2] = {st, timed_out};
    if (::write(status_pipe[1], msg, sizeof msg) != static_cast<ssize_t>(sizeof msg)) ::_exit(126);
    ::_exit(0);
  }
  ::close(status_pipe[1]);
  ::close(out_fd);
  ::close(rep_fd);
  int msg[2] = {0, 0};
  const ssize_t got = ::read(status_pipe[0], msg, sizeof msg);
  ::close(status_pipe[0]);
  int mst = 0;
  while (::waitpid(mid, &mst, 0) < 0 && errno == EINTR) {
  }
  if (got != static_cast<ssize_t>(sizeof msg)) {
    // The intermediate died without its word (killed with the process group on a non-root time-out).
    msg[0] = SIGKILL;
    msg[1] = 1;
  }
  SandboxResult r;
  r.timed_out = msg[1] != 0;
  if (!r.timed_out && WIFEXITED(msg[0])) {
    r.exited = true;
    r.exit_code = WEXITSTATUS(msg[0]);
  } else if (WIFSIGNALED(msg[0])) {
    r.signal = WTERMSIG(msg[0]);
  }
  r.output = read_capped(out_path, kOutputCap);
  r.report = read_capped(rep_path, kReportCap);  // over the cap: head and tail, which no longer parse
  struct stat st;
  if (::lstat(json_path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) r.json = read_capped(json_path, 4 * kOutputCap);
  return r;
}

bool ensure_grader_user(const std::string& name) {
  if (::geteuid() != 0) return false;
  if (::getpwnam(name.c_str()) != nullptr) return true;
  const int rc = run_command("useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin " +
                             shell_quote(name));
  check(rc == 0 && ::getpwnam(name.c_str()) != nullptr, "autograde", "cannot create the system user " + name,
        "create it by hand: useradd --system " + name);
  return true;
}

int SubmissionRecord::earned() const {
  int s = 0;
  for (const ModuleRecord& m : modules) s += m.earned;
  return s;
}

int SubmissionRecord::possible() const {
  int s = 0;
  for (const ModuleRecord& m : modules) s += m.possible;
  return s;
}

Json submission_to_json(const SubmissionRecord& r) {
  Json j = Json::object();
  j.set("student", r.student);
  j.set("earned", r.earned());
  j.set("possible", r.possible());
  j.set("seconds", r.seconds);
  Json problems = Json::array();
  for (const std::string& p : r.problems) problems.push_back(p);
  j.set("problems", problems);
  Json mods = Json::array();
  for (const ModuleRecord& m : r.modules) {
    Json mj = Json::object();
    mj.set("module", m.module);
    mj.set("slug", m.slug);
    mj.set("earned", m.earned);
    mj.set("possible", m.possible);
    mj.set("compiled", m.compiled);
    mj.set("compile_errors", m.compile_errors);
    Json tests = Json::array();
    for (const TestRecord& t : m.tests) {
      Json tj = Json::object();
      tj.set("name", t.name);
      tj.set("hidden", t.hidden);
      tj.set("points", t.points);
      tj.set("passed", t.passed);
      tj.set("status", t.status);
      tj.set("message", t.message);
      tests.push_back(tj);
    }
    mj.set("tests", tests);
    mods.push_back(mj);
  }
  j.set("modules", mods);
  return j;
}

SubmissionRecord submission_from_json(const Json& j, const std::string& what) {
  check(j.is_object() && j["student"].is_string() && j["modules"].is_array(), "gradebook",
        what + " is not a submission's result (no student or modules)");
  SubmissionRecord r;
  r.student = j["student"].as_string();
  r.seconds = j["seconds"].as_number();
  for (const Json& p : j["problems"].items()) r.problems.push_back(p.as_string());
  for (const Json& mj : j["modules"].items()) {
    ModuleRecord m;
    m.module = mj["module"].as_string();
    m.slug = mj["slug"].as_string();
    m.compiled = mj["compiled"].as_bool();
    m.compile_errors = mj["compile_errors"].as_string();
    for (const Json& tj : mj["tests"].items()) {
      TestRecord t;
      t.name = tj["name"].as_string();
      t.hidden = tj["hidden"].as_bool();
      t.points = static_cast<int>(tj["points"].as_number());
      check(t.points >= 0 && t.points <= kMaxPoints, "gradebook", what + ": bad points for " + t.name);
      t.passed = tj["passed"].as_bool();
      t.status = tj["status"].as_string();
      t.message = tj["message"].as_string();
      m.possible += t.points;
      if (t.passed) m.earned += t.points;
      m.tests.push_back(t);
    }
    // The points are recomputed from the tests, never read: a total must agree with its tests.
    check(mj["earned"].as_number() == m.earned, "gradebook", what + ": module " + m.module + "'s earned points are not the sum of its tests'");
    r.modules.push_back(m);
  }
  return r;
}

std::string student_name(const std::string& path) {
  std::string base = fs::path(path).filename().string();
  if (base.empty()) base = fs::path(path).parent_path().filename().string();
  for (const char* ext : {".tar.gz", ".tgz", ".zip"}) {
    const std::string e = ext;
    if (base.size() > e.size() && base.compare(base.size() - e.size(), e.size(), e) == 0) {
      base = base.substr(0, base.size() - e.size());
      break;
    }
  }
  if (base.empty() || base[0] == '.') return "";
  for (char& c : base)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return base;
}

std::vector<std::pair<std::string, std::string>> owned_files_of(const std::string& folder, const Module& mod,
                                                               std::vector<std::string>& problems) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& owned : mod.owns) {
    const std::string stub = stub_path_for(owned);                  // modules/01_entropy/entropy.cpp
    const std::string base = fs::path(stub).filename().string();    // entropy.cpp
    const std::string in_module = mod.name() + "/" + base;          // 01_entropy/entropy.cpp
    std::string text;
    for (const std::string& rel : {stub, in_module, base}) {
      const std::string p = folder + "/" + rel;
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) continue;
      // Every component must be a real folder/file inside the submission: no symlinks anywhere.
      bool link = false;
      for (fs::path q = fs::path(rel); !q.empty() && q != q.root_path(); q = q.parent_path()) {
        struct stat s2;
        if (::lstat((folder + "/" + q.string()).c_str(), &s2) == 0 && S_ISLNK(s2.st_mode)) link = true;
      }
      // A hard link (st_nlink > 1) could name a file outside the submission, read here by the grader.
      if (link || !S_ISREG(st.st_mode) || st.st_nlink > 1) {
        problems.push_back(rel + " is not a regular file (symlinks and hard links are refused): ignored");
        continue;
      }
      if (st.st_size > 1024 * 1024) {
        problems.push_back(rel + " is larger than 1 MiB: ignored");
        continue;
      }
      text = read_text_file(p);
      break;
    }
    out.emplace_back(owned, text);
  }
  return out;
}

namespace {

std::string conf_quote(const std::string& s) { return shell_quote(s); }

// The modules `mod` builds on, transitively.
void prerequisites(const Manifest& m, const Module& mod, std::set<std::string>& out) {
  for (const std::string& r : mod.requires_)
    if (out.insert(r).second && m.find(r) != nullptr) prerequisites(m, m.get(r), out);
}

// The compiler's first errors, capped: lines with "error" and the few after each.
std::string compile_errors(const std::string& log) {
  std::istringstream in(log);
  std::string out;
  int errors = 0, after = 0;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("FAILED:", 0) == 0 || l.rfind("ninja:", 0) == 0 || l.rfind("[", 0) == 0) continue;
    if (l.find("error:") != std::string::npos || l.find("undefined reference") != std::string::npos) {
      if (++errors > 5) break;
      after = 3;
    } else if (after == 0) {
      continue;
    } else {
      --after;
    }
    out += cap_text(l, 300) + "\n";
  }
  if (out.empty()) out = "the build failed without a compiler error (time or memory limit?)\n";
  return cap_text(out, 3000);
}

}  // namespace

Grader::Grader(const Manifest& m, AutogradeOptions o) : m_(m), opt_(std::move(o)) {
  opt_.root = fs::absolute(opt_.root).lexically_normal().string();
  opt_.out = fs::absolute(opt_.out).lexically_normal().string();
  if (opt_.work.empty()) opt_.work = opt_.out + "/.grader";
  opt_.work = fs::absolute(opt_.work).lexically_normal().string();
  if (!opt_.submissions_dir.empty()) opt_.submissions_dir = fs::absolute(opt_.submissions_dir).lexically_normal().string();
  for (const std::string& n : opt_.modules) m_.get(n);  // throws for an unknown module
  build_ = opt_.work + "/build";
  fs::create_directories(opt_.work + "/staging");
  lock_fd_ = ::open((opt_.work + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  check(lock_fd_ >= 0 && ::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0, "autograde",
        "the grading tree " + opt_.work + " is in use by another grader",
        "give each concurrent run its own --work folder");
  fs::create_directories(build_);
  if (ensure_grader_user("nibble-grader")) sandbox_.user = "nibble-grader";
  sandbox_.limits = opt_.limits;
  // Hidden from every student process (compiler and tests): the instructor-only sources, the history,
  // the grading tree's sources and objects, the other submissions and the results.
  std::vector<std::string> masks;
  for (const Module& mod : m_.modules)
    for (const char* sub : {"solution", "hidden", "mutants"}) masks.push_back(opt_.root + "/" + mod.dir() + "/" + sub);
  masks.push_back(opt_.root + "/.git");
  masks.push_back(build_ + "/CMakeFiles");
  masks.push_back(build_ + "/modules/CMakeFiles");
  masks.push_back(opt_.work + "/staging");
  masks.push_back(opt_.work + "/reference");
  for (const char* sub : {"results", "feedback", "gradescope"}) masks.push_back(opt_.out + "/" + sub);
  if (!opt_.submissions_dir.empty()) masks.push_back(opt_.submissions_dir);
  sandbox_.masks = masks;
  sandbox_.masks.push_back(build_ + "/mutant-src");

  // The compiler launcher's configuration (tools/autograde/compile-sandbox.sh).
  std::string mask_list;
  for (const std::string& s : masks) mask_list += (mask_list.empty() ? "" : " ") + s;
  const std::string conf = opt_.work + "/sandbox.conf";
  write_file_atomic(conf, "export SRC_PREFIX=" + conf_quote(build_ + "/mutant-src/") + "\nexport MASKS=" +
                              conf_quote(mask_list) + "\nexport GRADER_USER=" + conf_quote(sandbox_.user) +
                              "\nexport CPU_SECONDS=" + std::to_string(opt_.compile_seconds) +
                              "\nexport WALL_SECONDS=" + std::to_string(3 * opt_.compile_seconds + 30) +  // a loaded machine
                              "\nexport MEM_KB=" + std::to_string(2L * 1024 * 1024) +
                              "\nexport FSIZE_KB=" + std::to_string(256L * 1024) + "\n");
  const std::string log = opt_.work + "/setup.log";
  if (!file_exists(build_ + "/build.ninja")) {
    std::string launcher = opt_.root + "/tools/autograde/compile-sandbox.sh;" + conf;
    if (run_command("command -v ccache >/dev/null") == 0) launcher += ";ccache";
    const std::string cmd = "cmake -S " + shell_quote(opt_.root) + " -B " + shell_quote(build_) +
                            " -G Ninja -DCMAKE_BUILD_TYPE=Release -DNIBBLE_BUILD_BENCH=OFF -DNIBBLE_MUTANT_TREE=ON"
                            " -DNIBBLE_GRADER_MAIN=ON -DCMAKE_CXX_COMPILER_LAUNCHER=" + shell_quote(launcher) + " " +
                            opt_.cmake_extra;
    check(run_command(cmd, log) == 0, "autograde", "configuring the grading tree " + build_ + " failed",
          "see " + log);
  }
  // Every owned file back to the instructor's solution, then the test programs (built once).
  for (const Module& mod : m_.modules)
    for (const std::string& owned : mod.owns) {
      const std::string copy = build_ + "/mutant-src/" + owned;
      const std::string sol = read_text_file(opt_.root + "/" + owned);
      if (!file_exists(copy) || read_text_file(copy) != sol) write_file_atomic(copy, sol);
    }
  std::vector<std::string> targets = {"nibble"};
  for (const std::string& n : opt_.modules) {
    targets.push_back(test_target(m_.get(n), false));
    if (!m_.get(n).hidden.empty()) targets.push_back(test_target(m_.get(n), true));
  }
  // Only the instructor's solutions are in mutant-src/ now: the launcher may compile them as any
  // trusted file (with the compiler cache), so a grade-one per submission does not recompile them.
  ::setenv("NIBBLE_COMPILE_TRUSTED", "1", 1);
  const int built = build_targets(build_, targets, log);
  ::unsetenv("NIBBLE_COMPILE_TRUSTED");
  check(built == 0, "autograde",
        "the grading tree " + build_ + " does not build with the instructor's solutions", "see " + log);
  // The test programs hold the hidden tests: student processes may run them, not read them.
  for (const std::string& t : targets)
    if (t != "nibble") ::chmod((build_ + "/modules/" + t).c_str(), 0711);
  record_references();
}

namespace {

uint64_t file_hash(const std::string& path, uint64_t h) {
  std::ifstream in(path, std::ios::binary);
  check(static_cast<bool>(in), "autograde", "cannot read " + path);
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    h = fnv1a(std::string(buf, static_cast<size_t>(in.gcount())), h);
    if (!in) break;
  }
  return h;
}

}  // namespace

void Grader::record_references() {
  const std::string dir = opt_.work + "/reference";
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  const std::string lib = fs::canonical(build_ + "/libnibble.so").string();
  for (const std::string& n : opt_.modules) {
    const Module& mod = m_.get(n);
    for (const bool hidden : {false, true}) {
      const std::vector<GradedTest>& tests = hidden ? mod.hidden : mod.graded;
      if (tests.empty()) continue;
      const std::string target = test_target(mod, hidden);
      const std::string exe = build_ + "/modules/" + target;
      char key[17];
      std::snprintf(key, sizeof key, "%016llx",
                    static_cast<unsigned long long>(file_hash(lib, file_hash(exe, fnv1a(target)))));
      // The cache: "key <hex>", then per test "T <name> <nonce> <bytes>" and the report's bytes.
      const std::string cache = dir + "/" + target + ".txt";
      std::map<std::string, RecordedRun> runs;
      if (file_exists(cache)) {
        const std::string text = read_text_file(cache);
        std::istringstream in(text);
        std::string first;
        if (std::getline(in, first) && first == std::string("key ") + key) {
          for (std::string head; std::getline(in, head);) {
            std::istringstream h(head);
            std::string t, name, nonce;
            size_t bytes = 0;
            if (!(h >> t >> name >> nonce >> bytes) || t != "T") break;
            std::string report(bytes, '\0');
            in.read(&report[0], static_cast<std::streamsize>(bytes));
            runs[name] = parse_recorded_run(report, nonce, name);
          }
        }
      }
      bool complete = true;
      for (const GradedTest& t : tests) complete = complete && runs.count(t.name) != 0 && runs[t.name].valid;
      if (!complete) {
        runs.clear();
        std::string out = std::string("key ") + key + "\n";
        // The solution's run is trusted code: a slow machine must not stop the grader, so its time
        // limits are four times the students'.
        Sandbox reference_box = sandbox_;
        reference_box.limits.wall_seconds *= 4;
        reference_box.limits.cpu_seconds *= 4;
        for (const GradedTest& t : tests) {
          // Twice: the second run, judged against the first like a student's, must pass — a test whose
          // recorded values change from run to run (time, addresses, unseeded randomness) cannot be
          // graded this way and is reported here rather than failing students at random.
          std::string nonce, report;
          RecordedRun first;
          for (int k = 0; k < 2; ++k) {
            const std::string n = random_hex(16);
            const SandboxResult s = run_sandboxed({exe, "--gtest_filter=" + t.name},
                                                  {"NIBBLE_GRADE_NONCE=" + n, "NIBBLE_GRADE_FD=3"}, reference_box);
            const RecordedRun run = parse_recorded_run(s.report, n, t.name);
            check(s.exited && s.exit_code == 0 && run.valid && run.local_pass, "autograde",
                  "the instructor's solution does not pass " + t.name + " in the grading tree (" +
                      (run.valid ? std::string("the test fails") : run.problem) + ")",
                  "run " + exe + " --gtest_filter=" + t.name + "; its output:\n" + cap_text(s.output, 2000));
            if (k == 0) {
              nonce = n;
              report = s.report;
              first = run;
              continue;
            }
            const Verdict again = compare_runs(run, first);
            check(again.pass, "autograde",
                  t.name + " records different values in two runs of the solution: " + again.reason,
                  "make the test deterministic (fixed seeds, no addresses or times in its assertions)");
          }
          out += "T " + t.name + " " + nonce + " " + std::to_string(report.size()) + "\n" + report;
          runs[t.name] = first;
        }
        write_file_atomic(cache, out);
        ::chmod(cache.c_str(), 0600);
      }
      for (const auto& [name, run] : runs) reference_[target + "/" + name] = run;
    }
  }
}

Grader::~Grader() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string Grader::instructor_fingerprint() const {
  uint64_t h = fnv1a("");
  for (const Module& mod : m_.modules) {
    std::vector<std::string> files = mod.owns;
    for (const char* sub : {"/tests", "/hidden"}) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(opt_.root + "/" + mod.dir() + sub, ec))
        files.push_back(fs::relative(e.path(), opt_.root).string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) h = fnv1a(f + "\n" + read_text_file(opt_.root + "/" + f), h);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string Grader::unpack(const std::string& submission, const std::string& student,
                           std::vector<std::string>& problems) {
  struct stat st;
  check(::lstat(submission.c_str(), &st) == 0, "autograde", "no submission " + submission);
  if (S_ISDIR(st.st_mode)) return submission;
  const std::string dest = opt_.work + "/staging/" + student;
  remove_tree(dest);
  fs::create_directories(dest);
  const bool zip = submission.size() > 4 && submission.compare(submission.size() - 4, 4, ".zip") == 0;
  const std::string list_log = dest + ".list";
  const int listed = zip ? run_command("unzip -Z1 " + shell_quote(submission), list_log)
                         : run_command("tar -tzf " + shell_quote(submission), list_log);
  if (listed != 0) {
    problems.push_back("the archive cannot be read (" + std::string(zip ? "unzip" : "tar") + " failed)");
    return dest;
  }
  std::istringstream names(read_text_file(list_log));
  fs::remove(list_log);
  for (std::string n; std::getline(names, n);) {
    bool bad = n.empty() || n[0] == '/';
    for (const auto& part : fs::path(n)) bad = bad || part == "..";
    if (bad) {
      problems.push_back("the archive holds the path '" + cap_text(n, 200) + "' (absolute or with ../): refused whole");
      return dest;
    }
  }
  // Extracted with a file-size limit; symlinks it may contain are refused when the files are picked.
  const std::string cmd = "ulimit -f 16384; " +
                          (zip ? "unzip -q -o " + shell_quote(submission) + " -d " + shell_quote(dest)
                               : "tar -xzf " + shell_quote(submission) + " -C " + shell_quote(dest) +
                                     " --no-same-owner --no-same-permissions");
  if (run_command(cmd, dest + ".log") != 0) problems.push_back("the archive did not extract cleanly");
  fs::remove(dest + ".log");
  return dest;
}

std::vector<std::pair<std::string, std::string>> Grader::set_owned(
    const Module& graded, const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<std::pair<std::string, std::string>> written;
  std::set<std::string> pre;
  prerequisites(m_, graded, pre);
  for (const Module& mod : m_.modules)
    for (const std::string& owned : mod.owns) {
      std::string text;
      if (mod.number == graded.number) {
        for (const auto& [o, t] : files)
          if (o == owned) text = t;
        if (text.empty()) text = read_text_file(opt_.root + "/" + stub_path_for(owned));  // missing: the stub
      } else if (pre.count(mod.number) != 0) {
        text = read_text_file(opt_.root + "/" + owned);  // what it builds on: the instructor's
      } else {
        text = read_text_file(opt_.root + "/" + stub_path_for(owned));  // the others: stubs
      }
      const std::string copy = build_ + "/mutant-src/" + owned;
      if (!file_exists(copy) || read_text_file(copy) != text) write_file_atomic(copy, text);
      written.emplace_back(copy, text);
    }
  return written;
}

ModuleRecord Grader::grade_module(const Module& mod, const std::vector<std::pair<std::string, std::string>>& files,
                                  const std::string& student) {
  ModuleRecord r;
  r.module = mod.number;
  r.slug = mod.slug;
  const std::string log = opt_.work + "/build-" + student + ".log";
  // The trusted link runs as us; each compile of an owned file is sandboxed by the launcher. When the
  // instructor's tree changed since the last build, ninja re-runs CMake first, whose configure_file puts
  // the solutions back into mutant-src/: the copies are checked after the build and, when overwritten,
  // written and built again (never grade the solution in a student's name).
  int rc = 0;
  for (int attempt = 0;; ++attempt) {
    const std::vector<std::pair<std::string, std::string>> written = set_owned(mod, files);
    // Each compile has its own limits (the launcher's wall clock: 3 x the CPU limit + 30 s); the whole
    // build (at most two owned files of a module at once, and the link) gets twice that and a minute.
    rc = run_command("timeout -k 5 " + std::to_string(2 * (3 * opt_.compile_seconds + 30) + 60) + " cmake --build " +
                         shell_quote(build_) + " --target nibble",
                     log);
    bool intact = true;
    for (const auto& [copy, text] : written) intact = intact && read_text_file(copy) == text;
    if (intact) break;
    check(attempt == 0, "autograde", "the grading tree keeps replacing the student's files in " + build_ + "/mutant-src",
          "remove " + opt_.work + " and run again");
  }
  r.compiled = rc == 0;
  if (!r.compiled) r.compile_errors = compile_errors(read_text_file(log));
  std::error_code ec;
  fs::remove(log, ec);
  for (const bool hidden : {false, true}) {
    // A program that cannot even list its tests in time (a hang or a fork bomb in a static initialiser)
    // costs every test of it at once, instead of one time-out per test.
    // Likewise a program that is killed by a signal while only listing its tests (no test code runs
    // then: it dies in a static initialiser) would die the same way in every test.
    bool hangs = false;
    int dies = 0;
    if (r.compiled && !(hidden ? mod.hidden : mod.graded).empty()) {
      const SandboxResult probe = run_sandboxed({build_ + "/modules/" + test_target(mod, hidden), "--gtest_list_tests"}, {}, sandbox_);
      hangs = probe.timed_out || probe.signal == SIGXCPU || probe.signal == SIGKILL;
      if (!hangs && !probe.exited) dies = probe.signal;
    }
    for (const GradedTest& t : hidden ? mod.hidden : mod.graded) {
      TestRecord tr;
      tr.name = t.name;
      tr.hidden = hidden;
      tr.points = t.points;
      r.possible += t.points;
      if (!r.compiled) {
        tr.status = "compile error";
        tr.message = "not run: the submission does not compile";
        r.tests.push_back(tr);
        continue;
      }
      if (hangs) {
        tr.status = "timeout";
        tr.message = hidden ? "" : "not run: the test program does not even start within the time limit "
                                   "(an endless loop in a static initialiser?)";
        r.tests.push_back(tr);
        continue;
      }
      if (dies != 0) {
        tr.status = "crash";
        tr.message = hidden ? "" : std::string("not run: the test program is killed before any test starts (signal ") +
                                       std::to_string(dies) + ", " + ::strsignal(dies) + ")";
        r.tests.push_back(tr);
        continue;
      }
      const std::string nonce = random_hex(16);
      const std::string exe = build_ + "/modules/" + test_target(mod, hidden);
      const SandboxResult s = run_sandboxed({exe, "--gtest_filter=" + t.name},
                                            {"NIBBLE_GRADE_NONCE=" + nonce, "NIBBLE_GRADE_FD=3"}, sandbox_);
      // A pass needs a normal exit with 0 and the comparator's word: the values every assertion
      // recorded in the student's process against those of the reference run (grade_compare.h).
      const auto ref = reference_.find(test_target(mod, hidden) + "/" + t.name);
      check(ref != reference_.end(), "autograde", "no reference run of " + t.name);
      const Verdict verdict = compare_runs(parse_recorded_run(s.report, nonce, t.name), ref->second);
      tr.passed = s.exited && s.exit_code == 0 && verdict.pass;
      if (tr.passed) {
        tr.status = "pass";
      } else if (s.timed_out || s.signal == SIGXCPU || s.signal == SIGKILL) {
        tr.status = "timeout";
        tr.message = "stopped: it ran longer than the time limit (" + std::to_string(opt_.limits.cpu_seconds) +
                     " s of CPU, " + std::to_string(opt_.limits.wall_seconds) + " s in all)";
      } else if (!s.exited) {
        tr.status = "crash";
        tr.message = std::string("the test program crashed (signal ") + std::to_string(s.signal) + ", " +
                     ::strsignal(s.signal) + ")";
      } else {
        tr.status = "fail";
      }
      // The process says it passed, the comparator disagrees: say why (never the expected values).
      const bool forged_or_off = !tr.passed && s.exited && s.exit_code == 0 && !verdict.pass &&
                                 verdict.reason != "the test failed";
      if (forged_or_off) tr.message = "the values this test checked do not match the reference run: " + verdict.reason;
      if (!tr.passed) {
        // The friendly message, from the report the student's process wrote: shown, never scored.
        std::string text;
        try {
          const auto rep = read_gtest_report(s.json, "report");
          const auto it = rep.find(t.name);
          if (it != rep.end())
            for (const std::string& f : it->second.failures)
              for (const std::string& l : failure_lines(f, mod, {opt_.root, false})) text += l + "\n";
        } catch (const std::exception&) {
        }
        if (text.empty() && tr.status == "fail" && tr.message.empty())
          text = s.exited ? "the test did not finish normally (exit status " + std::to_string(s.exit_code) + ")"
                          : "the test did not finish";
        if (!tr.message.empty() && !text.empty()) tr.message += "\n";
        tr.message = cap_text(tr.message + text, kMessageCap);
        if (hidden) tr.message.clear();
      }
      if (tr.passed) r.earned += t.points;
      r.tests.push_back(tr);
    }
  }
  return r;
}

SubmissionRecord Grader::grade(const std::string& submission, bool& skipped) {
  const auto t0 = std::chrono::steady_clock::now();
  SubmissionRecord r;
  r.student = student_name(submission);
  check(!r.student.empty(), "autograde", "cannot name a student after " + submission,
        "a submission is a folder, NAME.zip or NAME.tar.gz");
  skipped = false;
  const std::string done = opt_.out + "/results/" + r.student + ".json";
  if (!opt_.force && file_exists(done)) {
    skipped = true;
    return submission_from_json(parse_json(read_text_file(done), done), done);
  }
  const std::string folder = unpack(submission, r.student, r.problems);
  for (const std::string& n : opt_.modules) {
    const Module& mod = m_.get(n);
    const auto files = owned_files_of(folder, mod, r.problems);
    r.modules.push_back(grade_module(mod, files, r.student));
  }
  if (folder != submission) remove_tree(folder);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_outputs(opt_.out, r);
  return r;
}

std::string feedback_markdown(const SubmissionRecord& r) {
  std::string s = "# Feedback for " + r.student + "\n\n";
  s += "Total: **" + std::to_string(r.earned()) + " / " + std::to_string(r.possible()) + "**\n";
  for (const std::string& p : r.problems) s += "\n- note: " + p;
  if (!r.problems.empty()) s += "\n";
  for (const ModuleRecord& m : r.modules) {
    s += "\n## Module " + m.module + " " + m.slug + ": " + std::to_string(m.earned) + " / " +
         std::to_string(m.possible) + "\n\n";
    if (!m.compiled) s += "Your code does not compile, so no test could run. The compiler said:\n\n```\n" + m.compile_errors + "```\n\n";
    s += "| test | points | result |\n|---|---:|---|\n";
    for (const TestRecord& t : m.tests)
      s += "| " + std::string(t.hidden ? "hidden test" : t.name) + " | " + std::to_string(t.passed ? t.points : 0) +
           " / " + std::to_string(t.points) + " | " + (t.passed ? "pass" : "fail") +
           (t.hidden || t.passed ? "" : " (" + t.status + ")") + " |\n";
    for (const TestRecord& t : m.tests)
      if (!t.hidden && !t.passed && m.compiled && !t.message.empty())
        s += "\n### " + t.name + "\n\n```\n" + t.message + (t.message.back() == '\n' ? "" : "\n") + "```\n";
  }
  return s;
}

Json gradescope_json(const SubmissionRecord& r) {
  Json j = Json::object();
  j.set("score", r.earned());
  j.set("max_score", r.possible());
  Json tests = Json::array();
  for (const ModuleRecord& m : r.modules)
    for (const TestRecord& t : m.tests) {
      Json tj = Json::object();
      tj.set("name", "module " + m.module + ": " + (t.hidden ? "hidden test" : t.name));
      tj.set("score", t.passed ? t.points : 0);
      tj.set("max_score", t.points);
      std::string output = t.passed ? "pass" : "fail";
      if (!t.hidden && !t.passed) output += m.compiled ? "\n" + t.message : "\n" + m.compile_errors;
      tj.set("output", output);
      tj.set("visibility", t.hidden ? "after_published" : "visible");
      tests.push_back(tj);
    }
  j.set("tests", tests);
  return j;
}

void write_outputs(const std::string& out, const SubmissionRecord& r) {
  fs::create_directories(out + "/feedback");
  fs::create_directories(out + "/gradescope/" + r.student);
  fs::create_directories(out + "/results");
  write_file_atomic(out + "/feedback/" + r.student + ".md", feedback_markdown(r));
  write_file_atomic(out + "/gradescope/" + r.student + "/results.json", gradescope_json(r).dump() + "\n");
  // Last: its presence means "graded" (resuming skips it).
  write_file_atomic(out + "/results/" + r.student + ".json", submission_to_json(r).dump() + "\n");
}

size_t write_gradebook(const std::vector<std::string>& dirs, const std::vector<std::string>& modules,
                       const std::string& csv_path) {
  std::map<std::string, SubmissionRecord> rows;
  for (const std::string& d : dirs) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d + "/results", ec)) {
      const std::string p = e.path().string();
      if (e.path().extension() != ".json") continue;
      SubmissionRecord r = submission_from_json(parse_json(read_text_file(p), p), p);
      check(rows.count(r.student) == 0, "gradebook", "student " + r.student + " is graded twice (" + p + ")",
            "merge each student's results once");
      rows[r.student] = r;
    }
  }
  std::string csv = "student";
  for (const std::string& m : modules) csv += "," + m;
  csv += ",total\n";
  for (const auto& [name, r] : rows) {
    csv += name;
    int total = 0;
    for (const std::string& n : modules) {
      int earned = 0;
      for (const ModuleRecord& m : r.modules)
        if (m.module == n) earned = m.earned;
      total += earned;
      csv += "," + std::to_string(earned);
    }
    csv += "," + std::to_string(total) + "\n";
  }
  write_file_atomic(csv_path, csv);
  return rows.size();
}

}  // namespace nibble::course
