// matmul-epilogue-fusion: MatMul/Gemm + bias Add + residual Add + activation -> FusedMatMul.
//
// (a) The layers left after the optimizer on hand-built networks, for every form the pass takes
//     and for patterns it must leave alone; (b) numerical equivalence on the CPU: each network
//     built with the pass disabled (BuilderConfig::setDisabledPasses) and enabled, run on the
//     same random inputs; (c) a float16 build (BuilderFlag::kFP16) of a fused network; (d) a plan
//     round trip (build, serialize, deserialize, run, serialize again) against a double-precision
//     reference computed here.
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

constexpr const char* kPass = "matmul-epilogue-fusion";

using namespace testing_passes;

Dims toDims(const std::vector<int64_t>& v) {
  Dims d;
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size(); ++i) d.d[i] = v[i];
  return d;
}

// Disabled vs enabled (testing_passes::expectEquivalent) for this pass.
void expectEquivalent(const NetFn& fn, int fewer) {
  testing_passes::expectEquivalent(fn, kPass, fewer);
}

// ---- networks -----------------------------------------------------------------------------------

// The activation spellings the pass takes, applied to x. "" = none.
Tensor* activation(NetworkDefinition& net, Consts& k, Tensor* x, const std::string& act) {
  if (act.empty()) return x;
  if (act == "Relu6") return op(net, "Clip", {x, k.scalar(net, 0.f), k.scalar(net, 6.f)});
  if (act == "ClipMaxOnly") return op(net, "Clip", {x, nullptr, k.scalar(net, 0.5f)});
  if (act == "ClipInverted") return op(net, "Clip", {x, k.scalar(net, 1.f), k.scalar(net, -1.f)});
  if (act == "LeakyRelu") return op(net, "LeakyRelu", {x}, {{"alpha", 0.15f}});
  if (act == "Gelu") return op(net, "Gelu", {x}, {{"approximate", std::string("none")}});
  if (act == "GeluTanh") return op(net, "Gelu", {x}, {{"approximate", std::string("tanh")}});
  if (act == "Silu") return op(net, "Mul", {x, op(net, "Sigmoid", {x})});
  if (act == "SiluReversed") return op(net, "Mul", {op(net, "Sigmoid", {x}), x});
  if (act == "Swish") return op(net, "Swish", {x});
  if (act == "Swish2") return op(net, "Swish", {x}, {{"alpha", 2.f}});
  return op(net, act.c_str(), {x});  // Relu, Sigmoid, Tanh, HardSwish
}

// Layers an activation spelling takes.
int activationLayers(const std::string& act) {
  if (act.empty()) return 0;
  return act.rfind("Silu", 0) == 0 ? 2 : 1;
}

// A [aDims...] (input) @ B [K, N] (constant unless bInput) + bias (biasForm: 0 none, 1 [N],
// 2 [1, N], 3 [1, 1, N]; 4 a network input [N]; 5 [M, 1]; 6 [M, N]) -> act.
struct MmNet {
  std::vector<int64_t> aDims = {5, 12};
  int64_t n = 7;
  int biasForm = 1;
  bool biasFirst = false;
  std::string act = "Relu";
  bool bInput = false;
};

NetFn mmNet(const MmNet& s) {
  return [=](NetworkDefinition& net) {
    Consts k;
    const int64_t kk = s.aDims.back(), m = s.aDims[s.aDims.size() - 2];
    Tensor* a = net.addInput("a", DataType::kFLOAT, toDims(s.aDims));
    Tensor* b =
        s.bInput ? net.addInput("b", DataType::kFLOAT, {kk, s.n}) : k.random(net, {kk, s.n}, 1);
    Tensor* y = op(net, "MatMul", {a, b});
    Tensor* bias = nullptr;
    switch (s.biasForm) {
      case 1: bias = k.random(net, {s.n}, 2); break;
      case 2: bias = k.random(net, {1, s.n}, 2); break;
      case 3: bias = k.random(net, {1, 1, s.n}, 2); break;
      case 4: bias = net.addInput("bias", DataType::kFLOAT, {s.n}); break;
      case 5: bias = k.random(net, {m, 1}, 2); break;
      case 6: bias = k.random(net, {m, s.n}, 2); break;
      default: break;
    }
    if (bias) y = s.biasFirst ? op(net, "Add", {bias, y}) : op(net, "Add", {y, bias});
    y = activation(net, k, y, s.act);
    y->setName("y");
    net.markOutput(*y);
  };
}

// ---- MatMul forms -------------------------------------------------------------------------------

TEST(MatMulEpilogueFusion, EveryActivationWithBias) {
  const std::map<std::string, std::string> fusedName = {
      {"Relu", "Relu"},        {"LeakyRelu", "LeakyRelu"}, {"Relu6", "Clip"},
      {"ClipMaxOnly", "Clip"}, {"Sigmoid", "Sigmoid"},     {"Tanh", "Tanh"},
      {"Gelu", "Gelu"},        {"GeluTanh", "GeluTanh"},   {"HardSwish", "HardSwish"},
      {"Silu", "Silu"},        {"SiluReversed", "Silu"},   {"Swish", "Silu"},
  };
  for (const auto& [act, name] : fusedName) {
    SCOPED_TRACE(act);
    MmNet s;
    s.act = act;
    auto g = optimized(mmNet(s));
    EXPECT_EQ(opsOf(*g), ops({"FusedMatMul"}));
    const ir::Node* f = findOp(*g, ir::OpKind::kFusedMatMul);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->inputs.size(), 3u);
    EXPECT_EQ(f->attrs.getString("activation", "?"), name);
    EXPECT_EQ(f->outputs[0]->name, "y");  // the network output keeps its name
    if (act == "LeakyRelu") {
      EXPECT_EQ(f->attrs.getFloat("activation_alpha", 0.f), 0.15f);
    }
    if (act == "Relu6") {
      EXPECT_EQ(f->attrs.getFloat("activation_alpha", -1.f), 0.f);
      EXPECT_EQ(f->attrs.getFloat("activation_beta", -1.f), 6.f);
    }
    if (act == "ClipMaxOnly") {
      EXPECT_TRUE(std::isinf(f->attrs.getFloat("activation_alpha", 0.f)));
      EXPECT_EQ(f->attrs.getFloat("activation_beta", -1.f), 0.5f);
    }
    // Off: MatMul, Add and the activation's layers.
    EXPECT_EQ(opsAfter(mmNet(s), {kPass}).count("MatMul"), 1u);
    expectEquivalent(mmNet(s), 1 + activationLayers(act));
  }
}

TEST(MatMulEpilogueFusion, BiasShapesOrdersAndBatchDims) {
  for (int form : {1, 2, 3})
    for (bool first : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "bias form " << form << " first " << first);
      MmNet s;
      s.aDims = {2, 3, 5, 12};  // batch dims fold into M
      s.biasForm = form;
      s.biasFirst = first;
      s.act = "GeluTanh";
      EXPECT_EQ(opsAfter(mmNet(s)), ops({"FusedMatMul"}));
      expectEquivalent(mmNet(s), 2);
    }
  // The [1, 1, N] bias on a 2-D product would broadcast the output to 3-D: not a bias.
  MmNet s;
  s.biasForm = 3;
  s.act = "";
  EXPECT_EQ(opsAfter(mmNet(s)), ops({"MatMul", "Add"}));
}

TEST(MatMulEpilogueFusion, BiasOnlyActivationOnlyAndNonConstantB) {
  MmNet biasOnly;
  biasOnly.act = "";
  auto g = optimized(mmNet(biasOnly));
  EXPECT_EQ(opsOf(*g), ops({"FusedMatMul"}));
  EXPECT_EQ(findOp(*g, ir::OpKind::kFusedMatMul)->attrs.getString("activation", "?"), "");
  expectEquivalent(mmNet(biasOnly), 1);

  MmNet actOnly;
  actOnly.biasForm = 0;
  actOnly.act = "Sigmoid";
  g = optimized(mmNet(actOnly));
  EXPECT_EQ(opsOf(*g), ops({"FusedMatMul"}));
  EXPECT_EQ(findOp(*g, ir::OpKind::kFusedMatMul)->inputs.size(), 2u);
  expectEquivalent(mmNet(actOnly), 1);

  MmNet bInput;  // B a network input (2-D): still one GEMM
  bInput.bInput = true;
  bInput.aDims = {3, 4, 12};
  EXPECT_EQ(opsAfter(mmNet(bInput)), ops({"FusedMatMul"}));
  expectEquivalent(mmNet(bInput), 2);

  // Nothing to fuse: a MatMul alone stays a MatMul.
  MmNet plain;
  plain.biasForm = 0;
  plain.act = "";
  EXPECT_EQ(opsAfter(mmNet(plain)), ops({"MatMul"}));
}

TEST(MatMulEpilogueFusion, NotFusedWhenUnsafe) {
  // Bias broadcasting over another axis.
  MmNet broadcast;
  broadcast.biasForm = 5;
  EXPECT_EQ(opsAfter(mmNet(broadcast)), ops({"MatMul", "Add", "Relu"}));
  // A full [M, N] constant addend is no bias but a residual of the output's shape: fused as Z.
  MmNet full;
  full.biasForm = 6;
  auto fg = optimized(mmNet(full));
  EXPECT_EQ(opsOf(*fg), ops({"FusedMatMul"}));
  const ir::Node* ff = findOp(*fg, ir::OpKind::kFusedMatMul);
  ASSERT_NE(ff, nullptr);
  ASSERT_EQ(ff->inputs.size(), 4u);
  EXPECT_EQ(ff->inputs[2], nullptr);
  expectEquivalent(mmNet(full), 2);
  // A non-constant bias.
  MmNet input;
  input.biasForm = 4;
  EXPECT_EQ(opsAfter(mmNet(input)), ops({"MatMul", "Add", "Relu"}));
  // Clip with min > max, Swish with alpha != 1: the bias is fused, the activation is not.
  for (const char* act : {"ClipInverted", "Swish2"}) {
    MmNet s;
    s.act = act;
    EXPECT_EQ(opsAfter(mmNet(s)).count("FusedMatMul"), 1u) << act;
    EXPECT_EQ(opsAfter(mmNet(s)).size(), 2u) << act;
    expectEquivalent(mmNet(s), 1);
  }
  // A 3-D B (batched weights).
  NetFn b3 = [](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {2, 5, 12});
    Tensor* y = op(net, "MatMul", {a, k.random(net, {2, 12, 7}, 1)});
    net.markOutput(*op(net, "Relu", {op(net, "Add", {y, k.random(net, {7}, 2)})}));
  };
  EXPECT_EQ(opsAfter(b3), ops({"MatMul", "Add", "Relu"}));
  // A 1-D A.
  NetFn a1 = [](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {12});
    Tensor* y = op(net, "MatMul", {a, k.random(net, {12, 7}, 1)});
    net.markOutput(*op(net, "Relu", {op(net, "Add", {y, k.random(net, {7}, 2)})}));
  };
  EXPECT_EQ(opsAfter(a1), ops({"MatMul", "Add", "Relu"}));
}

TEST(MatMulEpilogueFusion, SharedIntermediatesStopThePattern) {
  // The product is read twice: nothing fused.
  NetFn sharedProduct = [](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {5, 12});
    Tensor* y = op(net, "MatMul", {a, k.random(net, {12, 7}, 1)});
    net.markOutput(*op(net, "Relu", {op(net, "Add", {y, k.random(net, {7}, 2)})}));
    net.markOutput(*op(net, "Tanh", {y}));
  };
  EXPECT_EQ(opsAfter(sharedProduct), ops({"MatMul", "Add", "Relu", "Tanh"}));
  // The product is a network output: nothing fused.
  NetFn productOut = [](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {5, 12});
    Tensor* y = op(net, "MatMul", {a, k.random(net, {12, 7}, 1)});
    net.markOutput(*y);
    net.markOutput(*op(net, "Relu", {op(net, "Add", {y, k.random(net, {7}, 2)})}));
  };
  EXPECT_EQ(opsAfter(productOut), ops({"MatMul", "Add", "Relu"}));
  // The biased sum is also a network output / read by another layer: MatMul + Add fused, the
  // activation stays.
  for (bool asOutput : {true, false}) {
    NetFn sharedSum = [asOutput](NetworkDefinition& net) {
      Consts k;
      Tensor* a = net.addInput("a", DataType::kFLOAT, {5, 12});
      Tensor* s = op(net, "Add",
                     {op(net, "MatMul", {a, k.random(net, {12, 7}, 1)}), k.random(net, {7}, 2)});
      if (asOutput)
        net.markOutput(*s);
      else
        net.markOutput(*op(net, "Sigmoid", {s}));
      net.markOutput(*op(net, "Relu", {s}));
    };
    SCOPED_TRACE(asOutput ? "sum is an output" : "sum read twice");
    auto g = optimized(sharedSum);
    EXPECT_EQ(opsOf(*g),
              asOutput ? ops({"FusedMatMul", "Relu"}) : ops({"FusedMatMul", "Relu", "Sigmoid"}));
    EXPECT_EQ(findOp(*g, ir::OpKind::kFusedMatMul)->attrs.getString("activation", "?"), "");
    expectEquivalent(sharedSum, 1);
  }
  // Silu whose x has a third reader: the Silu is not taken.
  NetFn siluShared = [](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {5, 12});
    Tensor* s =
        op(net, "Add", {op(net, "MatMul", {a, k.random(net, {12, 7}, 1)}), k.random(net, {7}, 2)});
    net.markOutput(*op(net, "Mul", {s, op(net, "Sigmoid", {s})}));
    net.markOutput(*op(net, "Neg", {s}));
  };
  EXPECT_EQ(opsAfter(siluShared), ops({"FusedMatMul", "Sigmoid", "Mul", "Neg"}));
  expectEquivalent(siluShared, 1);
}

TEST(MatMulEpilogueFusion, UserPrecisionCarriesOverAndStopsAtADifferentOne) {
  // Precision set on the MatMul: the fused layer (MatMul + Add + Relu) keeps it. Set on the
  // activation only: the activation is not fused (it would run at the MatMul's precision).
  for (bool onAct : {false, true}) {
    NetFn fn = [onAct](NetworkDefinition& net) {
      Consts k;
      Tensor* a = net.addInput("a", DataType::kFLOAT, {5, 12});
      Layer* mm = net.addOp("MatMul", std::vector<Tensor*>{a, k.random(net, {12, 7}, 1)});
      ASSERT_NE(mm, nullptr);
      Tensor* s = op(net, "Add", {mm->getOutput(0), k.random(net, {7}, 2)});
      Layer* relu = net.addActivation(*s, ActivationType::kRELU);
      (onAct ? relu : mm)->setPrecision(DataType::kFLOAT);
      net.markOutput(*relu->getOutput(0));
    };
    SCOPED_TRACE(onAct ? "on the activation" : "on the MatMul");
    auto g = optimized(fn);
    const ir::Node* f = findOp(*g, ir::OpKind::kFusedMatMul);
    ASSERT_NE(f, nullptr);
    if (onAct) {
      EXPECT_EQ(opsOf(*g), ops({"FusedMatMul", "Relu"}));
      EXPECT_FALSE(f->precision.has_value());
      EXPECT_EQ(f->attrs.getString("activation", "?"), "");
    } else {
      EXPECT_EQ(opsOf(*g), ops({"FusedMatMul"}));
      EXPECT_EQ(f->attrs.getString("activation", "?"), "Relu");
      ASSERT_TRUE(f->precision.has_value());
      EXPECT_EQ(*f->precision, DataType::kFLOAT);
    }
  }
}

// ---- the residual Add ---------------------------------------------------------------------------

// A [2, 5, 12] (input "a") @ B [12, 7] (constant) [+ bias [7]] then the residual Add with R, the
// activations before (actBefore: not fusable with R) and after it (actAfter).
//   rForm 0: R a network input "r" [2, 5, 7]; 1: R = Tanh(r) (a computed value); 2: r [7]
//   (broadcast); 3: r [1, 5, 7] (broadcast over the batch); 4: R = the product itself.
struct ResNet {
  bool bias = true;
  bool residualFirst = false;  // Add(R, x) instead of Add(x, R)
  int rForm = 0;
  std::string actBefore, actAfter;
  bool sumAlsoRead = false;  // the value the residual is added to also feeds a Sigmoid output
  bool layerNorm = false;    // a LayerNormalization after everything (BERT's block)
};

NetFn resNet(const ResNet& s) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {2, 5, 12});
    Tensor* r = nullptr;
    switch (s.rForm) {
      case 0:
      case 1: r = net.addInput("r", DataType::kFLOAT, {2, 5, 7}); break;
      case 2: r = net.addInput("r", DataType::kFLOAT, {7}); break;
      case 3: r = net.addInput("r", DataType::kFLOAT, {1, 5, 7}); break;
      default: break;
    }
    if (s.rForm == 1) r = op(net, "Tanh", {r});
    Tensor* y = op(net, "MatMul", {a, k.random(net, {12, 7}, 1)});
    if (s.rForm == 4) r = y;
    if (s.bias) y = op(net, "Add", {y, k.random(net, {7}, 2)});
    y = activation(net, k, y, s.actBefore);
    if (s.sumAlsoRead) net.markOutput(*op(net, "Sigmoid", {y}));
    y = s.residualFirst ? op(net, "Add", {r, y}) : op(net, "Add", {y, r});
    y = activation(net, k, y, s.actAfter);
    if (s.layerNorm)
      y = op(net, "LayerNormalization", {y, k.random(net, {7}, 3), k.random(net, {7}, 4)},
             {{"axis", int64_t{-1}}});
    y->setName("y");
    net.markOutput(*y);
  };
}

TEST(MatMulEpilogueFusion, ResidualAddIsAbsorbed) {
  for (bool bias : {true, false})
    for (bool first : {false, true})
      for (int rForm : {0, 1})
        for (const char* act : {"", "Relu", "GeluTanh", "Silu"}) {
          SCOPED_TRACE(::testing::Message() << "bias " << bias << " residual first " << first
                                            << " rForm " << rForm << " act " << act);
          ResNet s;
          s.bias = bias;
          s.residualFirst = first;
          s.rForm = rForm;
          s.actAfter = act;
          auto g = optimized(resNet(s));
          EXPECT_EQ(opsOf(*g), rForm == 1 ? ops({"FusedMatMul", "Tanh"}) : ops({"FusedMatMul"}));
          const ir::Node* f = findOp(*g, ir::OpKind::kFusedMatMul);
          ASSERT_NE(f, nullptr);
          ASSERT_EQ(f->inputs.size(), 4u);
          EXPECT_EQ(f->inputs[2] != nullptr, bias);
          ASSERT_NE(f->inputs[3], nullptr);
          if (rForm == 0) {
            EXPECT_EQ(f->inputs[3]->name, "r");
          } else {
            ASSERT_NE(f->inputs[3]->producer, nullptr);
            EXPECT_EQ(f->inputs[3]->producer->op, ir::OpKind::kTanh);
          }
          const std::string want = act == std::string("Silu") ? "Silu" : act;
          EXPECT_EQ(f->attrs.getString("activation", "?"), want);
          EXPECT_EQ(f->outputs[0]->name, "y");
          // fused_nodes names every layer replaced: MatMul, bias Add, residual Add, activation.
          const std::string fused = f->attrs.getString("fused_nodes", "");
          const size_t layers = 2 + (bias ? 1 : 0) + activationLayers(act);
          EXPECT_EQ(static_cast<size_t>(std::count(fused.begin(), fused.end(), '+')), layers - 1)
              << fused;
          expectEquivalent(resNet(s), static_cast<int>(layers) - 1);
        }
}

TEST(MatMulEpilogueFusion, ResidualBeforeLayerNormalization) {
  // BERT's output block: MatMul -> Add bias -> Add residual -> LayerNormalization.
  ResNet s;
  s.layerNorm = true;
  std::string verbose;
  auto g = optimized(resNet(s), {}, 3, &verbose);
  EXPECT_EQ(opsOf(*g), ops({"FusedMatMul", "LayerNormalization"}));
  EXPECT_NE(verbose.find("+ bias + residual r into FusedMatMul"), std::string::npos) << verbose;
  expectEquivalent(resNet(s), 2);
}

TEST(MatMulEpilogueFusion, ResidualNotAbsorbedWhenUnsafe) {
  // Broadcasting residuals: the bias (and nothing else) is fused.
  for (int rForm : {2, 3}) {
    ResNet s;
    s.rForm = rForm;
    s.actAfter = "Relu";
    SCOPED_TRACE(rForm);
    auto g = optimized(resNet(s));
    EXPECT_EQ(opsOf(*g), ops({"FusedMatMul", "Add", "Relu"}));
    EXPECT_EQ(findOp(*g, ir::OpKind::kFusedMatMul)->inputs.size(), 3u);
    expectEquivalent(resNet(s), 1);
  }
  // An activation before the residual Add: act(AB + b) + R stays two layers.
  ResNet actBefore;
  actBefore.actBefore = "Relu";
  auto g = optimized(resNet(actBefore));
  EXPECT_EQ(opsOf(*g), ops({"FusedMatMul", "Add"}));
  const ir::Node* f = findOp(*g, ir::OpKind::kFusedMatMul);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->inputs.size(), 3u);
  EXPECT_EQ(f->attrs.getString("activation", "?"), "Relu");
  expectEquivalent(resNet(actBefore), 2);
  // The biased sum has another reader: MatMul + bias fused, the residual Add stays.
  ResNet shared;
  shared.sumAlsoRead = true;
  shared.actAfter = "Relu";
  g = optimized(resNet(shared));
  EXPECT_EQ(opsOf(*g), ops({"FusedMatMul", "Sigmoid", "Add", "Relu"}));
  EXPECT_EQ(findOp(*g, ir::OpKind::kFusedMatMul)->inputs.size(), 3u);
  expectEquivalent(resNet(shared), 1);
  // Without a bias, the product itself has another reader: nothing fused.
  shared.bias = false;
  EXPECT_EQ(opsAfter(resNet(shared)), ops({"MatMul", "Sigmoid", "Add", "Relu"}));
  // The product added to itself (R is the product): not a residual; the pass leaves it.
  ResNet self;
  self.bias = false;
  self.rForm = 4;
  EXPECT_EQ(opsAfter(resNet(self)), ops({"MatMul", "Add"}));
  // The residual Add's precision differs from the MatMul's: not absorbed.
  NetFn precision = [](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {5, 12});
    Tensor* r = net.addInput("r", DataType::kFLOAT, {5, 7});
    Tensor* y = op(net, "MatMul", {a, k.random(net, {12, 7}, 1)});
    Layer* add = net.addOp("Add", std::vector<Tensor*>{y, r});
    ASSERT_NE(add, nullptr);
    add->setPrecision(DataType::kFLOAT);
    net.markOutput(*add->getOutput(0));
  };
  EXPECT_EQ(opsAfter(precision), ops({"MatMul", "Add"}));
}

// A [2, 5, 12] @ B [12, 7] + bias [7] + R [2, 5, 7] -> Relu, in double (the resNet constants).
std::vector<float> residualReference(const std::vector<float>& a, const std::vector<float>& r) {
  const std::vector<float> b = randomVec(12 * 7, 1), bias = randomVec(7, 2);
  std::vector<float> y(10 * 7);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 7; ++j) {
      double s =
          static_cast<double>(bias[static_cast<size_t>(j)]) + r[static_cast<size_t>(i * 7 + j)];
      for (int p = 0; p < 12; ++p)
        s += static_cast<double>(a[static_cast<size_t>(i * 12 + p)]) *
             b[static_cast<size_t>(p * 7 + j)];
      y[static_cast<size_t>(i * 7 + j)] = static_cast<float>(s > 0 ? s : 0.0);
    }
  return y;
}

TEST(MatMulEpilogueFusion, ResidualFp16BuildAndPlanRoundTrip) {
  ResNet s;
  s.actAfter = "Relu";
  // Graph level: Z is a data input of the compute layer: float16 like A.
  auto g = optimized(resNet(s));
  ASSERT_EQ(opsOf(*g), ops({"FusedMatMul"}));
  opt::PassContext ctx;
  ctx.fp16 = true;
  StatusOr<bool> changed = opt::fp16PrecisionPass(*g, ctx);
  ASSERT_TRUE(changed.isOk()) << changed.status().toString();
  ASSERT_TRUE(ir::inferGraphInPlace(*g).isOk());
  EXPECT_EQ(opsOf(*g), ops({"Cast", "Cast", "FusedMatMul", "Cast"}));
  const ir::Node* f = findOp(*g, ir::OpKind::kFusedMatMul);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->inputs.size(), 4u);
  for (const ir::Value* v : f->inputs) EXPECT_EQ(v->dtype, DataType::kHALF) << v->name;

  // Through the builder: float32 and float16 engines against the double reference.
  RunResult full = buildAndRun(resNet(s), {}, 5, false);
  RunResult half = buildAndRun(resNet(s), {}, 5, true);
  ASSERT_EQ(full.inputs.size(), 2u);
  ASSERT_EQ(half.inputs.size(), 2u);
  ASSERT_EQ(full.outputs.size(), 1u);
  ASSERT_EQ(half.outputs.size(), 1u);
  EXPECT_EQ(full.layers, 1) << full.layerInfo;
  const std::vector<float> want = residualReference(full.inputs[0], full.inputs[1]);
  EXPECT_LE(relError(full.outputs[0], want), kTol);
  const double e = relError(half.outputs[0], residualReference(half.inputs[0], half.inputs[1]));
  EXPECT_LE(e, 1e-2);
  EXPECT_GT(e, 0.0);  // it did run in half

  // Plan round trip: serialize the loaded engine again, the same layer and outputs.
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  resNet(s)(*net);
  auto config = builder->createConfig();
  config->setDeviceType(DeviceType::kCPU);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << builder->getLastError();
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  RunResult first;
  runEngine(*engine, 23, first);
  EXPECT_EQ(first.layers, 1) << first.layerInfo;
  auto again = engine->serialize();
  ASSERT_NE(again, nullptr);
  auto engine2 = runtime->deserializeEngine(again->data(), again->size());
  ASSERT_NE(engine2, nullptr) << runtime->getLastError();
  RunResult second;
  runEngine(*engine2, 23, second);
  EXPECT_EQ(second.layerInfo, first.layerInfo);
  ASSERT_EQ(second.outputs.size(), 1u);
  EXPECT_EQ(second.outputs[0], first.outputs[0]);
  EXPECT_LE(relError(first.outputs[0], residualReference(first.inputs[0], first.inputs[1])), kTol);
}

// ---- Gemm forms ---------------------------------------------------------------------------------

// Gemm(A [5, 12], B, C) with cForm: 0 none, 1 constant [N], 2 constant [1, N], 3 input [N],
// 4 constant [M, N]; then act.
struct GemmNet {
  bool transB = false, bInput = false, transA = false;
  int cForm = 1;
  float alpha = 1.f, beta = 1.f;
  std::string act;
  bool addAfter = false;  // Add(constant [N]) after a C-less Gemm
};

NetFn gemmNet(const GemmNet& s) {
  return [=](NetworkDefinition& net) {
    Consts k;
    const int64_t m = 5, kk = 12, n = 7;
    Tensor* a = net.addInput("a", DataType::kFLOAT, s.transA ? Dims{kk, m} : Dims{m, kk});
    const Dims bd = s.transB ? Dims{n, kk} : Dims{kk, n};
    Tensor* b = s.bInput ? net.addInput("b", DataType::kFLOAT, bd) : k.random(net, bd, 1);
    Tensor* c = nullptr;
    switch (s.cForm) {
      case 1: c = k.random(net, {n}, 2); break;
      case 2: c = k.random(net, {1, n}, 2); break;
      case 3: c = net.addInput("c", DataType::kFLOAT, {n}); break;
      case 4: c = k.random(net, {m, n}, 2); break;
      default: break;
    }
    std::vector<Tensor*> ins{a, b};
    if (c) ins.push_back(c);
    Tensor* y = op(net, "Gemm", ins,
                   {{"transB", int64_t{s.transB}},
                    {"transA", int64_t{s.transA}},
                    {"alpha", s.alpha},
                    {"beta", s.beta}});
    if (s.addAfter) y = op(net, "Add", {k.random(net, {n}, 3), y});
    y = activation(net, k, y, s.act);
    net.markOutput(*y);
  };
}

TEST(MatMulEpilogueFusion, GemmForms) {
  struct Case {
    GemmNet s;
    int fewer;
  };
  std::vector<Case> cases;
  for (bool transB : {false, true})
    for (int cForm : {0, 1, 2, 3})
      for (const char* act : {"", "Relu", "Silu"}) {
        GemmNet s;
        s.transB = transB;
        s.cForm = cForm;
        s.act = act;
        cases.push_back({s, activationLayers(act)});
      }
  GemmNet addAfter;  // B not constant, so batchnorm-folding does not take the Add into C first
  addAfter.cForm = 0;
  addAfter.bInput = true;
  addAfter.addAfter = true;
  addAfter.act = "HardSwish";
  cases.push_back({addAfter, 2});
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "transB " << c.s.transB << " C form " << c.s.cForm
                                      << " act " << c.s.act << " add " << c.s.addAfter);
    auto g = optimized(gemmNet(c.s));
    EXPECT_EQ(opsOf(*g), ops({"FusedMatMul"}));
    const ir::Node* f = findOp(*g, ir::OpKind::kFusedMatMul);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->inputs.size(), c.s.cForm == 0 && !c.s.addAfter ? 2u : 3u);
    // B as FusedMatMul reads it: [K, N], the transposed constant for transB.
    ASSERT_EQ(f->inputs[1]->shape.size(), 2u);
    EXPECT_EQ(f->inputs[1]->shape[0].constValue(), 12);
    EXPECT_EQ(f->inputs[1]->shape[1].constValue(), 7);
    if (f->inputs.size() == 3) {
      EXPECT_EQ(f->inputs[2]->shape.size(), 1u);
    }
    expectEquivalent(gemmNet(c.s), c.fewer);
  }
}

TEST(MatMulEpilogueFusion, GemmNotFused) {
  GemmNet alpha;
  alpha.alpha = 2.f;
  GemmNet beta;
  beta.beta = 0.5f;
  GemmNet transA;
  transA.transA = true;
  GemmNet transBInput;  // transB with a non-constant B
  transBInput.transB = true;
  transBInput.bInput = true;
  GemmNet fullC;
  fullC.cForm = 4;
  for (const GemmNet& s : {alpha, beta, transA, transBInput, fullC}) {
    GemmNet withAct = s;
    withAct.act = "Relu";
    EXPECT_EQ(opsAfter(gemmNet(withAct)), ops({"Gemm", "Relu"}));
  }
  // A Gemm with transB = 0 and a non-constant B is fine.
  GemmNet bInput;
  bInput.bInput = true;
  bInput.act = "Tanh";
  EXPECT_EQ(opsAfter(gemmNet(bInput)), ops({"FusedMatMul"}));
  expectEquivalent(gemmNet(bInput), 1);
}

// ---- against a double-precision reference, fp16, plan round trip --------------------------------

// A [2, 3, 12] @ B [12, 7] + bias [7] -> Gelu(tanh), constants from fixed seeds.
NetFn transformerMlp() {
  MmNet s;
  s.aDims = {2, 3, 12};
  s.act = "GeluTanh";
  return mmNet(s);
}

std::vector<float> mlpReference(const std::vector<float>& a) {
  const std::vector<float> b = randomVec(12 * 7, 1), bias = randomVec(7, 2);
  const double pi = std::acos(-1.0);
  std::vector<float> y(6 * 7);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 7; ++j) {
      double s = bias[static_cast<size_t>(j)];
      for (int p = 0; p < 12; ++p)
        s += static_cast<double>(a[static_cast<size_t>(i * 12 + p)]) *
             b[static_cast<size_t>(p * 7 + j)];
      y[static_cast<size_t>(i * 7 + j)] = static_cast<float>(
          0.5 * s * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (s + 0.044715 * s * s * s))));
    }
  return y;
}

TEST(MatMulEpilogueFusion, MatchesDoubleReference) {
  RunResult on = buildAndRun(transformerMlp(), {}, 5);
  ASSERT_EQ(on.inputs.size(), 1u);
  ASSERT_EQ(on.outputs.size(), 1u);
  EXPECT_NE(on.layerInfo.find("FusedMatMul '"), std::string::npos) << on.layerInfo;
  EXPECT_LE(relError(on.outputs[0], mlpReference(on.inputs[0])), kTol);
}

TEST(MatMulEpilogueFusion, PlanRoundTrip) {
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  transformerMlp()(*net);
  auto config = builder->createConfig();
  config->setDeviceType(DeviceType::kCPU);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  ASSERT_NE(plan, nullptr) << builder->getLastError();
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  RunResult first;
  runEngine(*engine, 21, first);
  EXPECT_EQ(first.layers, 1) << first.layerInfo;
  EXPECT_NE(first.layerInfo.find("FusedMatMul '"), std::string::npos) << first.layerInfo;
  // Serialize the loaded engine again and load that: the same layer, bit-identical outputs.
  auto again = engine->serialize();
  ASSERT_NE(again, nullptr);
  auto engine2 = runtime->deserializeEngine(again->data(), again->size());
  ASSERT_NE(engine2, nullptr) << runtime->getLastError();
  RunResult second;
  runEngine(*engine2, 21, second);
  EXPECT_EQ(second.layerInfo, first.layerInfo);
  ASSERT_EQ(second.outputs.size(), 1u);
  EXPECT_EQ(second.outputs[0], first.outputs[0]);
  EXPECT_LE(relError(first.outputs[0], mlpReference(first.inputs[0])), kTol);
}

TEST(MatMulEpilogueFusion, Fp16BuildRunsTheFusedLayerInHalf) {
  // Graph level: the fp16 pass treats FusedMatMul as a compute layer (B and bias become float16
  // constants, casts at the ends).
  auto g = optimized(transformerMlp());
  ASSERT_EQ(opsOf(*g), ops({"FusedMatMul"}));
  opt::PassContext ctx;
  ctx.fp16 = true;
  StatusOr<bool> changed = opt::fp16PrecisionPass(*g, ctx);
  ASSERT_TRUE(changed.isOk()) << changed.status().toString();
  EXPECT_TRUE(*changed);
  ASSERT_TRUE(ir::inferGraphInPlace(*g).isOk());
  EXPECT_EQ(opsOf(*g), ops({"Cast", "FusedMatMul", "Cast"}));
  const ir::Node* f = findOp(*g, ir::OpKind::kFusedMatMul);
  ASSERT_NE(f, nullptr);
  for (const ir::Value* v : f->inputs) EXPECT_EQ(v->dtype, DataType::kHALF) << v->name;
  EXPECT_EQ(f->outputs[0]->dtype, DataType::kHALF);

  // Through the builder: float16 engine against the float32 one and the double reference.
  RunResult half = buildAndRun(transformerMlp(), {}, 5, true);
  RunResult full = buildAndRun(transformerMlp(), {}, 5, false);
  EXPECT_NE(half.layerInfo.find("FusedMatMul '"), std::string::npos) << half.layerInfo;
  EXPECT_NE(half.verbose.find("layers run in float16"), std::string::npos) << half.verbose;
  ASSERT_EQ(half.outputs.size(), 1u);
  ASSERT_EQ(full.outputs.size(), 1u);
  const std::vector<float> want = mlpReference(half.inputs[0]);
  EXPECT_LE(relError(full.outputs[0], want), kTol);
  const double e = relError(half.outputs[0], want);
  EXPECT_LE(e, 1e-2);
  EXPECT_GT(e, 0.0);  // it did run in half
}

TEST(MatMulEpilogueFusion, LevelAndName) {
  bool found = false;
  for (const opt::PassInfo& p : opt::allPasses()) {
    if (std::string(p.name) != kPass) continue;
    found = true;
    EXPECT_EQ(p.minLevel, 2);
  }
  EXPECT_TRUE(found);
  // Level 1 leaves the pattern alone.
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  transformerMlp()(*net);
  std::unique_ptr<ir::Graph> g = net->impl().graph->clone();
  ASSERT_TRUE(ir::inferGraphInPlace(*g).isOk());
  opt::PassContext ctx;
  ctx.optimizationLevel = 1;
  ASSERT_TRUE(opt::runPasses(*g, ctx).isOk());
  EXPECT_EQ(findOp(*g, ir::OpKind::kFusedMatMul), nullptr);
  // The builder logs the fusion (verbose).
  RunResult on = buildAndRun(transformerMlp(), {}, 3);
  EXPECT_NE(on.verbose.find("+ bias + GeluTanh into FusedMatMul"), std::string::npos) << on.verbose;
}

}  // namespace
}  // namespace kiln
