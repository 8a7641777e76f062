// NetworkImpl: the state behind kiln::NetworkDefinition, shared by the API, the ONNX parser and
// the builder. The network *is* an ir::Graph; Tensor and Layer are handles onto its values/nodes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/logging.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/network.h"

namespace kiln::detail {

struct NetworkImpl {
  explicit NetworkImpl(Logger& l) : logger(l), graph(std::make_unique<ir::Graph>()) {}

  Logger& logger;
  std::string name = "network";
  std::unique_ptr<ir::Graph> graph;
  ir::ShapeTable scratch;
  std::string lastError;
  int symbolCounter = 0;
  std::vector<std::unique_ptr<Tensor>> tensors;  // by value id, created on demand
  std::vector<std::unique_ptr<Layer>> layers;    // by node id, created on demand

  Tensor* tensorFor(ir::Value* v);
  Layer* layerFor(ir::Node* n);
  ir::Value* value(const Tensor& t) const { return graph->valueById(t.mId); }
  ir::Node* node(const Layer& l) const { return graph->nodeById(l.mId); }

  // Adds a node, infers its outputs, names its outputs "<layer>_output[_i]". On a shape error
  // the node is removed, the error recorded and null returned.
  Layer* addNode(ir::OpKind op, std::vector<ir::Value*> inputs, ir::Attributes attrs,
                 int numOutputs = 1, const std::string& layerName = "");
  // Same, returning the status (for the ONNX parser, which adds context).
  StatusOr<ir::Node*> addNodeOrError(ir::OpKind op, std::vector<ir::Value*> inputs,
                                     ir::Attributes attrs, int numOutputs,
                                     const std::string& layerName);
  ir::Value* addConstant(ir::TensorDataPtr data, const std::string& name = "");
  // Records and logs an error; returns null for convenience.
  std::nullptr_t fail(const Status& s);
  std::string freshSymbol(const std::string& base);
};

}  // namespace kiln::detail
