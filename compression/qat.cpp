#include "compression/qat.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble {

void validate_qat_config(const QatConfig& config, const std::string& function) {
  NIBBLE_CHECK(config.bits_w >= 3 && config.bits_w <= 8, function,
               "QatConfig::bits_w = " + std::to_string(config.bits_w) + " is outside 3..8",
               "weights are symmetric on [-(2^(b-1)-1), 2^(b-1)-1]: at least 3 levels, at most int8's 255");
  NIBBLE_CHECK(config.bits_a >= 2 && config.bits_a <= 8, function,
               "QatConfig::bits_a = " + std::to_string(config.bits_a) + " is outside 2..8",
               "activations are unsigned codes [0, 2^b - 1]");
  NIBBLE_CHECK(config.averaging_constant > 0.0 && config.averaging_constant <= 1.0, function,
               "QatConfig::averaging_constant = " + std::to_string(config.averaging_constant) +
                   " is outside (0, 1]",
               "0.01 (torch's default) follows the activations slowly; 1 keeps the last batch's range");
}

QParams weight_qparams(const Tensor& w, int bits) {
  NIBBLE_CHECK(bits >= 3 && bits <= 8, "weight_qparams", "bits = " + std::to_string(bits) + " is outside 3..8",
               "the restricted symmetric range [-(2^(b-1)-1), 2^(b-1)-1] needs b >= 3");
  std::vector<float> lo, hi;
  channel_min_max(w.detach(), 0, &lo, &hi);
  const int64_t qmax = (int64_t{1} << (bits - 1)) - 1;
  return calculate_qparams(lo, hi, /*symmetric=*/true, -qmax, qmax, /*ch_axis=*/0);
}

}  // namespace nibble

namespace nibble::nn {

namespace {

MovingAverageMinMaxObserver input_observer_for(const QatConfig& config, const char* layer) {
  validate_qat_config(config, layer);
  return MovingAverageMinMaxObserver(config.averaging_constant, QScheme::kPerTensorAffine, config.bits_a,
                                     /*is_signed=*/false);
}

void copy_values(const Tensor& src, Tensor& dst) {
  const Tensor c = src.detach().contiguous();
  std::copy(c.data(), c.data() + c.numel(), dst.data());
}

// The observer's range as QParams; a clear error when it has not seen a batch yet.
QParams observed_qparams(const MovingAverageMinMaxObserver& obs, const char* layer) {
  NIBBLE_CHECK(obs.has_data(), layer, "the input observer saw no data",
               "run the prepared model in train mode on a few batches (QAT) before eval or convert");
  return obs.calculate_qparams();
}

// x: observe it (train mode), then fake-quantize it with the observed range.
Tensor fake_quantize_input(const Tensor& x, MovingAverageMinMaxObserver& obs, bool training, const char* layer) {
  if (training) obs.forward(x.detach());
  return fake_quantize(x, observed_qparams(obs, layer));
}

Int8Weights to_int8(const Tensor& weight, const QParams& qp) {
  Int8Weights w;
  w.scales = qp.scale;
  const std::vector<float> codes = quantize(weight.detach(), qp).to_vector();
  w.values.resize(codes.size());
  std::transform(codes.begin(), codes.end(), w.values.begin(), [](float q) { return static_cast<int8_t>(q); });
  return w;
}

}  // namespace

// ---- FakeQuantLinear -------------------------------------------------------------------------------

FakeQuantLinear::FakeQuantLinear(int64_t in, int64_t out, bool with_bias, const QatConfig& cfg)
    : in_features(in), out_features(out), config(cfg), observer_(input_observer_for(cfg, "FakeQuantLinear")) {
  const Linear init(in, out, with_bias);  // Linear's initialisation and checks
  weight = register_parameter("weight", init.weight.detach().clone());
  if (with_bias) bias = register_parameter("bias", init.bias.detach().clone());
}

std::shared_ptr<FakeQuantLinear> FakeQuantLinear::from_linear(const Linear& layer, const QatConfig& config) {
  auto q = std::make_shared<FakeQuantLinear>(layer.in_features, layer.out_features, layer.bias.defined(), config);
  NoGradGuard no_grad;
  copy_values(layer.weight, q->weight);
  if (layer.bias.defined()) copy_values(layer.bias, q->bias);
  return q;
}

std::shared_ptr<Module> FakeQuantLinear::make_like() const {
  auto m = std::make_shared<FakeQuantLinear>(in_features, out_features, bias.defined(), config);
  m->observer_ = observer_;  // the observed range travels with a clone
  return m;
}

QParams FakeQuantLinear::weight_qparams() const { return nibble::weight_qparams(weight, config.bits_w); }
QParams FakeQuantLinear::input_qparams() const { return observed_qparams(observer_, "FakeQuantLinear"); }
Int8Weights FakeQuantLinear::int8_weights() const { return to_int8(weight, weight_qparams()); }

Tensor FakeQuantLinear::forward(const Tensor& x) {
  NIBBLE_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_features, "FakeQuantLinear::forward",
               "input " + (x.defined() ? x.shape_str() : std::string("(undefined)")) +
                   " does not end in in_features = " + std::to_string(in_features),
               "weight is " + weight.shape_str());
  const Tensor xq = fake_quantize_input(x, observer_, is_training(), "FakeQuantLinear");  // [..., in]
  const Tensor wq = fake_quantize(weight, weight_qparams());                             // [out, in]
  const Tensor y = matmul(xq, wq.t());                                                   // [..., out]
  return bias.defined() ? add(y, bias) : y;
}

std::shared_ptr<Linear> FakeQuantLinear::to_float() const {
  auto l = std::make_shared<Linear>(in_features, out_features, bias.defined());
  NoGradGuard no_grad;
  copy_values(dequantize(quantize(weight.detach(), weight_qparams()), weight_qparams()), l->weight);
  if (bias.defined()) copy_values(bias, l->bias);
  return l;
}

// ---- FakeQuantConv2d -------------------------------------------------------------------------------

FakeQuantConv2d::FakeQuantConv2d(int64_t in, int64_t out, Size2 k, Conv2dOptions opt, bool with_bias,
                                 const QatConfig& cfg)
    : in_channels(in), out_channels(out), kernel_size(k), options(opt), config(cfg),
      observer_(input_observer_for(cfg, "FakeQuantConv2d")) {
  const Conv2d init(in, out, k, opt, with_bias);
  weight = register_parameter("weight", init.weight.detach().clone());
  if (with_bias) bias = register_parameter("bias", init.bias.detach().clone());
}

std::shared_ptr<FakeQuantConv2d> FakeQuantConv2d::from_conv(const Conv2d& layer, const QatConfig& config) {
  auto q = std::make_shared<FakeQuantConv2d>(layer.in_channels, layer.out_channels, layer.kernel_size,
                                             layer.options, layer.bias.defined(), config);
  NoGradGuard no_grad;
  copy_values(layer.weight, q->weight);
  if (layer.bias.defined()) copy_values(layer.bias, q->bias);
  return q;
}

std::shared_ptr<Module> FakeQuantConv2d::make_like() const {
  auto m = std::make_shared<FakeQuantConv2d>(in_channels, out_channels, kernel_size, options, bias.defined(), config);
  m->observer_ = observer_;
  return m;
}

QParams FakeQuantConv2d::weight_qparams() const { return nibble::weight_qparams(weight, config.bits_w); }
QParams FakeQuantConv2d::input_qparams() const { return observed_qparams(observer_, "FakeQuantConv2d"); }
Int8Weights FakeQuantConv2d::int8_weights() const { return to_int8(weight, weight_qparams()); }

Tensor FakeQuantConv2d::forward(const Tensor& x) {
  NIBBLE_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_channels, "FakeQuantConv2d::forward",
               "input " + (x.defined() ? x.shape_str() : std::string("(undefined)")) + " is not [N, " +
                   std::to_string(in_channels) + ", H, W]",
               "weight is " + weight.shape_str());
  const Tensor xq = fake_quantize_input(x, observer_, is_training(), "FakeQuantConv2d");  // [N, C, H, W]
  const Tensor wq = fake_quantize(weight, weight_qparams());                             // [OC, C, KH, KW]
  return conv2d(xq, wq, bias, options);                                                  // [N, OC, OH, OW]
}

std::shared_ptr<Conv2d> FakeQuantConv2d::to_float() const {
  auto c = std::make_shared<Conv2d>(in_channels, out_channels, kernel_size, options, bias.defined());
  NoGradGuard no_grad;
  copy_values(dequantize(quantize(weight.detach(), weight_qparams()), weight_qparams()), c->weight);
  if (bias.defined()) copy_values(bias, c->bias);
  return c;
}

}  // namespace nibble::nn

namespace nibble {

std::vector<std::string> prepare_qat(nn::Module& model, const QatConfig& config) {
  validate_qat_config(config, "prepare_qat");
  // Names first: replace_module invalidates the pointers named_modules() hands out.
  std::vector<std::string> names;
  for (const auto& [name, m] : model.named_modules()) {
    if (name.empty()) continue;
    if (dynamic_cast<nn::Linear*>(m) != nullptr || dynamic_cast<nn::Conv2d*>(m) != nullptr) names.push_back(name);
  }
  NIBBLE_CHECK(!names.empty(), "prepare_qat", "model " + model.name() + " has no Linear or Conv2d layer",
               "prepare_qat replaces Linear and Conv2d layers by their fake-quantized versions");
  for (const std::string& name : names) {
    nn::Module& m = model.get_submodule(name);
    if (auto* linear = dynamic_cast<nn::Linear*>(&m))
      model.replace_module(name, nn::FakeQuantLinear::from_linear(*linear, config));
    else
      model.replace_module(name, nn::FakeQuantConv2d::from_conv(dynamic_cast<nn::Conv2d&>(m), config));
  }
  return names;
}

namespace {

template <typename T>
T& qat_layer(const nn::Module& model, const std::string& name) {
  nn::Module& m = model.get_submodule(name);
  T* layer = dynamic_cast<T*>(&m);
  NIBBLE_CHECK(layer != nullptr, "convert",
               "layer '" + name + "' of " + model.name() + " is a " + m.name() + ", not a " +
                   nn::short_type_name(typeid(T)),
               "call prepare_qat(model, config) and train the model before convert");
  return *layer;
}

// The observers' float ranges: from_int8 derives the same uint8 parameters from them as
// calculate_qparams did for the fake quantization (at 8 bits: the same scale and zero point, except
// when −min/scale is within rounding of a half: choose_u8_params divides by the float scale,
// calculate_qparams by the double one, and the zero points may then differ by one).
// Without a next layer the output is float logits and has no range (0, 0: a placeholder).
nn::ActivationRanges ranges(const Observer& input, const Observer* output) {
  nn::ActivationRanges r;
  r.input_lo = input.min_val()[0];
  r.input_hi = input.max_val()[0];
  if (output != nullptr) {
    r.output_lo = output->min_val()[0];
    r.output_hi = output->max_val()[0];
  }
  return r;
}

}  // namespace

nn::QuantizedFashionMlp convert(const nn::FashionMlp& model, Int8Kernel kernel) {
  const auto& fc1 = qat_layer<nn::FakeQuantLinear>(model, "fc1");
  const auto& fc2 = qat_layer<nn::FakeQuantLinear>(model, "fc2");
  const auto& fc3 = qat_layer<nn::FakeQuantLinear>(model, "fc3");
  for (const auto* l : {&fc1, &fc2, &fc3}) l->input_qparams();  // throws if an observer saw no data
  const Observer &a1 = fc1.input_observer(), &a2 = fc2.input_observer(), &a3 = fc3.input_observer();
  nn::QuantizedFashionMlp q;
  q.input_mean = model.input_mean.item();
  q.input_std = model.input_std.item();
  // Each layer's output range is the next one's input range (after the fused ReLU: the same values).
  q.fc1 = nn::QuantizedLinear::from_int8(*fc1.to_float(), fc1.int8_weights(), ranges(a1, &a2), {true, kernel});
  q.fc2 = nn::QuantizedLinear::from_int8(*fc2.to_float(), fc2.int8_weights(), ranges(a2, &a3), {true, kernel});
  q.fc3 = nn::QuantizedLinear::from_int8(*fc3.to_float(), fc3.int8_weights(), ranges(a3, nullptr), {false, kernel});
  return q;
}

nn::QuantizedFashionCnn convert(const nn::FashionCnn& model, Int8Kernel kernel) {
  const auto& conv1 = qat_layer<nn::FakeQuantConv2d>(model, "conv1");
  const auto& conv2 = qat_layer<nn::FakeQuantConv2d>(model, "conv2");
  const auto& fc = qat_layer<nn::FakeQuantLinear>(model, "fc");
  conv1.input_qparams();  // each throws if its observer saw no data
  conv2.input_qparams();
  fc.input_qparams();
  const Observer &a1 = conv1.input_observer(), &a2 = conv2.input_observer(), &a3 = fc.input_observer();
  nn::QuantizedFashionCnn q;
  q.input_mean = model.input_mean.item();
  q.input_std = model.input_std.item();
  // conv1's uint8 output goes through max pooling (exact on bytes) into conv2: requantizing it to
  // conv2's observed input range makes the pooled bytes exactly conv2's input codes.
  q.conv1 = nn::QuantizedConv2d::from_int8(*conv1.to_float(), conv1.int8_weights(), ranges(a1, &a2), {true, kernel});
  q.conv2 = nn::QuantizedConv2d::from_int8(*conv2.to_float(), conv2.int8_weights(), ranges(a2, &a3), {true, kernel});
  q.fc = nn::QuantizedLinear::from_int8(*fc.to_float(), fc.int8_weights(), ranges(a3, nullptr), {false, kernel});
  return q;
}

}  // namespace nibble
