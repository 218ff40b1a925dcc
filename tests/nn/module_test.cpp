// Module: registration, names, train/eval, state dicts.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "nn/nn.h"

namespace nibble::nn {
namespace {

using nibble::testing::throws_error_containing;

struct TwoLayer : Module {
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<Dropout> drop;
  Tensor running;
  TwoLayer() {
    fc1 = register_module("fc1", std::make_shared<Linear>(4, 3));
    drop = register_module("drop", std::make_shared<Dropout>(0.5f));
    fc2 = register_module("fc2", std::make_shared<Linear>(3, 2, /*bias=*/false));
    running = register_buffer("running", Tensor::zeros({2}));
  }
  Tensor forward(const Tensor& x) override { return fc2->forward(drop->forward(relu(fc1->forward(x)))); }
};

TEST(Module, NamesFollowRegistrationOrder) {
  TwoLayer m;
  std::vector<std::string> names;
  for (auto& [name, t] : m.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight"}));
  EXPECT_EQ(m.named_buffers().size(), 1u);
  EXPECT_EQ(m.named_buffers()[0].first, "running");
  EXPECT_EQ(m.state_dict().size(), 4u);
  EXPECT_EQ(m.parameter_count(), 4 * 3 + 3 + 3 * 2);
  for (const Tensor& p : m.parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(Module, TrainEvalPropagatesToChildren) {
  TwoLayer m;
  EXPECT_TRUE(m.drop->is_training());
  m.eval();
  EXPECT_FALSE(m.drop->is_training());
  const Tensor x = Tensor::randn({5, 4});
  // In eval mode dropout is the identity, so two calls agree exactly.
  EXPECT_EQ(m(x).to_vector(), m(x).to_vector());
  m.train();
  EXPECT_TRUE(m.fc1->is_training());
}

TEST(Module, ZeroGradClearsEveryParameter) {
  TwoLayer m;
  m.eval();
  m(Tensor::randn({2, 4})).sum().backward();
  for (const Tensor& p : m.parameters()) EXPECT_TRUE(p.grad().defined());
  m.zero_grad();
  for (const Tensor& p : m.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, LoadStateDictCopiesInPlaceAndRejectsMismatches) {
  manual_seed(1);
  TwoLayer a, b;
  const float* storage_before = b.fc1->weight.data();
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.fc1->weight.data(), storage_before);  // same storage: optimizers keep working
  EXPECT_EQ(b.fc1->weight.to_vector(), a.fc1->weight.to_vector());
  NamedTensors missing = a.state_dict();
  missing.pop_back();
  EXPECT_TRUE(throws_error_containing([&] { b.load_state_dict(missing); }, "missing tensor 'running'"));
  NamedTensors extra = a.state_dict();
  extra.emplace_back("fc3.weight", Tensor::zeros({1}));
  EXPECT_TRUE(throws_error_containing([&] { b.load_state_dict(extra); }, "unexpected tensor 'fc3.weight'"));
  NamedTensors wrong = a.state_dict();
  wrong[0].second = Tensor::zeros({4, 4});
  EXPECT_TRUE(throws_error_containing([&] { b.load_state_dict(wrong); }, "has shape [4, 4] but the model expects [3, 4]"));
}

TEST(Module, RegistrationErrors) {
  struct Bad : Module {
    void twice() {
      register_parameter("w", Tensor::zeros({1}));
      register_parameter("w", Tensor::zeros({1}));
    }
    void dotted() { register_buffer("a.b", Tensor::zeros({1})); }
  };
  Bad m;
  EXPECT_TRUE(throws_error_containing([&] { m.twice(); }, "already registered"));
  EXPECT_TRUE(throws_error_containing([&] { m.dotted(); }, "invalid name"));
  Embedding e(3, 2);
  EXPECT_TRUE(throws_error_containing([&] { e.forward(Tensor::zeros({1})); }, "no single-input forward"));
}

}  // namespace
}  // namespace nibble::nn
