// Tiny `--name value` option parser shared by the subcommands.
//   ArgParser p("nibble train", args, {"model", "epochs"});   // allowed option names
//   int epochs = p.get_int("epochs", 5);
// Unknown options, missing values and malformed numbers throw nibble::Error (exit code 2).
// Optional: boolean flags without a value (`--json`) and up to `max_positional` bare arguments:
//   ArgParser p("nibble test", args, {"timeout"}, {"json", "hidden"}, 1);
//   p.flag("json"); p.positional();  // {"01"}
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"

namespace nibble::cli {

class ArgParser {
 public:
  ArgParser(std::string command, const Args& args, std::set<std::string> allowed,
            std::set<std::string> flags = {}, size_t max_positional = 0)
      : command_(std::move(command)) {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--help" || a == "-h") {
        help_ = true;
        continue;
      }
      if (a.rfind("--", 0) != 0 && positional_.size() < max_positional) {
        positional_.push_back(a);
        continue;
      }
      check(a.rfind("--", 0) == 0, command_, "unexpected argument '" + a + "'",
            "run `" + command_ + " --help`");
      const std::string name = a.substr(2);
      if (flags.count(name) == 1) {
        flags_.insert(name);
        continue;
      }
      check(allowed.count(name) == 1, command_, "unknown option '" + a + "'",
            "run `" + command_ + " --help`");
      check(i + 1 < args.size(), command_, "option '" + a + "' needs a value");
      values_[name] = args[++i];
    }
  }
  bool help() const { return help_; }
  bool flag(const std::string& name) const { return flags_.count(name) == 1; }
  const std::vector<std::string>& positional() const { return positional_; }
  std::string get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  long long get_int(const std::string& name, long long fallback) const {
    const std::string v = get(name, "");
    if (v.empty()) return fallback;
    size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == v.size(), command_, "--" + name + " expects an integer, got '" + v + "'");
    return x;
  }
  double get_double(const std::string& name, double fallback) const {
    const std::string v = get(name, "");
    if (v.empty()) return fallback;
    size_t used = 0;
    double x = 0;
    try {
      x = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == v.size(), command_, "--" + name + " expects a number, got '" + v + "'");
    return x;
  }

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace nibble::cli
