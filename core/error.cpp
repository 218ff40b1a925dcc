#include "core/error.h"

namespace nibble {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void fail(const std::string& op, const std::string& problem, const std::string& hint) {
  std::string message = op + ": " + problem;
  if (!hint.empty()) message += "\n  hint: " + hint;
  throw Error(message);
}

}  // namespace nibble
