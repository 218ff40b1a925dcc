#include "compression/huffman_codec.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "info_theory/huffman.h"

namespace nibble::compression {

namespace {

// Table layout (compression/FORMAT.md): 4 bits L, 8 bits n - 1, then (L > 0) n delta-coded lengths.
constexpr int kLengthBits = 4;
constexpr int kCountBits = 8;

// One length given the previous one: '0' same, '10'+s previous +1 (s = 0) or -1 (s = 1), '11'+4 bits.
int length_code_bits(int length, int previous) {
  if (length == previous) return 1;
  if (length == previous + 1 || length == previous - 1) return 3;
  return 2 + kLengthBits;
}

void put_length(BitWriter& out, int length, int previous) {
  if (length == previous) {
    out.put(0, 1);
  } else if (length == previous + 1) {
    out.put(0b100, 3);
  } else if (length == previous - 1) {
    out.put(0b101, 3);
  } else {
    out.put(0b11, 2);
    out.put(static_cast<uint32_t>(length), kLengthBits);
  }
}

int used_symbols(const std::vector<int64_t>& counts, int* last) {
  int used = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    if (counts[s] > 0) {
      ++used;
      *last = static_cast<int>(s);
    }
  }
  return used;
}

int64_t table_bits(const std::vector<int>& lengths, int n) {
  int64_t bits = kLengthBits + kCountBits;
  int previous = 0;
  for (int s = 0; s < n; ++s) {
    bits += length_code_bits(lengths[static_cast<size_t>(s)], previous);
    previous = lengths[static_cast<size_t>(s)];
  }
  return bits;
}

// Kraft's sum for lengths <= 15 in units of 2^-15: a complete prefix code sums to exactly 2^15.
int64_t kraft_units(const std::vector<int>& lengths) {
  int64_t sum = 0;
  for (const int l : lengths)
    if (l > 0) sum += int64_t{1} << (kMaxCodeLength - l);
  return sum;
}

}  // namespace

std::vector<int> limited_code_lengths(const std::vector<int64_t>& counts, int max_length) {
  const char* op = "limited_code_lengths";
  NIBBLE_CHECK(!counts.empty() && counts.size() <= static_cast<size_t>(kMaxAlphabet), op,
               "alphabet of " + std::to_string(counts.size()) + " symbols (allowed 1..256)");
  NIBBLE_CHECK(max_length >= 1 && max_length <= kMaxCodeLength, op,
               "max_length " + std::to_string(max_length) + " outside 1..15");
  int last = 0;
  const int used = used_symbols(counts, &last);
  std::vector<int> lengths(counts.size(), 0);
  if (used == 0) return lengths;
  if (used == 1) {
    lengths[static_cast<size_t>(last)] = 1;
    return lengths;
  }
  std::vector<double> weights(counts.size(), 0.0);
  for (size_t s = 0; s < counts.size(); ++s) {
    NIBBLE_CHECK(counts[s] >= 0, op, "counts[" + std::to_string(s) + "] = " + std::to_string(counts[s]) + " < 0");
    weights[s] = static_cast<double>(counts[s]);
  }
  // Halving keeps every used symbol at weight >= 1, so after ~40 rounds all weights are equal and
  // the lengths are balanced (<= 8 for 256 symbols); 64 rounds only guard against a broken module 01.
  for (int round = 0; round < 64; ++round) {
    lengths = huffman_code_lengths(weights);
    NIBBLE_CHECK(lengths.size() == counts.size(), op,
                 "huffman_code_lengths (module 01) returned " + std::to_string(lengths.size()) +
                     " lengths for " + std::to_string(counts.size()) + " weights",
                 "finish module 01 (modules/01_entropy): one length per symbol");
    const int longest = *std::max_element(lengths.begin(), lengths.end());
    if (longest <= max_length) {
      for (size_t s = 0; s < counts.size(); ++s) {
        NIBBLE_CHECK((lengths[s] > 0) == (counts[s] > 0), op,
                     "huffman_code_lengths (module 01) gave symbol " + std::to_string(s) + " (count " +
                         std::to_string(counts[s]) + ") length " + std::to_string(lengths[s]),
                     "finish module 01 (modules/01_entropy): used symbols get a length >= 1, unused ones 0");
      }
      NIBBLE_CHECK(kraft_units(lengths) == (int64_t{1} << kMaxCodeLength), op,
                   "huffman_code_lengths (module 01) returned lengths whose Kraft sum is not 1 (" +
                       std::to_string(std::ldexp(static_cast<double>(kraft_units(lengths)), -kMaxCodeLength)) +
                       ")",
                   "finish module 01 (modules/01_entropy): Huffman's lengths form a complete prefix code");
      return lengths;
    }
    for (double& w : weights)
      if (w > 0.0) w = std::max(1.0, std::floor(w / 2.0));
  }
  fail(op, "huffman_code_lengths (module 01) returns codes longer than " + std::to_string(max_length) +
               " bits even for equal weights",
       "finish module 01 (modules/01_entropy)");
}

std::vector<uint32_t> canonical_codewords(const std::vector<int>& lengths) {
  // next[l]: the next codeword of length l; the first of each length follows the last of the
  // shorter ones, shifted left (DEFLATE's construction, RFC 1951 3.2.2).
  int count[kMaxCodeLength + 1] = {0};
  for (const int l : lengths) {
    NIBBLE_CHECK(l >= 0 && l <= kMaxCodeLength, "canonical_codewords",
                 "code length " + std::to_string(l) + " outside 0..15");
    ++count[l];
  }
  uint32_t next[kMaxCodeLength + 2] = {0};
  uint32_t code = 0;
  count[0] = 0;
  for (int l = 1; l <= kMaxCodeLength; ++l) {
    code = (code + static_cast<uint32_t>(count[l - 1])) << 1;
    next[l] = code;
  }
  std::vector<uint32_t> words(lengths.size(), 0);
  for (size_t s = 0; s < lengths.size(); ++s)
    if (lengths[s] > 0) words[s] = next[lengths[s]]++;
  return words;
}

int64_t stream_bits(const std::vector<int64_t>& counts) {
  int last = 0;
  const int used = used_symbols(counts, &last);
  if (used == 0) return 0;
  if (used == 1) return kLengthBits + kCountBits;
  const std::vector<int> lengths = limited_code_lengths(counts);
  int64_t bits = table_bits(lengths, last + 1);
  for (size_t s = 0; s < counts.size(); ++s) bits += counts[s] * lengths[s];
  return bits;
}

int64_t codeword_bits(const std::vector<int64_t>& counts) {
  int last = 0;
  if (used_symbols(counts, &last) < 2) return 0;
  const std::vector<int> lengths = limited_code_lengths(counts);
  int64_t bits = 0;
  for (size_t s = 0; s < counts.size(); ++s) bits += counts[s] * lengths[s];
  return bits;
}

std::vector<uint8_t> encode_stream(const std::vector<uint8_t>& symbols, int alphabet, int64_t* bits) {
  NIBBLE_CHECK(alphabet >= 1 && alphabet <= kMaxAlphabet, "encode_stream",
               "alphabet of " + std::to_string(alphabet) + " symbols (allowed 1..256)");
  std::vector<int64_t> counts(static_cast<size_t>(alphabet), 0);
  for (const uint8_t s : symbols) {
    NIBBLE_CHECK(s < alphabet, "encode_stream",
                 "symbol " + std::to_string(s) + " outside the alphabet of " + std::to_string(alphabet));
    ++counts[s];
  }
  BitWriter out;
  int last = 0;
  const int used = used_symbols(counts, &last);
  if (used == 1) {
    out.put(0, kLengthBits);  // L = 0: one symbol, no codewords
    out.put(static_cast<uint32_t>(last), kCountBits);
  } else if (used > 1) {
    const std::vector<int> lengths = limited_code_lengths(counts);
    const int longest = *std::max_element(lengths.begin(), lengths.end());
    out.put(static_cast<uint32_t>(longest), kLengthBits);
    out.put(static_cast<uint32_t>(last), kCountBits);
    int previous = 0;
    for (int s = 0; s <= last; ++s) {
      put_length(out, lengths[static_cast<size_t>(s)], previous);
      previous = lengths[static_cast<size_t>(s)];
    }
    const std::vector<uint32_t> words = canonical_codewords(lengths);
    for (const uint8_t s : symbols) out.put(words[s], lengths[s]);
  }
  if (bits != nullptr) *bits = out.bits();
  return out.finish();
}

double entropy_bits(const std::vector<int64_t>& counts) {
  double total = 0.0, sum_c_log_c = 0.0;
  for (const int64_t c : counts) {
    if (c <= 0) continue;
    total += static_cast<double>(c);
    sum_c_log_c += static_cast<double>(c) * std::log2(static_cast<double>(c));
  }
  return total > 0.0 ? total * std::log2(total) - sum_c_log_c : 0.0;
}

void HuffmanDecoder::read_table(BitReader& in, int alphabet) {
  const int64_t start = in.position();
  const int longest = static_cast<int>(in.get(kLengthBits));
  const int n = static_cast<int>(in.get(kCountBits)) + 1;
  if (in.overrun()) throw StreamError("the code-length table is cut short", start);
  if (n > alphabet)
    throw StreamError("the code table lists " + std::to_string(n) + " symbols but the alphabet has " +
                          std::to_string(alphabet) + " (a symbol >= " + std::to_string(alphabet) + ")",
                      start + kLengthBits);
  max_length_ = longest;
  if (longest == 0) {  // one symbol, n - 1
    single_ = n - 1;
    table_.clear();
    return;
  }
  std::vector<int> lengths(static_cast<size_t>(n), 0);
  int previous = 0;
  for (int s = 0; s < n; ++s) {
    const int64_t at = in.position();
    int length;
    if (in.get(1) == 0) {
      length = previous;
    } else if (in.get(1) == 0) {
      length = in.get(1) == 0 ? previous + 1 : previous - 1;
    } else {
      length = static_cast<int>(in.get(kLengthBits));
    }
    if (in.overrun()) throw StreamError("the code-length table is cut short", at);
    if (length < 0 || length > longest)
      throw StreamError("symbol " + std::to_string(s) + " has code length " + std::to_string(length) +
                            ", outside 0.." + std::to_string(longest) + " (the table's longest code)",
                        at);
    lengths[static_cast<size_t>(s)] = length;
    previous = length;
  }
  if (lengths.back() == 0)
    throw StreamError("the table's last symbol " + std::to_string(n - 1) + " has no codeword", start + kLengthBits);
  if (*std::max_element(lengths.begin(), lengths.end()) != longest)
    throw StreamError("no code has the table's longest length " + std::to_string(longest), start);
  if (kraft_units(lengths) != (int64_t{1} << kMaxCodeLength))
    throw StreamError("the code lengths are not a complete prefix code (Kraft sum " +
                          std::to_string(std::ldexp(static_cast<double>(kraft_units(lengths)), -kMaxCodeLength)) +
                          " != 1)",
                      start);
  // Every codeword c of length l owns the 2^(L-l) table entries that start with it; a complete
  // code fills the table exactly.
  const std::vector<uint32_t> words = canonical_codewords(lengths);
  table_.assign(size_t{1} << longest, 0);
  for (int s = 0; s < n; ++s) {
    const int l = lengths[static_cast<size_t>(s)];
    if (l == 0) continue;
    const uint32_t first = words[static_cast<size_t>(s)] << (longest - l);
    const uint32_t span = 1u << (longest - l);
    const auto entry = static_cast<uint16_t>((s << 4) | l);
    std::fill(table_.begin() + first, table_.begin() + first + span, entry);
  }
}

}  // namespace nibble::compression
