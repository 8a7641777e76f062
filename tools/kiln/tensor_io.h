// Host tensors of the CLI: aligned buffers, files, and the JSON form of outputs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kiln/kiln.h"

namespace kiln::cli {

// A host buffer aligned to 64 bytes (kernels may use aligned vector loads); never null, even
// for zero bytes, so every tensor has an address to bind.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes = 0);
  void* data() { return mData.get(); }
  const void* data() const { return mData.get(); }
  size_t size() const { return mSize; }

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> mData;
  size_t mSize = 0;
};

struct HostTensor {
  std::string name;
  DataType type = DataType::kFLOAT;
  Dims dims;
  AlignedBuffer buffer;

  int64_t volume() const { return dims.volume() < 0 ? 0 : dims.volume(); }
};

// Host memory for an output whose shape depends on the data (NonZero, ...): sized by the
// context during each run, its dims updated from notifyShape.
class HostOutputAllocator : public OutputAllocator {
 public:
  explicit HostOutputAllocator(HostTensor* t) : mTensor(t) {}
  void* reallocateOutput(const char*, void*, uint64_t size, uint64_t) noexcept override {
    if (mTensor->buffer.size() < size || !mTensor->buffer.data()) {
      try {
        mTensor->buffer = AlignedBuffer(std::max<uint64_t>(size, 1));
      } catch (...) {
        return nullptr;
      }
    }
    return mTensor->buffer.data();
  }
  void notifyShape(const char*, const Dims& dims) noexcept override { mTensor->dims = dims; }

 private:
  HostTensor* mTensor;
};

// "1x1000"; "" for a scalar.
std::string dimsString(const Dims& dims);

// An error naming the file unless it exists and is a regular file.
Status checkReadableFile(const std::string& path);
StatusOr<std::vector<uint8_t>> readFile(const std::string& path);
Status writeFile(const std::string& path, const void* data, size_t size);
inline Status writeFile(const std::string& path, const std::string& text) {
  return writeFile(path, text.data(), text.size());
}
// True when the file starts with the plan magic "KILNPLAN" (docs/plan_format.md).
bool looksLikePlan(const std::string& path);

// trtexec's --exportOutput format:
//   [ { "name" : "y", "dimensions" : "1x1000", "values" : [ 0.1, ... ] } ]
std::string outputsToJson(const std::vector<HostTensor>& outputs);

}  // namespace kiln::cli
