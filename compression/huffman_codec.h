// Canonical Huffman streams of byte symbols for the .nbz format (layout: compression/FORMAT.md,
// "Huffman stream"). A stream is a small code-length table followed by the packed codewords:
//   - the lengths come from module 01's huffman_code_lengths (info_theory/huffman.h), limited to
//     kMaxCodeLength bits by halving the counts (keeping every used symbol >= 1) until they fit;
//   - only the lengths are stored (canonical codes: the lengths decide the codewords), delta-coded
//     symbol after symbol, about 2 bits per symbol for a smooth distribution;
//   - a stream of one distinct symbol stores that symbol and 0 bits per occurrence;
//   - the decoder looks the next L bits up in a table of 2^L entries (L = the longest code).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compression/bitstream.h"
#include "core/error.h"

namespace nibble::compression {

// The longest codeword the format allows (as DEFLATE). 256 symbols need at most 8 bits, so any
// alphabet fits; Huffman's own lengths exceed 15 only for counts spanning a factor > ~1000 (a
// Fibonacci-like spread), where the limit costs a fraction of a percent.
constexpr int kMaxCodeLength = 15;
constexpr int kMaxAlphabet = 256;

// A malformed stream: what is wrong and at which bit of the stream. nbz.cpp catches it and
// rethrows with the file, layer, field and byte offset.
class StreamError : public Error {
 public:
  StreamError(const std::string& problem, int64_t bit) : Error(problem), bit_(bit) {}
  int64_t bit() const { return bit_; }

 private:
  int64_t bit_;
};

// counts[s] = occurrences of symbol s (counts.size() = alphabet size, 1..256). Lengths <= max_length
// (1..15) for every used symbol, 0 for unused ones; a complete prefix code when >= 2 symbols are
// used, {1} for the one used symbol otherwise, all 0 when nothing is used. Throws nibble::Error
// when module 01's huffman_code_lengths returns lengths that are not a complete prefix code.
std::vector<int> limited_code_lengths(const std::vector<int64_t>& counts, int max_length = kMaxCodeLength);

// Canonical codewords for lengths (symbols sorted by (length, symbol), counting upwards).
std::vector<uint32_t> canonical_codewords(const std::vector<int>& lengths);

// Exact size in bits (table + codewords, before the padding to a byte) of the stream encode_stream
// would write for symbols with these counts; 0 when no symbol occurs (an empty stream).
int64_t stream_bits(const std::vector<int64_t>& counts);

// The codewords' share of stream_bits: sum over s of counts[s] x the length of s (0 for a one-symbol
// or empty stream). stream_bits - codeword_bits is the code-length table.
int64_t codeword_bits(const std::vector<int64_t>& counts);

// The stream of `symbols` (each < alphabet) as bytes; empty when symbols is empty.
// *bits (optional) receives stream_bits of the symbols' counts.
std::vector<uint8_t> encode_stream(const std::vector<uint8_t>& symbols, int alphabet, int64_t* bits = nullptr);

// Empirical entropy of the symbols, times their number (bits): N log2 N - sum_s c_s log2 c_s.
double entropy_bits(const std::vector<int64_t>& counts);

// Reads a stream's table, then one symbol at a time. Symbols are < the alphabet given to
// read_table; a table naming more symbols throws StreamError.
class HuffmanDecoder {
 public:
  void read_table(BitReader& in, int alphabet);
  int decode(BitReader& in) const {
    if (max_length_ == 0) return single_;
    const uint16_t entry = table_[in.peek(max_length_)];
    in.skip(entry & 15);
    return entry >> 4;
  }
  int max_length() const { return max_length_; }
  // The one symbol of a one-symbol stream (0 bits per occurrence), -1 otherwise.
  int single_symbol() const { return max_length_ == 0 ? single_ : -1; }

 private:
  int max_length_ = 0;             // 0: one symbol, 0 bits per occurrence
  int single_ = 0;
  std::vector<uint16_t> table_;    // next max_length_ bits -> (symbol << 4) | codeword length
};

}  // namespace nibble::compression
