// The CUDA backend's kernel contract.
//
// Every op the GPU runs has a CudaKernel: one instance per node per execution context (so it may
// keep per-shape state: a cuBLASLt algorithm, a cuDNN plan, a launch configuration). The executor
// calls, in order:
//   prepare(PrepareContext)  when the context's input shapes change (never inside enqueue): read
//                            shapes and dtypes, host values of small/shape-like inputs, choose the
//                            launch configuration, create library descriptors, and report the
//                            workspace needed;
//   enqueue(LaunchContext)   per run: launch work on ctx.stream only. It must not allocate device
//                            or host memory, synchronize, or call anything that does (no
//                            cudaMalloc, no cudaMemcpy without Async, no cudaStreamSynchronize).
// Kernels see concrete shapes (inference already ran) and plain row-major contiguous tensors.
// Outputs are pre-allocated by the executor's memory plan; every element must be written.
//
// Host and device code stay apart: .cu files hold __global__ kernels and small launch functions;
// the CudaKernel classes may live in .cu or .cpp files. No <<<>>> outside src/backends/cuda/.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"

// Declared in cublasLt.h / cudnn.h; kept opaque here so kernels that need neither do not pull the
// headers in.
struct cublasLtContext;
struct cudnnContext;

namespace kiln::cuda {

// Checks a CUDA runtime call; returns an internal error naming the call and the CUDA error.
Status cudaCheck(cudaError_t err, const char* what);
#define KILN_CUDA_RETURN_IF_ERROR(expr) KILN_RETURN_IF_ERROR(::kiln::cuda::cudaCheck((expr), #expr))
// After a <<<>>> launch: reports launch-configuration errors (cudaGetLastError).
#define KILN_CUDA_CHECK_LAUNCH(what) \
  KILN_RETURN_IF_ERROR(::kiln::cuda::cudaCheck(cudaGetLastError(), (what)))

struct CudaTensor {
  void* data = nullptr;  // device pointer; null for absent optional inputs (and empty tensors)
  DataType dtype = DataType::kFLOAT;
  std::vector<int64_t> dims;

  bool present() const {
    return data != nullptr;
  }  // the executor gives empty tensors a non-null pointer
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
  int64_t rank() const { return static_cast<int64_t>(dims.size()); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dataTypeSize(dtype); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

// Facts about the GPU the context runs on.
struct DeviceProps {
  int device = 0;
  std::string name;
  int smMajor = 0, smMinor = 0;
  int smCount = 0;
  size_t sharedMemPerBlockOptin = 0;
  size_t totalGlobalMem = 0;
};

// Library handles owned by one execution context (cuBLASLt and cuDNN handles are not safe to
// use from two threads at once). Created lazily by the executor; kernels call the getters.
class CudaLibs {
 public:
  explicit CudaLibs(const DeviceProps& props) : mProps(props) {}
  ~CudaLibs();
  CudaLibs(const CudaLibs&) = delete;
  CudaLibs& operator=(const CudaLibs&) = delete;
  const DeviceProps& props() const { return mProps; }
  StatusOr<cublasLtContext*> cublasLt();
  StatusOr<cudnnContext*> cudnn();

 private:
  DeviceProps mProps;
  cublasLtContext* mLt = nullptr;
  cudnnContext* mCudnn = nullptr;
};

// What a kernel sees at prepare time.
struct PrepareContext {
  const ir::Node& node;
  const ir::ShapeTable& table;          // concrete shapes; `value` holds small int tensors' values
  std::span<const CudaTensor> inputs;   // dims/dtype; data is set for constants (weights on the
                                        // device, uploaded once per engine), null otherwise
  std::span<const CudaTensor> outputs;  // dims/dtype; data null
  CudaLibs& libs;
  bool allowTF32 = false;  // BuilderFlag::kTF32 (off by default)
  // Tactic timing (the builder's tuning run, docs/cuda_backend.md "Tactics"): when set, kernels
  // with alternatives prepare all of them (tacticCount() > 1) for the builder to time; otherwise
  // they prepare the one the plan recorded (tacticFromPlan()) or their default.
  bool tuning = false;

  const ir::Attributes& attrs() const { return node.attrs; }
  bool hasInput(size_t i) const { return node.hasInput(i); }
  // The tactic id the builder chose and stored in the plan (the node's "tactic" attribute), or "".
  std::string tacticFromPlan() const { return node.attrs.getString(kTacticAttr, ""); }
  static constexpr const char* kTacticAttr = "tactic";
  // Host copy of input i when it is a constant (weights, shape-like inputs), else null.
  const ir::TensorData* hostConstant(size_t i) const;
  // Element values of input i as integers when known without reading device memory (a constant
  // or a shape computation that inference resolved); fails naming `what` otherwise: the CUDA
  // backend never reads tensor data back to the host to decide a launch.
  StatusOr<std::vector<int64_t>> hostInts(size_t i, const char* what) const;
  // Same for floating-point constant inputs (Resize scales, Clip bounds given as constants).
  StatusOr<std::vector<double>> hostDoubles(size_t i, const char* what) const;

  template <typename... Args>
  Status error(const char* fmt, Args... args) const {
    if constexpr (sizeof...(Args) == 0) {
      return invalidArgument("%s: %s", node.describe().c_str(), fmt);
    } else {
      return invalidArgument("%s: %s", node.describe().c_str(), strFormat(fmt, args...).c_str());
    }
  }
  Status unsupportedHere(const std::string& what) const {
    return unsupported("%s: the CUDA backend does not support %s", node.describe().c_str(),
                       what.c_str());
  }
};

// What a kernel sees at enqueue time. Pointers may change between runs (the user's I/O
// addresses); shapes do not (a shape change calls prepare first).
struct LaunchContext {
  const ir::Node& node;
  std::span<const CudaTensor> inputs;
  std::span<CudaTensor> outputs;
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;  // at least the bytes workspaceSize() asked for, 256-byte aligned
  size_t workspaceBytes = 0;
  CudaLibs& libs;

  bool hasInput(size_t i) const { return i < inputs.size() && inputs[i].present(); }
  const ir::Attributes& attrs() const { return node.attrs; }
};

class CudaKernel {
 public:
  virtual ~CudaKernel() = default;
  virtual Status prepare(const PrepareContext& ctx) {
    (void)ctx;
    return Status::ok();
  }
  // Device workspace the kernel needs for the shapes of the last prepare().
  virtual size_t workspaceSize() const { return 0; }
  virtual Status enqueue(const LaunchContext& ctx) = 0;
  // The implementation chosen (for the build log and `kiln inspect`), e.g. "cublasLt algo 3".
  virtual std::string tactic() const { return "kiln"; }

  // Tactics: alternative implementations of the layer for the shapes of the last prepare(), which
  // the builder times on the GPU (src/backends/cuda/cuda_executor.cpp, tuneTactics). tacticId(i)
  // is stable across processes for the same GPU and library versions ("cudnn:engine=12"): the
  // builder stores the fastest in the plan (PrepareContext::tacticFromPlan) and in the timing
  // cache under timingKey(), which names the problem (op, types, shapes; "" = never cached).
  // selectTactic only switches between prepared alternatives: no allocation, no GPU work, and
  // workspaceSize() already covers every alternative.
  virtual int tacticCount() const { return 1; }
  virtual std::string tacticId(int i) const {
    (void)i;
    return "";
  }
  virtual Status selectTactic(int i) {
    return i == 0 ? Status::ok() : invalidArgument("tactic %d of a kernel with one tactic", i);
  }
  virtual std::string timingKey() const { return ""; }
};

// Creates the kernel for `node`, or fails with kUnsupported naming what is not supported
// (dtype, attribute). Called once per node per execution context (and at build time to check
// that the plan can run on the GPU).
using CudaKernelFactory = StatusOr<std::unique_ptr<CudaKernel>> (*)(const ir::Node& node);
using CudaKernelTable = std::array<CudaKernelFactory, ir::kNumOps>;

// The table; null entries are ops without a CUDA kernel yet.
const CudaKernelTable& cudaKernels();

// A stateless kernel: one function does the launch (shapes from ctx.inputs/outputs).
using LaunchFn = Status (*)(const LaunchContext& ctx);
template <LaunchFn Fn>
class SimpleKernel final : public CudaKernel {
 public:
  Status enqueue(const LaunchContext& ctx) override { return Fn(ctx); }
};
template <LaunchFn Fn>
StatusOr<std::unique_ptr<CudaKernel>> makeSimple(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new SimpleKernel<Fn>());
}

// Per-family registration (explicit, no static initializers). Each lives in its family's file.
void registerElementwiseKernels(
    CudaKernelTable& t);  // kernels_elementwise.cu: Binary, Unary, Cast, Where...
void registerLinearKernels(
    CudaKernelTable& t);  // kernels_linear.cpp: MatMul/Gemm (cuBLASLt), Conv (cuDNN)
void registerNormKernels(
    CudaKernelTable& t);  // kernels_norm.cu: Softmax, LayerNorm, BatchNorm, ...
void registerReduceKernels(CudaKernelTable& t);  // kernels_reduce.cu
void registerPoolKernels(CudaKernelTable& t);    // kernels_pool.cu
void registerShapeOpKernels(
    CudaKernelTable& t);  // kernels_shape_op.cu: Transpose, Concat, Slice, Pad...
void registerIndexingKernels(
    CudaKernelTable& t);  // kernels_indexing.cu: Gather*, Scatter*, OneHot, TopK, Resize...
void registerTransformerQuantKernels(
    CudaKernelTable& t);  // kernels_transformer_quant.cu: Rotary, Q/DQ, integer MatMul/Conv
void registerAttentionKernels(
    CudaKernelTable& t);  // kernels_attention.cu: Attention, FusedAttention
void registerFusedMatMulKernels(
    CudaKernelTable& t);                            // kernels_fused_matmul.cpp (cuBLASLt epilogues)
void registerFusedConvKernels(CudaKernelTable& t);  // kernels_fused_conv.cpp (cuDNN + epilogue)

// Numbers of elements per grid: a grid-stride launch sized to the GPU.
int gridFor(int64_t n, int threads, const DeviceProps* props = nullptr);

}  // namespace kiln::cuda
