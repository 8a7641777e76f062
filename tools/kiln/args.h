// Flags of the `kiln` subcommands, their help text, and their conversion into option structs.
//
// The tables are the single source of truth: the parser accepts exactly these flags (in camelCase,
// kebab-case or snake_case spelling) and `--help` prints exactly these.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "api/cli_util.h"
#include "common/status.h"
#include "kiln/kiln.h"

namespace kiln::cli {

// Exit codes: 0 success, 1 a failure while doing the work, 2 a usage error (flags, specs).
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

enum class Command { kBuild, kRun, kInspect, kCompare, kDebugPrecision };
const char* commandName(Command c);

// Flags accepted by one command (all its sections together).
std::vector<FlagDef> flagsFor(Command c);
// Full help text of a command (usage, every flag, examples).
std::string commandHelp(Command c);
// Top-level help (commands, common usage).
std::string mainHelp();

// Options shared by every command.
struct CommonOptions {
  bool verbose = false;
  DeviceType device = DeviceType::kCPU;
  std::vector<std::string> plugins;  // --plugins, in order
};

struct BuildOptions {
  std::string onnx;
  std::string saveEngine;
  std::vector<ShapeSpec> minShapes, optShapes, maxShapes, shapes;
  bool fp16 = false;
  bool bf16 = false;
  bool noTF32 = false;
  bool tf32 = false;
  std::optional<uint64_t> workspaceBytes;
  std::optional<int> optimizationLevel;
  std::vector<std::string> disabledPasses;  // --disablePasses, optimizer pass names
  std::string timingCacheFile;              // --timingCacheFile
  // --layerPrecisions: (layer name or "*", fp32|fp16) in the order given (later entries win).
  std::vector<std::pair<std::string, DataType>> layerPrecisions;
  bool quiet = false;  // no "Engine built" line (kiln debug precision builds many engines)
  // --profilingVerbosity: per-layer detail the plan keeps (BuilderConfig::setProfilingVerbosity).
  ProfilingVerbosity profilingVerbosity = ProfilingVerbosity::kDETAILED;
};

struct RunOptions {
  std::string loadEngine;
  std::vector<InputFileSpec> loadInputs;
  std::string exportOutput;
  std::string exportTimes;
  std::string exportLayerInfo;
  int64_t iterations = 10;
  double warmUpMs = 200;
  double durationS = 3;
  bool skipInference = false;
  bool dumpOutput = false;
  bool dumpLayerInfo = false;
  bool dumpProfile = false;
  std::string exportProfile;     // per-layer times as JSON
  Profiler* profiler = nullptr;  // set by cmd_run when profiling is asked for
  uint32_t seed = 1;
  // GPU engines only (ignored, with a warning, on the CPU backend).
  bool useCudaGraph = false;
  bool noDataTransfers = false;
  bool useSpinWait = false;
  int streams = 1;
  bool nvtx = false;  // --nvtx: NVTX ranges per layer (ExecutionContext::setNvtxVerbosity)
};

struct InspectOptions {
  std::string path;
  bool json = false;
  std::string dot;   // --dot: Graphviz file of the graph ("-": stdout)
  std::string html;  // --html: self-contained HTML/SVG page of the graph ("-": stdout)
  bool raw = false;  // --raw: an ONNX model's graph as parsed, not optimized
};

// `kiln compare` (polygraphy run's counterpart): runners, inputs, tolerances, report.
struct CompareOptions {
  std::string onnx;
  std::vector<std::string> runners;  // in order; the first is the reference; empty = defaults
  std::vector<ShapeSpec> shapes;
  std::vector<InputFileSpec> loadInputs;
  uint32_t seed = 1;
  double rtol = 1e-5;
  double atol = 1e-6;
  bool markAll = false;
  std::string json;
  bool histogram = false;
  bool preferPlugins = false;
};

// `kiln debug precision`: which layers must stay float32 for a float16/bfloat16 build to pass.
struct DebugPrecisionOptions {
  std::string onnx;
  DataType precision = DataType::kHALF;  // --fp16 (default) or --bf16
  std::vector<ShapeSpec> shapes;
  std::vector<InputFileSpec> loadInputs;
  uint32_t seed = 1;
  double rtol = 1e-2;
  double atol = 1e-3;
  bool reverse = true;  // --direction: search from the outputs back (reverse) or from the inputs
  std::string output;   // the --layerPrecisions file
  std::string json;
};

// Converters: every error is a usage error naming the flag.
StatusOr<CommonOptions> commonOptions(const ParsedArgs& args);
StatusOr<BuildOptions> buildOptions(const ParsedArgs& args);
StatusOr<RunOptions> runOptions(const ParsedArgs& args);
StatusOr<InspectOptions> inspectOptions(const ParsedArgs& args);
StatusOr<CompareOptions> compareOptions(const ParsedArgs& args);
StatusOr<DebugPrecisionOptions> debugPrecisionOptions(const ParsedArgs& args);

}  // namespace kiln::cli
