// Small file helpers shared by every writer and reader of files in nibble (core/io/, nn/
// checkpoints, the course tools' results and releases). This is THE one atomic-write helper: use it
// for any file that a crash, a full disk or a second process must never see half-written.
//
// write_atomically(path, op, write):
//   1. creates a temporary file with a unique name in the same folder as path
//      ("<path>.tmp.<pid>.XXXXXX", mkstemp), so two processes saving the same path never share it;
//   2. calls write(out) on a binary stream open on it;
//   3. flushes and fsyncs the file (its bytes are on disk before its name is);
//   4. renames it onto path (one step on POSIX: readers see the old file or the new, never a mix);
//   5. fsyncs the folder, so the rename itself survives a power cut.
// On any failure (including an exception thrown by `write`) the temporary file is removed, path is
// left as it was, and the error propagates (a nibble::Error naming op, path and the reason).
// Temporaries left by a process that was killed (kill -9) are removed by the next save of the same
// path when the pid in their name no longer runs.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace nibble::io {

// Calls write(out) with a binary stream open on a fresh temporary file next to path, then puts the
// file in place as described above. `op` names the caller in error messages ("save_png", ...).
void write_atomically(const std::string& path, const std::string& op,
                      const std::function<void(std::ostream&)>& write);

// The same for content already in memory.
void write_file_atomically(const std::string& path, const std::string& op,
                           const std::string& content);

// Checks, before any long work starts, that path can be written later: it is not a folder, its
// folder exists and is writable. Throws nibble::Error "<op>: cannot write <path>: <reason>"
// otherwise.
void check_writable(const std::string& path, const std::string& op);

// The whole file as bytes. Throws nibble::Error "<op>: <path>: cannot open (<reason>)".
std::vector<unsigned char> read_file_bytes(const std::string& path, const std::string& op);

}  // namespace nibble::io
