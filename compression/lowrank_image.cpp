#include "compression/lowrank_image.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "compression/lowrank.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace nibble {

double psnr_db(const Tensor& reference, const Tensor& test) {
  NIBBLE_CHECK(reference.defined() && test.defined() && reference.shape() == test.shape(), "psnr_db",
               "images must have one shape, got " + (reference.defined() ? reference.shape_str() : "(undefined)") +
                   " and " + (test.defined() ? test.shape_str() : "(undefined)"));
  const std::vector<float> a = reference.contiguous().to_vector(), b = test.contiguous().to_vector();
  NIBBLE_CHECK(!a.empty(), "psnr_db", "the images are empty");
  double se = 0.0;
  for (size_t i = 0; i < a.size(); ++i) se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  const double mse = se / static_cast<double>(a.size());
  return mse == 0.0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(1.0 / mse);
}

std::vector<RankedImage> compress_image_by_rank(const Tensor& image, const std::vector<int64_t>& ranks) {
  NIBBLE_CHECK(image.defined() && image.dim() == 3, "compress_image_by_rank",
               "expects an image [C, H, W], got " + (image.defined() ? image.shape_str() : std::string("(undefined)")),
               "io::load_image returns [C, H, W]");
  NIBBLE_CHECK(!ranks.empty(), "compress_image_by_rank", "no ranks given", "e.g. {5, 20, 50}");
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  for (const int64_t k : ranks)
    validate_rank(k, std::min(H, W), "compress_image_by_rank",
                  "min(H, W) = " + std::to_string(std::min(H, W)) + " for an image " + image.shape_str());
  NoGradGuard no_grad;
  std::vector<Svd> channels;
  for (int64_t c = 0; c < C; ++c) channels.push_back(svd(image.select(0, c).contiguous()));  // [H, W]
  std::vector<RankedImage> out;
  for (const int64_t k : ranks) {
    std::vector<Tensor> planes;
    for (const Svd& s : channels) planes.push_back(low_rank_approx(s, k));
    // What a PNG keeps: [0, 1], 256 levels.
    Tensor img = stack(planes, 0).contiguous();
    float* p = img.data();
    for (int64_t i = 0; i < img.numel(); ++i) p[i] = std::round(std::clamp(p[i], 0.0f, 1.0f) * 255.0f) / 255.0f;
    RankedImage r;
    r.rank = k;
    r.psnr_db = psnr_db(image, img);
    r.image = img;
    r.factor_bytes = C * k * (H + W + 1) * static_cast<int64_t>(sizeof(float));
    out.push_back(r);
  }
  return out;
}

}  // namespace nibble
