// Status and StatusOr: errors are values inside Kiln.
//
// Every fallible internal function returns `Status` or `StatusOr<T>`. User-facing errors name the
// node, the op and what was expected; `src/api/` turns them into logger messages / return codes.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace kiln {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the user's input is wrong (bad shape, bad attribute, bad file)
  kUnsupported,      // valid input Kiln cannot handle yet (unsupported op, dtype, mode)
  kNotFound,         // a named thing (tensor, input, plugin) does not exist
  kOutOfRange,       // a value outside its allowed range (profile bounds, indices)
  kResourceExhausted,  // memory limits
  kDataLoss,         // corrupted or truncated file
  kVersionMismatch,  // plan from another version or device
  kInternal,         // a bug in Kiln
  kIoError,          // file system
};

const char* statusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : mCode(code), mMessage(std::move(message)) {}

  static Status ok() { return {}; }
  bool isOk() const { return mCode == StatusCode::kOk; }
  StatusCode code() const { return mCode; }
  const std::string& message() const { return mMessage; }
  // "<code>: <message>"
  std::string toString() const;
  // Returns a copy with `context + ": "` prepended to the message.
  Status withContext(const std::string& context) const;

 private:
  StatusCode mCode = StatusCode::kOk;
  std::string mMessage;
};

// printf-style message formatting for errors.
std::string strFormat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

#define KILN_DEFINE_ERROR(fn, code)                                            \
  template <typename... Args>                                                  \
  inline Status fn(const char* fmt, Args... args) {                            \
    if constexpr (sizeof...(Args) == 0) {                                      \
      return Status(StatusCode::code, fmt);                                    \
    } else {                                                                   \
      return Status(StatusCode::code, strFormat(fmt, args...));                \
    }                                                                          \
  }
KILN_DEFINE_ERROR(invalidArgument, kInvalidArgument)
KILN_DEFINE_ERROR(unsupported, kUnsupported)
KILN_DEFINE_ERROR(notFound, kNotFound)
KILN_DEFINE_ERROR(outOfRange, kOutOfRange)
KILN_DEFINE_ERROR(resourceExhausted, kResourceExhausted)
KILN_DEFINE_ERROR(dataLoss, kDataLoss)
KILN_DEFINE_ERROR(versionMismatch, kVersionMismatch)
KILN_DEFINE_ERROR(internalError, kInternal)
KILN_DEFINE_ERROR(ioError, kIoError)
#undef KILN_DEFINE_ERROR

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : mValue(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  StatusOr(Status status) : mStatus(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (mStatus.isOk()) mStatus = internalError("StatusOr built from an OK status without a value");
  }
  bool isOk() const { return mStatus.isOk(); }
  const Status& status() const { return mStatus; }
  T& value() & { return *mValue; }
  const T& value() const& { return *mValue; }
  T&& value() && { return std::move(*mValue); }
  T& operator*() & { return *mValue; }
  const T& operator*() const& { return *mValue; }
  T* operator->() { return &*mValue; }
  const T* operator->() const { return &*mValue; }

 private:
  Status mStatus;
  std::optional<T> mValue;
};

[[noreturn]] void checkFailed(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace kiln

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

#define KILN_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::kiln::Status _kiln_st = (expr);               \
    if (!_kiln_st.isOk()) return _kiln_st;          \
  } while (0)

#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.isOk()) return tmp.status();            \
  lhs = std::move(tmp).value()

// KILN_ASSIGN_OR_RETURN(auto x, computeX());
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(_kiln_sor_, __LINE__), lhs, expr)

// Invariant checks: only for broken internal invariants, never for user input.
#define KILN_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) ::kiln::checkFailed(__FILE__, __LINE__, #cond, std::string()); \
  } while (0)
#define KILN_CHECK_MSG(cond, msg)                                       \
  do {                                                                  \
    if (!(cond)) ::kiln::checkFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
