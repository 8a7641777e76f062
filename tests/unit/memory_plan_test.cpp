// The activation memory planner (runtime/memory_plan.h): values live at the same step never
// share bytes, offsets are aligned, and lifetimes that do not overlap reuse memory.
#include "runtime/memory_plan.h"

#include <gtest/gtest.h>

#include <random>

#include "ir/graph.h"

namespace kiln::detail {
namespace {

// Brute force over every pair: overlapping lifetimes must get disjoint byte ranges.
void expectValid(const std::vector<ActivationRequest>& reqs, const ActivationPlan& plan,
                 size_t align) {
  ASSERT_EQ(plan.offsets.size(), reqs.size());
  size_t naive = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(plan.offsets[i] % align, 0u) << "request " << i;
    const size_t endI = plan.offsets[i] + reqs[i].bytes;
    EXPECT_LE(endI, plan.totalBytes) << "request " << i;
    naive += (reqs[i].bytes + align - 1) / align * align;
    for (size_t j = i + 1; j < reqs.size(); ++j) {
      bool liveTogether = !(reqs[i].last < reqs[j].first || reqs[j].last < reqs[i].first);
      if (!liveTogether) continue;
      const size_t endJ = plan.offsets[j] + reqs[j].bytes;
      bool disjoint = endI <= plan.offsets[j] || endJ <= plan.offsets[i];
      EXPECT_TRUE(disjoint) << "requests " << i << " and " << j
                            << " are live together and overlap: [" << plan.offsets[i] << ", "
                            << endI << ") and [" << plan.offsets[j] << ", " << endJ << ")";
    }
  }
  EXPECT_EQ(plan.naiveBytes, naive);
  EXPECT_LE(plan.totalBytes, plan.naiveBytes);
}

TEST(MemoryPlan, ChainNeedsTwoBuffers) {
  // a0 -> a1 -> ... -> a9: each value lives from its producer to the next step.
  std::vector<ActivationRequest> reqs;
  for (int s = 0; s < 10; ++s) reqs.push_back({s, 1000, s, s + 1});
  ActivationPlan plan = planOffsets(reqs, 256);
  expectValid(reqs, plan, 256);
  EXPECT_EQ(plan.totalBytes, 2u * 1024u);  // two 1024-byte (aligned) buffers ping-pong
  EXPECT_EQ(plan.naiveBytes, 10u * 1024u);
}

TEST(MemoryPlan, ResidualKeepsTheSkipAlive) {
  // x0 (steps 0..3) is read again at step 3; the branch values in between must not use its bytes.
  std::vector<ActivationRequest> reqs = {
      {0, 512, 0, 3}, {1, 512, 1, 2}, {2, 512, 2, 3}, {3, 512, 3, 4}};
  ActivationPlan plan = planOffsets(reqs, 256);
  expectValid(reqs, plan, 256);
  EXPECT_EQ(plan.totalBytes, 3u * 512u);  // at step 3: x0, v2 and v3 are all live
}

TEST(MemoryPlan, RandomLifetimesNeverOverlapAndReuse) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    std::uniform_int_distribution<int> steps(1, 40), sizes(1, 5000);
    int n = std::uniform_int_distribution<int>(1, 60)(rng);
    std::vector<ActivationRequest> reqs;
    for (int i = 0; i < n; ++i) {
      int first = steps(rng), len = std::uniform_int_distribution<int>(0, 8)(rng);
      reqs.push_back({i, static_cast<size_t>(sizes(rng)), first, first + len});
    }
    size_t align = trial % 2 ? 256 : 64;
    ActivationPlan plan = planOffsets(reqs, align);
    expectValid(reqs, plan, align);
    if (HasFailure()) return;
    // The arena is at least the largest set of bytes live at any one step.
    size_t peak = 0;
    for (int s = 0; s <= 50; ++s) {
      size_t live = 0;
      for (const auto& r : reqs)
        if (r.first <= s && s <= r.last) live += (r.bytes + align - 1) / align * align;
      peak = std::max(peak, live);
    }
    EXPECT_GE(plan.totalBytes, peak);
  }
}

TEST(MemoryPlan, RequestsFromAGraphSkipExternalValuesAndUseLastReaders) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, ir::shapeFromDims({4}));
  ir::Node* a = g.addNode(ir::OpKind::kRelu, "a", {x}, {});
  ir::Node* b = g.addNode(ir::OpKind::kNeg, "b", {a->outputs[0]}, {});
  ir::Node* c = g.addNode(ir::OpKind::kAdd, "c", {a->outputs[0], b->outputs[0]}, {});
  g.markOutput(c->outputs[0]);
  std::vector<const ir::Node*> run = {a, b, c};
  std::vector<size_t> bytes(g.valueCapacity(), 16);
  std::vector<bool> external(g.valueCapacity(), false);
  external[static_cast<size_t>(x->id)] = true;
  external[static_cast<size_t>(c->outputs[0]->id)] = true;  // network output: user memory
  std::vector<ActivationRequest> reqs = activationRequests(run, bytes, external);
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].valueId, a->outputs[0]->id);
  EXPECT_EQ(reqs[0].first, 0);
  EXPECT_EQ(reqs[0].last, 2);  // read again by c
  EXPECT_EQ(reqs[1].valueId, b->outputs[0]->id);
  EXPECT_EQ(reqs[1].first, 1);
  EXPECT_EQ(reqs[1].last, 2);
}

// Reshape-like layers between arena activations become views: no step, the output shares its
// root's memory, and reads of the view keep the root alive. Reshapes touching network
// inputs/outputs (user memory) or changing the byte count stay real steps.
TEST(MemoryPlan, ReshapesOfActivationsBecomeViewsThatKeepTheirRootAlive) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT, ir::shapeFromDims({2, 3}));
  ir::Node* inRs = g.addNode(ir::OpKind::kFlatten, "in_rs", {x}, {});       // reads user memory
  ir::Node* a = g.addNode(ir::OpKind::kRelu, "a", {inRs->outputs[0]}, {});  // step
  ir::Node* r1 = g.addNode(ir::OpKind::kReshape, "r1", {a->outputs[0]}, {});
  ir::Node* r2 = g.addNode(ir::OpKind::kUnsqueeze, "r2", {r1->outputs[0]}, {});  // view of view
  ir::Node* b = g.addNode(ir::OpKind::kNeg, "b", {a->outputs[0]}, {});
  ir::Node* c = g.addNode(ir::OpKind::kAdd, "c", {r2->outputs[0], b->outputs[0]}, {});
  ir::Node* cast = g.addNode(ir::OpKind::kSqueeze, "sq", {c->outputs[0]}, {});  // size differs
  ir::Node* out =
      g.addNode(ir::OpKind::kIdentity, "out", {b->outputs[0]}, {});  // writes user memory
  g.markOutput(cast->outputs[0]);
  g.markOutput(out->outputs[0]);
  std::vector<const ir::Node*> run = {inRs, a, r1, r2, b, c, cast, out};
  std::vector<size_t> bytes(g.valueCapacity(), 24);
  bytes[static_cast<size_t>(cast->outputs[0]->id)] = 12;  // (a Cast-like size change)
  std::vector<bool> external(g.valueCapacity(), false);
  external[static_cast<size_t>(x->id)] = true;
  external[static_cast<size_t>(out->outputs[0]->id)] = true;
  std::vector<int> root = foldAliases(run, bytes, external);
  ASSERT_EQ(run.size(), 6u);
  EXPECT_EQ(run[0], inRs);
  EXPECT_EQ(run[1], a);
  EXPECT_EQ(run[2], b);
  EXPECT_EQ(run[3], c);
  EXPECT_EQ(run[4], cast);
  EXPECT_EQ(run[5], out);
  EXPECT_EQ(root[static_cast<size_t>(r1->outputs[0]->id)], a->outputs[0]->id);
  EXPECT_EQ(root[static_cast<size_t>(r2->outputs[0]->id)], a->outputs[0]->id);
  EXPECT_EQ(root[static_cast<size_t>(a->outputs[0]->id)], -1);
  EXPECT_EQ(root[static_cast<size_t>(cast->outputs[0]->id)], -1);
  EXPECT_EQ(root[static_cast<size_t>(inRs->outputs[0]->id)], -1);
  std::vector<ActivationRequest> reqs = activationRequests(run, bytes, external, &root);
  bool sawA = false;
  for (const ActivationRequest& r : reqs) {
    EXPECT_NE(r.valueId, r1->outputs[0]->id);
    EXPECT_NE(r.valueId, r2->outputs[0]->id);
    if (r.valueId == a->outputs[0]->id) {
      sawA = true;
      EXPECT_EQ(r.first, 1);
      EXPECT_EQ(r.last, 3);  // c (step 3) reads it through r2
    }
  }
  EXPECT_TRUE(sawA);
}

}  // namespace
}  // namespace kiln::detail
