// Module 05 — hidden (instructor-only) graded tests: random shapes against the loop references,
// extreme logits, size-one edges, gradients on random inputs.
#include <cmath>
#include <string>
#include <vector>

#include "compression/distillation.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "modules/05_distillation/tests/distillation_testing.h"
#include "gradcheck.h"
#include "modules/graded.h"

namespace {
using nibble::Tensor;
using nibble::grading::hint;
}  // namespace

GRADED_TEST(DistillHidden, RandomShapesMatchLoops, 5) {
  nibble::manual_seed(17);
  for (const auto& [n, c] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {5, 3}, {7, 10}, {16, 11}}) {
    const Tensor s = Tensor::randn({n, c}, 0.0f, 2.0f), t = Tensor::randn({n, c}, 0.0f, 3.0f);
    for (const double T : {0.5, 1.0, 3.0, 7.0}) {
      const double want = distill_testing::ref_kd(s, t, T);
      EXPECT_NEAR(nibble::soft_target_kl(s, t, T).item(), want, 1e-5 + 1e-4 * want)
          << hint("N = " + std::to_string(n) + ", C = " + std::to_string(c) + ", T = " + std::to_string(T));
      EXPECT_NEAR(nibble::dark_knowledge_bits(t, T), distill_testing::ref_dark(t, T), 1e-4) << hint("dark knowledge");
    }
  }
  const Tensor sw = distill_testing::attention_weights(3, 4, 5, 7, 0.3);
  const Tensor tw = distill_testing::attention_weights(3, 4, 5, 7, 2.0);
  EXPECT_NEAR(nibble::attention_kl(sw, tw).item(), distill_testing::ref_attention_kl(sw, tw), 1e-5)
      << hint("attention KL per row on [3, 4, 5, 7]");
}

GRADED_TEST(DistillHidden, ExtremeLogitsStayFinite, 4) {
  const Tensor s = Tensor::from_vector({80.0f, -80.0f, 0.0f, -50.0f, 60.0f, 10.0f}, {2, 3});
  const Tensor t = Tensor::from_vector({-70.0f, 90.0f, 5.0f, 40.0f, -40.0f, 0.0f}, {2, 3});
  for (const double T : {1.0, 2.0}) {
    const double got = nibble::soft_target_kl(s, t, T).item();
    EXPECT_TRUE(std::isfinite(got)) << hint("large logits must not overflow: use log_softmax");
    EXPECT_NEAR(got, distill_testing::ref_kd(s, t, T), 1e-3 * distill_testing::ref_kd(s, t, T))
        << hint("large logits, T = " + std::to_string(T));
  }
  EXPECT_TRUE(std::isfinite(nibble::soft_label_entropy_bits(t, 1.0))) << hint("one-hot rows have 0 bits, not NaN");
}

GRADED_TEST(DistillHidden, SizeOneAndSingleClass, 3) {
  const Tensor one = Tensor::from_vector({2.0f}, {1, 1});
  EXPECT_NEAR(nibble::soft_target_kl(one, Tensor::from_vector({-3.0f}, {1, 1}), 2.0).item(), 0.0, 1e-7)
      << hint("one class: both distributions are (1), KL = 0");
  EXPECT_NEAR(nibble::soft_label_entropy_bits(one, 1.0), 0.0, 1e-7) << hint("one class carries 0 bits");
  EXPECT_NEAR(nibble::dark_knowledge_bits(one, 1.0), 0.0, 1e-7) << hint("one class: nothing beyond the argmax");
  const Tensor a = Tensor::from_vector({3.0f}, {1, 1, 1, 1});
  EXPECT_NEAR(nibble::attention_map(a).item(), 1.0, 1e-6) << hint("a single position has map 1 after normalisation");
}

GRADED_TEST(DistillHidden, GradcheckRandom, 4) {
  nibble::manual_seed(3);
  const Tensor t = Tensor::randn({4, 6});
  const std::vector<int64_t> y = {5, 0, 2, 2};
  EXPECT_TRUE(nibble::testing::gradcheck(
      [t, y](const std::vector<Tensor>& x) { return nibble::distillation_loss(x[0], t, y, 5.0, 0.7); },
      {Tensor::randn({4, 6})}))
      << hint("distillation_loss gradient at T = 5");
  EXPECT_TRUE(nibble::testing::gradcheck(
      [](const std::vector<Tensor>& x) { return nibble::attention_map(x[0]); }, {Tensor::randn({2, 3, 2, 3})}))
      << hint("attention_map gradient");
}
