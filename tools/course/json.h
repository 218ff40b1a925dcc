// A small JSON value for the course tools: reads gtest's JSON reports, reads and writes
// <build>/course/results.json. Parsing and writing go through nlohmann-json (json.cpp; the header
// stays free of it). Numbers are doubles.
//
// parse_json is strict (RFC 8259: `[1-2]`, `3.4.5`, bad \u escapes, invalid UTF-8 and trailing text are
// errors) and defensive: nesting deeper than kMaxJsonDepth and numbers that do not fit a double
// (1e400) are errors too. Every error is a nibble::Error naming the file (`what`) and the byte offset.
//
// dump writes non-finite numbers (NaN, inf) as null, so its output is always valid JSON; invalid UTF-8
// in strings is replaced by U+FFFD.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nibble::course {

class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  Json() = default;
  Json(bool b) : type_(Type::Bool), bool_(b) {}                       // NOLINT: implicit on purpose
  Json(double d) : type_(Type::Number), number_(d) {}                 // NOLINT
  Json(int i) : type_(Type::Number), number_(i) {}                    // NOLINT
  Json(long long i) : type_(Type::Number), number_(static_cast<double>(i)) {}  // NOLINT
  Json(const char* s) : type_(Type::String), string_(s) {}            // NOLINT
  Json(std::string s) : type_(Type::String), string_(std::move(s)) {} // NOLINT
  static Json array() { Json j; j.type_ = Type::Array; return j; }
  static Json object() { Json j; j.type_ = Type::Object; return j; }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_object() const { return type_ == Type::Object; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_string() const { return type_ == Type::String; }
  bool is_number() const { return type_ == Type::Number; }

  bool as_bool(bool fallback = false) const { return type_ == Type::Bool ? bool_ : fallback; }
  double as_number(double fallback = 0) const { return type_ == Type::Number ? number_ : fallback; }
  const std::string& as_string() const { return string_; }   // "" unless a string

  // Arrays.
  const std::vector<Json>& items() const { return items_; }
  Json& push_back(Json v) {  // returns the stored value
    type_ = Type::Array;
    items_.push_back(std::move(v));
    return items_.back();
  }
  // Objects (keys kept in insertion order for readable output).
  bool has(const std::string& key) const;
  const Json& operator[](const std::string& key) const;       // null when absent
  Json& set(const std::string& key, Json v);                   // returns the stored value
  const std::vector<std::pair<std::string, Json>>& members() const { return members_; }

  std::string dump(int indent = 2) const;

 private:
  void dump_to(std::string& out, int indent, int depth) const;

  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

constexpr int kMaxJsonDepth = 64;  // [ and { nested deeper than this are rejected

// Throws nibble::Error "<what>: invalid JSON at byte N (line L, column C): ...".
Json parse_json(const std::string& text, const std::string& what);

// Replaces each byte that is not part of well-formed UTF-8 by '?'. The length is unchanged, so byte
// offsets in later error messages still point into the original. For text printed by programs that
// may write raw bytes (gtest reports of student code), before parse_json.
std::string sanitize_utf8(const std::string& text);

}  // namespace nibble::course
