// Shape functions for the ShapeOp family (see ops.def).
//
// These ops carry the shape arithmetic of exported models (Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape), so besides output shapes they propagate the element values of small
// integer tensors as DimExprs (ValueInfo::value): a Reshape whose target was computed from
// Shape(x) still sees `batch` rather than an unknown, and the whole chain stays symbolic.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

bool isIndexType(DataType t) { return t == DataType::kINT32 || t == DataType::kINT64; }
bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
         t == DataType::kBF16;
}

// Element values of input i when they are known and the input's shape is static (so flat
// positions can be mapped), else null.
const std::vector<DimExpr>* knownValues(const InferContext& ctx, size_t i) {
  if (!ctx.hasInput(i)) return nullptr;
  const std::vector<DimExpr>* v = ctx.inValue(i);
  if (!v || !isStatic(ctx.inShape(i))) return nullptr;
  if (static_cast<int64_t>(v->size()) != volumeOf(staticDims(ctx.inShape(i)))) return nullptr;
  return v;
}

// Whether an output of this type and shape may carry element values.
bool canCarryValues(DataType dt, const Shape& s) {
  return isIndexType(dt) && isStatic(s) && volumeOf(staticDims(s)) <= kMaxShapeValueElements;
}

// True when `e` is certainly >= 0: constants >= 0, symbols (dimensions are never negative) and
// sums, products, quotients, max and min of such.
bool knownNonNegative(const DimExpr& e) {
  switch (e.kind()) {
    case DimExpr::Kind::kConst: return e.constValue() >= 0;
    case DimExpr::Kind::kSymbol: return true;
    case DimExpr::Kind::kAdd:
    case DimExpr::Kind::kMul:
    case DimExpr::Kind::kFloorDiv:
    case DimExpr::Kind::kCeilDiv:
    case DimExpr::Kind::kMax:
    case DimExpr::Kind::kMin: return knownNonNegative(e.lhs()) && knownNonNegative(e.rhs());
    case DimExpr::Kind::kMod: return knownNonNegative(e.lhs()) && knownNonNegative(e.rhs());
    case DimExpr::Kind::kSub: return false;
  }
  return false;
}

// max(e, 0), dropping the max when e is known to be non-negative.
DimExpr clampNonNegative(const DimExpr& e) { return knownNonNegative(e) ? e : dimMax(e, 0); }

// Product factors of e (e = f0 * f1 * ...).
void mulFactors(const DimExpr& e, std::vector<DimExpr>* out) {
  if (e.kind() == DimExpr::Kind::kMul) {
    mulFactors(e.lhs(), out);
    mulFactors(e.rhs(), out);
  } else {
    out->push_back(e);
  }
}

// num / den for a division that is exact when the shapes are valid (Reshape's -1): cancels
// factors common to both products first, so [batch*seq*8] / [batch] becomes seq*8 rather than
// floordiv(batch*seq*8, batch). Cancelling a positive factor a keeps floor(a*x / (a*y)) =
// floor(x / y), so the result is exact whenever the dims are positive.
DimExpr divideProducts(const DimExpr& num, const DimExpr& den) {
  std::vector<DimExpr> nf, df;
  mulFactors(num, &nf);
  mulFactors(den, &df);
  int64_t nc = 1, dc = 1;
  std::vector<DimExpr> ns, ds;
  for (const DimExpr& f : nf) {
    if (f.isConst()) {
      nc *= f.constValue();
    } else {
      ns.push_back(f);
    }
  }
  for (const DimExpr& f : df) {
    if (f.isConst()) {
      dc *= f.constValue();
      continue;
    }
    auto it = std::find_if(ns.begin(), ns.end(), [&](const DimExpr& g) { return g.equals(f); });
    if (it != ns.end()) {
      ns.erase(it);
    } else {
      ds.push_back(f);
    }
  }
  if (nc != 0 && dc != 0) {
    int64_t g = std::gcd(nc, dc);
    nc /= g;
    dc /= g;
  }
  DimExpr n(nc), d(dc);
  for (const DimExpr& f : ns) n = n * f;
  for (const DimExpr& f : ds) d = d * f;
  return floorDiv(n, d);
}

// Axes from input `i` (newest opsets) or the `axes` attribute (older ones); `present` says
// whether either was given.
StatusOr<std::vector<int64_t>> axesInputOrAttr(const InferContext& ctx, size_t i, bool* present) {
  *present = true;
  if (ctx.hasInput(i)) return ctx.inInts(i, "axes");
  if (ctx.attrs().has("axes")) return ctx.attrs().getInts("axes");
  *present = false;
  return std::vector<int64_t>{};
}

Status expectShapeVector(const InferContext& ctx, size_t i, const char* what) {
  if (!isIndexType(ctx.inType(i)))
    return ctx.error("%s (input %zu) must be int64, got %s", what, i, dataTypeName(ctx.inType(i)));
  if (ctx.inRank(i) != 1)
    return ctx.error("%s (input %zu) must be a 1-D tensor, got shape %s", what, i,
                     shapeToString(ctx.inShape(i)).c_str());
  return Status::ok();
}

// Passes input 0's values through unchanged (reshape-like ops keep the flat order).
void passValues(InferContext& ctx, DataType dt, const Shape& out) {
  const auto* v = knownValues(ctx, 0);
  if (v && canCarryValues(dt, out)) ctx.setOutputValue(0, *v);
}

// --- Reshape, Flatten, Squeeze, Unsqueeze, Transpose -----------------------------------------

Status inferReshape(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(expectShapeVector(ctx, 1, "shape"));
  const Shape& in = ctx.inShape(0);
  const bool allowZero = ctx.attrs().getInt("allowzero", 0) != 0;
  std::vector<DimExpr> target;
  if (const auto* v = ctx.inValue(1)) {
    target = *v;
  } else {
    KILN_ASSIGN_OR_RETURN(auto ints, ctx.inInts(1, "the target shape"));
    target.assign(ints.begin(), ints.end());
  }
  Shape out(target.size());
  int inferred = -1;
  DimExpr known(1);
  for (size_t i = 0; i < target.size(); ++i) {
    const DimExpr& t = target[i];
    if (t.isConst() && t.constValue() == -1) {
      if (inferred >= 0) return ctx.error("the target shape has more than one -1");
      inferred = static_cast<int>(i);
      continue;
    }
    if (t.isConst() && t.constValue() < -1)
      return ctx.error("target dim %zu is %lld; dims must be >= -1", i,
                       static_cast<long long>(t.constValue()));
    if (t.isConst() && t.constValue() == 0 && !allowZero) {
      // 0 copies the input dim at the same position.
      if (i >= in.size())
        return ctx.error("target dim %zu is 0 (copy the input dim) but the input has rank %zu",
                         i, in.size());
      out[i] = in[i];
    } else {
      out[i] = t;
    }
    known = known * out[i];
  }
  const DimExpr volume = shapeVolume(in);
  if (inferred >= 0) {
    if (known.isConst() && known.constValue() == 0)
      return ctx.error("cannot infer the -1 dim of target shape %s: the other dims multiply "
                       "to 0",
                       shapeToString(target).c_str());
    if (volume.isConst() && known.isConst() && volume.constValue() % known.constValue() != 0)
      return ctx.error("cannot reshape %s (%lld elements) to %s: %lld is not divisible by %lld",
                       shapeToString(in).c_str(), static_cast<long long>(volume.constValue()),
                       shapeToString(target).c_str(), static_cast<long long>(volume.constValue()),
                       static_cast<long long>(known.constValue()));
    out[static_cast<size_t>(inferred)] = divideProducts(volume, known);
  } else if (volume.isConst() && known.isConst() && volume.constValue() != known.constValue()) {
    return ctx.error("cannot reshape %s (%lld elements) to %s (%lld elements)",
                     shapeToString(in).c_str(), static_cast<long long>(volume.constValue()),
                     shapeToString(out).c_str(), static_cast<long long>(known.constValue()));
  }
  ctx.setOutput(0, ctx.inType(0), out);
  passValues(ctx, ctx.inType(0), out);
  return Status::ok();
}

Status inferFlatten(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  int64_t axis = ctx.attrs().getInt("axis", 1);
  if (axis < -rank || axis > rank)
    return ctx.error("axis %lld is out of range for rank %lld (valid: [%lld, %lld])",
                     static_cast<long long>(axis), static_cast<long long>(rank),
                     static_cast<long long>(-rank), static_cast<long long>(rank));
  if (axis < 0) axis += rank;
  Shape head(in.begin(), in.begin() + axis), tail(in.begin() + axis, in.end());
  Shape out{shapeVolume(head), shapeVolume(tail)};
  ctx.setOutput(0, ctx.inType(0), out);
  passValues(ctx, ctx.inType(0), out);
  return Status::ok();
}

Status inferSqueeze(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 2));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  bool present = false;
  KILN_ASSIGN_OR_RETURN(auto axes, axesInputOrAttr(ctx, 1, &present));
  std::vector<bool> drop(static_cast<size_t>(rank), false);
  if (present) {
    for (int64_t a : axes) {
      KILN_ASSIGN_OR_RETURN(int64_t ax, ctx.normalizeAxis(a, rank, "squeeze axis"));
      const DimExpr& d = in[static_cast<size_t>(ax)];
      // A symbolic dim is taken to be 1; run-time inference re-checks it as a constant.
      if (d.isConst() && d.constValue() != 1)
        return ctx.error("cannot squeeze axis %lld of shape %s: its size is %lld, not 1",
                         static_cast<long long>(a), shapeToString(in).c_str(),
                         static_cast<long long>(d.constValue()));
      drop[static_cast<size_t>(ax)] = true;
    }
  } else {
    for (int64_t i = 0; i < rank; ++i) {
      const DimExpr& d = in[static_cast<size_t>(i)];
      if (!d.isConst())
        return ctx.unsupportedError("Squeeze without axes must know which dims are 1, but dim %lld of %s "
                         "is symbolic; give the axes explicitly",
                         static_cast<long long>(i), shapeToString(in).c_str());
      drop[static_cast<size_t>(i)] = d.constValue() == 1;
    }
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[static_cast<size_t>(i)]) out.push_back(in[static_cast<size_t>(i)]);
  ctx.setOutput(0, ctx.inType(0), out);
  passValues(ctx, ctx.inType(0), out);
  return Status::ok();
}

Status inferUnsqueeze(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 2));
  const Shape& in = ctx.inShape(0);
  bool present = false;
  KILN_ASSIGN_OR_RETURN(auto axes, axesInputOrAttr(ctx, 1, &present));
  if (!present) return ctx.error("axes are required");
  const int64_t outRank = ctx.inRank(0) + static_cast<int64_t>(axes.size());
  std::vector<bool> isNew(static_cast<size_t>(outRank), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t ax, ctx.normalizeAxis(a, outRank, "unsqueeze axis"));
    if (isNew[static_cast<size_t>(ax)])
      return ctx.error("axis %lld appears more than once in axes", static_cast<long long>(a));
    isNew[static_cast<size_t>(ax)] = true;
  }
  Shape out;
  size_t k = 0;
  for (int64_t i = 0; i < outRank; ++i) out.push_back(isNew[static_cast<size_t>(i)] ? DimExpr(1) : in[k++]);
  ctx.setOutput(0, ctx.inType(0), out);
  passValues(ctx, ctx.inType(0), out);
  return Status::ok();
}

Status inferTranspose(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  std::vector<int64_t> perm = ctx.attrs().getInts("perm");
  if (perm.empty() && !ctx.attrs().has("perm")) {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  if (static_cast<int64_t>(perm.size()) != rank)
    return ctx.error("perm has %zu entries but the input has rank %lld", perm.size(),
                     static_cast<long long>(rank));
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[static_cast<size_t>(p)])
      return ctx.error("perm must be a permutation of [0, %lld), got an invalid or repeated "
                       "entry %lld",
                       static_cast<long long>(rank), static_cast<long long>(p));
    seen[static_cast<size_t>(p)] = true;
    out.push_back(in[static_cast<size_t>(p)]);
  }
  ctx.setOutput(0, ctx.inType(0), out);
  if (rank <= 1) passValues(ctx, ctx.inType(0), out);
  return Status::ok();
}

// --- Concat, Split, Slice, Gather, GatherElements ---------------------------------------------

Status inferConcat(InferContext& ctx) {
  if (ctx.numInputs() < 1) return ctx.error("expects at least 1 input");
  KILN_RETURN_IF_ERROR(ctx.expectInputs(ctx.numInputs(), ctx.numInputs()));
  const DataType dt = ctx.inType(0);
  const int64_t rank = ctx.inRank(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", 0), rank));
  Shape out = ctx.inShape(0);
  for (size_t i = 1; i < ctx.numInputs(); ++i) {
    if (ctx.inType(i) != dt)
      return ctx.error("input %zu has type %s but input 0 has %s", i, dataTypeName(ctx.inType(i)),
                       dataTypeName(dt));
    const Shape& s = ctx.inShape(i);
    if (static_cast<int64_t>(s.size()) != rank)
      return ctx.error("input %zu has rank %zu but input 0 has rank %lld (shapes %s and %s)", i,
                       s.size(), static_cast<long long>(rank), shapeToString(s).c_str(),
                       shapeToString(ctx.inShape(0)).c_str());
    for (int64_t d = 0; d < rank; ++d) {
      const size_t du = static_cast<size_t>(d);
      if (d == axis) {
        out[du] = out[du] + s[du];
        continue;
      }
      if (out[du].isConst() && s[du].isConst() && out[du].constValue() != s[du].constValue())
        return ctx.error("input %zu has shape %s, which differs from input 0's %s in dim %lld "
                         "(only the concat axis %lld may differ)",
                         i, shapeToString(s).c_str(), shapeToString(ctx.inShape(0)).c_str(),
                         static_cast<long long>(d), static_cast<long long>(axis));
      if (!out[du].isConst() && s[du].isConst()) out[du] = s[du];  // the constant is the fact
    }
  }
  ctx.setOutput(0, dt, out);
  if (!canCarryValues(dt, out)) return Status::ok();
  // Values: for each outer position, each input contributes its block of dims[axis:].
  std::vector<const std::vector<DimExpr>*> vals;
  for (size_t i = 0; i < ctx.numInputs(); ++i) {
    vals.push_back(knownValues(ctx, i));
    if (!vals.back()) return Status::ok();
  }
  const std::vector<int64_t> od = staticDims(out);
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= od[static_cast<size_t>(d)];
  std::vector<DimExpr> result;
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t i = 0; i < vals.size(); ++i) {
      const int64_t block = static_cast<int64_t>(vals[i]->size()) / std::max<int64_t>(outer, 1);
      for (int64_t k = 0; k < block; ++k) result.push_back((*vals[i])[static_cast<size_t>(o * block + k)]);
    }
  }
  ctx.setOutputValue(0, std::move(result));
  return Status::ok();
}

Status inferSplit(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 2));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", 0), rank));
  const DimExpr dim = in[static_cast<size_t>(axis)];
  const size_t n = ctx.numOutputs();
  if (n == 0) return ctx.error("has no outputs");
  std::vector<DimExpr> sizes;
  if (ctx.hasInput(1)) {
    KILN_ASSIGN_OR_RETURN(auto split, ctx.inInts(1, "split"));
    if (split.size() != n)
      return ctx.error("split has %zu entries but the node has %zu outputs", split.size(), n);
    int64_t total = 0;
    for (int64_t s : split) {
      if (s < 0) return ctx.error("split sizes must be >= 0, got %lld", static_cast<long long>(s));
      total += s;
      sizes.emplace_back(s);
    }
    if (dim.isConst() && dim.constValue() != total)
      return ctx.error("split sizes sum to %lld but axis %lld has size %lld",
                       static_cast<long long>(total), static_cast<long long>(axis),
                       static_cast<long long>(dim.constValue()));
  } else {
    const int64_t numOutputs = ctx.attrs().getInt("num_outputs", static_cast<int64_t>(n));
    if (numOutputs != static_cast<int64_t>(n))
      return ctx.error("num_outputs is %lld but the node has %zu outputs",
                       static_cast<long long>(numOutputs), n);
    // Opset 18: chunks of ceil(dim / n); the last one takes what is left (may be smaller).
    const DimExpr chunk = ceilDiv(dim, static_cast<int64_t>(n));
    for (size_t i = 0; i + 1 < n; ++i) sizes.push_back(chunk);
    DimExpr last = dim - chunk * static_cast<int64_t>(n - 1);
    if (last.isConst() && last.constValue() < 0)
      return ctx.error("cannot split axis %lld of size %lld into %zu parts",
                       static_cast<long long>(axis), static_cast<long long>(dim.constValue()), n);
    sizes.push_back(last);
  }
  const auto* v = (rank == 1) ? knownValues(ctx, 0) : nullptr;
  int64_t offset = 0;
  for (size_t i = 0; i < n; ++i) {
    Shape out = in;
    out[static_cast<size_t>(axis)] = sizes[i];
    ctx.setOutput(i, ctx.inType(0), out);
    if (v && sizes[i].isConst()) {
      const int64_t len = sizes[i].constValue();
      ctx.setOutputValue(i, std::vector<DimExpr>(v->begin() + offset, v->begin() + offset + len));
      offset += len;
    }
  }
  return Status::ok();
}

// Slice along one axis of size d with constant start/end/step (ONNX clamping rules):
//   step > 0: start, end (negative += d) clamped to [0, d]; len = max(0, ceil((end-start)/step))
//   step < 0: start, end (negative += d) clamped to [-1, d-1]; len = max(0, ceil((start-end)/-step))
// Symbolic start/end values (computed from shapes) are taken as non-negative.
struct SliceDim {
  DimExpr start;
  DimExpr len;
};

SliceDim sliceDim(const DimExpr& d, const DimExpr& s, const DimExpr& e, int64_t step) {
  auto clampPos = [&](const DimExpr& v) -> DimExpr {
    if (!v.isConst()) return dimMin(v, d);
    const int64_t c = v.constValue();
    if (c >= std::numeric_limits<int64_t>::max() / 2) return d;  // "to the end"
    if (c >= 0) return dimMin(DimExpr(c), d);  // folds when d is constant
    if (d.isConst()) return std::max<int64_t>(0, c + d.constValue());
    if (c <= std::numeric_limits<int64_t>::min() / 2) return DimExpr(0);
    return dimMax(d + c, 0);
  };
  if (step > 0) {
    DimExpr cs = clampPos(s), ce = clampPos(e);
    return {cs, clampNonNegative(ceilDiv(ce - cs, step))};
  }
  // Negative steps (constants only: start/end from shapes with a reverse step are rare). Like
  // Python's slice.indices, both bounds clamp to [-1, d-1]; a start of -1 gives an empty slice
  // (this also keeps d = 0 empty, where [0, d-1] would be an empty interval).
  auto clampNeg = [&](const DimExpr& v) -> DimExpr {
    const int64_t c = v.constValue();
    if (c < 0) return c <= std::numeric_limits<int64_t>::min() / 2 ? DimExpr(-1) : dimMax(d + c, -1);
    return dimMin(DimExpr(c), d - 1);
  };
  DimExpr cs = clampNeg(s), ce = clampNeg(e);
  return {cs, clampNonNegative(ceilDiv(cs - ce, -step))};
}

Status inferSlice(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 5));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  auto exprs = [&](size_t i, const char* what) -> StatusOr<std::vector<DimExpr>> {
    if (const auto* v = ctx.inValue(i)) return *v;
    KILN_ASSIGN_OR_RETURN(auto ints, ctx.inInts(i, what));
    return std::vector<DimExpr>(ints.begin(), ints.end());
  };
  KILN_ASSIGN_OR_RETURN(auto starts, exprs(1, "starts"));
  KILN_ASSIGN_OR_RETURN(auto ends, exprs(2, "ends"));
  if (starts.size() != ends.size())
    return ctx.error("starts has %zu entries but ends has %zu", starts.size(), ends.size());
  std::vector<int64_t> axes, steps;
  if (ctx.hasInput(3)) {
    KILN_ASSIGN_OR_RETURN(axes, ctx.inInts(3, "axes"));
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (ctx.hasInput(4)) {
    KILN_ASSIGN_OR_RETURN(steps, ctx.inInts(4, "steps"));
  } else {
    steps.assign(starts.size(), 1);
  }
  if (axes.size() != starts.size() || steps.size() != starts.size())
    return ctx.error("starts, ends, axes and steps must have the same length (got %zu, %zu, "
                     "%zu, %zu)",
                     starts.size(), ends.size(), axes.size(), steps.size());
  Shape out = in;
  std::vector<SliceDim> per(static_cast<size_t>(rank), SliceDim{DimExpr(0), DimExpr(0)});
  std::vector<int64_t> stepOf(static_cast<size_t>(rank), 1);
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t i = 0; i < rank; ++i) per[static_cast<size_t>(i)] = {DimExpr(0), in[static_cast<size_t>(i)]};
  for (size_t k = 0; k < axes.size(); ++k) {
    KILN_ASSIGN_OR_RETURN(int64_t ax, ctx.normalizeAxis(axes[k], rank, "slice axis"));
    const size_t au = static_cast<size_t>(ax);
    if (seen[au]) return ctx.error("axis %lld is sliced more than once", static_cast<long long>(axes[k]));
    seen[au] = true;
    if (steps[k] == 0) return ctx.error("steps must not be 0 (axis %lld)", static_cast<long long>(ax));
    if (steps[k] < 0 && (!starts[k].isConst() || !ends[k].isConst()))
      return ctx.unsupportedError("a negative step needs constant starts and ends");
    per[au] = sliceDim(in[au], starts[k], ends[k], steps[k]);
    stepOf[au] = steps[k];
    out[au] = per[au].len;
  }
  ctx.setOutput(0, ctx.inType(0), out);
  const auto* v = knownValues(ctx, 0);
  if (v && rank == 1 && canCarryValues(ctx.inType(0), out) && per[0].start.isConst()) {
    std::vector<DimExpr> r;
    const int64_t len = out[0].constValue(), s = per[0].start.constValue();
    for (int64_t j = 0; j < len; ++j) r.push_back((*v)[static_cast<size_t>(s + j * stepOf[0])]);
    ctx.setOutputValue(0, std::move(r));
  }
  return Status::ok();
}

Status inferGather(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  if (!isIndexType(ctx.inType(1)))
    return ctx.error("indices must be int32 or int64, got %s", dataTypeName(ctx.inType(1)));
  const Shape& data = ctx.inShape(0);
  const Shape& idx = ctx.inShape(1);
  const int64_t rank = ctx.inRank(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", 0), rank));
  Shape out(data.begin(), data.begin() + axis);
  out.insert(out.end(), idx.begin(), idx.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  ctx.setOutput(0, ctx.inType(0), out);

  // Known indices are checked now; others are checked by the kernel.
  const DimExpr& n = data[static_cast<size_t>(axis)];
  const auto* iv = knownValues(ctx, 1);
  if (iv && n.isConst()) {
    for (const DimExpr& e : *iv) {
      if (e.isConst() && (e.constValue() < -n.constValue() || e.constValue() >= n.constValue()))
        return ctx.error("index %lld is out of range for axis %lld of size %lld",
                         static_cast<long long>(e.constValue()), static_cast<long long>(axis),
                         static_cast<long long>(n.constValue()));
    }
  }
  const auto* dv = knownValues(ctx, 0);
  if (!dv || !iv || !canCarryValues(ctx.inType(0), out)) return Status::ok();
  for (const DimExpr& e : *iv)
    if (!e.isConst()) return Status::ok();
  const std::vector<int64_t> dd = staticDims(data);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= dd[static_cast<size_t>(i)];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= dd[static_cast<size_t>(i)];
  const int64_t nn = dd[static_cast<size_t>(axis)];
  std::vector<DimExpr> r;
  for (int64_t o = 0; o < outer; ++o) {
    for (const DimExpr& e : *iv) {
      int64_t j = e.constValue();
      if (j < 0) j += nn;
      for (int64_t k = 0; k < inner; ++k) r.push_back((*dv)[static_cast<size_t>((o * nn + j) * inner + k)]);
    }
  }
  ctx.setOutputValue(0, std::move(r));
  return Status::ok();
}

Status inferGatherElements(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  if (!isIndexType(ctx.inType(1)))
    return ctx.error("indices must be int32 or int64, got %s", dataTypeName(ctx.inType(1)));
  const int64_t rank = ctx.inRank(0);
  if (ctx.inRank(1) != rank)
    return ctx.error("indices must have the data's rank %lld, got shape %s",
                     static_cast<long long>(rank), shapeToString(ctx.inShape(1)).c_str());
  KILN_RETURN_IF_ERROR(ctx.normalizeAxis(ctx.attrs().getInt("axis", 0), rank).status());
  ctx.setOutput(0, ctx.inType(0), ctx.inShape(1));
  return Status::ok();
}

// --- Expand, Tile, Pad --------------------------------------------------------------------------

StatusOr<std::vector<DimExpr>> shapeLikeValues(const InferContext& ctx, size_t i, const char* what) {
  if (const auto* v = ctx.inValue(i)) return *v;
  KILN_ASSIGN_OR_RETURN(auto ints, ctx.inInts(i, what));
  return std::vector<DimExpr>(ints.begin(), ints.end());
}

// Values of a broadcast/tiled result when the input's values are known: out[o] = in[map(o)].
void propagateByIndex(InferContext& ctx, const Shape& out,
                      const std::function<int64_t(const std::vector<int64_t>&)>& srcIndex) {
  const auto* v = knownValues(ctx, 0);
  if (!v || !canCarryValues(ctx.inType(0), out)) return;
  const std::vector<int64_t> od = staticDims(out);
  std::vector<int64_t> coord(od.size(), 0);
  std::vector<DimExpr> r;
  const int64_t total = volumeOf(od);
  for (int64_t k = 0; k < total; ++k) {
    r.push_back((*v)[static_cast<size_t>(srcIndex(coord))]);
    for (size_t a = od.size(); a-- > 0;) {
      if (++coord[a] < od[a]) break;
      coord[a] = 0;
    }
  }
  ctx.setOutputValue(0, std::move(r));
}

Status inferExpand(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(expectShapeVector(ctx, 1, "shape"));
  KILN_ASSIGN_OR_RETURN(auto target, shapeLikeValues(ctx, 1, "the expand shape"));
  for (const DimExpr& d : target)
    if (d.isConst() && d.constValue() < 0)
      return ctx.error("the expand shape %s has a negative dim", shapeToString(target).c_str());
  KILN_ASSIGN_OR_RETURN(Shape out, broadcastShapes(ctx, ctx.inShape(0), target));
  ctx.setOutput(0, ctx.inType(0), out);
  const Shape& in = ctx.inShape(0);
  if (isStatic(in)) {
    const std::vector<int64_t> id = staticDims(in);
    propagateByIndex(ctx, out, [&](const std::vector<int64_t>& c) {
      int64_t idx = 0;
      const size_t off = c.size() - id.size();
      for (size_t a = 0; a < id.size(); ++a) idx = idx * id[a] + (id[a] == 1 ? 0 : c[a + off]);
      return idx;
    });
  }
  return Status::ok();
}

Status inferTile(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  KILN_RETURN_IF_ERROR(expectShapeVector(ctx, 1, "repeats"));
  KILN_ASSIGN_OR_RETURN(auto reps, shapeLikeValues(ctx, 1, "repeats"));
  const Shape& in = ctx.inShape(0);
  if (reps.size() != in.size())
    return ctx.error("repeats has %zu entries but the input has rank %zu", reps.size(), in.size());
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (reps[i].isConst() && reps[i].constValue() < 0)
      return ctx.error("repeats must be >= 0, got %lld", static_cast<long long>(reps[i].constValue()));
    out.push_back(in[i] * reps[i]);
  }
  ctx.setOutput(0, ctx.inType(0), out);
  if (isStatic(in)) {
    const std::vector<int64_t> id = staticDims(in);
    propagateByIndex(ctx, out, [&](const std::vector<int64_t>& c) {
      int64_t idx = 0;
      for (size_t a = 0; a < id.size(); ++a) idx = idx * id[a] + c[a] % id[a];
      return idx;
    });
  }
  return Status::ok();
}

Status inferPad(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 4));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  const std::string mode = ctx.attrs().getString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.error("mode '%s' is not one of constant, reflect, edge, wrap", mode.c_str());
  KILN_ASSIGN_OR_RETURN(auto pads, ctx.inInts(1, "pads"));
  std::vector<int64_t> axes;
  if (ctx.hasInput(3)) {
    KILN_ASSIGN_OR_RETURN(axes, ctx.inInts(3, "axes"));
  } else {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  if (pads.size() != 2 * axes.size())
    return ctx.error("pads has %zu entries; expected 2 * %zu (begin and end per axis)",
                     pads.size(), axes.size());
  if (ctx.hasInput(2) && ctx.inType(2) != ctx.inType(0))
    return ctx.error("constant_value has type %s but data has %s", dataTypeName(ctx.inType(2)),
                     dataTypeName(ctx.inType(0)));
  Shape out = in;
  const size_t na = axes.size();
  for (size_t k = 0; k < na; ++k) {
    KILN_ASSIGN_OR_RETURN(int64_t ax, ctx.normalizeAxis(axes[k], rank, "pad axis"));
    const size_t au = static_cast<size_t>(ax);
    // Bound pads so the arithmetic below cannot overflow (no real tensor is 2^40 wide).
    constexpr int64_t kMaxPad = int64_t{1} << 40;
    if (pads[k] < -kMaxPad || pads[k] > kMaxPad || pads[k + na] < -kMaxPad || pads[k + na] > kMaxPad)
      return ctx.error("pad amount on axis %lld is out of range (|pad| <= 2^40)", static_cast<long long>(ax));
    out[au] = out[au] + (pads[k] + pads[k + na]);
    const DimExpr& d = in[au];
    if (mode != "constant" && d.isConst() && d.constValue() == 0 && (pads[k] > 0 || pads[k + na] > 0))
      return ctx.error("mode '%s' cannot pad axis %lld of size 0", mode.c_str(),
                       static_cast<long long>(ax));
  }
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// --- Resize -------------------------------------------------------------------------------------

Status inferResize(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 4));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  const std::string mode = ctx.attrs().getString("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    return ctx.error("mode '%s' is not one of nearest, linear, cubic", mode.c_str());
  const std::string ctm = ctx.attrs().getString("coordinate_transformation_mode", "half_pixel");
  if (ctm != "half_pixel" && ctm != "pytorch_half_pixel" && ctm != "align_corners" &&
      ctm != "asymmetric" && ctm != "half_pixel_symmetric" && ctm != "tf_crop_and_resize")
    return ctx.error("coordinate_transformation_mode '%s' is not supported", ctm.c_str());
  const std::string nm = ctx.attrs().getString("nearest_mode", "round_prefer_floor");
  if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil")
    return ctx.error("nearest_mode '%s' is not supported", nm.c_str());
  const int64_t antialias = ctx.attrs().getInt("antialias", 0);
  if (antialias != 0 && antialias != 1)
    return ctx.error("antialias must be 0 or 1, got %lld", static_cast<long long>(antialias));
  if (!isFloatType(ctx.inType(0)))
    return ctx.error("data type %s is not supported (expected a float type)",
                     dataTypeName(ctx.inType(0)));
  std::vector<int64_t> axes = ctx.attrs().getInts("axes");
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  for (int64_t& a : axes) {
    KILN_ASSIGN_OR_RETURN(a, ctx.normalizeAxis(a, rank, "resize axis"));
  }
  const bool hasScales = ctx.hasInput(2) && ctx.inShape(2).size() == 1 &&
                         !(ctx.inShape(2)[0].isConst() && ctx.inShape(2)[0].constValue() == 0);
  const bool hasSizes = ctx.hasInput(3);
  if (hasScales == hasSizes)
    return ctx.error("exactly one of scales and sizes must be given");
  if (ctm == "tf_crop_and_resize" && !ctx.hasInput(1))
    return ctx.error("coordinate_transformation_mode tf_crop_and_resize needs the roi input");
  Shape out = in;
  if (hasScales) {
    KILN_ASSIGN_OR_RETURN(auto scales, ctx.inDoubles(2, "scales"));
    if (scales.size() != axes.size())
      return ctx.error("scales has %zu entries; expected %zu", scales.size(), axes.size());
    for (size_t k = 0; k < axes.size(); ++k) {
      const double s = scales[k];
      if (!(s > 0)) return ctx.error("scales must be > 0, got %g", s);
      // Bound the scale so in*scale stays far inside int64 (and no tensor that large could
      // ever be allocated anyway): 2^40 elements per dim is already beyond any memory.
      constexpr double kMaxScaledDim = 1099511627776.0;  // 2^40
      if (!(s < kMaxScaledDim)) return ctx.error("scale %g is too large", s);
      const DimExpr& d = in[static_cast<size_t>(axes[k])];
      DimExpr o;
      if (d.isConst()) {
        // Output size = floor(in * scale), computed as the reference does (in float64).
        const double scaled = std::floor(static_cast<double>(d.constValue()) * s);
        if (!(scaled >= 0 && scaled < kMaxScaledDim))
          return ctx.error("output dimension %g (input %lld x scale %g) is too large", scaled,
                           static_cast<long long>(d.constValue()), s);
        o = static_cast<int64_t>(scaled);
      } else if (s == std::floor(s)) {
        o = d * static_cast<int64_t>(s);
      } else if (1.0 / s < kMaxScaledDim && 1.0 / s == std::floor(1.0 / s)) {
        o = floorDiv(d, static_cast<int64_t>(1.0 / s));
      } else {
        return ctx.unsupportedError("scale %g on the symbolic dim %s gives no exact size "
                                    "expression; use an integer scale or its reciprocal",
                                    s, d.toString().c_str());
      }
      out[static_cast<size_t>(axes[k])] = o;
    }
  } else {
    KILN_ASSIGN_OR_RETURN(auto sizes, shapeLikeValues(ctx, 3, "sizes"));
    if (sizes.size() != axes.size())
      return ctx.error("sizes has %zu entries; expected %zu", sizes.size(), axes.size());
    const std::string policy = ctx.attrs().getString("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch") {
      for (size_t k = 0; k < axes.size(); ++k) out[static_cast<size_t>(axes[k])] = sizes[k];
    } else if (policy == "not_larger" || policy == "not_smaller") {
      // One scale for all axes: the min (not_larger) or max (not_smaller) of sizes / in;
      // each output size is round_half_up(scale * in).
      double scale = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
      for (size_t k = 0; k < axes.size(); ++k) {
        const DimExpr& d = in[static_cast<size_t>(axes[k])];
        // sizes known only when the engine runs (a shape tensor input): the output dims are
        // run-time symbols now (shape_fns_deferred.cpp) and exact at run time.
        if (!sizes[k].isConst() && ctx.inDeferred(3)) return ctx.deferredInputError(3, "sizes");
        if (!d.isConst() || !sizes[k].isConst())
          return ctx.unsupportedError("keep_aspect_ratio_policy %s needs constant sizes and "
                                      "input dims",
                                      policy.c_str());
        const double r = static_cast<double>(sizes[k].constValue()) / static_cast<double>(d.constValue());
        scale = policy == "not_larger" ? std::min(scale, r) : std::max(scale, r);
      }
      for (size_t k = 0; k < axes.size(); ++k) {
        const int64_t d = in[static_cast<size_t>(axes[k])].constValue();
        out[static_cast<size_t>(axes[k])] = static_cast<int64_t>(scale * static_cast<double>(d) + 0.5);
      }
    } else {
      return ctx.error("keep_aspect_ratio_policy '%s' is not one of stretch, not_larger, "
                       "not_smaller",
                       policy.c_str());
    }
  }
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// --- Shape, Size, ConstantOfShape, Range --------------------------------------------------------

Status inferShape(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  auto clampIndex = [rank](int64_t v) {
    if (v < 0) v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  const int64_t start = clampIndex(ctx.attrs().getInt("start", 0));
  const int64_t end = clampIndex(ctx.attrs().getInt("end", rank));
  const int64_t n = std::max<int64_t>(0, end - start);
  ctx.setOutput(0, DataType::kINT64, {DimExpr(n)});
  ctx.setOutputValue(0, std::vector<DimExpr>(in.begin() + start, in.begin() + start + n));
  return Status::ok();
}

Status inferSize(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  ctx.setOutput(0, DataType::kINT64, {});
  ctx.setOutputValue(0, {shapeVolume(ctx.inShape(0))});
  return Status::ok();
}

Status inferConstantOfShape(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(expectShapeVector(ctx, 0, "shape"));
  KILN_ASSIGN_OR_RETURN(auto dims, shapeLikeValues(ctx, 0, "the output shape"));
  for (const DimExpr& d : dims)
    if (d.isConst() && d.constValue() < 0)
      return ctx.error("the output shape %s has a negative dim", shapeToString(dims).c_str());
  DataType dt = DataType::kFLOAT;
  int64_t intValue = 0;
  if (ctx.attrs().has("value")) {
    TensorDataPtr v = ctx.attrs().getTensor("value");
    if (!v) return ctx.error("attribute 'value' must be a tensor");
    if (v->numel() != 1)
      return ctx.error("attribute 'value' must have exactly one element, got %lld",
                       static_cast<long long>(v->numel()));
    dt = v->dtype();
    if (isIndexType(dt)) intValue = v->intAt(0);
  }
  ctx.setOutput(0, dt, dims);
  if (canCarryValues(dt, dims))
    ctx.setOutputValue(0, std::vector<DimExpr>(static_cast<size_t>(volumeOf(staticDims(dims))),
                                               DimExpr(intValue)));
  return Status::ok();
}

Status inferRange(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  const DataType dt = ctx.inType(0);
  for (size_t i = 1; i < 3; ++i)
    if (ctx.inType(i) != dt)
      return ctx.error("start, limit and delta must have the same type (got %s and %s)",
                       dataTypeName(dt), dataTypeName(ctx.inType(i)));
  for (size_t i = 0; i < 3; ++i) {
    const Shape& s = ctx.inShape(i);
    if (!(s.empty() || (s.size() == 1 && s[0].isConst() && s[0].constValue() == 1)))
      return ctx.error("input %zu must be a scalar, got shape %s", i, shapeToString(s).c_str());
  }
  if (isIndexType(dt) || dt == DataType::kINT16) {
    // Integer ranges may have symbolic start/limit (Range(0, Shape(x)[1], 1) for position ids):
    // count = max(ceildiv(limit - start, delta), 0) stays an expression.
    std::vector<DimExpr> v(3);
    const char* names[3] = {"start", "limit", "delta"};
    for (size_t i = 0; i < 3; ++i) {
      KILN_ASSIGN_OR_RETURN(auto e, shapeLikeValues(ctx, i, names[i]));
      if (e.size() != 1) return ctx.error("%s must have one element", names[i]);
      v[i] = e[0];
    }
    if (!v[2].isConst()) return ctx.deferredInputError(2, "delta");
    const int64_t delta = v[2].constValue();
    if (delta == 0) return ctx.error("delta must not be 0");
    const DimExpr n = delta > 0 ? clampNonNegative(ceilDiv(v[1] - v[0], delta))
                                : clampNonNegative(ceilDiv(v[0] - v[1], -delta));
    ctx.setOutput(0, dt, {n});
    if (isIndexType(dt) && n.isConst() && n.constValue() <= kMaxShapeValueElements) {
      std::vector<DimExpr> r;
      for (int64_t k = 0; k < n.constValue(); ++k) r.push_back(v[0] + k * delta);
      ctx.setOutputValue(0, std::move(r));
    }
    return Status::ok();
  }
  if (!isFloatType(dt))
    return ctx.error("data type %s is not supported", dataTypeName(dt));
  KILN_ASSIGN_OR_RETURN(auto start, ctx.inDoubles(0, "start"));
  KILN_ASSIGN_OR_RETURN(auto limit, ctx.inDoubles(1, "limit"));
  KILN_ASSIGN_OR_RETURN(auto delta, ctx.inDoubles(2, "delta"));
  if (delta[0] == 0) return ctx.error("delta must not be 0");
  const double n = std::ceil((limit[0] - start[0]) / delta[0]);
  ctx.setOutput(0, dt, {DimExpr(static_cast<int64_t>(std::max(0.0, n)))});
  return Status::ok();
}

// --- TopK, DepthToSpace, SpaceToDepth -----------------------------------------------------------

Status inferTopK(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  if (ctx.numOutputs() != 2) return ctx.error("expects 2 outputs (values, indices)");
  const Shape& in = ctx.inShape(0);
  const int64_t rank = ctx.inRank(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.normalizeAxis(ctx.attrs().getInt("axis", -1), rank));
  KILN_ASSIGN_OR_RETURN(auto kv, shapeLikeValues(ctx, 1, "K"));
  if (kv.size() != 1) return ctx.error("K must have exactly one element, got %zu", kv.size());
  const DimExpr k = kv[0];
  const DimExpr& d = in[static_cast<size_t>(axis)];
  if (k.isConst() && k.constValue() < 0)
    return ctx.error("K must be >= 0, got %lld", static_cast<long long>(k.constValue()));
  if (k.isConst() && d.isConst() && k.constValue() > d.constValue())
    return ctx.error("K = %lld is larger than axis %lld of size %lld",
                     static_cast<long long>(k.constValue()), static_cast<long long>(axis),
                     static_cast<long long>(d.constValue()));
  Shape out = in;
  out[static_cast<size_t>(axis)] = k;
  ctx.setOutput(0, ctx.inType(0), out);
  ctx.setOutput(1, DataType::kINT64, out);
  return Status::ok();
}

Status inferDepthSpace(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  const Shape& in = ctx.inShape(0);
  if (in.size() != 4)
    return ctx.error("expects a 4-D input [N,C,H,W], got shape %s", shapeToString(in).c_str());
  const int64_t b = ctx.attrs().getInt("blocksize", 0);
  if (b <= 0) return ctx.error("blocksize must be > 0, got %lld", static_cast<long long>(b));
  const bool toSpace = ctx.node().op == OpKind::kDepthToSpace;
  if (toSpace) {
    const std::string mode = ctx.attrs().getString("mode", "DCR");
    if (mode != "DCR" && mode != "CRD") return ctx.error("mode '%s' is not DCR or CRD", mode.c_str());
    if (in[1].isConst() && in[1].constValue() % (b * b) != 0)
      return ctx.error("channels %lld are not divisible by blocksize^2 = %lld",
                       static_cast<long long>(in[1].constValue()), static_cast<long long>(b * b));
    ctx.setOutput(0, ctx.inType(0), {in[0], floorDiv(in[1], b * b), in[2] * b, in[3] * b});
  } else {
    for (int i = 2; i < 4; ++i)
      if (in[static_cast<size_t>(i)].isConst() && in[static_cast<size_t>(i)].constValue() % b != 0)
        return ctx.error("spatial dim %d (%lld) is not divisible by blocksize %lld", i,
                         static_cast<long long>(in[static_cast<size_t>(i)].constValue()),
                         static_cast<long long>(b));
    ctx.setOutput(0, ctx.inType(0), {in[0], in[1] * (b * b), floorDiv(in[2], b), floorDiv(in[3], b)});
  }
  return Status::ok();
}

}  // namespace

void registerShapeOpShapeFns(ShapeFnTable& t) {
  auto set = [&t](OpKind op, ShapeFn fn) { t[static_cast<size_t>(op)] = fn; };
  set(OpKind::kReshape, &inferReshape);
  set(OpKind::kFlatten, &inferFlatten);
  set(OpKind::kSqueeze, &inferSqueeze);
  set(OpKind::kUnsqueeze, &inferUnsqueeze);
  set(OpKind::kTranspose, &inferTranspose);
  set(OpKind::kConcat, &inferConcat);
  set(OpKind::kSplit, &inferSplit);
  set(OpKind::kSlice, &inferSlice);
  set(OpKind::kGather, &inferGather);
  set(OpKind::kGatherElements, &inferGatherElements);
  set(OpKind::kExpand, &inferExpand);
  set(OpKind::kTile, &inferTile);
  set(OpKind::kPad, &inferPad);
  set(OpKind::kResize, &inferResize);
  set(OpKind::kShape, &inferShape);
  set(OpKind::kSize, &inferSize);
  set(OpKind::kConstantOfShape, &inferConstantOfShape);
  set(OpKind::kRange, &inferRange);
  set(OpKind::kTopK, &inferTopK);
  set(OpKind::kDepthToSpace, &inferDepthSpace);
  set(OpKind::kSpaceToDepth, &inferDepthSpace);
}

}  // namespace kiln::ir
