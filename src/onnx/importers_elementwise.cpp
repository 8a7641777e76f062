// Importers for elementwise ops (the Binary and Unary families of ops.def) and the ONNX ops that
// become constants or identities: Constant, Dropout.
#include <cstdint>
#include <memory>
#include <vector>

#include "onnx/model_importer.h"
#include "onnx/onnx_types.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

// Clip: opset < 11 carries min/max as float attributes; since 11 they are optional scalar
// inputs of the input's type.
Status importClip(ImportContext& ctx) {
  if (ctx.opset() >= 11) return importDirect(ctx, OpKind::kClip);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  std::vector<ir::Value*> inputs{x, nullptr, nullptr};
  if (ctx.hasAttr("min")) {
    KILN_ASSIGN_OR_RETURN(float lo, ctx.attrFloat("min", 0.f));
    KILN_ASSIGN_OR_RETURN(inputs[1], ctx.constScalar(x->dtype, lo, "min"));
  }
  if (ctx.hasAttr("max")) {
    KILN_ASSIGN_OR_RETURN(float hi, ctx.attrFloat("max", 0.f));
    KILN_ASSIGN_OR_RETURN(inputs[2], ctx.constScalar(x->dtype, hi, "max"));
  }
  while (inputs.size() > 1 && !inputs.back()) inputs.pop_back();
  return ctx.addFinal(OpKind::kClip, std::move(inputs), {});
}

// Cast: `to` is an ONNX TensorProto.DataType; the IR stores Kiln's DataType number.
Status importCast(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  if (!ctx.hasAttr("to")) return ctx.error("attribute 'to' is required");
  KILN_ASSIGN_OR_RETURN(int64_t to, ctx.attrInt("to", 0));
  if (to < INT32_MIN || to > INT32_MAX)
    return ctx.error("attribute 'to' = %lld is not an ONNX data type", static_cast<long long>(to));
  KILN_ASSIGN_OR_RETURN(DataType dt, dataTypeFromOnnx(static_cast<int32_t>(to), "the Cast target type"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes({"to"}));
  attrs.setInt("to", static_cast<int64_t>(dt));
  return ctx.addFinal(OpKind::kCast, {x}, std::move(attrs));
}

// CastLike (opset 15+): Cast to the element type of the second input (target_type), whose
// values are not read. `saturate` only matters for float8 targets and `round_mode` (opset 24+)
// only for float8e8m0; both are kept as Cast keeps them.
Status importCastLike(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  KILN_ASSIGN_OR_RETURN(ir::Value * like, ctx.requiredInput(1, "target_type"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  attrs.setInt("to", static_cast<int64_t>(like->dtype));
  return ctx.addFinal(OpKind::kCast, {x}, std::move(attrs));
}

// Dropout is the identity at inference. Opset 12 moved `ratio` to an input and added an
// optional training_mode input: a constant false (or absent) is fine, anything else would mean
// random masking. The optional mask output is all true at inference (opset 10+: bool; before:
// the input's type, all ones): ConstantOfShape(Shape(data)).
Status importDropout(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "data"));
  if (ctx.opset() >= 12) {
    if (ir::Value* tm = ctx.input(2)) {
      if (!tm->isConstant() || tm->constant->numel() != 1)
        return unsupported("training_mode (input '%s') must be a constant scalar; Kiln runs "
                           "Dropout only in inference mode",
                           tm->name.c_str());
      if (tm->constant->doubleAt(0) != 0)
        return unsupported("training_mode is true; Kiln runs Dropout only in inference mode");
    }
  }
  if (!ctx.outputUsed(1)) return ctx.addFinal(OpKind::kIdentity, {x}, {});
  KILN_RETURN_IF_ERROR(ctx.addFinalOutput(0, OpKind::kIdentity, {x}, {}, ""));
  KILN_ASSIGN_OR_RETURN(ir::Value * shape, ctx.addHelper(OpKind::kShape, {x}, {}, "shape"));
  auto one = std::make_shared<ir::TensorData>(DataType::kBOOL, std::vector<int64_t>{1});
  one->as<bool>()[0] = true;
  ir::Attributes fill;
  fill.setTensor("value", one);
  if (ctx.opset() >= 10)
    return ctx.addFinalOutput(1, OpKind::kConstantOfShape, {shape}, std::move(fill), "mask");
  KILN_ASSIGN_OR_RETURN(ir::Value * mask,
                        ctx.addHelper(OpKind::kConstantOfShape, {shape}, std::move(fill), "mask"));
  ir::Attributes cast;
  cast.setInt("to", static_cast<int64_t>(x->dtype));
  return ctx.addFinalOutput(1, OpKind::kCast, {mask}, std::move(cast), "mask_cast");
}

// Constant becomes an IR constant named after its output; no layer is added.
Status importConstant(ImportContext& ctx) {
  if (ctx.node().attribute_size() != 1)
    return ctx.error("a Constant node needs exactly one value attribute, it has %d",
                     ctx.node().attribute_size());
  const onnx::AttributeProto& a = ctx.node().attribute(0);
  const std::string& n = a.name();
  ir::TensorDataPtr data;
  if (n == "value") {
    if (attributeType(a) != onnx::AttributeProto::TENSOR)
      return ctx.error("attribute 'value' must be TENSOR, but it is %s",
                       attributeTypeName(attributeType(a)));
    KILN_ASSIGN_OR_RETURN(data, tensorFromProto(a.t(), ctx.state().modelDir, "attribute 'value'"));
  } else if (n == "value_float") {
    KILN_ASSIGN_OR_RETURN(float f, ctx.attrFloat(n, 0.f));
    data = ir::TensorData::scalarFloat(f);
  } else if (n == "value_floats") {
    if (attributeType(a) != onnx::AttributeProto::FLOATS)
      return ctx.error("attribute 'value_floats' must be FLOATS, but it is %s",
                       attributeTypeName(attributeType(a)));
    std::vector<float> v(a.floats().begin(), a.floats().end());
    data = ir::TensorData::fromVector(DataType::kFLOAT, {static_cast<int64_t>(v.size())}, v);
  } else if (n == "value_int") {
    KILN_ASSIGN_OR_RETURN(int64_t i, ctx.attrInt(n, 0));
    data = ir::TensorData::scalarInt64(i);
  } else if (n == "value_ints") {
    KILN_ASSIGN_OR_RETURN(auto v, ctx.attrInts(n));
    data = ir::TensorData::vectorInt64(*v);
  } else if (n == "sparse_value" || n == "value_string" || n == "value_strings") {
    return unsupported("Constant with attribute '%s' is not supported (Kiln has no %s tensors)",
                       n.c_str(), n == "sparse_value" ? "sparse" : "string");
  } else {
    return ctx.error("unknown Constant attribute '%s'", n.c_str());
  }
  return ctx.bindOutputConstant(0, std::move(data));
}

}  // namespace

#define KILN_DIRECT(name) \
  t[#name] = [](ImportContext& c) { return importDirect(c, OpKind::k##name); };

void registerElementwiseImporters(OpImporterTable& t) {
  // Binary: unchanged from opset 9 to 24 (numpy broadcasting since opset 7).
  KILN_DIRECT(Add) KILN_DIRECT(Sub) KILN_DIRECT(Mul) KILN_DIRECT(Div) KILN_DIRECT(Pow)
  KILN_DIRECT(Max) KILN_DIRECT(Min) KILN_DIRECT(Sum) KILN_DIRECT(Mean) KILN_DIRECT(Mod)
  KILN_DIRECT(PRelu) KILN_DIRECT(Equal) KILN_DIRECT(Less) KILN_DIRECT(LessOrEqual)
  KILN_DIRECT(Greater) KILN_DIRECT(GreaterOrEqual) KILN_DIRECT(And) KILN_DIRECT(Or)
  KILN_DIRECT(Xor) KILN_DIRECT(BitShift) KILN_DIRECT(Where)
  // Unary.
  KILN_DIRECT(Relu) KILN_DIRECT(LeakyRelu) KILN_DIRECT(Elu) KILN_DIRECT(Selu) KILN_DIRECT(Celu)
  KILN_DIRECT(Sigmoid) KILN_DIRECT(HardSigmoid) KILN_DIRECT(HardSwish) KILN_DIRECT(Tanh)
  KILN_DIRECT(Softplus) KILN_DIRECT(Softsign) KILN_DIRECT(Mish) KILN_DIRECT(ThresholdedRelu)
  KILN_DIRECT(Shrink) KILN_DIRECT(Gelu) KILN_DIRECT(Erf) KILN_DIRECT(Exp) KILN_DIRECT(Log)
  KILN_DIRECT(Sqrt) KILN_DIRECT(Reciprocal) KILN_DIRECT(Neg) KILN_DIRECT(Abs) KILN_DIRECT(Sign)
  KILN_DIRECT(Floor) KILN_DIRECT(Ceil) KILN_DIRECT(Round) KILN_DIRECT(Sin) KILN_DIRECT(Cos)
  KILN_DIRECT(Tan) KILN_DIRECT(Asin) KILN_DIRECT(Acos) KILN_DIRECT(Atan) KILN_DIRECT(Sinh)
  KILN_DIRECT(Cosh) KILN_DIRECT(Asinh) KILN_DIRECT(Acosh) KILN_DIRECT(Atanh) KILN_DIRECT(Not)
  KILN_DIRECT(BitwiseNot) KILN_DIRECT(IsNaN) KILN_DIRECT(IsInf) KILN_DIRECT(Identity)
  t["Clip"] = importClip;
  t["Cast"] = importCast;
  t["CastLike"] = importCastLike;
  t["Dropout"] = importDropout;
  t["Constant"] = importConstant;
}

#undef KILN_DIRECT

}  // namespace kiln::onnx_import
