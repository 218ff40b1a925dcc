// The real course in this tree: folders and manifest agree, 100 visible points per module, and
// every committed stub is exactly what `nibble sync-stubs` generates. Skipped until the manifest
// exists.
#include <gtest/gtest.h>

#include "tools/course/files.h"
#include "tools/course/manifest.h"
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

}  // namespace
}  // namespace nibble::course
