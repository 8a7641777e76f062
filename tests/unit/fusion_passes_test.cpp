// Level-2 optimizer passes (batchnorm-folding, layernorm-fusion, gelu-fusion,
// transpose-reshape-cancellation): (a) the layers left after the passes on hand-built networks,
// including patterns that must not be rewritten; (b) numerical equivalence: each network is
// built twice through the public API, with the pass disabled (BuilderConfig::setDisabledPasses)
// and enabled, and both engines run on the CPU on the same random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
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

// ---- batchnorm-folding --------------------------------------------------------------------------

std::vector<float> bnScale(size_t c, uint32_t s) { return randomVec(c, s, 0.5f, 1.5f); }
std::vector<float> bnVar(size_t c, uint32_t s) { return randomVec(c, s, 0.2f, 2.0f); }

Layer* addBn(NetworkDefinition& net, Consts& k, Tensor& x, size_t c, uint32_t seed) {
  return net.addBatchNormalization(x, k.w(bnScale(c, seed)), k.w(randomVec(c, seed + 1)),
                                   k.w(randomVec(c, seed + 2)), k.w(bnVar(c, seed + 3)), 1e-3f);
}

NetFn convBn(bool bias, int64_t groups) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {2, 4, 7, 6});
    ConvolutionDesc d;
    d.padding = {1, 1};
    d.groups = groups;
    Weights b = bias ? k.w(randomVec(6, 2)) : Weights{};
    Layer* conv = net.addConvolution(*x, 6, {3, 3}, k.w(randomVec(6 * 4 / groups * 9, 1)), b, d);
    ASSERT_NE(conv, nullptr) << net.getLastError();
    Layer* bn = addBn(net, k, *conv->getOutput(0), 6, 3);
    ASSERT_NE(bn, nullptr) << net.getLastError();
    net.markOutput(*bn->getOutput(0));
  };
}

// The folded layer records what it absorbed (the fused_nodes attribute, "conv + bn").
TEST(BatchNormFolding, FoldedConvNamesTheBatchNorm) {
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  convBn(true, 1)(*net);
  ASSERT_EQ(net->getNbLayers(), 2);
  const std::string want =
      std::string(net->getLayer(0)->getName()) + " + " + net->getLayer(1)->getName();
  std::unique_ptr<ir::Graph> g = optimized(convBn(true, 1));
  ASSERT_EQ(g->nodes().size(), 1u);
  EXPECT_EQ(g->nodes()[0]->attrs.getString("fused_nodes", ""), want);
}

TEST(BatchNormFolding, ConvBnBecomesOneConv) {
  for (bool bias : {true, false})
    for (int64_t groups : {1, 2}) {
      EXPECT_EQ(opsAfter(convBn(bias, groups)), ops({"Conv"}));
      EXPECT_EQ(opsAfter(convBn(bias, groups), {"batchnorm-folding"}),
                ops({"Conv", "BatchNormalization"}));
      expectEquivalent(convBn(bias, groups), "batchnorm-folding", 1);
    }
}

NetFn deconvBn(int64_t groups) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {1, 4, 5, 5});
    ConvolutionDesc d;
    d.stride = {2, 2};
    d.groups = groups;
    // W is [C_in, C_out / groups, kh, kw] = [4, 6 / groups, 3, 3].
    Layer* deconv = net.addDeconvolution(*x, 6, {3, 3}, k.w(randomVec(4 * 6 / groups * 9, 5)),
                                         k.w(randomVec(6, 6)), d);
    ASSERT_NE(deconv, nullptr) << net.getLastError();
    Layer* bn = addBn(net, k, *deconv->getOutput(0), 6, 7);
    net.markOutput(*bn->getOutput(0));
  };
}

TEST(BatchNormFolding, ConvTransposeBnBecomesOneConvTranspose) {
  for (int64_t groups : {1, 2}) {
    EXPECT_EQ(opsAfter(deconvBn(groups)), ops({"ConvTranspose"}));
    expectEquivalent(deconvBn(groups), "batchnorm-folding", 1);
  }
}

// Gemm [5, 8] x B -> [5, 3] (B [8, 3], or [3, 8] with transB) with C of `cDims` (none when
// nullopt; {} is a scalar C).
NetFn gemmBn(bool transB, std::optional<std::vector<int64_t>> cDims, float alpha, float beta) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {5, 8});
    Tensor* b = k.random(net, transB ? Dims{3, 8} : Dims{8, 3}, 9);
    Tensor* c = nullptr;
    if (cDims) {
      Dims cd;
      cd.nbDims = static_cast<int32_t>(cDims->size());
      for (size_t i = 0; i < cDims->size(); ++i) cd.d[i] = (*cDims)[i];
      c = k.random(net, cd, 10);
    }
    Layer* gemm = net.addGemm(*a, *b, c, alpha, beta, false, transB);
    ASSERT_NE(gemm, nullptr) << net.getLastError();
    Layer* bn = addBn(net, k, *gemm->getOutput(0), 3, 11);
    ASSERT_NE(bn, nullptr) << net.getLastError();
    net.markOutput(*bn->getOutput(0));
  };
}

TEST(BatchNormFolding, GemmBnBecomesOneGemm) {
  const std::vector<std::optional<std::vector<int64_t>>> cShapes = {std::nullopt,
                                                                    std::vector<int64_t>{},
                                                                    std::vector<int64_t>{3},
                                                                    std::vector<int64_t>{1, 3},
                                                                    std::vector<int64_t>{5, 3},
                                                                    std::vector<int64_t>{5, 1}};
  for (bool transB : {false, true})
    for (const auto& cd : cShapes) {
      SCOPED_TRACE(::testing::Message()
                   << "transB=" << transB << " C rank " << (cd ? int(cd->size()) : -1));
      NetFn fn = gemmBn(transB, cd, 0.7f, 0.5f);
      EXPECT_EQ(opsAfter(fn), ops({"Gemm"}));
      expectEquivalent(fn, "batchnorm-folding", 1);
    }
}

// Conv -> Mul(k [6,1,1]) -> Add(k' [1,6,1,1]) -> Sub(scalar) -> Div([6,1,1])
NetFn convScale() {
  return [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {2, 4, 5, 5});
    Layer* conv =
        net.addConvolution(*x, 6, {3, 3}, k.w(randomVec(6 * 4 * 9, 21)), k.w(randomVec(6, 22)));
    Tensor* y = conv->getOutput(0);
    y = op(net, "Mul", {y, k.random(net, {6, 1, 1}, 23, 0.5f, 2.f)});
    y = op(net, "Add", {k.random(net, {1, 6, 1, 1}, 24), y});
    y = op(net, "Sub", {y, k.scalar(net, 0.25f)});
    y = op(net, "Div", {y, k.random(net, {6, 1, 1}, 25, 0.5f, 2.f)});
    net.markOutput(*y);
  };
}

NetFn gemmScale() {
  return [](NetworkDefinition& net) {
    Consts k;
    Tensor* a = net.addInput("a", DataType::kFLOAT, {4, 8});
    Layer* fc =
        net.addGemm(*a, *k.random(net, {3, 8}, 31), k.random(net, {3}, 32), 1.f, 1.f, false, true);
    Tensor* y = op(net, "Mul", {k.random(net, {3}, 33), fc->getOutput(0)});
    y = op(net, "Add", {y, k.random(net, {1, 3}, 34)});
    net.markOutput(*y);
  };
}

TEST(BatchNormFolding, PerChannelMulAddFoldIntoConvAndGemm) {
  EXPECT_EQ(opsAfter(convScale()), ops({"Conv"}));
  EXPECT_EQ(opsAfter(convScale(), {"batchnorm-folding"}),
            ops({"Conv", "Mul", "Add", "Sub", "Div"}));
  expectEquivalent(convScale(), "batchnorm-folding", 4);
  // matmul-epilogue-fusion would turn the folded Gemm into a FusedMatMul (tested there).
  EXPECT_EQ(opsAfter(gemmScale(), {"matmul-epilogue-fusion"}), ops({"Gemm"}));
  expectEquivalent(gemmScale(), "batchnorm-folding", 2);
}

TEST(BatchNormFolding, NotFoldedWhenUnsafe) {
  // The Conv's output is also a network output.
  NetFn twoUses = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {1, 4, 5, 5});
    Layer* conv = net.addConvolution(*x, 6, {3, 3}, k.w(randomVec(216, 1)), Weights{});
    net.markOutput(*conv->getOutput(0));
    net.markOutput(*addBn(net, k, *conv->getOutput(0), 6, 3)->getOutput(0));
  };
  EXPECT_EQ(opsAfter(twoUses), ops({"Conv", "BatchNormalization"}));
  // Weights are a network input, not a constant.
  NetFn dynamicWeights = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {1, 4, 5, 5});
    Tensor* w = net.addInput("w", DataType::kFLOAT, {6, 4, 3, 3});
    Tensor* y = op(net, "Conv", {x, w}, {{"kernel_shape", std::vector<int64_t>{3, 3}}});
    net.markOutput(*addBn(net, k, *y, 6, 3)->getOutput(0));
  };
  EXPECT_EQ(opsAfter(dynamicWeights), ops({"Conv", "BatchNormalization"}));
  // A Mul by a constant that varies along the spatial axes, and an Add of a non-constant.
  NetFn notPerChannel = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {1, 4, 5, 5});
    Layer* conv = net.addConvolution(*x, 6, {3, 3}, k.w(randomVec(216, 1)), Weights{});
    Tensor* y = op(net, "Mul", {conv->getOutput(0), k.random(net, {6, 3, 1}, 2)});
    net.markOutput(*y);
    Layer* conv2 = net.addConvolution(*x, 6, {3, 3}, k.w(randomVec(216, 3)), Weights{});
    Tensor* z = op(net, "Add", {conv2->getOutput(0), conv2->getOutput(0)});
    net.markOutput(*z);
  };
  EXPECT_EQ(opsAfter(notPerChannel), ops({"Conv", "Mul", "Conv", "Add"}));
  // BN after a Relu (no weights to fold into).
  NetFn afterRelu = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {1, 6, 5, 5});
    Layer* r = net.addActivation(*x, ActivationType::kRELU);
    net.markOutput(*addBn(net, k, *r->getOutput(0), 6, 3)->getOutput(0));
  };
  EXPECT_EQ(opsAfter(afterRelu), ops({"Relu", "BatchNormalization"}));
}

// ---- layernorm-fusion ---------------------------------------------------------------------------

struct LnSpec {
  bool powSquare = true;  // Pow(d, 2) or Mul(d, d)
  bool divide = true;     // Div(d, std) or Mul(d, Reciprocal(std))
  bool axesInput = true;  // ReduceMean axes as input (opset 18) or attribute
  int64_t axis = -1;      // the reduced axis (-1, 2 = last of rank 3, 1 = wrong)
  bool swapped = false;   // constants first in Add/Mul
  bool gamma = true, beta = true;
  bool gammaFull = false;      // gamma of shape [S, C] (not per channel)
  bool epsInput = false;       // eps is a network input (not a constant)
  bool varAlsoOutput = false;  // the variance is a network output too
};

NetFn decomposedLayerNorm(LnSpec s) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {2, 5, 8});
    auto mean = [&](Tensor* v) {
      if (s.axesInput) {
        int64_t a = s.axis;
        Tensor* axes = net.addConstant({1}, Weights{DataType::kINT64, &a, 1});
        return op(net, "ReduceMean", {v, axes}, {{"keepdims", int64_t{1}}});
      }
      return op(net, "ReduceMean", {v},
                {{"axes", std::vector<int64_t>{s.axis}}, {"keepdims", int64_t{1}}});
    };
    auto bin = [&](const char* type, Tensor* a, Tensor* b) {
      return s.swapped && std::string(type) != "Sub" && std::string(type) != "Div"
                 ? op(net, type, {b, a})
                 : op(net, type, {a, b});
    };
    Tensor* d = op(net, "Sub", {x, mean(x)});
    Tensor* sq = s.powSquare ? op(net, "Pow", {d, k.scalar(net, 2.f)}) : op(net, "Mul", {d, d});
    Tensor* var = mean(sq);
    if (s.varAlsoOutput) net.markOutput(*var);
    Tensor* eps = s.epsInput ? net.addInput("eps", DataType::kFLOAT, {1}) : k.scalar(net, 1e-5f);
    Tensor* sd = op(net, "Sqrt", {bin("Add", var, eps)});
    Tensor* y = s.divide ? op(net, "Div", {d, sd}) : bin("Mul", d, op(net, "Reciprocal", {sd}));
    if (s.gamma)
      y = bin(
          "Mul", y,
          s.gammaFull ? k.random(net, {5, 8}, 41, 0.5f, 1.5f) : k.random(net, {8}, 41, 0.5f, 1.5f));
    if (s.beta) y = bin("Add", y, k.random(net, {1, 8}, 42));
    y->setName("y");
    net.markOutput(*y);
  };
}

TEST(LayerNormFusion, DecomposedFormsBecomeOneLayerNormalization) {
  std::vector<LnSpec> specs(6);
  specs[1].powSquare = false;
  specs[1].divide = false;
  specs[2].axesInput = false;
  specs[2].axis = 2;
  specs[2].swapped = true;
  specs[3].gamma = false;
  specs[3].beta = false;
  specs[4].beta = false;
  specs[4].divide = false;
  specs[4].swapped = true;
  specs[5].gamma = false;
  const int layers[] = {9, 10, 9, 7, 9, 8};
  for (size_t i = 0; i < specs.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "spec " << i);
    EXPECT_EQ(opsAfter(decomposedLayerNorm(specs[i])), ops({"LayerNormalization"}));
    expectEquivalent(decomposedLayerNorm(specs[i]), "layernorm-fusion", layers[i] - 1);
  }
  // Against LayerNorm in double over rows of 8 (gamma and beta as decomposedLayerNorm draws them).
  RunResult on = buildAndRun(decomposedLayerNorm(specs[0]), {}, 3);
  ASSERT_EQ(on.inputs.size(), 1u);
  const std::vector<float> gamma = randomVec(8, 41, 0.5f, 1.5f), beta = randomVec(8, 42);
  std::vector<float> want(on.inputs[0].size());
  for (size_t row = 0; row < want.size() / 8; ++row) {
    const float* x = &on.inputs[0][row * 8];
    double mean = 0, var = 0;
    for (int j = 0; j < 8; ++j) mean += x[j] / 8.0;
    for (int j = 0; j < 8; ++j) var += (x[j] - mean) * (x[j] - mean) / 8.0;
    for (size_t j = 0; j < 8; ++j)
      want[row * 8 + j] =
          static_cast<float>((x[j] - mean) / std::sqrt(var + 1e-5f) * gamma[j] + beta[j]);
  }
  EXPECT_LE(relError(on.outputs[0], want), kTol);
}

TEST(LayerNormFusion, NotFusedWhenUnsafe) {
  LnSpec twoUses;
  twoUses.varAlsoOutput = true;
  EXPECT_EQ(opsAfter(decomposedLayerNorm(twoUses)).count("LayerNormalization"), 0u);
  LnSpec dynamicEps;
  dynamicEps.epsInput = true;
  EXPECT_EQ(opsAfter(decomposedLayerNorm(dynamicEps)).count("LayerNormalization"), 0u);
  LnSpec wrongAxis;
  wrongAxis.axis = 1;
  EXPECT_EQ(opsAfter(decomposedLayerNorm(wrongAxis)).count("LayerNormalization"), 0u);
  LnSpec wrongAxisAttr;
  wrongAxisAttr.axesInput = false;
  wrongAxisAttr.axis = 1;
  EXPECT_EQ(opsAfter(decomposedLayerNorm(wrongAxisAttr)).count("LayerNormalization"), 0u);
  // A gamma that is not per channel stays as a Mul after the fused layer (and beta with it).
  LnSpec fullGamma;
  fullGamma.gammaFull = true;
  EXPECT_EQ(opsAfter(decomposedLayerNorm(fullGamma)), ops({"LayerNormalization", "Mul", "Add"}));
  expectEquivalent(decomposedLayerNorm(fullGamma), "layernorm-fusion", 6);
}

// ---- gelu-fusion --------------------------------------------------------------------------------

// The GELU forms exporters emit (see the comments), on x [3, 16], followed by a Relu so the
// output is not the pattern's own value.
NetFn geluErf(int form, float half = 0.5f, float sqrt2 = 1.41421356f, bool erfAlsoOutput = false) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {3, 16});
    Tensor* xs = form == 1 ? op(net, "Mul", {x, k.scalar(net, 1.f / sqrt2)})
                           : op(net, "Div", {x, k.scalar(net, sqrt2)});
    Tensor* e = op(net, "Erf", {xs});
    if (erfAlsoOutput) net.markOutput(*e);
    Tensor* t = form == 1 ? op(net, "Add", {k.scalar(net, 1.f), e})
                          : op(net, "Add", {e, k.scalar(net, 1.f)});
    Tensor* y = nullptr;
    switch (form) {
      case 0:
        y = op(net, "Mul", {op(net, "Mul", {x, t}), k.scalar(net, half)});
        break;  // gen_models
      case 1: y = op(net, "Mul", {op(net, "Div", {x, k.scalar(net, 1.f / half)}), t}); break;
      case 2: y = op(net, "Mul", {op(net, "Mul", {x, k.scalar(net, half)}), t}); break;
      default: y = op(net, "Mul", {k.scalar(net, half), op(net, "Mul", {t, x})}); break;
    }
    net.markOutput(*net.addActivation(*y, ActivationType::kRELU)->getOutput(0));
  };
}

NetFn geluTanh(int form, float coeff = 0.044715f) {
  return [=](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {3, 16});
    Tensor* cube = form == 0 ? op(net, "Pow", {x, k.scalar(net, 3.f)})
                             : op(net, "Mul", {x, op(net, "Mul", {x, x})});
    Tensor* inner = op(net, "Add", {x, op(net, "Mul", {cube, k.scalar(net, coeff)})});
    inner = op(net, "Mul", {inner, k.scalar(net, 0.7978845608f)});
    Tensor* t = op(net, "Add", {op(net, "Tanh", {inner}), k.scalar(net, 1.f)});
    Tensor* y = form == 0 ? op(net, "Mul", {op(net, "Mul", {x, k.scalar(net, 0.5f)}), t})
                          : op(net, "Mul", {op(net, "Mul", {k.scalar(net, 0.5f), x}), t});
    y->setName("y");
    net.markOutput(*y);
  };
}

TEST(GeluFusion, ErfFormsBecomeOneGelu) {
  for (int form = 0; form < 4; ++form) {
    SCOPED_TRACE(::testing::Message() << "form " << form);
    EXPECT_EQ(opsAfter(geluErf(form)), ops({"Gelu", "Relu"}));
    EXPECT_EQ(opsAfter(geluErf(form), {"gelu-fusion"}).count("Erf"), 1u);
    expectEquivalent(geluErf(form), "gelu-fusion", 4);
  }
  // Against the formula in double: Relu(0.5 x (1 + erf(x / sqrt 2))).
  RunResult on = buildAndRun(geluErf(0), {}, 7);
  ASSERT_EQ(on.inputs.size(), 1u);
  std::vector<float> want(on.inputs[0].size());
  for (size_t i = 0; i < want.size(); ++i) {
    const double x = on.inputs[0][i];
    want[i] = static_cast<float>(std::max(0.0, 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)))));
  }
  EXPECT_LE(relError(on.outputs[0], want), kTol);
}

// The fused layer lists every layer of the pattern it replaced (fused_nodes, "a + b + ...");
// constants are not layers.
TEST(GeluFusion, FusedLayerNamesTheLayersItReplaced) {
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  geluErf(0)(*net);
  std::multiset<std::string> want;
  for (int i = 0; i + 1 < net->getNbLayers(); ++i)  // the last layer is the Relu after the GELU
    if (std::string(net->getLayer(i)->getType()) != "Constant")
      want.insert(net->getLayer(i)->getName());
  ASSERT_EQ(std::string(net->getLayer(net->getNbLayers() - 1)->getType()), "Relu");
  std::unique_ptr<ir::Graph> g = optimized(geluErf(0));
  const ir::Node* gelu = findOp(*g, ir::OpKind::kGelu);
  ASSERT_NE(gelu, nullptr);
  const std::string fused = gelu->attrs.getString("fused_nodes", "");
  std::multiset<std::string> got;
  for (size_t start = 0;;) {
    const size_t at = fused.find(" + ", start);
    got.insert(fused.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 3;
  }
  EXPECT_EQ(got, want) << fused;
}

TEST(GeluFusion, TanhFormsBecomeOneGelu) {
  for (int form = 0; form < 2; ++form) {
    SCOPED_TRACE(::testing::Message() << "form " << form);
    EXPECT_EQ(opsAfter(geluTanh(form)), ops({"Gelu"}));
    expectEquivalent(geluTanh(form), "gelu-fusion", form == 0 ? 7 : 8);
  }
  // The fused layer is the tanh approximation (not the erf form), against the formula in double.
  RunResult on = buildAndRun(geluTanh(0), {}, 5);
  EXPECT_NE(on.verbose.find("approximate=tanh"), std::string::npos) << on.verbose;
  ASSERT_EQ(on.inputs.size(), 1u);
  std::vector<float> want(on.inputs[0].size());
  const double pi = std::acos(-1.0);
  for (size_t i = 0; i < want.size(); ++i) {
    const double x = on.inputs[0][i];
    want[i] = static_cast<float>(
        0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x))));
  }
  EXPECT_LE(relError(on.outputs[0], want), kTol);
}

TEST(GeluFusion, NotFusedWhenUnsafe) {
  // Constants off by more than 1e-6.
  EXPECT_EQ(opsAfter(geluErf(0, 0.5001f)).count("Gelu"), 0u);
  EXPECT_EQ(opsAfter(geluErf(2, 0.5f, 1.4143f)).count("Gelu"), 0u);
  EXPECT_EQ(opsAfter(geluTanh(0, 0.0447f)).count("Gelu"), 0u);
  // The Erf's output is also used elsewhere.
  EXPECT_EQ(opsAfter(geluErf(0, 0.5f, 1.41421356f, true)).count("Gelu"), 0u);
  // Erf of a different tensor than the one multiplied.
  NetFn otherTensor = [](NetworkDefinition& net) {
    Consts k;
    Tensor* x = net.addInput("x", DataType::kFLOAT, {3, 16});
    Tensor* z = net.addInput("z", DataType::kFLOAT, {3, 16});
    Tensor* t =
        op(net, "Add",
           {op(net, "Erf", {op(net, "Div", {z, k.scalar(net, 1.41421356f)})}), k.scalar(net, 1.f)});
    net.markOutput(*op(net, "Mul", {op(net, "Mul", {x, t}), k.scalar(net, 0.5f)}));
  };
  EXPECT_EQ(opsAfter(otherTensor).count("Gelu"), 0u);
}

// ---- transpose-reshape-cancellation -------------------------------------------------------------

NetFn transposes(std::vector<int64_t> p1, std::vector<int64_t> p2, bool innerAlsoOutput = false) {
  return [=](NetworkDefinition& net) {
    Tensor* x = net.addInput("x", DataType::kFLOAT, {2, 3, 4, 5});
    Tensor* r = net.addActivation(*x, ActivationType::kRELU)->getOutput(0);
    Tensor* t = net.addTranspose(*r, p1)->getOutput(0);
    if (innerAlsoOutput) net.markOutput(*t);
    Tensor* y = net.addTranspose(*t, p2)->getOutput(0);
    net.markOutput(*net.addActivation(*y, ActivationType::kSIGMOID)->getOutput(0));
  };
}

TEST(TransposeReshapeCancellation, TransposePairs) {
  NetFn composed = transposes({0, 2, 1, 3}, {0, 3, 1, 2});
  EXPECT_EQ(opsAfter(composed), ops({"Relu", "Transpose", "Sigmoid"}));
  expectEquivalent(composed, "transpose-reshape-cancellation", 1);
  NetFn inverse = transposes({0, 2, 3, 1}, {0, 3, 1, 2});
  EXPECT_EQ(opsAfter(inverse), ops({"Relu", "Sigmoid"}));
  expectEquivalent(inverse, "transpose-reshape-cancellation", 2);
  // The inner one is still needed by its other reader; the outer one reads x directly.
  NetFn shared = transposes({0, 2, 1, 3}, {3, 2, 1, 0}, true);
  EXPECT_EQ(opsAfter(shared), ops({"Relu", "Transpose", "Transpose", "Sigmoid"}));
  expectEquivalent(shared, "transpose-reshape-cancellation", 0);
  EXPECT_EQ(opsAfter(composed, {"transpose-reshape-cancellation"}),
            ops({"Relu", "Transpose", "Transpose", "Sigmoid"}));
}

NetFn reshapes(std::vector<int64_t> s1, std::vector<int64_t> s2, bool innerAlsoOutput = false,
               bool dynamic = false) {
  return [=](NetworkDefinition& net) {
    Tensor* x = net.addInput("x", DataType::kFLOAT, {dynamic ? -1 : 2, 3, 4});
    Tensor* r = net.addActivation(*x, ActivationType::kRELU)->getOutput(0);
    Tensor* a = net.addReshape(*r, s1)->getOutput(0);
    if (innerAlsoOutput) net.markOutput(*a);
    Tensor* y = net.addReshape(*a, s2)->getOutput(0);
    net.markOutput(*net.addActivation(*y, ActivationType::kSIGMOID)->getOutput(0));
  };
}

TEST(TransposeReshapeCancellation, ReshapePairs) {
  NetFn plain = reshapes({6, 4}, {4, -1});
  EXPECT_EQ(opsAfter(plain), ops({"Relu", "Reshape", "Sigmoid"}));
  expectEquivalent(plain, "transpose-reshape-cancellation", 1);
  // A 0 in the outer target copies a dim of the inner result: replaced by the static shape.
  NetFn zero = reshapes({6, 4}, {0, 2, 2});
  EXPECT_EQ(opsAfter(zero), ops({"Relu", "Reshape", "Sigmoid"}));
  expectEquivalent(zero, "transpose-reshape-cancellation", 1);
  // Not rewritten: the inner result has another use; a 0 target with a dynamic shape.
  EXPECT_EQ(opsAfter(reshapes({6, 4}, {4, 6}, true)),
            ops({"Relu", "Reshape", "Reshape", "Sigmoid"}));
  EXPECT_EQ(opsAfter(reshapes({-1, 4}, {0, 2, 2}, false, true)),
            ops({"Relu", "Reshape", "Reshape", "Sigmoid"}));
  // Dynamic batch, constant outer target without 0: rewritten.
  EXPECT_EQ(opsAfter(reshapes({-1, 4}, {-1, 2, 2}, false, true)),
            ops({"Relu", "Reshape", "Sigmoid"}));
}

TEST(TransposeReshapeCancellation, ReshapeFromShapeTensorInputStays) {
  // The inner target is a network input (a shape tensor): its values must still be checked at
  // run time, so the inner Reshape stays.
  NetFn fromInput = [](NetworkDefinition& net) {
    Tensor* x = net.addInput("x", DataType::kFLOAT, {2, 3, 4});
    Tensor* target = net.addInput("target", DataType::kINT64, {2});
    Tensor* a = net.addReshape(*x, *target)->getOutput(0);
    net.markOutput(*net.addReshape(*a, {4, 6})->getOutput(0));
  };
  EXPECT_EQ(opsAfter(fromInput), ops({"Reshape", "Reshape"}));
  // A target computed from Shape(x) of a dynamic input is not a shape tensor: rewritten.
  NetFn fromShape = [](NetworkDefinition& net) {
    Tensor* x = net.addInput("x", DataType::kFLOAT, {-1, 3, 4});
    Tensor* r = net.addActivation(*x, ActivationType::kRELU)->getOutput(0);
    Tensor* shape = net.addShape(*x)->getOutput(0);
    int64_t zero = 0;
    Tensor* idx = net.addConstant({1}, Weights{DataType::kINT64, &zero, 1});
    Tensor* batch = net.addGather(*shape, *idx, 0)->getOutput(0);
    int64_t rest[] = {12};
    Tensor* restT = net.addConstant({1}, Weights{DataType::kINT64, rest, 1});
    Tensor* parts[] = {batch, restT};
    Tensor* target = net.addConcatenation(parts, 0)->getOutput(0);
    Tensor* a = net.addReshape(*r, *target)->getOutput(0);
    net.markOutput(*net.addReshape(*a, {-1, 6})->getOutput(0));
  };
  std::multiset<std::string> after = opsAfter(fromShape);
  EXPECT_EQ(after.count("Reshape"), 1u);
}

// ---- the pass table and the builder's switch ----------------------------------------------------

TEST(FusionPasses, TableLevelsAndNames) {
  std::map<std::string, int> levels;
  for (const opt::PassInfo& p : opt::allPasses()) levels[p.name] = p.minLevel;
  for (const char* name :
       {"batchnorm-folding", "layernorm-fusion", "gelu-fusion", "transpose-reshape-cancellation"}) {
    ASSERT_TRUE(levels.count(name)) << name;
    EXPECT_EQ(levels[name], 2) << name;
  }
  // Level 1 leaves the patterns alone.
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  geluErf(0)(*net);
  std::unique_ptr<ir::Graph> g = net->impl().graph->clone();
  ASSERT_TRUE(ir::inferGraphInPlace(*g).isOk());
  opt::PassContext ctx;
  ctx.optimizationLevel = 1;
  ASSERT_TRUE(opt::runPasses(*g, ctx).isOk());
  size_t gelus = 0;
  for (const ir::Node* n : g->nodes()) gelus += n->op == ir::OpKind::kGelu;
  EXPECT_EQ(gelus, 0u);
}

TEST(FusionPasses, UnknownDisabledPassFailsTheBuild) {
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  geluErf(0)(*net);
  auto config = builder->createConfig();
  config->setDisabledPasses({"gelu-fusion", "no-such-pass"});
  EXPECT_EQ(builder->buildSerializedNetwork(*net, *config), nullptr);
  EXPECT_NE(builder->getLastError().find("unknown optimizer pass 'no-such-pass'"),
            std::string::npos)
      << builder->getLastError();
  config->setDisabledPasses({"gelu-fusion", "fp16-precision"});
  EXPECT_NE(builder->buildSerializedNetwork(*net, *config), nullptr) << builder->getLastError();
  EXPECT_EQ(config->getDisabledPasses().size(), 2u);
}

}  // namespace
}  // namespace kiln
