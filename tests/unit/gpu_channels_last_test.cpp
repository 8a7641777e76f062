// The channels-last pass end to end on the GPU: a small ResNet-like float16 network (7x7/2 stem
// with C = 3, MaxPool, residual block, strided 1x1 and depthwise convolutions, Clip (ReLU6),
// GlobalAveragePool, Gemm) built for the GPU at the level that enables channels-last
// (kChannelsLastMinLevel; tactic timing included), run on the device and compared with the same
// network built for the CPU (float16 too; the CPU builds never run the pass) and with a GPU build
// with the pass disabled. The layer information shows the channels_last layers. Skipped without a
// GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kiln/kiln.h"
#include "optimizer/pass_manager.h"
#include "runtime/gpu_backend.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace kiln {
namespace {

#ifdef KILN_HAVE_CUDA

using ClLog = testing_gpu::ErrorLog;
using testing_gpu::haveGpu;
using testing_gpu::runXY;

constexpr int64_t kN = 2, kOut = 10;

struct WeightStore {
  std::vector<std::vector<float>> keep;
  Weights w(size_t n, std::mt19937& rng, float scale) {
    std::uniform_real_distribution<float> u(-scale, scale);
    keep.emplace_back(n);
    for (float& v : keep.back()) v = u(rng);
    return Weights{DataType::kFLOAT, keep.back().data(), static_cast<int64_t>(n)};
  }
};

Tensor* convLayer(NetworkDefinition& net, WeightStore& ws, std::mt19937& rng, Tensor& x,
                  int64_t inC, int64_t outC, int64_t k, int64_t stride, int64_t groups = 1) {
  ConvolutionDesc d;
  d.stride = {stride, stride};
  d.padding = {k / 2, k / 2};
  d.groups = groups;
  const size_t nw = static_cast<size_t>(outC * (inC / groups) * k * k);
  const float scale = 1.5f / std::sqrt(static_cast<float>(inC / groups * k * k));
  Layer* l = net.addConvolution(x, outC, {k, k}, ws.w(nw, rng, scale),
                                ws.w(static_cast<size_t>(outC), rng, 0.1f), d);
  EXPECT_NE(l, nullptr) << net.getLastError();
  return l->getOutput(0);
}

// x [2, 3, 40, 40] -> the network -> y [2, 10].
std::unique_ptr<HostMemory> buildNet(ClLog& log, DeviceType device,
                                     const std::vector<std::string>& disabled) {
  std::mt19937 rng(17);
  WeightStore ws;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {kN, 3, 40, 40});
  Tensor* t = convLayer(*net, ws, rng, *x, 3, 32, 7, 2);  // stem: C = 3
  t = net->addActivation(*t, ActivationType::kRELU)->getOutput(0);
  PoolingDesc pd;
  pd.stride = {2, 2};
  pd.padding = {1, 1};
  Tensor* p = net->addPooling(*t, PoolingType::kMAX, {3, 3}, pd)->getOutput(0);  // [2,32,10,10]
  t = convLayer(*net, ws, rng, *p, 32, 32, 3, 1);
  t = net->addActivation(*t, ActivationType::kRELU)->getOutput(0);
  t = convLayer(*net, ws, rng, *t, 32, 32, 3, 1);
  t = net->addElementWise(*t, *p, ElementWiseOperation::kSUM)->getOutput(0);  // residual
  t = net->addActivation(*t, ActivationType::kRELU)->getOutput(0);
  t = convLayer(*net, ws, rng, *t, 32, 64, 1, 2);  // strided 1x1: [2,64,5,5]
  t = net->addActivation(*t, ActivationType::kCLIP, 0.f, 6.f)->getOutput(0);
  t = convLayer(*net, ws, rng, *t, 64, 64, 3, 1, 64);  // depthwise
  t = net->addActivation(*t, ActivationType::kCLIP, 0.f, 6.f)->getOutput(0);
  t = net->addGlobalPooling(*t, PoolingType::kAVERAGE)->getOutput(0);
  t = net->addFlatten(*t, 1)->getOutput(0);
  Tensor* y = net->addFullyConnected(*t, kOut, ws.w(static_cast<size_t>(64 * kOut), rng, 0.3f),
                                     ws.w(static_cast<size_t>(kOut), rng, 0.1f))
                  ->getOutput(0);
  y->setName("y");
  net->markOutput(*y);
  auto config = builder->createConfig();
  config->setDeviceType(device);
  config->setFlag(BuilderFlag::kFP16);
  config->setBuilderOptimizationLevel(opt::kChannelsLastMinLevel);
  config->setDisabledPasses(disabled);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  EXPECT_NE(plan, nullptr) << builder->getLastError() << log.errors;
  return plan;
}

struct Ran {
  std::vector<float> y;
  std::string layers;
};

Ran runPlan(ClLog& log, const HostMemory& plan, const std::vector<float>& xs, bool onGpu) {
  Ran r;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan.data(), plan.size());
  EXPECT_NE(engine, nullptr) << log.errors;
  if (!engine) return r;
  r.layers = engine->getLayerInformation(true);  // with the attributes
  auto ctx = engine->createExecutionContext();
  const size_t ny = static_cast<size_t>(kN * kOut);
  r.y.assign(ny, std::nanf(""));
  if (!onGpu) {
    ctx->setTensorAddress("x", const_cast<float*>(xs.data()));
    ctx->setTensorAddress("y", r.y.data());
    EXPECT_TRUE(ctx->executeV2()) << ctx->getLastError();
    return r;
  }
  r.y = runXY(*ctx, xs, ny);
  return r;
}

void expectClose(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  double scale = 0, diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " element " << i;
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  EXPECT_GT(scale, 0.0);
  // float16 activations through six layers: a few float16 ulps of the output's scale.
  EXPECT_LE(diff, 1e-2 * scale) << what;
}

TEST(GpuChannelsLast, ResNetLikeFloat16MatchesTheCpuAndTheNchwBuild) {
  if (!haveGpu()) GTEST_SKIP() << "no GPU: " << detail::currentGpuDevice().status().message();
  ClLog log;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> xs(static_cast<size_t>(kN * 3 * 40 * 40));
  for (float& v : xs) v = u(rng);

  auto cpuPlan = buildNet(log, DeviceType::kCPU, {});
  auto gpuPlan = buildNet(log, DeviceType::kGPU, {});
  auto nchwPlan = buildNet(log, DeviceType::kGPU, {"channels-last"});
  ASSERT_TRUE(cpuPlan && gpuPlan && nchwPlan);
  const Ran cpu = runPlan(log, *cpuPlan, xs, false);
  const Ran gpu = runPlan(log, *gpuPlan, xs, true);
  const Ran nchw = runPlan(log, *nchwPlan, xs, true);
  // The CPU never goes channels-last; the GPU build does (5 convolutions, 2 pools), the
  // disabled one does not.
  EXPECT_EQ(cpu.layers.find("channels_last"), std::string::npos) << cpu.layers;
  EXPECT_NE(gpu.layers.find("channels_last"), std::string::npos) << gpu.layers;
  EXPECT_EQ(nchw.layers.find("channels_last"), std::string::npos) << nchw.layers;
  expectClose(gpu.y, cpu.y, "GPU channels-last vs CPU");
  expectClose(nchw.y, cpu.y, "GPU NCHW vs CPU");
  expectClose(gpu.y, nchw.y, "GPU channels-last vs GPU NCHW");
}

#else

TEST(GpuChannelsLast, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }

#endif

}  // namespace
}  // namespace kiln
