// Shape functions of the ops whose output shapes depend on input data: NonZero, Compress,
// Unique, NonMaxSuppression (hasDataDependentShape in op.h).
//
// When the inputs that decide the output size are constants (build time, or run time, where the
// executor binds the node's input data as constants), the function runs the op's selection
// algorithm (ir/data_dependent.h, shared with the CPU kernels) and gives the exact shape. Otherwise
// the data-dependent dim is a run-time symbol (InferContext::runtimeDim) and every other dim is
// exact. Unique's Y, indices and counts share one symbol: they have the same count.
#include <string>

#include "ir/data_dependent.h"
#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

Status expectOutputs(const InferContext& ctx, size_t minOutputs, size_t maxOutputs) {
  if (ctx.numOutputs() < minOutputs || ctx.numOutputs() > maxOutputs) {
    if (minOutputs == maxOutputs)
      return ctx.error("expects %zu output(s), got %zu", minOutputs, ctx.numOutputs());
    return ctx.error("expects %zu to %zu outputs, got %zu", minOutputs, maxOutputs,
                     ctx.numOutputs());
  }
  return Status::ok();
}

// The optional `axis` attribute normalized against `rank`; nullopt when absent.
StatusOr<std::optional<int64_t>> optionalAxis(const InferContext& ctx, int64_t rank) {
  if (!ctx.attrs().has("axis")) return std::optional<int64_t>{};
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", 0), rank));
  return std::optional<int64_t>{axis};
}

// --- NonZero -------------------------------------------------------------------------------------

// (X) -> int64 [rank(X), nnz]; a scalar counts as a 1-element vector ([1, nnz], as onnxruntime).
Status inferNonZero(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(expectOutputs(ctx, 1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesAll, "X"));
  const DimExpr rows(std::max<int64_t>(ctx.inRank(0), 1));
  if (const TensorData* x = ctx.inConstant(0)) {
    const int64_t nnz = datadep::countNonZero(x->dtype(), x->data(), x->numel());
    ctx.setOutput(0, DataType::kINT64, {rows, DimExpr(nnz)});
  } else {
    ctx.setOutput(0, DataType::kINT64, {rows, ctx.runtimeDim(0, 1)});
  }
  return Status::ok();
}

// --- Compress ------------------------------------------------------------------------------------

// (input, condition) axis: the slices along `axis` (the elements of the flattened input when
// absent) whose condition entry is true; entries past the axis length are ignored.
Status inferCompress(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(expectOutputs(ctx, 1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesBool, "condition"));
  if (ctx.inRank(1) != 1)
    return ctx.error("condition must be 1-D, got shape %s", shapeToString(ctx.inShape(1)).c_str());
  const Shape& in = ctx.inShape(0);
  KILN_ASSIGN_OR_RETURN(std::optional<int64_t> axis, optionalAxis(ctx, ctx.inRank(0)));
  const DimExpr axisLen = axis ? in[static_cast<size_t>(*axis)] : shapeVolume(in);
  DimExpr kept = ctx.runtimeDim(0, axis ? static_cast<size_t>(*axis) : 0);
  if (const TensorData* cond = ctx.inConstant(1); cond && axisLen.isConst())
    kept = DimExpr(datadep::countKept(cond->data(), cond->numel(), axisLen.constValue()));
  Shape out = axis ? in : Shape{};
  if (axis)
    out[static_cast<size_t>(*axis)] = kept;
  else
    out.push_back(kept);
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

// --- Unique --------------------------------------------------------------------------------------

// (X) sorted axis -> Y (X's type: the unique slices along `axis`, or unique elements of the
// flattened X), indices [U], inverse_indices [X.shape[axis] or numel(X)], counts [U]; int64.
Status inferUnique(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(expectOutputs(ctx, 1, 4));
  if (!datadep::uniqueSupportsType(ctx.inType(0)))
    return ctx.error("input 0 (X) has type %s; expected a number or bool type",
                     dataTypeName(ctx.inType(0)));
  const int64_t sorted = ctx.attrs().getInt("sorted", 1);
  if (sorted != 0 && sorted != 1)
    return ctx.error("sorted must be 0 or 1, got %lld", static_cast<long long>(sorted));
  const Shape& x = ctx.inShape(0);
  KILN_ASSIGN_OR_RETURN(std::optional<int64_t> axis, optionalAxis(ctx, ctx.inRank(0)));
  const size_t a = axis ? static_cast<size_t>(*axis) : 0;
  DimExpr u = ctx.runtimeDim(0, a);
  if (const TensorData* c = ctx.inConstant(0)) {
    const std::vector<int64_t>& d = c->dims();
    int64_t outer = 1, n = c->numel(), inner = 1;
    if (axis) {
      n = d[a];
      for (size_t k = 0; k < a; ++k) outer *= d[k];
      for (size_t k = a + 1; k < d.size(); ++k) inner *= d[k];
    }
    u = DimExpr(static_cast<int64_t>(
        datadep::uniqueSlices(c->dtype(), c->data(), outer, n, inner, sorted != 0).first.size()));
  }
  Shape y = axis ? x : Shape{};
  if (axis)
    y[a] = u;
  else
    y.push_back(u);
  ctx.setOutput(0, ctx.inType(0), std::move(y));
  if (ctx.numOutputs() > 1) ctx.setOutput(1, DataType::kINT64, {u});
  if (ctx.numOutputs() > 2) ctx.setOutput(2, DataType::kINT64, {axis ? x[a] : shapeVolume(x)});
  if (ctx.numOutputs() > 3) ctx.setOutput(3, DataType::kINT64, {u});
  return Status::ok();
}

// --- NonMaxSuppression ---------------------------------------------------------------------------

// Checks an optional scalar input (a tensor of at most one element; empty means absent).
Status checkScalarInput(const InferContext& ctx, size_t i, uint32_t types, const char* what) {
  if (!ctx.hasInput(i)) return Status::ok();
  KILN_RETURN_IF_ERROR(checkType(ctx, i, types, what));
  const DimExpr n = shapeVolume(ctx.inShape(i));
  if (ctx.inRank(i) > 1 || (n.isConst() && n.constValue() > 1))
    return ctx.error("input %zu (%s) must be a scalar or a 1-element tensor, got shape %s", i, what,
                     shapeToString(ctx.inShape(i)).c_str());
  return Status::ok();
}

// (boxes [B, N, 4], scores [B, C, N], max_output_boxes_per_class?, iou_threshold?,
// score_threshold?) center_point_box -> int64 [num_selected, 3].
Status inferNonMaxSuppression(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 5));
  KILN_RETURN_IF_ERROR(expectOutputs(ctx, 1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, typeBit(DataType::kFLOAT), "boxes"));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, typeBit(DataType::kFLOAT), "scores"));
  const Shape& boxes = ctx.inShape(0);
  const Shape& scores = ctx.inShape(1);
  if (boxes.size() != 3 || !(boxes[2].isConst() && boxes[2].constValue() == 4))
    return ctx.error("boxes must have shape [num_batches, spatial_dimension, 4], got %s",
                     shapeToString(boxes).c_str());
  if (scores.size() != 3)
    return ctx.error("scores must have shape [num_batches, num_classes, spatial_dimension], got %s",
                     shapeToString(scores).c_str());
  auto differ = [](const DimExpr& p, const DimExpr& q) {
    return p.isConst() && q.isConst() && p.constValue() != q.constValue();
  };
  if (differ(boxes[0], scores[0]) || differ(boxes[1], scores[2]))
    return ctx.error("boxes %s and scores %s disagree in num_batches or spatial_dimension",
                     shapeToString(boxes).c_str(), shapeToString(scores).c_str());
  KILN_RETURN_IF_ERROR(checkScalarInput(ctx, 2, kTypesSigned32_64, "max_output_boxes_per_class"));
  KILN_RETURN_IF_ERROR(checkScalarInput(ctx, 3, typeBit(DataType::kFLOAT), "iou_threshold"));
  KILN_RETURN_IF_ERROR(checkScalarInput(ctx, 4, typeBit(DataType::kFLOAT), "score_threshold"));
  const int64_t cpb = ctx.attrs().getInt("center_point_box", 0);
  if (cpb != 0 && cpb != 1)
    return ctx.error("center_point_box must be 0 or 1, got %lld", static_cast<long long>(cpb));

  bool allConstant = true;
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    allConstant = allConstant && (!ctx.hasInput(i) || ctx.inConstant(i));
  if (!allConstant) {
    ctx.setOutput(0, DataType::kINT64, {ctx.runtimeDim(0, 0), DimExpr(3)});
    return Status::ok();
  }
  const TensorData* b = ctx.inConstant(0);
  const TensorData* s = ctx.inConstant(1);
  auto scalar = [&](size_t i) -> const TensorData* {
    const TensorData* t = ctx.hasInput(i) ? ctx.inConstant(i) : nullptr;
    return t && t->numel() == 1 ? t : nullptr;
  };
  datadep::NmsOptions opt;
  opt.centerPointBox = cpb == 1;
  if (const TensorData* t = scalar(2)) opt.maxPerClass = t->intAt(0);
  if (const TensorData* t = scalar(3)) opt.iouThreshold = static_cast<float>(t->doubleAt(0));
  if (const TensorData* t = scalar(4)) {
    opt.hasScoreThreshold = true;
    opt.scoreThreshold = static_cast<float>(t->doubleAt(0));
  }
  if (!(opt.iouThreshold >= 0.f && opt.iouThreshold <= 1.f))
    return ctx.error("iou_threshold must be in [0, 1], got %g",
                     static_cast<double>(opt.iouThreshold));
  const auto selected = datadep::nonMaxSuppression(b->as<float>(), s->as<float>(), b->dims()[0],
                                                   s->dims()[1], b->dims()[1], opt);
  ctx.setOutput(0, DataType::kINT64, {DimExpr(static_cast<int64_t>(selected.size())), DimExpr(3)});
  return Status::ok();
}

}  // namespace

void registerDataDepShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kNonZero)] = inferNonZero;
  t[static_cast<size_t>(OpKind::kCompress)] = inferCompress;
  t[static_cast<size_t>(OpKind::kUnique)] = inferUnique;
  t[static_cast<size_t>(OpKind::kNonMaxSuppression)] = inferNonMaxSuppression;
}

}  // namespace kiln::ir
