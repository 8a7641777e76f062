// `kiln debug precision` (polygraphy debug precision's counterpart): finds layers that must stay
// in float32 for a float16 (or bfloat16) build of an ONNX model to stay within a tolerance of the
// float32 build, and writes them as a --layerPrecisions file (`<layer>:fp32` lines).
//
// The search (a bisection over the ONNX node list, reversed by default):
//   P(S)  = build the reduced-precision engine with the layers S pinned to float32, run it on the
//           inputs, and compare every output with the float32 build's: PASS when every element
//           has |a - b| <= atol + rtol |b| (NaN matches only NaN, an infinity only itself).
//   1. P({}) passes: nothing to pin. P(all layers) fails: no answer (exit 1).
//   2. C = the layers in search order, S = {}. Repeat: binary-search the shortest prefix C[:k]
//      with P(S + C[:k]) (P(S + C) is known to pass), add C[k-1] to S, drop C[k-1:] from C;
//      stop when P(S) passes.
// Every layer kept was needed when it was found (P(S + C[:k-1]) failed), so for a monotone model
// (pinning more layers never hurts) no kept layer can be dropped. Each kept layer costs about
// log2(|C|) builds. Results are memoized by pinned set.
//
// Why reversed by default: Kiln's fp16 pass lets elementwise layers follow their inputs'
// precision, so pinning a layer early in the graph also keeps the layers after it in float32.
// Searching from the outputs back finds the layer where the overflow happens rather than an
// upstream layer whose pinning happens to drag it along.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "commands.h"
#include "gpu_run.h"
#include "json_writer.h"
#include "model_run.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace {

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// A JSON number; NaN and infinities as Python's json module writes them.
void jsonNumber(JsonWriter& w, double v) {
  if (std::isnan(v))
    w.raw("NaN");
  else if (std::isinf(v))
    w.raw(v > 0 ? "Infinity" : "-Infinity");
  else
    w.number(v);
}

// How one candidate compared with the float32 reference.
struct Outcome {
  bool pass = true;
  int64_t failing = 0;    // elements out of tolerance, over every output
  std::string worst;      // the output with the largest error
  double maxAbs = 0;      // its max |a - b| (inf for a NaN/inf mismatch)
  double worstValue = 0;  // the element with the largest error: candidate and reference values
  double worstRef = 0;
};

struct Iteration {
  std::vector<std::string> pinned;
  Outcome outcome;
};

class PrecisionSearch {
 public:
  PrecisionSearch(const DebugPrecisionOptions& o, const CommonOptions& common)
      : mOpts(o),
        mCommon(common),
        mLogger(common.verbose ? Severity::kVERBOSE : Severity::kWARNING),
        mQuietLogger(common.verbose ? Severity::kVERBOSE : Severity::kERROR) {}

  int run();

 private:
  Status loadModel();
  Status makeInputs();
  // Builds (reduced precision with `pinned` in float32, or the float32 reference) and runs.
  StatusOr<std::vector<HostTensor>> buildAndRun(bool reduced,
                                                const std::vector<std::string>& pinned);
  Outcome compare(const std::vector<HostTensor>& got) const;
  // P(pinned): memoized; prints one progress line per build.
  StatusOr<bool> passes(std::vector<std::string> pinned, const std::string& what);
  // The --layerPrecisions file (not for status "fail") and the --json report.
  Status writeOutputs(const std::vector<std::string>& pinned, const std::string& status) const;
  const char* precisionName() const {
    return mOpts.precision == DataType::kBF16 ? "bfloat16" : "float16";
  }

  const DebugPrecisionOptions& mOpts;
  CommonOptions mCommon;
  StderrLogger mLogger;       // the model and the reference build
  StderrLogger mQuietLogger;  // candidate builds (their float16 overflow warnings repeat)
  std::vector<ModelInput> mInputs;
  std::vector<std::string> mLayers;  // candidate layers, ONNX node order
  std::vector<HostTensor> mInputValues;
  std::vector<ShapeSpec> mBuildShapes;
  std::vector<HostTensor> mReference;
  std::map<std::vector<std::string>, Outcome> mMemo;
  std::vector<Iteration> mIterations;
  int mBuilds = 0;
};

Status PrecisionSearch::loadModel() {
  KILN_ASSIGN_OR_RETURN(ParsedModel m, parseOnnxModel(mOpts.onnx, mLogger));
  const NetworkDefinition& net = *m.network;
  mInputs = networkInputs(net);
  std::set<std::string> seen;
  for (int i = 0; i < net.getNbLayers(); ++i) {
    const Layer* l = net.getLayer(i);
    const std::string name = l->getName();
    bool computes = false;  // a non-constant output (constants have no precision to choose)
    for (int j = 0; j < l->getNbOutputs(); ++j) {
      const Tensor* t = l->getOutput(j);
      computes = computes || (t != nullptr && !t->isConstant());
    }
    if (!computes || name.empty() || !seen.insert(name).second) continue;
    mLayers.push_back(name);
  }
  if (mLayers.empty())
    return invalidArgument("'%s' has no layers to pin (only constants)", mOpts.onnx.c_str());
  return Status::ok();
}

// Input values: --loadInputs, else random with --seed (the generator `kiln run` and `kiln
// compare` use); shapes from --shapes, else the declared shape with dynamic dims 1.
Status PrecisionSearch::makeInputs() {
  KILN_ASSIGN_OR_RETURN(mInputValues,
                        makeInputValues(mInputs, mOpts.shapes, mOpts.loadInputs, mOpts.seed,
                                        /*announce=*/false, &mBuildShapes));
  return Status::ok();
}

StatusOr<std::vector<HostTensor>> PrecisionSearch::buildAndRun(
    bool reduced, const std::vector<std::string>& pinned) {
  Logger& logger = reduced ? static_cast<Logger&>(mQuietLogger) : static_cast<Logger&>(mLogger);
  KILN_ASSIGN_OR_RETURN(ParsedModel m, parseOnnxModel(mOpts.onnx, logger));
  BuildOptions b;
  b.onnx = mOpts.onnx;
  b.shapes = mBuildShapes;
  b.quiet = true;
  if (reduced) {
    b.fp16 = mOpts.precision == DataType::kHALF;
    b.bf16 = mOpts.precision == DataType::kBF16;
    for (const std::string& name : pinned) b.layerPrecisions.emplace_back(name, DataType::kFLOAT);
  }
  ++mBuilds;
  KILN_ASSIGN_OR_RETURN(std::vector<uint8_t> plan, buildParsedModel(m, b, mCommon));
  KILN_ASSIGN_OR_RETURN(LoadedEngine e,
                        loadEngine(plan, "built from '" + mOpts.onnx + "'", logger));
  return runEngineOnce(*e.engine, mInputValues, mCommon.device == DeviceType::kGPU,
                       "kiln debug precision");
}

Outcome PrecisionSearch::compare(const std::vector<HostTensor>& got) const {
  Outcome out;
  double worstScore = -1;
  for (const HostTensor& ref : mReference) {
    const HostTensor* cand = nullptr;
    for (const HostTensor& t : got)
      if (t.name == ref.name) cand = &t;
    if (cand == nullptr || cand->dims != ref.dims) {
      out.pass = false;
      out.failing += ref.volume();
      out.worst = ref.name;
      out.maxAbs = HUGE_VAL;
      worstScore = HUGE_VAL;
      continue;
    }
    double maxAbs = 0, score = -1, value = 0, refValue = 0;
    for (int64_t i = 0; i < ref.volume(); ++i) {
      const double a = elementAsDouble(cand->type, cand->buffer.data(), i);
      const double b = elementAsDouble(ref.type, ref.buffer.data(), i);
      const ElementCheck c = checkElement(a, b, mOpts.atol, mOpts.rtol);
      if (!c.ok) ++out.failing;
      if (c.score > score) {
        score = c.score;
        value = a;
        refValue = b;
      }
      maxAbs = std::max(maxAbs, c.err);
    }
    if (score > worstScore) {
      worstScore = score;
      out.worst = ref.name;
      out.maxAbs = maxAbs;
      out.worstValue = value;
      out.worstRef = refValue;
    }
  }
  out.pass = out.pass && out.failing == 0;
  return out;
}

// "3 layers: 'a', 'b', 'c'" (at most 4 named; longer lists name the first and the last).
std::string describe(const std::vector<std::string>& layers) {
  if (layers.empty()) return "no layer";
  std::string s = std::to_string(layers.size()) + (layers.size() == 1 ? " layer: " : " layers: ");
  if (layers.size() <= 4) {
    for (size_t i = 0; i < layers.size(); ++i) s += (i ? ", '" : "'") + layers[i] + "'";
  } else {
    s += "'" + layers.front() + "' ... '" + layers.back() + "'";
  }
  return s;
}

StatusOr<bool> PrecisionSearch::passes(std::vector<std::string> pinned, const std::string& what) {
  // Canonical order (the model's) so equal sets share one memo entry.
  std::vector<std::string> ordered;
  for (const std::string& l : mLayers)
    if (std::find(pinned.begin(), pinned.end(), l) != pinned.end()) ordered.push_back(l);
  if (auto it = mMemo.find(ordered); it != mMemo.end()) return it->second.pass;
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> got, buildAndRun(true, ordered));
  const Outcome o = compare(got);
  mMemo[ordered] = o;
  mIterations.push_back({ordered, o});
  std::printf("[%zu] %s%s%s: %s", mIterations.size(), what.c_str(),
              ordered.empty() ? "" : (", " + describe(ordered)).c_str(),
              ordered.empty() ? "" : " in float32", o.pass ? "PASS" : "FAIL");
  if (!o.worst.empty())
    std::printf(" (%s'%s': max abs error %s; %lld element%s out of tolerance)",
                o.pass ? "worst output " : "output ", o.worst.c_str(), num(o.maxAbs).c_str(),
                static_cast<long long>(o.failing), o.failing == 1 ? "" : "s");
  std::printf("\n");
  std::fflush(stdout);
  return o.pass;
}

Status PrecisionSearch::writeOutputs(const std::vector<std::string>& pinned,
                                     const std::string& status) const {
  std::string text = "# kiln debug precision: layers of " + mOpts.onnx +
                     " to keep in float32 in a " + precisionName() + " build\n";
  text += "# rtol " + num(mOpts.rtol) + ", atol " + num(mOpts.atol) + ", device " +
          (mCommon.device == DeviceType::kGPU ? "cuda" : "cpu") + ", " + std::to_string(mBuilds) +
          " builds\n";
  if (pinned.empty())
    text += "# (none needed: the " + std::string(precisionName()) +
            " build passes as it is; this file has no entries)\n";
  for (const std::string& l : pinned) text += l + ":fp32\n";
  if (status != "fail") {
    KILN_RETURN_IF_ERROR(writeFile(mOpts.output, text));
  }
  if (mOpts.json.empty()) return Status::ok();

  JsonWriter w;
  w.beginObject();
  w.key("model");
  w.string(mOpts.onnx);
  w.key("precision");
  w.string(precisionName());
  w.key("device");
  w.string(mCommon.device == DeviceType::kGPU ? "cuda" : "cpu");
  w.key("rtol");
  jsonNumber(w, mOpts.rtol);
  w.key("atol");
  jsonNumber(w, mOpts.atol);
  w.key("direction");
  w.string(mOpts.reverse ? "reverse" : "forward");
  w.key("status");
  w.string(status);
  w.key("builds");
  w.number(static_cast<int64_t>(mBuilds));
  w.key("layers");
  w.beginArray();
  for (const std::string& l : mLayers) w.string(l);
  w.endArray();
  w.key("pinned");
  w.beginArray();
  for (const std::string& l : pinned) w.string(l);
  w.endArray();
  w.key("iterations");
  w.beginArray();
  for (const Iteration& it : mIterations) {
    w.newline();
    w.beginObject();
    w.key("pinned");
    w.beginArray();
    for (const std::string& l : it.pinned) w.string(l);
    w.endArray();
    w.key("pass");
    w.boolean(it.outcome.pass);
    w.key("failing_elements");
    w.number(it.outcome.failing);
    w.key("worst_output");
    w.string(it.outcome.worst);
    w.key("max_abs_error");
    jsonNumber(w, it.outcome.maxAbs);
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return writeFile(mOpts.json, w.str() + "\n");
}

int PrecisionSearch::run() {
  Status st = loadModel();
  if (!st.isOk()) return reportError(st);
  st = makeInputs();
  if (!st.isOk()) return reportError(st);
  std::printf("Model %s: %zu layers to search; %s build against float32 on %s, rtol %s atol %s\n",
              mOpts.onnx.c_str(), mLayers.size(), precisionName(),
              mCommon.device == DeviceType::kGPU ? "cuda" : "cpu", num(mOpts.rtol).c_str(),
              num(mOpts.atol).c_str());
  auto ref = buildAndRun(false, {});
  if (!ref.isOk()) return reportError(ref.status().withContext("the float32 reference build"));
  mReference = std::move(ref).value();
  std::printf("[0] float32 reference built and run\n");
  std::fflush(stdout);

  auto finish = [&](const std::vector<std::string>& pinned, const std::string& status) {
    Status w = writeOutputs(pinned, status);
    if (!w.isOk()) return reportError(w);
    std::printf("Builds: %d (1 float32 reference, %zu %s candidates)\n", mBuilds,
                mIterations.size(), precisionName());
    std::printf("Layer precisions written to %s%s%s\n", mOpts.output.c_str(),
                mOpts.json.empty() ? "" : "; report to ", mOpts.json.c_str());
    return kExitOk;
  };

  auto none = passes({}, "nothing pinned");
  if (!none.isOk()) return reportError(none.status());
  if (*none) {
    std::printf("The %s build passes with no layer pinned: no --layerPrecisions needed\n",
                precisionName());
    return finish({}, "pass_without_pins");
  }
  auto all = passes(mLayers, "every layer pinned");
  if (!all.isOk()) return reportError(all.status());
  if (!*all) {
    Status w = writeOutputs({}, "fail");
    if (!w.isOk()) reportWarning(w.message());
    return reportError(outOfRange(
        "the %s build fails the tolerance even with every layer pinned to float32 (see the line "
        "above): no set of layers can make it pass; loosen --rtol/--atol",
        precisionName()));
  }

  std::vector<std::string> order = mLayers;
  if (mOpts.reverse) std::reverse(order.begin(), order.end());
  std::vector<std::string> kept;           // S
  std::vector<std::string> cands = order;  // C: P(kept + cands) passes
  while (true) {
    // The shortest prefix C[:k] with P(kept + C[:k]); P(kept + C) passes.
    size_t lo = 1, hi = cands.size();
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      std::vector<std::string> pins = kept;
      pins.insert(pins.end(), cands.begin(), cands.begin() + static_cast<ptrdiff_t>(mid));
      auto p = passes(pins, strFormat("bisect %zu of %zu %s", mid, cands.size(),
                                      mOpts.reverse ? "from the outputs" : "from the inputs"));
      if (!p.isOk()) return reportError(p.status());
      if (*p)
        hi = mid;
      else
        lo = mid + 1;
    }
    const std::string found = cands[lo - 1];
    kept.push_back(found);
    cands.resize(lo - 1);
    std::printf("    keeping '%s' in float32\n", found.c_str());
    if (cands.empty()) break;  // P(kept) = P(old kept + C[:1]): known to pass
    auto p = passes(kept, "check");
    if (!p.isOk()) return reportError(p.status());
    if (*p) break;
  }
  std::vector<std::string> result;
  for (const std::string& l : mLayers)
    if (std::find(kept.begin(), kept.end(), l) != kept.end()) result.push_back(l);
  std::printf("Layers to keep in float32 (%zu):", result.size());
  for (const std::string& l : result) std::printf(" %s", l.c_str());
  std::printf("\n");
  return finish(result, "pass");
}

}  // namespace

int cmdDebug(std::span<const std::string> argv) {
  const bool help =
      !argv.empty() && (argv[0] == "-h" || (argv[0].rfind("--", 0) == 0 &&
                                            normalizeFlagName(argv[0].substr(2)) == "help"));
  if (argv.empty() || help) {
    std::fputs(
        "Usage: kiln debug precision --onnx=<model.onnx> --output=<prec.txt> [flags]\n\n"
        "Debugging tools (polygraphy debug's counterpart):\n"
        "  precision   Find the layers a float16 (or bfloat16) build must keep in float32 to\n"
        "              stay within a tolerance of the float32 build; writes a\n"
        "              --layerPrecisions file.\n\n"
        "Run 'kiln debug precision --help' for its flags.\n",
        help ? stdout : stderr);
    return help ? kExitOk : kExitUsage;
  }
  if (argv[0] != "precision")
    return reportError(
        invalidArgument("unknown debug tool '%s' (tools: precision)", argv[0].c_str()), kExitUsage);
  CommandLine cl = parseCommandLine(Command::kDebugPrecision, argv.subspan(1));
  if (cl.exitNow >= 0) return cl.exitNow;
  auto opts = debugPrecisionOptions(cl.args);
  if (!opts.isOk()) {
    reportError(opts.status(), kExitUsage);
    std::fprintf(stderr, "Run 'kiln debug precision --help' for the list of flags.\n");
    return kExitUsage;
  }
  PrecisionSearch search(*opts, cl.common);
  return search.run();
}

}  // namespace kiln::cli
