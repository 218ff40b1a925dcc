// `nibble train`: train the Fashion-MNIST MLP or CNN with SGD + momentum, report test accuracy
// per epoch, save a checkpoint, prove it reloads to the same accuracy, and show the model
// converted to int8 (int8_report.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "args.h"
#include "commands.h"
#include "int8_report.h"
#include "core/io/atomic_file.h"
#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/models.h"
#include "optim/sgd.h"
#include "progress.h"

namespace nibble::cli {

namespace {

const char* kTrainSummary =
    "Trains a Fashion-MNIST model with SGD (momentum 0.9), prints test accuracy after every\n"
    "epoch, saves the weights to FILE and reloads them to check, then converts the model to\n"
    "int8 and prints its accuracy and speed beside the float one. Every option is checked\n"
    "before the data is loaded; a loss that becomes NaN or infinite stops training (no checkpoint).";

std::shared_ptr<nn::Module> make_model(const std::string& kind) {
  if (kind == "mlp") return std::make_shared<nn::FashionMlp>();
  if (kind == "cnn") return std::make_shared<nn::FashionCnn>();
  if (kind == "lenet300") return std::make_shared<nn::LeNet300>();
  fail("nibble train", "unknown model '" + kind + "'", "use --model mlp, cnn or lenet300");
}

}  // namespace

int train(const Args& args) {
  const ArgParser opt("nibble train", args, kTrainSummary,
                      {{"model", "mlp|cnn|lenet300", "the model (default mlp; lenet300 = LeNet-300-100)"},
                       {"epochs", "N", "passes over the training set, 1..100000 (default 5)"},
                       {"lr", "X", "learning rate, in (0, 10] (default 0.01)"},
                       {"batch", "N", "images per step, 1..1048576 (default 64)"},
                       {"seed", "N", "random seed, >= 0 (default 0)"},
                       {"limit", "N", "train on the first N training images only (quick runs)"},
                       {"out", "FILE", "checkpoint to write (default fashion_<model>.ckpt)"}});
  if (opt.help()) {
    std::printf("%s", opt.help_text().c_str());
    return 0;
  }
  // Everything is validated before the data is loaded: a bad option never costs a training run.
  const std::string kind = opt.get("model", "mlp");
  make_model(kind);  // throws for an unknown --model
  const int epochs = static_cast<int>(opt.get_int("epochs", 5, 1, 100000));
  const float lr = static_cast<float>(opt.get_double("lr", 0.01, [](double x) {
    return x > 0 && x <= 10 ? std::string() : std::string("must be in (0, 10]");
  }));
  const int64_t batch = opt.get_int("batch", 64, 1, 1 << 20);
  const uint64_t seed = static_cast<uint64_t>(opt.get_int("seed", 0, 0, std::numeric_limits<int64_t>::max()));
  const std::string out = opt.get("out", "fashion_" + kind + ".ckpt");
  io::check_writable(out, "nibble train");  // --out, before hours of training
  const int64_t limit_option = opt.get_int("limit", std::numeric_limits<int64_t>::max(), 1,
                                           std::numeric_limits<int64_t>::max());

  data::FashionMnist train_set = data::load_fashion_mnist("train");
  const data::FashionMnist test_set = data::load_fashion_mnist("test");
  const int64_t limit = std::min<int64_t>(limit_option, train_set.images.size(0));
  if (limit < train_set.images.size(0)) {
    train_set.images = train_set.images.slice(0, 0, limit).contiguous();
    train_set.labels.resize(static_cast<size_t>(limit));
  }

  manual_seed(seed);
  std::shared_ptr<nn::Module> model = make_model(kind);
  optim::SGD sgd(model->parameters(), {lr, /*momentum=*/0.9f});
  data::DataLoader loader(train_set.images, train_set.labels, batch, /*shuffle=*/true, seed);
  std::printf("training %s (%lld parameters) on %lld images, batch %lld, SGD lr %g momentum 0.9\n",
              model->name().c_str(), static_cast<long long>(model->parameter_count()),
              static_cast<long long>(loader.num_examples()), static_cast<long long>(batch), lr);

  double test_accuracy = 0.0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    model->train();
    ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs), loader.num_batches());
    for (const data::Batch& b : loader) {
      const Tensor loss = cross_entropy((*model)(b.x), b.y);
      const float loss_value = loss.item();
      // Stop before a NaN reaches the weights (and a checkpoint): name the cause.
      if (!std::isfinite(loss_value)) {
        char lr_text[32];
        std::snprintf(lr_text, sizeof lr_text, "%g", lr);
        fail("nibble train",
             std::string("the loss became ") + (std::isnan(loss_value) ? "NaN" : "infinite") +
                 " in epoch " + std::to_string(epoch) + " (no checkpoint written)",
             std::string("the learning rate ") + lr_text + " is probably too large; try --lr 0.01");
      }
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      bar.update(b.x.size(0), loss_value);
    }
    test_accuracy = nn::accuracy(*model, test_set.images, test_set.labels);
    char extra[64];
    std::snprintf(extra, sizeof extra, "  test accuracy %.4f", test_accuracy);
    bar.finish(extra);
  }

  nn::save(*model, out);
  std::shared_ptr<nn::Module> reloaded = make_model(kind);
  nn::load(*reloaded, out);
  const double reloaded_accuracy = nn::accuracy(*reloaded, test_set.images, test_set.labels);
  std::printf("saved %s; reloaded test accuracy %.4f (%s)\n", out.c_str(), reloaded_accuracy,
              reloaded_accuracy == test_accuracy ? "identical" : "DIFFERS");
  print_int8_report(*reloaded, train_set, test_set);
  return reloaded_accuracy == test_accuracy ? 0 : 1;
}

}  // namespace nibble::cli
