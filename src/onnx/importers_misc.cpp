// ONNX importers for the losses and small ops of ops.def (group "misc"): SoftmaxCrossEntropyLoss,
// NegativeLogLikelihoodLoss, CumProd, Swish, SwiGLU, EyeLike, ReverseSequence, Det, HannWindow,
// HammingWindow, BlackmanWindow.
//
// Schema history (opsets 9-28) and what changes for the importer:
//   SoftmaxCrossEntropyLoss 12/13, NegativeLogLikelihoodLoss 12/13/22, EyeLike 9/22, Det 11/22,
//   ReverseSequence 10/28: type lists only                              -> direct
//   CumProd 26, Swish 24, SwiGLU 28, Hann/Hamming/BlackmanWindow 17: one version each
//   EyeLike `dtype` and the windows' `output_datatype` are ONNX TensorProto.DataType numbers; the
//   IR stores Kiln's DataType numbers (as Cast's `to`).
#include <cstdint>

#include "onnx/model_importer.h"
#include "onnx/onnx_types.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

// Copies the attributes and converts the ONNX data type attribute `name` (when present, or
// `onnxDefault` when >= 0) into Kiln's numbering.
StatusOr<ir::Attributes> attrsWithDataType(ImportContext& ctx, const char* name,
                                           int64_t onnxDefault) {
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({name}));
  int64_t onnxType = onnxDefault;
  if (ctx.hasAttr(name)) {
    KILN_ASSIGN_OR_RETURN(onnxType, ctx.attrInt(name, 0));
  }
  if (onnxType < 0) return attrs;
  if (onnxType > INT32_MAX)
    return ctx.error("attribute '%s' = %lld is not an ONNX data type", name,
                     static_cast<long long>(onnxType));
  KILN_ASSIGN_OR_RETURN(DataType dt, dataTypeFromOnnx(static_cast<int32_t>(onnxType),
                                                      std::string("attribute ") + name));
  attrs.setInt(name, static_cast<int64_t>(dt));
  return attrs;
}

// EyeLike(input) dtype k: dtype absent means the input's type.
Status importEyeLike(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, attrsWithDataType(ctx, "dtype", -1));
  return ctx.addFinal(OpKind::kEyeLike, {x}, std::move(attrs));
}

// Hann/Hamming/BlackmanWindow(size) periodic output_datatype (ONNX default 1: float).
template <OpKind kOp>
Status importWindow(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * size, ctx.requiredInput(0, "size"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, attrsWithDataType(ctx, "output_datatype", 1));
  return ctx.addFinal(kOp, {size}, std::move(attrs));
}

}  // namespace

#define KILN_DIRECT(name) \
  t[#name] = [](ImportContext& c) { return importDirect(c, OpKind::k##name); };

void registerMiscImporters(OpImporterTable& t) {
  KILN_DIRECT(SoftmaxCrossEntropyLoss)
  KILN_DIRECT(NegativeLogLikelihoodLoss) KILN_DIRECT(CumProd) KILN_DIRECT(Swish) KILN_DIRECT(SwiGLU)
      KILN_DIRECT(ReverseSequence) KILN_DIRECT(Det) t["EyeLike"] = importEyeLike;
  t["HannWindow"] = importWindow<OpKind::kHannWindow>;
  t["HammingWindow"] = importWindow<OpKind::kHammingWindow>;
  t["BlackmanWindow"] = importWindow<OpKind::kBlackmanWindow>;
}

#undef KILN_DIRECT

}  // namespace kiln::onnx_import
