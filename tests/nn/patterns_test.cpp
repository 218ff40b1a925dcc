// The four patterns the compression modules stand on, each on the course's real FashionMlp:
//   1. replace a Linear by a factored pair (module 06) — model surgery;
//   2. swap in a fake-quantized layer whose straight-through backward is written outside core/
//      (module 04) — an extension op through apply_function;
//   3. distil from a cloned, frozen teacher (module 05) — clone() and requires_grad_(false);
//   4. round-trip a pruned model through a checkpoint and keep training (module 03) — masks as state.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "compression/lowrank_layers.h"
#include "core/autograd.h"
#include "core/map.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/models.h"
#include "optim/sgd.h"

namespace nibble {
namespace {

float max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.contiguous().to_vector(), y = b.contiguous().to_vector();
  EXPECT_EQ(x.size(), y.size());
  float m = 0.0f;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// 1. ------------------------------------------------------------------------------------------
TEST(Patterns, ReplaceALinearByAFactoredPair) {
  manual_seed(1);
  nn::FashionMlp mlp;
  const Tensor x = Tensor::rand({4, 1, 28, 28});
  Tensor before;
  {
    NoGradGuard no_grad;
    before = mlp(x);
  }
  const int64_t params_before = mlp.parameter_count();
  // Full rank (128 = min(256, 128)) reproduces the layer; the model's forward now runs the pair.
  auto pair = factorize_linear(mlp, "fc2", 128);
  EXPECT_EQ(&mlp.get_submodule("fc2"), pair.get());
  EXPECT_EQ(mlp.parameter_count(), params_before - 256 * 128 + 128 * (256 + 128));
  {
    NoGradGuard no_grad;
    EXPECT_LT(max_abs_diff(mlp(x), before), 1e-4f);
  }
  // The typed accessor refuses the old type instead of handing out a stale layer.
  EXPECT_THROW(mlp.fc2(), Error);
  // Training reaches the new factors.
  cross_entropy(mlp(x), {0, 1, 2, 3}).backward();
  EXPECT_TRUE(pair->down().weight.grad().defined());
  EXPECT_TRUE(pair->up().weight.grad().defined());
}

// 2. ------------------------------------------------------------------------------------------
// Symmetric 8-bit fake quantization of a weight with a fixed scale, written the way a student (or
// module 04) writes it: forward quantize -> dequantize, backward the straight-through estimator
// (gradient passed unchanged inside the clamp range, zero outside).
Tensor fake_quantize_ste(const Tensor& w, float scale) {
  return apply_function(
      "fake_quantize_ste", {w},
      [scale](FunctionCtx& ctx, const std::vector<Tensor>& in) {
        ctx.save_for_backward({in[0]});
        return map_elements(in[0], [scale](float v) {
          return std::nearbyint(std::min(std::max(v / scale, -127.0f), 127.0f)) * scale;
        });
      },
      [scale](const FunctionCtx& ctx, const Tensor& g) {
        const Tensor& w0 = ctx.saved_tensors()[0];
        return grads{map_elements(g, w0, [scale](float gi, float wi) {
          return std::abs(wi / scale) <= 127.0f ? gi : 0.0f;
        })};
      });
}

class FakeQuantLinear : public nn::Module {
 public:
  FakeQuantLinear(std::shared_ptr<nn::Linear> inner, float scale) : scale_(scale) {
    register_module("inner", std::move(inner));
  }
  Tensor forward(const Tensor& x) override {  // x [B, in] -> [B, out]
    const nn::Linear& lin = get_submodule_as<nn::Linear>("inner");
    return add(matmul(x, fake_quantize_ste(lin.weight, scale_).t()), lin.bias);
  }
  std::string name() const override { return "FakeQuantLinear"; }

 private:
  float scale_;
};

TEST(Patterns, SwapInAFakeQuantizedLayerWithAStraightThroughBackward) {
  manual_seed(2);
  nn::FashionMlp mlp;
  const Tensor x = Tensor::rand({3, 1, 28, 28});
  const std::vector<int64_t> y = {4, 5, 6};
  // A scale that clips: the largest weights fall outside [-127, 127]·scale, so the STE's zero
  // branch is exercised too.
  const float scale = 0.5f * mlp.fc3().weight.abs().max().item() / 127.0f;

  // The reference: a deep copy whose fc3 holds the quantized values as ordinary weights,
  // quantized here by a loop of its own.
  auto ref = mlp.clone_as<nn::FashionMlp>();
  std::vector<float> inside;  // 1 where |w / scale| <= 127 (the STE passes the gradient), else 0
  {
    Tensor w = ref->fc3().weight;
    float* p = w.data();
    for (int64_t i = 0; i < w.numel(); ++i) {
      const float q = std::max(-127.0f, std::min(127.0f, std::nearbyint(p[i] / scale)));
      inside.push_back(std::abs(p[i] / scale) <= 127.0f ? 1.0f : 0.0f);
      p[i] = q * scale;
    }
  }
  ASSERT_GT(std::count(inside.begin(), inside.end(), 0.0f), 0) << "the scale must clip some weights";

  // The swap: fc3 becomes a FakeQuantLinear wrapping the very same Linear.
  std::shared_ptr<nn::Linear> fc3;
  for (const auto& [name, child] : mlp.named_children())
    if (name == "fc3") fc3 = std::dynamic_pointer_cast<nn::Linear>(child);
  ASSERT_NE(fc3, nullptr);
  mlp.replace_module("fc3", std::make_shared<FakeQuantLinear>(fc3, scale));
  EXPECT_EQ(mlp.parameter_count(), ref->parameter_count()) << "the wrapper adds no parameters";

  const Tensor out = mlp(x), out_ref = (*ref)(x);
  EXPECT_LT(max_abs_diff(out, out_ref), 1e-5f) << "forward runs on the quantized weights";
  cross_entropy(out, y).backward();
  cross_entropy(out_ref, y).backward();
  // STE: dL/dw = dL/dw_q inside the range, 0 outside.
  const std::vector<float> g = fc3->weight.grad().to_vector(), g_ref = ref->fc3().weight.grad().to_vector();
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], g_ref[i] * inside[i], 1e-6f) << "weight " << i;
  // Layers below see the same gradient as in the reference.
  EXPECT_LT(max_abs_diff(mlp.fc1().weight.grad(), ref->fc1().weight.grad()), 1e-6f);
}

// 3. ------------------------------------------------------------------------------------------
TEST(Patterns, DistilFromAClonedFrozenTeacher) {
  manual_seed(3);
  nn::FashionMlp teacher;
  const Tensor x = Tensor::rand({16, 1, 28, 28});
  // The student starts as a deep copy of the teacher with its last layer re-drawn, and learns the
  // teacher's soft labels; the frozen teacher must come out bit-identical.
  auto student = teacher.clone_as<nn::FashionMlp>();
  teacher.requires_grad_(false).eval();
  const std::vector<float> teacher_before = teacher.fc1().weight.to_vector();
  const std::vector<float> student_before = student->fc1().weight.to_vector();
  ASSERT_EQ(teacher_before, student_before);
  {
    Tensor w3 = student->fc3().weight;  // writing the clone must not touch the teacher's storage
    float* p = w3.data();
    for (int64_t i = 0; i < w3.numel(); ++i) p[i] = 0.3f * random_normal();
  }
  ASSERT_NE(student->fc3().weight.to_vector(), teacher.fc3().weight.to_vector());

  optim::SGD opt(student->parameters(), {/*lr=*/0.05f});
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 20; ++step) {
    Tensor soft;
    {
      NoGradGuard no_grad;
      soft = softmax(mul(teacher(x), 0.5f), -1);  // temperature 2
    }
    opt.zero_grad();
    // Cross-entropy against the teacher's soft labels: -sum p_t log p_s / B.
    const Tensor loss = neg(mean(sum(mul(soft, log_softmax(mul((*student)(x), 0.5f), -1)), -1)));
    loss.backward();
    EXPECT_FALSE(teacher.fc1().weight.grad().defined()) << "a frozen teacher gets no gradient";
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first) << "the student's loss falls";
  EXPECT_EQ(teacher.fc1().weight.to_vector(), teacher_before) << "the teacher is untouched";
  EXPECT_NE(student->fc1().weight.to_vector(), student_before) << "the student trained";
}

// 4. ------------------------------------------------------------------------------------------
TEST(Patterns, RoundTripAPrunedModelThroughACheckpoint) {
  manual_seed(4);
  nn::FashionMlp mlp;
  // Prune the smaller half of fc1's weights by magnitude (threshold from a sorted copy).
  Tensor w = mlp.fc1().weight;
  std::vector<float> mags;
  for (float v : w.to_vector()) mags.push_back(std::abs(v));
  std::vector<float> sorted = mags;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const float threshold = sorted[sorted.size() / 2];
  std::vector<float> keep;
  for (float m : mags) keep.push_back(m >= threshold ? 1.0f : 0.0f);
  w.set_mask(Tensor::from_vector(keep, w.shape()));

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("nibble_patterns_" + std::to_string(::getpid()) + ".ckpt")).string();
  nn::save(mlp, path);
  nn::FashionMlp loaded;  // fresh weights, no mask
  nn::load(loaded, path);
  std::filesystem::remove(path);

  const Tensor lw = loaded.fc1().weight;
  ASSERT_TRUE(lw.mask().defined()) << "the mask came back from the checkpoint";
  EXPECT_EQ(lw.mask().to_vector(), keep);
  EXPECT_EQ(lw.to_vector(), w.to_vector()) << "same weights, zeros included";

  // One training step: the pruned weights stay exactly zero, the kept ones move.
  optim::SGD opt(loaded.parameters(), {/*lr=*/0.1f});
  cross_entropy(loaded(Tensor::rand({8, 1, 28, 28})), {0, 1, 2, 3, 4, 5, 6, 7}).backward();
  opt.step();
  const std::vector<float> after = loaded.fc1().weight.to_vector(), before = w.to_vector();
  int64_t moved = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    if (keep[i] == 0.0f) {
      ASSERT_EQ(after[i], 0.0f) << "pruned weight " << i << " came back";
    }
    moved += after[i] != before[i];
  }
  EXPECT_GT(moved, 0);
}

}  // namespace
}  // namespace nibble
