#include "tools/course/feedback.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <filesystem>
#include <sstream>

#include "tools/course/files.h"

namespace nibble::course {

namespace fs = std::filesystem;

namespace {

// Beyond these, a failure is trimmed in the middle (hint lines are always kept whole).
constexpr size_t kMaxLines = 8;          // lines of one failure, hints not counted
constexpr size_t kMaxLineChars = 240;    // characters of one line
constexpr size_t kMaxFailures = 3;       // failures shown in full per test; later ones show their hints

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_hint(const std::string& line) {
  const size_t k = line.find_first_not_of(' ');
  return k != std::string::npos && line.compare(k, 5, "hint:") == 0;
}

// "a/b/c.cpp:12" -> true (gtest's first line of an assertion failure).
bool is_location(const std::string& line) {
  const size_t colon = line.rfind(':');
  if (colon == std::string::npos || colon + 1 == line.size() || line.find(' ') != std::string::npos) return false;
  return std::all_of(line.begin() + static_cast<long>(colon) + 1, line.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// gtest names the file as the compiler saw it: absolute, or relative to the build tree
// ("../modules/01_entropy/tests/x_test.cpp" from build/). Shown relative to the source tree.
std::string relative_to_root(const std::string& path, const std::string& root) {
  if (root.empty()) return path;
  std::string r = root;
  if (r.back() != '/') r += '/';
  if (starts_with(path, r)) return path.substr(r.size());
  std::string p = path;
  while (starts_with(p, "../")) p = p.substr(3);
  const std::string file = p.substr(0, p.rfind(':'));
  return p != path && file_exists(r + file) ? p : path;
}

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Keeps the beginning and the end of a very long line.
std::string trim_line(const std::string& line) {
  if (line.size() <= kMaxLineChars) return line;
  const size_t keep = kMaxLineChars / 2 - 3;
  return line.substr(0, keep) + " ... " + line.substr(line.size() - keep);
}

// The student's files of module `number` (modules/NN_slug/*.cpp), relative to root.
std::vector<std::string> student_files(const std::string& root, const std::string& number) {
  std::vector<std::string> out;
  if (root.empty()) return out;
  for (const std::string& d : list_dirs(root + "/modules")) {
    if (!starts_with(d, number + "_")) continue;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root + "/modules/" + d, ec))
      if (e.is_regular_file() && e.path().extension() == ".cpp") out.push_back("modules/" + d + "/" + e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The first of `files` (relative to root) that contains `needle`; "" when none does.
std::string file_containing(const std::string& root, const std::vector<std::string>& files, const std::string& needle) {
  for (const std::string& f : files) {
    std::string text;
    try {
      text = read_text_file(root + "/" + f);
    } catch (const std::exception&) {
      continue;
    }
    if (text.find(needle) != std::string::npos) return f;
  }
  return "";
}

// "not implemented yet: module 01: entropy_bits" somewhere in the text -> {"01", "entropy_bits"}.
bool find_not_implemented(const std::string& text, std::string& number, std::string& function) {
  static const std::string kMark = "not implemented yet: module ";
  const size_t at = text.find(kMark);
  if (at == std::string::npos) return false;
  const size_t n = at + kMark.size();
  const size_t colon = text.find(": ", n);
  if (colon == std::string::npos) return false;
  number = text.substr(n, colon - n);
  const size_t end = text.find_first_of("\n\"", colon + 2);
  function = text.substr(colon + 2, end == std::string::npos ? std::string::npos : end - colon - 2);
  return !number.empty() && !function.empty();
}

// "module 01: entropy_bits is not implemented yet (modules/01_entropy/entropy.cpp)".
std::string not_implemented_line(const std::string& number, const std::string& function, const std::string& root) {
  const std::vector<std::string> files = student_files(root, number);
  std::string where = file_containing(root, files, "\"module " + number + ": " + function + "\"");
  if (where.empty()) where = file_containing(root, files, function + "(");
  return "module " + number + ": " + function + " is not implemented yet" + (where.empty() ? "" : " (" + where + ")");
}

// gtest's EXPECT_NEAR text (4 lines) as one: "f(p) gave 0.5, expected 1 (within 1e-12; off by 0.5)".
// Returns false, leaving `out` alone, when the lines are not exactly that shape.
bool compact_near(const std::vector<std::string>& lines, size_t i, std::string& out) {
  if (i + 3 >= lines.size() || !starts_with(lines[i], "The difference between ")) return false;
  static const std::string kEval = " evaluates to ";
  auto split = [&](const std::string& l, const std::string& tail, std::string& expr, std::string& value) {
    const size_t e = l.rfind(kEval);
    if (e == std::string::npos || !ends_with(l, tail)) return false;
    expr = l.substr(0, e);
    value = l.substr(e + kEval.size(), l.size() - e - kEval.size() - tail.size());
    return true;
  };
  std::string a, va, b, vb, t, vt;
  if (!split(lines[i + 1], ",", a, va) || !split(lines[i + 2], ", and", b, vb) || !split(lines[i + 3], ".", t, vt))
    return false;
  const std::string head = "The difference between " + a + " and " + b + " is ";
  const std::string tail = ", which exceeds " + t + ", where";
  const std::string& l0 = lines[i];
  if (!starts_with(l0, head) || !ends_with(l0, tail) || l0.size() < head.size() + tail.size()) return false;
  const std::string diff = l0.substr(head.size(), l0.size() - head.size() - tail.size());
  // The tests write EXPECT_NEAR(actual, expected, tol); a literal first means the other order.
  if (is_number(a) && !is_number(b)) {
    std::swap(a, b);
    std::swap(va, vb);
  }
  out = a + " gave " + va + ", expected " + vb + " (within " + t + "; off by " + diff + ")";
  return true;
}

// The body of one failure as readable lines, before trimming.
std::vector<std::string> raw_lines(const std::string& failure, const Module& mod, const FeedbackOptions& opt) {
  std::vector<std::string> in = split_lines(failure);
  std::vector<std::string> out;
  size_t i = 0;
  if (!in.empty() && in[0] == "unknown file") i = 1;  // gtest's location for an exception: says nothing
  else if (!in.empty() && is_location(in[0])) out.push_back(relative_to_root(in[i++], opt.root));

  // An exception that escaped the test: "C++ exception with description "<what>" thrown in the test body."
  static const std::string kExc = "C++ exception with description \"";
  const std::string rest = [&] {
    std::string r;
    for (size_t k = i; k < in.size(); ++k) r += (k > i ? "\n" : "") + in[k];
    return r;
  }();
  if (starts_with(rest, kExc)) {
    const size_t end = rest.rfind("\" thrown in ");
    const std::string what = rest.substr(kExc.size(), end == std::string::npos || end < kExc.size()
                                                          ? std::string::npos : end - kExc.size());
    const std::string where = end == std::string::npos ? "" : rest.substr(end + 2);  // "thrown in the test body."
    std::vector<std::string> w = split_lines(what);
    std::string number, function;
    if (find_not_implemented(what, number, function)) {
      out.push_back(not_implemented_line(number, function, opt.root));
      for (size_t k = 1; k < w.size(); ++k) out.push_back(w[k]);
      return out;
    }
    // A nibble::Error reads "function: problem"; name the student's file when the function is in it.
    const std::string first = w.empty() ? "" : w[0];
    const size_t colon = first.find(": ");
    const std::string op = colon == std::string::npos ? "" : first.substr(0, colon);
    const bool identifier = !op.empty() && std::all_of(op.begin(), op.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
    });
    const std::string file = identifier ? file_containing(opt.root, student_files(opt.root, mod.number), op + "(") : "";
    if (!file.empty())
      out.push_back("module " + mod.number + ": " + op + " (" + file + ") threw: " + first.substr(colon + 2));
    else
      out.push_back("an exception escaped the test: " + first);
    for (size_t k = 1; k < w.size(); ++k) out.push_back(w[k]);
    if (!where.empty() && where != "thrown in the test body.") out.push_back("(" + where + ")");
    return out;
  }
  if (starts_with(rest, "Unknown C++ exception thrown in ")) {
    out.push_back("your code threw something that is not a std::exception (e.g. `throw 1`)");
    out.push_back("  hint: throw nibble::Error (core/error.h: fail(op, problem, hint)) so the message says what went wrong");
    return out;
  }
  // An assertion that reports a stub (e.g. a test that expected an error and got NotImplemented).
  std::string number, function;
  if (find_not_implemented(rest, number, function)) out.push_back(not_implemented_line(number, function, opt.root));
  for (; i < in.size(); ++i) {
    std::string near;
    if (!opt.verbose && compact_near(in, i, near)) {  // --verbose: gtest's own words
      out.push_back(near);
      i += 3;
      continue;
    }
    if (in[i].find_first_not_of(' ') == std::string::npos) continue;  // hint() starts with a newline
    out.push_back(in[i]);
  }
  return out;
}

std::string indent_block(const std::vector<std::string>& lines, const std::string& indent) {
  std::string s;
  for (const std::string& l : lines) s += indent + l + "\n";
  return s;
}

}  // namespace

std::vector<std::string> failure_lines(const std::string& failure, const Module& mod, const FeedbackOptions& opt) {
  const std::vector<std::string> lines = raw_lines(failure, mod, opt);
  if (opt.verbose) return lines;
  size_t plain = 0;
  for (const std::string& l : lines) plain += is_hint(l) ? 0 : 1;
  // Keep the first lines (location, expression, values) and the last ones (input), cut the middle.
  const size_t head = kMaxLines - 2, tail = 2;
  std::vector<std::string> out;
  size_t k = 0, cut = 0, marker = 0;
  for (const std::string& l : lines) {
    if (is_hint(l)) {
      out.push_back(l);
      continue;
    }
    const bool keep = plain <= kMaxLines || k < head || k >= plain - tail;
    ++k;
    if (keep) {
      out.push_back(trim_line(l));
      continue;
    }
    if (cut++ == 0) {
      marker = out.size();
      out.emplace_back();
    }
  }
  if (cut > 0)
    out[marker] = "... (" + std::to_string(cut) + " lines cut; `nibble test " + mod.number + " --verbose` shows all)";
  return out;
}

std::string format_grade(const Module& mod, const Grade& g, const FeedbackOptions& opt) {
  std::string s = "module " + mod.number + " " + mod.slug + " \u2014 " + mod.title + (g.hidden ? " (hidden tests)" : "") + "\n";
  size_t width = 0;
  for (const auto& t : g.tests) width = std::max(width, t.name.size());
  const std::string indent(8, ' ');
  for (const auto& t : g.tests) {
    char row[512];
    std::snprintf(row, sizeof row, "  %s %-*s %3d/%d\n", t.passed ? "\u2713" : "\u2717", static_cast<int>(width),
                  t.name.c_str(), t.passed ? t.points : 0, t.points);
    s += row;
    if (t.passed) continue;
    std::vector<std::string> failures = t.failures;
    if (failures.empty() && !t.message.empty()) failures.push_back(t.message);
    std::vector<std::string> shown_hints;
    for (size_t f = 0; f < failures.size(); ++f) {
      const std::vector<std::string> lines = failure_lines(failures[f], mod, opt);
      if (opt.verbose || f < kMaxFailures) {
        s += indent_block(lines, indent);
        for (const std::string& l : lines)
          if (is_hint(l)) shown_hints.push_back(l);
        continue;
      }
      if (f == kMaxFailures)
        s += indent + "... " + std::to_string(failures.size() - kMaxFailures) + " more failed check" +
             (failures.size() - kMaxFailures == 1 ? "" : "s") + " in this test (`nibble test " + mod.number +
             " --verbose` shows all); their hints:\n";
      for (const std::string& l : lines) {
        if (!is_hint(l) || std::find(shown_hints.begin(), shown_hints.end(), l) != shown_hints.end()) continue;
        shown_hints.push_back(l);
        s += indent + l + "\n";
      }
    }
  }
  for (const std::string& problem : g.problems) s += "  error: " + problem + "\n";
  s += mod.number + " " + mod.slug + ": " + std::to_string(g.earned) + "/" + std::to_string(g.possible) + "\n";
  return s;
}

std::vector<std::string> prerequisite_warnings(const Manifest& m, const Module& mod, const Json& results) {
  std::vector<std::string> out;
  for (const std::string& number : mod.requires_) {
    const Module* req = m.find(number);
    if (req == nullptr) continue;  // the manifest's validation reports unknown modules
    const Json& r = saved_result(results, *req);
    if (r["complete"].as_bool()) continue;
    const std::string state =
        r.is_object() ? "which has " + std::to_string(static_cast<int>(r["earned"].as_number())) + "/" +
                            std::to_string(req->visible_points())
                      : "which has not been tested yet";
    out.push_back("warning: module " + mod.number + " builds on module " + req->number + " (" + req->slug + "), " +
                  state + ": finish it first (`nibble test " + req->number + "`)");
  }
  return out;
}

}  // namespace nibble::course
