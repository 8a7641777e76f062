// Executors: run an engine's graph for one set of input shapes on one backend.
//
// Each ExecutionContext owns one executor. prepare() runs when input shapes change: it binds
// the shapes, re-runs shape inference concretely, plans memory and prepares kernels. execute()
// runs the layers: on the CPU synchronously; on the GPU asynchronously on the given stream
// (no allocation, no host synchronization unless `sync`).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/runtime.h"

namespace kiln::detail {

struct EngineImpl;

// Element values of the shape tensor inputs (ir::Value::isShapeTensor), by name, read from the
// host memory the user gave for them.
using HostValues = std::map<std::string, ir::TensorDataPtr>;

class Executor {
 public:
  virtual ~Executor() = default;
  virtual Status prepare(const std::map<std::string, std::vector<int64_t>>& inputDims,
                         const HostValues& hostValues) = 0;
  // Concrete dims of a value after prepare().
  virtual std::vector<int64_t> dimsOf(const ir::Value* v) const = 0;
  // Number of elements of a value after prepare(); never allocates (enqueue paths call it).
  virtual int64_t volumeOf(const ir::Value* v) const = 0;
  // `addresses` maps I/O names to user memory (device memory for GPU engines). `stream` is a
  // cudaStream_t (null: the executor's own stream) and is ignored on the CPU; `sync` waits for
  // the work to finish before returning.
  virtual Status execute(const std::map<std::string, void*>& addresses, void* stream,
                         bool sync) = 0;
  virtual bool prepared() const = 0;
  // True for values whose shape is only known when their layer runs (data-dependent shapes).
  virtual bool dataDependent(const ir::Value*) const { return false; }
  // Per-layer timing of later runs (kiln/runtime.h Profiler); null turns it off.
  void setProfiler(Profiler* p) { mProfiler = p; }
  // NVTX ranges per layer in later runs (GPU executor only; kNONE: off).
  void setNvtxVerbosity(ProfilingVerbosity v) { mNvtx = v; }
  // The context's output allocators (by output name), for outputs with data-dependent shapes.
  void setOutputAllocators(const std::map<std::string, OutputAllocator*>* a) { mAllocators = a; }

 protected:
  Profiler* mProfiler = nullptr;
  ProfilingVerbosity mNvtx = ProfilingVerbosity::kNONE;
  const std::map<std::string, OutputAllocator*>* mAllocators = nullptr;
};

// Binds every graph input's concrete dims (a named dimension shared by two inputs must agree)
// and the shape tensor inputs' values, then re-runs shape inference over the whole graph with
// constants. The table points into `hostValues`, which must outlive it.
// With `pending`, layers whose output shapes depend on tensor data (non-static after inference:
// NonZero, Unique, ... and the layers that consume their outputs) are listed there instead of
// failing; they are inferred when they run (CpuExecutor::execute).
StatusOr<ir::ShapeTable> bindInputShapes(
    const ir::Graph& g, const std::map<std::string, std::vector<int64_t>>& inputDims,
    const HostValues& hostValues, std::vector<const ir::Node*>* pending = nullptr);
// Bytes of a value with concrete shape `info`, with overflow checks and a clear error for sizes
// no machine has.
StatusOr<size_t> tensorBytes(const ir::Value& v, const ir::ValueInfo& info);

std::unique_ptr<Executor> makeCpuExecutor(const EngineImpl& engine);

// Elements of a concrete shape (every dim a constant), without building a dims vector.
inline int64_t volumeOfShape(const ir::Shape& shape) {
  int64_t n = 1;
  for (const ir::DimExpr& d : shape) n *= d.isConst() ? d.constValue() : 0;
  return n;
}

}  // namespace kiln::detail
