// CUDA kernels for Resize and GridSample (ops.def, ShapeOp family; registered by
// registerIndexingKernels). They compute what src/backends/cpu/kernels_resize.cpp and the
// GridSample kernel of src/backends/cpu/kernels_transformer_quant.cpp compute, bit for bit where
// the CPU is deterministic:
//   - the coordinate math runs in double (GridSample: in the grid's float type first, as the
//     CPU), with every product and sum rounded separately (no FMA contraction: nearest-index
//     choices and weights must agree exactly with the CPU's);
//   - taps are accumulated in the CPU's order (tensor product over axes, last axis fastest),
//     products of weights in the CPU's order, zero-weight taps dropped as the CPU drops them;
//   - the result is rounded once to the storage type (float16/bfloat16 through float).
//
// Resize: one thread per output element. Axes the CPU leaves untouched (same length, scale 1,
// not tf_crop_and_resize) cost one tap with weight 1 (a plain offset); the other ("active") axes
// compute their taps per element. One to three active axes use a fully unrolled kernel; more use
// a generic one. GridSample: one thread per output element, spatial rank 1 to 3.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/index_util.cuh"

namespace kiln::cuda {

namespace {

using idx::dadd;
using idx::dmul;
using idx::dsub;
using idx::kMaxRank;
using idx::kThreads;
using idx::Tag;

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

// --- Resize
// ------------------------------------------------------------------------------------------

enum ResizeMode : int { kNearest = 0, kLinear = 1, kCubic = 2 };
enum Ctm : int {
  kHalfPixel = 0,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kHalfPixelSymmetric,
  kTfCrop
};
enum NearestMode : int { kRoundPreferFloor = 0, kRoundPreferCeil, kFloor, kCeil };

struct ResizeAxis {
  int64_t in = 1, out = 1, stride = 0;
  int64_t innerOut = 1;  // product of the output dims after this axis
  double scale = 1, lenResized = 1, roiStart = 0, roiEnd = 1;
};

struct ResizeParams {
  int64_t total = 0;
  int first = 0;                   // dims are front-padded to kMaxRank; real ones from `first`
  int64_t outDims[kMaxRank] = {};  // (1 on padding)
  int64_t baseStrides[kMaxRank] =
      {};  // input strides of untouched axes (0 on active axes, padding)
  int mode = kNearest, ctm = kHalfPixel, nm = kRoundPreferFloor;
  int numActive = 0;
  bool excludeOutside = false;
  double cubicA = -0.75, extrapolation = 0;
  ResizeAxis act[kMaxRank];  // per active slot
};

// x_orig for output index x on one axis (the CPU's originalCoordinate).
__device__ __forceinline__ double originalCoordinate(int ctm, double x, const ResizeAxis& a) {
  const double in = static_cast<double>(a.in), out = static_cast<double>(a.out);
  switch (ctm) {
    case kHalfPixel: return dsub(dadd(x, 0.5) / a.scale, 0.5);
    case kPytorchHalfPixel: return a.out > 1 ? dsub(dadd(x, 0.5) / a.scale, 0.5) : 0.0;
    case kAlignCorners:
      return a.lenResized == 1.0 ? 0.0 : dmul(x, dsub(in, 1)) / dsub(a.lenResized, 1);
    case kAsymmetric: return x / a.scale;
    case kHalfPixelSymmetric: {
      const double adjustment = out / dmul(a.scale, in);
      const double offset = dmul(in / 2, dsub(1, adjustment));
      return dsub(dadd(offset, dadd(x, 0.5) / a.scale), 0.5);
    }
    default: {  // tf_crop_and_resize
      if (a.lenResized != 1.0) {
        const double lhs = dmul(a.roiStart, dsub(in, 1));
        const double rhs =
            dmul(dmul(x, dsub(a.roiEnd, a.roiStart)), dsub(in, 1)) / dsub(a.lenResized, 1);
        return dadd(lhs, rhs);
      }
      return dmul(dmul(0.5, dadd(a.roiStart, a.roiEnd)), dsub(in, 1));
    }
  }
}

__device__ __forceinline__ int64_t nearestIndex(double x, int nm) {
  const double f = floor(x);
  const double r = dsub(x, f);
  const int64_t i = static_cast<int64_t>(f);
  if (r == 0) return i;
  switch (nm) {
    case kFloor: return i;
    case kCeil: return i + 1;
    case kRoundPreferCeil: return r < 0.5 ? i : i + 1;
    default: return r <= 0.5 ? i : i + 1;
  }
}

__device__ __forceinline__ int64_t clampIndex(int64_t i, int64_t n) {
  return i < 0 ? 0 : (i > n - 1 ? n - 1 : i);
}

// Keys' cubic weights for taps at distances 1+r, r, 1-r, 2-r (the CPU's cubicCoeffs, same
// evaluation order).
__device__ __forceinline__ void cubicCoeffs(double r, double a, double c[4]) {
  const double s = dsub(1, r);
  const double r1 = dadd(r, 1), s1 = dadd(s, 1);
  const double a5 = dmul(5, a), a8 = dmul(8, a), a4 = dmul(4, a);
  const double a2 = dadd(a, 2), a3 = dadd(a, 3);
  c[0] = dsub(dmul(dadd(dmul(dsub(dmul(a, r1), a5), r1), a8), r1), a4);
  c[1] = dadd(dmul(dmul(dsub(dmul(a2, r), a3), r), r), 1);
  c[2] = dadd(dmul(dmul(dsub(dmul(a2, s), a3), s), s), 1);
  c[3] = dsub(dmul(dadd(dmul(dsub(dmul(a, s1), a5), s1), a8), s1), a4);
}

// The taps of output index c on one active axis: offsets and weights at fixed positions, `mask`
// bit p set when tap p is kept (the CPU drops zero weights; if it drops all, it keeps one tap at
// clamp(floor(x)) with weight 0). Returns false when the position maps outside the input
// (tf_crop_and_resize: the output takes the extrapolation value).
template <int TAPS>
__device__ __forceinline__ bool axisTaps(const ResizeParams& p, const ResizeAxis& a, int64_t c,
                                         int64_t off[TAPS], double w[TAPS], int& mask) {
  const double xo = originalCoordinate(p.ctm, static_cast<double>(c), a);
  if (p.ctm == kTfCrop && (xo < 0 || xo > static_cast<double>(a.in - 1))) return false;
  if constexpr (TAPS == 1) {
    off[0] = clampIndex(nearestIndex(xo, p.nm), a.in) * a.stride;
    w[0] = 1.0;
    mask = 1;
    return true;
  } else {
    const double f = floor(xo);
    const double r = dsub(xo, f);
    const int64_t i0 = static_cast<int64_t>(f);
    int64_t ind[TAPS];
    if constexpr (TAPS == 2) {
      ind[0] = i0;
      ind[1] = i0 + 1;
      w[0] = dsub(1, r);
      w[1] = r;
    } else {
      cubicCoeffs(r, p.cubicA, w);
#pragma unroll
      for (int t = 0; t < 4; ++t) ind[t] = i0 - 1 + t;
      if (p.excludeOutside) {
        double sum = 0;
#pragma unroll
        for (int t = 0; t < 4; ++t) {
          if (ind[t] < 0 || ind[t] >= a.in) w[t] = 0;
          sum = dadd(sum, w[t]);
        }
#pragma unroll
        for (int t = 0; t < 4; ++t) w[t] = w[t] / sum;
      }
    }
    mask = 0;
#pragma unroll
    for (int t = 0; t < TAPS; ++t) {
      off[t] = clampIndex(ind[t], a.in) * a.stride;
      if (w[t] != 0) mask |= 1 << t;
    }
    if (mask == 0) {
      off[0] = clampIndex(i0, a.in) * a.stride;
      w[0] = 0.0;
      mask = 1;
    }
    return true;
  }
}

// acc += prod(weights) * x[offset] over the tap choices of active axes Q..NA-1 (last fastest).
template <int Q, int NA, int TAPS, typename T>
__device__ __forceinline__ void accumulateTaps(const T* __restrict__ x,
                                               const int64_t (&off)[NA][TAPS],
                                               const double (&w)[NA][TAPS], const int (&mask)[NA],
                                               int64_t offAcc, double wAcc, double& acc) {
  if constexpr (Q == NA) {
    acc = dadd(acc, dmul(wAcc, idx::toDouble(x[offAcc])));
  } else {
#pragma unroll
    for (int t = 0; t < TAPS; ++t) {
      if ((mask[Q] >> t) & 1)
        accumulateTaps<Q + 1, NA, TAPS, T>(x, off, w, mask, offAcc + off[Q][t], dmul(wAcc, w[Q][t]),
                                           acc);
    }
  }
}

// Splits flat output index e into the untouched axes' input offset (returned) and the active
// axes' output coordinates (slot order).
template <int NA>
__device__ __forceinline__ int64_t splitCoords(const ResizeParams& p, int64_t e, int numActive,
                                               int64_t (&ac)[NA]) {
  uint64_t rem = static_cast<uint64_t>(e);
  int64_t base = 0;
#pragma unroll
  for (int k = kMaxRank - 1; k >= 0; --k) {
    if (k >= p.first) {
      const int64_t c = static_cast<int64_t>(rem % static_cast<uint64_t>(p.outDims[k]));
      rem /= static_cast<uint64_t>(p.outDims[k]);
      base += c * p.baseStrides[k];
    }
  }
#pragma unroll
  for (int q = 0; q < NA; ++q) {
    if (q < numActive) {
      const ResizeAxis& a = p.act[q];
      ac[q] = static_cast<int64_t>((static_cast<uint64_t>(e) / static_cast<uint64_t>(a.innerOut)) %
                                   static_cast<uint64_t>(a.out));
    }
  }
  return base;
}

template <typename T, int NA, int TAPS>
__global__ void resizeKernel(const __grid_constant__ ResizeParams p, const T* __restrict__ x,
                             T* __restrict__ y) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < p.total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t ac[NA];
    const int64_t base = splitCoords<NA>(p, e, NA, ac);
    int64_t off[NA][TAPS];
    double w[NA][TAPS];
    int mask[NA];
    bool inside = true;
#pragma unroll
    for (int q = 0; q < NA; ++q)
      inside = axisTaps<TAPS>(p, p.act[q], ac[q], off[q], w[q], mask[q]) && inside;
    double acc = p.extrapolation;
    if (inside) {
      acc = 0;
      accumulateTaps<0, NA, TAPS, T>(x, off, w, mask, base, 1.0, acc);
    }
    y[e] = idx::fromDouble<T>(acc);
  }
}

// Nothing resized: every axis is one tap of weight 1; y = 0 + 1 * x as the CPU accumulates (so
// -0 becomes +0, as there).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    resizeIdentityKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[e] = idx::fromDouble<T>(dadd(0.0, dmul(1.0, idx::toDouble(x[e]))));
}

// More than three active axes: the same computation with runtime loops (an odometer over taps).
template <typename T, int TAPS>
__global__ void __launch_bounds__(kThreads)
    resizeGenericKernel(const __grid_constant__ ResizeParams p, const T* __restrict__ x,
                        T* __restrict__ y) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < p.total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t ac[kMaxRank];
    const int64_t base = splitCoords<kMaxRank>(p, e, p.numActive, ac);
    int64_t off[kMaxRank][TAPS];
    double w[kMaxRank][TAPS];
    int mask[kMaxRank];
    bool inside = true;
    for (int q = 0; q < p.numActive; ++q)
      inside = axisTaps<TAPS>(p, p.act[q], ac[q], off[q], w[q], mask[q]) && inside;
    double acc = p.extrapolation;
    if (inside) {
      acc = 0;
      int pick[kMaxRank];
      for (int q = 0; q < p.numActive; ++q) {
        pick[q] = 0;
        while (!((mask[q] >> pick[q]) & 1)) ++pick[q];  // mask is never 0
      }
      while (true) {
        int64_t o = base;
        double wt = 1.0;
        for (int q = 0; q < p.numActive; ++q) {
          o += off[q][pick[q]];
          wt = dmul(wt, w[q][pick[q]]);
        }
        acc = dadd(acc, dmul(wt, idx::toDouble(x[o])));
        int q = p.numActive - 1;
        for (; q >= 0; --q) {
          int next = pick[q] + 1;
          while (next < TAPS && !((mask[q] >> next) & 1)) ++next;
          if (next < TAPS) {
            pick[q] = next;
            break;
          }
          pick[q] = 0;
          while (!((mask[q] >> pick[q]) & 1)) ++pick[q];
        }
        if (q < 0) break;
      }
    }
    y[e] = idx::fromDouble<T>(acc);
  }
}

class ResizeKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& y = ctx.outputs[0];
    mDtype = x.dtype;
    if (!dispatchFloat(mDtype, [](auto) {}))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mDtype)));
    const int64_t rank = x.rank();
    if (rank > kMaxRank)
      return ctx.unsupportedHere(
          strFormat("rank %lld (> %d)", static_cast<long long>(rank), kMaxRank));
    if (y.rank() != rank) return ctx.error("output rank differs from the input's");
    if (ctx.attrs().getInt("antialias", 0) != 0) return ctx.unsupportedHere("antialias=1");
    const std::string mode = ctx.attrs().getString("mode", "nearest");
    const std::string ctm = ctx.attrs().getString("coordinate_transformation_mode", "half_pixel");
    const std::string nm = ctx.attrs().getString("nearest_mode", "round_prefer_floor");
    const std::string policy = ctx.attrs().getString("keep_aspect_ratio_policy", "stretch");
    ResizeParams& p = mParams;
    p = ResizeParams{};
    if (mode == "nearest") {
      p.mode = kNearest;
    } else if (mode == "linear") {
      p.mode = kLinear;
    } else if (mode == "cubic") {
      p.mode = kCubic;
    } else {
      return ctx.error("mode '%s' is not one of nearest, linear, cubic", mode.c_str());
    }
    if (ctm == "half_pixel") {
      p.ctm = kHalfPixel;
    } else if (ctm == "pytorch_half_pixel") {
      p.ctm = kPytorchHalfPixel;
    } else if (ctm == "align_corners") {
      p.ctm = kAlignCorners;
    } else if (ctm == "asymmetric") {
      p.ctm = kAsymmetric;
    } else if (ctm == "half_pixel_symmetric") {
      p.ctm = kHalfPixelSymmetric;
    } else if (ctm == "tf_crop_and_resize") {
      p.ctm = kTfCrop;
    } else {
      return ctx.error("coordinate_transformation_mode '%s' is not supported", ctm.c_str());
    }
    if (nm == "round_prefer_floor") {
      p.nm = kRoundPreferFloor;
    } else if (nm == "round_prefer_ceil") {
      p.nm = kRoundPreferCeil;
    } else if (nm == "floor") {
      p.nm = kFloor;
    } else if (nm == "ceil") {
      p.nm = kCeil;
    } else {
      return ctx.error("nearest_mode '%s' is not supported", nm.c_str());
    }
    p.cubicA = ctx.attrs().getFloat("cubic_coeff_a", -0.75f);
    p.excludeOutside = ctx.attrs().getInt("exclude_outside", 0) != 0;
    p.extrapolation = ctx.attrs().getFloat("extrapolation_value", 0.f);

    std::vector<int64_t> axes = ctx.attrs().getInts("axes");
    if (axes.empty()) {
      for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
    }
    for (int64_t& a : axes) {
      if (a < 0) a += rank;
      if (a < 0 || a >= rank) return ctx.error("resize axis out of range");
    }
    // Per-axis scale and roi (defaults: 1 and [0, 1]), exactly as the CPU derives them.
    const size_t ur = static_cast<size_t>(rank), na = axes.size();
    std::vector<double> scale(ur, 1.0), roiStart(ur, 0.0), roiEnd(ur, 1.0);
    bool exactSizes = false;
    const bool hasScales = ctx.hasInput(2) && ctx.inputs[2].numel() > 0;
    if (hasScales) {
      KILN_ASSIGN_OR_RETURN(std::vector<double> scales, ctx.hostDoubles(2, "scales"));
      if (scales.size() != na) return ctx.error("scales has the wrong length");
      for (size_t k = 0; k < na; ++k) scale[static_cast<size_t>(axes[k])] = scales[k];
    } else if (ctx.hasInput(3)) {
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ctx.hostInts(3, "sizes"));
      if (sizes.size() != na) return ctx.error("sizes has the wrong length");
      double common = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
      for (size_t k = 0; k < na; ++k) {
        const size_t a = static_cast<size_t>(axes[k]);
        const double r = static_cast<double>(sizes[k]) / static_cast<double>(x.dims[a]);
        scale[a] = r;
        common = policy == "not_larger" ? std::min(common, r) : std::max(common, r);
      }
      if (policy != "stretch")
        for (size_t k = 0; k < na; ++k) scale[static_cast<size_t>(axes[k])] = common;
      exactSizes = policy == "stretch";
    } else {
      return ctx.error("needs scales or sizes");
    }
    if (p.ctm == kTfCrop) {
      if (!ctx.hasInput(1))
        return ctx.error("roi must have 2 * %zu entries for tf_crop_and_resize", na);
      KILN_ASSIGN_OR_RETURN(std::vector<double> roi, ctx.hostDoubles(1, "roi"));
      if (roi.size() != 2 * na)
        return ctx.error("roi must have 2 * %zu entries for tf_crop_and_resize", na);
      for (size_t k = 0; k < na; ++k) {
        roiStart[static_cast<size_t>(axes[k])] = roi[k];
        roiEnd[static_cast<size_t>(axes[k])] = roi[na + k];
      }
    }

    const std::vector<int64_t> strides = idx::stridesOf(x.dims);
    p.first = kMaxRank - static_cast<int>(rank);
    p.total = y.numel();
    p.numActive = 0;
    for (int k = 0; k < kMaxRank; ++k) {
      p.outDims[k] = 1;
      p.baseStrides[k] = 0;
    }
    for (size_t a = 0; a < ur; ++a) {
      const int64_t in = x.dims[a], out = y.dims[a];
      if (in == 0 && out > 0)
        return ctx.error("cannot resize an empty axis %zu to %lld", a, static_cast<long long>(out));
      const int k = p.first + static_cast<int>(a);
      p.outDims[k] = out;
      if (in == out && scale[a] == 1.0 && p.ctm != kTfCrop) {  // untouched: one tap of weight 1
        p.baseStrides[k] = strides[a];
        continue;
      }
      ResizeAxis& ax = p.act[p.numActive++];
      ax.in = in;
      ax.out = out;
      ax.stride = strides[a];
      ax.innerOut = idx::product(y.dims, a + 1, y.dims.size());
      ax.scale = scale[a];
      ax.lenResized = exactSizes ? static_cast<double>(out) : scale[a] * static_cast<double>(in);
      ax.roiStart = roiStart[a];
      ax.roiEnd = roiEnd[a];
    }
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mParams.total == 0) return Status::ok();
    const int grid = idx::blocksFor(mParams.total, ctx.libs);
    dispatchFloat(mDtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      switch (mParams.mode) {
        case kNearest: launch<T, 1>(ctx, grid); break;
        case kLinear: launch<T, 2>(ctx, grid); break;
        default: launch<T, 4>(ctx, grid); break;
      }
    });
    KILN_CUDA_CHECK_LAUNCH("resize kernel");
    return Status::ok();
  }

 private:
  template <typename T, int TAPS>
  void launch(const LaunchContext& ctx, int grid) {
    const T* x = ctx.inputs[0].as<const T>();
    T* y = ctx.outputs[0].as<T>();
    switch (mParams.numActive) {
      case 0:
        resizeIdentityKernel<T><<<grid, kThreads, 0, ctx.stream>>>(x, y, mParams.total);
        break;
      case 1: resizeKernel<T, 1, TAPS><<<grid, kThreads, 0, ctx.stream>>>(mParams, x, y); break;
      case 2: resizeKernel<T, 2, TAPS><<<grid, kThreads, 0, ctx.stream>>>(mParams, x, y); break;
      case 3: resizeKernel<T, 3, TAPS><<<grid, kThreads, 0, ctx.stream>>>(mParams, x, y); break;
      default:
        resizeGenericKernel<T, TAPS><<<grid, kThreads, 0, ctx.stream>>>(mParams, x, y);
        break;
    }
  }

  DataType mDtype = DataType::kFLOAT;
  ResizeParams mParams;
};

// --- GridSample
// --------------------------------------------------------------------------------------

enum PadMode : int { kZeros = 0, kBorder = 1, kReflection = 2 };

struct GridParams {
  int64_t total = 0, channels = 1, outVol = 1, inVol = 1;
  int64_t in[3] = {1, 1, 1}, strides[3] = {0, 0, 0};
  double lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
  int pad = kZeros;
  bool align = false;
  DataType gridType = DataType::kFLOAT;
};

// Coordinate arithmetic in C (float or double), rounded per operation as on the CPU.
__device__ __forceinline__ float cadd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float csub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float cmul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float cdiv(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double cadd(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double csub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ double cmul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double cdiv(double a, double b) { return __ddiv_rn(a, b); }

// Reflects x into [lo, hi] by bouncing off the borders (the CPU's reflectCoord).
__device__ __forceinline__ double reflectCoord(double x, double lo, double hi) {
  const double range = dsub(hi, lo);
  if (range <= 0) return lo;
  if (x < lo) {
    const double dx = dsub(lo, x);
    const int64_t n = static_cast<int64_t>(dx / range);
    const double r = dsub(dx, dmul(static_cast<double>(n), range));
    return n % 2 == 0 ? dadd(lo, r) : dsub(hi, r);
  }
  if (x > hi) {
    const double dx = dsub(x, hi);
    const int64_t n = static_cast<int64_t>(dx / range);
    const double r = dsub(dx, dmul(static_cast<double>(n), range));
    return n % 2 == 0 ? dsub(hi, r) : dadd(lo, r);
  }
  return x;
}

// Keys cubic weights with a = -0.75 (the CPU's cubicWeights, same evaluation order).
__device__ __forceinline__ double cubicFar(double u) {
  const double a = -0.75;
  return dsub(dmul(dadd(dmul(dsub(dmul(a, u), dmul(5, a)), u), dmul(8, a)), u), dmul(4, a));
}
__device__ __forceinline__ double cubicNear(double u) {
  const double a = -0.75;
  return dadd(dmul(dmul(dsub(dmul(dadd(a, 2), u), dadd(a, 3)), u), u), 1);
}

// A tap index under the padding rule; -1 reads zero.
__device__ __forceinline__ int64_t resolveTap(const GridParams& p, int d, int64_t i) {
  const int64_t n = p.in[d];
  if (i >= 0 && i < n) return i;
  switch (p.pad) {
    case kZeros: return -1;
    case kBorder: return clampIndex(i, n);
    default:
      return clampIndex(
          static_cast<int64_t>(reflectCoord(static_cast<double>(i), p.lo[d], p.hi[d])), n);
  }
}

// acc += w * x[flat] over the tap choices of dims Q..R-1 (last dim fastest); the weight product
// runs from the last dim to the first, as the CPU multiplies.
template <int Q, int R, int TAPS, typename T>
__device__ __forceinline__ void gridAccumulate(const T* __restrict__ plane, const GridParams& p,
                                               const int64_t (&ti)[R][TAPS],
                                               const double (&tw)[R][TAPS], double (&sel)[R],
                                               bool zero, int64_t flat, double& acc) {
  if constexpr (Q == R) {
    double w = 1;
#pragma unroll
    for (int d = R - 1; d >= 0; --d) w = dmul(w, sel[d]);
    if (!zero && w != 0) acc = dadd(acc, dmul(w, idx::toDouble(plane[flat])));
  } else {
#pragma unroll
    for (int t = 0; t < TAPS; ++t) {
      sel[Q] = tw[Q][t];
      const int64_t i = ti[Q][t];
      gridAccumulate<Q + 1, R, TAPS, T>(plane, p, ti, tw, sel, zero || i < 0,
                                        i < 0 ? flat : flat + i * p.strides[Q], acc);
    }
  }
}

template <typename T, typename C, int R, int MODE>
__global__ void gridSampleKernel(const __grid_constant__ GridParams p, const T* __restrict__ x,
                                 const void* __restrict__ grid, T* __restrict__ y) {
  constexpr int TAPS = MODE == 0 ? 1 : (MODE == 1 ? 2 : 4);
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < p.total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = e % p.outVol;
    const int64_t nc = e / p.outVol;
    const int64_t n = nc / p.channels;
    int64_t ti[R][TAPS];
    double tw[R][TAPS];
#pragma unroll
    for (int d = 0; d < R; ++d) {
      // The last grid entry is the first spatial dim's coordinate (x = width first).
      const C g = static_cast<C>(
          idx::elementAsDouble(grid, (n * p.outVol + o) * R + (R - 1 - d), p.gridType));
      const C len = static_cast<C>(p.in[d]);
      C xc = p.align ? cmul(cdiv(cadd(g, C(1)), C(2)), csub(len, C(1)))
                     : cdiv(csub(cmul(cadd(g, C(1)), len), C(1)), C(2));
      if constexpr (MODE == 0) {
        if constexpr (std::is_same_v<C, float>) {
          xc = rintf(xc);  // half to even, as std::nearbyint
        } else {
          xc = rint(xc);
        }
      }
      double xd = static_cast<double>(xc);
      if (xd < p.lo[d] || xd > p.hi[d]) {
        if (p.pad == kBorder) xd = fmin(fmax(xd, 0.0), static_cast<double>(p.in[d] - 1));
        if (p.pad == kReflection)
          xd = static_cast<double>(static_cast<C>(reflectCoord(xd, p.lo[d], p.hi[d])));
      }
      const bool finite = isfinite(xd);
      if constexpr (MODE == 0) {
        ti[d][0] = finite ? resolveTap(p, d, static_cast<int64_t>(xd)) : -1;
        tw[d][0] = 1.0;
      } else {
        if (!finite) {
#pragma unroll
          for (int t = 0; t < TAPS; ++t) ti[d][t] = -1, tw[d][t] = 0;
          continue;
        }
        const double fl = floor(xd);
        const double t = dsub(xd, fl);
        const int64_t x0 = static_cast<int64_t>(fl);
        if constexpr (MODE == 1) {
          ti[d][0] = resolveTap(p, d, x0);
          tw[d][0] = dsub(1, t);
          ti[d][1] = resolveTap(p, d, x0 + 1);
          tw[d][1] = t;
        } else {
          tw[d][0] = cubicFar(dadd(t, 1));
          tw[d][1] = cubicNear(t);
          tw[d][2] = cubicNear(dsub(1, t));
          tw[d][3] = cubicFar(dsub(2, t));
#pragma unroll
          for (int k = 0; k < 4; ++k) ti[d][k] = resolveTap(p, d, x0 - 1 + k);
        }
      }
    }
    double sel[R];
    double acc = 0;
    gridAccumulate<0, R, TAPS, T>(x + nc * p.inVol, p, ti, tw, sel, false, 0, acc);
    y[e] = idx::fromDouble<T>(acc);
  }
}

class GridSampleKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& grid = ctx.inputs[1];
    const CudaTensor& y = ctx.outputs[0];
    mDtype = x.dtype;
    if (!dispatchFloat(mDtype, [](auto) {}) || y.dtype != x.dtype)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mDtype)));
    if (!dispatchFloat(grid.dtype, [](auto) {}))
      return ctx.unsupportedHere(strFormat("grid data type %s", dataTypeName(grid.dtype)));
    if (x.rank() < 3) return ctx.error("X must have rank >= 3");
    mR = static_cast<int>(x.rank() - 2);
    if (mR > 3)
      return ctx.unsupportedHere(strFormat("GridSample with %d spatial dims (at most 3)", mR));
    const std::string modeStr = ctx.attrs().getString("mode", "linear");
    const std::string padStr = ctx.attrs().getString("padding_mode", "zeros");
    mMode = modeStr == "nearest" ? 0 : modeStr == "cubic" ? 2 : 1;
    GridParams& p = mParams;
    p = GridParams{};
    p.align = ctx.attrs().getInt("align_corners", 0) != 0;
    p.pad = padStr == "border" ? kBorder : padStr == "reflection" ? kReflection : kZeros;
    p.gridType = grid.dtype;
    mDoubleCoords = grid.dtype == DataType::kDOUBLE;
    const int64_t batch = x.dims[0];
    if (grid.rank() != x.rank() || grid.dims[0] != batch || grid.dims.back() != mR)
      return ctx.error("grid does not match X");
    p.channels = x.dims[1];
    const std::vector<int64_t> in(x.dims.begin() + 2, x.dims.end());
    p.inVol = idx::product(in, 0, in.size());
    p.outVol = idx::product(grid.dims, 1, grid.dims.size() - 1);
    const std::vector<int64_t> s = idx::stridesOf(in);
    for (int d = 0; d < mR; ++d) {
      p.in[d] = in[static_cast<size_t>(d)];
      p.strides[d] = s[static_cast<size_t>(d)];
      p.lo[d] = p.align ? 0.0 : -0.5;
      p.hi[d] = p.align ? static_cast<double>(p.in[d] - 1) : static_cast<double>(p.in[d]) - 0.5;
    }
    p.total = y.numel();
    if (p.total != batch * p.channels * p.outVol) return ctx.error("output size does not match");
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mParams.total == 0) return Status::ok();
    const int grid = idx::blocksFor(mParams.total, ctx.libs);
    dispatchFloat(mDtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (mDoubleCoords) {
        launchR<T, double>(ctx, grid);
      } else {
        launchR<T, float>(ctx, grid);
      }
    });
    KILN_CUDA_CHECK_LAUNCH("grid sample kernel");
    return Status::ok();
  }

 private:
  template <typename T, typename C>
  void launchR(const LaunchContext& ctx, int grid) {
    switch (mR) {
      case 1: launchMode<T, C, 1>(ctx, grid); break;
      case 2: launchMode<T, C, 2>(ctx, grid); break;
      default: launchMode<T, C, 3>(ctx, grid); break;
    }
  }

  template <typename T, typename C, int R>
  void launchMode(const LaunchContext& ctx, int grid) {
    const T* x = ctx.inputs[0].as<const T>();
    const void* g = ctx.inputs[1].data;
    T* y = ctx.outputs[0].as<T>();
    switch (mMode) {
      case 0:
        gridSampleKernel<T, C, R, 0><<<grid, kThreads, 0, ctx.stream>>>(mParams, x, g, y);
        break;
      case 1:
        gridSampleKernel<T, C, R, 1><<<grid, kThreads, 0, ctx.stream>>>(mParams, x, g, y);
        break;
      default:
        gridSampleKernel<T, C, R, 2><<<grid, kThreads, 0, ctx.stream>>>(mParams, x, g, y);
        break;
    }
  }

  DataType mDtype = DataType::kFLOAT;
  GridParams mParams;
  int mR = 2, mMode = 1;
  bool mDoubleCoords = false;
};

template <typename Kernel>
StatusOr<std::unique_ptr<CudaKernel>> make(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new Kernel());
}

}  // namespace

void registerResizeKernels(CudaKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kResize)] = &make<ResizeKernel>;
  t[static_cast<size_t>(ir::OpKind::kGridSample)] = &make<GridSampleKernel>;
}

}  // namespace kiln::cuda
