// The shared finite-difference gradient checker used by every op's test.
//
// For f: inputs -> tensor, we check the analytic gradient of the scalar
//     L(x) = sum_i f(x)_i * R_i        (R fixed random weights, so every output element matters)
// against central differences  (L(x + eps e_j) - L(x - eps e_j)) / (2 eps)  for every input
// element j. L is accumulated in double precision from f's float outputs, which keeps the
// reference's rounding noise far below the tolerance.
//
//   EXPECT_TRUE(nibble::testing::gradcheck([](const auto& x) { return nibble::exp(x[0]); },
//                                          {Tensor::randn({3, 4})}));
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/tensor.h"

namespace nibble::testing {

struct GradCheckOptions {
  double eps = 1e-3;   // finite-difference step
  double rtol = 1e-2;  // relative tolerance
  double atol = 1e-3;  // absolute tolerance
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Row-major multi-index of flat position `flat` in `shape`.
inline std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

inline double weighted_sum(const Tensor& out, const Tensor& weights) {
  const std::vector<float> o = out.to_vector();
  const std::vector<float> w = weights.to_vector();
  double total = 0.0;
  for (size_t i = 0; i < o.size(); ++i) total += static_cast<double>(o[i]) * w[i];
  return total;
}

// Inputs may be non-contiguous views (e.g. x.t()): they are perturbed in place through at().
inline ::testing::AssertionResult gradcheck(const TensorFn& f, std::vector<Tensor> inputs,
                                            GradCheckOptions opt = {}) {
  for (Tensor& x : inputs) {
    x.zero_grad();
    x.requires_grad_(true);
  }
  const Tensor out = f(inputs);
  const Tensor weights = Tensor::randn(out.shape());
  sum(mul(out, weights.detach())).backward();

  std::ostringstream failures;
  int bad = 0;
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    const Tensor analytic = x.grad();
    if (!analytic.defined()) {
      return ::testing::AssertionFailure() << "input " << k << " received no gradient at all";
    }
    for (int64_t j = 0; j < x.numel(); ++j) {
      const std::vector<int64_t> idx = unravel(j, x.shape());
      const float saved = x.at(idx);
      x.at(idx) = static_cast<float>(saved + opt.eps);
      const double plus = weighted_sum(f(inputs), weights);
      x.at(idx) = static_cast<float>(saved - opt.eps);
      const double minus = weighted_sum(f(inputs), weights);
      x.at(idx) = saved;
      const double numeric = (plus - minus) / (2.0 * opt.eps);
      const double got = analytic.at(idx);
      if (!(std::fabs(got - numeric) <= opt.atol + opt.rtol * std::max(std::fabs(got), std::fabs(numeric)))) {
        if (++bad <= 5) {
          failures << "\n  input " << k << " " << shape_str(x.shape()) << " at " << shape_str(idx)
                   << ": analytic " << got << " vs finite-difference " << numeric;
        }
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " gradient entries disagree" << failures.str();
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
