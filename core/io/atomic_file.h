// Small file helpers shared by the writers and readers in core/io/.
//
// write_atomically: a crash, a full disk or an exception half-way through saving must never leave
// a half-written checkpoint or PNG under the real name, where the next run would trip over it.
// So we write everything to "<path>.tmp" and only std::rename() it into place once the whole file
// is on disk; rename within one directory replaces the target in a single step on POSIX. On any
// failure the temp file is removed and a nibble::Error (or the writer's own exception) propagates.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace nibble::io {

// Calls write(out) with a binary stream open on path + ".tmp", then renames it to path.
// `op` names the caller in error messages ("save_png", "save_tensors", ...).
void write_atomically(const std::string& path, const std::string& op,
                      const std::function<void(std::ostream&)>& write);

// The whole file as bytes. Throws nibble::Error "<op>: <path>: cannot open (<reason>)".
std::vector<unsigned char> read_file_bytes(const std::string& path, const std::string& op);

}  // namespace nibble::io
