#include "backends/cpu/cpu_kernel.h"

#include <algorithm>
#include <thread>

#include "common/half.h"

namespace kiln::cpu {

double CpuTensor::doubleAt(int64_t i) const { return ir::elementAsDouble(dtype, data, i); }
int64_t CpuTensor::intAt(int64_t i) const { return ir::elementAsInt64(dtype, data, i); }

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
    registerIndexingKernels(t);
    registerTransformerQuantKernels(t);
    registerRecurrentKernels(t);
    registerAttentionExtKernels(t);
    registerSignalKernels(t);
    registerVisionKernels(t);
    registerMiscKernels(t);
    registerDataDepKernels(t);
    registerConfKernels(t);
    registerFusedMatMulKernels(t);
    registerFusedConvKernels(t);
    registerFusedAttentionKernels(t);
    registerPluginKernels(t);
    wrapChannelsLastKernels(t);  // after every op's own kernel (ir/channels_last.h)
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
