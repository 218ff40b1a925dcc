// Module 06's two programs, on the student's (or the reference) SVD:
//   `nibble lowrank-image IMAGE [--ranks 5,20,50] [--out DIR]`: compress a photo channel by channel,
//     write one PNG per rank and print PSNR and bytes per rank.
//   `nibble lowrank-report --model mlp|cnn --checkpoint FILE [--ranks 8,16,32,64]`: the spectra of a
//     trained Fashion-MNIST model's layers, test accuracy with one layer (or all) truncated, and the
//     latency of the factored layers against the dense ones; with --finetune-steps N also the accuracy
//     of layers factored by model surgery (MLP: fc1, fc1+fc2; CNN: conv2, fc) before and after N SGD steps.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "compression/lowrank.h"
#include "compression/lowrank_image.h"
#include "compression/lowrank_layers.h"
#include "core/autograd.h"
#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "core/io/image.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/models.h"
#include "optim/sgd.h"

namespace nibble::cli {

namespace {

const char* kHelp =
    "usage: nibble lowrank-image IMAGE [--ranks 5,20,50] [--out DIR]\n"
    "  Splits a photo (PNG/JPEG/BMP) into its colour channels, keeps the k largest singular values of\n"
    "  each channel (one SVD per channel, module 06), writes DIR/rank_<k>.png (default DIR:\n"
    "  lowrank_out) and prints, per rank, the PSNR against the original and the bytes of the float32\n"
    "  factors U_k, S_k, Vh_k beside the raw 8-bit pixels. Sample photos: Debian's python3-sklearn\n"
    "  ships .../sklearn/datasets/images/china.jpg and flower.jpg.\n";

std::vector<int64_t> parse_ranks(const std::string& text, const std::string& command) {
  std::vector<int64_t> ranks;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t used = 0;
    long long k = 0;
    try {
      k = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(!item.empty() && used == item.size(), command,
          "--ranks expects whole numbers separated by commas, got '" + text + "'", "e.g. --ranks 5,20,50");
    ranks.push_back(k);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ranks;
}

}  // namespace

int lowrank_image(const Args& args) {
  const ArgParser opt("nibble lowrank-image", args, {"ranks", "out"}, {}, 1);
  if (opt.help()) {
    std::printf("%s", kHelp);
    return 0;
  }
  check(opt.positional().size() == 1, "nibble lowrank-image", "needs the path of an image",
        "run `nibble lowrank-image --help`");
  const std::string path = opt.positional()[0];
  const std::vector<int64_t> ranks = parse_ranks(opt.get("ranks", "5,20,50"), "nibble lowrank-image");
  const std::string out = opt.get("out", "lowrank_out");

  const Tensor image = io::load_image(path);
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  std::printf("%s: %lld channel(s), %lld x %lld pixels, %lld bytes as raw 8-bit pixels\n", path.c_str(),
              static_cast<long long>(C), static_cast<long long>(H), static_cast<long long>(W),
              static_cast<long long>(C * H * W));
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<RankedImage> results = compress_image_by_rank(image, ranks);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::filesystem::create_directories(out);
  std::printf("%6s  %9s  %14s  %12s  %s\n", "rank", "PSNR (dB)", "factor bytes", "of raw 8-bit", "file");
  for (const RankedImage& r : results) {
    const std::string file = out + "/rank_" + std::to_string(r.rank) + ".png";
    io::save_png(file, r.image);
    std::printf("%6lld  %9.2f  %14lld  %11.1f%%  %s\n", static_cast<long long>(r.rank), r.psnr_db,
                static_cast<long long>(r.factor_bytes), 100.0 * double(r.factor_bytes) / double(C * H * W),
                file.c_str());
  }
  std::printf("(%lld SVDs of [%lld, %lld] and the reconstructions: %.2f s)\n", static_cast<long long>(C),
              static_cast<long long>(H), static_cast<long long>(W), seconds);
  return 0;
}

namespace {

const char* kReportHelp =
    "usage: nibble lowrank-report --model mlp|cnn --checkpoint FILE [--ranks 8,16,32,64] [--repeats N]\n"
    "                             [--finetune-steps N] [--finetune-lr X]\n"
    "  For a trained Fashion-MNIST model (`nibble train --model mlp --out FILE` makes one): the spectrum\n"
    "  of every Linear/Conv2d weight (conv kernels as [OC, IC*KH*KW]) with the ranks that keep 90% and\n"
    "  99% of the energy; the test accuracy with ONE layer truncated to each rank (the others dense)\n"
    "  and with ALL layers at 90%/99% energy; parameters; and the batch-256 latency of each layer\n"
    "  factored (LowRankLinear / LowRankConv2d) against the dense layer (median of N runs).\n"
    "  In those tables accuracy is measured by writing W_k into the dense layer: the same function\n"
    "  as the factored layer up to float rounding, without fine-tuning.\n"
    "  --finetune-steps N (default 300, 0 = off): for each rank, a copy of the model with layers\n"
    "  replaced by model surgery -- MLP: fc1, then fc1 and fc2 (LowRankLinear, factorize_linear);\n"
    "  CNN: conv2 (LowRankConv2d, factorize_conv), then fc (factorize_linear) -- its test accuracy\n"
    "  before and after N SGD steps (momentum 0.9, lr --finetune-lr, default 0.01, batch 64, seed 0,\n"
    "  shuffled training set), beside the dense model fine-tuned the same N steps (baseline). Ranks\n"
    "  larger than a layer allows are skipped.\n";

struct Layer {
  std::string name;
  Tensor weight;       // the live parameter (written in place for the accuracy runs)
  Shape input;         // batch-256 input of the layer, for the latency runs
  nn::Linear* linear;  // one of the two is set; the model (kept alive by the caller) owns the layer
  nn::Conv2d* conv;
  Tensor matrix() const { return weight.reshape({weight.size(0), weight.numel() / weight.size(0)}); }
};

double median_ms(const std::function<void()>& fn, int repeats) {
  std::vector<double> t;
  fn();  // warm-up
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void write_weight(Tensor& weight, const Tensor& value) {
  const Tensor c = value.contiguous();
  std::copy(c.data(), c.data() + c.numel(), weight.data());
}

// Turns the tape back on inside the report's NoGradGuard (fine-tuning needs gradients).
class GradOn {
 public:
  GradOn() : previous_(grad_enabled()) { set_grad_enabled(true); }
  ~GradOn() { set_grad_enabled(previous_); }
  GradOn(const GradOn&) = delete;
  GradOn& operator=(const GradOn&) = delete;

 private:
  bool previous_;
};

// N SGD steps (momentum 0.9, batch 64) over the shuffled training set, the same seed for every
// model so they all see the same batches. The optimizer is built here, after any surgery.
void finetune(nn::Module& model, const data::FashionMnist& train_set, int64_t steps, float lr) {
  GradOn grad_on;
  optim::SgdOptions o;
  o.lr = lr;
  o.momentum = 0.9f;
  optim::SGD sgd(model.parameters(), o);
  data::DataLoader loader(train_set.images, train_set.labels, 64, /*shuffle=*/true, /*seed=*/0);
  model.train();
  data::Batch b;
  for (int64_t step = 0; step < steps; ++step) {
    if (!loader.next(b)) check(loader.next(b), "nibble lowrank-report", "the training set gave no batch");
    const Tensor loss = cross_entropy(model(b.x), b.y);
    check(std::isfinite(loss.item()), "nibble lowrank-report",
          "the fine-tuning loss became NaN or infinite at step " + std::to_string(step), "try a smaller --finetune-lr");
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  }
  model.eval();
}

// The largest rank layer `name` of `model` can be factored to: min(out, in) for a Linear,
// min(OC, IC·KH·KW) for a Conv2d.
int64_t max_rank(const nn::Module& model, const std::string& name) {
  const nn::Module& m = model.get_submodule(name);
  if (const auto* l = dynamic_cast<const nn::Linear*>(&m)) return std::min(l->in_features, l->out_features);
  const auto& c = dynamic_cast<const nn::Conv2d&>(m);
  return std::min(c.out_channels, c.in_channels * c.kernel_size.h * c.kernel_size.w);
}

// Factors layer `name` by model surgery: factorize_conv for a Conv2d, factorize_linear otherwise.
void factorize(nn::Module& model, const std::string& name, int64_t rank) {
  if (dynamic_cast<const nn::Conv2d*>(&model.get_submodule(name)) != nullptr)
    factorize_conv(model, name, rank);
  else
    factorize_linear(model, name, rank);
}

// `groups`: the sets of layers factored together, e.g. {{"fc1"}, {"fc1", "fc2"}}. Every model is a
// clone of `loaded` (which stays dense and untouched).
void finetune_table(const nn::Module& loaded, const std::vector<std::vector<std::string>>& groups,
                    const std::vector<int64_t>& ranks, int64_t steps, float lr, const data::FashionMnist& test) {
  const data::FashionMnist train_set = data::load_fashion_mnist("train");
  std::printf("\nfactored by model surgery (LowRankLinear / LowRankConv2d), then fine-tuned %lld SGD steps (lr %g,\n"
              "momentum 0.9, batch 64, seed 0):\n",
              static_cast<long long>(steps), lr);
  std::printf("  %-8s %5s %10s %9s %9s\n", "layers", "k", "params", "before", "after");
  {
    const std::shared_ptr<nn::Module> dense = loaded.clone();
    const double before = nn::accuracy(*dense, test.images, test.labels);
    finetune(*dense, train_set, steps, lr);
    const double after = nn::accuracy(*dense, test.images, test.labels);
    std::printf("  %-8s %5s %10lld %9.4f %9.4f\n", "dense", "-", static_cast<long long>(dense->parameter_count()),
                before, after);
  }
  for (const std::vector<std::string>& group : groups) {
    std::string label;
    for (const std::string& g : group) label += (label.empty() ? "" : "+") + g;
    for (const int64_t k : ranks) {
      bool fits = true;
      for (const std::string& g : group) fits = fits && k <= max_rank(loaded, g);
      if (!fits) continue;
      const std::shared_ptr<nn::Module> model = loaded.clone();
      for (const std::string& g : group) factorize(*model, g, k);
      const double before = nn::accuracy(*model, test.images, test.labels);
      finetune(*model, train_set, steps, lr);
      const double after = nn::accuracy(*model, test.images, test.labels);
      std::printf("  %-8s %5lld %10lld %9.4f %9.4f\n", label.c_str(), static_cast<long long>(k),
                  static_cast<long long>(model->parameter_count()), before, after);
    }
  }
  std::printf("(params: all of the model's, biases included; the dense row is the same N steps on the unfactored\n"
              " model, the fair baseline: fine-tuning alone also moves the accuracy)\n");
}

}  // namespace

int lowrank_report(const Args& args) {
  const ArgParser opt("nibble lowrank-report", args,
                      {"model", "checkpoint", "ranks", "repeats", "finetune-steps", "finetune-lr"});
  if (opt.help()) {
    std::printf("%s", kReportHelp);
    return 0;
  }
  const std::string kind = opt.get("model", "mlp"), path = opt.get("checkpoint", "");
  check(kind == "mlp" || kind == "cnn", "nibble lowrank-report", "unknown model '" + kind + "'", "use --model mlp or cnn");
  check(!path.empty(), "nibble lowrank-report", "needs --checkpoint FILE",
        "train one first: nibble train --model " + kind + " --out fashion_" + kind + ".ckpt");
  const std::vector<int64_t> ranks = parse_ranks(opt.get("ranks", "8,16,32,64"), "nibble lowrank-report");
  const int repeats = static_cast<int>(opt.get_int("repeats", 20));
  check(repeats > 0, "nibble lowrank-report", "--repeats must be positive");
  const int64_t finetune_steps = opt.get_int("finetune-steps", 300, 0, 10000000);  // 0 = off
  const float finetune_lr = static_cast<float>(opt.get_double("finetune-lr", 0.01, ArgParser::in_range(1e-9, 10)));

  std::shared_ptr<nn::Module> model;
  std::vector<Layer> layers;
  if (kind == "mlp") {
    auto m = std::make_shared<nn::FashionMlp>();
    nn::load(*m, path);
    layers = {{"fc1", m->fc1().weight, {256, 784}, &m->fc1(), nullptr},
              {"fc2", m->fc2().weight, {256, 256}, &m->fc2(), nullptr},
              {"fc3", m->fc3().weight, {256, 128}, &m->fc3(), nullptr}};
    model = m;
  } else {
    auto m = std::make_shared<nn::FashionCnn>();
    nn::load(*m, path);
    layers = {{"conv1", m->conv1().weight, {256, 1, 28, 28}, nullptr, &m->conv1()},
              {"conv2", m->conv2().weight, {256, 8, 14, 14}, nullptr, &m->conv2()},
              {"fc", m->fc().weight, {256, 784}, &m->fc(), nullptr}};
    model = m;
  }
  const data::FashionMnist test = data::load_fashion_mnist("test");
  NoGradGuard no_grad;
  const double base = nn::accuracy(*model, test.images, test.labels);
  std::printf("%s from %s: test accuracy %.4f, %lld parameters\n\n", model->name().c_str(), path.c_str(), base,
              static_cast<long long>(model->parameter_count()));

  std::printf("spectra (weights as matrices [out, in]):\n");
  std::printf("  %-6s %-11s %9s %9s %9s %9s %11s\n", "layer", "matrix", "sigma_1", "sigma_min", "k(90%)", "k(99%)",
              "rel.err k=8");
  std::vector<Svd> svds;
  for (const Layer& l : layers) {
    const Tensor w = l.matrix();
    svds.push_back(svd(w));
    const Svd& s = svds.back();
    const int64_t p = s.S.size(0);
    double total = 0.0, tail8 = 0.0;
    for (int64_t i = 0; i < p; ++i) {
      const double x = s.S.at({i});
      total += x * x;
      if (i >= 8) tail8 += x * x;
    }
    std::printf("  %-6s %-11s %9.4f %9.2e %5lld/%-3lld %5lld/%-3lld %11.3f\n", l.name.c_str(), w.shape_str().c_str(),
                s.S.at({0}), s.S.at({p - 1}), static_cast<long long>(rank_for_energy(s.S, 0.9)),
                static_cast<long long>(p), static_cast<long long>(rank_for_energy(s.S, 0.99)),
                static_cast<long long>(p), std::sqrt(tail8 / total));
  }

  std::printf("\none layer truncated to rank k, the others dense (no fine-tuning):\n");
  std::printf("  %-6s %5s %9s %12s %12s %10s %10s\n", "layer", "k", "accuracy", "params", "dense params",
              "ms (k)", "ms dense");
  for (size_t li = 0; li < layers.size(); ++li) {
    Layer& l = layers[li];
    const Tensor original = l.weight.clone();
    const Tensor x = Tensor::randn(l.input);
    const double dense_ms = l.linear ? median_ms([&] { l.linear->forward(x); }, repeats)
                                     : median_ms([&] { l.conv->forward(x); }, repeats);
    const int64_t m = l.matrix().size(0), n = l.matrix().size(1);
    for (const int64_t k : ranks) {
      if (k > std::min(m, n)) continue;
      write_weight(l.weight, low_rank_approx(svds[li], k).reshape(l.weight.shape()));
      const double acc = nn::accuracy(*model, test.images, test.labels);
      write_weight(l.weight, original);
      double ms = 0.0;
      if (l.linear) {
        auto f = nn::LowRankLinear::from_linear(*l.linear, k);
        ms = median_ms([&] { f->forward(x); }, repeats);
      } else {
        auto f = nn::LowRankConv2d::from_conv(*l.conv, k);
        ms = median_ms([&] { f->forward(x); }, repeats);
      }
      std::printf("  %-6s %5lld %9.4f %12lld %12lld %10.3f %10.3f\n", l.name.c_str(), static_cast<long long>(k), acc,
                  static_cast<long long>(k * (m + n)), static_cast<long long>(m * n), ms, dense_ms);
    }
  }

  std::printf("\nall layers at an energy fraction (no fine-tuning):\n");
  std::printf("  %-7s %-22s %9s %18s\n", "energy", "ranks", "accuracy", "weights (dense)");
  for (const double e : {0.9, 0.99}) {
    std::vector<Tensor> originals;
    std::string ks;
    int64_t kept = 0, dense = 0;
    for (size_t li = 0; li < layers.size(); ++li) {
      Layer& l = layers[li];
      originals.push_back(l.weight.clone());
      const int64_t k = rank_for_energy(svds[li].S, e);
      const int64_t m = l.matrix().size(0), n = l.matrix().size(1);
      kept += std::min(k * (m + n), m * n);
      dense += m * n;
      ks += (ks.empty() ? "" : ",") + std::to_string(k);
      write_weight(l.weight, low_rank_approx(svds[li], k).reshape(l.weight.shape()));
    }
    const double acc = nn::accuracy(*model, test.images, test.labels);
    for (size_t li = 0; li < layers.size(); ++li) write_weight(layers[li].weight, originals[li]);
    std::printf("  %-7.2f %-22s %9.4f %9lld (%lld)\n", e, ks.c_str(), acc, static_cast<long long>(kept),
                static_cast<long long>(dense));
  }
  std::printf("(weights counted as k(m+n) per factored layer, m*n when that is smaller; biases unchanged)\n");
  if (finetune_steps > 0) {
    const std::vector<std::vector<std::string>> groups =
        kind == "mlp" ? std::vector<std::vector<std::string>>{{"fc1"}, {"fc1", "fc2"}}
                      : std::vector<std::vector<std::string>>{{"conv2"}, {"fc"}};
    finetune_table(*model, groups, ranks, finetune_steps, finetune_lr, test);
  }
  return 0;
}

}  // namespace nibble::cli
