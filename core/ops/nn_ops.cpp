// Building blocks of layers: embedding, layer_norm, dropout. Forward and backward side by side.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/iterate.h"

namespace nibble {

// ---- embedding -----------------------------------------------------------------------------------
// A table lookup: row indices[i] of weight [V, D] becomes output row i. As a matrix product it is
// onehot(indices) @ weight, so its backward is onehot^T @ g: output row i's gradient is *added* to
// weight row indices[i] — a token that appears three times collects three contributions.

Tensor embedding(const Tensor& weight, const std::vector<int64_t>& indices, const Shape& index_shape) {
  const char* op = "embedding";
  NIBBLE_CHECK(weight.defined(), op, "argument 'weight' is an undefined tensor");
  NIBBLE_CHECK(weight.dim() == 2, op, "weight must be 2-d [V, D], got shape " + weight.shape_str());
  for (int64_t d : index_shape) {
    NIBBLE_CHECK(d >= 0, op, "index_shape " + shape_str(index_shape) + " has a negative size");
  }
  const int64_t count = static_cast<int64_t>(indices.size());
  NIBBLE_CHECK(numel_of(index_shape) == count, op,
        "index_shape " + shape_str(index_shape) + " holds " + std::to_string(numel_of(index_shape)) +
            " indices but " + std::to_string(count) + " were given");
  const int64_t V = weight.size(0), D = weight.size(1);
  for (int64_t i = 0; i < count; ++i) {
    NIBBLE_CHECK(indices[i] >= 0 && indices[i] < V, op,
          "index " + std::to_string(indices[i]) + " (at position " + std::to_string(i) +
              ") is out of range for a table of V = " + std::to_string(V) + " rows (weight " +
              weight.shape_str() + ")",
          "valid indices are 0 .. " + std::to_string(V - 1));
  }

  const Tensor w = weight.detach().contiguous();
  Shape out_shape = index_shape;
  out_shape.push_back(D);
  Tensor out = Tensor::empty(out_shape);  // [count, D] in memory
  for (int64_t i = 0; i < count; ++i) {
    const float* src = w.data() + indices[i] * D;
    float* dst = out.data() + i * D;
    for (int64_t j = 0; j < D; ++j) dst[j] = src[j];
  }

  const Shape weight_shape = weight.shape();
  return record("embedding", out, {weight}, [indices, weight_shape, D](const Tensor& g) {
    const Tensor dy = g.contiguous();  // [count, D]
    Tensor dw = Tensor::zeros(weight_shape);
    // Serial on purpose: repeated indices write the same row, so threads would race.
    for (size_t i = 0; i < indices.size(); ++i) {
      const float* src = dy.data() + static_cast<int64_t>(i) * D;
      float* dst = dw.data() + indices[i] * D;
      for (int64_t j = 0; j < D; ++j) dst[j] += src[j];
    }
    return grads{dw};
  });
}

// ---- layer_norm ------------------------------------------------------------------------------------
// x is viewed as [R, M]: M = the product of normalized_shape (the trailing axes), R = every row.
// Per row:   mean = sum(x)/M,  var = sum((x - mean)^2)/M  (biased),  rstd = 1/sqrt(var + eps)
//            xhat = (x - mean) * rstd,   y = xhat * weight + bias
//
// Backward, with ghat = g * weight (g alone without a weight). Differentiating through mean and
// rstd (both depend on every x of the row) gives the classic result
//     dx = rstd * (ghat - mean(ghat) - xhat * mean(ghat * xhat))
// The two means are the parts of the gradient that would shift the row's mean or change its
// spread, which normalisation removes again. Per feature j, summed over rows:
//     dweight_j = sum(g_j * xhat_j),   dbias_j = sum(g_j)
// We keep mean and rstd of every row from the forward pass (2 floats per row) and recompute xhat.

namespace {

// Rows are split over threads only for big inputs: starting a parallel region costs microseconds
// (much more on a busy machine), more than normalising a few thousand numbers.
constexpr int64_t kParallelElements = int64_t{1} << 16;

struct RowStats {
  std::vector<float> mean, rstd;  // one per row
};

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, float eps) {
  const char* op = "layer_norm";
  NIBBLE_CHECK(x.defined(), op, "argument 'x' is an undefined tensor");
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  NIBBLE_CHECK(k >= 1, op, "normalized_shape is empty", "pass the trailing axes to normalise, e.g. {D}");
  const bool fits = x.dim() >= k && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape;
  NIBBLE_CHECK(fits, op,
        "input shape " + x.shape_str() + " does not end with normalized_shape " +
            shape_str(normalized_shape),
        "normalized_shape must equal the last axes of the input");
  if (weight.defined()) {
    NIBBLE_CHECK(weight.shape() == normalized_shape, op,
          "weight has shape " + weight.shape_str() + " but normalized_shape is " +
              shape_str(normalized_shape));
  }
  if (bias.defined()) {
    NIBBLE_CHECK(bias.shape() == normalized_shape, op,
          "bias has shape " + bias.shape_str() + " but normalized_shape is " +
              shape_str(normalized_shape));
  }
  const int64_t M = numel_of(normalized_shape);
  NIBBLE_CHECK(M > 0, op, "normalized_shape " + shape_str(normalized_shape) + " has no elements");
  NIBBLE_CHECK(eps >= 0.0f, op, "eps must be non-negative, got " + std::to_string(eps));

  const Tensor xc = x.detach().contiguous();  // [R, M]
  const Tensor w = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  const int64_t R = x.numel() / M;
  Tensor out = Tensor::empty(x.shape());
  auto stats = std::make_shared<RowStats>();
  stats->mean.resize(R);
  stats->rstd.resize(R);

  const float* xd = xc.data();
  const float* wd = w.defined() ? w.data() : nullptr;
  const float* bd = b.defined() ? b.data() : nullptr;
  float* yd = out.data();
#pragma omp parallel for schedule(static) if (R * M >= kParallelElements)
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = xd + r * M;
    float* yr = yd + r * M;
    // Two passes (mean, then squared deviations) instead of E[x^2] - E[x]^2, which cancels
    // catastrophically when |mean| >> std. Sums in double for the same reason.
    double sum = 0.0;
    for (int64_t j = 0; j < M; ++j) sum += xr[j];
    const float mean = static_cast<float>(sum / M);
    double sq = 0.0;
    for (int64_t j = 0; j < M; ++j) sq += (xr[j] - mean) * (xr[j] - mean);
    const float rstd = static_cast<float>(1.0 / std::sqrt(sq / M + eps));
    stats->mean[r] = mean;
    stats->rstd[r] = rstd;
    for (int64_t j = 0; j < M; ++j) {
      float y = (xr[j] - mean) * rstd;
      if (wd) y *= wd[j];
      if (bd) y += bd[j];
      yr[j] = y;
    }
  }

  const std::shared_ptr<const RowStats> st = stats;
  return record("layer_norm", out, {x, weight, bias}, [xc, w, x, weight, bias, st, R, M](const Tensor& g) {
    const Tensor dy = g.contiguous();  // [R, M]
    const float* xd = xc.data();
    const float* wd = w.defined() ? w.data() : nullptr;
    const float* gd = dy.data();

    Tensor dx;
    if (x.requires_grad()) {
      dx = Tensor::empty(xc.shape());
      float* dxd = dx.data();
#pragma omp parallel for schedule(static) if (R * M >= kParallelElements)
      for (int64_t r = 0; r < R; ++r) {
        const float* xr = xd + r * M;
        const float* gr = gd + r * M;
        float* dxr = dxd + r * M;
        const float mean = st->mean[r], rstd = st->rstd[r];
        double sum_ghat = 0.0, sum_ghat_xhat = 0.0;
        for (int64_t j = 0; j < M; ++j) {
          const float ghat = wd ? gr[j] * wd[j] : gr[j];
          sum_ghat += ghat;
          sum_ghat_xhat += ghat * ((xr[j] - mean) * rstd);
        }
        const float mean_ghat = static_cast<float>(sum_ghat / M);
        const float mean_ghat_xhat = static_cast<float>(sum_ghat_xhat / M);
        for (int64_t j = 0; j < M; ++j) {
          const float ghat = wd ? gr[j] * wd[j] : gr[j];
          const float xhat = (xr[j] - mean) * rstd;
          dxr[j] = rstd * (ghat - mean_ghat - xhat * mean_ghat_xhat);
        }
      }
      dx = dx.reshape(x.shape());
    }

    // dweight and dbias sum over rows: every row adds into the same M slots, so this loop stays
    // serial (rows outer, features inner: contiguous and vectorisable).
    const bool want_dw = weight.defined() && weight.requires_grad();
    const bool want_db = bias.defined() && bias.requires_grad();
    Tensor dw, db;
    if (want_dw || want_db) {
      std::vector<double> acc_w(want_dw ? M : 0, 0.0), acc_b(want_db ? M : 0, 0.0);
      for (int64_t r = 0; r < R; ++r) {
        const float* xr = xd + r * M;
        const float* gr = gd + r * M;
        const float mean = st->mean[r], rstd = st->rstd[r];
        if (want_dw) {
          for (int64_t j = 0; j < M; ++j) acc_w[j] += gr[j] * ((xr[j] - mean) * rstd);
        }
        if (want_db) {
          for (int64_t j = 0; j < M; ++j) acc_b[j] += gr[j];
        }
      }
      auto to_tensor = [&](const std::vector<double>& acc, const Shape& shape) {
        Tensor t = Tensor::empty(shape);
        for (int64_t j = 0; j < M; ++j) t.data()[j] = static_cast<float>(acc[j]);
        return t;
      };
      if (want_dw) dw = to_tensor(acc_w, weight.shape());
      if (want_db) db = to_tensor(acc_b, bias.shape());
    }
    return grads{dx, dw, db};
  });
}

// ---- dropout ---------------------------------------------------------------------------------------
// Training: keep each element with probability 1-p and scale the survivors by 1/(1-p), so the
// expected value of every output equals its input and evaluation needs no rescaling ("inverted"
// dropout). y = x * mask with mask in {0, 1/(1-p)}, hence dy/dx = mask: the backward pass must
// reuse exactly the mask the forward pass drew, which the closure keeps.

Tensor dropout(const Tensor& x, float p, bool training) {
  NIBBLE_CHECK(x.defined(), "dropout", "argument 'x' is an undefined tensor");
  NIBBLE_CHECK(p >= 0.0f && p < 1.0f, "dropout", "p must be in [0, 1), got " + std::to_string(p),
        "p is the probability of zeroing an element; p = 1 would zero everything");
  if (!training || p == 0.0f) return x;  // the identity: same tensor, same graph

  const float scale = 1.0f / (1.0f - p);
  // One shared generator, drawn in row-major order, so a seed fixes the mask. Tensor::rand takes
  // the generator's lock once for the whole tensor (not once per element).
  Tensor mask = Tensor::rand(x.shape());
  float* m = mask.data();
  for (int64_t i = 0; i < mask.numel(); ++i) m[i] = m[i] < p ? 0.0f : scale;

  auto times = [](float a, float b) { return a * b; };
  Tensor out = detail::binary_map(x.detach(), mask, "dropout", times);
  return record("dropout", out, {x}, [mask, times](const Tensor& g) {
    return grads{detail::binary_map(g, mask, "dropout", times)};
  });
}

}  // namespace nibble
