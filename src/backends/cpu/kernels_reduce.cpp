// CPU reference kernels for the Reduce family (see ops.def).
//
// Every reduction walks, for each output element, the list of input offsets of the reduced
// sub-box (precomputed once), so any set of axes costs the same code. Floating types accumulate
// in double, integer types in int64. Over an empty set the results are the ONNX identities:
// sum 0, prod 1, max -inf (integers: lowest), min +inf (integers: highest), log-sum(-exp) -inf,
// mean NaN.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "common/half.h"

namespace kiln::cpu {

namespace {

template <typename T>
double loadF(const T& v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

template <typename T>
T storeF(double v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

// Reduction geometry: input offsets of the reduced box, and the base offset of each output.
struct ReducePlan {
  std::vector<int64_t> boxOffsets;   // offsets (in elements) of every reduced position
  std::vector<int64_t> outBase;      // input offset of reduced position 0, per output element
};

ReducePlan makePlan(const std::vector<int64_t>& dims, const std::vector<bool>& reduced) {
  const size_t rank = dims.size();
  std::vector<int64_t> strides(rank, 1);
  for (size_t i = rank; i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  // Enumerates every combination of coordinates over the axes selected by `pick`.
  auto enumerate = [&](bool pick) {
    std::vector<int64_t> offs{0};
    for (size_t a = 0; a < rank; ++a) {
      if (reduced[a] != pick) continue;
      std::vector<int64_t> next;
      next.reserve(offs.size() * static_cast<size_t>(dims[a]));
      for (int64_t o : offs)
        for (int64_t k = 0; k < dims[a]; ++k) next.push_back(o + k * strides[a]);
      offs = std::move(next);
    }
    return offs;
  };
  return {enumerate(true), enumerate(false)};
}

// Reads axes/keepdims/noop the same way the shape function does.
StatusOr<std::vector<bool>> reducedAxes(const CpuKernelContext& ctx, int64_t rank) {
  std::vector<int64_t> axes;
  if (ctx.hasInput(1)) {
    for (int64_t k = 0; k < ctx.inputs[1].numel(); ++k) axes.push_back(ctx.inputs[1].intAt(k));
  } else if (ctx.attrs().has("axes")) {
    axes = ctx.attrs().getInts("axes");
  }
  std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty());
  if (axes.empty() && ctx.attrs().getInt("noop_with_empty_axes", 0)) {
    std::fill(reduced.begin(), reduced.end(), false);
    return reduced;
  }
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return ctx.error("reduction axis %lld is out of range for rank %lld",
                       static_cast<long long>(a), static_cast<long long>(rank));
    reduced[static_cast<size_t>(a < 0 ? a + rank : a)] = true;
  }
  return reduced;
}

template <typename T>
void reduceFloat(ir::OpKind op, const T* x, T* y, const ReducePlan& plan) {
  const auto& box = plan.boxOffsets;
  const double n = static_cast<double>(box.size());
  const int64_t numOut = static_cast<int64_t>(plan.outBase.size());
  parallelFor(numOut, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* p = x + plan.outBase[static_cast<size_t>(o)];
      double r = 0;
      switch (op) {
        case ir::OpKind::kReduceSum:
        case ir::OpKind::kReduceMean:
        case ir::OpKind::kReduceLogSum:
          for (int64_t off : box) r += loadF(p[off]);
          if (op == ir::OpKind::kReduceMean) r /= n;  // 0/0 = NaN over an empty set
          if (op == ir::OpKind::kReduceLogSum) r = std::log(r);
          break;
        case ir::OpKind::kReduceMax:
          r = -std::numeric_limits<double>::infinity();
          for (int64_t off : box) {
            double v = loadF(p[off]);
            if (v > r || std::isnan(v)) r = v;
            if (std::isnan(r)) break;  // NaN propagates
          }
          break;
        case ir::OpKind::kReduceMin:
          r = std::numeric_limits<double>::infinity();
          for (int64_t off : box) {
            double v = loadF(p[off]);
            if (v < r || std::isnan(v)) r = v;
            if (std::isnan(r)) break;
          }
          break;
        case ir::OpKind::kReduceProd:
          r = 1;
          for (int64_t off : box) r *= loadF(p[off]);
          break;
        case ir::OpKind::kReduceL1:
          for (int64_t off : box) r += std::fabs(loadF(p[off]));
          break;
        case ir::OpKind::kReduceL2:
        case ir::OpKind::kReduceSumSquare:
          for (int64_t off : box) {
            double v = loadF(p[off]);
            r += v * v;
          }
          if (op == ir::OpKind::kReduceL2) r = std::sqrt(r);
          break;
        case ir::OpKind::kReduceLogSumExp: {
          // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m = max(x): no overflow.
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t off : box) m = std::max(m, loadF(p[off]));
          if (std::isinf(m)) {
            r = m;  // empty set or all -inf: -inf; any +inf: +inf
            break;
          }
          for (int64_t off : box) r += std::exp(loadF(p[off]) - m);
          r = m + std::log(r);
          break;
        }
        default: break;
      }
      y[o] = storeF<T>(r);
    }
  }, 1024);
}

template <typename T>
Status reduceInt(const CpuKernelContext& ctx, ir::OpKind op, const T* x, T* y,
                 const ReducePlan& plan) {
  const auto& box = plan.boxOffsets;
  const int64_t numOut = static_cast<int64_t>(plan.outBase.size());
  if (op == ir::OpKind::kReduceMean && box.empty() && numOut > 0)
    return ctx.error("integer ReduceMean over zero elements is undefined");
  for (int64_t o = 0; o < numOut; ++o) {
    const T* p = x + plan.outBase[static_cast<size_t>(o)];
    int64_t r = 0;
    switch (op) {
      case ir::OpKind::kReduceSum:
      case ir::OpKind::kReduceMean:
        for (int64_t off : box) r += static_cast<int64_t>(p[off]);
        // Integer mean truncates toward zero (C division), as onnxruntime does.
        if (op == ir::OpKind::kReduceMean) r /= static_cast<int64_t>(box.size());
        break;
      case ir::OpKind::kReduceMax:
        r = std::numeric_limits<T>::lowest();
        for (int64_t off : box) r = std::max<int64_t>(r, p[off]);
        break;
      case ir::OpKind::kReduceMin:
        r = std::numeric_limits<T>::max();
        for (int64_t off : box) r = std::min<int64_t>(r, p[off]);
        break;
      case ir::OpKind::kReduceProd:
        r = 1;
        for (int64_t off : box) r *= static_cast<int64_t>(p[off]);
        break;
      case ir::OpKind::kReduceL1:
        for (int64_t off : box) r += std::abs(static_cast<int64_t>(p[off]));
        break;
      case ir::OpKind::kReduceSumSquare:
        for (int64_t off : box) r += static_cast<int64_t>(p[off]) * static_cast<int64_t>(p[off]);
        break;
      default: return ctx.unsupportedType(ctx.inputs[0].dtype);
    }
    y[o] = static_cast<T>(r);
  }
  return Status::ok();
}

Status reduceKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  KILN_ASSIGN_OR_RETURN(std::vector<bool> reduced, reducedAxes(ctx, x.rank()));
  const ReducePlan plan = makePlan(x.dims, reduced);
  if (static_cast<int64_t>(plan.outBase.size()) != y.numel())
    return internalError("%s: reduce output has %lld elements, expected %zu",
                         ctx.node.describe().c_str(), static_cast<long long>(y.numel()),
                         plan.outBase.size());
  const ir::OpKind op = ctx.node.op;
  switch (x.dtype) {
    case DataType::kFLOAT: reduceFloat(op, x.as<float>(), y.as<float>(), plan); return Status::ok();
    case DataType::kDOUBLE: reduceFloat(op, x.as<double>(), y.as<double>(), plan); return Status::ok();
    case DataType::kHALF: reduceFloat(op, x.as<Half>(), y.as<Half>(), plan); return Status::ok();
    case DataType::kBF16: reduceFloat(op, x.as<BFloat16>(), y.as<BFloat16>(), plan); return Status::ok();
    case DataType::kINT32: return reduceInt(ctx, op, x.as<int32_t>(), y.as<int32_t>(), plan);
    case DataType::kINT64: return reduceInt(ctx, op, x.as<int64_t>(), y.as<int64_t>(), plan);
    default: return ctx.unsupportedType(x.dtype);
  }
}

// ArgMax/ArgMin along one axis: ties go to the first index, or the last with
// select_last_index=1. NaN counts as the extreme value (the first NaN wins), like numpy.
template <typename T>
void argReduce(const T* x, int64_t* y, int64_t outer, int64_t n, int64_t inner, bool isMax,
               bool last) {
  // Half/bfloat16 compare as float; integers compare natively (int64 exactly).
  using C = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;
  auto isNan = [](C v) {
    if constexpr (std::is_floating_point_v<C>) {
      return std::isnan(v);
    } else {
      return false;
    }
  };
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* p = x + o * n * inner + i;
      int64_t best = 0;
      C bv = static_cast<C>(p[0]);
      for (int64_t k = 1; k < n && !isNan(bv); ++k) {
        C v = static_cast<C>(p[k * inner]);
        bool better = isNan(v) || (isMax ? (v > bv || (last && v == bv))
                                         : (v < bv || (last && v == bv)));
        if (better) {
          best = k;
          bv = v;
        }
      }
      y[o * inner + i] = best;
    }
  }
}

Status argKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", 0);
  if (axis < -rank || axis >= rank)
    return ctx.error("axis %lld is out of range for rank %lld", static_cast<long long>(axis),
                     static_cast<long long>(rank));
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dims[static_cast<size_t>(i)];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= x.dims[static_cast<size_t>(i)];
  const int64_t n = x.dims[static_cast<size_t>(axis)];
  if (n == 0) return ctx.error("cannot take the arg-max/min over an empty axis");
  const bool isMax = ctx.node.op == ir::OpKind::kArgMax;
  const bool last = ctx.attrs().getInt("select_last_index", 0) != 0;
  int64_t* y = ctx.outputs[0].as<int64_t>();
  switch (x.dtype) {
    case DataType::kFLOAT: argReduce(x.as<float>(), y, outer, n, inner, isMax, last); break;
    case DataType::kDOUBLE: argReduce(x.as<double>(), y, outer, n, inner, isMax, last); break;
    case DataType::kHALF: argReduce(x.as<Half>(), y, outer, n, inner, isMax, last); break;
    case DataType::kBF16: argReduce(x.as<BFloat16>(), y, outer, n, inner, isMax, last); break;
    case DataType::kINT32: argReduce(x.as<int32_t>(), y, outer, n, inner, isMax, last); break;
    case DataType::kINT64: argReduce(x.as<int64_t>(), y, outer, n, inner, isMax, last); break;
    case DataType::kINT8: argReduce(x.as<int8_t>(), y, outer, n, inner, isMax, last); break;
    case DataType::kUINT8: argReduce(x.as<uint8_t>(), y, outer, n, inner, isMax, last); break;
    default: return ctx.unsupportedType(x.dtype);
  }
  return Status::ok();
}

}  // namespace

void registerReduceKernels(CpuKernelTable& t) {
  for (ir::OpKind op : {ir::OpKind::kReduceSum, ir::OpKind::kReduceMean, ir::OpKind::kReduceMax,
                        ir::OpKind::kReduceMin, ir::OpKind::kReduceProd, ir::OpKind::kReduceL1,
                        ir::OpKind::kReduceL2, ir::OpKind::kReduceSumSquare,
                        ir::OpKind::kReduceLogSum, ir::OpKind::kReduceLogSumExp}) {
    t[static_cast<size_t>(op)] = &reduceKernel;
  }
  t[static_cast<size_t>(ir::OpKind::kArgMax)] = &argKernel;
  t[static_cast<size_t>(ir::OpKind::kArgMin)] = &argKernel;
}

}  // namespace kiln::cpu
