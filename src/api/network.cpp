#include <algorithm>
#include <cstring>

#include "api/network_impl.h"
#include "kiln/network.h"
#include "plugins/plugin_node.h"

namespace kiln {

using detail::NetworkImpl;
using ir::Attributes;
using ir::OpKind;
using ir::Value;

namespace detail {

Tensor* NetworkImpl::tensorFor(ir::Value* v) {
  if (!v) return nullptr;
  size_t id = static_cast<size_t>(v->id);
  if (tensors.size() <= id) tensors.resize(id + 1);
  if (!tensors[id]) tensors[id].reset(new Tensor(this, v->id));
  return tensors[id].get();
}

Layer* NetworkImpl::layerFor(ir::Node* n) {
  if (!n) return nullptr;
  size_t id = static_cast<size_t>(n->id);
  if (layers.size() <= id) layers.resize(id + 1);
  if (!layers[id]) layers[id].reset(new Layer(this, n->id));
  return layers[id].get();
}

std::nullptr_t NetworkImpl::fail(const Status& s) {
  lastError = s.message();
  logMessage(&logger, Severity::kERROR, "network", s.message());
  return nullptr;
}

std::string NetworkImpl::freshSymbol(const std::string& base) { return graph->uniqueName(base); }

StatusOr<ir::Node*> NetworkImpl::addNodeOrError(OpKind op, std::vector<ir::Value*> inputs,
                                                Attributes attrs, int numOutputs,
                                                const std::string& layerName) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] && inputs[i]->id >= 0 &&
        graph->valueById(inputs[i]->id) != inputs[i])
      return invalidArgument("input %zu of the new %s layer belongs to another network", i,
                             ir::opName(op));
  }
  std::string name = layerName.empty() ? graph->uniqueName(std::string(ir::opName(op)) + "_" +
                                                           std::to_string(graph->nodes().size()))
                                       : graph->uniqueName(layerName);
  ir::Node* n = graph->addNode(op, name, std::move(inputs), std::move(attrs), numOutputs);
  for (size_t i = 0; i < n->outputs.size(); ++i)
    n->outputs[i]->name = graph->uniqueName(numOutputs == 1 ? name + "_output"
                                                            : name + "_output_" + std::to_string(i));
  Status st = ir::inferNodeInPlace(*graph, *n, scratch);
  if (!st.isOk()) {
    graph->removeNode(n);
    return st;
  }
  return n;
}

Layer* NetworkImpl::addNode(OpKind op, std::vector<ir::Value*> inputs, Attributes attrs,
                            int numOutputs, const std::string& layerName) {
  auto n = addNodeOrError(op, std::move(inputs), std::move(attrs), numOutputs, layerName);
  if (!n.isOk()) return fail(n.status());
  return layerFor(*n);
}

ir::Value* NetworkImpl::addConstant(ir::TensorDataPtr data, const std::string& nm) {
  return graph->addConstant(graph->uniqueName(nm.empty() ? "const" : nm), std::move(data));
}

}  // namespace detail

// ---- Tensor --------------------------------------------------------------------------------------

const char* Tensor::getName() const { return mNet->graph->valueById(mId)->name.c_str(); }
void Tensor::setName(const char* name) {
  Value* v = mNet->graph->valueById(mId);
  if (!name || !*name) {
    mNet->fail(invalidArgument("cannot rename tensor '%s': the new name is empty", v->name.c_str()));
    return;
  }
  if (v->name == name) return;
  if (mNet->graph->findValue(name)) {
    mNet->fail(invalidArgument("cannot rename tensor '%s' to '%s': the name is taken",
                               v->name.c_str(), name));
    return;
  }
  v->name = name;
}
Dims Tensor::getDimensions() const {
  const Value* v = mNet->graph->valueById(mId);
  Dims d;
  d.nbDims = static_cast<int32_t>(std::min<size_t>(v->shape.size(), Dims::kMaxDims));
  for (int i = 0; i < d.nbDims; ++i)
    d.d[i] = v->shape[static_cast<size_t>(i)].isConst() ? v->shape[static_cast<size_t>(i)].constValue() : -1;
  return d;
}
std::string Tensor::getShapeString() const { return ir::shapeToString(mNet->graph->valueById(mId)->shape); }
DataType Tensor::getType() const { return mNet->graph->valueById(mId)->dtype; }
bool Tensor::isNetworkInput() const { return mNet->graph->valueById(mId)->isGraphInput; }
bool Tensor::isNetworkOutput() const { return mNet->graph->valueById(mId)->isGraphOutput; }
bool Tensor::isConstant() const { return mNet->graph->valueById(mId)->isConstant(); }
bool Tensor::isShapeTensor() const { return mNet->graph->valueById(mId)->isShapeTensor; }

// ---- Layer ---------------------------------------------------------------------------------------

const char* Layer::getName() const { return mNet->graph->nodeById(mId)->name.c_str(); }
void Layer::setName(const char* name) {
  ir::Node* n = mNet->graph->nodeById(mId);
  if (!name || !*name) {
    mNet->fail(invalidArgument("cannot rename layer '%s': the new name is empty", n->name.c_str()));
    return;
  }
  if (n->name == name) return;
  if (mNet->graph->findNode(name)) {
    mNet->fail(invalidArgument("cannot rename layer '%s' to '%s': the name is taken", n->name.c_str(), name));
    return;
  }
  n->name = name;
}
const char* Layer::getType() const { return ir::opName(mNet->graph->nodeById(mId)->op); }
int Layer::getNbInputs() const { return static_cast<int>(mNet->graph->nodeById(mId)->inputs.size()); }
Tensor* Layer::getInput(int index) const {
  ir::Node* n = mNet->graph->nodeById(mId);
  if (index < 0 || static_cast<size_t>(index) >= n->inputs.size()) return nullptr;
  return mNet->tensorFor(n->inputs[static_cast<size_t>(index)]);
}
int Layer::getNbOutputs() const { return static_cast<int>(mNet->graph->nodeById(mId)->outputs.size()); }
Tensor* Layer::getOutput(int index) const {
  ir::Node* n = mNet->graph->nodeById(mId);
  if (index < 0 || static_cast<size_t>(index) >= n->outputs.size()) return nullptr;
  return mNet->tensorFor(n->outputs[static_cast<size_t>(index)]);
}
void Layer::setPrecision(DataType type) { mNet->graph->nodeById(mId)->precision = type; }
DataType Layer::getPrecision() const {
  return mNet->graph->nodeById(mId)->precision.value_or(DataType::kFLOAT);
}
bool Layer::precisionIsSet() const { return mNet->graph->nodeById(mId)->precision.has_value(); }
void Layer::resetPrecision() { mNet->graph->nodeById(mId)->precision.reset(); }
std::string Layer::getAttributesString() const { return mNet->graph->nodeById(mId)->attrs.toString(); }

namespace {
// A string attribute of a plugin layer (pointer into the node's attributes), or null.
const char* pluginAttr(const ir::Node* n, const char* name) {
  if (n->op != OpKind::kPlugin) return nullptr;
  auto it = n->attrs.all().find(name);
  if (it == n->attrs.all().end()) return nullptr;
  const std::string* s = std::get_if<std::string>(&it->second);
  return s ? s->c_str() : nullptr;
}
}  // namespace

const char* Layer::getPluginName() const { return pluginAttr(mNet->graph->nodeById(mId), plugins::kAttrName); }
const char* Layer::getPluginVersion() const { return pluginAttr(mNet->graph->nodeById(mId), plugins::kAttrVersion); }
const char* Layer::getPluginNamespace() const { return pluginAttr(mNet->graph->nodeById(mId), plugins::kAttrNamespace); }
const char* Layer::getPluginLibrary() const { return pluginAttr(mNet->graph->nodeById(mId), plugins::kAttrLibrary); }
std::vector<PluginField> Layer::getPluginFields() const {
  const ir::Node* n = mNet->graph->nodeById(mId);
  if (n->op != OpKind::kPlugin) return {};
  auto fields = plugins::fieldsFromAttributes(n->attrs, n->name);
  return fields.isOk() ? std::move(fields).value() : std::vector<PluginField>{};
}

// ---- NetworkDefinition ----------------------------------------------------------------------------

NetworkDefinition::NetworkDefinition(Logger& logger) : mImpl(std::make_unique<NetworkImpl>(logger)) {}
NetworkDefinition::~NetworkDefinition() = default;

void NetworkDefinition::setName(const char* name) { mImpl->name = name ? name : ""; }
const char* NetworkDefinition::getName() const { return mImpl->name.c_str(); }
const std::string& NetworkDefinition::getLastError() const { return mImpl->lastError; }

Tensor* NetworkDefinition::addInput(const char* name, DataType type, const Dims& dims,
                                    const std::vector<std::string>& dimNames) {
  if (!name || !*name) return mImpl->fail(invalidArgument("addInput: the input needs a name"));
  if (mImpl->graph->findValue(name))
    return mImpl->fail(invalidArgument("addInput: a tensor named '%s' already exists", name));
  if (dims.nbDims < 0 || dims.nbDims > Dims::kMaxDims)
    return mImpl->fail(invalidArgument("addInput '%s': rank %d is outside [0, %d]", name,
                                       dims.nbDims, Dims::kMaxDims));
  if (!dimNames.empty() && dimNames.size() != static_cast<size_t>(dims.nbDims))
    return mImpl->fail(invalidArgument("addInput '%s': %zu dim names for %d dims", name,
                                       dimNames.size(), dims.nbDims));
  ir::Shape shape;
  for (int i = 0; i < dims.nbDims; ++i) {
    int64_t d = dims.d[i];
    if (d >= 0) {
      shape.emplace_back(d);
    } else if (d == -1) {
      std::string sym = !dimNames.empty() && !dimNames[static_cast<size_t>(i)].empty()
                            ? dimNames[static_cast<size_t>(i)]
                            : std::string(name) + "_d" + std::to_string(i);
      shape.push_back(ir::DimExpr::symbol(sym));
    } else {
      return mImpl->fail(invalidArgument("addInput '%s': dimension %d is %lld; use -1 for a "
                                         "dynamic dimension",
                                         name, i, static_cast<long long>(d)));
    }
  }
  return mImpl->tensorFor(mImpl->graph->addInput(name, type, std::move(shape)));
}

bool NetworkDefinition::markOutput(Tensor& tensor) {
  mImpl->graph->markOutput(mImpl->value(tensor));
  return true;
}
bool NetworkDefinition::unmarkOutput(Tensor& tensor) {
  Value* v = mImpl->value(tensor);
  if (!v->isGraphOutput) return false;
  mImpl->graph->unmarkOutput(v);
  return true;
}
int NetworkDefinition::getNbInputs() const { return static_cast<int>(mImpl->graph->inputs().size()); }
Tensor* NetworkDefinition::getInput(int index) const {
  const auto& in = mImpl->graph->inputs();
  if (index < 0 || static_cast<size_t>(index) >= in.size()) return nullptr;
  return mImpl->tensorFor(in[static_cast<size_t>(index)]);
}
int NetworkDefinition::getNbOutputs() const { return static_cast<int>(mImpl->graph->outputs().size()); }
Tensor* NetworkDefinition::getOutput(int index) const {
  const auto& out = mImpl->graph->outputs();
  if (index < 0 || static_cast<size_t>(index) >= out.size()) return nullptr;
  return mImpl->tensorFor(out[static_cast<size_t>(index)]);
}
int NetworkDefinition::getNbLayers() const { return static_cast<int>(mImpl->graph->nodes().size()); }
Layer* NetworkDefinition::getLayer(int index) const {
  auto nodes = mImpl->graph->nodes();
  if (index < 0 || static_cast<size_t>(index) >= nodes.size()) return nullptr;
  return mImpl->layerFor(nodes[static_cast<size_t>(index)]);
}
Tensor* NetworkDefinition::getTensor(const char* name) const {
  if (!name) return nullptr;
  return mImpl->tensorFor(mImpl->graph->findValue(name));
}

namespace {

StatusOr<ir::TensorDataPtr> weightsToData(const Weights& w, std::vector<int64_t> dims,
                                          const char* what) {
  int64_t n = ir::volumeOf(dims);
  if (w.count != n)
    return invalidArgument("%s: expected %lld weight values for shape %s, got %lld", what,
                           static_cast<long long>(n), ir::dimsToString(dims).c_str(),
                           static_cast<long long>(w.count));
  if (n > 0 && !w.values) return invalidArgument("%s: weight values are null", what);
  return ir::TensorDataPtr(ir::TensorData::fromBytes(w.type, std::move(dims), w.values));
}

std::vector<int64_t> dimsVec(const Dims& d) { return std::vector<int64_t>(d.d, d.d + d.nbDims); }

// Spatial attribute from Dims, or `def` repeated when unset.
std::vector<int64_t> spatial(const Dims& d, size_t n, int64_t def) {
  if (d.nbDims == 0) return std::vector<int64_t>(n, def);
  return dimsVec(d);
}

const char* autoPadName(PaddingMode m) {
  switch (m) {
    case PaddingMode::kEXPLICIT: return "NOTSET";
    case PaddingMode::kSAME_UPPER: return "SAME_UPPER";
    case PaddingMode::kSAME_LOWER: return "SAME_LOWER";
    case PaddingMode::kVALID: return "VALID";
  }
  return "NOTSET";
}

void setPads(Attributes& a, const Dims& pre, const Dims& post, size_t n) {
  std::vector<int64_t> begin = spatial(pre, n, 0);
  std::vector<int64_t> end = post.nbDims ? dimsVec(post) : begin;
  std::vector<int64_t> pads = begin;
  pads.insert(pads.end(), end.begin(), end.end());
  a.setInts("pads", pads);
}

}  // namespace

Tensor* NetworkDefinition::addConstant(const Dims& dims, const Weights& weights, const char* name) {
  auto data = weightsToData(weights, dimsVec(dims), "addConstant");
  if (!data.isOk()) return mImpl->fail(data.status());
  return mImpl->tensorFor(mImpl->addConstant(*data, name ? name : "const"));
}

static Layer* addConvLike(NetworkImpl& net, OpKind op, Tensor& input, int64_t nbOutputMaps,
                          const Dims& kernelSize, const Weights& kernel, const Weights& bias,
                          const ConvolutionDesc& desc) {
  Value* x = net.value(input);
  size_t nsp = static_cast<size_t>(kernelSize.nbDims);
  if (nsp == 0 || x->shape.size() != nsp + 2)
    return net.fail(invalidArgument("%s: input '%s' has rank %zu; a %zu-D kernel needs rank %zu",
                                    ir::opName(op), x->name.c_str(), x->shape.size(), nsp, nsp + 2));
  if (!x->shape[1].isConst())
    return net.fail(invalidArgument("%s: the channel dimension of '%s' must be static",
                                    ir::opName(op), x->name.c_str()));
  int64_t cin = x->shape[1].constValue();
  int64_t groups = desc.groups;
  if (groups <= 0 || cin % groups != 0 || nbOutputMaps % groups != 0)
    return net.fail(invalidArgument("%s: groups=%lld must divide input channels %lld and output "
                                    "maps %lld",
                                    ir::opName(op), static_cast<long long>(groups),
                                    static_cast<long long>(cin), static_cast<long long>(nbOutputMaps)));
  std::vector<int64_t> wdims = op == OpKind::kConv
                                   ? std::vector<int64_t>{nbOutputMaps, cin / groups}
                                   : std::vector<int64_t>{cin, nbOutputMaps / groups};
  for (size_t i = 0; i < nsp; ++i) wdims.push_back(kernelSize.d[i]);
  auto w = weightsToData(kernel, wdims, "kernel weights");
  if (!w.isOk()) return net.fail(w.status());
  std::vector<Value*> inputs{x, net.addConstant(*w, "kernel")};
  if (bias.count > 0) {
    auto b = weightsToData(bias, {nbOutputMaps}, "bias weights");
    if (!b.isOk()) return net.fail(b.status());
    inputs.push_back(net.addConstant(*b, "bias"));
  }
  Attributes a;
  a.setInts("kernel_shape", dimsVec(kernelSize));
  a.setInts("strides", spatial(desc.stride, nsp, 1));
  a.setInts("dilations", spatial(desc.dilation, nsp, 1));
  a.setInt("group", groups);
  a.setString("auto_pad", autoPadName(desc.paddingMode));
  setPads(a, desc.padding, desc.postPadding, nsp);
  if (op == OpKind::kConvTranspose && desc.outputPadding.nbDims)
    a.setInts("output_padding", dimsVec(desc.outputPadding));
  return net.addNode(op, inputs, a);
}

Layer* NetworkDefinition::addConvolution(Tensor& input, int64_t nbOutputMaps, const Dims& kernelSize,
                                         const Weights& kernel, const Weights& bias,
                                         const ConvolutionDesc& desc) {
  return addConvLike(*mImpl, OpKind::kConv, input, nbOutputMaps, kernelSize, kernel, bias, desc);
}

Layer* NetworkDefinition::addDeconvolution(Tensor& input, int64_t nbOutputMaps,
                                           const Dims& kernelSize, const Weights& kernel,
                                           const Weights& bias, const ConvolutionDesc& desc) {
  return addConvLike(*mImpl, OpKind::kConvTranspose, input, nbOutputMaps, kernelSize, kernel, bias,
                     desc);
}

Layer* NetworkDefinition::addMatrixMultiply(Tensor& a, MatrixOperation opA, Tensor& b,
                                            MatrixOperation opB) {
  auto transposeLast2 = [&](Tensor& t) -> Value* {
    Value* v = mImpl->value(t);
    size_t r = v->shape.size();
    if (r < 2) return v;
    std::vector<int64_t> perm(r);
    for (size_t i = 0; i < r; ++i) perm[i] = static_cast<int64_t>(i);
    std::swap(perm[r - 1], perm[r - 2]);
    Attributes at;
    at.setInts("perm", perm);
    Layer* l = mImpl->addNode(OpKind::kTranspose, {v}, at);
    return l ? mImpl->value(*l->getOutput(0)) : nullptr;
  };
  Value* va = opA == MatrixOperation::kTRANSPOSE ? transposeLast2(a) : mImpl->value(a);
  Value* vb = opB == MatrixOperation::kTRANSPOSE ? transposeLast2(b) : mImpl->value(b);
  if (!va || !vb) return nullptr;
  return mImpl->addNode(OpKind::kMatMul, {va, vb}, {});
}

Layer* NetworkDefinition::addGemm(Tensor& a, Tensor& b, Tensor* c, float alpha, float beta,
                                  bool transA, bool transB) {
  Attributes at;
  at.setFloat("alpha", alpha);
  at.setFloat("beta", beta);
  at.setInt("transA", transA);
  at.setInt("transB", transB);
  std::vector<Value*> in{mImpl->value(a), mImpl->value(b)};
  if (c) in.push_back(mImpl->value(*c));
  return mImpl->addNode(OpKind::kGemm, in, at);
}

Layer* NetworkDefinition::addFullyConnected(Tensor& input, int64_t nbOutputs, const Weights& kernel,
                                            const Weights& bias) {
  Value* x = mImpl->value(input);
  if (x->shape.empty() || !x->shape.back().isConst())
    return mImpl->fail(invalidArgument("addFullyConnected: the last dimension of '%s' must be static",
                                       x->name.c_str()));
  int64_t k = x->shape.back().constValue();
  auto w = weightsToData(kernel, {nbOutputs, k}, "fully connected weights");
  if (!w.isOk()) return mImpl->fail(w.status());
  // y = x @ W^T (+ b): store W^T so the layer is a plain MatMul (+ Add).
  auto wt = std::make_shared<ir::TensorData>(kernel.type, std::vector<int64_t>{k, nbOutputs});
  size_t es = dataTypeSize(kernel.type);
  for (int64_t o = 0; o < nbOutputs; ++o)
    for (int64_t i = 0; i < k; ++i)
      std::memcpy(static_cast<uint8_t*>(wt->data()) + (i * nbOutputs + o) * es,
                  static_cast<const uint8_t*>((*w)->data()) + (o * k + i) * es, es);
  Layer* mm = mImpl->addNode(OpKind::kMatMul, {x, mImpl->addConstant(wt, "fc_weights")}, {});
  if (!mm || bias.count == 0) return mm;
  auto b = weightsToData(bias, {nbOutputs}, "fully connected bias");
  if (!b.isOk()) return mImpl->fail(b.status());
  return mImpl->addNode(OpKind::kAdd, {mImpl->value(*mm->getOutput(0)), mImpl->addConstant(*b, "fc_bias")}, {});
}

Layer* NetworkDefinition::addActivation(Tensor& input, ActivationType type, float alpha, float beta) {
  Value* x = mImpl->value(input);
  Attributes a;
  switch (type) {
    case ActivationType::kRELU: return mImpl->addNode(OpKind::kRelu, {x}, a);
    case ActivationType::kSIGMOID: return mImpl->addNode(OpKind::kSigmoid, {x}, a);
    case ActivationType::kTANH: return mImpl->addNode(OpKind::kTanh, {x}, a);
    case ActivationType::kLEAKY_RELU: a.setFloat("alpha", alpha); return mImpl->addNode(OpKind::kLeakyRelu, {x}, a);
    case ActivationType::kELU: a.setFloat("alpha", alpha); return mImpl->addNode(OpKind::kElu, {x}, a);
    case ActivationType::kSELU:
      a.setFloat("alpha", alpha);
      a.setFloat("gamma", beta);
      return mImpl->addNode(OpKind::kSelu, {x}, a);
    case ActivationType::kSOFTSIGN: return mImpl->addNode(OpKind::kSoftsign, {x}, a);
    case ActivationType::kSOFTPLUS: return mImpl->addNode(OpKind::kSoftplus, {x}, a);
    case ActivationType::kCLIP: {
      auto lo = mImpl->addConstant(ir::TensorData::fromBytes(DataType::kFLOAT, {}, &alpha), "clip_min");
      auto hi = mImpl->addConstant(ir::TensorData::fromBytes(DataType::kFLOAT, {}, &beta), "clip_max");
      return mImpl->addNode(OpKind::kClip, {x, lo, hi}, a);
    }
    case ActivationType::kHARD_SIGMOID:
      a.setFloat("alpha", alpha);
      a.setFloat("beta", beta);
      return mImpl->addNode(OpKind::kHardSigmoid, {x}, a);
    case ActivationType::kTHRESHOLDED_RELU: a.setFloat("alpha", alpha); return mImpl->addNode(OpKind::kThresholdedRelu, {x}, a);
    case ActivationType::kGELU_ERF: a.setString("approximate", "none"); return mImpl->addNode(OpKind::kGelu, {x}, a);
    case ActivationType::kGELU_TANH: a.setString("approximate", "tanh"); return mImpl->addNode(OpKind::kGelu, {x}, a);
    case ActivationType::kHARD_SWISH: return mImpl->addNode(OpKind::kHardSwish, {x}, a);
    case ActivationType::kMISH: return mImpl->addNode(OpKind::kMish, {x}, a);
    case ActivationType::kCELU: a.setFloat("alpha", alpha); return mImpl->addNode(OpKind::kCelu, {x}, a);
  }
  return mImpl->fail(invalidArgument("addActivation: unknown activation type %d", static_cast<int>(type)));
}

Layer* NetworkDefinition::addPooling(Tensor& input, PoolingType type, const Dims& windowSize,
                                     const PoolingDesc& desc) {
  size_t nsp = static_cast<size_t>(windowSize.nbDims);
  Attributes a;
  a.setInts("kernel_shape", dimsVec(windowSize));
  a.setInts("strides", spatial(desc.stride, nsp, 1));
  a.setInt("ceil_mode", desc.ceilMode);
  a.setString("auto_pad", autoPadName(desc.paddingMode));
  setPads(a, desc.padding, desc.postPadding, nsp);
  if (type == PoolingType::kMAX) {
    a.setInts("dilations", spatial(desc.dilation, nsp, 1));
    return mImpl->addNode(OpKind::kMaxPool, {mImpl->value(input)}, a);
  }
  a.setInt("count_include_pad", desc.countIncludePad);
  return mImpl->addNode(OpKind::kAveragePool, {mImpl->value(input)}, a);
}

Layer* NetworkDefinition::addGlobalPooling(Tensor& input, PoolingType type) {
  return mImpl->addNode(type == PoolingType::kMAX ? OpKind::kGlobalMaxPool : OpKind::kGlobalAveragePool,
                        {mImpl->value(input)}, {});
}

Layer* NetworkDefinition::addElementWise(Tensor& a, Tensor& b, ElementWiseOperation op) {
  static const OpKind kOps[] = {OpKind::kAdd, OpKind::kMul, OpKind::kMax, OpKind::kMin,
                                OpKind::kSub, OpKind::kDiv, OpKind::kPow, OpKind::kAnd,
                                OpKind::kOr, OpKind::kXor, OpKind::kEqual, OpKind::kGreater,
                                OpKind::kLess, OpKind::kMod};
  auto i = static_cast<size_t>(op);
  if (i >= std::size(kOps)) return mImpl->fail(invalidArgument("addElementWise: unknown operation %zu", i));
  Attributes at;
  if (op == ElementWiseOperation::kMOD) {
    bool isFloat = mImpl->value(a)->dtype == DataType::kFLOAT || mImpl->value(a)->dtype == DataType::kHALF ||
                   mImpl->value(a)->dtype == DataType::kDOUBLE || mImpl->value(a)->dtype == DataType::kBF16;
    at.setInt("fmod", isFloat ? 1 : 0);
  }
  return mImpl->addNode(kOps[i], {mImpl->value(a), mImpl->value(b)}, at);
}

Layer* NetworkDefinition::addUnary(Tensor& input, UnaryOperation op) {
  static const OpKind kOps[] = {
      OpKind::kExp,   OpKind::kLog,   OpKind::kSqrt,  OpKind::kReciprocal, OpKind::kAbs,
      OpKind::kNeg,   OpKind::kSin,   OpKind::kCos,   OpKind::kTan,        OpKind::kSinh,
      OpKind::kCosh,  OpKind::kAsin,  OpKind::kAcos,  OpKind::kAtan,       OpKind::kAsinh,
      OpKind::kAcosh, OpKind::kAtanh, OpKind::kCeil,  OpKind::kFloor,      OpKind::kErf,
      OpKind::kNot,   OpKind::kSign,  OpKind::kRound, OpKind::kIsInf,      OpKind::kIsNaN};
  auto i = static_cast<size_t>(op);
  if (i >= std::size(kOps)) return mImpl->fail(invalidArgument("addUnary: unknown operation %zu", i));
  return mImpl->addNode(kOps[i], {mImpl->value(input)}, {});
}

Layer* NetworkDefinition::addReduce(Tensor& input, ReduceOperation op, const std::vector<int64_t>& axes,
                                    bool keepDims) {
  static const OpKind kOps[] = {OpKind::kReduceSum, OpKind::kReduceProd, OpKind::kReduceMax,
                                OpKind::kReduceMin, OpKind::kReduceMean, OpKind::kReduceL1,
                                OpKind::kReduceL2,  OpKind::kReduceSumSquare,
                                OpKind::kReduceLogSumExp};
  auto i = static_cast<size_t>(op);
  if (i >= std::size(kOps)) return mImpl->fail(invalidArgument("addReduce: unknown operation %zu", i));
  Attributes a;
  a.setInt("keepdims", keepDims);
  std::vector<Value*> in{mImpl->value(input)};
  if (!axes.empty()) in.push_back(mImpl->addConstant(ir::TensorData::vectorInt64(axes), "axes"));
  return mImpl->addNode(kOps[i], in, a);
}

Layer* NetworkDefinition::addArgMax(Tensor& input, int64_t axis, bool keepDims) {
  Attributes a;
  a.setInt("axis", axis);
  a.setInt("keepdims", keepDims);
  return mImpl->addNode(OpKind::kArgMax, {mImpl->value(input)}, a);
}

Layer* NetworkDefinition::addSoftMax(Tensor& input, int64_t axis) {
  Attributes a;
  a.setInt("axis", axis);
  return mImpl->addNode(OpKind::kSoftmax, {mImpl->value(input)}, a);
}

Layer* NetworkDefinition::addLogSoftMax(Tensor& input, int64_t axis) {
  Attributes a;
  a.setInt("axis", axis);
  return mImpl->addNode(OpKind::kLogSoftmax, {mImpl->value(input)}, a);
}

Layer* NetworkDefinition::addConcatenation(std::span<Tensor* const> inputs, int64_t axis) {
  std::vector<Value*> in;
  for (Tensor* t : inputs) {
    if (!t) return mImpl->fail(invalidArgument("addConcatenation: null input"));
    in.push_back(mImpl->value(*t));
  }
  Attributes a;
  a.setInt("axis", axis);
  return mImpl->addNode(OpKind::kConcat, in, a);
}

Layer* NetworkDefinition::addSplit(Tensor& input, int64_t axis, const std::vector<int64_t>& sizes) {
  Attributes a;
  a.setInt("axis", axis);
  return mImpl->addNode(OpKind::kSplit,
                        {mImpl->value(input), mImpl->addConstant(ir::TensorData::vectorInt64(sizes), "split")},
                        a, static_cast<int>(sizes.size()));
}

Layer* NetworkDefinition::addReshape(Tensor& input, const std::vector<int64_t>& shape) {
  return mImpl->addNode(OpKind::kReshape,
                        {mImpl->value(input), mImpl->addConstant(ir::TensorData::vectorInt64(shape), "shape")}, {});
}

Layer* NetworkDefinition::addReshape(Tensor& input, Tensor& shape) {
  return mImpl->addNode(OpKind::kReshape, {mImpl->value(input), mImpl->value(shape)}, {});
}

Layer* NetworkDefinition::addTranspose(Tensor& input, const std::vector<int64_t>& perm) {
  Attributes a;
  a.setInts("perm", perm);
  return mImpl->addNode(OpKind::kTranspose, {mImpl->value(input)}, a);
}

Layer* NetworkDefinition::addFlatten(Tensor& input, int64_t axis) {
  Attributes a;
  a.setInt("axis", axis);
  return mImpl->addNode(OpKind::kFlatten, {mImpl->value(input)}, a);
}

Layer* NetworkDefinition::addSqueeze(Tensor& input, const std::vector<int64_t>& axes) {
  std::vector<Value*> in{mImpl->value(input)};
  if (!axes.empty()) in.push_back(mImpl->addConstant(ir::TensorData::vectorInt64(axes), "axes"));
  return mImpl->addNode(OpKind::kSqueeze, in, {});
}

Layer* NetworkDefinition::addUnsqueeze(Tensor& input, const std::vector<int64_t>& axes) {
  return mImpl->addNode(OpKind::kUnsqueeze,
                        {mImpl->value(input), mImpl->addConstant(ir::TensorData::vectorInt64(axes), "axes")}, {});
}

Layer* NetworkDefinition::addSlice(Tensor& input, const std::vector<int64_t>& starts,
                                   const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                   const std::vector<int64_t>& steps) {
  std::vector<Value*> in{mImpl->value(input),
                         mImpl->addConstant(ir::TensorData::vectorInt64(starts), "starts"),
                         mImpl->addConstant(ir::TensorData::vectorInt64(ends), "ends")};
  in.push_back(axes.empty() ? nullptr : mImpl->addConstant(ir::TensorData::vectorInt64(axes), "axes"));
  if (!steps.empty()) in.push_back(mImpl->addConstant(ir::TensorData::vectorInt64(steps), "steps"));
  return mImpl->addNode(OpKind::kSlice, in, {});
}

Layer* NetworkDefinition::addGather(Tensor& data, Tensor& indices, int64_t axis) {
  Attributes a;
  a.setInt("axis", axis);
  return mImpl->addNode(OpKind::kGather, {mImpl->value(data), mImpl->value(indices)}, a);
}

Layer* NetworkDefinition::addBatchNormalization(Tensor& input, const Weights& scale,
                                                const Weights& bias, const Weights& mean,
                                                const Weights& variance, float epsilon) {
  Value* x = mImpl->value(input);
  if (x->shape.size() < 2 || !x->shape[1].isConst())
    return mImpl->fail(invalidArgument("addBatchNormalization: '%s' needs a static channel dim 1",
                                       x->name.c_str()));
  int64_t c = x->shape[1].constValue();
  std::vector<Value*> in{x};
  const Weights* ws[] = {&scale, &bias, &mean, &variance};
  const char* names[] = {"bn_scale", "bn_bias", "bn_mean", "bn_var"};
  for (int i = 0; i < 4; ++i) {
    auto d = weightsToData(*ws[i], {c}, names[i]);
    if (!d.isOk()) return mImpl->fail(d.status());
    in.push_back(mImpl->addConstant(*d, names[i]));
  }
  Attributes a;
  a.setFloat("epsilon", epsilon);
  return mImpl->addNode(OpKind::kBatchNormalization, in, a);
}

Layer* NetworkDefinition::addLayerNormalization(Tensor& input, Tensor& scale, Tensor* bias,
                                                int64_t axis, float epsilon) {
  Attributes a;
  a.setInt("axis", axis);
  a.setFloat("epsilon", epsilon);
  std::vector<Value*> in{mImpl->value(input), mImpl->value(scale)};
  if (bias) in.push_back(mImpl->value(*bias));
  return mImpl->addNode(OpKind::kLayerNormalization, in, a);
}

Layer* NetworkDefinition::addInstanceNormalization(Tensor& input, Tensor& scale, Tensor& bias,
                                                   float epsilon) {
  Attributes a;
  a.setFloat("epsilon", epsilon);
  return mImpl->addNode(OpKind::kInstanceNormalization,
                        {mImpl->value(input), mImpl->value(scale), mImpl->value(bias)}, a);
}

Layer* NetworkDefinition::addGroupNormalization(Tensor& input, Tensor& scale, Tensor& bias,
                                                int64_t numGroups, float epsilon) {
  Attributes a;
  a.setFloat("epsilon", epsilon);
  a.setInt("num_groups", numGroups);
  return mImpl->addNode(OpKind::kGroupNormalization,
                        {mImpl->value(input), mImpl->value(scale), mImpl->value(bias)}, a);
}

Layer* NetworkDefinition::addResize(Tensor& input, const ResizeDesc& desc) {
  Attributes a;
  const char* modes[] = {"nearest", "linear", "cubic"};
  a.setString("mode", modes[static_cast<int>(desc.mode)]);
  a.setString("coordinate_transformation_mode", desc.coordinateTransformation);
  a.setString("nearest_mode", desc.nearestMode);
  std::vector<Value*> in{mImpl->value(input), nullptr};
  if (!desc.scales.empty()) {
    in.push_back(mImpl->addConstant(
        ir::TensorData::fromVector(DataType::kFLOAT, {static_cast<int64_t>(desc.scales.size())}, desc.scales),
        "scales"));
  } else {
    in.push_back(nullptr);
    in.push_back(mImpl->addConstant(ir::TensorData::vectorInt64(desc.sizes), "sizes"));
  }
  return mImpl->addNode(OpKind::kResize, in, a);
}

Layer* NetworkDefinition::addCast(Tensor& input, DataType toType) {
  Attributes a;
  a.setInt("to", static_cast<int64_t>(toType));
  return mImpl->addNode(OpKind::kCast, {mImpl->value(input)}, a);
}

Layer* NetworkDefinition::addIdentity(Tensor& input) {
  return mImpl->addNode(OpKind::kIdentity, {mImpl->value(input)}, {});
}

Layer* NetworkDefinition::addPadding(Tensor& input, const std::vector<int64_t>& pads,
                                     const char* mode, float value) {
  Attributes a;
  a.setString("mode", mode ? mode : "constant");
  Value* x = mImpl->value(input);
  auto cv = std::make_shared<ir::TensorData>(x->dtype, std::vector<int64_t>{});
  // The pad value in the input's type.
  float f = value;
  switch (x->dtype) {
    case DataType::kFLOAT: *cv->as<float>() = f; break;
    case DataType::kHALF: *cv->as<Half>() = Half(f); break;
    case DataType::kBF16: *cv->as<BFloat16>() = BFloat16(f); break;
    case DataType::kDOUBLE: *cv->as<double>() = f; break;
    case DataType::kINT64: *cv->as<int64_t>() = static_cast<int64_t>(f); break;
    case DataType::kINT32: *cv->as<int32_t>() = static_cast<int32_t>(f); break;
    default: break;
  }
  return mImpl->addNode(OpKind::kPad,
                        {x, mImpl->addConstant(ir::TensorData::vectorInt64(pads), "pads"),
                         mImpl->addConstant(cv, "pad_value")},
                        a);
}

Layer* NetworkDefinition::addSelect(Tensor& condition, Tensor& thenInput, Tensor& elseInput) {
  return mImpl->addNode(OpKind::kWhere,
                        {mImpl->value(condition), mImpl->value(thenInput), mImpl->value(elseInput)}, {});
}

Layer* NetworkDefinition::addTopK(Tensor& input, int64_t k, int64_t axis, bool largest) {
  Attributes a;
  a.setInt("axis", axis);
  a.setInt("largest", largest);
  a.setInt("sorted", 1);
  return mImpl->addNode(OpKind::kTopK,
                        {mImpl->value(input), mImpl->addConstant(ir::TensorData::vectorInt64({k}), "k")}, a, 2);
}

Layer* NetworkDefinition::addShape(Tensor& input) {
  return mImpl->addNode(OpKind::kShape, {mImpl->value(input)}, {});
}

Layer* NetworkDefinition::addEinsum(std::span<Tensor* const> inputs, const char* equation) {
  std::vector<Value*> in;
  for (Tensor* t : inputs) {
    if (!t) return mImpl->fail(invalidArgument("addEinsum: null input"));
    in.push_back(mImpl->value(*t));
  }
  Attributes a;
  a.setString("equation", equation ? equation : "");
  return mImpl->addNode(OpKind::kEinsum, in, a);
}

Layer* NetworkDefinition::addPluginLayer(std::span<Tensor* const> inputs, const char* pluginName,
                                         const char* pluginVersion, const char* pluginNamespace,
                                         std::span<const PluginField> fields) {
  std::string name = pluginName ? pluginName : "";
  if (name.empty()) return mImpl->fail(invalidArgument("addPluginLayer: no plugin name given"));
  std::vector<Value*> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i])
      return mImpl->fail(invalidArgument("addPluginLayer '%s': input %zu is null; plugin layers "
                                         "take only present inputs", name.c_str(), i));
    in.push_back(mImpl->value(*inputs[i]));
  }
  std::string layerName = mImpl->graph->uniqueName(name + "_" + std::to_string(mImpl->graph->nodes().size()));
  auto spec = plugins::makePluginLayer(layerName, name, pluginVersion ? pluginVersion : "",
                                       pluginNamespace ? pluginNamespace : "", fields);
  if (!spec.isOk()) return mImpl->fail(spec.status());
  return mImpl->addNode(OpKind::kPlugin, in, std::move(spec->attrs), spec->numOutputs, layerName);
}

Layer* NetworkDefinition::addPluginV3(std::span<Tensor* const> inputs, const Plugin& plugin) {
  std::vector<PluginField> fields = plugin.getFields();
  return addPluginLayer(inputs, plugin.getPluginName(), plugin.getPluginVersion(),
                        plugin.getPluginNamespace(), fields);
}

Layer* NetworkDefinition::addOp(const char* opType, std::span<Tensor* const> inputs,
                                const std::vector<Attribute>& attributes, int nbOutputs) {
  auto op = ir::opFromName(opType ? opType : "");
  if (!op) return mImpl->fail(unsupported("addOp: unknown op type '%s'", opType ? opType : ""));
  std::vector<Value*> in;
  for (Tensor* t : inputs) in.push_back(t ? mImpl->value(*t) : nullptr);
  Attributes a;
  for (const Attribute& at : attributes)
    std::visit([&](const auto& v) { a.set(at.name, v); }, at.value);
  return mImpl->addNode(*op, in, a, nbOutputs);
}

}  // namespace kiln
