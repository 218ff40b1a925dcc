// `nibble modules [--json]`: the course's modules with their points and the last test result.
#include <cstdio>

#include "commands.h"
#include "course_common.h"
#include "tools/course/grading.h"

namespace nibble::cli {

int modules(const Args& args) {
  const ArgParser p("nibble modules", args,
                    "Lists the course's modules (modules/modules.manifest): number, title, points, the\n"
                    "prerequisites and the result of the last `nibble test NN`.",
                    {{"json", "", "print JSON instead of the table"},
                     {"root", "DIR", "the course's source tree (default: the one nibble was built from)"},
                     {"build", "DIR", "the build tree holding course/results.json"}});
  if (p.help()) {
    std::printf("%s", p.help_text().c_str());
    return 0;
  }
  const course::Manifest m = course_manifest(source_root(p), "nibble modules");
  const course::Json results = course::load_results(build_dir(p));
  course::Json out = course::Json::array();
  if (!p.flag("json")) std::printf("%-3s %-20s %-54s %8s  %s\n", "NN", "module", "title", "status", "requires");
  for (const course::Module& mod : m.modules) {
    const course::Json& r = course::saved_result(results, mod);
    std::string status = "not run";
    if (r.is_object())
      status = std::to_string(static_cast<int>(r["earned"].as_number())) + "/" +
               std::to_string(static_cast<int>(r["possible"].as_number()));
    std::string req;
    for (const std::string& q : mod.requires_) req += (req.empty() ? "" : " ") + q;
    if (p.flag("json")) {
      course::Json j = course::Json::object();
      j.set("number", mod.number);
      j.set("slug", mod.slug);
      j.set("title", mod.title);
      j.set("points", mod.visible_points());
      j.set("graded_tests", static_cast<int>(mod.graded.size()));
      course::Json rq = course::Json::array();
      for (const std::string& q : mod.requires_) rq.push_back(q);
      j.set("requires", rq);
      j.set("earned", r.is_object() ? course::Json(r["earned"].as_number()) : course::Json());
      out.push_back(j);
    } else {
      std::printf("%-3s %-20s %-54s %8s  %s\n", mod.number.c_str(), mod.slug.c_str(), mod.title.c_str(),
                  status.c_str(), req.empty() ? "-" : req.c_str());
    }
  }
  if (p.flag("json")) std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace nibble::cli
