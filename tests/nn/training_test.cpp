// End-to-end: the MLP really learns Fashion-MNIST. A broken loss, backward or optimizer fails here.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/io/dataloader.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/evaluate.h"
#include "nn/models.h"
#include "optim/sgd.h"

namespace nibble::nn {
namespace {

TEST(Training, MlpLearnsFashionMnistQuickly) {
  if (!std::filesystem::exists(data::default_fashion_mnist_dir())) {
    GTEST_SKIP() << "dataset-fashion-mnist not installed: apt-get install dataset-fashion-mnist";
  }
  data::FashionMnist train = data::load_fashion_mnist("train");
  const data::FashionMnist test = data::load_fashion_mnist("test");
  // 25 600 training images, one epoch of 400 steps: seconds, even under the sanitizers.
  train.images = train.images.slice(0, 0, 25600).contiguous();
  train.labels.resize(25600);
  manual_seed(0);
  FashionMlp model;
  const double before = accuracy(model, test.images, test.labels);
  optim::SGD sgd(model.parameters(), {0.02f, 0.9f});
  data::DataLoader loader(train.images, train.labels, 64, /*shuffle=*/true, /*seed=*/0);
  for (const data::Batch& b : loader) {
    const Tensor loss = cross_entropy(model(b.x), b.y);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  }
  const double after = accuracy(model, test.images, test.labels);
  EXPECT_LT(before, 0.3) << "an untrained model should be near chance (0.1)";
  EXPECT_GE(after, 0.79) << "after 400 SGD steps the MLP should clearly have learned (chance is 0.10)";
}

}  // namespace
}  // namespace nibble::nn
