// Shape function of FusedAttention (see ops.def, src/ir/fused_attention.h and
// docs/optimizer.md, attention-layout).
//
// FusedAttention(Q, K, V, attn_mask?) q_layout k_layout v_layout y_layout q_num_heads
//   kv_num_heads scale is_causal y_rank -> Y
// Q/K/V each a buffer in its layout (BHSD 4-D; BSHD/SBHD 3-D with H*D last or 4-D) of one float
// type; logical Q [B, Hq, Sq, D], K [B, Hkv, Skv, D], V [B, Hkv, Skv, Dv] with Hq a multiple of
// Hkv. Y: logical [B, Hq, Sq, Dv] in y_layout with rank y_rank. attn_mask: bool or float, rank
// 2..4, broadcast right-aligned to [B, Hq, Sq, Skv] (its last dim at most Skv).
#include "ir/fused_attention.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

bool isAttnFloat(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16 ||
         t == DataType::kDOUBLE;
}

bool constNe(const DimExpr& a, const DimExpr& b) {
  return a.isConst() && b.isConst() && a.constValue() != b.constValue();
}

// Logical [B, H, S, D] of a buffer shape (symbolic dims allowed).
struct LogicalDims {
  DimExpr b, h, s, d;
};

StatusOr<AttnLayout> layoutAttr(const InferContext& ctx, const char* name) {
  if (!ctx.attrs().has(name))
    return ctx.error("the %s attribute is required (\"BHSD\", \"BSHD\" or \"SBHD\")", name);
  const std::string s = ctx.attrs().getString(name, "");
  std::optional<AttnLayout> l = parseAttnLayout(s);
  if (!l)
    return ctx.error("%s must be \"BHSD\", \"BSHD\" or \"SBHD\", got \"%s\"", name, s.c_str());
  return *l;
}

StatusOr<LogicalDims> logicalDims(const InferContext& ctx, size_t i, const char* what,
                                  AttnLayout layout, int64_t heads) {
  const Shape& sh = ctx.inShape(i);
  const size_t rank = sh.size();
  if (layout == AttnLayout::kBHSD ? rank != 4 : (rank != 3 && rank != 4))
    return ctx.error("%s in layout %s must be %s, got shape %s", what, attnLayoutName(layout),
                     layout == AttnLayout::kBHSD ? "4-D" : "3-D or 4-D", shapeToString(sh).c_str());
  LogicalDims o;
  o.b = sh[static_cast<size_t>(attnBatchAxis(layout))];
  o.s = sh[static_cast<size_t>(attnSeqAxis(layout))];
  if (layout == AttnLayout::kBHSD) {
    o.h = sh[1], o.d = sh[3];
  } else if (rank == 4) {
    o.h = sh[2], o.d = sh[3];
  } else {
    if (sh[2].isConst() && sh[2].constValue() % heads != 0)
      return ctx.error("%s %s (layout %s): its last dim %lld is not divisible by %lld heads", what,
                       shapeToString(sh).c_str(), attnLayoutName(layout),
                       static_cast<long long>(sh[2].constValue()), static_cast<long long>(heads));
    o.h = heads, o.d = floorDiv(sh[2], DimExpr(heads));
  }
  if (constNe(o.h, DimExpr(heads)))
    return ctx.error("%s %s (layout %s) has %s heads, expected %lld", what,
                     shapeToString(sh).c_str(), attnLayoutName(layout), o.h.toString().c_str(),
                     static_cast<long long>(heads));
  return o;
}

Status inferFusedAttention(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 4));
  if (ctx.numOutputs() != 1) return ctx.error("has one output (Y), got %zu", ctx.numOutputs());
  const DataType t = ctx.inType(0);
  if (!isAttnFloat(t))
    return ctx.error("Q has data type %s; expected float32, float16, bfloat16 or float64",
                     dataTypeName(t));
  for (size_t i = 1; i < 3; ++i)
    if (ctx.inType(i) != t)
      return ctx.error("%s must have Q's data type %s, got %s", i == 1 ? "K" : "V", dataTypeName(t),
                       dataTypeName(ctx.inType(i)));
  KILN_ASSIGN_OR_RETURN(AttnLayout ql, layoutAttr(ctx, "q_layout"));
  KILN_ASSIGN_OR_RETURN(AttnLayout kl, layoutAttr(ctx, "k_layout"));
  KILN_ASSIGN_OR_RETURN(AttnLayout vl, layoutAttr(ctx, "v_layout"));
  KILN_ASSIGN_OR_RETURN(AttnLayout yl, layoutAttr(ctx, "y_layout"));
  const int64_t hq = ctx.attrs().getInt("q_num_heads", 0);
  const int64_t hkv = ctx.attrs().getInt("kv_num_heads", 0);
  if (hq <= 0 || hkv <= 0)
    return ctx.error("needs positive q_num_heads and kv_num_heads attributes, got %lld and %lld",
                     static_cast<long long>(hq), static_cast<long long>(hkv));
  if (hq % hkv != 0)
    return ctx.error("q_num_heads (%lld) must be a multiple of kv_num_heads (%lld)",
                     static_cast<long long>(hq), static_cast<long long>(hkv));
  if (!ctx.attrs().has("scale")) return ctx.error("the scale attribute is required");
  const int64_t causal = ctx.attrs().getInt("is_causal", 0);
  if (causal != 0 && causal != 1)
    return ctx.error("is_causal must be 0 or 1, got %lld", static_cast<long long>(causal));
  if (!ctx.attrs().has("y_rank")) return ctx.error("the y_rank attribute (3 or 4) is required");
  const int64_t yRank = ctx.attrs().getInt("y_rank", 0);
  if (yRank != 3 && yRank != 4)
    return ctx.error("y_rank must be 3 or 4, got %lld", static_cast<long long>(yRank));
  if (yl == AttnLayout::kBHSD && yRank != 4)
    return ctx.error("y_layout BHSD needs y_rank 4, got %lld", static_cast<long long>(yRank));

  KILN_ASSIGN_OR_RETURN(LogicalDims q, logicalDims(ctx, 0, "Q", ql, hq));
  KILN_ASSIGN_OR_RETURN(LogicalDims k, logicalDims(ctx, 1, "K", kl, hkv));
  KILN_ASSIGN_OR_RETURN(LogicalDims v, logicalDims(ctx, 2, "V", vl, hkv));
  const std::string shapes = "Q " + shapeToString(ctx.inShape(0)) + " (" + attnLayoutName(ql) +
                             "), K " + shapeToString(ctx.inShape(1)) + " (" + attnLayoutName(kl) +
                             "), V " + shapeToString(ctx.inShape(2)) + " (" + attnLayoutName(vl) +
                             ")";
  if (constNe(k.b, q.b) || constNe(v.b, q.b))
    return ctx.error("Q, K and V must have the same batch size: %s", shapes.c_str());
  if (constNe(k.d, q.d))
    return ctx.error("Q and K must have the same head size: %s", shapes.c_str());
  if (constNe(v.s, k.s))
    return ctx.error("K and V must have the same sequence length: %s", shapes.c_str());

  if (ctx.hasInput(3)) {
    const DataType mt = ctx.inType(3);
    if (mt != DataType::kBOOL && !isAttnFloat(mt))
      return ctx.error("attn_mask has data type %s; expected bool or a float type",
                       dataTypeName(mt));
    const Shape& m = ctx.inShape(3);
    if (m.size() < 2 || m.size() > 4)
      return ctx.error("attn_mask must have rank 2 to 4, got shape %s", shapeToString(m).c_str());
    const DimExpr want[3] = {q.b, DimExpr(hq), q.s};
    for (size_t i = 0; i + 1 < m.size(); ++i) {
      const DimExpr& w = want[3 - (m.size() - 1) + i];
      if (m[i].isConst() && m[i].constValue() != 1 && constNe(m[i], w))
        return ctx.error(
            "attn_mask %s cannot be broadcast to [B, Hq, Sq, Skv] = [%s, %lld, %s, %s]",
            shapeToString(m).c_str(), q.b.toString().c_str(), static_cast<long long>(hq),
            q.s.toString().c_str(), k.s.toString().c_str());
    }
    if (m.back().isConst() && k.s.isConst() && m.back().constValue() > k.s.constValue())
      return ctx.error("attn_mask %s is longer than the %lld keys", shapeToString(m).c_str(),
                       static_cast<long long>(k.s.constValue()));
  }

  const DimExpr hqd(hq);
  Shape out;
  switch (yl) {
    case AttnLayout::kBHSD: out = {q.b, hqd, q.s, v.d}; break;
    case AttnLayout::kBSHD:
      out = yRank == 3 ? Shape{q.b, q.s, hqd * v.d} : Shape{q.b, q.s, hqd, v.d};
      break;
    case AttnLayout::kSBHD:
      out = yRank == 3 ? Shape{q.s, q.b, hqd * v.d} : Shape{q.s, q.b, hqd, v.d};
      break;
  }
  ctx.setOutput(0, t, std::move(out));
  return Status::ok();
}

}  // namespace

void registerFusedAttentionShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kFusedAttention)] = &inferFusedAttention;
}

}  // namespace kiln::ir
