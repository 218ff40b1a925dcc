// bench_train: one epoch of the Fashion-MNIST MLP and CNN (batch 64, SGD momentum 0.9, lr 0.01),
// plus the tape's per-op overhead on a 16-element add. bench/train_torch.py does the same in
// PyTorch; bench/compare_training.sh runs both and prints the ratios.
// Prints one line per figure:  nibble <name> <value> <unit>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/evaluate.h"
#include "nn/models.h"
#include "optim/sgd.h"

using namespace nibble;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

static double epoch_seconds(nn::Module& model, data::DataLoader& loader) {
  optim::SGD sgd(model.parameters(), {0.01f, 0.9f});
  const auto t0 = Clock::now();
  for (const data::Batch& b : loader) {
    const Tensor loss = cross_entropy(model(b.x), b.y);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  }
  return seconds_since(t0);
}

// Median microseconds per iteration of c = a + b (and c.sum().backward()) on 16 elements.
static double tiny_op_microseconds(bool backward) {
  Tensor a = Tensor::randn({16}), b = Tensor::randn({16});
  a.requires_grad_(backward);
  b.requires_grad_(backward);
  const int repeats = 20000;
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < repeats; ++i) {
      Tensor c = add(a, b);
      if (backward) c.sum().backward();
    }
    runs.push_back(seconds_since(t0) / repeats * 1e6);
  }
  return median(runs);
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 1;
  omp_set_num_threads(threads);
  manual_seed(0);
  const data::FashionMnist train = data::load_fashion_mnist("train");
  const data::FashionMnist test = data::load_fashion_mnist("test");
  data::DataLoader loader(train.images, train.labels, 64, /*shuffle=*/true, /*seed=*/0);
  for (const char* kind : {"mlp", "cnn"}) {
    std::shared_ptr<nn::Module> model;
    if (std::string(kind) == "mlp") model = std::make_shared<nn::FashionMlp>();
    else model = std::make_shared<nn::FashionCnn>();
    std::vector<double> times;
    for (int e = 0; e < epochs; ++e) times.push_back(epoch_seconds(*model, loader));
    std::printf("nibble %s_epoch_s %.3f s\n", kind, median(times));
    std::printf("nibble %s_test_accuracy %.4f fraction\n", kind,
                nn::accuracy(*model, test.images, test.labels));
  }
  std::printf("nibble add16_forward_us %.2f us\n", tiny_op_microseconds(false));
  std::printf("nibble add16_forward_backward_us %.2f us\n", tiny_op_microseconds(true));
  return 0;
}
