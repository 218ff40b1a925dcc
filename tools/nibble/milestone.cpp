// `nibble milestone list | run NN [--quick|--full]`: the milestone notebooks (milestones/NN_year_slug/),
// the modules each needs (the manifest's `milestone` lines) and whether your results unlock it; `run`
// executes a notebook's code cells in the terminal through nibble-kernel --run (the same embedded
// clang interpreter as the Jupyter kernel, see tools/kernel/).
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "course_common.h"
#include "tools/course/grading.h"

namespace nibble::cli {

namespace {

namespace fs = std::filesystem;

struct Milestone {
  std::string folder;                // "01_1948_shannon"
  std::string notebook;              // full path of its .ipynb ("" when missing)
  std::vector<std::string> modules;  // the modules whose `milestone` line names it
};

std::vector<Milestone> find_milestones(const std::string& root, const course::Manifest& m) {
  std::vector<Milestone> out;
  const fs::path dir = fs::path(root) / "milestones";
  if (!fs::is_directory(dir)) return out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.size() < 3 || !std::isdigit(static_cast<unsigned char>(name[0])) ||
        !std::isdigit(static_cast<unsigned char>(name[1])) || name[2] != '_')
      continue;
    Milestone ms{name, "", {}};
    for (const fs::directory_entry& f : fs::directory_iterator(e.path()))
      if (f.path().extension() == ".ipynb") ms.notebook = f.path().string();
    for (const course::Module& mod : m.modules)
      if (std::find(mod.milestones.begin(), mod.milestones.end(), name) != mod.milestones.end())
        ms.modules.push_back(mod.number);
    out.push_back(ms);
  }
  std::sort(out.begin(), out.end(), [](const Milestone& a, const Milestone& b) { return a.folder < b.folder; });
  return out;
}

// `number` and every module it requires, directly or not (iteratively: no recursion on the manifest).
std::vector<std::string> modules_needed(const course::Manifest& m, const std::string& number) {
  std::vector<std::string> out{number};
  for (size_t i = 0; i < out.size(); ++i)
    for (const std::string& r : m.get(out[i]).requires_)
      if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  return out;
}

// "" when every module the milestone needs (and their prerequisites) is complete, else what is missing.
std::string locked_by(const course::Manifest& m, const course::Json& results, const Milestone& ms) {
  std::string missing;
  for (const std::string& n : ms.modules)
    for (const std::string& need : modules_needed(m, n))
      if (!course::saved_result(results, m.get(need))["complete"].as_bool() &&
          missing.find(need) == std::string::npos)
        missing += (missing.empty() ? "" : ", ") + need;
  return missing;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "-" : s;
}

}  // namespace

int milestone(const Args& args) {
  const ArgParser p("nibble milestone", args, {"root", "build"}, {"quick", "full", "help"}, 2);
  const std::string usage =
      "usage: nibble milestone list\n"
      "       nibble milestone run NN [--quick|--full]   (--quick sets NIBBLE_QUICK=1: the small CI run)\n"
      "options: --root DIR (the course's source tree), --build DIR (the build tree with your results)\n";
  if (p.help() || p.flag("help") || p.positional().empty()) {
    std::printf("%s", usage.c_str());
    return p.positional().empty() && !p.help() && !p.flag("help") ? 2 : 0;
  }
  const std::string root = source_root(p);
  const course::Manifest m = course_manifest(root, "nibble milestone");
  const course::Json results = course::load_results(build_dir(p));
  const std::vector<Milestone> all = find_milestones(root, m);
  const std::string& what = p.positional()[0];

  if (what == "list") {
    check(p.positional().size() == 1, "nibble milestone", "`list` takes no number", usage);
    if (all.empty()) std::printf("(no milestones in %s/milestones)\n", root.c_str());
    size_t width = 0;  // the longest folder name, so the columns line up
    for (const Milestone& ms : all) width = std::max(width, ms.folder.size());
    for (const Milestone& ms : all) {
      const std::string lock = locked_by(m, results, ms);
      std::printf("%-*s  needs module %-8s %s\n", static_cast<int>(width), ms.folder.c_str(), join(ms.modules).c_str(),
                  lock.empty() ? "unlocked" : ("locked: complete module " + lock + " first").c_str());
    }
    return 0;
  }
  check(what == "run" && p.positional().size() == 2, "nibble milestone", "expected `list` or `run NN`", usage);
  check(!(p.flag("quick") && p.flag("full")), "nibble milestone", "--quick and --full together", usage);
  const std::string nn = module_number(p.positional()[1]);
  const auto it = std::find_if(all.begin(), all.end(), [&](const Milestone& ms) { return ms.folder.rfind(nn + "_", 0) == 0; });
  check(it != all.end(), "nibble milestone", "no milestone " + nn + " in " + root + "/milestones",
        "`nibble milestone list` shows them");
  check(!it->notebook.empty(), "nibble milestone", "milestones/" + it->folder + " holds no .ipynb notebook",
        "each milestone folder has one notebook");
  const std::string lock = locked_by(m, results, *it);
  std::printf("milestone %s: needs module %s; %s\n", it->folder.c_str(), join(it->modules).c_str(),
              lock.empty() ? "unlocked by your results"
                           : ("locked (complete module " + lock + " with `nibble test`); running it on your current code anyway").c_str());
#ifdef NIBBLE_KERNEL_EXE
  const std::string kernel = NIBBLE_KERNEL_EXE;
#else
  const std::string kernel;
#endif
  check(!kernel.empty() && fs::exists(kernel), "nibble milestone",
        "the notebook runner (nibble-kernel) is not built" + (kernel.empty() ? std::string() : ": no " + kernel),
        "it needs xeus and clang 16: run `tools/dev kernel` (installs the Debian packages and builds it)");
  if (p.flag("quick")) setenv("NIBBLE_QUICK", "1", 1);
  if (p.flag("full")) unsetenv("NIBBLE_QUICK");
  const std::string figures = build_dir(p) + "/milestones/" + it->folder;
  std::printf("figures go to %s/\n", figures.c_str());
  std::fflush(stdout);
  execl(kernel.c_str(), kernel.c_str(), "--run", it->notebook.c_str(), figures.c_str(), static_cast<char*>(nullptr));
  fail("nibble milestone", "could not start " + kernel, "is it executable?");
}

}  // namespace nibble::cli
