// Kiln public types: data types, dimensions, weights and the logger interface.
//
// Everything in `include/kiln/` is the user-facing API. The flow mirrors TensorRT's:
//
//   kiln::Logger& log = kiln::defaultLogger();
//   auto builder = kiln::Builder::create(log);
//   auto network = builder->createNetwork();
//   kiln::Tensor* x = network->addInput("x", kiln::DataType::kFLOAT, kiln::Dims{-1, 3, 224, 224});
//   ... add layers, markOutput ...
//   auto config = builder->createConfig();
//   std::vector<uint8_t> plan = builder->buildSerializedNetwork(*network, *config);
//   auto runtime = kiln::Runtime::create(log);
//   auto engine = runtime->deserializeEngine(plan.data(), plan.size());
//   auto context = engine->createExecutionContext();
//   context->setInputShape("x", {1, 3, 224, 224});
//   context->setTensorAddress("x", xData); context->setTensorAddress("y", yData);
//   context->executeV2();
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace kiln {

// Library version. Plans record it; a plan from another version is refused at load time.
constexpr int kVersionMajor = 0;
constexpr int kVersionMinor = 1;
constexpr int kVersionPatch = 0;
const char* versionString();

// Element types. The numeric values are stable: plans store them.
enum class DataType : int32_t {
  kFLOAT = 0,   // float32
  kHALF = 1,    // float16
  kINT8 = 2,
  kINT32 = 3,
  kBOOL = 4,    // one byte, 0 or 1
  kUINT8 = 5,
  kBF16 = 7,    // bfloat16
  kINT64 = 8,
  kDOUBLE = 9,
  kINT16 = 10,
  kUINT16 = 11,
  kUINT32 = 12,
  kUINT64 = 13,
};
constexpr int kNumDataTypes = 13;

// Bytes per element (inline, so plugin libraries can use it without linking Kiln).
inline size_t dataTypeSize(DataType t) {
  switch (t) {
    case DataType::kINT8:
    case DataType::kBOOL:
    case DataType::kUINT8: return 1;
    case DataType::kHALF:
    case DataType::kBF16:
    case DataType::kINT16:
    case DataType::kUINT16: return 2;
    case DataType::kFLOAT:
    case DataType::kINT32:
    case DataType::kUINT32: return 4;
    case DataType::kINT64:
    case DataType::kDOUBLE:
    case DataType::kUINT64: return 8;
  }
  return 0;
}
// "float32", "float16", "int64", ...
const char* dataTypeName(DataType t);
// Parses the names produced by dataTypeName (and "fp32", "fp16", "bf16", "half", "float").
bool parseDataType(const std::string& name, DataType* out);

// A shape. -1 marks a dynamic dimension (known only when the user sets input shapes).
struct Dims {
  static constexpr int kMaxDims = 8;
  int32_t nbDims = 0;
  int64_t d[kMaxDims] = {};

  Dims() = default;
  Dims(std::initializer_list<int64_t> list);
  int64_t volume() const;  // product of dims; -1 if any is dynamic
  bool operator==(const Dims& o) const;
  bool operator!=(const Dims& o) const { return !(*this == o); }
  std::string toString() const;  // "1x3x224x224", "-1x3x224x224"
};

// A view of weights owned by the caller (copied by the network when a layer is added).
struct Weights {
  DataType type = DataType::kFLOAT;
  const void* values = nullptr;
  int64_t count = 0;
};

enum class Severity : int32_t {
  kINTERNAL_ERROR = 0,
  kERROR = 1,
  kWARNING = 2,
  kINFO = 3,
  kVERBOSE = 4,
};

// Receives every message Kiln prints. Implement it to route messages elsewhere.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(Severity severity, const char* msg) noexcept = 0;
};

// Prints to stderr messages at or above `minSeverity` (kWARNING by default).
class StderrLogger : public Logger {
 public:
  explicit StderrLogger(Severity minSeverity = Severity::kWARNING) : mMin(minSeverity) {}
  void log(Severity severity, const char* msg) noexcept override;
  void setMinSeverity(Severity s) { mMin = s; }
  Severity minSeverity() const { return mMin; }

 private:
  Severity mMin;
};

// Process-wide default logger (a StderrLogger at kWARNING).
StderrLogger& defaultLogger();

enum class TensorIOMode : int32_t { kNONE = 0, kINPUT = 1, kOUTPUT = 2 };

// Where an engine runs.
enum class DeviceType : int32_t { kCPU = 0, kGPU = 1 };

}  // namespace kiln
