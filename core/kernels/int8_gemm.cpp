// int8 GEMM: kernel selection, packing, the tiled multi-threaded driver, and the output stages
// (int32 / float / requantized 8-bit). The SIMD micro-kernels live in int8_<isa>.cpp; everything
// here is plain C++ shared by all of them, which is why all kernels agree bit for bit on every
// output stage once their int32 tiles agree.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/kernels/int8_internal.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace nibble {

using detail::KernelInfo;
using detail::PackedType;
using detail::PackPanelA;

namespace {

constexpr int64_t kMaxK = 65536;  // 255 * 128 * 65536 < 2^31: the int32 accumulators are exact
constexpr Int8Kernel kConcrete[] = {Int8Kernel::kScalar,  Int8Kernel::kAvx2,
                                    Int8Kernel::kAvx2U7, Int8Kernel::kAvxVnni,
                                    Int8Kernel::kAvx512Vnni, Int8Kernel::kNeon,
                                    Int8Kernel::kNeonDot};
// Preference order of int8_select_kernel(kAuto): widest / fused multiply-add first. avx2u7 is
// not in it: it only accepts 7-bit activations, so only a caller who made them may ask for it.
constexpr Int8Kernel kFastestFirst[] = {Int8Kernel::kAvx512Vnni, Int8Kernel::kAvxVnni,
                                        Int8Kernel::kAvx2,       Int8Kernel::kNeonDot,
                                        Int8Kernel::kNeon,       Int8Kernel::kScalar};

std::string available_names() {
  std::string s;
  for (Int8Kernel k : kConcrete)
    if (int8_kernel_available(k)) s += (s.empty() ? "" : ", ") + std::string(int8_kernel_name(k));
  return s;
}

// Why a kernel cannot run here, for error messages.
std::string unavailable_reason(Int8Kernel k) {
  const KernelInfo& info = detail::kernel_info(k);
  const std::string has = " (CPU has: " + cpu_features().summary() + ")";
  if (info.micro == nullptr) return "it is not compiled into this build for this architecture" + has;
  return "this CPU lacks it" + has;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// ---- kernel selection --------------------------------------------------------------------------------

const char* int8_kernel_name(Int8Kernel kernel) {
  if (kernel == Int8Kernel::kAuto) return "auto";
  return detail::kernel_info(kernel).name;
}

Int8Kernel int8_kernel_from_name(const std::string& name) {
  if (name == "auto") return Int8Kernel::kAuto;
  for (Int8Kernel k : kConcrete)
    if (name == int8_kernel_name(k)) return k;
  fail("int8_gemm", "unknown kernel name '" + name + "'",
       "use one of: auto, scalar, avx2, avx2u7, avxvnni, avx512vnni, neon, neondot");
}

bool int8_kernel_available(Int8Kernel kernel) {
  if (kernel == Int8Kernel::kAuto) return true;
  const KernelInfo& info = detail::kernel_info(kernel);
  return info.micro != nullptr && info.cpu_has(cpu_features());
}

int int8_kernel_max_activation(Int8Kernel kernel) { return detail::kernel_info(kernel).a_max; }

std::vector<Int8Kernel> int8_all_kernels() {
  return std::vector<Int8Kernel>(std::begin(kConcrete), std::end(kConcrete));
}

Int8Kernel int8_select_kernel(Int8Kernel requested) {
  if (requested != Int8Kernel::kAuto) {
    NIBBLE_CHECK(int8_kernel_available(requested), "int8_gemm",
          std::string("kernel '") + int8_kernel_name(requested) + "' is unavailable: " +
              unavailable_reason(requested),
          "use Int8Kernel::kAuto or one of: " + available_names());
    return requested;
  }
  // Read on every call (cheap next to a GEMM) so tests and notebooks can change it at run time.
  const char* env = std::getenv("NIBBLE_KERNEL");
  if (env != nullptr && *env != '\0' && std::string(env) != "auto") {
    const Int8Kernel forced = int8_kernel_from_name(env);
    NIBBLE_CHECK(int8_kernel_available(forced), "int8_gemm",
          std::string("NIBBLE_KERNEL=") + env + " forces kernel '" + env +
              "', which is unavailable: " + unavailable_reason(forced),
          "unset NIBBLE_KERNEL or set it to one of: " + available_names());
    return forced;
  }
  for (Int8Kernel k : kFastestFirst)
    if (int8_kernel_available(k)) return k;
  return Int8Kernel::kScalar;
}

const KernelInfo& detail::kernel_info(Int8Kernel kernel) {
  switch (kernel) {
    case Int8Kernel::kScalar: return kernel_info_scalar();
    case Int8Kernel::kAvx2: return kernel_info_avx2();
    case Int8Kernel::kAvx2U7: return kernel_info_avx2u7();
    case Int8Kernel::kAvxVnni: return kernel_info_avxvnni();
    case Int8Kernel::kAvx512Vnni: return kernel_info_avx512vnni();
    case Int8Kernel::kNeon: return kernel_info_neon();
    case Int8Kernel::kNeonDot: return kernel_info_neondot();
    case Int8Kernel::kAuto: break;
  }
  fail("int8_gemm", "kernel_info needs a concrete kernel, got auto",
       "resolve it first with int8_select_kernel()");
}

// ---- packing --------------------------------------------------------------------------------------
// Both operands are cut into panels (B: NR columns, A: MR rows) and inside a panel stored
// [K/KG][NR or MR][KG]: the micro-kernel then reads both panels strictly sequentially, and the KG
// k-values one SIMD multiply-add consumes are adjacent. Padding is zero, so it adds nothing.

namespace {

template <typename T>
void put(int8_t* base, int64_t index, int32_t value) {
  const T v = static_cast<T>(value);
  std::memcpy(base + index * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
}

void put_packed(PackedType t, int8_t* base, int64_t index, int32_t value) {
  if (t == PackedType::kS16) put<int16_t>(base, index, value);
  else if (t == PackedType::kS8) put<int8_t>(base, index, value);
  else put<uint8_t>(base, index, value);
}

}  // namespace

PackedWeightsS8 detail::PackedWeightsAccess::pack(const int8_t* W, int64_t K, int64_t N,
                                                  Int8Kernel kernel) {
  const char* op = "pack_weights_s8";
  NIBBLE_CHECK(K >= 0 && N >= 0, op, "negative size: W is [N, K] = " + shape_str({N, K}));
  NIBBLE_CHECK(K <= kMaxK, op, "K = " + std::to_string(K) + " is too large",
        "K <= 65536 keeps the int32 accumulators exact; split the reduction");
  NIBBLE_CHECK(W != nullptr || K * N == 0, op, "W is null but [N, K] = " + shape_str({N, K}));
  const KernelInfo& L = kernel_info(kernel);
  NIBBLE_CHECK(L.b_type != PackedType::kU8, op, "internal: weights are signed");

  PackedWeightsS8 out;
  out.kernel_ = kernel;
  out.k_ = K;
  out.n_ = N;
  const int64_t kgroups = ceil_div(K, L.kg);
  const int64_t panel_elems = kgroups * L.nr * L.kg;
  const int64_t n_panels = ceil_div(N, L.nr);
  out.data_.assign(static_cast<size_t>(n_panels * panel_elems * packed_type_bytes(L.b_type)), 0);
  out.column_sums_.assign(static_cast<size_t>(N), 0);
  int8_t* data = out.data_.data();
  for (int64_t col = 0; col < N; ++col) {
    const int8_t* w = W + col * K;  // row `col` of W = column `col` of B
    const int64_t panel = col / L.nr, n = col % L.nr;
    int32_t sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t index = panel * panel_elems + ((k / L.kg) * L.nr + n) * L.kg + k % L.kg;
      put_packed(L.b_type, data, index, w[k]);
      sum += w[k];
    }
    out.column_sums_[static_cast<size_t>(col)] = sum;
  }
  return out;
}

PackedWeightsS8 pack_weights_s8(const int8_t* W, int64_t K, int64_t N, Int8Kernel kernel) {
  return detail::PackedWeightsAccess::pack(W, K, N, int8_select_kernel(kernel));
}

PackedWeightsS8 detail::pack_weights_any_layout(const int8_t* W, int64_t K, int64_t N,
                                                Int8Kernel kernel) {
  return PackedWeightsAccess::pack(W, K, N, kernel);
}

namespace {

// The activations in the kernel's domain: unsigned 0..255 (u8 and s16 kernels) or signed
// -128..127 (NEON). Converting is adding `shift` (0 or +-128) to every value, and because
// (a + shift) - (za + shift) = a - za it is just a change of zero point.
int32_t domain_shift(bool input_signed, PackedType a_type) {
  const bool kernel_signed = a_type == PackedType::kS8;
  return (kernel_signed ? -128 : 0) - (input_signed ? -128 : 0);
}

// Packs A's row panels [p0, p1) into `out` (consecutive panels), with the kernel's fast packer
// when it has one and the CPU runs it, else (and when emulating a layout) with the reference.
void pack_a_panels(const QuantizedInput& A, int64_t lda, const KernelInfo& L, int64_t p0,
                   int64_t p1, int8_t* out) {
  const uint8_t xor_mask = domain_shift(A.is_signed, L.a_type) == 0 ? 0 : 0x80;
  const PackPanelA fast = (L.pack_a != nullptr && L.cpu_has(cpu_features())) ? L.pack_a : nullptr;
  const int64_t panel_bytes = ceil_div(A.K, L.kg) * L.kg * L.mr * packed_type_bytes(L.a_type);
  const auto* base = static_cast<const uint8_t*>(A.data);  // int8 input: same bytes, see xor_mask
  for (int64_t p = p0; p < p1; ++p) {
    const uint8_t* rows[detail::kMaxTile];
    for (int m = 0; m < L.mr; ++m) {
      const int64_t row = p * L.mr + m;
      // Rows past M (the last panel's padding) only produce tile rows the driver discards, so
      // the fast packer may fill them with any real row: here the panel's first. (The reference
      // writes zeros there, which is what the layout tests compare.)
      rows[m] = row < A.M ? base + row * lda : (fast != nullptr ? rows[0] : nullptr);
    }
    int8_t* panel = out + (p - p0) * panel_bytes;
    if (fast != nullptr) fast(rows, A.K, xor_mask, panel);
    else detail::pack_a_panel_reference(L, rows, A.K, xor_mask, panel);
  }
}

// ---- the driver --------------------------------------------------------------------------------------

// A kernel exact only for small activations (avx2u7: [0, 127] in its domain) must never see a
// larger one: one pass over A (OR of all bytes, vectorised by the compiler; ~1% of a GEMM),
// before any work, so that a violation is an error rather than a silently saturated result.
void check_activation_range(const char* op, const QuantizedInput& A, const KernelInfo& L) {
  if (L.a_max >= 255 || A.M * A.K == 0) return;
  const uint8_t mask = domain_shift(A.is_signed, L.a_type) == 0 ? 0 : 0x80;
  const int64_t lda = A.lda == 0 ? A.K : A.lda;
  const auto* base = static_cast<const uint8_t*>(A.data);
  uint8_t any = 0;
  for (int64_t m = 0; m < A.M; ++m) {
    const uint8_t* row = base + m * lda;
    for (int64_t k = 0; k < A.K; ++k) any |= static_cast<uint8_t>(row[k] ^ mask);
  }
  if (any <= L.a_max) return;
  for (int64_t m = 0; m < A.M; ++m)
    for (int64_t k = 0; k < A.K; ++k) {
      const int value = A.is_signed ? static_cast<int8_t>(base[m * lda + k]) : base[m * lda + k];
      if ((base[m * lda + k] ^ mask) > L.a_max)
        fail(op, std::string("kernel ") + L.name + " needs activations in [0, " +
                     std::to_string(L.a_max) + "], but A[" + std::to_string(m) + ", " +
                     std::to_string(k) + "] = " + std::to_string(value) +
                     (A.is_signed ? " (int8 input: +128 in the kernel's unsigned domain)" : ""),
             "quantize the activations to 7 bits (nn::QuantizeOptions::reduce_range) or use "
             "the full-range kernel avx2");
    }
}

// Runs on every GEMM call, so each test is `if (bad) fail(...)`: NIBBLE_CHECK() would format its message
// (to_string, shape_str: allocations) every time, microseconds at batch 1.
void validate(const char* op, const QuantizedInput& A, const PackedWeightsS8& W, const void* C,
              int64_t ldc) {
  if (W.empty()) fail(op, "the packed weights are empty", "create them with pack_weights_s8()");
  if (!(A.M >= 0 && A.K >= 0)) fail(op, "negative size: A is [M, K] = " + shape_str({A.M, A.K}));
  if (!(A.K == W.K()))
    fail(op,
         "K mismatch: A is [M, K] = " + shape_str({A.M, A.K}) + " but the weights were packed as " +
             "W [N, K] = " + shape_str({W.N(), W.K()}),
         "A's columns must equal the weights' in_features");
  if (!(A.lda == 0 || A.lda >= A.K))
    fail(
        op,
        "row stride lda = " + std::to_string(A.lda) + " is smaller than K = " + std::to_string(A.K),
        "lda = 0 means dense rows (lda = K)");
  if (!(ldc == 0 || ldc >= W.N()))
    fail(
        op,
        "row stride ldc = " + std::to_string(ldc) + " is smaller than N = " + std::to_string(W.N()),
        "ldc = 0 means dense rows (ldc = N)");
  if (!(A.data != nullptr || A.M * A.K == 0))
    fail(op, "A is null but has shape " + shape_str({A.M, A.K}));
  if (!(C != nullptr || A.M * W.N() == 0))
    fail(op, "C is null but has shape " + shape_str({A.M, W.N()}));
  const int32_t lo = A.is_signed ? -128 : 0, hi = A.is_signed ? 127 : 255;
  if (!(A.zero_point >= lo && A.zero_point <= hi))
    fail(op,
         "activation zero point " + std::to_string(A.zero_point) + " is outside [" +
             std::to_string(lo) + ", " + std::to_string(hi) + "]",
         A.is_signed ? "int8 input: use a zero point in [-128, 127]"
                     : "uint8 input: use a zero point in [0, 255]");
  check_activation_range(op, A, detail::kernel_info(W.kernel()));
}

// Runs the GEMM and hands each finished tile of raw int32 values to
//   store(m0, rows, n0, cols, v, ldv, offset):  rows m0.., columns n0.. of C, v[r * ldv + c];
// the store adds offset[c] (bias - za * colsum, see below) in its own vectorised loop, wrapping
// around in 32 bits. A whole tile per call, so per-column constants are loaded once per tile.
// `micro` computes one tile (normally the kernel's SIMD micro-kernel).
template <class Micro, class Store>
void run_gemm(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
              const Micro& micro, const Store& store) {
  const int64_t M = A.M, N = W.N(), K = A.K;
  if (M == 0 || N == 0) return;
  const KernelInfo& L = detail::kernel_info(W.kernel());
  if (L.mr * L.nr > detail::kMaxTile) fail("int8_gemm", "internal: tile larger than kMaxTile");
  const int64_t lda = A.lda == 0 ? K : A.lda;

  // Per column: everything that does not depend on the row, folded into one int32:
  //   result = raw + (bias[n] - za * colsum[n]),   za taken in the kernel's domain.
  // Computed with unsigned (wrap-around) arithmetic: the intermediate terms may exceed int32
  // while the final result fits, and signed overflow would be undefined behaviour in C++.
  const uint32_t za = static_cast<uint32_t>(A.zero_point + domain_shift(A.is_signed, L.a_type));
  std::vector<int32_t> col_offset(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    const uint32_t b = bias ? static_cast<uint32_t>(bias[n]) : 0u;
    col_offset[n] = static_cast<int32_t>(b - za * static_cast<uint32_t>(W.column_sums()[n]));
  }

  const int64_t kgroups = ceil_div(K, L.kg);
  const int64_t a_panel_bytes = kgroups * L.mr * L.kg * packed_type_bytes(L.a_type);
  const int64_t b_panel_bytes = kgroups * L.nr * L.kg * packed_type_bytes(L.b_type);
  const int64_t m_panels = ceil_div(M, L.mr), n_panels = ceil_div(N, L.nr);
  const int8_t* b_packed = detail::PackedWeightsAccess::data(W);

  // Multiplies A's row panels [first, last), packed at `a`, by B panel np, and stores the tiles.
  auto multiply = [&](const int8_t* a, int64_t first, int64_t last, int64_t np) {
    alignas(64) int32_t tile[detail::kMaxTile];
    const int64_t n0 = np * L.nr;
    const int cols = static_cast<int>(std::min<int64_t>(L.nr, N - n0));
    for (int64_t mp = first; mp < last; ++mp) {
      const int rows = static_cast<int>(std::min<int64_t>(L.mr, M - mp * L.mr));
      micro(a + (mp - first) * a_panel_bytes, b_packed + np * b_panel_bytes, kgroups, tile, rows,
            cols);
      store(mp * L.mr, rows, n0, cols, tile, L.nr, col_offset.data() + n0);
    }
  };

  // Cache blocking, GotoBLAS simplified: A's row panels are grouped into blocks of ~192 KB packed
  // (well inside L2), and a block meets every B panel in turn, the B panel staying in L1 while
  // the block's panels stream past it. Two ways to share that between threads:
  //  - many blocks (big batches, the pixel rows of a convolution): one work item per block; its
  //    thread packs the block into its own buffer just before using it, so packed A goes from L2
  //    straight into the micro-kernel, is never written to memory whole, and packs in parallel;
  //  - few blocks (a Linear layer on a small batch): A is packed once up front and an item is a
  //    (block, B panel) pair, so both threads get work even when there is a single block.
  int threads = 1;
#if defined(_OPENMP)
  threads = omp_get_max_threads();
#endif
  // Threads only for >= 2M multiply-adds (~15 us on one core): waking a sleeping OpenMP worker
  // costs tens of microseconds (OMP_WAIT_POLICY=passive, which a shared 2-core machine needs),
  // more than a small layer's whole GEMM.
  [[maybe_unused]] const bool parallel = M * N * std::max<int64_t>(K, 1) >= (int64_t{1} << 21);
  int64_t block = std::max<int64_t>(1, (192 << 10) / std::max<int64_t>(1, a_panel_bytes));
  const bool pack_per_block = !parallel || m_panels >= 8 * threads;

  if (pack_per_block) {
    // As many blocks as the ~192 KB size asks for, rounded up to a multiple of the thread count,
    // and the panels spread evenly over them (sizes differ by at most one panel): with 3 blocks
    // for 2 threads one core would sit idle for a third of the time (512^3 used to scale 1.6x).
    const int64_t blocks = ceil_div(ceil_div(m_panels, block), threads) * threads;
    const int64_t largest = ceil_div(m_panels, blocks);
    // One packing buffer per thread, allocated here: an allocation failure inside the parallel
    // region would be std::terminate instead of an exception the caller can catch.
    std::vector<std::unique_ptr<int8_t[]>> buffers(static_cast<size_t>(parallel ? threads : 1));
    for (auto& b : buffers) b.reset(new int8_t[static_cast<size_t>(largest * a_panel_bytes)]);
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (int64_t item = 0; item < blocks; ++item) {
      int t = 0;
#if defined(_OPENMP)
      t = omp_get_thread_num();
#endif
      const std::unique_ptr<int8_t[]>& buf = buffers[static_cast<size_t>(t)];
      const int64_t first = item * m_panels / blocks, last = (item + 1) * m_panels / blocks;
      if (first == last) continue;  // more blocks than panels (tiny M on one thread)
      pack_a_panels(A, lda, L, first, last, buf.get());
      for (int64_t np = 0; np < n_panels; ++np) multiply(buf.get(), first, last, np);
    }
    return;
  }

  const std::unique_ptr<int8_t[]> a_packed(
      new int8_t[static_cast<size_t>(m_panels * a_panel_bytes)]);
#pragma omp parallel for schedule(static) if (parallel && M * K > (1 << 16))
  for (int64_t p = 0; p < m_panels; ++p)
    pack_a_panels(A, lda, L, p, p + 1, a_packed.get() + p * a_panel_bytes);
  while (block > 1 && ceil_div(m_panels, block) * n_panels < 4 * threads) block = (block + 1) / 2;
  const int64_t items = ceil_div(m_panels, block) * n_panels;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t np = item % n_panels;
    const int64_t first = (item / n_panels) * block, last = std::min(m_panels, first + block);
    multiply(a_packed.get() + first * a_panel_bytes, first, last, np);
  }
}

// Calls the kernel's own micro-kernel, or its variant for a panel with a single real row or at
// most half its columns real, where the full tile would mostly multiply padding.
struct NativeMicro {
  explicit NativeMicro(const KernelInfo& L)
      : full(L.micro), one_row(L.micro_1row), half(L.micro_half), nr(L.nr) {}
  detail::MicroKernel full, one_row, half;
  int nr;
  void operator()(const void* a, const void* b, int64_t kg, int32_t* c, int rows,
                  int cols) const {
    if (rows == 1 && one_row != nullptr) one_row(a, b, kg, c);
    else if (2 * cols <= nr && half != nullptr) half(a, b, kg, c);
    else full(a, b, kg, c);
  }
};

// ---- output stages -------------------------------------------------------------------------------------

// v + offset with 32-bit wrap-around (the intermediate terms may exceed int32: see run_gemm).
inline int32_t add_wrapping(int32_t v, int32_t offset) {
  return static_cast<int32_t>(static_cast<uint32_t>(v) + static_cast<uint32_t>(offset));
}

struct StoreS32 {
  int32_t* C;
  int64_t ldc;
  void operator()(int64_t m0, int rows, int64_t n0, int cols, const int32_t* v, int ldv,
                  const int32_t* offset) const {
    for (int r = 0; r < rows; ++r) {
      int32_t* out = C + (m0 + r) * ldc + n0;
      for (int c = 0; c < cols; ++c) out[c] = add_wrapping(v[r * ldv + c], offset[c]);
    }
  }
};

struct StoreF32 {
  float* C;
  int64_t ldc;
  const float* scale;  // input_scale * weight_scale[n]
  const float* bias;   // may be null
  void operator()(int64_t m0, int rows, int64_t n0, int cols, const int32_t* v, int ldv,
                  const int32_t* offset) const {
    for (int r = 0; r < rows; ++r) {
      float* out = C + (m0 + r) * ldc + n0;
      for (int c = 0; c < cols; ++c)
        out[c] = static_cast<float>(add_wrapping(v[r * ldv + c], offset[c])) * scale[n0 + c] +
                 (bias ? bias[n0 + c] : 0.0f);
    }
  }
};

template <typename T>
struct StoreQ8 {
  T* C;
  int64_t ldc;
  const int32_t* multipliers;  // [N], per output channel (a per-tensor value repeated)
  const int* right_shifts;     // [N]
  int32_t zero_point;
  int32_t lo, hi;  // output range, lo raised to the zero point for the fused ReLU
  void operator()(int64_t m0, int rows, int64_t n0, int cols, const int32_t* v, int ldv,
                  const int32_t* offset) const {
    const detail::RequantRow row{offset, multipliers + n0, right_shifts + n0, zero_point, lo, hi};
    detail::requantize_tile(row, v, ldv, rows, cols, C + m0 * ldc + n0, ldc);
  }
};

template <typename T>
void gemm_q8(const char* op, const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
             const Requantize& rq, T* C, int64_t ldc) {
  validate(op, A, W, C, ldc);
  const int32_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  if (!(rq.zero_point >= lo && rq.zero_point <= hi))
    fail(op, "output zero point " + std::to_string(rq.zero_point) + " is outside [" +
                 std::to_string(lo) + ", " + std::to_string(hi) + "]");
  if (!((rq.multipliers == nullptr) == (rq.right_shifts == nullptr)))
    fail(op, "per-channel requantization needs both multipliers and right_shifts",
         "set both arrays (length N) or neither");
  auto check_one = [&](int32_t mult, int shift) {
    if (mult >= 0 && shift >= -31 && shift <= 31) return;  // no message string on the good path
    fail(op,
         "bad requantization multiplier " + std::to_string(mult) + " / right_shift " +
             std::to_string(shift),
         "compute them with quantize_multiplier(real_scale, &multiplier, &right_shift)");
  };
  if (rq.multipliers) {
    for (int64_t n = 0; n < W.N(); ++n) check_one(rq.multipliers[n], rq.right_shifts[n]);
  } else {
    check_one(rq.multiplier, rq.right_shift);
  }
  // Per-channel arrays either way, so the epilogue has one (vectorised) code path.
  std::vector<int32_t> multipliers(static_cast<size_t>(W.N()), rq.multiplier);
  std::vector<int> shifts(static_cast<size_t>(W.N()), rq.right_shift);
  if (rq.multipliers) {
    std::copy(rq.multipliers, rq.multipliers + W.N(), multipliers.begin());
    std::copy(rq.right_shifts, rq.right_shifts + W.N(), shifts.begin());
  }
  if (rq.max_value < rq.zero_point)
    fail(op, "max_value " + std::to_string(rq.max_value) + " is below the output zero point " +
                 std::to_string(rq.zero_point));
  const StoreQ8<T> store{C, ldc == 0 ? W.N() : ldc, multipliers.data(), shifts.data(),
                         rq.zero_point, rq.relu ? std::max(lo, rq.zero_point) : lo,
                         std::min(hi, rq.max_value)};
  run_gemm(A, W, bias, NativeMicro(detail::kernel_info(W.kernel())), store);
}

}  // namespace

// ---- public GEMM entry points ----------------------------------------------------------------------

void int8_gemm_s32(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                   int32_t* C, int64_t ldc) {
  validate("int8_gemm_s32", A, W, C, ldc);
  run_gemm(A, W, bias, NativeMicro(detail::kernel_info(W.kernel())),
           StoreS32{C, ldc == 0 ? W.N() : ldc});
}

void int8_gemm_f32(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                   const Dequantize& dq, float* C, int64_t ldc) {
  validate("int8_gemm_f32", A, W, C, ldc);
  std::vector<float> scale(static_cast<size_t>(W.N()));
  for (int64_t n = 0; n < W.N(); ++n)
    scale[n] = dq.input_scale * (dq.weight_scales ? dq.weight_scales[n] : dq.weight_scale);
  run_gemm(A, W, bias, NativeMicro(detail::kernel_info(W.kernel())),
           StoreF32{C, ldc == 0 ? W.N() : ldc, scale.data(), dq.bias});
}

void int8_gemm_u8(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                  const Requantize& rq, uint8_t* C, int64_t ldc) {
  gemm_q8("int8_gemm_u8", A, W, bias, rq, C, ldc);
}

void int8_gemm_s8(const QuantizedInput& A, const PackedWeightsS8& W, const int32_t* bias,
                  const Requantize& rq, int8_t* C, int64_t ldc) {
  gemm_q8("int8_gemm_s8", A, W, bias, rq, C, ldc);
}

void detail::gemm_s32_emulated(const QuantizedInput& A, const PackedWeightsS8& W,
                               const int32_t* bias, int32_t* C, int64_t ldc) {
  validate("gemm_s32_emulated", A, W, C, ldc);
  const KernelInfo& L = kernel_info(W.kernel());
  auto emulate = [&L](const void* a, const void* b, int64_t kg, int32_t* c, int /*rows*/,
                      int /*cols*/) {
    micro_reference(L, a, b, kg, c);
  };
  run_gemm(A, W, bias, emulate, StoreS32{C, ldc == 0 ? W.N() : ldc});
}

}  // namespace nibble
