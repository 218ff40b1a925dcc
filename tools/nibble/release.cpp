// `nibble release --out DIR` (instructors): write the student edition of the course.
#include <cstdio>

#include "commands.h"
#include "course_common.h"
#include "tools/course/release.h"

namespace nibble::cli {

int release(const Args& args) {
  const ArgParser p("nibble release", args,
                    "Writes the student edition into DIR (new or empty): the files git lists (tracked, and\n"
                    "untracked ones that are not ignored), without the instructor-only modules/*/solution/,\n"
                    "modules/*/hidden/, modules/*/mutants/ and modules/*/MUTANTS.md, with every stub regenerated\n"
                    "from its solution. The edition builds from the stubs.\n"
                    "It is built in a staging folder beside DIR: a release that fails leaves nothing.",
                    {{"out", "DIR", "where to write the edition (required)"},
                     {"root", "DIR", "the course's source tree (default: the one nibble was built from)"}});
  if (p.help()) {
    std::printf("%s", p.help_text().c_str());
    return 0;
  }
  const std::string out = p.get("out", "");
  check(!out.empty(), "nibble release", "--out DIR is required", "run `nibble release --help`");
  const course::ReleaseSummary s = course::release(source_root(p), out);
  std::printf("student edition written to %s\n", out.c_str());
  std::printf("  %zu files copied, %zu instructor-only files (solution/, hidden/, mutants/, MUTANTS.md) left out\n", s.files, s.excluded);
  std::string mods;
  for (const std::string& m : s.modules) mods += " " + m;
  std::printf("  %zu stubs generated; modules:%s\n", s.stubs, mods.empty() ? " (none)" : mods.c_str());
  if (s.untracked > 0)
    std::printf("  note: %zu files are not tracked by git yet and were included; commit them first for a real release\n",
                s.untracked);
  for (const std::string& st : s.stale_stubs)
    std::printf("  warning: the committed %s was out of date (the edition has the regenerated one; run `nibble sync-stubs`)\n",
                st.c_str());
  return 0;
}

}  // namespace nibble::cli
