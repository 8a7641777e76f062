#include "onnx/model_importer.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/logging.h"
#include "common/small_float.h"
#include "ir/shape_inference.h"
#include "onnx/onnx_types.h"
#include "onnx/op_versions.h"

namespace kiln::onnx_import {

namespace {

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }
std::string displayDomain(const std::string& d) { return isDefaultDomain(d) ? "ai.onnx" : d; }

// Attribute names whose type is the same in every ONNX op that has them. A node carrying one of
// them with another type is malformed; checking here gives one clear message for all ops.
onnx::AttributeProto::AttributeType expectedAttributeType(const std::string& name) {
  using A = onnx::AttributeProto;
  static const std::map<std::string, A::AttributeType, std::less<>> kTypes = {
      {"alpha", A::FLOAT}, {"beta", A::FLOAT}, {"gamma", A::FLOAT}, {"epsilon", A::FLOAT},
      {"lambd", A::FLOAT}, {"bias", A::FLOAT}, {"momentum", A::FLOAT}, {"ratio", A::FLOAT},
      {"min", A::FLOAT}, {"max", A::FLOAT}, {"cubic_coeff_a", A::FLOAT},
      {"extrapolation_value", A::FLOAT}, {"axis", A::INT}, {"keepdims", A::INT},
      {"group", A::INT}, {"transA", A::INT}, {"transB", A::INT}, {"to", A::INT},
      {"blocksize", A::INT}, {"fmod", A::INT}, {"largest", A::INT}, {"sorted", A::INT},
      {"k", A::INT}, {"num_groups", A::INT}, {"num_outputs", A::INT}, {"ceil_mode", A::INT},
      {"count_include_pad", A::INT}, {"storage_order", A::INT}, {"detect_negative", A::INT},
      {"detect_positive", A::INT}, {"saturate", A::INT}, {"start", A::INT}, {"end", A::INT},
      {"select_last_index", A::INT}, {"noop_with_empty_axes", A::INT}, {"allowzero", A::INT},
      {"stash_type", A::INT}, {"exclude_outside", A::INT}, {"antialias", A::INT},
      {"training_mode", A::INT}, {"axes", A::INTS}, {"perm", A::INTS},
      {"kernel_shape", A::INTS}, {"strides", A::INTS}, {"pads", A::INTS},
      {"dilations", A::INTS}, {"split", A::INTS}, {"starts", A::INTS}, {"ends", A::INTS},
      {"output_padding", A::INTS}, {"output_shape", A::INTS}, {"mode", A::STRING},
      {"auto_pad", A::STRING}, {"direction", A::STRING}, {"equation", A::STRING},
      {"approximate", A::STRING}, {"coordinate_transformation_mode", A::STRING},
      {"nearest_mode", A::STRING}, {"keep_aspect_ratio_policy", A::STRING},
  };
  auto it = kTypes.find(name);
  return it == kTypes.end() ? A::UNDEFINED : it->second;
}

}  // namespace

Status checkAttributeTypes(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute()) {
    auto want = expectedAttributeType(a.name());
    if (want != onnx::AttributeProto::UNDEFINED && attributeType(a) != want &&
        !(n.op_type() == "Pad" && a.name() == "value"))
      return invalidArgument("attribute '%s' must be %s, but it is %s", a.name().c_str(),
                             attributeTypeName(want), attributeTypeName(attributeType(a)));
  }
  return Status::ok();
}

// ---- ImportState ---------------------------------------------------------------------------------

std::string ImportState::freshValueName(const std::string& base) {
  std::string name = base;
  for (int k = 1; usedValueNames.count(name) || reservedValueNames.count(name); ++k)
    name = base + "_" + std::to_string(k);
  usedValueNames.insert(name);
  return name;
}

std::string ImportState::freshNodeName(const std::string& base) {
  std::string name = base;
  for (int k = 1; usedNodeNames.count(name) || reservedNodeNames.count(name); ++k)
    name = base + "_" + std::to_string(k);
  usedNodeNames.insert(name);
  return name;
}

StatusOr<ir::Node*> ImportState::addNode(ir::OpKind op, const std::string& name,
                                         std::vector<ir::Value*> inputs, ir::Attributes attrs,
                                         int numOutputs) {
  // Same steps as NetworkImpl::addNodeOrError, without its per-call name scan over the whole
  // graph (quadratic on large models): the importer keeps its own name sets and names the
  // outputs after the ONNX tensors right after this returns.
  ir::Node* n = net.graph->addNode(op, name, std::move(inputs), std::move(attrs), numOutputs);
  Status st = ir::inferNodeInPlace(*net.graph, *n, net.scratch);
  if (!st.isOk()) {
    net.graph->removeNode(n);
    return st;
  }
  return n;
}

ir::Value* ImportState::addConstant(const std::string& name, ir::TensorDataPtr data) {
  usedValueNames.insert(name);
  return net.graph->addConstant(name, std::move(data));
}

// ---- ImportContext -------------------------------------------------------------------------------

ir::Value* ImportContext::input(size_t i) const {
  if (i >= numInputs()) return nullptr;
  const std::string& n = mNode.input(static_cast<int>(i));
  if (n.empty()) return nullptr;
  auto it = mState.values.find(n);
  return it == mState.values.end() ? nullptr : it->second;
}

StatusOr<ir::Value*> ImportContext::requiredInput(size_t i, const char* what) const {
  ir::Value* v = input(i);
  if (!v) return error("input %zu (%s) is required", i, what);
  return v;
}

ir::Value* ImportContext::inputOrEmpty(size_t i) const {
  ir::Value* v = input(i);
  if (v && v->isConstant() && v->constant->numel() == 0) return nullptr;
  return v;
}

Status ImportContext::requireBuildTimeInput(size_t i) const {
  const ir::Value* v = input(i);
  // Graph inputs become shape tensor inputs when the layer's shape function reads them.
  if (!v || v->isConstant() || v->shapeValue || v->isGraphInput) return Status::ok();
  return unsupported("input '%s' of node '%s' (%s) must be a constant or computed from shapes; "
                     "it is computed from tensor data, which Kiln does not support yet",
                     mNode.input(static_cast<int>(i)).c_str(), mName.c_str(), opType().c_str());
}

bool ImportContext::outputUsed(size_t i) const {
  if (i >= numOutputs()) return false;
  const std::string& n = mNode.output(static_cast<int>(i));
  return !n.empty() && mState.consumed.count(n) != 0;
}

Status ImportContext::requireUnusedOutputs(size_t from, const char* why) const {
  for (size_t i = from; i < numOutputs(); ++i) {
    if (outputUsed(i))
      return unsupported("output %zu ('%s') is used, but Kiln computes only the first %zu "
                         "output(s) of %s (%s)",
                         i, mNode.output(static_cast<int>(i)).c_str(), from, opType().c_str(), why);
  }
  return Status::ok();
}

const onnx::AttributeProto* ImportContext::attr(const std::string& name) const {
  for (const auto& a : mNode.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

namespace {
Status wrongType(const onnx::AttributeProto& a, const char* want) {
  return invalidArgument("attribute '%s' must be %s, but it is %s", a.name().c_str(), want,
                         attributeTypeName(attributeType(a)));
}
}  // namespace

StatusOr<int64_t> ImportContext::attrInt(const std::string& name, int64_t def) const {
  const auto* a = attr(name);
  if (!a) return def;
  if (attributeType(*a) != onnx::AttributeProto::INT) return wrongType(*a, "INT");
  return static_cast<int64_t>(a->i());
}

StatusOr<float> ImportContext::attrFloat(const std::string& name, float def) const {
  const auto* a = attr(name);
  if (!a) return def;
  if (attributeType(*a) != onnx::AttributeProto::FLOAT) return wrongType(*a, "FLOAT");
  return a->f();
}

StatusOr<std::string> ImportContext::attrString(const std::string& name,
                                                const std::string& def) const {
  const auto* a = attr(name);
  if (!a) return def;
  if (attributeType(*a) != onnx::AttributeProto::STRING) return wrongType(*a, "STRING");
  return a->s();
}

StatusOr<std::optional<std::vector<int64_t>>> ImportContext::attrInts(const std::string& name) const {
  const auto* a = attr(name);
  if (!a) return std::optional<std::vector<int64_t>>();
  auto t = attributeType(*a);
  // An empty list may arrive with its type unset.
  if (t != onnx::AttributeProto::INTS && !(t == onnx::AttributeProto::UNDEFINED && a->ints_size() == 0))
    return wrongType(*a, "INTS");
  return std::optional<std::vector<int64_t>>(std::vector<int64_t>(a->ints().begin(), a->ints().end()));
}

StatusOr<ir::Attributes> ImportContext::copyAttributes(
    std::initializer_list<std::string_view> skip) const {
  ir::Attributes out;
  for (const auto& a : mNode.attribute()) {
    if (std::find(skip.begin(), skip.end(), a.name()) != skip.end()) continue;
    KILN_ASSIGN_OR_RETURN(ir::AttrValue v, attributeValue(a, mState.modelDir));
    out.set(a.name(), std::move(v));
  }
  return out;
}

Status ImportContext::addFinal(ir::OpKind op, std::vector<ir::Value*> inputs, ir::Attributes attrs,
                               int numOutputs) {
  KILN_RETURN_IF_ERROR(requireUnusedOutputs(static_cast<size_t>(numOutputs),
                                            "the others are not supported"));
  KILN_ASSIGN_OR_RETURN(ir::Node * n,
                        mState.addNode(op, mName, std::move(inputs), std::move(attrs), numOutputs));
  for (size_t i = 0; i < n->outputs.size(); ++i) {
    ir::Value* v = n->outputs[i];
    const std::string onnxName = i < this->numOutputs() ? mNode.output(static_cast<int>(i)) : "";
    if (onnxName.empty()) {
      v->name = mState.freshValueName(mName + "_output_" + std::to_string(i));
    } else {
      v->name = onnxName;
      mState.usedValueNames.insert(onnxName);
      mState.values[onnxName] = v;
    }
  }
  return Status::ok();
}

StatusOr<ir::Value*> ImportContext::addHelper(ir::OpKind op, std::vector<ir::Value*> inputs,
                                              ir::Attributes attrs, const std::string& suffix) {
  std::string nodeName = mState.freshNodeName(mName + "/" + suffix);
  KILN_ASSIGN_OR_RETURN(ir::Node * n,
                        mState.addNode(op, nodeName, std::move(inputs), std::move(attrs), 1));
  n->outputs[0]->name = mState.freshValueName(nodeName + "_output");
  return n->outputs[0];
}

Status ImportContext::addFinalOutput(size_t i, ir::OpKind op, std::vector<ir::Value*> inputs,
                                     ir::Attributes attrs, const std::string& suffix) {
  if (i >= numOutputs() || mNode.output(static_cast<int>(i)).empty())
    return internalError("%s: output %zu does not exist", mName.c_str(), i);
  const std::string nodeName = i == 0 ? mName : mState.freshNodeName(mName + "/" + suffix);
  KILN_ASSIGN_OR_RETURN(ir::Node * n,
                        mState.addNode(op, nodeName, std::move(inputs), std::move(attrs), 1));
  const std::string& onnxName = mNode.output(static_cast<int>(i));
  n->outputs[0]->name = onnxName;
  mState.usedValueNames.insert(onnxName);
  mState.values[onnxName] = n->outputs[0];
  return Status::ok();
}

Status ImportContext::bindOutput(size_t i, ir::Value* v) {
  if (i >= numOutputs() || mNode.output(static_cast<int>(i)).empty()) return Status::ok();
  mState.values[mNode.output(static_cast<int>(i))] = v;
  return Status::ok();
}

Status ImportContext::bindOutputConstant(size_t i, ir::TensorDataPtr data) {
  if (i >= numOutputs() || mNode.output(static_cast<int>(i)).empty()) return Status::ok();
  const std::string& n = mNode.output(static_cast<int>(i));
  mState.values[n] = mState.addConstant(n, std::move(data));
  return Status::ok();
}

ir::Value* ImportContext::constant(ir::TensorDataPtr data, const std::string& suffix) {
  return mState.addConstant(mState.freshValueName(mName + "/" + suffix), std::move(data));
}

ir::Value* ImportContext::constInt64s(const std::vector<int64_t>& v, const std::string& suffix) {
  return constant(ir::TensorData::vectorInt64(v), suffix);
}

namespace {
// An attribute value (a double) as integer type T: clamped to T's range, NaN -> 0 (a float
// attribute such as Clip's min/max may lie outside an integer input's range; the cast itself
// would be undefined behaviour).
template <typename T>
T saturateTo(double v) {
  if (std::isnan(v)) return T{0};
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::lowest());
  constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (v <= lo) return std::numeric_limits<T>::lowest();
  if (v >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}
}  // namespace

StatusOr<ir::Value*> ImportContext::constScalar(DataType dtype, double v, const std::string& suffix) {
  auto t = std::make_shared<ir::TensorData>(dtype, std::vector<int64_t>{});
  switch (dtype) {
    case DataType::kFLOAT: *t->as<float>() = static_cast<float>(v); break;
    case DataType::kDOUBLE: *t->as<double>() = v; break;
    case DataType::kHALF: *t->as<Half>() = Half(static_cast<float>(v)); break;
    case DataType::kBF16: *t->as<BFloat16>() = BFloat16(static_cast<float>(v)); break;
    case DataType::kINT8: *t->as<int8_t>() = saturateTo<int8_t>(v); break;
    case DataType::kINT16: *t->as<int16_t>() = saturateTo<int16_t>(v); break;
    case DataType::kINT32: *t->as<int32_t>() = saturateTo<int32_t>(v); break;
    case DataType::kINT64: *t->as<int64_t>() = saturateTo<int64_t>(v); break;
    case DataType::kUINT8: *t->as<uint8_t>() = saturateTo<uint8_t>(v); break;
    case DataType::kUINT16: *t->as<uint16_t>() = saturateTo<uint16_t>(v); break;
    case DataType::kUINT32: *t->as<uint32_t>() = saturateTo<uint32_t>(v); break;
    case DataType::kUINT64: *t->as<uint64_t>() = saturateTo<uint64_t>(v); break;
    case DataType::kBOOL: *t->as<uint8_t>() = v != 0 ? 1 : 0; break;
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP8E8M0:
    case DataType::kFP4E2M1: *t->as<uint8_t>() = floatToSmallFloat(dtype, static_cast<float>(v), true); break;
    case DataType::kINT4:
    case DataType::kUINT4:
    case DataType::kINT2:
    case DataType::kUINT2: *t->as<uint8_t>() = wrapToSubByte(dtype, saturateTo<int64_t>(v)); break;
  }
  return constant(t, suffix);
}

Status importDirect(ImportContext& ctx, ir::OpKind op) {
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  std::vector<ir::Value*> inputs;
  for (size_t i = 0; i < ctx.numInputs(); ++i) inputs.push_back(ctx.input(i));
  // Trailing absent optional inputs are dropped so input counts match the IR's expectations.
  while (!inputs.empty() && !inputs.back()) inputs.pop_back();
  int outs = std::max(1, static_cast<int>(ctx.numOutputs()));
  return ctx.addFinal(op, std::move(inputs), std::move(attrs), outs);
}

const OpImporterTable& opImporters() {
  static const OpImporterTable table = [] {
    OpImporterTable t;
    registerElementwiseImporters(t);
    registerNnImporters(t);
    registerShapeImporters(t);
    registerIndexingImporters(t);
    registerTransformerQuantImporters(t);
    registerRecurrentImporters(t);
    registerExtImporters(t);
    registerMiscImporters(t);
    registerDataDepImporters(t);
    registerControlImporters(t);
    registerConfImporters(t);
    return t;
  }();
  return table;
}

// ---- ModelImporter -------------------------------------------------------------------------------

std::string ModelImporter::nodeDisplayName(int index) const {
  const auto& n = mGraph->node(index);
  return n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
}

void ModelImporter::addError(ParserError::Code code, std::string message, int nodeIndex) {
  ParserError e;
  e.code = code;
  e.message = std::move(message);
  if (nodeIndex >= 0 && mGraph) {
    const auto& n = mGraph->node(nodeIndex);
    e.nodeName = nodeDisplayName(nodeIndex);
    e.nodeIndex = nodeIndex;
    e.opType = n.op_type();
    e.domain = displayDomain(n.domain());
    auto it = mDomainOpsets.find(isDefaultDomain(n.domain()) ? "" : n.domain());
    e.opset = it == mDomainOpsets.end() ? 0 : it->second;
  }
  logMessage(&mNet.logger, Severity::kERROR, "onnx", e.toString());
  mErrors.push_back(std::move(e));
  mFailed = true;
}

// since_version of `op`'s schema at opset 9 (0: no such op then).
static int64_t opSinceAtOpset9(const std::string& op) {
  static const std::unordered_map<std::string, int64_t> table = {
#define KILN_ONNX_SINCE9(name, since) {#name, since},
#include "onnx/op_since9.def"
#undef KILN_ONNX_SINCE9
  };
  auto it = table.find(op);
  return it == table.end() ? 0 : it->second;
}

Status checkLegacyOpset(const std::string& op, int64_t legacyOpset) {
  if (legacyOpset == 0) return Status::ok();
  const int64_t since9 = opSinceAtOpset9(op);
  if (since9 != 0 && since9 <= legacyOpset) return Status::ok();
  return unsupported(
      "the model uses opset %lld of the default domain; Kiln supports opsets %lld "
      "to %lld, and older models whose ops did not change before opset %lld, but "
      "%s changed in opset %lld (convert the model with onnx.version_converter)",
      static_cast<long long>(legacyOpset), static_cast<long long>(kMinOpset),
      static_cast<long long>(kMaxOpset), static_cast<long long>(kMinOpset), op.c_str(),
      static_cast<long long>(since9));
}

bool ModelImporter::checkModel(const onnx::ModelProto& model) {
  using C = ParserError::Code;
  if (!model.has_ir_version()) {
    addError(C::kINVALID_MODEL, "the model has no ir_version; it is not an ONNX model (or it is "
                                "truncated)");
  } else if (model.ir_version() < kMinIrVersion || model.ir_version() > kMaxIrVersion) {
    addError(C::kINVALID_MODEL,
             strFormat("the model has IR version %lld; Kiln supports IR versions %lld to %lld",
                       static_cast<long long>(model.ir_version()),
                       static_cast<long long>(kMinIrVersion), static_cast<long long>(kMaxIrVersion)));
  }
  for (const auto& o : model.opset_import()) {
    std::string d = isDefaultDomain(o.domain()) ? "" : o.domain();
    mDomainOpsets[d] = std::max(mDomainOpsets[d], static_cast<int64_t>(o.version()));
  }
  // A model of other domains only (ai.onnx.ml, ...) need not import the default domain; its
  // nodes are then reported as unsupported. Default-domain nodes without it are an error.
  auto it = mDomainOpsets.find("");
  if (it != mDomainOpsets.end()) {
    mOpset = it->second;
    if (mOpset >= 1 && mOpset < kMinOpset) {
      // Checked node by node in checkGraph: ops unchanged since the model's opset import as 9.
      mLegacyOpset = mOpset;
      mOpset = kMinOpset;
    } else if (mOpset < kMinOpset || mOpset > kMaxOpset)
      addError(C::kINVALID_MODEL,
               strFormat("the model uses opset %lld of the default domain; Kiln supports opsets "
                         "%lld to %lld (convert the model with onnx.version_converter)",
                         static_cast<long long>(mOpset), static_cast<long long>(kMinOpset),
                         static_cast<long long>(kMaxOpset)));
  }
  if (!model.has_graph()) addError(C::kINVALID_MODEL, "the model has no graph");
  return !mFailed;
}

bool ModelImporter::checkGraph(const onnx::GraphProto& g) {
  using C = ParserError::Code;
  mGraph = &g;
  const int numNodes = g.node_size();

  // 1. Every node must have an importer or a registered plugin (op type = plugin name, domain
  //    = plugin namespace, the default domain matching ""): report all unsupported nodes at once.
  const OpImporterTable& importers = opImporters();
  mPluginFor.assign(static_cast<size_t>(numNodes), nullptr);
  for (int i = 0; i < numNodes; ++i) {
    const auto& n = g.node(i);
    std::string domain = displayDomain(n.domain());
    bool builtin = isDefaultDomain(n.domain()) && importers.find(n.op_type()) != importers.end();
    if (!builtin || mPreferPlugins) {
      if (PluginCreator* c = getPluginRegistry().getCreator(
              n.op_type(), "", isDefaultDomain(n.domain()) ? "" : n.domain())) {
        mPluginFor[static_cast<size_t>(i)] = c;
        continue;
      }
    }
    if (n.domain() == "ai.onnx.ml" && mlOpImporters().count(n.op_type()) != 0) {
      auto ml = mDomainOpsets.find(n.domain());  // ai.onnx.ml ops Kiln imports (importers_conf.cpp)
      if (ml != mDomainOpsets.end() && ml->second >= 1 && ml->second <= kMaxMlOpset) continue;
    }
    if (!isDefaultDomain(n.domain())) {
      auto it = mDomainOpsets.find(n.domain());
      if (it == mDomainOpsets.end()) {
        addError(C::kUNSUPPORTED_NODE,
                 strFormat("unsupported operator '%s' (domain '%s', which the model does not "
                           "declare in opset_import). Kiln has no built-in implementation; add one "
                           "as a plugin (see docs/plugins.md) or replace the node.",
                           n.op_type().c_str(), domain.c_str()),
                 i);
      } else {
        addError(C::kUNSUPPORTED_NODE,
                 strFormat("unsupported operator '%s' (domain '%s', opset %lld). Kiln has no "
                           "built-in implementation; add one as a plugin (see docs/plugins.md) or "
                           "replace the node.",
                           n.op_type().c_str(), domain.c_str(), static_cast<long long>(it->second)),
                 i);
      }
      continue;
    }
    if (mOpset == 0) {
      addError(C::kINVALID_NODE,
               strFormat("node '%s' (%s) is in the default ONNX domain, but the model does not "
                         "import that domain (no opset_import entry for '' / 'ai.onnx')",
                         nodeDisplayName(i).c_str(), n.op_type().c_str()),
               i);
      continue;
    }
    if (importers.find(n.op_type()) == importers.end()) {
      addError(C::kUNSUPPORTED_NODE,
               strFormat("unsupported operator '%s' (domain '%s', opset %lld). Kiln has no "
                         "built-in implementation; add one as a plugin (see docs/plugins.md) or "
                         "replace the node.",
                         n.op_type().c_str(), domain.c_str(), static_cast<long long>(mOpset)),
               i);
      continue;
    }
    if (mLegacyOpset != 0) {
      // An opset 1..8 model: the op's schema must be the one opset 9 uses.
      Status ls = checkLegacyOpset(n.op_type(), mLegacyOpset);
      if (!ls.isOk()) {
        addError(C::kUNSUPPORTED_NODE, ls.message(), i);
        continue;
      }
    }
    // The op's version at this opset must be one the importer handles (op_versions.def).
    Status vs = checkOpVersion(n.op_type(), mOpset);
    if (!vs.isOk()) addError(C::kUNSUPPORTED_NODE, vs.message(), i);
  }
  if (mFailed) return false;

  // 2. Names: initializers and inputs are available from the start; each tensor is produced once.
  std::unordered_map<std::string, int> producer;  // tensor -> node index, -1 for inputs/initializers
  for (const auto& t : g.initializer()) {
    if (t.name().empty()) {
      addError(C::kINVALID_MODEL, "an initializer has no name");
      continue;
    }
    if (!producer.emplace(t.name(), -1).second)
      addError(C::kINVALID_MODEL, strFormat("initializer '%s' appears more than once", t.name().c_str()));
  }
  std::unordered_set<std::string> initializerNames;
  for (const auto& t : g.initializer()) initializerNames.insert(t.name());
  std::unordered_set<std::string> inputNames;
  for (const auto& in : g.input()) {
    if (in.name().empty()) {
      addError(C::kINVALID_MODEL, "a graph input has no name");
      continue;
    }
    if (!inputNames.insert(in.name()).second)
      addError(C::kINVALID_MODEL, strFormat("graph input '%s' appears more than once", in.name().c_str()));
    producer.emplace(in.name(), -1);
  }
  if (g.sparse_initializer_size() > 0)
    addError(C::kINVALID_MODEL,
             strFormat("the graph has %d sparse initializer(s) (first: '%s'); sparse tensors are "
                       "not supported",
                       g.sparse_initializer_size(),
                       g.sparse_initializer(0).values().name().c_str()));
  for (int i = 0; i < numNodes; ++i) {
    for (const auto& out : g.node(i).output()) {
      if (out.empty()) continue;
      auto [it, fresh] = producer.emplace(out, i);
      if (fresh) continue;
      if (it->second < 0)
        addError(C::kINVALID_NODE,
                 strFormat("duplicate tensor name: output '%s' of node '%s' is also a graph input "
                           "or initializer",
                           out.c_str(), nodeDisplayName(i).c_str()),
                 i);
      else
        addError(C::kINVALID_NODE,
                 strFormat("duplicate tensor name: output '%s' of node '%s' is also produced by "
                           "node '%s'",
                           out.c_str(), nodeDisplayName(i).c_str(),
                           nodeDisplayName(it->second).c_str()),
                 i);
    }
  }
  for (int i = 0; i < numNodes; ++i) {
    for (const auto& in : g.node(i).input()) {
      if (!in.empty() && !producer.count(in))
        addError(C::kINVALID_NODE,
                 strFormat("dangling input '%s' of node '%s': no node, graph input or initializer "
                           "produces it",
                           in.c_str(), nodeDisplayName(i).c_str()),
                 i);
    }
  }
  // Subgraph attributes (If/Loop/Scan bodies) read tensors of the main graph by name: implicit
  // inputs of their node, which must exist and come first like the explicit ones.
  std::vector<std::vector<std::string>> implicitInputs(static_cast<size_t>(numNodes));
  for (int i = 0; i < numNodes; ++i) {
    auto& implicit = implicitInputs[static_cast<size_t>(i)];
    collectSubgraphOuterInputs(g.node(i), implicit);
    for (const std::string& in : implicit)
      if (!producer.count(in))
        addError(C::kINVALID_NODE,
                 strFormat("dangling input '%s' read inside a subgraph of node '%s': no node, "
                           "graph input or initializer produces it",
                           in.c_str(), nodeDisplayName(i).c_str()),
                 i);
  }
  if (g.output_size() == 0) addError(C::kINVALID_MODEL, "the graph has no outputs");
  for (const auto& out : g.output()) {
    if (!producer.count(out.name()))
      addError(C::kINVALID_MODEL,
               strFormat("graph output '%s' is not produced by any node, graph input or "
                         "initializer",
                         out.name().c_str()));
  }
  if (mFailed) return false;

  // 3. Topological order (ONNX requires it; exporters do not always keep it, so sort, stably).
  std::vector<int> pending(static_cast<size_t>(numNodes), 0);
  std::vector<std::vector<int>> users(static_cast<size_t>(numNodes));
  for (int i = 0; i < numNodes; ++i) {
    std::unordered_set<int> deps;
    for (const auto& in : g.node(i).input()) {
      if (in.empty()) continue;
      int p = producer.at(in);
      if (p >= 0) deps.insert(p);
    }
    for (const std::string& in : implicitInputs[static_cast<size_t>(i)]) {
      int p = producer.at(in);
      if (p >= 0 && p != i) deps.insert(p);
    }
    pending[static_cast<size_t>(i)] = static_cast<int>(deps.size());
    for (int d : deps) users[static_cast<size_t>(d)].push_back(i);
  }
  // A min-heap on the node index keeps the file's order wherever it is already valid.
  std::vector<int> ready;
  for (int i = 0; i < numNodes; ++i)
    if (pending[static_cast<size_t>(i)] == 0) ready.push_back(i);
  std::make_heap(ready.begin(), ready.end(), std::greater<>());
  mOrder.clear();
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<>());
    int n = ready.back();
    ready.pop_back();
    mOrder.push_back(n);
    for (int u : users[static_cast<size_t>(n)]) {
      if (--pending[static_cast<size_t>(u)] == 0) {
        ready.push_back(u);
        std::push_heap(ready.begin(), ready.end(), std::greater<>());
      }
    }
  }
  if (static_cast<int>(mOrder.size()) != numNodes) {
    std::string names;
    int first = -1, count = 0;
    for (int i = 0; i < numNodes; ++i) {
      if (pending[static_cast<size_t>(i)] == 0) continue;
      if (first < 0) first = i;
      if (count < 5) names += (count ? ", '" : "'") + nodeDisplayName(i) + "'";
      ++count;
    }
    addError(C::kINVALID_NODE,
             strFormat("the graph has a cycle: %d node(s) depend on their own outputs (%s%s)",
                       count, names.c_str(), count > 5 ? ", ..." : ""),
             first);
  }
  return !mFailed;
}

Status ModelImporter::importInput(ImportState& state, const onnx::ValueInfoProto& vi) {
  const std::string& name = vi.name();
  if (!vi.has_type() || !vi.type().has_tensor_type())
    return unsupported("graph input '%s' is not a tensor (sequence, map, optional and sparse "
                       "inputs are not supported)",
                       name.c_str());
  const auto& tt = vi.type().tensor_type();
  KILN_ASSIGN_OR_RETURN(DataType dtype,
                        dataTypeFromOnnx(tt.elem_type(), "graph input '" + name + "'"));
  if (!tt.has_shape())
    return unsupported("graph input '%s' has no shape (unknown rank); Kiln needs the rank of "
                       "every input: give it a shape, with dim_param names for dynamic dims",
                       name.c_str());
  if (tt.shape().dim_size() > Dims::kMaxDims)
    return unsupported("graph input '%s' has rank %d; Kiln supports up to %d dimensions",
                       name.c_str(), tt.shape().dim_size(), Dims::kMaxDims);
  ir::Shape shape;
  for (int i = 0; i < tt.shape().dim_size(); ++i) {
    const auto& d = tt.shape().dim(i);
    if (d.has_dim_value()) {
      if (d.dim_value() < 0 || d.dim_value() > kMaxDim)
        return invalidArgument("graph input '%s': dimension %d is %lld, outside [0, 2^40]",
                               name.c_str(), i, static_cast<long long>(d.dim_value()));
      shape.emplace_back(static_cast<int64_t>(d.dim_value()));
    } else if (d.has_dim_param() && !d.dim_param().empty()) {
      shape.push_back(ir::DimExpr::symbol(d.dim_param()));
    } else {
      // Unknown dims get their own symbol; the user binds it with a profile like any other.
      shape.push_back(ir::DimExpr::symbol(name + "_d" + std::to_string(i)));
    }
  }
  state.usedValueNames.insert(name);
  state.values[name] = mNet.graph->addInput(name, dtype, std::move(shape));
  return Status::ok();
}

bool ModelImporter::importGraph(const onnx::GraphProto& g, const std::string& modelDir) {
  using C = ParserError::Code;
  ImportState state(mNet);
  state.modelDir = modelDir;
  state.legacyOpset = mLegacyOpset;
  // Names already in the network (a network may be filled partly by hand) stay taken.
  for (const ir::Value* v : mNet.graph->values()) state.usedValueNames.insert(v->name);
  for (const ir::Node* n : mNet.graph->nodes()) state.usedNodeNames.insert(n->name);
  for (const auto& in : g.input()) state.reservedValueNames.insert(in.name());
  for (const auto& t : g.initializer()) state.reservedValueNames.insert(t.name());
  for (const auto& n : g.node()) {
    for (const auto& o : n.output())
      if (!o.empty()) state.reservedValueNames.insert(o);
    for (const auto& in : n.input())
      if (!in.empty()) state.consumed.insert(in);
    if (!n.name().empty()) state.reservedNodeNames.insert(n.name());
    std::vector<std::string> implicit;  // tensors read inside If/Loop/Scan bodies
    collectSubgraphOuterInputs(n, implicit);
    state.consumed.insert(implicit.begin(), implicit.end());
  }
  for (const auto& o : g.output()) state.consumed.insert(o.name());
  for (const std::string& n : state.reservedValueNames) {
    if (state.usedValueNames.count(n)) {
      addError(C::kINVALID_MODEL,
               strFormat("tensor '%s' of the model clashes with a tensor already in the network",
                         n.c_str()));
      return false;
    }
  }

  // Initializers first: an initializer also listed as a graph input is a constant (IR < 4
  // lists every initializer as an input).
  std::unordered_set<std::string> initializerNames;
  for (const auto& t : g.initializer()) {
    auto data = tensorFromProto(t, state.modelDir, "initializer '" + t.name() + "'");
    if (!data.isOk()) {
      addError(data.status().code() == StatusCode::kIoError ? C::kIO : C::kINVALID_MODEL,
               data.status().message());
      return false;
    }
    state.values[t.name()] = state.addConstant(t.name(), *data);
    initializerNames.insert(t.name());
  }
  for (const auto& in : g.input()) {
    if (initializerNames.count(in.name())) continue;
    Status s = importInput(state, in);
    if (!s.isOk()) {
      addError(C::kINVALID_MODEL, s.message());
      return false;
    }
  }

  const OpImporterTable& importers = opImporters();
  for (int index : mOrder) {
    const auto& n = g.node(index);
    std::string base = n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
    // Node names need not be unique in ONNX; layer names are.
    std::string name = base;
    for (int k = 1; state.usedNodeNames.count(name); ++k) name = base + "_" + std::to_string(k);
    state.usedNodeNames.insert(name);

    Status s = Status::ok();
    if (PluginCreator* plugin = mPluginFor[static_cast<size_t>(index)]) {
      ImportContext ctx(state, n, name, mOpset);
      s = importPluginNode(ctx, *plugin);
      if (!s.isOk()) {
        addError(s.code() == StatusCode::kUnsupported ? C::kUNSUPPORTED_NODE : C::kINVALID_NODE,
                 s.message(), index);
        return false;
      }
      continue;
    }
    s = checkAttributeTypes(n);
    if (s.isOk()) {
      ImportContext ctx(state, n, name, mOpset);
      s = (n.domain() == "ai.onnx.ml" ? mlOpImporters() : importers).at(n.op_type())(ctx);
    }
    if (!s.isOk()) {
      C code = s.code() == StatusCode::kUnsupported ? C::kUNSUPPORTED_NODE
               : s.code() == StatusCode::kIoError   ? C::kIO
                                                    : C::kINVALID_NODE;
      addError(code, s.message(), index);
      return false;
    }
  }

  for (const auto& o : g.output()) {
    auto it = state.values.find(o.name());
    if (it == state.values.end()) {
      // A node output that its importer could not produce (checked earlier, so unexpected).
      addError(C::kINVALID_MODEL, strFormat("graph output '%s' was not imported", o.name().c_str()));
      return false;
    }
    mNet.graph->markOutput(it->second);
  }
  return true;
}

bool ModelImporter::import(const void* data, size_t size, const std::string& modelDir) {
  using C = ParserError::Code;
  if (!data || size == 0) {
    addError(C::kINVALID_MODEL, "the model is empty (0 bytes)");
    return false;
  }
  if (size > static_cast<size_t>(INT_MAX)) {
    addError(C::kINVALID_MODEL,
             strFormat("the model is %zu bytes; protobuf cannot parse messages of 2 GiB or more: "
                       "store the weights as external data",
                       size));
    return false;
  }
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size))) {
    addError(C::kINVALID_MODEL,
             strFormat("not a valid ONNX model: the %zu bytes do not parse as an ONNX ModelProto "
                       "(a truncated, corrupted or non-ONNX file)",
                       size));
    return false;
  }
  if (!checkModel(model)) return false;
  if (!checkGraph(model.graph())) return false;

  // Import into the network; on failure put the network back as it was.
  std::unique_ptr<ir::Graph> backup = mNet.graph->clone();
  if (!importGraph(model.graph(), modelDir)) {
    mNet.graph = std::move(backup);
    return false;
  }
  logMessage(&mNet.logger, Severity::kINFO, "onnx",
             strFormat("imported '%s' (opset %lld): %d nodes -> %zu layers, %zu inputs, %zu "
                       "outputs",
                       model.graph().name().c_str(), static_cast<long long>(mOpset),
                       model.graph().node_size(), mNet.graph->nodes().size(),
                       mNet.graph->inputs().size(), mNet.graph->outputs().size()));
  return true;
}

}  // namespace kiln::onnx_import
