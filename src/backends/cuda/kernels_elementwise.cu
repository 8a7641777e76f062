// CUDA kernels for the Binary and Unary families of ops.def (the quantization ops excepted:
// QuantizeLinear/DequantizeLinear/DynamicQuantizeLinear live with the transformer/quant kernels).
//
// Every kernel computes exactly what the CPU reference computes (src/backends/cpu/
// kernels_binary.cpp, kernels_unary.cpp, elementwise_util.h): same dtype sets, same attribute
// defaults, same NaN/overflow/rounding rules, float16/bfloat16 computed in float32 and rounded
// once at the store. Two deliberate differences, forced by the GPU never reading data back:
//   - integer Div/Mod by a zero divisor that is only known at run time yields 0 instead of an
//     error (a constant zero divisor is reported in prepare() like the CPU does);
//   - float math functions are CUDA's (a few ulp from glibc's where not correctly rounded).
//
// Layout: one kernel per dtype per family with a switch on the op at the top (the op is uniform
// across the grid, so the switch costs one branch per thread, and each case is a tight loop).
// Elementwise maps have a 16-byte vectorized path (contiguous or scalar inputs, aligned
// pointers) and a general path walking the output index into per-input offsets with broadcast
// strides (ew::BroadcastIndex, built in prepare()).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/elementwise.cuh"

namespace kiln::cuda {
namespace {

using namespace ew;  // NOLINT(google-build-using-namespace): kernel-local helpers

constexpr int kThreads = 256;

// ---------------------------------------------------------------------------------------------
// Math overloads: float32 uses the precise single-precision functions (expf, not __expf),
// float64 the double ones, so a generic op body picks the right precision from its type.

#define KILN_EW_MATH1(name, f32, f64)                               \
  __device__ __forceinline__ float name(float x) { return f32(x); } \
  __device__ __forceinline__ double name(double x) { return f64(x); }
KILN_EW_MATH1(mExp, expf, exp)
KILN_EW_MATH1(mExpm1, expm1f, expm1)
KILN_EW_MATH1(mLog, logf, log)
KILN_EW_MATH1(mLog1p, log1pf, log1p)
KILN_EW_MATH1(mSqrt, sqrtf, sqrt)
KILN_EW_MATH1(mTanh, tanhf, tanh)
KILN_EW_MATH1(mErf, erff, erf)
KILN_EW_MATH1(mErfc, erfcf, erfc)
KILN_EW_MATH1(mSin, sinf, sin)
KILN_EW_MATH1(mCos, cosf, cos)
KILN_EW_MATH1(mTan, tanf, tan)
KILN_EW_MATH1(mAsin, asinf, asin)
KILN_EW_MATH1(mAcos, acosf, acos)
KILN_EW_MATH1(mAtan, atanf, atan)
KILN_EW_MATH1(mSinh, sinhf, sinh)
KILN_EW_MATH1(mCosh, coshf, cosh)
KILN_EW_MATH1(mAsinh, asinhf, asinh)
KILN_EW_MATH1(mAcosh, acoshf, acosh)
KILN_EW_MATH1(mAtanh, atanhf, atanh)
KILN_EW_MATH1(mFloor, floorf, floor)
KILN_EW_MATH1(mCeil, ceilf, ceil)
KILN_EW_MATH1(mRint, rintf, rint)  // round half to even (the CPU's nearbyint)
KILN_EW_MATH1(mFabs, fabsf, fabs)
#undef KILN_EW_MATH1
__device__ __forceinline__ float mFmod(float a, float b) { return fmodf(a, b); }
__device__ __forceinline__ double mFmod(double a, double b) { return fmod(a, b); }
__device__ __forceinline__ float mPow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double mPow(double a, double b) { return pow(a, b); }
__device__ __forceinline__ float mCopysign(float a, float b) { return copysignf(a, b); }
__device__ __forceinline__ double mCopysign(double a, double b) { return copysign(a, b); }
// Explicitly rounded multiply/add: nvcc contracts a * b + c into one FMA, the CPU rounds twice;
// the few ops with such an expression use these to get the CPU's bits.
__device__ __forceinline__ float mulRn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mulRn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float addRn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double addRn(double a, double b) { return __dadd_rn(a, b); }

// std::max / std::min exactly (their NaN behaviour differs from fmax/fmin and the CPU uses them):
// max(a, b) = a < b ? b : a;  min(a, b) = b < a ? b : a.
template <typename C>
__device__ __forceinline__ C stdMax(C a, C b) {
  return a < b ? b : a;
}
template <typename C>
__device__ __forceinline__ C stdMin(C a, C b) {
  return b < a ? b : a;
}

template <typename C>
__device__ __forceinline__ C quietNan() {
  return std::numeric_limits<C>::quiet_NaN();
}

// Numerically stable logistic: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0.
template <typename C>
__device__ __forceinline__ C sigmoidOf(C x) {
  if (x >= C{0}) return C{1} / (C{1} + mExp(-x));
  const C e = mExp(x);
  return e / (C{1} + e);
}
// softplus(x) = max(x, 0) + log1p(e^-|x|).
template <typename C>
__device__ __forceinline__ C softplusOf(C x) {
  return stdMax(x, C{0}) + mLog1p(mExp(-mFabs(x)));
}

// ---------------------------------------------------------------------------------------------
// Kernel argument structs (filled in prepare(), pointers set in enqueue()).

struct BinaryArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  void* out = nullptr;
  int64_t numel = 0;
  int32_t op = 0;
  bool use32 = true;  // numel < 2^31: 32-bit index math
  bool vec = false;   // flat index and aligned pointers: 16-byte vector path
  // > 0: the vector path over a [rows, cols] index where each input is contiguous or one row
  // repeated for every row (a bias over the last dims): cols / vector width.
  int32_t rowVec = 0;
  BroadcastIndex<2> ix;
};

struct UnaryArgs {
  const void* x = nullptr;
  void* out = nullptr;
  const void* lo = nullptr;  // Clip's min (one element on the device) or null
  const void* hi = nullptr;  // Clip's max or null
  int64_t numel = 0;
  int32_t op = 0;  // UnOp, or the target DataType for Cast
  bool vec = false;
  float alpha = 0.f, beta = 0.f, gamma = 0.f;
};

constexpr int kMaxVarInputs = 8;
struct VariadicArgs {
  const void* in[kMaxVarInputs] = {};
  const void* acc = nullptr;  // Compute<T> partial result of the earlier inputs, or null
  void* out = nullptr;        // T output (last pass) or the Compute<T> partial result
  int64_t numel = 0;
  int32_t op = 0;
  int32_t count = 0;  // inputs in this pass
  int32_t total = 0;  // inputs overall (Mean's divisor)
  bool last = true;
  bool use32 = true;
  BroadcastIndex<kMaxVarInputs> ix;
};

struct PowArgs {
  const void* a = nullptr;
  const void* e = nullptr;
  void* out = nullptr;
  int64_t numel = 0;
  int32_t etype = 0;  // DataType of the exponent
  bool use32 = true;
  BroadcastIndex<2> ix;
};

struct WhereArgs {
  const void* c = nullptr;
  const void* x = nullptr;
  const void* y = nullptr;
  void* out = nullptr;
  int64_t numel = 0;
  bool use32 = true;
  BroadcastIndex<3> ix;
};

__device__ __forceinline__ int64_t threadIndex() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t gridStride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// ---------------------------------------------------------------------------------------------
// Loop bodies.

// out[i] = f(x[i]) over contiguous tensors; f maps a stored TIn to a stored TOut. The vector
// path moves 16 bytes of input per thread per step; the tail (and misaligned tensors) go
// element by element. kVectorize = false leaves the vector path out (ops whose math dwarfs the
// memory traffic: it would only multiply their code by the vector width).
template <typename TIn, typename TOut, bool kVectorize = true, typename F>
__device__ __forceinline__ void mapBody(const UnaryArgs& args, F f) {
  const TIn* px = static_cast<const TIn*>(args.x);
  TOut* po = static_cast<TOut*>(args.out);
  const int64_t n = args.numel;
  const int64_t tid = threadIndex(), step = gridStride();
  int64_t start = 0;
  if (kVectorize && args.vec) {
    constexpr int V = kVec<TIn>;
    using PI = Pack<TIn, V>;
    using PO = Pack<TOut, V>;
    const int64_t nv = n / V;
    for (int64_t v = tid; v < nv; v += step) {
      const PI a = reinterpret_cast<const PI*>(px)[v];
      PO r;
#pragma unroll
      for (int e = 0; e < V; ++e) r.v[e] = f(a.v[e]);
      reinterpret_cast<PO*>(po)[v] = r;
    }
    start = nv * V;
  }
  for (int64_t i = start + tid; i < n; i += step) po[i] = f(px[i]);
}

// out[i] = f(a[..], b[..]) with broadcasting; f maps stored T values to a stored TOut.
template <typename T, typename TOut, bool kVectorize = true, typename F>
__device__ __forceinline__ void binaryBody(const BinaryArgs& args, F f) {
  const T* pa = static_cast<const T*>(args.a);
  const T* pb = static_cast<const T*>(args.b);
  TOut* po = static_cast<TOut*>(args.out);
  const int64_t n = args.numel;
  const int64_t tid = threadIndex(), step = gridStride();
  int64_t start = 0;
  if (kVectorize && args.vec) {
    // Flat index: each input is contiguous (stride 1) or one broadcast element (stride 0).
    // Row index (rowVec > 0): each input is contiguous or one row of rowVec vectors repeated.
    constexpr int V = kVec<T>;
    using PI = Pack<T, V>;
    using PO = Pack<TOut, V>;
    const bool row = args.rowVec > 0;
    const bool sa = !row && args.ix.strides[0][0] == 0, sb = !row && args.ix.strides[0][1] == 0;
    const bool ra = row && args.ix.strides[0][0] == 0, rb = row && args.ix.strides[0][1] == 0;
    const T a0 = pa[0], b0 = pb[0];
    const int64_t nv = n / V;
    for (int64_t v = tid; v < nv; v += step) {
      PI va, vb;
      if (sa) {
#pragma unroll
        for (int e = 0; e < V; ++e) va.v[e] = a0;
      } else {
        va = reinterpret_cast<const PI*>(pa)[ra ? v % args.rowVec : v];
      }
      if (sb) {
#pragma unroll
        for (int e = 0; e < V; ++e) vb.v[e] = b0;
      } else {
        vb = reinterpret_cast<const PI*>(pb)[rb ? v % args.rowVec : v];
      }
      PO r;
#pragma unroll
      for (int e = 0; e < V; ++e) r.v[e] = f(va.v[e], vb.v[e]);
      reinterpret_cast<PO*>(po)[v] = r;
    }
    start = nv * V;
  }
  for (int64_t i = start + tid; i < n; i += step) {
    int64_t off[2];
    broadcastOffsets(args.ix, i, args.use32, off);
    po[i] = f(pa[off[0]], pb[off[1]]);
  }
}

// ---------------------------------------------------------------------------------------------
// Binary arithmetic: Add Sub Mul Div Mod PRelu Max Min (and Sum/Mean of two inputs),
// BitShift, BitwiseAnd/Or/Xor. Output type = input type.

enum class BinOp : int32_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kFMod,
  kPRelu,
  kMax,
  kMin,
  kMean2,
  kShiftLeft,
  kShiftRight,
  kBitAnd,
  kBitOr,
  kBitXor
};

// r = fmod(a, b), moved by +b when r and b differ in sign; a zero r takes b's sign (numpy.mod).
template <typename C>
__device__ __forceinline__ C pythonFloatMod(C a, C b) {
  C r = mFmod(a, b);
  if (b == C{0}) return r;  // NaN
  if (r != C{0}) {
    if ((b < C{0}) != (r < C{0})) r += b;
  } else {
    r = mCopysign(C{0}, b);
  }
  return r;
}

template <typename C>
__device__ __forceinline__ C maxPropagateNan(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (isnan(a) || isnan(b)) return quietNan<C>();
  }
  return a < b ? b : a;
}
template <typename C>
__device__ __forceinline__ C minPropagateNan(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (isnan(a) || isnan(b)) return quietNan<C>();
  }
  return b < a ? b : a;
}

// BitShift: left shifts wrap; right shifts of signed values are arithmetic; a shift >= the bit
// width or negative shifts every bit out (0, or -1 for RIGHT of a negative value).
template <typename C>
__device__ __forceinline__ C bitShift(C a, C s, bool left) {
  constexpr uint64_t kBits = sizeof(C) * 8;
  bool outOfRange = false;
  if constexpr (std::is_signed_v<C>) outOfRange = s < C{0};
  if (outOfRange || static_cast<uint64_t>(s) >= kBits) {
    if constexpr (std::is_signed_v<C>) {
      if (!left && a < C{0}) return C{-1};
    }
    return C{0};
  }
  const int n = static_cast<int>(s);
  if (left) return static_cast<C>(static_cast<WrapU<C>>(a) << n);
  return static_cast<C>(a >> n);
}

template <BinOp Op, typename C>
__device__ __forceinline__ C binaryMath(C a, C b) {
  if constexpr (Op == BinOp::kAdd) {
    if constexpr (kIsInt<C>)
      return wrapAdd(a, b);
    else
      return a + b;
  } else if constexpr (Op == BinOp::kSub) {
    if constexpr (kIsInt<C>)
      return wrapSub(a, b);
    else
      return a - b;
  } else if constexpr (Op == BinOp::kMul) {
    if constexpr (kIsInt<C>)
      return wrapMul(a, b);
    else
      return a * b;
  } else if constexpr (Op == BinOp::kDiv) {
    if constexpr (kIsInt<C>) {
      // Truncating division; INT_MIN / -1 wraps to INT_MIN; x / 0 is 0 (the CPU reports an
      // error; the GPU cannot, and must not trap).
      if (b == C{0}) return C{0};
      if constexpr (std::is_signed_v<C>) {
        if (b == C{-1}) return wrapNeg(a);
      }
      return static_cast<C>(a / b);
    } else {
      return a / b;
    }
  } else if constexpr (Op == BinOp::kMod || Op == BinOp::kFMod) {
    if constexpr (kIsInt<C>) {
      if (b == C{0}) return C{0};  // see kDiv
      if constexpr (std::is_signed_v<C>) {
        if (b == C{-1}) return C{0};  // avoids INT_MIN % -1
      }
      C r = static_cast<C>(a % b);
      if constexpr (std::is_signed_v<C> && Op == BinOp::kMod) {
        if (r != C{0} && ((r < C{0}) != (b < C{0}))) r = static_cast<C>(r + b);
      }
      return r;
    } else {
      if constexpr (Op == BinOp::kFMod)
        return mFmod(a, b);
      else
        return pythonFloatMod(a, b);
    }
  } else if constexpr (Op == BinOp::kPRelu) {  // a = x, b = slope
    if constexpr (std::is_unsigned_v<C>) {
      return a;
    } else if constexpr (kIsInt<C>) {
      return a < C{0} ? wrapMul(b, a) : a;
    } else {
      return a < C{0} ? b * a : a;
    }
  } else if constexpr (Op == BinOp::kMax) {
    return maxPropagateNan(a, b);
  } else if constexpr (Op == BinOp::kMin) {
    return minPropagateNan(a, b);
  } else if constexpr (Op == BinOp::kMean2) {
    return (a + b) / C{2};
  } else if constexpr (Op == BinOp::kShiftLeft) {
    return bitShift(a, b, true);
  } else if constexpr (Op == BinOp::kShiftRight) {
    return bitShift(a, b, false);
  } else if constexpr (Op == BinOp::kBitAnd) {
    return static_cast<C>(a & b);
  } else if constexpr (Op == BinOp::kBitOr) {
    return static_cast<C>(a | b);
  } else {
    static_assert(Op == BinOp::kBitXor);
    return static_cast<C>(a ^ b);
  }
}

template <BinOp Op, typename T>
struct BinaryFn {
  __device__ __forceinline__ T operator()(T a, T b) const {
    return fromCompute<T>(binaryMath<Op>(toCompute(a), toCompute(b)));
  }
};

// Ops with a division (integer Div/Mod, float Mod) skip the vector path: their math, not the
// memory traffic, bounds them, and unrolling it by the vector width only bloats the code.
__host__ __device__ constexpr bool binaryVectorizes(BinOp op, bool isFloat) {
  if (op == BinOp::kMod || op == BinOp::kFMod) return false;
  return isFloat || op != BinOp::kDiv;
}

// Sign-agnostic integer ops (Add Sub Mul BitwiseAnd/Or/Xor: the same bits either way) of
// unsigned types run in the signed kernel of the same width, and unsigned Mod == FMod, so the
// unsigned kernels carry only the ops where signedness matters.
template <typename T>
__global__ void __launch_bounds__(kThreads, 1)
    binaryKernel(const __grid_constant__ BinaryArgs args) {
#define KILN_BIN_CASE(op) \
  case op: binaryBody<T, T, binaryVectorizes(op, kIsFloat<T>)>(args, BinaryFn<op, T>{}); return;
  switch (static_cast<BinOp>(args.op)) {
    KILN_BIN_CASE(BinOp::kDiv)
    KILN_BIN_CASE(BinOp::kMod)
    KILN_BIN_CASE(BinOp::kPRelu)
    KILN_BIN_CASE(BinOp::kMax)
    KILN_BIN_CASE(BinOp::kMin)
    default: break;
  }
  if constexpr (!std::is_unsigned_v<T>) {
    switch (static_cast<BinOp>(args.op)) {
      KILN_BIN_CASE(BinOp::kAdd)
      KILN_BIN_CASE(BinOp::kSub)
      KILN_BIN_CASE(BinOp::kMul)
      KILN_BIN_CASE(BinOp::kFMod)
      default: break;
    }
  }
  if constexpr (kIsFloat<T>) {
    if (static_cast<BinOp>(args.op) == BinOp::kMean2)
      binaryBody<T, T>(args, BinaryFn<BinOp::kMean2, T>{});
  } else {
    switch (static_cast<BinOp>(args.op)) {
      KILN_BIN_CASE(BinOp::kShiftLeft)
      KILN_BIN_CASE(BinOp::kShiftRight)
      default: break;
    }
  }
  if constexpr (kIsSignedInt<T>) {
    switch (static_cast<BinOp>(args.op)) {
      KILN_BIN_CASE(BinOp::kBitAnd)
      KILN_BIN_CASE(BinOp::kBitOr)
      KILN_BIN_CASE(BinOp::kBitXor)
      default: break;
    }
  }
#undef KILN_BIN_CASE
}

// ---------------------------------------------------------------------------------------------
// Comparisons and logical ops: bool output. NaN compares false (IEEE).

enum class CmpOp : int32_t { kEqual, kLess, kLessEqual, kGreater, kGreaterEqual, kAnd, kOr, kXor };

template <CmpOp Op, typename T>
struct CompareFn {
  __device__ __forceinline__ bool operator()(T as, T bs) const {
    if constexpr (std::is_same_v<T, bool>) {
      // bool is read as its byte (0/1); normalize so a stray byte still compares as a bool.
      const bool a = *reinterpret_cast<const uint8_t*>(&as) != 0;
      const bool b = *reinterpret_cast<const uint8_t*>(&bs) != 0;
      if constexpr (Op == CmpOp::kAnd)
        return a && b;
      else if constexpr (Op == CmpOp::kOr)
        return a || b;
      else if constexpr (Op == CmpOp::kXor)
        return a != b;
      else
        return a == b;  // kEqual
    } else {
      const auto a = toCompute(as);
      const auto b = toCompute(bs);
      if constexpr (Op == CmpOp::kEqual)
        return a == b;
      else if constexpr (Op == CmpOp::kLess)
        return a < b;
      else if constexpr (Op == CmpOp::kLessEqual)
        return a <= b;
      else if constexpr (Op == CmpOp::kGreater)
        return a > b;
      else
        return a >= b;  // kGreaterEqual
    }
  }
};

template <typename T>
__global__ void __launch_bounds__(kThreads, 1)
    compareKernel(const __grid_constant__ BinaryArgs args) {
#define KILN_CMP_CASE(op) \
  case op: binaryBody<T, bool>(args, CompareFn<op, T>{}); return;
  if constexpr (std::is_same_v<T, bool>) {
    switch (static_cast<CmpOp>(args.op)) {
      KILN_CMP_CASE(CmpOp::kEqual)
      KILN_CMP_CASE(CmpOp::kAnd)
      KILN_CMP_CASE(CmpOp::kOr)
      KILN_CMP_CASE(CmpOp::kXor)
      default: break;
    }
  } else {
    if constexpr (!std::is_unsigned_v<T>) {  // unsigned Equal runs in the signed kernel
      if (static_cast<CmpOp>(args.op) == CmpOp::kEqual)
        return binaryBody<T, bool>(args, CompareFn<CmpOp::kEqual, T>{});
    }
    switch (static_cast<CmpOp>(args.op)) {
      KILN_CMP_CASE(CmpOp::kLess)
      KILN_CMP_CASE(CmpOp::kLessEqual)
      KILN_CMP_CASE(CmpOp::kGreater)
      KILN_CMP_CASE(CmpOp::kGreaterEqual)
      default: break;
    }
  }
#undef KILN_CMP_CASE
}

// ---------------------------------------------------------------------------------------------
// Variadic Max/Min/Sum/Mean over >= 3 inputs: up to kMaxVarInputs inputs per pass, the partial
// result kept in the compute type (a workspace buffer) between passes, like the CPU's
// accumulator; the last pass divides (Mean) and rounds once to T.

enum class VarOp : int32_t { kMax, kMin, kSum, kMean };

template <VarOp Op, typename T>
__device__ __forceinline__ void variadicBody(const VariadicArgs& args) {
  using C = Compute<T>;
  const C* pacc = static_cast<const C*>(args.acc);
  const int first = pacc ? 0 : 1;
  const int64_t n = args.numel;
  for (int64_t i = threadIndex(); i < n; i += gridStride()) {
    int64_t off[kMaxVarInputs];
    broadcastOffsets(args.ix, i, args.use32, off);
    C acc = pacc ? pacc[i] : toCompute(static_cast<const T*>(args.in[0])[off[0]]);
#pragma unroll
    for (int j = 0; j < kMaxVarInputs; ++j) {
      if (j < first || j >= args.count) continue;
      const C b = toCompute(static_cast<const T*>(args.in[j])[off[j]]);
      if constexpr (Op == VarOp::kMax)
        acc = maxPropagateNan(acc, b);
      else if constexpr (Op == VarOp::kMin)
        acc = minPropagateNan(acc, b);
      else
        acc = acc + b;
    }
    if (args.last) {
      if constexpr (Op == VarOp::kMean) acc = acc / static_cast<C>(args.total);
      static_cast<T*>(args.out)[i] = fromCompute<T>(acc);
    } else {
      static_cast<C*>(args.out)[i] = acc;
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 1)
    variadicKernel(const __grid_constant__ VariadicArgs args) {
  switch (static_cast<VarOp>(args.op)) {
    case VarOp::kMax: variadicBody<VarOp::kMax, T>(args); return;
    case VarOp::kMin: variadicBody<VarOp::kMin, T>(args); return;
    default: break;
  }
  if constexpr (kIsFloat<T>) {
    switch (static_cast<VarOp>(args.op)) {
      case VarOp::kSum: variadicBody<VarOp::kSum, T>(args); return;
      case VarOp::kMean: variadicBody<VarOp::kMean, T>(args); return;
      default: break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pow: output has the base's type (float or signed int); the exponent may be any numeric type,
// converted per element (its dtype is a kernel argument, so one kernel per base type).

// Exponent element `off` of dtype `et` as the value the CPU computes with: static_cast<CB>(e)
// of the exponent's compute value.
template <typename CB>
__device__ __forceinline__ CB exponentAs(const void* p, int64_t off, int32_t et) {
  switch (static_cast<DataType>(et)) {
    case DataType::kFLOAT: return static_cast<CB>(static_cast<const float*>(p)[off]);
    case DataType::kDOUBLE: return static_cast<CB>(static_cast<const double*>(p)[off]);
    case DataType::kHALF: return static_cast<CB>(__half2float(static_cast<const __half*>(p)[off]));
    case DataType::kBF16:
      return static_cast<CB>(__bfloat162float(static_cast<const __nv_bfloat16*>(p)[off]));
    case DataType::kINT8: return static_cast<CB>(static_cast<const int8_t*>(p)[off]);
    case DataType::kINT16: return static_cast<CB>(static_cast<const int16_t*>(p)[off]);
    case DataType::kINT32: return static_cast<CB>(static_cast<const int32_t*>(p)[off]);
    case DataType::kINT64: return static_cast<CB>(static_cast<const int64_t*>(p)[off]);
    case DataType::kUINT8: return static_cast<CB>(static_cast<const uint8_t*>(p)[off]);
    case DataType::kUINT16: return static_cast<CB>(static_cast<const uint16_t*>(p)[off]);
    case DataType::kUINT32: return static_cast<CB>(static_cast<const uint32_t*>(p)[off]);
    case DataType::kUINT64: return static_cast<CB>(static_cast<const uint64_t*>(p)[off]);
    default: return CB{0};
  }
}

// Integer power by squaring with wrap-around; negative exponents give the truncated value of
// 1 / base^|e| (1 for base 1, +-1 for base -1, else 0).
template <typename T>
__device__ __forceinline__ T intPow(T base, int64_t e) {
  if (e < 0) {
    if (base == T{1}) return T{1};
    if (base == T{-1}) return (e % 2 == 0) ? T{1} : T{-1};
    return T{0};
  }
  T result = 1;
  T b = base;
  while (e > 0) {
    if (e & 1) result = wrapMul(result, b);
    b = wrapMul(b, b);
    e >>= 1;
  }
  return result;
}

template <typename TB>
__global__ void __launch_bounds__(kThreads, 1) powKernel(const __grid_constant__ PowArgs args) {
  using CB = Compute<TB>;
  const TB* pa = static_cast<const TB*>(args.a);
  TB* po = static_cast<TB*>(args.out);
  const DataType et = static_cast<DataType>(args.etype);
  const bool floatExp = et == DataType::kFLOAT || et == DataType::kDOUBLE ||
                        et == DataType::kHALF || et == DataType::kBF16;
  for (int64_t i = threadIndex(); i < args.numel; i += gridStride()) {
    int64_t off[2];
    broadcastOffsets(args.ix, i, args.use32, off);
    const CB a = toCompute(pa[off[0]]);
    CB r;
    if constexpr (kIsFloat<TB>) {
      r = mPow(a, exponentAs<CB>(args.e, off[1], args.etype));
    } else if (floatExp) {
      // CUDA's double pow may be an ulp or two off where glibc's (the CPU's) is exact, and the
      // result is truncated: 9^0.5 must give 3, not 2. Snap results within a few ulps of an
      // integer to it before truncating.
      double pr = pow(static_cast<double>(a), exponentAs<double>(args.e, off[1], args.etype));
      const double nearest = rint(pr);
      if (fabs(pr - nearest) <= 4.0 * 2.220446049250313e-16 * fabs(nearest)) pr = nearest;
      r = saturateFromDouble<CB>(pr);
    } else if (et == DataType::kUINT64) {
      // Exponents >= 2^63 act like the largest int64 of the same parity (the result only
      // depends on parity and on being huge).
      const uint64_t e = static_cast<const uint64_t*>(args.e)[off[1]];
      constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      r = intPow(a, e > kMax ? static_cast<int64_t>(kMax - 1 + (e & 1)) : static_cast<int64_t>(e));
    } else {
      r = intPow(a, exponentAs<int64_t>(args.e, off[1], args.etype));
    }
    po[i] = fromCompute<TB>(r);
  }
}

// ---------------------------------------------------------------------------------------------
// Where(cond, X, Y): pure data movement, so one kernel per element size.

template <typename U>
__global__ void __launch_bounds__(kThreads, 1) whereKernel(const __grid_constant__ WhereArgs args) {
  const uint8_t* pc = static_cast<const uint8_t*>(args.c);
  const U* px = static_cast<const U*>(args.x);
  const U* py = static_cast<const U*>(args.y);
  U* po = static_cast<U*>(args.out);
  for (int64_t i = threadIndex(); i < args.numel; i += gridStride()) {
    int64_t off[3];
    broadcastOffsets(args.ix, i, args.use32, off);
    po[i] = pc[off[0]] != 0 ? px[off[1]] : py[off[2]];
  }
}

// ---------------------------------------------------------------------------------------------
// Unary ops.

enum class UnOp : int32_t {
  kRelu,
  kLeakyRelu,
  kElu,
  kSelu,
  kCelu,
  kSigmoid,
  kHardSigmoid,
  kHardSwish,
  kTanh,
  kSoftplus,
  kSoftsign,
  kMish,
  kThresholdedRelu,
  kShrink,
  kClip,
  kGeluErf,
  kGeluTanh,
  kErf,
  kExp,
  kLog,
  kSqrt,
  kReciprocal,
  kNeg,
  kAbs,
  kSign,
  kFloor,
  kCeil,
  kRound,
  kSin,
  kCos,
  kTan,
  kAsin,
  kAcos,
  kAtan,
  kSinh,
  kCosh,
  kAsinh,
  kAcosh,
  kAtanh,
  kNot,
  kBitwiseNot,
  kIsNaN,
  kIsInf
};

// The trigonometric/hyperbolic family (rare in networks, large in code: argument reduction)
// skips the vector path.
__host__ __device__ constexpr bool unaryVectorizes(UnOp op) {
  return op < UnOp::kSin || op > UnOp::kAtanh;
}

// Per-op parameters in the compute type (attributes are float32, converted like the CPU does).
template <typename C>
struct UnaryParams {
  C alpha, beta, gamma;
  C lo, hi;
  bool hasLo, hasHi;
};

// Float ops (C = float or double).
template <UnOp Op, typename C>
__device__ __forceinline__ C floatMath(C x, const UnaryParams<C>& p) {
  if constexpr (Op == UnOp::kRelu) {
    return x < C{0} ? C{0} : x;  // NaN stays NaN
  } else if constexpr (Op == UnOp::kLeakyRelu) {
    return x < C{0} ? p.alpha * x : x;
  } else if constexpr (Op == UnOp::kElu) {
    return x < C{0} ? p.alpha * mExpm1(x) : x;
  } else if constexpr (Op == UnOp::kSelu) {  // gamma * (x <= 0 ? alpha * (e^x - 1) : x)
    return x <= C{0} ? p.gamma * p.alpha * mExpm1(x) : p.gamma * x;
  } else if constexpr (Op == UnOp::kCelu) {  // max(0, x) + min(0, alpha * (e^(x/alpha) - 1))
    return addRn(stdMax(C{0}, x), stdMin(C{0}, p.alpha * mExpm1(x / p.alpha)));
  } else if constexpr (Op == UnOp::kSigmoid) {
    return sigmoidOf(x);
  } else if constexpr (Op == UnOp::kHardSigmoid) {  // max(0, min(1, alpha * x + beta))
    if (x != x) return x;                           // NaN stays NaN, as on the CPU
    return stdMax(C{0}, stdMin(C{1}, addRn(mulRn(p.alpha, x), p.beta)));
  } else if constexpr (Op == UnOp::kHardSwish) {  // x * max(0, min(1, x / 6 + 0.5))
    return x * stdMax(C{0}, stdMin(C{1}, addRn(x / C{6}, C{0.5})));
  } else if constexpr (Op == UnOp::kTanh) {
    return mTanh(x);
  } else if constexpr (Op == UnOp::kSoftplus) {
    return softplusOf(x);
  } else if constexpr (Op == UnOp::kSoftsign) {
    return x / (C{1} + mFabs(x));
  } else if constexpr (Op == UnOp::kMish) {
    return x * mTanh(softplusOf(x));
  } else if constexpr (Op == UnOp::kThresholdedRelu) {
    return x > p.alpha ? x : C{0};
  } else if constexpr (Op == UnOp::kShrink) {  // alpha = lambd, beta = bias
    return x < -p.alpha ? x + p.beta : (x > p.alpha ? x - p.beta : C{0});
  } else if constexpr (Op == UnOp::kClip) {
    if (p.hasLo && x < p.lo) x = p.lo;
    if (p.hasHi && p.hi < x) x = p.hi;
    return x;
  } else if constexpr (Op ==
                       UnOp::kGeluErf) {  // x/2 * erfc(-x / sqrt(2)) = x/2 * (1 + erf(x / sqrt(2)))
    const C r = static_cast<C>(0.70710678118654752440084436210485);
    return C{0.5} * x * mErfc(-x * r);
  } else if constexpr (Op == UnOp::kGeluTanh) {
    // x/2 * (1 + tanh(y)) = x * sigmoid(2y), y = sqrt(2/pi) * (x + 0.044715 x^3).
    const C k = static_cast<C>(0.79788456080286535587989211986876);
    const C c = static_cast<C>(0.044715);
    const C inner = addRn(x, mulRn(mulRn(mulRn(c, x), x), x));
    return x * sigmoidOf(mulRn(mulRn(C{2}, k), inner));
  } else if constexpr (Op == UnOp::kErf) {
    return mErf(x);
  } else if constexpr (Op == UnOp::kExp) {
    return mExp(x);
  } else if constexpr (Op == UnOp::kLog) {
    return mLog(x);
  } else if constexpr (Op == UnOp::kSqrt) {
    return mSqrt(x);
  } else if constexpr (Op == UnOp::kReciprocal) {
    return C{1} / x;
  } else if constexpr (Op == UnOp::kNeg) {
    return -x;
  } else if constexpr (Op == UnOp::kAbs) {
    return mFabs(x);
  } else if constexpr (Op == UnOp::kSign) {
    if (isnan(x)) return x;
    return x > C{0} ? C{1} : (x < C{0} ? C{-1} : C{0});
  } else if constexpr (Op == UnOp::kFloor) {
    return mFloor(x);
  } else if constexpr (Op == UnOp::kCeil) {
    return mCeil(x);
  } else if constexpr (Op == UnOp::kRound) {
    return mRint(x);
  } else if constexpr (Op == UnOp::kSin) {
    return mSin(x);
  } else if constexpr (Op == UnOp::kCos) {
    return mCos(x);
  } else if constexpr (Op == UnOp::kTan) {
    return mTan(x);
  } else if constexpr (Op == UnOp::kAsin) {
    return mAsin(x);
  } else if constexpr (Op == UnOp::kAcos) {
    return mAcos(x);
  } else if constexpr (Op == UnOp::kAtan) {
    return mAtan(x);
  } else if constexpr (Op == UnOp::kSinh) {
    return mSinh(x);
  } else if constexpr (Op == UnOp::kCosh) {
    return mCosh(x);
  } else if constexpr (Op == UnOp::kAsinh) {
    return mAsinh(x);
  } else if constexpr (Op == UnOp::kAcosh) {
    return mAcosh(x);
  } else {
    static_assert(Op == UnOp::kAtanh);
    return mAtanh(x);
  }
}

template <UnOp Op, typename T>
struct FloatUnaryFn {
  UnaryParams<Compute<T>> p;
  __device__ __forceinline__ T operator()(T x) const {
    return fromCompute<T>(floatMath<Op>(toCompute(x), p));
  }
};

template <typename T>
__device__ __forceinline__ UnaryParams<Compute<T>> unaryParams(const UnaryArgs& args) {
  using C = Compute<T>;
  UnaryParams<C> p;
  p.alpha = static_cast<C>(args.alpha);
  p.beta = static_cast<C>(args.beta);
  p.gamma = static_cast<C>(args.gamma);
  p.hasLo = args.lo != nullptr;
  p.hasHi = args.hi != nullptr;
  p.lo = p.hasLo ? toCompute(*static_cast<const T*>(args.lo)) : C{0};
  p.hi = p.hasHi ? toCompute(*static_cast<const T*>(args.hi)) : C{0};
  return p;
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 1)
    floatUnaryKernel(const __grid_constant__ UnaryArgs args) {
  const UnaryParams<Compute<T>> p = unaryParams<T>(args);
#define KILN_UN_CASE(op)                                                          \
  case UnOp::op:                                                                  \
    mapBody<T, T, unaryVectorizes(UnOp::op)>(args, FloatUnaryFn<UnOp::op, T>{p}); \
    return;
  switch (static_cast<UnOp>(args.op)) {
    KILN_UN_CASE(kRelu)
    KILN_UN_CASE(kLeakyRelu)
    KILN_UN_CASE(kElu)
    KILN_UN_CASE(kSelu)
    KILN_UN_CASE(kCelu)
    KILN_UN_CASE(kSigmoid)
    KILN_UN_CASE(kHardSigmoid)
    KILN_UN_CASE(kHardSwish)
    KILN_UN_CASE(kTanh)
    KILN_UN_CASE(kSoftplus)
    KILN_UN_CASE(kSoftsign)
    KILN_UN_CASE(kMish)
    KILN_UN_CASE(kThresholdedRelu)
    KILN_UN_CASE(kShrink)
    KILN_UN_CASE(kClip)
    KILN_UN_CASE(kGeluErf)
    KILN_UN_CASE(kGeluTanh)
    KILN_UN_CASE(kErf)
    KILN_UN_CASE(kExp)
    KILN_UN_CASE(kLog)
    KILN_UN_CASE(kSqrt)
    KILN_UN_CASE(kReciprocal)
    KILN_UN_CASE(kNeg)
    KILN_UN_CASE(kAbs)
    KILN_UN_CASE(kSign)
    KILN_UN_CASE(kFloor)
    KILN_UN_CASE(kCeil)
    KILN_UN_CASE(kRound)
    KILN_UN_CASE(kSin)
    KILN_UN_CASE(kCos)
    KILN_UN_CASE(kTan)
    KILN_UN_CASE(kAsin)
    KILN_UN_CASE(kAcos)
    KILN_UN_CASE(kAtan)
    KILN_UN_CASE(kSinh)
    KILN_UN_CASE(kCosh)
    KILN_UN_CASE(kAsinh)
    KILN_UN_CASE(kAcosh)
    KILN_UN_CASE(kAtanh)
    default: break;
  }
#undef KILN_UN_CASE
}

// Integer (and bool) ops: C = T.
template <UnOp Op, typename T>
struct IntUnaryFn {
  UnaryParams<T> p;
  double lambd, bias;  // Shrink computes in double like the CPU
  __device__ __forceinline__ T operator()(T x) const {
    if constexpr (Op == UnOp::kRelu) {
      return x < T{0} ? T{0} : x;
    } else if constexpr (Op == UnOp::kNeg) {
      return wrapNeg(x);
    } else if constexpr (Op == UnOp::kAbs) {
      if constexpr (std::is_unsigned_v<T>)
        return x;
      else
        return x < T{0} ? wrapNeg(x) : x;  // |INT_MIN| wraps to INT_MIN
    } else if constexpr (Op == UnOp::kSign) {
      if constexpr (std::is_unsigned_v<T>)
        return x > T{0} ? T{1} : T{0};
      else
        return x > T{0} ? T{1} : (x < T{0} ? T{-1} : T{0});
    } else if constexpr (Op == UnOp::kShrink) {
      const double xd = static_cast<double>(x);
      const double r = xd < -lambd ? xd + bias : (xd > lambd ? xd - bias : 0.0);
      return saturateFromDouble<T>(r);
    } else if constexpr (Op == UnOp::kClip) {
      if (p.hasLo && x < p.lo) x = p.lo;
      if (p.hasHi && p.hi < x) x = p.hi;
      return x;
    } else if constexpr (Op == UnOp::kBitwiseNot) {
      return static_cast<T>(~x);
    } else {
      static_assert(Op == UnOp::kNot);
      return *reinterpret_cast<const uint8_t*>(&x) == 0;
    }
  }
};

template <typename T>
__global__ void __launch_bounds__(kThreads, 1)
    intUnaryKernel(const __grid_constant__ UnaryArgs args) {
  if constexpr (std::is_same_v<T, bool>) {
    mapBody<T, T>(args, IntUnaryFn<UnOp::kNot, T>{});  // Not is the only bool op
  } else {
    const UnaryParams<T> p = unaryParams<T>(args);
    const double lambd = args.alpha, bias = args.beta;
#define KILN_UN_CASE(op) \
  case UnOp::op: mapBody<T, T>(args, IntUnaryFn<UnOp::op, T>{p, lambd, bias}); return;
    switch (static_cast<UnOp>(args.op)) {
      KILN_UN_CASE(kAbs)
      KILN_UN_CASE(kSign)
      KILN_UN_CASE(kShrink)
      KILN_UN_CASE(kClip)
      KILN_UN_CASE(kBitwiseNot)
      default: break;
    }
    if constexpr (std::is_signed_v<T>) {
      switch (static_cast<UnOp>(args.op)) {
        KILN_UN_CASE(kRelu)
        KILN_UN_CASE(kNeg)
        default: break;
      }
    }
#undef KILN_UN_CASE
  }
}

// IsNaN / IsInf: float types -> bool. alpha != 0: detect +inf, beta != 0: detect -inf.
template <UnOp Op, typename T>
struct PredicateFn {
  bool pos, neg;
  __device__ __forceinline__ bool operator()(T xs) const {
    const auto x = toCompute(xs);
    if constexpr (Op == UnOp::kIsNaN)
      return isnan(x);
    else
      return isinf(x) && (x > 0 ? pos : neg);
  }
};

template <typename T>
__global__ void __launch_bounds__(kThreads, 1)
    predicateKernel(const __grid_constant__ UnaryArgs args) {
  if (static_cast<UnOp>(args.op) == UnOp::kIsNaN) {
    mapBody<T, bool>(args, PredicateFn<UnOp::kIsNaN, T>{});
  } else {
    mapBody<T, bool>(args, PredicateFn<UnOp::kIsInf, T>{args.alpha != 0.f, args.beta != 0.f});
  }
}

// Cast between any two types (semantics in ew::convertValue); one kernel per source type, the
// target type (args.op) switched once per thread.
template <typename From, typename To>
struct CastFn {
  __device__ __forceinline__ To operator()(From v) const { return convertValue<To>(v); }
};

template <typename From>
__global__ void __launch_bounds__(kThreads, 1) castKernel(const __grid_constant__ UnaryArgs args) {
#define KILN_CAST_CASE(dt, To) \
  case DataType::dt: mapBody<From, To>(args, CastFn<From, To>{}); return;
  switch (static_cast<DataType>(args.op)) {
    KILN_CAST_CASE(kFLOAT, float)
    KILN_CAST_CASE(kDOUBLE, double)
    KILN_CAST_CASE(kHALF, __half)
    KILN_CAST_CASE(kBF16, __nv_bfloat16)
    KILN_CAST_CASE(kINT8, int8_t)
    KILN_CAST_CASE(kINT16, int16_t)
    KILN_CAST_CASE(kINT32, int32_t)
    KILN_CAST_CASE(kINT64, int64_t)
    KILN_CAST_CASE(kUINT8, uint8_t)
    KILN_CAST_CASE(kUINT16, uint16_t)
    KILN_CAST_CASE(kUINT32, uint32_t)
    KILN_CAST_CASE(kUINT64, uint64_t)
    KILN_CAST_CASE(kBOOL, bool)
  }
#undef KILN_CAST_CASE
}

// ---------------------------------------------------------------------------------------------
// Host side.

// Launchers return cudaGetLastError() so the caller can name the node on failure without
// formatting a string on every launch.
template <typename Args>
using LaunchFnT = cudaError_t (*)(const Args&, int grid, cudaStream_t stream);

template <typename Args, void (*Kernel)(Args)>
cudaError_t launchKernel(const Args& a, int grid, cudaStream_t stream) {
  Kernel<<<grid, kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

Status launchStatus(const LaunchContext& ctx, cudaError_t err) {
  if (err == cudaSuccess) return Status::ok();
  return cudaCheck(err, (ctx.node.describe() + " kernel launch").c_str());
}

Status copyAsync(const LaunchContext& ctx, void* dst, const void* src, size_t bytes) {
  if (dst == src || bytes == 0) return Status::ok();
  KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx.stream));
  return Status::ok();
}

Status unsupportedType(const PrepareContext& ctx, DataType t) {
  return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(t)));
}

// The signed type of the same width (for sign-agnostic integer ops).
DataType signedTwin(DataType t) {
  switch (t) {
    case DataType::kUINT8: return DataType::kINT8;
    case DataType::kUINT16: return DataType::kINT16;
    case DataType::kUINT32: return DataType::kINT32;
    case DataType::kUINT64: return DataType::kINT64;
    default: return t;
  }
}

constexpr int64_t kIndex32Limit = int64_t{1} << 31;

// Grid for a vector path moving `vec` elements per thread step (1: scalar path).
int gridForElems(const PrepareContext& ctx, int64_t n, int vec) {
  return gridFor(std::max<int64_t>(1, (n + vec - 1) / vec), kThreads, &ctx.libs.props());
}

// --- Binary (two inputs, broadcasting): arithmetic, bitwise, comparisons, logical ------------

class BinaryKernel final : public CudaKernel {
 public:
  explicit BinaryKernel(ir::OpKind op) : mOp(op) {}

  Status prepare(const PrepareContext& ctx) override {
    using ir::OpKind;
    const CudaTensor& a = ctx.inputs[0];
    const CudaTensor& b = ctx.inputs[1];
    const CudaTensor& out = ctx.outputs[0];
    bool compare = false;
    uint32_t set = kSetNumeric;
    int32_t op = 0;
    switch (mOp) {
      case OpKind::kAdd: op = static_cast<int32_t>(BinOp::kAdd); break;
      case OpKind::kSub: op = static_cast<int32_t>(BinOp::kSub); break;
      case OpKind::kMul: op = static_cast<int32_t>(BinOp::kMul); break;
      case OpKind::kDiv: op = static_cast<int32_t>(BinOp::kDiv); break;
      case OpKind::kMod:
        op = static_cast<int32_t>(ctx.attrs().getInt("fmod", 0) != 0 ? BinOp::kFMod : BinOp::kMod);
        break;
      case OpKind::kPRelu: op = static_cast<int32_t>(BinOp::kPRelu); break;
      case OpKind::kMax: op = static_cast<int32_t>(BinOp::kMax); break;
      case OpKind::kMin: op = static_cast<int32_t>(BinOp::kMin); break;
      case OpKind::kSum:  // two inputs: acc = a + b in the compute type, rounded once
        op = static_cast<int32_t>(BinOp::kAdd);
        set = kSetFloat;
        break;
      case OpKind::kMean:
        op = static_cast<int32_t>(BinOp::kMean2);
        set = kSetFloat;
        break;
      case OpKind::kBitShift: {
        const std::string dir = ctx.attrs().getString("direction", "");
        if (dir != "LEFT" && dir != "RIGHT")
          return ctx.error("attribute direction must be \"LEFT\" or \"RIGHT\", got \"%s\"",
                           dir.c_str());
        op = static_cast<int32_t>(dir == "LEFT" ? BinOp::kShiftLeft : BinOp::kShiftRight);
        set = kSetInt;
        break;
      }
      case OpKind::kBitwiseAnd: op = static_cast<int32_t>(BinOp::kBitAnd), set = kSetInt; break;
      case OpKind::kBitwiseOr: op = static_cast<int32_t>(BinOp::kBitOr), set = kSetInt; break;
      case OpKind::kBitwiseXor: op = static_cast<int32_t>(BinOp::kBitXor), set = kSetInt; break;
      case OpKind::kEqual:
        op = static_cast<int32_t>(CmpOp::kEqual), compare = true, set = kSetAll;
        break;
      case OpKind::kLess: op = static_cast<int32_t>(CmpOp::kLess), compare = true; break;
      case OpKind::kLessOrEqual:
        op = static_cast<int32_t>(CmpOp::kLessEqual), compare = true;
        break;
      case OpKind::kGreater: op = static_cast<int32_t>(CmpOp::kGreater), compare = true; break;
      case OpKind::kGreaterOrEqual:
        op = static_cast<int32_t>(CmpOp::kGreaterEqual), compare = true;
        break;
      case OpKind::kAnd:
        op = static_cast<int32_t>(CmpOp::kAnd), compare = true, set = kSetBool;
        break;
      case OpKind::kOr:
        op = static_cast<int32_t>(CmpOp::kOr), compare = true, set = kSetBool;
        break;
      case OpKind::kXor:
        op = static_cast<int32_t>(CmpOp::kXor), compare = true, set = kSetBool;
        break;
      default: return internalError("%s: not a binary elementwise op", ctx.node.describe().c_str());
    }
    // Arithmetic dispatches on the output type, comparisons on the input type (as the CPU does).
    const DataType t = compare ? a.dtype : out.dtype;
    if (!typeInSet(t, set)) return unsupportedType(ctx, t);
    if (a.dtype != t || b.dtype != t)
      return ctx.error("inputs must have the same data type, got %s and %s", dataTypeName(a.dtype),
                       dataTypeName(b.dtype));
    if (out.dtype != (compare ? DataType::kBOOL : t))
      return ctx.error("unexpected output data type %s", dataTypeName(out.dtype));

    // Kernel selection (see binaryKernel): unsigned sign-agnostic ops use the signed twin.
    DataType kt = t;
    if (typeInSet(t, kSetUnsigned)) {
      const bool agnostic = compare ? op == static_cast<int32_t>(CmpOp::kEqual)
                                    : (op == static_cast<int32_t>(BinOp::kAdd) ||
                                       op == static_cast<int32_t>(BinOp::kSub) ||
                                       op == static_cast<int32_t>(BinOp::kMul) ||
                                       op == static_cast<int32_t>(BinOp::kBitAnd) ||
                                       op == static_cast<int32_t>(BinOp::kBitOr) ||
                                       op == static_cast<int32_t>(BinOp::kBitXor));
      if (agnostic) kt = signedTwin(t);
      if (!compare && op == static_cast<int32_t>(BinOp::kFMod))
        op = static_cast<int32_t>(BinOp::kMod);
    }
    mLaunch = nullptr;
    if (compare) {
      dispatchType<kSetAll>(kt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        mLaunch = &launchKernel<BinaryArgs, compareKernel<T>>;
      });
    } else {
      dispatchType<kSetNumeric>(kt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        mLaunch = &launchKernel<BinaryArgs, binaryKernel<T>>;
      });
    }
    mAllowVec = compare || binaryVectorizes(static_cast<BinOp>(op), typeInSet(t, kSetFloat));
    if (!mLaunch) return unsupportedType(ctx, t);

    const int64_t numel = out.numel();
    // Integer division by zero: the CPU fails; a constant divisor is checked here the same way
    // (a run-time divisor cannot be, the kernel yields 0 there).
    if ((mOp == OpKind::kDiv || mOp == OpKind::kMod) && typeInSet(t, kSetInt) && numel > 0) {
      if (const ir::TensorData* d = ctx.hostConstant(1)) {
        for (int64_t i = 0; i < d->numel(); ++i)
          if (ir::elementAsInt64(d->dtype(), d->data(), i) == 0)
            return ctx.error("integer %s by zero (divisor element %lld is 0)",
                             mOp == OpKind::kDiv ? "division" : "modulo",
                             static_cast<long long>(i));
      }
    }

    mArgs = BinaryArgs{};
    KILN_RETURN_IF_ERROR(makeBroadcastIndex<2>(ctx, out.dims, {&a.dims, &b.dims}, &mArgs.ix));
    mArgs.numel = numel;
    mArgs.op = op;
    mArgs.use32 = numel < kIndex32Limit;
    const size_t elem = dataTypeSize(t);
    mVec = static_cast<int>(16 / elem);
    mOutAlign = std::min<size_t>(16, dataTypeSize(out.dtype) * static_cast<size_t>(mVec));
    mGridVec = gridForElems(ctx, numel, mVec);
    mGridScalar = gridForElems(ctx, numel, 1);
    // A row repeated over the leading dims (bias adds: [M, N] + [N]): the vector path still
    // applies when a row is a whole number of vectors.
    mRowVec = 0;
    const BroadcastIndex<2>& ix = mArgs.ix;
    if (ix.rank == 2 && ix.dims[1] % mVec == 0 && ix.dims[1] / mVec < (int64_t{1} << 30)) {
      bool rows = true;
      for (int j = 0; j < 2; ++j)
        rows = rows && ix.strides[1][j] == 1 &&
               (ix.strides[0][j] == 0 || ix.strides[0][j] == ix.dims[1]);
      if (rows) mRowVec = static_cast<int32_t>(ix.dims[1] / mVec);
    }
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mArgs.numel == 0) return Status::ok();
    BinaryArgs args = mArgs;
    args.a = ctx.inputs[0].data;
    args.b = ctx.inputs[1].data;
    args.out = ctx.outputs[0].data;
    if (args.ix.flat()) {
      args.vec = mAllowVec && args.numel >= mVec && isAligned(args.out, mOutAlign) &&
                 (args.ix.strides[0][0] == 0 || isAligned(args.a, 16)) &&
                 (args.ix.strides[0][1] == 0 || isAligned(args.b, 16));
    } else {
      args.vec = mAllowVec && mRowVec > 0 && isAligned(args.out, mOutAlign) &&
                 isAligned(args.a, 16) && isAligned(args.b, 16);
      args.rowVec = args.vec ? mRowVec : 0;
    }
    return launchStatus(ctx, mLaunch(args, args.vec ? mGridVec : mGridScalar, ctx.stream));
  }

 private:
  ir::OpKind mOp;
  BinaryArgs mArgs;
  LaunchFnT<BinaryArgs> mLaunch = nullptr;
  bool mAllowVec = true;
  int mVec = 1;
  int32_t mRowVec = 0;
  size_t mOutAlign = 1;
  int mGridVec = 1, mGridScalar = 1;
};

// --- Variadic Max/Min/Sum/Mean (1 or >= 3 inputs; 2 inputs use BinaryKernel) ----------------

class VariadicKernel final : public CudaKernel {
 public:
  explicit VariadicKernel(ir::OpKind op) : mOp(op) {}

  Status prepare(const PrepareContext& ctx) override {
    using ir::OpKind;
    const CudaTensor& out = ctx.outputs[0];
    const DataType t = out.dtype;
    const bool floatOnly = mOp == OpKind::kSum || mOp == OpKind::kMean;
    if (!typeInSet(t, floatOnly ? kSetFloat : kSetNumeric)) return unsupportedType(ctx, t);
    const size_t n = ctx.inputs.size();
    if (n == 0) return ctx.error("needs at least one input");
    for (size_t k = 0; k < n; ++k) {
      if (!ctx.hasInput(k)) return ctx.error("input %zu is absent", k);
      if (ctx.inputs[k].dtype != t)
        return ctx.error("input %zu has data type %s, the output %s", k,
                         dataTypeName(ctx.inputs[k].dtype), dataTypeName(t));
    }
    mNumel = out.numel();
    mPasses.clear();
    mWorkspace = 0;
    if (n == 1) {  // the op of one input is the input itself (Mean: x / 1 == x)
      if (ctx.inputs[0].numel() != mNumel)
        return ctx.error("output shape does not match the input");
      return Status::ok();
    }
    mLaunch = nullptr;
    dispatchType<kSetNumeric>(t, [&](auto tag) {
      using T = typename decltype(tag)::type;
      mLaunch = &launchKernel<VariadicArgs, variadicKernel<T>>;
      mComputeSize = sizeof(Compute<T>);
    });
    if (!mLaunch) return unsupportedType(ctx, t);
    int32_t op = 0;
    switch (mOp) {
      case OpKind::kMax: op = static_cast<int32_t>(VarOp::kMax); break;
      case OpKind::kMin: op = static_cast<int32_t>(VarOp::kMin); break;
      case OpKind::kSum: op = static_cast<int32_t>(VarOp::kSum); break;
      case OpKind::kMean: op = static_cast<int32_t>(VarOp::kMean); break;
      default: return internalError("%s: not a variadic op", ctx.node.describe().c_str());
    }
    // Passes: the first takes up to kMaxVarInputs inputs; each later one adds up to
    // kMaxVarInputs more to the partial result in the workspace.
    const std::vector<int64_t> none;  // unused slots: rank 0, stride 0 (merges with anything)
    for (size_t s = 0; s < n;) {
      const size_t cnt = std::min<size_t>(n - s, kMaxVarInputs);
      std::array<const std::vector<int64_t>*, kMaxVarInputs> dims;
      for (size_t j = 0; j < static_cast<size_t>(kMaxVarInputs); ++j)
        dims[j] = j < cnt ? &ctx.inputs[s + j].dims : &none;
      Pass p;
      p.first = s;
      p.args.numel = mNumel;
      p.args.op = op;
      p.args.count = static_cast<int32_t>(cnt);
      p.args.total = static_cast<int32_t>(n);
      p.args.last = s + cnt == n;
      p.args.use32 = mNumel < kIndex32Limit;
      KILN_RETURN_IF_ERROR(makeBroadcastIndex<kMaxVarInputs>(ctx, out.dims, dims, &p.args.ix));
      mPasses.push_back(p);
      s += cnt;
    }
    if (mPasses.size() > 1) mWorkspace = static_cast<size_t>(mNumel) * mComputeSize;
    mGrid = gridForElems(ctx, mNumel, 1);
    return Status::ok();
  }

  size_t workspaceSize() const override { return mWorkspace; }

  Status enqueue(const LaunchContext& ctx) override {
    if (mNumel == 0) return Status::ok();
    if (mPasses.empty())
      return copyAsync(ctx, ctx.outputs[0].data, ctx.inputs[0].data, ctx.outputs[0].bytes());
    if (mPasses.size() > 1 && (ctx.workspace == nullptr || ctx.workspaceBytes < mWorkspace))
      return internalError("%s: workspace of %zu bytes missing", ctx.node.describe().c_str(),
                           mWorkspace);
    for (size_t p = 0; p < mPasses.size(); ++p) {
      VariadicArgs args = mPasses[p].args;
      for (int j = 0; j < args.count; ++j)
        args.in[j] = ctx.inputs[mPasses[p].first + static_cast<size_t>(j)].data;
      args.acc = p == 0 ? nullptr : ctx.workspace;
      args.out = args.last ? ctx.outputs[0].data : ctx.workspace;
      KILN_RETURN_IF_ERROR(launchStatus(ctx, mLaunch(args, mGrid, ctx.stream)));
    }
    return Status::ok();
  }

 private:
  struct Pass {
    size_t first = 0;  // index of the pass's first input
    VariadicArgs args;
  };
  ir::OpKind mOp;
  int64_t mNumel = 0;
  std::vector<Pass> mPasses;  // empty: one input, copied
  LaunchFnT<VariadicArgs> mLaunch = nullptr;
  size_t mComputeSize = 0;
  size_t mWorkspace = 0;
  int mGrid = 1;
};

// --- Pow --------------------------------------------------------------------------------------

class PowKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& a = ctx.inputs[0];
    const CudaTensor& e = ctx.inputs[1];
    const CudaTensor& out = ctx.outputs[0];
    if (!typeInSet(a.dtype, kSetFloat | kSetSigned)) return unsupportedType(ctx, a.dtype);
    if (!typeInSet(e.dtype, kSetNumeric)) return unsupportedType(ctx, e.dtype);
    if (out.dtype != a.dtype)
      return ctx.error("unexpected output data type %s", dataTypeName(out.dtype));
    mLaunch = nullptr;
    dispatchType<kSetFloat | kSetSigned>(a.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      mLaunch = &launchKernel<PowArgs, powKernel<T>>;
    });
    if (!mLaunch) return unsupportedType(ctx, a.dtype);
    mArgs = PowArgs{};
    KILN_RETURN_IF_ERROR(makeBroadcastIndex<2>(ctx, out.dims, {&a.dims, &e.dims}, &mArgs.ix));
    mArgs.numel = out.numel();
    mArgs.etype = static_cast<int32_t>(e.dtype);
    mArgs.use32 = mArgs.numel < kIndex32Limit;
    mGrid = gridForElems(ctx, mArgs.numel, 1);
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mArgs.numel == 0) return Status::ok();
    PowArgs args = mArgs;
    args.a = ctx.inputs[0].data;
    args.e = ctx.inputs[1].data;
    args.out = ctx.outputs[0].data;
    return launchStatus(ctx, mLaunch(args, mGrid, ctx.stream));
  }

 private:
  PowArgs mArgs;
  LaunchFnT<PowArgs> mLaunch = nullptr;
  int mGrid = 1;
};

// --- Where ------------------------------------------------------------------------------------

class WhereKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& c = ctx.inputs[0];
    const CudaTensor& x = ctx.inputs[1];
    const CudaTensor& y = ctx.inputs[2];
    const CudaTensor& out = ctx.outputs[0];
    if (c.dtype != DataType::kBOOL) return unsupportedType(ctx, c.dtype);
    if (x.dtype != out.dtype || y.dtype != out.dtype)
      return ctx.error("X (%s) and Y (%s) must have the output's type %s", dataTypeName(x.dtype),
                       dataTypeName(y.dtype), dataTypeName(out.dtype));
    switch (dataTypeSize(out.dtype)) {
      case 1: mLaunch = &launchKernel<WhereArgs, whereKernel<uint8_t>>; break;
      case 2: mLaunch = &launchKernel<WhereArgs, whereKernel<uint16_t>>; break;
      case 4: mLaunch = &launchKernel<WhereArgs, whereKernel<uint32_t>>; break;
      case 8: mLaunch = &launchKernel<WhereArgs, whereKernel<uint64_t>>; break;
      default: return unsupportedType(ctx, out.dtype);
    }
    mArgs = WhereArgs{};
    KILN_RETURN_IF_ERROR(
        makeBroadcastIndex<3>(ctx, out.dims, {&c.dims, &x.dims, &y.dims}, &mArgs.ix));
    mArgs.numel = out.numel();
    mArgs.use32 = mArgs.numel < kIndex32Limit;
    mGrid = gridForElems(ctx, mArgs.numel, 1);
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mArgs.numel == 0) return Status::ok();
    WhereArgs args = mArgs;
    args.c = ctx.inputs[0].data;
    args.x = ctx.inputs[1].data;
    args.y = ctx.inputs[2].data;
    args.out = ctx.outputs[0].data;
    return launchStatus(ctx, mLaunch(args, mGrid, ctx.stream));
  }

 private:
  WhereArgs mArgs;
  LaunchFnT<WhereArgs> mLaunch = nullptr;
  int mGrid = 1;
};

// --- Unary (and Cast) ---------------------------------------------------------------------------

// The op's UnOp and the types the CPU accepts for it.
struct UnaryInfo {
  UnOp op;
  uint32_t set;
};
bool unaryInfo(ir::OpKind k, UnaryInfo* info) {
  using ir::OpKind;
  switch (k) {
    case OpKind::kRelu: *info = {UnOp::kRelu, kSetFloat | kSetSigned}; return true;
    case OpKind::kLeakyRelu: *info = {UnOp::kLeakyRelu, kSetFloat}; return true;
    case OpKind::kElu: *info = {UnOp::kElu, kSetFloat}; return true;
    case OpKind::kSelu: *info = {UnOp::kSelu, kSetFloat}; return true;
    case OpKind::kCelu: *info = {UnOp::kCelu, kSetFloat}; return true;
    case OpKind::kSigmoid: *info = {UnOp::kSigmoid, kSetFloat}; return true;
    case OpKind::kHardSigmoid: *info = {UnOp::kHardSigmoid, kSetFloat}; return true;
    case OpKind::kHardSwish: *info = {UnOp::kHardSwish, kSetFloat}; return true;
    case OpKind::kTanh: *info = {UnOp::kTanh, kSetFloat}; return true;
    case OpKind::kSoftplus: *info = {UnOp::kSoftplus, kSetFloat}; return true;
    case OpKind::kSoftsign: *info = {UnOp::kSoftsign, kSetFloat}; return true;
    case OpKind::kMish: *info = {UnOp::kMish, kSetFloat}; return true;
    case OpKind::kThresholdedRelu: *info = {UnOp::kThresholdedRelu, kSetFloat}; return true;
    case OpKind::kShrink: *info = {UnOp::kShrink, kSetNumeric}; return true;
    case OpKind::kClip: *info = {UnOp::kClip, kSetNumeric}; return true;
    case OpKind::kGelu: *info = {UnOp::kGeluErf, kSetFloat}; return true;  // kGeluTanh by attribute
    case OpKind::kErf: *info = {UnOp::kErf, kSetFloat}; return true;
    case OpKind::kExp: *info = {UnOp::kExp, kSetFloat}; return true;
    case OpKind::kLog: *info = {UnOp::kLog, kSetFloat}; return true;
    case OpKind::kSqrt: *info = {UnOp::kSqrt, kSetFloat}; return true;
    case OpKind::kReciprocal: *info = {UnOp::kReciprocal, kSetFloat}; return true;
    case OpKind::kNeg: *info = {UnOp::kNeg, kSetFloat | kSetSigned}; return true;
    case OpKind::kAbs: *info = {UnOp::kAbs, kSetNumeric}; return true;
    case OpKind::kSign: *info = {UnOp::kSign, kSetNumeric}; return true;
    case OpKind::kFloor: *info = {UnOp::kFloor, kSetFloat}; return true;
    case OpKind::kCeil: *info = {UnOp::kCeil, kSetFloat}; return true;
    case OpKind::kRound: *info = {UnOp::kRound, kSetFloat}; return true;
    case OpKind::kSin: *info = {UnOp::kSin, kSetFloat}; return true;
    case OpKind::kCos: *info = {UnOp::kCos, kSetFloat}; return true;
    case OpKind::kTan: *info = {UnOp::kTan, kSetFloat}; return true;
    case OpKind::kAsin: *info = {UnOp::kAsin, kSetFloat}; return true;
    case OpKind::kAcos: *info = {UnOp::kAcos, kSetFloat}; return true;
    case OpKind::kAtan: *info = {UnOp::kAtan, kSetFloat}; return true;
    case OpKind::kSinh: *info = {UnOp::kSinh, kSetFloat}; return true;
    case OpKind::kCosh: *info = {UnOp::kCosh, kSetFloat}; return true;
    case OpKind::kAsinh: *info = {UnOp::kAsinh, kSetFloat}; return true;
    case OpKind::kAcosh: *info = {UnOp::kAcosh, kSetFloat}; return true;
    case OpKind::kAtanh: *info = {UnOp::kAtanh, kSetFloat}; return true;
    case OpKind::kNot: *info = {UnOp::kNot, kSetBool}; return true;
    case OpKind::kBitwiseNot: *info = {UnOp::kBitwiseNot, kSetInt}; return true;
    case OpKind::kIsNaN: *info = {UnOp::kIsNaN, kSetFloat}; return true;
    case OpKind::kIsInf: *info = {UnOp::kIsInf, kSetFloat}; return true;
    default: return false;
  }
}

class UnaryKernel final : public CudaKernel {
 public:
  explicit UnaryKernel(ir::OpKind op) : mOp(op) {}

  Status prepare(const PrepareContext& ctx) override {
    using ir::OpKind;
    UnaryInfo info{};
    if (!unaryInfo(mOp, &info))
      return internalError("%s: not a unary op", ctx.node.describe().c_str());
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& out = ctx.outputs[0];
    const DataType t = x.dtype;
    if (!typeInSet(t, info.set)) return unsupportedType(ctx, t);
    const bool predicate = info.op == UnOp::kIsNaN || info.op == UnOp::kIsInf;
    if (out.dtype != (predicate ? DataType::kBOOL : t))
      return ctx.error("unexpected output data type %s", dataTypeName(out.dtype));
    if (out.numel() != x.numel())
      return ctx.error("output shape %s does not match the input shape %s",
                       ir::dimsToString(out.dims).c_str(), ir::dimsToString(x.dims).c_str());

    mArgs = UnaryArgs{};
    const ir::Attributes& at = ctx.attrs();
    // Attribute defaults are ONNX's (and the CPU kernels').
    switch (mOp) {
      case OpKind::kLeakyRelu: mArgs.alpha = at.getFloat("alpha", 0.01f); break;
      case OpKind::kElu: mArgs.alpha = at.getFloat("alpha", 1.0f); break;
      case OpKind::kSelu:
        mArgs.alpha = at.getFloat("alpha", 1.67326319217681884765625f);
        mArgs.gamma = at.getFloat("gamma", 1.05070102214813232421875f);
        break;
      case OpKind::kCelu:
        mArgs.alpha = at.getFloat("alpha", 1.0f);
        if (mArgs.alpha == 0.0f) return ctx.error("attribute alpha must not be 0");
        break;
      case OpKind::kHardSigmoid:
        mArgs.alpha = at.getFloat("alpha", 0.2f);
        mArgs.beta = at.getFloat("beta", 0.5f);
        break;
      case OpKind::kThresholdedRelu: mArgs.alpha = at.getFloat("alpha", 1.0f); break;
      case OpKind::kShrink:
        mArgs.alpha = at.getFloat("lambd", 0.5f);
        mArgs.beta = at.getFloat("bias", 0.0f);
        break;
      case OpKind::kGelu: {
        const std::string approx = at.getString("approximate", "none");
        if (approx != "none" && approx != "tanh")
          return ctx.error("attribute approximate must be \"none\" or \"tanh\", got \"%s\"",
                           approx.c_str());
        if (approx == "tanh") info.op = UnOp::kGeluTanh;
        break;
      }
      case OpKind::kIsInf:
        mArgs.alpha = at.getInt("detect_positive", 1) != 0 ? 1.f : 0.f;
        mArgs.beta = at.getInt("detect_negative", 1) != 0 ? 1.f : 0.f;
        break;
      case OpKind::kClip:
        for (size_t k = 1; k <= 2; ++k) {
          if (!ctx.hasInput(k)) continue;
          const CudaTensor& bound = ctx.inputs[k];
          if (bound.dtype != t)
            return ctx.error("input %zu (%s) must have the input's type %s, got %s", k,
                             k == 1 ? "min" : "max", dataTypeName(t), dataTypeName(bound.dtype));
          if (bound.numel() != 1)
            return ctx.error("input %zu (%s) must be a scalar, got shape %s", k,
                             k == 1 ? "min" : "max", ir::dimsToString(bound.dims).c_str());
        }
        break;
      default: break;
    }
    mArgs.op = static_cast<int32_t>(info.op);
    mArgs.numel = x.numel();
    mAllowVec = unaryVectorizes(info.op);

    mLaunch = nullptr;
    if (predicate) {
      dispatchType<kSetFloat>(t, [&](auto tag) {
        using T = typename decltype(tag)::type;
        mLaunch = &launchKernel<UnaryArgs, predicateKernel<T>>;
      });
    } else if (typeInSet(t, kSetFloat)) {
      dispatchType<kSetFloat>(t, [&](auto tag) {
        using T = typename decltype(tag)::type;
        mLaunch = &launchKernel<UnaryArgs, floatUnaryKernel<T>>;
      });
    } else {
      dispatchType<kSetInt | kSetBool>(t, [&](auto tag) {
        using T = typename decltype(tag)::type;
        mLaunch = &launchKernel<UnaryArgs, intUnaryKernel<T>>;
      });
    }
    if (!mLaunch) return unsupportedType(ctx, t);
    mVec = static_cast<int>(16 / dataTypeSize(t));
    mOutAlign = std::min<size_t>(16, dataTypeSize(out.dtype) * static_cast<size_t>(mVec));
    mGridVec = gridForElems(ctx, mArgs.numel, mVec);
    mGridScalar = gridForElems(ctx, mArgs.numel, 1);
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mArgs.numel == 0) return Status::ok();
    UnaryArgs args = mArgs;
    args.x = ctx.inputs[0].data;
    args.out = ctx.outputs[0].data;
    if (mOp == ir::OpKind::kClip) {  // bounds stay on the device; the kernel reads them
      args.lo = ctx.hasInput(1) ? ctx.inputs[1].data : nullptr;
      args.hi = ctx.hasInput(2) ? ctx.inputs[2].data : nullptr;
    }
    args.vec =
        mAllowVec && args.numel >= mVec && isAligned(args.x, 16) && isAligned(args.out, mOutAlign);
    return launchStatus(ctx, mLaunch(args, args.vec ? mGridVec : mGridScalar, ctx.stream));
  }

 private:
  ir::OpKind mOp;
  bool mAllowVec = true;
  UnaryArgs mArgs;
  LaunchFnT<UnaryArgs> mLaunch = nullptr;
  int mVec = 1;
  size_t mOutAlign = 1;
  int mGridVec = 1, mGridScalar = 1;
};

class CastKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& out = ctx.outputs[0];
    if (out.numel() != x.numel())
      return ctx.error("output shape %s does not match the input shape %s",
                       ir::dimsToString(out.dims).c_str(), ir::dimsToString(x.dims).c_str());
    if (!typeInSet(x.dtype, kSetAll)) return unsupportedType(ctx, x.dtype);
    if (!typeInSet(out.dtype, kSetAll)) return unsupportedType(ctx, out.dtype);
    mArgs = UnaryArgs{};
    mArgs.numel = x.numel();
    mArgs.op = static_cast<int32_t>(out.dtype);
    mCopy = x.dtype == out.dtype;
    mLaunch = nullptr;
    dispatchType<kSetAll>(x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      mLaunch = &launchKernel<UnaryArgs, castKernel<T>>;
    });
    if (!mLaunch) return unsupportedType(ctx, x.dtype);
    mVec = static_cast<int>(16 / dataTypeSize(x.dtype));
    mOutAlign = std::min<size_t>(16, dataTypeSize(out.dtype) * static_cast<size_t>(mVec));
    mGridVec = gridForElems(ctx, mArgs.numel, mVec);
    mGridScalar = gridForElems(ctx, mArgs.numel, 1);
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mArgs.numel == 0) return Status::ok();
    if (mCopy)
      return copyAsync(ctx, ctx.outputs[0].data, ctx.inputs[0].data, ctx.outputs[0].bytes());
    UnaryArgs args = mArgs;
    args.x = ctx.inputs[0].data;
    args.out = ctx.outputs[0].data;
    args.vec = args.numel >= mVec && isAligned(args.x, 16) && isAligned(args.out, mOutAlign);
    return launchStatus(ctx, mLaunch(args, args.vec ? mGridVec : mGridScalar, ctx.stream));
  }

 private:
  UnaryArgs mArgs;
  bool mCopy = false;
  LaunchFnT<UnaryArgs> mLaunch = nullptr;
  int mVec = 1;
  size_t mOutAlign = 1;
  int mGridVec = 1, mGridScalar = 1;
};

Status launchIdentity(const LaunchContext& ctx) {
  const CudaTensor& x = ctx.inputs[0];
  const CudaTensor& out = ctx.outputs[0];
  if (x.dtype != out.dtype || x.numel() != out.numel())
    return invalidArgument("%s: output (%s %s) does not match the input (%s %s)",
                           ctx.node.describe().c_str(), dataTypeName(out.dtype),
                           ir::dimsToString(out.dims).c_str(), dataTypeName(x.dtype),
                           ir::dimsToString(x.dims).c_str());
  return copyAsync(ctx, out.data, x.data, x.bytes());
}

// --- Factories ----------------------------------------------------------------------------------

StatusOr<std::unique_ptr<CudaKernel>> makeBinary(const ir::Node& node) {
  return std::unique_ptr<CudaKernel>(new BinaryKernel(node.op));
}
// Max/Min/Sum/Mean: two inputs take the (vectorized) binary kernel, others the variadic one.
StatusOr<std::unique_ptr<CudaKernel>> makeVariadic(const ir::Node& node) {
  if (node.inputs.size() == 2) return std::unique_ptr<CudaKernel>(new BinaryKernel(node.op));
  return std::unique_ptr<CudaKernel>(new VariadicKernel(node.op));
}
StatusOr<std::unique_ptr<CudaKernel>> makePow(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new PowKernel());
}
StatusOr<std::unique_ptr<CudaKernel>> makeWhere(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new WhereKernel());
}
StatusOr<std::unique_ptr<CudaKernel>> makeUnary(const ir::Node& node) {
  return std::unique_ptr<CudaKernel>(new UnaryKernel(node.op));
}
StatusOr<std::unique_ptr<CudaKernel>> makeCast(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new CastKernel());
}

}  // namespace

void registerElementwiseKernels(CudaKernelTable& t) {
  using ir::OpKind;
  auto set = [&t](OpKind k, CudaKernelFactory f) { t[static_cast<size_t>(k)] = f; };
  for (OpKind k :
       {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kMod, OpKind::kPRelu,
        OpKind::kEqual, OpKind::kLess, OpKind::kLessOrEqual, OpKind::kGreater,
        OpKind::kGreaterOrEqual, OpKind::kAnd, OpKind::kOr, OpKind::kXor, OpKind::kBitShift,
        OpKind::kBitwiseAnd, OpKind::kBitwiseOr, OpKind::kBitwiseXor})
    set(k, &makeBinary);
  for (OpKind k : {OpKind::kMax, OpKind::kMin, OpKind::kSum, OpKind::kMean}) set(k, &makeVariadic);
  set(OpKind::kPow, &makePow);
  set(OpKind::kWhere, &makeWhere);
  for (OpKind k : {OpKind::kRelu,
                   OpKind::kLeakyRelu,
                   OpKind::kElu,
                   OpKind::kSelu,
                   OpKind::kCelu,
                   OpKind::kSigmoid,
                   OpKind::kHardSigmoid,
                   OpKind::kHardSwish,
                   OpKind::kTanh,
                   OpKind::kSoftplus,
                   OpKind::kSoftsign,
                   OpKind::kMish,
                   OpKind::kThresholdedRelu,
                   OpKind::kShrink,
                   OpKind::kClip,
                   OpKind::kGelu,
                   OpKind::kErf,
                   OpKind::kExp,
                   OpKind::kLog,
                   OpKind::kSqrt,
                   OpKind::kReciprocal,
                   OpKind::kNeg,
                   OpKind::kAbs,
                   OpKind::kSign,
                   OpKind::kFloor,
                   OpKind::kCeil,
                   OpKind::kRound,
                   OpKind::kSin,
                   OpKind::kCos,
                   OpKind::kTan,
                   OpKind::kAsin,
                   OpKind::kAcos,
                   OpKind::kAtan,
                   OpKind::kSinh,
                   OpKind::kCosh,
                   OpKind::kAsinh,
                   OpKind::kAcosh,
                   OpKind::kAtanh,
                   OpKind::kNot,
                   OpKind::kBitwiseNot,
                   OpKind::kIsNaN,
                   OpKind::kIsInf})
    set(k, &makeUnary);
  set(OpKind::kCast, &makeCast);
  set(OpKind::kIdentity, &makeSimple<&launchIdentity>);
}

}  // namespace kiln::cuda
