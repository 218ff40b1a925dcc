// Module 01 — graded tests for info_theory/entropy.h (74 of the module's 100 points; Huffman: 26).
// Expected values are worked out by hand in the comments (or by a second formula), never copied
// from a solution's output. Run them with `nibble test 01`.
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/io/text.h"
#include "core/ops.h"
#include "info_theory/entropy.h"
#include "modules/graded.h"

namespace {

using nibble::grading::hint;
using Dist = std::vector<double>;
using Joint = std::vector<std::vector<double>>;

const double kLog2of3 = std::log2(3.0);  // 1.584962500721156...

std::string show(const Dist& p) {
  std::string s = "{";
  for (size_t i = 0; i < p.size(); ++i) s += (i ? ", " : "") + std::to_string(p[i]);
  return s + "}";
}

// Cover & Thomas, Elements of Information Theory, example 2.2.1. Rows are our X, columns our Y.
// Row sums (P of rows): 1/4 each -> H(rows) = 2. Column sums: 1/2, 1/4, 1/8, 1/8 -> H(cols) = 7/4.
// Cells: 1/4 once, 1/8 twice, 1/16 six times, 1/32 four times, 0 three times:
//   H(X,Y) = 1/4*2 + 2*(1/8*3) + 6*(1/16*4) + 4*(1/32*5) = 1/2 + 3/4 + 3/2 + 5/8 = 27/8.
const Joint kCoverThomas = {{1.0 / 8, 1.0 / 16, 1.0 / 32, 1.0 / 32},
                            {1.0 / 16, 1.0 / 8, 1.0 / 32, 1.0 / 32},
                            {1.0 / 16, 1.0 / 16, 1.0 / 16, 1.0 / 16},
                            {1.0 / 4, 0.0, 0.0, 0.0}};

Joint transposed(const Joint& j) {
  Joint t(j[0].size(), std::vector<double>(j.size()));
  for (size_t x = 0; x < j.size(); ++x)
    for (size_t y = 0; y < j[0].size(); ++y) t[y][x] = j[x][y];
  return t;
}

// Calls fn, expects a nibble::Error (NOT a NotImplemented) whose message names `function`.
template <typename Fn>
::testing::AssertionResult rejects(Fn&& fn, const std::string& function, const std::string& input) {
  try {
    fn();
  } catch (const nibble::NotImplemented& e) {
    return ::testing::AssertionFailure() << "on " << input << ": still a stub: " << e.what();
  } catch (const nibble::Error& e) {
    const std::string what = e.what();
    if (what.find(function) == std::string::npos)
      return ::testing::AssertionFailure() << "on " << input << ": the message \"" << what
                                           << "\" does not name " << function;
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "on " << input << ": threw a non-nibble exception: "
                                         << e.what();
  }
  return ::testing::AssertionFailure() << "on " << input << ": did not throw";
}

}  // namespace

GRADED_TEST(EntropyGraded, SelfInformation, 4) {
  // -log2(1/8) = 3, -log2(1/2) = 1, -log2(1) = 0, and an impossible outcome is infinitely surprising.
  EXPECT_NEAR(nibble::self_information_bits(0.125), 3.0, 1e-12)
      << "input p = 0.125" << hint("I(p) = -log2(p); one in eight takes three yes/no questions");
  EXPECT_NEAR(nibble::self_information_bits(0.5), 1.0, 1e-12) << "input p = 0.5";
  EXPECT_NEAR(nibble::self_information_bits(1.0), 0.0, 1e-12)
      << "input p = 1" << hint("a certain outcome carries no information");
  EXPECT_EQ(nibble::self_information_bits(0.0), std::numeric_limits<double>::infinity())
      << "input p = 0" << hint("return +infinity for p == 0 (std::numeric_limits<double>::infinity())");
}

GRADED_TEST(EntropyGraded, ShannonEntropyOfAFairCoin, 4) {
  const Dist p = {0.5, 0.5};
  EXPECT_NEAR(nibble::entropy_bits(p), 1.0, 1e-12)
      << "input " << show(p) << hint("H = -sum p log2 p = -2 * 0.5 * log2(0.5) = 1 bit; use log2, not ln");
}

GRADED_TEST(EntropyGraded, WorkedExampleBitsAndNats, 6) {
  // H(1/2, 1/4, 1/4) = 1/2*1 + 1/4*2 + 1/4*2 = 1.5 bits = 1.5 ln 2 nats.
  const Dist p = {0.5, 0.25, 0.25};
  EXPECT_NEAR(nibble::entropy_bits(p), 1.5, 1e-12)
      << "input " << show(p) << hint("each p_i contributes p_i * log2(1/p_i): 0.5 + 0.5 + 0.5");
  EXPECT_NEAR(nibble::entropy_nats(p), 1.5 * std::log(2.0), 1e-12)
      << "input " << show(p) << hint("nats use the natural log: H_nats = H_bits * ln 2 ≈ 1.0397");
  const Dist quarters = {0.25, 0.25, 0.25, 0.25};
  EXPECT_NEAR(nibble::entropy_bits(quarters), 2.0, 1e-12) << "input " << show(quarters);
}

GRADED_TEST(EntropyGraded, ZeroProbabilitiesAddNothing, 4) {
  const Dist p = {0.5, 0.0, 0.5, 0.0};
  const double h = nibble::entropy_bits(p);
  EXPECT_FALSE(std::isnan(h)) << "input " << show(p) << " gave NaN"
                              << hint("0 * log2(0) is NaN in floating point: skip zero entries (0 log 0 = 0)");
  EXPECT_NEAR(h, 1.0, 1e-12) << "input " << show(p);
  const Dist certain = {0.0, 1.0, 0.0};
  EXPECT_NEAR(nibble::entropy_bits(certain), 0.0, 1e-12)
      << "input " << show(certain) << hint("a certain outcome has zero entropy");
  const double hn = nibble::entropy_nats(certain);
  EXPECT_FALSE(std::isnan(hn)) << "entropy_nats" << show(certain) << " gave NaN";
  EXPECT_NEAR(hn, 0.0, 1e-12) << "entropy_nats input " << show(certain);
}

GRADED_TEST(EntropyGraded, UniformOverNIsLog2N, 4) {
  for (int n = 1; n <= 64; ++n) {
    const Dist p(static_cast<size_t>(n), 1.0 / n);
    EXPECT_NEAR(nibble::entropy_bits(p), std::log2(static_cast<double>(n)), 1e-9)
        << "input: uniform over n = " << n << hint("the uniform distribution has the maximum entropy, log2 n");
  }
}

GRADED_TEST(EntropyGraded, TensorEntropyAlongAxis, 4) {
  using nibble::Tensor;
  // rows: a fair coin (1 bit) and a certain outcome (0 bits).
  const Tensor p = Tensor::from_vector({0.5f, 0.5f, 1.0f, 0.0f}, {2, 2});
  const Tensor h = nibble::entropy_bits(p, -1);
  ASSERT_EQ(h.shape(), (nibble::Shape{2}))
      << "input [[0.5, 0.5], [1, 0]] along axis -1 gave shape " << h.shape_str()
      << hint("sum over `axis` and drop it: [2, 2] -> [2]");
  EXPECT_NEAR(h.at({0}), 1.0f, 1e-5f) << "row [0.5, 0.5]";
  EXPECT_FALSE(std::isnan(h.at({1}))) << "row [1, 0] gave NaN" << hint("0 log 0 = 0: clamp before log");
  EXPECT_NEAR(h.at({1}), 0.0f, 1e-5f) << "row [1, 0]";
  // Columns of the transpose are the same rows: axis 0 must give the same answer.
  const Tensor h0 = nibble::entropy_bits(p.t(), 0);
  ASSERT_EQ(h0.shape(), (nibble::Shape{2})) << "axis 0 of the transpose";
  EXPECT_NEAR(h0.at({0}), 1.0f, 1e-5f) << "axis 0 of [[0.5, 1], [0.5, 0]]" << hint("respect `axis`");
  EXPECT_NEAR(h0.at({1}), 0.0f, 1e-5f) << "axis 0 of [[0.5, 1], [0.5, 0]]";
  // Uniform rows over 4 -> 2 bits each.
  const Tensor u = nibble::entropy_bits(Tensor::full({3, 4}, 0.25f), 1);
  for (int64_t i = 0; i < 3; ++i) EXPECT_NEAR(u.at({i}), 2.0f, 1e-5f) << "uniform row " << i;
}

GRADED_TEST(EntropyGraded, JointAndConditionalEntropy, 7) {
  EXPECT_NEAR(nibble::joint_entropy_bits(kCoverThomas), 27.0 / 8, 1e-12)
      << "input: Cover & Thomas example 2.2.1" << hint("treat each cell as one outcome of the pair (X, Y)");
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
  EXPECT_NEAR(nibble::joint_entropy_bits(coins), 2.0, 1e-12) << "two independent fair coins";
  EXPECT_NEAR(nibble::conditional_entropy_bits(coins), 1.0, 1e-12) << "two independent fair coins";
}

GRADED_TEST(EntropyGraded, CrossEntropyAndKLByHand, 7) {
  const Dist p = {0.5, 0.5}, q = {0.25, 0.75};
  // H(p,q) = 0.5*log2(4) + 0.5*log2(4/3) = 1 + 0.5*(2 - log2 3) = 2 - 0.5 log2 3 ≈ 1.2075187
  EXPECT_NEAR(nibble::cross_entropy_bits(p, q), 2.0 - 0.5 * kLog2of3, 1e-12)
      << "input p = " << show(p) << ", q = " << show(q) << hint("H(p,q) = -sum p_i log2 q_i");
  // KL(p‖q) = 0.5 log2(0.5/0.25) + 0.5 log2(0.5/0.75) = 0.5 + 0.5 (1 - log2 3) = 1 - 0.5 log2 3
  EXPECT_NEAR(nibble::kl_divergence(p, q), 1.0 - 0.5 * kLog2of3, 1e-12)
      << "KL(p‖q), p = " << show(p) << ", q = " << show(q) << hint("KL(p‖q) = sum p_i log2(p_i / q_i)");
  // KL(q‖p) = 0.25 log2(0.5) + 0.75 log2(1.5) = -0.25 + 0.75 (log2 3 - 1) = 0.75 log2 3 - 1
  EXPECT_NEAR(nibble::kl_divergence(q, p), 0.75 * kLog2of3 - 1.0, 1e-12)
      << "KL(q‖p), q = " << show(q) << ", p = " << show(p)
      << hint("KL is not symmetric: the first argument weights the log ratio");
  EXPECT_NEAR(nibble::kl_divergence(p, p), 0.0, 1e-12) << "KL(p‖p)" << hint("a distribution against itself: 0");
  EXPECT_NEAR(nibble::cross_entropy_bits(p, p), 1.0, 1e-12)
      << "H(p,p) = H(p)" << hint("the cross-entropy of p with itself is its entropy");
}

GRADED_TEST(EntropyGraded, KLIsInfiniteWhenQMissesSupport, 3) {
  // Finite direction first: KL({1,0} ‖ {1/2,1/2}) = 1 * log2(1 / 0.5) = 1.
  EXPECT_NEAR(nibble::kl_divergence({1.0, 0.0}, {0.5, 0.5}), 1.0, 1e-12)
      << "KL({1, 0} ‖ {0.5, 0.5})" << hint("terms with p_i = 0 contribute 0");
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(nibble::kl_divergence({0.5, 0.5}, {1.0, 0.0}), inf)
      << "KL({0.5, 0.5} ‖ {1, 0})" << hint("q_i = 0 where p_i > 0: return +infinity, as documented");
  EXPECT_EQ(nibble::cross_entropy_bits({0.5, 0.5}, {1.0, 0.0}), inf)
      << "H({0.5, 0.5}, {1, 0})" << hint("same rule for the cross-entropy");
}

GRADED_TEST(EntropyGraded, JensenShannon, 5) {
  EXPECT_NEAR(nibble::js_divergence({1.0, 0.0}, {0.0, 1.0}), 1.0, 1e-12)
      << "disjoint supports {1,0} vs {0,1}" << hint("m = (p+q)/2 = {1/2, 1/2}; each KL to m is 1 bit");
  const Dist p = {1.0, 0.0}, q = {0.5, 0.5};
  // m = {3/4, 1/4}: KL(p‖m) = log2(4/3) = 2 - log2 3; KL(q‖m) = 0.5 log2(2/3) + 0.5 log2 2 = 1 - 0.5 log2 3
  // JS = (2 - log2 3)/2 + (1 - 0.5 log2 3)/2 = 1.5 - 0.75 log2 3 ≈ 0.3112781
  EXPECT_NEAR(nibble::js_divergence(p, q), 1.5 - 0.75 * kLog2of3, 1e-12)
      << "input p = " << show(p) << ", q = " << show(q) << hint("JS = KL(p‖m)/2 + KL(q‖m)/2 with m = (p+q)/2");
  EXPECT_NEAR(nibble::js_divergence(q, p), 1.5 - 0.75 * kLog2of3, 1e-12)
      << "swapped arguments" << hint("JS is symmetric");
  EXPECT_NEAR(nibble::js_divergence(q, q), 0.0, 1e-12) << "JS(q, q)";
}

GRADED_TEST(EntropyGraded, MutualInformationFromJoint, 6) {
  const Joint copy = {{0.5, 0.0}, {0.0, 0.5}};
  EXPECT_NEAR(nibble::mutual_information_bits(copy), 1.0, 1e-12)
      << "Y a copy of a fair coin X" << hint("I(X;Y) = H(X) - H(X|Y) = 1 - 0");
  // Independent: joint = outer product of (0.3, 0.7) and (0.2, 0.5, 0.3).
  const Joint indep = {{0.06, 0.15, 0.09}, {0.14, 0.35, 0.21}};
  EXPECT_NEAR(nibble::mutual_information_bits(indep), 0.0, 1e-12)
      << "independent X, Y (joint = P(x) P(y))" << hint("independent variables share no information");
  // Cover & Thomas: I = H(rows) + H(cols) - H(X,Y) = 2 + 7/4 - 27/8 = 3/8.
  EXPECT_NEAR(nibble::mutual_information_bits(kCoverThomas), 3.0 / 8, 1e-12)
      << "Cover & Thomas example 2.2.1"
      << hint("P(x) sums a row, P(y) a column; I = sum P(x,y) log2(P(x,y) / (P(x) P(y)))");
  EXPECT_NEAR(nibble::mutual_information_bits(transposed(kCoverThomas)), 3.0 / 8, 1e-12)
      << "the transposed table" << hint("I(X;Y) = I(Y;X)");
}

GRADED_TEST(EntropyGraded, MutualInformationFromSamples, 5) {
  EXPECT_NEAR(nibble::mutual_information_from_samples({0, 0, 1, 1}, {5, 5, 7, 7}), 1.0, 1e-12)
      << "xs = {0,0,1,1}, ys = {5,5,7,7}" << hint("labels are arbitrary values: map each distinct one to an index");
  EXPECT_NEAR(nibble::mutual_information_from_samples({0, 0, 1, 1}, {0, 1, 0, 1}), 0.0, 1e-12)
      << "xs = {0,0,1,1}, ys = {0,1,0,1}: every pair appears once" << hint("empirically independent: 0 bits");
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
}

GRADED_TEST(EntropyGraded, Perplexity, 3) {
  EXPECT_NEAR(nibble::perplexity({0.25, 0.25, 0.25, 0.25}), 4.0, 1e-9)
      << "uniform over 4" << hint("perplexity = 2^H(p) in bits");
  EXPECT_NEAR(nibble::perplexity({0.5, 0.25, 0.25}), 2.0 * std::sqrt(2.0), 1e-9)
      << "input {0.5, 0.25, 0.25}: 2^1.5" << hint("use std::exp2 of the entropy in BITS");
  EXPECT_NEAR(nibble::perplexity({1.0}), 1.0, 1e-12) << "a certain outcome: perplexity 1";
}

GRADED_TEST(EntropyGraded, CrossEntropyIdentity, 3) {
  EXPECT_TRUE(nibble::cross_entropy_identity_holds({0.5, 0.5}, {0.25, 0.75}))
      << "p = {0.5, 0.5}, q = {0.25, 0.75}" << hint("compare H(p,q) with H(p) + KL(p‖q)");
  EXPECT_TRUE(nibble::cross_entropy_identity_holds({0.1, 0.2, 0.7}, {0.3, 0.3, 0.4}))
      << "p = {0.1, 0.2, 0.7}, q = {0.3, 0.3, 0.4}";
  EXPECT_TRUE(nibble::cross_entropy_identity_holds({0.5, 0.5}, {1.0, 0.0}))
      << "p = {0.5, 0.5}, q = {1, 0}: both sides are +infinity"
      << hint("inf - inf is NaN: treat 'both infinite' as equal before subtracting");
}

GRADED_TEST(EntropyGraded, CharacterEntropyOfFortunes, 5) {
  EXPECT_NEAR(nibble::char_entropy_bits("aabb"), 1.0, 1e-12) << "text \"aabb\"";
  EXPECT_NEAR(nibble::char_entropy_bits("aaaa"), 0.0, 1e-12) << "text \"aaaa\"";
  EXPECT_NEAR(nibble::char_entropy_bits("abcd"), 2.0, 1e-12) << "text \"abcd\"";
  const std::string high = "\xff\xfe\xff\xfe";  // bytes above 127: char may be negative
  EXPECT_NEAR(nibble::char_entropy_bits(high), 1.0, 1e-12)
      << "text of bytes 0xff 0xfe" << hint("index counts with static_cast<unsigned char>(c)");

  const std::string text = nibble::data::load_fortunes();
  // Independent reference: counts per byte, then H = log2 n - (1/n) sum c log2 c.
  std::map<unsigned char, double> counts;
  for (const char c : text) counts[static_cast<unsigned char>(c)] += 1.0;
  const double n = static_cast<double>(text.size());
  double sum_c_log_c = 0.0;
  for (const auto& kv : counts) sum_c_log_c += kv.second * std::log2(kv.second);
  const double expected = std::log2(n) - sum_c_log_c / n;
  const double got = nibble::char_entropy_bits(text);
  EXPECT_NEAR(got, expected, 1e-9) << "the fortunes corpus (" << text.size() << " bytes, "
                                   << counts.size() << " distinct)";
  EXPECT_GT(got, 4.0) << "fortunes: got " << got << " bits/char" << hint("English text has 4-5 bits/char");
  EXPECT_LT(got, 5.0) << "fortunes: got " << got << " bits/char";
}

GRADED_TEST(EntropyGraded, RejectsBadInputWithClearMessages, 4) {
  // A valid call first, so this test cannot pass on a stub.
  ASSERT_NEAR(nibble::entropy_bits({0.5, 0.5}), 1.0, 1e-12)
      << "input {0.5, 0.5}" << hint("write entropy_bits first");
  EXPECT_TRUE(rejects([] { nibble::entropy_bits({0.5, -0.1, 0.6}); }, "entropy_bits", "{0.5, -0.1, 0.6}"));
  EXPECT_TRUE(rejects([] { nibble::entropy_bits({0.5, 0.4}); }, "entropy_bits", "{0.5, 0.4} (sums to 0.9)"));
  EXPECT_TRUE(rejects([] { nibble::entropy_bits(Dist{}); }, "entropy_bits", "{}"));
  EXPECT_TRUE(rejects([] { nibble::kl_divergence({0.5, 0.5}, {1.0}); }, "kl_divergence", "sizes 2 and 1"));
  EXPECT_TRUE(rejects([] { nibble::joint_entropy_bits({{0.5, 0.25}, {0.25}}); }, "joint_entropy_bits",
                      "a ragged table"));
  EXPECT_TRUE(rejects([] { nibble::mutual_information_from_samples({1, 2}, {1}); },
                      "mutual_information_from_samples", "2 xs, 1 ys"));
  // Within the documented tolerance (1e-6) a sum of 1 + 1e-7 is accepted.
  EXPECT_NEAR(nibble::entropy_bits({0.5, 0.5 + 1e-7}), 1.0, 1e-6)
      << "input {0.5, 0.5 + 1e-7}" << hint("sums within 1e-6 of 1 are accepted");
}
