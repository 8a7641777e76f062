// Importers for the newer sequence-model, signal and vision ops: LinearAttention,
// CausalConvWithState, TensorScatter, DFT, STFT, MelWeightMatrix, AffineGrid, Col2Im,
// CenterCropPad, MaxUnpool, RoiAlign, DeformConv.
//
// The IR forms are the ONNX ones (newest opset), so most imports are 1:1. Rewrites:
//   DFT opset 17-19: `axis` is an attribute (default 1); it becomes opset 20's third input.
//   MelWeightMatrix: output_datatype (an ONNX data type) becomes Kiln's numbering.
//   RoiAlign opset 10-15: no coordinate_transformation_mode attribute; it meant output_half_pixel.
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "onnx/model_importer.h"
#include "onnx/onnx_types.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

std::vector<ir::Value*> positionalInputs(const ImportContext& ctx) {
  std::vector<ir::Value*> inputs;
  for (size_t i = 0; i < ctx.numInputs(); ++i) inputs.push_back(ctx.input(i));
  while (!inputs.empty() && !inputs.back()) inputs.pop_back();
  return inputs;
}

// DFT opset 17-19: (input, dft_length?) with attribute axis (default 1); opset 20: (input,
// dft_length?, axis?) with axis default -2.
Status importDft(ImportContext& ctx) {
  if (ctx.opset() >= 20) return importDirect(ctx, OpKind::kDFT);
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"axis"}));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.attrInt("axis", 1));
  std::vector<ir::Value*> inputs = {ctx.input(0), ctx.input(1)};
  auto axisValue = std::make_shared<ir::TensorData>(DataType::kINT64, std::vector<int64_t>{});
  *axisValue->as<int64_t>() = axis;
  inputs.push_back(ctx.constant(axisValue, "axis"));
  return ctx.addFinal(OpKind::kDFT, std::move(inputs), std::move(attrs));
}

Status importMelWeightMatrix(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"output_datatype"}));
  KILN_ASSIGN_OR_RETURN(int64_t t, ctx.attrInt("output_datatype", 1));
  if (t < INT32_MIN || t > INT32_MAX)
    return ctx.error("attribute 'output_datatype' = %lld is not an ONNX data type",
                     static_cast<long long>(t));
  KILN_ASSIGN_OR_RETURN(DataType dt,
                        dataTypeFromOnnx(static_cast<int32_t>(t), "attribute 'output_datatype'"));
  attrs.setInt("output_datatype", static_cast<int64_t>(dt));
  return ctx.addFinal(OpKind::kMelWeightMatrix, positionalInputs(ctx), std::move(attrs));
}

Status importRoiAlign(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  if (ctx.opset() < 16) attrs.setString("coordinate_transformation_mode", "output_half_pixel");
  return ctx.addFinal(OpKind::kRoiAlign, positionalInputs(ctx), std::move(attrs));
}

// 1:1 imports: the IR op named like the ONNX op.
Status importDirectByName(ImportContext& ctx) {
  std::optional<OpKind> op = ir::opFromName(ctx.opType());
  if (!op) return ctx.error("no IR op named '%s'", ctx.opType().c_str());
  return importDirect(ctx, *op);
}

}  // namespace

void registerExtImporters(OpImporterTable& t) {
  for (OpKind op : {OpKind::kLinearAttention, OpKind::kCausalConvWithState, OpKind::kTensorScatter,
                    OpKind::kSTFT, OpKind::kAffineGrid, OpKind::kCol2Im, OpKind::kCenterCropPad,
                    OpKind::kMaxUnpool, OpKind::kDeformConv})
    t[ir::opName(op)] = importDirectByName;
  t["DFT"] = importDft;
  t["MelWeightMatrix"] = importMelWeightMatrix;
  t["RoiAlign"] = importRoiAlign;
}

}  // namespace kiln::onnx_import
