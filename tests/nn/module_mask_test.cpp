// Pruning masks as module state: state_dict() carries "<parameter>_mask", load_state_dict()
// restores and re-applies it (or clears it), and a masked weight is never non-zero where its mask
// is 0 — the invariant that lets forward() use the weight as it is.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "nn/nn.h"

namespace nibble::nn {
namespace {

using nibble::testing::throws_error_containing;

// 0/1 checkerboard mask of the given shape: entry j is kept when (j + phase) is even.
Tensor checkerboard(const Shape& shape, int phase = 0) {
  Tensor m = Tensor::zeros(shape);
  for (int64_t j = 0; j < m.numel(); ++j) m.data()[j] = ((j + phase) % 2 == 0) ? 1.0f : 0.0f;
  return m;
}

// The invariant: wherever the mask is 0 the weight is exactly +0.0f.
void expect_pruned_entries_zero(const Tensor& w, const Tensor& mask) {
  ASSERT_EQ(w.numel(), mask.numel());
  for (int64_t j = 0; j < w.numel(); ++j) {
    if (mask.data()[j] == 0.0f) {
      EXPECT_EQ(w.data()[j], 0.0f) << "pruned entry " << j;
      EXPECT_FALSE(std::signbit(w.data()[j])) << "pruned entry " << j << " is -0.0f";
    }
  }
}

NamedTensors find(const NamedTensors& state, const std::string& name) {
  NamedTensors out;
  for (const auto& entry : state)
    if (entry.first == name) out.push_back(entry);
  return out;
}

// The defect from issue 9: loading over a masked model used to overwrite its pruned zeros and
// keep the mask, so the model computed with weights its own mask says are pruned.
TEST(ModuleMask, LoadNeverLeavesAMaskedWeightNonZeroWhereItsMaskIsZero) {
  manual_seed(11);
  Linear source(4, 3), pruned(4, 3);
  for (const float v : source.weight.to_vector()) ASSERT_NE(v, 0.0f);
  pruned.weight.set_mask(checkerboard({3, 4}));
  pruned.load_state_dict(source.state_dict());  // a state without a mask
  const Tensor mask = pruned.weight.mask();
  if (mask.defined()) expect_pruned_entries_zero(pruned.weight, mask);
  // What nibble does: the state has no mask for "weight", so the loaded model has none either
  // and computes exactly what `source` computes.
  EXPECT_FALSE(mask.defined()) << "a state without 'weight_mask' must clear the mask";
  EXPECT_EQ(pruned.weight.to_vector(), source.weight.to_vector());
}

TEST(ModuleMask, StateDictCarriesTheMaskUnderPytorchsName) {
  Linear fc(4, 3);
  EXPECT_TRUE(find(fc.state_dict(), "weight_mask").empty());
  const Tensor mask = checkerboard({3, 4});
  fc.weight.set_mask(mask);
  const NamedTensors state = fc.state_dict();
  const NamedTensors entry = find(state, "weight_mask");
  ASSERT_EQ(entry.size(), 1u) << "state_dict() must hold the mask as 'weight_mask'";
  EXPECT_EQ(entry[0].second.to_vector(), mask.to_vector());
  EXPECT_TRUE(find(state, "bias_mask").empty()) << "only masked parameters get a mask entry";
  EXPECT_EQ(state.size(), 3u);
}

// Pruned weights are zero right after the load even if the stored weight had non-zeros there,
// and a model that had no mask yet gets one.
TEST(ModuleMask, LoadSetsAndReappliesTheStoredMask) {
  Linear fresh(4, 3);
  ASSERT_FALSE(fresh.weight.mask().defined());
  Tensor mask = checkerboard({3, 4}, 1);
  NamedTensors state = {{"weight", Tensor::full({3, 4}, 2.5f)},
                        {"bias", Tensor::from_vector({1.0f, 2.0f, 3.0f})},
                        {"weight_mask", mask}};
  fresh.load_state_dict(state);
  ASSERT_TRUE(fresh.weight.mask().defined());
  EXPECT_EQ(fresh.weight.mask().to_vector(), mask.to_vector());
  for (int64_t j = 0; j < 12; ++j) EXPECT_EQ(fresh.weight.data()[j], mask.data()[j] == 0.0f ? 0.0f : 2.5f) << j;
  // The model holds its own copy of the mask: changing the loaded tensor changes nothing.
  mask.data()[0] = 0.0f;
  EXPECT_EQ(fresh.weight.mask().data()[0], 0.0f) << "phase 1: entry 0 was already pruned";
  mask.data()[1] = 0.0f;
  EXPECT_EQ(fresh.weight.mask().data()[1], 1.0f);
  // Forward computes with the pruned weights: row o of y = x W^T + b for x = ones.
  const std::vector<float> y = fresh(Tensor::ones({1, 4})).to_vector();
  // Row o keeps entries j = 4o .. 4o+3 whose (j + 1) is even: 2 of 4 -> 2 * 2.5 = 5.
  EXPECT_EQ(y, (std::vector<float>{6.0f, 7.0f, 8.0f}));
}

TEST(ModuleMask, LoadRejectsBadMasksAndLeavesTheModelAsItWas) {
  manual_seed(5);
  Linear fc(4, 3, /*bias=*/false);
  fc.weight.set_mask(checkerboard({3, 4}));
  const std::vector<float> before = fc.weight.to_vector();
  const NamedTensors good = {{"weight", Tensor::ones({3, 4})}};
  auto with_mask = [&](const std::string& name, const Tensor& mask) {
    NamedTensors s = good;
    s.emplace_back(name, mask);
    return s;
  };
  EXPECT_TRUE(throws_error_containing([&] { fc.load_state_dict(with_mask("weight_mask", Tensor::ones({4, 3}))); },
                                      "mask 'weight_mask' has shape [4, 3] but parameter 'weight' is [3, 4]"));
  Tensor half = Tensor::ones({3, 4});
  half.data()[5] = 0.5f;
  EXPECT_TRUE(throws_error_containing([&] { fc.load_state_dict(with_mask("weight_mask", half)); },
                                      "holds 0.500000 at flat index 5"));
  EXPECT_TRUE(throws_error_containing([&] { fc.load_state_dict(with_mask("bias_mask", Tensor::ones({3}))); },
                                      "unexpected tensor 'bias_mask'"));
  EXPECT_EQ(fc.weight.to_vector(), before) << "a rejected state must not write anything";
  ASSERT_TRUE(fc.weight.mask().defined()) << "a rejected state must not clear the mask";
  EXPECT_EQ(fc.weight.mask().to_vector(), checkerboard({3, 4}).to_vector());
}

// Nested names: "<path>.weight_mask", and masks follow parameters and buffers in state_dict().
TEST(ModuleMask, NestedMasksAreNamedByTheirParameterPath) {
  Sequential net({std::make_shared<Linear>(4, 3), std::make_shared<ReLU>(), std::make_shared<Linear>(3, 2)});
  net.get_parameter("2.weight").set_mask(checkerboard({2, 3}));
  net.get_parameter("0.bias").set_mask(Tensor::from_vector({1.0f, 0.0f, 1.0f}));
  std::vector<std::string> names;
  for (const auto& [name, t] : net.named_masks()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.bias_mask", "2.weight_mask"}));
  names.clear();
  for (const auto& [name, t] : net.state_dict()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "0.bias_mask",
                                             "2.weight_mask"}));
  EXPECT_EQ(net.get_parameter("0.bias").data()[1], 0.0f);
}

TEST(ModuleMask, RemoveMaskKeepsTheZerosAndDropsTheMask) {
  Sequential net({std::make_shared<Linear>(4, 3), std::make_shared<Linear>(3, 2)});
  Tensor w0 = net.get_parameter("0.weight"), w1 = net.get_parameter("1.weight");
  w0.set_mask(checkerboard({3, 4}));
  w1.set_mask(checkerboard({2, 3}));
  remove_mask(net, "0.weight");
  EXPECT_FALSE(w0.mask().defined());
  EXPECT_TRUE(w1.mask().defined());
  for (int64_t j = 1; j < 12; j += 2) EXPECT_EQ(w0.data()[j], 0.0f) << "the pruned zeros stay";
  EXPECT_EQ(net.state_dict().size(), 5u) << "4 tensors and the one mask left";
  EXPECT_TRUE(throws_error_containing([&] { remove_mask(net, "0.weight"); }, "parameter '0.weight' has no mask"));
  EXPECT_TRUE(throws_error_containing([&] { remove_mask(net, "0.scale"); }, "no parameter '0.scale'"));
  EXPECT_TRUE(throws_error_containing([&] { remove_mask(net, "7.weight"); }, "has no child '7'"));
  net.make_masks_permanent();
  EXPECT_TRUE(net.named_masks().empty());
  for (int64_t j = 1; j < 6; j += 2) EXPECT_EQ(w1.data()[j], 0.0f);
}

TEST(ModuleMask, MaskNamesAreReserved) {
  struct Clash : Module {
    void mask_after_weight() {
      register_parameter("weight", Tensor::zeros({2}));
      register_buffer("weight_mask", Tensor::ones({2}));
    }
    void weight_after_mask() {
      register_buffer("bias_mask", Tensor::ones({2}));
      register_parameter("bias", Tensor::zeros({2}));
    }
  };
  Clash a, b;
  EXPECT_TRUE(throws_error_containing([&] { a.mask_after_weight(); },
                                      "name 'weight_mask' is reserved for the mask of parameter 'weight'"));
  EXPECT_TRUE(throws_error_containing([&] { b.weight_after_mask(); }, "'bias_mask' is already registered"));
}

}  // namespace
}  // namespace nibble::nn
