// Many execution contexts of one engine on many threads give the same outputs as one thread.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "kiln/kiln.h"

namespace kiln {
namespace {

TEST(Concurrency, ContextsOnThreadsMatchSingleThread) {
  StderrLogger logger(Severity::kERROR);
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w(8 * 4), b(8);
  for (auto& v : w) v = u(rng);
  for (auto& v : b) v = u(rng);
  Tensor* x = net->addInput("x", DataType::kFLOAT, {-1, 4});
  Layer* fc = net->addFullyConnected(*x, 8, {DataType::kFLOAT, w.data(), 32}, {DataType::kFLOAT, b.data(), 8});
  ASSERT_NE(fc, nullptr);
  Layer* act = net->addActivation(*fc->getOutput(0), ActivationType::kTANH);
  Layer* sm = net->addSoftMax(*act->getOutput(0), 1);
  ASSERT_NE(sm, nullptr);
  sm->getOutput(0)->setName("y");
  net->markOutput(*sm->getOutput(0));
  auto config = builder->createConfig();
  auto* prof = builder->createOptimizationProfile();
  prof->setShape("x", {1, 4}, {16, 4}, {64, 4});
  config->addOptimizationProfile(prof);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << builder->getLastError();
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr);

  constexpr int kThreads = 8, kIters = 300;
  // Per-iteration inputs (batch varies with the iteration) and single-threaded references.
  auto batchOf = [](int it) { return 1 + (it * 7) % 64; };
  std::vector<std::vector<float>> inputs(kIters), refs(kIters);
  {
    auto ctx = engine->createExecutionContext();
    for (int it = 0; it < kIters; ++it) {
      int64_t n = batchOf(it);
      inputs[static_cast<size_t>(it)].resize(static_cast<size_t>(n * 4));
      for (auto& v : inputs[static_cast<size_t>(it)]) v = u(rng);
      refs[static_cast<size_t>(it)].assign(static_cast<size_t>(n * 8), 0.f);
      ASSERT_TRUE(ctx->setInputShape("x", {n, 4}));
      ctx->setTensorAddress("x", inputs[static_cast<size_t>(it)].data());
      ctx->setTensorAddress("y", refs[static_cast<size_t>(it)].data());
      ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
    }
  }
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto ctx = engine->createExecutionContext();
      std::vector<float> out;
      for (int k = 0; k < kIters; ++k) {
        int it = (k + t * 37) % kIters;
        int64_t n = batchOf(it);
        out.assign(static_cast<size_t>(n * 8), -7.f);
        if (!ctx->setInputShape("x", {n, 4}) || !ctx->setTensorAddress("x", inputs[static_cast<size_t>(it)].data()) ||
            !ctx->setTensorAddress("y", out.data()) || !ctx->executeV2()) {
          ++failures;
          continue;
        }
        if (std::memcmp(out.data(), refs[static_cast<size_t>(it)].data(), out.size() * sizeof(float)) != 0) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace kiln
