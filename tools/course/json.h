// A minimal JSON value for the course tools: reads gtest's JSON reports, reads and writes
// <build>/course/results.json. Not a general-purpose library: numbers are doubles, no \u escapes
// beyond what gtest and we write (they are kept verbatim on input when non-ASCII).
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
  void push_back(Json v) { items_.push_back(std::move(v)); }
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

// Throws nibble::Error "<what>: invalid JSON at offset N: ...".
Json parse_json(const std::string& text, const std::string& what);

}  // namespace nibble::course
