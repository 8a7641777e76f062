#include "ir/tensor_data.h"

#include <cstdlib>
#include <cstring>
#include <new>

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
    : mDtype(dtype), mDims(std::move(dims)), mNumel(volumeOf(mDims)),
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

int64_t TensorData::intAt(int64_t i) const {
  switch (mDtype) {
    case DataType::kINT64: return as<int64_t>()[i];
    case DataType::kINT32: return as<int32_t>()[i];
    case DataType::kINT16: return as<int16_t>()[i];
    case DataType::kINT8: return as<int8_t>()[i];
    case DataType::kUINT8: return as<uint8_t>()[i];
    case DataType::kUINT16: return as<uint16_t>()[i];
    case DataType::kUINT32: return as<uint32_t>()[i];
    case DataType::kUINT64: return static_cast<int64_t>(as<uint64_t>()[i]);
    case DataType::kBOOL: return as<uint8_t>()[i] != 0;
    case DataType::kFLOAT:
    case DataType::kHALF:
    case DataType::kBF16:
    case DataType::kDOUBLE: return static_cast<int64_t>(doubleAt(i));
  }
  return 0;
}

double TensorData::doubleAt(int64_t i) const {
  switch (mDtype) {
    case DataType::kFLOAT: return as<float>()[i];
    case DataType::kDOUBLE: return as<double>()[i];
    case DataType::kHALF: return static_cast<float>(as<Half>()[i]);
    case DataType::kBF16: return static_cast<float>(as<BFloat16>()[i]);
    case DataType::kINT64:
    case DataType::kINT32:
    case DataType::kINT16:
    case DataType::kINT8:
    case DataType::kUINT8:
    case DataType::kUINT16:
    case DataType::kUINT32:
    case DataType::kUINT64:
    case DataType::kBOOL: return static_cast<double>(intAt(i));
  }
  return 0;
}

std::vector<int64_t> TensorData::toInt64Vector() const {
  std::vector<int64_t> out(static_cast<size_t>(mNumel));
  for (int64_t i = 0; i < mNumel; ++i) out[static_cast<size_t>(i)] = intAt(i);
  return out;
}

}  // namespace kiln::ir
