// The fp32 GEMM driver: C = alpha * op(A) op(B) + beta * C (contract in core/gemm.h).
//
// Three implementations of the same contract, from simplest to fastest:
//   sgemm_reference  the textbook triple loop; the oracle the tests compare against.
//   sgemm_small      no packing, one thread; for the tiny products autograd tests make by the
//                    thousand, where packing and waking threads would cost more than the math.
//   gemm_block       GotoBLAS/BLIS cache blocking + packing + a register-blocked micro-kernel;
//                    sgemm_parallel runs one per OpenMP thread, each on its own slab of C.
// See core/gemm/README.md for the why.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/gemm/microkernel.h"
#include "core/parallel.h"

namespace nibble {

namespace {

using detail::kMR;
using detail::kNR;
using detail::MicroKernel;

// ---- blocking parameters ----------------------------------------------------------------------
// The loop nest of gemm_block, and where each packed block is meant to live:
//
//   for jc in [0, N) step NC                B block  KC x NC  (L3)
//     for pc in [0, K) step KC
//       pack B[pc.., jc..]
//       for ic in [0, M) step MC            A block  MC x KC  (L2)
//         pack A[ic.., pc..]
//         for jr in [0, NC) step NR         B micro-panel KC x NR  stays in L1 while ...
//           for ir in [0, MC) step MR       ... the micro-kernel sweeps the A block past it
//
// Sizes for Zen 3 (32 KiB L1d, 512 KiB L2 per core, shared L3), found by measuring around the
// usual BLIS values:
//   KC = 256: a B micro-panel is 256 x 16 floats = 16 KiB, half of L1, leaving room for A.
//   MC = 144: an A block is 144 x 256 floats = 144 KiB, well inside L2 (24 micro-panels of 6 rows).
//   NC = 4080: a B block is 256 x 4080 floats = 4 MiB, a slice of L3.
// KC and MC blocks are shrunk to equal sizes (K = 300 becomes 2 x 150, not 256 + 44) so that no
// block is a sliver that pays full packing overhead for little work.
constexpr int64_t kMC = 144;  // multiple of kMR
constexpr int64_t kKC = 256;
constexpr int64_t kNC = 4080;  // multiple of kNR

// Below this many multiply-adds (M*N*K) sgemm_small is faster than packing.
constexpr double kSmallWork = 32.0 * 1024;
// Each extra thread must get at least this many multiply-adds (~10 us of work) to pay for
// waking it up.
constexpr double kWorkPerThread = 512.0 * 1024;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// The block size that cuts `n` into the fewest blocks of at most `max_block`, all of equal size
// (rounded up to a multiple of `multiple`).
int64_t even_block(int64_t n, int64_t max_block, int64_t multiple) {
  const int64_t blocks = ceil_div(n, max_block);
  return std::min(round_up(ceil_div(n, blocks), multiple), max_block);
}

// op(X) as a read-only row-major view: element (r, c) of X, or of X^T when `trans`.
struct OpView {
  const float* data;
  int64_t ld;
  bool trans;
  float at(int64_t r, int64_t c) const { return trans ? data[c * ld + r] : data[r * ld + c]; }
};

// ---- argument checks, shared by sgemm and sgemm_reference -------------------------------------
// Written as `if (bad) fail(...)` rather than NIBBLE_CHECK(...) so the happy path builds no strings:
// sgemm is called for every tiny matmul in the autograd tests.
void validate(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
              int64_t ldb, int64_t ldc) {
  if (M < 0 || N < 0 || K < 0) {
    fail("sgemm",
         "sizes must be non-negative: M=" + std::to_string(M) + ", N=" + std::to_string(N) +
             ", K=" + std::to_string(K),
         "this is an internal bug in the caller of sgemm");
  }
  // A row of stored A has K elements (M when transposed); its stride cannot be shorter.
  const int64_t a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
  if (lda < std::max<int64_t>(1, a_cols) || ldb < std::max<int64_t>(1, b_cols) ||
      ldc < std::max<int64_t>(1, N)) {
    fail("sgemm",
         "a leading dimension is shorter than a row: lda=" + std::to_string(lda) +
             " (row of " + std::to_string(a_cols) + "), ldb=" + std::to_string(ldb) +
             " (row of " + std::to_string(b_cols) + "), ldc=" + std::to_string(ldc) +
             " (row of " + std::to_string(N) + ")",
         "lda/ldb/ldc are row strides in elements of the matrices as stored");
  }
}

// C = beta * C over an M x N block, treating beta == 0 as "overwrite with zeros" (NaN-safe).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(c, c + N, 0.0f);
    } else if (beta != 1.0f) {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

// ---- the small-problem path ------------------------------------------------------------------
void sgemm_small(const OpView& A, const OpView& B, int64_t M, int64_t N, int64_t K, float alpha,
                 float beta, float* C, int64_t ldc) {
  scale_c(M, N, beta, C, ldc);
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (!B.trans) {
      // Row i of C += alpha*A(i,k) * row k of B: unit-stride inner loop, which vectorises.
      for (int64_t k = 0; k < K; ++k) {
        const float a = alpha * A.at(i, k);
        const float* b = B.data + k * B.ld;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    } else {
      // B^T: column j of op(B) is row j of B, so C(i,j) is a dot product of two unit-stride rows.
      for (int64_t j = 0; j < N; ++j) {
        const float* b = B.data + j * B.ld;
        float sum = 0.0f;
        for (int64_t k = 0; k < K; ++k) sum += A.at(i, k) * b[k];
        c[j] += alpha * sum;
      }
    }
  }
}

// ---- packing ---------------------------------------------------------------------------------
// Packing copies a block of op(A) / op(B) into the exact order the micro-kernel reads it:
// contiguous, aligned, transposes already applied. The copy costs O(MK + KN) and is reused
// O(N / NR) and O(M / MR) times by the O(MNK) kernel calls.
// Ragged last panels are padded with zeros. Correctness does not need it (the padded rows and
// columns of an edge tile are computed into scratch and thrown away), but it keeps whatever
// was in the buffer before (possibly denormals or NaN, which can be slow) out of the arithmetic.

// A block (rows i0.., cols p0.. of op(A), mc x kc) -> ceil(mc / MR) panels of kc x MR floats:
// panel[p * MR + i] = op(A)(i0 + ir + i, p0 + p).
void pack_a(const OpView& A, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += kMR) {
    const int64_t rows = std::min<int64_t>(kMR, mc - ir);
    float* panel = dst + ir * kc;
    if (!A.trans) {  // read the panel's rows side by side, write MR adjacent values per k
      const float* src = A.data + (i0 + ir) * A.ld + p0;
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t i = 0; i < rows; ++i) panel[p * kMR + i] = src[i * A.ld + p];
      }
    } else {  // A^T: the MR values for one k are adjacent in memory
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = A.data + (p0 + p) * A.ld + i0 + ir;
        for (int64_t i = 0; i < rows; ++i) panel[p * kMR + i] = src[i];
      }
    }
    for (int64_t i = rows; i < kMR; ++i) {  // zero rows of a ragged last panel
      for (int64_t p = 0; p < kc; ++p) panel[p * kMR + i] = 0.0f;
    }
  }
}

// A B block (rows p0.., cols j0.. of op(B), kc x nc) -> ceil(nc / NR) panels of kc x NR floats:
// panel[p * NR + j] = op(B)(p0 + p, j0 + jr + j).
void pack_b(const OpView& B, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
  if (!B.trans) {
    // Walk B row by row, dealing each row out to the panels in NR-wide pieces: the reads are
    // then one sequential stream, which the hardware prefetcher follows (reading panel by panel
    // instead strides down B 1 KiB at a time and measured ~2x slower).
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = B.data + (p0 + p) * B.ld + j0;
      for (int64_t jr = 0; jr < nc; jr += kNR) {
        const int64_t cols = std::min<int64_t>(kNR, nc - jr);
        float* out = dst + jr * kc + p * kNR;
        if (cols == kNR) {  // the common case, as a fixed-size copy the compiler fully unrolls
          std::copy(src + jr, src + jr + kNR, out);
          continue;
        }
        for (int64_t j = 0; j < cols; ++j) out[j] = src[jr + j];
        for (int64_t j = cols; j < kNR; ++j) out[j] = 0.0f;  // pad a ragged last panel
      }
    }
    return;
  }
  for (int64_t jr = 0; jr < nc; jr += kNR) {  // B^T: column j of op(B) is a contiguous row of B
    const int64_t cols = std::min<int64_t>(kNR, nc - jr);
    float* panel = dst + jr * kc;
    for (int64_t j = 0; j < cols; ++j) {
      const float* src = B.data + (j0 + jr + j) * B.ld + p0;
      for (int64_t p = 0; p < kc; ++p) panel[p * kNR + j] = src[p];
    }
    for (int64_t j = cols; j < kNR; ++j) {
      for (int64_t p = 0; p < kc; ++p) panel[p * kNR + j] = 0.0f;
    }
  }
}

// ---- scratch memory ---------------------------------------------------------------------------
// A growable, 64-byte aligned buffer kept for the life of its thread. Allocating the packing
// buffers on every call would cost a malloc plus a page fault per 4 KiB touched, which is
// measurable next to a 5 ms GEMM; OpenMP reuses its worker threads, so thread_local buffers are
// allocated once and reused. (The price: each thread keeps up to ~4 MiB until it exits.)
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(data_); }

  float* reserve(int64_t count) {
    const size_t bytes = round_up(count * static_cast<int64_t>(sizeof(float)), 64);
    if (bytes > capacity_) {
      std::free(data_);
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) {
        capacity_ = 0;
        fail("sgemm", "out of memory allocating " + std::to_string(bytes) + " bytes for packing");
      }
      capacity_ = bytes;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

thread_local ScratchBuffer packed_a_buffer;
thread_local ScratchBuffer packed_b_buffer;

// ---- the blocked, packed, parallel path --------------------------------------------------------

// Run the micro-kernel over an mc x nc block of C from packed A (mc x kc) and packed B (kc x nc).
// Full tiles go straight to C; ragged edge tiles go through a scratch tile so the kernel never
// writes outside C.
void macro_kernel(MicroKernel kernel, int64_t mc, int64_t nc, int64_t kc, const float* packed_a,
                  const float* packed_b, float alpha, float beta, float* C, int64_t ldc) {
  for (int64_t jr = 0; jr < nc; jr += kNR) {
    const int64_t cols = std::min<int64_t>(kNR, nc - jr);
    const float* b = packed_b + jr * kc;
    for (int64_t ir = 0; ir < mc; ir += kMR) {
      const int64_t rows = std::min<int64_t>(kMR, mc - ir);
      const float* a = packed_a + ir * kc;
      float* c = C + ir * ldc + jr;
      if (rows == kMR && cols == kNR) {
        kernel(kc, a, b, c, ldc, alpha, beta);
        continue;
      }
      alignas(64) float tile[kMR * kNR];
      kernel(kc, a, b, tile, kNR, 1.0f, 0.0f);
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < cols; ++j) {
          const float old = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
          c[i * ldc + j] = alpha * tile[i * kNR + j] + old;
        }
      }
    }
  }
}

// The single-threaded blocked GEMM on the M x N block of C at (row0, col0): the loop nest drawn
// at the top of this file.
void gemm_block(MicroKernel kernel, const OpView& A, const OpView& B, int64_t row0, int64_t M,
                int64_t col0, int64_t N, int64_t K, float alpha, float beta, float* C,
                int64_t ldc) {
  const int64_t kc_step = even_block(K, kKC, 1);
  const int64_t mc_step = even_block(M, kMC, kMR);
  const int64_t nc_step = even_block(N, kNC, kNR);
  float* packed_a = packed_a_buffer.reserve(mc_step * kc_step);
  float* packed_b = packed_b_buffer.reserve(kc_step * nc_step);
  for (int64_t jc = 0; jc < N; jc += nc_step) {
    const int64_t nc = std::min(nc_step, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_step) {
      const int64_t kc = std::min(kc_step, K - pc);
      pack_b(B, pc, kc, col0 + jc, nc, packed_b);
      // The first K block applies the caller's beta; later ones add onto what it left in C.
      const float beta_k = pc == 0 ? beta : 1.0f;
      for (int64_t ic = 0; ic < M; ic += mc_step) {
        const int64_t mc = std::min(mc_step, M - ic);
        pack_a(A, row0 + ic, mc, pc, kc, packed_a);
        macro_kernel(kernel, mc, nc, kc, packed_a, packed_b, alpha, beta_k,
                     C + (row0 + ic) * ldc + col0 + jc, ldc);
      }
    }
  }
}

// Items [begin, end) of `count` items for part `index` of `parts`, sizes differing by at most 1.
struct Range {
  int64_t begin, end;
};
Range split_evenly(int64_t count, int64_t parts, int64_t index) {
  const int64_t base = count / parts, extra = count % parts;
  const int64_t begin = index * base + std::min(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

// Fraction of the team's time spent working when `units` equal work items are dealt out evenly.
double balance(int64_t units, int64_t parts) {
  return static_cast<double>(units) / static_cast<double>(parts * ceil_div(units, parts));
}

// Parallel GEMM: each thread computes its own slab of C with the single-threaded gemm_block.
// A slab is a range of MR-row tiles (every thread then packs all of B for itself) or, when that
// deals out more evenly, a range of NR-column panels (every thread packs all of A). E.g. M = 64
// gives 11 row tiles, which 2 threads cannot share evenly, but N = 256 gives 16 panels, which
// they can. Packing the shared operand twice costs a fraction ~threads/M (or /N) of the work,
// and buys independence: no barriers, so a thread that the OS pauses delays nobody but the
// final join. (BLIS instead packs B once together and synchronises; on a busy 2-core machine
// every barrier waited on a descheduled thread and 2 threads ran slower than 1.)
void sgemm_parallel(MicroKernel kernel, const OpView& A, const OpView& B, int64_t M, int64_t N,
                    int64_t K, float alpha, float beta, float* C, int64_t ldc, int threads) {
  // gemm_block may throw (allocating its thread's packing buffers): keep that inside the thread
  // and raise it after the join, where it can be caught.
  detail::ParallelErrors errors("sgemm");
#pragma omp parallel num_threads(threads)
  errors.run([&] {
    const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t row_tiles = ceil_div(M, kMR), col_panels = ceil_div(N, kNR);
    int64_t row0 = 0, rows = M, col0 = 0, cols = N;
    if (balance(row_tiles, team) >= balance(col_panels, team)) {
      const Range mine = split_evenly(row_tiles, team, t);
      row0 = mine.begin * kMR;
      rows = std::min(M, mine.end * kMR) - row0;
    } else {
      const Range mine = split_evenly(col_panels, team, t);
      col0 = mine.begin * kNR;
      cols = std::min(N, mine.end * kNR) - col0;
    }
    if (rows > 0 && cols > 0) {
      gemm_block(kernel, A, B, row0, rows, col0, cols, K, alpha, beta, C, ldc);
    }
  });
  errors.rethrow();
}

// ---- run-time dispatch ------------------------------------------------------------------------
// NIBBLE_GEMM is read on every call (a getenv is ~100 ns, nothing next to a packed GEMM) so a
// test can switch kernels with setenv() without a hidden "reset" hook.
bool portable_forced() {
  const char* choice = std::getenv("NIBBLE_GEMM");
  return choice != nullptr && std::strcmp(choice, "portable") == 0;
}

MicroKernel select_kernel() {
  if (portable_forced()) return detail::microkernel_portable;
#if defined(__x86_64__)
  const CpuFeatures& cpu = cpu_features();
  if (cpu.avx2 && cpu.fma) return detail::microkernel_avx2;
#endif
  return detail::microkernel_portable;
}

}  // namespace

const char* sgemm_kernel_name() {
  return select_kernel() == detail::microkernel_portable ? "portable" : "avx2-fma";
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  validate(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) {  // as in BLAS: op(A) op(B) contributes nothing, A and B unread
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const OpView a{A, lda, trans_a}, b{B, ldb, trans_b};
  const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (work < kSmallWork) {
    sgemm_small(a, b, M, N, K, alpha, beta, C, ldc);
    return;
  }
  // Inside someone else's parallel region, stay on the calling thread: its siblings are
  // already busy, and nested teams would oversubscribe the cores.
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  threads = static_cast<int>(std::clamp(work / kWorkPerThread, 1.0, static_cast<double>(threads)));
  sgemm_parallel(select_kernel(), a, b, M, N, K, alpha, beta, C, ldc, threads);
}

void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                     float* C, int64_t ldc) {
  validate(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  const OpView a{A, lda, trans_a}, b{B, ldb, trans_b};
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      float sum = 0.0f;
      for (int64_t k = 0; k < K; ++k) sum += a.at(i, k) * b.at(k, j);
      float& c = C[i * ldc + j];
      c = alpha * sum + (beta == 0.0f ? 0.0f : beta * c);  // beta == 0: never read C
    }
  }
}

}  // namespace nibble
