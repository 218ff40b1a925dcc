// Deep Compression (compression/deep_compression.h): k-means by hand, Han's centroid gradient by
// hand, codebooks on the int8 grid, the whole pipeline on a tiny model (the reloaded file runs the
// exact in-memory weights, bit for bit on the int8 kernels), and bad input rejected before work.
#include "compression/deep_compression.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/autograd.h"
#include "core/io/temp_dir.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/linear.h"
#include "nn/models.h"

namespace nibble::compression {
namespace {

using testing::TempDir;

TEST(DeepCompressionKMeans, HandExampleConvergesToClusterMeans) {
  // Linear init over [0, 10] with k = 3: 0, 5, 10. Assign: {0, 1} -> 0, {5} -> 5, {9, 10} -> 10.
  // Means: 0.5, 5, 9.5; the next pass assigns the same: done after 2 passes.
  const KMeans1d r = kmeans_1d({0, 1, 5, 9, 10}, 3);
  ASSERT_EQ(r.centroids.size(), 3u);
  EXPECT_FLOAT_EQ(r.centroids[0], 0.5f);
  EXPECT_FLOAT_EQ(r.centroids[1], 5.0f);
  EXPECT_FLOAT_EQ(r.centroids[2], 9.5f);
  EXPECT_EQ(r.assignment, (std::vector<int32_t>{0, 0, 1, 2, 2}));
  EXPECT_EQ(r.iterations, 2);
}

TEST(DeepCompressionKMeans, MembersMoveBetweenClustersAndTiesGoLow) {
  // Init 0 and 10; 4 -> 0 and 6 -> 10; means 2 and 8, stable.
  const KMeans1d a = kmeans_1d({0, 4, 6, 10}, 2);
  EXPECT_FLOAT_EQ(a.centroids[0], 2.0f);
  EXPECT_FLOAT_EQ(a.centroids[1], 8.0f);
  // 5 is as far from 0 as from 10: the lower centroid takes it -> means 2.5 and 10.
  const KMeans1d b = kmeans_1d({0, 5, 10}, 2);
  EXPECT_FLOAT_EQ(b.centroids[0], 2.5f);
  EXPECT_FLOAT_EQ(b.centroids[1], 10.0f);
  EXPECT_EQ(b.assignment, (std::vector<int32_t>{0, 0, 1}));
  // A centroid without members keeps its initial value: {0, 0, 9} with k = 4 -> init 0, 3, 6, 9.
  const KMeans1d c = kmeans_1d({0, 0, 9}, 4);
  EXPECT_FLOAT_EQ(c.centroids[1], 3.0f);
  EXPECT_FLOAT_EQ(c.centroids[2], 6.0f);
  EXPECT_THROW(kmeans_1d({}, 2), Error);
  EXPECT_THROW(kmeans_1d({1.0f}, 0), Error);
}

TEST(DeepCompressionShare, CentroidGradientIsTheSumOfItsMembersGradients) {
  CompressedWeight w;
  w.shape = {2, 3};
  w.positions = {0, 2, 3, 5};  // kept: (0,0) (0,2) (1,0) (1,2)
  w.codes = {1, 0, 1, 1};
  w.codebook = {-10, 3, 20, 40};
  w.bits = 2;
  w.scales = {0.5f, 0.5f};
  // The 9s sit on pruned positions and must not count.
  const Tensor grad = Tensor::from_vector({0.5f, 9.0f, 1.0f, 2.0f, 9.0f, -4.0f}, {2, 3});
  const std::vector<double> g = centroid_gradients(w, grad);
  ASSERT_EQ(g.size(), 4u);
  EXPECT_DOUBLE_EQ(g[0], 1.0);               // position 2 only
  EXPECT_DOUBLE_EQ(g[1], 0.5 + 2.0 - 4.0);  // positions 0, 3, 5
  EXPECT_DOUBLE_EQ(g[2], 0.0);
  EXPECT_DOUBLE_EQ(g[3], 0.0);
  // Re-tying writes scale * centroid at kept positions and 0 at pruned ones.
  Tensor weight = Tensor::full({2, 3}, 7.0f);
  tie_weight(weight, w, {-10.0f, 3.5f, 20.0f, 40.0f});
  EXPECT_EQ(weight.to_vector(), (std::vector<float>{1.75f, 0.0f, -5.0f, 1.75f, 0.0f, 1.75f}));
}

TEST(DeepCompressionShare, KMeansCodebookLiesOnTheInt8Grid) {
  manual_seed(3);
  Tensor w = Tensor::randn({16, 40});
  std::vector<float> mask(16 * 40, 1.0f);
  for (size_t i = 0; i < mask.size(); i += 3) mask[i] = 0.0f;
  w.set_mask(Tensor::from_vector(mask, {16, 40}));
  const CompressedWeight cw = share_weight(w, 4, "kmeans");
  ASSERT_EQ(cw.codebook.size(), 16u);
  EXPECT_EQ(cw.bits, 4);
  // One layer scale: max|W| / 127, so the largest kept weight's centroid region reaches the grid's end.
  const std::vector<float> v = w.to_vector();
  float max_abs = 0;
  for (size_t i = 0; i < v.size(); ++i)
    if (mask[i] != 0) max_abs = std::max(max_abs, std::abs(v[i]));
  for (const float s : cw.scales) EXPECT_FLOAT_EQ(s, max_abs / 127.0f);
  ASSERT_EQ(cw.positions.size(), cw.codes.size());
  int64_t kept = 0;
  for (const float m : mask) kept += m != 0;
  EXPECT_EQ(static_cast<int64_t>(cw.positions.size()), kept);
  for (const int8_t c : cw.codebook) EXPECT_GE(c, -127);
  // Each kept weight decodes to its nearest codebook value (within half the widest gap + rounding).
  const Tensor d = decode_weight(cw);
  std::set<int8_t> entries(cw.codebook.begin(), cw.codebook.end());
  int max_gap = 0;
  for (auto it = std::next(entries.begin()); it != entries.end(); ++it) max_gap = std::max(max_gap, *it - *std::prev(it));
  for (size_t i = 0; i < v.size(); ++i) {
    if (mask[i] == 0) {
      EXPECT_EQ(d.to_vector()[i], 0.0f);
      continue;
    }
    EXPECT_LE(std::abs(d.to_vector()[i] - v[i]), (max_gap / 2.0f + 1.0f) * cw.scales[0]) << i;
  }
}

TEST(DeepCompressionShare, PlainInt8IsPerChannelWithTheFullCodebook) {
  const Tensor w = Tensor::from_vector({1.0f, -0.25f, 0.0f, 0.25f, 1.0f, -4.0f}, {2, 3});
  const CompressedWeight cw = share_weight(w, 8, "int8");
  ASSERT_EQ(cw.codebook.size(), 256u);
  EXPECT_EQ(cw.codebook.front(), -128);
  EXPECT_EQ(cw.codebook.back(), 127);
  EXPECT_FLOAT_EQ(cw.scales[0], 1.0f / 127);
  EXPECT_FLOAT_EQ(cw.scales[1], 4.0f / 127);
  EXPECT_EQ(cw.positions, (std::vector<int64_t>{0, 1, 3, 4, 5}));  // the exact 0 is not kept
  // q = round(w / s), code = q + 128: row 0: 127, round(-31.75) = -32; row 1: round(7.9375) = 8,
  // round(31.75) = 32, -127.
  EXPECT_EQ(cw.codes, (std::vector<uint8_t>{255, 96, 136, 160, 1}));
}

// 256 random "images" with labels 0..9: enough for two SGD steps of every stage.
data::FashionMnist tiny_set(uint64_t seed, int64_t n) {
  manual_seed(seed);
  data::FashionMnist s;
  s.images = Tensor::rand({n, 1, 28, 28});
  for (int64_t i = 0; i < n; ++i) s.labels.push_back(i % 10);
  return s;
}

TEST(DeepCompressionPipeline, ReloadedFileRunsTheInMemoryWeightsBitForBit) {
  for (const std::string arch : {"mlp", "cnn"}) {
    SCOPED_TRACE(arch);
    TempDir dir;
    const data::FashionMnist train = tiny_set(1, 128), test = tiny_set(2, 64);
    std::shared_ptr<nn::Module> model = make_model(arch);
    DeepCompressionOptions o;
    o.prune = 0.8;
    o.bits = 4;
    o.finetune_epochs = 1;  // 2 steps of batch 64
    o.centroid_epochs = 1;
    o.centroid_lr = 1e-3f;
    o.measure_speed = false;
    o.work_dir = dir.path();
    o.calibration_images = 32;
    const std::string out = dir.file("m.nbz");
    const DeepCompressionResult r = deep_compress(*model, arch, train, test, o, out);
    ASSERT_EQ(r.stages.size(), 5u);
    EXPECT_EQ(r.stages[0].stage, "fp32");
    EXPECT_EQ(r.stages[4].stage, "int8 (from file)");
    // 80% of the weights are zero after pruning (global, exact count) and stay so.
    const int64_t kept = r.compressed_weights - std::llround(0.8 * r.compressed_weights);
    EXPECT_EQ(r.stages[1].nonzeros, kept);
    EXPECT_LE(r.stages[2].nonzeros, kept);  // a centroid may round to 0
    // The decoded file equals the in-memory shared model, weight for weight.
    const NbzModel file = load_nbz(out);
    const std::vector<std::string> layers = compressed_layers(arch);
    for (size_t i = 0; i < layers.size(); ++i) {
      const Tensor mem = model->get_parameter(layers[i] + ".weight");
      EXPECT_EQ(decode_weight(file.layers[i].weight).to_vector(), mem.contiguous().to_vector()) << layers[i];
      for (const int8_t c : file.layers[i].weight.codebook) EXPECT_GE(c, -127);
      EXPECT_EQ(file.layers[i].weight.codebook.size(), 16u);
    }
    EXPECT_DOUBLE_EQ(r.stages[3].accuracy, r.stages[2].accuracy) << "nbz decodes to the shared weights";
    // Bit-identical logits on the int8 kernels: from the file and from the in-memory model.
    const Int8Model from_file = Int8Model::from_nbz(file);
    const Int8Model in_memory = Int8Model::from_nbz(r.written);
    EXPECT_EQ(from_file(test.images).to_vector(), in_memory(test.images).to_vector());
    // And the int8 model is close to the float one (the same weights; activations quantized).
    const Tensor f = float_model_from_nbz(file)->forward(test.images);
    const std::vector<float> a = f.to_vector(), b = from_file(test.images).to_vector();
    double err = 0, ref = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      err = std::max(err, static_cast<double>(std::abs(a[k] - b[k])));
      ref = std::max(ref, static_cast<double>(std::abs(a[k])));
    }
    EXPECT_LT(err, 0.1 * ref + 1e-3);
  }
}

// Every stage is timed, and the fp32 row's model is the uncompressed one even though pruning changed
// `model` in place afterwards (the rows keep their own copies until the interleaved timing at the end).
TEST(DeepCompressionPipeline, EveryStageIsTimedOnItsOwnModel) {
  TempDir dir;
  const data::FashionMnist train = tiny_set(1, 128), test = tiny_set(2, 64);
  std::shared_ptr<nn::Module> model = make_model("mlp");
  const std::shared_ptr<nn::Module> original = model->clone();
  DeepCompressionOptions o;
  o.prune = 0.8;
  o.finetune_epochs = 1;
  o.centroid_epochs = 0;
  o.timing_repeats = 3;
  o.work_dir = dir.path();
  o.calibration_images = 32;
  const DeepCompressionResult r = deep_compress(*model, "mlp", train, test, o, dir.file("m.nbz"));
  ASSERT_EQ(r.stages.size(), 5u);
  for (const StageRow& s : r.stages) {
    EXPECT_GT(s.latency_ms, 0.0) << s.stage;
    EXPECT_GT(s.throughput, 0.0) << s.stage;
    EXPECT_GE(s.latency_spread_ms, 0.0) << s.stage;
    EXPECT_GE(s.throughput_spread, 0.0) << s.stage;
  }
  // The fp32 row's accuracy is the original model's, computed here independently.
  NoGradGuard g;
  const std::vector<int64_t> pred = argmax(original->forward(test.images), 1);
  int64_t right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == test.labels[i];
  EXPECT_DOUBLE_EQ(r.stages[0].accuracy, static_cast<double>(right) / static_cast<double>(pred.size()));
}

// The file's int8 model (and the uint8 chain of its layers, forward_u8) against the float decode of
// the same file, on real test images, for a LeNet-300-100 that has learned something (a random one
// sits at chance, where agreement says little): a short training run, then a short compression.
TEST(DeepCompressionPipeline, FileInt8ModelAgreesWithTheFloatDecodeOnRealImages) {
  data::FashionMnist train, test;
  try {
    train = data::load_fashion_mnist("train");
    test = data::load_fashion_mnist("test");
  } catch (const Error& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed: " << e.what();
  }
  data::FashionMnist small_train, small_test;
  small_train.images = train.images.slice(0, 0, 4096).contiguous();
  small_train.labels.assign(train.labels.begin(), train.labels.begin() + 4096);
  small_test.images = test.images.slice(0, 0, 2000).contiguous();
  small_test.labels.assign(test.labels.begin(), test.labels.begin() + 2000);
  manual_seed(5);
  std::shared_ptr<nn::Module> model = make_model("lenet300");
  TempDir dir;
  DeepCompressionOptions o;
  o.prune = 0.9;
  o.bits = 5;
  o.finetune_epochs = 1;  // 64 steps of batch 64: also trains the random model (~75%)
  o.centroid_epochs = 0.25;
  o.measure_speed = false;
  o.work_dir = dir.path();
  o.calibration_images = 256;
  const std::string out = dir.file("m.nbz");
  const DeepCompressionResult r = deep_compress(*model, "lenet300", small_train, small_test, o, out);
  const NbzModel file = load_nbz(out);
  const std::shared_ptr<nn::Module> decoded = float_model_from_nbz(file);
  const Int8Model q = Int8Model::from_nbz(file);
  NoGradGuard g;
  const std::vector<int64_t> pf = argmax(decoded->forward(small_test.images), 1);
  const std::vector<int64_t> pq = argmax(q(small_test.images), 1);
  const std::vector<int64_t> pu = argmax(q.mlp().forward_u8(small_test.images), 1);
  int64_t right_f = 0, right_q = 0, agree = 0, agree_u8 = 0;
  for (size_t i = 0; i < pf.size(); ++i) {
    right_f += pf[i] == small_test.labels[i];
    right_q += pq[i] == small_test.labels[i];
    agree += pf[i] == pq[i];
    agree_u8 += pf[i] == pu[i];
  }
  EXPECT_GE(agree_u8, 1960) << "uint8 chain: predictions that agree with the float decode, of 2000";
  const double acc_f = double(right_f) / 2000, acc_q = double(right_q) / 2000;
  EXPECT_GE(acc_f, 0.6) << "the short run should have learned (chance is 0.10)";
  EXPECT_NEAR(acc_f, r.stages[3].accuracy, 1e-12) << "the nbz stage is the float decode";
  EXPECT_NEAR(acc_q, r.stages[4].accuracy, 1e-12) << "the int8 stage is this model";
  EXPECT_LE(std::fabs(acc_q - acc_f), 0.01) << "float " << acc_f << " int8 " << acc_q;
  EXPECT_GE(agree, 1960) << "predictions that agree, of 2000";
}

// Distillation during the fine-tuning stages (options.teacher): alpha = 0 is exactly the plain
// cross-entropy run (the teacher's term weighs nothing), alpha = 1 pulls the student towards the
// teacher (its KL to the teacher on the training images ends lower than after the plain run), and
// the caller's teacher is left as it was, without gradients.
TEST(DeepCompressionPipeline, DistillationFromAFrozenTeacher) {
  const data::FashionMnist train = tiny_set(1, 256), test = tiny_set(2, 64);
  manual_seed(11);
  const std::shared_ptr<nn::Module> teacher = make_model("mlp");
  {  // a confident teacher (logits x 8), whose answers are far from a fresh student's
    Tensor w = teacher->get_parameter("fc3.weight");
    for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] *= 8.0f;
  }
  const std::vector<float> teacher_before = teacher->get_parameter("fc1.weight").contiguous().to_vector();
  manual_seed(12);
  const std::shared_ptr<nn::Module> start = make_model("mlp");
  auto run = [&](bool distill, double alpha) {
    TempDir dir;
    std::shared_ptr<nn::Module> model = start->clone();
    DeepCompressionOptions o;
    o.prune = 0.5;
    o.bits = 4;
    o.finetune_epochs = 6;  // 24 steps of batch 64
    o.centroid_epochs = 1;
    o.measure_speed = false;
    o.work_dir = dir.path();
    o.calibration_images = 32;
    if (distill) o.teacher = teacher;
    o.distill_temperature = 1.0;
    o.distill_alpha = alpha;
    deep_compress(*model, "mlp", train, test, o, dir.file("m.nbz"));
    return model;
  };
  const std::shared_ptr<nn::Module> plain = run(false, 0.9), alpha0 = run(true, 0.0), alpha1 = run(true, 1.0);
  for (const char* p : {"fc1.weight", "fc2.weight", "fc3.weight", "fc3.bias"})
    EXPECT_EQ(alpha0->get_parameter(p).contiguous().to_vector(), plain->get_parameter(p).contiguous().to_vector()) << p;
  // KL(p_teacher || p_student) on the training images, in double, from the logits.
  auto kl_to_teacher = [&](nn::Module& student) {
    NoGradGuard g;
    const std::vector<float> t = teacher->forward(train.images).to_vector(), s = student.forward(train.images).to_vector();
    double total = 0;
    for (size_t row = 0; row < t.size() / 10; ++row) {
      double mt = -1e300, ms = -1e300, zt = 0, zs = 0;
      for (size_t c = 0; c < 10; ++c) mt = std::max(mt, double(t[row * 10 + c])), ms = std::max(ms, double(s[row * 10 + c]));
      for (size_t c = 0; c < 10; ++c) zt += std::exp(t[row * 10 + c] - mt), zs += std::exp(s[row * 10 + c] - ms);
      for (size_t c = 0; c < 10; ++c) {
        const double lpt = t[row * 10 + c] - mt - std::log(zt), lps = s[row * 10 + c] - ms - std::log(zs);
        total += std::exp(lpt) * (lpt - lps);
      }
    }
    return total / (t.size() / 10);
  };
  const double kl_plain = kl_to_teacher(*plain), kl_distilled = kl_to_teacher(*alpha1);
  RecordProperty("kl_plain", std::to_string(kl_plain));
  RecordProperty("kl_distilled", std::to_string(kl_distilled));
  EXPECT_LT(kl_distilled, 0.6 * kl_plain) << "distilled " << kl_distilled << ", plain " << kl_plain;
  EXPECT_EQ(teacher->get_parameter("fc1.weight").contiguous().to_vector(), teacher_before);
  EXPECT_FALSE(teacher->get_parameter("fc1.weight").grad().defined());
  EXPECT_TRUE(teacher->get_parameter("fc1.weight").requires_grad()) << "the caller's teacher is not frozen, its clone is";
}

TEST(DeepCompressionPipeline, BadOptionsAreRejectedBeforeAnyWork) {
  TempDir dir;
  const std::string out = dir.file("m.nbz");
  DeepCompressionOptions o;
  EXPECT_NO_THROW(validate_options("lenet300", o, out));
  auto bad = [&](DeepCompressionOptions x, const std::string& arch, const std::string& path) {
    EXPECT_THROW(validate_options(arch, x, path), Error);
  };
  DeepCompressionOptions p = o;
  p.prune = 1.0;
  bad(p, "lenet300", out);
  p = o;
  p.bits = 9;
  bad(p, "lenet300", out);
  p.bits = 1;
  bad(p, "lenet300", out);
  bad(o, "resnet", out);
  bad(o, "lenet300", dir.file("no/such/folder/m.nbz"));
  EXPECT_TRUE(dir.listing().empty());
}

#ifdef NIBBLE_CLI
// The command: each bad input is one line on stderr, exit code 2, and nothing written.
TEST(DeepCompressionCli, BadInputExits2AndWritesNothing) {
  if (!std::filesystem::exists(NIBBLE_CLI)) {
    GTEST_SKIP() << "the nibble command is not built (" << NIBBLE_CLI << "): build the nibble_cli target";
  }
  TempDir dir;
  nn::FashionMlp mlp;
  nn::save(mlp, dir.file("mlp.ckpt"));
  std::filesystem::create_directories(dir.file("empty"));
  const std::string cli = std::string(NIBBLE_CLI) + " compress ";
  const std::string quiet = " >/dev/null 2>" + dir.file("err.txt");
  const std::string good = dir.file("mlp.ckpt") + " --arch mlp --out " + dir.file("m.nbz");
  for (const std::string& bad : {dir.file("mlp.ckpt") + " --arch lenet300 --out " + dir.file("m.nbz"),  // wrong arch
                                 good + " --prune 1.0", good + " --bits 9", good + " --data " + dir.file("empty"),
                                 dir.file("mlp.ckpt") + " --arch mlp --out " + dir.file("missing/m.nbz"),
                                 good + " --distill-from " + dir.file("no-teacher.ckpt"),
                                 good + " --distill-from " + dir.file("mlp.ckpt") + " --teacher-arch cnn",
                                 good + " --distill-from " + dir.file("mlp.ckpt") + " --alpha 1.5"}) {
    SCOPED_TRACE(bad);
    const int status = std::system((cli + bad + quiet).c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
    std::ifstream err(dir.file("err.txt"));
    std::string line, rest;
    std::getline(err, line);
    EXPECT_NE(line.find("nibble compress:"), std::string::npos) << line;
    std::set<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) files.insert(e.path().filename().string());
    EXPECT_EQ(files, (std::set<std::string>{"mlp.ckpt", "empty", "err.txt"}));
  }
}
#endif

}  // namespace
}  // namespace nibble::compression
