// The channels-last pass (GPU builds, after fp16-precision; docs/optimizer.md): the graph after
// the pass on a ResNet-like float16 network (one entry Transpose, one exit Reshape), numerical
// equivalence with the pass disabled on the CPU backend (whose channels-last kernels transpose to
// NCHW and back, so the results must be the same), the plan round trip through the runtime,
// graphs the pass must leave alone, and the channels_last shape functions.
#include "ir/channels_last.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <unordered_map>

#include "backends/cpu/cpu_kernel.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/kiln.h"
#include "optimizer/pass_manager.h"
#include "pass_test_util.h"
#include "plan/plan.h"

namespace kiln::opt {
namespace {

using ir::DimExpr;
using ir::OpKind;
using testing_passes::randomFloats;
using testing_passes::runOnCpu;

class QuietLog : public Logger {
 public:
  void log(Severity s, const char* msg) noexcept override {
    if (s <= Severity::kERROR) errors += std::string(msg) + "\n";
    if (s == Severity::kVERBOSE) verbose += std::string(msg) + "\n";
  }
  std::string errors, verbose;
};

ir::Attributes convAttrs(int64_t pad) {
  ir::Attributes a;
  a.setInts("pads", {pad, pad, pad, pad});
  return a;
}

ir::Shape shape(std::initializer_list<int64_t> d) {
  ir::Shape s;
  for (int64_t v : d) s.push_back(DimExpr(v));
  return s;
}

ir::Value* conv(ir::Graph& g, ir::Value* x, int64_t inC, int64_t outC, std::mt19937& rng,
                const std::string& name) {
  ir::Value* w = g.addConstant(name + ".w", randomFloats({outC, inC, 3, 3}, rng, -0.3f, 0.3f));
  ir::Value* b = g.addConstant(name + ".b", randomFloats({outC}, rng, -0.1f, 0.1f));
  return g.addNode(OpKind::kConv, name, {x, w, b}, convAttrs(1))->outputs[0];
}

ir::Value* batchNorm(ir::Graph& g, ir::Value* x, int64_t c, std::mt19937& rng,
                     const std::string& name) {
  ir::Value* s = g.addConstant(name + ".scale", randomFloats({c}, rng, 0.5f, 1.5f));
  ir::Value* b = g.addConstant(name + ".bias", randomFloats({c}, rng, -0.2f, 0.2f));
  ir::Value* m = g.addConstant(name + ".mean", randomFloats({c}, rng, -0.2f, 0.2f));
  ir::Value* v = g.addConstant(name + ".var", randomFloats({c}, rng, 0.5f, 1.5f));
  return g.addNode(OpKind::kBatchNormalization, name, {x, s, b, m, v}, {})->outputs[0];
}

ir::Value* unary(ir::Graph& g, OpKind op, ir::Value* x, const std::string& name) {
  return g.addNode(op, name, {x}, {})->outputs[0];
}

// x [2, 8, 10, 10] -> Conv+BN+Relu -> MaxPool 3x3/2 -> Mul(per-channel [1,16,1,1]) = m
//   -> Conv+Relu -> Conv+BN -> Add(m) -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> y [2, 5]
void buildResNetLike(ir::Graph& g, std::mt19937& rng) {
  ir::Value* x = g.addInput("x", DataType::kFLOAT, shape({2, 8, 10, 10}));
  ir::Value* t = conv(g, x, 8, 16, rng, "conv1");
  t = batchNorm(g, t, 16, rng, "bn1");
  t = unary(g, OpKind::kRelu, t, "relu1");
  ir::Attributes mp;
  mp.setInts("kernel_shape", {3, 3});
  mp.setInts("strides", {2, 2});
  mp.setInts("pads", {1, 1, 1, 1});
  t = g.addNode(OpKind::kMaxPool, "pool1", {t}, mp)->outputs[0];
  ir::Value* k = g.addConstant("scale", randomFloats({1, 16, 1, 1}, rng, 0.5f, 1.5f));
  ir::Value* m = g.addNode(OpKind::kMul, "scale_mul", {t, k}, {})->outputs[0];
  t = conv(g, m, 16, 16, rng, "conv2");
  t = unary(g, OpKind::kRelu, t, "relu2");
  t = conv(g, t, 16, 16, rng, "conv3");
  t = batchNorm(g, t, 16, rng, "bn3");
  t = g.addNode(OpKind::kAdd, "residual", {t, m}, {})->outputs[0];
  t = unary(g, OpKind::kRelu, t, "relu3");
  t = unary(g, OpKind::kGlobalAveragePool, t, "gap");
  t = unary(g, OpKind::kFlatten, t, "flatten");
  ir::Value* gw = g.addConstant("fc.w", randomFloats({16, 5}, rng, -0.5f, 0.5f));
  ir::Value* gb = g.addConstant("fc.b", randomFloats({5}, rng, -0.1f, 0.1f));
  ir::Value* y = g.addNode(OpKind::kGemm, "fc", {t, gw, gb}, {})->outputs[0];
  y->name = "y";
  g.markOutput(y);
}

// The builder's sequence for a GPU float16 build: the table's passes, fp16-precision, then
// (when `channelsLast`) channels-last; then dead layers removed, compacted, verified.
Status optimizeLikeGpuFp16(ir::Graph& g, bool channelsLast, bool fp16 = true,
                           bool* changed = nullptr, Logger* logger = nullptr) {
  KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(g));
  PassContext ctx;
  ctx.logger = logger;
  ctx.verifyEachPass = true;
  KILN_RETURN_IF_ERROR(runPasses(g, ctx));
  if (fp16) {
    ctx.fp16 = true;
    KILN_ASSIGN_OR_RETURN(bool c16, fp16PrecisionPass(g, ctx));
    (void)c16;
  }
  if (channelsLast) {
    KILN_ASSIGN_OR_RETURN(bool c, channelsLastPass(g, ctx));
    if (changed) *changed = c;
  }
  g.removeDeadNodes();
  KILN_RETURN_IF_ERROR(g.compact());
  KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(g));
  return ir::verifyGraph(g);
}

double maxAbsDiff(const ir::TensorData& a, const ir::TensorData& b) {
  EXPECT_EQ(a.dims(), b.dims());
  EXPECT_EQ(a.dtype(), b.dtype());
  double d = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i)
    d = std::max(d, std::fabs(a.doubleAt(i) - b.doubleAt(i)));
  return d;
}

// The dims of a static shape (a symbolic dim fails the test and reads as -1).
std::vector<int64_t> dimsOf(const ir::Shape& s) {
  std::vector<int64_t> d;
  for (const DimExpr& e : s) {
    EXPECT_TRUE(e.isConst());
    d.push_back(e.isConst() ? e.constValue() : -1);
  }
  return d;
}

int countOp(const ir::Graph& g, OpKind op) {
  int n = 0;
  for (const ir::Node* node : g.nodes()) n += node->op == op;
  return n;
}

// Both graphs on the same random inputs: finite outputs, identical within `tol` (the CPU's
// channels-last kernels compute exactly what the NCHW kernels compute).
void expectSameOutputs(const ir::Graph& want, const ir::Graph& got, std::mt19937& rng,
                       double tol = 0.0) {
  std::map<std::string, ir::TensorDataPtr> feeds;
  for (const ir::Value* in : want.inputs())
    feeds[in->name] = randomFloats(ir::staticDims(in->shape), rng, -2.f, 2.f);
  auto a = runOnCpu(want, feeds);
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  auto b = runOnCpu(got, feeds);
  ASSERT_TRUE(b.isOk()) << b.status().toString() << "\n" << ir::graphToString(got);
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    double scale = 0;
    for (int64_t k = 0; k < (*a)[i]->numel(); ++k) {
      ASSERT_TRUE(std::isfinite((*b)[i]->doubleAt(k)));
      scale = std::max(scale, std::fabs((*a)[i]->doubleAt(k)));
    }
    EXPECT_GT(scale, 0.0);
    EXPECT_LE(maxAbsDiff(*(*b)[i], *(*a)[i]), tol * scale) << "output " << i;
  }
}

TEST(ChannelsLastPass, ResNetLikeBlockGoesChannelsLastWithOneEntryAndOneExit) {
  std::mt19937 rng(7);
  ir::Graph g;
  buildResNetLike(g, rng);
  QuietLog log;
  bool changed = false;
  Status st = optimizeLikeGpuFp16(g, true, true, &changed, &log);
  ASSERT_TRUE(st.isOk()) << st.toString() << "\n" << ir::graphToString(g);
  EXPECT_TRUE(changed);
  // Entry: one Transpose after the Cast of x; exit: GlobalAveragePool's [2,1,1,16] viewed as
  // [2,16,1,1] by a Reshape (no Transpose left there).
  EXPECT_EQ(countOp(g, OpKind::kTranspose), 1) << ir::graphToString(g);
  EXPECT_EQ(countOp(g, OpKind::kReshape), 1) << ir::graphToString(g);
  for (const ir::Node* n : g.nodes()) {
    if (n->op == OpKind::kTranspose) {
      EXPECT_EQ(n->attrs.getInts("perm"), ir::toChannelsLastPerm());
      ASSERT_NE(n->inputs[0]->producer, nullptr);
      EXPECT_EQ(n->inputs[0]->producer->op, OpKind::kCast);
      EXPECT_EQ(dimsOf(n->outputs[0]->shape), (std::vector<int64_t>{2, 10, 10, 8}));
    }
    if (n->op == OpKind::kReshape) {
      ASSERT_NE(n->inputs[0]->producer, nullptr);
      EXPECT_EQ(n->inputs[0]->producer->op, OpKind::kGlobalAveragePool);
      EXPECT_EQ(dimsOf(n->inputs[0]->shape), (std::vector<int64_t>{2, 1, 1, 16}));
      EXPECT_EQ(dimsOf(n->outputs[0]->shape), (std::vector<int64_t>{2, 16, 1, 1}));
    }
    if (ir::supportsChannelsLast(n->op)) {
      EXPECT_TRUE(ir::isChannelsLast(*n)) << n->describe();
    }
    if (n->op == OpKind::kFusedConv) {
      EXPECT_EQ(n->inputs[0]->dtype, DataType::kHALF);
      EXPECT_EQ(n->inputs[1]->constant->dims()[1], 3) << "KRSC weight";
      EXPECT_EQ(n->inputs[1]->constant->dims()[2], 3) << "KRSC weight";
      EXPECT_EQ(n->outputs[0]->shape.size(), 4u);
      EXPECT_EQ(dimsOf(n->outputs[0]->shape)[3], 16) << "NHWC output";
    }
    if (n->op == OpKind::kMul) {
      ASSERT_TRUE(n->inputs[1]->isConstant());
      EXPECT_EQ(n->inputs[1]->constant->dims(), (std::vector<int64_t>{1, 1, 1, 16}));
    }
  }
  EXPECT_EQ(countOp(g, OpKind::kFusedConv), 3) << ir::graphToString(g);
  EXPECT_NE(log.verbose.find("channels-last:"), std::string::npos);
}

TEST(ChannelsLastPass, SameResultsAsWithoutThePassOnTheCpu) {
  for (uint32_t seed : {3u, 41u}) {
    std::mt19937 rng(seed);
    ir::Graph g;
    buildResNetLike(g, rng);
    auto off = g.clone();
    ASSERT_TRUE(optimizeLikeGpuFp16(*off, false).isOk());
    ASSERT_TRUE(optimizeLikeGpuFp16(g, true).isOk());
    EXPECT_GT(countOp(g, OpKind::kTranspose), 0);
    // Transposes and the NCHW kernels under them are exact: bitwise the same float16 math.
    expectSameOutputs(*off, g, rng, 0.0);
  }
}

TEST(ChannelsLastPass, PlanRoundTripRunsThroughTheRuntime) {
  std::mt19937 rng(5);
  ir::Graph g;
  buildResNetLike(g, rng);
  auto off = g.clone();
  ASSERT_TRUE(optimizeLikeGpuFp16(*off, false).isOk());
  ASSERT_TRUE(optimizeLikeGpuFp16(g, true).isOk());
  plan::PlanContents plan;
  plan.networkName = "channels-last";
  plan.graph = g.clone();
  auto bytes = plan::serializePlan(plan);
  ASSERT_TRUE(bytes.isOk()) << bytes.status().toString();
  // The attribute and the KRSC weights survive the plan.
  auto loaded = plan::deserializePlan(*bytes);
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  int nhwc = 0;
  for (const ir::Node* n : loaded->graph->nodes()) nhwc += ir::isChannelsLast(*n) ? 1 : 0;
  EXPECT_EQ(nhwc, 5);  // 3 FusedConv, MaxPool, GlobalAveragePool

  QuietLog log;
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(bytes->data(), bytes->size());
  ASSERT_NE(engine, nullptr) << log.errors;
  auto ctx = engine->createExecutionContext();
  ASSERT_NE(ctx, nullptr);
  auto x = randomFloats({2, 8, 10, 10}, rng, -2.f, 2.f);
  std::vector<float> y(10, std::nanf(""));
  ASSERT_TRUE(ctx->setTensorAddress("x", x->data()));
  ASSERT_TRUE(ctx->setTensorAddress("y", y.data()));
  ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  auto want = runOnCpu(*off, {{"x", x}});
  ASSERT_TRUE(want.isOk()) << want.status().toString();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(y[static_cast<size_t>(i)], (*want)[0]->as<float>()[i]);
}

TEST(ChannelsLastPass, NetworkOutputInsideTheRegionKeepsItsNameAndLayout) {
  std::mt19937 rng(9);
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, shape({1, 4, 6, 6}));
  ir::Value* c = conv(g, x, 4, 8, rng, "conv");
  ir::Value* r = unary(g, OpKind::kRelu, c, "relu");
  ir::Value* s = unary(g, OpKind::kSigmoid, r, "sig");  // read by the region and the network
  s->name = "features";
  g.markOutput(s);
  ir::Value* c2 = conv(g, s, 8, 8, rng, "conv2");
  c2->name = "out2";
  g.markOutput(c2);
  auto off = g.clone();
  ASSERT_TRUE(optimizeLikeGpuFp16(*off, false).isOk());
  Status st = optimizeLikeGpuFp16(g, true);
  ASSERT_TRUE(st.isOk()) << st.toString();
  ASSERT_EQ(g.outputs().size(), 2u);
  EXPECT_EQ(g.outputs()[0]->name, "features");
  EXPECT_EQ(g.outputs()[1]->name, "out2");
  EXPECT_EQ(dimsOf(g.outputs()[0]->shape), (std::vector<int64_t>{1, 8, 6, 6}));
  EXPECT_EQ(dimsOf(g.outputs()[1]->shape), (std::vector<int64_t>{1, 8, 6, 6}));
  // One entry, and one exit per region value the outside reads (each before its Cast).
  EXPECT_EQ(countOp(g, OpKind::kTranspose), 3) << ir::graphToString(g);
  expectSameOutputs(*off, g, rng, 0.0);
}

TEST(ChannelsLastPass, PatchEmbeddingFlattenTransposeBecomesOneReshape) {
  // ViT: x -> Conv 4x4/4 -> Reshape [N, C, H*W] -> Transpose [0, 2, 1] -> tokens.
  std::mt19937 rng(13);
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, shape({2, 3, 16, 12}));
  ir::Value* w = g.addConstant("w", randomFloats({8, 3, 4, 4}, rng, -0.3f, 0.3f));
  ir::Attributes ca;
  ca.setInts("strides", {4, 4});
  ir::Value* c = g.addNode(OpKind::kConv, "patch", {x, w}, ca)->outputs[0];  // [2, 8, 4, 3]
  ir::Value* target = g.addConstant("target", ir::TensorData::vectorInt64({2, 8, 12}));
  ir::Value* r = g.addNode(OpKind::kReshape, "flatten2", {c, target}, {})->outputs[0];
  ir::Attributes ta;
  ta.setInts("perm", {0, 2, 1});
  ir::Value* y = g.addNode(OpKind::kTranspose, "tokens", {r}, ta)->outputs[0];
  y->name = "y";
  g.markOutput(y);
  auto off = g.clone();
  ASSERT_TRUE(optimizeLikeGpuFp16(*off, false).isOk());
  QuietLog log;
  Status st = optimizeLikeGpuFp16(g, true, true, nullptr, &log);
  ASSERT_TRUE(st.isOk()) << st.toString();
  // Only the entry Transpose is left; the tokens come from one Reshape of the NHWC output.
  EXPECT_EQ(countOp(g, OpKind::kTranspose), 1) << ir::graphToString(g);
  EXPECT_EQ(countOp(g, OpKind::kReshape), 1) << ir::graphToString(g);
  for (const ir::Node* n : g.nodes())
    if (n->op == OpKind::kReshape) {
      ASSERT_NE(n->inputs[0]->producer, nullptr);
      EXPECT_TRUE(ir::isChannelsLast(*n->inputs[0]->producer));
      EXPECT_EQ(dimsOf(n->outputs[0]->shape), (std::vector<int64_t>{2, 12, 8}));
    }
  EXPECT_NE(log.verbose.find("1 Transpose pairs cancelled"), std::string::npos) << log.verbose;
  expectSameOutputs(*off, g, rng, 0.0);
}

TEST(ChannelsLastPass, Float32GraphIsLeftAlone) {
  std::mt19937 rng(11);
  ir::Graph g;
  buildResNetLike(g, rng);
  bool changed = true;
  ASSERT_TRUE(optimizeLikeGpuFp16(g, true, /*fp16=*/false, &changed).isOk());
  EXPECT_FALSE(changed);
  EXPECT_EQ(countOp(g, OpKind::kTranspose), 0);
  for (const ir::Node* n : g.nodes()) EXPECT_FALSE(n->attrs.has(ir::kChannelsLastAttr));
}

TEST(ChannelsLastPass, RegionWithoutConvolutionIsLeftAlone) {
  // ConvTranspose (float16, not a member) -> MaxPool (float16, a member) -> Flatten -> MatMul.
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, shape({1, 8, 6, 6}));
  ir::Value* wt = g.addConstant(
      "wt", std::make_shared<ir::TensorData>(DataType::kFLOAT, std::vector<int64_t>{8, 8, 1, 1}));
  ir::Value* ct = g.addNode(OpKind::kConvTranspose, "ct", {x, wt}, {})->outputs[0];
  ir::Attributes mp;
  mp.setInts("kernel_shape", {2, 2});
  ir::Node* pool = g.addNode(OpKind::kMaxPool, "pool", {ct}, mp);
  ir::Value* p = pool->outputs[0];
  ir::Value* w = g.addConstant(
      "w", std::make_shared<ir::TensorData>(DataType::kFLOAT, std::vector<int64_t>{200, 3}));
  ir::Value* f = unary(g, OpKind::kFlatten, p, "flat");
  ir::Value* y = g.addNode(OpKind::kMatMul, "mm", {f, w}, {})->outputs[0];
  g.markOutput(y);
  bool changed = true;
  Status st = optimizeLikeGpuFp16(g, true, true, &changed);
  ASSERT_TRUE(st.isOk()) << st.toString() << "\n" << ir::graphToString(g);
  EXPECT_FALSE(changed) << ir::graphToString(g);
  const ir::Node* pooled = nullptr;
  for (const ir::Node* n : g.nodes()) {
    EXPECT_FALSE(n->attrs.has(ir::kChannelsLastAttr));
    if (n->op == OpKind::kMaxPool) pooled = n;
  }
  ASSERT_NE(pooled, nullptr);
  EXPECT_EQ(pooled->inputs[0]->dtype, DataType::kHALF) << "the pool is a candidate";
}

TEST(ChannelsLastPass, CpuBuildsNeverGoChannelsLast) {
  // The builder runs the pass for GPU builds only (tests/unit/gpu_channels_last_test.cpp covers
  // those); a float16 CPU build keeps NCHW layers, and naming the pass in --disablePasses is
  // accepted.
  for (bool disable : {false, true}) {
    QuietLog log;
    auto builder = Builder::create(log);
    auto net = builder->createNetwork();
    Tensor* x = net->addInput("x", DataType::kFLOAT, {1, 8, 6, 6});
    std::vector<float> w(16 * 8 * 9, 0.01f), b(16, 0.f);
    ConvolutionDesc d;
    d.padding = {1, 1};
    Layer* c = net->addConvolution(*x, 16, {3, 3}, Weights{DataType::kFLOAT, w.data(), 16 * 8 * 9},
                                   Weights{DataType::kFLOAT, b.data(), 16}, d);
    ASSERT_NE(c, nullptr) << net->getLastError();
    Tensor* y = net->addActivation(*c->getOutput(0), ActivationType::kRELU)->getOutput(0);
    y->setName("y");
    net->markOutput(*y);
    auto config = builder->createConfig();
    config->setDeviceType(DeviceType::kCPU);
    config->setFlag(BuilderFlag::kFP16);
    if (disable) config->setDisabledPasses({kChannelsLastPassName});
    auto plan = builder->buildSerializedNetwork(*net, *config);
    ASSERT_NE(plan, nullptr) << builder->getLastError();
    auto runtime = Runtime::create(log);
    auto engine = runtime->deserializeEngine(plan->data(), plan->size());
    ASSERT_NE(engine, nullptr) << log.errors;
    const std::string info = engine->getLayerInformation(true);
    EXPECT_NE(info.find("FusedConv"), std::string::npos) << info;
    EXPECT_EQ(info.find("channels_last"), std::string::npos) << info;
    EXPECT_EQ(info.find("Transpose"), std::string::npos) << info;
  }
}

TEST(ChannelsLastPass, NameIsKnownToThePassManager) {
  EXPECT_TRUE(checkPassNames({kChannelsLastPassName}).isOk());
  EXPECT_FALSE(checkPassNames({"channels-lastx"}).isOk());
}

// ---- shape functions ----------------------------------------------------------------------------

TEST(ChannelsLastShapes, ConvAndPoolsGiveNhwcShapes) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kHALF, shape({2, 9, 11, 3}));  // N, H, W, C
  ir::Value* w = g.addConstant(
      "w", std::make_shared<ir::TensorData>(DataType::kHALF, std::vector<int64_t>{8, 3, 3, 3}));
  ir::Attributes ca;
  ca.setInts("strides", {2, 2});
  ca.setInts("pads", {1, 1, 1, 1});
  ca.setInt(ir::kChannelsLastAttr, 1);
  ir::Value* c = g.addNode(OpKind::kConv, "c", {x, w}, ca)->outputs[0];
  ir::Attributes pa;
  pa.setInts("kernel_shape", {3, 3});
  pa.setInt(ir::kChannelsLastAttr, 1);
  ir::Value* p = g.addNode(OpKind::kMaxPool, "p", {c}, pa)->outputs[0];
  ir::Attributes ga;
  ga.setInt(ir::kChannelsLastAttr, 1);
  ir::Value* gp = g.addNode(OpKind::kGlobalAveragePool, "gp", {p}, ga)->outputs[0];
  g.markOutput(gp);
  Status st = ir::inferGraphInPlace(g);
  ASSERT_TRUE(st.isOk()) << st.toString();
  EXPECT_EQ(dimsOf(c->shape), (std::vector<int64_t>{2, 5, 6, 8}));
  EXPECT_EQ(dimsOf(p->shape), (std::vector<int64_t>{2, 3, 4, 8}));
  EXPECT_EQ(dimsOf(gp->shape), (std::vector<int64_t>{2, 1, 1, 8}));
}

TEST(ChannelsLastShapes, BadUsesAreClearErrors) {
  {
    ir::Graph g;
    ir::Value* x = g.addInput("x", DataType::kHALF, shape({2, 9, 3}));
    ir::Attributes a;
    a.setInt(ir::kChannelsLastAttr, 1);
    ir::Value* y = g.addNode(OpKind::kGlobalAveragePool, "gp", {x}, a)->outputs[0];
    g.markOutput(y);
    Status st = ir::inferGraphInPlace(g);
    ASSERT_FALSE(st.isOk());
    EXPECT_NE(st.message().find("'gp'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("4-D"), std::string::npos) << st.message();
  }
  {
    ir::Graph g;
    ir::Value* x = g.addInput("x", DataType::kHALF, shape({2, 9, 9, 3}));
    ir::Attributes a;
    a.setInt(ir::kChannelsLastAttr, 2);
    ir::Value* y = g.addNode(OpKind::kGlobalMaxPool, "gm", {x}, a)->outputs[0];
    g.markOutput(y);
    Status st = ir::inferGraphInPlace(g);
    ASSERT_FALSE(st.isOk());
    EXPECT_NE(st.message().find("channels_last"), std::string::npos) << st.message();
  }
  {
    // The NHWC weight's channel dim must match X's last dim: Conv's own check, naming the node.
    ir::Graph g;
    ir::Value* x = g.addInput("x", DataType::kHALF, shape({1, 5, 5, 4}));
    ir::Value* w = g.addConstant(
        "w", std::make_shared<ir::TensorData>(DataType::kHALF, std::vector<int64_t>{8, 3, 3, 3}));
    ir::Attributes a;
    a.setInt(ir::kChannelsLastAttr, 1);
    ir::Value* y = g.addNode(OpKind::kConv, "cv", {x, w}, a)->outputs[0];
    g.markOutput(y);
    Status st = ir::inferGraphInPlace(g);
    ASSERT_FALSE(st.isOk());
    EXPECT_NE(st.message().find("'cv'"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace kiln::opt
