#include "tools/course/stubs.h"

#include <sstream>

#include "core/error.h"
#include "tools/course/files.h"

namespace nibble::course {

namespace {

std::string strip(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

// "// BEGIN SOLUTION name" -> name; "" when the line is not a BEGIN marker.
bool is_marker(const std::string& line, const std::string& word, std::string& rest) {
  const std::string t = strip(line);
  const std::string prefix = "// " + word + " SOLUTION";
  if (t.rfind(prefix, 0) != 0) return false;
  rest = strip(t.substr(prefix.size()));
  return true;
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (const char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  return true;
}

}  // namespace

std::string make_stub(const std::string& solution_text, const std::string& module_number,
                      const std::string& stub_rel_path, const std::string& source_name) {
  auto error = [&](int line, const std::string& problem) {
    throw Error(source_name + ":" + std::to_string(line) + ": " + problem);
  };
  std::vector<std::string> lines;
  {
    std::istringstream in(solution_text);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  const bool has_error_include = solution_text.find("core/error.h") != std::string::npos;

  std::vector<std::string> body;
  bool in_region = false;
  int region_line = 0;
  int last_include = -1;  // index in body of the last #include before the first region
  bool seen_region = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    const int line = static_cast<int>(i) + 1;
    std::string rest;
    if (is_marker(l, "BEGIN", rest)) {
      if (in_region) error(line, "BEGIN SOLUTION inside the region opened at line " + std::to_string(region_line));
      if (!is_identifier(rest)) error(line, "BEGIN SOLUTION needs the function's name, e.g. '// BEGIN SOLUTION entropy_bits'");
      const std::string indent = l.substr(0, l.find_first_not_of(" \t"));
      body.push_back(indent + "throw nibble::NotImplemented(\"module " + module_number + ": " + rest + "\");");
      in_region = true;
      seen_region = true;
      region_line = line;
      continue;
    }
    if (is_marker(l, "END", rest)) {
      if (!in_region) error(line, "END SOLUTION without a BEGIN SOLUTION");
      if (!rest.empty()) error(line, "END SOLUTION takes nothing after it");
      in_region = false;
      continue;
    }
    if (in_region) continue;
    if (!seen_region && strip(l).rfind("#include", 0) == 0) last_include = static_cast<int>(body.size());
    body.push_back(l);
  }
  if (in_region) error(region_line, "BEGIN SOLUTION is never closed by '// END SOLUTION'");

  if (!has_error_include) {
    const size_t at = last_include >= 0 ? static_cast<size_t>(last_include) + 1 : 0;
    std::vector<std::string> add = {"#include \"core/error.h\"  // nibble::NotImplemented"};
    if (last_include < 0) add.push_back("");
    body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), add.begin(), add.end());
  }

  std::string out;
  out += "// " + stub_rel_path + " — module " + module_number +
         ": this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.\n";
  out += "// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)\n";
  for (const std::string& l : body) out += l + "\n";
  return out;
}

std::vector<StubStatus> check_stubs(const Manifest& manifest, const std::string& root) {
  std::vector<StubStatus> out;
  for (const Module& mod : manifest.modules) {
    if (!dir_exists(root + "/" + mod.dir() + "/solution")) continue;
    for (const std::string& sol : mod.owns) {
      StubStatus s;
      s.solution = sol;
      s.stub = stub_path_for(sol);
      s.expected = make_stub(read_text_file(root + "/" + sol), mod.number, s.stub, sol);
      s.up_to_date = file_exists(root + "/" + s.stub) && read_text_file(root + "/" + s.stub) == s.expected;
      out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace nibble::course
