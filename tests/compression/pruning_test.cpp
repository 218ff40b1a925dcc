// The given (library) part of compression/pruning.h: errors of the model-level functions, the
// sparsity report, importance by name, Fisher scores by hand, N:M on a model, gradual pruning,
// removal with masks carried over. Module 03's own functions are graded in modules/03_pruning/.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "compression/pruning.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "nn/linear.h"
#include "nn/models.h"
#include "nn/pooling.h"
#include "gradcheck.h"

namespace {

using nibble::Tensor;

using nibble::testing::error_of;

}  // namespace

TEST(Pruning, ErrorsNameTheArgument) {
  auto mlp = std::make_shared<nibble::nn::FashionMlp>();
  EXPECT_NE(error_of([&] { nibble::l1_unstructured(*mlp, "fc7", 0.5); }).find("unknown layer 'fc7'"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::l1_unstructured(*mlp, "fc7", 0.5); }).find("fc1, fc2, fc3"), std::string::npos)
      << "lists the prunable layers";
  auto cnn = std::make_shared<nibble::nn::FashionCnn>();
  EXPECT_NE(error_of([&] { nibble::l1_unstructured(*cnn, "pool", 0.5); }).find("is a MaxPool2d"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::ln_structured(*mlp, "fc3", 0.97); }).find("every one of the 10"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::global_unstructured(*mlp, {"fc1"}, 1.5); }).find("amount = 1.5"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::importance_from_name("hessian"); }).find("'hessian'"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::remove_units(*mlp, "fc1", "fc2", {3, 2}); }).find("keep[1] = 2"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::remove_units(*mlp, "fc1", "fc2", {}); }).find("keep is empty"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::remove_units(*mlp, "fc2", "fc2", {0}); }).find("does not consume the 128 outputs of 'fc2'"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::remove_units(*mlp, "fc1", "fc3", {0}); }).find("does not consume"), std::string::npos)
      << "fc3 takes 128 inputs, fc1 gives 256";
  EXPECT_NE(error_of([&] { nibble::nm_prune(*cnn, "conv1", 2, 4); }).find("does not divide K = 25"), std::string::npos)
      << "a conv weight is [OC, C·KH·KW]";
  EXPECT_EQ(nibble::importance_from_name("fisher"), nibble::Importance::Fisher);
}

TEST(Pruning, SparsityReportCountsWeightsAndAll) {
  nibble::nn::Linear fc(4, 2);
  std::fill(fc.weight.data(), fc.weight.data() + 8, 1.0f);
  std::fill(fc.bias.data(), fc.bias.data() + 2, 1.0f);
  nibble::l1_unstructured(fc, "", 0.5);  // "" is the model itself
  const nibble::SparsityReport r = nibble::model_sparsity(fc);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].name, "weight");
  EXPECT_EQ(r.rows[0].zeros, 4);
  EXPECT_TRUE(r.rows[0].is_weight);
  EXPECT_FALSE(r.rows[1].is_weight);
  EXPECT_DOUBLE_EQ(r.weights, 0.5);
  EXPECT_DOUBLE_EQ(r.all, 0.4);  // 4 of 10
  const std::string table = nibble::format_sparsity(r);
  EXPECT_NE(table.find("50.00%"), std::string::npos) << table;
  EXPECT_NE(table.find("(not a weight)"), std::string::npos) << table;
}

TEST(Pruning, FisherIsHalfMeanSquaredGradientTimesWeightSquared) {
  // L_b = Σ W x_b: g_b = x_b per row. x = (1, 3) and (3, -1): mean g² = (5, 5); ½·5·w².
  nibble::nn::Linear fc(2, 1, false);
  fc.weight.data()[0] = 2.0f;
  fc.weight.data()[1] = -1.0f;
  const std::vector<Tensor> xs = {Tensor::from_vector({1, 3}, {1, 2}), Tensor::from_vector({3, -1}, {1, 2})};
  const auto s = nibble::importance_scores(fc, {""}, nibble::Importance::Fisher, 2,
                                           [&](int64_t b) { return fc(xs[static_cast<size_t>(b)]).sum(); });
  EXPECT_NEAR(s.at("").at({0, 0}), 0.5 * 5 * 4, 1e-5);
  EXPECT_NEAR(s.at("").at({0, 1}), 0.5 * 5 * 1, 1e-5);
  EXPECT_FALSE(fc.weight.grad().defined()) << "gradients are cleared afterwards";
}

TEST(Pruning, NMPruneOnAModelKeepsHalfOfEveryGroup) {
  auto mlp = std::make_shared<nibble::nn::FashionMlp>();
  nibble::nm_prune(*mlp, "fc2", 2, 4);
  EXPECT_DOUBLE_EQ(nibble::sparsity(mlp->fc2().weight), 0.5);
  EXPECT_TRUE(mlp->fc2().weight.mask().defined());
}

TEST(Pruning, GradualPruneStepFollowsTheSchedule) {
  auto mlp = std::make_shared<nibble::nn::FashionMlp>();
  nibble::GradualPruning c;
  c.layers = {"fc1", "fc2", "fc3"};
  c.final_sparsity = 0.8;
  c.begin_step = 10;
  c.end_step = 30;
  c.every = 10;
  EXPECT_EQ(nibble::gradual_prune_step(*mlp, c, 5), -1.0) << "before begin_step";
  EXPECT_EQ(nibble::gradual_prune_step(*mlp, c, 15), -1.0) << "not a multiple of every";
  EXPECT_NEAR(nibble::gradual_prune_step(*mlp, c, 20), 0.8 * (1 - 0.125), 1e-12);
  EXPECT_NEAR(nibble::model_sparsity(*mlp).weights, 0.7, 1e-5);
  EXPECT_NEAR(nibble::gradual_prune_step(*mlp, c, 30), 0.8, 1e-12);
  EXPECT_NEAR(nibble::model_sparsity(*mlp).weights, 0.8, 1e-5);
  EXPECT_EQ(nibble::gradual_prune_step(*mlp, c, 40), -1.0) << "after end_step";
}

TEST(Pruning, RemovalCarriesMasksOver) {
  nibble::manual_seed(4);
  auto mlp = std::make_shared<nibble::nn::FashionMlp>();
  nibble::l1_unstructured(*mlp, "fc2", 0.3);
  const Tensor before = mlp->fc2().weight.mask().clone();  // [128, 256]
  nibble::remove_units(*mlp, "fc1", "fc2", {0, 5, 7});
  const Tensor after = mlp->fc2().weight.mask();
  ASSERT_TRUE(after.defined());
  ASSERT_EQ(after.shape(), (nibble::Shape{128, 3}));
  for (int64_t r = 0; r < 128; ++r) {
    EXPECT_EQ(after.at({r, 0}), before.at({r, 0}));
    EXPECT_EQ(after.at({r, 1}), before.at({r, 5}));
    EXPECT_EQ(after.at({r, 2}), before.at({r, 7}));
  }
  EXPECT_EQ((*mlp)(Tensor::rand({2, 1, 28, 28})).shape(), (nibble::Shape{2, 10}));
}
