// Shared device helpers for the CUDA Norm and Reduce families (kernels_norm.cu, kernels_reduce.cu):
// numeric traits (storage type -> math and accumulation types), warp/block all-reductions,
// vectorized row loops, reduction geometry (collapsing an axis set into [outer, count, inner] or a
// general strided index), and the row drivers that give each row a group of lanes or a block.
//
// Precision follows the CPU oracle, which reads every element as double: float32 and float64
// accumulate in double (so results agree with the CPU to well within 1e-5 relative), float16 and
// bfloat16 accumulate in float32 and round once at the store. Integers accumulate in 64 bits with
// wrap-around done in unsigned arithmetic (no UB).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda::ru {

constexpr int kMaxDims = 8;

// ---------------------------------------------------------------------------------------------
// Numeric traits. M: the type one element is computed in (exact for the storage type);
// A: the accumulation type.

template <typename T>
struct Num {
  static_assert(std::is_integral_v<T>, "unsupported storage type");
  using M = int64_t;
  using A = int64_t;
  static constexpr bool kFloat = false;
};
template <>
struct Num<float> {
  using M = float;
  using A = double;
  static constexpr bool kFloat = true;
};
template <>
struct Num<double> {
  using M = double;
  using A = double;
  static constexpr bool kFloat = true;
};
template <>
struct Num<__half> {
  using M = float;
  using A = float;
  static constexpr bool kFloat = true;
};
template <>
struct Num<__nv_bfloat16> {
  using M = float;
  using A = float;
  static constexpr bool kFloat = true;
};

// Element -> its math type (exact).
template <typename T>
__device__ __forceinline__ typename Num<T>::M load(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(v);
  } else {
    return static_cast<typename Num<T>::M>(v);
  }
}

// Value -> storage type T, one rounding to nearest even (double -> half goes through float,
// as the CPU's storeFromDouble does). Integers truncate modulo 2^bits.
template <typename T, typename V>
__device__ __forceinline__ T store(V v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

// Precise math (no fast-math intrinsics), overloaded on float/double.
__device__ __forceinline__ float mexp(float v) { return expf(v); }
__device__ __forceinline__ double mexp(double v) { return exp(v); }
__device__ __forceinline__ float mlog(float v) { return logf(v); }
__device__ __forceinline__ double mlog(double v) { return log(v); }
__device__ __forceinline__ float msqrt(float v) { return sqrtf(v); }
__device__ __forceinline__ double msqrt(double v) { return sqrt(v); }
__device__ __forceinline__ float mpow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double mpow(double a, double b) { return pow(a, b); }

template <typename V>
__device__ __forceinline__ bool isNan(V v) {
  if constexpr (std::is_floating_point_v<V>) {
    return v != v;
  } else {
    return false;
  }
}

template <typename V>
__device__ __forceinline__ V posInf() {
  return std::numeric_limits<V>::infinity();
}

// max that ignores NaN in `b` when `a` is a number: std::max(a, b) = a < b ? b : a, the CPU's
// rule for the running maximum of Softmax and ReduceLogSumExp (a NaN never becomes the max).
struct MaxIgnoreNan {
  template <typename V>
  __device__ __forceinline__ V operator()(V a, V b) const {
    return a < b ? b : a;
  }
};
struct Add {
  template <typename V>
  __device__ __forceinline__ V operator()(V a, V b) const {
    return a + b;
  }
};

// Arg-max/min candidates: the better value wins, ties go to the lower index (the higher with
// `last`), a NaN beats any number and the first NaN wins (numpy's argmax, the CPU's rule). The
// result depends only on the two pairs, so the combine is commutative and all lanes agree.
template <typename C>
struct ArgPair {
  C v;
  int64_t i;  // -1: no element yet
};
template <typename C>
__device__ __forceinline__ ArgPair<C> argCombine(ArgPair<C> a, ArgPair<C> b, bool isMax,
                                                 bool last) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = isNan(a.v), bn = isNan(b.v);
  if (an || bn) {
    if (an && bn) return a.i < b.i ? a : b;
    return an ? a : b;
  }
  if (a.v == b.v) return (last ? a.i > b.i : a.i < b.i) ? a : b;
  return (isMax ? a.v > b.v : a.v < b.v) ? a : b;
}

// ---------------------------------------------------------------------------------------------
// Parameters of any float dtype, read at run time (BatchNorm's scale may be float32 while X is
// float16, RMSNorm's scale may differ from X; the branch is uniform across the warp).

struct ParamRef {
  const void* p = nullptr;
  DataType dt = DataType::kFLOAT;
  __device__ __forceinline__ double at(int64_t i) const {
    switch (dt) {
      case DataType::kFLOAT: return static_cast<const float*>(p)[i];
      case DataType::kDOUBLE: return static_cast<const double*>(p)[i];
      case DataType::kHALF: return __half2float(static_cast<const __half*>(p)[i]);
      case DataType::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
      default: return 0.0;
    }
  }
};

// An output of any float dtype (LayerNorm's Mean/InvStdDev have the stash type).
struct DynOut {
  void* p = nullptr;
  DataType dt = DataType::kFLOAT;
  __device__ __forceinline__ void put(int64_t i, double v) const {
    switch (dt) {
      case DataType::kFLOAT: static_cast<float*>(p)[i] = static_cast<float>(v); return;
      case DataType::kDOUBLE: static_cast<double*>(p)[i] = v; return;
      case DataType::kHALF:
        static_cast<__half*>(p)[i] = __float2half_rn(static_cast<float>(v));
        return;
      case DataType::kBF16:
        static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(static_cast<float>(v));
        return;
      default: return;
    }
  }
};

inline bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
         t == DataType::kBF16;
}

// ---------------------------------------------------------------------------------------------
// Warp and block all-reductions. Every lane of the warp must call them (full mask).

template <typename V>
__device__ __forceinline__ V shflXor(V v, int mask) {
  static_assert(sizeof(V) % 4 == 0, "shuffle of a type whose size is not a multiple of 4");
  constexpr int kWords = static_cast<int>(sizeof(V) / 4);
  unsigned w[kWords];
  memcpy(w, &v, sizeof(V));
#pragma unroll
  for (int i = 0; i < kWords; ++i) w[i] = __shfl_xor_sync(0xffffffffu, w[i], mask);
  memcpy(&v, w, sizeof(V));
  return v;
}

template <typename V>
__device__ __forceinline__ V shflUp(V v, int delta) {
  static_assert(sizeof(V) % 4 == 0, "shuffle of a type whose size is not a multiple of 4");
  constexpr int kWords = static_cast<int>(sizeof(V) / 4);
  unsigned w[kWords];
  memcpy(w, &v, sizeof(V));
#pragma unroll
  for (int i = 0; i < kWords; ++i) w[i] = __shfl_up_sync(0xffffffffu, w[i], delta);
  memcpy(&v, w, sizeof(V));
  return v;
}

// Butterfly over aligned groups of `width` lanes (a power of two <= 32): every lane of a group
// ends with the group's result (f must be commutative so both partners agree).
template <typename V, typename F>
__device__ __forceinline__ V groupAllReduce(V v, int width, F f) {
  for (int m = width >> 1; m > 0; m >>= 1) v = f(v, shflXor(v, m));
  return v;
}

// All threads of the block (blockDim.x a multiple of 32, <= 1024) get f over the block. Safe to
// call repeatedly: the leading barrier protects the buffer from the previous call's readers.
template <typename V, typename F>
__device__ __forceinline__ V blockAllReduce(V v, F f) {
  __shared__ __align__(16) unsigned char raw[32 * sizeof(V)];
  V* buf = reinterpret_cast<V*>(raw);
  v = groupAllReduce(v, 32, f);
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int numWarps = static_cast<int>(blockDim.x >> 5);
  __syncthreads();
  if (lane == 0) buf[warp] = v;
  __syncthreads();
  V r = buf[0];
  for (int w = 1; w < numWarps; ++w) r = f(r, buf[w]);  // same order in every thread
  return r;
}

// A row's group of lanes: part of a warp (size <= 32) or the whole block.
struct SubWarp {
  int lane, size;
  template <typename V, typename F>
  __device__ __forceinline__ V allReduce(V v, F f) const {
    return groupAllReduce(v, size, f);
  }
};
struct WholeBlock {
  int lane, size;
  template <typename V, typename F>
  __device__ __forceinline__ V allReduce(V v, F f) const {
    return blockAllReduce(v, f);
  }
};

// ---------------------------------------------------------------------------------------------
// Reduction geometry.

// Offsets of a general (non-contiguous) axis split: the kept axes give a row's base offset, the
// reduced axes give element k's offset inside the row (both row-major, last axis fastest).
struct GenIndex {
  int nk = 0, nr = 0;
  int64_t kd[kMaxDims] = {}, ks[kMaxDims] = {}, rd[kMaxDims] = {}, rs[kMaxDims] = {};
  __device__ __forceinline__ int64_t base(int64_t row) const {
    int64_t off = 0;
    for (int d = nk - 1; d >= 0; --d) {
      off += (row % kd[d]) * ks[d];
      row /= kd[d];
    }
    return off;
  }
  __device__ __forceinline__ int64_t roff(int64_t k) const {
    int64_t off = 0;
    for (int d = nr - 1; d >= 0; --d) {
      off += (k % rd[d]) * rs[d];
      k /= rd[d];
    }
    return off;
  }
};

// Where the `len` elements of row `row` are: strided rows of an [outer, len, inner] view (row =
// o * inner + i, element k at base + k * inner), or a general axis split.
struct RowIndex {
  bool general = false;
  int64_t len = 0, inner = 1;
  GenIndex gen;
  __device__ __forceinline__ int64_t base(int64_t row) const {
    if (general) return gen.base(row);
    if (inner == 1) return row * len;
    return (row / inner) * len * inner + row % inner;
  }
  __device__ __forceinline__ int64_t off(int64_t k) const {
    if (general) return gen.roff(k);
    return k * inner;
  }
  bool contiguous() const { return !general && inner == 1; }
};

// Reduction of `dims` over the axes flagged in `reduced`, after dropping size-1 axes and merging
// neighbours with the same flag:
//   kRows:    [outer, count] rows (inner == 1), output o = row o;
//   kCols:    [outer, count, inner] with inner > 1, output o * inner + i;
//   kGeneral: several reduced axis groups (GenIndex).
// An empty reduction (count == 0) or no outputs is kRows with outer = numOut.
struct ReduceGeom {
  enum Kind { kRows, kCols, kGeneral } kind = kRows;
  int64_t numOut = 0, count = 0, outer = 0, inner = 1;
  GenIndex gen;
};

// False when the axis split needs more than kMaxDims kept or reduced groups.
inline bool makeReduceGeom(const std::vector<int64_t>& dims, const std::vector<bool>& reduced,
                           ReduceGeom* g) {
  *g = ReduceGeom{};
  int64_t numOut = 1, count = 1;
  for (size_t d = 0; d < dims.size(); ++d) (reduced[d] ? count : numOut) *= dims[d];
  g->numOut = numOut;
  g->count = count;
  g->outer = numOut;
  if (numOut == 0 || count == 0) return true;
  struct Group {
    bool red;
    int64_t size;
  };
  std::vector<Group> groups;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;
    if (!groups.empty() && groups.back().red == reduced[d]) {
      groups.back().size *= dims[d];
    } else {
      groups.push_back({reduced[d], dims[d]});
    }
  }
  int nr = 0;
  for (const Group& gr : groups) nr += gr.red ? 1 : 0;
  if (nr == 0) return true;  // every reduced axis has size 1: count == 1, rows of one element
  if (nr == 1) {
    int64_t before = 1, after = 1;
    bool seen = false;
    for (const Group& gr : groups) {
      if (gr.red) {
        seen = true;
      } else {
        (seen ? after : before) *= gr.size;
      }
    }
    g->outer = before;
    g->inner = after;
    g->kind = after == 1 ? ReduceGeom::kRows : ReduceGeom::kCols;
    return true;
  }
  g->kind = ReduceGeom::kGeneral;
  int64_t stride = 1;
  std::vector<int64_t> strides(groups.size());
  for (size_t i = groups.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= groups[i].size;
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    if (groups[i].red) {
      if (g->gen.nr == kMaxDims) return false;
      g->gen.rd[g->gen.nr] = groups[i].size;
      g->gen.rs[g->gen.nr++] = strides[i];
    } else {
      if (g->gen.nk == kMaxDims) return false;
      g->gen.kd[g->gen.nk] = groups[i].size;
      g->gen.ks[g->gen.nk++] = strides[i];
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Vectorized row access: 16-byte loads/stores of V = 16 / sizeof(T) elements.

template <typename T>
constexpr int vecWidth() {
  return static_cast<int>(16 / sizeof(T));
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <typename T>
__device__ __forceinline__ void loadVec(const T* p, T (&e)[vecWidth<T>()]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  memcpy(&e[0], &u, 16);
}
template <typename T>
__device__ __forceinline__ void storeVec(T* p, const T (&e)[vecWidth<T>()]) {
  uint4 u;
  memcpy(&u, &e[0], 16);
  *reinterpret_cast<uint4*>(p) = u;
}

// f(k, x_k) for the row's elements k in [kb, ke) this lane owns (lanes stride by g.size). With
// `vec` (contiguous row, 16-byte aligned base, kb and ke multiples of V) lanes own whole vectors.
template <typename T, typename G, typename F>
__device__ __forceinline__ void forRow(const T* x, const RowIndex& ri, int64_t base, int64_t kb,
                                       int64_t ke, bool vec, const G& g, F&& f) {
  if (vec) {
    constexpr int V = vecWidth<T>();
    const T* p = x + base;
    for (int64_t j = kb / V + g.lane; j < ke / V; j += g.size) {
      T e[V];
      loadVec(p + j * V, e);
#pragma unroll
      for (int t = 0; t < V; ++t) f(j * V + t, e[t]);
    }
  } else if (ri.general) {
    for (int64_t k = kb + g.lane; k < ke; k += g.size) f(k, x[base + ri.gen.roff(k)]);
  } else if (ri.inner == 1) {
    for (int64_t k = kb + g.lane; k < ke; k += g.size) f(k, x[base + k]);
  } else {
    for (int64_t k = kb + g.lane; k < ke; k += g.size) f(k, x[base + k * ri.inner]);
  }
}

// y_k = f(k, x_k) over the whole row (x and y share the layout).
template <typename T, typename G, typename F>
__device__ __forceinline__ void mapRow(const T* x, T* y, const RowIndex& ri, int64_t base, bool vec,
                                       const G& g, F&& f) {
  if (vec) {
    constexpr int V = vecWidth<T>();
    const T* p = x + base;
    T* q = y + base;
    for (int64_t j = g.lane; j < ri.len / V; j += g.size) {
      T e[V];
      loadVec(p + j * V, e);
#pragma unroll
      for (int t = 0; t < V; ++t) e[t] = f(j * V + t, e[t]);
      storeVec(q + j * V, e);
    }
  } else {
    for (int64_t k = g.lane; k < ri.len; k += g.size) {
      const int64_t at = base + ri.off(k);
      y[at] = f(k, x[at]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Row drivers (launch bounds keep every kernel launchable at its block size: 512 threads allow
// 128 registers per thread). body(row, active, group) processes one row; with sub-warp groups the
// rows past the end are given the last row with active = false, so every lane takes part in the
// shuffles and inactive lanes only skip their stores.

constexpr int kMaxRowBlock = 512;
constexpr int kSubWarpBlock = 256;

template <typename Body>
__global__ void subWarpRowsKernel(int64_t numRows, int width, Body body) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int rowsPerWarp = 32 / width;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t numWarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  const SubWarp g{lane % width, width};
  for (int64_t first = warp * rowsPerWarp; first < numRows; first += numWarps * rowsPerWarp) {
    int64_t row = first + lane / width;
    const bool active = row < numRows;
    if (!active) row = numRows - 1;
    body(row, active, g);
  }
}

template <typename Body>
__global__ void __launch_bounds__(kMaxRowBlock, 1) blockRowsKernel(int64_t numRows, Body body) {
  const WholeBlock g{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t row = blockIdx.x; row < numRows; row += gridDim.x) body(row, true, g);
}

// How many lanes work on one row: width (1..32, lanes of a warp) or, for long rows, a block.
struct RowCfg {
  int width = 32;  // lanes per row when block == 0
  int block = 0;   // threads per row (one block per row) when > 0
};

inline int nextPow2(int64_t v) {
  int p = 1;
  while (p < v && p < (1 << 30)) p <<= 1;
  return p;
}

// Rows of `len` elements: a few elements per lane for short rows (sub-warp groups keep lanes
// busy when rows are tiny), a warp up to 2048, a block (128..512 threads) beyond.
inline RowCfg chooseRowCfg(int64_t len, bool strided) {
  RowCfg c;
  if (strided) {  // lanes over rows: neighbouring lanes read neighbouring columns (coalesced)
    c.width = 1;
    return c;
  }
  if (len <= 2048) {
    c.width = std::min(32, nextPow2((len + 7) / 8));
    return c;
  }
  c.block = std::clamp(nextPow2((len + 15) / 16), 128, kMaxRowBlock);
  return c;
}

template <typename Body>
Status launchRows(const Body& body, int64_t numRows, const RowCfg& cfg, cudaStream_t stream,
                  const DeviceProps& props, const char* what) {
  if (numRows <= 0) return Status::ok();
  if (cfg.block > 0) {
    const int grid = gridFor(numRows * cfg.block, cfg.block, &props);
    blockRowsKernel<Body><<<grid, cfg.block, 0, stream>>>(numRows, body);
  } else {
    constexpr int kThreads = kSubWarpBlock;
    const int64_t rowsPerWarp = 32 / cfg.width;
    const int64_t warps = (numRows + rowsPerWarp - 1) / rowsPerWarp;
    const int grid = gridFor(warps * 32, kThreads, &props);
    subWarpRowsKernel<Body><<<grid, kThreads, 0, stream>>>(numRows, cfg.width, body);
  }
  KILN_CUDA_CHECK_LAUNCH(what);
  return Status::ok();
}

}  // namespace kiln::cuda::ru
