// Shared helpers for the CUDA data-movement and indexing kernels (kernels_shape_op.cu,
// kernels_indexing.cu, kernels_resize.cu): fixed-size parameter arrays (rank <= 8), element-size
// dispatch ("units" of 1/2/4/8/16 bytes: data movement never looks at the dtype), index loads,
// and double arithmetic that nvcc cannot contract into FMAs (the CPU oracle rounds every
// product and sum separately, and index selection such as Resize's nearest must agree exactly).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/dtype_load.cuh"

namespace kiln::cuda {

// Resize and GridSample (kernels_resize.cu); registered by registerIndexingKernels.
void registerResizeKernels(CudaKernelTable& t);

namespace idx {

constexpr int kMaxRank = 8;
constexpr int kThreads = 256;

template <typename T>
struct Tag {
  using type = T;
};

// Fixed-size array passed by value in kernel parameters.
template <typename T, int N = kMaxRank>
struct Arr {
  T v[N];
  __host__ __device__ T& operator[](int i) { return v[i]; }
  __host__ __device__ const T& operator[](int i) const { return v[i]; }
};

// The storage unit of `Bytes` bytes: copies move units, never interpret them.
template <int Bytes>
struct UnitOf;
template <>
struct UnitOf<1> {
  using type = uint8_t;
};
template <>
struct UnitOf<2> {
  using type = uint16_t;
};
template <>
struct UnitOf<4> {
  using type = uint32_t;
};
template <>
struct UnitOf<8> {
  using type = unsigned long long;
};
template <>
struct UnitOf<16> {
  using type = uint4;
};

// Calls f(Tag<Unit>{}) for a unit of `bytes` (1, 2, 4, 8 or 16); false for other sizes.
template <typename F>
bool dispatchUnit(size_t bytes, F&& f) {
  switch (bytes) {
    case 1: f(Tag<uint8_t>{}); return true;
    case 2: f(Tag<uint16_t>{}); return true;
    case 4: f(Tag<uint32_t>{}); return true;
    case 8: f(Tag<unsigned long long>{}); return true;
    case 16: f(Tag<uint4>{}); return true;
    default: return false;
  }
}

// Calls f(integral_constant<int, R>) with R the smallest of 1, 2, 4, 8 >= rank.
template <typename F>
void dispatchRank(int rank, F&& f) {
  if (rank <= 1) {
    f(std::integral_constant<int, 1>{});
  } else if (rank == 2) {
    f(std::integral_constant<int, 2>{});
  } else if (rank <= 4) {
    f(std::integral_constant<int, 4>{});
  } else {
    f(std::integral_constant<int, 8>{});
  }
}

// Calls f(Tag<Unit>{}) for an element of `bytes` (1, 2, 4 or 8); false for other sizes.
template <typename F>
bool dispatchElem(size_t bytes, F&& f) {
  switch (bytes) {
    case 1: f(Tag<uint8_t>{}); return true;
    case 2: f(Tag<uint16_t>{}); return true;
    case 4: f(Tag<uint32_t>{}); return true;
    case 8: f(Tag<unsigned long long>{}); return true;
    default: return false;
  }
}

// The widest unit (bytes, a multiple of the element size es, at most 16) such that `inner`
// elements split into whole units, every element offset in `offsets` is unit-aligned, and every
// pointer is aligned to the unit: the vectorized path of a copy whose innermost run of `inner`
// elements is contiguous on both sides.
inline size_t widestUnit(size_t es, int64_t inner, std::initializer_list<int64_t> offsets,
                         std::initializer_list<const void*> ptrs) {
  for (size_t u = 16; u > es; u /= 2) {
    if (u % es != 0) continue;
    const int64_t g = static_cast<int64_t>(u / es);
    bool ok = inner % g == 0;
    for (int64_t o : offsets) ok = ok && o % g == 0;
    for (const void* p : ptrs) ok = ok && reinterpret_cast<uintptr_t>(p) % u == 0;
    if (ok) return u;
  }
  return es;
}

inline std::vector<int64_t> stridesOf(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

inline int64_t product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < dims.size(); ++i) p *= dims[i];
  return p;
}

// Below this, flat indices and offsets use 32-bit arithmetic (with room for the grid stride).
constexpr int64_t kSmallLimit = int64_t{1} << 30;

inline int blocksFor(int64_t n, const CudaLibs& libs, int threads = kThreads) {
  return gridFor(n, threads, &libs.props());
}

// --- device helpers ------------------------------------------------------------------------------

// Double arithmetic rounded after every operation (no FMA contraction), as the CPU computes.
__device__ __forceinline__ double dmul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double dadd(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double dsub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float fmulr(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float faddr(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float fsubr(float a, float b) { return __fsub_rn(a, b); }

__device__ __forceinline__ double toDouble(float v) { return v; }
__device__ __forceinline__ double toDouble(double v) { return v; }
__device__ __forceinline__ double toDouble(__half v) { return __half2float(v); }
__device__ __forceinline__ double toDouble(__nv_bfloat16 v) { return __bfloat162float(v); }

// double -> storage type with the CPU's rounding (float16/bfloat16 through float).
template <typename T>
__device__ __forceinline__ T fromDouble(double v);
template <>
__device__ __forceinline__ float fromDouble<float>(double v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ double fromDouble<double>(double v) {
  return v;
}
template <>
__device__ __forceinline__ __half fromDouble<__half>(double v) {
  return __float2half_rn(static_cast<float>(v));
}
template <>
__device__ __forceinline__ __nv_bfloat16 fromDouble<__nv_bfloat16>(double v) {
  return __float2bfloat16_rn(static_cast<float>(v));
}

// Element i of a tensor of any dtype (given by its Kiln code) as int64 / double, as
// ir::elementAsInt64 / elementAsDouble do on the host: for small operands (a Range bound, a
// Trilu k, OneHot indices).
__device__ __forceinline__ double elementAsDouble(const void* p, int64_t i, DataType t) {
  switch (t) {
    case DataType::kBOOL: return static_cast<const uint8_t*>(p)[i] != 0 ? 1.0 : 0.0;
    // Through int64, as the host's elementAsDouble.
    case DataType::kUINT64:
      return static_cast<double>(static_cast<int64_t>(static_cast<const uint64_t*>(p)[i]));
    default: return loadElementAs<double>(p, t, i);
  }
}

__device__ __forceinline__ int64_t elementAsInt64(const void* p, int64_t i, DataType t) {
  switch (t) {
    case DataType::kBOOL: return static_cast<const uint8_t*>(p)[i] != 0;
    case DataType::kFLOAT:
    case DataType::kDOUBLE:
    case DataType::kHALF:
    case DataType::kBF16: break;
    default: return loadElementAs<int64_t>(p, t, i);
  }
  // Floats truncate toward zero (the host's static_cast); NaN and out-of-range values, which are
  // undefined there, give 0 / saturate here.
  const double d = elementAsDouble(p, i, t);
  if (!(d == d)) return 0;
  if (d >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (d <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}

// Index i of an int32/int64 index tensor, normalized into [0, n); -1 when outside [-n, n).
template <typename IdxT>
__device__ __forceinline__ int64_t normalizedIndex(const IdxT* p, int64_t i, int64_t n) {
  int64_t v = static_cast<int64_t>(p[i]);
  if (v < 0) v += n;
  return (v >= 0 && v < n) ? v : -1;
}

}  // namespace idx
}  // namespace kiln::cuda
