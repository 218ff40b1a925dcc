// Learning-rate schedules: small objects that set an optimizer's lr from a closed-form formula of
// the step count t. As in PyTorch, constructing one sets lr(0) at once, and each step() after
// opt.step() advances t by one:
//
//   optim::SGD opt(model.parameters(), {0.1f, 0.9f});
//   optim::WarmupCosine schedule(opt, /*warmup_steps=*/500, /*total_steps=*/10000);
//   for (...) { ...; opt.step(); schedule.step(); }
//
// base_lr is opt.lr() when the schedule is made. The schedule keeps a reference to the optimizer:
// it must not outlive it. Use one schedule per optimizer (two would overwrite each other's lr).
#pragma once

#include <cstdint>

#include "optim/optimizer.h"

namespace nibble::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  void step();                              // t += 1, then opt.set_lr(lr_at(t))
  int64_t step_count() const { return t_; }  // t: how many times step() has run
  float base_lr() const { return base_lr_; }
  float lr() const { return optimizer_.lr(); }
  virtual float lr_at(int64_t t) const = 0;  // the closed form

 protected:
  explicit LrSchedule(Optimizer& optimizer);
  void start() { optimizer_.set_lr(lr_at(0)); }  // each constructor calls it once validated

 private:
  Optimizer& optimizer_;
  float base_lr_;
  int64_t t_ = 0;
};

// lr(t) = base_lr * gamma^floor(t / step_size)           (torch.optim.lr_scheduler.StepLR)
class StepLR : public LrSchedule {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, float gamma = 0.1f);
  float lr_at(int64_t t) const override;

 private:
  int64_t step_size_;
  float gamma_;
};

// lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2
// (PyTorch's closed form of CosineAnnealingLR). It reaches eta_min at t = t_max and, like PyTorch,
// keeps following the cosine afterwards (back up towards base_lr at 2 * t_max): size t_max to the
// whole run, or use WarmupCosine, which holds eta_min after the end.
class CosineAnnealingLR : public LrSchedule {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, float eta_min = 0.0f);
  float lr_at(int64_t t) const override;

 private:
  int64_t t_max_;
  float eta_min_;
};

// lr(t) = base_lr * min(t + 1, warmup_steps) / warmup_steps
// Ramps base_lr/W, 2*base_lr/W, ..., base_lr (reached at t = W - 1), then stays there. No step is
// wasted at lr 0. Equals PyTorch's LinearLR(start_factor = 1/W, end_factor = 1, total_iters = W-1).
// Why warm up: Adam's first steps move every weight by about lr (m_hat/sqrt(v_hat) ~ +-1), and
// fresh networks have large, noisy gradients; a small lr at first avoids an early blow-up.
class LinearWarmup : public LrSchedule {
 public:
  LinearWarmup(Optimizer& optimizer, int64_t warmup_steps);
  float lr_at(int64_t t) const override;

 private:
  int64_t warmup_steps_;
};

// Linear warm-up for W steps, then cosine decay to eta_min at t = total_steps, then eta_min:
//   t <  W:            lr(t) = base_lr * (t + 1) / W
//   W <= t <= T:       lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * (t - W) / (T - W))) / 2
//   t >  T:            lr(t) = eta_min
// Up to T this is PyTorch's SequentialLR([LinearWarmup(W), CosineAnnealingLR(T - W, eta_min)],
// milestones = [W]). W = 0 gives a plain cosine that stops at eta_min.
class WarmupCosine : public LrSchedule {
 public:
  WarmupCosine(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps,
               float eta_min = 0.0f);
  float lr_at(int64_t t) const override;

 private:
  int64_t warmup_steps_;
  int64_t total_steps_;
  float eta_min_;
};

}  // namespace nibble::optim
