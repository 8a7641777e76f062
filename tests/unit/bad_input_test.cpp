// The bad-input matrix of docs/reliability.md, through the PUBLIC API: every refusal is a value
// (null / false) with a message that says what is wrong, and nothing crashes or allocates
// absurd amounts. Entries already tested elsewhere (onnx_parser_test.cpp, plan_test.cpp,
// api_test.cpp, cli_args_test.cpp) are not repeated here; docs/reliability.md lists where each
// entry lives. The fuzzers' regression inputs (tests/fuzz/regressions/<target>/) are replayed
// here too, so a crash the fuzzers once found stays fixed in the ordinary test run.
#include <gtest/gtest.h>

#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "onnx/onnx.pb.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan.h"
#include "plan/plan_format.h"

namespace kiln {
namespace {

namespace fmt = plan::format;

class CapturingLogger : public Logger {
 public:
  void log(Severity s, const char* msg) noexcept override {
    if (s <= Severity::kWARNING) messages.emplace_back(msg);
  }
  std::vector<std::string> messages;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// y = relu(x W^T + b), x: float32[batch, 4] with a profile batch in [1, 4]; W, b random.
std::unique_ptr<HostMemory> buildSmallPlan(Logger& logger) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w(12), b(3);
  for (auto& v : w) v = u(rng);
  for (auto& v : b) v = u(rng);
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {-1, 4}, {"batch", ""});
  Layer* fc = net->addFullyConnected(*x, 3, {DataType::kFLOAT, w.data(), 12},
                                     {DataType::kFLOAT, b.data(), 3});
  if (!fc) return nullptr;
  Layer* relu = net->addActivation(*fc->getOutput(0), ActivationType::kRELU);
  relu->getOutput(0)->setName("y");
  net->markOutput(*relu->getOutput(0));
  auto config = builder->createConfig();
  OptimizationProfile* p = builder->createOptimizationProfile();
  p->setShape("x", {1, 4}, {2, 4}, {4, 4});
  config->addOptimizationProfile(p);
  return builder->buildSerializedNetwork(*net, *config);
}

const std::vector<uint8_t>& smallPlan() {
  static const std::vector<uint8_t> bytes = [] {
    CapturingLogger logger;
    auto plan = buildSmallPlan(logger);
    return plan ? plan->bytes() : std::vector<uint8_t>{};
  }();
  return bytes;
}

// A minimal valid ONNX model: y = Relu(x), x: float32[2].
std::string smallOnnx() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_value(2);
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->add_input("x");
  n->add_output("y");
  g->add_output()->set_name("y");
  return m.SerializeAsString();
}

const std::vector<uint8_t> kPngHeader = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0,
                                         0,    13,  'I', 'H', 'D',  'R',  0,    0,    1, 0,
                                         0,    0,   1,   0,   8,    6,    0,    0,    0};

struct ParseResult {
  bool ok = false;
  std::string errors;
};
ParseResult parseOnnx(const void* data, size_t size) {
  CapturingLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  auto parser = OnnxParser::create(*net, logger);
  ParseResult r;
  r.ok = parser->parse(data, size);
  for (int i = 0; i < parser->getNbErrors(); ++i) r.errors += parser->getError(i).toString() + "\n";
  return r;
}

std::string loadError(const void* data, size_t size, bool* loaded = nullptr) {
  CapturingLogger logger;
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(data, size);
  if (loaded) *loaded = engine != nullptr;
  if (engine) return "";
  // The message goes to the logger too.
  EXPECT_FALSE(logger.messages.empty());
  return runtime->getLastError();
}

// ---- wrong-format files ------------------------------------------------------------------------

TEST(BadInput, PlanOrPngGivenToTheOnnxParser) {
  ASSERT_FALSE(smallPlan().empty());
  ParseResult plan = parseOnnx(smallPlan().data(), smallPlan().size());
  EXPECT_FALSE(plan.ok);
  EXPECT_TRUE(contains(plan.errors, "not a valid ONNX model")) << plan.errors;
  EXPECT_TRUE(contains(plan.errors, std::to_string(smallPlan().size()) + " bytes")) << plan.errors;
  ParseResult png = parseOnnx(kPngHeader.data(), kPngHeader.size());
  EXPECT_FALSE(png.ok);
  EXPECT_TRUE(contains(png.errors, "not a valid ONNX model")) << png.errors;
}

TEST(BadInput, OnnxPngEmptyAndRandomBytesGivenToTheRuntime) {
  std::string model = smallOnnx();
  std::string e = loadError(model.data(), model.size());
  EXPECT_TRUE(contains(e, "not a Kiln plan")) << e;
  EXPECT_TRUE(contains(e, "--onnx=")) << e;  // and what to do instead
  e = loadError(kPngHeader.data(), kPngHeader.size());
  EXPECT_TRUE(contains(e, "not a Kiln plan")) << e;
  EXPECT_TRUE(contains(e, "89504e47")) << e;  // the bytes it found
  uint8_t none = 0;
  e = loadError(&none, 0);
  EXPECT_TRUE(contains(e, "empty")) << e;
  e = loadError(nullptr, 16);
  EXPECT_TRUE(contains(e, "null")) << e;
  std::mt19937 rng(3);
  for (int i = 0; i < 50; ++i) {
    std::vector<uint8_t> junk(rng() % 300 + 1);
    for (auto& c : junk) c = static_cast<uint8_t>(rng());
    EXPECT_FALSE(loadError(junk.data(), junk.size()).empty());
  }
}

// ---- plans: damage through the runtime ---------------------------------------------------------

TEST(BadInput, TruncatedFlippedAndOtherVersionPlansThroughTheRuntime) {
  const std::vector<uint8_t>& good = smallPlan();
  ASSERT_GT(good.size(), 200u);
  bool loaded = false;
  EXPECT_EQ(loadError(good.data(), good.size(), &loaded), "");
  EXPECT_TRUE(loaded);

  std::string e = loadError(good.data(), good.size() / 2);
  EXPECT_TRUE(contains(e, "truncated")) << e;
  EXPECT_TRUE(contains(e, "expected " + std::to_string(good.size()) + " bytes")) << e;
  e = loadError(good.data(), 12);
  EXPECT_TRUE(contains(e, "truncated")) << e;

  std::vector<uint8_t> flipped = good;
  flipped[flipped.size() - 5] ^= 0x10;
  e = loadError(flipped.data(), flipped.size());
  EXPECT_TRUE(contains(e, "checksum mismatch")) << e;

  std::vector<uint8_t> version = good;
  plan::storeU32(version.data() + fmt::kFormatVersionOffset, plan::kPlanFormatVersion + 7);
  e = loadError(version.data(), version.size());
  EXPECT_TRUE(contains(e, "format version " + std::to_string(plan::kPlanFormatVersion + 7))) << e;
  EXPECT_TRUE(contains(e, "rebuild")) << e;
}

// A plan for another GPU (an A100, sm_80) is refused both without a GPU and on the H100.
TEST(BadInput, PlanForAnotherGpuIsRefused) {
  CapturingLogger logger;
  auto runtime = Runtime::create(logger);
  auto good = plan::deserializePlan(smallPlan());
  ASSERT_TRUE(good.isOk()) << good.status().toString();
  good->device.type = DeviceType::kGPU;
  good->device.name = "NVIDIA A100-SXM4-80GB";
  good->device.smMajor = 8;
  good->device.smMinor = 0;
  auto bytes = plan::serializePlan(*good);
  ASSERT_TRUE(bytes.isOk()) << bytes.status().toString();
  EXPECT_EQ(runtime->deserializeEngine(bytes->data(), bytes->size()), nullptr);
  const std::string& e = runtime->getLastError();
  EXPECT_TRUE(contains(e, "NVIDIA A100-SXM4-80GB")) << e;
  EXPECT_TRUE(contains(e, "sm_80")) << e;
  EXPECT_TRUE(contains(e, "rebuild")) << e;
}

// Damage inside every section, with the size and checksum repaired so that the structure
// readers (not the checksum) meet it: each plan is refused with a message, or loads, and then
// creating a context and running it either works or fails with a message. Never a crash
// (the sanitizer build checks the memory accesses too).
TEST(BadInput, EverySectionDamagedWithRepairedChecksum) {
  const std::vector<uint8_t>& good = smallPlan();
  ASSERT_GT(good.size(), fmt::kFixedHeaderSize);
  uint32_t headerSize = plan::loadU32(good.data() + fmt::kHeaderSizeOffset);
  ASSERT_LE(headerSize, good.size());
  // The section table closes the header: kNumSectionTypes entries of 24 bytes.
  size_t table = headerSize - fmt::kNumSectionTypes * fmt::kSectionEntrySize;
  std::mt19937 rng(99);
  int refused = 0, ran = 0;
  for (uint32_t s = 0; s < fmt::kNumSectionTypes; ++s) {
    const uint8_t* entry = good.data() + table + s * fmt::kSectionEntrySize;
    uint64_t offset = plan::loadU64(entry + 8), size = plan::loadU64(entry + 16);
    ASSERT_LE(offset + size, good.size()) << "section " << s;
    for (int trial = 0; trial < 200 && size > 0; ++trial) {
      std::vector<uint8_t> bad = good;
      size_t at = static_cast<size_t>(offset + rng() % size);
      bad[at] = static_cast<uint8_t>(trial % 3 == 0   ? 0xFF
                                     : trial % 3 == 1 ? 0x00
                                                      : bad[at] ^ (1u << (rng() % 8)));
      uint32_t crc = plan::crc32c(std::span<const uint8_t>(bad).subspan(fmt::kChecksummedFrom));
      plan::storeU32(bad.data() + fmt::kChecksumOffset, crc);
      CapturingLogger logger;
      auto runtime = Runtime::create(logger);
      auto engine = runtime->deserializeEngine(bad.data(), bad.size());
      if (!engine) {
        EXPECT_FALSE(runtime->getLastError().empty()) << "section " << s << " byte " << at;
        ++refused;
        continue;
      }
      auto ctx = engine->createExecutionContext();
      ASSERT_NE(ctx, nullptr);
      std::vector<float> x(8, 0.5f), y(64, 0.f);
      if (!ctx->setInputShape("x", {2, 4}) || !ctx->setTensorAddress("x", x.data()) ||
          !ctx->setTensorAddress("y", y.data())) {
        EXPECT_FALSE(ctx->getLastError().empty());
        continue;
      }
      Dims out = ctx->getTensorShape("y");
      if (out.nbDims < 0 || out.volume() < 0 || out.volume() > 64) continue;
      if (ctx->executeV2()) {
        ++ran;
      } else {
        EXPECT_FALSE(ctx->getLastError().empty());
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(ran, 0);  // damage to weights (constants section) loads and runs: a valid plan
}

// ---- ONNX models with bad contents (the rest is in onnx_parser_test.cpp) -----------------------

TEST(BadInput, MissingInitializerNamesTheTensorAndTheNode) {
  onnx::ModelProto m;
  m.ParseFromString(smallOnnx());
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_op_type("Conv");
  g->mutable_node(0)->set_name("conv0");
  g->mutable_node(0)->add_input("conv0.weight");  // declared nowhere: no initializer, no input
  auto* shape = g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->clear_dim();
  for (int64_t d : {1, 1, 4, 4}) shape->add_dim()->set_dim_value(d);
  std::string bytes = m.SerializeAsString();
  ParseResult r = parseOnnx(bytes.data(), bytes.size());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.errors, "'conv0.weight'")) << r.errors;
  EXPECT_TRUE(contains(r.errors, "conv0")) << r.errors;
}

// A model that asks for an astronomically large tensor from a tiny file: ConstantOfShape of a
// constant shape [2^20, 2^20, 2^20] (2^60 floats), summed to a scalar.
std::string hugeConstantOfShapeModel() {
  onnx::ModelProto m;
  m.ParseFromString(smallOnnx());
  auto* g = m.mutable_graph();
  auto* shape = g->add_initializer();
  shape->set_name("shape");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(3);
  for (int64_t d : {int64_t{1} << 20, int64_t{1} << 20, int64_t{1} << 20}) shape->add_int64_data(d);
  auto* n = g->add_node();
  n->set_op_type("ConstantOfShape");
  n->set_name("big");
  n->add_input("shape");
  n->add_output("c");
  auto* sum = g->add_node();
  sum->set_op_type("ReduceSum");
  sum->add_input("c");
  sum->add_output("s");
  g->add_output()->set_name("s");
  return m.SerializeAsString();
}

// Parsing and building must not fold (allocate) it: either a refusal with a message naming the
// node, or a small plan.
TEST(BadInput, HugeConstantOfShapeIsNotAllocatedWhileParsingOrBuilding) {
  std::string bytes = hugeConstantOfShapeModel();
  CapturingLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  auto parser = OnnxParser::create(*net, logger);
  if (!parser->parse(bytes.data(), bytes.size())) {
    EXPECT_EQ(parser->getError(0).nodeName, "big") << parser->getError(0).toString();
    return;
  }
  auto config = builder->createConfig();
  auto plan = builder->buildSerializedNetwork(*net, *config);
  if (!plan) {
    EXPECT_FALSE(builder->getLastError().empty());
    return;
  }
  EXPECT_LT(plan->size(), 4096u);
}

// Running it must fail with a message (the bytes asked for and the limit, as the issue asks)
// instead of asking malloc for 4 EiB. Today CpuExecutor::prepare (src/runtime/cpu_executor.cpp)
// allocates every activation without a limit and AlignedBuffer (src/ir/tensor_data.cpp) throws
// std::bad_alloc through executeV2 (under ASan: allocation-size-too-big). docs/reliability.md,
// open items; enable when fixed.
TEST(BadInput, HugeActivationFailsToRunWithAMessage) {
  std::string bytes = hugeConstantOfShapeModel();
  CapturingLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  auto parser = OnnxParser::create(*net, logger);
  ASSERT_TRUE(parser->parse(bytes.data(), bytes.size()));
  auto config = builder->createConfig();
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << builder->getLastError();
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  auto ctx = engine->createExecutionContext();
  std::vector<float> x(2, 1.f), y(2, 0.f), s(1, 0.f);
  ctx->setTensorAddress("x", x.data());
  ctx->setTensorAddress("y", y.data());
  ctx->setTensorAddress("s", s.data());
  bool ran = true;
  try {
    ran = ctx->executeV2();
  } catch (const std::exception& e) {  // exceptions must not cross the API
    FAIL() << "executeV2 threw " << e.what();
  }
  EXPECT_FALSE(ran);
  EXPECT_TRUE(contains(ctx->getLastError(), "bytes")) << ctx->getLastError();
}

// ---- the runtime: shapes, names and addresses ---------------------------------------------------

struct Loaded {
  CapturingLogger logger;
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ExecutionContext> ctx;
  Loaded() {
    runtime = Runtime::create(logger);
    engine = runtime->deserializeEngine(smallPlan().data(), smallPlan().size());
    if (engine) ctx = engine->createExecutionContext();
  }
};

TEST(BadInput, InputShapesOfTheWrongRankOrDimsOrNegative) {
  Loaded l;
  ASSERT_NE(l.ctx, nullptr);
  EXPECT_FALSE(l.ctx->setInputShape("x", {2, 4, 1}));
  EXPECT_TRUE(contains(l.ctx->getLastError(), "expected rank 2")) << l.ctx->getLastError();
  EXPECT_FALSE(l.ctx->setInputShape("x", {2, 5}));
  EXPECT_TRUE(contains(l.ctx->getLastError(), "dimension 1 is fixed to 4, got 5"))
      << l.ctx->getLastError();
  EXPECT_FALSE(l.ctx->setInputShape("x", {-2, 4}));
  EXPECT_TRUE(contains(l.ctx->getLastError(), "concrete")) << l.ctx->getLastError();
  EXPECT_FALSE(l.ctx->setInputShape("y", {2, 3}));  // an output
  EXPECT_TRUE(contains(l.ctx->getLastError(), "'y' is not an input")) << l.ctx->getLastError();
  EXPECT_FALSE(l.ctx->setInputShape("nope", {2, 4}));
  EXPECT_TRUE(contains(l.ctx->getLastError(), "'nope'")) << l.ctx->getLastError();
  EXPECT_FALSE(l.ctx->setOptimizationProfile(3));
  EXPECT_TRUE(contains(l.ctx->getLastError(), "profile 3 does not exist")) << l.ctx->getLastError();
  EXPECT_FALSE(l.ctx->setOptimizationProfile(-1));
}

TEST(BadInput, UnboundAndNullTensorsAndShapesNotSet) {
  Loaded l;
  ASSERT_NE(l.ctx, nullptr);
  std::vector<float> x(8, 1.f), y(6, 0.f);
  // Dynamic input without a shape.
  EXPECT_FALSE(l.ctx->executeV2());
  EXPECT_TRUE(contains(l.ctx->getLastError(), "input 'x' has dynamic dimensions"))
      << l.ctx->getLastError();
  EXPECT_FALSE(l.ctx->allInputDimensionsSpecified());
  ASSERT_TRUE(l.ctx->setInputShape("x", {2, 4}));
  // Nothing bound.
  EXPECT_FALSE(l.ctx->executeV2());
  EXPECT_TRUE(contains(l.ctx->getLastError(), "'x' has no address")) << l.ctx->getLastError();
  // Output unbound.
  ASSERT_TRUE(l.ctx->setTensorAddress("x", x.data()));
  EXPECT_FALSE(l.ctx->executeV2());
  EXPECT_TRUE(contains(l.ctx->getLastError(), "output 'y' has no address"))
      << l.ctx->getLastError();
  // Bound to null.
  ASSERT_TRUE(l.ctx->setTensorAddress("y", nullptr));
  EXPECT_FALSE(l.ctx->executeV2());
  EXPECT_TRUE(contains(l.ctx->getLastError(), "output 'y' has no address"))
      << l.ctx->getLastError();
  ASSERT_TRUE(l.ctx->setTensorAddress("y", y.data()));
  EXPECT_TRUE(l.ctx->executeV2()) << l.ctx->getLastError();
  // Unknown names.
  EXPECT_FALSE(l.ctx->setTensorAddress("z", y.data()));
  EXPECT_TRUE(contains(l.ctx->getLastError(), "'z' is not an input or output"))
      << l.ctx->getLastError();
}

TEST(BadInput, NullNamesAreRefusedEverywhere) {
  Loaded l;
  ASSERT_NE(l.ctx, nullptr);
  EXPECT_FALSE(l.ctx->setInputShape(nullptr, {2, 4}));
  EXPECT_TRUE(contains(l.ctx->getLastError(), "(null)")) << l.ctx->getLastError();
  float v = 0;
  EXPECT_FALSE(l.ctx->setTensorAddress(nullptr, &v));
  EXPECT_TRUE(contains(l.ctx->getLastError(), "(null)")) << l.ctx->getLastError();
  EXPECT_EQ(l.ctx->getTensorAddress(nullptr), nullptr);
  EXPECT_EQ(l.ctx->getTensorShape(nullptr).nbDims, -1);
  EXPECT_EQ(l.engine->getTensorIOMode(nullptr), TensorIOMode::kNONE);
  EXPECT_EQ(l.engine->getTensorShape(nullptr).nbDims, -1);
  EXPECT_EQ(l.engine->getIOTensorName(-1), nullptr);
  EXPECT_EQ(l.engine->getIOTensorName(l.engine->getNbIOTensors()), nullptr);
  EXPECT_EQ(l.engine->getProfileShape("x", 5, OptProfileSelector::kMAX).nbDims, -1);

  // The builder side: null names and empty networks.
  CapturingLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  EXPECT_EQ(net->addInput(nullptr, DataType::kFLOAT, {2}), nullptr);
  EXPECT_FALSE(net->getLastError().empty());
  auto config = builder->createConfig();
  EXPECT_EQ(builder->buildSerializedNetwork(*net, *config), nullptr);
  EXPECT_TRUE(contains(builder->getLastError(), "output")) << builder->getLastError();
  auto parser = OnnxParser::create(*net, logger);
  EXPECT_FALSE(parser->parseFromFile(nullptr));
  EXPECT_GE(parser->getNbErrors(), 1);
}

// Null names that crash today (a std::string built from or compared with a null pointer):
// docs/reliability.md, open items. Enable when src/runtime/engine.cpp and src/api/ check them.
TEST(BadInput, NullNamesInLookupsAndSetters) {
  Loaded l;
  ASSERT_NE(l.engine, nullptr);
  EXPECT_EQ(l.engine->getProfileShape(nullptr, 0, OptProfileSelector::kMIN).nbDims, -1);
  CapturingLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  EXPECT_EQ(net->getTensor(nullptr), nullptr);
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2});
  ASSERT_NE(x, nullptr);
  x->setName(nullptr);
  EXPECT_STREQ(x->getName(), "x");
  Layer* relu = net->addActivation(*x, ActivationType::kRELU);
  ASSERT_NE(relu, nullptr);
  relu->setName(nullptr);
  EXPECT_NE(relu->getName(), nullptr);
  OptimizationProfile* p = builder->createOptimizationProfile();
  EXPECT_EQ(p->getDimensions(nullptr, OptProfileSelector::kMIN).nbDims, -1);
}

// ---- fuzzer regressions ------------------------------------------------------------------------

// Replays tests/fuzz/regressions/<target>/* through the same public calls the fuzz target makes
// (without libFuzzer): each input must be refused or handled, never crash.
std::vector<std::vector<uint8_t>> regressionInputs(const std::string& target) {
  std::vector<std::vector<uint8_t>> out;
  std::filesystem::path dir =
      std::filesystem::path(KILN_SOURCE_DIR) / "tests/fuzz/regressions" / target;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!e.is_regular_file() || e.path().extension() == ".md") continue;
    // open-*: a known crash not fixed yet (tests/fuzz/regressions/README.md); replaying it would
    // take the whole test binary down.
    if (e.path().filename().string().rfind("open-", 0) == 0) continue;
    std::ifstream f(e.path(), std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  return out;
}

TEST(FuzzRegressions, OnnxInputsParseOrFailWithAMessage) {
  for (const auto& bytes : regressionInputs("onnx_fuzz")) {
    CapturingLogger logger;
    auto builder = Builder::create(logger);
    auto net = builder->createNetwork();
    auto parser = OnnxParser::create(*net, logger);
    if (!parser->parse(bytes.data(), bytes.size())) {
      EXPECT_GE(parser->getNbErrors(), 1);
      continue;
    }
    auto config = builder->createConfig();
    auto plan = builder->buildSerializedNetwork(*net, *config);
    if (!plan) {
      EXPECT_FALSE(builder->getLastError().empty());
    }
  }
}

TEST(FuzzRegressions, PlanInputsLoadOrFailWithAMessage) {
  for (const char* target : {"engine_fuzz", "plan_fuzz"}) {
    for (auto bytes : regressionInputs(target)) {
      if (bytes.empty()) continue;
      // The fuzz targets' input convention: the last byte is the mode (odd: repair the size and
      // checksum), the rest is the plan.
      uint8_t mode = bytes.back();
      bytes.pop_back();
      if ((mode & 1u) != 0 && bytes.size() >= fmt::kFixedHeaderSize) {
        plan::storeU64(bytes.data() + fmt::kTotalSizeOffset, bytes.size());
        plan::storeU32(
            bytes.data() + fmt::kChecksumOffset,
            plan::crc32c(std::span<const uint8_t>(bytes).subspan(fmt::kChecksummedFrom)));
      }
      CapturingLogger logger;
      auto runtime = Runtime::create(logger);
      auto engine = runtime->deserializeEngine(bytes.data(), bytes.size());
      if (!engine) {
        EXPECT_FALSE(runtime->getLastError().empty());
        continue;
      }
      EXPECT_NE(engine->createExecutionContext(), nullptr);
    }
  }
}

}  // namespace
}  // namespace kiln
