// Epilogue kernels of the fused layers (declarations and contract: fused_epilogue.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/fused_epilogue.h"
#include "backends/cuda/reduce_util.cuh"

namespace kiln::cuda {

namespace {

constexpr int kEpilogueThreads = 256;

// ---------------------------------------------------------------------------------------------
// FusedMatMul: bias over the last dim, then the activation.

// Storage <-> compute value (reduce_util.cuh): float for float32/float16/bfloat16, double for
// float64; one rounding at the store.
using ru::load;
using ru::store;

struct EpiAct {
  ir::FusedActivation kind;
  float alpha, beta;
};

template <typename T>
__device__ __forceinline__ T epiApply(T v, const T* bias, int64_t j, const EpiAct& act) {
  using C = typename ru::Num<T>::M;
  C x = load(v);
  if (bias != nullptr) x += load(bias[j]);
  return store<T>(ir::applyFusedActivation<C>(act.kind, static_cast<C>(act.alpha),
                                              static_cast<C>(act.beta), x));
}

// One element per step, grid-stride over the rows * n elements.
template <typename T>
__global__ void matmulEpilogueKernel(T* __restrict__ y, const T* __restrict__ bias, int64_t total,
                                     int64_t n, EpiAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    y[i] = epiApply<T>(y[i], bias, i % n, act);
  }
}

// Two 16-bit elements per step (n even, y and bias 4-byte aligned): pair p holds elements 2p and
// 2p + 1 of the same row, columns j and j + 1 with j = 2p % n even.
template <typename T, typename T2>
__global__ void matmulEpilogueKernel2(T2* __restrict__ y2, const T* __restrict__ bias,
                                      int64_t pairs, int64_t n, EpiAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs;
       p += stride) {
    const int64_t j = (2 * p) % n;
    T2 v = y2[p];
    v.x = epiApply<T>(v.x, bias, j, act);
    v.y = epiApply<T>(v.y, bias, j + 1, act);
    y2[p] = v;
  }
}

bool aligned4(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 3u) == 0; }

template <typename T, typename T2>
Status launchTyped(void* y, const void* bias, int64_t rows, int64_t n, const EpiAct& act,
                   cudaStream_t stream, const DeviceProps& props) {
  const int64_t total = rows * n;
  T* yt = static_cast<T*>(y);
  const T* bt = static_cast<const T*>(bias);
  if constexpr (sizeof(T) == 2) {
    if (n % 2 == 0 && aligned4(y) && (bias == nullptr || aligned4(bias))) {
      const int64_t pairs = total / 2;
      matmulEpilogueKernel2<T, T2>
          <<<gridFor(pairs, kEpilogueThreads, &props), kEpilogueThreads, 0, stream>>>(
              reinterpret_cast<T2*>(yt), bt, pairs, n, act);
      KILN_CUDA_CHECK_LAUNCH("matmulEpilogueKernel2");
      return Status::ok();
    }
  }
  matmulEpilogueKernel<T>
      <<<gridFor(total, kEpilogueThreads, &props), kEpilogueThreads, 0, stream>>>(yt, bt, total, n,
                                                                                  act);
  KILN_CUDA_CHECK_LAUNCH("matmulEpilogueKernel");
  return Status::ok();
}

}  // namespace

Status launchMatMulEpilogue(DataType t, void* y, const void* bias, int64_t rows, int64_t n,
                            const ir::FusedActivationParams& act, cudaStream_t stream,
                            const DeviceProps& props) {
  if (rows <= 0 || n <= 0) return Status::ok();
  if (y == nullptr) return internalError("launchMatMulEpilogue: null output");
  const EpiAct a{act.kind, act.alpha, act.beta};
  switch (t) {
    case DataType::kFLOAT: return launchTyped<float, float2>(y, bias, rows, n, a, stream, props);
    case DataType::kDOUBLE: return launchTyped<double, double2>(y, bias, rows, n, a, stream, props);
    case DataType::kHALF: return launchTyped<__half, __half2>(y, bias, rows, n, a, stream, props);
    case DataType::kBF16:
      return launchTyped<__nv_bfloat16, __nv_bfloat162>(y, bias, rows, n, a, stream, props);
    default: break;
  }
  return unsupported("launchMatMulEpilogue: data type %s", dataTypeName(t));
}

// ---------------------------------------------------------------------------------------------
// FusedConv: per-channel bias, residual, then the activation (NCHW: channel (i / inner) % C).

namespace {

template <typename T>
__device__ __forceinline__ T convEpiValue(T v, const T* bias, int64_t c, bool hasZ, T zv,
                                          const EpiAct& act) {
  using C = typename ru::Num<T>::M;
  C x = load(v);
  if (bias != nullptr) x += load(bias[c]);
  if (hasZ) x += load(zv);
  return store<T>(ir::applyFusedActivation<C>(act.kind, static_cast<C>(act.alpha),
                                              static_cast<C>(act.beta), x));
}

// One element per step, grid-stride over outer * channels * inner elements.
template <typename T>
__global__ void convEpilogueKernel(T* __restrict__ y, const T* __restrict__ bias,
                                   const T* __restrict__ z, int64_t total, int64_t channels,
                                   int64_t inner, EpiAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const int64_t c = (i / inner) % channels;
    const bool hasZ = z != nullptr;
    y[i] = convEpiValue<T>(y[i], bias, c, hasZ, hasZ ? z[i] : y[i], act);
  }
}

// Two 16-bit elements per step (inner even, y and z 4-byte aligned): pair p holds elements 2p and
// 2p + 1, which lie in the same channel because every channel's run of inner elements starts at
// an even index.
template <typename T, typename T2>
__global__ void convEpilogueKernel2(T2* __restrict__ y2, const T* __restrict__ bias,
                                    const T2* __restrict__ z2, int64_t pairs, int64_t channels,
                                    int64_t inner, EpiAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs;
       p += stride) {
    const int64_t c = ((2 * p) / inner) % channels;
    T2 v = y2[p];
    if (z2 != nullptr) {
      const T2 zz = z2[p];
      v.x = convEpiValue<T>(v.x, bias, c, true, zz.x, act);
      v.y = convEpiValue<T>(v.y, bias, c, true, zz.y, act);
    } else {
      v.x = convEpiValue<T>(v.x, bias, c, false, v.x, act);
      v.y = convEpiValue<T>(v.y, bias, c, false, v.y, act);
    }
    y2[p] = v;
  }
}

// Channels-last (inner == 1: the channel is the last dim), 16-bit types, channels % 8 == 0, y, z
// and bias 16-byte aligned: one 16-byte vector of eight elements per step; vector v holds the
// channels 8 * (v % channelVecs) .. + 7 of one pixel, so the bias is vector v % channelVecs.
template <typename T>
__global__ void convEpilogueKernelNhwc8(uint4* __restrict__ y8, const uint4* __restrict__ bias8,
                                        const uint4* __restrict__ z8, int64_t vecs,
                                        int64_t channelVecs, EpiAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < vecs;
       v += stride) {
    uint4 yv = y8[v];
    uint4 bv{0u, 0u, 0u, 0u}, zv{0u, 0u, 0u, 0u};
    if (bias8 != nullptr) bv = bias8[v % channelVecs];
    if (z8 != nullptr) zv = z8[v];
    T* ye = reinterpret_cast<T*>(&yv);
    const T* be = bias8 != nullptr ? reinterpret_cast<const T*>(&bv) : nullptr;
    const T* ze = reinterpret_cast<const T*>(&zv);
    const bool hasZ = z8 != nullptr;
#pragma unroll
    for (int k = 0; k < 8; ++k) ye[k] = convEpiValue<T>(ye[k], be, k, hasZ, ze[k], act);
    y8[v] = yv;
  }
}

bool convAligned4(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 3u) == 0; }
bool convAligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <typename T, typename T2>
Status launchConvTyped(void* y, const void* bias, const void* z, int64_t outer, int64_t channels,
                       int64_t inner, const EpiAct& act, cudaStream_t stream,
                       const DeviceProps& props) {
  const int64_t total = outer * channels * inner;
  T* yt = static_cast<T*>(y);
  const T* bt = static_cast<const T*>(bias);
  const T* zt = static_cast<const T*>(z);
  if constexpr (sizeof(T) == 2) {
    if (inner == 1 && channels % 8 == 0 && convAligned16(y) && (z == nullptr || convAligned16(z)) &&
        (bias == nullptr || convAligned16(bias))) {
      const int64_t vecs = total / 8;
      convEpilogueKernelNhwc8<T>
          <<<gridFor(vecs, kEpilogueThreads, &props), kEpilogueThreads, 0, stream>>>(
              static_cast<uint4*>(y), static_cast<const uint4*>(bias), static_cast<const uint4*>(z),
              vecs, channels / 8, act);
      KILN_CUDA_CHECK_LAUNCH("convEpilogueKernelNhwc8");
      return Status::ok();
    }
    if (inner % 2 == 0 && convAligned4(y) && (z == nullptr || convAligned4(z))) {
      const int64_t pairs = total / 2;
      convEpilogueKernel2<T, T2>
          <<<gridFor(pairs, kEpilogueThreads, &props), kEpilogueThreads, 0, stream>>>(
              reinterpret_cast<T2*>(yt), bt, reinterpret_cast<const T2*>(zt), pairs, channels,
              inner, act);
      KILN_CUDA_CHECK_LAUNCH("convEpilogueKernel2");
      return Status::ok();
    }
  }
  convEpilogueKernel<T><<<gridFor(total, kEpilogueThreads, &props), kEpilogueThreads, 0, stream>>>(
      yt, bt, zt, total, channels, inner, act);
  KILN_CUDA_CHECK_LAUNCH("convEpilogueKernel");
  return Status::ok();
}

}  // namespace

Status launchConvEpilogue(DataType t, void* y, const void* bias, const void* z, int64_t outer,
                          int64_t channels, int64_t inner, const ir::FusedActivationParams& act,
                          cudaStream_t stream, const DeviceProps& props) {
  if (outer <= 0 || channels <= 0 || inner <= 0) return Status::ok();
  if (y == nullptr) return internalError("launchConvEpilogue: null output");
  const EpiAct a{act.kind, act.alpha, act.beta};
  switch (t) {
    case DataType::kFLOAT:
      return launchConvTyped<float, float2>(y, bias, z, outer, channels, inner, a, stream, props);
    case DataType::kDOUBLE:
      return launchConvTyped<double, double2>(y, bias, z, outer, channels, inner, a, stream, props);
    case DataType::kHALF:
      return launchConvTyped<__half, __half2>(y, bias, z, outer, channels, inner, a, stream, props);
    case DataType::kBF16:
      return launchConvTyped<__nv_bfloat16, __nv_bfloat162>(y, bias, z, outer, channels, inner, a,
                                                            stream, props);
    default: break;
  }
  return unsupported("launchConvEpilogue: data type %s", dataTypeName(t));
}

}  // namespace kiln::cuda
