// BuilderConfig::setProfilingVerbosity (trtexec --profilingVerbosity): what the plan keeps about
// its layers, Engine::getLayerInformation in each mode, the plan round trip, and
// ExecutionContext::setNvtxVerbosity's rules (clamped to the engine's, refused for kNONE,
// $KILN_NVTX). Values are checked against hand-computed results.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln {
namespace {

class QuietLogger : public Logger {
 public:
  void log(Severity, const char*) noexcept override {}
};

// y = relu(x * x) - x over float32[2, 3]: layers "square", "act", "sub".
std::unique_ptr<Engine> buildEngine(Runtime& runtime, Logger& logger,
                                    std::optional<ProfilingVerbosity> verbosity) {
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, 3});
  Layer* sq = net->addElementWise(*x, *x, ElementWiseOperation::kPROD);
  sq->setName("square");
  Layer* act = net->addActivation(*sq->getOutput(0), ActivationType::kRELU);
  act->setName("act");
  Layer* sub = net->addElementWise(*act->getOutput(0), *x, ElementWiseOperation::kSUB);
  sub->setName("sub");
  sub->getOutput(0)->setName("y");
  net->markOutput(*sub->getOutput(0));
  auto config = builder->createConfig();
  EXPECT_EQ(config->getProfilingVerbosity(), ProfilingVerbosity::kDETAILED);  // the default
  if (verbosity) config->setProfilingVerbosity(*verbosity);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  if (!plan) {
    ADD_FAILURE() << builder->getLastError();
    return nullptr;
  }
  return runtime.deserializeEngine(plan->data(), plan->size());
}

// Runs the engine once and checks y = relu(x*x) - x element by element.
void expectRuns(Engine& engine) {
  std::vector<float> x = {-2, -0.5f, 0, 0.5f, 1, 3}, y(6, std::nanf(""));
  auto ctx = engine.createExecutionContext();
  ASSERT_NE(ctx, nullptr);
  ctx->setTensorAddress("x", x.data());
  ctx->setTensorAddress("y", y.data());
  ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  const float expected[6] = {6, 0.75f, 0, -0.25f, 0, 6};
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(y[i], expected[i]) << i;
}

TEST(ProfilingVerbosity, Names) {
  EXPECT_STREQ(profilingVerbosityName(ProfilingVerbosity::kLAYER_NAMES_ONLY), "layer_names_only");
  EXPECT_STREQ(profilingVerbosityName(ProfilingVerbosity::kNONE), "none");
  EXPECT_STREQ(profilingVerbosityName(ProfilingVerbosity::kDETAILED), "detailed");
}

TEST(ProfilingVerbosity, DetailedIsTheDefault) {
  QuietLogger logger;
  auto runtime = Runtime::create(logger);
  auto engine = buildEngine(*runtime, logger, std::nullopt);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->getProfilingVerbosity(), ProfilingVerbosity::kDETAILED);
  const std::string json = engine->getLayerInformation(true);
  EXPECT_NE(json.find("\"name\": \"square\", \"type\": \"Mul\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"shape\": \"[2,3]\""), std::string::npos) << json;
  expectRuns(*engine);
}

TEST(ProfilingVerbosity, LayerNamesOnly) {
  QuietLogger logger;
  auto runtime = Runtime::create(logger);
  auto engine = buildEngine(*runtime, logger, ProfilingVerbosity::kLAYER_NAMES_ONLY);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->getProfilingVerbosity(), ProfilingVerbosity::kLAYER_NAMES_ONLY);
  EXPECT_EQ(engine->getLayerInformation(false), "square\nact\nsub\n");
  EXPECT_EQ(engine->getLayerInformation(true),
            "{\"profilingVerbosity\": \"layer_names_only\", \"layers\": [\n  \"square\",\n  "
            "\"act\",\n  \"sub\"\n]}\n");
  expectRuns(*engine);
}

TEST(ProfilingVerbosity, NoneHidesLayersAndSurvivesSerialize) {
  QuietLogger logger;
  auto runtime = Runtime::create(logger);
  auto engine = buildEngine(*runtime, logger, ProfilingVerbosity::kNONE);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->getProfilingVerbosity(), ProfilingVerbosity::kNONE);
  EXPECT_EQ(engine->getLayerInformation(true),
            "{\"profilingVerbosity\": \"none\", \"layers\": null}\n");
  const std::string text = engine->getLayerInformation(false);
  EXPECT_NE(text.find("no layer information"), std::string::npos) << text;
  EXPECT_EQ(text.find("square"), std::string::npos) << text;
  EXPECT_EQ(engine->getNbLayers(), 3);  // the layers are there; only their description is not
  expectRuns(*engine);
  // Engine::serialize writes the verbosity back.
  auto again = engine->serialize();
  ASSERT_NE(again, nullptr);
  auto reloaded = runtime->deserializeEngine(again->data(), again->size());
  ASSERT_NE(reloaded, nullptr) << runtime->getLastError();
  EXPECT_EQ(reloaded->getProfilingVerbosity(), ProfilingVerbosity::kNONE);
}

TEST(ProfilingVerbosity, NvtxVerbosityRules) {
  QuietLogger logger;
  auto runtime = Runtime::create(logger);
  auto detailed = buildEngine(*runtime, logger, ProfilingVerbosity::kDETAILED);
  auto names = buildEngine(*runtime, logger, ProfilingVerbosity::kLAYER_NAMES_ONLY);
  auto none = buildEngine(*runtime, logger, ProfilingVerbosity::kNONE);
  ASSERT_TRUE(detailed && names && none);
  ::unsetenv("KILN_NVTX");
  auto c1 = detailed->createExecutionContext();
  EXPECT_EQ(c1->getNvtxVerbosity(), ProfilingVerbosity::kNONE);  // off by default
  EXPECT_TRUE(c1->setNvtxVerbosity(ProfilingVerbosity::kDETAILED));
  EXPECT_EQ(c1->getNvtxVerbosity(), ProfilingVerbosity::kDETAILED);
  auto c2 = names->createExecutionContext();
  EXPECT_TRUE(c2->setNvtxVerbosity(ProfilingVerbosity::kDETAILED));
  EXPECT_EQ(c2->getNvtxVerbosity(), ProfilingVerbosity::kLAYER_NAMES_ONLY);  // lowered
  auto c3 = none->createExecutionContext();
  EXPECT_FALSE(c3->setNvtxVerbosity(ProfilingVerbosity::kLAYER_NAMES_ONLY));
  EXPECT_NE(c3->getLastError().find("profiling verbosity none"), std::string::npos)
      << c3->getLastError();
  EXPECT_EQ(c3->getNvtxVerbosity(), ProfilingVerbosity::kNONE);
  EXPECT_TRUE(c3->setNvtxVerbosity(ProfilingVerbosity::kNONE));
  // $KILN_NVTX turns them on at the engine's verbosity for new contexts; "0" does not.
  ::setenv("KILN_NVTX", "1", 1);
  EXPECT_EQ(names->createExecutionContext()->getNvtxVerbosity(),
            ProfilingVerbosity::kLAYER_NAMES_ONLY);
  EXPECT_EQ(none->createExecutionContext()->getNvtxVerbosity(), ProfilingVerbosity::kNONE);
  ::setenv("KILN_NVTX", "0", 1);
  EXPECT_EQ(detailed->createExecutionContext()->getNvtxVerbosity(), ProfilingVerbosity::kNONE);
  ::unsetenv("KILN_NVTX");
  expectRuns(*detailed);
}

}  // namespace
}  // namespace kiln
