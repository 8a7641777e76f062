// A tiny streaming JSON writer for the CLI's reports (--json, --exportOutput, --exportTimes).
//
//   JsonWriter w;
//   w.beginObject(); w.key("name"); w.string("x"); w.key("dims"); w.beginArray();
//   w.number(int64_t{1}); w.endArray(); w.endObject();
//   w.str() == "{\"name\": \"x\", \"dims\": [1]}"
//
// Commas are inserted automatically; values appended with raw() must already be valid JSON.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::cli {

class JsonWriter {
 public:
  void beginObject() { open('{'); }
  void endObject() { close('}'); }
  void beginArray() { open('['); }
  void endArray() { close(']'); }

  void key(std::string_view k) {
    separate();
    appendString(k);
    mOut += ": ";
    mAfterKey = true;
  }
  void string(std::string_view s) {
    separate();
    appendString(s);
  }
  void number(int64_t v) { raw(std::to_string(v)); }
  void number(double v) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.9g", v);
    raw(buf);
  }
  void boolean(bool b) { raw(b ? "true" : "false"); }
  void raw(std::string_view json) {
    separate();
    mOut += json;
  }
  // Puts the next element (or the closing bracket) on a new line, indented; for readable output
  // of long lists.
  void newline() { mPendingNewline = true; }

  const std::string& str() const { return mOut; }

  static void appendEscaped(std::string& out, std::string_view s) {
    for (char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
            out += buf;
          } else {
            out += c;
          }
      }
    }
  }

 private:
  void open(char c) {
    separate();
    mOut += c;
    mFirst.push_back(true);
  }
  void close(char c) {
    if (!mFirst.empty()) mFirst.pop_back();
    breakLineIfPending();
    mOut += c;
  }
  void separate() {
    if (mAfterKey) {
      mAfterKey = false;
      return;
    }
    if (!mFirst.empty()) {
      if (!mFirst.back()) mOut += mPendingNewline ? "," : ", ";
      mFirst.back() = false;
    }
    breakLineIfPending();
  }
  void breakLineIfPending() {
    if (!mPendingNewline) return;
    mPendingNewline = false;
    mOut += '\n';
    mOut.append(2 * mFirst.size(), ' ');
  }
  void appendString(std::string_view s) {
    mOut += '"';
    appendEscaped(mOut, s);
    mOut += '"';
  }

  std::string mOut;
  std::vector<bool> mFirst;  // per open container: nothing written into it yet
  bool mAfterKey = false;
  bool mPendingNewline = false;
};

}  // namespace kiln::cli
