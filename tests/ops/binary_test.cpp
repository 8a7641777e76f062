// Binary family: shape inference, value propagation and CPU kernels against double-precision
// references written here (an independent broadcast index computation) and hand-computed values.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;

// Reference numpy broadcasting: output dims and, per output element, the inputs' flat indices.
std::vector<int64_t> refBroadcastDims(const std::vector<std::vector<int64_t>>& ins) {
  size_t rank = 0;
  for (const auto& d : ins) rank = std::max(rank, d.size());
  std::vector<int64_t> out(rank, 1);
  for (const auto& d : ins)
    for (size_t k = 0; k < d.size(); ++k) {
      int64_t& o = out[rank - d.size() + k];
      if (d[k] != 1) o = d[k];
    }
  return out;
}
int64_t refInputIndex(const std::vector<int64_t>& outDims, int64_t flat,
                      const std::vector<int64_t>& inDims) {
  // Unravel flat over outDims, then ravel over inDims (aligned right, size-1 dims -> 0).
  std::vector<int64_t> idx(outDims.size());
  for (size_t k = outDims.size(); k-- > 0;) {
    idx[k] = flat % outDims[k];
    flat /= outDims[k];
  }
  int64_t off = 0;
  for (size_t k = 0; k < inDims.size(); ++k) {
    int64_t i = inDims[k] == 1 ? 0 : idx[outDims.size() - inDims.size() + k];
    off = off * inDims[k] + i;
  }
  return off;
}

// want[i] = fn(inputs at i) in double precision.
std::vector<double> refElementwise(const std::vector<const ir::TensorData*>& ins,
                                   const std::function<double(const std::vector<double>&)>& fn,
                                   std::vector<int64_t>* outDims) {
  std::vector<std::vector<int64_t>> dims;
  for (const auto* t : ins) dims.push_back(t->dims());
  *outDims = refBroadcastDims(dims);
  int64_t n = ir::volumeOf(*outDims);
  std::vector<double> want(static_cast<size_t>(n));
  std::vector<double> args(ins.size());
  for (int64_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < ins.size(); ++j)
      args[j] = ins[j]->doubleAt(refInputIndex(*outDims, i, ins[j]->dims()));
    want[static_cast<size_t>(i)] = fn(args);
  }
  return want;
}

// Runs a binary op on a and b (graph inputs) and compares with fn in double precision.
void checkBinary(OpKind op, const std::shared_ptr<ir::TensorData>& a,
                 const std::shared_ptr<ir::TensorData>& b, const std::function<double(double, double)>& fn,
                 double rtol = 1e-6, double atol = 1e-7, const ir::Attributes& attrs = {}) {
  auto out = runOp(op, attrs, {OpInput::value(a), OpInput::value(b)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  std::vector<int64_t> dims;
  auto want = refElementwise({a.get(), b.get()}, [&](const std::vector<double>& v) { return fn(v[0], v[1]); }, &dims);
  expectCloseTo(out->at(0), dims, want, rtol, atol);
}

TEST(BinaryOps, ArithmeticFloat32SameShape) {
  std::mt19937 rng(1);
  auto a = randomTensor(DataType::kFLOAT, {4, 5, 6}, rng, -3, 3);
  auto b = randomTensor(DataType::kFLOAT, {4, 5, 6}, rng, 0.5, 2);
  checkBinary(OpKind::kAdd, a, b, [](double x, double y) { return x + y; });
  checkBinary(OpKind::kSub, a, b, [](double x, double y) { return x - y; });
  checkBinary(OpKind::kMul, a, b, [](double x, double y) { return x * y; });
  checkBinary(OpKind::kDiv, a, b, [](double x, double y) { return x / y; });
  auto out = runOp(OpKind::kAdd, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(out->at(0).dtype(), DataType::kFLOAT);
}

TEST(BinaryOps, Broadcasting) {
  std::mt19937 rng(2);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{3, 1}, {1, 4}},        {{}, {2, 3}},          {{2, 3}, {}},       {{2, 3, 4}, {4}},
      {{2, 1, 4}, {3, 1}},     {{1}, {5, 1, 2}},      {{2, 3, 4}, {2, 3, 4}},
      {{5, 1, 1, 3}, {4, 1}},  {{1, 1}, {1, 1}},      {{0, 3}, {1, 3}},
  };
  for (const auto& [da, db] : cases) {
    SCOPED_TRACE(ir::dimsToString(da) + " x " + ir::dimsToString(db));
    auto a = randomTensor(DataType::kFLOAT, da, rng, -2, 2);
    auto b = randomTensor(DataType::kFLOAT, db, rng, -2, 2);
    checkBinary(OpKind::kSub, a, b, [](double x, double y) { return x - y; });
    checkBinary(OpKind::kMul, a, b, [](double x, double y) { return x * y; });
  }
}

// Large outputs are split across threads: chunk boundaries fall inside rows, so the walker's
// mid-row start and carries are exercised.
TEST(BinaryOps, LargeBroadcastAcrossThreads) {
  std::mt19937 rng(3);
  auto a = randomTensor(DataType::kFLOAT, {37, 1, 301}, rng);
  auto b = randomTensor(DataType::kFLOAT, {1, 53, 301}, rng);
  checkBinary(OpKind::kAdd, a, b, [](double x, double y) { return x + y; });
  auto c = randomTensor(DataType::kFLOAT, {7, 1, 13}, rng);
  auto d = randomTensor(DataType::kFLOAT, {1, 5003, 1}, rng);
  checkBinary(OpKind::kMul, c, d, [](double x, double y) { return x * y; });
}

TEST(BinaryOps, OtherFloatTypes) {
  std::mt19937 rng(4);
  auto a = randomTensor(DataType::kDOUBLE, {3, 4}, rng, -3, 3);
  auto b = randomTensor(DataType::kDOUBLE, {4}, rng, 0.5, 2);
  checkBinary(OpKind::kDiv, a, b, [](double x, double y) { return x / y; }, 1e-15, 0);
  for (DataType t : {DataType::kHALF, DataType::kBF16}) {
    SCOPED_TRACE(dataTypeName(t));
    auto h1 = randomTensor(t, {3, 4}, rng, -3, 3);
    auto h2 = randomTensor(t, {3, 1}, rng, -3, 3);
    double tol = t == DataType::kHALF ? 1e-3 : 8e-3;  // one rounding to 11 / 8 bits
    checkBinary(OpKind::kMul, h1, h2, [](double x, double y) { return x * y; }, tol, 1e-3);
    auto out = runOp(OpKind::kAdd, {}, {OpInput::value(h1), OpInput::value(h2)});
    ASSERT_TRUE(out.isOk());
    EXPECT_EQ(out->at(0).dtype(), t);
  }
}

TEST(BinaryOps, IntegerArithmetic) {
  // Add/Sub/Mul wrap around (two's complement) instead of overflowing.
  auto a = makeInt32({4}, {std::numeric_limits<int32_t>::max(), -5, 100000, 7});
  auto b = makeInt32({4}, {1, 3, 100000, -2});
  auto sum = runOp(OpKind::kAdd, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_TRUE(sum.isOk()) << sum.status().toString();
  expectEqual(sum->at(0), *makeInt32({4}, {std::numeric_limits<int32_t>::min(), -2, 200000, 5}));
  auto prod = runOp(OpKind::kMul, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_TRUE(prod.isOk());
  // 100000^2 = 10^10 mod 2^32 = 1410065408.
  expectEqual(prod->at(0), *makeInt32({4}, {std::numeric_limits<int32_t>::max(), -15, 1410065408, -14}));

  // Random int64 with broadcasting against the double reference (values small: exact).
  std::mt19937 rng(5);
  auto x = randomTensor(DataType::kINT64, {3, 4}, rng, -100, 100);
  auto y = randomTensor(DataType::kINT64, {4}, rng, -100, 100);
  checkBinary(OpKind::kSub, x, y, [](double p, double q) { return p - q; }, 0, 0);
  checkBinary(OpKind::kMul, x, y, [](double p, double q) { return p * q; }, 0, 0);
  auto u = randomTensor(DataType::kUINT8, {2, 3}, rng, 0, 100);
  auto v = randomTensor(DataType::kUINT8, {2, 3}, rng, 0, 100);
  checkBinary(OpKind::kAdd, u, v, [](double p, double q) { return std::fmod(p + q, 256.0); }, 0, 0);
}

TEST(BinaryOps, IntegerDivTruncatesAndModConventions) {
  auto a = makeInt64({6}, {7, -7, 7, -7, std::numeric_limits<int64_t>::min(), 0});
  auto b = makeInt64({6}, {2, 2, -2, -2, -1, 5});
  auto q = runOp(OpKind::kDiv, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_TRUE(q.isOk()) << q.status().toString();
  expectEqual(q->at(0), *makeInt64({6}, {3, -3, -3, 3, std::numeric_limits<int64_t>::min(), 0}));

  auto m = makeInt32({5}, {7, -7, 7, -7, 6});
  auto d = makeInt32({5}, {3, 3, -3, -3, 3});
  ir::Attributes py;  // fmod=0: sign of the divisor (Python %)
  auto r0 = runOp(OpKind::kMod, py, {OpInput::value(m), OpInput::value(d)});
  ASSERT_TRUE(r0.isOk()) << r0.status().toString();
  expectEqual(r0->at(0), *makeInt32({5}, {1, 2, -2, -1, 0}));
  ir::Attributes c;
  c.setInt("fmod", 1);  // C fmod: sign of the dividend
  auto r1 = runOp(OpKind::kMod, c, {OpInput::value(m), OpInput::value(d)});
  ASSERT_TRUE(r1.isOk());
  expectEqual(r1->at(0), *makeInt32({5}, {1, -1, 1, -1, 0}));

  auto f = makeFloat({4}, {5.5f, -5.5f, 5.5f, -5.5f});
  auto g = makeFloat({4}, {2.f, 2.f, -2.f, -2.f});
  auto rf = runOp(OpKind::kMod, c, {OpInput::value(f), OpInput::value(g)});
  ASSERT_TRUE(rf.isOk());
  expectCloseTo(rf->at(0), {4}, {1.5, -1.5, 1.5, -1.5});

  // fmod=0 on floats (ONNX opset 25+): numpy.mod, the sign of the divisor. Edge cases as in
  // ONNX's test_mod_float_edge_cases_fmod_0 (expected values from its numpy reference).
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  auto ea = makeFloat({14}, {0.f, -0.f, 0.f, -0.f, -3.f, 3.f, -1.f, 1.f, inf, -inf, 1.f, 1.f, nan, 1.f});
  auto eb = makeFloat({14}, {-2.f, 2.f, 2.f, -2.f, inf, inf, -inf, -inf, 2.f, 2.f, 0.f, -0.f, 2.f, nan});
  auto er = runOp(OpKind::kMod, py, {OpInput::value(ea), OpInput::value(eb)});
  ASSERT_TRUE(er.isOk()) << er.status().toString();
  const double dinf = std::numeric_limits<double>::infinity(), dnan = std::nan("");
  expectCloseTo(er->at(0), {14}, {-0.0, 0.0, 0.0, -0.0, dinf, 3, -1, -dinf, dnan, dnan, dnan, dnan, dnan, dnan}, 0, 0);
  EXPECT_TRUE(std::signbit(er->at(0).as<float>()[0]));   // 0 mod -2 = -0
  EXPECT_FALSE(std::signbit(er->at(0).as<float>()[1]));  // -0 mod 2 = +0
  auto pf = runOp(OpKind::kMod, py, {OpInput::value(f), OpInput::value(g)});
  ASSERT_TRUE(pf.isOk());
  expectCloseTo(pf->at(0), {4}, {1.5, 0.5, -0.5, -1.5});

  // Random float fmod against the double formula a - trunc(a/b)*b.
  std::mt19937 rng(6);
  auto x = randomTensor(DataType::kFLOAT, {20}, rng, -10, 10);
  auto y = randomTensor(DataType::kFLOAT, {20}, rng, 0.5, 3);
  checkBinary(OpKind::kMod, x, y, [](double p, double q) { return p - std::trunc(p / q) * q; }, 1e-5, 1e-6, c);
}

TEST(BinaryOps, IntegerDivisionByZeroIsAnError) {
  auto a = makeInt32({3}, {1, 2, 3});
  auto b = makeInt32({3}, {1, 0, 1});
  auto q = runOp(OpKind::kDiv, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_FALSE(q.isOk());
  EXPECT_NE(q.status().message().find("Div 'node'"), std::string::npos) << q.status().message();
  EXPECT_NE(q.status().message().find("division by zero"), std::string::npos) << q.status().message();
  auto r = runOp(OpKind::kMod, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("Mod 'node'"), std::string::npos) << r.status().message();
  // Float division by zero is IEEE: inf.
  auto fq = runOp(OpKind::kDiv, {}, {OpInput::value(makeFloat({1}, {1.f})), OpInput::value(makeFloat({1}, {0.f}))});
  ASSERT_TRUE(fq.isOk());
  EXPECT_TRUE(std::isinf(fq->at(0).as<float>()[0]));
}

TEST(BinaryOps, Pow) {
  std::mt19937 rng(7);
  auto a = randomTensor(DataType::kFLOAT, {3, 4}, rng, 0.1, 3);
  auto b = randomTensor(DataType::kFLOAT, {4}, rng, -2, 2);
  checkBinary(OpKind::kPow, a, b, [](double x, double y) { return std::pow(x, y); }, 1e-5, 1e-6);
  // Exponent of another type; output keeps the base's type.
  auto e = makeInt64({2}, {2, 3});
  auto out = runOp(OpKind::kPow, {}, {OpInput::value(a), OpInput::value(e)});
  ASSERT_FALSE(out.isOk());  // [3,4] vs [2] do not broadcast
  auto e4 = makeInt64({4}, {2, 3, 0, -1});
  checkBinary(OpKind::kPow, a, e4, [](double x, double y) { return std::pow(x, y); }, 1e-6, 1e-7);
  auto ib = makeInt64({4}, {2, 3, -2, 5});
  auto ie = makeInt32({4}, {10, 3, 3, 0});
  auto ir = runOp(OpKind::kPow, {}, {OpInput::value(ib), OpInput::value(ie)});
  ASSERT_TRUE(ir.isOk()) << ir.status().toString();
  expectEqual(ir->at(0), *makeInt64({4}, {1024, 27, -8, 1}));
  auto fe = makeFloat({4}, {0.5f, 2.f, 2.f, 1.f});
  auto ir2 = runOp(OpKind::kPow, {}, {OpInput::value(makeInt64({4}, {9, 3, -2, 5})), OpInput::value(fe)});
  ASSERT_TRUE(ir2.isOk()) << ir2.status().toString();
  expectEqual(ir2->at(0), *makeInt64({4}, {3, 9, 4, 5}));
  EXPECT_EQ(ir2->at(0).dtype(), DataType::kINT64);
}

TEST(BinaryOps, VariadicMaxMinSumMean) {
  std::mt19937 rng(8);
  auto a = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng, -2, 2);
  auto b = randomTensor(DataType::kFLOAT, {3, 1}, rng, -2, 2);
  auto c = randomTensor(DataType::kFLOAT, {4}, rng, -2, 2);
  struct Case {
    OpKind op;
    std::function<double(const std::vector<double>&)> fn;
  };
  const Case cases[] = {
      {OpKind::kMax, [](const std::vector<double>& v) { return std::max({v[0], v[1], v[2]}); }},
      {OpKind::kMin, [](const std::vector<double>& v) { return std::min({v[0], v[1], v[2]}); }},
      {OpKind::kSum, [](const std::vector<double>& v) { return v[0] + v[1] + v[2]; }},
      {OpKind::kMean, [](const std::vector<double>& v) { return (v[0] + v[1] + v[2]) / 3; }},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(ir::opName(cs.op));
    // Inputs in an order where the first is not the largest shape.
    auto out = runOp(cs.op, {}, {OpInput::value(b), OpInput::value(a), OpInput::value(c)});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    std::vector<int64_t> dims;
    auto want = refElementwise({b.get(), a.get(), c.get()}, cs.fn, &dims);
    expectCloseTo(out->at(0), dims, want, 1e-6, 1e-7);
    // One input: a copy.
    auto one = runOp(cs.op, {}, {OpInput::value(a)});
    ASSERT_TRUE(one.isOk());
    expectEqual(one->at(0), *a);
  }
  // Integer Max, and NaN propagation for floats.
  auto im = runOp(OpKind::kMax, {}, {OpInput::value(makeInt32({3}, {1, -5, 7})), OpInput::value(makeInt32({1}, {2}))});
  ASSERT_TRUE(im.isOk());
  expectEqual(im->at(0), *makeInt32({3}, {2, 2, 7}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto fm = runOp(OpKind::kMin, {}, {OpInput::value(makeFloat({3}, {nan, 1.f, 2.f})), OpInput::value(makeFloat({3}, {0.f, nan, 1.f}))});
  ASSERT_TRUE(fm.isOk());
  expectCloseTo(fm->at(0), {3}, {std::nan(""), std::nan(""), 1.0});
  // Sum is float-only.
  auto si = runOp(OpKind::kSum, {}, {OpInput::value(makeInt32({1}, {1}))});
  ASSERT_FALSE(si.isOk());
}

TEST(BinaryOps, PRelu) {
  std::mt19937 rng(9);
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng, -2, 2);
  for (std::vector<int64_t> sd : {std::vector<int64_t>{3, 1}, {4}, {1}, {2, 3, 4}}) {
    SCOPED_TRACE(ir::dimsToString(sd));
    auto s = randomTensor(DataType::kFLOAT, sd, rng, 0, 0.5);
    checkBinary(OpKind::kPRelu, x, s, [](double v, double sl) { return v < 0 ? sl * v : v; });
  }
  auto bad = runOp(OpKind::kPRelu, {}, {OpInput::value(x), OpInput::value(randomTensor(DataType::kFLOAT, {2, 2, 3, 4}, rng))});
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("does not broadcast"), std::string::npos) << bad.status().message();
  auto bad2 = runOp(OpKind::kPRelu, {}, {OpInput::value(randomTensor(DataType::kFLOAT, {3, 1}, rng)),
                                         OpInput::value(randomTensor(DataType::kFLOAT, {3, 4}, rng))});
  ASSERT_FALSE(bad2.isOk());
}

TEST(BinaryOps, Comparisons) {
  std::mt19937 rng(10);
  auto a = randomTensor(DataType::kINT32, {3, 4}, rng, -2, 2);
  auto b = randomTensor(DataType::kINT32, {4}, rng, -2, 2);
  auto af = randomTensor(DataType::kFLOAT, {3, 4}, rng, -1, 1);
  auto bf = randomTensor(DataType::kFLOAT, {3, 1}, rng, -1, 1);
  struct Case {
    OpKind op;
    std::function<bool(double, double)> fn;
  };
  const Case cases[] = {
      {OpKind::kEqual, [](double x, double y) { return x == y; }},
      {OpKind::kLess, [](double x, double y) { return x < y; }},
      {OpKind::kLessOrEqual, [](double x, double y) { return x <= y; }},
      {OpKind::kGreater, [](double x, double y) { return x > y; }},
      {OpKind::kGreaterOrEqual, [](double x, double y) { return x >= y; }},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(ir::opName(cs.op));
    for (auto [x, y] : {std::pair{a, b}, std::pair{af, bf}}) {
      auto out = runOp(cs.op, {}, {OpInput::value(x), OpInput::value(y)});
      ASSERT_TRUE(out.isOk()) << out.status().toString();
      EXPECT_EQ(out->at(0).dtype(), DataType::kBOOL);
      std::vector<int64_t> dims;
      auto want = refElementwise({x.get(), y.get()}, [&](const std::vector<double>& v) { return cs.fn(v[0], v[1]) ? 1.0 : 0.0; }, &dims);
      expectCloseTo(out->at(0), dims, want, 0, 0);
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto n = runOp(OpKind::kEqual, {}, {OpInput::value(makeFloat({2}, {nan, 1.f})), OpInput::value(makeFloat({2}, {nan, 1.f}))});
  ASSERT_TRUE(n.isOk());
  expectEqual(n->at(0), *makeBool({2}, {false, true}));
  auto eb = runOp(OpKind::kEqual, {}, {OpInput::value(makeBool({4}, {true, true, false, false})),
                                       OpInput::value(makeBool({4}, {true, false, true, false}))});
  ASSERT_TRUE(eb.isOk());
  expectEqual(eb->at(0), *makeBool({4}, {true, false, false, true}));
}

TEST(BinaryOps, Logical) {
  std::mt19937 rng(11);
  auto a = randomTensor(DataType::kBOOL, {3, 4}, rng);
  auto b = randomTensor(DataType::kBOOL, {3, 1}, rng);
  const std::pair<OpKind, std::function<bool(bool, bool)>> cases[] = {
      {OpKind::kAnd, [](bool x, bool y) { return x && y; }},
      {OpKind::kOr, [](bool x, bool y) { return x || y; }},
      {OpKind::kXor, [](bool x, bool y) { return x != y; }},
  };
  for (const auto& [op, fnBinding] : cases) {
    SCOPED_TRACE(ir::opName(op));
    const auto& fn = fnBinding;  // lambdas may not capture structured bindings (clang 14)
    auto out = runOp(op, {}, {OpInput::value(a), OpInput::value(b)});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    std::vector<int64_t> dims;
    auto want = refElementwise({a.get(), b.get()}, [&](const std::vector<double>& v) { return fn(v[0] != 0, v[1] != 0) ? 1.0 : 0.0; }, &dims);
    expectCloseTo(out->at(0), dims, want, 0, 0);
  }
  auto bad = runOp(OpKind::kAnd, {}, {OpInput::value(makeFloat({1}, {1})), OpInput::value(makeFloat({1}, {1}))});
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("expected bool"), std::string::npos) << bad.status().message();
}

TEST(BinaryOps, BitShift) {
  auto x = std::make_shared<ir::TensorData>(DataType::kUINT8, std::vector<int64_t>{4});
  auto s = std::make_shared<ir::TensorData>(DataType::kUINT8, std::vector<int64_t>{4});
  const uint8_t xv[] = {1, 255, 16, 3}, sv[] = {3, 1, 4, 9};
  for (int i = 0; i < 4; ++i) {
    x->as<uint8_t>()[i] = xv[i];
    s->as<uint8_t>()[i] = sv[i];
  }
  ir::Attributes left, right;
  left.setString("direction", "LEFT");
  right.setString("direction", "RIGHT");
  auto l = runOp(OpKind::kBitShift, left, {OpInput::value(x), OpInput::value(s)});
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  expectCloseTo(l->at(0), {4}, {8, 254, 0, 0});  // shift >= 8 bits: all shifted out
  auto r = runOp(OpKind::kBitShift, right, {OpInput::value(x), OpInput::value(s)});
  ASSERT_TRUE(r.isOk());
  expectCloseTo(r->at(0), {4}, {0, 127, 1, 0});
  auto x64 = std::make_shared<ir::TensorData>(DataType::kUINT64, std::vector<int64_t>{1});
  auto s64 = std::make_shared<ir::TensorData>(DataType::kUINT64, std::vector<int64_t>{1});
  x64->as<uint64_t>()[0] = 1;
  s64->as<uint64_t>()[0] = 63;
  auto l64 = runOp(OpKind::kBitShift, left, {OpInput::value(x64), OpInput::value(s64)});
  ASSERT_TRUE(l64.isOk());
  EXPECT_EQ(l64->at(0).as<uint64_t>()[0], uint64_t{1} << 63);
  auto noDir = runOp(OpKind::kBitShift, {}, {OpInput::value(x), OpInput::value(s)});
  ASSERT_FALSE(noDir.isOk());
  // Signed types (ONNX opset 25+): wrap on the left, arithmetic on the right; shifts that are
  // negative or >= the width shift everything out (values as in ONNX's bitshift int8 cases).
  auto sx = makeInt32({6}, {64 << 24, -8, -8, 4, -1, std::numeric_limits<int32_t>::min()});
  auto ss = makeInt32({6}, {1, 1, -1, 32, 40, 1});
  auto sl = runOp(OpKind::kBitShift, left, {OpInput::value(sx), OpInput::value(ss)});
  ASSERT_TRUE(sl.isOk()) << sl.status().toString();
  expectEqual(sl->at(0), *makeInt32({6}, {std::numeric_limits<int32_t>::min(), -16, 0, 0, 0, 0}));
  auto sr = runOp(OpKind::kBitShift, right, {OpInput::value(sx), OpInput::value(ss)});
  ASSERT_TRUE(sr.isOk());
  expectEqual(sr->at(0), *makeInt32({6}, {1 << 29, -4, -1, 0, -1, -(1 << 30)}));
  auto floatIn = runOp(OpKind::kBitShift, left, {OpInput::value(makeFloat({1}, {1})), OpInput::value(makeFloat({1}, {1}))});
  ASSERT_FALSE(floatIn.isOk());
}

TEST(BinaryOps, Where) {
  std::mt19937 rng(12);
  auto c = randomTensor(DataType::kBOOL, {3, 1}, rng);
  auto x = randomTensor(DataType::kFLOAT, {1, 4}, rng);
  auto y = randomTensor(DataType::kFLOAT, {}, rng);
  auto out = runOp(OpKind::kWhere, {}, {OpInput::value(c), OpInput::value(x), OpInput::value(y)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  std::vector<int64_t> dims;
  auto want = refElementwise({c.get(), x.get(), y.get()}, [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; }, &dims);
  EXPECT_EQ(dims, (std::vector<int64_t>{3, 4}));
  expectCloseTo(out->at(0), dims, want, 0, 0);

  auto ci = randomTensor(DataType::kBOOL, {2, 3, 4}, rng);
  auto xi = randomTensor(DataType::kINT64, {3, 4}, rng, -50, 50);
  auto yi = randomTensor(DataType::kINT64, {2, 1, 1}, rng, -50, 50);
  auto oi = runOp(OpKind::kWhere, {}, {OpInput::value(ci), OpInput::value(xi), OpInput::value(yi)});
  ASSERT_TRUE(oi.isOk());
  want = refElementwise({ci.get(), xi.get(), yi.get()}, [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; }, &dims);
  expectCloseTo(oi->at(0), dims, want, 0, 0);
  EXPECT_EQ(oi->at(0).dtype(), DataType::kINT64);

  auto badCond = runOp(OpKind::kWhere, {}, {OpInput::value(x), OpInput::value(x), OpInput::value(y)});
  ASSERT_FALSE(badCond.isOk());
  EXPECT_NE(badCond.status().message().find("condition"), std::string::npos) << badCond.status().message();
}

TEST(BinaryOps, Errors) {
  std::mt19937 rng(13);
  auto a = randomTensor(DataType::kFLOAT, {2, 3}, rng);
  auto b = randomTensor(DataType::kFLOAT, {4}, rng);
  auto r = runOp(OpKind::kAdd, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("Add 'node'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("cannot broadcast"), std::string::npos) << r.status().message();

  auto i = randomTensor(DataType::kINT32, {2, 3}, rng);
  auto m = runOp(OpKind::kMul, {}, {OpInput::value(a), OpInput::value(i)});
  ASSERT_FALSE(m.isOk());
  EXPECT_NE(m.status().message().find("same type"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("float32"), std::string::npos) << m.status().message();

  auto boolAdd = runOp(OpKind::kAdd, {}, {OpInput::value(makeBool({1}, {true})), OpInput::value(makeBool({1}, {true}))});
  ASSERT_FALSE(boolAdd.isOk());
  auto oneIn = runOp(OpKind::kSub, {}, {OpInput::value(a)});
  ASSERT_FALSE(oneIn.isOk());
  EXPECT_NE(oneIn.status().message().find("expects 2 inputs"), std::string::npos) << oneIn.status().message();
}

// Shape inference with symbolic dims and value propagation of shape computations.
TEST(BinaryOps, SymbolicShapes) {
  ir::Graph g;
  const ir::DimExpr n = ir::DimExpr::symbol("n"), m = ir::DimExpr::symbol("m");
  ir::Value* x = g.addInput("x", DataType::kFLOAT, {n, 1});
  ir::Value* y = g.addInput("y", DataType::kFLOAT, {1, 4});
  ir::Value* z = g.addInput("z", DataType::kFLOAT, {m, 4});
  ir::Node* add = g.addNode(OpKind::kAdd, "add", {x, y}, {});
  ir::Node* mul = g.addNode(OpKind::kMul, "mul", {add->outputs[0], z}, {});
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  const ir::Shape& s1 = add->outputs[0]->shape;
  ASSERT_EQ(s1.size(), 2u);
  EXPECT_TRUE(s1[0].equals(n));
  EXPECT_EQ(s1[1].constValue(), 4);
  const ir::Shape& s2 = mul->outputs[0]->shape;
  ASSERT_EQ(s2.size(), 2u);
  EXPECT_EQ(s2[0].substitute({{"n", 5}, {"m", 1}}).constValue(), 5);
  EXPECT_EQ(s2[0].substitute({{"n", 1}, {"m", 7}}).constValue(), 7);
}

TEST(BinaryOps, ValuePropagation) {
  ir::Graph g;
  const ir::DimExpr n = ir::DimExpr::symbol("n"), s = ir::DimExpr::symbol("s");
  // `shape` stands for Shape(x) of an input [n, s, 64]: its values are known expressions.
  ir::Value* shape = g.addInput("shape", DataType::kINT64, {3});
  shape->shapeValue = std::vector<ir::DimExpr>{n, s, 64};
  ir::Value* two = g.addConstant("two", ir::TensorData::vectorInt64({1, 1, 2}));
  ir::Value* minus1 = g.addConstant("m1", ir::TensorData::scalarInt64(-1));
  ir::Value* ones = g.addConstant("ones", ir::TensorData::vectorInt64({1, 1, 1}));
  ir::Node* div = g.addNode(OpKind::kDiv, "div", {shape, two}, {});
  ir::Node* mul = g.addNode(OpKind::kMul, "mul", {div->outputs[0], two}, {});
  ir::Node* add = g.addNode(OpKind::kAdd, "add", {shape, minus1}, {});
  ir::Node* eq = g.addNode(OpKind::kEqual, "eq", {shape, minus1}, {});
  ir::Node* where = g.addNode(OpKind::kWhere, "where", {eq->outputs[0], ones, shape}, {});
  ir::Node* mx = g.addNode(OpKind::kMax, "max", {shape, two, ones}, {});
  ir::Attributes fm;
  ir::Node* mod = g.addNode(OpKind::kMod, "mod", {g.addConstant("c", ir::TensorData::vectorInt64({-7, 7, 7})),
                                                   g.addConstant("d", ir::TensorData::vectorInt64({2, -2, 3}))}, fm);
  ir::Node* cdiv = g.addNode(OpKind::kDiv, "cdiv", {g.addConstant("e", ir::TensorData::vectorInt64({-7, 7})),
                                                     g.addConstant("f", ir::TensorData::vectorInt64({2, 2}))}, {});
  Status st = ir::inferGraphInPlace(g);
  ASSERT_TRUE(st.isOk()) << st.toString();
  auto values = [](ir::Node* node) {
    std::vector<std::string> out;
    if (!node->outputs[0]->shapeValue) return out;
    for (const auto& d : *node->outputs[0]->shapeValue) out.push_back(d.toString());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(values(div), (V{"n", "s", "32"}));
  EXPECT_EQ(values(mul), (V{"n", "s", "64"}));
  ASSERT_EQ(values(add).size(), 3u);
  EXPECT_EQ((*add->outputs[0]->shapeValue)[0].substitute({{"n", 5}}).constValue(), 4);
  EXPECT_EQ(values(eq), (V{"0", "0", "0"}));  // dims are never -1
  EXPECT_EQ(values(where), (V{"n", "s", "64"}));
  ASSERT_EQ(values(mx).size(), 3u);
  EXPECT_EQ((*mx->outputs[0]->shapeValue)[0].substitute({{"n", 0}}).constValue(), 1);
  EXPECT_EQ((*mx->outputs[0]->shapeValue)[2].constValue(), 64);
  EXPECT_EQ(values(mod), (V{"1", "-1", "1"}));  // Python %
  EXPECT_EQ(values(cdiv), (V{"-3", "3"}));      // C truncation
}

}  // namespace
}  // namespace kiln::test
