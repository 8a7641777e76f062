#include "backends/cuda/cudnn_backend_util.h"

namespace kiln::cuda {

// The caller's choice of Status for a failing call (`fail` in scope).
#define KILN_CUDNN_TRY_FAIL(expr) KILN_CUDNN_TRY_AS(fail, expr, #expr)

Status makeTensorDesc(BackendDesc& d, int64_t uid, cudnnDataType_t type,
                      const std::vector<int64_t>& dims, const std::vector<int64_t>& strides,
                      int64_t alignment, bool isVirtual, bool byValue, const std::string& who,
                      CudnnFail fail) {
  KILN_CUDNN_TRY_FAIL(d.create(CUDNN_BACKEND_TENSOR_DESCRIPTOR));
  KILN_CUDNN_TRY_FAIL(
      cudnnBackendSetAttribute(d.get(), CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(d.get(), CUDNN_ATTR_TENSOR_DATA_TYPE,
                                               CUDNN_TYPE_DATA_TYPE, 1, &type));
  KILN_CUDNN_TRY_FAIL(setInts(d.get(), CUDNN_ATTR_TENSOR_DIMENSIONS, dims));
  KILN_CUDNN_TRY_FAIL(setInts(d.get(), CUDNN_ATTR_TENSOR_STRIDES, strides));
  KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(d.get(), CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT,
                                               CUDNN_TYPE_INT64, 1, &alignment));
  const bool yes = true;
  if (isVirtual)
    KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(d.get(), CUDNN_ATTR_TENSOR_IS_VIRTUAL,
                                                 CUDNN_TYPE_BOOLEAN, 1, &yes));
  if (byValue)
    KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(d.get(), CUDNN_ATTR_TENSOR_IS_BY_VALUE,
                                                 CUDNN_TYPE_BOOLEAN, 1, &yes));
  KILN_CUDNN_TRY_FAIL(cudnnBackendFinalize(d.get()));
  return Status::ok();
}

Status finalizeOperationGraph(BackendDesc& graph, const std::vector<cudnnBackendDescriptor_t>& ops,
                              cudnnHandle_t handle, const std::string& who, CudnnFail fail,
                              const char* what) {
  KILN_CUDNN_TRY_FAIL(graph.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
  KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(graph.get(), CUDNN_ATTR_OPERATIONGRAPH_OPS,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                               static_cast<int64_t>(ops.size()), ops.data()));
  // Deprecated in the 9.19 header but required by older 9.x libraries (the device's 9.14).
  KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(graph.get(), CUDNN_ATTR_OPERATIONGRAPH_HANDLE,
                                               CUDNN_TYPE_HANDLE, 1, &handle));
  const cudnnStatus_t st = cudnnBackendFinalize(graph.get());
  if (st != CUDNN_STATUS_SUCCESS)
    return unsupported("%s: cuDNN rejected the %s graph: %s", who.c_str(), what,
                       cudnnFailure(st, "cudnnBackendFinalize(operation graph)").c_str());
  return Status::ok();
}

Status heuristicConfigs(const BackendDesc& graph, cudnnBackendHeurMode_t mode,
                        const std::string& who, CudnnFail fail, std::vector<BackendDesc>& cfgs,
                        std::vector<cudnnBackendDescriptor_t>& raw, std::string& why) {
  cfgs.clear();
  raw.clear();
  why.clear();
  BackendDesc heur;
  KILN_CUDNN_TRY_FAIL(heur.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR));
  KILN_CUDNN_TRY_FAIL(setDesc(heur.get(), CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph));
  KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_MODE,
                                               CUDNN_TYPE_HEUR_MODE, 1, &mode));
  cudnnStatus_t st = cudnnBackendFinalize(heur.get());
  if (st != CUDNN_STATUS_SUCCESS) {
    why = cudnnFailure(st, "heuristic finalize");
    return Status::ok();
  }
  int64_t count = 0;
  st = cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr);
  if (st != CUDNN_STATUS_SUCCESS || count <= 0) {
    why = "no engine configs";
    return Status::ok();
  }
  // GetAttribute fills descriptors that must already exist.
  cfgs.resize(static_cast<size_t>(count));
  raw.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < cfgs.size(); ++i) {
    KILN_CUDNN_TRY_FAIL(cfgs[i].create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw[i] = cfgs[i].get();
  }
  int64_t got = 0;
  KILN_CUDNN_TRY_FAIL(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got,
                                               raw.data()));
  // Only the first `got` configs were filled.
  const size_t n = static_cast<size_t>(std::clamp<int64_t>(got, 0, count));
  cfgs.resize(n);
  raw.resize(n);
  return Status::ok();
}

Status engineOf(cudnnBackendDescriptor_t config, const std::string& who, CudnnFail fail,
                BackendDesc& engine, int64_t& index) {
  KILN_CUDNN_TRY_FAIL(engine.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
  cudnnBackendDescriptor_t engineRaw = engine.get();
  int64_t n = 0;
  KILN_CUDNN_TRY_FAIL(cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &engineRaw));
  KILN_CUDNN_TRY_FAIL(cudnnBackendGetAttribute(engineRaw, CUDNN_ATTR_ENGINE_GLOBAL_INDEX,
                                               CUDNN_TYPE_INT64, 1, &n, &index));
  return Status::ok();
}

Status finalizePlan(cudnnHandle_t handle, cudnnBackendDescriptor_t config, const std::string& who,
                    CudnnFail fail, BackendDesc& plan, int64_t& workspace, std::string& why) {
  why.clear();
  KILN_CUDNN_TRY_FAIL(plan.create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR));
  KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
                                               CUDNN_TYPE_HANDLE, 1, &handle));
  KILN_CUDNN_TRY_FAIL(cudnnBackendSetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &config));
  const cudnnStatus_t st = cudnnBackendFinalize(plan.get());
  if (st != CUDNN_STATUS_SUCCESS) {
    why = cudnnFailure(st, "plan finalize");
    return Status::ok();
  }
  int64_t n = 0;
  KILN_CUDNN_TRY_FAIL(cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                               CUDNN_TYPE_INT64, 1, &n, &workspace));
  return Status::ok();
}

#undef KILN_CUDNN_TRY_FAIL

}  // namespace kiln::cuda
