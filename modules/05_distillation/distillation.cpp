// modules/05_distillation/distillation.cpp — module 05: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.
// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)
// Module 05 — knowledge distillation: temperature softmax, the distillation loss, hidden-state and
// attention matching, and the information in soft labels. The API, with what each function must
// do: compression/distillation.h. Your code replaces each `throw nibble::NotImplemented`; the input
// checks before it are given. Module 01's entropy_bits (info_theory/entropy.h) is yours too.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "compression/distillation.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "info_theory/entropy.h"  // module 01: entropy_bits(p, axis), entropy_bits(Distribution)

namespace nibble {

// Given: the checks of hidden_state_mse and attention_kl (defined in distillation_lib.cpp).
void validate_hidden_pair(const Tensor& student_hidden, const Tensor& teacher_hidden,
                          const nn::Linear* projection, const std::string& function);
void validate_attention_pair(const Tensor& student_weights, const Tensor& teacher_weights,
                             const std::string& function);
void validate_activations(const Tensor& activations, const std::string& function,
                          const std::string& argument);

Tensor softmax_with_temperature(const Tensor& logits, double temperature) {
  validate_logits(logits, "softmax_with_temperature", "logits");
  validate_temperature(temperature, "softmax_with_temperature");
  throw nibble::NotImplemented("module 05: softmax_with_temperature");
}

Tensor soft_target_kl(const Tensor& student_logits, const Tensor& teacher_logits, double temperature) {
  validate_logit_pair(student_logits, teacher_logits, "soft_target_kl");
  validate_temperature(temperature, "soft_target_kl");
  throw nibble::NotImplemented("module 05: soft_target_kl");
}

Tensor distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                         const std::vector<int64_t>& labels, double temperature, double alpha) {
  validate_logit_pair(student_logits, teacher_logits, "distillation_loss");
  validate_temperature(temperature, "distillation_loss");
  validate_alpha(alpha, "distillation_loss");
  throw nibble::NotImplemented("module 05: distillation_loss");
}

Tensor hidden_state_mse(const Tensor& student_hidden, const Tensor& teacher_hidden,
                        nn::Linear* projection) {
  validate_hidden_pair(student_hidden, teacher_hidden, projection, "hidden_state_mse");
  throw nibble::NotImplemented("module 05: hidden_state_mse");
}

Tensor attention_map(const Tensor& activations) {
  validate_activations(activations, "attention_map", "activations");
  throw nibble::NotImplemented("module 05: attention_map");
}

Tensor attention_kl(const Tensor& student_weights, const Tensor& teacher_weights) {
  validate_attention_pair(student_weights, teacher_weights, "attention_kl");
  throw nibble::NotImplemented("module 05: attention_kl");
}

double soft_label_entropy_bits(const Tensor& teacher_logits, double temperature) {
  validate_logits(teacher_logits, "soft_label_entropy_bits", "teacher_logits");
  validate_temperature(temperature, "soft_label_entropy_bits");
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 05: soft_label_entropy_bits");
}

double dark_knowledge_bits(const Tensor& teacher_logits, double temperature) {
  validate_logits(teacher_logits, "dark_knowledge_bits", "teacher_logits");
  validate_temperature(temperature, "dark_knowledge_bits");
  NoGradGuard no_grad;
  throw nibble::NotImplemented("module 05: dark_knowledge_bits");
}

}  // namespace nibble
