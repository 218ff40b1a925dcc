// `nibble <command> [args]` — the course's command-line tool.
// Errors print one line and exit with code 2 (ARCHITECTURE.md at the repository root: errors).
#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"
#include "core/error.h"

namespace {

const nibble::cli::Command kCommands[] = {
    {"demo", "the main job: Deep Compression of LeNet-300-100 and the CNN, every stage measured", nibble::cli::demo},
    {"compress", "Deep Compression of a checkpoint: prune, share, Huffman-code into .nbz, run it int8", nibble::cli::compress},
    {"train", "train the Fashion-MNIST MLP or CNN and save a checkpoint", nibble::cli::train},
    {"lowrank-image", "compress a photo by SVD rank: PNGs, PSNR and bytes per rank", nibble::cli::lowrank_image},
    {"lowrank-report", "spectra, accuracy and latency of a trained model's layers by rank", nibble::cli::lowrank_report},
    {"prune-report", "accuracy vs sparsity (global, layer-wise, Taylor, Fisher, fine-tuned) and removed-neuron speed", nibble::cli::prune_report},
    {"quant-report", "Fashion MLP/CNN accuracy by quantizer: observers, 8/4 bits, QAT + convert, GPTQ, INT4, int8 kernels", nibble::cli::quant_report},
    {"distill-report", "a CNN teacher, an MLP student: labels only vs distillation per temperature", nibble::cli::distill_report},
    {"modules", "list the course's modules, their points and your last results", nibble::cli::modules},
    {"test", "build and run a module's graded tests: `nibble test 01`", nibble::cli::test_module},
    {"status", "your points per module and the milestones you unlocked", nibble::cli::status},
    {"release", "(instructors) write the student edition: --out DIR", nibble::cli::release},
    {"sync-stubs", "(instructors) regenerate the stubs from the solutions", nibble::cli::sync_stubs},
    {"course-check", "(CI) every graded test fails on stubs and passes on solutions", nibble::cli::course_check},
    {"milestone", "the milestone notebooks: `nibble milestone list`, `nibble milestone run 01`", nibble::cli::milestone},
    {"autograde", "(instructors) grade a folder of submissions in a sandbox", nibble::cli::autograde},
    {"grade-one", "(instructors) grade one submission, as autograde does", nibble::cli::grade_one},
    {"gradebook", "(instructors) `gradebook merge DIR...`: join graded results", nibble::cli::gradebook},
};

void print_usage() {
  std::printf("usage: nibble <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::printf("  %-12s %s\n", c.name, c.summary);
  std::printf("\n`nibble <command> --help` describes one command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  const nibble::cli::Args args(argv + 2, argv + argc);
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const std::exception& e) {
      // Messages built with check("nibble <name>", ...) already carry the prefix: print it once.
      const std::string prefix = std::string("nibble ") + c.name + ": ";
      const std::string what = e.what();
      std::fprintf(stderr, "%s%s\n", prefix.c_str(),
                   what.rfind(prefix, 0) == 0 ? what.c_str() + prefix.size() : what.c_str());
      return 2;
    }
  }
  std::fprintf(stderr, "nibble: unknown command '%s' (try `nibble --help`)\n", name.c_str());
  return 2;
}
