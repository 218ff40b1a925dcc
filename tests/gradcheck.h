// The shared finite-difference gradient checker used by every op's test: a thin GoogleTest
// wrapper around the library's nibble::gradcheck (core/gradcheck.h, which states the formula).
//
//   EXPECT_TRUE(nibble::testing::gradcheck([](const auto& x) { return nibble::exp(x[0]); },
//                                          {Tensor::randn({3, 4})}));
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/gradcheck.h"
#include "core/ops.h"
#include "core/tensor.h"

namespace nibble::testing {

using GradCheckOptions = nibble::GradcheckOptions;
using TensorFn = nibble::GradcheckFn;

// Row-major multi-index of flat position `flat` in `shape` (for tests that walk every element).
inline std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

inline ::testing::AssertionResult gradcheck(const TensorFn& f, std::vector<Tensor> inputs,
                                            GradCheckOptions opt = {}) {
  opt.raise = false;
  const GradcheckResult r = nibble::gradcheck(f, std::move(inputs), opt);
  if (r.ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.message;
}

// The message of the nibble::Error that `fn` throws, "" when it throws none (other exceptions
// propagate): for tests that check several parts of one message.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Convenience: expects `fn` to throw nibble::Error whose message contains `needle`.
template <typename Fn>
::testing::AssertionResult throws_error_containing(Fn&& fn, const std::string& needle) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message \"" << what << "\" lacks \"" << needle << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-nibble exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace nibble::testing
