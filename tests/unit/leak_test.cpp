// Resources: repeated parse/build/load/run/destroy cycles must not leak.
//
// Two checks. In the ASan build (scripts/sanitize.sh), LeakSanitizer reports any block still
// allocated at exit, so a leak in any cycle fails the run. In the ordinary build, the resident set
// size (/proc/self/statm) after many cycles must stay near its level after a few warm-up cycles:
// each cycle handles about 1 MiB of weights (a 512x512 float32 matrix), so leaking the network,
// the plan or the engine once per cycle would grow RSS by >= 40 MiB over 40 cycles, far above the
// 16 MiB allowed for malloc's arenas and caches (which make RSS noisy, hence the generous bound).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "onnx/onnx.pb.h"

#if defined(__SANITIZE_ADDRESS__)
#define KILN_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_TEST_ASAN 1
#endif
#endif

namespace kiln {
namespace {

class SilentLogger : public Logger {
 public:
  void log(Severity, const char*) noexcept override {}
};

constexpr int64_t kN = 512;

// Resident set size in bytes (second field of /proc/self/statm, in pages).
int64_t residentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long size = 0, resident = 0;
  int got = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return got == 2 ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : -1;
}

// A 512->512 fully connected layer and a softmax, x: float32[batch, 512], batch in [1, 4].
std::unique_ptr<HostMemory> buildPlan(Logger& logger, const std::vector<float>& w) {
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {-1, kN});
  Layer* fc = net->addFullyConnected(*x, kN, {DataType::kFLOAT, w.data(), kN * kN}, {});
  if (!fc) return nullptr;
  Layer* sm = net->addSoftMax(*fc->getOutput(0), 1);
  sm->getOutput(0)->setName("y");
  net->markOutput(*sm->getOutput(0));
  auto config = builder->createConfig();
  OptimizationProfile* p = builder->createOptimizationProfile();
  p->setShape("x", {1, kN}, {2, kN}, {4, kN});
  config->addOptimizationProfile(p);
  return builder->buildSerializedNetwork(*net, *config);
}

// One full cycle; returns false (with a gtest failure) if any step fails.
bool cycle(Logger& logger, const std::vector<float>& w, const std::vector<float>& x, int batch) {
  auto plan = buildPlan(logger, w);
  EXPECT_NE(plan, nullptr);
  if (!plan) return false;
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  EXPECT_NE(engine, nullptr) << runtime->getLastError();
  if (!engine) return false;
  auto ctx = engine->createExecutionContext();
  std::vector<float> y(static_cast<size_t>(batch * kN));
  bool ok = ctx->setInputShape("x", {batch, kN}) && ctx->setTensorAddress("x", const_cast<float*>(x.data())) &&
            ctx->setTensorAddress("y", y.data()) && ctx->executeV2();
  EXPECT_TRUE(ok) << ctx->getLastError();
  // Each softmax row sums to 1: the run really happened.
  double sum = 0;
  for (int64_t i = 0; i < kN; ++i) sum += y[static_cast<size_t>(i)];
  EXPECT_NEAR(sum, 1.0, 1e-4);
  // A failing load must not leak either.
  std::vector<uint8_t> cut(plan->bytes().begin(), plan->bytes().begin() + static_cast<long>(plan->size() / 2));
  EXPECT_EQ(runtime->deserializeEngine(cut.data(), cut.size()), nullptr);
  return ok;
}

TEST(Leak, BuildLoadRunDestroyCyclesReturnMemory) {
  SilentLogger logger;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  std::vector<float> w(static_cast<size_t>(kN * kN)), x(static_cast<size_t>(4 * kN));
  for (auto& v : w) v = u(rng);
  for (auto& v : x) v = u(rng) * 20;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(cycle(logger, w, x, 1 + i % 4));
  int64_t start = residentBytes();
  ASSERT_GT(start, 0);
  constexpr int kCycles = 40;
  for (int i = 0; i < kCycles; ++i) ASSERT_TRUE(cycle(logger, w, x, 1 + i % 4));
  int64_t grown = residentBytes() - start;
#ifndef KILN_TEST_ASAN
  EXPECT_LT(grown, int64_t{16} << 20) << "RSS grew by " << grown << " bytes over " << kCycles << " cycles";
#else
  (void)grown;  // ASan's quarantine holds freed memory; LeakSanitizer does the check at exit
#endif
}

TEST(Leak, ManyContextsAndShapeChangesOnOneEngine) {
  SilentLogger logger;
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  std::vector<float> w(static_cast<size_t>(kN * kN)), x(static_cast<size_t>(4 * kN)), y(static_cast<size_t>(4 * kN));
  for (auto& v : w) v = u(rng);
  for (auto& v : x) v = u(rng);
  auto plan = buildPlan(logger, w);
  ASSERT_NE(plan, nullptr);
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr);
  auto runContexts = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto ctx = engine->createExecutionContext();
      for (int b = 1; b <= 4; ++b) {  // every shape change re-plans the activation buffers
        ASSERT_TRUE(ctx->setInputShape("x", {b, kN}));
        ctx->setTensorAddress("x", x.data());
        ctx->setTensorAddress("y", y.data());
        ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
      }
      EXPECT_FALSE(ctx->setInputShape("x", {5, kN}));  // a refusal allocates nothing lasting
    }
  };
  runContexts(5);
  int64_t start = residentBytes();
  runContexts(100);
  int64_t grown = residentBytes() - start;
#ifndef KILN_TEST_ASAN
  EXPECT_LT(grown, int64_t{16} << 20) << "RSS grew by " << grown << " bytes over 100 contexts";
#else
  (void)grown;
#endif
}

TEST(Leak, ParserCyclesOnGoodAndBadModels) {
  SilentLogger logger;
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_value(kN);
  auto* init = g->add_initializer();
  init->set_name("b");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(kN);
  init->set_raw_data(std::string(static_cast<size_t>(kN) * 4, '\0'));
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->add_input("x");
  n->add_input("b");
  n->add_output("y");
  g->add_output()->set_name("y");
  const std::string good = m.SerializeAsString();
  const std::string bad = good.substr(0, good.size() - 7);
  auto parseBoth = [&](int count) {
    for (int i = 0; i < count; ++i) {
      auto builder = Builder::create(logger);
      auto net = builder->createNetwork();
      auto parser = OnnxParser::create(*net, logger);
      ASSERT_TRUE(parser->parse(good.data(), good.size()));
      auto net2 = builder->createNetwork();
      auto parser2 = OnnxParser::create(*net2, logger);
      ASSERT_FALSE(parser2->parse(bad.data(), bad.size()));
    }
  };
  parseBoth(10);
  int64_t start = residentBytes();
  parseBoth(500);
  int64_t grown = residentBytes() - start;
#ifndef KILN_TEST_ASAN
  EXPECT_LT(grown, int64_t{16} << 20) << "RSS grew by " << grown << " bytes over 500 parses";
#else
  (void)grown;
#endif
}

}  // namespace
}  // namespace kiln
