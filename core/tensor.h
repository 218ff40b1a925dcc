// Tensor: an N-d float32 array with reverse-mode autograd.
//
// A Tensor is a cheap handle (a shared pointer) to a TensorImpl. Several tensors can share one
// Storage: reshape/view/transpose/permute/slice return *views* that alias their base, exactly as in
// NumPy and PyTorch. Elements live at  storage[offset + sum_i index[i] * strides[i]]  (strides are
// counted in elements, row-major for freshly made tensors).
//
// Autograd: a tensor made by an op while any input requires_grad remembers that op (its grad_fn,
// see core/autograd.h). backward() walks those records in reverse and *adds* dL/dx into x.grad()
// for every leaf x that requires_grad. Gradients accumulate across backward() calls — call
// zero_grad() (or an optimizer's zero_grad()) before the next step, as in PyTorch.
//
// Only float32 carries autograd. Quantized int8/uint8/int32 buffers are separate small types
// (core/kernels/) without gradients. Class indices (labels, token ids) are std::vector<int64_t>.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace nibble {

using Shape = std::vector<int64_t>;

// A flat, 64-byte-aligned float buffer (aligned so SIMD kernels may use aligned loads on it).
// It also carries the *version counter* that the autograd tape checks (core/autograd.h): every
// write through a Tensor (non-const data()/at(), in-place library calls) bumps it, and all views of
// one buffer share it. Storage::data() itself is the raw, uncounted access for kernels.
// Allocation failure (or a size beyond memory) throws nibble::Error naming the size.
class Storage {
 public:
  explicit Storage(int64_t size);  // uninitialised contents
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t size() const { return size_; }
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
  std::atomic<uint64_t> version_{0};  // atomic: several threads may write one buffer's parts
};

struct Node;  // an autograd record: the op that produced a tensor (core/autograd.h)
struct ValuesAndIndices;  // what sort/topk/kthvalue return; defined below the class

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;  // in elements
  bool requires_grad = false;
  bool retains_grad = false;           // keep .grad on a non-leaf too (retain_grad())
  std::shared_ptr<TensorImpl> grad;    // accumulated dL/d(this); null until first backward
  std::shared_ptr<Node> grad_fn;       // null for leaves
  // Optional 0/1 mask of the same shape (pruning): every optimizer multiplies the parameter by it
  // after each step, so pruned weights stay exactly zero. Set with Tensor::set_mask().
  std::shared_ptr<TensorImpl> mask;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (defined() == false)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ------------------------------------------------------------------------
  static Tensor empty(const Shape& shape);  // uninitialised
  static Tensor zeros(const Shape& shape);
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor arange(float start, float end, float step = 1.0f);  // [start, end)
  static Tensor arange(int64_t n) { return arange(0.0f, static_cast<float>(n)); }
  static Tensor eye(int64_t n);
  static Tensor randn(const Shape& shape, float mean = 0.0f, float stddev = 1.0f);
  static Tensor rand(const Shape& shape, float low = 0.0f, float high = 1.0f);  // uniform
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<float>& values) {
    return from_vector(values, {static_cast<int64_t>(values.size())});
  }
  static Tensor scalar(float value) { return full({}, value); }
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape()); }
  static Tensor ones_like(const Tensor& t) { return ones(t.shape()); }

  // ---- metadata -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const;
  bool is_contiguous() const;
  std::string shape_str() const { return nibble::shape_str(shape()); }

  // ---- element access (no autograd: for setting up data and reading results) ---------------
  // data() points at the first element; it is only a flat array when is_contiguous().
  // Writing: the non-const data() and at() count as a write and bump the storage's version (see
  // core/autograd.h: a tensor saved for backward must not change before backward). To only *read*
  // a non-const tensor, go through a const reference (std::as_const(t).data(), or a
  // `const Tensor&` parameter) — that never bumps. Code that keeps a float* from data() and
  // writes through it later calls bump_version() after writing.
  float* data();
  const float* data() const;
  float item() const;  // the value of a one-element tensor
  float& at(const std::vector<int64_t>& index);  // bounds-checked; negative indices allowed
  float at(const std::vector<int64_t>& index) const;
  std::vector<float> to_vector() const;  // a copy in row-major order
  uint64_t version() const;  // the storage's write counter (shared by all views of it)
  void bump_version();       // record an in-place write made through a pointer kept earlier

  // ---- views and copies (all differentiable) ------------------------------------------------
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy; one -1 allowed
  Tensor view(const Shape& shape) const;     // must be a view: throws on non-contiguous input
  Tensor flatten(int64_t start_axis = 0, int64_t end_axis = -1) const;
  Tensor transpose(int64_t axis0, int64_t axis1) const;
  Tensor t() const { return transpose(0, 1); }  // 2-d transpose
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t axis, int64_t index) const;  // drops the axis
  Tensor unsqueeze(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;
  Tensor expand(const Shape& shape) const;  // broadcast view (stride 0), read-only by convention
  Tensor contiguous() const;  // itself if already contiguous, else a row-major copy
  Tensor clone() const;       // always a copy (differentiable)
  Tensor detach() const;      // shares storage, cut from the graph

  // ---- autograd -------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // only on leaves
  Tensor grad() const;                     // undefined until a backward pass reaches it
  void zero_grad();                        // drops the accumulated gradient
  void retain_grad();                      // keep grad() on a non-leaf tensor too
  bool is_leaf() const;
  // Reverse mode from this tensor. It frees the graph it ran through (saved tensors and backward
  // closures), so a second backward through the same graph is an error — unless the first one
  // passed retain_graph = true (then gradients simply accumulate again).
  void backward(bool retain_graph = false) const;  // one-element tensors: seed dL/dL = 1
  void backward(const Tensor& grad, bool retain_graph = false) const;  // seed of this shape
  const std::shared_ptr<Node>& grad_fn() const;

  // ---- pruning mask (honoured by every optimizer in optim/) ----------------------------------
  void set_mask(const Tensor& mask);  // 0/1 values, same shape; also zeroes the pruned entries now
  Tensor mask() const;                // undefined when the tensor has no mask
  void clear_mask();

  // ---- common ops as members (free functions in core/ops.h do the work) ----------------------
  Tensor sum() const;
  Tensor sum(int64_t axis, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(int64_t axis, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;
  Tensor pow(float exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor relu() const;
  // ... so calls chain: x.softmax(-1).clamp(0, 1).sum(). Each is exactly the free function of the
  // same name in core/ops.h, with *this as the first argument (see there for shapes and gradients).
  Tensor abs() const;
  Tensor sqrt() const;
  Tensor log2() const;
  Tensor round() const;  // zero gradient, like the free function
  Tensor floor() const;
  Tensor sign() const;
  Tensor clamp(float low, float high) const;
  Tensor softmax(int64_t axis) const;
  Tensor log_softmax(int64_t axis) const;
  Tensor max() const;
  Tensor max(int64_t axis, bool keepdim = false) const;
  Tensor min(int64_t axis, bool keepdim = false) const;
  std::vector<int64_t> argmax(int64_t axis) const;
  Tensor norm(float p = 2.0f) const;
  Tensor norm(float p, int64_t axis, bool keepdim = false) const;
  Tensor cumsum(int64_t axis) const;
  ValuesAndIndices topk(int64_t k, int64_t axis = -1, bool largest = true) const;
  ValuesAndIndices sort(int64_t axis = -1, bool descending = false) const;
  Tensor tril(int64_t offset = 0) const;
  Tensor triu(int64_t offset = 0) const;
  Tensor lt(const Tensor& other) const;  // 0/1 masks, no gradient
  Tensor le(const Tensor& other) const;
  Tensor gt(const Tensor& other) const;
  Tensor ge(const Tensor& other) const;
  Tensor eq(const Tensor& other) const;
  Tensor ne(const Tensor& other) const;
  Tensor lt(float other) const;
  Tensor le(float other) const;
  Tensor gt(float other) const;
  Tensor ge(float other) const;
  Tensor eq(float other) const;
  Tensor ne(float other) const;
  // x.where(c, y) is where(c, x, y): x where c != 0, else y (torch.Tensor.where).
  Tensor where(const Tensor& condition, const Tensor& other) const;
  Tensor where(const Tensor& condition, float other) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  TensorImpl& checked() const;  // throws on an undefined tensor
  std::shared_ptr<TensorImpl> impl_;
};

// The result of sort / topk / kthvalue (core/ops.h): the chosen values (differentiable) and their
// positions along the axis, row-major with values' shape. Unpacks: auto [v, i] = x.topk(3);
struct ValuesAndIndices {
  Tensor values;
  std::vector<int64_t> indices;
};

// ---- random numbers: one seedable generator for the whole library -----------------------------
// Thread-safe: a mutex guards the one generator, so threads may draw concurrently without
// corrupting it (each draw is atomic; Tensor::randn/rand take the lock once for the whole tensor,
// so a tensor's values are one unbroken stretch of the sequence). From a single thread,
// manual_seed(s) fixes every following number. With several threads drawing at once the split of
// the sequence between them depends on scheduling: for repeatable parallel runs, draw (e.g. make
// the tensors) on one thread first.
void manual_seed(uint64_t seed);
uint64_t random_u64();      // next raw 64-bit value
float random_uniform();     // in [0, 1)
float random_normal();      // standard normal

// ---- printing like NumPy ---------------------------------------------------------------------
// Big tensors are summarised with "..." (first and last 3 entries of each axis), like NumPy.
std::string to_string(const Tensor& t);
std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- helpers shared by ops ---------------------------------------------------------------------
Shape contiguous_strides(const Shape& shape);
int64_t numel_of(const Shape& shape);
int64_t normalize_axis(int64_t axis, int64_t rank, const char* op);  // -1 -> rank-1, checked

}  // namespace nibble

template <>
struct fmt::formatter<nibble::Tensor> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const nibble::Tensor& t, FormatContext& ctx) const {
    const std::string s = nibble::to_string(t);
    return fmt::formatter<std::string_view>::format(std::string_view(s), ctx);
  }
};
