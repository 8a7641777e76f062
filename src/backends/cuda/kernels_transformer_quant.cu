// CUDA kernels for the transformer and quantization ops (ops.def): QuantizeLinear,
// DequantizeLinear, DynamicQuantizeLinear, RotaryEmbedding, MatMulInteger, QLinearMatMul,
// ConvInteger, QLinearConv (Attention and FusedAttention: kernels_attention.cu). They compute
// what src/backends/cpu/kernels_transformer_quant.cpp computes:
//   - quantization decides integers exactly as the CPU: the quotient x / scale is formed in the
//     same float type (float32, float64, or float16/bfloat16 through float32 with one more
//     rounding), rounded half to even (rint), the zero point added in double, then saturated;
//   - floating-point math that the CPU does in double (RotaryEmbedding) is done in double here
//     too, with explicit _rn products where the CPU's order must not be contracted into FMAs, and
//     rounded once at the store;
//   - integer products accumulate exactly (int64, or uint32 where the CPU wraps to int32).
// Helpers shared with the attention kernels (loadAny, storeAny, gemmTile...) are in attention.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backends/cuda/attention.h"
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/reduce_util.cuh"
#include "ir/window_params.h"

namespace kiln::cuda {

namespace {

using namespace tq;

template <typename T>
struct Tag {
  using type = T;
};

int64_t product(const std::vector<int64_t>& d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to && i < d.size(); ++i) n *= d[i];
  return n;
}

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

// [lo, hi] of a quantized integer type (lo == hi: not one).
void intRange(DataType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case DataType::kINT8: *lo = -128, *hi = 127; return;
    case DataType::kUINT8: *lo = 0, *hi = 255; return;
    case DataType::kINT16: *lo = -32768, *hi = 32767; return;
    case DataType::kUINT16: *lo = 0, *hi = 65535; return;
    case DataType::kINT32: *lo = -2147483648LL, *hi = 2147483647LL; return;
    default: *lo = 0, *hi = 0; return;
  }
}

// --- device conversions -------------------------------------------------------------------------

__device__ __forceinline__ double toDouble(float v) { return v; }
__device__ __forceinline__ double toDouble(double v) { return v; }
__device__ __forceinline__ double toDouble(__half v) { return __half2float(v); }
__device__ __forceinline__ double toDouble(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ __forceinline__ double quietNaN() { return __longlong_as_double(0x7ff8000000000000LL); }

__device__ __forceinline__ int64_t loadInt(const void* p, DataType t, int64_t i) {
  return loadElementAs<int64_t>(p, t, i);
}

__device__ __forceinline__ float roundHalf(float v) { return __half2float(__float2half_rn(v)); }
__device__ __forceinline__ float roundBf16(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

// The CPU's roundToType: v kept at the precision of float type t.
__device__ __forceinline__ double roundToType(DataType t, double v) {
  switch (t) {
    case DataType::kFLOAT: return __double2float_rn(v);
    case DataType::kHALF: return roundHalf(__double2float_rn(v));
    case DataType::kBF16: return roundBf16(__double2float_rn(v));
    default: return v;
  }
}

// Round half to even, add the zero point (in double), saturate to [lo, hi]; NaN counts as 0.
__device__ __forceinline__ int64_t roundSaturate(double v, double zp, int64_t lo, int64_t hi) {
  double r = v != v ? 0.0 : rint(v);
  r = __dadd_rn(r, zp);
  if (r < static_cast<double>(lo)) return lo;
  if (r > static_cast<double>(hi)) return hi;
  return static_cast<int64_t>(r);
}

// ================================================================================================
// QuantizeLinear / DequantizeLinear
// ================================================================================================

// For element i of x, the index of its scale / zero point (the CPU's QuantLayout).
template <typename I>
struct QLayout {
  int kind = 0;  // 0 per tensor, 1 per axis, 2 blocked
  I axisLen = 1, inner = 1, block = 1, paramAxisLen = 1;
  __device__ __forceinline__ I index(I i) const {
    if (kind == 0) return 0;
    const I q = i / inner;
    const I a = q % axisLen;
    if (kind == 1) return a;
    const I outer = q / axisLen, in = i - q * inner;
    return (outer * paramAxisLen + a / block) * inner + in;
  }
};

StatusOr<QLayout<int64_t>> quantLayout(const PrepareContext& ctx, const CudaTensor& x,
                                       const CudaTensor& param, const char* what) {
  QLayout<int64_t> l;
  const int64_t block = ctx.attrs().getInt("block_size", 0);
  if (block <= 0 && param.numel() == 1 && param.rank() <= 1) return l;
  int64_t axis = ctx.attrs().getInt("axis", 1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank())
    return ctx.error("axis is out of range for x %s", dimsStr(x.dims).c_str());
  const size_t ax = static_cast<size_t>(axis);
  l.axisLen = x.dims[ax];
  l.inner = product(x.dims, ax + 1, x.dims.size());
  if (block > 0) {
    bool ok = param.rank() == x.rank();
    for (size_t d = 0; ok && d < x.dims.size(); ++d)
      ok = param.dims[d] == (d == ax ? (x.dims[d] + block - 1) / block : x.dims[d]);
    if (!ok)
      return ctx.error(
          "%s %s does not fit blocked quantization of x %s (axis=%lld, block_size=%lld)", what,
          dimsStr(param.dims).c_str(), dimsStr(x.dims).c_str(), static_cast<long long>(axis),
          static_cast<long long>(block));
    l.kind = 2;
    l.block = block;
    l.paramAxisLen = param.dims[ax];
    return l;
  }
  if (param.rank() != 1 || param.dims[0] != l.axisLen)
    return ctx.error("%s %s must be a scalar or have x.shape[axis] = %lld elements", what,
                     dimsStr(param.dims).c_str(), static_cast<long long>(l.axisLen));
  l.kind = 1;
  return l;
}

QLayout<int32_t> narrow(const QLayout<int64_t>& l) {
  QLayout<int32_t> n;
  n.kind = l.kind;
  n.axisLen = static_cast<int32_t>(l.axisLen);
  n.inner = static_cast<int32_t>(l.inner);
  n.block = static_cast<int32_t>(l.block);
  n.paramAxisLen = static_cast<int32_t>(l.paramAxisLen);
  return n;
}

// Float type of the quotient x / scale.
enum QuotMode : int { kQuotFloat = 0, kQuotDouble = 1, kQuotHalf = 2, kQuotBf16 = 3 };

__device__ __forceinline__ double quotient(int mode, double x, double s) {
  switch (mode) {
    case kQuotDouble: return __ddiv_rn(x, s);
    case kQuotHalf: {
      const float xf = roundHalf(__double2float_rn(x)), sf = roundHalf(__double2float_rn(s));
      return roundHalf(__fdiv_rn(xf, sf));
    }
    case kQuotBf16: {
      const float xf = roundBf16(__double2float_rn(x)), sf = roundBf16(__double2float_rn(s));
      return roundBf16(__fdiv_rn(xf, sf));
    }
    default: return __fdiv_rn(__double2float_rn(x), __double2float_rn(s));
  }
}

template <typename X, typename Y, typename I>
__global__ void quantizeKernel(const X* __restrict__ x, const void* __restrict__ scale,
                               DataType scaleType, const void* __restrict__ zp, DataType zpType,
                               Y* __restrict__ y, QLayout<I> ls, QLayout<I> lz, int mode,
                               int64_t lo, int64_t hi, I n) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const double q = quotient(mode, toDouble(x[i]), loadAny(scale, scaleType, ls.index(i)));
    const double z = zp ? static_cast<double>(loadInt(zp, zpType, lz.index(i))) : 0.0;
    y[i] = static_cast<Y>(roundSaturate(q, z, lo, hi));
  }
}

template <typename F>
bool dispatchQuantInt(DataType t, F&& f) {
  switch (t) {
    case DataType::kINT8: f(Tag<int8_t>{}); return true;
    case DataType::kUINT8: f(Tag<uint8_t>{}); return true;
    case DataType::kINT16: f(Tag<int16_t>{}); return true;
    case DataType::kUINT16: f(Tag<uint16_t>{}); return true;
    case DataType::kINT32: f(Tag<int32_t>{}); return true;
    default: return false;
  }
}

constexpr int64_t k32Limit = int64_t{1} << 30;  // 32-bit flat indices (plus a grid stride) fit

class QuantizeKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& s = ctx.inputs[1];
    const CudaTensor& y = ctx.outputs[0];
    KILN_ASSIGN_OR_RETURN(mLs, quantLayout(ctx, x, s, "y_scale"));
    mHasZp = ctx.hasInput(2);
    if (mHasZp) {
      KILN_ASSIGN_OR_RETURN(mLz, quantLayout(ctx, x, ctx.inputs[2], "y_zero_point"));
    }
    intRange(y.dtype, &mLo, &mHi);
    if (mLo == mHi)
      return ctx.unsupportedHere(strFormat("quantizing to %s", dataTypeName(y.dtype)));
    if (!isFloatType(x.dtype))
      return ctx.unsupportedHere(strFormat("data type %s for x", dataTypeName(x.dtype)));
    if (!isFloatType(s.dtype))
      return ctx.unsupportedHere(strFormat("data type %s for y_scale", dataTypeName(s.dtype)));
    // The quotient's type: the `precision` attribute, else the wider of x and scale (mixed
    // float16/bfloat16 use float32).
    DataType qt;
    if (ctx.attrs().getInt("precision", 0) != 0) {
      qt = static_cast<DataType>(ctx.attrs().getInt("precision", 0));
    } else if (x.dtype == DataType::kDOUBLE || s.dtype == DataType::kDOUBLE) {
      qt = DataType::kDOUBLE;
    } else {
      qt = x.dtype == s.dtype ? x.dtype : DataType::kFLOAT;
    }
    mMode = qt == DataType::kDOUBLE ? kQuotDouble
            : qt == DataType::kHALF ? kQuotHalf
            : qt == DataType::kBF16 ? kQuotBf16
                                    : kQuotFloat;
    mN = x.numel();
    mUse32 = mN < k32Limit;
    mGrid = gridCapped(mN, ctx);
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mN == 0) return Status::ok();
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& s = ctx.inputs[1];
    CudaTensor& y = ctx.outputs[0];
    const void* zp = mHasZp ? ctx.inputs[2].data : nullptr;
    const DataType zpType = mHasZp ? ctx.inputs[2].dtype : DataType::kUINT8;
    bool ok = false;
    dispatchFloat(x.dtype, [&](auto xt) {
      using X = typename decltype(xt)::type;
      ok = dispatchQuantInt(y.dtype, [&](auto yt) {
        using Y = typename decltype(yt)::type;
        if (mUse32) {
          quantizeKernel<X, Y, int32_t><<<mGrid, kThreads, 0, ctx.stream>>>(
              x.as<const X>(), s.data, s.dtype, zp, zpType, y.as<Y>(), narrow(mLs), narrow(mLz),
              mMode, mLo, mHi, static_cast<int32_t>(mN));
        } else {
          quantizeKernel<X, Y, int64_t>
              <<<mGrid, kThreads, 0, ctx.stream>>>(x.as<const X>(), s.data, s.dtype, zp, zpType,
                                                   y.as<Y>(), mLs, mLz, mMode, mLo, mHi, mN);
        }
      });
    });
    if (!ok) return internalError("%s: unexpected data types", ctx.node.describe().c_str());
    KILN_CUDA_CHECK_LAUNCH("QuantizeLinear kernel");
    return Status::ok();
  }

 private:
  QLayout<int64_t> mLs, mLz;
  bool mHasZp = false, mUse32 = true;
  int64_t mLo = 0, mHi = 0, mN = 0;
  int mMode = kQuotFloat, mGrid = 1;
};

// y = (x - zp) * scale: in float32 ((float)x - (float)zp, times (float)scale), or in double when
// the scale or the output is float64.
template <typename X, typename Y, typename I>
__global__ void dequantizeKernel(const X* __restrict__ x, const void* __restrict__ scale,
                                 DataType scaleType, const void* __restrict__ zp, DataType zpType,
                                 Y* __restrict__ y, QLayout<I> ls, QLayout<I> lz, bool wide, I n) {
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const int64_t xi = static_cast<int64_t>(x[i]);
    const int64_t z = zp ? loadInt(zp, zpType, lz.index(i)) : 0;
    const double sc = loadAny(scale, scaleType, ls.index(i));
    double v;
    if (wide) {
      v = __dmul_rn(static_cast<double>(xi - z), sc);
    } else {
      const float dx = __fsub_rn(static_cast<float>(xi), static_cast<float>(z));
      v = __fmul_rn(dx, __double2float_rn(sc));
    }
    y[i] = fromDouble<Y>(v);
  }
}

class DequantizeKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& s = ctx.inputs[1];
    const CudaTensor& y = ctx.outputs[0];
    KILN_ASSIGN_OR_RETURN(mLs, quantLayout(ctx, x, s, "x_scale"));
    mHasZp = ctx.hasInput(2);
    if (mHasZp) {
      KILN_ASSIGN_OR_RETURN(mLz, quantLayout(ctx, x, ctx.inputs[2], "x_zero_point"));
    }
    int64_t lo, hi;
    intRange(x.dtype, &lo, &hi);
    if (lo == hi) return ctx.unsupportedHere(strFormat("dequantizing %s", dataTypeName(x.dtype)));
    if (!isFloatType(y.dtype) || !isFloatType(s.dtype))
      return ctx.unsupportedHere(
          strFormat("x_scale %s / output %s", dataTypeName(s.dtype), dataTypeName(y.dtype)));
    mWide = s.dtype == DataType::kDOUBLE || y.dtype == DataType::kDOUBLE;
    mN = x.numel();
    mUse32 = mN < k32Limit;
    mGrid = gridCapped(mN, ctx);
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mN == 0) return Status::ok();
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& s = ctx.inputs[1];
    CudaTensor& y = ctx.outputs[0];
    const void* zp = mHasZp ? ctx.inputs[2].data : nullptr;
    const DataType zpType = mHasZp ? ctx.inputs[2].dtype : x.dtype;
    bool ok = false;
    dispatchQuantInt(x.dtype, [&](auto xt) {
      using X = typename decltype(xt)::type;
      ok = dispatchFloat(y.dtype, [&](auto yt) {
        using Y = typename decltype(yt)::type;
        if (mUse32) {
          dequantizeKernel<X, Y, int32_t><<<mGrid, kThreads, 0, ctx.stream>>>(
              x.as<const X>(), s.data, s.dtype, zp, zpType, y.as<Y>(), narrow(mLs), narrow(mLz),
              mWide, static_cast<int32_t>(mN));
        } else {
          dequantizeKernel<X, Y, int64_t><<<mGrid, kThreads, 0, ctx.stream>>>(
              x.as<const X>(), s.data, s.dtype, zp, zpType, y.as<Y>(), mLs, mLz, mWide, mN);
        }
      });
    });
    if (!ok) return internalError("%s: unexpected data types", ctx.node.describe().c_str());
    KILN_CUDA_CHECK_LAUNCH("DequantizeLinear kernel");
    return Status::ok();
  }

 private:
  QLayout<int64_t> mLs, mLz;
  bool mHasZp = false, mWide = false, mUse32 = true;
  int64_t mN = 0;
  int mGrid = 1;
};

// ================================================================================================
// DynamicQuantizeLinear: uint8 with the range [min(0, min x), max(0, max x)], all in float32:
//   scale = (max == min ? 1 : max - min) / 255, zp = rint(clamp(0 - min / scale, 0, 255)),
//   y = saturate(rint(x / scale) + zp).
// Pass 1: per-block min/max into the workspace. Pass 2: every block folds the partials (a few
// hundred floats), then quantizes its share; block 0 writes y_scale and y_zero_point.
// ================================================================================================

constexpr int kDqMaxParts = 1024;

// std::max / std::min argument order: a NaN in b is ignored, equal values keep a.
__device__ __forceinline__ float fmaxCpu(float a, float b) { return a < b ? b : a; }
__device__ __forceinline__ float fminCpu(float a, float b) { return b < a ? b : a; }

template <typename T>
__global__ void dynQuantRangeKernel(const T* __restrict__ x, int64_t n, float* __restrict__ parts) {
  float mn = 0.f, mx = 0.f;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = __double2float_rn(toDouble(x[i]));
    mx = fmaxCpu(mx, v);
    mn = fminCpu(mn, v);
  }
  mn = blockAllReduce(
      mn, [](float a, float b) { return fminCpu(a, b); }, 0.f);
  mx = blockAllReduce(
      mx, [](float a, float b) { return fmaxCpu(a, b); }, 0.f);
  if (threadIdx.x == 0) {
    parts[blockIdx.x] = mn;
    parts[kDqMaxParts + blockIdx.x] = mx;
  }
}

template <typename T>
__global__ void dynQuantApplyKernel(const T* __restrict__ x, int64_t n,
                                    const float* __restrict__ parts, int numParts,
                                    uint8_t* __restrict__ y, float* __restrict__ yScale,
                                    uint8_t* __restrict__ yZp) {
  float mn = 0.f, mx = 0.f;
  for (int i = threadIdx.x; i < numParts; i += blockDim.x) {
    mn = fminCpu(mn, parts[i]);
    mx = fmaxCpu(mx, parts[kDqMaxParts + i]);
  }
  mn = blockAllReduce(
      mn, [](float a, float b) { return fminCpu(a, b); }, 0.f);
  mx = blockAllReduce(
      mx, [](float a, float b) { return fmaxCpu(a, b); }, 0.f);
  const float scale = __fdiv_rn(mx == mn ? 1.f : __fsub_rn(mx, mn), 255.f);
  float t = __fsub_rn(0.f, __fdiv_rn(mn, scale));
  t = t < 0.f ? 0.f : (255.f < t ? 255.f : t);
  const float zp = rintf(t);
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    *yScale = scale;
    *yZp = static_cast<uint8_t>(zp);
  }
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float q = __fdiv_rn(__double2float_rn(toDouble(x[i])), scale);
    y[i] = static_cast<uint8_t>(roundSaturate(q, zp, 0, 255));
  }
}

class DynamicQuantizeKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    if (!isFloatType(x.dtype))
      return ctx.unsupportedHere(strFormat("data type %s for x", dataTypeName(x.dtype)));
    if (ctx.outputs.size() != 3) return ctx.error("has 3 outputs (y, y_scale, y_zero_point)");
    mN = x.numel();
    const int g = gridCapped(mN, ctx);
    mParts = g < kDqMaxParts ? g : kDqMaxParts;
    mGrid = g;
    return Status::ok();
  }
  size_t workspaceSize() const override { return 2 * kDqMaxParts * sizeof(float); }

  Status enqueue(const LaunchContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    float* parts = static_cast<float*>(ctx.workspace);
    uint8_t* y = ctx.outputs[0].as<uint8_t>();
    float* ys = ctx.outputs[1].as<float>();
    uint8_t* yz = ctx.outputs[2].as<uint8_t>();
    const bool ok = dispatchFloat(x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      dynQuantRangeKernel<T><<<mParts, kThreads, 0, ctx.stream>>>(x.as<const T>(), mN, parts);
      dynQuantApplyKernel<T>
          <<<mGrid, kThreads, 0, ctx.stream>>>(x.as<const T>(), mN, parts, mParts, y, ys, yz);
    });
    if (!ok) return internalError("%s: unexpected data type", ctx.node.describe().c_str());
    KILN_CUDA_CHECK_LAUNCH("DynamicQuantizeLinear kernels");
    return Status::ok();
  }

 private:
  int64_t mN = 0;
  int mParts = 1, mGrid = 1;
};

// ================================================================================================
// RotaryEmbedding: per (b, head, s) the first R dims are rotated pairwise, the rest copied:
//   pairs (k, k + R/2) (default) or (2k, 2k+1) (interleaved), angle from cache row
//   position_ids[b, s] (or b*S + s without position ids), column k:
//   x1' = cos*x1 - sin*x2,  x2' = sin*x1 + cos*x2   (double, unfused, one rounding at the store).
// A position id outside the cache (an error on the CPU) yields NaN instead of a wild read.
// ================================================================================================

struct RotaryParams {
  int64_t heads = 0, seq = 0, headSize = 0, rot = 0, half = 0, maxPos = 0;
  bool is4d = true, interleaved = false, hasPos = false;
  DataType cosType = DataType::kFLOAT, sinType = DataType::kFLOAT, posType = DataType::kINT64;
};

template <typename T>
__global__ void rotaryKernel(const T* __restrict__ x, const void* __restrict__ cosC,
                             const void* __restrict__ sinC, const void* __restrict__ pos,
                             T* __restrict__ y, RotaryParams p, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t e = i % p.headSize, row = i / p.headSize;
    if (e >= p.rot) {
      y[i] = x[i];
      continue;
    }
    int64_t b, s;
    if (p.is4d) {
      s = row % p.seq;
      b = row / (p.seq * p.heads);
    } else {
      const int64_t bs = row / p.heads;
      s = bs % p.seq;
      b = bs / p.seq;
    }
    int64_t cacheRow = b * p.seq + s;
    if (p.hasPos) {
      cacheRow = loadInt(pos, p.posType, b * p.seq + s);
      if (cacheRow < 0 || cacheRow >= p.maxPos) {
        y[i] = fromDouble<T>(quietNaN());
        continue;
      }
    }
    bool first;
    int64_t kk, partner;
    if (p.interleaved) {
      kk = e / 2;
      first = (e & 1) == 0;
      partner = first ? e + 1 : e - 1;
    } else {
      first = e < p.half;
      kk = first ? e : e - p.half;
      partner = first ? e + p.half : e - p.half;
    }
    const double co = loadAny(cosC, p.cosType, cacheRow * p.half + kk);
    const double si = loadAny(sinC, p.sinType, cacheRow * p.half + kk);
    const double self = toDouble(x[i]), other = toDouble(x[i - e + partner]);
    const double x1 = first ? self : other, x2 = first ? other : self;
    const double v = first ? __dsub_rn(__dmul_rn(co, x1), __dmul_rn(si, x2))
                           : __dadd_rn(__dmul_rn(si, x1), __dmul_rn(co, x2));
    y[i] = fromDouble<T>(v);
  }
}

class RotaryKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& cosT = ctx.inputs[1];
    const CudaTensor& sinT = ctx.inputs[2];
    if (!isFloatType(x.dtype) || !isFloatType(cosT.dtype) || !isFloatType(sinT.dtype))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    if (x.rank() != 3 && x.rank() != 4)
      return ctx.error("X must be 3-D or 4-D, got %s", dimsStr(x.dims).c_str());
    if (cosT.rank() < 1) return ctx.error("cos_cache must have rank >= 1");
    RotaryParams p;
    p.hasPos = ctx.hasInput(3);
    p.is4d = x.rank() == 4;
    const int64_t batch = x.dims[0];
    if (p.is4d) {
      p.heads = x.dims[1], p.seq = x.dims[2], p.headSize = x.dims[3];
    } else {
      p.seq = x.dims[1];
      p.heads = ctx.attrs().getInt("num_heads", 0);
      if (p.heads <= 0) {
        // Without num_heads the head size follows from a full-size cache: 2 * cache's last dim.
        const int64_t hs = 2 * cosT.dims.back();
        if (hs <= 0 || x.dims[2] % hs != 0)
          return ctx.error("3-D input %s needs the num_heads attribute", dimsStr(x.dims).c_str());
        p.heads = x.dims[2] / hs;
      }
      if (x.dims[2] % p.heads != 0) return ctx.error("hidden size is not divisible by num_heads");
      p.headSize = x.dims[2] / p.heads;
    }
    p.rot = ctx.attrs().getInt("rotary_embedding_dim", 0);
    if (p.rot == 0) p.rot = p.headSize;
    if (p.rot > p.headSize || p.rot % 2 != 0)
      return ctx.error("rotary_embedding_dim %lld must be even and <= the head size %lld",
                       static_cast<long long>(p.rot), static_cast<long long>(p.headSize));
    p.half = p.rot / 2;
    if (cosT.dims.back() != p.half || sinT.dims != cosT.dims)
      return ctx.error("cos_cache %s and sin_cache %s must end in rotary_embedding_dim/2 = %lld",
                       dimsStr(cosT.dims).c_str(), dimsStr(sinT.dims).c_str(),
                       static_cast<long long>(p.half));
    if (p.hasPos) {
      const CudaTensor& pt = ctx.inputs[3];
      if (pt.rank() != 2 || pt.dims[0] != batch || pt.dims[1] != p.seq)
        return ctx.error("position_ids %s must be [batch=%lld, seq=%lld]", dimsStr(pt.dims).c_str(),
                         static_cast<long long>(batch), static_cast<long long>(p.seq));
      p.maxPos = cosT.dims[0];
      p.posType = pt.dtype;
    } else if (cosT.rank() != 3 || cosT.dims[0] != batch || cosT.dims[1] != p.seq) {
      return ctx.error(
          "without position_ids the caches must be [batch=%lld, seq=%lld, %lld], got %s",
          static_cast<long long>(batch), static_cast<long long>(p.seq),
          static_cast<long long>(p.half), dimsStr(cosT.dims).c_str());
    }
    p.interleaved = ctx.attrs().getInt("interleaved", 0) != 0;
    p.cosType = cosT.dtype;
    p.sinType = sinT.dtype;
    mP = p;
    mN = x.numel();
    mGrid = gridCapped(mN, ctx);
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mN == 0) return Status::ok();
    const CudaTensor& x = ctx.inputs[0];
    const void* pos = mP.hasPos ? ctx.inputs[3].data : nullptr;
    const bool ok = dispatchFloat(x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      rotaryKernel<T><<<mGrid, kThreads, 0, ctx.stream>>>(x.as<const T>(), ctx.inputs[1].data,
                                                          ctx.inputs[2].data, pos,
                                                          ctx.outputs[0].as<T>(), mP, mN);
    });
    if (!ok) return internalError("%s: unexpected data type", ctx.node.describe().c_str());
    KILN_CUDA_CHECK_LAUNCH("RotaryEmbedding kernel");
    return Status::ok();
  }

 private:
  RotaryParams mP;
  int64_t mN = 0;
  int mGrid = 1;
};

// ================================================================================================
// MatMulInteger / QLinearMatMul: C[b, m, n] = sum_k (A[., m, k] - za[m]) * (B[., k, n] - zb[n]),
// numpy batch broadcasting and 1-D promotion. MatMulInteger wraps to int32 (uint32 accumulators
// give the same low 32 bits as the CPU's int64 sum); QLinearMatMul requantizes the exact int64
// sum: y = saturate(rint(C * mult) + y_zp), mult = round_t(round_t(a_scale*b_scale) / y_scale).
// ================================================================================================

constexpr int kMaxBatch = 8;

struct IntMatMulParams {
  int64_t m = 0, n = 0, k = 0, batches = 0;
  int nb = 0;
  int64_t batch[kMaxBatch] = {}, aStride[kMaxBatch] = {}, bStride[kMaxBatch] = {};  // in matrices
  bool zaPerRow = false, zbPerCol = false;
  DataType zaType = DataType::kUINT8, zbType = DataType::kUINT8;
  // QLinearMatMul
  bool asPerRow = false, bsPerCol = false;
  DataType asType = DataType::kFLOAT, bsType = DataType::kFLOAT, ysType = DataType::kFLOAT,
           yzType = DataType::kUINT8;
  DataType yType = DataType::kUINT8;
  DataType scaleType = DataType::kFLOAT;  // the type the multiplier is rounded to (a_scale's)
  int64_t lo = 0, hi = 0;
};

struct IntMatMulPtrs {
  const void* a;
  const void* b;
  const void* za;
  const void* zb;
  const void* as;
  const void* bs;
  const void* ys;
  const void* yz;
  void* y;
};

template <typename A, typename B, bool kQLinear>
__global__ void intMatMulKernel(IntMatMulParams p, IntMatMulPtrs ptr) {
  using Acc = std::conditional_t<kQLinear, long long, unsigned int>;
  const A* ap = static_cast<const A*>(ptr.a);
  const B* bp = static_cast<const B*>(ptr.b);
  const int64_t tilesM = (p.m + kTile - 1) / kTile, tilesN = (p.n + kTile - 1) / kTile;
  for (int64_t t = blockIdx.z; t < p.batches; t += gridDim.z) {
    int64_t ao = 0, bo = 0, rem = t;
    for (int i = p.nb - 1; i >= 0; --i) {
      const int64_t idx = rem % p.batch[i];
      rem /= p.batch[i];
      ao += idx * p.aStride[i];
      bo += idx * p.bStride[i];
    }
    const A* am = ap + ao * p.m * p.k;
    const B* bm = bp + bo * p.k * p.n;
    for (int64_t mt = blockIdx.y; mt < tilesM; mt += gridDim.y)
      for (int64_t nt = blockIdx.x; nt < tilesN; nt += gridDim.x) {
        gemmTile<int, Acc, false>(
            mt * kTile, nt * kTile, p.m, p.n, p.k,
            [&](int64_t i, int64_t kk) {
              const int64_t z = ptr.za ? loadInt(ptr.za, p.zaType, p.zaPerRow ? i : 0) : 0;
              return static_cast<int>(am[i * p.k + kk]) - static_cast<int>(z);
            },
            [&](int64_t kk, int64_t j) {
              const int64_t z = ptr.zb ? loadInt(ptr.zb, p.zbType, p.zbPerCol ? j : 0) : 0;
              return static_cast<int>(bm[kk * p.n + j]) - static_cast<int>(z);
            },
            [&](int64_t i, int64_t j, Acc acc) {
              const int64_t yi = (t * p.m + i) * p.n + j;
              if constexpr (kQLinear) {
                const double as = loadAny(ptr.as, p.asType, p.asPerRow ? i : 0);
                const double bs = loadAny(ptr.bs, p.bsType, p.bsPerCol ? j : 0);
                const double ys = loadAny(ptr.ys, p.ysType, 0);
                const double mult = roundToType(
                    p.scaleType, __ddiv_rn(roundToType(p.scaleType, __dmul_rn(as, bs)), ys));
                const double yz = static_cast<double>(loadInt(ptr.yz, p.yzType, 0));
                const int64_t r =
                    roundSaturate(__dmul_rn(static_cast<double>(acc), mult), yz, p.lo, p.hi);
                if (p.yType == DataType::kINT8) {
                  static_cast<int8_t*>(ptr.y)[yi] = static_cast<int8_t>(r);
                } else {
                  static_cast<uint8_t*>(ptr.y)[yi] = static_cast<uint8_t>(r);
                }
              } else {
                static_cast<int32_t*>(ptr.y)[yi] = static_cast<int32_t>(acc);
              }
            });
      }
  }
}

template <typename F>
bool dispatchInt8(DataType t, F&& f) {
  if (t == DataType::kINT8) {
    f(Tag<int8_t>{});
    return true;
  }
  if (t == DataType::kUINT8) {
    f(Tag<uint8_t>{});
    return true;
  }
  return false;
}

class IntMatMulKernel final : public CudaKernel {
 public:
  explicit IntMatMulKernel(bool qlinear) : mQ(qlinear) {}

  Status prepare(const PrepareContext& ctx) override {
    const size_t ai = 0, bi = mQ ? 3 : 1, zai = 2, zbi = mQ ? 5 : 3;
    const CudaTensor& a = ctx.inputs[ai];
    const CudaTensor& b = ctx.inputs[bi];
    if ((a.dtype != DataType::kINT8 && a.dtype != DataType::kUINT8) ||
        (b.dtype != DataType::kINT8 && b.dtype != DataType::kUINT8))
      return ctx.unsupportedHere(
          strFormat("data types %s x %s", dataTypeName(a.dtype), dataTypeName(b.dtype)));
    if (a.rank() < 1 || b.rank() < 1) return ctx.error("matmul operands must have rank >= 1");
    std::vector<int64_t> ad = a.dims, bd = b.dims;
    if (ad.size() == 1) ad.insert(ad.begin(), 1);
    if (bd.size() == 1) bd.push_back(1);
    IntMatMulParams p;
    p.m = ad[ad.size() - 2], p.k = ad.back(), p.n = bd.back();
    if (bd[bd.size() - 2] != p.k)
      return ctx.error("inner dimensions differ: A %s, B %s", dimsStr(a.dims).c_str(),
                       dimsStr(b.dims).c_str());
    const std::vector<int64_t> ab(ad.begin(), ad.end() - 2), bb(bd.begin(), bd.end() - 2);
    const size_t nb = ab.size() > bb.size() ? ab.size() : bb.size();
    if (nb > static_cast<size_t>(kMaxBatch)) return ctx.unsupportedHere("more than 8 batch dims");
    p.nb = static_cast<int>(nb);
    // Batch strides in matrices (0 on broadcast dims), innermost last.
    int64_t sa = 1, sb = 1;
    p.batches = 1;
    for (size_t i = nb; i-- > 0;) {
      const int64_t x = i + ab.size() >= nb ? ab[i + ab.size() - nb] : 1;
      const int64_t y = i + bb.size() >= nb ? bb[i + bb.size() - nb] : 1;
      if (x != y && x != 1 && y != 1)
        return ctx.error("batch dims of A %s and B %s do not broadcast", dimsStr(a.dims).c_str(),
                         dimsStr(b.dims).c_str());
      p.batch[i] = x > y ? x : y;
      p.aStride[i] = x == 1 ? 0 : sa;
      p.bStride[i] = y == 1 ? 0 : sb;
      sa *= x;
      sb *= y;
      p.batches *= p.batch[i];
    }
    if (p.batches * p.m * p.n != ctx.outputs[0].numel())
      return internalError("%s: output dims %s disagree with the matmul geometry",
                           ctx.node.describe().c_str(), dimsStr(ctx.outputs[0].dims).c_str());
    KILN_RETURN_IF_ERROR(zeroPoint(ctx, zai, p.m, "a_zero_point", &p.zaPerRow, &p.zaType));
    KILN_RETURN_IF_ERROR(zeroPoint(ctx, zbi, p.n, "b_zero_point", &p.zbPerCol, &p.zbType));
    if (mQ) {
      const CudaTensor& as = ctx.inputs[1];
      const CudaTensor& bs = ctx.inputs[4];
      if ((as.numel() != 1 && as.numel() != p.m) || (bs.numel() != 1 && bs.numel() != p.n))
        return ctx.error("a_scale must have 1 or M values and b_scale 1 or N values");
      if (ctx.inputs[6].numel() < 1 || ctx.inputs[7].numel() < 1)
        return ctx.error("y_scale and y_zero_point are empty");
      for (size_t i : {size_t{1}, size_t{4}, size_t{6}})
        if (!isFloatType(ctx.inputs[i].dtype))
          return ctx.unsupportedHere(
              strFormat("scale of type %s", dataTypeName(ctx.inputs[i].dtype)));
      p.asPerRow = as.numel() != 1;
      p.bsPerCol = bs.numel() != 1;
      p.asType = as.dtype, p.bsType = bs.dtype, p.ysType = ctx.inputs[6].dtype,
      p.yzType = ctx.inputs[7].dtype;
      p.scaleType = as.dtype;
      if (ctx.outputs[0].dtype != DataType::kINT8 && ctx.outputs[0].dtype != DataType::kUINT8)
        return ctx.unsupportedHere(strFormat("output type %s", dataTypeName(ctx.outputs[0].dtype)));
      p.yType = ctx.outputs[0].dtype;
      intRange(p.yType, &p.lo, &p.hi);
    }
    mP = p;
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    const IntMatMulParams& p = mP;
    if (p.batches == 0 || p.m == 0 || p.n == 0) return Status::ok();
    const size_t bi = mQ ? 3 : 1, zai = 2, zbi = mQ ? 5 : 3;
    IntMatMulPtrs ptr{};
    ptr.a = ctx.inputs[0].data;
    ptr.b = ctx.inputs[bi].data;
    ptr.za = ctx.hasInput(zai) ? ctx.inputs[zai].data : nullptr;
    ptr.zb = ctx.hasInput(zbi) ? ctx.inputs[zbi].data : nullptr;
    if (mQ) {
      ptr.as = ctx.inputs[1].data;
      ptr.bs = ctx.inputs[4].data;
      ptr.ys = ctx.inputs[6].data;
      ptr.yz = ctx.inputs[7].data;
    }
    ptr.y = ctx.outputs[0].data;
    const int64_t tm = (p.m + kTile - 1) / kTile, tn = (p.n + kTile - 1) / kTile;
    const dim3 grid(static_cast<unsigned>(tn < 65535 ? tn : 65535),
                    static_cast<unsigned>(tm < 65535 ? tm : 65535),
                    static_cast<unsigned>(p.batches < 65535 ? p.batches : 65535));
    bool ok = false;
    dispatchInt8(ctx.inputs[0].dtype, [&](auto at) {
      using A = typename decltype(at)::type;
      ok = dispatchInt8(ctx.inputs[bi].dtype, [&](auto bt) {
        using B = typename decltype(bt)::type;
        if (mQ) {
          intMatMulKernel<A, B, true><<<grid, kThreads, 0, ctx.stream>>>(p, ptr);
        } else {
          intMatMulKernel<A, B, false><<<grid, kThreads, 0, ctx.stream>>>(p, ptr);
        }
      });
    });
    if (!ok) return internalError("%s: unexpected data types", ctx.node.describe().c_str());
    KILN_CUDA_CHECK_LAUNCH("integer matmul kernel");
    return Status::ok();
  }

 private:
  // A zero point: absent, one value, or `count` values (per row of A / column of B).
  static Status zeroPoint(const PrepareContext& ctx, size_t i, int64_t count, const char* what,
                          bool* per, DataType* type) {
    *per = false;
    if (!ctx.hasInput(i)) return Status::ok();
    const CudaTensor& z = ctx.inputs[i];
    *type = z.dtype;
    if (z.numel() == 1) return Status::ok();
    if (z.numel() != count)
      return ctx.error("%s has %lld values; expected 1 or %lld", what,
                       static_cast<long long>(z.numel()), static_cast<long long>(count));
    *per = true;
    return Status::ok();
  }

  bool mQ;
  IntMatMulParams mP;
};

// ================================================================================================
// ConvInteger / QLinearConv: direct convolution, one thread per output element, exact int64
// accumulation over the in-bounds taps (padding with the zero point contributes 0):
//   acc[n, m, o] = sum_{c, k} (x[n, g*Cg + c, o*s - pb + k*d] - zx) * (w[m, c, k] - zw[m]) (+
//   B[m]).
// ConvInteger wraps to int32; QLinearConv requantizes with x_scale * w_scale[m] / y_scale.
// ================================================================================================

constexpr int kMaxConvSpatial = 6;

struct IntConvParams {
  int nsp = 0;
  int64_t batch = 0, inC = 0, outC = 0, cg = 0, mg = 0, inVol = 1, outVol = 1, kVol = 1;
  int64_t in[kMaxConvSpatial] = {}, out[kMaxConvSpatial] = {}, k[kMaxConvSpatial] = {},
          s[kMaxConvSpatial] = {};
  int64_t dil[kMaxConvSpatial] = {}, pb[kMaxConvSpatial] = {};
  bool zwPerChannel = false, wsPerChannel = false;
  DataType zxType = DataType::kUINT8, zwType = DataType::kUINT8;
  DataType xsType = DataType::kFLOAT, wsType = DataType::kFLOAT, ysType = DataType::kFLOAT,
           yType = DataType::kUINT8;
  DataType yzType = DataType::kUINT8;
  int64_t lo = 0, hi = 0;
};

struct IntConvPtrs {
  const void* x;
  const void* w;
  const void* zx;
  const void* zw;
  const void* xs;
  const void* ws;
  const void* ys;
  const void* yz;
  const int32_t* bias;
  void* y;
};

template <typename X, typename W, bool kQLinear>
__global__ void intConvKernel(IntConvParams p, IntConvPtrs ptr, int64_t total) {
  const X* xp = static_cast<const X*>(ptr.x);
  const W* wp = static_cast<const W*>(ptr.w);
  const int zx = ptr.zx ? static_cast<int>(loadInt(ptr.zx, p.zxType, 0)) : 0;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t o = idx % p.outVol;
    const int64_t nm = idx / p.outVol, m = nm % p.outC, n = nm / p.outC;
    const int64_t g = m / p.mg;
    int64_t start[kMaxConvSpatial];
    for (int d = p.nsp - 1; d >= 0; --d) {
      start[d] = (o % p.out[d]) * p.s[d] - p.pb[d];
      o /= p.out[d];
    }
    const int zw = ptr.zw ? static_cast<int>(loadInt(ptr.zw, p.zwType, p.zwPerChannel ? m : 0)) : 0;
    long long acc = kQLinear && ptr.bias ? ptr.bias[m] : 0;
    const X* xn = xp + (n * p.inC + g * p.cg) * p.inVol;
    const W* wm = wp + m * p.cg * p.kVol;
    for (int64_t kk = 0; kk < p.kVol; ++kk) {
      int64_t flat = 0, rem = kk;
      bool inside = true;
      int64_t pos[kMaxConvSpatial];
      for (int d = p.nsp - 1; d >= 0; --d) {
        pos[d] = start[d] + (rem % p.k[d]) * p.dil[d];
        rem /= p.k[d];
        inside = inside && pos[d] >= 0 && pos[d] < p.in[d];
      }
      if (!inside) continue;
      for (int d = 0; d < p.nsp; ++d) flat = flat * p.in[d] + pos[d];
      for (int64_t c = 0; c < p.cg; ++c)
        acc += static_cast<long long>((static_cast<int>(xn[c * p.inVol + flat]) - zx) *
                                      (static_cast<int>(wm[c * p.kVol + kk]) - zw));
    }
    if constexpr (kQLinear) {
      const double xs = loadAny(ptr.xs, p.xsType, 0);
      const double ws = loadAny(ptr.ws, p.wsType, p.wsPerChannel ? m : 0);
      const double ys = loadAny(ptr.ys, p.ysType, 0);
      const double mult =
          roundToType(p.xsType, __ddiv_rn(roundToType(p.xsType, __dmul_rn(xs, ws)), ys));
      const double yz = static_cast<double>(loadInt(ptr.yz, p.yzType, 0));
      const int64_t r = roundSaturate(__dmul_rn(static_cast<double>(acc), mult), yz, p.lo, p.hi);
      if (p.yType == DataType::kINT8) {
        static_cast<int8_t*>(ptr.y)[idx] = static_cast<int8_t>(r);
      } else {
        static_cast<uint8_t*>(ptr.y)[idx] = static_cast<uint8_t>(r);
      }
    } else {
      static_cast<int32_t*>(ptr.y)[idx] =
          static_cast<int32_t>(static_cast<uint32_t>(static_cast<unsigned long long>(acc)));
    }
  }
}

class IntConvKernel final : public CudaKernel {
 public:
  explicit IntConvKernel(bool qlinear) : mQ(qlinear) {}

  Status prepare(const PrepareContext& ctx) override {
    const size_t wi = mQ ? 3 : 1;
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& w = ctx.inputs[wi];
    const CudaTensor& y = ctx.outputs[0];
    if ((x.dtype != DataType::kINT8 && x.dtype != DataType::kUINT8) ||
        (w.dtype != DataType::kINT8 && w.dtype != DataType::kUINT8))
      return ctx.unsupportedHere(
          strFormat("data types %s x %s", dataTypeName(x.dtype), dataTypeName(w.dtype)));
    if (x.rank() < 3 || w.rank() != x.rank())
      return ctx.error("x %s and w %s must have the same rank >= 3", dimsStr(x.dims).c_str(),
                       dimsStr(w.dims).c_str());
    IntConvParams p;
    const int64_t group = ctx.attrs().getInt("group", 1);
    p.batch = x.dims[0], p.inC = x.dims[1], p.outC = w.dims[0];
    if (group < 1 || p.outC % group != 0 || p.inC != w.dims[1] * group)
      return ctx.error("channels mismatch: x %s, w %s, group=%lld", dimsStr(x.dims).c_str(),
                       dimsStr(w.dims).c_str(), static_cast<long long>(group));
    const size_t nsp = static_cast<size_t>(x.rank() - 2);
    if (nsp > static_cast<size_t>(kMaxConvSpatial))
      return ctx.unsupportedHere(strFormat("convolution over %zu spatial dims", nsp));
    KILN_ASSIGN_OR_RETURN(
        ir::WindowParams wp,
        ir::parseWindowParams(ctx.attrs(), nsp,
                              std::vector<int64_t>(w.dims.begin() + 2, w.dims.end()), false,
                              ctx.node.describe()));
    const std::vector<int64_t> in(x.dims.begin() + 2, x.dims.end());
    for (size_t i = 0; i < nsp; ++i) {
      const ir::DimExpr o = ir::windowOutputDim(wp, i, ir::DimExpr(in[i]));
      if (!o.isConst() || o.constValue() != y.dims[i + 2])
        return internalError("%s: output dims %s disagree with the convolution geometry",
                             ctx.node.describe().c_str(), dimsStr(y.dims).c_str());
    }
    const std::vector<int64_t> pads = ir::resolveWindowPads(wp, in);
    p.nsp = static_cast<int>(nsp);
    p.cg = p.inC / group;
    p.mg = p.outC / group;
    for (size_t i = 0; i < nsp; ++i) {
      p.in[i] = in[i];
      p.out[i] = y.dims[i + 2];
      p.k[i] = wp.kernel[i];
      p.s[i] = wp.strides[i];
      p.dil[i] = wp.dilations[i];
      p.pb[i] = pads[i];
      p.inVol *= in[i];
      p.outVol *= p.out[i];
      p.kVol *= p.k[i];
    }
    const size_t zxi = 2, zwi = mQ ? 5 : 3;
    if (ctx.hasInput(zxi)) {
      if (ctx.inputs[zxi].numel() != 1) return ctx.error("x_zero_point must be a scalar");
      p.zxType = ctx.inputs[zxi].dtype;
    }
    if (ctx.hasInput(zwi)) {
      const CudaTensor& z = ctx.inputs[zwi];
      if (z.numel() != 1 && z.numel() != p.outC)
        return ctx.error("w_zero_point has %lld values; expected 1 or %lld",
                         static_cast<long long>(z.numel()), static_cast<long long>(p.outC));
      p.zwPerChannel = z.numel() != 1;
      p.zwType = z.dtype;
    }
    if (mQ) {
      const CudaTensor& ws = ctx.inputs[4];
      if (ws.numel() != 1 && ws.numel() != p.outC)
        return ctx.error("w_scale has %lld values; expected 1 or %lld",
                         static_cast<long long>(ws.numel()), static_cast<long long>(p.outC));
      if (ctx.hasInput(8) && ctx.inputs[8].numel() != p.outC)
        return ctx.error("bias B must have one value per output channel");
      if (ctx.hasInput(8) && ctx.inputs[8].dtype != DataType::kINT32)
        return ctx.unsupportedHere(strFormat("bias of type %s", dataTypeName(ctx.inputs[8].dtype)));
      for (size_t i : {size_t{1}, size_t{4}, size_t{6}})
        if (!isFloatType(ctx.inputs[i].dtype))
          return ctx.unsupportedHere(
              strFormat("scale of type %s", dataTypeName(ctx.inputs[i].dtype)));
      if (ctx.inputs[1].numel() < 1 || ctx.inputs[6].numel() < 1 || ctx.inputs[7].numel() < 1 ||
          ctx.inputs[2].numel() < 1)
        return ctx.error("x_scale, x_zero_point, y_scale and y_zero_point must be scalars");
      p.wsPerChannel = ws.numel() != 1;
      p.xsType = ctx.inputs[1].dtype, p.wsType = ws.dtype, p.ysType = ctx.inputs[6].dtype;
      p.yType = y.dtype;
      p.yzType = ctx.inputs[7].dtype;
      if (p.yType != DataType::kINT8 && p.yType != DataType::kUINT8)
        return ctx.unsupportedHere(strFormat("output type %s", dataTypeName(p.yType)));
      intRange(p.yType, &p.lo, &p.hi);
    }
    mP = p;
    mTotal = y.numel();
    mGrid = gridCapped(mTotal, ctx);
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTotal == 0) return Status::ok();
    const size_t wi = mQ ? 3 : 1, zwi = mQ ? 5 : 3;
    IntConvPtrs ptr{};
    ptr.x = ctx.inputs[0].data;
    ptr.w = ctx.inputs[wi].data;
    ptr.zx = ctx.hasInput(2) ? ctx.inputs[2].data : nullptr;
    ptr.zw = ctx.hasInput(zwi) ? ctx.inputs[zwi].data : nullptr;
    if (mQ) {
      ptr.xs = ctx.inputs[1].data;
      ptr.ws = ctx.inputs[4].data;
      ptr.ys = ctx.inputs[6].data;
      ptr.yz = ctx.inputs[7].data;
      ptr.bias = ctx.hasInput(8) ? ctx.inputs[8].as<const int32_t>() : nullptr;
    }
    ptr.y = ctx.outputs[0].data;
    bool ok = false;
    dispatchInt8(ctx.inputs[0].dtype, [&](auto xt) {
      using X = typename decltype(xt)::type;
      ok = dispatchInt8(ctx.inputs[wi].dtype, [&](auto wt) {
        using W = typename decltype(wt)::type;
        if (mQ) {
          intConvKernel<X, W, true><<<mGrid, kThreads, 0, ctx.stream>>>(mP, ptr, mTotal);
        } else {
          intConvKernel<X, W, false><<<mGrid, kThreads, 0, ctx.stream>>>(mP, ptr, mTotal);
        }
      });
    });
    if (!ok) return internalError("%s: unexpected data types", ctx.node.describe().c_str());
    KILN_CUDA_CHECK_LAUNCH("integer conv kernel");
    return Status::ok();
  }

 private:
  bool mQ;
  IntConvParams mP;
  int64_t mTotal = 0;
  int mGrid = 1;
};

// --- factories ----------------------------------------------------------------------------------

template <typename K>
StatusOr<std::unique_ptr<CudaKernel>> makeKernel(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new K());
}
template <bool kQ>
StatusOr<std::unique_ptr<CudaKernel>> makeIntMatMul(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new IntMatMulKernel(kQ));
}
template <bool kQ>
StatusOr<std::unique_ptr<CudaKernel>> makeIntConv(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new IntConvKernel(kQ));
}

}  // namespace

void registerTransformerQuantKernels(CudaKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kQuantizeLinear)] = &makeKernel<QuantizeKernel>;
  t[static_cast<size_t>(ir::OpKind::kDequantizeLinear)] = &makeKernel<DequantizeKernel>;
  t[static_cast<size_t>(ir::OpKind::kDynamicQuantizeLinear)] = &makeKernel<DynamicQuantizeKernel>;
  t[static_cast<size_t>(ir::OpKind::kRotaryEmbedding)] = &makeKernel<RotaryKernel>;
  t[static_cast<size_t>(ir::OpKind::kMatMulInteger)] = &makeIntMatMul<false>;
  t[static_cast<size_t>(ir::OpKind::kQLinearMatMul)] = &makeIntMatMul<true>;
  t[static_cast<size_t>(ir::OpKind::kConvInteger)] = &makeIntConv<false>;
  t[static_cast<size_t>(ir::OpKind::kQLinearConv)] = &makeIntConv<true>;
}

}  // namespace kiln::cuda
