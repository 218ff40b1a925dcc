// Quantization-aware training (compression/qat.h): the fake-quantized layers against an independent
// double-precision simulation, their straight-through gradients, prepare_qat's surgery, and
// convert() to the int8 kernels against the fake-quantized forward it was trained with.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "compression/qat.h"
#include "core/autograd.h"
#include "core/io/fashion_mnist.h"
#include "core/ops.h"
#include "nn/activation.h"
#include "nn/sequential.h"
#include "optim/adam.h"
#include "gradcheck.h"

namespace {

using namespace nibble;

using nibble::testing::error_of;

// ---- the double-precision reference ---------------------------------------------------------------

struct Affine {  // uint8 activations over [lo, hi] widened to 0, as torch / the kernels
  double scale;
  double zp;
  double qmax;
};
Affine affine(double lo, double hi, int bits) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  const double qmax = std::pow(2.0, bits) - 1;
  const double scale = static_cast<float>((hi - lo) / qmax);  // float, as stored
  return {scale, std::nearbyint(-lo / scale), qmax};
}
double fq(double x, const Affine& a) {
  const double q = std::clamp(std::nearbyint(x / a.scale) + a.zp, 0.0, a.qmax);
  return a.scale * (q - a.zp);
}

// Weight row codes on [-(2^(b-1)-1), 2^(b-1)-1], scale max|row| / qmax.
struct RowCodes {
  std::vector<double> scale;
  std::vector<double> code;  // [out, K]
};
RowCodes row_codes(const Tensor& w, int bits) {
  const int64_t out = w.size(0), K = w.numel() / out;
  const std::vector<float> v = w.detach().contiguous().to_vector();
  const double qmax = std::pow(2.0, bits - 1) - 1;
  RowCodes r;
  for (int64_t n = 0; n < out; ++n) {
    double amax = 0;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(double(v[n * K + k])));
    const double s = static_cast<float>(amax / qmax);
    r.scale.push_back(s);
    for (int64_t k = 0; k < K; ++k) r.code.push_back(std::clamp(std::nearbyint(v[n * K + k] / s), -qmax, qmax));
  }
  return r;
}

// y = fq(x) · (s ⊙ codes)ᵀ + b, in double. x [M, K].
std::vector<double> linear_ref(const std::vector<double>& x, int64_t M, const Affine& a, const RowCodes& w,
                               const std::vector<float>& bias) {
  const int64_t out = static_cast<int64_t>(w.scale.size()), K = static_cast<int64_t>(x.size()) / M;
  std::vector<double> y(static_cast<size_t>(M * out));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < out; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += fq(x[m * K + k], a) * w.code[n * K + k];
      y[m * out + n] = acc * w.scale[n] + (bias.empty() ? 0.0 : bias[n]);
    }
  return y;
}

double max_abs_diff(const std::vector<double>& a, const Tensor& b) {
  const std::vector<float> v = b.contiguous().to_vector();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - v[i]));
  return worst;
}

std::vector<double> to_double(const Tensor& t) {
  const std::vector<float> v = t.detach().contiguous().to_vector();
  return {v.begin(), v.end()};
}

// ---- the layers -------------------------------------------------------------------------------------

TEST(FakeQuantLinear, ForwardMatchesADoubleSimulationAtEightAndFourBits) {
  for (const int bits : {8, 4}) {
    manual_seed(1);
    nn::Linear fl(13, 7);
    auto q = nn::FakeQuantLinear::from_linear(fl, {bits, bits, 0.01});
    const Tensor x = Tensor::randn({5, 13}, 0.3f, 1.0f);
    const Tensor y = q->forward(x);  // train mode: the first batch sets the observed range
    const std::vector<double> xd = to_double(x);
    const Affine a = affine(*std::min_element(xd.begin(), xd.end()), *std::max_element(xd.begin(), xd.end()), bits);
    const std::vector<double> ref = linear_ref(xd, 5, a, row_codes(fl.weight, bits), fl.bias.to_vector());
    EXPECT_LT(max_abs_diff(ref, y), 1e-5) << bits << " bits";
    // The fake-quantized output differs from the float layer's by more than rounding noise.
    EXPECT_GT(max_abs_diff(to_double(fl.forward(x)), y), 1e-4) << bits << " bits: nothing was quantized";
  }
}

TEST(FakeQuantLinear, ObserverMovesInTrainModeAndFreezesInEval) {
  manual_seed(2);
  nn::Linear fl(4, 3);
  auto q = nn::FakeQuantLinear::from_linear(fl, {8, 8, 0.5});
  q->forward(Tensor::from_vector({0, 1, 2, 4}, {1, 4}));  // max 4
  q->forward(Tensor::from_vector({0, 1, 2, 2}, {1, 4}));  // 4 + 0.5 (2 - 4) = 3
  EXPECT_FLOAT_EQ(q->input_observer().max_val()[0], 3.0f);
  q->eval();
  q->forward(Tensor::from_vector({0, 1, 2, 100}, {1, 4}));
  EXPECT_FLOAT_EQ(q->input_observer().max_val()[0], 3.0f) << "eval mode must not move the range";
  // clone() keeps the observed range.
  auto c = q->clone_as<nn::FakeQuantLinear>();
  EXPECT_FLOAT_EQ(c->input_observer().max_val()[0], 3.0f);
}

TEST(FakeQuantLinear, StraightThroughGradientsReachWeightInputAndBias) {
  manual_seed(3);
  nn::Linear fl(6, 4);
  auto q = nn::FakeQuantLinear::from_linear(fl, {4, 4, 0.01});
  // Observe a range narrower than x: elements of x outside it are clipped and get no gradient.
  // Range [-1, 1.1]: scale 0.14, zero point 7; no x below sits on a rounding tie (x / 0.14 + 1/2 whole).
  q->forward(Tensor::from_vector({-1, -0.5f, 0, 0.5f, 1.1f, 0.25f}, {1, 6}));
  q->eval();
  Tensor x = Tensor::from_vector({-3, -0.45f, 0.1f, 0.62f, 2.5f, 0.9f, 0.33f, -0.8f, 0.3f, 0.85f, -0.2f, 5}, {2, 6});
  x.requires_grad_(true);
  const Tensor g = Tensor::from_vector({1, -2, 0.5f, 3, -1, 0.25f, 2, -0.5f}, {2, 4});
  sum(mul(q->forward(x), g)).backward();
  // Expected, by hand in double: y = fq(x) Wqᵀ + b with STE: dW = gᵀ fq(x) (every weight is inside its
  // symmetric range by construction), dx = (g Wq) ⊙ [x inside the observed range], db = Σ g.
  const Affine a = affine(-1, 1.1f, 4);
  const RowCodes w = row_codes(q->weight, 4);
  const std::vector<double> xd = to_double(x), gd = to_double(g);
  std::vector<double> dW(24, 0.0), dx(12, 0.0), db(4, 0.0);
  for (int m = 0; m < 2; ++m)
    for (int n = 0; n < 4; ++n) {
      db[n] += gd[m * 4 + n];
      for (int k = 0; k < 6; ++k) {
        dW[n * 6 + k] += gd[m * 4 + n] * fq(xd[m * 6 + k], a);
        const double code = std::nearbyint(xd[m * 6 + k] / a.scale) + a.zp;
        if (code >= 0 && code <= a.qmax) dx[m * 6 + k] += gd[m * 4 + n] * w.scale[n] * w.code[n * 6 + k];
      }
    }
  EXPECT_LT(max_abs_diff(dW, q->weight.grad()), 1e-5);
  EXPECT_LT(max_abs_diff(dx, x.grad()), 1e-5);
  EXPECT_LT(max_abs_diff(db, q->bias.grad()), 1e-6);
  EXPECT_EQ(x.grad().to_vector()[0], 0.0f) << "x = -3 is clipped: the STE passes no gradient";
  EXPECT_NE(x.grad().to_vector()[1], 0.0f);
}

TEST(FakeQuantConv2d, ForwardIsConvOfFakeQuantizedInputAndWeight) {
  manual_seed(4);
  nn::Conv2d fc(2, 3, {3, 3}, Conv2dOptions{1, 1});
  auto q = nn::FakeQuantConv2d::from_conv(fc, {4, 8, 0.01});
  const Tensor x = Tensor::randn({2, 2, 5, 5});
  const Tensor y = q->forward(x);
  // Reference: the float conv2d of the double-simulated fake-quantized tensors.
  const std::vector<double> xd = to_double(x);
  const Affine a = affine(*std::min_element(xd.begin(), xd.end()), *std::max_element(xd.begin(), xd.end()), 8);
  std::vector<float> xq, wq;
  for (double v : xd) xq.push_back(static_cast<float>(fq(v, a)));
  const RowCodes w = row_codes(fc.weight, 4);
  for (size_t i = 0; i < w.code.size(); ++i) wq.push_back(static_cast<float>(w.scale[i / 18] * w.code[i]));
  const Tensor ref = conv2d(Tensor::from_vector(xq, x.shape()), Tensor::from_vector(wq, fc.weight.shape()), fc.bias,
                            fc.options);
  EXPECT_LT(max_abs_diff(to_double(ref), y), 1e-5);
}

TEST(Qat, ConfigAndStateErrorsNameTheArgument) {
  nn::Linear fl(3, 2);
  EXPECT_NE(error_of([&] { nn::FakeQuantLinear::from_linear(fl, {2, 8, 0.01}); }).find("bits_w = 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] { nn::FakeQuantLinear::from_linear(fl, {8, 9, 0.01}); }).find("bits_a = 9"),
            std::string::npos);
  EXPECT_NE(error_of([&] { nn::FakeQuantLinear::from_linear(fl, {8, 8, 0.0}); }).find("averaging_constant"),
            std::string::npos);
  auto q = nn::FakeQuantLinear::from_linear(fl);
  q->eval();
  EXPECT_NE(error_of([&] { q->forward(Tensor::ones({1, 3})); }).find("saw no data"), std::string::npos);
  EXPECT_NE(error_of([&] { q->forward(Tensor::ones({1, 4})); }).find("in_features = 3"), std::string::npos);
  nn::FashionMlp plain;
  EXPECT_NE(error_of([&] { convert(plain); }).find("is a Linear, not a FakeQuantLinear"), std::string::npos);
  nn::Sequential no_layers;
  no_layers.push_back(std::make_shared<nn::ReLU>());
  EXPECT_NE(error_of([&] { prepare_qat(no_layers); }).find("no Linear or Conv2d"), std::string::npos);
  nn::FashionMlp mlp;
  EXPECT_NE(error_of([&] { prepare_qat(mlp, {8, 1, 0.01}); }).find("bits_a = 1"), std::string::npos);
  EXPECT_NO_THROW(mlp.fc1()) << "a rejected config must leave the model unchanged";
  prepare_qat(mlp);
  EXPECT_NE(error_of([&] { convert(mlp); }).find("saw no data"), std::string::npos);
}

TEST(Qat, PrepareReplacesEveryLayerAndKeepsTheWeightsAndNames) {
  manual_seed(5);
  nn::FashionCnn cnn;
  const nn::NamedTensors before = cnn.state_dict();
  const std::vector<std::string> names = prepare_qat(cnn, {8, 8, 0.01});
  EXPECT_EQ(names, (std::vector<std::string>{"conv1", "conv2", "fc"}));
  EXPECT_EQ(cnn.get_submodule("conv1").name(), "FakeQuantConv2d");
  EXPECT_EQ(cnn.get_submodule("fc").name(), "FakeQuantLinear");
  const nn::NamedTensors after = cnn.state_dict();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].first, after[i].first);
    EXPECT_EQ(before[i].second.to_vector(), after[i].second.to_vector()) << before[i].first;
  }
  // The parameters are the new layers' (an optimizer built now trains them).
  EXPECT_EQ(cnn.parameters()[0].data(), cnn.get_submodule_as<nn::FakeQuantConv2d>("conv1").weight.data());
  // At 8 bits the prepared model stays close to the float one.
  manual_seed(5);
  nn::FashionCnn ref;
  const Tensor images = Tensor::rand({4, 1, 28, 28});
  const std::vector<double> a = to_double(ref.forward(images));
  const Tensor b = cnn.forward(images);
  EXPECT_LT(max_abs_diff(a, b), 0.05);
}

TEST(Qat, PrepareReachesNestedLayersAndToFloatGivesTheGridWeights) {
  manual_seed(11);
  nn::Sequential inner;
  inner.push_back(std::make_shared<nn::Linear>(5, 3));
  nn::Sequential model;
  model.push_back(std::make_shared<nn::Linear>(4, 5));
  model.push_back(std::make_shared<nn::ReLU>());
  model.push_back(inner.clone());
  const std::vector<std::string> names = prepare_qat(model, {4, 8, 0.01});
  EXPECT_EQ(names, (std::vector<std::string>{"0", "2.0"}));
  const Tensor x = Tensor::randn({6, 4});
  const Tensor y = model.forward(x);  // train mode: both observers see data
  EXPECT_EQ(y.shape(), (Shape{6, 3}));
  const auto& layer = model.get_submodule_as<nn::FakeQuantLinear>("2.0");
  EXPECT_TRUE(layer.input_observer().has_data());
  // to_float(): the weight on its 4-bit grid, rebuilt here from the codes by hand.
  const RowCodes w = row_codes(layer.weight, 4);
  const std::vector<float> wf = layer.to_float()->weight.to_vector();
  for (size_t i = 0; i < wf.size(); ++i) EXPECT_FLOAT_EQ(wf[i], float(w.scale[i / 5] * w.code[i])) << i;
}

// ---- convert: a QAT-trained model on the int8 kernels -----------------------------------------------

struct Data {
  Tensor images;  // [N, 1, 28, 28]
  std::vector<int64_t> labels;
};

// A few Adam steps of QAT on `train` batches of 64.
void qat_train(nn::Module& model, const Data& train, int steps) {
  optim::Adam adam(model.parameters(), {2e-3f});
  model.train();
  const int64_t n = train.images.size(0);
  for (int s = 0; s < steps; ++s) {
    const int64_t b = (s * 64) % (n - 63);
    const std::vector<int64_t> y(train.labels.begin() + b, train.labels.begin() + b + 64);
    adam.zero_grad();
    cross_entropy(model.forward(train.images.slice(0, b, b + 64)), y).backward();
    adam.step();
  }
  model.eval();
}

Data random_data(int64_t n) {
  Data d{Tensor::rand({n, 1, 28, 28}), {}};
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(i % 10);
  return d;
}

double agreement(const Tensor& a, const Tensor& b) {
  const std::vector<int64_t> pa = argmax(a, 1), pb = argmax(b, 1);
  int64_t same = 0;
  for (size_t i = 0; i < pa.size(); ++i) same += pa[i] == pb[i];
  return static_cast<double>(same) / static_cast<double>(pa.size());
}

TEST(QatConvert, MlpInt8OutputsMatchADoubleSimulationWithinOneInputStep) {
  manual_seed(6);
  nn::FashionMlp mlp;
  prepare_qat(mlp, {8, 8, 0.1});
  qat_train(mlp, random_data(256), 8);
  const nn::QuantizedFashionMlp q = convert(mlp);
  const Tensor images = Tensor::rand({16, 1, 28, 28});
  const Tensor logits8 = q.forward(images);

  // Independent simulation: standardise, then per layer fake-quantize the input with the observer's
  // range and multiply by the weight codes, all in double.
  std::vector<double> x = to_double(images);
  for (double& v : x) v = (v - nn::kFashionMnistMean) / nn::kFashionMnistStd;
  const char* names[] = {"fc1", "fc2", "fc3"};
  Affine last{};
  RowCodes last_w;
  for (int l = 0; l < 3; ++l) {
    const auto& layer = mlp.get_submodule_as<nn::FakeQuantLinear>(names[l]);
    const Affine a = affine(layer.input_observer().min_val()[0], layer.input_observer().max_val()[0], 8);
    const RowCodes w = row_codes(layer.weight, 8);
    x = linear_ref(x, 16, a, w, layer.bias.to_vector());
    if (l < 2)
      for (double& v : x) v = std::max(v, 0.0);
    last = a;
    last_w = w;
  }
  // One step of every input code of fc3 moves output n by at most sa · sw[n] · Σ_k |code[n, k]|.
  const std::vector<float> got = logits8.to_vector();
  for (int64_t m = 0; m < 16; ++m)
    for (int64_t n = 0; n < 10; ++n) {
      double l1 = 0;
      for (int64_t k = 0; k < 128; ++k) l1 += std::fabs(last_w.code[n * 128 + k]);
      const double bound = last.scale * last_w.scale[n] * l1;
      EXPECT_LE(std::fabs(got[m * 10 + n] - x[m * 10 + n]), bound) << "image " << m << " logit " << n;
    }
  // The converted model runs exactly the trained weight codes.
  const RowCodes w1 = row_codes(mlp.get_submodule_as<nn::FakeQuantLinear>("fc1").weight, 8);
  const std::vector<int8_t>& k1 = q.fc1.quantized_weight();
  ASSERT_EQ(k1.size(), w1.code.size());
  for (size_t i = 0; i < k1.size(); ++i) ASSERT_EQ(double(k1[i]), w1.code[i]) << "weight " << i;
  // And the fake-quantized float forward agrees with the int8 one.
  EXPECT_LT(max_abs_diff(to_double(mlp.forward(images)), logits8), 0.05);
}

TEST(QatConvert, CnnUint8PipelineAgreesWithTheFakeQuantizedForward) {
  manual_seed(7);
  nn::FashionCnn cnn;
  prepare_qat(cnn, {8, 8, 0.1});
  qat_train(cnn, random_data(128), 4);
  const nn::QuantizedFashionCnn q = convert(cnn);
  EXPECT_FALSE(q.conv1.is_dynamic());
  // conv1 requantizes to exactly conv2's input parameters.
  const QParams a2 = cnn.get_submodule_as<nn::FakeQuantConv2d>("conv2").input_qparams();
  EXPECT_FLOAT_EQ(q.conv1.output_params().scale, a2.scale[0]);
  EXPECT_EQ(q.conv1.output_params().zero_point, a2.zero_point[0]);
  const Tensor images = Tensor::rand({16, 1, 28, 28});
  const Tensor fake = cnn.forward(images), int8 = q.forward(images);
  double scale = 0;
  for (float v : fake.to_vector()) scale = std::max(scale, double(std::fabs(v)));
  EXPECT_LT(max_abs_diff(to_double(fake), int8), 0.05 * scale);
  EXPECT_GE(agreement(fake, int8), 0.9);
}

TEST(QatConvert, MlpConvertedAccuracyOnFashionTestImagesMatchesTraining) {
  data::FashionMnist test;  // (the training split takes seconds to load: train on test images 2000+)
  try {
    test = data::load_fashion_mnist("test");
  } catch (const nibble::Error& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed: " << e.what();
  }
  manual_seed(8);
  nn::FashionMlp mlp;
  prepare_qat(mlp, {8, 8, 0.05});
  Data d{test.images.slice(0, 2000, 4560).contiguous(), {test.labels.begin() + 2000, test.labels.begin() + 4560}};
  qat_train(mlp, d, 30);  // about a second on an idle machine: the model is weak, but trained with quantization
  const Tensor images = test.images.slice(0, 0, 1000);
  const std::vector<int64_t> labels(test.labels.begin(), test.labels.begin() + 1000);
  auto acc = [&](const Tensor& logits) {
    const std::vector<int64_t> p = argmax(logits, 1);
    int64_t right = 0;
    for (size_t i = 0; i < p.size(); ++i) right += p[i] == labels[i];
    return static_cast<double>(right) / static_cast<double>(p.size());
  };
  NoGradGuard no_grad;
  const double acc_fake = acc(mlp.forward(images));
  const double acc_int8 = acc(convert(mlp).forward(images));
  EXPECT_GT(acc_fake, 0.7) << "QAT did not train";
  EXPECT_NEAR(acc_int8, acc_fake, 0.005) << "the int8 model must keep the QAT model's accuracy";
  std::printf("QAT (30 steps) accuracy on 1000 test images: fake-quantized %.4f, int8 kernels %.4f\n", acc_fake,
              acc_int8);
}

}  // namespace
