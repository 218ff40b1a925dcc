#include "nn/quantized.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/autograd.h"

namespace nibble::nn {

namespace {

// Running min/max of the tensors a layer sees during calibration (PyTorch's MinMaxObserver).
struct RangeObserver {
  float lo = 0.0f, hi = 0.0f;  // starts at 0: the range always contains real 0
  void observe(const Tensor& t) {
    const Tensor c = t.contiguous();
    float l, h;
    min_max(c.data(), c.numel(), &l, &h);
    if (c.numel() > 0) lo = std::min(lo, l), hi = std::max(hi, h);
  }
  QuantParams params(int32_t qmax) const { return choose_u8_params(lo, hi, qmax); }
};

// Reusable per-thread buffers for one call: which = 0 quantized input, 1 im2col rows, 2 uint8
// GEMM output, 3 padded input. (Allocating and page-faulting fresh buffers per call costs more
// than quantizing at batch 1.)
uint8_t* scratch_u8(size_t bytes, int which) {
  thread_local std::vector<uint8_t> buffers[4];
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

// The integer epilogue of a uint8-output layer whose input has scale sa, for int8_gemm_u8:
//   multiplier[n], shift[n] ~ sa * sw[n] / so      (quantize_multiplier: Q31 fixed point)
//   bias32[n] = round(bias[n] / (sa * sw[n]))       (bias in accumulator units, as in TFLite)
// Computed per call (a few dozen channels) because sa is the input's, not the calibrated one.
struct Requantizer {
  std::vector<int32_t> multipliers, bias32;
  std::vector<int> shifts;
  Requantize rq;  // points into the vectors above

  Requantizer(float sa, const std::vector<float>& sw, const std::vector<float>& bias,
              QuantParams out, bool relu)
      : multipliers(sw.size()), shifts(sw.size()) {
    for (size_t n = 0; n < sw.size(); ++n) {
      const double acc_scale = double(sa) * sw[n];  // real value of one accumulator unit
      quantize_multiplier(acc_scale / out.scale, &multipliers[n], &shifts[n]);
      if (!bias.empty()) {
        // Clamped with headroom for the accumulator; only a degenerate scale gets near it, and
        // such a bias saturates the output either way.
        const double b = std::nearbyint(bias[n] / acc_scale);
        bias32.push_back(static_cast<int32_t>(std::clamp(b, -1073741824.0, 1073741824.0)));
      }
    }
    rq.multipliers = multipliers.data();
    rq.right_shifts = shifts.data();
    rq.zero_point = out.zero_point;
    rq.relu = relu;
    rq.max_value = out.qmax;  // 7-bit outputs stay 7-bit for the next (reduce_range) layer
  }
  Requantizer(const Requantizer&) = delete;  // rq would point into the original
  Requantizer& operator=(const Requantizer&) = delete;
  const int32_t* bias() const { return bias32.empty() ? nullptr : bias32.data(); }
};

// The checks that run on every forward are written `if (!ok) fail(...)` rather than
// NIBBLE_CHECK(ok, ...), whose message argument is built (to_string, shape_str: allocations, printf)
// on every call, failing or not: microseconds, as much as a whole layer at batch 1.
// The kernel to pack for: reduce_range with kAuto takes the 7-bit kernel where the CPU has it
// (elsewhere the automatic full-range kernel is exact on 7-bit data too). Resolved here, so that
// a kernel forced through NIBBLE_KERNEL is known before the activation range is chosen.
Int8Kernel kernel_for(const QuantizeOptions& o) {
  if (o.reduce_range && o.kernel == Int8Kernel::kAuto &&
      int8_kernel_available(Int8Kernel::kAvx2U7))
    return Int8Kernel::kAvx2U7;
  return int8_select_kernel(o.kernel);
}

// 127 for 7-bit activations: asked for, or needed by the kernel (avx2u7).
int32_t activation_qmax(const QuantizeOptions& o, Int8Kernel kernel) {
  return o.reduce_range || int8_kernel_max_activation(kernel) < 255 ? 127 : 255;
}

void check_has_output_params(bool dynamic, const char* op) {
  if (!dynamic) return;
  fail(op,
       "the layer is dynamic (built without calibration inputs), so it has no output range to "
       "requantize to",
       "pass calibration inputs to from_float, or use the float forward(Tensor)");
}


// Checks given int8 weights against the layer's [out, K] and installs them (no re-quantization).
void check_int8_weights(const Int8Weights& w, int64_t out, int64_t K, const char* op) {
  NIBBLE_CHECK(static_cast<int64_t>(w.values.size()) == out * K, op,
        "weights.values has " + std::to_string(w.values.size()) + " entries, the layer needs [" +
            std::to_string(out) + ", " + std::to_string(K) + "] = " + std::to_string(out * K));
  NIBBLE_CHECK(static_cast<int64_t>(w.scales.size()) == out, op,
        "weights.scales has " + std::to_string(w.scales.size()) + " entries, the layer has " +
            std::to_string(out) + " output channels");
  for (size_t i = 0; i < w.values.size(); ++i) {
    NIBBLE_CHECK(w.values[i] != -128, op,
          "weights.values[" + std::to_string(i) + "] = -128",
          "int8 weights must lie in [-127, 127] (the kernels' symmetric range)");
  }
  for (size_t n = 0; n < w.scales.size(); ++n) {
    NIBBLE_CHECK(std::isfinite(w.scales[n]) && w.scales[n] > 0.0f, op,
          "weights.scales[" + std::to_string(n) + "] = " + std::to_string(w.scales[n]),
          "a weight scale must be finite and > 0");
  }
}

QuantParams ranged_params(float lo, float hi, int32_t qmax, const char* what, const char* op) {
  NIBBLE_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, op,
        std::string(what) + " range [" + std::to_string(lo) + ", " + std::to_string(hi) +
            "] is not a finite interval");
  return choose_u8_params(std::min(lo, 0.0f), std::max(hi, 0.0f), qmax);
}

}  // namespace

// ---- helpers ---------------------------------------------------------------------------------------

void quantize_weights_per_channel(const float* W, int64_t N, int64_t K, std::vector<int8_t>* qw,
                                  std::vector<float>* scales) {
  qw->resize(static_cast<size_t>(N * K));
  scales->resize(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const float* row = W + n * K;
    float amax = 0.0f;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(row[k]));
    NIBBLE_CHECK(std::isfinite(amax), "quantize_weights_per_channel",
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
  const char* op = "QuantizedLinear::from_float";
  NoGradGuard no_grad;
  QuantizedLinear q;
  q.in_ = layer.in_features;
  q.out_ = layer.out_features;
  q.fuse_relu_ = options.fuse_relu;
  q.dynamic_ = calibration_inputs.empty();
  RangeObserver in, out;
  for (const Tensor& t : calibration_inputs) {
    NIBBLE_CHECK(t.defined(), op, "a calibration input is an undefined tensor");
    NIBBLE_CHECK(t.dim() >= 1 && t.size(-1) == q.in_, op,
          "calibration input " + t.shape_str() +
              " does not end in in_features = " + std::to_string(q.in_));
    in.observe(t);
    // The float layer's output on the same input (after the fused ReLU): the uint8 output range.
    Tensor y = matmul(t, layer.weight.t());  // [..., out]
    if (layer.bias.defined()) y = add(y, layer.bias);
    out.observe(q.fuse_relu_ ? relu(y) : y);
  }
  const Int8Kernel kernel = kernel_for(options);
  q.qmax_ = activation_qmax(options, kernel);
  q.input_ = in.params(q.qmax_);
  q.output_ = out.params(q.qmax_);
  const Tensor w = layer.weight.contiguous();  // [out, in]
  quantize_weights_per_channel(w.data(), q.out_, q.in_, &q.qweight_, &q.weight_scales_);
  if (layer.bias.defined()) q.bias_ = layer.bias.contiguous().to_vector();
  q.packed_ = pack_weights_s8(q.qweight_.data(), q.in_, q.out_, kernel);
  return q;
}

QuantizedLinear QuantizedLinear::from_int8(const Linear& layer, const Int8Weights& weights,
                                           const std::vector<Tensor>& calibration_inputs,
                                           const QuantizeOptions& options) {
  check_int8_weights(weights, layer.out_features, layer.in_features, "QuantizedLinear::from_int8");
  QuantizedLinear q = from_float(layer, calibration_inputs, options);
  q.qweight_ = weights.values;
  q.weight_scales_ = weights.scales;
  q.packed_ = pack_weights_s8(q.qweight_.data(), q.in_, q.out_, q.packed_.kernel());
  return q;
}

QuantizedLinear QuantizedLinear::from_int8(const Linear& layer, const Int8Weights& weights,
                                           const ActivationRanges& ranges,
                                           const QuantizeOptions& options) {
  const char* op = "QuantizedLinear::from_int8";
  QuantizedLinear q = from_int8(layer, weights, std::vector<Tensor>{}, options);
  q.dynamic_ = false;
  q.input_ = ranged_params(ranges.input_lo, ranges.input_hi, q.qmax_, "input", op);
  q.output_ = ranged_params(ranges.output_lo, ranges.output_hi, q.qmax_, "output", op);
  return q;
}

void QuantizedLinear::check_input(const Shape& shape, const char* op) const {
  if (packed_.empty()) {
    fail(op, "the layer is empty",
         "build it with QuantizedLinear::from_float(linear, calibration_inputs)");
  }
  if (shape.empty() || shape.back() != in_) {
    const std::string in = std::to_string(in_), out = std::to_string(out_);
    fail(op, "input " + shape_str(shape) + " does not end in in_features = " + in,
         "the layer maps [..., " + in + "] -> [..., " + out + "]");
  }
}

void QuantizedLinear::gemm_f32(const uint8_t* qx, int64_t M, QuantParams p, float* y) const {
  Dequantize dq;
  dq.input_scale = p.scale;
  dq.weight_scales = weight_scales_.data();
  dq.bias = bias_.empty() ? nullptr : bias_.data();
  if (sparse_.empty() || M * sparse_.nonzeros() > kSparseWork)
    int8_gemm_f32(input_u8(qx, M, in_, p.zero_point), packed_, nullptr, dq, y);  // [M, out]
  else sparse_linear_f32(input_u8(qx, M, in_, p.zero_point), sparse_, nullptr, dq, y);
  if (fuse_relu_) relu_inplace(y, M * out_);
}

namespace {
// How many of the int8 weights are non-zero (the quantized layers' pruning level).
double nonzero_fraction(const std::vector<int8_t>& w) {
  if (w.empty()) return 0.0;
  const auto nz = std::count_if(w.begin(), w.end(), [](int8_t v) { return v != 0; });
  return static_cast<double>(nz) / static_cast<double>(w.size());
}
}  // namespace

void QuantizedLinear::set_sparse(bool on) {
  NIBBLE_CHECK(!on || !qweight_.empty(), "QuantizedLinear::set_sparse", "the layer is empty",
               "build it with QuantizedLinear::from_float or from_int8 first");
  sparse_ = on ? SparseLinearWeightsS8::from_dense(qweight_.data(), out_, in_) : SparseLinearWeightsS8{};
}

double QuantizedLinear::weight_density() const { return nonzero_fraction(qweight_); }

Tensor QuantizedLinear::forward(const Tensor& x) const {
  const char* op = "QuantizedLinear::forward";
  NIBBLE_CHECK(x.defined(), op, "input is an undefined tensor");
  check_input(x.shape(), op);
  NoGradGuard no_grad;  // integer arithmetic has no backward; the result carries no history
  const Tensor xc = x.contiguous();
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  Tensor y = Tensor::empty(out_shape);  // [..., out]

  QuantParams p = input_;
  if (dynamic_) {
    float lo, hi;
    min_max(xc.data(), xc.numel(), &lo, &hi);
    p = choose_u8_params(lo, hi, qmax_);
  }
  uint8_t* qx = scratch_u8(static_cast<size_t>(xc.numel()), 0);  // [M, in]
  quantize_u8(xc.data(), xc.numel(), p, qx);
  gemm_f32(qx, xc.numel() / in_, p, y.data());
  return y;
}

Tensor QuantizedLinear::forward(const QuantizedTensor& x) const {
  const char* op = "QuantizedLinear::forward(QuantizedTensor)";
  check_quantized(x, op);
  check_input(x.shape, op);
  Shape out_shape = x.shape;
  out_shape.back() = out_;
  Tensor y = Tensor::empty(out_shape);  // [..., out]
  gemm_f32(x.data.data(), x.numel() / in_, x.params, y.data());
  return y;
}

QuantizedTensor QuantizedLinear::forward_u8(const QuantizedTensor& x) const {
  const char* op = "QuantizedLinear::forward_u8";
  check_quantized(x, op);
  check_input(x.shape, op);
  check_has_output_params(dynamic_, op);
  const int64_t M = x.numel() / in_;
  Shape out_shape = x.shape;
  out_shape.back() = out_;
  QuantizedTensor y{out_shape, output_, std::vector<uint8_t>(static_cast<size_t>(M * out_))};
  const Requantizer r(x.params.scale, weight_scales_, bias_, output_, fuse_relu_);
  int8_gemm_u8(input_u8(x.data.data(), M, in_, x.params.zero_point), packed_, r.bias(), r.rq,
               y.data.data());  // [M, out]
  return y;
}

// ---- QuantizedConv2d --------------------------------------------------------------------------------

namespace {

// One call's geometry: input [N, C, H, W] -> output [N, OC, OH, OW].
struct ConvGeometry {
  int64_t N, C, H, W, OC, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW;
  int64_t P() const { return OH * OW; }      // output pixels per image
  int64_t K() const { return C * KH * KW; }  // im2col row length = weight row length
  // Images per chunk, so that the chunk's im2col matrix [chunk*P, K] stays around 2 MB
  // (L3-resident, bounded memory).
  int64_t chunk() const {
    return std::max<int64_t>(1, (int64_t{1} << 21) / std::max<int64_t>(1, P() * K()));
  }
};

ConvGeometry conv_geometry(const QuantizedConv2d& q, const Shape& x, const char* op) {
  if (q.kernel() == Int8Kernel::kAuto) {  // no weights were packed
    fail(op, "the layer is empty",
         "build it with QuantizedConv2d::from_float(conv, calibration_inputs)");
  }
  if (x.size() != 4 || x[1] != q.in_channels()) {
    fail(op,
         "input " + shape_str(x) + " is not [N, " + std::to_string(q.in_channels()) + ", H, W]");
  }
  const Conv2dOptions& o = q.options();
  ConvGeometry g{};
  g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3], g.OC = q.out_channels();
  g.KH = q.kernel_size().h, g.KW = q.kernel_size().w;
  g.sh = o.stride.h, g.sw = o.stride.w, g.ph = o.padding.h, g.pw = o.padding.w;
  g.dh = o.dilation.h, g.dw = o.dilation.w;
  const int64_t span_h = g.H + 2 * g.ph - g.dh * (g.KH - 1) - 1;
  const int64_t span_w = g.W + 2 * g.pw - g.dw * (g.KW - 1) - 1;
  if (span_h < 0 || span_w < 0) {
    fail(op, "input " + shape_str(x) + " is smaller than the dilated " + std::to_string(g.KH) +
                 "x" + std::to_string(g.KW) + " kernel with padding " + std::to_string(g.ph) + "x" +
                 std::to_string(g.pw));
  }
  g.OH = span_h / g.sh + 1;
  g.OW = span_w / g.sw + 1;
  return g;
}

// im2col of images [n0, n0 + nb) of the uint8 input x [N, C, H, W] into cols [nb*P, K]: row
// (n, oh, ow) holds the receptive field of that output pixel in [C, KH, KW] order, the weight's
// flattening order. Zero padding is real 0, i.e. the byte pad = the input zero point.
void im2col_u8(const uint8_t* x, const ConvGeometry& g, int64_t n0, int64_t nb, uint8_t pad,
               uint8_t* cols) {
  // Local copies: the byte stores below may alias anything (uint8_t is a char type), so fields
  // read through g would be reloaded after every store.
  const int64_t C = g.C, H = g.H, W = g.W, KH = g.KH, KW = g.KW, OH = g.OH, OW = g.OW;
  const int64_t HP = H + 2 * g.ph, WP = W + 2 * g.pw, K = g.K(), S = C * KH;
  const int64_t sh = g.sh, sw = g.sw, dh = g.dh, dw = g.dw;

  // 1. A padded copy of the chunk, [nb, C, HP, WP] with a border of pad bytes, so that every
  //    window below lies inside it: no bounds checks in the hot loop. +8 bytes of slack for the
  //    8-byte moves. (Cheap: the input is 1/(KH*KW) of the im2col matrix.)
  uint8_t* xp = scratch_u8(static_cast<size_t>(nb * C * HP * WP + 8), 3);
  std::memset(xp, pad, static_cast<size_t>(nb * C * HP * WP + 8));
  for (int64_t plane = 0; plane < nb * C; ++plane) {
    for (int64_t h = 0; h < H; ++h) {
      std::memcpy(xp + (plane * HP + h + g.ph) * WP + g.pw, x + ((n0 * C + plane) * H + h) * W,
                  static_cast<size_t>(W));
    }
  }
  // 2. A window is S = C*KH segments of KW bytes; segment s = (c, kh) starts at off[s] from the
  //    window's top-left corner in channel 0.
  std::vector<int64_t> off(static_cast<size_t>(S));
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t kh = 0; kh < KH; ++kh) off[c * KH + kh] = c * HP * WP + kh * dh * WP;
  }
  const int64_t* o = off.data();
  const bool contiguous = dw == 1 && KW <= 8;  // each segment is one run of KW <= 8 bytes
#pragma omp parallel for schedule(static) if (nb * g.P() * K > (1 << 16))
  for (int64_t row = 0; row < nb * OH; ++row) {  // one output row (image, oh) per iteration
    const int64_t n = row / OH, oh = row % OH;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const uint8_t* win = xp + ((n * C * HP) + oh * sh) * WP + ow * sw;  // top-left, channel 0
      uint8_t* r = cols + (row * OW + ow) * K;
      if (contiguous) {
        // A fixed 8-byte move per segment instead of a variable-length memcpy call (5x faster
        // for 5x5 kernels). Its 8 - KW extra bytes land in the next segments, written right
        // after; the segments whose 8 bytes would pass the row's end (the last one, and more
        // when KW < 4) are copied exactly, so the next row - another thread's, or past the end
        // of the buffer - is never touched.
        int64_t s = 0;
        for (; s * KW + 8 <= K && s + 1 < S; ++s) std::memcpy(r + s * KW, win + o[s], 8);
        for (; s < S; ++s) std::memcpy(r + s * KW, win + o[s], static_cast<size_t>(KW));
      } else {
        for (int64_t s = 0; s < S; ++s) {
          for (int64_t kw = 0; kw < KW; ++kw) r[s * KW + kw] = win[o[s] + kw * dw];
        }
      }
    }
  }
}

// One image's GEMM rows t [P, OC] (pixel-major) -> out [OC, P] (NCHW), restricted to pixels
// [p0, p1) x channels [c0, c1); max(v, 0) on the way for a float output with relu (a uint8
// output had its ReLU fused into the requantization). Floats, and bytes outside whole 8x8 blocks.
template <typename T>
void transpose_rect(const T* t, int64_t P, int64_t OC, int64_t p0, int64_t p1, int64_t c0,
                    int64_t c1, bool relu, T* out) {
  for (int64_t pix = p0; pix < p1; ++pix) {
    for (int64_t oc = c0; oc < c1; ++oc) {
      T v = t[pix * OC + oc];
      if constexpr (std::is_floating_point_v<T>) v = relu && v < T(0) ? T(0) : v;
      out[oc * P + pix] = v;
    }
  }
}

#if defined(__SSE2__)
// 8 pixels x 8 channels of bytes, transposed in registers: rows of src (stride OC) become rows of
// dst (stride P). Three rounds of interleaving (bytes, pairs, quads) turn [p][c] into [c][p].
void transpose_8x8_u8(const uint8_t* src, int64_t OC, uint8_t* dst, int64_t P) {
  __m128i r[8];
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i * OC));
  }
  // a[j]: pixels 2j, 2j+1 interleaved: (c0: p p)(c1: p p) ... (c7: p p)
  __m128i a[4], b[4];
  for (int j = 0; j < 4; ++j) a[j] = _mm_unpacklo_epi8(r[2 * j], r[2 * j + 1]);
  // b: 4 pixels per channel; b[0] c0-c3 and b[1] c4-c7 of pixels 0-3, b[2], b[3] of pixels 4-7
  b[0] = _mm_unpacklo_epi16(a[0], a[1]), b[1] = _mm_unpackhi_epi16(a[0], a[1]);
  b[2] = _mm_unpacklo_epi16(a[2], a[3]), b[3] = _mm_unpackhi_epi16(a[2], a[3]);
  // 8 pixels per channel, two channels per register: c0 c1 | c2 c3 | c4 c5 | c6 c7
  const __m128i c[4] = {_mm_unpacklo_epi32(b[0], b[2]), _mm_unpackhi_epi32(b[0], b[2]),
                        _mm_unpacklo_epi32(b[1], b[3]), _mm_unpackhi_epi32(b[1], b[3])};
  for (int j = 0; j < 4; ++j) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + (2 * j) * P), c[j]);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + (2 * j + 1) * P),
                     _mm_unpackhi_epi64(c[j], c[j]));
  }
}
#endif

// All images: t [nb, P, OC] -> out [nb, OC, P].
template <typename T>
void pixels_to_nchw(const T* t, int64_t nb, int64_t P, int64_t OC, bool relu, T* out) {
#pragma omp parallel for schedule(static) if (nb * P * OC > (1 << 16))
  for (int64_t n = 0; n < nb; ++n) {
    const T* src = t + n * P * OC;
    T* dst = out + n * OC * P;
    int64_t p8 = 0, c8 = 0;  // the part done in 8x8 blocks: pixels [0, p8) x channels [0, c8)
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, uint8_t>) {  // bytes: 8x8 blocks, ~8x fewer stores
      p8 = P / 8 * 8, c8 = OC / 8 * 8;
      for (int64_t p0 = 0; p0 < p8; p0 += 8) {
        for (int64_t c0 = 0; c0 < c8; c0 += 8) {
          transpose_8x8_u8(src + p0 * OC + c0, OC, dst + c0 * P + p0, P);
        }
      }
    }
#endif
    transpose_rect(src, P, OC, 0, P, c8, OC, relu, dst);  // channels right of the blocks
    transpose_rect(src, P, OC, p8, P, 0, c8, relu, dst);  // pixels below them
  }
}

// The body both forwards share: the uint8 input x [N, C, H, W] in chunks of g.chunk() images;
// per chunk, im2col into cols [nb*P, K], then gemm(cols, n0, nb).
template <typename Gemm>
void conv_in_chunks(const uint8_t* x, const ConvGeometry& g, uint8_t pad, Gemm&& gemm) {
  const int64_t chunk = std::min(g.chunk(), g.N);
  uint8_t* cols = scratch_u8(static_cast<size_t>(chunk * g.P() * g.K()), 1);  // [chunk*P, K]
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t nb = std::min(chunk, g.N - n0);
    im2col_u8(x, g, n0, nb, pad, cols);
    gemm(cols, n0, nb);
  }
}

}  // namespace

QuantizedConv2d QuantizedConv2d::from_float(const Conv2d& layer,
                                            const std::vector<Tensor>& calibration_inputs,
                                            const QuantizeOptions& options) {
  const char* op = "QuantizedConv2d::from_float";
  NIBBLE_CHECK(layer.options.groups == 1, op,
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
  RangeObserver in, out;
  for (const Tensor& t : calibration_inputs) {
    NIBBLE_CHECK(t.defined() && t.dim() == 4 && t.size(1) == q.c_, op,
          "calibration input " + (t.defined() ? t.shape_str() : std::string("(undefined)")) +
              " is not [N, " + std::to_string(q.c_) + ", H, W]");
    in.observe(t);
    // The float layer's output on the same input (after the fused ReLU): the uint8 output range.
    const Tensor y = conv2d(t, layer.weight, layer.bias, layer.options);  // [N, OC, OH, OW]
    out.observe(q.fuse_relu_ ? relu(y) : y);
  }
  const Int8Kernel kernel = kernel_for(options);
  q.qmax_ = activation_qmax(options, kernel);
  q.input_ = in.params(q.qmax_);
  q.output_ = out.params(q.qmax_);
  const int64_t K = q.c_ * q.kh_ * q.kw_;
  const Tensor w = layer.weight.contiguous();  // [OC, C, KH, KW] = [OC, K] row-major
  quantize_weights_per_channel(w.data(), q.oc_, K, &q.qweight_, &q.weight_scales_);
  if (layer.bias.defined()) q.bias_ = layer.bias.contiguous().to_vector();
  q.packed_ = pack_weights_s8(q.qweight_.data(), K, q.oc_, kernel);
  return q;
}

QuantizedConv2d QuantizedConv2d::from_int8(const Conv2d& layer, const Int8Weights& weights,
                                           const std::vector<Tensor>& calibration_inputs,
                                           const QuantizeOptions& options) {
  const int64_t K = layer.in_channels * layer.kernel_size.h * layer.kernel_size.w;
  check_int8_weights(weights, layer.out_channels, K, "QuantizedConv2d::from_int8");
  QuantizedConv2d q = from_float(layer, calibration_inputs, options);
  q.qweight_ = weights.values;
  q.weight_scales_ = weights.scales;
  q.packed_ = pack_weights_s8(q.qweight_.data(), K, q.oc_, q.packed_.kernel());
  return q;
}

QuantizedConv2d QuantizedConv2d::from_int8(const Conv2d& layer, const Int8Weights& weights,
                                           const ActivationRanges& ranges,
                                           const QuantizeOptions& options) {
  const char* op = "QuantizedConv2d::from_int8";
  QuantizedConv2d q = from_int8(layer, weights, std::vector<Tensor>{}, options);
  q.dynamic_ = false;
  q.input_ = ranged_params(ranges.input_lo, ranges.input_hi, q.qmax_, "input", op);
  q.output_ = ranged_params(ranges.output_lo, ranges.output_hi, q.qmax_, "output", op);
  return q;
}

void QuantizedConv2d::set_sparse(bool on) {
  NIBBLE_CHECK(!on || !qweight_.empty(), "QuantizedConv2d::set_sparse", "the layer is empty",
               "build it with QuantizedConv2d::from_float or from_int8 first");
  sparse_ = on ? SparseConvWeightsS8::from_dense(qweight_.data(), oc_, c_, kh_, kw_) : SparseConvWeightsS8{};
}

double QuantizedConv2d::weight_density() const { return nonzero_fraction(qweight_); }

Tensor QuantizedConv2d::forward(const Tensor& x) const {
  const char* op = "QuantizedConv2d::forward";
  NIBBLE_CHECK(x.defined(), op, "input is an undefined tensor");
  const ConvGeometry g = conv_geometry(*this, x.shape(), op);
  NoGradGuard no_grad;
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({g.N, oc_, g.OH, g.OW});
  if (g.N == 0) return y;

  // 1. Quantize the whole input in one vectorised pass: [N, C, H, W] uint8.
  QuantParams p = input_;
  if (dynamic_) {
    float lo, hi;
    min_max(xc.data(), xc.numel(), &lo, &hi);
    p = choose_u8_params(lo, hi, qmax_);
  }
  uint8_t* qx = scratch_u8(static_cast<size_t>(xc.numel()), 0);
  quantize_u8(xc.data(), xc.numel(), p, qx);

  // 2. Per chunk: [nb*P, K] x [K, OC] -> float [nb*P, OC] (bias included), then NCHW with ReLU.
  float* tmp = scratch_f32(static_cast<size_t>(std::min(g.chunk(), g.N) * g.P() * oc_));
  Dequantize dq;
  dq.input_scale = p.scale;
  dq.weight_scales = weight_scales_.data();
  dq.bias = bias_.empty() ? nullptr : bias_.data();
  const uint8_t pad = static_cast<uint8_t>(p.zero_point);  // real 0
  conv_in_chunks(qx, g, pad, [&](const uint8_t* cols, int64_t n0, int64_t nb) {
    int8_gemm_f32(input_u8(cols, nb * g.P(), g.K(), p.zero_point), packed_, nullptr, dq, tmp);
    pixels_to_nchw(tmp, nb, g.P(), oc_, fuse_relu_, y.data() + n0 * oc_ * g.P());
  });
  return y;
}

QuantizedTensor QuantizedConv2d::forward_pooled(const QuantizedTensor& x, int64_t pool) const {
  if (sparse_.empty()) return pool == 1 ? forward(x) : max_pool2d(forward(x), pool);
  const char* op = "QuantizedConv2d::forward_pooled";
  check_quantized(x, op);
  const ConvGeometry g = conv_geometry(*this, x.shape, op);
  check_has_output_params(dynamic_, op);
  if (pool < 1 || g.OH < pool || g.OW < pool)
    fail(op, "cannot max-pool the output " + shape_str({g.N, oc_, g.OH, g.OW}) + " with " + std::to_string(pool) +
                 "x" + std::to_string(pool) + " windows");
  QuantizedTensor y{{g.N, oc_, g.OH / pool, g.OW / pool}, output_,
                    std::vector<uint8_t>(static_cast<size_t>(g.N * oc_ * (g.OH / pool) * (g.OW / pool)))};
  if (g.N == 0) return y;
  // Straight into NCHW from the non-zero taps, pooled on the int32 sums, the dense epilogue.
  const Requantizer r(x.params.scale, weight_scales_, bias_, output_, fuse_relu_);
  SparseConvShape s;
  s.N = g.N, s.H = g.H, s.W = g.W;
  s.stride_h = g.sh, s.stride_w = g.sw, s.pad_h = g.ph, s.pad_w = g.pw, s.dilation_h = g.dh, s.dilation_w = g.dw;
  sparse_conv2d_u8(x.data.data(), s, x.params.zero_point, sparse_, r.bias(), r.rq, y.data.data(),
                   SparseConvKernel::kAuto, pool);
  return y;
}

QuantizedTensor QuantizedConv2d::forward(const QuantizedTensor& x) const {
  if (!sparse_.empty()) return forward_pooled(x, 1);
  const char* op = "QuantizedConv2d::forward(QuantizedTensor)";
  check_quantized(x, op);
  const ConvGeometry g = conv_geometry(*this, x.shape, op);
  check_has_output_params(dynamic_, op);
  const size_t bytes = static_cast<size_t>(g.N * oc_ * g.P());
  QuantizedTensor y{{g.N, oc_, g.OH, g.OW}, output_, std::vector<uint8_t>(bytes)};
  if (g.N == 0) return y;

  // Per chunk: [nb*P, K] x [K, OC] -> uint8 [nb*P, OC] (bias, requantization and ReLU in the
  // GEMM's integer epilogue), then a byte transpose into NCHW.
  const Requantizer r(x.params.scale, weight_scales_, bias_, output_, fuse_relu_);
  uint8_t* tmp = scratch_u8(static_cast<size_t>(std::min(g.chunk(), g.N) * g.P() * oc_), 2);
  conv_in_chunks(x.data.data(), g, static_cast<uint8_t>(x.params.zero_point),
                 [&](const uint8_t* cols, int64_t n0, int64_t nb) {
                   int8_gemm_u8(input_u8(cols, nb * g.P(), g.K(), x.params.zero_point), packed_,
                                r.bias(), r.rq, tmp);
                   pixels_to_nchw(tmp, nb, g.P(), oc_, false, y.data.data() + n0 * oc_ * g.P());
                 });
  return y;
}

}  // namespace nibble::nn
