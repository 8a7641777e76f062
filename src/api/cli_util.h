// Pure parsing and formatting helpers of the `kiln` command-line tool (tools/kiln/).
//
// They live in libkiln so unit tests can reach them; nothing else in the library uses them.
// The spellings follow trtexec's where one exists:
//
//   shapes      "x:1x3x224x224,'in:0':4x8"     name:dims, split at the LAST colon unless the
//                                              name is quoted with single quotes
//   sizes       "1G", "512M", "64K", "0.25M", "100"   K/M/G are binary (KiB/MiB/GiB); no
//                                              suffix means MiB, as in trtexec
//   pool sizes  "workspace:1G"
//   load inputs "x:in.bin,'in:0':other.bin"
//
//   std::vector<std::string> args = {"--save-engine", "m.plan", "--fp16"};
//   auto parsed = kiln::cli::parseArgs(args, kBuildFlags);   // kebab or camelCase both work
//   parsed->get("saveEngine") == "m.plan"; parsed->has("fp16") == true
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kiln/types.h"

namespace kiln::cli {

// ---- Flags ------------------------------------------------------------------------------------

enum class FlagKind {
  kBool,   // --fp16, --fp16=true, --fp16=false (never consumes the next argument)
  kValue,  // --onnx=m.onnx or --onnx m.onnx; a repeated flag keeps the last value
  kList,   // like kValue, but repeats are joined with ',' (--shapes=a:1 --shapes=b:2)
};

struct FlagDef {
  const char* name;  // canonical camelCase name without dashes ("saveEngine")
  FlagKind kind;
  const char* valueName;  // shown in help ("<file>"); empty for bools
  const char* help;
};

struct ParsedArgs {
  std::map<std::string, std::string> values;  // canonical name -> value ("true"/"false" for bools)
  std::vector<std::string> positional;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  // A bool flag's value; false when absent.
  bool flag(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = "") const;
};

// "saveEngine", "save-engine", "save_engine" and "SAVEENGINE" all normalize to "saveengine".
std::string normalizeFlagName(std::string_view name);

// Parses arguments (without the program and subcommand names) against a flag table. Accepts
// --flag=value and --flag value, camelCase and kebab-case; "--" ends the flags. Errors: unknown
// flags (with the closest known spelling when one is near), missing or empty values, bad bools.
StatusOr<ParsedArgs> parseArgs(std::span<const std::string> args, std::span<const FlagDef> defs);

// The closest flag name to `unknown` (edit distance on normalized names), or "" if none is near.
std::string suggestFlag(std::string_view unknown, std::span<const FlagDef> defs);

// ---- Specs ------------------------------------------------------------------------------------

// Splits "name:value" at the last colon, or "'name':value" after the closing quote.
StatusOr<std::pair<std::string, std::string>> splitNameValue(std::string_view item);

// "1x3x224x224" -> {1, 3, 224, 224}. Dims are non-negative integers; at most Dims::kMaxDims.
StatusOr<std::vector<int64_t>> parseDims(std::string_view text);

struct ShapeSpec {
  std::string name;
  std::vector<int64_t> dims;
};
// Comma-separated list of name:dims. Rejects empty names or dims, negative or non-numeric dims
// and repeated names.
StatusOr<std::vector<ShapeSpec>> parseShapeSpecs(std::string_view text);

// Bytes of a size with an optional K/M/G suffix (binary units); no suffix means MiB.
StatusOr<uint64_t> parseSize(std::string_view text);

// "workspace:1G[,pool:size]" -> {"workspace": bytes}. Only the workspace pool exists in Kiln.
StatusOr<std::map<std::string, uint64_t>> parseMemPoolSpec(std::string_view text);

// trtexec's --layerPrecisions: "<layer>:<precision>[,...]" (the precision after the last ':'; a
// layer "*" means every layer), precision fp32|fp16 (also float32/float16/half/float). "@path"
// reads the spec from a file: entries separated by commas or newlines, '#' starts a comment; a
// file with no entry (only comments/blank lines) gives an empty list (no pins).
StatusOr<std::vector<std::pair<std::string, DataType>>> parseLayerPrecisions(std::string_view text);

struct InputFileSpec {
  std::string name;
  std::string path;
};
StatusOr<std::vector<InputFileSpec>> parseLoadInputsSpec(std::string_view text);

// Converts dims to Kiln's Dims (at most Dims::kMaxDims, checked by parseDims).
Dims toDims(const std::vector<int64_t>& dims);

// ---- Tensors ----------------------------------------------------------------------------------

// Bytes of a tensor of `dims` and `type`, or an error naming `name` when a dim is negative or the
// size does not fit in 2^62 bytes (the product is checked for overflow at every step).
StatusOr<uint64_t> tensorBytes(const Dims& dims, DataType type, const std::string& name);

// Reads a raw tensor file; its size must be exactly `expectedBytes`. The error names the
// input, the file, the shape/dtype and both byte counts.
StatusOr<std::vector<uint8_t>> readTensorFile(const std::string& path, const std::string& inputName,
                                              const Dims& dims, DataType type);

// Fills `count` elements of `type` at `data` with reproducible random values: floats uniform in
// [-1, 1], integers uniform in [0, 4), bools 0/1.
void fillRandom(DataType type, void* data, int64_t count, std::mt19937& rng);

// Element `index` of a tensor as JSON text: floats "%.9g" (enough to round-trip a float32),
// doubles "%.17g", NaN/Inf as NaN/Infinity/-Infinity, integers as integers, bools 0/1.
std::string formatElement(DataType type, const void* data, int64_t index);

// ---- Timing statistics ------------------------------------------------------------------------

struct Stats {
  size_t count = 0;
  double min = 0, max = 0, mean = 0, median = 0, p90 = 0, p95 = 0, p99 = 0;
};
// Median: the middle value, or the mean of the two middle values for an even count.
// Percentile p: nearest rank, the value at sorted index ceil(p/100 * n) - 1.
Stats computeStats(std::vector<double> values);

}  // namespace kiln::cli
