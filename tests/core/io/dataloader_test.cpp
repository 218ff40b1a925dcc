// DataLoader (core/io/dataloader.h): coverage, order, determinism, partial batches and speed.
#include "core/io/dataloader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <numeric>

#include "gradcheck.h"

namespace nibble::data {
namespace {

using nibble::testing::throws_error_containing;

// n examples of shape [1, 2, 2] whose pixels all equal the example's index; label == index.
struct Toy {
  Tensor images;
  std::vector<int64_t> labels;
  explicit Toy(int64_t n) {
    images = Tensor::empty({n, 1, 2, 2});
    for (int64_t i = 0; i < n * 4; ++i) images.data()[i] = static_cast<float>(i / 4);
    labels.resize(static_cast<size_t>(n));
    std::iota(labels.begin(), labels.end(), 0);
  }
};

// All labels of one epoch, in visiting order; also checks each batch's rows match its labels.
std::vector<int64_t> run_epoch(DataLoader& loader, std::vector<int64_t>* batch_sizes = nullptr) {
  std::vector<int64_t> seen;
  for (const Batch& b : loader) {
    const int64_t size = b.x.size(0);
    EXPECT_EQ(static_cast<int64_t>(b.y.size()), size);
    EXPECT_EQ(b.x.shape(), (Shape{size, 1, 2, 2}));
    for (int64_t i = 0; i < size; ++i) {
      EXPECT_EQ(b.x.at({i, 0, 1, 1}), static_cast<float>(b.y[static_cast<size_t>(i)]))
          << "row and label disagree";
    }
    if (batch_sizes) batch_sizes->push_back(size);
    seen.insert(seen.end(), b.y.begin(), b.y.end());
  }
  return seen;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(DataLoader, UnshuffledVisitsInOrderWithPartialLastBatch) {
  Toy toy(23);
  DataLoader loader(toy.images, toy.labels, 5);
  EXPECT_EQ(loader.num_batches(), 5);
  std::vector<int64_t> sizes;
  EXPECT_EQ(run_epoch(loader, &sizes), iota(23));
  EXPECT_EQ(sizes, (std::vector<int64_t>{5, 5, 5, 5, 3}));
}

TEST(DataLoader, ShuffledCoversEveryExampleExactlyOncePerEpoch) {
  Toy toy(103);
  DataLoader loader(toy.images, toy.labels, 10, /*shuffle=*/true, /*seed=*/7);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> sizes;
    std::vector<int64_t> seen = run_epoch(loader, &sizes);
    EXPECT_NE(seen, iota(103)) << "epoch " << epoch << " was not shuffled";
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, iota(103)) << "epoch " << epoch;
    EXPECT_EQ(sizes.size(), 11u);
    EXPECT_EQ(sizes.back(), 3);
    EXPECT_EQ(loader.epoch(), epoch);
  }
}

TEST(DataLoader, ShuffleIsDeterministicPerSeedAndDiffersAcrossEpochs) {
  Toy toy(50);
  DataLoader a(toy.images, toy.labels, 8, true, 42), b(toy.images, toy.labels, 8, true, 42);
  DataLoader other(toy.images, toy.labels, 8, true, 43);
  const std::vector<int64_t> a0 = run_epoch(a), a1 = run_epoch(a);
  EXPECT_EQ(run_epoch(b), a0);
  EXPECT_EQ(run_epoch(b), a1);
  EXPECT_NE(a0, a1) << "every epoch needs a new order";
  EXPECT_NE(run_epoch(other), a0) << "a different seed should give a different order";
}

TEST(DataLoader, NextAndRangeForShareTheEpochCounter) {
  Toy toy(6);
  DataLoader loader(toy.images, toy.labels, 4, true, 1);
  Batch batch;
  std::vector<int64_t> by_next;
  while (loader.next(batch)) by_next.insert(by_next.end(), batch.y.begin(), batch.y.end());
  EXPECT_EQ(loader.epoch(), 0);
  DataLoader twin(toy.images, toy.labels, 4, true, 1);
  EXPECT_EQ(run_epoch(twin), by_next);
  // The next call to next() opens epoch 1, exactly as a second range-for does.
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(loader.epoch(), 1);
  const std::vector<int64_t> twin_epoch1 = run_epoch(twin);
  EXPECT_EQ(std::vector<int64_t>(twin_epoch1.begin(), twin_epoch1.begin() + 4), batch.y);
}

TEST(DataLoader, DropLastSkipsThePartialBatch) {
  Toy toy(23);
  DataLoader loader(toy.images, toy.labels, 5, true, 3, /*drop_last=*/true);
  EXPECT_EQ(loader.num_batches(), 4);
  std::vector<int64_t> sizes;
  EXPECT_EQ(run_epoch(loader, &sizes).size(), 20u);
  EXPECT_EQ(sizes, (std::vector<int64_t>{5, 5, 5, 5}));
}

TEST(DataLoader, BatchesAreIndependentCopies) {
  Toy toy(4);
  DataLoader loader(toy.images, toy.labels, 2);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  batch.x.data()[0] = 99.0f;
  EXPECT_EQ(toy.images.data()[0], 0.0f) << "changing a batch must not change the data set";
  EXPECT_FALSE(batch.x.requires_grad());
}

TEST(DataLoader, RejectsBadArguments) {
  Toy toy(4);
  EXPECT_TRUE(throws_error_containing(
      [&] {
        DataLoader(toy.images, {0, 1, 2}, 2);
      },
      "images has 4 examples (shape [4, 1, 2, 2]) but there are 3 labels"));
  EXPECT_TRUE(throws_error_containing([&] { DataLoader(toy.images, toy.labels, 0); },
                                      "batch_size must be positive"));
}

TEST(DataLoader, MeanStdAndNormalize) {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const MeanStd s = mean_std(x);
  EXPECT_FLOAT_EQ(s.mean, 2.5f);
  EXPECT_FLOAT_EQ(s.std, std::sqrt(1.25f));
  const Tensor n = normalize(x, s);
  const MeanStd after = mean_std(n);
  EXPECT_NEAR(after.mean, 0.0f, 1e-6f);
  EXPECT_NEAR(after.std, 1.0f, 1e-6f);
  EXPECT_TRUE(throws_error_containing(
      [&] {
        normalize(x, MeanStd{0.0f, 0.0f});
      },
      "std must be positive"));
}

// CPU time of the calling thread: unlike wall-clock time it does not grow when a busy machine
// (a parallel build, other tests) takes the core away from us.
double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

TEST(DataLoader, EpochOfFashionMnistSizeIsFast) {
  // 60000 examples of 28x28, batches of 64, shuffled: the loader's share of an MLP epoch.
  const Tensor images = Tensor::zeros({60000, 1, 28, 28});
  std::vector<int64_t> labels(60000, 0);
  DataLoader loader(images, labels, 64, true, 0);
  for (const Batch& b : loader) ASSERT_EQ(b.x.dim(), 4);  // warm up caches and the allocator
  double best_cpu_ms = 1e9, best_wall_ms = 1e9;
  for (int trial = 0; trial < 3; ++trial) {
    const auto wall_start = std::chrono::steady_clock::now();
    const double cpu_start = thread_cpu_ms();
    int64_t examples = 0;
    for (const Batch& b : loader) examples += b.x.size(0);
    const double cpu_ms = thread_cpu_ms() - cpu_start;
    const std::chrono::duration<double, std::milli> wall =
        std::chrono::steady_clock::now() - wall_start;
    best_cpu_ms = std::min(best_cpu_ms, cpu_ms);
    best_wall_ms = std::min(best_wall_ms, wall.count());
    EXPECT_EQ(examples, 60000);
  }
  std::printf(
      "[ timing   ] DataLoader epoch, 60000 x 784 floats, batch 64, shuffled: "
      "%.1f ms CPU, %.1f ms wall\n",
      best_cpu_ms, best_wall_ms);
  // About 20 ms in an optimised build (it is one pass over 188 MB, so memory bandwidth sets the
  // pace). The bound is loose so sanitizer and debug builds pass, while an accidental
  // per-element copy or an O(N^2) shuffle still fails.
  EXPECT_LT(best_cpu_ms, 1000.0);
}

}  // namespace
}  // namespace nibble::data
