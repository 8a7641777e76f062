// CUDA kernels for the Pool family (ops.def): MaxPool, AveragePool, LpPool, GlobalAveragePool,
// GlobalMaxPool. They compute what src/backends/cpu/kernels_pool.cpp (and LpPool in
// kernels_indexing.cpp) compute:
//   - windows follow src/ir/window_params.h (parsed on the host in prepare);
//   - every tap of a window is visited in row-major kernel order, so "first maximum wins" and the
//     NaN rule (a NaN beats any number and then sticks) pick the same element as the CPU;
//   - sums (AveragePool, LpPool, GlobalAveragePool) are accumulated in double and divided in
//     double, then rounded once to the storage type (float16/bfloat16 through float, as the CPU).
// Window pools use one thread per output element; the taps that fall in the input are a box
// [lo, hi) of kernel indices per axis, computed up front so padding costs nothing.
// Global pools use one warp per (n, c) plane (small planes, or many of them) or one block per
// plane, with 16-byte loads when the plane size allows, and shuffle reductions.
// Channels-last layers (ir/channels_last.h, 2-D MaxPool/AveragePool/GlobalAveragePool/
// GlobalMaxPool with X [N, H, W, C]) have their own kernels: one thread per (pixel, 8 channels)
// with 16-byte vectors when C % 8 == 0 (16-bit types), visiting the taps in the same order.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "backends/cuda/cuda_kernel.h"
#include "ir/channels_last.h"
#include "ir/window_params.h"

namespace kiln::cuda {

namespace {

constexpr int kMaxSpatial = 6;  // rank <= 8

// --- element conversions ------------------------------------------------------------------------

__device__ __forceinline__ double toDouble(float v) { return v; }
__device__ __forceinline__ double toDouble(double v) { return v; }
__device__ __forceinline__ double toDouble(__half v) { return __half2float(v); }
__device__ __forceinline__ double toDouble(__nv_bfloat16 v) { return __bfloat162float(v); }

// The type values are compared in for the max pools (exact for every storage type).
template <typename T>
struct CmpOf {
  using type = float;
};
template <>
struct CmpOf<double> {
  using type = double;
};
template <>
struct CmpOf<int8_t> {
  using type = int;
};
template <>
struct CmpOf<uint8_t> {
  using type = int;
};

__device__ __forceinline__ float toCmp(float v) { return v; }
__device__ __forceinline__ double toCmp(double v) { return v; }
__device__ __forceinline__ float toCmp(__half v) { return __half2float(v); }
__device__ __forceinline__ float toCmp(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ int toCmp(int8_t v) { return v; }
__device__ __forceinline__ int toCmp(uint8_t v) { return v; }

__device__ __forceinline__ bool isNaN(float v) { return v != v; }
__device__ __forceinline__ bool isNaN(double v) { return v != v; }
__device__ __forceinline__ bool isNaN(int) { return false; }

// double -> storage type, one rounding (float16/bfloat16 via float, as the CPU's storeFromDouble).
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

// float -> storage type (global max pool of float16/bfloat16/float values: exact).
template <typename T>
__device__ __forceinline__ T fromCmp(typename CmpOf<T>::type v) {
  return fromDouble<T>(static_cast<double>(v));
}

__device__ __forceinline__ double quietNaN() { return __longlong_as_double(0x7ff8000000000000LL); }
__device__ __forceinline__ double negInf() {
  return __longlong_as_double(static_cast<long long>(0xfff0000000000000ULL));
}

// What a window that sees only padding yields in MaxPool: -inf for floats, the minimum for ints.
template <typename T>
__device__ __forceinline__ T lowestValue() {
  return fromDouble<T>(negInf());
}
template <>
__device__ __forceinline__ int8_t lowestValue<int8_t>() {
  return -128;
}
template <>
__device__ __forceinline__ uint8_t lowestValue<uint8_t>() {
  return 0;
}

// --- window geometry ----------------------------------------------------------------------------
// (host + device: the geometry can be replayed on the host against the CPU kernel.)
#ifdef __CUDA_ARCH__
#define KILN_POOL_UNROLL _Pragma("unroll")
#else
#define KILN_POOL_UNROLL
#endif

// I is int32_t when every flat index fits (the fast path) or int64_t.
template <typename I>
struct PoolParams {
  int nsp = 0;
  I planes = 0, inVol = 1, outVol = 1;
  I in[kMaxSpatial] = {}, out[kMaxSpatial] = {}, k[kMaxSpatial] = {}, s[kMaxSpatial] = {};
  I dil[kMaxSpatial] = {}, pb[kMaxSpatial] = {}, pe[kMaxSpatial] = {};
  I colStride[kMaxSpatial] = {};  // column-major strides of the spatial dims (storage_order=1)
};

template <typename I>
__host__ __device__ __forceinline__ I ceilDivPos(I a, I b) {
  return (a + b - 1) / b;
}

// One output position's window: the first tap's coordinate per axis and the range [lo, hi) of
// kernel indices whose tap lies inside the input (hi <= lo: none).
template <int NSP, typename I>
struct Window {
  static constexpr int kN = NSP > 0 ? NSP : kMaxSpatial;
  I start[kN], lo[kN], hi[kN];
};

template <int NSP, typename I>
__host__ __device__ __forceinline__ void windowAt(const PoolParams<I>& p, I o, Window<NSP, I>& w) {
  const int nsp = NSP > 0 ? NSP : p.nsp;
  KILN_POOL_UNROLL
  for (int d = Window<NSP, I>::kN - 1; d >= 0; --d) {
    if (d < nsp) {
      const I oc = o % p.out[d];
      o /= p.out[d];
      const I st = oc * p.s[d] - p.pb[d];
      const I room = p.in[d] - st;  // taps at st + k*dil < in
      w.start[d] = st;
      w.lo[d] = st < 0 ? ceilDivPos<I>(-st, p.dil[d]) : I(0);
      const I reach = room > 0 ? ceilDivPos<I>(room, p.dil[d]) : I(0);
      w.hi[d] = reach < p.k[d] ? reach : p.k[d];
    }
  }
}

// Taps inside the input (product of the per-axis ranges).
template <int NSP, typename I>
__host__ __device__ __forceinline__ I insideCount(const PoolParams<I>& p, const Window<NSP, I>& w) {
  const int nsp = NSP > 0 ? NSP : p.nsp;
  I n = 1;
  KILN_POOL_UNROLL
  for (int d = 0; d < Window<NSP, I>::kN; ++d)
    if (d < nsp) n *= w.hi[d] > w.lo[d] ? w.hi[d] - w.lo[d] : I(0);
  return n;
}

// Taps inside the padded input [-pb, in + pe) (count_include_pad): a window always starts at or
// after -pb, so only the end bound matters.
template <int NSP, typename I>
__host__ __device__ __forceinline__ I paddedCount(const PoolParams<I>& p, const Window<NSP, I>& w) {
  const int nsp = NSP > 0 ? NSP : p.nsp;
  I n = 1;
  KILN_POOL_UNROLL
  for (int d = 0; d < Window<NSP, I>::kN; ++d) {
    if (d < nsp) {
      const I room = p.in[d] + p.pe[d] - w.start[d];
      const I reach = room > 0 ? ceilDivPos<I>(room, p.dil[d]) : I(0);
      n *= reach < p.k[d] ? reach : p.k[d];
    }
  }
  return n;
}

// Calls f(row, col) for every inside tap in row-major kernel order; row is the tap's row-major
// offset in the plane, col its column-major offset (MaxPool's storage_order=1 indices).
template <int NSP, typename I, typename F>
__host__ __device__ __forceinline__ void forEachTap(const PoolParams<I>& p, const Window<NSP, I>& w,
                                                    F&& f) {
  if constexpr (NSP == 1) {
    for (I k0 = w.lo[0]; k0 < w.hi[0]; ++k0) {
      const I p0 = w.start[0] + k0 * p.dil[0];
      f(p0, p0);
    }
  } else if constexpr (NSP == 2) {
    for (I k0 = w.lo[0]; k0 < w.hi[0]; ++k0) {
      const I p0 = w.start[0] + k0 * p.dil[0];
      for (I k1 = w.lo[1]; k1 < w.hi[1]; ++k1) {
        const I p1 = w.start[1] + k1 * p.dil[1];
        f(p0 * p.in[1] + p1, p0 + p1 * p.colStride[1]);
      }
    }
  } else if constexpr (NSP == 3) {
    for (I k0 = w.lo[0]; k0 < w.hi[0]; ++k0) {
      const I p0 = w.start[0] + k0 * p.dil[0];
      for (I k1 = w.lo[1]; k1 < w.hi[1]; ++k1) {
        const I p1 = w.start[1] + k1 * p.dil[1];
        const I r01 = p0 * p.in[1] + p1, c01 = p0 + p1 * p.colStride[1];
        for (I k2 = w.lo[2]; k2 < w.hi[2]; ++k2) {
          const I p2 = w.start[2] + k2 * p.dil[2];
          f(r01 * p.in[2] + p2, c01 + p2 * p.colStride[2]);
        }
      }
    }
  } else {
    // Any rank: an odometer over the box, last axis fastest.
    const int nsp = p.nsp;
    I kc[kMaxSpatial];
    for (int d = 0; d < nsp; ++d) {
      if (w.hi[d] <= w.lo[d]) return;
      kc[d] = w.lo[d];
    }
    while (true) {
      I row = 0, col = 0;
      for (int d = 0; d < nsp; ++d) {
        const I pos = w.start[d] + kc[d] * p.dil[d];
        row = row * p.in[d] + pos;
        col += pos * p.colStride[d];
      }
      f(row, col);
      int d = nsp - 1;
      for (; d >= 0; --d) {
        if (++kc[d] < w.hi[d]) break;
        kc[d] = w.lo[d];
      }
      if (d < 0) return;
    }
  }
}

// --- window pool kernels ------------------------------------------------------------------------

template <typename T, int NSP, typename I>
__global__ void maxPoolKernel(const T* __restrict__ x, T* __restrict__ y,
                              int64_t* __restrict__ indices, PoolParams<I> p, bool columnMajor,
                              I total) {
  using C = typename CmpOf<T>::type;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I plane = i / p.outVol;
    Window<NSP, I> w;
    windowAt<NSP, I>(p, i - plane * p.outVol, w);
    const T* xp = x + plane * p.inVol;
    C best = C(0);
    T bestVal = T();
    I bestRow = -1, bestCol = -1;
    forEachTap<NSP, I>(p, w, [&](I row, I col) {
      const T raw = xp[row];
      const C v = toCmp(raw);
      if (bestRow < 0 || v > best || (isNaN(v) && !isNaN(best))) {
        best = v;
        bestVal = raw;
        bestRow = row;
        bestCol = col;
      }
    });
    y[i] = bestRow >= 0 ? bestVal : lowestValue<T>();
    if (indices)
      indices[i] = bestRow < 0
                       ? int64_t{-1}
                       : static_cast<int64_t>(plane) * p.inVol + (columnMajor ? bestCol : bestRow);
  }
}

template <typename T, int NSP, typename I>
__global__ void averagePoolKernel(const T* __restrict__ x, T* __restrict__ y, PoolParams<I> p,
                                  bool countIncludePad, I total) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I plane = i / p.outVol;
    Window<NSP, I> w;
    windowAt<NSP, I>(p, i - plane * p.outVol, w);
    const T* xp = x + plane * p.inVol;
    double sum = 0;
    forEachTap<NSP, I>(p, w, [&](I row, I) { sum += toDouble(xp[row]); });
    const I count = countIncludePad ? paddedCount<NSP, I>(p, w) : insideCount<NSP, I>(p, w);
    y[i] = fromDouble<T>(count > 0 ? sum / static_cast<double>(count) : quietNaN());
  }
}

// LpPool: (sum of |x|^p over the inside taps)^(1/p); padding contributes 0. pMode 1 and 2 use
// the exact forms of pow(v, 1) / pow(v, 2) and sqrt for the root.
template <typename T, int NSP, typename I>
__global__ void lpPoolKernel(const T* __restrict__ x, T* __restrict__ y, PoolParams<I> p, int pMode,
                             double pw, I total) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I plane = i / p.outVol;
    Window<NSP, I> w;
    windowAt<NSP, I>(p, i - plane * p.outVol, w);
    const T* xp = x + plane * p.inVol;
    double sum = 0;
    forEachTap<NSP, I>(p, w, [&](I row, I) {
      const double a = fabs(toDouble(xp[row]));
      // __dmul_rn: no FMA contraction into the sum (the CPU rounds the square first).
      sum += pMode == 1 ? a : pMode == 2 ? __dmul_rn(a, a) : pow(a, pw);
    });
    y[i] = fromDouble<T>(pMode == 1 ? sum : pMode == 2 ? sqrt(sum) : pow(sum, 1.0 / pw));
  }
}

// Channels-last (ir/channels_last.h) MaxPool / AveragePool, 2-D: x [N, H, W, C], y [N, OH, OW, C].
// One thread per (image, output pixel, VEC consecutive channels); VEC = 8 reads 16-byte vectors
// (16-bit types, C % 8 == 0, x and y 16-byte aligned). Every tap of the window is visited in the
// same row-major order as the NCHW kernels, so the same element wins (first maximum, NaN rule)
// and the same sum is formed.
template <typename T, int VEC>
struct PoolVec {
  T e[VEC];
};

template <typename T, int VEC>
__device__ __forceinline__ PoolVec<T, VEC> loadVec(const T* p) {
  PoolVec<T, VEC> v;
  if constexpr (VEC == 8 && sizeof(T) == 2) {
    union {
      uint4 u;
      T e[8];
    } pack;
    pack.u = *reinterpret_cast<const uint4*>(p);
#pragma unroll
    for (int j = 0; j < 8; ++j) v.e[j] = pack.e[j];
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) v.e[j] = p[j];
  }
  return v;
}

template <typename T, int VEC>
__device__ __forceinline__ void storeVec(T* p, const PoolVec<T, VEC>& v) {
  if constexpr (VEC == 8 && sizeof(T) == 2) {
    union {
      uint4 u;
      T e[8];
    } pack;
#pragma unroll
    for (int j = 0; j < 8; ++j) pack.e[j] = v.e[j];
    *reinterpret_cast<uint4*>(p) = pack.u;
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) p[j] = v.e[j];
  }
}

template <typename T, bool kMax, int VEC, typename I>
__global__ void windowPoolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, PoolParams<I> p,
                                     I channels, bool countIncludePad, I total) {
  using C = typename CmpOf<T>::type;
  const I cv = channels / VEC;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I c0 = (i % cv) * VEC;
    const I pix = i / cv;  // n * outVol + output pixel
    const I n = pix / p.outVol;
    Window<2, I> w;
    windowAt<2, I>(p, pix - n * p.outVol, w);
    const T* xp = x + n * p.inVol * channels + c0;
    PoolVec<T, VEC> out;
    if constexpr (kMax) {
      C best[VEC];
      bool any = false;
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        best[j] = C(0);
        out.e[j] = lowestValue<T>();
      }
      forEachTap<2, I>(p, w, [&](I row, I) {
        const PoolVec<T, VEC> raw = loadVec<T, VEC>(xp + row * channels);
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const C v = toCmp(raw.e[j]);
          if (!any || v > best[j] || (isNaN(v) && !isNaN(best[j]))) {
            best[j] = v;
            out.e[j] = raw.e[j];
          }
        }
        any = true;
      });
    } else {
      double sum[VEC];
#pragma unroll
      for (int j = 0; j < VEC; ++j) sum[j] = 0;
      forEachTap<2, I>(p, w, [&](I row, I) {
        const PoolVec<T, VEC> raw = loadVec<T, VEC>(xp + row * channels);
#pragma unroll
        for (int j = 0; j < VEC; ++j) sum[j] += toDouble(raw.e[j]);
      });
      const I count = countIncludePad ? paddedCount<2, I>(p, w) : insideCount<2, I>(p, w);
#pragma unroll
      for (int j = 0; j < VEC; ++j)
        out.e[j] = fromDouble<T>(count > 0 ? sum[j] / static_cast<double>(count) : quietNaN());
    }
    storeVec<T, VEC>(y + pix * channels + c0, out);
  }
}

// --- dispatch helpers ---------------------------------------------------------------------------

template <typename T>
struct Tag {
  using type = T;
};

// Calls f(Tag<T>{}) for the float storage types; false for other dtypes.
template <typename F>
bool dispatchFloat(DataType t, F&& f) {
  switch (t) {
    case DataType::kFLOAT: f(Tag<float>{}); return true;
    case DataType::kDOUBLE: f(Tag<double>{}); return true;
    case DataType::kHALF: f(Tag<__half>{}); return true;
    case DataType::kBF16: f(Tag<__nv_bfloat16>{}); return true;
    default: return false;
  }
}

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
         t == DataType::kBF16;
}

constexpr int kPoolThreads = 256;

// --- MaxPool / AveragePool / LpPool -------------------------------------------------------------

class WindowPoolKernel final : public CudaKernel {
 public:
  explicit WindowPoolKernel(ir::OpKind op) : mOp(op) {}

  Status prepare(const PrepareContext& ctx) override {
    // Channels-last (ir/channels_last.h): X [N, H, W, C], Y [N, OH, OW, C]; the geometry below
    // reads the logical NCHW dims.
    mChannelsLast = ir::isChannelsLast(ctx.node);
    if (mChannelsLast) {
      if (mOp == ir::OpKind::kLpPool || ctx.inputs[0].rank() != 4 || ctx.outputs.size() != 1 ||
          ctx.outputs[0].rank() != 4)
        return ctx.error("channels_last needs MaxPool/AveragePool with 4-D X and one output");
      if (!isFloatType(ctx.inputs[0].dtype))
        return ctx.unsupportedHere(
            strFormat("channels_last data type %s", dataTypeName(ctx.inputs[0].dtype)));
    }
    auto logical = [&](const std::vector<int64_t>& d) {
      return mChannelsLast ? std::vector<int64_t>{d[0], d[3], d[1], d[2]} : d;
    };
    struct LogicalTensor {
      std::vector<int64_t> dims;
      DataType dtype;
      int64_t numel;
      int64_t rank() const { return static_cast<int64_t>(dims.size()); }
    };
    const LogicalTensor x{logical(ctx.inputs[0].dims), ctx.inputs[0].dtype, ctx.inputs[0].numel()};
    const LogicalTensor y{logical(ctx.outputs[0].dims), ctx.outputs[0].dtype,
                          ctx.outputs[0].numel()};
    mChannels = x.rank() >= 2 ? x.dims[1] : 0;
    if (x.rank() < 3)
      return ctx.error("input must have rank >= 3, got %s", ir::dimsToString(x.dims).c_str());
    const size_t nsp = static_cast<size_t>(x.rank() - 2);
    if (nsp > static_cast<size_t>(kMaxSpatial))
      return ctx.unsupportedHere(
          strFormat("pooling over %zu spatial dims (at most %d)", nsp, kMaxSpatial));
    const bool intOk =
        mOp == ir::OpKind::kMaxPool && (x.dtype == DataType::kINT8 || x.dtype == DataType::kUINT8);
    if (!isFloatType(x.dtype) && !intOk)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    KILN_ASSIGN_OR_RETURN(ir::WindowParams w,
                          ir::parseWindowParams(ctx.attrs(), nsp, {}, true, ctx.node.describe()));
    std::vector<int64_t> in(x.dims.begin() + 2, x.dims.end());
    for (size_t i = 0; i < nsp; ++i) {
      const ir::DimExpr o = ir::windowOutputDim(w, i, ir::DimExpr(in[i]));
      if (!o.isConst() || o.constValue() != y.dims[i + 2])
        return internalError("%s: output dims %s disagree with the pooling geometry",
                             ctx.node.describe().c_str(), ir::dimsToString(y.dims).c_str());
    }
    const std::vector<int64_t> pads = ir::resolveWindowPads(w, in);
    if (mOp == ir::OpKind::kLpPool) {
      const int64_t pv = ctx.attrs().getInt("p", 2);
      if (pv < 1) return ctx.error("p must be a positive integer, got %g", static_cast<double>(pv));
      mP = static_cast<double>(pv);
      mPMode = pv == 1 ? 1 : pv == 2 ? 2 : 0;
    }
    mColumnMajor = ctx.attrs().getInt("storage_order", 0) == 1;
    mCountIncludePad = ctx.attrs().getInt("count_include_pad", 0) != 0;

    PoolParams<int64_t> p;
    p.nsp = static_cast<int>(nsp);
    p.planes = x.dims[0] * x.dims[1];
    int64_t col = 1;
    for (size_t i = 0; i < nsp; ++i) {
      p.in[i] = in[i];
      p.out[i] = y.dims[i + 2];
      p.k[i] = w.kernel[i];
      p.s[i] = w.strides[i];
      p.dil[i] = w.dilations[i];
      p.pb[i] = pads[i];
      p.pe[i] = pads[i + nsp];
      p.colStride[i] = col;
      col *= in[i];
      p.inVol *= in[i];
      p.outVol *= p.out[i];
    }
    mParams64 = p;
    mTotal = y.numel;
    // 32-bit indexing when every flat index, every intermediate coordinate (oc*s - pb,
    // k*dil, in + pe - start) and the grid-stride step past the end stay below 2^31.
    const int64_t limit = int64_t{1} << 30;
    mUse32 = nsp <= 3 && x.numel < limit && mTotal < limit;
    for (size_t i = 0; i < nsp && mUse32; ++i) {
      mUse32 = p.k[i] < limit && p.s[i] < limit && p.dil[i] < limit && p.pb[i] < limit &&
               p.pe[i] < limit;
      if (mUse32) {
        const int64_t reach =
            p.in[i] + p.pb[i] + p.pe[i] + (p.k[i] - 1) * p.dil[i] + p.s[i] * (p.out[i] + 1);
        mUse32 = reach < limit;
      }
    }
    if (mUse32) {
      PoolParams<int32_t>& q = mParams32;
      q.nsp = p.nsp;
      q.planes = static_cast<int32_t>(p.planes);
      q.inVol = static_cast<int32_t>(p.inVol);
      q.outVol = static_cast<int32_t>(p.outVol);
      for (int i = 0; i < kMaxSpatial; ++i) {
        q.in[i] = static_cast<int32_t>(p.in[i]);
        q.out[i] = static_cast<int32_t>(p.out[i]);
        q.k[i] = static_cast<int32_t>(p.k[i]);
        q.s[i] = static_cast<int32_t>(p.s[i]);
        q.dil[i] = static_cast<int32_t>(p.dil[i]);
        q.pb[i] = static_cast<int32_t>(p.pb[i]);
        q.pe[i] = static_cast<int32_t>(p.pe[i]);
        q.colStride[i] = static_cast<int32_t>(p.colStride[i]);
      }
    }
    mGrid = gridFor(mTotal, kPoolThreads, &ctx.libs.props());
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTotal == 0) return Status::ok();
    const CudaTensor& x = ctx.inputs[0];
    CudaTensor& y = ctx.outputs[0];
    if (mChannelsLast) return enqueueNhwc(x, y, ctx);
    int64_t* indices = nullptr;
    if (mOp == ir::OpKind::kMaxPool && ctx.outputs.size() > 1 && ctx.outputs[1].present())
      indices = ctx.outputs[1].as<int64_t>();
    auto launch = [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (mUse32) {
        switch (mParams32.nsp) {
          case 1:
            launchTyped<T, 1>(x, y, indices, mParams32, static_cast<int32_t>(mTotal), ctx.stream);
            break;
          case 2:
            launchTyped<T, 2>(x, y, indices, mParams32, static_cast<int32_t>(mTotal), ctx.stream);
            break;
          default:
            launchTyped<T, 3>(x, y, indices, mParams32, static_cast<int32_t>(mTotal), ctx.stream);
            break;
        }
      } else {
        launchTyped<T, 0>(x, y, indices, mParams64, mTotal, ctx.stream);
      }
    };
    bool ok = dispatchFloat(x.dtype, launch);
    if (!ok && mOp == ir::OpKind::kMaxPool) {
      if (x.dtype == DataType::kINT8) {
        launch(Tag<int8_t>{});
        ok = true;
      } else if (x.dtype == DataType::kUINT8) {
        launch(Tag<uint8_t>{});
        ok = true;
      }
    }
    if (!ok)
      return internalError("%s: unexpected data type %s", ctx.node.describe().c_str(),
                           dataTypeName(x.dtype));
    KILN_CUDA_CHECK_LAUNCH("pool kernel");
    return Status::ok();
  }

 private:
  Status enqueueNhwc(const CudaTensor& x, CudaTensor& y, const LaunchContext& ctx) const {
    auto aligned16 = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
    const bool isMax = mOp == ir::OpKind::kMaxPool;
    const DeviceProps& props = ctx.libs.props();
    const bool ok = dispatchFloat(x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const bool vec8 =
          sizeof(T) == 2 && mChannels % 8 == 0 && aligned16(x.data) && aligned16(y.data);
      const int64_t total = vec8 ? mTotal / 8 : mTotal;
      const int grid = gridFor(total, kPoolThreads, &props);
      auto go = [&](auto vecTag, auto params) {
        constexpr int kVec = decltype(vecTag)::value;
        using I = std::remove_cv_t<std::remove_reference_t<decltype(params.planes)>>;
        if (isMax)
          windowPoolNhwcKernel<T, true, kVec, I><<<grid, kPoolThreads, 0, ctx.stream>>>(
              x.as<const T>(), y.as<T>(), params, static_cast<I>(mChannels), mCountIncludePad,
              static_cast<I>(total));
        else
          windowPoolNhwcKernel<T, false, kVec, I><<<grid, kPoolThreads, 0, ctx.stream>>>(
              x.as<const T>(), y.as<T>(), params, static_cast<I>(mChannels), mCountIncludePad,
              static_cast<I>(total));
      };
      if (vec8) {
        if (mUse32)
          go(std::integral_constant<int, 8>{}, mParams32);
        else
          go(std::integral_constant<int, 8>{}, mParams64);
      } else {
        if (mUse32)
          go(std::integral_constant<int, 1>{}, mParams32);
        else
          go(std::integral_constant<int, 1>{}, mParams64);
      }
    });
    if (!ok)
      return internalError("%s: unexpected data type %s", ctx.node.describe().c_str(),
                           dataTypeName(x.dtype));
    KILN_CUDA_CHECK_LAUNCH("channels-last pool kernel");
    return Status::ok();
  }

  template <typename T, int NSP, typename I>
  void launchTyped(const CudaTensor& x, CudaTensor& y, int64_t* indices, const PoolParams<I>& p,
                   I total, cudaStream_t stream) const {
    const T* xp = x.as<const T>();
    T* yp = y.as<T>();
    if (mOp == ir::OpKind::kMaxPool) {
      maxPoolKernel<T, NSP, I>
          <<<mGrid, kPoolThreads, 0, stream>>>(xp, yp, indices, p, mColumnMajor, total);
    } else if constexpr (!std::is_integral_v<T>) {
      if (mOp == ir::OpKind::kAveragePool) {
        averagePoolKernel<T, NSP, I>
            <<<mGrid, kPoolThreads, 0, stream>>>(xp, yp, p, mCountIncludePad, total);
      } else {
        lpPoolKernel<T, NSP, I><<<mGrid, kPoolThreads, 0, stream>>>(xp, yp, p, mPMode, mP, total);
      }
    }
  }

  ir::OpKind mOp;
  bool mChannelsLast = false;
  int64_t mChannels = 0;
  PoolParams<int64_t> mParams64;
  PoolParams<int32_t> mParams32;
  bool mUse32 = false;
  bool mColumnMajor = false;
  bool mCountIncludePad = false;
  int mPMode = 2;
  double mP = 2;
  int64_t mTotal = 0;
  int mGrid = 1;
};

template <ir::OpKind Op>
StatusOr<std::unique_ptr<CudaKernel>> makeWindowPool(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new WindowPoolKernel(Op));
}

// --- GlobalAveragePool / GlobalMaxPool ----------------------------------------------------------

// Accumulators: sums in double (as the CPU), maxima in the comparison type.
template <typename T, bool kMax>
struct GlobalAcc {
  using type = std::conditional_t<kMax, typename CmpOf<T>::type, double>;
};

template <bool kMax, typename A>
__device__ __forceinline__ A globalInit() {
  if constexpr (kMax) {
    return static_cast<A>(negInf());
  } else {
    return A(0);
  }
}

// Max with NaN propagation (a NaN wins and sticks, as the CPU's sequential rule).
template <bool kMax, typename A>
__device__ __forceinline__ A globalCombine(A a, A b) {
  if constexpr (kMax) {
    return isNaN(a) ? a : (isNaN(b) ? b : (b > a ? b : a));
  } else {
    return a + b;
  }
}

template <bool kMax, typename T>
__device__ __forceinline__ typename GlobalAcc<T, kMax>::type globalLoad(T v) {
  if constexpr (kMax) {
    return toCmp(v);
  } else {
    return toDouble(v);
  }
}

template <bool kMax, typename A>
__device__ __forceinline__ A warpReduce(A v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1)
    v = globalCombine<kMax>(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Partial reduction of one plane by `lanes` threads starting at `lane`. VEC > 1: the plane is
// read in 16-byte vectors (plane size a multiple of VEC and the base 16-byte aligned).
template <typename T, bool kMax, int VEC>
__device__ __forceinline__ typename GlobalAcc<T, kMax>::type planePartial(const T* __restrict__ xp,
                                                                          int64_t vol, int lane,
                                                                          int lanes) {
  using A = typename GlobalAcc<T, kMax>::type;
  A acc = globalInit<kMax, A>();
  if constexpr (VEC > 1) {
    const uint4* xv = reinterpret_cast<const uint4*>(xp);
    const int64_t nv = vol / VEC;
    for (int64_t i = lane; i < nv; i += lanes) {
      union {
        uint4 u;
        T e[VEC];
      } pack;
      pack.u = __ldg(xv + i);
#pragma unroll
      for (int j = 0; j < VEC; ++j) acc = globalCombine<kMax>(acc, globalLoad<kMax>(pack.e[j]));
    }
  } else {
    for (int64_t i = lane; i < vol; i += lanes)
      acc = globalCombine<kMax>(acc, globalLoad<kMax>(xp[i]));
  }
  return acc;
}

template <typename T, bool kMax>
__device__ __forceinline__ T globalFinish(typename GlobalAcc<T, kMax>::type acc, int64_t vol) {
  if constexpr (kMax) {
    return fromCmp<T>(acc);
  } else {
    return fromDouble<T>(vol > 0 ? acc / static_cast<double>(vol) : quietNaN());
  }
}

// One warp per plane (grid-stride over planes).
template <typename T, bool kMax, int VEC>
__global__ void globalPoolWarpKernel(const T* __restrict__ x, T* __restrict__ y, int64_t planes,
                                     int64_t vol) {
  const int lane = threadIdx.x & 31;
  const int64_t warpsPerGrid = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t plane = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
       plane < planes; plane += warpsPerGrid) {
    auto acc = planePartial<T, kMax, VEC>(x + plane * vol, vol, lane, 32);
    acc = warpReduce<kMax>(acc);
    if (lane == 0) y[plane] = globalFinish<T, kMax>(acc, vol);
  }
}

// One block per plane (grid-stride over planes): warp shuffles, then one warp over the partials.
template <typename T, bool kMax, int VEC>
__global__ void globalPoolBlockKernel(const T* __restrict__ x, T* __restrict__ y, int64_t planes,
                                      int64_t vol) {
  using A = typename GlobalAcc<T, kMax>::type;
  __shared__ A partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nWarps = blockDim.x >> 5;
  for (int64_t plane = blockIdx.x; plane < planes; plane += gridDim.x) {
    A acc = planePartial<T, kMax, VEC>(x + plane * vol, vol, threadIdx.x, blockDim.x);
    acc = warpReduce<kMax>(acc);
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = lane < nWarps ? partial[lane] : globalInit<kMax, A>();
      acc = warpReduce<kMax>(acc);
      if (lane == 0) y[plane] = globalFinish<T, kMax>(acc, vol);
    }
    __syncthreads();  // partial[] is reused by the next plane
  }
}

// Channels-last global pools (ir/channels_last.h): x [N, H, W, C] -> y [N, 1, 1, C]. A block
// covers kGpX vectors of VEC consecutive channels of one image (tile); its kGpY rows of threads
// split the H*W pixels, and the partial results meet in shared memory. VEC = 8: 16-byte loads
// (16-bit types, C % 8 == 0, x 16-byte aligned).
constexpr int kGpX = 32, kGpY = 8;

template <typename T, bool kMax, int VEC>
__global__ void globalPoolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, int64_t batch,
                                     int64_t vol, int64_t channels) {
  using A = typename GlobalAcc<T, kMax>::type;
  __shared__ A part[kGpY][kGpX][VEC];
  const int64_t cv = channels / VEC;
  const int64_t tilesPerImage = (cv + kGpX - 1) / kGpX;
  const int64_t tiles = batch * tilesPerImage;
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t n = tile / tilesPerImage;
    const int64_t v = (tile % tilesPerImage) * kGpX + tx;  // channel vector
    A acc[VEC];
#pragma unroll
    for (int j = 0; j < VEC; ++j) acc[j] = globalInit<kMax, A>();
    if (v < cv) {
      const T* xp = x + n * vol * channels + v * VEC;
      for (int64_t s = ty; s < vol; s += kGpY) {
        const PoolVec<T, VEC> raw = loadVec<T, VEC>(xp + s * channels);
#pragma unroll
        for (int j = 0; j < VEC; ++j)
          acc[j] = globalCombine<kMax>(acc[j], globalLoad<kMax>(raw.e[j]));
      }
    }
#pragma unroll
    for (int j = 0; j < VEC; ++j) part[ty][tx][j] = acc[j];
    __syncthreads();
    if (ty == 0 && v < cv) {
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        A r = part[0][tx][j];
        for (int k = 1; k < kGpY; ++k) r = globalCombine<kMax>(r, part[k][tx][j]);
        y[n * channels + v * VEC + j] = globalFinish<T, kMax>(r, vol);
      }
    }
    __syncthreads();  // part[] is reused by the next tile
  }
}

class GlobalPoolKernel final : public CudaKernel {
 public:
  explicit GlobalPoolKernel(bool isMax) : mMax(isMax) {}

  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    if (x.rank() < 3)
      return ctx.error("input must have rank >= 3, got %s", ir::dimsToString(x.dims).c_str());
    if (!isFloatType(x.dtype))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    mChannelsLast = ir::isChannelsLast(ctx.node);
    if (mChannelsLast) {
      if (x.rank() != 4) return ctx.error("channels_last needs a 4-D input");
      mBatch = x.dims[0];
      mChannels = x.dims[3];
      mVol = x.dims[1] * x.dims[2];
      mPlanes = mBatch * mChannels;
      const int64_t sms = ctx.libs.props().smCount > 0 ? ctx.libs.props().smCount : 132;
      const int vec = dataTypeSize(x.dtype) == 2 && mChannels % 8 == 0 ? 8 : 1;
      const int64_t tiles = mBatch * ((mChannels / vec + kGpX - 1) / kGpX);
      mGrid = static_cast<int>(std::min<int64_t>(std::max<int64_t>(tiles, 1), sms * 32));
      return Status::ok();
    }
    mPlanes = x.dims[0] * x.dims[1];
    mVol = mPlanes == 0 ? 0 : x.numel() / mPlanes;
    const DeviceProps& props = ctx.libs.props();
    const int64_t sms = props.smCount > 0 ? props.smCount : 132;
    // A warp per plane when planes are small (a block would idle) or numerous enough to fill the
    // GPU with warps; otherwise a block per plane so a few big planes still use every SM.
    mWarpPerPlane = mVol <= 1024 || mPlanes >= sms * 64;
    const int vecElems = 16 / static_cast<int>(dataTypeSize(x.dtype));
    mVecOk = mVol > 0 && mVol % vecElems == 0;
    if (mWarpPerPlane) {
      mThreads = 256;
      const int64_t blocks = (mPlanes + 7) / 8;
      mGrid = static_cast<int>(blocks < sms * 32 ? (blocks > 0 ? blocks : 1) : sms * 32);
    } else {
      mThreads = mVol / (mVecOk ? vecElems : 1) >= 2048 ? 256 : 128;
      mGrid = static_cast<int>(mPlanes < sms * 32 ? (mPlanes > 0 ? mPlanes : 1) : sms * 32);
    }
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mPlanes == 0) return Status::ok();
    const CudaTensor& x = ctx.inputs[0];
    CudaTensor& y = ctx.outputs[0];
    if (mChannelsLast) {
      const bool vec8 = dataTypeSize(x.dtype) == 2 && mChannels % 8 == 0 &&
                        reinterpret_cast<uintptr_t>(x.data) % 16 == 0;
      const dim3 block(kGpX, kGpY);
      const bool ok = dispatchFloat(x.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* xp = x.as<const T>();
        T* yp = y.as<T>();
        if (mMax) {
          if (vec8)
            globalPoolNhwcKernel<T, true, 8>
                <<<mGrid, block, 0, ctx.stream>>>(xp, yp, mBatch, mVol, mChannels);
          else
            globalPoolNhwcKernel<T, true, 1>
                <<<mGrid, block, 0, ctx.stream>>>(xp, yp, mBatch, mVol, mChannels);
        } else {
          if (vec8)
            globalPoolNhwcKernel<T, false, 8>
                <<<mGrid, block, 0, ctx.stream>>>(xp, yp, mBatch, mVol, mChannels);
          else
            globalPoolNhwcKernel<T, false, 1>
                <<<mGrid, block, 0, ctx.stream>>>(xp, yp, mBatch, mVol, mChannels);
        }
      });
      if (!ok)
        return internalError("%s: unexpected data type %s", ctx.node.describe().c_str(),
                             dataTypeName(x.dtype));
      KILN_CUDA_CHECK_LAUNCH("channels-last global pool kernel");
      return Status::ok();
    }
    const bool vec = mVecOk && reinterpret_cast<uintptr_t>(x.data) % 16 == 0;
    const bool ok = dispatchFloat(x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (mMax) {
        launchTyped<T, true>(x.as<const T>(), y.as<T>(), vec, ctx.stream);
      } else {
        launchTyped<T, false>(x.as<const T>(), y.as<T>(), vec, ctx.stream);
      }
    });
    if (!ok)
      return internalError("%s: unexpected data type %s", ctx.node.describe().c_str(),
                           dataTypeName(x.dtype));
    KILN_CUDA_CHECK_LAUNCH("global pool kernel");
    return Status::ok();
  }

 private:
  template <typename T, bool kMax>
  void launchTyped(const T* x, T* y, bool vec, cudaStream_t stream) const {
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    if (mWarpPerPlane) {
      if (vec) {
        globalPoolWarpKernel<T, kMax, kVec><<<mGrid, mThreads, 0, stream>>>(x, y, mPlanes, mVol);
      } else {
        globalPoolWarpKernel<T, kMax, 1><<<mGrid, mThreads, 0, stream>>>(x, y, mPlanes, mVol);
      }
    } else {
      if (vec) {
        globalPoolBlockKernel<T, kMax, kVec><<<mGrid, mThreads, 0, stream>>>(x, y, mPlanes, mVol);
      } else {
        globalPoolBlockKernel<T, kMax, 1><<<mGrid, mThreads, 0, stream>>>(x, y, mPlanes, mVol);
      }
    }
  }

  bool mMax;
  bool mChannelsLast = false;
  int64_t mBatch = 0, mChannels = 0;
  int64_t mPlanes = 0, mVol = 0;
  bool mWarpPerPlane = true, mVecOk = false;
  int mThreads = 256, mGrid = 1;
};

template <bool kMax>
StatusOr<std::unique_ptr<CudaKernel>> makeGlobalPool(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new GlobalPoolKernel(kMax));
}

}  // namespace

void registerPoolKernels(CudaKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kMaxPool)] = &makeWindowPool<ir::OpKind::kMaxPool>;
  t[static_cast<size_t>(ir::OpKind::kAveragePool)] = &makeWindowPool<ir::OpKind::kAveragePool>;
  t[static_cast<size_t>(ir::OpKind::kLpPool)] = &makeWindowPool<ir::OpKind::kLpPool>;
  t[static_cast<size_t>(ir::OpKind::kGlobalAveragePool)] = &makeGlobalPool<false>;
  t[static_cast<size_t>(ir::OpKind::kGlobalMaxPool)] = &makeGlobalPool<true>;
}

}  // namespace kiln::cuda
