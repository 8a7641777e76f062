// CPU reference kernels for the Binary family (see ops.def).
//
// All ops go through the broadcast walker of elementwise_util.h; each kernel only supplies the
// per-element function and the dtypes it accepts. Integer arithmetic wraps (two's complement),
// integer division/modulo by zero is a run-time error naming the node.
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/elementwise_util.h"

namespace kiln::cpu {
namespace {

using namespace ew;  // NOLINT(google-build-using-namespace): kernel-local helpers

// Same-typed binary op: out = op(a, b) on compute values, types in Set.
template <uint32_t Set, typename Op>
Status sameTypeBinary(CpuKernelContext& ctx, Op op) {
  return dispatchType<Set>(ctx, ctx.outputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return binaryMap<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], op);
  });
}

// Comparison op: bool out = op(a, b), input types in Set.
template <uint32_t Set, typename Op>
Status compareBinary(CpuKernelContext& ctx, Op op) {
  return dispatchType<Set>(ctx, ctx.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return binaryMap<bool, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], op);
  });
}

// Integer division and modulo need a non-zero divisor everywhere; checked before computing so
// the per-element functions stay total. Only elements that reach the output matter, and every
// divisor element reaches it unless the output is empty.
template <typename T>
Status checkNoZeroDivisor(const CpuKernelContext& ctx, const char* what) {
  if constexpr (kIsInt<T>) {
    if (ctx.outputs[0].numel() == 0) return Status::ok();
    const CpuTensor& b = ctx.inputs[1];
    const T* pb = b.as<T>();
    for (int64_t i = 0; i < b.numel(); ++i)
      if (pb[i] == T{0})
        return ctx.error("integer %s by zero (divisor element %lld is 0)", what,
                         static_cast<long long>(i));
  }
  return Status::ok();
}

template <typename C>
C maxPropagateNan(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<C>::quiet_NaN();
  }
  return a < b ? b : a;
}
template <typename C>
C minPropagateNan(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<C>::quiet_NaN();
  }
  return b < a ? b : a;
}

Status addKernel(CpuKernelContext& ctx) {
  return sameTypeBinary<kSetNumeric>(ctx, [](auto a, auto b) {
    if constexpr (kIsInt<decltype(a)>) return wrapAdd(a, b);
    else return a + b;
  });
}
Status subKernel(CpuKernelContext& ctx) {
  return sameTypeBinary<kSetNumeric>(ctx, [](auto a, auto b) {
    if constexpr (kIsInt<decltype(a)>) return wrapSub(a, b);
    else return a - b;
  });
}
Status mulKernel(CpuKernelContext& ctx) {
  return sameTypeBinary<kSetNumeric>(ctx, [](auto a, auto b) {
    if constexpr (kIsInt<decltype(a)>) return wrapMul(a, b);
    else return a * b;
  });
}

// Integer division truncates toward zero (C, and ONNX's reference). INT_MIN / -1 overflows in
// C++ (UB); it wraps to INT_MIN here, the two's complement result.
Status divKernel(CpuKernelContext& ctx) {
  return dispatchType<kSetNumeric>(ctx, ctx.outputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    KILN_RETURN_IF_ERROR(checkNoZeroDivisor<T>(ctx, "division"));
    return binaryMap<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0],
                              [](auto a, auto b) {
                                using C = decltype(a);
                                if constexpr (std::is_signed_v<C> && kIsInt<C>) {
                                  if (b == C{-1}) return wrapNeg(a);
                                  return static_cast<C>(a / b);
                                } else {
                                  return static_cast<C>(a / b);
                                }
                              });
  });
}

// fmod=1: r = a - trunc(a/b)*b (sign of the dividend, C fmod / %).
// fmod=0: r = a - floor(a/b)*b (sign of the divisor, Python %); floats follow numpy.mod
// (ONNX opset 25+ allows fmod=0 on floats): r = fmod(a, b), moved by +b when r and b differ
// in sign, and a zero r takes b's sign; so -3 mod inf = inf, inf mod 2 = NaN, 1 mod 0 = NaN.
template <typename C>
C pythonFloatMod(C a, C b) {
  C r = std::fmod(a, b);
  if (b == C{0}) return r;  // NaN
  if (r != C{0}) {
    if ((b < C{0}) != (r < C{0})) r += b;
  } else {
    r = std::copysign(C{0}, b);
  }
  return r;
}

Status modKernel(CpuKernelContext& ctx) {
  const bool cFmod = ctx.attrs().getInt("fmod", 0) != 0;
  return dispatchType<kSetNumeric>(ctx, ctx.outputs[0].dtype, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    if constexpr (kIsFloat<T>) {
      return binaryMap<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0],
                                [cFmod](auto a, auto b) { return cFmod ? std::fmod(a, b) : pythonFloatMod(a, b); });
    } else {
      KILN_RETURN_IF_ERROR(checkNoZeroDivisor<T>(ctx, "modulo"));
      return binaryMap<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0],
                                [cFmod](T a, T b) -> T {
                                  if constexpr (std::is_signed_v<T>) {
                                    if (b == T{-1}) return T{0};  // avoids INT_MIN % -1 (UB)
                                  }
                                  T r = static_cast<T>(a % b);
                                  if constexpr (std::is_signed_v<T>) {
                                    if (!cFmod && r != 0 && ((r < 0) != (b < 0)))
                                      r = static_cast<T>(r + b);
                                  }
                                  return r;
                                });
    }
  });
}

// Integer power by squaring with wrap-around; negative exponents give the truncated value of
// 1 / base^|e| (1 for base 1, +-1 for base -1, else 0); the ONNX reference (numpy) refuses them.
template <typename T>
T intPow(T base, int64_t e) {
  if (e < 0) {
    if (base == T{1}) return T{1};
    if constexpr (std::is_signed_v<T>) {
      if (base == T{-1}) return (e % 2 == 0) ? T{1} : T{-1};
    }
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

// Pow: output has the base's type; the exponent may be any numeric type.
Status powKernel(CpuKernelContext& ctx) {
  constexpr uint32_t kBaseSet = kSetFloat | kSetSigned;
  return dispatchType<kBaseSet>(ctx, ctx.inputs[0].dtype, [&](auto btag) {
    using TB = typename decltype(btag)::type;
    return dispatchType<kSetNumeric>(ctx, ctx.inputs[1].dtype, [&](auto etag) -> Status {
      using TE = typename decltype(etag)::type;
      using CB = Compute<TB>;
      return binaryMap<TB, TB, TE>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0],
                                   [](CB a, auto e) -> CB {
                                     using CE = decltype(e);
                                     if constexpr (kIsFloat<TB>) {
                                       return std::pow(a, static_cast<CB>(e));
                                     } else if constexpr (kIsInt<CE>) {
                                       if constexpr (std::is_same_v<CE, uint64_t>) {
                                         // Exponents >= 2^63 act like the largest int64 of the
                                         // same parity (the result only depends on parity and
                                         // on being huge).
                                         constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
                                         return intPow(a, e > kMax ? static_cast<int64_t>(kMax - 1 + (e & 1))
                                                                   : static_cast<int64_t>(e));
                                       } else {
                                         return intPow(a, static_cast<int64_t>(e));
                                       }
                                     } else {
                                       return saturateFromDouble<CB>(
                                           std::pow(static_cast<double>(a), static_cast<double>(e)));
                                     }
                                   });
    });
  });
}

// Variadic Max/Min/Sum/Mean: accumulate in the compute type over a broadcast of all inputs.
enum class Variadic { kMax, kMin, kSum, kMean };
template <Variadic V>
Status variadicKernel(CpuKernelContext& ctx) {
  constexpr uint32_t kSet = (V == Variadic::kSum || V == Variadic::kMean) ? kSetFloat : kSetNumeric;
  return dispatchType<kSet>(ctx, ctx.outputs[0].dtype, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    using C = Compute<T>;
    CpuTensor& out = ctx.outputs[0];
    std::vector<C> acc(static_cast<size_t>(out.numel()));
    C* pacc = acc.data();
    {
      KILN_ASSIGN_OR_RETURN(auto plan, makeBroadcastPlan<1>(ctx, out.dims, {&ctx.inputs[0].dims}));
      const T* p = ctx.inputs[0].as<T>();
      walkBroadcast(plan, [&](int64_t i, const std::array<int64_t, 1>& o) { pacc[i] = load(p[o[0]]); });
    }
    for (size_t k = 1; k < ctx.inputs.size(); ++k) {
      KILN_ASSIGN_OR_RETURN(auto plan,
                            makeBroadcastPlan<1>(ctx, out.dims, {&ctx.inputs[k].dims}));
      const T* p = ctx.inputs[k].as<T>();
      walkBroadcast(plan, [&](int64_t i, const std::array<int64_t, 1>& o) {
        C b = load(p[o[0]]);
        if constexpr (V == Variadic::kMax) pacc[i] = maxPropagateNan(pacc[i], b);
        else if constexpr (V == Variadic::kMin) pacc[i] = minPropagateNan(pacc[i], b);
        else pacc[i] = pacc[i] + b;
      });
    }
    T* po = out.as<T>();
    const C n = static_cast<C>(ctx.inputs.size());
    parallelFor(out.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if constexpr (V == Variadic::kMean) po[i] = store<T>(pacc[i] / n);
        else po[i] = store<T>(pacc[i]);
      }
    });
    return Status::ok();
  });
}

// PRelu: x < 0 ? slope * x : x, slope broadcast to x's shape.
Status preluKernel(CpuKernelContext& ctx) {
  return sameTypeBinary<kSetFloat | kSetSigned | kSetUnsigned>(ctx, [](auto x, auto s) {
    using C = decltype(x);
    if constexpr (std::is_unsigned_v<C>) {
      (void)s;
      return x;  // never negative
    } else if constexpr (kIsInt<C>) {
      return x < C{0} ? wrapMul(s, x) : x;
    } else {
      return x < C{0} ? s * x : x;
    }
  });
}

// Comparisons follow IEEE: any comparison with NaN is false.
Status equalKernel(CpuKernelContext& ctx) {
  return compareBinary<kSetAll>(ctx, [](auto a, auto b) { return a == b; });
}
Status lessKernel(CpuKernelContext& ctx) {
  return compareBinary<kSetNumeric>(ctx, [](auto a, auto b) { return a < b; });
}
Status lessOrEqualKernel(CpuKernelContext& ctx) {
  return compareBinary<kSetNumeric>(ctx, [](auto a, auto b) { return a <= b; });
}
Status greaterKernel(CpuKernelContext& ctx) {
  return compareBinary<kSetNumeric>(ctx, [](auto a, auto b) { return a > b; });
}
Status greaterOrEqualKernel(CpuKernelContext& ctx) {
  return compareBinary<kSetNumeric>(ctx, [](auto a, auto b) { return a >= b; });
}

Status andKernel(CpuKernelContext& ctx) {
  return compareBinary<kSetBool>(ctx, [](bool a, bool b) { return a && b; });
}
Status orKernel(CpuKernelContext& ctx) {
  return compareBinary<kSetBool>(ctx, [](bool a, bool b) { return a || b; });
}
Status xorKernel(CpuKernelContext& ctx) {
  return compareBinary<kSetBool>(ctx, [](bool a, bool b) { return a != b; });
}

// BitShift. Unsigned types (all opsets) and signed types (ONNX opset 25+): left shifts wrap
// (bits shifted out are lost, 64 << 1 in int8 is -128); right shifts of signed values are
// arithmetic (sign-filling). A shift >= the bit width or negative (UB in C++) shifts every bit
// out: 0 for LEFT, and for RIGHT 0 or, for negative signed values, -1.
Status bitShiftKernel(CpuKernelContext& ctx) {
  const std::string dir = ctx.attrs().getString("direction", "");
  if (dir != "LEFT" && dir != "RIGHT")
    return ctx.error("attribute direction must be \"LEFT\" or \"RIGHT\", got \"%s\"", dir.c_str());
  const bool left = dir == "LEFT";
  return sameTypeBinary<kSetInt>(ctx, [left](auto a, auto s) {
    using C = decltype(a);
    constexpr int kBits = static_cast<int>(sizeof(C) * 8);
    bool outOfRange = false;
    if constexpr (std::is_signed_v<C>) outOfRange = s < C{0};
    if (outOfRange || static_cast<uint64_t>(s) >= static_cast<uint64_t>(kBits)) {
      if constexpr (std::is_signed_v<C>) {
        if (!left && a < C{0}) return C{-1};
      }
      return C{0};
    }
    const int n = static_cast<int>(s);
    if (left) return static_cast<C>(static_cast<uint64_t>(a) << n);  // wraps modulo 2^bits
    return static_cast<C>(a >> n);  // arithmetic for signed (defined since C++20)
  });
}

// Where(cond, X, Y): three-way broadcast.
Status whereKernel(CpuKernelContext& ctx) {
  if (ctx.inputs[0].dtype != DataType::kBOOL) return ctx.unsupportedType(ctx.inputs[0].dtype);
  return dispatchType<kSetAll>(ctx, ctx.outputs[0].dtype, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    const CpuTensor& c = ctx.inputs[0];
    const CpuTensor& x = ctx.inputs[1];
    const CpuTensor& y = ctx.inputs[2];
    CpuTensor& out = ctx.outputs[0];
    KILN_ASSIGN_OR_RETURN(auto plan, makeBroadcastPlan<3>(ctx, out.dims, {&c.dims, &x.dims, &y.dims}));
    const uint8_t* pc = c.as<uint8_t>();
    const T* px = x.as<T>();
    const T* py = y.as<T>();
    T* po = out.as<T>();
    walkBroadcast(plan, [&](int64_t i, const std::array<int64_t, 3>& o) {
      po[i] = pc[o[0]] != 0 ? px[o[1]] : py[o[2]];
    });
    return Status::ok();
  });
}

}  // namespace

void registerBinaryKernels(CpuKernelTable& t) {
  using ir::OpKind;
  auto set = [&t](OpKind k, CpuKernelFn fn) { t[static_cast<size_t>(k)] = fn; };
  set(OpKind::kAdd, &addKernel);
  set(OpKind::kSub, &subKernel);
  set(OpKind::kMul, &mulKernel);
  set(OpKind::kDiv, &divKernel);
  set(OpKind::kPow, &powKernel);
  set(OpKind::kMax, &variadicKernel<Variadic::kMax>);
  set(OpKind::kMin, &variadicKernel<Variadic::kMin>);
  set(OpKind::kSum, &variadicKernel<Variadic::kSum>);
  set(OpKind::kMean, &variadicKernel<Variadic::kMean>);
  set(OpKind::kMod, &modKernel);
  set(OpKind::kPRelu, &preluKernel);
  set(OpKind::kEqual, &equalKernel);
  set(OpKind::kLess, &lessKernel);
  set(OpKind::kLessOrEqual, &lessOrEqualKernel);
  set(OpKind::kGreater, &greaterKernel);
  set(OpKind::kGreaterOrEqual, &greaterOrEqualKernel);
  set(OpKind::kAnd, &andKernel);
  set(OpKind::kOr, &orKernel);
  set(OpKind::kXor, &xorKernel);
  set(OpKind::kBitShift, &bitShiftKernel);
  set(OpKind::kWhere, &whereKernel);
}

}  // namespace kiln::cpu
