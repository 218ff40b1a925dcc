// Module 01 — graded tests for info_theory/huffman.h (32 of the module's 100 points).
// Expected values are worked out by hand in the comments or recomputed here (the test's own
// entropy, Kraft sum and canonical-code builder). Run them with `nibble test 01`.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
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
    if constexpr (std::is_same_v<T, std::string>)
      s += "\"" + v[i] + "\"";
    else
      s += std::to_string(v[i]);
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

// The test's own canonical code, by a different route than the lesson's: codeword of symbol s =
// the first `len` bits of the binary fraction sum of 2^-l(t) over the symbols t before s in
// (length, symbol) order (the "Kraft interval" construction).
std::vector<std::string> reference_canonical(const std::vector<int>& lengths) {
  std::vector<size_t> order;
  for (size_t s = 0; s < lengths.size(); ++s)
    if (lengths[s] > 0) order.push_back(s);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::string> codes(lengths.size());
  long double start = 0.0L;
  for (const size_t s : order) {
    std::string word;
    long double frac = start;
    for (int bit = 0; bit < lengths[s]; ++bit) {
      frac *= 2;
      word += frac >= 1 ? '1' : '0';
      if (frac >= 1) frac -= 1;
    }
    codes[s] = word;
    start += std::ldexp(1.0L, -lengths[s]);
  }
  return codes;
}

// Expects a nibble::Error (not NotImplemented) whose message names `function`.
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

}  // namespace

GRADED_TEST(HuffmanGraded, WorkedExampleLengths, 5) {
  // Merge 1/4 + 1/4 -> 1/2, then 1/2 + 1/2: the first symbol sits at depth 1, the others at 2.
  EXPECT_EQ(nibble::huffman_code_lengths({0.5, 0.25, 0.25}), (std::vector<int>{1, 2, 2}))
      << "weights {0.5, 0.25, 0.25}" << hint("a symbol's length is its depth in the merged tree");
  EXPECT_EQ(nibble::huffman_code_lengths({0.5, 0.25, 0.125, 0.125}), (std::vector<int>{1, 2, 3, 3}))
      << "weights {1/2, 1/4, 1/8, 1/8}" << hint("dyadic probabilities: length = log2(1/p)");
  EXPECT_EQ(nibble::huffman_code_lengths({0.1, 0.6, 0.3}), (std::vector<int>{2, 1, 2}))
      << "weights {0.1, 0.6, 0.3}: merge 0.1 + 0.3, then 0.4 + 0.6"
      << hint("keep weights as double: the queue must compare 0.1 < 0.3 < 0.6");
  EXPECT_EQ(nibble::huffman_code_lengths({1, 1, 1, 1}), (std::vector<int>{2, 2, 2, 2}))
      << "four equal counts" << hint("counts work as weights too: only their ratios matter");
  EXPECT_EQ(nibble::huffman_code_lengths({3, 0, 1}), (std::vector<int>{1, 0, 1}))
      << "weights {3, 0, 1}" << hint("a symbol of weight 0 gets no codeword: length 0");
  EXPECT_EQ(nibble::huffman_code_lengths({0, 7}), (std::vector<int>{0, 1}))
      << "a single used symbol" << hint("one symbol still needs a 1-bit codeword");
}

GRADED_TEST(HuffmanGraded, CanonicalCodes, 5) {
  EXPECT_EQ(nibble::canonical_codes({1, 2, 2}), (std::vector<std::string>{"0", "10", "11"}))
      << "lengths {1, 2, 2}"
      << hint("first code 0; next = (code + 1) << (new length - old length)");
  EXPECT_EQ(nibble::canonical_codes({2, 0, 1}), (std::vector<std::string>{"10", "", "0"}))
      << "lengths {2, 0, 1}"
      << hint("visit symbols sorted by (length, symbol); unused symbols get \"\"");
  EXPECT_EQ(nibble::canonical_codes({1, 2, 3, 3}),
            (std::vector<std::string>{"0", "10", "110", "111"}))
      << "lengths {1, 2, 3, 3}"
      << hint("the code grows by one bit: shift left by the length difference");
  // Sorted: symbols 2, 3, 4 (length 2) -> 00, 01, 10; then (2 + 1) << 1 = 6 -> 110, 111.
  const std::vector<std::string> codes = nibble::canonical_codes({3, 3, 2, 2, 2});
  EXPECT_EQ(codes, (std::vector<std::string>{"110", "111", "00", "01", "10"}))
      << "lengths {3, 3, 2, 2, 2}" << hint("ties in length are broken by the symbol index");
  EXPECT_TRUE(prefix_free(codes)) << "codes " << show(codes) << " are not prefix-free"
                                  << hint(
                                         "canonical codes of valid lengths are always prefix-free");
  // Lengths that skip a level and leave room (Kraft sum 15/16 < 1), compared with the test's own
  // builder.
  const std::vector<int> gaps = {4, 1, 0, 4, 3};
  EXPECT_EQ(nibble::canonical_codes(gaps), reference_canonical(gaps))
      << "lengths " << show(gaps)
      << hint("when the length grows by k, shift by k: (code + 1) << k");
}

GRADED_TEST(HuffmanGraded, HuffmanCodeKeepsSymbolsAndIsOptimal, 4) {
  // {0.4, 0.2, 0.2, 0.1, 0.1}: every Huffman tree averages 2.2 bits, the optimum (H ≈ 2.1219).
  // A Shannon code (lengths ceil(log2 1/p) = 2, 3, 3, 4, 4) would average 2.8.
  const std::vector<double> w = {0.4, 0.2, 0.2, 0.1, 0.1};
  const nibble::HuffmanCode code = nibble::huffman_code(w);
  ASSERT_EQ(code.lengths.size(), w.size())
      << "huffman_code(weights).lengths" << hint("one length per symbol");
  ASSERT_EQ(code.codes.size(), w.size())
      << "huffman_code(weights).codes" << hint("one codeword per symbol");
  double avg = 0.0;
  for (size_t s = 0; s < w.size(); ++s) avg += w[s] * code.lengths[s];
  EXPECT_NEAR(avg, 2.2, 1e-12)
      << "weights " << show(w) << ", lengths " << show(code.lengths)
      << hint("take the lengths from huffman_code_lengths (optimal), not ceil(log2 1/p)");
  EXPECT_NEAR(kraft_sum(code.lengths), 1.0, 1e-12)
      << "lengths " << show(code.lengths) << hint("a Huffman tree is full: sum 2^-l == 1");
  EXPECT_EQ(code.codes, reference_canonical(code.lengths))
      << "codes " << show(code.codes) << " for lengths " << show(code.lengths)
      << hint("codes = canonical_codes(lengths)");
  // Weight-0 symbols keep their place (length 0, codeword ""): symbol s of the result is symbol s.
  const nibble::HuffmanCode sparse = nibble::huffman_code({0, 3, 0, 1, 0});
  EXPECT_EQ(sparse.lengths, (std::vector<int>{0, 1, 0, 1, 0}))
      << "weights {0, 3, 0, 1, 0}"
      << hint("do not drop unused symbols: indices must stay the symbols");
  EXPECT_EQ(sparse.codes, (std::vector<std::string>{"", "0", "", "1", ""}))
      << "weights {0, 3, 0, 1, 0}" << hint("unused symbols get \"\"");
}

GRADED_TEST(HuffmanGraded, RoundTrip, 6) {
  // "aabc": counts a 2, b 1, c 1 -> lengths a 1, b 2, c 2 -> a "0", b "10", c "11".
  const nibble::HuffmanCode code = nibble::huffman_code_for_text("aabc");
  ASSERT_EQ(code.codes.size(), 256u) << "huffman_code_for_text(\"aabc\").codes"
                                     << hint("one entry per byte value: weights are 256 counts");
  ASSERT_EQ(code.lengths.size(), 256u) << "huffman_code_for_text(\"aabc\").lengths"
                                       << hint("one entry per byte value: weights are 256 counts");
  EXPECT_EQ(code.codes['a'], "0") << "text \"aabc\"" << hint("weights are the COUNTS of each byte");
  EXPECT_EQ(code.codes['b'], "10")
      << "text \"aabc\"" << hint("canonical codes of lengths a 1, b 2, c 2");
  EXPECT_EQ(code.codes['c'], "11")
      << "text \"aabc\"" << hint("count every character, the last one too");
  EXPECT_EQ(nibble::huffman_encode("abca", code), "010110")
      << "encode \"abca\" with a=0, b=10, c=11"
      << hint("concatenate the codewords of each byte, in order");
  EXPECT_EQ(nibble::huffman_decode("010110", code), "abca")
      << "decode \"010110\""
      << hint("grow a prefix bit by bit; emit a symbol when it is a codeword");

  // Bytes above 127 next to their ASCII twins (byte & 127): 0xc1/'A', 0xff/0x7f, 0x80/0x00.
  const std::string high(
      "AA\xc1\xc1\xc1\xff\x7f\x80\x00\x00\xc1"
      "A",
      12);
  const nibble::HuffmanCode hc = nibble::huffman_code_for_text(high);
  ASSERT_EQ(hc.codes.size(), 256u) << "code of a text with bytes above 127" << hint("256 symbols");
  for (const unsigned char b : {0x41, 0xc1, 0xff, 0x7f, 0x80, 0x00})
    EXPECT_FALSE(hc.codes[b].empty())
        << "byte " << int(b) << " of the text has no codeword"
        << hint("count with static_cast<unsigned char>(c): 256 symbols");
  const std::string hbits = nibble::huffman_encode(high, hc);
  size_t expected_len = 0;
  for (const char c : high) expected_len += hc.codes[static_cast<unsigned char>(c)].size();
  EXPECT_EQ(hbits.size(), expected_len)
      << "encoded bits of a text with bytes above 127"
      << hint("one codeword per byte: codes[static_cast<unsigned char>(c)]");
  EXPECT_EQ(hbits.substr(0, hc.codes[0x41].size() * 2), hc.codes[0x41] + hc.codes[0x41])
      << "the text starts \"AA\"" << hint("codes[static_cast<unsigned char>(c)], in text order");
  EXPECT_TRUE(nibble::huffman_decode(hbits, hc) == high)
      << "decode(encode(text)) != text for a text with bytes 0x80, 0xc1, 0xff beside 0x00, 'A', "
         "0x7f"
      << hint(
             "bytes above 127: static_cast<unsigned char> in encode, static_cast<char> of the "
             "symbol in decode");

  const std::string full = nibble::data::load_fortunes();
  const std::string text = full.substr(0, 50000);
  const nibble::HuffmanCode big = nibble::huffman_code_for_text(text);
  const std::string bits = nibble::huffman_encode(text, big);
  size_t expected_bits = 0;
  for (const char c : text) expected_bits += big.codes[static_cast<unsigned char>(c)].size();
  EXPECT_EQ(bits.size(), expected_bits)
      << "the first 50000 bytes of the fortunes" << hint("one codeword per byte, every byte");
  const std::string back = nibble::huffman_decode(bits, big);
  EXPECT_TRUE(back == text)
      << "decode(encode(text)) != text for the first 50000 bytes of the fortunes"
      << " (got " << back.size() << " bytes back)"
      << hint("bytes above 127: use static_cast<unsigned char>");
  EXPECT_LT(bits.size(), 8 * text.size())
      << "the first 50000 bytes of the fortunes"
      << hint("Huffman should beat 8 bits per byte on English text");
}

GRADED_TEST(HuffmanGraded, AverageLengthWithinShannonBounds, 5) {
  EXPECT_NEAR(nibble::average_code_length({0.5, 0.25, 0.25}, {1, 2, 2}), 1.5, 1e-12)
      << "p = {0.5, 0.25, 0.25}, lengths {1, 2, 2}" << hint("sum_i p_i * l_i");
  // Not matched to the code: 0.1*3 + 0.6*1 + 0.3*3 = 1.8 (a valid but poor code for this p).
  EXPECT_NEAR(nibble::average_code_length({0.1, 0.6, 0.3}, {3, 1, 3}), 1.8, 1e-12)
      << "p = {0.1, 0.6, 0.3}, lengths {3, 1, 3}"
      << hint("weight each length by p_i, every symbol, the last too");
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
  for (const char c : text)
    freq[static_cast<unsigned char>(c)] += 1.0 / static_cast<double>(text.size());
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
  EXPECT_NEAR(kraft_sum(code.lengths), 1.0, 1e-12)
      << "the fortunes' code" << hint("a Huffman tree is full: sum 2^-l == 1");
}

GRADED_TEST(HuffmanGraded, DecodeRejectsBitsEndingInsideACodeword, 4) {
  // a -> "0", b -> "10", c -> "11" (from weights {2, 1, 1}).
  const nibble::HuffmanCode code = nibble::huffman_code({2, 1, 1});
  ASSERT_EQ(nibble::huffman_decode("011", code), std::string("\x00\x02", 2))
      << "decode \"011\" with 0 -> symbol 0, 10 -> 1, 11 -> 2" << hint("valid bits first");
  EXPECT_TRUE(rejects([&] { nibble::huffman_decode("01", code); }, "huffman_decode",
                      "bits \"01\" (\"0\", then a lone \"1\")"))
      << hint(
             "after the last bit the prefix must be empty; otherwise throw (nibble::check / fail)");
  EXPECT_TRUE(rejects([&] { nibble::huffman_decode("1", code); }, "huffman_decode", "bits \"1\""));
  EXPECT_TRUE(
      rejects([&] { nibble::huffman_decode("0120", code); }, "huffman_decode", "bits \"0120\""));
  EXPECT_EQ(nibble::huffman_decode("", code), "")
      << "no bits" << hint("no bits decode to an empty text");
}

GRADED_TEST(HuffmanGraded, RejectsBadInputWithClearMessages, 3) {
  // A valid call first, so this test cannot pass on a stub.
  ASSERT_EQ(nibble::huffman_code_lengths({0.5, 0.25, 0.25}), (std::vector<int>{1, 2, 2}))
      << "weights {0.5, 0.25, 0.25}" << hint("write huffman_code_lengths first");
  const nibble::HuffmanCode code = nibble::huffman_code({2, 1, 1});
  EXPECT_TRUE(
      rejects([] { nibble::huffman_code_lengths({}); }, "huffman_code_lengths", "no weights"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::huffman_code_lengths({1.0, -1.0});
      },
      "huffman_code_lengths", "a negative weight"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::huffman_code_lengths({0.0, 0.0});
      },
      "huffman_code_lengths", "all weights 0"));
  EXPECT_TRUE(rejects([] { nibble::huffman_code({0.0}); }, "huffman_code", "all weights 0"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::canonical_codes({1, 1, 1});
      },
      "canonical_codes", "Kraft sum 3/2"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::canonical_codes({-1, 1});
      },
      "canonical_codes", "a negative length"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::canonical_codes({64, 1});
      },
      "canonical_codes", "a length of 64"));
  EXPECT_TRUE(
      rejects([] { nibble::huffman_code_for_text(""); }, "huffman_code_for_text", "an empty text"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::average_code_length({0.5, 0.5}, {1});
      },
      "average_code_length", "sizes 2 and 1"));
  EXPECT_TRUE(rejects(
      [] {
        nibble::average_code_length({0.5, 0.5}, {1, 0});
      },
      "average_code_length", "p = 0.5 with length 0"));
  EXPECT_TRUE(rejects([&] { nibble::huffman_encode("abd", code); }, "huffman_encode",
                      "byte 'a' (97) outside a 3-symbol code"));
  EXPECT_TRUE(rejects([&] { nibble::huffman_decode("01x", code); }, "huffman_decode", "a bit 'x'"));
}
