// `nibble lowrank-image IMAGE [--ranks 5,20,50] [--out DIR]`: compress a photo channel by channel
// with the module-06 SVD, write one PNG per rank and print PSNR and bytes per rank.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "compression/lowrank_image.h"
#include "core/io/image.h"

namespace nibble::cli {

namespace {

const char* kHelp =
    "usage: nibble lowrank-image IMAGE [--ranks 5,20,50] [--out DIR]\n"
    "  Splits a photo (PNG/JPEG/BMP) into its colour channels, keeps the k largest singular values of\n"
    "  each channel (one SVD per channel, module 06), writes DIR/rank_<k>.png (default DIR:\n"
    "  lowrank_out) and prints, per rank, the PSNR against the original and the bytes of the float32\n"
    "  factors U_k, S_k, Vh_k beside the raw 8-bit pixels. Sample photos: Debian's python3-sklearn\n"
    "  ships .../sklearn/datasets/images/china.jpg and flower.jpg.\n";

std::vector<int64_t> parse_ranks(const std::string& text) {
  std::vector<int64_t> ranks;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t used = 0;
    long long k = 0;
    try {
      k = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(!item.empty() && used == item.size(), "nibble lowrank-image",
          "--ranks expects whole numbers separated by commas, got '" + text + "'", "e.g. --ranks 5,20,50");
    ranks.push_back(k);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ranks;
}

}  // namespace

int lowrank_image(const Args& args) {
  const ArgParser opt("nibble lowrank-image", args, {"ranks", "out"}, {}, 1);
  if (opt.help()) {
    std::printf("%s", kHelp);
    return 0;
  }
  check(opt.positional().size() == 1, "nibble lowrank-image", "needs the path of an image",
        "run `nibble lowrank-image --help`");
  const std::string path = opt.positional()[0];
  const std::vector<int64_t> ranks = parse_ranks(opt.get("ranks", "5,20,50"));
  const std::string out = opt.get("out", "lowrank_out");

  const Tensor image = io::load_image(path);
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  std::printf("%s: %lld channel(s), %lld x %lld pixels, %lld bytes as raw 8-bit pixels\n", path.c_str(),
              static_cast<long long>(C), static_cast<long long>(H), static_cast<long long>(W),
              static_cast<long long>(C * H * W));
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<RankedImage> results = compress_image_by_rank(image, ranks);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::filesystem::create_directories(out);
  std::printf("%6s  %9s  %14s  %12s  %s\n", "rank", "PSNR (dB)", "factor bytes", "of raw 8-bit", "file");
  for (const RankedImage& r : results) {
    const std::string file = out + "/rank_" + std::to_string(r.rank) + ".png";
    io::save_png(file, r.image);
    std::printf("%6lld  %9.2f  %14lld  %11.1f%%  %s\n", static_cast<long long>(r.rank), r.psnr_db,
                static_cast<long long>(r.factor_bytes), 100.0 * double(r.factor_bytes) / double(C * H * W),
                file.c_str());
  }
  std::printf("(%lld SVDs of [%lld, %lld] and the reconstructions: %.2f s)\n", static_cast<long long>(C),
              static_cast<long long>(H), static_cast<long long>(W), seconds);
  return 0;
}

}  // namespace nibble::cli
