// `kiln run` on the GPU (gpu_run.h). Everything CUDA lives in this file, behind KILN_HAVE_CUDA.
#include "gpu_run.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#endif

#include "commands.h"

namespace kiln::cli {

#ifndef KILN_HAVE_CUDA

Status checkCudaDevice() {
  return unsupported(
      "this build has no CUDA backend (reconfigure with -DKILN_ENABLE_CUDA=ON on a "
      "machine with the CUDA toolkit)");
}

StatusOr<PerfReport> benchmarkOnGpu(Engine&, ExecutionContext&, const std::vector<HostTensor>&,
                                    std::vector<HostTensor>&, const RunOptions&) {
  return unsupported("the engine targets the GPU, but this build has no CUDA backend");
}

#else  // KILN_HAVE_CUDA

namespace {

using Clock = std::chrono::steady_clock;

double msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

Status cudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok();
  return internalError("%s failed: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

#define KILN_CLI_CUDA(call) KILN_RETURN_IF_ERROR(cudaStatus((call), #call))

// One I/O tensor of one stream: its device buffer (bound to the context) and its pinned host
// staging buffer (the source of H2D copies, the target of D2H copies).
struct IoBuffer {
  std::string name;
  size_t bytes = 0;
  void* device = nullptr;
  void* pinned = nullptr;
};

// Everything one stream owns. Released in the destructor (after waiting for the stream).
struct StreamSlot {
  int index = 0;
  ExecutionContext* ctx = nullptr;
  std::unique_ptr<ExecutionContext> ownedCtx;  // streams 1..N-1; stream 0 uses the caller's
  cudaStream_t stream = nullptr;
  // start -> [H2D] -> h2dEnd -> enqueue -> computeEnd -> [D2H] -> end
  cudaEvent_t evStart = nullptr, evH2dEnd = nullptr, evComputeEnd = nullptr, evEnd = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t graphExec = nullptr;
  std::string graphFailure;  // why --useCudaGraph fell back to enqueues, if it did
  std::vector<IoBuffer> inputs, outputs;
  std::vector<IterationTiming> timings;
  Status status;

  StreamSlot() = default;
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;

  ~StreamSlot() {
    // Errors are ignored here: this is cleanup, possibly after a failure that was reported.
    if (stream != nullptr) (void)cudaStreamSynchronize(stream);
    if (graphExec != nullptr) (void)cudaGraphExecDestroy(graphExec);
    if (graph != nullptr) (void)cudaGraphDestroy(graph);
    for (cudaEvent_t e : {evStart, evH2dEnd, evComputeEnd, evEnd})
      if (e != nullptr) (void)cudaEventDestroy(e);
    if (stream != nullptr) (void)cudaStreamDestroy(stream);
    ownedCtx.reset();  // before the buffers it is bound to
    for (std::vector<IoBuffer>* list : {&inputs, &outputs}) {
      for (IoBuffer& b : *list) {
        if (b.device != nullptr) (void)cudaFree(b.device);
        if (b.pinned != nullptr) (void)cudaFreeHost(b.pinned);
      }
    }
  }
};

// Allocates a device and a pinned buffer of `bytes` (at least 1 byte, so that empty tensors
// have an address to bind) and binds the device buffer to the context.
Status allocateAndBind(StreamSlot& s, IoBuffer& b) {
  size_t alloc = std::max<size_t>(b.bytes, 1);
  KILN_CLI_CUDA(cudaMalloc(&b.device, alloc));
  KILN_CLI_CUDA(cudaMallocHost(&b.pinned, alloc));
  std::memset(b.pinned, 0, alloc);
  // Shape tensor inputs are read by the context on the host (TensorRT's rule): bind the pinned
  // host copy, which holds the values given with --shapes.
  void* bound = s.ctx->getEngine().isShapeInferenceIO(b.name.c_str()) ? b.pinned : b.device;
  if (!s.ctx->setTensorAddress(b.name.c_str(), bound))
    return internalError("stream %d: cannot bind '%s' to device memory: %s", s.index,
                         b.name.c_str(), s.ctx->getLastError().c_str());
  return Status::ok();
}

// Creates the slot's context (except for stream 0), stream, events and buffers, and uploads the
// inputs once.
Status initSlot(StreamSlot& s, Engine& engine, const std::vector<HostTensor>& inputs,
                const std::vector<HostTensor>& outputs, const RunOptions& run) {
  if (s.ctx == nullptr) {
    s.ownedCtx = engine.createExecutionContext();
    if (!s.ownedCtx)
      return internalError("stream %d: could not create an execution context", s.index);
    s.ctx = s.ownedCtx.get();
    if (run.nvtx && engine.getProfilingVerbosity() != ProfilingVerbosity::kNONE)
      (void)s.ctx->setNvtxVerbosity(engine.getProfilingVerbosity());
    for (const HostTensor& t : inputs)
      if (!s.ctx->setInputShape(t.name.c_str(), t.dims))
        return internalError("stream %d: cannot set the shape of input '%s' to %s: %s", s.index,
                             t.name.c_str(), dimsString(t.dims).c_str(),
                             s.ctx->getLastError().c_str());
    for (const HostTensor& t : outputs) {
      Dims d = s.ctx->getTensorShape(t.name.c_str());
      if (d != t.dims)
        return internalError("stream %d: output '%s' has shape %s, stream 0's has %s", s.index,
                             t.name.c_str(), dimsString(d).c_str(), dimsString(t.dims).c_str());
    }
  }
  KILN_CLI_CUDA(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  KILN_CLI_CUDA(cudaEventCreate(&s.evStart));
  KILN_CLI_CUDA(cudaEventCreate(&s.evH2dEnd));
  KILN_CLI_CUDA(cudaEventCreate(&s.evComputeEnd));
  // The event the host waits on: blocking (the thread sleeps) unless --useSpinWait.
  KILN_CLI_CUDA(cudaEventCreateWithFlags(
      &s.evEnd, run.useSpinWait ? cudaEventDefault : cudaEventBlockingSync));
  for (const HostTensor& t : inputs) {
    IoBuffer& b = s.inputs.emplace_back();
    b.name = t.name;
    b.bytes = t.buffer.size();
    KILN_RETURN_IF_ERROR(allocateAndBind(s, b));
    if (b.bytes > 0) {
      std::memcpy(b.pinned, t.buffer.data(), b.bytes);
      KILN_CLI_CUDA(cudaMemcpyAsync(b.device, b.pinned, b.bytes, cudaMemcpyHostToDevice, s.stream));
    }
  }
  for (const HostTensor& t : outputs) {
    IoBuffer& b = s.outputs.emplace_back();
    b.name = t.name;
    b.bytes = t.buffer.size();
    KILN_RETURN_IF_ERROR(allocateAndBind(s, b));
  }
  KILN_CLI_CUDA(cudaStreamSynchronize(s.stream));
  return Status::ok();
}

Status waitFor(cudaEvent_t e, bool spin) {
  if (!spin) return cudaStatus(cudaEventSynchronize(e), "waiting for the inference");
  cudaError_t err;
  while ((err = cudaEventQuery(e)) == cudaErrorNotReady) {
  }
  return cudaStatus(err, "waiting for the inference");
}

// One inference on the slot's stream; fills `timing` when given.
Status inferOnce(StreamSlot& s, const RunOptions& run, IterationTiming* timing,
                 Clock::time_point origin) {
  const bool transfers = !run.noDataTransfers;
  Clock::time_point start = Clock::now();
  KILN_CLI_CUDA(cudaEventRecord(s.evStart, s.stream));
  if (transfers)
    for (const IoBuffer& b : s.inputs)
      if (b.bytes > 0)
        KILN_CLI_CUDA(
            cudaMemcpyAsync(b.device, b.pinned, b.bytes, cudaMemcpyHostToDevice, s.stream));
  KILN_CLI_CUDA(cudaEventRecord(s.evH2dEnd, s.stream));
  Clock::time_point enqStart = Clock::now();
  if (s.graphExec != nullptr) {
    KILN_CLI_CUDA(cudaGraphLaunch(s.graphExec, s.stream));
  } else if (!s.ctx->enqueueV3(s.stream)) {
    return invalidArgument("inference failed (stream %d): %s", s.index,
                           s.ctx->getLastError().c_str());
  }
  Clock::time_point enqEnd = Clock::now();
  KILN_CLI_CUDA(cudaEventRecord(s.evComputeEnd, s.stream));
  if (transfers)
    for (const IoBuffer& b : s.outputs)
      if (b.bytes > 0)
        KILN_CLI_CUDA(
            cudaMemcpyAsync(b.pinned, b.device, b.bytes, cudaMemcpyDeviceToHost, s.stream));
  KILN_CLI_CUDA(cudaEventRecord(s.evEnd, s.stream));
  Status waited = waitFor(s.evEnd, run.useSpinWait);
  if (!waited.isOk())
    return waited.withContext(strFormat("inference on the GPU (stream %d)", s.index));
  Clock::time_point end = Clock::now();
  if (timing != nullptr) {
    float h2d = 0, compute = 0, d2h = 0;
    KILN_CLI_CUDA(cudaEventElapsedTime(&compute, s.evH2dEnd, s.evComputeEnd));
    if (transfers) {
      KILN_CLI_CUDA(cudaEventElapsedTime(&h2d, s.evStart, s.evH2dEnd));
      KILN_CLI_CUDA(cudaEventElapsedTime(&d2h, s.evComputeEnd, s.evEnd));
    }
    timing->startMs = msBetween(origin, start);
    timing->endMs = msBetween(origin, end);
    timing->enqStartMs = msBetween(origin, enqStart);
    timing->enqueueMs = msBetween(enqStart, enqEnd);
    timing->h2dMs = h2d;
    timing->computeMs = compute;
    timing->d2hMs = d2h;
    timing->latencyMs = timing->h2dMs + timing->computeMs + timing->d2hMs;
    timing->stream = s.index;
  }
  return Status::ok();
}

// Untimed inferences for run.warmUpMs, and at least one: the first enqueue after the shapes are
// set may do one-time work, which must not land in a graph capture or in the timings.
Status warmUp(StreamSlot& s, const RunOptions& run, int64_t* count) {
  Clock::time_point start = Clock::now();
  *count = 0;
  do {
    KILN_RETURN_IF_ERROR(inferOnce(s, run, nullptr, start));
    ++*count;
  } while (msBetween(start, Clock::now()) < run.warmUpMs);
  return Status::ok();
}

// Captures one enqueueV3() into a graph and replays it once. A capture the runtime cannot do
// leaves graphFailure set (the caller warns and the slot keeps using enqueues); an error in the
// replay of an instantiated graph is a real failure.
Status captureGraph(StreamSlot& s) {
  cudaError_t e = cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    s.graphFailure = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(e);
    return Status::ok();
  }
  bool enqueued = s.ctx->enqueueV3(s.stream);
  cudaGraph_t graph = nullptr;
  e = cudaStreamEndCapture(s.stream, &graph);
  if (!enqueued) {
    s.graphFailure = "enqueueV3() failed while capturing: " + s.ctx->getLastError();
  } else if (e != cudaSuccess || graph == nullptr) {
    s.graphFailure = std::string("cudaStreamEndCapture: ") +
                     (e != cudaSuccess ? cudaGetErrorString(e) : "no graph");
  } else if ((e = cudaGraphInstantiate(&s.graphExec, graph, 0)) != cudaSuccess) {
    s.graphExec = nullptr;
    s.graphFailure = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(e);
  }
  if (!s.graphFailure.empty()) {
    if (graph != nullptr) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // capture errors are not sticky; clear them
    return Status::ok();
  }
  s.graph = graph;
  KILN_CLI_CUDA(cudaGraphUpload(s.graphExec, s.stream));
  KILN_CLI_CUDA(cudaGraphLaunch(s.graphExec, s.stream));
  KILN_CLI_CUDA(cudaStreamSynchronize(s.stream));
  return Status::ok();
}

void printDevice() {
  int dev = 0;
  cudaDeviceProp p{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return;
  }
  std::printf("GPU %d: %s (sm_%d%d, %d SMs, %.1f GiB)\n", dev, p.name, p.major, p.minor,
              p.multiProcessorCount, static_cast<double>(p.totalGlobalMem) / (1 << 30));
}

}  // namespace

Status checkCudaDevice() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return unsupported(
        "--device=cuda: no usable CUDA GPU on this machine (%s: %s); use "
        "--device=cpu",
        cudaGetErrorName(e), cudaGetErrorString(e));
  }
  if (n == 0) return unsupported("--device=cuda: no CUDA GPU on this machine; use --device=cpu");
  return Status::ok();
}

StatusOr<PerfReport> benchmarkOnGpu(Engine& engine, ExecutionContext& first,
                                    const std::vector<HostTensor>& inputs,
                                    std::vector<HostTensor>& outputs, const RunOptions& run) {
  KILN_RETURN_IF_ERROR(checkCudaDevice());
  printDevice();
  const int n = run.streams;
  int device = 0;
  KILN_CLI_CUDA(cudaGetDevice(&device));
  std::vector<std::unique_ptr<StreamSlot> > slots;
  for (int i = 0; i < n; ++i) {
    auto s = std::make_unique<StreamSlot>();
    s->index = i;
    if (i == 0) s->ctx = &first;
    KILN_RETURN_IF_ERROR(initSlot(*s, engine, inputs, outputs, run));
    slots.push_back(std::move(s));
  }

  // Runs `fn(slot)` on every slot, one thread each (on this thread's device), and returns the
  // first failure.
  auto onEveryStream = [&](auto fn) -> Status {
    std::vector<std::thread> threads;
    threads.reserve(slots.size());
    for (auto& s : slots)
      threads.emplace_back([&fn, device, slot = s.get()] {
        slot->status = cudaStatus(cudaSetDevice(device), "cudaSetDevice");
        if (slot->status.isOk()) slot->status = fn(*slot);
      });
    for (std::thread& t : threads) t.join();
    for (auto& s : slots)
      if (!s->status.isOk()) return s->status;
    return Status::ok();
  };

  // Warm-up, all streams at once (the GPU warms up under the load it is timed with).
  std::vector<int64_t> warmRuns(slots.size(), 0);
  Clock::time_point warmStart = Clock::now();
  KILN_RETURN_IF_ERROR(
      onEveryStream([&](StreamSlot& s) { return warmUp(s, run, &warmRuns[s.index]); }));
  int64_t totalWarm = 0;
  for (int64_t w : warmRuns) totalWarm += w;
  std::printf("Warm-up: %lld inferences in %.3f ms\n", static_cast<long long>(totalWarm),
              msBetween(warmStart, Clock::now()));

  // Graph capture, one stream after the other from this thread.
  bool allGraphs = run.useCudaGraph;
  if (run.useCudaGraph) {
    for (auto& s : slots) {
      KILN_RETURN_IF_ERROR(captureGraph(*s));
      if (!s->graphFailure.empty()) {
        allGraphs = false;
        reportWarning(
            strFormat("--useCudaGraph: capturing enqueueV3() into a CUDA graph failed "
                      "on stream %d (%s); timing plain enqueues on it instead",
                      s->index, s->graphFailure.c_str()));
      }
    }
    if (allGraphs) std::printf("CUDA graph captured (one per stream)\n");
  }
  std::fflush(stdout);

  // Timed phase: every thread starts when all are ready (the barrier's completion sets the
  // common origin) and runs until it has done run.iterations and run.durationS has passed, or
  // another stream failed.
  Clock::time_point origin;
  auto setOrigin = [&origin]() noexcept { origin = Clock::now(); };
  std::barrier startLine(static_cast<std::ptrdiff_t>(n), setOrigin);
  std::atomic<bool> failed{false};
  const double durationMs = run.durationS * 1000.0;
  KILN_RETURN_IF_ERROR(onEveryStream([&](StreamSlot& s) -> Status {
    s.timings.reserve(4096);
    startLine.arrive_and_wait();
    while (!failed.load(std::memory_order_relaxed)) {
      if (static_cast<int64_t>(s.timings.size()) >= run.iterations &&
          msBetween(origin, Clock::now()) >= durationMs)
        break;
      IterationTiming t;
      Status st = inferOnce(s, run, &t, origin);
      if (!st.isOk()) {
        failed = true;
        return st;
      }
      s.timings.push_back(t);
    }
    return Status::ok();
  }));

  PerfReport report;
  report.onGpu = true;
  report.noDataTransfers = run.noDataTransfers;
  report.cudaGraph = run.useCudaGraph && allGraphs;
  report.streams = n;
  for (auto& s : slots)
    report.iterations.insert(report.iterations.end(), s->timings.begin(), s->timings.end());
  std::sort(
      report.iterations.begin(), report.iterations.end(),
      [](const IterationTiming& a, const IterationTiming& b) { return a.startMs < b.startMs; });
  double firstStart = report.iterations.front().startMs, lastEnd = 0;
  for (const IterationTiming& t : report.iterations) lastEnd = std::max(lastEnd, t.endMs);
  report.walltimeMs = lastEnd - firstStart;

  // Outputs of stream 0's last inference, through its pinned buffers.
  StreamSlot& s0 = *slots[0];
  for (size_t i = 0; i < s0.outputs.size(); ++i) {
    const IoBuffer& b = s0.outputs[i];
    if (b.bytes == 0) continue;
    KILN_CLI_CUDA(cudaMemcpyAsync(b.pinned, b.device, b.bytes, cudaMemcpyDeviceToHost, s0.stream));
  }
  KILN_CLI_CUDA(cudaStreamSynchronize(s0.stream));
  for (size_t i = 0; i < s0.outputs.size(); ++i)
    if (s0.outputs[i].bytes > 0)
      std::memcpy(outputs[i].buffer.data(), s0.outputs[i].pinned, s0.outputs[i].bytes);
  // Per-layer profile: plain enqueues on stream 0 (a profiled enqueue waits for the GPU).
  if (run.profiler) {
    s0.ctx->setProfiler(run.profiler);
    for (int64_t i = 0; i < std::max<int64_t>(run.iterations, 10); ++i)
      if (!s0.ctx->enqueueV3(s0.stream))
        return internalError("profiling run: %s", s0.ctx->getLastError().c_str());
    s0.ctx->setProfiler(nullptr);
  }
  return report;
}

#endif  // KILN_HAVE_CUDA

}  // namespace kiln::cli
