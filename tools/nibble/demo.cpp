// `nibble demo`: autograd at work on a tiny model, in well under a second.
//
// A 2-32-32-3 MLP written with raw tensors learns to separate three interleaved spirals (the
// classic CS231n toy problem). Every step is visible: forward, cross-entropy, backward, and a
// hand-written SGD update. At the end we check one gradient against a finite difference.
// (The Fashion-MNIST training job replaces this demo once nn/ and optim/ exist.)
#include <cmath>
#include <cstdio>
#include <string>

#include "commands.h"
#include "core/autograd.h"
#include "core/ops.h"

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

int demo(const Args& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::printf("usage: nibble demo\n  Trains a 2-32-32-3 MLP on three spirals with autograd and SGD.\n");
    return 0;
  }
  check(args.empty(), "nibble demo", "unexpected argument '" + (args.empty() ? "" : args[0]) + "'",
        "run `nibble demo --help`");
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

}  // namespace nibble::cli
