// Seed maker for the plan fuzzers (scripts/fuzz.sh): builds each ONNX model given on the command
// line for the CPU and writes the plan next to OUT_DIR/<model name>.plan. Models that do not
// parse or build (dynamic dims without a profile, unsupported ops) are skipped with a note.
// Lives here rather than using the `kiln` CLI so the fuzz build tree holds no `bin/kiln` that
// tests looking for the newest CLI could pick up.
//
//   fuzz_seed_plans OUT_DIR model.onnx [model.onnx ...]
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "kiln/kiln.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR model.onnx...\n", argv[0]);
    return 2;
  }
  kiln::StderrLogger logger(kiln::Severity::kINTERNAL_ERROR);
  std::filesystem::path out(argv[1]);
  int written = 0;
  for (int i = 2; i < argc; ++i) {
    auto builder = kiln::Builder::create(logger);
    auto net = builder->createNetwork();
    auto parser = kiln::OnnxParser::create(*net, logger);
    if (!parser->parseFromFile(argv[i])) {
      std::fprintf(stderr, "skip %s: %s\n", argv[i], parser->getError(0).toString().c_str());
      continue;
    }
    auto config = builder->createConfig();
    config->setDeviceType(kiln::DeviceType::kCPU);
    auto plan = builder->buildSerializedNetwork(*net, *config);
    if (!plan) {
      std::fprintf(stderr, "skip %s: %s\n", argv[i], builder->getLastError().c_str());
      continue;
    }
    auto path = out / std::filesystem::path(argv[i]).stem().concat(".plan");
    std::ofstream f(path, std::ios::binary);
    f.write(static_cast<const char*>(plan->data()), static_cast<std::streamsize>(plan->size()));
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    ++written;
  }
  std::printf("%d plans written to %s\n", written, out.c_str());
  return 0;
}
