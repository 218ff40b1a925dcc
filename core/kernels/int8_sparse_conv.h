// Sparse int8 convolution: a pruned conv computed from its non-zero weights only (EIE-style).
//
//   y[n, oc, oy, ox] = requantize( sum over the non-zero taps (c, ky, kx, w) of oc of
//                                    w * (x[n, c, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw] - za)
//                                  + bias[oc] )
//
// x is uint8 [N, C, H, W] with zero point za (positions outside the image read as za, i.e. real 0:
// zero padding); W is int8 [OC, C, KH, KW] (the conv weight's own layout); y is uint8
// [N, OC, OH, OW] (NCHW). The requantization, fused ReLU and clamping are int8_gemm_u8's
// (core/kernels/int8_gemm.h: the same Requantize struct, the same integer epilogue), and integer
// sums are exact, so the result is BIT FOR BIT the one of im2col + int8_gemm_u8 on the dense
// weights - only faster when most weights are zero.
//
// Why a separate kernel: a pruned layer keeps ~6-15% of its weights, and the dense GEMM multiplies
// the zeros too; an im2col matrix also has to be built (K bytes per output pixel) before any
// multiply. Here every weight is visited once per output row segment, reading the input in place:
// per non-zero tap, a vector of output positions gets acc += w * x (the zero point is folded into
// one per-channel constant, -za * sum(w), as the dense path does). Layout and dispatch: README.md
// in this folder, "Sparse convolution".
#pragma once

#include <cstdint>
#include <vector>

#include "core/kernels/int8_gemm.h"

namespace nibble {

// The implementations (run-time dispatch like Int8Kernel). kAuto: the fastest the CPU has.
// kAvx2 runs stride-1 convolutions (any padding, dilation); other strides take the scalar loop.
enum class SparseConvKernel : uint8_t { kAuto, kScalar, kAvx2 };

const char* sparse_conv_kernel_name(SparseConvKernel kernel);
bool sparse_conv_kernel_available(SparseConvKernel kernel);
// kAuto -> a concrete kernel; throws nibble::Error for an unavailable one, naming the CPU's features.
SparseConvKernel sparse_conv_select_kernel(SparseConvKernel requested = SparseConvKernel::kAuto);

// The non-zero weights of a conv, grouped by output channel, built once (when the model is
// loaded). Immutable; cheap to copy compared to a forward.
class SparseConvWeightsS8 {
 public:
  struct Tap {
    int32_t c, ky, kx;  // input channel and kernel position
    int8_t w;           // the (non-zero) weight
  };

  SparseConvWeightsS8() = default;  // empty: passing it to sparse_conv2d_u8 is an error
  // W [OC, C, KH, KW] row-major.
  static SparseConvWeightsS8 from_dense(const int8_t* W, int64_t OC, int64_t C, int64_t KH, int64_t KW);

  bool empty() const { return oc_ == 0; }
  int64_t out_channels() const { return oc_; }
  int64_t in_channels() const { return c_; }
  int64_t kernel_h() const { return kh_; }
  int64_t kernel_w() const { return kw_; }
  int64_t nonzeros() const { return static_cast<int64_t>(taps_.size()); }
  double density() const;  // nonzeros / (OC * C * KH * KW)
  // Taps of channel oc: taps()[channel_start()[oc] .. channel_start()[oc + 1]), in (c, ky, kx) order.
  const std::vector<Tap>& taps() const { return taps_; }
  const std::vector<int32_t>& channel_start() const { return start_; }  // [OC + 1]
  const std::vector<int32_t>& channel_sums() const { return sums_; }    // [OC]: sum of the weights

 private:
  int64_t oc_ = 0, c_ = 0, kh_ = 0, kw_ = 0;
  std::vector<Tap> taps_;
  std::vector<int32_t> start_, sums_;
};

// One call's input and the conv's hyper-parameters.
struct SparseConvShape {
  int64_t N = 0, H = 0, W = 0;  // input [N, C, H, W]; C is the weights'
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
};
// OH = (H + 2 pad_h - dilation_h (KH - 1) - 1) / stride_h + 1, and OW likewise, as for Conv2d.

// x uint8 [N, C, H, W] (zero point za in [0, 255]) -> y uint8 [N, OC, OH, OW], see the top of the
// file; bias int32 [OC] in accumulator units (may be nullptr); rq as for int8_gemm_u8.
// pool > 1 fuses a max-pool (pool x pool windows, stride pool, no padding, partial windows
// dropped) after the conv: y is then [N, OC, OH / pool, OW / pool]. The requantization (with its
// clamps and fused ReLU) is monotone, so the max of the int32 sums requantized is the max of the
// requantized bytes: the same bytes as pooling y, with 1/pool^2 of the requantizations. Throws
// nibble::Error on bad arguments (empty weights, input smaller than the kernel, bad requantization
// constants). Threads: OpenMP over the images of a batch. No allocation after the first call on a
// thread (per-thread scratch buffers are reused).
void sparse_conv2d_u8(const uint8_t* x, const SparseConvShape& shape, int32_t za,
                      const SparseConvWeightsS8& w, const int32_t* bias, const Requantize& rq,
                      uint8_t* y, SparseConvKernel kernel = SparseConvKernel::kAuto, int64_t pool = 1);

}  // namespace nibble
