// Reduce family: every reduction against a plain double-precision loop, integer and half
// types, empty axes / noop, ArgMax/ArgMin ties, symbolic value propagation, errors.
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;

// Reference: for every output position, gather the reduced elements by decoding every input
// flat index into coordinates (independent of the kernel's offset tables).
std::vector<double> referenceReduce(OpKind op, const ir::TensorData& x, const std::set<int64_t>& axes,
                                    std::vector<int64_t>* keptDims) {
  const auto& dims = x.dims();
  const size_t rank = dims.size();
  std::map<std::vector<int64_t>, std::vector<double>> groups;
  for (int64_t i = 0; i < x.numel(); ++i) {
    std::vector<int64_t> key;
    int64_t rem = i;
    std::vector<int64_t> coord(rank);
    for (size_t a = rank; a-- > 0;) {
      coord[a] = rem % dims[a];
      rem /= dims[a];
    }
    for (size_t a = 0; a < rank; ++a)
      if (!axes.count(static_cast<int64_t>(a))) key.push_back(coord[a]);
    groups[key].push_back(x.doubleAt(i));
  }
  keptDims->clear();
  for (size_t a = 0; a < rank; ++a) keptDims->push_back(axes.count(static_cast<int64_t>(a)) ? 1 : dims[a]);
  std::vector<double> out;
  for (const auto& [key, v] : groups) {  // std::map iterates keys in row-major order
    double r = 0;
    switch (op) {
      case OpKind::kReduceSum: for (double e : v) r += e; break;
      case OpKind::kReduceMean: for (double e : v) r += e; r /= static_cast<double>(v.size()); break;
      case OpKind::kReduceMax: r = v[0]; for (double e : v) r = std::max(r, e); break;
      case OpKind::kReduceMin: r = v[0]; for (double e : v) r = std::min(r, e); break;
      case OpKind::kReduceProd: r = 1; for (double e : v) r *= e; break;
      case OpKind::kReduceL1: for (double e : v) r += std::fabs(e); break;
      case OpKind::kReduceL2: for (double e : v) r += e * e; r = std::sqrt(r); break;
      case OpKind::kReduceSumSquare: for (double e : v) r += e * e; break;
      case OpKind::kReduceLogSum: for (double e : v) r += e; r = std::log(r); break;
      case OpKind::kReduceLogSumExp: for (double e : v) r += std::exp(e); r = std::log(r); break;
      default: ADD_FAILURE() << "not a reduction";
    }
    out.push_back(r);
  }
  return out;
}

const OpKind kAllReductions[] = {OpKind::kReduceSum,  OpKind::kReduceMean, OpKind::kReduceMax,
                                 OpKind::kReduceMin,  OpKind::kReduceProd, OpKind::kReduceL1,
                                 OpKind::kReduceL2,   OpKind::kReduceSumSquare,
                                 OpKind::kReduceLogSum, OpKind::kReduceLogSumExp};

TEST(ReduceTest, AllOpsFloatAgainstLoop) {
  std::mt19937 rng(1);
  // Positive data so LogSum is defined everywhere.
  auto x = randomTensor(DataType::kFLOAT, {3, 4, 5}, rng, 0.1, 2.0);
  struct Case {
    std::vector<int64_t> axes;
    std::set<int64_t> norm;
    int64_t keepdims;
  };
  const Case cases[] = {{{1}, {1}, 1}, {{0, 2}, {0, 2}, 0}, {{-1}, {2}, 1}, {{-3, 1}, {0, 1}, 0}};
  for (OpKind op : kAllReductions) {
    for (const Case& c : cases) {
      ir::Attributes a;
      a.setInt("keepdims", c.keepdims);
      auto out = runOp(op, a, {OpInput::value(x), OpInput::constant(ir::TensorData::vectorInt64(c.axes))});
      ASSERT_TRUE(out.isOk()) << out.status().toString();
      std::vector<int64_t> kept;
      auto want = referenceReduce(op, *x, c.norm, &kept);
      std::vector<int64_t> dims;
      for (size_t d = 0; d < kept.size(); ++d)
        if (c.keepdims || !c.norm.count(static_cast<int64_t>(d))) dims.push_back(kept[d]);
      SCOPED_TRACE(std::string(ir::opName(op)));
      expectCloseTo(out->at(0), dims, want, 1e-5, 1e-6);
    }
  }
}

TEST(ReduceTest, NoAxesReducesAllAndNoopKeepsInput) {
  std::mt19937 rng(2);
  auto x = randomTensor(DataType::kFLOAT, {2, 3}, rng);
  auto all = runOp(OpKind::kReduceSum, {}, {OpInput::value(x)});
  ASSERT_TRUE(all.isOk()) << all.status().toString();
  double s = 0;
  for (int64_t i = 0; i < 6; ++i) s += x->doubleAt(i);
  expectCloseTo(all->at(0), {1, 1}, {s});

  ir::Attributes noop;
  noop.setInt("noop_with_empty_axes", 1);
  noop.setInt("keepdims", 0);
  auto same = runOp(OpKind::kReduceMax, noop, {OpInput::value(x)});
  ASSERT_TRUE(same.isOk()) << same.status().toString();
  expectEqual(same->at(0), *x);

  // An empty axes tensor behaves like an absent one.
  ir::Attributes flat;
  flat.setInt("keepdims", 0);
  auto scalar = runOp(OpKind::kReduceSum, flat,
                      {OpInput::value(x), OpInput::constant(ir::TensorData::vectorInt64({}))});
  ASSERT_TRUE(scalar.isOk()) << scalar.status().toString();
  expectCloseTo(scalar->at(0), {}, {s});
}

TEST(ReduceTest, IntegerTypesExact) {
  auto x = makeInt64({2, 3}, {3, -7, 2, 5, 4, -1});
  auto run = [&](OpKind op) {
    auto out = runOp(op, {}, {OpInput::value(x), OpInput::constant(ir::TensorData::vectorInt64({1}))});
    EXPECT_TRUE(out.isOk()) << out.status().toString();
    return out;
  };
  expectEqual(run(OpKind::kReduceSum)->at(0), *makeInt64({2, 1}, {-2, 8}));
  expectEqual(run(OpKind::kReduceMax)->at(0), *makeInt64({2, 1}, {3, 5}));
  expectEqual(run(OpKind::kReduceMin)->at(0), *makeInt64({2, 1}, {-7, -1}));
  expectEqual(run(OpKind::kReduceProd)->at(0), *makeInt64({2, 1}, {-42, -20}));
  // Integer mean truncates toward zero: -2/3 -> 0, 8/3 -> 2.
  expectEqual(run(OpKind::kReduceMean)->at(0), *makeInt64({2, 1}, {0, 2}));

  auto x32 = makeInt32({4}, {1, 2, 3, 40000});
  auto out = runOp(OpKind::kReduceSumSquare, {}, {OpInput::value(x32)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  // 1 + 4 + 9 + 1.6e9 fits int32 (< 2^31).
  expectEqual(out->at(0), *makeInt32({1}, {1600000014}));
}

TEST(ReduceTest, HalfAndDoubleAccumulateWide) {
  std::mt19937 rng(3);
  auto h = randomTensor(DataType::kHALF, {8, 64}, rng);
  auto out = runOp(OpKind::kReduceSum, {}, {OpInput::value(h), OpInput::constant(ir::TensorData::vectorInt64({1}))});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  ASSERT_EQ(out->at(0).dtype(), DataType::kHALF);
  std::vector<double> want(8, 0.0);
  for (int64_t i = 0; i < h->numel(); ++i) want[static_cast<size_t>(i / 64)] += h->doubleAt(i);
  // One rounding to half at the end: relative error <= 2^-11.
  expectCloseTo(out->at(0), {8, 1}, want, 1e-3, 1e-3);

  auto d = randomTensor(DataType::kDOUBLE, {5, 7}, rng);
  auto l2 = runOp(OpKind::kReduceL2, {}, {OpInput::value(d), OpInput::constant(ir::TensorData::vectorInt64({0}))});
  ASSERT_TRUE(l2.isOk()) << l2.status().toString();
  std::vector<double> w(7, 0.0);
  for (int64_t i = 0; i < d->numel(); ++i) w[static_cast<size_t>(i % 7)] += d->doubleAt(i) * d->doubleAt(i);
  for (double& v : w) v = std::sqrt(v);
  expectCloseTo(l2->at(0), {1, 7}, w, 1e-12, 1e-12);
}

TEST(ReduceTest, LogSumExpIsStableForLargeInputs) {
  auto x = makeFloat({3}, {1000.f, 1000.f, 1000.f});
  auto out = runOp(OpKind::kReduceLogSumExp, {}, {OpInput::value(x)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectCloseTo(out->at(0), {1}, {1000.0 + std::log(3.0)});
}

TEST(ReduceTest, EmptySetGivesIdentities) {
  auto x = std::make_shared<ir::TensorData>(DataType::kFLOAT, std::vector<int64_t>{2, 0});
  auto axes = ir::TensorData::vectorInt64({1});
  const double inf = std::numeric_limits<double>::infinity();
  const std::pair<OpKind, double> cases[] = {{OpKind::kReduceSum, 0.0},
                                             {OpKind::kReduceProd, 1.0},
                                             {OpKind::kReduceMax, -inf},
                                             {OpKind::kReduceMin, inf},
                                             {OpKind::kReduceLogSumExp, -inf}};
  for (const auto& [op, v] : cases) {
    auto out = runOp(op, {}, {OpInput::value(x), OpInput::constant(axes)});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    expectCloseTo(out->at(0), {2, 1}, {v, v});
  }
}

TEST(ReduceTest, ArgMaxArgMinTiesAndLastIndex) {
  // Row 0 has ties for the max (5 at 1 and 3) and for the min (0 at 0 and 2).
  auto x = makeFloat({2, 4}, {0.f, 5.f, 0.f, 5.f, -1.f, 2.f, 9.f, -3.f});
  ir::Attributes a;
  a.setInt("axis", 1);
  auto mx = runOp(OpKind::kArgMax, a, {OpInput::value(x)});
  ASSERT_TRUE(mx.isOk()) << mx.status().toString();
  expectEqual(mx->at(0), *makeInt64({2, 1}, {1, 2}));
  a.setInt("select_last_index", 1);
  a.setInt("keepdims", 0);
  auto mxl = runOp(OpKind::kArgMax, a, {OpInput::value(x)});
  ASSERT_TRUE(mxl.isOk()) << mxl.status().toString();
  expectEqual(mxl->at(0), *makeInt64({2}, {3, 2}));
  auto mnl = runOp(OpKind::kArgMin, a, {OpInput::value(x)});
  ASSERT_TRUE(mnl.isOk()) << mnl.status().toString();
  expectEqual(mnl->at(0), *makeInt64({2}, {2, 3}));

  // Random data along axis 0 of a 3-D tensor against a loop.
  std::mt19937 rng(4);
  auto r = randomTensor(DataType::kFLOAT, {5, 3, 2}, rng);
  ir::Attributes b;
  b.setInt("axis", -3);
  auto am = runOp(OpKind::kArgMin, b, {OpInput::value(r)});
  ASSERT_TRUE(am.isOk()) << am.status().toString();
  std::vector<int64_t> want;
  for (int64_t j = 0; j < 6; ++j) {
    int64_t best = 0;
    for (int64_t k = 1; k < 5; ++k)
      if (r->doubleAt(k * 6 + j) < r->doubleAt(best * 6 + j)) best = k;
    want.push_back(best);
  }
  expectEqual(am->at(0), *makeInt64({1, 3, 2}, want));
}

TEST(ReduceTest, ProdOfShapeStaysSymbolic) {
  ir::Graph g;
  auto* x = g.addInput("x", DataType::kFLOAT, {ir::DimExpr::symbol("batch"), ir::DimExpr::symbol("seq"), 8});
  auto* shape = g.addNode(OpKind::kShape, "shape", {x}, {})->outputs[0];
  ir::Attributes a;
  a.setInt("keepdims", 0);
  auto* prod = g.addNode(OpKind::kReduceProd, "prod", {shape}, a)->outputs[0];
  auto* sum = g.addNode(OpKind::kReduceSum, "sum", {shape}, {})->outputs[0];
  g.markOutput(prod);
  g.markOutput(sum);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  ASSERT_TRUE(prod->shapeValue.has_value());
  ASSERT_EQ(prod->shapeValue->size(), 1u);
  EXPECT_TRUE(prod->shape.empty());
  std::map<std::string, int64_t> bind{{"batch", 3}, {"seq", 5}};
  EXPECT_EQ((*prod->shapeValue)[0].substitute(bind).constValue(), 3 * 5 * 8);
  ASSERT_TRUE(sum->shapeValue.has_value());
  EXPECT_EQ(ir::shapeToString(sum->shape), "[1]");
  EXPECT_EQ((*sum->shapeValue)[0].substitute(bind).constValue(), 3 + 5 + 8);
}

TEST(ReduceTest, Errors) {
  std::mt19937 rng(5);
  auto x = randomTensor(DataType::kFLOAT, {2, 3}, rng);
  auto bad = runOp(OpKind::kReduceSum, {}, {OpInput::value(x), OpInput::constant(ir::TensorData::vectorInt64({2}))});
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("ReduceSum 'node'"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("reduction axis 2 is out of range for rank 2"), std::string::npos)
      << bad.status().message();

  auto ints = makeInt32({2}, {1, 2});
  auto l2 = runOp(OpKind::kReduceL2, {}, {OpInput::value(ints)});
  ASSERT_FALSE(l2.isOk());
  EXPECT_NE(l2.status().message().find("data type int32 is not supported"), std::string::npos)
      << l2.status().message();

  // Axes computed from tensor data cannot decide the output shape.
  auto dynAxes = runOp(OpKind::kReduceMean, {}, {OpInput::value(x), OpInput::value(ir::TensorData::vectorInt64({0}))});
  ASSERT_FALSE(dynAxes.isOk());
  EXPECT_NE(dynAxes.status().message().find("axes"), std::string::npos) << dynAxes.status().message();

  ir::Attributes a;
  a.setInt("axis", -3);
  auto arg = runOp(OpKind::kArgMax, a, {OpInput::value(x)});
  ASSERT_FALSE(arg.isOk());
  EXPECT_NE(arg.status().message().find("axis -3 is out of range"), std::string::npos) << arg.status().message();
}

}  // namespace
}  // namespace kiln::test
