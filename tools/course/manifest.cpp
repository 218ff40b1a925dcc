#include "tools/course/manifest.h"

#include <cctype>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "tools/course/files.h"
#include "tools/course/json.h"

namespace nibble::course {

namespace {

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool all_of(const std::string& s, int (*pred)(int)) {
  if (s.empty()) return false;
  for (const char c : s)
    if (!pred(static_cast<unsigned char>(c))) return false;
  return true;
}

int is_slug_char(int c) { return std::islower(c) || std::isdigit(c) || c == '_'; }
int is_ident_char(int c) { return std::isalnum(c) || c == '_'; }

class ManifestParser {
 public:
  explicit ManifestParser(std::string filename) : file_(std::move(filename)) {}

  [[noreturn]] void error(int line, const std::string& problem) const {
    throw Error(file_ + ":" + std::to_string(line) + ": " + printable(problem) +
                "\n  hint: the format is described in modules/MANIFEST_FORMAT.md");
  }

  // The problem quotes the file's text: a binary file must not print raw bytes to the terminal.
  // Control characters become \xNN, bytes that are not UTF-8 '?', and the text is cut at 300 bytes.
  static std::string printable(const std::string& text) {
    std::string out;
    for (const char c : sanitize_utf8(text)) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", u);
        out += buf;
      } else {
        out += c;
      }
    }
    if (out.size() > 300) {
      size_t cut = 300;
      while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not mid-character
      out = out.substr(0, cut) + "...";
    }
    return out;
  }

  Manifest parse(const std::string& text) {
    Manifest m;
    m.path = file_;
    std::istringstream in(text);
    std::string raw;
    int line = 0;
    Module* current = nullptr;
    while (std::getline(in, raw)) {
      ++line;
      if (!raw.empty() && raw.back() == '\r') raw.pop_back();
      const size_t hash = raw.find('#');
      const std::string content = hash == std::string::npos ? raw : raw.substr(0, hash);
      const std::vector<std::string> words = split_words(content);
      if (words.empty()) continue;
      const bool indented = content[0] == ' ' || content[0] == '\t';
      const std::string& key = words[0];
      const std::vector<std::string> rest(words.begin() + 1, words.end());
      if (key == "module") {
        if (indented) error(line, "'module' must start at the beginning of the line");
        if (rest.size() != 2) error(line, "expected 'module NN slug', got '" + trim(content) + "'");
        if (rest[0].size() != 2 || !all_of(rest[0], isdigit))
          error(line, "module number must be two digits, got '" + rest[0] + "'");
        if (!all_of(rest[1], is_slug_char))
          error(line, "module slug must be lower-case letters, digits and '_', got '" + rest[1] + "'");
        for (const Module& other : m.modules)
          if (other.number == rest[0]) error(line, "module " + rest[0] + " is declared twice (first at line " + std::to_string(other.line) + ")");
        if (!m.modules.empty() && m.modules.back().number >= rest[0])
          error(line, "modules must appear in course order: " + rest[0] + " comes after " + m.modules.back().number);
        m.modules.push_back(Module{});
        current = &m.modules.back();
        current->number = rest[0];
        current->slug = rest[1];
        current->line = line;
        continue;
      }
      if (!indented) error(line, "unknown directive '" + key + "' (module blocks start with 'module NN slug'; their lines are indented)");
      if (current == nullptr) error(line, "'" + key + "' before the first 'module' line");
      directive(line, *current, m, key, rest, content);
    }
    if (m.modules.empty()) error(line, "no modules (the file is empty or has only comments)");
    for (const Module& mod : m.modules) {
      if (mod.title.empty()) error(mod.line, "module " + mod.number + " has no 'title'");
    }
    return m;
  }

 private:
  static std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t");
    if (a == std::string::npos) return "";
    const size_t b = s.find_last_not_of(" \t");
    return s.substr(a, b - a + 1);
  }

  void directive(int line, Module& mod, const Manifest& m, const std::string& key,
                 const std::vector<std::string>& rest, const std::string& content) {
    if (key == "title") {
      if (rest.empty()) error(line, "'title' needs a text");
      if (!mod.title.empty()) error(line, "module " + mod.number + " has two titles");
      mod.title = trim(trim(content).substr(5));
    } else if (key == "owns") {
      if (rest.empty()) error(line, "'owns' needs at least one path");
      const std::string prefix = mod.dir() + "/solution/";
      for (const std::string& p : rest) {
        if (p.rfind(prefix, 0) != 0 || p.size() <= prefix.size() + 4 || p.substr(p.size() - 4) != ".cpp" ||
            p.find('/', prefix.size()) != std::string::npos)
          error(line, "owned file '" + p + "' must be " + prefix + "<name>.cpp");
        for (const Module& other : m.modules)
          for (const std::string& o : other.owns)
            if (o == p) error(line, "'" + p + "' is owned twice");
        mod.owns.push_back(p);
      }
    } else if (key == "headers") {
      if (rest.empty()) error(line, "'headers' needs at least one path");
      mod.headers.insert(mod.headers.end(), rest.begin(), rest.end());
    } else if (key == "requires") {
      if (rest.empty()) error(line, "'requires' needs module numbers or '-'");
      if (rest.size() == 1 && rest[0] == "-") return;
      for (const std::string& r : rest) {
        bool earlier = false;
        for (const Module& other : m.modules)
          if (other.number == r && &other != &mod) earlier = true;
        if (!earlier) error(line, "module " + mod.number + " requires '" + r + "', which is not a module declared before it");
        mod.requires_.push_back(r);
      }
    } else if (key == "graded" || key == "hidden") {
      if (rest.size() != 2) error(line, "expected '" + key + " Suite.Name points'");
      const std::string& name = rest[0];
      const size_t dot = name.find('.');
      if (dot == std::string::npos || !all_of(name.substr(0, dot), is_ident_char) ||
          !all_of(name.substr(dot + 1), is_ident_char))
        error(line, "test name must be 'Suite.Name', got '" + name + "'");
      if (!all_of(rest[1], isdigit) || rest[1].size() > 6 || std::stoi(rest[1]) <= 0)
        error(line, "points must be a positive whole number, got '" + rest[1] + "'");
      for (const auto* list : {&mod.graded, &mod.hidden})
        for (const GradedTest& t : *list)
          if (t.name == name) error(line, "test " + name + " is listed twice (first at line " + std::to_string(t.line) + ")");
      auto& list = key == "graded" ? mod.graded : mod.hidden;
      list.push_back(GradedTest{name, std::stoi(rest[1]), line});
      long long total = 0;  // bounded, so that no sum of points can overflow int (grading, status)
      for (const GradedTest& t : list) total += t.points;
      if (total > 1000000)
        error(line, "module " + mod.number + "'s " + key + " points add up to " + std::to_string(total) +
                        ", more than 1000000");
    } else if (key == "milestone") {
      if (rest.empty()) error(line, "'milestone' needs a folder name");
      mod.milestones.insert(mod.milestones.end(), rest.begin(), rest.end());
    } else {
      error(line, "unknown directive '" + key + "' (expected title, owns, headers, requires, graded, hidden or milestone)");
    }
  }

  std::string file_;
};

}  // namespace

int Module::visible_points() const {
  int sum = 0;
  for (const GradedTest& t : graded) sum += t.points;
  return sum;
}

int Module::hidden_points() const {
  int sum = 0;
  for (const GradedTest& t : hidden) sum += t.points;
  return sum;
}

const Module* Manifest::find(const std::string& number) const {
  for (const Module& m : modules)
    if (m.number == number) return &m;
  return nullptr;
}

const Module& Manifest::get(const std::string& number) const {
  const Module* m = find(number);
  if (m == nullptr) {
    std::string known;
    for (const Module& mod : modules) known += (known.empty() ? "" : ", ") + mod.number;
    fail("manifest", "no module '" + number + "' in " + path, "the modules are: " + (known.empty() ? "(none)" : known));
  }
  return *m;
}

Manifest parse_manifest(const std::string& text, const std::string& filename) {
  return ManifestParser(filename).parse(text);
}

Manifest load_manifest(const std::string& path) { return parse_manifest(read_text_file(path), path); }

std::string stub_path_for(const std::string& solution_path) {
  const std::string marker = "/solution/";
  const size_t at = solution_path.rfind(marker);
  check(at != std::string::npos, "stubs", "'" + solution_path + "' is not under a solution/ folder");
  return solution_path.substr(0, at) + "/" + solution_path.substr(at + marker.size());
}

}  // namespace nibble::course
