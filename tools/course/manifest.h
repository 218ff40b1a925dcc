// modules/modules.manifest — the one list of the course (format: modules/MANIFEST_FORMAT.md).
//
//   Manifest m = load_manifest(root + "/modules/modules.manifest");
//   for (const Module& mod : m.modules) ... mod.number ("01"), mod.dir() ("modules/01_entropy")
//
// Malformed input throws nibble::Error "<file>:<line>: <what is wrong>".
#pragma once

#include <string>
#include <vector>

namespace nibble::course {

struct GradedTest {
  std::string name;  // "Suite.Name", as gtest reports it
  int points = 0;
  int line = 0;      // where the manifest declares it
};

struct Module {
  std::string number;  // "01"
  std::string slug;    // "entropy"
  std::string title;
  std::vector<std::string> owns;        // repository-relative solution sources
  std::vector<std::string> headers;
  std::vector<std::string> requires_;   // module numbers ("-" in the file means none)
  std::vector<GradedTest> graded;       // visible, in tests/
  std::vector<GradedTest> hidden;       // instructor-only, in hidden/
  std::vector<std::string> milestones;  // folder names under milestones/
  int line = 0;

  std::string name() const { return number + "_" + slug; }     // "01_entropy"
  std::string dir() const { return "modules/" + name(); }       // "modules/01_entropy"
  int visible_points() const;
  int hidden_points() const;
};

struct Manifest {
  std::string path;
  std::vector<Module> modules;  // in course order
  const Module* find(const std::string& number) const;  // nullptr when absent
  const Module& get(const std::string& number) const;   // throws nibble::Error when absent
};

Manifest parse_manifest(const std::string& text, const std::string& filename);
Manifest load_manifest(const std::string& path);

// "modules/01_entropy/solution/entropy.cpp" -> "modules/01_entropy/entropy.cpp".
std::string stub_path_for(const std::string& solution_path);

}  // namespace nibble::course
