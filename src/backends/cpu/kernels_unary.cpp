// CPU reference kernels for the Unary family (see ops.def).
//
// Each kernel is a per-element function applied by unaryMap (elementwise_util.h). float16 and
// bfloat16 compute in float32, float32 in float32 (the float overloads of <cmath>), float64 in
// double. Attribute defaults are ONNX's.
#include <cmath>
#include <cstring>
#include <string>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/elementwise_util.h"
#include "common/small_float.h"

namespace kiln::cpu {
namespace {

using namespace ew;  // NOLINT(google-build-using-namespace): kernel-local helpers

// Same-typed unary op: out = op(x) on compute values, types in Set.
template <uint32_t Set, typename Op>
Status sameTypeUnary(CpuKernelContext& ctx, Op op) {
  return dispatchType<Set>(ctx, ctx.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    unaryMap<T, T>(ctx.inputs[0], ctx.outputs[0], op);
    return Status::ok();
  });
}

// Float-only op whose per-element function is given as a generic lambda over float/double.
template <typename Op>
Status floatUnary(CpuKernelContext& ctx, Op op) {
  return sameTypeUnary<kSetFloat>(ctx, op);
}

// Numerically stable logistic: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0 (no overflow).
template <typename C>
C sigmoid(C x) {
  if (x >= C{0}) return C{1} / (C{1} + std::exp(-x));
  C e = std::exp(x);
  return e / (C{1} + e);
}
// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|) (no overflow for large x).
template <typename C>
C softplus(C x) {
  return std::max(x, C{0}) + std::log1p(std::exp(-std::fabs(x)));
}

Status reluKernel(CpuKernelContext& ctx) {
  return sameTypeUnary<kSetFloat | kSetSigned>(ctx, [](auto x) {
    using C = decltype(x);
    return x < C{0} ? C{0} : x;  // NaN stays NaN
  });
}
Status leakyReluKernel(CpuKernelContext& ctx) {
  const float alpha = ctx.attrs().getFloat("alpha", 0.01f);
  return floatUnary(ctx, [alpha](auto x) {
    using C = decltype(x);
    return x < C{0} ? static_cast<C>(alpha) * x : x;
  });
}
// Elu: x < 0 ? alpha * (e^x - 1) : x
Status eluKernel(CpuKernelContext& ctx) {
  const float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  return floatUnary(ctx, [alpha](auto x) {
    using C = decltype(x);
    return x < C{0} ? static_cast<C>(alpha) * std::expm1(x) : x;
  });
}
// Selu: gamma * (x <= 0 ? alpha * (e^x - 1) : x)
Status seluKernel(CpuKernelContext& ctx) {
  const float alpha = ctx.attrs().getFloat("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.attrs().getFloat("gamma", 1.05070102214813232421875f);
  return floatUnary(ctx, [alpha, gamma](auto x) {
    using C = decltype(x);
    const C a = static_cast<C>(alpha), g = static_cast<C>(gamma);
    return x <= C{0} ? g * a * std::expm1(x) : g * x;
  });
}
// Celu: max(0, x) + min(0, alpha * (e^(x/alpha) - 1))
Status celuKernel(CpuKernelContext& ctx) {
  const float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  if (alpha == 0.0f) return ctx.error("attribute alpha must not be 0");
  return floatUnary(ctx, [alpha](auto x) {
    using C = decltype(x);
    const C a = static_cast<C>(alpha);
    return std::max(C{0}, x) + std::min(C{0}, a * std::expm1(x / a));
  });
}
Status sigmoidKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return sigmoid(x); });
}
// HardSigmoid: max(0, min(1, alpha * x + beta))
Status hardSigmoidKernel(CpuKernelContext& ctx) {
  const float alpha = ctx.attrs().getFloat("alpha", 0.2f);
  const float beta = ctx.attrs().getFloat("beta", 0.5f);
  return floatUnary(ctx, [alpha, beta](auto x) {
    using C = decltype(x);
    if (x != x) return x;  // NaN stays NaN (std::min/max would turn it into a bound)
    return std::max(C{0}, std::min(C{1}, static_cast<C>(alpha) * x + static_cast<C>(beta)));
  });
}
// HardSwish: x * max(0, min(1, x / 6 + 0.5))
Status hardSwishKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) {
    using C = decltype(x);
    return x * std::max(C{0}, std::min(C{1}, x / C{6} + C{0.5}));
  });
}
Status tanhKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::tanh(x); });
}
Status softplusKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return softplus(x); });
}
// Softsign: x / (1 + |x|)
Status softsignKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) {
    using C = decltype(x);
    return x / (C{1} + std::fabs(x));
  });
}
// Mish: x * tanh(softplus(x))
Status mishKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return x * std::tanh(softplus(x)); });
}
Status thresholdedReluKernel(CpuKernelContext& ctx) {
  const float alpha = ctx.attrs().getFloat("alpha", 1.0f);
  return floatUnary(ctx, [alpha](auto x) {
    using C = decltype(x);
    return x > static_cast<C>(alpha) ? x : C{0};
  });
}
// Shrink: x < -lambd ? x + bias : (x > lambd ? x - bias : 0). Defined on all numeric types;
// integers compute in double and convert back (truncating, saturating).
Status shrinkKernel(CpuKernelContext& ctx) {
  const double bias = ctx.attrs().getFloat("bias", 0.0f);
  const double lambd = ctx.attrs().getFloat("lambd", 0.5f);
  return dispatchType<kSetNumeric>(ctx, ctx.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = Compute<T>;
    unaryMap<T, T>(ctx.inputs[0], ctx.outputs[0], [bias, lambd](C x) -> C {
      if constexpr (kIsFloat<T>) {
        const C b = static_cast<C>(bias), l = static_cast<C>(lambd);
        return x < -l ? x + b : (x > l ? x - b : C{0});
      } else {
        const double xd = static_cast<double>(x);
        const double r = xd < -lambd ? xd + bias : (xd > lambd ? xd - bias : 0.0);
        return saturateFromDouble<C>(r);
      }
    });
    return Status::ok();
  });
}

// Clip(x, min?, max?): min(max(x, lo), hi) with absent bounds ignored; NaN stays NaN. Like
// numpy.clip, lo > hi gives hi everywhere.
Status clipKernel(CpuKernelContext& ctx) {
  return dispatchType<kSetNumeric>(ctx, ctx.inputs[0].dtype, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    using C = Compute<T>;
    bool hasLo = false, hasHi = false;
    C lo{}, hi{};
    for (size_t k = 1; k <= 2; ++k) {
      if (!ctx.hasInput(k)) continue;
      const CpuTensor& b = ctx.inputs[k];
      if (b.dtype != ctx.inputs[0].dtype)
        return ctx.error("input %zu (%s) must have the input's type %s, got %s", k,
                         k == 1 ? "min" : "max", dataTypeName(ctx.inputs[0].dtype),
                         dataTypeName(b.dtype));
      if (b.numel() != 1)
        return ctx.error("input %zu (%s) must be a scalar, got shape %s", k, k == 1 ? "min" : "max",
                         ir::dimsToString(b.dims).c_str());
      (k == 1 ? lo : hi) = load(b.as<T>()[0]);
      (k == 1 ? hasLo : hasHi) = true;
    }
    unaryMap<T, T>(ctx.inputs[0], ctx.outputs[0], [=](C x) {
      if (hasLo && x < lo) x = lo;
      if (hasHi && hi < x) x = hi;
      return x;
    });
    return Status::ok();
  });
}

// Gelu: approximate="none": x/2 * (1 + erf(x / sqrt(2)));
//       approximate="tanh": x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
Status geluKernel(CpuKernelContext& ctx) {
  const std::string approx = ctx.attrs().getString("approximate", "none");
  if (approx != "none" && approx != "tanh")
    return ctx.error("attribute approximate must be \"none\" or \"tanh\", got \"%s\"",
                     approx.c_str());
  if (approx == "tanh") {
    return floatUnary(ctx, [](auto x) {
      using C = decltype(x);
      const C k = static_cast<C>(0.79788456080286535587989211986876);  // sqrt(2/pi)
      // 1 + tanh(y) = 2 sigmoid(2y): no cancellation for large negative x.
      return x * sigmoid(C{2} * k * (x + static_cast<C>(0.044715) * x * x * x));
    });
  }
  return floatUnary(ctx, [](auto x) {
    using C = decltype(x);
    const C r = static_cast<C>(0.70710678118654752440084436210485);  // 1/sqrt(2)
    // 1 + erf(z) = erfc(-z): no cancellation for large negative x.
    return C{0.5} * x * std::erfc(-x * r);
  });
}

Status erfKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::erf(x); });
}
Status expKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::exp(x); });
}
Status logKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::log(x); });
}
Status sqrtKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::sqrt(x); });
}
Status reciprocalKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return decltype(x){1} / x; });
}
Status sinKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::sin(x); });
}
Status cosKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::cos(x); });
}
Status tanKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::tan(x); });
}
Status asinKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::asin(x); });
}
Status acosKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::acos(x); });
}
Status atanKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::atan(x); });
}
Status sinhKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::sinh(x); });
}
Status coshKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::cosh(x); });
}
Status asinhKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::asinh(x); });
}
Status acoshKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::acosh(x); });
}
Status atanhKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::atanh(x); });
}
Status floorKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::floor(x); });
}
Status ceilKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::ceil(x); });
}
// Round half to even: nearbyint rounds in the current mode, which is round-to-nearest-even
// unless a program changes it (Kiln never does).
Status roundKernel(CpuKernelContext& ctx) {
  return floatUnary(ctx, [](auto x) { return std::nearbyint(x); });
}

// Neg on signed types; integers wrap (-INT_MIN == INT_MIN) instead of overflowing.
Status negKernel(CpuKernelContext& ctx) {
  return sameTypeUnary<kSetFloat | kSetSigned>(ctx, [](auto x) {
    if constexpr (kIsInt<decltype(x)>)
      return wrapNeg(x);
    else
      return -x;
  });
}
// Abs; |INT_MIN| wraps to INT_MIN (two's complement) instead of overflowing.
Status absKernel(CpuKernelContext& ctx) {
  return sameTypeUnary<kSetNumeric>(ctx, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (kIsInt<C>)
      return x < C{0} ? wrapNeg(x) : x;
    else
      return std::fabs(x);
  });
}
// Sign: -1, 0 or 1 (NaN stays NaN).
Status signKernel(CpuKernelContext& ctx) {
  return sameTypeUnary<kSetNumeric>(ctx, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_unsigned_v<C>) {
      return x > C{0} ? C{1} : C{0};
    } else {
      if constexpr (std::is_floating_point_v<C>) {
        if (std::isnan(x)) return x;
      }
      return x > C{0} ? C{1} : (x < C{0} ? C{-1} : C{0});
    }
  });
}
Status notKernel(CpuKernelContext& ctx) {
  return sameTypeUnary<kSetBool>(ctx, [](bool x) { return !x; });
}
Status bitwiseNotKernel(CpuKernelContext& ctx) {
  return sameTypeUnary<kSetInt>(ctx, [](auto x) { return static_cast<decltype(x)>(~x); });
}
Status isNanKernel(CpuKernelContext& ctx) {
  return dispatchType<kSetFloat>(ctx, ctx.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    unaryMap<bool, T>(ctx.inputs[0], ctx.outputs[0], [](auto x) { return std::isnan(x); });
    return Status::ok();
  });
}
Status isInfKernel(CpuKernelContext& ctx) {
  const bool neg = ctx.attrs().getInt("detect_negative", 1) != 0;
  const bool pos = ctx.attrs().getInt("detect_positive", 1) != 0;
  return dispatchType<kSetFloat>(ctx, ctx.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    unaryMap<bool, T>(ctx.inputs[0], ctx.outputs[0],
                      [neg, pos](auto x) { return std::isinf(x) && (x > 0 ? pos : neg); });
    return Status::ok();
  });
}

Status identityKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& out = ctx.outputs[0];
  if (x.dtype != out.dtype || x.numel() != out.numel())
    return ctx.error("output (%s %s) does not match the input (%s %s)", dataTypeName(out.dtype),
                     ir::dimsToString(out.dims).c_str(), dataTypeName(x.dtype),
                     ir::dimsToString(x.dims).c_str());
  if (out.data != x.data && x.numel() > 0)
    std::memcpy(out.data, x.data, static_cast<size_t>(x.numel()) * dataTypeSize(x.dtype));
  return Status::ok();
}

// ---- Cast to/from the low-precision types (common/small_float.h) ----------------------------
//
// A low-precision source is read as a "carrier": float32 for float8/float4/e8m0 (exact), int8
// for INT4/INT2 and uint8 for UINT4/UINT2 (their unpacked storage), which then converts like
// that carrier type (convertValue). A low-precision target is written from:
//   float8/float4/e8m0: the source as float32 with one rounding (float64 and 32/64-bit integers
//     go through the round-to-odd float, see doubleToFloatRoundOdd), then floatToSmallFloat with
//     the `saturate` and `round_mode` attributes;
//   INT4/UINT4/INT2/UINT2: the source as an integer (floats truncate toward zero and saturate to
//     int64 as Cast to int64 does, NaN -> 0), whose low bits are kept (wrap-around, as ONNX's
//     integer -> narrower integer Cast; the conformance suite expects float -9 -> int4 7).

// Source value -> float32 for a small-float target.
template <typename From>
float toFloatForSmall(From v) {
  if constexpr (std::is_same_v<From, bool>) {
    return v ? 1.0f : 0.0f;
  } else if constexpr (std::is_same_v<From, double> || std::is_same_v<From, int64_t> ||
                       std::is_same_v<From, uint64_t> || std::is_same_v<From, int32_t> ||
                       std::is_same_v<From, uint32_t>) {
    return doubleToFloatRoundOdd(static_cast<double>(v));
  } else {
    return static_cast<float>(load(v));  // float, float16, bfloat16, 8/16-bit integers: exact
  }
}

// Source value -> int64 for a sub-byte integer target.
template <typename From>
int64_t toIntForSubByte(From v) {
  if constexpr (kIsFloat<From>) {
    return saturateFromDouble<int64_t>(static_cast<double>(load(v)));
  } else {
    return static_cast<int64_t>(v);  // uint64 above 2^63 wraps, which keeps the low bits
  }
}

Status castLowPrecision(CpuKernelContext& ctx) {
  const DataType inT = ctx.inputs[0].dtype, outT = ctx.outputs[0].dtype;
  const int64_t n = ctx.outputs[0].numel();
  const bool saturate = ctx.attrs().getInt("saturate", 1) != 0;
  const std::string roundMode = ctx.attrs().getString("round_mode", "up");
  E8M0Rounding e8m0 = E8M0Rounding::kUp;
  if (roundMode == "down") {
    e8m0 = E8M0Rounding::kDown;
  } else if (roundMode == "nearest") {
    e8m0 = E8M0Rounding::kNearest;
  } else if (roundMode != "up") {
    return ctx.error("round_mode '%s' is not one of 'up', 'down', 'nearest'", roundMode.c_str());
  }
  const uint8_t* src = ctx.inputs[0].as<const uint8_t>();
  uint8_t* dst = ctx.outputs[0].as<uint8_t>();

  // Writes every output element from get(i), a value of a standard storage type.
  auto writeAll = [&](auto get) -> Status {
    if (isSmallFloatType(outT)) {
      parallelFor(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          dst[i] = floatToSmallFloat(outT, toFloatForSmall(get(i)), saturate, e8m0);
      });
      return Status::ok();
    }
    if (isSubByteIntType(outT)) {
      parallelFor(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = wrapToSubByte(outT, toIntForSubByte(get(i)));
      });
      return Status::ok();
    }
    return dispatchType<kSetAll>(ctx, outT, [&](auto ttag) {
      using To = typename decltype(ttag)::type;
      To* po = ctx.outputs[0].as<To>();
      parallelFor(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) po[i] = convertValue<To>(get(i));
      });
      return Status::ok();
    });
  };

  if (isSmallFloatType(inT))
    return writeAll([&](int64_t i) { return smallFloatToFloat(inT, src[i]); });
  if (inT == DataType::kINT4 || inT == DataType::kINT2)
    return writeAll([&](int64_t i) { return static_cast<int8_t>(src[i]); });
  if (inT == DataType::kUINT4 || inT == DataType::kUINT2)
    return writeAll([&](int64_t i) { return src[i]; });
  return dispatchType<kSetAll>(ctx, inT, [&](auto ftag) {
    using From = typename decltype(ftag)::type;
    const From* px = ctx.inputs[0].as<From>();
    return writeAll([px](int64_t i) { return px[i]; });
  });
}

// Cast: every pair of Kiln types; semantics in ew::convertValue (standard types) and
// castLowPrecision (above).
Status castKernel(CpuKernelContext& ctx) {
  if (isLowPrecisionType(ctx.inputs[0].dtype) || isLowPrecisionType(ctx.outputs[0].dtype))
    return castLowPrecision(ctx);
  return dispatchType<kSetAll>(ctx, ctx.inputs[0].dtype, [&](auto ftag) {
    using From = typename decltype(ftag)::type;
    return dispatchType<kSetAll>(ctx, ctx.outputs[0].dtype, [&](auto ttag) {
      using To = typename decltype(ttag)::type;
      const From* px = ctx.inputs[0].as<From>();
      To* po = ctx.outputs[0].as<To>();
      parallelFor(ctx.outputs[0].numel(), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) po[i] = convertValue<To>(px[i]);
      });
      return Status::ok();
    });
  });
}

}  // namespace

void registerUnaryKernels(CpuKernelTable& t) {
  using ir::OpKind;
  auto set = [&t](OpKind k, CpuKernelFn fn) { t[static_cast<size_t>(k)] = fn; };
  set(OpKind::kRelu, &reluKernel);
  set(OpKind::kLeakyRelu, &leakyReluKernel);
  set(OpKind::kElu, &eluKernel);
  set(OpKind::kSelu, &seluKernel);
  set(OpKind::kCelu, &celuKernel);
  set(OpKind::kSigmoid, &sigmoidKernel);
  set(OpKind::kHardSigmoid, &hardSigmoidKernel);
  set(OpKind::kHardSwish, &hardSwishKernel);
  set(OpKind::kTanh, &tanhKernel);
  set(OpKind::kSoftplus, &softplusKernel);
  set(OpKind::kSoftsign, &softsignKernel);
  set(OpKind::kMish, &mishKernel);
  set(OpKind::kThresholdedRelu, &thresholdedReluKernel);
  set(OpKind::kShrink, &shrinkKernel);
  set(OpKind::kClip, &clipKernel);
  set(OpKind::kGelu, &geluKernel);
  set(OpKind::kErf, &erfKernel);
  set(OpKind::kExp, &expKernel);
  set(OpKind::kLog, &logKernel);
  set(OpKind::kSqrt, &sqrtKernel);
  set(OpKind::kReciprocal, &reciprocalKernel);
  set(OpKind::kNeg, &negKernel);
  set(OpKind::kAbs, &absKernel);
  set(OpKind::kSign, &signKernel);
  set(OpKind::kFloor, &floorKernel);
  set(OpKind::kCeil, &ceilKernel);
  set(OpKind::kRound, &roundKernel);
  set(OpKind::kSin, &sinKernel);
  set(OpKind::kCos, &cosKernel);
  set(OpKind::kTan, &tanKernel);
  set(OpKind::kAsin, &asinKernel);
  set(OpKind::kAcos, &acosKernel);
  set(OpKind::kAtan, &atanKernel);
  set(OpKind::kSinh, &sinhKernel);
  set(OpKind::kCosh, &coshKernel);
  set(OpKind::kAsinh, &asinhKernel);
  set(OpKind::kAcosh, &acoshKernel);
  set(OpKind::kAtanh, &atanhKernel);
  set(OpKind::kNot, &notKernel);
  set(OpKind::kBitwiseNot, &bitwiseNotKernel);
  set(OpKind::kIsNaN, &isNanKernel);
  set(OpKind::kIsInf, &isInfKernel);
  set(OpKind::kIdentity, &identityKernel);
  set(OpKind::kCast, &castKernel);
}

}  // namespace kiln::cpu
