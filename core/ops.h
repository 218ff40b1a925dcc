// Every op of nibble, in one list. Each op lives in core/ops/<family>.cpp with its forward and its
// backward side by side (comparisons and factories have none). All ops take and return float32
// Tensors; elementwise ops broadcast like NumPy ([4,3] + [3] -> [4,3]; [4,1] * [1,5] -> [4,5]).
// Axes may be negative (-1 is the last). Bad shapes or axes throw nibble::Error naming the op.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/tensor.h"

namespace nibble {

// The tensor ops below share their names with <cmath>'s functions (log2, round, exp ...). Inside
// namespace nibble — where module solutions and stubs live — an unqualified `log2(p)` on a double
// would otherwise find only nibble::log2(const Tensor&) and fail to compile; these bring the scalar
// overloads into the same overload set, so both `log2(0.5)` and `log2(tensor)` work.
using std::abs;
using std::exp;
using std::floor;
using std::log;
using std::log2;
using std::pow;
using std::round;
using std::sqrt;
using std::tanh;

// ---- elementwise, binary (broadcasting) -- core/ops/elementwise.cpp ---------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float b);
Tensor mul(const Tensor& a, float b);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient goes to the larger (a on ties)
// xlogy(x, y) = x * ln(y), and exactly 0 where x == 0 (so 0 * log 0 = 0) unless y is NaN, which
// gives NaN. Gradients: d/dx = ln y, but 0 at x == 0 and y == 0 (the 0 log 0 = 0 convention carried
// over, so an entropy with an exact zero probability gets a finite gradient); d/dy = x / y, exactly
// 0 where x == 0 (xlogy(0, y) = 0 for every y, even y == 0).
Tensor xlogy(const Tensor& x, const Tensor& y);

// ---- elementwise, unary -- core/ops/elementwise.cpp ---------------------------------------------
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, float exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor log2(const Tensor& a);  // log base 2; d/dx = 1 / (x ln 2); log2(0) = -inf, log2(x < 0) = NaN
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);  // d|x|/dx = sign(x), 0 at 0; NaN in -> NaN value and NaN gradient
Tensor clamp(const Tensor& a, float low, float high);  // gradient 1 for low <= x <= high, else 0
Tensor relu(const Tensor& a);
Tensor leaky_relu(const Tensor& a, float negative_slope = 0.01f);
Tensor gelu(const Tensor& a);  // exact: x * Phi(x), Phi the standard normal CDF (PyTorch default)
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);

// ---- piecewise constant, with a ZERO gradient -- core/ops/elementwise.cpp -----------------------
// Their true derivative is 0 almost everywhere (and undefined at the jumps), so backward returns
// zeros, as in PyTorch; the straight-through estimator of module 04 is built on top of these.
// Same shape out as in; NaN -> NaN, +-inf -> +-inf (sign: +-1).
Tensor round(const Tensor& a);  // to nearest, exact halves to even: 0.5 -> 0, 1.5 -> 2, -2.5 -> -2
Tensor floor(const Tensor& a);  // largest integer <= x
Tensor sign(const Tensor& a);   // -1, 0 or +1 (sign(-0) = 0)

// ---- comparisons -> 0/1 masks, no gradient -- core/ops/compare.cpp ------------------------------
// 1.0f where the comparison holds, else 0.0f; tensor-tensor forms broadcast. The result never
// requires grad (a mask is not differentiable). NaN compares like IEEE 754: ne(NaN, anything) = 1,
// every other comparison with a NaN is 0.
Tensor lt(const Tensor& a, const Tensor& b);  // a < b
Tensor le(const Tensor& a, const Tensor& b);  // a <= b
Tensor gt(const Tensor& a, const Tensor& b);  // a > b
Tensor ge(const Tensor& a, const Tensor& b);  // a >= b
Tensor eq(const Tensor& a, const Tensor& b);  // a == b
Tensor ne(const Tensor& a, const Tensor& b);  // a != b
Tensor lt(const Tensor& a, float b);
Tensor le(const Tensor& a, float b);
Tensor gt(const Tensor& a, float b);
Tensor ge(const Tensor& a, float b);
Tensor eq(const Tensor& a, float b);
Tensor ne(const Tensor& a, float b);

// where(condition, a, b): a where condition != 0 (a NaN condition counts as != 0), else b; all
// three broadcast together. Gradients: g where chosen, 0 elsewhere (summed back to each input's
// shape); the condition gets none. The float forms stand for a constant (no gradient).
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, float b);
Tensor where(const Tensor& condition, float a, const Tensor& b);
// masked_fill(a, mask, value): value where mask != 0, else a (e.g. -inf for a causal mask).
Tensor masked_fill(const Tensor& a, const Tensor& mask, float value);

// ---- reductions -- core/ops/reduce.cpp --------------------------------------------------------
Tensor sum(const Tensor& a);  // all elements -> shape []
Tensor sum(const Tensor& a, int64_t axis, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, int64_t axis, bool keepdim = false);
Tensor max(const Tensor& a);  // gradient split evenly between tied maxima
Tensor max(const Tensor& a, int64_t axis, bool keepdim = false);  // ties: the first index wins
Tensor min(const Tensor& a, int64_t axis, bool keepdim = false);
// var with Bessel's correction by default (unbiased, like torch.var); unbiased=false divides by n.
Tensor var(const Tensor& a, bool unbiased = true);
Tensor var(const Tensor& a, int64_t axis, bool keepdim = false, bool unbiased = true);
// Without this, var(x, 1) would not compile: a literal int converts equally well to bool and to
// int64_t. With it, an int literal means an axis, as in torch.var(x, 1).
inline Tensor var(const Tensor& a, int axis, bool keepdim = false, bool unbiased = true) {
  return var(a, static_cast<int64_t>(axis), keepdim, unbiased);
}
std::vector<int64_t> argmax(const Tensor& a, int64_t axis);  // no gradient; shape without axis
// p-norm, p = 1 (sum |x|) or p = 2 (sqrt of sum x^2, accumulated in double); other p throw.
// Whole tensor -> shape [], or along one axis. Gradient: p = 1 -> sign(x) (0 at 0); p = 2 ->
// x / ||x||, defined as 0 where ||x|| = 0 (a subgradient; the formula would give 0/0). NaN -> NaN.
Tensor norm(const Tensor& a, float p = 2.0f);
Tensor norm(const Tensor& a, float p, int64_t axis, bool keepdim = false);
// Running sum along an axis (same shape): y_k = x_0 + ... + x_k. Gradient: the reverse running sum
// dx_k = g_k + ... + g_{n-1}. A NaN poisons every later position of its lane.
Tensor cumsum(const Tensor& a, int64_t axis);

// ---- sorting and selection -- core/ops/sort.cpp ------------------------------------------------
// All of these order NaN above +inf (the NumPy/PyTorch convention): last when ascending, first
// when descending or largest. Ties are deterministic: equal values keep their index order (lower
// index first), in both directions. `values` is differentiable: its gradient is scattered back to
// the chosen positions (0 elsewhere). `indices` are positions along `axis`, stored row-major with
// the shape of `values` (like argmax). ValuesAndIndices is defined in core/tensor.h; it unpacks:
//   auto [values, indices] = topk(x, 3);
// Sorted along axis: values and indices have a's shape.
ValuesAndIndices sort(const Tensor& a, int64_t axis = -1, bool descending = false);
std::vector<int64_t> argsort(const Tensor& a, int64_t axis = -1, bool descending = false);
// The k largest (or smallest) along axis, best first: axis size becomes k; 0 <= k <= size.
ValuesAndIndices topk(const Tensor& a, int64_t k, int64_t axis = -1, bool largest = true);
// The k-th smallest along axis, 1-based like torch.kthvalue (k = 1 is the minimum); the axis is
// dropped (kept as size 1 with keepdim). On ties, the position that a stable sort puts k-th.
ValuesAndIndices kthvalue(const Tensor& a, int64_t k, int64_t axis = -1, bool keepdim = false);

// ---- triangles -- core/ops/triangle.cpp --------------------------------------------------------
// On the last two axes [..., R, C] (batched over the others; rank >= 2): keep element (i, j) when
// j - i <= offset (tril) or j - i >= offset (triu), write 0 elsewhere (written, not multiplied:
// a NaN or inf outside the triangle does not leak). offset 0 is the main diagonal, 1 the one above.
// Gradient: the same triangle of g. Causal mask: tril(Tensor::ones({T, T})).
Tensor tril(const Tensor& a, int64_t offset = 0);
Tensor triu(const Tensor& a, int64_t offset = 0);

// ---- softmax family -- core/ops/softmax.cpp ----------------------------------------------------
// Numerically stable: the row maximum is subtracted first, so logits of 1e4 stay finite.
Tensor softmax(const Tensor& a, int64_t axis);
Tensor log_softmax(const Tensor& a, int64_t axis);

// ---- linear algebra -- core/ops/matmul.cpp ----------------------------------------------------
// [M,K] @ [K,N] -> [M,N]; batched [...,M,K] @ [...,K,N] with broadcast batch dims; a 1-d operand
// is treated as a row (left) or column (right) vector and that axis is dropped, as in NumPy.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- convolution and pooling -- core/ops/conv.cpp, core/ops/pool.cpp -----------------------------
struct Size2 {  // (height, width) pair; Size2(3) means 3x3
  int64_t h = 1, w = 1;
  Size2() = default;
  Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose, conv2d(x, w, b, 2)
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
};
struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
  int64_t groups = 1;
};
// input [N,C,H,W], weight [OC, C/groups, KH, KW], bias [OC] or undefined -> [N,OC,OH,OW]
// OH = (H + 2*pad_h - dil_h*(KH-1) - 1) / stride_h + 1  (same for OW)
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});
// [N,C,H,W] -> [N,C,OH,OW]; stride defaults to the kernel size (PyTorch's default).
// max_pool2d pads with -inf, avg_pool2d counts the padding as zeros (count_include_pad=True).
Tensor max_pool2d(const Tensor& input, Size2 kernel, Size2 stride = 0, Size2 padding = 0);
Tensor avg_pool2d(const Tensor& input, Size2 kernel, Size2 stride = 0, Size2 padding = 0);

// ---- layers' building blocks -- core/ops/nn_ops.cpp --------------------------------------------
// weight [V, D], indices (any shape, given as index_shape) -> index_shape + [D]
Tensor embedding(const Tensor& weight, const std::vector<int64_t>& indices, const Shape& index_shape);
// Normalises over the last normalized_shape.size() axes; weight/bias have normalized_shape
// (either may be undefined). y = (x - mean) / sqrt(var_biased + eps) * weight + bias
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), float eps = 1e-5f);
// Inverted dropout: in training zero each element with probability p and scale the rest by
// 1/(1-p); in evaluation the identity.
Tensor dropout(const Tensor& x, float p, bool training);

// ---- joining -- core/ops/join.cpp --------------------------------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t axis);    // shapes agree except on axis
Tensor stack(const std::vector<Tensor>& tensors, int64_t axis);  // equal shapes, new axis

// ---- losses -- core/ops/loss.cpp --------------------------------------------------------------
// BatchMean: sum / batch size, for kl_div only; the other losses reject it with an error (their
// Mean already averages over the batch for cross_entropy/nll_loss).
enum class Reduction { None, Mean, Sum, BatchMean };
// logits [N,C], target N class indices in [0,C) -> mean/sum over N, or [N] for None.
// label_smoothing e mixes the one-hot target with uniform: (1-e)*onehot + e/C (PyTorch's rule).
Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& target,
                     Reduction reduction = Reduction::Mean, float label_smoothing = 0.0f);
Tensor nll_loss(const Tensor& log_probs, const std::vector<int64_t>& target,
                Reduction reduction = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// Stable form: max(x,0) - x*y + log(1 + exp(-|x|)); target probabilities y in [0,1].
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction = Reduction::Mean);
// PyTorch's convention: input = log-probabilities of the model, target = probabilities.
// Pointwise target * (log(target) - input), with 0 * log 0 = 0. BatchMean divides by input.size(0)
// (the mathematically correct KL per example); Mean divides by the element count.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// ---- factories as free functions (like torch.arange, torch.full ...) -- core/ops/factory.cpp ----
// New leaf tensors without gradient. arange: [start, end) by step (negative and fractional steps
// allowed); a zero step, a step pointing away from end, or a non-finite argument throw.
Tensor arange(float start, float end, float step = 1.0f);
Tensor arange(int64_t n);  // 0, 1, ..., n-1; n >= 0
Tensor full(const Shape& shape, float value);
// Same shape as t (t's values and gradient are not used).
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, float value);
Tensor rand_like(const Tensor& t, float low = 0.0f, float high = 1.0f);  // uniform in [low, high)
Tensor randn_like(const Tensor& t, float mean = 0.0f, float stddev = 1.0f);

// ---- operators -------------------------------------------------------------------------------
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, float b) { return add(a, b); }
inline Tensor operator+(float a, const Tensor& b) { return add(b, a); }
inline Tensor operator-(const Tensor& a, float b) { return add(a, -b); }
inline Tensor operator-(float a, const Tensor& b) { return add(neg(b), a); }
inline Tensor operator*(const Tensor& a, float b) { return mul(a, b); }
inline Tensor operator*(float a, const Tensor& b) { return mul(b, a); }
inline Tensor operator/(const Tensor& a, float b) { return mul(a, 1.0f / b); }
inline Tensor operator/(float a, const Tensor& b) { return mul(pow(b, -1.0f), a); }

}  // namespace nibble
