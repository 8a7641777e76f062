#include "ir/graph.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace kiln::ir {

std::string Node::describe() const { return std::string(opName(op)) + " '" + name + "'"; }

Value* Graph::addValue(const std::string& name, DataType dtype, Shape shape) {
  auto v = std::make_unique<Value>();
  v->id = static_cast<int>(mValues.size());
  v->name = name;
  v->dtype = dtype;
  v->shape = std::move(shape);
  mValues.push_back(std::move(v));
  return mValues.back().get();
}

Value* Graph::addInput(const std::string& name, DataType dtype, Shape shape) {
  Value* v = addValue(name, dtype, std::move(shape));
  v->isGraphInput = true;
  mInputs.push_back(v);
  return v;
}

Value* Graph::addConstant(const std::string& name, TensorDataPtr data) {
  Value* v = addValue(name, data->dtype(), shapeFromDims(data->dims()));
  // Small integer constants carry their values for shape computations.
  bool isInt = data->dtype() == DataType::kINT64 || data->dtype() == DataType::kINT32;
  if (isInt && data->dims().size() <= 1 && data->numel() <= 64) {
    std::vector<DimExpr> vals;
    for (int64_t i = 0; i < data->numel(); ++i) vals.emplace_back(data->intAt(i));
    v->shapeValue = std::move(vals);
  }
  v->constant = std::move(data);
  return v;
}

Node* Graph::addNode(OpKind op, const std::string& name, std::vector<Value*> inputs,
                     Attributes attrs, int numOutputs) {
  auto n = std::make_unique<Node>();
  n->id = static_cast<int>(mNodes.size());
  n->op = op;
  n->name = name;
  n->inputs = std::move(inputs);
  n->attrs = std::move(attrs);
  for (int i = 0; i < numOutputs; ++i) {
    std::string vname = numOutputs == 1 ? name : name + "_out" + std::to_string(i);
    Value* v = addValue(vname, DataType::kFLOAT, {});
    v->producer = n.get();
    n->outputs.push_back(v);
  }
  mNodes.push_back(std::move(n));
  return mNodes.back().get();
}

void Graph::markOutput(Value* v) {
  if (std::find(mOutputs.begin(), mOutputs.end(), v) != mOutputs.end()) return;
  v->isGraphOutput = true;
  mOutputs.push_back(v);
}

void Graph::unmarkOutput(Value* v) {
  mOutputs.erase(std::remove(mOutputs.begin(), mOutputs.end(), v), mOutputs.end());
  v->isGraphOutput = false;
}

void Graph::replaceAllUses(Value* from, Value* to) {
  for (auto& n : mNodes) {
    if (!n) continue;
    for (auto& in : n->inputs)
      if (in == from) in = to;
  }
  for (auto& out : mOutputs) {
    if (out == from) {
      out = to;
      to->isGraphOutput = true;
      from->isGraphOutput = false;
    }
  }
}

std::vector<Node*> Graph::consumers(const Value* v) const {
  std::vector<Node*> out;
  for (const auto& n : mNodes) {
    if (!n) continue;
    if (std::find(n->inputs.begin(), n->inputs.end(), v) != n->inputs.end()) out.push_back(n.get());
  }
  return out;
}

void Graph::removeNode(Node* n) {
  for (Value* o : n->outputs) mValues[static_cast<size_t>(o->id)].reset();
  mNodes[static_cast<size_t>(n->id)].reset();
}

int Graph::removeDeadNodes() {
  int removed = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    std::unordered_set<const Value*> used(mOutputs.begin(), mOutputs.end());
    for (const auto& n : mNodes)
      if (n)
        for (Value* in : n->inputs)
          if (in) used.insert(in);
    for (auto& n : mNodes) {
      if (!n) continue;
      bool anyUsed = std::any_of(n->outputs.begin(), n->outputs.end(),
                                 [&](Value* o) { return used.count(o) != 0; });
      if (!anyUsed) {
        removeNode(n.get());
        ++removed;
        changed = true;
      }
    }
    if (!changed) {
      for (auto& v : mValues) {
        if (v && v->isConstant() && !v->isGraphOutput && used.count(v.get()) == 0) v.reset();
      }
    }
  }
  return removed;
}

StatusOr<std::vector<Node*>> Graph::topoOrder() const {
  // Kahn's algorithm, stable with respect to insertion order.
  std::unordered_map<const Value*, const Node*> producerOf;
  for (const auto& n : mNodes)
    if (n)
      for (Value* o : n->outputs) producerOf[o] = n.get();
  std::unordered_map<const Node*, int> pending;
  std::unordered_map<const Node*, std::vector<Node*>> users;
  for (const auto& n : mNodes) {
    if (!n) continue;
    std::set<const Node*> deps;
    for (Value* in : n->inputs) {
      if (!in) continue;
      auto it = producerOf.find(in);
      if (it != producerOf.end()) deps.insert(it->second);
    }
    pending[n.get()] = static_cast<int>(deps.size());
    for (const Node* d : deps) users[d].push_back(n.get());
  }
  std::vector<Node*> order;
  std::vector<Node*> ready;
  for (const auto& n : mNodes)
    if (n && pending[n.get()] == 0) ready.push_back(n.get());
  // Process in id order to keep the user's order where possible.
  size_t head = 0;
  while (head < ready.size()) {
    std::sort(ready.begin() + static_cast<long>(head), ready.end(),
              [](Node* a, Node* b) { return a->id < b->id; });
    Node* n = ready[head++];
    order.push_back(n);
    for (Node* u : users[n])
      if (--pending[u] == 0) ready.push_back(u);
  }
  size_t live = 0;
  for (const auto& n : mNodes) live += n ? 1 : 0;
  if (order.size() != live) {
    for (const auto& n : mNodes) {
      if (n && pending[n.get()] > 0)
        return invalidArgument("the graph has a cycle through node %s", n->describe().c_str());
    }
    return invalidArgument("the graph has a cycle");
  }
  return order;
}

Status Graph::compact() {
  KILN_ASSIGN_OR_RETURN(std::vector<Node*> order, topoOrder());
  std::vector<std::unique_ptr<Node>> nodes;
  for (Node* n : order) nodes.push_back(std::move(mNodes[static_cast<size_t>(n->id)]));
  mNodes = std::move(nodes);
  for (size_t i = 0; i < mNodes.size(); ++i) mNodes[i]->id = static_cast<int>(i);
  // Values: inputs first, then constants, then node outputs in order.
  std::vector<std::unique_ptr<Value>> values;
  auto take = [&](Value* v) {
    if (!v || !mValues[static_cast<size_t>(v->id)]) return;
    values.push_back(std::move(mValues[static_cast<size_t>(v->id)]));
  };
  for (Value* v : mInputs) take(v);
  for (auto& v : mValues)
    if (v && v->isConstant()) take(v.get());
  for (auto& n : mNodes)
    for (Value* o : n->outputs) take(o);
  for (auto& v : mValues)
    if (v) take(v.get());  // dangling values (e.g. outputs that are constants already taken)
  mValues = std::move(values);
  for (size_t i = 0; i < mValues.size(); ++i) mValues[i]->id = static_cast<int>(i);
  return Status::ok();
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  for (const auto& n : mNodes)
    if (n) out.push_back(n.get());
  return out;
}

std::vector<Value*> Graph::values() const {
  std::vector<Value*> out;
  for (const auto& v : mValues)
    if (v) out.push_back(v.get());
  return out;
}

Value* Graph::findValue(const std::string& name) const {
  for (const auto& v : mValues)
    if (v && v->name == name) return v.get();
  return nullptr;
}

Node* Graph::findNode(const std::string& name) const {
  for (const auto& n : mNodes)
    if (n && n->name == name) return n.get();
  return nullptr;
}

std::string Graph::uniqueName(const std::string& base) {
  std::unordered_set<std::string> names;
  for (const auto& v : mValues)
    if (v) names.insert(v->name);
  for (const auto& n : mNodes)
    if (n) names.insert(n->name);
  if (!names.count(base)) return base;
  while (true) {
    std::string candidate = base + "_" + std::to_string(++mNameCounter);
    if (!names.count(candidate)) return candidate;
  }
}

std::unique_ptr<Graph> Graph::clone() const {
  auto g = std::make_unique<Graph>();
  g->mNameCounter = mNameCounter;
  g->mValues.resize(mValues.size());
  for (size_t i = 0; i < mValues.size(); ++i) {
    if (!mValues[i]) continue;
    g->mValues[i] = std::make_unique<Value>(*mValues[i]);
    g->mValues[i]->producer = nullptr;
  }
  g->mNodes.resize(mNodes.size());
  for (size_t i = 0; i < mNodes.size(); ++i) {
    if (!mNodes[i]) continue;
    auto n = std::make_unique<Node>(*mNodes[i]);
    for (auto& in : n->inputs)
      if (in) in = g->mValues[static_cast<size_t>(in->id)].get();
    for (auto& out : n->outputs) {
      out = g->mValues[static_cast<size_t>(out->id)].get();
      out->producer = n.get();
    }
    g->mNodes[i] = std::move(n);
  }
  for (Value* v : mInputs) g->mInputs.push_back(g->mValues[static_cast<size_t>(v->id)].get());
  for (Value* v : mOutputs) g->mOutputs.push_back(g->mValues[static_cast<size_t>(v->id)].get());
  return g;
}

Status verifyGraph(const Graph& g) {
  std::unordered_set<std::string> names;
  for (const Value* v : g.values()) {
    if (v->name.empty()) return internalError("value #%d has no name", v->id);
    if (!names.insert(v->name).second)
      return invalidArgument("two tensors are named '%s'; tensor names must be unique",
                             v->name.c_str());
  }
  std::unordered_set<const Value*> live;
  for (const Value* v : g.values()) live.insert(v);
  for (const Node* n : g.nodes()) {
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const Value* in = n->inputs[i];
      if (in && !live.count(in))
        return internalError("%s: input %zu refers to a removed tensor", n->describe().c_str(), i);
      if (in && !in->producer && !in->isGraphInput && !in->isConstant())
        return invalidArgument("%s: input %zu ('%s') is not produced by any layer, not a network "
                               "input and not a constant",
                               n->describe().c_str(), i, in->name.c_str());
    }
    for (const Value* o : n->outputs)
      if (o->producer != n)
        return internalError("%s: output '%s' has the wrong producer", n->describe().c_str(),
                             o->name.c_str());
  }
  for (const Value* o : g.outputs()) {
    if (!live.count(o)) return internalError("a network output refers to a removed tensor");
  }
  if (g.outputs().empty()) return invalidArgument("the network has no outputs; mark at least one");
  auto order = g.topoOrder();
  return order.status();
}

std::string graphToString(const Graph& g) {
  std::ostringstream os;
  for (const Value* v : g.inputs())
    os << "input " << v->name << ": " << dataTypeName(v->dtype) << shapeToString(v->shape) << "\n";
  auto order = g.topoOrder();
  if (!order.isOk()) return os.str() + order.status().toString();
  for (const Node* n : *order) {
    os << n->describe() << "(";
    for (size_t i = 0; i < n->inputs.size(); ++i)
      os << (i ? ", " : "") << (n->inputs[i] ? n->inputs[i]->name : "<none>");
    os << ") -> ";
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      const Value* o = n->outputs[i];
      os << (i ? ", " : "") << o->name << ": " << dataTypeName(o->dtype) << shapeToString(o->shape);
    }
    if (!n->attrs.all().empty()) os << "  {" << n->attrs.toString() << "}";
    os << "\n";
  }
  for (const Value* v : g.outputs()) os << "output " << v->name << "\n";
  return os.str();
}

}  // namespace kiln::ir
