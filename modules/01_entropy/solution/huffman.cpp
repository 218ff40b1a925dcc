// Module 01 — Huffman codes. The API, with what each function must do: info_theory/huffman.h.
// Your code replaces each `throw nibble::NotImplemented`; the input checks before it are given.
#include "info_theory/huffman.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "info_theory/entropy.h"

namespace nibble {

// ---- input checks (given) ------------------------------------------------------------------------

namespace huffman_checks {

void weights(const std::vector<double>& w, const std::string& function) {
  check(!w.empty(), function, "weights is empty (size 0)", "pass one weight (count) per symbol");
  bool any_positive = false;
  for (size_t i = 0; i < w.size(); ++i) {
    check(std::isfinite(w[i]) && w[i] >= 0.0, function,
          "weights[" + std::to_string(i) + "] = " + std::to_string(w[i]) + " (size " +
              std::to_string(w.size()) + ") is negative or not finite",
          "weights are counts or probabilities: finite and >= 0");
    any_positive = any_positive || w[i] > 0.0;
  }
  check(any_positive, function,
        "every weight is 0 (size " + std::to_string(w.size()) + ")",
        "at least one symbol must occur to build a code");
}

void code(const HuffmanCode& c, const std::string& function) {
  check(c.codes.size() == c.lengths.size(), function,
        "code.codes has " + std::to_string(c.codes.size()) + " entries but code.lengths has " +
            std::to_string(c.lengths.size()),
        "build the code with huffman_code(...) or huffman_code_for_text(...)");
  for (size_t s = 0; s < c.codes.size(); ++s) {
    check(c.codes[s].size() == static_cast<size_t>(std::max(0, c.lengths[s])), function,
          "code.codes[" + std::to_string(s) + "] = \"" + c.codes[s] + "\" does not have length " +
              std::to_string(c.lengths[s]),
          "codes[s] must have lengths[s] bits");
  }
}

}  // namespace huffman_checks

// ---- code lengths ----------------------------------------------------------------------------------

std::vector<int> huffman_code_lengths(const std::vector<double>& weights) {
  huffman_checks::weights(weights, "huffman_code_lengths");
  // BEGIN SOLUTION huffman_code_lengths
  const size_t n = weights.size();
  std::vector<int> lengths(n, 0);
  // Each tree in the queue: (weight, creation order) -> the symbols under it. The creation order
  // breaks ties between equal weights, so the result never depends on the queue's internals.
  using Entry = std::pair<double, size_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
  std::vector<std::vector<size_t>> members;
  for (size_t s = 0; s < n; ++s) {
    if (weights[s] > 0.0) {
      queue.push({weights[s], members.size()});
      members.push_back({s});
    }
  }
  if (queue.size() == 1) {  // one symbol still needs one bit per occurrence
    lengths[members[0][0]] = 1;
    return lengths;
  }
  while (queue.size() > 1) {
    const Entry a = queue.top();
    queue.pop();
    const Entry b = queue.top();
    queue.pop();
    std::vector<size_t> merged;
    for (const size_t id : {a.second, b.second}) {
      for (const size_t s : members[id]) {
        ++lengths[s];  // every symbol under the merged trees moves one level deeper
        merged.push_back(s);
      }
      members[id].clear();
    }
    queue.push({a.first + b.first, members.size()});
    members.push_back(std::move(merged));
  }
  return lengths;
  // END SOLUTION
}

std::vector<std::string> canonical_codes(const std::vector<int>& lengths) {
  check(!lengths.empty(), "canonical_codes", "lengths is empty (size 0)",
        "pass one length per symbol (0 = unused)");
  long double kraft = 0.0L;
  for (size_t s = 0; s < lengths.size(); ++s) {
    check(lengths[s] >= 0 && lengths[s] <= 63, "canonical_codes",
          "lengths[" + std::to_string(s) + "] = " + std::to_string(lengths[s]) +
              " is outside 0..63 (size " + std::to_string(lengths.size()) + ")",
          "0 means the symbol has no codeword; longer codes do not fit in 64 bits");
    if (lengths[s] > 0) kraft += std::ldexp(1.0L, -lengths[s]);
  }
  check(kraft <= 1.0L + 1e-15L, "canonical_codes",
        "the lengths violate Kraft's inequality: sum 2^-l = " +
            std::to_string(static_cast<double>(kraft)) + " > 1 (size " +
            std::to_string(lengths.size()) + ")",
        "no prefix code has these lengths; compute them with huffman_code_lengths");
  // BEGIN SOLUTION canonical_codes
  std::vector<size_t> order;
  for (size_t s = 0; s < lengths.size(); ++s)
    if (lengths[s] > 0) order.push_back(s);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return lengths[a] != lengths[b] ? lengths[a] < lengths[b] : a < b;
  });
  std::vector<std::string> codes(lengths.size());
  uint64_t code = 0;
  int previous = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const int len = lengths[order[i]];
    if (i > 0) code = (code + 1) << (len - previous);
    previous = len;
    std::string word(static_cast<size_t>(len), '0');
    for (int bit = 0; bit < len; ++bit)
      if ((code >> bit) & 1u) word[static_cast<size_t>(len - 1 - bit)] = '1';
    codes[order[i]] = word;
  }
  return codes;
  // END SOLUTION
}

HuffmanCode huffman_code(const std::vector<double>& weights) {
  huffman_checks::weights(weights, "huffman_code");
  // BEGIN SOLUTION huffman_code
  HuffmanCode result;
  result.lengths = huffman_code_lengths(weights);
  result.codes = canonical_codes(result.lengths);
  return result;
  // END SOLUTION
}

HuffmanCode huffman_code_for_text(const std::string& text) {
  check(!text.empty(), "huffman_code_for_text", "text is empty (size 0)",
        "a code needs at least one symbol to encode");
  // BEGIN SOLUTION huffman_code_for_text
  std::vector<double> counts(256, 0.0);
  for (const char c : text) counts[static_cast<unsigned char>(c)] += 1.0;
  return huffman_code(counts);
  // END SOLUTION
}

// ---- average length --------------------------------------------------------------------------------

double average_code_length(const std::vector<double>& p, const std::vector<int>& lengths) {
  check(p.size() == lengths.size(), "average_code_length",
        "p and lengths have different sizes: " + std::to_string(p.size()) + " vs " +
            std::to_string(lengths.size()),
        "one probability and one code length per symbol");
  validate_distribution(p, "average_code_length", "p");
  for (size_t s = 0; s < p.size(); ++s) {
    check(lengths[s] >= 0, "average_code_length",
          "lengths[" + std::to_string(s) + "] = " + std::to_string(lengths[s]) + " is negative",
          "code lengths are >= 0");
    check(!(p[s] > 0.0 && lengths[s] == 0), "average_code_length",
          "symbol " + std::to_string(s) + " has p = " + std::to_string(p[s]) +
              " but no codeword (length 0)",
          "every symbol that can occur needs a codeword");
  }
  // BEGIN SOLUTION average_code_length
  double total = 0.0;
  for (size_t s = 0; s < p.size(); ++s) total += p[s] * lengths[s];
  return total;
  // END SOLUTION
}

// ---- encode / decode ---------------------------------------------------------------------------------

std::string huffman_encode(const std::string& text, const HuffmanCode& code) {
  huffman_checks::code(code, "huffman_encode");
  for (size_t i = 0; i < text.size(); ++i) {
    const size_t byte = static_cast<unsigned char>(text[i]);
    check(byte < code.codes.size() && !code.codes[byte].empty(), "huffman_encode",
          "byte " + std::to_string(byte) + " at position " + std::to_string(i) +
              " has no codeword (code size " + std::to_string(code.codes.size()) + ")",
          "build the code from this text (huffman_code_for_text) so every byte gets a codeword");
  }
  // BEGIN SOLUTION huffman_encode
  std::string bits;
  for (const char c : text) bits += code.codes[static_cast<unsigned char>(c)];
  return bits;
  // END SOLUTION
}

std::string huffman_decode(const std::string& bits, const HuffmanCode& code) {
  huffman_checks::code(code, "huffman_decode");
  for (size_t i = 0; i < bits.size(); ++i) {
    check(bits[i] == '0' || bits[i] == '1', "huffman_decode",
          std::string("bits[") + std::to_string(i) + "] = '" + bits[i] + "' is not '0' or '1' (size " +
              std::to_string(bits.size()) + ")",
          "pass the output of huffman_encode");
  }
  // BEGIN SOLUTION huffman_decode
  std::map<std::string, size_t> symbol_of;
  for (size_t s = 0; s < code.codes.size(); ++s)
    if (!code.codes[s].empty()) symbol_of[code.codes[s]] = s;
  std::string out, prefix;
  for (const char b : bits) {
    prefix += b;
    const auto it = symbol_of.find(prefix);
    if (it != symbol_of.end()) {
      out += static_cast<char>(static_cast<unsigned char>(it->second));
      prefix.clear();
    }
  }
  check(prefix.empty(), "huffman_decode",
        "the bits end in the middle of a codeword: \"" + prefix + "\" left over (size " +
            std::to_string(bits.size()) + ")",
        "the bit string was cut short, or it was encoded with a different code");
  return out;
  // END SOLUTION
}

}  // namespace nibble
