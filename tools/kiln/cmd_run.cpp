// `kiln run`: build or load an engine, bind inputs (random or from files), run timed
// inferences and report performance; optionally export outputs and timings.
#include <chrono>
#include <map>
#include <memory>
#include <cstdio>
#include <random>

#include "commands.h"
#include "gpu_run.h"
#include "model_run.h"
#include "perf_summary.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace {

using Clock = std::chrono::steady_clock;

double msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Bindings {
  std::vector<HostTensor> inputs;
  std::vector<HostTensor> outputs;
  std::vector<std::unique_ptr<HostOutputAllocator>> allocators;  // data-dependent outputs
};

std::string ioList(const Engine& engine, TensorIOMode mode) {
  std::string s;
  for (int i = 0; i < engine.getNbIOTensors(); ++i) {
    const char* name = engine.getIOTensorName(i);
    if (engine.getTensorIOMode(name) != mode) continue;
    if (!s.empty()) s += ", ";
    s += std::string("'") + name + "'";
  }
  return s.empty() ? "(none)" : s;
}

// Writes `values` into a host buffer of type `type` (a shape tensor input's values).
Status writeValues(DataType type, void* data, const std::vector<int64_t>& values,
                   const std::string& name) {
  for (size_t i = 0; i < values.size(); ++i) {
    switch (type) {
      case DataType::kINT64: static_cast<int64_t*>(data)[i] = values[i]; break;
      case DataType::kINT32: static_cast<int32_t*>(data)[i] = static_cast<int32_t>(values[i]); break;
      case DataType::kFLOAT: static_cast<float*>(data)[i] = static_cast<float>(values[i]); break;
      case DataType::kDOUBLE: static_cast<double*>(data)[i] = static_cast<double>(values[i]); break;
      default:
        return unsupported("shape tensor input '%s' has type %s; --shapes values are supported for "
                           "int32, int64, float32 and float64 inputs (use --loadInputs)",
                           name.c_str(), dataTypeName(type));
    }
  }
  return Status::ok();
}

std::string profileRange(const Engine& engine, const char* name, int profile) {
  if (engine.getNbOptimizationProfiles() <= profile) return "";
  Dims mn = engine.getProfileShape(name, profile, OptProfileSelector::kMIN);
  Dims mx = engine.getProfileShape(name, profile, OptProfileSelector::kMAX);
  if (mn.nbDims <= 0 && mx.nbDims <= 0) return "";
  return " (profile " + std::to_string(profile) + " allows " + dimsString(mn) + " to " +
         dimsString(mx) + ")";
}

// Chooses each input's shape (set on `ctx`), fills the inputs and sizes the outputs, all in host
// memory. Nothing is bound yet: the CPU path binds these buffers, the GPU path device buffers.
StatusOr<Bindings> prepareTensors(Engine& engine, ExecutionContext& ctx, const BuildOptions& build,
                                  const RunOptions& run) {
  // Every named input must exist.
  for (const ShapeSpec& s : build.shapes)
    if (engine.getTensorIOMode(s.name.c_str()) != TensorIOMode::kINPUT)
      return notFound("--shapes: the engine has no input '%s'; its inputs are %s", s.name.c_str(),
                      ioList(engine, TensorIOMode::kINPUT).c_str());
  for (const InputFileSpec& s : run.loadInputs)
    if (engine.getTensorIOMode(s.name.c_str()) != TensorIOMode::kINPUT)
      return notFound("--loadInputs: the engine has no input '%s'; its inputs are %s",
                      s.name.c_str(), ioList(engine, TensorIOMode::kINPUT).c_str());

  Bindings b;
  // Inputs: shape from --shapes, else the profile's opt shape, else the static shape.
  std::map<std::string, std::vector<int64_t>> shapeValues;  // shape tensor inputs
  for (int i = 0; i < engine.getNbIOTensors(); ++i) {
    const char* name = engine.getIOTensorName(i);
    if (engine.getTensorIOMode(name) != TensorIOMode::kINPUT) continue;
    Dims declared = engine.getTensorShape(name);
    if (engine.isShapeInferenceIO(name)) {
      // trtexec's convention: --shapes gives a shape tensor input's values.
      std::vector<int64_t> values;
      bool given = false;
      for (const ShapeSpec& s : build.shapes)
        if (s.name == name) values = s.dims, given = true;
      bool fromFile = false;
      for (const InputFileSpec& s : run.loadInputs) fromFile = fromFile || s.name == name;
      if (!given && !fromFile && engine.getNbOptimizationProfiles() > 0) {
        values = engine.getProfileTensorValues(name, 0, OptProfileSelector::kOPT);
        given = !values.empty();
      }
      if (!given && !fromFile)
        return invalidArgument(
            "input '%s' is a shape tensor input (its values decide output shapes): give its "
            "values with --shapes=%s:<v1>x<v2>... (trtexec's syntax) or --loadInputs",
            name, name);
      int64_t n = 1;
      for (int d = 0; d < declared.nbDims; ++d) n *= declared.d[d];
      if (given && static_cast<int64_t>(values.size()) != n)
        return invalidArgument("--shapes: shape tensor input '%s' has %lld element(s), got %zu values",
                               name, static_cast<long long>(n), values.size());
      if (given) shapeValues[name] = values;
      HostTensor t;
      t.name = name;
      t.type = engine.getTensorDataType(name);
      t.dims = declared;
      b.inputs.push_back(std::move(t));
      continue;
    }
    Dims dims = declared;
    bool fromSpec = false;
    for (const ShapeSpec& s : build.shapes) {
      if (s.name != name) continue;
      dims = toDims(s.dims);
      fromSpec = true;
    }
    if (!fromSpec && isDynamic(declared)) {
      Dims opt = engine.getNbOptimizationProfiles() > 0
                     ? engine.getProfileShape(name, 0, OptProfileSelector::kOPT)
                     : Dims{};
      if (opt.nbDims == declared.nbDims && !isDynamic(opt)) {
        dims = opt;
      } else {
        for (int d = 0; d < dims.nbDims; ++d)
          if (dims.d[d] < 0) dims.d[d] = 1;
        reportWarning(std::string("input '") + name + "' is dynamic and has no profile; using " +
                      dimsString(dims));
      }
    }
    if (!ctx.setInputShape(name, dims)) {
      // The context's message usually gives the profile's bounds already.
      const std::string& why = ctx.getLastError();
      return outOfRange(
          "cannot set the shape of input '%s' to %s: %s", name, dimsString(dims).c_str(),
          why.empty() ? ("outside the engine's profile" + profileRange(engine, name, 0)).c_str()
                      : why.c_str());
    }
    HostTensor t;
    t.name = name;
    t.type = engine.getTensorDataType(name);
    t.dims = dims;
    b.inputs.push_back(std::move(t));
  }

  // Fill: a file where one is given, otherwise reproducible random values (in I/O order).
  std::mt19937 rng(run.seed);
  for (HostTensor& t : b.inputs) {
    const InputFileSpec* file = nullptr;
    for (const InputFileSpec& s : run.loadInputs)
      if (s.name == t.name) file = &s;
    KILN_ASSIGN_OR_RETURN(uint64_t bytes, tensorBytes(t.dims, t.type, t.name));
    t.buffer = AlignedBuffer(bytes);
    if (file != nullptr) {
      KILN_ASSIGN_OR_RETURN(std::vector<uint8_t> data,
                            readTensorFile(file->path, t.name, t.dims, t.type));
      std::copy(data.begin(), data.end(), static_cast<uint8_t*>(t.buffer.data()));
      std::printf("Input '%s' (%s, %s) loaded from %s\n", t.name.c_str(), dataTypeName(t.type),
                  dimsString(t.dims).c_str(), file->path.c_str());
    } else if (auto sv = shapeValues.find(t.name); sv != shapeValues.end()) {
      KILN_RETURN_IF_ERROR(writeValues(t.type, t.buffer.data(), sv->second, t.name));
      std::printf("Input '%s' (%s, %s): shape tensor values %s\n", t.name.c_str(),
                  dataTypeName(t.type), dimsString(t.dims).c_str(),
                  dimsString(toDims(sv->second)).c_str());
    } else {
      fillRandom(t.type, t.buffer.data(), t.volume(), rng);
      std::printf("Input '%s' (%s, %s): random values (seed %u)\n", t.name.c_str(),
                  dataTypeName(t.type), dimsString(t.dims).c_str(), run.seed);
    }
  }

  // Shape tensor inputs are read on the host; the context needs them to resolve output shapes.
  for (HostTensor& t : b.inputs)
    if (engine.isShapeInferenceIO(t.name.c_str())) ctx.setTensorAddress(t.name.c_str(), t.buffer.data());

  // Outputs: shapes resolved by the context from the input shapes; data-dependent ones (CPU) are
  // placed by an output allocator during each run.
  KILN_ASSIGN_OR_RETURN(
      b.outputs,
      makeOutputTensors(engine, ctx, engine.getDeviceType() == DeviceType::kCPU, "kiln run"));
  for (HostTensor& t : b.outputs) {
    if (!isDynamic(t.dims)) continue;
    b.allocators.push_back(std::make_unique<HostOutputAllocator>(&t));
    if (!ctx.setOutputAllocator(t.name.c_str(), b.allocators.back().get()))
      return internalError("cannot set the allocator of '%s': %s", t.name.c_str(),
                           ctx.getLastError().c_str());
  }
  std::fflush(stdout);
  return b;
}

// CPU backend: inputs and outputs are bound in place.
Status bindHost(ExecutionContext& ctx, Bindings& b) {
  for (std::vector<HostTensor>* list : {&b.inputs, &b.outputs})
    for (HostTensor& t : *list)
      if (ctx.getOutputAllocator(t.name.c_str()) == nullptr &&
          !ctx.setTensorAddress(t.name.c_str(), t.buffer.data()))
        return internalError("cannot bind '%s': %s", t.name.c_str(), ctx.getLastError().c_str());
  return Status::ok();
}

// The GPU-only run flags do nothing on the CPU backend; say so rather than fail, so one command
// line serves both backends.
void warnGpuOnlyFlags(const ParsedArgs& args, const RunOptions& run) {
  std::string ignored;
  auto add = [&](bool given, const char* flag) {
    if (!given) return;
    if (!ignored.empty()) ignored += ", ";
    ignored += flag;
  };
  add(run.useCudaGraph, "--useCudaGraph");
  add(run.noDataTransfers, "--noDataTransfers");
  add(run.useSpinWait, "--useSpinWait");
  add(args.has("streams"), "--streams");
  if (!ignored.empty())
    reportWarning(ignored + (ignored.find(',') == std::string::npos ? " is" : " are") +
                  " ignored: the engine runs on the CPU backend (these flags apply to GPU "
                  "engines, built with --device=cuda)");
}

// One inference. On the CPU backend enqueueV3 runs synchronously, so the enqueue is the compute
// and there are no copies.
Status inferOnce(ExecutionContext& ctx, IterationTiming* timing, Clock::time_point origin) {
  Clock::time_point start = Clock::now();
  bool ok = ctx.enqueueV3(nullptr);
  Clock::time_point end = Clock::now();
  if (!ok) return invalidArgument("inference failed: %s", ctx.getLastError().c_str());
  if (timing != nullptr) {
    timing->startMs = msBetween(origin, start);
    timing->endMs = msBetween(origin, end);
    timing->enqStartMs = timing->startMs;
    timing->enqueueMs = msBetween(start, end);
    timing->computeMs = timing->enqueueMs;
    timing->h2dMs = 0;
    timing->d2hMs = 0;
    timing->latencyMs = timing->h2dMs + timing->computeMs + timing->d2hMs;
  }
  return Status::ok();
}

StatusOr<PerfReport> benchmark(ExecutionContext& ctx, const RunOptions& run) {
  // Warm-up: untimed inferences until warmUpMs have passed (none for 0).
  Clock::time_point warmStart = Clock::now();
  int64_t warmRuns = 0;
  while (run.warmUpMs > 0 && msBetween(warmStart, Clock::now()) < run.warmUpMs) {
    KILN_RETURN_IF_ERROR(inferOnce(ctx, nullptr, warmStart));
    ++warmRuns;
  }
  if (run.warmUpMs > 0)
    std::printf("Warm-up: %lld inferences in %.3f ms\n", static_cast<long long>(warmRuns),
                msBetween(warmStart, Clock::now()));

  PerfReport report;
  report.onGpu = false;
  Clock::time_point origin = Clock::now();
  const double durationMs = run.durationS * 1000.0;
  // Runs until both hold: N iterations done, and the last one ended at or after the duration
  // (judged by its own end time, so the reported timeline covers the whole duration).
  while (static_cast<int64_t>(report.iterations.size()) < run.iterations ||
         (report.iterations.empty() ? 0.0 : report.iterations.back().endMs) < durationMs) {
    IterationTiming t;
    KILN_RETURN_IF_ERROR(inferOnce(ctx, &t, origin));
    report.iterations.push_back(t);
  }
  report.walltimeMs = report.iterations.back().endMs - report.iterations.front().startMs;
  return report;
}

void dumpOutputs(const std::vector<HostTensor>& outputs) {
  std::printf("=== Outputs ===\n");
  for (const HostTensor& t : outputs) {
    std::printf("%s: (%s) %s\n", t.name.c_str(), dataTypeName(t.type), dimsString(t.dims).c_str());
    std::string line;
    for (int64_t i = 0; i < t.volume(); ++i) {
      line += formatElement(t.type, t.buffer.data(), i);
      line += (i + 1) % 8 == 0 ? "\n" : " ";
    }
    if (!line.empty() && line.back() != '\n') line += '\n';
    std::fputs(line.c_str(), stdout);
  }
}

}  // namespace

int cmdRun(std::span<const std::string> argv) {
  CommandLine cl = parseCommandLine(Command::kRun, argv);
  if (cl.exitNow >= 0) return cl.exitNow;
  auto build = buildOptions(cl.args);
  if (!build.isOk()) return reportError(build.status(), kExitUsage);
  auto run = runOptions(cl.args);
  if (!run.isOk()) return reportError(run.status(), kExitUsage);
  if (build->onnx.empty() == run->loadEngine.empty())
    return reportError(invalidArgument("kiln run needs exactly one of --onnx=<model.onnx> or "
                                       "--loadEngine=<plan> (see kiln run --help)"),
                       kExitUsage);
  StderrLogger logger(cl.common.verbose ? Severity::kVERBOSE : Severity::kWARNING);

  std::vector<uint8_t> planBytes;
  std::string what;
  if (!build->onnx.empty()) {
    auto plan = buildPlan(*build, cl.common, logger);
    if (!plan.isOk()) return reportError(plan.status());
    planBytes = std::move(plan).value();
    what = "built from '" + build->onnx + "'";
  } else {
    if (!build->minShapes.empty() || !build->optShapes.empty() || !build->maxShapes.empty())
      reportWarning(
          "--minShapes/--optShapes/--maxShapes are ignored with --loadEngine (the plan "
          "holds its profiles); use --shapes to pick inference shapes");
    auto bytes = readFile(run->loadEngine);
    if (!bytes.isOk()) return reportError(bytes.status());
    planBytes = std::move(bytes).value();
    what = "'" + run->loadEngine + "'";
  }
  auto loaded = loadEngine(planBytes, what, logger);
  if (!loaded.isOk()) return reportError(loaded.status());
  Engine& engine = *loaded->engine;
  const bool onGpu = engine.getDeviceType() == DeviceType::kGPU;
  if (!run->loadEngine.empty() && cl.args.has("device") &&
      engine.getDeviceType() != cl.common.device)
    reportWarning(std::string("--device=") + cl.args.get("device") + " is ignored: the plan " +
                  "targets the " + (onGpu ? "GPU" : "CPU") + " and runs there");
  if (!run->loadEngine.empty()) {
    std::printf("Engine loaded from %s (%zu bytes)\n", run->loadEngine.c_str(), planBytes.size());
    if (!build->saveEngine.empty()) {
      Status s = writeFile(build->saveEngine, planBytes.data(), planBytes.size());
      if (!s.isOk()) return reportError(s);
      std::printf("Engine saved to %s\n", build->saveEngine.c_str());
    }
  }
  if (run->dumpLayerInfo)
    std::printf("=== Layers ===\n%s\n", engine.getLayerInformation(false).c_str());
  if (!run->exportLayerInfo.empty()) {
    Status s = writeFile(run->exportLayerInfo, engine.getLayerInformation(true));
    if (!s.isOk()) return reportError(s);
  }
  std::fflush(stdout);
  if (run->skipInference) {
    std::printf("Skipping inference (--skipInference)\n");
    return kExitOk;
  }

  std::unique_ptr<ExecutionContext> ctx = engine.createExecutionContext();
  if (!ctx) return reportError(internalError("could not create an execution context"));
  if (run->nvtx) {
    // NVTX ranges at the plan's verbosity (gpu_run.cpp does the same for its other streams).
    if (!onGpu)
      reportWarning("--nvtx: the CPU backend emits no NVTX ranges");
    else if (engine.getProfilingVerbosity() == ProfilingVerbosity::kNONE)
      reportWarning(
          "--nvtx: the plan was built with --profilingVerbosity=none, so it names no "
          "layers: no NVTX ranges");
    else if (!ctx->setNvtxVerbosity(engine.getProfilingVerbosity()))
      return reportError(internalError("--nvtx: %s", ctx->getLastError().c_str()));
    if (onGpu && run->useCudaGraph)
      reportWarning(
          "--nvtx with --useCudaGraph: graph replays show no per-layer ranges (they are "
          "pushed when layers are enqueued, once at capture)");
  }
  auto bindings = prepareTensors(engine, *ctx, *build, *run);
  if (!bindings.isOk()) return reportError(bindings.status());
  StatusOr<PerfReport> report = unsupported("no benchmark ran");
  // Per-layer profile (--dumpProfile / --exportProfile): a separate run of its own after the
  // timed one, so profiling never slows the timed numbers.
  LayerProfile profile;
  const bool profiling = run->dumpProfile || !run->exportProfile.empty();
  if (profiling) run->profiler = &profile;
  if (onGpu) {
    report = benchmarkOnGpu(engine, *ctx, bindings->inputs, bindings->outputs, *run);
  } else {
    warnGpuOnlyFlags(cl.args, *run);
    Status bound = bindHost(*ctx, *bindings);
    if (!bound.isOk()) return reportError(bound);
    report = benchmark(*ctx, *run);
    if (report.isOk() && profiling) {
      ctx->setProfiler(&profile);
      for (int64_t i = 0; i < std::max<int64_t>(run->iterations, 10); ++i)
        if (!ctx->executeV2())
          return reportError(internalError("profiling run: %s", ctx->getLastError().c_str()));
      ctx->setProfiler(nullptr);
    }
  }
  if (!report.isOk()) return reportError(report.status());
  printPerfSummary(*report, stdout);
  if (run->dumpProfile) profile.print(stdout);
  if (!run->exportProfile.empty()) {
    Status s = writeFile(run->exportProfile, profile.toJson());
    if (!s.isOk()) return reportError(s);
    std::printf("Profile written to %s\n", run->exportProfile.c_str());
  }

  if (run->dumpOutput) dumpOutputs(bindings->outputs);
  if (!run->exportOutput.empty()) {
    Status s = writeFile(run->exportOutput, outputsToJson(bindings->outputs));
    if (!s.isOk()) return reportError(s);
    std::printf("Outputs written to %s\n", run->exportOutput.c_str());
  }
  if (!run->exportTimes.empty()) {
    Status s = writeFile(run->exportTimes, timesToJson(*report));
    if (!s.isOk()) return reportError(s);
    std::printf("Timings written to %s\n", run->exportTimes.c_str());
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace kiln::cli
