// nibble::gradcheck — compares an op's backward with finite differences, for every input element.
// The library's own op tests use it (through tests/gradcheck.h); students and notebooks use it to
// check the ops they write with apply_function (core/autograd.h).
//
// For f: inputs -> tensor it checks the analytic gradient of the scalar
//     L(x) = sum_i f(x)_i * R_i        (R fixed random weights, so every output element matters)
// against central differences  (L(x + eps e_j) - L(x - eps e_j)) / (2 eps)  for every element j
// of every input. L is summed in double precision from f's float outputs. An entry passes when
//     |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
//
//   auto result = nibble::gradcheck([](const std::vector<Tensor>& x) { return nibble::exp(x[0]); },
//                                   {Tensor::randn({3, 4})});
//   if (!result) std::cout << result.message;   // names input, element, analytic vs numeric
//
// Limits: float32 forward, so keep eps ~1e-3 and inputs away from kinks (relu at 0, round at .5).
// The inputs must be leaves; they are made requires_grad, perturbed in place and restored (their
// values end unchanged, their storage version bumped), and their .grad is overwritten. Draws the
// random weights R from the global generator (seed with manual_seed for repeatable checks).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nibble {

struct GradcheckOptions {
  double eps = 1e-3;   // finite-difference step
  double rtol = 1e-2;  // relative tolerance
  double atol = 1e-3;  // absolute tolerance
  bool raise = false;  // throw nibble::Error with the message instead of returning a failure
};

struct GradcheckResult {
  bool ok = true;
  int64_t mismatches = 0;  // entries outside the tolerance
  int64_t checked = 0;     // entries compared
  std::string message;     // empty when ok, else "gradcheck: ..." with up to 5 failing entries
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;

GradcheckResult gradcheck(const GradcheckFn& fn, std::vector<Tensor> inputs,
                          const GradcheckOptions& options = {});

// Shorthand: step eps, and tol as both the relative and the absolute tolerance.
GradcheckResult gradcheck(const GradcheckFn& fn, std::vector<Tensor> inputs, double eps, double tol);

}  // namespace nibble
