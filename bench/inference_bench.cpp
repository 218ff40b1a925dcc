// bench_inference: int8 (nn/quantized_models.h) vs fp32 inference of the Fashion-MNIST models on
// the 10000 test images: accuracy of both, ms per batch at batch 1 and 256 with 1 and 2 threads,
// speed-up, single layers int8 vs fp32 (convs on uint8 and on float in/out, the uint8 max pool),
// and the cost of quantizing activations (ns/element).
//
// Models: NIBBLE_MLP_CKPT / NIBBLE_CNN_CKPT name checkpoints (`nibble train --model mlp --out X`);
// without them the models are randomly initialised (seed 0) and a note says so -- speed is then
// meaningful, accuracy is not. Calibration: the first 512 *training* images (the test set stays
// held out). Timing is paired: every round times a burst of fp32 then a burst of int8 on the same
// batches, so both see the same machine load; medians over rounds (--rounds=N, default 9).
//   OMP_WAIT_POLICY=passive NIBBLE_MLP_CKPT=mlp.nbck build/bench/bench_inference
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/cpu_features.h"
#include "core/gemm.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/evaluate.h"
#include "nn/quantized_models.h"

using namespace nibble;

namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <typename Model>
void load_or_random(Model& model, const char* env, const char* what) {
  const char* path = std::getenv(env);
  if (path && *path) {
    nn::load(model, path);
    std::printf("%s: loaded %s\n", what, path);
  } else {
    std::printf("%s: NOTE random initialisation (seed 0), set %s=<checkpoint> for a trained model"
                " (`nibble train --model ... --out X`); accuracy below is meaningless\n",
                what, env);
  }
}

template <typename Fn>
double int8_accuracy(const Fn& forward, const Tensor& images, const std::vector<int64_t>& labels) {
  int64_t correct = 0;
  const int64_t n = images.size(0);
  for (int64_t b = 0; b < n; b += 1000) {
    const int64_t e = std::min(n, b + 1000);
    const std::vector<int64_t> pred = argmax(forward(images.slice(0, b, e)), 1);
    for (int64_t i = 0; i < e - b; ++i) correct += pred[i] == labels[b + i];
  }
  return static_cast<double>(correct) / n;
}

// Paired timing of fp32 vs int8 forward over consecutive batches of the test set.
// Prints ms per batch (medians) and the median per-round speed-up.
void time_pair(const char* what, int64_t batch, int threads, int rounds, const Tensor& images,
               const std::function<Tensor(const Tensor&)>& fp32,
               const std::function<Tensor(const Tensor&)>& int8) {
  omp_set_num_threads(threads);
  // Enough batches per burst for ~40 ms of fp32 work.
  const int64_t n_images = images.size(0);
  std::vector<Tensor> batches;
  for (int64_t b = 0; b + batch <= n_images && (int64_t)batches.size() < 400; b += batch) {
    batches.push_back(images.slice(0, b, b + batch).contiguous());
  }
  fp32(batches[0]);
  int8(batches[0]);
  const double one = seconds([&] { fp32(batches[0]); });
  const int per_burst = static_cast<int>(std::clamp<double>(0.04 / std::max(one, 1e-7), 1,
                                                            static_cast<double>(batches.size())));
  std::vector<double> t_fp32, t_int8, speedup;
  for (int r = 0; r < rounds; ++r) {
    const double a = seconds([&] { for (int i = 0; i < per_burst; ++i) fp32(batches[i]); }) / per_burst;
    const double b = seconds([&] { for (int i = 0; i < per_burst; ++i) int8(batches[i]); }) / per_burst;
    t_fp32.push_back(a * 1e3);
    t_int8.push_back(b * 1e3);
    speedup.push_back(a / b);
  }
  std::printf("%-22s %6lld %4d %12.4f %12.4f %9.2f\n", what, static_cast<long long>(batch), threads,
              median_of(t_fp32), median_of(t_int8), median_of(speedup));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 9;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) rounds = std::atoi(argv[i] + 9);
  }
  std::printf("cpu: %s, int8 kernel: %s, fp32 kernel: %s\n", cpu_features().summary().c_str(),
              int8_kernel_name(int8_select_kernel()), sgemm_kernel_name());
  NoGradGuard no_grad;
  const data::FashionMnist test = data::load_fashion_mnist("test");
  const data::FashionMnist train = data::load_fashion_mnist("train");
  const Tensor calib = train.images.slice(0, 0, 512).contiguous();

  manual_seed(0);
  nn::FashionMlp mlp;
  load_or_random(mlp, "NIBBLE_MLP_CKPT", "FashionMlp");
  mlp.eval();
  manual_seed(0);
  nn::FashionCnn cnn;
  load_or_random(cnn, "NIBBLE_CNN_CKPT", "FashionCnn");
  cnn.eval();
  const nn::QuantizedFashionMlp qmlp = nn::QuantizedFashionMlp::from_float(mlp, calib);
  const nn::QuantizedFashionCnn qcnn = nn::QuantizedFashionCnn::from_float(cnn, calib);
  // reduce_range: 7-bit activations on the avx2u7 kernel (where the CPU has AVX2).
  const nn::QuantizedFashionMlp qmlp7 =
      nn::QuantizedFashionMlp::from_float(mlp, calib, Int8Kernel::kAuto, true);
  const nn::QuantizedFashionCnn qcnn7 =
      nn::QuantizedFashionCnn::from_float(cnn, calib, Int8Kernel::kAuto, true);

  // ---- accuracy ----
  const double acc_mlp = nn::accuracy(mlp, test.images, test.labels);
  const double acc_qmlp = int8_accuracy([&](const Tensor& x) { return qmlp(x); }, test.images, test.labels);
  const double acc_cnn = nn::accuracy(cnn, test.images, test.labels);
  const double acc_qcnn = int8_accuracy([&](const Tensor& x) { return qcnn(x); }, test.images, test.labels);
  std::printf("\nTest accuracy (10000 images)   fp32      int8     change (points)\n");
  std::printf("FashionMlp                   %6.2f%%   %6.2f%%   %+6.2f\n", 100 * acc_mlp, 100 * acc_qmlp,
              100 * (acc_qmlp - acc_mlp));
  std::printf("FashionCnn                   %6.2f%%   %6.2f%%   %+6.2f\n", 100 * acc_cnn, 100 * acc_qcnn,
              100 * (acc_qcnn - acc_cnn));
  const double acc_qmlp7 = int8_accuracy([&](const Tensor& x) { return qmlp7(x); }, test.images, test.labels);
  const double acc_qcnn7 = int8_accuracy([&](const Tensor& x) { return qcnn7(x); }, test.images, test.labels);
  std::printf("FashionMlp 7-bit (%s)     %6.2f%%   %6.2f%%   %+6.2f\n",
              int8_kernel_name(qmlp7.fc1.kernel()), 100 * acc_mlp, 100 * acc_qmlp7,
              100 * (acc_qmlp7 - acc_mlp));
  std::printf("FashionCnn 7-bit (%s)     %6.2f%%   %6.2f%%   %+6.2f\n",
              int8_kernel_name(qcnn7.conv1.kernel()), 100 * acc_cnn, 100 * acc_qcnn7,
              100 * (acc_qcnn7 - acc_cnn));

  // ---- speed ----
  std::printf("\nPaired timing, %d rounds, medians (ms per batch)\n", rounds);
  std::printf("%-22s %6s %4s %12s %12s %9s\n", "model", "batch", "thr", "fp32 ms", "int8 ms", "speed-up");
  auto f_mlp = [&](const Tensor& x) { return mlp.forward(x); };
  auto q_mlp = [&](const Tensor& x) { return qmlp.forward(x); };
  auto f_cnn = [&](const Tensor& x) { return cnn.forward(x); };
  auto q_cnn = [&](const Tensor& x) { return qcnn.forward(x); };
  auto q_mlp7 = [&](const Tensor& x) { return qmlp7.forward(x); };
  auto q_cnn7 = [&](const Tensor& x) { return qcnn7.forward(x); };
  for (int threads : {1, 2}) {
    for (int64_t batch : {1, 256}) {
      time_pair("FashionMlp", batch, threads, rounds, test.images, f_mlp, q_mlp);
      time_pair("FashionMlp 7-bit", batch, threads, rounds, test.images, f_mlp, q_mlp7);
      time_pair("FashionCnn", batch, threads, rounds, test.images, f_cnn, q_cnn);
      time_pair("FashionCnn 7-bit", batch, threads, rounds, test.images, f_cnn, q_cnn7);
    }
  }

  // ---- single layers at batch 256 (ReLU included on both sides) ----
  // "u8" rows time what the int8 CNN runs: uint8 NCHW in, uint8 out, on a batch quantized
  // beforehand (the int8 lambda ignores its float argument). "float io" rows time the float-in,
  // float-out QuantizedConv2d::forward, which quantizes its input and dequantizes its output.
  const Tensor x1 = test.images.slice(0, 0, 256).contiguous();                     // [256,1,28,28]
  const Tensor y1 = relu(cnn.conv1().forward(x1)).contiguous();                     // [256,8,28,28]
  const Tensor x2 = max_pool2d(y1, 2).contiguous();                                // [256,8,14,14]
  const nn::QuantizedTensor q1 = nn::quantize(x1, qcnn.conv1.input_params());
  const nn::QuantizedTensor qy1 = qcnn.conv1(q1);  // conv1's output bytes
  const nn::QuantizedTensor q2 = nn::max_pool2d(qy1, 2);
  std::printf("\nLayers at batch 256 (float conv2d+relu / max_pool2d vs the int8 version)\n");
  std::printf("%-22s %6s %4s %12s %12s %9s\n", "layer", "batch", "thr", "fp32 ms", "int8 ms", "speed-up");
  auto fconv1 = [&](const Tensor& x) { return relu(cnn.conv1().forward(x)); };
  auto fconv2 = [&](const Tensor& x) { return relu(cnn.conv2().forward(x)); };
  auto fpool = [&](const Tensor& x) { return max_pool2d(x, 2); };
  // The uint8 runs ignore their float argument (see above) and return nothing.
  auto qconv1 = [&](const Tensor&) {
    qcnn.conv1(q1);
    return Tensor();
  };
  auto qconv2 = [&](const Tensor&) {
    qcnn.conv2(q2);
    return Tensor();
  };
  auto qpool = [&](const Tensor&) {
    nn::max_pool2d(qy1, 2);
    return Tensor();
  };
  for (int threads : {1, 2}) {
    time_pair("conv1 1->8 5x5 u8", 256, threads, rounds, x1, fconv1, qconv1);
    time_pair("conv2 8->16 5x5 u8", 256, threads, rounds, x2, fconv2, qconv2);
    time_pair("conv1 float io", 256, threads, rounds, x1, fconv1,
              [&](const Tensor& x) { return qcnn.conv1(x); });
    time_pair("conv2 float io", 256, threads, rounds, x2, fconv2,
              [&](const Tensor& x) { return qcnn.conv2(x); });
    time_pair("max_pool2d 2x2 u8", 256, threads, rounds, y1, fpool, qpool);
  }

  // ---- activation quantization cost ----
  omp_set_num_threads(1);
  const Tensor big = test.images.slice(0, 0, 256).contiguous();  // 200704 floats
  const int64_t n = big.numel();
  std::vector<uint8_t> q(n);
  const nn::QuantParams p = qmlp.fc1.input_params();
  std::vector<double> fast, ref, mm;
  for (int r = 0; r < 15; ++r) {
    fast.push_back(seconds([&] { for (int i = 0; i < 20; ++i) nn::quantize_u8(big.data(), n, p, q.data()); }) / (20.0 * n) * 1e9);
    ref.push_back(seconds([&] { for (int i = 0; i < 20; ++i) nn::quantize_u8_reference(big.data(), n, p, q.data()); }) / (20.0 * n) * 1e9);
    float lo, hi;
    mm.push_back(seconds([&] { for (int i = 0; i < 20; ++i) nn::min_max(big.data(), n, &lo, &hi); }) / (20.0 * n) * 1e9);
  }
  std::printf("\nActivation quantization, %lld floats (256 images), 1 thread, median ns/element:\n",
              static_cast<long long>(n));
  std::printf("  quantize_u8 (AVX2 dispatch)  %.3f\n  quantize_u8_reference        %.3f\n"
              "  min_max (dynamic mode only)  %.3f\n", median_of(fast), median_of(ref), median_of(mm));
  return 0;
}
