#include "compression/int4.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/autograd.h"
#include "core/error.h"
#include "core/gemm.h"

namespace nibble {

Int4Weights pack_int4(const Tensor& W, int64_t group_size) {
  NIBBLE_CHECK(W.defined() && W.dim() == 2 && W.numel() > 0, "pack_int4",
               "W is " + (W.defined() ? W.shape_str() : std::string("undefined")), "a Linear weight [out, in]");
  const int64_t out = W.size(0), in = W.size(1);
  NIBBLE_CHECK(group_size >= 2 && group_size % 2 == 0 && in % group_size == 0, "pack_int4",
               "group_size = " + std::to_string(group_size) + " does not divide the row of " + std::to_string(in) +
                   " weights into even groups",
               "pick an even divisor of in_features, e.g. 32, 64 or 128 (two codes share a byte)");
  Int4Weights q;
  q.out = out;
  q.in = in;
  q.group_size = group_size;
  q.packed.assign(static_cast<size_t>(out * in / 2), 0);
  const std::vector<float> w = W.detach().contiguous().to_vector();
  for (int64_t n = 0; n < out; ++n)
    for (int64_t g0 = 0; g0 < in; g0 += group_size) {
      float amax = 0.0f;
      for (int64_t k = g0; k < g0 + group_size; ++k) amax = std::max(amax, std::fabs(w[n * in + k]));
      NIBBLE_CHECK(std::isfinite(amax), "pack_int4", "row " + std::to_string(n) + " has a non-finite weight");
      const float scale = amax > 0.0f ? amax / 7.0f : 1.0f;
      q.scales.push_back(scale);
      for (int64_t k = g0; k < g0 + group_size; ++k) {
        const float code = std::clamp(std::nearbyint(w[n * in + k] / scale), -8.0f, 7.0f);
        const uint8_t nib = static_cast<uint8_t>(static_cast<int>(code) + 8);
        q.packed[static_cast<size_t>((n * in + k) / 2)] |= static_cast<uint8_t>(k % 2 == 0 ? nib : nib << 4);
      }
    }
  return q;
}

namespace {

// Row n of w, dequantized into dst[0..in): group by group (no division per element).
void dequantize_row(const Int4Weights& w, int64_t n, float* dst) {
  const uint8_t* bytes = w.packed.data() + n * w.in / 2;
  const float* s = w.scales.data() + n * (w.in / w.group_size);
  for (int64_t g0 = 0, g = 0; g0 < w.in; g0 += w.group_size, ++g) {
    const float scale = s[g];
    for (int64_t k = g0; k < g0 + w.group_size; k += 2) {  // k and k + 1 share a byte and a group
      dst[k] = scale * static_cast<float>((bytes[k / 2] & 0x0F) - 8);
      dst[k + 1] = scale * static_cast<float>((bytes[k / 2] >> 4) - 8);
    }
  }
}

// Σ a[k]·b[k] with 8 independent partial sums, so that the compiler can keep them in one vector
// register (a single running sum is a chain it may not reorder).
float dot(const float* a, const float* b, int64_t n) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) part[j] += a[k + j] * b[k + j];
  float acc = 0.0f;
  for (; k < n; ++k) acc += a[k] * b[k];
  for (const float p : part) acc += p;
  return acc;
}

}  // namespace

Tensor unpack_int4(const Int4Weights& w) {
  Tensor out = Tensor::empty({w.out, w.in});
  for (int64_t n = 0; n < w.out; ++n) dequantize_row(w, n, out.data() + n * w.in);
  return out;
}

Tensor int4_linear(const Tensor& x, const Int4Weights& w, const Tensor& bias) {
  NIBBLE_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == w.in, "int4_linear",
               "x is " + (x.defined() ? x.shape_str() : std::string("undefined")) + " but the weights are [" +
                   std::to_string(w.out) + ", " + std::to_string(w.in) + "]",
               "x [..., in_features]");
  NIBBLE_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == w.out), "int4_linear",
               "bias is " + bias.shape_str() + " for " + std::to_string(w.out) + " outputs");
  NoGradGuard no_grad;
  const Tensor xc = x.contiguous();
  const int64_t M = xc.numel() / w.in, K = w.in, N = w.out;
  Shape shape = x.shape();
  shape.back() = N;
  Tensor y = Tensor::empty(shape);
  const float* X = xc.data();
  float* Y = y.data();
  if (M <= 8) {
    // Row by row: dequantize one weight row (K floats, in L1), then one dot product per x row. The
    // packed weights are read once; both loops are plain enough for the compiler to vectorise.
    std::vector<float> wrow(static_cast<size_t>(K));
    for (int64_t n = 0; n < N; ++n) {
      dequantize_row(w, n, wrow.data());
      for (int64_t m = 0; m < M; ++m) {
        Y[m * N + n] = dot(X + m * K, wrow.data(), K);
      }
    }
  } else {
    // A batch: dequantize all rows into a per-call buffer, then one fp32 GEMM Y = X · Ŵᵀ.
    std::vector<float> tile(static_cast<size_t>(N * K));
    for (int64_t n = 0; n < N; ++n) dequantize_row(w, n, tile.data() + n * K);
    sgemm(false, true, M, N, K, 1.0f, X, K, tile.data(), K, 0.0f, Y, N);
  }
  if (bias.defined()) {
    const Tensor b = bias.contiguous();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) Y[m * N + n] += b.data()[n];
  }
  return y;
}

}  // namespace nibble
