// Adam and AdamW: hand-computed steps and a double-precision re-implementation of
// torch.optim.Adam / AdamW written here, independent of optim/adam.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "optim/optim.h"
#include "optim_test_util.h"

namespace nibble::optim {
namespace {

using test::param;
using test::expect_follows_reference;

TEST(OptimAdam, FirstStepMovesByLr) {
  // t=1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) = lr * sign(g), whatever |g|.
  Tensor p = param({1.0f, -3.0f, 100.0f});
  Adam opt({p}, {0.1f});
  sum(mul(p, p)).backward();  // g = 2p
  opt.step();
  EXPECT_NEAR(p.data()[0], 0.9f, 1e-6f);
  EXPECT_NEAR(p.data()[1], -2.9f, 1e-6f);
  EXPECT_NEAR(p.data()[2], 99.9f, 1e-4f);
}

TEST(OptimAdam, EpsIsAddedOutsideTheSquareRoot) {
  // With a large eps the two placements differ clearly. t=1, g = 2, lr 0.1, eps 0.5:
  //   lr * g / (sqrt(g^2) + eps) = 0.1 * 2 / 2.5 = 0.08       (PyTorch, the paper)
  //   lr * g / sqrt(g^2 + eps)   = 0.1 * 2 / sqrt(4.5) = 0.0943 (not this)
  Tensor p = param({1.0f});
  Adam opt({p}, {0.1f, 0.9f, 0.999f, 0.5f});
  sum(mul(p, p)).backward();
  opt.step();
  EXPECT_NEAR(p.item(), 1.0f - 0.08f, 1e-6f);
}

TEST(OptimAdam, SecondStepByHand) {
  // loss p^2 from p = 1, lr 0.1, betas (0.9, 0.999):
  // t=1: p = 0.9 (see above); m = 0.2, v = 0.004
  // t=2: g = 1.8, m = 0.18 + 0.18 = 0.36, v = 0.003996 + 0.00324 = 0.007236
  //      m_hat = 0.36 / 0.19 = 1.894737, v_hat = 0.007236 / 0.001999 = 3.619810
  //      p = 0.9 - 0.1 * 1.894737 / 1.902580 = 0.800412
  Tensor p = param({1.0f});
  Adam opt({p}, {0.1f});
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    sum(mul(p, p)).backward();
    opt.step();
  }
  EXPECT_NEAR(p.item(), 0.800412f, 2e-6f);
  EXPECT_EQ(opt.state(0).step, 2);
  EXPECT_NEAR(opt.state(0).buffers[0].item(), 0.36f, 1e-6f);
  // 2e-7, not 1e-8: beta2 is stored as the float 0.999f = 0.99899995, so (1 - beta2) is 5e-5
  // (relative) larger than the 0.001 of this hand computation.
  EXPECT_NEAR(opt.state(0).buffers[1].item(), 0.007236f, 2e-7f);
}

TEST(OptimAdamW, FirstStepDecaysThenMovesByLr) {
  // lr 0.1, weight_decay 0.1: p = 1 * (1 - 0.01) = 0.99, then the Adam step of ~lr: 0.89.
  // (Adam with the same weight_decay would instead see g = 2 + 0.1 and still move by ~lr: 0.9.)
  Tensor p = param({1.0f});
  AdamW opt({p}, {0.1f, 0.9f, 0.999f, 1e-8f, 0.1f});
  sum(mul(p, p)).backward();
  opt.step();
  EXPECT_NEAR(p.item(), 0.89f, 1e-6f);
}

TEST(OptimAdamW, DefaultWeightDecayIsPyTorchs) {
  Tensor p = param({1.0f});
  AdamW adamw({p});
  Adam adam({p});
  EXPECT_FLOAT_EQ(adamw.options().weight_decay, 1e-2f);
  EXPECT_FLOAT_EQ(adam.options().weight_decay, 0.0f);
  EXPECT_FLOAT_EQ(adamw.lr(), 1e-3f);
  EXPECT_EQ(adamw.name(), "AdamW");
}

// torch.optim.Adam(W)'s single-tensor loop, transcribed in double precision.
struct RefAdam {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
  std::vector<double> m, v;
  int t = 0;
  void step(std::vector<double>& p, std::vector<double> g) {
    if (m.empty()) m.assign(p.size(), 0.0), v.assign(p.size(), 0.0);
    ++t;
    for (size_t j = 0; j < p.size(); ++j) {
      if (decoupled) {
        p[j] *= 1 - lr * weight_decay;
      } else {
        g[j] += weight_decay * p[j];
      }
      m[j] = beta1 * m[j] + (1 - beta1) * g[j];
      v[j] = beta2 * v[j] + (1 - beta2) * g[j] * g[j];
      const double m_hat = m[j] / (1 - std::pow(beta1, t));
      const double v_hat = v[j] / (1 - std::pow(beta2, t));
      p[j] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
};

template <typename Opt, typename Options>
void expect_matches_reference(Options o, bool decoupled) {
  expect_follows_reference<Opt>(o, RefAdam{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay,
                                           decoupled, {}, {}},
                                {1.0f, 0.5f, 2.0f, 0.1f, 4.0f}, {1.0f, -2.0f, 0.5f, 3.0f, -0.25f},
                                {0.5f, 1.0f, -1.0f, 2.0f, 0.0f}, 20, 2e-5);
}

TEST(OptimAdam, MatchesReferenceWithL2) {
  expect_matches_reference<Adam>(AdamOptions{0.05f, 0.8f, 0.99f, 1e-6f, 0.1f}, false);
}

TEST(OptimAdamW, MatchesReferenceWithDecoupledDecay) {
  expect_matches_reference<AdamW>(AdamWOptions{0.05f, 0.8f, 0.99f, 1e-6f, 0.1f}, true);
}

TEST(OptimAdam, SkipsParametersWithoutGradient) {
  Tensor used = param({1.0f});
  Tensor unused = param({5.0f});
  Adam opt({used, unused}, {0.1f});
  sum(mul(used, used)).backward();
  opt.step();
  EXPECT_NEAR(used.item(), 0.9f, 1e-6f);
  EXPECT_EQ(unused.item(), 5.0f);
  EXPECT_EQ(opt.state(1).step, 0);  // PyTorch: no state for a parameter that never had a grad
  EXPECT_TRUE(opt.state(1).buffers.empty());
}

}  // namespace
}  // namespace nibble::optim
