// kiln: build, run and inspect Kiln engines from the command line (docs/cli.md).
//
//   kiln build --onnx=m.onnx --saveEngine=m.plan
//   kiln run --loadEngine=m.plan --shapes=x:8x3x224x224
//   kiln inspect m.plan --json
//   kiln compare --onnx=m.onnx --runners=kiln-cpu,onnxruntime
//   kiln debug precision --onnx=m.onnx --output=prec.txt
//   kiln surgeon extract --onnx=m.onnx --inputs=a --outputs=b --output=sub.onnx
//   kiln --onnx=m.onnx --saveEngine=m.plan     (trtexec style: same as `kiln run`)
#include <cstdio>
#include <exception>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "commands.h"

namespace {

using kiln::cli::kExitFailure;
using kiln::cli::kExitOk;
using kiln::cli::kExitUsage;

int printVersion() {
  std::printf("kiln %s (backends: cpu%s)\n", kiln::versionString(),
#ifdef KILN_HAVE_CUDA
              ", cuda"
#else
              ""
#endif
  );
  return kExitOk;
}

int dispatch(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fputs(kiln::cli::mainHelp().c_str(), stderr);
    return kExitUsage;
  }
  const std::string& first = args[0];
  std::span<const std::string> rest(args.data() + 1, args.size() - 1);
  if (first == "build") return kiln::cli::cmdBuild(rest);
  if (first == "run") return kiln::cli::cmdRun(rest);
  if (first == "inspect") return kiln::cli::cmdInspect(rest);
  if (first == "compare") return kiln::cli::cmdCompare(rest);
  if (first == "debug") return kiln::cli::cmdDebug(rest);
  if (first == "surgeon") return kiln::cli::cmdSurgeon(rest);
  if (first == "help") {
    if (rest.empty()) {
      std::fputs(kiln::cli::mainHelp().c_str(), stdout);
      return kExitOk;
    }
    return dispatch({rest[0], "--help"});
  }
  std::string norm = kiln::cli::normalizeFlagName(first);
  if (norm == "version" && first.rfind("--", 0) == 0) return printVersion();
  if ((norm == "help" && first.rfind("--", 0) == 0) || first == "-h") {
    std::fputs(kiln::cli::mainHelp().c_str(), stdout);
    return kExitOk;
  }
  // trtexec style: flags without a subcommand mean `kiln run`.
  if (first.rfind("--", 0) == 0) return kiln::cli::cmdRun(args);
  std::fprintf(stderr,
               "kiln: error: unknown command '%s' (commands: build, run, inspect, compare, "
               "debug, surgeon)\n"
               "Run 'kiln --help' for usage.\n",
               first.c_str());
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Errors are values inside Kiln; this catch only turns an allocation failure (a huge shape)
  // or another unexpected exception into a clean error exit instead of an abort.
  try {
    return dispatch(args);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "kiln: error: out of memory (are the shapes what you meant?)\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln: error: %s\n", e.what());
  }
  return kExitFailure;
}
