#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace nibble::optim {

namespace {
constexpr double kPi = 3.14159265358979323846;

// eta_min + (base - eta_min) * (1 + cos(pi * t / t_max)) / 2, in double.
float cosine(float base, float eta_min, double t, double t_max) {
  return static_cast<float>(eta_min + (base - eta_min) * (1.0 + std::cos(kPi * t / t_max)) / 2.0);
}
}  // namespace

LrSchedule::LrSchedule(Optimizer& optimizer) : optimizer_(optimizer), base_lr_(optimizer.lr()) {}

void LrSchedule::step() {
  ++t_;
  optimizer_.set_lr(lr_at(t_));
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, float gamma)
    : LrSchedule(optimizer), step_size_(step_size), gamma_(gamma) {
  NIBBLE_CHECK(step_size >= 1, "StepLR", "step_size must be >= 1, got " + std::to_string(step_size));
  NIBBLE_CHECK(gamma > 0.0f, "StepLR", "gamma must be > 0, got " + format_value(gamma));
  start();
}

float StepLR::lr_at(int64_t t) const {
  return static_cast<float>(base_lr() * std::pow(static_cast<double>(gamma_), t / step_size_));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, float eta_min)
    : LrSchedule(optimizer), t_max_(t_max), eta_min_(eta_min) {
  NIBBLE_CHECK(t_max >= 1, "CosineAnnealingLR", "t_max must be >= 1, got " + std::to_string(t_max));
  NIBBLE_CHECK(eta_min >= 0.0f, "CosineAnnealingLR", "eta_min must be >= 0, got " + format_value(eta_min));
  start();
}

float CosineAnnealingLR::lr_at(int64_t t) const {
  return cosine(base_lr(), eta_min_, static_cast<double>(t), static_cast<double>(t_max_));
}

LinearWarmup::LinearWarmup(Optimizer& optimizer, int64_t warmup_steps)
    : LrSchedule(optimizer), warmup_steps_(warmup_steps) {
  NIBBLE_CHECK(warmup_steps >= 1, "LinearWarmup",
        "warmup_steps must be >= 1, got " + std::to_string(warmup_steps));
  start();
}

float LinearWarmup::lr_at(int64_t t) const {
  const int64_t ramp = std::min(t + 1, warmup_steps_);
  return static_cast<float>(static_cast<double>(base_lr()) * ramp / warmup_steps_);
}

WarmupCosine::WarmupCosine(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps,
                           float eta_min)
    : LrSchedule(optimizer), warmup_steps_(warmup_steps), total_steps_(total_steps),
      eta_min_(eta_min) {
  NIBBLE_CHECK(warmup_steps >= 0, "WarmupCosine",
        "warmup_steps must be >= 0, got " + std::to_string(warmup_steps));
  NIBBLE_CHECK(total_steps > warmup_steps, "WarmupCosine",
        "total_steps must be > warmup_steps, got total_steps " + std::to_string(total_steps) +
            " and warmup_steps " + std::to_string(warmup_steps));
  NIBBLE_CHECK(eta_min >= 0.0f, "WarmupCosine", "eta_min must be >= 0, got " + format_value(eta_min));
  start();
}

float WarmupCosine::lr_at(int64_t t) const {
  if (t < warmup_steps_) {
    return static_cast<float>(static_cast<double>(base_lr()) * (t + 1) / warmup_steps_);
  }
  if (t > total_steps_) return eta_min_;
  return cosine(base_lr(), eta_min_, static_cast<double>(t - warmup_steps_),
                static_cast<double>(total_steps_ - warmup_steps_));
}

}  // namespace nibble::optim
