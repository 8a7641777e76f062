// Shape functions for the signal ops (see ops.def): DFT (opset 20 form), STFT, MelWeightMatrix.
//
// Their size inputs (dft_length, frame_step, frame_length, num_mel_bins) decide output shapes:
// they are read as element values (constants, or shape computations, which stay symbolic).
#include <string>

#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

// Input i is a graph input whose values are known only when the engine runs and have no symbols
// yet: the read is recorded (inInts), so the network marks it a shape tensor input and infers
// again with its symbolic values; until then each element stands as the symbol "<input>[k]".
bool pendingValues(const InferContext& ctx, size_t i, const char* what) {
  if (ctx.inValue(i) || !ctx.inDeferred(i)) return false;
  (void)ctx.inInts(i, what);
  return true;
}

// The value of a scalar (or one-element) int32/int64 size input, symbolic where the graph
// computes it from shapes or feeds it as a shape tensor input.
StatusOr<DimExpr> scalarDim(const InferContext& ctx, size_t i, const char* what) {
  if (!typeInSet(ctx.inType(i), kTypesSigned32_64))
    return ctx.error("%s has data type %s; expected int32 or int64", what,
                     dataTypeName(ctx.inType(i)));
  const Shape& s = ctx.inShape(i);
  const bool scalarLike = s.empty() || (s.size() == 1 && s[0].isConst() && s[0].constValue() == 1);
  if (!scalarLike)
    return ctx.error("%s must be a scalar, got shape %s", what, shapeToString(s).c_str());
  if (pendingValues(ctx, i, what)) return DimExpr::symbol(ctx.node().inputs[i]->name + "[0]");
  if (const auto* v = ctx.inValue(i)) {
    if (v->size() != 1) return ctx.error("%s must hold one value, got %zu", what, v->size());
    return (*v)[0];
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ints, ctx.inInts(i, what));
  if (ints.size() != 1) return ctx.error("%s must hold one value, got %zu", what, ints.size());
  return DimExpr(ints[0]);
}

Status checkPositive(const InferContext& ctx, const DimExpr& d, const char* what) {
  if (d.isConst() && d.constValue() < 1)
    return ctx.error("%s is %lld; expected >= 1", what, ll(d.constValue()));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// DFT (input [..., 1|2], dft_length?, axis?): the axis dim becomes n (dft_length, default the
// axis dim), or n/2+1 when onesided; the last dim becomes 2. Inverse onesided (irfft): the input
// holds n/2+1 bins of a Hermitian spectrum, the output is real: axis dim n (default
// 2 * (dim - 1)), last dim 1.
Status inferDFT(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 3));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "input"));
  const Shape& x = ctx.inShape(0);
  const int64_t r = ctx.inRank(0);
  if (r < 2)
    return ctx.error("input must have rank >= 2 ([..., 1] real or [..., 2] complex), got shape %s",
                     shapeToString(x).c_str());
  const DimExpr& last = x.back();
  if (last.isConst() && last.constValue() != 1 && last.constValue() != 2)
    return ctx.error("input's last dimension is %lld; expected 1 (real) or 2 (complex)",
                     ll(last.constValue()));
  const int64_t inverse = ctx.attrs().getInt("inverse", 0);
  const int64_t onesided = ctx.attrs().getInt("onesided", 0);
  if ((inverse != 0 && inverse != 1) || (onesided != 0 && onesided != 1))
    return ctx.error("inverse (%lld) and onesided (%lld) must be 0 or 1", ll(inverse),
                     ll(onesided));
  int64_t axis = -2;
  if (ctx.hasInput(2) && ctx.inDeferred(2)) {
    (void)ctx.inInts(2, "axis");  // records the read: the axis input becomes a shape tensor input
    // The axis is only known when the engine runs: every dim but the last may change.
    Shape out;
    for (size_t d = 0; d + 1 < x.size(); ++d) out.push_back(ctx.runtimeDim(0, d));
    out.push_back(DimExpr(inverse && onesided ? 1 : 2));
    ctx.setOutput(0, ctx.inType(0), out);
    return Status::ok();
  }
  if (ctx.hasInput(2)) {
    if (ctx.inType(2) != DataType::kINT64)
      return ctx.error("axis has data type %s; expected int64", dataTypeName(ctx.inType(2)));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> a, ctx.inInts(2, "axis"));
    if (a.size() != 1) return ctx.error("axis must be a scalar, got %zu values", a.size());
    axis = a[0];
  }
  if (axis < -r || axis > r - 2 || axis == -1)
    return ctx.error(
        "axis %lld is out of range for rank %lld (valid: [%lld, -2] and [0, %lld]; the last "
        "dimension holds real and imaginary parts)",
        ll(axis), ll(r), ll(-r), ll(r - 2));
  if (axis < 0) axis += r;
  const DimExpr& dim = x[static_cast<size_t>(axis)];
  Shape out = x;
  if (inverse && onesided) {
    DimExpr n = DimExpr(2) * (dim - DimExpr(1));
    if (ctx.hasInput(1)) {
      KILN_ASSIGN_OR_RETURN(n, scalarDim(ctx, 1, "dft_length"));
    }
    KILN_RETURN_IF_ERROR(checkPositive(ctx, n, "the inverse one-sided DFT's length"));
    out[static_cast<size_t>(axis)] = n;
    out.back() = DimExpr(1);
  } else {
    DimExpr n = dim;
    if (ctx.hasInput(1)) {
      KILN_ASSIGN_OR_RETURN(n, scalarDim(ctx, 1, "dft_length"));
    }
    KILN_RETURN_IF_ERROR(checkPositive(ctx, n, "dft_length"));
    out[static_cast<size_t>(axis)] = onesided ? floorDiv(n, DimExpr(2)) + DimExpr(1) : n;
    out.back() = DimExpr(2);
  }
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// STFT (signal [B, L, 1|2], frame_step, window? [W], frame_length?) -> [B, frames, bins, 2]:
// frame_length defaults to W, else L; frames = 1 + (L - frame_length) / frame_step;
// bins = frame_length / 2 + 1 when onesided (default), else frame_length.
Status inferSTFT(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 4));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "signal"));
  const Shape& x = ctx.inShape(0);
  if (x.size() != 3)
    return ctx.error("signal must have rank 3 ([batch, length, 1|2]), got shape %s",
                     shapeToString(x).c_str());
  if (x[2].isConst() && x[2].constValue() != 1 && x[2].constValue() != 2)
    return ctx.error("signal's last dimension is %lld; expected 1 (real) or 2 (complex)",
                     ll(x[2].constValue()));
  const int64_t onesided = ctx.attrs().getInt("onesided", 1);
  if (onesided != 0 && onesided != 1)
    return ctx.error("onesided (%lld) must be 0 or 1", ll(onesided));
  KILN_ASSIGN_OR_RETURN(DimExpr step, scalarDim(ctx, 1, "frame_step"));
  KILN_RETURN_IF_ERROR(checkPositive(ctx, step, "frame_step"));
  DimExpr len = x[1];
  if (ctx.hasInput(2)) {
    if (ctx.inType(2) != ctx.inType(0))
      return ctx.error("window has data type %s; expected the signal's %s",
                       dataTypeName(ctx.inType(2)), dataTypeName(ctx.inType(0)));
    if (ctx.inRank(2) != 1)
      return ctx.error("window must have rank 1, got shape %s",
                       shapeToString(ctx.inShape(2)).c_str());
    len = ctx.inShape(2)[0];
  }
  if (ctx.hasInput(3)) {
    KILN_ASSIGN_OR_RETURN(len, scalarDim(ctx, 3, "frame_length"));
    if (ctx.hasInput(2)) {
      const DimExpr& w = ctx.inShape(2)[0];
      if (w.isConst() && len.isConst() && w.constValue() != len.constValue())
        return ctx.error("window has %lld elements but frame_length is %lld", ll(w.constValue()),
                         ll(len.constValue()));
    }
  }
  KILN_RETURN_IF_ERROR(checkPositive(ctx, len, "frame_length"));
  if (len.isConst() && x[1].isConst() && len.constValue() > x[1].constValue())
    return ctx.error("frame_length %lld is longer than the signal (%lld samples)",
                     ll(len.constValue()), ll(x[1].constValue()));
  const DimExpr frames = floorDiv(x[1] - len, step) + DimExpr(1);
  const DimExpr bins = onesided ? floorDiv(len, DimExpr(2)) + DimExpr(1) : len;
  ctx.setOutput(0, ctx.inType(0), {x[0], frames, bins, DimExpr(2)});
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// MelWeightMatrix -> [dft_length / 2 + 1, num_mel_bins] of type output_datatype (Kiln numbering,
// default float32).
Status inferMelWeightMatrix(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(5, 5));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  KILN_ASSIGN_OR_RETURN(DimExpr bins, scalarDim(ctx, 0, "num_mel_bins"));
  KILN_ASSIGN_OR_RETURN(DimExpr n, scalarDim(ctx, 1, "dft_length"));
  KILN_RETURN_IF_ERROR(checkPositive(ctx, bins, "num_mel_bins"));
  KILN_RETURN_IF_ERROR(checkPositive(ctx, n, "dft_length"));
  if (!typeInSet(ctx.inType(2), kTypesSigned32_64))
    return ctx.error("sample_rate has data type %s; expected int32 or int64",
                     dataTypeName(ctx.inType(2)));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 3, "lower_edge_hertz"));
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 4, "upper_edge_hertz"));
  for (size_t i = 2; i < 5; ++i) {
    const Shape& s = ctx.inShape(i);
    if (!(s.empty() || (s.size() == 1 && s[0].isConst() && s[0].constValue() == 1)))
      return ctx.error("input %zu must be a scalar, got shape %s", i, shapeToString(s).c_str());
  }
  const int64_t dt = ctx.attrs().getInt("output_datatype", static_cast<int64_t>(DataType::kFLOAT));
  const DataType out = static_cast<DataType>(dt);
  // dt may be any number: compared, never used as a shift count (typeInSet).
  const bool ok = out == DataType::kFLOAT || out == DataType::kDOUBLE || out == DataType::kHALF ||
                  out == DataType::kBF16 || out == DataType::kINT8 || out == DataType::kUINT8 ||
                  out == DataType::kINT16 || out == DataType::kUINT16 || out == DataType::kINT32 ||
                  out == DataType::kUINT32 || out == DataType::kINT64 || out == DataType::kUINT64;
  if (!ok) return ctx.error("output_datatype %lld is not a float or integer type", ll(dt));
  ctx.setOutput(0, out, {floorDiv(n, DimExpr(2)) + DimExpr(1), bins});
  return Status::ok();
}

}  // namespace

void registerSignalShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kDFT)] = inferDFT;
  t[static_cast<size_t>(OpKind::kSTFT)] = inferSTFT;
  t[static_cast<size_t>(OpKind::kMelWeightMatrix)] = inferMelWeightMatrix;
}

}  // namespace kiln::ir
