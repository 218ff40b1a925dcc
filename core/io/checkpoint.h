// Checkpoints: named float32 tensors in a small, documented binary file (".nbck").
//
//   io::save_tensors("model.nbck", {{"fc1.weight", w}, {"fc1.bias", b}});
//   io::NamedTensors loaded = io::load_tensors("model.nbck");   // same names, order and bits
//
// To save a whole model use nn::save / nn::load (nn/checkpoint.h), which go through the module's
// state_dict. This layer knows nothing about modules: core/ never includes nn/.
//
// File layout. Every integer is little-endian, whatever the byte order of the machine that
// writes or reads it, so a checkpoint moves freely between computers.
//
//   offset  size   field
//   0       4      magic: the ASCII bytes 'N' 'B' 'C' 'K'
//   4       4      uint32  format version, currently 1
//   8       8      uint64  number of tensors T
//   16             T tensor records, back to back, each:
//                    4      uint32  name length L, 1..4096
//                    L      the name's bytes (UTF-8, no terminating zero), e.g. "fc1.weight"
//                           (nn::save also stores pruning masks, as "fc1.weight_mask")
//                    4      uint32  rank R, 0..16 (0 is a scalar holding one value)
//                    8*R    int64   the dims, outermost first
//                    4*n    float32 values (IEEE-754 bit patterns), row-major; n = product of dims
//                    4      uint32  CRC-32 of those 4*n data bytes (zlib's crc32, as in PNG)
//   -              the file ends right after the last record.
//
// Why a CRC per tensor: a flipped bit in a weight does not crash anything -- the model silently
// gets worse. The checksum turns that into a loud error naming the damaged tensor. (Names, ranks
// and dims are not checksummed; a damaged header shows up as an absurd size, a truncation or a
// name the model does not know.)
//
// Saving is atomic (io::write_atomically: unique temporary, fsync, rename): a crash mid-save leaves
// the old checkpoint intact, and two processes saving the same path never expose a partial file.
// Loading checks everything and throws nibble::Error naming the file: bad magic, unsupported
// version, truncation ("truncated at byte N (expected M)"), checksum mismatch, absurd sizes,
// duplicate names, trailing bytes. Memory is allocated only for data present in the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace nibble::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;  // same type as nn::NamedTensors

constexpr uint32_t kCheckpointVersion = 1;

void save_tensors(const std::string& path, const NamedTensors& tensors);
NamedTensors load_tensors(const std::string& path);  // fresh tensors, requires_grad == false
// The same from bytes in memory (what the fuzz target tests/fuzz/checkpoint_fuzz.cpp calls); path
// names them in errors.
NamedTensors decode_tensors(const unsigned char* data, size_t size, const std::string& path);

}  // namespace nibble::io
