// 2-d pooling: max_pool2d and avg_pool2d over [N, C, H, W].
//
// Each output pixel summarises one KH x KW window of its own (n, c) plane:
//   window of (oh, ow) = rows oh*stride_h - pad_h ... + KH-1,  cols ow*stride_w - pad_w ... + KW-1
// Planes are independent, so both passes run one plane per iteration (and split planes over
// OpenMP threads: no two threads ever touch the same plane).
//
// max: forward remembers where each maximum came from (its argmax); backward sends the whole
//      output gradient to that one input pixel. Padding counts as -inf, so it never wins.
// avg: forward divides the window's sum by KH*KW even where the window overlaps the padding
//      (padding counts as zeros: PyTorch's count_include_pad=True); backward spreads g/(KH*KW)
//      evenly over the window's real pixels.
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"

namespace nibble {

namespace {

// Threads only pay off on big inputs: starting a parallel region costs microseconds (much more
// when the machine is busy), while a small pooling layer finishes sooner than that.
bool worth_threads(int64_t elements) { return elements >= (int64_t{1} << 16); }

struct PoolGeometry {
  int64_t N, C, H, W;
  int64_t KH, KW, sh, sw, ph, pw;
  int64_t OH, OW;
  int64_t planes() const { return N * C; }
  bool parallel() const { return worth_threads(N * C * H * W); }
};

std::string pair_str(Size2 s) { return std::to_string(s.h) + "x" + std::to_string(s.w); }

PoolGeometry check_pool2d(const Tensor& input, Size2 kernel, Size2 stride, Size2 padding,
                          const char* op) {
  NIBBLE_CHECK(input.defined(), op, "argument 'input' is an undefined tensor");
  NIBBLE_CHECK(input.dim() == 4, op, "input must be 4-d [N, C, H, W], got shape " + input.shape_str(),
        "add a batch axis with unsqueeze(0) for a single image");
  NIBBLE_CHECK(kernel.h > 0 && kernel.w > 0, op, "kernel size must be positive, got " + pair_str(kernel));
  NIBBLE_CHECK(stride.h >= 0 && stride.w >= 0, op,
        "stride must be positive (or 0 for the default: the kernel size), got " + pair_str(stride));
  NIBBLE_CHECK(padding.h >= 0 && padding.w >= 0, op, "padding must be non-negative, got " + pair_str(padding));
  // PyTorch's rule. It guarantees every window holds at least one real pixel, so a max window is
  // never all padding (-inf) and an average never is of padding alone.
  NIBBLE_CHECK(2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w, op,
        "padding " + pair_str(padding) + " is more than half the kernel " + pair_str(kernel),
        "padding may be at most kernel/2 on each axis");
  NIBBLE_CHECK(input.size(2) > 0 && input.size(3) > 0, op,
        "input " + input.shape_str() + " has an empty spatial axis (H or W is 0)");
  PoolGeometry g{};
  g.N = input.size(0), g.C = input.size(1), g.H = input.size(2), g.W = input.size(3);
  g.KH = kernel.h, g.KW = kernel.w;
  g.sh = stride.h == 0 ? kernel.h : stride.h;  // stride 0 means "the kernel size"
  g.sw = stride.w == 0 ? kernel.w : stride.w;
  g.ph = padding.h, g.pw = padding.w;
  const int64_t span_h = g.H + 2 * g.ph - g.KH;  // checked before dividing (see conv.cpp)
  const int64_t span_w = g.W + 2 * g.pw - g.KW;
  g.OH = span_h < 0 ? 0 : span_h / g.sh + 1;
  g.OW = span_w < 0 ? 0 : span_w / g.sw + 1;
  NIBBLE_CHECK(g.OH >= 1 && g.OW >= 1, op,
        "output would be empty: input " + input.shape_str() + " with padding " + pair_str(padding) +
            " is smaller than the kernel " + pair_str(kernel));
  return g;
}

// Clips a window [start, start + k) to the real pixels [0, n).
inline void clip_window(int64_t start, int64_t k, int64_t n, int64_t& lo, int64_t& hi) {
  lo = start < 0 ? 0 : start;
  hi = start + k > n ? n : start + k;
}

// The walk all three window loops share: calls window(plane, o, h0, h1, w0, w1) for every output
// pixel, o its flat index in [N, C, OH, OW] and [h0, h1) x [w0, w1) its window clipped to the
// plane's real pixels (padding is handled by each caller's rule). Planes are split over threads;
// each call touches only its own plane, so no two threads write the same memory.
template <class Window>
void for_each_window(const PoolGeometry& g, const Window& window) {
#pragma omp parallel for schedule(static) if (g.parallel())
  for (int64_t plane = 0; plane < g.planes(); ++plane) {
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      int64_t h0, h1;
      clip_window(oh * g.sh - g.ph, g.KH, g.H, h0, h1);
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        int64_t w0, w1;
        clip_window(ow * g.sw - g.pw, g.KW, g.W, w0, w1);
        window(plane, (plane * g.OH + oh) * g.OW + ow, h0, h1, w0, w1);
      }
    }
  }
}

}  // namespace

Tensor max_pool2d(const Tensor& input, Size2 kernel, Size2 stride, Size2 padding) {
  const PoolGeometry g = check_pool2d(input, kernel, stride, padding, "max_pool2d");
  const Tensor x = input.detach().contiguous();
  Tensor out = Tensor::empty({g.N, g.C, g.OH, g.OW});
  // argmax[i] = flat position (h*W + w) inside its plane of the input that output i copied.
  // Only kept when backward will need it (inference skips 8 bytes per output).
  const bool keep_argmax = any_requires_grad({input});
  auto argmax = std::make_shared<std::vector<int64_t>>(keep_argmax ? out.numel() : 0);

  const float* xd = x.data();
  float* od = out.data();
  int64_t* am = argmax->data();
  // The rule for NaN (below) costs a branch per element that the predictor loses on real data
  // (~5x slower), so it only runs when the input has a NaN; one vectorised pass decides.
  bool has_nan = false;
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) has_nan |= xd[i] != xd[i];
  auto pool = [&](auto nan_aware) {
    for_each_window(g, [&](int64_t plane, int64_t o, int64_t h0, int64_t h1, int64_t w0,
                           int64_t w1) {
      const float* xp = xd + plane * g.H * g.W;
      // Start from the window's first real pixel; padding (-inf) can never beat it.
      int64_t best_at = h0 * g.W + w0;
      float best = xp[best_at];
      for (int64_t h = h0; h < h1; ++h) {
        for (int64_t w = w0; w < w1; ++w) {
          const float v = xp[h * g.W + w];
          // Strictly greater: the first maximum wins ties. A NaN wins too (once), so it
          // propagates to the output as in PyTorch instead of silently disappearing.
          bool take = v > best;
          if constexpr (decltype(nan_aware)::value) take = take || (v != v && best == best);
          best = take ? v : best;  // selects (maxss, cmov) rather than branches
          best_at = take ? h * g.W + w : best_at;
        }
      }
      od[o] = best;
      if (keep_argmax) am[o] = best_at;
    });
  };
  if (has_nan) pool(std::true_type{});
  else pool(std::false_type{});

  const std::shared_ptr<const std::vector<int64_t>> where = argmax;
  return record("max_pool2d", out, {input}, [where, g](const Tensor& grad_out) {
    const Tensor dy = grad_out.contiguous();  // [N, C, OH, OW]
    Tensor dx = Tensor::zeros({g.N, g.C, g.H, g.W});
    const float* dyd = dy.data();
    float* dxd = dx.data();
    const int64_t per_plane = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (g.parallel())
    for (int64_t plane = 0; plane < g.planes(); ++plane) {
      float* dxp = dxd + plane * g.H * g.W;
      for (int64_t i = plane * per_plane; i < (plane + 1) * per_plane; ++i) {
        dxp[(*where)[i]] += dyd[i];  // += : overlapping windows may share a maximum
      }
    }
    return grads{dx};
  });
}

Tensor avg_pool2d(const Tensor& input, Size2 kernel, Size2 stride, Size2 padding) {
  const PoolGeometry g = check_pool2d(input, kernel, stride, padding, "avg_pool2d");
  const Tensor x = input.detach().contiguous();
  Tensor out = Tensor::empty({g.N, g.C, g.OH, g.OW});
  // count_include_pad: always divide by the full window size, padding included.
  const float inv_area = 1.0f / static_cast<float>(g.KH * g.KW);

  const float* xd = x.data();
  float* od = out.data();
  for_each_window(g, [&](int64_t plane, int64_t o, int64_t h0, int64_t h1, int64_t w0,
                         int64_t w1) {
    const float* xp = xd + plane * g.H * g.W;
    float total = 0.0f;  // padding adds zeros, so only real pixels are summed
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) total += xp[h * g.W + w];
    }
    od[o] = total * inv_area;
  });

  return record("avg_pool2d", out, {input}, [g, inv_area](const Tensor& grad_out) {
    const Tensor dy = grad_out.contiguous();  // [N, C, OH, OW]
    Tensor dx = Tensor::zeros({g.N, g.C, g.H, g.W});
    const float* dyd = dy.data();
    float* dxd = dx.data();
    for_each_window(g, [&](int64_t plane, int64_t o, int64_t h0, int64_t h1, int64_t w0,
                           int64_t w1) {
      float* dxp = dxd + plane * g.H * g.W;
      // every pixel of the window contributed x/(KH*KW) to this output
      const float share = dyd[o] * inv_area;
      for (int64_t h = h0; h < h1; ++h) {
        for (int64_t w = w0; w < w1; ++w) dxp[h * g.W + w] += share;
      }
    });
    return grads{dx};
  });
}

}  // namespace nibble
