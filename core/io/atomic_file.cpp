#include "core/io/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace nibble::io {

void write_atomically(const std::string& path, const std::string& op,
                      const std::function<void(std::ostream&)>& write) {
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) {
    // Nothing was created, so there is nothing to clean up.
    fail(op, path + ": cannot create " + tmp + " (" + std::strerror(errno) + ")",
         "check that the directory exists and is writable");
  }
  try {
    write(out);
    out.flush();
    NIBBLE_CHECK(out.good(), op, path + ": writing " + tmp + " failed (disk full?)");
    out.close();
    NIBBLE_CHECK(!out.fail(), op, path + ": closing " + tmp + " failed (disk full?)");
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      fail(op, path + ": cannot rename " + tmp + " into place (" + std::strerror(errno) + ")");
    }
  } catch (...) {
    out.close();
    std::remove(tmp.c_str());  // never leave a half-written file behind
    throw;
  }
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
