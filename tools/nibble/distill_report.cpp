// `nibble distill-report --teacher FILE`: module 05's measurement. A trained FashionCnn teacher
// (from `nibble train --model cnn`) and a small MLP student (784-H-10) on Fashion-MNIST: labels
// only vs knowledge distillation at several temperatures, same data, epochs and seeds; test
// accuracy mean and spread over the seeds; and the soft-label entropy and dark knowledge per T on
// the test set. The teacher's logits are computed once (it is frozen), so every run is cheap.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "compression/distillation.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/activation.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/linear.h"
#include "nn/models.h"
#include "nn/sequential.h"
#include "optim/adam.h"

namespace nibble::cli {

namespace {

const char* kHelp =
    "usage: nibble distill-report --teacher FILE [--teacher-model cnn|mlp] [--epochs N] [--limit N]\n"
    "                             [--seeds N] [--hidden H]\n"
    "                             [--alpha A] [--temperatures 1,2,4,8] [--fitnets W]\n"
    "  Trains a small MLP student (784-H-10, Adam lr 1e-3, batch 64) on the first N training images,\n"
    "  once on labels only (alpha = 0) and once per temperature with knowledge distillation from the\n"
    "  teacher in FILE (train it with `nibble train --model cnn --out FILE`), each with seeds\n"
    "  1..S; prints test accuracy mean, spread (max - min) and per seed, then the teacher's soft-label\n"
    "  entropy and dark knowledge (bits) per temperature on the 10000 test images.\n"
    "options:\n"
    "  --teacher FILE     teacher checkpoint (required)\n"
    "  --teacher-model M  cnn (FashionCnn, default) or mlp (FashionMlp 784-256-128-10)\n"
    "  --epochs N         student epochs (default 2)\n"
    "  --limit N          training images used (default 10000)\n"
    "  --seeds S          seeds per configuration (default 3)\n"
    "  --hidden H         student hidden width (default 16)\n"
    "  --alpha A          weight of the soft term for the KD runs (default 0.9)\n"
    "  --temperatures L   comma-separated temperatures (default 1,2,4,8)\n"
    "  --fitnets W        also run KD + hidden-state matching (FitNets) per temperature: W times the\n"
    "                     MSE between a learned projection (Linear H -> d) of the student's hidden\n"
    "                     layer and the teacher's penultimate features (mlp: fc2's output, d = 128;\n"
    "                     cnn: the pooled conv2 features, d = 784); 0 skips it (default 0)\n"
    "  --only-fitnets     with --fitnets, skip the labels-only and plain KD rows (same runs as without)\n";

std::vector<double> parse_list(const std::string& text) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t used = 0;
    double v = 0.0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == item.size() && used > 0 && std::isfinite(v) && v > 0.0, "nibble distill-report",
          "--temperatures: '" + item + "' is not a positive number", "e.g. --temperatures 1,2,4,8");
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Tensor logits_of(nn::Module& model, const Tensor& images) {
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += 1000)
    parts.push_back(model(images.slice(0, i, std::min(images.size(0), i + 1000))));
  return cat(parts, 0);
}

// The teacher's penultimate features (the layer FitNets matches), [N, d], in batches of 1000:
// FashionMlp: fc2's output (before its ReLU), d = 128; FashionCnn: the pooled conv2 features, d = 784.
Tensor teacher_features(nn::Module& model, const std::string& kind, const Tensor& images) {
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += 1000) {
    const Tensor b = images.slice(0, i, std::min(images.size(0), i + 1000));
    if (kind == "mlp") {
      auto& m = dynamic_cast<nn::FashionMlp&>(model);
      parts.push_back(m.fc2()(relu(m.fc1()(m.standardize(b.reshape({-1, 784}))))));
    } else {
      auto& m = dynamic_cast<nn::FashionCnn&>(model);
      const Tensor h = m.pool()(relu(m.conv1()(m.standardize(b))));
      parts.push_back(m.pool()(relu(m.conv2()(h))).flatten(1));
    }
  }
  return cat(parts, 0);
}

// One student run; alpha = 0 is labels only; fitnets > 0 adds fitnets · hidden_state_mse between
// a projection of the student's hidden layer (fc1's output) and the teacher's features (rows of
// teacher_hidden, width hidden_dim). Returns the test accuracy.
double run_student(const Tensor& x, const std::vector<int64_t>& y, const std::vector<float>& teacher_logits,
                   const Tensor& test_x, const std::vector<int64_t>& test_y, int64_t hidden, int64_t epochs,
                   uint64_t seed, double temperature, double alpha, double fitnets = 0.0,
                   const std::vector<float>* teacher_hidden = nullptr, int64_t hidden_dim = 0) {
  manual_seed(seed);
  nn::Sequential student({std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, hidden),
                          std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(hidden, 10)});
  std::vector<Tensor> params = student.parameters();
  std::shared_ptr<nn::Linear> projection;  // created after the student: its init never shifts the student's
  if (fitnets > 0) {
    projection = std::make_shared<nn::Linear>(hidden, hidden_dim);
    for (const Tensor& p : projection->parameters()) params.push_back(p);
  }
  optim::Adam opt(params, optim::AdamOptions{1e-3f});
  data::DataLoader loader(x, y, 64, /*shuffle=*/true, seed);
  for (int64_t e = 0; e < epochs; ++e) {
    data::Batch batch;
    int64_t k = 0;
    while (loader.next(batch)) {
      const int64_t b = batch.x.size(0);
      std::vector<float> t(static_cast<size_t>(b * 10));
      for (int64_t i = 0; i < b; ++i) {  // the teacher's logits of exactly these examples
        const int64_t idx = loader.order()[static_cast<size_t>(k * 64 + i)];
        check(batch.y[static_cast<size_t>(i)] == y[static_cast<size_t>(idx)], "nibble distill-report",
              "teacher logits out of step with the batch");  // the loader's order is what we think it is
        std::copy_n(teacher_logits.begin() + idx * 10, 10, t.begin() + i * 10);
      }
      Tensor loss;
      if (fitnets > 0) {
        std::vector<float> h(static_cast<size_t>(b * hidden_dim));
        for (int64_t i = 0; i < b; ++i) {
          const int64_t idx = loader.order()[static_cast<size_t>(k * 64 + i)];
          std::copy_n(teacher_hidden->begin() + idx * hidden_dim, hidden_dim, h.begin() + i * hidden_dim);
        }
        const Tensor h_s = student.get_submodule("1")(student.get_submodule("0")(batch.x));  // fc1's output
        const Tensor logits = student.get_submodule("3")(relu(h_s));
        loss = distillation_loss(logits, Tensor::from_vector(t, {b, 10}), batch.y, temperature, alpha) +
               hidden_state_mse(h_s, Tensor::from_vector(h, {b, hidden_dim}), projection.get()) * static_cast<float>(fitnets);
      } else {
        loss = distillation_loss(student(batch.x), Tensor::from_vector(t, {b, 10}), batch.y, temperature,
                                 alpha);
      }
      opt.zero_grad();
      loss.backward();
      opt.step();
      ++k;
    }
  }
  return nn::accuracy(student, test_x, test_y);
}

}  // namespace

int distill_report(const Args& args) {
  const ArgParser opt("nibble distill-report", args,
                      {"teacher", "teacher-model", "epochs", "limit", "seeds", "hidden", "alpha", "temperatures",
                       "fitnets"},
                      {"only-fitnets"});
  if (opt.help()) {
    std::printf("%s", kHelp);
    return 0;
  }
  const std::string path = opt.get("teacher", "");
  check(!path.empty(), "nibble distill-report", "needs --teacher FILE",
        "train one first: nibble train --model cnn --epochs 2 --out fashion_cnn.ckpt");
  const int64_t epochs = opt.get_int("epochs", 2, 1, 1000);
  const int64_t limit = opt.get_int("limit", 10000, 1, 60000);
  const int64_t seeds = opt.get_int("seeds", 3, 1, 100);
  const int64_t hidden = opt.get_int("hidden", 16, 1, 4096);
  const double alpha = opt.get_double("alpha", 0.9, ArgParser::in_range(0.0, 1.0));
  const std::vector<double> temps = parse_list(opt.get("temperatures", "1,2,4,8"));
  const double fitnets = opt.get_double("fitnets", 0.0, [](double w) {
    return w >= 0 && std::isfinite(w) ? std::string() : std::string("must be a finite weight >= 0");
  });

  const std::string kind = opt.get("teacher-model", "cnn");
  check(kind == "cnn" || kind == "mlp", "nibble distill-report", "--teacher-model '" + kind + "' is unknown",
        "use --teacher-model cnn or mlp (the model `nibble train --model` saved)");
  std::shared_ptr<nn::Module> teacher_ptr;
  if (kind == "cnn")
    teacher_ptr = std::make_shared<nn::FashionCnn>();
  else
    teacher_ptr = std::make_shared<nn::FashionMlp>();
  nn::Module& teacher = *teacher_ptr;
  nn::load(teacher, path);
  teacher.eval();
  const data::FashionMnist train = data::load_fashion_mnist("train");
  const data::FashionMnist test = data::load_fashion_mnist("test");
  const Tensor raw_x = train.images.slice(0, 0, limit).contiguous();
  const std::vector<int64_t> y(train.labels.begin(), train.labels.begin() + limit);
  // The student standardises outside the model; the teacher does it inside.
  const Tensor x = (raw_x - nn::kFashionMnistMean) / nn::kFashionMnistStd;
  const Tensor test_x = (test.images - nn::kFashionMnistMean) / nn::kFashionMnistStd;
  const std::vector<float> t_logits = logits_of(teacher, raw_x).contiguous().to_vector();
  const Tensor test_logits = logits_of(teacher, test.images);
  std::vector<float> t_hidden;
  int64_t hidden_dim = 0;
  if (fitnets > 0) {
    const Tensor h = teacher_features(teacher, kind, raw_x);
    hidden_dim = h.size(1);
    t_hidden = h.contiguous().to_vector();
  }
  std::printf("teacher %s (%s): test accuracy %.4f, %lld parameters\n", teacher.name().c_str(), path.c_str(),
              nn::accuracy(teacher, test.images, test.labels), static_cast<long long>(teacher.parameter_count()));
  std::printf("student MLP 784-%lld-10: %lld parameters; %lld training images, %lld epochs, Adam 1e-3, batch 64\n\n",
              static_cast<long long>(hidden), static_cast<long long>(784 * hidden + hidden + hidden * 10 + 10),
              static_cast<long long>(limit), static_cast<long long>(epochs));

  std::printf("| training | test accuracy, mean of %lld seeds | spread (max - min) | per seed |\n",
              static_cast<long long>(seeds));
  std::printf("|---|---|---|---|\n");
  struct Config {
    std::string name;
    double temperature, alpha, fitnets;
  };
  std::vector<Config> configs = {{"labels only", 1.0, 0.0, 0.0}};
  const bool only_fitnets = opt.flag("only-fitnets") && fitnets > 0;
  if (only_fitnets) configs.clear();
  for (const double T : temps) {
    if (only_fitnets) break;
    char name[96];
    std::snprintf(name, sizeof name, "KD T = %g, alpha = %g", T, alpha);
    configs.push_back({name, T, alpha, 0.0});
  }
  if (fitnets > 0)
    for (const double T : temps) {
      char name[96];
      std::snprintf(name, sizeof name, "KD T = %g, alpha = %g + FitNets (weight %g)", T, alpha, fitnets);
      configs.push_back({name, T, alpha, fitnets});
    }
  for (const Config& c : configs) {
    const std::string& name = c.name;
    std::vector<double> acc;
    for (int64_t s = 1; s <= seeds; ++s)
      acc.push_back(run_student(x, y, t_logits, test_x, test.labels, hidden, epochs, static_cast<uint64_t>(s),
                                c.temperature, c.alpha, c.fitnets, &t_hidden, hidden_dim));
    double mean = 0.0;
    for (const double a : acc) mean += a / static_cast<double>(acc.size());
    const auto [lo, hi] = std::minmax_element(acc.begin(), acc.end());
    std::string per;
    for (const double a : acc) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%s%.4f", per.empty() ? "" : " ", a);
      per += buf;
    }
    std::printf("| %s | %.4f | %.4f | %s |\n", name.c_str(), mean, *hi - *lo, per.c_str());
    std::fflush(stdout);
  }

  std::printf("\nsoft labels of the teacher on the %lld test images (bits; log2 10 = %.4f):\n\n",
              static_cast<long long>(test.images.size(0)), std::log2(10.0));
  std::printf("| T | mean entropy H(softmax(t/T)) | dark knowledge (1 - p_max)·H(rest) |\n|---|---|---|\n");
  for (const double T : temps)
    std::printf("| %g | %.4f | %.4f |\n", T, soft_label_entropy_bits(test_logits, T), dark_knowledge_bits(test_logits, T));
  return 0;
}

}  // namespace nibble::cli
