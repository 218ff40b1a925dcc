// Module 01 — hidden (instructor-only) graded tests: random sizes, extremes, 256-symbol alphabets.
// References are recomputed here from the definitions (or a second formula), never taken from a
// solution. Deterministic: std::mt19937_64 with fixed seeds.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "info_theory/entropy.h"
#include "info_theory/huffman.h"
#include "modules/graded.h"

namespace {

using nibble::grading::hint;
using Dist = std::vector<double>;
using Joint = std::vector<std::vector<double>>;

double ref_entropy(const Dist& p) {
  double h = 0.0;
  for (const double x : p)
    if (x > 0.0) h -= x * std::log2(x);
  return h;
}

// A random distribution of size n; with `zeros`, about a third of the entries are exactly 0.
Dist random_dist(std::mt19937_64& rng, size_t n, bool zeros = false) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Dist p(n);
  double total = 0.0;
  for (double& x : p) {
    x = (zeros && u(rng) < 0.33) ? 0.0 : u(rng) + 1e-3;
    total += x;
  }
  if (total == 0.0) {
    p[0] = 1.0;
    return p;
  }
  for (double& x : p) x /= total;
  return p;
}

Joint random_joint(std::mt19937_64& rng, size_t nx, size_t ny) {
  const Dist flat = random_dist(rng, nx * ny, true);
  Joint j(nx, std::vector<double>(ny));
  for (size_t x = 0; x < nx; ++x)
    for (size_t y = 0; y < ny; ++y) j[x][y] = flat[x * ny + y];
  return j;
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

Dist col_sums(const Joint& j) {
  Dist c(j[0].size(), 0.0);
  for (const auto& row : j)
    for (size_t y = 0; y < row.size(); ++y) c[y] += row[y];
  return c;
}

Dist flatten(const Joint& j) {
  Dist f;
  for (const auto& row : j) f.insert(f.end(), row.begin(), row.end());
  return f;
}

}  // namespace

GRADED_TEST(EntropyHidden, RandomDistributionsMatchDefinition, 5) {
  std::mt19937_64 rng(101);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 1 + rng() % 300;
    const Dist p = random_dist(rng, n, trial % 2 == 1);
    const double h = ref_entropy(p);
    EXPECT_NEAR(nibble::entropy_bits(p), h, 1e-9)
        << "trial " << trial << ", size " << n
        << hint(
               "H = -sum p_i log2 p_i over the non-zero p_i (nats: natural log); compare with the "
               "lesson");
    EXPECT_NEAR(nibble::entropy_nats(p), h * std::log(2.0), 1e-9)
        << "trial " << trial << ", size " << n
        << hint(
               "H = -sum p_i log2 p_i over the non-zero p_i (nats: natural log); compare with the "
               "lesson");
    EXPECT_LE(nibble::entropy_bits(p), std::log2(static_cast<double>(n)) + 1e-9)
        << "H <= log2 n"
        << hint(
               "H = -sum p_i log2 p_i over the non-zero p_i (nats: natural log); compare with the "
               "lesson");
  }
}

GRADED_TEST(EntropyHidden, SizeOneAndExtremes, 4) {
  EXPECT_EQ(nibble::entropy_bits({1.0}), 0.0)
      << "size-1 distribution"
      << hint("skip only p_i == 0 exactly; tiny probabilities are valid and must stay finite");
  EXPECT_EQ(nibble::perplexity({1.0}), 1.0)
      << "size-1 perplexity"
      << hint("skip only p_i == 0 exactly; tiny probabilities are valid and must stay finite");
  EXPECT_EQ(nibble::kl_divergence({1.0}, {1.0}), 0.0)
      << "size-1 KL"
      << hint("skip only p_i == 0 exactly; tiny probabilities are valid and must stay finite");
  // Tiny probabilities: p log p -> 0, no NaN/inf.
  const Dist tiny = {1.0 - 1e-300, 1e-300};
  const double h = nibble::entropy_bits(tiny);
  EXPECT_TRUE(std::isfinite(h))
      << "{1 - 1e-300, 1e-300}"
      << hint("skip only p_i == 0 exactly; tiny probabilities are valid and must stay finite");
  EXPECT_NEAR(h, 0.0, 1e-290 * 1000 + 1e-12)
      << "{1 - 1e-300, 1e-300}"
      << hint("skip only p_i == 0 exactly; tiny probabilities are valid and must stay finite");
  // A tiny q: KL is large but finite.
  const double kl = nibble::kl_divergence({0.5, 0.5}, {1.0, 1e-300});
  EXPECT_TRUE(std::isfinite(kl))
      << "q = {1, 1e-300}"
      << hint("skip only p_i == 0 exactly; tiny probabilities are valid and must stay finite");
  EXPECT_NEAR(kl, 0.5 * std::log2(0.5) + 0.5 * (std::log2(0.5) - std::log2(1e-300)), 1e-6)
      << "q = {1, 1e-300}"
      << hint("skip only p_i == 0 exactly; tiny probabilities are valid and must stay finite");
  EXPECT_NEAR(nibble::self_information_bits(4.9e-324), 1074.0, 1e-9)
      << "I(2^-1074) = 1074 bits"
      << hint("skip only p_i == 0 exactly; tiny probabilities are valid and must stay finite");
}

GRADED_TEST(EntropyHidden, Uniform256Symbols, 3) {
  const Dist u(256, 1.0 / 256);
  EXPECT_NEAR(nibble::entropy_bits(u), 8.0, 1e-12)
      << "uniform bytes: 8 bits"
      << hint("uniform over 256 byte values: 8 bits, perplexity 256; count all 256 byte values");
  EXPECT_NEAR(nibble::perplexity(u), 256.0, 1e-9)
      << "uniform bytes: perplexity 256"
      << hint("uniform over 256 byte values: 8 bits, perplexity 256; count all 256 byte values");
  std::string all;
  for (int rep = 0; rep < 3; ++rep)
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_NEAR(nibble::char_entropy_bits(all), 8.0, 1e-12)
      << "every byte value 3 times"
      << hint("uniform over 256 byte values: 8 bits, perplexity 256; count all 256 byte values");
}

GRADED_TEST(EntropyHidden, ChainRuleOnRandomTables, 5) {
  std::mt19937_64 rng(202);
  for (int trial = 0; trial < 100; ++trial) {
    const size_t nx = 1 + rng() % 12, ny = 1 + rng() % 12;
    const Joint j = random_joint(rng, nx, ny);
    const double hxy = ref_entropy(flatten(j)), hx = ref_entropy(row_sums(j)),
                 hy = ref_entropy(col_sums(j));
    EXPECT_NEAR(nibble::joint_entropy_bits(j), hxy, 1e-9)
        << nx << "x" << ny << " trial " << trial
        << hint(
               "rows are X: H(Y|X) = H(X,Y) - H(X) with P(x) the row sums; I = H(X) + H(Y) - "
               "H(X,Y)");
    EXPECT_NEAR(nibble::conditional_entropy_bits(j), hxy - hx, 1e-9)
        << nx << "x" << ny << " trial " << trial
        << hint(
               "rows are X: H(Y|X) = H(X,Y) - H(X) with P(x) the row sums; I = H(X) + H(Y) - "
               "H(X,Y)");
    const double mi = nibble::mutual_information_bits(j);
    EXPECT_NEAR(mi, hx + hy - hxy, 1e-9) << nx << "x" << ny << " trial " << trial
                                         << hint(
                                                "rows are X: H(Y|X) = H(X,Y) - H(X) with P(x) the "
                                                "row sums; I = H(X) + H(Y) - H(X,Y)");
    EXPECT_GE(mi, 0.0) << "I(X;Y) >= 0"
                       << hint("mutual information is never negative: clamp rounding noise to 0");
  }
}

GRADED_TEST(EntropyHidden, KLAndCrossEntropyRandom, 5) {
  std::mt19937_64 rng(303);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 1 + rng() % 50;
    const Dist p = random_dist(rng, n, true), q = random_dist(rng, n, false);
    double ce = 0.0;
    for (size_t i = 0; i < n; ++i)
      if (p[i] > 0) ce -= p[i] * std::log2(q[i]);
    EXPECT_NEAR(nibble::cross_entropy_bits(p, q), ce, 1e-9)
        << "trial " << trial
        << hint(
               "H(p,q) = -sum p log2 q, KL = sum p log2(p/q) (p first), JS against m = (p+q)/2, "
               "symmetric, <= 1");
    EXPECT_NEAR(nibble::kl_divergence(p, q), ce - ref_entropy(p), 1e-9)
        << "trial " << trial << " (identity)"
        << hint(
               "H(p,q) = -sum p log2 q, KL = sum p log2(p/q) (p first), JS against m = (p+q)/2, "
               "symmetric, <= 1");
    EXPECT_GE(nibble::kl_divergence(p, q), 0.0)
        << "Gibbs' inequality"
        << hint(
               "H(p,q) = -sum p log2 q, KL = sum p log2(p/q) (p first), JS against m = (p+q)/2, "
               "symmetric, <= 1");
    EXPECT_TRUE(nibble::cross_entropy_identity_holds(p, q, 1e-9))
        << "trial " << trial
        << hint(
               "H(p,q) = -sum p log2 q, KL = sum p log2(p/q) (p first), JS against m = (p+q)/2, "
               "symmetric, <= 1");
    const double js = nibble::js_divergence(p, q);
    EXPECT_GE(js, 0.0) << hint(
        "H(p,q) = -sum p log2 q, KL = sum p log2(p/q) (p first), JS against m = (p+q)/2, "
        "symmetric, <= 1");
    EXPECT_LE(js, 1.0 + 1e-12) << "JS <= 1 bit"
                               << hint(
                                      "H(p,q) = -sum p log2 q, KL = sum p log2(p/q) (p first), JS "
                                      "against m = (p+q)/2, symmetric, <= 1");
    EXPECT_NEAR(js, nibble::js_divergence(q, p), 1e-12)
        << "symmetry"
        << hint(
               "H(p,q) = -sum p log2 q, KL = sum p log2(p/q) (p first), JS against m = (p+q)/2, "
               "symmetric, <= 1");
  }
}

GRADED_TEST(EntropyHidden, MutualInformationFromRandomSamples, 4) {
  std::mt19937_64 rng(404);
  for (int trial = 0; trial < 30; ++trial) {
    const size_t n = 1 + rng() % 2000;
    std::vector<int64_t> xs(n), ys(n);
    for (size_t i = 0; i < n; ++i) {
      xs[i] = static_cast<int64_t>(rng() % 7) - 3;
      ys[i] = (trial % 3 == 0) ? xs[i] * xs[i] : static_cast<int64_t>(rng() % 5) * 1000000007LL;
    }
    // Reference: empirical tables by brute force over the value ranges.
    std::vector<int64_t> yvals;
    for (const int64_t y : ys)
      if (std::find(yvals.begin(), yvals.end(), y) == yvals.end()) yvals.push_back(y);
    Joint t(7, std::vector<double>(yvals.size(), 0.0));
    for (size_t i = 0; i < n; ++i) {
      const size_t yi =
          static_cast<size_t>(std::find(yvals.begin(), yvals.end(), ys[i]) - yvals.begin());
      t[static_cast<size_t>(xs[i] + 3)][yi] += 1.0 / static_cast<double>(n);
    }
    const double ref =
        ref_entropy(row_sums(t)) + ref_entropy(col_sums(t)) - ref_entropy(flatten(t));
    EXPECT_NEAR(nibble::mutual_information_from_samples(xs, ys), std::max(0.0, ref), 1e-9)
        << "trial " << trial << ", " << n << " samples"
        << hint("joint[x][y] = count(x, y) / n over distinct labels; then the MI of that table");
  }
  EXPECT_NEAR(nibble::mutual_information_from_samples({42}, {-7}), 0.0, 1e-12)
      << "a single sample"
      << hint("joint[x][y] = count(x, y) / n over distinct labels; then the MI of that table");
}

GRADED_TEST(EntropyHidden, ToleranceBoundaryAndErrors, 4) {
  ASSERT_NEAR(nibble::entropy_bits({0.5, 0.5 + 9e-7}), 1.0, 1e-5)
      << "sum 1 + 9e-7 is within 1e-6"
      << hint(
             "bad input throws nibble::Error (the given checks); sums within 1e-6 of 1 are "
             "accepted");
  auto is_plain_error = [](auto fn) {
    try {
      fn();
    } catch (const nibble::NotImplemented&) {
      return false;
    } catch (const nibble::Error&) {
      return true;
    }
    return false;
  };
  EXPECT_TRUE(is_plain_error([] {
    nibble::entropy_bits({0.5, 0.5 + 2e-6});
  })) << "sum 1 + 2e-6"
      << hint(
             "bad input throws nibble::Error (the given checks); sums within 1e-6 of 1 are "
             "accepted");
  EXPECT_TRUE(is_plain_error([] {
    nibble::entropy_bits({std::nan(""), 1.0});
  })) << "NaN entry"
      << hint(
             "bad input throws nibble::Error (the given checks); sums within 1e-6 of 1 are "
             "accepted");
  EXPECT_TRUE(is_plain_error([] {
    nibble::js_divergence({1.0}, {0.5, 0.5});
  })) << "size mismatch"
      << hint(
             "bad input throws nibble::Error (the given checks); sums within 1e-6 of 1 are "
             "accepted");
  EXPECT_TRUE(is_plain_error([] { nibble::conditional_entropy_bits({}); }))
      << "empty table"
      << hint(
             "bad input throws nibble::Error (the given checks); sums within 1e-6 of 1 are "
             "accepted");
  EXPECT_TRUE(is_plain_error([] { nibble::char_entropy_bits(""); }))
      << "empty text"
      << hint(
             "bad input throws nibble::Error (the given checks); sums within 1e-6 of 1 are "
             "accepted");
  EXPECT_TRUE(is_plain_error([] { nibble::self_information_bits(1.5); }))
      << "p = 1.5"
      << hint(
             "bad input throws nibble::Error (the given checks); sums within 1e-6 of 1 are "
             "accepted");
}

GRADED_TEST(HuffmanHidden, Random256AlphabetsRoundTripAndBounds, 6) {
  std::mt19937_64 rng(505);
  for (int trial = 0; trial < 20; ++trial) {
    std::string text;
    const size_t n = 1 + rng() % 5000;
    std::geometric_distribution<int> geo(0.02 + 0.05 * (trial % 5));
    for (size_t i = 0; i < n; ++i)
      text += static_cast<char>(static_cast<unsigned char>(geo(rng) % 256));
    const nibble::HuffmanCode code = nibble::huffman_code_for_text(text);
    ASSERT_EQ(code.lengths.size(), 256u) << hint(
        "Huffman over 256 byte counts: full tree (Kraft sum 1), H <= average < H + 1, lossless "
        "round trip");
    ASSERT_EQ(code.codes.size(), 256u) << hint(
        "Huffman over 256 byte counts: full tree (Kraft sum 1), H <= average < H + 1, lossless "
        "round trip");
    EXPECT_EQ(nibble::huffman_decode(nibble::huffman_encode(text, code), code), text)
        << "trial " << trial
        << hint(
               "Huffman over 256 byte counts: full tree (Kraft sum 1), H <= average < H + 1, "
               "lossless round trip");
    Dist p(256, 0.0);
    for (const char c : text) p[static_cast<unsigned char>(c)] += 1.0;
    double used = 0, kraft = 0;
    for (size_t s = 0; s < 256; ++s) {
      p[s] /= static_cast<double>(n);
      if (code.lengths[s] > 0) kraft += std::ldexp(1.0, -code.lengths[s]);
      if (p[s] > 0) ++used;
      EXPECT_EQ(code.lengths[s] > 0, p[s] > 0)
          << "symbol " << s << " trial " << trial
          << hint(
                 "Huffman over 256 byte counts: full tree (Kraft sum 1), H <= average < H + 1, "
                 "lossless round trip");
    }
    double avg = 0.0;
    for (size_t s = 0; s < 256; ++s) avg += p[s] * code.lengths[s];
    const double h = ref_entropy(p);
    if (used > 1) {
      EXPECT_NEAR(kraft, 1.0, 1e-12) << "full tree, trial " << trial
                                     << hint(
                                            "Huffman over 256 byte counts: full tree (Kraft sum "
                                            "1), H <= average < H + 1, lossless round trip");
      EXPECT_GE(avg, h - 1e-9) << "trial " << trial
                               << hint(
                                      "Huffman over 256 byte counts: full tree (Kraft sum 1), H <= "
                                      "average < H + 1, lossless round trip");
      EXPECT_LT(avg, h + 1.0) << "trial " << trial
                              << hint(
                                     "Huffman over 256 byte counts: full tree (Kraft sum 1), H <= "
                                     "average < H + 1, lossless round trip");
    }
  }
}

GRADED_TEST(HuffmanHidden, UniformBytesGetEightBits, 3) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const nibble::HuffmanCode code = nibble::huffman_code_for_text(all);
  ASSERT_EQ(code.lengths.size(), 256u) << "one length per byte value"
                                       << hint(
                                              "256 equal counts: every byte gets 8 bits, and "
                                              "canonical codes give byte b the binary of b");
  ASSERT_EQ(code.codes.size(), 256u) << "one codeword per byte value"
                                     << hint(
                                            "256 equal counts: every byte gets 8 bits, and "
                                            "canonical codes give byte b the binary of b");
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(code.lengths[static_cast<size_t>(b)], 8)
        << "byte " << b
        << hint(
               "256 equal counts: every byte gets 8 bits, and canonical codes give byte b the "
               "binary of b");
    // canonical: symbol b gets the 8-bit binary of b
    std::string expect;
    for (int bit = 7; bit >= 0; --bit) expect += ((b >> bit) & 1) ? '1' : '0';
    EXPECT_EQ(code.codes[static_cast<size_t>(b)], expect)
        << "byte " << b
        << hint(
               "256 equal counts: every byte gets 8 bits, and canonical codes give byte b the "
               "binary of b");
  }
}

GRADED_TEST(HuffmanHidden, SingleSymbolAndFibonacciDepth, 4) {
  const nibble::HuffmanCode one = nibble::huffman_code_for_text("zzzz");
  ASSERT_EQ(one.lengths.size(), 256u)
      << "one length per byte value"
      << hint("one used symbol gets a 1-bit codeword; always merge the two lightest trees");
  ASSERT_EQ(one.codes.size(), 256u)
      << "one codeword per byte value"
      << hint("one used symbol gets a 1-bit codeword; always merge the two lightest trees");
  EXPECT_EQ(one.codes['z'], "0")
      << "one symbol: one bit per occurrence"
      << hint("one used symbol gets a 1-bit codeword; always merge the two lightest trees");
  EXPECT_EQ(nibble::huffman_encode("zzzz", one), "0000")
      << hint("one used symbol gets a 1-bit codeword; always merge the two lightest trees");
  EXPECT_EQ(nibble::huffman_decode("0000", one), "zzzz")
      << hint("one used symbol gets a 1-bit codeword; always merge the two lightest trees");
  // Fibonacci weights 1,1,2,3,5,...: the tree is a path, lengths n-1, n-1, n-2, ..., 1.
  std::vector<double> fib = {1, 1};
  while (fib.size() < 20) fib.push_back(fib[fib.size() - 1] + fib[fib.size() - 2]);
  const std::vector<int> lengths = nibble::huffman_code_lengths(fib);
  ASSERT_EQ(lengths.size(), 20u)
      << "one length per weight"
      << hint("one used symbol gets a 1-bit codeword; always merge the two lightest trees");
  EXPECT_EQ(lengths[0], 19) << hint(
      "one used symbol gets a 1-bit codeword; always merge the two lightest trees");
  EXPECT_EQ(lengths[1], 19) << hint(
      "one used symbol gets a 1-bit codeword; always merge the two lightest trees");
  for (size_t i = 2; i < 20; ++i)
    EXPECT_EQ(lengths[i], static_cast<int>(20 - i))
        << "symbol " << i
        << hint("one used symbol gets a 1-bit codeword; always merge the two lightest trees");
}

GRADED_TEST(HuffmanHidden, DecodeRejectsTruncatedBits, 2) {
  const nibble::HuffmanCode code = nibble::huffman_code({0.5, 0.25, 0.25});
  ASSERT_EQ(nibble::huffman_decode("011", code), std::string("\x00\x02", 2))
      << "valid bits first" << hint("throw when the bits end in the middle of a codeword");
  bool plain_error = false;
  try {
    nibble::huffman_decode("01", code);  // "0" then a lone "1"
  } catch (const nibble::NotImplemented&) {
  } catch (const nibble::Error&) {
    plain_error = true;
  }
  EXPECT_TRUE(plain_error) << "\"01\" ends inside a codeword"
                           << hint("throw when the bits end in the middle of a codeword");
}
