// fuzz_expect: a property every successful decode must have. A violation throws std::logic_error,
// which the fuzz targets do not catch (they catch nibble::Error only): libFuzzer reports it as a
// crash, and the regression replay (replay_main.cpp) as a failed test naming the input file.
#pragma once

#include <stdexcept>
#include <string>

namespace nibble::fuzz {

inline void fuzz_expect(bool ok, const std::string& property) {
  if (!ok) throw std::logic_error("fuzz property violated: " + property);
}

}  // namespace nibble::fuzz
