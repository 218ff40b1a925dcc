// The strict option parser of the `nibble` subcommands (tools/nibble/args.h): the bad command lines
// found in issue 17 are errors naming the option, never silently different behaviour.
#include "tools/nibble/args.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "core/error.h"

namespace nibble::cli {
namespace {

// The message of the nibble::Error that f throws, "" when it throws none.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

ArgParser train(const Args& args) {
  return ArgParser("nibble train", args, {"epochs", "lr", "out", "seed"}, {"json"});
}

TEST(ArgParser, ReadsValuesFlagsAndPositionals) {
  const ArgParser p("nibble test", {"01", "--timeout", "30", "--json", "--build=/tmp/b"},
                    {"timeout", "build"}, {"json", "hidden"}, 1);
  EXPECT_EQ(p.positional(), std::vector<std::string>{"01"});
  EXPECT_EQ(p.get_int("timeout", 300, 1, 86400), 30);
  EXPECT_EQ(p.get("build", "x"), "/tmp/b");
  EXPECT_TRUE(p.flag("json"));
  EXPECT_FALSE(p.flag("hidden"));
  EXPECT_FALSE(p.help());
  EXPECT_EQ(p.get("root", "fallback"), "fallback");
  EXPECT_FALSE(p.has("root"));
}

TEST(ArgParser, AValueMayNotBeTheNextOption) {
  // `--out --json` stored "--json" as the file name.
  const std::string what = error_of([] { train({"--out", "--json"}); });
  EXPECT_TRUE(contains(what, "option '--out' needs a value")) << what;
  EXPECT_TRUE(contains(what, "--out=--json")) << what;  // says how to mean it
  // Written with '=', it is the value.
  EXPECT_EQ(train({"--out=--json"}).get("out", ""), "--json");
  EXPECT_FALSE(train({"--out=--json"}).flag("json"));
  // At the end of the line.
  EXPECT_TRUE(contains(error_of([] { train({"--out"}); }), "option '--out' needs a value"));
  // An empty value only with '=' (and then numbers reject it).
  EXPECT_TRUE(contains(error_of([] { train({"--out", ""}); }), "needs a value"));
  EXPECT_EQ(train({"--out="}).get("out", "default"), "");
  EXPECT_TRUE(contains(error_of([] { train({"--epochs="}).get_int("epochs", 5); }),
                       "expects a whole number, got ''"));
}

TEST(ArgParser, UnknownRepeatedAndMalformedOptionsNameTheOptionAndShowTheUsage) {
  const std::string usage =
      "usage: nibble train [--epochs VALUE] [--lr VALUE] [--out VALUE] [--seed VALUE] [--json]";
  EXPECT_EQ(train({}).usage(), usage);
  const std::pair<Args, std::string> cases[] = {
      {{"--bogus", "1"}, "unknown option '--bogus'"},
      {{"-e", "1"}, "unknown option '-e'"},
      {{"--"}, "unknown option '--'"},
      {{"stray"}, "unexpected argument 'stray'"},
      {{"--epochs", "1", "--epochs", "2"}, "option '--epochs' given twice"},
      {{"--json", "--json"}, "'--json' given twice"},
      {{"--json=yes"}, "'--json' is a flag and takes no value"},
  };
  for (const auto& [args, expected] : cases) {
    const std::string what = error_of([&] { train(args); });
    EXPECT_TRUE(contains(what, "nibble train: " + expected)) << what;
    EXPECT_TRUE(contains(what, "hint: " + usage)) << what;
  }
}

TEST(ArgParser, HelpIsAlwaysReachable) {
  EXPECT_TRUE(train({"--bogus", "--help"}).help());
  EXPECT_TRUE(train({"-h"}).help());
  EXPECT_TRUE(train({"--out", "--help"}).help());
}

TEST(ArgParser, IntegersAreInt64WithRangeChecks) {
  // 4294967297 = 2^32 + 1 became 1 epoch through a cast to int.
  EXPECT_TRUE(contains(error_of([] {
                         train({"--epochs", "4294967297"}).get_int("epochs", 5, 1, 100000);
                       }),
                       "--epochs must be between 1 and 100000, got 4294967297"));
  EXPECT_EQ(train({"--epochs", "4294967297"}).get_int("epochs", 5),
            4294967297LL);  // fine as an int64
  EXPECT_EQ(train({"--seed", "9223372036854775807"}).get_int("seed", 0),
            std::numeric_limits<long long>::max());
  EXPECT_EQ(train({"--seed", "-9223372036854775808"}).get_int("seed", 0),
            std::numeric_limits<long long>::min());
  EXPECT_TRUE(contains(error_of([] {
                         train({"--seed", "9223372036854775808"}).get_int("seed", 0);
                       }),
                       "--seed is out of range"));
  EXPECT_EQ(train({"--epochs", "+7"}).get_int("epochs", 5, 1, 10), 7);
  EXPECT_EQ(train({}).get_int("epochs", 5, 1, 10), 5);
  for (const char* bad : {"1.5", "1e3", "0x10", " 3", "3 ", "--3", "+", "-", "3a", "٣"})
    EXPECT_TRUE(
        contains(error_of([&] { train({"--epochs=" + std::string(bad)}).get_int("epochs", 5); }),
                 "--epochs expects a whole number, got '" + std::string(bad) + "'"))
        << bad;
}

TEST(ArgParser, TimeoutsMustBePositive) {
  // `nibble test --timeout -5` or `0` silently disabled the timeout.
  for (const char* bad : {"-5", "0", "86401"}) {
    const ArgParser p("nibble test", {"--timeout", bad}, {"timeout"});
    EXPECT_TRUE(contains(error_of([&] { p.get_int("timeout", 300, 1, kMaxTimeoutSeconds); }),
                         "--timeout must be between 1 and 86400, got " + std::string(bad)));
  }
}

TEST(ArgParser, FloatsAreFiniteDecimalsThenCheckedPerOption) {
  EXPECT_EQ(train({"--lr", "0.01"}).get_double("lr", 1), 0.01);
  EXPECT_EQ(train({"--lr", "-2.5e-3"}).get_double("lr", 1), -2.5e-3);
  EXPECT_EQ(train({}).get_double("lr", 0.5, ArgParser::positive()), 0.5);
  for (const char* bad : {"inf", "nan", "-inf", "infinity", "0x1p3", "1,5", "", "e", "."})
    EXPECT_TRUE(contains(error_of([&] { train({"--lr=" + std::string(bad)}).get_double("lr", 1); }),
                         "--lr expects a number, got '" + std::string(bad) + "'"))
        << bad;
  EXPECT_TRUE(contains(error_of([] {
                         train({"--lr", "1e400"}).get_double("lr", 1);
                       }),
                       "--lr is out of range: 1e400"));
  EXPECT_TRUE(contains(error_of([] {
                         train({"--lr", "1.2.3"}).get_double("lr", 1);
                       }),
                       "expects a number"));
  EXPECT_TRUE(contains(error_of([] {
                         train({"--lr", "0"}).get_double("lr", 1, ArgParser::positive());
                       }),
                       "--lr must be positive, got 0"));
  EXPECT_TRUE(contains(error_of([] {
                         train({"--lr", "20"}).get_double("lr", 1, ArgParser::in_range(0, 10));
                       }),
                       "--lr must be between 0 and 10, got 20"));
  EXPECT_EQ(train({"--lr", "10"}).get_double("lr", 1, ArgParser::in_range(0, 10)), 10.0);
}

TEST(ArgParser, TheDocumentedFormGeneratesUsageAndHelp) {
  const Args args = {"07", "--out", "m.ckpt", "--json"};
  const ArgParser p("nibble x", args, "Does x.\nTwo lines.",
                    {{"out", "FILE", "where to write"}, {"json", "", "print JSON"}}, "NN");
  EXPECT_EQ(p.positional(), std::vector<std::string>{"07"});
  EXPECT_EQ(p.get("out", ""), "m.ckpt");
  EXPECT_TRUE(p.flag("json"));
  EXPECT_EQ(p.usage(), "usage: nibble x NN [--out FILE] [--json]");
  EXPECT_EQ(p.help_text(),
            "usage: nibble x NN [--out FILE] [--json]\n"
            "  Does x.\n"
            "  Two lines.\n"
            "options:\n"
            "  --out FILE  where to write\n"
            "  --json      print JSON\n"
            "  --help      this text\n");
  // The same strictness, and the documented names in the hint.
  const std::string what = error_of([] {
    ArgParser("nibble x", {"--out", "--json"}, "Does x.",
              {{"out", "FILE", "w"}, {"json", "", "j"}});
  });
  EXPECT_TRUE(contains(what, "option '--out' needs a value")) << what;
  EXPECT_TRUE(contains(what, "hint: usage: nibble x [--out FILE] [--json]")) << what;
  EXPECT_TRUE(contains(error_of([] {
                         ArgParser("nibble x", {"a", "b"}, "", {}, "NN");
                       }),
                       "unexpected argument 'b'"));
}

}  // namespace
}  // namespace nibble::cli
