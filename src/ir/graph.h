// The IR graph: Values (tensors) and Nodes (ops), owned by a Graph.
//
// The public NetworkDefinition wraps one Graph; the optimizer rewrites it; the plan stores it;
// the engine keeps an immutable copy. Value and Node ids are dense indices into the graph's
// tables (stable for the graph's lifetime; `compact()` renumbers them).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/attributes.h"
#include "ir/dim_expr.h"
#include "ir/op.h"
#include "ir/tensor_data.h"
#include "kiln/types.h"

namespace kiln::ir {

struct Node;

struct Value {
  int id = -1;
  std::string name;
  DataType dtype = DataType::kFLOAT;
  Shape shape;
  Node* producer = nullptr;      // null for graph inputs and constants
  TensorDataPtr constant;        // set for constants (initializers, folded values)
  // Known element values of small integer tensors (shape computations), as dimension
  // expressions: Shape(x) of a [batch,3] input has value [batch, 3]. Lets Reshape/Slice/Expand
  // take shapes computed in the graph while the shapes stay symbolic.
  std::optional<std::vector<DimExpr>> shapeValue;
  bool isGraphInput = false;
  bool isGraphOutput = false;
  // Shape tensor input (TensorRT's term): a graph input whose element values the shape
  // functions read (a Reshape target, Resize sizes/scales, Reduce axes, TopK k, ...). Its data
  // is read on the host when the engine runs (ExecutionContext reads it from the address given
  // with setTensorAddress, which must be host memory), and shapes that depend on it are
  // resolved then. Integer ones carry symbolic element values "name[i]" in shapeValue.
  bool isShapeTensor = false;

  bool isConstant() const { return constant != nullptr; }
};

struct Node {
  int id = -1;
  OpKind op = OpKind::kIdentity;
  std::string name;
  Attributes attrs;
  std::vector<Value*> inputs;   // null entries are absent optional inputs
  std::vector<Value*> outputs;
  // Precision the user asked for (nullopt: the builder decides).
  std::optional<DataType> precision;

  bool hasInput(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  // "Conv 'conv1'" for messages.
  std::string describe() const;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Deep copy (constants are shared: they are immutable).
  std::unique_ptr<Graph> clone() const;

  Value* addValue(const std::string& name, DataType dtype, Shape shape);
  Value* addInput(const std::string& name, DataType dtype, Shape shape);
  Value* addConstant(const std::string& name, TensorDataPtr data);
  // Adds a node with `numOutputs` fresh output values named "<name>_out<i>" (or "<name>" for one).
  Node* addNode(OpKind op, const std::string& name, std::vector<Value*> inputs, Attributes attrs,
                int numOutputs = 1);
  void markOutput(Value* v);
  void unmarkOutput(Value* v);

  // Makes every use of `from` (node inputs and graph outputs) use `to` instead.
  void replaceAllUses(Value* from, Value* to);
  // Removes nodes whose outputs are unused and not graph outputs, and unused constants.
  // Returns the number of nodes removed.
  int removeDeadNodes();
  // Removes a node (its outputs must be unused).
  void removeNode(Node* n);

  // Nodes in a valid execution order (every input produced earlier). Fails on cycles.
  StatusOr<std::vector<Node*>> topoOrder() const;
  // Renumbers values and nodes densely, dropping removed ones, in topological order.
  Status compact();

  const std::vector<Value*>& inputs() const { return mInputs; }
  const std::vector<Value*>& outputs() const { return mOutputs; }
  // Live nodes and values (removed ones are skipped).
  std::vector<Node*> nodes() const;
  std::vector<Value*> values() const;
  size_t valueCapacity() const { return mValues.size(); }  // ids are < this
  size_t nodeCapacity() const { return mNodes.size(); }    // node ids are < this
  Value* valueById(int id) const { return mValues[static_cast<size_t>(id)].get(); }
  Node* nodeById(int id) const { return mNodes[static_cast<size_t>(id)].get(); }
  Value* findValue(const std::string& name) const;
  Node* findNode(const std::string& name) const;
  // Nodes that read `v`.
  std::vector<Node*> consumers(const Value* v) const;

  // A name not used by any value or node yet, derived from `base`.
  std::string uniqueName(const std::string& base);

 private:
  std::vector<std::unique_ptr<Value>> mValues;  // removed entries are null
  std::vector<std::unique_ptr<Node>> mNodes;
  std::vector<Value*> mInputs;
  std::vector<Value*> mOutputs;
  int mNameCounter = 0;
};

// Checks structural invariants: every input produced before use, unique value names, outputs
// produced, no cycles, dtype/shape present. Errors name the node.
Status verifyGraph(const Graph& g);

// Human-readable dump (one line per node) for --verbose and debugging.
std::string graphToString(const Graph& g);

}  // namespace kiln::ir
