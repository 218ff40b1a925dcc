#include "tools/course/grading.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "tools/course/files.h"

namespace nibble::course {

namespace fs = std::filesystem;

namespace {

// The "points" property GRADED_TEST records (gtest writes it as a string): a whole number in
// [0, kMaxPoints], else -1 (absent or unreadable; grade_report then reports a points problem).
int points_property(const Json& p) {
  if (p.is_string()) {
    const std::string& s = p.as_string();
    if (s.empty() || s.size() > 7) return -1;
    for (const char c : s)
      if (c < '0' || c > '9') return -1;
    const long v = std::stol(s);
    return v <= kMaxPoints ? static_cast<int>(v) : -1;
  }
  if (p.is_number()) {
    const double v = p.as_number();
    return v >= 0 && v <= kMaxPoints && std::nearbyint(v) == v ? static_cast<int>(v) : -1;
  }
  return -1;
}

}  // namespace

std::map<std::string, ReportedTest> read_gtest_report(const std::string& json_text, const std::string& what) {
  // A student's test may print any bytes into its failure messages; gtest copies them verbatim.
  const Json doc = parse_json(sanitize_utf8(json_text), what);
  std::map<std::string, ReportedTest> out;
  for (const Json& suite : doc["testsuites"].items()) {
    for (const Json& t : suite["testsuite"].items()) {
      ReportedTest r;
      const std::string name = t["classname"].as_string() + "." + t["name"].as_string();
      for (const Json& f : t["failures"].items()) {
        if (!r.message.empty()) r.message += "\n";
        r.message += f["failure"].as_string();
        r.failures.push_back(f["failure"].as_string());
      }
      const bool run = t["status"].as_string() == "RUN";
      r.skipped = t["result"].as_string() == "SKIPPED";
      r.passed = run && t["result"].as_string() == "COMPLETED" && t["failures"].items().empty();
      if (!run) r.message = "the test is disabled (status " + t["status"].as_string() + ")";
      if (r.skipped && r.message.empty()) r.message = "the test was skipped";
      r.points = points_property(t["points"]);
      if (!run) continue;  // a disabled test did not run
      out[name] = r;
    }
  }
  return out;
}

Grade grade_report(const Module& mod, bool hidden, const std::map<std::string, ReportedTest>& report) {
  Grade g;
  g.module = mod.number;
  g.slug = mod.slug;
  g.hidden = hidden;
  const auto& listed = hidden ? mod.hidden : mod.graded;
  std::set<std::string> names;
  for (const GradedTest& t : listed) {
    names.insert(t.name);
    TestOutcome o;
    o.name = t.name;
    o.points = t.points;
    g.possible += t.points;
    auto it = report.find(t.name);
    if (it == report.end()) {
      o.message = "did not run: no test named " + t.name +
                  " in the test program (check the GRADED_TEST's suite and name)";
    } else {
      o.ran = !it->second.skipped;
      o.passed = it->second.passed && !it->second.skipped;
      o.message = it->second.message;
      o.failures = it->second.failures;
      if (o.ran) ++g.ran;
      if (it->second.points != t.points)
        g.problems.push_back(t.name + " records " +
                             (it->second.points < 0 ? std::string("no points") : std::to_string(it->second.points) + " points") +
                             " but the manifest says " + std::to_string(t.points));
    }
    if (o.passed) g.earned += t.points;
    g.tests.push_back(std::move(o));
  }
  if (g.ran != static_cast<int>(listed.size()))
    g.problems.push_back("the manifest lists " + std::to_string(listed.size()) + " " +
                         (hidden ? "hidden" : "graded") + " tests for module " + mod.number + " but " +
                         std::to_string(g.ran) + " ran");
  for (const auto& [name, r] : report)
    if (r.points >= 0 && names.count(name) == 0)
      g.problems.push_back("graded test " + name + " (" + std::to_string(r.points) +
                           " points) is not in the manifest's " + (hidden ? "hidden" : "graded") + " list for module " + mod.number);
  return g;
}

std::string test_target(const Module& mod, bool hidden) {
  return "module_" + mod.number + (hidden ? "_hidden" : "_tests");
}

int build_targets(const std::string& binary_dir, const std::vector<std::string>& targets, const std::string& log_path) {
  std::string cmd = "cmake --build " + shell_quote(binary_dir);
  for (const std::string& t : targets) cmd += " --target " + shell_quote(t);
  return run_command(cmd, log_path);
}

namespace {

// The last n lines of a test program's output, without gtest's banner lines.
std::string tail_lines(const std::string& text, size_t n) {
  std::vector<std::string> kept;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("Running main()", 0) == 0 || l.rfind("Note: Google Test filter", 0) == 0 ||
        l.rfind("[==", 0) == 0 || l.rfind("[--", 0) == 0 || l.empty())
      continue;
    kept.push_back(l);
  }
  std::string out;
  for (size_t k = kept.size() > n ? kept.size() - n : 0; k < kept.size(); ++k) out += kept[k] + "\n";
  return out;
}

// Runs the program once; returns the exit code and fills `report` when the JSON was written.
int run_once(const std::string& exe, const std::string& filter, const std::string& json_path,
             const std::string& log_path, int timeout_seconds, std::map<std::string, ReportedTest>& report,
             bool& have_report, const std::string& what) {
  std::error_code ec;
  fs::remove(json_path, ec);
  std::string cmd;
  cmd += "timeout -k 5 " + std::to_string(timeout_seconds) + " ";
  cmd += shell_quote(exe) + " --gtest_output=json:" + shell_quote(json_path);
  if (!filter.empty()) cmd += " --gtest_filter=" + shell_quote(filter);
  const int code = run_command(cmd, log_path);
  have_report = file_exists(json_path);
  if (have_report) report = read_gtest_report(read_text_file(json_path), what);
  return code;
}

}  // namespace

Grade run_and_grade(const Module& mod, bool hidden, const std::string& binary_dir, int timeout_seconds) {
  check(timeout_seconds > 0, "grading", "the timeout must be positive, got " + std::to_string(timeout_seconds) + " s",
        "a hanging test program is stopped after the timeout; give e.g. --timeout 300");
  const std::string target = test_target(mod, hidden);
  const std::string exe = binary_dir + "/modules/" + target;
  check(file_exists(exe), "grading", "no test program " + exe,
        "build it first: cmake --build " + binary_dir + " --target " + target);
  const std::string dir = binary_dir + "/course";
  fs::create_directories(dir);
  // Names of this run's own: two `nibble test` runs at once must not read (or delete) each other's
  // half-written report. The log is renamed to <target>.log at the end, the report removed.
  const std::string tag = "." + std::to_string(::getpid());
  const std::string json = dir + "/" + target + tag + ".json";
  const std::string log = dir + "/" + target + tag + ".log";
  struct CleanUp {
    std::string json, log, final_log;
    ~CleanUp() {
      std::error_code ec;
      fs::remove(json, ec);
      if (fs::exists(log, ec)) fs::rename(log, final_log, ec);
    }
  } clean_up{json, log, dir + "/" + target + ".log"};
  std::map<std::string, ReportedTest> report;
  bool have = false;
  const int code = run_once(exe, "", json, log, timeout_seconds, report, have, json);
  if (!have) {
    // The program died before writing its report: run each listed test alone.
    report.clear();
    const auto& listed = hidden ? mod.hidden : mod.graded;
    for (const GradedTest& t : listed) {
      std::map<std::string, ReportedTest> one;
      bool got = false;
      const int c = run_once(exe, t.name, json, log, timeout_seconds, one, got, json);
      if (got) {
        for (auto& kv : one) report[kv.first] = kv.second;
        continue;
      }
      ReportedTest r;
      r.points = t.points;  // it did not finish: the property was not reported, do not add a points problem
      r.message = (c == 124 || c == 137 ? "timed out after " + std::to_string(timeout_seconds) + " s"
                                         : "the test program crashed (exit status " + std::to_string(c) + ")") +
                  "\n" + tail_lines(read_text_file(log), 6);
      report[t.name] = r;
    }
    (void)code;
  }
  return grade_report(mod, hidden, report);
}

Json grade_to_json(const Grade& g) {
  Json j = Json::object();
  j.set("module", g.module);
  j.set("slug", g.slug);
  j.set("hidden", g.hidden);
  j.set("earned", g.earned);
  j.set("possible", g.possible);
  j.set("complete", g.complete());
  Json tests = Json::array();
  for (const TestOutcome& t : g.tests) {
    Json o = Json::object();
    o.set("name", t.name);
    o.set("points", t.points);
    o.set("earned", t.passed ? t.points : 0);
    o.set("ran", t.ran);
    o.set("passed", t.passed);
    if (!t.message.empty()) o.set("message", t.message);
    tests.push_back(o);
  }
  j.set("tests", tests);
  Json problems = Json::array();
  for (const std::string& p : g.problems) problems.push_back(p);
  j.set("problems", problems);
  return j;
}

std::string results_path(const std::string& binary_dir) { return binary_dir + "/course/results.json"; }

namespace {

// A whole number in [0, kMaxPoints] (never 1e300, -5 or 2.5), else the reason it is not.
std::string check_points(const Json& v, const std::string& where) {
  if (!v.is_number()) return where + " is not a number";
  const double x = v.as_number();
  if (!(x >= 0 && x <= kMaxPoints) || std::nearbyint(x) != x)
    return where + " is " + v.dump() + ", not a whole number of points between 0 and " + std::to_string(kMaxPoints);
  return "";
}

std::string check_result(const std::string& number, const Json& r) {
  const std::string at = "modules." + number;
  if (!r.is_object()) return at + " is not an object";
  if (!r["module"].is_string() || r["module"].as_string() != number) return at + ".module is not \"" + number + "\"";
  if (!r["slug"].is_string()) return at + ".slug is not a string";
  for (const char* key : {"earned", "possible"}) {
    const std::string problem = check_points(r[key], at + "." + key);
    if (!problem.empty()) return problem;
  }
  if (r["earned"].as_number() > r["possible"].as_number())
    return at + ".earned (" + r["earned"].dump() + ") is more than possible (" + r["possible"].dump() + ")";
  if (r["complete"].type() != Json::Type::Bool) return at + ".complete is not true or false";
  if (r["complete"].as_bool() && r["earned"].as_number() != r["possible"].as_number())
    return at + ".complete is true but earned is not possible";
  if (r.has("tests")) {
    if (!r["tests"].is_array()) return at + ".tests is not a list";
    double sum = 0;
    for (const Json& t : r["tests"].items()) {
      if (!t.is_object()) return at + ".tests has an entry that is not an object";
      for (const char* key : {"points", "earned"}) {
        const std::string problem = check_points(t[key], at + ".tests[" + t["name"].as_string() + "]." + key);
        if (!problem.empty()) return problem;
      }
      sum += t["earned"].as_number();
    }
    if (sum != r["earned"].as_number()) return at + ".earned is not the sum of its tests' points";
  }
  return "";
}

std::string corrupt_hint(const std::string& path) {
  return "delete or move " + path + " (your code is not affected; the next `nibble test NN` saves a new one)";
}

// The results file, or the reason it cannot be used.
Json read_results(const std::string& path, std::string& problem) {
  problem.clear();
  if (!file_exists(path)) return Json::object();
  Json all;
  try {
    all = parse_json(read_text_file(path), path);
  } catch (const Error& e) {
    problem = e.what();
    return Json::object();
  }
  problem = validate_results(all);
  if (!problem.empty()) problem = path + ": " + problem;
  return problem.empty() ? all : Json::object();
}

// An exclusive flock on <results>.lock for the lifetime of the object: save_result's read-modify-write
// must not interleave with another `nibble test`'s, or one result is lost. flock locks belong to the open
// file, so two threads of one process exclude each other too.
class ResultsLock {
 public:
  explicit ResultsLock(const std::string& path) : path_(path + ".lock") {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    check(fd_ >= 0, "save results", "cannot open the lock file " + path_ + " (" + std::strerror(errno) + ")",
          "check that the build folder is writable");
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd_);
      fail("save results", "cannot lock " + path_ + " (" + why + ")");
    }
  }
  ~ResultsLock() { ::close(fd_); }  // closing releases the lock
  ResultsLock(const ResultsLock&) = delete;
  ResultsLock& operator=(const ResultsLock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

std::string validate_results(const Json& all) {
  if (!all.is_object()) return "the top level is not an object";
  if (!all.has("modules")) return "";
  const Json& modules = all["modules"];
  if (!modules.is_object()) return "\"modules\" is not an object";
  for (const auto& [number, r] : modules.members()) {
    const std::string problem = check_result(number, r);
    if (!problem.empty()) return problem;
  }
  return "";
}

Json load_results(const std::string& binary_dir) {
  const std::string path = results_path(binary_dir);
  std::string problem;
  Json all = read_results(path, problem);
  if (!problem.empty()) fail("results", "the saved results are corrupt: " + problem, corrupt_hint(path));
  return all;
}

const Json& saved_result(const Json& results, const Module& mod) {
  static const Json kNone;
  const Json& r = results["modules"][mod.number];
  return r.is_object() && r["slug"].as_string() == mod.slug ? r : kNone;
}

std::string save_result(const std::string& binary_dir, const Grade& g) {
  fs::create_directories(binary_dir + "/course");
  const std::string path = results_path(binary_dir);
  const ResultsLock lock(path);
  std::string problem;
  Json all = read_results(path, problem);
  std::string note;
  if (!problem.empty()) {
    // Never let a damaged file block grading: keep it aside for a look, start a new one.
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    std::string aside = path + ".corrupt-" + stamp;
    for (int k = 2; file_exists(aside); ++k) aside = path + ".corrupt-" + stamp + "-" + std::to_string(k);
    std::error_code ec;
    fs::rename(path, aside, ec);
    note = "warning: the saved results were corrupt (" + problem + ").\n  They were moved to " + aside +
           (ec ? " -- failed: " + ec.message() : std::string()) +
           "; this result is saved in a new " + path + ". Your code is not affected; results of other modules"
           " are saved again by their next `nibble test NN`.";
  }
  Json modules = all["modules"].is_object() ? all["modules"] : Json::object();
  modules.set(g.module, grade_to_json(g));
  all.set("modules", modules);
  write_file_atomic(path, all.dump() + "\n");
  return note;
}

}  // namespace nibble::course
