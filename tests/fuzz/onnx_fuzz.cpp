// libFuzzer target: ONNX model bytes through the public API, as a user's program would see them.
//
//   bytes -> OnnxParser::parse on a fresh network
//         -> (parsed, every tensor static and small) Builder::buildSerializedNetwork for the CPU
//         -> Runtime::deserializeEngine -> createExecutionContext -> executeV2 on random inputs
//
// Every failure must come back as a value with a message; a crash, a sanitizer report, a
// failure without a message, or an allocation above -malloc_limit_mb is a bug. Running is
// limited to networks whose every tensor is static and at most kMaxElements elements (the
// total at most kMaxTotalElements) so that a fuzzed model cannot make the run itself huge; the
// parser and builder see every input unbounded. Built by tests/fuzz/CMakeLists.txt; run by
// scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "api/cli_util.h"
#include "kiln/kiln.h"

namespace {

class SilentLogger : public kiln::Logger {
 public:
  void log(kiln::Severity, const char*) noexcept override {}
};

constexpr int64_t kMaxElements = int64_t{1} << 16;
constexpr int64_t kMaxTotalElements = int64_t{1} << 20;
constexpr int kMaxLayers = 256;

// True when every tensor the network computes has a static shape and the sizes are bounded.
bool smallAndStatic(kiln::NetworkDefinition& net) {
  if (net.getNbLayers() > kMaxLayers) return false;
  int64_t total = 0;
  auto ok = [&](const kiln::Tensor* t) {
    if (!t) return true;
    kiln::Dims d = t->getDimensions();
    if (d.nbDims < 0) return false;
    int64_t v = 1;
    for (int i = 0; i < d.nbDims; ++i) {
      if (d.d[i] < 0 || d.d[i] > kMaxElements) return false;
      v *= d.d[i];
      if (v > kMaxElements) return false;
    }
    total += v;
    return total <= kMaxTotalElements;
  };
  for (int i = 0; i < net.getNbInputs(); ++i)
    if (!ok(net.getInput(i))) return false;
  for (int l = 0; l < net.getNbLayers(); ++l) {
    kiln::Layer* layer = net.getLayer(l);
    for (int o = 0; o < layer->getNbOutputs(); ++o)
      if (!ok(layer->getOutput(o))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static SilentLogger logger;
  auto builder = kiln::Builder::create(logger);
  auto net = builder->createNetwork();
  auto parser = kiln::OnnxParser::create(*net, logger);
  if (!parser->parse(data, size)) {
    // A refusal must say why.
    if (parser->getNbErrors() == 0 || parser->getError(0).message.empty()) std::abort();
    return 0;
  }
  if (!smallAndStatic(*net)) return 0;

  auto config = builder->createConfig();
  config->setDeviceType(kiln::DeviceType::kCPU);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  if (!plan) {
    if (builder->getLastError().empty()) std::abort();
    return 0;
  }
  auto runtime = kiln::Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  if (!engine) std::abort();  // Kiln must read back every plan it writes.
  auto context = engine->createExecutionContext();
  if (!context) std::abort();

  std::mt19937 rng(static_cast<uint32_t>(size));
  std::vector<std::vector<uint8_t>> buffers;
  for (int i = 0; i < engine->getNbIOTensors(); ++i) {
    const char* name = engine->getIOTensorName(i);
    kiln::Dims dims = context->getTensorShape(name);
    if (dims.nbDims < 0) return 0;  // shape could not be resolved; the error is recorded
    int64_t count = 1;
    for (int d = 0; d < dims.nbDims; ++d) count *= dims.d[d];
    if (count < 0 || count > kMaxElements) return 0;
    kiln::DataType type = engine->getTensorDataType(name);
    buffers.emplace_back(static_cast<size_t>(count) * kiln::dataTypeSize(type) + 1);
    if (engine->getTensorIOMode(name) == kiln::TensorIOMode::kINPUT)
      kiln::cli::fillRandom(type, buffers.back().data(), count, rng);
    if (!context->setTensorAddress(name, buffers.back().data())) std::abort();
  }
  if (!context->executeV2() && context->getLastError().empty()) std::abort();
  return 0;
}
