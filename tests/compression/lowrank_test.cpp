// The library side of low-rank compression (compression/lowrank.h, lowrank_layers.h,
// lowrank_image.h): the given helpers, the factored layers as Modules (names, gradients,
// fine-tuning, strided convs), the model-surgery placeholder and the photo demo's helpers.
// The module-06 functions themselves are graded in modules/06_lowrank/tests/.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "compression/lowrank.h"
#include "compression/lowrank_image.h"
#include "compression/lowrank_layers.h"
#include "core/autograd.h"
#include "core/io/image.h"
#include "core/ops.h"
#include "nn/activation.h"
#include "nn/sequential.h"
#include "optim/sgd.h"
#include "gradcheck.h"

namespace {

using nibble::Shape;
using nibble::Tensor;

using nibble::testing::error_of;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.contiguous().to_vector(), y = b.contiguous().to_vector();
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::fabs(x[i] - y[i])));
  return worst;
}

}  // namespace

TEST(LowRank, RankForRatioByHand) {
  // 784 x 300 at 0.25: 0.25·235200/1084 = 54.24 -> 54. Square 100 x 100 at 1: 50 (break-even).
  EXPECT_EQ(nibble::rank_for_ratio(784, 300, 0.25), 54);
  EXPECT_EQ(nibble::rank_for_ratio(100, 100, 1.0), 50);
  EXPECT_EQ(nibble::rank_for_ratio(100, 100, 1e-9), 1) << "at least 1";
  EXPECT_EQ(nibble::rank_for_ratio(10, 4, 100.0), 4) << "at most min(m, n)";
  EXPECT_NE(error_of([] { nibble::rank_for_ratio(10, 4, 0.0); }).find("ratio = 0"), std::string::npos);
  EXPECT_NE(error_of([] { nibble::rank_for_ratio(10, 4, NAN); }).find("ratio = nan"), std::string::npos);
}

TEST(LowRank, TruncateAndSignRule) {
  nibble::Svd s{Tensor::from_vector({1, 0, 0, -1, 0, 0}, {3, 2}), Tensor::from_vector({2, 1}),
                Tensor::from_vector({1, 0, 0, 0, 1, 0}, {2, 3})};
  const nibble::Svd t = nibble::truncate(s, 1);
  EXPECT_EQ(t.U.shape(), (Shape{3, 1}));
  EXPECT_EQ(t.S.shape(), (Shape{1}));
  EXPECT_EQ(t.Vh.shape(), (Shape{1, 3}));
  EXPECT_NE(error_of([&] { nibble::truncate(s, 3); }).find("rank = 3"), std::string::npos);
  // Column 1 of U is (0, -1, 0): flipped, and row 1 of Vh with it.
  nibble::canonicalize_signs(s);
  EXPECT_EQ(s.U.at({1, 1}), 1.0f);
  EXPECT_EQ(s.Vh.at({1, 1}), -1.0f);
  EXPECT_EQ(s.U.at({0, 0}), 1.0f) << "column 0 was already positive";
}

TEST(LowRank, ValidationMessagesNameTheArgument) {
  EXPECT_NE(error_of([] { nibble::validate_matrix(Tensor::zeros({2, 2, 2}), "svd"); }).find("[2, 2, 2]"), std::string::npos);
  EXPECT_NE(error_of([] { nibble::validate_matrix(Tensor::from_vector({1, INFINITY}, {1, 2}), "svd"); }).find("[0, 1]"),
            std::string::npos)
      << "the position of the bad entry";
  EXPECT_NE(error_of([] { nibble::validate_singular_values(Tensor::from_vector({1, 2}), "f"); }).find("not descending"),
            std::string::npos);
  EXPECT_NE(error_of([] { nibble::validate_singular_values(Tensor::from_vector({-1}), "f"); }).find("S[0]"),
            std::string::npos);
}

TEST(LowRankLinear, NamesParametersAndFineTunes) {
  nibble::manual_seed(8);
  nibble::nn::Linear dense(16, 10);
  auto layer = nibble::nn::LowRankLinear::from_linear(dense, 3);
  std::vector<std::string> names;
  for (const auto& [name, t] : layer->named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"down.weight", "up.weight", "up.bias"}));
  EXPECT_EQ(layer->parameter_count(), 3 * 16 + 10 * 3 + 10);
  EXPECT_EQ(layer->dense_macs(), 160);
  // Both factors carry sqrt(S): their row/column norms agree factor by factor.
  for (int64_t j = 0; j < 3; ++j) {
    double down = 0.0, up = 0.0;
    for (int64_t i = 0; i < 16; ++i) down += std::pow(layer->down().weight.at({j, i}), 2.0f);
    for (int64_t i = 0; i < 10; ++i) up += std::pow(layer->up().weight.at({i, j}), 2.0f);
    EXPECT_NEAR(down, up, 1e-5) << "factor " << j << ": both hold sqrt(σ_j)";
  }
  // Fine-tuning: gradients reach both factors and SGD lowers the loss towards a dense target.
  const Tensor x = Tensor::randn({32, 16});
  Tensor target;
  {
    nibble::NoGradGuard no_grad;
    target = dense.forward(x);
  }
  nibble::optim::SgdOptions sgd;
  sgd.lr = 0.05f;
  nibble::optim::SGD opt(layer->parameters(), sgd);
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    Tensor loss = nibble::mse_loss(layer->forward(x), target);
    loss.backward();
    ASSERT_TRUE(layer->down().weight.grad().defined()) << "gradient reaches down.weight";
    (step == 0 ? first : last) = loss.item();
    opt.step();
  }
  EXPECT_LT(last, first) << "fine-tuning the factors lowers the loss";
  // Without a bias: two weights only, and full rank reproduces the layer.
  nibble::nn::Linear plain(6, 4, false);
  auto exact = nibble::nn::LowRankLinear::from_linear(plain, 4);
  EXPECT_EQ(exact->named_parameters().size(), 2u);
  nibble::NoGradGuard no_grad;
  const Tensor z = Tensor::randn({3, 6});
  EXPECT_LT(max_abs_diff(plain.forward(z), exact->forward(z)), 1e-5);
}

TEST(LowRankConv2d, StridedPaddedFullRankReproducesTheConv) {
  nibble::manual_seed(9);
  nibble::Conv2dOptions o;
  o.stride = 2;
  o.padding = 1;
  nibble::nn::Conv2d conv(4, 6, nibble::Size2(3, 2), o);
  auto full = nibble::nn::LowRankConv2d::from_conv(conv, 6);  // min(6, 4·3·2 = 24)
  const Tensor x = Tensor::randn({2, 4, 9, 8});
  nibble::NoGradGuard no_grad;
  EXPECT_LT(max_abs_diff(conv.forward(x), full->forward(x)), 1e-4);
  EXPECT_EQ(full->dense_macs_per_pixel(), 6 * 24);
  EXPECT_NE(error_of([&] { nibble::nn::LowRankConv2d::from_conv(conv, 7); }).find("rank = 7"), std::string::npos);
  nibble::Conv2dOptions g;
  g.groups = 2;
  nibble::nn::Conv2d grouped(4, 6, 3, g);
  EXPECT_NE(error_of([&] { nibble::nn::LowRankConv2d::from_conv(grouped, 2); }).find("groups = 2"), std::string::npos);
}

TEST(LowRank, FactorizeLinearReplacesTheLayerByModelSurgery) {
  nibble::manual_seed(3);
  nibble::nn::Sequential model;
  model.push_back(std::make_shared<nibble::nn::Linear>(8, 4));
  model.push_back(std::make_shared<nibble::nn::ReLU>());
  const Tensor x = Tensor::randn({5, 8});
  const Tensor dense_weight = model.get_submodule_as<nibble::nn::Linear>("0").weight.clone();
  const std::string unknown = error_of([&] { nibble::factorize_linear(model, "fc9", 2); });
  EXPECT_NE(unknown.find("no submodule 'fc9'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("0, 1"), std::string::npos) << "lists the children: " << unknown;
  EXPECT_NE(error_of([&] { nibble::factorize_linear(model, "1", 2); }).find("not a Linear"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::factorize_linear(model, "0", 5); }).find("rank = 5"), std::string::npos);
  EXPECT_EQ(model.parameter_count(), 8 * 4 + 4) << "a rejected call leaves the model unchanged";

  const auto layer = nibble::factorize_linear(model, "0", 2);
  // The registry, the parameter list and forward all see the factored layer.
  EXPECT_EQ(&model.get_submodule("0"), layer.get());
  EXPECT_EQ(model.parameter_count(), 2 * 8 + 4 * 2 + 4);
  EXPECT_EQ(model.state_dict()[0].first, "0.down.weight");
  nibble::NoGradGuard no_grad;
  // The model's output through the registry equals relu(x (up·down)^T + b) from the factor product.
  const Tensor expected = relu(add(matmul(x, layer->weight().t()), layer->up().bias));
  EXPECT_LT(max_abs_diff(model.forward(x), expected), 1e-5);
  // Rank 2 of a random 4x8 matrix is a real truncation: the output differs from the dense layer's.
  EXPECT_GT(max_abs_diff(layer->weight(), dense_weight), 1e-3);
  // A clone of the factored model is structurally the same and independent.
  const auto copy = model.clone();
  EXPECT_LT(max_abs_diff(copy->forward(x), model.forward(x)), 1e-7);
}

TEST(LowRank, FactorizeConvReplacesTheConvolutionByModelSurgery) {
  // Conv2d(2 -> 6, 3x3, padding 1) -> ReLU -> Flatten -> Linear(6·5·5 = 150 -> 3) on 5x5 inputs.
  nibble::manual_seed(5);
  nibble::Conv2dOptions o;
  o.padding = 1;
  nibble::nn::Sequential model;
  model.push_back(std::make_shared<nibble::nn::Conv2d>(2, 6, nibble::Size2(3), o));
  model.push_back(std::make_shared<nibble::nn::ReLU>());
  model.push_back(std::make_shared<nibble::nn::Flatten>());
  model.push_back(std::make_shared<nibble::nn::Linear>(150, 3));
  const int64_t dense_params = (6 * 2 * 9 + 6) + (150 * 3 + 3);  // 114 + 453
  ASSERT_EQ(model.parameter_count(), dense_params);
  const Tensor x = Tensor::randn({4, 2, 5, 5});
  Tensor dense_out;
  {
    nibble::NoGradGuard no_grad;
    dense_out = model.forward(x);
  }

  const std::string unknown = error_of([&] { nibble::factorize_conv(model, "conv9", 2); });
  EXPECT_NE(unknown.find("no submodule 'conv9'"), std::string::npos) << unknown;
  const std::string not_conv = error_of([&] { nibble::factorize_conv(model, "3", 2); });
  EXPECT_NE(not_conv.find("not a Conv2d"), std::string::npos) << not_conv;
  EXPECT_NE(not_conv.find("factorize_conv"), std::string::npos) << not_conv;
  // min(OC = 6, IC·KH·KW = 18) = 6.
  EXPECT_NE(error_of([&] { nibble::factorize_conv(model, "0", 7); }).find("rank = 7"), std::string::npos);
  EXPECT_NE(error_of([&] { nibble::factorize_conv(model, "0", 0); }).find("rank = 0"), std::string::npos);
  EXPECT_EQ(model.parameter_count(), dense_params) << "a rejected call leaves the model unchanged";
  EXPECT_NE(dynamic_cast<nibble::nn::Conv2d*>(&model.get_submodule("0")), nullptr);

  // Full rank: the same function (up to float rounding), in two thin convolutions.
  const auto full_model = model.clone_as<nibble::nn::Sequential>();
  const auto full = nibble::factorize_conv(*full_model, "0", 6);
  EXPECT_EQ(&full_model->get_submodule("0"), full.get());
  {
    nibble::NoGradGuard no_grad;
    EXPECT_LT(max_abs_diff(full_model->forward(x), dense_out), 1e-4);
  }

  // Rank 2: reduce [2, 2, 3, 3] (no bias) + expand [6, 2, 1, 1] + bias [6] = 36 + 12 + 6 = 54.
  const auto low = nibble::factorize_conv(model, "0", 2);
  EXPECT_EQ(&model.get_submodule("0"), low.get());
  EXPECT_EQ(model.parameter_count(), 54 + (150 * 3 + 3));
  EXPECT_EQ(model.state_dict()[0].first, "0.reduce.weight");
  nibble::NoGradGuard no_grad;
  // The factored model computes what a dense conv holding the product kernel W_2 computes.
  nibble::nn::Conv2d product(2, 6, nibble::Size2(3), o);
  std::vector<float> w = low->weight().contiguous().to_vector(), b = low->expand().bias.to_vector();
  std::copy(w.begin(), w.end(), product.weight.data());
  std::copy(b.begin(), b.end(), product.bias.data());
  const auto& fc = model.get_submodule_as<nibble::nn::Linear>("3");
  const Tensor expected = add(matmul(relu(product.forward(x)).flatten(1), fc.weight.t()), fc.bias);
  EXPECT_LT(max_abs_diff(model.forward(x), expected), 1e-4);
  EXPECT_GT(max_abs_diff(model.forward(x), dense_out), 1e-3) << "rank 2 of 6 is a real truncation";
}

TEST(LowRank, FactorizedCloneFineTunesAndLeavesTheOriginalAlone) {
  // The lowrank-report recipe on a small model: clone, factorize by surgery, build the optimizer
  // from the clone's parameters AFTER the surgery, train.
  nibble::manual_seed(21);
  nibble::nn::Sequential original;
  original.push_back(std::make_shared<nibble::nn::Linear>(12, 8));
  original.push_back(std::make_shared<nibble::nn::ReLU>());
  original.push_back(std::make_shared<nibble::nn::Linear>(8, 3));
  const Tensor original_w0 = original.get_submodule_as<nibble::nn::Linear>("0").weight.clone();
  const Tensor original_w2 = original.get_submodule_as<nibble::nn::Linear>("2").weight.clone();
  const Tensor x = Tensor::randn({48, 12});
  std::vector<int64_t> y;
  for (int64_t i = 0; i < 48; ++i) y.push_back(x.at({i, 0}) > 0 ? 0 : (x.at({i, 1}) > 0 ? 1 : 2));

  const auto model = original.clone_as<nibble::nn::Sequential>();
  const auto layer = nibble::factorize_linear(*model, "0", 2);
  const Tensor down0 = layer->down().weight.clone(), up0 = layer->up().weight.clone();
  nibble::optim::SgdOptions o;
  o.lr = 0.05f;
  o.momentum = 0.9f;
  nibble::optim::SGD sgd(model->parameters(), o);
  ASSERT_EQ(model->parameters().size(), 5u) << "down.weight, up.weight, up.bias, 2.weight, 2.bias";
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 40; ++step) {
    const Tensor loss = nibble::cross_entropy(model->forward(x), y);
    (step == 0 ? first : last) = loss.item();
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  }
  EXPECT_LT(last, 0.8 * first) << "fine-tuning the factored model lowers the loss";
  EXPECT_GT(max_abs_diff(layer->down().weight, down0), 1e-3) << "the optimizer moved the factors";
  EXPECT_GT(max_abs_diff(layer->up().weight, up0), 1e-3);
  EXPECT_EQ(&model->get_submodule("0"), layer.get()) << "the layer that trained is the one in the model";
  // The original is untouched: still dense, same weights, no gradients.
  const auto& w0 = original.get_submodule_as<nibble::nn::Linear>("0").weight;
  EXPECT_EQ(max_abs_diff(w0, original_w0), 0.0);
  EXPECT_EQ(max_abs_diff(original.get_submodule_as<nibble::nn::Linear>("2").weight, original_w2), 0.0);
  EXPECT_FALSE(w0.grad().defined());
  EXPECT_EQ(original.parameter_count(), 12 * 8 + 8 + 8 * 3 + 3);
}

TEST(LowRankImage, PsnrByHand) {
  // One pixel off by 0.1 among 4: MSE = 0.0025, PSNR = 10·log10(400) = 26.02 dB.
  const Tensor a = Tensor::zeros({1, 2, 2});
  Tensor b = Tensor::zeros({1, 2, 2});
  b.at({0, 1, 1}) = 0.1f;
  EXPECT_NEAR(nibble::psnr_db(a, b), 10.0 * std::log10(400.0), 1e-4);
  EXPECT_TRUE(std::isinf(nibble::psnr_db(a, a)));
}

TEST(LowRankImage, SklearnPhotoGetsBetterWithRank) {
  const std::string path = "/usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg";
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << path << " is missing: install Debian's python3-sklearn (tools/dev does) for this test";
  const Tensor photo = nibble::io::load_image(path);
  ASSERT_EQ(photo.size(0), 3);
  // A 48 x 64 crop keeps the test fast; every rank up to 48 is possible.
  const Tensor crop = photo.slice(1, 200, 248).slice(2, 300, 364).contiguous();
  const auto r = nibble::compress_image_by_rank(crop, {2, 8, 48});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_LT(r[0].psnr_db, r[1].psnr_db);
  EXPECT_LT(r[1].psnr_db, r[2].psnr_db);
  EXPECT_GT(r[2].psnr_db, 45.0) << "full rank: only the 8-bit rounding of a float reconstruction is left";
  EXPECT_EQ(r[1].factor_bytes, 3 * 8 * (48 + 64 + 1) * 4);
  EXPECT_EQ(r[1].image.shape(), crop.shape());
  EXPECT_NE(error_of([&] { nibble::compress_image_by_rank(crop, {49}); }).find("rank = 49"), std::string::npos);
  EXPECT_NE(error_of([] { nibble::io::load_image("/nonexistent/photo.jpg"); }).find("photo.jpg"), std::string::npos)
      << "an image that does not load names its path";
}
