// Optimizer passes: graph before/after, and numerical equivalence with the unoptimized graph.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/cpu/cpu_kernel.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "optimizer/pass_manager.h"

namespace kiln::opt {
namespace {

using ir::DimExpr;
using ir::OpKind;

ir::Attributes axisAttr(int64_t axis) {
  ir::Attributes a;
  a.setInt("axis", axis);
  return a;
}

TEST(Optimizer, ShapeChainOnSymbolicInputStaysAndStaticOneFolds) {
  // x: [batch, 6]; y = Reshape(x, Concat(Gather(Shape(x), 0), [-1]))... with static x the whole
  // shape computation folds to a constant; with a symbolic batch it must stay.
  for (bool dynamic : {false, true}) {
    ir::Graph g;
    ir::Shape xs = {dynamic ? DimExpr::symbol("batch") : DimExpr(4), DimExpr(6)};
    ir::Value* x = g.addInput("x", DataType::kFLOAT, xs);
    ir::Node* shape = g.addNode(OpKind::kShape, "shape", {x}, {});
    ir::Value* idx = g.addConstant("idx", ir::TensorData::vectorInt64({0}));
    ir::Node* gather = g.addNode(OpKind::kGather, "gather", {shape->outputs[0], idx}, axisAttr(0));
    ir::Value* rest = g.addConstant("rest", ir::TensorData::vectorInt64({2, 3}));
    ir::Node* cat = g.addNode(OpKind::kConcat, "cat", {gather->outputs[0], rest}, axisAttr(0));
    ir::Node* rs = g.addNode(OpKind::kReshape, "rs", {x, cat->outputs[0]}, {});
    g.markOutput(rs->outputs[0]);
    ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
    EXPECT_EQ(ir::shapeToString(rs->outputs[0]->shape), dynamic ? "[batch,2,3]" : "[4,2,3]");
    PassContext ctx;
    ASSERT_TRUE(runPasses(g, ctx).isOk());
    // With a symbolic batch, the values are known but not constant: nothing folds.
    EXPECT_EQ(g.nodes().size(), dynamic ? 4u : 1u) << ir::graphToString(g);
    ASSERT_TRUE(ir::verifyGraph(g).isOk());
  }
}

TEST(Optimizer, IdentityBeforeOutputKeepsOutputName) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, {DimExpr(3)});
  ir::Node* relu = g.addNode(OpKind::kRelu, "relu", {x}, {});
  ir::Node* id = g.addNode(OpKind::kIdentity, "id", {relu->outputs[0]}, {});
  id->outputs[0]->name = "y";
  g.markOutput(id->outputs[0]);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  PassContext ctx;
  ASSERT_TRUE(runPasses(g, ctx).isOk());
  ASSERT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.outputs()[0]->name, "y");
  EXPECT_EQ(g.outputs()[0]->producer->op, OpKind::kRelu);
  // Identity on a network input that is also the output must stay.
  ir::Graph g2;
  ir::Value* x2 = g2.addInput("x", DataType::kFLOAT, {DimExpr(3)});
  ir::Node* id2 = g2.addNode(OpKind::kIdentity, "id", {x2}, {});
  g2.markOutput(id2->outputs[0]);
  ASSERT_TRUE(ir::inferGraphInPlace(g2).isOk());
  ASSERT_TRUE(runPasses(g2, ctx).isOk());
  EXPECT_EQ(g2.nodes().size(), 1u);
}

TEST(Optimizer, DisabledPassDoesNotRun) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, {DimExpr(3)});
  ir::Node* id = g.addNode(OpKind::kIdentity, "id", {x}, {});
  ir::Node* relu = g.addNode(OpKind::kRelu, "relu", {id->outputs[0]}, {});
  g.markOutput(relu->outputs[0]);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  PassContext ctx;
  ctx.disabledPasses.insert("identity-elimination");
  ASSERT_TRUE(runPasses(g, ctx).isOk());
  EXPECT_EQ(g.nodes().size(), 2u);
  ctx.disabledPasses.clear();
  ctx.optimizationLevel = 0;
  ASSERT_TRUE(runPasses(g, ctx).isOk());
  EXPECT_EQ(g.nodes().size(), 2u);
}

TEST(Optimizer, ConstantFoldingMatchesUnfoldedValues) {
  // y = x + Exp(c) * 2: folding Exp(c)*2 must give exactly the kernel's values.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> c(8);
  for (auto& v : c) v = u(rng);
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, {DimExpr(8)});
  ir::Value* cv = g.addConstant("c", ir::TensorData::fromVector(DataType::kFLOAT, {8}, c));
  float two = 2.f;
  ir::Value* tv = g.addConstant("two", ir::TensorData::fromBytes(DataType::kFLOAT, {}, &two));
  ir::Node* e = g.addNode(OpKind::kExp, "exp", {cv}, {});
  ir::Node* m = g.addNode(OpKind::kMul, "mul", {e->outputs[0], tv}, {});
  ir::Node* a = g.addNode(OpKind::kAdd, "add", {x, m->outputs[0]}, {});
  g.markOutput(a->outputs[0]);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  PassContext ctx;
  ASSERT_TRUE(runPasses(g, ctx).isOk());
  ASSERT_EQ(g.nodes().size(), 1u);
  const ir::Value* folded = g.nodes()[0]->inputs[1];
  ASSERT_TRUE(folded->isConstant());
  for (int i = 0; i < 8; ++i) {
    double want = std::exp(static_cast<double>(c[static_cast<size_t>(i)])) * 2.0;
    EXPECT_NEAR(folded->constant->as<float>()[i], want, 1e-6 * std::fabs(want));
  }
}

TEST(Graph, VerifierReportsProblems) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, {DimExpr(3)});
  ir::Value* stray = g.addValue("stray", DataType::kFLOAT, {DimExpr(3)});
  ir::Node* add = g.addNode(OpKind::kAdd, "add", {x, stray}, {});
  g.markOutput(add->outputs[0]);
  Status st = ir::verifyGraph(g);
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("'stray'"), std::string::npos) << st.message();
  ir::Graph empty;
  empty.addInput("x", DataType::kFLOAT, {});
  EXPECT_NE(ir::verifyGraph(empty).message().find("no outputs"), std::string::npos);
}

TEST(Graph, CloneIsDeepAndCompactRenumbers) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, {DimExpr(3)});
  ir::Node* a = g.addNode(OpKind::kRelu, "a", {x}, {});
  ir::Node* dead = g.addNode(OpKind::kSigmoid, "dead", {x}, {});
  (void)dead;
  g.markOutput(a->outputs[0]);
  auto c = g.clone();
  EXPECT_EQ(c->nodes().size(), 2u);
  EXPECT_NE(c->nodes()[0], g.nodes()[0]);
  EXPECT_EQ(c->nodes()[0]->inputs[0], c->inputs()[0]);
  EXPECT_EQ(c->removeDeadNodes(), 1);
  ASSERT_TRUE(c->compact().isOk());
  EXPECT_EQ(c->valueCapacity(), 2u);
  EXPECT_EQ(g.nodes().size(), 2u);  // original untouched
}

}  // namespace
}  // namespace kiln::opt
