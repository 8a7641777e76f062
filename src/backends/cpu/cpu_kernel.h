// The CPU reference backend's kernel contract.
//
// The CPU backend is the oracle every later backend, fusion and plugin is checked against, so
// kernels favour clarity and exactness over speed (GEMM and convolution use OpenBLAS; large
// elementwise loops may use parallelFor). A kernel receives concrete shapes (inference already
// ran), reads its inputs, and fills every element of its outputs. It must not allocate output
// memory (outputs are pre-allocated); scratch memory may be allocated freely.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/status.h"
#include "ir/graph.h"

namespace kiln::cpu {

struct CpuTensor {
  void* data = nullptr;  // null for absent optional inputs
  DataType dtype = DataType::kFLOAT;
  std::vector<int64_t> dims;

  bool present() const { return data != nullptr; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
  int64_t rank() const { return static_cast<int64_t>(dims.size()); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
  // Element i converted to double / int64 (any dtype); for attribute-like small inputs.
  double doubleAt(int64_t i) const;
  int64_t intAt(int64_t i) const;
};

struct CpuKernelContext {
  const ir::Node& node;
  std::span<const CpuTensor> inputs;
  std::span<CpuTensor> outputs;

  const ir::Attributes& attrs() const { return node.attrs; }
  bool hasInput(size_t i) const { return i < inputs.size() && inputs[i].present(); }
  template <typename... Args>
  Status error(const char* fmt, Args... args) const {
    if constexpr (sizeof...(Args) == 0) {
      return invalidArgument("%s: %s", node.describe().c_str(), fmt);
    } else {
      return invalidArgument("%s: %s", node.describe().c_str(), strFormat(fmt, args...).c_str());
    }
  }
  template <typename... Args>
  Status unsupportedType(DataType t) const {
    return unsupported("%s: the CPU backend does not support data type %s for this op",
                       node.describe().c_str(), dataTypeName(t));
  }
};

using CpuKernelFn = Status (*)(CpuKernelContext&);
using CpuKernelTable = std::array<CpuKernelFn, ir::kNumOps>;

// The table of CPU kernels; null entries are ops without a CPU kernel yet.
const CpuKernelTable& cpuKernels();

// Runs fn(begin, end) over [0, n) split across the CPU backend's threads when n is large.
void parallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                 int64_t minChunk = 16384);

// Per-family registration (explicit, no static initializers).
void registerBinaryKernels(CpuKernelTable& t);
void registerUnaryKernels(CpuKernelTable& t);
void registerLinearKernels(CpuKernelTable& t);
void registerPoolKernels(CpuKernelTable& t);
void registerNormKernels(CpuKernelTable& t);
void registerReduceKernels(CpuKernelTable& t);
void registerShapeOpKernels(CpuKernelTable& t);
void registerIndexingKernels(CpuKernelTable& t);          // kernels_indexing.cpp
void registerTransformerQuantKernels(CpuKernelTable& t);  // kernels_transformer_quant.cpp
void registerRecurrentKernels(CpuKernelTable& t);         // kernels_recurrent.cpp
void registerAttentionExtKernels(CpuKernelTable& t);      // kernels_attention_ext.cpp
void registerSignalKernels(CpuKernelTable& t);            // kernels_signal.cpp
void registerVisionKernels(CpuKernelTable& t);            // kernels_vision.cpp
void registerMiscKernels(CpuKernelTable& t);              // kernels_misc.cpp
void registerDataDepKernels(CpuKernelTable& t);           // kernels_datadep.cpp
void registerConfKernels(CpuKernelTable& t);              // kernels_conf.cpp
void registerFusedMatMulKernels(CpuKernelTable& t);       // kernels_fused_matmul.cpp
void registerFusedConvKernels(CpuKernelTable& t);         // kernels_fused_conv.cpp
void registerFusedAttentionKernels(CpuKernelTable& t);    // kernels_fused_attention.cpp
// Plugin layers (src/plugins/plugin_cpu.cpp): a transient plugin instance per call; the
// runtime's executor keeps one instance per execution context instead.
void registerPluginKernels(CpuKernelTable& t);
// Channels-last layers (kernels_channels_last.cpp; ir/channels_last.h): wraps the kernels of the
// ops that accept channels_last; called after every register*Kernels.
void wrapChannelsLastKernels(CpuKernelTable& t);

// Runs one node on host tensors: convenience for constant folding and tests. Output tensors must
// already have dims/dtype set and memory allocated.
Status runCpuNode(const ir::Node& node, std::span<const CpuTensor> inputs,
                  std::span<CpuTensor> outputs);

}  // namespace kiln::cpu
