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
  kFLOAT = 0,  // float32
  kHALF = 1,   // float16
  kINT8 = 2,
  kINT32 = 3,
  kBOOL = 4,  // one byte, 0 or 1
  kUINT8 = 5,
  kBF16 = 7,  // bfloat16
  kINT64 = 8,
  kDOUBLE = 9,
  kINT16 = 10,
  kUINT16 = 11,
  kUINT32 = 12,
  kUINT64 = 13,
  // Low-precision types (ONNX FLOAT8*, FLOAT4E2M1, INT4/UINT4, INT2/UINT2). TensorRT calls
  // e4m3fn kFP8 and has kINT4 and kFP4 (e2m1).
  kFP8E4M3FN = 14,    // float8: 4 exponent bits, 3 mantissa; no inf, NaN = S.1111.111, max 448
  kFP8E4M3FNUZ = 15,  // float8 e4m3, no inf, no -0, one NaN = 0x80, max 240
  kFP8E5M2 = 16,      // float8: 5 exponent bits, 2 mantissa (IEEE-like: inf, NaN), max 57344
  kFP8E5M2FNUZ = 17,  // float8 e5m2, no inf, no -0, one NaN = 0x80, max 57344
  kFP8E8M0 = 18,      // unsigned power of two 2^(code-127), 0xFF = NaN (MX scale type)
  kINT4 = 19,
  kUINT4 = 20,
  kINT2 = 21,
  kUINT2 = 22,
  kFP4E2M1 = 23,  // float4: 2 exponent bits, 1 mantissa; values 0, 0.5, 1, 1.5, 2, 3, 4, 6
};
// The largest DataType value (values 0..kNumDataTypes except 6 are valid).
constexpr int kNumDataTypes = 23;

// Storage of the low-precision types inside Kiln (tensors, weights, plans, engine I/O): one
// element per byte, UNPACKED. fp8/e8m0 are their 8-bit codes; INT4/INT2 are sign-extended int8
// values (-8..7, -2..1); UINT4/UINT2 are uint8 values (0..15, 0..3); FLOAT4E2M1 is its 4-bit
// code in the low nibble (high nibble 0). ONNX packs the sub-byte types (two 4-bit values per
// byte, first element in the low nibble; four 2-bit values per byte, first in the lowest bits):
// the ONNX importer unpacks them on read.

// The case labels of the low-precision types, for switches over DataType that treat them alike
// (`KILN_CASE_LOW_PRECISION_TYPES: return false;`); usable in device code too.
#define KILN_CASE_LOW_PRECISION_TYPES                                                       \
  case ::kiln::DataType::kFP8E4M3FN:                                                        \
  case ::kiln::DataType::kFP8E4M3FNUZ:                                                      \
  case ::kiln::DataType::kFP8E5M2:                                                          \
  case ::kiln::DataType::kFP8E5M2FNUZ:                                                      \
  case ::kiln::DataType::kFP8E8M0:                                                          \
  case ::kiln::DataType::kINT4:                                                             \
  case ::kiln::DataType::kUINT4:                                                            \
  case ::kiln::DataType::kINT2:                                                             \
  case ::kiln::DataType::kUINT2:                                                            \
  case ::kiln::DataType::kFP4E2M1

// Bytes per element (inline, so plugin libraries can use it without linking Kiln).
inline size_t dataTypeSize(DataType t) {
  switch (t) {
    case DataType::kINT8:
    case DataType::kBOOL:
    case DataType::kUINT8:
    KILN_CASE_LOW_PRECISION_TYPES: return 1;  // sub-byte types are stored unpacked (see above)
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
