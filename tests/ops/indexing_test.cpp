// Indexing group: BitwiseAnd/Or/Xor, Trilu, CumSum, GatherND, ScatterElements, ScatterND, OneHot,
// Hardmax, LpNormalization, MeanVarianceNormalization, LRN, LpPool. Each against a plain loop
// written here (coordinates unravelled explicitly, math in double) or hand-computed values from
// the ONNX operator documentation; plus symbolic shape inference and error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
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

std::vector<int64_t> unravel(int64_t flat, const Dims& dims) {
  std::vector<int64_t> c(dims.size());
  for (size_t k = dims.size(); k-- > 0;) {
    c[k] = flat % dims[k];
    flat /= dims[k];
  }
  return c;
}
int64_t ravel(const std::vector<int64_t>& c, const Dims& dims) {
  int64_t f = 0;
  for (size_t k = 0; k < dims.size(); ++k) f = f * dims[k] + c[k];
  return f;
}
std::shared_ptr<TensorData> scalarI64(int64_t v) { return TensorData::scalarInt64(v); }

void expectErrorContains(const StatusOr<OpResult>& r, const std::string& text) {
  ASSERT_FALSE(r.isOk()) << "expected an error containing: " << text;
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
}

// --- Bitwise ------------------------------------------------------------------------------------

TEST(IndexingBitwise, BroadcastAgainstLoop) {
  std::mt19937 rng(1300);
  struct Case {
    OpKind op;
    DataType dt;
    Dims a, b, out;
  };
  const Case cases[] = {
      {OpKind::kBitwiseAnd, DataType::kINT32, {2, 3, 4}, {4}, {2, 3, 4}},
      {OpKind::kBitwiseOr, DataType::kUINT8, {3, 1}, {1, 5}, {3, 5}},
      {OpKind::kBitwiseXor, DataType::kINT64, {2, 1, 3}, {4, 1}, {2, 4, 3}},
      {OpKind::kBitwiseAnd, DataType::kINT8, {5}, {5}, {5}},
  };
  for (const Case& c : cases) {
    auto a = randomTensor(c.dt, c.a, rng, c.dt == DataType::kUINT8 ? 0 : -120, 120);
    auto b = randomTensor(c.dt, c.b, rng, c.dt == DataType::kUINT8 ? 0 : -120, 120);
    auto r = runOp(c.op, {}, {OpInput::value(a), OpInput::value(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    auto want = std::make_shared<TensorData>(c.dt, c.out);
    for (int64_t i = 0; i < volume(c.out); ++i) {
      auto oc = unravel(i, c.out);
      auto at = [&](const Dims& d) {
        std::vector<int64_t> ic(d.size());
        for (size_t k = 0; k < d.size(); ++k) ic[k] = d[k] == 1 ? 0 : oc[oc.size() - d.size() + k];
        return ravel(ic, d);
      };
      const int64_t x = a->intAt(at(c.a)), y = b->intAt(at(c.b));
      const int64_t v = c.op == OpKind::kBitwiseAnd ? (x & y) : c.op == OpKind::kBitwiseOr ? (x | y) : (x ^ y);
      switch (c.dt) {
        case DataType::kINT32: want->as<int32_t>()[i] = static_cast<int32_t>(v); break;
        case DataType::kUINT8: want->as<uint8_t>()[i] = static_cast<uint8_t>(v); break;
        case DataType::kINT64: want->as<int64_t>()[i] = v; break;
        default: want->as<int8_t>()[i] = static_cast<int8_t>(v); break;
      }
    }
    expectEqual(r->at(0), *want);
  }
}

TEST(IndexingBitwise, Errors) {
  std::mt19937 rng(1301);
  auto f = randomTensor(DataType::kFLOAT, {3}, rng);
  expectErrorContains(runOp(OpKind::kBitwiseAnd, {}, {OpInput::value(f), OpInput::value(f)}), "has type float32");
  auto a = randomTensor(DataType::kINT32, {3}, rng, -5, 5);
  auto b = randomTensor(DataType::kINT64, {3}, rng, -5, 5);
  expectErrorContains(runOp(OpKind::kBitwiseOr, {}, {OpInput::value(a), OpInput::value(b)}), "same type");
  auto c = randomTensor(DataType::kINT32, {4}, rng, -5, 5);
  auto r = runOp(OpKind::kBitwiseXor, {}, {OpInput::value(a), OpInput::value(c)});
  ASSERT_FALSE(r.isOk());
}

// --- Trilu --------------------------------------------------------------------------------------

TEST(IndexingTrilu, UpperLowerAllK) {
  std::mt19937 rng(1302);
  const Dims dims{2, 4, 5};
  auto x = randomTensor(DataType::kFLOAT, dims, rng);
  for (int upper = 0; upper <= 1; ++upper) {
    for (int64_t k : {-10, -2, -1, 0, 1, 3, 10}) {
      ir::Attributes at;
      at.setInt("upper", upper);
      // k given at run time (a graph input) and as a constant.
      for (bool constant : {false, true}) {
        auto kin = constant ? OpInput::constant(scalarI64(k)) : OpInput::value(scalarI64(k));
        auto r = runOp(OpKind::kTrilu, at, {OpInput::value(x), kin});
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        std::vector<double> want(static_cast<size_t>(x->numel()));
        for (int64_t i = 0; i < x->numel(); ++i) {
          auto c = unravel(i, dims);
          const int64_t d = c[2] - c[1];
          want[static_cast<size_t>(i)] = (upper ? d >= k : d <= k) ? x->doubleAt(i) : 0.0;
        }
        expectCloseTo(r->at(0), dims, want, 0, 0);
      }
    }
  }
  // Default k = 0 and an integer type.
  auto xi = makeInt64({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  ir::Attributes lower;
  lower.setInt("upper", 0);
  auto r = runOp(OpKind::kTrilu, lower, {OpInput::value(xi)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeInt64({3, 3}, {1, 0, 0, 4, 5, 0, 7, 8, 9}));
}

TEST(IndexingTrilu, Errors) {
  auto v = makeFloat({3}, {1, 2, 3});
  expectErrorContains(runOp(OpKind::kTrilu, {}, {OpInput::value(v)}), "rank >= 2");
  auto m = makeFloat({2, 2}, {1, 2, 3, 4});
  expectErrorContains(runOp(OpKind::kTrilu, {}, {OpInput::value(m), OpInput::value(makeInt32({1}, {1}))}),
                      "k must be int64");
}

// --- CumSum -------------------------------------------------------------------------------------

TEST(IndexingCumSum, AxesExclusiveReverse) {
  std::mt19937 rng(1303);
  const Dims dims{3, 4, 5};
  auto x = randomTensor(DataType::kFLOAT, dims, rng, -2, 2);
  for (int64_t axis : {0, 1, -1}) {
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    for (int exclusive = 0; exclusive <= 1; ++exclusive) {
      for (int reverse = 0; reverse <= 1; ++reverse) {
        ir::Attributes at;
        at.setInt("exclusive", exclusive);
        at.setInt("reverse", reverse);
        auto r = runOp(OpKind::kCumSum, at, {OpInput::value(x), OpInput::constant(scalarI64(axis))});
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        std::vector<double> want(static_cast<size_t>(x->numel()));
        for (int64_t i = 0; i < x->numel(); ++i) {
          auto c = unravel(i, dims);
          double s = 0;
          for (int64_t j = 0; j < dims[a]; ++j) {
            const bool in = reverse ? (exclusive ? j > c[a] : j >= c[a]) : (exclusive ? j < c[a] : j <= c[a]);
            if (!in) continue;
            auto cj = c;
            cj[a] = j;
            s += x->doubleAt(ravel(cj, dims));
          }
          want[static_cast<size_t>(i)] = s;
        }
        expectCloseTo(r->at(0), dims, want, 1e-6, 1e-6);
      }
    }
  }
}

TEST(IndexingCumSum, IntegersAndErrors) {
  auto x = makeInt32({5}, {1, 2, 3, 4, 5});
  ir::Attributes ex;
  ex.setInt("exclusive", 1);
  auto r = runOp(OpKind::kCumSum, ex, {OpInput::value(x), OpInput::constant(makeInt32({}, {0}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeInt32({5}, {0, 1, 3, 6, 10}));
  // int32 wraps around.
  auto big = makeInt32({2}, {2147483647, 1});
  auto w = runOp(OpKind::kCumSum, {}, {OpInput::value(big), OpInput::constant(scalarI64(0))});
  ASSERT_TRUE(w.isOk()) << w.status().toString();
  expectEqual(w->at(0), *makeInt32({2}, {2147483647, -2147483647 - 1}));

  auto f = makeFloat({2, 2}, {1, 2, 3, 4});
  expectErrorContains(runOp(OpKind::kCumSum, {}, {OpInput::value(f), OpInput::value(scalarI64(0))}),
                      "must be a constant");
  expectErrorContains(runOp(OpKind::kCumSum, {}, {OpInput::value(f), OpInput::constant(scalarI64(2))}),
                      "out of range");
}

// --- GatherND -----------------------------------------------------------------------------------

TEST(IndexingGatherND, OnnxExamples) {
  // Examples 1, 3 and 5 of the ONNX GatherND documentation.
  auto d1 = makeInt32({2, 2}, {0, 1, 2, 3});
  auto r1 = runOp(OpKind::kGatherND, {}, {OpInput::value(d1), OpInput::value(makeInt64({2, 2}, {0, 0, 1, 1}))});
  ASSERT_TRUE(r1.isOk()) << r1.status().toString();
  expectEqual(r1->at(0), *makeInt32({2}, {0, 3}));
  auto d3 = makeInt32({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto r3 = runOp(OpKind::kGatherND, {}, {OpInput::value(d3), OpInput::value(makeInt64({2, 2}, {0, 1, 1, 0}))});
  ASSERT_TRUE(r3.isOk()) << r3.status().toString();
  expectEqual(r3->at(0), *makeInt32({2, 2}, {2, 3, 4, 5}));
  ir::Attributes b1;
  b1.setInt("batch_dims", 1);
  auto r5 = runOp(OpKind::kGatherND, b1, {OpInput::value(d3), OpInput::value(makeInt64({2, 1}, {1, 0}))});
  ASSERT_TRUE(r5.isOk()) << r5.status().toString();
  expectEqual(r5->at(0), *makeInt32({2, 2}, {2, 3, 4, 5}));
}

TEST(IndexingGatherND, RandomBatchDims) {
  std::mt19937 rng(1304);
  const Dims dd{2, 3, 4, 5};
  auto data = randomTensor(DataType::kFLOAT, dd, rng);
  struct Case {
    int64_t b;
    Dims idx;  // last dim m
  };
  for (const Case& c : {Case{0, {6, 2}}, Case{1, {2, 4, 2}}, Case{1, {2, 3}}, Case{2, {2, 3, 7, 1}}, Case{0, {2, 4}}}) {
    const auto m = c.idx.back();
    // Random indices in [-dim, dim) for the data dims they address.
    auto idx = std::make_shared<TensorData>(DataType::kINT64, c.idx);
    for (int64_t i = 0; i < idx->numel(); ++i) {
      const int64_t n = dd[static_cast<size_t>(c.b + i % m)];
      idx->as<int64_t>()[i] = std::uniform_int_distribution<int64_t>(-n, n - 1)(rng);
    }
    ir::Attributes at;
    at.setInt("batch_dims", c.b);
    auto r = runOp(OpKind::kGatherND, at, {OpInput::value(data), OpInput::value(idx)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    Dims od(c.idx.begin(), c.idx.end() - 1);
    od.insert(od.end(), dd.begin() + c.b + m, dd.end());
    std::vector<double> want(static_cast<size_t>(volume(od)));
    const Dims tupleDims(c.idx.begin(), c.idx.end() - 1);
    for (int64_t o = 0; o < volume(od); ++o) {
      auto oc = unravel(o, od);
      // oc = [batch..., tuple position..., slice...]
      std::vector<int64_t> tc(oc.begin(), oc.begin() + static_cast<std::ptrdiff_t>(tupleDims.size()));
      std::vector<int64_t> dc(oc.begin(), oc.begin() + c.b);
      for (int64_t k = 0; k < m; ++k) {
        auto ic = tc;
        ic.push_back(k);
        int64_t v = idx->intAt(ravel(ic, c.idx));
        if (v < 0) v += dd[static_cast<size_t>(c.b + k)];
        dc.push_back(v);
      }
      dc.insert(dc.end(), oc.begin() + static_cast<std::ptrdiff_t>(tupleDims.size()), oc.end());
      want[static_cast<size_t>(o)] = data->doubleAt(ravel(dc, dd));
    }
    expectCloseTo(r->at(0), od, want, 0, 0);
  }
}

TEST(IndexingGatherND, ErrorsAndSymbolicShape) {
  auto d = makeFloat({2, 3}, {1, 2, 3, 4, 5, 6});
  expectErrorContains(runOp(OpKind::kGatherND, {}, {OpInput::value(d), OpInput::value(makeInt64({1, 3}, {0, 0, 0}))}),
                      "last dim of indices is 3");
  expectErrorContains(runOp(OpKind::kGatherND, {}, {OpInput::value(d), OpInput::value(makeInt64({1, 2}, {1, 3}))}),
                      "out of range");
  ir::Attributes b5;
  b5.setInt("batch_dims", 5);
  expectErrorContains(runOp(OpKind::kGatherND, b5, {OpInput::value(d), OpInput::value(makeInt64({1, 2}, {1, 1}))}),
                      "batch_dims=5");

  ir::Graph g;
  auto* x = g.addInput("x", DataType::kFLOAT, {DimExpr::symbol("n"), 3, DimExpr::symbol("w")});
  auto* i = g.addInput("i", DataType::kINT64, {DimExpr::symbol("n"), DimExpr::symbol("k"), 1});
  ir::Attributes at;
  at.setInt("batch_dims", 1);
  auto* y = g.addNode(OpKind::kGatherND, "g", {x, i}, at)->outputs[0];
  g.markOutput(y);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  ASSERT_EQ(y->shape.size(), 3u);
  std::map<std::string, int64_t> bind{{"n", 4}, {"k", 6}, {"w", 9}};
  EXPECT_EQ(y->shape[0].substitute(bind).constValue(), 4);
  EXPECT_EQ(y->shape[1].substitute(bind).constValue(), 6);
  EXPECT_EQ(y->shape[2].substitute(bind).constValue(), 9);
}

// --- ScatterElements ------------------------------------------------------------------------------

// Reference: copy data, then visit updates in row-major order.
std::vector<double> refScatter(const TensorData& data, const std::vector<int64_t>& dstFlat,
                               const TensorData& upd, const std::string& red) {
  std::vector<double> out(static_cast<size_t>(data.numel()));
  for (int64_t i = 0; i < data.numel(); ++i) out[static_cast<size_t>(i)] = data.doubleAt(i);
  for (size_t u = 0; u < dstFlat.size(); ++u) {
    double& o = out[static_cast<size_t>(dstFlat[u])];
    const double v = upd.doubleAt(static_cast<int64_t>(u));
    if (red == "none") o = v;
    else if (red == "add") o += v;
    else if (red == "mul") o *= v;
    else if (red == "max") o = std::max(o, v);
    else o = std::min(o, v);
  }
  return out;
}

TEST(IndexingScatterElements, ReductionsAxesNegativeIndices) {
  std::mt19937 rng(1305);
  const Dims dd{4, 5};
  auto data = randomTensor(DataType::kFLOAT, dd, rng, 0.5, 2);
  for (int64_t axis : {0, 1, -1}) {
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 2 : axis);
    const Dims id{3, 4};
    for (const char* red : {"add", "mul", "max", "min"}) {
      // Duplicates are allowed with a reduction.
      auto idx = std::make_shared<TensorData>(DataType::kINT64, id);
      for (int64_t i = 0; i < idx->numel(); ++i)
        idx->as<int64_t>()[i] = std::uniform_int_distribution<int64_t>(-dd[a], dd[a] - 1)(rng);
      auto upd = randomTensor(DataType::kFLOAT, id, rng, 0.5, 2);
      ir::Attributes at;
      at.setInt("axis", axis);
      at.setString("reduction", red);
      auto r = runOp(OpKind::kScatterElements, at, {OpInput::value(data), OpInput::value(idx), OpInput::value(upd)});
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      std::vector<int64_t> dst;
      for (int64_t u = 0; u < idx->numel(); ++u) {
        auto c = unravel(u, id);
        int64_t v = idx->intAt(u);
        c[a] = v < 0 ? v + dd[a] : v;
        dst.push_back(ravel(c, dd));
      }
      expectCloseTo(r->at(0), dd, refScatter(*data, dst, *upd, red), 1e-6, 0);
    }
  }
  // reduction none with distinct indices (ONNX example 1), int32 indices.
  auto d0 = makeFloat({3, 3}, {0, 0, 0, 0, 0, 0, 0, 0, 0});
  auto i0 = makeInt32({2, 3}, {1, 0, 2, 0, 2, 1});
  auto u0 = makeFloat({2, 3}, {1.0f, 1.1f, 1.2f, 2.0f, 2.1f, 2.2f});
  auto r0 = runOp(OpKind::kScatterElements, {}, {OpInput::value(d0), OpInput::value(i0), OpInput::value(u0)});
  ASSERT_TRUE(r0.isOk()) << r0.status().toString();
  expectEqual(r0->at(0), *makeFloat({3, 3}, {2.0f, 1.1f, 0, 1.0f, 0, 2.2f, 0, 2.1f, 1.2f}));
}

TEST(IndexingScatterElements, IntegerAndErrors) {
  auto d = makeInt64({5}, {1, 2, 3, 4, 5});
  ir::Attributes add;
  add.setString("reduction", "add");
  auto r = runOp(OpKind::kScatterElements, add,
                 {OpInput::value(d), OpInput::value(makeInt64({3}, {1, 1, -1})), OpInput::value(makeInt64({3}, {10, 20, 30}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeInt64({5}, {1, 32, 3, 4, 35}));
  expectErrorContains(runOp(OpKind::kScatterElements, {},
                            {OpInput::value(d), OpInput::value(makeInt64({1}, {5})), OpInput::value(makeInt64({1}, {0}))}),
                      "out of range");
  ir::Attributes bad;
  bad.setString("reduction", "sum");
  expectErrorContains(runOp(OpKind::kScatterElements, bad,
                            {OpInput::value(d), OpInput::value(makeInt64({1}, {0})), OpInput::value(makeInt64({1}, {0}))}),
                      "reduction must be");
  expectErrorContains(runOp(OpKind::kScatterElements, {},
                            {OpInput::value(d), OpInput::value(makeInt64({2}, {0, 1})), OpInput::value(makeInt64({1}, {0}))}),
                      "same shape");
}

// --- ScatterND --------------------------------------------------------------------------------------

TEST(IndexingScatterND, OnnxExamplesAndReductions) {
  // ONNX ScatterND example 1.
  auto d1 = makeFloat({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto r1 = runOp(OpKind::kScatterND, {},
                  {OpInput::value(d1), OpInput::value(makeInt64({4, 1}, {4, 3, 1, 7})),
                   OpInput::value(makeFloat({4}, {9, 10, 11, 12}))});
  ASSERT_TRUE(r1.isOk()) << r1.status().toString();
  expectEqual(r1->at(0), *makeFloat({8}, {1, 11, 3, 10, 9, 6, 7, 12}));

  // Random slices of a [4, 3, 5] tensor addressed by 1- and 2-tuples, with duplicates.
  std::mt19937 rng(1306);
  const Dims dd{4, 3, 5};
  auto data = randomTensor(DataType::kFLOAT, dd, rng, 0.5, 2);
  for (int64_t m : {1, 2, 3}) {
    for (const char* red : {"none", "add", "mul", "max", "min"}) {
      const int64_t tuples = std::string(red) == "none" ? 1 : 5;  // "none" with duplicates is order-dependent
      auto idx = std::make_shared<TensorData>(DataType::kINT64, Dims{tuples, m});
      for (int64_t i = 0; i < idx->numel(); ++i) {
        const int64_t n = dd[static_cast<size_t>(i % m)];
        idx->as<int64_t>()[i] = std::uniform_int_distribution<int64_t>(-n, n - 1)(rng);
      }
      Dims ud{tuples};
      ud.insert(ud.end(), dd.begin() + m, dd.end());
      auto upd = randomTensor(DataType::kFLOAT, ud, rng, 0.5, 2);
      ir::Attributes at;
      at.setString("reduction", red);
      auto r = runOp(OpKind::kScatterND, at, {OpInput::value(data), OpInput::value(idx), OpInput::value(upd)});
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      const int64_t slice = volume(Dims(dd.begin() + m, dd.end()));
      std::vector<int64_t> dst;
      for (int64_t t = 0; t < tuples; ++t) {
        std::vector<int64_t> c(dd.size(), 0);
        for (int64_t k = 0; k < m; ++k) {
          int64_t v = idx->intAt(t * m + k);
          c[static_cast<size_t>(k)] = v < 0 ? v + dd[static_cast<size_t>(k)] : v;
        }
        const int64_t base = ravel(c, dd);
        for (int64_t e = 0; e < slice; ++e) dst.push_back(base + e);
      }
      expectCloseTo(r->at(0), dd, refScatter(*data, dst, *upd, red), 1e-6, 0);
    }
  }
}

TEST(IndexingScatterND, Errors) {
  auto d = makeFloat({2, 2}, {1, 2, 3, 4});
  expectErrorContains(runOp(OpKind::kScatterND, {},
                            {OpInput::value(d), OpInput::value(makeInt64({1, 2}, {0, 2})), OpInput::value(makeFloat({1}, {0}))}),
                      "out of range");
  expectErrorContains(runOp(OpKind::kScatterND, {},
                            {OpInput::value(d), OpInput::value(makeInt64({1, 1}, {0})), OpInput::value(makeFloat({1, 3}, {0, 0, 0}))}),
                      "updates");
}

// --- OneHot -------------------------------------------------------------------------------------

TEST(IndexingOneHot, AxesNegativeAndOutOfRange) {
  const Dims id{2, 3};
  auto idx = makeInt64(id, {0, -1, 4, 5, -6, 2});  // 5 and -6 are out of range for depth 5
  auto values = makeFloat({2}, {-2.0f, 3.5f});
  for (int64_t axis : {-1, 0, 1, 2, -3}) {
    ir::Attributes at;
    at.setInt("axis", axis);
    auto r = runOp(OpKind::kOneHot, at,
                   {OpInput::value(idx), OpInput::constant(makeFloat({1}, {5.0f})), OpInput::value(values)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    Dims od = id;
    od.insert(od.begin() + static_cast<std::ptrdiff_t>(a), 5);
    std::vector<double> want(static_cast<size_t>(volume(od)));
    for (int64_t o = 0; o < volume(od); ++o) {
      auto c = unravel(o, od);
      const int64_t d = c[a];
      c.erase(c.begin() + static_cast<std::ptrdiff_t>(a));
      int64_t v = idx->intAt(ravel(c, id));
      if (v < 0) v += 5;
      want[static_cast<size_t>(o)] = v == d ? 3.5 : -2.0;
    }
    expectCloseTo(r->at(0), od, want, 0, 0);
  }
  // int32 values and float indices (truncated).
  auto r = runOp(OpKind::kOneHot, {},
                 {OpInput::value(makeFloat({2}, {1.7f, 0.0f})), OpInput::constant(scalarI64(3)),
                  OpInput::value(makeInt32({2}, {0, 1}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeInt32({2, 3}, {0, 1, 0, 1, 0, 0}));
}

TEST(IndexingOneHot, Errors) {
  auto idx = makeInt64({2}, {0, 1});
  auto values = makeFloat({2}, {0, 1});
  expectErrorContains(runOp(OpKind::kOneHot, {}, {OpInput::value(idx), OpInput::value(scalarI64(3)), OpInput::value(values)}),
                      "must be a constant");
  expectErrorContains(runOp(OpKind::kOneHot, {}, {OpInput::value(idx), OpInput::constant(scalarI64(3)),
                                                   OpInput::value(makeFloat({3}, {0, 1, 2}))}),
                      "2 elements");
  ir::Attributes at;
  at.setInt("axis", 2);
  expectErrorContains(runOp(OpKind::kOneHot, at, {OpInput::value(idx), OpInput::constant(scalarI64(3)), OpInput::value(values)}),
                      "out of range");
}

// --- Hardmax, LpNormalization ------------------------------------------------------------------

TEST(IndexingHardmax, AxesAndTies) {
  std::mt19937 rng(1307);
  const Dims dims{3, 4, 5};
  auto x = randomTensor(DataType::kFLOAT, dims, rng);
  for (int64_t axis : {0, 1, -1}) {
    const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    ir::Attributes at;
    at.setInt("axis", axis);
    auto r = runOp(OpKind::kHardmax, at, {OpInput::value(x)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(static_cast<size_t>(x->numel()));
    for (int64_t i = 0; i < x->numel(); ++i) {
      auto c = unravel(i, dims);
      int64_t best = 0;
      for (int64_t j = 1; j < dims[a]; ++j) {
        auto cj = c, cb = c;
        cj[a] = j;
        cb[a] = best;
        if (x->doubleAt(ravel(cj, dims)) > x->doubleAt(ravel(cb, dims))) best = j;
      }
      want[static_cast<size_t>(i)] = c[a] == best ? 1.0 : 0.0;
    }
    expectCloseTo(r->at(0), dims, want, 0, 0);
  }
  // Ties pick the first maximum.
  auto t = runOp(OpKind::kHardmax, {}, {OpInput::value(makeFloat({2, 4}, {1, 3, 3, 2, 5, 5, 5, 5}))});
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  expectEqual(t->at(0), *makeFloat({2, 4}, {0, 1, 0, 0, 1, 0, 0, 0}));
}

TEST(IndexingLpNormalization, P1P2Axes) {
  std::mt19937 rng(1308);
  const Dims dims{2, 3, 4};
  auto x = randomTensor(DataType::kFLOAT, dims, rng, -2, 2);
  for (int64_t p : {1, 2}) {
    for (int64_t axis : {0, 1, -1}) {
      const size_t a = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
      ir::Attributes at;
      at.setInt("axis", axis);
      at.setInt("p", p);
      auto r = runOp(OpKind::kLpNormalization, at, {OpInput::value(x)});
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      std::vector<double> want(static_cast<size_t>(x->numel()));
      for (int64_t i = 0; i < x->numel(); ++i) {
        auto c = unravel(i, dims);
        double s = 0;
        for (int64_t j = 0; j < dims[a]; ++j) {
          c[a] = j;
          s += std::pow(std::fabs(x->doubleAt(ravel(c, dims))), static_cast<double>(p));
        }
        want[static_cast<size_t>(i)] = x->doubleAt(i) / std::pow(s, 1.0 / static_cast<double>(p));
      }
      expectCloseTo(r->at(0), dims, want);
    }
  }
  // A zero vector stays zero (no 0/0): x[:, 1, 2] = [0, 0] in ONNX's l2normalization_axis_0 case.
  ir::Attributes a0;
  a0.setInt("axis", 0);
  auto z = runOp(OpKind::kLpNormalization, a0, {OpInput::value(makeFloat({2, 2}, {3, 0, 4, 0}))});
  ASSERT_TRUE(z.isOk()) << z.status().toString();
  expectCloseTo(z->at(0), {2, 2}, {0.6, 0, 0.8, 0});
  ir::Attributes p3;
  p3.setInt("p", 3);
  expectErrorContains(runOp(OpKind::kLpNormalization, p3, {OpInput::value(x)}), "p must be 1 or 2");
  ir::Attributes ax;
  ax.setInt("axis", 3);
  expectErrorContains(runOp(OpKind::kHardmax, ax, {OpInput::value(x)}), "out of range");
}

// --- MeanVarianceNormalization, LRN ---------------------------------------------------------------

TEST(IndexingMeanVarianceNormalization, DefaultAndCustomAxes) {
  std::mt19937 rng(1309);
  struct Case {
    Dims dims;
    std::vector<int64_t> axes;  // empty: the default [0, 2, 3]
  };
  for (const Case& c : {Case{{2, 3, 4, 5}, {}}, Case{{3, 4, 5}, {1}}, Case{{2, 3, 4}, {0, -1}}}) {
    auto x = randomTensor(DataType::kFLOAT, c.dims, rng, -3, 3);
    ir::Attributes at;
    if (!c.axes.empty()) at.setInts("axes", c.axes);
    std::vector<int64_t> axes = c.axes.empty() ? std::vector<int64_t>{0, 2, 3} : c.axes;
    std::vector<bool> red(c.dims.size(), false);
    for (int64_t a : axes) red[static_cast<size_t>(a < 0 ? a + static_cast<int64_t>(c.dims.size()) : a)] = true;
    auto r = runOp(OpKind::kMeanVarianceNormalization, at, {OpInput::value(x)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    // Reference: mean and E[x^2] over the elements sharing the kept coordinates, as ONNX's
    // function body computes them.
    std::vector<double> want(static_cast<size_t>(x->numel()));
    for (int64_t i = 0; i < x->numel(); ++i) {
      auto ci = unravel(i, c.dims);
      double s = 0, s2 = 0, n = 0;
      for (int64_t j = 0; j < x->numel(); ++j) {
        auto cj = unravel(j, c.dims);
        bool same = true;
        for (size_t k = 0; k < c.dims.size(); ++k)
          if (!red[k] && cj[k] != ci[k]) same = false;
        if (!same) continue;
        s += x->doubleAt(j);
        s2 += x->doubleAt(j) * x->doubleAt(j);
        n += 1;
      }
      const double mean = s / n;
      want[static_cast<size_t>(i)] = (x->doubleAt(i) - mean) / (std::sqrt(s2 / n - mean * mean) + 1e-9);
    }
    expectCloseTo(r->at(0), c.dims, want, 1e-5, 1e-5);
  }
  auto x3 = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
  expectErrorContains(runOp(OpKind::kMeanVarianceNormalization, {}, {OpInput::value(x3)}), "out of range");
}

TEST(IndexingLrn, OddAndEvenSizes) {
  std::mt19937 rng(1310);
  const Dims dims{2, 5, 3, 3};
  auto x = randomTensor(DataType::kFLOAT, dims, rng, -2, 2);
  for (int64_t size : {1, 3, 4}) {
    ir::Attributes at;
    at.setInt("size", size);
    at.setFloat("alpha", 0.02f);
    at.setFloat("beta", 0.6f);
    at.setFloat("bias", 1.5f);
    auto r = runOp(OpKind::kLRN, at, {OpInput::value(x)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(static_cast<size_t>(x->numel()));
    for (int64_t i = 0; i < x->numel(); ++i) {
      auto c = unravel(i, dims);
      const int64_t lo = std::max<int64_t>(0, c[1] - static_cast<int64_t>(std::floor((size - 1) / 2.0)));
      const int64_t hi = std::min<int64_t>(4, c[1] + static_cast<int64_t>(std::ceil((size - 1) / 2.0)));
      double sq = 0;
      for (int64_t ch = lo; ch <= hi; ++ch) {
        auto cc = c;
        cc[1] = ch;
        sq += x->doubleAt(ravel(cc, dims)) * x->doubleAt(ravel(cc, dims));
      }
      want[static_cast<size_t>(i)] =
          x->doubleAt(i) / std::pow(static_cast<double>(1.5f) + static_cast<double>(0.02f) / static_cast<double>(size) * sq,
                                    static_cast<double>(0.6f));
    }
    expectCloseTo(r->at(0), dims, want);
  }
  expectErrorContains(runOp(OpKind::kLRN, {}, {OpInput::value(x)}), "'size' is required");
}

// --- LpPool ---------------------------------------------------------------------------------------

TEST(IndexingLpPool, WindowsPadsDilations) {
  std::mt19937 rng(1311);
  const Dims dims{1, 2, 6, 7};
  auto x = randomTensor(DataType::kFLOAT, dims, rng, -2, 2);
  struct Case {
    int64_t p;
    Dims kernel, strides, pads, dilations;  // pads [top, left, bottom, right]
    bool ceil;
  };
  const Case cases[] = {
      {2, {3, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}, false},
      {3, {2, 3}, {2, 2}, {1, 1, 1, 0}, {1, 1}, false},
      {1, {2, 2}, {1, 2}, {0, 0, 0, 0}, {2, 2}, false},
      {2, {3, 2}, {2, 3}, {0, 0, 0, 0}, {1, 1}, true},
  };
  for (const Case& c : cases) {
    ir::Attributes at;
    at.setInt("p", c.p);
    at.setInts("kernel_shape", c.kernel);
    at.setInts("strides", c.strides);
    at.setInts("pads", c.pads);
    at.setInts("dilations", c.dilations);
    at.setInt("ceil_mode", c.ceil ? 1 : 0);
    auto r = runOp(OpKind::kLpPool, at, {OpInput::value(x)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    Dims od{1, 2};
    for (size_t d = 0; d < 2; ++d) {
      const int64_t ek = c.dilations[d] * (c.kernel[d] - 1) + 1;
      const int64_t span = dims[d + 2] + c.pads[d] + c.pads[d + 2] - ek;
      od.push_back((c.ceil ? (span + c.strides[d] - 1) / c.strides[d] : span / c.strides[d]) + 1);
    }
    std::vector<double> want(static_cast<size_t>(volume(od)));
    for (int64_t o = 0; o < volume(od); ++o) {
      auto oc = unravel(o, od);
      double s = 0;
      for (int64_t ky = 0; ky < c.kernel[0]; ++ky) {
        for (int64_t kx = 0; kx < c.kernel[1]; ++kx) {
          const int64_t iy = oc[2] * c.strides[0] - c.pads[0] + ky * c.dilations[0];
          const int64_t ix = oc[3] * c.strides[1] - c.pads[1] + kx * c.dilations[1];
          if (iy < 0 || iy >= dims[2] || ix < 0 || ix >= dims[3]) continue;
          s += std::pow(std::fabs(x->doubleAt(ravel({oc[0], oc[1], iy, ix}, dims))), static_cast<double>(c.p));
        }
      }
      want[static_cast<size_t>(o)] = std::pow(s, 1.0 / static_cast<double>(c.p));
    }
    expectCloseTo(r->at(0), od, want);
  }
}

TEST(IndexingLpPool, SymbolicShapeAndErrors) {
  ir::Graph g;
  auto* x = g.addInput("x", DataType::kFLOAT, {DimExpr::symbol("n"), 3, DimExpr::symbol("h"), DimExpr::symbol("w")});
  ir::Attributes at;
  at.setInts("kernel_shape", {3, 3});
  at.setInts("strides", {2, 2});
  at.setString("auto_pad", "SAME_UPPER");
  auto* y = g.addNode(OpKind::kLpPool, "lp", {x}, at)->outputs[0];
  g.markOutput(y);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  std::map<std::string, int64_t> bind{{"n", 2}, {"h", 7}, {"w", 10}};
  EXPECT_EQ(y->shape[0].substitute(bind).constValue(), 2);
  EXPECT_EQ(y->shape[2].substitute(bind).constValue(), 4);  // ceil(7 / 2)
  EXPECT_EQ(y->shape[3].substitute(bind).constValue(), 5);

  std::mt19937 rng(1312);
  auto x3 = randomTensor(DataType::kFLOAT, {1, 1, 4}, rng);
  ir::Attributes bad;
  bad.setInts("kernel_shape", {2});
  bad.setInt("p", 0);
  expectErrorContains(runOp(OpKind::kLpPool, bad, {OpInput::value(x3)}), "p must be a positive integer");
  auto xi = randomTensor(DataType::kINT32, {1, 1, 4}, rng, 0, 5);
  ir::Attributes ok;
  ok.setInts("kernel_shape", {2});
  expectErrorContains(runOp(OpKind::kLpPool, ok, {OpInput::value(xi)}), "has type int32");
}

}  // namespace
}  // namespace kiln::test
