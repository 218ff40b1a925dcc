// The subcommands of the `nibble` tool. Each is one function in its own file; main.cpp dispatches.
#pragma once

#include <string>
#include <vector>

namespace nibble::cli {

using Args = std::vector<std::string>;  // the arguments after the subcommand's name

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const Args& args);
};

int demo(const Args& args);
int train(const Args& args);
int compress(const Args& args);  // Deep Compression of a checkpoint into a .nbz file
int lowrank_image(const Args& args);   // module 06: photos by rank
int lowrank_report(const Args& args);  // module 06: spectra, accuracy and latency of factored layers
int prune_report(const Args& args);    // module 03: accuracy vs sparsity, fine-tuning, removed neurons
int quant_report(const Args& args);    // module 04: PTQ per observer, QAT/convert, GPTQ, INT4 on the Fashion MLP (and CNN)
int distill_report(const Args& args);  // module 05: labels only vs KD per temperature; soft-label bits
// The course (modules/): one file each.
int modules(const Args& args);
int test_module(const Args& args);
int status(const Args& args);
int release(const Args& args);
int sync_stubs(const Args& args);
int course_check(const Args& args);
int milestone(const Args& args);  // milestone notebooks: list, run in the terminal
// The autograder (tools/course/autograde.h).
int autograde(const Args& args);
int grade_one(const Args& args);
int gradebook(const Args& args);

}  // namespace nibble::cli
