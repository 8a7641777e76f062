// A small JSON reader for the CLI: `kiln compare` reads the result of its onnxruntime helper
// (tools/kiln/ort_runner.py) with it.
//
//   StatusOr<JsonValue> doc = parseJson(R"({"outputs": [{"name": "y", "shape": [2, 3]}]})");
//   const JsonValue* outs = doc->find("outputs");           // null when absent
//   for (const JsonValue& o : outs->items) o.find("name")->text ...
//
// Full JSON (RFC 8259) plus Python's NaN / Infinity / -Infinity; \u escapes (with surrogate
// pairs) become UTF-8. Nesting is limited to 64 levels, which is plenty for the helper's output.
#pragma once

#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kiln::cli {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;                                        // kString
  std::vector<JsonValue> items;                            // kArray
  std::vector<std::pair<std::string, JsonValue>> members;  // kObject, in document order

  // Declared here, defaulted after the struct: clang 14 (the TSan/fuzz builds) would otherwise
  // instantiate vector<pair<string, JsonValue>>'s destructor while JsonValue is incomplete.
  JsonValue();
  ~JsonValue();
  JsonValue(const JsonValue&);
  JsonValue(JsonValue&&) noexcept;
  JsonValue& operator=(const JsonValue&);
  JsonValue& operator=(JsonValue&&) noexcept;

  bool isString() const { return kind == Kind::kString; }
  bool isNumber() const { return kind == Kind::kNumber; }
  bool isArray() const { return kind == Kind::kArray; }
  bool isObject() const { return kind == Kind::kObject; }
  // The member `key` of an object (the last one when repeated), or null.
  const JsonValue* find(std::string_view key) const;
  // The string member `key`, or `fallback` when absent or not a string.
  std::string getString(std::string_view key, const std::string& fallback = "") const;
};

inline JsonValue::JsonValue() = default;
inline JsonValue::~JsonValue() = default;
inline JsonValue::JsonValue(const JsonValue&) = default;
inline JsonValue::JsonValue(JsonValue&&) noexcept = default;
inline JsonValue& JsonValue::operator=(const JsonValue&) = default;
inline JsonValue& JsonValue::operator=(JsonValue&&) noexcept = default;

inline const JsonValue* JsonValue::find(std::string_view key) const {
  const JsonValue* found = nullptr;
  for (const auto& [k, v] : members)
    if (k == key) found = &v;
  return found;
}
inline std::string JsonValue::getString(std::string_view key, const std::string& fallback) const {
  const JsonValue* v = find(key);
  return v != nullptr && v->isString() ? v->text : fallback;
}

namespace detail {

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : mText(text) {}

  StatusOr<JsonValue> parseDocument() {
    JsonValue v;
    KILN_RETURN_IF_ERROR(parseValue(v, 0));
    skipSpace();
    if (mPos != mText.size()) return error("unexpected text after the JSON value");
    return v;
  }

 private:
  Status error(const char* what) const {
    return invalidArgument("invalid JSON at offset %zu: %s", mPos, what);
  }
  void skipSpace() {
    while (mPos < mText.size() && (mText[mPos] == ' ' || mText[mPos] == '\t' ||
                                   mText[mPos] == '\n' || mText[mPos] == '\r'))
      ++mPos;
  }
  bool consume(std::string_view word) {
    if (mText.substr(mPos, word.size()) != word) return false;
    mPos += word.size();
    return true;
  }

  Status parseValue(JsonValue& v, int depth) {
    if (depth > 64) return error("nested too deeply");
    skipSpace();
    if (mPos >= mText.size()) return error("unexpected end");
    char c = mText[mPos];
    if (c == '{') return parseObject(v, depth);
    if (c == '[') return parseArray(v, depth);
    if (c == '"') {
      v.kind = JsonValue::Kind::kString;
      return parseString(v.text);
    }
    if (consume("true") || consume("false")) {
      v.kind = JsonValue::Kind::kBool;
      v.boolean = mText[mPos - 2] == 'u';  // "tr(u)e" vs "fal(s)e"
      return Status::ok();
    }
    if (consume("null")) {
      v.kind = JsonValue::Kind::kNull;
      return Status::ok();
    }
    v.kind = JsonValue::Kind::kNumber;
    if (consume("NaN")) {
      v.number = std::nan("");
      return Status::ok();
    }
    if (consume("Infinity")) {
      v.number = HUGE_VAL;
      return Status::ok();
    }
    if (consume("-Infinity")) {
      v.number = -HUGE_VAL;
      return Status::ok();
    }
    // strtod accepts a superset of JSON numbers; the helper writes only valid ones.
    std::string token;
    while (mPos < mText.size() &&
           std::string_view("+-0123456789.eE").find(mText[mPos]) != std::string_view::npos)
      token += mText[mPos++];
    if (token.empty()) return error("expected a value");
    char* end = nullptr;
    v.number = std::strtod(token.c_str(), &end);
    if (end != token.c_str() + token.size()) return error("malformed number");
    return Status::ok();
  }

  Status parseArray(JsonValue& v, int depth) {
    v.kind = JsonValue::Kind::kArray;
    ++mPos;  // '['
    skipSpace();
    if (mPos < mText.size() && mText[mPos] == ']') {
      ++mPos;
      return Status::ok();
    }
    while (true) {
      KILN_RETURN_IF_ERROR(parseValue(v.items.emplace_back(), depth + 1));
      skipSpace();
      if (mPos < mText.size() && mText[mPos] == ',') {
        ++mPos;
        continue;
      }
      if (mPos < mText.size() && mText[mPos] == ']') {
        ++mPos;
        return Status::ok();
      }
      return error("expected ',' or ']'");
    }
  }

  Status parseObject(JsonValue& v, int depth) {
    v.kind = JsonValue::Kind::kObject;
    ++mPos;  // '{'
    skipSpace();
    if (mPos < mText.size() && mText[mPos] == '}') {
      ++mPos;
      return Status::ok();
    }
    while (true) {
      skipSpace();
      if (mPos >= mText.size() || mText[mPos] != '"') return error("expected a member name");
      auto& member = v.members.emplace_back();
      KILN_RETURN_IF_ERROR(parseString(member.first));
      skipSpace();
      if (mPos >= mText.size() || mText[mPos] != ':') return error("expected ':'");
      ++mPos;
      KILN_RETURN_IF_ERROR(parseValue(member.second, depth + 1));
      skipSpace();
      if (mPos < mText.size() && mText[mPos] == ',') {
        ++mPos;
        continue;
      }
      if (mPos < mText.size() && mText[mPos] == '}') {
        ++mPos;
        return Status::ok();
      }
      return error("expected ',' or '}'");
    }
  }

  StatusOr<unsigned> parseHex4() {
    if (mPos + 4 > mText.size()) return error("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      char h = mText[mPos++];
      code <<= 4;
      if (h >= '0' && h <= '9')
        code |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        code |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        code |= static_cast<unsigned>(h - 'A' + 10);
      else
        return error("bad hex digit in \\u escape");
    }
    return code;
  }

  static void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  Status parseString(std::string& out) {
    ++mPos;  // '"'
    while (true) {
      if (mPos >= mText.size()) return error("unterminated string");
      char c = mText[mPos++];
      if (c == '"') return Status::ok();
      if (c != '\\') {
        out += c;
        continue;
      }
      if (mPos >= mText.size()) return error("unterminated escape");
      char e = mText[mPos++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          KILN_ASSIGN_OR_RETURN(unsigned cp, parseHex4());
          // A high surrogate followed by \uDC00-\uDFFF encodes one code point above U+FFFF.
          if (cp >= 0xD800 && cp <= 0xDBFF && mText.substr(mPos, 2) == "\\u") {
            mPos += 2;
            KILN_ASSIGN_OR_RETURN(unsigned low, parseHex4());
            if (low < 0xDC00 || low > 0xDFFF) return error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          appendUtf8(out, cp);
          break;
        }
        default: return error("unknown escape");
      }
    }
  }

  std::string_view mText;
  size_t mPos = 0;
};

}  // namespace detail

inline StatusOr<JsonValue> parseJson(std::string_view text) {
  return detail::JsonParser(text).parseDocument();
}

}  // namespace kiln::cli
