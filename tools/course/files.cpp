#include "tools/course/files.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace nibble::course {

namespace fs = std::filesystem;

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(static_cast<bool>(in), "read", "cannot open '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool dir_exists(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  io::write_file_atomically(path, "write", content);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int run_command(const std::string& command, const std::string& log_path) {
  // exec first, so that even the shell's own "Aborted"/"Segmentation fault" lines go to the log.
  const std::string full = log_path.empty() ? command : "exec > " + shell_quote(log_path) + " 2>&1; " + command;
  const int status = std::system(full.c_str());
  if (status == -1) return 127;
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    return code;
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 127;
}

std::vector<std::string> list_dirs(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace nibble::course
