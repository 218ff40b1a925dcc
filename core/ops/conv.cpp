// conv2d via im2col + GEMM.
//
// A convolution is a matrix product in disguise. For one image and one group, copy every
// receptive field into a column of a matrix ("im2col"):
//
//   cols [C/g*KH*KW, OH*OW]     cols[(c*KH + kh)*KW + kw, oh*OW + ow] = x[c, ih, iw]
//                               ih = oh*stride_h - pad_h + kh*dil_h   (0 outside the image)
//
// Then the whole convolution of that group is ONE GEMM:
//
//   Y_g [OC/g, OH*OW] = W_g [OC/g, C/g*KH*KW] @ cols [C/g*KH*KW, OH*OW]
//
// and backward is the two transposed products plus the inverse scatter ("col2im"):
//
//   dW_g  += dY_g @ cols^T                 (summed over the images of the batch)
//   dcols  = W_g^T @ dY_g, then col2im adds every dcols entry back onto the pixel it came from
//   dbias  = dY summed over N, OH, OW
//
// Memory: we never build the im2col matrix of the whole batch (for a 64-image batch of 8-channel
// 14x14 maps with 5x5 kernels that would be 10 MB). Each thread owns one cols buffer of a single
// image (~150 KB, which stays in L2) and reuses it for every image it handles; backward recomputes
// cols instead of storing them from the forward pass, as PyTorch does.
#include <algorithm>
#include <string>
#include <vector>

#include <omp.h>

#include "core/autograd.h"
#include "core/gemm.h"
#include "core/ops.h"
#include "core/parallel.h"

namespace nibble {

namespace {

// Everything about one convolution's geometry, computed once and shared by forward and backward.
struct ConvGeometry {
  int64_t N, C, H, W;     // input [N, C, H, W]
  int64_t OC, KH, KW;     // weight [OC, C/groups, KH, KW]
  int64_t OH, OW;         // output [N, OC, OH, OW]
  int64_t groups;
  int64_t Cg, OCg;        // channels per group (input, output)
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t rows() const { return Cg * KH * KW; }  // rows of cols = columns of W_g
  int64_t pixels() const { return OH * OW; }     // columns of cols
  // A 1x1 kernel with stride 1 and no padding reads each pixel exactly once: cols would be an
  // identical copy of the input, so we skip im2col/col2im and hand the input itself to the GEMM.
  bool cols_is_input() const { return KH == 1 && KW == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

// Output length along one axis, or a negative number when the dilated kernel does not fit.
// (Checked before dividing: C++ rounds a negative quotient towards zero, which would hide it.)
int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  return span < 0 ? span : span / stride + 1;
}

std::string pair_str(Size2 s) { return std::to_string(s.h) + "x" + std::to_string(s.w); }

ConvGeometry check_conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                          const Conv2dOptions& o) {
  const char* op = "conv2d";
  NIBBLE_CHECK(input.defined(), op, "argument 'input' is an undefined tensor");
  NIBBLE_CHECK(weight.defined(), op, "argument 'weight' is an undefined tensor");
  NIBBLE_CHECK(input.dim() == 4, op, "input must be 4-d [N, C, H, W], got shape " + input.shape_str(),
        "add a batch axis with unsqueeze(0) for a single image");
  NIBBLE_CHECK(weight.dim() == 4, op,
        "weight must be 4-d [OC, C/groups, KH, KW], got shape " + weight.shape_str());
  NIBBLE_CHECK(o.groups >= 1, op, "groups must be positive, got " + std::to_string(o.groups));
  NIBBLE_CHECK(o.stride.h > 0 && o.stride.w > 0, op, "stride must be positive, got " + pair_str(o.stride));
  NIBBLE_CHECK(o.dilation.h > 0 && o.dilation.w > 0, op,
        "dilation must be positive, got " + pair_str(o.dilation));
  NIBBLE_CHECK(o.padding.h >= 0 && o.padding.w >= 0, op,
        "padding must be non-negative, got " + pair_str(o.padding));

  ConvGeometry g{};
  g.N = input.size(0), g.C = input.size(1), g.H = input.size(2), g.W = input.size(3);
  g.OC = weight.size(0), g.KH = weight.size(2), g.KW = weight.size(3);
  g.groups = o.groups;
  g.sh = o.stride.h, g.sw = o.stride.w, g.ph = o.padding.h, g.pw = o.padding.w;
  g.dh = o.dilation.h, g.dw = o.dilation.w;
  const std::string groups_str = std::to_string(g.groups);
  NIBBLE_CHECK(weight.numel() > 0, op, "weight " + weight.shape_str() + " is empty");
  NIBBLE_CHECK(g.C % g.groups == 0, op,
        "input channels (" + std::to_string(g.C) + ") are not divisible by groups (" + groups_str +
            "), input " + input.shape_str());
  NIBBLE_CHECK(g.OC % g.groups == 0, op,
        "output channels (" + std::to_string(g.OC) + ") are not divisible by groups (" +
            groups_str + "), weight " + weight.shape_str());
  NIBBLE_CHECK(weight.size(1) * g.groups == g.C, op,
        "input has " + std::to_string(g.C) + " channels but weight expects " +
            std::to_string(weight.size(1) * g.groups) + " (weight " + weight.shape_str() +
            ", groups " + groups_str + ")",
        "weight.size(1) must be input channels / groups");
  if (bias.defined()) {
    NIBBLE_CHECK(bias.dim() == 1 && bias.size(0) == g.OC, op,
          "bias must have shape [" + std::to_string(g.OC) + "] (one per output channel), got " +
              bias.shape_str() + " for weight " + weight.shape_str());
  }
  g.Cg = g.C / g.groups;
  g.OCg = g.OC / g.groups;
  g.OH = conv_out_size(g.H, g.KH, g.sh, g.ph, g.dh);
  g.OW = conv_out_size(g.W, g.KW, g.sw, g.pw, g.dw);
  NIBBLE_CHECK(g.OH >= 1 && g.OW >= 1, op,
        "output would be empty: input " + input.shape_str() + " with padding " +
            pair_str(o.padding) + " is smaller than the kernel " + std::to_string(g.KH) + "x" +
            std::to_string(g.KW) + " (dilation " + pair_str(o.dilation) + ")",
        "use a smaller kernel or dilation, or more padding");
  return g;
}

// The range [lo, hi) of output positions whose input position  o*stride - pad + offset  lies in
// [0, in). Outside it the receptive field hangs over the padding. Lets the inner loops run
// without a bounds test per element.
void valid_range(int64_t out, int64_t in, int64_t stride, int64_t pad, int64_t offset,
                 int64_t& lo, int64_t& hi) {
  const int64_t shift = offset - pad;  // input position of output position 0
  // smallest o with o*stride + shift >= 0, largest o with o*stride + shift <= in - 1
  lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  hi = in - 1 - shift < 0 ? 0 : (in - 1 - shift) / stride + 1;
  if (hi > out) hi = out;
  if (lo > hi) lo = hi;
}

// x [Cg, H, W] (one image, one group) -> cols [Cg*KH*KW, OH*OW]
void im2col(const float* x, const ConvGeometry& g, float* cols) {
  for (int64_t c = 0; c < g.Cg; ++c) {
    const float* plane = x + c * g.H * g.W;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      int64_t oh_lo, oh_hi;
      valid_range(g.OH, g.H, g.sh, g.ph, kh * g.dh, oh_lo, oh_hi);
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t ow_lo, ow_hi;
        valid_range(g.OW, g.W, g.sw, g.pw, kw * g.dw, ow_lo, ow_hi);
        float* row = cols + ((c * g.KH + kh) * g.KW + kw) * g.pixels();
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          float* dst = row + oh * g.OW;
          if (oh < oh_lo || oh >= oh_hi) {  // this whole output row looks at vertical padding
            std::fill(dst, dst + g.OW, 0.0f);
            continue;
          }
          const float* src = plane + (oh * g.sh - g.ph + kh * g.dh) * g.W + (kw * g.dw - g.pw);
          std::fill(dst, dst + ow_lo, 0.0f);  // left padding
          if (g.sw == 1) {                     // the common case: one contiguous run
            std::copy(src + ow_lo, src + ow_hi, dst + ow_lo);
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] = src[ow * g.sw];
          }
          std::fill(dst + ow_hi, dst + g.OW, 0.0f);  // right padding
        }
      }
    }
  }
}

// The adjoint of im2col: dx [Cg, H, W] += every entry of dcols [Cg*KH*KW, OH*OW] at the pixel it
// was copied from. Overlapping receptive fields hit the same pixel several times, hence "+=".
void col2im(const float* dcols, const ConvGeometry& g, float* dx) {
  for (int64_t c = 0; c < g.Cg; ++c) {
    float* plane = dx + c * g.H * g.W;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      int64_t oh_lo, oh_hi;
      valid_range(g.OH, g.H, g.sh, g.ph, kh * g.dh, oh_lo, oh_hi);
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t ow_lo, ow_hi;
        valid_range(g.OW, g.W, g.sw, g.pw, kw * g.dw, ow_lo, ow_hi);
        const float* row = dcols + ((c * g.KH + kh) * g.KW + kw) * g.pixels();
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {  // padding positions have nowhere to go
          const float* src = row + oh * g.OW;
          float* dst = plane + (oh * g.sh - g.ph + kh * g.dh) * g.W + (kw * g.dw - g.pw);
          for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow * g.sw] += src[ow];
        }
      }
    }
  }
}

// Images are split over threads only when there are several and the whole convolution is big
// enough (>= 256K multiply-adds, ~1 ms of one core: waking threads costs microseconds, far more on
// a loaded machine). Otherwise the batch loop runs on the caller's thread and each sgemm call may
// use the threads itself (sgemm stays single-threaded inside our parallel region).
bool parallel_over_batch(const ConvGeometry& g) {
  const double macs = double(g.N) * double(g.OC) * double(g.pixels()) * double(g.rows());
  return g.N > 1 && omp_get_max_threads() > 1 && macs >= 256.0 * 1024;
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options) {
  const ConvGeometry g = check_conv2d(input, weight, bias, options);
  // detach(): the contiguous copies are our private work buffers, not part of the graph.
  const Tensor x = input.detach().contiguous();    // [N, C, H, W]
  // weight [OC, Cg, KH, KW] read as the matrix [OC, Cg*KH*KW]; group grp owns rows grp*OCg ...
  const Tensor w = weight.detach().contiguous();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor out = Tensor::empty({g.N, g.OC, g.OH, g.OW});

  const int64_t K = g.rows(), P = g.pixels();
  const bool use_cols = !g.cols_is_input();
  const bool parallel = parallel_over_batch(g);
  // One cols buffer per thread, allocated up front: nothing inside the parallel region may throw.
  std::vector<std::vector<float>> cols_per_thread(
      parallel ? omp_get_max_threads() : 1, std::vector<float>(use_cols ? K * P : 0));

  const float* xd = x.data();
  const float* wd = w.data();
  float* od = out.data();
  const float* bd = b.defined() ? b.data() : nullptr;
  // sgemm may still throw (its packing buffers): errors carries that out of the region.
  detail::ParallelErrors errors("conv2d");
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t n = 0; n < g.N; ++n) errors.run([&] {
    float* cols = cols_per_thread[parallel ? omp_get_thread_num() : 0].data();
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const float* x_ng = xd + (n * g.C + grp * g.Cg) * g.H * g.W;  // [Cg, H, W]
      const float* w_g = wd + grp * g.OCg * K;                        // [OCg, K]
      float* y_ng = od + (n * g.OC + grp * g.OCg) * P;                // [OCg, P]
      const float* B = x_ng;
      if (use_cols) {
        im2col(x_ng, g, cols);
        B = cols;
      }
      // Y_g [OCg, P] = W_g [OCg, K] @ cols [K, P]
      sgemm(false, false, g.OCg, P, K, 1.0f, w_g, K, B, P, 0.0f, y_ng, P);
    }
    if (bd != nullptr) {
      for (int64_t oc = 0; oc < g.OC; ++oc) {
        float* y = od + (n * g.OC + oc) * P;
        for (int64_t p = 0; p < P; ++p) y[p] += bd[oc];
      }
    }
  });
  errors.rethrow();

  std::vector<Tensor> inputs{input, weight};
  if (bias.defined()) inputs.push_back(bias);
  return record("conv2d", out, inputs, [x, w, input, weight, bias, g](const Tensor& grad_out) {
    const Tensor dy = grad_out.contiguous();  // [N, OC, OH, OW]
    const int64_t K = g.rows(), P = g.pixels();
    const bool want_dx = input.requires_grad();
    const bool want_dw = weight.requires_grad();
    const bool use_cols = !g.cols_is_input();
    const bool parallel = parallel_over_batch(g);
    const int64_t threads = parallel ? omp_get_max_threads() : 1;

    Tensor dx = want_dx ? Tensor::zeros(x.shape()) : Tensor();
    // Each thread sums dW over its own images into a private buffer (no races, no locks); the
    // buffers are added up afterwards in thread order, so with a given thread count the result is
    // the same on every run (a shared buffer with atomics would make the rounding order random).
    std::vector<std::vector<float>> dw_per_thread(want_dw ? threads : 0,
                                                  std::vector<float>(w.numel(), 0.0f));
    std::vector<std::vector<float>> cols_per_thread(threads, std::vector<float>(use_cols ? K * P : 0));

    const float* xd = x.data();
    const float* wd = w.data();
    const float* dyd = dy.data();
    float* dxd = want_dx ? dx.data() : nullptr;
    detail::ParallelErrors errors("conv2d backward");
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t n = 0; n < g.N; ++n) errors.run([&] {
      const int64_t t = parallel ? omp_get_thread_num() : 0;
      float* cols = cols_per_thread[t].data();
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const float* dy_ng = dyd + (n * g.OC + grp * g.OCg) * P;  // [OCg, P]
        const float* w_g = wd + grp * g.OCg * K;                  // [OCg, K]
        const int64_t in_offset = (n * g.C + grp * g.Cg) * g.H * g.W;
        if (want_dw) {
          // dW_g [OCg, K] += dY_g [OCg, P] @ cols^T [P, K]
          const float* B = xd + in_offset;
          if (use_cols) {
            im2col(xd + in_offset, g, cols);
            B = cols;
          }
          sgemm(false, true, g.OCg, K, P, 1.0f, dy_ng, P, B, P, 1.0f,
                dw_per_thread[t].data() + grp * g.OCg * K, K);
        }
        if (want_dx) {
          // dcols [K, P] = W_g^T [K, OCg] @ dY_g [OCg, P]; for a 1x1 kernel dcols *is* dx
          float* dcols = use_cols ? cols : dxd + in_offset;
          sgemm(true, false, K, P, g.OCg, 1.0f, w_g, K, dy_ng, P, 0.0f, dcols, P);
          if (use_cols) col2im(dcols, g, dxd + in_offset);
        }
      }
    });
    errors.rethrow();

    Tensor dw;
    if (want_dw) {
      dw = Tensor::zeros(w.shape());
      float* acc = dw.data();
      for (const std::vector<float>& part : dw_per_thread) {
        for (int64_t i = 0; i < dw.numel(); ++i) acc[i] += part[i];
      }
    }
    Tensor db;
    if (bias.defined() && bias.requires_grad()) {
      // dbias [OC] = dY summed over N, OH, OW (in double: up to 64*784 terms per channel)
      db = Tensor::empty({g.OC});
      for (int64_t oc = 0; oc < g.OC; ++oc) {
        double total = 0.0;
        for (int64_t n = 0; n < g.N; ++n) {
          const float* row = dyd + (n * g.OC + oc) * P;
          float partial = 0.0f;
          for (int64_t p = 0; p < P; ++p) partial += row[p];
          total += partial;
        }
        db.data()[oc] = static_cast<float>(total);
      }
    }
    grads result{dx, dw};
    if (bias.defined()) result.push_back(db);
    return result;
  });
}

}  // namespace nibble
