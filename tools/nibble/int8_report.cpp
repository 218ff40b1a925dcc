#include "int8_report.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/models.h"
#include "nn/quantized_models.h"

namespace nibble::cli {

namespace {

using Forward = std::function<Tensor(const Tensor&)>;

// Share of test images whose argmax matches the label.
double accuracy_of(const Forward& forward, const data::FashionMnist& test) {
  int64_t right = 0;
  const int64_t n = test.images.size(0);
  for (int64_t b = 0; b < n; b += 1000) {
    const int64_t e = std::min(n, b + 1000);
    const std::vector<int64_t> pred = argmax(forward(test.images.slice(0, b, e)), 1);
    for (int64_t i = 0; i < e - b; ++i) right += pred[i] == test.labels[b + i];
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

// Median milliseconds of one forward on `batch` (7 runs after a warm-up).
double median_ms(const Forward& forward, const Tensor& batch) {
  forward(batch);
  std::vector<double> ms;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    forward(batch);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void report(const char* what, const Forward& fp32, const Forward& int8,
            const data::FashionMnist& test) {
  const double acc_f = accuracy_of(fp32, test), acc_q = accuracy_of(int8, test);
  const Tensor batch = test.images.slice(0, 0, 256).contiguous();
  const double ms_f = median_ms(fp32, batch), ms_q = median_ms(int8, batch);
  std::printf("int8 %s (per-channel weights, activations calibrated on training images):\n"
              "  test accuracy %.4f (fp32 %.4f, %+.2f points); batch 256: %.2f ms vs fp32 "
              "%.2f ms (%.1fx)\n",
              what, acc_q, acc_f, 100.0 * (acc_q - acc_f), ms_q, ms_f, ms_f / ms_q);
}

}  // namespace

void print_int8_report(nn::Module& model, const data::FashionMnist& train_set,
                       const data::FashionMnist& test_set) {
  NoGradGuard no_grad;
  model.eval();
  const int64_t n_calib = std::min<int64_t>(512, train_set.images.size(0));  // --limit may be less
  const Tensor calibration = train_set.images.slice(0, 0, n_calib).contiguous();
  if (auto* mlp = dynamic_cast<nn::FashionMlp*>(&model)) {
    const auto q = nn::QuantizedFashionMlp::from_float(*mlp, calibration);
    report("FashionMlp", [&](const Tensor& x) { return mlp->forward(x); },
           [&](const Tensor& x) { return q.forward(x); }, test_set);
  } else if (auto* cnn = dynamic_cast<nn::FashionCnn*>(&model)) {
    const auto q = nn::QuantizedFashionCnn::from_float(*cnn, calibration);
    report("FashionCnn", [&](const Tensor& x) { return cnn->forward(x); },
           [&](const Tensor& x) { return q.forward(x); }, test_set);
  }
}

}  // namespace nibble::cli
