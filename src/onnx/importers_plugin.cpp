// ONNX nodes that become plugin layers: the node's (op type, domain) matched a registered
// creator's (name, namespace) in ModelImporter::checkGraph. Attributes become fields, converted
// to the type the creator's schema declares:
//
//   schema type    ONNX attribute accepted
//   int64          INT
//   float32        FLOAT, INT
//   string         STRING
//   int64 list     INTS, INT (one element)
//   float32 list   FLOATS, INTS, FLOAT (one element), a float TENSOR (its elements)
//   bytes          STRING (its bytes), TENSOR (its raw little-endian bytes)
//
// Inputs are positional; trailing absent optional inputs are dropped, absent ones in the
// middle are an error (plugins see only present inputs).
#include "onnx/model_importer.h"
#include "onnx/onnx_types.h"
#include "plugins/plugin_node.h"
#include "plugins/plugin_registry.h"

namespace kiln::onnx_import {

namespace {

StatusOr<PluginField> fieldFromAttribute(const std::string& name, const ir::AttrValue& v,
                                         const PluginFieldSpec& spec) {
  ir::AttrType t = ir::Attributes::typeOf(v);
  auto bad = [&]() {
    const char* kNames[] = {"INT", "FLOAT", "STRING", "INTS", "FLOATS", "STRINGS", "TENSOR"};
    return invalidArgument("attribute '%s' is %s, which cannot become plugin field '%s' of type %s",
                           name.c_str(), kNames[static_cast<size_t>(t)], name.c_str(),
                           pluginFieldTypeName(spec.type));
  };
  switch (spec.type) {
    case PluginFieldType::kINT64:
      if (t == ir::AttrType::kInt) return PluginField(name, std::get<int64_t>(v));
      return bad();
    case PluginFieldType::kFLOAT32:
      if (t == ir::AttrType::kFloat) return PluginField(name, std::get<float>(v));
      if (t == ir::AttrType::kInt) return PluginField(name, static_cast<float>(std::get<int64_t>(v)));
      return bad();
    case PluginFieldType::kSTRING:
      if (t == ir::AttrType::kString) return PluginField(name, std::get<std::string>(v));
      return bad();
    case PluginFieldType::kINT64S:
      if (t == ir::AttrType::kInts) return PluginField(name, std::get<std::vector<int64_t>>(v));
      if (t == ir::AttrType::kInt) return PluginField(name, std::vector<int64_t>{std::get<int64_t>(v)});
      return bad();
    case PluginFieldType::kFLOAT32S: {
      if (t == ir::AttrType::kFloats) return PluginField(name, std::get<std::vector<float>>(v));
      if (t == ir::AttrType::kFloat) return PluginField(name, std::vector<float>{std::get<float>(v)});
      if (t == ir::AttrType::kInts) {
        const auto& ints = std::get<std::vector<int64_t>>(v);
        return PluginField(name, std::vector<float>(ints.begin(), ints.end()));
      }
      if (t == ir::AttrType::kTensor) {
        const ir::TensorDataPtr& tensor = std::get<ir::TensorDataPtr>(v);
        if (!tensor || tensor->dtype() != DataType::kFLOAT) return bad();
        const float* p = tensor->as<float>();
        return PluginField(name, std::vector<float>(p, p + tensor->numel()));
      }
      return bad();
    }
    case PluginFieldType::kBYTES: {
      if (t == ir::AttrType::kString) {
        const std::string& s = std::get<std::string>(v);
        return PluginField(name, std::vector<uint8_t>(s.begin(), s.end()));
      }
      if (t == ir::AttrType::kTensor) {
        const ir::TensorDataPtr& tensor = std::get<ir::TensorDataPtr>(v);
        if (!tensor) return bad();
        const auto* p = static_cast<const uint8_t*>(tensor->data());
        return PluginField(name, std::vector<uint8_t>(p, p + tensor->bytes()));
      }
      return bad();
    }
  }
  return bad();
}

}  // namespace

Status importPluginNode(ImportContext& ctx, PluginCreator& creator) {
  std::vector<PluginFieldSpec> schema = creator.getFieldSchema();
  std::vector<PluginField> fields;
  for (const auto& a : ctx.node().attribute()) {
    const PluginFieldSpec* spec = nullptr;
    for (const PluginFieldSpec& s : schema)
      if (s.name == a.name()) spec = &s;
    if (!spec)
      return invalidArgument("attribute '%s' is not a field of plugin %s; its fields are: %s",
                             a.name().c_str(),
                             plugins::describeCreator(creator.getPluginName(),
                                                      creator.getPluginVersion(),
                                                      creator.getPluginNamespace()).c_str(),
                             plugins::schemaToString(schema).c_str());
    KILN_ASSIGN_OR_RETURN(ir::AttrValue value, attributeValue(a, ctx.state().modelDir));
    KILN_ASSIGN_OR_RETURN(PluginField f, fieldFromAttribute(a.name(), value, *spec));
    fields.push_back(std::move(f));
  }
  std::vector<ir::Value*> inputs;
  for (size_t i = 0; i < ctx.numInputs(); ++i) inputs.push_back(ctx.input(i));
  while (!inputs.empty() && !inputs.back()) inputs.pop_back();
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i])
      return unsupported("input %zu is absent but later inputs are present; plugin layers take "
                         "only present inputs",
                         i);
  KILN_ASSIGN_OR_RETURN(plugins::PluginLayerSpec spec,
                        plugins::makePluginLayer(ctx.name(), creator.getPluginName(),
                                                 creator.getPluginVersion(),
                                                 creator.getPluginNamespace(), fields));
  return ctx.addFinal(ir::OpKind::kPlugin, std::move(inputs), std::move(spec.attrs),
                      spec.numOutputs);
}

}  // namespace kiln::onnx_import
