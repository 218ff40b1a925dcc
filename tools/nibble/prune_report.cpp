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
// a fresh random init with the same masks; with --lottery-iterative, the iterative version (one
// round per sparsity of the list, rewinding to θ0 or to step --rewind-step) over --seeds seeds.
// --tables picks the sections; besides the four above (oneshot, gradual, units, csr) it offers
// criteria (magnitude / Taylor / Fisher one shot, then the same fine-tuning with the masks fixed),
// units-ft (the physically smaller models fine-tuned) and nm (2:4 before and after fine-tuning).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
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
    "GEMM on fc1 (MLP); with --lottery-epochs, the one-shot lottery-ticket experiment. --tables adds\n"
    "criteria (magnitude / Taylor / Fisher, one shot then fine-tuned), units-ft (the smaller models\n"
    "fine-tuned), nm (2:4 before / after fine-tuning) and lottery (--lottery-iterative: rounds, seeds).";

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
        "epochs per training run of the lottery-ticket experiment, 0 skips it (default 0)"},
       {"tables", "LIST",
        "sections to run: oneshot,gradual,units,csr (default), criteria, units-ft, nm, lottery"},
       {"cosine", "", "fine-tune with a cosine learning-rate decay from --lr to 0"},
       {"gradual-scope", "S", "global or both (global and layer-wise; default both)"},
       {"lottery-iterative", "",
        "iterative lottery tickets: one prune-rewind-retrain round per sparsity of the list"},
       {"lottery-steps", "N", "SGD steps per lottery training run (overrides --lottery-epochs)"},
       {"rewind-step", "K", "rewind the tickets to the weights after K dense steps (default 0)"},
       {"seeds", "N", "seeds of the lottery-ticket experiment (default 1)"}});
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
  const int64_t lottery_steps_option = opt.get_int("lottery-steps", 0, 0, 10000000);
  const int64_t rewind_step = opt.get_int("rewind-step", 0, 0, 10000000);
  const int64_t seeds = opt.get_int("seeds", 1, 1, 100);
  const bool cosine = opt.flag("cosine");
  const bool lottery_iterative = opt.flag("lottery-iterative");
  const std::string scope = opt.get("gradual-scope", "both");
  check(scope == "global" || scope == "both", "nibble prune-report",
        "--gradual-scope '" + scope + "' is unknown", "global or both");
  std::set<std::string> tables;
  {
    const std::string list = opt.get("tables", "oneshot,gradual,units,csr");
    const std::set<std::string> known = {"oneshot", "gradual", "units", "csr",
                                         "criteria", "units-ft", "nm", "lottery"};
    size_t start = 0;
    while (start <= list.size()) {
      const size_t comma = list.find(',', start);
      const std::string item =
          list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      check(known.count(item) == 1, "nibble prune-report", "--tables: unknown section '" + item + "'",
            "oneshot, gradual, units, csr, criteria, units-ft, nm, lottery");
      tables.insert(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (lottery_epochs > 0 || lottery_steps_option > 0) tables.insert("lottery");
  }
  auto want = [&](const char* t) { return tables.count(t) == 1; };

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
  std::fflush(stdout);

  // Gradient importance from 8 training batches of 256 (the first 2048 training images).
  auto loss_of = [&](nn::Module& m) {
    return [&train, &m](int64_t b) {
      const Tensor x = train.images.slice(0, b * 256, (b + 1) * 256);
      const std::vector<int64_t> y(train.labels.begin() + b * 256,
                                   train.labels.begin() + (b + 1) * 256);
      return cross_entropy(m(x), y);
    };
  };
  LayerScores taylor, fisher;
  if (want("oneshot") || want("criteria")) {
    taylor = importance_scores(*dense, kLayers, Importance::Taylor, 8, loss_of(*dense));
    fisher = importance_scores(*dense, kLayers, Importance::Fisher, 8, loss_of(*dense));
  }

  if (want("oneshot")) {
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
      std::fflush(stdout);
    }
  }

  // SGD fine-tuning (batch 64, momentum 0.9, shuffle seed 1): `steps` steps from the model as it
  // is, optionally pruning gradually along `cfg`; the masks stay fixed otherwise (the optimizer
  // re-zeroes masked weights after every step). With --cosine the learning rate decays from lr to 0.
  auto finetune = [&](nn::Module& m, int64_t n, const GradualPruning* cfg) {
    manual_seed(1);
    optim::SGD sgd(m.parameters(), {lr, 0.9f});
    data::DataLoader loader(train.images, train.labels, 64, true, 1);
    int64_t step = 0;
    m.train();
    while (step < n) {
      for (const data::Batch& b : loader) {
        if (step >= n) break;
        if (cfg != nullptr) gradual_prune_step(m, *cfg, step);
        if (cosine)
          sgd.set_lr(static_cast<float>(0.5 * lr * (1.0 + std::cos(std::acos(-1.0) * static_cast<double>(step) /
                                                                    static_cast<double>(n)))));
        const Tensor loss = cross_entropy(m(b.x), b.y);
        sgd.zero_grad();
        loss.backward();
        sgd.step();
        ++step;
      }
    }
    m.eval();
    return acc(m);
  };
  double dense_ft = -1;  // the dense model fine-tuned the same steps: the fair baseline, once
  auto dense_finetuned = [&] {
    if (dense_ft < 0) {
      auto m = clone(dense);
      dense_ft = finetune(*m, steps, nullptr);
    }
    return dense_ft;
  };
  const char* schedule = cosine ? "cosine decay to 0" : "constant";

  if (want("gradual") && steps > 0) {
    std::printf(
        "\ngradual magnitude pruning with the cubic schedule during fine-tuning: %lld SGD steps "
        "(batch 64,\n"
        "lr %g %s, momentum 0.9), pruning every %lld steps from 0 to the target over the first "
        "3/4, then\n"
        "fine-tuning with the final masks; the dense row fine-tunes the same steps without "
        "pruning:\n",
        static_cast<long long>(steps), lr, schedule,
        static_cast<long long>(std::max<int64_t>(1, steps / 40)));
    std::printf("  %8s %10s %10s\n", "sparsity", "global", "layerwise");
    auto run = [&](double s, bool global) {
      auto m = clone(dense);
      GradualPruning cfg;
      cfg.layers = kLayers;
      cfg.final_sparsity = s;
      cfg.begin_step = 0;
      cfg.every = std::max<int64_t>(1, steps / 40);
      cfg.end_step = std::max<int64_t>(cfg.every, (steps * 3 / 4) / cfg.every * cfg.every);
      cfg.global = global;
      const double a = finetune(*m, steps, &cfg);
      check(std::abs(model_sparsity(*m).weights - s) < 1e-3, "nibble prune-report",
            "the fine-tuned model is not at the target sparsity");
      return a;
    };
    // The pruned rows first, so a run cut short on a loaded machine still has them.
    for (const double s : sparsities) {
      const double g = run(s, true);
      if (scope == "both")
        std::printf("  %8.2f %10.4f %10.4f\n", s, g, run(s, false));
      else
        std::printf("  %8.2f %10.4f %10s\n", s, g, "-");
      std::fflush(stdout);
    }
    std::printf("  %8.2f %10.4f %10s   (dense)\n", 0.0, dense_finetuned(), "-");
    std::fflush(stdout);
  }

  if (want("criteria") && steps > 0) {
    std::printf(
        "\nimportance criteria at equal sparsity: global one-shot pruning by magnitude |w|, Taylor "
        "|w·g| and\n"
        "Fisher ½·mean(g²)·w² (8 batches of 256), then the same %lld SGD steps with the masks fixed "
        "(batch 64,\n"
        "lr %g %s, momentum 0.9); dense model fine-tuned the same steps: %.4f\n",
        static_cast<long long>(steps), lr, schedule, dense_finetuned());
    std::printf("  %8s %21s %21s %21s\n", "", "magnitude", "taylor", "fisher");
    std::printf("  %8s %10s %10s %10s %10s %10s %10s\n", "sparsity", "one shot", "tuned",
                "one shot", "tuned", "one shot", "tuned");
    for (const double s : sparsities) {
      std::printf("  %8.2f", s);
      for (const LayerScores* scores :
           std::vector<const LayerScores*>{nullptr, &taylor, &fisher}) {
        auto m = clone(dense);
        if (scores == nullptr)
          global_unstructured(*m, kLayers, s);
        else
          global_unstructured(*m, kLayers, s, *scores);
        const double before = acc(*m);
        const double after = finetune(*m, steps, nullptr);
        check(std::abs(model_sparsity(*m).weights - s) < 1e-3, "nibble prune-report",
              "the fine-tuned model lost its masks");
        std::printf(" %10.4f %10.4f", before, after);
        std::fflush(stdout);
      }
      std::printf("\n");
    }
  }

  const std::vector<double> kRemoved = {0.0, 0.25, 0.5, 0.75, 0.9};
  auto shrunk = [&](double r) {
    auto m = clone(dense);
    if (r > 0) {
      prune_neurons(*m, kLayers[0], kLayers[1], r, 1);
      prune_neurons(*m, kLayers[1], kLayers[2], r, 1);
    }
    return m;
  };
  const Tensor x = Tensor::rand({256, 1, 28, 28});
  if (want("units")) {
    std::printf(
        "\nunits physically removed from %s and %s (L1 norm; no fine-tuning), batch 256, median "
        "of %d:\n",
        kLayers[0].c_str(), kLayers[1].c_str(), repeats);
    std::printf("  %8s %10s %10s %10s %10s\n", "removed", "units", "params", "accuracy",
                "ms/batch");
    for (const double r : kRemoved) {
      auto m = shrunk(r);
      NoGradGuard no_grad;
      const double ms = median_ms([&] { (*m)(x); }, repeats);
      std::printf("  %8.2f %4lld x %-4lld %10lld %10.4f %10.3f\n", r,
                  static_cast<long long>(layer_weight(*m, kLayers[0], "prune-report").size(0)),
                  static_cast<long long>(layer_weight(*m, kLayers[1], "prune-report").size(0)),
                  static_cast<long long>(m->parameter_count()), acc(*m), ms);
      std::fflush(stdout);
    }
  }

  if (want("units-ft") && steps > 0) {
    std::printf(
        "\nthe physically smaller models fine-tuned: units removed from %s and %s (L1 norm), then "
        "%lld SGD\n"
        "steps (batch 64, lr %g %s, momentum 0.9); latency batch 256, median of %d:\n",
        kLayers[0].c_str(), kLayers[1].c_str(), static_cast<long long>(steps), lr, schedule,
        repeats);
    std::printf("  %8s %10s %10s %10s %10s %10s\n", "removed", "units", "params", "before",
                "tuned", "ms/batch");
    for (const double r : kRemoved) {
      auto m = shrunk(r);
      const double before = acc(*m);
      double ms = 0;
      {
        NoGradGuard no_grad;
        ms = median_ms([&] { (*m)(x); }, repeats);
      }
      const double after = r > 0 ? finetune(*m, steps, nullptr) : dense_finetuned();
      std::printf("  %8.2f %4lld x %-4lld %10lld %10.4f %10.4f %10.3f\n", r,
                  static_cast<long long>(layer_weight(*m, kLayers[0], "prune-report").size(0)),
                  static_cast<long long>(layer_weight(*m, kLayers[1], "prune-report").size(0)),
                  static_cast<long long>(m->parameter_count()), before, after, ms);
      std::fflush(stdout);
    }
  }

  if (want("nm") && steps > 0) {
    std::vector<std::string> nm_layers;  // the layers whose input axis splits into groups of 4
    for (const auto& name : kLayers) {
      const Tensor w = layer_weight(*dense, name, "prune-report");
      if (w.size(w.dim() - 1) % 4 == 0) nm_layers.push_back(name);
    }
    std::string names;
    for (const auto& n : nm_layers) names += (names.empty() ? "" : ", ") + n;
    std::printf(
        "\n2:4 sparsity (two non-zeros in every four along the input axis) on %s, against "
        "global\n"
        "unstructured magnitude pruning of the same layers to 50%%, one shot and after %lld SGD "
        "steps with the\n"
        "masks fixed (lr %g %s); dense model fine-tuned the same steps: %.4f\n",
        names.c_str(), static_cast<long long>(steps), lr, schedule, dense_finetuned());
    std::printf("  %-28s %10s %10s\n", "pattern", "one shot", "tuned");
    auto nm = clone(dense);
    for (const auto& n : nm_layers) nm_prune(*nm, n, 2, 4);
    const double nm_before = acc(*nm);
    std::printf("  %-28s %10.4f %10.4f\n", "2:4", nm_before, finetune(*nm, steps, nullptr));
    std::fflush(stdout);
    auto un = clone(dense);
    global_unstructured(*un, nm_layers, 0.5);
    const double un_before = acc(*un);
    std::printf("  %-28s %10.4f %10.4f\n", "unstructured 50% (global)", un_before,
                finetune(*un, steps, nullptr));
    std::fflush(stdout);
  }

  if (want("csr") && kind == "mlp") {
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

  if (want("lottery")) {
    const int64_t kStepsPerEpoch = (train.images.size(0) + 63) / 64;
    const int64_t lottery_steps = lottery_steps_option > 0
                                      ? lottery_steps_option
                                      : std::max<int64_t>(1, lottery_epochs) * kStepsPerEpoch;
    check(rewind_step < lottery_steps, "nibble prune-report",
          "--rewind-step " + std::to_string(rewind_step) + " is not below the " +
              std::to_string(lottery_steps) + " steps of a lottery training run",
          "rewind to an early iteration, e.g. --rewind-step 100");
    // `n` SGD steps (lr 0.01, momentum 0.9, batch 64, shuffle `seed`); when `snapshot` is given,
    // it receives a copy of the weights after `rewind_step` steps (the rewinding point θk).
    auto train_steps = [&](nn::Module& m, int64_t n, uint64_t seed,
                           std::shared_ptr<nn::Module>* snapshot) {
      optim::SGD sgd(m.parameters(), {0.01f, 0.9f});
      data::DataLoader loader(train.images, train.labels, 64, true, seed);
      m.train();
      int64_t step = 0;
      while (step < n) {
        for (const data::Batch& b : loader) {
          if (step >= n) break;
          if (snapshot != nullptr && step == rewind_step) *snapshot = m.clone();
          const Tensor loss = cross_entropy(m(b.x), b.y);
          sgd.zero_grad();
          loss.backward();
          sgd.step();
          ++step;
        }
      }
      m.eval();
      return acc(m);
    };
    // Copies `masks` onto `m`'s layers (set_mask zeroes the masked weights).
    auto apply_masks = [&](nn::Module& m, const std::map<std::string, Tensor>& masks) {
      for (const auto& [name, mask] : masks)
        layer_weight(m, name, "prune-report").set_mask(mask);
    };
    auto masks_of = [&](nn::Module& m) {
      std::map<std::string, Tensor> masks;
      for (const auto& name : kLayers) {
        const Tensor w = layer_weight(m, name, "prune-report");
        masks[name] = w.mask();
      }
      return masks;
    };

    if (!lottery_iterative) {
      manual_seed(100);
      auto init = make_model(kind);  // θ0
      auto trained = clone(init);
      const double dense_acc = train_steps(*trained, lottery_steps, 100, nullptr);
      std::printf(
          "\nlottery tickets, one shot: train from θ0 for %lld steps (dense: %.4f), prune "
          "globally by\n"
          "magnitude, train the sparse net %lld steps again from θ0 (rewound) or from a new "
          "random init\n"
          "(same masks); SGD lr 0.01 momentum 0.9 batch 64:\n",
          static_cast<long long>(lottery_steps), dense_acc, static_cast<long long>(lottery_steps));
      std::printf("  %8s %10s %10s\n", "sparsity", "rewound", "random");
      for (const double s : sparsities) {
        auto pruned = clone(trained);
        global_unstructured(*pruned, kLayers, s);
        auto ticket = clone(init);
        manual_seed(200 + static_cast<uint64_t>(s * 1000));
        auto fresh = make_model(kind);
        const auto masks = masks_of(*pruned);
        apply_masks(*ticket, masks);
        apply_masks(*fresh, masks);
        const double a = train_steps(*ticket, lottery_steps, 101, nullptr);
        const double b = train_steps(*fresh, lottery_steps, 101, nullptr);
        std::printf("  %8.2f %10.4f %10.4f\n", s, a, b);
        std::fflush(stdout);
      }
    } else {
      std::vector<double> rounds = sparsities;
      std::sort(rounds.begin(), rounds.end());
      std::printf(
          "\nlottery tickets, iterative (Frankle & Carbin): per seed i, θ0 from seed 100+i; train "
          "%lld steps\n"
          "(SGD lr 0.01 momentum 0.9 batch 64, shuffle 100+i); then one round per sparsity "
          "(%zu rounds):\n"
          "prune globally by magnitude to it (the earlier masks kept), rewind the survivors to "
          "θ%lld (the\n"
          "weights after %lld dense steps), train %lld steps again. 'random' trains a fresh init "
          "(seed\n"
          "300+i) with the same masks for the same steps. Mean ± half the spread (max - min) over "
          "%lld seeds:\n",
          static_cast<long long>(lottery_steps), rounds.size(), static_cast<long long>(rewind_step),
          static_cast<long long>(rewind_step), static_cast<long long>(lottery_steps),
          static_cast<long long>(seeds));
      std::vector<double> dense_accs;
      std::map<double, std::vector<double>> rewound, random;
      for (int64_t i = 0; i < seeds; ++i) {
        const uint64_t seed = 100 + static_cast<uint64_t>(i);
        manual_seed(seed);
        auto current = make_model(kind);
        std::shared_ptr<nn::Module> rewind_point = rewind_step == 0 ? clone(current) : nullptr;
        dense_accs.push_back(
            train_steps(*current, lottery_steps, seed, rewind_step > 0 ? &rewind_point : nullptr));
        std::printf("  seed %lld: dense %.4f", static_cast<long long>(seed), dense_accs.back());
        for (const double s : rounds) {
          global_unstructured(*current, kLayers, s);  // multiplies into the existing masks
          const auto masks = masks_of(*current);
          auto ticket = clone(rewind_point);
          apply_masks(*ticket, masks);
          const double a = train_steps(*ticket, lottery_steps, seed, nullptr);
          manual_seed(300 + static_cast<uint64_t>(i));
          auto fresh = make_model(kind);
          apply_masks(*fresh, masks);
          const double b = train_steps(*fresh, lottery_steps, seed, nullptr);
          rewound[s].push_back(a);
          random[s].push_back(b);
          std::printf("  |  %.2f: %.4f / %.4f", s, a, b);
          std::fflush(stdout);
          current = ticket;  // the next round prunes the retrained ticket
        }
        std::printf("\n");
      }
      auto summary = [](const std::vector<double>& v) {
        double mean = 0;
        for (const double a : v) mean += a / static_cast<double>(v.size());
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.4f ± %.4f", mean, (*hi - *lo) / 2);
        return std::string(buf);
      };
      std::printf("\n| sparsity | rewound to θ%lld | random re-init | per seed (rewound / random) |\n",
                  static_cast<long long>(rewind_step));
      std::printf("|---|---|---|---|\n");
      std::printf("| 0 (dense) | %s | – |", summary(dense_accs).c_str());
      for (const double a : dense_accs) std::printf(" %.4f", a);
      std::printf(" |\n");
      for (const double s : rounds) {
        std::printf("| %.2f | %s | %s |", s, summary(rewound[s]).c_str(), summary(random[s]).c_str());
        for (size_t k = 0; k < rewound[s].size(); ++k)
          std::printf(" %.4f/%.4f", rewound[s][k], random[s][k]);
        std::printf(" |\n");
      }
    }
  }
  return 0;
}

}  // namespace nibble::cli
