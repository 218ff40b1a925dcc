#include "nn/init.h"

#include <cmath>

namespace nibble::nn::init {

Fans fans(const Tensor& weight) {
  NIBBLE_CHECK(weight.dim() >= 2, "init::fans",
        "needs a weight of rank >= 2, got shape " + weight.shape_str());
  int64_t receptive = 1;
  for (int64_t i = 2; i < weight.dim(); ++i) receptive *= weight.size(i);
  return {weight.size(1) * receptive, weight.size(0) * receptive};
}

void uniform_(Tensor& t, float low, float high) {
  NIBBLE_CHECK(t.is_contiguous(), "init::uniform_", "tensor must be contiguous");
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = low + (high - low) * random_uniform();
}

void zeros_(Tensor& t) { uniform_(t, 0.0f, 0.0f); }

namespace {
void normal_(Tensor& t, float stddev) {
  NIBBLE_CHECK(t.is_contiguous(), "init::normal_", "tensor must be contiguous");
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = stddev * random_normal();
}
}  // namespace

void kaiming_uniform_(Tensor& w, float gain) {
  const float bound = gain * std::sqrt(3.0f / static_cast<float>(fans(w).in));
  uniform_(w, -bound, bound);
}

void kaiming_normal_(Tensor& w, float gain) {
  normal_(w, gain / std::sqrt(static_cast<float>(fans(w).in)));
}

void xavier_uniform_(Tensor& w, float gain) {
  const Fans f = fans(w);
  const float bound = gain * std::sqrt(6.0f / static_cast<float>(f.in + f.out));
  uniform_(w, -bound, bound);
}

void xavier_normal_(Tensor& w, float gain) {
  const Fans f = fans(w);
  normal_(w, gain * std::sqrt(2.0f / static_cast<float>(f.in + f.out)));
}

void pytorch_default_(Tensor& weight, Tensor& bias) {
  // kaiming_uniform(a = sqrt(5)): gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), so
  // bound = sqrt(1/3) * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
  const float bound = 1.0f / std::sqrt(static_cast<float>(fans(weight).in));
  uniform_(weight, -bound, bound);
  if (bias.defined()) uniform_(bias, -bound, bound);
}

}  // namespace nibble::nn::init
