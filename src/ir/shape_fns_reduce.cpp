// Shape functions for the Reduce family (see ops.def).
//
// ReduceX(data, axes?) keepdims=1 noop_with_empty_axes=0: reduces over `axes` (negative axes
// count from the end; no axes = every axis, unless noop_with_empty_axes=1, which makes the op
// an identity). The reduced dims become 1 (keepdims=1) or disappear.
// ArgMax/ArgMin(data) axis=0 keepdims=1 select_last_index=0 -> int64 indices.
#include <algorithm>

#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
         t == DataType::kBF16;
}
bool isIntType(DataType t) { return t == DataType::kINT32 || t == DataType::kINT64; }

// Reductions defined on integer data here (the others involve sqrt/log/exp).
bool allowsInts(OpKind op) {
  return op == OpKind::kReduceSum || op == OpKind::kReduceMean || op == OpKind::kReduceMax ||
         op == OpKind::kReduceMin || op == OpKind::kReduceProd || op == OpKind::kReduceL1 ||
         op == OpKind::kReduceSumSquare;
}

Status inferReduce(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 2));
  const DataType dt = ctx.inType(0);
  if (!isFloatType(dt) && !(isIntType(dt) && allowsInts(ctx.node().op)))
    return ctx.error("data type %s is not supported (expected float32, float64, float16 or "
                     "bfloat16%s)",
                     dataTypeName(dt), allowsInts(ctx.node().op) ? ", int32 or int64" : "");
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  const int64_t keepdims = ctx.attrs().getInt("keepdims", 1);
  const int64_t noop = ctx.attrs().getInt("noop_with_empty_axes", 0);

  std::vector<int64_t> axes;
  if (ctx.hasInput(1)) {
    if (ctx.inType(1) != DataType::kINT64)
      return ctx.error("axes must be int64, got %s", dataTypeName(ctx.inType(1)));
    KILN_ASSIGN_OR_RETURN(axes, ctx.inInts(1, "axes"));
  } else if (ctx.attrs().has("axes")) {
    axes = ctx.attrs().getInts("axes");  // older opsets' attribute form
  }
  if (axes.empty() && noop) {
    ctx.setOutput(0, dt, in);
    if (const auto* v = ctx.inValue(0)) ctx.setOutputValue(0, *v);
    return Status::ok();
  }
  std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty());
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t ax, ctx.normalizeAxis(a, rank, "reduction axis"));
    reduced[static_cast<size_t>(ax)] = true;
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[static_cast<size_t>(i)]) {
      out.push_back(in[static_cast<size_t>(i)]);
    } else if (keepdims) {
      out.push_back(DimExpr(1));
    }
  }
  ctx.setOutput(0, dt, out);

  // Value propagation: the sum or product of a known 1-D shape vector (e.g. the element count
  // computed as ReduceProd(Shape(x))) stays symbolic.
  const auto* v = ctx.inValue(0);
  const OpKind op = ctx.node().op;
  if (v && rank == 1 && isIntType(dt) && reduced[0] &&
      (op == OpKind::kReduceSum || op == OpKind::kReduceProd)) {
    DimExpr acc(op == OpKind::kReduceSum ? 0 : 1);
    for (const DimExpr& e : *v) acc = op == OpKind::kReduceSum ? acc + e : acc * e;
    ctx.setOutputValue(0, {acc});
  }
  return Status::ok();
}

Status inferArgReduce(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  const DataType dt = ctx.inType(0);
  if (!isFloatType(dt) && !isIntType(dt) && dt != DataType::kINT8 && dt != DataType::kUINT8)
    return ctx.error("data type %s is not supported (expected a float or integer type)",
                     dataTypeName(dt));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", 0), rank));
  const int64_t keepdims = ctx.attrs().getInt("keepdims", 1);
  Shape out;
  for (int64_t i = 0; i < rank; ++i) {
    if (i != axis) {
      out.push_back(in[static_cast<size_t>(i)]);
    } else if (keepdims) {
      out.push_back(DimExpr(1));
    }
  }
  const DimExpr& d = in[static_cast<size_t>(axis)];
  if (d.isConst() && d.constValue() == 0)
    return ctx.error("cannot take the arg-max/min over axis %lld of size 0 (shape %s)",
                     static_cast<long long>(axis), shapeToString(in).c_str());
  ctx.setOutput(0, DataType::kINT64, out);
  return Status::ok();
}

}  // namespace

void registerReduceShapeFns(ShapeFnTable& t) {
  for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax,
                    OpKind::kReduceMin, OpKind::kReduceProd, OpKind::kReduceL1, OpKind::kReduceL2,
                    OpKind::kReduceSumSquare, OpKind::kReduceLogSum, OpKind::kReduceLogSumExp}) {
    t[static_cast<size_t>(op)] = &inferReduce;
  }
  t[static_cast<size_t>(OpKind::kArgMax)] = &inferArgReduce;
  t[static_cast<size_t>(OpKind::kArgMin)] = &inferArgReduce;
}

}  // namespace kiln::ir
