#include "tools/course/json.h"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace nibble::course {

namespace {

const Json kNull;

class Parser {
 public:
  Parser(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  Json parse_document() {
    Json v = value();
    ws();
    if (i_ != s_.size()) error("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& problem) {
    fail(what_, "invalid JSON at offset " + std::to_string(i_) + ": " + problem);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) error(std::string("expected '") + c + "'");
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(i_, w.size(), w) == 0) {
      i_ += w.size();
      return true;
    }
    return false;
  }
  Json value() {
    ws();
    if (i_ >= s_.size()) error("unexpected end");
    const char c = s_[i_];
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') return Json(string());
    if (literal("true")) return Json(true);
    if (literal("false")) return Json(false);
    if (literal("null")) return Json();
    return number();
  }
  Json object() {
    expect('{');
    Json o = Json::object();
    if (eat('}')) return o;
    do {
      ws();
      if (i_ >= s_.size() || s_[i_] != '"') error("expected a key");
      std::string key = string();
      expect(':');
      o.set(key, value());
    } while (eat(','));
    expect('}');
    return o;
  }
  Json array() {
    expect('[');
    Json a = Json::array();
    if (eat(']')) return a;
    do {
      a.push_back(value());
    } while (eat(','));
    expect(']');
    return a;
  }
  std::string string() {
    ++i_;  // opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size()) error("unterminated string");
      const char c = s_[i_++];
      if (c == '"') break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) error("unterminated string");
      const char e = s_[i_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) error("bad \\u escape");
          const unsigned long cp = std::stoul(s_.substr(i_, 4), nullptr, 16);
          i_ += 4;
          // UTF-8 encode (surrogate pairs are not combined: gtest does not emit them).
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: out += e; break;  // \" \\ \/
      }
    }
    return out;
  }
  Json number() {
    const size_t start = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                              s_[i_] == '+' || s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E'))
      ++i_;
    if (start == i_) error("unexpected character '" + std::string(1, s_[i_]) + "'");
    try {
      return Json(std::stod(s_.substr(start, i_ - start)));
    } catch (const std::exception&) {
      error("bad number");
    }
  }

  const std::string& s_;
  const std::string& what_;
  size_t i_ = 0;
};

void escape(std::string& out, const std::string& s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
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
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

void Json::dump_to(std::string& out, int indent, int depth) const {
  const std::string pad = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent * (depth + 1)), ' ') : "";
  const std::string end = indent > 0 ? "\n" + std::string(static_cast<size_t>(indent * depth), ' ') : "";
  switch (type_) {
    case Type::Null: out += "null"; break;
    case Type::Bool: out += bool_ ? "true" : "false"; break;
    case Type::Number: {
      char buf[32];
      if (std::nearbyint(number_) == number_ && std::fabs(number_) < 1e15)
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(number_));
      else
        std::snprintf(buf, sizeof buf, "%.17g", number_);
      out += buf;
      break;
    }
    case Type::String: escape(out, string_); break;
    case Type::Array:
      if (items_.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (size_t k = 0; k < items_.size(); ++k) {
        out += k ? "," + pad : pad;
        items_[k].dump_to(out, indent, depth + 1);
      }
      out += end + "]";
      break;
    case Type::Object:
      if (members_.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      for (size_t k = 0; k < members_.size(); ++k) {
        out += k ? "," + pad : pad;
        escape(out, members_[k].first);
        out += indent > 0 ? ": " : ":";
        members_[k].second.dump_to(out, indent, depth + 1);
      }
      out += end + "}";
      break;
  }
}

Json parse_json(const std::string& text, const std::string& what) { return Parser(text, what).parse_document(); }

}  // namespace nibble::course
