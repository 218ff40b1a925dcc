// Shared by `nibble compress` and `nibble demo` (tools/nibble/compress.cpp): the data folder, the
// pipeline with progress bars, the report table, its JSON and the general-purpose compressors.
#pragma once

#include <string>

#include "compression/deep_compression.h"
#include "core/io/fashion_mnist.h"

namespace nibble::cli {

// Checks that dir holds an IDX dataset (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
// t10k-*; also the train-images.idx3-ubyte spelling) before anything else runs; throws one line.
void check_idx_folder(const std::string& dir, const std::string& op);
// One split ("train" / "test") of such a folder, pixels / 255, labels 0..9.
data::FashionMnist load_idx_folder(const std::string& dir, const std::string& split);

// Runs deep_compress with a progress bar per loop.
compression::DeepCompressionResult run_pipeline(nn::Module& model, const std::string& arch,
                                                const data::FashionMnist& train, const data::FashionMnist& test,
                                                compression::DeepCompressionOptions options, const std::string& out);

// Prints the stage table, the general-purpose compressors of the fp32 checkpoint and the coding
// table (entropy vs Huffman); `json` (if not empty) gets the same as JSON, `png` the masks.
void print_compress_report(const compression::DeepCompressionResult& r, const compression::DeepCompressionOptions& o,
                           const std::string& json, const std::string& png);

}  // namespace nibble::cli
