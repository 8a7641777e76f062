#include "args.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace kiln::cli {

namespace {

// Flags of several commands (run; compare; debug precision).
constexpr FlagDef kLoadInputsFlag = {
    "loadInputs", FlagKind::kList, "<spec>",
    "Read inputs from raw little-endian files of the input's dtype: name:file[,...]. "
    "Inputs not listed get random values."};
constexpr FlagDef kSeedFlag = {"seed", FlagKind::kValue, "<N>",
                               "Seed of the random inputs (default 1)."};
constexpr FlagDef kInputShapesFlag = {
    "shapes", FlagKind::kList, "<spec>",
    "Shapes of dynamic inputs: name:1x3x224x224[,...] (unlisted dynamic dims are 1)."};

constexpr FlagDef kCommonFlags[] = {
    {"help", FlagKind::kBool, "", "Print this help and exit."},
    {"verbose", FlagKind::kBool, "", "Print verbose messages (logger severity kVERBOSE)."},
    {"device", FlagKind::kValue, "cpu|cuda",
     "Backend to build for and run on (default: cpu). 'gpu' is accepted for 'cuda'."},
    {"plugins", FlagKind::kList, "<lib.so>[,<lib.so>]",
     "Load plugin libraries before anything else (after those in $KILN_PLUGIN_PATH, a "
     "colon-separated list). See docs/plugins.md."},
};

constexpr FlagDef kBuildFlags[] = {
    {"onnx", FlagKind::kValue, "<model.onnx>", "ONNX model to parse and build."},
    {"saveEngine", FlagKind::kValue, "<plan>", "Write the built plan (engine) to this file."},
    {"minShapes", FlagKind::kList, "<spec>",
     "Minimum shapes of dynamic inputs for the optimization profile: name:1x3x224x224[,...]."},
    {"optShapes", FlagKind::kList, "<spec>",
     "Shapes the profile is optimized for (also the default inference shapes)."},
    {"maxShapes", FlagKind::kList, "<spec>", "Maximum shapes of dynamic inputs."},
    {"shapes", FlagKind::kList, "<spec>",
     "Inference shapes; when building without --min/opt/maxShapes also min = opt = max."},
    {"fp16", FlagKind::kBool, "", "Allow float16 kernels (BuilderFlag::kFP16)."},
    {"bf16", FlagKind::kBool, "", "Allow bfloat16 kernels (BuilderFlag::kBF16)."},
    {"best", FlagKind::kBool, "",
     "Allow every reduced precision Kiln builds (trtexec's flag; today: --fp16)."},
    {"noTF32", FlagKind::kBool, "",
     "Disallow TF32 tensor cores for float32 (the default; kept for trtexec scripts)."},
    {"tf32", FlagKind::kBool, "",
     "Allow TF32 tensor cores for float32 (GPU only; off by default)."},
    {"memPoolSize", FlagKind::kList, "workspace:<size>",
     "Workspace limit; size takes K, M or G (binary units), no suffix means MiB: workspace:1G."},
    {"workspace", FlagKind::kValue, "<MiB>",
     "Deprecated trtexec spelling of --memPoolSize=workspace:<MiB>."},
    {"builderOptimizationLevel", FlagKind::kValue, "<0-5>",
     "Builder optimization level, 0 (fastest build) to 5 (default 3)."},
    {"disablePasses", FlagKind::kList, "<pass>[,<pass>]",
     "Skip these optimizer passes, by name (e.g. gelu-fusion,batchnorm-folding; see "
     "docs/optimizer.md). Unknown names fail the build."},
    {"layerPrecisions", FlagKind::kList, "<layer>:<fp32|fp16>[,...] | @<file>",
     "Pin layers to a precision (trtexec's flag; * = every layer; later entries win); fp16 needs "
     "--fp16. @file reads the same spec from a file (commas or newlines; # comments)."},
    {"timingCacheFile", FlagKind::kValue, "<file>",
     "GPU builds: read tactic timings from this file and write new ones back, so the next build "
     "skips the timing (created if missing)."},
    {"profilingVerbosity", FlagKind::kValue, "layer_names_only|detailed|none",
     "Per-layer detail the plan keeps for --dumpLayerInfo/--exportLayerInfo, kiln inspect and "
     "NVTX ranges: everything (detailed, Kiln's default), the layer names, or nothing (none; "
     "fused-node lists are dropped). trtexec's default and verbose are accepted."},
};

constexpr FlagDef kRunFlags[] = {
    {"loadEngine", FlagKind::kValue, "<plan>", "Load a plan instead of building from --onnx."},
    kLoadInputsFlag,
    {"exportOutput", FlagKind::kValue, "<file.json>",
     "Write the outputs of the last inference as JSON (trtexec's format)."},
    {"exportTimes", FlagKind::kValue, "<file.json>", "Write per-iteration timings as JSON."},
    {"exportLayerInfo", FlagKind::kValue, "<file.json>",
     "Write the engine's layer information as JSON."},
    {"iterations", FlagKind::kValue, "<N>", "Run at least N timed inferences (default 10)."},
    {"warmUp", FlagKind::kValue, "<ms>",
     "Run untimed inferences for this many ms first (default 200)."},
    {"duration", FlagKind::kValue, "<s>",
     "Run timed inferences for at least this many seconds (default 3; 0 allowed)."},
    {"skipInference", FlagKind::kBool, "", "Build or load the engine, then stop."},
    {"dumpOutput", FlagKind::kBool, "", "Print the outputs of the last inference."},
    {"dumpLayerInfo", FlagKind::kBool, "", "Print the engine's layer information."},
    {"dumpProfile", FlagKind::kBool, "",
     "Print per-layer times from a separate profiling run after the timed run."},
    {"exportProfile", FlagKind::kValue, "<file.json>",
     "Write per-layer times (trtexec's --exportProfile format) from the profiling run."},
    {"separateProfileRun", FlagKind::kBool, "",
     "Accepted for trtexec scripts: Kiln always profiles in a run of its own, so the timed run "
     "is never slowed by profiling."},
    kSeedFlag,
    {"useCudaGraph", FlagKind::kBool, "",
     "GPU: capture one enqueueV3() into a CUDA graph after the warm-up and time graph launches "
     "(falls back to plain enqueues, with a warning, when capture fails)."},
    {"noDataTransfers", FlagKind::kBool, "",
     "GPU: no host-to-device / device-to-host copies in the timed loop (inputs are uploaded once "
     "before, outputs downloaded once after)."},
    {"streams", FlagKind::kValue, "<N>",
     "GPU: run N execution contexts on N CUDA streams, one thread each, and report the aggregate "
     "throughput (default 1)."},
    {"useSpinWait", FlagKind::kBool, "",
     "GPU: wait for each inference by spinning on its event instead of a blocking sync."},
    {"nvtx", FlagKind::kBool, "",
     "GPU: push an NVTX range around each layer, named after it (with type, precision and tactic "
     "when the plan is detailed), for Nsight Systems; the environment variable KILN_NVTX=1 does "
     "the same for any program. Not inside CUDA graph replays (--useCudaGraph)."},
};

constexpr FlagDef kInspectFlags[] = {
    {"onnx", FlagKind::kValue, "<model.onnx>", "ONNX model to inspect (or give the path alone)."},
    {"loadEngine", FlagKind::kValue, "<plan>", "Plan to inspect (or give the path alone)."},
    {"json", FlagKind::kBool, "", "Print machine-readable JSON."},
    {"dot", FlagKind::kValue, "<file.dot>",
     "Write the graph as Graphviz DOT (- for stdout): a plan's layers, or the optimized graph of "
     "a CPU build of an ONNX model (--raw: the graph as parsed)."},
    {"html", FlagKind::kValue, "<file.html>",
     "Write the same graph as a self-contained HTML page with an SVG drawing (- for stdout)."},
    {"raw", FlagKind::kBool, "",
     "ONNX models with --dot/--html: draw the parsed graph instead of building it."},
};

constexpr FlagDef kCompareFlags[] = {
    {"onnx", FlagKind::kValue, "<model.onnx>", "ONNX model to run with every runner."},
    {"runners", FlagKind::kList, "<r1,r2,...>",
     "Runners, the first is the reference: kiln-cpu, kiln-cuda, kiln-cuda-fp16, onnxruntime "
     "(default: kiln-cpu, then kiln-cuda when the build has CUDA and a GPU, then onnxruntime "
     "when python3 and onnxruntime are available)."},
    kInputShapesFlag,
    kLoadInputsFlag,
    kSeedFlag,
    {"rtol", FlagKind::kValue, "<x>",
     "Relative tolerance: an element passes when |a-b| <= atol + rtol*|b|, b the reference "
     "(default 1e-5)."},
    {"atol", FlagKind::kValue, "<x>", "Absolute tolerance (default 1e-6)."},
    {"markAll", FlagKind::kBool, "",
     "Compare every intermediate tensor too and name the first ONNX node whose output is out "
     "of tolerance."},
    {"json", FlagKind::kValue, "<report.json>", "Write the full report as JSON."},
    {"histogram", FlagKind::kBool, "",
     "Print a 10-bucket histogram of the absolute errors of each compared tensor."},
    {"preferPlugins", FlagKind::kBool, "",
     "Kiln runners: import default-domain ONNX nodes through a registered plugin of the same "
     "name when there is one (OnnxParser::setPreferPlugins); onnxruntime runs the real op."},
};

constexpr FlagDef kDebugPrecisionFlags[] = {
    {"onnx", FlagKind::kValue, "<model.onnx>", "ONNX model to debug."},
    {"output", FlagKind::kValue, "<prec.txt>",
     "Write the layers to keep in float32 here, in the --layerPrecisions @file format."},
    {"fp16", FlagKind::kBool, "", "Debug a float16 build (the default)."},
    {"bf16", FlagKind::kBool, "", "Debug a bfloat16 build instead."},
    {"rtol", FlagKind::kValue, "<x>",
     "Relative tolerance: an output element passes when |a-b| <= atol + rtol*|b|, b the "
     "float32 build's value (default 1e-2)."},
    {"atol", FlagKind::kValue, "<x>", "Absolute tolerance (default 1e-3)."},
    {"direction", FlagKind::kValue, "reverse|forward",
     "Order in which layers are tried: from the outputs back (reverse, the default: names the "
     "layer that overflows, since a float32 layer keeps the layers that follow it in float32) "
     "or from the inputs (forward)."},
    kInputShapesFlag,
    kLoadInputsFlag,
    kSeedFlag,
    {"json", FlagKind::kValue, "<report.json>", "Write the search (every build) as JSON."},
};

constexpr size_t kHelpWidth = 100;

void appendSection(std::ostringstream& os, const char* title, std::span<const FlagDef> defs) {
  os << title << ":\n";
  for (const FlagDef& d : defs) {
    std::string left = "  --" + std::string(d.name);
    if (d.kind != FlagKind::kBool) left += "=" + std::string(d.valueName);
    os << left;
    if (left.size() < 34) {
      os << std::string(34 - left.size(), ' ');
    } else {
      os << "\n" << std::string(34, ' ');
    }
    // Word-wrap the help text at kHelpWidth columns, continuing under the first line.
    size_t col = 34;
    std::istringstream words(d.help);
    std::string word;
    bool first = true;
    while (words >> word) {
      if (!first && col + 1 + word.size() > kHelpWidth) {
        os << "\n" << std::string(34, ' ');
        col = 34;
      } else if (!first) {
        os << ' ';
        ++col;
      }
      os << word;
      col += word.size();
      first = false;
    }
    os << "\n";
  }
  os << "\n";
}

const char* kSpellingNote =
    "Flags take --flag=value or --flag value; camelCase (--saveEngine), kebab-case\n"
    "(--save-engine) and snake_case spellings are all accepted.\n";

StatusOr<int64_t> parseInt(const ParsedArgs& args, const char* flag, int64_t lo, int64_t hi) {
  std::string s = args.get(flag);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    return invalidArgument("--%s=%s: expected an integer in [%lld, %lld]", flag, s.c_str(),
                           static_cast<long long>(lo), static_cast<long long>(hi));
  return static_cast<int64_t>(v);
}

StatusOr<double> parseNonNegative(const ParsedArgs& args, const char* flag) {
  std::string s = args.get(flag);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
    return invalidArgument("--%s=%s: expected a non-negative number", flag, s.c_str());
  return v;
}

StatusOr<std::vector<ShapeSpec>> shapesFlag(const ParsedArgs& args, const char* flag) {
  if (!args.has(flag)) return std::vector<ShapeSpec>{};
  auto specs = parseShapeSpecs(args.get(flag));
  if (!specs.isOk()) return specs.status().withContext(std::string("--") + flag);
  return specs;
}

// --loadInputs and --seed: the input values of run, compare and debug precision.
Status inputValueFlags(const ParsedArgs& args, std::vector<InputFileSpec>& loadInputs,
                       uint32_t& seed) {
  if (args.has("loadInputs")) {
    auto specs = parseLoadInputsSpec(args.get("loadInputs"));
    if (!specs.isOk()) return specs.status().withContext("--loadInputs");
    loadInputs = std::move(specs).value();
  }
  if (args.has("seed")) {
    KILN_ASSIGN_OR_RETURN(int64_t value, parseInt(args, "seed", 0, 0xffffffffLL));
    seed = static_cast<uint32_t>(value);
  }
  return Status::ok();
}

// --rtol and --atol (compare, debug precision).
Status toleranceFlags(const ParsedArgs& args, double& rtol, double& atol) {
  if (args.has("rtol")) {
    KILN_ASSIGN_OR_RETURN(rtol, parseNonNegative(args, "rtol"));
  }
  if (args.has("atol")) {
    KILN_ASSIGN_OR_RETURN(atol, parseNonNegative(args, "atol"));
  }
  return Status::ok();
}

// The items of a comma-separated list, empty ones included ("" is one empty item).
std::vector<std::string> splitList(const std::string& list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    items.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

}  // namespace

const char* commandName(Command c) {
  switch (c) {
    case Command::kBuild: return "build";
    case Command::kRun: return "run";
    case Command::kInspect: return "inspect";
    case Command::kCompare: return "compare";
    case Command::kDebugPrecision: return "debug precision";
  }
  return "?";
}

std::vector<FlagDef> flagsFor(Command c) {
  std::vector<FlagDef> out(std::begin(kCommonFlags), std::end(kCommonFlags));
  switch (c) {
    case Command::kBuild:
      out.insert(out.end(), std::begin(kBuildFlags), std::end(kBuildFlags));
      break;
    case Command::kRun:
      out.insert(out.end(), std::begin(kBuildFlags), std::end(kBuildFlags));
      out.insert(out.end(), std::begin(kRunFlags), std::end(kRunFlags));
      break;
    case Command::kInspect:
      out.insert(out.end(), std::begin(kInspectFlags), std::end(kInspectFlags));
      break;
    case Command::kCompare:
      out.insert(out.end(), std::begin(kCompareFlags), std::end(kCompareFlags));
      break;
    case Command::kDebugPrecision:
      out.insert(out.end(), std::begin(kDebugPrecisionFlags), std::end(kDebugPrecisionFlags));
      break;
  }
  return out;
}

std::string commandHelp(Command c) {
  std::ostringstream os;
  switch (c) {
    case Command::kBuild:
      os << "Usage: kiln build --onnx=<model.onnx> [--saveEngine=<plan>] [flags]\n\n"
            "Parses an ONNX model, optimizes it and writes a plan. Dynamic input dims take\n"
            "their range from --minShapes/--optShapes/--maxShapes (or --shapes for all three);\n"
            "a missing one defaults to the others (opt <- shapes, max, min; min, max <- opt).\n"
            "Dynamic dims of inputs with no shapes given default to 1, with a warning.\n\n";
      appendSection(os, "Build flags", kBuildFlags);
      break;
    case Command::kRun:
      os << "Usage: kiln run (--onnx=<model.onnx> | --loadEngine=<plan>) [flags]\n"
            "       kiln --onnx=<model.onnx> [flags]      (trtexec style: same as kiln run)\n\n"
            "Builds (or loads) an engine, runs it on random or loaded inputs and prints a\n"
            "performance summary. Timed inferences run after --warmUp ms, for at least\n"
            "--iterations runs and at least --duration seconds. Random inputs use a fixed seed:\n"
            "floats uniform in [-1, 1], integers in [0, 4), bools 0/1.\n"
            "A GPU plan (built with --device=cuda) runs on the GPU: inputs are copied from pinned\n"
            "host memory to device buffers, and each phase (H2D, compute, D2H) is timed with\n"
            "CUDA events.\n\n";
      appendSection(os, "Build flags (with --onnx)", kBuildFlags);
      appendSection(os, "Run flags", kRunFlags);
      break;
    case Command::kInspect:
      os << "Usage: kiln inspect <model.onnx | plan> [--json] [--dot=<f.dot>] [--html=<f.html>]\n\n"
            "Prints inputs, outputs (name, dtype, symbolic shape) and layers (type, inputs ->\n"
            "outputs with shapes) of an ONNX model or a plan; for a plan also its optimization\n"
            "profiles and target device. Plans are recognized by their magic bytes KILNPLAN.\n"
            "--dot/--html draw the graph: one box per layer (name, type, precision, tactic,\n"
            "output shapes, the ONNX nodes a fused layer replaced), coloured by precision, edges\n"
            "labelled with the tensor's shape and dtype. For an ONNX model the graph drawn is\n"
            "the optimized graph of a CPU build (dynamic dims stay symbolic), or with --raw the\n"
            "graph as parsed. The HTML page needs no network and no scripts.\n\n";
      appendSection(os, "Inspect flags", kInspectFlags);
      break;
    case Command::kCompare:
      os << "Usage: kiln compare --onnx=<model.onnx> [--runners=kiln-cpu,onnxruntime] [flags]\n\n"
            "Runs the model with every runner on the same inputs (random with --seed, or\n"
            "--loadInputs) and compares each output of each runner with the first runner's:\n"
            "max/mean absolute and relative error, cosine similarity, the worst element, and\n"
            "PASS when |a-b| <= atol + rtol*|b| for every element (NaN matches only NaN).\n"
            "The onnxruntime runner runs tools/kiln/ort_runner.py with python3 (found next to\n"
            "the kiln binary, in <bin>/../share/kiln, or set KILN_ORT_RUNNER; KILN_PYTHON picks\n"
            "the interpreter). Exit code 0 when everything passes, 1 when something fails.\n\n";
      appendSection(os, "Compare flags", kCompareFlags);
      break;
    case Command::kDebugPrecision:
      os << "Usage: kiln debug precision --onnx=<model.onnx> --output=<prec.txt> [--fp16|--bf16]\n"
            "                            [--rtol=1e-2] [--atol=1e-3] [flags]\n\n"
            "Finds layers that must stay in float32 for a float16 (or bfloat16) build to pass,\n"
            "by bisection. The reference is the float32 build on the same device; each candidate\n"
            "is the reduced-precision build with a set of layers pinned to float32\n"
            "(--layerPrecisions), run on the same inputs. A candidate passes when every element\n"
            "of every output has |a-b| <= atol + rtol*|b| (NaN matches only NaN, an infinity\n"
            "only the same infinity). Layers are tried in ONNX node order (reversed by default):\n"
            "the search halves the list to the shortest run of layers whose pinning passes, keeps\n"
            "the last layer of that run, and repeats until the kept layers alone pass. Each kept\n"
            "layer was needed when it was found; the set is minimal for a monotone model (pinning\n"
            "more layers never hurts), not necessarily the smallest possible.\n"
            "Writes the kept layers to --output as <layer>:fp32 lines, the file\n"
            "`kiln build/run --layerPrecisions=@<file>` reads. Exit code 0 when the file is\n"
            "written, 1 when no set passes (not even every layer in float32) or a build fails.\n\n";
      appendSection(os, "Debug precision flags", kDebugPrecisionFlags);
      break;
  }
  appendSection(os, "Common flags", kCommonFlags);
  os << kSpellingNote;
  switch (c) {
    case Command::kBuild:
      os << "\nExamples:\n"
            "  kiln build --onnx=resnet50.onnx --saveEngine=resnet50.plan\n"
            "  kiln build --onnx=bert.onnx --minShapes=ids:1x16 --optShapes=ids:8x128 \\\n"
            "             --maxShapes=ids:32x512 --memPoolSize=workspace:2G --save-engine "
            "bert.plan\n";
      break;
    case Command::kRun:
      os << "\nExamples:\n"
            "  kiln run --loadEngine=resnet50.plan --shapes=input:8x3x224x224\n"
            "  kiln --onnx=m.onnx --iterations=100 --duration=0 --exportOutput=out.json\n"
            "  kiln run --loadEngine=m.plan --loadInputs=x:x.bin --exportTimes=times.json\n"
            "  kiln run --loadEngine=gpu.plan --useCudaGraph --noDataTransfers --streams=2\n";
      break;
    case Command::kInspect:
      os << "\nExamples:\n"
            "  kiln inspect model.onnx\n"
            "  kiln inspect model.plan --json\n"
            "  kiln inspect model.plan --dot=model.dot && dot -Tsvg model.dot -o model.svg\n"
            "  kiln inspect model.onnx --html=model.html\n"
            "  kiln inspect model.onnx --raw --dot=-\n";
      break;
    case Command::kCompare:
      os << "\nExamples:\n"
            "  kiln compare --onnx=m.onnx\n"
            "  kiln compare --onnx=m.onnx --runners=kiln-cpu,kiln-cuda-fp16 --rtol=1e-2 "
            "--atol=1e-3\n"
            "  kiln compare --onnx=m.onnx --markAll --histogram --json=report.json\n";
      break;
    case Command::kDebugPrecision:
      os << "\nExamples:\n"
            "  kiln debug precision --onnx=m.onnx --output=prec.txt\n"
            "  kiln debug precision --onnx=m.onnx --device=cuda --rtol=1e-3 --atol=1e-4 \\\n"
            "                       --output=prec.txt --json=search.json\n"
            "  kiln run --onnx=m.onnx --device=cuda --fp16 --layerPrecisions=@prec.txt\n";
      break;
  }
  return os.str();
}

std::string mainHelp() {
  std::ostringstream os;
  os << "kiln " << versionString()
     << " - build, run and inspect Kiln inference engines\n\n"
        "Usage: kiln <command> [flags]\n"
        "       kiln --onnx=<model.onnx> [flags]   (trtexec style; same as 'kiln run')\n\n"
        "Commands:\n"
        "  build     Parse an ONNX model, optimize it and save a plan.\n"
        "  run       Build or load an engine, run it and report performance.\n"
        "  inspect   Show inputs, outputs, layers (and profiles) of a model or plan, or draw\n"
        "            its graph (--dot, --html).\n"
        "  compare   Run a model with several runners (Kiln CPU/CUDA, onnxruntime) and compare\n"
        "            their outputs (polygraphy run's counterpart).\n"
        "  debug precision\n"
        "            Find the layers a float16 build must keep in float32 to stay within a\n"
        "            tolerance, and write them as a --layerPrecisions file.\n"
        "  surgeon   Edit an ONNX model: extract a subgraph, or sanitize it (dead nodes,\n"
        "            constant folding) (polygraphy surgeon's counterpart).\n\n"
        "Run 'kiln <command> --help' for the flags of a command; 'kiln --version' prints the\n"
        "version. Every trtexec flag Kiln supports has its trtexec spelling.\n\n"
     << kSpellingNote;
  return os.str();
}

StatusOr<CommonOptions> commonOptions(const ParsedArgs& args) {
  CommonOptions o;
  o.verbose = args.flag("verbose");
  if (args.has("plugins")) {
    const std::string list = args.get("plugins");
    for (std::string& lib : splitList(list)) {
      if (lib.empty()) return invalidArgument("--plugins=%s: empty library path", list.c_str());
      o.plugins.push_back(std::move(lib));
    }
  }
  if (args.has("device")) {
    std::string d = normalizeFlagName(args.get("device"));
    if (d == "cpu") {
      o.device = DeviceType::kCPU;
    } else if (d == "cuda" || d == "gpu") {
#ifdef KILN_HAVE_CUDA
      o.device = DeviceType::kGPU;
#else
      return unsupported(
          "--device=%s: this build has no CUDA backend (reconfigure with -DKILN_ENABLE_CUDA=ON "
          "on a machine with the CUDA toolkit)",
          args.get("device").c_str());
#endif
    } else {
      return invalidArgument("--device=%s: expected cpu or cuda", args.get("device").c_str());
    }
  }
  return o;
}

StatusOr<BuildOptions> buildOptions(const ParsedArgs& args) {
  BuildOptions o;
  o.onnx = args.get("onnx");
  o.saveEngine = args.get("saveEngine");
  KILN_ASSIGN_OR_RETURN(o.minShapes, shapesFlag(args, "minShapes"));
  KILN_ASSIGN_OR_RETURN(o.optShapes, shapesFlag(args, "optShapes"));
  KILN_ASSIGN_OR_RETURN(o.maxShapes, shapesFlag(args, "maxShapes"));
  KILN_ASSIGN_OR_RETURN(o.shapes, shapesFlag(args, "shapes"));
  o.fp16 = args.flag("fp16") || args.flag("best");
  o.bf16 = args.flag("bf16");
  o.noTF32 = args.flag("noTF32");
  o.tf32 = args.flag("tf32");
  if (args.has("workspace")) {
    auto mib = parseSize(args.get("workspace"));
    if (!mib.isOk()) return mib.status().withContext("--workspace");
    o.workspaceBytes = *mib;
  }
  if (args.has("memPoolSize")) {
    auto pools = parseMemPoolSpec(args.get("memPoolSize"));
    if (!pools.isOk()) return pools.status().withContext("--memPoolSize");
    o.workspaceBytes = pools->at("workspace");
  }
  if (args.has("builderOptimizationLevel")) {
    KILN_ASSIGN_OR_RETURN(int64_t level, parseInt(args, "builderOptimizationLevel", 0, 5));
    o.optimizationLevel = static_cast<int>(level);
  }
  o.timingCacheFile = args.get("timingCacheFile");
  if (args.has("layerPrecisions")) {
    KILN_ASSIGN_OR_RETURN(o.layerPrecisions, parseLayerPrecisions(args.get("layerPrecisions")));
    for (const auto& [layer, type] : o.layerPrecisions)
      if (type == DataType::kHALF && !o.fp16)
        return invalidArgument(
            "--layerPrecisions asks float16 for '%s' but the build does not allow float16: add "
            "--fp16",
            layer.c_str());
  }
  if (args.has("profilingVerbosity")) {
    std::string v = args.get("profilingVerbosity");
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) {
      return ch == '-' ? '_' : static_cast<char>(std::tolower(ch));
    });
    if (v == "layer_names_only" || v == "default") {
      o.profilingVerbosity = ProfilingVerbosity::kLAYER_NAMES_ONLY;
    } else if (v == "detailed" || v == "verbose") {
      o.profilingVerbosity = ProfilingVerbosity::kDETAILED;
    } else if (v == "none") {
      o.profilingVerbosity = ProfilingVerbosity::kNONE;
    } else {
      return invalidArgument("--profilingVerbosity=%s: expected layer_names_only, detailed or none",
                             args.get("profilingVerbosity").c_str());
    }
  }
  if (args.has("disablePasses")) {
    const std::string list = args.get("disablePasses");
    for (std::string& pass : splitList(list)) {
      if (pass.empty()) return invalidArgument("--disablePasses=%s: empty pass name", list.c_str());
      o.disabledPasses.push_back(std::move(pass));
    }
  }
  return o;
}

StatusOr<RunOptions> runOptions(const ParsedArgs& args) {
  RunOptions o;
  o.loadEngine = args.get("loadEngine");
  KILN_RETURN_IF_ERROR(inputValueFlags(args, o.loadInputs, o.seed));
  o.exportOutput = args.get("exportOutput");
  o.exportTimes = args.get("exportTimes");
  o.exportLayerInfo = args.get("exportLayerInfo");
  if (args.has("iterations")) {
    KILN_ASSIGN_OR_RETURN(o.iterations, parseInt(args, "iterations", 1, int64_t{1} << 40));
  }
  if (args.has("warmUp")) {
    KILN_ASSIGN_OR_RETURN(o.warmUpMs, parseNonNegative(args, "warmUp"));
  }
  if (args.has("duration")) {
    KILN_ASSIGN_OR_RETURN(o.durationS, parseNonNegative(args, "duration"));
  }
  if (args.has("streams")) {
    KILN_ASSIGN_OR_RETURN(int64_t streams, parseInt(args, "streams", 1, 64));
    o.streams = static_cast<int>(streams);
  }
  o.useCudaGraph = args.flag("useCudaGraph");
  o.noDataTransfers = args.flag("noDataTransfers");
  o.useSpinWait = args.flag("useSpinWait");
  o.nvtx = args.flag("nvtx");
  o.skipInference = args.flag("skipInference");
  o.dumpOutput = args.flag("dumpOutput");
  o.dumpLayerInfo = args.flag("dumpLayerInfo");
  o.dumpProfile = args.flag("dumpProfile");
  o.exportProfile = args.get("exportProfile");
  return o;
}

StatusOr<InspectOptions> inspectOptions(const ParsedArgs& args) {
  InspectOptions o;
  o.json = args.flag("json");
  o.dot = args.get("dot");
  o.html = args.get("html");
  o.raw = args.flag("raw");
  if (args.has("dot") && o.dot.empty()) return invalidArgument("--dot needs a file name (or -)");
  if (args.has("html") && o.html.empty()) return invalidArgument("--html needs a file name (or -)");
  if (o.dot == "-" && o.html == "-")
    return invalidArgument("--dot=- and --html=-: only one of them can go to stdout");
  int sources = (args.has("onnx") ? 1 : 0) + (args.has("loadEngine") ? 1 : 0) +
                static_cast<int>(args.positional.size());
  if (sources == 0)
    return invalidArgument("inspect needs a model or plan: kiln inspect <model.onnx | plan>");
  if (sources > 1)
    return invalidArgument("inspect takes exactly one model or plan, got %d", sources);
  if (args.has("onnx"))
    o.path = args.get("onnx");
  else if (args.has("loadEngine"))
    o.path = args.get("loadEngine");
  else
    o.path = args.positional[0];
  return o;
}

StatusOr<CompareOptions> compareOptions(const ParsedArgs& args) {
  static constexpr const char* kRunnerNames[] = {"kiln-cpu", "kiln-cuda", "kiln-cuda-fp16",
                                                 "onnxruntime"};
  CompareOptions o;
  o.onnx = args.get("onnx");
  if (args.has("runners")) {
    const std::string list = args.get("runners");
    for (std::string& r : splitList(list)) {
      if (std::find(std::begin(kRunnerNames), std::end(kRunnerNames), r) == std::end(kRunnerNames))
        return invalidArgument(
            "--runners=%s: unknown runner '%s' (runners: kiln-cpu, kiln-cuda, kiln-cuda-fp16, "
            "onnxruntime)",
            list.c_str(), r.c_str());
      if (std::find(o.runners.begin(), o.runners.end(), r) != o.runners.end())
        return invalidArgument("--runners=%s: runner '%s' is listed twice", list.c_str(),
                               r.c_str());
      o.runners.push_back(std::move(r));
    }
    if (o.runners.size() < 2)
      return invalidArgument("--runners=%s: give at least two runners (the first is the reference)",
                             list.c_str());
  }
  KILN_ASSIGN_OR_RETURN(o.shapes, shapesFlag(args, "shapes"));
  KILN_RETURN_IF_ERROR(inputValueFlags(args, o.loadInputs, o.seed));
  KILN_RETURN_IF_ERROR(toleranceFlags(args, o.rtol, o.atol));
  o.markAll = args.flag("markAll");
  o.json = args.get("json");
  o.histogram = args.flag("histogram");
  o.preferPlugins = args.flag("preferPlugins");
  return o;
}

StatusOr<DebugPrecisionOptions> debugPrecisionOptions(const ParsedArgs& args) {
  DebugPrecisionOptions o;
  o.onnx = args.get("onnx");
  if (o.onnx.empty()) return invalidArgument("kiln debug precision needs --onnx=<model.onnx>");
  o.output = args.get("output");
  if (o.output.empty())
    return invalidArgument(
        "kiln debug precision needs --output=<file> (where the --layerPrecisions entries go)");
  if (args.flag("fp16") && args.flag("bf16"))
    return invalidArgument("--fp16 and --bf16: give one reduced precision to debug");
  if (args.flag("bf16")) o.precision = DataType::kBF16;
  if (args.has("direction")) {
    const std::string d = normalizeFlagName(args.get("direction"));
    if (d == "reverse") {
      o.reverse = true;
    } else if (d == "forward") {
      o.reverse = false;
    } else {
      return invalidArgument("--direction=%s: expected reverse or forward",
                             args.get("direction").c_str());
    }
  }
  KILN_ASSIGN_OR_RETURN(o.shapes, shapesFlag(args, "shapes"));
  KILN_RETURN_IF_ERROR(inputValueFlags(args, o.loadInputs, o.seed));
  KILN_RETURN_IF_ERROR(toleranceFlags(args, o.rtol, o.atol));
  o.json = args.get("json");
  return o;
}

}  // namespace kiln::cli
