// Mutants: instructor-only wrong solutions that the graded tests must catch.
//
// modules/NN_slug/mutants/<function>--<mistake-slug>.patch holds header lines, then a unified diff
// (diff -u / git diff) of ONE owned solution file, paths a/<owned> -> b/<owned>:
//
//   # function: entropy_bits(const Distribution&)
//   # mistake:  natural log instead of log2 (answers in nats)
//   # caught:   visible                      (or "hidden": only the hidden tests catch it; rare)
//   --- a/modules/01_entropy/solution/entropy.cpp
//   +++ b/modules/01_entropy/solution/entropy.cpp
//   @@ -10,3 +10,3 @@
//   ...
//
// `patch -p1 < file` applies it from the repository root (patch skips the header lines); the
// course tools use apply_mutant below. `nibble course-check --mutant-build DIR` builds each
// mutant in a tree configured with -DNIBBLE_MUTANT_TREE=ON (which compiles the owned solutions
// from copies, <DIR>/mutant-src/<owned>), grades it, and proves it loses points.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tools/course/manifest.h"

namespace nibble::course {

struct Hunk {
  int old_start = 0, old_count = 0, new_start = 0, new_count = 0;
  std::vector<std::string> lines;  // each starts with ' ', '-' or '+'
  int line = 0;                    // of the "@@" line in the .patch file
  bool old_no_final_newline = false, new_no_final_newline = false;  // "\ No newline at end of file"
};

struct Mutant {
  std::string file;      // where the .patch lives (repository-relative when loaded from a tree)
  std::string name;      // the file name without ".patch": "entropy_bits--natural-log"
  std::string function;  // "entropy_bits(const Distribution&)"
  std::string mistake;
  bool caught_hidden = false;  // `caught: hidden`
  std::string target;    // the owned file the diff changes: "modules/01_entropy/solution/entropy.cpp"
  std::vector<Hunk> hunks;
};

// Parses a .patch; `file` names it in errors and gives the name (its last path component must be
// "<function>--<slug>.patch" with <function> the name in the `function:` line). Throws
// nibble::Error "<file>:<line>: <what is wrong>".
Mutant parse_mutant(const std::string& text, const std::string& file);

// The target's text with the mutant applied. Hunks are matched exactly (no fuzz); like `patch`,
// a hunk may have moved (it is searched for, nearest first). Throws nibble::Error naming the hunk
// that no longer matches.
std::string apply_mutant(const Mutant& m, const std::string& original);

struct LoadedMutants {
  std::vector<Mutant> mutants;        // sorted by name
  std::vector<std::string> problems;  // malformed files, diffs of files the module does not own
};
// modules/NN_slug/mutants/*.patch under root (none when the folder is absent).
LoadedMutants load_mutants(const Module& mod, const std::string& root);

// <binary_dir>/mutant-src/<owned>: the copy a -DNIBBLE_MUTANT_TREE=ON tree compiles.
std::string mutant_copy_path(const std::string& binary_dir, const std::string& owned);

struct MutantOutcome {
  std::string name, function, mistake;
  bool caught_hidden = false;
  bool graded = false;     // it applied, compiled and its tests ran
  int visible_lost = 0;    // points lost on the visible graded tests
  int hidden_lost = 0;
  double seconds = 0.0;    // write + build + grade
  std::string problem;     // why course-check fails on it; empty when it is caught as labelled
};

// Empty when a mutant that lost these points is caught as its label says; otherwise the problem.
std::string mutant_verdict(bool caught_hidden, int visible_lost, int hidden_lost);

struct MutantCheck {
  std::vector<MutantOutcome> outcomes;
  std::vector<std::string> problems;  // the tree, the baseline, malformed mutants
  double seconds = 0.0;
  bool all_ran = false;  // every mutant of the module was tried (no filter, baseline fine)
  bool ok() const;
};

// Runs every mutant of mod (whose name contains `only`, when not empty) in the mutant trees
// binary_dirs, one worker per tree taking the next mutant: writes the patched copy, rebuilds the
// module's test programs, grades the visible and hidden tests, restores the solution. First each
// tree must build and earn every point with the solutions (else nothing is concluded). on_each is
// called after each mutant, one call at a time (for progress output).
MutantCheck check_mutants(const Module& mod, const std::string& root, const std::vector<std::string>& binary_dirs,
                          const std::string& only, int timeout_seconds,
                          const std::function<void(const MutantOutcome&)>& on_each = {});

// The text of modules/NN_slug/MUTANTS.md for these outcomes.
std::string mutants_table(const Module& mod, const std::vector<MutantOutcome>& outcomes);

}  // namespace nibble::course
