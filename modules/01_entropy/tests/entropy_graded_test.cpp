// Module 01 — graded tests for info_theory/entropy.h (68 of the module's 100 points; Huffman: 32).
// Expected values are worked out by hand in the comments or recomputed here with a second formula
// (in double precision), never copied from a solution's output. Inputs are deliberately lopsided
// (non-uniform, asymmetric tables, rows with different entropies) so that a formula that is only
// right on symmetric inputs still loses points. Run them with `nibble test 01`.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/io/text.h"
#include "core/ops.h"
#include "gradcheck.h"
#include "info_theory/entropy.h"
#include "modules/graded.h"

namespace {

using nibble::Tensor;
using nibble::grading::hint;
using Dist = std::vector<double>;
using Joint = std::vector<std::vector<double>>;

const double kLog2of3 = std::log2(3.0);  // 1.584962500721156...
const double kLn2 = std::log(2.0);

std::string show(const Dist& p) {
  std::string s = "{";
  for (size_t i = 0; i < p.size(); ++i) s += (i ? ", " : "") + std::to_string(p[i]);
  return s + "}";
}

// The test's own entropy, written with natural logs and a division (a second formula, so it does
// not share a mistake with a log2 implementation): H = sum p ln(1/p) / ln 2.
double ref_entropy_bits(const Dist& p) {
  double h = 0.0;
  for (const double x : p)
    if (x > 0.0) h += x * std::log(1.0 / x);
  return h / kLn2;
}

// Cover & Thomas, Elements of Information Theory, example 2.2.1. Rows are our X, columns our Y.
// Row sums (P of rows): 1/4 each -> H(rows) = 2. Column sums: 1/2, 1/4, 1/8, 1/8 -> H(cols) = 7/4.
// Cells: 1/4 once, 1/8 twice, 1/16 six times, 1/32 four times, 0 three times:
//   H(X,Y) = 1/4*2 + 2*(1/8*3) + 6*(1/16*4) + 4*(1/32*5) = 1/2 + 3/4 + 3/2 + 5/8 = 27/8.
const Joint kCoverThomas = {{1.0 / 8, 1.0 / 16, 1.0 / 32, 1.0 / 32},
                            {1.0 / 16, 1.0 / 8, 1.0 / 32, 1.0 / 32},
                            {1.0 / 16, 1.0 / 16, 1.0 / 16, 1.0 / 16},
                            {1.0 / 4, 0.0, 0.0, 0.0}};

// A lopsided 2 x 3 table (rows X, columns Y) with unequal row sums and an empty cell:
//   row 0: 1/2, 1/4, 0     -> P(X=0) = 3/4, Y | X=0 ~ (2/3, 1/3, 0):  H = log2 3 - 2/3
//   row 1: 1/8, 0, 1/8     -> P(X=1) = 1/4, Y | X=1 ~ (1/2, 0, 1/2):  H = 1
//   columns: 5/8, 1/4, 1/8.
// H(X,Y) = 1/2*1 + 1/4*2 + 2*(1/8*3) = 7/4.
// H(Y|X) = sum_x P(x) H(Y | X=x) = 3/4 (log2 3 - 2/3) + 1/4 = 3/4 log2 3 - 1/4  (≈ 0.93872)
// H(X)   = 2 - 3/4 log2 3 (≈ 0.81128).
const Joint kLopsided = {{0.5, 0.25, 0.0}, {0.125, 0.0, 0.125}};

Joint transposed(const Joint& j) {
  Joint t(j[0].size(), std::vector<double>(j.size()));
  for (size_t x = 0; x < j.size(); ++x)
    for (size_t y = 0; y < j[0].size(); ++y) t[y][x] = j[x][y];
  return t;
}

Dist column_sums(const Joint& j) {
  Dist c(j[0].size(), 0.0);
  for (const auto& row : j)
    for (size_t y = 0; y < row.size(); ++y) c[y] += row[y];
  return c;
}

Dist row_sums(const Joint& j) {
  Dist r;
  for (const auto& row : j) {
    double s = 0.0;
    for (const double v : row) s += v;
    r.push_back(s);
  }
  return r;
}

Dist flatten(const Joint& j) {
  Dist f;
  for (const auto& row : j) f.insert(f.end(), row.begin(), row.end());
  return f;
}

// Calls fn, expects a nibble::Error (NOT a NotImplemented) whose message names `function`.
template <typename Fn>
::testing::AssertionResult rejects(Fn&& fn, const std::string& function, const std::string& input) {
  try {
    fn();
  } catch (const nibble::NotImplemented& e) {
    return ::testing::AssertionFailure()
           << "on " << input << ": still a stub: " << e.what()
           << hint("write the function first; the input checks before it are given");
  } catch (const nibble::Error& e) {
    const std::string what = e.what();
    if (what.find(function) == std::string::npos)
      return ::testing::AssertionFailure()
             << "on " << input << ": the message \"" << what << "\" does not name " << function
             << hint("keep the given checks at the top of the function");
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure()
           << "on " << input << ": threw a non-nibble exception: " << e.what()
           << hint("report bad input with nibble::check / nibble::fail");
  }
  return ::testing::AssertionFailure() << "on " << input << ": did not throw"
                                       << hint("the header promises an error for this input");
}

// A float tensor of `shape` whose slices along `axis` are distinct, non-uniform distributions
// (weights 1, 2, 3, ... shuffled by a fixed pattern, some slices with an exact zero).
Tensor lopsided_probabilities(const nibble::Shape& shape, int64_t axis,
                              std::vector<double>* values) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t n = shape[static_cast<size_t>(axis)];
  std::vector<double> v(static_cast<size_t>(outer * n * inner));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double total = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t slice = o * inner + i;
        double w = static_cast<double>((k * 7 + slice * 3) % (n + 2) + 1);
        if (slice % 3 == 1 && k == (slice % n)) w = 0.0;  // an exact zero in some slices
        v[static_cast<size_t>((o * n + k) * inner + i)] = w;
        total += w;
      }
      for (int64_t k = 0; k < n; ++k) v[static_cast<size_t>((o * n + k) * inner + i)] /= total;
    }
  std::vector<float> f(v.begin(), v.end());
  for (size_t i = 0; i < v.size(); ++i) v[i] = f[i];  // the reference sees the float values
  *values = v;
  return Tensor::from_vector(f, shape);
}

}  // namespace

GRADED_TEST(EntropyGraded, SelfInformation, 3) {
  // -log2(1/8) = 3, -log2(1/2) = 1, -log2(1) = 0, and an impossible outcome is infinitely
  // surprising.
  EXPECT_NEAR(nibble::self_information_bits(0.125), 3.0, 1e-12)
      << "input p = 0.125" << hint("I(p) = -log2(p); one in eight takes three yes/no questions");
  EXPECT_NEAR(nibble::self_information_bits(0.5), 1.0, 1e-12)
      << "input p = 0.5" << hint("I(p) = -log2(p)");
  EXPECT_NEAR(nibble::self_information_bits(1.0), 0.0, 1e-12)
      << "input p = 1" << hint("a certain outcome carries no information");
  // Not powers of 1/2: -log2(1/3) = log2 3 ≈ 1.585, -log2(0.3) = ln(10/3)/ln 2 ≈ 1.737, -log2(0.9)
  // ≈ 0.152.
  EXPECT_NEAR(nibble::self_information_bits(1.0 / 3), kLog2of3, 1e-12)
      << "input p = 1/3" << hint("return the exact -log2(p), not a whole number of questions");
  EXPECT_NEAR(nibble::self_information_bits(0.3), std::log(10.0 / 3) / kLn2, 1e-12)
      << "input p = 0.3" << hint("I(p) = -log2(p), exactly (not rounded)");
  EXPECT_NEAR(nibble::self_information_bits(0.9), std::log(10.0 / 9) / kLn2, 1e-12)
      << "input p = 0.9" << hint("I(p) = -log2 p is positive for p < 1");
  EXPECT_EQ(nibble::self_information_bits(0.0), std::numeric_limits<double>::infinity())
      << "input p = 0"
      << hint("return +infinity for p == 0 (std::numeric_limits<double>::infinity())");
}

GRADED_TEST(EntropyGraded, ShannonEntropyOfAFairCoin, 2) {
  const Dist p = {0.5, 0.5};
  EXPECT_NEAR(nibble::entropy_bits(p), 1.0, 1e-12)
      << "input " << show(p)
      << hint("H = -sum p log2 p = -2 * 0.5 * log2(0.5) = 1 bit; use log2, not ln");
}

GRADED_TEST(EntropyGraded, WorkedExampleBitsAndNats, 5) {
  // H(1/2, 1/4, 1/4) = 1/2*1 + 1/4*2 + 1/4*2 = 1.5 bits = 1.5 ln 2 nats.
  const Dist p = {0.5, 0.25, 0.25};
  EXPECT_NEAR(nibble::entropy_bits(p), 1.5, 1e-12)
      << "input " << show(p) << hint("each p_i contributes p_i * log2(1/p_i): 0.5 + 0.5 + 0.5");
  EXPECT_NEAR(nibble::entropy_nats(p), 1.5 * kLn2, 1e-12)
      << "input " << show(p) << hint("nats use the natural log: H_nats = H_bits * ln 2 ≈ 1.0397");
  const Dist quarters = {0.25, 0.25, 0.25, 0.25};
  EXPECT_NEAR(nibble::entropy_bits(quarters), 2.0, 1e-12)
      << "input " << show(quarters) << hint("four equally likely outcomes: 2 bits");
  // Not dyadic, not sorted: {0.3, 0.1, 0.4, 0.2}; reference = sum p ln(1/p) (nats) and / ln 2
  // (bits).
  const Dist r = {0.3, 0.1, 0.4, 0.2};
  EXPECT_NEAR(nibble::entropy_bits(r), ref_entropy_bits(r), 1e-12)
      << "input " << show(r) << " (≈ 1.8464 bits)"
      << hint("sum over EVERY entry: -sum p_i log2 p_i");
  EXPECT_NEAR(nibble::entropy_nats(r), ref_entropy_bits(r) * kLn2, 1e-12)
      << "input " << show(r) << " (≈ 1.2799 nats)" << hint("nats: -sum p_i ln p_i (std::log)");
}

GRADED_TEST(EntropyGraded, ZeroProbabilitiesAddNothing, 3) {
  const Dist p = {0.5, 0.0, 0.5, 0.0};
  const double h = nibble::entropy_bits(p);
  EXPECT_FALSE(std::isnan(h))
      << "input " << show(p) << " gave NaN"
      << hint("0 * log2(0) is NaN in floating point: skip zero entries (0 log 0 = 0)");
  EXPECT_NEAR(h, 1.0, 1e-12) << "input " << show(p)
                             << hint("the two zeros add nothing: H = H(1/2, 1/2) = 1");
  const Dist certain = {0.0, 1.0, 0.0};
  EXPECT_NEAR(nibble::entropy_bits(certain), 0.0, 1e-12)
      << "input " << show(certain) << hint("a certain outcome has zero entropy");
  const double hn = nibble::entropy_nats(certain);
  EXPECT_FALSE(std::isnan(hn)) << "entropy_nats" << show(certain) << " gave NaN"
                               << hint("skip zero entries in entropy_nats too");
  EXPECT_NEAR(hn, 0.0, 1e-12) << "entropy_nats input " << show(certain)
                              << hint("a certain outcome has zero entropy");
  // {0.6, 0, 0.4}: zeros in the middle, unequal weights: 0.6 log2(1/0.6) + 0.4 log2(1/0.4) ≈
  // 0.97095.
  const Dist mixed = {0.6, 0.0, 0.4};
  EXPECT_NEAR(nibble::entropy_bits(mixed), ref_entropy_bits(mixed), 1e-12)
      << "input " << show(mixed) << hint("a zero adds nothing; the other entries count as usual");
  EXPECT_NEAR(nibble::entropy_nats(mixed), ref_entropy_bits(mixed) * kLn2, 1e-12)
      << "entropy_nats " << show(mixed) << hint("-sum p ln p over the non-zero entries");
}

GRADED_TEST(EntropyGraded, UniformOverNIsLog2N, 2) {
  for (int n = 1; n <= 64; ++n) {
    const Dist p(static_cast<size_t>(n), 1.0 / n);
    EXPECT_NEAR(nibble::entropy_bits(p), std::log2(static_cast<double>(n)), 1e-9)
        << "input: uniform over n = " << n
        << hint("the uniform distribution has the maximum entropy, log2 n");
  }
}

GRADED_TEST(EntropyGraded, TensorEntropyAlongAxis, 5) {
  // rows: a fair coin (1 bit) and a certain outcome (0 bits).
  const Tensor p = Tensor::from_vector({0.5f, 0.5f, 1.0f, 0.0f}, {2, 2});
  const Tensor h = nibble::entropy_bits(p, -1);
  ASSERT_EQ(h.shape(), (nibble::Shape{2}))
      << "input [[0.5, 0.5], [1, 0]] along axis -1 gave shape " << h.shape_str()
      << hint("sum over `axis` and drop it: [2, 2] -> [2]");
  EXPECT_NEAR(h.at({0}), 1.0f, 1e-5f) << "row [0.5, 0.5]" << hint("bits: log2 x = ln x / ln 2");
  EXPECT_FALSE(std::isnan(h.at({1})))
      << "row [1, 0] gave NaN" << hint("0 log 0 = 0: clamp before log");
  EXPECT_NEAR(h.at({1}), 0.0f, 1e-5f) << "row [1, 0]" << hint("a certain outcome has zero entropy");
  // Uniform rows over 4 -> 2 bits each.
  const Tensor u = nibble::entropy_bits(Tensor::full({3, 4}, 0.25f), 1);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_NEAR(u.at({i}), 2.0f, 1e-5f)
        << "uniform row " << i << hint("SUM over the axis, not the mean");

  // A [2, 3, 4] tensor whose slices along each axis in turn are distinct, lopsided distributions;
  // the reference loops over the slices in double precision.
  const nibble::Shape shape = {2, 3, 4};
  for (const int64_t axis : {0, 1, 2}) {
    std::vector<double> v;
    const Tensor q = lopsided_probabilities(shape, axis, &v);
    for (const int64_t arg : {axis, axis - 3}) {  // the same axis, counted from the end
      const Tensor hq = nibble::entropy_bits(q, arg);
      nibble::Shape expected_shape;
      for (int64_t d = 0; d < 3; ++d)
        if (d != axis) expected_shape.push_back(shape[static_cast<size_t>(d)]);
      ASSERT_EQ(hq.shape(), expected_shape)
          << "[2, 3, 4] along axis " << arg << " gave shape " << hq.shape_str()
          << hint("reduce exactly the axis you are given (negative axes count from the end)");
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
      for (int64_t d = axis + 1; d < 3; ++d) inner *= shape[static_cast<size_t>(d)];
      const int64_t n = shape[static_cast<size_t>(axis)];
      const std::vector<float> got = hq.contiguous().to_vector();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          Dist slice;
          for (int64_t k = 0; k < n; ++k)
            slice.push_back(v[static_cast<size_t>((o * n + k) * inner + i)]);
          EXPECT_NEAR(got[static_cast<size_t>(o * inner + i)], ref_entropy_bits(slice), 2e-5)
              << "[2, 3, 4] along axis " << arg << ", slice " << show(slice)
              << hint("-(p * log2 p) summed along `axis`; every slice is its own distribution");
        }
    }
  }
}

GRADED_TEST(EntropyGraded, TensorEntropyIsDifferentiable, 5) {
  // dH/dp_i = -(log2 p_i + 1/ln 2): the header promises a gradient, so the result must be on the
  // tape.
  const std::vector<float> values = {0.1f, 0.2f, 0.3f, 0.4f, 0.7f, 0.05f, 0.25f, 0.0f};
  Tensor p = Tensor::from_vector(values, {2, 4});
  p.requires_grad_(true);
  const Tensor h = nibble::entropy_bits(p, 1);
  ASSERT_TRUE(h.requires_grad())
      << "entropy_bits(p, 1) of a p that requires grad is not on the autograd tape"
      << hint(
             "build the result from nibble ops (clamp, log, mul, sum, neg); to_vector/from_vector "
             "cuts the gradient");
  const Tensor weights = Tensor::from_vector({1.0f, -2.0f}, {2});
  nibble::sum(nibble::mul(h, weights)).backward();
  const Tensor g = p.grad();
  ASSERT_TRUE(g.defined()) << "p received no gradient" << hint("use nibble ops only, no to_vector");
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 4; ++c) {
      const double pv = values[static_cast<size_t>(r * 4 + c)];
      const double w = r == 0 ? 1.0 : -2.0;
      const float got = g.at({r, c});
      if (pv == 0.0) {
        EXPECT_TRUE(std::isfinite(got))
            << "gradient at p = 0 is " << got
            << hint("take log of clamp(p, tiny, big) so the gradient stays finite");
        continue;
      }
      const double expected = -w * (std::log(pv) / kLn2 + 1.0 / kLn2);
      EXPECT_NEAR(got, expected, 1e-4 * std::max(1.0, std::fabs(expected)))
          << "dH/dp at [" << r << ", " << c << "], p = " << pv << ", row weight " << w
          << hint(
                 "d/dp (-p log2 p) = -(log2 p + 1/ln 2): the log must stay on the tape too (no "
                 "detach)");
    }
  // Finite differences through a softmax (its rows always sum to 1), along both axes.
  nibble::manual_seed(11);
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) {
        return nibble::entropy_bits(nibble::softmax(x[0], 1), 1);
      },
      {Tensor::randn({3, 5})}))
      << "gradient of entropy_bits(softmax(x, 1), 1) w.r.t. x"
      << hint("differentiable, from nibble ops");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) {
        return nibble::entropy_bits(nibble::softmax(x[0], 0), 0);
      },
      {Tensor::randn({4, 3})}))
      << "gradient of entropy_bits(softmax(x, 0), 0) w.r.t. x"
      << hint("differentiable along any axis");
}

GRADED_TEST(EntropyGraded, JointAndConditionalEntropy, 6) {
  EXPECT_NEAR(nibble::joint_entropy_bits(kCoverThomas), 27.0 / 8, 1e-12)
      << "input: Cover & Thomas example 2.2.1"
      << hint("treat each cell as one outcome of the pair (X, Y)");
  // H(Y|X) with X = rows: H(X,Y) - H(rows) = 27/8 - 2 = 11/8.
  EXPECT_NEAR(nibble::conditional_entropy_bits(kCoverThomas), 11.0 / 8, 1e-12)
      << "input: Cover & Thomas table, rows = X"
      << hint("H(Y|X) = H(X,Y) - H(X) with P(x) the ROW sums (13/8 means you summed columns)");
  // Transposed: rows are the other variable: 27/8 - 7/4 = 13/8.
  EXPECT_NEAR(nibble::conditional_entropy_bits(transposed(kCoverThomas)), 13.0 / 8, 1e-12)
      << "input: the transposed table" << hint("conditioning is not symmetric: H(Y|X) != H(X|Y)");
  const Joint copy = {{0.5, 0.0}, {0.0, 0.5}};  // Y is a copy of X
  EXPECT_NEAR(nibble::conditional_entropy_bits(copy), 0.0, 1e-12)
      << "input {{0.5, 0}, {0, 0.5}}" << hint("knowing X tells Y exactly: nothing left");
  const Joint coins = {{0.25, 0.25}, {0.25, 0.25}};
  EXPECT_NEAR(nibble::joint_entropy_bits(coins), 2.0, 1e-12)
      << "two independent fair coins" << hint("four equally likely cells: 2 bits");
  EXPECT_NEAR(nibble::conditional_entropy_bits(coins), 1.0, 1e-12)
      << "two independent fair coins" << hint("X says nothing about Y: H(Y|X) = H(Y) = 1");

  // The lopsided 2 x 3 table (see kLopsided): H(X,Y) = 7/4, H(Y|X) = 3/4 log2 3 - 1/4.
  EXPECT_NEAR(nibble::joint_entropy_bits(kLopsided), 7.0 / 4, 1e-12)
      << "input {{1/2, 1/4, 0}, {1/8, 0, 1/8}}"
      << hint("every cell is one outcome; skip the empty ones");
  EXPECT_NEAR(nibble::conditional_entropy_bits(kLopsided), 0.75 * kLog2of3 - 0.25, 1e-12)
      << "input {{1/2, 1/4, 0}, {1/8, 0, 1/8}}, rows = X with P(X) = (3/4, 1/4)"
      << hint("H(Y|X) = sum_x P(x) H(Y | X=x): rows weigh by their probability, not equally");
  // H(X|Y) by the second formula sum_y P(y) H(X | Y=y) on the transposed table (rows = Y).
  const Dist py = column_sums(kLopsided);
  double h_x_given_y = 0.0;
  for (size_t y = 0; y < py.size(); ++y) {
    Dist cond;
    for (const auto& row : kLopsided) cond.push_back(row[y] / py[y]);
    h_x_given_y += py[y] * ref_entropy_bits(cond);
  }
  EXPECT_NEAR(nibble::conditional_entropy_bits(transposed(kLopsided)), h_x_given_y, 1e-12)
      << "input: the transposed lopsided table (rows = Y)"
      << hint("P(x) is the sum of ROW x of the table you get");
}

GRADED_TEST(EntropyGraded, CrossEntropyAndKLByHand, 6) {
  const Dist p = {0.5, 0.5}, q = {0.25, 0.75};
  // H(p,q) = 0.5*log2(4) + 0.5*log2(4/3) = 1 + 0.5*(2 - log2 3) = 2 - 0.5 log2 3 ≈ 1.2075187
  EXPECT_NEAR(nibble::cross_entropy_bits(p, q), 2.0 - 0.5 * kLog2of3, 1e-12)
      << "input p = " << show(p) << ", q = " << show(q) << hint("H(p,q) = -sum p_i log2 q_i");
  // H(q,p) = -(0.25 + 0.75) log2(0.5) = 1
  EXPECT_NEAR(nibble::cross_entropy_bits(q, p), 1.0, 1e-12)
      << "input p = " << show(q) << ", q = " << show(p) << hint("p weights, q is inside the log");
  // KL(p‖q) = 0.5 log2(0.5/0.25) + 0.5 log2(0.5/0.75) = 0.5 + 0.5 (1 - log2 3) = 1 - 0.5 log2 3
  EXPECT_NEAR(nibble::kl_divergence(p, q), 1.0 - 0.5 * kLog2of3, 1e-12)
      << "KL(p‖q), p = " << show(p) << ", q = " << show(q)
      << hint("KL(p‖q) = sum p_i log2(p_i / q_i)");
  // KL(q‖p) = 0.25 log2(0.5) + 0.75 log2(1.5) = -0.25 + 0.75 (log2 3 - 1) = 0.75 log2 3 - 1
  EXPECT_NEAR(nibble::kl_divergence(q, p), 0.75 * kLog2of3 - 1.0, 1e-12)
      << "KL(q‖p), q = " << show(q) << ", p = " << show(p)
      << hint("KL is not symmetric: the first argument weights the log ratio");
  EXPECT_NEAR(nibble::kl_divergence(p, p), 0.0, 1e-12)
      << "KL(p‖p)" << hint("a distribution against itself: 0");
  EXPECT_NEAR(nibble::cross_entropy_bits(p, p), 1.0, 1e-12)
      << "H(p,p) = H(p)" << hint("the cross-entropy of p with itself is its entropy");
  // A symbol impossible under both p and q changes nothing: same values as above.
  const Dist p0 = {0.5, 0.0, 0.5}, q0 = {0.25, 0.0, 0.75};
  EXPECT_NEAR(nibble::cross_entropy_bits(p0, q0), 2.0 - 0.5 * kLog2of3, 1e-12)
      << "input p = " << show(p0) << ", q = " << show(q0)
      << hint(
             "skip p_i == 0 BEFORE looking at q_i: 0 log 0 terms add nothing, they are not "
             "infinite");
  EXPECT_NEAR(nibble::kl_divergence(p0, q0), 1.0 - 0.5 * kLog2of3, 1e-12)
      << "KL(p‖q), p = " << show(p0) << ", q = " << show(q0)
      << hint("skip p_i == 0 first: the shared zero adds nothing");
  // Three outcomes, non-dyadic: references by the natural-log formulas.
  const Dist a = {0.2, 0.5, 0.3}, b = {0.4, 0.4, 0.2};
  const double ce = -(0.2 * std::log(0.4) + 0.5 * std::log(0.4) + 0.3 * std::log(0.2)) / kLn2;
  const double kl = (0.2 * std::log(0.5) + 0.5 * std::log(1.25) + 0.3 * std::log(1.5)) / kLn2;
  EXPECT_NEAR(nibble::cross_entropy_bits(a, b), ce, 1e-12)
      << "H(p,q), p = " << show(a) << ", q = " << show(b)
      << hint("-sum p_i log2 q_i: p outside, q inside the log");
  EXPECT_NEAR(nibble::kl_divergence(a, b), kl, 1e-12)
      << "KL(p‖q), p = " << show(a) << ", q = " << show(b) << hint("bits: log2, not ln");
}

GRADED_TEST(EntropyGraded, KLIsInfiniteWhenQMissesSupport, 3) {
  // Finite direction first: KL({1,0} ‖ {1/2,1/2}) = 1 * log2(1 / 0.5) = 1.
  EXPECT_NEAR(nibble::kl_divergence({1.0, 0.0}, {0.5, 0.5}), 1.0, 1e-12)
      << "KL({1, 0} ‖ {0.5, 0.5})" << hint("terms with p_i = 0 contribute 0");
  EXPECT_NEAR(nibble::cross_entropy_bits({1.0, 0.0}, {0.5, 0.5}), 1.0, 1e-12)
      << "H({1, 0}, {0.5, 0.5})" << hint("terms with p_i = 0 contribute 0");
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(nibble::kl_divergence({0.5, 0.5}, {1.0, 0.0}), inf)
      << "KL({0.5, 0.5} ‖ {1, 0})"
      << hint("q_i = 0 where p_i > 0: return +infinity, as documented");
  EXPECT_EQ(nibble::cross_entropy_bits({0.5, 0.5}, {1.0, 0.0}), inf)
      << "H({0.5, 0.5}, {1, 0})" << hint("same rule for the cross-entropy");
  EXPECT_EQ(nibble::kl_divergence({0.25, 0.25, 0.5}, {0.5, 0.5, 0.0}), inf)
      << "KL({1/4, 1/4, 1/2} ‖ {1/2, 1/2, 0})" << hint("do not skip a q_i = 0 where p_i > 0");
}

GRADED_TEST(EntropyGraded, JensenShannon, 4) {
  EXPECT_NEAR(nibble::js_divergence({1.0, 0.0}, {0.0, 1.0}), 1.0, 1e-12)
      << "disjoint supports {1,0} vs {0,1}"
      << hint("m = (p+q)/2 = {1/2, 1/2}; each KL to m is 1 bit");
  const Dist p = {1.0, 0.0}, q = {0.5, 0.5};
  // m = {3/4, 1/4}: KL(p‖m) = log2(4/3) = 2 - log2 3; KL(q‖m) = 0.5 log2(2/3) + 0.5 log2 2 = 1 -
  // 0.5 log2 3 JS = (2 - log2 3)/2 + (1 - 0.5 log2 3)/2 = 1.5 - 0.75 log2 3 ≈ 0.3112781
  EXPECT_NEAR(nibble::js_divergence(p, q), 1.5 - 0.75 * kLog2of3, 1e-12)
      << "input p = " << show(p) << ", q = " << show(q)
      << hint("JS = KL(p‖m)/2 + KL(q‖m)/2 with m = (p+q)/2");
  EXPECT_NEAR(nibble::js_divergence(q, p), 1.5 - 0.75 * kLog2of3, 1e-12)
      << "swapped arguments" << hint("JS is symmetric");
  EXPECT_NEAR(nibble::js_divergence(q, q), 0.0, 1e-12)
      << "JS(q, q)" << hint("a distribution against itself: 0");
  // A second formula: JS(p, q) = H(m) - (H(p) + H(q)) / 2, on lopsided inputs with a shared zero.
  const Dist a = {0.6, 0.1, 0.0, 0.3}, b = {0.1, 0.2, 0.0, 0.7};
  Dist m(a.size());
  for (size_t i = 0; i < a.size(); ++i) m[i] = 0.5 * (a[i] + b[i]);
  const double expected = ref_entropy_bits(m) - 0.5 * (ref_entropy_bits(a) + ref_entropy_bits(b));
  EXPECT_NEAR(nibble::js_divergence(a, b), expected, 1e-12)
      << "input p = " << show(a) << ", q = " << show(b) << " (≈ " << expected << ")"
      << hint("both halves, each with the 1/2, against the mixture m, in bits");
  EXPECT_NEAR(nibble::js_divergence(b, a), expected, 1e-12)
      << "swapped arguments" << hint("JS is symmetric: both halves");
}

GRADED_TEST(EntropyGraded, MutualInformationFromJoint, 5) {
  const Joint copy = {{0.5, 0.0}, {0.0, 0.5}};
  EXPECT_NEAR(nibble::mutual_information_bits(copy), 1.0, 1e-12)
      << "Y a copy of a fair coin X" << hint("I(X;Y) = H(X) - H(X|Y) = 1 - 0");
  // Independent: joint = outer product of (0.3, 0.7) and (0.2, 0.5, 0.3).
  const Joint indep = {{0.06, 0.15, 0.09}, {0.14, 0.35, 0.21}};
  EXPECT_NEAR(nibble::mutual_information_bits(indep), 0.0, 1e-12)
      << "independent X, Y (joint = P(x) P(y))"
      << hint("independent variables share no information");
  // Cover & Thomas: I = H(rows) + H(cols) - H(X,Y) = 2 + 7/4 - 27/8 = 3/8.
  EXPECT_NEAR(nibble::mutual_information_bits(kCoverThomas), 3.0 / 8, 1e-12)
      << "Cover & Thomas example 2.2.1"
      << hint("P(x) sums a row, P(y) a column; I = sum P(x,y) log2(P(x,y) / (P(x) P(y)))");
  EXPECT_NEAR(nibble::mutual_information_bits(transposed(kCoverThomas)), 3.0 / 8, 1e-12)
      << "the transposed table" << hint("I(X;Y) = I(Y;X)");
  // The lopsided 2 x 3 table: I = H(X) + H(Y) - H(X,Y), each entropy by the test's own formula.
  const double expected = ref_entropy_bits(row_sums(kLopsided)) +
                          ref_entropy_bits(column_sums(kLopsided)) -
                          ref_entropy_bits(flatten(kLopsided));
  EXPECT_NEAR(nibble::mutual_information_bits(kLopsided), expected, 1e-12)
      << "input {{1/2, 1/4, 0}, {1/8, 0, 1/8}} (I ≈ " << expected << ")"
      << hint("skip empty cells; the marginals come from the rows and the columns");
}

GRADED_TEST(EntropyGraded, MutualInformationFromSamples, 5) {
  EXPECT_NEAR(nibble::mutual_information_from_samples({0, 0, 1, 1}, {5, 5, 7, 7}), 1.0, 1e-12)
      << "xs = {0,0,1,1}, ys = {5,5,7,7}"
      << hint("labels are arbitrary values: map each distinct one to an index");
  EXPECT_NEAR(nibble::mutual_information_from_samples({0, 0, 1, 1}, {0, 1, 0, 1}), 0.0, 1e-12)
      << "xs = {0,0,1,1}, ys = {0,1,0,1}: every pair appears once"
      << hint("empirically independent: 0 bits");
  // Pairs (0,0) twice, (0,1) once, (1,1) once: P(x) = (3/4, 1/4), P(y) = (1/2, 1/2), H(X,Y) = 3/2.
  // I = H(X) + H(Y) - H(X,Y) = (2 - 3/4 log2 3) + 1 - 3/2 = 3/2 - 3/4 log2 3 ≈ 0.311278.
  EXPECT_NEAR(nibble::mutual_information_from_samples({0, 0, 0, 1}, {0, 0, 1, 1}),
              1.5 - 0.75 * kLog2of3, 1e-12)
      << "xs = {0,0,0,1}, ys = {0,0,1,1}"
      << hint("count how OFTEN each pair occurs: relative frequencies c/n");
  // X uniform over 4 values, Y = X / 2 (a function of X): I = H(Y) = 1 bit.
  // Y = -1000 X (a relabelling of X): I = H(X) = 2 bits.
  std::vector<int64_t> xs, half, relabel;
  for (int64_t i = 0; i < 400; ++i) {
    xs.push_back(i % 4);
    half.push_back((i % 4) / 2);
    relabel.push_back(-1000 * (i % 4));
  }
  EXPECT_NEAR(nibble::mutual_information_from_samples(xs, half), 1.0, 1e-9)
      << "400 samples, X = i % 4, Y = X / 2" << hint("when Y is a function of X, I(X;Y) = H(Y)");
  EXPECT_NEAR(nibble::mutual_information_from_samples(xs, relabel), 2.0, 1e-9)
      << "400 samples, X = i % 4, Y = -1000 X" << hint("negative and sparse labels must work too");
  // Unequal pair counts, 7 samples: an independent reference from the counts c_xy, c_x, c_y:
  // I = sum c_xy/n log2(n c_xy / (c_x c_y)).
  const std::vector<int64_t> sx = {3, 3, 3, 9, 9, 3, 9}, sy = {1, 1, 2, 2, 2, 1, 1};
  std::map<std::pair<int64_t, int64_t>, double> cxy;
  std::map<int64_t, double> cx, cy;
  for (size_t i = 0; i < sx.size(); ++i) {
    cxy[{sx[i], sy[i]}] += 1;
    cx[sx[i]] += 1;
    cy[sy[i]] += 1;
  }
  const double n = static_cast<double>(sx.size());
  double expected = 0.0;
  for (const auto& kv : cxy)
    expected +=
        kv.second / n * std::log(n * kv.second / (cx[kv.first.first] * cy[kv.first.second])) / kLn2;
  EXPECT_NEAR(nibble::mutual_information_from_samples(sx, sy), expected, 1e-12)
      << "xs = {3,3,3,9,9,3,9}, ys = {1,1,2,2,2,1,1} (I ≈ " << expected << ")"
      << hint("joint[x][y] = count(x, y) / n, each xs[i] paired with ys[i] (same i)");
}

GRADED_TEST(EntropyGraded, Perplexity, 3) {
  EXPECT_NEAR(nibble::perplexity({0.25, 0.25, 0.25, 0.25}), 4.0, 1e-9)
      << "uniform over 4" << hint("perplexity = 2^H(p) in bits");
  EXPECT_NEAR(nibble::perplexity({0.5, 0.25, 0.25}), 2.0 * std::sqrt(2.0), 1e-9)
      << "input {0.5, 0.25, 0.25}: 2^1.5" << hint("use std::exp2 of the entropy in BITS");
  EXPECT_NEAR(nibble::perplexity({1.0}), 1.0, 1e-12)
      << "a certain outcome: perplexity 1" << hint("2^0 = 1");
  const Dist r = {0.3, 0.0, 0.1, 0.6};
  EXPECT_NEAR(nibble::perplexity(r), std::pow(2.0, ref_entropy_bits(r)), 1e-9)
      << "input " << show(r) << hint("2^H: between 1 and the number of possible outcomes");
}

GRADED_TEST(EntropyGraded, CrossEntropyIdentity, 3) {
  EXPECT_TRUE(nibble::cross_entropy_identity_holds({0.5, 0.5}, {0.25, 0.75}))
      << "p = {0.5, 0.5}, q = {0.25, 0.75}" << hint("compare H(p,q) with H(p) + KL(p‖q)");
  EXPECT_TRUE(nibble::cross_entropy_identity_holds({0.1, 0.2, 0.7}, {0.3, 0.3, 0.4}))
      << "p = {0.1, 0.2, 0.7}, q = {0.3, 0.3, 0.4}"
      << hint("the identity holds for every valid p, q");
  EXPECT_TRUE(nibble::cross_entropy_identity_holds({0.5, 0.5}, {1.0, 0.0}))
      << "p = {0.5, 0.5}, q = {1, 0}: both sides are +infinity"
      << hint("inf - inf is NaN: treat 'both infinite' as equal before subtracting");
  // The tolerance is honoured exactly: with YOUR functions, lhs = H(p,q) and rhs = H(p) + KL(p‖q)
  // differ by rounding only (in 122 of these 300 pairs with the reference functions); holds(p, q,
  // tol) must be |lhs - rhs| <= tol, including the boundary.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.05, 1.0);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = 2 + static_cast<size_t>(trial % 5);
    Dist p(n), q(n);
    double sp = 0, sq = 0;
    for (size_t i = 0; i < n; ++i) {
      p[i] = u(rng);
      q[i] = trial % 7 == 0 ? p[i] : u(rng);
      sp += p[i];
      sq += q[i];
    }
    for (size_t i = 0; i < n; ++i) {
      p[i] /= sp;
      q[i] /= sq;
    }
    const double lhs = nibble::cross_entropy_bits(p, q);
    const double rhs = nibble::entropy_bits(p) + nibble::kl_divergence(p, q);
    const double gap = std::fabs(lhs - rhs);
    EXPECT_TRUE(nibble::cross_entropy_identity_holds(p, q, gap))
        << "p = " << show(p) << ", q = " << show(q) << ", tolerance = |lhs - rhs| = " << gap
        << hint("|lhs - rhs| <= tolerance, with <= (the boundary counts as holding)");
    if (gap > 0) {
      EXPECT_FALSE(nibble::cross_entropy_identity_holds(p, q, gap / 2))
          << "p = " << show(p) << ", q = " << show(q) << ": your sides differ by " << gap
          << ", tolerance " << gap / 2
          << hint(
                 "compare |H(p,q) - (H(p) + KL(p‖q))| with the `tolerance` argument; never return "
                 "a "
                 "constant or a fixed tolerance");
    }
  }
}

GRADED_TEST(EntropyGraded, CharacterEntropyOfFortunes, 4) {
  EXPECT_NEAR(nibble::char_entropy_bits("aabb"), 1.0, 1e-12)
      << "text \"aabb\"" << hint("p(c) = count(c) / length; H = -sum p log2 p");
  EXPECT_NEAR(nibble::char_entropy_bits("aaaa"), 0.0, 1e-12)
      << "text \"aaaa\"" << hint("one character repeated: 0 bits");
  EXPECT_NEAR(nibble::char_entropy_bits("abcd"), 2.0, 1e-12)
      << "text \"abcd\"" << hint("four different characters once each: 2 bits");
  // "abbccc": counts 1, 2, 3 of 6 -> H = log2 6 - (1*0 + 2*1 + 3 log2 3) / 6 = log2 6 - 1/3 -
  // log2(3)/2.
  EXPECT_NEAR(nibble::char_entropy_bits("abbccc"), std::log2(6.0) - 1.0 / 3 - 0.5 * kLog2of3, 1e-12)
      << "text \"abbccc\" (≈ 1.459)"
      << hint("p(c) = count(c) / length, every character counted, in bits");
  const std::string high = "\xff\xfe\xff\xfe";  // bytes above 127: char may be negative
  EXPECT_NEAR(nibble::char_entropy_bits(high), 1.0, 1e-12)
      << "text of bytes 0xff 0xfe" << hint("index counts with static_cast<unsigned char>(c)");
  const std::string twins = "\xff\x7f";  // 255 and 127: two different bytes
  EXPECT_NEAR(nibble::char_entropy_bits(twins), 1.0, 1e-12)
      << "text of bytes 0xff 0x7f"
      << hint("256 byte values, not 128: 0xff and 0x7f are different symbols");

  const std::string text = nibble::data::load_fortunes();
  // Independent reference: counts per byte, then H = log2 n - (1/n) sum c log2 c.
  std::map<unsigned char, double> counts;
  for (const char c : text) counts[static_cast<unsigned char>(c)] += 1.0;
  const double n = static_cast<double>(text.size());
  double sum_c_log_c = 0.0;
  for (const auto& kv : counts) sum_c_log_c += kv.second * std::log2(kv.second);
  const double expected = std::log2(n) - sum_c_log_c / n;
  const double got = nibble::char_entropy_bits(text);
  EXPECT_NEAR(got, expected, 1e-9)
      << "the fortunes corpus (" << text.size() << " bytes, " << counts.size() << " distinct)"
      << hint("count all 256 byte values over the whole text");
  EXPECT_GT(got, 4.0) << "fortunes: got " << got << " bits/char"
                      << hint("English text has 4-5 bits/char");
  EXPECT_LT(got, 5.0) << "fortunes: got " << got << " bits/char"
                      << hint("English text has 4-5 bits/char");
}

GRADED_TEST(EntropyGraded, RejectsBadInputWithClearMessages, 4) {
  // Valid calls first, so this test cannot pass on a stub.
  ASSERT_NEAR(nibble::entropy_bits({0.5, 0.5}), 1.0, 1e-12)
      << "input {0.5, 0.5}" << hint("write entropy_bits first");
  ASSERT_NEAR(nibble::self_information_bits(0.5), 1.0, 1e-12)
      << "input 0.5" << hint("write self_information_bits first");
  // Every error the header promises (the checks are given; they must still be reached).
  EXPECT_TRUE(
      rejects([] { nibble::self_information_bits(1.5); }, "self_information_bits", "p = 1.5"));
  EXPECT_TRUE(
      rejects([] { nibble::self_information_bits(-0.1); }, "self_information_bits", "p = -0.1"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::entropy_bits({0.5, -0.1, 0.6});
      },
      "entropy_bits", "{0.5, -0.1, 0.6}"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::entropy_bits({0.5, 0.4});
      },
      "entropy_bits", "{0.5, 0.4} (sums to 0.9)"));
  EXPECT_TRUE(rejects([] { nibble::entropy_bits(Dist{}); }, "entropy_bits", "{}"));
  EXPECT_TRUE(rejects([] { nibble::entropy_nats({0.7, 0.7}); }, "entropy_nats", "{0.7, 0.7}"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::entropy_bits(Tensor::from_vector({0.5f, -0.5f, 1.0f}, {1, 3}), 1);
      },
      "entropy_bits(Tensor)", "a tensor with -0.5"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::entropy_bits(Tensor::from_vector({0.5f, 0.2f, 0.5f, 0.5f}, {2, 2}), 1);
      },
      "entropy_bits(Tensor)", "a row summing to 0.7"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::kl_divergence({0.5, 0.5}, {1.0});
      },
      "kl_divergence", "sizes 2 and 1"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::cross_entropy_bits({0.5, 0.5}, {0.9, 0.3});
      },
      "cross_entropy_bits", "q sums to 1.2"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::js_divergence({1.0}, {0.5, 0.5});
      },
      "js_divergence", "sizes 1 and 2"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::joint_entropy_bits({{0.5, 0.25}, {0.25}});
      },
      "joint_entropy_bits", "a ragged table"));
  EXPECT_TRUE(rejects([] { nibble::conditional_entropy_bits(Joint{}); }, "conditional_entropy_bits",
                      "an empty table"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::mutual_information_bits({{0.5, 0.5}, {0.5, 0.5}});
      },
      "mutual_information_bits", "a table summing to 2"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::mutual_information_from_samples({1, 2}, {1});
      },
      "mutual_information_from_samples", "2 xs, 1 ys"));
  EXPECT_TRUE(rejects([] { nibble::mutual_information_from_samples({}, {}); },
                      "mutual_information_from_samples", "no samples"));
  EXPECT_TRUE(rejects([] { nibble::perplexity({0.2, 0.2}); }, "perplexity", "{0.2, 0.2}"));
  EXPECT_TRUE(rejects([] { nibble::char_entropy_bits(""); }, "char_entropy_bits", "an empty text"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::cross_entropy_identity_holds({0.5, 0.5}, {0.5, 0.5}, -1.0);
      },
      "cross_entropy_identity_holds", "tolerance -1"));
  // Within the documented tolerance (1e-6) a sum of 1 + 1e-7 is accepted.
  EXPECT_NEAR(nibble::entropy_bits({0.5, 0.5 + 1e-7}), 1.0, 1e-6)
      << "input {0.5, 0.5 + 1e-7}" << hint("sums within 1e-6 of 1 are accepted");
}
