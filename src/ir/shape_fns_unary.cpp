// Shape functions for the Unary family (see ops.def).
//
// Output shape = input shape; output type = input type except IsNaN/IsInf (bool) and Cast
// (attribute "to"). Identity, Neg and Cast carry known element values through so shape
// computations stay symbolic.
#include <string>

#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"

namespace kiln::ir {
namespace {

// The element types each unary op accepts (ONNX's type constraints, restricted to Kiln's types).
uint32_t allowedTypes(OpKind op) {
  if (op == OpKind::kRelu || op == OpKind::kNeg) return kTypesFloat | kTypesSigned;
  if (op == OpKind::kShrink || op == OpKind::kClip || op == OpKind::kAbs || op == OpKind::kSign)
    return kTypesNumeric;
  if (op == OpKind::kNot) return kTypesBool;
  if (op == OpKind::kBitwiseNot) return kTypesInt;
  if (op == OpKind::kIdentity || op == OpKind::kCast) return kTypesAll;
  return kTypesFloat;  // activations and math functions
}

Status inferElementwise(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, allowedTypes(ctx.node().op), "X"));
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

Status inferCelu(InferContext& ctx) {
  if (ctx.attrs().getFloat("alpha", 1.0f) == 0.0f) return ctx.error("attribute alpha must not be 0");
  return inferElementwise(ctx);
}

Status inferGelu(InferContext& ctx) {
  const std::string approx = ctx.attrs().getString("approximate", "none");
  if (approx != "none" && approx != "tanh")
    return ctx.error("attribute approximate must be \"none\" or \"tanh\", got \"%s\"", approx.c_str());
  return inferElementwise(ctx);
}

// Clip(input, min?, max?): min and max are scalars of the input's type.
Status inferClip(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 3));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, allowedTypes(OpKind::kClip), "input"));
  for (size_t i = 1; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) continue;
    const char* what = i == 1 ? "min" : "max";
    if (ctx.inType(i) != ctx.inType(0))
      return ctx.error("input %zu (%s) must have the input's type %s, got %s", i, what,
                       dataTypeName(ctx.inType(0)), dataTypeName(ctx.inType(i)));
    DimExpr n = shapeVolume(ctx.inShape(i));
    if (ctx.inRank(i) > 1 || (n.isConst() && n.constValue() != 1))
      return ctx.error("input %zu (%s) must be a scalar, got shape %s", i, what,
                       shapeToString(ctx.inShape(i)).c_str());
  }
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

Status inferIsNaN(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, "X"));
  ctx.setOutput(0, DataType::kBOOL, ctx.inShape(0));
  return Status::ok();
}

Status inferIdentity(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(inferElementwise(ctx));
  if (!typeInSet(ctx.inType(0), kTypesInt | kTypesBool)) return Status::ok();
  if (std::optional<std::vector<DimExpr>> v = knownValues(ctx, 0)) ctx.setOutputValue(0, std::move(*v));
  return Status::ok();
}

// Not carries constant values (conditions computed from dims).
Status inferNot(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(inferElementwise(ctx));
  std::optional<std::vector<DimExpr>> v = knownValues(ctx, 0);
  if (!v) return Status::ok();
  std::vector<DimExpr> out;
  for (const DimExpr& e : *v) {
    if (!e.isConst()) return Status::ok();
    out.emplace_back(e.constValue() != 0 ? 0 : 1);
  }
  ctx.setOutputValue(0, std::move(out));
  return Status::ok();
}

Status inferNeg(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(inferElementwise(ctx));
  DataType t = ctx.inType(0);
  if (t != DataType::kINT64 && t != DataType::kINT32) return Status::ok();
  if (std::optional<std::vector<DimExpr>> v = knownValues(ctx, 0)) {
    std::vector<DimExpr> out;
    for (const DimExpr& e : *v) out.push_back(DimExpr(0) - e);
    ctx.setOutputValue(0, std::move(out));
  }
  return Status::ok();
}

bool isValidDataType(int64_t v) { return v >= 0 && v <= kNumDataTypes && v != 6; }

// Cast(input) to=<Kiln DataType as int>. Values of int/bool inputs carry over to int32/int64
// outputs (a shape value cast between int32 and int64 keeps its value); constants also to bool.
Status inferCast(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  if (!ctx.attrs().has("to")) return ctx.error("attribute 'to' (the target data type) is required");
  const int64_t to = ctx.attrs().getInt("to", -1);
  if (!isValidDataType(to))
    return ctx.error("attribute to=%lld is not a Kiln data type", static_cast<long long>(to));
  const DataType outType = static_cast<DataType>(to);
  // round_mode (ONNX opset 24+) rounds to float8e8m0; saturate applies to float8 targets.
  const std::string roundMode = ctx.attrs().getString("round_mode", "up");
  if (roundMode != "up" && roundMode != "down" && roundMode != "nearest")
    return ctx.error("round_mode '%s' is not one of 'up', 'down', 'nearest'", roundMode.c_str());
  ctx.setOutput(0, outType, ctx.inShape(0));
  if (!typeInSet(ctx.inType(0), kTypesInt | kTypesBool)) return Status::ok();
  std::optional<std::vector<DimExpr>> v = knownValues(ctx, 0);
  if (!v) return Status::ok();
  if (outType == DataType::kINT64 || outType == DataType::kINT32) {
    ctx.setOutputValue(0, std::move(*v));
  } else if (outType == DataType::kBOOL) {
    std::vector<DimExpr> out;
    for (const DimExpr& e : *v) {
      if (!e.isConst()) return Status::ok();
      out.emplace_back(e.constValue() != 0 ? 1 : 0);
    }
    ctx.setOutputValue(0, std::move(out));
  } else if (typeInSet(outType, kTypesFloat) && ctx.inType(0) != DataType::kBOOL) {
    // Integer values cast to a float type stay known while every constant one is an integer
    // the type holds exactly (|v| <= 2^mantissa bits), so a float Range(0, Cast(n), 1) (the
    // expanded window functions) sizes from n. Symbolic values are checked again at run time.
    const int mant = outType == DataType::kDOUBLE  ? 53
                     : outType == DataType::kFLOAT ? 24
                     : outType == DataType::kHALF  ? 11
                                                   : 8;
    const int64_t limit = int64_t{1} << mant;
    for (const DimExpr& e : *v)
      if (e.isConst() && (e.constValue() > limit || e.constValue() < -limit)) return Status::ok();
    ctx.setOutputValue(0, std::move(*v));
  }
  return Status::ok();
}

}  // namespace

void registerUnaryShapeFns(ShapeFnTable& t) {
  auto set = [&t](OpKind k, ShapeFn fn) { t[static_cast<size_t>(k)] = fn; };
  for (OpKind k : {OpKind::kRelu, OpKind::kLeakyRelu, OpKind::kElu, OpKind::kSelu,
                   OpKind::kSigmoid, OpKind::kHardSigmoid, OpKind::kHardSwish, OpKind::kTanh,
                   OpKind::kSoftplus, OpKind::kSoftsign, OpKind::kMish, OpKind::kThresholdedRelu,
                   OpKind::kShrink, OpKind::kErf, OpKind::kExp, OpKind::kLog, OpKind::kSqrt,
                   OpKind::kReciprocal, OpKind::kAbs, OpKind::kSign, OpKind::kFloor,
                   OpKind::kCeil, OpKind::kRound, OpKind::kSin, OpKind::kCos, OpKind::kTan,
                   OpKind::kAsin, OpKind::kAcos, OpKind::kAtan, OpKind::kSinh, OpKind::kCosh,
                   OpKind::kAsinh, OpKind::kAcosh, OpKind::kAtanh, OpKind::kNot,
                   OpKind::kBitwiseNot})
    set(k, &inferElementwise);
  set(OpKind::kCelu, &inferCelu);
  set(OpKind::kGelu, &inferGelu);
  set(OpKind::kClip, &inferClip);
  set(OpKind::kIsNaN, &inferIsNaN);
  set(OpKind::kIsInf, &inferIsNaN);
  set(OpKind::kNeg, &inferNeg);
  set(OpKind::kNot, &inferNot);
  set(OpKind::kIdentity, &inferIdentity);
  set(OpKind::kCast, &inferCast);
}

}  // namespace kiln::ir
