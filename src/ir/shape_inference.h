// Shape and type inference over symbolic dimensions.
//
// Each op has one shape function (src/ir/shape_fns_<family>.cpp). It reads input types, shapes
// and, for small integer tensors, known element values, and sets output types, shapes and
// (optionally) output values. The same function runs at build time over symbols and at run time
// over constants (ExecutionContext::setInputShape re-runs inference with every input bound), so
// a check that cannot be decided at build time is decided at run time by the same code.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/graph.h"

namespace kiln::ir {

// Inferred facts about one value.
struct ValueInfo {
  bool known = false;
  DataType dtype = DataType::kFLOAT;
  Shape shape;
  std::optional<std::vector<DimExpr>> value;  // element values of small int tensors
  const TensorData* constant = nullptr;       // constant data when the value is a constant
  // A shape tensor input whose data is not known yet (build time): shape functions that need
  // its values give outputs whose dims depend on them (see InferContext::deferredReads).
  bool deferred = false;
};

// Per-value facts, indexed by Value::id.
class ShapeTable {
 public:
  explicit ShapeTable(size_t numValues = 0) : mInfos(numValues) {}
  ValueInfo& operator[](int id) { return mInfos[static_cast<size_t>(id)]; }
  const ValueInfo& operator[](int id) const { return mInfos[static_cast<size_t>(id)]; }
  size_t size() const { return mInfos.size(); }
  void resize(size_t n) { mInfos.resize(n); }
  // Fills constants and graph inputs from the graph (inputs with their declared shapes).
  static ShapeTable fromGraph(const Graph& g);

 private:
  std::vector<ValueInfo> mInfos;
};

// Most elements a value may have to carry its element values in ValueInfo::value.
constexpr int64_t kMaxShapeValueElements = 64;

class InferContext {
 public:
  InferContext(const Node& node, ShapeTable& table) : mNode(node), mTable(table) {}

  const Node& node() const { return mNode; }
  const Attributes& attrs() const { return mNode.attrs; }

  size_t numInputs() const { return mNode.inputs.size(); }
  bool hasInput(size_t i) const { return mNode.hasInput(i); }
  DataType inType(size_t i) const { return info(i).dtype; }
  const Shape& inShape(size_t i) const { return info(i).shape; }
  int64_t inRank(size_t i) const { return static_cast<int64_t>(info(i).shape.size()); }
  // Constant data of input i, or null.
  const TensorData* inConstant(size_t i) const { return info(i).constant; }
  // Known element values of input i (constants and shape computations), or null.
  const std::vector<DimExpr>* inValue(size_t i) const {
    return info(i).value ? &*info(i).value : nullptr;
  }
  // Element values of input i as integers; fails (naming `what`) unless they are known
  // constants. Floats in constant tensors are truncated.
  StatusOr<std::vector<int64_t>> inInts(size_t i, const char* what) const;
  // Element values of a constant input i as doubles; fails unless the input is a constant.
  StatusOr<std::vector<double>> inDoubles(size_t i, const char* what) const;
  // Unsupported: input i (`what`) must be known at build time but is computed from tensor data.
  Status dataDependentInputError(size_t i, const char* what) const;

  size_t numOutputs() const { return mNode.outputs.size(); }
  void setOutput(size_t i, DataType dtype, Shape shape);
  // Records the element values of output i (only for small integer outputs).
  void setOutputValue(size_t i, std::vector<DimExpr> values);

  // An invalid-argument error prefixed with the node: "Conv 'conv1': <message>".
  template <typename... Args>
  Status error(const char* fmt, Args... args) const {
    if constexpr (sizeof...(Args) == 0) {
      return invalidArgument("%s: %s", mNode.describe().c_str(), fmt);
    } else {
      return invalidArgument("%s: %s", mNode.describe().c_str(), strFormat(fmt, args...).c_str());
    }
  }
  template <typename... Args>
  Status unsupportedError(const char* fmt, Args... args) const {
    if constexpr (sizeof...(Args) == 0) {
      return unsupported("%s: %s", mNode.describe().c_str(), fmt);
    } else {
      return unsupported("%s: %s", mNode.describe().c_str(), strFormat(fmt, args...).c_str());
    }
  }

  // Checks the input count is within [minInputs, maxInputs] and required inputs are present.
  Status expectInputs(size_t minInputs, size_t maxInputs) const;
  // Normalizes a possibly negative axis into [0, rank); error when out of range.
  StatusOr<int64_t> normalizeAxis(int64_t axis, int64_t rank, const char* what = "axis") const;

  // Input i's element values are not known now but will be when the engine runs (a shape
  // tensor input, or a value computed from one or from symbolic dims). A shape function asks
  // this only for inputs whose values it needs, so a true answer is recorded like a deferred
  // read (deferredReads): a graph input there becomes a shape tensor input.
  bool inDeferred(size_t i) const;
  // A dimension only known at run time: a symbol unique to (this node, output, dim).
  DimExpr runtimeDim(size_t output, size_t dim) const;
  // Records that input i's values are needed but known only at run time and returns the
  // (unsupported) error for it; inferNode then applies inferWithDeferredValues.
  Status deferredInputError(size_t i, const char* what) const;
  // Used by inferWithDeferredValues: the inputs whose values decide the outputs (bit per
  // input); graph inputs among them become shape tensor inputs.
  void noteValueInputs(uint64_t mask) const { mDeferredReads |= mask; }

 private:
  const ValueInfo& info(size_t i) const { return mTable[mNode.inputs[i]->id]; }
  const Node& mNode;
  ShapeTable& mTable;
  bool mMissingOutput = false;
  mutable uint64_t mDeferredReads = 0;  // bit i: inInts/inDoubles met deferred input i

 public:
  // True when the shape function set an output index the node does not have.
  bool missingOutput() const { return mMissingOutput; }
  // Inputs whose values a shape function asked for while they were deferred (bit per input).
  uint64_t deferredReads() const { return mDeferredReads; }
};

// Build-time outputs of a node whose shape function needs values that are only known when the
// engine runs (shape tensor inputs): the output types and ranks, with the dims that depend on
// those values as run-time symbols. Unsupported for ops without such a rule.
Status inferWithDeferredValues(InferContext& ctx);

// numpy-style multidirectional broadcasting of two shapes; error (naming the node) when two
// constant dims differ and neither is 1. Symbolic dims that cannot be decided now are checked
// again at run time, when they are constants.
StatusOr<Shape> broadcastShapes(const InferContext& ctx, const Shape& a, const Shape& b);

using ShapeFn = Status (*)(InferContext&);
using ShapeFnTable = std::array<ShapeFn, kNumOps>;

// The table of shape functions; entries are null for ops without one yet.
const ShapeFnTable& shapeFunctions();

// Runs inference for one node, reading and writing `table`.
// `deferredReads` (optional) receives the inputs whose values the shape function needed while
// they were only known at run time (bit per input).
Status inferNode(const Node& node, ShapeTable& table, uint64_t* deferredReads = nullptr);
// Makes graph input `v` a shape tensor input (Value::isShapeTensor): integer ones get symbolic
// element values "name[k]". Unsupported for bool, dynamic-shape or large inputs.
Status markShapeTensorInput(Value& v);
// Value `v` (small integers without known values) is computed from graph inputs by shape
// arithmetic: makes those inputs shape tensor inputs and infers the chain again (with
// inferNodeInPlace) so `v` gets symbolic values. False when the chain reads other data.
bool promoteShapeSources(const Graph& g, Value& v, ShapeTable& scratch);
// Runs inference for the whole graph in topological order.
Status inferGraph(const Graph& g, ShapeTable& table);
// Runs inference and stores types, shapes and values back into the graph's Values.
Status inferGraphInPlace(Graph& g);
// Infers one node from its inputs' Value fields and stores the results in its output Values
// (used while a network is being built, so errors name the layer as it is added). `scratch` is
// reused between calls to avoid reallocating.
Status inferNodeInPlace(const Graph& g, Node& n, ShapeTable& scratch);
// Copies a Value's own facts into a ValueInfo.
ValueInfo valueInfoOf(const Value& v);

// Per-family registration (explicit, no static initializers).
void registerBinaryShapeFns(ShapeFnTable& t);
void registerUnaryShapeFns(ShapeFnTable& t);
void registerLinearShapeFns(ShapeFnTable& t);
void registerPoolShapeFns(ShapeFnTable& t);
void registerNormShapeFns(ShapeFnTable& t);
void registerReduceShapeFns(ShapeFnTable& t);
void registerShapeOpShapeFns(ShapeFnTable& t);
void registerIndexingShapeFns(ShapeFnTable& t);          // shape_fns_indexing.cpp
void registerTransformerQuantShapeFns(ShapeFnTable& t);  // shape_fns_transformer_quant.cpp
void registerRecurrentShapeFns(ShapeFnTable& t);         // shape_fns_recurrent.cpp
void registerAttentionExtShapeFns(ShapeFnTable& t);      // shape_fns_attention_ext.cpp
void registerSignalShapeFns(ShapeFnTable& t);            // shape_fns_signal.cpp
void registerVisionShapeFns(ShapeFnTable& t);            // shape_fns_vision.cpp
void registerMiscShapeFns(ShapeFnTable& t);              // shape_fns_misc.cpp
void registerDataDepShapeFns(ShapeFnTable& t);           // shape_fns_datadep.cpp
void registerConfShapeFns(ShapeFnTable& t);              // shape_fns_conf.cpp
void registerFusedMatMulShapeFns(ShapeFnTable& t);       // shape_fns_fused_matmul.cpp
void registerFusedConvShapeFns(ShapeFnTable& t);         // shape_fns_fused_conv.cpp
void registerFusedAttentionShapeFns(ShapeFnTable& t);    // shape_fns_fused_attention.cpp
// Plugin layers (src/plugins/plugin_shape_fn.cpp): asks the registered plugin.
void registerPluginShapeFns(ShapeFnTable& t);

}  // namespace kiln::ir
