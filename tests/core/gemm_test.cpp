// Tests for sgemm (core/gemm.h): every path (small, blocked; AVX2 and portable kernels; 1 and 2
// threads) is compared with an exact double-precision product, within a tolerance derived from
// K, and with sgemm_reference, the scalar oracle.
#include <gtest/gtest.h>
#include <omp.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/gemm.h"

namespace nibble {
namespace {

// Sets NIBBLE_GEMM for one test and restores the old value afterwards (nullptr = unset).
class ScopedGemmEnv {
 public:
  explicit ScopedGemmEnv(const char* value) {
    if (const char* old = std::getenv("NIBBLE_GEMM")) old_ = old;
    set(value);
  }
  ~ScopedGemmEnv() { set(old_ ? old_->c_str() : nullptr); }
  ScopedGemmEnv(const ScopedGemmEnv&) = delete;
  ScopedGemmEnv& operator=(const ScopedGemmEnv&) = delete;

 private:
  static void set(const char* value) {
    if (value) {
      setenv("NIBBLE_GEMM", value, 1);
    } else {
      unsetenv("NIBBLE_GEMM");
    }
  }
  std::optional<std::string> old_;
};

// Sets the OpenMP thread count for one test.
class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : old_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ScopedThreads() { omp_set_num_threads(old_); }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int old_;
};

constexpr float kSentinel = -12345.0f;  // fills C's padding, which sgemm must never write

// One GEMM problem with random operands stored with padded rows (ld > row length). Buffers end
// exactly at the last element used, so AddressSanitizer catches any read past the end.
struct Problem {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  float alpha = 1.0f, beta = 0.0f;
  std::vector<float> A, B, C;

  float a(int64_t i, int64_t k) const { return trans_a ? A[k * lda + i] : A[i * lda + k]; }
  float b(int64_t k, int64_t j) const { return trans_b ? B[j * ldb + k] : B[k * ldb + j]; }
};

int64_t storage_size(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 ? 0 : (rows - 1) * ld + cols;
}

Problem make_problem(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     float beta, int64_t pad, uint32_t seed) {
  Problem p;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.M = M;
  p.N = N;
  p.K = K;
  p.alpha = alpha;
  p.beta = beta;
  // Stored shapes: A is [M, K] or [K, M]; B is [K, N] or [N, K]; C is [M, N].
  const int64_t a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
  const int64_t b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  p.lda = a_cols + pad;
  p.ldb = b_cols + pad;
  p.ldc = N + pad;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  p.A.resize(storage_size(a_rows, a_cols, p.lda));
  p.B.resize(storage_size(b_rows, b_cols, p.ldb));
  p.C.assign(storage_size(M, N, p.ldc), kSentinel);
  for (float& x : p.A) x = uniform(rng);
  for (float& x : p.B) x = uniform(rng);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) p.C[i * p.ldc + j] = uniform(rng);
  }
  return p;
}

std::vector<float> run_sgemm(const Problem& p) {
  std::vector<float> C = p.C;
  sgemm(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, p.A.data(), p.lda, p.B.data(), p.ldb,
        p.beta, C.data(), p.ldc);
  return C;
}

std::vector<float> run_reference(const Problem& p) {
  std::vector<float> C = p.C;
  sgemm_reference(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, p.A.data(), p.lda, p.B.data(),
                  p.ldb, p.beta, C.data(), p.ldc);
  return C;
}

std::string describe(const Problem& p) {
  return "M=" + std::to_string(p.M) + " N=" + std::to_string(p.N) + " K=" + std::to_string(p.K) +
         " trans_a=" + std::to_string(p.trans_a) + " trans_b=" + std::to_string(p.trans_b) +
         " alpha=" + std::to_string(p.alpha) + " beta=" + std::to_string(p.beta);
}

// Checks `got` against the product computed in double. Float summation of K products is off by
// at most about K * eps * sum_k |a_ik b_kj| (the standard worst-case bound for a recursive sum,
// which also covers any blocked order), plus a few roundings for alpha and beta.
void expect_matches_exact(const Problem& p, const std::vector<float>& got) {
  const double eps = FLT_EPSILON;
  int failures = 0;
  for (int64_t i = 0; i < p.M && failures < 5; ++i) {
    for (int64_t j = 0; j < p.N && failures < 5; ++j) {
      double sum = 0.0, abs_sum = 0.0;
      for (int64_t k = 0; k < p.K; ++k) {
        const double term = static_cast<double>(p.a(i, k)) * p.b(k, j);
        sum += term;
        abs_sum += std::fabs(term);
      }
      const double c0 = p.C[i * p.ldc + j];
      const double old = p.beta == 0.0f ? 0.0 : static_cast<double>(p.beta) * c0;
      const double expected = p.alpha * sum + old;
      const double tolerance =
          (p.K + 4) * eps * (std::fabs(p.alpha) * abs_sum + std::fabs(old)) + 1e-30;
      const double actual = got[i * p.ldc + j];
      if (!(std::fabs(actual - expected) <= tolerance)) {  // also catches NaN
        ADD_FAILURE() << describe(p) << ": C(" << i << ", " << j << ") = " << actual
                      << ", expected " << expected << " +- " << tolerance;
        ++failures;
      }
    }
  }
  // The padding between rows of C belongs to someone else.
  for (int64_t i = 0; i < p.M; ++i) {
    for (int64_t j = p.N; j < p.ldc && i * p.ldc + j < static_cast<int64_t>(got.size()); ++j) {
      ASSERT_EQ(got[i * p.ldc + j], kSentinel) << describe(p) << ": wrote C padding at row " << i;
    }
  }
}

struct Shape {
  int64_t M, N, K;
};

// Degenerate, prime, non-multiple-of-tile, multi-block (K > KC, M > MC, N > NC) and real-world
// shapes. Products below ~32k multiply-adds take the unpacked small path, the rest the blocked one.
const std::vector<Shape> kShapes = {
    {1, 1, 1},      {1, 1, 5000},   {1, 37, 1},     {37, 1, 1},     {2, 3, 4},
    {7, 13, 1},     {13, 17, 19},   {1, 40000, 1},  {40000, 1, 1},  {1, 1000, 37},
    {1000, 1, 37},  {6, 16, 400},   {12, 32, 512},  {5, 15, 257},   {7, 17, 1000},
    {97, 101, 103}, {131, 67, 300}, {1031, 17, 29}, {300, 40, 30},  {7, 4100, 5},
    {29, 1009, 3},  {64, 256, 784}, {150, 150, 1}, {149, 151, 600},
};

struct AlphaBeta {
  float alpha, beta;
};
const std::vector<AlphaBeta> kScalars = {{1.0f, 0.0f}, {1.0f, 1.0f}, {-0.5f, 2.0f}, {2.0f, -1.0f}};

// Runs every shape x trans combination x (alpha, beta) with the kernel chosen by NIBBLE_GEMM.
void check_all_shapes() {
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    for (int trans = 0; trans < 4; ++trans) {
      const AlphaBeta ab = kScalars[seed % kScalars.size()];
      const Problem p = make_problem(trans & 1, trans & 2, s.M, s.N, s.K, ab.alpha, ab.beta,
                                     /*pad=*/seed % 3 * 2, seed);
      ++seed;
      expect_matches_exact(p, run_sgemm(p));
    }
  }
}

TEST(Sgemm, ReferenceMatchesExactProduct) {
  uint32_t seed = 100;
  for (const Shape& s : {Shape{1, 1, 1}, Shape{13, 17, 19}, Shape{64, 33, 300}}) {
    for (int trans = 0; trans < 4; ++trans) {
      const Problem p = make_problem(trans & 1, trans & 2, s.M, s.N, s.K, 0.5f, -1.5f, 3, seed++);
      expect_matches_exact(p, run_reference(p));
    }
  }
}

TEST(Sgemm, DefaultKernelMatchesExactProduct) {
  ScopedGemmEnv env(nullptr);
  check_all_shapes();
}

TEST(Sgemm, PortableKernelMatchesExactProduct) {
  ScopedGemmEnv env("portable");
  check_all_shapes();
}

TEST(Sgemm, AgreesWithReference) {
  for (const char* kernel : {static_cast<const char*>(nullptr), "portable"}) {
    ScopedGemmEnv env(kernel);
    const Problem p = make_problem(true, false, 101, 67, 259, 1.5f, 0.5f, 1, 7);
    const std::vector<float> got = run_sgemm(p), want = run_reference(p);
    const float tolerance = 2.0f * (p.K + 4) * FLT_EPSILON * 64.0f;  // |values| <= 1, generous
    for (int64_t i = 0; i < p.M; ++i) {
      for (int64_t j = 0; j < p.N; ++j) {
        ASSERT_NEAR(got[i * p.ldc + j], want[i * p.ldc + j], tolerance) << "at " << i << ", " << j;
      }
    }
  }
}

// beta == 0 means "C is output only": NaN or Inf already in C must not leak into the result.
TEST(Sgemm, BetaZeroIgnoresNanInC) {
  for (const char* kernel : {static_cast<const char*>(nullptr), "portable"}) {
    ScopedGemmEnv env(kernel);
    for (const Shape& s : {Shape{3, 5, 7}, Shape{67, 45, 33}, Shape{64, 256, 784}}) {
      Problem p = make_problem(false, true, s.M, s.N, s.K, 1.0f, 0.0f, 2, 11);
      for (int64_t i = 0; i < p.M; ++i) {
        for (int64_t j = 0; j < p.N; ++j) {
          p.C[i * p.ldc + j] =
              (i + j) % 2 ? std::numeric_limits<float>::quiet_NaN() : INFINITY;
        }
      }
      // expect_matches_exact ignores C when beta == 0, so any NaN in the output fails it.
      expect_matches_exact(p, run_sgemm(p));
      expect_matches_exact(p, run_reference(p));
    }
  }
}

// K == 0 or alpha == 0: C = beta * C, as in BLAS.
TEST(Sgemm, EmptySumScalesC) {
  std::vector<float> C = {1.0f, 2.0f, 3.0f, 4.0f};
  const float unused = 0.0f;
  sgemm(false, false, 2, 2, 0, 1.0f, &unused, 1, &unused, 2, 3.0f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{3.0f, 6.0f, 9.0f, 12.0f}));
  sgemm(false, false, 2, 2, 0, 1.0f, &unused, 1, &unused, 2, 0.0f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f}));

  Problem p = make_problem(false, false, 40, 50, 60, 0.0f, 0.5f, 0, 3);
  const std::vector<float> got = run_sgemm(p);
  for (int64_t i = 0; i < p.M * p.N; ++i) EXPECT_EQ(got[i], 0.5f * p.C[i]);
}

TEST(Sgemm, TwoThreadsMatchExactProduct) {
  for (const char* kernel : {static_cast<const char*>(nullptr), "portable"}) {
    ScopedGemmEnv env(kernel);
    for (int threads : {1, 2}) {
      ScopedThreads scoped(threads);
      // Large enough that the work is split across threads, both by rows and by columns.
      for (const Shape& s : {Shape{300, 280, 260}, Shape{64, 256, 784}, Shape{1000, 48, 100}}) {
        const Problem p = make_problem(false, false, s.M, s.N, s.K, 1.0f, 1.0f, 1, 5);
        expect_matches_exact(p, run_sgemm(p));
      }
    }
  }
}

// A GEMM called from inside the caller's own parallel loop must still be right (it then runs on
// the calling thread only).
TEST(Sgemm, CalledFromInsideParallelRegion) {
  ScopedThreads scoped(2);
  std::vector<Problem> problems;
  for (uint32_t seed = 0; seed < 4; ++seed) {
    problems.push_back(make_problem(false, false, 70, 90, 110, 1.0f, 0.0f, 0, 20 + seed));
  }
  std::vector<std::vector<float>> results(problems.size());
#pragma omp parallel for
  for (int64_t i = 0; i < static_cast<int64_t>(problems.size()); ++i) {
    results[i] = run_sgemm(problems[i]);
  }
  for (size_t i = 0; i < problems.size(); ++i) expect_matches_exact(problems[i], results[i]);
}

TEST(Sgemm, KernelSelection) {
  {
    ScopedGemmEnv env("portable");
    EXPECT_STREQ(sgemm_kernel_name(), "portable");
  }
  ScopedGemmEnv env(nullptr);
  const CpuFeatures& cpu = cpu_features();
#if defined(__x86_64__)
  if (!(cpu.avx2 && cpu.fma)) {
    GTEST_SKIP() << "this CPU lacks AVX2+FMA (" << cpu.summary()
                 << "), so the avx2-fma kernel cannot run here";
  }
  EXPECT_STREQ(sgemm_kernel_name(), "avx2-fma");
#else
  GTEST_SKIP() << "not x86-64: there is no AVX2 kernel on this architecture (" << cpu.summary()
               << ")";
#endif
}

TEST(Sgemm, RejectsBadArguments) {
  std::vector<float> x(16, 1.0f);
  EXPECT_THROW(sgemm(false, false, -1, 2, 2, 1.0f, x.data(), 2, x.data(), 2, 0.0f, x.data(), 2),
               Error);
  // lda = 1 is shorter than a row of A (K = 2 elements).
  EXPECT_THROW(sgemm(false, false, 2, 2, 2, 1.0f, x.data(), 1, x.data(), 2, 0.0f, x.data(), 2),
               Error);
  // With trans_b, a stored row of B has K = 3 elements.
  EXPECT_THROW(sgemm(false, true, 2, 2, 3, 1.0f, x.data(), 3, x.data(), 2, 0.0f, x.data(), 2),
               Error);
  EXPECT_THROW(
      sgemm_reference(false, false, 2, 2, 2, 1.0f, x.data(), 2, x.data(), 2, 0.0f, x.data(), 1),
      Error);
}

}  // namespace
}  // namespace nibble
