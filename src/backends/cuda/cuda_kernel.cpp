#include "backends/cuda/cuda_kernel.h"

#include <cublasLt.h>
#include <cudnn.h>

#include <algorithm>

namespace kiln::cuda {

Status cudaCheck(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::ok();
  // Clear a sticky launch error so the next check reports the next failure, not this one.
  (void)cudaGetLastError();
  return internalError("CUDA error %s (%s) in %s", cudaGetErrorName(err), cudaGetErrorString(err),
                       what);
}

CudaLibs::~CudaLibs() {
  if (mLt) cublasLtDestroy(mLt);
  if (mCudnn) cudnnDestroy(mCudnn);
}

StatusOr<cublasLtContext*> CudaLibs::cublasLt() {
  if (!mLt) {
    cublasStatus_t st = cublasLtCreate(&mLt);
    if (st != CUBLAS_STATUS_SUCCESS)
      return internalError("cublasLtCreate failed: %s (%d)", cublasLtGetStatusString(st),
                           static_cast<int>(st));
  }
  return mLt;
}

StatusOr<cudnnContext*> CudaLibs::cudnn() {
  if (!mCudnn) {
    cudnnStatus_t st = cudnnCreate(&mCudnn);
    if (st != CUDNN_STATUS_SUCCESS)
      return internalError(
          "cudnnCreate failed: %s (%d); is cuDNN 9 installed and on the library path?",
          cudnnGetErrorString(st), static_cast<int>(st));
  }
  return mCudnn;
}

const ir::TensorData* PrepareContext::hostConstant(size_t i) const {
  if (!node.hasInput(i)) return nullptr;
  const ir::Value* v = node.inputs[i];
  return v->isConstant() ? v->constant.get() : nullptr;
}

StatusOr<std::vector<int64_t>> PrepareContext::hostInts(size_t i, const char* what) const {
  if (!node.hasInput(i)) return error("%s (input %zu) is absent", what, i);
  const ir::Value* v = node.inputs[i];
  std::vector<int64_t> out;
  if (v->isConstant()) {
    const ir::TensorData& t = *v->constant;
    out.reserve(static_cast<size_t>(t.numel()));
    for (int64_t k = 0; k < t.numel(); ++k)
      out.push_back(ir::elementAsInt64(t.dtype(), t.data(), k));
    return out;
  }
  const ir::ValueInfo& info = table[v->id];
  if (info.value) {
    bool concrete = true;
    for (const ir::DimExpr& d : *info.value) concrete = concrete && d.isConst();
    if (concrete) {
      for (const ir::DimExpr& d : *info.value) out.push_back(d.constValue());
      return out;
    }
  }
  return unsupported(
      "%s: %s (input %zu, '%s') is computed from tensor data; the CUDA backend needs it "
      "known when input shapes are set (a constant or a computation on shapes). Build "
      "for the CPU (--device=cpu) or make the input a constant",
      node.describe().c_str(), what, i, v->name.c_str());
}

StatusOr<std::vector<double>> PrepareContext::hostDoubles(size_t i, const char* what) const {
  if (!node.hasInput(i)) return error("%s (input %zu) is absent", what, i);
  const ir::Value* v = node.inputs[i];
  if (v->isConstant()) {
    const ir::TensorData& t = *v->constant;
    std::vector<double> out;
    out.reserve(static_cast<size_t>(t.numel()));
    for (int64_t k = 0; k < t.numel(); ++k)
      out.push_back(ir::elementAsDouble(t.dtype(), t.data(), k));
    return out;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ints, hostInts(i, what));
  return std::vector<double>(ints.begin(), ints.end());
}

int gridFor(int64_t n, int threads, const DeviceProps* props) {
  int64_t blocks = (n + threads - 1) / threads;
  // Grid-stride loops: enough blocks to fill every SM several times over, no more.
  int64_t cap = props && props->smCount > 0 ? int64_t{props->smCount} * 32 : int64_t{132} * 32;
  return static_cast<int>(std::clamp<int64_t>(blocks, 1, cap));
}

const CudaKernelTable& cudaKernels() {
  static const CudaKernelTable table = [] {
    CudaKernelTable t{};
    registerElementwiseKernels(t);
    registerLinearKernels(t);
    registerNormKernels(t);
    registerReduceKernels(t);
    registerPoolKernels(t);
    registerShapeOpKernels(t);
    registerIndexingKernels(t);
    registerTransformerQuantKernels(t);
    registerAttentionKernels(t);
    registerFusedMatMulKernels(t);
    registerFusedConvKernels(t);
    return t;
  }();
  return table;
}

}  // namespace kiln::cuda
