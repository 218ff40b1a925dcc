#include "tools/course/grade_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>

namespace nibble::course {

namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool parse_long(const std::string& s, long& v) {
  if (s.empty() || s.size() > 18) return false;
  v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  return true;
}

bool known_kind(const std::string& k, size_t n_values) {
  static const char* kTwo[] = {"eq", "ne", "lt", "le", "gt", "ge", "deq", "feq"};
  for (const char* t : kTwo)
    if (k == t) return n_values == 2;
  if (k == "near") return n_values == 3;
  return (k == "true" || k == "false" || k == "throw") && n_values == 1;
}

// A decoded operand.
struct Value {
  enum Type { kBad, kInt, kFloat, kText } type = kBad;
  __int128 i = 0;
  double f = 0;
  std::string s;
  long double number() const { return type == kInt ? static_cast<long double>(i) : f; }
};

Value decode(const std::string& code) {
  Value v;
  if (code == "s") {  // an empty text
    v.type = Value::kText;
    return v;
  }
  if (code.size() < 2) return v;
  const std::string body = code.substr(1);
  switch (code[0]) {
    case 'b':
      if (body == "0" || body == "1") {
        v.type = Value::kInt;
        v.i = body == "1";
      }
      return v;
    case 'i':
    case 'u': {
      size_t k = 0;
      bool neg = false;
      if (code[0] == 'i' && body[0] == '-') {
        neg = true;
        k = 1;
      }
      if (k >= body.size() || body.size() - k > 20) return v;
      unsigned __int128 x = 0;
      for (; k < body.size(); ++k) {
        if (body[k] < '0' || body[k] > '9') return v;
        x = x * 10 + static_cast<unsigned>(body[k] - '0');
      }
      v.type = Value::kInt;
      v.i = neg ? -static_cast<__int128>(x) : static_cast<__int128>(x);
      return v;
    }
    case 'f': {
      if (body.size() != 16) return v;
      std::uint64_t bits = 0;
      for (const char c : body) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return v;
        bits = (bits << 4) | static_cast<std::uint64_t>(d);
      }
      std::memcpy(&v.f, &bits, sizeof bits);
      v.type = Value::kFloat;
      return v;
    }
    case 's': {
      if (body.size() % 2 != 0) return v;
      for (size_t k = 0; k < body.size(); k += 2) {
        int hi = -1, lo = -1;
        for (int* d : {&hi, &lo}) {
          const char c = body[k + (d == &lo)];
          *d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        }
        if (hi < 0 || lo < 0) return v;
        v.s += static_cast<char>(hi * 16 + lo);
      }
      v.type = Value::kText;
      return v;
    }
    default:
      return v;
  }
}

// gtest's AlmostEquals: at most 4 units in the last place apart, never for a NaN.
template <typename F, typename Bits>
bool almost_equal(F a, F b) {
  if (std::isnan(a) || std::isnan(b)) return false;
  Bits x, y;
  std::memcpy(&x, &a, sizeof x);
  std::memcpy(&y, &b, sizeof y);
  const Bits sign = Bits(1) << (sizeof(Bits) * 8 - 1);
  const auto biased = [sign](Bits v) { return (v & sign) ? ~v + 1 : sign | v; };
  const Bits bx = biased(x), by = biased(y);
  return (bx >= by ? bx - by : by - bx) <= 4;
}

// The test's own comparison on two values (and near's tolerance). "" when it holds.
std::string holds(const std::string& kind, const Value& a, const Value& b, double tol) {
  if (a.type == Value::kBad || b.type == Value::kBad) return "an unreadable value";
  if ((a.type == Value::kText) != (b.type == Value::kText)) return "values of different types";
  bool ok = false;
  if (a.type == Value::kText) {
    if (kind == "eq") ok = a.s == b.s;
    else if (kind == "ne") ok = a.s != b.s;
    else if (kind == "lt") ok = a.s < b.s;
    else if (kind == "le") ok = a.s <= b.s;
    else if (kind == "gt") ok = a.s > b.s;
    else if (kind == "ge") ok = a.s >= b.s;
    else return "a comparison of text that needs numbers";
  } else if (kind == "near") {
    ok = std::fabs(static_cast<double>(a.number() - b.number())) <= tol;
  } else if (kind == "deq") {
    ok = almost_equal<double, std::uint64_t>(static_cast<double>(a.number()), static_cast<double>(b.number()));
  } else if (kind == "feq") {
    ok = almost_equal<float, std::uint32_t>(static_cast<float>(a.number()), static_cast<float>(b.number()));
  } else if (a.type == Value::kInt && b.type == Value::kInt) {
    if (kind == "eq") ok = a.i == b.i;
    else if (kind == "ne") ok = a.i != b.i;
    else if (kind == "lt") ok = a.i < b.i;
    else if (kind == "le") ok = a.i <= b.i;
    else if (kind == "gt") ok = a.i > b.i;
    else if (kind == "ge") ok = a.i >= b.i;
  } else {
    const long double x = a.number(), y = b.number();
    if (kind == "eq") ok = x == y;
    else if (kind == "ne") ok = x != y;
    else if (kind == "lt") ok = x < y;
    else if (kind == "le") ok = x <= y;
    else if (kind == "gt") ok = x > y;
    else if (kind == "ge") ok = x >= y;
  }
  return ok ? "" : "the comparison does not hold";
}

// Whether the student's value is the reference run's (see the header for the tolerance).
bool matches(const Value& s, const Value& r, double tol) {
  if (s.type == Value::kBad || s.type != r.type) return false;
  if (s.type == Value::kText) return s.s == r.s;
  if (s.type == Value::kInt) return s.i == r.i;
  if (std::isnan(s.f) || std::isnan(r.f)) return std::isnan(s.f) && std::isnan(r.f);
  if (s.f == r.f) return true;
  const double bound = std::max(std::isfinite(tol) ? tol : 0.0, 1e-3 * std::max(1.0, std::fabs(r.f)));
  return std::fabs(s.f - r.f) <= bound;
}

}  // namespace

RecordedRun parse_recorded_run(const std::string& report, const std::string& nonce, const std::string& test) {
  RecordedRun run;
  std::istringstream in(report);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  const auto bad = [&run](const std::string& why) {
    run.valid = false;
    run.problem = why;
    run.assertions.clear();
    return run;
  };
  if (report.empty()) return bad("no record at all (the test did not start)");
  if (report.back() != '\n') return bad("the records do not end with a complete line");
  if (lines.front() != "S " + nonce + " " + test) return bad("the first record is not this test's start");
  if (lines.size() < 2) return bad("no end record (the test did not finish)");
  const std::vector<std::string> end = split(lines.back());
  long count = -1;
  if (end.size() != 5 || end[0] != "E" || end[1] != nonce || end[2] != test || !parse_long(end[3], count) ||
      (end[4] != "pass" && end[4] != "fail"))
    return bad("no end record for this test (it did not finish)");
  for (size_t k = 1; k + 1 < lines.size(); ++k) {
    const std::vector<std::string> w = split(lines[k]);
    RecordedAssertion a;
    if (w.size() < 5 || w[0] != "A" || !parse_long(w[1], a.seq) || !parse_long(w[2], a.line))
      return bad("record " + std::to_string(k) + " is not an assertion");
    a.kind = w[3];
    a.values.assign(w.begin() + 4, w.end());
    if (!known_kind(a.kind, a.values.size())) return bad("record " + std::to_string(k) + " has an unknown kind");
    if (a.seq != static_cast<long>(run.assertions.size()) + 1) return bad("the assertions are not numbered in order");
    run.assertions.push_back(a);
  }
  if (count != static_cast<long>(run.assertions.size())) return bad("the end record counts other assertions");
  run.valid = true;
  run.local_pass = end[4] == "pass";
  return run;
}

Verdict compare_assertion(const RecordedAssertion& s, const RecordedAssertion& r) {
  Verdict v;
  const std::string where = "assertion " + std::to_string(r.seq) + " (line " + std::to_string(r.line) + ")";
  if (s.kind != r.kind || s.line != r.line || s.values.size() != r.values.size()) {
    v.reason = where + ": a different assertion ran here than in the reference run";
    return v;
  }
  if (r.values.size() == 1) {
    const Value got = decode(s.values[0]);
    const bool want = r.kind != "false";
    if (got.type != Value::kInt || (got.i != 0) != want) {
      v.reason = where + ": the check does not hold";
      return v;
    }
    v.pass = true;
    return v;
  }
  const Value a = decode(s.values[0]), b = decode(s.values[1]);
  const Value ra = decode(r.values[0]), rb = decode(r.values[1]);
  double tol = 0;
  if (r.kind == "near") {
    const Value t = decode(r.values[2]);
    if (t.type == Value::kBad || t.type == Value::kText) {
      v.reason = where + ": the reference's tolerance is unreadable";
      return v;
    }
    tol = static_cast<double>(t.number());
  }
  const std::string h = holds(r.kind, a, b, tol);
  if (!h.empty()) {
    v.reason = where + ": " + h;
    return v;
  }
  if (!matches(a, ra, tol) && !matches(b, rb, tol)) {
    v.reason = where + ": neither value is the one the reference solution gives here";
    return v;
  }
  v.pass = true;
  return v;
}

Verdict compare_runs(const RecordedRun& student, const RecordedRun& reference) {
  Verdict v;
  if (!reference.valid || !reference.local_pass) {
    v.reason = "the reference run of this test is not usable (" + reference.problem + ")";
    return v;
  }
  if (!student.valid) {
    v.reason = "the test's records are not usable: " + student.problem;
    return v;
  }
  if (!student.local_pass) {
    v.reason = "the test failed";
    return v;
  }
  const size_t n = std::min(student.assertions.size(), reference.assertions.size());
  for (size_t k = 0; k < n; ++k) {
    v = compare_assertion(student.assertions[k], reference.assertions[k]);
    if (!v.pass) return v;
  }
  if (student.assertions.size() != reference.assertions.size()) {
    v.pass = false;
    v.reason = "the test checked " + std::to_string(student.assertions.size()) + " values, the reference run " +
               std::to_string(reference.assertions.size());
    return v;
  }
  v.pass = true;
  v.reason.clear();
  return v;
}

}  // namespace nibble::course
