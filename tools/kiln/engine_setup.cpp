// Parsing ONNX models, building plans (with optimization profiles from the shape flags) and
// loading plans, shared by `kiln build`, `kiln run` and `kiln inspect`.
#include <chrono>
#include <cstdio>
#include <map>

#include "commands.h"
#include "model_run.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace {

std::string inputList(const NetworkDefinition& net) {
  std::string s;
  for (int i = 0; i < net.getNbInputs(); ++i) {
    if (i) s += ", ";
    s += std::string("'") + net.getInput(i)->getName() + "'";
  }
  return s.empty() ? "(none)" : s;
}

const std::vector<int64_t>* findSpec(const std::vector<ShapeSpec>& specs, const std::string& name) {
  for (const ShapeSpec& s : specs)
    if (s.name == name) return &s.dims;
  return nullptr;
}

// A shape tensor input's values (given where other inputs get shapes, as trtexec does) must
// have one number per element.
Status checkShapeTensorValues(const Tensor& input, const std::vector<int64_t>& values,
                              const char* flag) {
  Dims declared = input.getDimensions();
  int64_t n = 1;
  for (int i = 0; i < declared.nbDims; ++i) n *= declared.d[i];
  if (static_cast<int64_t>(values.size()) != n)
    return invalidArgument(
        "%s: input '%s' is a shape tensor input (shape %s): give its %lld "
        "value(s) separated by 'x', e.g. %s:%s; got %zu",
        flag, input.getName(), input.getShapeString().c_str(), static_cast<long long>(n),
        input.getName(), n == 2 ? "4x6" : "3", values.size());
  return Status::ok();
}

// Checks that a user shape fits the input's declared shape: same rank, equal static dims.
Status checkAgainstDeclared(const Tensor& input, const std::vector<int64_t>& dims,
                            const char* flag) {
  Dims declared = input.getDimensions();
  if (static_cast<int>(dims.size()) != declared.nbDims)
    return invalidArgument("%s: input '%s' has rank %d (shape %s), the given shape %s has rank %zu",
                           flag, input.getName(), declared.nbDims, input.getShapeString().c_str(),
                           dimsString(toDims(dims)).c_str(), dims.size());
  for (int i = 0; i < declared.nbDims; ++i)
    if (declared.d[i] >= 0 && declared.d[i] != dims[i])
      return invalidArgument(
          "%s: input '%s' has static dim %d = %lld (shape %s), the given shape "
          "%s says %lld",
          flag, input.getName(), i, static_cast<long long>(declared.d[i]),
          input.getShapeString().c_str(), dimsString(toDims(dims)).c_str(),
          static_cast<long long>(dims[i]));
  return Status::ok();
}

// Fills `profile` for every dynamic input of `net`; returns whether any input is dynamic.
StatusOr<bool> fillProfile(const BuildOptions& o, NetworkDefinition& net,
                           OptimizationProfile& profile) {
  // Every named input must exist.
  const std::pair<const char*, const std::vector<ShapeSpec>*> lists[] = {
      {"--minShapes", &o.minShapes},
      {"--optShapes", &o.optShapes},
      {"--maxShapes", &o.maxShapes},
      {"--shapes", &o.shapes}};
  for (const auto& [flag, specs] : lists) {
    for (const ShapeSpec& s : *specs) {
      Tensor* t = net.getTensor(s.name.c_str());
      if (t == nullptr || !t->isNetworkInput())
        return notFound("%s: the network has no input '%s'; its inputs are %s", flag,
                        s.name.c_str(), inputList(net).c_str());
      if (t->isShapeTensor()) {  // trtexec's convention: the spec gives the values
        KILN_RETURN_IF_ERROR(checkShapeTensorValues(*t, s.dims, flag));
        continue;
      }
      KILN_RETURN_IF_ERROR(checkAgainstDeclared(*t, s.dims, flag));
    }
  }
  bool anyDynamic = false;
  for (int i = 0; i < net.getNbInputs(); ++i) {
    Tensor* t = net.getInput(i);
    Dims declared = t->getDimensions();
    if (t->isShapeTensor()) {
      // Value bounds of a shape tensor input, from the same flags (opt <- opt, shapes, max,
      // min; min and max <- themselves, else opt); none given: any values at run time.
      std::string name = t->getName();
      const std::vector<int64_t>* mn = findSpec(o.minShapes, name);
      const std::vector<int64_t>* mx = findSpec(o.maxShapes, name);
      const std::vector<int64_t>* sh = findSpec(o.shapes, name);
      const std::vector<int64_t>* op = findSpec(o.optShapes, name);
      const std::vector<int64_t>* opt = op ? op : sh ? sh : mx ? mx : mn;
      if (opt == nullptr) continue;
      const std::vector<int64_t>& vmin = mn ? *mn : *opt;
      const std::vector<int64_t>& vmax = mx ? *mx : *opt;
      const int32_t n = static_cast<int32_t>(opt->size());
      if (!profile.setShapeValues(name.c_str(), OptProfileSelector::kMIN, vmin.data(), n) ||
          !profile.setShapeValues(name.c_str(), OptProfileSelector::kOPT, opt->data(), n) ||
          !profile.setShapeValues(name.c_str(), OptProfileSelector::kMAX, vmax.data(), n))
        return invalidArgument(
            "shape tensor input '%s': the optimization profile refused its values", name.c_str());
      anyDynamic = true;
      continue;
    }
    if (!isDynamic(declared)) continue;
    anyDynamic = true;
    std::string name = t->getName();
    const std::vector<int64_t>* mn = findSpec(o.minShapes, name);
    const std::vector<int64_t>* op = findSpec(o.optShapes, name);
    const std::vector<int64_t>* mx = findSpec(o.maxShapes, name);
    const std::vector<int64_t>* sh = findSpec(o.shapes, name);
    // opt <- opt, shapes, max, min; min and max <- themselves, else opt.
    const std::vector<int64_t>* opt = op ? op : sh ? sh : mx ? mx : mn;
    std::vector<int64_t> fallback;
    if (opt == nullptr) {
      for (int d = 0; d < declared.nbDims; ++d)
        fallback.push_back(declared.d[d] < 0 ? 1 : declared.d[d]);
      reportWarning("input '" + name + "' has dynamic shape " + t->getShapeString() +
                    " and no shapes were given; using " + dimsString(toDims(fallback)) +
                    " for min, opt and max (set --minShapes/--optShapes/--maxShapes or --shapes)");
      opt = &fallback;
    }
    const std::vector<int64_t>& vmin = mn ? *mn : *opt;
    const std::vector<int64_t>& vmax = mx ? *mx : *opt;
    for (size_t d = 0; d < opt->size(); ++d) {
      if (vmin[d] > (*opt)[d] || (*opt)[d] > vmax[d])
        return invalidArgument(
            "input '%s': profile needs min <= opt <= max in every dim, got "
            "min %s, opt %s, max %s",
            name.c_str(), dimsString(toDims(vmin)).c_str(), dimsString(toDims(*opt)).c_str(),
            dimsString(toDims(vmax)).c_str());
    }
    if (!profile.setShape(name.c_str(), toDims(vmin), toDims(*opt), toDims(vmax)))
      return invalidArgument("input '%s': the optimization profile refused min %s, opt %s, max %s",
                             name.c_str(), dimsString(toDims(vmin)).c_str(),
                             dimsString(toDims(*opt)).c_str(), dimsString(toDims(vmax)).c_str());
  }
  return anyDynamic;
}

}  // namespace

StatusOr<ParsedModel> parseOnnxModel(const std::string& path, Logger& logger, bool preferPlugins) {
  KILN_RETURN_IF_ERROR(checkReadableFile(path));
  if (looksLikePlan(path))
    return invalidArgument("'%s' is a Kiln plan, not an ONNX model (use --loadEngine)",
                           path.c_str());
  ParsedModel m;
  m.builder = Builder::create(logger);
  if (!m.builder) return internalError("could not create a builder");
  m.network = m.builder->createNetwork();
  if (!m.network)
    return internalError("could not create a network: %s", m.builder->getLastError().c_str());
  m.parser = OnnxParser::create(*m.network, logger);
  if (!m.parser) return internalError("could not create the ONNX parser");
  m.parser->setPreferPlugins(preferPlugins);
  if (!m.parser->parseFromFile(path.c_str())) {
    int n = m.parser->getNbErrors();
    std::string msg = "failed to parse ONNX model '" + path + "' (" + std::to_string(n) +
                      (n == 1 ? " error)" : " errors)");
    for (int i = 0; i < n; ++i) msg += "\n  " + m.parser->getError(i).toString();
    if (n == 0 && !m.network->getLastError().empty()) msg += "\n  " + m.network->getLastError();
    return invalidArgument("%s", msg.c_str());
  }
  return m;
}

StatusOr<std::vector<uint8_t>> buildPlan(const BuildOptions& o, const CommonOptions& common,
                                         Logger& logger) {
  if (o.onnx.empty()) return invalidArgument("no model given: pass --onnx=<model.onnx>");
  KILN_ASSIGN_OR_RETURN(ParsedModel m, parseOnnxModel(o.onnx, logger));
  return buildParsedModel(m, o, common);
}

StatusOr<std::vector<uint8_t>> buildParsedModel(ParsedModel& m, const BuildOptions& o,
                                                const CommonOptions& common) {
  std::unique_ptr<BuilderConfig> config = m.builder->createConfig();
  if (!config) return internalError("could not create a builder config");
  if (o.fp16) config->setFlag(BuilderFlag::kFP16);
  if (o.bf16) config->setFlag(BuilderFlag::kBF16);
  if (o.tf32) config->setFlag(BuilderFlag::kTF32);
  if (o.noTF32) config->clearFlag(BuilderFlag::kTF32);
  if (o.workspaceBytes) config->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, *o.workspaceBytes);
  if (o.optimizationLevel) config->setBuilderOptimizationLevel(*o.optimizationLevel);
  if (!o.disabledPasses.empty()) config->setDisabledPasses(o.disabledPasses);
  if (!o.timingCacheFile.empty()) config->setTimingCacheFile(o.timingCacheFile);
  config->setProfilingVerbosity(o.profilingVerbosity);
  // --layerPrecisions: Layer::setPrecision on the parsed layers (by ONNX node name).
  for (const auto& [name, type] : o.layerPrecisions) {
    int matched = 0;
    for (int i = 0; i < m.network->getNbLayers(); ++i) {
      Layer* layer = m.network->getLayer(i);
      if (name != "*" && name != layer->getName()) continue;
      layer->setPrecision(type);
      ++matched;
    }
    if (matched == 0)
      return invalidArgument(
          "--layerPrecisions: the network has no layer named '%s' (layer names are the ONNX "
          "node names; `kiln inspect --onnx=%s` lists them)",
          name.c_str(), o.onnx.c_str());
  }
  config->setDeviceType(common.device);

  OptimizationProfile* profile = m.builder->createOptimizationProfile();
  if (profile == nullptr) return internalError("could not create an optimization profile");
  KILN_ASSIGN_OR_RETURN(bool dynamic, fillProfile(o, *m.network, *profile));
  if (dynamic && config->addOptimizationProfile(profile) < 0)
    return invalidArgument("the optimization profile is invalid (min <= opt <= max must hold)");

  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<HostMemory> plan = m.builder->buildSerializedNetwork(*m.network, *config);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!plan) {
    std::string err = m.builder->getLastError();
    return invalidArgument("building '%s' failed: %s", o.onnx.c_str(),
                           err.empty() ? "(no message; rerun with --verbose)" : err.c_str());
  }
  if (!o.quiet) std::printf("Engine built in %.3f s (%zu bytes)\n", seconds, plan->size());
  if (!o.saveEngine.empty()) {
    KILN_RETURN_IF_ERROR(writeFile(o.saveEngine, plan->data(), plan->size()));
    std::printf("Engine saved to %s\n", o.saveEngine.c_str());
  }
  std::fflush(stdout);
  return plan->bytes();
}

StatusOr<LoadedEngine> loadEngine(std::span<const uint8_t> plan, const std::string& what,
                                  Logger& logger) {
  LoadedEngine e;
  e.runtime = Runtime::create(logger);
  if (!e.runtime) return internalError("could not create a runtime");
  e.engine = e.runtime->deserializeEngine(plan.data(), plan.size());
  if (!e.engine) {
    std::string err = e.runtime->getLastError();
    return invalidArgument("cannot load plan %s: %s", what.c_str(),
                           err.empty() ? "(no message; rerun with --verbose)" : err.c_str());
  }
  return e;
}

int cmdBuild(std::span<const std::string> argv) {
  CommandLine cl = parseCommandLine(Command::kBuild, argv);
  if (cl.exitNow >= 0) return cl.exitNow;
  auto opts = buildOptions(cl.args);
  if (!opts.isOk()) return reportError(opts.status(), kExitUsage);
  if (opts->onnx.empty())
    return reportError(
        invalidArgument("kiln build needs --onnx=<model.onnx> (see kiln build --help)"),
        kExitUsage);
  if (opts->saveEngine.empty())
    reportWarning("no --saveEngine given: the plan is built and then discarded");
  StderrLogger logger(cl.common.verbose ? Severity::kVERBOSE : Severity::kWARNING);
  auto plan = buildPlan(*opts, cl.common, logger);
  if (!plan.isOk()) return reportError(plan.status());
  return kExitOk;
}

}  // namespace kiln::cli
