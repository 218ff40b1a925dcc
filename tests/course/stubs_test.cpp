// The stub generator: regions become throws at their indentation, core/error.h is included,
// malformed markers are reported with file:line, and check_stubs notices a stale stub.
#include <gtest/gtest.h>

#include "course/course_fixture.h"
#include "core/error.h"
#include "tools/course/files.h"
#include "tools/course/manifest.h"
#include "tools/course/stubs.h"

namespace nibble::course {
namespace {

std::string stub_error(const std::string& text) {
  try {
    make_stub(text, "01", "modules/01_x/a.cpp", "sol.cpp");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CourseStubs, ReplacesEachRegionWithAThrowAtItsIndentation) {
  const std::string stub = make_stub(testing::kFixtureSum, "01", "modules/01_basics/sum.cpp", "sum.cpp");
  const std::string expected =
      "// modules/01_basics/sum.cpp — module 01: this is YOUR file. Replace each `throw nibble::NotImplemented(...)` with your code.\n"
      "// (Generated from solution/ by `nibble sync-stubs`, which instructors run; it would overwrite your work.)\n"
      "#include <vector>\n"
      "#include \"core/error.h\"  // nibble::NotImplemented\n"
      "\n"
      "namespace demo {\n"
      "\n"
      "int sum(const std::vector<int>& v) {\n"
      "  throw nibble::NotImplemented(\"module 01: sum\");\n"
      "}\n"
      "\n"
      "}  // namespace demo\n";
  EXPECT_EQ(stub, expected);
}

TEST(CourseStubs, KeepsAnExistingErrorIncludeAndOtherIndentation) {
  const std::string stub = make_stub(testing::kFixtureTwice, "02", "modules/02_more/twice.cpp", "twice.cpp");
  EXPECT_NE(stub.find("\n#include \"core/error.h\"\n"), std::string::npos);
  EXPECT_EQ(stub.find("NotImplemented\n"), std::string::npos);  // no second include added
  EXPECT_NE(stub.find("\n    throw nibble::NotImplemented(\"module 02: twice\");\n}\n"), std::string::npos);
  EXPECT_EQ(stub.find("return 2 * x"), std::string::npos);
  EXPECT_EQ(stub.find("SOLUTION"), std::string::npos);
}

TEST(CourseStubs, SeveralRegionsAndNoIncludes) {
  const std::string text =
      "int f() {\n  // BEGIN SOLUTION f\n  return 1;\n  // END SOLUTION\n}\n"
      "int g() {\n\t// BEGIN SOLUTION g\n\treturn 2;\n\t// END SOLUTION\n}\n";
  const std::string stub = make_stub(text, "07", "modules/07_x/a.cpp", "a.cpp");
  EXPECT_NE(stub.find("#include \"core/error.h\"  // nibble::NotImplemented\n\nint f() {\n"), std::string::npos);
  EXPECT_NE(stub.find("  throw nibble::NotImplemented(\"module 07: f\");\n"), std::string::npos);
  EXPECT_NE(stub.find("\tthrow nibble::NotImplemented(\"module 07: g\");\n"), std::string::npos);
}

TEST(CourseStubs, MalformedMarkersNameTheLine) {
  EXPECT_NE(stub_error("a\n// END SOLUTION\n").find("sol.cpp:2: END SOLUTION without a BEGIN"), std::string::npos);
  EXPECT_NE(stub_error("// BEGIN SOLUTION f\nx\n").find("sol.cpp:1: BEGIN SOLUTION is never closed"), std::string::npos);
  EXPECT_NE(stub_error("// BEGIN SOLUTION f\n// BEGIN SOLUTION g\n// END SOLUTION\n").find("sol.cpp:2: BEGIN SOLUTION inside"),
            std::string::npos);
  EXPECT_NE(stub_error("  // BEGIN SOLUTION\n  // END SOLUTION\n").find("sol.cpp:1: BEGIN SOLUTION needs the function's name"),
            std::string::npos);
}

TEST(CourseStubs, CheckStubsFindsMissingStaleAndFreshStubs) {
  testing::TempTree tree;
  testing::write_fixture(tree);
  const Manifest m = load_manifest(tree.path("modules/modules.manifest"));
  auto all = check_stubs(m, tree.root());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_FALSE(all[0].up_to_date);  // no stub written yet
  for (const auto& s : all) write_file_atomic(tree.path(s.stub), s.expected);
  for (const auto& s : check_stubs(m, tree.root())) EXPECT_TRUE(s.up_to_date) << s.stub;
  tree.write("modules/02_more/twice.cpp", "int twice(int x) { return x + x; }  // edited by hand\n");
  all = check_stubs(m, tree.root());
  EXPECT_TRUE(all[0].up_to_date);
  EXPECT_FALSE(all[1].up_to_date);
  EXPECT_EQ(all[1].stub, "modules/02_more/twice.cpp");
}

}  // namespace
}  // namespace nibble::course
