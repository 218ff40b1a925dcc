// `nibble demo`: the main job — Deep Compression of LeNet-300-100 and the course CNN on Fashion-MNIST
// (train or reuse cached baselines, compress each with `nibble compress`'s defaults, print the report).
// `nibble demo --toy`: autograd at work on a tiny model, in well under a second (kept: it is the one
// sub-second end-to-end check of the tape and the first thing the README's readers can read whole).
//
// The toy: a 2-32-32-3 MLP written with raw tensors learns to separate three interleaved spirals (the
// classic CS231n toy problem). Every step is visible: forward, cross-entropy, backward, and a
// hand-written SGD update. At the end we check one gradient against a finite difference.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "args.h"
#include "commands.h"
#include "compress_report.h"
#include "core/autograd.h"
#include "core/io/atomic_file.h"
#include "core/io/dataloader.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "optim/sgd.h"
#include "progress.h"

namespace nibble::cli {

namespace {

constexpr int64_t kPointsPerClass = 100;
constexpr int64_t kClasses = 3;

// Three spirals in the plane: x [300, 2], labels 0..2.
void make_spirals(Tensor& x, std::vector<int64_t>& labels) {
  x = Tensor::empty({kPointsPerClass * kClasses, 2});
  labels.clear();
  for (int64_t c = 0; c < kClasses; ++c) {
    for (int64_t i = 0; i < kPointsPerClass; ++i) {
      const float r = static_cast<float>(i) / kPointsPerClass;
      const float angle = 4.0f * c + 4.0f * r + 0.2f * random_normal();
      const int64_t row = c * kPointsPerClass + i;
      x.at({row, 0}) = r * std::sin(angle);
      x.at({row, 1}) = r * std::cos(angle);
      labels.push_back(c);
    }
  }
}

Tensor kaiming(int64_t fan_in, int64_t fan_out) {
  return Tensor::randn({fan_in, fan_out}, 0.0f, std::sqrt(2.0f / fan_in)).requires_grad_();
}

}  // namespace

int spirals_toy() {
  manual_seed(0);
  Tensor x;
  std::vector<int64_t> y;
  make_spirals(x, y);

  // Parameters: W1 [2,32], b1 [32], W2 [32,32], b2 [32], W3 [32,3], b3 [3]
  std::vector<Tensor> params = {kaiming(2, 32), Tensor::zeros({32}).requires_grad_(),
                                kaiming(32, 32), Tensor::zeros({32}).requires_grad_(),
                                kaiming(32, 3),  Tensor::zeros({3}).requires_grad_()};
  auto forward = [&params](const Tensor& input) {   // input [B,2] -> logits [B,3]
    Tensor h = relu(add(matmul(input, params[0]), params[1]));  // [B,32]
    h = relu(add(matmul(h, params[2]), params[3]));             // [B,32]
    return add(matmul(h, params[4]), params[5]);                // [B,3]
  };

  std::printf("Training a 2-32-32-3 MLP on 3 spirals (%lld points) with full-batch SGD, lr 0.5\n",
              static_cast<long long>(x.size(0)));
  const float lr = 0.5f;
  float loss_value = 0.0f;
  for (int step = 0; step <= 1500; ++step) {
    Tensor loss = cross_entropy(forward(x), y);
    for (Tensor& p : params) p.zero_grad();  // gradients accumulate: clear them every step
    loss.backward();
    {
      NoGradGuard no_grad;  // the update itself must not be recorded on the tape
      for (Tensor& p : params) {
        float* w = p.data();
        const float* g = p.grad().data();
        for (int64_t i = 0; i < p.numel(); ++i) w[i] -= lr * g[i];
      }
    }
    loss_value = loss.item();
    if (step % 300 == 0) std::printf("  step %4d  loss %.4f\n", step, loss_value);
  }

  NoGradGuard no_grad;
  const std::vector<int64_t> predicted = argmax(forward(x), 1);
  int64_t correct = 0;
  for (size_t i = 0; i < y.size(); ++i) correct += predicted[i] == y[i];
  const double accuracy = static_cast<double>(correct) / y.size();
  std::printf("train accuracy %.1f%% (a linear model cannot beat ~50%% here)\n", 100.0 * accuracy);

  // Does backward() agree with calculus? Compare dL/dW3[0,0] with a central difference.
  {
    set_grad_enabled(true);
    for (Tensor& p : params) p.zero_grad();
    cross_entropy(forward(x), y).backward();
    const float analytic = params[4].grad().at({0, 0});
    set_grad_enabled(false);
    const float eps = 1e-3f;
    float& w = params[4].at({0, 0});
    const float saved = w;
    w = saved + eps;
    const float plus = cross_entropy(forward(x), y).item();
    w = saved - eps;
    const float minus = cross_entropy(forward(x), y).item();
    w = saved;
    std::printf("gradient check dL/dW3[0,0]: backward %.6f, finite difference %.6f\n", analytic,
                (plus - minus) / (2 * eps));
  }
  return accuracy > 0.9 ? 0 : 1;
}

namespace {

const char* kDemoSummary =
    "The main job: Deep Compression (prune -> share weights -> Huffman-code into .nbz -> reload -> int8\n"
    "kernels) of LeNet-300-100 and the course CNN on Fashion-MNIST, with nibble compress's defaults\n"
    "(for the CNN, whose epochs cost ~3x more: 1 epoch of pruning, 0.25 of centroid fine-tuning).\n"
    "Baselines are trained once (SGD, momentum 0.9) and cached; later runs reuse them. Prints one row\n"
    "per stage and writes each model's .nbz, JSON report and sparsity-mask PNG into the cache folder.\n"
    "--toy runs the old sub-second autograd demo (a 2-32-32-3 MLP on three spirals) instead.";

std::string default_cache() {
#ifdef NIBBLE_BINARY_DIR
  return std::string(NIBBLE_BINARY_DIR) + "/checkpoints";
#else
  return "checkpoints";
#endif
}

// The cached baseline of `arch`, trained now when missing or unreadable.
void baseline(nn::Module& model, const std::string& arch, const std::string& path, int epochs,
              const data::FashionMnist& train, const data::FashionMnist& test) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    try {
      nn::load(model, path);
      std::printf("%s: reusing the baseline %s\n", arch.c_str(), path.c_str());
      return;
    } catch (const Error&) {
      std::printf("%s: %s is not a %s checkpoint: training a new one\n", arch.c_str(), path.c_str(), arch.c_str());
    }
  }
  std::printf("%s: training the baseline (%d epochs, SGD lr 0.01 momentum 0.9, batch 64)\n", arch.c_str(), epochs);
  manual_seed(0);
  optim::SGD sgd(model.parameters(), {0.01f, 0.9f});
  data::DataLoader loader(train.images, train.labels, 64, /*shuffle=*/true, 0);
  model.train();
  for (int e = 1; e <= epochs; ++e) {
    ProgressBar bar("  " + arch + " epoch " + std::to_string(e) + "/" + std::to_string(epochs), loader.num_batches());
    for (const data::Batch& b : loader) {
      const Tensor loss = cross_entropy(model(b.x), b.y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      bar.update(b.x.size(0), loss.item());
    }
    model.eval();
    char extra[64];
    std::snprintf(extra, sizeof extra, "  test accuracy %.4f", nn::accuracy(model, test.images, test.labels));
    bar.finish(extra);
    model.train();
  }
  model.eval();
  nn::save(model, path);
}

}  // namespace

int demo(const Args& args) {
  const char* op = "nibble demo";
  const ArgParser opt(op, args, kDemoSummary,
                      {{"data", "DIR", "IDX dataset folder (default: Debian's Fashion-MNIST)"},
                       {"cache", "DIR", "baselines and outputs (default: build/checkpoints)"},
                       {"epochs", "N", "training epochs of a missing baseline (default 3 for lenet300, 1 for cnn)"},
                       {"models", "LIST", "which models, comma-separated (default lenet300,cnn)"},
                       {"toy", "", "the sub-second autograd demo on three spirals instead"}});
  if (opt.help()) {
    std::printf("%s", opt.help_text().c_str());
    return 0;
  }
  if (opt.flag("toy")) return spirals_toy();
  const auto start = std::chrono::steady_clock::now();
  const std::string data_dir = opt.get("data", data::default_fashion_mnist_dir());
  const std::string cache = opt.get("cache", default_cache());
  const int epochs = static_cast<int>(opt.get_int("epochs", 0, 1, 1000));  // 0: per model, below
  std::vector<std::string> models;
  {
    const std::string list = opt.get("models", "lenet300,cnn");
    size_t at = 0;
    while (at <= list.size()) {
      const size_t comma = list.find(',', at);
      models.push_back(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      compression::make_model(models.back());  // throws for an unknown name
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
  }
  check_idx_folder(data_dir, op);
  std::error_code ec;
  std::filesystem::create_directories(cache, ec);
  check(!ec, op, "cannot create the cache folder " + cache + " (" + ec.message() + ")", "give another with --cache DIR");
  for (const std::string& arch : models) io::check_writable(cache + "/" + arch + ".nbz", op);

  const data::FashionMnist train = load_idx_folder(data_dir, "train");
  const data::FashionMnist test = load_idx_folder(data_dir, "test");
  for (const std::string& arch : models) {
    // Seeded here, before the weights are initialised, so each model's baseline is the same
    // whatever ran before it in this process (the previous model's pipeline draws random numbers,
    // e.g. clone() re-initialises before copying) and whichever --models order is given.
    manual_seed(0);
    std::shared_ptr<nn::Module> model = compression::make_model(arch);
    // The CNN's epoch costs ~3x LeNet-300-100's (the convolutions): one epoch of training and of
    // pruning keep the main job within its time budget (compression/RESULTS.md has both runs).
    const bool cnn = arch == "cnn";
    baseline(*model, arch, cache + "/fashion_" + arch + ".ckpt", epochs > 0 ? epochs : cnn ? 1 : 3, train, test);
    compression::DeepCompressionOptions o;  // nibble compress's defaults
    if (cnn) {
      o.finetune_epochs = 1;
      o.centroid_epochs = 0.25;
    }
    const std::string out = cache + "/" + arch + ".nbz";
    const compression::DeepCompressionResult r = run_pipeline(*model, arch, train, test, o, out);
    print_compress_report(r, o, cache + "/" + arch + ".json", cache + "/" + arch + "_masks.png");
    std::filesystem::remove_all(r.work_dir, ec);
    std::printf("  wrote %s (run it again: the baseline is cached)\n\n", out.c_str());
  }
  std::printf("nibble demo: %.0f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

}  // namespace nibble::cli
