// Helpers shared by the cuDNN backend (graph) API users (cudnn_conv.cpp, cudnn_sdpa.cpp): an owning
// descriptor handle, error text with cudnnGetLastErrorString, attribute setters and the
// status-checking macros. Includes <cudnn.h>: only for .cpp files, never for .cu files or headers
// that .cu files include.
#pragma once

#include <cudnn.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kiln::cuda {

// Owns one cudnnBackendDescriptor_t.
class BackendDesc {
 public:
  BackendDesc() = default;
  ~BackendDesc() { reset(); }
  BackendDesc(BackendDesc&& o) noexcept : mDesc(o.mDesc) { o.mDesc = nullptr; }
  BackendDesc& operator=(BackendDesc&& o) noexcept {
    if (this != &o) {
      reset();
      mDesc = o.mDesc;
      o.mDesc = nullptr;
    }
    return *this;
  }
  BackendDesc(const BackendDesc&) = delete;
  BackendDesc& operator=(const BackendDesc&) = delete;

  cudnnStatus_t create(cudnnBackendDescriptorType_t type) {
    reset();
    return cudnnBackendCreateDescriptor(type, &mDesc);
  }
  void reset() {
    if (mDesc) cudnnBackendDestroyDescriptor(mDesc);
    mDesc = nullptr;
  }
  cudnnBackendDescriptor_t get() const { return mDesc; }
  explicit operator bool() const { return mDesc != nullptr; }

 private:
  cudnnBackendDescriptor_t mDesc = nullptr;
};

// "what failed: STATUS (code): <cudnnGetLastErrorString>".
inline std::string cudnnFailure(cudnnStatus_t st, const char* what) {
  std::array<char, 1024> msg{};
  cudnnGetLastErrorString(msg.data(), msg.size());
  return strFormat("%s failed: %s (%d)%s%s", what, cudnnGetErrorString(st), static_cast<int>(st),
                   msg[0] ? ": " : "", msg.data());
}

// Evaluates a cuDNN call inside a function returning Status; `who` (a std::string naming the
// layer) must be in scope. A failure returns fail("who: <cudnnFailure>"), fail being a Status
// factory such as internalError or unsupported; `text` is the call as written.
#define KILN_CUDNN_TRY_AS(fail, expr, text)                                  \
  do {                                                                       \
    const cudnnStatus_t _kiln_cudnn_st = (expr);                             \
    if (_kiln_cudnn_st != CUDNN_STATUS_SUCCESS)                              \
      return fail("%s: %s", who.c_str(),                                     \
                  ::kiln::cuda::cudnnFailure(_kiln_cudnn_st, text).c_str()); \
  } while (0)

// A failure is an error of the layer (kInternal).
#define KILN_CUDNN_TRY(expr) KILN_CUDNN_TRY_AS(internalError, expr, #expr)
// A failure means "no cuDNN tactic for this layer" (kUnsupported with the reason).
#define KILN_CUDNN_TRY_UNSUPPORTED(expr) KILN_CUDNN_TRY_AS(unsupported, expr, #expr)

inline cudnnStatus_t setInts(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                             const std::vector<int64_t>& v) {
  return cudnnBackendSetAttribute(d, name, CUDNN_TYPE_INT64, static_cast<int64_t>(v.size()),
                                  v.data());
}
inline cudnnStatus_t setDesc(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                             const BackendDesc& child) {
  cudnnBackendDescriptor_t c = child.get();
  return cudnnBackendSetAttribute(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c);
}

// The largest power of two (at most 256) that divides the address; 256 for null.
inline uint32_t pointerAlignment(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  if (v == 0) return 256;
  return static_cast<uint32_t>(std::min<uintptr_t>(v & (~v + 1), 256));
}

// The Status factory a failing cuDNN call maps to (internalError or unsupported with "%s: %s").
using CudnnFail = Status (*)(const char*, const char*, const char*);
inline constexpr CudnnFail kCudnnInternal = &internalError<const char*, const char*>;
inline constexpr CudnnFail kCudnnUnsupported = &unsupported<const char*, const char*>;

// Finalizes a tensor descriptor: unique id, data type, dims, strides, byte alignment, and the
// virtual / by-value flags when set. cuDNN failures return fail("who: ...").
Status makeTensorDesc(BackendDesc& d, int64_t uid, cudnnDataType_t type,
                      const std::vector<int64_t>& dims, const std::vector<int64_t>& strides,
                      int64_t alignment, bool isVirtual, bool byValue, const std::string& who,
                      CudnnFail fail);

// Finalizes an operation graph of `ops` on `handle`. A graph cuDNN rejects is kUnsupported
// ("who: cuDNN rejected the <what> graph: ..."); other cuDNN failures return fail("who: ...").
Status finalizeOperationGraph(BackendDesc& graph, const std::vector<cudnnBackendDescriptor_t>& ops,
                              cudnnHandle_t handle, const std::string& who, CudnnFail fail,
                              const char* what);

// The heuristic modes tried in order: mode A, then FALLBACK.
inline constexpr std::array<std::pair<cudnnBackendHeurMode_t, const char*>, 2> kHeuristicModes = {
    std::pair{CUDNN_HEUR_MODE_A, "heuristic A"}, std::pair{CUDNN_HEUR_MODE_FALLBACK, "fallback"}};

// Appends one reason to a "; "-separated list (why no plan was found).
inline void appendReason(std::string& reasons, const std::string& reason) {
  if (!reasons.empty()) reasons += "; ";
  reasons += reason;
}

// The engine configs the heuristics (in `mode`) propose for a finalized operation graph, best
// first: cfgs owns them, raw holds their handles. When the heuristics give none, returns ok with
// both empty and `why` set ("<heuristic finalize failure>" or "no engine configs"). Other cuDNN
// failures return fail("who: ...").
Status heuristicConfigs(const BackendDesc& graph, cudnnBackendHeurMode_t mode,
                        const std::string& who, CudnnFail fail, std::vector<BackendDesc>& cfgs,
                        std::vector<cudnnBackendDescriptor_t>& raw, std::string& why);

// The engine of an engine config (engine owns its descriptor) and its global index (stable for
// one cuDNN version).
Status engineOf(cudnnBackendDescriptor_t config, const std::string& who, CudnnFail fail,
                BackendDesc& engine, int64_t& index);

// Finalizes the execution plan of an engine config on `handle` and reads its workspace size.
// When the plan does not finalize, returns ok with `why` set (the failure) and plan unusable.
// Other cuDNN failures return fail("who: ...").
Status finalizePlan(cudnnHandle_t handle, cudnnBackendDescriptor_t config, const std::string& who,
                    CudnnFail fail, BackendDesc& plan, int64_t& workspace, std::string& why);

}  // namespace kiln::cuda
