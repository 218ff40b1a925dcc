#include "nn/quantized.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NIBBLE_QUANT_X86 1
#endif

#include "core/autograd.h"
#include "core/cpu_features.h"

namespace nibble::nn {

namespace {

// ---- scalar and AVX2 loops ---------------------------------------------------------------------------

void min_max_scalar(const float* x, int64_t n, float* lo, float* hi) {
  float l = std::numeric_limits<float>::infinity(), h = -l;
  for (int64_t i = 0; i < n; ++i) {  // comparisons with NaN are false: NaNs are skipped
    if (x[i] < l) l = x[i];
    if (x[i] > h) h = x[i];
  }
  *lo = l;
  *hi = h;
}

// One element of quantize_u8, in the exact operation order of the AVX2 loop below (multiply,
// add, clamp in float, round half to even), so both give identical bytes. Clamping in float
// before converting also keeps huge inputs away from cvtps2dq's 0x80000000 "invalid" result.
inline uint8_t quantize_one(float x, float inv_scale, float zero_point) {
  float t = x * inv_scale;
  t = t + zero_point;
  t = t > 0.0f ? t : 0.0f;  // NaN -> 0, like _mm256_max_ps(t, 0)
  t = t < 255.0f ? t : 255.0f;
  return static_cast<uint8_t>(std::nearbyint(t));  // default rounding mode: half to even
}

#if NIBBLE_QUANT_X86
__attribute__((target("avx2"))) void min_max_avx2(const float* x, int64_t n, float* lo, float* hi) {
  __m256 l0 = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 h0 = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 l1 = l0, h1 = h0;  // two accumulator pairs hide the 3-cycle min/max latency
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    // min_ps(a, acc) returns acc when a is NaN: NaNs are skipped, as in the scalar loop.
    l0 = _mm256_min_ps(a, l0);
    h0 = _mm256_max_ps(a, h0);
    l1 = _mm256_min_ps(b, l1);
    h1 = _mm256_max_ps(b, h1);
  }
  alignas(32) float ls[8], hs[8];
  _mm256_store_ps(ls, _mm256_min_ps(l0, l1));
  _mm256_store_ps(hs, _mm256_max_ps(h0, h1));
  float l, h;
  min_max_scalar(x + i, n - i, &l, &h);
  for (int j = 0; j < 8; ++j) {
    l = std::min(l, ls[j]);
    h = std::max(h, hs[j]);
  }
  *lo = l;
  *hi = h;
}

// 8 floats -> 8 int32 (already clamped to [0, 255] in float, rounded half to even).
__attribute__((target("avx2"))) inline __m256i quantize8(const float* x, __m256 inv, __m256 zp,
                                                          __m256 zero, __m256 top) {
  __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x), inv);  // separate mul + add (no FMA): same
  t = _mm256_add_ps(t, zp);                          // rounding as the scalar reference
  t = _mm256_max_ps(t, zero);                        // NaN -> 0 (second operand wins)
  t = _mm256_min_ps(t, top);
  return _mm256_cvtps_epi32(t);  // MXCSR default: round half to even, like nearbyint
}

__attribute__((target("avx2"))) void quantize_u8_avx2(const float* x, int64_t n, float inv_scale,
                                                      float zero_point, uint8_t* q) {
  const __m256 inv = _mm256_set1_ps(inv_scale), zp = _mm256_set1_ps(zero_point);
  const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
  // packs/packus work within 128-bit lanes, leaving the bytes as 4-element groups in the order
  // (0, 2, 4, 6, 1, 3, 5, 7) of the eight groups; this permutation puts them back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i a = quantize8(x + i, inv, zp, zero, top);
    const __m256i b = quantize8(x + i + 8, inv, zp, zero, top);
    const __m256i c = quantize8(x + i + 16, inv, zp, zero, top);
    const __m256i d = quantize8(x + i + 24, inv, zp, zero, top);
    const __m256i ab = _mm256_packs_epi32(a, b);  // values are in [0, 255]: no saturation
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), bytes);
  }
  for (; i < n; ++i) q[i] = quantize_one(x[i], inv_scale, zero_point);
}
#endif

bool use_avx2() {
#if NIBBLE_QUANT_X86
  return cpu_features().avx2;
#else
  return false;
#endif
}

// Min/max over all calibration tensors -> static parameters.
QuantParams calibrate(const std::vector<Tensor>& inputs, int64_t last_dim, bool check_last,
                      const char* op) {
  float lo = 0.0f, hi = 0.0f;
  for (const Tensor& t : inputs) {
    check(t.defined(), op, "a calibration input is an undefined tensor");
    if (check_last) {
      check(t.dim() >= 1 && t.size(-1) == last_dim, op,
            "calibration input " + t.shape_str() + " does not end in in_features = " +
                std::to_string(last_dim));
    }
    const Tensor c = t.contiguous();
    float l, h;
    min_max(c.data(), c.numel(), &l, &h);
    if (c.numel() > 0) lo = std::min(lo, l), hi = std::max(hi, h);
  }
  return choose_u8_params(lo, hi);
}

// A reusable per-thread byte buffer: the quantized activations / im2col rows of one call.
// (Allocating and page-faulting a fresh buffer per call costs more than quantizing at batch 1.)
uint8_t* scratch_u8(size_t bytes, int which) {
  thread_local std::vector<uint8_t> buffers[2];
  std::vector<uint8_t>& b = buffers[which];
  if (b.size() < bytes) b.resize(bytes);
  return b.data();
}
float* scratch_f32(size_t count) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

void relu_inplace(float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

}  // namespace

// ---- helpers ---------------------------------------------------------------------------------------

QuantParams choose_u8_params(float lo, float hi) {
  const double l = std::min(0.0, static_cast<double>(lo));
  const double h = std::max(0.0, static_cast<double>(hi));
  check(std::isfinite(l) && std::isfinite(h), "choose_u8_params",
        "range [" + std::to_string(lo) + ", " + std::to_string(hi) + "] is not finite");
  if (h - l <= 0.0) return QuantParams{1.0f, 0};
  QuantParams p;
  p.scale = static_cast<float>((h - l) / 255.0);
  // za = the level that represents real 0 exactly (needed for ReLU outputs and zero padding).
  const double zp = std::nearbyint(-l / p.scale);
  p.zero_point = static_cast<int32_t>(std::clamp(zp, 0.0, 255.0));
  return p;
}

void min_max(const float* x, int64_t n, float* lo, float* hi) {
  if (n <= 0) {
    *lo = *hi = 0.0f;
    return;
  }
#if NIBBLE_QUANT_X86
  if (use_avx2()) {
    min_max_avx2(x, n, lo, hi);
  } else {
    min_max_scalar(x, n, lo, hi);
  }
#else
  min_max_scalar(x, n, lo, hi);
#endif
  if (*lo > *hi) *lo = *hi = 0.0f;  // all NaN
}

void quantize_u8_reference(const float* x, int64_t n, QuantParams p, uint8_t* q) {
  const float inv = 1.0f / p.scale, zp = static_cast<float>(p.zero_point);
  for (int64_t i = 0; i < n; ++i) q[i] = quantize_one(x[i], inv, zp);
}

void quantize_u8(const float* x, int64_t n, QuantParams p, uint8_t* q) {
#if NIBBLE_QUANT_X86
  if (use_avx2()) {
    quantize_u8_avx2(x, n, 1.0f / p.scale, static_cast<float>(p.zero_point), q);
    return;
  }
#endif
  quantize_u8_reference(x, n, p, q);
}

void quantize_weights_per_channel(const float* W, int64_t N, int64_t K, std::vector<int8_t>* qw,
                                  std::vector<float>* scales) {
  qw->resize(static_cast<size_t>(N * K));
  scales->resize(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const float* row = W + n * K;
    float amax = 0.0f;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(row[k]));
    check(std::isfinite(amax), "quantize_weights_per_channel",
          "output channel " + std::to_string(n) + " has a non-finite weight");
    // An all-zero channel gets scale 1 (any scale represents it; 0 would divide by zero).
    const float s = amax > 0.0f ? amax / 127.0f : 1.0f;
    (*scales)[n] = s;
    for (int64_t k = 0; k < K; ++k) {
      const float v = std::nearbyint(row[k] / s);
      (*qw)[n * K + k] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
    }
  }
}

// ---- QuantizedLinear ------------------------------------------------------------------------------

QuantizedLinear QuantizedLinear::from_float(const Linear& layer,
                                            const std::vector<Tensor>& calibration_inputs,
                                            const QuantizeOptions& options) {
  NoGradGuard no_grad;
  QuantizedLinear q;
  q.in_ = layer.in_features;
  q.out_ = layer.out_features;
  q.fuse_relu_ = options.fuse_relu;
  q.dynamic_ = calibration_inputs.empty();
  if (!q.dynamic_) {
    q.input_ = calibrate(calibration_inputs, q.in_, true, "QuantizedLinear::from_float");
  }
  const Tensor w = layer.weight.contiguous();  // [out, in]
  quantize_weights_per_channel(w.data(), q.out_, q.in_, &q.qweight_, &q.weight_scales_);
  if (layer.bias.defined()) q.bias_ = layer.bias.contiguous().to_vector();
  q.packed_ = pack_weights_s8(q.qweight_.data(), q.in_, q.out_, options.kernel);
  return q;
}

Tensor QuantizedLinear::forward(const Tensor& x) const {
  check(!packed_.empty(), "QuantizedLinear::forward", "the layer is empty",
        "build it with QuantizedLinear::from_float(linear, calibration_inputs)");
  check(x.defined() && x.dim() >= 1 && x.size(-1) == in_, "QuantizedLinear::forward",
        "input " + (x.defined() ? x.shape_str() : std::string("(undefined)")) +
            " does not end in in_features = " + std::to_string(in_),
        "the layer maps [..., " + std::to_string(in_) + "] -> [..., " + std::to_string(out_) + "]");
  NoGradGuard no_grad;  // integer arithmetic has no backward; the result carries no history
  const Tensor xc = x.contiguous();
  const int64_t M = in_ > 0 ? xc.numel() / in_ : 0;
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  Tensor y = Tensor::empty(out_shape);  // [..., out]

  QuantParams p = input_;
  if (dynamic_) {
    float lo, hi;
    min_max(xc.data(), xc.numel(), &lo, &hi);
    p = choose_u8_params(lo, hi);
  }
  uint8_t* qx = scratch_u8(static_cast<size_t>(xc.numel()), 0);  // [M, in]
  quantize_u8(xc.data(), xc.numel(), p, qx);

  Dequantize dq;
  dq.input_scale = p.scale;
  dq.weight_scales = weight_scales_.data();
  dq.bias = bias_.empty() ? nullptr : bias_.data();
  int8_gemm_f32(input_u8(qx, M, in_, p.zero_point), packed_, nullptr, dq, y.data());
  if (fuse_relu_) relu_inplace(y.data(), y.numel());
  return y;
}

// ---- QuantizedConv2d --------------------------------------------------------------------------------

QuantizedConv2d QuantizedConv2d::from_float(const Conv2d& layer,
                                            const std::vector<Tensor>& calibration_inputs,
                                            const QuantizeOptions& options) {
  check(layer.options.groups == 1, "QuantizedConv2d::from_float",
        "groups = " + std::to_string(layer.options.groups) + " is not supported (only groups = 1)");
  NoGradGuard no_grad;
  QuantizedConv2d q;
  q.c_ = layer.in_channels;
  q.oc_ = layer.out_channels;
  q.kh_ = layer.kernel_size.h;
  q.kw_ = layer.kernel_size.w;
  q.options_ = layer.options;
  q.fuse_relu_ = options.fuse_relu;
  q.dynamic_ = calibration_inputs.empty();
  if (!q.dynamic_) {
    for (const Tensor& t : calibration_inputs) {
      check(t.defined() && t.dim() == 4 && t.size(1) == q.c_, "QuantizedConv2d::from_float",
            "calibration input " + (t.defined() ? t.shape_str() : std::string("(undefined)")) +
                " is not [N, " + std::to_string(q.c_) + ", H, W]");
    }
    q.input_ = calibrate(calibration_inputs, 0, false, "QuantizedConv2d::from_float");
  }
  const int64_t K = q.c_ * q.kh_ * q.kw_;
  const Tensor w = layer.weight.contiguous();  // [OC, C, KH, KW] = [OC, K] row-major
  quantize_weights_per_channel(w.data(), q.oc_, K, &q.qweight_, &q.weight_scales_);
  if (layer.bias.defined()) q.bias_ = layer.bias.contiguous().to_vector();
  q.packed_ = pack_weights_s8(q.qweight_.data(), K, q.oc_, options.kernel);
  return q;
}

Tensor QuantizedConv2d::forward(const Tensor& x) const {
  const char* op = "QuantizedConv2d::forward";
  check(!packed_.empty(), op, "the layer is empty",
        "build it with QuantizedConv2d::from_float(conv, calibration_inputs)");
  check(x.defined() && x.dim() == 4 && x.size(1) == c_, op,
        "input " + (x.defined() ? x.shape_str() : std::string("(undefined)")) + " is not [N, " +
            std::to_string(c_) + ", H, W]");
  NoGradGuard no_grad;
  const Tensor xc = x.contiguous();
  const int64_t N = xc.size(0), H = xc.size(2), W = xc.size(3);
  const int64_t sh = options_.stride.h, sw = options_.stride.w;
  const int64_t ph = options_.padding.h, pw = options_.padding.w;
  const int64_t dh = options_.dilation.h, dw = options_.dilation.w;
  const int64_t span_h = H + 2 * ph - dh * (kh_ - 1) - 1, span_w = W + 2 * pw - dw * (kw_ - 1) - 1;
  check(span_h >= 0 && span_w >= 0, op,
        "input " + xc.shape_str() + " is smaller than the dilated " + std::to_string(kh_) + "x" +
            std::to_string(kw_) + " kernel with padding " + std::to_string(ph) + "x" +
            std::to_string(pw));
  const int64_t OH = span_h / sh + 1, OW = span_w / sw + 1;
  const int64_t P = OH * OW, K = c_ * kh_ * kw_, HW = H * W;
  Tensor y = Tensor::empty({N, oc_, OH, OW});
  if (N == 0) return y;

  // 1. Quantize the whole input in one vectorised pass: [N, C, H, W] uint8.
  QuantParams p = input_;
  if (dynamic_) {
    float lo, hi;
    min_max(xc.data(), xc.numel(), &lo, &hi);
    p = choose_u8_params(lo, hi);
  }
  // +8 bytes: the im2col fast path below reads 8 bytes from any position inside the input.
  uint8_t* qx = scratch_u8(static_cast<size_t>(xc.numel()) + 8, 0);
  quantize_u8(xc.data(), xc.numel(), p, qx);
  const uint8_t pad = static_cast<uint8_t>(p.zero_point);  // real 0

  // 2. Images in chunks whose im2col matrix stays around 2 MB (L3-resident, bounded memory).
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 21) / std::max<int64_t>(1, P * K));
  uint8_t* cols = scratch_u8(static_cast<size_t>(std::min(chunk, N) * P * K), 1);  // [chunk*P, K]
  float* tmp = scratch_f32(static_cast<size_t>(std::min(chunk, N) * P * oc_));     // [chunk*P, OC]
  Dequantize dq;
  dq.input_scale = p.scale;
  dq.weight_scales = weight_scales_.data();
  dq.bias = bias_.empty() ? nullptr : bias_.data();
  float* out = y.data();

  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t nb = std::min(chunk, N - n0);
    // im2col, one output row (image, oh) per iteration: row (n, oh, ow) holds the receptive field
    // in [C, KH, KW] order, the weight's flattening order.
#pragma omp parallel for schedule(static) if (nb * P * K > (1 << 16))
    for (int64_t row = 0; row < nb * OH; ++row) {
      const int64_t n = row / OH, oh = row % OH;
      const uint8_t* img = qx + (n0 + n) * c_ * HW;
      for (int64_t ow = 0; ow < OW; ++ow) {
        uint8_t* r = cols + ((n * OH + oh) * OW + ow) * K;
        const int64_t iw0 = ow * sw - pw;
        // Undilated windows fully inside the image row are contiguous KW-byte runs.
        const bool inside_w = dw == 1 && iw0 >= 0 && iw0 + kw_ <= W;
        uint8_t* const row_end = r + K;
        for (int64_t c = 0; c < c_; ++c) {
          for (int64_t kh = 0; kh < kh_; ++kh, r += kw_) {
            const int64_t ih = oh * sh - ph + kh * dh;
            if (ih < 0 || ih >= H) {
              std::memset(r, pad, static_cast<size_t>(kw_));
              continue;
            }
            const uint8_t* src = img + c * HW + ih * W;
            if (inside_w && kw_ <= 8 && r + 8 <= row_end) {
              // One fixed 8-byte move instead of a variable-length memcpy call (5x faster for
              // 5x5 kernels). The 8 - KW extra bytes land in this row's next segment, which is
              // written right after; the last segment of a row takes the exact path instead, so
              // rows written by other threads are never touched.
              std::memcpy(r, src + iw0, 8);
            } else if (inside_w) {
              std::memcpy(r, src + iw0, static_cast<size_t>(kw_));
            } else {
              for (int64_t kw = 0; kw < kw_; ++kw) {
                const int64_t iw = iw0 + kw * dw;
                r[kw] = (iw >= 0 && iw < W) ? src[iw] : pad;
              }
            }
          }
        }
      }
    }
    // [nb*P, K] x [K, OC] -> [nb*P, OC] (float, bias included)
    int8_gemm_f32(input_u8(cols, nb * P, K, p.zero_point), packed_, nullptr, dq, tmp);
    // Transpose each image's [P, OC] block into NCHW [OC, P], applying ReLU on the way.
    const bool relu = fuse_relu_;
#pragma omp parallel for schedule(static) if (nb * P * oc_ > (1 << 16))
    for (int64_t n = 0; n < nb; ++n) {
      const float* t = tmp + n * P * oc_;
      float* o = out + (n0 + n) * oc_ * P;
      for (int64_t pix = 0; pix < P; ++pix) {
        for (int64_t oc = 0; oc < oc_; ++oc) {
          const float v = t[pix * oc_ + oc];
          o[oc * P + pix] = relu ? (v > 0.0f ? v : 0.0f) : v;
        }
      }
    }
  }
  return y;
}

}  // namespace nibble::nn
