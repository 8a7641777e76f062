// Shape functions for the transformer and quantization ops (see ops.def): RMSNormalization,
// Attention, RotaryEmbedding, GridSample, QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv.
#include <string>

#include "ir/shape_inference.h"
#include "ir/window_params.h"

namespace kiln::ir {

namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF || t == DataType::kBF16;
}

// The types a quantized tensor may have (QuantizeLinear's y, DequantizeLinear's x): 8/16-bit
// integers, the sub-byte integers, float8 (not e8m0, a scale type) and float4e2m1.
bool isQuantType(DataType t) {
  switch (t) {
    case DataType::kINT8:
    case DataType::kUINT8:
    case DataType::kINT16:
    case DataType::kUINT16:
    case DataType::kINT4:
    case DataType::kUINT4:
    case DataType::kINT2:
    case DataType::kUINT2:
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP4E2M1: return true;
    default: return false;
  }
}
constexpr const char* kQuantTypeList =
    "int8, uint8, int16, uint16, int4, uint4, int2, uint2, float8e4m3fn, float8e4m3fnuz, float8e5m2, "
    "float8e5m2fnuz, float4e2m1";

bool is8Bit(DataType t) { return t == DataType::kINT8 || t == DataType::kUINT8; }

// True when both dims are constants that differ.
bool constNe(const DimExpr& a, const DimExpr& b) {
  return a.isConst() && b.isConst() && a.constValue() != b.constValue();
}

Status checkFloat(const InferContext& ctx, size_t i, const char* what) {
  if (!isFloatType(ctx.inType(i)))
    return ctx.error("%s has data type %s; expected float32, float64, float16 or bfloat16", what,
                     dataTypeName(ctx.inType(i)));
  return Status::ok();
}

Status checkRank(const InferContext& ctx, size_t i, const char* what, int64_t lo, int64_t hi) {
  const int64_t r = ctx.inRank(i);
  if (r < lo || r > hi) {
    if (lo == hi)
      return ctx.error("%s must have rank %lld, got shape %s", what, static_cast<long long>(lo),
                       shapeToString(ctx.inShape(i)).c_str());
    return ctx.error("%s must have rank %lld to %lld, got shape %s", what, static_cast<long long>(lo),
                     static_cast<long long>(hi), shapeToString(ctx.inShape(i)).c_str());
  }
  return Status::ok();
}

// A scalar or one-element tensor (per-tensor scale / zero point).
bool isScalarLike(const Shape& s) {
  if (s.empty()) return true;
  return s.size() == 1 && s[0].isConst() && s[0].constValue() == 1;
}

// ---------------------------------------------------------------------------------------------
// RMSNormalization: Y = X / sqrt(mean(X^2 over axes [axis, rank)) + epsilon) * scale, scale
// broadcast (right-aligned) to X.shape[axis:].
Status inferRMSNormalization(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 1, "scale"));
  const Shape& x = ctx.inShape(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", -1), ctx.inRank(0)));
  const int64_t st = ctx.attrs().getInt("stash_type", 1);
  if (st != 1 && st != 10 && st != 11 && st != 16)
    return ctx.error("stash_type %lld is not a float type (expected 1, 10, 11 or 16)", static_cast<long long>(st));
  const Shape normalized(x.begin() + axis, x.end());
  const Shape& s = ctx.inShape(1);
  bool ok = s.size() <= normalized.size();
  for (size_t k = 0; ok && k < s.size(); ++k) {
    const DimExpr& d = s[s.size() - 1 - k];
    if (d.isConst() && d.constValue() != 1 && constNe(d, normalized[normalized.size() - 1 - k])) ok = false;
  }
  if (!ok)
    return ctx.error("scale of shape %s cannot be broadcast to the normalized shape %s (axis=%lld)",
                     shapeToString(s).c_str(), shapeToString(normalized).c_str(), static_cast<long long>(axis));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  ctx.setOutput(0, ctx.inType(0), x);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Attention. 4-D: Q [B, Hq, Lq, D], K [B, Hkv, Lkv, D], V [B, Hkv, Lkv, Dv] -> Y [B, Hq, Lq, Dv].
// 3-D: Q [B, Lq, Hq*D], K [B, Lkv, Hkv*D], V [B, Lkv, Hkv*Dv] -> Y [B, Lq, Hq*Dv] with
// q_num_heads / kv_num_heads. past_key [B, Hkv, Lp, D] and past_value [B, Hkv, Lp, Dv] are
// concatenated in front: present_key [B, Hkv, Lp+Lkv, D], present_value [B, Hkv, Lp+Lkv, Dv];
// qk_matmul_output [B, Hq, Lq, Lp+Lkv].
Status inferAttention(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 7));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "Q"));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 1, "K"));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 2, "V"));
  if (ctx.numOutputs() < 1 || ctx.numOutputs() > 4)
    return ctx.error("has 1 to 4 outputs (Y, present_key, present_value, qk_matmul_output), got %zu",
                     ctx.numOutputs());
  KILN_RETURN_IF_ERROR(checkRank(ctx, 0, "Q", 3, 4));
  const int64_t rank = ctx.inRank(0);
  if (ctx.inRank(1) != rank || ctx.inRank(2) != rank)
    return ctx.error("Q %s, K %s and V %s must all be 3-D or all 4-D", shapeToString(ctx.inShape(0)).c_str(),
                     shapeToString(ctx.inShape(1)).c_str(), shapeToString(ctx.inShape(2)).c_str());
  const Shape& q = ctx.inShape(0);
  const Shape& k = ctx.inShape(1);
  const Shape& v = ctx.inShape(2);
  DimExpr batch = q[0], hq, hkv, lq, lkv, d, dv;
  if (rank == 4) {
    hq = q[1], lq = q[2], d = q[3];
    hkv = k[1], lkv = k[2], dv = v[3];
    if (constNe(k[3], d))
      return ctx.error("K %s and Q %s must have the same head size (last dim)", shapeToString(k).c_str(),
                       shapeToString(q).c_str());
    if (constNe(v[1], hkv) || constNe(v[2], lkv))
      return ctx.error("V %s must have K's heads and sequence length (K %s)", shapeToString(v).c_str(),
                       shapeToString(k).c_str());
  } else {
    const int64_t nq = ctx.attrs().getInt("q_num_heads", 0), nkv = ctx.attrs().getInt("kv_num_heads", 0);
    if (nq <= 0 || nkv <= 0)
      return ctx.error("3-D inputs need positive q_num_heads and kv_num_heads attributes, got %lld and %lld",
                       static_cast<long long>(nq), static_cast<long long>(nkv));
    for (size_t i = 0; i < 3; ++i) {
      const DimExpr& hidden = ctx.inShape(i)[2];
      const int64_t heads = i == 0 ? nq : nkv;
      if (hidden.isConst() && hidden.constValue() % heads != 0)
        return ctx.error("%s hidden size %lld is not divisible by %s=%lld", i == 0 ? "Q" : (i == 1 ? "K" : "V"),
                         static_cast<long long>(hidden.constValue()), i == 0 ? "q_num_heads" : "kv_num_heads",
                         static_cast<long long>(heads));
    }
    hq = nq, hkv = nkv, lq = q[1], lkv = k[1];
    d = floorDiv(q[2], hq);
    dv = floorDiv(v[2], hkv);
    if (constNe(floorDiv(k[2], hkv), d))
      return ctx.error("K %s (kv_num_heads=%lld) and Q %s (q_num_heads=%lld) must have the same head size",
                       shapeToString(k).c_str(), static_cast<long long>(nkv), shapeToString(q).c_str(),
                       static_cast<long long>(nq));
    if (constNe(v[1], lkv))
      return ctx.error("V %s must have K's sequence length (K %s)", shapeToString(v).c_str(), shapeToString(k).c_str());
  }
  if (constNe(k[0], batch) || constNe(v[0], batch))
    return ctx.error("Q %s, K %s and V %s must have the same batch size", shapeToString(q).c_str(),
                     shapeToString(k).c_str(), shapeToString(v).c_str());
  if (hq.isConst() && hkv.isConst() && (hkv.constValue() <= 0 || hq.constValue() % hkv.constValue() != 0))
    return ctx.error("the query heads (%lld) must be a multiple of the key/value heads (%lld)",
                     static_cast<long long>(hq.constValue()), static_cast<long long>(hkv.constValue()));
  if (ctx.attrs().getInt("qk_matmul_output_mode", 0) < 0 || ctx.attrs().getInt("qk_matmul_output_mode", 0) > 3)
    return ctx.error("qk_matmul_output_mode must be 0, 1, 2 or 3, got %lld",
                     static_cast<long long>(ctx.attrs().getInt("qk_matmul_output_mode", 0)));
  if (ctx.hasInput(3)) {
    const DataType mt = ctx.inType(3);
    if (mt != DataType::kBOOL && !isFloatType(mt))
      return ctx.error("attn_mask has data type %s; expected bool or the float type of Q", dataTypeName(mt));
    if (ctx.inRank(3) < 1 || ctx.inRank(3) > 4)
      return ctx.error("attn_mask must have rank 1 to 4, got shape %s", shapeToString(ctx.inShape(3)).c_str());
  }
  if (ctx.hasInput(4) != ctx.hasInput(5))
    return ctx.error("past_key and past_value must be given together");
  DimExpr total = lkv;
  if (ctx.hasInput(4)) {
    KILN_RETURN_IF_ERROR(checkRank(ctx, 4, "past_key", 4, 4));
    KILN_RETURN_IF_ERROR(checkRank(ctx, 5, "past_value", 4, 4));
    const Shape& pk = ctx.inShape(4);
    const Shape& pv = ctx.inShape(5);
    if (constNe(pk[0], batch) || constNe(pk[1], hkv) || constNe(pk[3], d))
      return ctx.error("past_key %s must be [batch, kv_num_heads, past_len, head_size] = [%s, %s, *, %s]",
                       shapeToString(pk).c_str(), batch.toString().c_str(), hkv.toString().c_str(),
                       d.toString().c_str());
    if (constNe(pv[0], batch) || constNe(pv[1], hkv) || constNe(pv[2], pk[2]) || constNe(pv[3], dv))
      return ctx.error("past_value %s must be [batch, kv_num_heads, past_len, v_head_size] = [%s, %s, %s, %s]",
                       shapeToString(pv).c_str(), batch.toString().c_str(), hkv.toString().c_str(),
                       pk[2].toString().c_str(), dv.toString().c_str());
    total = pk[2] + lkv;
  }
  if (ctx.hasInput(6)) {
    if (ctx.inType(6) != DataType::kINT64 || ctx.inRank(6) != 1)
      return ctx.error("nonpad_kv_seqlen must be a 1-D int64 tensor [batch], got %s %s",
                       dataTypeName(ctx.inType(6)), shapeToString(ctx.inShape(6)).c_str());
    if (ctx.hasInput(4))
      return ctx.error("nonpad_kv_seqlen cannot be combined with past_key/past_value");
  }
  const DataType qt = ctx.inType(0);
  if (rank == 4) {
    ctx.setOutput(0, qt, {batch, hq, lq, dv});
  } else {
    ctx.setOutput(0, qt, {batch, lq, hq * dv});
  }
  if (ctx.numOutputs() > 1) ctx.setOutput(1, ctx.inType(1), {batch, hkv, total, d});
  if (ctx.numOutputs() > 2) ctx.setOutput(2, ctx.inType(2), {batch, hkv, total, dv});
  if (ctx.numOutputs() > 3) ctx.setOutput(3, qt, {batch, hq, lq, total});
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// RotaryEmbedding: X [B, H, S, D] or [B, S, H*D] (num_heads), cos/sin [maxPos, R/2] with
// position_ids [B, S], or [B, S, R/2] without. Output = X's shape.
Status inferRotaryEmbedding(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 4));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 1, "cos_cache"));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 2, "sin_cache"));
  KILN_RETURN_IF_ERROR(checkRank(ctx, 0, "X", 3, 4));
  const bool hasPos = ctx.hasInput(3);
  const int64_t cacheRank = hasPos ? 2 : 3;
  KILN_RETURN_IF_ERROR(checkRank(ctx, 1, "cos_cache", cacheRank, cacheRank));
  KILN_RETURN_IF_ERROR(checkRank(ctx, 2, "sin_cache", cacheRank, cacheRank));
  if (!shapesEqual(ctx.inShape(1), ctx.inShape(2)) && isStatic(ctx.inShape(1)) && isStatic(ctx.inShape(2)))
    return ctx.error("cos_cache %s and sin_cache %s must have the same shape", shapeToString(ctx.inShape(1)).c_str(),
                     shapeToString(ctx.inShape(2)).c_str());
  if (hasPos) {
    const DataType pt = ctx.inType(3);
    if (pt != DataType::kINT64 && pt != DataType::kINT32)
      return ctx.error("position_ids must be int64, got %s", dataTypeName(pt));
    KILN_RETURN_IF_ERROR(checkRank(ctx, 3, "position_ids", 2, 2));
  }
  const int64_t rot = ctx.attrs().getInt("rotary_embedding_dim", 0);
  if (rot < 0 || rot % 2 != 0)
    return ctx.error("rotary_embedding_dim must be a non-negative even number, got %lld", static_cast<long long>(rot));
  const Shape& x = ctx.inShape(0);
  if (x.size() == 3) {
    const int64_t heads = ctx.attrs().getInt("num_heads", 0);
    if (heads < 0) return ctx.error("num_heads must be positive, got %lld", static_cast<long long>(heads));
    if (heads > 0 && x[2].isConst() && x[2].constValue() % heads != 0)
      return ctx.error("the hidden size %lld is not divisible by num_heads=%lld",
                       static_cast<long long>(x[2].constValue()), static_cast<long long>(heads));
  }
  ctx.setOutput(0, ctx.inType(0), x);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// GridSample: X [N, C, D1..Dr], grid [N, O1..Or, r] -> Y [N, C, O1..Or].
Status inferGridSample(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 1, "grid"));
  const Shape& x = ctx.inShape(0);
  const Shape& g = ctx.inShape(1);
  if (x.size() < 3)
    return ctx.error("X must have rank >= 3 ([N, C, spatial...]), got shape %s", shapeToString(x).c_str());
  const size_t r = x.size() - 2;
  if (g.size() != x.size() || constNe(g.back(), DimExpr(static_cast<int64_t>(r))))
    return ctx.error("grid must have shape [N, out spatial (%zu dims)..., %zu], got %s (X %s)", r, r,
                     shapeToString(g).c_str(), shapeToString(x).c_str());
  if (constNe(g[0], x[0]))
    return ctx.error("grid %s and X %s must have the same batch size", shapeToString(g).c_str(),
                     shapeToString(x).c_str());
  const std::string mode = ctx.attrs().getString("mode", "linear");
  if (mode != "linear" && mode != "nearest" && mode != "cubic")
    return ctx.error("mode '%s' is not one of linear, nearest, cubic", mode.c_str());
  const std::string pad = ctx.attrs().getString("padding_mode", "zeros");
  if (pad != "zeros" && pad != "border" && pad != "reflection")
    return ctx.error("padding_mode '%s' is not one of zeros, border, reflection", pad.c_str());
  Shape out{x[0], x[1]};
  for (size_t i = 0; i < r; ++i) out.push_back(g[i + 1]);
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Quantization parameters (scale / zero point) have one of three layouts relative to x:
//   per tensor: a scalar or one element;   per axis: 1-D with x.shape[axis] elements;
//   blocked (block_size > 0): x's rank, x's dims except dim axis = ceil(x.shape[axis] / block).
Status checkQuantParam(const InferContext& ctx, size_t i, const char* what, const Shape& x, int64_t axis,
                       int64_t block) {
  const Shape& s = ctx.inShape(i);
  if (block > 0) {
    bool ok = s.size() == x.size();
    for (size_t d = 0; ok && d < s.size(); ++d) {
      const DimExpr want = static_cast<int64_t>(d) == axis ? ceilDiv(x[d], DimExpr(block)) : x[d];
      if (constNe(s[d], want)) ok = false;
    }
    if (!ok)
      return ctx.error("%s %s does not fit blocked quantization of x %s (axis=%lld, block_size=%lld: same rank, "
                       "dim axis = ceil(x dim / block_size))",
                       what, shapeToString(s).c_str(), shapeToString(x).c_str(), static_cast<long long>(axis),
                       static_cast<long long>(block));
    return Status::ok();
  }
  if (isScalarLike(s)) return Status::ok();
  if (s.size() != 1 || x.empty() || constNe(s[0], x[static_cast<size_t>(axis)]))
    return ctx.error("%s %s must be a scalar (per tensor) or 1-D with x.shape[axis=%lld] elements (x %s)", what,
                     shapeToString(s).c_str(), static_cast<long long>(axis), shapeToString(x).c_str());
  return Status::ok();
}

// Normalizes `axis` when a per-axis or blocked parameter needs it (scalars work for any rank).
StatusOr<int64_t> quantAxis(const InferContext& ctx, size_t scaleInput) {
  const int64_t rank = ctx.inRank(0);
  const int64_t axis = ctx.attrs().getInt("axis", 1);
  if (isScalarLike(ctx.inShape(scaleInput)) && ctx.attrs().getInt("block_size", 0) <= 0) return int64_t{0};
  return ctx.normalizeAxis(axis, rank);
}

// y = saturate(round_half_even(x / y_scale) + y_zero_point).
Status inferQuantizeLinear(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 3));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "x"));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 1, "y_scale"));
  const int64_t block = ctx.attrs().getInt("block_size", 0);
  if (block < 0) return ctx.error("block_size must be >= 0, got %lld", static_cast<long long>(block));
  KILN_ASSIGN_OR_RETURN(int64_t axis, quantAxis(ctx, 1));
  const Shape& x = ctx.inShape(0);
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 1, "y_scale", x, axis, block));
  DataType out = DataType::kUINT8;
  const bool hasOutAttr = ctx.attrs().has("output_dtype") && ctx.attrs().getInt("output_dtype", 0) != 0;
  if (hasOutAttr) out = static_cast<DataType>(ctx.attrs().getInt("output_dtype", 0));
  if (ctx.hasInput(2)) {
    if (hasOutAttr && ctx.inType(2) != out)
      return ctx.error("output_dtype %s differs from y_zero_point's type %s", dataTypeName(out),
                       dataTypeName(ctx.inType(2)));
    out = ctx.inType(2);
    KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 2, "y_zero_point", x, axis, block));
  }
  if (!isQuantType(out))
    return ctx.unsupportedError("quantizing to %s is not supported (%s)", dataTypeName(out), kQuantTypeList);
  ctx.setOutput(0, out, x);
  return Status::ok();
}

// y = (x - x_zero_point) * x_scale.
Status inferDequantizeLinear(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 3));
  const DataType xt = ctx.inType(0);
  if (!isQuantType(xt) && xt != DataType::kINT32)
    return ctx.unsupportedError("dequantizing %s is not supported (%s, int32)", dataTypeName(xt),
                                kQuantTypeList);
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 1, "x_scale"));
  const int64_t block = ctx.attrs().getInt("block_size", 0);
  if (block < 0) return ctx.error("block_size must be >= 0, got %lld", static_cast<long long>(block));
  KILN_ASSIGN_OR_RETURN(int64_t axis, quantAxis(ctx, 1));
  const Shape& x = ctx.inShape(0);
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 1, "x_scale", x, axis, block));
  if (ctx.hasInput(2)) {
    if (ctx.inType(2) != xt)
      return ctx.error("x_zero_point has type %s; expected x's type %s", dataTypeName(ctx.inType(2)),
                       dataTypeName(xt));
    KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 2, "x_zero_point", x, axis, block));
  }
  DataType out = ctx.inType(1);
  if (ctx.attrs().getInt("output_dtype", 0) != 0) out = static_cast<DataType>(ctx.attrs().getInt("output_dtype", 0));
  if (!isFloatType(out)) return ctx.error("output_dtype %s is not a float type", dataTypeName(out));
  ctx.setOutput(0, out, x);
  return Status::ok();
}

Status inferDynamicQuantizeLinear(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "x"));
  if (ctx.numOutputs() != 3) return ctx.error("has 3 outputs (y, y_scale, y_zero_point), got %zu", ctx.numOutputs());
  ctx.setOutput(0, DataType::kUINT8, ctx.inShape(0));
  ctx.setOutput(1, DataType::kFLOAT, {});
  ctx.setOutput(2, DataType::kUINT8, {});
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// numpy matmul shapes: 1-D operands are promoted ([K] -> [1, K] for A, [K, 1] for B) and the
// promoted dims dropped from the result; batch dims broadcast.
StatusOr<Shape> matmulShape(const InferContext& ctx, const Shape& a, const Shape& b) {
  if (a.empty() || b.empty())
    return ctx.error("matmul operands must have rank >= 1, got %s and %s", shapeToString(a).c_str(),
                     shapeToString(b).c_str());
  const DimExpr ka = a.back(), kb = b.size() == 1 ? b[0] : b[b.size() - 2];
  if (constNe(ka, kb))
    return ctx.error("inner dimensions differ: A %s, B %s", shapeToString(a).c_str(), shapeToString(b).c_str());
  const Shape aBatch(a.begin(), a.end() - std::min<std::ptrdiff_t>(2, static_cast<std::ptrdiff_t>(a.size())));
  const Shape bBatch(b.begin(), b.end() - std::min<std::ptrdiff_t>(2, static_cast<std::ptrdiff_t>(b.size())));
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastShapes(ctx, aBatch, bBatch));
  if (a.size() >= 2) out.push_back(a[a.size() - 2]);
  if (b.size() >= 2) out.push_back(b.back());
  return out;
}

// A's zero point: scalar or per row ([M]); B's: scalar or per column ([N]).
Status checkMatmulZeroPoint(const InferContext& ctx, size_t i, const char* what, DataType want, const DimExpr& n) {
  if (!ctx.hasInput(i)) return Status::ok();
  if (ctx.inType(i) != want)
    return ctx.error("%s has type %s; expected %s", what, dataTypeName(ctx.inType(i)), dataTypeName(want));
  const Shape& s = ctx.inShape(i);
  if (isScalarLike(s)) return Status::ok();
  if (s.size() != 1 || constNe(s[0], n))
    return ctx.error("%s %s must be a scalar or 1-D with %s elements", what, shapeToString(s).c_str(),
                     n.toString().c_str());
  return Status::ok();
}

Status inferMatMulInteger(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 4));
  for (size_t i = 0; i < 2; ++i)
    if (!is8Bit(ctx.inType(i)))
      return ctx.error("%s has type %s; expected int8 or uint8", i == 0 ? "A" : "B", dataTypeName(ctx.inType(i)));
  const Shape& a = ctx.inShape(0);
  const Shape& b = ctx.inShape(1);
  KILN_ASSIGN_OR_RETURN(Shape out, matmulShape(ctx, a, b));
  KILN_RETURN_IF_ERROR(checkMatmulZeroPoint(ctx, 2, "a_zero_point", ctx.inType(0),
                                            a.size() >= 2 ? a[a.size() - 2] : DimExpr(1)));
  KILN_RETURN_IF_ERROR(checkMatmulZeroPoint(ctx, 3, "b_zero_point", ctx.inType(1),
                                            b.size() >= 2 ? b.back() : DimExpr(1)));
  ctx.setOutput(0, DataType::kINT32, std::move(out));
  return Status::ok();
}

Status checkScale(const InferContext& ctx, size_t i, const char* what) {
  KILN_RETURN_IF_ERROR(checkFloat(ctx, i, what));
  return Status::ok();
}

// QLinearMatMul: inputs a(0) a_scale(1) a_zp(2) b(3) b_scale(4) b_zp(5) y_scale(6) y_zp(7).
Status inferQLinearMatMul(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(8, 8));
  for (size_t i : {size_t{0}, size_t{3}})
    if (!is8Bit(ctx.inType(i)))
      return ctx.error("%s has type %s; expected int8 or uint8", i == 0 ? "a" : "b", dataTypeName(ctx.inType(i)));
  KILN_RETURN_IF_ERROR(checkScale(ctx, 1, "a_scale"));
  KILN_RETURN_IF_ERROR(checkScale(ctx, 4, "b_scale"));
  KILN_RETURN_IF_ERROR(checkScale(ctx, 6, "y_scale"));
  const Shape& a = ctx.inShape(0);
  const Shape& b = ctx.inShape(3);
  KILN_ASSIGN_OR_RETURN(Shape out, matmulShape(ctx, a, b));
  const DimExpr m = a.size() >= 2 ? a[a.size() - 2] : DimExpr(1), n = b.size() >= 2 ? b.back() : DimExpr(1);
  KILN_RETURN_IF_ERROR(checkMatmulZeroPoint(ctx, 2, "a_zero_point", ctx.inType(0), m));
  KILN_RETURN_IF_ERROR(checkMatmulZeroPoint(ctx, 5, "b_zero_point", ctx.inType(3), n));
  if (!is8Bit(ctx.inType(7)))
    return ctx.error("y_zero_point has type %s; expected int8 or uint8", dataTypeName(ctx.inType(7)));
  if (!isScalarLike(ctx.inShape(7)) || !isScalarLike(ctx.inShape(6)))
    return ctx.error("y_scale %s and y_zero_point %s must be scalars", shapeToString(ctx.inShape(6)).c_str(),
                     shapeToString(ctx.inShape(7)).c_str());
  for (size_t i : {size_t{1}, size_t{4}}) {
    const Shape& s = ctx.inShape(i);
    const DimExpr& want = i == 1 ? m : n;
    if (!isScalarLike(s) && (s.size() != 1 || constNe(s[0], want)))
      return ctx.error("%s %s must be a scalar or 1-D with %s elements", i == 1 ? "a_scale" : "b_scale",
                       shapeToString(s).c_str(), want.toString().c_str());
  }
  ctx.setOutput(0, ctx.inType(7), std::move(out));
  return Status::ok();
}

// ConvInteger / QLinearConv geometry: x [N, C, in...], w [M, C/group, k...] -> [N, M, out...].
StatusOr<Shape> convShape(const InferContext& ctx, size_t xi, size_t wi) {
  const Shape& x = ctx.inShape(xi);
  const Shape& w = ctx.inShape(wi);
  if (x.size() < 3)
    return ctx.error("input x must have rank >= 3 ([N, C, spatial...]), got shape %s", shapeToString(x).c_str());
  if (w.size() != x.size())
    return ctx.error("weights w must have the rank of x (%zu), got shape %s", x.size(), shapeToString(w).c_str());
  if (!isStatic(w))
    return ctx.error("the weight shape must be known when the engine is built, got %s", shapeToString(w).c_str());
  const std::vector<int64_t> wd = staticDims(w);
  const int64_t group = ctx.attrs().getInt("group", 1);
  if (group < 1 || wd[0] % group != 0)
    return ctx.error("group=%lld must be >= 1 and divide the output channels %lld", static_cast<long long>(group),
                     static_cast<long long>(wd[0]));
  if (x[1].isConst() && x[1].constValue() != wd[1] * group)
    return ctx.error("input channels mismatch: x %s has %lld channels but w %s expects %lld (w[1] x group)",
                     shapeToString(x).c_str(), static_cast<long long>(x[1].constValue()), shapeToString(w).c_str(),
                     static_cast<long long>(wd[1] * group));
  const size_t nsp = x.size() - 2;
  KILN_ASSIGN_OR_RETURN(WindowParams p,
                        parseWindowParams(ctx.attrs(), nsp, std::vector<int64_t>(wd.begin() + 2, wd.end()), false,
                                          ctx.node().describe()));
  Shape out{x[0], DimExpr(wd[0])};
  for (size_t i = 0; i < nsp; ++i) {
    out.push_back(windowOutputDim(p, i, x[i + 2]));
    if (out.back().isConst() && out.back().constValue() < 1)
      return ctx.error("the (dilated) kernel is larger than the padded input on spatial axis %zu (x %s)", i,
                       shapeToString(x).c_str());
  }
  return out;
}

// Weight zero point / scale: scalar or one per output channel.
Status checkPerOutputChannel(const InferContext& ctx, size_t i, const char* what, int64_t m) {
  const Shape& s = ctx.inShape(i);
  if (isScalarLike(s)) return Status::ok();
  if (s.size() != 1 || constNe(s[0], DimExpr(m)))
    return ctx.error("%s %s must be a scalar or 1-D with one value per output channel (%lld)", what,
                     shapeToString(s).c_str(), static_cast<long long>(m));
  return Status::ok();
}

Status inferConvInteger(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 4));
  for (size_t i = 0; i < 2; ++i)
    if (!is8Bit(ctx.inType(i)))
      return ctx.error("%s has type %s; expected int8 or uint8", i == 0 ? "x" : "w", dataTypeName(ctx.inType(i)));
  KILN_ASSIGN_OR_RETURN(Shape out, convShape(ctx, 0, 1));
  if (ctx.hasInput(2)) {
    if (ctx.inType(2) != ctx.inType(0)) return ctx.error("x_zero_point must have x's type");
    if (!isScalarLike(ctx.inShape(2))) return ctx.error("x_zero_point must be a scalar");
  }
  if (ctx.hasInput(3)) {
    if (ctx.inType(3) != ctx.inType(1)) return ctx.error("w_zero_point must have w's type");
    KILN_RETURN_IF_ERROR(checkPerOutputChannel(ctx, 3, "w_zero_point", out[1].constValue()));
  }
  ctx.setOutput(0, DataType::kINT32, std::move(out));
  return Status::ok();
}

// QLinearConv: x(0) x_scale(1) x_zp(2) w(3) w_scale(4) w_zp(5) y_scale(6) y_zp(7) B?(8).
Status inferQLinearConv(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(8, 9));
  for (size_t i : {size_t{0}, size_t{3}})
    if (!is8Bit(ctx.inType(i)))
      return ctx.error("%s has type %s; expected int8 or uint8", i == 0 ? "x" : "w", dataTypeName(ctx.inType(i)));
  KILN_RETURN_IF_ERROR(checkScale(ctx, 1, "x_scale"));
  KILN_RETURN_IF_ERROR(checkScale(ctx, 4, "w_scale"));
  KILN_RETURN_IF_ERROR(checkScale(ctx, 6, "y_scale"));
  KILN_ASSIGN_OR_RETURN(Shape out, convShape(ctx, 0, 3));
  const int64_t m = out[1].constValue();
  if (!isScalarLike(ctx.inShape(1)) || !isScalarLike(ctx.inShape(2)) || !isScalarLike(ctx.inShape(6)) ||
      !isScalarLike(ctx.inShape(7)))
    return ctx.error("x_scale, x_zero_point, y_scale and y_zero_point must be scalars");
  if (ctx.inType(2) != ctx.inType(0)) return ctx.error("x_zero_point must have x's type");
  if (ctx.inType(5) != ctx.inType(3)) return ctx.error("w_zero_point must have w's type");
  if (!is8Bit(ctx.inType(7)))
    return ctx.error("y_zero_point has type %s; expected int8 or uint8", dataTypeName(ctx.inType(7)));
  KILN_RETURN_IF_ERROR(checkPerOutputChannel(ctx, 4, "w_scale", m));
  KILN_RETURN_IF_ERROR(checkPerOutputChannel(ctx, 5, "w_zero_point", m));
  if (ctx.hasInput(8)) {
    const Shape& b = ctx.inShape(8);
    if (ctx.inType(8) != DataType::kINT32 || b.size() != 1 || constNe(b[0], DimExpr(m)))
      return ctx.error("bias B must be int32 with shape [%lld], got %s %s", static_cast<long long>(m),
                       dataTypeName(ctx.inType(8)), shapeToString(b).c_str());
  }
  ctx.setOutput(0, ctx.inType(7), std::move(out));
  return Status::ok();
}

}  // namespace

void registerTransformerQuantShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kRMSNormalization)] = &inferRMSNormalization;
  t[static_cast<size_t>(OpKind::kAttention)] = &inferAttention;
  t[static_cast<size_t>(OpKind::kRotaryEmbedding)] = &inferRotaryEmbedding;
  t[static_cast<size_t>(OpKind::kGridSample)] = &inferGridSample;
  t[static_cast<size_t>(OpKind::kQuantizeLinear)] = &inferQuantizeLinear;
  t[static_cast<size_t>(OpKind::kDequantizeLinear)] = &inferDequantizeLinear;
  t[static_cast<size_t>(OpKind::kDynamicQuantizeLinear)] = &inferDynamicQuantizeLinear;
  t[static_cast<size_t>(OpKind::kMatMulInteger)] = &inferMatMulInteger;
  t[static_cast<size_t>(OpKind::kConvInteger)] = &inferConvInteger;
  t[static_cast<size_t>(OpKind::kQLinearMatMul)] = &inferQLinearMatMul;
  t[static_cast<size_t>(OpKind::kQLinearConv)] = &inferQLinearConv;
}

}  // namespace kiln::ir
