// bench_gemm: GFLOP/s of nibble::sgemm, and of OpenBLAS's cblas_sgemm on the same shapes in the
// same run when the build found OpenBLAS. Two summaries are printed at the end:
//   1. from Google Benchmark: the median over --benchmark_repetitions of each library's runs
//      (all nibble runs first, then all OpenBLAS runs);
//   2. paired: --paired_rounds=N rounds (default 15, 0 = off), each timing a ~50 ms burst of
//      nibble then a burst of OpenBLAS on the same shape, reporting medians and the median of
//      the per-round ratios. On a shared machine whose load drifts, back-to-back pairs see the
//      same load, so this ratio is the more trustworthy one.
// Recommended invocation (one command line; see bench/RESULTS.md):
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2
//       ./bench_gemm --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/gemm.h"

#if defined(NIBBLE_BENCH_OPENBLAS)
#include <cblas.h>
#endif

namespace {

struct Shape {
  int64_t M, N, K;
  std::string name() const {
    return std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K);
  }
};

// Square sizes around the caches, plus a Linear layer on MNIST (batch 64, 784 -> 256).
const std::vector<Shape> kShapes = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
                                    {64, 256, 784}};
const std::vector<int> kThreadCounts = {1, 2};

// Random operands for one shape; C = A[M,K] B[K,N], all row-major, no transposes.
struct Operands {
  std::vector<float> A, B, C;
  explicit Operands(const Shape& s) : A(s.M * s.K), B(s.K * s.N), C(s.M * s.N) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (float& x : A) x = uniform(rng);
    for (float& x : B) x = uniform(rng);
  }
};

// Reports GFLOP/s: a GEMM does M*N*K multiply-adds = 2*M*N*K flops per iteration.
void set_flops_counter(benchmark::State& state, const Shape& s) {
  const double gflop = 2.0 * s.M * s.N * s.K * 1e-9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
}

void run_nibble(const Shape& s, Operands& x) {
  nibble::sgemm(false, false, s.M, s.N, s.K, 1.0f, x.A.data(), s.K, x.B.data(), s.N, 0.0f,
                x.C.data(), s.N);
}

void bm_nibble(benchmark::State& state, Shape s, int threads) {
  omp_set_num_threads(threads);
  Operands x(s);
  for (auto _ : state) {
    run_nibble(s, x);
    benchmark::DoNotOptimize(x.C.data());
    benchmark::ClobberMemory();
  }
  set_flops_counter(state, s);
}

#if defined(NIBBLE_BENCH_OPENBLAS)
void run_openblas(const Shape& s, Operands& x) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(s.M),
              static_cast<int>(s.N), static_cast<int>(s.K), 1.0f, x.A.data(),
              static_cast<int>(s.K), x.B.data(), static_cast<int>(s.N), 0.0f, x.C.data(),
              static_cast<int>(s.N));
}

void bm_openblas(benchmark::State& state, Shape s, int threads) {
  openblas_set_num_threads(threads);
  Operands x(s);
  for (auto _ : state) {
    run_openblas(s, x);
    benchmark::DoNotOptimize(x.C.data());
    benchmark::ClobberMemory();
  }
  set_flops_counter(state, s);
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// GFLOP/s of `iterations` back-to-back calls, wall clock.
double time_burst(const std::function<void()>& gemm, const Shape& s, int iterations) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) gemm();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return 2.0 * s.M * s.N * s.K * iterations / elapsed.count() * 1e-9;
}

// Interleaved timing: `rounds` x (burst of nibble, burst of OpenBLAS), ~50 ms each.
void paired_comparison(int rounds) {
  std::printf("\nPaired timing: %d rounds of (nibble burst, OpenBLAS burst), wall clock, medians\n",
              rounds);
  std::printf("%-16s %7s %10s %10s %12s\n", "shape MxNxK", "threads", "nibble", "OpenBLAS",
              "median ratio");
  for (const Shape& s : kShapes) {
    for (int threads : kThreadCounts) {
      omp_set_num_threads(threads);
      openblas_set_num_threads(threads);
      Operands x(s);
      const auto ours = [&] { run_nibble(s, x); };
      const auto blas = [&] { run_openblas(s, x); };
      ours();  // warm up: first-touch the packing buffers, start the worker threads
      blas();
      const double estimate = time_burst(ours, s, 3);
      const int iterations = std::max(1, static_cast<int>(estimate * 1e9 * 0.05 / (2.0 * s.M * s.N * s.K)));
      std::vector<double> g_ours, g_blas, ratios;
      for (int r = 0; r < rounds; ++r) {
        g_ours.push_back(time_burst(ours, s, iterations));
        g_blas.push_back(time_burst(blas, s, iterations));
        ratios.push_back(g_ours.back() / g_blas.back());
      }
      std::printf("%-16s %7d %10.1f %10.1f %12.2f\n", s.name().c_str(), threads, median_of(g_ours),
                  median_of(g_blas), median_of(ratios));
      std::fflush(stdout);
    }
  }
}
#endif

std::string bench_name(const char* library, const Shape& s, int threads) {
  return std::string("sgemm/") + library + "/" + s.name() + "/threads:" + std::to_string(threads);
}

// The console output as usual, plus: remember every run's GFLOP/s by benchmark name, and at
// the end print the median per benchmark and the nibble/OpenBLAS ratio per shape and thread count.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const auto counter = run.counters.find("GFLOP/s");
      if (counter == run.counters.end()) continue;
      const std::string& name = run.run_name.function_name;
      if (run.run_type == Run::RT_Iteration) {
        samples_[name].push_back(counter->second.value);
      } else if (run.aggregate_name == "median") {
        reported_median_[name] = counter->second.value;
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::FILE* out = stdout;
    std::fprintf(out, "\nMedian GFLOP/s over repetitions (higher is better)\n");
    std::fprintf(out, "%-16s %7s %10s %10s %8s\n", "shape MxNxK", "threads", "nibble", "OpenBLAS",
                 "ratio");
    for (const Shape& s : kShapes) {
      for (int threads : kThreadCounts) {
        const double ours = median(bench_name("nibble", s, threads));
        const double blas = median(bench_name("openblas", s, threads));
        if (ours <= 0.0) continue;  // not run (--benchmark_filter)
        std::fprintf(out, "%-16s %7d %10.1f ", s.name().c_str(), threads, ours);
        if (blas > 0.0) {
          std::fprintf(out, "%10.1f %8.2f\n", blas, ours / blas);
        } else {
          std::fprintf(out, "%10s %8s\n", "-", "-");
        }
      }
    }
  }

 private:
  // Median of the repetitions; with --benchmark_display_aggregates_only the single runs never
  // reach the reporter, so fall back to the median the library computed. 0 = not run.
  double median(const std::string& name) {
    std::vector<double>& v = samples_[name];
    if (v.empty()) return reported_median_.count(name) ? reported_median_[name] : 0.0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }

  std::map<std::string, std::vector<double>> samples_;
  std::map<std::string, double> reported_median_;
};

}  // namespace

int main(int argc, char** argv) {
  // Our own flag, taken out before Google Benchmark sees (and rejects) it.
  int paired_rounds = 15;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const char* prefix = "--paired_rounds=";
    if (std::strncmp(argv[i], prefix, std::strlen(prefix)) == 0) {
      paired_rounds = std::atoi(argv[i] + std::strlen(prefix));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  benchmark::AddCustomContext("nibble_kernel", nibble::sgemm_kernel_name());
  benchmark::AddCustomContext("cpu_features", nibble::cpu_features().summary());
  for (const char* var : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS"}) {
    const char* value = std::getenv(var);
    benchmark::AddCustomContext(var, value ? value : "(unset)");
  }
#if defined(NIBBLE_BENCH_OPENBLAS)
  benchmark::AddCustomContext("openblas", openblas_get_config());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
#endif

  // All nibble runs first, then all OpenBLAS runs, so the two libraries' idle worker threads
  // (which spin for a while before sleeping) do not interleave. Wall-clock time (UseRealTime),
  // since with 2 threads the CPU time of the main thread alone would flatter us.
  for (const Shape& s : kShapes) {
    for (int threads : kThreadCounts) {
      benchmark::RegisterBenchmark(bench_name("nibble", s, threads).c_str(), bm_nibble, s, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
#if defined(NIBBLE_BENCH_OPENBLAS)
  for (const Shape& s : kShapes) {
    for (int threads : kThreadCounts) {
      benchmark::RegisterBenchmark(bench_name("openblas", s, threads).c_str(), bm_openblas, s,
                                   threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
#endif

  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
#if defined(NIBBLE_BENCH_OPENBLAS)
  if (paired_rounds > 0) paired_comparison(paired_rounds);
#else
  (void)paired_rounds;  // nothing to pair with
#endif
  benchmark::Shutdown();
  return 0;
}
