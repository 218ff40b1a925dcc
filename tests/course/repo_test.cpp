// The real course in this tree: folders and manifest agree, 100 visible points per module, and
// every committed stub is exactly what `nibble sync-stubs` generates. Skipped until the manifest
// exists.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tools/course/files.h"
#include "tools/course/manifest.h"
#include "tools/course/mutants.h"
#include "tools/course/release.h"
#include "tools/course/stubs.h"

namespace nibble::course {
namespace {

const std::string kRoot = NIBBLE_SOURCE_DIR;

TEST(CourseRepo, FoldersAndManifestAgree) {
  if (!file_exists(kRoot + "/modules/modules.manifest")) GTEST_SKIP() << "no modules/modules.manifest yet";
  const Manifest m = load_manifest(kRoot + "/modules/modules.manifest");
  for (const std::string& problem : check_layout(m, kRoot)) ADD_FAILURE() << problem;
}

TEST(CourseRepo, CommittedStubsMatchTheGenerator) {
  if (!file_exists(kRoot + "/modules/modules.manifest")) GTEST_SKIP() << "no modules/modules.manifest yet";
  const Manifest m = load_manifest(kRoot + "/modules/modules.manifest");
  for (const StubStatus& s : check_stubs(m, kRoot))
    EXPECT_TRUE(s.up_to_date) << s.stub << " differs from what `nibble sync-stubs` generates from " << s.solution;
}

// Cheap half of the mutant proof (no build): every mutant is well-formed and still applies to its
// solution. `nibble course-check --mutant-build` proves that each one loses points.
TEST(CourseRepo, MutantsParseAndApplyToTheSolutions) {
  if (!file_exists(kRoot + "/modules/modules.manifest")) GTEST_SKIP() << "no modules/modules.manifest yet";
  const Manifest m = load_manifest(kRoot + "/modules/modules.manifest");
  for (const Module& mod : m.modules) {
    if (!dir_exists(kRoot + "/" + mod.dir() + "/solution")) continue;  // the student edition
    const LoadedMutants loaded = load_mutants(mod, kRoot);
    for (const std::string& problem : loaded.problems) ADD_FAILURE() << problem;
    for (const Mutant& mu : loaded.mutants) {
      const std::string solution = read_text_file(kRoot + "/" + mu.target);
      try {
        EXPECT_NE(apply_mutant(mu, solution), solution) << mu.file << " changes nothing";
      } catch (const Error& e) {
        ADD_FAILURE() << e.what();
      }
    }
  }
}

}  // namespace
}  // namespace nibble::course
