// Little-endian byte writer and bounds-checked byte reader for plan files.
//
// Every multi-byte integer in a plan is little-endian. The writer encodes byte by byte (so the
// bytes do not depend on the host); the reader checks every read against the bytes it was given
// and returns kDataLoss ("the plan is corrupted: ...") instead of reading past the end. Counts
// read from the file are validated against the bytes that remain before anything is allocated,
// so a corrupted count can never ask for more memory than the file itself occupies.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace kiln::plan {

// "the plan is corrupted: <detail>", kDataLoss.
template <typename... Args>
Status corrupted(const char* fmt, Args... args) {
  std::string detail;
  if constexpr (sizeof...(Args) == 0) {
    detail = fmt;
  } else {
    detail = strFormat(fmt, args...);
  }
  return Status(StatusCode::kDataLoss,
                "the plan is corrupted: " + detail + "; rebuild it with `kiln build`");
}

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>* out) : mOut(out) {}

  size_t size() const { return mOut->size(); }
  void u8(uint8_t v) { mOut->push_back(v); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) mOut->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) mOut->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void f32(float v) { u32(std::bit_cast<uint32_t>(v)); }
  // u32 length, then the bytes (no terminator).
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void bytes(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    mOut->insert(mOut->end(), p, p + n);
  }
  // Zero bytes up to the next multiple of `alignment` (relative to the buffer start).
  void padTo(size_t alignment) {
    while (mOut->size() % alignment != 0) mOut->push_back(0);
  }

 private:
  std::vector<uint8_t>* mOut;
};

// Stores `v` little-endian at `p` (patching fields written earlier).
inline void storeU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void storeU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t loadU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
inline uint64_t loadU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// Reads one region of a plan. `base` is the region's offset in the plan (for messages) and
// `what` names the region ("graph section").
class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> data, size_t base, const char* what)
      : mData(data), mBase(base), mWhat(what) {}

  size_t remaining() const { return mData.size() - mPos; }
  // Offset of the next byte within the whole plan.
  size_t offset() const { return mBase + mPos; }
  bool atEnd() const { return mPos == mData.size(); }

  StatusOr<uint8_t> u8() {
    KILN_RETURN_IF_ERROR(need(1));
    return mData[mPos++];
  }
  StatusOr<uint32_t> u32() {
    KILN_RETURN_IF_ERROR(need(4));
    uint32_t v = loadU32(mData.data() + mPos);
    mPos += 4;
    return v;
  }
  StatusOr<uint64_t> u64() {
    KILN_RETURN_IF_ERROR(need(8));
    uint64_t v = loadU64(mData.data() + mPos);
    mPos += 8;
    return v;
  }
  StatusOr<int32_t> i32() {
    KILN_ASSIGN_OR_RETURN(uint32_t v, u32());
    return static_cast<int32_t>(v);
  }
  StatusOr<int64_t> i64() {
    KILN_ASSIGN_OR_RETURN(uint64_t v, u64());
    return static_cast<int64_t>(v);
  }
  StatusOr<float> f32() {
    KILN_ASSIGN_OR_RETURN(uint32_t v, u32());
    return std::bit_cast<float>(v);
  }
  StatusOr<std::string> str() {
    KILN_ASSIGN_OR_RETURN(uint32_t n, u32());
    KILN_RETURN_IF_ERROR(need(n));
    std::string s(reinterpret_cast<const char*>(mData.data() + mPos), n);
    mPos += n;
    return s;
  }
  // A view of the next `n` bytes.
  StatusOr<const uint8_t*> bytes(size_t n) {
    KILN_RETURN_IF_ERROR(need(n));
    const uint8_t* p = mData.data() + mPos;
    mPos += n;
    return p;
  }
  // A u32 element count, checked before anything is allocated: `n` elements of at least
  // `minBytesEach` bytes must fit in what remains.
  StatusOr<uint32_t> count(size_t minBytesEach, const char* what) {
    size_t at = offset();
    KILN_ASSIGN_OR_RETURN(uint32_t n, u32());
    size_t each = minBytesEach == 0 ? 1 : minBytesEach;
    if (static_cast<uint64_t>(n) > remaining() / each)
      return corrupted("%s count %u at offset %zu needs at least %zu bytes, only %zu remain in "
                       "the %s",
                       what, n, at, static_cast<size_t>(n) * each, remaining(), mWhat);
    return n;
  }
  // The region must be consumed exactly.
  Status expectEnd() const {
    if (atEnd()) return Status::ok();
    return corrupted("%zu unexpected bytes at the end of the %s (offset %zu)", remaining(), mWhat,
                     offset());
  }

 private:
  Status need(size_t n) const {
    if (n <= remaining()) return Status::ok();
    return corrupted("the %s ends early: %zu bytes needed at offset %zu, %zu remain", mWhat, n,
                     offset(), remaining());
  }

  std::span<const uint8_t> mData;
  size_t mPos = 0;
  size_t mBase;
  const char* mWhat;
};

}  // namespace kiln::plan
