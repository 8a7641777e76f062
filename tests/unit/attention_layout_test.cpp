// attention-layout: (a) the layers (and the FusedAttention's attributes) left after the optimizer
// on hand-built networks (BERT-like BSHD, ViT-like SBHD, BHSD, mixed, GQA, masks, causal),
// including chains that must not be folded; (b) numerical equivalence: each network is built with
// the pass disabled and enabled and both engines (serialized plans, deserialized) run on the CPU
// on the same random inputs: the Attention kernel on Transposed operands against the
// FusedAttention kernel reading them through strides, within 1e-5 relative; (c) float16 builds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <string>

#include "api/network_impl.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/kiln.h"
#include "optimizer/pass_manager.h"
#include "pass_test_util.h"

namespace kiln {
namespace {

using namespace testing_passes;

constexpr const char* kPass = "attention-layout";

constexpr int64_t kB = 2, kS = 5, kH = 3, kD = 4;

void named(Layer* l, const char* name) { l->setName(name); }

// BERT-like decomposed attention (HF eager): q/k/v [B, S, H*D] split by Reshape [B,S,H,D] +
// Transpose ([0,2,1,3]; K [0,2,3,1]); Div by sqrt(D), an additive mask [B,1,1,S] (input),
// Softmax, MatMul with V; merge Transpose [0,2,1,3] + Reshape [B, S, H*D].
NetFn bertLike(bool dynamicBatch = false) {
  return [=](NetworkDefinition& net) {
    Consts k;
    const int64_t b = dynamicBatch ? -1 : kB;
    auto in = [&](const char* n) {
      return dynamicBatch ? net.addInput(n, DataType::kFLOAT, {b, kS, kH * kD}, {"batch", "", ""})
                          : net.addInput(n, DataType::kFLOAT, {b, kS, kH * kD});
    };
    Tensor* q = in("q");
    Tensor* kk = in("k");
    Tensor* v = in("v");
    auto heads = [&](Tensor* x, std::vector<int64_t> perm, const char* n) {
      Tensor* r = net.addReshape(*x, {b == -1 ? 0 : b, kS, kH, kD})->getOutput(0);
      Layer* t = net.addTranspose(*r, perm);
      named(t, n);
      return t->getOutput(0);
    };
    Tensor* qh = heads(q, {0, 2, 1, 3}, "q_split");
    Tensor* kt = heads(kk, {0, 2, 3, 1}, "k_split");
    Tensor* vh = heads(v, {0, 2, 1, 3}, "v_split");
    Tensor* s = op(net, "MatMul", {qh, kt});
    s = op(net, "Div", {s, k.scalar(net, std::sqrt(float(kD)))});
    Tensor* m = dynamicBatch
                    ? net.addInput("mask", DataType::kFLOAT, {b, 1, 1, kS}, {"batch", "", "", ""})
                    : net.addInput("mask", DataType::kFLOAT, {b, 1, 1, kS});
    s = op(net, "Add", {s, m});
    Tensor* p = net.addSoftMax(*s, -1)->getOutput(0);
    Tensor* o = op(net, "MatMul", {p, vh});
    Layer* merge = net.addTranspose(*o, {0, 2, 1, 3});
    named(merge, "merge");
    net.markOutput(
        *net.addReshape(*merge->getOutput(0), {b == -1 ? 0 : b, kS, kH * kD})->getOutput(0));
  };
}

// torchvision ViT (F.multi_head_attention_forward, need_weights=False): seq-first [S, B, E];
// q.view(S, B*H, D).transpose(0, 1).view(B, H, S, D) (K the same, then K^T for the MatMul);
// scores scaled by a Mul; the output permute(2, 0, 1, 3).view(S*B, E).
NetFn vitLike() {
  return [=](NetworkDefinition& net) {
    Consts k;
    auto heads = [&](const char* n) {
      Tensor* x = net.addInput(n, DataType::kFLOAT, {kS, kB, kH * kD});
      Tensor* r = net.addReshape(*x, {kS, kB * kH, kD})->getOutput(0);
      Tensor* t = net.addTranspose(*r, {1, 0, 2})->getOutput(0);
      return net.addReshape(*t, {kB, kH, kS, kD})->getOutput(0);
    };
    Tensor* q = heads("q");
    Tensor* kk = heads("k");
    Tensor* v = heads("v");
    Tensor* kt = net.addTranspose(*kk, {0, 1, 3, 2})->getOutput(0);
    Tensor* s = op(net, "Mul", {op(net, "MatMul", {q, kt}), k.scalar(net, 0.5f)});
    Tensor* p = net.addSoftMax(*s, -1)->getOutput(0);
    Tensor* o = op(net, "MatMul", {p, v});
    o = net.addTranspose(*o, {2, 0, 1, 3})->getOutput(0);
    net.markOutput(*net.addReshape(*o, {kS * kB, kH * kD})->getOutput(0));
  };
}

// An ONNX Attention (4-D) built directly: the operands and the output through the given
// builders. GQA when hkv < hq.
struct AttnNet {
  int64_t hq = kH, hkv = kH, dv = kD;
  bool causal = false;
  int mask = 0;  // 0 none, 1 constant bool [S, S], 2 float input [B, hq, S, S]
};

// Q/K/V from [B, S, heads*d] inputs through Reshape + Transpose [0,2,1,3]; Y merged back.
NetFn bshdAttention(AttnNet c) {
  return [=](NetworkDefinition& net) {
    Consts k;
    auto heads = [&](const char* n, int64_t h, int64_t d) {
      Tensor* x = net.addInput(n, DataType::kFLOAT, {kB, kS, h * d});
      Tensor* r = net.addReshape(*x, {kB, kS, h, d})->getOutput(0);
      return net.addTranspose(*r, {0, 2, 1, 3})->getOutput(0);
    };
    std::vector<Tensor*> ins = {heads("q", c.hq, kD), heads("k", c.hkv, kD),
                                heads("v", c.hkv, c.dv)};
    if (c.mask == 1) {
      std::vector<uint8_t> m(static_cast<size_t>(kS * kS));
      for (size_t i = 0; i < m.size(); ++i) m[i] = (i * 7 + 2) % 4 != 0;
      m[0] = 1;
      ins.push_back(k.boolean(net, {kS, kS}, m));
    }
    if (c.mask == 2) ins.push_back(net.addInput("mask", DataType::kFLOAT, {kB, c.hq, kS, kS}));
    std::vector<Attribute> attrs = {{"scale", 0.4f}};
    if (c.causal) attrs.push_back({"is_causal", int64_t{1}});
    Tensor* y = net.addOp("Attention", ins, attrs)->getOutput(0);
    y = net.addTranspose(*y, {0, 2, 1, 3})->getOutput(0);
    net.markOutput(*net.addReshape(*y, {kB, kS, c.hq * c.dv})->getOutput(0));
  };
}

const ir::Node* fusedOf(const ir::Graph& g) { return onlyNode(g, ir::OpKind::kFusedAttention); }

void expectLayouts(const ir::Node* f, const char* q, const char* k, const char* v, const char* y,
                   int64_t yRank) {
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->attrs.getString("q_layout", ""), q);
  EXPECT_EQ(f->attrs.getString("k_layout", ""), k);
  EXPECT_EQ(f->attrs.getString("v_layout", ""), v);
  EXPECT_EQ(f->attrs.getString("y_layout", ""), y);
  EXPECT_EQ(f->attrs.getInt("y_rank", 0), yRank);
}

TEST(AttentionLayout, BertLikeBecomesOneFusedAttention) {
  std::string verbose;
  std::unique_ptr<ir::Graph> g = optimized(bertLike(), {}, 3, &verbose);
  EXPECT_EQ(opsOf(*g), ops({"FusedAttention"}));
  EXPECT_NE(verbose.find("Transpose layer(s) into FusedAttention"), std::string::npos) << verbose;
  const ir::Node* f = fusedOf(*g);
  expectLayouts(f, "BSHD", "BSHD", "BSHD", "BSHD", 3);
  ASSERT_EQ(f->inputs.size(), 4u);
  EXPECT_TRUE(f->inputs[0]->isGraphInput);
  EXPECT_EQ(f->inputs[0]->name, "q");
  EXPECT_EQ(f->inputs[1]->name, "k");
  EXPECT_EQ(f->inputs[2]->name, "v");
  EXPECT_EQ(f->inputs[3]->name, "mask");
  EXPECT_TRUE(f->outputs[0]->isGraphOutput);
  EXPECT_EQ(f->attrs.getInt("q_num_heads", 0), kH);
  EXPECT_EQ(f->attrs.getInt("kv_num_heads", 0), kH);
  EXPECT_FLOAT_EQ(f->attrs.getFloat("scale", -1.f), 0.5f);
  EXPECT_EQ(f->attrs.getInt("is_causal", -1), 0);
  // fused_nodes: the Attention's own list (its MatMuls, Softmax...) and the removed Transposes.
  const std::string fused = f->attrs.getString("fused_nodes", "");
  for (const char* n : {"q_split", "k_split", "v_split", "merge", "Softmax"})
    EXPECT_NE(fused.find(n), std::string::npos) << n << " in " << fused;
  // 3 Reshape + 3 Transpose + Attention + Transpose + Reshape -> FusedAttention.
  expectEquivalent(bertLike(), kPass, 8);
  // The pass disabled: the Attention and its Transposes stay.
  EXPECT_EQ(opsAfter(bertLike(), {kPass}),
            ops({"Reshape", "Reshape", "Reshape", "Transpose", "Transpose", "Transpose",
                 "Attention", "Transpose", "Reshape"}));
}

TEST(AttentionLayout, VitLikeSeqFirstBecomesSbhd) {
  std::unique_ptr<ir::Graph> g = optimized(vitLike());
  // Z = [S*B, E] is not 3-D [S, B, E]: a Reshape (a free view) after the FusedAttention.
  EXPECT_EQ(opsOf(*g), ops({"FusedAttention", "Reshape"}));
  const ir::Node* f = fusedOf(*g);
  expectLayouts(f, "SBHD", "SBHD", "SBHD", "SBHD", 3);
  EXPECT_EQ(f->inputs[0]->name, "q");
  EXPECT_EQ(ir::shapeToString(f->outputs[0]->shape), ir::shapeToString(ir::Shape{kS, kB, kH * kD}));
  EXPECT_FLOAT_EQ(f->attrs.getFloat("scale", -1.f), 0.5f);
  // fused_nodes names each removed layer once (the inserted K Transpose repeated the
  // Attention's list); the Reshape after it (a view) names none.
  const std::string fused = f->attrs.getString("fused_nodes", "");
  EXPECT_EQ(fused.find("Softmax"), fused.rfind("Softmax")) << fused;
  EXPECT_NE(fused.find("Transpose"), std::string::npos) << fused;
  const ir::Node* after = onlyNode(*g, ir::OpKind::kReshape);
  ASSERT_NE(after, nullptr);
  EXPECT_FALSE(after->attrs.has("fused_nodes"));
  EXPECT_TRUE(after->attrs.all().empty());
  // Off: 3 x (Reshape, Transpose, Reshape) + Attention + Transpose + Reshape = 12 layers.
  expectEquivalent(vitLike(), kPass, 10);
}

TEST(AttentionLayout, BhsdAndMixedLayouts) {
  // Q = Reshape(q [B*H, S, D]) (BHSD; fed through a Reshape to [B,H,S,D]), K = Transpose of a
  // [B, S, H, D] input (BSHD 4-D), V = two Transposes that cancel (BHSD), Y straight out (BHSD).
  NetFn fn = [](NetworkDefinition& net) {
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB * kH, kS, kD});
    Tensor* k = net.addInput("k", DataType::kFLOAT, {kB, kS, kH, kD});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* q4 = net.addReshape(*q, {kB, kH, kS, kD})->getOutput(0);
    Tensor* k4 = net.addTranspose(*k, {0, 2, 1, 3})->getOutput(0);
    Tensor* v4 = net.addTranspose(*net.addTranspose(*v, {0, 2, 1, 3})->getOutput(0), {0, 2, 1, 3})
                     ->getOutput(0);
    std::vector<Tensor*> ins = {q4, k4, v4};
    net.markOutput(*net.addOp("Attention", ins, {{"scale", 0.3f}})->getOutput(0));
  };
  std::unique_ptr<ir::Graph> g = optimized(fn);
  EXPECT_EQ(opsOf(*g), ops({"Reshape", "FusedAttention"}));
  const ir::Node* f = fusedOf(*g);
  expectLayouts(f, "BHSD", "BSHD", "BHSD", "BHSD", 4);
  EXPECT_EQ(f->inputs[1]->name, "k");
  EXPECT_EQ(f->inputs[2]->name, "v");
  EXPECT_TRUE(f->outputs[0]->isGraphOutput);
  // Off: Reshape, Transpose, Attention (V's Transposes cancel either way).
  expectEquivalent(fn, kPass, 1);
}

TEST(AttentionLayout, GqaMasksCausal) {
  for (int mask = 0; mask < 3; ++mask)
    for (bool causal : {false, true}) {
      SCOPED_TRACE(std::to_string(mask) + (causal ? " causal" : ""));
      AttnNet c;
      c.hq = 4, c.hkv = 2, c.dv = 3, c.mask = mask, c.causal = causal;
      std::unique_ptr<ir::Graph> g = optimized(bshdAttention(c));
      EXPECT_EQ(opsOf(*g), ops({"FusedAttention"}));
      const ir::Node* f = fusedOf(*g);
      expectLayouts(f, "BSHD", "BSHD", "BSHD", "BSHD", 3);
      EXPECT_EQ(f->attrs.getInt("q_num_heads", 0), 4);
      EXPECT_EQ(f->attrs.getInt("kv_num_heads", 0), 2);
      EXPECT_EQ(f->attrs.getInt("is_causal", -1), causal ? 1 : 0);
      EXPECT_FLOAT_EQ(f->attrs.getFloat("scale", -1.f), 0.4f);
      EXPECT_EQ(f->inputs.size(), mask ? 4u : 3u);
      // 3 x (Reshape, Transpose) + Attention + Transpose + Reshape -> FusedAttention.
      expectEquivalent(bshdAttention(c), kPass, 8);
    }
}

TEST(AttentionLayout, DefaultScaleIsOneOverSqrtD) {
  NetFn fn = [](NetworkDefinition& net) {
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB, kS, kH, kD});
    Tensor* k = net.addInput("k", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kH, kS, kD});
    std::vector<Tensor*> ins = {net.addTranspose(*q, {0, 2, 1, 3})->getOutput(0), k, v};
    net.markOutput(*net.addOp("Attention", ins)->getOutput(0));
  };
  const auto g = optimized(fn);  // keep the graph alive while its node is inspected
  const ir::Node* f = fusedOf(*g);
  ASSERT_NE(f, nullptr);
  EXPECT_FLOAT_EQ(f->attrs.getFloat("scale", -1.f), 0.5f);  // 1/sqrt(4)
  expectLayouts(f, "BSHD", "BHSD", "BHSD", "BHSD", 4);
  expectEquivalent(fn, kPass, 1);
}

TEST(AttentionLayout, NonViewChainsAreLeftAlone) {
  // Q = Transpose(q [B, H, D, S], [0,1,3,2]) moves D: no layout; nothing else to fold.
  NetFn movesD = [](NetworkDefinition& net) {
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB, kH, kD, kS});
    Tensor* k = net.addInput("k", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kH, kS, kD});
    std::vector<Tensor*> ins = {net.addTranspose(*q, {0, 1, 3, 2})->getOutput(0), k, v};
    net.markOutput(*net.addOp("Attention", ins, {{"scale", 0.5f}})->getOutput(0));
  };
  EXPECT_EQ(opsAfter(movesD), ops({"Transpose", "Attention"}));
  // Q: [S, B, E] -Transpose-> [B, S, E] -Reshape-> [B*S, E] -Reshape-> [B,S,H,D] -Transpose->.
  // Merging B and S of the transposed tensor is not a view: the walk stops at the Transpose's
  // output (BSHD), which stays.
  NetFn notView = [](NetworkDefinition& net) {
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kS, kB, kH * kD});
    Tensor* k = net.addInput("k", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kH, kS, kD});
    Layer* t = net.addTranspose(*q, {1, 0, 2});
    named(t, "seq_to_batch");
    Tensor* r = net.addReshape(*t->getOutput(0), {kB * kS, kH * kD})->getOutput(0);
    r = net.addReshape(*r, {kB, kS, kH, kD})->getOutput(0);
    std::vector<Tensor*> ins = {net.addTranspose(*r, {0, 2, 1, 3})->getOutput(0), k, v};
    net.markOutput(*net.addOp("Attention", ins, {{"scale", 0.5f}})->getOutput(0));
  };
  std::unique_ptr<ir::Graph> g = optimized(notView);
  EXPECT_EQ(opsOf(*g), ops({"Transpose", "FusedAttention"}));
  const ir::Node* f = fusedOf(*g);
  expectLayouts(f, "BSHD", "BHSD", "BHSD", "BHSD", 4);
  ASSERT_NE(f->inputs[0]->producer, nullptr);
  EXPECT_EQ(f->inputs[0]->producer->name, "seq_to_batch");
  // Off: Transpose, Reshape (the two collapse), Transpose, Attention.
  expectEquivalent(notView, kPass, 2);
  // A Transpose output also read by another layer stays, and so does the Attention when that
  // was the only Transpose.
  NetFn shared = [](NetworkDefinition& net) {
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB, kS, kH, kD});
    Tensor* k = net.addInput("k", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* qt = net.addTranspose(*q, {0, 2, 1, 3})->getOutput(0);
    net.markOutput(*net.addActivation(*qt, ActivationType::kRELU)->getOutput(0));
    std::vector<Tensor*> ins = {qt, k, v};
    net.markOutput(*net.addOp("Attention", ins, {{"scale", 0.5f}})->getOutput(0));
  };
  EXPECT_EQ(opsAfter(shared), ops({"Transpose", "Relu", "Attention"}));
}

TEST(AttentionLayout, RankOneMaskStays) {
  // Attention takes a 1-D attn_mask [Skv]; FusedAttention takes ranks 2 to 4: left alone.
  NetFn fn = [](NetworkDefinition& net) {
    Tensor* q = net.addInput("q", DataType::kFLOAT, {kB, kS, kH, kD});
    Tensor* k = net.addInput("k", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* v = net.addInput("v", DataType::kFLOAT, {kB, kH, kS, kD});
    Tensor* m = net.addInput("mask", DataType::kFLOAT, {kS});
    std::vector<Tensor*> ins = {net.addTranspose(*q, {0, 2, 1, 3})->getOutput(0), k, v, m};
    net.markOutput(*net.addOp("Attention", ins, {{"scale", 0.5f}})->getOutput(0));
  };
  std::string verbose;
  std::unique_ptr<ir::Graph> g = optimized(fn, {}, 3, &verbose);
  EXPECT_EQ(opsOf(*g), ops({"Transpose", "Attention"}));
  EXPECT_NE(verbose.find("attn_mask has rank 1"), std::string::npos) << verbose;
}

TEST(AttentionLayout, OutputChainWithASecondReaderStays) {
  // Y is also a network output: the merge Transpose/Reshape stay; Q/K/V still fold.
  NetFn fn = [](NetworkDefinition& net) {
    auto heads = [&](const char* n) {
      Tensor* x = net.addInput(n, DataType::kFLOAT, {kB, kS, kH * kD});
      Tensor* r = net.addReshape(*x, {kB, kS, kH, kD})->getOutput(0);
      return net.addTranspose(*r, {0, 2, 1, 3})->getOutput(0);
    };
    std::vector<Tensor*> ins = {heads("q"), heads("k"), heads("v")};
    Tensor* y = net.addOp("Attention", ins, {{"scale", 0.5f}})->getOutput(0);
    net.markOutput(*y);
    y = net.addTranspose(*y, {0, 2, 1, 3})->getOutput(0);
    net.markOutput(*net.addReshape(*y, {kB, kS, kH * kD})->getOutput(0));
  };
  std::unique_ptr<ir::Graph> g = optimized(fn);
  EXPECT_EQ(opsOf(*g), ops({"FusedAttention", "Transpose", "Reshape"}));
  expectLayouts(fusedOf(*g), "BSHD", "BSHD", "BSHD", "BHSD", 4);
  expectEquivalent(fn, kPass, 6);
}

// Random head splits and merges: each operand comes from an input holding its dims in a random
// order (adjacent dims randomly merged), through Reshape + Transposes (with a random detour that
// cancels); Y leaves through a random Transpose and a merging Reshape. Whatever the pass decides,
// the engines with it enabled and disabled agree, and at least some of the nets are rewritten.
Dims toDims(const std::vector<int64_t>& v) {
  Dims d;
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size(); ++i) d.d[i] = v[i];
  return d;
}

NetFn randomChains(uint32_t seed) {
  return [=](NetworkDefinition& net) {
    std::mt19937 rng(seed);
    const std::vector<int64_t> logical = {2, 3, 4, 5};  // [B, H, S, D]
    auto randomPerm = [&](size_t n) {
      std::vector<int64_t> p(n);
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<int64_t>(i);
      std::shuffle(p.begin(), p.end(), rng);
      return p;
    };
    // Merges random adjacent dims of `d`.
    auto merged = [&](std::vector<int64_t> d) {
      for (size_t i = 0; i + 1 < d.size();) {
        if (rng() % 3 == 0) {
          d[i] *= d[i + 1];
          d.erase(d.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        } else {
          ++i;
        }
      }
      return d;
    };
    // A detour that computes the identity on `t` (dims `dims`): none; Transpose + its inverse;
    // or Transpose, a merging Reshape (often not a view of the transposed dims), the splitting
    // Reshape back and the inverse Transpose.
    auto detour = [&](Tensor* t, const std::vector<int64_t>& dims) {
      const unsigned kind = rng() % 3;
      if (kind == 0) return t;
      const std::vector<int64_t> d = randomPerm(4);
      std::vector<int64_t> inv(4), td(4);
      for (size_t i = 0; i < 4; ++i) {
        inv[static_cast<size_t>(d[i])] = static_cast<int64_t>(i);
        td[i] = dims[static_cast<size_t>(d[i])];
      }
      t = net.addTranspose(*t, d)->getOutput(0);
      if (kind == 2) {
        t = net.addReshape(*t, merged(td))->getOutput(0);
        t = net.addReshape(*t, td)->getOutput(0);
      }
      return net.addTranspose(*t, inv)->getOutput(0);
    };
    auto operand = [&](const char* name) {
      const std::vector<int64_t> p = randomPerm(4);  // X holds logical dims p[0], p[1], ...
      std::vector<int64_t> pd(4);
      for (size_t i = 0; i < 4; ++i) pd[i] = logical[static_cast<size_t>(p[i])];
      const std::vector<int64_t> xd = merged(pd);
      Tensor* t = net.addInput(name, DataType::kFLOAT, toDims(xd));
      t = net.addReshape(*t, pd)->getOutput(0);
      t = detour(t, pd);
      std::vector<int64_t> toLogical(4);  // Transpose perm giving [B, H, S, D]
      for (size_t i = 0; i < 4; ++i) toLogical[static_cast<size_t>(p[i])] = static_cast<int64_t>(i);
      return net.addTranspose(*t, toLogical)->getOutput(0);
    };
    std::vector<Tensor*> ins = {operand("q"), operand("k"), operand("v")};
    Tensor* y = net.addOp("Attention", ins, {{"scale", 0.6f}})->getOutput(0);
    y = detour(y, logical);
    const std::vector<int64_t> p = randomPerm(4);
    y = net.addTranspose(*y, p)->getOutput(0);
    std::vector<int64_t> pd(4);
    for (size_t i = 0; i < 4; ++i) pd[i] = logical[static_cast<size_t>(p[i])];
    net.markOutput(*net.addReshape(*y, merged(pd))->getOutput(0));
  };
}

TEST(AttentionLayout, RandomChainsStayEquivalent) {
  int rewritten = 0;
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE(seed);
    const NetFn fn = randomChains(seed);
    std::unique_ptr<ir::Graph> g = optimized(fn);
    rewritten += findOp(*g, ir::OpKind::kFusedAttention) != nullptr;
    RunResult off = buildAndRun(fn, {kPass}, seed);
    RunResult on = buildAndRun(fn, {}, seed);
    ASSERT_EQ(on.outputs.size(), 1u);
    ASSERT_EQ(off.outputs.size(), 1u);
    for (float v : on.outputs[0]) ASSERT_TRUE(std::isfinite(v));
    EXPECT_LE(relError(on.outputs[0], off.outputs[0]), kTol) << on.layerInfo;
  }
  EXPECT_GE(rewritten, 30);
}

TEST(AttentionLayout, DynamicShapesAreSkipped) {
  std::string verbose;
  std::unique_ptr<ir::Graph> g = optimized(bertLike(true), {}, 3, &verbose);
  EXPECT_EQ(findOp(*g, ir::OpKind::kFusedAttention), nullptr);
  EXPECT_NE(findOp(*g, ir::OpKind::kAttention), nullptr);
  EXPECT_NE(verbose.find("attention-layout: skipped"), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("not static"), std::string::npos) << verbose;
}

TEST(AttentionLayout, PlanRoundTripNamesTheFusedLayer) {
  // buildAndRun serializes the plan and deserializes it before running.
  RunResult on = buildAndRun(bertLike(), {}, 3);
  RunResult off = buildAndRun(bertLike(), {kPass}, 3);
  ASSERT_EQ(on.outputs.size(), 1u);
  EXPECT_EQ(on.layers, 1);
  EXPECT_LE(relError(on.outputs[0], off.outputs[0]), kTol);
  EXPECT_NE(on.layerJson.find("FusedAttention"), std::string::npos) << on.layerJson;
  EXPECT_NE(on.layerJson.find("k_split"), std::string::npos) << on.layerJson;
  EXPECT_NE(on.layerJson.find("BSHD"), std::string::npos) << on.layerJson;
}

TEST(AttentionLayout, Fp16BuildRunsTheFusedAttentionInHalf) {
  for (const NetFn& fn : {bertLike(), vitLike()}) {
    std::unique_ptr<ir::Graph> g = optimized(fn);
    opt::PassContext ctx;
    ctx.fp16 = true;
    StatusOr<bool> changed = opt::fp16PrecisionPass(*g, ctx);
    ASSERT_TRUE(changed.isOk()) << changed.status().toString();
    ASSERT_TRUE(ir::inferGraphInPlace(*g).isOk());
    const ir::Node* f = fusedOf(*g);
    ASSERT_NE(f, nullptr);
    for (const ir::Value* in : f->inputs) EXPECT_EQ(in->dtype, DataType::kHALF) << in->name;
    EXPECT_EQ(f->outputs[0]->dtype, DataType::kHALF);
    RunResult ref = buildAndRun(fn, {kPass}, 5);
    RunResult half = buildAndRun(fn, {}, 5, true);
    ASSERT_EQ(ref.outputs.size(), 1u);
    ASSERT_EQ(half.outputs.size(), 1u);
    EXPECT_LE(relError(half.outputs[0], ref.outputs[0]), 1e-2);
    EXPECT_GT(relError(half.outputs[0], ref.outputs[0]), 0.0);  // it did run in float16
  }
}

TEST(AttentionLayout, TableOrderAndLevel) {
  const std::vector<opt::PassInfo>& passes = opt::allPasses();
  int fusion = -1, layout = -1;
  for (size_t i = 0; i < passes.size(); ++i) {
    if (std::string(passes[i].name) == "attention-fusion") fusion = static_cast<int>(i);
    if (std::string(passes[i].name) == kPass) {
      layout = static_cast<int>(i);
      EXPECT_EQ(passes[i].minLevel, 2);
    }
  }
  ASSERT_GE(fusion, 0);
  EXPECT_EQ(layout, fusion + 1);
  EXPECT_TRUE(opt::checkPassNames({kPass}).isOk());
  // Level 1: no Attention, no FusedAttention.
  std::unique_ptr<ir::Graph> g = optimized(bertLike(), {}, 1);
  EXPECT_EQ(findOp(*g, ir::OpKind::kFusedAttention), nullptr);
}

}  // namespace
}  // namespace kiln
