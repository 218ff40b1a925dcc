// Sparse int8 convolution (int8_sparse_conv.h): building the tap lists, the scalar reference, the
// shared driver and epilogue. The AVX2 accumulation loop is in int8_sparse_conv_avx2.cpp.
//
// Per image the driver
//  1. copies the input into a zero-point-padded buffer xp [C, HP, WP] (+ slack), so that no tap
//     ever needs a bounds check: tap (c, ky, kx) of output (oy, ox) reads
//     xp[off + oy*sh*WP + ox*sw] with off = c*HP*WP + ky*dh*WP + kx*dw, computed once per call;
//  2. per output channel, accumulates the raw int32 sums  acc = sum_taps w * x  (no zero point);
//  3. requantizes acc + (bias - za * sum(w)) with the dense path's epilogue (requantize_tile), so
//     the bytes match int8_gemm_u8's exactly.
#include "core/kernels/int8_sparse_conv.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/kernels/int8_internal.h"

namespace nibble {

namespace {

constexpr int64_t kMaxTaps = 65536;  // as the GEMM's K: 255 * 128 * 65536 < 2^31, sums are exact
static_assert(std::is_same_v<int32_t, int>, "the shifts share the int32 constants buffer");
constexpr int kSeg = 64;             // epilogue segment: constants replicated over 64 positions

std::vector<int64_t> dims_of(const SparseConvWeightsS8& w) {
  return {w.out_channels(), w.in_channels(), w.kernel_h(), w.kernel_w()};
}

// Per-thread buffers, reused across calls (a batch of one must not allocate: see nn/quantized.cpp).
template <typename T, int Which>
T* scratch(size_t count) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

// The scalar reference of step 2 for any stride / dilation: acc [OH, OW] of one output channel.
void accumulate_scalar(const uint8_t* xp, const int32_t* off, const int8_t* w, int64_t ntaps,
                       int64_t OH, int64_t OW, int64_t row_step, int64_t col_step, int32_t* acc) {
  std::fill(acc, acc + OH * OW, 0);
  for (int64_t t = 0; t < ntaps; ++t) {
    const int32_t wt = w[t];
    for (int64_t oy = 0; oy < OH; ++oy) {
      const uint8_t* src = xp + off[t] + oy * row_step;
      int32_t* a = acc + oy * OW;
      for (int64_t ox = 0; ox < OW; ++ox) a[ox] += wt * src[ox * col_step];
    }
  }
}

// pool x pool max pooling (stride pool) of int32 rows with row stride `stride` -> out [PH, PW].
void max_pool_s32(const int32_t* acc, int64_t stride, int64_t pool, int64_t PH, int64_t PW, int32_t* out) {
  for (int64_t py = 0; py < PH; ++py)
    for (int64_t px = 0; px < PW; ++px) {
      int32_t m = std::numeric_limits<int32_t>::min();
      for (int64_t i = 0; i < pool; ++i)
        for (int64_t j = 0; j < pool; ++j) m = std::max(m, acc[(py * pool + i) * stride + px * pool + j]);
      out[py * PW + px] = m;
    }
}

// Step 3 on a flat run of `count` accumulators with one channel's constants (replicated over
// kSeg positions in `row`): whole segments in one requantize_tile call, then the tail.
void requantize_flat(const detail::RequantRow& row, const int32_t* acc, int64_t count, uint8_t* out) {
  const int64_t full = count / kSeg;
  if (full > 0) detail::requantize_tile(row, acc, kSeg, static_cast<int>(full), kSeg, out, kSeg);
  const int tail = static_cast<int>(count - full * kSeg);
  if (tail > 0) detail::requantize_tile(row, acc + full * kSeg, 0, 1, tail, out + full * kSeg, 0);
}

void check_requantize(const char* op, const Requantize& rq, int64_t OC) {
  if (!(rq.zero_point >= 0 && rq.zero_point <= 255))
    fail(op, "output zero point " + std::to_string(rq.zero_point) + " is outside [0, 255]");
  if ((rq.multipliers == nullptr) != (rq.right_shifts == nullptr))
    fail(op, "per-channel requantization needs both multipliers and right_shifts",
         "set both arrays (length OC) or neither");
  for (int64_t n = 0; n < (rq.multipliers ? OC : 1); ++n) {
    const int32_t m = rq.multipliers ? rq.multipliers[n] : rq.multiplier;
    const int s = rq.right_shifts ? rq.right_shifts[n] : rq.right_shift;
    if (m >= 0 && s >= -31 && s <= 31) continue;
    fail(op, "bad requantization multiplier " + std::to_string(m) + " / right_shift " + std::to_string(s),
         "compute them with quantize_multiplier(real_scale, &multiplier, &right_shift)");
  }
  if (rq.max_value < rq.zero_point)
    fail(op, "max_value " + std::to_string(rq.max_value) + " is below the output zero point " +
                 std::to_string(rq.zero_point));
}

}  // namespace

// ---- kernel selection ------------------------------------------------------------------------------

const char* sparse_conv_kernel_name(SparseConvKernel kernel) {
  switch (kernel) {
    case SparseConvKernel::kAuto: return "auto";
    case SparseConvKernel::kScalar: return "scalar";
    case SparseConvKernel::kAvx2: return "avx2";
  }
  return "?";
}

bool sparse_conv_kernel_available(SparseConvKernel kernel) {
  if (kernel != SparseConvKernel::kAvx2) return true;
#if defined(__x86_64__)
  return cpu_features().avx2;
#else
  return false;
#endif
}

SparseConvKernel sparse_conv_select_kernel(SparseConvKernel requested) {
  if (requested == SparseConvKernel::kAuto)
    return sparse_conv_kernel_available(SparseConvKernel::kAvx2) ? SparseConvKernel::kAvx2
                                                                  : SparseConvKernel::kScalar;
  if (!sparse_conv_kernel_available(requested))
    fail("sparse_conv2d_u8", std::string("kernel '") + sparse_conv_kernel_name(requested) + "' is not available",
         "this CPU has: " + cpu_features().summary() + "; use SparseConvKernel::kAuto");
  return requested;
}

// ---- weights ---------------------------------------------------------------------------------------

SparseConvWeightsS8 SparseConvWeightsS8::from_dense(const int8_t* W, int64_t OC, int64_t C, int64_t KH,
                                                    int64_t KW) {
  const char* op = "SparseConvWeightsS8::from_dense";
  NIBBLE_CHECK(OC > 0 && C > 0 && KH > 0 && KW > 0, op,
               "weight shape " + shape_str({OC, C, KH, KW}) + " has a non-positive dimension");
  NIBBLE_CHECK(C * KH * KW <= kMaxTaps, op,
               "C * KH * KW = " + std::to_string(C * KH * KW) + " exceeds " + std::to_string(kMaxTaps),
               "the int32 sums are exact only up to 65536 taps per output channel");
  NIBBLE_CHECK(W != nullptr, op, "W is null");
  SparseConvWeightsS8 s;
  s.oc_ = OC, s.c_ = C, s.kh_ = KH, s.kw_ = KW;
  s.start_.push_back(0);
  for (int64_t oc = 0; oc < OC; ++oc) {
    int32_t sum = 0;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ky = 0; ky < KH; ++ky)
        for (int64_t kx = 0; kx < KW; ++kx) {
          const int8_t w = W[((oc * C + c) * KH + ky) * KW + kx];
          if (w == 0) continue;
          s.taps_.push_back({static_cast<int32_t>(c), static_cast<int32_t>(ky), static_cast<int32_t>(kx), w});
          sum += w;
        }
    s.start_.push_back(static_cast<int32_t>(s.taps_.size()));
    s.sums_.push_back(sum);
  }
  return s;
}

double SparseConvWeightsS8::density() const {
  return empty() ? 0.0 : static_cast<double>(nonzeros()) / static_cast<double>(oc_ * c_ * kh_ * kw_);
}

// ---- the driver ------------------------------------------------------------------------------------

void sparse_conv2d_u8(const uint8_t* x, const SparseConvShape& s, int32_t za, const SparseConvWeightsS8& w,
                      const int32_t* bias, const Requantize& rq, uint8_t* y, SparseConvKernel kernel,
                      int64_t pool) {
  const char* op = "sparse_conv2d_u8";
  // `if (!ok) fail(...)`: no message is built on the good path (this runs per layer per forward).
  if (w.empty()) fail(op, "the weights are empty", "build them with SparseConvWeightsS8::from_dense");
  const int64_t C = w.in_channels(), OC = w.out_channels(), KH = w.kernel_h(), KW = w.kernel_w();
  if (!(s.N >= 0 && s.H > 0 && s.W > 0 && s.stride_h > 0 && s.stride_w > 0 && s.pad_h >= 0 && s.pad_w >= 0 &&
        s.dilation_h > 0 && s.dilation_w > 0))
    fail(op, "bad shape: input " + shape_str({s.N, C, s.H, s.W}) + ", stride " + std::to_string(s.stride_h) +
                 "x" + std::to_string(s.stride_w) + ", padding " + std::to_string(s.pad_h) + "x" +
                 std::to_string(s.pad_w) + ", dilation " + std::to_string(s.dilation_h) + "x" +
                 std::to_string(s.dilation_w),
         "sizes, strides and dilations must be positive, padding >= 0");
  const int64_t HP = s.H + 2 * s.pad_h, WP = s.W + 2 * s.pad_w;
  const int64_t span_h = HP - s.dilation_h * (KH - 1) - 1, span_w = WP - s.dilation_w * (KW - 1) - 1;
  if (span_h < 0 || span_w < 0)
    fail(op, "input " + shape_str({s.N, C, s.H, s.W}) + " is smaller than the dilated kernel " +
                 shape_str(dims_of(w)) + " with padding " + std::to_string(s.pad_h) + "x" + std::to_string(s.pad_w));
  if (C * HP * WP + WP + 128 > std::numeric_limits<int32_t>::max())  // the taps' int32 offsets
    fail(op, "input " + shape_str({s.N, C, s.H, s.W}) + " with padding is too large for 32-bit offsets",
         "split the image, or use the dense QuantizedConv2d path");
  if (!(za >= 0 && za <= 255)) fail(op, "input zero point " + std::to_string(za) + " is outside [0, 255]");
  if (s.N > 0 && (x == nullptr || y == nullptr)) fail(op, "x or y is null");
  check_requantize(op, rq, OC);
  if (s.N == 0) return;
  const int64_t OH = span_h / s.stride_h + 1, OW = span_w / s.stride_w + 1;
  if (pool < 1 || OH < pool || OW < pool)
    fail(op, "cannot max-pool the " + std::to_string(OH) + "x" + std::to_string(OW) + " output with " +
                 std::to_string(pool) + "x" + std::to_string(pool) + " windows",
         "pool must be >= 1 (1: no pooling) and fit in the conv's output");
  const int64_t PH = OH / pool, PW = OW / pool;  // the output y's height and width
  const bool simd = sparse_conv_select_kernel(kernel) == SparseConvKernel::kAvx2 && s.stride_h == 1 &&
                    s.stride_w == 1;

  // Per call: each tap's offset in xp, and the requantization constants of every channel, each
  // replicated over kSeg positions (the epilogue's per-column layout; see requantize_flat).
  const std::vector<SparseConvWeightsS8::Tap>& taps = w.taps();
  const int64_t ntaps = w.nonzeros();
  int32_t* off = scratch<int32_t, 0>(static_cast<size_t>(ntaps));
  int8_t* wt = scratch<int8_t, 1>(static_cast<size_t>(ntaps));
  for (int64_t t = 0; t < ntaps; ++t) {
    const SparseConvWeightsS8::Tap& p = taps[static_cast<size_t>(t)];
    off[t] = static_cast<int32_t>(p.c * HP * WP + p.ky * s.dilation_h * WP + p.kx * s.dilation_w);
    wt[t] = p.w;
  }
  int32_t* consts = scratch<int32_t, 2>(static_cast<size_t>(OC * 3 * kSeg));  // [OC][offset|mult|shift][kSeg]
  for (int64_t oc = 0; oc < OC; ++oc) {
    // bias - za * sum(w), wrapping as run_gemm does (the final sum fits even if this term does not).
    const uint32_t b = bias ? static_cast<uint32_t>(bias[oc]) : 0u;
    const auto o = static_cast<int32_t>(b - static_cast<uint32_t>(za) * static_cast<uint32_t>(w.channel_sums()[oc]));
    int32_t* c = consts + oc * 3 * kSeg;
    std::fill(c, c + kSeg, o);
    std::fill(c + kSeg, c + 2 * kSeg, rq.multipliers ? rq.multipliers[oc] : rq.multiplier);
    std::fill(c + 2 * kSeg, c + 3 * kSeg, rq.right_shifts ? rq.right_shifts[oc] : rq.right_shift);
  }
  const int32_t lo = rq.relu ? std::max(0, rq.zero_point) : 0, hi = std::min(255, rq.max_value);

  // The SIMD loop computes the flat positions q = oy * WP + ox of the padded grid (the WP - OW
  // columns past the row's end are computed and dropped) in blocks of 64: that makes every tap one
  // contiguous run of input bytes. The scalar loop computes [OH, OW] directly.
  const int64_t flat = simd ? (OH * WP + 63) / 64 * 64 : OH * OW;
  const int64_t padded_bytes = C * HP * WP + WP + 128;  // + slack for the flat blocks' last reads
  const int64_t plane_in = s.H * s.W * C, plane_out = PH * PW * OC;

#pragma omp parallel for schedule(static) if (s.N > 1 && s.N * (ntaps + OC) * OH * OW > (1 << 18))
  for (int64_t n = 0; n < s.N; ++n) {
    uint8_t* xp = scratch<uint8_t, 3>(static_cast<size_t>(padded_bytes));
    int32_t* acc = scratch<int32_t, 4>(static_cast<size_t>(flat));
    uint8_t* bytes = scratch<uint8_t, 5>(static_cast<size_t>(flat));
    int32_t* pooled = scratch<int32_t, 6>(static_cast<size_t>(PH * PW));
    // 1. The padded copy (the border and the slack are the zero point: real 0).
    std::memset(xp, za, static_cast<size_t>(padded_bytes));
    const uint8_t* xn = x + n * plane_in;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < s.H; ++h)
        std::memcpy(xp + (c * HP + h + s.pad_h) * WP + s.pad_w, xn + (c * s.H + h) * s.W, static_cast<size_t>(s.W));
    uint8_t* yn = y + n * plane_out;
    for (int64_t oc = 0; oc < OC; ++oc) {
      const int64_t t0 = w.channel_start()[oc], nt = w.channel_start()[oc + 1] - t0;
      const int32_t* c = consts + oc * 3 * kSeg;
      const detail::RequantRow row{c, c + kSeg, reinterpret_cast<const int*>(c + 2 * kSeg), rq.zero_point, lo, hi};
      uint8_t* out = yn + oc * PH * PW;
      // 2. acc: [OH, WP] over the padded grid (SIMD; columns >= OW are dropped) or [OH, OW].
      int64_t acc_stride = OW;
      if (simd) {
#if defined(__x86_64__)
        detail::sparse_conv_accumulate_avx2(xp, off + t0, wt + t0, nt, flat, acc);
        acc_stride = WP;
#endif
      } else {
        accumulate_scalar(xp, off + t0, wt + t0, nt, OH, OW, s.stride_h * WP, s.stride_w, acc);
      }
      // 3. Pooled (int32), requantized.
      if (pool > 1) {
#if defined(__x86_64__)
        if (simd && pool == 2) detail::max_pool2_s32_avx2(acc, acc_stride, PH, PW, pooled);
        else max_pool_s32(acc, acc_stride, pool, PH, PW, pooled);
#else
        max_pool_s32(acc, acc_stride, pool, PH, PW, pooled);
#endif
        requantize_flat(row, pooled, PH * PW, out);
      } else if (acc_stride == OW) {
        requantize_flat(row, acc, OH * OW, out);
      } else {  // the whole padded grid in one flat run, then its OW real columns per row
        requantize_flat(row, acc, OH * acc_stride, bytes);
        for (int64_t oy = 0; oy < OH; ++oy)
          std::memcpy(out + oy * OW, bytes + oy * acc_stride, static_cast<size_t>(OW));
      }
    }
  }
}

}  // namespace nibble
