// Exceptions and OpenMP: an exception that leaves a parallel region (or one of its iterations)
// calls std::terminate — the whole program, or the notebook kernel, dies. Code that may throw
// inside a region (an allocation, a kernel that checks its arguments) runs through a
// ParallelErrors: it catches on the thread, keeps the first exception, and rethrow() raises it
// after the region, with std::bad_alloc turned into a nibble::Error naming the op.
//
//   detail::ParallelErrors errors("conv2d");
//   #pragma omp parallel for
//   for (int64_t n = 0; n < N; ++n) errors.run([&] { ... may throw ... });
//   errors.rethrow();
//
// Cheaper still, where possible: allocate per-thread buffers before the region (conv2d does).
#pragma once

#include <atomic>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <utility>

#include "core/error.h"

namespace nibble::detail {

class ParallelErrors {
 public:
  explicit ParallelErrors(std::string op) : op_(std::move(op)) {}

  // Runs fn(); an exception is stored instead of leaving the calling thread. After a failure the
  // remaining iterations are skipped (the region still has to run its loop to the end).
  template <typename Fn>
  void run(Fn&& fn) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      fn();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }

  // Call after the region, on the thread that started it.
  void rethrow() {
    if (!first_) return;
    std::exception_ptr e = std::exchange(first_, nullptr);
    try {
      std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
      fail(op_, "out of memory inside a parallel region", "try a smaller batch or fewer threads");
    }
  }

 private:
  std::string op_;
  std::mutex mutex_;
  std::exception_ptr first_;
  std::atomic<bool> failed_{false};  // lets other threads skip their remaining work
};

}  // namespace nibble::detail
