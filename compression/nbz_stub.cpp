// LOCAL STUB of the .nbz codec for branch wt-compress (see compression/nbz.h): raw little-endian
// arrays, no Huffman coding. Deleted when wt-nbz (the real codec) is merged. Not a file format.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include "compression/nbz.h"
#include "core/error.h"
#include "core/io/atomic_file.h"

namespace nibble::compression {

namespace {

template <typename T>
void put(std::string& out, const std::vector<T>& v) {
  const uint64_t n = v.size();
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
void put_str(std::string& out, const std::string& s) { put(out, std::vector<char>(s.begin(), s.end())); }

struct Reader {
  const uint8_t* p;
  size_t n, at = 0;
  template <typename T>
  std::vector<T> get() {
    uint64_t k = 0;
    check(at + sizeof k <= n, "load_nbz", "truncated");
    std::memcpy(&k, p + at, sizeof k);
    at += sizeof k;
    check(k <= (n - at) / sizeof(T), "load_nbz", "truncated");
    std::vector<T> v(k);
    if (k) std::memcpy(v.data(), p + at, k * sizeof(T));
    at += k * sizeof(T);
    return v;
  }
  std::string str() {
    const auto v = get<char>();
    return std::string(v.begin(), v.end());
  }
};

double entropy_bits(const std::map<int64_t, int64_t>& counts) {
  int64_t total = 0;
  for (const auto& kv : counts) total += kv.second;
  double h = 0;
  for (const auto& kv : counts) h -= kv.second * std::log2(static_cast<double>(kv.second) / total);
  return h;
}

}  // namespace

Tensor decode_weight(const CompressedWeight& w) {
  Tensor t = Tensor::zeros(w.shape);
  const int64_t per_row = w.shape.empty() || w.shape[0] == 0 ? 1 : t.numel() / w.shape[0];
  float* d = t.data();
  for (size_t i = 0; i < w.positions.size(); ++i)
    d[w.positions[i]] = w.scales[static_cast<size_t>(w.positions[i] / per_row)] * w.codebook[w.codes[i]];
  return t;
}

NbzStats save_nbz(const NbzModel& model, const std::string& path) {
  std::string out = "NBZSTUB";
  put_str(out, model.arch);
  put(out, std::vector<int64_t>{static_cast<int64_t>(model.layers.size())});
  NbzStats stats;
  for (const NbzLayer& l : model.layers) {
    put_str(out, l.name);
    put_str(out, l.kind);
    put(out, l.attrs);
    put(out, l.weight.shape);
    put(out, l.weight.positions);
    put(out, l.weight.codes);
    put(out, l.weight.codebook);
    put(out, std::vector<int64_t>{l.weight.bits});
    put(out, l.weight.scales);
    put(out, std::vector<int64_t>{static_cast<int64_t>(l.extras.size())});
    for (const auto& e : l.extras) {
      put_str(out, e.first);
      put(out, e.second);
    }
    NbzLayerStats s;
    s.name = l.name;
    s.weights = 1;
    for (int64_t d : l.weight.shape) s.weights *= d;
    s.nonzeros = static_cast<int64_t>(l.weight.positions.size());
    s.sparsity_encoding = "gaps";
    std::map<int64_t, int64_t> codes, gaps;
    int64_t prev = -1;
    for (size_t i = 0; i < l.weight.codes.size(); ++i) {
      ++codes[l.weight.codes[i]];
      ++gaps[l.weight.positions[i] - prev];
      prev = l.weight.positions[i];
    }
    s.entropy_codes_bits = s.huffman_codes_bits = entropy_bits(codes);
    s.entropy_positions_bits = s.huffman_positions_bits = entropy_bits(gaps);
    s.bytes_codes = static_cast<int64_t>(l.weight.codes.size());
    s.bytes_positions = static_cast<int64_t>(8 * l.weight.positions.size());
    stats.layers.push_back(s);
  }
  io::write_file_atomically(path, "save_nbz", out);
  stats.file_bytes = static_cast<int64_t>(out.size());
  return stats;
}

NbzModel decode_nbz(const uint8_t* data, size_t size, const std::string& source_name) {
  check(size >= 7 && std::memcmp(data, "NBZSTUB", 7) == 0, "load_nbz", source_name + ": bad magic");
  Reader r{data, size, 7};
  NbzModel m;
  m.arch = r.str();
  const int64_t n = r.get<int64_t>().at(0);
  for (int64_t i = 0; i < n; ++i) {
    NbzLayer l;
    l.name = r.str();
    l.kind = r.str();
    l.attrs = r.get<int64_t>();
    l.weight.shape = r.get<int64_t>();
    l.weight.positions = r.get<int64_t>();
    l.weight.codes = r.get<uint8_t>();
    l.weight.codebook = r.get<int8_t>();
    l.weight.bits = static_cast<int>(r.get<int64_t>().at(0));
    l.weight.scales = r.get<float>();
    const int64_t ne = r.get<int64_t>().at(0);
    for (int64_t e = 0; e < ne; ++e) {
      std::string name = r.str();
      l.extras.emplace_back(name, r.get<float>());
    }
    m.layers.push_back(std::move(l));
  }
  return m;
}

NbzModel load_nbz(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(static_cast<bool>(in), "load_nbz", "cannot open " + path);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_nbz(bytes.data(), bytes.size(), path);
}

}  // namespace nibble::compression
