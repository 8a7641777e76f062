// Losses and small ops: SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss, CumProd, Swish,
// SwiGLU, EyeLike, ReverseSequence, Det, Hann/Hamming/BlackmanWindow, TopK on unsigned 64-bit
// integers, Resize with antialias. Each against hand-computed values (the ONNX operator
// documentation's examples, numpy values computed offline) or a plain double-precision loop written
// here; plus symbolic shape inference and error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numbers>
#include <string>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::DimExpr;
using ir::OpKind;
using ir::TensorData;
using Dims = std::vector<int64_t>;

void expectErrorContains(const StatusOr<OpResult>& r, const std::string& text) {
  ASSERT_FALSE(r.isOk()) << "expected an error containing: " << text;
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
}

ir::Attributes reductionAttrs(const std::string& reduction) {
  ir::Attributes a;
  a.setString("reduction", reduction);
  return a;
}

// --- NegativeLogLikelihoodLoss: the ONNX documentation's three examples ------------------------

std::shared_ptr<TensorData> docInput() {
  return makeFloat({2, 3, 2},
                   {1.0f, 2.0f, 2.0f, 2.0f, 3.0f, 2.0f, 0.0f, 1.0f, 2.0f, 2.0f, 1.0f, 2.0f});
}

TEST(MiscNllLoss, DocumentationExamples) {
  auto target = makeInt64({2, 2}, {2, 1, 0, 2});
  auto weight = makeFloat({3}, {0.2f, 0.3f, 0.1f});
  auto none = runOp(OpKind::kNegativeLogLikelihoodLoss, reductionAttrs("none"),
                    {OpInput::value(docInput()), OpInput::value(target)});
  ASSERT_TRUE(none.isOk()) << none.status().toString();
  expectCloseTo(none->at(0), {2, 2}, {-3.0, -2.0, -0.0, -2.0});
  auto sum = runOp(OpKind::kNegativeLogLikelihoodLoss, reductionAttrs("sum"),
                   {OpInput::value(docInput()), OpInput::value(target), OpInput::value(weight)});
  ASSERT_TRUE(sum.isOk()) << sum.status().toString();
  expectCloseTo(sum->at(0), {}, {-1.1});
  auto mean = runOp(OpKind::kNegativeLogLikelihoodLoss, {},  // "mean" is the default
                    {OpInput::value(docInput()), OpInput::value(target), OpInput::value(weight)});
  ASSERT_TRUE(mean.isOk()) << mean.status().toString();
  // -1.1 / (0.1 + 0.3 + 0.2 + 0.1)
  expectCloseTo(mean->at(0), {}, {-1.1 / 0.7});
}

TEST(MiscNllLoss, IgnoreIndexMeanCountsOnlyKeptLabels) {
  // Labels 1 are ignored: mean over the two others, -(3 + 0) / 2; with weights,
  // -(3 * 0.1 + 0 * 0.2) / (0.1 + 0.2).
  auto target = makeInt32({2, 2}, {2, 1, 0, 1});
  ir::Attributes a;
  a.setInt("ignore_index", 1);
  auto r = runOp(OpKind::kNegativeLogLikelihoodLoss, a,
                 {OpInput::value(docInput()), OpInput::value(target)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {}, {-1.5});
  auto w = runOp(OpKind::kNegativeLogLikelihoodLoss, a,
                 {OpInput::value(docInput()), OpInput::value(target),
                  OpInput::value(makeFloat({3}, {0.2f, 0.3f, 0.1f}))});
  ASSERT_TRUE(w.isOk()) << w.status().toString();
  expectCloseTo(w->at(0), {}, {-0.3 / 0.3});
  // An ignore_index outside [0, C) is fine; a label outside it that is not ignored is an error.
  ir::Attributes neg;
  neg.setInt("ignore_index", -1);
  neg.setString("reduction", "none");
  auto n = runOp(OpKind::kNegativeLogLikelihoodLoss, neg,
                 {OpInput::value(docInput()), OpInput::value(makeInt64({2, 2}, {-1, 1, 0, -1}))});
  ASSERT_TRUE(n.isOk()) << n.status().toString();
  expectCloseTo(n->at(0), {2, 2}, {0.0, -2.0, -0.0, 0.0});
  expectErrorContains(
      runOp(OpKind::kNegativeLogLikelihoodLoss, {},
            {OpInput::value(docInput()), OpInput::value(makeInt64({2, 2}, {3, 1, 0, 2}))}),
      "label 3");
}

// --- SoftmaxCrossEntropyLoss against a double loop
// ------------------------------------------------

struct LossRef {
  std::vector<double> loss;  // per element, or one value when reduced
  std::vector<double> logProb;
};

// softmax = exp(x) / sum(exp(x)) over C (written differently from the kernel's log-sum-exp).
LossRef refSce(const TensorData& x, const TensorData& labels, const TensorData* weights,
               const std::string& reduction, bool hasIgnore, int64_t ignore) {
  const Dims& dims = x.dims();
  const int64_t n = dims[0], c = dims[1];
  int64_t d = 1;
  for (size_t k = 2; k < dims.size(); ++k) d *= dims[k];
  LossRef r;
  r.logProb.resize(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c; ++k) s += std::exp(x.doubleAt((i * c + k) * d + j));
      for (int64_t k = 0; k < c; ++k)
        r.logProb[static_cast<size_t>((i * c + k) * d + j)] =
            std::log(std::exp(x.doubleAt((i * c + k) * d + j)) / s);
    }
  }
  std::vector<double> l;
  double wsum = 0, lsum = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      const int64_t lab = labels.intAt(i * d + j);
      double w = 0, v = 0;
      if (!(hasIgnore && lab == ignore)) {
        w = weights ? weights->doubleAt(lab) : 1.0;
        v = -r.logProb[static_cast<size_t>((i * c + lab) * d + j)] * w;
      }
      l.push_back(v);
      lsum += v;
      wsum += w;
    }
  }
  if (reduction == "none") r.loss = l;
  if (reduction == "sum") r.loss = {lsum};
  if (reduction == "mean") r.loss = {lsum / wsum};
  return r;
}

TEST(MiscSceLoss, ReductionsWeightsIgnoreIndexAndRanks) {
  std::mt19937 rng(2401);
  const std::vector<Dims> shapes{{3, 5}, {2, 4, 3}, {2, 3, 2, 3}};
  for (const Dims& xd : shapes) {
    Dims ld{xd[0]};
    for (size_t k = 2; k < xd.size(); ++k) ld.push_back(xd[k]);
    auto x = randomTensor(DataType::kFLOAT, xd, rng, -3, 3);
    auto labels = randomTensor(DataType::kINT64, ld, rng, 0, static_cast<double>(xd[1] - 1));
    auto weights = randomTensor(DataType::kFLOAT, {xd[1]}, rng, 0.1, 2);
    for (const std::string red : {"none", "sum", "mean"}) {
      for (int withWeights = 0; withWeights <= 1; ++withWeights) {
        for (int withIgnore = 0; withIgnore <= 1; ++withIgnore) {
          ir::Attributes a = reductionAttrs(red);
          if (withIgnore) a.setInt("ignore_index", 1);
          std::vector<OpInput> in{OpInput::value(x), OpInput::value(labels)};
          if (withWeights) in.push_back(OpInput::value(weights));
          auto r = runOp(OpKind::kSoftmaxCrossEntropyLoss, a, in, 2);
          ASSERT_TRUE(r.isOk()) << r.status().toString();
          LossRef want =
              refSce(*x, *labels, withWeights ? weights.get() : nullptr, red, withIgnore != 0, 1);
          SCOPED_TRACE(red + " weights=" + std::to_string(withWeights) +
                       " ignore=" + std::to_string(withIgnore));
          expectCloseTo(r->at(0), red == "none" ? ld : Dims{}, want.loss, 1e-5, 1e-6);
          expectCloseTo(r->at(1), xd, want.logProb, 1e-5, 1e-6);
        }
      }
    }
  }
}

TEST(MiscSceLoss, HandValuesAndOtherTypes) {
  // Two equal scores: loss log(2) for either label.
  auto x = makeFloat({1, 2}, {0.5f, 0.5f});
  auto r = runOp(OpKind::kSoftmaxCrossEntropyLoss, {},
                 {OpInput::value(x), OpInput::value(makeInt32({1}, {1}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {}, {std::log(2.0)});
  // Large scores do not overflow: scores (1000, 0), label 1 -> 1000 + log(1 + e^-1000) = 1000.
  auto big = makeFloat({1, 2}, {1000.f, 0.f});
  auto b = runOp(OpKind::kSoftmaxCrossEntropyLoss, {},
                 {OpInput::value(big), OpInput::value(makeInt64({1}, {1}))});
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  expectCloseTo(b->at(0), {}, {1000.0});
  // double and float16 scores.
  std::mt19937 rng(2402);
  for (DataType dt : {DataType::kDOUBLE, DataType::kHALF}) {
    auto xs = randomTensor(dt, {4, 3}, rng, -2, 2);
    auto lab = makeInt64({4}, {0, 2, 1, 2});
    auto s = runOp(OpKind::kSoftmaxCrossEntropyLoss, reductionAttrs("none"),
                   {OpInput::value(xs), OpInput::value(lab)});
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    EXPECT_EQ(s->at(0).dtype(), dt);
    LossRef want = refSce(*xs, *lab, nullptr, "none", false, 0);
    expectCloseTo(s->at(0), {4}, want.loss, dt == DataType::kHALF ? 1e-3 : 1e-12,
                  dt == DataType::kHALF ? 1e-3 : 1e-12);
  }
}

TEST(MiscSceLoss, ShapeInferenceAndErrors) {
  ir::Graph g;
  auto* x = g.addInput("x", DataType::kFLOAT, {DimExpr::symbol("n"), 5, DimExpr::symbol("h")});
  auto* y = g.addInput("y", DataType::kINT64, {DimExpr::symbol("n"), DimExpr::symbol("h")});
  auto* node =
      g.addNode(OpKind::kSoftmaxCrossEntropyLoss, "sce", {x, y}, reductionAttrs("none"), 2);
  g.markOutput(node->outputs[0]);
  g.markOutput(node->outputs[1]);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  std::map<std::string, int64_t> bind{{"n", 3}, {"h", 7}};
  ASSERT_EQ(node->outputs[0]->shape.size(), 2u);
  EXPECT_EQ(node->outputs[0]->shape[0].substitute(bind).constValue(), 3);
  EXPECT_EQ(node->outputs[0]->shape[1].substitute(bind).constValue(), 7);
  ASSERT_EQ(node->outputs[1]->shape.size(), 3u);
  EXPECT_EQ(node->outputs[1]->shape[1].constValue(), 5);

  auto xs = makeFloat({2, 3}, {1, 2, 3, 4, 5, 6});
  expectErrorContains(runOp(OpKind::kSoftmaxCrossEntropyLoss, {},
                            {OpInput::value(xs), OpInput::value(makeInt64({3}, {0, 1, 2}))}),
                      "differ in N");
  expectErrorContains(runOp(OpKind::kSoftmaxCrossEntropyLoss, {},
                            {OpInput::value(xs), OpInput::value(makeInt64({2, 1}, {0, 1}))}),
                      "rank 1");
  expectErrorContains(runOp(OpKind::kSoftmaxCrossEntropyLoss, {},
                            {OpInput::value(xs), OpInput::value(makeInt64({2}, {0, 1})),
                             OpInput::value(makeFloat({2}, {1, 1}))}),
                      "weights must have C elements");
  expectErrorContains(runOp(OpKind::kSoftmaxCrossEntropyLoss, reductionAttrs("max"),
                            {OpInput::value(xs), OpInput::value(makeInt64({2}, {0, 1}))}),
                      "reduction must be");
  expectErrorContains(runOp(OpKind::kSoftmaxCrossEntropyLoss, {},
                            {OpInput::value(xs), OpInput::value(makeFloat({2}, {0, 1}))}),
                      "labels");
  expectErrorContains(runOp(OpKind::kSoftmaxCrossEntropyLoss, {},
                            {OpInput::value(xs), OpInput::value(makeInt64({2}, {0, -4}))}),
                      "label -4");
  expectErrorContains(runOp(OpKind::kNegativeLogLikelihoodLoss, {},
                            {OpInput::value(xs), OpInput::value(makeInt64({2}, {0, 1}))}, 2),
                      "expects 1 output");
}

// --- CumProd
// ----------------------------------------------------------------------------------------

TEST(MiscCumProd, DocumentationExamplesAxesAndIntegers) {
  auto x = TensorData::fromVector(DataType::kDOUBLE, {3}, std::vector<double>{1, 2, 3});
  const struct {
    int exclusive, reverse;
    std::vector<double> want;
  } cases[] = {{0, 0, {1, 2, 6}}, {1, 0, {1, 1, 2}}, {0, 1, {6, 6, 3}}, {1, 1, {6, 3, 1}}};
  for (const auto& c : cases) {
    ir::Attributes a;
    a.setInt("exclusive", c.exclusive);
    a.setInt("reverse", c.reverse);
    auto r = runOp(OpKind::kCumProd, a, {OpInput::value(x), OpInput::constant(makeInt32({}, {0}))});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), {3}, c.want, 0, 0);
  }
  // 2-D along each axis (negative axis too), float32.
  auto m = makeFloat({2, 3}, {1, 2, 3, 4, 5, 6});
  auto a0 = runOp(OpKind::kCumProd, {},
                  {OpInput::value(m), OpInput::constant(TensorData::scalarInt64(0))});
  ASSERT_TRUE(a0.isOk()) << a0.status().toString();
  expectCloseTo(a0->at(0), {2, 3}, {1, 2, 3, 4, 10, 18}, 0, 0);
  auto a1 = runOp(OpKind::kCumProd, {},
                  {OpInput::value(m), OpInput::constant(TensorData::scalarInt64(-1))});
  ASSERT_TRUE(a1.isOk()) << a1.status().toString();
  expectCloseTo(a1->at(0), {2, 3}, {1, 2, 6, 4, 20, 120}, 0, 0);
  // int32 wraps around: 65536 * 65536 = 2^32 -> 0; exclusive starts at 1.
  ir::Attributes ex;
  ex.setInt("exclusive", 1);
  auto i = runOp(OpKind::kCumProd, ex,
                 {OpInput::value(makeInt32({4}, {65536, 65536, 3, 5})),
                  OpInput::constant(makeInt32({}, {0}))});
  ASSERT_TRUE(i.isOk()) << i.status().toString();
  expectEqual(i->at(0), *makeInt32({4}, {1, 65536, 0, 0}));
  expectErrorContains(runOp(OpKind::kCumProd, {},
                            {OpInput::value(m), OpInput::constant(TensorData::scalarInt64(2))}),
                      "out of range");
}

// --- Swish, SwiGLU
// ----------------------------------------------------------------------------------

TEST(MiscSwish, AgainstFormula) {
  std::mt19937 rng(2403);
  auto x = randomTensor(DataType::kFLOAT, {3, 7}, rng, -6, 6);
  for (float alpha : {1.0f, 0.5f, 1.702f}) {
    ir::Attributes a;
    a.setFloat("alpha", alpha);
    auto r = runOp(OpKind::kSwish, a, {OpInput::value(x)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want;
    for (int64_t i = 0; i < x->numel(); ++i) {
      const double v = x->doubleAt(i);
      want.push_back(v * (1.0 / (1.0 + std::exp(-static_cast<double>(alpha) * v))));
    }
    expectCloseTo(r->at(0), {3, 7}, want, 1e-6, 1e-7);
  }
  // Hand value: swish(2) = 2 / (1 + e^-2) = 1.7615941559557649.
  auto h = runOp(OpKind::kSwish, {}, {OpInput::value(makeFloat({1}, {2.f}))});
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  expectCloseTo(h->at(0), {1}, {1.7615941559557649});
  expectErrorContains(runOp(OpKind::kSwish, {}, {OpInput::value(makeInt32({1}, {1}))}),
                      "expected one of");
}

TEST(MiscSwiGlu, AgainstFormulaAndShapeChecks) {
  std::mt19937 rng(2404);
  for (DataType dt : {DataType::kFLOAT, DataType::kHALF}) {
    auto a = randomTensor(dt, {2, 5}, rng, -4, 4);
    auto b = randomTensor(dt, {2, 5}, rng, -4, 4);
    ir::Attributes at;
    at.setFloat("alpha", 0.5f);
    auto r = runOp(OpKind::kSwiGLU, at, {OpInput::value(a), OpInput::value(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want;
    for (int64_t i = 0; i < a->numel(); ++i) {
      const double av = a->doubleAt(i);
      want.push_back(av / (1.0 + std::exp(-0.5 * av)) * b->doubleAt(i));
    }
    expectCloseTo(r->at(0), {2, 5}, want, dt == DataType::kHALF ? 1e-3 : 1e-6,
                  dt == DataType::kHALF ? 2e-3 : 1e-7);
  }
  auto a = makeFloat({2, 2}, {1, 2, 3, 4});
  expectErrorContains(
      runOp(OpKind::kSwiGLU, {}, {OpInput::value(a), OpInput::value(makeFloat({2}, {1, 2}))}),
      "no broadcasting");
  expectErrorContains(
      runOp(OpKind::kSwiGLU, {}, {OpInput::value(a), OpInput::value(makeFloat({2, 1}, {1, 2}))}),
      "no broadcasting");
}

// --- EyeLike, ReverseSequence, Det
// ------------------------------------------------------------------

TEST(MiscEyeLike, DiagonalsAndTypes) {
  auto x = makeInt32({3, 4}, std::vector<int32_t>(12, 7));
  auto r = runOp(OpKind::kEyeLike, {}, {OpInput::value(x)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeInt32({3, 4}, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}));
  ir::Attributes a;
  a.setInt("k", 1);
  a.setInt("dtype", static_cast<int64_t>(DataType::kFLOAT));
  auto up = runOp(OpKind::kEyeLike, a, {OpInput::value(x)});
  ASSERT_TRUE(up.isOk()) << up.status().toString();
  expectEqual(up->at(0), *makeFloat({3, 4}, {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  ir::Attributes lo;
  lo.setInt("k", -2);
  lo.setInt("dtype", static_cast<int64_t>(DataType::kBOOL));
  auto l = runOp(OpKind::kEyeLike, lo, {OpInput::value(x)});
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  expectEqual(l->at(0), *makeBool({3, 4}, {false, false, false, false, false, false, false, false,
                                           true, false, false, false}));
  expectErrorContains(runOp(OpKind::kEyeLike, {}, {OpInput::value(makeInt32({4}, {1, 2, 3, 4}))}),
                      "2-D");
  ir::Attributes bad;
  bad.setInt("dtype", 6);
  expectErrorContains(runOp(OpKind::kEyeLike, bad, {OpInput::value(x)}), "dtype=6");
}

TEST(MiscReverseSequence, DocumentationExamples) {
  // Example 1: time_axis 0, batch_axis 1.
  auto x = makeFloat({4, 4}, {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15});
  ir::Attributes t0;
  t0.setInt("time_axis", 0);
  t0.setInt("batch_axis", 1);
  auto r = runOp(OpKind::kReverseSequence, t0,
                 {OpInput::value(x), OpInput::value(makeInt64({4}, {4, 3, 2, 1}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeFloat({4, 4}, {3, 6, 9, 12, 2, 5, 8, 13, 1, 4, 10, 14, 0, 7, 11, 15}));
  // Example 2: time_axis 1, batch_axis 0, on int64 with an extra trailing dim of 1.
  auto y = makeInt64({4, 4, 1}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
  ir::Attributes t1;
  t1.setInt("time_axis", 1);
  t1.setInt("batch_axis", 0);
  auto s = runOp(OpKind::kReverseSequence, t1,
                 {OpInput::value(y), OpInput::value(makeInt64({4}, {1, 2, 3, 4}))});
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  expectEqual(s->at(0),
              *makeInt64({4, 4, 1}, {0, 1, 2, 3, 5, 4, 6, 7, 10, 9, 8, 11, 15, 14, 13, 12}));
  expectErrorContains(runOp(OpKind::kReverseSequence, t1,
                            {OpInput::value(y), OpInput::value(makeInt64({4}, {1, 2, 5, 4}))}),
                      "sequence_lens[2] = 5");
  expectErrorContains(runOp(OpKind::kReverseSequence, t1,
                            {OpInput::value(y), OpInput::value(makeInt64({3}, {1, 2, 3}))}),
                      "one entry per batch element");
  ir::Attributes same;
  same.setInt("time_axis", 1);
  same.setInt("batch_axis", 1);
  expectErrorContains(runOp(OpKind::kReverseSequence, same,
                            {OpInput::value(y), OpInput::value(makeInt64({4}, {1, 2, 3, 4}))}),
                      "must be 0 and 1");
}

TEST(MiscDet, HandValuesBatchesAndErrors) {
  // det [[1,2,3],[4,5,6],[7,8,10]] = -3; det [[0,1],[1,0]] = -1 (needs a row swap).
  auto a = makeFloat({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 10});
  auto r = runOp(OpKind::kDet, {}, {OpInput::value(a)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {}, {-3.0});
  auto b = makeFloat({3, 2, 2}, {0, 1, 1, 0, 2, 0, 0, 3, 1, 2, 2, 4});
  auto s = runOp(OpKind::kDet, {}, {OpInput::value(b)});
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  expectCloseTo(s->at(0), {3}, {-1.0, 6.0, 0.0});
  // Random 4x4 against the Leibniz formula (sum over permutations).
  std::mt19937 rng(2405);
  auto m = randomTensor(DataType::kDOUBLE, {2, 4, 4}, rng, -2, 2);
  auto d = runOp(OpKind::kDet, {}, {OpInput::value(m)});
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  std::vector<double> want;
  for (int64_t bi = 0; bi < 2; ++bi) {
    std::vector<int> p{0, 1, 2, 3};
    double sum = 0;
    do {
      int inversions = 0;
      for (int i = 0; i < 4; ++i)
        for (int j = i + 1; j < 4; ++j)
          inversions += p[static_cast<size_t>(i)] > p[static_cast<size_t>(j)];
      double term = inversions % 2 ? -1.0 : 1.0;
      for (int i = 0; i < 4; ++i) term *= m->doubleAt(bi * 16 + i * 4 + p[static_cast<size_t>(i)]);
      sum += term;
    } while (std::next_permutation(p.begin(), p.end()));
    want.push_back(sum);
  }
  expectCloseTo(d->at(0), {2}, want, 1e-12, 1e-12);
  expectErrorContains(
      runOp(OpKind::kDet, {}, {OpInput::value(makeFloat({2, 3}, {1, 2, 3, 4, 5, 6}))}), "square");
  expectErrorContains(runOp(OpKind::kDet, {}, {OpInput::value(makeFloat({2}, {1, 2}))}),
                      "[*, M, M]");
}

// --- Windows
// ----------------------------------------------------------------------------------------

TEST(MiscWindow, NumpyValuesPeriodicAndSymmetric) {
  // Values computed offline with numpy: a0 - a1 cos(2 pi n / L) + a2 cos(4 pi n / L).
  const struct {
    OpKind op;
    int periodic;
    std::vector<double> want;
  } cases[] = {
      {OpKind::kHannWindow,
       1,
       {0.0, 0.3454915028125263, 0.9045084971874737, 0.9045084971874737, 0.3454915028125264}},
      {OpKind::kHannWindow, 0, {0.0, 0.5, 1.0, 0.5, 0.0}},
      {OpKind::kHammingWindow,
       1,
       {0.08695652173913043, 0.4024052851766544, 0.9128121061276933, 0.9128121061276935,
        0.4024052851766545}},
      {OpKind::kHammingWindow,
       0,
       {0.08695652173913043, 0.5434782608695652, 1.0, 0.5434782608695653, 0.08695652173913043}},
      {OpKind::kBlackmanWindow,
       1,
       {0.0, 0.20077014326253045, 0.8492298567374694, 0.8492298567374695, 0.20077014326253056}},
      {OpKind::kBlackmanWindow, 0, {0.0, 0.34, 1.0, 0.34, 0.0}},
  };
  for (const auto& c : cases) {
    ir::Attributes a;
    a.setInt("periodic", c.periodic);
    auto r = runOp(c.op, a, {OpInput::constant(makeInt32({}, {5}))});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(r->at(0).dtype(), DataType::kFLOAT);
    expectCloseTo(r->at(0), {5}, c.want, 1e-6, 1e-7);
  }
  // output_datatype double; size as int64.
  ir::Attributes d;
  d.setInt("output_datatype", static_cast<int64_t>(DataType::kDOUBLE));
  auto r = runOp(OpKind::kHannWindow, d, {OpInput::constant(TensorData::scalarInt64(4))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {4}, {0.0, 0.5, 1.0, 0.5}, 1e-15, 1e-15);
  // Empty window.
  auto e = runOp(OpKind::kHannWindow, {}, {OpInput::constant(TensorData::scalarInt64(0))});
  ASSERT_TRUE(e.isOk()) << e.status().toString();
  EXPECT_EQ(e->at(0).numel(), 0);
  expectErrorContains(
      runOp(OpKind::kHannWindow, {}, {OpInput::constant(TensorData::scalarInt64(-2))}),
      "size must be >= 0");
  expectErrorContains(runOp(OpKind::kHannWindow, {}, {OpInput::constant(makeInt64({2}, {3, 4}))}),
                      "scalar");
  // A size computed from tensor data cannot give the output shape at build time.
  auto v = runOp(OpKind::kHannWindow, {}, {OpInput::value(TensorData::scalarInt64(4))});
  ASSERT_FALSE(v.isOk());
  EXPECT_EQ(v.status().code(), StatusCode::kUnsupported) << v.status().toString();
}

TEST(MiscWindow, SymbolicSizeFromShape) {
  ir::Graph g;
  auto* x = g.addInput("x", DataType::kFLOAT, {DimExpr::symbol("n"), 2});
  ir::Attributes sa;
  sa.setInt("end", 1);
  auto* shape = g.addNode(OpKind::kShape, "shape", {x}, sa)->outputs[0];
  auto* w = g.addNode(OpKind::kBlackmanWindow, "w", {shape}, {})->outputs[0];
  g.markOutput(w);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  ASSERT_EQ(w->shape.size(), 1u);
  EXPECT_TRUE(w->shape[0].equals(DimExpr::symbol("n"))) << w->shape[0].toString();
}

// --- TopK on uint64
// ----------------------------------------------------------------------------------

TEST(MiscTopK, Uint64ComparesExactly) {
  // 2^64 - 1 and 2^64 - 2 are equal as doubles; they must still be ordered.
  const std::vector<uint64_t> v{5, 18446744073709551614ull, 18446744073709551615ull,
                                0, 9007199254740993ull,     9007199254740992ull};
  auto x = TensorData::fromVector(DataType::kUINT64, {2, 3}, v);
  ir::Attributes a;
  a.setInt("axis", 1);
  auto r = runOp(OpKind::kTopK, a, {OpInput::value(x), OpInput::constant(makeInt64({1}, {2}))}, 2);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *TensorData::fromVector(
                            DataType::kUINT64, {2, 2},
                            std::vector<uint64_t>{18446744073709551615ull, 18446744073709551614ull,
                                                  9007199254740993ull, 9007199254740992ull}));
  expectEqual(r->at(1), *makeInt64({2, 2}, {2, 1, 1, 2}));
  a.setInt("largest", 0);
  auto s = runOp(OpKind::kTopK, a, {OpInput::value(x), OpInput::constant(makeInt64({1}, {1}))}, 2);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  expectEqual(s->at(1), *makeInt64({2, 1}, {0, 0}));
}

// --- Resize antialias
// ---------------------------------------------------------------------------------

TEST(MiscResizeAntialias, LinearDownsampleByHand) {
  // 4 -> 2 (scale 0.5, half_pixel): x_orig = 0.5 and 2.5. The stretched triangle filter gives
  // taps at distances -1.5, -0.5, 0.5, 1.5 input pixels weights 0.25, 0.75, 0.75, 0.25 (/ 2),
  // indices clamped to [0, 3]:
  //   y0 = 0.125 x0 + 0.375 x0 + 0.375 x1 + 0.125 x2 = 0.5 + 0.75 + 0.5 = 1.75
  //   y1 = 0.125 x1 + 0.375 x2 + 0.375 x3 + 0.125 x3 = 0.25 + 1.5 + 3 + 1 = 5.75
  // (without antialias: 1.5 and 6).
  auto x = makeFloat({1, 4}, {1, 2, 4, 8});
  auto scales = makeFloat({2}, {1.f, 0.5f});
  for (int aa = 0; aa <= 1; ++aa) {
    ir::Attributes a;
    a.setString("mode", "linear");
    a.setInt("antialias", aa);
    auto r = runOp(OpKind::kResize, a,
                   {OpInput::value(x), OpInput::absent(), OpInput::constant(scales)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), {1, 2},
                  aa ? std::vector<double>{1.75, 5.75} : std::vector<double>{1.5, 6.0});
  }
  ir::Attributes bad;
  bad.setInt("antialias", 2);
  expectErrorContains(runOp(OpKind::kResize, bad,
                            {OpInput::value(x), OpInput::absent(), OpInput::constant(scales)}),
                      "antialias must be 0 or 1");
}

}  // namespace
}  // namespace kiln::test
