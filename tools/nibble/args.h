// A strict `--name value` option parser shared by the subcommands.
//   ArgParser p("nibble train", args, {"model", "epochs"});   // allowed option names
//   int epochs = static_cast<int>(p.get_int("epochs", 5, 1, 100000));   // range-checked
// Optional: boolean flags without a value (`--json`) and up to `max_positional` bare arguments:
//   ArgParser p("nibble test", args, {"timeout"}, {"json", "hidden"}, 1);
//   p.flag("json"); p.positional();  // {"01"}
// Or documented, so that usage() and --help (help_text()) are generated:
//   ArgParser p("nibble x", args, "What x does.", {{"out", "FILE", "where to write"},
//                                                  {"json", "", "print JSON"}}, "NN");
//
// The rules (every violation is a nibble::Error naming the option, with the generated usage line
// as its hint; `nibble` prints the message and the hint and exits with code 2):
//   - `--name value` or `--name=value`. A value may not start with "--" unless written with '='
//     (`--out --json` is "--out needs a value", `--out=--json` is the file "--json"); it may be
//     empty only with '=' (`--out=`), and then get_int/get_double reject it.
//   - unknown options, an option given twice, a flag given a value (`--json=1`), a missing value
//     and more bare arguments than allowed are errors; options are spelled `--name` (`-h` = help).
//   - numbers are parsed whole: get_int accepts [-+]digits within int64 and then [lo, hi]
//     (`--epochs 4294967297` is an error, never 1 epoch); get_double accepts decimal notation only
//     (no inf, nan, hex) and finite values, then an optional per-option check (e.g. positive()).
//   - `--help`/`-h` anywhere sets help() and suppresses the errors, so help is always reachable.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"

namespace nibble::cli {

// --timeout S of the course commands: 1 s .. one day (0 or a negative value used to disable it).
constexpr long long kMaxTimeoutSeconds = 24 * 60 * 60;

class ArgParser {
 public:
  // Validates a parsed number: returns "" when fine, else what is wrong ("must be positive").
  using Check = std::function<std::string(double)>;

  ArgParser(std::string command, const Args& args, std::set<std::string> allowed,
            std::set<std::string> flags = {}, size_t max_positional = 0)
      : command_(std::move(command)),
        allowed_(std::move(allowed)),
        flag_names_(std::move(flags)),
        max_positional_(max_positional) {
    parse(args);
  }

  // One documented option: `value` names its value in the help ("N", "FILE"; "" for a flag) and
  // `help` says what it does in one line.
  struct Option {
    std::string name, value, help;
  };
  // The same parser, documented: usage() and help_text() are generated from `summary` (the
  // command's description, may span lines), `options` (listed in this order) and `positional`
  // (the name of the one bare argument, e.g. "NN"; "" for none).
  ArgParser(std::string command, const Args& args, std::string summary, std::vector<Option> options,
            std::string positional = "")
      : command_(std::move(command)),
        max_positional_(positional.empty() ? 0 : 1),
        summary_(std::move(summary)),
        documented_(std::move(options)),
        positional_name_(std::move(positional)) {
    for (const Option& o : documented_) (o.value.empty() ? flag_names_ : allowed_).insert(o.name);
    parse(args);
  }

  bool help() const { return help_; }
  bool flag(const std::string& name) const { return flags_.count(name) == 1; }
  bool has(const std::string& name) const { return values_.count(name) == 1; }
  const std::vector<std::string>& positional() const { return positional_; }

  std::string get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }

  // A whole number in [lo, hi] (int64 by default). Not given: fallback (not range-checked).
  long long get_int(const std::string& name, long long fallback,
                    long long lo = std::numeric_limits<long long>::min(),
                    long long hi = std::numeric_limits<long long>::max()) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    const std::string& v = it->second;
    const size_t start = !v.empty() && (v[0] == '+' || v[0] == '-') ? 1 : 0;
    const bool ok =
        v.size() > start && v.find_first_not_of("0123456789", start) == std::string::npos;
    long long x = 0;
    if (ok) {
      errno = 0;
      char* end = nullptr;
      x = std::strtoll(v.c_str(), &end, 10);
      if (errno == ERANGE || *end != '\0')
        fail(command_, "--" + name + " is out of range: " + v,
             "it must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    check(ok, command_, "--" + name + " expects a whole number, got '" + v + "'", hint());
    check(x >= lo && x <= hi, command_,
          "--" + name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
              ", got " + v);
    return x;
  }

  // A finite number in decimal notation, then `valid` (when given). Not given: fallback
  // (unchecked).
  double get_double(const std::string& name, double fallback, const Check& valid = Check()) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    const std::string& v = it->second;
    bool ok = !v.empty() && v.find_first_not_of("0123456789+-.eE") == std::string::npos &&
              v.find_first_of("0123456789") != std::string::npos;
    double x = 0;
    if (ok) {
      errno = 0;
      char* end = nullptr;
      x = std::strtod(v.c_str(), &end);
      ok = *end == '\0';
      if (ok && (errno == ERANGE || !std::isfinite(x)))
        fail(command_, "--" + name + " is out of range: " + v,
             "give an ordinary number such as 0.01");
    }
    check(ok, command_, "--" + name + " expects a number, got '" + v + "'", hint());
    if (valid) {
      const std::string problem = valid(x);
      check(problem.empty(), command_, "--" + name + " " + problem + ", got " + v);
    }
    return x;
  }

  // Ready-made checks for get_double.
  static Check positive() {
    return [](double x) { return x > 0 ? std::string() : std::string("must be positive"); };
  }
  static Check in_range(double lo, double hi) {
    return [lo, hi](double x) {
      return x >= lo && x <= hi ? std::string() : "must be between " + fmt(lo) + " and " + fmt(hi);
    };
  }

  // "usage: nibble test [ARG] [--build VALUE] [--root VALUE] [--timeout VALUE] [--hidden]
  // [--json]", generated from the names given to the constructor (the documented one gives the real
  // names).
  std::string usage() const {
    std::string u = "usage: " + command_;
    if (!documented_.empty() || !summary_.empty()) {
      if (!positional_name_.empty()) u += " " + positional_name_;
      for (const Option& o : documented_)
        u += " [--" + o.name + (o.value.empty() ? "" : " " + o.value) + "]";
      return u;
    }
    for (size_t k = 0; k < max_positional_; ++k) u += " [ARG]";
    for (const std::string& o : allowed_) u += " [--" + o + " VALUE]";
    for (const std::string& f : flag_names_) u += " [--" + f + "]";
    return u;
  }

  // The usage line, the summary and one line per option: what `--help` prints.
  std::string help_text() const {
    std::string h = usage() + "\n";
    std::string line;
    for (const char c : summary_ + "\n") {
      if (c != '\n') {
        line += c;
        continue;
      }
      if (!line.empty()) h += "  " + line + "\n";
      line.clear();
    }
    size_t width = 6;  // "--help"
    for (const Option& o : documented_)
      width = std::max(width, o.name.size() + 2 + (o.value.empty() ? 0 : o.value.size() + 1));
    if (!documented_.empty()) h += "options:\n";
    for (const Option& o : documented_) {
      const std::string left = "--" + o.name + (o.value.empty() ? "" : " " + o.value);
      h += "  " + left + std::string(width - left.size() + 2, ' ') + o.help + "\n";
    }
    if (!documented_.empty()) h += "  --help" + std::string(width - 6 + 2, ' ') + "this text\n";
    return h;
  }

 private:
  void parse(const Args& args) {
    std::string error;  // the first problem; reported unless --help was asked for
    auto problem = [&error](const std::string& what) {
      if (error.empty()) error = what;
    };
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--help" || a == "-h") {
        help_ = true;
        continue;
      }
      if (a.empty() || a[0] != '-') {
        if (positional_.size() < max_positional_)
          positional_.push_back(a);
        else
          problem("unexpected argument '" + a + "'");
        continue;
      }
      if (a.rfind("--", 0) != 0 || a.size() == 2) {
        problem("unknown option '" + a + "' (options are written --name)");
        continue;
      }
      const size_t eq = a.find('=');
      const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (flag_names_.count(name) == 1) {
        if (eq != std::string::npos)
          problem("'--" + name + "' is a flag and takes no value");
        else if (!flags_.insert(name).second)
          problem("'--" + name + "' given twice");
        continue;
      }
      if (allowed_.count(name) == 0) {
        problem("unknown option '--" + name + "'");
        continue;
      }
      std::string value;
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
      } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0 && !args[i + 1].empty() &&
                 args[i + 1] != "-h") {
        value = args[++i];
      } else {
        problem("option '--" + name + "' needs a value" +
                (i + 1 < args.size() && args[i + 1].rfind("--", 0) == 0
                     ? " (got the option '" + args[i + 1] + "'; write --" + name + "=" +
                           args[i + 1] + " if that is the value)"
                     : std::string()));
        continue;
      }
      if (!values_.emplace(name, value).second) problem("option '--" + name + "' given twice");
    }
    if (!error.empty() && !help_) fail(command_, error, hint());
  }

  std::string hint() const {
    return usage() + "  (`" + command_ + " --help` explains each option)";
  }
  static std::string fmt(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
  }

  std::string command_;
  std::set<std::string> allowed_;
  std::set<std::string> flag_names_;
  size_t max_positional_ = 0;
  std::string summary_;
  std::vector<Option> documented_;
  std::string positional_name_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace nibble::cli
