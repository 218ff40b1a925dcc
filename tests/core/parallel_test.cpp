// detail::ParallelErrors (core/parallel.h): an exception inside an OpenMP region reaches the caller
// as an exception instead of std::terminate.
#include <gtest/gtest.h>

#include <atomic>
#include <new>

#include <omp.h>

#include "core/gemm.h"
#include "core/parallel.h"
#include "gradcheck.h"

namespace nibble {
namespace {

using testing::throws_error_containing;

TEST(ParallelErrors, BadAllocInsideARegionBecomesANibbleError) {
  // Without the trap, this throw would leave an OpenMP thread and abort the test program.
  detail::ParallelErrors errors("demo_op");
  std::atomic<int> ran{0};
#pragma omp parallel for num_threads(2) schedule(static)
  for (int i = 0; i < 64; ++i) {
    errors.run([&] {
      ran.fetch_add(1);
      if (i == 40) throw std::bad_alloc();
    });
  }
  EXPECT_GE(ran.load(), 1);
  EXPECT_TRUE(throws_error_containing([&] { errors.rethrow(); }, "demo_op: out of memory inside a parallel region"));
  EXPECT_NO_THROW(errors.rethrow()) << "rethrow raises the stored exception once";
}

TEST(ParallelErrors, OtherExceptionsKeepTheirType) {
  detail::ParallelErrors errors("demo_op");
#pragma omp parallel num_threads(2)
  errors.run([] { fail("inner_op", "bad argument"); });
  EXPECT_TRUE(throws_error_containing([&] { errors.rethrow(); }, "inner_op: bad argument"));
}

TEST(ParallelErrors, NothingToRethrowAfterSuccess) {
  detail::ParallelErrors errors("demo_op");
  std::atomic<int> ran{0};
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < 10; ++i) errors.run([&] { ran.fetch_add(1); });
  EXPECT_EQ(ran.load(), 10);
  EXPECT_NO_THROW(errors.rethrow());
}

}  // namespace
}  // namespace nibble
