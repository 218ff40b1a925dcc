// `nibble compress MODEL.ckpt --arch lenet300|mlp|cnn [...] --out model.nbz`: Deep Compression of a
// trained checkpoint (compression/deep_compression.h) — prune, share weights, Huffman-code into a
// .nbz file, reload it and run it on the int8 kernels — and the report of every stage.
// Every option, the checkpoint, the data folder and --out are checked before any training.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "compress_report.h"
#include "core/io/atomic_file.h"
#include "core/io/idx.h"
#include "nn/checkpoint.h"
#include "progress.h"

namespace nibble::cli {

namespace fs = std::filesystem;
using compression::DeepCompressionOptions;
using compression::DeepCompressionResult;

namespace {

// The first existing file among the usual spellings of an IDX file of `split`, or "".
std::string idx_file(const std::string& dir, const std::string& split, const std::string& what) {
  const std::string p = split == "train" ? "train" : "t10k";
  const std::string rank = what == "images" ? "idx3" : "idx1";
  for (const std::string& name : {p + "-" + what + "-" + rank + "-ubyte.gz", p + "-" + what + "-" + rank + "-ubyte",
                                   p + "-" + what + "." + rank + "-ubyte", p + "-" + what + "." + rank + "-ubyte.gz"}) {
    std::error_code ec;
    if (fs::is_regular_file(dir + "/" + name, ec)) return dir + "/" + name;
  }
  return "";
}

std::string human_bytes(int64_t b) {
  char buf[32];
  if (b >= 1 << 20)
    std::snprintf(buf, sizeof buf, "%.2f MB", b / 1048576.0);
  else if (b >= 1 << 10)
    std::snprintf(buf, sizeof buf, "%.1f KB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  return buf;
}

// Bytes of `tool args < in`, or -1 when the tool is missing or fails.
int64_t compressed_by(const std::string& tool, const std::string& in) {
  const std::string out = in + "." + tool.substr(0, tool.find(' '));
  const std::string cmd = tool + " -c '" + in + "' > '" + out + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) {
    std::remove(out.c_str());
    return -1;
  }
  std::error_code ec;
  const auto n = fs::file_size(out, ec);
  std::remove(out.c_str());
  return ec ? -1 : static_cast<int64_t>(n);
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (const char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

const char* kSummary =
    "Deep Compression (Han et al. 2016) of a trained Fashion-MNIST checkpoint: iterative magnitude\n"
    "pruning with the cubic schedule while fine-tuning (masks held), weight sharing by k-means on the\n"
    "int8 grid with centroid fine-tuning (or plain per-channel int8), canonical Huffman coding into a\n"
    ".nbz file, then the file is reloaded and run on the int8 kernels. Prints one row per stage\n"
    "(non-zeros, bits per weight, bytes of a real file, test accuracy, latency at batch 1, throughput\n"
    "at batch 256), the entropy of the codes against Huffman's bits, and gzip/xz/zstd of the fp32\n"
    "checkpoint. Bad input is reported in one line (exit 2) before any training; nothing is written.";

}  // namespace

void check_idx_folder(const std::string& dir, const std::string& op) {
  std::error_code ec;
  check(fs::is_directory(dir, ec), op, "--data " + dir + " is not a folder",
        "give the folder holding train-images-idx3-ubyte(.gz) and friends, or install dataset-fashion-mnist");
  for (const char* split : {"train", "test"})
    for (const char* what : {"images", "labels"})
      check(!idx_file(dir, split, what).empty(), op,
            "--data " + dir + " has no " + (std::string(split) == "train" ? "train" : "t10k") + "-" + what +
                "-idx" + (std::string(what) == "images" ? "3" : "1") + "-ubyte(.gz) file",
            "point --data at an IDX dataset folder (MNIST or Fashion-MNIST layout)");
}

data::FashionMnist load_idx_folder(const std::string& dir, const std::string& split) {
  const io::IdxDataset raw = io::read_idx_dataset(idx_file(dir, split, "images"), idx_file(dir, split, "labels"));
  const int64_t n = raw.images.dims[0];
  data::FashionMnist out;
  out.images = Tensor::empty({n, 1, 28, 28});
  for (int64_t i = 0; i < n * 784; ++i) out.images.data()[i] = raw.images.data[static_cast<size_t>(i)] / 255.0f;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = raw.labels.data[static_cast<size_t>(i)];
    check(label < 10, "load_idx_folder", dir + ": label " + std::to_string(label) + " is outside 0..9");
    out.labels.push_back(label);
  }
  return out;
}

DeepCompressionResult run_pipeline(nn::Module& model, const std::string& arch, const data::FashionMnist& train,
                                   const data::FashionMnist& test, DeepCompressionOptions options,
                                   const std::string& out) {
  std::unique_ptr<ProgressBar> bar;
  std::string current;
  options.progress = [&](const std::string& label, int64_t done, int64_t total, double loss) {
    if (label != current) {
      if (bar) bar->finish();
      bar = std::make_unique<ProgressBar>("  " + arch + " " + label, total);
      current = label;
    }
    bar->update(64, loss);
    if (done == total) {
      bar->finish();
      bar.reset();
      current.clear();
    }
  };
  return compression::deep_compress(model, arch, train, test, options, out);
}

void print_compress_report(const DeepCompressionResult& r, const DeepCompressionOptions& o, const std::string& json,
                           const std::string& png) {
  const int64_t fp32_bytes = r.stages.front().file_bytes;
  const double fp32_acc = r.stages.front().accuracy;
  std::printf("\n%s: prune %.2f (%s schedule), share %s%s, %lld weights in %zu layers\n", r.arch.c_str(), o.prune,
              o.schedule.c_str(), o.share.c_str(), o.share == "kmeans" ? (" " + std::to_string(o.bits) + " bits").c_str() : "",
              static_cast<long long>(r.compressed_weights), r.coding.size());
  std::printf("  %-17s %9s %8s %11s %7s %9s %16s %20s\n", "stage", "non-zero", "bits/w", "bytes", "ratio",
              "accuracy", "batch 1 ms", "batch 256 img/s");
  for (const auto& s : r.stages) {
    char lat[32], thr[32];
    std::snprintf(lat, sizeof lat, "%.4f±%.4f", s.latency_ms, s.latency_spread_ms);
    std::snprintf(thr, sizeof thr, "%.0f±%.0f", s.throughput, s.throughput_spread);
    std::printf("  %-17s %9lld %8.3f %11lld %6.1fx %9.4f %16s %20s\n", s.stage.c_str(),
                static_cast<long long>(s.nonzeros), s.bits_per_weight, static_cast<long long>(s.file_bytes),
                static_cast<double>(fp32_bytes) / s.file_bytes, s.accuracy, o.measure_speed ? lat : "-",
                o.measure_speed ? thr : "-");
  }
  const auto& last = r.stages.back();
  std::printf("  -> %.1fx smaller than the fp32 checkpoint (%s -> %s), accuracy %+.2f points",
              static_cast<double>(fp32_bytes) / last.file_bytes, human_bytes(fp32_bytes).c_str(),
              human_bytes(last.file_bytes).c_str(), 100 * (last.accuracy - fp32_acc));
  if (o.measure_speed)
    std::printf(", int8 from file %.1fx fp32 at batch 1, %.1fx at batch 256", r.stages.front().latency_ms / last.latency_ms,
                last.throughput / r.stages.front().throughput);
  std::printf("\n  (bits/w: 8 x file bytes / dense weights; timings: %s, the stages in turn in each of %d rounds,\n"
              "   median ± half the interquartile range)\n",
              o.timing_threads == 1 ? "one thread" : "OpenMP's threads", o.timing_repeats);

  std::printf("  general-purpose compressors of the fp32 checkpoint:");
  std::vector<std::pair<std::string, int64_t>> tools;
  for (const char* tool : {"gzip -9", "xz -9", "zstd -19 -q"}) {
    const int64_t b = compressed_by(tool, r.stages.front().file);
    tools.emplace_back(tool, b);
    if (b < 0)
      std::printf("  %s: not installed", tool);
    else
      std::printf("  %s %lld (%.2fx)", std::string(tool).substr(0, std::string(tool).find(' ')).c_str(),
                  static_cast<long long>(b), static_cast<double>(fp32_bytes) / b);
  }
  std::printf(
      "\n  Huffman coding per layer, in bits. H: the empirical entropy of the stream's symbols x their count;\n"
      "  words: the codewords, over: how far they exceed H (Huffman's own cost); table: the stream's\n"
      "  code-length table (the decoder's side information); all: words + table against H.\n");
  std::printf("  %-6s %7s %6s %-7s | %8s %8s %6s %5s %6s | %8s %8s %6s %5s %6s\n", "layer", "weights", "kept",
              "where", "codes H", "words", "over", "table", "all", "gaps H", "words", "over", "table", "all");
  for (const auto& c : r.coding) {
    auto over = [](double h, double bits) { return h > 0 ? 100.0 * (bits - h) / h : 0.0; };
    std::printf("  %-6s %7lld %6lld %-7s | %8.0f %8.0f %5.2f%% %5.0f %5.1f%% | %8.0f %8.0f %5.2f%% %5.0f %5.1f%%\n",
                c.name.c_str(), static_cast<long long>(c.weights), static_cast<long long>(c.nonzeros),
                c.sparsity_encoding.c_str(), c.entropy_codes_bits, c.huffman_codes_bits - c.table_codes_bits,
                over(c.entropy_codes_bits, c.huffman_codes_bits - c.table_codes_bits), c.table_codes_bits,
                over(c.entropy_codes_bits, c.huffman_codes_bits), c.entropy_positions_bits,
                c.huffman_positions_bits - c.table_positions_bits,
                over(c.entropy_positions_bits, c.huffman_positions_bits - c.table_positions_bits),
                c.table_positions_bits, over(c.entropy_positions_bits, c.huffman_positions_bits));
  }
  if (!png.empty()) {
    compression::save_mask_png(png, r.masks);
    std::printf("  sparsity masks (white = kept; layers top to bottom): %s\n", png.c_str());
  }
  if (json.empty()) return;
  std::ostringstream j;
  j << "{\n  \"arch\": \"" << r.arch << "\",\n  \"options\": {\"prune\": " << o.prune << ", \"schedule\": \""
    << o.schedule << "\", \"bits\": " << o.bits << ", \"share\": \"" << o.share
    << "\", \"finetune_epochs\": " << o.finetune_epochs << ", \"centroid_epochs\": " << o.centroid_epochs
    << ", \"distill\": ";
  if (o.teacher)
    j << "{\"temperature\": " << o.distill_temperature << ", \"alpha\": " << o.distill_alpha << "}";
  else
    j << "null";
  j << "},\n  \"weights\": " << r.compressed_weights << ",\n  \"stages\": [\n";
  for (size_t i = 0; i < r.stages.size(); ++i) {
    const auto& s = r.stages[i];
    j << "    {\"stage\": \"" << json_escape(s.stage) << "\", \"nonzeros\": " << s.nonzeros
      << ", \"bits_per_weight\": " << s.bits_per_weight << ", \"bytes\": " << s.file_bytes
      << ", \"ratio\": " << static_cast<double>(fp32_bytes) / s.file_bytes << ", \"accuracy\": " << s.accuracy
      << ", \"latency_ms\": " << s.latency_ms << ", \"latency_spread_ms\": " << s.latency_spread_ms
      << ", \"throughput\": " << s.throughput << ", \"throughput_spread\": " << s.throughput_spread << "}"
      << (i + 1 < r.stages.size() ? ",\n" : "\n");
  }
  j << "  ],\n  \"compressors\": {";
  for (size_t i = 0; i < tools.size(); ++i)
    j << "\"" << tools[i].first.substr(0, tools[i].first.find(' ')) << "\": " << tools[i].second
      << (i + 1 < tools.size() ? ", " : "");
  j << "},\n  \"coding\": [\n";
  for (size_t i = 0; i < r.coding.size(); ++i) {
    const auto& c = r.coding[i];
    j << "    {\"layer\": \"" << c.name << "\", \"weights\": " << c.weights << ", \"nonzeros\": " << c.nonzeros
      << ", \"sparsity_encoding\": \"" << c.sparsity_encoding << "\", \"entropy_codes_bits\": " << c.entropy_codes_bits
      << ", \"huffman_codes_bits\": " << c.huffman_codes_bits << ", \"table_codes_bits\": " << c.table_codes_bits
      << ", \"entropy_positions_bits\": " << c.entropy_positions_bits
      << ", \"huffman_positions_bits\": " << c.huffman_positions_bits
      << ", \"table_positions_bits\": " << c.table_positions_bits << "}" << (i + 1 < r.coding.size() ? ",\n" : "\n");
  }
  j << "  ]\n}\n";
  io::write_file_atomically(json, "nibble compress --json", j.str());
}

int compress(const Args& args) {
  const char* op = "nibble compress";
  const ArgParser opt(op, args, kSummary,
                      {{"arch", "lenet300|mlp|cnn", "the checkpoint's architecture (default lenet300)"},
                       {"prune", "S", "final fraction of zero weights, [0, 1) (default 0.94)"},
                       {"schedule", "cubic|oneshot", "how sparsity grows during fine-tuning (default cubic)"},
                       {"bits", "B", "k-means codebook of 2^B shared int8 weights per layer, 2..8 (default 4)"},
                       {"share", "kmeans|int8", "weight sharing: k-means (default) or plain per-channel int8"},
                       {"finetune-epochs", "N", "epochs of pruning + fine-tuning (default 3)"},
                       {"centroid-epochs", "N", "epochs of k-means centroid fine-tuning (default 1)"},
                       {"lr", "X", "fine-tuning learning rate (default 0.01, momentum 0.9, batch 64)"},
                       {"distill-from", "FILE", "fine-tune by distillation from this teacher checkpoint (module 05)"},
                       {"teacher-arch", "lenet300|mlp|cnn", "the teacher's architecture (default: --arch)"},
                       {"temperature", "T", "distillation temperature (default 4)"},
                       {"alpha", "A", "weight of the teacher's term, [0, 1] (default 0.9)"},
                       {"data", "DIR", "IDX dataset folder (default: Debian's Fashion-MNIST)"},
                       {"limit", "N", "fine-tune on the first N training images only (quick runs)"},
                       {"seed", "N", "random seed (default 0)"},
                       {"json", "FILE", "also write the report as JSON"},
                       {"png", "FILE", "PNG of each layer's sparsity mask (default: OUT with .png)"},
                       {"out", "FILE", "the .nbz file to write"}},
                      "MODEL.ckpt");
  if (opt.help()) {
    std::printf("%s", opt.help_text().c_str());
    return 0;
  }
  check(opt.positional().size() == 1, op, "needs the checkpoint to compress",
        "nibble compress fashion_lenet300.ckpt --arch lenet300 --out model.nbz (train one with nibble train)");
  const std::string ckpt = opt.positional()[0];
  const std::string arch = opt.get("arch", "lenet300");
  DeepCompressionOptions o;
  o.prune = opt.get_double("prune", o.prune);
  o.schedule = opt.get("schedule", o.schedule);
  o.bits = static_cast<int>(opt.get_int("bits", o.bits, -1000, 1000));
  o.share = opt.get("share", o.share);
  if (o.share == "int8" && opt.has("bits")) check(o.bits == 8, op, "--share int8 uses 8 bits, got --bits " + std::to_string(o.bits), "drop --bits or use --share kmeans");
  if (o.share == "int8") o.bits = 8;
  o.finetune_epochs = opt.get_double("finetune-epochs", o.finetune_epochs, ArgParser::in_range(0, 1000));
  o.centroid_epochs = opt.get_double("centroid-epochs", o.centroid_epochs, ArgParser::in_range(0, 1000));
  o.lr = static_cast<float>(opt.get_double("lr", o.lr, ArgParser::in_range(1e-6, 10)));
  o.seed = static_cast<uint64_t>(opt.get_int("seed", 0, 0, 1LL << 62));
  const std::string teacher_ckpt = opt.get("distill-from", "");
  const std::string teacher_arch = opt.get("teacher-arch", arch);
  o.distill_temperature = opt.get_double("temperature", o.distill_temperature, ArgParser::in_range(1e-3, 1000));
  o.distill_alpha = opt.get_double("alpha", o.distill_alpha, ArgParser::in_range(0, 1));
  const std::string out = opt.get("out", "");
  check(!out.empty(), op, "needs --out FILE", "e.g. --out model.nbz");
  const std::string json = opt.get("json", "");
  const std::string png = opt.get("png", fs::path(out).replace_extension(".png").string());
  const std::string data_dir = opt.get("data", data::default_fashion_mnist_dir());
  const int64_t limit = opt.get_int("limit", 0, 1, 1LL << 40);

  // Everything checked before the data is loaded or anything trains.
  compression::validate_options(arch, o, out);
  if (!json.empty()) io::check_writable(json, op);
  io::check_writable(png, op);
  check_idx_folder(data_dir, op);
  std::error_code ec;
  check(fs::is_regular_file(ckpt, ec), op, "cannot read the checkpoint " + ckpt,
        "train one: nibble train --model " + arch + " --out " + ckpt);
  std::shared_ptr<nn::Module> model = compression::make_model(arch);
  try {
    nn::load(*model, ckpt);
  } catch (const Error& e) {
    std::string first = e.what();
    first = first.substr(0, first.find('\n'));
    fail(op, ckpt + " is not a " + arch + " checkpoint (" + first + ")",
         "give its architecture with --arch lenet300, mlp or cnn");
  }

  if (!teacher_ckpt.empty()) {
    check(fs::is_regular_file(teacher_ckpt, ec), op, "cannot read the teacher checkpoint " + teacher_ckpt,
          "train one: nibble train --model " + teacher_arch + " --out " + teacher_ckpt);
    std::shared_ptr<nn::Module> teacher = compression::make_model(teacher_arch);
    try {
      nn::load(*teacher, teacher_ckpt);
    } catch (const Error& e) {
      std::string first = e.what();
      first = first.substr(0, first.find('\n'));
      fail(op, teacher_ckpt + " is not a " + teacher_arch + " checkpoint (" + first + ")",
           "give the teacher's architecture with --teacher-arch lenet300, mlp or cnn");
    }
    o.teacher = teacher;
  }

  data::FashionMnist train = load_idx_folder(data_dir, "train");
  const data::FashionMnist test = load_idx_folder(data_dir, "test");
  if (limit > 0 && limit < train.images.size(0)) {
    train.images = train.images.slice(0, 0, limit).contiguous();
    train.labels.resize(static_cast<size_t>(limit));
  }
  std::printf("compressing %s (%s) on %s\n", ckpt.c_str(), arch.c_str(), data_dir.c_str());
  if (o.teacher)
    std::printf("fine-tuning by distillation from %s (%s, T = %g, alpha = %g)\n", teacher_ckpt.c_str(),
                teacher_arch.c_str(), o.distill_temperature, o.distill_alpha);
  const DeepCompressionResult r = run_pipeline(*model, arch, train, test, o, out);
  print_compress_report(r, o, json, png);
  fs::remove_all(r.work_dir, ec);  // the stage files (made by deep_compress: o.work_dir was empty)
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace nibble::cli
