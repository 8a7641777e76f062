// The bridge between the backend-independent runtime/builder and the CUDA backend. Implemented
// in src/backends/cuda/cuda_bridge.cpp when Kiln is built with CUDA, and by
// src/runtime/gpu_stub.cpp (which reports that the build has no CUDA backend) otherwise.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/graph.h"
#include "plan/plan.h"
#include "runtime/executor.h"

namespace kiln::detail {

struct EngineImpl;

// True when this build contains the CUDA backend.
bool gpuBackendBuilt();
// The GPU this process would run on (device 0): name, compute capability, library versions.
// Fails with a clear message when the build has no CUDA backend or no usable GPU exists.
StatusOr<plan::TargetDevice> currentGpuDevice();
// Build time: checks that every node of `g` can run on the GPU (a CUDA kernel exists and accepts
// the node, or the node's outputs are shape computations resolved on the host).
Status checkGpuLowering(const ir::Graph& g);
// Engine creation: uploads the weights once; the result is shared by all contexts.
StatusOr<std::shared_ptr<void>> createGpuEngineResources(const EngineImpl& engine);
StatusOr<std::unique_ptr<Executor>> makeGpuExecutor(const EngineImpl& engine);

class TimingCache;
struct TacticTimingReport {
  std::map<std::string, std::string> chosen;  // node name -> fastest tactic id
  int layersWithChoices = 0;                  // layers with more than one tactic
  int timed = 0;                              // of them, timed now
  int fromCache = 0;                          // of them, taken from the timing cache
  double seconds = 0;
};
// Build time (tactic timing, BuilderConfig optimization level >= 3): loads `plan` on the GPU,
// prepares every layer's alternatives at `dims` (and shape tensor `values`), runs the network once
// on zeroed inputs and times each layer's tactics (CUDA events, warm-up, median); `cache`
// (optional) supplies known results and receives new ones.
StatusOr<TacticTimingReport> timeGpuTactics(const plan::PlanContents& plan,
                                            const std::map<std::string, std::vector<int64_t>>& dims,
                                            const HostValues& values, TimingCache* cache,
                                            Logger* logger);

}  // namespace kiln::detail

namespace kiln::detail {

// Tests: runs graph `g` on the GPU through the real engine and executor (weights uploaded,
// memory planned, kernels prepared and enqueued, outputs poisoned with 0xFF bytes first) on
// host inputs keyed by input name, and returns the outputs in graph order. kUnsupported when a
// node has no CUDA kernel; every other failure is an error.
StatusOr<std::vector<std::shared_ptr<ir::TensorData>>> runGraphOnGpuForTest(
    const ir::Graph& g, const std::map<std::string, std::shared_ptr<const ir::TensorData>>& inputs);

}  // namespace kiln::detail
