// Knowledge distillation (course module 05; lesson: modules/05_distillation/README.md).
//
// A small student learns from a large, frozen teacher: not only from the labels but from the
// teacher's whole output distribution, softened by a temperature T (Hinton, Vinyals & Dean 2015),
// from its hidden states (FitNets, Romero et al. 2015) and from where it looks (attention transfer,
// Zagoruyko & Komodakis 2017; attention matching per head as in MiniLM/TinyBERT).
//
// Conventions (every function):
//   * logits are [N, C] float tensors (N examples, C classes), every entry finite;
//     labels are N class indices in [0, C).
//   * Losses are scalars ON THE AUTOGRAD TAPE: gradients flow to the student's inputs. The teacher's
//     tensors are targets (run the teacher under NoGradGuard; no gradient is sent to them).
//   * KL is in NATS (natural log, as PyTorch's kl_div); the information measures (soft_label_*)
//     are in BITS (module 01's entropy_bits).
//   * Bad input throws nibble::Error naming the function, the argument and its value.
// Module 05 owns distillation.cpp (the functions marked "module 05"); the checks, the attention
// transfer loss built from attention_map, and the Distiller are library code (distillation_lib.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace nibble {

// ---- checks (given; they throw nibble::Error, in the student edition too) ------------------------
// A defined 2-D float tensor [N, C] with N, C >= 1 and every entry finite (the message names the
// first NaN/inf and its position). `argument` names the parameter ("student_logits").
void validate_logits(const Tensor& logits, const std::string& function, const std::string& argument);
// Both valid logits of the SAME shape (same N, same C).
void validate_logit_pair(const Tensor& student_logits, const Tensor& teacher_logits,
                         const std::string& function);
// T finite and > 0.
void validate_temperature(double temperature, const std::string& function);
// alpha finite and in [0, 1].
void validate_alpha(double alpha, const std::string& function);

// ---- module 05: distillation.cpp ---------------------------------------------------------------

// TODO: the softmax of logits / T along the last axis (the "soft targets" of Hinton et al.).
// APPROACH: softmax(logits / T, -1). T = 1 is the plain softmax; T > 1 flattens the distribution
//   (more of the mass goes to the wrong classes: the dark knowledge); T -> infinity gives uniform.
// EXAMPLE: softmax_with_temperature([[0, ln 3]], 1) = [[0.25, 0.75]];
//          softmax_with_temperature([[0, ln 3]], 2) = [[1/(1+√3), √3/(1+√3)]] ≈ [[0.366, 0.634]].
// HINTS: divide the logits (not the probabilities); stay with nibble ops so gradients flow.
Tensor softmax_with_temperature(const Tensor& logits, double temperature);

// TODO: the soft-target loss T²·KL(p_t ‖ p_s), p_t = softmax(teacher/T), p_s = softmax(student/T),
//   averaged over the batch (sum over classes, mean over examples), in nats. This is PyTorch's
//   kl_div(log_softmax(s/T, -1), softmax(t/T, -1), reduction="batchmean") * T².
// APPROACH: KL(p_t ‖ p_s) = Σ_c p_t,c (log p_t,c − log p_s,c) per row; mean over the N rows; times T².
//   The T² keeps the gradient's size independent of T (the soft gradients scale as 1/T²).
// EXAMPLE: student [[0, 0]], teacher [[0, ln 3]], T = 1: p_t = (1/4, 3/4), p_s = (1/2, 1/2),
//   KL = 1/4 ln(1/2) + 3/4 ln(3/2) ≈ 0.130812.  Identical logits give 0.
// HINTS: the teacher is the TARGET (first argument of KL, PyTorch's second). log_softmax is stabler
//   than log(softmax). The core op kl_div(input = log p_s, target = p_t, Reduction::BatchMean) is
//   allowed; so are plain ops.
Tensor soft_target_kl(const Tensor& student_logits, const Tensor& teacher_logits, double temperature);

// TODO: the distillation loss  α·T²·KL(p_t ‖ p_s) + (1 − α)·CE(student_logits, labels).
//   α weights the SOFT (teacher) term: α = 0 is plain cross-entropy on the labels, α = 1 ignores
//   the labels. The cross-entropy uses the student's logits at T = 1 and is averaged over the batch.
// APPROACH: soft_target_kl for the first term, cross_entropy (core/ops.h) for the second.
// EXAMPLE: student [[0, 0]], teacher [[0, ln 3]], label 1, T = 1, α = 0.5:
//   0.5·0.130812 + 0.5·ln 2 ≈ 0.411980.
// HINTS: some papers let α weight the label term instead; ours weights the teacher's. Do not
//   divide the student's logits by T inside the cross-entropy.
Tensor distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits,
                         const std::vector<int64_t>& labels, double temperature, double alpha);

// TODO: FitNets hidden-state matching: the mean squared error between the student's hidden state
//   [..., d_s] and the teacher's [..., d_t], both averaged over every element.
//   When d_s != d_t the student's state goes through `projection` (a Linear d_s -> d_t, trained with
//   the student) first; when the widths agree, projection may be null (no projection) or given.
// APPROACH: h = projection ? (*projection)(student) : student; mean((h − teacher)²).
// EXAMPLE: student [[1, 2]], teacher [[0, 4]], no projection: ((1 − 0)² + (2 − 4)²)/2 = 2.5.
// HINTS: mse_loss (core/ops.h) averages over all elements. Errors (given): the shapes must agree
//   except on the last axis; a width mismatch without projection, or a projection whose in/out
//   features do not match d_s/d_t, throws.
Tensor hidden_state_mse(const Tensor& student_hidden, const Tensor& teacher_hidden,
                        nn::Linear* projection = nullptr);

// TODO: the spatial attention map of CNN activations [N, C, H, W] (Zagoruyko & Komodakis): for
//   every example the sum over channels of the squared activations, flattened to [N, H·W] and
//   divided by its Euclidean (L2) norm, so every row has norm 1.
// APPROACH: Q = Σ_c a²  -> [N, H, W] -> reshape [N, H·W];  Q / ‖Q‖₂ per row (a row of zeros stays
//   zero: divide by max(‖Q‖₂, 1e-12)).
// EXAMPLE: one example, 2 channels 1x2: a[0] = [[1, 0]], a[1] = [[1, 2]] -> Q = (2, 4),
//   ‖Q‖ = √20 -> (0.447214, 0.894427).
// HINTS: sum over axis 1 (the channels), not over the positions. Stays on the tape.
Tensor attention_map(const Tensor& activations);

// TODO: attention matching for transformers: the teacher's and student's attention weights
//   [B, H, Tq, Tk] (each row a distribution over the keys), compared row by row:
//   KL(teacher row ‖ student row) in nats, averaged over all B·H·Tq rows.
// APPROACH: Σ_k t·(log t − log s) per row (0·log 0 = 0: clamp inside the logs), mean over rows.
// EXAMPLE: one row, teacher (1/4, 3/4), student (1/2, 1/2): 0.130812. Rows that agree give 0.
// HINTS: a KL per HEAD (pooling a head's rows into one distribution) or over the whole batch is a
//   different (wrong) number. Errors (given): same 4-D shape, entries in [0, 1], rows sum to 1.
Tensor attention_kl(const Tensor& student_weights, const Tensor& teacher_weights);

// TODO: the mean entropy in BITS of the soft labels softmax(teacher_logits / T) over the N rows.
// APPROACH: module 01's entropy_bits(p, -1) on softmax_with_temperature, then the mean.
// EXAMPLE: [[0, ln 3]] at T = 1 -> H(1/4, 3/4) ≈ 0.811278 bits. T -> infinity -> log2 C.
// HINTS: one-hot labels carry 0 bits of uncertainty; the soft label's entropy is what T adds.
double soft_label_entropy_bits(const Tensor& teacher_logits, double temperature);

// TODO: the "dark knowledge" of the soft labels in bits: per row, the information in how the
//   probability is spread over the NON-argmax classes, averaged over the rows. By the grouping
//   rule H(p) = H_b(p_max) + (1 − p_max)·H(p_rest / (1 − p_max)), it is the second term:
//     dark = (1 − p_max) · H(rest), rest = the other C − 1 probabilities renormalised to sum 1.
// APPROACH: per row: find the argmax (first on ties), take the rest, renormalise, module 01's
//   entropy_bits(Distribution), weight by (1 − p_max). A row with p_max = 1 carries 0.
// EXAMPLE: p = (1/2, 1/4, 1/4) (logits [[ln 2, 0, 0]] at T = 1): rest = (1/2, 1/2), H = 1 bit,
//   dark = 1/2 · 1 = 0.5 bits (H(p) = 1.5 = H_b(1/2) + 0.5).
// HINTS: read the probabilities with to_vector (no gradient needed); compute in double.
double dark_knowledge_bits(const Tensor& teacher_logits, double temperature);

// ---- given: attention transfer for CNNs (library) -------------------------------------------------
// Zagoruyko & Komodakis' loss between matching layers: the mean over the N examples of
// ‖attention_map(student) − attention_map(teacher)‖₂² (squared distance of unit-norm maps; their
// reference code's (at(s) − at(t)).pow(2).mean() times H·W). Spatial sizes must agree; channel
// counts may differ (the map sums them away).
Tensor attention_transfer_loss(const Tensor& student_activations, const Tensor& teacher_activations);

// ---- given: the Distiller (library) -----------------------------------------------------------------
// One extra loss between a student layer and a teacher layer, named by dotted paths
// ("fc2", "blocks.0.attn"). Kinds:
//   HiddenMse          the layers' outputs, hidden_state_mse (a learned projection when widths differ)
//   AttentionTransfer  the layers' outputs [N, C, H, W], attention_transfer_loss
//   AttentionKl        both layers are nn::MultiHeadAttention; attention_kl of their .attention
struct LayerMatch {
  enum class Kind { HiddenMse, AttentionTransfer, AttentionKl };
  Kind kind = Kind::HiddenMse;
  std::string student_layer;
  std::string teacher_layer;
  double weight = 1.0;
};

struct DistillerOptions {
  double temperature = 4.0;
  double alpha = 0.9;  // weight of the soft term in distillation_loss; 0 = labels only
  std::vector<LayerMatch> matches;  // extra losses, added with their weights
  int64_t epochs = 1;
  int64_t batch_size = 64;
  double learning_rate = 1e-3;  // Adam
  uint64_t seed = 1;            // the data loader's shuffle
  bool progress = true;         // one line per epoch on stdout; on a terminal also a bar per batch
};

struct EpochStats {
  double loss = 0.0;        // mean total loss over the epoch's batches
  double soft_loss = 0.0;   // mean T²·KL
  double label_loss = 0.0;  // mean cross-entropy
  double match_loss = 0.0;  // mean weighted sum of the LayerMatch losses
};

// Trains `student` (in place) from a frozen copy of `teacher`: the Distiller clones the teacher,
// puts the clone in eval mode with requires_grad_(false) and runs it under NoGradGuard, so the
// caller's teacher is never touched and the clone gets no gradient. Layer names are checked in the
// constructor (an unknown name throws, listing the problem). Projections for HiddenMse are created
// on the first fit() when widths differ and trained with the student.
class Distiller {
 public:
  Distiller(const nn::Module& teacher, nn::Module& student, DistillerOptions options);
  // images [N, ...], labels N class indices -> statistics per epoch. Prints one line per epoch
  // when options.progress: "distill epoch 1/3  loss 0.8123  (soft 0.61, labels 0.52, match 0.00)";
  // when stdout is also a terminal, a bar redrawn in place after every batch precedes each line.
  std::vector<EpochStats> fit(const Tensor& images, const std::vector<int64_t>& labels);
  const nn::Module& teacher() const { return *teacher_; }
  const DistillerOptions& options() const { return options_; }
  // The projection made for options.matches[i] (null when none was needed).
  std::shared_ptr<nn::Linear> projection(size_t i) const;

 private:
  std::shared_ptr<nn::Module> teacher_;
  nn::Module& student_;
  DistillerOptions options_;
  std::vector<std::shared_ptr<nn::Linear>> projections_;
  bool projections_ready_ = false;
};

}  // namespace nibble
