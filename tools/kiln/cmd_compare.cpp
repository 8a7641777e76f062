// `kiln compare`: runs one ONNX model with several runners (Kiln on the CPU, Kiln on the GPU in
// float32 or float16, onnxruntime) on the same inputs and compares every output of each runner
// with the first runner's (the reference) - the counterpart of `polygraphy run`. With --markAll
// every intermediate tensor is compared as well, and the first ONNX node whose output is out of
// tolerance is named.
//
// Per compared tensor, with a = the runner's value and b = the reference's, in double:
//   abs error  |a - b|              rel error  |a - b| / max(|b|, FLT_MIN)   (FLT_MIN guards b = 0)
//   cosine     sum(a b) / sqrt(sum(a^2) sum(b^2))   over elements finite in both (1 when both
//              norms are 0, 0 when one is)
//   PASS       every element has |a - b| <= atol + rtol |b|; NaN matches only NaN, an infinity
//              only the same infinity
//   worst      the element with the largest |a - b| / (atol + rtol |b|)
//
// onnxruntime cannot be linked into Kiln: its runner is tools/kiln/ort_runner.py, run with
// python3 on raw input files in a temporary folder (protocol in the script's docstring).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "commands.h"
#include "gpu_run.h"
#include "json_reader.h"
#include "json_writer.h"
#include "model_run.h"
#include "tensor_io.h"

extern char** environ;

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kCpu = "kiln-cpu";
constexpr const char* kCuda = "kiln-cuda";
constexpr const char* kCudaFp16 = "kiln-cuda-fp16";
constexpr const char* kOrt = "onnxruntime";
constexpr int kBuckets = 10;
constexpr int kOrtExitMissing = 3;  // ort_runner.py: a needed Python package is missing
constexpr const char* kOrtInstallHint =
    "The onnxruntime runner needs python3 with numpy and onnxruntime (pip install onnxruntime; "
    "--markAll also needs onnx: pip install onnx) and Kiln's helper script ort_runner.py "
    "(in <kiln binary>/../share/kiln/, next to the binary, or at $KILN_ORT_RUNNER; $KILN_PYTHON "
    "picks the interpreter)";

// The ONNX node that produces a tensor.
struct Producer {
  std::string node;
  std::string op;
};

// The model as Kiln's parser sees it.
struct ModelInfo {
  std::vector<ModelInput> inputs;
  std::vector<std::string> outputs;  // graph outputs, in order
  // Every non-constant layer output, in layer (= topological ONNX node) order.
  std::vector<std::pair<std::string, Producer>> layerTensors;
};

// What one runner produced.
struct RunnerResult {
  std::string runner;
  std::map<std::string, HostTensor> tensors;
  std::vector<std::pair<std::string, std::string>> refused;  // (tensor, why): not produced
  // onnxruntime with --markAll: the ONNX graph's nodes, in order.
  struct Node {
    std::string name, op;
    std::vector<std::string> outputs;
  };
  std::vector<Node> onnxNodes;
  std::string version;  // onnxruntime's
};

// One tensor of one runner compared with the reference.
struct Comparison {
  std::string name;
  Producer producer;
  bool isGraphOutput = false;
  bool compared = false;
  std::string reason;  // why not compared, or why it failed without element statistics
  bool pass = false;
  DataType type = DataType::kFLOAT, refType = DataType::kFLOAT;
  Dims dims, refDims;
  int64_t count = 0, failing = 0, nanMismatches = 0;
  double maxAbs = 0, meanAbs = 0, maxRel = 0, meanRel = 0, cosine = 1;
  int64_t worst = -1;
  double worstValue = 0, worstRef = 0, worstAbs = 0;
  // Histogram of the finite absolute errors: kBuckets linear buckets over [lo, hi].
  double histLo = 0, histHi = 0;
  int64_t hist[kBuckets] = {};
  int64_t nonFinite = 0;
};

struct RunnerComparison {
  std::string runner;
  std::vector<Comparison> tensors;  // compared or failed ones, in topological order
  std::vector<Comparison> notCompared;
  bool pass = true;
  int firstMismatch = -1;  // index into tensors
};

// ---- Helpers --------------------------------------------------------------------------------

std::string opOf(const Layer& l) {
  const char* plugin = l.getPluginName();
  if (std::strcmp(l.getType(), "Plugin") == 0 && plugin != nullptr && *plugin)
    return std::string(plugin) + " (plugin)";
  return l.getType();
}

std::vector<int64_t> unravel(int64_t flat, const Dims& dims) {
  std::vector<int64_t> idx(static_cast<size_t>(std::max(dims.nbDims, 0)));
  for (int d = dims.nbDims - 1; d >= 0; --d) {
    int64_t n = std::max<int64_t>(dims.d[d], 1);
    idx[static_cast<size_t>(d)] = flat % n;
    flat /= n;
  }
  return idx;
}

std::string indexString(const std::vector<int64_t>& idx) {
  std::string s = "[";
  for (size_t i = 0; i < idx.size(); ++i) s += (i ? "," : "") + std::to_string(idx[i]);
  return s + "]";
}

std::string shapeText(const Dims& d) { return d.nbDims == 0 ? "scalar" : dimsString(d); }

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// A JSON number that reads back as exactly `v` (the shorter of %.15g and %.17g that does);
// NaN and infinities as Python's json writes them.
std::string jsonNum(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// A temporary folder, removed with everything in it when this goes out of scope.
class TempDir {
 public:
  static StatusOr<TempDir> create() {
    std::error_code ec;
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string templ = (base / "kiln_compare_XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr)
      return ioError("cannot create a temporary folder in %s: %s", base.c_str(),
                     std::strerror(errno));
    TempDir t;
    t.mPath = templ;
    return t;
  }
  TempDir() = default;
  TempDir(TempDir&& o) noexcept : mPath(std::move(o.mPath)) { o.mPath.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    if (mPath.empty()) return;
    std::error_code ec;
    fs::remove_all(mPath, ec);
  }
  const std::string& path() const { return mPath; }

 private:
  std::string mPath;
};

// ---- The model and its inputs -----------------------------------------------------------------

StatusOr<ModelInfo> loadModelInfo(const CompareOptions& o, Logger& logger) {
  KILN_ASSIGN_OR_RETURN(ParsedModel m, parseOnnxModel(o.onnx, logger, o.preferPlugins));
  ModelInfo info;
  const NetworkDefinition& net = *m.network;
  info.inputs = networkInputs(net);
  for (int i = 0; i < net.getNbOutputs(); ++i) info.outputs.push_back(net.getOutput(i)->getName());
  for (int i = 0; i < net.getNbLayers(); ++i) {
    const Layer* l = net.getLayer(i);
    for (int j = 0; j < l->getNbOutputs(); ++j) {
      const Tensor* t = l->getOutput(j);
      if (t == nullptr || t->isConstant()) continue;
      info.layerTensors.push_back({t->getName(), {l->getName(), opOf(*l)}});
    }
  }
  return info;
}

// Marks every non-constant layer output of `net` as a network output (--markAll). The builder's
// passes keep network outputs (identity elimination keeps a no-op whose input and output are
// both outputs; constant folding keeps the folded tensor's name), so each survives by name.
Status markAllTensors(NetworkDefinition& net) {
  for (int i = 0; i < net.getNbLayers(); ++i) {
    Layer* l = net.getLayer(i);
    for (int j = 0; j < l->getNbOutputs(); ++j) {
      Tensor* t = l->getOutput(j);
      if (t == nullptr || t->isConstant() || t->isNetworkOutput()) continue;
      if (!net.markOutput(*t))
        return internalError("--markAll: cannot mark tensor '%s' (layer '%s') as an output: %s",
                             t->getName(), l->getName(), net.getLastError().c_str());
    }
  }
  return Status::ok();
}

// Input shapes: --shapes, else the declared shape, dynamic dims 1 (with a warning). Also returns
// the --shapes list the Kiln builds use (every input given explicitly, so min = opt = max).
StatusOr<std::vector<HostTensor>> makeInputs(const ModelInfo& info, const CompareOptions& o,
                                             std::vector<ShapeSpec>* buildShapes) {
  return makeInputValues(info.inputs, o.shapes, o.loadInputs, o.seed, /*announce=*/true,
                         buildShapes);
}

// ---- Kiln runners -------------------------------------------------------------------------------

StatusOr<RunnerResult> runKiln(const std::string& runner, const CompareOptions& o,
                               const CommonOptions& common,
                               const std::vector<ShapeSpec>& buildShapes,
                               const std::vector<HostTensor>& inputs, Logger& logger) {
  const bool gpu = runner != kCpu;
  if (gpu) {
    Status cuda = checkCudaDevice();
    if (!cuda.isOk()) return cuda.withContext("runner " + runner);
  }
  KILN_ASSIGN_OR_RETURN(ParsedModel m, parseOnnxModel(o.onnx, logger, o.preferPlugins));
  if (o.markAll) KILN_RETURN_IF_ERROR(markAllTensors(*m.network));
  BuildOptions b;
  b.onnx = o.onnx;
  b.shapes = buildShapes;
  b.fp16 = runner == kCudaFp16;
  CommonOptions c = common;
  c.device = gpu ? DeviceType::kGPU : DeviceType::kCPU;
  KILN_ASSIGN_OR_RETURN(std::vector<uint8_t> plan, buildParsedModel(m, b, c));
  KILN_ASSIGN_OR_RETURN(LoadedEngine e, loadEngine(plan, "built from '" + o.onnx + "'", logger));
  auto outputs = runEngineOnce(*e.engine, inputs, gpu, "kiln compare");
  if (!outputs.isOk()) return outputs.status().withContext("runner " + runner);
  RunnerResult r;
  r.runner = runner;
  for (HostTensor& t : *outputs) {
    std::string name = t.name;
    r.tensors.emplace(name, std::move(t));
  }
  return r;
}

// ---- onnxruntime runner -------------------------------------------------------------------------

// The helper script: $KILN_ORT_RUNNER, else next to the binary (<bin>/../share/kiln, <bin>), else
// in the source tree of a build folder inside the repository (<repo>/build-x/bin/kiln).
// `*tried` lists where it looked, for the message.
std::string findOrtRunner(std::string* tried) {
  if (const char* env = std::getenv("KILN_ORT_RUNNER"); env && *env) {
    *tried = std::string(env) + " (from $KILN_ORT_RUNNER)";
    std::error_code ec;
    return fs::is_regular_file(env, ec) ? std::string(env) : std::string();
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    *tried = "(the kiln binary's folder is unknown: /proc/self/exe)";
    return "";
  }
  fs::path bin = exe.parent_path();
  const fs::path candidates[] = {bin / ".." / "share" / "kiln" / "ort_runner.py",
                                 bin / "ort_runner.py",
                                 bin / ".." / ".." / "tools" / "kiln" / "ort_runner.py"};
  tried->clear();
  for (const fs::path& c : candidates) {
    fs::path p = c.lexically_normal();
    *tried += (tried->empty() ? "" : ", ") + p.string();
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}

// Runs `argv` (argv[0] looked up in PATH) and returns its exit code; -1 with *spawnError set
// when it could not be started.
int runProcess(const std::vector<std::string>& argv, int* spawnError) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (err != 0) {
    *spawnError = err;
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      *spawnError = errno;
      return -1;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// Runs onnxruntime through ort_runner.py. `*unavailable` is set when python3, onnxruntime (or
// onnx, for --markAll) or the script is missing, as opposed to a failure of the run itself.
StatusOr<RunnerResult> runOrt(const CompareOptions& o, const std::vector<HostTensor>& inputs,
                              const TempDir& tmp, bool* unavailable) {
  *unavailable = false;
  std::string tried;
  std::string script = findOrtRunner(&tried);
  if (script.empty()) {
    *unavailable = true;
    return notFound("the helper script ort_runner.py was not found (looked at %s)", tried.c_str());
  }
  // Inputs as raw files plus the request.
  fs::path dir = fs::path(tmp.path()) / "ort";
  std::error_code ec;
  fs::create_directories(dir / "out", ec);
  if (ec) return ioError("cannot create %s: %s", dir.c_str(), ec.message().c_str());
  JsonWriter req;
  req.beginObject();
  req.key("model");
  req.string(fs::absolute(o.onnx, ec).string());
  req.key("inputs");
  req.beginArray();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const HostTensor& t = inputs[i];
    std::string file = (dir / ("in_" + std::to_string(i) + ".bin")).string();
    KILN_RETURN_IF_ERROR(writeFile(file, t.buffer.data(), t.buffer.size()));
    req.beginObject();
    req.key("name");
    req.string(t.name);
    req.key("dtype");
    req.string(dataTypeName(t.type));
    req.key("shape");
    req.beginArray();
    for (int d = 0; d < t.dims.nbDims; ++d) req.number(t.dims.d[d]);
    req.endArray();
    req.key("file");
    req.string(file);
    req.endObject();
  }
  req.endArray();
  req.key("markAll");
  req.boolean(o.markAll);
  req.key("outDir");
  req.string((dir / "out").string());
  req.endObject();
  std::string reqPath = (dir / "request.json").string();
  KILN_RETURN_IF_ERROR(writeFile(reqPath, req.str()));

  const char* pyEnv = std::getenv("KILN_PYTHON");
  std::string python = pyEnv && *pyEnv ? pyEnv : "python3";
  int spawnError = 0;
  int rc = runProcess({python, script, reqPath}, &spawnError);
  if (rc < 0) {
    *unavailable = spawnError == ENOENT || spawnError == EACCES;
    return unsupported("cannot run '%s': %s", python.c_str(), std::strerror(spawnError));
  }
  if (rc == kOrtExitMissing) {
    *unavailable = true;
    return unsupported("%s %s: a Python package is missing (see the message above)", python.c_str(),
                       script.c_str());
  }
  if (rc == 127) {  // a wrapper (env, a shell) could not find the interpreter
    *unavailable = true;
    return unsupported("'%s' was not found", python.c_str());
  }
  if (rc != 0)
    return invalidArgument("onnxruntime failed on '%s' (%s exited with %d; see the message above)",
                           o.onnx.c_str(), script.c_str(), rc);

  // The result: every output as a raw file plus dtype and shape.
  std::string resultPath = (dir / "out" / "result.json").string();
  KILN_ASSIGN_OR_RETURN(std::vector<uint8_t> text, readFile(resultPath));
  auto doc = parseJson(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
  if (!doc.isOk()) return doc.status().withContext(resultPath);
  RunnerResult r;
  r.runner = kOrt;
  r.version = doc->getString("onnxruntime");
  const JsonValue* outs = doc->find("outputs");
  if (outs == nullptr || !outs->isArray())
    return invalidArgument("%s: no \"outputs\" list", resultPath.c_str());
  for (const JsonValue& out : outs->items) {
    std::string name = out.getString("name");
    std::string dtype = out.getString("dtype");
    DataType type;
    if (!parseDataType(dtype, &type)) {
      r.refused.push_back(
          {name, "onnxruntime produced dtype '" + dtype + "', which Kiln cannot compare"});
      continue;
    }
    HostTensor t;
    t.name = name;
    t.type = type;
    const JsonValue* shape = out.find("shape");
    if (shape == nullptr || !shape->isArray() ||
        shape->items.size() > static_cast<size_t>(Dims::kMaxDims)) {
      r.refused.push_back({name, "onnxruntime produced a shape Kiln cannot hold (rank > 8)"});
      continue;
    }
    t.dims.nbDims = static_cast<int32_t>(shape->items.size());
    for (size_t d = 0; d < shape->items.size(); ++d)
      t.dims.d[d] = static_cast<int64_t>(shape->items[d].number);
    KILN_ASSIGN_OR_RETURN(std::vector<uint8_t> data,
                          readTensorFile(out.getString("file"), name, t.dims, t.type));
    t.buffer = AlignedBuffer(data.size());
    std::copy(data.begin(), data.end(), static_cast<uint8_t*>(t.buffer.data()));
    r.tensors.emplace(name, std::move(t));
  }
  if (const JsonValue* skipped = doc->find("skipped"); skipped && skipped->isArray())
    for (const JsonValue& s : skipped->items)
      r.refused.push_back({s.getString("name"), s.getString("reason")});
  if (const JsonValue* nodes = doc->find("nodes"); nodes && nodes->isArray()) {
    for (const JsonValue& n : nodes->items) {
      RunnerResult::Node node;
      node.name = n.getString("name");
      node.op = n.getString("op");
      std::string domain = n.getString("domain");
      if (!domain.empty()) node.op += " (" + domain + ")";
      if (const JsonValue* o2 = n.find("outputs"); o2 && o2->isArray())
        for (const JsonValue& t : o2->items) node.outputs.push_back(t.text);
      r.onnxNodes.push_back(std::move(node));
    }
  }
  return r;
}

// ---- Comparison ---------------------------------------------------------------------------------

// Compares `a` (a runner's) with `b` (the reference's). Statistics follow the file comment.
void compareTensors(const HostTensor& a, const HostTensor& b, const CompareOptions& o,
                    Comparison& c) {
  c.compared = true;
  c.type = a.type;
  c.refType = b.type;
  c.dims = a.dims;
  c.refDims = b.dims;
  if (a.dims != b.dims) {
    c.pass = false;
    c.reason = "shape " + shapeText(a.dims) + " differs from the reference's " + shapeText(b.dims);
    return;
  }
  const int64_t n = a.volume();
  c.count = n;
  std::vector<double> finiteErrors;
  finiteErrors.reserve(static_cast<size_t>(n));
  double sumAbs = 0, sumRel = 0, dot = 0, normA = 0, normB = 0, worstScore = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double va = elementAsDouble(a.type, a.buffer.data(), i);
    const double vb = elementAsDouble(b.type, b.buffer.data(), i);
    const ElementCheck e = checkElement(va, vb, o.atol, o.rtol);
    const bool ok = e.ok;
    const double err = e.err;
    double rel = 0;
    if (!std::isfinite(err)) {
      rel = HUGE_VAL;
      if (std::isnan(va) || std::isnan(vb)) ++c.nanMismatches;
    } else if (err != 0) {
      rel = err / std::max(std::fabs(vb), static_cast<double>(FLT_MIN));
    }
    if (!ok) ++c.failing;
    if (std::isfinite(err))
      finiteErrors.push_back(err);
    else
      ++c.nonFinite;
    sumAbs += err;
    sumRel += rel;
    c.maxAbs = std::max(c.maxAbs, err);
    c.maxRel = std::max(c.maxRel, rel);
    if (std::isfinite(va) && std::isfinite(vb)) {
      dot += va * vb;
      normA += va * va;
      normB += vb * vb;
    }
    if (e.score > worstScore) {
      worstScore = e.score;
      c.worst = i;
      c.worstValue = va;
      c.worstRef = vb;
      c.worstAbs = err;
    }
  }
  c.pass = c.failing == 0;
  c.meanAbs = n > 0 ? sumAbs / static_cast<double>(n) : 0;
  c.meanRel = n > 0 ? sumRel / static_cast<double>(n) : 0;
  if (normA == 0 && normB == 0)
    c.cosine = 1;
  else if (normA == 0 || normB == 0)
    c.cosine = 0;
  else
    c.cosine = dot / std::sqrt(normA * normB);

  // Histogram with numpy.histogram's bucketing: edges lo + k (hi - lo) / 10, each bucket
  // [edge_k, edge_k+1) except the last, which includes hi. Equal lo and hi: all in bucket 0.
  if (finiteErrors.empty()) return;
  auto [mn, mx] = std::minmax_element(finiteErrors.begin(), finiteErrors.end());
  c.histLo = *mn;
  c.histHi = *mx;
  double edges[kBuckets + 1];
  const double step = (c.histHi - c.histLo) / kBuckets;
  for (int k = 0; k < kBuckets; ++k) edges[k] = c.histLo + k * step;
  edges[kBuckets] = c.histHi;
  for (double e : finiteErrors) {
    int k = 0;
    if (c.histHi > c.histLo) {
      k = static_cast<int>((e - c.histLo) * (kBuckets / (c.histHi - c.histLo)));
      k = std::clamp(k, 0, kBuckets - 1);
      if (e < edges[k])
        --k;
      else if (k != kBuckets - 1 && e >= edges[k + 1])
        ++k;
    }
    ++c.hist[k];
  }
}

// The tensors to compare, in topological order, each with its producer. The ONNX graph's node
// order (from onnxruntime --markAll) when known, with tensors only Kiln has inserted after the
// tensor Kiln's layer order puts before them; else Kiln's layer order. Without --markAll: the
// graph outputs.
std::vector<std::pair<std::string, Producer>> tensorOrder(const ModelInfo& info,
                                                          const std::vector<RunnerResult>& results,
                                                          const CompareOptions& o) {
  std::vector<std::pair<std::string, Producer>> order;
  std::map<std::string, Producer> kilnProducer(info.layerTensors.begin(), info.layerTensors.end());
  if (!o.markAll) {
    for (const std::string& name : info.outputs) {
      auto it = kilnProducer.find(name);
      order.push_back({name, it != kilnProducer.end() ? it->second : Producer{}});
    }
    return order;
  }
  const RunnerResult* ort = nullptr;
  for (const RunnerResult& r : results)
    if (!r.onnxNodes.empty()) ort = &r;
  std::set<std::string> placed;
  if (ort != nullptr) {
    for (const RunnerResult::Node& n : ort->onnxNodes) {
      if (n.op == "Constant") continue;  // constants are not compared (Kiln has no layer)
      for (const std::string& t : n.outputs)
        if (placed.insert(t).second) order.push_back({t, {n.name, n.op}});
    }
  }
  // Merge Kiln's tensors: each one missing goes right after its predecessor in Kiln's order.
  size_t insertAt = 0;
  for (const auto& [name, producer] : info.layerTensors) {
    const std::string& tensor = name;  // lambdas may not capture structured bindings (clang 14)
    auto it =
        std::find_if(order.begin(), order.end(), [&](const auto& e) { return e.first == tensor; });
    if (it != order.end()) {
      insertAt = static_cast<size_t>(it - order.begin()) + 1;
      continue;
    }
    order.insert(order.begin() + static_cast<std::ptrdiff_t>(insertAt), {name, producer});
    placed.insert(name);
    ++insertAt;
  }
  return order;
}

RunnerComparison compareRunner(const RunnerResult& ref, const RunnerResult& run,
                               const std::vector<std::pair<std::string, Producer>>& order,
                               const std::set<std::string>& graphOutputs, const CompareOptions& o) {
  RunnerComparison rc;
  rc.runner = run.runner;
  auto refusedReason = [](const RunnerResult& r, const std::string& name) -> std::string {
    for (const auto& [t, why] : r.refused)
      if (t == name) return why;
    return "";
  };
  for (const auto& [name, producer] : order) {
    Comparison c;
    c.name = name;
    c.producer = producer;
    c.isGraphOutput = graphOutputs.count(name) != 0;
    auto a = run.tensors.find(name);
    auto b = ref.tensors.find(name);
    if (a == run.tensors.end() || b == ref.tensors.end()) {
      const RunnerResult& missing = a == run.tensors.end() ? run : ref;
      std::string why = refusedReason(missing, name);
      c.reason = "not produced by " + missing.runner + (why.empty() ? "" : ": " + why);
      if (a == run.tensors.end() && b == ref.tensors.end()) c.reason = "produced by neither runner";
      if (c.isGraphOutput) {  // a model output must come from every runner
        c.compared = true;
        c.pass = false;
        rc.tensors.push_back(std::move(c));
      } else {
        rc.notCompared.push_back(std::move(c));
      }
      continue;
    }
    compareTensors(a->second, b->second, o, c);
    rc.tensors.push_back(std::move(c));
  }
  for (size_t i = 0; i < rc.tensors.size(); ++i) {
    if (rc.tensors[i].pass) continue;
    rc.pass = false;
    if (rc.firstMismatch < 0) rc.firstMismatch = static_cast<int>(i);
  }
  return rc;
}

// ---- Report -------------------------------------------------------------------------------------

std::string describeProducer(const Producer& p) {
  if (p.node.empty()) return "";
  return "ONNX node '" + p.node + "'" + (p.op.empty() ? "" : " (" + p.op + ")");
}

void printHistogram(const Comparison& c) {
  int64_t total = 0;
  for (int64_t h : c.hist) total += h;
  std::printf("      |a-b| histogram (%d buckets):\n", kBuckets);
  if (total == 0) {
    std::printf("        (no finite errors)\n");
  } else if (c.histHi == c.histLo) {
    std::printf("        all %lld finite errors are %s\n", static_cast<long long>(total),
                num(c.histLo).c_str());
  } else {
    int64_t most = *std::max_element(std::begin(c.hist), std::end(c.hist));
    const double step = (c.histHi - c.histLo) / kBuckets;
    for (int k = 0; k < kBuckets; ++k) {
      double lo = c.histLo + k * step,
             hi = k == kBuckets - 1 ? c.histHi : c.histLo + (k + 1) * step;
      int bar = most > 0 ? static_cast<int>((c.hist[k] * 40 + most - 1) / most) : 0;
      std::printf("        [%-11s, %-11s%c %10lld  %s\n", num(lo).c_str(), num(hi).c_str(),
                  k == kBuckets - 1 ? ']' : ')', static_cast<long long>(c.hist[k]),
                  std::string(static_cast<size_t>(bar), '#').c_str());
    }
  }
  if (c.nonFinite > 0)
    std::printf("        non-finite errors (NaN or infinity mismatches): %lld\n",
                static_cast<long long>(c.nonFinite));
}

void printRunnerComparison(const RunnerComparison& rc, const std::string& refName,
                           const CompareOptions& o) {
  std::printf("\n=== %s vs %s (reference), rtol=%s atol=%s ===\n", rc.runner.c_str(),
              refName.c_str(), num(o.rtol).c_str(), num(o.atol).c_str());
  for (const Comparison& c : rc.tensors) {
    std::string where = o.markAll ? describeProducer(c.producer) : "";
    std::printf("  [%s] %s", c.pass ? "PASS" : "FAIL", c.name.c_str());
    if (!c.reason.empty()) {
      std::printf(": %s%s%s\n", c.reason.c_str(), where.empty() ? "" : "; from ", where.c_str());
      continue;
    }
    std::printf(" (%s, %s)%s%s\n", dataTypeName(c.type), shapeText(c.dims).c_str(),
                where.empty() ? "" : " from ", where.c_str());
    if (c.type != c.refType)
      std::printf("      note: dtype %s, the reference's is %s (compared as numbers)\n",
                  dataTypeName(c.type), dataTypeName(c.refType));
    std::printf("      max abs %s, mean abs %s, max rel %s, mean rel %s, cosine %s",
                num(c.maxAbs).c_str(), num(c.meanAbs).c_str(), num(c.maxRel).c_str(),
                num(c.meanRel).c_str(), num(c.cosine).c_str());
    if (c.failing > 0)
      std::printf(", %lld of %lld elements out of tolerance", static_cast<long long>(c.failing),
                  static_cast<long long>(c.count));
    if (c.nanMismatches > 0)
      std::printf(", %lld NaN mismatches", static_cast<long long>(c.nanMismatches));
    std::printf("\n");
    if (c.worst >= 0)
      std::printf("      worst element %s: %s = %s, reference = %s, |diff| = %s\n",
                  indexString(unravel(c.worst, c.dims)).c_str(), rc.runner.c_str(),
                  num(c.worstValue).c_str(), num(c.worstRef).c_str(), num(c.worstAbs).c_str());
    if (o.histogram) printHistogram(c);
  }
  if (!rc.notCompared.empty()) {
    std::printf("  not compared (%zu):", rc.notCompared.size());
    for (const Comparison& c : rc.notCompared)
      std::printf("\n    %s: %s", c.name.c_str(), c.reason.c_str());
    std::printf("\n");
  }
  if (o.markAll && rc.firstMismatch >= 0) {
    const Comparison& c = rc.tensors[static_cast<size_t>(rc.firstMismatch)];
    std::string where = describeProducer(c.producer);
    std::printf("  first mismatch: tensor '%s'%s%s\n", c.name.c_str(),
                where.empty() ? "" : " produced by ", where.c_str());
  }
}

void writeComparisonJson(JsonWriter& w, const Comparison& c, bool compared) {
  w.newline();
  w.beginObject();
  w.key("name");
  w.string(c.name);
  w.key("isOutput");
  w.boolean(c.isGraphOutput);
  w.key("node");
  w.string(c.producer.node);
  w.key("op");
  w.string(c.producer.op);
  if (!compared) {
    w.key("reason");
    w.string(c.reason);
    w.endObject();
    return;
  }
  w.key("status");
  w.string(c.pass ? "PASS" : "FAIL");
  if (!c.reason.empty()) {
    w.key("reason");
    w.string(c.reason);
    w.endObject();
    return;
  }
  auto shapeArray = [&](const Dims& d) {
    w.beginArray();
    for (int i = 0; i < d.nbDims; ++i) w.number(d.d[i]);
    w.endArray();
  };
  w.key("dtype");
  w.string(dataTypeName(c.type));
  w.key("referenceDtype");
  w.string(dataTypeName(c.refType));
  w.key("shape");
  shapeArray(c.dims);
  w.key("count");
  w.number(c.count);
  w.key("failing");
  w.number(c.failing);
  w.key("nanMismatches");
  w.number(c.nanMismatches);
  w.key("maxAbsError");
  w.raw(jsonNum(c.maxAbs));
  w.key("meanAbsError");
  w.raw(jsonNum(c.meanAbs));
  w.key("maxRelError");
  w.raw(jsonNum(c.maxRel));
  w.key("meanRelError");
  w.raw(jsonNum(c.meanRel));
  w.key("cosineSimilarity");
  w.raw(jsonNum(c.cosine));
  w.key("worst");
  if (c.worst < 0) {
    w.raw("null");
  } else {
    w.beginObject();
    w.key("index");
    w.beginArray();
    for (int64_t i : unravel(c.worst, c.dims)) w.number(i);
    w.endArray();
    w.key("flatIndex");
    w.number(c.worst);
    w.key("value");
    w.raw(jsonNum(c.worstValue));
    w.key("reference");
    w.raw(jsonNum(c.worstRef));
    w.key("absError");
    w.raw(jsonNum(c.worstAbs));
    w.endObject();
  }
  w.key("histogram");
  w.beginObject();
  w.key("edges");
  w.beginArray();
  const double step = (c.histHi - c.histLo) / kBuckets;
  for (int k = 0; k <= kBuckets; ++k)
    w.raw(jsonNum(k == kBuckets ? c.histHi : c.histLo + k * step));
  w.endArray();
  w.key("counts");
  w.beginArray();
  for (int64_t h : c.hist) w.number(h);
  w.endArray();
  w.key("nonFinite");
  w.number(c.nonFinite);
  w.endObject();
  w.endObject();
}

struct RunnerStatus {
  std::string name;
  bool ran = false;
  std::string note;  // why skipped; onnxruntime's version
};

std::string reportJson(const CompareOptions& o, const std::vector<RunnerStatus>& runners,
                       const std::vector<HostTensor>& inputs,
                       const std::vector<RunnerComparison>& comparisons,
                       const std::string& reference, bool pass,
                       const std::vector<std::string>& failing) {
  JsonWriter w;
  w.beginObject();
  w.key("model");
  w.string(o.onnx);
  w.key("reference");
  w.string(reference);
  w.key("rtol");
  w.raw(jsonNum(o.rtol));
  w.key("atol");
  w.raw(jsonNum(o.atol));
  w.key("seed");
  w.number(static_cast<int64_t>(o.seed));
  w.key("markAll");
  w.boolean(o.markAll);
  w.key("pass");
  w.boolean(pass);
  w.key("failing");
  w.beginArray();
  for (const std::string& f : failing) w.string(f);
  w.endArray();
  w.key("runners");
  w.beginArray();
  for (const RunnerStatus& r : runners) {
    w.newline();
    w.beginObject();
    w.key("name");
    w.string(r.name);
    w.key("status");
    w.string(r.ran ? "ran" : "skipped");
    if (!r.note.empty()) {
      w.key(r.ran ? "version" : "reason");
      w.string(r.note);
    }
    w.endObject();
  }
  w.endArray();
  w.key("inputs");
  w.beginArray();
  for (const HostTensor& t : inputs) {
    w.newline();
    w.beginObject();
    w.key("name");
    w.string(t.name);
    w.key("dtype");
    w.string(dataTypeName(t.type));
    w.key("shape");
    w.beginArray();
    for (int d = 0; d < t.dims.nbDims; ++d) w.number(t.dims.d[d]);
    w.endArray();
    std::string file;
    for (const InputFileSpec& s : o.loadInputs)
      if (s.name == t.name) file = s.path;
    w.key("source");
    w.string(file.empty() ? "random" : "file");
    if (!file.empty()) {
      w.key("file");
      w.string(file);
    }
    w.endObject();
  }
  w.endArray();
  w.key("comparisons");
  w.beginArray();
  for (const RunnerComparison& rc : comparisons) {
    w.newline();
    w.beginObject();
    w.key("runner");
    w.string(rc.runner);
    w.key("reference");
    w.string(reference);
    w.key("pass");
    w.boolean(rc.pass);
    w.key("firstMismatch");
    if (rc.firstMismatch < 0) {
      w.raw("null");
    } else {
      const Comparison& c = rc.tensors[static_cast<size_t>(rc.firstMismatch)];
      w.beginObject();
      w.key("tensor");
      w.string(c.name);
      w.key("node");
      w.string(c.producer.node);
      w.key("op");
      w.string(c.producer.op);
      w.endObject();
    }
    w.key("tensors");
    w.beginArray();
    for (const Comparison& c : rc.tensors) writeComparisonJson(w, c, true);
    w.endArray();
    w.key("notCompared");
    w.beginArray();
    for (const Comparison& c : rc.notCompared) writeComparisonJson(w, c, false);
    w.endArray();
    w.endObject();
  }
  w.newline();
  w.endArray();
  w.endObject();
  return w.str() + "\n";
}

}  // namespace

int cmdCompare(std::span<const std::string> argv) {
  CommandLine cl = parseCommandLine(Command::kCompare, argv);
  if (cl.exitNow >= 0) return cl.exitNow;
  auto parsed = compareOptions(cl.args);
  if (!parsed.isOk()) return reportError(parsed.status(), kExitUsage);
  CompareOptions o = std::move(parsed).value();
  if (o.onnx.empty())
    return reportError(
        invalidArgument("kiln compare needs --onnx=<model.onnx> (see kiln compare --help)"),
        kExitUsage);
  if (cl.args.has("device"))
    reportWarning("--device is ignored by kiln compare: choose backends with --runners");
  StderrLogger logger(cl.common.verbose ? Severity::kVERBOSE : Severity::kWARNING);

  // Runners: explicit, or kiln-cpu, kiln-cuda (when a GPU is usable) and onnxruntime.
  const bool explicitRunners = !o.runners.empty();
  std::vector<std::string> runners = o.runners;
  if (!explicitRunners) {
    runners.push_back(kCpu);
    if (checkCudaDevice().isOk()) runners.push_back(kCuda);
    runners.push_back(kOrt);
  }
  // An explicitly requested GPU runner without a GPU fails before any work.
  for (const std::string& r : runners) {
    if (r == kCpu || r == kOrt) continue;
    Status cuda = checkCudaDevice();
    if (!cuda.isOk()) return reportError(cuda.withContext("--runners=" + r));
  }

  auto info = loadModelInfo(o, logger);
  if (!info.isOk()) return reportError(info.status());
  std::vector<ShapeSpec> buildShapes;
  auto inputs = makeInputs(*info, o, &buildShapes);
  if (!inputs.isOk()) return reportError(inputs.status());
  auto tmp = TempDir::create();
  if (!tmp.isOk()) return reportError(tmp.status());

  std::vector<RunnerResult> results;
  std::vector<RunnerStatus> statuses;
  for (const std::string& r : runners) {
    std::printf("Running %s%s\n", r.c_str(), results.empty() ? " (reference)" : "");
    std::fflush(stdout);
    StatusOr<RunnerResult> result = unsupported("not run");
    if (r == kOrt) {
      bool unavailable = false;
      result = runOrt(o, *inputs, *tmp, &unavailable);
      if (!result.isOk() && unavailable) {
        if (explicitRunners)
          return reportError(unsupported("runner onnxruntime is unavailable: %s. %s",
                                         result.status().message().c_str(), kOrtInstallHint));
        reportWarning("skipping the onnxruntime runner: " + result.status().message() + ". " +
                      kOrtInstallHint);
        statuses.push_back({r, false, result.status().message()});
        continue;
      }
      if (!result.isOk() && !explicitRunners) {
        // A default runner that fails on this model (an op onnxruntime lacks, a custom domain)
        // is skipped: the user did not ask for it.
        reportWarning("skipping the onnxruntime runner: " + result.status().message());
        statuses.push_back({r, false, result.status().message()});
        continue;
      }
    } else {
      result = runKiln(r, o, cl.common, buildShapes, *inputs, logger);
    }
    if (!result.isOk()) return reportError(result.status());
    statuses.push_back({r, true, result->version});
    results.push_back(std::move(result).value());
  }
  if (results.size() < 2) {
    std::string ran = results.empty() ? "none" : results[0].runner;
    return reportError(invalidArgument(
        "nothing to compare: only one runner ran (%s); pass --runners with two available "
        "runners",
        ran.c_str()));
  }

  const RunnerResult& ref = results[0];
  std::vector<std::pair<std::string, Producer>> order = tensorOrder(*info, results, o);
  std::set<std::string> graphOutputs(info->outputs.begin(), info->outputs.end());
  std::vector<RunnerComparison> comparisons;
  for (size_t i = 1; i < results.size(); ++i) {
    comparisons.push_back(compareRunner(ref, results[i], order, graphOutputs, o));
    printRunnerComparison(comparisons.back(), ref.runner, o);
  }

  bool pass = true;
  std::vector<std::string> failing;
  size_t compared = 0;
  for (const RunnerComparison& rc : comparisons) {
    pass = pass && rc.pass;
    compared += rc.tensors.size();
    for (const Comparison& c : rc.tensors)
      if (!c.pass) failing.push_back(c.name + " (" + rc.runner + ")");
  }
  if (!o.json.empty()) {
    Status s =
        writeFile(o.json, reportJson(o, statuses, *inputs, comparisons, ref.runner, pass, failing));
    if (!s.isOk()) return reportError(s);
    std::printf("\nReport written to %s\n", o.json.c_str());
  }
  if (pass) {
    std::printf("\nPASSED: %zu comparisons against %s within rtol=%s atol=%s\n", compared,
                ref.runner.c_str(), num(o.rtol).c_str(), num(o.atol).c_str());
    std::fflush(stdout);
    return kExitOk;
  }
  // Name every failing tensor (the first 20 with --markAll's long lists).
  std::string names;
  for (size_t i = 0; i < failing.size() && i < 20; ++i) names += (i ? ", " : "") + failing[i];
  if (failing.size() > 20) names += ", and " + std::to_string(failing.size() - 20) + " more";
  std::printf("\nFAILED: %zu of %zu comparisons out of tolerance (rtol=%s atol=%s): %s\n",
              failing.size(), compared, num(o.rtol).c_str(), num(o.atol).c_str(), names.c_str());
  for (const RunnerComparison& rc : comparisons) {
    if (!o.markAll || rc.firstMismatch < 0) continue;
    const Comparison& c = rc.tensors[static_cast<size_t>(rc.firstMismatch)];
    std::string where = describeProducer(c.producer);
    std::printf("%s: first mismatch: tensor '%s'%s%s\n", rc.runner.c_str(), c.name.c_str(),
                where.empty() ? "" : " produced by ", where.c_str());
  }
  std::fflush(stdout);
  return kExitFailure;
}

}  // namespace kiln::cli
