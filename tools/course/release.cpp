#include "tools/course/release.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "tools/course/files.h"
#include "tools/course/stubs.h"

namespace nibble::course {

namespace fs = std::filesystem;

namespace {

bool looks_like_module_dir(const std::string& name) {
  return name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[0])) &&
         std::isdigit(static_cast<unsigned char>(name[1])) && name[2] == '_';
}

std::vector<std::string> split_nul(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (const char c : s) {
    if (c == '\0') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<std::string> git_list(const std::string& root, const std::string& which) {
  const std::string tmp = (fs::temp_directory_path() / ("nibble-ls-" + std::to_string(::getpid()))).string();
  const int code = run_command("git -C " + shell_quote(root) + " ls-files -z " + which + " > " + shell_quote(tmp));
  std::string text = file_exists(tmp) ? read_text_file(tmp) : "";
  std::error_code ec;
  fs::remove(tmp, ec);
  check(code == 0, "nibble release", "`git ls-files` failed in " + root);
  return split_nul(text);
}

std::vector<std::string> walk(const std::string& root) {
  std::vector<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && !it->is_symlink() &&
        (name == ".git" || name == ".cache" || name.rfind("build", 0) == 0)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory() && !it->is_symlink()) continue;
    out.push_back(fs::relative(it->path(), root).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> check_layout(const Manifest& manifest, const std::string& root) {
  std::vector<std::string> problems;
  std::set<std::string> declared;
  for (const Module& m : manifest.modules) {
    declared.insert(m.name());
    const std::string dir = root + "/" + m.dir();
    if (!dir_exists(dir)) {
      problems.push_back("module " + m.number + " (manifest line " + std::to_string(m.line) + ") has no folder " + m.dir() + "/");
      continue;
    }
    if (m.visible_points() != 100)
      problems.push_back("module " + m.number + ": visible graded points sum to " + std::to_string(m.visible_points()) + ", not 100");
    if (m.graded.empty()) problems.push_back("module " + m.number + " has no graded tests");
    if (!dir_exists(dir + "/tests")) problems.push_back("module " + m.number + " has no " + m.dir() + "/tests/ folder");
    if (!m.hidden.empty() && dir_exists(dir + "/solution") && !dir_exists(dir + "/hidden"))
      problems.push_back("module " + m.number + " lists hidden tests but has no " + m.dir() + "/hidden/ folder");
    const bool instructor = dir_exists(dir + "/solution");
    for (const std::string& sol : m.owns) {
      if (instructor && !file_exists(root + "/" + sol)) problems.push_back("module " + m.number + ": owned file " + sol + " is missing");
      if (!instructor && !file_exists(root + "/" + stub_path_for(sol)))
        problems.push_back("module " + m.number + ": stub " + stub_path_for(sol) + " is missing");
    }
  }
  for (const std::string& d : list_dirs(root + "/modules"))
    if (looks_like_module_dir(d) && declared.count(d) == 0)
      problems.push_back("folder modules/" + d + "/ is not in " + manifest.path);
  return problems;
}

bool is_instructor_only(const std::string& rel) {
  // The autograder's harness, threat model and hostile suite (tools/autograde/SECURITY.md).
  for (const char* dir : {"tools/autograde/", "tests/autograde/"})
    if (rel.rfind(dir, 0) == 0) return true;
  if (rel.rfind("modules/", 0) != 0) return false;
  const size_t slash = rel.find('/', 8);
  if (slash == std::string::npos) return false;
  const std::string rest = rel.substr(slash + 1);
  for (const char* dir : {"solution", "hidden", "mutants"})
    if (rest == dir || rest.rfind(std::string(dir) + "/", 0) == 0) return true;
  return rest == "MUTANTS.md";
}

ReleaseSummary release(const std::string& root, const std::string& out_dir) {
  const char* op = "nibble release";
  check(dir_exists(root), op, "no source tree at '" + root + "'");
  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    check(fs::is_directory(out_dir, ec), op, "'" + out_dir + "' exists and is not a folder");
    check(fs::is_empty(out_dir, ec), op, "'" + out_dir + "' is not empty", "give a new or empty folder");
  }
  const std::string root_abs = fs::weakly_canonical(root).string();
  const std::string out_abs = fs::weakly_canonical(out_dir).string();
  check(out_abs != root_abs, op, "the output folder is the source tree itself");

  ReleaseSummary s;
  std::vector<std::string> files;
  if (fs::exists(root + "/.git")) {
    files = git_list(root, "--cached --others --exclude-standard");
    const std::vector<std::string> untracked = git_list(root, "--others --exclude-standard");
    s.untracked = untracked.size();
    std::sort(files.begin(), files.end());
    files.erase(std::unique(files.begin(), files.end()), files.end());
  } else {
    files = walk(root);
  }

  // Everything is written into a staging folder next to out_dir and renamed onto it at the end: a
  // release that fails half-way leaves nothing behind (no partial edition that a rerun would refuse).
  fs::path out_path = fs::path(out_abs);
  if (!out_path.has_filename()) out_path = out_path.parent_path();  // "edition/"
  const std::string stage =
      (out_path.parent_path() / ("." + out_path.filename().string() + ".partial-" + std::to_string(::getpid()))).string();
  fs::remove_all(stage, ec);
  fs::create_directories(out_path.parent_path());
  fs::create_directories(stage);
  try {
    const std::string out_rel_prefix =
        out_abs.rfind(root_abs + "/", 0) == 0 ? out_abs.substr(root_abs.size() + 1) + "/" : std::string();
    for (const std::string& rel : files) {
      if (!out_rel_prefix.empty() && rel.rfind(out_rel_prefix, 0) == 0) continue;  // never copy the output into itself
      const fs::path src = fs::path(root) / rel;
      if (!fs::exists(fs::symlink_status(src))) continue;  // tracked but deleted in the work tree
      if (is_instructor_only(rel)) {
        ++s.excluded;
        continue;
      }
      const fs::path dst = fs::path(stage) / rel;
      fs::create_directories(dst.parent_path());
      if (fs::is_symlink(fs::symlink_status(src))) {
        fs::copy_symlink(src, dst);
      } else {
        fs::copy_file(src, dst, fs::copy_options::overwrite_existing);
      }
      ++s.files;
    }

    const std::string manifest_path = root + "/modules/modules.manifest";
    if (file_exists(manifest_path)) {
      const Manifest m = load_manifest(manifest_path);
      for (const StubStatus& st : check_stubs(m, root)) {
        const fs::path dst = fs::path(stage) / st.stub;
        fs::create_directories(dst.parent_path());
        const bool existed = fs::exists(dst);
        write_file_atomic(dst.string(), st.expected);
        if (!existed) ++s.files;
        ++s.stubs;
        if (!st.up_to_date) s.stale_stubs.push_back(st.stub);
      }
      for (const Module& mod : m.modules) s.modules.push_back(mod.name());
      // The hidden tests' names and points are instructor-only too: drop their manifest lines.
      const std::string out_manifest = (fs::path(stage) / "modules/modules.manifest").string();
      std::istringstream in(read_text_file(out_manifest));
      std::string line, kept;
      while (std::getline(in, line)) {
        const size_t first = line.find_first_not_of(" \t");
        if (first != std::string::npos && line.compare(first, 7, "hidden ") == 0) continue;
        kept += line + "\n";
      }
      write_file_atomic(out_manifest, kept);
    }
    // rename(2) replaces an empty folder in one step; out_dir was checked to be absent or empty.
    std::error_code renamed;
    fs::rename(stage, out_path, renamed);
    check(!renamed, op, "cannot move the finished edition from " + stage + " to " + out_dir + " (" + renamed.message() + ")",
          "was '" + out_dir + "' created meanwhile? give a new or empty folder");
  } catch (...) {
    fs::remove_all(stage, ec);
    throw;
  }
  return s;
}

}  // namespace nibble::course
