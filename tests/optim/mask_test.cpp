// Pruning masks survive optimizer steps: pruned entries stay exactly 0.0f (not -0.0f, not tiny),
// the optimizer's state at pruned entries is zero, and unpruned entries keep training.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "core/io/checkpoint.h"
#include "core/io/temp_dir.h"
#include "nn/checkpoint.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "optim_test_util.h"

namespace nibble::optim {
namespace {

using test::least_squares_loss;

// A least-squares problem whose optimum has no zeros, so every pruned weight keeps receiving a
// non-zero gradient (the loss "wants" it back), and half of w [4, 3] pruned in a checkerboard.
struct PrunedProblem {
  Tensor x, y, w, mask, w0;
  PrunedProblem() {
    manual_seed(7);
    x = Tensor::randn({16, 4});
    y = matmul(x, Tensor::full({4, 3}, 2.0f));
    w = Tensor::randn({4, 3});
    w.requires_grad_(true);
    std::vector<float> m(12);
    for (int j = 0; j < 12; ++j) m[j] = (j % 2 == 0) ? 1.0f : 0.0f;
    mask = Tensor::from_vector(m, {4, 3});
    w.set_mask(mask);
    w0 = w.clone().detach();
  }
  void backward() { least_squares_loss(x, w, y).backward(); }
};

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(Tensor)>;

void expect_mask_survives(const MakeOptimizer& make) {
  PrunedProblem prob;
  std::unique_ptr<Optimizer> opt = make(prob.w);
  bool pruned_grad_seen = false;
  for (int step = 0; step < 200; ++step) {
    opt->zero_grad();
    prob.backward();
    for (int j = 1; j < 12; j += 2) pruned_grad_seen |= prob.w.grad().data()[j] != 0.0f;
    opt->step();
  }
  EXPECT_TRUE(pruned_grad_seen) << "the test needs pruned weights with non-zero gradients";
  for (int j = 0; j < 12; ++j) {
    const float v = prob.w.data()[j];
    if (j % 2 == 1) {
      EXPECT_EQ(v, 0.0f) << "pruned entry " << j;
      EXPECT_FALSE(std::signbit(v)) << "pruned entry " << j << " is -0.0f";
      for (const Tensor& buffer : opt->state(0).buffers) {
        EXPECT_EQ(buffer.data()[j], 0.0f) << "state at pruned entry " << j;
      }
    } else {
      EXPECT_GT(std::fabs(v - prob.w0.data()[j]), 1e-3f) << "unpruned entry " << j << " did not move";
    }
  }
  EXPECT_FALSE(opt->state(0).buffers.empty()) << "the optimizer under test should keep state";
}

TEST(OptimMask, SurvivesSgdMomentum) {
  expect_mask_survives([](Tensor w) { return std::make_unique<SGD>(std::vector<Tensor>{w}, SgdOptions{0.002f, 0.9f}); });
}

TEST(OptimMask, SurvivesSgdNesterovWithDecay) {
  expect_mask_survives([](Tensor w) {
    return std::make_unique<SGD>(std::vector<Tensor>{w}, SgdOptions{0.002f, 0.9f, 0.0f, 1e-2f, true});
  });
}

TEST(OptimMask, SurvivesAdam) {
  expect_mask_survives([](Tensor w) { return std::make_unique<Adam>(std::vector<Tensor>{w}, AdamOptions{0.05f}); });
}

TEST(OptimMask, SurvivesAdamWWithDecay) {
  expect_mask_survives([](Tensor w) {
    return std::make_unique<AdamW>(std::vector<Tensor>{w}, AdamWOptions{0.05f, 0.9f, 0.999f, 1e-8f, 0.1f});
  });
}

// After clear_mask(), a step with zero gradient must not move the formerly pruned weights: stale
// momentum at those entries would "resurrect" them.
TEST(OptimMask, ClearedMaskLeavesNoStaleMomentum) {
  PrunedProblem prob;
  SGD opt({prob.w}, {0.002f, 0.9f});
  for (int step = 0; step < 20; ++step) {
    opt.zero_grad();
    prob.backward();
    opt.step();
  }
  prob.w.clear_mask();
  opt.zero_grad();
  sum(mul(prob.w, 0.0f)).backward();  // a defined, all-zero gradient
  const std::vector<float> before = prob.w.to_vector();
  opt.step();
  for (int j = 1; j < 12; j += 2) EXPECT_EQ(prob.w.data()[j], 0.0f) << "entry " << j;
  bool unpruned_moved = false;  // momentum still carries the unpruned weights
  for (int j = 0; j < 12; j += 2) unpruned_moved |= prob.w.data()[j] != before[j];
  EXPECT_TRUE(unpruned_moved);
}

// A mask set in the middle of training zeroes the existing momentum at the newly pruned entries.
TEST(OptimMask, MaskSetMidTrainingZeroesExistingState) {
  Tensor w = Tensor::from_vector({1.0f, 2.0f, 3.0f});
  w.requires_grad_(true);
  SGD opt({w}, {0.1f, 0.9f});
  sum(mul(w, w)).backward();
  opt.step();
  EXPECT_NE(opt.state(0).buffers[0].data()[1], 0.0f);
  w.set_mask(Tensor::from_vector({1.0f, 0.0f, 1.0f}));
  opt.zero_grad();
  sum(mul(w, w)).backward();
  opt.step();
  EXPECT_EQ(w.data()[1], 0.0f);
  EXPECT_EQ(opt.state(0).buffers[0].data()[1], 0.0f);
  EXPECT_NE(opt.state(0).buffers[0].data()[0], 0.0f);
}

// The step pushes the pruned entry negative; re-masking must give +0.0f, not -0.0f (which is
// what multiplying by the mask would leave), so that e.g. sign-based code and hashes agree.
TEST(OptimMask, PrunedEntryIsPositiveZero) {
  Tensor w = test::param({1.0f, 1.0f});
  w.set_mask(Tensor::from_vector({1.0f, 0.0f}));
  SGD opt({w}, {0.1f});
  sum(w).backward();  // g = 1: the update alone would make w[1] = -0.1
  opt.step();
  EXPECT_EQ(w.data()[1], 0.0f);
  EXPECT_FALSE(std::signbit(w.data()[1]));
  EXPECT_FLOAT_EQ(w.data()[0], 0.9f);
}

// The mask is re-applied even to a parameter that had no gradient this step.
TEST(OptimMask, AppliedToParametersWithoutGradient) {
  Tensor used = test::param({1.0f});
  Tensor frozen = test::param({1.0f, 2.0f});
  frozen.set_mask(Tensor::from_vector({0.0f, 1.0f}));
  frozen.data()[0] = 5.0f;  // written by hand behind the mask's back
  SGD opt({used, frozen}, {0.1f});
  sum(used).backward();
  opt.step();
  EXPECT_EQ(frozen.data()[0], 0.0f);
  EXPECT_EQ(frozen.data()[1], 2.0f);
}

// ---- a pruned model through a checkpoint, then training ---------------------------------------

// x [B,4] -> Linear 4->3 -> ReLU -> Linear 3->2, both weights pruned (masks kept in the state).
std::shared_ptr<nn::Sequential> pruned_model() {
  auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(3, 2)});
  std::vector<float> m0(12), m2(6);
  for (int j = 0; j < 12; ++j) m0[j] = (j % 3 == 0) ? 0.0f : 1.0f;
  for (int j = 0; j < 6; ++j) m2[j] = (j % 2 == 0) ? 1.0f : 0.0f;
  net->get_parameter("0.weight").set_mask(Tensor::from_vector(m0, {3, 4}));
  net->get_parameter("2.weight").set_mask(Tensor::from_vector(m2, {2, 3}));
  return net;
}

void expect_masks_hold(const nn::Module& net, const nn::Module& reference) {
  const nn::NamedTensors masks = net.named_masks(), expected = reference.named_masks();
  ASSERT_EQ(masks.size(), 2u) << "the masks must still be there";
  for (size_t i = 0; i < masks.size(); ++i) {
    EXPECT_EQ(masks[i].first, expected[i].first);
    EXPECT_EQ(masks[i].second.to_vector(), expected[i].second.to_vector());
    const Tensor w = net.get_parameter(masks[i].first.substr(0, masks[i].first.size() - 5));
    for (int64_t j = 0; j < w.numel(); ++j) {
      if (masks[i].second.data()[j] != 0.0f) continue;
      EXPECT_EQ(w.data()[j], 0.0f) << masks[i].first << " entry " << j;
      EXPECT_FALSE(std::signbit(w.data()[j])) << masks[i].first << " entry " << j << " is -0.0f";
    }
  }
}

// save -> load into a fresh, unmasked model -> one optimizer step: the zeros and masks survive.
void expect_checkpoint_then_step(const std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>& make) {
  manual_seed(51);
  testing::TempDir dir;
  const auto pruned = pruned_model();
  nn::save(*pruned, dir.file("pruned.nbck"));
  std::vector<std::string> stored;
  for (const auto& [name, t] : io::load_tensors(dir.file("pruned.nbck"))) stored.push_back(name);
  EXPECT_EQ(stored, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "0.weight_mask",
                                              "2.weight_mask"}));

  nn::Sequential loaded({std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(),
                         std::make_shared<nn::Linear>(3, 2)});
  nn::load(loaded, dir.file("pruned.nbck"));
  expect_masks_hold(loaded, *pruned);
  const Tensor x = Tensor::randn({8, 4}), y = Tensor::randn({8, 2});
  EXPECT_EQ(loaded(x).to_vector(), (*pruned)(x).to_vector());

  const std::unique_ptr<Optimizer> opt = make(loaded.parameters());
  const std::vector<float> w0 = loaded.get_parameter("0.weight").to_vector();
  const Tensor d = sub(loaded(x), y);
  sum(mul(d, d)).backward();
  bool pruned_grad = false;
  const Tensor g = loaded.get_parameter("0.weight").grad();
  for (int j = 0; j < 12; j += 3) pruned_grad |= g.data()[j] != 0.0f;
  EXPECT_TRUE(pruned_grad) << "the test needs a pruned weight with a non-zero gradient";
  opt->step();
  expect_masks_hold(loaded, *pruned);
  bool moved = false;
  for (int j = 0; j < 12; ++j) moved |= loaded.get_parameter("0.weight").data()[j] != w0[j];
  EXPECT_TRUE(moved) << "the unpruned weights should train";
}

TEST(OptimMask, PrunedModelSurvivesCheckpointAndSgdStep) {
  expect_checkpoint_then_step([](std::vector<Tensor> p) { return std::make_unique<SGD>(p, SgdOptions{0.1f, 0.9f}); });
}

TEST(OptimMask, PrunedModelSurvivesCheckpointAndAdamStep) {
  expect_checkpoint_then_step([](std::vector<Tensor> p) { return std::make_unique<Adam>(p, AdamOptions{0.01f}); });
}

// A checkpoint whose weight holds non-zeros where its mask is 0 (edited by hand, or written by
// another tool) still loads into a model that computes with the pruned weights.
TEST(OptimMask, LoadReappliesTheMaskToAStoredUnprunedWeight) {
  testing::TempDir dir;
  const auto pruned = pruned_model();
  nn::NamedTensors state = pruned->state_dict();
  state[0].second = Tensor::full({3, 4}, 7.0f);  // "0.weight", every entry non-zero
  io::save_tensors(dir.file("edited.nbck"), state);
  nn::Sequential loaded({std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(),
                         std::make_shared<nn::Linear>(3, 2)});
  nn::load(loaded, dir.file("edited.nbck"));
  const std::vector<float> w = loaded.get_parameter("0.weight").to_vector();
  for (int j = 0; j < 12; ++j) EXPECT_EQ(w[j], j % 3 == 0 ? 0.0f : 7.0f) << j;
}

}  // namespace
}  // namespace nibble::optim
