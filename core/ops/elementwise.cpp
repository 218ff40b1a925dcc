// Elementwise ops. Each op: forward with unary_map/binary_map, then its derivative right below.
// Binary ops broadcast, so their backward sums the gradient back to each input's shape (sum_to).
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/iterate.h"

namespace nibble {

using detail::binary_map;
using detail::unary_map;

namespace {
void check_defined(const Tensor& t, const char* op, const char* arg) {
  NIBBLE_CHECK(t.defined(), op, std::string("argument '") + arg + "' is an undefined tensor");
}
}  // namespace

// ---- binary ----------------------------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  check_defined(a, "add", "a");
  check_defined(b, "add", "b");
  Tensor out = binary_map(a, b, "add", [](float x, float y) { return x + y; });
  const Shape sa = a.shape(), sb = b.shape();
  // d(a+b)/da = 1, d(a+b)/db = 1
  return record("add", out, {a, b}, [sa, sb](const Tensor& g) {
    return grads{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_defined(a, "sub", "a");
  check_defined(b, "sub", "b");
  Tensor out = binary_map(a, b, "sub", [](float x, float y) { return x - y; });
  const Shape sa = a.shape(), sb = b.shape();
  // d(a-b)/da = 1, d(a-b)/db = -1
  return record("sub", out, {a, b}, [sa, sb](const Tensor& g) {
    return grads{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_defined(a, "mul", "a");
  check_defined(b, "mul", "b");
  Tensor out = binary_map(a, b, "mul", [](float x, float y) { return x * y; });
  // d(ab)/da = b, d(ab)/db = a
  return record("mul", out, {a, b}, [a, b](const Tensor& g) {
    return grads{sum_to(mul(g, b), a.shape()), sum_to(mul(g, a), b.shape())};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  check_defined(a, "div", "a");
  check_defined(b, "div", "b");
  Tensor out = binary_map(a, b, "div", [](float x, float y) { return x / y; });
  // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
  return record("div", out, {a, b}, [a, b](const Tensor& g) {
    const Tensor ga = div(g, b);
    return grads{sum_to(ga, a.shape()), sum_to(neg(mul(ga, div(a, b))), b.shape())};
  });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  check_defined(a, "maximum", "a");
  check_defined(b, "maximum", "b");
  Tensor out = binary_map(a, b, "maximum", [](float x, float y) { return x >= y ? x : y; });
  // The gradient flows to whichever input was chosen (a on ties).
  return record("maximum", out, {a, b}, [a, b](const Tensor& g) {
    const Tensor a_wins = binary_map(a, b, "maximum", [](float x, float y) { return x >= y ? 1.0f : 0.0f; });
    return grads{sum_to(mul(g, a_wins), a.shape()), sum_to(sub(g, mul(g, a_wins)), b.shape())};
  });
}

Tensor xlogy(const Tensor& x, const Tensor& y) {
  check_defined(x, "xlogy", "x");
  check_defined(y, "xlogy", "y");
  // 0 * log(y) is 0 for every y (log 0 = -inf would give 0 * -inf = NaN); a NaN y still shows.
  Tensor out = binary_map(x, y, "xlogy", [](float xi, float yi) {
    return (xi == 0.0f && !std::isnan(yi)) ? 0.0f : xi * std::log(yi);
  });
  // d(x ln y)/dx = ln y, taken as 0 at x == 0, y == 0 (the 0 log 0 = 0 convention, not a limit);
  // d(x ln y)/dy = x / y, exactly 0 where x == 0 because xlogy(0, y) = 0 for all y.
  return record("xlogy", out, {x, y}, [x, y](const Tensor& g) {
    const Tensor dx = binary_map(x, y, "xlogy", [](float xi, float yi) {
      return (xi == 0.0f && yi == 0.0f) ? 0.0f : std::log(yi);
    });
    const Tensor dy = binary_map(x, y, "xlogy", [](float xi, float yi) {
      return (xi == 0.0f && !std::isnan(yi)) ? 0.0f : xi / yi;
    });
    return grads{sum_to(mul(g, dx), x.shape()), sum_to(mul(g, dy), y.shape())};
  });
}

Tensor add(const Tensor& a, float b) {
  check_defined(a, "add", "a");
  Tensor out = unary_map(a, [b](float x) { return x + b; });
  return record("add_scalar", out, {a}, [](const Tensor& g) { return grads{g}; });
}

Tensor mul(const Tensor& a, float b) {
  check_defined(a, "mul", "a");
  Tensor out = unary_map(a, [b](float x) { return x * b; });
  return record("mul_scalar", out, {a}, [b](const Tensor& g) { return grads{mul(g, b)}; });
}

// ---- unary -------------------------------------------------------------------------------------
// For derivatives written in terms of the output y (exp, sqrt, tanh, sigmoid) we capture
// out.detach(): capturing `out` itself would make a reference cycle out -> Node -> out.

Tensor neg(const Tensor& a) {
  check_defined(a, "neg", "a");
  Tensor out = unary_map(a, [](float x) { return -x; });
  return record("neg", out, {a}, [](const Tensor& g) { return grads{neg(g)}; });
}

Tensor pow(const Tensor& a, float p) {
  check_defined(a, "pow", "a");
  Tensor out = unary_map(a, [p](float x) { return std::pow(x, p); });
  // d(x^p)/dx = p * x^(p-1)
  return record("pow", out, {a}, [a, p](const Tensor& g) {
    return grads{mul(g, unary_map(a, [p](float x) { return p * std::pow(x, p - 1.0f); }))};
  });
}

Tensor exp(const Tensor& a) {
  check_defined(a, "exp", "a");
  Tensor out = unary_map(a, [](float x) { return std::exp(x); });
  const Tensor y = out.detach();
  // d(e^x)/dx = e^x = y
  return record("exp", out, {a}, [y](const Tensor& g) { return grads{mul(g, y)}; }, /*saved=*/{y});
}

Tensor log(const Tensor& a) {
  check_defined(a, "log", "a");
  Tensor out = unary_map(a, [](float x) { return std::log(x); });
  // d(ln x)/dx = 1/x
  return record("log", out, {a}, [a](const Tensor& g) { return grads{div(g, a)}; });
}

Tensor log2(const Tensor& a) {
  check_defined(a, "log2", "a");
  Tensor out = unary_map(a, [](float x) { return std::log2(x); });
  // log2 x = ln x / ln 2  =>  d(log2 x)/dx = 1 / (x ln 2)
  constexpr float kInvLn2 = 1.44269504088896341f;
  return record("log2", out, {a}, [a](const Tensor& g) {
    return grads{binary_map(g, a, "log2", [](float gi, float x) { return gi * kInvLn2 / x; })};
  });
}

Tensor sqrt(const Tensor& a) {
  check_defined(a, "sqrt", "a");
  Tensor out = unary_map(a, [](float x) { return std::sqrt(x); });
  const Tensor y = out.detach();
  // d(sqrt x)/dx = 1 / (2 sqrt x) = 0.5 / y
  return record("sqrt", out, {a}, [y](const Tensor& g) {
    return grads{binary_map(g, y, "sqrt", [](float gi, float yi) { return 0.5f * gi / yi; })};
  }, /*saved=*/{y});
}

Tensor abs(const Tensor& a) {
  check_defined(a, "abs", "a");
  Tensor out = unary_map(a, [](float x) { return std::fabs(x); });
  // d|x|/dx = sign(x), and we take 0 at x = 0 (the subgradient PyTorch uses); NaN stays NaN.
  return record("abs", out, {a}, [a](const Tensor& g) {
    return grads{binary_map(g, a, "abs", [](float gi, float x) {
      return x > 0.0f ? gi : (x < 0.0f ? -gi : (x == 0.0f ? 0.0f : x));
    })};
  });
}

Tensor clamp(const Tensor& a, float low, float high) {
  check_defined(a, "clamp", "a");
  NIBBLE_CHECK(low <= high, "clamp", "low (" + std::to_string(low) + ") > high (" + std::to_string(high) + ")");
  Tensor out = unary_map(a, [low, high](float x) { return x < low ? low : (x > high ? high : x); });
  // Gradient 1 where the input passed through unchanged (low <= x <= high, PyTorch's rule), else 0.
  return record("clamp", out, {a}, [a, low, high](const Tensor& g) {
    return grads{binary_map(g, a, "clamp", [low, high](float gi, float x) {
      return (x >= low && x <= high) ? gi : 0.0f;
    })};
  });
}

Tensor relu(const Tensor& a) {
  check_defined(a, "relu", "a");
  Tensor out = unary_map(a, [](float x) { return x > 0.0f ? x : 0.0f; });
  // d relu/dx = 1 for x > 0, else 0
  return record("relu", out, {a}, [a](const Tensor& g) {
    return grads{binary_map(g, a, "relu", [](float gi, float x) { return x > 0.0f ? gi : 0.0f; })};
  });
}

Tensor leaky_relu(const Tensor& a, float slope) {
  check_defined(a, "leaky_relu", "a");
  Tensor out = unary_map(a, [slope](float x) { return x > 0.0f ? x : slope * x; });
  return record("leaky_relu", out, {a}, [a, slope](const Tensor& g) {
    return grads{binary_map(g, a, "leaky_relu",
                            [slope](float gi, float x) { return x > 0.0f ? gi : slope * gi; })};
  });
}

Tensor gelu(const Tensor& a) {
  check_defined(a, "gelu", "a");
  constexpr float kInvSqrt2 = 0.70710678118654752f;
  constexpr float kInvSqrt2Pi = 0.39894228040143268f;
  Tensor out = unary_map(a, [](float x) { return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2)); });
  // gelu(x) = x * Phi(x)  =>  gelu'(x) = Phi(x) + x * phi(x), phi the standard normal density
  return record("gelu", out, {a}, [a](const Tensor& g) {
    return grads{binary_map(g, a, "gelu", [](float gi, float x) {
      const float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
      const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
      return gi * (cdf + x * pdf);
    })};
  });
}

Tensor tanh(const Tensor& a) {
  check_defined(a, "tanh", "a");
  Tensor out = unary_map(a, [](float x) { return std::tanh(x); });
  const Tensor y = out.detach();
  // d tanh/dx = 1 - tanh^2
  return record("tanh", out, {a}, [y](const Tensor& g) {
    return grads{binary_map(g, y, "tanh", [](float gi, float yi) { return gi * (1.0f - yi * yi); })};
  }, /*saved=*/{y});
}

Tensor sigmoid(const Tensor& a) {
  check_defined(a, "sigmoid", "a");
  // Two branches keep exp() from overflowing for large |x|.
  Tensor out = unary_map(a, [](float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
    const float e = std::exp(x);
    return e / (1.0f + e);
  });
  const Tensor y = out.detach();
  // d sigmoid/dx = y (1 - y)
  return record("sigmoid", out, {a}, [y](const Tensor& g) {
    return grads{binary_map(g, y, "sigmoid", [](float gi, float yi) { return gi * yi * (1.0f - yi); })};
  }, /*saved=*/{y});
}

// ---- piecewise constant: round, floor, sign ----------------------------------------------------
// Flat between jumps, so d/dx = 0 wherever the derivative exists; backward returns zeros (PyTorch
// does the same). A straight-through estimator replaces this zero with g on purpose (module 04).

namespace {
Tensor with_zero_gradient(const char* name, Tensor out, const Tensor& a) {
  return record(name, std::move(out), {a},
                [](const Tensor& g) { return grads{Tensor::zeros(g.shape())}; });
}
}  // namespace

Tensor round(const Tensor& a) {
  check_defined(a, "round", "a");
  // nearbyint in the default rounding mode rounds exact halves to even (2.5 -> 2), like
  // torch.round; std::round would send halves away from zero (2.5 -> 3).
  return with_zero_gradient("round", unary_map(a, [](float x) { return std::nearbyint(x); }), a);
}

Tensor floor(const Tensor& a) {
  check_defined(a, "floor", "a");
  return with_zero_gradient("floor", unary_map(a, [](float x) { return std::floor(x); }), a);
}

Tensor sign(const Tensor& a) {
  check_defined(a, "sign", "a");
  Tensor out = unary_map(
      a, [](float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : (x == 0.0f ? 0.0f : x)); });
  return with_zero_gradient("sign", std::move(out), a);
}

// ---- selection ---------------------------------------------------------------------------------

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_defined(condition, "where", "condition");
  check_defined(a, "where", "a");
  check_defined(b, "where", "b");
  const Shape shape = detail::broadcast_shapes(
      detail::broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  const Tensor c = condition.detach().expand(shape);
  // pick(c, x, y): x where c != 0, else y — written once, used for the forward and both gradients.
  auto pick = [](const Tensor& cond, const Tensor& x, const Tensor& y) {
    const Tensor chosen_x = binary_map(cond, x, "where", [](float ci, float xi) { return ci != 0.0f ? xi : 0.0f; });
    const Tensor chosen_y = binary_map(cond, y, "where", [](float ci, float yi) { return ci != 0.0f ? 0.0f : yi; });
    return binary_map(chosen_x, chosen_y, "where", [](float u, float v) { return u + v; });
  };
  Tensor out = pick(c, a.detach().expand(shape), b.detach().expand(shape));
  const Shape sa = a.shape(), sb = b.shape();
  return record("where", out, {a, b}, [c, sa, sb, pick](const Tensor& g) {
    const Tensor zero = Tensor::zeros({});
    return grads{sum_to(pick(c, g, zero.expand(g.shape())), sa),
                 sum_to(pick(c, zero.expand(g.shape()), g), sb)};
  });
}

Tensor where(const Tensor& condition, const Tensor& a, float b) {
  return where(condition, a, Tensor::scalar(b));
}
Tensor where(const Tensor& condition, float a, const Tensor& b) {
  return where(condition, Tensor::scalar(a), b);
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, float value) {
  return where(mask, Tensor::scalar(value), a);
}

}  // namespace nibble
