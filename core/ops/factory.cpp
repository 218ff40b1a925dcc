// Factories as free functions (torch.arange, torch.full, torch.zeros_like ...): thin forwards to
// Tensor's static factories, so code reads the same as PyTorch. They make new leaves: no tape.
#include <string>

#include "core/ops.h"

namespace nibble {

Tensor arange(float start, float end, float step) { return Tensor::arange(start, end, step); }

Tensor arange(int64_t n) {
  NIBBLE_CHECK(n >= 0, "arange", "the count n must be >= 0, got " + std::to_string(n));
  return Tensor::arange(n);
}

Tensor full(const Shape& shape, float value) { return Tensor::full(shape, value); }

namespace {
const Shape& shape_of(const Tensor& t, const char* op) {
  NIBBLE_CHECK(t.defined(), op, "argument is an undefined tensor",
               "the result takes its shape from it");
  return t.shape();
}
}  // namespace

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(shape_of(t, "zeros_like")); }
Tensor ones_like(const Tensor& t) { return Tensor::ones(shape_of(t, "ones_like")); }
Tensor full_like(const Tensor& t, float value) {
  return Tensor::full(shape_of(t, "full_like"), value);
}
Tensor rand_like(const Tensor& t, float low, float high) {
  return Tensor::rand(shape_of(t, "rand_like"), low, high);
}
Tensor randn_like(const Tensor& t, float mean, float stddev) {
  return Tensor::randn(shape_of(t, "randn_like"), mean, stddev);
}

}  // namespace nibble
