#include "compression/deep_compression.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <tuple>
#include <unistd.h>

#include <omp.h>

#include "compression/distillation.h"
#include "compression/pruning.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/dataloader.h"
#include "core/io/image.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/models.h"
#include "nn/pooling.h"
#include "optim/sgd.h"

namespace nibble::compression {

namespace {

constexpr const char* kOp = "deep_compress";

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

// A buffer of the model by name ("input_mean"): the tensor itself (shares storage).
Tensor buffer(const nn::Module& model, const std::string& name) {
  for (const auto& nb : model.named_buffers())
    if (nb.first == name) return nb.second;
  fail(kOp, "the model has no buffer '" + name + "'");
}

// The Linear or Conv2d weight of `layer` (by name), and its module.
nn::Module& layer_module(nn::Module& model, const std::string& layer) { return model.get_submodule(layer); }

Tensor& weight_of(nn::Module& m) {
  if (auto* l = dynamic_cast<nn::Linear*>(&m)) return l->weight;
  if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) return c->weight;
  fail(kOp, "layer " + m.name() + " is neither Linear nor Conv2d");
}
Tensor& bias_of(nn::Module& m) {
  if (auto* l = dynamic_cast<nn::Linear*>(&m)) return l->bias;
  if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) return c->bias;
  fail(kOp, "layer " + m.name() + " is neither Linear nor Conv2d");
}

std::vector<float> to_floats(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::vector<float>(c.data(), c.data() + c.numel());
}

const std::vector<float>& extra(const NbzLayer& layer, const std::string& name) {
  for (const auto& e : layer.extras)
    if (e.first == name) return e.second;
  fail("Int8Model::from_nbz", "layer " + layer.name + " has no extra '" + name + "'",
       "the file was not written by nibble compress");
}

// Test accuracy of any forward function, in batches of 1000.
double accuracy_of(const std::function<Tensor(const Tensor&)>& forward, const data::FashionMnist& set) {
  NoGradGuard no_grad;
  const int64_t n = set.images.size(0);
  int64_t correct = 0;
  for (int64_t i = 0; i < n; i += 1000) {
    const int64_t j = std::min(n, i + 1000);
    const std::vector<int64_t> pred = argmax(forward(set.images.slice(0, i, j)), 1);
    for (int64_t k = i; k < j; ++k) correct += pred[static_cast<size_t>(k - i)] == set.labels[static_cast<size_t>(k)];
  }
  return n > 0 ? static_cast<double>(correct) / n : 0.0;
}

// Median and half the interquartile range of a list of timings.
std::pair<double, double> median_and_spread(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  const size_t n = t.size();
  return {t[n / 2], (t[(3 * n) / 4] - t[n / 4]) / 2};
}

// Times every stage's model at batch 1 and batch 256 in interleaved rounds: round r times stage 0,
// then stage 1, ..., so a change of machine load (other processes, a busy second core) hits every
// row alike and the ratios between rows stay meaningful. (Timing each stage when it was reached,
// minutes apart, once printed an fp32 row 5x slower than the same dense kernels a stage later.)
void time_stages(std::vector<StageRow>& rows, const std::vector<std::function<Tensor(const Tensor&)>>& forwards,
                 const data::FashionMnist& test, const DeepCompressionOptions& o) {
  if (!o.measure_speed || rows.empty() || o.timing_repeats < 1) return;
  NoGradGuard no_grad;
  // One thread by default (DeepCompressionOptions::timing_threads): on a 2-core machine with any
  // other load, two OpenMP threads wait for each other at every parallel region and the figures
  // swing 10x between runs (compression/RESULTS.md, "Time").
  struct Threads {
    int saved = omp_get_max_threads();
    explicit Threads(int n) { if (n > 0) omp_set_num_threads(n); }
    ~Threads() { omp_set_num_threads(saved); }
  } threads(o.timing_threads);
  const Tensor one = test.images.slice(0, 0, 1).contiguous();
  const Tensor batch = test.images.slice(0, 0, std::min<int64_t>(256, test.images.size(0))).contiguous();
  const int calls = 20;  // batch 1: many short calls per timing, so the clock's resolution does not matter
  auto ms = [](const std::function<void()>& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<std::vector<double>> b1(rows.size()), b256(rows.size());
  for (const auto& f : forwards) f(batch);  // warm-up: first-touch pages, packed weights, caches
  for (int r = 0; r < o.timing_repeats; ++r) {
    for (size_t i = 0; i < rows.size(); ++i) {
      b1[i].push_back(ms([&] { for (int k = 0; k < calls; ++k) forwards[i](one); }) / calls);
      b256[i].push_back(ms([&] { forwards[i](batch); }));
    }
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    std::tie(rows[i].latency_ms, rows[i].latency_spread_ms) = median_and_spread(b1[i]);
    const auto [t, spread] = median_and_spread(b256[i]);
    rows[i].throughput = batch.size(0) / (t / 1000.0);
    rows[i].throughput_spread = rows[i].throughput * spread / t;  // first order, from the time's spread
  }
}

int64_t file_size(const std::string& path) { return static_cast<int64_t>(std::filesystem::file_size(path)); }

// The pruned / shared stage files: CSR per layer (documented in the header).
//   pruned: per layer  rows, cols (int32), row_ptr int32[rows+1], col int32[nnz], value fp32[nnz], bias fp32
//   shared: the same with value -> code uint8[nnz], plus codebook int8[2^bits] and scales fp32[rows]
void write_csr_file(const std::string& path, nn::Module& model, const std::vector<std::string>& layers,
                    const std::vector<CompressedWeight>* shared) {
  std::string out;
  auto put = [&out](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  for (size_t li = 0; li < layers.size(); ++li) {
    nn::Module& m = layer_module(model, layers[li]);
    const Tensor w = weight_of(m).contiguous();
    const int32_t rows = static_cast<int32_t>(w.size(0)), cols = static_cast<int32_t>(w.numel() / w.size(0));
    put(&rows, 4);
    put(&cols, 4);
    std::vector<int32_t> row_ptr{0}, col;
    std::vector<float> val;
    for (int32_t r = 0; r < rows; ++r) {
      for (int32_t c = 0; c < cols; ++c) {
        const float v = w.data()[static_cast<int64_t>(r) * cols + c];
        if (v != 0.0f) {
          col.push_back(c);
          val.push_back(v);
        }
      }
      row_ptr.push_back(static_cast<int32_t>(col.size()));
    }
    put(row_ptr.data(), row_ptr.size() * 4);
    put(col.data(), col.size() * 4);
    if (shared) {
      const CompressedWeight& cw = (*shared)[li];
      put(cw.codes.data(), cw.codes.size());
      put(cw.codebook.data(), cw.codebook.size());
      put(cw.scales.data(), cw.scales.size() * 4);
    } else {
      put(val.data(), val.size() * 4);
    }
    const std::vector<float> b = to_floats(bias_of(m));
    put(b.data(), b.size() * 4);
  }
  io::write_file_atomically(path, kOp, out);
}

// A fresh temporary folder for the stage files.
std::string make_work_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "nibble-compress-XXXXXX").string();
  check(mkdtemp(templ.data()) != nullptr, kOp, "cannot create a temporary folder " + templ);
  return templ;
}

// Forward through the layers of `arch` collecting each compressed layer's input and output
// (after its ReLU when one follows): the activation ranges.
std::vector<std::vector<float>> activation_ranges(nn::Module& model, const std::string& arch, const Tensor& images) {
  NoGradGuard no_grad;
  std::vector<std::vector<float>> ranges;
  auto range = [](const Tensor& in, const Tensor& out) {
    const std::vector<float> a = to_floats(in), b = to_floats(out);
    const auto ia = std::minmax_element(a.begin(), a.end()), ib = std::minmax_element(b.begin(), b.end());
    return std::vector<float>{*ia.first, *ia.second, *ib.first, *ib.second};
  };
  const float mean = buffer(model, "input_mean").item(), sd = buffer(model, "input_std").item();
  if (arch == "cnn") {
    Tensor x = div(sub(images, Tensor::scalar(mean)), Tensor::scalar(sd));
    Tensor h1 = relu(model.get_submodule("conv1")(x));
    ranges.push_back(range(x, h1));
    h1 = max_pool2d(h1, 2);
    Tensor h2 = relu(model.get_submodule("conv2")(h1));
    ranges.push_back(range(h1, h2));
    h2 = max_pool2d(h2, 2).flatten(1);
    ranges.push_back(range(h2, model.get_submodule("fc")(h2)));
    return ranges;
  }
  Tensor x = div(sub(images.reshape({-1, 784}), Tensor::scalar(mean)), Tensor::scalar(sd));
  const std::vector<std::string> layers = compressed_layers(arch);
  for (size_t i = 0; i < layers.size(); ++i) {
    Tensor y = model.get_submodule(layers[i])(x);
    if (i + 1 < layers.size()) y = relu(y);
    ranges.push_back(range(x, y));
    x = y;
  }
  return ranges;
}

// Rephrases a module stub's "not implemented yet" into which module to finish (student edition).
template <typename F>
auto module_step(const std::string& module, const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const NotImplemented& e) {
    std::string first = e.what();
    first = first.substr(0, first.find('\n'));
    fail("deep_compress", what + " needs module " + module + ", which is not finished (" + first + ")",
         "finish it: edit the module's stub file, then `nibble test " + module + "` until it passes");
  }
}

}  // namespace

// ---- k-means ------------------------------------------------------------------------------------

KMeans1d kmeans_1d(const std::vector<float>& values, int k, int max_iterations) {
  const char* op = "kmeans_1d";
  NIBBLE_CHECK(k >= 1, op, "k must be at least 1, got " + std::to_string(k));
  NIBBLE_CHECK(!values.empty(), op, "no values to cluster", "a fully pruned layer has nothing to share");
  for (const float v : values) NIBBLE_CHECK(std::isfinite(v), op, "a value is not finite");
  const auto mm = std::minmax_element(values.begin(), values.end());
  const float lo = *mm.first, hi = *mm.second;
  KMeans1d r;
  r.centroids.resize(static_cast<size_t>(k));
  for (int j = 0; j < k; ++j)  // linear: lo, ..., hi (k = 1: the middle)
    r.centroids[static_cast<size_t>(j)] = k == 1 ? (lo + hi) / 2 : lo + (hi - lo) * static_cast<float>(j) / (k - 1);
  r.assignment.assign(values.size(), -1);
  for (r.iterations = 0; r.iterations < max_iterations;) {
    ++r.iterations;
    bool changed = false;
    for (size_t i = 0; i < values.size(); ++i) {
      int32_t best = 0;
      float best_d = std::abs(values[i] - r.centroids[0]);
      for (int j = 1; j < k; ++j) {
        const float d = std::abs(values[i] - r.centroids[static_cast<size_t>(j)]);
        if (d < best_d) {
          best_d = d;
          best = j;
        }
      }
      changed |= r.assignment[i] != best;
      r.assignment[i] = best;
    }
    if (!changed) break;
    std::vector<double> sum(static_cast<size_t>(k), 0.0);
    std::vector<int64_t> count(static_cast<size_t>(k), 0);
    for (size_t i = 0; i < values.size(); ++i) {
      sum[static_cast<size_t>(r.assignment[i])] += values[i];
      ++count[static_cast<size_t>(r.assignment[i])];
    }
    for (size_t j = 0; j < sum.size(); ++j)
      if (count[j] > 0) r.centroids[j] = static_cast<float>(sum[j] / count[j]);
  }
  return r;
}

std::vector<int8_t> round_to_int8(const std::vector<float>& centroids) {
  std::vector<int8_t> out;
  for (const float c : centroids) out.push_back(static_cast<int8_t>(std::clamp(std::nearbyint(c), -127.0f, 127.0f)));
  return out;
}

CompressedWeight share_weight(const Tensor& weight, int bits, const std::string& share) {
  const char* op = "share_weight";
  NIBBLE_CHECK(share == "kmeans" || share == "int8", op, "unknown share '" + share + "'", "kmeans or int8");
  NIBBLE_CHECK(share == "int8" || (bits >= 2 && bits <= 8), op, "bits must be 2..8, got " + std::to_string(bits));
  NIBBLE_CHECK(weight.dim() >= 2, op, "expects a Linear or Conv2d weight, got " + weight.shape_str());
  const Tensor w = weight.contiguous();
  const Tensor mask = weight.mask().defined() ? weight.mask().contiguous() : Tensor();
  CompressedWeight cw;
  cw.shape = w.shape();
  const int64_t rows = w.size(0), cols = w.numel() / rows;
  const float* d = w.data();
  for (int64_t e = 0; e < w.numel(); ++e)
    if (mask.defined() ? mask.data()[e] != 0.0f : d[e] != 0.0f) cw.positions.push_back(e);
  if (share == "int8") {
    std::vector<int8_t> q;
    nn::quantize_weights_per_channel(d, rows, cols, &q, &cw.scales);
    for (float& s : cw.scales) s = s > 0 ? s : 1.0f;  // an all-zero row: any positive scale
    cw.bits = 8;
    for (int v = -128; v <= 127; ++v) cw.codebook.push_back(static_cast<int8_t>(v));
    for (const int64_t e : cw.positions) cw.codes.push_back(static_cast<uint8_t>(q[static_cast<size_t>(e)] + 128));
    return cw;
  }
  float max_abs = 0.0f;
  for (const int64_t e : cw.positions) max_abs = std::max(max_abs, std::abs(d[e]));
  const float scale = max_abs > 0 ? max_abs / 127.0f : 1.0f;
  cw.scales.assign(static_cast<size_t>(rows), scale);
  cw.bits = bits;
  std::vector<float> v;
  for (const int64_t e : cw.positions) v.push_back(d[e] / scale);
  if (v.empty()) v.push_back(0.0f);  // a fully pruned layer: one code, no positions
  const KMeans1d km = kmeans_1d(v, 1 << bits);
  cw.codebook = round_to_int8(km.centroids);
  for (size_t i = 0; i < cw.positions.size(); ++i) cw.codes.push_back(static_cast<uint8_t>(km.assignment[i]));
  return cw;
}

std::vector<double> centroid_gradients(const CompressedWeight& w, const Tensor& grad) {
  NIBBLE_CHECK(grad.shape() == w.shape, "centroid_gradients",
               "grad " + grad.shape_str() + " does not match the weight " + shape_str(w.shape));
  const Tensor g = grad.contiguous();
  std::vector<double> out(w.codebook.size(), 0.0);
  for (size_t i = 0; i < w.positions.size(); ++i) out[w.codes[i]] += g.data()[w.positions[i]];
  return out;
}

void tie_weight(Tensor& weight, const CompressedWeight& w, const std::vector<float>& centroids) {
  NIBBLE_CHECK(weight.shape() == w.shape && weight.is_contiguous(), "tie_weight",
               "weight " + weight.shape_str() + " does not match " + shape_str(w.shape));
  float* d = weight.data();
  std::fill(d, d + weight.numel(), 0.0f);
  const int64_t cols = weight.numel() / weight.size(0);
  for (size_t i = 0; i < w.positions.size(); ++i)
    d[w.positions[i]] = w.scales[static_cast<size_t>(w.positions[i] / cols)] * centroids[w.codes[i]];
}

// ---- architectures --------------------------------------------------------------------------------

std::shared_ptr<nn::Module> make_model(const std::string& arch) {
  if (arch == "lenet300") return std::make_shared<nn::LeNet300>();
  if (arch == "mlp") return std::make_shared<nn::FashionMlp>();
  if (arch == "cnn") return std::make_shared<nn::FashionCnn>();
  fail("nibble compress", "unknown architecture '" + arch + "'", "use --arch lenet300, mlp or cnn");
}

std::string nbz_arch_name(const std::string& arch) {
  if (arch == "lenet300") return "lenet300";
  if (arch == "mlp") return "fashion_mlp";
  if (arch == "cnn") return "fashion_cnn";
  fail("nibble compress", "unknown architecture '" + arch + "'", "use --arch lenet300, mlp or cnn");
}

namespace {
std::string arch_of_nbz(const std::string& name) {
  if (name == "lenet300") return "lenet300";
  if (name == "fashion_mlp") return "mlp";
  if (name == "fashion_cnn") return "cnn";
  fail("Int8Model::from_nbz", "unknown architecture '" + name + "' in the file",
       "nibble runs lenet300, fashion_mlp and fashion_cnn");
}
}  // namespace

std::vector<std::string> compressed_layers(const std::string& arch) {
  if (arch == "cnn") return {"conv1", "conv2", "fc"};
  make_model(arch);  // throws for an unknown arch
  return {"fc1", "fc2", "fc3"};
}

NbzModel to_nbz(nn::Module& model, const std::string& arch, const std::vector<CompressedWeight>& weights,
                const Tensor& calibration_images) {
  const std::vector<std::string> layers = compressed_layers(arch);
  NIBBLE_CHECK(weights.size() == layers.size(), "to_nbz", "expects one CompressedWeight per layer");
  const auto ranges = activation_ranges(model, arch, calibration_images);
  NbzModel file;
  file.arch = nbz_arch_name(arch);
  for (size_t i = 0; i < layers.size(); ++i) {
    nn::Module& m = layer_module(model, layers[i]);
    NbzLayer l;
    l.name = layers[i];
    if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) {
      l.kind = "conv2d";
      l.attrs = {c->options.stride.h, c->options.padding.h};
    } else {
      l.kind = "linear";
    }
    l.weight = weights[i];
    l.extras.emplace_back("bias", to_floats(bias_of(m)));
    l.extras.emplace_back("act_range", ranges[i]);
    if (i == 0)
      l.extras.emplace_back("input_standardize", std::vector<float>{buffer(model, "input_mean").item(),
                                                                    buffer(model, "input_std").item()});
    file.layers.push_back(std::move(l));
  }
  return file;
}

std::shared_ptr<nn::Module> float_model_from_nbz(const NbzModel& file) {
  const std::string arch = arch_of_nbz(file.arch);
  std::shared_ptr<nn::Module> model = make_model(arch);
  const std::vector<std::string> layers = compressed_layers(arch);
  NIBBLE_CHECK(file.layers.size() == layers.size(), "float_model_from_nbz",
               "the file has " + std::to_string(file.layers.size()) + " layers, " + file.arch + " has " +
                   std::to_string(layers.size()));
  NoGradGuard no_grad;
  for (size_t i = 0; i < layers.size(); ++i) {
    nn::Module& m = layer_module(*model, layers[i]);
    Tensor& w = weight_of(m);
    const Tensor decoded = decode_weight(file.layers[i].weight);
    NIBBLE_CHECK(decoded.shape() == w.shape(), "float_model_from_nbz",
                 "layer " + layers[i] + " has shape " + decoded.shape_str() + " in the file, " + w.shape_str() +
                     " in " + file.arch);
    std::copy(decoded.data(), decoded.data() + decoded.numel(), w.data());
    const std::vector<float>& b = extra(file.layers[i], "bias");
    Tensor& bias = bias_of(m);
    NIBBLE_CHECK(static_cast<int64_t>(b.size()) == bias.numel(), "float_model_from_nbz", "bias size differs");
    std::copy(b.begin(), b.end(), bias.data());
  }
  const std::vector<float>& st = extra(file.layers[0], "input_standardize");
  buffer(*model, "input_mean").data()[0] = st.at(0);
  buffer(*model, "input_std").data()[0] = st.at(1);
  model->eval();
  return model;
}

// Measured with bench_sparse_kernels (one thread, 2026-12-02, random weights): the course CNN's
// conv2 (8 -> 16, 5x5, 14x14, with its 2x2 pool) is faster sparse up to ~0.6 density (1.2-1.3x at
// 0.5, 0.8-0.9x at 0.75, 4-4.6x at 0.1, at batch 1 and 256 alike); conv1 (1 -> 8) is faster
// sparse at any density (2x even at 1.0: the dense path's im2col and packing of K = 25 rows cost
// more than the multiplies), so the threshold is the general one.
const double Int8Model::kSparseConvMaxDensity = 0.6;

Int8Model Int8Model::from_nbz(const NbzModel& file, bool sparse_kernels) {
  Int8Model q;
  q.arch_ = arch_of_nbz(file.arch);
  // The float model only supplies shapes and biases (its weights are the decoded ones).
  std::shared_ptr<nn::Module> model = float_model_from_nbz(file);
  const std::vector<std::string> layers = compressed_layers(q.arch_);
  const std::vector<float>& st = extra(file.layers[0], "input_standardize");
  q.mlp_.input_mean = q.cnn_.input_mean = st.at(0);
  q.mlp_.input_std = q.cnn_.input_std = st.at(1);
  // Layer i of the file -> its slot in the quantized model of the arch.
  nn::QuantizedLinear* linear_slots[] = {&q.mlp_.fc1, &q.mlp_.fc2, &q.mlp_.fc3};
  nn::QuantizedConv2d* conv_slots[] = {&q.cnn_.conv1, &q.cnn_.conv2};
  size_t n_linear = 0, n_conv = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const NbzLayer& l = file.layers[i];
    const CompressedWeight& cw = l.weight;
    nn::Int8Weights iw;
    iw.values.assign(static_cast<size_t>(numel_of(cw.shape)), 0);
    for (size_t k = 0; k < cw.positions.size(); ++k) iw.values[static_cast<size_t>(cw.positions[k])] = cw.codebook[cw.codes[k]];
    iw.scales = cw.scales;
    const std::vector<float>& r = extra(l, "act_range");
    NIBBLE_CHECK(r.size() == 4, "Int8Model::from_nbz", "layer " + l.name + ": act_range needs 4 numbers");
    const nn::ActivationRanges ranges{r[0], r[1], r[2], r[3]};
    nn::QuantizeOptions opt;
    opt.fuse_relu = i + 1 < layers.size();
    nn::Module& m = layer_module(*model, layers[i]);
    if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) {
      nn::QuantizedConv2d& conv = *conv_slots[n_conv++];
      conv = nn::QuantizedConv2d::from_int8(*c, iw, ranges, opt);
      conv.set_sparse(sparse_kernels && conv.weight_density() < kSparseConvMaxDensity);
    } else {
      const auto& lin = dynamic_cast<nn::Linear&>(m);
      nn::QuantizedLinear ql = nn::QuantizedLinear::from_int8(lin, iw, ranges, opt);
      ql.set_sparse(sparse_kernels);  // used per call when the work is small (batch 1): see the layer
      if (q.arch_ == "cnn") q.cnn_.fc = std::move(ql);
      else *linear_slots[n_linear++] = std::move(ql);
    }
  }
  return q;
}

Tensor Int8Model::forward(const Tensor& images) const {
  if (arch_ == "cnn") return cnn_.forward(images);
  return mlp_.forward(images);  // faster than mlp_.forward_u8 (see the header)
}

// ---- the pipeline ---------------------------------------------------------------------------------

void validate_options(const std::string& arch, const DeepCompressionOptions& o, const std::string& out) {
  const char* op = "nibble compress";
  make_model(arch);
  check(std::isfinite(o.prune) && o.prune >= 0 && o.prune < 1, op,
        "--prune must be in [0, 1), got " + std::to_string(o.prune),
        "the fraction of weights set to zero, e.g. --prune 0.92 (1.0 would leave no weights)");
  check(o.share == "kmeans" || o.share == "int8", op, "--share must be kmeans or int8, got '" + o.share + "'",
        "--share kmeans (2^bits shared weights per layer) or --share int8 (per-channel int8)");
  check(o.share == "int8" || (o.bits >= 2 && o.bits <= 8), op, "--bits must be 2..8, got " + std::to_string(o.bits),
        "the codebook has 2^bits entries on the int8 grid: at most 8 bits");
  check(o.schedule == "cubic" || o.schedule == "oneshot", op, "--schedule must be cubic or oneshot, got '" + o.schedule + "'");
  check(o.finetune_epochs >= 0 && o.centroid_epochs >= 0, op, "epochs must be >= 0");
  check(std::isfinite(o.distill_temperature) && o.distill_temperature > 0, op,
        "the distillation temperature must be > 0, got " + std::to_string(o.distill_temperature));
  check(std::isfinite(o.distill_alpha) && o.distill_alpha >= 0 && o.distill_alpha <= 1, op,
        "the distillation alpha must be in [0, 1], got " + std::to_string(o.distill_alpha));
  check(!out.empty(), op, "needs --out FILE", "e.g. --out model.nbz");
  io::check_writable(out, op);
}

DeepCompressionResult deep_compress(nn::Module& model, const std::string& arch, const data::FashionMnist& train,
                                    const data::FashionMnist& test, const DeepCompressionOptions& o,
                                    const std::string& out) {
  validate_options(arch, o, out);
  DeepCompressionResult res;
  res.arch = arch;
  const std::vector<std::string> layers = compressed_layers(arch);
  for (const auto& name : layers) res.compressed_weights += weight_of(layer_module(model, name)).numel();
  const std::string dir = o.work_dir.empty() ? make_work_dir() : o.work_dir;
  res.work_dir = dir;
  auto progress = [&](const std::string& label, int64_t done, int64_t total, double loss) {
    if (o.progress) o.progress(label, done, total, loss);
  };
  auto nonzeros = [&](nn::Module& m) {
    int64_t nz = 0;
    for (const auto& name : layers) {
      const Tensor w = weight_of(layer_module(m, name)).contiguous();
      for (int64_t e = 0; e < w.numel(); ++e) nz += w.data()[e] != 0.0f;
    }
    return nz;
  };
  // Each row's model is kept until the end (time_stages): the float stages as clones, since the
  // later stages prune and share `model` in place.
  std::vector<std::function<Tensor(const Tensor&)>> stage_forwards;
  auto add_row = [&](const std::string& stage, const std::string& file, int64_t nz,
                     const std::function<Tensor(const Tensor&)>& forward) {
    StageRow row;
    row.stage = stage;
    row.file = file;
    row.nonzeros = nz;
    row.file_bytes = file_size(file);
    row.bits_per_weight = 8.0 * row.file_bytes / static_cast<double>(res.compressed_weights);
    row.accuracy = accuracy_of(forward, test);
    res.stages.push_back(row);
    stage_forwards.push_back(forward);
  };
  auto float_forward = [](const nn::Module& m) {
    std::shared_ptr<nn::Module> copy = m.clone();
    copy->eval();
    return [copy](const Tensor& x) {
      NoGradGuard no_grad;
      return (*copy)(x);
    };
  };

  // The fine-tuning loss: cross-entropy, or distillation from a frozen clone of the teacher.
  std::shared_ptr<nn::Module> teacher;
  if (o.teacher) {
    teacher = o.teacher->clone();
    teacher->requires_grad_(false).eval();  // frozen: no gradient, dropout off
  }
  auto train_loss = [&](const Tensor& logits, const data::Batch& b) {
    if (!teacher) return cross_entropy(logits, b.y);
    Tensor t;
    {
      NoGradGuard no_grad;
      t = teacher->forward(b.x);  // [B, 10], a target: no tape
    }
    return module_step("05", "distillation", [&] {
      return distillation_loss(logits, t, b.y, o.distill_temperature, o.distill_alpha);
    });
  };

  // 1. fp32.
  model.eval();
  const std::string fp32_path = dir + "/fp32.ckpt";
  nn::save(model, fp32_path);
  add_row("fp32", fp32_path, nonzeros(model), float_forward(model));

  // 2. Iterative magnitude pruning with fine-tuning.
  manual_seed(o.seed);
  data::DataLoader loader(train.images, train.labels, 64, /*shuffle=*/true, o.seed);
  const int64_t prune_steps = static_cast<int64_t>(std::llround(o.finetune_epochs * loader.num_batches()));
  if (o.prune > 0) {
    GradualPruning cfg;
    cfg.layers = layers;
    cfg.final_sparsity = o.prune;
    cfg.global = true;
    cfg.begin_step = 0;
    if (o.schedule == "oneshot" || prune_steps < 10) {
      cfg.every = 1;
      cfg.end_step = 1;  // polynomial_sparsity reaches the target at end_step
    } else {
      // Prune every 1/50 of the run over its first two thirds, then fine-tune with the final masks.
      cfg.every = std::max<int64_t>(1, prune_steps / 50);
      cfg.end_step = std::max<int64_t>(cfg.every, (prune_steps * 2 / 3) / cfg.every * cfg.every);
    }
    optim::SGD sgd(model.parameters(), {o.lr, 0.9f});
    model.train();
    int64_t step = 0;
    module_step("03", "pruning", [&] { return gradual_prune_step(model, cfg, 0); });
    while (step < prune_steps) {
      for (const data::Batch& b : loader) {
        if (step >= prune_steps) break;
        const Tensor loss = train_loss(model(b.x), b);
        sgd.zero_grad();
        loss.backward();
        sgd.step();
        ++step;
        module_step("03", "pruning", [&] { return gradual_prune_step(model, cfg, step); });
        progress("prune + fine-tune", step, prune_steps, loss.item());
      }
    }
    // Whatever the step count, end exactly at the target.
    module_step("03", "pruning", [&] { return global_unstructured(model, layers, o.prune); });
    model.eval();
  }
  for (const auto& name : layers) {
    const Tensor& w = weight_of(layer_module(model, name));
    res.masks.push_back(w.mask().defined() ? w.mask().clone() : Tensor::ones(w.shape()));
    res.mask_names.push_back(name);
  }
  const std::string pruned_path = dir + "/pruned.csr";
  write_csr_file(pruned_path, model, layers, nullptr);
  add_row("pruned", pruned_path, nonzeros(model), float_forward(model));

  // 3. Weight sharing on the int8 grid, then centroid fine-tuning (k-means).
  std::vector<CompressedWeight> shared;
  std::vector<std::vector<float>> centroids;  // in units of the scale, float while fine-tuning
  for (const auto& name : layers) {
    Tensor& w = weight_of(layer_module(model, name));
    shared.push_back(share_weight(w, o.bits, o.share));
    const CompressedWeight& cw = shared.back();
    centroids.emplace_back(cw.codebook.begin(), cw.codebook.end());
    tie_weight(w, cw, centroids.back());
  }
  const int64_t centroid_steps =
      o.share == "kmeans" ? static_cast<int64_t>(std::llround(o.centroid_epochs * loader.num_batches())) : 0;
  if (centroid_steps > 0) {
    std::vector<Tensor> biases;
    for (const auto& name : layers) biases.push_back(bias_of(layer_module(model, name)));
    optim::SGD bias_sgd(biases, {o.lr, 0.9f});
    model.train();
    int64_t step = 0;
    while (step < centroid_steps) {
      for (const data::Batch& b : loader) {
        if (step >= centroid_steps) break;
        const Tensor loss = train_loss(model(b.x), b);
        model.zero_grad();
        loss.backward();
        for (size_t li = 0; li < layers.size(); ++li) {
          Tensor& w = weight_of(layer_module(model, layers[li]));
          const std::vector<double> g = centroid_gradients(shared[li], w.grad());
          const float s = shared[li].scales[0];  // one scale per layer (k-means)
          // Han: C_k -= lr * sum of members' gradients, C_k = s * c_k in weight units.
          for (size_t k = 0; k < g.size(); ++k)
            centroids[li][k] = std::clamp(centroids[li][k] - static_cast<float>(o.centroid_lr * g[k] / s), -127.0f, 127.0f);
          tie_weight(w, shared[li], centroids[li]);
        }
        bias_sgd.step();
        ++step;
        progress("centroid fine-tune", step, centroid_steps, loss.item());
      }
    }
    model.zero_grad();
    model.eval();
  }
  for (size_t li = 0; li < layers.size(); ++li) {  // the final codebook: centroids on the int8 grid
    shared[li].codebook = round_to_int8(centroids[li]);
    centroids[li].assign(shared[li].codebook.begin(), shared[li].codebook.end());
    tie_weight(weight_of(layer_module(model, layers[li])), shared[li], centroids[li]);
  }
  if (o.share == "kmeans") {
    for (CompressedWeight& cw : shared) order_codebook_by_use(cw);  // a cheaper Huffman table (nbz.h)
  }
  const std::string shared_path = dir + "/shared.bin";
  write_csr_file(shared_path, model, layers, &shared);
  add_row("shared", shared_path, nonzeros(model), float_forward(model));

  // 4. The .nbz file (activation ranges calibrated once, stored), reloaded and evaluated.
  const Tensor calib = train.images.slice(0, 0, std::min<int64_t>(o.calibration_images, train.images.size(0))).contiguous();
  res.written = to_nbz(model, arch, shared, calib);
  const NbzStats stats = module_step("01", "Huffman coding", [&] { return save_nbz(res.written, out); });
  for (const NbzLayerStats& s : stats.layers)
    res.coding.push_back({s.name, s.weights, s.nonzeros, s.sparsity_encoding, s.entropy_codes_bits,
                          s.huffman_codes_bits, s.table_codes_bits, s.entropy_positions_bits,
                          s.huffman_positions_bits, s.table_positions_bits});
  const NbzModel reloaded = module_step("01", "Huffman decoding", [&] { return load_nbz(out); });
  std::shared_ptr<nn::Module> decoded = float_model_from_nbz(reloaded);
  add_row("nbz", out, nonzeros(*decoded), float_forward(*decoded));
  const auto int8 = std::make_shared<const Int8Model>(Int8Model::from_nbz(reloaded));
  add_row("int8 (from file)", out, nonzeros(*decoded), [int8](const Tensor& x) { return (*int8)(x); });
  time_stages(res.stages, stage_forwards, test, o);
  return res;
}

void save_mask_png(const std::string& path, const std::vector<Tensor>& masks) {
  NIBBLE_CHECK(!masks.empty(), "save_mask_png", "no masks");
  int64_t width = 0, height = 0;
  const int64_t band = 4;
  for (const Tensor& m : masks) {
    width = std::max(width, m.numel() / m.size(0));
    height += m.size(0) + band;
  }
  Tensor img = Tensor::full({height - band, width}, 0.5f);
  int64_t row = 0;
  for (const Tensor& m : masks) {
    const Tensor c = m.contiguous();
    const int64_t rows = c.size(0), cols = c.numel() / rows;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k) img.data()[(row + r) * width + k] = c.data()[r * cols + k] != 0.0f ? 1.0f : 0.0f;
    row += rows + band;
  }
  io::save_png(path, img);
}

}  // namespace nibble::compression
