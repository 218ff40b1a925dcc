// The finite-difference checker (see core/gradcheck.h for the formula and its limits).
#include "core/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"

namespace nibble {

namespace {

// Row-major multi-index of flat position `flat` in `shape`.
std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

double weighted_sum(const Tensor& out, const Tensor& weights) {
  const std::vector<float> o = out.to_vector();
  const std::vector<float> w = weights.to_vector();
  double total = 0.0;
  for (size_t i = 0; i < o.size(); ++i) total += static_cast<double>(o[i]) * w[i];
  return total;
}

GradcheckResult failure(const std::string& message, const GradcheckOptions& options) {
  if (options.raise) fail("gradcheck", message);
  GradcheckResult r;
  r.ok = false;
  r.message = "gradcheck: " + message;
  return r;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, std::vector<Tensor> inputs,
                          const GradcheckOptions& options) {
  NIBBLE_CHECK(static_cast<bool>(fn), "gradcheck", "no function to check");
  NIBBLE_CHECK(options.eps > 0, "gradcheck", "eps must be positive, got " + std::to_string(options.eps));
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    NIBBLE_CHECK(x.defined() && x.is_leaf(), "gradcheck",
          "input " + std::to_string(k) + " is " + (x.defined() ? "not a leaf" : "undefined"),
          "pass leaf tensors (made by a factory, or t.detach())");
    x.zero_grad();
    x.requires_grad_(true);
  }
  const Tensor out = fn(inputs);
  NIBBLE_CHECK(out.defined(), "gradcheck", "the function returned an undefined tensor");
  if (!out.requires_grad()) {
    return failure("the output does not require grad: no input reaches it through the tape", options);
  }
  const Tensor weights = Tensor::randn(out.shape());
  sum(mul(out, weights.detach())).backward();

  std::ostringstream failures;
  GradcheckResult result;
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    const Tensor analytic = x.grad();
    if (!analytic.defined()) {
      return failure("input " + std::to_string(k) + " " + x.shape_str() + " received no gradient at all",
                     options);
    }
    for (int64_t j = 0; j < x.numel(); ++j) {
      const std::vector<int64_t> idx = unravel(j, x.shape());
      const float saved = x.at(idx);
      x.at(idx) = static_cast<float>(saved + options.eps);
      const double plus = weighted_sum(fn(inputs), weights);
      x.at(idx) = static_cast<float>(saved - options.eps);
      const double minus = weighted_sum(fn(inputs), weights);
      x.at(idx) = saved;
      const double numeric = (plus - minus) / (2.0 * options.eps);
      const double got = analytic.at(idx);
      ++result.checked;
      const double bound = options.atol + options.rtol * std::max(std::fabs(got), std::fabs(numeric));
      if (!(std::fabs(got - numeric) <= bound)) {  // written so that NaN fails too
        if (++result.mismatches <= 5) {
          failures << "\n  input " << k << " " << shape_str(x.shape()) << " at " << shape_str(idx)
                   << ": analytic " << got << " vs finite-difference " << numeric;
        }
      }
    }
  }
  if (result.mismatches == 0) return result;
  std::ostringstream message;
  message << result.mismatches << " of " << result.checked << " gradient entries disagree (eps "
          << options.eps << ", rtol " << options.rtol << ", atol " << options.atol << ")"
          << failures.str();
  GradcheckResult bad = failure(message.str(), options);
  bad.mismatches = result.mismatches;
  bad.checked = result.checked;
  return bad;
}

GradcheckResult gradcheck(const GradcheckFn& fn, std::vector<Tensor> inputs, double eps, double tol) {
  GradcheckOptions options;
  options.eps = eps;
  options.rtol = tol;
  options.atol = tol;
  return gradcheck(fn, std::move(inputs), options);
}

}  // namespace nibble
