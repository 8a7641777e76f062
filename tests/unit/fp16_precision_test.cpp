// The float16 precision pass (BuilderFlag::kFP16): graph structure after the pass, and numerical
// equivalence with the float32 graph on the CPU backend.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <unordered_map>

#include "backends/cpu/cpu_kernel.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/kiln.h"
#include "optimizer/pass_manager.h"
#include "pass_test_util.h"

namespace kiln::opt {
namespace {

using ir::DimExpr;
using ir::OpKind;
using testing_passes::randomFloats;
using testing_passes::runOnCpu;

class CapturingLogger : public Logger {
 public:
  void log(Severity s, const char* msg) noexcept override {
    if (s <= Severity::kINFO) messages.emplace_back(msg);
  }
  std::string all() const {
    std::string out;
    for (const auto& m : messages) out += m + "\n";
    return out;
  }
  std::vector<std::string> messages;
};

ir::Attributes ints(const std::string& name, std::vector<int64_t> v) {
  ir::Attributes a;
  a.setInts(name, std::move(v));
  return a;
}
ir::Attributes oneInt(const std::string& name, int64_t v) {
  ir::Attributes a;
  a.setInt(name, v);
  return a;
}

Status runFp16(ir::Graph& g, Logger* logger = nullptr) {
  KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(g));
  PassContext ctx;
  ctx.logger = logger;
  ctx.fp16 = true;
  KILN_ASSIGN_OR_RETURN(bool changed, fp16PrecisionPass(g, ctx));
  (void)changed;
  return ir::verifyGraph(g);
}

std::vector<const ir::Node*> nodesOf(const ir::Graph& g, OpKind op) {
  std::vector<const ir::Node*> out;
  for (const ir::Node* n : g.nodes())
    if (n->op == op) out.push_back(n);
  return out;
}

// max |got - want| / max |want|: the error relative to the output's scale.
double relativeError(const ir::TensorData& got, const ir::TensorData& want) {
  EXPECT_EQ(got.dims(), want.dims());
  double maxDiff = 0, maxWant = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    maxDiff = std::max(maxDiff, std::fabs(got.doubleAt(i) - want.doubleAt(i)));
    maxWant = std::max(maxWant, std::fabs(want.doubleAt(i)));
  }
  return maxWant > 0 ? maxDiff / maxWant : maxDiff;
}

// Runs the graph as built and after the fp16 pass on the same inputs; checks the outputs keep
// their types and agree within `tol` (relative to each output's scale).
void expectFp16MatchesFp32(ir::Graph& g, std::mt19937& rng, double tol = 1e-2, float lo = -1.f,
                           float hi = 1.f) {
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  std::map<std::string, ir::TensorDataPtr> feeds;
  for (const ir::Value* in : g.inputs())
    feeds[in->name] = randomFloats(ir::staticDims(in->shape), rng, lo, hi);
  auto want = runOnCpu(g, feeds);
  ASSERT_TRUE(want.isOk()) << want.status().toString();
  std::vector<DataType> outTypes;
  for (const ir::Value* o : g.outputs()) outTypes.push_back(o->dtype);
  auto half = g.clone();
  Status st = runFp16(*half);
  ASSERT_TRUE(st.isOk()) << st.toString() << "\n" << ir::graphToString(*half);
  auto got = runOnCpu(*half, feeds);
  ASSERT_TRUE(got.isOk()) << got.status().toString() << "\n" << ir::graphToString(*half);
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < want->size(); ++i) {
    EXPECT_EQ((*got)[i]->dtype(), outTypes[i]);
    EXPECT_EQ(half->outputs()[i]->name, g.outputs()[i]->name);
    EXPECT_LE(relativeError(*(*got)[i], *(*want)[i]), tol) << "output " << i << "\n"
                                                           << ir::graphToString(*half);
  }
}

struct Cnn {
  ir::Graph g;
  ir::Value *x = nullptr, *w = nullptr, *gemmB = nullptr, *gemmC = nullptr, *y = nullptr;
};

// x[1,3,8,8] -> Conv(3x3, pad 1, 4 channels) -> Relu -> GlobalAveragePool -> Flatten -> Gemm ->
// y[1,5]
void buildCnn(Cnn& c, std::mt19937& rng) {
  ir::Graph& g = c.g;
  c.x = g.addInput("x", DataType::kFLOAT, {DimExpr(1), DimExpr(3), DimExpr(8), DimExpr(8)});
  c.w = g.addConstant("w", randomFloats({4, 3, 3, 3}, rng, -0.5f, 0.5f));
  ir::Value* b = g.addConstant("b", randomFloats({4}, rng, -0.1f, 0.1f));
  ir::Attributes ca = ints("pads", {1, 1, 1, 1});
  ca.setInts("kernel_shape", {3, 3});
  ir::Node* conv = g.addNode(OpKind::kConv, "conv", {c.x, c.w, b}, ca);
  ir::Node* relu = g.addNode(OpKind::kRelu, "relu", {conv->outputs[0]}, {});
  ir::Node* gap = g.addNode(OpKind::kGlobalAveragePool, "gap", {relu->outputs[0]}, {});
  ir::Node* flat = g.addNode(OpKind::kFlatten, "flat", {gap->outputs[0]}, oneInt("axis", 1));
  c.gemmB = g.addConstant("fc_w", randomFloats({4, 5}, rng));
  c.gemmC = g.addConstant("fc_b", randomFloats({5}, rng));
  ir::Node* gemm = g.addNode(OpKind::kGemm, "fc", {flat->outputs[0], c.gemmB, c.gemmC}, {});
  gemm->outputs[0]->name = "y";
  c.y = gemm->outputs[0];
  g.markOutput(c.y);
}

TEST(Fp16Precision, DoesNothingWithoutTheFlag) {
  std::mt19937 rng(1);
  Cnn c;
  buildCnn(c, rng);
  ASSERT_TRUE(ir::inferGraphInPlace(c.g).isOk());
  PassContext ctx;
  auto changed = fp16PrecisionPass(c.g, ctx);
  ASSERT_TRUE(changed.isOk());
  EXPECT_FALSE(*changed);
  EXPECT_EQ(c.g.nodes().size(), 5u);
}

TEST(Fp16Precision, CnnRunsInHalfWithOneCastAtEachEnd) {
  std::mt19937 rng(2);
  Cnn c;
  buildCnn(c, rng);
  CapturingLogger logger;
  Status st = runFp16(c.g, &logger);
  ASSERT_TRUE(st.isOk()) << st.toString();
  SCOPED_TRACE(ir::graphToString(c.g));
  // Inputs and outputs keep their types and names.
  ASSERT_EQ(c.g.inputs().size(), 1u);
  EXPECT_EQ(c.g.inputs()[0]->dtype, DataType::kFLOAT);
  ASSERT_EQ(c.g.outputs().size(), 1u);
  const ir::Value* y = c.g.outputs()[0];
  EXPECT_EQ(y->name, "y");
  EXPECT_EQ(y->dtype, DataType::kFLOAT);
  // Exactly two casts: x -> half at the entry, half -> float producing y.
  auto casts = nodesOf(c.g, OpKind::kCast);
  ASSERT_EQ(casts.size(), 2u);
  int entry = 0, exit = 0;
  for (const ir::Node* n : casts) {
    if (n->inputs[0] == c.g.inputs()[0]) {
      ++entry;
      EXPECT_EQ(n->attrs.getInt("to", -1), static_cast<int64_t>(DataType::kHALF));
    }
    if (n->outputs[0] == y) {
      ++exit;
      EXPECT_EQ(n->attrs.getInt("to", -1), static_cast<int64_t>(DataType::kFLOAT));
    }
  }
  EXPECT_EQ(entry, 1);
  EXPECT_EQ(exit, 1);
  // Every other value is float16; constants read by layers are float16 copies.
  for (const ir::Node* n : c.g.nodes()) {
    for (const ir::Value* o : n->outputs)
      if (o != y) {
        EXPECT_EQ(o->dtype, DataType::kHALF) << o->name;
      }
    for (const ir::Value* in : n->inputs)
      if (in && in != c.g.inputs()[0]) {
        EXPECT_EQ(in->dtype, DataType::kHALF) << n->describe() << " reads " << in->name;
      }
  }
  const ir::Node* conv = nodesOf(c.g, OpKind::kConv).at(0);
  ASSERT_TRUE(conv->inputs[1]->isConstant());
  EXPECT_EQ(conv->inputs[1]->constant->dtype(), DataType::kHALF);
  EXPECT_EQ(conv->inputs[1]->constant->dims(), c.w->constant->dims());
  for (int64_t i = 0; i < c.w->constant->numel(); ++i)
    EXPECT_EQ(conv->inputs[1]->constant->as<Half>()[i].bits,
              Half(c.w->constant->as<float>()[i]).bits);
  // The summary.
  EXPECT_NE(logger.all().find(
                "fp16: 5 layers run in float16, 0 stay in float32; 2 casts inserted, 4 constants"),
            std::string::npos)
      << logger.all();
}

TEST(Fp16Precision, FloatOnlyOpGetsCastsAroundIt) {
  // x -> Conv -> Pow(., 2) -> Conv -> y: the Pow runs in float32 between two half regions.
  std::mt19937 rng(3);
  ir::Graph g;
  ir::Value* x =
      g.addInput("x", DataType::kFLOAT, {DimExpr(1), DimExpr(2), DimExpr(5), DimExpr(5)});
  ir::Value* w1 = g.addConstant("w1", randomFloats({3, 2, 1, 1}, rng));
  ir::Value* w2 = g.addConstant("w2", randomFloats({2, 3, 1, 1}, rng));
  float two = 2.f;
  ir::Value* e = g.addConstant("two", ir::TensorData::fromBytes(DataType::kFLOAT, {}, &two));
  ir::Node* c1 = g.addNode(OpKind::kConv, "c1", {x, w1}, ints("kernel_shape", {1, 1}));
  ir::Node* pw = g.addNode(OpKind::kPow, "pow", {c1->outputs[0], e}, {});
  ir::Node* pw2 = g.addNode(OpKind::kPow, "pow2", {c1->outputs[0], e}, {});
  ir::Node* add = g.addNode(OpKind::kAdd, "add", {pw->outputs[0], pw2->outputs[0]}, {});
  ir::Node* c2 =
      g.addNode(OpKind::kConv, "c2", {add->outputs[0], w2}, ints("kernel_shape", {1, 1}));
  g.markOutput(c2->outputs[0]);
  ir::Value* c1Out = c1->outputs[0];
  CapturingLogger logger;
  Status st = runFp16(g, &logger);
  ASSERT_TRUE(st.isOk()) << st.toString();
  SCOPED_TRACE(ir::graphToString(g));
  EXPECT_EQ(c1Out->dtype, DataType::kHALF);
  for (const ir::Node* p : {pw, pw2}) {
    // Both Pows read one shared cast of c1's output back to float32, and the exponent as it was.
    const ir::Node* cast = p->inputs[0]->producer;
    ASSERT_NE(cast, nullptr);
    EXPECT_EQ(cast->op, OpKind::kCast);
    EXPECT_EQ(cast->inputs[0], c1Out);
    EXPECT_EQ(p->inputs[0], pw->inputs[0]);
    EXPECT_EQ(p->inputs[1], e);
    EXPECT_EQ(p->outputs[0]->dtype, DataType::kFLOAT);
  }
  // The Add follows its float32 inputs; the second Conv converts its input to float16.
  EXPECT_EQ(add->outputs[0]->dtype, DataType::kFLOAT);
  const ir::Node* toHalf = c2->inputs[0]->producer;
  ASSERT_EQ(toHalf->op, OpKind::kCast);
  EXPECT_EQ(toHalf->attrs.getInt("to", -1), static_cast<int64_t>(DataType::kHALF));
  EXPECT_EQ(toHalf->inputs[0], add->outputs[0]);
  EXPECT_EQ(nodesOf(g, OpKind::kCast).size(), 4u);  // x in, c1 out, add out, c2 out
  EXPECT_NE(logger.all().find("Pow (2 layers): kept in float32 (accuracy)"), std::string::npos)
      << logger.all();
  EXPECT_NE(logger.all().find("Add (1 layer): kept in float32 (its inputs are float32)"),
            std::string::npos)
      << logger.all();
}

TEST(Fp16Precision, CnnMatchesFloat32) {
  std::mt19937 rng(4);
  Cnn c;
  buildCnn(c, rng);
  expectFp16MatchesFp32(c.g, rng);
}

TEST(Fp16Precision, MixedNetworkMatchesFloat32) {
  // Conv -> BatchNorm -> Relu -> MaxPool -> Conv (+ residual Add) -> x*Sigmoid(x) -> Pow/Exp
  // branch in float32 -> LayerNorm -> MatMul -> Softmax, and a second output.
  std::mt19937 rng(5);
  ir::Graph g;
  ir::Value* x =
      g.addInput("x", DataType::kFLOAT, {DimExpr(2), DimExpr(3), DimExpr(8), DimExpr(8)});
  ir::Attributes ca = ints("pads", {1, 1, 1, 1});
  ca.setInts("kernel_shape", {3, 3});
  ir::Node* c1 =
      g.addNode(OpKind::kConv, "c1",
                {x, g.addConstant("w1", randomFloats({8, 3, 3, 3}, rng, -0.4f, 0.4f))}, ca);
  ir::Node* bn = g.addNode(OpKind::kBatchNormalization, "bn",
                           {c1->outputs[0], g.addConstant("s", randomFloats({8}, rng, 0.5f, 1.5f)),
                            g.addConstant("bb", randomFloats({8}, rng)),
                            g.addConstant("m", randomFloats({8}, rng, -0.1f, 0.1f)),
                            g.addConstant("v", randomFloats({8}, rng, 0.5f, 2.f))},
                           {});
  ir::Node* relu = g.addNode(OpKind::kRelu, "relu", {bn->outputs[0]}, {});
  ir::Attributes pa = ints("kernel_shape", {2, 2});
  pa.setInts("strides", {2, 2});
  ir::Node* pool = g.addNode(OpKind::kMaxPool, "pool", {relu->outputs[0]}, pa);
  ir::Node* c2 = g.addNode(
      OpKind::kConv, "c2",
      {pool->outputs[0], g.addConstant("w2", randomFloats({8, 8, 3, 3}, rng, -0.2f, 0.2f))}, ca);
  ir::Node* res = g.addNode(OpKind::kAdd, "res", {c2->outputs[0], pool->outputs[0]}, {});
  ir::Node* sig = g.addNode(OpKind::kSigmoid, "sig", {res->outputs[0]}, {});
  ir::Node* swish = g.addNode(OpKind::kMul, "swish", {res->outputs[0], sig->outputs[0]}, {});
  // Float32 branch: Exp(-Pow(x, 2)) multiplied back in.
  float two = 2.f;
  ir::Node* sq =
      g.addNode(OpKind::kPow, "sq",
                {swish->outputs[0],
                 g.addConstant("two", ir::TensorData::fromBytes(DataType::kFLOAT, {}, &two))},
                {});
  ir::Node* neg = g.addNode(OpKind::kNeg, "neg", {sq->outputs[0]}, {});
  ir::Node* ex = g.addNode(OpKind::kExp, "ex", {neg->outputs[0]}, {});
  ir::Node* gate = g.addNode(OpKind::kMul, "gate", {swish->outputs[0], ex->outputs[0]}, {});
  ir::Node* rs = g.addNode(
      OpKind::kReshape, "rs",
      {gate->outputs[0], g.addConstant("shape", ir::TensorData::vectorInt64({2, 8, 16}))}, {});
  ir::Node* tr = g.addNode(OpKind::kTranspose, "tr", {rs->outputs[0]}, ints("perm", {0, 2, 1}));
  ir::Node* ln =
      g.addNode(OpKind::kLayerNormalization, "ln",
                {tr->outputs[0], g.addConstant("ln_s", randomFloats({8}, rng, 0.5f, 1.5f)),
                 g.addConstant("ln_b", randomFloats({8}, rng))},
                {});
  ir::Node* mm = g.addNode(OpKind::kMatMul, "mm",
                           {ln->outputs[0], g.addConstant("wq", randomFloats({8, 6}, rng))}, {});
  ir::Node* sm = g.addNode(OpKind::kSoftmax, "sm", {mm->outputs[0]}, {});
  sm->outputs[0]->name = "probs";
  g.markOutput(sm->outputs[0]);
  ir::Node* rsum =
      g.addNode(OpKind::kReduceSum, "rsum",
                {mm->outputs[0], g.addConstant("axes", ir::TensorData::vectorInt64({2}))}, {});
  rsum->outputs[0]->name = "sums";
  g.markOutput(rsum->outputs[0]);
  g.markOutput(mm->outputs[0]);  // an output also read by later layers
  expectFp16MatchesFp32(g, rng);
}

// One allow-list op after a Conv (so its input is float16): the CPU must run it in float16 and
// agree with float32.
struct OpCase {
  const char* name;
  std::function<ir::Value*(ir::Graph&, ir::Value*, std::mt19937&)> build;  // h: [1,4,4,4], positive
};

ir::Value* unary(ir::Graph& g, OpKind op, ir::Value* h, ir::Attributes a = {}) {
  return g.addNode(op, std::string(ir::opName(op)) + "_node", {h}, std::move(a))->outputs[0];
}
ir::Value* binary(ir::Graph& g, OpKind op, ir::Value* h, std::mt19937& rng) {
  return g
      .addNode(op, std::string(ir::opName(op)) + "_node",
               {h, g.addConstant("k", randomFloats({4, 1, 1}, rng, 0.5f, 1.5f))}, {})
      ->outputs[0];
}

TEST(Fp16Precision, EveryAllowedOpRunsInHalfOnTheCpu) {
  using G = ir::Graph;
  using V = ir::Value;
  using R = std::mt19937;
  std::vector<OpCase> cases;
  for (OpKind op :
       {OpKind::kRelu,         OpKind::kLeakyRelu,  OpKind::kSigmoid,  OpKind::kTanh,
        OpKind::kHardSigmoid,  OpKind::kHardSwish,  OpKind::kGelu,     OpKind::kErf,
        OpKind::kElu,          OpKind::kSelu,       OpKind::kCelu,     OpKind::kMish,
        OpKind::kSoftplus,     OpKind::kSoftsign,   OpKind::kNeg,      OpKind::kAbs,
        OpKind::kSqrt,         OpKind::kReciprocal, OpKind::kIdentity, OpKind::kGlobalAveragePool,
        OpKind::kGlobalMaxPool}) {
    cases.push_back({ir::opName(op), [op](G& g, V* h, R&) { return unary(g, op, h); }});
  }
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kMax,
                    OpKind::kMin, OpKind::kSum, OpKind::kMean, OpKind::kPRelu}) {
    cases.push_back({ir::opName(op), [op](G& g, V* h, R& rng) { return binary(g, op, h, rng); }});
  }
  cases.push_back(
      {"Clip", [](G& g, V* h, R&) {
         float lo = 0.7f, hi = 1.5f;
         return g
             .addNode(OpKind::kClip, "clip",
                      {h, g.addConstant("lo", ir::TensorData::fromBytes(DataType::kFLOAT, {}, &lo)),
                       g.addConstant("hi", ir::TensorData::fromBytes(DataType::kFLOAT, {}, &hi))},
                      {})
             ->outputs[0];
       }});
  cases.push_back({"Where", [](G& g, V* h, R& rng) {
                     std::vector<uint8_t> m = {1, 0, 0, 1};
                     auto cond = ir::TensorData::fromBytes(DataType::kBOOL, {4, 1, 1}, m.data());
                     return g
                         .addNode(OpKind::kWhere, "where",
                                  {g.addConstant("cond", cond), h,
                                   g.addConstant("other", randomFloats({1}, rng))},
                                  {})
                         ->outputs[0];
                   }});
  cases.push_back({"MaxPool", [](G& g, V* h, R&) {
                     return unary(g, OpKind::kMaxPool, h, ints("kernel_shape", {2, 2}));
                   }});
  cases.push_back({"AveragePool", [](G& g, V* h, R&) {
                     return unary(g, OpKind::kAveragePool, h, ints("kernel_shape", {2, 2}));
                   }});
  cases.push_back({"BatchNormalization", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(OpKind::kBatchNormalization, "bn",
                                  {h, g.addConstant("s", randomFloats({4}, rng, 0.5f, 1.5f)),
                                   g.addConstant("b", randomFloats({4}, rng)),
                                   g.addConstant("m", randomFloats({4}, rng)),
                                   g.addConstant("v", randomFloats({4}, rng, 0.5f, 1.f))},
                                  {})
                         ->outputs[0];
                   }});
  cases.push_back({"LayerNormalization", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(OpKind::kLayerNormalization, "ln",
                                  {h, g.addConstant("s", randomFloats({4}, rng, 0.5f, 1.5f)),
                                   g.addConstant("b", randomFloats({4}, rng))},
                                  {})
                         ->outputs[0];
                   }});
  cases.push_back({"InstanceNormalization", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(OpKind::kInstanceNormalization, "in",
                                  {h, g.addConstant("s", randomFloats({4}, rng, 0.5f, 1.5f)),
                                   g.addConstant("b", randomFloats({4}, rng))},
                                  {})
                         ->outputs[0];
                   }});
  cases.push_back({"GroupNormalization", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(OpKind::kGroupNormalization, "gn",
                                  {h, g.addConstant("s", randomFloats({4}, rng, 0.5f, 1.5f)),
                                   g.addConstant("b", randomFloats({4}, rng))},
                                  oneInt("num_groups", 2))
                         ->outputs[0];
                   }});
  cases.push_back({"RMSNormalization", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(OpKind::kRMSNormalization, "rms",
                                  {h, g.addConstant("s", randomFloats({4}, rng, 0.5f, 1.5f))}, {})
                         ->outputs[0];
                   }});
  cases.push_back({"Softmax", [](G& g, V* h, R&) { return unary(g, OpKind::kSoftmax, h); }});
  cases.push_back({"LogSoftmax", [](G& g, V* h, R&) { return unary(g, OpKind::kLogSoftmax, h); }});
  cases.push_back({"Transpose", [](G& g, V* h, R&) {
                     return unary(g, OpKind::kTranspose, h, ints("perm", {0, 2, 3, 1}));
                   }});
  cases.push_back(
      {"Reshape", [](G& g, V* h, R&) {
         return g
             .addNode(OpKind::kReshape, "rs",
                      {h, g.addConstant("shape", ir::TensorData::vectorInt64({1, 16, 4}))}, {})
             ->outputs[0];
       }});
  cases.push_back({"Flatten", [](G& g, V* h, R&) { return unary(g, OpKind::kFlatten, h); }});
  cases.push_back({"Squeeze/Unsqueeze", [](G& g, V* h, R&) {
                     ir::Value* u =
                         g.addNode(OpKind::kUnsqueeze, "un",
                                   {h, g.addConstant("ax", ir::TensorData::vectorInt64({2}))}, {})
                             ->outputs[0];
                     return g
                         .addNode(OpKind::kSqueeze, "sq",
                                  {u, g.addConstant("ax2", ir::TensorData::vectorInt64({2}))}, {})
                         ->outputs[0];
                   }});
  cases.push_back({"Concat", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(OpKind::kConcat, "cat",
                                  {h, g.addConstant("c", randomFloats({1, 2, 4, 4}, rng))},
                                  oneInt("axis", 1))
                         ->outputs[0];
                   }});
  cases.push_back(
      {"Split", [](G& g, V* h, R&) {
         ir::Node* s = g.addNode(OpKind::kSplit, "split", {h}, oneInt("num_outputs", 2), 2);
         s->attrs.setInt("axis", 1);
         return g.addNode(OpKind::kSub, "d", {s->outputs[0], s->outputs[1]}, {})->outputs[0];
       }});
  cases.push_back({"Slice", [](G& g, V* h, R&) {
                     return g
                         .addNode(OpKind::kSlice, "sl",
                                  {h, g.addConstant("st", ir::TensorData::vectorInt64({1})),
                                   g.addConstant("en", ir::TensorData::vectorInt64({3})),
                                   g.addConstant("ax", ir::TensorData::vectorInt64({2}))},
                                  {})
                         ->outputs[0];
                   }});
  cases.push_back({"Gather", [](G& g, V* h, R&) {
                     return g
                         .addNode(OpKind::kGather, "ga",
                                  {h, g.addConstant("idx", ir::TensorData::vectorInt64({3, 0}))},
                                  oneInt("axis", 1))
                         ->outputs[0];
                   }});
  cases.push_back({"GatherElements", [](G& g, V* h, R&) {
                     std::vector<int64_t> idx(16);
                     for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i % 4);
                     return g
                         .addNode(
                             OpKind::kGatherElements, "ge",
                             {h, g.addConstant("idx", ir::TensorData::fromVector(
                                                          DataType::kINT64, {1, 4, 4, 1}, idx))},
                             oneInt("axis", 2))
                         ->outputs[0];
                   }});
  cases.push_back(
      {"Expand", [](G& g, V* h, R&) {
         return g
             .addNode(OpKind::kExpand, "ex",
                      {h, g.addConstant("shape", ir::TensorData::vectorInt64({2, 4, 4, 4}))}, {})
             ->outputs[0];
       }});
  cases.push_back(
      {"Tile", [](G& g, V* h, R&) {
         return g
             .addNode(OpKind::kTile, "ti",
                      {h, g.addConstant("rep", ir::TensorData::vectorInt64({1, 1, 2, 1}))}, {})
             ->outputs[0];
       }});
  cases.push_back(
      {"Pad", [](G& g, V* h, R&) {
         float cv = 0.5f;
         return g
             .addNode(
                 OpKind::kPad, "pad",
                 {h, g.addConstant("pads", ir::TensorData::vectorInt64({0, 0, 1, 1, 0, 0, 1, 1})),
                  g.addConstant("cv", ir::TensorData::fromBytes(DataType::kFLOAT, {}, &cv))},
                 {})
             ->outputs[0];
       }});
  cases.push_back({"Resize", [](G& g, V* h, R&) {
                     std::vector<float> scales = {1.f, 1.f, 2.f, 2.f};
                     ir::Attributes a;
                     a.setString("mode", "linear");
                     return g
                         .addNode(OpKind::kResize, "rz",
                                  {h, nullptr,
                                   g.addConstant("scales", ir::TensorData::fromVector(
                                                               DataType::kFLOAT, {4}, scales))},
                                  a)
                         ->outputs[0];
                   }});
  cases.push_back(
      {"DepthToSpace/SpaceToDepth", [](G& g, V* h, R&) {
         ir::Value* d =
             g.addNode(OpKind::kDepthToSpace, "d2s", {h}, oneInt("blocksize", 2))->outputs[0];
         return g.addNode(OpKind::kSpaceToDepth, "s2d", {d}, oneInt("blocksize", 2))->outputs[0];
       }});
  cases.push_back({"MatMul", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(OpKind::kMatMul, "mm",
                                  {h, g.addConstant("b", randomFloats({4, 3}, rng))}, {})
                         ->outputs[0];
                   }});
  cases.push_back({"Einsum", [](G& g, V* h, R& rng) {
                     ir::Attributes a;
                     a.setString("equation", "nchw,wk->nchk");
                     return g
                         .addNode(OpKind::kEinsum, "es",
                                  {h, g.addConstant("b", randomFloats({4, 3}, rng))}, a)
                         ->outputs[0];
                   }});
  cases.push_back({"ConvTranspose", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(
                             OpKind::kConvTranspose, "ct",
                             {h, g.addConstant("w", randomFloats({4, 2, 2, 2}, rng, -0.5f, 0.5f))},
                             ints("kernel_shape", {2, 2}))
                         ->outputs[0];
                   }});
  cases.push_back({"Attention", [](G& g, V* h, R&) {
                     return g.addNode(OpKind::kAttention, "att", {h, h, h}, {})->outputs[0];
                   }});
  cases.push_back({"FusedAttention", [](G& g, V* h, R&) {
                     // h [1, 4, 4, 4] read as BSHD [B, S, H, D] (4-D); Y BSHD 4-D.
                     ir::Attributes a;
                     for (const char* l : {"q_layout", "k_layout", "v_layout", "y_layout"})
                       a.setString(l, "BSHD");
                     a.setInt("q_num_heads", 4);
                     a.setInt("kv_num_heads", 4);
                     a.setFloat("scale", 0.5f);
                     a.setInt("y_rank", 4);
                     return g.addNode(OpKind::kFusedAttention, "fatt", {h, h, h}, a)->outputs[0];
                   }});
  cases.push_back({"RotaryEmbedding", [](G& g, V* h, R& rng) {
                     return g
                         .addNode(OpKind::kRotaryEmbedding, "rope",
                                  {h, g.addConstant("cos", randomFloats({1, 4, 2}, rng)),
                                   g.addConstant("sin", randomFloats({1, 4, 2}, rng))},
                                  {})
                         ->outputs[0];
                   }});
  cases.push_back({"Cast", [](G& g, V* h, R&) {
                     return unary(g, OpKind::kCast, h,
                                  oneInt("to", static_cast<int64_t>(DataType::kFLOAT)));
                   }});

  for (const OpCase& oc : cases) {
    SCOPED_TRACE(oc.name);
    std::mt19937 rng(7);
    ir::Graph g;
    ir::Value* x =
        g.addInput("x", DataType::kFLOAT, {DimExpr(1), DimExpr(3), DimExpr(4), DimExpr(4)});
    // A 1x1 conv with positive weights and bias: h in about [0.5, 2.5] (safe for Sqrt, Reciprocal).
    ir::Node* conv = g.addNode(OpKind::kConv, "conv",
                               {x, g.addConstant("cw", randomFloats({4, 3, 1, 1}, rng, 0.1f, 0.5f)),
                                g.addConstant("cb", randomFloats({4}, rng, 0.5f, 1.f))},
                               ints("kernel_shape", {1, 1}));
    ir::Value* out = oc.build(g, conv->outputs[0], rng);
    out->name = "y";
    g.markOutput(out);
    expectFp16MatchesFp32(g, rng, 1e-2, 0.f, 1.f);
    // The op itself ran in float16: its output was float16 before the final cast.
    auto half = g.clone();
    ASSERT_TRUE(runFp16(*half).isOk());
    const ir::Node* last = half->outputs()[0]->producer;
    ASSERT_EQ(last->op, OpKind::kCast);
    EXPECT_EQ(last->inputs[0]->dtype, DataType::kHALF);
  }
}

TEST(Fp16Precision, CastToFloatInsideHalfRegionBecomesCastToHalf) {
  std::mt19937 rng(8);
  ir::Graph g;
  ir::Value* x =
      g.addInput("x", DataType::kFLOAT, {DimExpr(1), DimExpr(2), DimExpr(3), DimExpr(3)});
  ir::Node* conv =
      g.addNode(OpKind::kConv, "conv", {x, g.addConstant("w", randomFloats({2, 2, 1, 1}, rng))},
                ints("kernel_shape", {1, 1}));
  ir::Node* cast = g.addNode(OpKind::kCast, "cast", {conv->outputs[0]},
                             oneInt("to", static_cast<int64_t>(DataType::kFLOAT)));
  ir::Node* relu = g.addNode(OpKind::kRelu, "relu", {cast->outputs[0]}, {});
  // A cast to int64 reads the float16 value directly (no detour through float32).
  ir::Node* toInt = g.addNode(OpKind::kCast, "to_int", {conv->outputs[0]},
                              oneInt("to", static_cast<int64_t>(DataType::kINT64)));
  g.markOutput(relu->outputs[0]);
  g.markOutput(toInt->outputs[0]);
  Status st = runFp16(g);
  ASSERT_TRUE(st.isOk()) << st.toString();
  SCOPED_TRACE(ir::graphToString(g));
  EXPECT_EQ(cast->attrs.getInt("to", -1), static_cast<int64_t>(DataType::kHALF));
  EXPECT_EQ(cast->inputs[0], conv->outputs[0]);
  EXPECT_EQ(cast->outputs[0]->dtype, DataType::kHALF);
  EXPECT_EQ(relu->outputs[0]->dtype, DataType::kHALF);
  EXPECT_EQ(toInt->inputs[0], conv->outputs[0]);
  EXPECT_EQ(toInt->attrs.getInt("to", -1), static_cast<int64_t>(DataType::kINT64));
  EXPECT_EQ(g.outputs()[0]->dtype, DataType::kFLOAT);
  EXPECT_EQ(g.outputs()[1]->dtype, DataType::kINT64);
  EXPECT_EQ(g.outputs()[1], toInt->outputs[0]);
}

TEST(Fp16Precision, ShapeSubgraphIsUnaffected) {
  // y = Reshape(conv(x), Concat(Gather(Shape(conv(x)), 0), [-1])) with a symbolic batch.
  std::mt19937 rng(9);
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT,
                            {DimExpr::symbol("batch"), DimExpr(2), DimExpr(3), DimExpr(3)});
  ir::Node* conv =
      g.addNode(OpKind::kConv, "conv", {x, g.addConstant("w", randomFloats({2, 2, 1, 1}, rng))},
                ints("kernel_shape", {1, 1}));
  ir::Node* shape = g.addNode(OpKind::kShape, "shape", {conv->outputs[0]}, {});
  ir::Value* idx = g.addConstant("idx", ir::TensorData::vectorInt64({0}));
  ir::Node* gather =
      g.addNode(OpKind::kGather, "gather", {shape->outputs[0], idx}, oneInt("axis", 0));
  ir::Value* rest = g.addConstant("rest", ir::TensorData::vectorInt64({-1}));
  ir::Node* cat = g.addNode(OpKind::kConcat, "cat", {gather->outputs[0], rest}, oneInt("axis", 0));
  ir::Node* rs = g.addNode(OpKind::kReshape, "rs", {conv->outputs[0], cat->outputs[0]}, {});
  rs->outputs[0]->name = "y";
  g.markOutput(rs->outputs[0]);
  Status st = runFp16(g);
  ASSERT_TRUE(st.isOk()) << st.toString();
  SCOPED_TRACE(ir::graphToString(g));
  EXPECT_EQ(shape->inputs[0], conv->outputs[0]);  // Shape reads any type: no cast
  EXPECT_EQ(gather->inputs[0], shape->outputs[0]);
  EXPECT_EQ(gather->inputs[1], idx);
  EXPECT_EQ(cat->inputs[0], gather->outputs[0]);
  EXPECT_EQ(cat->inputs[1], rest);
  EXPECT_EQ(rs->inputs[1], cat->outputs[0]);
  for (const ir::Node* n : {shape, gather, cat}) EXPECT_EQ(n->outputs[0]->dtype, DataType::kINT64);
  ASSERT_TRUE(cat->outputs[0]->shapeValue.has_value());  // still a known symbolic shape
  EXPECT_EQ(rs->inputs[0]->dtype, DataType::kHALF);
  EXPECT_EQ(ir::shapeToString(g.outputs()[0]->shape), "[batch,18]");
  EXPECT_EQ(g.outputs()[0]->dtype, DataType::kFLOAT);
  EXPECT_EQ(nodesOf(g, OpKind::kCast).size(), 2u);
}

TEST(Fp16Precision, SharedConstantKeepsFloatOriginalAndOverflowWarns) {
  // One constant read by a Conv (half) and by a Pow's exponent path (float): the Conv gets a
  // float16 copy, the float layer the original. A huge value overflows to inf with a warning.
  ir::Graph g;
  ir::Value* x =
      g.addInput("x", DataType::kFLOAT, {DimExpr(1), DimExpr(1), DimExpr(2), DimExpr(2)});
  float wv = 1e5f;
  ir::Value* w =
      g.addConstant("big_w", ir::TensorData::fromBytes(DataType::kFLOAT, {1, 1, 1, 1}, &wv));
  ir::Node* conv = g.addNode(OpKind::kConv, "conv", {x, w}, ints("kernel_shape", {1, 1}));
  ir::Node* conv2 = g.addNode(OpKind::kConv, "conv2", {x, w}, ints("kernel_shape", {1, 1}));
  ir::Node* ex = g.addNode(OpKind::kExp, "ex", {w}, {});
  g.markOutput(conv->outputs[0]);
  g.markOutput(conv2->outputs[0]);
  g.markOutput(ex->outputs[0]);
  CapturingLogger logger;
  Status st = runFp16(g, &logger);
  ASSERT_TRUE(st.isOk()) << st.toString();
  SCOPED_TRACE(ir::graphToString(g));
  EXPECT_EQ(ex->inputs[0], w);
  EXPECT_EQ(conv->inputs[1], conv2->inputs[1]);  // one shared float16 copy
  EXPECT_EQ(conv->inputs[0], conv2->inputs[0]);  // one shared cast of x
  EXPECT_EQ(conv->inputs[1]->dtype, DataType::kHALF);
  EXPECT_TRUE(std::isinf(static_cast<float>(conv->inputs[1]->constant->as<Half>()[0])));
  EXPECT_NE(logger.all().find("constant 'big_w'"), std::string::npos) << logger.all();
}

TEST(Fp16Precision, LayerPinnedToFloatStaysFloat) {
  std::mt19937 rng(10);
  ir::Graph g;
  ir::Value* x =
      g.addInput("x", DataType::kFLOAT, {DimExpr(1), DimExpr(2), DimExpr(3), DimExpr(3)});
  ir::Node* conv =
      g.addNode(OpKind::kConv, "conv", {x, g.addConstant("w", randomFloats({2, 2, 1, 1}, rng))},
                ints("kernel_shape", {1, 1}));
  conv->precision = DataType::kFLOAT;
  g.markOutput(conv->outputs[0]);
  CapturingLogger logger;
  Status st = runFp16(g, &logger);
  ASSERT_TRUE(st.isOk()) << st.toString();
  EXPECT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(conv->inputs[1]->dtype, DataType::kFLOAT);
  EXPECT_NE(logger.all().find("Conv (1 layer): kept in float32 (layer precision set to float32)"),
            std::string::npos)
      << logger.all();
}

// A layer pinned to float16 (--layerPrecisions=<layer>:fp16) runs in float16 even where its rule
// keeps it float32 (Pow) or has it follow float32 inputs (Relu after a network input).
TEST(Fp16Precision, LayerPinnedToHalfRunsInHalf) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, {DimExpr(2), DimExpr(3)});
  float two = 2.f;
  ir::Value* e = g.addConstant("two", ir::TensorData::fromBytes(DataType::kFLOAT, {}, &two));
  ir::Node* relu = g.addNode(OpKind::kRelu, "relu", {x}, {});
  ir::Node* pw = g.addNode(OpKind::kPow, "pow", {relu->outputs[0], e}, {});
  ir::Node* pw2 = g.addNode(OpKind::kPow, "pow2", {relu->outputs[0], e}, {});  // not pinned
  ir::Node* add = g.addNode(OpKind::kAdd, "add", {pw->outputs[0], pw2->outputs[0]}, {});
  g.markOutput(add->outputs[0]);
  relu->precision = DataType::kHALF;
  pw->precision = DataType::kHALF;
  CapturingLogger logger;
  Status st = runFp16(g, &logger);
  ASSERT_TRUE(st.isOk()) << st.toString();
  SCOPED_TRACE(ir::graphToString(g));
  EXPECT_EQ(relu->outputs[0]->dtype, DataType::kHALF);
  EXPECT_EQ(pw->outputs[0]->dtype, DataType::kHALF);
  EXPECT_EQ(pw2->outputs[0]->dtype, DataType::kFLOAT);  // its accuracy rule still holds
  EXPECT_EQ(add->outputs[0]->dtype, DataType::kHALF);   // follows the float16 Pow
  EXPECT_EQ(g.outputs()[0]->dtype, DataType::kFLOAT);   // the network output keeps its type
}

TEST(Fp16Precision, BuilderFlagBuildsAHalfEngineThatMatchesFloat32) {
  // Through the public API: the same network built with and without BuilderFlag::kFP16.
  std::mt19937 rng(11);
  std::vector<float> wts(4 * 3 * 9), bias(4);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (float& v : wts) v = u(rng);
  for (float& v : bias) v = u(rng);
  std::vector<float> x(2 * 3 * 6 * 5);
  for (float& v : x) v = u(rng);
  std::vector<std::vector<float>> results;
  for (bool fp16 : {false, true}) {
    CapturingLogger logger;
    auto builder = Builder::create(logger);
    auto net = builder->createNetwork();
    Tensor* in = net->addInput("x", DataType::kFLOAT, {2, 3, 6, 5});
    ConvolutionDesc cd;
    cd.padding = {1, 1};
    Layer* conv = net->addConvolution(
        *in, 4, {3, 3}, {DataType::kFLOAT, wts.data(), static_cast<int64_t>(wts.size())},
        {DataType::kFLOAT, bias.data(), 4}, cd);
    ASSERT_NE(conv, nullptr) << logger.all();
    Layer* relu = net->addActivation(*conv->getOutput(0), ActivationType::kRELU);
    Layer* pool = net->addGlobalPooling(*relu->getOutput(0), PoolingType::kAVERAGE);
    Layer* flat = net->addFlatten(*pool->getOutput(0), 1);
    Layer* sm = net->addSoftMax(*flat->getOutput(0), -1);
    sm->getOutput(0)->setName("probs");
    net->markOutput(*sm->getOutput(0));
    auto config = builder->createConfig();
    config->setDeviceType(DeviceType::kCPU);
    if (fp16) config->setFlag(BuilderFlag::kFP16);
    auto plan = builder->buildSerializedNetwork(*net, *config);
    ASSERT_NE(plan, nullptr) << builder->getLastError() << "\n" << logger.all();
    if (fp16) {
      EXPECT_NE(logger.all().find("layers run in float16"), std::string::npos) << logger.all();
    }
    auto runtime = Runtime::create(logger);
    auto engine = runtime->deserializeEngine(plan->data(), plan->size());
    ASSERT_NE(engine, nullptr) << runtime->getLastError();
    EXPECT_EQ(engine->getTensorDataType("x"), DataType::kFLOAT);
    EXPECT_EQ(engine->getTensorDataType("probs"), DataType::kFLOAT);
    auto ctx = engine->createExecutionContext();
    std::vector<float> y(8, std::nanf(""));
    ASSERT_TRUE(ctx->setTensorAddress("x", x.data()));
    ASSERT_TRUE(ctx->setTensorAddress("probs", y.data()));
    ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
    results.push_back(y);
  }
  for (size_t i = 0; i < results[0].size(); ++i)
    EXPECT_NEAR(results[1][i], results[0][i], 1e-2 * std::fabs(results[0][i]) + 1e-4) << i;
}

}  // namespace
}  // namespace kiln::opt
