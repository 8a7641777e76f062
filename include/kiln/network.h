// NetworkDefinition: a network built layer by layer (by hand or by the ONNX parser).
//
//   auto network = builder->createNetwork();
//   kiln::Tensor* x = network->addInput("x", kiln::DataType::kFLOAT, {-1, 3, 32, 32});
//   kiln::ConvolutionDesc conv;
//   conv.padding = {1, 1};
//   kiln::Layer* c = network->addConvolution(*x, 16, {3, 3}, kernelWeights, biasWeights, conv);
//   kiln::Layer* r = network->addActivation(*c->getOutput(0), kiln::ActivationType::kRELU);
//   network->markOutput(*r->getOutput(0));
//
// Shapes are inferred as each layer is added; -1 dims are symbolic ("x_d0" here, or the ONNX
// dim_param name) and are resolved when an execution context sets its input shapes. A layer
// that cannot be added (bad shapes, bad parameters) returns null and the error, naming the
// layer, goes to the logger and to `getLastError()`.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "kiln/plugin.h"
#include "kiln/types.h"

namespace kiln {

namespace detail {
struct NetworkImpl;
}

// A tensor of the network. Owned by the network; pointers stay valid while it lives.
class Tensor {
 public:
  const char* getName() const;
  void setName(const char* name);
  // Dimensions; -1 for dynamic ones.
  Dims getDimensions() const;
  // Symbolic shape, e.g. "[batch,3,224,224]".
  std::string getShapeString() const;
  DataType getType() const;
  bool isNetworkInput() const;
  bool isNetworkOutput() const;
  bool isConstant() const;
  // A network input whose element values a layer reads to decide shapes (TensorRT's
  // ITensor::isShapeTensor); Kiln marks inputs so as layers that need their values are added.
  bool isShapeTensor() const;

 private:
  friend struct detail::NetworkImpl;
  Tensor(detail::NetworkImpl* net, int valueId) : mNet(net), mId(valueId) {}
  detail::NetworkImpl* mNet;
  int mId;
};

// One layer (an op). Owned by the network.
class Layer {
 public:
  const char* getName() const;
  void setName(const char* name);
  // The op type, e.g. "Conv", "Relu", "MatMul" (ONNX names where one exists).
  const char* getType() const;
  int getNbInputs() const;
  Tensor* getInput(int index) const;  // null for absent optional inputs
  int getNbOutputs() const;
  Tensor* getOutput(int index) const;
  // Requests a compute precision for this layer (the builder honours it where it can).
  void setPrecision(DataType type);
  DataType getPrecision() const;  // kFLOAT unless set
  bool precisionIsSet() const;
  void resetPrecision();
  // Attributes in readable form ("group=1 strides=[2,2]").
  std::string getAttributesString() const;
  // Plugin layers (getType() is "Plugin"): the plugin's identity and fields; null / empty for
  // other layers. getPluginLibrary() is the library that provided the plugin ("" when the
  // program registered it itself).
  const char* getPluginName() const;
  const char* getPluginVersion() const;
  const char* getPluginNamespace() const;
  const char* getPluginLibrary() const;
  std::vector<PluginField> getPluginFields() const;

 private:
  friend struct detail::NetworkImpl;
  Layer(detail::NetworkImpl* net, int nodeId) : mNet(net), mId(nodeId) {}
  detail::NetworkImpl* mNet;
  int mId;
};

// Attributes for addOp(): names and meanings follow the ONNX operator of the same name.
using AttributeValue = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                                    std::vector<float>>;
struct Attribute {
  std::string name;
  AttributeValue value;
};

enum class ActivationType : int32_t {
  kRELU, kSIGMOID, kTANH, kLEAKY_RELU /*alpha*/, kELU /*alpha*/, kSELU /*alpha, beta=gamma*/,
  kSOFTSIGN, kSOFTPLUS, kCLIP /*alpha=min, beta=max*/, kHARD_SIGMOID /*alpha, beta*/,
  kTHRESHOLDED_RELU /*alpha*/, kGELU_ERF, kGELU_TANH, kHARD_SWISH, kMISH, kCELU /*alpha*/,
};

enum class ElementWiseOperation : int32_t {
  kSUM, kPROD, kMAX, kMIN, kSUB, kDIV, kPOW, kAND, kOR, kXOR, kEQUAL, kGREATER, kLESS, kMOD,
};

enum class UnaryOperation : int32_t {
  kEXP, kLOG, kSQRT, kRECIP, kABS, kNEG, kSIN, kCOS, kTAN, kSINH, kCOSH, kASIN, kACOS, kATAN,
  kASINH, kACOSH, kATANH, kCEIL, kFLOOR, kERF, kNOT, kSIGN, kROUND, kISINF, kISNAN,
};

enum class ReduceOperation : int32_t { kSUM, kPROD, kMAX, kMIN, kAVG, kL1, kL2, kSUM_SQUARE, kLOG_SUM_EXP };

enum class PoolingType : int32_t { kMAX, kAVERAGE };

enum class MatrixOperation : int32_t { kNONE, kTRANSPOSE };

enum class PaddingMode : int32_t { kEXPLICIT, kSAME_UPPER, kSAME_LOWER, kVALID };

struct ConvolutionDesc {
  Dims stride;        // default 1 per spatial dim
  Dims padding;       // padding before each spatial dim (default 0)
  Dims postPadding;   // padding after (default: same as padding)
  Dims dilation;      // default 1
  int64_t groups = 1;
  PaddingMode paddingMode = PaddingMode::kEXPLICIT;
  Dims outputPadding;  // deconvolution only
};

struct PoolingDesc {
  Dims stride;       // default: 1
  Dims padding;
  Dims postPadding;  // default: same as padding
  Dims dilation;     // max pooling only
  bool ceilMode = false;
  bool countIncludePad = false;  // average pooling
  PaddingMode paddingMode = PaddingMode::kEXPLICIT;
};

enum class ResizeMode : int32_t { kNEAREST, kLINEAR, kCUBIC };

struct ResizeDesc {
  ResizeMode mode = ResizeMode::kNEAREST;
  // ONNX coordinate_transformation_mode: "half_pixel", "asymmetric", "align_corners",
  // "pytorch_half_pixel", "tf_crop_and_resize", "half_pixel_symmetric".
  std::string coordinateTransformation = "half_pixel";
  // ONNX nearest_mode: "round_prefer_floor", "round_prefer_ceil", "floor", "ceil".
  std::string nearestMode = "round_prefer_floor";
  std::vector<float> scales;     // one per dim; or
  std::vector<int64_t> sizes;    // one per dim
};

class NetworkDefinition {
 public:
  ~NetworkDefinition();
  NetworkDefinition(const NetworkDefinition&) = delete;
  NetworkDefinition& operator=(const NetworkDefinition&) = delete;

  void setName(const char* name);
  const char* getName() const;

  // Inputs and outputs. -1 in dims marks a dynamic dimension; `dimNames` (optional, one per dim)
  // names dynamic dims so inputs can share them ("batch").
  Tensor* addInput(const char* name, DataType type, const Dims& dims,
                   const std::vector<std::string>& dimNames = {});
  bool markOutput(Tensor& tensor);
  bool unmarkOutput(Tensor& tensor);
  int getNbInputs() const;
  Tensor* getInput(int index) const;
  int getNbOutputs() const;
  Tensor* getOutput(int index) const;
  int getNbLayers() const;
  Layer* getLayer(int index) const;
  Tensor* getTensor(const char* name) const;

  // Constants (weights are copied). Returns the constant tensor.
  Tensor* addConstant(const Dims& dims, const Weights& weights, const char* name = nullptr);

  // Layers. Each returns null on error (see getLastError()).
  Layer* addConvolution(Tensor& input, int64_t nbOutputMaps, const Dims& kernelSize,
                        const Weights& kernel, const Weights& bias, const ConvolutionDesc& desc = {});
  Layer* addDeconvolution(Tensor& input, int64_t nbOutputMaps, const Dims& kernelSize,
                          const Weights& kernel, const Weights& bias,
                          const ConvolutionDesc& desc = {});
  Layer* addMatrixMultiply(Tensor& a, MatrixOperation opA, Tensor& b, MatrixOperation opB);
  // y = alpha * op(A) * op(B) + beta * C (ONNX Gemm); `c` may be null.
  Layer* addGemm(Tensor& a, Tensor& b, Tensor* c, float alpha = 1.f, float beta = 1.f,
                 bool transA = false, bool transB = false);
  // y = x * W^T + b over the last dim (W is [out, in]).
  Layer* addFullyConnected(Tensor& input, int64_t nbOutputs, const Weights& kernel,
                           const Weights& bias);
  Layer* addActivation(Tensor& input, ActivationType type, float alpha = 0.f, float beta = 0.f);
  Layer* addPooling(Tensor& input, PoolingType type, const Dims& windowSize,
                    const PoolingDesc& desc = {});
  Layer* addGlobalPooling(Tensor& input, PoolingType type);
  Layer* addElementWise(Tensor& a, Tensor& b, ElementWiseOperation op);
  Layer* addUnary(Tensor& input, UnaryOperation op);
  Layer* addReduce(Tensor& input, ReduceOperation op, const std::vector<int64_t>& axes,
                   bool keepDims);
  Layer* addArgMax(Tensor& input, int64_t axis, bool keepDims);
  Layer* addSoftMax(Tensor& input, int64_t axis = -1);
  Layer* addLogSoftMax(Tensor& input, int64_t axis = -1);
  Layer* addConcatenation(std::span<Tensor* const> inputs, int64_t axis);
  Layer* addSplit(Tensor& input, int64_t axis, const std::vector<int64_t>& sizes);
  // Reshape: 0 copies the input dim, -1 is inferred (ONNX Reshape).
  Layer* addReshape(Tensor& input, const std::vector<int64_t>& shape);
  // Reshape to a shape computed in the network (an int64 1-D tensor).
  Layer* addReshape(Tensor& input, Tensor& shape);
  Layer* addTranspose(Tensor& input, const std::vector<int64_t>& perm);
  Layer* addFlatten(Tensor& input, int64_t axis = 1);
  Layer* addSqueeze(Tensor& input, const std::vector<int64_t>& axes);
  Layer* addUnsqueeze(Tensor& input, const std::vector<int64_t>& axes);
  // ONNX Slice: ends are exclusive, clamped; steps default to 1, axes to 0..n-1.
  Layer* addSlice(Tensor& input, const std::vector<int64_t>& starts,
                  const std::vector<int64_t>& ends, const std::vector<int64_t>& axes = {},
                  const std::vector<int64_t>& steps = {});
  Layer* addGather(Tensor& data, Tensor& indices, int64_t axis);
  Layer* addBatchNormalization(Tensor& input, const Weights& scale, const Weights& bias,
                               const Weights& mean, const Weights& variance, float epsilon = 1e-5f);
  // Normalizes over dims [axis, rank); scale/bias have the shape of those dims.
  Layer* addLayerNormalization(Tensor& input, Tensor& scale, Tensor* bias, int64_t axis = -1,
                               float epsilon = 1e-5f);
  Layer* addInstanceNormalization(Tensor& input, Tensor& scale, Tensor& bias, float epsilon = 1e-5f);
  Layer* addGroupNormalization(Tensor& input, Tensor& scale, Tensor& bias, int64_t numGroups,
                               float epsilon = 1e-5f);
  Layer* addResize(Tensor& input, const ResizeDesc& desc);
  Layer* addCast(Tensor& input, DataType toType);
  Layer* addIdentity(Tensor& input);
  // ONNX Pad: pads = [x1_begin, x2_begin, ..., x1_end, x2_end, ...]; mode "constant",
  // "reflect", "edge" or "wrap".
  Layer* addPadding(Tensor& input, const std::vector<int64_t>& pads, const char* mode = "constant",
                    float value = 0.f);
  Layer* addSelect(Tensor& condition, Tensor& thenInput, Tensor& elseInput);
  Layer* addTopK(Tensor& input, int64_t k, int64_t axis = -1, bool largest = true);
  Layer* addShape(Tensor& input);
  Layer* addEinsum(std::span<Tensor* const> inputs, const char* equation);
  // Any op of Kiln's op table, with ONNX-named attributes: the escape hatch for ops without a
  // typed add* method. `inputs` may hold nulls for absent optional inputs.
  Layer* addOp(const char* opType, std::span<Tensor* const> inputs,
               const std::vector<Attribute>& attributes = {}, int nbOutputs = 1);

  // A plugin layer made by the registered creator of (name, version, namespace) from `fields`
  // (checked against the creator's schema). An empty version picks the highest registered.
  // The plan stores the fields, so the same creator recreates the plugin at load time.
  Layer* addPluginLayer(std::span<Tensor* const> inputs, const char* pluginName,
                        const char* pluginVersion, const char* pluginNamespace,
                        std::span<const PluginField> fields = {});
  // A plugin layer from an instance: its name/version/namespace and getFields() are recorded
  // (the creator must be registered, since the plan is loaded through it).
  Layer* addPluginV3(std::span<Tensor* const> inputs, const Plugin& plugin);

  // The last error reported by this network (empty if none).
  const std::string& getLastError() const;

  // Internal access for the builder and the parser.
  detail::NetworkImpl& impl() { return *mImpl; }
  const detail::NetworkImpl& impl() const { return *mImpl; }

 private:
  friend class Builder;
  explicit NetworkDefinition(Logger& logger);
  std::unique_ptr<detail::NetworkImpl> mImpl;
};

}  // namespace kiln
