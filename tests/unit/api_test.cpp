// End-to-end tests of the public C++ API: network built by hand -> plan -> engine -> context.
// References are computed in this file with plain double-precision loops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kiln/kiln.h"

namespace kiln {
namespace {

class CapturingLogger : public Logger {
 public:
  void log(Severity s, const char* msg) noexcept override {
    if (s <= Severity::kWARNING) messages.emplace_back(msg);
  }
  std::string all() const {
    std::string out;
    for (const auto& m : messages) out += m + "\n";
    return out;
  }
  std::vector<std::string> messages;
};

std::vector<float> randomVector(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// y[n,o,i,j] = relu(b[o] + sum_c,ki,kj x[n,c,i+ki-1,j+kj-1] * w[o,c,ki,kj]) (3x3, pad 1),
// then global average pool over (i,j), then softmax over o.
std::vector<double> reference(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w,
                              const std::vector<float>& wt, const std::vector<float>& b, int64_t o) {
  std::vector<double> out(static_cast<size_t>(n * o));
  for (int64_t in = 0; in < n; ++in) {
    for (int64_t io = 0; io < o; ++io) {
      double pooled = 0;
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          double acc = b[static_cast<size_t>(io)];
          for (int64_t ic = 0; ic < c; ++ic)
            for (int64_t ki = 0; ki < 3; ++ki)
              for (int64_t kj = 0; kj < 3; ++kj) {
                int64_t y = i + ki - 1, xx = j + kj - 1;
                if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                acc += static_cast<double>(x[static_cast<size_t>(((in * c + ic) * h + y) * w + xx)]) *
                       wt[static_cast<size_t>(((io * c + ic) * 3 + ki) * 3 + kj)];
              }
          pooled += std::max(acc, 0.0);
        }
      out[static_cast<size_t>(in * o + io)] = pooled / static_cast<double>(h * w);
    }
    double mx = -1e300, sum = 0;
    for (int64_t io = 0; io < o; ++io) mx = std::max(mx, out[static_cast<size_t>(in * o + io)]);
    for (int64_t io = 0; io < o; ++io) sum += std::exp(out[static_cast<size_t>(in * o + io)] - mx);
    for (int64_t io = 0; io < o; ++io)
      out[static_cast<size_t>(in * o + io)] = std::exp(out[static_cast<size_t>(in * o + io)] - mx) / sum;
  }
  return out;
}

struct SmallNet {
  static constexpr int64_t kC = 3, kH = 6, kW = 5, kO = 4;
  std::vector<float> weights, bias;
  std::unique_ptr<HostMemory> plan;
};

SmallNet buildSmallNet(CapturingLogger& logger, std::mt19937& rng) {
  SmallNet s;
  s.weights = randomVector(SmallNet::kO * SmallNet::kC * 9, rng, 0.5f);
  s.bias = randomVector(SmallNet::kO, rng, 0.1f);
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {-1, SmallNet::kC, SmallNet::kH, SmallNet::kW}, {"batch", "", "", ""});
  EXPECT_NE(x, nullptr);
  ConvolutionDesc cd;
  cd.padding = {1, 1};
  Layer* conv = net->addConvolution(*x, SmallNet::kO, {3, 3}, {DataType::kFLOAT, s.weights.data(), static_cast<int64_t>(s.weights.size())},
                                    {DataType::kFLOAT, s.bias.data(), SmallNet::kO}, cd);
  EXPECT_NE(conv, nullptr) << logger.all();
  if (!conv) return s;
  conv->setName("conv");
  Layer* relu = net->addActivation(*conv->getOutput(0), ActivationType::kRELU);
  Layer* pool = net->addGlobalPooling(*relu->getOutput(0), PoolingType::kAVERAGE);
  Layer* flat = net->addFlatten(*pool->getOutput(0), 1);
  Layer* sm = net->addSoftMax(*flat->getOutput(0), -1);
  EXPECT_NE(sm, nullptr) << logger.all();
  if (!sm) return s;
  sm->getOutput(0)->setName("probs");
  net->markOutput(*sm->getOutput(0));
  EXPECT_EQ(net->getNbLayers(), 5);
  EXPECT_STREQ(net->getLayer(0)->getType(), "Conv");
  EXPECT_EQ(sm->getOutput(0)->getShapeString(), "[batch,4]");

  auto config = builder->createConfig();
  OptimizationProfile* p = builder->createOptimizationProfile();
  EXPECT_TRUE(p->setShape("x", {1, SmallNet::kC, SmallNet::kH, SmallNet::kW}, {2, SmallNet::kC, SmallNet::kH, SmallNet::kW},
                          {4, SmallNet::kC, SmallNet::kH, SmallNet::kW}));
  EXPECT_EQ(config->addOptimizationProfile(p), 0);
  s.plan = builder->buildSerializedNetwork(*net, *config);
  EXPECT_NE(s.plan, nullptr) << builder->getLastError();
  return s;
}

TEST(Api, HandBuiltNetworkRunsAndMatchesReference) {
  CapturingLogger logger;
  std::mt19937 rng(42);
  SmallNet s = buildSmallNet(logger, rng);
  ASSERT_NE(s.plan, nullptr) << logger.all();
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(s.plan->data(), s.plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  ASSERT_EQ(engine->getNbIOTensors(), 2);
  EXPECT_STREQ(engine->getIOTensorName(0), "x");
  EXPECT_EQ(engine->getTensorIOMode("x"), TensorIOMode::kINPUT);
  EXPECT_EQ(engine->getTensorIOMode("probs"), TensorIOMode::kOUTPUT);
  EXPECT_EQ(engine->getTensorShape("x"), (Dims{-1, 3, 6, 5}));
  EXPECT_EQ(engine->getTensorShape("probs"), (Dims{-1, 4}));
  EXPECT_EQ(engine->getProfileShape("x", 0, OptProfileSelector::kMAX), (Dims{4, 3, 6, 5}));

  auto ctx = engine->createExecutionContext();
  for (int64_t batch : {1, 3, 2}) {
    std::vector<float> x = randomVector(static_cast<size_t>(batch * SmallNet::kC * SmallNet::kH * SmallNet::kW), rng);
    std::vector<float> y(static_cast<size_t>(batch * SmallNet::kO), std::nanf(""));
    ASSERT_TRUE(ctx->setInputShape("x", {batch, SmallNet::kC, SmallNet::kH, SmallNet::kW})) << ctx->getLastError();
    EXPECT_EQ(ctx->getTensorShape("probs"), (Dims{batch, SmallNet::kO}));
    ASSERT_TRUE(ctx->setTensorAddress("x", x.data()));
    ASSERT_TRUE(ctx->setTensorAddress("probs", y.data()));
    ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
    auto ref = reference(x, batch, SmallNet::kC, SmallNet::kH, SmallNet::kW, s.weights, s.bias, SmallNet::kO);
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-6 + 1e-5 * std::fabs(ref[i])) << i;
  }
}

TEST(Api, PlanRoundTripGivesIdenticalOutputs) {
  CapturingLogger logger;
  std::mt19937 rng(7);
  SmallNet s = buildSmallNet(logger, rng);
  ASSERT_NE(s.plan, nullptr) << logger.all();
  auto runtime = Runtime::create(logger);
  auto e1 = runtime->deserializeEngine(s.plan->data(), s.plan->size());
  ASSERT_NE(e1, nullptr) << runtime->getLastError();
  auto again = e1->serialize();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->bytes(), s.plan->bytes());
  auto e2 = runtime->deserializeEngine(again->data(), again->size());
  ASSERT_NE(e2, nullptr);
  std::vector<float> x = randomVector(2 * 3 * 6 * 5, rng);
  std::vector<float> y1(8, -1.f), y2(8, -2.f);
  for (auto [engine, y] : {std::pair{e1.get(), &y1}, std::pair{e2.get(), &y2}}) {
    auto ctx = engine->createExecutionContext();
    ASSERT_TRUE(ctx->setInputShape("x", {2, 3, 6, 5}));
    ctx->setTensorAddress("x", x.data());
    ctx->setTensorAddress("probs", y->data());
    ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  }
  EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)));
}

TEST(Api, ShapeOutsideProfileIsRefused) {
  CapturingLogger logger;
  std::mt19937 rng(1);
  SmallNet s = buildSmallNet(logger, rng);
  ASSERT_NE(s.plan, nullptr) << logger.all();
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(s.plan->data(), s.plan->size());
  ASSERT_NE(engine, nullptr);
  auto ctx = engine->createExecutionContext();
  EXPECT_FALSE(ctx->setInputShape("x", {5, 3, 6, 5}));
  EXPECT_NE(ctx->getLastError().find("outside optimization profile 0"), std::string::npos) << ctx->getLastError();
  EXPECT_FALSE(ctx->setInputShape("x", {2, 4, 6, 5}));
  EXPECT_NE(ctx->getLastError().find("fixed to 3"), std::string::npos) << ctx->getLastError();
  EXPECT_FALSE(ctx->setInputShape("x", {2, 3, 6}));
  EXPECT_NE(ctx->getLastError().find("expected rank 4"), std::string::npos) << ctx->getLastError();
  EXPECT_FALSE(ctx->setInputShape("nope", {2, 3, 6, 5}));
  EXPECT_NE(ctx->getLastError().find("not an input"), std::string::npos);
  // Unbound tensors.
  ASSERT_TRUE(ctx->setInputShape("x", {2, 3, 6, 5}));
  EXPECT_FALSE(ctx->executeV2());
  EXPECT_NE(ctx->getLastError().find("no address"), std::string::npos) << ctx->getLastError();
}

TEST(Api, DynamicInputWithoutProfileFailsToBuild) {
  CapturingLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {-1, 4});
  Layer* r = net->addActivation(*x, ActivationType::kRELU);
  ASSERT_NE(r, nullptr) << logger.all();
  net->markOutput(*r->getOutput(0));
  auto config = builder->createConfig();
  EXPECT_EQ(builder->buildSerializedNetwork(*net, *config), nullptr);
  EXPECT_NE(builder->getLastError().find("no optimization profile"), std::string::npos) << builder->getLastError();
}

TEST(Api, LayerErrorsNameTheLayer) {
  CapturingLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  Tensor* a = net->addInput("a", DataType::kFLOAT, {2, 3});
  Tensor* b = net->addInput("b", DataType::kFLOAT, {4, 5});
  EXPECT_EQ(net->addElementWise(*a, *b, ElementWiseOperation::kSUM), nullptr);
  EXPECT_NE(net->getLastError().find("Add"), std::string::npos) << net->getLastError();
  EXPECT_NE(net->getLastError().find("broadcast"), std::string::npos) << net->getLastError();
  EXPECT_EQ(net->addInput("a", DataType::kFLOAT, {1}), nullptr);
  EXPECT_NE(net->getLastError().find("already exists"), std::string::npos);
  EXPECT_EQ(net->addOp("NoSuchOp", {}), nullptr);
  EXPECT_NE(net->getLastError().find("unknown op type 'NoSuchOp'"), std::string::npos);
  // No outputs marked.
  auto config = builder->createConfig();
  EXPECT_EQ(builder->buildSerializedNetwork(*net, *config), nullptr);
  EXPECT_NE(builder->getLastError().find("no outputs"), std::string::npos) << builder->getLastError();
}

TEST(Api, ConstantFoldingRemovesConstantSubgraphs) {
  CapturingLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, 3});
  std::vector<float> c1(6), c2(6);
  for (int i = 0; i < 6; ++i) {
    c1[static_cast<size_t>(i)] = static_cast<float>(i);
    c2[static_cast<size_t>(i)] = 0.5f * static_cast<float>(i) - 1.f;
  }
  Tensor* a = net->addConstant({2, 3}, {DataType::kFLOAT, c1.data(), 6});
  Tensor* b = net->addConstant({2, 3}, {DataType::kFLOAT, c2.data(), 6});
  Layer* sum = net->addElementWise(*a, *b, ElementWiseOperation::kPROD);  // folded
  ASSERT_NE(sum, nullptr) << logger.all();
  Layer* add = net->addElementWise(*x, *sum->getOutput(0), ElementWiseOperation::kSUM);
  Layer* shape = net->addShape(*x);                          // folded: x is static
  Layer* rs = net->addReshape(*add->getOutput(0), *shape->getOutput(0));  // no-op: removed
  ASSERT_NE(rs, nullptr) << logger.all();
  rs->getOutput(0)->setName("y");
  net->markOutput(*rs->getOutput(0));
  auto config = builder->createConfig();
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << builder->getLastError();
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  EXPECT_EQ(engine->getNbLayers(), 1) << engine->getLayerInformation(false);
  std::vector<float> xv = {1, 2, 3, 4, 5, 6}, y(6, std::nanf(""));
  auto ctx = engine->createExecutionContext();
  ctx->setTensorAddress("x", xv.data());
  ctx->setTensorAddress("y", y.data());
  ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  for (int i = 0; i < 6; ++i)
    EXPECT_FLOAT_EQ(y[static_cast<size_t>(i)], xv[static_cast<size_t>(i)] + c1[static_cast<size_t>(i)] * c2[static_cast<size_t>(i)]);
}

TEST(Api, BadPlanBytesAreRefused) {
  CapturingLogger logger;
  auto runtime = Runtime::create(logger);
  std::vector<uint8_t> junk(100, 0x42);
  EXPECT_EQ(runtime->deserializeEngine(junk.data(), junk.size()), nullptr);
  EXPECT_FALSE(runtime->getLastError().empty());
  EXPECT_EQ(runtime->deserializeEngine(nullptr, 0), nullptr);
}

}  // namespace
}  // namespace kiln
