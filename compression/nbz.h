// The .nbz compressed model format (issue 15) — the API fixed by /work/wt/NBZ_CONTRACT.md.
// LOCAL COPY of the contract for branch wt-compress until wt-nbz lands: the real header and codec
// (compression/nbz.cpp, compression/FORMAT.md) replace this file and compression/nbz_stub.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace nibble::compression {

struct CompressedWeight {
  std::vector<int64_t> shape;
  std::vector<int64_t> positions;
  std::vector<uint8_t> codes;
  std::vector<int8_t> codebook;
  int bits = 8;
  std::vector<float> scales;
};

struct NbzLayer {
  std::string name;
  std::string kind;
  std::vector<int64_t> attrs;
  CompressedWeight weight;
  std::vector<std::pair<std::string, std::vector<float>>> extras;
};

struct NbzModel {
  std::string arch;
  std::vector<NbzLayer> layers;
};

struct NbzLayerStats {
  std::string name;
  int64_t weights = 0, nonzeros = 0;
  std::string sparsity_encoding;
  int64_t bytes_positions = 0, bytes_codes = 0, bytes_codebook = 0, bytes_scales = 0, bytes_extras = 0;
  double entropy_codes_bits = 0;
  double entropy_positions_bits = 0;
  double huffman_codes_bits = 0, huffman_positions_bits = 0;
};
struct NbzStats { std::vector<NbzLayerStats> layers; int64_t file_bytes = 0; };

NbzStats save_nbz(const NbzModel& model, const std::string& path);
NbzModel load_nbz(const std::string& path);
NbzModel decode_nbz(const uint8_t* data, size_t size, const std::string& source_name);
Tensor decode_weight(const CompressedWeight& w);

}  // namespace nibble::compression
