#include "tools/course/json.h"

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace nibble::course {

namespace {

const Json kNull;

using Ordered = nlohmann::ordered_json;

// "[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while parsing
// value - invalid literal; last read: '1-'" -> "syntax error while parsing value - invalid literal;
// last read: '1-'"; "[json.exception.out_of_range.406] number overflow parsing '1e400'" -> "number
// overflow parsing '1e400'" (we say where ourselves, in bytes).
std::string short_message(std::string what) {
  if (what.rfind("[json.exception.", 0) == 0 && what.find("] ") != std::string::npos)
    what = what.substr(what.find("] ") + 2);
  if (what.rfind("parse error", 0) == 0 && what.find(": ") != std::string::npos)
    what = what.substr(what.find(": ") + 2);
  return what;
}

// Line and column (1-based) of byte offset `at`.
std::string line_column(const std::string& text, size_t at) {
  size_t line = 1, column = 1;
  for (size_t k = 0; k < at && k < text.size(); ++k) {
    if (text[k] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// Byte offset of the first '[' or '{' nested deeper than kMaxJsonDepth (strings skipped).
size_t too_deep_at(const std::string& text) {
  int depth = 0;
  bool in_string = false;
  for (size_t k = 0; k < text.size(); ++k) {
    const char c = text[k];
    if (in_string) {
      if (c == '\\')
        ++k;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return k;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return text.size();
}

// Builds a Json tree from nlohmann's SAX events. nlohmann's parser keeps its own stack (no
// recursion); we keep ours as pointers to the open containers, and refuse to open more than
// kMaxJsonDepth of them, so that neither parsing nor the recursive copy/destroy of Json can run
// out of stack on hostile input (50 000 nested brackets).
class Builder : public nlohmann::json_sax<nlohmann::json> {
 public:
  Json root;
  std::string problem;  // why parsing stopped
  size_t offset = 0;    // where, when nlohmann knows
  bool depth_exceeded = false;
  std::string number_text;  // a number out of range (nlohmann does not say where it was)

  bool null() override { return add(Json()); }
  bool boolean(bool v) override { return add(Json(v)); }
  bool number_integer(number_integer_t v) override { return add(Json(static_cast<double>(v))); }
  bool number_unsigned(number_unsigned_t v) override { return add(Json(static_cast<double>(v))); }
  bool number_float(number_float_t v, const string_t& text) override {
    if (!std::isfinite(v)) {  // 1e400: strtod gives inf; JSON has no infinity
      problem = "number " + text + " is out of range";
      number_text = text;
      return false;
    }
    return add(Json(static_cast<double>(v)));
  }
  bool string(string_t& v) override { return add(Json(std::move(v))); }
  bool binary(binary_t&) override {
    problem = "binary values are not JSON";
    return false;
  }
  bool start_object(std::size_t) override { return open(Json::object()); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Json::array()); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    offset = position;
    problem = short_message(e.what());
    return false;
  }

 private:
  // Stores v in the open container (or as the root) and returns where it went.
  Json* place(Json v) {
    if (open_.empty()) {
      root = std::move(v);
      return &root;
    }
    Json& top = *open_.back();
    // The pointers in open_ stay valid: only the innermost container grows.
    return top.is_array() ? &top.push_back(std::move(v)) : &top.set(key_, std::move(v));
  }
  bool add(Json v) {
    place(std::move(v));
    return true;
  }
  bool open(Json container) {
    if (static_cast<int>(open_.size()) >= kMaxJsonDepth) {
      depth_exceeded = true;
      problem = "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
      return false;
    }
    open_.push_back(place(std::move(container)));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  std::vector<Json*> open_;
  std::string key_;
};

// Our tree -> nlohmann's (recursive; our own trees are shallow, and parsed ones are depth-limited).
Ordered to_nlohmann(const Json& j) {
  switch (j.type()) {
    case Json::Type::Null:
      return nullptr;
    case Json::Type::Bool:
      return j.as_bool();
    case Json::Type::Number: {
      const double d = j.as_number();
      // Whole numbers print without ".0" ("earned": 60); non-finite ones are written as null by
      // nlohmann.
      if (std::isfinite(d) && std::nearbyint(d) == d && std::fabs(d) < 9007199254740992.0)
        return static_cast<std::int64_t>(d);
      return d;
    }
    case Json::Type::String:
      return j.as_string();
    case Json::Type::Array: {
      Ordered a = Ordered::array();
      for (const Json& item : j.items()) a.push_back(to_nlohmann(item));
      return a;
    }
    case Json::Type::Object: {
      Ordered o = Ordered::object();
      for (const auto& [k, v] : j.members()) o[k] = to_nlohmann(v);
      return o;
    }
  }
  return nullptr;
}

// Length of the well-formed UTF-8 sequence starting at s[k] (Unicode table 3-7), 0 when ill-formed.
size_t utf8_sequence(const std::string& s, size_t k) {
  auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = byte(k);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c == 0xE0)
    n = 3, lo = 0xA0;
  else if (c == 0xED)
    n = 3, hi = 0x9F;  // no UTF-16 surrogates
  else if (c >= 0xE1 && c <= 0xEF)
    n = 3;
  else if (c == 0xF0)
    n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3)
    n = 4;
  else if (c == 0xF4)
    n = 4, hi = 0x8F;
  else
    return 0;
  if (k + n > s.size()) return 0;
  if (byte(k + 1) < lo || byte(k + 1) > hi) return 0;
  for (size_t i = 2; i < n; ++i)
    if (byte(k + i) < 0x80 || byte(k + i) > 0xBF) return 0;
  return n;
}

}  // namespace

bool Json::has(const std::string& key) const {
  for (const auto& m : members_)
    if (m.first == key) return true;
  return false;
}

const Json& Json::operator[](const std::string& key) const {
  for (const auto& m : members_)
    if (m.first == key) return m.second;
  return kNull;
}

Json& Json::set(const std::string& key, Json v) {
  type_ = Type::Object;
  for (auto& m : members_)
    if (m.first == key) return m.second = std::move(v);
  members_.emplace_back(key, std::move(v));
  return members_.back().second;
}

std::string Json::dump(int indent) const {
  return to_nlohmann(*this).dump(indent > 0 ? indent : -1, ' ', /*ensure_ascii=*/false,
                                 nlohmann::json::error_handler_t::replace);
}

void Json::dump_to(std::string& out, int indent, int /*depth*/) const { out += dump(indent); }

Json parse_json(const std::string& text, const std::string& what) {
  Builder b;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text, &b);
  } catch (const std::exception& e) {  // nlohmann reports through parse_error; this is a safety net
    b.problem = short_message(e.what());
    ok = false;
  }
  if (!ok) {
    size_t at = b.offset;
    if (b.depth_exceeded) {
      at = too_deep_at(text);
    } else if (!b.number_text.empty()) {
      at = text.find(b.number_text);
    } else if (at > 0) {
      --at;  // nlohmann counts the characters read, one past the offending one
    }
    if (at > text.size()) at = text.size();
    fail(what, "invalid JSON at byte " + std::to_string(at) + " (" + line_column(text, at) +
                   "): " + (b.problem.empty() ? std::string("parse error") : b.problem));
  }
  return std::move(b.root);
}

std::string sanitize_utf8(const std::string& text) {
  std::string out = text;
  for (size_t k = 0; k < out.size();) {
    const size_t n = utf8_sequence(out, k);
    if (n == 0) {
      out[k++] = '?';
    } else {
      k += n;
    }
  }
  return out;
}

}  // namespace nibble::course
