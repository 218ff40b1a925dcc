// Shared by the course subcommands (modules, test, status, release, sync-stubs, course-check).
// The binary knows the tree it was built from: CMake passes NIBBLE_SOURCE_DIR and NIBBLE_BINARY_DIR.
// Every course command accepts --root DIR and --build DIR to point elsewhere.
#pragma once

#include <string>

#include "args.h"
#include "core/error.h"
#include "tools/course/files.h"
#include "tools/course/manifest.h"

#ifndef NIBBLE_SOURCE_DIR
#define NIBBLE_SOURCE_DIR "."
#endif
#ifndef NIBBLE_BINARY_DIR
#define NIBBLE_BINARY_DIR "build"
#endif

namespace nibble::cli {

inline std::string source_root(const ArgParser& p) { return p.get("root", NIBBLE_SOURCE_DIR); }
inline std::string build_dir(const ArgParser& p) { return p.get("build", NIBBLE_BINARY_DIR); }

inline course::Manifest course_manifest(const std::string& root, const std::string& command) {
  const std::string path = root + "/modules/modules.manifest";
  check(course::file_exists(path), command, "no manifest at " + path,
        "the course's modules are listed in modules/modules.manifest (see modules/MANIFEST_FORMAT.md)");
  return course::load_manifest(path);
}

// A module number as students type it: "1" and "01" both mean module 01.
inline std::string module_number(const std::string& s) { return s.size() == 1 ? "0" + s : s; }

}  // namespace nibble::cli
