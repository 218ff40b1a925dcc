// The .nbz format (compression/nbz.h, compression/FORMAT.md): exact round trips, Huffman streams
// against the entropy of their symbols (computed here from the counts), the per-layer choice of
// gaps vs bitmap, and that every corruption — truncation at any byte, any flipped bit, bad fields —
// is a nibble::Error naming the field and the byte offset. The layout is re-read here from
// FORMAT.md (FileLayout below), and the CRC-32 is recomputed by a bitwise implementation of its
// definition, so both are checked independently of nbz.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "compression/huffman_codec.h"
#include "compression/nbz.h"
#include "core/error.h"
#include "gradcheck.h"

namespace fs = std::filesystem;
using namespace nibble::compression;
using nibble::testing::throws_error_containing;

namespace {

using Bytes = std::vector<uint8_t>;

// ---- independent oracles ----------------------------------------------------------------------------

// CRC-32 as zlib defines it (reflected polynomial 0xEDB88320, initial and final value 0xFFFFFFFF).
uint32_t crc32_reference(const uint8_t* data, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

void fix_crc(Bytes& file) {
  const uint32_t crc = crc32_reference(file.data(), file.size() - 4);
  for (int i = 0; i < 4; ++i) file[file.size() - 4 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (8 * i));
}

// sum_s -c_s log2(c_s / N), in bits.
double entropy_of_counts(const std::map<int, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [s, c] : counts) n += c;
  double h = 0.0;
  for (const auto& [s, c] : counts) h -= static_cast<double>(c) * std::log2(static_cast<double>(c) / static_cast<double>(n));
  return h;
}

uint64_t read_le(const Bytes& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{b[at + static_cast<size_t>(i)]} << (8 * i);
  return v;
}
void write_le(Bytes& b, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

// Byte offsets of the fields of layer 0, read from the file by FORMAT.md's table.
struct FileLayout {
  size_t shape = 0, bits = 0, codebook = 0, scales = 0, encoding = 0, alphabet = 0, nonzeros = 0;
  size_t positions = 0, positions_bytes = 0, codes = 0, codes_bytes = 0, extras = 0;
};
FileLayout layout_of_first_layer(const Bytes& f) {
  FileLayout l;
  size_t at = 8;                                    // magic, version, flags
  at += 2 + read_le(f, at, 2);                      // arch
  at += 4;                                          // layer count
  at += 2 + read_le(f, at, 2);                      // name
  at += 4;                                          // record length
  at += 2 + read_le(f, at, 2);                      // kind
  at += 1 + 8 * read_le(f, at, 1);                  // attrs
  const uint64_t ndim = read_le(f, at, 1);
  l.shape = at + 1;
  const uint64_t out_channels = read_le(f, l.shape, 8);
  at += 1 + 8 * ndim;
  l.bits = at;
  l.codebook = at + 1;
  at += 1 + (size_t{1} << read_le(f, at, 1));
  l.scales = at;
  at += 4 * out_channels;
  l.encoding = at;
  l.alphabet = at + 1;
  l.nonzeros = at + 3;
  at += 7;
  l.positions_bytes = read_le(f, at, 4);
  l.positions = at + 4;
  at += 4 + l.positions_bytes;
  l.codes_bytes = read_le(f, at, 4);
  l.codes = at + 4;
  l.extras = l.codes + l.codes_bytes;
  return l;
}

// ---- models -------------------------------------------------------------------------------------

// A weight of `shape` keeping each element with probability `keep`; codes drawn from a two-sided
// geometric (Laplace-like) distribution around the middle of the codebook, as k-means on roughly
// Gaussian weights gives; codebook and scales random.
CompressedWeight random_weight(std::mt19937_64& rng, std::vector<int64_t> shape, double keep, int bits,
                               double decay = 0.75) {
  CompressedWeight w;
  w.shape = std::move(shape);
  w.bits = bits;
  int64_t numel = 1;
  for (const int64_t d : w.shape) numel *= d;
  const int k = 1 << bits;
  std::vector<double> p(static_cast<size_t>(k));
  for (int s = 0; s < k; ++s) p[static_cast<size_t>(s)] = std::pow(decay, std::abs(s - k / 2));
  std::discrete_distribution<int> code(p.begin(), p.end());
  std::bernoulli_distribution kept(keep);
  for (int64_t e = 0; e < numel; ++e) {
    if (!kept(rng)) continue;
    w.positions.push_back(e);
    w.codes.push_back(static_cast<uint8_t>(code(rng)));
  }
  std::uniform_int_distribution<int> value(-128, 127);
  for (int s = 0; s < k; ++s) w.codebook.push_back(static_cast<int8_t>(value(rng)));
  std::uniform_real_distribution<float> scale(1e-4f, 0.1f);
  for (int64_t n = 0; n < w.shape[0]; ++n) w.scales.push_back(scale(rng));
  return w;
}

NbzLayer make_layer(const std::string& name, CompressedWeight w, const std::string& kind = "linear") {
  NbzLayer layer;
  layer.name = name;
  layer.kind = kind;
  if (kind == "conv2d") layer.attrs = {1, 2};
  layer.extras.push_back({"bias", std::vector<float>(static_cast<size_t>(w.shape[0]), 0.25f)});
  layer.weight = std::move(w);
  return layer;
}

// A small model with one layer of each kind the format must handle.
NbzModel varied_model(uint64_t seed) {
  std::mt19937_64 rng(seed);
  NbzModel m;
  m.arch = "test_arch";
  m.layers.push_back(make_layer("dense", random_weight(rng, {12, 20}, 1.0, 5)));
  m.layers.push_back(make_layer("sparse90", random_weight(rng, {30, 40}, 0.10, 5)));
  m.layers.push_back(make_layer("sparse99", random_weight(rng, {40, 50}, 0.01, 4)));
  m.layers.push_back(make_layer("empty", random_weight(rng, {5, 7}, 0.0, 3)));
  CompressedWeight one = random_weight(rng, {6, 9}, 0.5, 2);
  for (uint8_t& c : one.codes) c = 3;  // a stream of one distinct symbol
  m.layers.push_back(make_layer("one_symbol", one));
  for (int bits = 2; bits <= 8; ++bits)
    m.layers.push_back(make_layer("bits" + std::to_string(bits), random_weight(rng, {8, 16}, 0.3, bits)));
  m.layers.push_back(make_layer("conv", random_weight(rng, {16, 8, 5, 5}, 0.2, 6), "conv2d"));
  m.layers.back().extras.push_back({"act_qparams", {0.0125f, -3.0f, std::nanf("")}});
  return m;
}

// Same fields, bit for bit (NaN extras compared by their bit patterns).
void expect_same(const NbzModel& a, const NbzModel& b) {
  ASSERT_EQ(a.arch, b.arch);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t k = 0; k < a.layers.size(); ++k) {
    const NbzLayer& x = a.layers[k];
    const NbzLayer& y = b.layers[k];
    SCOPED_TRACE("layer " + x.name);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.attrs, y.attrs);
    EXPECT_EQ(x.weight.shape, y.weight.shape);
    EXPECT_EQ(x.weight.positions, y.weight.positions);
    EXPECT_EQ(x.weight.codes, y.weight.codes);
    EXPECT_EQ(x.weight.codebook, y.weight.codebook);
    EXPECT_EQ(x.weight.bits, y.weight.bits);
    EXPECT_EQ(x.weight.scales, y.weight.scales);
    ASSERT_EQ(x.extras.size(), y.extras.size());
    for (size_t e = 0; e < x.extras.size(); ++e) {
      EXPECT_EQ(x.extras[e].first, y.extras[e].first);
      ASSERT_EQ(x.extras[e].second.size(), y.extras[e].second.size());
      EXPECT_EQ(0, std::memcmp(x.extras[e].second.data(), y.extras[e].second.data(), 4 * x.extras[e].second.size()));
    }
  }
}

// A fresh path in the system temp folder, removed with its folder at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("nbz_test_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  size_t entries() const { return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator())); }

 private:
  fs::path dir_;
};

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes encode(const NbzModel& m, NbzStats* stats = nullptr) {
  TempDir dir;
  const std::string path = dir.path("m.nbz");
  const NbzStats s = save_nbz(m, path);
  if (stats != nullptr) *stats = s;
  return read_bytes(path);
}

std::string decode_error(const Bytes& file) {
  try {
    decode_nbz(file.data(), file.size(), "t.nbz");
  } catch (const nibble::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// ---- round trips -----------------------------------------------------------------------------------

TEST(Nbz, RoundTripIsExactForEveryKindOfLayer) {
  const NbzModel m = varied_model(1);
  TempDir dir;
  const std::string path = dir.path("model.nbz");
  const NbzStats stats = save_nbz(m, path);
  EXPECT_EQ(stats.file_bytes, static_cast<int64_t>(fs::file_size(path)));
  ASSERT_EQ(stats.layers.size(), m.layers.size());
  expect_same(m, load_nbz(path));
  const Bytes file = read_bytes(path);
  expect_same(m, decode_nbz(file.data(), file.size(), "memory"));
  EXPECT_EQ(dir.entries(), 1u) << "no temporary file left next to the saved one";
  for (size_t k = 0; k < m.layers.size(); ++k) {
    EXPECT_EQ(stats.layers[k].name, m.layers[k].name);
    EXPECT_EQ(stats.layers[k].nonzeros, static_cast<int64_t>(m.layers[k].weight.positions.size()));
    EXPECT_EQ(stats.layers[k].bytes_scales, 4 * static_cast<int64_t>(m.layers[k].weight.scales.size()));
    EXPECT_EQ(stats.layers[k].bytes_codebook, int64_t{1} << m.layers[k].weight.bits);
  }
}

TEST(Nbz, RoundTripRandomLayers) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> dim(1, 70), bits(2, 8), rank(1, 4);
  std::uniform_real_distribution<double> keep(0.0, 1.0);
  for (int trial = 0; trial < 40; ++trial) {
    NbzModel m;
    m.arch = "random";
    const int layers = 1 + trial % 3;
    for (int k = 0; k < layers; ++k) {
      std::vector<int64_t> shape;
      for (int d = rank(rng); d > 0; --d) shape.push_back(dim(rng) / (shape.size() >= 2 ? 10 : 1) + 1);
      const double p = std::pow(keep(rng), 3.0);  // mostly sparse, sometimes dense
      m.layers.push_back(make_layer("l" + std::to_string(k), random_weight(rng, shape, p, bits(rng), 0.5 + 0.5 * keep(rng))));
    }
    const Bytes file = encode(m);
    SCOPED_TRACE("trial " + std::to_string(trial));
    expect_same(m, decode_nbz(file.data(), file.size(), "random"));
  }
}

TEST(Nbz, EmptyModelAndEmptyArch) {
  NbzModel m;
  const Bytes file = encode(m);
  EXPECT_EQ(file.size(), 4u + 2 + 2 + 2 + 4 + 4);  // magic, version, flags, arch "", count, CRC
  expect_same(m, decode_nbz(file.data(), file.size(), "empty"));
}

TEST(Nbz, DecodeWeightIsScaleTimesCodebookEntry) {
  CompressedWeight w;
  w.shape = {2, 3};
  w.bits = 2;
  w.codebook = {-3, 5, 0, 127};
  w.scales = {0.5f, 0.25f};
  w.positions = {1, 3, 5};
  w.codes = {0, 1, 3};
  // Row 0 (scale 0.5): element 1 = 0.5 * -3. Row 1 (scale 0.25): element 3 = 0.25 * 5, element 5 = 0.25 * 127.
  const std::vector<float> want = {0.0f, -1.5f, 0.0f, 1.25f, 0.0f, 31.75f};
  const nibble::Tensor t = decode_weight(w);
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.to_vector(), want);

  CompressedWeight conv;  // [2, 1, 2, 2]: each output channel owns 4 consecutive elements
  conv.shape = {2, 1, 2, 2};
  conv.bits = 2;
  conv.codebook = {1, 2, 3, 4};
  conv.scales = {1.0f, 10.0f};
  conv.positions = {3, 4};
  conv.codes = {2, 3};
  EXPECT_EQ(decode_weight(conv).to_vector(), (std::vector<float>{0, 0, 0, 3, 40, 0, 0, 0}));

  conv.codes = {2, 4};
  EXPECT_THROW(decode_weight(conv), nibble::Error);
}

// A file written byte by byte from FORMAT.md (Huffman streams encoded by hand) decodes as the
// spec says: this pins the layout, the bit order, the table encoding and the escape rule.
namespace {

struct SpecWriter {
  Bytes b;
  void u(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void f32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    u(bits, 4);
  }
  void str(const std::string& s) {
    u(s.size(), 2);
    b.insert(b.end(), s.begin(), s.end());
  }
  void block(const Bytes& x) {
    u(x.size(), 4);
    b.insert(b.end(), x.begin(), x.end());
  }
};

// "0010 1..." -> bytes, most significant bit first, zero padded (spaces ignored).
Bytes pack_bits(const std::string& text) {
  Bytes out;
  int n = 0;
  for (const char c : text) {
    if (c == ' ') continue;
    if (n % 8 == 0) out.push_back(0);
    if (c == '1') out.back() = static_cast<uint8_t>(out.back() | (0x80u >> (n % 8)));
    ++n;
  }
  return out;
}

// One layer "w" [2, 4], 2 bits, codebook {-1, 5, 1, 2}, scales {1, 0.5}, kept elements {1, 2, 7}
// with codes {1, 3, 3}, positions as gaps with alphabet A = 4 from the given stream.
Bytes spec_file(const Bytes& gap_stream, const Bytes& code_stream) {
  SpecWriter r;  // the record after its length field
  r.str("linear");
  r.u(0, 1);                   // attrs
  r.u(2, 1);                   // ndim
  r.u(2, 8);
  r.u(4, 8);
  r.u(2, 1);                   // bits
  for (const int v : {-1, 5, 1, 2}) r.u(static_cast<uint8_t>(static_cast<int8_t>(v)), 1);
  r.f32(1.0f);
  r.f32(0.5f);
  r.u(1, 1);                   // gaps
  r.u(4, 2);                   // A
  r.u(3, 4);                   // nonzeros
  r.block(gap_stream);
  r.block(code_stream);
  r.u(0, 2);                   // extras
  SpecWriter f;
  f.b = {0x89, 'N', 'B', 'Z'};
  f.u(1, 2);
  f.u(0, 2);
  f.str("spec");
  f.u(1, 4);
  f.str("w");
  f.block(r.b);
  f.u(crc32_reference(f.b.data(), f.b.size()), 4);
  return f.b;
}

}  // namespace

TEST(Nbz, FileWrittenFromTheSpecDecodes) {
  // Gaps {1, 0, 4}; A = 4 (escape 3): 4 = one escape + 1 -> symbols 1, 0, 3, 1.
  // Counts {0: 1, 1: 2, 3: 1} -> lengths {2, 1, 0, 2}; canonical: 1 -> 0, 0 -> 10, 3 -> 11.
  // Table: L = 2 (0010), n - 1 = 3 (00000011), lengths 2 (11 0010), 1 (101: -1), 0 (101: -1),
  // 2 (11 0010); codewords 0 10 11 0.
  const Bytes gaps = pack_bits("0010 00000011 110010 101 101 110010  0 10 11 0");
  // Codes {1, 3, 3}: lengths {0, 1, 0, 1}: L = 1, n - 1 = 3, lengths 0 (0: same), 1 (100: +1),
  // 0 (101: -1), 1 (100: +1); canonical 1 -> 0, 3 -> 1; codewords 0 1 1.
  const Bytes codes = pack_bits("0001 00000011 0 100 101 100  0 1 1");
  const Bytes file = spec_file(gaps, codes);
  const NbzModel m = decode_nbz(file.data(), file.size(), "spec");
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.arch, "spec");
  const CompressedWeight& w = m.layers[0].weight;
  EXPECT_EQ(w.positions, (std::vector<int64_t>{1, 2, 7}));
  EXPECT_EQ(w.codes, (std::vector<uint8_t>{1, 3, 3}));
  // Row 0 (scale 1): element 1 = 5, element 2 = 2; row 1 (scale 0.5): element 7 = 0.5 * 2.
  EXPECT_EQ(decode_weight(w).to_vector(), (std::vector<float>{0, 5, 2, 0, 0, 0, 0, 1}));

  // A gap stream whose only symbol is the escape never places a weight.
  std::string e = decode_error(spec_file(pack_bits("0000 00000011"), codes));
  EXPECT_TRUE(contains(e, "field 'positions'") && contains(e, "escape")) << e;
  // A stream cut to 4 bytes ends in the middle of the codeword 10; a spare byte is refused.
  e = decode_error(spec_file(Bytes(gaps.begin(), gaps.begin() + 4), codes));
  EXPECT_TRUE(contains(e, "field 'positions'") && contains(e, "stream ends")) << e;
  Bytes longer = codes;
  longer.push_back(0);
  e = decode_error(spec_file(gaps, longer));
  EXPECT_TRUE(contains(e, "field 'codes'") && contains(e, "unexpected bytes")) << e;
  // Lengths that are not a complete prefix code (1, 1, 0, 2: Kraft sum 1.25).
  e = decode_error(spec_file(pack_bits("0010 00000011 100 0 101 110010  0 10 11 0"), codes));
  EXPECT_TRUE(contains(e, "field 'positions'") && contains(e, "Kraft")) << e;
  // Non-zero padding bits.
  e = decode_error(spec_file(gaps, pack_bits("0001 00000011 0 100 101 100  0 1 1 1")));
  EXPECT_TRUE(contains(e, "field 'codes'") && contains(e, "padding")) << e;
}

// ---- sizes against the entropy -----------------------------------------------------------------------

TEST(Nbz, HuffmanStreamWithinTwoPercentOfEntropy) {
  std::mt19937_64 rng(7);
  for (const int n : {2000, 5000, 50000}) {
    for (const double decay : {0.6, 0.8}) {
      std::vector<double> p(32);
      for (int s = 0; s < 32; ++s) p[static_cast<size_t>(s)] = std::pow(decay, std::abs(s - 13));
      std::discrete_distribution<int> draw(p.begin(), p.end());
      std::vector<uint8_t> symbols;
      std::map<int, int64_t> counts;
      for (int i = 0; i < n; ++i) {
        symbols.push_back(static_cast<uint8_t>(draw(rng)));
        ++counts[symbols.back()];
      }
      const double h = entropy_of_counts(counts);
      int64_t bits = 0;
      const Bytes stream = encode_stream(symbols, 32, &bits);
      EXPECT_EQ(static_cast<int64_t>(stream.size()), (bits + 7) / 8);
      EXPECT_GE(static_cast<double>(bits), h) << "no prefix code beats the entropy";
      EXPECT_LE(static_cast<double>(bits), 1.02 * h) << n << " symbols, decay " << decay << ": " << bits
                                                      << " bits vs entropy " << h;
      // Decoding gives the symbols back.
      BitReader in(stream.data(), stream.size());
      HuffmanDecoder d;
      d.read_table(in, 32);
      for (size_t i = 0; i < symbols.size(); ++i) ASSERT_EQ(d.decode(in), symbols[i]) << "symbol " << i;
      EXPECT_FALSE(in.overrun());
    }
  }
}

// The numbers the report quotes: a 90%-sparse 5-bit layer of LeNet-300-100's fc1 size.
TEST(Nbz, SparseFiveBitLayerNearEntropy) {
  std::mt19937_64 rng(11);
  NbzModel m;
  m.arch = "lenet300";
  m.layers.push_back(make_layer("fc1", random_weight(rng, {300, 784}, 0.10, 5)));
  NbzStats stats;
  const Bytes file = encode(m, &stats);
  const NbzLayerStats& s = stats.layers[0];
  const CompressedWeight& w = m.layers[0].weight;

  std::map<int, int64_t> code_counts;
  for (const uint8_t c : w.codes) ++code_counts[c];
  const double h_codes = entropy_of_counts(code_counts);
  EXPECT_NEAR(s.entropy_codes_bits, h_codes, 1e-6 * h_codes);
  EXPECT_LE(s.huffman_codes_bits, 1.02 * h_codes);
  EXPECT_EQ(s.bytes_codes, static_cast<int64_t>(std::ceil(s.huffman_codes_bits / 8)));

  // The gap symbols by FORMAT.md's rule with the alphabet A the file stores.
  const FileLayout l = layout_of_first_layer(file);
  ASSERT_EQ(s.sparsity_encoding, "gaps");
  ASSERT_EQ(file[l.encoding], 1);
  const auto alphabet = static_cast<int64_t>(read_le(file, l.alphabet, 2));
  std::map<int, int64_t> gap_counts;
  int64_t next = 0;
  for (const int64_t p : w.positions) {
    int64_t gap = p - next;
    for (; gap >= alphabet - 1; gap -= alphabet - 1) ++gap_counts[static_cast<int>(alphabet - 1)];
    ++gap_counts[static_cast<int>(gap)];
    next = p + 1;
  }
  const double h_gaps = entropy_of_counts(gap_counts);
  EXPECT_NEAR(s.entropy_positions_bits, h_gaps, 1e-6 * h_gaps);
  EXPECT_LE(s.huffman_positions_bits, 1.02 * h_gaps);
  EXPECT_EQ(static_cast<size_t>(s.bytes_positions), l.positions_bytes);

  std::cout << "[ measured ] fc1 [300, 784], " << s.nonzeros << " non-zeros (10%), 5-bit codes, gap alphabet "
            << alphabet << ":\n"
            << "             codes     " << s.bytes_codes << " B = " << s.huffman_codes_bits / s.nonzeros
            << " bits/nz (entropy " << h_codes / s.nonzeros << ", +"
            << 100 * (s.huffman_codes_bits / h_codes - 1) << "%)\n"
            << "             positions " << s.bytes_positions << " B = " << s.huffman_positions_bits / s.nonzeros
            << " bits/nz (entropy " << h_gaps / s.nonzeros << ", +"
            << 100 * (s.huffman_positions_bits / h_gaps - 1) << "%; bitmap would be " << (300 * 784 + 7) / 8
            << " B)\n"
            << "             file      " << stats.file_bytes << " B for " << s.weights << " weights ("
            << 8.0 * stats.file_bytes / s.weights << " bits/weight; fp32 " << 4 * s.weights << " B)\n";
}

// The stats split each stream into its code-length table and its codewords; the table's size is
// read back from the file: where HuffmanDecoder::read_table stops in the stream.
TEST(Nbz, TableBitsAreWhereTheDecoderFinishesReadingTheTable) {
  std::mt19937_64 rng(5);
  NbzModel m;
  m.layers.push_back(make_layer("fc", random_weight(rng, {40, 300}, 0.08, 4)));
  NbzStats stats;
  const Bytes file = encode(m, &stats);
  const NbzLayerStats& s = stats.layers[0];
  const FileLayout l = layout_of_first_layer(file);
  ASSERT_EQ(s.sparsity_encoding, "gaps");
  const int alphabet = static_cast<int>(read_le(file, l.alphabet, 2));

  BitReader codes(file.data() + l.codes, l.codes_bytes);
  HuffmanDecoder code_decoder;
  code_decoder.read_table(codes, 16);
  EXPECT_EQ(s.table_codes_bits, static_cast<double>(codes.position()));
  BitReader gaps(file.data() + l.positions, l.positions_bytes);
  HuffmanDecoder gap_decoder;
  gap_decoder.read_table(gaps, alphabet);
  EXPECT_EQ(s.table_positions_bits, static_cast<double>(gaps.position()));

  // The codewords alone: Huffman's own cost, within 2% of the entropy here (~950 symbols).
  std::map<int, int64_t> counts;
  for (const uint8_t c : m.layers[0].weight.codes) ++counts[c];
  const double h = entropy_of_counts(counts);
  EXPECT_GE(s.huffman_codes_bits - s.table_codes_bits, h);
  EXPECT_LE(s.huffman_codes_bits - s.table_codes_bits, 1.02 * h);
}

// A k-means codebook sorted by value over pruned weights: the middle codes (small weights) are rare,
// the shoulders common, so the Huffman lengths go down, up and down again along the symbols.
TEST(Nbz, OrderingTheCodebookByUseKeepsTheWeightAndShrinksTheTable) {
  std::mt19937_64 rng(9);
  CompressedWeight w;
  w.shape = {20, 50};
  w.bits = 4;
  for (int k = 0; k < 16; ++k) w.codebook.push_back(static_cast<int8_t>(-120 + 16 * k));
  w.scales.assign(20, 0.01f);
  // Bimodal: codes near 3 and 12 common, the middle (7, 8) and the ends rare.
  std::vector<double> p(16);
  for (int k = 0; k < 16; ++k) p[static_cast<size_t>(k)] = std::exp(-0.5 * std::pow(std::min(std::abs(k - 3), std::abs(k - 12)) / 1.5, 2.0));
  std::discrete_distribution<int> draw(p.begin(), p.end());
  for (int64_t e = 0; e < 1000; e += 3) {
    w.positions.push_back(e);
    w.codes.push_back(static_cast<uint8_t>(draw(rng)));
  }
  const nibble::Tensor before = decode_weight(w);
  NbzModel by_value, by_use;
  by_value.layers.push_back(make_layer("fc", w));
  order_codebook_by_use(w);
  by_use.layers.push_back(make_layer("fc", w));

  const nibble::Tensor after = decode_weight(w);
  for (int64_t i = 0; i < before.numel(); ++i) ASSERT_EQ(after.data()[i], before.data()[i]) << "element " << i;
  std::vector<int64_t> uses(16, 0);
  for (const uint8_t c : w.codes) ++uses[c];
  for (size_t k = 1; k < uses.size(); ++k) EXPECT_GE(uses[k - 1], uses[k]) << "code " << k;

  NbzStats value_stats, use_stats;
  encode(by_value, &value_stats);
  encode(by_use, &use_stats);
  const NbzLayerStats &v = value_stats.layers[0], &u = use_stats.layers[0];
  EXPECT_EQ(u.huffman_codes_bits - u.table_codes_bits, v.huffman_codes_bits - v.table_codes_bits)
      << "relabelling symbols does not change the codeword lengths' multiset";
  EXPECT_LT(u.table_codes_bits, v.table_codes_bits - 10)
      << "by use " << u.table_codes_bits << " bits, by value " << v.table_codes_bits;
  EXPECT_LE(use_stats.file_bytes, value_stats.file_bytes);
}

TEST(Nbz, OneSymbolStreamCostsNoBitsPerSymbol) {
  std::mt19937_64 rng(3);
  CompressedWeight w = random_weight(rng, {50, 60}, 0.5, 4);
  for (uint8_t& c : w.codes) c = 9;
  NbzModel m;
  m.layers.push_back(make_layer("fc", w));
  NbzStats stats;
  const Bytes file = encode(m, &stats);
  EXPECT_EQ(stats.layers[0].entropy_codes_bits, 0.0);
  EXPECT_LE(stats.layers[0].bytes_codes, 2) << "a table naming the one symbol, no codewords";
  expect_same(m, decode_nbz(file.data(), file.size(), "one"));
}

// The choice is by measured size: compute both sizes here and check the smaller was taken.
TEST(Nbz, ChoosesTheSmallerOfGapsAndBitmap) {
  std::mt19937_64 rng(5);
  for (const double keep : {0.7, 0.3, 0.1, 0.01, 0.0}) {
    CompressedWeight w = random_weight(rng, {100, 200}, keep, 5);
    const int64_t numel = 100 * 200;
    const int64_t bitmap_bytes = (numel + 7) / 8;
    int64_t best_gap_bytes = -1;  // smallest gap stream over every alphabet the format allows
    for (int alphabet = 2; alphabet <= 256; ++alphabet) {
      std::vector<int64_t> counts(static_cast<size_t>(alphabet), 0);
      int64_t next = 0;
      for (const int64_t p : w.positions) {
        const int64_t gap = p - next;
        counts[static_cast<size_t>(alphabet - 1)] += gap / (alphabet - 1);
        ++counts[static_cast<size_t>(gap % (alphabet - 1))];
        next = p + 1;
      }
      const int64_t bytes = (stream_bits(counts) + 7) / 8;
      if (best_gap_bytes < 0 || bytes < best_gap_bytes) best_gap_bytes = bytes;
    }
    NbzModel m;
    m.layers.push_back(make_layer("fc", w));
    NbzStats stats;
    const Bytes file = encode(m, &stats);
    const NbzLayerStats& s = stats.layers[0];
    SCOPED_TRACE("keep " + std::to_string(keep));
    EXPECT_EQ(s.bytes_positions, std::min(bitmap_bytes, best_gap_bytes));
    EXPECT_EQ(s.sparsity_encoding, best_gap_bytes < bitmap_bytes ? "gaps" : "bitmap");
    EXPECT_EQ(file[layout_of_first_layer(file).encoding], best_gap_bytes < bitmap_bytes ? 1 : 0);
    if (keep >= 0.7) {
      EXPECT_EQ(s.sparsity_encoding, "bitmap");
    }
    if (keep <= 0.01) {
      EXPECT_EQ(s.sparsity_encoding, "gaps");
    }
    if (keep == 0.0) {
      EXPECT_EQ(s.bytes_positions, 0);
    }
    expect_same(m, decode_nbz(file.data(), file.size(), "choice"));
  }
}

// ---- corruption ---------------------------------------------------------------------------------------

NbzModel small_model() {
  std::mt19937_64 rng(9);
  NbzModel m;
  m.arch = "tiny";
  m.layers.push_back(make_layer("fc1", random_weight(rng, {6, 10}, 0.3, 3)));
  m.layers.push_back(make_layer("fc2", random_weight(rng, {3, 6}, 0.9, 2)));
  return m;
}

TEST(Nbz, TruncationAtEveryByteNamesFieldAndOffset) {
  const Bytes file = encode(small_model());
  for (size_t n = 0; n < file.size(); ++n) {
    const Bytes cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string e = decode_error(cut);
    ASSERT_FALSE(e.empty()) << "a file cut to " << n << " of " << file.size() << " bytes decoded";
    EXPECT_TRUE(contains(e, "t.nbz") && contains(e, "field '") && contains(e, "(at byte ")) << e;
    EXPECT_TRUE(contains(e, "truncated") || contains(e, "checksum") || contains(e, "record") ||
                contains(e, "stream"))
        << e;
  }
  // Cut inside the second layer's record: the error names that layer.
  const std::string e = decode_error(Bytes(file.begin(), file.end() - 12));
  EXPECT_TRUE(contains(e, "layer 'fc2' (#1)")) << e;
  EXPECT_TRUE(contains(e, "truncated at byte " + std::to_string(file.size() - 12))) << e;
}

TEST(Nbz, EveryFlippedBitIsAnError) {
  const Bytes file = encode(small_model());
  int checksum_errors = 0;
  for (size_t i = 0; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = file;
      bad[i] = static_cast<uint8_t>(bad[i] ^ (1u << bit));
      const std::string e = decode_error(bad);
      ASSERT_FALSE(e.empty()) << "flipping bit " << bit << " of byte " << i << " went unnoticed";
      EXPECT_TRUE(contains(e, "(at byte ")) << e;
      checksum_errors += contains(e, "checksum mismatch");
    }
  }
  EXPECT_GT(checksum_errors, 0) << "some flips (in codebook, scales' low bits, the CRC itself) only the CRC sees";
}

TEST(Nbz, BadMagicAndWrongVersion) {
  const Bytes file = encode(small_model());
  Bytes bad = file;
  bad[1] = 'X';
  EXPECT_TRUE(contains(decode_error(bad), "bad magic")) << decode_error(bad);
  EXPECT_TRUE(contains(decode_error(bad), "field 'magic'"));
  const Bytes text = {'h', 'e', 'l', 'l', 'o', '\n'};
  EXPECT_TRUE(contains(decode_error(text), "bad magic")) << decode_error(text);

  bad = file;
  write_le(bad, 4, 2, 2);
  fix_crc(bad);
  const std::string e = decode_error(bad);
  EXPECT_TRUE(contains(e, "unsupported version 2") && contains(e, "field 'version'") && contains(e, "(at byte 4)"))
      << e;
}

TEST(Nbz, ChecksumIsZlibCrc32OfEverythingBefore) {
  const Bytes file = encode(small_model());
  EXPECT_EQ(read_le(file, file.size() - 4, 4), crc32_reference(file.data(), file.size() - 4));
  Bytes bad = file;
  bad[file.size() - 1] ^= 0x40;
  const std::string e = decode_error(bad);
  EXPECT_TRUE(contains(e, "checksum mismatch") && contains(e, "(at byte " + std::to_string(file.size() - 4) + ")"))
      << e;
}

TEST(Nbz, CodeTableBeyondTheCodebookIsRejected) {
  std::mt19937_64 rng(2);
  NbzModel m;
  m.layers.push_back(make_layer("fc1", random_weight(rng, {4, 32}, 0.5, 2)));
  Bytes file = encode(m);
  const FileLayout l = layout_of_first_layer(file);
  // The stream starts with 4 bits L and 8 bits n - 1 (FORMAT.md); make n = 5 for a 4-entry codebook.
  file[l.codes] = static_cast<uint8_t>(file[l.codes] & 0xF0);
  file[l.codes + 1] = static_cast<uint8_t>((file[l.codes + 1] & 0x0F) | 0x40);
  fix_crc(file);
  const std::string e = decode_error(file);
  EXPECT_TRUE(contains(e, "layer 'fc1' (#0), field 'codes'") && contains(e, "5 symbols") &&
              contains(e, "(at byte " + std::to_string(l.codes) + ")"))
      << e;
}

TEST(Nbz, PositionsOutOfRangeAreRejected) {
  CompressedWeight w;
  w.shape = {2, 64};
  w.bits = 2;
  w.codebook = {1, 2, 3, 4};
  w.scales = {1.0f, 1.0f};
  w.positions = {5, 120};
  w.codes = {1, 2};
  NbzModel m;
  m.layers.push_back(make_layer("fc1", w));
  NbzStats stats;
  Bytes file = encode(m, &stats);
  ASSERT_EQ(stats.layers[0].sparsity_encoding, "gaps");
  const FileLayout l = layout_of_first_layer(file);
  write_le(file, l.shape + 8, 60, 8);  // [2, 60]: element 120 no longer exists
  fix_crc(file);
  std::string e = decode_error(file);
  EXPECT_TRUE(contains(e, "layer 'fc1' (#0), field 'positions'") && contains(e, "out of range") &&
              contains(e, "120"))
      << e;

  // In a bitmap, the header's non-zero count must match the bits set.
  std::mt19937_64 rng(4);
  m.layers[0].weight = random_weight(rng, {2, 64}, 0.75, 2);
  const auto kept = static_cast<int64_t>(m.layers[0].weight.positions.size());
  file = encode(m, &stats);
  ASSERT_EQ(stats.layers[0].sparsity_encoding, "bitmap");
  const FileLayout b = layout_of_first_layer(file);
  write_le(file, b.nonzeros, static_cast<uint64_t>(kept + 1), 4);
  fix_crc(file);
  e = decode_error(file);
  EXPECT_TRUE(contains(e, "field 'positions': the bitmap marks " + std::to_string(kept) + " weights")) << e;
}

TEST(Nbz, AbsurdSizesAreRejectedBeforeAllocating) {
  const NbzModel m = small_model();
  const Bytes file = encode(m);
  const FileLayout l = layout_of_first_layer(file);
  Bytes bad = file;
  write_le(bad, l.shape, 1u << 20, 8);
  write_le(bad, l.shape + 8, 1u << 20, 8);  // 2^40 elements
  std::string e = decode_error(bad);
  EXPECT_TRUE(contains(e, "field 'shape'") && contains(e, "2^26")) << e;

  bad = file;
  write_le(bad, l.nonzeros, 0xFFFFFFFFu, 4);
  e = decode_error(bad);
  EXPECT_TRUE(contains(e, "field 'nonzeros'")) << e;

  bad = file;
  write_le(bad, l.positions - 4, 0x7FFFFFFFu, 4);  // a 2 GB stream in a tiny file
  e = decode_error(bad);
  EXPECT_TRUE(contains(e, "field 'positions'") && contains(e, "needs 2147483647 bytes")) << e;

  // Structural errors in a file whose streams back its counts name the field ...
  bad = file;
  write_le(bad, l.extras, 300, 2);
  e = decode_error(bad);
  EXPECT_TRUE(contains(e, "layer 'fc1' (#0), field 'extras'")) << e;

  // ... but a one-symbol stream spends no bits: a count with (almost) no bytes behind it must pass
  // the CRC before anything is allocated for it, so the same corruption reads as a checksum error.
  CompressedWeight w;
  w.shape = {1000, 1000};
  w.bits = 2;
  w.codebook = {0, 1, 2, 3};
  w.scales.assign(1000, 1.0f);
  for (int64_t i = 0; i < 1000000; ++i) w.positions.push_back(i);
  w.codes.assign(w.positions.size(), 2);
  NbzModel dense;
  dense.layers.push_back(make_layer("all_twos", w));
  NbzStats stats;
  bad = encode(dense, &stats);
  EXPECT_LE(stats.layers[0].bytes_positions + stats.layers[0].bytes_codes, 4) << "no bits per weight";
  expect_same(dense, decode_nbz(bad.data(), bad.size(), "dense"));
  write_le(bad, layout_of_first_layer(bad).extras, 300, 2);
  e = decode_error(bad);
  EXPECT_TRUE(contains(e, "checksum mismatch")) << e;
}

// ---- validation on save -------------------------------------------------------------------------------

TEST(Nbz, SaveRejectsBadModelsNamingLayerAndField) {
  TempDir dir;
  const std::string path = dir.path("bad.nbz");
  struct Case {
    std::string field;
    std::function<void(NbzModel&)> spoil;
  };
  const std::vector<Case> cases = {
      {"weight.positions", [](NbzModel& m) { std::swap(m.layers[1].weight.positions[0], m.layers[1].weight.positions[1]); }},
      {"weight.positions", [](NbzModel& m) { m.layers[1].weight.positions.back() = 18; }},
      {"weight.positions", [](NbzModel& m) { m.layers[1].weight.positions[0] = -1; }},
      {"weight.codes", [](NbzModel& m) { m.layers[1].weight.codes[0] = 4; }},
      {"weight.codes", [](NbzModel& m) { m.layers[1].weight.codes.pop_back(); }},
      {"weight.bits", [](NbzModel& m) { m.layers[1].weight.bits = 9; }},
      {"weight.bits", [](NbzModel& m) { m.layers[1].weight.bits = 1; }},
      {"weight.codebook", [](NbzModel& m) { m.layers[1].weight.codebook.push_back(0); }},
      {"weight.scales", [](NbzModel& m) { m.layers[1].weight.scales[2] = -1.0f; }},
      {"weight.scales", [](NbzModel& m) { m.layers[1].weight.scales[0] = std::nanf(""); }},
      {"weight.scales", [](NbzModel& m) { m.layers[1].weight.scales[0] = 0.0f; }},
      {"weight.scales", [](NbzModel& m) { m.layers[1].weight.scales.pop_back(); }},
      {"weight.shape", [](NbzModel& m) { m.layers[1].weight.shape = {3, 0}; }},
      {"weight.shape", [](NbzModel& m) { m.layers[1].weight.shape = {}; }},
      {"name", [](NbzModel& m) { m.layers[1].name = m.layers[0].name; }},
      {"kind", [](NbzModel& m) { m.layers[1].kind = ""; }},
      {"attrs", [](NbzModel& m) { m.layers[1].attrs.assign(17, 0); }},
      {"extras", [](NbzModel& m) { m.layers[1].extras.push_back(m.layers[1].extras[0]); }},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    NbzModel m = small_model();
    cases[c].spoil(m);
    SCOPED_TRACE("case " + std::to_string(c) + " (" + cases[c].field + ")");
    try {
      save_nbz(m, path);
      ADD_FAILURE() << "saved a bad model";
    } catch (const nibble::Error& e) {
      const std::string layer = cases[c].field == "name" ? "layer 'fc1' (#1)" : "layer 'fc2' (#1)";
      EXPECT_TRUE(contains(e.what(), "save_nbz") && contains(e.what(), layer) &&
                  contains(e.what(), "field '" + cases[c].field))
          << e.what();
    }
    EXPECT_FALSE(fs::exists(path));
    EXPECT_EQ(dir.entries(), 0u);
  }
}

TEST(Nbz, UnwritablePathThrowsAndLeavesNoFile) {
  TempDir dir;
  const std::string missing = dir.path("no_such_folder/model.nbz");
  EXPECT_THROW(save_nbz(small_model(), missing), nibble::Error);
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_EQ(dir.entries(), 0u);

  // A folder in the way of the file: nothing replaces it, nothing is left beside it.
  const std::string folder = dir.path("taken.nbz");
  fs::create_directories(folder);
  EXPECT_THROW(save_nbz(small_model(), folder), nibble::Error);
  EXPECT_TRUE(fs::is_directory(folder));
  EXPECT_EQ(dir.entries(), 1u);

  // A failed save over an existing file leaves the old file as it was.
  const std::string good = dir.path("good.nbz");
  save_nbz(small_model(), good);
  const Bytes before = read_bytes(good);
  NbzModel bad = small_model();
  bad.layers[0].weight.bits = 12;
  EXPECT_THROW(save_nbz(bad, good), nibble::Error);
  EXPECT_EQ(read_bytes(good), before);
  EXPECT_EQ(dir.entries(), 2u);
}

TEST(Nbz, LoadNamesTheMissingFile) {
  try {
    load_nbz("/nonexistent/folder/m.nbz");
    ADD_FAILURE() << "loaded a missing file";
  } catch (const nibble::Error& e) {
    EXPECT_TRUE(contains(e.what(), "/nonexistent/folder/m.nbz")) << e.what();
  }
}

// ---- performance ---------------------------------------------------------------------------------------

TEST(Nbz, DecodesLeNet300SizedFileFast) {
#ifndef NDEBUG
  GTEST_SKIP() << "timing is measured in Release builds only (this build has assertions/sanitizers)";
#else
  std::mt19937_64 rng(13);
  NbzModel m;
  m.arch = "lenet300";
  m.layers.push_back(make_layer("fc1", random_weight(rng, {300, 784}, 0.08, 5)));
  m.layers.push_back(make_layer("fc2", random_weight(rng, {100, 300}, 0.08, 5)));
  m.layers.push_back(make_layer("fc3", random_weight(rng, {10, 100}, 0.08, 5)));
  const Bytes file = encode(m);
  double best_ms = 1e9;
  for (int run = 0; run < 5; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    const NbzModel back = decode_nbz(file.data(), file.size(), "lenet");
    const auto t1 = std::chrono::steady_clock::now();
    best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
    ASSERT_EQ(back.layers.size(), 3u);
  }
  std::cout << "[ measured ] decode of a LeNet-300-100-sized file (266,200 weights, 8% kept, " << file.size()
            << " B): " << best_ms << " ms (best of 5)\n";
  EXPECT_LT(best_ms, 10.0);
#endif
}

// ---- fuzz corpus and regressions -------------------------------------------------------------------------

namespace {

// The seed corpus of tests/fuzz/nbz_fuzz.cpp: small valid files of each layer kind.
std::map<std::string, NbzModel> corpus_models() {
  std::map<std::string, NbzModel> out;
  out["small.nbz"] = small_model();
  std::mt19937_64 rng(21);
  NbzModel conv;
  conv.arch = "conv";
  conv.layers.push_back(make_layer("conv1", random_weight(rng, {4, 2, 3, 3}, 0.4, 4), "conv2d"));
  out["conv.nbz"] = conv;
  NbzModel sparse;
  sparse.arch = "sparse";
  sparse.layers.push_back(make_layer("fc", random_weight(rng, {20, 60}, 0.02, 5)));
  sparse.layers.push_back(make_layer("empty", random_weight(rng, {3, 4}, 0.0, 2)));
  out["sparse_gaps.nbz"] = sparse;
  NbzModel dense;
  dense.arch = "dense";
  CompressedWeight one = random_weight(rng, {5, 8}, 1.0, 8);
  dense.layers.push_back(make_layer("int8", one));
  for (uint8_t& c : one.codes) c = 200;
  dense.layers.push_back(make_layer("one_symbol", one));
  out["dense.nbz"] = dense;
  return out;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && entry.path().extension() != ".md") out.push_back(entry.path());
  return out;
}

}  // namespace

// The committed seed corpus is exactly what today's writer produces (regenerate it with
// NIBBLE_WRITE_NBZ_CORPUS=1 build/tests/nibble_tests --gtest_filter=Nbz.SeedCorpusIsCurrent).
TEST(Nbz, SeedCorpusIsCurrent) {
  const fs::path dir = fs::path(NIBBLE_SOURCE_DIR) / "tests/fuzz/corpus/nbz";
  const bool write = std::getenv("NIBBLE_WRITE_NBZ_CORPUS") != nullptr;
  size_t total = 0;
  for (const auto& [name, model] : corpus_models()) {
    const Bytes want = encode(model);
    if (write) {
      fs::create_directories(dir);
      std::ofstream((dir / name).string(), std::ios::binary)
          .write(reinterpret_cast<const char*>(want.data()), static_cast<std::streamsize>(want.size()));
    }
    ASSERT_TRUE(fs::exists(dir / name)) << dir / name << " is missing";
    EXPECT_EQ(read_bytes((dir / name).string()), want) << name << " differs from what save_nbz writes today";
    expect_same(model, load_nbz((dir / name).string()));
    total += want.size();
  }
  EXPECT_LT(total, 20000u) << "keep the seed corpus small";
}

// Every input the fuzzer ever crashed on decodes to a model or throws nibble::Error — nothing else.
// An 89-byte file (found by the fuzzer) that is valid but declares one layer of 2^26 weights, all
// kept, all the same code: both streams are one-symbol streams of 0 bits a symbol, so the bytes
// present bound nothing. The reader's element budget refuses it before allocating.
TEST(Nbz, TheElementBudgetIsCheckedBeforeAllocating) {
  const fs::path f =
      fs::path(NIBBLE_SOURCE_DIR) / "tests/fuzz/regressions/nbz/one-code-layer-declares-2e26-weights-in-89-bytes.nbz";
  Bytes b = read_bytes(f.string());
  ASSERT_EQ(b.size(), 89u);
  fix_crc(b);  // as the fuzz target does: the CRC would otherwise stop it only at the end
  EXPECT_TRUE(throws_error_containing(
      [&] { decode_nbz(b.data(), b.size(), "bomb.nbz", int64_t{1} << 20); },
      "bomb.nbz: layer 'fc' (#0), field 'shape': 67108864 more elements exceed what is left of the reader's "
      "budget (1048576"));
  // The budget counts all layers together: a model that fits, with one element less, does not.
  std::mt19937_64 rng(2);
  NbzModel m;
  m.layers.push_back(make_layer("a", random_weight(rng, {10, 20}, 0.5, 3)));  // 200 weights + 10 bias
  m.layers.push_back(make_layer("b", random_weight(rng, {5, 20}, 0.5, 3)));   // 100 weights + 5 bias
  const Bytes file = encode(m);
  expect_same(m, decode_nbz(file.data(), file.size(), "fits", 315));
  EXPECT_TRUE(throws_error_containing([&] { decode_nbz(file.data(), file.size(), "tight", 314); },
                                      "tight: layer 'b' (#1), field 'extras.bias'"));
  EXPECT_TRUE(throws_error_containing([&] { decode_nbz(file.data(), file.size(), "neg", -1); },
                                      "max_elements must be >= 0"));
}

TEST(Nbz, FuzzRegressionsThrowOrDecode) {
  const fs::path dir = fs::path(NIBBLE_SOURCE_DIR) / "tests/fuzz/regressions/nbz";
  const std::vector<fs::path> files = files_in(dir);
  if (files.empty()) GTEST_SKIP() << "no files in " << dir;
  for (const fs::path& f : files) {
    const Bytes b = read_bytes(f.string());
    try {
      decode_nbz(b.data(), b.size(), f.filename().string(), int64_t{1} << 20);  // the fuzz target's budget
      std::cout << "[ decoded  ] " << f.filename().string() << "\n";
    } catch (const nibble::Error& e) {
      std::cout << "[ rejected ] " << e.what() << "\n";
    }
  }
}
