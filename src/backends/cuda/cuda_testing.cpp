// runGraphOnGpuForTest (runtime/gpu_backend.h): the GPU half of the op tests' CPU-vs-GPU check.
#include <cstring>

#include "backends/cuda/cuda_kernel.h"
#include "runtime/engine_impl.h"
#include "runtime/gpu_backend.h"

namespace kiln::detail {

namespace {
// Frees device allocations on every exit path.
struct DeviceAllocs {
  std::vector<void*> ptrs;
  ~DeviceAllocs() {
    for (void* p : ptrs) (void)cudaFree(p);
  }
  StatusOr<void*> alloc(size_t bytes) {
    void* p = nullptr;
    KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, std::max<size_t>(bytes, 256)));
    ptrs.push_back(p);
    return p;
  }
};
}  // namespace

StatusOr<std::vector<std::shared_ptr<ir::TensorData>>> runGraphOnGpuForTest(
    const ir::Graph& g,
    const std::map<std::string, std::shared_ptr<const ir::TensorData>>& inputs) {
  plan::PlanContents plan;
  plan.networkName = "test";
  plan.graph = g.clone();
  KILN_ASSIGN_OR_RETURN(plan.device, currentGpuDevice());
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<EngineImpl> engine,
                        EngineImpl::create(std::move(plan), nullptr));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executor> ex, makeGpuExecutor(*engine));
  std::map<std::string, std::vector<int64_t>> dims;
  HostValues hostValues;  // shape tensor inputs: their values, on the host
  for (const IOTensor& t : engine->io) {
    if (t.mode != TensorIOMode::kINPUT) continue;
    auto it = inputs.find(t.name);
    if (it == inputs.end()) return invalidArgument("no data for input '%s'", t.name.c_str());
    dims[t.name] = it->second->dims();
    if (t.value->isShapeTensor) hostValues[t.name] = it->second;
  }
  KILN_RETURN_IF_ERROR(ex->prepare(dims, hostValues));
  DeviceAllocs allocs;
  std::map<std::string, void*> addresses;
  std::vector<std::shared_ptr<ir::TensorData>> outs;
  std::vector<void*> outPtrs;
  for (const IOTensor& t : engine->io) {
    if (t.mode == TensorIOMode::kINPUT) {
      const ir::TensorData& in = *inputs.at(t.name);
      KILN_ASSIGN_OR_RETURN(void* p, allocs.alloc(in.bytes()));
      if (in.bytes())
        KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(p, in.data(), in.bytes(), cudaMemcpyHostToDevice));
      addresses[t.name] = p;
    } else {
      std::vector<int64_t> d = ex->dimsOf(t.value);
      auto out = std::make_shared<ir::TensorData>(t.value->dtype, d);
      KILN_ASSIGN_OR_RETURN(void* p, allocs.alloc(out->bytes()));
      // Poison: 0xFF bytes are NaN in every float format and -1 / max in integers.
      KILN_CUDA_RETURN_IF_ERROR(cudaMemset(p, 0xFF, std::max<size_t>(out->bytes(), 1)));
      // cudaMemset is asynchronous: finish it before the run so it cannot land afterwards.
      KILN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
      addresses[t.name] = p;
      outs.push_back(out);
      outPtrs.push_back(p);
    }
  }
  KILN_RETURN_IF_ERROR(ex->execute(addresses, nullptr, /*sync=*/true));
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i]->bytes())
      KILN_CUDA_RETURN_IF_ERROR(
          cudaMemcpy(outs[i]->data(), outPtrs[i], outs[i]->bytes(), cudaMemcpyDeviceToHost));
  return outs;
}

}  // namespace kiln::detail
