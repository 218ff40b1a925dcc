// Learning-rate schedules against their closed forms, with the expected values written out.
#include <gtest/gtest.h>

#include <vector>

#include "optim/optim.h"
#include "optim_test_util.h"

namespace nibble::optim {
namespace {

using test::param;

// lr after construction (t = 0) and after each of the next `steps` schedule.step() calls.
std::vector<float> lrs(LrSchedule& schedule, int steps) {
  std::vector<float> out = {schedule.lr()};
  for (int i = 0; i < steps; ++i) {
    schedule.step();
    out.push_back(schedule.lr());
  }
  return out;
}

void expect_lrs(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t t = 0; t < want.size(); ++t) EXPECT_NEAR(got[t], want[t], 1e-6) << "t = " << t;
}

TEST(OptimSchedule, StepLR) {
  Tensor p = param({0.0f});
  SGD opt({p}, {0.1f});
  StepLR schedule(opt, /*step_size=*/3, /*gamma=*/0.5f);
  // 0.1 * 0.5^floor(t/3)
  expect_lrs(lrs(schedule, 7), {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025});
  EXPECT_EQ(schedule.step_count(), 7);
  EXPECT_FLOAT_EQ(opt.lr(), 0.025f);
}

TEST(OptimSchedule, CosineAnnealing) {
  Tensor p = param({0.0f});
  SGD opt({p}, {1.0f});
  CosineAnnealingLR schedule(opt, /*t_max=*/4, /*eta_min=*/0.0f);
  // (1 + cos(pi t / 4)) / 2: 1, (1 + sqrt(1/2))/2, 1/2, (1 - sqrt(1/2))/2, 0, then back up (PyTorch)
  expect_lrs(lrs(schedule, 6), {1.0, 0.8535533906, 0.5, 0.1464466094, 0.0, 0.1464466094, 0.5});
}

TEST(OptimSchedule, CosineAnnealingWithEtaMin) {
  Tensor p = param({0.0f});
  SGD opt({p}, {0.5f});
  CosineAnnealingLR schedule(opt, /*t_max=*/2, /*eta_min=*/0.1f);
  // 0.1 + 0.4 * (1 + cos(pi t / 2)) / 2: 0.5, 0.3, 0.1
  expect_lrs(lrs(schedule, 2), {0.5, 0.3, 0.1});
}

TEST(OptimSchedule, LinearWarmup) {
  Tensor p = param({0.0f});
  SGD opt({p}, {0.2f});
  LinearWarmup schedule(opt, /*warmup_steps=*/4);
  // 0.2 * min(t + 1, 4) / 4; the lr is already 0.05 before the first optimizer step.
  expect_lrs(lrs(schedule, 5), {0.05, 0.1, 0.15, 0.2, 0.2, 0.2});
}

TEST(OptimSchedule, WarmupCosine) {
  Tensor p = param({0.0f});
  SGD opt({p}, {1.0f});
  WarmupCosine schedule(opt, /*warmup_steps=*/2, /*total_steps=*/6, /*eta_min=*/0.1f);
  // t < 2: (t + 1) / 2;  2 <= t <= 6: 0.1 + 0.9 * (1 + cos(pi (t - 2) / 4)) / 2;  then 0.1
  expect_lrs(lrs(schedule, 8), {0.5, 1.0, 1.0, 0.1 + 0.9 * 0.8535533906, 0.55,
                                0.1 + 0.9 * 0.1464466094, 0.1, 0.1, 0.1});
}

TEST(OptimSchedule, WarmupCosineWithoutWarmup) {
  Tensor p = param({0.0f});
  SGD opt({p}, {1.0f});
  WarmupCosine schedule(opt, /*warmup_steps=*/0, /*total_steps=*/2);
  expect_lrs(lrs(schedule, 3), {1.0, 0.5, 0.0, 0.0});
}

TEST(OptimSchedule, DrivesTheOptimizerStep) {
  // SGD on loss = sum(p) (g = 1) moves p by exactly the scheduled lr each step.
  Tensor p = param({0.0f});
  SGD opt({p}, {0.4f});
  LinearWarmup schedule(opt, 4);  // 0.1, 0.2, 0.3, 0.4, ...
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    sum(p).backward();
    opt.step();
    schedule.step();
  }
  EXPECT_NEAR(p.item(), -(0.1f + 0.2f + 0.3f), 1e-6f);
  EXPECT_FLOAT_EQ(schedule.base_lr(), 0.4f);
}

}  // namespace
}  // namespace nibble::optim
