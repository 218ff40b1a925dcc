// The course's consistency checks and the student edition.
#pragma once

#include <string>
#include <vector>

#include "tools/course/manifest.h"

namespace nibble::course {

// Problems with the layout under root (empty when fine): every modules/NN_slug/ folder is in the
// manifest and every module has its folder; visible points sum to 100; owned solutions exist
// (when solution/ is present); each module has a tests/ folder.
std::vector<std::string> check_layout(const Manifest& manifest, const std::string& root);

struct ReleaseSummary {
  size_t files = 0;             // copied into the edition
  size_t excluded = 0;          // instructor-only files left out (solution/, hidden/, mutants/, MUTANTS.md)
  size_t untracked = 0;         // files git does not track yet but which were included
  size_t stubs = 0;             // stubs written from the solutions
  std::vector<std::string> stale_stubs;  // committed stubs that differed from the generator's output
  std::vector<std::string> modules;      // "01_entropy", ...
};

// True for modules/<any>/solution/..., modules/<any>/hidden/..., modules/<any>/mutants/... and
// modules/<any>/MUTANTS.md, and the autograder's harness and suite (tools/autograde/, tests/autograde/):
// what the student edition leaves out.
bool is_instructor_only(const std::string& rel_path);

// Writes the student edition of root into out_dir (created; must be empty or absent): the files
// git lists (tracked, plus untracked ones that are not ignored) — or the whole tree without .git
// and build*/ when root is not a git checkout — minus the instructor-only files, with freshly
// generated stubs. Built in a staging folder "<parent of out_dir>/.<name>.partial-<pid>" renamed onto
// out_dir at the end: a release that fails leaves neither out_dir's content nor the staging folder.
ReleaseSummary release(const std::string& root, const std::string& out_dir);

}  // namespace nibble::course
