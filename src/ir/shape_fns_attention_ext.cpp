// Shape functions for the newer sequence-model ops (see ops.def): LinearAttention (opset 27),
// CausalConvWithState (opset 27) and TensorScatter (opset 24).
#include <string>

#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

// Dim `d` of input i must equal `want` when both are constants.
Status checkDim(const InferContext& ctx, size_t i, size_t d, const DimExpr& want, const char* what,
                const char* dimName) {
  const DimExpr& got = ctx.inShape(i)[d];
  if (constNe(got, want))
    return ctx.error("%s has %s %s (shape %s); expected %s", what, dimName, got.toString().c_str(),
                     shapeToString(ctx.inShape(i)).c_str(), want.toString().c_str());
  return Status::ok();
}

// Last dim of input i must be a multiple of `heads` when constant.
Status checkDivisible(const InferContext& ctx, size_t i, int64_t heads, const char* what) {
  const DimExpr& d = ctx.inShape(i).back();
  if (d.isConst() && (d.constValue() % heads != 0 || d.constValue() == 0))
    return ctx.error("%s last dimension %lld is not a positive multiple of the head count %lld",
                     what, ll(d.constValue()), ll(heads));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// LinearAttention: Q (B,T,Hq*dk), K (B,T,Hkv*dk), V (B,T,Hkv*dv), past_state (B,Hkv,dk,dv),
// decay (B,T,Hkv) or (B,T,Hkv*dk), beta (B,T,Hkv) or (B,T,1), erase_gate (B,T,Hkv*dk).
// Outputs: (B,T,Hq*dv) in Q's type; present_state (B,Hkv,dk,dv) in past_state's type (Q's when
// absent).
Status inferLinearAttention(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 7));
  if (ctx.numOutputs() < 1 || ctx.numOutputs() > 2)
    return ctx.error("has 1 or 2 outputs (output, present_state), got %zu", ctx.numOutputs());
  const Attributes& a = ctx.attrs();
  if (!a.has("q_num_heads") || !a.has("kv_num_heads"))
    return ctx.error("attributes q_num_heads and kv_num_heads are required");
  const int64_t hq = a.getInt("q_num_heads", 0);
  const int64_t hkv = a.getInt("kv_num_heads", 0);
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0)
    return ctx.error("q_num_heads (%lld) must be a positive multiple of kv_num_heads (%lld)",
                     ll(hq), ll(hkv));
  const std::string rule = a.getString("update_rule", "gated_delta");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta")
    return ctx.error("update_rule '%s' is not one of linear, gated, delta, gated_delta",
                     rule.c_str());
  const bool gating = rule == "gated" || rule == "gated_delta";
  const bool delta = rule == "delta" || rule == "gated_delta";
  if (gating != ctx.hasInput(4))
    return ctx.error("update_rule '%s' %s the decay input", rule.c_str(),
                     gating ? "requires" : "forbids");
  if (delta != ctx.hasInput(5))
    return ctx.error("update_rule '%s' %s the beta input", rule.c_str(),
                     delta ? "requires" : "forbids");
  if (ctx.hasInput(6) && !delta)
    return ctx.error("update_rule '%s' forbids the erase_gate input", rule.c_str());

  static const char* const kNames[] = {"query", "key",  "value",     "past_state",
                                       "decay", "beta", "erase_gate"};
  for (size_t i = 0; i < ctx.numInputs() && i < 7; ++i) {
    if (!ctx.hasInput(i)) continue;
    KILN_RETURN_IF_ERROR(checkFloat(ctx, i, kNames[i]));
    KILN_RETURN_IF_ERROR(checkRank(ctx, i, kNames[i], i == 3 ? 4 : 3));
  }
  const DataType t = ctx.inType(0);
  if (ctx.inType(1) != t || ctx.inType(2) != t)
    return ctx.error("query, key and value must have one data type, got %s, %s, %s",
                     dataTypeName(t), dataTypeName(ctx.inType(1)), dataTypeName(ctx.inType(2)));
  KILN_RETURN_IF_ERROR(checkDivisible(ctx, 0, hq, "query"));
  KILN_RETURN_IF_ERROR(checkDivisible(ctx, 1, hkv, "key"));
  KILN_RETURN_IF_ERROR(checkDivisible(ctx, 2, hkv, "value"));
  const Shape& q = ctx.inShape(0);
  const DimExpr b = q[0], seq = q[1];
  const DimExpr dk = floorDiv(q[2], DimExpr(hq));
  const DimExpr dv = floorDiv(ctx.inShape(2)[2], DimExpr(hkv));
  for (size_t i = 1; i < 7 && i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i) || i == 3) continue;
    KILN_RETURN_IF_ERROR(checkDim(ctx, i, 0, b, kNames[i], "batch size"));
    KILN_RETURN_IF_ERROR(checkDim(ctx, i, 1, seq, kNames[i], "sequence length"));
  }
  KILN_RETURN_IF_ERROR(
      checkDim(ctx, 1, 2, DimExpr(hkv) * dk, "key", "last dimension (kv_num_heads * d_k)"));
  if (ctx.hasInput(3)) {
    KILN_RETURN_IF_ERROR(checkDim(ctx, 3, 0, b, "past_state", "batch size"));
    KILN_RETURN_IF_ERROR(checkDim(ctx, 3, 1, DimExpr(hkv), "past_state", "head count"));
    KILN_RETURN_IF_ERROR(checkDim(ctx, 3, 2, dk, "past_state", "key head size"));
    KILN_RETURN_IF_ERROR(checkDim(ctx, 3, 3, dv, "past_state", "value head size"));
  }
  if (ctx.hasInput(4)) {
    const DimExpr& d = ctx.inShape(4)[2];
    const DimExpr full = DimExpr(hkv) * dk;
    if (d.isConst() && d.constValue() != hkv && constNe(d, full))
      return ctx.error(
          "decay last dimension %lld must be kv_num_heads (%lld) or kv_num_heads * d_k (%s)",
          ll(d.constValue()), ll(hkv), full.toString().c_str());
  }
  if (ctx.hasInput(5)) {
    const DimExpr& d = ctx.inShape(5)[2];
    if (d.isConst() && d.constValue() != hkv && d.constValue() != 1)
      return ctx.error("beta last dimension %lld must be kv_num_heads (%lld) or 1",
                       ll(d.constValue()), ll(hkv));
  }
  if (ctx.hasInput(6))
    KILN_RETURN_IF_ERROR(checkDim(ctx, 6, 2, DimExpr(hkv) * dk, "erase_gate",
                                  "last dimension (kv_num_heads * d_k)"));

  ctx.setOutput(0, t, {b, seq, DimExpr(hq) * dv});
  if (ctx.numOutputs() > 1)
    ctx.setOutput(1, ctx.hasInput(3) ? ctx.inType(3) : t, {b, DimExpr(hkv), dk, dv});
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// CausalConvWithState: input (B,C,L), weight (C,1,k), bias (C), past_state (B,C,k-1) ->
// output (B,C,L), present_state (B,C,k-1).
Status inferCausalConvWithState(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 4));
  if (ctx.numOutputs() < 1 || ctx.numOutputs() > 2)
    return ctx.error("has 1 or 2 outputs (output, present_state), got %zu", ctx.numOutputs());
  const std::string act = ctx.attrs().getString("activation", "none");
  if (act != "none" && act != "silu" && act != "swish")
    return ctx.error("activation '%s' is not one of none, silu, swish", act.c_str());
  static const char* const kNames[] = {"input", "weight", "bias", "past_state"};
  const DataType t = ctx.inType(0);
  for (size_t i = 0; i < ctx.numInputs() && i < 4; ++i) {
    if (!ctx.hasInput(i)) continue;
    KILN_RETURN_IF_ERROR(checkFloat(ctx, i, kNames[i]));
    if (ctx.inType(i) != t)
      return ctx.error("%s has data type %s; expected the input's %s", kNames[i],
                       dataTypeName(ctx.inType(i)), dataTypeName(t));
    KILN_RETURN_IF_ERROR(checkRank(ctx, i, kNames[i], i == 2 ? 1 : 3));
  }
  const Shape& x = ctx.inShape(0);
  const Shape& w = ctx.inShape(1);
  KILN_RETURN_IF_ERROR(checkDim(ctx, 1, 0, x[1], "weight", "output channels"));
  KILN_RETURN_IF_ERROR(checkDim(ctx, 1, 1, DimExpr(1), "weight", "input channels per group"));
  if (w[2].isConst() && w[2].constValue() < 1)
    return ctx.error("weight has kernel size %lld; expected at least 1", ll(w[2].constValue()));
  const DimExpr state = w[2] - DimExpr(1);
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(checkDim(ctx, 2, 0, x[1], "bias", "size"));
  if (ctx.hasInput(3)) {
    KILN_RETURN_IF_ERROR(checkDim(ctx, 3, 0, x[0], "past_state", "batch size"));
    KILN_RETURN_IF_ERROR(checkDim(ctx, 3, 1, x[1], "past_state", "channel count"));
    KILN_RETURN_IF_ERROR(checkDim(ctx, 3, 2, state, "past_state", "length (kernel size - 1)"));
  }
  ctx.setOutput(0, t, x);
  if (ctx.numOutputs() > 1) ctx.setOutput(1, t, {x[0], x[1], state});
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// TensorScatter: present_cache has past_cache's shape and type; update differs only along axis.
Status inferTensorScatter(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 3));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  const std::string mode = ctx.attrs().getString("mode", "linear");
  if (mode != "linear" && mode != "circular")
    return ctx.error("mode '%s' is not one of linear, circular", mode.c_str());
  const Shape& past = ctx.inShape(0);
  const Shape& upd = ctx.inShape(1);
  const int64_t rank = ctx.inRank(0);
  if (rank < 2)
    return ctx.error("past_cache must have rank >= 2, got shape %s", shapeToString(past).c_str());
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", -2), rank));
  if (axis == 0) return ctx.error("axis must not be 0 (the batch dimension)");
  if (ctx.inType(1) != ctx.inType(0))
    return ctx.error("update has data type %s; expected past_cache's %s",
                     dataTypeName(ctx.inType(1)), dataTypeName(ctx.inType(0)));
  if (dataTypeSize(ctx.inType(0)) == 0)
    return ctx.unsupportedError("data type %s is not supported", dataTypeName(ctx.inType(0)));
  if (ctx.inRank(1) != rank)
    return ctx.error("update has shape %s; expected rank %lld like past_cache %s",
                     shapeToString(upd).c_str(), ll(rank), shapeToString(past).c_str());
  for (int64_t d = 0; d < rank; ++d) {
    const DimExpr& u = upd[static_cast<size_t>(d)];
    const DimExpr& p = past[static_cast<size_t>(d)];
    if (d == axis ? (u.isConst() && p.isConst() && u.constValue() > p.constValue()) : constNe(u, p))
      return ctx.error("update of shape %s does not fit past_cache of shape %s (axis %lld)",
                       shapeToString(upd).c_str(), shapeToString(past).c_str(), ll(axis));
  }
  if (ctx.hasInput(2)) {
    if (ctx.inType(2) != DataType::kINT64)
      return ctx.error("write_indices has data type %s; expected int64",
                       dataTypeName(ctx.inType(2)));
    if (ctx.inRank(2) != 1)
      return ctx.error("write_indices must have rank 1, got shape %s",
                       shapeToString(ctx.inShape(2)).c_str());
    KILN_RETURN_IF_ERROR(checkDim(ctx, 2, 0, past[0], "write_indices", "size"));
  }
  ctx.setOutput(0, ctx.inType(0), past);
  return Status::ok();
}

}  // namespace

void registerAttentionExtShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kLinearAttention)] = inferLinearAttention;
  t[static_cast<size_t>(OpKind::kCausalConvWithState)] = inferCausalConvWithState;
  t[static_cast<size_t>(OpKind::kTensorScatter)] = inferTensorScatter;
}

}  // namespace kiln::ir
