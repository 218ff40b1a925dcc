#include "nn/evaluate.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/ops.h"

namespace nibble::nn {

double accuracy(Module& model, const Tensor& images, const std::vector<int64_t>& labels,
                int64_t batch_size) {
  const int64_t n = images.size(0);
  NIBBLE_CHECK(static_cast<int64_t>(labels.size()) == n, "accuracy",
        std::to_string(labels.size()) + " labels for images " + images.shape_str());
  NIBBLE_CHECK(n > 0 && batch_size > 0, "accuracy", "needs at least one example and a positive batch size");
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t end = std::min(n, start + batch_size);
    const std::vector<int64_t> predicted = argmax(model(images.slice(0, start, end)), 1);
    for (int64_t i = start; i < end; ++i) correct += predicted[i - start] == labels[i];
  }
  model.train(was_training);
  return static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace nibble::nn
