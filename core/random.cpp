// One seedable generator for the whole library, so manual_seed(42) makes every run repeatable.
// We use our own xoshiro256** and Box-Muller instead of <random>'s distributions, whose output
// differs between standard libraries: a seed must give the same numbers with g++ and clang.
// A mutex makes it safe to draw from several threads (DataLoader workers, notebooks, tests);
// Tensor::randn/rand hold it once per tensor, so the lock costs nothing measurable there.
#include <cmath>
#include <cstdint>
#include <mutex>

#include "core/tensor.h"

namespace nibble {

namespace {

struct Xoshiro256 {
  uint64_t s[4];
  explicit Xoshiro256(uint64_t seed) { reseed(seed); }
  void reseed(uint64_t seed) {
    for (uint64_t& word : s) {  // splitmix64 spreads one seed over the 256-bit state
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      word = z ^ (z >> 31);
    }
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

// The generator and the lock that guards it. Every access goes through Locked.
struct Locked {
  std::unique_lock<std::mutex> lock;
  Xoshiro256& g;
};

Locked generator() {
  static std::mutex mutex;
  static Xoshiro256 g(0x5eed);
  return Locked{std::unique_lock<std::mutex>(mutex), g};
}

// The top 24 bits give every float in [0, 1) with spacing 2^-24.
float uniform_from(Xoshiro256& g) { return static_cast<float>(g.next() >> 40) * (1.0f / 16777216.0f); }

// Box-Muller: two uniforms -> one standard normal (we drop the second one for simplicity).
float normal_from(Xoshiro256& g) {
  const double u1 = (static_cast<double>(g.next() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  const double u2 = static_cast<double>(g.next() >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace

void manual_seed(uint64_t seed) { generator().g.reseed(seed); }

uint64_t random_u64() { return generator().g.next(); }

float random_uniform() { return uniform_from(generator().g); }

float random_normal() { return normal_from(generator().g); }

Tensor Tensor::randn(const Shape& shape, float mean, float stddev) {
  Tensor t = empty(shape);
  float* p = t.data();
  const int64_t n = t.numel();
  Locked locked = generator();  // one lock for the whole tensor: its values are consecutive draws
  for (int64_t i = 0; i < n; ++i) p[i] = mean + stddev * normal_from(locked.g);
  return t;
}

Tensor Tensor::rand(const Shape& shape, float low, float high) {
  NIBBLE_CHECK(low <= high, "rand", "low > high");
  Tensor t = empty(shape);
  float* p = t.data();
  const int64_t n = t.numel();
  Locked locked = generator();
  for (int64_t i = 0; i < n; ++i) p[i] = low + (high - low) * uniform_from(locked.g);
  return t;
}

}  // namespace nibble
