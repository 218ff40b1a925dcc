// fuzz-sources: tools/course/json.cpp tools/course/manifest.cpp
// fuzz-sources: tools/course/grading.cpp tools/course/files.cpp
// libFuzzer target: the course manifest (tools/course/manifest.h), as
// `nibble` reads modules/modules.manifest.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "fuzz_check.h"
#include "tools/course/grading.h"
#include "tools/course/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nibble::course::Manifest m = nibble::course::parse_manifest(
        std::string(reinterpret_cast<const char*>(data), size), "fuzz.manifest");
    nibble::fuzz::fuzz_expect(!m.modules.empty(), "an accepted manifest has modules");
    for (const nibble::course::Module& mod : m.modules) {
      // Sums of points are computed in int: bounded, never negative.
      nibble::fuzz::fuzz_expect(mod.visible_points() >= 0 && mod.hidden_points() >= 0,
                                "points sum to >= 0");
      nibble::fuzz::fuzz_expect(m.find(mod.number) != nullptr,
                                "every module can be found by number");
    }
  } catch (const nibble::Error&) {
  }
  return 0;
}
