// `nibble status [--json]`: points per module from the last runs, and the milestones unlocked.
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "course_common.h"
#include "tools/course/feedback.h"
#include "tools/course/grading.h"

namespace nibble::cli {

int status(const Args& args) {
  const ArgParser p("nibble status", args,
                    "Points per module from the last `nibble test NN` (saved in DIR/course/results.json) and\n"
                    "the milestones unlocked: a module's milestones open when it and all its prerequisites\n"
                    "have full points. A damaged results file is reported with the way out. Warns about a module\n"
                    "tested before the modules it builds on are complete.",
                    {{"json", "", "print JSON instead of the table"},
                     {"root", "DIR", "the course's source tree (default: the one nibble was built from)"},
                     {"build", "DIR", "the build tree holding course/results.json"}});
  if (p.help()) {
    std::printf("%s", p.help_text().c_str());
    return 0;
  }
  const course::Manifest m = course_manifest(source_root(p), "nibble status");
  const course::Json results = course::load_results(build_dir(p));
  auto complete = [&](const std::string& n) { return course::saved_result(results, m.get(n))["complete"].as_bool(); };
  std::function<bool(const course::Module&)> unlocked = [&](const course::Module& mod) {
    if (!complete(mod.number)) return false;
    for (const std::string& r : mod.requires_)
      if (!unlocked(m.get(r))) return false;
    return true;
  };
  course::Json out = course::Json::object();
  course::Json mods = course::Json::array();
  course::Json milestones = course::Json::array();
  int earned = 0, possible = 0;
  std::vector<std::string> warnings;  // for the modules tried before their prerequisites are done
  for (const course::Module& mod : m.modules) {
    const course::Json& r = course::saved_result(results, mod);
    const int e = r.is_object() ? static_cast<int>(r["earned"].as_number()) : 0;
    earned += e;
    possible += mod.visible_points();
    const bool open = unlocked(mod);
    course::Json j = course::Json::object();
    j.set("number", mod.number);
    j.set("slug", mod.slug);
    j.set("earned", e);
    j.set("possible", mod.visible_points());
    j.set("run", r.is_object());
    j.set("complete", complete(mod.number));
    course::Json incomplete = course::Json::array();
    for (const std::string& q : mod.requires_)
      if (!complete(q)) incomplete.push_back(q);
    j.set("prerequisites_incomplete", incomplete);
    if (r.is_object())
      for (const std::string& w : course::prerequisite_warnings(m, mod, results)) warnings.push_back(w);
    mods.push_back(j);
    for (const std::string& ms : mod.milestones) {
      course::Json mj = course::Json::object();
      mj.set("name", ms);
      mj.set("module", mod.number);
      mj.set("unlocked", open);
      milestones.push_back(mj);
    }
    if (!p.flag("json")) {
      const std::string note = !r.is_object()           ? "(not run yet: nibble test " + mod.number + ")"
                               : complete(mod.number) ? std::string("complete")
                                                      : std::string();
      std::printf("%s %-22s %3d/%-3d %s\n", mod.number.c_str(), mod.slug.c_str(), e, mod.visible_points(), note.c_str());
    }
  }
  if (p.flag("json")) {
    out.set("modules", mods);
    out.set("milestones", milestones);
    out.set("earned", earned);
    out.set("possible", possible);
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("total %d/%d\n", earned, possible);
  for (const std::string& w : warnings) std::printf("%s\n", w.c_str());
  std::printf("\nmilestones:\n");
  if (milestones.items().empty()) std::printf("  (none in the manifest)\n");
  for (const course::Json& ms : milestones.items())
    std::printf("  %s %-28s (module %s%s)\n", ms["unlocked"].as_bool() ? "\u2713" : "\xf0\x9f\x94\x92",
                ms["name"].as_string().c_str(), ms["module"].as_string().c_str(),
                ms["unlocked"].as_bool() ? ": unlocked, see milestones/" : " and its prerequisites at full points");
  return 0;
}

}  // namespace nibble::cli
