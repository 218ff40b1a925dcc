// Affine quantization, calibration observers and fake quantization (course module 04; lesson:
// modules/04_quantization/README.md). Names follow torch.ao.quantization.
//
// A b-bit affine quantizer maps a real x to an integer code q in [quant_min, quant_max]:
//   q     = clamp(round_half_even(x / scale) + zero_point, quant_min, quant_max)     (quantize)
//   x_hat = scale * (q - zero_point)                                                  (dequantize)
// Inside the representable range [scale·(quant_min − zp), scale·(quant_max − zp)] the round trip
// is off by at most scale/2; outside it, x is clamped to the nearest end.
// Per channel, element e of channel c (its index along ch_axis) uses scale[c] and zero_point[c].
//
// nibble tensors hold floats only, so "quantized" tensors here are float tensors whose values are
// the integer codes (as torch's q.int_repr().float()). The int8 inference layers of nn/quantized.h
// take their parameters from these functions: `nn::QuantParams` is the uint8 per-tensor special
// case (quant_min 0, quant_max 255) of QParams below, and their per-channel symmetric int8 weights
// (quantize_weights_per_channel) are calculate_qparams(symmetric, −127..127, ch_axis 0).
//
// Module 04 owns modules/04_quantization/solution/affine.cpp and observers.cpp (the functions
// marked "module 04" below); the checks, helpers and the parts marked "given" are library code in
// compression/quantization.cpp. Bad input throws nibble::Error naming the function, the argument
// and its value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nibble {

// torch.per_tensor_affine, torch.per_tensor_symmetric, torch.per_channel_affine,
// torch.per_channel_symmetric.
enum class QScheme { kPerTensorAffine, kPerTensorSymmetric, kPerChannelAffine, kPerChannelSymmetric };
bool is_per_channel(QScheme qscheme);
bool is_symmetric(QScheme qscheme);

// The parameters of an affine quantizer. Per tensor: one scale and one zero point, ch_axis = -1.
// Per channel: one of each per index along ch_axis (>= 0).
struct QParams {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int64_t quant_min = 0;
  int64_t quant_max = 255;
  int64_t ch_axis = -1;  // -1: per tensor
};

// Smallest scale calculate_qparams returns (torch uses float32 epsilon too): an all-zero range
// would otherwise give scale 0 and a division by zero.
constexpr float kMinScale = 1.1920929e-07f;  // std::numeric_limits<float>::epsilon()

// ---- checks and helpers (given, compression/quantization.cpp) -----------------------------------

// The code range of a `bits`-wide integer: signed [-2^(b-1), 2^(b-1) - 1], unsigned [0, 2^b - 1].
// Throws unless 2 <= bits <= 8.  EXAMPLE: quant_range(8, false) = {0, 255}; (4, true) = {-8, 7}.
struct QuantRange {
  int64_t quant_min = 0;
  int64_t quant_max = 255;
};
QuantRange quant_range(int bits, bool is_signed);

// Throws nibble::Error naming `function` unless qp is usable on x: quant_min < quant_max spanning
// 2..8 bits, every scale finite and > 0, every zero_point in [quant_min, quant_max], one scale and
// zero point per tensor or one per channel of x along ch_axis. x may be undefined (no shape check).
void validate_qparams(const QParams& qp, const Tensor& x, const std::string& function);

// For each element of x in row-major order, the index of its channel: 0 everywhere per tensor,
// the coordinate along qp.ch_axis per channel. EXAMPLE: x [2, 3], ch_axis 0 -> {0,0,0,1,1,1};
// ch_axis 1 -> {0,1,2,0,1,2}.
std::vector<int64_t> channel_of_each_element(const Tensor& x, const QParams& qp);

// Per-channel min and max of x along ch_axis (one value when ch_axis = -1). Throws on empty x.
void channel_min_max(const Tensor& x, int64_t ch_axis, std::vector<float>* min_val,
                     std::vector<float>* max_val);

// ---- affine quantization (module 04, solution/affine.cpp) ----------------------------------------

// TODO: scale and zero point for the ranges [min_val[c], max_val[c]] (one entry per tensor, or one
//   per channel), as torch's observers calculate them.
// APPROACH: widen each range to contain 0 (min_neg = min(min_val, 0), max_pos = max(max_val, 0)),
//   so that real 0 — ReLU outputs, zero padding — is exactly a code.
//   Affine:    scale = (max_pos − min_neg) / (quant_max − quant_min),
//              zero_point = quant_min − round_half_even(min_neg / scale), clamped to the range.
//   Symmetric: a = max(−min_neg, max_pos), scale = a / ((quant_max − quant_min) / 2),
//              zero_point = 0 for a signed range, (quant_min + quant_max + 1) / 2 for an unsigned one.
//   Then scale = max(scale, kMinScale). ch_axis is copied into the result (-1 for one range).
// EXAMPLE: affine [−1, 3] in [0, 255]: scale = 4/255, zero_point = round(63.75) = 64.
//   symmetric [−1, 3] in [−128, 127]: scale = 3 / 127.5, zero_point = 0.
// HINTS: the number of STEPS between quant_min and quant_max is quant_max − quant_min, not + 1.
QParams calculate_qparams(const std::vector<float>& min_val, const std::vector<float>& max_val,
                          bool symmetric, int64_t quant_min, int64_t quant_max, int64_t ch_axis = -1);

// TODO: the integer codes of x (a float tensor of whole numbers, same shape), per tensor or per
//   channel. Not on the autograd tape (a code has no useful gradient: see fake_quantize).
// APPROACH: q = clamp(round_half_even(x / scale[c]) + zero_point[c], quant_min, quant_max),
//   c = the element's channel (channel_of_each_element).
// EXAMPLE: scale 0.5, zero point 10, [0, 255]: x = 0.25 -> round(0.5) = 0 -> 10 (half to EVEN);
//   x = 0.75 -> round(1.5) = 2 -> 12; x = -100 -> -190 -> clamped to 0.
// HINTS: std::nearbyint rounds half to even in the default rounding mode; std::round does not.
Tensor quantize(const Tensor& x, const QParams& qp);

// TODO: the real values scale[c] * (q − zero_point[c]) of codes q (same shape), off the tape.
// EXAMPLE: scale 0.5, zero point 10: q = 12 -> 1.0; q = 0 -> -5.0.
Tensor dequantize(const Tensor& q, const QParams& qp);

// TODO: dequantize(quantize(x)) as a differentiable extension op (apply_function) whose backward
//   is the straight-through estimator: the rounding is treated as the identity inside the clamp
//   range and the clamp as a constant outside it.
// APPROACH: forward: x_hat as above. backward: grad_x = grad_out where
//   quant_min <= round_half_even(x / scale[c]) + zero_point[c] <= quant_max, and 0 elsewhere
//   (torch.fake_quantize_per_tensor_affine / per_channel_affine).
// EXAMPLE: scale 1, zero point 0, [-2, 1]: x = (-3, -1.4, 0.6, 1.5) -> x_hat = (-2, -1, 1, 1),
//   d x_hat / dx = (0, 1, 1, 0) (1.5 rounds to 2 > 1: outside).
// HINTS: composing round/clamp ops would give gradient 0 almost everywhere (round's derivative).
Tensor fake_quantize(const Tensor& x, const QParams& qp);

// ---- observers (calibration) --------------------------------------------------------------------
// An observer watches the float values a tensor takes (forward, on calibration batches) and then
// proposes quantization parameters (calculate_qparams). Observers never change x and never record
// on the tape. Per-channel schemes use ch_axis (the output channel of a weight is 0).
class Observer {
 public:
  // bits in 2..8; is_signed picks [-2^(b-1), 2^(b-1)-1] or [0, 2^b - 1].
  Observer(QScheme qscheme, int bits, bool is_signed, int64_t ch_axis, std::string name);
  virtual ~Observer() = default;

  // Records the values of x (module 04 writes MinMaxObserver's and MovingAverage's).
  virtual void forward(const Tensor& x) = 0;
  void operator()(const Tensor& x) { forward(x); }

  // Given: calculate_qparams(min_val(), max_val(), ...) with the observer's scheme and range.
  // Throws "saw no data" (naming the observer) before the first forward.
  virtual QParams calculate_qparams() const;

  QScheme qscheme() const { return qscheme_; }
  int64_t quant_min() const { return range_.quant_min; }
  int64_t quant_max() const { return range_.quant_max; }
  int64_t ch_axis() const { return is_per_channel(qscheme_) ? ch_axis_ : -1; }
  bool has_data() const { return !min_val_.empty(); }
  const std::vector<float>& min_val() const { return min_val_; }
  const std::vector<float>& max_val() const { return max_val_; }
  const std::string& name() const { return name_; }

 protected:
  // Given: throws (naming the observer and x's shape) unless x is a defined, non-empty tensor of
  // finite values with the observer's ch_axis, and (after the first batch) the same channel count.
  void check_input(const Tensor& x) const;
  void check_has_data() const;

  QScheme qscheme_;
  QuantRange range_;
  int64_t ch_axis_;
  std::string name_;
  std::vector<float> min_val_, max_val_;  // empty until the first forward
};

// torch.ao.quantization.MinMaxObserver / PerChannelMinMaxObserver: the running min and max.
class MinMaxObserver : public Observer {
 public:
  explicit MinMaxObserver(QScheme qscheme = QScheme::kPerTensorAffine, int bits = 8,
                          bool is_signed = false, int64_t ch_axis = 0);
  // TODO (module 04, solution/observers.cpp): after check_input(x), min_val_/max_val_ become the
  //   smallest/largest value seen so far (per channel along ch_axis() when per-channel).
  // HINTS: channel_min_max gives this batch's; the first batch has nothing to combine with.
  void forward(const Tensor& x) override;
};

// torch.ao.quantization.MovingAverageMinMaxObserver (and PerChannel...): an exponential moving
// average of each batch's min and max — robust to one odd batch, the usual choice for QAT.
class MovingAverageMinMaxObserver : public Observer {
 public:
  explicit MovingAverageMinMaxObserver(double averaging_constant = 0.01,
                                       QScheme qscheme = QScheme::kPerTensorAffine, int bits = 8,
                                       bool is_signed = false, int64_t ch_axis = 0);
  // TODO (module 04): the first batch sets min_val_/max_val_ to its min/max; every later batch
  //   moves them: min_val += c · (batch_min − min_val), same for max (c = averaging_constant).
  // EXAMPLE: c = 0.5, batches with max 4 then 2: max_val = 4, then 4 + 0.5·(2 − 4) = 3.
  void forward(const Tensor& x) override;
  double averaging_constant() const { return c_; }

 private:
  double c_;
};

// TODO (module 04, solution/observers.cpp): the q-th percentile (0 <= q <= 100) of values, with
//   linear interpolation between order statistics (numpy.percentile's default, torch.quantile's).
// APPROACH: sort; position = q/100 · (n − 1); interpolate between the values at floor and ceil.
// EXAMPLE: percentile({4, 1, 3, 2}, 50) = 2.5 (sorted 1 2 3 4, position 1.5); q = 100 -> 4.
double percentile(std::vector<float> values, double q);

// Clips to the [100 − p, p] percentiles of every value seen, ignoring the rarest outliers.
// Per tensor only (throws for a per-channel scheme). Keeps every value it has seen.
class PercentileObserver : public Observer {
 public:
  explicit PercentileObserver(double percentile = 99.99, QScheme qscheme = QScheme::kPerTensorAffine,
                              int bits = 8, bool is_signed = false);
  void forward(const Tensor& x) override;     // given
  QParams calculate_qparams() const override; // given: min = percentile(100 − p), max = percentile(p)

 private:
  double p_;
  std::vector<float> values_;
};

// TODO (module 04, solution/observers.cpp): TensorRT's entropy calibration. hist[i] counts |x| in
//   [i·bin_width, (i+1)·bin_width). Returns the clipping threshold T = i·bin_width that minimises
//   KL(P‖Q) (module 01's kl_divergence) over i = num_quantized_bins .. hist.size():
// APPROACH, for each candidate i (the bins kept):
//   P = hist[0..i), with every count beyond (the outliers, clipped to T) added to P[i−1];
//   Q = hist[0..i) merged into num_quantized_bins groups — group j holds bins
//       [j·i/nq, (j+1)·i/nq) (integer division) — and each group's total spread EVENLY over the
//       bins of the group where P is non-zero (0 where P is 0);
//   normalise P and Q to sum 1 and take kl_divergence(P, Q) (+inf when Q misses P's support).
//   Keep the smallest i with the least KL (strictly less to replace).
// EXAMPLE: hist = {4, 2, 1, 1}, bin_width 1, num_quantized_bins 2:
//   i = 2: P = {4, 4}/8, Q = {4, 2}/6 -> KL = 0.5·log2(0.5/(4/6)) + 0.5·log2(0.5/(2/6)) ≈ 0.0850;
//   i = 3: P = {4, 2, 2}/8, groups {0}, {1, 2}: Q = {4, 1.5, 1.5}/7 -> KL ≈ 0.0149;
//   i = 4: P = {4, 2, 1, 1}/8, groups {0, 1}, {2, 3}: Q = {3, 3, 1, 1}/8 -> KL ≈ 0.0613.   T = 3.
// HINTS: the threshold of i kept bins is the UPPER edge of bin i − 1, i·bin_width.
double entropy_threshold(const std::vector<double>& hist, double bin_width, int64_t num_quantized_bins);

// Symmetric clipping at entropy_threshold of the histogram of |x| (num_bins bins over [0, max|x|]
// of everything seen), with num_quantized_bins = 2^(bits−1) (128 for int8): min = −T, max = T.
// Per tensor only. Keeps every value it has seen.
// num_bins = 0 (the default) keeps TensorRT's 16 histogram bins per quantized level at every width:
// 2048 bins at 8 bits (TensorRT's), 128 at 4 bits. A fixed 2048 at 4 bits (8 levels) breaks the
// search: the first candidate maps one bin to each level, so Q = P there whatever the data, and the
// threshold collapses to 8 bins (measured on the Fashion MLP: 0.17 accuracy; lesson, section 5).
class EntropyObserver : public Observer {
 public:
  static constexpr int64_t kBinsPerLevel = 16;
  explicit EntropyObserver(int bits = 8, bool is_signed = true, int64_t num_bins = 0);
  void forward(const Tensor& x) override;     // given
  QParams calculate_qparams() const override; // given
  double threshold() const;                   // T of the values seen so far

 private:
  int64_t num_bins_;
  std::vector<float> abs_values_;
};

}  // namespace nibble
