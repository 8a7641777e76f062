// NonZero, Compress, Unique, NonMaxSuppression: ops whose output shapes depend on input data.
//
// Each case builds a one-node ir::Graph. With constant inputs the shape function gives exact
// shapes, and the CPU kernel (cpu::runCpuNode) fills outputs of those shapes; expected values
// are hand-computed or taken from ONNX's conformance cases (onnx 1.23 node tests, named where
// used). With graph inputs, build-time inference gives run-time symbols for the data-dependent
// dims only.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "common/half.h"
#include "ir/graph.h"
#include "ir/op.h"
#include "ir/shape_inference.h"
#include "op_test_util.h"

namespace kiln {
namespace {

using ir::OpKind;
using ir::TensorData;
using ir::TensorDataPtr;

// An input: constant data, a graph input of that dtype/shape (data unused), or absent.
struct In {
  TensorDataPtr data;
  bool constant = true;
  static In c(TensorDataPtr d) { return {std::move(d), true}; }
  static In graphInput(TensorDataPtr d) { return {std::move(d), false}; }
  static In absent() { return {nullptr, true}; }
};

struct Built {
  std::unique_ptr<ir::Graph> g = std::make_unique<ir::Graph>();
  ir::Node* node = nullptr;
  ir::ShapeTable table;
};

// Builds the node and runs its shape function.
StatusOr<std::unique_ptr<Built>> infer(OpKind op, const ir::Attributes& attrs,
                                       const std::vector<In>& inputs, int numOutputs) {
  auto b = std::make_unique<Built>();
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].data) {
      ins.push_back(nullptr);
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    ins.push_back(inputs[i].constant ? b->g->addConstant(name, inputs[i].data)
                                     : b->g->addInput(name, inputs[i].data->dtype(),
                                                      ir::shapeFromDims(inputs[i].data->dims())));
  }
  b->node = b->g->addNode(op, "node", ins, attrs, numOutputs);
  b->table = ir::ShapeTable::fromGraph(*b->g);
  KILN_RETURN_IF_ERROR(ir::inferNode(*b->node, b->table));
  return b;
}

std::vector<std::string> shapesOf(const Built& b) {
  std::vector<std::string> out;
  for (const ir::Value* v : b.node->outputs) out.push_back(ir::shapeToString(b.table[v->id].shape));
  return out;
}

// Infers with constant inputs, then runs the CPU kernel on outputs of the inferred (static)
// shapes, poisoned with 0x5A bytes.
StatusOr<std::vector<std::shared_ptr<TensorData>>> run(OpKind op, const ir::Attributes& attrs,
                                                       const std::vector<In>& inputs,
                                                       int numOutputs = 1) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Built> b, infer(op, attrs, inputs, numOutputs));
  std::vector<cpu::CpuTensor> cin(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].data) continue;
    cin[i].data = const_cast<void*>(inputs[i].data->data());
    cin[i].dtype = inputs[i].data->dtype();
    cin[i].dims = inputs[i].data->dims();
  }
  std::vector<std::shared_ptr<TensorData>> outs;
  std::vector<cpu::CpuTensor> cout(b->node->outputs.size());
  for (size_t i = 0; i < cout.size(); ++i) {
    const ir::ValueInfo& info = b->table[b->node->outputs[i]->id];
    if (!ir::isStatic(info.shape))
      return internalError("output %zu has shape %s", i, ir::shapeToString(info.shape).c_str());
    auto t = std::make_shared<TensorData>(info.dtype, ir::staticDims(info.shape));
    std::memset(t->data(), 0x5A, t->bytes());
    cout[i] = {t->data(), t->dtype(), t->dims()};
    outs.push_back(t);
  }
  KILN_RETURN_IF_ERROR(cpu::runCpuNode(*b->node, cin, cout));
  return outs;
}

std::vector<int64_t> ints(const TensorData& t) { return t.toInt64Vector(); }
std::vector<float> floats(const TensorData& t) {
  return std::vector<float>(t.as<float>(), t.as<float>() + t.numel());
}
using I = std::vector<int64_t>;
using F = std::vector<float>;

std::shared_ptr<TensorData> makeBf16(const std::vector<int64_t>& dims,
                                     const std::vector<float>& v) {
  std::vector<BFloat16> h;
  for (float f : v) h.push_back(BFloat16(f));
  return TensorData::fromVector(DataType::kBF16, dims, h);
}

ir::Attributes axisAttr(int64_t axis) {
  ir::Attributes a;
  a.setInt("axis", axis);
  return a;
}

void expectErrorContains(const Status& st, const std::string& text) {
  ASSERT_FALSE(st.isOk()) << "expected an error containing \"" << text << "\"";
  EXPECT_NE(st.message().find(text), std::string::npos) << st.toString();
  EXPECT_NE(st.message().find("'node'"), std::string::npos)
      << "not naming the node: " << st.toString();
}

TEST(DataDependent, OpsAreFlagged) {
  EXPECT_TRUE(ir::hasDataDependentShape(OpKind::kNonZero));
  EXPECT_TRUE(ir::hasDataDependentShape(OpKind::kCompress));
  EXPECT_TRUE(ir::hasDataDependentShape(OpKind::kUnique));
  EXPECT_TRUE(ir::hasDataDependentShape(OpKind::kNonMaxSuppression));
  EXPECT_FALSE(ir::hasDataDependentShape(OpKind::kTopK));
  EXPECT_FALSE(ir::hasDataDependentShape(OpKind::kRelu));
}

// --- NonZero -------------------------------------------------------------------------------------

TEST(NonZero, ConformanceExample) {  // test_nonzero_example
  auto out = run(OpKind::kNonZero, {}, {In::c(test::makeBool({2, 2}, {true, false, true, true}))});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->at(0)->dims(), (I{2, 3}));
  EXPECT_EQ(ints(*out->at(0)), (I{0, 1, 1, 0, 0, 1}));
}

TEST(NonZero, FloatsNegativeZeroAndNaNAndRank3) {
  // [2, 1, 3]: -0 is zero, NaN is non-zero.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto out = run(OpKind::kNonZero, {},
                 {In::c(test::makeFloat({2, 1, 3}, {0.f, -0.f, 2.f, nan, 0.f, -1.f}))});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->at(0)->dims(), (I{3, 3}));
  // Non-zeros at (0,0,2), (1,0,0), (1,0,2).
  EXPECT_EQ(ints(*out->at(0)), (I{0, 1, 1, 0, 0, 0, 2, 0, 2}));
}

TEST(NonZero, IntegersHalfScalarAndEmpty) {
  auto i32 = run(OpKind::kNonZero, {}, {In::c(test::makeInt32({4}, {0, 7, 0, -1}))});
  ASSERT_TRUE(i32.isOk()) << i32.status().toString();
  EXPECT_EQ(i32->at(0)->dims(), (I{1, 2}));
  EXPECT_EQ(ints(*i32->at(0)), (I{1, 3}));

  std::vector<Half> h = {Half(0.f), Half(0.5f), Half(-0.f)};
  auto half = run(OpKind::kNonZero, {}, {In::c(TensorData::fromVector(DataType::kHALF, {3}, h))});
  ASSERT_TRUE(half.isOk()) << half.status().toString();
  EXPECT_EQ(ints(*half->at(0)), (I{1}));

  // A scalar counts as a 1-element vector (onnxruntime's [1, nnz]).
  auto scalar = run(OpKind::kNonZero, {}, {In::c(test::makeFloat({}, {3.f}))});
  ASSERT_TRUE(scalar.isOk()) << scalar.status().toString();
  EXPECT_EQ(scalar->at(0)->dims(), (I{1, 1}));
  EXPECT_EQ(ints(*scalar->at(0)), (I{0}));
  auto zero = run(OpKind::kNonZero, {}, {In::c(test::makeFloat({}, {0.f}))});
  ASSERT_TRUE(zero.isOk()) << zero.status().toString();
  EXPECT_EQ(zero->at(0)->dims(), (I{1, 0}));

  auto empty = run(OpKind::kNonZero, {}, {In::c(test::makeFloat({2, 0}, {}))});
  ASSERT_TRUE(empty.isOk()) << empty.status().toString();
  EXPECT_EQ(empty->at(0)->dims(), (I{2, 0}));
}

TEST(NonZero, GraphInputGivesRuntimeSymbol) {
  auto b = infer(OpKind::kNonZero, {}, {In::graphInput(test::makeFloat({2, 3}, F(6, 1.f)))}, 1);
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  const ir::Shape& s = (*b)->table[(*b)->node->outputs[0]->id].shape;
  ASSERT_EQ(s.size(), 2u);
  EXPECT_TRUE(s[0].isConst() && s[0].constValue() == 2);
  EXPECT_FALSE(s[1].isConst());
  EXPECT_TRUE(s[1].equals(ir::DimExpr::symbol("node:0:d1"))) << s[1].toString();
  EXPECT_EQ((*b)->table[(*b)->node->outputs[0]->id].dtype, DataType::kINT64);
}

TEST(NonZero, Errors) {
  auto x = test::makeFloat({2}, {1.f, 0.f});
  expectErrorContains(infer(OpKind::kNonZero, {}, {In::c(x), In::c(x)}, 1).status(),
                      "expects 1 inputs");
  expectErrorContains(infer(OpKind::kNonZero, {}, {In::c(x)}, 2).status(), "output");
  std::vector<uint8_t> fp8 = {0, 1};
  expectErrorContains(infer(OpKind::kNonZero, {},
                            {In::c(TensorData::fromVector(DataType::kFP8E4M3FN, {2}, fp8))}, 1)
                          .status(),
                      "type");
}

// --- Compress ------------------------------------------------------------------------------------

TEST(Compress, ConformanceCases) {
  auto x = test::makeFloat({3, 2}, {1, 2, 3, 4, 5, 6});
  // test_compress_0
  auto c0 = run(OpKind::kCompress, axisAttr(0),
                {In::c(x), In::c(test::makeBool({3}, {false, true, true}))});
  ASSERT_TRUE(c0.isOk()) << c0.status().toString();
  EXPECT_EQ(c0->at(0)->dims(), (I{2, 2}));
  EXPECT_EQ(floats(*c0->at(0)), (F{3, 4, 5, 6}));
  // test_compress_1 and test_compress_negative_axis
  for (int64_t axis : {1, -1}) {
    auto c1 = run(OpKind::kCompress, axisAttr(axis),
                  {In::c(x), In::c(test::makeBool({2}, {false, true}))});
    ASSERT_TRUE(c1.isOk()) << c1.status().toString();
    EXPECT_EQ(c1->at(0)->dims(), (I{3, 1}));
    EXPECT_EQ(floats(*c1->at(0)), (F{2, 4, 6}));
  }
  // test_compress_default_axis: flattened, condition shorter than the 6 elements.
  auto cd = run(OpKind::kCompress, {},
                {In::c(x), In::c(test::makeBool({5}, {false, true, false, false, true}))});
  ASSERT_TRUE(cd.isOk()) << cd.status().toString();
  EXPECT_EQ(cd->at(0)->dims(), (I{2}));
  EXPECT_EQ(floats(*cd->at(0)), (F{2, 5}));
  // test_compress_bfloat16
  auto cb = run(OpKind::kCompress, axisAttr(0),
                {In::c(makeBf16({3, 2}, {1, 2, 3, 4, 5, 6})),
                 In::c(test::makeBool({3}, {false, true, true}))});
  ASSERT_TRUE(cb.isOk()) << cb.status().toString();
  ASSERT_EQ(cb->at(0)->dims(), (I{2, 2}));
  EXPECT_EQ(cb->at(0)->dtype(), DataType::kBF16);
  EXPECT_EQ(test::toDoubles(*cb->at(0)), (std::vector<double>{3, 4, 5, 6}));
}

TEST(Compress, MiddleAxisLongConditionAndNothingKept) {
  // [2, 3, 2] along axis 1, condition [1, 0, 1, 1]: the 4th entry is past the axis (ignored).
  auto x = test::makeInt64({2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  auto out = run(OpKind::kCompress, axisAttr(1),
                 {In::c(x), In::c(test::makeBool({4}, {true, false, true, true}))});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->at(0)->dims(), (I{2, 2, 2}));
  EXPECT_EQ(ints(*out->at(0)), (I{0, 1, 4, 5, 6, 7, 10, 11}));

  auto none =
      run(OpKind::kCompress, axisAttr(0), {In::c(x), In::c(test::makeBool({2}, {false, false}))});
  ASSERT_TRUE(none.isOk()) << none.status().toString();
  EXPECT_EQ(none->at(0)->dims(), (I{0, 3, 2}));
}

TEST(Compress, SymbolicShapes) {
  auto x = test::makeFloat({3, 2}, F(6, 1.f));
  auto cond = test::makeBool({2}, {true, true});
  // Condition not constant: only the compressed axis is a symbol.
  auto b = infer(OpKind::kCompress, axisAttr(1), {In::c(x), In::graphInput(cond)}, 1);
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(shapesOf(**b), (std::vector<std::string>{"[3,node:0:d1]"}));
  // Input not constant but condition constant: exact (the count needs only the condition).
  auto c = infer(OpKind::kCompress, axisAttr(1), {In::graphInput(x), In::c(cond)}, 1);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(shapesOf(**c), (std::vector<std::string>{"[3,2]"}));
  // No axis: 1-D.
  auto d = infer(OpKind::kCompress, {}, {In::c(x), In::graphInput(cond)}, 1);
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_EQ(shapesOf(**d), (std::vector<std::string>{"[node:0:d0]"}));
}

TEST(Compress, Errors) {
  auto x = test::makeFloat({3, 2}, F(6, 1.f));
  expectErrorContains(
      infer(OpKind::kCompress, axisAttr(2), {In::c(x), In::c(test::makeBool({2}, {true, true}))}, 1)
          .status(),
      "axis 2 is out of range");
  expectErrorContains(infer(OpKind::kCompress, axisAttr(0),
                            {In::c(x), In::c(test::makeBool({2, 1}, {true, true}))}, 1)
                          .status(),
                      "condition must be 1-D");
  expectErrorContains(
      infer(OpKind::kCompress, axisAttr(0), {In::c(x), In::c(test::makeInt64({2}, {1, 0}))}, 1)
          .status(),
      "condition");
  expectErrorContains(infer(OpKind::kCompress, axisAttr(0), {In::c(x)}, 1).status(),
                      "expects 2 inputs");
}

// --- Unique --------------------------------------------------------------------------------------

struct UniqueOut {
  I y, indices, inverse, counts, yDims;
};
UniqueOut uniqueInts(const std::vector<std::shared_ptr<TensorData>>& o) {
  return {ints(*o[0]), ints(*o[1]), ints(*o[2]), ints(*o[3]), o[0]->dims()};
}

TEST(Unique, ConformanceWithoutAxis) {
  auto x = test::makeFloat({6}, {2, 1, 1, 3, 4, 3});
  // test_unique_sorted_without_axis (sorted defaults to 1)
  auto s = run(OpKind::kUnique, {}, {In::c(x)}, 4);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(floats(*s->at(0)), (F{1, 2, 3, 4}));
  EXPECT_EQ(ints(*s->at(1)), (I{1, 0, 3, 4}));
  EXPECT_EQ(ints(*s->at(2)), (I{1, 0, 0, 2, 3, 2}));
  EXPECT_EQ(ints(*s->at(3)), (I{2, 1, 2, 1}));
  // test_unique_not_sorted_without_axis
  ir::Attributes unsorted;
  unsorted.setInt("sorted", 0);
  auto u = run(OpKind::kUnique, unsorted, {In::c(x)}, 4);
  ASSERT_TRUE(u.isOk()) << u.status().toString();
  EXPECT_EQ(floats(*u->at(0)), (F{2, 1, 3, 4}));
  EXPECT_EQ(ints(*u->at(1)), (I{0, 1, 3, 4}));
  EXPECT_EQ(ints(*u->at(2)), (I{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(ints(*u->at(3)), (I{1, 2, 2, 1}));
  // test_unique_bfloat16_sorted_without_axis
  auto b = run(OpKind::kUnique, {}, {In::c(makeBf16({6}, {2, 1, 1, 3, 4, 3}))}, 4);
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(test::toDoubles(*b->at(0)), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(ints(*b->at(1)), (I{1, 0, 3, 4}));
  // test_unique_length_1
  auto one = run(OpKind::kUnique, {}, {In::c(test::makeInt64({1}, {0}))}, 4);
  ASSERT_TRUE(one.isOk()) << one.status().toString();
  UniqueOut o = uniqueInts(*one);
  EXPECT_EQ(o.y, (I{0}));
  EXPECT_EQ(o.indices, (I{0}));
  EXPECT_EQ(o.inverse, (I{0}));
  EXPECT_EQ(o.counts, (I{1}));
}

TEST(Unique, ConformanceWithAxis) {
  // test_unique_sorted_with_axis
  auto a0 = run(OpKind::kUnique, axisAttr(0),
                {In::c(test::makeFloat({3, 3}, {1, 0, 0, 1, 0, 0, 2, 3, 4}))}, 4);
  ASSERT_TRUE(a0.isOk()) << a0.status().toString();
  EXPECT_EQ(a0->at(0)->dims(), (I{2, 3}));
  EXPECT_EQ(floats(*a0->at(0)), (F{1, 0, 0, 2, 3, 4}));
  EXPECT_EQ(ints(*a0->at(1)), (I{0, 2}));
  EXPECT_EQ(ints(*a0->at(2)), (I{0, 0, 1}));
  EXPECT_EQ(ints(*a0->at(3)), (I{2, 1}));
  // test_unique_sorted_with_axis_3d
  auto a3 =
      run(OpKind::kUnique, axisAttr(1),
          {In::c(test::makeFloat({2, 4, 2}, {1, 1, 0, 1, 2, 1, 0, 1, 1, 1, 0, 1, 2, 1, 0, 1}))}, 4);
  ASSERT_TRUE(a3.isOk()) << a3.status().toString();
  EXPECT_EQ(a3->at(0)->dims(), (I{2, 3, 2}));
  EXPECT_EQ(floats(*a3->at(0)), (F{0, 1, 1, 1, 2, 1, 0, 1, 1, 1, 2, 1}));
  EXPECT_EQ(ints(*a3->at(1)), (I{1, 0, 2}));
  EXPECT_EQ(ints(*a3->at(2)), (I{1, 0, 2, 0}));
  EXPECT_EQ(ints(*a3->at(3)), (I{2, 1, 1}));
  // test_unique_sorted_with_negative_axis
  auto an = run(OpKind::kUnique, axisAttr(-1),
                {In::c(test::makeFloat({3, 3}, {1, 0, 0, 1, 0, 0, 2, 3, 3}))}, 4);
  ASSERT_TRUE(an.isOk()) << an.status().toString();
  EXPECT_EQ(an->at(0)->dims(), (I{3, 2}));
  EXPECT_EQ(floats(*an->at(0)), (F{0, 1, 0, 1, 3, 2}));
  EXPECT_EQ(ints(*an->at(1)), (I{1, 0}));
  EXPECT_EQ(ints(*an->at(2)), (I{1, 0, 0}));
  EXPECT_EQ(ints(*an->at(3)), (I{2, 1}));
}

TEST(Unique, UnsortedWithAxisAndOnlyY) {
  // Rows of [4, 2]: r0 = (3, 1), r1 = (1, 2), r2 = (3, 1), r3 = (1, 1); first occurrences r0,
  // r1, r3.
  ir::Attributes a = axisAttr(0);
  a.setInt("sorted", 0);
  auto x = test::makeInt32({4, 2}, {3, 1, 1, 2, 3, 1, 1, 1});
  auto out = run(OpKind::kUnique, a, {In::c(x)}, 4);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  UniqueOut o = uniqueInts(*out);
  EXPECT_EQ(o.yDims, (I{3, 2}));
  EXPECT_EQ(o.y, (I{3, 1, 1, 2, 1, 1}));
  EXPECT_EQ(o.indices, (I{0, 1, 3}));
  EXPECT_EQ(o.inverse, (I{0, 1, 0, 2}));
  EXPECT_EQ(o.counts, (I{2, 1, 1}));
  // Sorted: (1, 1) < (1, 2) < (3, 1).
  auto sorted = run(OpKind::kUnique, axisAttr(0), {In::c(x)}, 4);
  ASSERT_TRUE(sorted.isOk()) << sorted.status().toString();
  o = uniqueInts(*sorted);
  EXPECT_EQ(o.y, (I{1, 1, 1, 2, 3, 1}));
  EXPECT_EQ(o.indices, (I{3, 1, 0}));
  EXPECT_EQ(o.inverse, (I{2, 1, 2, 0}));
  EXPECT_EQ(o.counts, (I{1, 1, 2}));
  // One output only.
  auto y = run(OpKind::kUnique, {}, {In::c(x)}, 1);
  ASSERT_TRUE(y.isOk()) << y.status().toString();
  ASSERT_EQ(y->size(), 1u);
  EXPECT_EQ(ints(*y->at(0)), (I{1, 2, 3}));
}

TEST(Unique, NaNZeroSignAndWideUnsigned) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // NaNs are one value, after every number; -0 equals 0 (Y keeps the first occurrence, -0).
  auto f =
      run(OpKind::kUnique, {}, {In::c(test::makeFloat({6}, {nan, -0.f, 1.f, 0.f, nan, -2.f}))}, 4);
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  const F y = floats(*f->at(0));
  ASSERT_EQ(y.size(), 4u);
  EXPECT_EQ(y[0], -2.f);
  EXPECT_EQ(y[1], 0.f);
  EXPECT_TRUE(std::signbit(y[1]));
  EXPECT_EQ(y[2], 1.f);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_EQ(ints(*f->at(1)), (I{5, 1, 2, 0}));
  EXPECT_EQ(ints(*f->at(2)), (I{3, 1, 2, 1, 3, 0}));
  EXPECT_EQ(ints(*f->at(3)), (I{1, 2, 1, 2}));

  // uint64 above 2^63 sorts after small values.
  std::vector<uint64_t> u = {uint64_t{1} << 63, 5, uint64_t{1} << 63, 0};
  auto w = run(OpKind::kUnique, {}, {In::c(TensorData::fromVector(DataType::kUINT64, {4}, u))}, 4);
  ASSERT_TRUE(w.isOk()) << w.status().toString();
  const auto* wy = w->at(0)->as<uint64_t>();
  ASSERT_EQ(w->at(0)->numel(), 3);
  EXPECT_EQ(wy[0], 0u);
  EXPECT_EQ(wy[1], 5u);
  EXPECT_EQ(wy[2], uint64_t{1} << 63);
  EXPECT_EQ(ints(*w->at(2)), (I{2, 1, 2, 0}));

  auto empty = run(OpKind::kUnique, {}, {In::c(test::makeFloat({0}, {}))}, 4);
  ASSERT_TRUE(empty.isOk()) << empty.status().toString();
  EXPECT_EQ(empty->at(0)->dims(), (I{0}));
  EXPECT_EQ(empty->at(2)->dims(), (I{0}));
}

TEST(Unique, SymbolicShapes) {
  auto x = test::makeFloat({2, 5, 3}, F(30, 1.f));
  auto flat = infer(OpKind::kUnique, {}, {In::graphInput(x)}, 4);
  ASSERT_TRUE(flat.isOk()) << flat.status().toString();
  EXPECT_EQ(shapesOf(**flat),
            (std::vector<std::string>{"[node:0:d0]", "[node:0:d0]", "[30]", "[node:0:d0]"}));
  auto ax = infer(OpKind::kUnique, axisAttr(1), {In::graphInput(x)}, 4);
  ASSERT_TRUE(ax.isOk()) << ax.status().toString();
  EXPECT_EQ(shapesOf(**ax),
            (std::vector<std::string>{"[2,node:0:d1,3]", "[node:0:d1]", "[5]", "[node:0:d1]"}));
  EXPECT_EQ((*ax)->table[(*ax)->node->outputs[0]->id].dtype, DataType::kFLOAT);
  EXPECT_EQ((*ax)->table[(*ax)->node->outputs[2]->id].dtype, DataType::kINT64);
}

TEST(Unique, Errors) {
  auto x = test::makeFloat({2, 2}, F(4, 1.f));
  expectErrorContains(infer(OpKind::kUnique, axisAttr(-3), {In::c(x)}, 4).status(),
                      "axis -3 is out of range");
  ir::Attributes bad;
  bad.setInt("sorted", 2);
  expectErrorContains(infer(OpKind::kUnique, bad, {In::c(x)}, 4).status(), "sorted must be 0 or 1");
  expectErrorContains(infer(OpKind::kUnique, {}, {In::c(x)}, 5).status(), "outputs");
  std::vector<uint8_t> fp8 = {0, 1};
  expectErrorContains(
      infer(OpKind::kUnique, {}, {In::c(TensorData::fromVector(DataType::kFP8E5M2, {2}, fp8))}, 1)
          .status(),
      "type");
}

// --- NonMaxSuppression ---------------------------------------------------------------------------

// The boxes and scores shared by most ONNX conformance cases ([y1, x1, y2, x2] corners).
std::shared_ptr<TensorData> onnxBoxes(int64_t batches = 1) {
  F one = {0.0f, 0.0f,  1.0f, 1.0f,  0.0f, 0.1f,  1.0f, 1.1f,  0.0f, -0.1f,  1.0f, 0.9f,
           0.0f, 10.0f, 1.0f, 11.0f, 0.0f, 10.1f, 1.0f, 11.1f, 0.0f, 100.0f, 1.0f, 101.0f};
  F all;
  for (int64_t b = 0; b < batches; ++b) all.insert(all.end(), one.begin(), one.end());
  return test::makeFloat({batches, 6, 4}, all);
}
std::shared_ptr<TensorData> onnxScores(int64_t batches = 1, int64_t classes = 1) {
  F one = {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f};
  F all;
  for (int64_t k = 0; k < batches * classes; ++k) all.insert(all.end(), one.begin(), one.end());
  return test::makeFloat({batches, classes, 6}, all);
}

StatusOr<I> nms(std::shared_ptr<TensorData> boxes, std::shared_ptr<TensorData> scores,
                std::vector<In> rest, int64_t centerPointBox = 0) {
  ir::Attributes a;
  if (centerPointBox) a.setInt("center_point_box", centerPointBox);
  std::vector<In> inputs = {In::c(boxes), In::c(scores)};
  inputs.insert(inputs.end(), rest.begin(), rest.end());
  KILN_ASSIGN_OR_RETURN(auto out, run(OpKind::kNonMaxSuppression, a, inputs));
  if (out[0]->dims().size() != 2 || out[0]->dims()[1] != 3)
    return internalError("selected_indices has shape %s", ir::dimsToString(out[0]->dims()).c_str());
  return ints(*out[0]);
}

In i64(int64_t v) { return In::c(test::makeInt64({1}, {v})); }
In f32(float v) { return In::c(test::makeFloat({1}, {v})); }

TEST(NonMaxSuppression, ConformanceCases) {
  // test_nonmaxsuppression_suppress_by_IOU
  auto r = nms(onnxBoxes(), onnxScores(), {i64(3), f32(0.5f), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  // test_nonmaxsuppression_suppress_by_IOU_and_scores
  r = nms(onnxBoxes(), onnxScores(), {i64(3), f32(0.5f), f32(0.4f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0}));
  // test_nonmaxsuppression_limit_output_size
  r = nms(onnxBoxes(), onnxScores(), {i64(2), f32(0.5f), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0}));
  // test_nonmaxsuppression_two_batches
  r = nms(onnxBoxes(2), onnxScores(2), {i64(2), f32(0.5f), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0, 1, 0, 3, 1, 0, 0}));
  // test_nonmaxsuppression_two_classes
  r = nms(onnxBoxes(), onnxScores(1, 2), {i64(2), f32(0.5f), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0, 0, 1, 3, 0, 1, 0}));
  // test_nonmaxsuppression_center_point_box_format
  auto centers = test::makeFloat(
      {1, 6, 4}, {0.5f, 0.5f,  1.0f, 1.0f, 0.5f, 0.6f,  1.0f, 1.0f, 0.5f, 0.4f,   1.0f, 1.0f,
                  0.5f, 10.5f, 1.0f, 1.0f, 0.5f, 10.6f, 1.0f, 1.0f, 0.5f, 100.5f, 1.0f, 1.0f});
  r = nms(centers, onnxScores(), {i64(3), f32(0.5f), f32(0.f)}, 1);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  // test_nonmaxsuppression_flipped_coordinates
  auto flipped = test::makeFloat(
      {1, 6, 4}, {1.0f, 1.0f,  0.0f, 0.0f,  0.0f, 0.1f,  1.0f, 1.1f,  0.0f, 0.9f,   1.0f, -0.1f,
                  0.0f, 10.0f, 1.0f, 11.0f, 1.0f, 10.1f, 0.0f, 11.1f, 1.0f, 101.0f, 0.0f, 100.0f});
  r = nms(flipped, onnxScores(), {i64(3), f32(0.5f), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  // test_nonmaxsuppression_identical_boxes
  F ten;
  for (int k = 0; k < 10; ++k) ten.insert(ten.end(), {0.f, 0.f, 1.f, 1.f});
  r = nms(test::makeFloat({1, 10, 4}, ten), test::makeFloat({1, 1, 10}, F(10, 0.9f)),
          {i64(3), f32(0.5f), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 0}));
  // test_nonmaxsuppression_single_box
  r = nms(test::makeFloat({1, 1, 4}, {0, 0, 1, 1}), test::makeFloat({1, 1, 1}, {0.9f}),
          {i64(3), f32(0.5f), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 0}));
  // test_nonmaxsuppression_iou_threshold_boundary: IoU 0.25 / 1.75 = 1/7, threshold
  // float(1/7) (a hair above): not suppressed.
  r = nms(test::makeFloat({1, 2, 4}, {0, 0, 1, 1, 0.5f, 0.5f, 1.5f, 1.5f}),
          test::makeFloat({1, 1, 2}, {0.9f, 0.8f}), {i64(3), f32(1.f / 7.f), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 0, 0, 0, 1}));
}

TEST(NonMaxSuppression, DefaultsThresholdsAndTies) {
  // No max_output_boxes_per_class (default 0): nothing selected.
  auto r = nms(onnxBoxes(), onnxScores(), {});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->empty());
  // No thresholds: IoU threshold 0 suppresses any overlap; disjoint boxes stay (boxes 3, 0, 5).
  r = nms(onnxBoxes(), onnxScores(), {i64(10)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  // Score threshold is strict: 0.6 drops the box scoring exactly 0.6. IoU 1 suppresses nothing.
  // Absent iou_threshold (empty name) while score_threshold is given.
  r = nms(onnxBoxes(), onnxScores(), {i64(10), f32(1.f), f32(0.6f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0, 0, 0, 1}));
  r = nms(onnxBoxes(), onnxScores(), {i64(10), In::absent(), f32(0.6f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 3, 0, 0, 0}));
  // Equal scores: lower index first; negative scores are kept without a score threshold.
  // Boxes 0 and 2 are identical, 1 is disjoint.
  r = nms(test::makeFloat({1, 3, 4}, {0, 0, 1, 1, 5, 5, 6, 6, 0, 0, 1, 1}),
          test::makeFloat({1, 1, 3}, {-0.5f, -0.5f, -0.5f}), {i64(5), f32(0.5f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 0, 0, 0, 1}));
  // Identical boxes have IoU exactly 1, which threshold 1 does not suppress ('>' is strict).
  r = nms(test::makeFloat({1, 2, 4}, {0, 0, 2, 2, 0, 0, 2, 2}),
          test::makeFloat({1, 1, 2}, {0.5f, 0.7f}), {i64(5), f32(1.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 1, 0, 0, 0}));
  // Boxes that only touch (IoU 0) are not suppressed even with threshold 0; a zero-area box is
  // selected and suppresses nothing.
  r = nms(test::makeFloat({1, 3, 4}, {0, 0, 1, 1, 0, 1, 1, 2, 0.5f, 0.5f, 0.5f, 0.5f}),
          test::makeFloat({1, 1, 3}, {0.3f, 0.2f, 0.9f}), {i64(5), f32(0.f)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (I{0, 0, 2, 0, 0, 0, 0, 0, 1}));
}

TEST(NonMaxSuppression, SymbolicShape) {
  // Scores from a graph input: the count is a run-time symbol; every other input constant.
  auto b = infer(OpKind::kNonMaxSuppression, {},
                 {In::c(onnxBoxes()), In::graphInput(onnxScores()), i64(3), f32(0.5f)}, 1);
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(shapesOf(**b), (std::vector<std::string>{"[node:0:d0,3]"}));
  // Constant boxes and scores but max_output_boxes_per_class from a graph input.
  auto m = infer(
      OpKind::kNonMaxSuppression, {},
      {In::c(onnxBoxes()), In::c(onnxScores()), In::graphInput(test::makeInt64({1}, {3}))}, 1);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(shapesOf(**m), (std::vector<std::string>{"[node:0:d0,3]"}));
}

TEST(NonMaxSuppression, Errors) {
  auto boxes = onnxBoxes();
  auto scores = onnxScores();
  auto nmsInfer = [&](std::vector<In> ins, ir::Attributes a = {}) {
    return infer(OpKind::kNonMaxSuppression, a, ins, 1).status();
  };
  expectErrorContains(nmsInfer({In::c(test::makeFloat({1, 6, 3}, F(18, 0.f))), In::c(scores)}),
                      "boxes must have shape");
  expectErrorContains(nmsInfer({In::c(boxes), In::c(test::makeFloat({1, 6}, F(6, 0.f)))}),
                      "scores must have shape");
  expectErrorContains(nmsInfer({In::c(boxes), In::c(test::makeFloat({1, 1, 5}, F(5, 0.f)))}),
                      "disagree");
  expectErrorContains(nmsInfer({In::c(boxes), In::c(scores), In::c(test::makeInt64({2}, {1, 2}))}),
                      "max_output_boxes_per_class) must be a scalar");
  expectErrorContains(nmsInfer({In::c(boxes), In::c(scores), i64(3), f32(1.5f)}),
                      "iou_threshold must be in [0, 1]");
  expectErrorContains(nmsInfer({In::c(boxes), In::c(scores), f32(3.f)}), "type");
  std::vector<double> d(24, 0.0);
  expectErrorContains(
      nmsInfer({In::c(TensorData::fromVector(DataType::kDOUBLE, {1, 6, 4}, d)), In::c(scores)}),
      "type");
  ir::Attributes cpb;
  cpb.setInt("center_point_box", 2);
  expectErrorContains(nmsInfer({In::c(boxes), In::c(scores)}, cpb), "center_point_box");
  expectErrorContains(nmsInfer({In::c(boxes)}), "expects 2 to 5 inputs");
}

// The kernels check that the outputs they are given have the size the data gives (an internal
// error otherwise), so a stale shape never turns into an out-of-bounds write.
TEST(DataDependent, KernelRejectsWrongOutputSize) {
  ir::Graph g;
  auto x = test::makeFloat({4}, {1, 0, 2, 0});
  ir::Value* in = g.addConstant("x", x);
  ir::Node* n = g.addNode(OpKind::kNonZero, "node", {in}, {}, 1);
  std::vector<cpu::CpuTensor> cin = {{const_cast<void*>(x->data()), DataType::kFLOAT, {4}}};
  std::vector<int64_t> buf(3, 0);
  std::vector<cpu::CpuTensor> cout = {{buf.data(), DataType::kINT64, {1, 3}}};
  Status st = cpu::runCpuNode(*n, cin, cout);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("[1,2]"), std::string::npos) << st.toString();
  EXPECT_EQ(buf, (I{0, 0, 0}));
}

}  // namespace
}  // namespace kiln
