#include "tools/course/grading.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "tools/course/files.h"

namespace nibble::course {

namespace fs = std::filesystem;

std::map<std::string, ReportedTest> read_gtest_report(const std::string& json_text, const std::string& what) {
  const Json doc = parse_json(json_text, what);
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
      const Json& p = t["points"];
      if (p.is_string()) {
        try {
          r.points = std::stoi(p.as_string());
        } catch (const std::exception&) {
          r.points = -1;
        }
      } else if (p.is_number()) {
        r.points = static_cast<int>(p.as_number());
      }
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
  if (timeout_seconds > 0) cmd += "timeout -k 5 " + std::to_string(timeout_seconds) + " ";
  cmd += shell_quote(exe) + " --gtest_output=json:" + shell_quote(json_path);
  if (!filter.empty()) cmd += " --gtest_filter=" + shell_quote(filter);
  const int code = run_command(cmd, log_path);
  have_report = file_exists(json_path);
  if (have_report) report = read_gtest_report(read_text_file(json_path), what);
  return code;
}

}  // namespace

Grade run_and_grade(const Module& mod, bool hidden, const std::string& binary_dir, int timeout_seconds) {
  const std::string target = test_target(mod, hidden);
  const std::string exe = binary_dir + "/modules/" + target;
  check(file_exists(exe), "grading", "no test program " + exe,
        "build it first: cmake --build " + binary_dir + " --target " + target);
  const std::string dir = binary_dir + "/course";
  fs::create_directories(dir);
  const std::string json = dir + "/" + target + ".json";
  const std::string log = dir + "/" + target + ".log";
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

Json load_results(const std::string& binary_dir) {
  const std::string path = results_path(binary_dir);
  if (!file_exists(path)) return Json::object();
  return parse_json(read_text_file(path), path);
}

const Json& saved_result(const Json& results, const Module& mod) {
  static const Json kNone;
  const Json& r = results["modules"][mod.number];
  return r.is_object() && r["slug"].as_string() == mod.slug ? r : kNone;
}

void save_result(const std::string& binary_dir, const Grade& g) {
  Json all = load_results(binary_dir);
  Json modules = all["modules"].is_object() ? all["modules"] : Json::object();
  modules.set(g.module, grade_to_json(g));
  all.set("modules", modules);
  fs::create_directories(binary_dir + "/course");
  write_file_atomic(results_path(binary_dir), all.dump() + "\n");
}

}  // namespace nibble::course
