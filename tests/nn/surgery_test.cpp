// Model surgery (replace_module), deep clone(), freezing (requires_grad_) and the optimizer recipe
// after surgery: the patterns of the compression modules (low-rank, QAT, distillation).
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <type_traits>

#include "gradcheck.h"
#include "nn/models.h"
#include "nn/nn.h"
#include "nn/quantized_models.h"
#include "optim/optim.h"

namespace nibble::nn {
namespace {

using nibble::testing::throws_error_containing;

// x [B,4] -> fc1 [B,6] -> tanh -> fc2 [B,2]; children called by name, as nn/models.h does.
struct Net : Module {
  Net() {
    register_module("fc1", std::make_shared<Linear>(4, 6));
    register_module("fc2", std::make_shared<Linear>(6, 2));
  }
  Tensor forward(const Tensor& x) override { return child("fc2")(tanh(child("fc1")(x))); }
  Linear& fc1() const { return get_submodule_as<Linear>("fc1"); }
  std::string name() const override { return "Net"; }

 protected:
  std::shared_ptr<Module> make_like() const override { return std::make_shared<Net>(); }
};

std::vector<std::string> names_of(const NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors) out.push_back(name);
  return out;
}

void set_values(Tensor& t, const std::vector<float>& values) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) t.data()[i] = values[i];
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  float d = 0.0f;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(x[i] - y[i]));
  return d;
}

// ---- replace_module ----------------------------------------------------------------------------

// fc1 (W [6,4]) replaced by a factored pair B·A (A [3,4], B [6,3]) with W = B A: same outputs, a
// different parameter list, and the gradient flows into the new factors.
TEST(ModuleSurgery, FactoredPairComputesTheSameAndChangesTheParameters) {
  manual_seed(21);
  Net net;
  const Tensor A = Tensor::randn({3, 4}), B = Tensor::randn({6, 3});
  // W = B A in double precision, written into fc1 by hand.
  std::vector<float> w(24);
  for (int o = 0; o < 6; ++o)
    for (int i = 0; i < 4; ++i) {
      double acc = 0.0;
      for (int r = 0; r < 3; ++r) acc += double(B.at({o, r})) * double(A.at({r, i}));
      w[o * 4 + i] = static_cast<float>(acc);
    }
  set_values(net.fc1().weight, w);
  const Tensor x = Tensor::randn({5, 4});
  const Tensor before = net(x);

  auto first = std::make_shared<Linear>(4, 3, /*bias=*/false);
  auto second = std::make_shared<Linear>(3, 6);
  set_values(first->weight, A.to_vector());
  set_values(second->weight, B.to_vector());
  set_values(second->bias, net.fc1().bias.to_vector());
  const std::shared_ptr<Module> old = net.replace_module("fc1", std::make_shared<Sequential>(
                                                                    std::vector<std::shared_ptr<Module>>{first, second}));
  EXPECT_EQ(old->name(), "Linear");
  EXPECT_LT(max_abs_diff(net(x), before), 1e-5f);

  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"fc1.0.weight", "fc1.1.weight", "fc1.1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(names_of(net.state_dict()), names_of(net.named_parameters()));
  EXPECT_EQ(net.parameter_count(), 3 * 4 + 6 * 3 + 6 + 6 * 2 + 2);
  std::set<const TensorImpl*> params;
  for (const Tensor& p : net.parameters()) params.insert(p.impl());
  EXPECT_EQ(params.count(first->weight.impl()), 1u);
  EXPECT_EQ(params.count(dynamic_cast<Linear&>(*old).weight.impl()), 0u);

  sum(net(x)).backward();
  EXPECT_TRUE(first->weight.grad().defined());
  EXPECT_TRUE(second->weight.grad().defined());
  EXPECT_FALSE(dynamic_cast<Linear&>(*old).weight.grad().defined()) << "the old layer is out of the graph";
}

TEST(ModuleSurgery, ADifferentLayerChangesTheOutput) {
  manual_seed(22);
  Net net;
  const Tensor x = Tensor::randn({5, 4});
  const Tensor before = net(x);
  net.replace_module("fc1", std::make_shared<Linear>(4, 6));  // new random weights
  EXPECT_GT(max_abs_diff(net(x), before), 1e-3f);
  const Tensor with_linear = net(x);
  net.replace_module("fc2", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                std::make_shared<Linear>(6, 2), std::make_shared<Tanh>()}));
  const Tensor y = net(x);
  EXPECT_GT(max_abs_diff(y, with_linear), 1e-3f);
  for (float v : y.to_vector()) EXPECT_LE(std::fabs(v), 1.0f) << "the new Tanh runs last";
}

// The course models go through the registry: after surgery forward uses the new layer and the
// typed accessor refuses to hand out a Linear that is not there.
TEST(ModuleSurgery, CourseModelsRunTheReplacementAndCheckTypedAccess) {
  manual_seed(23);
  FashionMlp mlp;
  const Tensor images = Tensor::rand({2, 1, 28, 28});
  const Tensor before = mlp(images);
  mlp.replace_module("fc2", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                std::make_shared<Linear>(256, 16, false), std::make_shared<Linear>(16, 128)}));
  EXPECT_GT(max_abs_diff(mlp(images), before), 1e-4f);
  EXPECT_EQ(mlp.fc1().out_features, 256);
  EXPECT_TRUE(throws_error_containing([&] { mlp.fc2(); }, "FashionMlp::fc2: 'fc2' is now a Sequential, not a Linear"));
  EXPECT_TRUE(throws_error_containing([&] { QuantizedFashionMlp::from_float(mlp, images); },
                                      "'fc2' is now a Sequential, not a Linear"));

  FashionCnn cnn;
  const Tensor cnn_before = cnn(images);
  cnn.replace_module("pool", std::make_shared<AvgPool2d>(2));
  EXPECT_GT(max_abs_diff(cnn(images), cnn_before), 1e-4f);
  EXPECT_TRUE(throws_error_containing([&] { cnn.pool(); }, "'pool' is now a AvgPool2d, not a MaxPool2d"));
}

TEST(ModuleSurgery, DeepReplacementInsideAttention) {
  manual_seed(24);
  TransformerBlock block(8, 2);
  const Tensor x = Tensor::randn({1, 3, 8});
  const Tensor before = block(x);
  block.replace_module("attn.q_proj", std::make_shared<Linear>(8, 8));
  EXPECT_GT(max_abs_diff(block(x), before), 1e-4f);
  EXPECT_EQ(&block.attn().q_proj(), &block.get_submodule("attn.q_proj"));
}

TEST(ModuleSurgery, Errors) {
  Net net;
  EXPECT_TRUE(throws_error_containing([&] { net.replace_module("fc3", std::make_shared<Linear>(4, 6)); },
                                      "this Net has no child 'fc3'"));
  EXPECT_TRUE(throws_error_containing([&] { net.replace_module("fc1.inner", std::make_shared<Linear>(4, 6)); },
                                      "'fc1' (a Linear) has no child 'inner'"));
  EXPECT_TRUE(throws_error_containing([&] { net.replace_module("fc9.inner", std::make_shared<Linear>(4, 6)); },
                                      "no submodule 'fc9.inner': this Net has no child 'fc9'"));
  EXPECT_TRUE(throws_error_containing([&] { net.replace_module("", std::make_shared<Linear>(4, 6)); },
                                      "a model cannot replace itself"));
  EXPECT_TRUE(throws_error_containing([&] { net.replace_module("fc1", nullptr); }, "is null"));
  // The same layer in two places would be listed twice by parameters().
  const std::shared_ptr<Module> fc2 = net.named_children()[1].second;
  EXPECT_TRUE(throws_error_containing([&] { net.replace_module("fc1", fc2); },
                                      "the replacement for 'fc1' is a Linear that is already part of this Net"));
  EXPECT_EQ(net.named_parameters().size(), 4u) << "a rejected replacement changes nothing";
  // Wrapping the old layer is fine: it leaves its old place.
  const std::shared_ptr<Module> fc1 = net.named_children()[0].second;
  net.replace_module("fc1", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{fc1, std::make_shared<ReLU>()}));
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"fc1.0.weight", "fc1.0.bias", "fc2.weight", "fc2.bias"}));
}

// ---- clone -------------------------------------------------------------------------------------

static_assert(!std::is_copy_constructible_v<Module> && !std::is_copy_assignable_v<Module>);
static_assert(!std::is_copy_constructible_v<FashionMlp> && !std::is_copy_assignable_v<FashionMlp>,
              "auto student = teacher; must not compile: it would share the weights");
static_assert(!std::is_copy_constructible_v<Linear> && !std::is_copy_constructible_v<Net>);

TEST(ModuleClone, CloneTrainsWithoutTouchingTheOriginal) {
  manual_seed(31);
  FashionMlp teacher;
  const std::shared_ptr<FashionMlp> student = teacher.clone_as<FashionMlp>();
  const NamedTensors t = teacher.state_dict(), s = student->state_dict();
  ASSERT_EQ(names_of(t), names_of(s));
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_NE(t[i].second.impl(), s[i].second.impl()) << t[i].first;
    EXPECT_NE(t[i].second.data(), s[i].second.data()) << t[i].first << " shares storage";
    EXPECT_EQ(t[i].second.to_vector(), s[i].second.to_vector()) << t[i].first;
  }
  const Tensor images = Tensor::rand({8, 1, 28, 28});
  const std::vector<int64_t> labels = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ((*student)(images).to_vector(), teacher(images).to_vector());

  std::vector<std::vector<float>> teacher_before;
  for (const Tensor& p : teacher.parameters()) teacher_before.push_back(p.to_vector());
  optim::SGD opt(student->parameters(), {0.1f, 0.9f});
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    cross_entropy((*student)(images), labels).backward();
    opt.step();
  }
  const std::vector<Tensor> tp = teacher.parameters();
  for (size_t i = 0; i < tp.size(); ++i) {
    EXPECT_EQ(tp[i].to_vector(), teacher_before[i]) << "teacher parameter " << i << " changed";
    EXPECT_FALSE(tp[i].grad().defined()) << "teacher parameter " << i << " got a gradient";
  }
  EXPECT_GT(max_abs_diff(student->fc1().weight, teacher.fc1().weight), 0.0f) << "the student did not train";
}

TEST(ModuleClone, CloneAfterSurgeryHasTheSameStructure) {
  manual_seed(32);
  Net net;
  net.replace_module("fc1", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                std::make_shared<Linear>(4, 2, false), std::make_shared<Linear>(2, 6)}));
  std::vector<float> keep(12, 1.0f);
  keep[0] = keep[5] = 0.0f;
  net.get_parameter("fc1.1.weight").set_mask(Tensor::from_vector(keep, {6, 2}));
  net.eval();
  net.get_submodule("fc2").train();
  const std::shared_ptr<Net> copy = net.clone_as<Net>();
  EXPECT_EQ(names_of(copy->state_dict()), names_of(net.state_dict()));
  EXPECT_NE(dynamic_cast<Sequential*>(&copy->get_submodule("fc1")), nullptr);
  EXPECT_NE(&copy->get_submodule("fc1"), &net.get_submodule("fc1"));
  EXPECT_FALSE(copy->is_training());
  EXPECT_FALSE(copy->get_submodule("fc1.0").is_training());
  EXPECT_TRUE(copy->get_submodule("fc2").is_training());
  const Tensor x = Tensor::randn({3, 4});
  EXPECT_EQ((*copy)(x).to_vector(), net(x).to_vector());
  // A clone of the clone too, and the mask came along in new storage.
  const std::shared_ptr<Module> copy2 = copy->clone();
  EXPECT_EQ((*copy2)(x).to_vector(), net(x).to_vector());
  const Tensor m = net.get_parameter("fc1.1.weight").mask(), m2 = copy2->get_parameter("fc1.1.weight").mask();
  ASSERT_TRUE(m2.defined());
  EXPECT_NE(m.data(), m2.data());
  EXPECT_EQ(m2.to_vector(), m.to_vector());
  // Changing the clone leaves the original alone.
  copy->get_parameter("fc2.bias").data()[0] += 1.0f;
  EXPECT_NE((*copy)(x).to_vector(), net(x).to_vector());
}

// A replacement of the same type but another configuration (no tensors tell them apart) is
// cloned as it is now, not rebuilt from the model's constructor.
TEST(ModuleClone, ReplacementOfTheSameTypeKeepsItsConfiguration) {
  manual_seed(34);
  FashionCnn cnn;
  cnn.replace_module("pool", std::make_shared<MaxPool2d>(3, 2, 1));  // 28 -> 14 like MaxPool2d(2)
  const std::shared_ptr<FashionCnn> copy = cnn.clone_as<FashionCnn>();
  EXPECT_EQ(copy->pool().kernel.h, 3);
  const Tensor images = Tensor::rand({2, 1, 28, 28});
  EXPECT_EQ((*copy)(images).to_vector(), cnn(images).to_vector());
}

TEST(ModuleClone, CopiesFrozenFlagsAndEveryLayerKind) {
  manual_seed(33);
  Sequential net({std::make_shared<Conv2d>(1, 2, 3, Conv2dOptions{2, 1}), std::make_shared<ReLU>(),
                  std::make_shared<MaxPool2d>(2), std::make_shared<Dropout>(0.25f), std::make_shared<Flatten>(),
                  std::make_shared<LayerNorm>(Shape{2 * 2 * 2}), std::make_shared<Linear>(8, 8)});
  net.get_submodule("5").requires_grad_(false);
  net.eval();
  const std::shared_ptr<Sequential> copy = net.clone_as<Sequential>();
  ASSERT_EQ(copy->size(), net.size());
  for (size_t i = 0; i < net.size(); ++i) EXPECT_EQ((*copy)[i]->name(), net[i]->name());
  EXPECT_EQ(dynamic_cast<Conv2d&>(*(*copy)[0]).options.stride.h, 2);
  EXPECT_FALSE(copy->get_parameter("5.weight").requires_grad());
  EXPECT_TRUE(copy->get_parameter("6.weight").requires_grad());
  const Tensor x = Tensor::randn({2, 1, 8, 8});
  EXPECT_EQ((*copy)(x).to_vector(), net(x).to_vector());
}

TEST(ModuleClone, Errors) {
  struct NoMakeLike : Module {
    NoMakeLike() { register_parameter("w", Tensor::zeros({1})); }
  };
  NoMakeLike m;
  EXPECT_TRUE(throws_error_containing([&] { m.clone(); }, "NoMakeLike does not implement make_like()"));
  Net net;
  EXPECT_TRUE(throws_error_containing([&] { net.clone_as<Linear>(); }, "this module is a Net, not a Linear"));
  // A child without make_like is fine as long as it was built by its parent's constructor.
  struct Parent : Module {
    Parent() { register_module("inner", std::make_shared<NoMakeLike>()); }
    std::shared_ptr<Module> make_like() const override { return std::make_shared<Parent>(); }
  };
  Parent p;
  p.get_parameter("inner.w").data()[0] = 3.0f;
  EXPECT_EQ(p.clone()->get_parameter("inner.w").item(), 3.0f);
}

// ---- freezing and the optimizer recipe ---------------------------------------------------------

TEST(ModuleFreeze, FrozenModuleGetsNoGradientAndTheOptimizerSkipsIt) {
  manual_seed(41);
  Net net;
  Module& returned = net.get_submodule("fc1").requires_grad_(false);
  EXPECT_EQ(&returned, &net.get_submodule("fc1"));
  for (const auto& [name, p] : net.named_parameters()) EXPECT_EQ(p.requires_grad(), name.rfind("fc2", 0) == 0) << name;
  optim::SGD opt(net.parameters(), {0.5f});  // all parameters, frozen ones included
  const std::vector<float> fc1_before = net.fc1().weight.to_vector();
  const std::vector<float> fc2_before = net.get_parameter("fc2.weight").to_vector();
  const Tensor x = Tensor::randn({4, 4});
  sum(net(x)).backward();
  EXPECT_FALSE(net.fc1().weight.grad().defined());
  EXPECT_TRUE(net.get_parameter("fc2.weight").grad().defined());
  opt.step();
  EXPECT_EQ(net.fc1().weight.to_vector(), fc1_before);
  EXPECT_NE(net.get_parameter("fc2.weight").to_vector(), fc2_before);

  // A gradient left over from before the freeze is not applied either.
  net.requires_grad_(true);
  opt.zero_grad();
  sum(net(x)).backward();
  net.requires_grad_(false);
  const std::vector<float> all_before = net.get_parameter("fc2.weight").to_vector();
  opt.step();
  EXPECT_EQ(net.get_parameter("fc2.weight").to_vector(), all_before);
}

// Distillation's set-up: a frozen clone as the teacher, the student trained against it.
TEST(ModuleFreeze, FrozenCloneTeachesAStudent) {
  manual_seed(42);
  Net student;
  const std::shared_ptr<Module> teacher = student.clone();
  teacher->requires_grad_(false).eval();
  for (Tensor& p : student.parameters()) p.data()[0] += 0.5f;  // start the student elsewhere
  optim::Adam opt(student.parameters(), {0.05f});
  const Tensor x = Tensor::randn({16, 4});
  float first = 0.0f, last = 0.0f;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    const Tensor d = sub(student(x), (*teacher)(x));
    Tensor loss = mean(mul(d, d));
    loss.backward();
    (step == 0 ? first : last) = loss.item();
    opt.step();
  }
  EXPECT_LT(last, 0.1f * first);
  for (const Tensor& p : teacher->parameters()) EXPECT_FALSE(p.grad().defined());
}

// The documented recipe (optim/README.md): do the surgery, then build the optimizer from
// model.parameters(). An optimizer built before keeps the old tensors and never updates the new.
TEST(ModuleSurgery, OptimizerBuiltAfterSurgeryTrainsTheNewLayer) {
  manual_seed(43);
  Net net;
  optim::SGD stale(net.parameters(), {0.1f});
  auto fresh_fc1 = std::make_shared<Linear>(4, 6);
  net.replace_module("fc1", fresh_fc1);
  const std::vector<float> w_before = fresh_fc1->weight.to_vector();
  const Tensor x = Tensor::randn({4, 4});

  sum(net(x)).backward();
  stale.step();
  EXPECT_EQ(fresh_fc1->weight.to_vector(), w_before) << "the stale optimizer does not know the new layer";

  optim::SGD opt(net.parameters(), {0.1f});  // the recipe
  opt.zero_grad();
  sum(net(x)).backward();
  opt.step();
  EXPECT_NE(fresh_fc1->weight.to_vector(), w_before);
}

}  // namespace
}  // namespace nibble::nn
