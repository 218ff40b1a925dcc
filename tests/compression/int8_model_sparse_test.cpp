// Int8Model's sparse kernels (compression/deep_compression.h, core/kernels/int8_sparse_*.h): a
// .nbz file written here from hand-pruned weights runs with identical logits on the dense and the
// sparse paths, at batch 1 (where the Linear layers run sparse too) and batch > 1; the density
// threshold picks the layers; a malformed file still fails clearly.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "compression/deep_compression.h"
#include "compression/nbz.h"
#include "core/autograd.h"
#include "core/io/temp_dir.h"

namespace nibble::compression {
namespace {

using testing::TempDir;

// The model of `arch` with each compressed layer keeping a random fraction keep[i] of its weights,
// shared on 16 int8 values and written to a .nbz file, read back.
NbzModel pruned_file(const std::string& arch, const std::vector<double>& keep, const TempDir& dir) {
  manual_seed(11);
  std::shared_ptr<nn::Module> model = make_model(arch);
  NoGradGuard no_grad;
  const std::vector<std::string> layers = compressed_layers(arch);
  std::mt19937 rng(4);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<CompressedWeight> weights;
  for (size_t i = 0; i < layers.size(); ++i) {
    Tensor w = model->get_parameter(layers[i] + ".weight");
    float* d = w.data();
    for (int64_t e = 0; e < w.numel(); ++e)
      if (u(rng) >= keep[i]) d[e] = 0.0f;
    weights.push_back(share_weight(w, 4, "kmeans"));
  }
  const NbzModel file = to_nbz(*model, arch, weights, Tensor::rand({16, 1, 28, 28}));
  save_nbz(file, dir.file("m.nbz"));
  return load_nbz(dir.file("m.nbz"));
}

void expect_same_logits(const Int8Model& a, const Int8Model& b) {
  for (const int64_t batch : {1, 7}) {
    const Tensor images = Tensor::rand({batch, 1, 28, 28});
    const std::vector<float> x = a(images).to_vector(), y = b(images).to_vector();
    ASSERT_EQ(x.size(), y.size());
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0) << "batch " << batch;
  }
}

TEST(Int8ModelSparse, CnnSparseAndDensePathsGiveIdenticalLogits) {
  TempDir dir;
  // conv1 0.5 and conv2 0.1 (below the threshold: sparse), fc 3%.
  const NbzModel file = pruned_file("cnn", {0.5, 0.1, 0.03}, dir);
  const Int8Model dense = Int8Model::from_nbz(file, false), sparse = Int8Model::from_nbz(file);
  EXPECT_FALSE(dense.cnn().conv1.sparse());
  EXPECT_FALSE(dense.cnn().fc.sparse());
  EXPECT_TRUE(sparse.cnn().conv1.sparse());
  EXPECT_TRUE(sparse.cnn().conv2.sparse());
  EXPECT_TRUE(sparse.cnn().fc.sparse());
  expect_same_logits(dense, sparse);
  // A dense conv1 (90% kept) stays on the GEMM, the pipeline still agrees.
  TempDir dir2;
  const NbzModel mixed = pruned_file("cnn", {0.9, 0.02, 0.5}, dir2);
  const Int8Model m = Int8Model::from_nbz(mixed);
  EXPECT_GT(m.cnn().conv1.weight_density(), Int8Model::kSparseConvMaxDensity);
  EXPECT_FALSE(m.cnn().conv1.sparse());
  EXPECT_TRUE(m.cnn().conv2.sparse());
  expect_same_logits(Int8Model::from_nbz(mixed, false), m);
}

TEST(Int8ModelSparse, LeNetSparseAndDensePathsGiveIdenticalLogits) {
  TempDir dir;
  const NbzModel file = pruned_file("lenet300", {0.04, 0.2, 0.7}, dir);
  expect_same_logits(Int8Model::from_nbz(file, false), Int8Model::from_nbz(file));
}

TEST(Int8ModelSparse, LayerOfTheWrongShapeStillFailsClearly) {
  TempDir dir;
  NbzModel file = pruned_file("cnn", {0.5, 0.1, 0.03}, dir);
  file.layers[1].weight.shape = {16, 8, 5, 6};  // conv2 is [16, 8, 5, 5]
  try {
    Int8Model::from_nbz(file);
    ADD_FAILURE() << "a conv2 of the wrong shape was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nibble::compression
