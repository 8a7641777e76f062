// ScaledSwish: a custom activation, y = x * sigmoid(beta * x) = x / (1 + exp(-beta * x)).
//
// The smallest complete plugin: one input, one output of the same type and shape, one field.
// float32 and float16 (float16 is computed in float32 and rounded once).
#include <cmath>

#include "example_plugins.h"
#include "half_util.h"

namespace kiln_examples {

namespace {

using kiln::DataType;
using kiln::PluginField;
using kiln::PluginStatus;
using kiln::PluginTensorDesc;

constexpr const char* kName = "ScaledSwish";
constexpr const char* kVersion = "1";
constexpr const char* kNamespace = "kiln.examples";

class ScaledSwish final : public kiln::Plugin {
 public:
  explicit ScaledSwish(float beta) : mBeta(beta) {}

  const char* getPluginName() const override { return kName; }
  const char* getPluginVersion() const override { return kVersion; }
  const char* getPluginNamespace() const override { return kNamespace; }

  int32_t getNbOutputs() const override { return 1; }

  PluginStatus getOutputDataTypes(std::span<const DataType> in,
                                  std::span<DataType> out) const override {
    if (in.size() != 1) return PluginStatus::error("expects 1 input, got " + std::to_string(in.size()));
    out[0] = in[0];
    return PluginStatus::success();
  }

  PluginStatus getOutputShapes(std::span<const kiln::SymShape> in,
                               std::span<kiln::SymShape> out) const override {
    out[0] = in[0];  // elementwise: the (possibly symbolic) input shape
    return PluginStatus::success();
  }

  bool supportsFormatCombination(int32_t pos, std::span<const PluginTensorDesc> io,
                                 int32_t /*nbInputs*/) const override {
    if (io[static_cast<size_t>(pos)].format != kiln::TensorFormat::kLINEAR) return false;
    if (pos == 0) return io[0].type == DataType::kFLOAT || io[0].type == DataType::kHALF;
    return io[static_cast<size_t>(pos)].type == io[0].type;  // output: same type as the input
  }

  PluginStatus enqueue(std::span<const PluginTensorDesc> inDesc,
                       std::span<const PluginTensorDesc> /*outDesc*/, const void* const* inputs,
                       void* const* outputs, void* /*workspace*/, void* /*stream*/) override {
    const int64_t n = inDesc[0].volume();
    if (inDesc[0].type == DataType::kFLOAT) {
      const float* x = static_cast<const float*>(inputs[0]);
      float* y = static_cast<float*>(outputs[0]);
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.f + std::exp(-mBeta * x[i]));
      return PluginStatus::success();
    }
    const uint16_t* x = static_cast<const uint16_t*>(inputs[0]);
    uint16_t* y = static_cast<uint16_t*>(outputs[0]);
    for (int64_t i = 0; i < n; ++i) {
      float v = halfToFloat(x[i]);
      y[i] = floatToHalf(v / (1.f + std::exp(-mBeta * v)));
    }
    return PluginStatus::success();
  }

  std::unique_ptr<kiln::Plugin> clone() const override {
    return std::make_unique<ScaledSwish>(*this);
  }
  std::vector<PluginField> getFields() const override { return {{"beta", mBeta}}; }

 private:
  float mBeta;
};

class ScaledSwishCreator final : public kiln::PluginCreator {
 public:
  const char* getPluginName() const override { return kName; }
  const char* getPluginVersion() const override { return kVersion; }
  const char* getPluginNamespace() const override { return kNamespace; }
  std::vector<kiln::PluginFieldSpec> getFieldSchema() const override {
    return {{"beta", kiln::PluginFieldType::kFLOAT32, /*required=*/true}};
  }
  PluginStatus createPlugin(const char* /*layerName*/, std::span<const PluginField> fields,
                            std::unique_ptr<kiln::Plugin>* plugin) override {
    // Kiln has checked the fields against the schema: beta is present and a float.
    float beta = *kiln::findPluginField(fields, "beta")->get<float>();
    if (!std::isfinite(beta)) return PluginStatus::error("beta must be finite");
    *plugin = std::make_unique<ScaledSwish>(beta);
    return PluginStatus::success();
  }
};

}  // namespace

std::unique_ptr<kiln::PluginCreator> makeScaledSwishCreator() {
  return std::make_unique<ScaledSwishCreator>();
}

}  // namespace kiln_examples
