// Importers for the Reduce and Shape families of ops.def, and Upsample (-> Resize).
//
// Most rewrites here turn attributes that later opsets made inputs into int64 constants:
//   Squeeze/Unsqueeze axes (< 13), ReduceSum axes (< 13), other Reduce* axes (< 18),
//   Split split (< 13), Slice starts/ends/axes (< 10), Pad pads/value (< 11), TopK k (< 10).
#include <optional>

#include "onnx/model_importer.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

// Moves INTS attribute `name` into an int64 constant input, or returns null when absent.
StatusOr<ir::Value*> intsAttrAsInput(ImportContext& ctx, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(auto v, ctx.attrInts(name));
  if (!v) return static_cast<ir::Value*>(nullptr);
  return ctx.constInt64s(*v, name);
}

// Reductions: `axes` became an input in opset 13 (ReduceSum) or 18 (the others). An absent or
// empty axes list reduces over all dims in both forms (noop_with_empty_axes defaults to 0).
//
// ReduceMax/ReduceMin on types the IR's reductions lack (bool since opset 20, 8/16-bit integers
// since 18, uint32) run on a wider integer type that holds every value exactly: max and min of
// the widened values are the widened max and min. An empty reduction gives the wide type's
// lowest (max) or highest (min) value where ONNX wants the narrow type's, so the result is
// clipped to the narrow type's range before the cast back. On bool (0/1), max is "any" and min
// is "all", and the result is (r > 0), which is also right for empty sets (false for max, true
// for min).
Status importReduce(ImportContext& ctx, OpKind op, int64_t axesInputSince) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "data"));
  std::vector<ir::Value*> inputs{x};
  ir::Attributes attrs;
  if (ctx.opset() >= axesInputSince) {
    KILN_ASSIGN_OR_RETURN(attrs, ctx.copyAttributes());
    if (ir::Value* axes = ctx.input(1)) inputs.push_back(axes);
  } else {
    KILN_ASSIGN_OR_RETURN(auto axes, ctx.attrInts("axes"));
    KILN_ASSIGN_OR_RETURN(attrs, ctx.copyAttributes({"axes"}));
    if (axes && !axes->empty()) inputs.push_back(ctx.constInt64s(*axes, "axes"));
  }
  if (op == OpKind::kReduceMax || op == OpKind::kReduceMin) {
    std::optional<DataType> wide;
    switch (x->dtype) {
      case DataType::kBOOL:
      case DataType::kINT8:
      case DataType::kUINT8:
      case DataType::kINT16:
      case DataType::kUINT16: wide = DataType::kINT32; break;
      case DataType::kUINT32: wide = DataType::kINT64; break;
      default: break;
    }
    if (wide) {
      ir::Attributes toWide, back;
      toWide.setInt("to", static_cast<int64_t>(*wide));
      back.setInt("to", static_cast<int64_t>(x->dtype));
      KILN_ASSIGN_OR_RETURN(inputs[0], ctx.addHelper(OpKind::kCast, {x}, toWide, "widen"));
      KILN_ASSIGN_OR_RETURN(ir::Value * r, ctx.addHelper(op, std::move(inputs), std::move(attrs),
                                                         "reduce"));
      if (x->dtype == DataType::kBOOL) {
        KILN_ASSIGN_OR_RETURN(ir::Value * zero, ctx.constScalar(*wide, 0, "zero"));
        return ctx.addFinal(OpKind::kGreater, {r, zero}, {});
      }
      double lo = 0, hi = 0;
      switch (x->dtype) {
        case DataType::kINT8: lo = -128; hi = 127; break;
        case DataType::kUINT8: hi = 255; break;
        case DataType::kINT16: lo = -32768; hi = 32767; break;
        case DataType::kUINT16: hi = 65535; break;
        default: hi = 4294967295.0; break;  // uint32
      }
      KILN_ASSIGN_OR_RETURN(ir::Value * loV, ctx.constScalar(*wide, lo, "lowest"));
      KILN_ASSIGN_OR_RETURN(ir::Value * hiV, ctx.constScalar(*wide, hi, "highest"));
      KILN_ASSIGN_OR_RETURN(ir::Value * clipped,
                            ctx.addHelper(OpKind::kClip, {r, loV, hiV}, {}, "clip"));
      return ctx.addFinal(OpKind::kCast, {clipped}, std::move(back));
    }
  }
  return ctx.addFinal(op, std::move(inputs), std::move(attrs));
}

Status importSqueeze(ImportContext& ctx) {
  if (ctx.opset() >= 13) return importDirect(ctx, OpKind::kSqueeze);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "data"));
  KILN_ASSIGN_OR_RETURN(ir::Value * axes, intsAttrAsInput(ctx, "axes"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"axes"}));
  std::vector<ir::Value*> inputs{x};
  if (axes) inputs.push_back(axes);
  return ctx.addFinal(OpKind::kSqueeze, std::move(inputs), std::move(attrs));
}

Status importUnsqueeze(ImportContext& ctx) {
  if (ctx.opset() >= 13) return importDirect(ctx, OpKind::kUnsqueeze);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "data"));
  KILN_ASSIGN_OR_RETURN(ir::Value * axes, intsAttrAsInput(ctx, "axes"));
  if (!axes) return ctx.error("attribute 'axes' is required before opset 13");
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"axes"}));
  return ctx.addFinal(OpKind::kUnsqueeze, {x, axes}, std::move(attrs));
}

// Split: sizes from the `split` attribute (< 13) or input (13+); without them the input is cut
// into as many equal parts as the node has outputs (opset 18 spells this num_outputs).
Status importSplit(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  ir::Value* split = nullptr;
  if (ctx.opset() >= 13) {
    split = ctx.inputOrEmpty(1);
  } else {
    KILN_ASSIGN_OR_RETURN(split, intsAttrAsInput(ctx, "split"));
  }
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"split"}));
  int outs = static_cast<int>(ctx.numOutputs());
  if (outs < 1) return ctx.error("Split needs at least one output");
  if (!split && !attrs.has("num_outputs")) attrs.setInt("num_outputs", outs);
  std::vector<ir::Value*> inputs{x};
  if (split) inputs.push_back(split);
  return ctx.addFinal(OpKind::kSplit, std::move(inputs), std::move(attrs), outs);
}

// Slice before opset 10: starts, ends and optional axes are attributes; no steps.
Status importSlice(ImportContext& ctx) {
  if (ctx.opset() >= 10) return importDirect(ctx, OpKind::kSlice);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "data"));
  KILN_ASSIGN_OR_RETURN(ir::Value * starts, intsAttrAsInput(ctx, "starts"));
  KILN_ASSIGN_OR_RETURN(ir::Value * ends, intsAttrAsInput(ctx, "ends"));
  if (!starts || !ends) return ctx.error("attributes 'starts' and 'ends' are required before opset 10");
  KILN_ASSIGN_OR_RETURN(ir::Value * axes, intsAttrAsInput(ctx, "axes"));
  std::vector<ir::Value*> inputs{x, starts, ends};
  if (axes) inputs.push_back(axes);
  return ctx.addFinal(OpKind::kSlice, std::move(inputs), {});
}

// Pad before opset 11: pads (INTS) and value (FLOAT, default 0) are attributes.
Status importPad(ImportContext& ctx) {
  if (ctx.opset() >= 11) return importDirect(ctx, OpKind::kPad);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "data"));
  KILN_ASSIGN_OR_RETURN(ir::Value * pads, intsAttrAsInput(ctx, "pads"));
  if (!pads) return ctx.error("attribute 'pads' is required before opset 11");
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.attrString("mode", "constant"));
  KILN_ASSIGN_OR_RETURN(float value, ctx.attrFloat("value", 0.f));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"pads", "value"}));
  std::vector<ir::Value*> inputs{x, pads};
  if (mode == "constant" && value != 0.f) {
    KILN_ASSIGN_OR_RETURN(ir::Value * cv, ctx.constScalar(x->dtype, value, "value"));
    inputs.push_back(cv);
  }
  return ctx.addFinal(OpKind::kPad, std::move(inputs), std::move(attrs));
}

// TopK before opset 10: k is an attribute; since 10 a 1-D int64 input of one element.
Status importTopK(ImportContext& ctx) {
  if (ctx.opset() >= 10) return importDirect(ctx, OpKind::kTopK);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  if (!ctx.hasAttr("k")) return ctx.error("attribute 'k' is required before opset 10");
  KILN_ASSIGN_OR_RETURN(int64_t k, ctx.attrInt("k", 0));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"k"}));
  return ctx.addFinal(OpKind::kTopK, {x, ctx.constInt64s({k}, "k")}, std::move(attrs), 2);
}

// Range. Opset 27 allows float16/bfloat16 with stash_type (default 1: float32; 11: float64), the
// precision start + i * delta is computed in before rounding to the output type. Kiln computes
// every floating-point Range as start + i * delta in float64 and rounds once, which agrees with
// both (up to a double rounding in rare ties); other stash types are refused.
Status importRange(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * start, ctx.requiredInput(0, "start"));
  KILN_ASSIGN_OR_RETURN(ir::Value * limit, ctx.requiredInput(1, "limit"));
  KILN_ASSIGN_OR_RETURN(ir::Value * delta, ctx.requiredInput(2, "delta"));
  for (size_t i = 0; i < 3; ++i) {
    // A float bound cast from an integer (the expanded window functions' Range(0, Cast(n), 1))
    // is left to the shape function: it makes a graph input n a shape tensor input
    // (promoteShapeSources) or gives the same error.
    const ir::Value* v = ctx.input(i);
    if (v && v->producer && v->producer->op == OpKind::kCast) continue;
    KILN_RETURN_IF_ERROR(ctx.requireBuildTimeInput(i));
  }
  KILN_ASSIGN_OR_RETURN(int64_t stash, ctx.attrInt("stash_type", 1));
  if ((start->dtype == DataType::kHALF || start->dtype == DataType::kBF16) && stash != 1 &&
      stash != 11)
    return unsupported("stash_type=%lld is not supported for %s Range (1 = float32 and 11 = "
                       "float64 are)",
                       static_cast<long long>(stash), dataTypeName(start->dtype));
  return ctx.addFinal(OpKind::kRange, {start, limit, delta}, {});
}

// Upsample (opset 9) and Resize opset 10 take (X, scales) and `mode`; their coordinates are
// x_in = x_out / scale (ONNX's "asymmetric") and nearest picks floor(x_in), which for integer
// scales is the repeat of each element that Upsample is defined as.
Status importResizeV10(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  KILN_ASSIGN_OR_RETURN(ir::Value * scales, ctx.requiredInput(1, "scales"));
  KILN_RETURN_IF_ERROR(ctx.requireBuildTimeInput(1));
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.attrString("mode", "nearest"));
  if (mode != "nearest" && mode != "linear")
    return ctx.error("mode '%s' is not valid for %s opset %lld (expected 'nearest' or 'linear')",
                     mode.c_str(), ctx.opType().c_str(), static_cast<long long>(ctx.opset()));
  ir::Attributes attrs;
  attrs.setString("mode", mode);
  attrs.setString("coordinate_transformation_mode", "asymmetric");
  attrs.setString("nearest_mode", "floor");
  return ctx.addFinal(OpKind::kResize, {x, nullptr, scales}, std::move(attrs));
}

// Resize 11+: (X, roi, scales, sizes). Exporters pass unused ones as empty tensors; the IR wants
// them absent.
Status importResize(ImportContext& ctx) {
  if (ctx.opset() < 11) return importResizeV10(ctx);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  KILN_ASSIGN_OR_RETURN(std::string ctm, ctx.attrString("coordinate_transformation_mode", "half_pixel"));
  if (ctm == "tf_half_pixel_for_nn")
    return unsupported("coordinate_transformation_mode 'tf_half_pixel_for_nn' (removed from ONNX "
                       "in opset 13) is not supported");
  // scales or sizes decide the output shape: needed at build time (roi is read at run time). An
  // empty scales tensor ([0], as exporters pass with sizes) is absent.
  for (size_t i = 2; i < 4; ++i) {
    const ir::Value* v = ctx.input(i);
    if (v && v->shape.size() == 1 && v->shape[0].isConst() && v->shape[0].constValue() == 0)
      continue;
    KILN_RETURN_IF_ERROR(ctx.requireBuildTimeInput(i));
  }
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  std::vector<ir::Value*> inputs{x, ctx.inputOrEmpty(1), ctx.inputOrEmpty(2), ctx.inputOrEmpty(3)};
  while (inputs.size() > 1 && !inputs.back()) inputs.pop_back();
  return ctx.addFinal(OpKind::kResize, std::move(inputs), std::move(attrs));
}

// SpaceToDepth: opset 28 added `mode` (DCR, the default and the only earlier form, or CRD). For
// blocksize b, C channels and a block offset (bh, bw), output channel
//   DCR: (bh*b + bw)*C + c        CRD: c*b*b + bh*b + bw
// so CRD is DCR followed by a channel permutation: view the DCR output [N, b*b*C, h, w] as
// [N, b*b, C, h*w], swap axes 1 and 2, and reshape back to the DCR output's shape. N, h and w may
// be symbolic; C must be static (it fixes the split of the channel axis).
Status importSpaceToDepth(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.attrString("mode", "DCR"));
  if (mode != "DCR" && mode != "CRD")
    return ctx.error("mode '%s' is not valid (expected 'DCR' or 'CRD')", mode.c_str());
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"mode"}));
  if (mode == "DCR") return ctx.addFinal(OpKind::kSpaceToDepth, {x}, std::move(attrs));
  const int64_t b = attrs.getInt("blocksize", 0);
  KILN_ASSIGN_OR_RETURN(ir::Value * dcr, ctx.addHelper(OpKind::kSpaceToDepth, {x}, attrs, "dcr"));
  if (!x->shape[1].isConst())
    return unsupported("SpaceToDepth mode CRD needs a static channel dimension; input '%s' has "
                       "shape %s",
                       x->name.c_str(), ir::shapeToString(x->shape).c_str());
  const int64_t channels = x->shape[1].constValue();
  KILN_ASSIGN_OR_RETURN(
      ir::Value * blocks,
      ctx.addHelper(OpKind::kReshape, {dcr, ctx.constInt64s({0, b * b, channels, -1}, "blocks_shape")},
                    {}, "blocks"));
  ir::Attributes perm;
  perm.setInts("perm", {0, 2, 1, 3});
  KILN_ASSIGN_OR_RETURN(ir::Value * swapped,
                        ctx.addHelper(OpKind::kTranspose, {blocks}, perm, "crd_order"));
  KILN_ASSIGN_OR_RETURN(ir::Value * shape, ctx.addHelper(OpKind::kShape, {dcr}, {}, "shape"));
  return ctx.addFinal(OpKind::kReshape, {swapped, shape}, {});
}

}  // namespace

#define KILN_DIRECT(name) \
  t[#name] = [](ImportContext& c) { return importDirect(c, OpKind::k##name); };
#define KILN_REDUCE(name, since) \
  t[#name] = [](ImportContext& c) { return importReduce(c, OpKind::k##name, since); };

void registerShapeImporters(OpImporterTable& t) {
  KILN_REDUCE(ReduceSum, 13)
  KILN_REDUCE(ReduceMean, 18) KILN_REDUCE(ReduceMax, 18) KILN_REDUCE(ReduceMin, 18)
  KILN_REDUCE(ReduceProd, 18) KILN_REDUCE(ReduceL1, 18) KILN_REDUCE(ReduceL2, 18)
  KILN_REDUCE(ReduceSumSquare, 18) KILN_REDUCE(ReduceLogSum, 18) KILN_REDUCE(ReduceLogSumExp, 18)
  KILN_DIRECT(ArgMax) KILN_DIRECT(ArgMin)
  KILN_DIRECT(Reshape) KILN_DIRECT(Flatten) KILN_DIRECT(Transpose) KILN_DIRECT(Concat)
  KILN_DIRECT(Gather) KILN_DIRECT(GatherElements) KILN_DIRECT(Expand) KILN_DIRECT(Tile)
  KILN_DIRECT(Shape) KILN_DIRECT(Size) KILN_DIRECT(ConstantOfShape)
  KILN_DIRECT(DepthToSpace)
  t["Squeeze"] = importSqueeze;
  t["Unsqueeze"] = importUnsqueeze;
  t["Split"] = importSplit;
  t["Slice"] = importSlice;
  t["Pad"] = importPad;
  t["TopK"] = importTopK;
  t["SpaceToDepth"] = importSpaceToDepth;
  t["Range"] = importRange;
  t["Resize"] = importResize;
  t["Upsample"] = importResizeV10;
}

#undef KILN_DIRECT
#undef KILN_REDUCE

}  // namespace kiln::onnx_import
