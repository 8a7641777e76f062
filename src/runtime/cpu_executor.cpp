#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "backends/cpu/cpu_kernel.h"
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
    const HostValues& hostValues) {
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
  KILN_RETURN_IF_ERROR(ir::inferGraph(g, table));
  return table;
}

Status CpuExecutor::prepare(const std::map<std::string, std::vector<int64_t>>& inputDims,
                            const HostValues& hostValues) {
  mPrepared = false;
  const ir::Graph& g = *mEngine.plan.graph;
  mHostValues = hostValues;  // the table points into them
  KILN_ASSIGN_OR_RETURN(ir::ShapeTable table, bindInputShapes(g, inputDims, mHostValues));

  std::vector<ir::AlignedBuffer> buffers(g.valueCapacity());
  for (const ir::Value* v : g.values()) {
    const ir::ValueInfo& info = table[v->id];
    if (!info.known) continue;
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
  return ir::staticDims(mTable[v->id].shape);
}

Status CpuExecutor::execute(const std::map<std::string, void*>& addresses, void*, bool) {
  if (!mPrepared) return internalError("execute before prepare");
  const ir::Graph& g = *mEngine.plan.graph;
  auto userAddress = [&](const ir::Value* v) -> void* {
    auto it = addresses.find(v->name);
    return it == addresses.end() ? nullptr : it->second;
  };
  auto tensorOf = [&](const ir::Value* v) {
    cpu::CpuTensor t;
    const ir::ValueInfo& info = mTable[v->id];
    t.dtype = info.dtype;
    t.dims = ir::staticDims(info.shape);
    if (v->isConstant()) {
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
  for (const ir::Node* n : mEngine.order) {
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
