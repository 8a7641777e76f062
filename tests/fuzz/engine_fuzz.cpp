// libFuzzer target: plan bytes through the public runtime API.
//
//   bytes -> Runtime::deserializeEngine -> createExecutionContext -> (static, small) executeV2
//
// As in plan_fuzz.cpp, the input's last byte picks one of two ways in, so that mutations get
// past the checksum: even: the bytes as they are; odd: the bytes minus that last one with the
// total-size field and the CRC-32C repaired, so damage reaches the section and graph readers and
// then the runtime (operator attributes, shapes and constants that no builder wrote).
// A loaded engine is run once, on random inputs, when every tensor of its graph is static and
// small (bounded like onnx_fuzz.cpp), so a fuzzed plan cannot make the run itself huge.
// Every refusal must carry a message; a crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <span>
#include <vector>

#include "api/cli_util.h"
#include "ir/graph.h"
#include "kiln/kiln.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan_format.h"
#include "runtime/engine_impl.h"

namespace {

class SilentLogger : public kiln::Logger {
 public:
  void log(kiln::Severity, const char*) noexcept override {}
};

constexpr int64_t kMaxElements = int64_t{1} << 16;
constexpr int64_t kMaxTotalElements = int64_t{1} << 20;

bool smallAndStatic(const kiln::ir::Graph& g) {
  int64_t total = 0;
  for (const kiln::ir::Value* v : g.values()) {
    if (!kiln::ir::isStatic(v->shape)) return false;
    int64_t n = 1;
    for (int64_t d : kiln::ir::staticDims(v->shape)) {
      if (d < 0 || d > kMaxElements) return false;
      n *= d;
      if (n > kMaxElements) return false;
    }
    total += n;
    if (total > kMaxTotalElements) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln::plan;  // NOLINT(google-build-using-namespace)
  static SilentLogger logger;
  if (size == 0) return 0;
  std::vector<uint8_t> bytes(data, data + size - 1);
  if ((data[size - 1] & 1u) != 0 && bytes.size() >= format::kFixedHeaderSize) {
    storeU64(bytes.data() + format::kTotalSizeOffset, bytes.size());
    uint32_t crc = crc32c(std::span<const uint8_t>(bytes).subspan(format::kChecksummedFrom));
    storeU32(bytes.data() + format::kChecksumOffset, crc);
  }
  auto runtime = kiln::Runtime::create(logger);
  auto engine = runtime->deserializeEngine(bytes.data(), bytes.size());
  if (!engine) {
    if (runtime->getLastError().empty()) std::abort();
    return 0;
  }
  (void)engine->getLayerInformation(true);
  auto context = engine->createExecutionContext();
  if (!context) std::abort();
  if (!smallAndStatic(*engine->impl().plan.graph)) return 0;

  std::mt19937 rng(static_cast<uint32_t>(size));
  std::vector<std::vector<uint8_t>> buffers;
  for (int i = 0; i < engine->getNbIOTensors(); ++i) {
    const char* name = engine->getIOTensorName(i);
    kiln::Dims dims = context->getTensorShape(name);
    if (dims.nbDims < 0) return 0;
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
