// The `kiln` subcommands and what they share: parsing a model, building and loading plans.
// Everything here goes through the public API (include/kiln/) only.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "args.h"
#include "common/status.h"
#include "kiln/kiln.h"

namespace kiln::cli {

// Each returns the process exit code (kExitOk, kExitFailure, kExitUsage).
int cmdBuild(std::span<const std::string> args);
int cmdRun(std::span<const std::string> args);
int cmdInspect(std::span<const std::string> args);
int cmdCompare(std::span<const std::string> args);
int cmdDebug(std::span<const std::string> args);  // `kiln debug precision` (cmd_debug.cpp)
// `kiln surgeon extract|sanitize` (cmd_surgeon.cpp).
int cmdSurgeon(std::span<const std::string> args);

// Prints "kiln: error: <message>" to stderr and returns `exitCode`.
int reportError(const Status& status, int exitCode = kExitFailure);
// Prints "kiln: warning: <message>" to stderr.
void reportWarning(const std::string& message);

// Parses the command line of `cmd`. On --help prints the help and sets `exitNow` to kExitOk;
// on a usage error prints it and sets `exitNow` to kExitUsage.
struct CommandLine {
  ParsedArgs args;
  CommonOptions common;
  int exitNow = -1;
};
CommandLine parseCommandLine(Command cmd, std::span<const std::string> args);
// Loads the libraries in $KILN_PLUGIN_PATH (colon-separated), then `libraries` (--plugins).
Status loadPlugins(const std::vector<std::string>& libraries);

// A parsed ONNX model. Members are declared so that the parser dies before the network, and the
// network before the builder.
struct ParsedModel {
  std::unique_ptr<Builder> builder;
  std::unique_ptr<NetworkDefinition> network;
  std::unique_ptr<OnnxParser> parser;
};
// Errors name the file; parse errors list every ParserError, one per line. `preferPlugins`:
// OnnxParser::setPreferPlugins.
StatusOr<ParsedModel> parseOnnxModel(const std::string& path, Logger& logger,
                                     bool preferPlugins = false);

// Parses the ONNX model of `opts`, builds it and returns the serialized plan. Writes the plan to
// opts.saveEngine when set.
StatusOr<std::vector<uint8_t>> buildPlan(const BuildOptions& opts, const CommonOptions& common,
                                         Logger& logger);
// The build half of buildPlan, for a model already parsed (and possibly changed, e.g. more
// outputs marked) by the caller; opts.onnx only names the model in messages.
// (Messages go to the logger the model was parsed with.)
StatusOr<std::vector<uint8_t>> buildParsedModel(ParsedModel& model, const BuildOptions& opts,
                                                const CommonOptions& common);

struct LoadedEngine {
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<Engine> engine;
};
StatusOr<LoadedEngine> loadEngine(std::span<const uint8_t> plan, const std::string& what,
                                  Logger& logger);

}  // namespace kiln::cli
