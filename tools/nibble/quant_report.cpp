// nibble quant-report: module 04's measurements on a trained Fashion MLP (nibble train --model mlp).
//   - fp32 test accuracy, and the existing int8 kernels (nn::QuantizedFashionMlp, min-max
//     calibration) with their speed beside fp32;
//   - post-training quantization simulated with fake_quantize (compression/quantization.h):
//     weights per-channel symmetric, each layer's input per tensor with each observer, at 8 and 4
//     bits; calibration on the first 512 training images in batches of 64;
//   - quantization-aware training: `--qat-steps` Adam steps (batch 128) of fine-tuning through fake_quantize
//     (STE) from the fp32 weights, per-channel min-max weights, moving-average activation ranges;
//     the QAT model at 8 bits is then run on the int8 kernels (QuantizedFashionMlp::from_float).
// Every number it prints is measured when it runs; nothing is cached.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "compression/quantization.h"
#include "core/autograd.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/models.h"
#include "nn/quantized_models.h"
#include "optim/adam.h"

namespace nibble::cli {

namespace {

constexpr const char* kHelp =
    "usage: nibble quant-report --checkpoint FILE [--qat-steps N]\n"
    "  For a trained Fashion MLP (`nibble train --model mlp --out FILE`): test accuracy at fp32, on the\n"
    "  int8 kernels, and with fake quantization (weights per channel, layer inputs per tensor) at 8 and\n"
    "  4 bits for each observer (min-max, moving average, percentile 99.99, entropy/KL); then QAT\n"
    "  (N Adam steps of batch 128 from the fp32 weights, default 300, lr 1e-4; 0 skips it) at 8 and 4\n"
    "  bits. Model bytes and int8 vs fp32 latency.\n";

using Observers = std::vector<std::unique_ptr<Observer>>;

std::unique_ptr<Observer> make_observer(const std::string& kind, int bits) {
  if (kind == "min-max") return std::make_unique<MinMaxObserver>(QScheme::kPerTensorAffine, bits, false);
  if (kind == "moving-average") return std::make_unique<MovingAverageMinMaxObserver>(0.1, QScheme::kPerTensorAffine, bits, false);
  if (kind == "percentile") return std::make_unique<PercentileObserver>(99.99, QScheme::kPerTensorAffine, bits, false);
  return std::make_unique<EntropyObserver>(bits, true);
}

std::vector<nn::Linear*> layers_of(nn::FashionMlp& m) { return {&m.fc1(), &m.fc2(), &m.fc3()}; }

// Per-channel symmetric weight parameters from the weights as they are now.
std::vector<QParams> weight_qparams(nn::FashionMlp& m, int bits) {
  std::vector<QParams> out;
  for (nn::Linear* l : layers_of(m)) {
    MinMaxObserver obs(QScheme::kPerChannelSymmetric, bits, true, 0);
    obs.forward(l->weight.detach());
    out.push_back(obs.calculate_qparams());
  }
  return out;
}

// The MLP's forward with fake-quantized weights (when w) and layer inputs (when act). When
// `observe` is set, each layer's float input goes to its observer first (calibration / QAT).
Tensor forward(nn::FashionMlp& m, const Tensor& images, const std::vector<QParams>* w, Observers* act, bool observe) {
  Tensor x = m.standardize(images.reshape({-1, 784}));
  const std::vector<nn::Linear*> L = layers_of(m);
  for (size_t i = 0; i < L.size(); ++i) {
    Tensor xi = x;
    if (act) {
      if (observe) (*act)[i]->forward(x.detach());
      xi = fake_quantize(x, (*act)[i]->calculate_qparams());
    }
    const Tensor W = w ? fake_quantize(L[i]->weight, (*w)[i]) : L[i]->weight;
    const Tensor y = add(matmul(xi, W.transpose(0, 1)), L[i]->bias);
    x = i + 1 < L.size() ? relu(y) : y;
  }
  return x;
}

double accuracy(nn::FashionMlp& m, const data::FashionMnist& test, const std::vector<QParams>* w, Observers* act) {
  NoGradGuard no_grad;
  int64_t right = 0;
  const int64_t n = test.images.size(0);
  for (int64_t b = 0; b < n; b += 1000) {
    const int64_t e = std::min(n, b + 1000);
    const std::vector<int64_t> pred = argmax(forward(m, test.images.slice(0, b, e), w, act, false), 1);
    for (int64_t i = b; i < e; ++i) right += pred[static_cast<size_t>(i - b)] == test.labels[static_cast<size_t>(i)];
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

double accuracy_int8(const nn::QuantizedFashionMlp& q, const data::FashionMnist& test) {
  int64_t right = 0;
  const int64_t n = test.images.size(0);
  for (int64_t b = 0; b < n; b += 1000) {
    const int64_t e = std::min(n, b + 1000);
    const std::vector<int64_t> pred = argmax(q.forward(test.images.slice(0, b, e)), 1);
    for (int64_t i = b; i < e; ++i) right += pred[static_cast<size_t>(i - b)] == test.labels[static_cast<size_t>(i)];
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

Observers calibrate(nn::FashionMlp& m, const Tensor& calib, const std::string& kind, int bits) {
  Observers obs;
  for (int i = 0; i < 3; ++i) obs.push_back(make_observer(kind, bits));
  NoGradGuard no_grad;
  for (int64_t b = 0; b < calib.size(0); b += 64) forward(m, calib.slice(0, b, b + 64), nullptr, &obs, true);
  return obs;
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

}  // namespace

int quant_report(const Args& args) {
  const ArgParser opt("nibble quant-report", args, {"checkpoint", "qat-steps"});
  if (opt.help()) {
    std::printf("%s", kHelp);
    return 0;
  }
  const std::string path = opt.get("checkpoint", "");
  check(!path.empty(), "nibble quant-report", "needs --checkpoint FILE",
        "train one first: nibble train --model mlp --out fashion_mlp.ckpt");
  const int64_t qat_steps = opt.get_int("qat-steps", 300, 0, 1000000);
  nn::FashionMlp fp;
  nn::load(fp, path);
  const data::FashionMnist train = data::load_fashion_mnist("train");
  const data::FashionMnist test = data::load_fashion_mnist("test");
  const Tensor calib = train.images.slice(0, 0, 512);

  const int64_t n_weights = 784 * 256 + 256 * 128 + 128 * 10, n_bias = 256 + 128 + 10;
  std::printf("FashionMlp from %s; test set %lld images; calibration: the first 512 training images\n\n", path.c_str(),
              static_cast<long long>(test.images.size(0)));
  std::printf("%-44s %9s %12s\n", "configuration", "accuracy", "model bytes");
  auto row = [](const std::string& name, double acc, int64_t bytes) {
    std::printf("%-44s %9.4f %12lld\n", name.c_str(), acc, static_cast<long long>(bytes));
  };
  const double acc_fp = accuracy(fp, test, nullptr, nullptr);
  row("fp32", acc_fp, 4 * (n_weights + n_bias));
  const nn::QuantizedFashionMlp q8 = nn::QuantizedFashionMlp::from_float(fp, calib);
  // int8 weights + one float scale per output channel + float bias.
  const int64_t bytes8 = n_weights + 4 * (256 + 128 + 10) + 4 * n_bias;
  const int64_t bytes4 = n_weights / 2 + 4 * (256 + 128 + 10) + 4 * n_bias;  // two codes per byte
  row("int8 kernels (QuantizedFashionMlp, min-max)", accuracy_int8(q8, test), bytes8);
  for (const int bits : {8, 4}) {
    const std::vector<QParams> wq = weight_qparams(fp, bits);
    row("W" + std::to_string(bits) + " weights only (per channel)", accuracy(fp, test, &wq, nullptr),
        bits == 8 ? bytes8 : bytes4);
    for (const std::string kind : {"min-max", "moving-average", "percentile", "entropy"}) {
      Observers obs = calibrate(fp, calib, kind, bits);
      row("PTQ W" + std::to_string(bits) + "A" + std::to_string(bits) + " " + kind, accuracy(fp, test, &wq, &obs),
          bits == 8 ? bytes8 : bytes4);
    }
  }
  // bits = 0: the same fine-tuning without quantization, the fair baseline for the QAT rows (the
  // checkpoint may be undertrained, and QAT's extra steps then also train it further).
  for (const int bits : {0, 8, 4}) {
    if (qat_steps == 0) break;
    nn::FashionMlp m;
    nn::load(m, path);
    Observers obs;
    for (int i = 0; i < 3 && bits > 0; ++i)
      obs.push_back(std::make_unique<MovingAverageMinMaxObserver>(0.01, QScheme::kPerTensorAffine, bits, false));
    optim::Adam adam(m.parameters(), {1e-4f});
    const int64_t n = train.images.size(0);
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t step = 0; step < qat_steps; ++step) {
      const int64_t b = (step * 128) % (n - n % 128);
      const std::vector<QParams> wq = bits > 0 ? weight_qparams(m, bits) : std::vector<QParams>{};
      const Tensor logits = forward(m, train.images.slice(0, b, b + 128), bits > 0 ? &wq : nullptr,
                                    bits > 0 ? &obs : nullptr, true);
      const std::vector<int64_t> y(train.labels.begin() + b, train.labels.begin() + b + 128);
      adam.zero_grad();
      cross_entropy(logits, y).backward();
      adam.step();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string steps = " (" + std::to_string(qat_steps) + " steps, " + std::to_string(static_cast<int>(secs)) + " s)";
    if (bits == 0) {
      row("fp32 fine-tuned" + steps, accuracy(m, test, nullptr, nullptr), 4 * (n_weights + n_bias));
      continue;
    }
    const std::vector<QParams> wq = weight_qparams(m, bits);
    row("QAT W" + std::to_string(bits) + "A" + std::to_string(bits) + steps, accuracy(m, test, &wq, &obs),
        bits == 8 ? bytes8 : bytes4);
    if (bits == 8) {
      const nn::QuantizedFashionMlp qq = nn::QuantizedFashionMlp::from_float(m, calib);
      row("QAT W8A8 converted to the int8 kernels", accuracy_int8(qq, test), bytes8);
    }
  }

  const Tensor batch = test.images.slice(0, 0, 256).contiguous();
  NoGradGuard no_grad;
  fp.eval();
  const double ms_fp = median_ms([&] { fp.forward(batch); }, 50);
  const double ms_q8 = median_ms([&] { q8.forward(batch); }, 50);
  std::printf("\nlatency, batch 256, median of 50: fp32 %.3f ms, int8 kernels %.3f ms (%.2fx)\n", ms_fp, ms_q8,
              ms_fp / ms_q8);
  std::printf("int4 has no integer kernel here: W4 rows are simulated with fake_quantize (float arithmetic).\n");
  return 0;
}

}  // namespace nibble::cli
