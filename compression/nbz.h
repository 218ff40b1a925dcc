// The .nbz compressed-model file: Deep Compression's storage stage (Han et al. 2016) — pruned,
// weight-shared layers stored as a sparsity structure (relative-index gaps or a bitmap, chosen per
// layer by measured size) plus code symbols, both canonical-Huffman coded, with per-channel scales,
// raw fp32 extras (biases, ...) and a CRC-32. Byte layout and limits: compression/FORMAT.md.
// The reader validates everything against the bytes present before allocating; a corrupt or
// truncated file throws nibble::Error naming the file, the layer, the field and the byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace nibble::compression {

// One compressed weight tensor. Its decoded value is, for every element e of the dense weight (row-major,
// shape `shape`, first dimension = output channel n):
//   W[e] = 0                                    if e is not in `positions`
//   W[e] = scales[n] * codebook[codes[i]]       if e == positions[i]
// so the int8 kernels run it exactly: the int8 weight is codebook[codes[i]] and the per-channel scale scales[n].
// Plain int8 (no sharing) is codebook = {-128, ..., 127} (256 entries, code = q + 128), bits = 8.
struct CompressedWeight {
  std::vector<int64_t> shape;        // dense shape, e.g. [300, 784] or [16, 8, 5, 5]
  std::vector<int64_t> positions;    // flat indices of the kept (non-zero) weights, strictly increasing
  std::vector<uint8_t> codes;        // one per position, each < codebook.size()
  std::vector<int8_t> codebook;      // the shared int8 values, size 2^bits
  int bits = 8;                      // 2..8; codebook.size() == 1 << bits
  std::vector<float> scales;         // per output channel (shape[0] entries), finite and > 0
};

struct NbzLayer {
  std::string name;                              // "fc1", "conv2" (the module path in the model)
  std::string kind;                              // "linear" or "conv2d"
  std::vector<int64_t> attrs;                    // kind-specific ints, e.g. conv2d: {stride, padding}
  CompressedWeight weight;
  std::vector<std::pair<std::string, std::vector<float>>> extras;  // raw fp32 arrays: "bias",
                                                 // activation quantization params, … (stored verbatim)
};

struct NbzModel {
  std::string arch;                              // "lenet300", "fashion_mlp", "fashion_cnn", …
  std::vector<NbzLayer> layers;                  // in forward order
};

// Per layer (and total) what the file spends and what the entropy bound says — for the report.
struct NbzLayerStats {
  std::string name;
  int64_t weights = 0, nonzeros = 0;
  std::string sparsity_encoding;                 // "gaps" or "bitmap" (chosen per layer by measured size)
  int64_t bytes_positions = 0, bytes_codes = 0, bytes_codebook = 0, bytes_scales = 0, bytes_extras = 0;
  double entropy_codes_bits = 0;                 // empirical entropy of the code symbols × count (bits)
  double entropy_positions_bits = 0;             // same for the gap symbols (0 for a bitmap)
  double huffman_codes_bits = 0, huffman_positions_bits = 0;  // what the Huffman streams actually take
  // Of those, the code-length tables (the rest is codewords; compression/FORMAT.md, "Huffman stream").
  double table_codes_bits = 0, table_positions_bits = 0;
};
struct NbzStats { std::vector<NbzLayerStats> layers; int64_t file_bytes = 0; };

// Writes atomically (core/io/atomic_file.h: temp file in the same folder, fsync, rename); validates the model
// first (shapes, positions in range and increasing, codes < codebook size, bits 2..8, finite positive scales)
// with nibble::Error naming the layer and the field. Returns the stats of what it wrote.
NbzStats save_nbz(const NbzModel& model, const std::string& path);
// Reads and fully validates; a corrupt or truncated file throws nibble::Error naming the file, the layer
// (when known), the field and the byte offset ("truncated at byte N (expected M)", "checksum mismatch", …).
// max_elements bounds the weights (dense count) and extra values of all layers together, checked
// from the headers before anything is allocated: a valid file can describe a layer of 2^26 kept
// weights in a few dozen bytes (one code, 0 bits each), so the bytes present do not bound memory.
constexpr int64_t kMaxModelElements = int64_t{1} << 26;  // the default: 256 MiB once decoded to fp32
NbzModel load_nbz(const std::string& path, int64_t max_elements = kMaxModelElements);
NbzModel decode_nbz(const uint8_t* data, size_t size, const std::string& source_name,
                    int64_t max_elements = kMaxModelElements);  // what the fuzzer calls
// Dense float weight of one layer (the formula above).
Tensor decode_weight(const CompressedWeight& w);

// Relabels w's codes so that code 0 is the most used codebook entry, code 1 the next, and so on (ties:
// the smaller old code first; unused entries last). The decoded weight is unchanged. Why: canonical
// Huffman lengths then never fall as the symbol rises, and the code-length table, which stores each
// length against the previous one, costs ~2 bits a symbol instead of ~4 for a codebook sorted by
// value (where the pruned middle of the distribution is rare and the lengths jump up and down) --
// ~30 bits a layer, 5-10% of the small streams of a 94%-sparse CNN (compression/RESULTS.md).
void order_codebook_by_use(CompressedWeight& w);

}  // namespace nibble::compression
