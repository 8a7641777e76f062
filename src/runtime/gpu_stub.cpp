// Stand-ins for the CUDA backend in builds without a CUDA toolkit (see gpu_backend.h).
#ifndef KILN_HAVE_CUDA

#include "runtime/gpu_backend.h"

namespace kiln::detail {

namespace {
Status noCuda() {
  return unsupported(
      "this build of Kiln has no CUDA backend (it was built without a CUDA toolkit); "
      "use --device=cpu, or rebuild Kiln with the CUDA toolkit installed "
      "(cmake --preset gpu)");
}
}  // namespace

bool gpuBackendBuilt() { return false; }
StatusOr<plan::TargetDevice> currentGpuDevice() { return noCuda(); }
Status checkGpuLowering(const ir::Graph&) { return noCuda(); }
StatusOr<std::shared_ptr<void>> createGpuEngineResources(const EngineImpl&) { return noCuda(); }
StatusOr<std::unique_ptr<Executor>> makeGpuExecutor(const EngineImpl&) { return noCuda(); }
StatusOr<TacticTimingReport> timeGpuTactics(const plan::PlanContents&,
                                            const std::map<std::string, std::vector<int64_t>>&,
                                            const HostValues&, TimingCache*, Logger*) {
  return noCuda();
}
StatusOr<std::vector<std::shared_ptr<ir::TensorData>>> runGraphOnGpuForTest(
    const ir::Graph&, const std::map<std::string, std::shared_ptr<const ir::TensorData>>&) {
  return noCuda();
}

}  // namespace kiln::detail

#endif  // KILN_HAVE_CUDA
