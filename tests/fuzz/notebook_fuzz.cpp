// fuzz-sources: tools/kernel/cells.cpp
// libFuzzer target: notebooks (.ipynb) as `nibble milestone run` and the kernel's runner read their
// code cells (tools/kernel/notebook.h: parse_code_cells).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "tools/kernel/notebook.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    nibble::repl::parse_code_cells(std::string(reinterpret_cast<const char*>(data), size),
                                   "fuzz.ipynb");
  } catch (const nibble::Error&) {
  }
  return 0;
}
