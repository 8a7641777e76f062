// CUDA kernels for the indexing ops of the ShapeOp family (ops.def): Gather, GatherElements,
// GatherND, ScatterElements, ScatterND, OneHot, TopK (Resize and GridSample live in
// kernels_resize.cu and are registered from here). They compute what
// src/backends/cpu/kernels_shape_op.cpp and kernels_indexing.cpp compute.
//
// Out-of-range indices: the CPU kernels fail with an error naming the index. A GPU kernel cannot
// report per element cheaply, so here an out-of-range gather index writes 0 (all-zero bytes) for
// the elements it would have read, and an out-of-range scatter index writes nothing. Nothing is
// ever read or written out of bounds.
//
// Scatter order: the CPU applies updates in order (with reduction "none" the last one wins, and
// float add/mul round in that order). The GPU reproduces that exactly:
//   - "none": either one thread per "line" of updates that can hit the same destinations, walking
//     them in order (ScatterElements with many lines), or a deterministic last-writer election:
//     atomicMax of the update's index per destination, then only the winner writes;
//   - add/mul on floats: one thread per line walking the updates in order (exact rounding order);
//   - integer/bool reductions and max/min: order does not change the result (integer add/mul
//     wrap modulo 2^N, max/min pick a value), so updates apply in parallel through CAS loops.
//     (Only the sign of a zero can differ for float max/min when +0 and -0 tie.)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/index_util.cuh"

namespace kiln::cuda {

namespace {

using idx::dispatchRank;
using idx::kMaxRank;
using idx::kSmallLimit;
using idx::kThreads;
using idx::Tag;

size_t alignUp256(size_t n) { return (n + 255) / 256 * 256; }

bool isIndexType(DataType t) { return t == DataType::kINT32 || t == DataType::kINT64; }

// Calls f(Tag<IdxT>{}) for an int32/int64 index tensor.
template <typename F>
void dispatchIndex(DataType t, F&& f) {
  if (t == DataType::kINT32) {
    f(Tag<int32_t>{});
  } else {
    f(Tag<int64_t>{});
  }
}

// --- Gather
// ----------------------------------------------------------------------------------------

// Output viewed as [outer, numIdx, inner] (inner in units): y[o, j, k] = x[o, idx[j], k].
template <typename U, typename IdxT, typename I>
__global__ void __launch_bounds__(kThreads)
    gatherKernel(const U* __restrict__ x, const IdxT* __restrict__ ind, U* __restrict__ y, I total,
                 I inner, I numIdx, I n) {
  using UI = std::make_unsigned_t<I>;
  for (I e = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<I>(gridDim.x) * blockDim.x) {
    const UI ue = static_cast<UI>(e);
    const UI k = ue % static_cast<UI>(inner);
    const UI t = ue / static_cast<UI>(inner);
    const UI j = t % static_cast<UI>(numIdx);
    const UI o = t / static_cast<UI>(numIdx);
    const int64_t i = idx::normalizedIndex(ind, static_cast<int64_t>(j), static_cast<int64_t>(n));
    y[e] = i < 0 ? U{} : x[(static_cast<I>(o) * n + static_cast<I>(i)) * inner + static_cast<I>(k)];
  }
}

class GatherKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& ind = ctx.inputs[1];
    mEs = dataTypeSize(x.dtype);
    if (mEs != 1 && mEs != 2 && mEs != 4 && mEs != 8)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    if (!isIndexType(ind.dtype)) return ctx.error("indices must be int32 or int64");
    mIdxType = ind.dtype;
    const int64_t rank = x.rank();
    int64_t axis = ctx.attrs().getInt("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return ctx.error("axis is out of range");
    mOuter = idx::product(x.dims, 0, static_cast<size_t>(axis));
    mN = x.dims[static_cast<size_t>(axis)];
    mInner = idx::product(x.dims, static_cast<size_t>(axis) + 1, x.dims.size());
    mNumIdx = ind.numel();
    mTotal = mOuter * mNumIdx * mInner;
    if (mTotal != ctx.outputs[0].numel()) return ctx.error("output size does not match");
    mUse64 = mTotal >= kSmallLimit || x.numel() >= kSmallLimit;
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTotal == 0) return Status::ok();
    const void* x = ctx.inputs[0].data;
    void* y = ctx.outputs[0].data;
    const size_t unit = idx::widestUnit(mEs, mInner, {}, {x, y});
    const int64_t g = static_cast<int64_t>(unit / mEs);
    const int64_t total = mTotal / g, inner = mInner / g;
    const int grid = idx::blocksFor(total, ctx.libs);
    idx::dispatchUnit(unit, [&](auto utag) {
      using U = typename decltype(utag)::type;
      dispatchIndex(mIdxType, [&](auto itag) {
        using IdxT = typename decltype(itag)::type;
        const IdxT* ind = ctx.inputs[1].as<const IdxT>();
        if (mUse64) {
          gatherKernel<U, IdxT, int64_t><<<grid, kThreads, 0, ctx.stream>>>(
              static_cast<const U*>(x), ind, static_cast<U*>(y), total, inner, mNumIdx, mN);
        } else {
          gatherKernel<U, IdxT, int32_t><<<grid, kThreads, 0, ctx.stream>>>(
              static_cast<const U*>(x), ind, static_cast<U*>(y), static_cast<int32_t>(total),
              static_cast<int32_t>(inner), static_cast<int32_t>(mNumIdx), static_cast<int32_t>(mN));
        }
      });
    });
    KILN_CUDA_CHECK_LAUNCH("gather kernel");
    return Status::ok();
  }

 private:
  size_t mEs = 4;
  DataType mIdxType = DataType::kINT64;
  int64_t mOuter = 0, mN = 0, mInner = 0, mNumIdx = 0, mTotal = 0;
  bool mUse64 = false;
};

// --- GatherElements ----------------------------------------------------------------------------

// y[c] = x[c with its axis coordinate replaced by idx[c]] over the indices' shape.
template <typename I, int R>
struct GatherElementsArgs {
  I total;
  I dims[R];  // indices dims, front-padded with 1s
  I xs[R];    // data strides (0 on padding)
  int axis;   // in padded coordinates
  I axisStride, n;
};

template <typename U, typename IdxT, typename I, int R>
__global__ void __launch_bounds__(kThreads)
    gatherElementsKernel(const __grid_constant__ GatherElementsArgs<I, R> a,
                         const U* __restrict__ x, const IdxT* __restrict__ ind, U* __restrict__ y) {
  using UI = std::make_unsigned_t<I>;
  for (I e = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; e < a.total;
       e += static_cast<I>(gridDim.x) * blockDim.x) {
    UI rem = static_cast<UI>(e);
    I off = 0;
#pragma unroll
    for (int k = R - 1; k >= 0; --k) {
      I c;
      if (k > 0) {
        c = static_cast<I>(rem % static_cast<UI>(a.dims[k]));
        rem /= static_cast<UI>(a.dims[k]);
      } else {
        c = static_cast<I>(rem);
      }
      if (k != a.axis) off += c * a.xs[k];
    }
    const int64_t i = idx::normalizedIndex(ind, static_cast<int64_t>(e), static_cast<int64_t>(a.n));
    y[e] = i < 0 ? U{} : x[off + static_cast<I>(i) * a.axisStride];
  }
}

class GatherElementsKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& ind = ctx.inputs[1];
    mEs = dataTypeSize(x.dtype);
    if (mEs != 1 && mEs != 2 && mEs != 4 && mEs != 8)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    if (!isIndexType(ind.dtype)) return ctx.error("indices must be int32 or int64");
    mIdxType = ind.dtype;
    const int64_t rank = x.rank();
    if (ind.rank() != rank) return ctx.error("indices must have the data's rank");
    if (rank > kMaxRank)
      return ctx.unsupportedHere(
          strFormat("rank %lld (> %d)", static_cast<long long>(rank), kMaxRank));
    int64_t axis = ctx.attrs().getInt("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return ctx.error("axis is out of range");
    mTotal = ind.numel();
    if (mTotal > 0) {
      for (size_t a = 0; a < static_cast<size_t>(rank); ++a)
        if (static_cast<int64_t>(a) != axis && ind.dims[a] > x.dims[a])
          return ctx.error("indices shape exceeds the data shape on axis %zu", a);
    }
    mRank = static_cast<int>(rank);
    mAxis = static_cast<int>(axis);
    mIdxDims = ind.dims;
    mXStrides = idx::stridesOf(x.dims);
    mN = x.dims[static_cast<size_t>(axis)];
    mUse64 = mTotal >= kSmallLimit || x.numel() >= kSmallLimit;
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTotal == 0) return Status::ok();
    dispatchRank(mRank, [&](auto rc) {
      constexpr int R = decltype(rc)::value;
      if (mUse64) {
        launch<int64_t, R>(ctx);
      } else {
        launch<int32_t, R>(ctx);
      }
    });
    KILN_CUDA_CHECK_LAUNCH("gather elements kernel");
    return Status::ok();
  }

 private:
  template <typename I, int R>
  void launch(const LaunchContext& ctx) {
    GatherElementsArgs<I, R> a{};
    a.total = static_cast<I>(mTotal);
    const int pad = R - mRank;
    for (int k = 0; k < R; ++k) {
      a.dims[k] = k < pad ? 1 : static_cast<I>(mIdxDims[static_cast<size_t>(k - pad)]);
      a.xs[k] = k < pad ? 0 : static_cast<I>(mXStrides[static_cast<size_t>(k - pad)]);
    }
    a.axis = mAxis + pad;
    a.axisStride = static_cast<I>(mXStrides[static_cast<size_t>(mAxis)]);
    a.n = static_cast<I>(mN);
    const int grid = idx::blocksFor(mTotal, ctx.libs);
    idx::dispatchElem(mEs, [&](auto utag) {
      using U = typename decltype(utag)::type;
      dispatchIndex(mIdxType, [&](auto itag) {
        using IdxT = typename decltype(itag)::type;
        gatherElementsKernel<U, IdxT, I, R><<<grid, kThreads, 0, ctx.stream>>>(
            a, ctx.inputs[0].as<const U>(), ctx.inputs[1].as<const IdxT>(), ctx.outputs[0].as<U>());
      });
    });
  }

  size_t mEs = 4;
  DataType mIdxType = DataType::kINT64;
  int mRank = 1, mAxis = 0;
  int64_t mTotal = 0, mN = 0;
  std::vector<int64_t> mIdxDims, mXStrides;
  bool mUse64 = false;
};

// --- GatherND
// --------------------------------------------------------------------------------------

// With b = batch_dims and m = the tuple length: out[t, s] = data[bi(t), idx[t, 0..m-1], s] where
// t runs over all index tuples (batch-major) and s over the slice (units).
template <typename I>
struct GatherNDArgs {
  I total, slice, tuples, batchStride;  // slice, batchStride in units
  int m;
  I dims[kMaxRank];     // data dims b .. b+m-1
  I strides[kMaxRank];  // their strides (units)
};

template <typename U, typename IdxT, typename I>
__global__ void __launch_bounds__(kThreads)
    gatherNDKernel(const __grid_constant__ GatherNDArgs<I> a, const U* __restrict__ x,
                   const IdxT* __restrict__ ind, U* __restrict__ y) {
  using UI = std::make_unsigned_t<I>;
  for (I e = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; e < a.total;
       e += static_cast<I>(gridDim.x) * blockDim.x) {
    const UI ue = static_cast<UI>(e);
    const I s = static_cast<I>(ue % static_cast<UI>(a.slice));
    const UI t = ue / static_cast<UI>(a.slice);
    const I bi = static_cast<I>(t / static_cast<UI>(a.tuples));
    I off = bi * a.batchStride;
    bool bad = false;
#pragma unroll
    for (int k = 0; k < kMaxRank; ++k) {
      if (k < a.m) {
        const int64_t i = idx::normalizedIndex(ind, static_cast<int64_t>(t) * a.m + k,
                                               static_cast<int64_t>(a.dims[k]));
        if (i < 0) {
          bad = true;
        } else {
          off += static_cast<I>(i) * a.strides[k];
        }
      }
    }
    y[e] = bad ? U{} : x[off + s];
  }
}

class GatherNDKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& ind = ctx.inputs[1];
    mEs = dataTypeSize(x.dtype);
    if (mEs != 1 && mEs != 2 && mEs != 4 && mEs != 8)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    if (!isIndexType(ind.dtype)) return ctx.error("indices must be int32 or int64");
    mIdxType = ind.dtype;
    const int64_t b = ctx.attrs().getInt("batch_dims", 0);
    const int64_t r = x.rank(), q = ind.rank();
    if (q < 1 || b < 0 || b >= std::min(r, q))
      return ctx.error("batch_dims=%lld is invalid", static_cast<long long>(b));
    const int64_t m = ind.dims.back();
    if (m < 1 || b + m > r)
      return ctx.error("the last dim of indices (%lld) is invalid", static_cast<long long>(m));
    if (m > kMaxRank)
      return ctx.unsupportedHere(strFormat("index tuples longer than %d", kMaxRank));
    const size_t ub = static_cast<size_t>(b), um = static_cast<size_t>(m);
    for (size_t i = 0; i < ub; ++i)
      if (x.dims[i] != ind.dims[i])
        return ctx.error("batch dim %zu differs between data and indices", i);
    mM = static_cast<int>(m);
    mTuples = idx::product(ind.dims, ub, ind.dims.size() - 1);
    mSlice = idx::product(x.dims, ub + um, x.dims.size());
    mBatchStride = idx::product(x.dims, ub, x.dims.size());
    const std::vector<int64_t> xs = idx::stridesOf(x.dims);
    for (size_t k = 0; k < um; ++k) {
      mDims[k] = x.dims[ub + k];
      mStrides[k] = xs[ub + k];
    }
    mTotal = ctx.outputs[0].numel();
    if (mTotal != idx::product(x.dims, 0, ub) * mTuples * mSlice)
      return ctx.error("output size does not match");
    mUse64 = mTotal >= kSmallLimit || x.numel() >= kSmallLimit || ind.numel() >= kSmallLimit;
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTotal == 0) return Status::ok();
    const void* x = ctx.inputs[0].data;
    void* y = ctx.outputs[0].data;
    const size_t unit = idx::widestUnit(mEs, mSlice, {}, {x, y});
    const int64_t g = static_cast<int64_t>(unit / mEs);
    if (mUse64) {
      launch<int64_t>(ctx, unit, g);
    } else {
      launch<int32_t>(ctx, unit, g);
    }
    KILN_CUDA_CHECK_LAUNCH("gather nd kernel");
    return Status::ok();
  }

 private:
  template <typename I>
  void launch(const LaunchContext& ctx, size_t unit, int64_t g) {
    GatherNDArgs<I> a{};
    a.total = static_cast<I>(mTotal / g);
    a.slice = static_cast<I>(mSlice / g);
    a.tuples = static_cast<I>(std::max<int64_t>(mTuples, 1));
    a.batchStride = static_cast<I>(mBatchStride / g);
    a.m = mM;
    for (int k = 0; k < kMaxRank; ++k) {
      a.dims[k] = static_cast<I>(k < mM ? mDims[k] : 1);
      a.strides[k] = static_cast<I>(k < mM ? mStrides[k] / g : 0);
    }
    const int grid = idx::blocksFor(mTotal / g, ctx.libs);
    idx::dispatchUnit(unit, [&](auto utag) {
      using U = typename decltype(utag)::type;
      dispatchIndex(mIdxType, [&](auto itag) {
        using IdxT = typename decltype(itag)::type;
        gatherNDKernel<U, IdxT, I><<<grid, kThreads, 0, ctx.stream>>>(
            a, ctx.inputs[0].as<const U>(), ctx.inputs[1].as<const IdxT>(), ctx.outputs[0].as<U>());
      });
    });
  }

  size_t mEs = 4;
  DataType mIdxType = DataType::kINT64;
  int mM = 1;
  int64_t mTuples = 0, mSlice = 0, mBatchStride = 0, mTotal = 0;
  int64_t mDims[kMaxRank] = {}, mStrides[kMaxRank] = {};
  bool mUse64 = false;
};

// --- ScatterElements, ScatterND
// --------------------------------------------------------------------

enum Reduction : int { kRedNone = 0, kRedAdd, kRedMul, kRedMax, kRedMin };

struct Bool8 {
  uint8_t v;
};

template <typename T>
__device__ __forceinline__ T reduceValue(T o, T v, int red) {
  if constexpr (std::is_same_v<T, Bool8>) {
    // bool: add/max are "or", mul/min are "and".
    switch (red) {
      case kRedNone: return v;
      case kRedAdd:
      case kRedMax: return Bool8{static_cast<uint8_t>(o.v != 0 || v.v != 0)};
      default: return Bool8{static_cast<uint8_t>(o.v != 0 && v.v != 0)};
    }
  } else if constexpr (std::is_integral_v<T>) {
    // Integers wrap (computed in uint64, truncated: the CPU's wrapAdd/wrapMul).
    switch (red) {
      case kRedNone: return v;
      case kRedAdd: return static_cast<T>(static_cast<uint64_t>(o) + static_cast<uint64_t>(v));
      case kRedMul: return static_cast<T>(static_cast<uint64_t>(o) * static_cast<uint64_t>(v));
      case kRedMax: return o < v ? v : o;
      default: return v < o ? v : o;
    }
  } else {
    // Floats: float16/bfloat16 compute in float and round once; max/min keep o unless v is
    // strictly better (a NaN update never wins, a NaN element stays).
    const auto a = idx::toDouble(o), c = idx::toDouble(v);
    switch (red) {
      case kRedNone: return v;
      case kRedAdd:
        if constexpr (std::is_same_v<T, double>) {
          return o + v;
        } else if constexpr (std::is_same_v<T, float>) {
          return o + v;
        } else {
          return idx::fromDouble<T>(
              static_cast<double>(static_cast<float>(a) + static_cast<float>(c)));
        }
      case kRedMul:
        if constexpr (std::is_same_v<T, double>) {
          return o * v;
        } else if constexpr (std::is_same_v<T, float>) {
          return o * v;
        } else {
          return idx::fromDouble<T>(
              static_cast<double>(static_cast<float>(a) * static_cast<float>(c)));
        }
      case kRedMax: return a < c ? v : o;
      default: return c < a ? v : o;
    }
  }
}

template <typename W, typename T>
__device__ __forceinline__ W bitsOf(T v) {
  W w = 0;
  memcpy(&w, &v, sizeof(T));
  return w;
}
template <typename T, typename W>
__device__ __forceinline__ T fromBits(W w) {
  T v;
  memcpy(&v, &w, sizeof(T));
  return v;
}

// *addr = reduceValue(*addr, v) atomically, through a CAS loop on the aligned word holding it.
template <typename T>
__device__ void atomicReduce(T* addr, T v, int red) {
  static_assert(sizeof(T) <= 8, "element too large");
  if constexpr (sizeof(T) == 8) {
    auto* p = reinterpret_cast<unsigned long long*>(addr);
    unsigned long long old = *p, assumed;
    do {
      assumed = old;
      const unsigned long long nb =
          bitsOf<unsigned long long>(reduceValue(fromBits<T>(assumed), v, red));
      if (nb == assumed) return;
      old = atomicCAS(p, assumed, nb);
    } while (old != assumed);
  } else {
    const uintptr_t at = reinterpret_cast<uintptr_t>(addr);
    auto* w = reinterpret_cast<unsigned int*>(at & ~uintptr_t{3});
    const unsigned int shift = static_cast<unsigned int>(at & 3) * 8;
    constexpr unsigned int mask = sizeof(T) == 4 ? 0xffffffffu : (1u << (8 * sizeof(T))) - 1u;
    unsigned int old = *w, assumed;
    do {
      assumed = old;
      const T cur = fromBits<T>(static_cast<unsigned int>((assumed >> shift) & mask));
      const unsigned int nv = bitsOf<unsigned int>(reduceValue(cur, v, red)) & mask;
      const unsigned int nb = (assumed & ~(mask << shift)) | (nv << shift);
      if (nb == assumed) return;
      old = atomicCAS(w, assumed, nb);
    } while (old != assumed);
  }
}

// ScatterElements destination of update u (flat over the indices' shape): u's coordinate with
// the axis coordinate replaced by idx[u]; -1 when the index is out of range.
template <typename IdxT>
struct ElementsDest {
  const IdxT* ind;
  int first;  // first real dim in the padded arrays (kMaxRank - rank)
  int axis;   // padded coordinates
  int64_t dims[kMaxRank], xs[kMaxRank];
  int64_t n;
  __device__ __forceinline__ int64_t operator()(int64_t u) const {
    const int64_t i = idx::normalizedIndex(ind, u, n);
    if (i < 0) return -1;
    uint64_t rem = static_cast<uint64_t>(u);
    int64_t off = 0;
#pragma unroll
    for (int k = kMaxRank - 1; k >= 0; --k) {
      if (k >= first) {
        const int64_t c = static_cast<int64_t>(rem % static_cast<uint64_t>(dims[k]));
        rem /= static_cast<uint64_t>(dims[k]);
        off += (k == axis ? i : c) * xs[k];
      }
    }
    return off;
  }
};

// ScatterND: update u = t * slice + s goes to block(t) * slice + s, where block(t) is the flat
// index of the tuple's leading data coordinates; -1 when an index is out of range.
template <typename IdxT>
struct NDDest {
  const IdxT* ind;
  int m;
  int64_t slice;
  int64_t dims[kMaxRank];    // data dims 0 .. m-1
  int64_t blocks[kMaxRank];  // their strides in blocks (of `slice` elements)
  __device__ __forceinline__ int64_t block(int64_t t) const {
    int64_t b = 0;
#pragma unroll
    for (int k = 0; k < kMaxRank; ++k) {
      if (k < m) {
        const int64_t i = idx::normalizedIndex(ind, t * m + k, dims[k]);
        if (i < 0) return -1;
        b += i * blocks[k];
      }
    }
    return b;
  }
  __device__ __forceinline__ int64_t operator()(int64_t u) const {
    const int64_t b = block(u / slice);
    return b < 0 ? -1 : b * slice + u % slice;
  }
};

// One thread per line l; updates u(l, j) = (l / innerL) * J * innerL + j * innerL + l % innerL for
// j = 0..J-1 in order. Lines never share a destination, so each element sees its updates in the
// CPU's order.
template <typename T, typename Dest>
__global__ void __launch_bounds__(kThreads)
    scatterSerialKernel(T* __restrict__ out, const T* __restrict__ upd,
                        const __grid_constant__ Dest dest, int64_t lines, int64_t J, int64_t innerL,
                        int red) {
  for (int64_t l = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < lines;
       l += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = (l / innerL) * J * innerL + l % innerL;
    for (int64_t j = 0; j < J; ++j) {
      const int64_t u = base + j * innerL;
      const int64_t d = dest(u);
      if (d >= 0) out[d] = reduceValue(out[d], upd[u], red);
    }
  }
}

// Order-independent reductions: every update in parallel.
template <typename T, typename Dest>
__global__ void __launch_bounds__(kThreads)
    scatterAtomicKernel(T* __restrict__ out, const T* __restrict__ upd,
                        const __grid_constant__ Dest dest, int64_t n, int red) {
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < n;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t d = dest(u);
    if (d >= 0) atomicReduce(out + d, upd[u], red);
  }
}

// Last-writer election for reduction "none" (ScatterElements): win[d] = the largest u hitting d.
template <typename Dest>
__global__ void __launch_bounds__(kThreads)
    electElementsKernel(int* __restrict__ win, const __grid_constant__ Dest dest, int64_t n) {
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < n;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t d = dest(u);
    if (d >= 0) atomicMax(win + d, static_cast<int>(u));
  }
}

template <typename U, typename Dest>
__global__ void __launch_bounds__(kThreads)
    writeWinnersKernel(U* __restrict__ out, const U* __restrict__ upd, const int* __restrict__ win,
                       const __grid_constant__ Dest dest, int64_t n) {
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < n;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t d = dest(u);
    if (d >= 0 && win[d] == static_cast<int>(u)) out[d] = upd[u];
  }
}

// ScatterND "none": last[t] = 1 when no later tuple addresses t's block. Small T: compare with
// every later tuple; large T: elect per block (win) first.
template <typename IdxT>
__global__ void __launch_bounds__(kThreads)
    lastTupleKernel(uint8_t* __restrict__ last, const __grid_constant__ NDDest<IdxT> dest,
                    int64_t tuples) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < tuples;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = dest.block(t);
    bool isLast = b >= 0;
    for (int64_t t2 = t + 1; isLast && t2 < tuples; ++t2) isLast = dest.block(t2) != b;
    last[t] = isLast ? 1 : 0;
  }
}

template <typename IdxT>
__global__ void __launch_bounds__(kThreads)
    electTuplesKernel(int* __restrict__ win, const __grid_constant__ NDDest<IdxT> dest,
                      int64_t tuples) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < tuples;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = dest.block(t);
    if (b >= 0) atomicMax(win + b, static_cast<int>(t));
  }
}

template <typename IdxT>
__global__ void __launch_bounds__(kThreads)
    winnerFlagsKernel(uint8_t* __restrict__ last, const int* __restrict__ win,
                      const __grid_constant__ NDDest<IdxT> dest, int64_t tuples) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < tuples;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = dest.block(t);
    last[t] = b >= 0 && win[b] == static_cast<int>(t) ? 1 : 0;
  }
}

// Copies the slices of the tuples flagged last (slice in units, sliceG = units per element slice).
template <typename U, typename IdxT>
__global__ void __launch_bounds__(kThreads)
    writeLastSlicesKernel(U* __restrict__ out, const U* __restrict__ upd,
                          const uint8_t* __restrict__ last,
                          const __grid_constant__ NDDest<IdxT> dest, int64_t n,
                          int64_t sliceUnits) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = e / sliceUnits;
    if (!last[t]) continue;
    const int64_t b = dest.block(t);
    out[b * sliceUnits + e % sliceUnits] = upd[e];
  }
}

// Calls f(Tag<T>{}) with T the storage type the reductions compute on.
template <typename F>
bool dispatchScatterType(DataType t, F&& f) {
  switch (t) {
    case DataType::kFLOAT: f(Tag<float>{}); return true;
    case DataType::kDOUBLE: f(Tag<double>{}); return true;
    case DataType::kHALF: f(Tag<__half>{}); return true;
    case DataType::kBF16: f(Tag<__nv_bfloat16>{}); return true;
    case DataType::kINT8: f(Tag<int8_t>{}); return true;
    case DataType::kINT16: f(Tag<int16_t>{}); return true;
    case DataType::kINT32: f(Tag<int32_t>{}); return true;
    case DataType::kINT64: f(Tag<long long>{}); return true;
    case DataType::kUINT8: f(Tag<uint8_t>{}); return true;
    case DataType::kUINT16: f(Tag<uint16_t>{}); return true;
    case DataType::kUINT32: f(Tag<uint32_t>{}); return true;
    case DataType::kUINT64: f(Tag<unsigned long long>{}); return true;
    case DataType::kBOOL: f(Tag<Bool8>{}); return true;
    // Low-precision types (float8, float4, int4/2, ...): no CUDA kernel handles them yet.
    KILN_CASE_LOW_PRECISION_TYPES: return false;
  }
  return false;
}

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
         t == DataType::kBF16;
}

StatusOr<int> reductionOf(const PrepareContext& ctx) {
  const std::string r = ctx.attrs().getString("reduction", "none");
  if (r == "none") return static_cast<int>(kRedNone);
  if (r == "add") return static_cast<int>(kRedAdd);
  if (r == "mul") return static_cast<int>(kRedMul);
  if (r == "max") return static_cast<int>(kRedMax);
  if (r == "min") return static_cast<int>(kRedMin);
  return ctx.error("reduction must be \"none\", \"add\", \"mul\", \"max\" or \"min\", got \"%s\"",
                   r.c_str());
}

enum class ScatterMode { kSerial, kAtomic, kElect };

// Shared by both scatters: copy data to the output, then apply the updates.
class ScatterBase : public CudaKernel {
 public:
  size_t workspaceSize() const override { return mWorkspace; }

 protected:
  Status prepareCommon(const PrepareContext& ctx) {
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    mEs = dataTypeSize(x.dtype);
    if (mEs != 1 && mEs != 2 && mEs != 4 && mEs != 8)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    if (!isIndexType(ctx.inputs[1].dtype)) return ctx.error("indices must be int32 or int64");
    if (ctx.inputs[2].dtype != x.dtype) return ctx.error("updates must have the data's type");
    mIdxType = ctx.inputs[1].dtype;
    KILN_ASSIGN_OR_RETURN(mRed, reductionOf(ctx));
    mDataBytes = x.bytes();
    mNumUpdates = ctx.inputs[2].numel();
    return Status::ok();
  }

  Status copyData(const LaunchContext& ctx) const {
    if (mDataBytes > 0 && ctx.inputs[0].data != ctx.outputs[0].data)
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ctx.outputs[0].data, ctx.inputs[0].data, mDataBytes,
                                                cudaMemcpyDeviceToDevice, ctx.stream));
    return Status::ok();
  }

  // Integer/bool reductions and max/min give the same result in any order.
  bool orderIndependent() const {
    return mRed == kRedMax || mRed == kRedMin || !isFloatType(mDtype);
  }

  template <typename Dest>
  Status launchSerial(const LaunchContext& ctx, const Dest& dest, int64_t lines, int64_t J,
                      int64_t innerL) {
    const int grid = idx::blocksFor(lines, ctx.libs);
    bool ok;
    if (mRed == kRedNone) {
      ok = idx::dispatchElem(mEs, [&](auto tag) {
        using U = typename decltype(tag)::type;
        scatterSerialKernel<U, Dest><<<grid, kThreads, 0, ctx.stream>>>(
            ctx.outputs[0].as<U>(), ctx.inputs[2].as<const U>(), dest, lines, J, innerL, mRed);
      });
    } else {
      ok = dispatchScatterType(mDtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        scatterSerialKernel<T, Dest><<<grid, kThreads, 0, ctx.stream>>>(
            ctx.outputs[0].as<T>(), ctx.inputs[2].as<const T>(), dest, lines, J, innerL, mRed);
      });
    }
    if (!ok) return internalError("%s: unexpected data type", ctx.node.describe().c_str());
    KILN_CUDA_CHECK_LAUNCH("scatter kernel");
    return Status::ok();
  }

  template <typename Dest>
  Status launchAtomic(const LaunchContext& ctx, const Dest& dest) {
    const int grid = idx::blocksFor(mNumUpdates, ctx.libs);
    const bool ok = dispatchScatterType(mDtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      scatterAtomicKernel<T, Dest><<<grid, kThreads, 0, ctx.stream>>>(
          ctx.outputs[0].as<T>(), ctx.inputs[2].as<const T>(), dest, mNumUpdates, mRed);
    });
    if (!ok) return internalError("%s: unexpected data type", ctx.node.describe().c_str());
    KILN_CUDA_CHECK_LAUNCH("scatter kernel");
    return Status::ok();
  }

  DataType mDtype = DataType::kFLOAT, mIdxType = DataType::kINT64;
  size_t mEs = 4, mDataBytes = 0, mWorkspace = 0;
  int mRed = kRedNone;
  int64_t mNumUpdates = 0;
  ScatterMode mMode = ScatterMode::kSerial;
};

class ScatterElementsKernel final : public ScatterBase {
 public:
  Status prepare(const PrepareContext& ctx) override {
    KILN_RETURN_IF_ERROR(prepareCommon(ctx));
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& ind = ctx.inputs[1];
    const CudaTensor& upd = ctx.inputs[2];
    const int64_t rank = x.rank();
    int64_t axis = ctx.attrs().getInt("axis", 0);
    if (axis < -rank || axis >= rank || ind.rank() != rank || upd.dims != ind.dims)
      return ctx.error(
          "data, indices and updates do not fit (same rank, indices and updates of one shape, "
          "axis in range)");
    if (axis < 0) axis += rank;
    if (rank > kMaxRank)
      return ctx.unsupportedHere(
          strFormat("rank %lld (> %d)", static_cast<long long>(rank), kMaxRank));
    for (size_t a = 0; a < static_cast<size_t>(rank); ++a)
      if (static_cast<int64_t>(a) != axis && ind.dims[a] > x.dims[a])
        return ctx.error("indices dim %zu exceeds the data's", a);
    mRank = static_cast<int>(rank);
    mAxis = static_cast<int>(axis);
    mIdxDims = ind.dims;
    mXStrides = idx::stridesOf(x.dims);
    mN = x.dims[static_cast<size_t>(axis)];
    // Lines: indices coordinates except the axis; J updates per line along the axis.
    mJ = ind.dims[static_cast<size_t>(axis)];
    mInnerL = idx::product(ind.dims, static_cast<size_t>(axis) + 1, ind.dims.size());
    mLines = mJ > 0 ? mNumUpdates / mJ : 0;
    mWorkspace = 0;
    if (mRed != kRedNone) {
      mMode = orderIndependent() ? ScatterMode::kAtomic : ScatterMode::kSerial;
    } else if (mLines >= 2048 || mJ <= 64 || mNumUpdates >= idx::kSmallLimit) {
      mMode = ScatterMode::kSerial;
    } else {
      mMode = ScatterMode::kElect;
      mWorkspace = alignUp256(static_cast<size_t>(x.numel()) * sizeof(int));
    }
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    KILN_RETURN_IF_ERROR(copyData(ctx));
    if (mNumUpdates == 0) return Status::ok();
    Status st = Status::ok();
    dispatchIndex(mIdxType, [&](auto itag) {
      using IdxT = typename decltype(itag)::type;
      ElementsDest<IdxT> dest{};
      dest.ind = ctx.inputs[1].as<const IdxT>();
      dest.first = kMaxRank - mRank;
      dest.axis = mAxis + dest.first;
      for (int k = 0; k < kMaxRank; ++k) {
        const bool real = k >= dest.first;
        dest.dims[k] = real ? mIdxDims[static_cast<size_t>(k - dest.first)] : 1;
        dest.xs[k] = real ? mXStrides[static_cast<size_t>(k - dest.first)] : 0;
      }
      dest.n = mN;
      switch (mMode) {
        case ScatterMode::kSerial: st = launchSerial(ctx, dest, mLines, mJ, mInnerL); break;
        case ScatterMode::kAtomic: st = launchAtomic(ctx, dest); break;
        case ScatterMode::kElect: st = launchElect(ctx, dest); break;
      }
    });
    return st;
  }

 private:
  template <typename Dest>
  Status launchElect(const LaunchContext& ctx, const Dest& dest) {
    int* win = static_cast<int*>(ctx.workspace);
    KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(
        win, 0xFF, static_cast<size_t>(ctx.outputs[0].numel()) * sizeof(int), ctx.stream));
    const int grid = idx::blocksFor(mNumUpdates, ctx.libs);
    electElementsKernel<Dest><<<grid, kThreads, 0, ctx.stream>>>(win, dest, mNumUpdates);
    KILN_CUDA_CHECK_LAUNCH("scatter elect kernel");
    idx::dispatchElem(mEs, [&](auto tag) {
      using U = typename decltype(tag)::type;
      writeWinnersKernel<U, Dest><<<grid, kThreads, 0, ctx.stream>>>(
          ctx.outputs[0].as<U>(), ctx.inputs[2].as<const U>(), win, dest, mNumUpdates);
    });
    KILN_CUDA_CHECK_LAUNCH("scatter write kernel");
    return Status::ok();
  }

  int mRank = 1, mAxis = 0;
  int64_t mN = 0, mJ = 0, mInnerL = 1, mLines = 0;
  std::vector<int64_t> mIdxDims, mXStrides;
};

class ScatterNDKernel final : public ScatterBase {
 public:
  Status prepare(const PrepareContext& ctx) override {
    KILN_RETURN_IF_ERROR(prepareCommon(ctx));
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& ind = ctx.inputs[1];
    if (ind.rank() < 1) return ctx.error("indices must have rank >= 1");
    const int64_t m = ind.dims.back();
    if (m < 1 || m > x.rank())
      return ctx.error("the last dim of indices (%lld) is invalid", static_cast<long long>(m));
    if (m > kMaxRank)
      return ctx.unsupportedHere(strFormat("index tuples longer than %d", kMaxRank));
    const size_t um = static_cast<size_t>(m);
    mM = static_cast<int>(m);
    mTuples = ind.numel() / m;
    mSlice = idx::product(x.dims, um, x.dims.size());
    if (mNumUpdates != mTuples * mSlice)
      return ctx.error("updates have the wrong number of elements");
    mNumBlocks = idx::product(x.dims, 0, um);
    for (size_t k = 0; k < um; ++k) {
      mDims[k] = x.dims[k];
      mBlockStrides[k] = idx::product(x.dims, k + 1, um);
    }
    mWorkspace = 0;
    if (mRed != kRedNone) {
      mMode = orderIndependent() ? ScatterMode::kAtomic : ScatterMode::kSerial;
    } else {
      mMode = ScatterMode::kElect;
      if (mTuples >= idx::kSmallLimit)
        return ctx.unsupportedHere("ScatterND with more than 2^30 index tuples");
      mWorkspace = alignUp256(static_cast<size_t>(mTuples));  // last-writer flags
      mPairwise = mTuples <= 4096;
      if (!mPairwise) mWorkspace += alignUp256(static_cast<size_t>(mNumBlocks) * sizeof(int));
    }
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    KILN_RETURN_IF_ERROR(copyData(ctx));
    if (mNumUpdates == 0) return Status::ok();
    Status st = Status::ok();
    dispatchIndex(mIdxType, [&](auto itag) {
      using IdxT = typename decltype(itag)::type;
      NDDest<IdxT> dest{};
      dest.ind = ctx.inputs[1].as<const IdxT>();
      dest.m = mM;
      dest.slice = mSlice;
      for (int k = 0; k < kMaxRank; ++k) {
        dest.dims[k] = k < mM ? mDims[k] : 1;
        dest.blocks[k] = k < mM ? mBlockStrides[k] : 0;
      }
      switch (mMode) {
        // Lines are the slice positions; each walks the tuples in order.
        case ScatterMode::kSerial: st = launchSerial(ctx, dest, mSlice, mTuples, mSlice); break;
        case ScatterMode::kAtomic: st = launchAtomic(ctx, dest); break;
        case ScatterMode::kElect: st = launchElect(ctx, dest); break;
      }
    });
    return st;
  }

 private:
  template <typename IdxT>
  Status launchElect(const LaunchContext& ctx, const NDDest<IdxT>& dest) {
    auto* last = static_cast<uint8_t*>(ctx.workspace);
    const int tgrid = idx::blocksFor(mTuples, ctx.libs);
    if (mPairwise) {
      lastTupleKernel<IdxT><<<tgrid, kThreads, 0, ctx.stream>>>(last, dest, mTuples);
      KILN_CUDA_CHECK_LAUNCH("scatter nd flags kernel");
    } else {
      int* win = reinterpret_cast<int*>(static_cast<char*>(ctx.workspace) +
                                        alignUp256(static_cast<size_t>(mTuples)));
      KILN_CUDA_RETURN_IF_ERROR(
          cudaMemsetAsync(win, 0xFF, static_cast<size_t>(mNumBlocks) * sizeof(int), ctx.stream));
      electTuplesKernel<IdxT><<<tgrid, kThreads, 0, ctx.stream>>>(win, dest, mTuples);
      KILN_CUDA_CHECK_LAUNCH("scatter nd elect kernel");
      winnerFlagsKernel<IdxT><<<tgrid, kThreads, 0, ctx.stream>>>(last, win, dest, mTuples);
      KILN_CUDA_CHECK_LAUNCH("scatter nd flags kernel");
    }
    // Slices move in the widest unit they allow.
    const size_t unit = idx::widestUnit(mEs, mSlice, {}, {ctx.outputs[0].data, ctx.inputs[2].data});
    const int64_t g = static_cast<int64_t>(unit / mEs);
    const int64_t n = mNumUpdates / g;
    const int grid = idx::blocksFor(n, ctx.libs);
    idx::dispatchUnit(unit, [&](auto tag) {
      using U = typename decltype(tag)::type;
      writeLastSlicesKernel<U, IdxT><<<grid, kThreads, 0, ctx.stream>>>(
          ctx.outputs[0].as<U>(), ctx.inputs[2].as<const U>(), last, dest, n, mSlice / g);
    });
    KILN_CUDA_CHECK_LAUNCH("scatter nd write kernel");
    return Status::ok();
  }

  int mM = 1;
  bool mPairwise = true;
  int64_t mTuples = 0, mSlice = 0, mNumBlocks = 0;
  int64_t mDims[kMaxRank] = {}, mBlockStrides[kMaxRank] = {};
};

// --- OneHot
// ------------------------------------------------------------------------------------------

// out[o, d, i] = on when the index at [o, i] (negative ones count from depth, floats truncated)
// equals d, else off; indices outside [-depth, depth) give a row of off values.
template <typename U>
__global__ void __launch_bounds__(kThreads)
    oneHotKernel(const void* __restrict__ ind, DataType idt, const U* __restrict__ values,
                 U* __restrict__ y, int64_t total, int64_t depth, int64_t inner) {
  const U off = values[0], on = values[1];
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e % inner;
    const int64_t t = e / inner;
    const int64_t d = t % depth;
    const int64_t o = t / depth;
    const double raw = idx::elementAsDouble(ind, o * inner + i, idt);
    int64_t hot = -1;
    if (isfinite(raw) && fabs(raw) < 9.0e18) {
      hot = static_cast<int64_t>(raw);
      if (hot < -depth || hot >= depth) {
        hot = -1;
      } else if (hot < 0) {
        hot += depth;
      }
    }
    y[e] = d == hot ? on : off;
  }
}

class OneHotKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& ind = ctx.inputs[0];
    const CudaTensor& values = ctx.inputs[2];
    const CudaTensor& y = ctx.outputs[0];
    if (values.numel() != 2) return ctx.error("values must have 2 elements");
    mEs = dataTypeSize(values.dtype);
    if (mEs != 1 && mEs != 2 && mEs != 4 && mEs != 8)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(values.dtype)));
    mIdxType = ind.dtype;
    const int64_t rank = ind.rank();
    int64_t axis = ctx.attrs().getInt("axis", -1);
    if (axis < -(rank + 1) || axis > rank) return ctx.error("axis is out of range");
    if (axis < 0) axis += rank + 1;
    mDepth = y.dims[static_cast<size_t>(axis)];
    if (auto d = ctx.hostDoubles(1, "depth"); d.isOk() && !d->empty()) {
      if (!(std::trunc((*d)[0]) == static_cast<double>(mDepth)))
        return ctx.error("depth %g differs from the %lld the engine was built for", (*d)[0],
                         static_cast<long long>(mDepth));
    }
    mInner = idx::product(ind.dims, static_cast<size_t>(axis), ind.dims.size());
    mTotal = y.numel();
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTotal == 0) return Status::ok();
    const int grid = idx::blocksFor(mTotal, ctx.libs);
    idx::dispatchElem(mEs, [&](auto tag) {
      using U = typename decltype(tag)::type;
      oneHotKernel<U><<<grid, kThreads, 0, ctx.stream>>>(
          ctx.inputs[0].data, mIdxType, ctx.inputs[2].as<const U>(), ctx.outputs[0].as<U>(), mTotal,
          mDepth, mInner);
    });
    KILN_CUDA_CHECK_LAUNCH("one hot kernel");
    return Status::ok();
  }

 private:
  size_t mEs = 4;
  DataType mIdxType = DataType::kINT64;
  int64_t mDepth = 0, mInner = 1, mTotal = 0;
};

// --- TopK
// ----------------------------------------------------------------------------------------------

// Rows (every position off the axis) are sorted by a bitonic network on (key, index) pairs with
// the total order "key first (descending for largest), then lower index": the order of the CPU's
// stable sort, so ties keep the lower index first. Keys: float for float32/float16/bfloat16,
// double for float64/int32/int64 (the CPU compares as double). Rows are padded to a power of two
// P with entries (index >= n) that sort last. P <= 4096: one block sorts a row in shared memory;
// longer rows sort in a global workspace (tiles of kSortTile in shared memory, the cross-tile
// steps in global memory).

template <typename T>
struct KeyOf {
  using type = float;
};
template <>
struct KeyOf<double> {
  using type = double;
};
template <>
struct KeyOf<int32_t> {
  using type = double;
};
template <>
struct KeyOf<long long> {
  using type = double;
};

__device__ __forceinline__ float toKey(float v) { return v; }
__device__ __forceinline__ float toKey(__half v) { return __half2float(v); }
__device__ __forceinline__ float toKey(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ double toKey(double v) { return v; }
__device__ __forceinline__ double toKey(int32_t v) { return v; }
__device__ __forceinline__ double toKey(long long v) { return static_cast<double>(v); }

template <typename K>
__device__ __forceinline__ bool sortsBefore(K ka, int ia, K kb, int ib, int64_t n, bool largest) {
  if (ia >= n) return false;
  if (ib >= n) return true;
  if (largest ? ka > kb : ka < kb) return true;
  return ka == kb && ia < ib;
}

// One compare-exchange step (distance j, stage k) over `size` entries; entry i has row-local
// position gbase + i, which decides the direction.
template <typename K>
__device__ __forceinline__ void bitonicStep(K* key, int* id, int size, int64_t gbase, int64_t k,
                                            int j, int64_t n, bool largest) {
  for (int t = static_cast<int>(threadIdx.x); t < size / 2; t += static_cast<int>(blockDim.x)) {
    const int i = 2 * j * (t / j) + t % j;
    const int p = i + j;
    const bool asc = ((gbase + i) & k) == 0;
    const K ka = key[i], kb = key[p];
    const int ia = id[i], ib = id[p];
    const bool swap =
        asc ? sortsBefore(kb, ib, ka, ia, n, largest) : sortsBefore(ka, ia, kb, ib, n, largest);
    if (swap) {
      key[i] = kb;
      key[p] = ka;
      id[i] = ib;
      id[p] = ia;
    }
  }
}

// Sorting network stages k = 2..size within a tile (stages up to the tile size are tile-local).
template <typename K>
__device__ void bitonicSortTile(K* key, int* id, int size, int64_t gbase, int64_t n, bool largest) {
  for (int k = 2; k <= size; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      bitonicStep(key, id, size, gbase, k, j, n, largest);
      __syncthreads();
    }
  }
}

struct TopKShape {
  int64_t rows, n, inner, k;
};

// Loads row entries [gbase, gbase + size) into shared memory (padding past n).
template <typename T, typename K>
__device__ void loadRowTile(const T* __restrict__ x, int64_t base, const TopKShape& s, K* key,
                            int* id, int size, int64_t gbase) {
  for (int p = static_cast<int>(threadIdx.x); p < size; p += static_cast<int>(blockDim.x)) {
    const int64_t g = gbase + p;
    key[p] = g < s.n ? toKey(x[base + g * s.inner]) : K{};
    id[p] = static_cast<int>(g);
  }
}

template <typename T>
__global__ void topKSharedKernel(const T* __restrict__ x, T* __restrict__ vals,
                                 int64_t* __restrict__ inds, TopKShape s, int P, bool largest) {
  using K = typename KeyOf<T>::type;
  extern __shared__ __align__(16) unsigned char smem[];
  K* key = reinterpret_cast<K*>(smem);
  int* id = reinterpret_cast<int*>(key + P);
  for (int64_t row = blockIdx.x; row < s.rows; row += gridDim.x) {
    const int64_t o = row / s.inner, i = row % s.inner;
    const int64_t base = o * s.n * s.inner + i;
    loadRowTile(x, base, s, key, id, P, 0);
    __syncthreads();
    bitonicSortTile(key, id, P, 0, s.n, largest);
    for (int64_t j = threadIdx.x; j < s.k; j += blockDim.x) {
      const int src = id[j];
      const int64_t at = (o * s.k + j) * s.inner + i;
      vals[at] = x[base + static_cast<int64_t>(src) * s.inner];
      if (inds) inds[at] = src;
    }
    __syncthreads();
  }
}

constexpr int kSortTile = 2048;
constexpr int kSortThreads = 1024;

// Global path, step 1: every tile of every row sorted (stages k <= kSortTile) into the workspace.
template <typename T>
__global__ void __launch_bounds__(kSortThreads)
    topKTileSortKernel(const T* __restrict__ x, typename KeyOf<T>::type* __restrict__ gkey,
                       int* __restrict__ gid, TopKShape s, int64_t P, bool largest) {
  using K = typename KeyOf<T>::type;
  __shared__ K key[kSortTile];
  __shared__ int id[kSortTile];
  const int64_t tilesPerRow = P / kSortTile;
  for (int64_t tile = blockIdx.x; tile < s.rows * tilesPerRow; tile += gridDim.x) {
    const int64_t row = tile / tilesPerRow;
    const int64_t gbase = (tile % tilesPerRow) * kSortTile;
    const int64_t o = row / s.inner, i = row % s.inner;
    loadRowTile(x, o * s.n * s.inner + i, s, key, id, kSortTile, gbase);
    __syncthreads();
    bitonicSortTile(key, id, kSortTile, gbase, s.n, largest);
    for (int p = static_cast<int>(threadIdx.x); p < kSortTile; p += static_cast<int>(blockDim.x)) {
      gkey[row * P + gbase + p] = key[p];
      gid[row * P + gbase + p] = id[p];
    }
    __syncthreads();
  }
}

// Global path: one cross-tile step (distance j >= kSortTile) of stage k.
template <typename K>
__global__ void __launch_bounds__(kThreads)
    topKGlobalStepKernel(K* __restrict__ gkey, int* __restrict__ gid, int64_t rows, int64_t P,
                         int64_t k, int64_t j, int64_t n, bool largest) {
  const int64_t pairs = rows * (P / 2);
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < pairs;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = t / (P / 2), tt = t % (P / 2);
    const int64_t i = 2 * j * (tt / j) + tt % j;
    const int64_t p = i + j;
    const bool asc = (i & k) == 0;
    K* key = gkey + row * P;
    int* id = gid + row * P;
    const K ka = key[i], kb = key[p];
    const int ia = id[i], ib = id[p];
    const bool swap =
        asc ? sortsBefore(kb, ib, ka, ia, n, largest) : sortsBefore(ka, ia, kb, ib, n, largest);
    if (swap) {
      key[i] = kb;
      key[p] = ka;
      id[i] = ib;
      id[p] = ia;
    }
  }
}

// Global path: the tile-local steps (j < kSortTile) of stage k.
template <typename K>
__global__ void __launch_bounds__(kSortThreads)
    topKTileMergeKernel(K* __restrict__ gkey, int* __restrict__ gid, int64_t rows, int64_t P,
                        int64_t k, int64_t n, bool largest) {
  __shared__ K key[kSortTile];
  __shared__ int id[kSortTile];
  const int64_t tilesPerRow = P / kSortTile;
  for (int64_t tile = blockIdx.x; tile < rows * tilesPerRow; tile += gridDim.x) {
    const int64_t row = tile / tilesPerRow;
    const int64_t gbase = (tile % tilesPerRow) * kSortTile;
    K* rk = gkey + row * P + gbase;
    int* ri = gid + row * P + gbase;
    for (int p = static_cast<int>(threadIdx.x); p < kSortTile; p += static_cast<int>(blockDim.x)) {
      key[p] = rk[p];
      id[p] = ri[p];
    }
    __syncthreads();
    for (int j = kSortTile / 2; j > 0; j >>= 1) {
      bitonicStep(key, id, kSortTile, gbase, k, j, n, largest);
      __syncthreads();
    }
    for (int p = static_cast<int>(threadIdx.x); p < kSortTile; p += static_cast<int>(blockDim.x)) {
      rk[p] = key[p];
      ri[p] = id[p];
    }
    __syncthreads();
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    topKOutputKernel(const T* __restrict__ x, const int* __restrict__ gid, T* __restrict__ vals,
                     int64_t* __restrict__ inds, TopKShape s, int64_t P) {
  const int64_t total = s.rows * s.k;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = e / s.k, j = e % s.k;
    const int64_t o = row / s.inner, i = row % s.inner;
    const int src = gid[row * P + j];
    const int64_t at = (o * s.k + j) * s.inner + i;
    vals[at] = x[o * s.n * s.inner + i + static_cast<int64_t>(src) * s.inner];
    if (inds) inds[at] = src;
  }
}

constexpr int kSharedMaxP = 4096;

// Calls f(Tag<T>{}) for the TopK element types (int64 as long long).
template <typename F>
bool dispatchTopKType(DataType t, F&& f) {
  switch (t) {
    case DataType::kFLOAT: f(Tag<float>{}); return true;
    case DataType::kDOUBLE: f(Tag<double>{}); return true;
    case DataType::kHALF: f(Tag<__half>{}); return true;
    case DataType::kBF16: f(Tag<__nv_bfloat16>{}); return true;
    case DataType::kINT32: f(Tag<int32_t>{}); return true;
    case DataType::kINT64: f(Tag<long long>{}); return true;
    default: return false;
  }
}

class TopKKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& vals = ctx.outputs[0];
    mDtype = x.dtype;
    if (!dispatchTopKType(mDtype, [](auto) {}))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mDtype)));
    if (ctx.outputs.size() < 2) return ctx.error("expects 2 outputs (values, indices)");
    const int64_t rank = x.rank();
    int64_t axis = ctx.attrs().getInt("axis", -1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return ctx.error("axis is out of range");
    mLargest = ctx.attrs().getInt("largest", 1) != 0;
    const size_t ua = static_cast<size_t>(axis);
    mShape.n = x.dims[ua];
    mShape.k = vals.dims[ua];  // K decides the output shape, so the output knows it
    if (mShape.k < 0 || mShape.k > mShape.n)
      return ctx.error("K = %lld is out of range for axis %lld of size %lld",
                       static_cast<long long>(mShape.k), static_cast<long long>(axis),
                       static_cast<long long>(mShape.n));
    mShape.inner = idx::product(x.dims, ua + 1, x.dims.size());
    mShape.rows = idx::product(x.dims, 0, ua) * mShape.inner;
    if (mShape.n > (int64_t{1} << 30))
      return ctx.unsupportedHere("TopK along an axis longer than 2^30 elements");
    mP = 1;
    while (mP < mShape.n) mP <<= 1;
    mKeyBytes =
        (mDtype == DataType::kFLOAT || mDtype == DataType::kHALF || mDtype == DataType::kBF16) ? 4
                                                                                               : 8;
    mWorkspace = 0;
    mShared = mP <= kSharedMaxP;
    if (!mShared) {
      mP = std::max<int64_t>(mP, kSortTile);
      const size_t entries = static_cast<size_t>(mShape.rows * mP);
      mWorkspace = alignUp256(entries * mKeyBytes) + alignUp256(entries * sizeof(int));
    }
    return Status::ok();
  }

  size_t workspaceSize() const override { return mWorkspace; }

  Status enqueue(const LaunchContext& ctx) override {
    if (mShape.rows == 0 || mShape.k == 0) return Status::ok();
    Status st = Status::ok();
    dispatchTopKType(mDtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      st = mShared ? launchShared<T>(ctx) : launchGlobal<T>(ctx);
    });
    return st;
  }

  std::string tactic() const override {
    return mShared ? "kiln bitonic (shared)" : "kiln bitonic (global)";
  }

 private:
  // The indices output (null when nothing reads it and it has no memory).
  static int64_t* indices(const LaunchContext& ctx) {
    return ctx.outputs.size() > 1 ? ctx.outputs[1].as<int64_t>() : nullptr;
  }

  template <typename T>
  Status launchShared(const LaunchContext& ctx) {
    const int P = static_cast<int>(mP);
    const int threads = std::clamp(P / 2, 32, 1024);
    const size_t smem = static_cast<size_t>(P) * (mKeyBytes + sizeof(int));
    const int grid = static_cast<int>(std::min<int64_t>(mShape.rows, int64_t{1} << 20));
    topKSharedKernel<T><<<grid, threads, smem, ctx.stream>>>(
        ctx.inputs[0].as<const T>(), ctx.outputs[0].as<T>(), indices(ctx), mShape, P, mLargest);
    KILN_CUDA_CHECK_LAUNCH("topk kernel");
    return Status::ok();
  }

  template <typename T>
  Status launchGlobal(const LaunchContext& ctx) {
    using K = typename KeyOf<T>::type;
    const size_t entries = static_cast<size_t>(mShape.rows * mP);
    K* gkey = static_cast<K*>(ctx.workspace);
    int* gid =
        reinterpret_cast<int*>(static_cast<char*>(ctx.workspace) + alignUp256(entries * sizeof(K)));
    const int64_t tiles = mShape.rows * (mP / kSortTile);
    const int tileGrid = static_cast<int>(std::min<int64_t>(tiles, int64_t{1} << 20));
    topKTileSortKernel<T><<<tileGrid, kSortThreads, 0, ctx.stream>>>(
        ctx.inputs[0].as<const T>(), gkey, gid, mShape, mP, mLargest);
    KILN_CUDA_CHECK_LAUNCH("topk tile sort kernel");
    const int stepGrid = idx::blocksFor(mShape.rows * (mP / 2), ctx.libs);
    for (int64_t k = 2 * kSortTile; k <= mP; k <<= 1) {
      for (int64_t j = k >> 1; j >= kSortTile; j >>= 1) {
        topKGlobalStepKernel<K><<<stepGrid, kThreads, 0, ctx.stream>>>(gkey, gid, mShape.rows, mP,
                                                                       k, j, mShape.n, mLargest);
        KILN_CUDA_CHECK_LAUNCH("topk step kernel");
      }
      topKTileMergeKernel<K><<<tileGrid, kSortThreads, 0, ctx.stream>>>(gkey, gid, mShape.rows, mP,
                                                                        k, mShape.n, mLargest);
      KILN_CUDA_CHECK_LAUNCH("topk merge kernel");
    }
    const int outGrid = idx::blocksFor(mShape.rows * mShape.k, ctx.libs);
    topKOutputKernel<T><<<outGrid, kThreads, 0, ctx.stream>>>(
        ctx.inputs[0].as<const T>(), gid, ctx.outputs[0].as<T>(), indices(ctx), mShape, mP);
    KILN_CUDA_CHECK_LAUNCH("topk output kernel");
    return Status::ok();
  }

  DataType mDtype = DataType::kFLOAT;
  TopKShape mShape{};
  int64_t mP = 1;
  size_t mKeyBytes = 4, mWorkspace = 0;
  bool mLargest = true, mShared = true;
};

template <typename Kernel>
StatusOr<std::unique_ptr<CudaKernel>> make(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new Kernel());
}

}  // namespace

void registerIndexingKernels(CudaKernelTable& t) {
  auto set = [&t](ir::OpKind op, CudaKernelFactory f) { t[static_cast<size_t>(op)] = f; };
  set(ir::OpKind::kGather, &make<GatherKernel>);
  set(ir::OpKind::kGatherElements, &make<GatherElementsKernel>);
  set(ir::OpKind::kGatherND, &make<GatherNDKernel>);
  set(ir::OpKind::kScatterElements, &make<ScatterElementsKernel>);
  set(ir::OpKind::kScatterND, &make<ScatterNDKernel>);
  set(ir::OpKind::kOneHot, &make<OneHotKernel>);
  set(ir::OpKind::kTopK, &make<TopKKernel>);
  registerResizeKernels(t);
}

}  // namespace kiln::cuda
