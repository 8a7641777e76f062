// The ONNX model importer: checks a ModelProto and fills a NetworkDefinition's graph.
//
//   bytes ──ParseFromArray──► ModelProto ──checkModel (versions, every unsupported node at once,
//   dangling inputs, duplicate names, cycles)──► import inputs, initializers, nodes in topological
//   order (one OpImporter per ONNX op type), outputs.
//
// Op importers (importers_<family>.cpp) see one node through an ImportContext: its inputs as IR
// values, typed attribute getters, and helpers that add IR nodes. The node that produces the
// ONNX node's outputs is added with addFinal() and takes the ONNX node's name and output names;
// rewrites of old opsets add helper nodes/constants first (named "<node>/<what>").
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/network_impl.h"
#include "common/status.h"
#include "ir/graph.h"
#include "kiln/onnx_parser.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx_import {

// Supported range of the default domain's opset and of the model IR version. Within it, each
// op's versions are checked against op_versions.def (newer ONNX versions of an op that Kiln does
// not handle are refused for that op only). IR versions 13 and 14 add only new tensor element
// types (int2/uint2, float6), which are refused by name where they appear.
constexpr int64_t kMinOpset = 9;
constexpr int64_t kMaxOpset = 28;
constexpr int64_t kMinIrVersion = 3;
constexpr int64_t kMaxIrVersion = 14;

// Shared state of one import: names and the ONNX-name -> IR value map.
struct ImportState {
  explicit ImportState(detail::NetworkImpl& n) : net(n) {}

  detail::NetworkImpl& net;
  std::string modelDir;
  std::unordered_map<std::string, ir::Value*> values;       // ONNX tensor name -> IR value
  std::unordered_set<std::string> reservedValueNames;       // every tensor name in the model
  std::unordered_set<std::string> reservedNodeNames;        // every node name in the model
  std::unordered_set<std::string> usedValueNames;
  std::unordered_set<std::string> usedNodeNames;
  std::unordered_set<std::string> consumed;  // tensor names read by nodes or graph outputs

  // If/Loop/Scan bodies being expanded (importers_control.cpp), innermost last: each maps the
  // body's tensor names to the keys of `values` that hold them. Names found in none of them are
  // the main graph's.
  std::vector<const std::unordered_map<std::string, std::string>*> scopes;
  int64_t bodyNodesImported = 0;  // nodes imported from bodies so far (the unrolling cap)
  int64_t legacyOpset = 0;        // ModelImporter::mLegacyOpset (body nodes are checked too)

  // Names for values and nodes Kiln adds: `base`, or `base_<k>`, never a model name.
  std::string freshValueName(const std::string& base);
  std::string freshNodeName(const std::string& base);
  // Adds an IR node named `name` (already unique) and runs shape inference on it; on error the
  // node is removed and the error returned.
  StatusOr<ir::Node*> addNode(ir::OpKind op, const std::string& name,
                              std::vector<ir::Value*> inputs, ir::Attributes attrs,
                              int numOutputs);
  ir::Value* addConstant(const std::string& name, ir::TensorDataPtr data);
};

class ImportContext {
 public:
  ImportContext(ImportState& state, const onnx::NodeProto& node, std::string name, int64_t opset)
      : mState(state), mNode(node), mName(std::move(name)), mOpset(opset) {}

  const onnx::NodeProto& node() const { return mNode; }
  const std::string& opType() const { return mNode.op_type(); }
  // The layer name: the ONNX node name, or "<OpType>_<index>".
  const std::string& name() const { return mName; }
  // The opset of the default domain.
  int64_t opset() const { return mOpset; }
  ImportState& state() { return mState; }

  // ONNX input i as an IR value; null when absent ("" or past the end).
  size_t numInputs() const { return static_cast<size_t>(mNode.input_size()); }
  ir::Value* input(size_t i) const;
  // Like input(i), but an error naming `what` when absent.
  StatusOr<ir::Value*> requiredInput(size_t i, const char* what) const;
  // Input i, treating a constant with zero elements as absent (Resize's empty roi/scales).
  ir::Value* inputOrEmpty(size_t i) const;
  // Ok when input i is absent, a constant, or has values known from shapes (Shape -> Gather ->
  // Concat ...); otherwise the unsupported error every input Kiln needs at build time gives
  // ("input 'x' of node 'n' (Op) must be a constant or computed from shapes; ...").
  Status requireBuildTimeInput(size_t i) const;

  size_t numOutputs() const { return static_cast<size_t>(mNode.output_size()); }
  // True when ONNX output i has a name that a node or graph output reads.
  bool outputUsed(size_t i) const;
  // Error unless outputs [from, numOutputs()) are unused; `why` explains ("training outputs").
  Status requireUnusedOutputs(size_t from, const char* why) const;

  // Attributes. The typed getters fail on a wrong type; `def` when absent.
  const onnx::AttributeProto* attr(const std::string& name) const;
  bool hasAttr(const std::string& name) const { return attr(name) != nullptr; }
  StatusOr<int64_t> attrInt(const std::string& name, int64_t def) const;
  StatusOr<float> attrFloat(const std::string& name, float def) const;
  StatusOr<std::string> attrString(const std::string& name, const std::string& def) const;
  // nullopt when absent.
  StatusOr<std::optional<std::vector<int64_t>>> attrInts(const std::string& name) const;
  // All attributes except `skip`, converted 1:1 (ONNX names and types).
  StatusOr<ir::Attributes> copyAttributes(std::initializer_list<std::string_view> skip = {}) const;

  // Adds the node producing this ONNX node's outputs: IR output i takes ONNX output i's name.
  // ONNX outputs past `numOutputs` must be unused.
  Status addFinal(ir::OpKind op, std::vector<ir::Value*> inputs, ir::Attributes attrs,
                  int numOutputs = 1);
  // Adds a helper node ("<name>/<suffix>") and returns its first output.
  StatusOr<ir::Value*> addHelper(ir::OpKind op, std::vector<ir::Value*> inputs,
                                 ir::Attributes attrs, const std::string& suffix);
  // Adds a one-output node producing ONNX output i (for ops whose ONNX outputs come from
  // different IR nodes); output 0's node takes the ONNX node's name, the others
  // "<name>/<suffix>".
  Status addFinalOutput(size_t i, ir::OpKind op, std::vector<ir::Value*> inputs,
                        ir::Attributes attrs, const std::string& suffix);
  // Makes ONNX output i refer to `v` (no node is added).
  Status bindOutput(size_t i, ir::Value* v);
  // Makes ONNX output i a constant.
  Status bindOutputConstant(size_t i, ir::TensorDataPtr data);
  // A constant helper ("<name>/<suffix>").
  ir::Value* constant(ir::TensorDataPtr data, const std::string& suffix);
  ir::Value* constInt64s(const std::vector<int64_t>& v, const std::string& suffix);
  // A scalar constant of `dtype` (float, half, bfloat16, double or integer types).
  StatusOr<ir::Value*> constScalar(DataType dtype, double v, const std::string& suffix);

  // An invalid-node error; the parser adds the node's name, op and opset.
  template <typename... Args>
  Status error(const char* fmt, Args... args) const {
    if constexpr (sizeof...(Args) == 0) {
      return invalidArgument("%s", fmt);
    } else {
      return invalidArgument(fmt, args...);
    }
  }

 private:
  ImportState& mState;
  const onnx::NodeProto& mNode;
  std::string mName;
  int64_t mOpset;
};

using OpImporter = Status (*)(ImportContext&);
using OpImporterTable = std::map<std::string, OpImporter, std::less<>>;

// The importer table (ONNX op type -> importer), filled once by the per-family functions below.
const OpImporterTable& opImporters();
void registerElementwiseImporters(OpImporterTable& t);
void registerNnImporters(OpImporterTable& t);
void registerShapeImporters(OpImporterTable& t);
void registerIndexingImporters(OpImporterTable& t);  // importers_indexing.cpp
void registerTransformerQuantImporters(OpImporterTable& t);  // importers_transformer_quant.cpp
void registerRecurrentImporters(OpImporterTable& t);  // importers_recurrent.cpp
void registerExtImporters(OpImporterTable& t);  // importers_ext.cpp (new opset, signal, vision ops)
void registerMiscImporters(OpImporterTable& t);  // importers_misc.cpp (losses and small ops)
void registerDataDepImporters(OpImporterTable& t);  // importers_datadep.cpp (data-dependent shapes)
void registerControlImporters(OpImporterTable& t);  // importers_control.cpp (If, Loop, Scan)
void registerConfImporters(OpImporterTable& t);  // importers_conf.cpp (BitCast, ai.onnx.ml ops)
// The ai.onnx.ml importers (importers_conf.cpp): op type -> importer, for nodes of domain
// "ai.onnx.ml" at ml opsets 1..kMaxMlOpset; kept apart from opImporters() (default domain).
const OpImporterTable& mlOpImporters();
inline constexpr int64_t kMaxMlOpset = 5;

// Tensor names that node `n`'s subgraph attributes (If/Loop/Scan bodies, nested ones included)
// read from the enclosing scopes: implicit inputs of `n`, appended to `out` (no duplicates).
void collectSubgraphOuterInputs(const onnx::NodeProto& n, std::vector<std::string>& out);
// The check, common to every op, that well-known attribute names (axis, perm, ...) have their
// usual type.
Status checkAttributeTypes(const onnx::NodeProto& n);
// Ok unless the model is of opset 1..8 (`legacyOpset`, imported as opset 9) and `op` changed
// between that opset and 9 (op_since9.def).
Status checkLegacyOpset(const std::string& op, int64_t legacyOpset);

// A 1:1 importer for ops whose IR form equals their ONNX form: all attributes copied, inputs and
// outputs positional.
Status importDirect(ImportContext& ctx, ir::OpKind op);

// A node that a registered plugin implements (importers_plugin.cpp): attributes become fields.
Status importPluginNode(ImportContext& ctx, PluginCreator& creator);

class ModelImporter {
 public:
  ModelImporter(detail::NetworkImpl& net, std::vector<ParserError>& errors)
      : mNet(net), mErrors(errors) {}
  // Parses and imports; on failure records errors and leaves the network as it was.
  bool import(const void* data, size_t size, const std::string& modelDir);
  // Default-domain nodes use a registered plugin of the same name even when Kiln has a
  // built-in importer (OnnxParser::setPreferPlugins).
  void setPreferPlugins(bool prefer) { mPreferPlugins = prefer; }

 private:
  bool checkModel(const onnx::ModelProto& model);
  bool checkGraph(const onnx::GraphProto& graph);
  bool importGraph(const onnx::GraphProto& graph, const std::string& modelDir);
  Status importInput(ImportState& state, const onnx::ValueInfoProto& vi);
  void addError(ParserError::Code code, std::string message, int nodeIndex = -1);
  std::string nodeDisplayName(int index) const;

  detail::NetworkImpl& mNet;
  std::vector<ParserError>& mErrors;
  const onnx::GraphProto* mGraph = nullptr;
  int64_t mOpset = 0;
  // A model of default-domain opset 1..8 is imported as opset 9 when none of its ops changed
  // between its opset and 9 (op_since9.def); this is its own opset (0 otherwise).
  int64_t mLegacyOpset = 0;
  std::map<std::string, int64_t> mDomainOpsets;  // "" for the default domain
  std::vector<int> mOrder;                       // nodes in topological order
  std::vector<PluginCreator*> mPluginFor;        // by node index: the plugin that imports it
  bool mPreferPlugins = false;
  bool mFailed = false;
};

}  // namespace kiln::onnx_import
