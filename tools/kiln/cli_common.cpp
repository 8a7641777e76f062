// Error reporting and command-line parsing shared by the subcommands.
#include <algorithm>
#include <cstdio>

#include "commands.h"

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
    out.exitNow = reportError(common.status(), kExitUsage);
    return out;
  }
  out.common = *common;
  return out;
}

}  // namespace kiln::cli
