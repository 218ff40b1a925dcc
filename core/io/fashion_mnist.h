// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 70000 grayscale 28x28 photos of clothing in 10
// classes -- a drop-in replacement for MNIST digits that is hard enough for compression
// experiments to show differences. Debian ships it: `apt-get install dataset-fashion-mnist`.
//
//   auto train = nibble::data::load_fashion_mnist("train");   // 60000 examples
//   auto test  = nibble::data::load_fashion_mnist("test");    // 10000 examples
//   train.images.shape() == {60000, 1, 28, 28}, values in [0, 1];  train.labels[i] in 0..9
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nibble::data {

// Where the Debian package puts the files (a package path, the same on every machine).
constexpr const char* kFashionMnistPackageDir = "/usr/share/datasets/fashion-mnist";

struct FashionMnist {
  Tensor images;                         // [N, 1, 28, 28], float pixel / 255
  std::vector<int64_t> labels;           // N class indices in 0..9
  std::vector<std::string> class_names;  // class_names[label], e.g. "Ankle boot"
};

// The 10 class names in label order.
const std::vector<std::string>& fashion_mnist_class_names();

// $NIBBLE_FASHION_MNIST_DIR if set and non-empty, else kFashionMnistPackageDir.
std::string default_fashion_mnist_dir();

// split: "train" (train-*-ubyte.gz) or "test" (t10k-*-ubyte.gz). An empty dir means
// default_fashion_mnist_dir(). Throws nibble::Error if the directory or a file is missing or
// corrupt, or a label is outside 0..9.
FashionMnist load_fashion_mnist(const std::string& split, const std::string& dir = "");

}  // namespace nibble::data
