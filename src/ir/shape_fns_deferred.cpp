// Build-time shapes for layers whose output shape depends on values known only when the engine
// runs: shape tensor inputs (a Reshape target, Resize sizes or scales, Reduce axes, TopK k fed
// by a graph input) and values computed from them.
//
// inferNode calls inferWithDeferredValues when an op's own shape function asked for such values
// (InferContext::deferredReads). The rule gives each output its type and rank, keeps every dim
// that is certain, and makes the others run-time symbols ("<layer>:<output>:d<k>"). When the
// engine runs, the values are constants and the op's own shape function decides and checks
// the shape, so these rules only need to be right about types and ranks.
#include <algorithm>

#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"

namespace kiln::ir {
namespace {

// Element count of 1-D (or scalar) input i, which must be static.
StatusOr<int64_t> lengthOf(const InferContext& ctx, size_t i, const char* what) {
  const Shape& s = ctx.inShape(i);
  if (s.empty()) return 1;
  if (s.size() != 1 || !s[0].isConst())
    return ctx.unsupportedError(
        "%s (input %zu) must be a 1-D tensor of known length when it is "
        "only known at run time, got shape %s",
        what, i, shapeToString(s).c_str());
  return s[0].constValue();
}

// Run-time dims for output `out`, rank `rank`.
Shape runtimeShape(const InferContext& ctx, size_t out, size_t rank) {
  Shape s;
  for (size_t k = 0; k < rank; ++k) s.push_back(ctx.runtimeDim(out, k));
  return s;
}

// A value element usable as a dim: a known expression that is not a constant <= 0 (Reshape's
// 0 and -1, which could also be what a symbol turns out to be, are handled by the caller).
bool usableDim(const DimExpr& d) { return !d.isConst() || d.constValue() > 0; }

Status deferredReduce(InferContext& ctx) {
  const Shape& in = ctx.inShape(0);
  const int64_t keepdims = ctx.attrs().getInt("keepdims", 1);
  const int64_t noop = ctx.attrs().getInt("noop_with_empty_axes", 0);
  KILN_ASSIGN_OR_RETURN(int64_t n, lengthOf(ctx, 1, "axes"));
  if (n == 0) {  // the axes tensor is empty whatever its values
    if (noop) {
      ctx.setOutput(0, ctx.inType(0), in);
    } else {
      ctx.setOutput(0, ctx.inType(0), keepdims ? Shape(in.size(), DimExpr(1)) : Shape{});
    }
    return Status::ok();
  }
  if (n > static_cast<int64_t>(in.size()))
    return ctx.error("axes has %lld elements, more than the input's rank %zu",
                     static_cast<long long>(n), in.size());
  const size_t rank = keepdims ? in.size() : in.size() - static_cast<size_t>(n);
  ctx.setOutput(0, ctx.inType(0), runtimeShape(ctx, 0, rank));
  return Status::ok();
}

// The inputs whose element values decide each op's output shape (bit per input).
uint64_t valueInputs(OpKind op) {
  switch (op) {
    case OpKind::kConstantOfShape: return 0b1;
    case OpKind::kRange: return 0b111;
    case OpKind::kSlice: return 0b11110;
    case OpKind::kPad: return 0b1010;
    case OpKind::kResize: return 0b1110;
    default: return 0b10;
  }
}

}  // namespace

Status inferWithDeferredValues(InferContext& ctx) {
  if (ctx.numInputs() == 0 || !ctx.hasInput(0)) return ctx.unsupportedError("no rule");
  const OpKind op = ctx.node().op;
  const Shape& in = ctx.inShape(0);
  const DataType dt = ctx.inType(0);
  const size_t rank = in.size();
  ctx.noteValueInputs(valueInputs(op));
  switch (op) {
    case OpKind::kReshape: {
      KILN_ASSIGN_OR_RETURN(int64_t n, lengthOf(ctx, 1, "the target shape"));
      std::optional<std::vector<DimExpr>> v = knownValues(ctx, 1);
      const bool allowZero = ctx.attrs().getInt("allowzero", 0) != 0;
      Shape out;
      for (int64_t k = 0; k < n; ++k) {
        const size_t ku = static_cast<size_t>(k);
        if (v && ku < v->size() && (*v)[ku].isConst() && usableDim((*v)[ku])) {
          out.push_back((*v)[ku]);
        } else if (v && ku < v->size() && (*v)[ku].isConst() && (*v)[ku].constValue() == 0 &&
                   !allowZero && ku < rank) {
          out.push_back(in[ku]);  // 0 copies the input's dim
        } else {
          out.push_back(ctx.runtimeDim(0, ku));
        }
      }
      ctx.setOutput(0, dt, std::move(out));
      return Status::ok();
    }
    case OpKind::kExpand: {
      KILN_ASSIGN_OR_RETURN(int64_t n, lengthOf(ctx, 1, "the expand shape"));
      const size_t outRank = std::max(rank, static_cast<size_t>(n));
      ctx.setOutput(0, dt, runtimeShape(ctx, 0, outRank));
      return Status::ok();
    }
    case OpKind::kConstantOfShape: {
      KILN_ASSIGN_OR_RETURN(int64_t n, lengthOf(ctx, 0, "the output shape"));
      std::optional<std::vector<DimExpr>> v = knownValues(ctx, 0);
      DataType outType = DataType::kFLOAT;
      if (ctx.attrs().has("value")) {
        TensorDataPtr value = ctx.attrs().getTensor("value");
        if (!value) return ctx.error("attribute 'value' must be a tensor");
        outType = value->dtype();
      }
      Shape out = runtimeShape(ctx, 0, static_cast<size_t>(n));
      if (v && static_cast<int64_t>(v->size()) == n) {
        for (size_t k = 0; k < out.size(); ++k)
          if (!(*v)[k].isConst())
            out[k] = (*v)[k];  // symbols of a shape tensor are dims as they are
      }
      ctx.setOutput(0, outType, std::move(out));
      return Status::ok();
    }
    case OpKind::kRange: ctx.setOutput(0, dt, runtimeShape(ctx, 0, 1)); return Status::ok();
    case OpKind::kTile: {
      std::optional<std::vector<DimExpr>> v = knownValues(ctx, 1);
      Shape out = runtimeShape(ctx, 0, rank);
      if (v && v->size() == rank)
        for (size_t k = 0; k < rank; ++k) out[k] = in[k] * (*v)[k];
      ctx.setOutput(0, dt, std::move(out));
      return Status::ok();
    }
    case OpKind::kSlice: {
      // Only the sliced axes change.
      std::vector<bool> sliced(rank, true);
      if (ctx.hasInput(3)) {
        std::optional<std::vector<DimExpr>> axes = knownValues(ctx, 3);
        bool constAxes = axes.has_value();
        for (size_t k = 0; constAxes && k < axes->size(); ++k) constAxes = (*axes)[k].isConst();
        if (constAxes) {
          std::fill(sliced.begin(), sliced.end(), false);
          for (const DimExpr& a : *axes) {
            int64_t ax =
                a.constValue() < 0 ? a.constValue() + static_cast<int64_t>(rank) : a.constValue();
            if (ax >= 0 && ax < static_cast<int64_t>(rank)) sliced[static_cast<size_t>(ax)] = true;
          }
        }
      } else {
        KILN_ASSIGN_OR_RETURN(int64_t n, lengthOf(ctx, 1, "starts"));
        for (size_t k = 0; k < rank; ++k) sliced[k] = static_cast<int64_t>(k) < n;
      }
      Shape out = in;
      for (size_t k = 0; k < rank; ++k)
        if (sliced[k]) out[k] = ctx.runtimeDim(0, k);
      ctx.setOutput(0, dt, std::move(out));
      return Status::ok();
    }
    case OpKind::kPad: {
      std::optional<std::vector<DimExpr>> pads = knownValues(ctx, 1);
      Shape out = runtimeShape(ctx, 0, rank);
      if (pads && !ctx.hasInput(3) && pads->size() == 2 * rank)
        for (size_t k = 0; k < rank; ++k) out[k] = in[k] + (*pads)[k] + (*pads)[k + rank];
      ctx.setOutput(0, dt, std::move(out));
      return Status::ok();
    }
    case OpKind::kResize: {
      Shape out = runtimeShape(ctx, 0, rank);
      std::optional<std::vector<DimExpr>> sizes = knownValues(ctx, 3);
      const std::string policy = ctx.attrs().getString("keep_aspect_ratio_policy", "stretch");
      if (sizes && sizes->size() == rank && !ctx.attrs().has("axes") && policy == "stretch")
        out = *sizes;
      ctx.setOutput(0, dt, std::move(out));
      return Status::ok();
    }
    case OpKind::kReduceSum:
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
    case OpKind::kReduceMin:
    case OpKind::kReduceProd:
    case OpKind::kReduceL1:
    case OpKind::kReduceL2:
    case OpKind::kReduceSumSquare:
    case OpKind::kReduceLogSum:
    case OpKind::kReduceLogSumExp: return deferredReduce(ctx);
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze: {
      KILN_ASSIGN_OR_RETURN(int64_t n, lengthOf(ctx, 1, "axes"));
      if (op == OpKind::kSqueeze && n > static_cast<int64_t>(rank))
        return ctx.error("axes has %lld elements, more than the input's rank %zu",
                         static_cast<long long>(n), rank);
      const size_t outRank =
          op == OpKind::kSqueeze ? rank - static_cast<size_t>(n) : rank + static_cast<size_t>(n);
      ctx.setOutput(0, dt, runtimeShape(ctx, 0, outRank));
      return Status::ok();
    }
    case OpKind::kSplit: {
      KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", 0),
                                                            static_cast<int64_t>(rank)));
      std::optional<std::vector<DimExpr>> split = knownValues(ctx, 1);
      for (size_t o = 0; o < ctx.numOutputs(); ++o) {
        Shape out = in;
        out[static_cast<size_t>(axis)] = split && split->size() == ctx.numOutputs()
                                             ? (*split)[o]
                                             : ctx.runtimeDim(o, static_cast<size_t>(axis));
        ctx.setOutput(o, dt, std::move(out));
      }
      return Status::ok();
    }
    case OpKind::kTopK: {
      KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", -1),
                                                            static_cast<int64_t>(rank)));
      Shape out = in;
      out[static_cast<size_t>(axis)] = ctx.runtimeDim(0, static_cast<size_t>(axis));
      ctx.setOutput(0, dt, out);
      ctx.setOutput(1, DataType::kINT64, out);
      return Status::ok();
    }
    case OpKind::kOneHot: {
      if (!ctx.hasInput(2)) return ctx.error("input 2 (values) is required");
      KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", -1),
                                                            static_cast<int64_t>(rank) + 1));
      Shape out = in;
      out.insert(out.begin() + axis, ctx.runtimeDim(0, static_cast<size_t>(axis)));
      ctx.setOutput(0, ctx.inType(2), std::move(out));
      return Status::ok();
    }
    case OpKind::kCumSum:
    case OpKind::kCumProd:  // the axis changes values, not the shape
      ctx.setOutput(0, dt, in);
      return Status::ok();
    case OpKind::kCenterCropPad: {
      // Axes (attribute) get the values of `shape`; the others keep the input's dims.
      std::vector<int64_t> axes = ctx.attrs().getInts("axes");
      Shape out = in;
      if (axes.empty()) {
        out = runtimeShape(ctx, 0, rank);
      } else {
        for (int64_t a : axes) {
          KILN_ASSIGN_OR_RETURN(int64_t ax, ctx.normalizeAxis(a, static_cast<int64_t>(rank)));
          out[static_cast<size_t>(ax)] = ctx.runtimeDim(0, static_cast<size_t>(ax));
        }
      }
      ctx.setOutput(0, dt, std::move(out));
      return Status::ok();
    }
    default: return ctx.unsupportedError("no rule for op %s", opName(op));
  }
}

}  // namespace kiln::ir
