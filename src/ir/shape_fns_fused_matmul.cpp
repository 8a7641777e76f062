// Shape function of FusedMatMul (see ops.def and docs/optimizer.md).
//
// FusedMatMul(A [..., M, K], B [K, N], bias? [N], Z?) activation, activation_alpha,
//   activation_beta -> Y [..., M, N] = act(A @ B + bias + Z)
// A has rank >= 2 (the matmul-epilogue-fusion pass never matches a 1-D A), B is 2-D, the bias
// is 1-D with N elements, the residual Z has exactly Y's shape (no broadcasting); all share one
// float type.
#include "ir/fused_activation.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

bool isFusedMatMulType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16 ||
         t == DataType::kDOUBLE;
}

bool constNe(const DimExpr& a, const DimExpr& b) {
  return a.isConst() && b.isConst() && a.constValue() != b.constValue();
}

Status inferFusedMatMul(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 4));
  const DataType t = ctx.inType(0);
  if (!isFusedMatMulType(t))
    return ctx.error(
        "data type %s is not supported (expected float32, float16, bfloat16 or float64)",
        dataTypeName(t));
  const bool hasBias = ctx.hasInput(2);
  for (size_t i = 1; i < (hasBias ? 3u : 2u); ++i) {
    if (ctx.inType(i) != t)
      return ctx.error("input %zu (%s) must have A's data type %s, got %s", i,
                       i == 1 ? "B" : "bias", dataTypeName(t), dataTypeName(ctx.inType(i)));
  }
  StatusOr<FusedActivationParams> act = parseFusedActivation(ctx.attrs());
  if (!act.isOk()) return ctx.error("%s", act.status().message().c_str());

  const Shape& a = ctx.inShape(0);
  const Shape& b = ctx.inShape(1);
  if (a.size() < 2)
    return ctx.error("A must have rank >= 2, got shape %s", shapeToString(a).c_str());
  if (b.size() != 2) return ctx.error("B must be 2-D, got shape %s", shapeToString(b).c_str());
  const DimExpr& ka = a.back();
  const DimExpr& kb = b[0];
  if (constNe(ka, kb))
    return ctx.error("inner dimensions do not match: A %s has K=%lld but B %s has K=%lld",
                     shapeToString(a).c_str(), static_cast<long long>(ka.constValue()),
                     shapeToString(b).c_str(), static_cast<long long>(kb.constValue()));
  const DimExpr& n = b[1];
  if (hasBias) {
    const Shape& c = ctx.inShape(2);
    if (c.size() != 1 || constNe(c[0], n))
      return ctx.error("bias must be 1-D with N=%s elements, got shape %s", n.toString().c_str(),
                       shapeToString(c).c_str());
  }
  Shape out(a.begin(), a.end() - 1);
  out.push_back(n);
  if (ctx.hasInput(3)) {
    if (ctx.inType(3) != t)
      return ctx.error("residual Z must have the output's data type %s, got %s", dataTypeName(t),
                       dataTypeName(ctx.inType(3)));
    const Shape& z = ctx.inShape(3);
    bool same = z.size() == out.size();
    // Symbolic dims that may still agree are decided at run time, when both are constants.
    for (size_t i = 0; same && i < z.size(); ++i) same = !constNe(z[i], out[i]);
    if (!same)
      return ctx.error(
          "residual Z must have exactly the output's shape %s (no broadcasting), got %s",
          shapeToString(out).c_str(), shapeToString(z).c_str());
  }
  ctx.setOutput(0, t, std::move(out));
  return Status::ok();
}

}  // namespace

void registerFusedMatMulShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kFusedMatMul)] = &inferFusedMatMul;
}

}  // namespace kiln::ir
