// fuzz-sources: tools/course/json.cpp tools/course/manifest.cpp
// fuzz-sources: tools/course/grading.cpp tools/course/files.cpp
// libFuzzer target: gtest's JSON report as the grader reads it
// (tools/course/grading.h: read_gtest_report, then grade_report against a module's graded tests).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "fuzz_check.h"
#include "tools/course/grading.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nibble::course;
  try {
    const auto report =
        read_gtest_report(std::string(reinterpret_cast<const char*>(data), size), "report.json");
    Module mod;
    mod.number = "01";
    mod.slug = "entropy";
    mod.graded = {{"SumGraded.Small", 60, 1}, {"SumGraded.Large", 40, 2}};  // the seeds' tests
    const Grade g = grade_report(mod, /*hidden=*/false, report);
    nibble::fuzz::fuzz_expect(g.possible == 100 && g.earned >= 0 && g.earned <= g.possible,
                              "0 <= earned <= possible, possible from the manifest");
    // What save_result would write from any report must pass the results file's own validation.
    Json all = Json::object();
    all.set("modules", Json::object()).set("01", grade_to_json(g));
    const std::string problem = validate_results(all);
    nibble::fuzz::fuzz_expect(problem.empty(),
                              "a grade of any report is a valid results entry: " + problem);
  } catch (const nibble::Error&) {
  }
  return 0;
}
