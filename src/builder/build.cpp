#include "builder/build.h"

#include <chrono>
#include <map>

#include "api/network_impl.h"
#include "backends/cpu/cpu_kernel.h"
#include "common/logging.h"
#include "ir/shape_inference.h"
#include "optimizer/pass_manager.h"
#include "plugins/plugin_node.h"
#include "runtime/executor.h"
#include "runtime/gpu_backend.h"
#include "runtime/memory_plan.h"
#include "runtime/timing_cache.h"

namespace kiln::build {

namespace {

std::vector<int64_t> dimsVec(const Dims& d) {
  return std::vector<int64_t>(d.d, d.d + std::max(d.nbDims, 0));
}

// The value bounds profile `p` gives for input `in` (empty when none); only shape tensor
// inputs of integer type take them.
StatusOr<plan::ProfileInput> checkShapeValues(const ir::Value& in, const OptimizationProfile& prof,
                                              int p) {
  plan::ProfileInput out;
  out.name = in.name;
  const OptProfileSelector sels[3] = {OptProfileSelector::kMIN, OptProfileSelector::kOPT,
                                      OptProfileSelector::kMAX};
  std::vector<int64_t> v[3];
  for (int k = 0; k < 3; ++k) v[k] = prof.getShapeValues(in.name.c_str(), sels[k]);
  if (v[0].empty() && v[1].empty() && v[2].empty()) return out;
  if (!in.isShapeTensor)
    return invalidArgument(
        "optimization profile %d gives values for input '%s', which is not a "
        "shape tensor input (no layer reads its values to decide shapes)",
        p, in.name.c_str());
  if (in.dtype != DataType::kINT32 && in.dtype != DataType::kINT64)
    return invalidArgument(
        "optimization profile %d gives values for shape tensor input '%s' of "
        "type %s; value bounds are supported for int32 and int64 inputs",
        p, in.name.c_str(), dataTypeName(in.dtype));
  const size_t n = static_cast<size_t>(ir::volumeOf(ir::staticDims(in.shape)));
  for (int k = 0; k < 3; ++k) {
    if (v[k].size() != n)
      return invalidArgument(
          "optimization profile %d: shape tensor input '%s' has %zu elements, "
          "but its %s values have %zu (give min, opt and max values)",
          p, in.name.c_str(), n,
          k == 0   ? "min"
          : k == 1 ? "opt"
                   : "max",
          v[k].size());
  }
  for (size_t i = 0; i < n; ++i)
    if (!(v[0][i] <= v[1][i] && v[1][i] <= v[2][i]))
      return invalidArgument(
          "optimization profile %d, shape tensor input '%s': element %zu must "
          "satisfy min <= opt <= max (got %lld, %lld, %lld)",
          p, in.name.c_str(), i, static_cast<long long>(v[0][i]), static_cast<long long>(v[1][i]),
          static_cast<long long>(v[2][i]));
  out.minValues = std::move(v[0]);
  out.optValues = std::move(v[1]);
  out.maxValues = std::move(v[2]);
  return out;
}

// Checks every profile against the network's inputs and converts it to the plan's form.
StatusOr<std::vector<plan::Profile>> checkProfiles(const ir::Graph& g,
                                                   const BuilderConfig& config) {
  std::vector<const ir::Value*> dynamicInputs;
  for (const ir::Value* in : g.inputs())
    if (!ir::isStatic(in->shape)) dynamicInputs.push_back(in);
  std::vector<plan::Profile> out;
  if (config.getNbOptimizationProfiles() == 0) {
    if (!dynamicInputs.empty())
      return invalidArgument(
          "input '%s' has dynamic dimensions %s but no optimization profile was given; add one "
          "with min/opt/max shapes for every dynamic input (kiln: "
          "--minShapes/--optShapes/--maxShapes)",
          dynamicInputs[0]->name.c_str(), ir::shapeToString(dynamicInputs[0]->shape).c_str());
    return out;
  }
  for (int p = 0; p < config.getNbOptimizationProfiles(); ++p) {
    const OptimizationProfile* prof = config.getOptimizationProfile(p);
    plan::Profile pp;
    for (const std::string& name : prof->getInputNames()) {
      bool found = false;
      for (const ir::Value* in : g.inputs()) found = found || in->name == name;
      if (!found)
        return invalidArgument("optimization profile %d names '%s', which is not a network input",
                               p, name.c_str());
    }
    for (const ir::Value* in : g.inputs()) {
      Dims mn = prof->getDimensions(in->name.c_str(), OptProfileSelector::kMIN);
      Dims op = prof->getDimensions(in->name.c_str(), OptProfileSelector::kOPT);
      Dims mx = prof->getDimensions(in->name.c_str(), OptProfileSelector::kMAX);
      KILN_ASSIGN_OR_RETURN(plan::ProfileInput values, checkShapeValues(*in, *prof, p));
      if (mn.nbDims < 0 || op.nbDims < 0 || mx.nbDims < 0) {
        if (!values.minValues.empty()) {  // a static shape tensor input with value bounds
          values.min = values.opt = values.max = ir::staticDims(in->shape);
          pp.inputs.push_back(std::move(values));
          continue;
        }
        if (!ir::isStatic(in->shape))
          return invalidArgument(
              "optimization profile %d gives no min/opt/max shapes for dynamic input '%s' %s", p,
              in->name.c_str(), ir::shapeToString(in->shape).c_str());
        continue;
      }
      const Dims* all[3] = {&mn, &op, &mx};
      const char* sel[3] = {"min", "opt", "max"};
      for (int k = 0; k < 3; ++k) {
        if (static_cast<size_t>(all[k]->nbDims) != in->shape.size())
          return invalidArgument(
              "optimization profile %d: %s shape %s of input '%s' has rank %d, the input has rank "
              "%zu",
              p, sel[k], all[k]->toString().c_str(), in->name.c_str(), all[k]->nbDims,
              in->shape.size());
        for (size_t i = 0; i < in->shape.size(); ++i) {
          if (in->shape[i].isConst() && in->shape[i].constValue() != all[k]->d[i])
            return invalidArgument(
                "optimization profile %d: %s shape %s of input '%s' contradicts its fixed "
                "dimension %zu (= %lld)",
                p, sel[k], all[k]->toString().c_str(), in->name.c_str(), i,
                static_cast<long long>(in->shape[i].constValue()));
        }
      }
      for (int i = 0; i < mn.nbDims; ++i) {
        if (mn.d[i] < 0 || !(mn.d[i] <= op.d[i] && op.d[i] <= mx.d[i]))
          return invalidArgument(
              "optimization profile %d, input '%s': dimension %d must satisfy 0 <= min <= opt <= "
              "max (got %lld, %lld, %lld)",
              p, in->name.c_str(), i, static_cast<long long>(mn.d[i]),
              static_cast<long long>(op.d[i]), static_cast<long long>(mx.d[i]));
      }
      values.min = dimsVec(mn);
      values.opt = dimsVec(op);
      values.max = dimsVec(mx);
      pp.inputs.push_back(std::move(values));
    }
    out.push_back(std::move(pp));
  }
  return out;
}

// The activation memory a GPU context will plan at these shapes (the executor uses the same
// planner), against one buffer per activation.
void logActivationPlan(const ir::Graph& g, const ir::ShapeTable& table, Logger& logger,
                       const std::string& where) {
  auto order = g.topoOrder();
  if (!order.isOk()) return;
  std::vector<size_t> bytes(g.valueCapacity(), 0);
  std::vector<bool> external(g.valueCapacity(), false);
  for (const ir::Value* v : g.values()) {
    const ir::ValueInfo& info = table[v->id];
    if (!info.known || !ir::isStatic(info.shape)) continue;
    auto b = detail::tensorBytes(*v, info);
    if (!b.isOk()) return;
    bytes[static_cast<size_t>(v->id)] = *b;
    external[static_cast<size_t>(v->id)] = v->isGraphInput || v->isGraphOutput || v->isConstant();
  }
  std::vector<const ir::Node*> run;
  for (const ir::Node* n : *order) {
    if (!detail::resolvedOnHost(*n, table)) {
      run.push_back(n);
      continue;
    }
    for (const ir::Value* out : n->outputs) external[static_cast<size_t>(out->id)] = true;
  }
  const std::vector<int> roots = detail::foldAliases(run, bytes, external);  // reshapes as views
  std::vector<detail::ActivationRequest> reqs =
      detail::activationRequests(run, bytes, external, &roots);
  detail::ActivationPlan plan = detail::planOffsets(reqs);
  double saved = plan.naiveBytes
                     ? 100.0 * (1.0 - static_cast<double>(plan.totalBytes) / plan.naiveBytes)
                     : 0.0;
  logMessage(&logger, Severity::kINFO, "builder",
             strFormat("activation memory at %s: %.2f MiB planned for %zu activations (one buffer "
                       "each: %.2f MiB; "
                       "%.0f%% saved by reuse)",
                       where.c_str(), plan.totalBytes / 1048576.0, reqs.size(),
                       plan.naiveBytes / 1048576.0, saved));
}

// Tactic timing: layers with alternatives (cuDNN engines, cuBLASLt algorithms) are timed on this
// GPU at the opt shapes of profile 0 (or the network's static shapes); the fastest is recorded
// in the plan as the node's "tactic" attribute, which execution contexts then prepare.
constexpr int kTacticTimingLevel = 3;
constexpr int kGpuAttentionFusionLevel = 4;

Status timeTactics(plan::PlanContents& plan, const BuilderConfig& config, Logger& logger) {
  std::map<std::string, std::vector<int64_t>> dims;
  detail::HostValues values;
  const ir::Graph& g = *plan.graph;
  for (const ir::Value* in : g.inputs()) {
    const plan::ProfileInput* pin = nullptr;
    if (!plan.profiles.empty())
      for (const plan::ProfileInput& p : plan.profiles[0].inputs)
        if (p.name == in->name) pin = &p;
    if (pin) {
      dims[in->name] = pin->opt;
    } else if (ir::isStatic(in->shape)) {
      dims[in->name] = ir::staticDims(in->shape);
    } else {
      return internalError("input '%s' has neither a profile nor static dims", in->name.c_str());
    }
    if (!in->isShapeTensor) continue;
    auto data = std::make_shared<ir::TensorData>(in->dtype, dims[in->name]);
    if (!pin || static_cast<int64_t>(pin->optValues.size()) != data->numel()) {
      // Without opt values there is no shape to time at: every layer keeps its default.
      logMessage(&logger, Severity::kINFO, "builder",
                 strFormat("tactic timing skipped: shape tensor input '%s' has no values in an "
                           "optimization profile (OptimizationProfile::setShapeValues)",
                           in->name.c_str()));
      return Status::ok();
    }
    for (size_t k = 0; k < pin->optValues.size(); ++k) {
      if (in->dtype == DataType::kINT64)
        data->as<int64_t>()[k] = pin->optValues[k];
      else
        data->as<int32_t>()[k] = static_cast<int32_t>(pin->optValues[k]);
    }
    values[in->name] = data;
  }
  const std::string& cachePath = config.getTimingCacheFile();
  detail::TimingCache cache;
  if (!cachePath.empty()) {
    KILN_ASSIGN_OR_RETURN(cache, detail::TimingCache::load(cachePath));
  }
  const size_t cachedBefore = cache.size();
  StatusOr<detail::TacticTimingReport> report =
      detail::timeGpuTactics(plan, dims, values, cachePath.empty() ? nullptr : &cache, &logger);
  if (!report.isOk()) return report.status().withContext("tactic timing");
  for (ir::Node* n : plan.graph->nodes()) {
    auto it = report->chosen.find(n->name);
    if (it != report->chosen.end()) n->attrs.setString("tactic", it->second);
  }
  logMessage(
      &logger, Severity::kINFO, "builder",
      strFormat("tactic timing: %d layers with alternatives, %d timed, %d from the timing "
                "cache, in %.2f s",
                report->layersWithChoices, report->timed, report->fromCache, report->seconds));
  if (!cachePath.empty()) {
    KILN_RETURN_IF_ERROR(cache.save(cachePath));
    logMessage(&logger, Severity::kINFO, "builder",
               strFormat("timing cache '%s': %zu entries (%zu new)", cachePath.c_str(),
                         cache.size(), cache.size() - cachedBefore));
  }
  return Status::ok();
}

}  // namespace

StatusOr<plan::PlanContents> buildPlan(const NetworkDefinition& network,
                                       const BuilderConfig& config, Logger& logger) {
  auto start = std::chrono::steady_clock::now();
  const detail::NetworkImpl& net = network.impl();
  const bool gpu = config.getDeviceType() == DeviceType::kGPU;
  plan::TargetDevice target;  // the CPU unless a GPU build is asked for
  if (gpu) {
    auto here = detail::currentGpuDevice();
    if (!here.isOk()) return here.status().withContext("building for the GPU");
    target = *here;
  }
  std::unique_ptr<ir::Graph> g = net.graph->clone();
  KILN_RETURN_IF_ERROR(ir::verifyGraph(*g));
  KILN_ASSIGN_OR_RETURN(std::vector<plan::Profile> profiles, checkProfiles(*g, config));
  KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(*g));
  size_t layersBefore = g->nodes().size();

  opt::PassContext pctx;
  pctx.logger = &logger;
  pctx.optimizationLevel = config.getBuilderOptimizationLevel();
  pctx.disabledPasses.insert(config.getDisabledPasses().begin(), config.getDisabledPasses().end());
  KILN_RETURN_IF_ERROR(opt::checkPassNames(pctx.disabledPasses));
  // The fused GPU Attention kernel is still slower than the unfused graph on cuBLASLt (H100,
  // 2026-12-07: 425 us against ~170 us per ViT-B/16 layer at batch 32; docs/BENCHMARKS.md), so
  // GPU builds fuse attention only from level 4, where the user asks for it.
  if (gpu && pctx.optimizationLevel < kGpuAttentionFusionLevel &&
      pctx.disabledPasses.insert("attention-fusion").second)
    logMessage(&logger, Severity::kVERBOSE, "builder",
               "attention-fusion is off for GPU builds below --builderOptimizationLevel=4");
  // attention-layout (FusedAttention) follows attention-fusion's gating.
  if (gpu && pctx.optimizationLevel < kGpuAttentionFusionLevel &&
      pctx.disabledPasses.insert("attention-layout").second)
    logMessage(&logger, Severity::kVERBOSE, "builder",
               "attention-layout is off for GPU builds below --builderOptimizationLevel=4");
  pctx.verifyEachPass = config.getFlag(BuilderFlag::kDEBUG);
#ifndef NDEBUG
  pctx.verifyEachPass = true;
#endif
  KILN_RETURN_IF_ERROR(opt::runPasses(*g, pctx));
  if (config.getFlag(BuilderFlag::kFP16) && !pctx.disabledPasses.count(opt::kFp16PassName)) {
    pctx.fp16 = true;
    StatusOr<bool> fp16 = opt::fp16PrecisionPass(*g, pctx);
    if (!fp16.isOk()) return fp16.status().withContext("pass fp16-precision");
  }
  // NHWC float16/bfloat16 convolution regions for cuDNN's tensor-core kernels (GPU builds).
  if (gpu && pctx.optimizationLevel >= opt::kChannelsLastMinLevel &&
      !pctx.disabledPasses.count(opt::kChannelsLastPassName)) {
    StatusOr<bool> nhwc = opt::channelsLastPass(*g, pctx);
    if (!nhwc.isOk()) return nhwc.status().withContext("pass channels-last");
  }
  g->removeDeadNodes();
  KILN_RETURN_IF_ERROR(g->compact());
  KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(*g));
  KILN_RETURN_IF_ERROR(ir::verifyGraph(*g));

  // Lowering: every layer needs a kernel on the target backend.
  if (gpu) KILN_RETURN_IF_ERROR(detail::checkGpuLowering(*g));
  for (ir::Node* n : g->nodes()) {
    if (gpu) break;
    if (!cpu::cpuKernels()[static_cast<size_t>(n->op)])
      return unsupported("%s: the CPU backend has no kernel for op %s", n->describe().c_str(),
                         ir::opName(n->op));
    // Plugins: the plugin must run on the CPU; records its tactic (the tactic hook).
    if (n->op == ir::OpKind::kPlugin)
      KILN_RETURN_IF_ERROR(plugins::lowerPluginNode(*n, DeviceType::kCPU));
  }
  // Check the graph at the profile's opt shapes: the shapes must be consistent (e.g. shared
  // named dims, reshape sizes), so errors show at build time rather than at first run.
  for (size_t p = 0; p < profiles.size(); ++p) {
    ir::ShapeTable table = ir::ShapeTable::fromGraph(*g);
    std::vector<ir::TensorDataPtr> optValues;  // kept alive while `table` points into them
    for (const auto& pin : profiles[p].inputs) {
      const ir::Value* v = g->findValue(pin.name);
      table[v->id].shape = ir::shapeFromDims(pin.opt);
      if (pin.optValues.empty()) continue;
      auto data = std::make_shared<ir::TensorData>(v->dtype, ir::staticDims(v->shape));
      for (size_t k = 0; k < pin.optValues.size(); ++k) {
        if (v->dtype == DataType::kINT64)
          data->as<int64_t>()[k] = pin.optValues[k];
        else
          data->as<int32_t>()[k] = static_cast<int32_t>(pin.optValues[k]);
      }
      ir::ValueInfo& info = table[v->id];
      info.constant = data.get();
      info.deferred = false;
      std::vector<ir::DimExpr> vals(pin.optValues.begin(), pin.optValues.end());
      info.value = std::move(vals);
      optValues.push_back(std::move(data));
    }
    for (const ir::Value* v : g->values())
      if (!v->isGraphInput && !v->isConstant()) table[v->id] = ir::ValueInfo{};
    Status st = ir::inferGraph(*g, table);
    if (!st.isOk())
      return st.withContext("at the opt shapes of optimization profile " + std::to_string(p));
    if (gpu) logActivationPlan(*g, table, logger, "the opt shapes of profile " + std::to_string(p));
  }
  if (gpu && profiles.empty()) {
    ir::ShapeTable table = ir::ShapeTable::fromGraph(*g);
    for (const ir::Value* v : g->values())
      if (!v->isGraphInput && !v->isConstant()) table[v->id] = ir::ValueInfo{};
    KILN_RETURN_IF_ERROR(ir::inferGraph(*g, table));
    logActivationPlan(*g, table, logger, "the network's shapes");
  }

  plan::PlanContents plan;
  plan.networkName = net.name;
  plan.graph = std::move(g);
  plan.profiles = std::move(profiles);
  plan.device = target;
  plan.profilingVerbosity = config.getProfilingVerbosity();
  // --profilingVerbosity=none: the plan keeps no per-layer detail beyond what running needs (the
  // fused-node lists are informational only; names, types and tactics are needed to run).
  if (plan.profilingVerbosity == ProfilingVerbosity::kNONE)
    for (ir::Node* n : plan.graph->nodes()) n->attrs.erase("fused_nodes");
  if (gpu && config.getBuilderOptimizationLevel() >= kTacticTimingLevel)
    KILN_RETURN_IF_ERROR(timeTactics(plan, config, logger));
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  logMessage(&logger, Severity::kINFO, "builder",
             strFormat("built '%s' for %s: %zu layers -> %zu after optimization, in %.1f ms",
                       net.name.c_str(), gpu ? target.name.c_str() : "the CPU", layersBefore,
                       plan.graph->nodes().size(), ms));
  return plan;
}

}  // namespace kiln::build
