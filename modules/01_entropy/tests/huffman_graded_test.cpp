// Module 01 — graded tests for info_theory/huffman.h (26 of the module's 100 points).
// Expected values are worked out by hand in the comments. Run them with `nibble test 01`.
#include <cmath>
#include <string>
#include <vector>

#include "core/io/text.h"
#include "info_theory/huffman.h"
#include "modules/graded.h"

namespace {

using nibble::grading::hint;

template <typename T>
std::string show(const std::vector<T>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    if constexpr (std::is_same_v<T, std::string>) s += "\"" + v[i] + "\"";
    else s += std::to_string(v[i]);
  }
  return s + "}";
}

// The test's own entropy, so the bounds below do not depend on the student's entropy_bits.
double reference_entropy(const std::vector<double>& p) {
  double h = 0.0;
  for (const double x : p)
    if (x > 0.0) h -= x * std::log2(x);
  return h;
}

double kraft_sum(const std::vector<int>& lengths) {
  double s = 0.0;
  for (const int l : lengths)
    if (l > 0) s += std::ldexp(1.0, -l);
  return s;
}

// No codeword is a prefix of another.
bool prefix_free(const std::vector<std::string>& codes) {
  for (size_t a = 0; a < codes.size(); ++a)
    for (size_t b = 0; b < codes.size(); ++b)
      if (a != b && !codes[a].empty() && !codes[b].empty() && codes[b].rfind(codes[a], 0) == 0)
        return false;
  return true;
}

}  // namespace

GRADED_TEST(HuffmanGraded, WorkedExampleLengths, 6) {
  // Merge 1/4 + 1/4 -> 1/2, then 1/2 + 1/2: the first symbol sits at depth 1, the others at 2.
  EXPECT_EQ(nibble::huffman_code_lengths({0.5, 0.25, 0.25}), (std::vector<int>{1, 2, 2}))
      << "weights {0.5, 0.25, 0.25}" << hint("a symbol's length is its depth in the merged tree");
  EXPECT_EQ(nibble::huffman_code_lengths({0.5, 0.25, 0.125, 0.125}), (std::vector<int>{1, 2, 3, 3}))
      << "weights {1/2, 1/4, 1/8, 1/8}" << hint("dyadic probabilities: length = log2(1/p)");
  EXPECT_EQ(nibble::huffman_code_lengths({1, 1, 1, 1}), (std::vector<int>{2, 2, 2, 2}))
      << "four equal counts" << hint("counts work as weights too: only their ratios matter");
  EXPECT_EQ(nibble::huffman_code_lengths({3, 0, 1}), (std::vector<int>{1, 0, 1}))
      << "weights {3, 0, 1}" << hint("a symbol of weight 0 gets no codeword: length 0");
  EXPECT_EQ(nibble::huffman_code_lengths({0, 7}), (std::vector<int>{0, 1}))
      << "a single used symbol" << hint("one symbol still needs a 1-bit codeword");
}

GRADED_TEST(HuffmanGraded, CanonicalCodes, 6) {
  EXPECT_EQ(nibble::canonical_codes({1, 2, 2}), (std::vector<std::string>{"0", "10", "11"}))
      << "lengths {1, 2, 2}" << hint("first code 0; next = (code + 1) << (new length - old length)");
  EXPECT_EQ(nibble::canonical_codes({2, 0, 1}), (std::vector<std::string>{"10", "", "0"}))
      << "lengths {2, 0, 1}" << hint("visit symbols sorted by (length, symbol); unused symbols get \"\"");
  EXPECT_EQ(nibble::canonical_codes({1, 2, 3, 3}), (std::vector<std::string>{"0", "10", "110", "111"}))
      << "lengths {1, 2, 3, 3}";
  // Sorted: symbols 2, 3, 4 (length 2) -> 00, 01, 10; then (2 + 1) << 1 = 6 -> 110, 111.
  const std::vector<std::string> codes = nibble::canonical_codes({3, 3, 2, 2, 2});
  EXPECT_EQ(codes, (std::vector<std::string>{"110", "111", "00", "01", "10"}))
      << "lengths {3, 3, 2, 2, 2}" << hint("ties in length are broken by the symbol index");
  EXPECT_TRUE(prefix_free(codes)) << "codes " << show(codes) << " are not prefix-free";
}

GRADED_TEST(HuffmanGraded, RoundTrip, 8) {
  // "aabc": counts a 2, b 1, c 1 -> lengths a 1, b 2, c 2 -> a "0", b "10", c "11".
  const nibble::HuffmanCode code = nibble::huffman_code_for_text("aabc");
  ASSERT_EQ(code.codes.size(), 256u) << "huffman_code_for_text must cover all 256 byte values";
  EXPECT_EQ(code.codes['a'], "0") << "text \"aabc\"";
  EXPECT_EQ(code.codes['b'], "10") << "text \"aabc\"";
  EXPECT_EQ(code.codes['c'], "11") << "text \"aabc\"";
  EXPECT_EQ(nibble::huffman_encode("abca", code), "010110")
      << "encode \"abca\" with a=0, b=10, c=11" << hint("concatenate the codewords of each byte");
  EXPECT_EQ(nibble::huffman_decode("010110", code), "abca")
      << "decode \"010110\"" << hint("grow a prefix bit by bit; emit a symbol when it is a codeword");

  const std::string full = nibble::data::load_fortunes();
  const std::string text = full.substr(0, 50000);
  const nibble::HuffmanCode big = nibble::huffman_code_for_text(text);
  const std::string bits = nibble::huffman_encode(text, big);
  size_t expected_bits = 0;
  for (const char c : text) expected_bits += big.codes[static_cast<unsigned char>(c)].size();
  EXPECT_EQ(bits.size(), expected_bits) << "the first 50000 bytes of the fortunes";
  const std::string back = nibble::huffman_decode(bits, big);
  EXPECT_TRUE(back == text) << "decode(encode(text)) != text for the first 50000 bytes of the fortunes"
                            << " (got " << back.size() << " bytes back)"
                            << hint("bytes above 127: use static_cast<unsigned char>");
  EXPECT_LT(bits.size(), 8 * text.size()) << "Huffman should beat 8 bits per byte on English text";
}

GRADED_TEST(HuffmanGraded, AverageLengthWithinShannonBounds, 6) {
  EXPECT_NEAR(nibble::average_code_length({0.5, 0.25, 0.25}, {1, 2, 2}), 1.5, 1e-12)
      << "p = {0.5, 0.25, 0.25}, lengths {1, 2, 2}" << hint("sum_i p_i * l_i");
  // {0.4, 0.2, 0.2, 0.1, 0.1}: merges 0.1+0.1, 0.2+0.2, 0.2+0.4, 0.4+0.6 (either valid tree gives)
  // an average of 2.2 bits, the optimum; H ≈ 2.1219.
  const std::vector<double> p = {0.4, 0.2, 0.2, 0.1, 0.1};
  const std::vector<int> lengths = nibble::huffman_code_lengths(p);
  EXPECT_NEAR(kraft_sum(lengths), 1.0, 1e-12)
      << "lengths " << show(lengths) << hint("a Huffman tree is full: sum 2^-l == 1");
  const double avg = nibble::average_code_length(p, lengths);
  EXPECT_NEAR(avg, 2.2, 1e-12) << "p = " << show(p) << ", lengths " << show(lengths)
                               << hint("always merge the two LIGHTEST trees");

  const std::string text = nibble::data::load_fortunes();
  std::vector<double> freq(256, 0.0);
  for (const char c : text) freq[static_cast<unsigned char>(c)] += 1.0 / static_cast<double>(text.size());
  const nibble::HuffmanCode code = nibble::huffman_code_for_text(text);
  double total = 0.0;
  for (double& f : freq) total += f;
  for (double& f : freq) f /= total;
  const double h = reference_entropy(freq);
  const double l = nibble::average_code_length(freq, code.lengths);
  EXPECT_GE(l, h - 1e-9) << "fortunes: average " << l << " < entropy " << h
                         << hint("no prefix code beats the entropy");
  EXPECT_LT(l, h + 1.0) << "fortunes: average " << l << " >= entropy + 1 = " << h + 1
                        << hint("Huffman is optimal: within 1 bit of the entropy");
}
