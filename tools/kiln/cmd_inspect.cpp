// `kiln inspect`: inputs, outputs and layers of an ONNX model or a plan (plus a plan's profiles
// and device), as text or JSON; --dot/--html draw the graph (graph_view.h).
#include <cstdio>
#include <sstream>

#include "commands.h"
#include "graph_view.h"
#include "json_writer.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace {

std::string tensorDesc(const Tensor* t) {
  if (t == nullptr) return "(none)";
  return std::string(t->getName()) + " " + dataTypeName(t->getType()) + t->getShapeString();
}

void writeTensorJson(JsonWriter& w, const Tensor* t) {
  if (t == nullptr) {
    w.raw("null");
    return;
  }
  w.beginObject();
  w.key("name");
  w.string(t->getName());
  w.key("dtype");
  w.string(dataTypeName(t->getType()));
  w.key("shape");
  w.string(t->getShapeString());
  if (t->isShapeTensor()) {
    w.key("shapeTensor");
    w.raw("true");
  }
  w.endObject();
}

bool wantsPicture(const InspectOptions& o) { return !o.dot.empty() || !o.html.empty(); }

// Writes the --dot / --html pictures of `g` ("-": stdout).
Status writePictures(const InspectOptions& o, const GraphModel& g) {
  for (const auto& [path, text] :
       {std::pair{o.dot, o.dot.empty() ? std::string() : graphToDot(g)},
        std::pair{o.html, o.html.empty() ? std::string() : graphToHtml(g)}}) {
    if (path.empty()) continue;
    if (path == "-") {
      std::fwrite(text.data(), 1, text.size(), stdout);
      continue;
    }
    KILN_RETURN_IF_ERROR(writeFile(path, text));
    std::fprintf(stderr, "kiln: wrote %s (%zu layers)\n", path.c_str(), g.layers.size());
  }
  return Status::ok();
}

// The picture of an engine's layers (a plan, or the optimized graph of an ONNX model).
StatusOr<GraphModel> engineGraph(const Engine& e, const std::string& title) {
  std::vector<GraphTensor> ins, outs;
  for (int i = 0; i < e.getNbIOTensors(); ++i) {
    const char* n = e.getIOTensorName(i);
    GraphTensor t{n, dataTypeName(e.getTensorDataType(n)), e.getTensorShapeString(n)};
    (e.getTensorIOMode(n) == TensorIOMode::kINPUT ? ins : outs).push_back(std::move(t));
  }
  return graphFromLayerInfo(e.getLayerInformation(true), std::move(ins), std::move(outs), title);
}

GraphTensor graphTensor(const Tensor* t) {
  return {t->getName(), dataTypeName(t->getType()), t->getShapeString()};
}

// --raw: the network as parsed (layer types are Kiln's op names; no precision decided yet, so
// boxes show the output type).
GraphModel networkGraph(const NetworkDefinition& net, const std::string& title) {
  GraphModel g;
  g.title = title;
  for (int i = 0; i < net.getNbInputs(); ++i) g.inputs.push_back(graphTensor(net.getInput(i)));
  for (int i = 0; i < net.getNbOutputs(); ++i) g.outputs.push_back(graphTensor(net.getOutput(i)));
  for (int i = 0; i < net.getNbLayers(); ++i) {
    const Layer* l = net.getLayer(i);
    GraphLayer gl;
    gl.name = l->getName();
    gl.type = l->getType();
    for (int j = 0; j < l->getNbInputs(); ++j)
      if (const Tensor* t = l->getInput(j)) gl.inputs.push_back(graphTensor(t));
    for (int j = 0; j < l->getNbOutputs(); ++j)
      if (const Tensor* t = l->getOutput(j)) gl.outputs.push_back(graphTensor(t));
    if (!gl.outputs.empty()) gl.precision = gl.outputs[0].dtype;
    g.layers.push_back(std::move(gl));
  }
  return g;
}

int inspectOnnx(const InspectOptions& o, const CommonOptions& common, Logger& logger) {
  auto model = parseOnnxModel(o.path, logger);
  if (!model.isOk()) return reportError(model.status());
  if (wantsPicture(o)) {
    if (o.raw) {
      Status s = writePictures(o, networkGraph(*model->network, o.path + " (as parsed)"));
      if (!s.isOk()) return reportError(s);
    } else {
      // The optimized graph: build the model (on the CPU unless --device says otherwise; dynamic
      // dims without shapes default to 1 for the profile but stay symbolic in the graph).
      BuildOptions b;
      b.onnx = o.path;
      b.quiet = true;
      auto plan = buildParsedModel(*model, b, common);
      if (!plan.isOk()) {
        const int rc = reportError(plan.status());
        std::fprintf(stderr, "kiln: note: --raw draws the graph as parsed, without building it\n");
        return rc;
      }
      auto loaded = loadEngine(*plan, "built from '" + o.path + "'", logger);
      if (!loaded.isOk()) return reportError(loaded.status());
      const bool gpu = loaded->engine->getDeviceType() == DeviceType::kGPU;
      auto g = engineGraph(*loaded->engine,
                           o.path + " (optimized for the " + (gpu ? "GPU" : "CPU") + ")");
      if (!g.isOk()) return reportError(g.status());
      Status s = writePictures(o, *g);
      if (!s.isOk()) return reportError(s);
    }
    if (o.dot == "-" || o.html == "-") return kExitOk;  // stdout holds the picture only
  }
  const NetworkDefinition& net = *model->network;
  if (o.json) {
    JsonWriter w;
    w.beginObject();
    w.key("format"); w.string("onnx");
    w.key("path"); w.string(o.path);
    w.key("name"); w.string(net.getName());
    w.key("inputs");
    w.beginArray();
    for (int i = 0; i < net.getNbInputs(); ++i) writeTensorJson(w, net.getInput(i));
    w.endArray();
    w.key("outputs");
    w.beginArray();
    for (int i = 0; i < net.getNbOutputs(); ++i) writeTensorJson(w, net.getOutput(i));
    w.endArray();
    w.key("layers");
    w.beginArray();
    for (int i = 0; i < net.getNbLayers(); ++i) {
      const Layer* l = net.getLayer(i);
      w.newline();
      w.beginObject();
      w.key("name"); w.string(l->getName());
      w.key("type"); w.string(l->getType());
      w.key("inputs");
      w.beginArray();
      for (int j = 0; j < l->getNbInputs(); ++j) writeTensorJson(w, l->getInput(j));
      w.endArray();
      w.key("outputs");
      w.beginArray();
      for (int j = 0; j < l->getNbOutputs(); ++j) writeTensorJson(w, l->getOutput(j));
      w.endArray();
      w.key("attributes"); w.string(l->getAttributesString());
      w.endObject();
    }
    w.newline();
    w.endArray();
    w.endObject();
    std::printf("%s\n", w.str().c_str());
    return kExitOk;
  }
  std::printf("Model: %s (ONNX), network '%s'\n", o.path.c_str(), net.getName());
  std::printf("Inputs (%d):\n", net.getNbInputs());
  for (int i = 0; i < net.getNbInputs(); ++i)
    std::printf("  %s\n", tensorDesc(net.getInput(i)).c_str());
  std::printf("Outputs (%d):\n", net.getNbOutputs());
  for (int i = 0; i < net.getNbOutputs(); ++i)
    std::printf("  %s\n", tensorDesc(net.getOutput(i)).c_str());
  std::printf("Layers (%d):\n", net.getNbLayers());
  for (int i = 0; i < net.getNbLayers(); ++i) {
    const Layer* l = net.getLayer(i);
    std::string ins, outs;
    for (int j = 0; j < l->getNbInputs(); ++j) {
      if (j) ins += ", ";
      ins += tensorDesc(l->getInput(j));
    }
    for (int j = 0; j < l->getNbOutputs(); ++j) {
      if (j) outs += ", ";
      outs += tensorDesc(l->getOutput(j));
    }
    std::string attrs = l->getAttributesString();
    std::printf("  [%d] %s (%s): %s -> %s%s%s\n", i, l->getName(), l->getType(), ins.c_str(),
                outs.c_str(), attrs.empty() ? "" : "  ", attrs.c_str());
  }
  return kExitOk;
}

const char* deviceName(DeviceType d) { return d == DeviceType::kGPU ? "cuda" : "cpu"; }

int inspectPlan(const InspectOptions& o, Logger& logger) {
  auto bytes = readFile(o.path);
  if (!bytes.isOk()) return reportError(bytes.status());
  auto loaded = loadEngine(*bytes, "'" + o.path + "'", logger);
  if (!loaded.isOk()) return reportError(loaded.status());
  const Engine& e = *loaded->engine;
  if (wantsPicture(o)) {
    auto g = engineGraph(e, o.path + " (" + profilingVerbosityName(e.getProfilingVerbosity()) +
                                " plan for the " + deviceName(e.getDeviceType()) + ")");
    if (!g.isOk()) return reportError(g.status().withContext("'" + o.path + "'"));
    Status s = writePictures(o, *g);
    if (!s.isOk()) return reportError(s);
    if (o.dot == "-" || o.html == "-") return kExitOk;
  }
  struct IO {
    std::string name;
    TensorIOMode mode;
  };
  std::vector<IO> io;
  for (int i = 0; i < e.getNbIOTensors(); ++i) {
    const char* n = e.getIOTensorName(i);
    io.push_back({n, e.getTensorIOMode(n)});
  }
  const OptProfileSelector sels[] = {OptProfileSelector::kMIN, OptProfileSelector::kOPT,
                                     OptProfileSelector::kMAX};
  const char* selNames[] = {"min", "opt", "max"};
  if (o.json) {
    JsonWriter w;
    w.beginObject();
    w.key("format"); w.string("plan");
    w.key("path"); w.string(o.path);
    w.key("device"); w.string(deviceName(e.getDeviceType()));
    w.key("sizeBytes"); w.number(static_cast<int64_t>(bytes->size()));
    for (TensorIOMode mode : {TensorIOMode::kINPUT, TensorIOMode::kOUTPUT}) {
      w.key(mode == TensorIOMode::kINPUT ? "inputs" : "outputs");
      w.beginArray();
      for (const IO& t : io) {
        if (t.mode != mode) continue;
        w.beginObject();
        w.key("name"); w.string(t.name);
        w.key("dtype"); w.string(dataTypeName(e.getTensorDataType(t.name.c_str())));
        w.key("shape"); w.string(e.getTensorShapeString(t.name.c_str()));
        if (e.isShapeInferenceIO(t.name.c_str())) {
          w.key("shapeTensor"); w.raw("true");
        }
        w.endObject();
      }
      w.endArray();
    }
    w.key("profiles");
    w.beginArray();
    for (int p = 0; p < e.getNbOptimizationProfiles(); ++p) {
      w.beginObject();
      for (const IO& t : io) {
        if (t.mode != TensorIOMode::kINPUT) continue;
        Dims probe = e.getProfileShape(t.name.c_str(), p, OptProfileSelector::kMIN);
        if (probe.nbDims <= 0) continue;
        w.key(t.name);
        w.beginObject();
        for (int s = 0; s < 3; ++s) {
          w.key(selNames[s]);
          w.string(dimsString(e.getProfileShape(t.name.c_str(), p, sels[s])));
        }
        w.endObject();
      }
      w.endObject();
    }
    w.endArray();
    w.key("profilingVerbosity"); w.string(profilingVerbosityName(e.getProfilingVerbosity()));
    w.key("numLayers"); w.number(static_cast<int64_t>(e.getNbLayers()));
    std::string layers = e.getLayerInformation(true);
    w.key("layerInformation");
    if (layers.empty()) w.raw("null");
    else w.raw(layers);
    w.endObject();
    std::printf("%s\n", w.str().c_str());
    return kExitOk;
  }
  std::printf("Plan: %s (Kiln plan, %zu bytes, device %s)\n", o.path.c_str(), bytes->size(),
              deviceName(e.getDeviceType()));
  for (TensorIOMode mode : {TensorIOMode::kINPUT, TensorIOMode::kOUTPUT}) {
    std::printf("%s:\n", mode == TensorIOMode::kINPUT ? "Inputs" : "Outputs");
    for (const IO& t : io) {
      if (t.mode != mode) continue;
      std::printf("  %s %s%s%s\n", t.name.c_str(), dataTypeName(e.getTensorDataType(t.name.c_str())),
                  e.getTensorShapeString(t.name.c_str()).c_str(),
                  e.isShapeInferenceIO(t.name.c_str()) ? " (shape tensor: values in host memory)" : "");
    }
  }
  std::printf("Optimization profiles (%d):\n", e.getNbOptimizationProfiles());
  for (int p = 0; p < e.getNbOptimizationProfiles(); ++p) {
    std::printf("  profile %d:\n", p);
    for (const IO& t : io) {
      if (t.mode != TensorIOMode::kINPUT) continue;
      std::vector<int64_t> vmin = e.getProfileTensorValues(t.name.c_str(), p, OptProfileSelector::kMIN);
      if (!vmin.empty())
        std::printf("    %s values: min %s, opt %s, max %s\n", t.name.c_str(), dimsString(toDims(vmin)).c_str(),
                    dimsString(toDims(e.getProfileTensorValues(t.name.c_str(), p, OptProfileSelector::kOPT))).c_str(),
                    dimsString(toDims(e.getProfileTensorValues(t.name.c_str(), p, OptProfileSelector::kMAX))).c_str());
      Dims probe = e.getProfileShape(t.name.c_str(), p, OptProfileSelector::kMIN);
      if (probe.nbDims <= 0) continue;
      std::printf("    %s: min %s, opt %s, max %s\n", t.name.c_str(), dimsString(probe).c_str(),
                  dimsString(e.getProfileShape(t.name.c_str(), p, OptProfileSelector::kOPT)).c_str(),
                  dimsString(e.getProfileShape(t.name.c_str(), p, OptProfileSelector::kMAX)).c_str());
    }
  }
  std::printf("Layers (%d, profiling verbosity %s):\n%s\n", e.getNbLayers(),
              profilingVerbosityName(e.getProfilingVerbosity()),
              e.getLayerInformation(false).c_str());
  return kExitOk;
}

}  // namespace

int cmdInspect(std::span<const std::string> argv) {
  CommandLine cl = parseCommandLine(Command::kInspect, argv);
  if (cl.exitNow >= 0) return cl.exitNow;
  auto opts = inspectOptions(cl.args);
  if (!opts.isOk()) return reportError(opts.status(), kExitUsage);
  Status exists = checkReadableFile(opts->path);
  if (!exists.isOk()) return reportError(exists);
  StderrLogger logger(cl.common.verbose ? Severity::kVERBOSE : Severity::kWARNING);
  if (looksLikePlan(opts->path)) {
    if (opts->raw)
      return reportError(
          invalidArgument("--raw applies to ONNX models; '%s' is a plan", opts->path.c_str()),
          kExitUsage);
    return inspectPlan(*opts, logger);
  }
  return inspectOnnx(*opts, cl.common, logger);
}

}  // namespace kiln::cli
