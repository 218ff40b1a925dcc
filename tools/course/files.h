// Small file-system and process helpers for the course tools.
#pragma once

#include <string>
#include <vector>

namespace nibble::course {

std::string read_text_file(const std::string& path);           // throws nibble::Error
bool file_exists(const std::string& path);                      // a regular file
bool dir_exists(const std::string& path);
// io::write_file_atomically (core/io/atomic_file.h): readers never see half a file.
void write_file_atomic(const std::string& path, const std::string& content);
// 'it'\''s' — for building shell command lines.
std::string shell_quote(const std::string& s);
// Runs `command` with /bin/sh; stdout+stderr go to log_path (when not empty). Returns the exit
// status (128+signal when killed by a signal, 127 when the shell could not run it).
int run_command(const std::string& command, const std::string& log_path = "");
// Sub-directory names of `dir` (not recursive), sorted.
std::vector<std::string> list_dirs(const std::string& dir);

}  // namespace nibble::course
