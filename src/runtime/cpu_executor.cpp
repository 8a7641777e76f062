#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "backends/cpu/cpu_kernel.h"
#include "ir/op.h"
#include "plugins/plugin_cpu.h"
#include "plugins/plugin_node.h"
#include "runtime/engine_impl.h"
#include "runtime/executor.h"

namespace kiln::detail {

StatusOr<size_t> tensorBytes(const ir::Value& value, const ir::ValueInfo& info) {
  const ir::Value* v = &value;
  // Byte size with overflow checks: a shape can be valid and still name more memory than
  // exists; that must be a clear error, never a wrapped size or an uncaught bad_alloc.
  uint64_t elements = 1;
  bool overflow = false;
  for (int64_t d : ir::staticDims(info.shape))
    overflow = overflow || __builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements);
  uint64_t bytes64 = 0;
  overflow = overflow || __builtin_mul_overflow(
                             elements, static_cast<uint64_t>(dataTypeSize(info.dtype)), &bytes64);
  constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 46;  // 64 TiB: beyond any host
  if (overflow || bytes64 > kMaxTensorBytes)
    return resourceExhausted(
        "tensor '%s' with shape %s needs more than %llu bytes; the largest "
        "tensor Kiln allocates is %llu bytes",
        v->name.c_str(), ir::shapeToString(info.shape).c_str(),
        static_cast<unsigned long long>(overflow ? UINT64_MAX : bytes64),
        static_cast<unsigned long long>(kMaxTensorBytes));
  return static_cast<size_t>(bytes64);
}

StatusOr<ir::ShapeTable> bindInputShapes(
    const ir::Graph& g, const std::map<std::string, std::vector<int64_t>>& inputDims,
    const HostValues& hostValues, std::vector<const ir::Node*>* pending) {
  ir::ShapeTable table = ir::ShapeTable::fromGraph(g);
  // Bind every symbol from the concrete input dims; a symbol shared by two inputs must agree.
  std::map<std::string, int64_t> symbols;
  std::map<std::string, std::string> symbolSource;
  for (const ir::Value* in : g.inputs()) {
    auto it = inputDims.find(in->name);
    if (it == inputDims.end())
      return invalidArgument("the shape of input '%s' is not set", in->name.c_str());
    const std::vector<int64_t>& dims = it->second;
    if (dims.size() != in->shape.size())
      return invalidArgument("input '%s' has rank %zu, got a shape of rank %zu", in->name.c_str(),
                             in->shape.size(), dims.size());
    for (size_t i = 0; i < dims.size(); ++i) {
      const ir::DimExpr& d = in->shape[i];
      if (d.isConst()) {
        if (d.constValue() != dims[i])
          return invalidArgument("input '%s' dimension %zu is fixed to %lld, got %lld",
                                 in->name.c_str(), i, static_cast<long long>(d.constValue()),
                                 static_cast<long long>(dims[i]));
      } else if (d.kind() == ir::DimExpr::Kind::kSymbol) {
        auto [sit, inserted] = symbols.emplace(d.symbolName(), dims[i]);
        if (!inserted && sit->second != dims[i])
          return invalidArgument(
              "dimension '%s' is %lld in input '%s' but %lld in input '%s'; inputs "
              "that share a named dimension must agree",
              d.symbolName().c_str(), static_cast<long long>(sit->second),
              symbolSource[d.symbolName()].c_str(), static_cast<long long>(dims[i]),
              in->name.c_str());
        symbolSource.emplace(d.symbolName(), in->name);
      }
    }
    ir::ValueInfo& info = table[in->id];
    info.shape = ir::shapeFromDims(dims);
    info.deferred = false;
    info.value.reset();
    if (in->isShapeTensor) {
      auto hv = hostValues.find(in->name);
      if (hv == hostValues.end() || !hv->second)
        return invalidArgument("the values of shape tensor input '%s' are not set",
                               in->name.c_str());
      const ir::TensorData& data = *hv->second;
      if (data.dtype() != in->dtype || data.dims() != dims)
        return internalError("shape tensor input '%s': values of the wrong type or shape",
                             in->name.c_str());
      // Concrete: shape functions read it like a constant; integers also as element values.
      info.constant = &data;
      if (in->dtype == DataType::kINT64 || in->dtype == DataType::kINT32) {
        std::vector<ir::DimExpr> vals;
        for (int64_t k = 0; k < data.numel(); ++k) vals.emplace_back(data.intAt(k));
        info.value = std::move(vals);
      }
    }
  }
  // Values computed symbolically at build time (shape computations) are re-derived from the
  // concrete input shapes by inference, so nothing else needs substituting.
  for (const ir::Value* v : g.values()) {
    if (v->isGraphInput || v->isConstant()) continue;
    table[v->id] = ir::ValueInfo{};
  }
  if (!pending) {
    KILN_RETURN_IF_ERROR(ir::inferGraph(g, table));
    return table;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topoOrder());
  std::vector<bool> waiting(g.valueCapacity(), false);
  for (const ir::Node* n : order) {
    bool waits = false;
    for (const ir::Value* in : n->inputs) waits = waits || (in && waiting[static_cast<size_t>(in->id)]);
    if (!waits) {
      KILN_RETURN_IF_ERROR(ir::inferNode(*n, table));
      for (const ir::Value* out : n->outputs) waits = waits || !ir::isStatic(table[out->id].shape);
    }
    if (!waits) continue;
    pending->push_back(n);
    for (const ir::Value* out : n->outputs) {
      waiting[static_cast<size_t>(out->id)] = true;
      ir::ValueInfo& info = table[out->id];
      if (!info.known) {  // not inferred (its inputs wait too): the build-time symbolic shape
        info.known = true;
        info.dtype = out->dtype;
        info.shape = out->shape;
      }
    }
  }
  return table;
}

Status CpuExecutor::prepare(const std::map<std::string, std::vector<int64_t>>& inputDims,
                            const HostValues& hostValues) {
  mPrepared = false;
  const ir::Graph& g = *mEngine.plan.graph;
  mHostValues = hostValues;  // the table points into them
  std::vector<const ir::Node*> pending;
  KILN_ASSIGN_OR_RETURN(ir::ShapeTable table, bindInputShapes(g, inputDims, mHostValues, &pending));
  mPendingNode.assign(g.nodeCapacity(), false);
  std::vector<bool>& pendingValue = mPendingValue;
  pendingValue.assign(g.valueCapacity(), false);
  for (const ir::Node* n : pending) {
    mPendingNode[static_cast<size_t>(n->id)] = true;
    // Outputs of pending layers whose shape is nevertheless known now (Unique's inverse_indices)
    // are ordinary: only the others are data-dependent.
    for (const ir::Value* out : n->outputs)
      pendingValue[static_cast<size_t>(out->id)] = !ir::isStatic(table[out->id].shape);
  }

  std::vector<ir::AlignedBuffer> buffers(g.valueCapacity());
  for (const ir::Value* v : g.values()) {
    const ir::ValueInfo& info = table[v->id];
    if (!info.known || pendingValue[static_cast<size_t>(v->id)]) {
      // Sized when its layer runs; keep the buffer for reuse.
      size_t id = static_cast<size_t>(v->id);
      if (id < mBuffers.size()) buffers[id] = std::move(mBuffers[id]);
      continue;
    }
    if (!ir::isStatic(info.shape))
      return internalError("tensor '%s' has no concrete shape after binding inputs (%s)",
                           v->name.c_str(), ir::shapeToString(info.shape).c_str());
    if (v->isGraphInput || v->isConstant()) continue;
    KILN_ASSIGN_OR_RETURN(size_t bytes, tensorBytes(*v, info));
    size_t id = static_cast<size_t>(v->id);
    if (id < mBuffers.size() && mBuffers[id].size() == bytes) {
      buffers[id] = std::move(mBuffers[id]);
    } else {
      try {
        buffers[id] = ir::AlignedBuffer(bytes);
      } catch (const std::bad_alloc&) {
        return resourceExhausted(
            "out of host memory: could not allocate %zu bytes for tensor '%s' "
            "(shape %s)",
            bytes, v->name.c_str(), ir::shapeToString(info.shape).c_str());
      }
    }
  }
  // Plugins: this context's clones, configured for the new shapes; one workspace for all
  // (layers run one at a time), sized for the largest request, so enqueue never allocates.
  size_t workspace = 0;
  for (const ir::Node* n : mEngine.order) {
    if (n->op != ir::OpKind::kPlugin) continue;
    if (mPendingNode[static_cast<size_t>(n->id)])
      return unsupported("%s: plugin layers after layers with data-dependent output shapes are "
                         "not supported yet",
                         n->describe().c_str());
    std::unique_ptr<Plugin>& instance = mPlugins[n];
    if (!instance) {
      auto proto = mEngine.plugins.find(n);
      if (proto == mEngine.plugins.end() || !proto->second)
        return internalError("%s: the engine has no plugin instance", n->describe().c_str());
      KILN_ASSIGN_OR_RETURN(instance, plugins::clonePlugin(*proto->second, *n));
    }
    std::vector<PluginTensorDesc> ins, outs;
    for (const ir::Value* v : n->inputs)
      ins.push_back(
          {table[v->id].dtype, TensorFormat::kLINEAR, ir::staticDims(table[v->id].shape)});
    for (const ir::Value* v : n->outputs)
      outs.push_back(
          {table[v->id].dtype, TensorFormat::kLINEAR, ir::staticDims(table[v->id].shape)});
    KILN_ASSIGN_OR_RETURN(size_t bytes, plugins::configureOnCpu(*instance, *n, ins, outs));
    workspace = std::max(workspace, bytes);
  }
  if (workspace > mPluginWorkspace.size()) mPluginWorkspace = ir::AlignedBuffer(workspace);
  mBuffers = std::move(buffers);
  mTable = std::move(table);
  mPrepared = true;
  return Status::ok();
}

std::vector<int64_t> CpuExecutor::dimsOf(const ir::Value* v) const {
  // Dims only known when the layers run (data-dependent shapes) are -1 until then.
  std::vector<int64_t> out;
  for (const ir::DimExpr& d : mTable[v->id].shape) out.push_back(d.isConst() ? d.constValue() : -1);
  return out;
}

Status CpuExecutor::inferPending(const ir::Node& n, const std::map<std::string, void*>& addresses,
                                 std::map<int, void*>& dynamicOut) {
  Status st = ir::inferNode(n, mTable);
  bool concrete = st.isOk();
  for (const ir::Value* out : n.outputs) concrete = concrete && ir::isStatic(mTable[out->id].shape);
  if (!concrete && ir::hasDataDependentShape(n.op)) {
    // The shape depends on the inputs' data (NonZero, Unique, ...): infer again with the data
    // bound as constants, which the shape function reads.
    std::vector<ir::TensorDataPtr> data;
    for (const ir::Value* in : n.inputs) {
      if (!in || in->isConstant()) continue;
      const ir::ValueInfo& info = mTable[in->id];
      const void* p = nullptr;
      if (in->isGraphInput || in->isGraphOutput) {
        auto it = dynamicOut.find(in->id);
        auto a = addresses.find(in->name);
        p = it != dynamicOut.end() ? it->second : (a == addresses.end() ? nullptr : a->second);
      } else {
        p = mBuffers[static_cast<size_t>(in->id)].data();
      }
      const std::vector<int64_t> dims = ir::staticDims(info.shape);
      if (!p && ir::volumeOf(dims) != 0)
        return internalError("%s: input '%s' has no data", n.describe().c_str(), in->name.c_str());
      data.push_back(p ? ir::TensorData::fromBytes(info.dtype, dims, p)
                       : std::make_shared<ir::TensorData>(info.dtype, dims));
      mTable[in->id].constant = data.back().get();
    }
    st = ir::inferNode(n, mTable);
    for (const ir::Value* in : n.inputs)
      if (in && !in->isConstant()) mTable[in->id].constant = nullptr;
    KILN_RETURN_IF_ERROR(st);
  }
  for (const ir::Value* out : n.outputs) {
    const ir::ValueInfo& info = mTable[out->id];
    if (!ir::isStatic(info.shape))
      return internalError("%s: output '%s' has no concrete shape when the layer runs (%s)",
                           n.describe().c_str(), out->name.c_str(),
                           ir::shapeToString(info.shape).c_str());
    KILN_ASSIGN_OR_RETURN(size_t bytes, tensorBytes(*out, info));
    const bool known = !mPendingValue[static_cast<size_t>(out->id)];
    auto userAddr = addresses.find(out->name);
    if (out->isGraphOutput && known && userAddr != addresses.end() && userAddr->second &&
        (!mAllocators || !mAllocators->count(out->name)))
      continue;  // shape known at prepare: the user's memory
    if (!out->isGraphOutput) {
      ir::AlignedBuffer& b = mBuffers[static_cast<size_t>(out->id)];
      if (b.size() != bytes) {
        try {
          b = ir::AlignedBuffer(bytes);
        } catch (const std::bad_alloc&) {
          return resourceExhausted("out of host memory: could not allocate %zu bytes for tensor '%s'",
                                   bytes, out->name.c_str());
        }
      }
      continue;
    }
    auto a = mAllocators ? mAllocators->find(out->name) : decltype(mAllocators->end()){};
    if (!mAllocators || a == mAllocators->end() || !a->second)
      return invalidArgument(
          "output '%s' has a data-dependent shape (%s at build time): set an OutputAllocator for "
          "it with setOutputAllocator before execution",
          out->name.c_str(), ir::shapeToString(out->shape).c_str());
    auto cur = addresses.find(out->name);
    void* mem = a->second->reallocateOutput(out->name.c_str(),
                                            cur == addresses.end() ? nullptr : cur->second,
                                            static_cast<uint64_t>(bytes), 256);
    if (!mem && bytes != 0)
      return resourceExhausted("the output allocator of '%s' returned no memory for %zu bytes",
                               out->name.c_str(), bytes);
    dynamicOut[out->id] = mem;
    Dims d;
    const std::vector<int64_t> dims = ir::staticDims(info.shape);
    d.nbDims = static_cast<int32_t>(dims.size());
    for (size_t k = 0; k < dims.size(); ++k) d.d[k] = dims[k];
    a->second->notifyShape(out->name.c_str(), d);
  }
  return Status::ok();
}

Status CpuExecutor::execute(const std::map<std::string, void*>& addresses, void*, bool) {
  if (!mPrepared) return internalError("execute before prepare");
  const ir::Graph& g = *mEngine.plan.graph;
  auto userAddress = [&](const ir::Value* v) -> void* {
    auto it = addresses.find(v->name);
    return it == addresses.end() ? nullptr : it->second;
  };
  std::map<int, void*> dynamicOut;  // graph outputs placed by their output allocators
  auto tensorOf = [&](const ir::Value* v) {
    cpu::CpuTensor t;
    const ir::ValueInfo& info = mTable[v->id];
    t.dtype = info.dtype;
    t.dims = ir::staticDims(info.shape);
    auto dyn = dynamicOut.find(v->id);
    if (dyn != dynamicOut.end()) {
      t.data = dyn->second;
    } else if (v->isConstant()) {
      t.data = const_cast<void*>(v->constant->data());
    } else if (v->isGraphInput || v->isGraphOutput) {
      t.data = userAddress(v);
    } else {
      t.data = mBuffers[static_cast<size_t>(v->id)].data();
    }
    // Empty tensors still need a non-null pointer so "present" stays true.
    static uint64_t kEmpty = 0;
    if (!t.data && t.numel() == 0) t.data = &kEmpty;
    return t;
  };
  // Outputs of known shape that have an allocator (and no address) are placed through it too.
  for (const ir::Value* out : g.outputs()) {
    if (!out->producer || mPendingNode[static_cast<size_t>(out->producer->id)] || !mAllocators)
      continue;
    auto a = mAllocators->find(out->name);
    auto cur = addresses.find(out->name);
    if (a == mAllocators->end() || !a->second || (cur != addresses.end() && cur->second)) continue;
    KILN_ASSIGN_OR_RETURN(size_t bytes, tensorBytes(*out, mTable[out->id]));
    void* mem = a->second->reallocateOutput(out->name.c_str(), nullptr, bytes, 256);
    if (!mem && bytes != 0)
      return resourceExhausted("the output allocator of '%s' returned no memory for %zu bytes",
                               out->name.c_str(), bytes);
    dynamicOut[out->id] = mem;
    Dims d;
    const std::vector<int64_t> dims = dimsOf(out);
    d.nbDims = static_cast<int32_t>(dims.size());
    for (size_t k = 0; k < dims.size(); ++k) d.d[k] = dims[k];
    a->second->notifyShape(out->name.c_str(), d);
  }
  for (const ir::Node* n : mEngine.order) {
    if (mPendingNode[static_cast<size_t>(n->id)])
      KILN_RETURN_IF_ERROR(inferPending(*n, addresses, dynamicOut));
    std::vector<cpu::CpuTensor> ins(n->inputs.size());
    for (size_t i = 0; i < n->inputs.size(); ++i)
      if (n->inputs[i]) ins[i] = tensorOf(n->inputs[i]);
    std::vector<cpu::CpuTensor> outs(n->outputs.size());
    for (size_t i = 0; i < n->outputs.size(); ++i) outs[i] = tensorOf(n->outputs[i]);
    auto start = std::chrono::steady_clock::now();
    if (n->op == ir::OpKind::kPlugin) {
      void* ws = mPluginWorkspace.size() ? mPluginWorkspace.data() : nullptr;
      KILN_RETURN_IF_ERROR(plugins::enqueueOnCpu(*mPlugins.at(n), *n, ins, outs, ws));
    } else {
      KILN_RETURN_IF_ERROR(cpu::runCpuNode(*n, ins, outs));
    }
    if (mProfiler) {
      float ms = std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - start)
                     .count();
      mProfiler->reportLayerTime(n->name.c_str(), ms);
    }
  }
  // Outputs that no layer writes (a network input or a constant marked as output).
  for (const ir::Value* out : g.outputs()) {
    if (out->producer) continue;
    void* dst = userAddress(out);
    const void* src = out->isConstant() ? out->constant->data() : userAddress(out);
    if (out->isGraphInput) {
      auto it = addresses.find(out->name);
      src = it == addresses.end() ? nullptr : it->second;
    }
    size_t bytes = static_cast<size_t>(ir::volumeOf(dimsOf(out))) * dataTypeSize(out->dtype);
    if (dst && src && dst != src) std::memcpy(dst, src, bytes);
  }
  return Status::ok();
}

std::unique_ptr<Executor> makeCpuExecutor(const EngineImpl& engine) {
  return std::make_unique<CpuExecutor>(engine);
}

}  // namespace kiln::detail
