// FastGelu: onnxruntime's contrib operator com.microsoft::FastGelu, which models optimized by
// onnxruntime's transformer tools contain and Kiln has no built-in kernel for. Registered in
// the namespace "com.microsoft", so the ONNX parser maps such nodes onto it: the model fails to
// parse without this plugin and runs with it.
//
//   x' = x + bias (bias optional, 1-D, broadcast over the last dim)
//   y  = 0.5 * x' * (1 + tanh(sqrt(2/pi) * (x' + 0.044715 * x'^3)))     (tanh-approximated GELU)
//
// Shows: an optional input, an input checked against another's (symbolic) last dim, a plugin
// without fields. Computed in double and rounded once to float32.
#include <cmath>

#include "example_plugins.h"

namespace kiln_examples {

namespace {

using kiln::DataType;
using kiln::PluginField;
using kiln::PluginStatus;
using kiln::PluginTensorDesc;

constexpr const char* kName = "FastGelu";
constexpr const char* kVersion = "1";
constexpr const char* kNamespace = "com.microsoft";

class FastGelu final : public kiln::Plugin {
 public:
  const char* getPluginName() const override { return kName; }
  const char* getPluginVersion() const override { return kVersion; }
  const char* getPluginNamespace() const override { return kNamespace; }
  int32_t getNbOutputs() const override { return 1; }

  PluginStatus getOutputDataTypes(std::span<const DataType> in,
                                  std::span<DataType> out) const override {
    if (in.empty() || in.size() > 2)
      return PluginStatus::error("expects 1 or 2 inputs (X, bias?), got " + std::to_string(in.size()));
    out[0] = in[0];
    return PluginStatus::success();
  }

  PluginStatus getOutputShapes(std::span<const kiln::SymShape> in,
                               std::span<kiln::SymShape> out) const override {
    if (in[0].empty()) return PluginStatus::error("X must have rank >= 1");
    if (in.size() == 2) {
      if (in[1].size() != 1) return PluginStatus::error("bias must be 1-D");
      const kiln::SymDim& last = in[0].back();
      if (last.isConstant() && in[1][0].isConstant() &&
          last.constantValue() != in[1][0].constantValue())
        return PluginStatus::error("bias has " + std::to_string(in[1][0].constantValue()) +
                                   " elements, X's last dimension is " +
                                   std::to_string(last.constantValue()));
    }
    out[0] = in[0];
    return PluginStatus::success();
  }

  bool supportsFormatCombination(int32_t pos, std::span<const PluginTensorDesc> io,
                                 int32_t /*nbInputs*/) const override {
    return io[static_cast<size_t>(pos)].type == DataType::kFLOAT;
  }

  PluginStatus configurePlugin(std::span<const PluginTensorDesc> in,
                               std::span<const PluginTensorDesc> /*out*/) override {
    if (in.size() == 2 && in[1].dims[0] != in[0].dims.back())
      return PluginStatus::error("bias must have X's last dimension " + std::to_string(in[0].dims.back()));
    return PluginStatus::success();
  }

  PluginStatus enqueue(std::span<const PluginTensorDesc> inDesc,
                       std::span<const PluginTensorDesc> /*outDesc*/, const void* const* inputs,
                       void* const* outputs, void* /*workspace*/, void* /*stream*/) override {
    const int64_t n = inDesc[0].volume(), last = inDesc[0].dims.back();
    const float* x = static_cast<const float*>(inputs[0]);
    const float* bias = inDesc.size() == 2 ? static_cast<const float*>(inputs[1]) : nullptr;
    float* y = static_cast<float*>(outputs[0]);
    const double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
    for (int64_t i = 0; i < n; ++i) {
      double v = static_cast<double>(x[i]) + (bias ? static_cast<double>(bias[i % last]) : 0.0);
      y[i] = static_cast<float>(0.5 * v * (1.0 + std::tanh(kSqrt2OverPi * (v + 0.044715 * v * v * v))));
    }
    return PluginStatus::success();
  }

  std::unique_ptr<kiln::Plugin> clone() const override { return std::make_unique<FastGelu>(*this); }
  std::vector<PluginField> getFields() const override { return {}; }
};

class FastGeluCreator final : public kiln::PluginCreator {
 public:
  const char* getPluginName() const override { return kName; }
  const char* getPluginVersion() const override { return kVersion; }
  const char* getPluginNamespace() const override { return kNamespace; }
  std::vector<kiln::PluginFieldSpec> getFieldSchema() const override { return {}; }
  PluginStatus createPlugin(const char* /*layerName*/, std::span<const PluginField> /*fields*/,
                            std::unique_ptr<kiln::Plugin>* plugin) override {
    *plugin = std::make_unique<FastGelu>();
    return PluginStatus::success();
  }
};

}  // namespace

std::unique_ptr<kiln::PluginCreator> makeFastGeluCreator() { return std::make_unique<FastGeluCreator>(); }

kiln::PluginStatus registerExamplePlugins(kiln::PluginRegistry& registry) {
  for (auto* make : {&makeScaledSwishCreator, &makeEmbLayerNormCreator, &makeFastGeluCreator}) {
    kiln::PluginStatus st = registry.registerCreator(make());
    if (!st.isOk()) return st;
  }
  return kiln::PluginStatus::success();
}

}  // namespace kiln_examples
