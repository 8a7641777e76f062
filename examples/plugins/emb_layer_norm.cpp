// EmbLayerNorm: the classic hand fusion of an embedding lookup and a layer normalization.
//
//   e[t, :] = table[ids[t], :]                                  for every token t
//   y[t, h] = (e[t, h] - mean_t) / sqrt(var_t + epsilon) * gamma[h] + beta[h]
//   mean_t = sum_h e[t, h] / H,  var_t = sum_h (e[t, h] - mean_t)^2 / H
//
// Inputs: ids (int32 or int64, any shape, usually [batch, seq]), table [V, H], gamma [H],
// beta [H] (float32; usually constants). Output: float32 ids.shape + [H]. Field: epsilon.
// Shows: mixed input types, an output shape built from two inputs' (symbolic) dims, shape
// checks that work on symbols, a workspace (one row of doubles per configure), and errors from
// enqueue (an id outside the table).
#include <cmath>
#include <cstring>

#include "example_plugins.h"

namespace kiln_examples {

namespace {

using kiln::DataType;
using kiln::PluginField;
using kiln::PluginStatus;
using kiln::PluginTensorDesc;

constexpr const char* kName = "EmbLayerNorm";
constexpr const char* kVersion = "1";
constexpr const char* kNamespace = "kiln.examples";

class EmbLayerNorm final : public kiln::Plugin {
 public:
  explicit EmbLayerNorm(float epsilon) : mEpsilon(epsilon) {}

  const char* getPluginName() const override { return kName; }
  const char* getPluginVersion() const override { return kVersion; }
  const char* getPluginNamespace() const override { return kNamespace; }
  int32_t getNbOutputs() const override { return 1; }

  PluginStatus getOutputDataTypes(std::span<const DataType> in,
                                  std::span<DataType> out) const override {
    if (in.size() != 4)
      return PluginStatus::error("expects 4 inputs (ids, table, gamma, beta), got " +
                                 std::to_string(in.size()));
    out[0] = DataType::kFLOAT;
    return PluginStatus::success();
  }

  PluginStatus getOutputShapes(std::span<const kiln::SymShape> in,
                               std::span<kiln::SymShape> out) const override {
    if (in[1].size() != 2) return PluginStatus::error("table must be 2-D [vocab, hidden]");
    if (in[2].size() != 1 || in[3].size() != 1)
      return PluginStatus::error("gamma and beta must be 1-D [hidden]");
    // Checks that can be decided now (constant dims); symbolic ones are checked in enqueue.
    const kiln::SymDim& hidden = in[1][1];
    for (size_t i : {size_t{2}, size_t{3}}) {
      if (hidden.isConstant() && in[i][0].isConstant() &&
          hidden.constantValue() != in[i][0].constantValue())
        return PluginStatus::error(std::string(i == 2 ? "gamma" : "beta") + " has " +
                                   std::to_string(in[i][0].constantValue()) +
                                   " elements, the table's hidden size is " +
                                   std::to_string(hidden.constantValue()));
    }
    out[0] = in[0];           // ids shape ...
    out[0].push_back(hidden);  // ... + [hidden]
    return PluginStatus::success();
  }

  bool supportsFormatCombination(int32_t pos, std::span<const PluginTensorDesc> io,
                                 int32_t /*nbInputs*/) const override {
    DataType t = io[static_cast<size_t>(pos)].type;
    if (pos == 0) return t == DataType::kINT32 || t == DataType::kINT64;
    return t == DataType::kFLOAT;
  }

  PluginStatus configurePlugin(std::span<const PluginTensorDesc> in,
                               std::span<const PluginTensorDesc> /*out*/) override {
    // Concrete shapes now: the checks the symbolic pass could not decide.
    if (in[2].dims[0] != in[1].dims[1] || in[3].dims[0] != in[1].dims[1])
      return PluginStatus::error("gamma and beta must have the table's hidden size " +
                                 std::to_string(in[1].dims[1]));
    return PluginStatus::success();
  }

  size_t getWorkspaceSize(std::span<const PluginTensorDesc> in,
                          std::span<const PluginTensorDesc> /*out*/) const override {
    return static_cast<size_t>(in[1].dims[1]) * sizeof(double);  // one embedding row
  }

  PluginStatus enqueue(std::span<const PluginTensorDesc> inDesc,
                       std::span<const PluginTensorDesc> /*outDesc*/, const void* const* inputs,
                       void* const* outputs, void* workspace, void* /*stream*/) override {
    const int64_t tokens = inDesc[0].volume();
    const int64_t vocab = inDesc[1].dims[0], hidden = inDesc[1].dims[1];
    const float* table = static_cast<const float*>(inputs[1]);
    const float* gamma = static_cast<const float*>(inputs[2]);
    const float* beta = static_cast<const float*>(inputs[3]);
    float* y = static_cast<float*>(outputs[0]);
    double* row = static_cast<double*>(workspace);  // getWorkspaceSize() bytes, no allocation
    for (int64_t t = 0; t < tokens; ++t) {
      int64_t id = inDesc[0].type == DataType::kINT64 ? static_cast<const int64_t*>(inputs[0])[t]
                                                      : static_cast<const int32_t*>(inputs[0])[t];
      if (id < 0 || id >= vocab)
        return PluginStatus::error("token " + std::to_string(t) + " has id " + std::to_string(id) +
                                   ", outside the table's [0, " + std::to_string(vocab) + ")");
      double mean = 0;
      for (int64_t h = 0; h < hidden; ++h) {
        row[h] = table[id * hidden + h];
        mean += row[h];
      }
      mean /= static_cast<double>(hidden);
      double var = 0;
      for (int64_t h = 0; h < hidden; ++h) var += (row[h] - mean) * (row[h] - mean);
      var /= static_cast<double>(hidden);
      const double inv = 1.0 / std::sqrt(var + static_cast<double>(mEpsilon));
      for (int64_t h = 0; h < hidden; ++h)
        y[t * hidden + h] = static_cast<float>((row[h] - mean) * inv * gamma[h] + beta[h]);
    }
    return PluginStatus::success();
  }

  std::unique_ptr<kiln::Plugin> clone() const override {
    return std::make_unique<EmbLayerNorm>(*this);
  }
  std::vector<PluginField> getFields() const override { return {{"epsilon", mEpsilon}}; }

 private:
  float mEpsilon;
};

class EmbLayerNormCreator final : public kiln::PluginCreator {
 public:
  const char* getPluginName() const override { return kName; }
  const char* getPluginVersion() const override { return kVersion; }
  const char* getPluginNamespace() const override { return kNamespace; }
  std::vector<kiln::PluginFieldSpec> getFieldSchema() const override {
    return {{"epsilon", kiln::PluginFieldType::kFLOAT32, /*required=*/false}};
  }
  PluginStatus createPlugin(const char* /*layerName*/, std::span<const PluginField> fields,
                            std::unique_ptr<kiln::Plugin>* plugin) override {
    float epsilon = 1e-5f;  // the default when the field is absent
    if (const PluginField* f = kiln::findPluginField(fields, "epsilon")) epsilon = *f->get<float>();
    if (!(epsilon >= 0.f) || !std::isfinite(epsilon))
      return PluginStatus::error("epsilon must be finite and >= 0, got " + std::to_string(epsilon));
    *plugin = std::make_unique<EmbLayerNorm>(epsilon);
    return PluginStatus::success();
  }
};

}  // namespace

std::unique_ptr<kiln::PluginCreator> makeEmbLayerNormCreator() {
  return std::make_unique<EmbLayerNormCreator>();
}

}  // namespace kiln_examples
