// Error reporting and command-line parsing shared by the subcommands.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "commands.h"
#include "gpu_run.h"

namespace kiln::cli {

int reportError(const Status& status, int exitCode) {
  std::fprintf(stderr, "kiln: error: %s\n", status.message().c_str());
  std::fflush(stderr);
  return exitCode;
}

void reportWarning(const std::string& message) {
  std::fprintf(stderr, "kiln: warning: %s\n", message.c_str());
  std::fflush(stderr);
}

Status loadPlugins(const std::vector<std::string>& libraries) {
  if (const char* env = std::getenv("KILN_PLUGIN_PATH"); env && *env) {
    PluginStatus st = loadPluginLibraries(env);
    if (!st.isOk()) return invalidArgument("KILN_PLUGIN_PATH: %s", st.message().c_str());
  }
  for (const std::string& lib : libraries) {
    PluginStatus st = getPluginRegistry().loadLibrary(lib.c_str());
    if (!st.isOk()) return invalidArgument("--plugins: %s", st.message().c_str());
  }
  return Status::ok();
}

CommandLine parseCommandLine(Command cmd, std::span<const std::string> args) {
  CommandLine out;
  // Help wins over any other flag, even a wrong one; -h is the one short flag.
  bool help = std::any_of(args.begin(), args.end(), [](const std::string& a) {
    return a == "-h" || (a.rfind("--", 0) == 0 && normalizeFlagName(a.substr(2)) == "help");
  });
  std::vector<FlagDef> defs = flagsFor(cmd);
  auto parsed = parseArgs(args, defs);
  if (help) {
    std::fputs(commandHelp(cmd).c_str(), stdout);
    out.exitNow = kExitOk;
    return out;
  }
  if (!parsed.isOk()) {
    reportError(parsed.status(), kExitUsage);
    std::fprintf(stderr, "Run 'kiln %s --help' for the list of flags.\n", commandName(cmd));
    out.exitNow = kExitUsage;
    return out;
  }
  out.args = std::move(parsed).value();
  if (cmd != Command::kInspect && !out.args.positional.empty()) {
    reportError(invalidArgument("unexpected argument '%s' (flags start with --)",
                                out.args.positional[0].c_str()),
                kExitUsage);
    std::fprintf(stderr, "Run 'kiln %s --help' for the list of flags.\n", commandName(cmd));
    out.exitNow = kExitUsage;
    return out;
  }
  auto common = commonOptions(out.args);
  if (!common.isOk()) {
    // A well-formed --device=cuda in a build without CUDA is not a usage error: the machine
    // (or build) lacks something, so it exits like any other failure.
    bool missing = common.status().code() == StatusCode::kUnsupported;
    out.exitNow = reportError(common.status(), missing ? kExitFailure : kExitUsage);
    return out;
  }
  out.common = *common;
  // Building for or running on the GPU needs one; say so before any model is read.
  if (cmd != Command::kInspect && out.common.device == DeviceType::kGPU) {
    Status gpu = checkCudaDevice();
    if (!gpu.isOk()) {
      out.exitNow = reportError(gpu, kExitFailure);
      return out;
    }
  }
  // Plugin libraries: $KILN_PLUGIN_PATH first, then --plugins, before any model or plan is
  // read (ONNX nodes and plan layers are matched against the registry).
  Status loaded = loadPlugins(out.common.plugins);
  if (!loaded.isOk()) out.exitNow = reportError(loaded, kExitFailure);
  return out;
}

}  // namespace kiln::cli
