// Shape functions for the losses and small ops of ops.def (helper group "misc"):
// SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss, Swish, SwiGLU, EyeLike, ReverseSequence,
// Det, HannWindow, HammingWindow, BlackmanWindow.
//
// Shapes stay symbolic. The window ops' output length is their `size` input: a constant, a value
// known from shapes (Shape -> Gather ...), which may be a symbolic DimExpr, or a run-time symbol
// when `size` is a shape tensor graph input.
#include <string>

#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

constexpr uint32_t kTypesIndex = typeBit(DataType::kINT32) | typeBit(DataType::kINT64);

// Checks a dim pair when both are constants (and again at run time, when every dim is one).
Status checkDimsMatch(const InferContext& ctx, const DimExpr& a, const DimExpr& b,
                      const char* what) {
  if (a.isConst() && b.isConst() && a.constValue() != b.constValue())
    return ctx.error("%s: %lld vs %lld", what, static_cast<long long>(a.constValue()),
                     static_cast<long long>(b.constValue()));
  return Status::ok();
}

// A Kiln DataType number that names one of the classic element types (numbers and bool).
bool isClassicDataType(int64_t v) {
  if (v < 0 || v > kNumDataTypes || v == 6) return false;
  return typeInSet(static_cast<DataType>(v), kTypesAll);
}

// --- SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss ------------------------------------------

// (scores|input [N, C, d1..dk], labels|target [N, d1..dk], weights? [C]) -> loss (labels' shape
// for reduction "none", a scalar otherwise); SoftmaxCrossEntropyLoss's optional second output
// log_prob has the scores' shape.
Status inferLoss(InferContext& ctx) {
  const bool sce = ctx.node().op == OpKind::kSoftmaxCrossEntropyLoss;
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 3));
  if (sce ? (ctx.numOutputs() < 1 || ctx.numOutputs() > 2) : ctx.numOutputs() != 1)
    return ctx.error("expects %s, got %zu outputs",
                     sce ? "1 or 2 outputs (output, log_prob)" : "1 output", ctx.numOutputs());
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, sce ? "scores" : "input"));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesIndex, sce ? "labels" : "target"));
  const Shape& x = ctx.inShape(0);
  const Shape& t = ctx.inShape(1);
  if (x.size() < 2)
    return ctx.error("input 0 must have shape [N, C, d1, ..., dk], got %s",
                     shapeToString(x).c_str());
  if (t.size() != x.size() - 1)
    return ctx.error(
        "input 1 must have shape [N, d1, ..., dk] (rank %zu) for input 0 of shape %s, got %s",
        x.size() - 1, shapeToString(x).c_str(), shapeToString(t).c_str());
  KILN_RETURN_IF_ERROR(checkDimsMatch(ctx, x[0], t[0], "input 0 and input 1 differ in N"));
  for (size_t i = 2; i < x.size(); ++i)
    KILN_RETURN_IF_ERROR(
        checkDimsMatch(ctx, x[i], t[i - 1], "input 0 and input 1 differ in a spatial dim"));
  if (ctx.hasInput(2)) {
    KILN_RETURN_IF_ERROR(checkSameType(ctx, 2, 0));
    if (ctx.inRank(2) != 1)
      return ctx.error("weights must have shape [C], got %s",
                       shapeToString(ctx.inShape(2)).c_str());
    KILN_RETURN_IF_ERROR(
        checkDimsMatch(ctx, ctx.inShape(2)[0], x[1], "weights must have C elements"));
  }
  const std::string reduction = ctx.attrs().getString("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return ctx.error("reduction must be \"none\", \"sum\" or \"mean\", got \"%s\"",
                     reduction.c_str());
  ctx.setOutput(0, ctx.inType(0), reduction == "none" ? t : Shape{});
  if (ctx.numOutputs() == 2) ctx.setOutput(1, ctx.inType(0), x);
  return Status::ok();
}

// --- Swish, SwiGLU -------------------------------------------------------------------------------

Status inferSwish(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, "X"));
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

// A and B have identical shapes: SwiGLU does not broadcast.
Status inferSwiGlu(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, "A"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 1, 0));
  const Shape& a = ctx.inShape(0);
  const Shape& b = ctx.inShape(1);
  if (a.size() != b.size())
    return ctx.error("A and B must have the same shape (no broadcasting), got %s and %s",
                     shapeToString(a).c_str(), shapeToString(b).c_str());
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].isConst() && b[i].isConst() && a[i].constValue() != b[i].constValue())
      return ctx.error("A and B must have the same shape (no broadcasting), got %s and %s",
                       shapeToString(a).c_str(), shapeToString(b).c_str());
  ctx.setOutput(0, ctx.inType(0), a);
  return Status::ok();
}

// --- EyeLike, ReverseSequence, Det ---------------------------------------------------------------

Status inferEyeLike(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesAll, "input"));
  if (ctx.inRank(0) != 2)
    return ctx.error("input must be 2-D, got shape %s", shapeToString(ctx.inShape(0)).c_str());
  DataType dt = ctx.inType(0);
  if (ctx.attrs().has("dtype")) {
    const int64_t v = ctx.attrs().getInt("dtype", -1);
    if (!isClassicDataType(v))
      return ctx.error("attribute dtype=%lld is not a supported output data type",
                       static_cast<long long>(v));
    dt = static_cast<DataType>(v);
  }
  ctx.setOutput(0, dt, ctx.inShape(0));
  return Status::ok();
}

Status inferReverseSequence(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesAll, "input"));
  if (ctx.inType(1) != DataType::kINT64)
    return ctx.error("sequence_lens must be int64, got %s", dataTypeName(ctx.inType(1)));
  const Shape& x = ctx.inShape(0);
  if (x.size() < 2)
    return ctx.error("input must have rank >= 2, got shape %s", shapeToString(x).c_str());
  const int64_t batchAxis = ctx.attrs().getInt("batch_axis", 1);
  const int64_t timeAxis = ctx.attrs().getInt("time_axis", 0);
  if ((batchAxis != 0 && batchAxis != 1) || (timeAxis != 0 && timeAxis != 1) ||
      batchAxis == timeAxis)
    return ctx.error("batch_axis (%lld) and time_axis (%lld) must be 0 and 1 in some order",
                     static_cast<long long>(batchAxis), static_cast<long long>(timeAxis));
  if (ctx.inRank(1) != 1)
    return ctx.error("sequence_lens must be 1-D, got shape %s",
                     shapeToString(ctx.inShape(1)).c_str());
  KILN_RETURN_IF_ERROR(checkDimsMatch(ctx, ctx.inShape(1)[0], x[static_cast<size_t>(batchAxis)],
                                      "sequence_lens must have one entry per batch element"));
  ctx.setOutput(0, ctx.inType(0), x);
  return Status::ok();
}

Status inferDet(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat, "X"));
  const Shape& x = ctx.inShape(0);
  if (x.size() < 2)
    return ctx.error("X must have shape [*, M, M], got %s", shapeToString(x).c_str());
  KILN_RETURN_IF_ERROR(
      checkDimsMatch(ctx, x[x.size() - 2], x[x.size() - 1], "X's matrices must be square"));
  ctx.setOutput(0, ctx.inType(0), Shape(x.begin(), x.end() - 2));
  return Status::ok();
}

// --- HannWindow, HammingWindow, BlackmanWindow ---------------------------------------------------

// (size) -> [size] of output_datatype (Kiln numbering, default float32). The length is the value
// of `size`: a constant, a value known from shapes (possibly symbolic), or a shape tensor input's
// value known only at run time.
Status inferWindow(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesIndex, "size"));
  if (ctx.inRank(0) > 1 || (ctx.inRank(0) == 1 && !ctx.inShape(0)[0].equals(DimExpr(1))))
    return ctx.error("size must be a scalar, got shape %s", shapeToString(ctx.inShape(0)).c_str());
  const int64_t periodic = ctx.attrs().getInt("periodic", 1);
  if (periodic != 0 && periodic != 1)
    return ctx.error("periodic must be 0 or 1, got %lld", static_cast<long long>(periodic));
  const int64_t odt = ctx.attrs().getInt("output_datatype", static_cast<int64_t>(DataType::kFLOAT));
  if (!isClassicDataType(odt) || odt == static_cast<int64_t>(DataType::kBOOL))
    return ctx.error("attribute output_datatype=%lld is not a supported output data type",
                     static_cast<long long>(odt));
  DimExpr length;
  if (const std::vector<DimExpr>* v = ctx.inValue(0)) {
    if (v->size() != 1) return ctx.error("size must have one element, got %zu", v->size());
    length = (*v)[0];
  } else if (ctx.inDeferred(0)) {
    // A shape tensor input known only when the engine runs: a run-time symbol now; at run time
    // the value is a constant and this function decides the length.
    length = ctx.runtimeDim(0, 0);
  } else {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> n, ctx.inInts(0, "the window size"));
    if (n.size() != 1) return ctx.error("size must have one element, got %zu", n.size());
    length = DimExpr(n[0]);
  }
  if (length.isConst() && length.constValue() < 0)
    return ctx.error("size must be >= 0, got %lld", static_cast<long long>(length.constValue()));
  ctx.setOutput(0, static_cast<DataType>(odt), {length});
  return Status::ok();
}

}  // namespace

void registerMiscShapeFns(ShapeFnTable& t) {
  auto set = [&t](OpKind op, ShapeFn fn) { t[static_cast<size_t>(op)] = fn; };
  set(OpKind::kSoftmaxCrossEntropyLoss, &inferLoss);
  set(OpKind::kNegativeLogLikelihoodLoss, &inferLoss);
  set(OpKind::kSwish, &inferSwish);
  set(OpKind::kSwiGLU, &inferSwiGlu);
  set(OpKind::kEyeLike, &inferEyeLike);
  set(OpKind::kReverseSequence, &inferReverseSequence);
  set(OpKind::kDet, &inferDet);
  set(OpKind::kHannWindow, &inferWindow);
  set(OpKind::kHammingWindow, &inferWindow);
  set(OpKind::kBlackmanWindow, &inferWindow);
}

}  // namespace kiln::ir
