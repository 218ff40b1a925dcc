// Module 03's program, on the student's (or the reference) pruning functions:
//   `nibble prune-report --checkpoint FILE [--sparsities 0.5,0.8,0.9,0.95] [--finetune-steps N]`
// Loads a trained Fashion-MNIST MLP (or, with --model cnn, the CNN) and prints (1) test accuracy
// against sparsity for global and layer-wise magnitude pruning and global Taylor / Fisher pruning,
// one shot, no fine-tuning; (2) the same after gradual pruning with the cubic schedule while
// fine-tuning with SGD; (3) accuracy and latency with a fraction of the first two layers' neurons
// (filters) physically removed; (4) the CSR sparse × dense product against the dense fp32 GEMM on
// fc1's shape (MLP only); (5) with
// --lottery-epochs N, the one-shot lottery-ticket experiment (Frankle & Carbin 2019): train from
// θ0, prune globally by magnitude, then train the sparse network again from θ0 ("rewound") or from
// a fresh random init with the same masks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "compression/pruning.h"
#include "compression/sparse.h"
#include "core/autograd.h"
#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/models.h"
#include "optim/sgd.h"

namespace nibble::cli {

namespace {

const char* kSummary =
    "Loads a trained Fashion-MNIST model (nibble train) and measures pruning on it (module 03):\n"
    "accuracy vs sparsity for global and layer-wise magnitude, global Taylor and Fisher (one shot, "
    "no\n"
    "fine-tuning); the same after gradual pruning with the cubic schedule during SGD fine-tuning; "
    "and\n"
    "accuracy and latency with a fraction of the first two layers' units physically removed; CSR "
    "vs dense\n"
    "GEMM on fc1 (MLP); with --lottery-epochs, the one-shot lottery-ticket experiment.";

std::vector<double> parse_list(const std::string& text, const std::string& what) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(!item.empty() && used == item.size(), "nibble prune-report",
          "--" + what + " expects numbers separated by commas, got '" + text + "'",
          "e.g. --" + what + " 0.5,0.9");
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

double median_ms(const std::function<void()>& fn, int repeats) {
  std::vector<double> t;
  fn();
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::shared_ptr<nn::Module> make_model(const std::string& kind) {
  if (kind == "cnn") return std::make_shared<nn::FashionCnn>();
  return std::make_shared<nn::FashionMlp>();
}

}  // namespace

int prune_report(const Args& args) {
  const ArgParser opt(
      "nibble prune-report", args, kSummary,
      {{"model", "mlp|cnn", "the model of the checkpoint (default mlp)"},
       {"checkpoint", "FILE", "a trained model (nibble train --model mlp --out FILE)"},
       {"sparsities", "LIST", "target sparsities in [0, 1) (default 0.5,0.8,0.9,0.95)"},
       {"finetune-steps", "N",
        "SGD steps of gradual pruning + fine-tuning, 0 skips it (default 1876)"},
       {"lr", "X", "fine-tuning learning rate (default 0.01, momentum 0.9, batch 64)"},
       {"repeats", "N", "timing repeats per measurement (default 20)"},
       {"lottery-epochs", "N",
        "epochs per training run of the lottery-ticket experiment, 0 skips it (default 0)"}});
  if (opt.help()) {
    std::printf("%s", opt.help_text().c_str());
    return 0;
  }
  const std::string kind = opt.get("model", "mlp");
  check(kind == "mlp" || kind == "cnn", "nibble prune-report", "unknown --model '" + kind + "'",
        "mlp or cnn");
  const std::string path = opt.get("checkpoint", "");
  check(!path.empty(), "nibble prune-report", "needs --checkpoint FILE",
        "train one first: nibble train --model mlp --epochs 3 --out fashion_mlp.ckpt");
  const std::vector<double> sparsities =
      parse_list(opt.get("sparsities", "0.5,0.8,0.9,0.95"), "sparsities");
  for (const double s : sparsities) validate_amount(s, "nibble prune-report --sparsities");
  const int64_t steps = opt.get_int("finetune-steps", 1876, 0, 10000000);
  const float lr = static_cast<float>(opt.get_double("lr", 0.01));
  const int repeats = static_cast<int>(opt.get_int("repeats", 20, 1, 100000));
  const int64_t lottery_epochs = opt.get_int("lottery-epochs", 0, 0, 1000);

  const std::vector<std::string> kLayers = kind == "mlp"
                                               ? std::vector<std::string>{"fc1", "fc2", "fc3"}
                                               : std::vector<std::string>{"conv1", "conv2", "fc"};
  auto clone = [](const std::shared_ptr<nn::Module>& m) { return m->clone(); };
  std::shared_ptr<nn::Module> dense = make_model(kind);
  nn::load(*dense, path);
  const data::FashionMnist train = data::load_fashion_mnist("train");
  const data::FashionMnist test = data::load_fashion_mnist("test");
  auto acc = [&](nn::Module& m) {
    NoGradGuard no_grad;
    return nn::accuracy(m, test.images, test.labels);
  };
  const double base = acc(*dense);
  std::printf("%s from %s: dense test accuracy %.4f\n\n", dense->name().c_str(), path.c_str(),
              base);

  // Gradient importance from 8 training batches of 256 (the first 2048 training images).
  auto loss_of = [&](nn::Module& m) {
    return [&train, &m](int64_t b) {
      const Tensor x = train.images.slice(0, b * 256, (b + 1) * 256);
      const std::vector<int64_t> y(train.labels.begin() + b * 256,
                                   train.labels.begin() + (b + 1) * 256);
      return cross_entropy(m(x), y);
    };
  };
  const LayerScores taylor =
      importance_scores(*dense, kLayers, Importance::Taylor, 8, loss_of(*dense));
  const LayerScores fisher =
      importance_scores(*dense, kLayers, Importance::Fisher, 8, loss_of(*dense));

  std::printf("one shot, no fine-tuning (weights of %s, %s, %s; biases kept):\n",
              kLayers[0].c_str(), kLayers[1].c_str(), kLayers[2].c_str());
  std::printf("  %8s %10s %10s %10s %10s   %s\n", "sparsity", "global", "layerwise", "taylor",
              "fisher", "global: per-layer sparsity");
  for (const double s : sparsities) {
    auto g = clone(dense), l = clone(dense), t = clone(dense), f = clone(dense);
    global_unstructured(*g, kLayers, s);
    for (const auto& name : kLayers) l1_unstructured(*l, name, s);
    global_unstructured(*t, kLayers, s, taylor);
    global_unstructured(*f, kLayers, s, fisher);
    std::printf("  %8.2f %10.4f %10.4f %10.4f %10.4f   %.3f/%.3f/%.3f\n", s, acc(*g), acc(*l),
                acc(*t), acc(*f), sparsity(layer_weight(*g, kLayers[0], "prune-report")),
                sparsity(layer_weight(*g, kLayers[1], "prune-report")),
                sparsity(layer_weight(*g, kLayers[2], "prune-report")));
  }

  if (steps > 0) {
    std::printf(
        "\ngradual magnitude pruning with the cubic schedule during fine-tuning: %lld SGD steps "
        "(batch 64,\n"
        "lr %g, momentum 0.9), pruning every %lld steps from 0 to the target over the first 3/4, "
        "then\n"
        "fine-tuning with the final masks; the dense row fine-tunes the same steps without "
        "pruning:\n",
        static_cast<long long>(steps), lr,
        static_cast<long long>(std::max<int64_t>(1, steps / 40)));
    std::printf("  %8s %10s %10s\n", "sparsity", "global", "layerwise");
    auto run = [&](double s, bool global) {
      auto m = clone(dense);
      manual_seed(1);
      optim::SGD sgd(m->parameters(), {lr, 0.9f});
      data::DataLoader loader(train.images, train.labels, 64, true, 1);
      GradualPruning cfg;
      cfg.layers = kLayers;
      cfg.final_sparsity = s;
      cfg.begin_step = 0;
      cfg.every = std::max<int64_t>(1, steps / 40);
      cfg.end_step = std::max<int64_t>(cfg.every, (steps * 3 / 4) / cfg.every * cfg.every);
      cfg.global = global;
      int64_t step = 0;
      m->train();
      while (step < steps) {
        for (const data::Batch& b : loader) {
          if (step >= steps) break;
          if (s > 0) gradual_prune_step(*m, cfg, step);
          const Tensor loss = cross_entropy((*m)(b.x), b.y);
          sgd.zero_grad();
          loss.backward();
          sgd.step();
          ++step;
        }
      }
      if (s > 0)
        check(std::abs(model_sparsity(*m).weights - s) < 1e-3, "nibble prune-report",
              "the fine-tuned model is not at the target sparsity");
      return acc(*m);
    };
    std::printf("  %8.2f %10.4f %10s\n", 0.0, run(0.0, true), "-");
    for (const double s : sparsities)
      std::printf("  %8.2f %10.4f %10.4f\n", s, run(s, true), run(s, false));
  }

  std::printf(
      "\nunits physically removed from %s and %s (L1 norm; no fine-tuning), batch 256, median of "
      "%d:\n",
      kLayers[0].c_str(), kLayers[1].c_str(), repeats);
  std::printf("  %8s %10s %10s %10s %10s\n", "removed", "units", "params", "accuracy", "ms/batch");
  const Tensor x = Tensor::rand({256, 1, 28, 28});
  for (const double r : {0.0, 0.25, 0.5, 0.75, 0.9}) {
    auto m = clone(dense);
    if (r > 0) {
      prune_neurons(*m, kLayers[0], kLayers[1], r, 1);
      prune_neurons(*m, kLayers[1], kLayers[2], r, 1);
    }
    NoGradGuard no_grad;
    const double ms = median_ms([&] { (*m)(x); }, repeats);
    std::printf("  %8.2f %4lld x %-4lld %10lld %10.4f %10.3f\n", r,
                static_cast<long long>(layer_weight(*m, kLayers[0], "prune-report").size(0)),
                static_cast<long long>(layer_weight(*m, kLayers[1], "prune-report").size(0)),
                static_cast<long long>(m->parameter_count()), acc(*m), ms);
  }

  if (kind == "mlp") {
    std::printf(
        "\nfc1's product x Wᵀ (x [256, 784], W [256, 784] magnitude-pruned): CSR "
        "(compression/sparse.h)\n"
        "against the dense fp32 GEMM (matmul), median of %d; OMP_NUM_THREADS decides the threads "
        "of both:\n",
        repeats);
    std::printf("  %8s %10s %10s %10s %12s %12s\n", "sparsity", "dense ms", "csr ms", "speed-up",
                "dense bytes", "csr bytes");
    const Tensor xin = Tensor::rand({256, 784});
    for (const double s : {0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99}) {
      auto m = clone(dense);
      if (s > 0) l1_unstructured(*m, "fc1", s);
      NoGradGuard no_grad;
      const Tensor w = layer_weight(*m, "fc1", "prune-report");
      const CsrMatrix csr = to_csr(w);
      const double d_ms = median_ms([&] { matmul(xin, w.t()); }, repeats);
      const double c_ms = median_ms([&] { csr_linear(xin, csr); }, repeats);
      std::printf("  %8.2f %10.3f %10.3f %9.2fx %12lld %12lld\n", s, d_ms, c_ms, d_ms / c_ms,
                  static_cast<long long>(w.numel() * 4), static_cast<long long>(csr.bytes()));
    }
  }

  if (lottery_epochs > 0) {
    auto train_epochs = [&](nn::Module& m, uint64_t seed) {
      optim::SGD sgd(m.parameters(), {0.01f, 0.9f});
      data::DataLoader loader(train.images, train.labels, 64, true, seed);
      m.train();
      for (int64_t e = 0; e < lottery_epochs; ++e)
        for (const data::Batch& b : loader) {
          const Tensor loss = cross_entropy(m(b.x), b.y);
          sgd.zero_grad();
          loss.backward();
          sgd.step();
        }
      return acc(m);
    };
    manual_seed(100);
    auto init = make_model(kind);  // θ0
    auto trained = clone(init);
    const double dense_acc = train_epochs(*trained, 100);
    std::printf(
        "\nlottery tickets, one shot: train from θ0 for %lld epoch(s) (dense: %.4f), prune "
        "globally by\n"
        "magnitude, train the sparse net %lld epoch(s) again from θ0 (rewound) or from a new "
        "random init\n"
        "(same masks); SGD lr 0.01 momentum 0.9 batch 64:\n",
        static_cast<long long>(lottery_epochs), dense_acc, static_cast<long long>(lottery_epochs));
    std::printf("  %8s %10s %10s\n", "sparsity", "rewound", "random");
    for (const double s : sparsities) {
      auto pruned = clone(trained);
      global_unstructured(*pruned, kLayers, s);
      auto ticket = clone(init);
      manual_seed(200 + static_cast<uint64_t>(s * 1000));
      auto fresh = make_model(kind);
      for (const auto& name : kLayers) {
        const Tensor mask = layer_weight(*pruned, name, "prune-report");
        layer_weight(*ticket, name, "prune-report").set_mask(mask.mask());
        layer_weight(*fresh, name, "prune-report").set_mask(mask.mask());
      }
      const double a = train_epochs(*ticket, 101), b = train_epochs(*fresh, 101);
      std::printf("  %8.2f %10.4f %10.4f\n", s, a, b);
    }
  }
  return 0;
}

}  // namespace nibble::cli
