// nibble quant-report: module 04's measurements on a trained Fashion MLP and, optionally, CNN
// (nibble train --model mlp|cnn).
//   - fp32 test accuracy, and the int8 kernels after post-training quantization
//     (nn::QuantizedFashion*::from_float, min-max calibration) with their speed beside fp32;
//   - (MLP and CNN) post-training quantization simulated with fake_quantize (compression/quantization.h):
//     weights per-channel symmetric, each layer's input per tensor with each observer, at 8 and 4
//     bits; calibration on the first 512 training images in batches of 64;
//   - quantization-aware training with the library's modules (compression/qat.h): prepare_qat,
//     `--qat-steps` Adam steps (batch 128, lr 1e-4) from the fp32 weights, then convert() to the int8
//     kernels, at W8A8, W4A8 and W4A4; the same steps without quantization as the fair baseline.
//   - GPTQ vs round-to-nearest at 4 and 3 bits (compression/gptq.h) on every layer: the MLP's
//     Linears, the CNN's convs as their im2col matrix product (checked against conv2d) and fc;
//   - with --transformer-steps N, a small character transformer (nn/transformer.h) trained on
//     Debian's fortunes, then GPTQ vs RTN on each of its Linears: held-out bits/char and layer error.
// Every number it prints is measured when it runs; nothing is cached.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "compression/gptq.h"
#include "compression/int4.h"
#include "compression/qat.h"
#include "compression/quantization.h"
#include "core/autograd.h"
#include "core/io/fashion_mnist.h"
#include "core/io/text.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/embedding.h"
#include "nn/layer_norm.h"
#include "nn/models.h"
#include "nn/quantized_models.h"
#include "nn/transformer.h"
#include "optim/adam.h"

namespace nibble::cli {

namespace {

constexpr const char* kHelp =
    "usage: nibble quant-report [--checkpoint FILE] [--cnn-checkpoint FILE] [--qat-steps N] [--cnn-qat-steps N]\n"
    "                           [--test-limit N] [--transformer-steps N]\n"
    "  For a trained Fashion MLP (`nibble train --model mlp --out FILE`): test accuracy at fp32, on the\n"
    "  int8 kernels, and with fake quantization (weights per channel, layer inputs per tensor) at 8 and\n"
    "  4 bits for each observer (min-max, moving average, percentile 99.99, entropy/KL); then QAT with\n"
    "  prepare_qat/convert (N Adam steps of batch 128 from the fp32 weights, default 300, lr 1e-4; 0\n"
    "  skips it) at W8A8, W4A8, W4A4, each also converted to the int8 kernels. With --cnn-checkpoint the\n"
    "  same for the CNN (fp32, int8 kernels, PTQ per observer, GPTQ vs RTN on conv1/conv2/fc as im2col\n"
    "  matrices, QAT with --cnn-qat-steps, default 100). Model bytes and int8 vs fp32 latency.\n"
    "  GPTQ vs round-to-nearest at 4 and 3 bits and weight-only INT4 (MLP).\n"
    "  --test-limit N evaluates on the first N test images only (quick checks).\n"
    "  --transformer-steps N trains the course's small character transformer (nn/transformer.h) on\n"
    "  Debian's fortunes for N Adam steps, then compares GPTQ with round-to-nearest at 4 and 3 bits on\n"
    "  every Linear: held-out bits/char and each layer's output error (no checkpoint needed).\n";

using Observers = std::vector<std::unique_ptr<Observer>>;
using Forward = std::function<Tensor(const Tensor&)>;

std::unique_ptr<Observer> make_observer(const std::string& kind, int bits) {
  if (kind == "min-max") return std::make_unique<MinMaxObserver>(QScheme::kPerTensorAffine, bits, false);
  if (kind == "moving-average") return std::make_unique<MovingAverageMinMaxObserver>(0.1, QScheme::kPerTensorAffine, bits, false);
  if (kind == "percentile") return std::make_unique<PercentileObserver>(99.99, QScheme::kPerTensorAffine, bits, false);
  return std::make_unique<EntropyObserver>(bits, true);
}

std::vector<nn::Linear*> layers_of(nn::FashionMlp& m) { return {&m.fc1(), &m.fc2(), &m.fc3()}; }

// A model seen by the PTQ simulation: its float weights in order (Linear [out, in] or Conv2d
// [OC, C, KH, KW]; output channel = dim 0) and its forward with fake-quantized weights `w` (when
// given), fake-quantized layer inputs `act` (one QParams per layer, when given), or each layer's
// float input sent to its observer (`observe`).
using PtqForward = std::function<Tensor(const Tensor& images, const std::vector<Tensor>* w,
                                        const std::vector<QParams>* act, Observers* observe)>;
struct PtqNet {
  std::vector<Tensor> weights;
  PtqForward forward;
  std::function<int64_t(int bits)> bytes;
};

// Per-channel symmetric weight parameters from the weights as they are now.
std::vector<QParams> weight_qparams_of(const std::vector<Tensor>& weights, int bits) {
  std::vector<QParams> out;
  for (const Tensor& w : weights) {
    MinMaxObserver obs(QScheme::kPerChannelSymmetric, bits, true, 0);
    obs.forward(w.detach());
    out.push_back(obs.calculate_qparams());
  }
  return out;
}

// PTQ simulation: the MLP's forward with fake-quantized weights (when w) and layer inputs (when
// act: one QParams per layer; w: the already fake-quantized weights). With `observe`, each layer's float input goes to its observer
// instead (calibration sees float activations, as torch's).
Tensor ptq_forward(nn::FashionMlp& m, const Tensor& images, const std::vector<Tensor>* w,
                   const std::vector<QParams>* act, Observers* observe = nullptr) {
  Tensor x = m.standardize(images.reshape({-1, 784}));
  const std::vector<nn::Linear*> L = layers_of(m);
  for (size_t i = 0; i < L.size(); ++i) {
    if (observe) (*observe)[i]->forward(x.detach());
    const Tensor xi = act ? fake_quantize(x, (*act)[i]) : x;
    const Tensor W = w ? (*w)[i] : L[i]->weight;
    const Tensor y = add(matmul(xi, W.transpose(0, 1)), L[i]->bias);
    x = i + 1 < L.size() ? relu(y) : y;
  }
  return x;
}

double accuracy(const Forward& forward, const data::FashionMnist& test) {
  NoGradGuard no_grad;
  int64_t right = 0;
  const int64_t n = test.images.size(0);
  for (int64_t b = 0; b < n; b += 1000) {
    const int64_t e = std::min(n, b + 1000);
    const std::vector<int64_t> pred = argmax(forward(test.images.slice(0, b, e)), 1);
    for (int64_t i = b; i < e; ++i) right += pred[static_cast<size_t>(i - b)] == test.labels[static_cast<size_t>(i)];
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

Forward module_forward(nn::Module& m) {
  m.eval();
  return [&m](const Tensor& x) { return m.forward(x); };
}

// Each layer input's quantization parameters from `kind` observers on the calibration images.
std::vector<QParams> calibrate(const PtqNet& net, const Tensor& calib, const std::string& kind, int bits) {
  Observers obs;
  for (size_t i = 0; i < net.weights.size(); ++i) obs.push_back(make_observer(kind, bits));
  NoGradGuard no_grad;
  for (int64_t b = 0; b < calib.size(0); b += 64) net.forward(calib.slice(0, b, b + 64), nullptr, nullptr, &obs);
  std::vector<QParams> qp;
  for (const auto& o : obs) qp.push_back(o->calculate_qparams());  // once: the entropy search is slow
  return qp;
}

template <class F>
double median_ms(F&& f, int repeats) {
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::shared_ptr<nn::Module> load_model(const std::string& kind, const std::string& path) {
  std::shared_ptr<nn::Module> m;
  if (kind == "mlp") m = std::make_shared<nn::FashionMlp>();
  else m = std::make_shared<nn::FashionCnn>();
  nn::load(*m, path);
  return m;
}

// The int8 kernels' forward of a QAT-prepared (and trained) model: convert().
Forward converted(nn::Module& m) {
  if (auto* mlp = dynamic_cast<nn::FashionMlp*>(&m)) {
    auto q = std::make_shared<nn::QuantizedFashionMlp>(convert(*mlp));
    return [q](const Tensor& x) { return q->forward(x); };
  }
  auto q = std::make_shared<nn::QuantizedFashionCnn>(convert(dynamic_cast<nn::FashionCnn&>(m)));
  return [q](const Tensor& x) { return q->forward(x); };
}

// Bytes of the model with `bits`-wide weight codes (0: fp32): codes, one float scale per output
// channel, float biases.
int64_t model_bytes(nn::Module& m, int bits) {
  int64_t weights = 0, channels = 0, biases = 0;
  for (const auto& [name, t] : m.named_parameters()) {
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      biases += t.numel();
    } else {
      weights += t.numel();
      channels += t.size(0);
    }
  }
  if (bits == 0) return 4 * (weights + biases);
  return (weights * bits + 7) / 8 + 4 * channels + 4 * biases;
}

void row(const std::string& name, double acc, int64_t bytes) {
  std::printf("%-58s %9.4f %12lld\n", name.c_str(), acc, static_cast<long long>(bytes));
}

// `steps` Adam steps (batch 128, lr 1e-4) over the training set in order, in train mode.
double train_steps(nn::Module& m, const data::FashionMnist& train, int64_t steps) {
  optim::Adam adam(m.parameters(), {1e-4f});  // after prepare_qat: the fake-quantized layers' tensors
  m.train();
  const int64_t n = train.images.size(0);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t b = (step * 128) % (n - n % 128);
    const std::vector<int64_t> y(train.labels.begin() + b, train.labels.begin() + b + 128);
    adam.zero_grad();
    cross_entropy(m.forward(train.images.slice(0, b, b + 128)), y).backward();
    adam.step();
  }
  m.eval();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// fp32 fine-tuning baseline and QAT at W8A8, W4A8, W4A4 (prepare_qat -> train -> convert).
void qat_rows(const std::string& kind, const std::string& path, const data::FashionMnist& train,
              const data::FashionMnist& test, int64_t steps) {
  if (steps == 0) return;
  const std::string budget = std::to_string(steps) + " steps";
  {
    auto m = load_model(kind, path);
    const double secs = train_steps(*m, train, steps);
    row("fp32 fine-tuned, " + budget + " (" + std::to_string(static_cast<int>(secs)) + " s)",
        accuracy(module_forward(*m), test), model_bytes(*m, 0));
  }
  const int configs[][2] = {{8, 8}, {4, 8}, {4, 4}};
  for (const auto& c : configs) {
    auto m = load_model(kind, path);
    const int64_t bytes = model_bytes(*m, c[0]);
    prepare_qat(*m, {c[0], c[1], 0.01});
    const double secs = train_steps(*m, train, steps);
    const std::string name = "QAT W" + std::to_string(c[0]) + "A" + std::to_string(c[1]);
    row(name + ", " + budget + " (" + std::to_string(static_cast<int>(secs)) + " s), fake-quantized",
        accuracy(module_forward(*m), test), bytes);
    row(name + " convert() -> int8 kernels" + (c[1] < 8 ? " (8-bit activations)" : ""),
        accuracy(converted(*m), test), bytes);
  }
}

// PTQ rows, one per observer, at 8 and 4 bits (weights per channel, layer inputs per tensor).
void ptq_observer_rows(const PtqNet& net, const Tensor& calib, const data::FashionMnist& test) {
  for (const int bits : {8, 4}) {
    const std::vector<QParams> wqp = weight_qparams_of(net.weights, bits);
    std::vector<Tensor> wq;  // fake-quantized once, not per batch
    for (size_t i = 0; i < wqp.size(); ++i) wq.push_back(fake_quantize(net.weights[i].detach(), wqp[i]));
    const int64_t bytes = net.bytes(bits);
    row("W" + std::to_string(bits) + " weights only (per channel)",
        accuracy([&](const Tensor& x) { return net.forward(x, &wq, nullptr, nullptr); }, test), bytes);
    for (const std::string kind : {"min-max", "moving-average", "percentile", "entropy"}) {
      const std::vector<QParams> act = calibrate(net, calib, kind, bits);
      row("PTQ W" + std::to_string(bits) + "A" + std::to_string(bits) + " " + kind,
          accuracy([&](const Tensor& x) { return net.forward(x, &wq, &act, nullptr); }, test), bytes);
      if (kind == "entropy") {
        std::printf("  entropy thresholds (symmetric, max of the range) per layer input:");
        for (const QParams& q : act) std::printf(" %.3f", q.scale[0] * static_cast<float>(q.quant_max - q.zero_point[0]));
        std::printf("\n");
      }
    }
  }
}

PtqNet ptq_net(nn::FashionMlp& m) {
  PtqNet net;
  for (nn::Linear* l : layers_of(m)) net.weights.push_back(l->weight);
  net.forward = [&m](const Tensor& x, const std::vector<Tensor>* w, const std::vector<QParams>* act,
                     Observers* observe) { return ptq_forward(m, x, w, act, observe); };
  net.bytes = [&m](int bits) { return model_bytes(m, bits); };
  return net;
}

// The CNN's forward for the PTQ simulation: conv1, conv2 (each + relu + 2x2 max pool), fc.
Tensor cnn_ptq_forward(nn::FashionCnn& m, const Tensor& images, const std::vector<Tensor>* w,
                       const std::vector<QParams>* act, Observers* observe) {
  Tensor x = m.standardize(images);
  const nn::Conv2d* convs[] = {&m.conv1(), &m.conv2()};
  for (size_t i = 0; i < 3; ++i) {
    if (i == 2) x = x.flatten(1);
    if (observe) (*observe)[i]->forward(x.detach());
    const Tensor xi = act ? fake_quantize(x, (*act)[i]) : x;
    if (i < 2) {
      const Tensor W = w ? (*w)[i] : convs[i]->weight;
      x = max_pool2d(relu(conv2d(xi, W, convs[i]->bias, convs[i]->options)), 2);
    } else {
      const Tensor W = w ? (*w)[i] : m.fc().weight;
      x = add(matmul(xi, W.transpose(0, 1)), m.fc().bias);
    }
  }
  return x;
}

PtqNet ptq_net(nn::FashionCnn& m) {
  PtqNet net;
  net.weights = {m.conv1().weight, m.conv2().weight, m.fc().weight};
  net.forward = [&m](const Tensor& x, const std::vector<Tensor>* w, const std::vector<QParams>* act,
                     Observers* observe) { return cnn_ptq_forward(m, x, w, act, observe); };
  net.bytes = [&m](int bits) { return model_bytes(m, bits); };
  return net;
}

// The largest even divisor of a row of n weights that is <= 128 (784 -> 112, 256 -> 128, 128 -> 128).
int64_t group_for(int64_t n) {
  int64_t g = 128;
  while (g > 2 && (n % g != 0 || g % 2 != 0)) --g;
  return g;
}

// The rows a convolution's weight [OC, C*KH*KW] multiplies: x [N, C, H, W] -> [N*OH*OW, C*KH*KW],
// one row per output pixel, columns in the weight's (c, kh, kw) order, zeros in the padding
// (im2col). GPTQ on a conv is GPTQ on this matrix product.
Tensor im2col(const Tensor& input, const nn::Conv2d& conv) {
  const Tensor x = input.contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t KH = conv.kernel_size.h, KW = conv.kernel_size.w;
  const int64_t sh = conv.options.stride.h, sw = conv.options.stride.w;
  const int64_t ph = conv.options.padding.h, pw = conv.options.padding.w;
  const int64_t OH = (H + 2 * ph - KH) / sh + 1, OW = (W + 2 * pw - KW) / sw + 1, K = C * KH * KW;
  std::vector<float> rows(static_cast<size_t>(N * OH * OW * K), 0.0f);
  const float* px = x.data();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float* r = rows.data() + ((n * OH + oh) * OW + ow) * K;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t ih = oh * sh - ph + kh, iw = ow * sw - pw + kw;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W) r[(c * KH + kh) * KW + kw] = px[((n * C + c) * H + ih) * W + iw];
            }
      }
  return Tensor::from_vector(rows, {N * OH * OW, K});
}

// The weight of a Linear or Conv2d layer (GPTQ sees it as [out, rest]).
Tensor& weight_of(nn::Module& layer) {
  if (auto* l = dynamic_cast<nn::Linear*>(&layer)) return l->weight;
  return dynamic_cast<nn::Conv2d&>(layer).weight;
}

// One layer for GPTQ: its name in the model and its calibration inputs X [rows, in] (for a conv,
// the im2col rows of its input).
struct GptqLayer {
  std::string name;
  Tensor X;
};

// Weight-only GPTQ vs round-to-nearest at 4 and 3 bits, one grid per output row (and, with
// `grouped`, per group of the largest even divisor of the row <= 128): each layer is quantized
// with its float inputs X (the float model's, layer by layer), the others already replaced.
void gptq_rows(nn::Module& fp, const std::vector<GptqLayer>& layers, bool grouped_too,
               const data::FashionMnist& test) {
  std::vector<bool> groupings = {false};
  if (grouped_too) groupings.push_back(true);
  for (const bool grouped : groupings)
    for (const int bits : {4, 3})
      for (const bool use_gptq : {false, true}) {
        auto m = fp.clone();
        std::string errors, groups;
        int64_t bytes = 0;  // codes, a float scale and a one-byte zero point per row (per group), float biases
        const auto t0 = std::chrono::steady_clock::now();
        for (size_t i = 0; i < layers.size(); ++i) {
          Tensor& weight = weight_of(m->get_submodule(layers[i].name));
          const int64_t out = weight.size(0), in = weight.numel() / out;
          GptqOptions o;
          o.bits = bits;
          o.group_size = grouped ? group_for(in) : 0;
          groups += (i ? "/" : "") + std::to_string(o.group_size);
          bytes += (out * in * bits + 7) / 8 + 5 * out * (grouped ? in / o.group_size : 1) + 4 * out;
          const Tensor W = weight.detach().reshape({out, in}).contiguous().clone();
          const QuantizedWeight q = use_gptq ? gptq_quantize(W, layers[i].X, o) : rtn_quantize(W, o);
          const double rel = layer_output_error(layers[i].X, W, q.weight) / layer_output_error(layers[i].X, W, zeros_like(W));
          char buf[16];
          std::snprintf(buf, sizeof buf, "%s%.3f", i ? "/" : "", rel);
          errors += buf;
          const Tensor w = q.weight.contiguous();
          std::copy(w.data(), w.data() + w.numel(), weight.data());
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        char name[128];
        std::snprintf(name, sizeof name, "%s W%d, %s (out err %s, %.1f s)", use_gptq ? "GPTQ" : "RTN ", bits,
                      grouped ? ("groups " + groups).c_str() : "per row", errors.c_str(), secs);
        row(name, accuracy(module_forward(*m), test), bytes);
      }
}

void gptq_rows(nn::FashionMlp& fp, const Tensor& calib, const data::FashionMnist& test) {
  std::vector<GptqLayer> layers;
  {
    NoGradGuard no_grad;
    fp.eval();
    layers.push_back({"fc1", fp.standardize(calib.reshape({-1, 784}))});  // [512, 784]
    layers.push_back({"fc2", relu(fp.fc1().forward(layers[0].X))});      // [512, 256]
    layers.push_back({"fc3", relu(fp.fc2().forward(layers[1].X))});      // [512, 128]
  }
  gptq_rows(fp, layers, true, test);
}

// The CNN: conv1 and conv2 on the im2col rows of the first 128 calibration images
// (128*784 x 25 and 128*196 x 200), fc on all 512 ([512, 784]). Per row only (conv1's row is 25).
void gptq_rows(nn::FashionCnn& fp, const Tensor& calib, const data::FashionMnist& test) {
  std::vector<GptqLayer> layers;
  {
    NoGradGuard no_grad;
    fp.eval();
    const Tensor x0 = fp.standardize(calib);                                      // [512,1,28,28]
    const Tensor x1 = max_pool2d(relu(fp.conv1().forward(x0)), 2);                // [512,8,14,14]
    const Tensor x2 = max_pool2d(relu(fp.conv2().forward(x1)), 2).flatten(1);     // [512,784]
    layers.push_back({"conv1", im2col(x0.slice(0, 0, 128), fp.conv1())});
    layers.push_back({"conv2", im2col(x1.slice(0, 0, 128), fp.conv2())});
    layers.push_back({"fc", x2.contiguous()});
    // im2col checked against conv2d: the rows times the weight must be the conv's output pixels.
    const nn::Conv2d* convs[] = {&fp.conv1(), &fp.conv2()};
    const Tensor inputs[] = {x0.slice(0, 0, 128), x1.slice(0, 0, 128)};
    for (int i = 0; i < 2; ++i) {
      const Tensor W = convs[i]->weight.reshape({convs[i]->out_channels, -1});
      const Tensor ref = conv2d(inputs[i], convs[i]->weight, Tensor(), convs[i]->options)
                             .permute({0, 2, 3, 1}).reshape({-1, convs[i]->out_channels}).contiguous();
      const Tensor got = matmul(layers[static_cast<size_t>(i)].X, W.transpose(0, 1)).contiguous();
      double diff = 0.0;
      for (int64_t k = 0; k < ref.numel(); ++k) diff = std::max(diff, static_cast<double>(std::fabs(ref.data()[k] - got.data()[k])));
      std::printf("  im2col check, %s: max |conv2d - im2col rows x W^T| = %.2e over %lld values\n",
                  layers[static_cast<size_t>(i)].name.c_str(), diff, static_cast<long long>(ref.numel()));
    }
  }
  gptq_rows(fp, layers, false, test);
}

// Weight-only INT4 with group-wise scales (compression/int4.h), run by int4_linear (dequantized on
// the fly): accuracy, bytes, and latency beside fp32 at batch 1 and 256. Group: the largest even
// divisor of the row <= 128 (fc1: 112 of 784; fc2, fc3: 128).
void int4_rows(nn::FashionMlp& fp, const data::FashionMnist& test) {
  std::vector<Int4Weights> q;
  std::vector<Tensor> bias;
  int64_t bytes = 0;
  std::string groups;
  for (nn::Linear* l : layers_of(fp)) {
    const int64_t g = group_for(l->in_features);
    q.push_back(pack_int4(l->weight, g));
    bias.push_back(l->bias.detach());
    bytes += q.back().bytes() + 4 * l->bias.numel();
    groups += (groups.empty() ? "" : "/") + std::to_string(g);
  }
  const Forward int4 = [&](const Tensor& images) {
    Tensor x = fp.standardize(images.reshape({-1, 784}));
    for (size_t i = 0; i < q.size(); ++i) {
      x = int4_linear(x, q[i], bias[i]);
      if (i + 1 < q.size()) x = relu(x);
    }
    return x;
  };
  row("W4 weight-only, groups " + groups + ", int4_linear", accuracy(int4, test), bytes);
  NoGradGuard no_grad;
  fp.eval();
  for (const int64_t batch : {1, 256}) {
    const Tensor x = test.images.slice(0, 0, batch).contiguous();
    const int reps = batch == 1 ? 500 : 50;
    const double ms_fp = median_ms([&] { fp.forward(x); }, reps);
    const double ms_4 = median_ms([&] { int4(x); }, reps);
    std::printf("  int4_linear latency, batch %lld, median of %d: fp32 %.3f ms, int4 %.3f ms (%.2fx)\n",
                static_cast<long long>(batch), reps, ms_fp, ms_4, ms_fp / ms_4);
  }
}

void latency(nn::Module& fp, const Forward& int8, const data::FashionMnist& test) {
  const Tensor batch = test.images.slice(0, 0, 256).contiguous();
  NoGradGuard no_grad;
  fp.eval();
  const double ms_fp = median_ms([&] { fp.forward(batch); }, 50);
  const double ms_q8 = median_ms([&] { int8(batch); }, 50);
  std::printf("latency, batch 256, median of 50: fp32 %.3f ms, int8 kernels %.3f ms (%.2fx)\n", ms_fp, ms_q8,
              ms_fp / ms_q8);
}

// ---- GPTQ vs RTN on the course's small transformer (nn/transformer.h), --transformer-steps N -------

// A character-level transformer on Debian's fortunes, as milestones/02_2023_attention_collapse:
// token + position embeddings, `layers` pre-norm causal TransformerBlocks, a final LayerNorm and a
// Linear head to the byte vocabulary. A Module so that its Linears have dotted names
// ("b0.attn.q_proj") for surgery and clone().
class CharModel : public nn::Module {
 public:
  CharModel(int64_t vocab, int64_t context, int64_t dim, int64_t heads, int64_t layers)
      : vocab(vocab), context(context), dim(dim), heads(heads), layers(layers) {
    register_module("tokens", std::make_shared<nn::Embedding>(vocab, dim));
    register_module("positions", std::make_shared<nn::Embedding>(context, dim));
    for (int64_t l = 0; l < layers; ++l)
      register_module("b" + std::to_string(l), std::make_shared<nn::TransformerBlock>(dim, heads, /*causal=*/true));
    register_module("norm", std::make_shared<nn::LayerNorm>(Shape{dim}));
    register_module("head", std::make_shared<nn::Linear>(dim, vocab));
  }
  std::string name() const override { return "CharModel"; }
  using Module::forward;  // forward(Tensor) throws: the input is ids
  // ids [batch, context] row-major -> logits [batch * context, vocab].
  Tensor logits(const std::vector<int64_t>& ids, int64_t batch) {
    std::vector<int64_t> pos(static_cast<size_t>(context));
    for (int64_t t = 0; t < context; ++t) pos[static_cast<size_t>(t)] = t;
    Tensor x = add(get_submodule_as<nn::Embedding>("tokens").forward(ids, {batch, context}),
                   get_submodule_as<nn::Embedding>("positions").forward(pos, {1, context}));  // [B,T,D]
    for (int64_t l = 0; l < layers; ++l) x = child("b" + std::to_string(l))(x);
    return child("head")(child("norm")(x)).reshape({batch * context, vocab});
  }
  // Every Linear of the model, in forward order.
  std::vector<std::string> linear_names() const {
    std::vector<std::string> names;
    for (int64_t l = 0; l < layers; ++l)
      for (const char* n : {"attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.out_proj", "fc1", "fc2"})
        names.push_back("b" + std::to_string(l) + "." + n);
    names.push_back("head");
    return names;
  }
  int64_t vocab, context, dim, heads, layers;

 protected:
  std::shared_ptr<Module> make_like() const override {
    return std::make_shared<CharModel>(vocab, context, dim, heads, layers);
  }
};

// Wraps a layer and keeps a copy of every input it sees, as rows [.., in] (model surgery for
// calibration; the wrapped layer is held, not registered, so it can be put back).
class InputRecorder : public nn::Module {
 public:
  explicit InputRecorder(std::shared_ptr<nn::Module> inner) : inner(std::move(inner)) {}
  Tensor forward(const Tensor& x) override {
    inputs.push_back(x.detach().reshape({-1, x.size(-1)}).contiguous().clone());
    return inner->forward(x);
  }
  std::string name() const override { return "InputRecorder"; }
  std::shared_ptr<nn::Module> inner;
  std::vector<Tensor> inputs;

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<InputRecorder>(inner); }
};

struct TextWindows {
  std::vector<int64_t> inputs, targets;
};

// `batch` windows of context + 1 bytes at random starts in [begin, end): inputs and next bytes.
TextWindows text_windows(const std::vector<int64_t>& ids, std::mt19937_64& rng, size_t begin, size_t end,
                         int64_t batch, int64_t context) {
  TextWindows w;
  for (int64_t b = 0; b < batch; ++b) {
    const size_t s = begin + rng() % (end - begin - static_cast<size_t>(context) - 1);
    for (int64_t t = 0; t < context; ++t) {
      w.inputs.push_back(ids[s + static_cast<size_t>(t)]);
      w.targets.push_back(ids[s + static_cast<size_t>(t) + 1]);
    }
  }
  return w;
}

// Mean cross-entropy in bits per char on `batches` fixed held-out batches (seed 99).
double heldout_bits(CharModel& m, const std::vector<int64_t>& ids, size_t split, int64_t batch, int batches) {
  NoGradGuard no_grad;
  m.eval();
  std::mt19937_64 rng(99);
  double bits = 0.0;
  for (int b = 0; b < batches; ++b) {
    const TextWindows w = text_windows(ids, rng, split, ids.size(), batch, m.context);
    bits += cross_entropy(m.logits(w.inputs, batch), w.targets).item() / std::log(2.0) / batches;
  }
  return bits;
}

void transformer_report(int64_t steps) {
  const int64_t context = 32, dim = 64, heads = 4, layers = 2, batch = 32;
  const int calib_batches = 8, eval_batches = 32;
  const std::string text = data::load_fortunes().substr(0, 1500000);
  const data::EncodedText enc = data::encode_chars(text);
  const size_t split = enc.ids.size() * 9 / 10;
  std::printf("\nCharacter transformer on Debian's fortunes (first %zu bytes, vocabulary %lld; 90%% train / 10%% "
              "held out):\n  context %lld, dim %lld, %lld heads, %lld causal pre-norm blocks; %lld Adam steps "
              "(lr 3e-3, batch %lld windows)\n",
              text.size(), static_cast<long long>(enc.vocab.size()), static_cast<long long>(context),
              static_cast<long long>(dim), static_cast<long long>(heads), static_cast<long long>(layers),
              static_cast<long long>(steps), static_cast<long long>(batch));
  manual_seed(1);
  CharModel model(enc.vocab.size(), context, dim, heads, layers);
  {
    optim::Adam adam(model.parameters(), optim::AdamOptions{3e-3f});
    std::mt19937_64 rng(7);
    model.train();
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t step = 1; step <= steps; ++step) {
      const TextWindows w = text_windows(enc.ids, rng, 0, split, batch, context);
      Tensor loss = cross_entropy(model.logits(w.inputs, batch), w.targets);
      if (step % 100 == 0 || step == steps)
        std::printf("  step %lld: training loss %.3f bits/char (%.0f s)\n", static_cast<long long>(step),
                    loss.item() / std::log(2.0),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      adam.zero_grad();
      loss.backward();
      adam.step();
    }
    model.eval();
  }
  // Calibration: each Linear's float inputs on `calib_batches` training batches (seed 5).
  const std::vector<std::string> names = model.linear_names();
  std::vector<Tensor> X;
  {
    std::vector<std::shared_ptr<InputRecorder>> rec;
    for (const std::string& n : names) {
      auto r = std::make_shared<InputRecorder>(nullptr);
      r->inner = model.replace_module(n, r);  // the Linear, put back after calibration
      rec.push_back(r);
    }
    NoGradGuard no_grad;
    std::mt19937_64 rng(5);
    for (int b = 0; b < calib_batches; ++b) model.logits(text_windows(enc.ids, rng, 0, split, batch, context).inputs, batch);
    for (size_t i = 0; i < names.size(); ++i) {
      model.replace_module(names[i], rec[i]->inner);
      X.push_back(cat(rec[i]->inputs, 0));
    }
  }
  std::printf("  calibration: %d training batches, X = %lld rows per layer; held out: %d batches of %lld windows\n",
              calib_batches, static_cast<long long>(X[0].size(0)), eval_batches, static_cast<long long>(batch));
  std::printf("\n%-44s %16s\n", "configuration (Linear weights only)", "held-out bits/char");
  std::printf("%-44s %16.4f\n", "fp32", heldout_bits(model, enc.ids, split, batch, eval_batches));
  std::vector<std::vector<double>> err;  // [config][layer]
  std::vector<std::string> configs;
  for (const int bits : {4, 3})
    for (const bool use_gptq : {false, true}) {
      auto m = model.clone_as<CharModel>();
      std::vector<double> e;
      for (size_t i = 0; i < names.size(); ++i) {
        nn::Linear& layer = m->get_submodule_as<nn::Linear>(names[i]);
        GptqOptions o;
        o.bits = bits;
        const Tensor W = layer.weight.detach().contiguous().clone();
        const QuantizedWeight q = use_gptq ? gptq_quantize(W, X[i], o) : rtn_quantize(W, o);
        e.push_back(layer_output_error(X[i], W, q.weight) / layer_output_error(X[i], W, zeros_like(W)));
        const Tensor w = q.weight.contiguous();
        std::copy(w.data(), w.data() + w.numel(), layer.weight.data());
      }
      configs.push_back(std::string(use_gptq ? "GPTQ" : "RTN") + " W" + std::to_string(bits));
      err.push_back(e);
      double mean = 0.0;
      for (double v : e) mean += v / static_cast<double>(e.size());
      char name[96];
      std::snprintf(name, sizeof name, "%s, per row (mean out err %.3f)", configs.back().c_str(), mean);
      std::printf("%-44s %16.4f\n", name, heldout_bits(*m, enc.ids, split, batch, eval_batches));
    }
  std::printf("\nlayer output error ||XW^T - XWq^T|| / ||XW^T|| on the calibration inputs:\n%-16s", "layer");
  for (const std::string& c : configs) std::printf(" %9s", c.c_str());
  std::printf("\n");
  for (size_t i = 0; i < names.size(); ++i) {
    std::printf("%-16s", names[i].c_str());
    for (const auto& e : err) std::printf(" %9.4f", e[i]);
    std::printf("\n");
  }
}

}  // namespace

int quant_report(const Args& args) {
  const ArgParser opt("nibble quant-report", args,
                      {"checkpoint", "cnn-checkpoint", "qat-steps", "cnn-qat-steps", "test-limit", "transformer-steps"});
  if (opt.help()) {
    std::printf("%s", kHelp);
    return 0;
  }
  const std::string path = opt.get("checkpoint", "");
  const std::string cnn_path = opt.get("cnn-checkpoint", "");
  const int64_t transformer_steps = opt.get_int("transformer-steps", 0, 0, 1000000);
  check(!path.empty() || !cnn_path.empty() || transformer_steps > 0, "nibble quant-report",
        "needs --checkpoint FILE, --cnn-checkpoint FILE or --transformer-steps N",
        "train one first: nibble train --model mlp --out fashion_mlp.ckpt");
  if (transformer_steps > 0) transformer_report(transformer_steps);
  if (path.empty() && cnn_path.empty()) return 0;
  const int64_t qat_steps = opt.get_int("qat-steps", 300, 0, 1000000);
  const int64_t cnn_qat_steps = opt.get_int("cnn-qat-steps", 100, 0, 1000000);
  const data::FashionMnist train = data::load_fashion_mnist("train");
  data::FashionMnist test = data::load_fashion_mnist("test");
  const int64_t test_limit = opt.get_int("test-limit", test.images.size(0), 1, test.images.size(0));
  if (test_limit < test.images.size(0)) {  // quick runs only: every table in the lesson uses all 10 000
    test.images = test.images.slice(0, 0, test_limit).contiguous();
    test.labels.resize(static_cast<size_t>(test_limit));
  }
  const Tensor calib = train.images.slice(0, 0, 512);

  std::printf("test set %lld images; calibration: the first 512 training images\n",
              static_cast<long long>(test.images.size(0)));
  if (!path.empty()) {  // without --checkpoint: the CNN only
    nn::FashionMlp fp;
    nn::load(fp, path);
    std::printf("\nFashionMlp from %s\n\n", path.c_str());
    std::printf("%-58s %9s %12s\n", "configuration", "accuracy", "model bytes");
    row("fp32", accuracy(module_forward(fp), test), model_bytes(fp, 0));
    const auto q8 = std::make_shared<nn::QuantizedFashionMlp>(nn::QuantizedFashionMlp::from_float(fp, calib));
    const Forward int8 = [q8](const Tensor& x) { return q8->forward(x); };
    row("PTQ int8 kernels (QuantizedFashionMlp::from_float, min-max)", accuracy(int8, test), model_bytes(fp, 8));
    ptq_observer_rows(ptq_net(fp), calib, test);
    gptq_rows(fp, calib, test);
    int4_rows(fp, test);
    qat_rows("mlp", path, train, test, qat_steps);
    std::printf("\n");
    latency(fp, int8, test);
  }

  if (!cnn_path.empty()) {
    nn::FashionCnn cnn;
    nn::load(cnn, cnn_path);
    std::printf("\nFashionCnn from %s\n\n%-58s %9s %12s\n", cnn_path.c_str(), "configuration", "accuracy",
                "model bytes");
    row("fp32", accuracy(module_forward(cnn), test), model_bytes(cnn, 0));
    const auto qc = std::make_shared<nn::QuantizedFashionCnn>(nn::QuantizedFashionCnn::from_float(cnn, calib));
    const Forward cnn8 = [qc](const Tensor& x) { return qc->forward(x); };
    row("PTQ int8 kernels (QuantizedFashionCnn::from_float, min-max)", accuracy(cnn8, test), model_bytes(cnn, 8));
    ptq_observer_rows(ptq_net(cnn), calib, test);
    gptq_rows(cnn, calib, test);
    qat_rows("cnn", cnn_path, train, test, cnn_qat_steps);
    std::printf("\n");
    latency(cnn, cnn8, test);
  }
  std::printf("int4 has no integer kernel here: W4 rows are simulated with fake_quantize (float arithmetic),\n"
              "and their convert() rows run the int4 codes as int8 values on the int8 kernels.\n");
  return 0;
}

}  // namespace nibble::cli
