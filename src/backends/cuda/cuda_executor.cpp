// The CUDA executor: runs an engine's graph on the GPU (see runtime/executor.h), plus the bridge
// functions of runtime/gpu_backend.h.
//
// Memory (per execution context): every activation that is neither a network input/output nor
// a constant lives in one arena, at an offset chosen by liveness (a value occupies its bytes
// from the step that writes it to the last step that reads it; values whose lifetimes do not
// overlap share bytes; greedy first-fit, largest first). Shape computations that inference
// resolves on the host (Shape -> Gather -> Concat chains feeding Reshape, ...) are written once
// at prepare into a small buffer and never run as kernels. Weights live once per engine
// (EngineResources), shared by all contexts. One workspace serves every layer (layers run one
// after another on one stream). enqueue allocates nothing and never waits for the GPU.
#include <cublasLt.h>
#include <cudnn.h>
// NVTX v3 (header-only, from the CUDA toolkit): per-layer ranges (ExecutionContext::
// setNvtxVerbosity). Without a tool attached (Nsight Systems) each call is a cheap no-op.
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cuda/cuda_kernel.h"
#include "common/half.h"
#include "common/logging.h"
#include "runtime/engine_impl.h"
#include "runtime/gpu_backend.h"
#include "runtime/memory_plan.h"
#include "runtime/timing_cache.h"

namespace kiln::cuda {

namespace {

constexpr size_t kAlign = 256;
size_t alignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

StatusOr<DeviceProps> queryDevice(int device) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    return unsupported(
        "no usable CUDA GPU: cudaGetDeviceCount returned %s (%d GPUs); use --device=cpu on "
        "this machine",
        err == cudaSuccess ? "success" : cudaGetErrorString(err), count);
  }
  if (device < 0 || device >= count)
    return invalidArgument("GPU %d does not exist (this machine has %d)", device, count);
  cudaDeviceProp p{};
  KILN_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&p, device));
  DeviceProps d;
  d.device = device;
  d.name = p.name;
  d.smMajor = p.major;
  d.smMinor = p.minor;
  d.smCount = p.multiProcessorCount;
  d.sharedMemPerBlockOptin = p.sharedMemPerBlockOptin;
  d.totalGlobalMem = p.totalGlobalMem;
  return d;
}

std::string libraryVersions() {
  int rt = 0;
  (void)cudaRuntimeGetVersion(&rt);
  size_t dnn = cudnnGetVersion();
  size_t lt = cublasLtGetVersion();
  return strFormat("cuda=%d.%d cudnn=%zu.%zu.%zu cublasLt=%zu.%zu.%zu", rt / 1000, (rt % 1000) / 10,
                   dnn / 10000, (dnn % 10000) / 100, dnn % 100, lt / 10000, (lt % 10000) / 100,
                   lt % 100);
}

// Writes integer `v` as element i of a buffer of `dtype` (shape values resolved on the host).
Status storeInt(DataType dtype, void* data, int64_t i, int64_t v) {
  switch (dtype) {
    case DataType::kINT64: static_cast<int64_t*>(data)[i] = v; return Status::ok();
    case DataType::kINT32:
      static_cast<int32_t*>(data)[i] = static_cast<int32_t>(v);
      return Status::ok();
    case DataType::kINT16:
      static_cast<int16_t*>(data)[i] = static_cast<int16_t>(v);
      return Status::ok();
    case DataType::kINT8:
      static_cast<int8_t*>(data)[i] = static_cast<int8_t>(v);
      return Status::ok();
    case DataType::kUINT8:
      static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(v);
      return Status::ok();
    case DataType::kUINT16:
      static_cast<uint16_t*>(data)[i] = static_cast<uint16_t>(v);
      return Status::ok();
    case DataType::kUINT32:
      static_cast<uint32_t*>(data)[i] = static_cast<uint32_t>(v);
      return Status::ok();
    case DataType::kUINT64:
      static_cast<uint64_t*>(data)[i] = static_cast<uint64_t>(v);
      return Status::ok();
    case DataType::kBOOL: static_cast<uint8_t*>(data)[i] = v != 0; return Status::ok();
    case DataType::kFLOAT:
      static_cast<float*>(data)[i] = static_cast<float>(v);
      return Status::ok();
    case DataType::kDOUBLE:
      static_cast<double*>(data)[i] = static_cast<double>(v);
      return Status::ok();
    case DataType::kHALF:
      static_cast<Half*>(data)[i] = Half(static_cast<float>(v));
      return Status::ok();
    case DataType::kBF16:
      static_cast<BFloat16*>(data)[i] = BFloat16(static_cast<float>(v));
      return Status::ok();
    default: break;
  }
  return unsupported("a shape value of type %s cannot be materialized on the GPU",
                     dataTypeName(dtype));
}

// A node whose outputs are shape computations at build time (symbolic values known).
bool resolvedAtBuild(const ir::Node& n) {
  if (n.op == ir::OpKind::kPlugin || n.outputs.empty()) return false;
  for (const ir::Value* out : n.outputs)
    if (!out->shapeValue) return false;
  return true;
}

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { release(); }
  void release() {
    if (mPtr) (void)cudaFree(mPtr);
    mPtr = nullptr;
    mBytes = 0;
  }
  // Grows (never shrinks) to at least `bytes`; contents are not kept.
  Status reserve(size_t bytes, const char* what) {
    if (bytes <= mBytes) return Status::ok();
    release();
    cudaError_t err = cudaMalloc(&mPtr, bytes);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      mPtr = nullptr;
      size_t freeB = 0, totalB = 0;
      (void)cudaMemGetInfo(&freeB, &totalB);
      return resourceExhausted("out of GPU memory: %s needs %zu bytes, %zu of %zu are free (%s)",
                               what, bytes, freeB, totalB, cudaGetErrorString(err));
    }
    mBytes = bytes;
    return Status::ok();
  }
  void* data() const { return mPtr; }
  size_t size() const { return mBytes; }

 private:
  void* mPtr = nullptr;
  size_t mBytes = 0;
};

}  // namespace

// Per-engine GPU state: the weights, uploaded once.
struct EngineResources {
  DeviceProps props;
  std::vector<void*> weights;  // by value id; constants only
  void* dummy = nullptr;       // a non-null pointer for empty tensors
  size_t weightBytes = 0;
  ~EngineResources() {
    for (void* p : weights)
      if (p) (void)cudaFree(p);
    if (dummy) (void)cudaFree(dummy);
  }
};

class CudaExecutor final : public detail::Executor {
 public:
  CudaExecutor(const detail::EngineImpl& engine, std::shared_ptr<EngineResources> res)
      : mEngine(engine), mRes(std::move(res)) {}
  ~CudaExecutor() override {
    mKernels.clear();
    mLibs.reset();
    if (mStream) (void)cudaStreamDestroy(mStream);
    for (cudaEvent_t e : mEvents) (void)cudaEventDestroy(e);
  }

  Status init() {
    KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(mRes->props.device));
    // A blocking stream: executeV2 (which runs here) then sees the caller's earlier work on the
    // legacy default stream (cudaMemset/cudaMemcpyAsync without a stream), as users expect of a
    // synchronous call. enqueueV3 runs on the caller's stream, ordered by the caller.
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&mStream, cudaStreamDefault));
    mLibs = std::make_unique<CudaLibs>(mRes->props);
    const char* v = std::getenv("KILN_VALIDATE");
    mValidate = v && *v && std::strcmp(v, "0") != 0;
    return Status::ok();
  }

  bool prepared() const override { return mPrepared; }
  int64_t volumeOf(const ir::Value* v) const override {
    return detail::volumeOfShape(mTable[v->id].shape);
  }
  std::vector<int64_t> dimsOf(const ir::Value* v) const override {
    return ir::staticDims(mTable[v->id].shape);
  }

  Status prepare(const std::map<std::string, std::vector<int64_t>>& inputDims,
                 const detail::HostValues& hostValues) override;
  Status execute(const std::map<std::string, void*>& addresses, void* stream, bool sync) override;

  // Tactic timing (the builder): set before prepare, so that kernels prepare every alternative.
  void setTuning(bool on) { mTuning = on; }
  // After a tuning prepare: runs the network once on zeroed inputs, then times each layer's
  // tactics and selects the fastest (entries of `cache` under keyPrefix + timingKey() are used
  // without timing; new results are added).
  Status tuneTactics(detail::TimingCache* cache, const std::string& keyPrefix,
                     detail::TacticTimingReport& report);

 private:
  enum class Where : uint8_t { kNone, kConst, kIO, kResolved, kArena, kEmpty };
  struct Loc {
    Where where = Where::kNone;
    size_t offset = 0;  // arena / resolved offset
    int io = -1;        // index into mEngine.io
  };
  struct Step {
    const ir::Node* node = nullptr;
    CudaKernel* kernel = nullptr;
    std::vector<CudaTensor> ins, outs;
    std::vector<int> inIO, outIO;  // index into mEngine.io, or -1
    std::string nvtxDetailed;      // "name (Op, precision, tactic)": NVTX range at kDETAILED
  };
  struct Copy {
    int dstIO = -1;
    const void* src = nullptr;  // device memory owned by the executor or engine
    int srcIO = -1;             // or another I/O tensor
    size_t bytes = 0;
  };

  void* pointerOf(const ir::Value* v) const;
  // KILN_VALIDATE=1: after each layer, waits for the GPU, re-runs the layer on the CPU (the
  // oracle) on the GPU's own inputs and logs every layer whose outputs disagree. A debugging
  // mode: it synchronizes and allocates, so it is never on unless asked.
  Status validateStep(const Step& st, cudaStream_t stream);
  bool mValidate = false;
  int mValidateReports = 0;

  const detail::EngineImpl& mEngine;
  std::shared_ptr<EngineResources> mRes;
  std::unique_ptr<CudaLibs> mLibs;
  cudaStream_t mStream = nullptr;
  std::map<const ir::Node*, std::unique_ptr<CudaKernel>> mKernels;
  std::vector<Step> mSteps;
  std::vector<Copy> mCopies;
  std::vector<Loc> mLocs;  // by value id
  std::vector<void*> mIOPtrs;
  std::vector<cudaEvent_t> mEvents;  // profiling only
  detail::HostValues mHostValues;    // shape tensor values mTable points into
  ir::ShapeTable mTable;
  DeviceBuffer mArena, mResolved, mWorkspace;
  size_t mWorkspaceBytes = 0;
  bool mPrepared = false;
  bool mTuning = false;
};

void* CudaExecutor::pointerOf(const ir::Value* v) const {
  const Loc& l = mLocs[static_cast<size_t>(v->id)];
  switch (l.where) {
    case Where::kConst: return mRes->weights[static_cast<size_t>(v->id)];
    case Where::kResolved: return static_cast<char*>(mResolved.data()) + l.offset;
    case Where::kArena: return static_cast<char*>(mArena.data()) + l.offset;
    case Where::kEmpty: return mRes->dummy;
    case Where::kIO:
    case Where::kNone: return nullptr;
  }
  return nullptr;
}

Status CudaExecutor::prepare(const std::map<std::string, std::vector<int64_t>>& inputDims,
                             const detail::HostValues& hostValues) {
  mPrepared = false;
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(mRes->props.device));
  const ir::Graph& g = *mEngine.plan.graph;
  mHostValues = hostValues;  // the table points into them
  KILN_ASSIGN_OR_RETURN(ir::ShapeTable table, detail::bindInputShapes(g, inputDims, mHostValues));
  const size_t numValues = g.valueCapacity();
  std::vector<Loc> locs(numValues);
  std::vector<size_t> bytes(numValues, 0);
  for (size_t i = 0; i < mEngine.io.size(); ++i) {
    Loc& l = locs[static_cast<size_t>(mEngine.io[i].value->id)];
    l.where = Where::kIO;
    l.io = static_cast<int>(i);
  }
  for (const ir::Value* v : g.values()) {
    const ir::ValueInfo& info = table[v->id];
    if (!info.known) continue;
    if (!ir::isStatic(info.shape))
      return unsupported(
          "tensor '%s' has no concrete shape after binding inputs (%s): its shape "
          "depends on tensor data (NonZero, Unique, ...), which only the CPU "
          "backend runs for now",
          v->name.c_str(), ir::shapeToString(info.shape).c_str());
    KILN_ASSIGN_OR_RETURN(bytes[static_cast<size_t>(v->id)], detail::tensorBytes(*v, info));
    Loc& l = locs[static_cast<size_t>(v->id)];
    if (l.where == Where::kIO) continue;
    if (v->isConstant()) l.where = Where::kConst;
  }

  // Which nodes run as kernels; the others' outputs are materialized from host values.
  std::vector<const ir::Node*> run;
  std::vector<uint8_t> staging;
  std::map<int, size_t> resolvedOffsets;  // value id -> offset in mResolved
  // Shape tensor inputs live in host memory (TensorRT's rule); kernels that read them as data
  // read the device copy made here (re-made whenever their values change).
  for (const ir::Value* in : g.inputs()) {
    if (!in->isShapeTensor) continue;
    const ir::ValueInfo& info = table[in->id];
    if (!info.constant)
      return internalError("shape tensor input '%s' has no values", in->name.c_str());
    size_t off = alignUp(staging.size());
    size_t nbytes = bytes[static_cast<size_t>(in->id)];
    staging.resize(off + alignUp(std::max<size_t>(nbytes, 1)));
    std::memcpy(staging.data() + off, info.constant->data(), nbytes);
    resolvedOffsets[in->id] = off;
  }
  for (const ir::Node* n : mEngine.order) {
    if (!detail::resolvedOnHost(*n, table)) {
      run.push_back(n);
      continue;
    }
    for (const ir::Value* out : n->outputs) {
      Loc& l = locs[static_cast<size_t>(out->id)];
      const ir::ValueInfo& info = table[out->id];
      size_t off = alignUp(staging.size());
      size_t nbytes = bytes[static_cast<size_t>(out->id)];
      staging.resize(off + alignUp(std::max<size_t>(nbytes, 1)));
      for (size_t k = 0; k < info.value->size(); ++k)
        KILN_RETURN_IF_ERROR(storeInt(info.dtype, staging.data() + off, static_cast<int64_t>(k),
                                      (*info.value)[k].constValue()));
      resolvedOffsets[out->id] = off;
      if (l.where == Where::kIO) continue;  // a network output: copied at execute (below)
      l.where = Where::kResolved;
      l.offset = off;
    }
  }

  // Liveness over the executed steps, then first-fit placement, largest first
  // (runtime/memory_plan.h; the builder reports the same plan at the profile's opt shapes).
  std::vector<bool> external(numValues, false);
  for (size_t id = 0; id < numValues; ++id) external[id] = locs[id].where != Where::kNone;
  // Reshape-like layers whose output can share their input's memory run no kernel.
  const size_t layersBeforeAliasing = run.size();
  const std::vector<int> aliasRoot = detail::foldAliases(run, bytes, external);
  std::vector<detail::ActivationRequest> requests =
      detail::activationRequests(run, bytes, external, &aliasRoot);
  detail::ActivationPlan aplan = detail::planOffsets(requests, kAlign);
  for (size_t r = 0; r < requests.size(); ++r) {
    Loc& l = locs[static_cast<size_t>(requests[r].valueId)];
    l.where = Where::kArena;
    l.offset = aplan.offsets[r];
  }
  // Zero-byte activations get the engine's non-null dummy pointer.
  for (const ir::Node* n : run)
    for (const ir::Value* out : n->outputs)
      if (locs[static_cast<size_t>(out->id)].where == Where::kNone &&
          bytes[static_cast<size_t>(out->id)] == 0)
        locs[static_cast<size_t>(out->id)].where = Where::kEmpty;
  for (size_t id = 0; id < numValues; ++id)
    if (aliasRoot[id] >= 0) locs[id] = locs[static_cast<size_t>(aliasRoot[id])];
  const size_t arenaBytes = aplan.totalBytes;
  const size_t naive = aplan.naiveBytes;
  for (size_t id = 0; id < numValues; ++id)
    if (locs[id].where == Where::kConst && bytes[id] == 0) locs[id].where = Where::kEmpty;

  KILN_RETURN_IF_ERROR(
      mArena.reserve(std::max<size_t>(arenaBytes, kAlign), "the activation memory"));
  KILN_RETURN_IF_ERROR(mResolved.reserve(std::max<size_t>(staging.size(), kAlign), "shape values"));
  if (!staging.empty())
    KILN_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(mResolved.data(), staging.data(), staging.size(), cudaMemcpyHostToDevice));
  mLocs = std::move(locs);
  mTable = std::move(table);

  // Kernels: created once per node, prepared for these shapes.
  std::vector<Step> steps;
  steps.reserve(run.size());
  size_t workspace = 0;
  for (const ir::Node* n : run) {
    std::unique_ptr<CudaKernel>& k = mKernels[n];
    if (!k) {
      CudaKernelFactory f = cudaKernels()[static_cast<size_t>(n->op)];
      if (!f)
        return unsupported("%s: the CUDA backend has no kernel for op %s", n->describe().c_str(),
                           ir::opName(n->op));
      KILN_ASSIGN_OR_RETURN(k, f(*n));
    }
    Step st;
    st.node = n;
    st.kernel = k.get();
    {
      const std::string tactic = n->attrs.getString("tactic", "");
      st.nvtxDetailed =
          n->name + " (" + ir::opName(n->op) +
          (n->outputs.empty() ? "" : ", " + std::string(dataTypeName(n->outputs[0]->dtype))) +
          (tactic.empty() ? "" : ", tactic " + tactic) + ")";
    }
    auto tensorOf = [&](const ir::Value* v, int* io) {
      CudaTensor t;
      *io = -1;
      if (!v) return t;
      const ir::ValueInfo& info = mTable[v->id];
      t.dtype = info.dtype;
      t.dims = ir::staticDims(info.shape);
      const Loc& l = mLocs[static_cast<size_t>(v->id)];
      auto rit = resolvedOffsets.find(v->id);
      if (rit != resolvedOffsets.end()) {
        // Host-resolved values (network outputs among them) are read from the resolved buffer.
        t.data = static_cast<char*>(mResolved.data()) + rit->second;
      } else if (l.where == Where::kIO) {
        *io = l.io;
      } else {
        t.data = pointerOf(v);
      }
      return t;
    };
    for (const ir::Value* v : n->inputs) {
      int io;
      st.ins.push_back(tensorOf(v, &io));
      st.inIO.push_back(io);
    }
    for (const ir::Value* v : n->outputs) {
      int io;
      st.outs.push_back(tensorOf(v, &io));
      st.outIO.push_back(io);
    }
    PrepareContext pc{*n, mTable, st.ins, st.outs, *mLibs};
    pc.tuning = mTuning;
    Status ps = k->prepare(pc);
    // The plan's tactic (kernels that honour it prepared only it; the others, with several
    // alternatives, switch to it here).
    if (ps.isOk() && !mTuning && k->tacticCount() > 1) {
      const std::string want = pc.tacticFromPlan();
      for (int t = 0; !want.empty() && t < k->tacticCount(); ++t)
        if (k->tacticId(t) == want) ps = k->selectTactic(t);
    }
    if (!ps.isOk()) return ps;
    workspace = std::max(workspace, k->workspaceSize());
    steps.push_back(std::move(st));
  }
  KILN_RETURN_IF_ERROR(
      mWorkspace.reserve(std::max<size_t>(alignUp(workspace), kAlign), "the layer workspace"));
  mWorkspaceBytes = workspace;

  // Network outputs no kernel writes: copied from a constant, a host-resolved value or an input.
  std::vector<Copy> copies;
  for (size_t i = 0; i < mEngine.io.size(); ++i) {
    const detail::IOTensor& t = mEngine.io[i];
    if (t.mode != TensorIOMode::kOUTPUT) continue;
    const ir::Value* v = t.value;
    bool written = false;
    for (const ir::Node* n : run)
      for (const ir::Value* out : n->outputs) written = written || out == v;
    if (written) continue;
    Copy c;
    c.dstIO = static_cast<int>(i);
    c.bytes = bytes[static_cast<size_t>(v->id)];
    if (v->isConstant()) {
      c.src = mRes->weights[static_cast<size_t>(v->id)];
    } else if (auto it = resolvedOffsets.find(v->id); it != resolvedOffsets.end()) {
      c.src = static_cast<char*>(mResolved.data()) + it->second;
    } else {
      return internalError("network output '%s' is written by no layer", v->name.c_str());
    }
    if (c.bytes) copies.push_back(c);
  }
  mSteps = std::move(steps);
  mCopies = std::move(copies);
  mIOPtrs.assign(mEngine.io.size(), nullptr);
  logMessage(
      mEngine.logger, Severity::kVERBOSE, "cuda",
      strFormat("memory plan: %zu activations in %zu bytes (naive %zu, %.0f%% saved), workspace "
                "%zu bytes, "
                "%zu layers on the GPU (%zu reshapes as views), %zu shape computations on the "
                "host",
                requests.size(), arenaBytes, naive,
                naive ? 100.0 * (1.0 - static_cast<double>(arenaBytes) / static_cast<double>(naive))
                      : 0.0,
                workspace, run.size(), layersBeforeAliasing - run.size(),
                mEngine.order.size() - layersBeforeAliasing));
  mPrepared = true;
  return Status::ok();
}

Status CudaExecutor::execute(const std::map<std::string, void*>& addresses, void* streamArg,
                             bool sync) {
  if (!mPrepared) return internalError("execute before prepare");
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(mRes->props.device));
  cudaStream_t stream = streamArg ? static_cast<cudaStream_t>(streamArg) : mStream;
  for (size_t i = 0; i < mEngine.io.size(); ++i) {
    auto it = addresses.find(mEngine.io[i].name);
    void* p = it == addresses.end() ? nullptr : it->second;
    mIOPtrs[i] =
        p ? p : mRes->dummy;  // only empty tensors may lack an address (checked by the context)
  }
  // Profiling (kiln/runtime.h Profiler): one event before the first layer and one after each;
  // the run then waits for the GPU and reports each layer's time. Events are made on first use.
  const bool profile = mProfiler != nullptr;
  if (profile) {
    while (mEvents.size() < mSteps.size() + 1) {
      cudaEvent_t e;
      KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
      mEvents.push_back(e);
    }
    KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(mEvents[0], stream));
  }
  size_t stepIndex = 0;
  for (Step& st : mSteps) {
    for (size_t i = 0; i < st.ins.size(); ++i)
      if (st.inIO[i] >= 0) st.ins[i].data = mIOPtrs[static_cast<size_t>(st.inIO[i])];
    for (size_t i = 0; i < st.outs.size(); ++i)
      if (st.outIO[i] >= 0) st.outs[i].data = mIOPtrs[static_cast<size_t>(st.outIO[i])];
    LaunchContext lc{*st.node, st.ins, st.outs, stream, mWorkspace.data(), mWorkspaceBytes, *mLibs};
    if (mNvtx != ProfilingVerbosity::kNONE)
      nvtxRangePushA(mNvtx == ProfilingVerbosity::kDETAILED ? st.nvtxDetailed.c_str()
                                                            : st.node->name.c_str());
    Status s = st.kernel->enqueue(lc);
    if (mNvtx != ProfilingVerbosity::kNONE) nvtxRangePop();
    if (!s.isOk()) return s.withContext(st.node->describe());
    if (mValidate) KILN_RETURN_IF_ERROR(validateStep(st, stream));
    ++stepIndex;
    if (profile) KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(mEvents[stepIndex], stream));
  }
  if (profile) {
    KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(mEvents[mSteps.size()]));
    for (size_t i = 0; i < mSteps.size(); ++i) {
      float ms = 0;
      KILN_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, mEvents[i], mEvents[i + 1]));
      mProfiler->reportLayerTime(mSteps[i].node->name.c_str(), ms);
    }
  }
  for (const Copy& c : mCopies) {
    const void* src = c.src ? c.src : mIOPtrs[static_cast<size_t>(c.srcIO)];
    void* dst = mIOPtrs[static_cast<size_t>(c.dstIO)];
    if (src != dst)
      KILN_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(dst, src, c.bytes, cudaMemcpyDeviceToDevice, stream));
  }
  if (sync) KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  return Status::ok();
}

Status CudaExecutor::tuneTactics(detail::TimingCache* cache, const std::string& keyPrefix,
                                 detail::TacticTimingReport& report) {
  if (!mPrepared) return internalError("tactic timing before prepare");
  const auto start = std::chrono::steady_clock::now();
  // Zeroed I/O buffers (zero is a valid index for Gather-like layers) and one full run, so that
  // every activation holds what the network computes from them.
  std::vector<DeviceBuffer> io(mEngine.io.size());
  std::map<std::string, void*> addresses;
  for (size_t i = 0; i < mEngine.io.size(); ++i) {
    const ir::Value* v = mEngine.io[i].value;
    const size_t bytes =
        static_cast<size_t>(std::max<int64_t>(volumeOf(v), 1)) * dataTypeSize(v->dtype);
    KILN_RETURN_IF_ERROR(io[i].reserve(alignUp(bytes), "a tactic-timing input/output"));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemset(io[i].data(), 0, io[i].size()));
    addresses[mEngine.io[i].name] = io[i].data();
  }
  KILN_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  KILN_RETURN_IF_ERROR(execute(addresses, mStream, /*sync=*/true));

  cudaEvent_t ev[2] = {nullptr, nullptr};
  KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev[0]));
  KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev[1]));
  struct Events {
    cudaEvent_t* e;
    ~Events() {
      (void)cudaEventDestroy(e[0]);
      (void)cudaEventDestroy(e[1]);
    }
  } events{ev};
  // One step's launch (the I/O pointers bound as execute binds them).
  auto launch = [&](Step& st) -> Status {
    LaunchContext lc{*st.node,          st.ins,          st.outs, mStream,
                     mWorkspace.data(), mWorkspaceBytes, *mLibs};
    return st.kernel->enqueue(lc);
  };
  // Median of kSamples timings of kReps back-to-back launches, per launch (ms).
  constexpr int kWarmup = 2, kReps = 5, kSamples = 5;
  auto timeStep = [&](Step& st) -> StatusOr<double> {
    for (int i = 0; i < kWarmup; ++i) KILN_RETURN_IF_ERROR(launch(st));
    std::vector<double> samples;
    for (int s = 0; s < kSamples; ++s) {
      KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev[0], mStream));
      for (int r = 0; r < kReps; ++r) KILN_RETURN_IF_ERROR(launch(st));
      KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev[1], mStream));
      KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev[1]));
      float ms = 0;
      KILN_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, ev[0], ev[1]));
      samples.push_back(static_cast<double>(ms) / kReps);
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
  };

  std::vector<Step*> choices;
  for (Step& st : mSteps)
    if (st.kernel->tacticCount() > 1) choices.push_back(&st);
  report.layersWithChoices += static_cast<int>(choices.size());
  int lastPercent = -1;
  for (size_t c = 0; c < choices.size(); ++c) {
    Step& st = *choices[c];
    for (size_t i = 0; i < st.ins.size(); ++i)
      if (st.inIO[i] >= 0) st.ins[i].data = io[static_cast<size_t>(st.inIO[i])].data();
    for (size_t i = 0; i < st.outs.size(); ++i)
      if (st.outIO[i] >= 0) st.outs[i].data = io[static_cast<size_t>(st.outIO[i])].data();
    CudaKernel& k = *st.kernel;
    const int count = k.tacticCount();
    const std::string key = k.timingKey().empty() ? "" : keyPrefix + k.timingKey();
    int best = -1;
    double bestMs = 0;
    if (cache && !key.empty()) {
      if (const detail::TimingCache::Entry* e = cache->find(key)) {
        for (int t = 0; t < count && best < 0; ++t)
          if (k.tacticId(t) == e->tactic) best = t;
        if (best >= 0) {
          bestMs = e->ms;
          ++report.fromCache;
        }
      }
    }
    std::string tried;
    if (best < 0) {
      for (int t = 0; t < count; ++t) {
        KILN_RETURN_IF_ERROR(k.selectTactic(t));
        StatusOr<double> ms = timeStep(st);
        if (!ms.isOk()) {
          // A candidate that fails to launch is skipped; a sticky device error ends the build.
          KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(mStream));
          tried += strFormat(" %s:failed", k.tacticId(t).c_str());
          continue;
        }
        tried += strFormat(" %s:%.4f", k.tacticId(t).c_str(), *ms);
        if (best < 0 || *ms < bestMs) {
          best = t;
          bestMs = *ms;
        }
      }
      if (best < 0)
        return internalError("%s: every tactic failed to run (%s)", st.node->describe().c_str(),
                             tried.c_str());
      ++report.timed;
      if (cache && !key.empty()) cache->insert(key, k.tacticId(best), bestMs);
    }
    KILN_RETURN_IF_ERROR(k.selectTactic(best));
    report.chosen[st.node->name] = k.tacticId(best);
    logMessage(mEngine.logger, Severity::kVERBOSE, "tactics",
               strFormat("%s: %s (%.4f ms%s)%s", st.node->describe().c_str(),
                         k.tacticId(best).c_str(), bestMs, tried.empty() ? ", timing cache" : "",
                         tried.empty() ? "" : (" of" + tried).c_str()));
    const int percent = static_cast<int>(100 * (c + 1) / choices.size());
    if (percent / 10 != lastPercent / 10 || c + 1 == choices.size()) {
      lastPercent = percent;
      logMessage(mEngine.logger, Severity::kINFO, "builder",
                 strFormat("tactic timing: %3d%% (%zu of %zu layers with alternatives)", percent,
                           c + 1, choices.size()));
    }
  }
  report.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::ok();
}

Status CudaExecutor::validateStep(const Step& st, cudaStream_t stream) {
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  auto download = [](const CudaTensor& t) -> StatusOr<std::shared_ptr<ir::TensorData>> {
    auto h = std::make_shared<ir::TensorData>(t.dtype, t.dims);
    if (h->bytes())
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(h->data(), t.data, h->bytes(), cudaMemcpyDeviceToHost));
    return h;
  };
  std::vector<std::shared_ptr<ir::TensorData>> hin, hgpu, hcpu;
  std::vector<cpu::CpuTensor> cin(st.ins.size()), cout(st.outs.size());
  for (size_t i = 0; i < st.ins.size(); ++i) {
    if (!st.ins[i].present()) continue;
    KILN_ASSIGN_OR_RETURN(auto h, download(st.ins[i]));
    cin[i] = {h->data(), h->dtype(), h->dims()};
    hin.push_back(std::move(h));
  }
  for (size_t i = 0; i < st.outs.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(auto g, download(st.outs[i]));
    auto c = std::make_shared<ir::TensorData>(g->dtype(), g->dims());
    cout[i] = {c->data(), c->dtype(), c->dims()};
    hgpu.push_back(std::move(g));
    hcpu.push_back(std::move(c));
  }
  Status cs = cpu::runCpuNode(*st.node, cin, cout);
  if (!cs.isOk()) {
    logMessage(mEngine.logger, Severity::kWARNING, "validate",
               strFormat("%s: the CPU could not re-run the layer: %s", st.node->describe().c_str(),
                         cs.message().c_str()));
    return Status::ok();
  }
  for (size_t o = 0; o < hgpu.size(); ++o) {
    const ir::TensorData& g = *hgpu[o];
    const ir::TensorData& c = *hcpu[o];
    const DataType t = g.dtype();
    const bool isFloat = t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
                         t == DataType::kBF16;
    double maxRef = 0, maxErr = 0;
    int64_t worst = -1, nanMismatch = 0;
    for (int64_t i = 0; i < g.numel(); ++i) {
      double a = g.doubleAt(i), b = c.doubleAt(i);
      if (std::isnan(a) != std::isnan(b)) ++nanMismatch;
      if (std::isnan(a) || std::isnan(b)) continue;
      if (std::isfinite(b)) maxRef = std::max(maxRef, std::fabs(b));
      double e = (std::isinf(a) || std::isinf(b)) ? (a == b ? 0.0 : INFINITY) : std::fabs(a - b);
      if (e > maxErr) {
        maxErr = e;
        worst = i;
      }
    }
    // Relative to the output's scale: float32 1e-4 (accumulation order), 16-bit formats 1e-2.
    double tol = !isFloat ? 0.0 : (t == DataType::kFLOAT || t == DataType::kDOUBLE) ? 1e-4 : 1e-2;
    bool bad = nanMismatch > 0 || maxErr > tol * std::max(maxRef, 1e-20);
    if (!bad) continue;
    if (mValidateReports++ < 20)
      logMessage(
          mEngine.logger, Severity::kWARNING, "validate",
          strFormat(
              "%s output %zu (%s %s) differs from the CPU: max |gpu - cpu| = %g at element %lld "
              "(gpu %g, cpu %g), max |cpu| = %g, %lld NaN mismatches (tactic: %s)",
              st.node->describe().c_str(), o, dataTypeName(t),
              ir::shapeToString(ir::shapeFromDims(g.dims())).c_str(), maxErr,
              static_cast<long long>(worst), worst >= 0 ? g.doubleAt(worst) : 0.0,
              worst >= 0 ? c.doubleAt(worst) : 0.0, maxRef, static_cast<long long>(nanMismatch),
              st.kernel->tactic().c_str()));
  }
  return Status::ok();
}

}  // namespace kiln::cuda

namespace kiln::detail {

bool gpuBackendBuilt() { return true; }

StatusOr<plan::TargetDevice> currentGpuDevice() {
  KILN_ASSIGN_OR_RETURN(cuda::DeviceProps p, cuda::queryDevice(0));
  plan::TargetDevice d;
  d.type = DeviceType::kGPU;
  d.name = p.name;
  d.smMajor = p.smMajor;
  d.smMinor = p.smMinor;
  d.libraries = cuda::libraryVersions();
  return d;
}

Status checkGpuLowering(const ir::Graph& g) {
  std::vector<std::string> problems;
  for (const ir::Node* n : g.nodes()) {
    if (cuda::resolvedAtBuild(*n)) continue;
    cuda::CudaKernelFactory f = cuda::cudaKernels()[static_cast<size_t>(n->op)];
    if (!f) {
      problems.push_back(strFormat("%s: the CUDA backend has no kernel for op %s yet",
                                   n->describe().c_str(), ir::opName(n->op)));
      continue;
    }
    auto k = f(*n);
    if (!k.isOk()) problems.push_back(k.status().message());
  }
  if (problems.empty()) return Status::ok();
  std::string msg = strFormat("%zu layer(s) cannot run on the GPU:", problems.size());
  for (const std::string& p : problems) msg += "\n  " + p;
  msg +=
      "\nBuild the plan for the CPU (--device=cpu), or add the missing op as a plugin "
      "(docs/plugins.md)";
  return unsupported("%s", msg.c_str());
}

StatusOr<std::shared_ptr<void>> createGpuEngineResources(const EngineImpl& engine) {
  KILN_ASSIGN_OR_RETURN(cuda::DeviceProps props, cuda::queryDevice(0));
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(props.device));
  auto res = std::make_shared<cuda::EngineResources>();
  res->props = props;
  KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&res->dummy, 256));
  KILN_CUDA_RETURN_IF_ERROR(cudaMemset(res->dummy, 0, 256));
  const ir::Graph& g = *engine.plan.graph;
  res->weights.assign(g.valueCapacity(), nullptr);
  for (const ir::Value* v : g.values()) {
    if (!v->isConstant() || v->constant->bytes() == 0) continue;
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, v->constant->bytes());
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      return resourceExhausted(
          "out of GPU memory uploading the weights ('%s', %zu bytes; %zu bytes uploaded so far)",
          v->name.c_str(), v->constant->bytes(), res->weightBytes);
    }
    res->weights[static_cast<size_t>(v->id)] = p;
    KILN_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(p, v->constant->data(), v->constant->bytes(), cudaMemcpyHostToDevice));
    res->weightBytes += v->constant->bytes();
  }
  logMessage(
      engine.logger, Severity::kVERBOSE, "cuda",
      strFormat("uploaded %zu bytes of weights to %s", res->weightBytes, props.name.c_str()));
  return std::shared_ptr<void>(res);
}

StatusOr<TacticTimingReport> timeGpuTactics(const plan::PlanContents& plan,
                                            const std::map<std::string, std::vector<int64_t>>& dims,
                                            const HostValues& values, TimingCache* cache,
                                            Logger* logger) {
  plan::PlanContents copy;
  copy.networkName = plan.networkName;
  copy.graph = plan.graph->clone();
  copy.profiles = plan.profiles;
  copy.device = plan.device;
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<EngineImpl> engine,
                        EngineImpl::create(std::move(copy), logger));
  auto res = std::static_pointer_cast<cuda::EngineResources>(engine->gpuResources);
  if (!res) return internalError("GPU engine without GPU resources");
  auto ex = std::make_unique<cuda::CudaExecutor>(*engine, res);
  KILN_RETURN_IF_ERROR(ex->init());
  ex->setTuning(true);
  KILN_RETURN_IF_ERROR(ex->prepare(dims, values));
  TacticTimingReport report;
  const std::string prefix = plan.device.name + "|" + plan.device.libraries + "|";
  KILN_RETURN_IF_ERROR(ex->tuneTactics(cache, prefix, report));
  return report;
}

StatusOr<std::unique_ptr<Executor>> makeGpuExecutor(const EngineImpl& engine) {
  auto res = std::static_pointer_cast<cuda::EngineResources>(engine.gpuResources);
  if (!res) return internalError("GPU engine without GPU resources");
  auto ex = std::make_unique<cuda::CudaExecutor>(engine, res);
  KILN_RETURN_IF_ERROR(ex->init());
  return std::unique_ptr<Executor>(std::move(ex));
}

}  // namespace kiln::detail
