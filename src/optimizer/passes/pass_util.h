// Small helpers shared by the pattern-rewriting passes (batchnorm_folding.cpp,
// layernorm_fusion.cpp, gelu_fusion.cpp, transpose_reshape_cancellation.cpp), and their driver
// (`rewriteNodes`).
//
// A pattern's intermediate values must be used only inside the pattern: `UseMap::soleUse`
// (one consuming node, not a network output). Rewrites add the replacement node, move every
// use of the pattern's last output to the replacement's output (`replaceOutput`, which keeps a
// network output's name) and leave the old nodes dead; the pass removes them at its end.
#pragma once

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "ir/graph.h"

namespace kiln::opt::passutil {

// Consumers of every value (each consuming node once), built from the live nodes.
class UseMap {
 public:
  explicit UseMap(const ir::Graph& g) { rebuild(g); }
  void rebuild(const ir::Graph& g) {
    mUses.clear();
    for (ir::Node* n : g.nodes()) {
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        ir::Value* v = n->inputs[i];
        if (!v) continue;
        bool seen = false;
        for (size_t j = 0; j < i; ++j) seen = seen || n->inputs[j] == v;
        if (!seen) mUses[v].push_back(n);
      }
    }
  }
  const std::vector<ir::Node*>& consumers(const ir::Value* v) const {
    static const std::vector<ir::Node*> kNone;
    auto it = mUses.find(v);
    return it == mUses.end() ? kNone : it->second;
  }
  size_t count(const ir::Value* v) const { return consumers(v).size(); }
  // `v` is read by exactly one node and is not a network output.
  bool soleUse(const ir::Value* v) const { return v && !v->isGraphOutput && count(v) == 1; }
  // The one node that reads `v` (soleUse), or null.
  ir::Node* soleConsumer(const ir::Value* v) const {
    return soleUse(v) ? consumers(v)[0] : nullptr;
  }

 private:
  std::unordered_map<const ir::Value*, std::vector<ir::Node*>> mUses;
};

inline bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16 ||
         t == DataType::kDOUBLE;
}

// The node producing `v` when it is of kind `op` (and has one output), else null.
inline ir::Node* producerOf(const ir::Value* v, ir::OpKind op) {
  if (!v || !v->producer || v->producer->op != op || v->producer->outputs.size() != 1)
    return nullptr;
  return v->producer;
}

// The value of a one-element float constant, or nullopt.
inline std::optional<double> scalarConstant(const ir::Value* v) {
  if (!v || !v->isConstant() || v->constant->numel() != 1 || !isFloatType(v->constant->dtype()))
    return std::nullopt;
  return v->constant->doubleAt(0);
}

// The permutation of a Transpose (default: reversed axes), or empty when invalid.
inline std::vector<int64_t> transposePerm(const ir::Node& t) {
  const int64_t rank = static_cast<int64_t>(t.inputs[0]->shape.size());
  std::vector<int64_t> p = t.attrs.getInts("perm");
  if (!t.attrs.has("perm")) {
    p.resize(static_cast<size_t>(rank));
    for (int64_t i = 0; i < rank; ++i) p[static_cast<size_t>(i)] = rank - 1 - i;
  }
  if (static_cast<int64_t>(p.size()) != rank) return {};
  std::vector<bool> seen(p.size(), false);
  for (int64_t& a : p) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank || seen[static_cast<size_t>(a)]) return {};
    seen[static_cast<size_t>(a)] = true;
  }
  return p;
}

inline bool near(double a, double b, double tol = 1e-6) { return std::fabs(a - b) <= tol; }

// A float constant of `dtype` holding `values` (rounded once from double).
inline ir::TensorDataPtr floatTensor(DataType dtype, std::vector<int64_t> dims,
                                     const std::vector<double>& values) {
  auto t = std::make_shared<ir::TensorData>(dtype, std::move(dims));
  for (int64_t i = 0; i < t->numel(); ++i) {
    const double v = values[static_cast<size_t>(i)];
    switch (dtype) {
      case DataType::kFLOAT: t->as<float>()[i] = static_cast<float>(v); break;
      case DataType::kDOUBLE: t->as<double>()[i] = v; break;
      case DataType::kHALF: t->as<Half>()[i] = Half(static_cast<float>(v)); break;
      case DataType::kBF16: t->as<BFloat16>()[i] = BFloat16(static_cast<float>(v)); break;
      default: break;  // callers pass float types only
    }
  }
  return t;
}

inline std::vector<double> toDoubles(const ir::TensorData& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.doubleAt(i);
  return out;
}

// Moves every use of `from` (a pattern's last output) to `to` (the replacement's output). A
// network output keeps its name: `to` takes it and `from` is renamed.
inline void replaceOutput(ir::Graph& g, ir::Value* from, ir::Value* to) {
  const std::string name = from->name;
  g.replaceAllUses(from, to);
  from->name = g.uniqueName(name + "__dead");
  to->name = name;
}

// The attribute that names the layers a fused layer replaced, TensorRT's way: "conv1 + bn1 +
// relu1" (layers that were themselves fused contribute their own list). `kiln inspect` and
// --exportLayerInfo show it with the other attributes.
inline constexpr const char* kFusedNodesAttr = "fused_nodes";

inline std::string fusedLabel(const ir::Node& n) {
  const std::string fused = n.attrs.getString(kFusedNodesAttr, "");
  return fused.empty() ? n.name : fused;
}

// The passes' driver: runs `rewrite(node, uses)` (true when it rewrote the graph) on each node
// that `select(node)` picks, in the topological order taken at the start, skipping nodes that
// earlier rewrites removed; after each rewrite removes the dead nodes and rebuilds `uses`.
// Layers a rewrite creates get kFusedNodesAttr: the layers it removed, in creation order.
// Returns whether anything changed.
template <typename Select, typename Rewrite>
StatusOr<bool> rewriteNodes(ir::Graph& g, Select select, Rewrite rewrite) {
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topoOrder());
  std::vector<int> ids;
  for (const ir::Node* n : order)
    if (select(*n)) ids.push_back(n->id);
  UseMap uses(g);
  bool changed = false;
  for (int id : ids) {
    ir::Node* n = g.nodeById(id);
    if (!n) continue;
    std::map<int, std::string> before;  // id -> label of every layer before the rewrite
    for (const ir::Node* m : g.nodes()) before.emplace(m->id, fusedLabel(*m));
    if (!rewrite(*n, uses)) continue;
    changed = true;
    g.removeDeadNodes();
    std::string removed;
    for (const auto& [nodeId, label] : before)
      if (!g.nodeById(nodeId)) removed += (removed.empty() ? "" : " + ") + label;
    if (!removed.empty())
      for (ir::Node* m : g.nodes())
        if (!before.count(m->id)) m->attrs.setString(kFusedNodesAttr, removed);
    uses.rebuild(g);
  }
  return changed;
}

}  // namespace kiln::opt::passutil
