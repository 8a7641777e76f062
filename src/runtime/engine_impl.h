// EngineImpl and ContextImpl: the state behind kiln::Engine and kiln::ExecutionContext.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/plugin.h"
#include "kiln/runtime.h"
#include "plan/plan.h"
#include "runtime/executor.h"

namespace kiln::detail {

struct IOTensor {
  std::string name;
  TensorIOMode mode = TensorIOMode::kNONE;
  const ir::Value* value = nullptr;
};

// Immutable after creation; shared by all contexts.
struct EngineImpl {
  plan::PlanContents plan;
  std::vector<IOTensor> io;            // inputs first (graph order), then outputs
  std::vector<const ir::Node*> order;  // execution order
  Logger* logger = nullptr;
  // One instance per plugin layer, made by its creator from the plan's fields (tactic set);
  // each execution context clones it (src/plugins/).
  std::map<const ir::Node*, std::unique_ptr<Plugin>> plugins;
  // GPU engines: device copies of the weights, uploaded once and shared by every context
  // (src/backends/cuda/); null for CPU engines.
  std::shared_ptr<void> gpuResources;

  static StatusOr<std::shared_ptr<EngineImpl>> create(plan::PlanContents plan, Logger* logger);
  const IOTensor* findIO(const char* name) const;
};

// Runs an engine's graph on the CPU for one set of input shapes.
class CpuExecutor final : public Executor {
 public:
  explicit CpuExecutor(const EngineImpl& engine) : mEngine(engine) {}
  // Binds the inputs' concrete dims, re-runs shape inference with constants and (re)allocates
  // activation buffers when sizes changed.
  Status prepare(const std::map<std::string, std::vector<int64_t>>& inputDims,
                 const HostValues& hostValues) override;
  std::vector<int64_t> dimsOf(const ir::Value* v) const override;
  int64_t volumeOf(const ir::Value* v) const override { return volumeOfShape(mTable[v->id].shape); }
  // Runs every layer synchronously. `addresses` maps I/O names to user memory.
  Status execute(const std::map<std::string, void*>& addresses, void* stream, bool sync) override;
  bool prepared() const override { return mPrepared; }
  bool dataDependent(const ir::Value* v) const override {
    return static_cast<size_t>(v->id) < mPendingValue.size() && mPendingValue[static_cast<size_t>(v->id)];
  }

 private:
  const EngineImpl& mEngine;
  HostValues mHostValues;  // shape tensor values mTable points into
  ir::ShapeTable mTable;
  // By node id: layers whose output shapes depend on tensor data, inferred when they run.
  std::vector<bool> mPendingNode;
  std::vector<bool> mPendingValue;  // by value id: outputs of pending layers
  // Runs a pending layer's shape function with its inputs' data and sizes its outputs
  // (graph outputs through the output allocators, recorded in `dynamicOut`).
  Status inferPending(const ir::Node& n, const std::map<std::string, void*>& addresses,
                      std::map<int, void*>& dynamicOut);
  std::vector<ir::AlignedBuffer> mBuffers;  // by value id
  bool mPrepared = false;
  // This context's clones of the engine's plugins, configured at prepare(), and one workspace
  // sized for the largest (layers run one after another).
  std::map<const ir::Node*, std::unique_ptr<Plugin>> mPlugins;
  ir::AlignedBuffer mPluginWorkspace;
};

struct ContextImpl {
  std::shared_ptr<EngineImpl> engine;
  Logger* logger = nullptr;
  int profile = 0;
  std::map<std::string, std::vector<int64_t>> inputDims;
  HostValues hostValues;  // shape tensor inputs' values at the last prepare
  std::map<std::string, void*> addresses;
  std::map<std::string, OutputAllocator*> allocators;
  bool shapesDirty = true;
  std::unique_ptr<Executor> executor;
  Profiler* profiler = nullptr;
  ProfilingVerbosity nvtx = ProfilingVerbosity::kNONE;  // setNvtxVerbosity (or $KILN_NVTX)
  std::string lastError;

  bool fail(const Status& s);
  Status ensurePrepared();
  // Reads the shape tensor inputs' values from their (host) addresses; marks the shapes dirty
  // when they changed. Checks them against the profile's bounds.
  Status readShapeTensorValues();
};

}  // namespace kiln::detail
