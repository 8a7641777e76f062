// Shared pieces of the CUDA transformer/quantization kernels (kernels_transformer_quant.cu) and
// the attention kernels (kernels_attention.cu): run-time-typed element access in double,
// warp/block reductions and the tiled CUDA-core GEMM engine used by the double-precision
// Attention path and the integer MatMul kernels. Device code: include from .cu files only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/dtype_load.cuh"

namespace kiln::cuda::tq {

inline constexpr int kThreads = 256;

inline std::string dimsStr(const std::vector<int64_t>& d) { return ir::dimsToString(d); }

inline bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
         t == DataType::kBF16;
}

inline int gridCapped(int64_t n, const PrepareContext& ctx) {
  return gridFor(n, kThreads, &ctx.libs.props());
}

// double -> float storage type with one rounding (float16/bfloat16 through float, as the CPU).
template <typename T>
__device__ __forceinline__ T fromDouble(double v);
template <>
__device__ __forceinline__ float fromDouble<float>(double v) {
  return __double2float_rn(v);
}
template <>
__device__ __forceinline__ double fromDouble<double>(double v) {
  return v;
}
template <>
__device__ __forceinline__ __half fromDouble<__half>(double v) {
  return __float2half_rn(__double2float_rn(v));
}
template <>
__device__ __forceinline__ __nv_bfloat16 fromDouble<__nv_bfloat16>(double v) {
  return __float2bfloat16_rn(__double2float_rn(v));
}

__device__ __forceinline__ double negInf() {
  return __longlong_as_double(static_cast<long long>(0xfff0000000000000ULL));
}

// Element i of a tensor whose dtype is known only at run time (small parameter tensors, masks,
// Attention operands): any float, integer or bool type.
__device__ __forceinline__ double loadAny(const void* p, DataType t, int64_t i) {
  return loadElementAs<double>(p, t, i);
}

// Stores v (one rounding) into element i of a float tensor of run-time dtype t.
__device__ __forceinline__ void storeAny(void* p, DataType t, int64_t i, double v) {
  switch (t) {
    case DataType::kFLOAT: static_cast<float*>(p)[i] = fromDouble<float>(v); return;
    case DataType::kDOUBLE: static_cast<double*>(p)[i] = v; return;
    case DataType::kHALF: static_cast<__half*>(p)[i] = fromDouble<__half>(v); return;
    case DataType::kBF16: static_cast<__nv_bfloat16*>(p)[i] = fromDouble<__nv_bfloat16>(v); return;
    default: return;
  }
}

template <typename T, typename Op>
__device__ __forceinline__ T warpAllReduce(T v, Op op) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Every thread of the block gets op over all threads' v (blockDim.x a multiple of 32).
template <typename T, typename Op>
__device__ __forceinline__ T blockAllReduce(T v, Op op, T identity) {
  __shared__ T buf[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nWarps = blockDim.x >> 5;
  v = warpAllReduce(v, op);
  __syncthreads();  // buf may still be read by a previous call
  if (lane == 0) buf[warp] = v;
  __syncthreads();
  T r = lane < nWarps ? buf[lane] : identity;
  return warpAllReduce(r, op);
}

// ================================================================================================
// Tiled GEMM engine: C[i, j] = sum_k A(i, k) * B(k, j) over a 64x64 tile per block (256 threads,
// 4x4 outputs each), k in steps of 16 through shared memory, accumulated in k order. E is the
// shared-memory element type, Acc the accumulator; out-of-range taps load as 0 on both sides.
// kBRowK: B(k, j) is contiguous along k (K^T), else along j (V, integer B).
// ================================================================================================

inline constexpr int kTile = 64, kTileK = 16;

template <typename E, typename Acc, bool kBRowK, typename LA, typename LB, typename Epi>
__device__ __forceinline__ void gemmTile(int64_t m0, int64_t n0, int64_t M, int64_t N, int64_t K,
                                         LA la, LB lb, Epi epi) {
  __shared__ E as[kTileK][kTile];
  __shared__ E bs[kTileK][kTile];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  Acc acc[4][4];
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) acc[r][c] = Acc(0);
  for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const int idx = tid + l * kThreads;
      {
        const int r = idx / kTileK, kk = idx % kTileK;  // consecutive threads walk along k
        const int64_t i = m0 + r, k = k0 + kk;
        as[kk][r] = i < M && k < K ? la(i, k) : E(0);
      }
      if constexpr (kBRowK) {
        const int c = idx / kTileK, kk = idx % kTileK;
        const int64_t j = n0 + c, k = k0 + kk;
        bs[kk][c] = j < N && k < K ? lb(k, j) : E(0);
      } else {
        const int kk = idx / kTile, c = idx % kTile;  // consecutive threads walk along j
        const int64_t j = n0 + c, k = k0 + kk;
        bs[kk][c] = j < N && k < K ? lb(k, j) : E(0);
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      E a[4], b[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) a[r] = as[kk][ty + 16 * r];
#pragma unroll
      for (int c = 0; c < 4; ++c) b[c] = bs[kk][tx + 16 * c];
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[r][c] += static_cast<Acc>(a[r] * b[c]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int64_t i = m0 + ty + 16 * r, j = n0 + tx + 16 * c;
      if (i < M && j < N) epi(i, j, acc[r][c]);
    }
}

}  // namespace kiln::cuda::tq
