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
  // BEGIN SOLUTION softmax_with_temperature
  return softmax(logits / static_cast<float>(temperature), -1);  // [N, C], rows sum to 1
  // END SOLUTION
}

Tensor soft_target_kl(const Tensor& student_logits, const Tensor& teacher_logits, double temperature) {
  validate_logit_pair(student_logits, teacher_logits, "soft_target_kl");
  validate_temperature(temperature, "soft_target_kl");
  // BEGIN SOLUTION soft_target_kl
  const float T = static_cast<float>(temperature);
  const Tensor log_p_s = log_softmax(student_logits / T, -1);  // [N, C], on the tape
  const Tensor p_t = softmax(teacher_logits / T, -1);          // [N, C], the target
  // Σ_c p_t (log p_t − log p_s) per row, summed, divided by N (PyTorch's "batchmean").
  return kl_div(log_p_s, p_t, Reduction::BatchMean) * (T * T);
  // END SOLUTION
}

Tensor distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                         const std::vector<int64_t>& labels, double temperature, double alpha) {
  validate_logit_pair(student_logits, teacher_logits, "distillation_loss");
  validate_temperature(temperature, "distillation_loss");
  validate_alpha(alpha, "distillation_loss");
  // BEGIN SOLUTION distillation_loss
  const Tensor soft = soft_target_kl(student_logits, teacher_logits, temperature);
  const Tensor hard = cross_entropy(student_logits, labels);  // mean over N, at T = 1
  return soft * static_cast<float>(alpha) + hard * static_cast<float>(1.0 - alpha);
  // END SOLUTION
}

Tensor hidden_state_mse(const Tensor& student_hidden, const Tensor& teacher_hidden,
                        nn::Linear* projection) {
  validate_hidden_pair(student_hidden, teacher_hidden, projection, "hidden_state_mse");
  // BEGIN SOLUTION hidden_state_mse
  const Tensor h = projection != nullptr ? (*projection)(student_hidden) : student_hidden;  // [..., d_t]
  return mse_loss(h, teacher_hidden);  // mean over every element
  // END SOLUTION
}

Tensor attention_map(const Tensor& activations) {
  validate_activations(activations, "attention_map", "activations");
  // BEGIN SOLUTION attention_map
  const int64_t n = activations.size(0);
  const Tensor q = sum(activations * activations, 1).reshape({n, -1});  // [N, H·W]
  const Tensor norm = clamp(sqrt(sum(q * q, 1, /*keepdim=*/true)), 1e-12f, 3.0e38f);  // [N, 1]
  return q / norm;
  // END SOLUTION
}

Tensor attention_kl(const Tensor& student_weights, const Tensor& teacher_weights) {
  validate_attention_pair(student_weights, teacher_weights, "attention_kl");
  // BEGIN SOLUTION attention_kl
  const float tiny = 1e-30f;
  const Tensor& t = teacher_weights;  // [B, H, Tq, Tk]
  const Tensor log_t = log(clamp(t, tiny, 1.0f));
  const Tensor log_s = log(clamp(student_weights, tiny, 1.0f));
  const Tensor per_row = sum(t * (log_t - log_s), -1);  // [B, H, Tq]: one KL per row per head
  return mean(per_row);                                 // over all B·H·Tq rows
  // END SOLUTION
}

double soft_label_entropy_bits(const Tensor& teacher_logits, double temperature) {
  validate_logits(teacher_logits, "soft_label_entropy_bits", "teacher_logits");
  validate_temperature(temperature, "soft_label_entropy_bits");
  NoGradGuard no_grad;
  // BEGIN SOLUTION soft_label_entropy_bits
  const Tensor p = softmax_with_temperature(teacher_logits, temperature);  // [N, C]
  return static_cast<double>(mean(entropy_bits(p, -1)).item());          // module 01, [N] -> mean
  // END SOLUTION
}

double dark_knowledge_bits(const Tensor& teacher_logits, double temperature) {
  validate_logits(teacher_logits, "dark_knowledge_bits", "teacher_logits");
  validate_temperature(temperature, "dark_knowledge_bits");
  NoGradGuard no_grad;
  // BEGIN SOLUTION dark_knowledge_bits
  const Tensor p = softmax_with_temperature(teacher_logits, temperature).contiguous();
  const std::vector<float> v = p.to_vector();
  const size_t n = static_cast<size_t>(p.size(0)), c = static_cast<size_t>(p.size(1));
  double total = 0.0;
  for (size_t r = 0; r < n; ++r) {
    const float* row = v.data() + r * c;
    const size_t top = static_cast<size_t>(std::max_element(row, row + c) - row);  // first on ties
    double rest_mass = 0.0;
    for (size_t j = 0; j < c; ++j)
      if (j != top) rest_mass += row[j];
    if (c == 1 || rest_mass <= 0.0) continue;  // all mass on the argmax: no dark knowledge
    Distribution rest;
    for (size_t j = 0; j < c; ++j)
      if (j != top) rest.push_back(row[j] / rest_mass);
    total += rest_mass * entropy_bits(rest);  // (1 − p_max) · H(rest), module 01
  }
  return total / static_cast<double>(n);
  // END SOLUTION
}

}  // namespace nibble
