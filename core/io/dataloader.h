// DataLoader: cuts a data set into mini-batches, optionally in a fresh random order every epoch.
//
//   data::DataLoader loader(train.images, train.labels, /*batch_size=*/64, /*shuffle=*/true,
//   /*seed=*/1); for (int epoch = 0; epoch < 10; ++epoch)
//     for (const data::Batch& batch : loader) {   // each range-for is one epoch
//       Tensor logits = model(batch.x);           // batch.x: [64, 1, 28, 28]
//       Tensor loss = cross_entropy(logits, batch.y);
//       ...
//     }
//
// or, without iterators:   data::Batch b;  while (loader.next(b)) { ... }   (one epoch per loop)
//
// Shuffling: epoch k visits the examples in a permutation drawn from a generator seeded with
// (seed, k). The loader's own generator -- not the library-wide one behind manual_seed() -- so
// model initialisation or dropout never changes the data order, and the same seed gives the same
// batches on every machine and compiler (we do not use std::shuffle, whose output differs
// between standard libraries). Every example appears exactly once per epoch.
//
// Each batch is a fresh tensor (its rows memcpy'd from the data set), so changing it in place
// cannot corrupt the data set, and it carries no autograd history.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include "core/tensor.h"

namespace nibble::data {

struct Batch {
  Tensor x;                // [B, ...] -- the data set's shape with the first axis cut to B
  std::vector<int64_t> y;  // B labels
};

class DataLoader {
 public:
  // images: [N, ...] (any trailing shape); labels: N entries. drop_last skips a final batch
  // smaller than batch_size (useful when a layer needs a fixed batch size).
  DataLoader(Tensor images, std::vector<int64_t> labels, int64_t batch_size, bool shuffle = false,
             uint64_t seed = 0, bool drop_last = false);

  // Fills `batch` with the next batch of the current epoch and returns true; returns false once
  // the epoch is exhausted. The call after that starts the next epoch.
  bool next(Batch& batch);
  // Starts the next epoch now (also what begin() does), abandoning the rest of the current one.
  void start_epoch();

  int64_t num_examples() const { return static_cast<int64_t>(labels_.size()); }
  int64_t batch_size() const { return batch_size_; }
  int64_t num_batches() const;              // per epoch, honouring drop_last
  int64_t epoch() const { return epoch_; }  // index of the current epoch; -1 before the first
  // The order in which the current epoch visits the examples.
  const std::vector<int64_t>& order() const { return order_; }

  // ---- range-for support: `for (const Batch& b : loader)` runs one epoch --------------------
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch*;
    using reference = const Batch&;

    Iterator() = default;  // the end iterator
    explicit Iterator(DataLoader* loader) : loader_(loader) { ++*this; }
    const Batch& operator*() const { return batch_; }
    const Batch* operator->() const { return &batch_; }
    Iterator& operator++() {
      if (!loader_->next(batch_)) loader_ = nullptr;
      return *this;
    }
    bool operator==(const Iterator& other) const { return loader_ == other.loader_; }
    bool operator!=(const Iterator& other) const { return loader_ != other.loader_; }

   private:
    DataLoader* loader_ = nullptr;
    Batch batch_;
  };
  Iterator begin() {
    start_epoch();
    return Iterator(this);
  }
  Iterator end() { return Iterator(); }

 private:
  Tensor images_;  // contiguous, detached
  std::vector<int64_t> labels_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  int64_t row_numel_;  // floats per example

  int64_t epoch_ = -1;
  int64_t position_ = 0;    // next index into order_
  bool epoch_done_ = true;  // the next next() starts a new epoch
  std::vector<int64_t> order_;
};

// ---- normalisation: x -> (x - mean) / std, with one mean and std over all values --------------
// Compute the statistics on the *training* set and apply the same numbers to the test set.
struct MeanStd {
  float mean = 0.0f;
  float std = 1.0f;
};
MeanStd mean_std(const Tensor& images);  // population std (divides by N), accumulated in double
Tensor normalize(const Tensor& images, MeanStd stats);  // a new tensor, no autograd history

}  // namespace nibble::data
