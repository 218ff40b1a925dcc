// nibble quant-report: module 04's measurements on a trained Fashion MLP and, optionally, CNN
// (nibble train --model mlp|cnn).
//   - fp32 test accuracy, and the int8 kernels after post-training quantization
//     (nn::QuantizedFashion*::from_float, min-max calibration) with their speed beside fp32;
//   - (MLP) post-training quantization simulated with fake_quantize (compression/quantization.h):
//     weights per-channel symmetric, each layer's input per tensor with each observer, at 8 and 4
//     bits; calibration on the first 512 training images in batches of 64;
//   - quantization-aware training with the library's modules (compression/qat.h): prepare_qat,
//     `--qat-steps` Adam steps (batch 128, lr 1e-4) from the fp32 weights, then convert() to the int8
//     kernels, at W8A8, W4A8 and W4A4; the same steps without quantization as the fair baseline.
// Every number it prints is measured when it runs; nothing is cached.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
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
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/models.h"
#include "nn/quantized_models.h"
#include "optim/adam.h"

namespace nibble::cli {

namespace {

constexpr const char* kHelp =
    "usage: nibble quant-report --checkpoint FILE [--cnn-checkpoint FILE] [--qat-steps N] [--cnn-qat-steps N]\n"
    "                           [--test-limit N]\n"
    "  For a trained Fashion MLP (`nibble train --model mlp --out FILE`): test accuracy at fp32, on the\n"
    "  int8 kernels, and with fake quantization (weights per channel, layer inputs per tensor) at 8 and\n"
    "  4 bits for each observer (min-max, moving average, percentile 99.99, entropy/KL); then QAT with\n"
    "  prepare_qat/convert (N Adam steps of batch 128 from the fp32 weights, default 300, lr 1e-4; 0\n"
    "  skips it) at W8A8, W4A8, W4A4, each also converted to the int8 kernels. With --cnn-checkpoint the\n"
    "  same for the CNN (fp32, int8 kernels, QAT with --cnn-qat-steps, default 100). Model bytes and\n"
    "  int8 vs fp32 latency. GPTQ vs round-to-nearest at 4 and 3 bits and weight-only INT4 (MLP).\n"
    "  --test-limit N evaluates on the first N test images only (quick checks).\n";

using Observers = std::vector<std::unique_ptr<Observer>>;
using Forward = std::function<Tensor(const Tensor&)>;

std::unique_ptr<Observer> make_observer(const std::string& kind, int bits) {
  if (kind == "min-max") return std::make_unique<MinMaxObserver>(QScheme::kPerTensorAffine, bits, false);
  if (kind == "moving-average") return std::make_unique<MovingAverageMinMaxObserver>(0.1, QScheme::kPerTensorAffine, bits, false);
  if (kind == "percentile") return std::make_unique<PercentileObserver>(99.99, QScheme::kPerTensorAffine, bits, false);
  return std::make_unique<EntropyObserver>(bits, true);
}

std::vector<nn::Linear*> layers_of(nn::FashionMlp& m) { return {&m.fc1(), &m.fc2(), &m.fc3()}; }

// Per-channel symmetric weight parameters from the weights as they are now.
std::vector<QParams> weight_qparams_of(nn::FashionMlp& m, int bits) {
  std::vector<QParams> out;
  for (nn::Linear* l : layers_of(m)) {
    MinMaxObserver obs(QScheme::kPerChannelSymmetric, bits, true, 0);
    obs.forward(l->weight.detach());
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
std::vector<QParams> calibrate(nn::FashionMlp& m, const Tensor& calib, const std::string& kind, int bits) {
  Observers obs;
  for (int i = 0; i < 3; ++i) obs.push_back(make_observer(kind, bits));
  NoGradGuard no_grad;
  for (int64_t b = 0; b < calib.size(0); b += 64) ptq_forward(m, calib.slice(0, b, b + 64), nullptr, nullptr, &obs);
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

// The MLP's PTQ rows, one per observer, at 8 and 4 bits.
void ptq_observer_rows(nn::FashionMlp& fp, const Tensor& calib, const data::FashionMnist& test) {
  for (const int bits : {8, 4}) {
    const std::vector<QParams> wqp = weight_qparams_of(fp, bits);
    std::vector<Tensor> wq;  // fake-quantized once, not per batch
    for (size_t i = 0; i < wqp.size(); ++i) wq.push_back(fake_quantize(layers_of(fp)[i]->weight.detach(), wqp[i]));
    const int64_t bytes = model_bytes(fp, bits);
    row("W" + std::to_string(bits) + " weights only (per channel)",
        accuracy([&](const Tensor& x) { return ptq_forward(fp, x, &wq, nullptr); }, test), bytes);
    for (const std::string kind : {"min-max", "moving-average", "percentile", "entropy"}) {
      const std::vector<QParams> act = calibrate(fp, calib, kind, bits);
      row("PTQ W" + std::to_string(bits) + "A" + std::to_string(bits) + " " + kind,
          accuracy([&](const Tensor& x) { return ptq_forward(fp, x, &wq, &act); }, test), bytes);
      if (kind == "entropy") {
        std::printf("  entropy thresholds (symmetric, max of the range) per layer input:");
        for (const QParams& q : act) std::printf(" %.3f", q.scale[0] * static_cast<float>(q.quant_max - q.zero_point[0]));
        std::printf("\n");
      }
    }
  }
}

// The largest even divisor of a row of n weights that is <= 128 (784 -> 112, 256 -> 128, 128 -> 128).
int64_t group_for(int64_t n) {
  int64_t g = 128;
  while (g > 2 && (n % g != 0 || g % 2 != 0)) --g;
  return g;
}

// Weight-only GPTQ vs round-to-nearest at 4 and 3 bits, one grid per output row: each layer's
// calibration inputs X are its float inputs on `calib` (the float model's, layer by layer).
void gptq_rows(nn::FashionMlp& fp, const Tensor& calib, const data::FashionMnist& test) {
  std::vector<Tensor> X;
  {
    NoGradGuard no_grad;
    fp.eval();
    X.push_back(fp.standardize(calib.reshape({-1, 784})));  // [512, 784]
    X.push_back(relu(fp.fc1().forward(X[0])));              // [512, 256]
    X.push_back(relu(fp.fc2().forward(X[1])));              // [512, 128]
  }
  const char* names[] = {"fc1", "fc2", "fc3"};
  for (const bool grouped : {false, true})
    for (const int bits : {4, 3})
      for (const bool use_gptq : {false, true}) {
        auto m = fp.clone_as<nn::FashionMlp>();
        std::string errors;
        int64_t bytes = 0;  // codes, a float scale and a one-byte zero point per row (per group), float biases
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 3; ++i) {
          nn::Linear& layer = m->get_submodule_as<nn::Linear>(names[i]);
          GptqOptions o;
          o.bits = bits;
          o.group_size = grouped ? group_for(layer.in_features) : 0;
          const int64_t out = layer.out_features, in = layer.in_features;
          bytes += (out * in * bits + 7) / 8 + 5 * out * (grouped ? in / o.group_size : 1) + 4 * out;
          const Tensor W = layer.weight.detach().clone();
          const QuantizedWeight q = use_gptq ? gptq_quantize(W, X[i], o) : rtn_quantize(W, o);
          const double rel = layer_output_error(X[i], W, q.weight) / layer_output_error(X[i], W, zeros_like(W));
          char buf[16];
          std::snprintf(buf, sizeof buf, "%s%.3f", i ? "/" : "", rel);
          errors += buf;
          const Tensor w = q.weight.contiguous();
          std::copy(w.data(), w.data() + w.numel(), layer.weight.data());
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        char name[96];
        std::snprintf(name, sizeof name, "%s W%d, %s (out err %s, %.1f s)", use_gptq ? "GPTQ" : "RTN ", bits,
                      grouped ? "groups 112/128/128" : "per row", errors.c_str(), secs);
        row(name, accuracy(module_forward(*m), test), bytes);
      }
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

}  // namespace

int quant_report(const Args& args) {
  const ArgParser opt("nibble quant-report", args,
                      {"checkpoint", "cnn-checkpoint", "qat-steps", "cnn-qat-steps", "test-limit"});
  if (opt.help()) {
    std::printf("%s", kHelp);
    return 0;
  }
  const std::string path = opt.get("checkpoint", "");
  check(!path.empty(), "nibble quant-report", "needs --checkpoint FILE",
        "train one first: nibble train --model mlp --out fashion_mlp.ckpt");
  const std::string cnn_path = opt.get("cnn-checkpoint", "");
  const int64_t qat_steps = opt.get_int("qat-steps", 300, 0, 1000000);
  const int64_t cnn_qat_steps = opt.get_int("cnn-qat-steps", 100, 0, 1000000);
  nn::FashionMlp fp;
  nn::load(fp, path);
  const data::FashionMnist train = data::load_fashion_mnist("train");
  data::FashionMnist test = data::load_fashion_mnist("test");
  const int64_t test_limit = opt.get_int("test-limit", test.images.size(0), 1, test.images.size(0));
  if (test_limit < test.images.size(0)) {  // quick runs only: every table in the lesson uses all 10 000
    test.images = test.images.slice(0, 0, test_limit).contiguous();
    test.labels.resize(static_cast<size_t>(test_limit));
  }
  const Tensor calib = train.images.slice(0, 0, 512);

  std::printf("FashionMlp from %s; test set %lld images; calibration: the first 512 training images\n\n", path.c_str(),
              static_cast<long long>(test.images.size(0)));
  std::printf("%-58s %9s %12s\n", "configuration", "accuracy", "model bytes");
  row("fp32", accuracy(module_forward(fp), test), model_bytes(fp, 0));
  const auto q8 = std::make_shared<nn::QuantizedFashionMlp>(nn::QuantizedFashionMlp::from_float(fp, calib));
  const Forward int8 = [q8](const Tensor& x) { return q8->forward(x); };
  row("PTQ int8 kernels (QuantizedFashionMlp::from_float, min-max)", accuracy(int8, test), model_bytes(fp, 8));
  ptq_observer_rows(fp, calib, test);
  gptq_rows(fp, calib, test);
  int4_rows(fp, test);
  qat_rows("mlp", path, train, test, qat_steps);
  std::printf("\n");
  latency(fp, int8, test);

  if (!cnn_path.empty()) {
    nn::FashionCnn cnn;
    nn::load(cnn, cnn_path);
    std::printf("\nFashionCnn from %s\n\n%-58s %9s %12s\n", cnn_path.c_str(), "configuration", "accuracy",
                "model bytes");
    row("fp32", accuracy(module_forward(cnn), test), model_bytes(cnn, 0));
    const auto qc = std::make_shared<nn::QuantizedFashionCnn>(nn::QuantizedFashionCnn::from_float(cnn, calib));
    const Forward cnn8 = [qc](const Tensor& x) { return qc->forward(x); };
    row("PTQ int8 kernels (QuantizedFashionCnn::from_float, min-max)", accuracy(cnn8, test), model_bytes(cnn, 8));
    qat_rows("cnn", cnn_path, train, test, cnn_qat_steps);
    std::printf("\n");
    latency(cnn, cnn8, test);
  }
  std::printf("int4 has no integer kernel here: W4 rows are simulated with fake_quantize (float arithmetic),\n"
              "and their convert() rows run the int4 codes as int8 values on the int8 kernels.\n");
  return 0;
}

}  // namespace nibble::cli
