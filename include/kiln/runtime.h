// Runtime, Engine and ExecutionContext: load a plan and run it.
//
//   auto runtime = kiln::Runtime::create(logger);
//   std::unique_ptr<kiln::Engine> engine = runtime->deserializeEngine(plan.data(), plan.size());
//   auto context = engine->createExecutionContext();
//   context->setInputShape("x", {8, 3, 224, 224});
//   context->setTensorAddress("x", input);     // host memory on the CPU backend
//   context->setTensorAddress("y", output);    // sized from context->getTensorShape("y")
//   bool ok = context->executeV2();
//
// The engine is immutable and shared: weights live once, and any number of contexts (one per
// thread) run it concurrently, each with its own activation memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kiln/builder.h"
#include "kiln/types.h"

namespace kiln {

namespace detail {
struct EngineImpl;
struct ContextImpl;
}  // namespace detail

class ExecutionContext;

class Engine {
 public:
  ~Engine();
  int getNbIOTensors() const;
  const char* getIOTensorName(int index) const;          // null when out of range
  TensorIOMode getTensorIOMode(const char* name) const;  // kNONE for unknown names
  DataType getTensorDataType(const char* name) const;
  // Shape with -1 for dynamic dims (nbDims = -1 for unknown names).
  Dims getTensorShape(const char* name) const;
  // Symbolic shape, e.g. "[batch,3,224,224]".
  std::string getTensorShapeString(const char* name) const;
  int getNbOptimizationProfiles() const;
  Dims getProfileShape(const char* inputName, int profileIndex, OptProfileSelector select) const;
  // True for shape tensor inputs (TensorRT's name): inputs whose element values decide output
  // shapes (a Reshape target, Resize sizes/scales, Reduce axes, TopK k, ...). Their address
  // (setTensorAddress) must be HOST memory, also for GPU engines; the context reads the values
  // at getTensorShape and at each execution, and re-plans when they change.
  bool isShapeInferenceIO(const char* name) const;
  // min/opt/max element values of a shape tensor input in a profile; empty when not given.
  std::vector<int64_t> getProfileTensorValues(const char* inputName, int profileIndex,
                                              OptProfileSelector select) const;
  int getNbLayers() const;
  DeviceType getDeviceType() const;
  // One line per layer, or a JSON document when `json` is true. What it holds depends on the
  // plan's profiling verbosity: everything (kDETAILED), the names (kLAYER_NAMES_ONLY: one per
  // line; JSON {"profilingVerbosity": ..., "layers": ["name", ...]}) or nothing (kNONE: a
  // sentence saying so; JSON {"profilingVerbosity": "none", "layers": null}).
  std::string getLayerInformation(bool json) const;
  // The profiling verbosity the plan was built with (BuilderConfig::setProfilingVerbosity).
  ProfilingVerbosity getProfilingVerbosity() const;

  std::unique_ptr<ExecutionContext> createExecutionContext();
  std::unique_ptr<HostMemory> serialize() const;

  detail::EngineImpl& impl() { return *mImpl; }
  const detail::EngineImpl& impl() const { return *mImpl; }

 private:
  friend class Runtime;
  explicit Engine(std::shared_ptr<detail::EngineImpl> impl);
  std::shared_ptr<detail::EngineImpl> mImpl;
};

// Per-layer timing, like TensorRT's IProfiler: set one on a context and every run reports each
// layer's time once the run is complete, in execution order. On the GPU the layer times come
// from CUDA events around each layer and the run waits for the GPU before reporting (so
// profiling makes enqueueV3 synchronous; do not profile inside a CUDA graph capture).
class Profiler {
 public:
  virtual ~Profiler() = default;
  virtual void reportLayerTime(const char* layerName, float ms) noexcept = 0;
};

// Memory for outputs whose shape depends on input data (NonZero, Unique, NonMaxSuppression,
// Compress and layers after them), like TensorRT's IOutputAllocator: the engine reports -1 for
// such dims, and during execution the context asks the allocator for memory once the size is
// known, then tells it the shape. CPU backend only for now.
class OutputAllocator {
 public:
  virtual ~OutputAllocator() = default;
  // Memory of at least `size` bytes aligned to `alignment` (may return `currentMemory` when it
  // is large enough; null = failure, which fails the execution). Called once per execution.
  virtual void* reallocateOutput(const char* tensorName, void* currentMemory, uint64_t size,
                                 uint64_t alignment) noexcept = 0;
  // The output's shape in this execution (after reallocateOutput).
  virtual void notifyShape(const char* tensorName, const Dims& dims) noexcept = 0;
};

class ExecutionContext {
 public:
  ~ExecutionContext();
  // Sets the allocator of an output (null: none). Required for outputs with data-dependent
  // dims; the allocator must outlive its use.
  bool setOutputAllocator(const char* name, OutputAllocator* allocator);
  OutputAllocator* getOutputAllocator(const char* name) const;
  // Selects the profile whose bounds apply to setInputShape (default 0).
  bool setOptimizationProfile(int index);
  int getOptimizationProfile() const;
  // Sets the shape of an input; fails (with a message) when it is outside the profile or
  // contradicts the input's static dims.
  bool setInputShape(const char* name, const Dims& dims);
  // Resolved shape of any I/O tensor once all input shapes are set (-1 dims before).
  Dims getTensorShape(const char* name) const;
  bool allInputDimensionsSpecified() const;
  // Binds memory for an input or output. On the CPU backend, host memory.
  bool setTensorAddress(const char* name, void* data);
  void* getTensorAddress(const char* name) const;
  // Runs the network synchronously.
  bool executeV2();
  // Runs on a CUDA stream (cudaStream_t); on the CPU backend runs synchronously.
  bool enqueueV3(void* stream);
  const std::string& getLastError() const;
  const Engine& getEngine() const { return mEngine; }
  // Per-layer timing of the following runs (null: off). The profiler must outlive its use.
  void setProfiler(Profiler* profiler);
  Profiler* getProfiler() const;
  // NVTX ranges around each layer of the following GPU runs, named after the layer
  // (kLAYER_NAMES_ONLY) or also with its type, precision and tactic (kDETAILED), so Nsight
  // Systems timelines show Kiln's layers. Off (kNONE) by default, unless the environment
  // variable KILN_NVTX is set (not "0") when the context is created: then the engine's
  // verbosity. A verbosity above the engine's is lowered to it; asking for ranges from an
  // engine built with kNONE fails. The CPU backend emits none. Ranges are pushed when layers are
  // enqueued, so a CUDA graph replay (captured once) shows none.
  bool setNvtxVerbosity(ProfilingVerbosity verbosity);
  ProfilingVerbosity getNvtxVerbosity() const;

 private:
  friend class Engine;
  ExecutionContext(Engine& engine, std::unique_ptr<detail::ContextImpl> impl);
  Engine& mEngine;
  std::unique_ptr<detail::ContextImpl> mImpl;
};

class Runtime {
 public:
  static std::unique_ptr<Runtime> create(Logger& logger);
  // Loads a plan. Null on error: truncated, corrupted, other version or other device; the
  // message (getLastError(), logger) says what differs and what to do.
  std::unique_ptr<Engine> deserializeEngine(const void* data, size_t size);
  const std::string& getLastError() const { return mLastError; }
  Logger& getLogger() const { return mLogger; }

 private:
  explicit Runtime(Logger& logger) : mLogger(logger) {}
  Logger& mLogger;
  std::string mLastError;
};

}  // namespace kiln
