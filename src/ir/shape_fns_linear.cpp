// Shape functions for the Linear family (see ops.def).
#include <algorithm>
#include <map>
#include <string>

#include "ir/einsum_equation.h"
#include "ir/shape_inference.h"
#include "ir/window_params.h"

namespace kiln::ir {

namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF || t == DataType::kBF16;
}

// MatMul/Gemm/Einsum element types: the float types and the 32/64-bit integers.
bool isMatMulType(DataType t) {
  return isFloatType(t) || t == DataType::kINT32 || t == DataType::kINT64 || t == DataType::kUINT32 ||
         t == DataType::kUINT64;
}

Status expectSameType(const InferContext& ctx, size_t i, size_t j) {
  if (ctx.inType(i) != ctx.inType(j))
    return ctx.error("inputs %zu and %zu must have the same data type, got %s and %s", i, j,
                     dataTypeName(ctx.inType(i)), dataTypeName(ctx.inType(j)));
  return Status::ok();
}

bool constNe(const DimExpr& a, const DimExpr& b) {
  return a.isConst() && b.isConst() && a.constValue() != b.constValue();
}

// numpy matmul: 1-D operands are promoted ([K] -> [1,K] on the left, [K,1] on the right) and the
// promoted axis is removed from the result; leading (batch) dims broadcast.
Status inferMatMul(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (!isMatMulType(ctx.inType(0)))
    return ctx.error("data type %s is not supported (expected a float type or int32/int64/uint32/uint64)",
                     dataTypeName(ctx.inType(0)));
  Shape a = ctx.inShape(0), b = ctx.inShape(1);
  if (a.empty() || b.empty())
    return ctx.error("inputs must have rank >= 1, got shapes %s and %s", shapeToString(a).c_str(),
                     shapeToString(b).c_str());
  const bool aVec = a.size() == 1, bVec = b.size() == 1;
  if (aVec) a.insert(a.begin(), DimExpr(1));
  if (bVec) b.push_back(DimExpr(1));
  const DimExpr& ka = a[a.size() - 1];
  const DimExpr& kb = b[b.size() - 2];
  if (constNe(ka, kb))
    return ctx.error("inner dimensions do not match: A %s has K=%lld but B %s has K=%lld",
                     shapeToString(ctx.inShape(0)).c_str(), static_cast<long long>(ka.constValue()),
                     shapeToString(ctx.inShape(1)).c_str(), static_cast<long long>(kb.constValue()));
  Shape batchA(a.begin(), a.end() - 2), batchB(b.begin(), b.end() - 2);
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastShapes(ctx, batchA, batchB));
  if (!aVec) out.push_back(a[a.size() - 2]);
  if (!bVec) out.push_back(b[b.size() - 1]);
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

// Y = alpha * op(A) * op(B) + beta * C, A and B 2-D, C unidirectionally broadcast to [M, N].
Status inferGemm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 3));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  if (!isMatMulType(ctx.inType(0)))
    return ctx.error("data type %s is not supported (expected a float type or int32/int64/uint32/uint64)",
                     dataTypeName(ctx.inType(0)));
  const Shape& a = ctx.inShape(0);
  const Shape& b = ctx.inShape(1);
  if (a.size() != 2 || b.size() != 2)
    return ctx.error("A and B must be 2-D, got shapes %s and %s", shapeToString(a).c_str(),
                     shapeToString(b).c_str());
  const bool ta = ctx.attrs().getInt("transA", 0) != 0, tb = ctx.attrs().getInt("transB", 0) != 0;
  DimExpr m = ta ? a[1] : a[0], ka = ta ? a[0] : a[1];
  DimExpr kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (constNe(ka, kb))
    return ctx.error("inner dimensions do not match: op(A) is [%s,%s] and op(B) is [%s,%s] (transA=%d, transB=%d)",
                     m.toString().c_str(), ka.toString().c_str(), kb.toString().c_str(),
                     n.toString().c_str(), ta ? 1 : 0, tb ? 1 : 0);
  if (ctx.hasInput(2)) {
    const Shape& c = ctx.inShape(2);
    if (c.size() > 2)
      return ctx.error("C must have rank <= 2 (broadcastable to [M, N]), got shape %s", shapeToString(c).c_str());
    const DimExpr target[2] = {m, n};
    for (size_t i = 0; i < c.size(); ++i) {
      const DimExpr& d = c[i];
      const DimExpr& t = target[2 - c.size() + i];
      if (d.isConst() && d.constValue() != 1 && constNe(d, t))
        return ctx.error("C of shape %s cannot be broadcast to the output [%s,%s]", shapeToString(c).c_str(),
                         m.toString().c_str(), n.toString().c_str());
    }
  }
  ctx.setOutput(0, ctx.inType(0), {m, n});
  return Status::ok();
}

Status inferEinsum(InferContext& ctx) {
  if (ctx.numInputs() < 1) return ctx.error("expects at least one input");
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) return ctx.error("input %zu is required", i);
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
  }
  if (!isMatMulType(ctx.inType(0)))
    return ctx.error("data type %s is not supported (expected a float type or int32/int64/uint32/uint64)",
                     dataTypeName(ctx.inType(0)));
  std::vector<size_t> ranks;
  for (size_t i = 0; i < ctx.numInputs(); ++i) ranks.push_back(static_cast<size_t>(ctx.inRank(i)));
  KILN_ASSIGN_OR_RETURN(EinsumSpec spec,
                        parseEinsum(ctx.attrs().getString("equation"), ranks, ctx.node().describe()));
  // Size of each label: named labels must agree across operands; ellipsis labels broadcast.
  std::vector<DimExpr> sizes(static_cast<size_t>(spec.numLabels), DimExpr(1));
  std::vector<bool> seen(static_cast<size_t>(spec.numLabels), false);
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    const Shape& s = ctx.inShape(i);
    for (size_t ax = 0; ax < s.size(); ++ax) {
      const int label = spec.inputs[i][ax];
      DimExpr& cur = sizes[static_cast<size_t>(label)];
      const bool ellipsis = label >= spec.firstEllipsisLabel;
      if (!seen[static_cast<size_t>(label)]) {
        cur = s[ax];
        seen[static_cast<size_t>(label)] = true;
      } else if (ellipsis) {
        KILN_ASSIGN_OR_RETURN(Shape bc, broadcastShapes(ctx, {cur}, {s[ax]}));
        cur = bc[0];
      } else if (constNe(cur, s[ax])) {
        return ctx.error("label '%s' of equation '%s' has size %lld in one place and %lld in another (input %zu)",
                         spec.labelName(label).c_str(), ctx.attrs().getString("equation").c_str(),
                         static_cast<long long>(cur.constValue()), static_cast<long long>(s[ax].constValue()), i);
      } else if (!cur.isConst() && s[ax].isConst()) {
        cur = s[ax];
      }
    }
  }
  Shape out;
  for (int label : spec.output) out.push_back(sizes[static_cast<size_t>(label)]);
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

// Common checks of Conv and ConvTranspose: X [N, C, spatial...], W [*, *, k...], optional B.
struct ConvShapes {
  size_t numSpatial = 0;
  std::vector<int64_t> kernelFromW;
  int64_t group = 1;
};

StatusOr<ConvShapes> checkConvInputs(const InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 3));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  if (!isFloatType(ctx.inType(0)))
    return ctx.error("data type %s is not supported (expected float32, float64, float16 or bfloat16)",
                     dataTypeName(ctx.inType(0)));
  const Shape& x = ctx.inShape(0);
  const Shape& w = ctx.inShape(1);
  if (x.size() < 3)
    return ctx.error("input X must have rank >= 3 ([N, C, spatial...]), got shape %s", shapeToString(x).c_str());
  if (w.size() != x.size())
    return ctx.error("weights W must have the rank of X (%zu), got shape %s", x.size(), shapeToString(w).c_str());
  ConvShapes cs;
  cs.numSpatial = x.size() - 2;
  if (w[0].isConst() == false || w[1].isConst() == false)
    return ctx.error("the first two dims of the weights must be known when the engine is built, got %s",
                     shapeToString(w).c_str());
  for (size_t i = 2; i < w.size(); ++i) {
    if (!w[i].isConst()) {
      cs.kernelFromW.clear();
      break;
    }
    cs.kernelFromW.push_back(w[i].constValue());
  }
  if (cs.kernelFromW.empty())
    return ctx.error("the spatial dims of the weights must be known when the engine is built, got %s",
                     shapeToString(w).c_str());
  cs.group = ctx.attrs().getInt("group", 1);
  if (cs.group < 1) return ctx.error("group must be >= 1, got %lld", static_cast<long long>(cs.group));
  return cs;
}

Status checkBias(const InferContext& ctx, int64_t outChannels) {
  if (!ctx.hasInput(2)) return Status::ok();
  const Shape& b = ctx.inShape(2);
  if (b.size() != 1 || constNe(b[0], DimExpr(outChannels)))
    return ctx.error("bias B must have shape [%lld] (one value per output channel), got %s",
                     static_cast<long long>(outChannels), shapeToString(b).c_str());
  return Status::ok();
}

// Conv: X [N, C, in...], W [M, C/group, k...] -> Y [N, M, out...], out per window_params.h.
Status inferConv(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ConvShapes cs, checkConvInputs(ctx));
  const Shape& x = ctx.inShape(0);
  const Shape& w = ctx.inShape(1);
  const int64_t m = w[0].constValue(), cPerGroup = w[1].constValue();
  if (m % cs.group != 0)
    return ctx.error("group=%lld does not divide the output channels %lld (W shape %s)",
                     static_cast<long long>(cs.group), static_cast<long long>(m), shapeToString(w).c_str());
  if (x[1].isConst() && x[1].constValue() != cPerGroup * cs.group) {
    if (x[1].constValue() % cs.group != 0)
      return ctx.error("group=%lld does not divide the input channels %lld", static_cast<long long>(cs.group),
                       static_cast<long long>(x[1].constValue()));
    return ctx.error("input channels mismatch: X %s has %lld channels but W %s expects %lld (W[1]=%lld x group=%lld)",
                     shapeToString(x).c_str(), static_cast<long long>(x[1].constValue()), shapeToString(w).c_str(),
                     static_cast<long long>(cPerGroup * cs.group), static_cast<long long>(cPerGroup),
                     static_cast<long long>(cs.group));
  }
  KILN_RETURN_IF_ERROR(checkBias(ctx, m));
  KILN_ASSIGN_OR_RETURN(WindowParams p,
                        parseWindowParams(ctx.attrs(), cs.numSpatial, cs.kernelFromW, false, ctx.node().describe()));
  Shape out{x[0], DimExpr(m)};
  for (size_t i = 0; i < cs.numSpatial; ++i) {
    out.push_back(windowOutputDim(p, i, x[i + 2]));
    if (out.back().isConst() && out.back().constValue() < 1)
      return ctx.error("the (dilated) kernel %lld is larger than the padded input on spatial axis %zu (input %s)",
                       static_cast<long long>(p.effectiveKernel(i)), i, shapeToString(x).c_str());
  }
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

// ConvTranspose: X [N, C, in...], W [C, M/group, k...] -> Y [N, M, out...].
Status inferConvTranspose(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ConvShapes cs, checkConvInputs(ctx));
  const Shape& x = ctx.inShape(0);
  const Shape& w = ctx.inShape(1);
  const int64_t c = w[0].constValue(), mPerGroup = w[1].constValue();
  if (c % cs.group != 0)
    return ctx.error("group=%lld does not divide the input channels %lld (W shape %s)",
                     static_cast<long long>(cs.group), static_cast<long long>(c), shapeToString(w).c_str());
  if (x[1].isConst() && x[1].constValue() != c)
    return ctx.error("input channels mismatch: X %s has %lld channels but W %s expects %lld (W[0])",
                     shapeToString(x).c_str(), static_cast<long long>(x[1].constValue()), shapeToString(w).c_str(),
                     static_cast<long long>(c));
  const int64_t m = mPerGroup * cs.group;
  KILN_RETURN_IF_ERROR(checkBias(ctx, m));
  KILN_ASSIGN_OR_RETURN(ConvTransposeParams p,
                        parseConvTransposeParams(ctx.attrs(), cs.numSpatial, cs.kernelFromW, ctx.node().describe()));
  Shape out{x[0], DimExpr(m)};
  for (size_t i = 0; i < cs.numSpatial; ++i) out.push_back(convTransposeOutputDim(p, i, x[i + 2]));
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

}  // namespace

void registerLinearShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kMatMul)] = &inferMatMul;
  t[static_cast<size_t>(OpKind::kGemm)] = &inferGemm;
  t[static_cast<size_t>(OpKind::kEinsum)] = &inferEinsum;
  t[static_cast<size_t>(OpKind::kConv)] = &inferConv;
  t[static_cast<size_t>(OpKind::kConvTranspose)] = &inferConvTranspose;
}

}  // namespace kiln::ir
