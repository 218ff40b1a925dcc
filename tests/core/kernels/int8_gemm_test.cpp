// Tests for the int8 GEMM kernel layer (core/kernels).
//
// Chain of trust: an independent int64 triple loop (naive() below) checks the scalar kernel;
// the scalar kernel checks every SIMD kernel bit for bit; kernels this CPU cannot run are skipped
// with the reason printed, but their packed layout is still checked by emulation.
// The file only uses the public API plus the detail:: test hooks, so it also builds for aarch64
// (core/kernels/run_neon_tests.sh runs it under qemu).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/kernels/int8_gemm.h"
#include "core/kernels/int8_internal.h"
#include "tests/gradcheck.h"

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nibble {

// Readable kernel names in gtest / ctest output (found by argument-dependent lookup).
[[maybe_unused]] static void PrintTo(Int8Kernel k, std::ostream* os) { *os << int8_kernel_name(k); }

namespace {

struct Shape {
  int64_t M, N, K;
};

// 1s, primes, non-multiples of every tile (4/6/8 rows, 4/8/16/32 columns, k groups 2/4/16),
// empty dimensions, and long K.
const std::vector<Shape> kShapes = {
    {1, 1, 1},     {1, 1, 4096},  {1, 37, 1},   {7, 13, 29},   {17, 31, 127}, {3, 97, 1000},
    {6, 16, 2},    {5, 15, 3},    {8, 32, 4},   {9, 33, 17},   {1, 33, 65},   {64, 48, 512},
    {13, 7, 4096}, {130, 67, 257}, {0, 5, 7},   {4, 0, 3},     {3, 4, 0},     {2, 3, 1},
};

// Activations of either type plus everything needed to describe them.
struct Activations {
  bool is_signed = false;
  int64_t M = 0, K = 0, lda = 0;
  int32_t zero_point = 0;
  std::vector<uint8_t> u8;
  std::vector<int8_t> s8;
  QuantizedInput view() const {
    return is_signed ? input_s8(s8.data(), M, K, zero_point, lda)
                     : input_u8(u8.data(), M, K, zero_point, lda);
  }
  int64_t at(int64_t m, int64_t k) const {
    return is_signed ? s8[m * lda + k] : u8[m * lda + k];
  }
};

Activations random_activations(std::mt19937& rng, bool is_signed, int64_t M, int64_t K,
                               int64_t pad = 0) {
  Activations a;
  a.is_signed = is_signed;
  a.M = M;
  a.K = K;
  a.lda = K + pad;
  std::uniform_int_distribution<int> byte(0, 255);
  a.zero_point = is_signed ? byte(rng) - 128 : byte(rng);
  const size_t size = static_cast<size_t>(std::max<int64_t>(1, M * a.lda));
  if (is_signed) {
    a.s8.resize(size);
    for (auto& v : a.s8) v = static_cast<int8_t>(byte(rng) - 128);
  } else {
    a.u8.resize(size);
    for (auto& v : a.u8) v = static_cast<uint8_t>(byte(rng));
  }
  return a;
}

std::vector<int8_t> random_weights(std::mt19937& rng, int64_t N, int64_t K) {
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> w(static_cast<size_t>(std::max<int64_t>(1, N * K)));
  for (auto& v : w) v = static_cast<int8_t>(byte(rng));
  return w;
}

std::vector<int32_t> random_bias(std::mt19937& rng, int64_t N) {
  std::uniform_int_distribution<int32_t> d(-1000000, 1000000);
  std::vector<int32_t> b(static_cast<size_t>(std::max<int64_t>(1, N)));
  for (auto& v : b) v = d(rng);
  return b;
}

// The independent oracle: int64, straight from the definition, no packing, no zero-point trick.
std::vector<int64_t> naive(const Activations& a, const std::vector<int8_t>& W, int64_t N,
                           const int32_t* bias) {
  std::vector<int64_t> c(static_cast<size_t>(a.M * N));
  for (int64_t m = 0; m < a.M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      int64_t sum = bias ? bias[n] : 0;
      for (int64_t k = 0; k < a.K; ++k) sum += (a.at(m, k) - a.zero_point) * W[n * a.K + k];
      c[m * N + n] = sum;
    }
  return c;
}

// Runs int8_gemm_s32 with the given kernel; C gets a row stride ldc = N + pad.
std::vector<int32_t> run_s32(const Activations& a, const std::vector<int8_t>& W, int64_t N,
                             const int32_t* bias, Int8Kernel kernel, int64_t pad = 0) {
  const PackedWeightsS8 packed = pack_weights_s8(W.data(), a.K, N, kernel);
  const int64_t ldc = N + pad;
  std::vector<int32_t> c(static_cast<size_t>(std::max<int64_t>(1, a.M * ldc)), -7);
  int8_gemm_s32(a.view(), packed, bias, c.data(), ldc);
  std::vector<int32_t> dense(static_cast<size_t>(a.M * N));
  for (int64_t m = 0; m < a.M; ++m)
    for (int64_t n = 0; n < N; ++n) dense[m * N + n] = c[m * ldc + n];
  return dense;
}

::testing::AssertionResult same(const std::vector<int64_t>& want, const std::vector<int32_t>& got) {
  if (want.size() != got.size()) return ::testing::AssertionFailure() << "size differs";
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i] != got[i])
      return ::testing::AssertionFailure() << "element " << i << ": want " << want[i] << ", got "
                                           << got[i];
  return ::testing::AssertionSuccess();
}

std::vector<int64_t> widen(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }

std::string skip_reason(Int8Kernel k) {
  const std::string name = int8_kernel_name(k);
  if (detail::kernel_info(k).micro == nullptr)
    return "kernel " + name + " is not built for this CPU architecture; CPU has: " +
           cpu_features().summary();
  return "CPU lacks " + name + "; CPU has: " + cpu_features().summary() +
         " (kernel compiled but NOT run here)";
}

// ---- the scalar reference against the naive loop -------------------------------------------------

TEST(Int8GemmReference, ScalarMatchesNaiveInt64) {
  std::mt19937 rng(1);
  for (const Shape& s : kShapes)
    for (bool is_signed : {false, true})
      for (bool with_bias : {false, true}) {
        const Activations a = random_activations(rng, is_signed, s.M, s.K, s.K % 3);
        const auto W = random_weights(rng, s.N, s.K);
        const auto bias = random_bias(rng, s.N);
        const int32_t* b = with_bias ? bias.data() : nullptr;
        EXPECT_TRUE(same(naive(a, W, s.N, b), run_s32(a, W, s.N, b, Int8Kernel::kScalar, 2)))
            << "M=" << s.M << " N=" << s.N << " K=" << s.K << " signed=" << is_signed;
      }
}

TEST(Int8GemmReference, ZeroPointIsSubtracted) {
  // A equal to its zero point everywhere is real 0: only the bias is left.
  Activations a;
  a.M = 3, a.K = 50, a.lda = 50, a.zero_point = 77;
  a.u8.assign(150, 77);
  std::mt19937 rng(2);
  const auto W = random_weights(rng, 5, 50);
  const std::vector<int32_t> bias = {1, -2, 3, -4, 5};
  const auto c = run_s32(a, W, 5, bias.data(), Int8Kernel::kScalar);
  for (int64_t m = 0; m < 3; ++m)
    for (int64_t n = 0; n < 5; ++n) EXPECT_EQ(c[m * 5 + n], bias[n]);
  // And by hand: A = [za+1, za+2], W = [[3, -4]] -> 1*3 + 2*-4 = -5.
  a.M = 1, a.K = 2, a.lda = 2;
  a.u8 = {78, 79};
  EXPECT_EQ(run_s32(a, {3, -4}, 1, nullptr, Int8Kernel::kScalar)[0], -5);
}

// ---- every kernel ---------------------------------------------------------------------------------

class EachKernel : public ::testing::TestWithParam<Int8Kernel> {
 protected:
  void SetUp() override {
    if (!int8_kernel_available(GetParam())) GTEST_SKIP() << skip_reason(GetParam());
  }
  // The largest activation the kernel accepts (255; avx2u7: 127, unsigned input only).
  int a_max() const { return detail::kernel_info(GetParam()).a_max; }
  bool takes_signed() const { return a_max() == 255; }
  // Random activations folded into the kernel's domain (a no-op for full-range kernels).
  Activations in_domain(Activations a) const {
    if (a_max() < 255)
      for (auto& v : a.u8) v = static_cast<uint8_t>(v & a_max());
    return a;
  }
};

TEST_P(EachKernel, BitExactVsScalarAndNaive) {
  std::mt19937 rng(3);
  int cases = 0;
  for (const Shape& s : kShapes)
    for (bool is_signed : {false, true}) {
      if (is_signed && !takes_signed()) continue;
      const int64_t pad = (s.M + s.N) % 4;  // some strided A and C
      const Activations a = in_domain(random_activations(rng, is_signed, s.M, s.K, pad));
      const auto W = random_weights(rng, s.N, s.K);
      const auto bias = random_bias(rng, s.N);
      const auto want = run_s32(a, W, s.N, bias.data(), Int8Kernel::kScalar);
      const auto got = run_s32(a, W, s.N, bias.data(), GetParam(), pad);
      EXPECT_TRUE(same(widen(want), got)) << "M=" << s.M << " N=" << s.N << " K=" << s.K;
      EXPECT_TRUE(same(naive(a, W, s.N, bias.data()), got));
      ++cases;
    }
  std::cout << "[ kernel   ] " << int8_kernel_name(GetParam()) << ": bit-exact on " << cases
            << " random cases\n";
}

TEST_P(EachKernel, ExtremeValues) {
  // The saturation trap's worst cases: 255 * -128 everywhere, and friends, with long K.
  struct Case {
    bool is_signed;
    int a;
    int32_t za;
    int w;
  };
  // (127: the largest 7-bit activation, the extreme of the avx2u7 kernel.)
  const Case cases[] = {{false, 255, 0, -128},  {false, 255, 0, 127},   {false, 0, 255, -128},
                        {false, 255, 255, 127},  {true, -128, 0, -128},  {true, 127, 0, -128},
                        {true, -128, 127, -128}, {false, 0, 0, -128},    {false, 127, 0, -128},
                        {false, 127, 255, -128}, {false, 127, 0, 127}};
  for (const Case& c : cases)
    for (const Shape s : {Shape{7, 19, 4096}, Shape{2, 3, 65536}}) {
      if ((c.is_signed && !takes_signed()) || c.a > a_max()) continue;
      Activations a;
      a.is_signed = c.is_signed;
      a.M = s.M, a.K = s.K, a.lda = s.K, a.zero_point = c.za;
      if (c.is_signed) a.s8.assign(static_cast<size_t>(s.M * s.K), static_cast<int8_t>(c.a));
      else a.u8.assign(static_cast<size_t>(s.M * s.K), static_cast<uint8_t>(c.a));
      const std::vector<int8_t> W(static_cast<size_t>(s.N * s.K), static_cast<int8_t>(c.w));
      const auto got = run_s32(a, W, s.N, nullptr, GetParam());
      EXPECT_TRUE(same(naive(a, W, s.N, nullptr), got))
          << "a=" << c.a << " za=" << c.za << " w=" << c.w << " K=" << s.K;
    }
  // Alternating extremes inside one k group (+255*-128, +0*127, ...).
  std::mt19937 rng(4);
  Activations a = random_activations(rng, false, 11, 999);
  const auto W0 = random_weights(rng, 21, 999);
  std::vector<int8_t> W(W0.size());
  for (size_t i = 0; i < a.u8.size(); ++i) a.u8[i] = (i % 3) ? static_cast<uint8_t>(a_max()) : 0;
  for (size_t i = 0; i < W.size(); ++i) W[i] = (i % 2) ? -128 : 127;
  EXPECT_TRUE(same(naive(a, W, 21, nullptr), run_s32(a, W, 21, nullptr, GetParam())));
}

TEST_P(EachKernel, OutputStagesMatchScalar) {
  // All output stages share one epilogue, so equal int32 tiles must give equal outputs.
  std::mt19937 rng(5);
  const Activations a = in_domain(random_activations(rng, false, 23, 301));
  const auto W = random_weights(rng, 45, 301);
  const auto bias = random_bias(rng, 45);
  Requantize rq;
  quantize_multiplier(0.00037, &rq.multiplier, &rq.right_shift);
  rq.zero_point = 10;
  Dequantize dq;
  dq.input_scale = 0.02f;
  dq.weight_scale = 0.003f;
  for (Int8Kernel k : {Int8Kernel::kScalar, GetParam()}) {
    static std::vector<uint8_t> u8_ref;
    static std::vector<int8_t> s8_ref;
    static std::vector<float> f32_ref;
    const PackedWeightsS8 p = pack_weights_s8(W.data(), 301, 45, k);
    std::vector<uint8_t> u8(23 * 45);
    std::vector<int8_t> s8(23 * 45);
    std::vector<float> f32(23 * 45);
    int8_gemm_u8(a.view(), p, bias.data(), rq, u8.data());
    int8_gemm_s8(a.view(), p, bias.data(), rq, s8.data());
    int8_gemm_f32(a.view(), p, bias.data(), dq, f32.data());
    if (k == Int8Kernel::kScalar) {
      u8_ref = u8, s8_ref = s8, f32_ref = f32;
    } else {
      EXPECT_EQ(u8, u8_ref);
      EXPECT_EQ(s8, s8_ref);
      EXPECT_EQ(f32, f32_ref);
    }
  }
}

#if defined(_OPENMP)
TEST_P(EachKernel, SameResultWithOneOrTwoThreads) {
  // The driver splits work two ways (int8_gemm.cpp, run_gemm): A packed per block by the thread
  // that uses it (one thread, or many rows: the 97- and 3000-row cases, a convolution's pixel
  // rows), or packed once and shared (two threads and few rows: the 30-row case). All must agree.
  std::mt19937 rng(6);
  for (const Shape s : {Shape{97, 131, 515}, Shape{3000, 20, 203}, Shape{30, 400, 300}}) {
    const Activations a =
        in_domain(random_activations(rng, s.M % 2 == 0 && takes_signed(), s.M, s.K));
    const auto W = random_weights(rng, s.N, s.K);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto one = run_s32(a, W, s.N, nullptr, GetParam());
    omp_set_num_threads(2);
    const auto two = run_s32(a, W, s.N, nullptr, GetParam());
    omp_set_num_threads(saved);
    EXPECT_EQ(one, two) << "M=" << s.M << " N=" << s.N << " K=" << s.K;
    EXPECT_TRUE(same(naive(a, W, s.N, nullptr), two)) << "M=" << s.M;
  }
}
#endif

// A kernel's fast A packer (run on every call) must write exactly the bytes of the reference
// packer, for every K tail and both domain flips (xor 0x80: int8 input into a uint8 kernel).
TEST(Int8GemmPacking, FastPackersMatchTheReference) {
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> byte(0, 255);
  int checked = 0;
  for (Int8Kernel k : int8_all_kernels()) {
    const detail::KernelInfo& L = detail::kernel_info(k);
    if (L.pack_a == nullptr) continue;  // this kernel uses the reference packer itself
    if (!int8_kernel_available(k)) {
      std::cout << "[ skipped  ] " << skip_reason(k) << ": its fast packer not run\n";
      continue;
    }
    for (int64_t K : {1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 784, 1001}) {
      std::vector<std::vector<uint8_t>> data(static_cast<size_t>(L.mr));
      std::vector<const uint8_t*> rows;
      for (auto& row : data) {
        row.resize(static_cast<size_t>(K));
        for (auto& v : row) v = static_cast<uint8_t>(byte(rng));
        rows.push_back(row.data());
      }
      const int64_t bytes = (K + L.kg - 1) / L.kg * L.kg * L.mr * detail::packed_type_bytes(L.a_type);
      for (uint8_t mask : {uint8_t{0}, uint8_t{0x80}}) {
        std::vector<uint8_t> want(static_cast<size_t>(bytes), 0xAB), got(want);
        detail::pack_a_panel_reference(L, rows.data(), K, mask, want.data());
        L.pack_a(rows.data(), K, mask, got.data());
        EXPECT_EQ(want, got) << L.name << " K=" << K << " mask=" << int(mask);
        ++checked;
      }
    }
  }
  std::cout << "[ packing  ] " << checked << " fast-packer cases identical to the reference\n";
}

// The portable byte packer needs no instruction-set extension: check it for every 8-bit layout,
// including those of kernels this CPU cannot run (avx512vnni, neon, neondot here).
TEST(Int8GemmPacking, PortablePackerMatchesTheReferenceForEveryByteLayout) {
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> byte(0, 255);
  int layouts = 0;
  for (Int8Kernel k : int8_all_kernels()) {
    const detail::KernelInfo& L = detail::kernel_info(k);
    const detail::PackPanelA portable = detail::portable_pack_a(L);
    if (L.a_type == detail::PackedType::kS16) {
      EXPECT_EQ(portable, nullptr) << L.name;  // int16 layouts have their own packer
      continue;
    }
    ASSERT_NE(portable, nullptr) << L.name << ": no portable packer for this 8-bit layout";
    ++layouts;
    for (int64_t K : {1, 2, 3, 4, 5, 15, 16, 17, 33, 100, 784}) {
      std::vector<std::vector<uint8_t>> data(static_cast<size_t>(L.mr));
      std::vector<const uint8_t*> rows;
      for (auto& row : data) {
        row.resize(static_cast<size_t>(K));
        for (auto& v : row) v = static_cast<uint8_t>(byte(rng));
        rows.push_back(row.data());
      }
      const int64_t bytes = (K + L.kg - 1) / L.kg * L.kg * L.mr;
      for (uint8_t mask : {uint8_t{0}, uint8_t{0x80}}) {
        std::vector<uint8_t> want(static_cast<size_t>(bytes), 0xAB), got(want);
        detail::pack_a_panel_reference(L, rows.data(), K, mask, want.data());
        portable(rows.data(), K, mask, got.data());
        EXPECT_EQ(want, got) << L.name << " K=" << K << " mask=" << int(mask);
      }
    }
  }
  EXPECT_GE(layouts, 5);  // scalar, avx2u7, avxvnni, avx512vnni, neon, neondot
}

// Runs for every kernel, available or not: packs that kernel's layout and runs the driver with
// the scalar micro_reference in place of its SIMD micro-kernel. So the VNNI layouts are checked
// here even though this machine cannot execute vpdpbusd.
TEST(Int8GemmLayouts, EveryKernelLayoutEmulated) {
  std::mt19937 rng(7);
  for (Int8Kernel k : int8_all_kernels()) {
    for (const Shape& s : kShapes) {
      if (s.K > 1000) continue;  // the emulation is slow; tiling does not depend on long K
      const int a_max = detail::kernel_info(k).a_max;  // 127 for avx2u7: unsigned, 7 bits
      Activations a = random_activations(rng, s.M % 2 == 0 && a_max == 255, s.M, s.K, 1);
      for (auto& v : a.u8) v = static_cast<uint8_t>(std::min<int>(v, a_max));
      const auto W = random_weights(rng, s.N, s.K);
      const auto bias = random_bias(rng, s.N);
      const PackedWeightsS8 p = detail::pack_weights_any_layout(W.data(), s.K, s.N, k);
      std::vector<int32_t> c(static_cast<size_t>(std::max<int64_t>(1, s.M * s.N)));
      detail::gemm_s32_emulated(a.view(), p, bias.data(), c.data());
      c.resize(static_cast<size_t>(s.M * s.N));
      EXPECT_TRUE(same(naive(a, W, s.N, bias.data()), c))
          << int8_kernel_name(k) << " M=" << s.M << " N=" << s.N << " K=" << s.K;
    }
    std::cout << "[ layout   ] " << int8_kernel_name(k) << ": packing + tiling emulated OK"
              << (int8_kernel_available(k) ? "" : " (SIMD micro-kernel itself not run here)")
              << "\n";
  }
}

std::string kernel_test_name(const ::testing::TestParamInfo<Int8Kernel>& info) {
  return int8_kernel_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(Int8Gemm, EachKernel,
                         ::testing::Values(Int8Kernel::kScalar, Int8Kernel::kAvx2,
                                           Int8Kernel::kAvx2U7, Int8Kernel::kAvxVnni, Int8Kernel::kAvx512Vnni,
                                           Int8Kernel::kNeon, Int8Kernel::kNeonDot),
                         kernel_test_name);

// avx2u7 is exact only for activations <= 127: anything larger must be refused, naming where.
TEST(Int8Gemm7Bit, RejectsActivationsAbove127) {
  if (!int8_kernel_available(Int8Kernel::kAvx2U7)) GTEST_SKIP() << skip_reason(Int8Kernel::kAvx2U7);
  std::mt19937 rng(13);
  const auto W = random_weights(rng, 5, 9);
  const PackedWeightsS8 p = pack_weights_s8(W.data(), 9, 5, Int8Kernel::kAvx2U7);
  std::vector<uint8_t> a(4 * 9, 127);
  std::vector<int32_t> c(4 * 5);
  int8_gemm_s32(input_u8(a.data(), 4, 9, 0), p, nullptr, c.data());  // 127 everywhere: fine
  a[2 * 9 + 7] = 128;
  EXPECT_TRUE(testing::throws_error_containing(
      [&] { int8_gemm_s32(input_u8(a.data(), 4, 9, 0), p, nullptr, c.data()); },
      "A[2, 7] = 128"));
  // int8 input is shifted by +128 into the kernel's domain: only negative values fit.
  std::vector<int8_t> s(4 * 9, -1);
  int8_gemm_s32(input_s8(s.data(), 4, 9, 0), p, nullptr, c.data());
  s[5] = 0;
  EXPECT_TRUE(testing::throws_error_containing(
      [&] { int8_gemm_s32(input_s8(s.data(), 4, 9, 0), p, nullptr, c.data()); }, "A[0, 5] = 0"));
  // Never chosen automatically.
  EXPECT_NE(int8_select_kernel(Int8Kernel::kAuto), Int8Kernel::kAvx2U7);
}

// ---- the trap itself ---------------------------------------------------------------------------------

#if defined(__x86_64__)
__attribute__((target("avx2"))) int32_t maddubs_pair(uint8_t a, int8_t b) {
  // What the textbook AVX2 kernel would compute for two products a*b + a*b.
  const __m256i av = _mm256_set1_epi8(static_cast<char>(a));
  const __m256i bv = _mm256_set1_epi8(b);
  return static_cast<int16_t>(_mm256_extract_epi16(_mm256_maddubs_epi16(av, bv), 0));
}

TEST(Int8GemmTrap, VpmaddubswSaturates) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU lacks avx2; has: " << cpu_features().summary();
  EXPECT_EQ(maddubs_pair(255, -128), -32768);  // the true value is -65280: silently wrong
  EXPECT_EQ(maddubs_pair(255, 127), 32767);    // true 64770
  EXPECT_EQ(maddubs_pair(100, 100), 20000);    // small values are fine, which hides the bug
}
#endif

// ---- requantization --------------------------------------------------------------------------------

TEST(Int8Requantize, HandComputedCases) {
  const int32_t half = 1 << 30;  // Q31 0.5
  // Doubling high multiply: round(a * b / 2^31), exact halves toward +infinity (gemmlowp).
  EXPECT_EQ(saturating_rounding_doubling_high_mul(6, half), 3);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(3, half), 2);    //  1.5 ->  2
  EXPECT_EQ(saturating_rounding_doubling_high_mul(-3, half), -1);  // -1.5 -> -1
  EXPECT_EQ(saturating_rounding_doubling_high_mul(1, half), 1);    //  0.5 ->  1
  EXPECT_EQ(saturating_rounding_doubling_high_mul(-1, half), 0);   // -0.5 ->  0
  const int32_t lo = std::numeric_limits<int32_t>::min();
  EXPECT_EQ(saturating_rounding_doubling_high_mul(lo, lo), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(saturating_rounding_doubling_high_mul(lo, half), -(1 << 30));
  // Divide by a power of two: exact halves away from zero.
  EXPECT_EQ(rounding_divide_by_pot(3, 1), 2);
  EXPECT_EQ(rounding_divide_by_pot(-3, 1), -2);
  EXPECT_EQ(rounding_divide_by_pot(5, 2), 1);    // 1.25
  EXPECT_EQ(rounding_divide_by_pot(-6, 2), -2);  // -1.5
  EXPECT_EQ(rounding_divide_by_pot(-5, 2), -1);  // -1.25
  EXPECT_EQ(rounding_divide_by_pot(7, 0), 7);
  // Combined: real 0.25 = 0.5 * 2^-1.
  EXPECT_EQ(requantize(100, half, 1), 25);
  EXPECT_EQ(requantize(-102, half, 1), -26);  // -25.5 -> -26 (the POT step rounds away)
  EXPECT_EQ(requantize(10, half, -2), 20);    // real 2 = 0.5 * 2^2
  EXPECT_EQ(requantize(std::numeric_limits<int32_t>::max(), half, -2),
            (std::numeric_limits<int32_t>::max() >> 1) + 1);  // saturated, then halved
}

TEST(Int8Requantize, QuantizeMultiplier) {
  int32_t m = 0;
  int s = 0;
  quantize_multiplier(0.25, &m, &s);
  EXPECT_EQ(m, 1 << 30);
  EXPECT_EQ(s, 1);
  quantize_multiplier(0.0, &m, &s);
  EXPECT_EQ(m, 0);
  quantize_multiplier(3.0, &m, &s);
  EXPECT_EQ(m, 3 << 29);
  EXPECT_EQ(s, -2);
  std::mt19937 rng(8);
  std::uniform_real_distribution<double> e(-40, 20);
  for (int i = 0; i < 1000; ++i) {
    const double real = std::exp2(e(rng));
    quantize_multiplier(real, &m, &s);
    ASSERT_GE(s, -31);
    ASSERT_LE(s, 31);
    const double back = std::ldexp(static_cast<double>(m), -31 - s);
    if (s < 31) EXPECT_NEAR(back / real, 1.0, 1e-9) << real;  // full Q31 precision
    else EXPECT_NEAR(back, real, std::ldexp(1.0, -62)) << real;  // tiny reals: absolute error
  }
  EXPECT_THROW(quantize_multiplier(-1.0, &m, &s), Error);
  EXPECT_THROW(quantize_multiplier(std::nan(""), &m, &s), Error);
  EXPECT_THROW(quantize_multiplier(4e9, &m, &s), Error);
}

// The vectorised epilogue (requantize_tile) must give the bytes of the scalar one, including the
// rounding ties and the extremes of the int32 range.
TEST(Int8Requantize, VectorEpilogueMatchesScalarBitForBit) {
  if (!cpu_features().avx2) {
    std::cout << "[ skipped  ] CPU lacks avx2, so requantize_tile IS the reference; has: "
              << cpu_features().summary() << "\n";
  }
  std::mt19937 rng(12);
  std::uniform_int_distribution<int32_t> any(std::numeric_limits<int32_t>::min(),
                                             std::numeric_limits<int32_t>::max());
  std::uniform_int_distribution<int> shift_d(-3, 31), small(-70000, 70000);
  std::uniform_real_distribution<double> e(-30, 1);
  const int count = 1003;  // not a multiple of 8: the scalar tail runs too
  std::vector<int32_t> acc(count), offset(count), mult(count);
  std::vector<int> shift(count);
  for (int trial = 0; trial < 60; ++trial) {
    for (int c = 0; c < count; ++c) {
      // Mix: full-range accumulators, small ones (many exact ties), and the extremes; offsets
      // that sometimes wrap the 32-bit sum around.
      const int kind = c % 5;
      acc[c] = kind == 0 ? any(rng) : kind == 1 ? std::numeric_limits<int32_t>::min()
             : kind == 2 ? std::numeric_limits<int32_t>::max() : small(rng);
      offset[c] = c % 3 == 0 ? any(rng) : c % 3 == 1 ? 0 : small(rng);
      if (c % 7 == 0) {
        mult[c] = c % 2 ? 0 : (1 << 30);  // 0, and exactly 0.5: every odd product is a tie
        shift[c] = shift_d(rng);
      } else {
        quantize_multiplier(std::exp2(e(rng)), &mult[c], &shift[c]);
      }
    }
    const int32_t zp = trial % 3 == 0 ? 0 : (trial % 3 == 1 ? 100 : 3);  // <= hi below
    const detail::RequantRow row{offset.data(), mult.data(), shift.data(), zp, trial % 2 ? zp : 0,
                                 trial % 4 < 2 ? 255 : 127};
    std::vector<uint8_t> want(count), got(count);
    detail::requantize_row_reference(row, acc.data(), count, want.data());
    detail::requantize_tile(row, acc.data(), 0, 1, count, got.data(), 0);
    ASSERT_EQ(want, got) << "uint8, trial " << trial;
    const detail::RequantRow srow{offset.data(), mult.data(), shift.data(), zp - 128, -128, 127};
    std::vector<int8_t> want_s(count), got_s(count);
    detail::requantize_row_reference(srow, acc.data(), count, want_s.data());
    detail::requantize_tile(srow, acc.data(), 0, 1, count, got_s.data(), 0);
    ASSERT_EQ(want_s, got_s) << "int8, trial " << trial;
  }
  // A whole tile, 6 rows x 21 columns with row strides, as the GEMM driver passes it.
  {
    const int rows = 6, cols = 21, ld_acc = 32, ld_out = 40;
    std::vector<int32_t> tile(rows * ld_acc);
    for (auto& v : tile) v = small(rng) * 100;
    const detail::RequantRow row{offset.data(), mult.data(), shift.data(), 7, 7, 255};
    std::vector<uint8_t> want(rows * ld_out, 0xEE), got(rows * ld_out, 0xEE);
    for (int r = 0; r < rows; ++r)
      detail::requantize_row_reference(row, tile.data() + r * ld_acc, cols, want.data() + r * ld_out);
    detail::requantize_tile(row, tile.data(), ld_acc, rows, cols, got.data(), ld_out);
    EXPECT_EQ(want, got);  // including the untouched bytes between rows
  }
  // And against hand-computed ties: acc * 2^30 / 2^31 = acc / 2 rounds half up, then >> 1 rounds
  // half away from zero; the offset 10 is added first and the zero point 100 last.
  const int32_t a[8] = {-9, -11, -7, -13, -5, -15, -3, -17};  // + 10: 1, -1, 3, -3, 5, -5, 7, -7
  const int32_t off[8] = {10, 10, 10, 10, 10, 10, 10, 10};
  const int32_t m[8] = {1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30};
  const int sh[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  uint8_t out[8];
  detail::requantize_tile(detail::RequantRow{off, m, sh, 100, 0, 255}, a, 0, 1, 8, out, 0);
  // (a+10)/2 rounded up: 1, 0, 2, -1, 3, -2, 4, -3; then /2 away from zero: 1, 0, 1, -1, 2, -1, 2, -2.
  const int expect[8] = {101, 100, 101, 99, 102, 99, 102, 98};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], expect[i]) << "acc " << a[i];
}

TEST(Int8Requantize, AgreesWithDoubleFormula) {
  // Two roundings (high mul, then the shift) can each be off by half: |error| <= 1 vs the exact
  // product. The second rounding disagrees with single rounding only when the first one pushed
  // the value across a half-way point: ~2% of these random cases (measured 97.8% exact).
  std::mt19937 rng(9);
  std::uniform_int_distribution<int32_t> acc_d(-(1 << 24), 1 << 24);
  std::uniform_real_distribution<double> e(-20, 3);
  int exact = 0;
  const int trials = 20000;
  for (int i = 0; i < trials; ++i) {
    const double real = std::exp2(e(rng));
    int32_t m = 0;
    int s = 0;
    quantize_multiplier(real, &m, &s);
    const int32_t acc = acc_d(rng);
    const double want = acc * std::ldexp(static_cast<double>(m), -31 - s);
    const int32_t got = requantize(acc, m, s);
    ASSERT_LE(std::fabs(got - want), 1.0) << "acc=" << acc << " real=" << real;
    exact += got == static_cast<int64_t>(std::round(want));  // round(): halves away from zero
  }
  EXPECT_GT(exact, trials * 95 / 100);
}

TEST(Int8Requantize, GemmOutputsFollowTheFormula) {
  std::mt19937 rng(10);
  const int64_t M = 9, N = 14, K = 77;
  const Activations a = random_activations(rng, false, M, K);
  const auto W = random_weights(rng, N, K);
  const auto bias = random_bias(rng, N);
  const PackedWeightsS8 p = pack_weights_s8(W.data(), K, N, Int8Kernel::kScalar);
  std::vector<int32_t> acc(M * N);
  int8_gemm_s32(a.view(), p, bias.data(), acc.data());

  // Per-channel requantization with fused ReLU, u8 and s8 outputs.
  std::vector<int32_t> mults(N);
  std::vector<int> shifts(N);
  for (int64_t n = 0; n < N; ++n) quantize_multiplier(0.0001 * (n + 1), &mults[n], &shifts[n]);
  for (bool relu : {false, true}) {
    Requantize rq;
    rq.multipliers = mults.data();
    rq.right_shifts = shifts.data();
    rq.relu = relu;
    rq.zero_point = 100;
    std::vector<uint8_t> u8(M * N);
    int8_gemm_u8(a.view(), p, bias.data(), rq, u8.data());
    rq.zero_point = -20;
    std::vector<int8_t> s8(M * N);
    int8_gemm_s8(a.view(), p, bias.data(), rq, s8.data());
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const int32_t r = requantize(acc[m * N + n], mults[n], shifts[n]);
        EXPECT_EQ(u8[m * N + n], std::clamp(100 + r, relu ? 100 : 0, 255));
        EXPECT_EQ(s8[m * N + n], std::clamp(-20 + r, relu ? -20 : -128, 127));
      }
  }
  // Dequantized float, per-channel weight scales and float bias.
  std::vector<float> ws(N), fb(N), f(M * N);
  for (int64_t n = 0; n < N; ++n) ws[n] = 0.001f * (n + 1), fb[n] = 0.5f * n;
  Dequantize dq;
  dq.input_scale = 0.05f;
  dq.weight_scales = ws.data();
  dq.bias = fb.data();
  int8_gemm_f32(a.view(), p, bias.data(), dq, f.data());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n)
      // FLOAT_EQ (4 ulp), not EQ: the compiler may fuse the multiply-add (aarch64 gcc does).
      EXPECT_FLOAT_EQ(f[m * N + n], static_cast<float>(acc[m * N + n]) * (0.05f * ws[n]) + fb[n]);
}

TEST(Int8Requantize, SaturatesAndClampsAtZeroPoint) {
  // 1x1x1 GEMM with W = 1: the accumulator is a - za, easy to steer.
  const int8_t w = 1;
  const PackedWeightsS8 p = pack_weights_s8(&w, 1, 1, Int8Kernel::kScalar);
  Requantize rq;
  quantize_multiplier(1.0, &rq.multiplier, &rq.right_shift);
  const int32_t big = 2000000;
  uint8_t out = 0;
  const uint8_t a = 200;
  rq.zero_point = 3;
  int8_gemm_u8(input_u8(&a, 1, 1, 0), p, &big, rq, &out);
  EXPECT_EQ(out, 255);  // saturates high
  const int32_t neg = -50;
  int8_gemm_u8(input_u8(&a, 1, 1, 200), p, &neg, rq, &out);
  EXPECT_EQ(out, 0);  // 3 - 50 saturates low
  rq.relu = true;
  int8_gemm_u8(input_u8(&a, 1, 1, 200), p, &neg, rq, &out);
  EXPECT_EQ(out, 3);  // ReLU: never below the zero point (= real 0)
  int8_gemm_u8(input_u8(&a, 1, 1, 190), p, nullptr, rq, &out);
  EXPECT_EQ(out, 13);  // 3 + (200 - 190)
}

// ---- selection and errors -------------------------------------------------------------------------

Int8Kernel some_unavailable_kernel() {
  for (Int8Kernel k : int8_all_kernels())
    if (!int8_kernel_available(k)) return k;
  return Int8Kernel::kAuto;
}

TEST(Int8GemmSelect, NamesRoundTrip) {
  for (Int8Kernel k : int8_all_kernels()) EXPECT_EQ(int8_kernel_from_name(int8_kernel_name(k)), k);
  EXPECT_THROW(int8_kernel_from_name("sse2"), Error);
  EXPECT_TRUE(int8_kernel_available(Int8Kernel::kScalar));
}

TEST(Int8GemmSelect, EnvironmentForcesKernel) {
  const char* old = std::getenv("NIBBLE_KERNEL");
  const std::string saved = old ? old : "";
  ::setenv("NIBBLE_KERNEL", "scalar", 1);
  EXPECT_EQ(int8_select_kernel(), Int8Kernel::kScalar);
  EXPECT_EQ(pack_weights_s8(nullptr, 0, 0).kernel(), Int8Kernel::kScalar);
  ::setenv("NIBBLE_KERNEL", "bogus", 1);
  EXPECT_THROW(int8_select_kernel(), Error);
  const Int8Kernel missing = some_unavailable_kernel();
  if (missing != Int8Kernel::kAuto) {
    ::setenv("NIBBLE_KERNEL", int8_kernel_name(missing), 1);
    try {
      int8_select_kernel();
      ADD_FAILURE() << "forcing an unavailable kernel must throw";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(int8_kernel_name(missing)), std::string::npos) << msg;
      EXPECT_NE(msg.find(cpu_features().summary()), std::string::npos) << msg;
    }
  }
  ::unsetenv("NIBBLE_KERNEL");
  EXPECT_TRUE(int8_kernel_available(int8_select_kernel()));
  if (old) ::setenv("NIBBLE_KERNEL", saved.c_str(), 1);
}

TEST(Int8GemmSelect, ExplicitUnavailableKernelThrows) {
  const Int8Kernel missing = some_unavailable_kernel();
  if (missing == Int8Kernel::kAuto) GTEST_SKIP() << "this CPU runs every kernel";
  const int8_t w[4] = {1, 2, 3, 4};
  EXPECT_THROW(pack_weights_s8(w, 2, 2, missing), Error);
  EXPECT_THROW(int8_select_kernel(missing), Error);
}

TEST(Int8GemmErrors, BadArguments) {
  const int8_t w[6] = {1, 2, 3, 4, 5, 6};
  const uint8_t a[6] = {1, 2, 3, 4, 5, 6};
  int32_t c[6] = {};
  const PackedWeightsS8 p = pack_weights_s8(w, 3, 2, Int8Kernel::kScalar);  // K=3, N=2
  EXPECT_NO_THROW(int8_gemm_s32(input_u8(a, 2, 3, 0), p, nullptr, c));
  EXPECT_THROW(int8_gemm_s32(input_u8(a, 3, 2, 0), p, nullptr, c), Error);      // K mismatch
  EXPECT_THROW(int8_gemm_s32(input_u8(nullptr, 2, 3, 0), p, nullptr, c), Error);  // null A
  EXPECT_THROW(int8_gemm_s32(input_u8(a, 2, 3, 0), p, nullptr, nullptr), Error);  // null C
  EXPECT_THROW(int8_gemm_s32(input_u8(a, -1, 3, 0), p, nullptr, c), Error);     // negative M
  EXPECT_THROW(int8_gemm_s32(input_u8(a, 2, 3, 0, 2), p, nullptr, c), Error);   // lda < K
  EXPECT_THROW(int8_gemm_s32(input_u8(a, 2, 3, 0), p, nullptr, c, 1), Error);   // ldc < N
  EXPECT_THROW(int8_gemm_s32(input_u8(a, 2, 3, 256), p, nullptr, c), Error);    // zero point
  EXPECT_THROW(int8_gemm_s32(input_s8(reinterpret_cast<const int8_t*>(a), 2, 3, 128), p,
                             nullptr, c), Error);
  EXPECT_THROW(int8_gemm_s32(input_u8(a, 2, 3, 0), PackedWeightsS8{}, nullptr, c), Error);
  EXPECT_THROW(pack_weights_s8(w, -3, 2, Int8Kernel::kScalar), Error);  // negative K
  EXPECT_THROW(pack_weights_s8(w, 3, -2, Int8Kernel::kScalar), Error);  // negative N
  EXPECT_THROW(pack_weights_s8(nullptr, 3, 2, Int8Kernel::kScalar), Error);
  EXPECT_THROW(pack_weights_s8(w, 70000, 0, Int8Kernel::kScalar), Error);  // K too large
  EXPECT_NO_THROW(int8_gemm_s32(input_u8(nullptr, 0, 3, 0), p, nullptr, nullptr));  // M = 0

  Requantize rq;
  uint8_t q[6];
  rq.multiplier = 1 << 30;
  rq.right_shift = 40;
  EXPECT_THROW(int8_gemm_u8(input_u8(a, 2, 3, 0), p, nullptr, rq, q), Error);
  rq.right_shift = 0;
  rq.zero_point = 300;
  EXPECT_THROW(int8_gemm_u8(input_u8(a, 2, 3, 0), p, nullptr, rq, q), Error);
  rq.zero_point = 0;
  const int32_t mults[2] = {1 << 30, 1 << 30};
  rq.multipliers = mults;  // without right_shifts
  EXPECT_THROW(int8_gemm_u8(input_u8(a, 2, 3, 0), p, nullptr, rq, q), Error);
  try {
    int8_gemm_s32(input_u8(a, 2, 4, 0), p, nullptr, c);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("K mismatch"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nibble
