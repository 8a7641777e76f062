// Shape functions for the Binary family (see ops.def).
//
// Output shape: numpy multidirectional broadcasting of the inputs (broadcastShapes). Output type:
// the inputs' common type (Pow: the base's; comparisons and logical ops: bool).
//
// Value propagation: shape computations in exported models do arithmetic on small int tensors
// (Shape -> Gather -> Mul/Div/Add -> Concat -> Reshape; Equal/Where to replace -1 entries), so
// Add/Sub/Mul/Div/Mod/Max/Min/Sum and Equal/Less/.../Where compute their output's element values
// as DimExprs when all input values are known. Div and Mod on symbolic values use floorDiv and
// Python-style % which equal C truncation for the non-negative values shapes have; constant
// values use the exact ONNX (C) semantics.
#include <functional>
#include <optional>
#include <string>

#include "ir/shape_inference.h"
#include "ir/shape_fns_elementwise_util.h"

namespace kiln::ir {
namespace {

using ValueFn = std::function<std::optional<DimExpr>(const std::vector<DimExpr>&)>;

// Broadcast shape of inputs [first, numInputs).
StatusOr<Shape> broadcastAll(const InferContext& ctx, size_t first) {
  Shape out = ctx.inShape(first);
  for (size_t i = first + 1; i < ctx.numInputs(); ++i) {
    KILN_ASSIGN_OR_RETURN(out, broadcastShapes(ctx, out, ctx.inShape(i)));
  }
  return out;
}

// Computes the output's element values by applying fn elementwise over the broadcast of the
// inputs' known values; leaves the output without values when any input's values are unknown,
// the output is not small, or fn cannot decide an element.
void propagateValues(InferContext& ctx, const Shape& outShape, const ValueFn& fn) {
  if (!isStatic(outShape)) return;
  std::vector<int64_t> outDims = staticDims(outShape);
  const int64_t n = volumeOf(outDims);
  if (n > kMaxShapeValueElements) return;
  std::vector<std::vector<DimExpr>> ins;
  std::vector<std::vector<int64_t>> inDims;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    std::optional<std::vector<DimExpr>> v = knownValues(ctx, i);
    if (!v || !isStatic(ctx.inShape(i))) return;
    inDims.push_back(staticDims(ctx.inShape(i)));
    if (static_cast<int64_t>(v->size()) != volumeOf(inDims.back())) return;
    ins.push_back(std::move(*v));
  }
  const size_t rank = outDims.size();
  std::vector<DimExpr> out;
  std::vector<DimExpr> args(ins.size());
  for (int64_t flat = 0; flat < n; ++flat) {
    // Unravel the output index and map it to each input (size-1 dims read index 0).
    std::vector<int64_t> idx(rank);
    int64_t rem = flat;
    for (size_t k = rank; k-- > 0;) {
      idx[k] = rem % outDims[k];
      rem /= outDims[k];
    }
    for (size_t j = 0; j < ins.size(); ++j) {
      const std::vector<int64_t>& d = inDims[j];
      int64_t off = 0;
      for (size_t k = 0; k < d.size(); ++k) {
        int64_t ik = d[k] == 1 ? 0 : idx[rank - d.size() + k];
        off = off * d[k] + ik;
      }
      args[j] = ins[j][static_cast<size_t>(off)];
    }
    std::optional<DimExpr> r = fn(args);
    if (!r) return;
    out.push_back(*r);
  }
  ctx.setOutputValue(0, std::move(out));
}

bool isIntValueType(DataType t) { return t == DataType::kINT64 || t == DataType::kINT32; }

// C division and remainder (truncating) on constants, as the kernels compute them.
int64_t truncDiv(int64_t a, int64_t b) { return b == -1 ? static_cast<int64_t>(0 - static_cast<uint64_t>(a)) : a / b; }
int64_t truncMod(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }

// Same-typed elementwise op over inputs [0, numInputs) with types in `set`.
Status inferSameType(InferContext& ctx, size_t minIn, size_t maxIn, uint32_t set,
                     const ValueFn& valueFn) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(minIn, maxIn));
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) return ctx.error("input %zu is required", i);
    KILN_RETURN_IF_ERROR(checkType(ctx, i, set, "operand"));
    if (i > 0) KILN_RETURN_IF_ERROR(checkSameType(ctx, i, 0));
  }
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastAll(ctx, 0));
  ctx.setOutput(0, ctx.inType(0), out);
  if (valueFn && isIntValueType(ctx.inType(0))) propagateValues(ctx, out, valueFn);
  return Status::ok();
}

std::optional<DimExpr> foldAll(const std::vector<DimExpr>& a,
                               DimExpr (*op)(const DimExpr&, const DimExpr&)) {
  DimExpr r = a[0];
  for (size_t i = 1; i < a.size(); ++i) r = op(r, a[i]);
  return r;
}
DimExpr addExpr(const DimExpr& a, const DimExpr& b) { return a + b; }
DimExpr mulExpr(const DimExpr& a, const DimExpr& b) { return a * b; }

Status inferAdd(InferContext& ctx) {
  return inferSameType(ctx, 2, 2, kTypesNumeric,
                       [](const std::vector<DimExpr>& a) { return foldAll(a, &addExpr); });
}
Status inferSub(InferContext& ctx) {
  return inferSameType(ctx, 2, 2, kTypesNumeric,
                       [](const std::vector<DimExpr>& a) -> std::optional<DimExpr> { return a[0] - a[1]; });
}
Status inferMul(InferContext& ctx) {
  return inferSameType(ctx, 2, 2, kTypesNumeric,
                       [](const std::vector<DimExpr>& a) { return foldAll(a, &mulExpr); });
}
Status inferDiv(InferContext& ctx) {
  return inferSameType(ctx, 2, 2, kTypesNumeric,
                       [](const std::vector<DimExpr>& a) -> std::optional<DimExpr> {
                         const DimExpr &x = a[0], &y = a[1];
                         if (y.isConst() && y.constValue() == 0) return std::nullopt;  // run-time error
                         if (x.isConst() && y.isConst()) return DimExpr(truncDiv(x.constValue(), y.constValue()));
                         // Symbolic: floorDiv == C truncation for the non-negative values
                         // shape computations carry.
                         return floorDiv(x, y);
                       });
}
Status inferMod(InferContext& ctx) {
  const bool cFmod = ctx.attrs().getInt("fmod", 0) != 0;
  const int64_t fmodAttr = ctx.attrs().getInt("fmod", 0);
  if (fmodAttr != 0 && fmodAttr != 1) return ctx.error("attribute fmod must be 0 or 1, got %lld", static_cast<long long>(fmodAttr));
  KILN_RETURN_IF_ERROR(inferSameType(
      ctx, 2, 2, kTypesNumeric, [cFmod](const std::vector<DimExpr>& a) -> std::optional<DimExpr> {
        const DimExpr &x = a[0], &y = a[1];
        if (y.isConst() && y.constValue() == 0) return std::nullopt;
        if (x.isConst() && y.isConst()) {
          int64_t r = truncMod(x.constValue(), y.constValue());
          if (!cFmod && r != 0 && ((r < 0) != (y.constValue() < 0))) r += y.constValue();
          return DimExpr(r);
        }
        return x % y;  // non-negative operands: both conventions agree
      }));
  return Status::ok();
}
Status inferMax(InferContext& ctx) {
  return inferSameType(ctx, 1, SIZE_MAX, kTypesNumeric,
                       [](const std::vector<DimExpr>& a) { return foldAll(a, &dimMax); });
}
Status inferMin(InferContext& ctx) {
  return inferSameType(ctx, 1, SIZE_MAX, kTypesNumeric,
                       [](const std::vector<DimExpr>& a) { return foldAll(a, &dimMin); });
}
Status inferSum(InferContext& ctx) { return inferSameType(ctx, 1, SIZE_MAX, kTypesFloat, nullptr); }
Status inferMean(InferContext& ctx) { return inferSameType(ctx, 1, SIZE_MAX, kTypesFloat, nullptr); }

// Pow(X, Y): output has X's type; Y may be any numeric type.
Status inferPow(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat | kTypesSigned32_64, "base"));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesNumeric, "exponent"));
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastAll(ctx, 0));
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// PRelu(X, slope): slope broadcasts to X (unidirectional); output has X's shape.
Status inferPRelu(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesFloat | kTypesSigned32_64 | kTypesUnsigned32_64, "X"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 1, 0));
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastShapes(ctx, ctx.inShape(0), ctx.inShape(1)));
  if (!shapesEqual(out, ctx.inShape(0))) {
    // Broadcasting may only have resolved symbolic dims; anything else grows X.
    bool grows = out.size() != ctx.inShape(0).size();
    for (size_t k = 0; !grows && k < out.size(); ++k) {
      const DimExpr& x = ctx.inShape(0)[k];
      if (x.isConst() && !out[k].equals(x)) grows = true;
    }
    if (grows)
      return ctx.error("slope of shape %s does not broadcast to X's shape %s",
                       shapeToString(ctx.inShape(1)).c_str(), shapeToString(ctx.inShape(0)).c_str());
  }
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(0));
  return Status::ok();
}

// True when e is certainly >= 0: constants >= 0, symbols (dimensions) and +,*,floordiv,ceildiv,
// max,min of such expressions, and x % y with y certainly > 0.
bool knownNonNegative(const DimExpr& e) {
  switch (e.kind()) {
    case DimExpr::Kind::kConst: return e.constValue() >= 0;
    case DimExpr::Kind::kSymbol: return true;
    case DimExpr::Kind::kAdd:
    case DimExpr::Kind::kMul:
    case DimExpr::Kind::kFloorDiv:
    case DimExpr::Kind::kCeilDiv:
    case DimExpr::Kind::kMin: return knownNonNegative(e.lhs()) && knownNonNegative(e.rhs());
    case DimExpr::Kind::kMax: return knownNonNegative(e.lhs()) || knownNonNegative(e.rhs());
    case DimExpr::Kind::kMod: return e.rhs().isConst() && e.rhs().constValue() > 0;
    case DimExpr::Kind::kSub: return false;
  }
  return false;
}

enum class Cmp { kEq, kLt, kLe, kGt, kGe };

// Decides a comparison of two values: constants compare directly; equal expressions are equal;
// a certainly non-negative expression differs from (and is greater than) a negative constant,
// which decides the common Equal(shape, -1) pattern while dims are symbolic.
std::optional<DimExpr> compareValues(Cmp c, const DimExpr& a, const DimExpr& b) {
  int sign;  // sign of a - b when decided
  if (a.isConst() && b.isConst()) {
    sign = a.constValue() < b.constValue() ? -1 : (a.constValue() > b.constValue() ? 1 : 0);
  } else if (a.equals(b)) {
    sign = 0;
  } else if (b.isConst() && b.constValue() < 0 && knownNonNegative(a)) {
    sign = 1;
  } else if (a.isConst() && a.constValue() < 0 && knownNonNegative(b)) {
    sign = -1;
  } else {
    return std::nullopt;
  }
  bool r = false;
  switch (c) {
    case Cmp::kEq: r = sign == 0; break;
    case Cmp::kLt: r = sign < 0; break;
    case Cmp::kLe: r = sign <= 0; break;
    case Cmp::kGt: r = sign > 0; break;
    case Cmp::kGe: r = sign >= 0; break;
  }
  return DimExpr(r ? 1 : 0);
}

template <Cmp C>
Status inferCompare(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  const uint32_t set = C == Cmp::kEq ? (kTypesNumeric | kTypesBool) : kTypesNumeric;
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, set, "A"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 1, 0));
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastAll(ctx, 0));
  ctx.setOutput(0, DataType::kBOOL, out);
  if (!typeInSet(ctx.inType(0), kTypesFloat))
    propagateValues(ctx, out, [](const std::vector<DimExpr>& a) { return compareValues(C, a[0], a[1]); });
  return Status::ok();
}

Status inferLogical(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesBool, "A"));
  KILN_RETURN_IF_ERROR(checkType(ctx, 1, kTypesBool, "B"));
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastAll(ctx, 0));
  ctx.setOutput(0, DataType::kBOOL, out);
  // Shape computations test conditions on dims (Attention's function body: Not(Equal(..)) And
  // Equal(Mod(..), 0) -> Where): carry constant results so the chain stays a known value.
  const OpKind op = ctx.node().op;
  propagateValues(ctx, out, [op](const std::vector<DimExpr>& a) -> std::optional<DimExpr> {
    if (!a[0].isConst() || !a[1].isConst()) return std::nullopt;
    const bool x = a[0].constValue() != 0, y = a[1].constValue() != 0;
    const bool r = op == OpKind::kAnd ? (x && y) : op == OpKind::kOr ? (x || y) : (x != y);
    return DimExpr(r ? 1 : 0);
  });
  return Status::ok();
}

Status inferBitShift(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  const std::string dir = ctx.attrs().getString("direction", "");
  if (dir != "LEFT" && dir != "RIGHT")
    return ctx.error("attribute direction must be \"LEFT\" or \"RIGHT\", got \"%s\"", dir.c_str());
  // Unsigned types in every opset; signed types since ONNX opset 25.
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesInt, "X"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 1, 0));
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastAll(ctx, 0));
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// Where(cond, X, Y): cond bool, X and Y one type; three-way broadcast.
Status inferWhere(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesBool, "condition"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 2, 1));
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastAll(ctx, 0));
  ctx.setOutput(0, ctx.inType(1), out);
  if (isIntValueType(ctx.inType(1)) || ctx.inType(1) == DataType::kBOOL) {
    propagateValues(ctx, out, [](const std::vector<DimExpr>& a) -> std::optional<DimExpr> {
      if (!a[0].isConst()) return std::nullopt;
      return a[0].constValue() != 0 ? a[1] : a[2];
    });
  }
  return Status::ok();
}

}  // namespace

void registerBinaryShapeFns(ShapeFnTable& t) {
  auto set = [&t](OpKind k, ShapeFn fn) { t[static_cast<size_t>(k)] = fn; };
  set(OpKind::kAdd, &inferAdd);
  set(OpKind::kSub, &inferSub);
  set(OpKind::kMul, &inferMul);
  set(OpKind::kDiv, &inferDiv);
  set(OpKind::kPow, &inferPow);
  set(OpKind::kMax, &inferMax);
  set(OpKind::kMin, &inferMin);
  set(OpKind::kSum, &inferSum);
  set(OpKind::kMean, &inferMean);
  set(OpKind::kMod, &inferMod);
  set(OpKind::kPRelu, &inferPRelu);
  set(OpKind::kEqual, &inferCompare<Cmp::kEq>);
  set(OpKind::kLess, &inferCompare<Cmp::kLt>);
  set(OpKind::kLessOrEqual, &inferCompare<Cmp::kLe>);
  set(OpKind::kGreater, &inferCompare<Cmp::kGt>);
  set(OpKind::kGreaterOrEqual, &inferCompare<Cmp::kGe>);
  set(OpKind::kAnd, &inferLogical);
  set(OpKind::kOr, &inferLogical);
  set(OpKind::kXor, &inferLogical);
  set(OpKind::kBitShift, &inferBitShift);
  set(OpKind::kWhere, &inferWhere);
}

}  // namespace kiln::ir
