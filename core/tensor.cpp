// Tensor: storage, factories, metadata and element access. Views (reshape, transpose, slice ...)
// live in core/ops/view.cpp because they are differentiable ops like any other.
#include "core/tensor.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <unistd.h>  // sysconf: the machine's memory size

#include "core/autograd.h"
#include "core/ops.h"

namespace nibble {

// ---- Storage ---------------------------------------------------------------------------------

namespace {
size_t physical_memory_bytes() {  // 0 when unknown
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}
}  // namespace

Storage::Storage(int64_t size) : size_(size) {
  NIBBLE_CHECK(size >= 0, "Storage", "negative size " + std::to_string(size));
  constexpr int64_t kMaxElements = (int64_t{1} << 62) / static_cast<int64_t>(sizeof(float));
  NIBBLE_CHECK(size <= kMaxElements, "Storage", std::to_string(size) + " floats do not fit in memory");
  // aligned_alloc needs a size that is a multiple of the alignment; never allocate 0 bytes.
  const size_t bytes = ((static_cast<size_t>(size) * sizeof(float) + 63) / 64) * 64;
  // More than the machine's RAM is a typo in a shape, not a tensor: refuse it up front, because
  // with memory overcommit (Linux's default) such a malloc may "succeed" and fail later instead.
  static const size_t physical = physical_memory_bytes();
  if (physical != 0 && bytes > physical) {
    fail("Storage", "a tensor of " + std::to_string(size) + " floats needs " +
                        std::to_string(bytes >> 30) + " GiB, more than this machine's " +
                        std::to_string(physical >> 30) + " GiB of memory",
         "check the shape for a typo (a swapped or multiplied dimension)");
  }
  data_ = static_cast<float*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes));
  if (data_ == nullptr) {
    fail("Storage", "out of memory allocating " + std::to_string(size) + " floats (" +
                        std::to_string(bytes >> 20) + " MiB)",
         "check the shape for a typo; a smaller batch needs less memory");
  }
}

Storage::~Storage() { std::free(data_); }

// ---- shape helpers ---------------------------------------------------------------------------

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = stride;
    // A zero dim at the front makes numel 0 but not the strides after it: [0, 2^40, 2^40]
    // overflowed here (found by tests/fuzz/checkpoint_fuzz.cpp).
    if (__builtin_mul_overflow(stride, shape[i], &stride))
      fail("Tensor", "shape " + shape_str(shape) + " is too large: its strides overflow int64",
           "check the shape for a typo");
  }
  return strides;
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    fail(op, "axis " + std::to_string(axis) + " is out of range for a tensor of rank " +
                 std::to_string(rank),
         "valid axes are " + std::to_string(-rank) + " .. " + std::to_string(rank - 1));
  }
  return a;
}

// ---- factories ---------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape) {
  for (int64_t d : shape) {
    NIBBLE_CHECK(d >= 0, "Tensor::empty", "negative dimension in shape " + nibble::shape_str(shape));
  }
  int64_t numel = 1;
  for (int64_t d : shape) {
    NIBBLE_CHECK(d == 0 || numel <= INT64_MAX / d, "Tensor::empty",
                 "shape " + nibble::shape_str(shape) + " has more elements than an int64_t counts");
    numel *= d;
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  float* p = t.data();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = value;
  return t;
}

Tensor Tensor::zeros(const Shape& shape) { return full(shape, 0.0f); }
Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.0f); }

Tensor Tensor::arange(float start, float end, float step) {
  const auto args = [&] {
    return "start=" + std::to_string(start) + ", end=" + std::to_string(end) +
           ", step=" + std::to_string(step);
  };
  NIBBLE_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step), "arange",
               "arguments must be finite numbers, got " + args());
  NIBBLE_CHECK(step != 0.0f, "arange", "step must not be zero (" + args() + ")");
  NIBBLE_CHECK(start == end || (end > start) == (step > 0.0f), "arange",
               "step points away from end (" + args() + "): the range would never reach it",
               "use a negative step to count down, e.g. arange(3, 0, -1) = [3, 2, 1]");
  // In double: the count and the values of a fractional step (0.1f is not exactly 1/10).
  const int64_t n = static_cast<int64_t>(std::ceil((static_cast<double>(end) - start) / step));
  Tensor t = empty({n});
  float* p = t.data();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(start + static_cast<double>(i) * step);
  return t;
}

Tensor Tensor::eye(int64_t n) {
  NIBBLE_CHECK(n >= 0, "eye", "size must be >= 0, got " + std::to_string(n));
  Tensor t = zeros({n, n});
  float* p = t.data();
  for (int64_t i = 0; i < n; ++i) p[i * n + i] = 1.0f;
  return t;
}

// Tensor::randn and Tensor::rand live in core/random.cpp, next to the generator they lock.

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  Tensor t = empty(shape);
  NIBBLE_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "Tensor::from_vector",
        std::to_string(values.size()) + " values do not fill shape " + nibble::shape_str(shape) +
            " (" + std::to_string(t.numel()) + " elements)");
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  return t;
}

// ---- metadata ------------------------------------------------------------------------------------

TensorImpl& Tensor::checked() const {
  if (!impl_) fail("Tensor", "use of an undefined tensor", "create it with a factory first");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }
const Shape& Tensor::strides() const { return checked().strides; }
int64_t Tensor::numel() const { return numel_of(shape()); }

int64_t Tensor::size(int64_t axis) const {
  return shape()[normalize_axis(axis, dim(), "Tensor::size")];
}

bool Tensor::is_contiguous() const {
  const TensorImpl& t = checked();
  int64_t expected = 1;
  for (int64_t i = static_cast<int64_t>(t.shape.size()) - 1; i >= 0; --i) {
    if (t.shape[i] == 1) continue;  // the stride of a size-1 axis never matters
    if (t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

float* Tensor::data() {
  Storage& s = *checked().storage;
  s.bump_version();  // handing out a writable pointer counts as a write (core/autograd.h)
  return s.data() + impl_->offset;
}
const float* Tensor::data() const { return checked().storage->data() + impl_->offset; }
uint64_t Tensor::version() const { return checked().storage->version(); }
void Tensor::bump_version() { checked().storage->bump_version(); }

float Tensor::item() const {
  NIBBLE_CHECK(numel() == 1, "Tensor::item", "needs a one-element tensor, got shape " + shape_str(),
        "reduce it first, e.g. with sum() or mean()");
  return *data();
}

namespace {
int64_t flat_offset(const TensorImpl& t, const std::vector<int64_t>& index) {
  if (index.size() != t.shape.size()) {
    fail("Tensor::at", std::to_string(index.size()) + " indices for a tensor of shape " +
                           shape_str(t.shape));
  }
  int64_t offset = t.offset;
  for (size_t i = 0; i < index.size(); ++i) {
    const int64_t k = index[i] < 0 ? index[i] + t.shape[i] : index[i];
    if (k < 0 || k >= t.shape[i]) {
      fail("Tensor::at", "index " + std::to_string(index[i]) + " is out of range for axis " +
                             std::to_string(i) + " of shape " + shape_str(t.shape));
    }
    offset += k * t.strides[i];
  }
  return offset;
}
}  // namespace

float& Tensor::at(const std::vector<int64_t>& index) {
  Storage& s = *checked().storage;
  const int64_t offset = flat_offset(*impl_, index);
  s.bump_version();  // a writable reference counts as a write
  return s.data()[offset];
}

float Tensor::at(const std::vector<int64_t>& index) const {
  return checked().storage->data()[flat_offset(*impl_, index)];
}

std::vector<float> Tensor::to_vector() const {
  const Tensor c = contiguous();
  return std::vector<float>(c.data(), c.data() + c.numel());
}

// ---- autograd ------------------------------------------------------------------------------

bool Tensor::requires_grad() const { return checked().requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  NIBBLE_CHECK(is_leaf(), "Tensor::requires_grad_",
        "can only be set on leaf tensors (made by a factory, not by an op)",
        "use detach() to make a leaf from an op's result");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  const TensorImpl& t = checked();
  return t.grad ? Tensor(t.grad) : Tensor();
}

void Tensor::zero_grad() { checked().grad.reset(); }
void Tensor::retain_grad() { checked().retains_grad = true; }
bool Tensor::is_leaf() const { return checked().grad_fn == nullptr; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

void Tensor::backward(bool retain_graph) const {
  NIBBLE_CHECK(numel() == 1, "backward",
        "called on a tensor of shape " + shape_str() + " without a gradient",
        "reduce to a scalar loss first (sum/mean), or pass backward(grad) with shape " +
            shape_str());
  run_backward(*this, Tensor::ones(shape()), retain_graph);
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  NIBBLE_CHECK(grad.defined() && grad.shape() == shape(), "backward",
        "gradient shape " + (grad.defined() ? grad.shape_str() : std::string("(undefined)")) +
            " differs from tensor shape " + shape_str());
  run_backward(*this, grad, retain_graph);
}

// ---- pruning mask ------------------------------------------------------------------------------

void Tensor::set_mask(const Tensor& mask) {
  NIBBLE_CHECK(mask.defined() && mask.shape() == shape(), "Tensor::set_mask",
        "mask shape " + (mask.defined() ? mask.shape_str() : std::string("(undefined)")) +
            " differs from tensor shape " + shape_str());
  NIBBLE_CHECK(is_contiguous(), "Tensor::set_mask", "only contiguous tensors (parameters) can carry a mask");
  const Tensor m = mask.contiguous().clone().detach();
  const float* md = m.data();
  for (int64_t i = 0; i < m.numel(); ++i) {
    NIBBLE_CHECK(md[i] == 0.0f || md[i] == 1.0f, "Tensor::set_mask",
          "mask values must be 0 or 1, found " + std::to_string(md[i]) + " at flat index " + std::to_string(i));
  }
  // Zeroing the pruned entries is an in-place write: data() bumps the version, so a graph that
  // saved this tensor before the call refuses to run backward with the changed values.
  float* d = data();
  for (int64_t i = 0; i < m.numel(); ++i) {
    if (md[i] == 0.0f) d[i] = 0.0f;
  }
  impl_->mask = m.impl_ptr();
}

Tensor Tensor::mask() const {
  const TensorImpl& t = checked();
  return t.mask ? Tensor(t.mask) : Tensor();
}

void Tensor::clear_mask() { checked().mask.reset(); }

// ---- member shortcuts -----------------------------------------------------------------------

Tensor Tensor::sum() const { return nibble::sum(*this); }
Tensor Tensor::sum(int64_t axis, bool keepdim) const { return nibble::sum(*this, axis, keepdim); }
Tensor Tensor::mean() const { return nibble::mean(*this); }
Tensor Tensor::mean(int64_t axis, bool keepdim) const {
  return nibble::mean(*this, axis, keepdim);
}
Tensor Tensor::matmul(const Tensor& other) const { return nibble::matmul(*this, other); }
Tensor Tensor::pow(float exponent) const { return nibble::pow(*this, exponent); }
Tensor Tensor::exp() const { return nibble::exp(*this); }
Tensor Tensor::log() const { return nibble::log(*this); }
Tensor Tensor::relu() const { return nibble::relu(*this); }
Tensor Tensor::abs() const { return nibble::abs(*this); }
Tensor Tensor::sqrt() const { return nibble::sqrt(*this); }
Tensor Tensor::log2() const { return nibble::log2(*this); }
Tensor Tensor::round() const { return nibble::round(*this); }
Tensor Tensor::floor() const { return nibble::floor(*this); }
Tensor Tensor::sign() const { return nibble::sign(*this); }
Tensor Tensor::clamp(float low, float high) const { return nibble::clamp(*this, low, high); }
Tensor Tensor::softmax(int64_t axis) const { return nibble::softmax(*this, axis); }
Tensor Tensor::log_softmax(int64_t axis) const { return nibble::log_softmax(*this, axis); }
Tensor Tensor::max() const { return nibble::max(*this); }
Tensor Tensor::max(int64_t axis, bool keepdim) const { return nibble::max(*this, axis, keepdim); }
Tensor Tensor::min(int64_t axis, bool keepdim) const { return nibble::min(*this, axis, keepdim); }
std::vector<int64_t> Tensor::argmax(int64_t axis) const { return nibble::argmax(*this, axis); }
Tensor Tensor::norm(float p) const { return nibble::norm(*this, p); }
Tensor Tensor::norm(float p, int64_t axis, bool keepdim) const {
  return nibble::norm(*this, p, axis, keepdim);
}
Tensor Tensor::cumsum(int64_t axis) const { return nibble::cumsum(*this, axis); }
ValuesAndIndices Tensor::topk(int64_t k, int64_t axis, bool largest) const {
  return nibble::topk(*this, k, axis, largest);
}
ValuesAndIndices Tensor::sort(int64_t axis, bool descending) const {
  return nibble::sort(*this, axis, descending);
}
Tensor Tensor::tril(int64_t offset) const { return nibble::tril(*this, offset); }
Tensor Tensor::triu(int64_t offset) const { return nibble::triu(*this, offset); }
Tensor Tensor::lt(const Tensor& other) const { return nibble::lt(*this, other); }
Tensor Tensor::le(const Tensor& other) const { return nibble::le(*this, other); }
Tensor Tensor::gt(const Tensor& other) const { return nibble::gt(*this, other); }
Tensor Tensor::ge(const Tensor& other) const { return nibble::ge(*this, other); }
Tensor Tensor::eq(const Tensor& other) const { return nibble::eq(*this, other); }
Tensor Tensor::ne(const Tensor& other) const { return nibble::ne(*this, other); }
Tensor Tensor::lt(float other) const { return nibble::lt(*this, other); }
Tensor Tensor::le(float other) const { return nibble::le(*this, other); }
Tensor Tensor::gt(float other) const { return nibble::gt(*this, other); }
Tensor Tensor::ge(float other) const { return nibble::ge(*this, other); }
Tensor Tensor::eq(float other) const { return nibble::eq(*this, other); }
Tensor Tensor::ne(float other) const { return nibble::ne(*this, other); }
Tensor Tensor::where(const Tensor& condition, const Tensor& other) const {
  return nibble::where(condition, *this, other);
}
Tensor Tensor::where(const Tensor& condition, float other) const {
  return nibble::where(condition, *this, other);
}

}  // namespace nibble
