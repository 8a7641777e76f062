// Shared machinery for the CPU elementwise kernels (Binary and Unary families): dtype dispatch,
// storage <-> compute conversions, exact and UB-free value conversions (Cast), and a broadcast
// index walker.
//
// Storage vs compute: float16/bfloat16 are stored as Half/BFloat16 and computed in float32;
// every other type is computed in itself (float32 in float32, float64 in double, integers in
// their own type with wrap-around arithmetic done in uint64 so signed overflow is never UB).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "common/half.h"

namespace kiln::cpu::ew {

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<Half> {
  using type = float;
};
template <>
struct ComputeOf<BFloat16> {
  using type = float;
};
// The type arithmetic on a T happens in.
template <typename T>
using Compute = typename ComputeOf<T>::type;

template <typename T>
constexpr bool kIsFloat = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                          std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
template <typename T>
constexpr bool kIsInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <typename T>
constexpr bool kIsHalfLike = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// Sets of element types an op accepts (bit mask).
enum TypeSet : uint32_t {
  kSetFloat = 1u,     // float32, float64, float16, bfloat16
  kSetSigned = 2u,    // int8/16/32/64
  kSetUnsigned = 4u,  // uint8/16/32/64
  kSetBool = 8u,
  kSetInt = kSetSigned | kSetUnsigned,
  kSetNumeric = kSetFloat | kSetInt,
  kSetAll = kSetNumeric | kSetBool,
};

// Calls fn(TypeTag<T>{}) with the storage type T of `t` when `t` is in `Set`; otherwise returns
// the kernel's "unsupported data type" error. bool is stored as C++ bool (one byte, 0 or 1).
template <uint32_t Set, typename Fn>
Status dispatchType(const CpuKernelContext& ctx, DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFLOAT:
      if constexpr ((Set & kSetFloat) != 0) return fn(TypeTag<float>{});
      break;
    case DataType::kDOUBLE:
      if constexpr ((Set & kSetFloat) != 0) return fn(TypeTag<double>{});
      break;
    case DataType::kHALF:
      if constexpr ((Set & kSetFloat) != 0) return fn(TypeTag<Half>{});
      break;
    case DataType::kBF16:
      if constexpr ((Set & kSetFloat) != 0) return fn(TypeTag<BFloat16>{});
      break;
    case DataType::kINT8:
      if constexpr ((Set & kSetSigned) != 0) return fn(TypeTag<int8_t>{});
      break;
    case DataType::kINT16:
      if constexpr ((Set & kSetSigned) != 0) return fn(TypeTag<int16_t>{});
      break;
    case DataType::kINT32:
      if constexpr ((Set & kSetSigned) != 0) return fn(TypeTag<int32_t>{});
      break;
    case DataType::kINT64:
      if constexpr ((Set & kSetSigned) != 0) return fn(TypeTag<int64_t>{});
      break;
    case DataType::kUINT8:
      if constexpr ((Set & kSetUnsigned) != 0) return fn(TypeTag<uint8_t>{});
      break;
    case DataType::kUINT16:
      if constexpr ((Set & kSetUnsigned) != 0) return fn(TypeTag<uint16_t>{});
      break;
    case DataType::kUINT32:
      if constexpr ((Set & kSetUnsigned) != 0) return fn(TypeTag<uint32_t>{});
      break;
    case DataType::kUINT64:
      if constexpr ((Set & kSetUnsigned) != 0) return fn(TypeTag<uint64_t>{});
      break;
    case DataType::kBOOL:
      if constexpr ((Set & kSetBool) != 0) return fn(TypeTag<bool>{});
      break;
    // The low-precision types are in no set: only kernels that handle them explicitly (Cast,
    // QuantizeLinear, DequantizeLinear) accept them.
    KILN_CASE_LOW_PRECISION_TYPES: break;
  }
  return ctx.unsupportedType(t);
}

// Storage -> compute value.
template <typename T>
inline Compute<T> load(T v) {
  return static_cast<Compute<T>>(v);
}
// Compute -> storage value (Half/BFloat16 round to nearest even).
template <typename T, typename C>
inline T store(C v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != C{0};
  } else {
    return static_cast<T>(v);
  }
}

// Wrap-around (two's complement) integer arithmetic without signed-overflow UB: C++20 defines
// the conversion of any integer to a narrower/unsigned type as modulo 2^N, so computing in
// uint64 and converting back gives the wrapped result for every width.
template <typename T>
inline T wrapAdd(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename T>
inline T wrapSub(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <typename T>
inline T wrapMul(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
template <typename T>
inline T wrapNeg(T a) {
  return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));
}

// double -> float rounded to odd: the float nearest toward zero, with its last mantissa bit
// forced to 1 when the conversion was inexact. Rounding that result once more to a format with
// at most 22 significand bits (float16: 11, bfloat16: 8) equals rounding the double directly,
// so double -> float16 has a single correct rounding instead of a double rounding.
inline float doubleToFloatRoundOdd(double d) {
  float f = static_cast<float>(d);
  if (std::isnan(d) || std::isinf(f) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  return bitsFloat(floatBits(f) | 1u);
}

// Float -> integer with C/numpy truncation toward zero, made total: NaN -> 0, values beyond the
// target's range saturate to its min/max (C++ leaves those cases undefined).
template <typename To>
inline To saturateFromDouble(double d) {
  if (std::isnan(d)) return To{0};
  double t = std::trunc(d);
  // 2^digits is exactly representable and is one past the maximum value.
  const double upper = std::ldexp(1.0, std::numeric_limits<To>::digits);
  if (t >= upper) return std::numeric_limits<To>::max();
  if constexpr (std::is_signed_v<To>) {
    if (t < -upper) return std::numeric_limits<To>::min();
  } else {
    if (t < 0) return To{0};
  }
  return static_cast<To>(t);
}

// Converts one element between any two storage types (the semantics of Cast):
//   float -> int truncates toward zero and saturates (NaN -> 0); int -> int wraps (modulo 2^N);
//   x -> bool is x != 0 (NaN -> true); bool -> x is 0/1; -> float16/bfloat16 rounds to nearest
//   even once (from float64 and 64-bit integers via round-to-odd float, see above).
template <typename To, typename From>
inline To convertValue(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    return load(v) != Compute<From>{0};
  } else if constexpr (kIsHalfLike<To>) {
    if constexpr (std::is_same_v<From, double>) {
      return To(doubleToFloatRoundOdd(v));
    } else if constexpr (std::is_same_v<From, int64_t> || std::is_same_v<From, uint64_t> ||
                         std::is_same_v<From, int32_t> || std::is_same_v<From, uint32_t>) {
      // int -> double is exact below 2^53 (always for 32-bit ints).
      return To(doubleToFloatRoundOdd(static_cast<double>(v)));
    } else {
      return To(static_cast<float>(load(v)));
    }
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(load(v));
  } else if constexpr (kIsFloat<From>) {  // float -> integer
    return saturateFromDouble<To>(static_cast<double>(load(v)));
  } else {  // integer/bool -> integer: modular
    return static_cast<To>(v);
  }
}

// ---------------------------------------------------------------------------------------------
// Broadcast walker.
//
// For an output of dims D (rank R) and N inputs whose dims align to D from the right, input j's
// element for output index (i_0..i_{R-1}) is at offset sum_k i_k * s_jk, where s_jk is input j's
// row-major stride for dim k, or 0 when that dim is broadcast (size 1 or missing). Adjacent dims
// that every input treats alike are merged first, so same-shape inputs walk one flat dim.
template <size_t N>
struct BroadcastPlan {
  std::vector<int64_t> dims;                    // merged output dims (rank >= 1)
  std::vector<std::array<int64_t, N>> strides;  // per merged dim, per input
  int64_t numel = 0;
};

// Builds the plan; error (naming the node) when an input does not broadcast to `outDims`.
template <size_t N>
StatusOr<BroadcastPlan<N>> makeBroadcastPlan(const CpuKernelContext& ctx,
                                             const std::vector<int64_t>& outDims,
                                             const std::array<const std::vector<int64_t>*, N>& in) {
  const size_t rank = outDims.size();
  std::vector<std::array<int64_t, N>> strides(rank);
  for (size_t j = 0; j < N; ++j) {
    const std::vector<int64_t>& d = *in[j];
    if (d.size() > rank)
      return ctx.error("input %zu of shape %s cannot be broadcast to the output shape %s", j,
                       ir::dimsToString(d).c_str(), ir::dimsToString(outDims).c_str());
    int64_t s = 1;
    for (size_t k = rank; k-- > 0;) {
      size_t lead = rank - d.size();
      if (k < lead) {
        strides[k][j] = 0;
        continue;
      }
      int64_t dk = d[k - lead];
      if (dk != outDims[k] && dk != 1)
        return ctx.error("input %zu of shape %s cannot be broadcast to the output shape %s", j,
                         ir::dimsToString(d).c_str(), ir::dimsToString(outDims).c_str());
      strides[k][j] = (dk == 1 && outDims[k] != 1) ? 0 : s;
      s *= dk;
    }
  }
  BroadcastPlan<N> plan;
  plan.numel = 1;
  for (int64_t d : outDims) plan.numel *= d;
  // Merge dim k into the previous merged dim when, for every input, stride[prev] equals
  // stride[k] * dims[k] (both contiguous, or both broadcast).
  for (size_t k = 0; k < rank; ++k) {
    if (outDims[k] == 1) continue;  // size-1 dims contribute nothing
    if (!plan.dims.empty()) {
      bool mergeable = true;
      for (size_t j = 0; j < N; ++j)
        if (plan.strides.back()[j] != strides[k][j] * outDims[k]) mergeable = false;
      if (mergeable) {
        plan.dims.back() *= outDims[k];
        plan.strides.back() = strides[k];
        continue;
      }
    }
    plan.dims.push_back(outDims[k]);
    plan.strides.push_back(strides[k]);
  }
  if (plan.dims.empty()) {  // scalar or all-ones output
    plan.dims.push_back(1);
    plan.strides.push_back({});
  }
  return plan;
}

// Calls f(outIndex, offsets) for every output element, offsets[j] being input j's element.
// Runs chunks in parallel for large outputs; f must only write output element outIndex.
template <size_t N, typename F>
void walkBroadcast(const BroadcastPlan<N>& plan, F&& f) {
  const int64_t rank = static_cast<int64_t>(plan.dims.size());
  parallelFor(plan.numel, [&](int64_t begin, int64_t end) {
    // Unravel `begin` into a multi-index and the inputs' offsets.
    std::vector<int64_t> idx(static_cast<size_t>(rank));
    std::array<int64_t, N> offs{};
    int64_t rem = begin;
    for (int64_t k = rank - 1; k >= 0; --k) {
      const size_t uk = static_cast<size_t>(k);
      idx[uk] = rem % plan.dims[uk];
      rem /= plan.dims[uk];
      for (size_t j = 0; j < N; ++j) offs[j] += idx[uk] * plan.strides[uk][j];
    }
    const size_t last = static_cast<size_t>(rank - 1);
    const std::array<int64_t, N>& inner = plan.strides[last];
    int64_t pos = begin;
    while (pos < end) {
      int64_t n = std::min(plan.dims[last] - idx[last], end - pos);
      std::array<int64_t, N> o = offs;
      for (int64_t t = 0; t < n; ++t) {
        f(pos + t, o);
        for (size_t j = 0; j < N; ++j) o[j] += inner[j];
      }
      pos += n;
      if (pos >= end) break;
      // Advance the multi-index by n along the last dim, carrying into outer dims.
      for (size_t j = 0; j < N; ++j) offs[j] += n * inner[j];
      idx[last] += n;
      for (size_t k = last; k > 0 && idx[k] == plan.dims[k]; --k) {
        idx[k] = 0;
        idx[k - 1] += 1;
        for (size_t j = 0; j < N; ++j)
          offs[j] += plan.strides[k - 1][j] - plan.dims[k] * plan.strides[k][j];
      }
    }
  });
}

// out[i] = fn(load(a[..]), load(b[..])) with broadcasting; fn returns a compute value of TOut.
template <typename TOut, typename TA, typename TB, typename Fn>
Status binaryMap(const CpuKernelContext& ctx, const CpuTensor& a, const CpuTensor& b,
                 CpuTensor& out, Fn fn) {
  KILN_ASSIGN_OR_RETURN(auto plan, makeBroadcastPlan<2>(ctx, out.dims, {&a.dims, &b.dims}));
  const TA* pa = a.as<TA>();
  const TB* pb = b.as<TB>();
  TOut* po = out.as<TOut>();
  walkBroadcast(plan, [&](int64_t i, const std::array<int64_t, 2>& o) {
    po[i] = store<TOut>(fn(load(pa[o[0]]), load(pb[o[1]])));
  });
  return Status::ok();
}

// out[i] = fn(load(x[i])) over same-shape tensors.
template <typename TOut, typename TIn, typename Fn>
void unaryMap(const CpuTensor& x, CpuTensor& out, Fn fn) {
  const TIn* px = x.as<TIn>();
  TOut* po = out.as<TOut>();
  parallelFor(out.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) po[i] = store<TOut>(fn(load(px[i])));
  });
}

}  // namespace kiln::cpu::ew
