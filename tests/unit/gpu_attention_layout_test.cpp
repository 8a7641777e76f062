// attention-layout on the GPU, end to end through the public API: BERT-like (BSHD) and ViT-like
// (sequence-first, SBHD) attention built for the GPU at --builderOptimizationLevel 3 (attention
// fusion off for GPU builds: no FusedAttention) and 4 (one FusedAttention, run by the CUDA
// kernel), float32 and float16, each compared with a CPU engine of the same network built with
// attention-layout off (the conformance-tested CPU Attention kernel). Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kiln/kiln.h"
#include "runtime/gpu_backend.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace kiln {
namespace {

#ifdef KILN_HAVE_CUDA

using Log = testing_gpu::ErrorLog;
using testing_gpu::haveGpu;
using testing_gpu::runXY;

constexpr int64_t kB = 2, kS = 24, kH = 2, kD = 64, kE = kH * kD;
constexpr const char* kFusedType = "\"type\": \"FusedAttention\"";

using NetFn = std::function<void(NetworkDefinition&)>;

// x [B, S, E] -> three constant projections (so Q, K, V differ) -> heads split -> attention ->
// heads merge -> y. `seqFirst`: x is [S, B, E] and the heads split/merge are torchvision's.
NetFn attentionNet(bool seqFirst, std::vector<std::vector<float>>& weights) {
  return [seqFirst, &weights](NetworkDefinition& net) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-0.15f, 0.15f);
    weights.assign(3, std::vector<float>(static_cast<size_t>(kE * kE)));
    for (auto& w : weights)
      for (float& v : w) v = u(rng);
    Tensor* x = net.addInput("x", DataType::kFLOAT, seqFirst ? Dims{kS, kB, kE} : Dims{kB, kS, kE});
    std::vector<Tensor*> qkv;
    for (int i = 0; i < 3; ++i) {
      Tensor* w = net.addConstant({kE, kE}, Weights{DataType::kFLOAT, weights[i].data(), kE * kE});
      Tensor* mm[] = {x, w};
      Tensor* p = net.addOp("MatMul", mm)->getOutput(0);
      if (seqFirst) {
        Tensor* r = net.addReshape(*p, {kS, kB * kH, kD})->getOutput(0);
        Tensor* t = net.addTranspose(*r, {1, 0, 2})->getOutput(0);
        qkv.push_back(net.addReshape(*t, {kB, kH, kS, kD})->getOutput(0));
      } else {
        Tensor* r = net.addReshape(*p, {kB, kS, kH, kD})->getOutput(0);
        qkv.push_back(net.addTranspose(*r, {0, 2, 1, 3})->getOutput(0));
      }
    }
    Tensor* kt = net.addTranspose(*qkv[1], {0, 1, 3, 2})->getOutput(0);
    Tensor* qk[] = {qkv[0], kt};
    Tensor* s = net.addOp("MatMul", qk)->getOutput(0);
    float scale = 0.125f;
    Tensor* c = net.addConstant({}, Weights{DataType::kFLOAT, &scale, 1});
    Tensor* sc[] = {s, c};
    s = net.addOp("Mul", sc)->getOutput(0);
    Tensor* p = net.addSoftMax(*s, -1)->getOutput(0);
    Tensor* pv[] = {p, qkv[2]};
    Tensor* o = net.addOp("MatMul", pv)->getOutput(0);
    if (seqFirst) {
      o = net.addTranspose(*o, {2, 0, 1, 3})->getOutput(0);
      o = net.addReshape(*o, {kS * kB, kE})->getOutput(0);
    } else {
      o = net.addTranspose(*o, {0, 2, 1, 3})->getOutput(0);
      o = net.addReshape(*o, {kB, kS, kE})->getOutput(0);
    }
    o->setName("y");
    net.markOutput(*o);
  };
}

struct Built {
  std::string layers;  // Engine::getLayerInformation(true)
  std::vector<float> y;
};

// Builds `fn` for `device` (level, fp16, disabled passes) and runs it once on `xs`.
Built buildAndRun(const NetFn& fn, DeviceType device, int level, bool fp16,
                  const std::vector<std::string>& disabled, const std::vector<float>& xs) {
  Built out;
  Log log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  fn(*net);
  auto config = builder->createConfig();
  config->setDeviceType(device);
  config->setBuilderOptimizationLevel(level);
  config->setDisabledPasses(disabled);
  if (fp16) config->setFlag(BuilderFlag::kFP16);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  EXPECT_NE(plan, nullptr) << builder->getLastError();
  if (!plan) return out;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  EXPECT_NE(engine, nullptr) << log.errors;
  if (!engine) return out;
  out.layers = engine->getLayerInformation(true);
  auto ctx = engine->createExecutionContext();
  const size_t ny = static_cast<size_t>(kB * kS * kE);
  std::vector<float> ys(ny, std::nanf(""));
  if (device == DeviceType::kCPU) {
    EXPECT_TRUE(ctx->setTensorAddress("x", const_cast<float*>(xs.data())));
    EXPECT_TRUE(ctx->setTensorAddress("y", ys.data()));
    EXPECT_TRUE(ctx->executeV2()) << ctx->getLastError();
    out.y = ys;
    return out;
  }
  std::vector<float> y = runXY(*ctx, xs, ny);
  if (!y.empty()) out.y = std::move(y);
  return out;
}

// max |got - want| / max |want| (NaN anywhere: infinity).
double relError(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size() || want.empty()) return INFINITY;
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return diff / scale;
}

TEST(GpuAttentionLayout, FusedOnlyAtLevel4AndMatchesTheCpu) {
  if (!haveGpu()) GTEST_SKIP() << "no GPU: " << detail::currentGpuDevice().status().message();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> xs(static_cast<size_t>(kB * kS * kE));
  for (float& v : xs) v = u(rng);
  for (bool seqFirst : {false, true}) {
    SCOPED_TRACE(seqFirst ? "ViT-like (SBHD)" : "BERT-like (BSHD)");
    std::vector<std::vector<float>> weights;
    const NetFn fn = attentionNet(seqFirst, weights);
    const Built ref = buildAndRun(fn, DeviceType::kCPU, 3, false, {"attention-layout"}, xs);
    ASSERT_EQ(ref.y.size(), xs.size());
    EXPECT_EQ(ref.layers.find(kFusedType), std::string::npos) << ref.layers;
    // Level 3: attention is not fused on the GPU.
    const Built l3 = buildAndRun(fn, DeviceType::kGPU, 3, false, {}, xs);
    EXPECT_EQ(l3.layers.find(kFusedType), std::string::npos) << l3.layers;
    EXPECT_EQ(l3.layers.find("\"type\": \"Attention\""), std::string::npos) << l3.layers;
    EXPECT_LE(relError(l3.y, ref.y), 1e-3);
    // Level 4: one FusedAttention and no Transpose left around it.
    const Built l4 = buildAndRun(fn, DeviceType::kGPU, 4, false, {}, xs);
    EXPECT_NE(l4.layers.find(kFusedType), std::string::npos) << l4.layers;
    EXPECT_EQ(l4.layers.find("\"type\": \"Transpose\""), std::string::npos) << l4.layers;
    EXPECT_LE(relError(l4.y, ref.y), 1e-3);
    // Level 4, float16.
    const Built h4 = buildAndRun(fn, DeviceType::kGPU, 4, true, {}, xs);
    EXPECT_NE(h4.layers.find(kFusedType), std::string::npos) << h4.layers;
    EXPECT_LE(relError(h4.y, ref.y), 2e-2);
  }
}

#else

TEST(GpuAttentionLayout, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }

#endif

}  // namespace
}  // namespace kiln
