// SGD: updates against hand-computed steps and a double-precision re-implementation of
// torch.optim.SGD written here, independent of optim/sgd.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "optim/optim.h"
#include "optim_test_util.h"

namespace nibble::optim {
namespace {

using test::param;
using test::expect_follows_reference;

// Runs `steps` SGD steps on loss = p^2 (gradient 2p) from p = 1 and returns the trajectory.
std::vector<float> sgd_on_square(SgdOptions options, int steps) {
  Tensor p = param({1.0f});
  SGD opt({p}, options);
  std::vector<float> trajectory;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    sum(mul(p, p)).backward();
    opt.step();
    trajectory.push_back(p.item());
  }
  return trajectory;
}

TEST(OptimSGD, PlainStepsByHand) {
  // g = 2p, p <- p - 0.1 * 2p = 0.8 p
  const std::vector<float> got = sgd_on_square({0.1f}, 3);
  EXPECT_FLOAT_EQ(got[0], 0.8f);
  EXPECT_FLOAT_EQ(got[1], 0.64f);
  EXPECT_FLOAT_EQ(got[2], 0.512f);
}

TEST(OptimSGD, MomentumStepsByHand) {
  // lr 0.1, momentum 0.9, g = 2p
  // t=1: g=2,    buf=2 (first step: buf = g),      p = 1 - 0.2      = 0.8
  // t=2: g=1.6,  buf=0.9*2 + 1.6 = 3.4,            p = 0.8 - 0.34   = 0.46
  // t=3: g=0.92, buf=0.9*3.4 + 0.92 = 3.98,        p = 0.46 - 0.398 = 0.062
  const std::vector<float> got = sgd_on_square({0.1f, 0.9f}, 3);
  EXPECT_NEAR(got[0], 0.8f, 1e-6f);
  EXPECT_NEAR(got[1], 0.46f, 1e-6f);
  EXPECT_NEAR(got[2], 0.062f, 1e-6f);
}

TEST(OptimSGD, NesterovStepsByHand) {
  // lr 0.1, momentum 0.9, nesterov: direction = g + 0.9 * buf
  // t=1: g=2,    buf=2,                      d = 2 + 1.8 = 3.8,       p = 1 - 0.38     = 0.62
  // t=2: g=1.24, buf=0.9*2 + 1.24 = 3.04,    d = 1.24 + 2.736 = 3.976, p = 0.62 - 0.3976 = 0.2224
  SgdOptions o{0.1f, 0.9f};
  o.nesterov = true;
  const std::vector<float> got = sgd_on_square(o, 2);
  EXPECT_NEAR(got[0], 0.62f, 1e-6f);
  EXPECT_NEAR(got[1], 0.2224f, 1e-6f);
}

TEST(OptimSGD, DampeningSkipsFirstStep) {
  // lr 0.1, momentum 0.9, dampening 0.5. PyTorch does not dampen the first step:
  // t=1: g=2,   buf = 2,                       p = 0.8
  // t=2: g=1.6, buf = 0.9*2 + 0.5*1.6 = 2.6,   p = 0.8 - 0.26 = 0.54
  SgdOptions o{0.1f, 0.9f, 0.5f};
  const std::vector<float> got = sgd_on_square(o, 2);
  EXPECT_NEAR(got[0], 0.8f, 1e-6f);
  EXPECT_NEAR(got[1], 0.54f, 1e-6f);
}

TEST(OptimSGD, WeightDecayAddsToGradient) {
  // lr 0.1, weight_decay 0.1: g = 2p + 0.1p = 2.1p, p <- 0.79 p
  SgdOptions o{0.1f};
  o.weight_decay = 0.1f;
  const std::vector<float> got = sgd_on_square(o, 2);
  EXPECT_NEAR(got[0], 0.79f, 1e-6f);
  EXPECT_NEAR(got[1], 0.6241f, 1e-6f);
}

// torch.optim.SGD's single-tensor loop, transcribed in double precision.
struct RefSgd {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  std::vector<double> buf;
  void step(std::vector<double>& p, std::vector<double> g) {
    for (size_t j = 0; j < p.size(); ++j) {
      if (weight_decay != 0) g[j] += weight_decay * p[j];
    }
    if (momentum != 0) {
      if (buf.empty()) {
        buf = g;
      } else {
        for (size_t j = 0; j < p.size(); ++j) buf[j] = momentum * buf[j] + (1 - dampening) * g[j];
      }
      for (size_t j = 0; j < p.size(); ++j) g[j] = nesterov ? g[j] + momentum * buf[j] : buf[j];
    }
    for (size_t j = 0; j < p.size(); ++j) p[j] -= lr * g[j];
  }
};

// 10 steps on loss = 0.5 * sum(a * (p - c)^2) with every option switched on, against RefSgd.
void expect_matches_reference(SgdOptions o) {
  expect_follows_reference<SGD>(o, RefSgd{o.lr, o.momentum, o.dampening, o.weight_decay,
                                          o.nesterov, {}},
                                {1.0f, 0.5f, 2.0f, 0.1f}, {1.0f, -2.0f, 0.5f, 3.0f},
                                {0.5f, 1.0f, -1.0f, 2.0f}, 10, 1e-5);
}

TEST(OptimSGD, MatchesReferenceMomentumDampeningDecay) {
  expect_matches_reference({0.05f, 0.8f, 0.3f, 0.01f, false});
}

TEST(OptimSGD, MatchesReferenceNesterovDecay) {
  expect_matches_reference({0.05f, 0.9f, 0.0f, 0.02f, true});
}

TEST(OptimSGD, PlainSgdKeepsNoState) {
  Tensor p = param({1.0f, 2.0f});
  SGD opt({p}, {0.1f});
  sum(p).backward();
  opt.step();
  EXPECT_TRUE(opt.state(0).buffers.empty());
  EXPECT_EQ(opt.state(0).step, 1);
}

}  // namespace
}  // namespace nibble::optim
