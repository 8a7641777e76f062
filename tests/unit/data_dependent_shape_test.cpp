// Outputs whose shape depends on tensor data (NonZero and the layers after it): the engine reports
// -1 dims, the CPU context infers those layers when they run, places graph outputs through the
// user's OutputAllocator (TensorRT's IOutputAllocator) and reports their shapes. Expected values
// are written out by hand.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
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

// Keeps each output in a vector; records every call.
class VectorAllocator : public OutputAllocator {
 public:
  void* reallocateOutput(const char* name, void*, uint64_t size,
                         uint64_t alignment) noexcept override {
    ++calls;
    lastName = name;
    EXPECT_LE(alignment, 256u);
    // Poisoned: an element the kernel does not write shows up as 0x5A5A...
    bytes.assign(static_cast<size_t>(size) + 8, 0x5A);
    return bytes.data();
  }
  void notifyShape(const char*, const Dims& d) noexcept override {
    dims.assign(d.d, d.d + d.nbDims);
  }
  std::vector<int64_t> asInt64() const {
    std::vector<int64_t> v((bytes.size() - 8) / sizeof(int64_t));
    std::memcpy(v.data(), bytes.data(), v.size() * sizeof(int64_t));
    return v;
  }
  int calls = 0;
  std::string lastName;
  std::vector<uint8_t> bytes;
  std::vector<int64_t> dims;
};

struct Engine2 {
  QuietLogger log;
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ExecutionContext> ctx;
};

// x [2,3] -> nz = NonZero(x) [2, n] -> t = Transpose(nz) [n, 2]; outputs nz and t.
void build(Engine2& e) {
  auto builder = Builder::create(e.log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, 3});
  std::array<Tensor*, 1> in{x};
  Layer* nz = net->addOp("NonZero", in);
  ASSERT_NE(nz, nullptr) << net->getLastError();
  nz->getOutput(0)->setName("nz");
  Layer* t = net->addTranspose(*nz->getOutput(0), {1, 0});
  ASSERT_NE(t, nullptr) << net->getLastError();
  t->getOutput(0)->setName("t");
  net->markOutput(*nz->getOutput(0));
  net->markOutput(*t->getOutput(0));
  auto config = builder->createConfig();
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << builder->getLastError();
  e.runtime = Runtime::create(e.log);
  e.engine = e.runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(e.engine, nullptr) << e.runtime->getLastError();
  e.ctx = e.engine->createExecutionContext();
  ASSERT_NE(e.ctx, nullptr);
}

TEST(DataDependentShape, NonZeroOutputsGoThroughTheAllocatorWithTheirShapes) {
  Engine2 e;
  build(e);
  ASSERT_NE(e.ctx, nullptr);
  Dims declared = e.engine->getTensorShape("t");
  ASSERT_EQ(declared.nbDims, 2);
  EXPECT_EQ(declared.d[0], -1);
  EXPECT_EQ(declared.d[1], 2);

  std::vector<float> x = {0.f, 1.f, 0.f, 2.f, 0.f, -3.f};
  ASSERT_TRUE(e.ctx->setTensorAddress("x", x.data()));
  Dims before = e.ctx->getTensorShape("nz");
  ASSERT_EQ(before.nbDims, 2);
  EXPECT_EQ(before.d[0], 2);
  EXPECT_EQ(before.d[1], -1);  // known only when the layer runs

  // No allocator: a clear error, not a write through a null pointer.
  EXPECT_FALSE(e.ctx->executeV2());
  EXPECT_NE(e.ctx->getLastError().find("OutputAllocator"), std::string::npos)
      << e.ctx->getLastError();

  VectorAllocator nzAlloc, tAlloc;
  ASSERT_TRUE(e.ctx->setOutputAllocator("nz", &nzAlloc));
  ASSERT_TRUE(e.ctx->setOutputAllocator("t", &tAlloc));
  EXPECT_EQ(e.ctx->getOutputAllocator("t"), &tAlloc);
  EXPECT_FALSE(e.ctx->setOutputAllocator("x", &tAlloc));  // inputs have none
  ASSERT_TRUE(e.ctx->executeV2()) << e.ctx->getLastError();
  EXPECT_EQ(nzAlloc.calls, 1);
  EXPECT_EQ(nzAlloc.lastName, "nz");
  EXPECT_EQ(nzAlloc.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(nzAlloc.asInt64(), (std::vector<int64_t>{0, 1, 1, 1, 0, 2}));
  EXPECT_EQ(tAlloc.dims, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(tAlloc.asInt64(), (std::vector<int64_t>{0, 1, 1, 0, 1, 2}));
  Dims after = e.ctx->getTensorShape("t");
  ASSERT_EQ(after.nbDims, 2);
  EXPECT_EQ(after.d[0], 3);

  // Other data, other shapes, same context.
  x = {5.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  ASSERT_TRUE(e.ctx->executeV2()) << e.ctx->getLastError();
  EXPECT_EQ(nzAlloc.calls, 2);
  EXPECT_EQ(nzAlloc.dims, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(nzAlloc.asInt64(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(tAlloc.dims, (std::vector<int64_t>{1, 2}));
  x.assign(6, 0.f);  // nothing non-zero: empty outputs
  ASSERT_TRUE(e.ctx->executeV2()) << e.ctx->getLastError();
  EXPECT_EQ(tAlloc.dims, (std::vector<int64_t>{0, 2}));
}

}  // namespace
}  // namespace kiln
