// The library half of module 05 (compression/distillation.h): attention_transfer_loss and the
// Distiller — the teacher stays bit-identical, every mix of losses trains, projections appear when
// widths differ, bad layer names are rejected. The graded functions have their own tests in
// modules/05_distillation/.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "compression/distillation.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "gradcheck.h"
#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/sequential.h"

namespace nibble {
namespace {

using nn::Sequential;

std::shared_ptr<Sequential> mlp(int64_t in, int64_t hidden, int64_t out) {
  return std::make_shared<Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(in, hidden), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(hidden, out)});
}

// 96 points in 6-D, 3 classes given by which of three fixed directions scores highest.
struct Toy {
  Tensor x;
  std::vector<int64_t> y;
};
Toy toy_data() {
  manual_seed(11);
  Toy d{Tensor::randn({96, 6}), {}};
  const std::vector<float> v = d.x.to_vector();
  for (size_t i = 0; i < 96; ++i) {
    const float* r = v.data() + i * 6;
    const float s0 = r[0] + r[1], s1 = r[2] - r[3], s2 = r[4] + 0.5f * r[5];
    d.y.push_back(s0 >= s1 && s0 >= s2 ? 0 : (s1 >= s2 ? 1 : 2));
  }
  return d;
}

std::vector<std::vector<float>> snapshot(const nn::Module& m) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, t] : m.state_dict()) out.push_back(t.contiguous().to_vector());
  return out;
}

TEST(Distiller, TeacherIsBitIdenticalAfterTrainingTheStudent) {
  const Toy d = toy_data();
  auto teacher = mlp(6, 32, 3);
  auto student = mlp(6, 8, 3);
  const auto before = snapshot(*teacher);
  const auto student_before = snapshot(*student);
  DistillerOptions o;
  o.epochs = 2;
  o.batch_size = 16;
  o.progress = false;
  o.matches = {{LayerMatch::Kind::HiddenMse, "1", "1", 0.5}};  // widths 8 vs 32: a projection
  Distiller distiller(*teacher, *student, o);
  distiller.fit(d.x, d.y);
  const auto after = snapshot(*teacher);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i)
    for (size_t j = 0; j < before[i].size(); ++j)
      ASSERT_EQ(std::memcmp(&before[i][j], &after[i][j], sizeof(float)), 0) << "teacher tensor " << i << " changed";
  EXPECT_NE(snapshot(*student), student_before) << "the student must have been trained";
  for (const Tensor& p : distiller.teacher().parameters()) {
    EXPECT_FALSE(p.requires_grad()) << "the Distiller's teacher copy is frozen";
    EXPECT_FALSE(p.grad().defined()) << "the teacher copy never receives a gradient";
  }
  EXPECT_FALSE(distiller.teacher().is_training()) << "the teacher copy runs in eval mode";
  // The student's layers are back in place after fit (no Tap left behind).
  EXPECT_EQ(student->get_submodule("1").name(), "ReLU");
  ASSERT_NE(distiller.projection(0), nullptr) << "widths 8 and 32 need a projection";
  EXPECT_EQ(distiller.projection(0)->in_features, 8);
  EXPECT_EQ(distiller.projection(0)->out_features, 32);
}

TEST(Distiller, LearnsFromATrainedTeacher) {
  const Toy d = toy_data();
  auto teacher = mlp(6, 32, 3);
  DistillerOptions pre;  // train the teacher on labels alone (alpha = 0), itself as its own "teacher"
  pre.alpha = 0.0;
  pre.epochs = 30;
  pre.batch_size = 16;
  pre.learning_rate = 1e-2;
  pre.progress = false;
  Distiller(*teacher, *teacher, pre).fit(d.x, d.y);
  auto student = mlp(6, 16, 3);
  DistillerOptions o;
  o.alpha = 1.0;  // the labels are ignored: everything the student learns comes from the teacher
  o.temperature = 2.0;
  o.epochs = 30;
  o.batch_size = 16;
  o.learning_rate = 1e-2;
  o.progress = false;
  const std::vector<EpochStats> h = Distiller(*teacher, *student, o).fit(d.x, d.y);
  ASSERT_EQ(h.size(), 30u);
  EXPECT_LT(h.back().soft_loss, 0.5 * h.front().soft_loss) << "the soft loss must fall";
  NoGradGuard g;
  const std::vector<int64_t> ts = argmax((*teacher)(d.x), 1), ss = argmax((*student)(d.x), 1);
  int agree = 0;
  for (size_t i = 0; i < 96; ++i) agree += ts[i] == ss[i];
  EXPECT_GE(agree, 80) << "the student should copy most of the teacher's decisions without seeing a label";
}

TEST(Distiller, AttentionTransferAndAttentionKlTrain) {
  manual_seed(2);
  // CNN pair: activations of the first conv (4 vs 2 channels, same 5x5 size).
  auto cnn = [](int64_t c) {
    return std::make_shared<Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Conv2d>(1, c, Size2(3), Conv2dOptions{Size2(1), Size2(1)}), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(c * 25, 3)});
  };
  auto teacher = cnn(4), student = cnn(2);
  const Tensor x = Tensor::randn({12, 1, 5, 5});
  const std::vector<int64_t> y = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2};
  DistillerOptions o;
  o.epochs = 3;
  o.batch_size = 4;
  o.progress = false;
  o.matches = {{LayerMatch::Kind::AttentionTransfer, "1", "1", 10.0}};
  const auto h = Distiller(*teacher, *student, o).fit(x, y);
  EXPECT_GT(h.front().match_loss, 0.0);
  EXPECT_TRUE(std::isfinite(h.back().loss));
  // Transformer pair: attention KL between one MultiHeadAttention each (2 heads both).
  auto tiny = [](int64_t d) {
    return std::make_shared<Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::MultiHeadAttention>(d, 2), std::make_shared<nn::Flatten>(),
        std::make_shared<nn::Linear>(3 * d, 3)});
  };
  auto tt = tiny(4);
  auto ts = tiny(4);
  const Tensor seq = Tensor::randn({12, 3, 4});
  o.matches = {{LayerMatch::Kind::AttentionKl, "0", "0", 1.0}};
  o.epochs = 20;
  const auto ha = Distiller(*tt, *ts, o).fit(seq, y);
  EXPECT_LT(ha.back().match_loss, ha.front().match_loss) << "attention KL must fall while it is trained";
}

// Progress: in a log (gtest captures stdout into a file, not a terminal) the bar is never drawn —
// exactly one summary line per epoch and no carriage return; progress = false prints nothing.
TEST(Distiller, ProgressPrintsOneLinePerEpochOffATerminalAndNothingWhenOff) {
  const Toy d = toy_data();
  auto teacher = mlp(6, 32, 3);
  DistillerOptions o;
  o.epochs = 3;
  o.batch_size = 16;
  o.progress = true;
  auto student = mlp(6, 8, 3);
  ::testing::internal::CaptureStdout();
  Distiller(*teacher, *student, o).fit(d.x, d.y);
  const std::string log = ::testing::internal::GetCapturedStdout();
  size_t lines = 0;
  for (const char c : log) lines += c == '\n' ? 1 : 0;
  EXPECT_EQ(lines, 3u) << "one line per epoch, got:\n" << log;
  EXPECT_EQ(log.find('\r'), std::string::npos) << "no bar redrawn in place when stdout is not a terminal";
  EXPECT_NE(log.find("distill epoch 3/3"), std::string::npos) << log;

  o.progress = false;
  auto quiet = mlp(6, 8, 3);
  ::testing::internal::CaptureStdout();
  Distiller(*teacher, *quiet, o).fit(d.x, d.y);
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "") << "progress = false prints nothing";
}

TEST(Distiller, RejectsBadOptionsNamingThem) {
  auto teacher = mlp(6, 8, 3), student = mlp(6, 4, 3);
  DistillerOptions o;
  o.matches = {{LayerMatch::Kind::HiddenMse, "fc9", "1", 1.0}};
  try {
    Distiller(*teacher, *student, o);
    FAIL() << "an unknown layer name must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("student_layer 'fc9'"), std::string::npos) << e.what();
  }
  o.matches = {{LayerMatch::Kind::HiddenMse, "1", "nope", 1.0}};
  EXPECT_THROW(Distiller(*teacher, *student, o), Error);
  o.matches = {};
  o.temperature = -1.0;
  EXPECT_THROW(Distiller(*teacher, *student, o), Error);
  o.temperature = 2.0;
  o.alpha = 2.0;
  EXPECT_THROW(Distiller(*teacher, *student, o), Error);
}

TEST(AttentionTransferLoss, MatchesLoopsAndIsDifferentiable) {
  const Tensor s = Tensor::from_vector({1.0f, 0.0f, 1.0f, 2.0f}, {1, 2, 1, 2});  // map (2, 4)/√20
  const Tensor t = Tensor::from_vector({3.0f, 0.0f}, {1, 1, 1, 2});              // map (1, 0)
  const double a = 2.0 / std::sqrt(20.0), b = 4.0 / std::sqrt(20.0);
  EXPECT_NEAR(attention_transfer_loss(s, t).item(), (a - 1) * (a - 1) + b * b, 1e-6);
  EXPECT_NEAR(attention_transfer_loss(s, s).item(), 0.0, 1e-7);
  manual_seed(4);
  const Tensor tt = Tensor::randn({2, 5, 3, 3});
  EXPECT_TRUE(testing::gradcheck([tt](const std::vector<Tensor>& x) { return attention_transfer_loss(x[0], tt); },
                                 {Tensor::randn({2, 3, 3, 3})}));
  EXPECT_THROW(attention_transfer_loss(s, Tensor::zeros({1, 2, 2, 2})), Error);
}

}  // namespace
}  // namespace nibble
