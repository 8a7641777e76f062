// The conv-epilogue-fusion pass: (a) the layers left after the optimizer on hand-built networks,
// including patterns that must not be rewritten; (b) numerical equivalence: each network is built
// through the public API with the pass disabled and enabled, both plans are deserialized and run
// on the CPU on the same fresh random inputs (float32, relative error <= 1e-5); (c) float16
// builds; (d) the fused layer survives the plan round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
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

constexpr const char* kPass = "conv-epilogue-fusion";

using namespace testing_passes;

// x [2, 4, 7, 6] -> Conv(outC, 3x3, pads 1, groups) with random constant weights (and bias).
Tensor* conv(NetworkDefinition& net, Consts& k, Tensor* x, int64_t outC, bool bias = true,
             int64_t groups = 1, uint32_t seed = 1) {
  const int64_t inC = x->getDimensions().d[1];
  ConvolutionDesc d;
  d.padding = {1, 1};
  d.groups = groups;
  Weights b = bias ? k.w(randomVec(static_cast<size_t>(outC), seed + 1)) : Weights{};
  Layer* l = net.addConvolution(
      *x, outC, {3, 3},
      k.w(randomVec(static_cast<size_t>(outC * inC / groups * 9), seed, -0.5f, 0.5f)), b, d);
  EXPECT_NE(l, nullptr) << net.getLastError();
  return l ? l->getOutput(0) : nullptr;
}

Tensor* input(NetworkDefinition& net, const char* name = "x", Dims d = {2, 4, 7, 6}) {
  return net.addInput(name, DataType::kFLOAT, d);
}

// Disabled vs enabled (testing_passes::expectEquivalent) on this file's two input draws.
void expectEquivalent(const NetFn& fn, int fewer, double tol = kTol) {
  testing_passes::expectEquivalent(fn, kPass, fewer, tol, {21u, 977u});
}

// ---- networks ---------------------------------------------------------------------------------

NetFn convAct(const char* act, std::vector<Attribute> attrs = {}) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* y = op(net, act, {conv(net, k, input(net), 6)}, attrs);
    net.markOutput(*y);
  };
}

// ResNet's basic block tail: Conv -> (BN) -> Add(shortcut) -> Relu; the shortcut is x itself.
NetFn residual(bool xFirst, bool withBn, bool withRelu = true) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* x = input(net);
    Tensor* c = conv(net, k, x, 4, !withBn);
    if (withBn) {
      Layer* bn =
          net.addBatchNormalization(*c, k.w(randomVec(4, 5, 0.5f, 1.5f)), k.w(randomVec(4, 6)),
                                    k.w(randomVec(4, 7)), k.w(randomVec(4, 8, 0.2f, 2.f)), 1e-3f);
      ASSERT_NE(bn, nullptr) << net.getLastError();
      c = bn->getOutput(0);
    }
    Tensor* s = xFirst ? op(net, "Add", {x, c}) : op(net, "Add", {c, x});
    net.markOutput(*(withRelu ? op(net, "Relu", {s}) : s));
  };
}

NetFn convClip(float lo, float hi) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*op(net, "Clip", {c, k.scalar(net, lo), k.scalar(net, hi)}));
  };
}

NetFn convSilu(bool sigmoidFirst) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* c = conv(net, k, input(net), 6);
    Tensor* s = op(net, "Sigmoid", {c});
    net.markOutput(*(sigmoidFirst ? op(net, "Mul", {s, c}) : op(net, "Mul", {c, s})));
  };
}

// Conv -> Add(per-channel constant of shape `kd`) [-> Relu]; weightsAsInput makes W a network
// input, so batchnorm-folding (which needs constant weights) leaves the Add to this pass.
NetFn convBiasAdd(Dims kd, bool relu, bool weightsAsInput, bool convBias) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* x = input(net);
    Tensor* c = nullptr;
    if (weightsAsInput) {
      Tensor* w = net.addInput("w", DataType::kFLOAT, {6, 4, 3, 3});
      std::vector<Tensor*> ins{x, w};
      if (convBias) ins.push_back(k.random(net, {6}, 9));
      c = op(net, "Conv", ins, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
    } else {
      c = conv(net, k, x, 6, convBias);
    }
    Tensor* s = op(net, "Add", {c, k.random(net, kd, 10)});
    net.markOutput(*(relu ? op(net, "Relu", {s}) : s));
  };
}

// ---- the patterns -----------------------------------------------------------------------------

TEST(ConvEpilogueFusion, ConvReluBecomesOneFusedConv) {
  auto g = optimized(convAct("Relu"));
  EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
  const ir::Node* f = onlyNode(*g, ir::OpKind::kFusedConv);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->attrs.getString("activation", "?"), "Relu");
  EXPECT_EQ(f->inputs.size(), 3u);  // X, W, B
  EXPECT_EQ(f->outputs[0]->name, g->outputs()[0]->name);
  EXPECT_EQ(opsAfter(convAct("Relu"), {kPass}), ops({"Conv", "Relu"}));
  expectEquivalent(convAct("Relu"), 1);
  // The fused layer keeps the Conv's name (profiles and reports still say "conv1").
  NetFn named = [](NetworkDefinition& net) {
    Consts k;
    ConvolutionDesc d;
    d.padding = {1, 1};
    Layer* l = net.addConvolution(*input(net), 6, {3, 3}, k.w(randomVec(6 * 4 * 9, 1)),
                                  k.w(randomVec(6, 2)), d);
    ASSERT_NE(l, nullptr) << net.getLastError();
    l->setName("conv1");
    net.markOutput(*op(net, "Relu", {l->getOutput(0)}));
  };
  auto gn = optimized(named);
  const ir::Node* fn = onlyNode(*gn, ir::OpKind::kFusedConv);
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(fn->name, "conv1");
}

TEST(ConvEpilogueFusion, ResidualAddAndReluBecomeOneFusedConv) {
  for (bool xFirst : {false, true}) {
    SCOPED_TRACE(xFirst ? "Add(x, conv)" : "Add(conv, x)");
    auto g = optimized(residual(xFirst, false));
    EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
    const ir::Node* f = onlyNode(*g, ir::OpKind::kFusedConv);
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->inputs.size(), 4u);
    EXPECT_EQ(f->inputs[3], g->inputs()[0]);  // Z is the shortcut x
    EXPECT_EQ(f->attrs.getString("activation", "?"), "Relu");
    expectEquivalent(residual(xFirst, false), 2);
  }
  // ResNet: the BatchNorm folds into the Conv first, then the block becomes one layer.
  EXPECT_EQ(opsAfter(residual(false, true)), ops({"FusedConv"}));
  EXPECT_EQ(opsAfter(residual(false, true), {kPass}), ops({"Conv", "Add", "Relu"}));
  expectEquivalent(residual(false, true), 2);
  // A dynamic batch: Z and the output share the symbolic batch dim.
  NetFn dynamic = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = input(net, "x", {-1, 4, 7, 6});
    net.markOutput(*op(net, "Relu", {op(net, "Add", {conv(net, k, x, 4), x})}));
  };
  EXPECT_EQ(opsAfter(dynamic), ops({"FusedConv"}));
  // A residual without an activation.
  auto g = optimized(residual(true, false, false));
  EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
  EXPECT_EQ(onlyNode(*g, ir::OpKind::kFusedConv)->attrs.getString("activation", "?"), "");
  expectEquivalent(residual(true, false, false), 1);
}

TEST(ConvEpilogueFusion, ClipWithConstantBounds) {
  auto g = optimized(convClip(0.f, 6.f));  // Relu6
  EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
  const ir::Node* f = onlyNode(*g, ir::OpKind::kFusedConv);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->attrs.getString("activation", "?"), "Clip");
  EXPECT_EQ(f->attrs.getFloat("activation_alpha", -1.f), 0.f);
  EXPECT_EQ(f->attrs.getFloat("activation_beta", -1.f), 6.f);
  expectEquivalent(convClip(0.f, 6.f), 1);
  expectEquivalent(convClip(-0.3f, 0.4f), 1);
  // Only a lower bound: the upper one is +inf.
  NetFn minOnly = [](NetworkDefinition& net) {
    Consts k;
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*op(net, "Clip", {c, k.scalar(net, -0.2f)}));
  };
  g = optimized(minOnly);
  EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
  EXPECT_TRUE(
      std::isinf(onlyNode(*g, ir::OpKind::kFusedConv)->attrs.getFloat("activation_beta", 0.f)));
  expectEquivalent(minOnly, 1);
}

TEST(ConvEpilogueFusion, SiluInEitherOrder) {
  for (bool sigmoidFirst : {false, true}) {
    SCOPED_TRACE(sigmoidFirst ? "Mul(Sigmoid(c), c)" : "Mul(c, Sigmoid(c))");
    auto g = optimized(convSilu(sigmoidFirst));
    EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
    EXPECT_EQ(onlyNode(*g, ir::OpKind::kFusedConv)->attrs.getString("activation", "?"), "Silu");
    expectEquivalent(convSilu(sigmoidFirst), 2);
  }
}

TEST(ConvEpilogueFusion, EveryOtherActivation) {
  struct Case {
    const char* op;
    std::vector<Attribute> attrs;
    const char* fused;
  };
  const std::vector<Case> cases = {
      {"LeakyRelu", {{"alpha", 0.2f}}, "LeakyRelu"},
      {"Sigmoid", {}, "Sigmoid"},
      {"Tanh", {}, "Tanh"},
      {"HardSwish", {}, "HardSwish"},
      {"Gelu", {}, "Gelu"},
      {"Gelu", {{"approximate", std::string("tanh")}}, "GeluTanh"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fused);
    auto g = optimized(convAct(c.op, c.attrs));
    EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
    const ir::Node* f = onlyNode(*g, ir::OpKind::kFusedConv);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->attrs.getString("activation", "?"), c.fused);
    if (std::string(c.op) == "LeakyRelu") {
      EXPECT_EQ(f->attrs.getFloat("activation_alpha", 0.f), 0.2f);
    }
    expectEquivalent(convAct(c.op, c.attrs), 1);
  }
}

TEST(ConvEpilogueFusion, PerChannelConstantAddFoldsIntoTheBias) {
  // With constant weights batchnorm-folding takes the Add first; without it this pass does.
  for (bool convBias : {true, false}) {
    SCOPED_TRACE(convBias ? "conv bias" : "no conv bias");
    for (Dims kd : {Dims{1, 6, 1, 1}, Dims{6, 1, 1}}) {
      auto g = optimized(convBiasAdd(kd, true, false, convBias), {"batchnorm-folding"});
      EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
      const ir::Node* f = onlyNode(*g, ir::OpKind::kFusedConv);
      ASSERT_NE(f, nullptr);
      ASSERT_GE(f->inputs.size(), 3u);
      ASSERT_NE(f->inputs[2], nullptr);
      EXPECT_TRUE(f->inputs[2]->isConstant());
      EXPECT_EQ(f->inputs[2]->constant->dims(), std::vector<int64_t>{6});
      // Alone, the Add only updates the Conv's bias.
      EXPECT_EQ(opsAfter(convBiasAdd(kd, false, false, convBias), {"batchnorm-folding"}),
                ops({"Conv"}));
    }
    // Weights given as a network input: batchnorm-folding cannot act, this pass can.
    EXPECT_EQ(opsAfter(convBiasAdd({1, 6, 1, 1}, true, true, convBias)), ops({"FusedConv"}));
    EXPECT_EQ(opsAfter(convBiasAdd({1, 6, 1, 1}, false, true, convBias)), ops({"Conv"}));
    expectEquivalent(convBiasAdd({1, 6, 1, 1}, true, true, convBias), 2);
    expectEquivalent(convBiasAdd({6, 1, 1}, false, true, convBias), 1);
  }
  // Bias from a network input: the constant cannot fold, the Add stays.
  NetFn inputBias = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = input(net);
    Tensor* b = net.addInput("b", DataType::kFLOAT, {6});
    Tensor* c = op(net, "Conv", {x, k.random(net, {6, 4, 3, 3}, 3), b},
                   {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
    net.markOutput(*op(net, "Add", {c, k.random(net, {1, 6, 1, 1}, 4)}));
  };
  EXPECT_EQ(opsAfter(inputBias, {"batchnorm-folding"}), ops({"Conv", "Add"}));
}

TEST(ConvEpilogueFusion, DepthwiseStridedConvAndAChain) {
  // MobileNet-like: depthwise strided Conv -> Clip(0, 6), then pointwise Conv -> Add(residual).
  NetFn mobile = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = input(net, "x", {1, 8, 9, 9});
    ConvolutionDesc d;
    d.padding = {1, 1};
    d.stride = {2, 2};
    d.groups = 8;
    Layer* dw =
        net.addConvolution(*x, 8, {3, 3}, k.w(randomVec(8 * 9, 3)), k.w(randomVec(8, 4)), d);
    ASSERT_NE(dw, nullptr) << net.getLastError();
    Tensor* a = op(net, "Clip", {dw->getOutput(0), k.scalar(net, 0.f), k.scalar(net, 6.f)});
    Layer* pw = net.addConvolution(*a, 8, {1, 1}, k.w(randomVec(64, 5)), Weights{}, {});
    ASSERT_NE(pw, nullptr) << net.getLastError();
    Tensor* shortcut = op(net, "Sigmoid", {a});  // a is read twice: not an intermediate
    net.markOutput(*op(net, "Add", {shortcut, pw->getOutput(0)}));
  };
  EXPECT_EQ(opsAfter(mobile), ops({"FusedConv", "FusedConv", "Sigmoid"}));
  expectEquivalent(mobile, 2);
}

// ---- what must not be rewritten ---------------------------------------------------------------

TEST(ConvEpilogueFusion, NotFusedWhenUnsafe) {
  // Z broadcast along the spatial axes (per-channel network input): not a residual.
  NetFn zChannel = [](NetworkDefinition& net) {
    Consts k;
    Tensor* z = net.addInput("z", DataType::kFLOAT, {1, 6, 1, 1});
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*op(net, "Relu", {op(net, "Add", {c, z})}));
  };
  EXPECT_EQ(opsAfter(zChannel), ops({"Conv", "Add", "Relu"}));
  // Z broadcast along the batch.
  NetFn zBatch = [](NetworkDefinition& net) {
    Consts k;
    Tensor* z = net.addInput("z", DataType::kFLOAT, {1, 6, 7, 6});
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*op(net, "Relu", {op(net, "Add", {z, c})}));
  };
  EXPECT_EQ(opsAfter(zBatch), ops({"Conv", "Add", "Relu"}));
  // The Conv output broadcast up by Z (output bigger than the conv's).
  NetFn zBigger = [](NetworkDefinition& net) {
    Consts k;
    Tensor* z = net.addInput("z", DataType::kFLOAT, {3, 2, 6, 7, 6});
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*op(net, "Add", {c, z}));
  };
  EXPECT_EQ(opsAfter(zBigger), ops({"Conv", "Add"}));
  // The conv output read twice.
  NetFn shared = [](NetworkDefinition& net) {
    Consts k;
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*op(net, "Relu", {c}));
    net.markOutput(*op(net, "Tanh", {c}));
  };
  EXPECT_EQ(opsAfter(shared), ops({"Conv", "Relu", "Tanh"}));
  // The conv output is a network output.
  NetFn convOut = [](NetworkDefinition& net) {
    Consts k;
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*c);
    net.markOutput(*op(net, "Relu", {c}));
  };
  EXPECT_EQ(opsAfter(convOut), ops({"Conv", "Relu"}));
  // The residual sum is read again (and is a network output): the Add fuses, the Relu stays.
  NetFn sumShared = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = input(net);
    Tensor* s = op(net, "Add", {conv(net, k, x, 4), x});
    net.markOutput(*s);
    net.markOutput(*op(net, "Relu", {s}));
  };
  EXPECT_EQ(opsAfter(sumShared), ops({"FusedConv", "Relu"}));
  expectEquivalent(sumShared, 1);
  // Non-constant Clip bounds.
  NetFn clipInputs = [](NetworkDefinition& net) {
    Consts k;
    Tensor* lo = net.addInput("lo", DataType::kFLOAT, {});
    Tensor* hi = net.addInput("hi", DataType::kFLOAT, {});
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*op(net, "Clip", {c, lo, hi}));
  };
  EXPECT_EQ(opsAfter(clipInputs), ops({"Conv", "Clip"}));
  // min > max: Clip gives max everywhere, which the fused form does not.
  EXPECT_EQ(opsAfter(convClip(1.f, -1.f)), ops({"Conv", "Clip"}));
  // SiLU whose Sigmoid is read elsewhere too.
  NetFn siluShared = [](NetworkDefinition& net) {
    Consts k;
    Tensor* c = conv(net, k, input(net), 6);
    Tensor* s = op(net, "Sigmoid", {c});
    net.markOutput(*op(net, "Mul", {c, s}));
    net.markOutput(*s);
  };
  EXPECT_EQ(opsAfter(siluShared), ops({"Conv", "Sigmoid", "Mul"}));
  // Mul(c, Sigmoid(other)) is no SiLU (the other Conv takes its Sigmoid).
  NetFn notSilu = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = input(net);
    Tensor* c = conv(net, k, x, 6);
    Tensor* c2 = conv(net, k, x, 6, true, 1, 7);
    net.markOutput(*op(net, "Mul", {c, op(net, "Sigmoid", {c2})}));
  };
  EXPECT_EQ(opsAfter(notSilu), ops({"Conv", "FusedConv", "Mul"}));
  // Activations outside the list stay separate.
  EXPECT_EQ(opsAfter(convAct("Softplus")), ops({"Conv", "Softplus"}));
  // Add(c, c) is no residual.
  NetFn twice = [](NetworkDefinition& net) {
    Consts k;
    Tensor* c = conv(net, k, input(net), 6);
    net.markOutput(*op(net, "Add", {c, c}));
  };
  EXPECT_EQ(opsAfter(twice), ops({"Conv", "Add"}));
}

TEST(ConvEpilogueFusion, UserPrecisionCarriesOverAndStopsAtADifferentOne) {
  // Conv and Relu both pinned to float32: fused, the FusedConv keeps the setting.
  auto pinned = [](bool pinConv, bool pinRelu) {
    return [=](NetworkDefinition& net) {
      Consts k;
      ConvolutionDesc d;
      d.padding = {1, 1};
      Layer* c =
          net.addConvolution(*input(net), 6, {3, 3}, k.w(randomVec(6 * 4 * 9, 1)), Weights{}, d);
      ASSERT_NE(c, nullptr) << net.getLastError();
      if (pinConv) c->setPrecision(DataType::kFLOAT);
      Layer* r = net.addActivation(*c->getOutput(0), ActivationType::kRELU);
      ASSERT_NE(r, nullptr) << net.getLastError();
      if (pinRelu) r->setPrecision(DataType::kFLOAT);
      net.markOutput(*r->getOutput(0));
    };
  };
  auto g = optimized(pinned(true, true));
  EXPECT_EQ(opsOf(*g), ops({"FusedConv"}));
  const ir::Node* f = onlyNode(*g, ir::OpKind::kFusedConv);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->precision.has_value());
  EXPECT_EQ(*f->precision, DataType::kFLOAT);
  EXPECT_EQ(opsAfter(pinned(false, true)), ops({"Conv", "Relu"}));
  EXPECT_EQ(opsAfter(pinned(true, false)), ops({"Conv", "Relu"}));
}

// ---- table, level, float16, plan ---------------------------------------------------------------

TEST(ConvEpilogueFusion, RegisteredAtLevel2AfterBatchNormFolding) {
  int bn = -1, me = -1, i = 0;
  for (const opt::PassInfo& p : opt::allPasses()) {
    if (std::string(p.name) == "batchnorm-folding") bn = i;
    if (std::string(p.name) == kPass) {
      me = i;
      EXPECT_EQ(p.minLevel, 2);
    }
    ++i;
  }
  ASSERT_GE(me, 0);
  EXPECT_GT(me, bn);
  EXPECT_TRUE(opt::checkPassNames({kPass}).isOk());
  EXPECT_EQ(opsOf(*optimized(residual(false, false), {}, 1)), ops({"Conv", "Add", "Relu"}));
}

TEST(ConvEpilogueFusion, Float16BuildMatchesFloat32) {
  // The FusedConv runs in float16 with its residual converted too.
  auto g = optimized(residual(false, true));
  opt::PassContext ctx;
  ctx.fp16 = true;
  auto changed = opt::fp16PrecisionPass(*g, ctx);
  ASSERT_TRUE(changed.isOk()) << changed.status().toString();
  const ir::Node* f = onlyNode(*g, ir::OpKind::kFusedConv);
  ASSERT_NE(f, nullptr);
  for (const ir::Value* in : f->inputs) {
    ASSERT_NE(in, nullptr);
    EXPECT_EQ(in->dtype, DataType::kHALF) << in->name;
  }
  EXPECT_EQ(f->outputs[0]->dtype, DataType::kHALF);
  // Built with the flag, through the plan, against the float32 build.
  for (const NetFn& fn : {residual(true, true), convSilu(false), convClip(0.f, 6.f)}) {
    RunResult half = buildAndRun(fn, {}, 5, true);
    RunResult full = buildAndRun(fn, {kPass}, 5, false);
    ASSERT_EQ(half.outputs.size(), 1u);
    ASSERT_EQ(full.outputs.size(), 1u);
    EXPECT_NE(half.layerJson.find("\"type\": \"FusedConv\""), std::string::npos) << half.layerJson;
    EXPECT_LE(relError(half.outputs[0], full.outputs[0]), 1e-2);
  }
}

TEST(ConvEpilogueFusion, FusedLayerSurvivesThePlanRoundTrip) {
  RunResult on = buildAndRun(residual(false, false), {}, 3);
  const std::string& info = on.layerJson;
  const size_t at = info.find("\"type\": \"FusedConv\"");
  ASSERT_NE(at, std::string::npos) << info;
  EXPECT_NE(info.find("activation=\\\"Relu\\\"", at), std::string::npos) << info;
  EXPECT_EQ(on.layers, 1);
  RunResult clip = buildAndRun(convClip(-0.5f, 0.75f), {}, 4);
  EXPECT_NE(clip.layerJson.find("activation_beta=0.75"), std::string::npos) << clip.layerJson;
}

}  // namespace
}  // namespace kiln
