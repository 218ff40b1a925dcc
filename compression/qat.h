// Quantization-aware training (module 04, library code): fake-quantized Linear / Conv2d layers put in
// by model surgery, and their conversion to the int8 layers of nn/quantized.h. Names follow
// torch.ao.quantization (prepare_qat, convert).
//
//   nn::FashionMlp model;  nn::load(model, "fashion_mlp.ckpt");
//   prepare_qat(model, {/*bits_w=*/4, /*bits_a=*/8});   // fc1..fc3 become nn::FakeQuantLinear
//   optim::Adam adam(model.parameters(), {1e-4f});        // build the optimizer AFTER the surgery
//   ... train as usual (model.train(): the activation observers follow the data) ...
//   model.eval();
//   nn::QuantizedFashionMlp q = convert(model);           // int8 kernels, no re-quantization
//
// A fake-quantized layer computes, in float, what the integer layer will compute:
//   weight  per output channel, symmetric on the restricted range [−(2^(b−1)−1), 2^(b−1)−1]
//           (b = bits_w; [−127, 127] at 8 bits, the int8 kernels' range; [−7, 7] at 4 bits), the
//           scale from the weight's own current per-channel max|w| at every forward;
//   input   per tensor, affine, [0, 2^b − 1] (b = bits_a), the range from a
//           MovingAverageMinMaxObserver that watches the layer's input in train mode only (eval
//           mode uses the range as it is: calibration ends when training does);
//   output  y = fake_quantize(x) · fake_quantize(W)ᵀ + b (float bias, as the kernels add it).
// Both fake_quantize calls are the module-04 extension op, so gradients flow by the
// straight-through estimator: the float weights are trained, the forward sees them on the grid.
//
// convert() takes each layer's integer weight codes as they are (quantize() of the final weight
// with the scales the forward used — nn::Int8Weights) and the observers' activation ranges
// (nn::ActivationRanges), so the int8 model runs the weights it was trained with. The int8 kernels
// quantize activations to 8 bits: a model trained with bits_a < 8 runs with finer activations than
// it trained with (its weights stay exactly on their bits_w grid). Weights of any bits_w in 3..8
// fit in int8.
//
// clone() keeps the observers' state (make_like copies it); checkpoints (state_dict) hold the
// weights only, under the float layer's names ("fc1.weight"), so a float checkpoint loads into a
// prepared model and vice versa — the observed ranges are not saved.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compression/quantization.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/models.h"
#include "nn/module.h"
#include "nn/quantized.h"
#include "nn/quantized_models.h"

namespace nibble {

struct QatConfig {
  int bits_w = 8;                     // weight codes, 3..8 bits (symmetric, restricted range)
  int bits_a = 8;                     // activation codes, 2..8 bits (affine, unsigned)
  double averaging_constant = 0.01;   // of the input observers, in (0, 1]
};

// Throws nibble::Error naming `function` and the bad field unless the config is usable.
void validate_qat_config(const QatConfig& config, const std::string& function);

// Per-channel (axis 0) symmetric parameters of weight w on the restricted bits-wide range, from its
// current per-channel max|w|: scale[c] = max|w[c]| / (2^(bits−1) − 1) (kMinScale for a zero row).
QParams weight_qparams(const Tensor& w, int bits);

}  // namespace nibble

namespace nibble::nn {

// Linear with fake-quantized weight and input (see the top of this file). Parameters "weight"
// [out, in] and "bias" [out], as Linear's.
class FakeQuantLinear : public Module {
 public:
  FakeQuantLinear(int64_t in_features, int64_t out_features, bool bias = true, const QatConfig& config = {});
  // A copy of `layer`'s weight and bias (new storage) inside a fake-quantized layer.
  static std::shared_ptr<FakeQuantLinear> from_linear(const Linear& layer, const QatConfig& config = {});

  Tensor forward(const Tensor& x) override;  // x [..., in] -> [..., out]
  std::string name() const override { return "FakeQuantLinear"; }

  QParams weight_qparams() const;  // of the current weight
  QParams input_qparams() const;   // of the observed input range; throws if it saw no data
  const MovingAverageMinMaxObserver& input_observer() const { return observer_; }
  // The integer weight codes the forward uses now, with their scales, for the int8 kernels.
  Int8Weights int8_weights() const;
  // The plain Linear with the fake-quantized weight (dequantized codes) and the float bias.
  std::shared_ptr<Linear> to_float() const;

  int64_t in_features, out_features;
  QatConfig config;
  Tensor weight;  // [out, in], float (trained)
  Tensor bias;    // [out], undefined when bias = false

 protected:
  std::shared_ptr<Module> make_like() const override;

 private:
  MovingAverageMinMaxObserver observer_;
};

// Conv2d with fake-quantized weight (per output channel) and input (per tensor). Parameters
// "weight" [OC, C/groups, KH, KW] and "bias" [OC], as Conv2d's.
class FakeQuantConv2d : public Module {
 public:
  FakeQuantConv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Conv2dOptions options = {},
                  bool bias = true, const QatConfig& config = {});
  static std::shared_ptr<FakeQuantConv2d> from_conv(const Conv2d& layer, const QatConfig& config = {});

  Tensor forward(const Tensor& x) override;  // [N, C, H, W] -> [N, OC, OH, OW]
  std::string name() const override { return "FakeQuantConv2d"; }

  QParams weight_qparams() const;
  QParams input_qparams() const;
  const MovingAverageMinMaxObserver& input_observer() const { return observer_; }
  Int8Weights int8_weights() const;  // values [OC, C*KH*KW] in the weight's [C, KH, KW] order
  std::shared_ptr<Conv2d> to_float() const;

  int64_t in_channels, out_channels;
  Size2 kernel_size;
  Conv2dOptions options;
  QatConfig config;
  Tensor weight;
  Tensor bias;

 protected:
  std::shared_ptr<Module> make_like() const override;

 private:
  MovingAverageMinMaxObserver observer_;
};

}  // namespace nibble::nn

namespace nibble {

// Model surgery (nn::Module::replace_module): every Linear becomes a FakeQuantLinear and every
// Conv2d a FakeQuantConv2d with the same weights, anywhere in the tree (the root itself excepted).
// Returns the dotted names replaced, in named_modules() order. Build the optimizer after this call.
// Throws (model unchanged) for a bad config or a model with no Linear or Conv2d.
std::vector<std::string> prepare_qat(nn::Module& model, const QatConfig& config = {});

// The QAT-trained models on the int8 kernels: each FakeQuant layer's int8_weights() and its
// observed input range (and, as output range, the next layer's observed input range, which is what
// the uint8 pipeline of the CNN requantizes to), ReLU fused as in QuantizedFashion*::from_float.
// Throws naming the layer when a layer is not fake-quantized (prepare_qat first) or its observer
// saw no data (train a few steps first).
nn::QuantizedFashionMlp convert(const nn::FashionMlp& model, Int8Kernel kernel = Int8Kernel::kAuto);
nn::QuantizedFashionCnn convert(const nn::FashionCnn& model, Int8Kernel kernel = Int8Kernel::kAuto);

}  // namespace nibble
