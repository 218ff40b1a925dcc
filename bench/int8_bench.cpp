// bench_int8: GOP/s of the int8 GEMM (core/kernels/int8_gemm.h), every kernel this CPU runs, next
// to our fp32 sgemm on the same shapes and -- when the build found oneDNN -- oneDNN's
// u8 x s8 -> s32 matmul with pre-packed weights. GOP/s = 2*M*N*K / s (one multiply-add = 2 ops).
//
// What is timed (all with weights packed once, outside the loop):
//   int8/<kernel>   int8_gemm_s32 with a zero point: packs A, runs the micro-kernel, epilogue.
//   fp32/sgemm      nibble::sgemm, C = A B, row-major.
//   onednn          dnnl::matmul, src u8 [M,K] (runtime zero point), weights s8 [K,N] reordered
//                   once into the layout the primitive asked for (format_tag::any), dst s32.
//   quantize/*      the float -> uint8 activation quantizer (nn/quantized.h), ns per element.
//   qlinear         (paired table only) nn::QuantizedLinear::forward with a static input range:
//                   float in, quantize, int8 GEMM, dequantizing epilogue, float out -- the figure
//                   to set beside PyTorch's quantize + quantized Linear + dequantize.
//
// At the end: a paired table (--paired_rounds=N rounds, default 11, 0 = off): each round times a
// ~30 ms burst of each library on the same shape back to back, so all see the same machine load;
// medians and the median of per-round ratios int8/oneDNN and int8/fp32 are printed.
// --paired_kv prints each row as one key=value line instead (for bench/compare_int8.sh).
// Shapes: M=N=K in {256, 512, 1024}, and Linear layers M in {1, 64}, N=256, K=784. Threads 1, 2.
//   OMP_WAIT_POLICY=passive build/bench/bench_int8 --benchmark_repetitions=3
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/gemm.h"
#include "core/kernels/int8_gemm.h"
#include "nn/quantized.h"

#if defined(NIBBLE_BENCH_DNNL)
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace {

using nibble::Int8Kernel;

struct Shape {
  int64_t M, N, K;
  std::string name() const {
    return std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K);
  }
  double ops() const { return 2.0 * M * N * K; }
};

const std::vector<Shape> kShapes = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
                                    {1, 256, 784},   {64, 256, 784}};
const std::vector<int> kThreadCounts = {1, 2};
constexpr int32_t kZeroPoint = 3;  // any nonzero activation zero point: the real use case

// Random operands of one shape, in every library's format.
struct Operands {
  std::vector<uint8_t> A;   // [M, K]
  std::vector<uint8_t> A7;  // A & 127: 7-bit activations for the avx2u7 kernel
  std::vector<int8_t> W;    // [N, K] (out_features x in_features)
  std::vector<int32_t> C;   // [M, N]
  std::vector<float> Af, Bf, Cf;  // fp32 A [M, K], B = W^T [K, N], C [M, N]
  explicit Operands(const Shape& s)
      : A(s.M * s.K), W(s.N * s.K), C(s.M * s.N), Af(s.M * s.K), Bf(s.K * s.N), Cf(s.M * s.N) {
    std::mt19937 rng(42);
    for (auto& v : A) v = static_cast<uint8_t>(rng());
    for (uint8_t v : A) A7.push_back(v & 127);
    for (auto& v : W) v = static_cast<int8_t>(rng());
    for (size_t i = 0; i < Af.size(); ++i) Af[i] = A[i] / 255.0f;
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t k = 0; k < s.K; ++k) Bf[k * s.N + n] = W[n * s.K + k] / 127.0f;
  }
};

// One GEMM "engine": a callable prepared for a shape (weights packed), plus a name.
using Runner = std::function<void()>;

// seven_bit: use x.A7 (A folded into [0, 127]), the only activations avx2u7 accepts.
Runner make_int8(const Shape& s, Operands& x, Int8Kernel kernel, bool seven_bit = false) {
  auto packed = std::make_shared<nibble::PackedWeightsS8>(
      nibble::pack_weights_s8(x.W.data(), s.K, s.N, kernel));
  const uint8_t* A = seven_bit ? x.A7.data() : x.A.data();
  return [&x, s, packed, A] {
    nibble::int8_gemm_s32(nibble::input_u8(A, s.M, s.K, kZeroPoint), *packed, nullptr,
                          x.C.data());
  };
}

Runner make_fp32(const Shape& s, Operands& x) {
  return [&x, s] {
    nibble::sgemm(false, false, s.M, s.N, s.K, 1.0f, x.Af.data(), s.K, x.Bf.data(), s.N, 0.0f,
                  x.Cf.data(), s.N);
  };
}

Runner make_qlinear(const Shape& s) {
  nibble::nn::Linear fc(s.K, s.N);
  // Same input distribution as bench/torch_qlinear.py; not centred on 0, so the zero point is not 0.
  auto x = std::make_shared<nibble::Tensor>(nibble::Tensor::randn({s.M, s.K}, 0.5f, 1.0f));
  auto q = std::make_shared<nibble::nn::QuantizedLinear>(
      nibble::nn::QuantizedLinear::from_float(fc, {*x}));
  return [q, x] { q->forward(*x); };
}

#if defined(NIBBLE_BENCH_DNNL)
// oneDNN u8 x s8 -> s32 matmul with the weights reordered once into the primitive's own layout.
struct DnnlMatmul {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory src, weights, dst, zp;
  std::string impl;

  DnnlMatmul(const Shape& s, Operands& x) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc src_md({s.M, s.K}, dt::u8, tag::ab);
    const dnnl::memory::desc w_any({s.K, s.N}, dt::s8, tag::any);
    const dnnl::memory::desc dst_md({s.M, s.N}, dt::s32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});  // like ours: za per call
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, w_any, dst_md), attr, eng);
    impl = pd.impl_info_str();
    prim = dnnl::matmul(pd);
    src = dnnl::memory(src_md, eng, x.A.data());
    dst = dnnl::memory(dst_md, eng, x.C.data());
    // Our W is [N, K] row-major = the [K, N] matrix in "ba" order; reorder once, outside timing.
    dnnl::memory user_w({{s.K, s.N}, dt::s8, tag::ba}, eng, x.W.data());
    weights = dnnl::memory(pd.weights_desc(), eng);
    dnnl::reorder(user_w, weights).execute(strm, user_w, weights);
    zp = dnnl::memory({{1}, dt::s32, tag::x}, eng);
    *static_cast<int32_t*>(zp.get_data_handle()) = kZeroPoint;
    strm.wait();
  }
  void run() {
    prim.execute(strm, {{DNNL_ARG_SRC, src},
                        {DNNL_ARG_WEIGHTS, weights},
                        {DNNL_ARG_DST, dst},
                        {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zp}});
    strm.wait();
  }
};

Runner make_dnnl(const Shape& s, Operands& x) {
  auto m = std::make_shared<DnnlMatmul>(s, x);
  return [m] { m->run(); };
}
#endif

void set_ops_counter(benchmark::State& state, const Shape& s) {
  state.counters["GOP/s"] =
      benchmark::Counter(s.ops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_gemm(benchmark::State& state, Shape s, int threads, std::string engine) {
  omp_set_num_threads(threads);
  Operands x(s);
  Runner run;
  if (engine == "fp32") {
    run = make_fp32(s, x);
#if defined(NIBBLE_BENCH_DNNL)
  } else if (engine == "onednn") {
    run = make_dnnl(s, x);
#endif
  } else {
    const Int8Kernel k = nibble::int8_kernel_from_name(engine);
    run = make_int8(s, x, k, /*seven_bit=*/nibble::int8_kernel_max_activation(k) < 255);
  }
  run();  // warm-up: start threads, first-touch buffers
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  set_ops_counter(state, s);
}

// Activation quantization cost: ns per element = 1e9 / items_per_second.
void bm_quantize(benchmark::State& state, bool avx2) {
  const int64_t n = state.range(0);
  std::vector<float> x(n);
  std::vector<uint8_t> q(n);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.5f, 1.0f);
  for (float& v : x) v = normal(rng);
  const nibble::nn::QuantParams p = nibble::nn::choose_u8_params(-3.0f, 4.0f);
  for (auto _ : state) {
    if (avx2) {
      nibble::nn::quantize_u8(x.data(), n, p, q.data());
    } else {
      nibble::nn::quantize_u8_reference(x.data(), n, p, q.data());
    }
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["ns/elem"] = benchmark::Counter(
      static_cast<double>(n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate |
                                         benchmark::Counter::kInvert);
}

// ---- paired comparison ---------------------------------------------------------------------------

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double burst_gops(const Runner& run, const Shape& s, int iterations) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) run();
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  return s.ops() * iterations / dt.count() * 1e-9;
}

void paired(int rounds, bool kv) {
  const Int8Kernel best = nibble::int8_select_kernel();
  // avx2u7 (7-bit activations, opt-in) runs on the same operands with A folded into [0, 127].
  const bool u7 = nibble::int8_kernel_available(Int8Kernel::kAvx2U7);
  std::printf("\nPaired timing, %d rounds of ~30 ms bursts (int8 = %s kernel), GOP/s medians\n",
              rounds, nibble::int8_kernel_name(best));
  if (!kv) {
    std::printf("%-14s %3s %8s %8s %8s %8s %8s %12s %12s %12s\n", "MxNxK", "thr", "int8",
                "avx2u7", "oneDNN", "fp32", "qlinear", "int8/oneDNN", "u7/oneDNN", "int8/fp32");
  }
  for (const Shape& s : kShapes) {
    for (int threads : kThreadCounts) {
      omp_set_num_threads(threads);
      Operands x(s);
      // Each engine's position in `runners` (-1: not in this build / on this CPU).
      std::vector<Runner> runners = {make_int8(s, x, best), make_fp32(s, x), make_qlinear(s)};
      const int i_int8 = 0, i_fp32 = 1, i_qlinear = 2;
      int i_u7 = -1, i_dnnl = -1;
      if (u7) {
        i_u7 = static_cast<int>(runners.size());
        runners.push_back(make_int8(s, x, Int8Kernel::kAvx2U7, /*seven_bit=*/true));
      }
#if defined(NIBBLE_BENCH_DNNL)
      i_dnnl = static_cast<int>(runners.size());
      runners.push_back(make_dnnl(s, x));
#endif
      std::vector<int> iters;
      for (auto& r : runners) {
        r();
        const double g = burst_gops(r, s, 3);
        iters.push_back(std::max(1, static_cast<int>(g * 1e9 * 0.03 / s.ops())));
      }
      std::vector<std::vector<double>> g(runners.size());
      std::vector<double> r_dnnl, r_u7_dnnl, r_fp32;
      for (int round = 0; round < rounds; ++round) {
        for (size_t e = 0; e < runners.size(); ++e)
          g[e].push_back(burst_gops(runners[e], s, iters[e]));
        r_fp32.push_back(g[i_int8].back() / g[i_fp32].back());
        if (i_dnnl >= 0) r_dnnl.push_back(g[i_int8].back() / g[i_dnnl].back());
        if (i_dnnl >= 0 && i_u7 >= 0) r_u7_dnnl.push_back(g[i_u7].back() / g[i_dnnl].back());
      }
      auto med = [&](int i) { return i >= 0 ? median_of(g[i]) : 0.0; };
      if (kv) {
        std::printf("nibble_int8 M=%lld N=%lld K=%lld threads=%d kernel=%s int8=%.1f u7=%.1f "
                    "fp32=%.1f qlinear=%.1f onednn=%.1f\n",
                    static_cast<long long>(s.M), static_cast<long long>(s.N),
                    static_cast<long long>(s.K), threads, nibble::int8_kernel_name(best),
                    med(i_int8), med(i_u7), med(i_fp32), med(i_qlinear), med(i_dnnl));
        std::fflush(stdout);
        continue;
      }
      auto cell = [](double v, int width, int digits) {  // "-" for a missing figure
        if (v > 0) std::printf("%*.*f ", width, digits, v);
        else std::printf("%*s ", width, "-");
      };
      std::printf("%-14s %3d ", s.name().c_str(), threads);
      for (int i : {i_int8, i_u7, i_dnnl, i_fp32, i_qlinear}) cell(med(i), 8, 1);
      cell(r_dnnl.empty() ? 0.0 : median_of(r_dnnl), 12, 2);
      cell(r_u7_dnnl.empty() ? 0.0 : median_of(r_u7_dnnl), 12, 2);
      std::printf("%12.2f\n", median_of(r_fp32));
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 11;
  bool kv = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const char* prefix = "--paired_rounds=";
    if (std::strncmp(argv[i], prefix, std::strlen(prefix)) == 0) {
      rounds = std::atoi(argv[i] + std::strlen(prefix));
    } else if (std::strcmp(argv[i], "--paired_kv") == 0) {
      kv = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("cpu_features", nibble::cpu_features().summary());
  benchmark::AddCustomContext("int8_auto_kernel",
                              nibble::int8_kernel_name(nibble::int8_select_kernel()));
  const char* isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  benchmark::AddCustomContext("ONEDNN_MAX_CPU_ISA", isa ? isa : "(unset)");
#if defined(NIBBLE_BENCH_DNNL)
  {
    Shape s{64, 256, 784};
    Operands x(s);
    DnnlMatmul probe(s, x);
    benchmark::AddCustomContext("onednn_impl", probe.impl);
    // Exactness probe: every activation 255, every weight -128, so each pair of products sums to
    // -65280, the case where AVX2's vpmaddubsw saturates int16 (core/kernels/README.md). Exact
    // answer: (255 - za) * -128 * K per element.
    Operands ex(s);
    std::fill(ex.A.begin(), ex.A.end(), uint8_t{255});
    std::fill(ex.W.begin(), ex.W.end(), int8_t{-128});
    DnnlMatmul extreme(s, ex);
    extreme.run();
    const int32_t exact = (255 - kZeroPoint) * -128 * static_cast<int32_t>(s.K);
    benchmark::AddCustomContext("onednn_exact_on_255x-128",
                                ex.C[0] == exact ? "yes" : "NO: got " + std::to_string(ex.C[0]) +
                                                               ", exact " + std::to_string(exact));
    const dnnl_version_t* v = dnnl_version();
    benchmark::AddCustomContext("onednn_version", std::to_string(v->major) + "." +
                                                      std::to_string(v->minor) + "." +
                                                      std::to_string(v->patch));
  }
#endif

  std::vector<std::string> engines;
  for (Int8Kernel k : nibble::int8_all_kernels()) {
    if (nibble::int8_kernel_available(k)) engines.push_back(nibble::int8_kernel_name(k));
  }
  engines.push_back("fp32");
#if defined(NIBBLE_BENCH_DNNL)
  engines.push_back("onednn");
#endif
  for (const std::string& e : engines) {
    for (const Shape& s : kShapes) {
      for (int t : kThreadCounts) {
        const std::string name = (e == "fp32" ? "fp32/sgemm" : e == "onednn" ? "onednn/u8s8s32"
                                                                             : "int8/" + e) +
                                 "/" + s.name() + "/threads:" + std::to_string(t);
        auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_gemm, s, t, e)
                      ->UseRealTime()
                      ->Unit(benchmark::kMicrosecond);
        if (e == "scalar") b->Iterations(s.M * s.N * s.K > (1 << 26) ? 1 : 20);  // ~2 GOP/s: keep it short
      }
    }
  }
  for (bool avx2 : {true, false}) {
    benchmark::RegisterBenchmark(avx2 ? "quantize_u8/dispatch(avx2)" : "quantize_u8/scalar_reference",
                                 bm_quantize, avx2)
        ->Arg(784)
        ->Arg(64 * 784)
        ->Arg(256 * 784);
  }
  benchmark::RunSpecifiedBenchmarks();
  if (rounds > 0) paired(rounds, kv);
  benchmark::Shutdown();
  return 0;
}
