// Comparisons: lt, le, gt, ge, eq, ne -> float masks of 0 and 1.
// A mask is a step function of its inputs, so there is no backward: the result is a fresh tensor
// that never requires grad (nothing is recorded on the tape). NaN behaves as in IEEE 754 / C++:
// every ordered comparison and == with a NaN is false, != is true.
// Typical use: where(lt(x, 0), 0.0f, x), or a pruning mask gt(abs(w), threshold).
#include <functional>

#include "core/ops.h"
#include "core/ops/iterate.h"

namespace nibble {

namespace {

// One template per direction; Compare is a std:: comparison functor (std::less<float> ...).
template <typename Compare>
Tensor compare(const Tensor& a, const Tensor& b, const char* op) {
  NIBBLE_CHECK(a.defined() && b.defined(), op, "an argument is an undefined tensor");
  // binary_map records nothing: the output is a new leaf even when a or b require grad.
  return detail::binary_map(a, b, op,
                            [](float x, float y) { return Compare{}(x, y) ? 1.0f : 0.0f; });
}

template <typename Compare>
Tensor compare(const Tensor& a, float b, const char* op) {
  NIBBLE_CHECK(a.defined(), op, "argument 'a' is an undefined tensor");
  return detail::unary_map(a, [b](float x) { return Compare{}(x, b) ? 1.0f : 0.0f; });
}

}  // namespace

Tensor lt(const Tensor& a, const Tensor& b) { return compare<std::less<float>>(a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return compare<std::less_equal<float>>(a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare<std::greater<float>>(a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) {
  return compare<std::greater_equal<float>>(a, b, "ge");
}
Tensor eq(const Tensor& a, const Tensor& b) { return compare<std::equal_to<float>>(a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) {
  return compare<std::not_equal_to<float>>(a, b, "ne");
}

Tensor lt(const Tensor& a, float b) { return compare<std::less<float>>(a, b, "lt"); }
Tensor le(const Tensor& a, float b) { return compare<std::less_equal<float>>(a, b, "le"); }
Tensor gt(const Tensor& a, float b) { return compare<std::greater<float>>(a, b, "gt"); }
Tensor ge(const Tensor& a, float b) { return compare<std::greater_equal<float>>(a, b, "ge"); }
Tensor eq(const Tensor& a, float b) { return compare<std::equal_to<float>>(a, b, "eq"); }
Tensor ne(const Tensor& a, float b) { return compare<std::not_equal_to<float>>(a, b, "ne"); }

}  // namespace nibble
