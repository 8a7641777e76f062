// Shape function of FusedConv (see ops.def and docs/optimizer.md).
//
// FusedConv(X, W, B?, Z?) with Conv's attributes plus activation/activation_alpha/activation_beta:
// Y = act(Conv(X, W) + B + Z). The output is Conv's (the Conv shape function decides it, on a
// copy of the node without Z, so every Conv check and message applies), Z must have exactly the
// output's shape and type (a residual, never broadcast), and the activation must be known.
#include "ir/fused_activation.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

Status inferFusedConv(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 4));
  Status act = parseFusedActivation(ctx.attrs()).status();
  if (!act.isOk()) return ctx.error("%s", act.message().c_str());

  const ShapeFn convFn = shapeFunctions()[static_cast<size_t>(OpKind::kConv)];
  if (!convFn) return ctx.unsupportedError("no Conv shape function to derive the output from");
  // The Conv part on a scratch copy: X, W, B? as values 0..2, the output as value 3 (the same
  // node otherwise, so messages name this FusedConv).
  const size_t numConvInputs = ctx.hasInput(2) ? 3 : 2;
  Value scratch[4];
  ShapeTable table(4);
  Node conv;
  conv.op = ctx.node().op;
  conv.name = ctx.node().name;
  conv.attrs = ctx.attrs();
  for (size_t i = 0; i < numConvInputs; ++i) {
    scratch[i].id = static_cast<int>(i);
    ValueInfo& info = table[static_cast<int>(i)];
    info.known = true;
    info.dtype = ctx.inType(i);
    info.shape = ctx.inShape(i);
    info.constant = ctx.inConstant(i);
    if (const std::vector<DimExpr>* v = ctx.inValue(i)) info.value = *v;
    conv.inputs.push_back(&scratch[i]);
  }
  scratch[3].id = 3;
  conv.outputs.push_back(&scratch[3]);
  InferContext convCtx(conv, table);
  KILN_RETURN_IF_ERROR(convFn(convCtx));
  const ValueInfo& y = table[3];
  if (!y.known)
    return internalError("%s: the Conv shape function set no output",
                         ctx.node().describe().c_str());
  ctx.setOutput(0, y.dtype, y.shape);

  if (!ctx.hasInput(3)) return Status::ok();
  if (ctx.inType(3) != y.dtype)
    return ctx.error("residual Z must have the output's data type %s, got %s",
                     dataTypeName(y.dtype), dataTypeName(ctx.inType(3)));
  const Shape& z = ctx.inShape(3);
  bool same = z.size() == y.shape.size();
  for (size_t i = 0; same && i < z.size(); ++i) {
    const DimExpr& a = z[i];
    const DimExpr& b = y.shape[i];
    // Symbolic dims that may still agree are decided at run time, when both are constants.
    if (a.isConst() && b.isConst()) same = a.constValue() == b.constValue();
  }
  if (!same)
    return ctx.error("residual Z must have exactly the output's shape %s (no broadcasting), got %s",
                     shapeToString(y.shape).c_str(), shapeToString(z).c_str());
  return Status::ok();
}

}  // namespace

void registerFusedConvShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kFusedConv)] = &inferFusedConv;
}

}  // namespace kiln::ir
