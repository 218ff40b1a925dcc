// fuzz-sources: tools/course/json.cpp tools/course/manifest.cpp
// fuzz-sources: tools/course/grading.cpp tools/course/files.cpp
// libFuzzer target: the course tools' JSON (tools/course/json.h) as `nibble status`, `modules`
// and `test` read <build>/course/results.json: parse, validate as a results file, write back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "fuzz_check.h"
#include "tools/course/grading.h"
#include "tools/course/json.h"
#include "tools/course/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using nibble::course::Json;
  try {
    const Json doc = nibble::course::parse_json(
        std::string(reinterpret_cast<const char*>(data), size), "results.json");
    // What we write, we can read, and writing it again changes nothing.
    const std::string once = doc.dump();
    const std::string twice = nibble::course::parse_json(once, "dump").dump();
    nibble::fuzz::fuzz_expect(once == twice, "parse(dump(x)) dumps to the same text");
    if (nibble::course::validate_results(doc).empty()) {
      nibble::course::Module mod;
      mod.number = "01";
      mod.slug = "entropy";
      const Json& saved = nibble::course::saved_result(doc, mod);
      if (!saved.is_null()) {
        const double earned = saved["earned"].as_number(), possible = saved["possible"].as_number();
        nibble::fuzz::fuzz_expect(
            earned >= 0 && earned <= possible && possible <= nibble::course::kMaxPoints,
            "a valid result shows 0 <= earned <= possible <= kMaxPoints");
      }
    }
  } catch (const nibble::Error&) {
  }
  return 0;
}
