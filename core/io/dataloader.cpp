#include "core/io/dataloader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace nibble::data {

namespace {

// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and plenty random for shuffling.
struct SplitMix64 {
  uint64_t state;
  explicit SplitMix64(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n). Plain `next() % n` would favour small values slightly; rejecting the
  // lowest (2^64 mod n) raw values makes every residue exactly equally likely.
  uint64_t below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // == 2^64 mod n
    for (;;) {
      const uint64_t r = next();
      if (r >= threshold) return r % n;
    }
  }
};

}  // namespace

DataLoader::DataLoader(Tensor images, std::vector<int64_t> labels, int64_t batch_size, bool shuffle,
                       uint64_t seed, bool drop_last)
    : labels_(std::move(labels)),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last) {
  const char* op = "DataLoader";
  NIBBLE_CHECK(images.defined() && images.dim() >= 1, op, "images must be a tensor [N, ...]");
  NIBBLE_CHECK(images.size(0) == static_cast<int64_t>(labels_.size()), op,
        "images has " + std::to_string(images.size(0)) + " examples (shape " + images.shape_str() +
            ") but there are " + std::to_string(labels_.size()) + " labels");
  NIBBLE_CHECK(batch_size > 0, op, "batch_size must be positive, got " + std::to_string(batch_size));
  // contiguous() so every example is one block of row_numel_ floats we can memcpy; detach() so
  // batches never drag the data set into an autograd graph.
  images_ = images.detach().contiguous();
  row_numel_ = images_.size(0) > 0 ? images_.numel() / images_.size(0) : 0;
}

int64_t DataLoader::num_batches() const {
  const int64_t n = num_examples();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void DataLoader::start_epoch() {
  ++epoch_;
  position_ = 0;
  epoch_done_ = false;
  const int64_t n = num_examples();
  order_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  if (!shuffle_) return;
  // One generator per epoch, seeded from (seed, epoch): epoch k's order does not depend on how
  // many batches earlier epochs actually consumed.
  SplitMix64 g(SplitMix64(seed_).next() ^ (static_cast<uint64_t>(epoch_) * 0xd1b54a32d192ed03ull));
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates: every permutation equally likely
    const auto j = static_cast<int64_t>(g.below(static_cast<uint64_t>(i + 1)));
    std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
  }
}

bool DataLoader::next(Batch& batch) {
  if (epoch_done_) start_epoch();
  const int64_t b = std::min(batch_size_, num_examples() - position_);
  if (b == 0 || (drop_last_ && b < batch_size_)) {
    epoch_done_ = true;
    return false;
  }
  Shape shape = images_.shape();
  shape[0] = b;
  batch.x = Tensor::empty(shape);
  batch.y.resize(static_cast<size_t>(b));
  float* dst = batch.x.data();
  const float* src = images_.data();
  const size_t row_bytes = static_cast<size_t>(row_numel_) * sizeof(float);
  for (int64_t i = 0; i < b; ++i) {
    const int64_t example = order_[static_cast<size_t>(position_ + i)];
    std::memcpy(dst + i * row_numel_, src + example * row_numel_, row_bytes);
    batch.y[static_cast<size_t>(i)] = labels_[static_cast<size_t>(example)];
  }
  position_ += b;
  return true;
}

MeanStd mean_std(const Tensor& images) {
  NIBBLE_CHECK(images.defined() && images.numel() > 0, "mean_std", "needs a non-empty tensor");
  const Tensor x = images.contiguous();
  const float* p = x.data();
  const int64_t n = x.numel();
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += p[i];
  const double mean = sum / static_cast<double>(n);
  double squares = 0.0;  // second pass around the mean: no catastrophic cancellation
  for (int64_t i = 0; i < n; ++i) squares += (p[i] - mean) * (p[i] - mean);
  return {static_cast<float>(mean),
          static_cast<float>(std::sqrt(squares / static_cast<double>(n)))};
}

Tensor normalize(const Tensor& images, MeanStd stats) {
  NIBBLE_CHECK(std::isfinite(stats.std) && stats.std > 0.0f, "normalize",
        "std must be positive and finite, got " + std::to_string(stats.std),
        "a constant data set has std 0: there is nothing to normalise");
  const Tensor x = images.contiguous();
  Tensor out = Tensor::empty(x.shape());
  const float* src = x.data();
  float* dst = out.data();
  const float inv_std = 1.0f / stats.std;
  for (int64_t i = 0; i < x.numel(); ++i) dst[i] = (src[i] - stats.mean) * inv_std;
  return out;
}

}  // namespace nibble::data
