// kiln::Profiler on the CPU backend: each run reports every layer once, in execution order,
// with a non-negative time; no reports once the profiler is removed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln {
namespace {

class QuietLogger : public Logger {
 public:
  void log(Severity, const char*) noexcept override {}
};

class Recorder : public Profiler {
 public:
  void reportLayerTime(const char* name, float ms) noexcept override {
    names.emplace_back(name);
    times.push_back(ms);
  }
  std::vector<std::string> names;
  std::vector<float> times;
};

TEST(Profiler, ReportsEveryLayerOncePerRunInOrder) {
  QuietLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, 8});
  Layer* a = net->addActivation(*x, ActivationType::kRELU);
  a->setName("first_relu");
  Layer* b = net->addElementWise(*a->getOutput(0), *x, ElementWiseOperation::kSUM);
  b->setName("the_sum");
  Layer* c = net->addActivation(*b->getOutput(0), ActivationType::kTANH);
  c->setName("last_tanh");
  net->markOutput(*c->getOutput(0));
  auto config = builder->createConfig();
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr);
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr);
  auto ctx = engine->createExecutionContext();
  std::vector<float> in(16, 0.5f), out(16);
  ctx->setTensorAddress("x", in.data());
  ctx->setTensorAddress(net->getOutput(0)->getName(), out.data());
  Recorder rec;
  EXPECT_EQ(ctx->getProfiler(), nullptr);
  ctx->setProfiler(&rec);
  EXPECT_EQ(ctx->getProfiler(), &rec);
  ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  ASSERT_TRUE(ctx->enqueueV3(nullptr)) << ctx->getLastError();
  const std::vector<std::string> once = {"first_relu", "the_sum", "last_tanh"};
  std::vector<std::string> twice = once;
  twice.insert(twice.end(), once.begin(), once.end());
  EXPECT_EQ(rec.names, twice);
  for (float t : rec.times) EXPECT_GE(t, 0.f);
  ctx->setProfiler(nullptr);
  ASSERT_TRUE(ctx->executeV2());
  EXPECT_EQ(rec.names.size(), 6u);
}

}  // namespace
}  // namespace kiln
