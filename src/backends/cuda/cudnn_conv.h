// Convolutions on cuDNN's backend (graph) API, plus the conv-side CUDA helpers of the Linear
// family (launchers defined in kernels_linear_util.cu).
//
// Conv runs as OPERATION_CONVOLUTION_FORWARD (X -> Y). ConvTranspose is the adjoint of a
// convolution from its output to its input, so it runs as OPERATION_CONVOLUTION_BACKWARD_DATA with
// the ConvTranspose input as dY, its output as dX, and its weight [C_in, C_out/group, k...] as the
// filter (cuDNN's filter of the forward conv dX -> dY has exactly that shape).
//
// Tensors are plain NCHW (NCDHW) packed, or NHWC with a KRSC filter for channels-last 2-D
// convolutions (ConvProblem::channelsLast); 1-D convolutions run as 2-D with H = 1.
// The cuDNN types stay out of this header (pimpl) so .cu files can include it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda {

// One convolution. The "image" side is the convolution's input (Conv's X, ConvTranspose's Y), the
// "column" side its output (Conv's Y, ConvTranspose's X); per spatial axis
//   image position = column position * stride - padBegin + kernel offset * dilation.
struct ConvProblem {
  bool transposed = false;
  DataType dtype = DataType::kFLOAT;
  int64_t batch = 0;
  int64_t imgChannels = 0, colChannels = 0, group = 1;
  std::vector<int64_t> imgSizes, colSizes, kernel, strides, dilations, padBegin;
  // Channels-last (2-D forward convolutions only; ir/channels_last.h): the image and column
  // tensors are NHWC and the filter KRSC [col channels, kh, kw, img channels / group], packed.
  // The logical dims stay N, C, H, W (cuDNN takes the layout from the strides).
  bool channelsLast = false;
};

// Which engine plans CudnnConv::build finalizes (tactic timing, docs/cuda_backend.md).
struct CudnnTacticRequest {
  // A tactic id from the plan ("cudnn:engine=<global index>"): only that engine is finalized
  // when the heuristics still offer it; otherwise the default choice (a plan built with another
  // cuDNN version is refused at load, so this is rare).
  std::string preferred;
  // The builder's tuning run: finalize up to kMaxCandidates engines to time them.
  bool allCandidates = false;
};

class CudnnConv {
 public:
  // Engine configs tried per heuristic mode: by default the first that finalizes wins; the
  // builder's tuning run keeps up to this many and times them.
  static constexpr int kMaxCandidates = 6;
  // BYTE_ALIGNMENT promised for X, W and Y; calls with less aligned pointers must not use the plan.
  static constexpr uint32_t kAlignment = 16;

  CudnnConv();
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  // Builds the operation graph, queries heuristics (mode A, then FALLBACK), filters engines whose
  // numerics the CPU reference would not match (TF32/down-conversion for float32 unless allowTF32,
  // FFT/Winograd for float32, reduced-precision reduction, non-determinism) and finalizes plans.
  // kUnsupported (with the reasons) when no plan finalizes. Host work: prepare time only.
  Status build(cudnnContext* handle, const ConvProblem& p, bool allowTF32, const std::string& who,
               const CudnnTacticRequest& request = {});

  // The largest workspace of the finalized plans.
  size_t workspaceSize() const;
  std::string tactic() const;
  // Tactics (CudaKernel's interface): the finalized plans, in heuristic order.
  int tacticCount() const;
  std::string tacticId(int i) const;
  Status selectTactic(int i);
  // The problem: direction, type, shapes, geometry, TF32 (the timing cache key).
  std::string timingKey() const;

  // Runs the plan on `stream` (binds the handle to it). x is the column side for transposed
  // problems (the ConvTranspose input), y the image side; see ConvProblem.
  Status run(cudnnContext* handle, const void* x, const void* w, void* y, void* workspace,
             size_t workspaceBytes, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> mImpl;
};

// ---------------------------------------------------------------------------------------------
// Helpers in kernels_linear_util.cu

// y[n, c, s] += bias[c] for y [outer, channels, inner] (computed in float, double for double).
Status launchChannelBiasAdd(DataType t, void* y, const void* bias, int64_t outer, int64_t channels,
                            int64_t inner, cudaStream_t stream, const DeviceProps& props);

// Direct convolution (one thread per output element), the fallback where cuDNN has no plan or
// the pointers are not aligned for it: Conv (transposed = false: X is the image side) and
// ConvTranspose (transposed = true: X is the column side, Y the image side), bias fused.
// Accumulates in float (double for double).
constexpr int kDirectConvMaxSpatial = 4;
struct DirectConvParams {
  bool transposed = false;
  // Conv only, 2-D: X [N, H, W, C], W [M, kh, kw, C/group], Y [N, OH, OW, M] (the sizes below
  // stay the logical ones).
  bool channelsLast = false;
  int32_t numSpatial = 0;
  int64_t batch = 0, inChannels = 0, outChannels = 0, group = 1;  // X's and Y's channels
  int64_t inSizes[kDirectConvMaxSpatial] = {};                    // X spatial
  int64_t outSizes[kDirectConvMaxSpatial] = {};                   // Y spatial
  int64_t kernel[kDirectConvMaxSpatial] = {};
  int64_t strides[kDirectConvMaxSpatial] = {};
  int64_t dilations[kDirectConvMaxSpatial] = {};
  int64_t padBegin[kDirectConvMaxSpatial] = {};
};
Status launchDirectConv(DataType t, const DirectConvParams& p, const void* x, const void* w,
                        const void* bias, void* y, cudaStream_t stream, const DeviceProps& props);

}  // namespace kiln::cuda
