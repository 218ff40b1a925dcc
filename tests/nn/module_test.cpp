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

TEST(Module, DefaultNameIsTheClassName) {
  EXPECT_EQ(TwoLayer().name(), "TwoLayer");
  EXPECT_EQ(Linear(2, 2).name(), "Linear");
}

// x [B,T,8] -> two TransformerBlocks -> head [B,T,3]: a tree three levels deep.
struct Tower : Module {
  Tower() {
    register_module("blocks", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                  std::make_shared<TransformerBlock>(8, 2), std::make_shared<TransformerBlock>(8, 2)}));
    register_module("head", std::make_shared<Linear>(8, 3));
  }
  Tensor forward(const Tensor& x) override { return child("head")(child("blocks")(x)); }
};

TEST(Module, NamedModulesListsRootFirstThenDepthFirst) {
  Tower tower;
  std::vector<std::string> names;
  for (const auto& [name, m] : tower.named_modules()) names.push_back(name);
  std::vector<std::string> expected = {"", "blocks"};
  for (const std::string b : {"blocks.0", "blocks.1"}) {
    for (const std::string suffix : {"", ".ln1", ".attn", ".attn.q_proj", ".attn.k_proj", ".attn.v_proj",
                                     ".attn.out_proj", ".ln2", ".fc1", ".fc2"})
      expected.push_back(b + suffix);
  }
  expected.push_back("head");
  EXPECT_EQ(names, expected);
  EXPECT_EQ(tower.named_modules()[0].second, &tower);
  const std::vector<Module*> all = tower.modules();
  ASSERT_EQ(all.size(), expected.size());
  EXPECT_EQ(all[4], &tower.get_submodule("blocks.0.attn"));
}

TEST(Module, ApplyVisitsEveryModule) {
  Tower tower;
  int linears = 0;
  std::vector<std::string> kinds;
  tower.apply([&](Module& m) {
    kinds.push_back(m.name());
    if (auto* fc = dynamic_cast<Linear*>(&m)) {
      ++linears;
      fc->bias.data()[0] = 42.0f;
    }
  });
  EXPECT_EQ(linears, 2 * 6 + 1);  // per block: q, k, v, out projections, fc1, fc2; plus the head
  EXPECT_EQ(kinds.size(), tower.modules().size());
  EXPECT_EQ(kinds[0], "Tower");
  EXPECT_EQ(tower.get_submodule_as<Linear>("blocks.1.attn.v_proj").bias.data()[0], 42.0f);
}

TEST(Module, GetSubmoduleByDottedPath) {
  Tower tower;
  auto& attn = tower.get_submodule_as<MultiHeadAttention>("blocks.0.attn");
  EXPECT_EQ(attn.embed_dim, 8);
  auto* block = dynamic_cast<TransformerBlock*>(&tower.get_submodule("blocks.0"));
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(&block->attn(), &attn);
  EXPECT_EQ(&tower.get_submodule(""), &tower);
  EXPECT_EQ(&tower.child("head"), &tower.get_submodule("head"));
  EXPECT_TRUE(throws_error_containing([&] { tower.get_submodule("blocks.0.atn"); },
                                      "no submodule 'blocks.0.atn': 'blocks.0' (a TransformerBlock) has no child 'atn'"));
  EXPECT_TRUE(throws_error_containing([&] { tower.get_submodule("blocks.0.atn"); },
                                      "its children are: ln1, attn, ln2, fc1, fc2"));
  EXPECT_TRUE(throws_error_containing([&] { tower.get_submodule("block"); }, "this Tower has no child 'block'"));
  EXPECT_TRUE(throws_error_containing([&] { tower.get_submodule("blocks..0"); }, "has no child ''"));
  EXPECT_TRUE(throws_error_containing([&] { tower.get_submodule_as<Linear>("blocks.1"); },
                                      "'blocks.1' is now a TransformerBlock, not a Linear"));
  EXPECT_TRUE(throws_error_containing([&] { tower.child("blocks.0"); }, "no child module 'blocks.0'"));
  EXPECT_EQ(tower.get_parameter("blocks.1.attn.q_proj.weight").shape(), (Shape{8, 8}));
  EXPECT_TRUE(throws_error_containing([&] { tower.get_parameter("head.wieght"); },
                                      "the parameters of that Linear are: weight, bias"));
}

}  // namespace
}  // namespace nibble::nn
