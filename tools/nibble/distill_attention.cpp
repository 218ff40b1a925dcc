// `nibble distill-attention`: module 05's transformer measurement (issue 13). Fashion-MNIST read as
// a sequence of 28 tokens (one per image row, 28 pixels each) by a small transformer classifier:
// embed each row (Linear 28 -> D) + a learned position embedding, pre-norm TransformerBlocks
// (nn/transformer.h), a final LayerNorm, the mean over the tokens, Linear D -> 10.
// A teacher (wide, deep) is trained first on labels; then a student (narrow, shallow, the same
// number of heads) is trained with the Distiller three ways, same seeds, data and epochs:
// labels only, KD (soft targets), and KD + attention transfer (attention_kl between the student's
// block and the teacher's last block, per row of every head). Mean and spread over the seeds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "compression/distillation.h"
#include "core/autograd.h"
#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/evaluate.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/models.h"
#include "nn/sequential.h"
#include "nn/transformer.h"
#include "optim/adam.h"

namespace nibble::cli {

namespace {

// Images [B, 1, 28, 28] (or [B, 28, 28]) -> logits [B, 10]; rows are the tokens.
class RowTransformer : public nn::Module {
 public:
  RowTransformer(int64_t dim, int64_t heads, int64_t depth) : dim_(dim), heads_(heads), depth_(depth) {
    register_module("embed", std::make_shared<nn::Linear>(28, dim));
    pos_ = register_parameter("pos", Tensor::randn({28, dim}, 0.0f, 0.02f));
    std::vector<std::shared_ptr<nn::Module>> blocks;
    for (int64_t i = 0; i < depth; ++i) blocks.push_back(std::make_shared<nn::TransformerBlock>(dim, heads));
    register_module("blocks", std::make_shared<nn::Sequential>(blocks));
    register_module("ln", std::make_shared<nn::LayerNorm>(Shape{dim}));
    register_module("head", std::make_shared<nn::Linear>(dim, 10));
  }
  Tensor forward(const Tensor& images) override {
    const Tensor rows = ((images - nn::kFashionMnistMean) / nn::kFashionMnistStd).reshape({-1, 28, 28});
    Tensor h = child("embed")(rows) + pos_;  // [B, 28, D]
    h = child("ln")(child("blocks")(h));
    return child("head")(mean(h, 1));  // mean over the 28 tokens -> [B, D] -> [B, 10]
  }
  std::string name() const override { return "RowTransformer"; }

 protected:
  std::shared_ptr<nn::Module> make_like() const override {
    return std::make_shared<RowTransformer>(dim_, heads_, depth_);
  }

 private:
  int64_t dim_, heads_, depth_;
  Tensor pos_;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const char* kSummary =
    "Module 05, attention transfer on a transformer: Fashion-MNIST images as 28 tokens (one per row).\n"
    "Trains a transformer teacher on labels (Adam 1e-3, batch 64), then a smaller transformer student\n"
    "with the Distiller: labels only, KD, and KD + attention KL (student block 0 vs the teacher's last\n"
    "block, per row of every head), same seeds, data and epochs; prints test accuracy mean, spread\n"
    "(max - min) and per seed.";

}  // namespace

int distill_attention(const Args& args) {
  const ArgParser opt("nibble distill-attention", args, kSummary,
                      {{"limit", "N", "training images used (default 10000)"},
                       {"teacher-epochs", "N", "teacher epochs (default 3)"},
                       {"epochs", "N", "student epochs (default 3)"},
                       {"seeds", "S", "student seeds 1..S (default 3)"},
                       {"teacher-dim", "D", "teacher width (default 64)"},
                       {"teacher-depth", "L", "teacher blocks (default 2)"},
                       {"student-dim", "D", "student width (default 16)"},
                       {"heads", "H", "attention heads of both (default 4)"},
                       {"temperature", "T", "KD temperature (default 2)"},
                       {"alpha", "A", "weight of the soft term (default 0.5)"},
                       {"attention-weight", "W", "weight of the attention KL term (default 1)"},
                       {"quiet", "", "no progress output from the Distiller"}});
  if (opt.help()) {
    std::printf("%s", opt.help_text().c_str());
    return 0;
  }
  const int64_t limit = opt.get_int("limit", 10000, 1, 60000);
  const int64_t teacher_epochs = opt.get_int("teacher-epochs", 3, 1, 1000);
  const int64_t epochs = opt.get_int("epochs", 3, 1, 1000);
  const int64_t seeds = opt.get_int("seeds", 3, 1, 100);
  const int64_t t_dim = opt.get_int("teacher-dim", 64, 1, 4096);
  const int64_t t_depth = opt.get_int("teacher-depth", 2, 1, 64);
  const int64_t s_dim = opt.get_int("student-dim", 16, 1, 4096);
  const int64_t heads = opt.get_int("heads", 4, 1, 64);
  check(t_dim % heads == 0 && s_dim % heads == 0, "nibble distill-attention",
        "--teacher-dim " + std::to_string(t_dim) + " and --student-dim " + std::to_string(s_dim) +
            " must both be multiples of --heads " + std::to_string(heads),
        "e.g. --teacher-dim 64 --student-dim 16 --heads 4");
  const double temperature = opt.get_double("temperature", 2.0, [](double t) {
    return t > 0 ? std::string() : std::string("must be positive");
  });
  const double alpha = opt.get_double("alpha", 0.5, ArgParser::in_range(0.0, 1.0));
  const double att_weight = opt.get_double("attention-weight", 1.0, [](double w) {
    return w >= 0 ? std::string() : std::string("must be >= 0");
  });
  const bool quiet = opt.flag("quiet");

  const data::FashionMnist train = data::load_fashion_mnist("train");
  const data::FashionMnist test = data::load_fashion_mnist("test");
  const Tensor x = train.images.slice(0, 0, limit).contiguous();
  const std::vector<int64_t> y(train.labels.begin(), train.labels.begin() + limit);

  // The teacher, on labels only.
  auto t0 = std::chrono::steady_clock::now();
  manual_seed(0);
  RowTransformer teacher(t_dim, heads, t_depth);
  {
    optim::Adam adam(teacher.parameters(), optim::AdamOptions{1e-3f});
    data::DataLoader loader(x, y, 64, /*shuffle=*/true, 0);
    teacher.train();
    for (int64_t e = 0; e < teacher_epochs; ++e)
      for (const data::Batch& b : loader) {
        const Tensor loss = cross_entropy(teacher(b.x), b.y);
        adam.zero_grad();
        loss.backward();
        adam.step();
      }
  }
  const double teacher_acc = nn::accuracy(teacher, test.images, test.labels);
  std::printf(
      "teacher RowTransformer D=%lld, %lld blocks, %lld heads: %lld parameters, %lld epochs on %lld "
      "images, test accuracy %.4f (%.0f s)\n",
      static_cast<long long>(t_dim), static_cast<long long>(t_depth), static_cast<long long>(heads),
      static_cast<long long>(teacher.parameter_count()), static_cast<long long>(teacher_epochs),
      static_cast<long long>(limit), teacher_acc, seconds_since(t0));
  {
    RowTransformer probe(s_dim, heads, 1);
    std::printf(
        "student RowTransformer D=%lld, 1 block, %lld heads: %lld parameters; %lld epochs, Adam 1e-3, "
        "batch 64, seeds 1..%lld\n"
        "KD: T = %g, alpha = %g; attention transfer: weight %g x attention_kl(student blocks.0.attn, "
        "teacher blocks.%lld.attn)\n\n",
        static_cast<long long>(s_dim), static_cast<long long>(heads),
        static_cast<long long>(probe.parameter_count()), static_cast<long long>(epochs),
        static_cast<long long>(seeds), temperature, alpha, att_weight, static_cast<long long>(t_depth - 1));
  }
  std::fflush(stdout);

  struct Config {
    std::string name;
    double alpha;
    bool attention;
  };
  char kd_name[64], at_name[96];
  std::snprintf(kd_name, sizeof kd_name, "KD T = %g, alpha = %g", temperature, alpha);
  if (alpha == 0.0)
    std::snprintf(at_name, sizeof at_name, "labels + attention KL (weight %g), alpha = 0", att_weight);
  else
    std::snprintf(at_name, sizeof at_name, "KD T = %g, alpha = %g + attention KL (weight %g)", temperature, alpha,
                  att_weight);
  std::vector<Config> configs = {{"labels only", 0.0, false}, {kd_name, alpha, false}, {at_name, alpha, true}};
  if (alpha == 0.0) configs.erase(configs.begin() + 1);  // KD with alpha 0 is the labels-only run again
  std::vector<std::string> rows;
  for (const Config& c : configs) {
    std::vector<double> acc;
    for (int64_t s = 1; s <= seeds; ++s) {
      t0 = std::chrono::steady_clock::now();
      manual_seed(static_cast<uint64_t>(s));
      RowTransformer student(s_dim, heads, 1);
      DistillerOptions o;
      o.temperature = temperature;
      o.alpha = c.alpha;
      o.epochs = epochs;
      o.seed = static_cast<uint64_t>(s);
      o.progress = !quiet;
      if (c.attention)
        o.matches = {{LayerMatch::Kind::AttentionKl, "blocks.0.attn", "blocks." + std::to_string(t_depth - 1) + ".attn",
                      att_weight}};
      Distiller(teacher, student, o).fit(x, y);
      acc.push_back(nn::accuracy(student, test.images, test.labels));
      std::printf("%s, seed %lld: test accuracy %.4f (%.0f s)\n", c.name.c_str(), static_cast<long long>(s),
                  acc.back(), seconds_since(t0));
      std::fflush(stdout);
    }
    double m = 0.0;
    for (const double a : acc) m += a / static_cast<double>(acc.size());
    const auto [lo, hi] = std::minmax_element(acc.begin(), acc.end());
    std::string per;
    for (const double a : acc) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%s%.4f", per.empty() ? "" : " ", a);
      per += buf;
    }
    char row[256];
    std::snprintf(row, sizeof row, "| %s | %.4f | %.4f | %s |", c.name.c_str(), m, *hi - *lo, per.c_str());
    rows.push_back(row);
  }
  std::printf("\n| student training | test accuracy, mean of %lld seeds | spread (max - min) | per seed |\n",
              static_cast<long long>(seeds));
  std::printf("|---|---|---|---|\n");
  for (const auto& r : rows) std::printf("%s\n", r.c_str());
  return 0;
}

}  // namespace nibble::cli
