#include "ir/shape_inference.h"

#include <algorithm>

#include "ir/channels_last.h"

namespace kiln::ir {

ValueInfo valueInfoOf(const Value& v) {
  ValueInfo info;
  info.known = true;
  info.dtype = v.dtype;
  info.shape = v.shape;
  info.value = v.shapeValue;
  info.constant = v.constant.get();
  info.deferred = v.isShapeTensor && !v.constant;
  return info;
}

ShapeTable ShapeTable::fromGraph(const Graph& g) {
  ShapeTable t(g.valueCapacity());
  for (const Value* v : g.values()) {
    if (!v->isConstant() && !v->isGraphInput) continue;
    t[v->id] = valueInfoOf(*v);
  }
  return t;
}

StatusOr<std::vector<int64_t>> InferContext::inInts(size_t i, const char* what) const {
  if (!hasInput(i)) return error("input %zu (%s) is required", i, what);
  const ValueInfo& in = info(i);
  if (in.constant) return in.constant->toInt64Vector();
  if (in.value) {
    std::vector<int64_t> out;
    for (const DimExpr& d : *in.value) {
      if (!d.isConst()) {
        // Known when the engine runs (input dims, shape tensor values): inferNode falls back to
        // inferWithDeferredValues when the op has a rule for it.
        mDeferredReads |= uint64_t{1} << std::min<size_t>(i, 63);
        return unsupported(
            "%s: %s must be known when the engine is built, but it depends on "
            "values known only at run time (%s), and Kiln cannot infer the "
            "output shape of op %s from them yet",
            mNode.describe().c_str(), what, d.toString().c_str(), opName(mNode.op));
      }
      out.push_back(d.constValue());
    }
    return out;
  }
  if (in.deferred) {
    mDeferredReads |= uint64_t{1} << std::min<size_t>(i, 63);
    return unsupported(
        "%s: %s comes from shape tensor input '%s', known only at run time, and "
        "Kiln cannot infer the output shape of op %s from it yet",
        mNode.describe().c_str(), what, mNode.inputs[i]->name.c_str(), opName(mNode.op));
  }
  return dataDependentInputError(i, what);
}

Status InferContext::deferredInputError(size_t i, const char* what) const {
  mDeferredReads |= uint64_t{1} << std::min<size_t>(i, 63);
  return unsupported(
      "%s: %s is known only at run time, and Kiln cannot infer the output shape "
      "of op %s from it yet",
      mNode.describe().c_str(), what, opName(mNode.op));
}

bool InferContext::inDeferred(size_t i) const {
  if (!hasInput(i)) return false;
  const ValueInfo& in = info(i);
  if (in.constant) return false;
  bool deferred = in.deferred;
  for (size_t k = 0; !deferred && in.value && k < in.value->size(); ++k)
    deferred = !(*in.value)[k].isConst();
  // Asking means the shape function uses the values: a graph input here becomes a shape tensor.
  if (deferred) mDeferredReads |= uint64_t{1} << std::min<size_t>(i, 63);
  return deferred;
}

DimExpr InferContext::runtimeDim(size_t output, size_t dim) const {
  return DimExpr::symbol(mNode.name + ":" + std::to_string(output) + ":d" + std::to_string(dim));
}

// The one message for every input Kiln needs at build time (shape inputs, Resize scales, Range
// bounds, ...) that the graph computes from tensor data: unsupported, not invalid. The ONNX
// importer gives the same message when it checks such inputs itself.
Status InferContext::dataDependentInputError(size_t i, const char* what) const {
  return unsupported(
      "input '%s' of node '%s' (%s) must be a constant or computed from shapes; "
      "it is computed from tensor data, which Kiln does not support yet (%s)",
      mNode.inputs[i]->name.c_str(), mNode.name.c_str(), opName(mNode.op), what);
}

StatusOr<std::vector<double>> InferContext::inDoubles(size_t i, const char* what) const {
  if (!hasInput(i)) return error("input %zu (%s) is required", i, what);
  const ValueInfo& in = info(i);
  if (!in.constant) {
    if (in.value || in.deferred) {
      KILN_ASSIGN_OR_RETURN(auto ints, inInts(i, what));
      return std::vector<double>(ints.begin(), ints.end());
    }
    return dataDependentInputError(i, what);
  }
  std::vector<double> out(static_cast<size_t>(in.constant->numel()));
  for (int64_t k = 0; k < in.constant->numel(); ++k)
    out[static_cast<size_t>(k)] = in.constant->doubleAt(k);
  return out;
}

void InferContext::setOutput(size_t i, DataType dtype, Shape shape) {
  if (i >= mNode.outputs.size()) {  // malformed node (e.g. a corrupted plan): reported by inferNode
    mMissingOutput = true;
    return;
  }
  ValueInfo& out = mTable[mNode.outputs[i]->id];
  out.known = true;
  out.dtype = dtype;
  out.shape = std::move(shape);
  out.value.reset();
}

void InferContext::setOutputValue(size_t i, std::vector<DimExpr> values) {
  if (i >= mNode.outputs.size()) {
    mMissingOutput = true;
    return;
  }
  mTable[mNode.outputs[i]->id].value = std::move(values);
}

Status InferContext::expectInputs(size_t minInputs, size_t maxInputs) const {
  if (numInputs() < minInputs || numInputs() > maxInputs) {
    if (minInputs == maxInputs) return error("expects %zu inputs, got %zu", minInputs, numInputs());
    return error("expects %zu to %zu inputs, got %zu", minInputs, maxInputs, numInputs());
  }
  for (size_t i = 0; i < minInputs; ++i)
    if (!hasInput(i)) return error("input %zu is required", i);
  return Status::ok();
}

StatusOr<int64_t> InferContext::normalizeAxis(int64_t axis, int64_t rank, const char* what) const {
  if (axis < -rank || axis >= rank || rank == 0) {
    if (rank == 0 && (axis == 0 || axis == -1))
      return error("%s %lld is invalid for a scalar input", what, static_cast<long long>(axis));
    return error("%s %lld is out of range for rank %lld (valid: [%lld, %lld])", what,
                 static_cast<long long>(axis), static_cast<long long>(rank),
                 static_cast<long long>(-rank), static_cast<long long>(rank - 1));
  }
  return axis < 0 ? axis + rank : axis;
}

StatusOr<Shape> broadcastShapes(const InferContext& ctx, const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const DimExpr da = i < rank - a.size() ? DimExpr(1) : a[i - (rank - a.size())];
    const DimExpr db = i < rank - b.size() ? DimExpr(1) : b[i - (rank - b.size())];
    if (da.isConst() && da.constValue() == 1) {
      out[i] = db;
    } else if (db.isConst() && db.constValue() == 1) {
      out[i] = da;
    } else if (da.equals(db)) {
      out[i] = da;
    } else if (da.isConst() && db.isConst()) {
      return ctx.error("cannot broadcast shapes %s and %s (dimension %zu: %lld vs %lld)",
                       shapeToString(a).c_str(), shapeToString(b).c_str(), i,
                       static_cast<long long>(da.constValue()),
                       static_cast<long long>(db.constValue()));
    } else {
      // Undecidable now (a symbol against another dim): one of them is 1 or they are equal at
      // run time, so the result is the larger. Checked again with constants at run time.
      out[i] = dimMax(da, db);
    }
  }
  return out;
}

const ShapeFnTable& shapeFunctions() {
  static const ShapeFnTable table = [] {
    ShapeFnTable t{};
    registerBinaryShapeFns(t);
    registerUnaryShapeFns(t);
    registerLinearShapeFns(t);
    registerPoolShapeFns(t);
    registerNormShapeFns(t);
    registerReduceShapeFns(t);
    registerShapeOpShapeFns(t);
    registerIndexingShapeFns(t);
    registerTransformerQuantShapeFns(t);
    registerRecurrentShapeFns(t);
    registerAttentionExtShapeFns(t);
    registerSignalShapeFns(t);
    registerVisionShapeFns(t);
    registerMiscShapeFns(t);
    registerDataDepShapeFns(t);
    registerConfShapeFns(t);
    registerFusedMatMulShapeFns(t);
    registerFusedConvShapeFns(t);
    registerFusedAttentionShapeFns(t);
    registerPluginShapeFns(t);
    wrapChannelsLastShapeFns(t);  // after every op's own function (channels_last.h)
    return t;
  }();
  return table;
}

Status inferNode(const Node& node, ShapeTable& table, uint64_t* deferredReads) {
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (node.inputs[i] && !table[node.inputs[i]->id].known)
      return internalError("%s: input %zu ('%s') has no inferred shape", node.describe().c_str(), i,
                           node.inputs[i]->name.c_str());
  }
  ShapeFn fn = shapeFunctions()[static_cast<size_t>(node.op)];
  if (!fn)
    return unsupported("%s: no shape function for op %s", node.describe().c_str(), opName(node.op));
  InferContext ctx(node, table);
  Status st = fn(ctx);
  if (deferredReads) *deferredReads = ctx.deferredReads();
  if (!st.isOk()) {
    if (ctx.deferredReads() == 0) return st;
    // The output shape depends on values known only at run time: types and ranks now, the
    // dims that depend on those values as run-time symbols. At run time the values are
    // constants and `fn` itself decides (and checks) everything.
    for (const Value* out : node.outputs) table[out->id] = ValueInfo{};
    InferContext deferred(node, table);
    if (!inferWithDeferredValues(deferred).isOk()) return st;
    if (deferred.missingOutput()) return st;
    if (deferredReads) *deferredReads |= deferred.deferredReads();
  } else if (ctx.missingOutput()) {
    return invalidArgument("%s: the node has %zu outputs, fewer than op %s produces",
                           node.describe().c_str(), node.outputs.size(), opName(node.op));
  }
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    ValueInfo& out = table[node.outputs[i]->id];
    if (!out.known)
      return internalError("%s: shape function left output %zu unset", node.describe().c_str(), i);
    for (const DimExpr& d : out.shape) {
      if (d.isConst() && d.constValue() < 0)
        return invalidArgument("%s: output %zu would have a negative dimension (shape %s)",
                               node.describe().c_str(), i, shapeToString(out.shape).c_str());
    }
  }
  return Status::ok();
}

Status markShapeTensorInput(Value& v) {
  if (v.isShapeTensor) return Status::ok();
  if (!v.isGraphInput || v.isConstant())
    return internalError("'%s' is not a graph input; only inputs can be shape tensors",
                         v.name.c_str());
  if (v.dtype == DataType::kBOOL || !isStatic(v.shape) ||
      volumeOf(staticDims(v.shape)) > kMaxShapeValueElements)
    return unsupported(
        "input '%s' (%s %s) gives values that decide output shapes (a shape tensor input), "
        "which must be a numeric tensor of fixed shape with at most %lld elements",
        v.name.c_str(), dataTypeName(v.dtype), shapeToString(v.shape).c_str(),
        static_cast<long long>(kMaxShapeValueElements));
  v.isShapeTensor = true;
  if (v.dtype == DataType::kINT64 || v.dtype == DataType::kINT32) {
    std::vector<DimExpr> vals;
    const int64_t n = volumeOf(staticDims(v.shape));
    for (int64_t k = 0; k < n; ++k)
      vals.push_back(DimExpr::symbol(v.name + "[" + std::to_string(k) + "]"));
    v.shapeValue = std::move(vals);
  }
  return Status::ok();
}

Status inferGraph(const Graph& g, ShapeTable& table) {
  KILN_ASSIGN_OR_RETURN(std::vector<Node*> order, g.topoOrder());
  for (const Node* n : order) KILN_RETURN_IF_ERROR(inferNode(*n, table));
  return Status::ok();
}

Status inferGraphInPlace(Graph& g) {
  ShapeTable table = ShapeTable::fromGraph(g);
  KILN_RETURN_IF_ERROR(inferGraph(g, table));
  for (Value* v : g.values()) {
    if (v->isConstant() || v->isGraphInput) continue;
    const ValueInfo& info = table[v->id];
    if (!info.known) continue;
    v->dtype = info.dtype;
    v->shape = info.shape;
    v->shapeValue = info.value;
  }
  return Status::ok();
}

namespace {
bool smallIntValue(const Value& v) {
  return (v.dtype == DataType::kINT64 || v.dtype == DataType::kINT32) && isStatic(v.shape) &&
         volumeOf(staticDims(v.shape)) <= kMaxShapeValueElements;
}
// A small float value cast from a small integer one (Cast keeps integer values known when the
// float type holds them exactly: Range(0.0, Cast(n), 1.0) in the expanded window functions).
bool castFromSmallInt(const Value& v) {
  return v.producer && v.producer->op == OpKind::kCast && !v.producer->inputs.empty() &&
         v.producer->inputs[0] && smallIntValue(*v.producer->inputs[0]) &&
         (v.dtype == DataType::kFLOAT || v.dtype == DataType::kDOUBLE ||
          v.dtype == DataType::kHALF || v.dtype == DataType::kBF16) &&
         isStatic(v.shape) && volumeOf(staticDims(v.shape)) <= kMaxShapeValueElements;
}
}  // namespace

bool promoteShapeSources(const Graph& g, Value& v, ShapeTable& scratch) {
  // The chain of small integer values above `v` (shape arithmetic); stop at constants and values
  // with known values. Its graph-input leaves become shape tensor inputs.
  std::vector<Node*> chain;
  std::vector<Value*> leaves;
  std::vector<Value*> stack{&v};
  std::vector<bool> seen(g.valueCapacity(), false);
  while (!stack.empty()) {
    Value* x = stack.back();
    stack.pop_back();
    if (seen[static_cast<size_t>(x->id)]) continue;
    seen[static_cast<size_t>(x->id)] = true;
    if (x->isConstant() || (x->shapeValue && !x->isGraphInput)) continue;
    if (x->isGraphInput) {
      if (x->isShapeTensor || !smallIntValue(*x)) return false;
      leaves.push_back(x);
      continue;
    }
    if (!x->producer || !(smallIntValue(*x) || castFromSmallInt(*x)) || chain.size() > 256)
      return false;
    if (std::find(chain.begin(), chain.end(), x->producer) == chain.end())
      chain.push_back(x->producer);
    for (Value* in : x->producer->inputs)
      if (in) stack.push_back(in);
  }
  if (leaves.empty()) return false;
  for (Value* leaf : leaves)
    if (!markShapeTensorInput(*leaf).isOk()) return false;
  // Node ids follow the order layers were added, which is topological.
  std::sort(chain.begin(), chain.end(), [](const Node* a, const Node* b) { return a->id < b->id; });
  for (Node* c : chain)
    if (!inferNodeInPlace(g, *c, scratch).isOk()) return false;
  return true;
}

Status inferNodeInPlace(const Graph& g, Node& n, ShapeTable& scratch) {
  if (scratch.size() < g.valueCapacity()) scratch.resize(g.valueCapacity() * 2 + 16);
  for (const Value* in : n.inputs) {
    if (!in) continue;
    scratch[in->id] = valueInfoOf(*in);
    // While the network is built, a graph input whose values a layer needs becomes a shape
    // tensor input (below); until then its values are "known at run time".
    if (in->isGraphInput && !in->isConstant()) scratch[in->id].deferred = true;
  }
  for (const Value* out : n.outputs) scratch[out->id] = ValueInfo{};
  uint64_t deferredReads = 0;
  Status st = inferNode(n, scratch, &deferredReads);
  if (!st.isOk()) {
    // A small integer input without known values may be computed (Max, Sub, Concat, ...) from
    // graph inputs that were not known to be shape tensors when those layers were added: make
    // them shape tensor inputs, infer the chain again with their symbolic values, and retry.
    bool promoted = false;
    for (Value* in : n.inputs)
      if (in && !in->isConstant() && !in->isGraphInput && !in->shapeValue)
        promoted = promoteShapeSources(g, *in, scratch) || promoted;
    if (promoted) return inferNodeInPlace(g, n, scratch);
    return st;
  }
  bool marked = false;
  for (size_t i = 0; i < n.inputs.size() && i < 64; ++i) {
    Value* in = n.inputs[i];
    if (!in || !(deferredReads >> i & 1) || !in->isGraphInput || in->isShapeTensor) continue;
    KILN_RETURN_IF_ERROR(markShapeTensorInput(*in));
    marked = true;
  }
  if (marked) return inferNodeInPlace(g, n, scratch);  // again, with the inputs' symbolic values
  for (Value* out : n.outputs) {
    const ValueInfo& info = scratch[out->id];
    out->dtype = info.dtype;
    out->shape = info.shape;
    out->shapeValue = info.value;
  }
  return Status::ok();
}

}  // namespace kiln::ir
