// Shape functions for the indexing group of ops.def: BitwiseAnd/Or/Xor, LpPool, Hardmax,
// LpNormalization, MeanVarianceNormalization, LRN, CumSum, Trilu, GatherND, ScatterElements,
// ScatterND, OneHot.
//
// Shapes stay symbolic wherever the op allows it; only the inputs that decide an output shape
// (OneHot's depth, the last dim of GatherND/ScatterND indices) or that a kernel must know before
// it runs (CumSum's axis) must be known when the engine is built.
#include <set>
#include <string>

#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"
#include "ir/window_params.h"

namespace kiln::ir {

namespace {

constexpr uint32_t kTypesIndex = typeBit(DataType::kINT32) | typeBit(DataType::kINT64);

// A requirement on a dim pair that is checked when both are constants (and again at run time,
// when every dim is a constant).
Status checkDimsMatch(const InferContext& ctx, const DimExpr& a, const DimExpr& b, const char* what) {
  if (a.isConst() && b.isConst() && a.constValue() != b.constValue())
    return ctx.error("%s: %lld vs %lld", what, static_cast<long long>(a.constValue()),
                     static_cast<long long>(b.constValue()));
  return Status::ok();
}

Status checkReduction(const InferContext& ctx) {
  const std::string r = ctx.attrs().getString("reduction", "none");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    return ctx.error("reduction must be \"none\", \"add\", \"mul\", \"max\" or \"min\", got \"%s\"",
                     r.c_str());
  return Status::ok();
}

// --- BitwiseAnd / BitwiseOr / BitwiseXor ----------------------------------------------------------

Status inferBitwise(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesInt, "A"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 1, 0));
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastShapes(ctx, ctx.inShape(0), ctx.inShape(1)));
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

// --- LpPool ---------------------------------------------------------------------------------------

// Y [N, C, out...] with the window geometry of AveragePool (window_params.h).
Status inferLpPool(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, "X"));
  if (ctx.inRank(0) < 3)
    return ctx.error("input X must have rank >= 3 ([N, C, spatial...]), got shape %s",
                     shapeToString(ctx.inShape(0)).c_str());
  const int64_t p = ctx.attrs().getInt("p", 2);
  if (p < 1) return ctx.error("p must be a positive integer, got %lld", static_cast<long long>(p));
  const Shape& x = ctx.inShape(0);
  const size_t nsp = x.size() - 2;
  KILN_ASSIGN_OR_RETURN(WindowParams w, parseWindowParams(ctx.attrs(), nsp, {}, true, ctx.node().describe()));
  Shape out{x[0], x[1]};
  for (size_t i = 0; i < nsp; ++i) {
    out.push_back(windowOutputDim(w, i, x[i + 2]));
    if (out.back().isConst() && out.back().constValue() < 1)
      return ctx.error("the (dilated) kernel %lld is larger than the padded input on spatial axis %zu (input %s)",
                       static_cast<long long>(w.effectiveKernel(i)), i, shapeToString(x).c_str());
  }
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

// --- Hardmax, LpNormalization, MeanVarianceNormalization, LRN -------------------------------------

// Float ops whose output has the input's type and shape, with an `axis` attribute.
Status inferAxisNorm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, "input"));
  KILN_RETURN_IF_ERROR(ctx.normalizeAxis(ctx.attrs().getInt("axis", -1), ctx.inRank(0)).status());
  if (ctx.node().op == OpKind::kLpNormalization) {
    const int64_t p = ctx.attrs().getInt("p", 2);
    if (p != 1 && p != 2) return ctx.error("p must be 1 or 2, got %lld", static_cast<long long>(p));
  }
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

Status inferMeanVarianceNormalization(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, "X"));
  const std::vector<int64_t> axes = ctx.attrs().getInts("axes", {0, 2, 3});
  std::set<int64_t> seen;
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, ctx.normalizeAxis(a, ctx.inRank(0), "axes entry"));
    if (!seen.insert(n).second) return ctx.error("axes lists axis %lld twice", static_cast<long long>(n));
  }
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

Status inferLrn(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, "X"));
  if (ctx.inRank(0) < 2)
    return ctx.error("input X must have rank >= 2 ([N, C, ...]), got shape %s",
                     shapeToString(ctx.inShape(0)).c_str());
  if (!ctx.attrs().has("size")) return ctx.error("attribute 'size' is required");
  const int64_t size = ctx.attrs().getInt("size", 0);
  if (size < 1) return ctx.error("size must be >= 1, got %lld", static_cast<long long>(size));
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

// --- CumSum, Trilu ------------------------------------------------------------------------------

// Also CumProd's shape function (same inputs, attributes and checks).
Status inferCumSum(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesNumeric, "x"));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesIndex, "axis"));
  if (ctx.inRank(1) > 1) return ctx.error("axis must be a scalar, got shape %s", shapeToString(ctx.inShape(1)).c_str());
  // The axis picks the kernel's loop order, so it is needed before the kernel runs.
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axis, ctx.inInts(1, "axis"));
  if (axis.size() != 1) return ctx.error("axis must have one element, got %zu", axis.size());
  KILN_RETURN_IF_ERROR(ctx.normalizeAxis(axis[0], ctx.inRank(0)).status());
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

Status inferTrilu(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesAll, "input"));
  if (ctx.inRank(0) < 2)
    return ctx.error("input must have rank >= 2, got shape %s", shapeToString(ctx.inShape(0)).c_str());
  if (ctx.hasInput(1)) {
    if (ctx.inType(1) != DataType::kINT64) return ctx.error("k must be int64, got %s", dataTypeName(ctx.inType(1)));
    if (ctx.inRank(1) > 1 || (ctx.inRank(1) == 1 && !ctx.inShape(1)[0].equals(DimExpr(1))))
      return ctx.error("k must be a scalar, got shape %s", shapeToString(ctx.inShape(1)).c_str());
  }
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

// --- GatherND, ScatterND, ScatterElements ---------------------------------------------------------

// The last dim of GatherND/ScatterND indices: how many leading data dims one index tuple
// addresses. It decides the output rank, so it must be a constant.
StatusOr<int64_t> indexTupleLength(const InferContext& ctx, int64_t maxLen) {
  const Shape& idx = ctx.inShape(1);
  if (idx.empty()) return ctx.error("indices must have rank >= 1");
  if (!idx.back().isConst())
    return ctx.error("the last dim of indices (%s) must be a constant", idx.back().toString().c_str());
  const int64_t m = idx.back().constValue();
  if (m < 1 || m > maxLen)
    return ctx.error("the last dim of indices is %lld; it must be in [1, %lld] for data of shape %s",
                     static_cast<long long>(m), static_cast<long long>(maxLen),
                     shapeToString(ctx.inShape(0)).c_str());
  return m;
}

// GatherND: output = indices.shape[:-1] + data.shape[b + m:] where b = batch_dims and m is the
// index tuple length; the first b dims of data and indices are shared batch dims.
Status inferGatherND(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesIndex, "indices"));
  const Shape& data = ctx.inShape(0);
  const Shape& idx = ctx.inShape(1);
  const int64_t r = ctx.inRank(0), q = ctx.inRank(1);
  const int64_t b = ctx.attrs().getInt("batch_dims", 0);
  if (r < 1 || q < 1) return ctx.error("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q))
    return ctx.error("batch_dims=%lld must be in [0, min(rank(data), rank(indices)) = %lld)",
                     static_cast<long long>(b), static_cast<long long>(std::min(r, q)));
  for (int64_t i = 0; i < b; ++i)
    KILN_RETURN_IF_ERROR(checkDimsMatch(ctx, data[static_cast<size_t>(i)], idx[static_cast<size_t>(i)],
                                        "the batch dims of data and indices differ"));
  KILN_ASSIGN_OR_RETURN(int64_t m, indexTupleLength(ctx, r - b));
  Shape out(idx.begin(), idx.end() - 1);
  out.insert(out.end(), data.begin() + b + m, data.end());
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

// ScatterND: updates.shape must be indices.shape[:-1] + data.shape[m:].
Status inferScatterND(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesIndex, "indices"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 2, 0));
  KILN_RETURN_IF_ERROR(checkReduction(ctx));
  const Shape& data = ctx.inShape(0);
  const Shape& idx = ctx.inShape(1);
  const Shape& upd = ctx.inShape(2);
  KILN_ASSIGN_OR_RETURN(int64_t m, indexTupleLength(ctx, ctx.inRank(0)));
  Shape want(idx.begin(), idx.end() - 1);
  want.insert(want.end(), data.begin() + m, data.end());
  if (upd.size() != want.size())
    return ctx.error("updates must have shape indices.shape[:-1] + data.shape[%lld:] = %s, got %s",
                     static_cast<long long>(m), shapeToString(want).c_str(), shapeToString(upd).c_str());
  for (size_t i = 0; i < want.size(); ++i)
    KILN_RETURN_IF_ERROR(checkDimsMatch(ctx, upd[i], want[i], "updates do not have shape indices.shape[:-1] + data.shape[m:]"));
  ctx.setOutput(0, ctx.inType(0), data);
  return Status::ok();
}

// ScatterElements: indices and updates have one shape and the data's rank.
Status inferScatterElements(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesIndex, "indices"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 2, 0));
  KILN_RETURN_IF_ERROR(checkReduction(ctx));
  const int64_t r = ctx.inRank(0);
  if (r < 1) return ctx.error("data must have rank >= 1");
  if (ctx.inRank(1) != r || ctx.inRank(2) != r)
    return ctx.error("data, indices and updates must have the same rank, got shapes %s, %s, %s",
                     shapeToString(ctx.inShape(0)).c_str(), shapeToString(ctx.inShape(1)).c_str(),
                     shapeToString(ctx.inShape(2)).c_str());
  KILN_RETURN_IF_ERROR(ctx.normalizeAxis(ctx.attrs().getInt("axis", 0), r).status());
  for (size_t i = 0; i < static_cast<size_t>(r); ++i)
    KILN_RETURN_IF_ERROR(checkDimsMatch(ctx, ctx.inShape(1)[i], ctx.inShape(2)[i],
                                        "indices and updates must have the same shape"));
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

// --- OneHot -------------------------------------------------------------------------------------

// Output: indices' shape with `depth` inserted at `axis` (in [-r-1, r]); type of `values`.
Status inferOneHot(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesNumeric, "indices"));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesNumeric, "depth"));
  const Shape& vs = ctx.inShape(2);
  if (vs.size() != 1 || !vs[0].equals(DimExpr(2)))
    return ctx.error("values must be a 1-D tensor of 2 elements [off_value, on_value], got shape %s",
                     shapeToString(vs).c_str());
  // depth decides the output shape.
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> depth, ctx.inInts(1, "depth"));
  if (depth.size() != 1) return ctx.error("depth must have one element, got %zu", depth.size());
  if (depth[0] < 1) return ctx.error("depth must be positive, got %lld", static_cast<long long>(depth[0]));
  const int64_t r = ctx.inRank(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", -1), r + 1));
  Shape out = ctx.inShape(0);
  out.insert(out.begin() + axis, DimExpr(depth[0]));
  ctx.setOutput(0, ctx.inType(2), std::move(out));
  return Status::ok();
}

}  // namespace

void registerIndexingShapeFns(ShapeFnTable& t) {
  auto set = [&t](OpKind op, ShapeFn fn) { t[static_cast<size_t>(op)] = fn; };
  set(OpKind::kBitwiseAnd, &inferBitwise);
  set(OpKind::kBitwiseOr, &inferBitwise);
  set(OpKind::kBitwiseXor, &inferBitwise);
  set(OpKind::kLpPool, &inferLpPool);
  set(OpKind::kHardmax, &inferAxisNorm);
  set(OpKind::kLpNormalization, &inferAxisNorm);
  set(OpKind::kMeanVarianceNormalization, &inferMeanVarianceNormalization);
  set(OpKind::kLRN, &inferLrn);
  set(OpKind::kCumSum, &inferCumSum);
  set(OpKind::kCumProd, &inferCumSum);  // same inputs and checks as CumSum
  set(OpKind::kTrilu, &inferTrilu);
  set(OpKind::kGatherND, &inferGatherND);
  set(OpKind::kScatterND, &inferScatterND);
  set(OpKind::kScatterElements, &inferScatterElements);
  set(OpKind::kOneHot, &inferOneHot);
}

}  // namespace kiln::ir
