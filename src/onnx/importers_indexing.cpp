// ONNX importers for the indexing group of ops.def: BitwiseAnd/Or/Xor, LpPool, Hardmax,
// LpNormalization, MeanVarianceNormalization, LRN, CumSum, Trilu, GatherND, Scatter,
// ScatterElements, ScatterND, OneHot.
//
// Schema history (opsets 9-24) and what changes for the importer:
//   Scatter 9/11 (deprecated): ScatterElements without `reduction`  -> ScatterElements
//   ScatterElements/ScatterND 11, 13, 16 (+reduction add/mul), 18 (+max/min): newer attributes
//     only, absent means "none"                                      -> direct
//   GatherND 11, 12 (+batch_dims), 13 (+bfloat16)                   -> direct
//   Hardmax 11: the input is coerced to 2-D at `axis` (default 1); 13: one axis (default -1)
//   LpPool 11, 18 (+ceil_mode, dilations), 22 (+bfloat16): absent attributes keep their old
//     meaning                                                        -> direct
//   CumSum 11/14, Trilu 14, OneHot 9/11, LRN 13, LpNormalization 22, MeanVarianceNormalization
//     9/13, Bitwise* 18: type lists only                             -> direct
#include "onnx/model_importer.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

// Scatter (opsets 9-10, deprecated in 11) is ScatterElements without a reduction.
Status importScatter(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * data, ctx.requiredInput(0, "data"));
  KILN_ASSIGN_OR_RETURN(ir::Value * indices, ctx.requiredInput(1, "indices"));
  KILN_ASSIGN_OR_RETURN(ir::Value * updates, ctx.requiredInput(2, "updates"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  return ctx.addFinal(OpKind::kScatterElements, {data, indices, updates}, std::move(attrs));
}

// Hardmax before opset 13 flattens the input to 2-D at `axis` (default 1) and takes one
// maximum over all dims from `axis` on:
//   y = Reshape(Hardmax(Flatten(x, axis), axis=-1), Shape(x))
// When axis is the last dim that is the opset-13 form.
Status importHardmax(ImportContext& ctx) {
  if (ctx.opset() >= 13) return importDirect(ctx, OpKind::kHardmax);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.attrInt("axis", 1));
  const auto rank = static_cast<int64_t>(x->shape.size());
  if (rank == 0 || axis < -rank || axis >= rank)
    return ctx.error("axis %lld is out of range for input '%s' of rank %lld", static_cast<long long>(axis),
                     x->name.c_str(), static_cast<long long>(rank));
  if (axis < 0) axis += rank;
  ir::Attributes last;
  last.setInt("axis", -1);
  if (axis == rank - 1) return ctx.addFinal(OpKind::kHardmax, {x}, last);
  ir::Attributes flattenAttrs;
  flattenAttrs.setInt("axis", axis);
  KILN_ASSIGN_OR_RETURN(ir::Value * flat, ctx.addHelper(OpKind::kFlatten, {x}, flattenAttrs, "flatten"));
  KILN_ASSIGN_OR_RETURN(ir::Value * hm, ctx.addHelper(OpKind::kHardmax, {flat}, last, "hardmax"));
  KILN_ASSIGN_OR_RETURN(ir::Value * shape, ctx.addHelper(OpKind::kShape, {x}, {}, "shape"));
  return ctx.addFinal(OpKind::kReshape, {hm, shape}, {});
}

}  // namespace

#define KILN_DIRECT(name) \
  t[#name] = [](ImportContext& c) { return importDirect(c, OpKind::k##name); };

void registerIndexingImporters(OpImporterTable& t) {
  KILN_DIRECT(BitwiseAnd) KILN_DIRECT(BitwiseOr) KILN_DIRECT(BitwiseXor) KILN_DIRECT(LpPool)
  KILN_DIRECT(LpNormalization) KILN_DIRECT(MeanVarianceNormalization) KILN_DIRECT(LRN)
  KILN_DIRECT(CumSum) KILN_DIRECT(Trilu) KILN_DIRECT(GatherND) KILN_DIRECT(ScatterElements)
  KILN_DIRECT(ScatterND) KILN_DIRECT(OneHot)
  t["Scatter"] = importScatter;
  t["Hardmax"] = importHardmax;
}

#undef KILN_DIRECT

}  // namespace kiln::onnx_import
