// Shared device helpers for the CUDA elementwise kernels (and any kernel that needs the same
// pieces): dtype dispatch, storage <-> compute conversions for float16/bfloat16, 16-byte vector
// packs, Cast's exact conversion rules, and broadcast index math with per-input strides.
//
// Storage vs compute mirrors the CPU backend (src/backends/cpu/elementwise_util.h): float16 and
// bfloat16 are stored as __half/__nv_bfloat16 and computed in float32 (rounded once at the
// store); every other type is computed in itself, integers with wrap-around arithmetic done in
// unsigned types so signed overflow is never undefined. bool is one byte holding 0 or 1.
//
// Include only from .cu files (it needs the CUDA half/bfloat16 headers and nvcc).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda::ew {

// ---------------------------------------------------------------------------------------------
// Types.

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<__half> {
  using type = float;
};
template <>
struct ComputeOf<__nv_bfloat16> {
  using type = float;
};
// The type arithmetic on a stored T happens in.
template <typename T>
using Compute = typename ComputeOf<T>::type;

template <typename T>
inline constexpr bool kIsHalfLike = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
template <typename T>
inline constexpr bool kIsFloat =
    std::is_same_v<T, float> || std::is_same_v<T, double> || kIsHalfLike<T>;
template <typename T>
inline constexpr bool kIsInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <typename T>
inline constexpr bool kIsSignedInt = kIsInt<T>&& std::is_signed_v<T>;

// Sets of element types an op accepts (bit mask; same sets as the CPU kernels use).
enum TypeSet : uint32_t {
  kSetFloat = 1u,     // float32, float64, float16, bfloat16
  kSetSigned = 2u,    // int8/16/32/64
  kSetUnsigned = 4u,  // uint8/16/32/64
  kSetBool = 8u,
  kSetInt = kSetSigned | kSetUnsigned,
  kSetNumeric = kSetFloat | kSetInt,
  kSetAll = kSetNumeric | kSetBool,
};

inline uint32_t typeSetOf(DataType t) {
  switch (t) {
    case DataType::kFLOAT:
    case DataType::kDOUBLE:
    case DataType::kHALF:
    case DataType::kBF16: return kSetFloat;
    case DataType::kINT8:
    case DataType::kINT16:
    case DataType::kINT32:
    case DataType::kINT64: return kSetSigned;
    case DataType::kUINT8:
    case DataType::kUINT16:
    case DataType::kUINT32:
    case DataType::kUINT64: return kSetUnsigned;
    case DataType::kBOOL: return kSetBool;
    // Low-precision types (float8, float4, int4/2, ...): no CUDA kernel handles them yet.
    KILN_CASE_LOW_PRECISION_TYPES: return 0;
  }
  return 0;
}
inline bool typeInSet(DataType t, uint32_t set) { return (typeSetOf(t) & set) != 0; }

// Host: calls fn(TypeTag<T>{}) with the storage type T of `t` when `t` is in `Set` and returns
// true; returns false (fn not called) otherwise. Only the types in Set are instantiated.
template <uint32_t Set, typename Fn>
bool dispatchType(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFLOAT:
      if constexpr ((Set & kSetFloat) != 0) {
        fn(TypeTag<float>{});
        return true;
      }
      break;
    case DataType::kDOUBLE:
      if constexpr ((Set & kSetFloat) != 0) {
        fn(TypeTag<double>{});
        return true;
      }
      break;
    case DataType::kHALF:
      if constexpr ((Set & kSetFloat) != 0) {
        fn(TypeTag<__half>{});
        return true;
      }
      break;
    case DataType::kBF16:
      if constexpr ((Set & kSetFloat) != 0) {
        fn(TypeTag<__nv_bfloat16>{});
        return true;
      }
      break;
    case DataType::kINT8:
      if constexpr ((Set & kSetSigned) != 0) {
        fn(TypeTag<int8_t>{});
        return true;
      }
      break;
    case DataType::kINT16:
      if constexpr ((Set & kSetSigned) != 0) {
        fn(TypeTag<int16_t>{});
        return true;
      }
      break;
    case DataType::kINT32:
      if constexpr ((Set & kSetSigned) != 0) {
        fn(TypeTag<int32_t>{});
        return true;
      }
      break;
    case DataType::kINT64:
      if constexpr ((Set & kSetSigned) != 0) {
        fn(TypeTag<int64_t>{});
        return true;
      }
      break;
    case DataType::kUINT8:
      if constexpr ((Set & kSetUnsigned) != 0) {
        fn(TypeTag<uint8_t>{});
        return true;
      }
      break;
    case DataType::kUINT16:
      if constexpr ((Set & kSetUnsigned) != 0) {
        fn(TypeTag<uint16_t>{});
        return true;
      }
      break;
    case DataType::kUINT32:
      if constexpr ((Set & kSetUnsigned) != 0) {
        fn(TypeTag<uint32_t>{});
        return true;
      }
      break;
    case DataType::kUINT64:
      if constexpr ((Set & kSetUnsigned) != 0) {
        fn(TypeTag<uint64_t>{});
        return true;
      }
      break;
    case DataType::kBOOL:
      if constexpr ((Set & kSetBool) != 0) {
        fn(TypeTag<bool>{});
        return true;
      }
      break;
    // Low-precision types (float8, float4, int4/2, ...): no CUDA kernel handles them yet.
    KILN_CASE_LOW_PRECISION_TYPES: break;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Storage <-> compute.

template <typename T>
__device__ __forceinline__ Compute<T> toCompute(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(v);
  } else {
    return v;
  }
}
// Compute -> storage: float16/bfloat16 round to nearest even; bool is v != 0 (NaN -> true).
template <typename T, typename C>
__device__ __forceinline__ T fromCompute(C v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != C{0};
  } else if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(v);
  } else {
    return static_cast<T>(v);
  }
}

// Wrap-around (two's complement) integer arithmetic without signed-overflow UB: compute in an
// unsigned type at least 32 bits wide and truncate (modulo 2^N) back to T.
template <typename T>
using WrapU = std::conditional_t<(sizeof(T) > 4), uint64_t, uint32_t>;
template <typename T>
__device__ __forceinline__ T wrapAdd(T a, T b) {
  return static_cast<T>(static_cast<WrapU<T>>(a) + static_cast<WrapU<T>>(b));
}
template <typename T>
__device__ __forceinline__ T wrapSub(T a, T b) {
  return static_cast<T>(static_cast<WrapU<T>>(a) - static_cast<WrapU<T>>(b));
}
template <typename T>
__device__ __forceinline__ T wrapMul(T a, T b) {
  return static_cast<T>(static_cast<WrapU<T>>(a) * static_cast<WrapU<T>>(b));
}
template <typename T>
__device__ __forceinline__ T wrapNeg(T a) {
  return static_cast<T>(WrapU<T>{0} - static_cast<WrapU<T>>(a));
}

// ---------------------------------------------------------------------------------------------
// Cast rules (exactly the CPU's ew::convertValue).

// double -> float rounded to odd: the float nearest toward zero, its last mantissa bit forced
// to 1 when inexact. Rounding that once more to float16/bfloat16 equals rounding the double
// directly (a single correct rounding instead of a double rounding).
__device__ __forceinline__ float doubleToFloatRoundOdd(double d) {
  float f = __double2float_rn(d);
  if (isnan(d) || isinf(f) || static_cast<double>(f) == d) return f;
  if (fabs(static_cast<double>(f)) > fabs(d)) f = nextafterf(f, 0.0f);
  return __uint_as_float(__float_as_uint(f) | 1u);
}

// Float -> integer, truncating toward zero and made total: NaN -> 0, out-of-range values
// saturate to the target's min/max (a plain conversion would be undefined there).
template <typename To>
__device__ __forceinline__ To saturateFromDouble(double d) {
  if (isnan(d)) return To{0};
  const double t = trunc(d);
  // 2^digits is exactly representable and is one past the maximum value.
  constexpr int kDigits = std::numeric_limits<To>::digits;
  constexpr double kUpper =
      kDigits == 64 ? 18446744073709551616.0 : static_cast<double>(uint64_t{1} << kDigits);
  if (t >= kUpper) return std::numeric_limits<To>::max();
  if constexpr (std::is_signed_v<To>) {
    if (t < -kUpper) return std::numeric_limits<To>::min();
  } else {
    if (t < 0.0) return To{0};
  }
  return static_cast<To>(t);
}

// Converts one stored element between any two storage types (the semantics of Cast):
//   float -> int truncates toward zero and saturates (NaN -> 0); int -> int wraps (modulo 2^N);
//   x -> bool is x != 0 (NaN -> true); bool -> x is 0/1; -> float16/bfloat16 rounds to nearest
//   even once (from float64 and 32/64-bit integers via a round-to-odd float).
template <typename To, typename From>
__device__ __forceinline__ To convertValue(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    return toCompute(v) != Compute<From>{0};
  } else if constexpr (kIsHalfLike<To>) {
    if constexpr (std::is_same_v<From, double>) {
      return fromCompute<To>(doubleToFloatRoundOdd(v));
    } else if constexpr (std::is_same_v<From, int64_t> || std::is_same_v<From, uint64_t> ||
                         std::is_same_v<From, int32_t> || std::is_same_v<From, uint32_t>) {
      // int -> double is exact below 2^53 (always for 32-bit ints); the CPU goes the same way.
      return fromCompute<To>(doubleToFloatRoundOdd(static_cast<double>(v)));
    } else {
      return fromCompute<To>(static_cast<float>(toCompute(v)));
    }
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(toCompute(v));  // one rounding (int64 -> float directly, not via double)
  } else if constexpr (kIsFloat<From>) {
    return saturateFromDouble<To>(static_cast<double>(toCompute(v)));
  } else {  // integer/bool -> integer: modular
    return static_cast<To>(v);
  }
}

// ---------------------------------------------------------------------------------------------
// Vector packs: 16-byte loads/stores on the contiguous paths.

template <typename T>
inline constexpr int kVec = static_cast<int>(16 / sizeof(T));
template <typename T, int V>
inline constexpr size_t kPackAlign = sizeof(T) * V < 16 ? sizeof(T) * V : 16;
template <typename T, int V>
struct alignas(kPackAlign<T, V>) Pack {
  T v[V];
};
inline bool isAligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// ---------------------------------------------------------------------------------------------
// Broadcast index math.
//
// For an output of dims D (rank R) and N inputs whose dims align to D from the right, input j's
// element for output index (i_0..i_{R-1}) is at sum_k i_k * s_jk, s_jk being input j's row-major
// stride for dim k, or 0 when that dim is broadcast. Adjacent dims every input treats alike are
// merged first (same-shape inputs become one flat dim; a per-channel bias on NCHW becomes
// [N, C, HW] with strides [0, 1, 0]). Built on the host in prepare(); passed by value in the
// kernel's argument struct.

constexpr int kMaxRank = 8;

// n / d for 0 <= n < 2^31 with a multiply-high and a shift (Granlund-Montgomery): with
// l = ceil(log2 d) and m = floor(2^32 (2^l - d) / d) + 1, n / d = (mulhi(n, m) + n) >> l.
struct FastDivmod {
  uint32_t mul = 1;
  uint32_t shift = 0;
  void init(uint32_t d) {
    shift = 0;
    while (shift < 31 && (uint32_t{1} << shift) < d) ++shift;
    mul = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const {
    return (__umulhi(n, mul) + n) >> shift;
  }
};

template <int N>
struct BroadcastIndex {
  int32_t rank = 1;                   // merged rank, >= 1
  int64_t dims[kMaxRank] = {};        // merged output dims (outermost first)
  int64_t strides[kMaxRank][N] = {};  // per merged dim, per input (0: broadcast)
  FastDivmod div[kMaxRank];           // dividers for dims (valid when numel < 2^31)

  // One flat dim: each input is either contiguous (stride 1) or a single broadcast element.
  bool flat() const { return rank == 1; }
};

// Builds the index for an output of `outDims`; `in[j]` are the inputs' dims. Fails (naming the
// node) when an input does not broadcast to the output, or more than kMaxRank dims remain.
template <int N>
Status makeBroadcastIndex(const PrepareContext& ctx, const std::vector<int64_t>& outDims,
                          const std::array<const std::vector<int64_t>*, N>& in,
                          BroadcastIndex<N>* ix) {
  const size_t rank = outDims.size();
  std::vector<std::array<int64_t, N>> strides(rank);
  for (size_t j = 0; j < static_cast<size_t>(N); ++j) {
    const std::vector<int64_t>& d = *in[j];
    if (d.size() > rank)
      return ctx.error("input %zu of shape %s cannot be broadcast to the output shape %s", j,
                       ir::dimsToString(d).c_str(), ir::dimsToString(outDims).c_str());
    int64_t s = 1;
    const size_t lead = rank - d.size();
    for (size_t k = rank; k-- > 0;) {
      if (k < lead) {
        strides[k][j] = 0;
        continue;
      }
      const int64_t dk = d[k - lead];
      if (dk != outDims[k] && dk != 1)
        return ctx.error("input %zu of shape %s cannot be broadcast to the output shape %s", j,
                         ir::dimsToString(d).c_str(), ir::dimsToString(outDims).c_str());
      strides[k][j] = (dk == 1 && outDims[k] != 1) ? 0 : s;
      s *= dk;
    }
  }
  // Merge dim k into the previous merged dim when, for every input, stride[prev] equals
  // stride[k] * dims[k] (both contiguous, or both broadcast). Size-1 dims contribute nothing.
  std::vector<int64_t> mdims;
  std::vector<std::array<int64_t, N>> mstrides;
  for (size_t k = 0; k < rank; ++k) {
    if (outDims[k] == 1) continue;
    if (!mdims.empty()) {
      bool mergeable = true;
      for (size_t j = 0; j < static_cast<size_t>(N); ++j)
        if (mstrides.back()[j] != strides[k][j] * outDims[k]) mergeable = false;
      if (mergeable) {
        mdims.back() *= outDims[k];
        mstrides.back() = strides[k];
        continue;
      }
    }
    mdims.push_back(outDims[k]);
    mstrides.push_back(strides[k]);
  }
  if (mdims.empty()) {  // scalar or all-ones output: one element, every input at offset 0
    mdims.push_back(1);
    mstrides.push_back({});
  }
  if (mdims.size() > static_cast<size_t>(kMaxRank))
    return ctx.unsupportedHere(strFormat(
        "broadcasting over %zu non-mergeable dimensions (at most %d)", mdims.size(), kMaxRank));
  *ix = BroadcastIndex<N>{};
  ix->rank = static_cast<int32_t>(mdims.size());
  for (size_t k = 0; k < mdims.size(); ++k) {
    ix->dims[k] = mdims[k];
    for (size_t j = 0; j < static_cast<size_t>(N); ++j) ix->strides[k][j] = mstrides[k][j];
    if (mdims[k] > 0 && mdims[k] < (int64_t{1} << 31))
      ix->div[k].init(static_cast<uint32_t>(mdims[k]));
  }
  return Status::ok();
}

// Input offsets (in elements) of output element i for outputs of 2^31 elements or more: 64-bit
// divisions (a long instruction sequence), kept out of line so every op's loop does not carry a
// copy; such tensors are rare and the call is cheap next to the divisions.
template <int N>
__device__ __noinline__ void broadcastOffsets64(const BroadcastIndex<N>& ix, int64_t i,
                                                int64_t (&off)[N]) {
#pragma unroll
  for (int j = 0; j < N; ++j) off[j] = 0;
  int64_t rem = i;
  for (int k = ix.rank - 1; k > 0; --k) {
    const int64_t q = rem / ix.dims[k];
    const int64_t r = rem - q * ix.dims[k];
#pragma unroll
    for (int j = 0; j < N; ++j) off[j] += r * ix.strides[k][j];
    rem = q;
  }
#pragma unroll
  for (int j = 0; j < N; ++j) off[j] += rem * ix.strides[0][j];
}

// Input offsets (in elements) of output element i. `use32`: numel < 2^31, so every index and
// offset fits 32 bits and the divisions use FastDivmod. `ix` should live in kernel-parameter
// space (a __grid_constant__ argument) so the runtime-indexed loop reads it from the constant
// bank instead of copying it to local memory.
template <int N>
__device__ __forceinline__ void broadcastOffsets(const BroadcastIndex<N>& ix, int64_t i, bool use32,
                                                 int64_t (&off)[N]) {
  if (!use32) {
    int64_t o64[N];  // its address escapes into the call: kept apart so `off` stays in registers
    broadcastOffsets64(ix, i, o64);
#pragma unroll
    for (int j = 0; j < N; ++j) off[j] = o64[j];
    return;
  }
  uint32_t o[N];
#pragma unroll
  for (int j = 0; j < N; ++j) o[j] = 0;
  uint32_t rem = static_cast<uint32_t>(i);
  for (int k = ix.rank - 1; k > 0; --k) {
    const uint32_t q = ix.div[k].div(rem);
    const uint32_t r = rem - q * static_cast<uint32_t>(ix.dims[k]);
#pragma unroll
    for (int j = 0; j < N; ++j) o[j] += r * static_cast<uint32_t>(ix.strides[k][j]);
    rem = q;
  }
#pragma unroll
  for (int j = 0; j < N; ++j)
    off[j] = static_cast<int64_t>(o[j] + rem * static_cast<uint32_t>(ix.strides[0][j]));
}

}  // namespace kiln::cuda::ew
