// The .nbz writer and reader. Byte layout, limits and the decode formula: compression/FORMAT.md.
#include "compression/nbz.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "compression/bitstream.h"
#include "compression/huffman_codec.h"
#include "core/io/atomic_file.h"
#include "core/io/crc32.h"

namespace nibble::compression {

namespace {

using io::crc32_of;

constexpr uint8_t kMagic[4] = {0x89, 'N', 'B', 'Z'};
constexpr uint16_t kVersion = 1;

// Limits (FORMAT.md, "Limits"): a header asking for more is corrupt.
constexpr uint32_t kMaxLayers = 4096;
constexpr size_t kMaxNameLength = 255;   // arch, layer names, kinds, extra names
constexpr size_t kMaxAttrs = 16;
constexpr size_t kMaxDims = 8;
constexpr int64_t kMaxElements = int64_t{1} << 26;  // per layer weight (and per extra array)
constexpr size_t kMaxExtras = 256;
// A layer may hold this many more non-zeros than 8 x its stream bytes (only a one-symbol stream
// spends 0 bits per non-zero) before the reader checks the whole file's CRC-32 ahead of allocating.
constexpr int64_t kUnbackedNonzeros = 4096;

constexpr uint8_t kBitmap = 0;
constexpr uint8_t kGaps = 1;
// Gap alphabets A: symbols 0..A-2 are gaps, A-1 the escape (skip A-1 zeros, no weight). The writer
// tries every A the format allows and keeps the smallest stream. (Powers of two only, as first
// written, cost up to 1.4% more bits and left the CNN's conv2 gaps at A = 8, 2.15% above their
// entropy; its best A, 12, is 0.8% above it and 19 bits smaller -- compression/RESULTS.md.)
constexpr int kMinGapAlphabet = 2;
constexpr int kMaxGapAlphabet = 256;


int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

// A name as it may appear in a message: a corrupt file's bytes are shown as \xNN escapes.
std::string printable(const std::string& name) {
  std::string out;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  return out;
}

std::string layer_label(const std::string& name, size_t index) {
  return "layer '" + printable(name) + "' (#" + std::to_string(index) + ")";
}

// ---- validation of an in-memory model (save_nbz, decode_weight) ---------------------------------

void check_name(const std::string& name, const std::string& op, const std::string& where, const std::string& field) {
  NIBBLE_CHECK(!name.empty() && name.size() <= kMaxNameLength, op,
               where + ", field '" + field + "': length " + std::to_string(name.size()) + " outside 1..255",
               "give every layer, kind and extra a short non-empty name");
}

void validate_weight(const CompressedWeight& w, const std::string& op, const std::string& where) {
  const auto bad = [&](const std::string& field, const std::string& problem, const std::string& hint) {
    fail(op, where + ", field 'weight." + field + "': " + problem, hint);
  };
  if (w.shape.empty() || w.shape.size() > kMaxDims)
    bad("shape", "has " + std::to_string(w.shape.size()) + " dimensions (allowed 1..8)",
        "[out, in] for a linear layer, [OC, C, KH, KW] for a convolution");
  int64_t numel = 1;
  for (const int64_t d : w.shape) {
    if (d < 1 || d > kMaxElements || numel > kMaxElements / d)
      bad("shape", shape_str(w.shape) + " has a dimension < 1 or more than 2^26 elements", "");
    numel *= d;
  }
  if (w.bits < 2 || w.bits > 8)
    bad("bits", std::to_string(w.bits) + " outside 2..8", "the codebook has 2^bits shared values");
  if (w.codebook.size() != (size_t{1} << w.bits))
    bad("codebook", "has " + std::to_string(w.codebook.size()) + " entries, bits = " + std::to_string(w.bits) +
                        " needs " + std::to_string(1 << w.bits),
        "pad the codebook to 2^bits entries (unused entries may hold anything)");
  if (w.scales.size() != static_cast<size_t>(w.shape[0]))
    bad("scales", "has " + std::to_string(w.scales.size()) + " entries for shape " + shape_str(w.shape) +
                      " (one per output channel: " + std::to_string(w.shape[0]) + ")",
        "");
  for (size_t n = 0; n < w.scales.size(); ++n)
    if (!(std::isfinite(w.scales[n]) && w.scales[n] > 0.0f))
      bad("scales", "scales[" + std::to_string(n) + "] = " + std::to_string(w.scales[n]) + " is not finite and > 0",
          "a channel whose weights are all zero still needs a positive scale (e.g. 1)");
  if (w.codes.size() != w.positions.size())
    bad("codes", std::to_string(w.codes.size()) + " codes for " + std::to_string(w.positions.size()) + " positions",
        "one code per kept weight");
  for (size_t i = 0; i < w.positions.size(); ++i) {
    if (w.positions[i] < 0 || w.positions[i] >= numel)
      bad("positions", "positions[" + std::to_string(i) + "] = " + std::to_string(w.positions[i]) +
                           " outside 0.." + std::to_string(numel - 1) + " (shape " + shape_str(w.shape) + ")",
          "positions are flat row-major indices into the dense weight");
    if (i > 0 && w.positions[i] <= w.positions[i - 1])
      bad("positions", "positions[" + std::to_string(i) + "] = " + std::to_string(w.positions[i]) +
                           " is not greater than positions[" + std::to_string(i - 1) + "] = " +
                           std::to_string(w.positions[i - 1]),
          "list the kept weights once each, in increasing order");
    if (w.codes[i] >= w.codebook.size())
      bad("codes", "codes[" + std::to_string(i) + "] = " + std::to_string(w.codes[i]) + " >= codebook size " +
                       std::to_string(w.codebook.size()),
          "");
  }
}

void validate_model(const NbzModel& model, const std::string& op, const std::string& path) {
  const std::string file = path + ": ";
  NIBBLE_CHECK(model.arch.size() <= kMaxNameLength, op,
               file + "field 'arch': length " + std::to_string(model.arch.size()) + " > 255");
  NIBBLE_CHECK(model.layers.size() <= kMaxLayers, op,
               file + std::to_string(model.layers.size()) + " layers (the format allows 4096)");
  std::set<std::string> names;
  for (size_t k = 0; k < model.layers.size(); ++k) {
    const NbzLayer& layer = model.layers[k];
    const std::string where = file + layer_label(layer.name, k);
    check_name(layer.name, op, where, "name");
    NIBBLE_CHECK(names.insert(layer.name).second, op, where + ", field 'name': duplicate layer name");
    check_name(layer.kind, op, where, "kind");
    NIBBLE_CHECK(layer.attrs.size() <= kMaxAttrs, op,
                 where + ", field 'attrs': " + std::to_string(layer.attrs.size()) + " values (allowed 0..16)");
    validate_weight(layer.weight, op, where);
    NIBBLE_CHECK(layer.extras.size() <= kMaxExtras, op,
                 where + ", field 'extras': " + std::to_string(layer.extras.size()) + " arrays (allowed 0..256)");
    std::set<std::string> extra_names;
    for (const auto& [name, values] : layer.extras) {
      check_name(name, op, where, "extras");
      NIBBLE_CHECK(extra_names.insert(name).second, op, where + ", field 'extras': duplicate name '" + name + "'");
      NIBBLE_CHECK(static_cast<int64_t>(values.size()) <= kMaxElements, op,
                   where + ", field 'extras." + name + "': " + std::to_string(values.size()) +
                       " values (allowed 2^26)");
    }
  }
}

// ---- writing --------------------------------------------------------------------------------------

struct ByteWriter {
  std::vector<uint8_t> out;
  void uint(uint64_t v, int bytes) {  // little-endian
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void f32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);  // the float's IEEE-754 bit pattern
    uint(bits, 4);
  }
  void str(const std::string& s) {
    uint(s.size(), 2);
    out.insert(out.end(), s.begin(), s.end());
  }
  void bytes(const std::vector<uint8_t>& b) {
    uint(b.size(), 4);
    out.insert(out.end(), b.begin(), b.end());
  }
};

// Gap symbols with alphabet A: before each kept weight, the run g of zeros since the previous one
// (or since element 0) as floor(g / (A-1)) escapes A-1 then the symbol g mod (A-1).
void gap_counts(const std::vector<int64_t>& positions, int alphabet, std::vector<int64_t>& counts) {
  counts.assign(static_cast<size_t>(alphabet), 0);
  const int64_t span = alphabet - 1;
  int64_t next = 0;
  for (const int64_t p : positions) {
    const int64_t gap = p - next;
    counts[static_cast<size_t>(span)] += gap / span;
    ++counts[static_cast<size_t>(gap % span)];
    next = p + 1;
  }
}

std::vector<uint8_t> gap_symbols(const std::vector<int64_t>& positions, int alphabet) {
  std::vector<uint8_t> symbols;
  symbols.reserve(positions.size());
  const int64_t span = alphabet - 1;
  int64_t next = 0;
  for (const int64_t p : positions) {
    int64_t gap = p - next;
    for (; gap >= span; gap -= span) symbols.push_back(static_cast<uint8_t>(span));
    symbols.push_back(static_cast<uint8_t>(gap));
    next = p + 1;
  }
  return symbols;
}

std::vector<uint8_t> bitmap_of(const std::vector<int64_t>& positions, int64_t numel) {
  std::vector<uint8_t> bitmap(static_cast<size_t>((numel + 7) / 8), 0);
  for (const int64_t p : positions) bitmap[static_cast<size_t>(p >> 3)] |= static_cast<uint8_t>(0x80u >> (p & 7));
  return bitmap;
}

// Appends one layer record; fills its stats.
void write_layer(ByteWriter& w, const NbzLayer& layer, NbzLayerStats& stats) {
  const CompressedWeight& cw = layer.weight;
  const int64_t numel = numel_of(cw.shape);
  stats.name = layer.name;
  stats.weights = numel;
  stats.nonzeros = static_cast<int64_t>(cw.positions.size());

  // Positions: the smaller of the bitmap and the best gap alphabet, measured in whole bytes.
  const int64_t bitmap_bytes = (numel + 7) / 8;
  int best_alphabet = 0;
  int64_t best_bits = 0;
  std::vector<int64_t> counts;
  for (int alphabet = kMinGapAlphabet; alphabet <= kMaxGapAlphabet; ++alphabet) {
    gap_counts(cw.positions, alphabet, counts);
    const int64_t bits = stream_bits(counts);
    if (best_alphabet == 0 || bits < best_bits) {
      best_alphabet = alphabet;
      best_bits = bits;
    }
  }
  std::vector<uint8_t> positions_stream;
  const bool gaps = (best_bits + 7) / 8 < bitmap_bytes;
  if (gaps) {
    const std::vector<uint8_t> symbols = gap_symbols(cw.positions, best_alphabet);
    int64_t bits = 0;
    positions_stream = encode_stream(symbols, best_alphabet, &bits);
    gap_counts(cw.positions, best_alphabet, counts);
    stats.sparsity_encoding = "gaps";
    stats.entropy_positions_bits = entropy_bits(counts);
    stats.huffman_positions_bits = static_cast<double>(bits);
    stats.table_positions_bits = static_cast<double>(bits - codeword_bits(counts));
  } else {
    positions_stream = bitmap_of(cw.positions, numel);
    stats.sparsity_encoding = "bitmap";
  }
  int64_t code_bits = 0;
  const std::vector<uint8_t> codes_stream = encode_stream(cw.codes, 1 << cw.bits, &code_bits);
  std::vector<int64_t> code_counts(size_t{1} << cw.bits, 0);
  for (const uint8_t c : cw.codes) ++code_counts[c];
  stats.entropy_codes_bits = entropy_bits(code_counts);
  stats.huffman_codes_bits = static_cast<double>(code_bits);
  stats.table_codes_bits = static_cast<double>(code_bits - codeword_bits(code_counts));

  // The record after its length field (FORMAT.md, "Layer record").
  ByteWriter r;
  r.str(layer.kind);
  r.uint(layer.attrs.size(), 1);
  for (const int64_t a : layer.attrs) r.uint(static_cast<uint64_t>(a), 8);
  r.uint(cw.shape.size(), 1);
  for (const int64_t d : cw.shape) r.uint(static_cast<uint64_t>(d), 8);
  r.uint(static_cast<uint64_t>(cw.bits), 1);
  for (const int8_t v : cw.codebook) r.uint(static_cast<uint8_t>(v), 1);
  for (const float s : cw.scales) r.f32(s);
  r.uint(gaps ? kGaps : kBitmap, 1);
  r.uint(gaps ? static_cast<uint64_t>(best_alphabet) : 0, 2);
  r.uint(cw.positions.size(), 4);
  r.bytes(positions_stream);
  r.bytes(codes_stream);
  const size_t extras_start = r.out.size();
  r.uint(layer.extras.size(), 2);
  for (const auto& [name, values] : layer.extras) {
    r.str(name);
    r.uint(values.size(), 4);
    for (const float v : values) r.f32(v);
  }
  stats.bytes_positions = static_cast<int64_t>(positions_stream.size());
  stats.bytes_codes = static_cast<int64_t>(codes_stream.size());
  stats.bytes_codebook = static_cast<int64_t>(cw.codebook.size());
  stats.bytes_scales = static_cast<int64_t>(4 * cw.scales.size());
  stats.bytes_extras = static_cast<int64_t>(r.out.size() - extras_start);

  w.str(layer.name);
  w.uint(r.out.size(), 4);
  w.out.insert(w.out.end(), r.out.begin(), r.out.end());
}

// ---- reading --------------------------------------------------------------------------------------

// Reads fields of the file's bytes. Every read is checked against `limit` (the end of the current
// layer record, or of the data before the CRC-32) before anything is allocated; every error names
// the source, the layer (when known), the field and the byte offset.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& source, int64_t max_elements)
      : data_(data), size_(size), data_end_(size >= 4 ? size - 4 : 0), limit_(data_end_), source_(source),
        budget_(max_elements) {}

  // Takes n elements (weights or extra values) from the file's budget, before they are allocated:
  // a 0-bit-per-symbol stream lets an 89-byte file declare 2^26 kept weights (found by the fuzzer),
  // so memory cannot be bounded by the bytes present, only by this budget.
  void charge(int64_t n, const std::string& field, size_t at) {
    if (n <= budget_) {
      budget_ -= n;
      return;
    }
    error(field, std::to_string(n) + " more elements exceed what is left of the reader's budget (" +
                     std::to_string(budget_) + "; max_elements counts every layer's weights and extras)",
          at, "the file is corrupt or crafted, or bigger than this reader allows: pass a larger max_elements");
  }

  [[noreturn]] void error(const std::string& field, const std::string& problem, size_t at,
                          const std::string& hint = "the file is corrupt: write it again with save_nbz") const {
    fail("decode_nbz", source_ + ": " + where_ + ", field '" + field + "': " + problem + " (at byte " +
                           std::to_string(at) + ")",
         hint);
  }
  void check(bool ok, const std::string& field, const std::string& problem, size_t at) const {
    if (!ok) error(field, problem, at);
  }

  // Bytes [pos, pos + n) must lie before the limit.
  void need(uint64_t n, const std::string& field) const {
    if (n <= limit_ - pos_) return;
    if (!in_record_)
      error(field, "truncated at byte " + std::to_string(size_) + " (expected at least " +
                       std::to_string(pos_ + n + 4) + " bytes: the field needs " + std::to_string(n) +
                       " bytes, then 4 of CRC-32)",
            pos_, "the file was cut short (interrupted copy or save?)");
    error(field, "needs " + std::to_string(n) + " bytes but the layer record ends at byte " + std::to_string(limit_),
          pos_);
  }
  uint64_t uint(int bytes, const std::string& field) {
    need(static_cast<uint64_t>(bytes), field);
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{data_[pos_ + static_cast<size_t>(i)]} << (8 * i);
    pos_ += static_cast<size_t>(bytes);
    return v;
  }
  float f32(const std::string& field) {
    const auto bits = static_cast<uint32_t>(uint(4, field));
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  std::string str(const std::string& field, bool allow_empty) {
    const size_t at = pos_;
    const uint64_t n = uint(2, field + " length");
    check(n <= kMaxNameLength && (allow_empty || n > 0), field, "length " + std::to_string(n) + " outside " +
                                                                    (allow_empty ? "0" : "1") + "..255",
          at);
    need(n, field);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  // A length-prefixed byte block (a stream); returns its start, leaves pos after it.
  const uint8_t* block(const std::string& field, uint64_t* n) {
    *n = uint(4, field + " length");
    need(*n, field);
    const uint8_t* start = data_ + pos_;
    pos_ += *n;
    return start;
  }

  void verify_crc() {
    if (crc_verified_) return;
    if (size_ < 4) error("crc32", "truncated at byte " + std::to_string(size_) + " (expected 4 bytes of CRC-32)", 0);
    const uint32_t stored = static_cast<uint32_t>(data_[data_end_]) | (static_cast<uint32_t>(data_[data_end_ + 1]) << 8) |
                            (static_cast<uint32_t>(data_[data_end_ + 2]) << 16) |
                            (static_cast<uint32_t>(data_[data_end_ + 3]) << 24);
    const uint32_t actual = crc32_of(data_, data_end_);
    if (stored != actual) {
      where_ = "file";
      error("crc32", "checksum mismatch: the file stores CRC-32 " + hex(stored) + " but bytes 0.." +
                         std::to_string(data_end_ - 1) + " give " + hex(actual),
            data_end_, "the file is corrupt (a changed byte); restore it from a good copy");
    }
    crc_verified_ = true;
  }
  static std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
  }

  size_t pos() const { return pos_; }
  size_t data_end() const { return data_end_; }
  void enter_record(size_t end) {
    limit_ = end;
    in_record_ = true;
  }
  void leave_record() {
    limit_ = data_end_;
    in_record_ = false;
  }
  void set_where(const std::string& where) { where_ = where; }

 private:
  const uint8_t* data_;
  size_t size_, data_end_, limit_, pos_ = 0;
  std::string source_;
  int64_t budget_;  // elements the rest of the file may still declare
  std::string where_ = "header";
  bool crc_verified_ = false;
  bool in_record_ = false;
};

// Checks the stream ended exactly: no bits read past its end, the padding bits 0, no spare bytes.
void check_stream_end(const Reader& in, const BitReader& bits, const std::string& field, size_t start,
                      uint64_t bytes) {
  if (bits.overrun())
    in.error(field, "the stream ends in the middle of a codeword (" + std::to_string(bytes) + " bytes)",
             start + bytes);
  const int64_t used_bytes = (bits.position() + 7) / 8;
  if (used_bytes != static_cast<int64_t>(bytes))
    in.error(field, std::to_string(bytes - static_cast<uint64_t>(used_bytes)) + " unexpected bytes after the stream",
             start + static_cast<size_t>(used_bytes));
  const int pad = static_cast<int>(used_bytes * 8 - bits.position());
  if (pad > 0) {
    BitReader tail = bits;
    if (tail.get(pad) != 0) in.error(field, "the padding bits after the last codeword are not 0", start + bytes - 1);
  }
}

void read_bitmap(Reader& in, const uint8_t* s, uint64_t bytes, size_t start, int64_t numel, int64_t nnz,
                 std::vector<int64_t>& positions) {
  const uint64_t expected = static_cast<uint64_t>((numel + 7) / 8);
  if (bytes != expected)
    in.error("positions", "the bitmap has " + std::to_string(bytes) + " bytes, " + std::to_string(numel) +
                              " weights need " + std::to_string(expected),
             start);
  int64_t ones = 0;
  for (uint64_t i = 0; i < bytes; ++i) ones += __builtin_popcount(s[i]);
  const int pad = static_cast<int>(expected * 8 - static_cast<uint64_t>(numel));
  if (pad > 0 && (s[bytes - 1] & ((1u << pad) - 1u)) != 0)
    in.error("positions", "the bitmap's padding bits (past weight " + std::to_string(numel - 1) + ") are not 0",
             start + bytes - 1);
  if (ones != nnz)
    in.error("positions", "the bitmap marks " + std::to_string(ones) + " weights, the header says nonzeros = " +
                              std::to_string(nnz),
             start);
  positions.reserve(static_cast<size_t>(nnz));
  for (uint64_t i = 0; i < bytes; ++i) {
    for (unsigned b = s[i]; b != 0;) {  // the most significant set bit is the lowest index
      const int k = __builtin_clz(b) - 24;
      positions.push_back(static_cast<int64_t>(i * 8) + k);
      b ^= 0x80u >> k;
    }
  }
}

void read_gaps(Reader& in, const uint8_t* s, uint64_t bytes, size_t start, int alphabet, int64_t numel,
               int64_t nnz, std::vector<int64_t>& positions) {
  if (nnz == 0) {
    if (bytes != 0) in.error("positions", "a layer without non-zeros has a gap stream of " + std::to_string(bytes) +
                                              " bytes (expected 0)", start);
    return;
  }
  BitReader bits(s, bytes);
  HuffmanDecoder decoder;
  try {
    decoder.read_table(bits, alphabet);
    const int64_t span = alphabet - 1;
    const int64_t single = decoder.single_symbol();
    if (single == span) throw StreamError("the only gap symbol is the escape: no weight is ever placed", 0);
    if (single >= 0) {  // every gap is `single`: positions single, 2·single + 1, ... (checked before the loop)
      const int64_t last = nnz * (single + 1) - 1;
      if (last >= numel)
        throw StreamError("position " + std::to_string(last) + " (non-zero #" + std::to_string(nnz - 1) +
                              ") is out of range: the weight has " + std::to_string(numel) + " elements",
                          12);
    }
    positions.reserve(static_cast<size_t>(nnz));
    int64_t next = 0;  // the first element not yet covered
    while (static_cast<int64_t>(positions.size()) < nnz) {
      const int64_t at = bits.position();
      const int symbol = decoder.decode(bits);
      if (bits.overrun()) throw StreamError("the stream ends after " + std::to_string(positions.size()) + " of " +
                                                std::to_string(nnz) + " positions", at);
      next += symbol;  // a gap, or the escape: span zeros and no weight
      if (next >= numel)
        throw StreamError("position " + std::to_string(next) + " (non-zero #" + std::to_string(positions.size()) +
                              ") is out of range: the weight has " + std::to_string(numel) + " elements",
                          at);
      if (symbol != span) positions.push_back(next++);
    }
  } catch (const StreamError& e) {
    in.error("positions", e.what(), start + static_cast<size_t>(e.bit() / 8));
  }
  check_stream_end(in, bits, "positions", start, bytes);
}

void read_codes(Reader& in, const uint8_t* s, uint64_t bytes, size_t start, int alphabet, int64_t nnz,
                std::vector<uint8_t>& codes) {
  if (nnz == 0) {
    if (bytes != 0) in.error("codes", "a layer without non-zeros has a code stream of " + std::to_string(bytes) +
                                          " bytes (expected 0)", start);
    return;
  }
  BitReader bits(s, bytes);
  HuffmanDecoder decoder;
  try {
    decoder.read_table(bits, alphabet);
  } catch (const StreamError& e) {
    in.error("codes", e.what(), start + static_cast<size_t>(e.bit() / 8));
  }
  codes.resize(static_cast<size_t>(nnz));
  for (uint8_t& c : codes) c = static_cast<uint8_t>(decoder.decode(bits));
  check_stream_end(in, bits, "codes", start, bytes);
}

NbzLayer read_layer(Reader& in, size_t index) {
  NbzLayer layer;
  in.set_where("layer #" + std::to_string(index));
  layer.name = in.str("name", false);
  in.set_where(layer_label(layer.name, index));
  const uint64_t record = in.uint(4, "record length");
  in.need(record, "record");
  const size_t record_end = in.pos() + static_cast<size_t>(record);
  in.enter_record(record_end);

  layer.kind = in.str("kind", false);
  size_t at = in.pos();
  const uint64_t n_attrs = in.uint(1, "attrs count");
  in.check(n_attrs <= kMaxAttrs, "attrs", std::to_string(n_attrs) + " values (allowed 0..16)", at);
  for (uint64_t i = 0; i < n_attrs; ++i) layer.attrs.push_back(static_cast<int64_t>(in.uint(8, "attrs")));

  CompressedWeight& w = layer.weight;
  at = in.pos();
  const uint64_t ndim = in.uint(1, "ndim");
  in.check(ndim >= 1 && ndim <= kMaxDims, "ndim", std::to_string(ndim) + " dimensions (allowed 1..8)", at);
  int64_t numel = 1;
  for (uint64_t i = 0; i < ndim; ++i) {
    at = in.pos();
    const auto d = static_cast<int64_t>(in.uint(8, "shape"));
    w.shape.push_back(d);
    in.check(d >= 1 && d <= kMaxElements && numel <= kMaxElements / d, "shape",
             "dimension " + std::to_string(i) + " = " + std::to_string(d) + " (shape so far " + shape_str(w.shape) +
                 "): each must be >= 1 and the product <= 2^26",
             at);
    numel *= d;
  }
  in.charge(numel, "shape", at);
  at = in.pos();
  w.bits = static_cast<int>(in.uint(1, "bits"));
  in.check(w.bits >= 2 && w.bits <= 8, "bits", std::to_string(w.bits) + " outside 2..8", at);
  const size_t codebook_size = size_t{1} << w.bits;
  in.need(codebook_size, "codebook");
  for (size_t i = 0; i < codebook_size; ++i) w.codebook.push_back(static_cast<int8_t>(in.uint(1, "codebook")));
  in.need(4 * static_cast<uint64_t>(w.shape[0]), "scales");
  w.scales.reserve(static_cast<size_t>(w.shape[0]));
  for (int64_t n = 0; n < w.shape[0]; ++n) {
    at = in.pos();
    const float s = in.f32("scales");
    in.check(std::isfinite(s) && s > 0.0f, "scales",
             "scales[" + std::to_string(n) + "] = " + std::to_string(s) + " is not finite and > 0", at);
    w.scales.push_back(s);
  }

  at = in.pos();
  const uint64_t encoding = in.uint(1, "sparsity encoding");
  in.check(encoding == kBitmap || encoding == kGaps, "sparsity encoding",
           std::to_string(encoding) + " is neither 0 (bitmap) nor 1 (gaps)", at);
  at = in.pos();
  const auto alphabet = static_cast<int>(in.uint(2, "gap alphabet"));
  if (encoding == kBitmap)
    in.check(alphabet == 0, "gap alphabet", std::to_string(alphabet) + " for a bitmap (expected 0)", at);
  else
    in.check(alphabet >= 2 && alphabet <= kMaxAlphabet, "gap alphabet", std::to_string(alphabet) + " outside 2..256",
             at);
  at = in.pos();
  const auto nnz = static_cast<int64_t>(in.uint(4, "nonzeros"));
  in.check(nnz <= numel, "nonzeros",
           std::to_string(nnz) + " non-zeros for " + std::to_string(numel) + " weights " + shape_str(w.shape), at);
  uint64_t positions_bytes = 0, codes_bytes = 0;
  const size_t positions_start = in.pos() + 4;
  const uint8_t* positions_data = in.block("positions", &positions_bytes);
  const size_t codes_start = in.pos() + 4;
  const uint8_t* codes_data = in.block("codes", &codes_bytes);

  // A stream of >= 2 symbols spends >= 1 bit per non-zero, a bitmap 1 bit per weight; only
  // one-symbol streams spend nothing. Allocating far beyond the bytes present must be justified
  // by an intact file.
  if (nnz > 8 * static_cast<int64_t>(positions_bytes + codes_bytes) + kUnbackedNonzeros) in.verify_crc();
  if (encoding == kBitmap)
    read_bitmap(in, positions_data, positions_bytes, positions_start, numel, nnz, w.positions);
  else
    read_gaps(in, positions_data, positions_bytes, positions_start, alphabet, numel, nnz, w.positions);
  read_codes(in, codes_data, codes_bytes, codes_start, 1 << w.bits, nnz, w.codes);

  at = in.pos();
  const uint64_t n_extras = in.uint(2, "extras count");
  in.check(n_extras <= kMaxExtras, "extras", std::to_string(n_extras) + " arrays (allowed 0..256)", at);
  std::set<std::string> extra_names;
  for (uint64_t e = 0; e < n_extras; ++e) {
    at = in.pos();
    std::string name = in.str("extras name", false);
    in.check(extra_names.insert(name).second, "extras name", "duplicate extra '" + printable(name) + "'", at);
    at = in.pos();
    const std::string field = "extras." + printable(name);
    const uint64_t count = in.uint(4, field + " count");
    in.check(count <= static_cast<uint64_t>(kMaxElements), field, std::to_string(count) + " values (allowed 2^26)",
             at);
    in.need(4 * count, field);
    in.charge(static_cast<int64_t>(count), field, at);
    std::vector<float> values(static_cast<size_t>(count));
    for (float& v : values) v = in.f32(field);
    layer.extras.emplace_back(std::move(name), std::move(values));
  }
  in.check(in.pos() == record_end, "record length",
           std::to_string(record_end - in.pos()) + " unexpected bytes at the end of the layer record", in.pos());
  in.leave_record();
  return layer;
}

}  // namespace

NbzStats save_nbz(const NbzModel& model, const std::string& path) {
  const char* op = "save_nbz";
  validate_model(model, op, path);
  NbzStats stats;
  ByteWriter w;
  w.out.assign(kMagic, kMagic + 4);
  w.uint(kVersion, 2);
  w.uint(0, 2);  // flags
  w.str(model.arch);
  w.uint(model.layers.size(), 4);
  stats.layers.resize(model.layers.size());
  for (size_t k = 0; k < model.layers.size(); ++k) write_layer(w, model.layers[k], stats.layers[k]);
  w.uint(crc32_of(w.out.data(), w.out.size()), 4);
  io::write_atomically(path, op, [&w](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(w.out.data()), static_cast<std::streamsize>(w.out.size()));
  });
  stats.file_bytes = static_cast<int64_t>(w.out.size());
  return stats;
}

NbzModel decode_nbz(const uint8_t* data, size_t size, const std::string& source_name, int64_t max_elements) {
  NIBBLE_CHECK(max_elements >= 0, "decode_nbz", source_name + ": max_elements must be >= 0, got " +
                                                    std::to_string(max_elements));
  Reader in(data, size, source_name, max_elements);
  if (size >= 4 && std::memcmp(data, kMagic, 4) != 0)
    in.error("magic", "bad magic: expected 89 4E 42 5A (\"\\x89NBZ\") but the file starts with " +
                          Reader::hex(static_cast<uint32_t>(data[0]) << 24 | static_cast<uint32_t>(data[1]) << 16 |
                                      static_cast<uint32_t>(data[2]) << 8 | data[3]),
             0, "this is not a .nbz file (written by save_nbz / nibble compress)");
  in.uint(4, "magic");
  const uint64_t version = in.uint(2, "version");
  in.check(version == kVersion, "version",
           "unsupported version " + std::to_string(version) + " (this build reads version 1)", 4);
  const uint64_t flags = in.uint(2, "flags");
  in.check(flags == 0, "flags", "reserved flags " + std::to_string(flags) + " are not 0", 6);
  NbzModel model;
  model.arch = in.str("arch", true);
  const size_t at = in.pos();
  const uint64_t count = in.uint(4, "layer count");
  in.check(count <= kMaxLayers, "layer count", std::to_string(count) + " layers (allowed 0..4096)", at);
  std::set<std::string> names;
  for (uint64_t k = 0; k < count; ++k) {
    const size_t start = in.pos();
    NbzLayer layer = read_layer(in, static_cast<size_t>(k));
    in.set_where(layer_label(layer.name, static_cast<size_t>(k)));
    in.check(names.insert(layer.name).second, "name", "duplicate layer name", start);
    model.layers.push_back(std::move(layer));
  }
  in.set_where("file");
  in.check(in.pos() == in.data_end(), "crc32",
           std::to_string(in.data_end() - in.pos()) + " unexpected bytes after the last layer", in.pos());
  in.verify_crc();
  return model;
}

NbzModel load_nbz(const std::string& path, int64_t max_elements) {
  const std::vector<unsigned char> bytes = io::read_file_bytes(path, "load_nbz");
  return decode_nbz(bytes.data(), bytes.size(), path, max_elements);
}

Tensor decode_weight(const CompressedWeight& w) {
  validate_weight(w, "decode_weight", "weight");
  Tensor out = Tensor::zeros(w.shape);
  float* o = out.data();
  const int64_t per_channel = numel_of(w.shape) / w.shape[0];  // elements of one output channel
  for (size_t i = 0; i < w.positions.size(); ++i) {
    const int64_t e = w.positions[i];
    o[e] = w.scales[static_cast<size_t>(e / per_channel)] * static_cast<float>(w.codebook[w.codes[i]]);
  }
  return out;
}

void order_codebook_by_use(CompressedWeight& w) {
  validate_weight(w, "order_codebook_by_use", "weight");
  std::vector<int64_t> uses(w.codebook.size(), 0);
  for (const uint8_t c : w.codes) ++uses[c];
  std::vector<size_t> order(w.codebook.size());  // order[new code] = old code
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return uses[a] > uses[b]; });
  std::vector<uint8_t> relabel(order.size());  // relabel[old code] = new code
  std::vector<int8_t> codebook(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    relabel[order[k]] = static_cast<uint8_t>(k);
    codebook[k] = w.codebook[order[k]];
  }
  w.codebook = codebook;
  for (uint8_t& c : w.codes) c = relabel[c];
}

}  // namespace nibble::compression
