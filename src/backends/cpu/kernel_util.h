// Small helpers shared by the CPU kernels: element access in double and printf-friendly integers.
#pragma once

#include <cstdint>
#include <vector>

#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

// int64_t as the long long that printf's %lld takes.
inline long long ll(int64_t v) { return static_cast<long long>(v); }

// Every element of t as a double.
inline std::vector<double> toDoubles(const CpuTensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.doubleAt(i);
  return out;
}

// Writes v into element i of a float or integer tensor (integers truncate toward zero, as a C
// cast); one rounding.
inline void storeDouble(CpuTensor& t, int64_t i, double v) {
  switch (t.dtype) {
    case DataType::kFLOAT: t.as<float>()[i] = static_cast<float>(v); return;
    case DataType::kDOUBLE: t.as<double>()[i] = v; return;
    case DataType::kHALF: t.as<Half>()[i] = Half(static_cast<float>(v)); return;
    case DataType::kBF16: t.as<BFloat16>()[i] = BFloat16(static_cast<float>(v)); return;
    case DataType::kINT8: t.as<int8_t>()[i] = static_cast<int8_t>(v); return;
    case DataType::kUINT8: t.as<uint8_t>()[i] = static_cast<uint8_t>(v); return;
    case DataType::kINT16: t.as<int16_t>()[i] = static_cast<int16_t>(v); return;
    case DataType::kUINT16: t.as<uint16_t>()[i] = static_cast<uint16_t>(v); return;
    case DataType::kINT32: t.as<int32_t>()[i] = static_cast<int32_t>(v); return;
    case DataType::kUINT32: t.as<uint32_t>()[i] = static_cast<uint32_t>(v); return;
    case DataType::kINT64: t.as<int64_t>()[i] = static_cast<int64_t>(v); return;
    case DataType::kUINT64: t.as<uint64_t>()[i] = static_cast<uint64_t>(v); return;
    default: KILN_CHECK_MSG(false, "storeDouble: unsupported output type");
  }
}

}  // namespace kiln::cpu
