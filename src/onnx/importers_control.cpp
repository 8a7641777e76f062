// ONNX control flow: If, Loop and Scan, expanded into the main graph when the model is imported.
//
// Kiln's IR has no subgraphs. The cases exported models hit most are known when the engine is
// built, so the importer inlines the body graphs:
//   If    whose condition is a constant or computed from shapes (Equal(Shape(x)[1], 3)): the
//         chosen branch's nodes are imported; its outputs become the If's outputs.
//   Loop  whose trip count and condition are known the same way: the body is imported once per
//         iteration (iteration number and condition as constants, carried values chained), and
//         each scan output is the per-iteration values stacked on a new axis 0 (Unsqueeze +
//         Concat). The condition the body computes must be known after each iteration.
//   Scan  (opset 9+) with a static sequence length: unrolled the same way; iteration t reads
//         element t (or L-1-t when reversed) of each scan input (Gather on its scan axis) and
//         the scan outputs are stacked along their scan axes.
// Unrolling stops at kMaxIterations iterations and kMaxBodyNodes imported body nodes (nested
// bodies included): larger loops are refused, naming the cap.
//
// Body nodes go through the same importers as the main graph's, as copies whose tensor names are
// made unique ("<node>/it3/<name>", "<node>/then/<name>"); names a body reads but does not define
// resolve through the enclosing bodies to the main graph (ImportState::scopes), so an If inside
// a Loop body works the same way. Node names become "<node>/it3/<body node>".
//
// Schema history (opsets 9-28): If 11 allows branches with different output shapes, 13-25 and
// Loop/Scan 11-25 only extend type lists (sequences, optionals, new float types), Loop 11 makes
// the trip count and cond inputs optional in name only, Scan 11 allows negative axes. Sequence
// and optional values are not supported by Kiln, so branches that produce them fail in their own
// nodes. Scan 8 (batch axis, sequence_lens) exists only before opset 9 and is refused.
#include <algorithm>
#include <optional>

#include "backends/cpu/cpu_kernel.h"
#include "kiln/plugin.h"
#include "onnx/model_importer.h"
#include "onnx/onnx_types.h"
#include "onnx/op_versions.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

constexpr int64_t kMaxIterations = 1024;
constexpr int64_t kMaxBodyNodes = 20000;

// ---- names read by subgraphs ----------------------------------------------------------------

// Names in first-seen order, without duplicates.
struct NameList {
  std::vector<std::string>& names;
  std::unordered_set<std::string> seen;
  explicit NameList(std::vector<std::string>& out) : names(out), seen(out.begin(), out.end()) {}
  void add(const std::string& n) {
    if (!n.empty() && seen.insert(n).second) names.push_back(n);
  }
};

void collectGraphOuterInputs(const onnx::GraphProto& g, NameList& out);

void collectNodeOuterInputs(const onnx::NodeProto& n, NameList& out) {
  for (const auto& a : n.attribute()) {
    if (a.has_g()) collectGraphOuterInputs(a.g(), out);
    for (const auto& g : a.graphs()) collectGraphOuterInputs(g, out);
  }
}

// Names read by `g`'s nodes (explicitly or in their own subgraphs) and outputs.
std::vector<std::string> namesReadIn(const onnx::GraphProto& g) {
  std::vector<std::string> read;
  NameList list(read);
  for (const auto& n : g.node()) {
    for (const auto& in : n.input()) list.add(in);
    collectNodeOuterInputs(n, list);
  }
  for (const auto& o : g.output()) list.add(o.name());
  return read;
}

void collectGraphOuterInputs(const onnx::GraphProto& g, NameList& out) {
  std::unordered_set<std::string> defined;
  for (const auto& in : g.input()) defined.insert(in.name());
  for (const auto& t : g.initializer()) defined.insert(t.name());
  for (const auto& t : g.sparse_initializer()) defined.insert(t.values().name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) defined.insert(o);
  for (const std::string& n : namesReadIn(g))
    if (!defined.count(n)) out.add(n);
}

// ---- known values ------------------------------------------------------------------------------

// The value of a one-element tensor known when the engine is built (a constant, or computed
// from shapes); nullopt otherwise.
std::optional<int64_t> knownScalar(const ir::Value* v) {
  if (!v) return std::nullopt;
  if (v->isConstant()) {
    const ir::TensorData& c = *v->constant;
    if (c.numel() != 1) return std::nullopt;
    switch (c.dtype()) {
      case DataType::kFLOAT: return static_cast<int64_t>(*c.as<float>());
      case DataType::kDOUBLE: return static_cast<int64_t>(*c.as<double>());
      case DataType::kINT64:
      case DataType::kINT32:
      case DataType::kINT16:
      case DataType::kINT8:
      case DataType::kUINT64:
      case DataType::kUINT32:
      case DataType::kUINT16:
      case DataType::kUINT8:
      case DataType::kBOOL: return c.intAt(0);
      default: return std::nullopt;
    }
  }
  if (v->shapeValue && v->shapeValue->size() == 1 && (*v->shapeValue)[0].isConst())
    return (*v->shapeValue)[0].constValue();
  return std::nullopt;
}

// Element values of `v` when it is computed from constants only, through a few small layers
// (Range's function body computes its trip count as Cast(Relu(Ceil((limit - start) / delta)))):
// evaluated with the CPU reference kernels, as the optimizer's constant folding does later.
// Null when some input is not a constant, a shape is not static, a tensor is large, or a kernel
// fails (the caller then reports the value as unknown).
ir::TensorDataPtr evaluateFromConstants(
    const ir::Value* v, int depth, std::unordered_map<const ir::Value*, ir::TensorDataPtr>& memo) {
  constexpr int kMaxDepth = 32;
  constexpr int64_t kMaxElements = 4096;
  if (v->isConstant()) return v->constant;
  if (auto it = memo.find(v); it != memo.end()) return it->second;
  const ir::Node* n = v->producer;
  if (!n || depth > kMaxDepth || !cpu::cpuKernels()[static_cast<size_t>(n->op)]) return nullptr;
  std::vector<ir::TensorDataPtr> keep;  // the inputs' data, alive while the kernel runs
  std::vector<cpu::CpuTensor> ins(n->inputs.size());
  for (size_t i = 0; i < n->inputs.size(); ++i) {
    if (!n->inputs[i]) continue;
    ir::TensorDataPtr d = evaluateFromConstants(n->inputs[i], depth + 1, memo);
    if (!d) return nullptr;
    ins[i].data = const_cast<void*>(d->data());
    ins[i].dtype = d->dtype();
    ins[i].dims = d->dims();
    keep.push_back(std::move(d));
  }
  std::vector<ir::TensorDataPtr> outs;
  std::vector<cpu::CpuTensor> couts(n->outputs.size());
  for (size_t i = 0; i < n->outputs.size(); ++i) {
    const ir::Value* o = n->outputs[i];
    if (!ir::isStatic(o->shape) || ir::volumeOf(ir::staticDims(o->shape)) > kMaxElements)
      return nullptr;
    auto t = std::make_shared<ir::TensorData>(o->dtype, ir::staticDims(o->shape));
    couts[i].data = t->data();
    couts[i].dtype = t->dtype();
    couts[i].dims = t->dims();
    outs.push_back(std::move(t));
  }
  if (!cpu::runCpuNode(*n, ins, couts).isOk()) return nullptr;
  for (size_t i = 0; i < n->outputs.size(); ++i) memo[n->outputs[i]] = outs[i];
  return memo[v];
}

// knownScalar, also evaluating values computed from constants only.
std::optional<int64_t> buildTimeScalar(const ir::Value* v) {
  if (std::optional<int64_t> k = knownScalar(v)) return k;
  if (!v) return std::nullopt;
  std::unordered_map<const ir::Value*, ir::TensorDataPtr> memo;
  ir::TensorDataPtr d = evaluateFromConstants(v, 0, memo);
  if (!d || d->numel() != 1) return std::nullopt;
  ir::Value probe;
  probe.constant = d;
  return knownScalar(&probe);
}

// The error for input i (`what`) of an If/Loop that is needed when the engine is built. Its
// "input 'x' of node 'n' (Op) must be a constant" part is the phrase every such error shares.
Status notKnownAtBuild(ImportContext& ctx, size_t i, const char* what) {
  const ir::Value* v = ctx.input(i);
  const char* from = v && v->isGraphInput ? "is a graph input, given only when the engine runs"
                                          : "is computed from tensor data";
  return unsupported(
      "%s '%s': the %s %s (input '%s' of node '%s' (%s) must be a constant or "
      "computed from shapes); Kiln supports %s only when the %s is known when the "
      "engine is built",
      ctx.opType().c_str(), ctx.name().c_str(), what, from,
      ctx.node().input(static_cast<int>(i)).c_str(), ctx.name().c_str(), ctx.opType().c_str(),
      ctx.opType().c_str(), what);
}

// ---- body import -------------------------------------------------------------------------------

StatusOr<const onnx::GraphProto*> graphAttr(ImportContext& ctx, const char* name) {
  const onnx::AttributeProto* a = ctx.attr(name);
  if (!a) return ctx.error("attribute '%s' (a graph) is required", name);
  if (attributeType(*a) != onnx::AttributeProto::GRAPH)
    return ctx.error("attribute '%s' must be GRAPH, but it is %s", name,
                     attributeTypeName(attributeType(*a)));
  return &a->g();
}

// Pops the scope pushed by importBody on every exit path.
struct ScopeGuard {
  ImportState& state;
  ~ScopeGuard() { state.scopes.pop_back(); }
};

// The key of state.values holding `name` as the innermost body sees it.
std::string resolveName(const ImportState& state, const std::string& name) {
  for (auto it = state.scopes.rbegin(); it != state.scopes.rend(); ++it) {
    auto f = (*it)->find(name);
    if (f != (*it)->end()) return f->second;
  }
  return name;
}

Status inBody(const Status& s, const std::string& where, const std::string& node,
              const std::string& op) {
  return Status(s.code(), strFormat("in %s, node '%s' (%s): %s", where.c_str(), node.c_str(),
                                    op.c_str(), s.message().c_str()));
}

// Imports one copy of `body`: its inputs bound to `inputs`, its tensors and nodes named
// "<prefix><name>". Returns the values of the body's outputs. `where` names the body in errors
// ("the body of Loop 'l' (iteration 3)").
StatusOr<std::vector<ir::Value*>> importBody(ImportContext& ctx, const onnx::GraphProto& body,
                                             const std::string& prefix, const std::string& where,
                                             const std::vector<ir::Value*>& inputs) {
  ImportState& state = ctx.state();
  if (static_cast<size_t>(body.input_size()) != inputs.size())
    return ctx.error("%s has %d input(s); expected %zu", where.c_str(), body.input_size(),
                     inputs.size());
  if (body.sparse_initializer_size() > 0)
    return unsupported("%s has sparse initializers, which are not supported", where.c_str());
  if (state.bodyNodesImported + body.node_size() > kMaxBodyNodes)
    return unsupported(
        "%s '%s': expanding it would import more than %lld nodes from If/Loop/Scan "
        "bodies, Kiln's cap for unrolling control flow",
        ctx.opType().c_str(), ctx.name().c_str(), static_cast<long long>(kMaxBodyNodes));
  state.bodyNodesImported += body.node_size();

  std::unordered_map<std::string, std::string> scope;  // body name -> key of state.values
  std::unordered_set<std::string> read;
  for (const std::string& n : namesReadIn(body)) read.insert(n);
  auto bind = [&](const std::string& name, ir::Value* v) {
    std::string key = state.freshValueName(prefix + name);
    state.values[key] = v;
    if (read.count(name)) state.consumed.insert(key);
    scope[name] = key;
  };
  for (int i = 0; i < body.input_size(); ++i)
    bind(body.input(i).name(), inputs[static_cast<size_t>(i)]);
  for (const auto& t : body.initializer()) {
    KILN_ASSIGN_OR_RETURN(
        ir::TensorDataPtr data,
        tensorFromProto(t, state.modelDir, "initializer '" + t.name() + "' of " + where));
    std::string key = state.freshValueName(prefix + t.name());
    bind(t.name(), state.addConstant(key, std::move(data)));
  }

  state.scopes.push_back(&scope);
  ScopeGuard guard{state};
  const OpImporterTable& importers = opImporters();
  for (int index = 0; index < body.node_size(); ++index) {
    const onnx::NodeProto& n = body.node(index);
    const std::string display =
        n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
    const bool defaultDomain = n.domain().empty() || n.domain() == "ai.onnx";
    auto importer = defaultDomain ? importers.find(n.op_type()) : importers.end();
    PluginCreator* plugin = nullptr;
    if (importer == importers.end()) {
      plugin = getPluginRegistry().getCreator(n.op_type(), "", defaultDomain ? "" : n.domain());
      if (!plugin)
        return inBody(unsupported("unsupported operator (domain '%s'). Kiln has no built-in "
                                  "implementation; add one as a plugin (see docs/plugins.md)",
                                  defaultDomain ? "ai.onnx" : n.domain().c_str()),
                      where, display, n.op_type());
    } else {
      Status vs = checkLegacyOpset(n.op_type(), state.legacyOpset);
      if (vs.isOk()) vs = checkOpVersion(n.op_type(), ctx.opset());
      if (!vs.isOk()) return inBody(vs, where, display, n.op_type());
    }

    // The copy the importer sees: unique names, inputs resolved through the enclosing scopes.
    onnx::NodeProto copy;
    copy.set_op_type(n.op_type());
    copy.set_domain(n.domain());
    const std::string nodeName = state.freshNodeName(prefix + display);
    copy.set_name(nodeName);
    for (const auto& in : n.input()) {
      if (in.empty()) {
        copy.add_input("");
        continue;
      }
      std::string key = resolveName(state, in);
      if (!state.values.count(key))
        return inBody(invalidArgument("input '%s' is not defined before the node (not an input, "
                                      "initializer or earlier node output of the body, nor a "
                                      "tensor of an enclosing graph)",
                                      in.c_str()),
                      where, display, n.op_type());
      copy.add_input(key);
    }
    for (const auto& o : n.output()) {
      if (o.empty()) {
        copy.add_output("");
        continue;
      }
      std::string key = state.freshValueName(prefix + o);
      if (read.count(o)) state.consumed.insert(key);
      scope[o] = key;
      copy.add_output(key);
    }
    *copy.mutable_attribute() = n.attribute();

    Status s = checkAttributeTypes(copy);
    if (s.isOk()) {
      ImportContext inner(state, copy, nodeName, ctx.opset());
      s = plugin ? importPluginNode(inner, *plugin) : importer->second(inner);
    }
    if (!s.isOk()) return inBody(s, where, display, n.op_type());
  }

  std::vector<ir::Value*> outs;
  for (const auto& o : body.output()) {
    auto it = state.values.find(resolveName(state, o.name()));
    if (it == state.values.end())
      return ctx.error("%s: output '%s' is not produced by the body", where.c_str(),
                       o.name().c_str());
    outs.push_back(it->second);
  }
  return outs;
}

// Makes ONNX output i of the If/Loop/Scan refer to `v`. A value the expansion created (id >=
// firstNewId) takes the output's name; one that existed before (an outer tensor passed through)
// or that already names another output is copied by an Identity layer.
Status bindResult(ImportContext& ctx, size_t i, ir::Value* v, int firstNewId,
                  std::unordered_set<const ir::Value*>& renamed) {
  if (i >= ctx.numOutputs() || ctx.node().output(static_cast<int>(i)).empty()) return Status::ok();
  const std::string& name = ctx.node().output(static_cast<int>(i));
  if (v->id >= firstNewId && !v->isGraphInput && renamed.insert(v).second) {
    ImportState& state = ctx.state();
    v->name = name;
    state.usedValueNames.insert(name);
    state.values[name] = v;
    return Status::ok();
  }
  return ctx.addFinalOutput(i, OpKind::kIdentity, {v}, {}, "output_" + std::to_string(i));
}

// Stacks `parts` (one value per iteration, in order) along a new axis `axis` as ONNX output i.
Status stackOutput(ImportContext& ctx, size_t i, const std::vector<ir::Value*>& parts, int64_t axis,
                   const std::string& what) {
  if (i >= ctx.numOutputs() || ctx.node().output(static_cast<int>(i)).empty()) return Status::ok();
  const std::string base = "scan_output_" + std::to_string(i);
  ir::Value* axes = ctx.constInt64s({axis}, base + "/axes");
  std::vector<ir::Value*> unsq;
  for (size_t t = 0; t < parts.size(); ++t) {
    auto u = ctx.addHelper(OpKind::kUnsqueeze, {parts[t], axes}, {},
                           base + "/unsqueeze_" + std::to_string(t));
    if (!u.isOk())
      return Status(u.status().code(),
                    what + " of iteration " + std::to_string(t) + ": " + u.status().message());
    unsq.push_back(*u);
  }
  ir::Attributes attrs;
  attrs.setInt("axis", axis);
  Status s = ctx.addFinalOutput(i, OpKind::kConcat, std::move(unsq), std::move(attrs), base);
  if (!s.isOk())
    return Status(s.code(),
                  what + ": the per-iteration values cannot be stacked (" + s.message() + ")");
  return Status::ok();
}

// ---- If ----------------------------------------------------------------------------------------

// An If whose condition is known only when the engine runs: both branches are imported and each
// output is Where(cond, then, else). ONNX branches have no side effects, so this is exact when
// the branches give outputs of the same type and shape ("shape-static" branches) and the branch
// not taken is valid for the inputs (it runs too); otherwise the If is refused.
Status importIfAtRunTime(ImportContext& ctx, ir::Value* cond, const onnx::GraphProto& thenBranch,
                         const onnx::GraphProto& elseBranch) {
  Status refused = notKnownAtBuild(ctx, 0, "condition");
  if (cond->dtype != DataType::kBOOL || !ir::isStatic(cond->shape) ||
      ir::volumeOf(ir::staticDims(cond->shape)) != 1)
    return refused;
  std::vector<ir::Value*> outs[2];
  const onnx::GraphProto* branches[2] = {&thenBranch, &elseBranch};
  const char* which[2] = {"then", "else"};
  const int firstNewId = static_cast<int>(ctx.state().net.graph->valueCapacity());
  for (int b = 0; b < 2; ++b) {
    if (static_cast<size_t>(branches[b]->output_size()) < ctx.numOutputs())
      return ctx.error("the %s_branch has %d output(s), but the node has %zu", which[b],
                       branches[b]->output_size(), ctx.numOutputs());
    KILN_ASSIGN_OR_RETURN(
        outs[b], importBody(ctx, *branches[b], ctx.name() + "/" + which[b] + "/",
                            strFormat("the %s_branch of If '%s'", which[b], ctx.name().c_str()), {}));
  }
  (void)firstNewId;
  for (size_t i = 0; i < ctx.numOutputs(); ++i) {
    const ir::Value* t = outs[0][i];
    const ir::Value* e = outs[1][i];
    if (t->dtype != e->dtype || !ir::shapesEqual(t->shape, e->shape))
      return unsupported("%s; its branches give output %zu as %s%s (then) and %s%s (else), and Kiln "
                         "runs an If with a run-time condition only when both branches give the "
                         "same types and shapes",
                         refused.message().c_str(), i, dataTypeName(t->dtype),
                         ir::shapeToString(t->shape).c_str(), dataTypeName(e->dtype),
                         ir::shapeToString(e->shape).c_str());
  }
  ir::Value* c = cond;
  if (!cond->shape.empty()) {  // [1] -> scalar, so Where keeps each output's shape
    KILN_ASSIGN_OR_RETURN(c, ctx.addHelper(OpKind::kReshape, {cond, ctx.constInt64s({}, "cond_shape")},
                                           {}, "cond_scalar"));
  }
  for (size_t i = 0; i < ctx.numOutputs(); ++i) {
    if (ctx.node().output(static_cast<int>(i)).empty()) continue;
    KILN_RETURN_IF_ERROR(ctx.addFinalOutput(i, OpKind::kWhere, {c, outs[0][i], outs[1][i]}, {},
                                            "select_" + std::to_string(i)));
  }
  return Status::ok();
}

Status importIf(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * cond, ctx.requiredInput(0, "cond"));
  KILN_ASSIGN_OR_RETURN(const onnx::GraphProto* thenBranch, graphAttr(ctx, "then_branch"));
  KILN_ASSIGN_OR_RETURN(const onnx::GraphProto* elseBranch, graphAttr(ctx, "else_branch"));
  if (cond->isConstant() && cond->constant->numel() != 1)
    return ctx.error("the condition must have one element; it has %lld",
                     static_cast<long long>(cond->constant->numel()));
  std::optional<int64_t> c = buildTimeScalar(cond);
  if (!c) return importIfAtRunTime(ctx, cond, *thenBranch, *elseBranch);
  const bool taken = *c != 0;
  const onnx::GraphProto& branch = taken ? *thenBranch : *elseBranch;
  const char* which = taken ? "then" : "else";
  if (static_cast<size_t>(branch.output_size()) < ctx.numOutputs())
    return ctx.error("the %s_branch has %d output(s), but the node has %zu", which,
                     branch.output_size(), ctx.numOutputs());
  const int firstNewId = static_cast<int>(ctx.state().net.graph->valueCapacity());
  KILN_ASSIGN_OR_RETURN(
      std::vector<ir::Value*> outs,
      importBody(ctx, branch, ctx.name() + "/" + which + "/",
                 strFormat("the %s_branch of If '%s'", which, ctx.name().c_str()), {}));
  std::unordered_set<const ir::Value*> renamed;
  for (size_t i = 0; i < ctx.numOutputs(); ++i)
    KILN_RETURN_IF_ERROR(bindResult(ctx, i, outs[i], firstNewId, renamed));
  return Status::ok();
}

// ---- Loop --------------------------------------------------------------------------------------

Status importLoop(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const onnx::GraphProto* body, graphAttr(ctx, "body"));
  if (ctx.numInputs() < 2)
    return ctx.error("Loop needs the inputs (M, cond, v_initial...); it has %zu", ctx.numInputs());
  const size_t numCarried = ctx.numInputs() - 2;
  if (static_cast<size_t>(body->input_size()) != numCarried + 2)
    return ctx.error(
        "the body has %d input(s); a Loop with %zu carried value(s) needs %zu "
        "(iteration number, condition, carried values)",
        body->input_size(), numCarried, numCarried + 2);
  if (static_cast<size_t>(body->output_size()) < numCarried + 1)
    return ctx.error(
        "the body has %d output(s); a Loop with %zu carried value(s) needs at least "
        "%zu (condition, carried values, scan outputs)",
        body->output_size(), numCarried, numCarried + 1);
  const size_t numScan = static_cast<size_t>(body->output_size()) - 1 - numCarried;
  if (ctx.numOutputs() > numCarried + numScan)
    return ctx.error(
        "the node has %zu outputs, but the body gives %zu carried value(s) and %zu "
        "scan output(s)",
        ctx.numOutputs(), numCarried, numScan);
  std::vector<ir::Value*> carried;
  for (size_t k = 0; k < numCarried; ++k) {
    KILN_ASSIGN_OR_RETURN(ir::Value * v, ctx.requiredInput(2 + k, "v_initial"));
    carried.push_back(v);
  }

  // Trip count and initial condition: absent, or known when the engine is built.
  std::optional<int64_t> tripCount;
  if (ir::Value* m = ctx.input(0)) {
    tripCount = buildTimeScalar(m);
    if (!tripCount) return notKnownAtBuild(ctx, 0, "trip count");
    if (*tripCount > kMaxIterations)
      return unsupported(
          "Loop '%s' runs %lld iterations; Kiln unrolls loops of at most %lld "
          "iterations",
          ctx.name().c_str(), static_cast<long long>(*tripCount),
          static_cast<long long>(kMaxIterations));
    if (*tripCount * body->node_size() + ctx.state().bodyNodesImported > kMaxBodyNodes)
      return unsupported(
          "Loop '%s': unrolling %lld iterations of a %d-node body would import "
          "more than %lld nodes from If/Loop/Scan bodies, Kiln's cap for unrolling "
          "control flow",
          ctx.name().c_str(), static_cast<long long>(*tripCount), body->node_size(),
          static_cast<long long>(kMaxBodyNodes));
  }
  bool running = true;
  if (ctx.input(1)) {
    std::optional<int64_t> c = buildTimeScalar(ctx.input(1));
    if (!c) return notKnownAtBuild(ctx, 1, "condition");
    running = *c != 0;
  }

  const int firstNewId = static_cast<int>(ctx.state().net.graph->valueCapacity());
  std::vector<std::vector<ir::Value*>> scans(numScan);
  int64_t it = 0;
  for (; running && (!tripCount || it < *tripCount); ++it) {
    if (it >= kMaxIterations)
      return unsupported(
          "Loop '%s' has no trip count and its condition is still true after %lld "
          "iterations; Kiln unrolls loops of at most %lld iterations",
          ctx.name().c_str(), static_cast<long long>(it), static_cast<long long>(kMaxIterations));
    const std::string step = "it" + std::to_string(it);
    ir::Value* iterNum = ctx.constant(ir::TensorData::scalarInt64(it), step + "/iteration");
    KILN_ASSIGN_OR_RETURN(ir::Value * condIn, ctx.constScalar(DataType::kBOOL, 1, step + "/cond"));
    std::vector<ir::Value*> bodyIn{iterNum, condIn};
    bodyIn.insert(bodyIn.end(), carried.begin(), carried.end());
    const std::string where = strFormat("the body of Loop '%s' (iteration %lld)",
                                        ctx.name().c_str(), static_cast<long long>(it));
    KILN_ASSIGN_OR_RETURN(std::vector<ir::Value*> outs,
                          importBody(ctx, *body, ctx.name() + "/" + step + "/", where, bodyIn));
    std::optional<int64_t> condOut = buildTimeScalar(outs[0]);
    if (!condOut)
      return unsupported(
          "Loop '%s': the condition the body computes (output '%s') is not known "
          "when the engine is built (it is computed from tensor data); Kiln "
          "unrolls Loop only when the number of iterations is known then",
          ctx.name().c_str(), body->output(0).name().c_str());
    running = *condOut != 0;
    for (size_t k = 0; k < numCarried; ++k) carried[k] = outs[1 + k];
    for (size_t k = 0; k < numScan; ++k) scans[k].push_back(outs[1 + numCarried + k]);
  }

  std::unordered_set<const ir::Value*> renamed;
  for (size_t k = 0; k < numCarried; ++k)
    KILN_RETURN_IF_ERROR(bindResult(ctx, k, carried[k], firstNewId, renamed));
  for (size_t k = 0; k < numScan; ++k) {
    const size_t out = numCarried + k;
    if (!ctx.outputUsed(out)) continue;
    if (scans[k].empty())
      return unsupported(
          "Loop '%s' runs 0 times, so the shape of its scan output '%s' is "
          "unknown; Kiln supports scan outputs of loops that run at least once",
          ctx.name().c_str(), ctx.node().output(static_cast<int>(out)).c_str());
    KILN_RETURN_IF_ERROR(stackOutput(ctx, out, scans[k], 0,
                                     strFormat("Loop '%s' scan output '%s'", ctx.name().c_str(),
                                               ctx.node().output(static_cast<int>(out)).c_str())));
  }
  return Status::ok();
}

// ---- Scan --------------------------------------------------------------------------------------

// A per-input attribute list (axes or directions): `count` entries, `def` when absent.
StatusOr<std::vector<int64_t>> perInputList(ImportContext& ctx, const char* name, size_t count,
                                            int64_t def) {
  KILN_ASSIGN_OR_RETURN(auto v, ctx.attrInts(name));
  if (!v) return std::vector<int64_t>(count, def);
  if (v->size() != count)
    return ctx.error("attribute '%s' has %zu entries; expected %zu", name, v->size(), count);
  return *v;
}

Status importScan(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(const onnx::GraphProto* body, graphAttr(ctx, "body"));
  KILN_ASSIGN_OR_RETURN(int64_t numScanIn, ctx.attrInt("num_scan_inputs", -1));
  if (numScanIn < 1 || static_cast<size_t>(numScanIn) > ctx.numInputs())
    return ctx.error(
        "attribute 'num_scan_inputs' must be in [1, %zu] (the number of inputs); it "
        "is %lld",
        ctx.numInputs(), static_cast<long long>(numScanIn));
  const size_t numScanInputs = static_cast<size_t>(numScanIn);
  const size_t numState = ctx.numInputs() - numScanInputs;
  if (static_cast<size_t>(body->input_size()) != ctx.numInputs())
    return ctx.error("the body has %d input(s); expected %zu (state values, then scan elements)",
                     body->input_size(), ctx.numInputs());
  if (static_cast<size_t>(body->output_size()) < numState)
    return ctx.error("the body has %d output(s); expected at least %zu (the state values)",
                     body->output_size(), numState);
  const size_t numScanOut = static_cast<size_t>(body->output_size()) - numState;
  if (ctx.numOutputs() > numState + numScanOut)
    return ctx.error(
        "the node has %zu outputs, but the body gives %zu state value(s) and %zu "
        "scan output(s)",
        ctx.numOutputs(), numState, numScanOut);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> inAxes,
                        perInputList(ctx, "scan_input_axes", numScanInputs, 0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> inDirs,
                        perInputList(ctx, "scan_input_directions", numScanInputs, 0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> outAxes,
                        perInputList(ctx, "scan_output_axes", numScanOut, 0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> outDirs,
                        perInputList(ctx, "scan_output_directions", numScanOut, 0));
  for (int64_t d : inDirs)
    if (d != 0 && d != 1) return ctx.error("scan_input_directions entries must be 0 or 1");
  for (int64_t d : outDirs)
    if (d != 0 && d != 1) return ctx.error("scan_output_directions entries must be 0 or 1");

  std::vector<ir::Value*> state;
  for (size_t k = 0; k < numState; ++k) {
    KILN_ASSIGN_OR_RETURN(ir::Value * v, ctx.requiredInput(k, "initial state"));
    state.push_back(v);
  }
  // Scan inputs: the sequence length (their dim on the scan axis) must be static and shared.
  std::vector<ir::Value*> scanIn;
  int64_t length = -1;
  for (size_t j = 0; j < numScanInputs; ++j) {
    KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(numState + j, "scan input"));
    const int64_t rank = static_cast<int64_t>(x->shape.size());
    int64_t& axis = inAxes[j];
    if (axis < -rank || axis >= rank)
      return ctx.error("scan_input_axes[%zu] is %lld, outside [%lld, %lld] for scan input '%s'", j,
                       static_cast<long long>(axis), static_cast<long long>(-rank),
                       static_cast<long long>(rank - 1),
                       ctx.node().input(static_cast<int>(numState + j)).c_str());
    if (axis < 0) axis += rank;
    const ir::DimExpr& d = x->shape[static_cast<size_t>(axis)];
    if (!d.isConst())
      return unsupported(
          "Scan '%s': the sequence length of scan input '%s' (dim %lld) is not "
          "known when the engine is built; Kiln unrolls Scan only over a static "
          "sequence length",
          ctx.name().c_str(), ctx.node().input(static_cast<int>(numState + j)).c_str(),
          static_cast<long long>(axis));
    if (length >= 0 && d.constValue() != length)
      return ctx.error("the scan inputs have different sequence lengths (%lld and %lld)",
                       static_cast<long long>(length), static_cast<long long>(d.constValue()));
    length = d.constValue();
    scanIn.push_back(x);
  }
  if (length > kMaxIterations)
    return unsupported(
        "Scan '%s' has a sequence length of %lld; Kiln unrolls at most %lld "
        "iterations",
        ctx.name().c_str(), static_cast<long long>(length), static_cast<long long>(kMaxIterations));
  if (length * body->node_size() + ctx.state().bodyNodesImported > kMaxBodyNodes)
    return unsupported(
        "Scan '%s': unrolling %lld iterations of a %d-node body would import more "
        "than %lld nodes from If/Loop/Scan bodies, Kiln's cap for unrolling "
        "control flow",
        ctx.name().c_str(), static_cast<long long>(length), body->node_size(),
        static_cast<long long>(kMaxBodyNodes));
  if (length == 0 && numScanOut > 0)
    return unsupported(
        "Scan '%s' has a sequence length of 0, so the shapes of its scan outputs "
        "are unknown; Kiln supports Scan over at least one element",
        ctx.name().c_str());

  const int firstNewId = static_cast<int>(ctx.state().net.graph->valueCapacity());
  std::vector<std::vector<ir::Value*>> scans(numScanOut);
  for (int64_t t = 0; t < length; ++t) {
    const std::string step = "it" + std::to_string(t);
    std::vector<ir::Value*> bodyIn = state;
    for (size_t j = 0; j < numScanInputs; ++j) {
      const int64_t index = inDirs[j] ? length - 1 - t : t;
      ir::Value* idx =
          ctx.constant(ir::TensorData::scalarInt64(index), step + "/index_" + std::to_string(j));
      ir::Attributes attrs;
      attrs.setInt("axis", inAxes[j]);
      KILN_ASSIGN_OR_RETURN(ir::Value * e,
                            ctx.addHelper(OpKind::kGather, {scanIn[j], idx}, std::move(attrs),
                                          step + "/scan_input_" + std::to_string(j)));
      bodyIn.push_back(e);
    }
    const std::string where = strFormat("the body of Scan '%s' (iteration %lld)",
                                        ctx.name().c_str(), static_cast<long long>(t));
    KILN_ASSIGN_OR_RETURN(std::vector<ir::Value*> outs,
                          importBody(ctx, *body, ctx.name() + "/" + step + "/", where, bodyIn));
    for (size_t k = 0; k < numState; ++k) state[k] = outs[k];
    for (size_t k = 0; k < numScanOut; ++k) scans[k].push_back(outs[numState + k]);
  }

  std::unordered_set<const ir::Value*> renamed;
  for (size_t k = 0; k < numState; ++k)
    KILN_RETURN_IF_ERROR(bindResult(ctx, k, state[k], firstNewId, renamed));
  for (size_t k = 0; k < numScanOut; ++k) {
    const size_t out = numState + k;
    if (!ctx.outputUsed(out)) continue;
    std::vector<ir::Value*> parts = scans[k];
    if (outDirs[k]) std::reverse(parts.begin(), parts.end());
    const int64_t rank = static_cast<int64_t>(parts[0]->shape.size()) + 1;
    int64_t axis = outAxes[k];
    if (axis < -rank || axis >= rank)
      return ctx.error("scan_output_axes[%zu] is %lld, outside [%lld, %lld] for scan output '%s'",
                       k, static_cast<long long>(axis), static_cast<long long>(-rank),
                       static_cast<long long>(rank - 1),
                       ctx.node().output(static_cast<int>(out)).c_str());
    if (axis < 0) axis += rank;
    KILN_RETURN_IF_ERROR(stackOutput(ctx, out, parts, axis,
                                     strFormat("Scan '%s' scan output '%s'", ctx.name().c_str(),
                                               ctx.node().output(static_cast<int>(out)).c_str())));
  }
  return Status::ok();
}

}  // namespace

void collectSubgraphOuterInputs(const onnx::NodeProto& n, std::vector<std::string>& out) {
  bool any = false;  // most nodes have no subgraph: skip building the name set
  for (const auto& a : n.attribute()) any = any || a.has_g() || a.graphs_size() > 0;
  if (!any) return;
  NameList list(out);
  collectNodeOuterInputs(n, list);
}

void registerControlImporters(OpImporterTable& t) {
  t["If"] = importIf;
  t["Loop"] = importLoop;
  t["Scan"] = importScan;
}

}  // namespace kiln::onnx_import
