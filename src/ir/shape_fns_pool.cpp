// Shape functions for the Pool family (see ops.def).
#include "ir/shape_inference.h"
#include "ir/window_params.h"

namespace kiln::ir {

namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF || t == DataType::kBF16;
}

Status checkPoolInput(const InferContext& ctx, bool allowInt8) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  const DataType t = ctx.inType(0);
  const bool ok = isFloatType(t) || (allowInt8 && (t == DataType::kINT8 || t == DataType::kUINT8));
  if (!ok)
    return ctx.error("data type %s is not supported (expected float32, float64, float16, bfloat16%s)",
                     dataTypeName(t), allowInt8 ? ", int8 or uint8" : "");
  if (ctx.inRank(0) < 3)
    return ctx.error("input X must have rank >= 3 ([N, C, spatial...]), got shape %s",
                     shapeToString(ctx.inShape(0)).c_str());
  return Status::ok();
}

// MaxPool / AveragePool: Y [N, C, out...] with out per window_params.h; MaxPool's optional second
// output holds int64 flat indices of the maxima.
Status inferWindowPool(InferContext& ctx) {
  const bool isMax = ctx.node().op == OpKind::kMaxPool;
  KILN_RETURN_IF_ERROR(checkPoolInput(ctx, isMax));
  const Shape& x = ctx.inShape(0);
  const size_t nsp = x.size() - 2;
  KILN_ASSIGN_OR_RETURN(WindowParams p, parseWindowParams(ctx.attrs(), nsp, {}, true, ctx.node().describe()));
  if (isMax) {
    const int64_t so = ctx.attrs().getInt("storage_order", 0);
    if (so != 0 && so != 1)
      return ctx.error("storage_order must be 0 (row major) or 1 (column major), got %lld", static_cast<long long>(so));
    if (ctx.numOutputs() > 2) return ctx.error("has at most 2 outputs (Y, Indices), got %zu", ctx.numOutputs());
  } else {
    const int64_t cip = ctx.attrs().getInt("count_include_pad", 0);
    if (cip != 0 && cip != 1)
      return ctx.error("count_include_pad must be 0 or 1, got %lld", static_cast<long long>(cip));
    if (ctx.numOutputs() != 1) return ctx.error("has exactly 1 output, got %zu", ctx.numOutputs());
  }
  for (size_t i = 0; i < 2 * nsp && p.autoPad == AutoPad::kNotSet; ++i) {
    // A pad as wide as the window would make windows that see only padding.
    if (p.pads[i] >= p.effectiveKernel(i % nsp))
      return ctx.error("pads must be smaller than the (dilated) kernel, got pad %lld for kernel %lld on axis %zu",
                       static_cast<long long>(p.pads[i]), static_cast<long long>(p.effectiveKernel(i % nsp)),
                       i % nsp);
  }
  Shape out{x[0], x[1]};
  for (size_t i = 0; i < nsp; ++i) {
    out.push_back(windowOutputDim(p, i, x[i + 2]));
    if (out.back().isConst() && out.back().constValue() < 1)
      return ctx.error("the (dilated) kernel %lld is larger than the padded input on spatial axis %zu (input %s)",
                       static_cast<long long>(p.effectiveKernel(i)), i, shapeToString(x).c_str());
  }
  ctx.setOutput(0, ctx.inType(0), out);
  if (ctx.numOutputs() == 2) ctx.setOutput(1, DataType::kINT64, out);
  return Status::ok();
}

// GlobalAveragePool / GlobalMaxPool: Y [N, C, 1, ...].
Status inferGlobalPool(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(checkPoolInput(ctx, false));
  const Shape& x = ctx.inShape(0);
  Shape out{x[0], x[1]};
  out.resize(x.size(), DimExpr(1));
  ctx.setOutput(0, ctx.inType(0), std::move(out));
  return Status::ok();
}

}  // namespace

void registerPoolShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kMaxPool)] = &inferWindowPool;
  t[static_cast<size_t>(OpKind::kAveragePool)] = &inferWindowPool;
  t[static_cast<size_t>(OpKind::kGlobalAveragePool)] = &inferGlobalPool;
  t[static_cast<size_t>(OpKind::kGlobalMaxPool)] = &inferGlobalPool;
}

}  // namespace kiln::ir
