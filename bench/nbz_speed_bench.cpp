// Speed of a .nbz file's int8 model against its fp32 checkpoint, side by side in the same run
// (compression/RESULTS.md): fp32 checkpoint, the file decoded to floats, and the file on the int8
// kernels (Int8Model::forward: for MLPs float activations between the layers, for the CNN a uint8
// pipeline) once on the dense int8 GEMM only (from_nbz(file, false)) and once as Int8Model runs by
// default, with the sparse kernels where they pay (core/kernels/int8_sparse_{conv,linear}.h), and,
// for MLPs, the uint8 chain QuantizedFashionMlp::forward_u8 on the same (dense) layers. The variants take turns in every round, so a
// change in the machine's load hits them all alike; the median of the rounds and half the
// interquartile range are printed, and the best round's speed-ups (on a loaded machine the
// fastest round is the best estimate of what the code costs by itself).
//
//   build/bench/bench_nbz_speed MODEL.ckpt MODEL.nbz ARCH [ROUNDS]   (ARCH: lenet300, mlp, cnn)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "compression/deep_compression.h"
#include "core/autograd.h"
#include "core/io/fashion_mnist.h"
#include "nn/checkpoint.h"

using namespace nibble;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::pair<double, double> median_spread(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  const size_t n = t.size();
  return {t[n / 2], (t[(3 * n) / 4] - t[n / 4]) / 2};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.ckpt MODEL.nbz ARCH [ROUNDS]\n", argv[0]);
    return 2;
  }
  const std::string ckpt = argv[1], nbz = argv[2], arch = argv[3];
  const int rounds = argc > 4 ? std::max(5, std::atoi(argv[4])) : 9;
  try {
    NoGradGuard no_grad;
    const data::FashionMnist test = data::load_fashion_mnist("test");
    std::shared_ptr<nn::Module> fp32 = compression::make_model(arch);
    nn::load(*fp32, ckpt);
    fp32->eval();
    const compression::NbzModel file = compression::load_nbz(nbz);
    const std::shared_ptr<nn::Module> decoded = compression::float_model_from_nbz(file);
    const compression::Int8Model q = compression::Int8Model::from_nbz(file, false);  // dense kernels
    const compression::Int8Model qs = compression::Int8Model::from_nbz(file);        // sparse where it pays

    struct Variant {
      std::string name;
      std::function<Tensor(const Tensor&)> forward;
      std::vector<double> b1, b256;
      int64_t correct = 0;
    };
    std::vector<Variant> v;
    v.push_back({"fp32 checkpoint", [&](const Tensor& x) { return fp32->forward(x); }, {}, {}, 0});
    v.push_back({"nbz decoded, fp32 kernels", [&](const Tensor& x) { return decoded->forward(x); }, {}, {}, 0});
    v.push_back({"int8 from file (Int8Model), dense kernels", [&](const Tensor& x) { return q(x); }, {}, {}, 0});
    v.push_back({"int8 from file, sparse kernels (Int8Model default)", [&](const Tensor& x) { return qs(x); }, {}, {}, 0});
    if (q.arch() != "cnn")
      v.push_back({"int8 from file, uint8 chain (forward_u8)", [&](const Tensor& x) { return q.mlp().forward_u8(x); },
                   {}, {}, 0});

    // Accuracy on the whole test set (and a warm-up).
    for (Variant& var : v)
      for (int64_t i = 0; i < test.images.size(0); i += 1000) {
        const std::vector<int64_t> p = argmax(var.forward(test.images.slice(0, i, i + 1000)), 1);
        for (int64_t k = 0; k < 1000; ++k) var.correct += p[k] == test.labels[i + k];
      }

    const Tensor one = test.images.slice(0, 0, 1).contiguous();
    const Tensor batch = test.images.slice(0, 0, 256).contiguous();
    const int calls = 20;  // batch 1: many calls per timing, so the clock's resolution does not matter
    for (int r = 0; r < rounds; ++r)
      for (Variant& var : v) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) var.forward(one);
        var.b1.push_back(ms_since(t0) / calls);
        t0 = std::chrono::steady_clock::now();
        var.forward(batch);
        var.b256.push_back(ms_since(t0));
      }

    std::printf("%s, %s: %d rounds (median, +- half the IQR)\n", nbz.c_str(), arch.c_str(), rounds);
    std::printf("| variant | accuracy | batch 1 ms | batch 256 img/s | speed-up b1 | speed-up b256 | best b1 ms | best b256 img/s | best speed-up b1 | best speed-up b256 |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    const double base1 = median_spread(v[0].b1).first, base256 = median_spread(v[0].b256).first;
    auto best = [](const std::vector<double>& t) { return *std::min_element(t.begin(), t.end()); };
    const double best1 = best(v[0].b1), best256 = best(v[0].b256);
    for (const Variant& var : v) {
      const auto b1 = median_spread(var.b1), b256 = median_spread(var.b256);
      std::printf("| %s | %.4f | %.4f +- %.4f | %.0f +- %.0f | %.1fx | %.2fx | %.4f | %.0f | %.1fx | %.2fx |\n",
                  var.name.c_str(), var.correct / 10000.0, b1.first, b1.second, 256000.0 / b256.first,
                  256000.0 / b256.first * b256.second / b256.first, base1 / b1.first, base256 / b256.first,
                  best(var.b1), 256000.0 / best(var.b256), best1 / best(var.b1), best256 / best(var.b256));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  return 0;
}
