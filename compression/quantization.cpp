// The given parts of compression/quantization.h: checks, helpers, the observer base and the
// percentile / entropy observers. The student's parts are in modules/04_quantization/.
#include "compression/quantization.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace nibble {

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

int64_t normalized_axis(int64_t axis, int64_t dim) { return axis < 0 ? axis + dim : axis; }

}  // namespace

bool is_per_channel(QScheme q) { return q == QScheme::kPerChannelAffine || q == QScheme::kPerChannelSymmetric; }
bool is_symmetric(QScheme q) { return q == QScheme::kPerTensorSymmetric || q == QScheme::kPerChannelSymmetric; }

QuantRange quant_range(int bits, bool is_signed) {
  NIBBLE_CHECK(bits >= 2 && bits <= 8, "quant_range", "bits = " + std::to_string(bits) + " is outside 2..8",
               "nibble quantizes to 2- to 8-bit integers (int8/uint8 and narrower)");
  const int64_t levels = int64_t{1} << bits;
  if (is_signed) return {-levels / 2, levels / 2 - 1};
  return {0, levels - 1};
}

void validate_qparams(const QParams& qp, const Tensor& x, const std::string& function) {
  const int64_t span = qp.quant_max - qp.quant_min;
  NIBBLE_CHECK(span >= 3 && span <= 255, function,
               "quant_min = " + std::to_string(qp.quant_min) + ", quant_max = " + std::to_string(qp.quant_max) +
                   " is not a 2..8-bit range",
               "use quant_range(bits, is_signed), e.g. [0, 255] or [-128, 127]");
  NIBBLE_CHECK(!qp.scale.empty() && qp.scale.size() == qp.zero_point.size(), function,
               "qparams hold " + std::to_string(qp.scale.size()) + " scales and " +
                   std::to_string(qp.zero_point.size()) + " zero points",
               "one of each per tensor, or one of each per channel");
  for (size_t c = 0; c < qp.scale.size(); ++c) {
    NIBBLE_CHECK(std::isfinite(qp.scale[c]) && qp.scale[c] > 0.0f, function,
                 "scale[" + std::to_string(c) + "] = " + num(qp.scale[c]) + " is not finite and > 0",
                 "a scale is the step between two codes; calculate_qparams keeps it >= kMinScale");
    NIBBLE_CHECK(qp.zero_point[c] >= qp.quant_min && qp.zero_point[c] <= qp.quant_max, function,
                 "zero_point[" + std::to_string(c) + "] = " + std::to_string(qp.zero_point[c]) +
                     " is outside [" + std::to_string(qp.quant_min) + ", " + std::to_string(qp.quant_max) + "]",
                 "the zero point is the code of real 0 and must itself be a code");
  }
  if (qp.ch_axis < 0) {
    NIBBLE_CHECK(qp.scale.size() == 1, function,
                 "per-tensor qparams (ch_axis = -1) hold " + std::to_string(qp.scale.size()) + " scales",
                 "set ch_axis to the channel axis for per-channel parameters");
    return;
  }
  if (!x.defined()) return;
  NIBBLE_CHECK(qp.ch_axis < x.dim(), function,
               "ch_axis = " + std::to_string(qp.ch_axis) + " but x has shape " + x.shape_str(),
               "the channel axis must be one of x's axes");
  NIBBLE_CHECK(static_cast<int64_t>(qp.scale.size()) == x.size(qp.ch_axis), function,
               std::to_string(qp.scale.size()) + " per-channel scales for x of shape " + x.shape_str() +
                   " along ch_axis = " + std::to_string(qp.ch_axis),
               "one scale per index along ch_axis");
}

std::vector<int64_t> channel_of_each_element(const Tensor& x, const QParams& qp) {
  const int64_t n = x.numel();
  if (qp.ch_axis < 0) return std::vector<int64_t>(static_cast<size_t>(n), 0);
  NIBBLE_CHECK(qp.ch_axis < x.dim(), "channel_of_each_element",
               "ch_axis = " + std::to_string(qp.ch_axis) + " but x has shape " + x.shape_str());
  int64_t inner = 1;
  for (int64_t d = qp.ch_axis + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t channels = x.size(qp.ch_axis);
  std::vector<int64_t> c(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) c[static_cast<size_t>(i)] = (i / inner) % channels;
  return c;
}

void channel_min_max(const Tensor& x, int64_t ch_axis, std::vector<float>* min_val, std::vector<float>* max_val) {
  NIBBLE_CHECK(x.defined() && x.numel() > 0, "channel_min_max", "x is undefined or empty",
               "an observer needs at least one value");
  QParams qp;
  qp.ch_axis = ch_axis < 0 ? -1 : normalized_axis(ch_axis, x.dim());
  const std::vector<int64_t> ch = channel_of_each_element(x, qp);
  const int64_t channels = qp.ch_axis < 0 ? 1 : x.size(qp.ch_axis);
  min_val->assign(static_cast<size_t>(channels), INFINITY);
  max_val->assign(static_cast<size_t>(channels), -INFINITY);
  const std::vector<float> v = x.contiguous().to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t c = static_cast<size_t>(ch[i]);
    (*min_val)[c] = std::min((*min_val)[c], v[i]);
    (*max_val)[c] = std::max((*max_val)[c], v[i]);
  }
}

// ---- Observer -------------------------------------------------------------------------------------

Observer::Observer(QScheme qscheme, int bits, bool is_signed, int64_t ch_axis, std::string name)
    : qscheme_(qscheme), range_(quant_range(bits, is_signed)), ch_axis_(ch_axis), name_(std::move(name)) {
  NIBBLE_CHECK(!is_per_channel(qscheme) || ch_axis >= 0, name_,
               "ch_axis = " + std::to_string(ch_axis) + " for a per-channel scheme",
               "the channel axis counts from 0 (a weight's output channel is axis 0)");
}

void Observer::check_input(const Tensor& x) const {
  NIBBLE_CHECK(x.defined() && x.numel() > 0, name_ + ".forward", "x is undefined or empty",
               "observe a calibration batch of real values");
  NIBBLE_CHECK(!is_per_channel(qscheme_) || ch_axis_ < x.dim(), name_ + ".forward",
               "ch_axis = " + std::to_string(ch_axis_) + " but x has shape " + x.shape_str());
  for (const float v : x.contiguous().to_vector())
    NIBBLE_CHECK(std::isfinite(v), name_ + ".forward", "x of shape " + x.shape_str() + " holds " + num(v),
                 "a NaN or inf would make every range meaningless");
  if (has_data() && is_per_channel(qscheme_))
    NIBBLE_CHECK(static_cast<int64_t>(min_val_.size()) == x.size(ch_axis_), name_ + ".forward",
                 "x of shape " + x.shape_str() + " has " + std::to_string(x.size(ch_axis_)) +
                     " channels along ch_axis = " + std::to_string(ch_axis_) + ", earlier batches had " +
                     std::to_string(min_val_.size()));
}

void Observer::check_has_data() const {
  NIBBLE_CHECK(has_data(), name_ + ".calculate_qparams", name_ + " saw no data",
               "call forward(x) on calibration batches first");
}

QParams Observer::calculate_qparams() const {
  check_has_data();
  return nibble::calculate_qparams(min_val_, max_val_, is_symmetric(qscheme_), range_.quant_min, range_.quant_max,
                                   ch_axis());
}

MinMaxObserver::MinMaxObserver(QScheme qscheme, int bits, bool is_signed, int64_t ch_axis)
    : Observer(qscheme, bits, is_signed, ch_axis, "MinMaxObserver") {}

MovingAverageMinMaxObserver::MovingAverageMinMaxObserver(double c, QScheme qscheme, int bits, bool is_signed,
                                                         int64_t ch_axis)
    : Observer(qscheme, bits, is_signed, ch_axis, "MovingAverageMinMaxObserver"), c_(c) {
  NIBBLE_CHECK(std::isfinite(c) && c > 0.0 && c <= 1.0, name_, "averaging_constant = " + num(c) + " is outside (0, 1]",
               "the weight of each new batch, e.g. 0.01");
}

// ---- PercentileObserver ------------------------------------------------------------------------

PercentileObserver::PercentileObserver(double p, QScheme qscheme, int bits, bool is_signed)
    : Observer(qscheme, bits, is_signed, 0, "PercentileObserver"), p_(p) {
  NIBBLE_CHECK(!is_per_channel(qscheme), name_, "a per-channel scheme was asked", "PercentileObserver is per tensor");
  NIBBLE_CHECK(std::isfinite(p) && p >= 50.0 && p <= 100.0, name_, "percentile = " + num(p) + " is outside [50, 100]",
               "e.g. 99.99 clips the rarest 0.01% at each end");
}

void PercentileObserver::forward(const Tensor& x) {
  check_input(x);
  const std::vector<float> v = x.contiguous().to_vector();
  values_.insert(values_.end(), v.begin(), v.end());
  min_val_ = {static_cast<float>(percentile(values_, 100.0 - p_))};
  max_val_ = {static_cast<float>(percentile(values_, p_))};
}

QParams PercentileObserver::calculate_qparams() const { return Observer::calculate_qparams(); }

// ---- EntropyObserver ----------------------------------------------------------------------------

EntropyObserver::EntropyObserver(int bits, bool is_signed, int64_t num_bins)
    : Observer(QScheme::kPerTensorSymmetric, bits, is_signed, 0, "EntropyObserver"),
      num_bins_(num_bins == 0 ? kBinsPerLevel * (int64_t{1} << (bits - 1)) : num_bins) {
  NIBBLE_CHECK(num_bins == 0 || num_bins >= (int64_t{1} << (bits - 1)), name_,
               "num_bins = " + std::to_string(num_bins) + " is below 2^(bits-1) = " +
                   std::to_string(int64_t{1} << (bits - 1)),
               "the histogram needs at least as many bins as quantized levels; 0 picks 16 per level (2048 at 8 bits)");
}

void EntropyObserver::forward(const Tensor& x) {
  check_input(x);
  float m = max_val_.empty() ? 0.0f : max_val_[0];
  for (const float v : x.contiguous().to_vector()) {
    abs_values_.push_back(std::fabs(v));
    m = std::max(m, std::fabs(v));
  }
  min_val_ = {-m};
  max_val_ = {m};
}

double EntropyObserver::threshold() const {
  check_has_data();
  const double m = max_val_[0];
  if (m == 0.0) return 0.0;
  const double width = m / static_cast<double>(num_bins_);
  std::vector<double> hist(static_cast<size_t>(num_bins_), 0.0);
  for (const float a : abs_values_) {
    const int64_t b = std::min<int64_t>(static_cast<int64_t>(a / width), num_bins_ - 1);
    hist[static_cast<size_t>(b)] += 1.0;
  }
  const int64_t nq = int64_t{1} << (static_cast<int>(std::log2(double(range_.quant_max - range_.quant_min + 1))) - 1);
  return entropy_threshold(hist, width, nq);
}

QParams EntropyObserver::calculate_qparams() const {
  const float t = static_cast<float>(threshold());
  return nibble::calculate_qparams({-t}, {t}, true, range_.quant_min, range_.quant_max, -1);
}

}  // namespace nibble
