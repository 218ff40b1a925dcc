#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/error.h"

namespace nibble::io {

namespace {

namespace fs = std::filesystem;

std::string reason() { return std::strerror(errno); }

// The folder of path ("." for a bare file name) and the file's own name.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const fs::path p(path);
  const std::string dir = p.parent_path().empty() ? std::string(".") : p.parent_path().string();
  return {dir, p.filename().string()};
}

// Permission bits for a new file: those of the file it replaces, else 0666 minus the umask (what
// std::ofstream would have used; mkstemp alone gives 0600, which would make released files
// private).
mode_t new_file_mode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return st.st_mode & 07777;
  static mode_t mask = 0;
  static std::once_flag once;
  std::call_once(once, [] {
    mask = ::umask(022);  // reading the umask means setting it; put it straight back
    ::umask(mask);
  });
  return 0666 & ~mask;
}

// Removes "<name>.tmp" (the fixed name older versions used) and "<name>.tmp.<pid>[.XXXXXX]" whose
// process no longer runs: what a save killed half-way leaves behind. Best effort, errors ignored.
void remove_stale_temporaries(const std::string& dir, const std::string& name) {
  const std::string prefix = name + ".tmp";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string f = it->path().filename().string();
    if (f.compare(0, prefix.size(), prefix) != 0) continue;
    bool stale = false;
    if (f.size() == prefix.size()) {
      stale = true;
    } else if (f[prefix.size()] == '.') {
      const size_t start = prefix.size() + 1;
      size_t end_pid = start;
      while (end_pid < f.size() && f[end_pid] >= '0' && f[end_pid] <= '9' && end_pid - start < 9)
        ++end_pid;
      if (end_pid > start && (end_pid == f.size() || f[end_pid] == '.')) {
        const long pid = std::stol(f.substr(start, end_pid - start));
        stale = pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
      }
    }
    std::error_code ignored;
    if (stale) fs::remove(it->path(), ignored);
  }
}

// fsync of the folder makes the rename durable. Some file systems refuse to fsync a folder
// (EINVAL); the rename has happened by then, so this is best effort.
void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_atomically(const std::string& path, const std::string& op,
                      const std::function<void(std::ostream&)>& write) {
  NIBBLE_CHECK(!path.empty(), op, "empty file name");
  const auto [dir, name] = split_path(path);
  remove_stale_temporaries(dir, name);
  const std::string pattern = path + ".tmp." + std::to_string(::getpid()) + ".XXXXXX";
  std::string tmp = pattern;
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    // Nothing was created, so there is nothing to clean up.
    fail(op, path + ": cannot create " + pattern + " (" + reason() + ")",
         "check that the folder exists and is writable");
  }
  try {
    NIBBLE_CHECK(::fchmod(fd, new_file_mode(path)) == 0, op,
                 path + ": cannot set permissions of " + tmp);
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      NIBBLE_CHECK(static_cast<bool>(out), op,
                   path + ": cannot open " + tmp + " (" + reason() + ")");
      write(out);
      out.flush();
      NIBBLE_CHECK(out.good(), op, path + ": writing " + tmp + " failed (disk full?)");
      out.close();
      NIBBLE_CHECK(!out.fail(), op, path + ": closing " + tmp + " failed (disk full?)");
    }
    // fsync through mkstemp's descriptor: it is the same file, whatever stream wrote it.
    if (::fsync(fd) != 0) fail(op, path + ": fsync of " + tmp + " failed (" + reason() + ")");
    if (::close(fd) != 0) {
      const std::string why = reason();
      std::remove(tmp.c_str());
      fail(op, path + ": closing " + tmp + " failed (" + why + ")");
    }
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());  // never leave a half-written file behind
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = reason();
    std::remove(tmp.c_str());
    std::error_code ec;
    fail(op, path + ": cannot rename " + tmp + " into place (" + why + ")",
         fs::is_directory(path, ec) ? "'" + path + "' is a folder: give a file name" : "");
  }
  sync_dir(dir);
}

void write_file_atomically(const std::string& path, const std::string& op,
                           const std::string& content) {
  write_atomically(path, op, [&content](std::ostream& out) {
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  });
}

void check_writable(const std::string& path, const std::string& op) {
  NIBBLE_CHECK(!path.empty(), op, "empty output file name");
  std::error_code ec;
  NIBBLE_CHECK(!fs::is_directory(path, ec), op, "cannot write " + path + ": it is a folder",
               "give a file name, e.g. " + (fs::path(path) / "model.ckpt").string());
  const std::string dir = split_path(path).first;
  NIBBLE_CHECK(fs::is_directory(dir, ec), op,
               "cannot write " + path + ": the folder " + dir + " does not exist",
               "create it first: mkdir -p " + dir);
  NIBBLE_CHECK(
      ::access(dir.c_str(), W_OK) == 0, op,
      "cannot write " + path + ": the folder " + dir + " is not writable (" + reason() + ")");
}

std::vector<unsigned char> read_file_bytes(const std::string& path, const std::string& op) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(op, path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<unsigned char> bytes;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    bytes.insert(bytes.end(), chunk, chunk + in.gcount());
  }
  NIBBLE_CHECK(in.eof(), op, path + ": read error");
  return bytes;
}

}  // namespace nibble::io
