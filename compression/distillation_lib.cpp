// Library half of module 05 (compression/distillation.h): the input checks, the CNN attention
// transfer loss and the Distiller. The graded functions live in
// modules/05_distillation/solution/distillation.cpp.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compression/distillation.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/io/dataloader.h"
#include "core/ops.h"
#include "nn/attention.h"
#include "optim/adam.h"

namespace nibble {

namespace {

std::string num(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// The first non-finite entry of t as "NaN at [i, j]" (empty when all are finite).
std::string first_non_finite(const Tensor& t) {
  const std::vector<float> v = t.contiguous().to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) continue;
    std::vector<int64_t> index(static_cast<size_t>(t.dim()));
    size_t rest = i;
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      const size_t n = static_cast<size_t>(t.size(d));
      index[static_cast<size_t>(d)] = static_cast<int64_t>(rest % n);
      rest /= n;
    }
    return std::string(std::isnan(v[i]) ? "NaN" : "inf") + " at " + shape_str(index);
  }
  return "";
}

}  // namespace

void validate_logits(const Tensor& logits, const std::string& function, const std::string& argument) {
  NIBBLE_CHECK(logits.defined(), function, argument + " is an undefined tensor");
  NIBBLE_CHECK(logits.dim() == 2 && logits.size(0) >= 1 && logits.size(1) >= 1, function,
               argument + " has shape " + shape_str(logits.shape()) + ", expected [N, C] with N, C >= 1",
               "logits are one row of C class scores per example");
  const std::string bad = first_non_finite(logits);
  NIBBLE_CHECK(bad.empty(), function, argument + " holds " + bad,
               "NaN logits usually mean the model diverged: lower the learning rate");
}

void validate_logit_pair(const Tensor& student_logits, const Tensor& teacher_logits,
                         const std::string& function) {
  validate_logits(student_logits, function, "student_logits");
  validate_logits(teacher_logits, function, "teacher_logits");
  NIBBLE_CHECK(student_logits.shape() == teacher_logits.shape(), function,
               "student_logits " + shape_str(student_logits.shape()) + " and teacher_logits " +
                   shape_str(teacher_logits.shape()) + " differ",
               "student and teacher must see the same batch and predict the same classes");
}

void validate_temperature(double temperature, const std::string& function) {
  NIBBLE_CHECK(std::isfinite(temperature) && temperature > 0.0, function,
               "temperature T = " + num(temperature) + " must be finite and > 0",
               "T = 1 is the plain softmax; distillation typically uses T in [1, 20]");
}

void validate_alpha(double alpha, const std::string& function) {
  NIBBLE_CHECK(std::isfinite(alpha) && alpha >= 0.0 && alpha <= 1.0, function,
               "alpha = " + num(alpha) + " is outside [0, 1]",
               "alpha weights the teacher's soft term; 1 - alpha weights the labels");
}

// Declared in the module's solution file (not in the public header): the checks it calls.
void validate_hidden_pair(const Tensor& student_hidden, const Tensor& teacher_hidden,
                          const nn::Linear* projection, const std::string& function);
void validate_attention_pair(const Tensor& student_weights, const Tensor& teacher_weights,
                             const std::string& function);
void validate_activations(const Tensor& activations, const std::string& function,
                          const std::string& argument);

void validate_hidden_pair(const Tensor& student_hidden, const Tensor& teacher_hidden,
                          const nn::Linear* projection, const std::string& function) {
  NIBBLE_CHECK(student_hidden.defined() && teacher_hidden.defined(), function,
               "student_hidden or teacher_hidden is undefined");
  const Shape& s = student_hidden.shape();
  const Shape& t = teacher_hidden.shape();
  NIBBLE_CHECK(!s.empty() && s.size() == t.size() && std::equal(s.begin(), s.end() - 1, t.begin()),
               function,
               "student_hidden " + shape_str(s) + " and teacher_hidden " + shape_str(t) +
                   " must agree on every axis but the last",
               "match layers that see the same examples (and tokens)");
  for (const Tensor* h : {&student_hidden, &teacher_hidden}) {
    const std::string bad = first_non_finite(*h);
    NIBBLE_CHECK(bad.empty(), function,
                 std::string(h == &student_hidden ? "student_hidden" : "teacher_hidden") + " holds " + bad);
  }
  const int64_t ds = s.back(), dt = t.back();
  if (projection == nullptr) {
    NIBBLE_CHECK(ds == dt, function,
                 "widths differ (student " + std::to_string(ds) + ", teacher " + std::to_string(dt) +
                     ") and projection is null",
                 "pass a Linear(" + std::to_string(ds) + ", " + std::to_string(dt) +
                     ") trained with the student (FitNets' regressor)");
  } else {
    NIBBLE_CHECK(projection->in_features == ds && projection->out_features == dt, function,
                 "projection is Linear(" + std::to_string(projection->in_features) + ", " +
                     std::to_string(projection->out_features) + "), widths are student " +
                     std::to_string(ds) + " -> teacher " + std::to_string(dt));
  }
}

void validate_attention_pair(const Tensor& student_weights, const Tensor& teacher_weights,
                             const std::string& function) {
  NIBBLE_CHECK(student_weights.defined() && teacher_weights.defined(), function,
               "student_weights or teacher_weights is undefined");
  NIBBLE_CHECK(student_weights.dim() == 4 && student_weights.shape() == teacher_weights.shape(), function,
               "student_weights " + shape_str(student_weights.shape()) + " and teacher_weights " +
                   shape_str(teacher_weights.shape()) + " must both be [B, H, Tq, Tk]",
               "match heads one to one; give the student as many heads (or average the teacher's)");
  for (const Tensor* w : {&student_weights, &teacher_weights}) {
    const char* arg = w == &student_weights ? "student_weights" : "teacher_weights";
    const std::vector<float> v = w->contiguous().to_vector();
    const size_t k = static_cast<size_t>(w->size(-1));
    for (size_t r = 0; r * k < v.size(); ++r) {
      double row = 0.0;
      for (size_t j = 0; j < k; ++j) {
        const float x = v[r * k + j];
        NIBBLE_CHECK(std::isfinite(x) && x >= 0.0f && x <= 1.0f, function,
                     std::string(arg) + " holds " + num(x) + " (row " + std::to_string(r) + ")",
                     "attention weights are probabilities in [0, 1]");
        row += x;
      }
      NIBBLE_CHECK(std::fabs(row - 1.0) <= 1e-4, function,
                   std::string(arg) + " row " + std::to_string(r) + " sums to " + num(row) + ", not 1",
                   "pass the softmax output (MultiHeadAttention::attention), not the scores");
    }
  }
}

void validate_activations(const Tensor& activations, const std::string& function,
                          const std::string& argument) {
  NIBBLE_CHECK(activations.defined() && activations.dim() == 4 && activations.numel() > 0, function,
               argument + " has shape " +
                   (activations.defined() ? shape_str(activations.shape()) : std::string("(undefined)")) +
                   ", expected [N, C, H, W]",
               "attention maps are for convolutional feature maps");
  const std::string bad = first_non_finite(activations);
  NIBBLE_CHECK(bad.empty(), function, argument + " holds " + bad);
}

Tensor attention_transfer_loss(const Tensor& student_activations, const Tensor& teacher_activations) {
  const char* fn = "attention_transfer_loss";
  validate_activations(student_activations, fn, "student_activations");
  validate_activations(teacher_activations, fn, "teacher_activations");
  NIBBLE_CHECK(student_activations.size(0) == teacher_activations.size(0) &&
                   student_activations.size(2) == teacher_activations.size(2) &&
                   student_activations.size(3) == teacher_activations.size(3),
               fn,
               "student_activations " + shape_str(student_activations.shape()) + " and teacher_activations " +
                   shape_str(teacher_activations.shape()) + " differ in N, H or W",
               "match layers of the same spatial size (channels may differ)");
  const Tensor d = attention_map(student_activations) - attention_map(teacher_activations);  // [N, HW]
  return mean(sum(d * d, 1));
}

// ---- the Distiller ---------------------------------------------------------------------------------

namespace {

// Stands in for a layer during fit(): runs it and keeps its output. The layer is held, not
// registered, so the model's parameters stay the layer's own and it can be put back unchanged.
class Tap : public nn::Module {
 public:
  explicit Tap(std::shared_ptr<nn::Module> inner) : inner_(std::move(inner)) {}
  Tensor forward(const Tensor& x) override {
    output = (*inner_)(x);
    return output;
  }
  std::string name() const override { return "Tap(" + inner_->name() + ")"; }
  std::shared_ptr<nn::Module> inner_;
  Tensor output;
};

// Installs taps on the named layers of a model and puts the layers back when it goes away.
class Taps {
 public:
  explicit Taps(nn::Module& model) : model_(model) {}
  ~Taps() {
    for (auto it = taps_.rbegin(); it != taps_.rend(); ++it) {
      try {
        model_.replace_module(it->first, it->second->inner_);
      } catch (const std::exception& e) {  // a destructor must not throw; this would be a library bug
        std::fprintf(stderr, "Distiller: could not put layer '%s' back: %s\n", it->first.c_str(), e.what());
      }
    }
  }
  Taps(const Taps&) = delete;
  Taps& operator=(const Taps&) = delete;
  Tap& at(const std::string& path) {
    for (auto& [p, tap] : taps_)
      if (p == path) return *tap;
    std::shared_ptr<nn::Module> old;
    auto tap = std::make_shared<Tap>(nullptr);
    old = model_.replace_module(path, tap);
    tap->inner_ = old;
    taps_.emplace_back(path, tap);
    return *tap;
  }

 private:
  nn::Module& model_;
  std::vector<std::pair<std::string, std::shared_ptr<Tap>>> taps_;
};

// The progress bar of tools/nibble/progress.h, for the library: redrawn in place after each batch
//   distill epoch 2/3 [#########-----------]  420/938  loss 0.4312  ETA 3s
// only when stdout is a terminal (and options.progress is on); in a log or a pipe it draws nothing,
// so the per-epoch summary line is all that appears there.
class BatchBar {
 public:
  BatchBar(bool on, int64_t epoch, int64_t epochs, int64_t total)
      : on_(on && isatty(fileno(stdout)) != 0), epoch_(epoch), epochs_(epochs), total_(total),
        start_(Clock::now()), last_(start_) {}
  void update(double loss) {
    ++done_;
    if (!on_) return;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && done_ < total_) return;
    last_ = now;
    const int width = 20;
    const int filled = total_ > 0 ? static_cast<int>(width * std::min(done_, total_) / total_) : width;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::printf("\rdistill epoch %lld/%lld [%s%s] %5lld/%lld  loss %.4f  ETA %.0fs   ",
                static_cast<long long>(epoch_), static_cast<long long>(epochs_),
                std::string(static_cast<size_t>(filled), '#').c_str(),
                std::string(static_cast<size_t>(width - filled), '-').c_str(), static_cast<long long>(done_),
                static_cast<long long>(total_), loss,
                done_ > 0 ? elapsed * static_cast<double>(total_ - done_) / static_cast<double>(done_) : 0.0);
    std::fflush(stdout);
    drawn_ = true;
  }
  void clear() {  // before the epoch's summary line
    if (drawn_) std::printf("\r\033[K");
    drawn_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool on_;
  int64_t epoch_, epochs_, total_, done_ = 0;
  Clock::time_point start_, last_;
  bool drawn_ = false;
};

Tensor attention_of(nn::Module& model, const std::string& path) {
  return model.get_submodule_as<nn::MultiHeadAttention>(path).attention;
}

}  // namespace

Distiller::Distiller(const nn::Module& teacher, nn::Module& student, DistillerOptions options)
    : teacher_(teacher.clone()), student_(student), options_(std::move(options)) {
  validate_temperature(options_.temperature, "Distiller");
  validate_alpha(options_.alpha, "Distiller");
  NIBBLE_CHECK(options_.epochs >= 1 && options_.batch_size >= 1 && options_.learning_rate > 0.0,
               "Distiller",
               "epochs = " + std::to_string(options_.epochs) + ", batch_size = " +
                   std::to_string(options_.batch_size) + ", learning_rate = " + num(options_.learning_rate) +
                   ": each must be positive");
  teacher_->requires_grad_(false).eval();  // frozen: no gradient, dropout off
  for (size_t i = 0; i < options_.matches.size(); ++i) {
    const LayerMatch& m = options_.matches[i];
    NIBBLE_CHECK(std::isfinite(m.weight) && m.weight >= 0.0, "Distiller",
                 "matches[" + std::to_string(i) + "].weight = " + num(m.weight) + " must be finite and >= 0");
    // get_submodule throws naming the missing layer and listing what exists; say which side it was.
    try {
      student_.get_submodule(m.student_layer);
    } catch (const Error& e) {
      fail("Distiller", "student_layer '" + m.student_layer + "' (matches[" + std::to_string(i) +
                            "]) does not exist in the student: " + e.what());
    }
    try {
      teacher_->get_submodule(m.teacher_layer);
    } catch (const Error& e) {
      fail("Distiller", "teacher_layer '" + m.teacher_layer + "' (matches[" + std::to_string(i) +
                            "]) does not exist in the teacher: " + e.what());
    }
    if (m.kind == LayerMatch::Kind::AttentionKl) {
      student_.get_submodule_as<nn::MultiHeadAttention>(m.student_layer);
      teacher_->get_submodule_as<nn::MultiHeadAttention>(m.teacher_layer);
    }
  }
  projections_.resize(options_.matches.size());
}

std::shared_ptr<nn::Linear> Distiller::projection(size_t i) const {
  NIBBLE_CHECK(i < projections_.size(), "Distiller::projection",
               "index " + std::to_string(i) + " is out of range (" + std::to_string(projections_.size()) +
                   " matches)");
  return projections_[i];
}

std::vector<EpochStats> Distiller::fit(const Tensor& images, const std::vector<int64_t>& labels) {
  NIBBLE_CHECK(images.defined() && images.dim() >= 1 && images.size(0) == static_cast<int64_t>(labels.size()) &&
                   !labels.empty(),
               "Distiller::fit",
               "images " + (images.defined() ? shape_str(images.shape()) : std::string("(undefined)")) + " and " +
                   std::to_string(labels.size()) + " labels: need one label per image, at least one");
  const bool was_training = student_.is_training();
  student_.train();
  // The optimizer holds the student's tensors, taken before the taps go in (the taps keep them).
  std::vector<Tensor> params = student_.parameters();
  Taps student_taps(student_), teacher_taps(*teacher_);
  std::vector<Tap*> s_tap(options_.matches.size(), nullptr), t_tap(options_.matches.size(), nullptr);
  for (size_t i = 0; i < options_.matches.size(); ++i) {
    const LayerMatch& m = options_.matches[i];
    if (m.kind == LayerMatch::Kind::AttentionKl) continue;
    s_tap[i] = &student_taps.at(m.student_layer);
    t_tap[i] = &teacher_taps.at(m.teacher_layer);
  }
  if (!projections_ready_) {  // learn the widths from one example, make the projections
    NoGradGuard no_grad;
    const Tensor one = images.slice(0, 0, 1);
    (*teacher_)(one);
    student_(one);
    for (size_t i = 0; i < options_.matches.size(); ++i) {
      if (options_.matches[i].kind != LayerMatch::Kind::HiddenMse) continue;
      const int64_t ds = s_tap[i]->output.size(-1), dt = t_tap[i]->output.size(-1);
      if (ds != dt) projections_[i] = std::make_shared<nn::Linear>(ds, dt);
    }
    projections_ready_ = true;
  }
  for (const auto& p : projections_)
    if (p) {
      p->train();
      for (const Tensor& w : p->parameters()) params.push_back(w);
    }
  optim::Adam opt(params, optim::AdamOptions{static_cast<float>(options_.learning_rate)});
  data::DataLoader loader(images, labels, options_.batch_size, /*shuffle=*/true, options_.seed);

  std::vector<EpochStats> history;
  for (int64_t epoch = 0; epoch < options_.epochs; ++epoch) {
    EpochStats sum_stats;
    int64_t batches = 0;
    data::Batch batch;
    BatchBar bar(options_.progress, epoch + 1, options_.epochs,
                 (images.size(0) + options_.batch_size - 1) / options_.batch_size);
    while (loader.next(batch)) {
      Tensor t_logits;
      {
        NoGradGuard no_grad;  // the teacher records nothing and gets no gradient
        t_logits = (*teacher_)(batch.x);
      }
      const Tensor s_logits = student_(batch.x);
      Tensor loss = distillation_loss(s_logits, t_logits, batch.y, options_.temperature, options_.alpha);
      double match_value = 0.0;
      for (size_t i = 0; i < options_.matches.size(); ++i) {
        const LayerMatch& m = options_.matches[i];
        Tensor term;
        switch (m.kind) {
          case LayerMatch::Kind::HiddenMse:
            term = hidden_state_mse(s_tap[i]->output, t_tap[i]->output, projections_[i].get());
            break;
          case LayerMatch::Kind::AttentionTransfer:
            term = attention_transfer_loss(s_tap[i]->output, t_tap[i]->output);
            break;
          case LayerMatch::Kind::AttentionKl:
            term = attention_kl(attention_of(student_, m.student_layer), attention_of(*teacher_, m.teacher_layer));
            break;
        }
        term = term * static_cast<float>(m.weight);
        match_value += term.item();
        loss = loss + term;
      }
      opt.zero_grad();
      loss.backward();
      opt.step();
      {
        NoGradGuard no_grad;
        sum_stats.loss += loss.item();
        sum_stats.soft_loss += soft_target_kl(s_logits, t_logits, options_.temperature).item();
        sum_stats.label_loss += cross_entropy(s_logits, batch.y).item();
        sum_stats.match_loss += match_value;
      }
      ++batches;
      bar.update(sum_stats.loss / static_cast<double>(batches));
    }
    bar.clear();
    const double b = static_cast<double>(batches);
    history.push_back({sum_stats.loss / b, sum_stats.soft_loss / b, sum_stats.label_loss / b,
                       sum_stats.match_loss / b});
    if (options_.progress) {
      const EpochStats& s = history.back();
      std::printf("distill epoch %lld/%lld  loss %.4f  (soft %.4f, labels %.4f, match %.4f)\n",
                  static_cast<long long>(epoch + 1), static_cast<long long>(options_.epochs), s.loss,
                  s.soft_loss, s.label_loss, s.match_loss);
      std::fflush(stdout);
    }
  }
  student_.train(was_training);
  return history;
}

}  // namespace nibble
