// Importers for the transformer and quantization ops: RMSNormalization, Attention,
// RotaryEmbedding, GridSample, QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
// MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

#include "onnx/model_importer.h"
#include "onnx/onnx_types.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

// Replaces an attribute holding an ONNX TensorProto data type by Kiln's numbering (the IR's
// convention, as Cast's `to`). Absent or 0 (the "unset" value): left out.
Status convertTypeAttr(ImportContext& ctx, ir::Attributes& attrs, const char* name) {
  if (!ctx.hasAttr(name)) return Status::ok();
  attrs.erase(name);
  KILN_ASSIGN_OR_RETURN(int64_t t, ctx.attrInt(name, 0));
  if (t == 0) return Status::ok();
  if (t < INT32_MIN || t > INT32_MAX)
    return ctx.error("attribute '%s' = %lld is not an ONNX data type", name, static_cast<long long>(t));
  KILN_ASSIGN_OR_RETURN(DataType dt, dataTypeFromOnnx(static_cast<int32_t>(t), std::string("attribute '") + name + "'"));
  attrs.setInt(name, static_cast<int64_t>(dt));
  return Status::ok();
}

std::vector<ir::Value*> positionalInputs(const ImportContext& ctx) {
  std::vector<ir::Value*> inputs;
  for (size_t i = 0; i < ctx.numInputs(); ++i) inputs.push_back(ctx.input(i));
  while (!inputs.empty() && !inputs.back()) inputs.pop_back();
  return inputs;
}

// QuantizeLinear / DequantizeLinear, opsets 10-24. Opset 10 has no axis (its scales are
// per-tensor, for which axis does not matter); opset 21 adds block_size and output_dtype
// (QuantizeLinear) and 23 output_dtype (DequantizeLinear) and precision: type attributes are
// converted to Kiln's numbering.
Status importQuantLike(ImportContext& ctx, OpKind op) {
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  KILN_RETURN_IF_ERROR(convertTypeAttr(ctx, attrs, "output_dtype"));
  KILN_RETURN_IF_ERROR(convertTypeAttr(ctx, attrs, "precision"));
  return ctx.addFinal(op, positionalInputs(ctx), std::move(attrs));
}

// GridSample opsets 16-19 name the modes "bilinear" and "bicubic"; 20+ "linear" and "cubic".
Status importGridSample(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  StatusOr<std::string> mode = ctx.attrString("mode", ctx.opset() >= 20 ? "linear" : "bilinear");
  if (!mode.isOk()) return mode.status();
  const std::string& m = mode.value();
  attrs.setString("mode", m == "bilinear" ? std::string("linear") : m == "bicubic" ? std::string("cubic") : m);
  return ctx.addFinal(OpKind::kGridSample, positionalInputs(ctx), std::move(attrs));
}

// Attention (opsets 23-25; 25 adds left/right_window_size). softmax_precision only asks for at
// least that precision: the CPU kernel computes in float64.
Status importAttention(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"softmax_precision"}));
  const int outs = std::max(1, static_cast<int>(ctx.numOutputs()));
  return ctx.addFinal(OpKind::kAttention, positionalInputs(ctx), std::move(attrs), outs);
}

}  // namespace

#define KILN_DIRECT(name) \
  t[#name] = [](ImportContext& c) { return importDirect(c, OpKind::k##name); };

void registerTransformerQuantImporters(OpImporterTable& t) {
  KILN_DIRECT(RMSNormalization) KILN_DIRECT(RotaryEmbedding) KILN_DIRECT(DynamicQuantizeLinear)
  KILN_DIRECT(MatMulInteger) KILN_DIRECT(ConvInteger) KILN_DIRECT(QLinearMatMul) KILN_DIRECT(QLinearConv)
  t["Attention"] = importAttention;
  t["GridSample"] = importGridSample;
  t["QuantizeLinear"] = [](ImportContext& c) { return importQuantLike(c, OpKind::kQuantizeLinear); };
  t["DequantizeLinear"] = [](ImportContext& c) { return importQuantLike(c, OpKind::kDequantizeLinear); };
}

#undef KILN_DIRECT

}  // namespace kiln::onnx_import
