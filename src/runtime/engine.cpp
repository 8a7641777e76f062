#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "backends/cpu/cpu_kernel.h"
#include "common/logging.h"
#include "plugins/plugin_node.h"
#include "runtime/engine_impl.h"
#include "runtime/gpu_backend.h"

namespace kiln {

using detail::ContextImpl;
using detail::EngineImpl;

namespace {

Dims toDims(const std::vector<int64_t>& v) {
  Dims d;
  d.nbDims = static_cast<int32_t>(std::min<size_t>(v.size(), Dims::kMaxDims));
  for (int i = 0; i < d.nbDims; ++i) d.d[i] = v[static_cast<size_t>(i)];
  return d;
}

Dims symbolicDims(const ir::Shape& s) {
  Dims d;
  d.nbDims = static_cast<int32_t>(std::min<size_t>(s.size(), Dims::kMaxDims));
  for (int i = 0; i < d.nbDims; ++i) {
    const ir::DimExpr& e = s[static_cast<size_t>(i)];
    d.d[i] = e.isConst() ? e.constValue() : -1;
  }
  return d;
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

namespace detail {

StatusOr<std::shared_ptr<EngineImpl>> EngineImpl::create(plan::PlanContents plan, Logger* logger) {
  auto e = std::make_shared<EngineImpl>();
  e->logger = logger;
  e->plan = std::move(plan);
  ir::Graph& g = *e->plan.graph;
  KILN_RETURN_IF_ERROR(ir::verifyGraph(g));
  // Every plugin must be registered before inference asks them for shapes; one error lists
  // every missing plugin and the library that provided it at build time.
  KILN_RETURN_IF_ERROR(plugins::checkPluginsAvailable(g));
  // Re-derive types and symbolic shapes (the plan stores them too; inference is the authority).
  KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(g));
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topoOrder());
  const bool gpu = e->plan.device.type == DeviceType::kGPU;
  if (gpu) {
    // Every layer must have a CUDA kernel in this build; then the weights go to the GPU once.
    KILN_RETURN_IF_ERROR(checkGpuLowering(g));
  }
  for (const ir::Node* n : order) {
    if (gpu) {
      if (n->op == ir::OpKind::kPlugin)
        return unsupported("%s: plugins do not run on the GPU yet; build the plan for the CPU",
                           n->describe().c_str());
      e->order.push_back(n);
      continue;
    }
    if (!cpu::cpuKernels()[static_cast<size_t>(n->op)])
      return unsupported("%s: this Kiln has no CPU kernel for op %s", n->describe().c_str(),
                         ir::opName(n->op));
    if (n->op == ir::OpKind::kPlugin) {
      // The engine's instance, recreated from the plan's fields; contexts clone it.
      KILN_ASSIGN_OR_RETURN(e->plugins[n], plugins::instantiateForEngine(*n, DeviceType::kCPU));
    }
    e->order.push_back(n);
  }
  if (gpu) {
    KILN_ASSIGN_OR_RETURN(e->gpuResources, createGpuEngineResources(*e));
  }
  for (const ir::Value* v : g.inputs()) e->io.push_back({v->name, TensorIOMode::kINPUT, v});
  for (const ir::Value* v : g.outputs()) {
    if (v->isGraphInput) continue;  // already listed as an input
    e->io.push_back({v->name, TensorIOMode::kOUTPUT, v});
  }
  return e;
}

const IOTensor* EngineImpl::findIO(const char* name) const {
  if (!name) return nullptr;
  for (const IOTensor& t : io)
    if (t.name == name) return &t;
  return nullptr;
}

bool ContextImpl::fail(const Status& s) {
  lastError = s.message();
  logMessage(logger, Severity::kERROR, "context", s.message());
  return false;
}

Status ContextImpl::readShapeTensorValues() {
  const plan::Profile* prof = static_cast<size_t>(profile) < engine->plan.profiles.size()
                                  ? &engine->plan.profiles[static_cast<size_t>(profile)]
                                  : nullptr;
  for (const IOTensor& t : engine->io) {
    if (t.mode != TensorIOMode::kINPUT || !t.value->isShapeTensor) continue;
    auto a = addresses.find(t.name);
    if (a == addresses.end() || !a->second)
      return invalidArgument(
          "input '%s' is a shape tensor (its values decide output shapes): give its values in "
          "host memory with setTensorAddress before getTensorShape or execution",
          t.name.c_str());
    const ir::TensorDataPtr& old = hostValues[t.name];
    const std::vector<int64_t> dims = ir::staticDims(t.value->shape);
    const size_t bytes = static_cast<size_t>(ir::volumeOf(dims)) * dataTypeSize(t.value->dtype);
    if (old && std::memcmp(old->data(), a->second, bytes) == 0) continue;
    auto fresh = ir::TensorData::fromBytes(t.value->dtype, dims, a->second);
    if (prof) {
      for (const plan::ProfileInput& pin : prof->inputs) {
        if (pin.name != t.name || pin.minValues.empty()) continue;
        for (int64_t k = 0; k < fresh->numel(); ++k) {
          const double x = fresh->doubleAt(k);
          const size_t ku = static_cast<size_t>(k);
          if (ku >= pin.minValues.size() || x < static_cast<double>(pin.minValues[ku]) ||
              x > static_cast<double>(pin.maxValues[ku]))
            return outOfRange(
                "shape tensor input '%s': element %lld is %g, outside optimization profile %d "
                "(min %s, max %s). Rebuild with wider --minShapes/--maxShapes values for it.",
                t.name.c_str(), static_cast<long long>(k), x, profile,
                toDims(pin.minValues).toString().c_str(), toDims(pin.maxValues).toString().c_str());
        }
      }
    }
    hostValues[t.name] = std::move(fresh);
    shapesDirty = true;
  }
  return Status::ok();
}

Status ContextImpl::ensurePrepared() {
  KILN_RETURN_IF_ERROR(readShapeTensorValues());
  if (!shapesDirty && executor->prepared()) return Status::ok();
  for (const IOTensor& t : engine->io) {
    if (t.mode == TensorIOMode::kINPUT && !inputDims.count(t.name)) {
      if (!ir::isStatic(t.value->shape))
        return invalidArgument("input '%s' has dynamic dimensions %s: call setInputShape first",
                               t.name.c_str(), ir::shapeToString(t.value->shape).c_str());
      inputDims[t.name] = ir::staticDims(t.value->shape);
    }
  }
  KILN_RETURN_IF_ERROR(executor->prepare(inputDims, hostValues));
  shapesDirty = false;
  return Status::ok();
}

}  // namespace detail

// ---- Engine ------------------------------------------------------------------------------------

Engine::Engine(std::shared_ptr<EngineImpl> impl) : mImpl(std::move(impl)) {}
Engine::~Engine() = default;

int Engine::getNbIOTensors() const { return static_cast<int>(mImpl->io.size()); }
const char* Engine::getIOTensorName(int index) const {
  if (index < 0 || static_cast<size_t>(index) >= mImpl->io.size()) return nullptr;
  return mImpl->io[static_cast<size_t>(index)].name.c_str();
}
TensorIOMode Engine::getTensorIOMode(const char* name) const {
  const auto* t = mImpl->findIO(name);
  return t ? t->mode : TensorIOMode::kNONE;
}
DataType Engine::getTensorDataType(const char* name) const {
  const auto* t = mImpl->findIO(name);
  return t ? t->value->dtype : DataType::kFLOAT;
}
Dims Engine::getTensorShape(const char* name) const {
  const auto* t = mImpl->findIO(name);
  if (!t) {
    Dims d;
    d.nbDims = -1;
    return d;
  }
  return symbolicDims(t->value->shape);
}
std::string Engine::getTensorShapeString(const char* name) const {
  const auto* t = mImpl->findIO(name);
  return t ? ir::shapeToString(t->value->shape) : "";
}
int Engine::getNbOptimizationProfiles() const {
  return static_cast<int>(mImpl->plan.profiles.size());
}
Dims Engine::getProfileShape(const char* inputName, int profileIndex,
                             OptProfileSelector select) const {
  Dims none;
  none.nbDims = -1;
  if (!inputName || profileIndex < 0 ||
      static_cast<size_t>(profileIndex) >= mImpl->plan.profiles.size())
    return none;
  for (const auto& in : mImpl->plan.profiles[static_cast<size_t>(profileIndex)].inputs) {
    if (in.name != inputName) continue;
    switch (select) {
      case OptProfileSelector::kMIN: return toDims(in.min);
      case OptProfileSelector::kOPT: return toDims(in.opt);
      case OptProfileSelector::kMAX: return toDims(in.max);
    }
  }
  return none;
}
bool Engine::isShapeInferenceIO(const char* name) const {
  const auto* io = mImpl->findIO(name);
  return io && io->value->isShapeTensor;
}
std::vector<int64_t> Engine::getProfileTensorValues(const char* inputName, int profileIndex,
                                                    OptProfileSelector select) const {
  if (!inputName || profileIndex < 0 ||
      static_cast<size_t>(profileIndex) >= mImpl->plan.profiles.size())
    return {};
  for (const auto& in : mImpl->plan.profiles[static_cast<size_t>(profileIndex)].inputs) {
    if (in.name != inputName) continue;
    switch (select) {
      case OptProfileSelector::kMIN: return in.minValues;
      case OptProfileSelector::kOPT: return in.optValues;
      case OptProfileSelector::kMAX: return in.maxValues;
    }
  }
  return {};
}
int Engine::getNbLayers() const { return static_cast<int>(mImpl->order.size()); }
DeviceType Engine::getDeviceType() const { return mImpl->plan.device.type; }

ProfilingVerbosity Engine::getProfilingVerbosity() const { return mImpl->plan.profilingVerbosity; }

std::string Engine::getLayerInformation(bool json) const {
  std::ostringstream os;
  const ProfilingVerbosity verbosity = mImpl->plan.profilingVerbosity;
  if (verbosity == ProfilingVerbosity::kNONE) {
    if (json) return "{\"profilingVerbosity\": \"none\", \"layers\": null}\n";
    return "(no layer information: the plan was built with --profilingVerbosity=none; rebuild "
           "with layer_names_only or detailed)\n";
  }
  if (verbosity == ProfilingVerbosity::kLAYER_NAMES_ONLY) {
    if (json) os << "{\"profilingVerbosity\": \"layer_names_only\", \"layers\": [";
    bool first = true;
    for (const ir::Node* n : mImpl->order) {
      if (json)
        os << (first ? "" : ",") << "\n  \"" << jsonEscape(n->name) << "\"";
      else
        os << n->name << "\n";
      first = false;
    }
    if (json) os << "\n]}\n";
    return os.str();
  }
  if (json) os << "{\"layers\": [";
  bool first = true;
  const bool gpu = mImpl->plan.device.type == DeviceType::kGPU;
  for (const ir::Node* n : mImpl->order) {
    // What the build decided (docs/optimizer.md): the layers a fusion replaced, the GPU tactic
    // the builder timed, and the precision (the first output's type).
    const std::string fused = n->attrs.getString("fused_nodes", "");
    const std::string tactic = n->attrs.getString("tactic", "");
    const char* precision = n->outputs.empty() ? "" : dataTypeName(n->outputs[0]->dtype);
    if (json) {
      os << (first ? "" : ",") << "\n  {\"name\": \"" << jsonEscape(n->name) << "\", \"type\": \""
         << ir::opName(n->op) << "\", \"inputs\": [";
      bool f2 = true;
      for (const ir::Value* in : n->inputs) {
        if (!in) continue;
        os << (f2 ? "" : ", ") << "{\"name\": \"" << jsonEscape(in->name) << "\", \"dtype\": \""
           << dataTypeName(in->dtype) << "\", \"shape\": \"" << ir::shapeToString(in->shape)
           << "\"}";
        f2 = false;
      }
      os << "], \"outputs\": [";
      f2 = true;
      for (const ir::Value* o : n->outputs) {
        os << (f2 ? "" : ", ") << "{\"name\": \"" << jsonEscape(o->name) << "\", \"dtype\": \""
           << dataTypeName(o->dtype) << "\", \"shape\": \"" << ir::shapeToString(o->shape) << "\"}";
        f2 = false;
      }
      os << "], \"attributes\": \"" << jsonEscape(n->attrs.toString()) << "\", \"precision\": \""
         << precision << "\", \"fusedNodes\": \"" << jsonEscape(fused) << "\", \"tactic\": \""
         << jsonEscape(tactic) << "\", \"backend\": \"" << (gpu ? "cuda" : "cpu") << "\"}";
    } else {
      os << n->describe() << ": ";
      bool f2 = true;
      for (const ir::Value* in : n->inputs) {
        if (!in) continue;
        os << (f2 ? "" : ", ") << in->name << ir::shapeToString(in->shape);
        f2 = false;
      }
      os << " -> ";
      f2 = true;
      for (const ir::Value* o : n->outputs) {
        os << (f2 ? "" : ", ") << o->name << ir::shapeToString(o->shape);
        f2 = false;
      }
      os << " " << precision;
      if (!fused.empty()) os << "  fused: " << fused;
      if (!tactic.empty()) os << "  tactic: " << tactic;
      os << "\n";
    }
    first = false;
  }
  if (json) os << "\n]}\n";
  return os.str();
}

std::unique_ptr<ExecutionContext> Engine::createExecutionContext() {
  auto c = std::make_unique<ContextImpl>();
  c->engine = mImpl;
  c->logger = mImpl->logger;
  if (mImpl->plan.device.type == DeviceType::kGPU) {
    auto ex = detail::makeGpuExecutor(*mImpl);
    if (!ex.isOk()) {
      logMessage(mImpl->logger, Severity::kERROR, "engine",
                 "createExecutionContext: " + ex.status().message());
      return nullptr;
    }
    c->executor = std::move(ex).value();
  } else {
    c->executor = detail::makeCpuExecutor(*mImpl);
  }
  c->executor->setOutputAllocators(&c->allocators);
  // $KILN_NVTX (set, not "0"): NVTX ranges at the engine's verbosity from the start.
  if (const char* env = std::getenv("KILN_NVTX"); env && *env && std::strcmp(env, "0") != 0) {
    c->nvtx = mImpl->plan.profilingVerbosity;
    c->executor->setNvtxVerbosity(c->nvtx);
  }
  return std::unique_ptr<ExecutionContext>(new ExecutionContext(*this, std::move(c)));
}

std::unique_ptr<HostMemory> Engine::serialize() const {
  auto bytes = plan::serializePlan(mImpl->plan);
  if (!bytes.isOk()) {
    logMessage(mImpl->logger, Severity::kERROR, "engine", bytes.status().message());
    return nullptr;
  }
  return std::make_unique<HostMemory>(std::move(bytes).value());
}

// ---- ExecutionContext --------------------------------------------------------------------------

ExecutionContext::ExecutionContext(Engine& engine, std::unique_ptr<ContextImpl> impl)
    : mEngine(engine), mImpl(std::move(impl)) {}
ExecutionContext::~ExecutionContext() = default;

bool ExecutionContext::setOptimizationProfile(int index) {
  if (index < 0 || (index > 0 && static_cast<size_t>(index) >= mImpl->engine->plan.profiles.size()))
    return mImpl->fail(outOfRange("optimization profile %d does not exist (the engine has %zu)",
                                  index, mImpl->engine->plan.profiles.size()));
  mImpl->profile = index;
  mImpl->shapesDirty = true;
  return true;
}
int ExecutionContext::getOptimizationProfile() const { return mImpl->profile; }

bool ExecutionContext::setInputShape(const char* name, const Dims& dims) {
  const auto* io = mImpl->engine->findIO(name);
  if (!io || io->mode != TensorIOMode::kINPUT)
    return mImpl->fail(
        notFound("setInputShape: '%s' is not an input of this engine", name ? name : "(null)"));
  const ir::Shape& decl = io->value->shape;
  if (dims.nbDims != static_cast<int32_t>(decl.size()))
    return mImpl->fail(invalidArgument("setInputShape '%s': expected rank %zu (shape %s), got %s",
                                       name, decl.size(), ir::shapeToString(decl).c_str(),
                                       dims.toString().c_str()));
  for (int i = 0; i < dims.nbDims; ++i) {
    if (dims.d[i] < 0)
      return mImpl->fail(
          invalidArgument("setInputShape '%s': dimension %d is %lld; shapes must be concrete", name,
                          i, static_cast<long long>(dims.d[i])));
    const ir::DimExpr& d = decl[static_cast<size_t>(i)];
    if (d.isConst() && d.constValue() != dims.d[i])
      return mImpl->fail(
          invalidArgument("setInputShape '%s': dimension %d is fixed to %lld, got %lld (shape %s)",
                          name, i, static_cast<long long>(d.constValue()),
                          static_cast<long long>(dims.d[i]), dims.toString().c_str()));
  }
  const auto& profiles = mImpl->engine->plan.profiles;
  if (static_cast<size_t>(mImpl->profile) < profiles.size()) {
    for (const auto& pin : profiles[static_cast<size_t>(mImpl->profile)].inputs) {
      if (pin.name != name) continue;
      for (int i = 0; i < dims.nbDims && static_cast<size_t>(i) < pin.min.size(); ++i) {
        if (dims.d[i] < pin.min[static_cast<size_t>(i)] ||
            dims.d[i] > pin.max[static_cast<size_t>(i)])
          return mImpl->fail(outOfRange(
              "setInputShape '%s': shape %s is outside optimization profile %d (min %s, max %s); "
              "dimension %d must be in [%lld, %lld]. Rebuild with a wider --minShapes/--maxShapes.",
              name, dims.toString().c_str(), mImpl->profile, toDims(pin.min).toString().c_str(),
              toDims(pin.max).toString().c_str(), i,
              static_cast<long long>(pin.min[static_cast<size_t>(i)]),
              static_cast<long long>(pin.max[static_cast<size_t>(i)])));
      }
    }
  }
  std::vector<int64_t> v(dims.d, dims.d + dims.nbDims);
  auto it = mImpl->inputDims.find(name);
  if (it == mImpl->inputDims.end() || it->second != v) {
    mImpl->inputDims[name] = v;
    mImpl->shapesDirty = true;
  }
  return true;
}

Dims ExecutionContext::getTensorShape(const char* name) const {
  const auto* io = mImpl->engine->findIO(name);
  if (!io) {
    Dims d;
    d.nbDims = -1;
    return d;
  }
  if (io->mode == TensorIOMode::kINPUT) {
    auto it = mImpl->inputDims.find(name);
    if (it != mImpl->inputDims.end()) return toDims(it->second);
    return symbolicDims(io->value->shape);
  }
  if (allInputDimensionsSpecified()) {
    Status st = mImpl->ensurePrepared();
    if (st.isOk()) return toDims(mImpl->executor->dimsOf(io->value));
    mImpl->fail(st);
  }
  return symbolicDims(io->value->shape);
}

bool ExecutionContext::allInputDimensionsSpecified() const {
  for (const auto& t : mImpl->engine->io) {
    if (t.mode != TensorIOMode::kINPUT) continue;
    if (!ir::isStatic(t.value->shape) && !mImpl->inputDims.count(t.name)) return false;
  }
  return true;
}

bool ExecutionContext::setTensorAddress(const char* name, void* data) {
  const auto* io = mImpl->engine->findIO(name);
  if (!io)
    return mImpl->fail(notFound("setTensorAddress: '%s' is not an input or output of this engine",
                                name ? name : "(null)"));
  mImpl->addresses[name] = data;
  return true;
}

bool ExecutionContext::setOutputAllocator(const char* name, OutputAllocator* allocator) {
  const auto* io = mImpl->engine->findIO(name);
  if (!io || io->mode != TensorIOMode::kOUTPUT)
    return mImpl->fail(notFound("setOutputAllocator: '%s' is not an output of this engine",
                                name ? name : "(null)"));
  mImpl->allocators[name] = allocator;
  return true;
}

OutputAllocator* ExecutionContext::getOutputAllocator(const char* name) const {
  auto it = mImpl->allocators.find(name ? name : "");
  return it == mImpl->allocators.end() ? nullptr : it->second;
}

void* ExecutionContext::getTensorAddress(const char* name) const {
  auto it = mImpl->addresses.find(name ? name : "");
  return it == mImpl->addresses.end() ? nullptr : it->second;
}

namespace {
// Every I/O tensor needs an address unless it is empty. No allocation: enqueueV3 runs this.
Status checkAddresses(const ContextImpl& c, const char* call) {
  for (const auto& t : c.engine->io) {
    auto it = c.addresses.find(t.name);
    auto alloc = c.allocators.find(t.name);
    // CPU engines place outputs that have an allocator through it (data-dependent shapes).
    const bool hasAllocator = alloc != c.allocators.end() && alloc->second;
    if (t.mode == TensorIOMode::kOUTPUT && hasAllocator &&
        c.engine->plan.device.type == DeviceType::kCPU)
      continue;
    if (t.mode == TensorIOMode::kOUTPUT && c.executor->dataDependent(t.value))
      return invalidArgument(
          "output '%s' has a data-dependent shape (%s): set an OutputAllocator "
          "for it with setOutputAllocator before %s",
          t.name.c_str(), ir::shapeToString(t.value->shape).c_str(), call);
    if ((it == c.addresses.end() || !it->second) && c.executor->volumeOf(t.value) != 0)
      return invalidArgument("%s '%s' has no address: call setTensorAddress before %s",
                             t.mode == TensorIOMode::kINPUT ? "input" : "output", t.name.c_str(),
                             call);
  }
  return Status::ok();
}
}  // namespace

bool ExecutionContext::executeV2() {
  Status st = mImpl->ensurePrepared();
  if (st.isOk()) st = checkAddresses(*mImpl, "executing");
  if (st.isOk()) st = mImpl->executor->execute(mImpl->addresses, nullptr, /*sync=*/true);
  return st.isOk() || mImpl->fail(st);
}

bool ExecutionContext::enqueueV3(void* stream) {
  Status st = mImpl->ensurePrepared();
  if (st.isOk()) st = checkAddresses(*mImpl, "enqueueV3");
  // GPU engines run asynchronously on `stream`; the CPU backend runs synchronously.
  if (st.isOk()) st = mImpl->executor->execute(mImpl->addresses, stream, /*sync=*/false);
  return st.isOk() || mImpl->fail(st);
}

void ExecutionContext::setProfiler(Profiler* profiler) {
  mImpl->profiler = profiler;
  mImpl->executor->setProfiler(profiler);
}
Profiler* ExecutionContext::getProfiler() const { return mImpl->profiler; }

bool ExecutionContext::setNvtxVerbosity(ProfilingVerbosity verbosity) {
  // Order by detail: none < layer names < detailed.
  auto rank = [](ProfilingVerbosity v) {
    return v == ProfilingVerbosity::kNONE ? 0 : v == ProfilingVerbosity::kLAYER_NAMES_ONLY ? 1 : 2;
  };
  const ProfilingVerbosity built = mImpl->engine->plan.profilingVerbosity;
  if (verbosity != ProfilingVerbosity::kNONE && built == ProfilingVerbosity::kNONE)
    return mImpl->fail(invalidArgument(
        "setNvtxVerbosity(%s): the engine was built with profiling verbosity none, so it names "
        "no layers; rebuild with --profilingVerbosity=layer_names_only or detailed",
        profilingVerbosityName(verbosity)));
  if (rank(verbosity) > rank(built)) verbosity = built;
  mImpl->nvtx = verbosity;
  mImpl->executor->setNvtxVerbosity(verbosity);
  return true;
}
ProfilingVerbosity ExecutionContext::getNvtxVerbosity() const { return mImpl->nvtx; }

const std::string& ExecutionContext::getLastError() const { return mImpl->lastError; }

// ---- Runtime -----------------------------------------------------------------------------------

std::unique_ptr<Runtime> Runtime::create(Logger& logger) {
  return std::unique_ptr<Runtime>(new Runtime(logger));
}

std::unique_ptr<Engine> Runtime::deserializeEngine(const void* data, size_t size) {
  auto fail = [&](const Status& s) -> std::unique_ptr<Engine> {
    mLastError = s.message();
    logMessage(&mLogger, Severity::kERROR, "runtime", s.message());
    return nullptr;
  };
  if (!data && size > 0) return fail(invalidArgument("deserializeEngine: null data"));
  auto plan =
      plan::deserializePlan(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  if (!plan.isOk()) return fail(plan.status());
  plan::TargetDevice here;  // the CPU backend
  if (plan->device.type == DeviceType::kGPU) {
    auto gpu = detail::currentGpuDevice();
    if (gpu.isOk()) {
      here = *gpu;
    } else if (detail::gpuBackendBuilt()) {
      return fail(gpu.status().withContext("the plan was built for " + plan->device.name));
    }
  }
  Status compat = plan::checkDeviceCompatible(plan->device, here);
  if (!compat.isOk()) return fail(compat);
  auto impl = EngineImpl::create(std::move(plan).value(), &mLogger);
  if (!impl.isOk()) return fail(impl.status().withContext("the plan could not be loaded"));
  return std::unique_ptr<Engine>(new Engine(std::move(impl).value()));
}

}  // namespace kiln
