// Host tensors with concrete shapes: constants (weights, initializers) and CPU buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/half.h"
#include "kiln/types.h"

namespace kiln::ir {

// 64-byte aligned, zero-initialized host memory.
class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 64;
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;

  void* data() { return mData; }
  const void* data() const { return mData; }
  size_t size() const { return mSize; }

 private:
  void* mData = nullptr;
  size_t mSize = 0;
};

// An immutable-after-construction tensor held on the host.
class TensorData {
 public:
  TensorData(DataType dtype, std::vector<int64_t> dims);  // zero-filled
  static std::shared_ptr<TensorData> fromBytes(DataType dtype, std::vector<int64_t> dims,
                                               const void* bytes);
  template <typename T>
  static std::shared_ptr<TensorData> fromVector(DataType dtype, std::vector<int64_t> dims,
                                                const std::vector<T>& values) {
    return fromBytes(dtype, std::move(dims), values.data());
  }
  static std::shared_ptr<TensorData> scalarInt64(int64_t v);
  static std::shared_ptr<TensorData> vectorInt64(const std::vector<int64_t>& v);
  static std::shared_ptr<TensorData> scalarFloat(float v);

  DataType dtype() const { return mDtype; }
  const std::vector<int64_t>& dims() const { return mDims; }
  int64_t numel() const { return mNumel; }
  size_t bytes() const { return static_cast<size_t>(mNumel) * dataTypeSize(mDtype); }
  void* data() { return mBuffer.data(); }
  const void* data() const { return mBuffer.data(); }
  template <typename T>
  T* as() { return static_cast<T*>(mBuffer.data()); }
  template <typename T>
  const T* as() const { return static_cast<const T*>(mBuffer.data()); }

  // Element i converted to int64 / double (any dtype).
  int64_t intAt(int64_t i) const;
  double doubleAt(int64_t i) const;
  // All elements as int64 (integer and bool tensors; floats are truncated).
  std::vector<int64_t> toInt64Vector() const;

 private:
  DataType mDtype;
  std::vector<int64_t> mDims;
  int64_t mNumel = 1;
  AlignedBuffer mBuffer;
};

using TensorDataPtr = std::shared_ptr<const TensorData>;

int64_t volumeOf(const std::vector<int64_t>& dims);
// Element i of a dense array of `dtype`, converted (floats truncate toward zero for int64).
int64_t elementAsInt64(DataType dtype, const void* data, int64_t i);
double elementAsDouble(DataType dtype, const void* data, int64_t i);
std::string dimsToString(const std::vector<int64_t>& dims);

}  // namespace kiln::ir
