#include "common/status.h"

#include <cstdarg>

namespace kiln {

const char* statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kOutOfRange: return "out of range";
    case StatusCode::kResourceExhausted: return "resource exhausted";
    case StatusCode::kDataLoss: return "data loss";
    case StatusCode::kVersionMismatch: return "version mismatch";
    case StatusCode::kInternal: return "internal error";
    case StatusCode::kIoError: return "I/O error";
  }
  return "unknown";
}

std::string Status::toString() const {
  if (isOk()) return "OK";
  return std::string(statusCodeName(mCode)) + ": " + mMessage;
}

Status Status::withContext(const std::string& context) const {
  if (isOk()) return *this;
  return Status(mCode, context + ": " + mMessage);
}

std::string strFormat(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  va_end(args);
  return out;
}

void checkFailed(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "kiln: internal check failed at %s:%d: %s %s\n", file, line, cond,
               msg.c_str());
  std::abort();
}

}  // namespace kiln
