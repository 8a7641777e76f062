// Small CUDA kernels of the Linear family: Gemm's C broadcast, the per-channel bias add after a
// cuDNN convolution, and direct (one thread per output element) GEMM, convolution and Einsum
// kernels for what the libraries do not cover (integer types, cuDNN without an engine,
// misaligned pointers, Einsum). Declarations: cublaslt_gemm.h and cudnn_conv.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backends/cuda/cublaslt_gemm.h"
#include "backends/cuda/cudnn_conv.h"

namespace kiln::cuda {

namespace {

constexpr int kThreads = 256;

// Storage type <-> compute type: half/bfloat16/float compute in float, double in double.
template <typename T>
struct Num {
  using Acc = float;
  static __device__ __forceinline__ float load(T v) { return static_cast<float>(v); }
  static __device__ __forceinline__ T store(float v) { return static_cast<T>(v); }
};
template <>
struct Num<__half> {
  using Acc = float;
  static __device__ __forceinline__ float load(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half store(float v) { return __float2half_rn(v); }
};
template <>
struct Num<__nv_bfloat16> {
  using Acc = float;
  static __device__ __forceinline__ float load(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }
};
template <>
struct Num<double> {
  using Acc = double;
  static __device__ __forceinline__ double load(double v) { return v; }
  static __device__ __forceinline__ double store(double v) { return v; }
};

// Calls f(static_cast<T*>(nullptr)) with T the device storage type of a float dtype.
template <typename F>
Status dispatchFloat(DataType t, const char* what, F&& f) {
  switch (t) {
    case DataType::kFLOAT: return f(static_cast<float*>(nullptr));
    case DataType::kHALF: return f(static_cast<__half*>(nullptr));
    case DataType::kBF16: return f(static_cast<__nv_bfloat16*>(nullptr));
    case DataType::kDOUBLE: return f(static_cast<double*>(nullptr));
    default: break;
  }
  return unsupported("%s: data type %s", what, dataTypeName(t));
}

// Same for the integer types of MatMul/Gemm/Einsum.
template <typename F>
Status dispatchInt(DataType t, const char* what, F&& f) {
  switch (t) {
    case DataType::kINT32: return f(static_cast<int32_t*>(nullptr));
    case DataType::kINT64: return f(static_cast<int64_t*>(nullptr));
    case DataType::kUINT32: return f(static_cast<uint32_t*>(nullptr));
    case DataType::kUINT64: return f(static_cast<uint64_t*>(nullptr));
    default: break;
  }
  return unsupported("%s: data type %s", what, dataTypeName(t));
}

bool isIntType(DataType t) {
  return t == DataType::kINT32 || t == DataType::kINT64 || t == DataType::kUINT32 ||
         t == DataType::kUINT64;
}

// ---------------------------------------------------------------------------------------------
// Naive GEMM

__device__ __forceinline__ void gemmIndex(const NaiveGemmParams& p, int64_t idx, int64_t* i,
                                          int64_t* j, int64_t* aOff, int64_t* bOff) {
  *j = idx % p.n;
  int64_t t = idx / p.n;
  *i = t % p.m;
  int64_t bi = t / p.m;
  int64_t ao = 0, bo = 0;
  for (int d = p.batchRank - 1; d >= 0; --d) {
    const int64_t q = bi % p.batchDims[d];
    bi /= p.batchDims[d];
    ao += q * p.aBatchStride[d];
    bo += q * p.bBatchStride[d];
  }
  *aOff = ao;
  *bOff = bo;
}

template <typename T>
__global__ void naiveGemmFloatKernel(NaiveGemmParams p, const T* __restrict__ a,
                                     const T* __restrict__ b, const T* __restrict__ c,
                                     T* __restrict__ y, int64_t total) {
  using Acc = typename Num<T>::Acc;
  for (int64_t idx = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    int64_t i, j, aOff, bOff;
    gemmIndex(p, idx, &i, &j, &aOff, &bOff);
    const T* ar = a + aOff + i * p.aRs;
    const T* bc = b + bOff + j * p.bCs;
    Acc acc = 0;
    for (int64_t q = 0; q < p.k; ++q)
      acc += Num<T>::load(ar[q * p.aCs]) * Num<T>::load(bc[q * p.bRs]);
    // As the CPU: alpha scales the product in the compute type, then beta*C is added.
    Acc r = static_cast<Acc>(p.alpha) * acc;
    if (p.hasC) r += static_cast<Acc>(p.beta) * Num<T>::load(c[i * p.cRs + j * p.cCs]);
    y[idx] = Num<T>::store(r);
  }
}

// Integer products wrap around: computed in uint64 (no signed overflow), truncated at the store.
template <typename T>
__global__ void naiveGemmIntKernel(NaiveGemmParams p, const T* __restrict__ a,
                                   const T* __restrict__ b, const T* __restrict__ c,
                                   T* __restrict__ y, int64_t total) {
  const uint64_t alpha = static_cast<uint64_t>(static_cast<int64_t>(p.alpha));
  const uint64_t beta = static_cast<uint64_t>(static_cast<int64_t>(p.beta));
  for (int64_t idx = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    int64_t i, j, aOff, bOff;
    gemmIndex(p, idx, &i, &j, &aOff, &bOff);
    const T* ar = a + aOff + i * p.aRs;
    const T* bc = b + bOff + j * p.bCs;
    uint64_t acc = 0;
    for (int64_t q = 0; q < p.k; ++q)
      acc += static_cast<uint64_t>(ar[q * p.aCs]) * static_cast<uint64_t>(bc[q * p.bRs]);
    acc *= alpha;
    if (p.hasC) acc += beta * static_cast<uint64_t>(c[i * p.cRs + j * p.cCs]);
    y[idx] = static_cast<T>(acc);
  }
}

// ---------------------------------------------------------------------------------------------
// Gemm C broadcast

template <typename T>
__global__ void broadcastCKernel(const T* __restrict__ c, int64_t cRows, int64_t cCols,
                                 typename Num<T>::Acc scale, bool doScale, T* __restrict__ d,
                                 int64_t n, int64_t total) {
  for (int64_t idx = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = idx / n, j = idx - i * n;
    const T v = c[(cRows == 1 ? 0 : i) * cCols + (cCols == 1 ? 0 : j)];
    d[idx] = doScale ? Num<T>::store(scale * Num<T>::load(v)) : v;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-channel bias: y viewed as [planes = outer*channels, inner]; blockIdx.y walks the planes so
// every block loads one bias value per plane.

template <typename T>
__global__ void channelBiasKernel(T* __restrict__ y, const T* __restrict__ bias, int64_t planes,
                                  int64_t channels, int64_t inner) {
  for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
    const typename Num<T>::Acc bv = Num<T>::load(bias[plane % channels]);
    T* row = y + plane * inner;
    for (int64_t s = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; s < inner;
         s += int64_t{gridDim.x} * blockDim.x)
      row[s] = Num<T>::store(Num<T>::load(row[s]) + bv);
  }
}

// ---------------------------------------------------------------------------------------------
// Direct convolution

template <typename T>
__global__ void directConvKernel(DirectConvParams p, const T* __restrict__ x,
                                 const T* __restrict__ w, const T* __restrict__ bias,
                                 T* __restrict__ y, int64_t total, int64_t outVol, int64_t inVol,
                                 int64_t kVol) {
  using Acc = typename Num<T>::Acc;
  const int nsp = p.numSpatial;
  const int64_t cg = p.inChannels / p.group, mg = p.outChannels / p.group;
  if (p.channelsLast) {
    // idx = (n * outVol + outFlat) * M + m; X at (n * inVol + inFlat) * C + channel; W at
    // (m * kVol + kk) * cg + c.
    for (int64_t idx = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t{gridDim.x} * blockDim.x) {
      const int64_t m = idx % p.outChannels;
      const int64_t pix = idx / p.outChannels;
      const int64_t n = pix / outVol;
      int64_t o[kDirectConvMaxSpatial];
      int64_t rest = pix % outVol;
      for (int d = nsp - 1; d >= 0; --d) {
        o[d] = rest % p.outSizes[d];
        rest /= p.outSizes[d];
      }
      const int64_t g = m / mg;
      Acc acc = 0;
      for (int64_t kk = 0; kk < kVol; ++kk) {
        int64_t krest = kk, flat = 0, scale = 1;
        bool inside = true;
        for (int d = nsp - 1; d >= 0 && inside; --d) {
          const int64_t kd = krest % p.kernel[d];
          krest /= p.kernel[d];
          const int64_t pos = o[d] * p.strides[d] - p.padBegin[d] + kd * p.dilations[d];
          inside = pos >= 0 && pos < p.inSizes[d];
          flat += pos * scale;
          scale *= p.inSizes[d];
        }
        if (!inside) continue;
        const T* xp = x + (n * inVol + flat) * p.inChannels + g * cg;
        const T* wp = w + (m * kVol + kk) * cg;
        for (int64_t c = 0; c < cg; ++c) acc += Num<T>::load(xp[c]) * Num<T>::load(wp[c]);
      }
      if (bias) acc += Num<T>::load(bias[m]);
      y[idx] = Num<T>::store(acc);
    }
    return;
  }
  for (int64_t idx = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    int64_t o[kDirectConvMaxSpatial];
    int64_t rest = idx % outVol;
    for (int d = nsp - 1; d >= 0; --d) {
      o[d] = rest % p.outSizes[d];
      rest /= p.outSizes[d];
    }
    const int64_t nm = idx / outVol;
    const int64_t m = nm % p.outChannels, n = nm / p.outChannels;
    const int64_t g = m / mg, ml = m - g * mg;
    Acc acc = 0;
    for (int64_t c = 0; c < cg; ++c) {
      const T* xc = x + (n * p.inChannels + g * cg + c) * inVol;
      // Conv W [M, C/group, k...]; ConvTranspose W [C, M/group, k...].
      const T* wc = p.transposed ? w + ((g * cg + c) * mg + ml) * kVol : w + (m * cg + c) * kVol;
      for (int64_t kk = 0; kk < kVol; ++kk) {
        int64_t krest = kk, flat = 0, scale = 1;
        bool inside = true;
        for (int d = nsp - 1; d >= 0 && inside; --d) {
          const int64_t kd = krest % p.kernel[d];
          krest /= p.kernel[d];
          int64_t pos;
          if (!p.transposed) {
            // input position = out*stride - padBegin + k*dilation
            pos = o[d] * p.strides[d] - p.padBegin[d] + kd * p.dilations[d];
          } else {
            // out = in*stride - padBegin + k*dilation  =>  in = (out + padBegin - k*dilation) /
            // stride
            const int64_t t = o[d] + p.padBegin[d] - kd * p.dilations[d];
            if (t < 0 || t % p.strides[d] != 0) {
              inside = false;
              break;
            }
            pos = t / p.strides[d];
          }
          inside = pos >= 0 && pos < p.inSizes[d];
          flat += pos * scale;
          scale *= p.inSizes[d];
        }
        if (inside) acc += Num<T>::load(xc[flat]) * Num<T>::load(wc[kk]);
      }
    }
    if (bias) acc += Num<T>::load(bias[m]);
    y[idx] = Num<T>::store(acc);
  }
}

// ---------------------------------------------------------------------------------------------
// Einsum

template <typename T>
__device__ __forceinline__ double einsumLoad(const void* base, int64_t i) {
  return static_cast<double>(Num<T>::load(static_cast<const T*>(base)[i]));
}

template <typename T>
__global__ void einsumFloatKernel(EinsumParams p, T* __restrict__ y) {
  for (int64_t o = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; o < p.outCount;
       o += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[kEinsumMaxInputs];
    for (int i = 0; i < p.numInputs; ++i) off[i] = 0;
    int64_t rest = o;
    for (int a = p.numOut - 1; a >= 0; --a) {
      const int64_t q = rest % p.outSizes[a];
      rest /= p.outSizes[a];
      for (int i = 0; i < p.numInputs; ++i) off[i] += q * p.outStrides[i][a];
    }
    int64_t sumIdx[kEinsumMaxLabels];
    for (int a = 0; a < p.numSum; ++a) sumIdx[a] = 0;
    double acc = 0;
    for (int64_t s = 0; s < p.sumCount; ++s) {
      double prod = 1;
      for (int i = 0; i < p.numInputs; ++i) prod *= einsumLoad<T>(p.in[i], off[i]);
      acc += prod;
      // Odometer over the summed labels, moving every input's offset with it.
      for (int a = p.numSum - 1; a >= 0; --a) {
        for (int i = 0; i < p.numInputs; ++i) off[i] += p.sumStrides[i][a];
        if (++sumIdx[a] < p.sumSizes[a]) break;
        for (int i = 0; i < p.numInputs; ++i) off[i] -= p.sumStrides[i][a] * p.sumSizes[a];
        sumIdx[a] = 0;
      }
    }
    y[o] = Num<T>::store(static_cast<typename Num<T>::Acc>(acc));
  }
}

template <typename T>
__global__ void einsumIntKernel(EinsumParams p, T* __restrict__ y) {
  for (int64_t o = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; o < p.outCount;
       o += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[kEinsumMaxInputs];
    for (int i = 0; i < p.numInputs; ++i) off[i] = 0;
    int64_t rest = o;
    for (int a = p.numOut - 1; a >= 0; --a) {
      const int64_t q = rest % p.outSizes[a];
      rest /= p.outSizes[a];
      for (int i = 0; i < p.numInputs; ++i) off[i] += q * p.outStrides[i][a];
    }
    int64_t sumIdx[kEinsumMaxLabels];
    for (int a = 0; a < p.numSum; ++a) sumIdx[a] = 0;
    uint64_t acc = 0;
    for (int64_t s = 0; s < p.sumCount; ++s) {
      uint64_t prod = 1;
      for (int i = 0; i < p.numInputs; ++i)
        prod *= static_cast<uint64_t>(static_cast<const T*>(p.in[i])[off[i]]);
      acc += prod;
      for (int a = p.numSum - 1; a >= 0; --a) {
        for (int i = 0; i < p.numInputs; ++i) off[i] += p.sumStrides[i][a];
        if (++sumIdx[a] < p.sumSizes[a]) break;
        for (int i = 0; i < p.numInputs; ++i) off[i] -= p.sumStrides[i][a] * p.sumSizes[a];
        sumIdx[a] = 0;
      }
    }
    y[o] = static_cast<T>(acc);
  }
}

}  // namespace

Status launchNaiveGemm(DataType t, const NaiveGemmParams& p, const void* a, const void* b,
                       const void* c, void* y, cudaStream_t stream, const DeviceProps& props) {
  int64_t total = p.m * p.n;
  for (int d = 0; d < p.batchRank; ++d) total *= p.batchDims[d];
  if (total == 0) return Status::ok();
  const int grid = gridFor(total, kThreads, &props);
  if (isIntType(t)) {
    return dispatchInt(t, "naive GEMM", [&](auto tag) -> Status {
      using T = std::remove_pointer_t<decltype(tag)>;
      naiveGemmIntKernel<T>
          <<<grid, kThreads, 0, stream>>>(p, static_cast<const T*>(a), static_cast<const T*>(b),
                                          static_cast<const T*>(c), static_cast<T*>(y), total);
      KILN_CUDA_CHECK_LAUNCH("naive integer GEMM kernel");
      return Status::ok();
    });
  }
  return dispatchFloat(t, "naive GEMM", [&](auto tag) -> Status {
    using T = std::remove_pointer_t<decltype(tag)>;
    naiveGemmFloatKernel<T>
        <<<grid, kThreads, 0, stream>>>(p, static_cast<const T*>(a), static_cast<const T*>(b),
                                        static_cast<const T*>(c), static_cast<T*>(y), total);
    KILN_CUDA_CHECK_LAUNCH("naive GEMM kernel");
    return Status::ok();
  });
}

Status launchBroadcastC(DataType t, const void* c, int64_t cRows, int64_t cCols, double scale,
                        void* d, int64_t m, int64_t n, cudaStream_t stream,
                        const DeviceProps& props) {
  const int64_t total = m * n;
  if (total == 0) return Status::ok();
  const int grid = gridFor(total, kThreads, &props);
  return dispatchFloat(t, "Gemm C broadcast", [&](auto tag) -> Status {
    using T = std::remove_pointer_t<decltype(tag)>;
    using Acc = typename Num<T>::Acc;
    broadcastCKernel<T><<<grid, kThreads, 0, stream>>>(static_cast<const T*>(c), cRows, cCols,
                                                       static_cast<Acc>(scale), scale != 1.0,
                                                       static_cast<T*>(d), n, total);
    KILN_CUDA_CHECK_LAUNCH("Gemm C broadcast kernel");
    return Status::ok();
  });
}

Status launchChannelBiasAdd(DataType t, void* y, const void* bias, int64_t outer, int64_t channels,
                            int64_t inner, cudaStream_t stream, const DeviceProps& props) {
  const int64_t planes = outer * channels;
  if (planes == 0 || inner == 0) return Status::ok();
  const int64_t gy = std::min<int64_t>(planes, 65535);
  // Enough x-blocks to cover a plane, but no more than keeps ~32 blocks per SM in flight overall.
  const int64_t sms = props.smCount > 0 ? props.smCount : 132;
  const int64_t gxCap = std::max<int64_t>(1, sms * 32 / gy);
  const int64_t gx = std::clamp<int64_t>((inner + kThreads - 1) / kThreads, 1, gxCap);
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
  return dispatchFloat(t, "conv bias add", [&](auto tag) -> Status {
    using T = std::remove_pointer_t<decltype(tag)>;
    channelBiasKernel<T><<<grid, kThreads, 0, stream>>>(
        static_cast<T*>(y), static_cast<const T*>(bias), planes, channels, inner);
    KILN_CUDA_CHECK_LAUNCH("conv bias add kernel");
    return Status::ok();
  });
}

Status launchDirectConv(DataType t, const DirectConvParams& p, const void* x, const void* w,
                        const void* bias, void* y, cudaStream_t stream, const DeviceProps& props) {
  if (p.numSpatial < 1 || p.numSpatial > kDirectConvMaxSpatial)
    return unsupported("direct convolution: %d spatial dims (at most %d)", p.numSpatial,
                       kDirectConvMaxSpatial);
  if (p.channelsLast && p.transposed)
    return unsupported("direct convolution: channels-last transposed convolution");
  int64_t outVol = 1, inVol = 1, kVol = 1;
  for (int d = 0; d < p.numSpatial; ++d) {
    outVol *= p.outSizes[d];
    inVol *= p.inSizes[d];
    kVol *= p.kernel[d];
  }
  const int64_t total = p.batch * p.outChannels * outVol;
  if (total == 0) return Status::ok();
  const int grid = gridFor(total, kThreads, &props);
  return dispatchFloat(t, "direct convolution", [&](auto tag) -> Status {
    using T = std::remove_pointer_t<decltype(tag)>;
    directConvKernel<T><<<grid, kThreads, 0, stream>>>(
        p, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
        static_cast<T*>(y), total, outVol, inVol, kVol);
    KILN_CUDA_CHECK_LAUNCH("direct convolution kernel");
    return Status::ok();
  });
}

Status launchEinsum(DataType t, const EinsumParams& p, void* y, cudaStream_t stream,
                    const DeviceProps& props) {
  if (p.outCount == 0) return Status::ok();
  const int grid = gridFor(p.outCount, kThreads, &props);
  if (isIntType(t)) {
    return dispatchInt(t, "Einsum", [&](auto tag) -> Status {
      using T = std::remove_pointer_t<decltype(tag)>;
      einsumIntKernel<T><<<grid, kThreads, 0, stream>>>(p, static_cast<T*>(y));
      KILN_CUDA_CHECK_LAUNCH("Einsum kernel");
      return Status::ok();
    });
  }
  return dispatchFloat(t, "Einsum", [&](auto tag) -> Status {
    using T = std::remove_pointer_t<decltype(tag)>;
    einsumFloatKernel<T><<<grid, kThreads, 0, stream>>>(p, static_cast<T*>(y));
    KILN_CUDA_CHECK_LAUNCH("Einsum kernel");
    return Status::ok();
  });
}

}  // namespace kiln::cuda
