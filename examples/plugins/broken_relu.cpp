// A DELIBERATELY WRONG Relu: a test fixture for `kiln compare --markAll` (docs/cli.md), not an
// example to copy.
//
//   y = max(x, 0)            for x <= 1
//   y = x + 0.001            for x >  1      (the bug: 0.001 too much)
//
// It registers under the name of the built-in ONNX op ("Relu", namespace "" = the default
// domain), so that `kiln compare --preferPlugins --plugins=libkiln_broken_plugins.so` imports
// every Relu node through it on the Kiln side while onnxruntime runs the real Relu: the first
// tensor that differs is then a Relu output, which the comparison must name. Built as its own
// library (libkiln_broken_plugins.so), never part of libkiln_example_plugins.so, so that loading
// the example plugins cannot replace a built-in op by accident.
#include "kiln/plugin.h"

namespace kiln_examples {

namespace {

using kiln::DataType;
using kiln::PluginField;
using kiln::PluginStatus;
using kiln::PluginTensorDesc;

constexpr const char* kName = "Relu";
constexpr const char* kVersion = "1";
constexpr const char* kNamespace = "";
constexpr float kError = 0.001f;

class BrokenRelu final : public kiln::Plugin {
 public:
  const char* getPluginName() const override { return kName; }
  const char* getPluginVersion() const override { return kVersion; }
  const char* getPluginNamespace() const override { return kNamespace; }
  int32_t getNbOutputs() const override { return 1; }

  PluginStatus getOutputDataTypes(std::span<const DataType> in,
                                  std::span<DataType> out) const override {
    if (in.size() != 1)
      return PluginStatus::error("expects 1 input, got " + std::to_string(in.size()));
    out[0] = in[0];
    return PluginStatus::success();
  }

  PluginStatus getOutputShapes(std::span<const kiln::SymShape> in,
                               std::span<kiln::SymShape> out) const override {
    out[0] = in[0];
    return PluginStatus::success();
  }

  bool supportsFormatCombination(int32_t pos, std::span<const PluginTensorDesc> io,
                                 int32_t /*nbInputs*/) const override {
    return io[static_cast<size_t>(pos)].format == kiln::TensorFormat::kLINEAR &&
           io[static_cast<size_t>(pos)].type == DataType::kFLOAT;
  }

  PluginStatus enqueue(std::span<const PluginTensorDesc> inDesc,
                       std::span<const PluginTensorDesc> /*outDesc*/, const void* const* inputs,
                       void* const* outputs, void* /*workspace*/, void* /*stream*/) override {
    const int64_t n = inDesc[0].volume();
    const float* x = static_cast<const float*>(inputs[0]);
    float* y = static_cast<float*>(outputs[0]);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 1.f ? x[i] + kError : (x[i] > 0.f ? x[i] : 0.f);
    return PluginStatus::success();
  }

  std::unique_ptr<kiln::Plugin> clone() const override {
    return std::make_unique<BrokenRelu>(*this);
  }
  std::vector<PluginField> getFields() const override { return {}; }
};

class BrokenReluCreator final : public kiln::PluginCreator {
 public:
  const char* getPluginName() const override { return kName; }
  const char* getPluginVersion() const override { return kVersion; }
  const char* getPluginNamespace() const override { return kNamespace; }
  std::vector<kiln::PluginFieldSpec> getFieldSchema() const override { return {}; }
  PluginStatus createPlugin(const char* /*layerName*/, std::span<const PluginField> /*fields*/,
                            std::unique_ptr<kiln::Plugin>* plugin) override {
    *plugin = std::make_unique<BrokenRelu>();
    return PluginStatus::success();
  }
};

}  // namespace

}  // namespace kiln_examples

KILN_PLUGIN_EXPORT(registry) {
  // A conflicting creator is reported by loadLibrary, which registers all or none.
  (void)registry.registerCreator(std::make_unique<kiln_examples::BrokenReluCreator>());
}
