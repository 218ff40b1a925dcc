// Packed bit streams for the .nbz format (compression/FORMAT.md): bits are written most significant
// bit first, 8 to a byte, the last byte padded with 0 bits — the order canonical Huffman codes are
// read in, so a decoder can look the next L bits up in a table as one integer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nibble::compression {

class BitWriter {
 public:
  // Appends the low `count` bits of value (0 <= count <= 32), most significant first.
  void put(uint32_t value, int count) {
    for (int i = count - 1; i >= 0; --i) {
      acc_ = static_cast<uint8_t>((acc_ << 1) | ((value >> i) & 1u));
      if (++pending_ == 8) {
        bytes_.push_back(acc_);
        acc_ = 0;
        pending_ = 0;
      }
    }
    bits_ += count;
  }
  int64_t bits() const { return bits_; }  // written so far, without the padding
  // The bytes, the last one padded with 0 bits. The writer is empty afterwards.
  std::vector<uint8_t> finish() {
    if (pending_ > 0) bytes_.push_back(static_cast<uint8_t>(acc_ << (8 - pending_)));
    std::vector<uint8_t> out;
    out.swap(bytes_);
    acc_ = 0;
    pending_ = 0;
    bits_ = 0;
    return out;
  }

 private:
  std::vector<uint8_t> bytes_;
  uint8_t acc_ = 0;   // the bits of the byte being filled
  int pending_ = 0;   // how many of them
  int64_t bits_ = 0;
};

// Reads a byte range bit by bit. Reading past the end yields 0 bits and sets overrun(): callers
// check it (once per symbol or per field) instead of bounds-checking every bit.
class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : data_(data), size_bits_(static_cast<int64_t>(size) * 8) {}

  // The next `count` bits (0 <= count <= 24) without consuming them; 0 bits past the end.
  uint32_t peek(int count) const {
    if (count == 0) return 0;
    const int64_t byte = pos_ >> 3;
    const int64_t size_bytes = size_bits_ >> 3;
    uint32_t window = 0;  // 4 bytes starting at `byte`, big-endian
    for (int64_t k = 0; k < 4; ++k) {
      window <<= 8;
      if (byte + k < size_bytes) window |= data_[byte + k];
    }
    const int shift = 32 - static_cast<int>(pos_ & 7) - count;
    return (window >> shift) & ((1u << count) - 1u);
  }
  void skip(int count) { pos_ += count; }
  uint32_t get(int count) {
    const uint32_t v = peek(count);
    skip(count);
    return v;
  }
  int64_t position() const { return pos_; }    // bits consumed
  int64_t size_bits() const { return size_bits_; }
  bool overrun() const { return pos_ > size_bits_; }

 private:
  const uint8_t* data_;
  int64_t size_bits_;
  int64_t pos_ = 0;
};

}  // namespace nibble::compression
