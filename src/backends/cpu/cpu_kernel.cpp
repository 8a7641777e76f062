#include "backends/cpu/cpu_kernel.h"

#include <algorithm>
#include <thread>

#include "common/half.h"

namespace kiln::cpu {

double CpuTensor::doubleAt(int64_t i) const {
  switch (dtype) {
    case DataType::kFLOAT: return as<float>()[i];
    case DataType::kDOUBLE: return as<double>()[i];
    case DataType::kHALF: return static_cast<float>(as<Half>()[i]);
    case DataType::kBF16: return static_cast<float>(as<BFloat16>()[i]);
    case DataType::kINT64: return static_cast<double>(as<int64_t>()[i]);
    case DataType::kINT32: return as<int32_t>()[i];
    case DataType::kINT16: return as<int16_t>()[i];
    case DataType::kINT8: return as<int8_t>()[i];
    case DataType::kUINT8: return as<uint8_t>()[i];
    case DataType::kUINT16: return as<uint16_t>()[i];
    case DataType::kUINT32: return as<uint32_t>()[i];
    case DataType::kUINT64: return static_cast<double>(as<uint64_t>()[i]);
    case DataType::kBOOL: return as<uint8_t>()[i] != 0;
  }
  return 0;
}

int64_t CpuTensor::intAt(int64_t i) const {
  switch (dtype) {
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
    case DataType::kDOUBLE:
    case DataType::kHALF:
    case DataType::kBF16: return static_cast<int64_t>(doubleAt(i));
  }
  return 0;
}

const CpuKernelTable& cpuKernels() {
  static const CpuKernelTable table = [] {
    CpuKernelTable t{};
    registerBinaryKernels(t);
    registerUnaryKernels(t);
    registerLinearKernels(t);
    registerPoolKernels(t);
    registerNormKernels(t);
    registerReduceKernels(t);
    registerShapeOpKernels(t);
    return t;
  }();
  return table;
}

void parallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t minChunk) {
  static const int64_t kThreads =
      std::max<int64_t>(1, std::min<int64_t>(16, std::thread::hardware_concurrency()));
  int64_t chunks = std::min<int64_t>(kThreads, (n + minChunk - 1) / std::max<int64_t>(minChunk, 1));
  if (chunks <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  std::vector<std::thread> threads;
  int64_t per = (n + chunks - 1) / chunks;
  for (int64_t c = 1; c < chunks; ++c) {
    int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) threads.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(0, std::min(n, per));
  for (auto& t : threads) t.join();
}

Status runCpuNode(const ir::Node& node, std::span<const CpuTensor> inputs,
                  std::span<CpuTensor> outputs) {
  CpuKernelFn fn = cpuKernels()[static_cast<size_t>(node.op)];
  if (!fn)
    return unsupported("%s: the CPU backend has no kernel for op %s", node.describe().c_str(),
                       ir::opName(node.op));
  CpuKernelContext ctx{node, inputs, outputs};
  return fn(ctx);
}

}  // namespace kiln::cpu
