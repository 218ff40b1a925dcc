// Every argument check of optim/: one test per error path, each asserting that the message names
// the optimizer (or schedule) and the argument.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "optim/optim.h"
#include "optim_test_util.h"

namespace nibble::optim {
namespace {

using nibble::testing::throws_error_containing;
using test::param;

std::vector<Tensor> one_param() { return {param({1.0f, 2.0f})}; }

// ---- Optimizer base (checked for every optimizer; SGD and Adam stand in) ----------------------

TEST(OptimValidation, EmptyParams) {
  EXPECT_TRUE(throws_error_containing([] { SGD({}, {0.1f}); }, "SGD: params is empty"));
}

TEST(OptimValidation, UndefinedParam) {
  EXPECT_TRUE(throws_error_containing([] { Adam({param({1.0f}), Tensor()}); },
                                      "Adam: parameter 1 is an undefined tensor"));
}

TEST(OptimValidation, NonLeafParam) {
  Tensor a = param({1.0f});
  EXPECT_TRUE(throws_error_containing([&] { SGD({mul(a, 2.0f)}, {0.1f}); },
                                      "SGD: parameter 0 is not a leaf"));
}

TEST(OptimValidation, NonContiguousParam) {
  Tensor t = Tensor::zeros({2, 3}).t();  // a transposed view: a leaf, but with gaps
  t.requires_grad_(true);
  EXPECT_TRUE(throws_error_containing([&] { AdamW({t}); },
                                      "AdamW: parameter 0 of shape [3, 2] is not contiguous"));
}

TEST(OptimValidation, DuplicateParam) {
  Tensor a = param({1.0f});
  EXPECT_TRUE(throws_error_containing([&] { SGD({a, a}, {0.1f}); },
                                      "SGD: parameter 1 appears more than once"));
}

TEST(OptimValidation, MaskOfWrongSize) {
  // set_mask() refuses a wrong shape; only a mask attached behind its back can get here.
  Tensor a = param({1.0f, 2.0f});
  a.impl()->mask = Tensor::ones({3}).impl_ptr();
  SGD opt({a}, {0.1f});
  sum(a).backward();
  EXPECT_TRUE(throws_error_containing([&] { opt.step(); },
                                      "SGD: the mask of parameter 0 does not match"));
}

TEST(OptimValidation, SetLrNegative) {
  Adam opt(one_param());
  EXPECT_TRUE(throws_error_containing([&] { opt.set_lr(-0.5f); }, "Adam: lr must be >= 0, got -0.5"));
}

// ---- SGD ---------------------------------------------------------------------------------------

TEST(OptimValidation, SgdLr) {
  EXPECT_TRUE(throws_error_containing([] { SGD(one_param(), {-1.0f}); },
                                      "SGD: lr must be >= 0, got -1"));
}

TEST(OptimValidation, SgdMomentum) {
  EXPECT_TRUE(throws_error_containing([] { SGD(one_param(), {0.1f, 1.5f}); },
                                      "SGD: momentum must be in [0, 1), got 1.5"));
}

TEST(OptimValidation, SgdDampening) {
  EXPECT_TRUE(throws_error_containing([] { SGD(one_param(), {0.1f, 0.9f, -0.1f}); },
                                      "SGD: dampening must be in [0, 1], got -0.1"));
}

TEST(OptimValidation, SgdWeightDecay) {
  EXPECT_TRUE(throws_error_containing([] { SGD(one_param(), {0.1f, 0.0f, 0.0f, -1e-4f}); },
                                      "SGD: weight_decay must be >= 0, got -0.0001"));
}

TEST(OptimValidation, SgdNesterovWithoutMomentum) {
  EXPECT_TRUE(throws_error_containing([] { SGD(one_param(), {0.1f, 0.0f, 0.0f, 0.0f, true}); },
                                      "SGD: nesterov requires momentum > 0, got momentum 0"));
}

TEST(OptimValidation, SgdNesterovWithDampening) {
  EXPECT_TRUE(throws_error_containing([] { SGD(one_param(), {0.1f, 0.9f, 0.5f, 0.0f, true}); },
                                      "SGD: nesterov requires dampening == 0, got dampening 0.5"));
}

// ---- Adam / AdamW ------------------------------------------------------------------------------

TEST(OptimValidation, AdamLr) {
  EXPECT_TRUE(throws_error_containing([] { Adam(one_param(), {-1e-3f}); },
                                      "Adam: lr must be >= 0, got -0.001"));
}

TEST(OptimValidation, AdamBeta1) {
  EXPECT_TRUE(throws_error_containing([] { Adam(one_param(), {1e-3f, 1.0f}); },
                                      "Adam: beta1 must be in [0, 1), got 1"));
}

TEST(OptimValidation, AdamBeta2) {
  EXPECT_TRUE(throws_error_containing([] { Adam(one_param(), {1e-3f, 0.9f, -0.5f}); },
                                      "Adam: beta2 must be in [0, 1), got -0.5"));
}

TEST(OptimValidation, AdamEps) {
  EXPECT_TRUE(throws_error_containing([] { Adam(one_param(), {1e-3f, 0.9f, 0.999f, 0.0f}); },
                                      "Adam: eps must be > 0, got 0"));
}

TEST(OptimValidation, AdamWeightDecay) {
  EXPECT_TRUE(throws_error_containing([] { Adam(one_param(), {1e-3f, 0.9f, 0.999f, 1e-8f, -0.1f}); },
                                      "Adam: weight_decay must be >= 0, got -0.1"));
}

TEST(OptimValidation, AdamWNamesItself) {
  EXPECT_TRUE(throws_error_containing([] { AdamW(one_param(), {1e-3f, 0.9f, 1.5f}); },
                                      "AdamW: beta2 must be in [0, 1), got 1.5"));
  EXPECT_TRUE(throws_error_containing([] { AdamW(one_param(), {1e-3f, 0.9f, 0.999f, 1e-8f, -1.0f}); },
                                      "AdamW: weight_decay must be >= 0, got -1"));
}

// ---- schedules ---------------------------------------------------------------------------------

TEST(OptimValidation, StepLRStepSize) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { StepLR(opt, 0, 0.5f); },
                                      "StepLR: step_size must be >= 1, got 0"));
}

TEST(OptimValidation, StepLRGamma) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { StepLR(opt, 2, 0.0f); },
                                      "StepLR: gamma must be > 0, got 0"));
}

TEST(OptimValidation, CosineTMax) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { CosineAnnealingLR(opt, 0); },
                                      "CosineAnnealingLR: t_max must be >= 1, got 0"));
}

TEST(OptimValidation, CosineEtaMin) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { CosineAnnealingLR(opt, 10, -0.01f); },
                                      "CosineAnnealingLR: eta_min must be >= 0, got -0.01"));
}

TEST(OptimValidation, LinearWarmupSteps) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { LinearWarmup(opt, 0); },
                                      "LinearWarmup: warmup_steps must be >= 1, got 0"));
}

TEST(OptimValidation, WarmupCosineWarmupSteps) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { WarmupCosine(opt, -1, 10); },
                                      "WarmupCosine: warmup_steps must be >= 0, got -1"));
}

TEST(OptimValidation, WarmupCosineTotalSteps) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { WarmupCosine(opt, 10, 10); },
                                      "WarmupCosine: total_steps must be > warmup_steps, got total_steps 10"));
}

TEST(OptimValidation, WarmupCosineEtaMin) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { WarmupCosine(opt, 1, 10, -1.0f); },
                                      "WarmupCosine: eta_min must be >= 0, got -1"));
}

TEST(OptimValidation, FailedScheduleLeavesLrAlone) {
  SGD opt(one_param(), {0.1f});
  EXPECT_TRUE(throws_error_containing([&] { LinearWarmup(opt, -3); }, "LinearWarmup"));
  EXPECT_FLOAT_EQ(opt.lr(), 0.1f);
}

}  // namespace
}  // namespace nibble::optim
