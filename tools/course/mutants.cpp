#include "tools/course/mutants.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "tools/course/files.h"
#include "tools/course/grading.h"

namespace nibble::course {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

[[noreturn]] void error_at(const std::string& file, int line, const std::string& what) {
  fail("mutant", file + ":" + std::to_string(line) + ": " + what,
       "the format: modules/README.md, section Mutants");
}

// "a/modules/x.cpp\t2024-01-01 ..." -> "modules/x.cpp" (strip -p1's first component and a timestamp).
std::string diff_path(const std::string& rest, const std::string& side, const std::string& file, int line) {
  std::string p = rest.substr(0, rest.find('\t'));
  p = trim(p);
  if (p.rfind(side + "/", 0) != 0)
    error_at(file, line, "the diff's path '" + p + "' should start with '" + side + "/' (made with diff -u a/... b/... or git diff)");
  return p.substr(side.size() + 1);
}

// "-12,3" -> (12, 3); "-12" -> (12, 1).
void parse_range(const std::string& s, int& start, int& count, const std::string& file, int line) {
  const size_t comma = s.find(',');
  try {
    size_t used = 0;
    const std::string a = s.substr(1, comma == std::string::npos ? std::string::npos : comma - 1);
    start = std::stoi(a, &used);
    if (used != a.size()) throw std::invalid_argument(a);
    count = 1;
    if (comma != std::string::npos) {
      const std::string b = s.substr(comma + 1);
      count = std::stoi(b, &used);
      if (used != b.size()) throw std::invalid_argument(b);
    }
  } catch (const std::exception&) {
    error_at(file, line, "malformed hunk range '" + s + "'");
  }
  if (start < 0 || count < 0) error_at(file, line, "malformed hunk range '" + s + "'");
}

bool is_slug(const std::string& s) {
  if (s.empty() || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; });
}

// "nibble::entropy_bits(const Distribution&)" -> "entropy_bits".
std::string function_name(const std::string& signature) {
  std::string n = trim(signature.substr(0, signature.find('(')));
  const size_t colons = n.rfind("::");
  if (colons != std::string::npos) n = n.substr(colons + 2);
  return n;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The first compiler error of a build log, for the one-line report.
std::string first_error(const std::string& log) {
  for (const std::string& l : split_lines(log))
    if (l.find("error:") != std::string::npos) return trim(l);
  return "(see the build log)";
}

}  // namespace

Mutant parse_mutant(const std::string& text, const std::string& file) {
  Mutant m;
  m.file = file;
  const std::string base = fs::path(file).filename().string();
  const size_t dashes = base.find("--");
  const bool named = base.size() > 6 && base.compare(base.size() - 6, 6, ".patch") == 0 && dashes != std::string::npos;
  if (!named) error_at(file, 0, "a mutant's file is named <function>--<mistake-slug>.patch");
  m.name = base.substr(0, base.size() - 6);
  if (!is_slug(m.name.substr(dashes + 2)))
    error_at(file, 0, "the mistake slug '" + m.name.substr(dashes + 2) + "' should be lower-case words joined by '-'");

  const std::vector<std::string> lines = split_lines(text);
  bool have_function = false, have_mistake = false, have_caught = false;
  size_t i = 0;
  // Header: "# key: value" lines (and whatever git diff writes before "---").
  for (; i < lines.size() && lines[i].rfind("--- ", 0) != 0; ++i) {
    const std::string l = trim(lines[i]);
    const int ln = static_cast<int>(i) + 1;
    if (l.empty() || l[0] != '#') continue;
    const size_t colon = l.find(':');
    if (colon == std::string::npos) continue;  // a comment
    const std::string key = trim(l.substr(1, colon - 1));
    const std::string value = trim(l.substr(colon + 1));
    if (key == "function") {
      m.function = value;
      have_function = true;
    } else if (key == "mistake") {
      m.mistake = value;
      have_mistake = true;
    } else if (key == "caught") {
      if (value != "visible" && value != "hidden") error_at(file, ln, "'caught:' is 'visible' or 'hidden', not '" + value + "'");
      m.caught_hidden = value == "hidden";
      have_caught = true;
    } else if (key != "why" && key != "note") {
      error_at(file, ln, "unknown header '" + key + ":' (function, mistake, caught; why and note are optional)");
    }
  }
  if (!have_function || m.function.empty()) error_at(file, 1, "no '# function: <signature>' line");
  if (!have_mistake || m.mistake.empty()) error_at(file, 1, "no '# mistake: <what is wrong>' line");
  if (!have_caught) error_at(file, 1, "no '# caught: visible' (or hidden) line");
  // The name starts with the function's name; an overload may add a suffix ("entropy_bits_tensor--…").
  const std::string prefix = m.name.substr(0, dashes), fn = function_name(m.function);
  if (prefix != fn && prefix.rfind(fn + "_", 0) != 0)
    error_at(file, 1, "the file name starts with '" + prefix + "' but the function is '" + fn + "' (name it '" + fn +
                          "--<mistake>.patch', or '" + fn + "_<overload>--<mistake>.patch' for an overload)");
  if (i == lines.size()) error_at(file, static_cast<int>(lines.size()), "no diff: expected a '--- a/<owned file>' line");

  const std::string old_path = diff_path(lines[i].substr(4), "a", file, static_cast<int>(i) + 1);
  ++i;
  if (i == lines.size() || lines[i].rfind("+++ ", 0) != 0) error_at(file, static_cast<int>(i) + 1, "expected '+++ b/...' after '---'");
  m.target = diff_path(lines[i].substr(4), "b", file, static_cast<int>(i) + 1);
  if (m.target != old_path) error_at(file, static_cast<int>(i) + 1, "a mutant changes one file: '" + old_path + "' vs '" + m.target + "'");
  ++i;

  // "\ No newline at end of file" after a line: that side of the diff ends without a newline.
  auto no_newline_after = [](Hunk& h) {
    if (h.lines.empty()) return;
    const char c = h.lines.back()[0];
    if (c != '+') h.old_no_final_newline = true;
    if (c != '-') h.new_no_final_newline = true;
  };
  while (i < lines.size()) {
    const std::string& l = lines[i];
    const int ln = static_cast<int>(i) + 1;
    ++i;
    if (trim(l).empty()) continue;
    if (l.rfind("--- ", 0) == 0 || l.rfind("diff ", 0) == 0) error_at(file, ln, "a mutant changes one file: a second diff starts here");
    if (l.rfind("@@ ", 0) != 0) error_at(file, ln, "expected a hunk ('@@ -l,n +l,n @@'), got '" + l + "'");
    Hunk h;
    h.line = ln;
    std::istringstream in(l.substr(3));
    std::string a, b, at;
    in >> a >> b >> at;
    if (a.empty() || a[0] != '-' || b.empty() || b[0] != '+' || at != "@@") error_at(file, ln, "malformed hunk header '" + l + "'");
    parse_range(a, h.old_start, h.old_count, file, ln);
    parse_range(b, h.new_start, h.new_count, file, ln);
    // Exactly old_count lines of the old text and new_count of the new one follow.
    int olds = 0, news = 0;
    while (olds < h.old_count || news < h.new_count) {
      if (i == lines.size())
        error_at(file, ln, "the hunk ends after " + std::to_string(olds) + " old and " + std::to_string(news) +
                               " new lines, its header says " + std::to_string(h.old_count) + " and " +
                               std::to_string(h.new_count) + " (make mutants with diff -u, do not edit them by hand)");
      std::string hl = lines[i++];
      if (hl.rfind("\\", 0) == 0) {  // "\ No newline at end of file", about the line before
        no_newline_after(h);
        continue;
      }
      if (hl.empty()) hl = " ";               // an editor stripped a blank context line's space
      const char c = hl[0];
      if (c != ' ' && c != '-' && c != '+')
        error_at(file, static_cast<int>(i), "a hunk line starts with ' ', '-' or '+', got '" + hl + "'");
      olds += c != '+';
      news += c != '-';
      if (olds > h.old_count || news > h.new_count)
        error_at(file, static_cast<int>(i), "the hunk has more lines than its header says (make mutants with diff -u)");
      h.lines.push_back(hl);
    }
    while (i < lines.size() && lines[i].rfind("\\", 0) == 0) {
      no_newline_after(h);
      ++i;
    }
    m.hunks.push_back(std::move(h));
  }
  if (m.hunks.empty()) error_at(file, static_cast<int>(lines.size()), "the diff has no hunks");
  return m;
}

std::string apply_mutant(const Mutant& m, const std::string& original) {
  std::vector<std::string> text = split_lines(original);
  bool final_newline = original.empty() || original.back() == '\n';
  size_t floor = 0;      // hunks apply in order, never over an earlier one
  long shift = 0;        // lines added minus removed by the earlier hunks
  for (size_t k = 0; k < m.hunks.size(); ++k) {
    const Hunk& h = m.hunks[k];
    std::vector<std::string> before, after;
    for (const std::string& l : h.lines) {
      if (l[0] != '+') before.push_back(l.substr(1));
      if (l[0] != '-') after.push_back(l.substr(1));
    }
    auto matches = [&](size_t at) {
      if (at < floor || at + before.size() > text.size()) return false;
      return std::equal(before.begin(), before.end(), text.begin() + static_cast<long>(at));
    };
    // Where the header says, then nearest first (like patch's offset search).
    const long want = std::max<long>(0, (h.old_count == 0 ? h.old_start : h.old_start - 1) + shift);
    long found = -1;
    for (long d = 0; found < 0 && d <= static_cast<long>(text.size()); ++d) {
      if (matches(static_cast<size_t>(want + d))) found = want + d;
      else if (d > 0 && want - d >= 0 && matches(static_cast<size_t>(want - d))) found = want - d;
    }
    if (found < 0)
      fail("mutant", m.file + ": hunk " + std::to_string(k + 1) + " (line " + std::to_string(h.line) + ") no longer matches " +
                         m.target + " (expected near line " + std::to_string(want + 1) + ": '" +
                         (before.empty() ? std::string() : before.front()) + "')",
           "the solution changed: re-make the mutant with diff -u against the current solution");
    text.erase(text.begin() + found, text.begin() + found + static_cast<long>(before.size()));
    text.insert(text.begin() + found, after.begin(), after.end());
    floor = static_cast<size_t>(found) + after.size();
    if (h.new_no_final_newline) final_newline = false;
    else if (h.old_no_final_newline) final_newline = true;
    shift += static_cast<long>(after.size()) - static_cast<long>(before.size());
  }
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    out += text[i];
    if (i + 1 < text.size() || final_newline) out += "\n";
  }
  return out;
}

LoadedMutants load_mutants(const Module& mod, const std::string& root) {
  LoadedMutants out;
  const std::string dir = root + "/" + mod.dir() + "/mutants";
  if (!dir_exists(dir)) return out;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file()) continue;
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".patch") == 0) {
      files.push_back(name);
    } else if (name != "README.md") {
      out.problems.push_back(mod.dir() + "/mutants/" + name + " is not a .patch (mutants are <function>--<mistake>.patch)");
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& name : files) {
    const std::string rel = mod.dir() + "/mutants/" + name;
    try {
      Mutant m = parse_mutant(read_text_file(root + "/" + rel), rel);
      if (std::find(mod.owns.begin(), mod.owns.end(), m.target) == mod.owns.end()) {
        out.problems.push_back(rel + ": changes " + m.target + ", which module " + mod.number + " does not own");
        continue;
      }
      out.mutants.push_back(std::move(m));
    } catch (const Error& e) {
      out.problems.push_back(e.what());
    }
  }
  return out;
}

std::string mutant_copy_path(const std::string& binary_dir, const std::string& owned) {
  return binary_dir + "/mutant-src/" + owned;
}

std::string mutant_verdict(bool caught_hidden, int visible_lost, int hidden_lost) {
  if (visible_lost > 0 && caught_hidden)
    return "loses " + std::to_string(visible_lost) + " visible points but is labelled `caught: hidden`: label it visible";
  if (visible_lost > 0) return "";
  if (hidden_lost > 0 && caught_hidden) return "";
  if (hidden_lost > 0)
    return "loses only hidden points (" + std::to_string(hidden_lost) +
           "): strengthen the visible tests (or label it `caught: hidden` and say why)";
  return "loses no points: the graded tests cannot tell it from the solution";
}

bool MutantCheck::ok() const {
  if (!problems.empty()) return false;
  for (const MutantOutcome& o : outcomes)
    if (!o.problem.empty()) return false;
  return true;
}

namespace {

// One mutant tree: the module's test targets, its build log, and the moves on it.
struct Tree {
  const Module& mod;
  std::string root, dir, log;
  std::vector<std::string> targets;
  int timeout = 0;

  Tree(const Module& m, const std::string& r, const std::string& d, int t) : mod(m), root(r), dir(d), timeout(t) {
    log = dir + "/course/mutant.build.log";
    targets = {test_target(mod, false)};
    if (!mod.hidden.empty()) targets.push_back(test_target(mod, true));
  }
  // Every copy back to its solution (written only when it differs, so nothing rebuilds needlessly).
  void restore() const {
    for (const std::string& owned : mod.owns) {
      const std::string copy = mutant_copy_path(dir, owned);
      const std::string sol = read_text_file(root + "/" + owned);
      if (read_text_file(copy) != sol) write_file_atomic(copy, sol);
    }
  }
  bool build() const { return build_targets(dir, targets, log) == 0; }
  void grade(int& visible_lost, int& hidden_lost, std::vector<std::string>& problems) const {
    visible_lost = hidden_lost = 0;
    for (const bool hidden : {false, true}) {
      if (hidden && mod.hidden.empty()) continue;
      const Grade g = run_and_grade(mod, hidden, dir, timeout);
      (hidden ? hidden_lost : visible_lost) = g.possible - g.earned;
      for (const std::string& p : g.problems) problems.push_back(p);
    }
  }
  // Problems with the tree itself: not a mutant tree, does not build, or loses points with the solutions.
  std::vector<std::string> baseline() const {
    for (const std::string& owned : mod.owns)
      if (!file_exists(mutant_copy_path(dir, owned)))
        return {dir + " is not a mutant tree (no " + mutant_copy_path(dir, owned) +
                "): configure it with -DNIBBLE_MUTANT_TREE=ON"};
    fs::create_directories(dir + "/course");
    restore();
    if (!build())
      return {"the mutant tree " + dir + " does not build with the solutions: " + first_error(read_text_file(log)) +
              " (log: " + log + ")"};
    int v = 0, h = 0;
    std::vector<std::string> problems, out;
    grade(v, h, problems);
    for (const std::string& p : problems) out.push_back(dir + " with the solutions: " + p);
    if (v != 0 || h != 0)
      out.push_back("with the solutions " + dir + " loses " + std::to_string(v) + " visible and " + std::to_string(h) +
                    " hidden points: nothing can be concluded from the mutants");
    return out;
  }
  MutantOutcome run(const Mutant& m) const {
    const auto t0 = std::chrono::steady_clock::now();
    MutantOutcome o;
    o.name = m.name;
    o.function = m.function;
    o.mistake = m.mistake;
    o.caught_hidden = m.caught_hidden;
    std::string patched;
    try {
      patched = apply_mutant(m, read_text_file(root + "/" + m.target));
    } catch (const Error& e) {
      o.problem = std::string("does not apply: ") + e.what();
    }
    if (o.problem.empty()) {
      write_file_atomic(mutant_copy_path(dir, m.target), patched);
      if (!build()) {
        o.problem = "does not compile: " + first_error(read_text_file(log));
      } else {
        std::vector<std::string> problems;
        grade(o.visible_lost, o.hidden_lost, problems);
        o.graded = true;
        o.problem = mutant_verdict(o.caught_hidden, o.visible_lost, o.hidden_lost);
        // A count problem (a test that did not run) already costs points; keep the first as context.
        if (!o.problem.empty() && !problems.empty()) o.problem += " [" + problems.front() + "]";
      }
      restore();
    }
    o.seconds = seconds_since(t0);
    return o;
  }
};

}  // namespace

MutantCheck check_mutants(const Module& mod, const std::string& root, const std::vector<std::string>& binary_dirs,
                          const std::string& only, int timeout_seconds,
                          const std::function<void(const MutantOutcome&)>& on_each) {
  check(!binary_dirs.empty(), "check_mutants", "no mutant tree given");
  const auto t_start = std::chrono::steady_clock::now();
  MutantCheck out;
  LoadedMutants loaded = load_mutants(mod, root);
  out.problems = loaded.problems;
  std::vector<const Mutant*> todo;
  for (const Mutant& m : loaded.mutants)
    if (only.empty() || m.name.find(only) != std::string::npos) todo.push_back(&m);
  if (todo.empty()) {
    out.all_ran = loaded.problems.empty();
    return out;
  }
  // The test programs of two trees run side by side: OpenMP must not spin-wait for the cores.
  ::setenv("OMP_WAIT_POLICY", "passive", 0);
  std::vector<Tree> trees;
  for (size_t t = 0; t < binary_dirs.size() && t < todo.size(); ++t) trees.emplace_back(mod, root, binary_dirs[t], timeout_seconds);

  // The baseline, in every tree at once: it builds and, with the solutions, earns every point.
  std::vector<std::vector<std::string>> base(trees.size());
  {
    std::vector<std::thread> threads;
    for (size_t t = 0; t < trees.size(); ++t) threads.emplace_back([&, t] { base[t] = trees[t].baseline(); });
    for (std::thread& th : threads) th.join();
  }
  for (const auto& b : base) out.problems.insert(out.problems.end(), b.begin(), b.end());
  if (out.problems.size() > loaded.problems.size()) return out;

  // Each tree takes the next mutant until none is left; outcomes keep the mutants' order.
  out.outcomes.resize(todo.size());
  std::atomic<size_t> next{0};
  std::mutex report;
  std::vector<std::thread> workers;
  for (const Tree& tree : trees)
    workers.emplace_back([&, t = &tree] {
      for (size_t i; (i = next++) < todo.size();) {
        MutantOutcome o = t->run(*todo[i]);
        const std::lock_guard<std::mutex> lock(report);
        if (on_each) on_each(o);
        out.outcomes[i] = std::move(o);
      }
    });
  for (std::thread& th : workers) th.join();
  out.all_ran = only.empty() && loaded.problems.empty();
  // Leave every tree built from the solutions.
  for (const Tree& tree : trees)
    if (!tree.build()) out.problems.push_back("rebuilding " + tree.dir + " with the solutions failed (log: " + tree.log + ")");
  out.seconds = seconds_since(t_start);
  return out;
}

std::string mutants_table(const Module& mod, const std::vector<MutantOutcome>& outcomes) {
  std::string s;
  s += "# Module " + mod.number + " mutants\n\n";
  s += "Generated by `nibble course-check` (do not edit): each mutant in `mutants/` is a plausible wrong\n"
       "solution, and every one must lose points. Instructor-only: `nibble release` leaves this file and\n"
       "`mutants/` out of the student edition.\n\n";
  int visible = 0;
  for (const MutantOutcome& o : outcomes) visible += o.visible_lost > 0;
  s += std::to_string(outcomes.size()) + " mutants, " + std::to_string(visible) + " caught by the visible tests.\n\n";
  s += "| mutant | mistake | visible points lost | hidden points lost |\n";
  s += "|---|---|---:|---:|\n";
  auto cell = [](std::string t) {
    for (size_t p = t.find('|'); p != std::string::npos; p = t.find('|', p + 2)) t.replace(p, 1, "\\|");
    return t;
  };
  for (const MutantOutcome& o : outcomes) {
    const std::string v = o.graded ? std::to_string(o.visible_lost) : "-";
    const std::string h = o.graded ? std::to_string(o.hidden_lost) : "-";
    s += "| `" + o.name + "` | " + cell(o.mistake) + (o.problem.empty() ? "" : " — **" + cell(o.problem) + "**") +
         " | " + v + " | " + h + " |\n";
  }
  return s;
}

}  // namespace nibble::course
