// ONNX importers of the conformance-breadth ops (ops.def, helper H8 section): BitCast,
// TfIdfVectorizer, and the ai.onnx.ml ops Binarizer and ArrayFeatureExtractor (mlOpImporters).
//
// Schema history (opsets 9-28): BitCast 26 (one version), TfIdfVectorizer 9 (one version).
// ai.onnx.ml (opsets 1-5): Binarizer 1 and ArrayFeatureExtractor 1, unchanged since.
#include <cstdint>

#include "onnx/model_importer.h"
#include "onnx/onnx_types.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

// BitCast(input) to: `to` is an ONNX TensorProto.DataType number; the IR stores Kiln's (as Cast).
Status importBitCast(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  if (!ctx.hasAttr("to")) return ctx.error("attribute 'to' is required");
  KILN_ASSIGN_OR_RETURN(int64_t to, ctx.attrInt("to", 0));
  if (to < INT32_MIN || to > INT32_MAX)
    return ctx.error("attribute 'to' = %lld is not an ONNX data type", static_cast<long long>(to));
  KILN_ASSIGN_OR_RETURN(DataType dt,
                        dataTypeFromOnnx(static_cast<int32_t>(to), "the BitCast target type"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"to"}));
  attrs.setInt("to", static_cast<int64_t>(dt));
  return ctx.addFinal(OpKind::kBitCast, {x}, std::move(attrs));
}

// TfIdfVectorizer(X): Kiln has no string tensors, so pool_strings is refused; the attributes
// are checked by the shape function (ir/tfidf_params.h).
Status importTfIdfVectorizer(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  if (ctx.hasAttr("pool_strings"))
    return unsupported(
        "TfIdfVectorizer with pool_strings: Kiln has no string tensors (only "
        "pool_int64s with int32/int64 input is supported)");
  if (!ctx.hasAttr("pool_int64s")) return ctx.error("attribute 'pool_int64s' is required");
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  return ctx.addFinal(OpKind::kTfIdfVectorizer, {x}, std::move(attrs));
}

// ai.onnx.ml Binarizer(X) threshold=0: 1 where X > threshold, else 0, in X's type. Imported as
// Cast(Greater(X, threshold), X's type); integer X is compared in float64 (as the reference
// compares an integer array with a float threshold).
Status importBinarizer(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  KILN_ASSIGN_OR_RETURN(float threshold, ctx.attrFloat("threshold", 0.0f));
  const DataType t = x->dtype;
  if (t != DataType::kFLOAT && t != DataType::kDOUBLE && t != DataType::kINT32 &&
      t != DataType::kINT64)
    return ctx.error("X has type %s; Binarizer takes float32, float64, int32 or int64",
                     dataTypeName(t));
  ir::Value* cmp = x;
  const bool isInt = t == DataType::kINT32 || t == DataType::kINT64;
  if (isInt) {
    ir::Attributes toDouble;
    toDouble.setInt("to", static_cast<int64_t>(DataType::kDOUBLE));
    KILN_ASSIGN_OR_RETURN(cmp, ctx.addHelper(OpKind::kCast, {x}, std::move(toDouble), "as_double"));
  }
  KILN_ASSIGN_OR_RETURN(ir::Value * thr,
                        ctx.constScalar(isInt ? DataType::kDOUBLE : t, threshold, "threshold"));
  KILN_ASSIGN_OR_RETURN(ir::Value * gt, ctx.addHelper(OpKind::kGreater, {cmp, thr}, {}, "greater"));
  ir::Attributes back;
  back.setInt("to", static_cast<int64_t>(t));
  return ctx.addFinal(OpKind::kCast, {gt}, std::move(back));
}

// ai.onnx.ml ArrayFeatureExtractor(X, Y): the elements of X's last axis at the indices Y
// (flattened) -> X.shape[:-1] + [numel(Y)]; a 1-D X gives [1, numel(Y)] (onnxruntime's and the
// reference's shape). Imported as Gather(X, Reshape(Y, [-1]), axis=-1) (+ Unsqueeze for 1-D X).
Status importArrayFeatureExtractor(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  KILN_ASSIGN_OR_RETURN(ir::Value * y, ctx.requiredInput(1, "Y"));
  if (y->dtype != DataType::kINT64)
    return ctx.error("Y has type %s; expected int64", dataTypeName(y->dtype));
  if (x->shape.empty()) return ctx.error("X must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(ir::Value * flat,
                        ctx.addHelper(OpKind::kReshape, {y, ctx.constInt64s({-1}, "flat_shape")},
                                      {}, "flat_indices"));
  ir::Attributes axis;
  axis.setInt("axis", -1);
  if (x->shape.size() > 1) return ctx.addFinal(OpKind::kGather, {x, flat}, std::move(axis));
  KILN_ASSIGN_OR_RETURN(ir::Value * g,
                        ctx.addHelper(OpKind::kGather, {x, flat}, std::move(axis), "gather"));
  return ctx.addFinal(OpKind::kUnsqueeze, {g, ctx.constInt64s({0}, "axes")}, {});
}

}  // namespace

void registerConfImporters(OpImporterTable& t) {
  t["BitCast"] = importBitCast;
  t["TfIdfVectorizer"] = importTfIdfVectorizer;
}

const OpImporterTable& mlOpImporters() {
  static const OpImporterTable table = [] {
    OpImporterTable t;
    t["Binarizer"] = importBinarizer;
    t["ArrayFeatureExtractor"] = importArrayFeatureExtractor;
    return t;
  }();
  return table;
}

}  // namespace kiln::onnx_import
