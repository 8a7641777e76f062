// Shape tensor inputs: network inputs whose element values decide output shapes (a Reshape
// target, Reduce axes, TopK k fed by the user at run time). The builder keeps the dims that
// depend on them symbolic; the context reads the values from host memory at getTensorShape and
// at each execution, re-plans when they change, and checks them against the profile's bounds.
// Expected results are computed here by hand (reshape = same bytes, sums written out).
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln {
namespace {

class QuietLogger : public Logger {
 public:
  void log(Severity, const char*) noexcept override {}
};

struct Built {
  QuietLogger log;
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ExecutionContext> ctx;
  std::string buildError;
};

// Builds `net` (optionally with `profile`), round-trips the plan and makes a context.
void buildAndLoad(Builder& builder, NetworkDefinition& net, Built& b,
                  OptimizationProfile* profile = nullptr) {
  auto config = builder.createConfig();
  if (profile) {
    ASSERT_GE(config->addOptimizationProfile(profile), 0);
  }
  auto plan = builder.buildSerializedNetwork(net, *config);
  if (!plan) {
    b.buildError = builder.getLastError();
    return;
  }
  b.runtime = Runtime::create(b.log);
  b.engine = b.runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(b.engine, nullptr) << b.runtime->getLastError();
  b.ctx = b.engine->createExecutionContext();
  ASSERT_NE(b.ctx, nullptr);
}

std::vector<int64_t> dimsOf(const Dims& d) {
  return std::vector<int64_t>(d.d, d.d + std::max(d.nbDims, 0));
}

TEST(ShapeTensor, ReshapeTargetFromAnInputIsReadAtRunTime) {
  QuietLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, 3, 4});
  Tensor* target = net->addInput("target", DataType::kINT64, {2});
  Layer* r = net->addReshape(*x, *target);
  ASSERT_NE(r, nullptr) << net->getLastError();
  r->getOutput(0)->setName("y");
  net->markOutput(*r->getOutput(0));
  EXPECT_TRUE(target->isShapeTensor());
  EXPECT_FALSE(x->isShapeTensor());
  Built b;
  buildAndLoad(*builder, *net, b);
  ASSERT_NE(b.ctx, nullptr) << b.buildError;
  EXPECT_TRUE(b.engine->isShapeInferenceIO("target"));
  EXPECT_FALSE(b.engine->isShapeInferenceIO("x"));
  EXPECT_FALSE(b.engine->isShapeInferenceIO("y"));
  // Unknown until the values are given: -1 dims, like a dynamic shape.
  Dims unknown = b.engine->getTensorShape("y");
  ASSERT_EQ(unknown.nbDims, 2);
  EXPECT_EQ(unknown.d[0], -1);

  std::vector<float> in(24);
  for (size_t i = 0; i < in.size(); ++i) in[i] = 0.25f * static_cast<float>(i) - 3.f;
  std::vector<float> out(24, -999.f);
  ASSERT_TRUE(b.ctx->setTensorAddress("x", in.data()));
  ASSERT_TRUE(b.ctx->setTensorAddress("y", out.data()));
  // Without the values: a clear error, not a guess.
  EXPECT_FALSE(b.ctx->executeV2());
  EXPECT_NE(b.ctx->getLastError().find("shape tensor"), std::string::npos) << b.ctx->getLastError();

  std::array<int64_t, 2> shape{4, 6};
  ASSERT_TRUE(b.ctx->setTensorAddress("target", shape.data()));
  EXPECT_EQ(dimsOf(b.ctx->getTensorShape("y")), (std::vector<int64_t>{4, 6}));
  ASSERT_TRUE(b.ctx->executeV2()) << b.ctx->getLastError();
  EXPECT_EQ(out, in);

  // New values in the same host memory: read again at the next execution.
  shape = {8, -1};
  std::fill(out.begin(), out.end(), -999.f);
  ASSERT_TRUE(b.ctx->executeV2()) << b.ctx->getLastError();
  EXPECT_EQ(dimsOf(b.ctx->getTensorShape("y")), (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(out, in);

  // Values the op refuses: the op's own check, at run time.
  shape = {5, 5};
  EXPECT_FALSE(b.ctx->executeV2());
  EXPECT_NE(b.ctx->getLastError().find("Reshape"), std::string::npos) << b.ctx->getLastError();
}

TEST(ShapeTensor, ReduceAxesAndTopKFromInputs) {
  QuietLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, 3});
  Tensor* axes = net->addInput("axes", DataType::kINT64, {1});
  Tensor* k = net->addInput("k", DataType::kINT64, {1});
  std::array<Tensor*, 2> reduceIn{x, axes};
  Layer* sum = net->addOp("ReduceSum", reduceIn, {{"keepdims", int64_t{0}}});
  ASSERT_NE(sum, nullptr) << net->getLastError();
  sum->getOutput(0)->setName("sum");
  net->markOutput(*sum->getOutput(0));
  std::array<Tensor*, 2> topkIn{x, k};
  Layer* topk = net->addOp("TopK", topkIn, {{"axis", int64_t{1}}}, 2);
  ASSERT_NE(topk, nullptr) << net->getLastError();
  topk->getOutput(0)->setName("top");
  topk->getOutput(1)->setName("idx");
  net->markOutput(*topk->getOutput(0));
  net->markOutput(*topk->getOutput(1));
  EXPECT_TRUE(axes->isShapeTensor());
  EXPECT_TRUE(k->isShapeTensor());
  Built b;
  buildAndLoad(*builder, *net, b);
  ASSERT_NE(b.ctx, nullptr) << b.buildError;

  const std::vector<float> in = {1.f, 5.f, 2.f, -4.f, 0.5f, 3.f};
  std::vector<float> sum3(3, -999.f), top(6, -999.f);
  std::vector<int64_t> idx(6, -7);
  std::array<int64_t, 1> ax{0}, kk{2};
  b.ctx->setTensorAddress("x", const_cast<float*>(in.data()));
  b.ctx->setTensorAddress("axes", ax.data());
  b.ctx->setTensorAddress("k", kk.data());
  b.ctx->setTensorAddress("sum", sum3.data());
  b.ctx->setTensorAddress("top", top.data());
  b.ctx->setTensorAddress("idx", idx.data());
  EXPECT_EQ(dimsOf(b.ctx->getTensorShape("sum")), (std::vector<int64_t>{3}));
  EXPECT_EQ(dimsOf(b.ctx->getTensorShape("top")), (std::vector<int64_t>{2, 2}));
  ASSERT_TRUE(b.ctx->executeV2()) << b.ctx->getLastError();
  EXPECT_EQ(sum3, (std::vector<float>{-3.f, 5.5f, 5.f}));
  EXPECT_EQ(std::vector<float>(top.begin(), top.begin() + 4),
            (std::vector<float>{5.f, 2.f, 3.f, 0.5f}));
  EXPECT_EQ(std::vector<int64_t>(idx.begin(), idx.begin() + 4), (std::vector<int64_t>{1, 2, 2, 1}));

  // Other axis and k: other shapes, same engine and context.
  ax = {-1};
  kk = {1};
  std::vector<float> sum2(2, -999.f);
  b.ctx->setTensorAddress("sum", sum2.data());
  EXPECT_EQ(dimsOf(b.ctx->getTensorShape("sum")), (std::vector<int64_t>{2}));
  EXPECT_EQ(dimsOf(b.ctx->getTensorShape("idx")), (std::vector<int64_t>{2, 1}));
  ASSERT_TRUE(b.ctx->executeV2()) << b.ctx->getLastError();
  EXPECT_EQ(sum2, (std::vector<float>{8.f, -0.5f}));
  EXPECT_EQ(std::vector<float>(top.begin(), top.begin() + 2), (std::vector<float>{5.f, 3.f}));
  EXPECT_EQ(std::vector<int64_t>(idx.begin(), idx.begin() + 2), (std::vector<int64_t>{1, 2}));
}

TEST(ShapeTensor, ProfileValueBoundsAreStoredAndEnforced) {
  QuietLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {4, 6});
  Tensor* target = net->addInput("target", DataType::kINT32, {2});
  Layer* r = net->addReshape(*x, *target);
  ASSERT_NE(r, nullptr) << net->getLastError();
  r->getOutput(0)->setName("y");
  net->markOutput(*r->getOutput(0));

  OptimizationProfile* p = builder->createOptimizationProfile();
  const int64_t mn[2] = {1, 1}, opt[2] = {4, 6}, mx[2] = {24, 24};
  ASSERT_TRUE(p->setShapeValues("target", OptProfileSelector::kMIN, mn, 2));
  ASSERT_TRUE(p->setShapeValues("target", OptProfileSelector::kOPT, opt, 2));
  ASSERT_TRUE(p->setShapeValues("target", OptProfileSelector::kMAX, mx, 2));
  EXPECT_FALSE(p->setShapeValues("target", OptProfileSelector::kMAX, mx, 1));  // count changed
  Built b;
  buildAndLoad(*builder, *net, b, p);
  ASSERT_NE(b.ctx, nullptr) << b.buildError;
  EXPECT_EQ(b.engine->getProfileTensorValues("target", 0, OptProfileSelector::kMIN),
            (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(b.engine->getProfileTensorValues("target", 0, OptProfileSelector::kMAX),
            (std::vector<int64_t>{24, 24}));
  EXPECT_TRUE(b.engine->getProfileTensorValues("x", 0, OptProfileSelector::kMAX).empty());

  std::vector<float> in(24, 1.5f), out(24, 0.f);
  std::array<int32_t, 2> shape{2, 12};
  b.ctx->setTensorAddress("x", in.data());
  b.ctx->setTensorAddress("y", out.data());
  b.ctx->setTensorAddress("target", shape.data());
  ASSERT_TRUE(b.ctx->executeV2()) << b.ctx->getLastError();
  EXPECT_EQ(dimsOf(b.ctx->getTensorShape("y")), (std::vector<int64_t>{2, 12}));
  shape = {-1, 24};  // element 0 below the profile's min 1
  EXPECT_FALSE(b.ctx->executeV2());
  EXPECT_NE(b.ctx->getLastError().find("outside optimization profile"), std::string::npos)
      << b.ctx->getLastError();
}

TEST(ShapeTensor, ValuesForOrdinaryInputsOrBadBoundsAreRefusedAtBuild) {
  QuietLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {4, 6});
  Tensor* target = net->addInput("target", DataType::kINT64, {2});
  Layer* r = net->addReshape(*x, *target);
  ASSERT_NE(r, nullptr);
  net->markOutput(*r->getOutput(0));
  {
    OptimizationProfile* p = builder->createOptimizationProfile();
    const int64_t v[1] = {3};
    p->setShapeValues("x", OptProfileSelector::kMIN, v, 1);
    p->setShapeValues("x", OptProfileSelector::kOPT, v, 1);
    p->setShapeValues("x", OptProfileSelector::kMAX, v, 1);
    Built b;
    buildAndLoad(*builder, *net, b, p);
    EXPECT_EQ(b.ctx, nullptr);
    EXPECT_NE(b.buildError.find("not a shape tensor input"), std::string::npos) << b.buildError;
  }
  {
    OptimizationProfile* p = builder->createOptimizationProfile();
    const int64_t three[3] = {1, 2, 3};
    p->setShapeValues("target", OptProfileSelector::kMIN, three, 3);
    p->setShapeValues("target", OptProfileSelector::kOPT, three, 3);
    p->setShapeValues("target", OptProfileSelector::kMAX, three, 3);
    Built b;
    buildAndLoad(*builder, *net, b, p);
    EXPECT_EQ(b.ctx, nullptr);
    EXPECT_NE(b.buildError.find("has 2 elements"), std::string::npos) << b.buildError;
  }
}

// A shape tensor must be small and of fixed shape: a dynamic-shape input read as a Reshape
// target is refused when the layer is added, naming the input.
TEST(ShapeTensor, DynamicOrBoolInputsCannotBeShapeTensors) {
  QuietLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {4, 6});
  Tensor* target = net->addInput("target", DataType::kINT64, {-1});
  Layer* r = net->addReshape(*x, *target);
  EXPECT_EQ(r, nullptr);
  EXPECT_NE(net->getLastError().find("target"), std::string::npos) << net->getLastError();
  EXPECT_FALSE(target->isShapeTensor());
}

}  // namespace
}  // namespace kiln
