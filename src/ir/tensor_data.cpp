#include "ir/tensor_data.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/small_float.h"
#include "common/status.h"

namespace kiln::ir {

AlignedBuffer::AlignedBuffer(size_t bytes) : mSize(bytes) {
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  mData = std::aligned_alloc(kAlignment, rounded);
  if (!mData) throw std::bad_alloc();
  std::memset(mData, 0, rounded);
}

AlignedBuffer::~AlignedBuffer() { std::free(mData); }

AlignedBuffer::AlignedBuffer(AlignedBuffer&& o) noexcept : mData(o.mData), mSize(o.mSize) {
  o.mData = nullptr;
  o.mSize = 0;
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    std::free(mData);
    mData = o.mData;
    mSize = o.mSize;
    o.mData = nullptr;
    o.mSize = 0;
  }
  return *this;
}

int64_t volumeOf(const std::vector<int64_t>& dims) {
  int64_t v = 1;
  for (int64_t d : dims) v *= d;
  return v;
}

std::string dimsToString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

TensorData::TensorData(DataType dtype, std::vector<int64_t> dims)
    : mDtype(dtype),
      mDims(std::move(dims)),
      mNumel(volumeOf(mDims)),
      mBuffer(static_cast<size_t>(mNumel) * dataTypeSize(dtype)) {}

std::shared_ptr<TensorData> TensorData::fromBytes(DataType dtype, std::vector<int64_t> dims,
                                                  const void* bytes) {
  auto t = std::make_shared<TensorData>(dtype, std::move(dims));
  if (t->bytes() > 0 && bytes) std::memcpy(t->data(), bytes, t->bytes());
  return t;
}

std::shared_ptr<TensorData> TensorData::scalarInt64(int64_t v) {
  return fromBytes(DataType::kINT64, {}, &v);
}
std::shared_ptr<TensorData> TensorData::vectorInt64(const std::vector<int64_t>& v) {
  return fromBytes(DataType::kINT64, {static_cast<int64_t>(v.size())}, v.data());
}
std::shared_ptr<TensorData> TensorData::scalarFloat(float v) {
  return fromBytes(DataType::kFLOAT, {}, &v);
}

int64_t elementAsInt64(DataType dtype, const void* data, int64_t i) {
  switch (dtype) {
    case DataType::kINT64: return static_cast<const int64_t*>(data)[i];
    case DataType::kINT32: return static_cast<const int32_t*>(data)[i];
    case DataType::kINT16: return static_cast<const int16_t*>(data)[i];
    case DataType::kINT8:
    case DataType::kINT4:
    case DataType::kINT2: return static_cast<const int8_t*>(data)[i];  // sub-byte: unpacked
    case DataType::kUINT8:
    case DataType::kUINT4:
    case DataType::kUINT2: return static_cast<const uint8_t*>(data)[i];
    case DataType::kUINT16: return static_cast<const uint16_t*>(data)[i];
    case DataType::kUINT32: return static_cast<const uint32_t*>(data)[i];
    case DataType::kUINT64: return static_cast<int64_t>(static_cast<const uint64_t*>(data)[i]);
    case DataType::kBOOL: return static_cast<const uint8_t*>(data)[i] != 0;
    case DataType::kFLOAT:
    case DataType::kHALF:
    case DataType::kBF16:
    case DataType::kDOUBLE:
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP8E8M0:
    case DataType::kFP4E2M1: {
      // Truncation toward zero, saturated: NaN and out-of-range values (a float "index" or "shape"
      // in a malformed model) must not be undefined behaviour. NaN gives 0.
      const double d = elementAsDouble(dtype, data, i);
      if (!(d == d)) return 0;
      if (d >= 9223372036854775808.0) return INT64_MAX;
      if (d <= -9223372036854775808.0) return INT64_MIN;
      return static_cast<int64_t>(d);
    }
  }
  return 0;
}

double elementAsDouble(DataType dtype, const void* data, int64_t i) {
  switch (dtype) {
    case DataType::kFLOAT: return static_cast<const float*>(data)[i];
    case DataType::kDOUBLE: return static_cast<const double*>(data)[i];
    case DataType::kHALF: return static_cast<float>(static_cast<const Half*>(data)[i]);
    case DataType::kBF16: return static_cast<float>(static_cast<const BFloat16*>(data)[i]);
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP8E8M0:
    case DataType::kFP4E2M1: return smallFloatToFloat(dtype, static_cast<const uint8_t*>(data)[i]);
    case DataType::kINT4:
    case DataType::kUINT4:
    case DataType::kINT2:
    case DataType::kUINT2:
    case DataType::kINT64:
    case DataType::kINT32:
    case DataType::kINT16:
    case DataType::kINT8:
    case DataType::kUINT8:
    case DataType::kUINT16:
    case DataType::kUINT32:
    case DataType::kUINT64:
    case DataType::kBOOL: return static_cast<double>(elementAsInt64(dtype, data, i));
  }
  return 0;
}

int64_t TensorData::intAt(int64_t i) const { return elementAsInt64(mDtype, data(), i); }
double TensorData::doubleAt(int64_t i) const { return elementAsDouble(mDtype, data(), i); }

std::vector<int64_t> TensorData::toInt64Vector() const {
  std::vector<int64_t> out(static_cast<size_t>(mNumel));
  for (int64_t i = 0; i < mNumel; ++i) out[static_cast<size_t>(i)] = intAt(i);
  return out;
}

}  // namespace kiln::ir
