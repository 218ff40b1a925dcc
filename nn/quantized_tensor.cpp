#include "nn/quantized_tensor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NIBBLE_QUANT_X86 1
#endif

#include "core/cpu_features.h"
#include "core/error.h"

namespace nibble::nn {

namespace {

// ---- scalar and AVX2 loops ----------------------------------------------------------------------

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
inline uint8_t quantize_one(float x, float inv_scale, float zero_point, float qmax) {
  float t = x * inv_scale;
  t = t + zero_point;
  t = t > 0.0f ? t : 0.0f;  // NaN -> 0, like _mm256_max_ps(t, 0)
  t = t < qmax ? t : qmax;
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

// 8 floats -> 8 int32 (already clamped to [0, qmax] in float, rounded half to even).
__attribute__((target("avx2"))) inline __m256i quantize8(const float* x, __m256 inv, __m256 zp,
                                                         __m256 zero, __m256 top) {
  __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x), inv);  // separate mul + add (no FMA): same
  t = _mm256_add_ps(t, zp);                           // rounding as the scalar reference
  t = _mm256_max_ps(t, zero);                         // NaN -> 0 (second operand wins)
  t = _mm256_min_ps(t, top);
  return _mm256_cvtps_epi32(t);  // MXCSR default: round half to even, like nearbyint
}

__attribute__((target("avx2"))) void quantize_u8_avx2(const float* x, int64_t n, float inv_scale,
                                                      float zero_point, float qmax, uint8_t* q) {
  const __m256 inv = _mm256_set1_ps(inv_scale), zp = _mm256_set1_ps(zero_point);
  const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(qmax);
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
  for (; i < n; ++i) q[i] = quantize_one(x[i], inv_scale, zero_point, qmax);
}
#endif

bool use_avx2() {
#if NIBBLE_QUANT_X86
  return cpu_features().avx2;
#else
  return false;
#endif
}

}  // namespace

// ---- activation quantization --------------------------------------------------------------------

QuantParams choose_u8_params(float lo, float hi, int32_t qmax) {
  if (qmax < 1 || qmax > 255)
    fail("choose_u8_params", "qmax = " + std::to_string(qmax) + " is outside [1, 255]",
         "use 255 (8-bit) or 127 (7-bit, reduce_range)");
  const double l = std::min(0.0, static_cast<double>(lo));
  const double h = std::max(0.0, static_cast<double>(hi));
  if (!std::isfinite(l) || !std::isfinite(h)) {  // (if + fail: runs on every dynamic forward)
    fail("choose_u8_params",
         "range [" + std::to_string(lo) + ", " + std::to_string(hi) + "] is not finite");
  }
  if (h - l <= 0.0) return QuantParams{1.0f, 0, qmax};
  QuantParams p;
  p.qmax = qmax;
  p.scale = static_cast<float>((h - l) / qmax);
  // za = the level that represents real 0 exactly (needed for ReLU outputs and zero padding).
  const double zp = std::nearbyint(-l / p.scale);
  p.zero_point = static_cast<int32_t>(std::clamp(zp, 0.0, static_cast<double>(qmax)));
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
  const float qmax = static_cast<float>(p.qmax);
  for (int64_t i = 0; i < n; ++i) q[i] = quantize_one(x[i], inv, zp, qmax);
}

void quantize_u8(const float* x, int64_t n, QuantParams p, uint8_t* q) {
#if NIBBLE_QUANT_X86
  if (use_avx2()) {
    quantize_u8_avx2(x, n, 1.0f / p.scale, static_cast<float>(p.zero_point),
                     static_cast<float>(p.qmax), q);
    return;
  }
#endif
  quantize_u8_reference(x, n, p, q);
}

// ---- QuantizedTensor ----------------------------------------------------------------------------

int64_t QuantizedTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

int64_t QuantizedTensor::size(int64_t axis) const {
  const int64_t d = dim();
  if (axis < -d || axis >= d) {
    fail("QuantizedTensor::size",
         "axis " + std::to_string(axis) + " is out of range for shape " + shape_str());
  }
  return shape[static_cast<size_t>(axis < 0 ? axis + d : axis)];
}

std::string QuantizedTensor::shape_str() const { return nibble::shape_str(shape); }

// These checks run on every forward, so they are `if (!ok) fail(...)`: NIBBLE_CHECK(ok, op, message)
// would build its message (to_string, shape_str) on every call, costly at batch 1.
namespace {
void check_params(QuantParams p, const char* op) {
  if (std::isfinite(p.scale) && p.scale > 0.0f && p.qmax >= 1 && p.qmax <= 255 &&
      p.zero_point >= 0 && p.zero_point <= p.qmax)
    return;
  fail(op,
       "quantization parameters scale = " + std::to_string(p.scale) + ", zero_point = " +
           std::to_string(p.zero_point) + ", qmax = " + std::to_string(p.qmax) + " are invalid",
       "scale must be positive and finite, qmax in [1, 255], zero_point in [0, qmax]; "
       "choose_u8_params(lo, hi) gives valid ones");
}
}  // namespace

void check_quantized(const QuantizedTensor& x, const char* op) {
  for (int64_t s : x.shape) {
    if (s < 0) fail(op, "input shape " + x.shape_str() + " has a negative size");
  }
  if (static_cast<int64_t>(x.data.size()) != x.numel()) {
    fail(op,
         "input " + x.shape_str() + " holds " + std::to_string(x.data.size()) +
             " bytes, but its shape needs " + std::to_string(x.numel()),
         "resize data to the shape's numel(), or set shape to match the data");
  }
  check_params(x.params, op);
}

QuantizedTensor quantize(const Tensor& x, QuantParams params) {
  NIBBLE_CHECK(x.defined(), "quantize", "argument 'x' is an undefined tensor");
  check_params(params, "quantize");
  const Tensor xc = x.contiguous();
  QuantizedTensor q{xc.shape(), params, std::vector<uint8_t>(static_cast<size_t>(xc.numel()))};
  quantize_u8(xc.data(), xc.numel(), params, q.data.data());
  return q;
}

Tensor dequantize(const QuantizedTensor& x) {
  check_quantized(x, "dequantize");
  Tensor y = Tensor::empty(x.shape);
  float* yd = y.data();
  const uint8_t* q = x.data.data();
  const float s = x.params.scale;
  const int32_t zp = x.params.zero_point;
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) yd[i] = s * static_cast<float>(q[i] - zp);
  return y;
}

QuantizedTensor max_pool2d(const QuantizedTensor& x, Size2 kernel, Size2 stride) {
  const char* op = "max_pool2d(QuantizedTensor)";
  check_quantized(x, op);
  if (x.dim() != 4) fail(op, "input must be 4-d [N, C, H, W], got shape " + x.shape_str());
  if (kernel.h <= 0 || kernel.w <= 0 || stride.h < 0 || stride.w < 0) {
    fail(op,
         "kernel " + std::to_string(kernel.h) + "x" + std::to_string(kernel.w) +
             " must be positive and stride " + std::to_string(stride.h) + "x" +
             std::to_string(stride.w) + " non-negative",
         "stride 0 means the kernel size");
  }
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t KH = kernel.h, KW = kernel.w;
  const int64_t sh = stride.h == 0 ? KH : stride.h, sw = stride.w == 0 ? KW : stride.w;
  if (H < KH || W < KW) {
    fail(op,
         "input " + x.shape_str() + " is smaller than the kernel " + std::to_string(KH) + "x" +
             std::to_string(KW),
         "this uint8 pooling has no padding");
  }
  const int64_t OH = (H - KH) / sh + 1, OW = (W - KW) / sw + 1;
  QuantizedTensor y{
      {N, C, OH, OW}, x.params, std::vector<uint8_t>(static_cast<size_t>(N * C * OH * OW))};

  // The usual 2x2, stride 2 pool reads its two input rows directly (the compiler vectorises the
  // loop: pmaxub). Other shapes take two passes per output row, so that the inner loops still run
  // over contiguous bytes: the element-wise max of the window's KH rows, then of each KW window.
  const uint8_t* in = x.data.data();
  uint8_t* out = y.data.data();
  const bool two_by_two = KH == 2 && KW == 2 && sh == 2 && sw == 2;
  // One row buffer per thread, allocated before the region (an allocation failure inside it would
  // be std::terminate, not an exception).
  const bool parallel = x.numel() >= (int64_t{1} << 16);
  std::vector<std::vector<uint8_t>> rowmax(static_cast<size_t>(parallel ? omp_get_max_threads() : 1),
                                           std::vector<uint8_t>(static_cast<size_t>(W)));
#pragma omp parallel if (parallel)
  {
    uint8_t* m = rowmax[static_cast<size_t>(parallel ? omp_get_thread_num() : 0)].data();
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < N * C; ++plane) {
      const uint8_t* xp = in + plane * H * W;
      uint8_t* yp = out + plane * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh, yp += OW) {
        const uint8_t* r = xp + oh * sh * W;  // first row of the window
        if (two_by_two) {
          const uint8_t* r1 = r + W;
          for (int64_t ow = 0; ow < OW; ++ow) {
            yp[ow] =
                std::max(std::max(r[2 * ow], r[2 * ow + 1]), std::max(r1[2 * ow], r1[2 * ow + 1]));
          }
          continue;
        }
        for (int64_t w = 0; w < W; ++w) m[w] = r[w];
        for (int64_t kh = 1; kh < KH; ++kh) {
          r += W;
          for (int64_t w = 0; w < W; ++w) m[w] = std::max(m[w], r[w]);
        }
        for (int64_t ow = 0; ow < OW; ++ow) {
          const uint8_t* win = m + ow * sw;
          uint8_t best = win[0];
          for (int64_t kw = 1; kw < KW; ++kw) best = std::max(best, win[kw]);
          yp[ow] = best;
        }
      }
    }
  }
  return y;
}

}  // namespace nibble::nn
