// Where the sparse int8 kernels beat the dense ones (core/kernels/int8_sparse_{conv,linear}.h):
// one layer of the course models, dense (im2col + int8 GEMM / int8 GEMM) against sparse, at
// several weight densities and batch 1 and 256, one thread. The crossover densities it prints
// are the thresholds of compression::Int8Model (compression/deep_compression.cpp).
//
//   OMP_NUM_THREADS=1 build/bench/bench_sparse_kernels [REPEATS]
// Each time is the median of REPEATS (default 15) timings; random uint8 inputs, random int8
// weights with the given fraction of non-zeros (the same weights for both paths).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "core/autograd.h"
#include "nn/quantized.h"

using namespace nibble;

namespace {

double median_us(const std::function<void()>& f, int repeats, int calls) {
  f();  // warm-up (scratch buffers)
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) f();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / calls);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

nn::Int8Weights random_weights(int64_t out, int64_t K, double density, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> w(-127, 127);
  nn::Int8Weights iw;
  for (int64_t i = 0; i < out * K; ++i) iw.values.push_back(u(rng) < density ? static_cast<int8_t>(w(rng) | 1) : 0);
  iw.scales.assign(static_cast<size_t>(out), 0.01f);
  return iw;
}

nn::QuantizedTensor random_input(Shape shape, std::mt19937& rng) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  nn::QuantizedTensor q{shape, nn::choose_u8_params(-1.0f, 3.0f), std::vector<uint8_t>(static_cast<size_t>(n))};
  std::uniform_int_distribution<int> b(0, 255);
  for (uint8_t& v : q.data) v = static_cast<uint8_t>(b(rng));
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(3, std::atoi(argv[1])) : 15;
  NoGradGuard no_grad;
  std::mt19937 rng(1);
  const double densities[] = {0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0};
  const nn::ActivationRanges ranges{-1.0f, 3.0f, 0.0f, 4.0f};
  nn::QuantizeOptions relu;
  relu.fuse_relu = true;

  std::printf("| layer | batch | density | dense us | sparse us | sparse speed-up |\n|---|---|---|---|---|---|\n");
  struct ConvLayer { const char* name; int64_t C, OC, H; };
  for (const ConvLayer& L : {ConvLayer{"conv1 1->8 5x5 pad 2, 28x28, + 2x2 max pool", 1, 8, 28},
                             ConvLayer{"conv2 8->16 5x5 pad 2, 14x14, + 2x2 max pool", 8, 16, 14}}) {
    nn::Conv2d conv(L.C, L.OC, 5, Conv2dOptions{1, 2});
    for (int64_t batch : {1, 256}) {
      const nn::QuantizedTensor x = random_input({batch, L.C, L.H, L.H}, rng);
      for (double d : densities) {
        nn::QuantizedConv2d q = nn::QuantizedConv2d::from_int8(conv, random_weights(L.OC, L.C * 25, d, rng), ranges, relu);
        const int calls = batch == 1 ? 200 : 1;
        const double dense = median_us([&] { q.forward_pooled(x, 2); }, repeats, calls);
        q.set_sparse(true);
        const double sparse = median_us([&] { q.forward_pooled(x, 2); }, repeats, calls);
        std::printf("| %s | %lld | %.2f | %.2f | %.2f | %.2fx |\n", L.name, static_cast<long long>(batch), d, dense,
                    sparse, dense / sparse);
      }
    }
  }
  struct LinearLayer { const char* name; int64_t in, out; };
  for (const LinearLayer& L : {LinearLayer{"fc 784->10 (CNN)", 784, 10}, LinearLayer{"fc1 784->300 (LeNet)", 784, 300},
                               LinearLayer{"fc2 300->100 (LeNet)", 300, 100}}) {
    nn::Linear lin(L.in, L.out);
    for (int64_t batch : {1, 256}) {
      const nn::QuantizedTensor x = random_input({batch, L.in}, rng);
      for (double d : densities) {
        nn::QuantizedLinear q = nn::QuantizedLinear::from_int8(lin, random_weights(L.out, L.in, d, rng), ranges);
        const int calls = batch == 1 ? 200 : 1;
        const double dense = median_us([&] { q.forward(x); }, repeats, calls);
        q.set_sparse(true);
        const double sparse = median_us([&] { q.forward(x); }, repeats, calls);
        std::printf("| %s | %lld | %.2f | %.2f | %.2f | %.2fx |\n", L.name, static_cast<long long>(batch), d, dense,
                    sparse, dense / sparse);
      }
    }
  }
  return 0;
}
