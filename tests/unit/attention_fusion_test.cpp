// attention-fusion: (a) the layers (and the Attention's attributes) left after the optimizer on
// hand-built networks, including patterns that must not be rewritten; (b) numerical
// equivalence: each network is built with the pass disabled and enabled
// (BuilderConfig::setDisabledPasses) and both engines run on the CPU on the same random inputs.
// The unfused engine runs MatMul/Softmax in float32; the fused one runs the Attention kernel
// (double): the outputs must agree within 1e-5 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <set>

#include "api/network_impl.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/kiln.h"
#include "optimizer/pass_manager.h"
#include "pass_test_util.h"

namespace kiln {
namespace {

using namespace testing_passes;

constexpr const char* kPass = "attention-fusion";
// attention-layout (attention_layout_test.cpp) turns the Attention and its head split/merge
// Transposes into a FusedAttention: off here, so that these tests see the Attention.
constexpr const char* kLayoutPass = "attention-layout";

// Disabled vs enabled (testing_passes::expectEquivalent) for this pass.
void expectEquivalent(const NetFn& fn, int fewer) {
  testing_passes::expectEquivalent(fn, kPass, fewer, kTol, {11u, 97u}, {kLayoutPass});
}

// testing_passes::optimized / opsAfter with attention-layout off.
std::unique_ptr<ir::Graph> optimized(const NetFn& fn, std::set<std::string> disabled = {},
                                     int level = 3, std::string* verbose = nullptr) {
  disabled.insert(kLayoutPass);
  return testing_passes::optimized(fn, std::move(disabled), level, verbose);
}
std::multiset<std::string> opsAfter(const NetFn& fn, std::set<std::string> disabled = {}) {
  return opsOf(*optimized(fn, std::move(disabled)));
}

// ---- network builders
// ----------------------------------------------------------------------------

constexpr int64_t kB = 2, kS = 6, kH = 3, kD = 4;

enum class MaskKind { kNone, kInput, kConstant, kInputFirst, kLastDimOne };
enum class ScaleKind { kDivScores, kMulScores, kOnQAndK, kNone, kDynamic };

struct BertCfg {
  MaskKind mask = MaskKind::kInput;
  ScaleKind scale = ScaleKind::kDivScores;
  int64_t softmaxAxis = -1;
  bool scoresAlsoOutput = false;
  bool probsAlsoOutput = false;
  bool ktAsInput = false;  // Kt [B,H,D,S] is a network input, not a Transpose
  bool dropout = false;    // an inference Dropout (Identity) after the Softmax
};

// BERT-like self-attention: q, k, v [B, S, H*D] are split into heads by Reshape/Transpose
// (K straight to [B,H,D,S] with perm [0,2,3,1]), scores scaled and masked, Softmax, MatMul with
// V, heads merged back to [B, S, H*D].
NetFn bertLike(BertCfg c) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB, kS, kH * kD});
    Tensor* kk = c.ktAsInput ? nullptr : net.addInput("k", DataType::kFLOAT, {kB, kS, kH * kD});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kS, kH * kD});
    auto heads = [&](Tensor* x, std::vector<int64_t> perm) {
      Tensor* r = net.addReshape(*x, {kB, kS, kH, kD})->getOutput(0);
      return net.addTranspose(*r, perm)->getOutput(0);
    };
    Tensor* qh = heads(q, {0, 2, 1, 3});
    Tensor* kt = c.ktAsInput ? net.addInput("kt", DataType::kFLOAT, {kB, kH, kD, kS})
                             : heads(kk, {0, 2, 3, 1});
    Tensor* vh = heads(v, {0, 2, 1, 3});
    if (c.scale == ScaleKind::kOnQAndK) {
      // torch SDPA's export: both scaled by sqrt(1/sqrt(D)).
      const float f = static_cast<float>(std::sqrt(1.0 / std::sqrt(double(kD))));
      qh = op(net, "Mul", {qh, k.scalar(net, f)});
      kt = op(net, "Mul", {k.scalar(net, f), kt});
    }
    Tensor* s = op(net, "MatMul", {qh, kt});
    if (c.scale == ScaleKind::kDivScores)
      s = op(net, "Div", {s, k.scalar(net, std::sqrt(float(kD)))});
    if (c.scale == ScaleKind::kMulScores) s = op(net, "Mul", {k.add(net, {1}, {0.3f}), s});
    if (c.scale == ScaleKind::kDynamic)
      s = op(net, "Div", {s, net.addInput("d", DataType::kFLOAT, {1})});
    if (c.scoresAlsoOutput) net.markOutput(*s);
    Tensor* m = nullptr;
    switch (c.mask) {
      case MaskKind::kNone: break;
      case MaskKind::kInput:
      case MaskKind::kInputFirst: m = net.addInput("mask", DataType::kFLOAT, {kB, 1, 1, kS}); break;
      case MaskKind::kConstant: {
        // BERT's extended mask: -10000 for padding, plus one -inf entry; no row fully masked.
        std::vector<float> mv(kB * kS, 0.f);
        mv[kS - 1] = -10000.f;
        mv[kS - 2] = -10000.f;
        mv[kS + 1] = -std::numeric_limits<float>::infinity();
        m = k.add(net, {kB, 1, 1, kS}, mv);
        break;
      }
      case MaskKind::kLastDimOne: m = net.addInput("mask", DataType::kFLOAT, {kB, 1, kS, 1}); break;
    }
    if (m) s = c.mask == MaskKind::kInputFirst ? op(net, "Add", {m, s}) : op(net, "Add", {s, m});
    Tensor* p = net.addSoftMax(*s, c.softmaxAxis)->getOutput(0);
    if (c.probsAlsoOutput) net.markOutput(*p);
    if (c.dropout) p = net.addIdentity(*p)->getOutput(0);
    Tensor* o = op(net, "MatMul", {p, vh});
    o = net.addTranspose(*o, {0, 2, 1, 3})->getOutput(0);
    net.markOutput(*net.addReshape(*o, {kB, kS, kH * kD})->getOutput(0));
  };
}

// The layers of bertLike around the pattern: 3 head splits (Reshape + Transpose), the merge.
std::multiset<std::string> fusedBertOps() {
  return ops({"Reshape", "Reshape", "Reshape", "Transpose", "Transpose", "Transpose", "Attention",
              "Transpose", "Reshape"});
}

TEST(AttentionFusion, BertLikeBecomesOneAttention) {
  for (MaskKind mk : {MaskKind::kInput, MaskKind::kConstant, MaskKind::kInputFirst}) {
    SCOPED_TRACE(static_cast<int>(mk));
    BertCfg c;
    c.mask = mk;
    std::string verbose;
    std::unique_ptr<ir::Graph> g = optimized(bertLike(c), {}, 3, &verbose);
    EXPECT_EQ(opsOf(*g), fusedBertOps());
    EXPECT_NE(verbose.find("fused the decomposed attention"), std::string::npos) << verbose;
    const ir::Node* att = findOp(*g, ir::OpKind::kAttention);
    ASSERT_NE(att, nullptr);
    ASSERT_EQ(att->inputs.size(), 4u);
    EXPECT_FLOAT_EQ(att->attrs.getFloat("scale", -1.f), 0.5f);  // 1 / sqrt(4)
    EXPECT_EQ(att->attrs.getInt("is_causal", 0), 0);
    // K = Transpose(Reshape(k), [0,2,1,3]): the inserted Transpose composed with [0,2,3,1].
    const ir::Node* kt = att->inputs[1]->producer;
    ASSERT_NE(kt, nullptr);
    ASSERT_EQ(kt->op, ir::OpKind::kTranspose);
    EXPECT_EQ(kt->attrs.getInts("perm"), (std::vector<int64_t>{0, 2, 1, 3}));
    ASSERT_NE(kt->inputs[0]->producer, nullptr);
    EXPECT_EQ(kt->inputs[0]->producer->op, ir::OpKind::kReshape);
    // The mask goes in as it is.
    EXPECT_EQ(att->inputs[3]->shape.size(), 4u);
    // 5 pattern layers become 1 (the K Transposes compose into one).
    expectEquivalent(bertLike(c), 4);
  }
  BertCfg c;
  EXPECT_EQ(opsAfter(bertLike(c), {kPass}),
            ops({"Reshape", "Reshape", "Reshape", "Transpose", "Transpose", "Transpose", "MatMul",
                 "Div", "Add", "Softmax", "MatMul", "Transpose", "Reshape"}));
}

TEST(AttentionFusion, InferenceDropoutIsRemovedFirst) {
  // Dropout imports as Identity; identity-elimination (level 1) removes it before the fusion.
  BertCfg c;
  c.dropout = true;
  EXPECT_EQ(opsAfter(bertLike(c)), fusedBertOps());
  expectEquivalent(bertLike(c), 4);
}

TEST(AttentionFusion, VitLikeMulScaleNoMask) {
  BertCfg c;
  c.mask = MaskKind::kNone;
  c.scale = ScaleKind::kMulScores;
  std::unique_ptr<ir::Graph> g = optimized(bertLike(c));
  EXPECT_EQ(opsOf(*g), fusedBertOps());
  const ir::Node* att = findOp(*g, ir::OpKind::kAttention);
  ASSERT_NE(att, nullptr);
  EXPECT_EQ(att->inputs.size(), 3u);
  EXPECT_FLOAT_EQ(att->attrs.getFloat("scale", -1.f), 0.3f);
  expectEquivalent(bertLike(c), 3);
}

TEST(AttentionFusion, ScaleOnQAndKIsFolded) {
  BertCfg c;
  c.scale = ScaleKind::kOnQAndK;
  std::unique_ptr<ir::Graph> g = optimized(bertLike(c));
  EXPECT_EQ(opsOf(*g), fusedBertOps());
  const ir::Node* att = findOp(*g, ir::OpKind::kAttention);
  ASSERT_NE(att, nullptr);
  EXPECT_NEAR(att->attrs.getFloat("scale", -1.f), 0.5f, 1e-6);
  // MatMul, Mul, Mul, Add, Softmax, MatMul -> Attention.
  expectEquivalent(bertLike(c), 5);
}

TEST(AttentionFusion, NoScaleAnywhereMeansScaleOne) {
  // Attention's default scale would be 1/sqrt(D): the pass must set 1 explicitly.
  BertCfg c;
  c.scale = ScaleKind::kNone;
  std::unique_ptr<ir::Graph> g = optimized(bertLike(c));
  const ir::Node* att = findOp(*g, ir::OpKind::kAttention);
  ASSERT_NE(att, nullptr);
  ASSERT_TRUE(att->attrs.has("scale"));
  EXPECT_EQ(att->attrs.getFloat("scale", -1.f), 1.0f);
  expectEquivalent(bertLike(c), 3);
}

TEST(AttentionFusion, KtFromAnyProducerGetsATranspose) {
  BertCfg c;
  c.ktAsInput = true;
  std::unique_ptr<ir::Graph> g = optimized(bertLike(c));
  const ir::Node* att = findOp(*g, ir::OpKind::kAttention);
  ASSERT_NE(att, nullptr);
  const ir::Node* kt = att->inputs[1]->producer;
  ASSERT_NE(kt, nullptr);
  ASSERT_EQ(kt->op, ir::OpKind::kTranspose);
  EXPECT_EQ(kt->attrs.getInts("perm"), (std::vector<int64_t>{0, 1, 3, 2}));
  EXPECT_TRUE(kt->inputs[0]->isGraphInput);
  // MatMul, Div, Add, Softmax, MatMul -> Transpose + Attention.
  expectEquivalent(bertLike(c), 3);
}

TEST(AttentionFusion, NotFusedWhenUnsafe) {
  auto notFused = [&](const BertCfg& c, const char* what) {
    std::multiset<std::string> after = opsAfter(bertLike(c));
    EXPECT_EQ(after.count("Attention"), 0u) << what;
    EXPECT_EQ(after.count("Softmax"), 1u) << what;
    EXPECT_EQ(after.count("MatMul"), 2u) << what;
  };
  BertCfg c;
  c.softmaxAxis = 2;
  notFused(c, "Softmax over the query axis");
  c = BertCfg{};
  c.softmaxAxis = 1;
  notFused(c, "Softmax over the head axis");
  c = BertCfg{};
  c.scoresAlsoOutput = true;
  notFused(c, "the scaled scores are a network output");
  c = BertCfg{};
  c.probsAlsoOutput = true;
  notFused(c, "the probabilities are a network output");
  c = BertCfg{};
  c.scale = ScaleKind::kDynamic;
  notFused(c, "the scale is a network input");
  c = BertCfg{};
  c.mask = MaskKind::kLastDimOne;
  notFused(c, "a mask broadcast along the keys (Attention pads, it does not broadcast)");
  // The softmax axis written as 3 is the last axis: fused.
  c = BertCfg{};
  c.softmaxAxis = 3;
  EXPECT_EQ(opsAfter(bertLike(c)), fusedBertOps());
}

TEST(AttentionFusion, ScoresWithASecondReaderStay) {
  // The raw scores are also read by a Relu that is an output: the pattern is not rewritten.
  NetFn fn = [](NetworkDefinition& net) {
    Consts k;
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* kt = net.addInput("kt", DataType::kFLOAT, {kB, kH, kD, kS});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* s = op(net, "MatMul", {q, kt});
    net.markOutput(*net.addActivation(*s, ActivationType::kRELU)->getOutput(0));
    s = op(net, "Div", {s, k.scalar(net, 2.f)});
    Tensor* p = net.addSoftMax(*s, -1)->getOutput(0);
    net.markOutput(*op(net, "MatMul", {p, v}));
  };
  EXPECT_EQ(opsAfter(fn), ops({"MatMul", "Relu", "Div", "Softmax", "MatMul"}));
}

TEST(AttentionFusion, ThreeDScoresStay) {
  // [B*H, S, D] attention (3-D MatMuls): not the 4-D pattern.
  NetFn fn = [](NetworkDefinition& net) {
    Consts k;
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB * kH, kS, kD});
    Tensor* kt = net.addInput("kt", DataType::kFLOAT, {kB * kH, kD, kS});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB * kH, kS, kD});
    Tensor* s = op(net, "Div", {op(net, "MatMul", {q, kt}), k.scalar(net, 2.f)});
    Tensor* p = net.addSoftMax(*s, -1)->getOutput(0);
    net.markOutput(*op(net, "MatMul", {p, v}));
  };
  EXPECT_EQ(opsAfter(fn), ops({"MatMul", "Div", "Softmax", "MatMul"}));
}

TEST(AttentionFusion, BroadcastingMatMulStays) {
  // K and V shared by every head through MatMul broadcasting ([B,1,D,S]): left alone.
  NetFn fn = [](NetworkDefinition& net) {
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* kt = net.addInput("kt", DataType::kFLOAT, {kB, 1, kD, kS});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, 1, kS, kD});
    Tensor* p = net.addSoftMax(*op(net, "MatMul", {q, kt}), -1)->getOutput(0);
    net.markOutput(*op(net, "MatMul", {p, v}));
  };
  EXPECT_EQ(opsAfter(fn), ops({"MatMul", "Softmax", "MatMul"}));
}

// ---- causal Where (GPT-2) -----------------------------------------------------------------------

enum class CondKind { kTril, kTrilSliced, kUpper, kNotSquare };

// GPT-2-like: scores = Where(cond, Div(QK^T, sqrt D), fill), Softmax, MatMul with V. The
// condition is a constant [1,1,S,S] (or a Slice of a larger constant), fill float32's lowest.
NetFn gpt2Like(CondKind ck, float fill) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* kt = net.addInput("kt", DataType::kFLOAT, {kB, kH, kD, kS});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kH, kS, kD});
    const int64_t n = ck == CondKind::kTrilSliced ? kS + 3 : kS;
    std::vector<uint8_t> tri(static_cast<size_t>(n * n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        tri[static_cast<size_t>(i * n + j)] = ck == CondKind::kUpper ? j >= i : j <= i;
    Tensor* cond = k.boolean(net, {1, 1, n, n}, tri);
    if (ck == CondKind::kTrilSliced)
      cond = net.addSlice(*cond, {0, 0}, {kS, kS}, {2, 3})->getOutput(0);
    Tensor* s = op(net, "Div", {op(net, "MatMul", {q, kt}), k.scalar(net, 2.f)});
    s = net.addSelect(*cond, *s, *k.scalar(net, fill))->getOutput(0);
    Tensor* p = net.addSoftMax(*s, -1)->getOutput(0);
    net.markOutput(*op(net, "MatMul", {p, v}));
  };
}

TEST(AttentionFusion, CausalWhereBecomesIsCausal) {
  const float lowest = std::numeric_limits<float>::lowest();
  for (CondKind ck : {CondKind::kTril, CondKind::kTrilSliced}) {
    for (float fill : {lowest, -std::numeric_limits<float>::infinity()}) {
      SCOPED_TRACE(static_cast<int>(ck));
      std::unique_ptr<ir::Graph> g = optimized(gpt2Like(ck, fill));
      EXPECT_EQ(opsOf(*g), ops({"Transpose", "Attention"}));
      const ir::Node* att = findOp(*g, ir::OpKind::kAttention);
      ASSERT_NE(att, nullptr);
      EXPECT_EQ(att->inputs.size(), 3u);
      EXPECT_EQ(att->attrs.getInt("is_causal", 0), 1);
      EXPECT_FLOAT_EQ(att->attrs.getFloat("scale", -1.f), 0.5f);
      // MatMul, Div, Where, Softmax, MatMul -> Transpose + Attention.
      expectEquivalent(gpt2Like(ck, fill), 3);
    }
  }
  // Not causal: the upper triangle; a fill that does not vanish in exp.
  EXPECT_EQ(opsAfter(gpt2Like(CondKind::kUpper, lowest)).count("Attention"), 0u);
  EXPECT_EQ(opsAfter(gpt2Like(CondKind::kTril, -100.f)).count("Attention"), 0u);
}

TEST(AttentionFusion, DynamicSeqCausalSlice) {
  // GPT-2's export: Slice(tril [1,1,N,N], 0, [seq, seq], axes [2,3]) with seq read from the
  // input's shape; batch and seq dynamic.
  NetFn fn = [](NetworkDefinition& net) {
    Consts k;
    const int64_t n = 16;
    Tensor* q = net.addInput("q", DataType::kFLOAT, {-1, kH, -1, kD}, {"batch", "", "seq", ""});
    Tensor* kt = net.addInput("kt", DataType::kFLOAT, {-1, kH, kD, -1}, {"batch", "", "", "seq"});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {-1, kH, -1, kD}, {"batch", "", "seq", ""});
    std::vector<uint8_t> tri(static_cast<size_t>(n * n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) tri[static_cast<size_t>(i * n + j)] = j <= i;
    Tensor* cond = k.boolean(net, {1, 1, n, n}, tri);
    Tensor* shape = net.addShape(*q)->getOutput(0);
    int64_t two[] = {2, 2};
    Tensor* idx = net.addConstant({2}, Weights{DataType::kINT64, two, 2});
    Tensor* ends = net.addGather(*shape, *idx, 0)->getOutput(0);
    int64_t zeros[] = {0, 0}, axes[] = {2, 3};
    Tensor* st = net.addConstant({2}, Weights{DataType::kINT64, zeros, 2});
    Tensor* ax = net.addConstant({2}, Weights{DataType::kINT64, axes, 2});
    cond = op(net, "Slice", {cond, st, ends, ax});
    Tensor* s = op(net, "Mul", {op(net, "MatMul", {q, kt}), k.scalar(net, 0.5f)});
    s = net.addSelect(*cond, *s, *k.scalar(net, std::numeric_limits<float>::lowest()))
            ->getOutput(0);
    Tensor* p = net.addSoftMax(*s, -1)->getOutput(0);
    net.markOutput(*op(net, "MatMul", {p, v}));
  };
  std::unique_ptr<ir::Graph> g = optimized(fn);
  const ir::Node* att = findOp(*g, ir::OpKind::kAttention);
  ASSERT_NE(att, nullptr);
  EXPECT_EQ(att->attrs.getInt("is_causal", 0), 1);
  EXPECT_EQ(opsOf(*g).count("Softmax"), 0u);
  EXPECT_EQ(opsOf(*g).count("Slice"), 0u);  // the mask computation is dead now
}

TEST(AttentionFusion, Fp16BuildRunsTheFusedAttentionInHalf) {
  // The fp16 pass (after the fusion passes) makes the Attention a float16 layer, its mask too;
  // the engine agrees with the unfused float32 one to float16 accuracy.
  BertCfg c;
  std::unique_ptr<ir::Graph> g = optimized(bertLike(c));
  opt::PassContext ctx;
  ctx.fp16 = true;
  StatusOr<bool> changed = opt::fp16PrecisionPass(*g, ctx);
  ASSERT_TRUE(changed.isOk()) << changed.status().toString();
  EXPECT_TRUE(*changed);
  ASSERT_TRUE(ir::inferGraphInPlace(*g).isOk());
  const ir::Node* att = findOp(*g, ir::OpKind::kAttention);
  ASSERT_NE(att, nullptr);
  for (const ir::Value* in : att->inputs) EXPECT_EQ(in->dtype, DataType::kHALF) << in->name;
  EXPECT_EQ(att->outputs[0]->dtype, DataType::kHALF);
  RunResult ref = buildAndRun(bertLike(c), {kPass}, 5);
  RunResult half = buildAndRun(bertLike(c), {}, 5, true);
  ASSERT_EQ(ref.outputs.size(), 1u);
  ASSERT_EQ(half.outputs.size(), 1u);
  EXPECT_LE(relError(half.outputs[0], ref.outputs[0]), 1e-2);
  EXPECT_GT(relError(half.outputs[0], ref.outputs[0]), 0.0);  // it did run in float16
}

// ---- the pass table
// ------------------------------------------------------------------------------

TEST(AttentionFusion, TableLevelAndOrder) {
  const std::vector<opt::PassInfo>& passes = opt::allPasses();
  int gelu = -1, att = -1, trc = -1;
  for (size_t i = 0; i < passes.size(); ++i) {
    const std::string name = passes[i].name;
    if (name == "gelu-fusion") gelu = static_cast<int>(i);
    if (name == kPass) {
      att = static_cast<int>(i);
      EXPECT_EQ(passes[i].minLevel, 2);
    }
    if (name == "transpose-reshape-cancellation") trc = static_cast<int>(i);
  }
  ASSERT_GE(att, 0);
  EXPECT_LT(gelu, att);
  EXPECT_LT(att, trc);  // so that the inserted K Transpose composes in the same round
  EXPECT_TRUE(opt::checkPassNames({kPass}).isOk());
  // Level 1 leaves the pattern alone.
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  bertLike(BertCfg{})(*net);
  std::unique_ptr<ir::Graph> g = net->impl().graph->clone();
  ASSERT_TRUE(ir::inferGraphInPlace(*g).isOk());
  opt::PassContext ctx;
  ctx.optimizationLevel = 1;
  ASSERT_TRUE(opt::runPasses(*g, ctx).isOk());
  EXPECT_EQ(findOp(*g, ir::OpKind::kAttention), nullptr);
}

}  // namespace
}  // namespace kiln
