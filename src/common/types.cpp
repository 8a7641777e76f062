#include <cstdio>
#include <sstream>

#include "kiln/types.h"

namespace kiln {

const char* versionString() { return "0.1.0"; }

const char* dataTypeName(DataType t) {
  switch (t) {
    case DataType::kFLOAT: return "float32";
    case DataType::kHALF: return "float16";
    case DataType::kINT8: return "int8";
    case DataType::kINT32: return "int32";
    case DataType::kBOOL: return "bool";
    case DataType::kUINT8: return "uint8";
    case DataType::kBF16: return "bfloat16";
    case DataType::kINT64: return "int64";
    case DataType::kDOUBLE: return "float64";
    case DataType::kINT16: return "int16";
    case DataType::kUINT16: return "uint16";
    case DataType::kUINT32: return "uint32";
    case DataType::kUINT64: return "uint64";
    case DataType::kFP8E4M3FN: return "float8e4m3fn";
    case DataType::kFP8E4M3FNUZ: return "float8e4m3fnuz";
    case DataType::kFP8E5M2: return "float8e5m2";
    case DataType::kFP8E5M2FNUZ: return "float8e5m2fnuz";
    case DataType::kFP8E8M0: return "float8e8m0";
    case DataType::kINT4: return "int4";
    case DataType::kUINT4: return "uint4";
    case DataType::kINT2: return "int2";
    case DataType::kUINT2: return "uint2";
    case DataType::kFP4E2M1: return "float4e2m1";
  }
  return "unknown";
}

bool parseDataType(const std::string& name, DataType* out) {
  static const struct {
    const char* name;
    DataType t;
  } kAliases[] = {{"float", DataType::kFLOAT}, {"fp32", DataType::kFLOAT},
                  {"fp16", DataType::kHALF},   {"half", DataType::kHALF},
                  {"bf16", DataType::kBF16},   {"double", DataType::kDOUBLE}};
  for (int i = 0; i <= kNumDataTypes; ++i) {
    auto t = static_cast<DataType>(i);
    if (i == 6) continue;
    if (name == dataTypeName(t)) {
      *out = t;
      return true;
    }
  }
  for (const auto& a : kAliases) {
    if (name == a.name) {
      *out = a.t;
      return true;
    }
  }
  return false;
}

Dims::Dims(std::initializer_list<int64_t> list) {
  nbDims = 0;
  for (int64_t v : list) {
    if (nbDims < kMaxDims) d[nbDims++] = v;
  }
}

int64_t Dims::volume() const {
  int64_t v = 1;
  for (int i = 0; i < nbDims; ++i) {
    if (d[i] < 0) return -1;
    v *= d[i];
  }
  return v;
}

bool Dims::operator==(const Dims& o) const {
  if (nbDims != o.nbDims) return false;
  for (int i = 0; i < nbDims; ++i)
    if (d[i] != o.d[i]) return false;
  return true;
}

std::string Dims::toString() const {
  std::ostringstream os;
  for (int i = 0; i < nbDims; ++i) {
    if (i) os << 'x';
    os << d[i];
  }
  if (nbDims == 0) os << "(scalar)";
  return os.str();
}

void StderrLogger::log(Severity severity, const char* msg) noexcept {
  if (static_cast<int>(severity) > static_cast<int>(mMin)) return;
  const char* tag = "";
  switch (severity) {
    case Severity::kINTERNAL_ERROR: tag = "[kiln] INTERNAL ERROR: "; break;
    case Severity::kERROR: tag = "[kiln] ERROR: "; break;
    case Severity::kWARNING: tag = "[kiln] WARNING: "; break;
    case Severity::kINFO: tag = "[kiln] INFO: "; break;
    case Severity::kVERBOSE: tag = "[kiln] VERBOSE: "; break;
  }
  std::fprintf(stderr, "%s%s\n", tag, msg);
}

StderrLogger& defaultLogger() {
  static StderrLogger logger;
  return logger;
}

}  // namespace kiln
