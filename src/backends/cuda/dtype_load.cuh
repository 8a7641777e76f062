// Run-time-typed element loads for CUDA device code (attention.h, index_util.cuh,
// kernels_transformer_quant.cu). Device code: include from .cu files only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda {

// Element i of a tensor whose dtype t is known only at run time (any float, integer or bool
// type), static_cast to R (float16/bfloat16 through float); R{} for any other dtype.
template <typename R>
__device__ __forceinline__ R loadElementAs(const void* p, DataType t, int64_t i) {
  switch (t) {
    case DataType::kFLOAT: return static_cast<R>(static_cast<const float*>(p)[i]);
    case DataType::kDOUBLE: return static_cast<R>(static_cast<const double*>(p)[i]);
    case DataType::kHALF: return static_cast<R>(__half2float(static_cast<const __half*>(p)[i]));
    case DataType::kBF16:
      return static_cast<R>(__bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]));
    case DataType::kINT8: return static_cast<R>(static_cast<const int8_t*>(p)[i]);
    case DataType::kUINT8:
    case DataType::kBOOL: return static_cast<R>(static_cast<const uint8_t*>(p)[i]);
    case DataType::kINT16: return static_cast<R>(static_cast<const int16_t*>(p)[i]);
    case DataType::kUINT16: return static_cast<R>(static_cast<const uint16_t*>(p)[i]);
    case DataType::kINT32: return static_cast<R>(static_cast<const int32_t*>(p)[i]);
    case DataType::kUINT32: return static_cast<R>(static_cast<const uint32_t*>(p)[i]);
    case DataType::kINT64: return static_cast<R>(static_cast<const int64_t*>(p)[i]);
    case DataType::kUINT64: return static_cast<R>(static_cast<const uint64_t*>(p)[i]);
    default: return R{};
  }
}

}  // namespace kiln::cuda
