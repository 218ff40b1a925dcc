// Fashion-MNIST loading (core/io/fashion_mnist.h): the real data set from the Debian package, plus
// small fake copies written to a temp dir to test the directory handling.
#include "core/io/fashion_mnist.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/io/idx.h"
#include "core/io/temp_dir.h"
#include "gradcheck.h"

namespace nibble::data {
namespace {

using nibble::testing::TempDir;
using nibble::testing::throws_error_containing;

bool package_installed() {
  return std::filesystem::exists(std::string(kFashionMnistPackageDir) +
                                 "/train-images-idx3-ubyte.gz");
}

constexpr const char* kNotInstalled =
    "dataset-fashion-mnist not installed: apt-get install dataset-fashion-mnist";

void expect_split(const FashionMnist& ds, int64_t n) {
  ASSERT_EQ(ds.images.shape(), (Shape{n, 1, 28, 28}));
  ASSERT_EQ(static_cast<int64_t>(ds.labels.size()), n);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t label : ds.labels) {
    ASSERT_TRUE(label >= 0 && label < 10) << label;
    ++per_class[static_cast<size_t>(label)];
  }
  EXPECT_EQ(per_class, std::vector<int64_t>(10, n / 10)) << "Fashion-MNIST is exactly balanced";

  const float* p = ds.images.data();
  float lo = 1.0f, hi = 0.0f;
  int64_t off_grid = 0;  // every pixel must be k/255 for an integer k
  for (int64_t i = 0; i < ds.images.numel(); ++i) {
    lo = std::fmin(lo, p[i]);
    hi = std::fmax(hi, p[i]);
    const float k = std::round(p[i] * 255.0f);
    if (p[i] != k / 255.0f) ++off_grid;
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  EXPECT_EQ(off_grid, 0);
  EXPECT_EQ(ds.class_names.size(), 10u);
  EXPECT_EQ(ds.class_names[0], "T-shirt/top");
  EXPECT_EQ(ds.class_names[9], "Ankle boot");
}

TEST(IdxFashionMnist, RealTrainSplit) {
  if (!package_installed()) GTEST_SKIP() << kNotInstalled;
  expect_split(load_fashion_mnist("train", kFashionMnistPackageDir), 60000);
}

TEST(IdxFashionMnist, RealTestSplit) {
  if (!package_installed()) GTEST_SKIP() << kNotInstalled;
  const FashionMnist test = load_fashion_mnist("test", kFashionMnistPackageDir);
  expect_split(test, 10000);
  // The first test image is an ankle boot (label 9) in the original distribution.
  EXPECT_EQ(test.labels[0], 9);
}

TEST(IdxFashionMnist, UnknownSplit) {
  EXPECT_TRUE(throws_error_containing([] { load_fashion_mnist("validation"); },
                                      "unknown split 'validation'"));
}

TEST(IdxFashionMnist, MissingDirectoryGivesInstallHint) {
  TempDir dir;
  const std::string missing = dir.file("not-here");
  EXPECT_TRUE(throws_error_containing([&] { load_fashion_mnist("train", missing); },
                                      missing + " does not exist"));
  EXPECT_TRUE(throws_error_containing([&] { load_fashion_mnist("train", missing); },
                                      "apt-get install dataset-fashion-mnist"));
}

// Writes a tiny fake split with the real file names.
void write_fake_split(const TempDir& dir, const std::string& prefix,
                      const std::vector<uint8_t>& labels) {
  io::IdxArray images{{static_cast<int64_t>(labels.size()), 28, 28}, {}};
  images.data.assign(labels.size() * 28 * 28, 51);  // 51 / 255 = 0.2
  io::write_idx(dir.file(prefix + "-images-idx3-ubyte.gz"), images, true);
  io::write_idx(dir.file(prefix + "-labels-idx1-ubyte.gz"),
                io::IdxArray{{static_cast<int64_t>(labels.size())}, labels}, true);
}

TEST(IdxFashionMnist, EnvironmentVariableOverridesDefaultDir) {
  TempDir dir;
  write_fake_split(dir, "t10k", {3, 1, 4});
  const char* old = std::getenv("NIBBLE_FASHION_MNIST_DIR");
  const std::string saved = old ? old : "";
  ::setenv("NIBBLE_FASHION_MNIST_DIR", dir.path().c_str(), 1);
  EXPECT_EQ(default_fashion_mnist_dir(), dir.path());
  const FashionMnist ds = load_fashion_mnist("test");
  if (old) {
    ::setenv("NIBBLE_FASHION_MNIST_DIR", saved.c_str(), 1);
  } else {
    ::unsetenv("NIBBLE_FASHION_MNIST_DIR");
  }

  EXPECT_EQ(ds.labels, (std::vector<int64_t>{3, 1, 4}));
  ASSERT_EQ(ds.images.shape(), (Shape{3, 1, 28, 28}));
  EXPECT_EQ(ds.images.at({2, 0, 27, 27}), 51.0f / 255.0f);
  if (!old) {
    EXPECT_EQ(default_fashion_mnist_dir(), kFashionMnistPackageDir);
  }
}

TEST(IdxFashionMnist, MissingFileInDirectory) {
  TempDir dir;
  write_fake_split(dir, "t10k", {0, 1});
  EXPECT_TRUE(throws_error_containing([&] { load_fashion_mnist("train", dir.path()); },
                                      "missing file " + dir.file("train-images-idx3-ubyte.gz")));
}

TEST(IdxFashionMnist, LabelOutOfRange) {
  TempDir dir;
  write_fake_split(dir, "train", {0, 10});
  EXPECT_TRUE(throws_error_containing([&] { load_fashion_mnist("train", dir.path()); },
                                      "label 10 at index 1 is outside 0..9"));
}

}  // namespace
}  // namespace nibble::data
