#include "core/io/fashion_mnist.h"

#include <cstdlib>
#include <filesystem>

#include "core/io/idx.h"

namespace nibble::data {

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("NIBBLE_FASHION_MNIST_DIR");
  return (env != nullptr && *env != '\0') ? env : kFashionMnistPackageDir;
}

FashionMnist load_fashion_mnist(const std::string& split, const std::string& dir_arg) {
  const char* op = "load_fashion_mnist";
  NIBBLE_CHECK(split == "train" || split == "test", op, "unknown split '" + split + "'",
        "use \"train\" (60000 examples) or \"test\" (10000 examples)");
  const std::string dir = dir_arg.empty() ? default_fashion_mnist_dir() : dir_arg;
  std::error_code ec;
  NIBBLE_CHECK(std::filesystem::is_directory(dir, ec), op, "directory " + dir + " does not exist",
        "apt-get install dataset-fashion-mnist (or point NIBBLE_FASHION_MNIST_DIR at a copy)");

  // The original file names: the test split is called "t10k" (ten thousand).
  const std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  for (const std::string& path : {images_path, labels_path}) {
    NIBBLE_CHECK(std::filesystem::is_regular_file(path, ec), op, "missing file " + path,
          "apt-get install --reinstall dataset-fashion-mnist");
  }
  const io::IdxDataset raw = io::read_idx_dataset(images_path, labels_path, 28, 28);

  const int64_t n = raw.images.dims[0];
  FashionMnist out;
  out.class_names = fashion_mnist_class_names();
  out.images = Tensor::empty({n, 1, 28, 28});
  float* dst = out.images.data();
  const uint8_t* src = raw.images.data.data();
  const int64_t count = n * 28 * 28;
  for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;

  out.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = raw.labels.data[static_cast<size_t>(i)];
    NIBBLE_CHECK(label < 10, op,
          labels_path + ": label " + std::to_string(label) + " at index " + std::to_string(i) +
              " is outside 0..9");
    out.labels[static_cast<size_t>(i)] = label;
  }
  return out;
}

}  // namespace nibble::data
