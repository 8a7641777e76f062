// cuDNN fused attention (scaled dot-product "flash" attention) through the backend (graph) API:
// the tactic "cudnn:sdpa" of the Attention / FusedAttention kernel (kernels_attention.cu).
//
// The graph is the composite one that cudnn-frontend's SDPA node lowers to on cuDNN < 9.21
// (../shared/notes/gpu-libraries.md 1.11): the fused-attention engines recognise that op
// pattern, so the sequence, operand order and virtual tensor types follow the frontend's:
//   S = MATMUL(Q, K^T)                 K^T: K's descriptor with dims 2/3 and their strides swapped
//   S = MUL(S, scale)                  scale: [1,1,1,1] float, by value (host pointer)
//   S = ADD(S, bias)                   optional: [B|1, Hq|1, Sq|1, Skv], the additive mask
//   causal (optional, upper-left):     row = GEN_INDEX(S, axis 2), col = GEN_INDEX(S, axis 3),
//                                      keep = CMP_GE(row, col), S = BINARY_SELECT(S, -inf, keep)
//   softmax: M = REDUCE_MAX(S), E = EXP(SUB(S, M)), Z = REDUCE_ADD(E),
//            stats = ADD(M, LOG(Z)) (virtual, unused), P = DIV(E, Z) in Q's type
//   O = MATMUL(P, V)
// Intermediates are virtual float (row/col int32, keep boolean, P the input type). Every shape
// is fixed at build time (one graph per prepared shape). The cuDNN types stay out of this header
// (pimpl) so .cu files can include it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda {

// One attention problem: logical Q [B, Hq, Sq, D], K and V [B, Hkv, Skv, D], O [B, Hq, Sq, D];
// element (b, h, s, d) of each at b*stride[0] + h*stride[1] + s*stride[2] + d.
struct SdpaProblem {
  DataType dtype = DataType::kHALF;  // Q, K, V and O: float16 or bfloat16
  int64_t batch = 0, hq = 0, hkv = 0, sq = 0, skv = 0, d = 0;
  int64_t q[3] = {0, 0, 0}, k[3] = {0, 0, 0}, v[3] = {0, 0, 0}, o[3] = {0, 0, 0};
  float scale = 1.f;
  bool causal = false;  // key j visible to query i iff j <= i
  // Additive bias (float32 or Q's type), packed [biasDims[0], biasDims[1], biasDims[2], Skv]
  // with each of the first three either 1 (broadcast) or B, Hq, Sq.
  bool hasBias = false;
  DataType biasType = DataType::kFLOAT;
  int64_t biasDims[3] = {1, 1, 1};
};

// Why cuDNN SDPA cannot run on this device / library, or "" when it can (cuDNN >= 9.3 except
// 9.10.0 and 9.10.1, which the frontend blocks for known bugs; compute capability >= 8.0).
std::string cudnnSdpaUnavailableReason(const DeviceProps& props);
// cudnnGetVersion() of the loaded library (e.g. 91900), for tests and logs.
size_t cudnnLibraryVersion();

class CudnnSdpa {
 public:
  // BYTE_ALIGNMENT promised for Q, K, V, O and the bias; calls with less aligned pointers must not
  // use the plan.
  static constexpr uint32_t kAlignment = 16;
  // Engine configs tried (heuristic mode A, then FALLBACK) before giving up.
  static constexpr int kMaxAttempts = 4;

  CudnnSdpa();
  ~CudnnSdpa();
  CudnnSdpa(const CudnnSdpa&) = delete;
  CudnnSdpa& operator=(const CudnnSdpa&) = delete;

  // Builds the graph, queries the heuristics and finalizes the first plan that builds. Every
  // failure (graph pattern not recognised, no engine, unsupported shape) is kUnsupported with the
  // reason (cudnnGetLastErrorString included): the caller simply has no cuDNN tactic then.
  // Host work, possibly slow (runtime-compiled engines): prepare time only.
  Status build(cudnnContext* handle, const SdpaProblem& p, const std::string& who);

  size_t workspaceSize() const;
  std::string describe() const;  // "cuDNN fused attention (engine 8, ...)"
  static bool aligned(const void* p);

  // Runs the plan on `stream` (binds the handle to it). bias is ignored without hasBias.
  Status run(cudnnContext* handle, const void* q, const void* k, const void* v, const void* bias,
             void* o, void* workspace, size_t workspaceBytes, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> mImpl;
};

}  // namespace kiln::cuda
