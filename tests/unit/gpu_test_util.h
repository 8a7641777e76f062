// Helpers shared by the end-to-end GPU tests through the public API (gpu_runtime_test,
// gpu_attention_layout_test, gpu_channels_last_test): an error-collecting logger, the GPU check,
// and one run of an "x" -> "y" float32 context on device copies. CUDA builds only.
#pragma once

#ifdef KILN_HAVE_CUDA

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "runtime/gpu_backend.h"

namespace kiln::testing_gpu {

// Keeps the error messages (kERROR and worse).
class ErrorLog : public Logger {
 public:
  void log(Severity s, const char* msg) noexcept override {
    if (s <= Severity::kERROR) errors += std::string(msg) + "\n";
  }
  std::string errors;
};

inline bool haveGpu() {
  static const bool have = detail::currentGpuDevice().isOk();
  return have;
}

// Runs a context with one float32 input "x" and one float32 output "y" once (executeV2) on device
// copies of `xs`; y is poisoned with NaN first so unwritten elements show. Returns y, or an empty
// vector after recording the failure.
inline std::vector<float> runXY(ExecutionContext& ctx, const std::vector<float>& xs, size_t ny) {
  float *dx = nullptr, *dy = nullptr;
  std::vector<float> ys(ny);
  bool ok =
      cudaMalloc(&dx, xs.size() * sizeof(float)) == cudaSuccess &&
      cudaMalloc(&dy, ny * sizeof(float)) == cudaSuccess &&
      cudaMemcpy(dx, xs.data(), xs.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess &&
      cudaMemset(dy, 0xFF, ny * sizeof(float)) == cudaSuccess &&
      cudaDeviceSynchronize() == cudaSuccess;
  if (!ok) ADD_FAILURE() << "CUDA allocation or copy failed";
  if (ok) {
    ctx.setTensorAddress("x", dx);
    ctx.setTensorAddress("y", dy);
    ok = ctx.executeV2();
    if (!ok) ADD_FAILURE() << ctx.getLastError();
  }
  if (ok) ok = cudaMemcpy(ys.data(), dy, ny * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess;
  cudaFree(dx);
  cudaFree(dy);
  return ok ? ys : std::vector<float>{};
}

}  // namespace kiln::testing_gpu

#endif  // KILN_HAVE_CUDA
