// GPU runtime tests through the public API: plans built for the GPU, device I/O, asynchronous
// enqueue on user streams, CUDA-graph capture of enqueueV3 (which proves enqueue neither
// allocates nor synchronizes), dynamic shapes, many contexts on many threads, and the memory
// plan's reuse. References are computed here in double precision. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "kiln/kiln.h"
#include "runtime/gpu_backend.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace kiln {
namespace {

#ifdef KILN_HAVE_CUDA

class Log : public Logger {
 public:
  void log(Severity s, const char* msg) noexcept override {
    std::lock_guard<std::mutex> lock(mMutex);
    messages.emplace_back(msg);
    if (s <= Severity::kERROR) errors += std::string(msg) + "\n";
  }
  std::vector<std::string> messages;
  std::string errors;

 private:
  std::mutex mMutex;
};

bool haveGpu() {
  static const bool have = detail::currentGpuDevice().isOk();
  return have;
}
#define REQUIRE_GPU() \
  if (!haveGpu()) GTEST_SKIP() << "no GPU: " << detail::currentGpuDevice().status().message()

#define CUDA_OK(expr) ASSERT_EQ(cudaSuccess, (expr)) << #expr

// y = relu(x * a + b) repeated `depth` times with a[i], b[i] per stage (vectors of length c,
// broadcast over the rows), then the output. Long enough to exercise buffer reuse.
struct Chain {
  int64_t c = 16;
  int depth = 6;
  std::vector<std::vector<float>> a, b;
  std::unique_ptr<HostMemory> plan;

  std::vector<double> reference(const std::vector<float>& x) const {
    std::vector<double> y(x.begin(), x.end());
    for (int d = 0; d < depth; ++d)
      for (size_t i = 0; i < y.size(); ++i) {
        size_t k = i % static_cast<size_t>(c);
        double v = static_cast<double>(static_cast<float>(y[i]) * a[static_cast<size_t>(d)][k]) +
                   b[static_cast<size_t>(d)][k];
        y[i] = std::max(0.0, static_cast<double>(static_cast<float>(v)));
      }
    return y;
  }
};

Chain buildChain(Log& log, bool dynamic) {
  Chain ch;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {dynamic ? -1 : 4, ch.c}, {"rows", ""});
  Tensor* cur = x;
  for (int d = 0; d < ch.depth; ++d) {
    ch.a.emplace_back(static_cast<size_t>(ch.c));
    ch.b.emplace_back(static_cast<size_t>(ch.c));
    for (auto& v : ch.a.back()) v = u(rng) * 2.f;
    for (auto& v : ch.b.back()) v = u(rng);
    Tensor* a = net->addConstant({1, ch.c}, Weights{DataType::kFLOAT, ch.a.back().data(), ch.c});
    Tensor* b = net->addConstant({1, ch.c}, Weights{DataType::kFLOAT, ch.b.back().data(), ch.c});
    Tensor* m = net->addElementWise(*cur, *a, ElementWiseOperation::kPROD)->getOutput(0);
    Tensor* s = net->addElementWise(*m, *b, ElementWiseOperation::kSUM)->getOutput(0);
    cur = net->addActivation(*s, ActivationType::kRELU)->getOutput(0);
  }
  cur->setName("y");
  net->markOutput(*cur);
  auto config = builder->createConfig();
  config->setDeviceType(DeviceType::kGPU);
  if (dynamic) {
    OptimizationProfile* p = builder->createOptimizationProfile();
    p->setShape("x", {1, ch.c}, {8, ch.c}, {64, ch.c});
    config->addOptimizationProfile(p);
  }
  ch.plan = builder->buildSerializedNetwork(*net, *config);
  return ch;
}

std::vector<float> randomInput(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> v(n);
  for (auto& e : v) e = u(rng);
  return v;
}

void expectNear(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 * std::max(1.0, std::fabs(want[i]))) << "element " << i;
}

TEST(GpuRuntime, ChainOnUserStreamAndCudaGraph) {
  REQUIRE_GPU();
  Log log;
  Chain ch = buildChain(log, false);
  ASSERT_NE(ch.plan, nullptr) << log.errors;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(ch.plan->data(), ch.plan->size());
  ASSERT_NE(engine, nullptr) << log.errors;
  EXPECT_EQ(engine->getDeviceType(), DeviceType::kGPU);
  auto ctx = engine->createExecutionContext();
  ASSERT_NE(ctx, nullptr) << log.errors;
  const size_t n = static_cast<size_t>(4 * ch.c);
  float *dx = nullptr, *dy = nullptr;
  CUDA_OK(cudaMalloc(&dx, n * sizeof(float)));
  CUDA_OK(cudaMalloc(&dy, n * sizeof(float)));
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  ASSERT_TRUE(ctx->setTensorAddress("x", dx));
  ASSERT_TRUE(ctx->setTensorAddress("y", dy));

  std::vector<float> x = randomInput(n, 1), y(n);
  CUDA_OK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(dy, 0xFF, n * sizeof(float)));
  ASSERT_TRUE(ctx->enqueueV3(stream)) << ctx->getLastError();
  CUDA_OK(cudaStreamSynchronize(stream));
  CUDA_OK(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
  expectNear(y, ch.reference(x));

  // Capture one enqueue into a CUDA graph and replay it on new input data: a capture fails if
  // enqueue allocates or synchronizes.
  cudaGraph_t graph;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  bool ok = ctx->enqueueV3(stream);
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_TRUE(ok) << ctx->getLastError();
  cudaGraphExec_t exec;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (unsigned rep = 0; rep < 3; ++rep) {
    x = randomInput(n, 100 + rep);
    CUDA_OK(cudaMemcpyAsync(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream));
    CUDA_OK(cudaMemsetAsync(dy, 0xFF, n * sizeof(float), stream));
    CUDA_OK(cudaGraphLaunch(exec, stream));
    CUDA_OK(cudaMemcpyAsync(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    expectNear(y, ch.reference(x));
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  cudaFree(dx);
  cudaFree(dy);
}

TEST(GpuRuntime, DynamicShapesAndMemoryPlan) {
  REQUIRE_GPU();
  Log log;
  Chain ch = buildChain(log, true);
  ASSERT_NE(ch.plan, nullptr) << log.errors;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(ch.plan->data(), ch.plan->size());
  ASSERT_NE(engine, nullptr) << log.errors;
  auto ctx = engine->createExecutionContext();
  ASSERT_NE(ctx, nullptr);
  for (int64_t rows : {3, 64, 1, 17}) {
    const size_t n = static_cast<size_t>(rows * ch.c);
    ASSERT_TRUE(ctx->setInputShape("x", {rows, ch.c})) << ctx->getLastError();
    EXPECT_EQ(ctx->getTensorShape("y"), (Dims{rows, ch.c}));
    float *dx = nullptr, *dy = nullptr;
    CUDA_OK(cudaMalloc(&dx, n * sizeof(float)));
    CUDA_OK(cudaMalloc(&dy, n * sizeof(float)));
    std::vector<float> x = randomInput(n, static_cast<unsigned>(rows)), y(n);
    CUDA_OK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemset(dy, 0xFF, n * sizeof(float)));
    ctx->setTensorAddress("x", dx);
    ctx->setTensorAddress("y", dy);
    ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
    CUDA_OK(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
    expectNear(y, ch.reference(x));
    cudaFree(dx);
    cudaFree(dy);
  }
  // The memory plan reuses buffers: the chain's 17 intermediates fit in far fewer bytes.
  bool sawPlan = false;
  for (const std::string& m : log.messages) {
    unsigned long long planned = 0, naive = 0;
    size_t at = m.find("memory plan:");
    if (at == std::string::npos) continue;
    size_t in = m.find(" in ", at), nv = m.find("(naive ", at);
    ASSERT_NE(in, std::string::npos);
    ASSERT_NE(nv, std::string::npos);
    planned = std::stoull(m.substr(in + 4));
    naive = std::stoull(m.substr(nv + 7));
    EXPECT_LE(planned * 4, naive) << m;
    sawPlan = true;
  }
  EXPECT_TRUE(sawPlan) << "no memory plan message in the verbose log";
  // Outside the profile: a clear error, no run.
  EXPECT_FALSE(ctx->setInputShape("x", {65, ch.c}));
}

// The profiler on the GPU: every layer of the chain once per run, in order, times from CUDA events.
TEST(GpuRuntime, ProfilerReportsEachLayer) {
  REQUIRE_GPU();
  Log log;
  Chain ch = buildChain(log, false);
  ASSERT_NE(ch.plan, nullptr) << log.errors;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(ch.plan->data(), ch.plan->size());
  ASSERT_NE(engine, nullptr) << log.errors;
  auto ctx = engine->createExecutionContext();
  const size_t n = static_cast<size_t>(4 * ch.c);
  float *dx = nullptr, *dy = nullptr;
  CUDA_OK(cudaMalloc(&dx, n * sizeof(float)));
  CUDA_OK(cudaMalloc(&dy, n * sizeof(float)));
  ctx->setTensorAddress("x", dx);
  ctx->setTensorAddress("y", dy);
  struct Rec : Profiler {
    std::vector<std::string> names;
    std::vector<float> ms;
    void reportLayerTime(const char* name, float t) noexcept override {
      names.emplace_back(name);
      ms.push_back(t);
    }
  } rec;
  ctx->setProfiler(&rec);
  ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  ASSERT_EQ(rec.names.size() % 2, 0u);
  const size_t perRun = rec.names.size() / 2;
  EXPECT_EQ(perRun, static_cast<size_t>(3 * ch.depth));  // Mul, Add, Relu per stage
  for (size_t i = 0; i < perRun; ++i) EXPECT_EQ(rec.names[i], rec.names[i + perRun]);
  for (float t : rec.ms) EXPECT_GE(t, 0.f);
  cudaFree(dx);
  cudaFree(dy);
}

TEST(GpuRuntime, ManyContextsOnManyThreads) {
  REQUIRE_GPU();
  Log log;
  Chain ch = buildChain(log, false);
  ASSERT_NE(ch.plan, nullptr) << log.errors;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(ch.plan->data(), ch.plan->size());
  ASSERT_NE(engine, nullptr) << log.errors;
  constexpr int kThreads = 4;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto ctx = engine->createExecutionContext();
      if (!ctx) {
        failures[t] = "no context";
        return;
      }
      const size_t n = static_cast<size_t>(4 * ch.c);
      float *dx = nullptr, *dy = nullptr;
      cudaStream_t s;
      cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
      cudaMalloc(&dx, n * sizeof(float));
      cudaMalloc(&dy, n * sizeof(float));
      ctx->setTensorAddress("x", dx);
      ctx->setTensorAddress("y", dy);
      for (unsigned it = 0; it < 20 && failures[t].empty(); ++it) {
        std::vector<float> x = randomInput(n, 1000 * static_cast<unsigned>(t) + it), y(n);
        cudaMemcpyAsync(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice, s);
        if (!ctx->enqueueV3(s)) failures[t] = ctx->getLastError();
        cudaMemcpyAsync(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost, s);
        cudaStreamSynchronize(s);
        std::vector<double> want = ch.reference(x);
        for (size_t i = 0; i < n && failures[t].empty(); ++i)
          if (std::fabs(y[i] - want[i]) > 1e-5 * std::max(1.0, std::fabs(want[i])))
            failures[t] =
                "thread " + std::to_string(t) + " element " + std::to_string(i) + " wrong";
      }
      cudaFree(dx);
      cudaFree(dy);
      cudaStreamDestroy(s);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

TEST(GpuRuntime, ShapeComputationsResolvedOnTheHost) {
  REQUIRE_GPU();
  Log log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {-1, 5}, {"n", ""});
  Tensor* s = net->addShape(*x)->getOutput(0);
  s->setName("shape");
  net->markOutput(*s);
  auto config = builder->createConfig();
  config->setDeviceType(DeviceType::kGPU);
  OptimizationProfile* p = builder->createOptimizationProfile();
  p->setShape("x", {1, 5}, {2, 5}, {9, 5});
  config->addOptimizationProfile(p);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << log.errors;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << log.errors;
  auto ctx = engine->createExecutionContext();
  ASSERT_TRUE(ctx->setInputShape("x", {7, 5}));
  float* dx = nullptr;
  int64_t* ds = nullptr;
  CUDA_OK(cudaMalloc(&dx, 35 * sizeof(float)));
  CUDA_OK(cudaMalloc(&ds, 2 * sizeof(int64_t)));
  CUDA_OK(cudaMemset(ds, 0xFF, 2 * sizeof(int64_t)));
  ctx->setTensorAddress("x", dx);
  ctx->setTensorAddress("shape", ds);
  ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  int64_t got[2];
  CUDA_OK(cudaMemcpy(got, ds, sizeof(got), cudaMemcpyDeviceToHost));
  EXPECT_EQ(got[0], 7);
  EXPECT_EQ(got[1], 5);
  cudaFree(dx);
  cudaFree(ds);
}

#else

TEST(GpuRuntime, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }

#endif

}  // namespace
}  // namespace kiln
