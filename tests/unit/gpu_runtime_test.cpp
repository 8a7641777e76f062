// GPU runtime tests through the public API: plans built for the GPU, device I/O, asynchronous
// enqueue on user streams, CUDA-graph capture of enqueueV3 (which proves enqueue neither
// allocates nor synchronizes), dynamic shapes, many contexts on many threads, and the memory
// plan's reuse. References are computed here in double precision. Skipped without a GPU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>
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

using testing_gpu::haveGpu;
using testing_gpu::runXY;
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

// Reshape-like layers between activations run as views of their input's memory (no kernel): the
// profiler sees only the computing layers, the values stay right, and the activation the views
// alias stays alive for a later reader. y = Reshape(-(Unsqueeze(Reshape(relu(x))))) * relu(x).
TEST(GpuRuntime, ReshapesBetweenActivationsAreViews) {
  REQUIRE_GPU();
  Log log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {4, 6});
  Tensor* a = net->addActivation(*x, ActivationType::kRELU)->getOutput(0);
  Tensor* r = net->addReshape(*a, {2, 12})->getOutput(0);
  Tensor* u = net->addUnsqueeze(*r, {0})->getOutput(0);
  Tensor* ng = net->addUnary(*u, UnaryOperation::kNEG)->getOutput(0);
  Tensor* f = net->addReshape(*ng, {4, 6})->getOutput(0);
  Tensor* y = net->addElementWise(*f, *a, ElementWiseOperation::kPROD)->getOutput(0);
  y->setName("y");
  net->markOutput(*y);
  auto config = builder->createConfig();
  config->setDeviceType(DeviceType::kGPU);
  config->setBuilderOptimizationLevel(0);  // keep every reshape as written
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << log.errors;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << log.errors;
  auto ctx = engine->createExecutionContext();
  std::vector<float> xs = randomInput(24, 3);
  struct Rec : Profiler {
    std::vector<std::string> names;
    void reportLayerTime(const char* name, float) noexcept override { names.emplace_back(name); }
  } rec;
  ctx->setProfiler(&rec);
  const std::vector<float> ys = runXY(*ctx, xs, 24);
  ASSERT_EQ(ys.size(), 24u);
  EXPECT_EQ(rec.names.size(), 3u);  // Relu, Neg, Mul; the three reshapes are views
  for (size_t i = 0; i < 24; ++i) {
    const double rx = std::max(0.0, static_cast<double>(xs[i]));
    EXPECT_NEAR(ys[i], -rx * rx, 1e-6 * std::max(1.0, rx * rx)) << i;
  }
}

// Tactic timing: a GPU build at the default optimization level times the convolution's cuDNN
// engines, records the choice in the plan ("tactic" in the layer information) and in the timing
// cache; a second build takes it from the cache; both plans compute the convolution (checked
// against a double-precision reference); a damaged cache file fails the build with its name.
TEST(GpuRuntime, TacticTimingRecordsTheChoiceAndUsesTheTimingCache) {
  REQUIRE_GPU();
  const int64_t n = 2, c = 16, k = 32, h = 20, w = 20;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> wt(static_cast<size_t>(k * c * 9)), bias(static_cast<size_t>(k));
  for (float& v : wt) v = u(rng) * 0.2f;
  for (float& v : bias) v = u(rng);
  const std::string cachePath =
      ::testing::TempDir() + "kiln_timing_cache_" + std::to_string(::getpid()) + ".txt";
  std::remove(cachePath.c_str());
  auto build = [&](Log& log, int level) {
    auto builder = Builder::create(log);
    auto net = builder->createNetwork();
    Tensor* x = net->addInput("x", DataType::kFLOAT, {n, c, h, w});
    ConvolutionDesc desc;
    desc.padding = {1, 1};
    Layer* conv = net->addConvolution(
        *x, k, {3, 3}, Weights{DataType::kFLOAT, wt.data(), static_cast<int64_t>(wt.size())},
        Weights{DataType::kFLOAT, bias.data(), k}, desc);
    conv->getOutput(0)->setName("y");
    net->markOutput(*conv->getOutput(0));
    auto config = builder->createConfig();
    config->setDeviceType(DeviceType::kGPU);
    config->setBuilderOptimizationLevel(level);
    config->setTimingCacheFile(cachePath);
    return builder->buildSerializedNetwork(*net, *config);
  };
  auto find = [](const Log& log, const std::string& what) {
    for (const std::string& m : log.messages)
      if (m.find(what) != std::string::npos) return m;
    return std::string();
  };
  const size_t xn = static_cast<size_t>(n * c * h * w), yn = static_cast<size_t>(n * k * h * w);
  std::vector<float> xs = randomInput(xn, 5);
  std::vector<double> want(yn);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < k; ++o)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          double s = bias[static_cast<size_t>(o)];
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t di = 0; di < 3; ++di)
              for (int64_t dj = 0; dj < 3; ++dj) {
                const int64_t yi = i + di - 1, xj = j + dj - 1;
                if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
                s +=
                    static_cast<double>(xs[static_cast<size_t>(((b * c + ci) * h + yi) * w + xj)]) *
                    wt[static_cast<size_t>(((o * c + ci) * 3 + di) * 3 + dj)];
              }
          want[static_cast<size_t>(((b * k + o) * h + i) * w + j)] = s;
        }
  auto check = [&](const HostMemory& plan, Log& log) {
    auto runtime = Runtime::create(log);
    auto engine = runtime->deserializeEngine(plan.data(), plan.size());
    ASSERT_NE(engine, nullptr) << log.errors;
    auto ctx = engine->createExecutionContext();
    const std::vector<float> y = runXY(*ctx, xs, yn);
    ASSERT_EQ(y.size(), yn);
    double worst = 0;
    for (size_t i = 0; i < yn; ++i)
      worst = std::max(worst, std::fabs(y[i] - want[i]) / std::max(1.0, std::fabs(want[i])));
    EXPECT_LE(worst, 1e-5);
  };

  Log first;
  auto plan1 = build(first, 3);
  ASSERT_NE(plan1, nullptr) << first.errors;
  const std::string summary = find(first, "layers with alternatives, ");  // not the progress lines
  ASSERT_NE(summary.find("layers with alternatives"), std::string::npos) << summary;
  int layers = -1, timed = -1, cached = -1;
  ASSERT_EQ(std::sscanf(summary.substr(summary.find("tactic timing: ")).c_str(),
                        "tactic timing: %d layers with alternatives, %d timed, %d from", &layers,
                        &timed, &cached),
            3)
      << summary;
  EXPECT_EQ(timed, layers);
  EXPECT_EQ(cached, 0);
  check(*plan1, first);
  if (layers > 0) {
    auto runtime = Runtime::create(first);
    auto engine = runtime->deserializeEngine(plan1->data(), plan1->size());
    ASSERT_NE(engine, nullptr);
    EXPECT_NE(engine->getLayerInformation(true).find("tactic=\"cudnn:engine="), std::string::npos)
        << engine->getLayerInformation(true);
    std::ifstream f(cachePath);
    std::string header, entry;
    ASSERT_TRUE(std::getline(f, header));
    EXPECT_EQ(header, "kiln-timing-cache 1");
    ASSERT_TRUE(std::getline(f, entry));
    EXPECT_NE(entry.find("cudnn-conv float32"), std::string::npos) << entry;
  } else {
    std::printf("[kiln tests] cuDNN offered one engine for the test convolution: nothing timed\n");
  }

  Log second;
  auto plan2 = build(second, 3);
  ASSERT_NE(plan2, nullptr) << second.errors;
  EXPECT_NE(find(second, std::to_string(layers) + " layers with alternatives, 0 timed, " +
                             std::to_string(layers) + " from the timing cache"),
            "")
      << find(second, "tactic timing: ");
  check(*plan2, second);

  Log none;  // level 0: no timing at all
  auto plan0 = build(none, 0);
  ASSERT_NE(plan0, nullptr) << none.errors;
  EXPECT_EQ(find(none, "tactic timing"), "");

  {
    std::ofstream f(cachePath, std::ios::trunc);
    f << "not a cache\n";
  }
  Log damaged;
  EXPECT_EQ(build(damaged, 3), nullptr);
  EXPECT_NE(damaged.errors.find("is not a Kiln timing cache"), std::string::npos) << damaged.errors;
  std::remove(cachePath.c_str());
}

// Tactic timing of cuBLASLt GEMMs: the candidates of the heuristic are timed, the plan records
// the chosen index, and the engine (which prepares that candidate) computes the product.
TEST(GpuRuntime, TacticTimingOfCublasLtGemms) {
  REQUIRE_GPU();
  const int64_t m = 64, k = 256, n = 128;
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> w(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n));
  for (float& v : w) v = u(rng) * 0.1f;
  for (float& v : bias) v = u(rng);
  Log log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {m, k});
  Layer* fc = net->addFullyConnected(*x, n, Weights{DataType::kFLOAT, w.data(), n * k},
                                     Weights{DataType::kFLOAT, bias.data(), n});
  ASSERT_NE(fc, nullptr) << net->getLastError();
  Tensor* y = net->addActivation(*fc->getOutput(0), ActivationType::kRELU)->getOutput(0);
  y->setName("y");
  net->markOutput(*y);
  auto config = builder->createConfig();
  config->setDeviceType(DeviceType::kGPU);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << log.errors;
  std::string summary;
  for (const std::string& msg : log.messages)
    if (msg.find("layers with alternatives, ") != std::string::npos) summary = msg;
  ASSERT_NE(summary, "");
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << log.errors;
  if (summary.find("tactic timing: 0 layers") == std::string::npos) {
    EXPECT_NE(engine->getLayerInformation(true).find("tactic=\"cublaslt:candidate="),
              std::string::npos)
        << engine->getLayerInformation(true);
  }
  auto ctx = engine->createExecutionContext();
  const std::vector<float> xs = randomInput(static_cast<size_t>(m * k), 9);
  const std::vector<float> ys = runXY(*ctx, xs, static_cast<size_t>(m * n));
  ASSERT_EQ(ys.size(), static_cast<size_t>(m * n));
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias[static_cast<size_t>(j)];
      for (int64_t p = 0; p < k; ++p)
        s += static_cast<double>(xs[static_cast<size_t>(i * k + p)]) *
             w[static_cast<size_t>(j * k + p)];
      const double want = std::max(0.0, s);
      worst = std::max(worst, std::fabs(ys[static_cast<size_t>(i * n + j)] - want) /
                                  std::max(1.0, std::fabs(want)));
    }
  EXPECT_LE(worst, 1e-5);
}

#else

TEST(GpuRuntime, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }

#endif

}  // namespace
}  // namespace kiln
