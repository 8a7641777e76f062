// Shape functions for the Norm family (see ops.def).
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF || t == DataType::kBF16;
}

Status checkFloatInput(const InferContext& ctx, size_t i, const char* what) {
  if (!isFloatType(ctx.inType(i)))
    return ctx.error("%s has data type %s; expected float32, float64, float16 or bfloat16", what,
                     dataTypeName(ctx.inType(i)));
  return Status::ok();
}

// A per-channel parameter: rank 1 with C elements (checked when both are constants).
Status checkPerChannel(const InferContext& ctx, size_t i, const char* what, const DimExpr& c) {
  KILN_RETURN_IF_ERROR(checkFloatInput(ctx, i, what));
  const Shape& s = ctx.inShape(i);
  if (s.size() != 1 || (s[0].isConst() && c.isConst() && s[0].constValue() != c.constValue()))
    return ctx.error("%s must have shape [%s] (one value per channel), got %s", what, c.toString().c_str(),
                     shapeToString(s).c_str());
  return Status::ok();
}

// Inference form: Y = (X - mean) / sqrt(var + epsilon) * scale + B along channel axis 1.
Status inferBatchNormalization(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(5, 5));
  KILN_RETURN_IF_ERROR(checkFloatInput(ctx, 0, "X"));
  if (ctx.attrs().getInt("training_mode", 0) != 0)
    return ctx.unsupportedError("training_mode=1 is not supported (Kiln runs inference only)");
  if (ctx.numOutputs() != 1)
    return ctx.unsupportedError("only the inference form with 1 output is supported, the node has %zu outputs",
                                ctx.numOutputs());
  if (ctx.inRank(0) < 2)
    return ctx.error("input X must have rank >= 2 ([N, C, ...]), got shape %s", shapeToString(ctx.inShape(0)).c_str());
  const DimExpr& c = ctx.inShape(0)[1];
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 1, "scale", c));
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 2, "B", c));
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 3, "input_mean", c));
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 4, "input_var", c));
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

// ONNX TensorProto data type numbers accepted for stash_type.
StatusOr<DataType> stashType(const InferContext& ctx) {
  const int64_t st = ctx.attrs().getInt("stash_type", 1);
  switch (st) {
    case 1: return DataType::kFLOAT;
    case 10: return DataType::kHALF;
    case 11: return DataType::kDOUBLE;
    case 16: return DataType::kBF16;
    default: break;
  }
  return ctx.error("stash_type %lld is not a float type (expected 1 float, 10 float16, 11 double or 16 bfloat16)",
                   static_cast<long long>(st));
}

// Normalizes over axes [axis, rank); Scale and B broadcast to X.shape[axis:]. Optional outputs
// Mean and InvStdDev have shape X.shape[:axis] + [1] * (rank - axis) and the stash type.
Status inferLayerNormalization(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 3));
  KILN_RETURN_IF_ERROR(checkFloatInput(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(checkFloatInput(ctx, 1, "Scale"));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(checkFloatInput(ctx, 2, "B"));
  if (ctx.numOutputs() < 1 || ctx.numOutputs() > 3)
    return ctx.error("has 1 to 3 outputs (Y, Mean, InvStdDev), got %zu", ctx.numOutputs());
  const Shape& x = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", -1), rank));
  KILN_ASSIGN_OR_RETURN(DataType stash, stashType(ctx));
  const Shape normalized(x.begin() + axis, x.end());
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.hasInput(i)) continue;
    const Shape& s = ctx.inShape(i);
    bool ok = s.size() <= normalized.size();
    for (size_t k = 0; ok && k < s.size(); ++k) {
      const DimExpr& d = s[s.size() - 1 - k];
      const DimExpr& t = normalized[normalized.size() - 1 - k];
      if (d.isConst() && d.constValue() != 1 && t.isConst() && d.constValue() != t.constValue()) ok = false;
    }
    if (!ok)
      return ctx.error("%s of shape %s cannot be broadcast to the normalized shape %s (axis=%lld)",
                       i == 1 ? "Scale" : "B", shapeToString(s).c_str(), shapeToString(normalized).c_str(),
                       static_cast<long long>(axis));
  }
  ctx.setOutput(0, ctx.inType(0), x);
  Shape stats(x.begin(), x.begin() + axis);
  stats.resize(x.size(), DimExpr(1));
  for (size_t i = 1; i < ctx.numOutputs(); ++i) ctx.setOutput(i, stash, stats);
  return Status::ok();
}

// Per (n, c): normalize over the spatial dims, then scale[c] and B[c].
Status inferInstanceNormalization(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  KILN_RETURN_IF_ERROR(checkFloatInput(ctx, 0, "input"));
  if (ctx.inRank(0) < 3)
    return ctx.error("input must have rank >= 3 ([N, C, spatial...]), got shape %s",
                     shapeToString(ctx.inShape(0)).c_str());
  const DimExpr& c = ctx.inShape(0)[1];
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 1, "scale", c));
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 2, "B", c));
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

// Channels split into num_groups groups; per (n, group) normalize over the group's channels and
// the spatial dims, then per-channel scale and bias (opset 21).
Status inferGroupNormalization(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  KILN_RETURN_IF_ERROR(checkFloatInput(ctx, 0, "X"));
  if (ctx.inRank(0) < 2)
    return ctx.error("input X must have rank >= 2 ([N, C, ...]), got shape %s", shapeToString(ctx.inShape(0)).c_str());
  if (!ctx.attrs().has("num_groups")) return ctx.error("attribute num_groups is required");
  const int64_t groups = ctx.attrs().getInt("num_groups", 0);
  if (groups < 1) return ctx.error("num_groups must be >= 1, got %lld", static_cast<long long>(groups));
  const DimExpr& c = ctx.inShape(0)[1];
  if (c.isConst() && c.constValue() % groups != 0)
    return ctx.error("num_groups=%lld does not divide the channel count %lld", static_cast<long long>(groups),
                     static_cast<long long>(c.constValue()));
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 1, "scale", c));
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 2, "bias", c));
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

Status inferSoftmax(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkFloatInput(ctx, 0, "input"));
  KILN_RETURN_IF_ERROR(ctx.normalizeAxis(ctx.attrs().getInt("axis", -1), ctx.inRank(0)).status());
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

}  // namespace

void registerNormShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kBatchNormalization)] = &inferBatchNormalization;
  t[static_cast<size_t>(OpKind::kLayerNormalization)] = &inferLayerNormalization;
  t[static_cast<size_t>(OpKind::kInstanceNormalization)] = &inferInstanceNormalization;
  t[static_cast<size_t>(OpKind::kGroupNormalization)] = &inferGroupNormalization;
  t[static_cast<size_t>(OpKind::kSoftmax)] = &inferSoftmax;
  t[static_cast<size_t>(OpKind::kLogSoftmax)] = &inferSoftmax;
}

}  // namespace kiln::ir
