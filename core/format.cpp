// Printing tensors the way NumPy does: nested brackets, aligned columns, and "..." for big ones.
//   tensor([[ 1.0000, -2.5000],
//           [ 0.0000,  3.0000]], shape=[2, 2])
#include <cmath>
#include <ostream>
#include <string>

#include "core/tensor.h"

namespace nibble {

namespace {

constexpr int64_t kSummariseAbove = 1000;  // NumPy's threshold
constexpr int64_t kEdgeItems = 3;

std::string format_value(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  const float a = std::fabs(v);
  if (a != 0.0f && (a >= 1e6f || a < 1e-4f)) return fmt::format("{:.4e}", v);
  return fmt::format("{:.4f}", v);
}

struct Printer {
  const Tensor& t;
  bool summarise;
  size_t width = 0;
  std::string out;

  // Indices printed along an axis: all, or the first and last kEdgeItems with a gap marker (-1).
  std::vector<int64_t> shown(int64_t n) const {
    std::vector<int64_t> idx;
    if (!summarise || n <= 2 * kEdgeItems) {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(-1);
      for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
    }
    return idx;
  }

  void measure(std::vector<int64_t>& index, size_t axis) {
    if (axis == index.size()) {
      width = std::max(width, format_value(t.at(index)).size());
      return;
    }
    for (int64_t i : shown(t.shape()[axis])) {
      if (i < 0) continue;
      index[axis] = i;
      measure(index, axis + 1);
    }
  }

  void print(std::vector<int64_t>& index, size_t axis, size_t indent) {
    if (axis == index.size()) {
      const std::string s = format_value(t.at(index));
      out += std::string(width - s.size(), ' ') + s;
      return;
    }
    out += '[';
    const std::vector<int64_t> idx = shown(t.shape()[axis]);
    const bool last_axis = axis + 1 == index.size();
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0) {
        out += ',';
        if (last_axis) {
          out += ' ';
        } else {
          out += std::string(index.size() - axis - 1, '\n');
          out += std::string(indent + axis + 1, ' ');
        }
      }
      if (idx[k] < 0) {
        out += "...";
        continue;
      }
      index[axis] = idx[k];
      print(index, axis + 1, indent);
    }
    out += ']';
  }
};

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  std::string suffix = ", shape=" + t.shape_str();
  if (t.requires_grad()) suffix += ", requires_grad=true";
  if (t.numel() == 0) return "tensor([]" + suffix + ")";
  Printer p{t, t.numel() > kSummariseAbove, 0, ""};
  std::vector<int64_t> index(t.shape().size(), 0);
  p.measure(index, 0);
  p.print(index, 0, /*indent=*/7);  // strlen("tensor(")
  return "tensor(" + p.out + suffix + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace nibble
