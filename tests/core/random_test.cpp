// The global generator (core/random.cpp): the same sequence as always from one thread, and safe
// to draw from several threads at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "core/tensor.h"

namespace nibble {
namespace {

TEST(Random, SequenceFromManualSeedIsUnchanged) {
  // Printed by the library before the generator got its lock (commit a95785f): seeded results
  // in tests, notebooks and READMEs must not move.
  manual_seed(42);
  EXPECT_EQ(random_u64(), 1546998764402558742ull);
  EXPECT_EQ(random_u64(), 6990951692964543102ull);
  EXPECT_EQ(random_u64(), 12544586762248559009ull);
  const std::vector<float> n = Tensor::randn({3}).to_vector();
  EXPECT_FLOAT_EQ(n[0], 0.395186275f);
  EXPECT_FLOAT_EQ(n[1], -0.138873532f);
  EXPECT_FLOAT_EQ(n[2], 0.0407091081f);
  const std::vector<float> u = Tensor::rand({2}, -1.0f, 1.0f).to_vector();
  EXPECT_FLOAT_EQ(u[0], 0.166698575f);
  EXPECT_FLOAT_EQ(u[1], 0.364905715f);
  EXPECT_FLOAT_EQ(random_uniform(), 0.290677726f);
  EXPECT_FLOAT_EQ(random_normal(), -0.288958728f);
}

TEST(Random, ThreadsDrawDisjointPartsOfOneSequence) {
  // Each draw is one step of the generator, whoever makes it: 4 threads x 10^6 draws together
  // are exactly the first 4 x 10^6 numbers after the seed, none lost or repeated. An unguarded
  // generator races: threads read the same state (duplicates) or tear it (numbers off the list);
  // with fewer draws the threads rarely overlap on a busy machine, and the old code passed.
  constexpr int kThreads = 4, kDraws = 1000000;
  manual_seed(9);
  std::vector<uint64_t> expected(kThreads * kDraws);
  for (uint64_t& v : expected) v = random_u64();

  manual_seed(9);
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&got, &ready, t] {
      got[t].reserve(kDraws);
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();  // start together: overlap
      for (int i = 0; i < kDraws; ++i) got[t].push_back(random_u64());
    });
  }
  for (std::thread& th : threads) th.join();
  std::vector<uint64_t> all;
  for (const auto& part : got) all.insert(all.end(), part.begin(), part.end());
  std::sort(all.begin(), all.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_TRUE(all == expected) << "the threads' draws are not a permutation of the sequence";
}

TEST(Random, EachTensorIsAnUnbrokenStretch) {
  // randn holds the lock for the whole tensor: made concurrently, every tensor still equals one
  // of the tensors the same seed gives on a single thread.
  constexpr int kThreads = 3, kPerThread = 20;
  manual_seed(11);
  std::vector<std::vector<float>> reference;
  for (int i = 0; i < kThreads * kPerThread; ++i) reference.push_back(Tensor::randn({257}).to_vector());

  manual_seed(11);
  std::vector<std::vector<std::vector<float>>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; ++i) made[t].push_back(Tensor::randn({257}).to_vector());
    });
  }
  for (std::thread& th : threads) th.join();
  std::vector<std::vector<float>> all;
  for (const auto& part : made) all.insert(all.end(), part.begin(), part.end());
  std::sort(all.begin(), all.end());
  std::sort(reference.begin(), reference.end());
  EXPECT_TRUE(all == reference);
}

}  // namespace
}  // namespace nibble
