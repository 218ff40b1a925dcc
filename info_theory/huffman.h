// Module 01 — Huffman codes (lesson: modules/01_entropy/README.md).
//
// A prefix code gives each symbol (a byte, 0..255, or an index into a weight vector) a codeword of
// 0s and 1s, no codeword being the start of another, so a bit stream decodes without separators.
// Huffman's algorithm (1952) finds code LENGTHS with the smallest average length sum_i p_i l_i, and
// Shannon's source-coding theorem bounds it:  H(p) <= average length < H(p) + 1.
//
// Codes here are CANONICAL: the lengths decide the codewords (sort symbols by (length, symbol) and
// count upwards), so a decoder only needs the lengths — what DEFLATE/zlib stores in its headers.
//
// Bits are written as a std::string of '0' and '1' characters: readable, and easy to test. A real
// coder packs 8 of them per byte.
#pragma once

#include <string>
#include <vector>

namespace nibble {

struct HuffmanCode {
  std::vector<int> lengths;         // lengths[s]: codeword length of symbol s, 0 = symbol unused
  std::vector<std::string> codes;   // codes[s]: the canonical codeword, "" for unused symbols
};

// ---- code lengths --------------------------------------------------------------------------------
// TODO: the Huffman code length of every symbol, from non-negative weights (counts or probabilities).
// APPROACH: put every symbol with weight > 0 in a min-priority queue of trees; repeatedly merge the
//   two lightest into one whose weight is their sum; a symbol's length is its depth in the final
//   tree. Symbols of weight 0 get length 0 (no codeword). A single used symbol gets length 1.
// EXAMPLE: huffman_code_lengths({0.5, 0.25, 0.25}) == {1, 2, 2};  {1, 1, 1, 1} -> {2, 2, 2, 2}.
// HINTS: std::priority_queue with std::greater; break ties by a node counter so the result is
//   deterministic. Track each symbol's depth: every merge adds 1 to all symbols under both trees.
//   Throws on empty input, negative/non-finite weights or all weights zero.
std::vector<int> huffman_code_lengths(const std::vector<double>& weights);

// TODO: the canonical codewords for given lengths (0 = unused symbol -> "").
// APPROACH: visit used symbols sorted by (length, symbol); code = 0 for the first; for the next,
//   code = (code + 1) << (new_length - old_length). Write `code` in binary with `length` digits.
// EXAMPLE: canonical_codes({1, 2, 2}) == {"0", "10", "11"};  canonical_codes({2, 0, 1}) == {"10", "", "0"}.
// HINTS: use uint64_t for code (lengths up to 63). Throws when the lengths violate Kraft's
//   inequality sum 2^-l <= 1 (no prefix code exists) or a length is negative or above 63.
std::vector<std::string> canonical_codes(const std::vector<int>& lengths);

// TODO: both together: lengths from huffman_code_lengths(weights), codes from canonical_codes.
// EXAMPLE: huffman_code({0.5, 0.25, 0.25}).codes == {"0", "10", "11"}.
HuffmanCode huffman_code(const std::vector<double>& weights);

// TODO: the Huffman code of a text's bytes: 256 symbols weighted by their counts in `text`.
// EXAMPLE: huffman_code_for_text("aab"): lengths['a'] == 1, lengths['b'] == 1, every other 0.
// HINTS: count with static_cast<unsigned char>(c). Throws on an empty text.
HuffmanCode huffman_code_for_text(const std::string& text);

// ---- average length ------------------------------------------------------------------------------
// TODO: the average code length sum_i p_i l_i in bits per symbol.
// EXAMPLE: average_code_length({0.5, 0.25, 0.25}, {1, 2, 2}) == 1.5 (= the entropy: a perfect code).
// HINTS: p must be a valid distribution of the same size as lengths; a symbol with p_i > 0 and
//   l_i == 0 has no codeword: throws.
double average_code_length(const std::vector<double>& p, const std::vector<int>& lengths);

// ---- encode / decode -----------------------------------------------------------------------------
// TODO: the concatenated codewords of every byte of `text`, as '0'/'1' characters.
// EXAMPLE: with codes a -> "0", b -> "10", c -> "11": huffman_encode("abca", code) == "010110".
// HINTS: throws when a byte of the text has no codeword (code.size() <= byte or codes[byte] == "").
std::string huffman_encode(const std::string& text, const HuffmanCode& code);

// TODO: the inverse of huffman_encode: read bits, emit a byte each time a codeword is complete.
// APPROACH: grow a prefix bit by bit and look it up in a std::map<std::string, symbol> of codewords
//   (a prefix code guarantees the first match is the right one) — or walk a binary tree.
// EXAMPLE: huffman_decode("010110", code) == "abca".
// HINTS: throws on a character other than '0'/'1' and when the bits end in the middle of a codeword.
std::string huffman_decode(const std::string& bits, const HuffmanCode& code);

}  // namespace nibble
