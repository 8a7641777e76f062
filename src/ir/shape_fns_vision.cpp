// Shape functions for the vision ops (see ops.def): AffineGrid, Col2Im, CenterCropPad, MaxUnpool,
// RoiAlign, DeformConv.
//
// Size inputs (AffineGrid's size, Col2Im's image_shape, CenterCropPad's shape, MaxUnpool's
// output_shape) are read as element values: constants, or shape computations (symbolic).
#include <string>
#include <vector>

#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"
#include "ir/window_params.h"

namespace kiln::ir {

namespace {

Status checkSameType(const InferContext& ctx, size_t i, const char* what) {
  if (ctx.inType(i) != ctx.inType(0))
    return ctx.error("%s has data type %s; expected %s like input 0", what,
                     dataTypeName(ctx.inType(i)), dataTypeName(ctx.inType(0)));
  return Status::ok();
}

// Element values of a 1-D int32/int64 size input (constants, or symbolic from shapes or a shape
// tensor input). A graph input whose values are known only when the engine runs and have no
// symbols yet: the read is recorded (inInts), so the network marks it a shape tensor input and
// infers again with its symbolic values; until then element k stands as the symbol "<input>[k]".
StatusOr<std::vector<DimExpr>> sizeValues(const InferContext& ctx, size_t i, const char* what) {
  if (!typeInSet(ctx.inType(i), kTypesSigned32_64))
    return ctx.error("%s has data type %s; expected int32 or int64", what,
                     dataTypeName(ctx.inType(i)));
  if (ctx.inRank(i) != 1)
    return ctx.error("%s must have rank 1, got shape %s", what,
                     shapeToString(ctx.inShape(i)).c_str());
  if (const auto* v = ctx.inValue(i)) return *v;
  if (ctx.inDeferred(i)) {
    (void)ctx.inInts(i, what);
    const DimExpr& n = ctx.inShape(i)[0];
    if (!n.isConst() || n.constValue() > kMaxShapeValueElements)
      return ctx.unsupportedError(
          "%s must have a known length of at most %lld values, got shape %s", what,
          ll(kMaxShapeValueElements), shapeToString(ctx.inShape(i)).c_str());
    std::vector<DimExpr> out;
    for (int64_t k = 0; k < n.constValue(); ++k)
      out.push_back(DimExpr::symbol(ctx.node().inputs[i]->name + "[" + std::to_string(k) + "]"));
    return out;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ints, ctx.inInts(i, what));
  return std::vector<DimExpr>(ints.begin(), ints.end());
}

Status checkNonNegative(const InferContext& ctx, const std::vector<DimExpr>& v, const char* what) {
  for (const DimExpr& d : v)
    if (d.isConst() && d.constValue() < 0)
      return ctx.error("%s has a negative size %lld", what, ll(d.constValue()));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// AffineGrid (theta [N,2,3] or [N,3,4], size [N,C,H,W] or [N,C,D,H,W]) -> [N,H,W,2] / [N,D,H,W,3].
Status inferAffineGrid(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "theta"));
  KILN_RETURN_IF_ERROR(checkRank(ctx, 0, "theta", 3));
  const int64_t ac = ctx.attrs().getInt("align_corners", 0);
  if (ac != 0 && ac != 1) return ctx.error("align_corners (%lld) must be 0 or 1", ll(ac));
  KILN_ASSIGN_OR_RETURN(std::vector<DimExpr> size, sizeValues(ctx, 1, "size"));
  if (size.size() != 4 && size.size() != 5)
    return ctx.error("size must hold 4 (N, C, H, W) or 5 (N, C, D, H, W) values, got %zu",
                     size.size());
  KILN_RETURN_IF_ERROR(checkNonNegative(ctx, size, "size"));
  const int64_t nd = static_cast<int64_t>(size.size()) - 2;
  const Shape& th = ctx.inShape(0);
  if (constNe(th[1], DimExpr(nd)) || constNe(th[2], DimExpr(nd + 1)))
    return ctx.error("theta has shape %s; expected [N, %lld, %lld] for a %lld-D grid",
                     shapeToString(th).c_str(), ll(nd), ll(nd + 1), ll(nd));
  if (constNe(th[0], size[0]))
    return ctx.error("theta's batch %s does not match size's N %s", th[0].toString().c_str(),
                     size[0].toString().c_str());
  Shape out = {th[0]};
  for (size_t d = 2; d < size.size(); ++d) out.push_back(size[d]);
  out.push_back(DimExpr(nd));
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Col2Im (input [N, C*prod(block), L], image_shape, block_shape) -> [N, C, image_shape...]; L must
// be the number of sliding blocks.
Status inferCol2Im(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "input"));
  KILN_RETURN_IF_ERROR(checkRank(ctx, 0, "input", 3));
  KILN_ASSIGN_OR_RETURN(std::vector<DimExpr> image, sizeValues(ctx, 1, "image_shape"));
  if (!typeInSet(ctx.inType(2), kTypesSigned32_64))
    return ctx.error("block_shape has data type %s; expected int32 or int64",
                     dataTypeName(ctx.inType(2)));
  if (ctx.inDeferred(2)) {
    (void)ctx.inInts(2,
                     "block_shape");  // records the read: block_shape becomes a shape tensor input
    // The block size is only known when the engine runs: so is the channel count.
    Shape out = {ctx.inShape(0)[0], ctx.runtimeDim(0, 1)};
    out.insert(out.end(), image.begin(), image.end());
    ctx.setOutput(0, ctx.inType(0), out);
    return Status::ok();
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> block, ctx.inInts(2, "block_shape"));
  if (image.empty() || image.size() != block.size())
    return ctx.error(
        "image_shape (%zu values) and block_shape (%zu values) must have one value per spatial "
        "dimension",
        image.size(), block.size());
  KILN_RETURN_IF_ERROR(checkNonNegative(ctx, image, "image_shape"));
  for (int64_t b : block)
    if (b < 1) return ctx.error("block_shape has a non-positive size %lld", ll(b));
  if (ctx.attrs().has("auto_pad")) return ctx.error("has no auto_pad attribute");
  KILN_ASSIGN_OR_RETURN(WindowParams p, parseWindowParams(ctx.attrs(), block.size(), block, false,
                                                          ctx.node().describe()));
  int64_t kernelSize = 1;
  for (int64_t b : block) kernelSize *= b;
  const Shape& x = ctx.inShape(0);
  if (x[1].isConst() && x[1].constValue() % kernelSize != 0)
    return ctx.error("input dimension 1 (%lld) is not a multiple of the block size %lld",
                     ll(x[1].constValue()), ll(kernelSize));
  DimExpr blocks(1);
  for (size_t i = 0; i < block.size(); ++i) {
    const DimExpr n = windowOutputDim(p, i, image[i]);
    if (n.isConst() && n.constValue() < 1)
      return ctx.error("image_shape %s leaves no room for a block along spatial axis %zu",
                       shapeToString(image).c_str(), i);
    blocks = blocks * n;
  }
  if (constNe(x[2], blocks))
    return ctx.error(
        "input dimension 2 is %s but image_shape %s, block_shape, pads, strides and dilations give "
        "%s sliding blocks",
        x[2].toString().c_str(), shapeToString(image).c_str(), blocks.toString().c_str());
  Shape out = {x[0], floorDiv(x[1], DimExpr(kernelSize))};
  out.insert(out.end(), image.begin(), image.end());
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// CenterCropPad (input, shape) axes: the listed axes take the sizes in `shape`.
Status inferCenterCropPad(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 2));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  const int64_t r = ctx.inRank(0);
  if (dataTypeSize(ctx.inType(0)) == 0)
    return ctx.unsupportedError("data type %s is not supported", dataTypeName(ctx.inType(0)));
  KILN_ASSIGN_OR_RETURN(std::vector<DimExpr> shape, sizeValues(ctx, 1, "shape"));
  KILN_RETURN_IF_ERROR(checkNonNegative(ctx, shape, "shape"));
  std::vector<int64_t> axes;
  if (ctx.attrs().has("axes")) {
    std::vector<bool> seen(static_cast<size_t>(r), false);
    for (int64_t a : ctx.attrs().getInts("axes")) {
      KILN_ASSIGN_OR_RETURN(int64_t n, ctx.normalizeAxis(a, r, "axes"));
      if (seen[static_cast<size_t>(n)]) return ctx.error("axes lists axis %lld twice", ll(n));
      seen[static_cast<size_t>(n)] = true;
      axes.push_back(n);
    }
  } else {
    for (int64_t a = 0; a < r; ++a) axes.push_back(a);
  }
  if (shape.size() != axes.size())
    return ctx.error("shape holds %zu values but %zu axes are cropped or padded", shape.size(),
                     axes.size());
  Shape out = ctx.inShape(0);
  for (size_t k = 0; k < axes.size(); ++k) out[static_cast<size_t>(axes[k])] = shape[k];
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// MaxUnpool (X [N,C,spatial...], I (int64, X's shape), output_shape?) kernel_shape pads strides.
// Default output size per axis: (in - 1) * stride - pad_begin - pad_end + kernel.
Status inferMaxUnpool(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2, 3));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "X"));
  const Shape& x = ctx.inShape(0);
  if (x.size() < 3)
    return ctx.error("X must have rank >= 3, got shape %s", shapeToString(x).c_str());
  if (ctx.inType(1) != DataType::kINT64)
    return ctx.error("I has data type %s; expected int64", dataTypeName(ctx.inType(1)));
  const Shape& idx = ctx.inShape(1);
  bool same = idx.size() == x.size();
  for (size_t d = 0; same && d < x.size(); ++d) same = !constNe(idx[d], x[d]);
  if (!same)
    return ctx.error("I has shape %s; expected X's shape %s", shapeToString(idx).c_str(),
                     shapeToString(x).c_str());
  if (ctx.attrs().has("auto_pad")) return ctx.error("has no auto_pad attribute");
  const size_t ns = x.size() - 2;
  KILN_ASSIGN_OR_RETURN(WindowParams p,
                        parseWindowParams(ctx.attrs(), ns, {}, false, ctx.node().describe()));
  Shape out = {x[0], x[1]};
  for (size_t i = 0; i < ns; ++i) {
    const DimExpr d = (x[i + 2] - DimExpr(1)) * DimExpr(p.strides[i]) -
                      DimExpr(p.pads[i] + p.pads[i + ns]) + DimExpr(p.kernel[i]);
    if (d.isConst() && d.constValue() < 0)
      return ctx.error(
          "kernel_shape, strides and pads give a negative output size along spatial axis %zu", i);
    out.push_back(d);
  }
  if (ctx.hasInput(2)) {
    KILN_ASSIGN_OR_RETURN(std::vector<DimExpr> os, sizeValues(ctx, 2, "output_shape"));
    if (os.size() != x.size())
      return ctx.error("output_shape holds %zu values; expected %zu (X's rank)", os.size(),
                       x.size());
    for (size_t d = 0; d < os.size(); ++d) {
      const DimExpr& want = os[d];
      if ((d < 2 && constNe(want, x[d])) ||
          (d >= 2 && want.isConst() && out[d].isConst() && want.constValue() < out[d].constValue()))
        return ctx.error("output_shape %s is smaller than the unpooled shape %s",
                         shapeToString(os).c_str(), shapeToString(out).c_str());
    }
    out = os;
  }
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// RoiAlign (X [N,C,H,W], rois [R,4], batch_indices [R]) -> [R, C, output_height, output_width].
Status inferRoiAlign(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 3));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "X"));
  KILN_RETURN_IF_ERROR(checkSameType(ctx, 1, "rois"));
  KILN_RETURN_IF_ERROR(checkRank(ctx, 0, "X", 4));
  KILN_RETURN_IF_ERROR(checkRank(ctx, 1, "rois", 2));
  KILN_RETURN_IF_ERROR(checkRank(ctx, 2, "batch_indices", 1));
  if (!typeInSet(ctx.inType(2), kTypesSigned32_64))
    return ctx.error("batch_indices has data type %s; expected int32 or int64",
                     dataTypeName(ctx.inType(2)));
  const Shape& rois = ctx.inShape(1);
  if (constNe(rois[1], DimExpr(4)))
    return ctx.error("rois has shape %s; expected [num_rois, 4]", shapeToString(rois).c_str());
  if (constNe(rois[0], ctx.inShape(2)[0]))
    return ctx.error("rois (%s) and batch_indices (%s) disagree on the number of regions",
                     shapeToString(rois).c_str(), shapeToString(ctx.inShape(2)).c_str());
  const Attributes& a = ctx.attrs();
  const std::string mode = a.getString("mode", "avg");
  if (mode != "avg" && mode != "max")
    return ctx.error("mode '%s' is not one of avg, max", mode.c_str());
  const std::string ctm = a.getString("coordinate_transformation_mode", "half_pixel");
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    return ctx.error(
        "coordinate_transformation_mode '%s' is not one of half_pixel, output_half_pixel",
        ctm.c_str());
  const int64_t oh = a.getInt("output_height", 1), ow = a.getInt("output_width", 1);
  if (oh < 1 || ow < 1)
    return ctx.error("output_height (%lld) and output_width (%lld) must be >= 1", ll(oh), ll(ow));
  if (a.getInt("sampling_ratio", 0) < 0) return ctx.error("sampling_ratio must be >= 0");
  ctx.setOutput(0, ctx.inType(0), {rois[0], ctx.inShape(0)[1], DimExpr(oh), DimExpr(ow)});
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// DeformConv (X [N,C,H,W], W [oC, C/group, kH, kW], offset [N, offset_group*kH*kW*2, oH, oW],
// B? [oC], mask? [N, offset_group*kH*kW, oH, oW]) -> [N, oC, oH, oW]. 2-D only.
Status inferDeformConv(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 5));
  if (ctx.numOutputs() != 1) return ctx.error("has one output, got %zu", ctx.numOutputs());
  static const char* const kNames[] = {"X", "W", "offset", "B", "mask"};
  KILN_RETURN_IF_ERROR(checkFloat(ctx, 0, "X"));
  for (size_t i = 1; i < ctx.numInputs() && i < 5; ++i)
    if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(checkSameType(ctx, i, kNames[i]));
  const Shape& x = ctx.inShape(0);
  if (x.size() != 4)
    return ctx.unsupportedError(
        "only 2-D deformable convolution (X of rank 4) is supported, got X of shape %s",
        shapeToString(x).c_str());
  KILN_RETURN_IF_ERROR(checkRank(ctx, 1, "W", 4));
  KILN_RETURN_IF_ERROR(checkRank(ctx, 2, "offset", 4));
  const Shape& w = ctx.inShape(1);
  if (!w[2].isConst() || !w[3].isConst()) return ctx.error("W's kernel dimensions must be static");
  const Attributes& a = ctx.attrs();
  const int64_t group = a.getInt("group", 1), og = a.getInt("offset_group", 1);
  if (group < 1 || og < 1)
    return ctx.error("group (%lld) and offset_group (%lld) must be >= 1", ll(group), ll(og));
  if (a.has("auto_pad")) return ctx.error("has no auto_pad attribute");
  KILN_ASSIGN_OR_RETURN(WindowParams p,
                        parseWindowParams(a, 2, {w[2].constValue(), w[3].constValue()}, false,
                                          ctx.node().describe()));
  if (constNe(x[1], w[1] * DimExpr(group)))
    return ctx.error("X has %s channels but W (%s) with group %lld expects %s",
                     x[1].toString().c_str(), shapeToString(w).c_str(), ll(group),
                     (w[1] * DimExpr(group)).toString().c_str());
  if (w[0].isConst() && w[0].constValue() % group != 0)
    return ctx.error("W's output channels (%lld) are not a multiple of group %lld",
                     ll(w[0].constValue()), ll(group));
  if (x[1].isConst() && x[1].constValue() % og != 0)
    return ctx.error("X's channels (%lld) are not a multiple of offset_group %lld",
                     ll(x[1].constValue()), ll(og));
  const int64_t kk = p.kernel[0] * p.kernel[1];
  const Shape out = {x[0], w[0], windowOutputDim(p, 0, x[2]), windowOutputDim(p, 1, x[3])};
  const Shape& off = ctx.inShape(2);
  if (constNe(off[0], x[0]) || constNe(off[1], DimExpr(og * kk * 2)) || constNe(off[2], out[2]) ||
      constNe(off[3], out[3]))
    return ctx.error("offset has shape %s; expected %s", shapeToString(off).c_str(),
                     shapeToString({x[0], DimExpr(og * kk * 2), out[2], out[3]}).c_str());
  if (ctx.numInputs() > 3 && ctx.hasInput(3)) {
    KILN_RETURN_IF_ERROR(checkRank(ctx, 3, "B", 1));
    if (constNe(ctx.inShape(3)[0], w[0]))
      return ctx.error("B has shape %s; expected [%s]", shapeToString(ctx.inShape(3)).c_str(),
                       w[0].toString().c_str());
  }
  if (ctx.numInputs() > 4 && ctx.hasInput(4)) {
    KILN_RETURN_IF_ERROR(checkRank(ctx, 4, "mask", 4));
    const Shape& m = ctx.inShape(4);
    if (constNe(m[0], x[0]) || constNe(m[1], DimExpr(og * kk)) || constNe(m[2], out[2]) ||
        constNe(m[3], out[3]))
      return ctx.error("mask has shape %s; expected %s", shapeToString(m).c_str(),
                       shapeToString({x[0], DimExpr(og * kk), out[2], out[3]}).c_str());
  }
  for (size_t d = 2; d < 4; ++d)
    if (out[d].isConst() && out[d].constValue() < 1)
      return ctx.error("kernel, pads, strides and dilations leave no output along spatial axis %zu",
                       d - 2);
  ctx.setOutput(0, ctx.inType(0), out);
  return Status::ok();
}

}  // namespace

void registerVisionShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kAffineGrid)] = inferAffineGrid;
  t[static_cast<size_t>(OpKind::kCol2Im)] = inferCol2Im;
  t[static_cast<size_t>(OpKind::kCenterCropPad)] = inferCenterCropPad;
  t[static_cast<size_t>(OpKind::kMaxUnpool)] = inferMaxUnpool;
  t[static_cast<size_t>(OpKind::kRoiAlign)] = inferRoiAlign;
  t[static_cast<size_t>(OpKind::kDeformConv)] = inferDeformConv;
}

}  // namespace kiln::ir
