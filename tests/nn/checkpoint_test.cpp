// nn::save / nn::load (nn/checkpoint.h): whole modules through their state_dict.
#include "nn/checkpoint.h"

#include <gtest/gtest.h>

#include "core/io/checkpoint.h"
#include "core/io/temp_dir.h"
#include "gradcheck.h"

namespace nibble::nn {
namespace {

using nibble::testing::TempDir;
using nibble::testing::throws_error_containing;

struct Inner : Module {
  Tensor scale;
  Inner() { scale = register_parameter("scale", Tensor::randn({3})); }
};

// A tiny model: parameters, a buffer and a child, so names like "inner.scale" appear.
struct Tiny : Module {
  Tensor weight, bias, running;
  std::shared_ptr<Inner> inner;
  explicit Tiny(int64_t in = 4, bool with_bias = true) {
    weight = register_parameter("weight", Tensor::randn({3, in}));
    if (with_bias) bias = register_parameter("bias", Tensor::randn({3}));
    running = register_buffer("running", Tensor::randn({3}));
    inner = register_module("inner", std::make_shared<Inner>());
  }
  std::string name() const override { return "Tiny"; }
};

std::vector<std::vector<float>> values(const Module& m) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, t] : m.state_dict()) out.push_back(t.to_vector());
  return out;
}

TEST(CheckpointModule, RoundTripRestoresEveryTensorInPlace) {
  TempDir dir;
  Tiny a, b;
  ASSERT_NE(values(a), values(b));
  save(a, dir.file("tiny.nbck"));
  const TensorImpl* weight_before = b.weight.impl();
  load(b, dir.file("tiny.nbck"));
  EXPECT_EQ(values(b), values(a));
  EXPECT_EQ(b.weight.impl(), weight_before)
      << "load must copy into the existing tensors (optimizers hold them)";
  EXPECT_TRUE(b.weight.requires_grad());
  std::vector<std::string> names;
  for (const auto& [name, t] : io::load_tensors(dir.file("tiny.nbck"))) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias", "inner.scale", "running"}));
}

TEST(CheckpointModule, MissingTensorIsAnErrorAndLeavesTheModelUntouched) {
  TempDir dir;
  save(Tiny(4, /*with_bias=*/false), dir.file("nobias.nbck"));
  Tiny model;
  const auto before = values(model);
  EXPECT_TRUE(throws_error_containing([&] { load(model, dir.file("nobias.nbck")); },
                                      "missing tensor 'bias'"));
  EXPECT_TRUE(throws_error_containing([&] { load(model, dir.file("nobias.nbck")); },
                                      dir.file("nobias.nbck")));
  EXPECT_EQ(values(model), before) << "a failed load must not half-overwrite the model";
}

TEST(CheckpointModule, ExtraTensorIsAnError) {
  TempDir dir;
  save(Tiny(), dir.file("full.nbck"));
  Tiny model(4, /*with_bias=*/false);
  EXPECT_TRUE(throws_error_containing([&] { load(model, dir.file("full.nbck")); },
                                      "unexpected tensor 'bias'"));
}

TEST(CheckpointModule, MisShapedTensorIsAnError) {
  TempDir dir;
  save(Tiny(5), dir.file("wide.nbck"));
  Tiny model(4);
  const auto before = values(model);
  EXPECT_TRUE(
      throws_error_containing([&] { load(model, dir.file("wide.nbck")); },
                              "tensor 'weight' has shape [3, 5] but the model expects [3, 4]"));
  EXPECT_EQ(values(model), before);
}

TEST(CheckpointModule, CorruptFileIsReportedBeforeTouchingTheModel) {
  TempDir dir;
  const std::string path = dir.file("tiny.nbck");
  Tiny model;
  save(model, path);
  std::vector<unsigned char> bytes = nibble::testing::read_bytes(path);
  bytes[50] ^= 0xff;  // inside weight's data: 16 header + 4 + "weight" + 4 + 2 dims * 8 = 46
  nibble::testing::write_bytes(path, bytes);
  const auto before = values(model);
  EXPECT_TRUE(
      throws_error_containing([&] { load(model, path); }, "checksum mismatch in tensor 'weight'"));
  EXPECT_EQ(values(model), before);
}

// Checkpoints written before masks were state (no "_mask" entries) still load; a mask the model
// had is cleared, since the file says the weights are not pruned.
TEST(CheckpointModule, CheckpointWithoutMasksLoadsAndClearsMasks) {
  TempDir dir;
  Tiny old_model;
  io::save_tensors(dir.file("old.nbck"), {{"weight", old_model.weight}, {"bias", old_model.bias},
                                          {"inner.scale", old_model.inner->scale},
                                          {"running", old_model.running}});
  Tiny model;
  model.weight.set_mask(Tensor::zeros({3, 4}));
  load(model, dir.file("old.nbck"));
  EXPECT_FALSE(model.weight.mask().defined());
  EXPECT_EQ(values(model), values(old_model));
}

TEST(CheckpointModule, MasksRoundTripThroughTheFile) {
  TempDir dir;
  Tiny model, fresh;
  Tensor mask = Tensor::ones({3});
  mask.data()[1] = 0.0f;
  model.inner->scale.set_mask(mask);
  save(model, dir.file("masked.nbck"));
  load(fresh, dir.file("masked.nbck"));
  ASSERT_TRUE(fresh.inner->scale.mask().defined());
  EXPECT_EQ(fresh.inner->scale.mask().to_vector(), mask.to_vector());
  EXPECT_EQ(fresh.inner->scale.data()[1], 0.0f);
  EXPECT_EQ(values(fresh), values(model));
}

}  // namespace
}  // namespace nibble::nn
