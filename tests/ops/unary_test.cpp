// Unary family: CPU kernels against double-precision formulas written here, hand-computed edge
// cases (Round, Cast bit patterns), attribute handling, value propagation and errors.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>

#include "common/half.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;

constexpr double kPi = 3.14159265358979323846;

double refSoftplus(double x) { return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0); }

// Round half to even, written out: ties go to the even neighbour.
double refRoundHalfEven(double x) {
  double r = std::floor(x), d = x - r;
  if (d > 0.5 || (d == 0.5 && std::fmod(r, 2.0) != 0)) r += 1;
  return r;
}

// Attributes are float32 in ONNX: float64 ops use the float32 value (0.01f, not 0.01).
struct UnaryCase {
  OpKind op;
  ir::Attributes attrs;
  double lo, hi;  // input range
  std::function<double(double)> fn;
};

ir::Attributes floatAttrs(std::initializer_list<std::pair<const char*, float>> kv) {
  ir::Attributes a;
  for (const auto& [k, v] : kv) a.setFloat(k, v);
  return a;
}

std::vector<UnaryCase> floatCases() {
  const double selA = 1.67326319217681884765625, selG = 1.05070102214813232421875;
  auto A = floatAttrs;
  return {
      {OpKind::kRelu, {}, -2, 2, [](double x) { return x > 0 ? x : 0; }},
      {OpKind::kLeakyRelu, {}, -2, 2, [](double x) { return x < 0 ? double{0.01f} * x : x; }},
      {OpKind::kLeakyRelu, A({{"alpha", 0.25f}}), -2, 2, [](double x) { return x < 0 ? 0.25 * x : x; }},
      {OpKind::kElu, {}, -3, 2, [](double x) { return x < 0 ? std::exp(x) - 1 : x; }},
      {OpKind::kElu, A({{"alpha", 0.5f}}), -3, 2, [](double x) { return x < 0 ? 0.5 * (std::exp(x) - 1) : x; }},
      {OpKind::kSelu, {}, -3, 2, [=](double x) { return x <= 0 ? selG * (selA * std::exp(x) - selA) : selG * x; }},
      {OpKind::kSelu, A({{"alpha", 2.0f}, {"gamma", 0.5f}}), -3, 2, [](double x) { return x <= 0 ? 0.5 * (2 * std::exp(x) - 2) : 0.5 * x; }},
      {OpKind::kCelu, {}, -3, 2, [](double x) { return std::max(0.0, x) + std::min(0.0, std::exp(x) - 1); }},
      {OpKind::kCelu, A({{"alpha", 2.0f}}), -3, 2, [](double x) { return std::max(0.0, x) + std::min(0.0, 2 * (std::exp(x / 2) - 1)); }},
      {OpKind::kSigmoid, {}, -20, 20, [](double x) { return 1 / (1 + std::exp(-x)); }},
      {OpKind::kHardSigmoid, {}, -4, 4, [](double x) { return std::clamp(double{0.2f} * x + 0.5, 0.0, 1.0); }},
      {OpKind::kHardSigmoid, A({{"alpha", 0.5f}, {"beta", 0.25f}}), -4, 4, [](double x) { return std::clamp(0.5 * x + 0.25, 0.0, 1.0); }},
      {OpKind::kHardSwish, {}, -5, 5, [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }},
      {OpKind::kTanh, {}, -4, 4, [](double x) { return std::tanh(x); }},
      {OpKind::kSoftplus, {}, -30, 30, refSoftplus},
      {OpKind::kSoftsign, {}, -5, 5, [](double x) { return x / (1 + std::fabs(x)); }},
      {OpKind::kMish, {}, -5, 5, [](double x) { return x * std::tanh(refSoftplus(x)); }},
      {OpKind::kThresholdedRelu, {}, -3, 3, [](double x) { return x > 1 ? x : 0; }},
      {OpKind::kThresholdedRelu, A({{"alpha", 0.5f}}), -3, 3, [](double x) { return x > 0.5 ? x : 0; }},
      {OpKind::kShrink, {}, -2, 2, [](double x) { return x < -0.5 ? x : (x > 0.5 ? x : 0); }},
      {OpKind::kShrink, A({{"bias", 0.25f}, {"lambd", 1.0f}}), -2, 2, [](double x) { return x < -1 ? x + 0.25 : (x > 1 ? x - 0.25 : 0); }},
      {OpKind::kGelu, {}, -4, 4, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {OpKind::kErf, {}, -3, 3, [](double x) { return std::erf(x); }},
      {OpKind::kExp, {}, -5, 5, [](double x) { return std::exp(x); }},
      {OpKind::kLog, {}, 0.01, 10, [](double x) { return std::log(x); }},
      {OpKind::kSqrt, {}, 0, 10, [](double x) { return std::sqrt(x); }},
      {OpKind::kReciprocal, {}, 0.1, 5, [](double x) { return 1 / x; }},
      {OpKind::kNeg, {}, -3, 3, [](double x) { return -x; }},
      {OpKind::kAbs, {}, -3, 3, [](double x) { return std::fabs(x); }},
      {OpKind::kSign, {}, -3, 3, [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }},
      {OpKind::kFloor, {}, -5, 5, [](double x) { return std::floor(x); }},
      {OpKind::kCeil, {}, -5, 5, [](double x) { return std::ceil(x); }},
      {OpKind::kRound, {}, -5, 5, refRoundHalfEven},
      {OpKind::kSin, {}, -6, 6, [](double x) { return std::sin(x); }},
      {OpKind::kCos, {}, -6, 6, [](double x) { return std::cos(x); }},
      {OpKind::kTan, {}, -1.3, 1.3, [](double x) { return std::tan(x); }},
      {OpKind::kAsin, {}, -0.99, 0.99, [](double x) { return std::asin(x); }},
      {OpKind::kAcos, {}, -0.99, 0.99, [](double x) { return std::acos(x); }},
      {OpKind::kAtan, {}, -5, 5, [](double x) { return std::atan(x); }},
      {OpKind::kSinh, {}, -4, 4, [](double x) { return std::sinh(x); }},
      {OpKind::kCosh, {}, -4, 4, [](double x) { return std::cosh(x); }},
      {OpKind::kAsinh, {}, -5, 5, [](double x) { return std::asinh(x); }},
      {OpKind::kAcosh, {}, 1.01, 6, [](double x) { return std::acosh(x); }},
      {OpKind::kAtanh, {}, -0.95, 0.95, [](double x) { return std::atanh(x); }},
  };
}

// Runs one case on random data of type t; tolerances fit t's precision.
void checkUnary(const UnaryCase& c, DataType t, uint32_t seed) {
  std::mt19937 rng(seed);
  auto x = randomTensor(t, {3, 5, 7}, rng, c.lo, c.hi);
  auto out = runOp(c.op, c.attrs, {OpInput::value(x)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  ASSERT_EQ(out->at(0).dtype(), t);
  std::vector<double> want(static_cast<size_t>(x->numel()));
  for (int64_t i = 0; i < x->numel(); ++i) want[static_cast<size_t>(i)] = c.fn(x->doubleAt(i));
  double rtol = 1e-5, atol = 1e-6;
  if (t == DataType::kDOUBLE) rtol = 1e-13, atol = 1e-14;
  // float16/bfloat16: the float32 result rounded once to 11/8 significand bits.
  if (t == DataType::kHALF) rtol = 1e-3, atol = 1e-3;
  if (t == DataType::kBF16) rtol = 8e-3, atol = 8e-3;
  expectCloseTo(out->at(0), x->dims(), want, rtol, atol);
}

TEST(UnaryOps, FloatOpsAgainstDoubleReference) {
  uint32_t seed = 100;
  for (const UnaryCase& c : floatCases()) {
    SCOPED_TRACE(std::string(ir::opName(c.op)) + " " + c.attrs.toString());
    for (DataType t : {DataType::kFLOAT, DataType::kDOUBLE, DataType::kHALF, DataType::kBF16}) {
      SCOPED_TRACE(dataTypeName(t));
      checkUnary(c, t, seed++);
    }
  }
}

TEST(UnaryOps, GeluTanh) {
  ir::Attributes a;
  a.setString("approximate", "tanh");
  UnaryCase c{OpKind::kGelu, a, -4, 4, [](double x) {
                return 0.5 * x * (1 + std::tanh(std::sqrt(2 / kPi) * (x + 0.044715 * x * x * x)));
              }};
  checkUnary(c, DataType::kFLOAT, 7);
  checkUnary(c, DataType::kDOUBLE, 8);
  a.setString("approximate", "fast");
  auto bad = runOp(OpKind::kGelu, a, {OpInput::value(makeFloat({1}, {1.f}))});
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("approximate"), std::string::npos);
}

TEST(UnaryOps, ExtremeInputsStayFinite) {
  const float inf = std::numeric_limits<float>::infinity();
  auto x = makeFloat({4}, {-80.f, 100.f, -inf, inf});
  auto sig = runOp(OpKind::kSigmoid, {}, {OpInput::value(x)});
  ASSERT_TRUE(sig.isOk());
  expectCloseTo(sig->at(0), {4}, {std::exp(-80.0), 1.0, 0.0, 1.0}, 1e-5, 0);
  auto sp = runOp(OpKind::kSoftplus, {}, {OpInput::value(x)});
  ASSERT_TRUE(sp.isOk());
  expectCloseTo(sp->at(0), {4}, {std::exp(-80.0), 100.0, 0.0, std::numeric_limits<double>::infinity()}, 1e-5, 0);
}

TEST(UnaryOps, RoundHalfToEven) {
  auto x = makeFloat({10}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, 2.6f, -2.6f, 3.5f});
  auto out = runOp(OpKind::kRound, {}, {OpInput::value(x)});
  ASSERT_TRUE(out.isOk());
  expectCloseTo(out->at(0), {10}, {0, 2, 2, -0.0, -2, -2, 2, 3, -3, 4}, 0, 0);
}

TEST(UnaryOps, IntegerAndBoolOps) {
  const int8_t i8min = std::numeric_limits<int8_t>::min();
  auto x8 = std::make_shared<ir::TensorData>(DataType::kINT8, std::vector<int64_t>{4});
  const int8_t v8[] = {i8min, -3, 0, 5};
  std::memcpy(x8->data(), v8, 4);
  auto neg = runOp(OpKind::kNeg, {}, {OpInput::value(x8)});
  ASSERT_TRUE(neg.isOk()) << neg.status().toString();
  expectCloseTo(neg->at(0), {4}, {-128, 3, 0, -5}, 0, 0);  // -(-128) wraps to -128
  auto abs = runOp(OpKind::kAbs, {}, {OpInput::value(x8)});
  ASSERT_TRUE(abs.isOk());
  expectCloseTo(abs->at(0), {4}, {-128, 3, 0, 5}, 0, 0);
  auto relu = runOp(OpKind::kRelu, {}, {OpInput::value(x8)});
  ASSERT_TRUE(relu.isOk());
  expectCloseTo(relu->at(0), {4}, {0, 0, 0, 5}, 0, 0);
  auto sign = runOp(OpKind::kSign, {}, {OpInput::value(x8)});
  ASSERT_TRUE(sign.isOk());
  expectCloseTo(sign->at(0), {4}, {-1, -1, 0, 1}, 0, 0);

  auto i32 = makeInt32({3}, {0, -1, 0x0F0F0F0F});
  auto bn = runOp(OpKind::kBitwiseNot, {}, {OpInput::value(i32)});
  ASSERT_TRUE(bn.isOk());
  expectEqual(bn->at(0), *makeInt32({3}, {-1, 0, static_cast<int32_t>(0xF0F0F0F0u)}));
  auto u8 = std::make_shared<ir::TensorData>(DataType::kUINT8, std::vector<int64_t>{2});
  u8->as<uint8_t>()[0] = 0;
  u8->as<uint8_t>()[1] = 0xA5;
  auto bnu = runOp(OpKind::kBitwiseNot, {}, {OpInput::value(u8)});
  ASSERT_TRUE(bnu.isOk());
  expectCloseTo(bnu->at(0), {2}, {255, 0x5A}, 0, 0);
  auto su = runOp(OpKind::kSign, {}, {OpInput::value(u8)});
  ASSERT_TRUE(su.isOk());
  expectCloseTo(su->at(0), {2}, {0, 1}, 0, 0);

  auto b = makeBool({3}, {true, false, true});
  auto n = runOp(OpKind::kNot, {}, {OpInput::value(b)});
  ASSERT_TRUE(n.isOk());
  expectEqual(n->at(0), *makeBool({3}, {false, true, false}));

  std::mt19937 rng(9);
  auto r = randomTensor(DataType::kINT64, {20}, rng, -100, 100);
  auto sh = runOp(OpKind::kShrink, floatAttrs({{"lambd", 10.f}, {"bias", 3.f}}), {OpInput::value(r)});
  ASSERT_TRUE(sh.isOk()) << sh.status().toString();
  std::vector<double> want;
  for (int64_t i = 0; i < r->numel(); ++i) {
    double v = r->doubleAt(i);
    want.push_back(v < -10 ? v + 3 : (v > 10 ? v - 3 : 0));
  }
  expectCloseTo(sh->at(0), {20}, want, 0, 0);
}

TEST(UnaryOps, NanAndInf) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto x = makeFloat({5}, {nan, inf, -inf, 0.f, -1.f});
  auto isnan = runOp(OpKind::kIsNaN, {}, {OpInput::value(x)});
  ASSERT_TRUE(isnan.isOk());
  expectEqual(isnan->at(0), *makeBool({5}, {true, false, false, false, false}));
  auto isinf = runOp(OpKind::kIsInf, {}, {OpInput::value(x)});
  ASSERT_TRUE(isinf.isOk());
  expectEqual(isinf->at(0), *makeBool({5}, {false, true, true, false, false}));
  ir::Attributes onlyNeg;
  onlyNeg.setInt("detect_positive", 0);
  auto isneg = runOp(OpKind::kIsInf, onlyNeg, {OpInput::value(x)});
  ASSERT_TRUE(isneg.isOk());
  expectEqual(isneg->at(0), *makeBool({5}, {false, false, true, false, false}));
  ir::Attributes onlyPos;
  onlyPos.setInt("detect_negative", 0);
  auto ispos = runOp(OpKind::kIsInf, onlyPos, {OpInput::value(x)});
  ASSERT_TRUE(ispos.isOk());
  expectEqual(ispos->at(0), *makeBool({5}, {false, true, false, false, false}));
  auto sign = runOp(OpKind::kSign, {}, {OpInput::value(x)});
  ASSERT_TRUE(sign.isOk());
  expectCloseTo(sign->at(0), {5}, {std::nan(""), 1, -1, 0, -1}, 0, 0);
  auto relu = runOp(OpKind::kRelu, {}, {OpInput::value(x)});
  ASSERT_TRUE(relu.isOk());
  expectCloseTo(relu->at(0), {5}, {std::nan(""), std::numeric_limits<double>::infinity(), 0, 0, 0}, 0, 0);
}

TEST(UnaryOps, Clip) {
  std::mt19937 rng(11);
  auto x = randomTensor(DataType::kFLOAT, {4, 6}, rng, -3, 3);
  auto lo = ir::TensorData::scalarFloat(-1.f);
  auto hi = makeFloat({1}, {0.5f});  // shape [1] is accepted as a scalar too
  auto both = runOp(OpKind::kClip, {}, {OpInput::value(x), OpInput::value(lo), OpInput::value(hi)});
  ASSERT_TRUE(both.isOk()) << both.status().toString();
  auto onlyHi = runOp(OpKind::kClip, {}, {OpInput::value(x), OpInput::absent(), OpInput::value(hi)});
  ASSERT_TRUE(onlyHi.isOk()) << onlyHi.status().toString();
  auto onlyLo = runOp(OpKind::kClip, {}, {OpInput::value(x), OpInput::constant(lo)});
  ASSERT_TRUE(onlyLo.isOk()) << onlyLo.status().toString();
  auto none = runOp(OpKind::kClip, {}, {OpInput::value(x)});
  ASSERT_TRUE(none.isOk());
  std::vector<double> wb, wh, wl, wn;
  for (int64_t i = 0; i < x->numel(); ++i) {
    double v = x->doubleAt(i);
    wb.push_back(std::min(std::max(v, -1.0), 0.5));
    wh.push_back(std::min(v, 0.5));
    wl.push_back(std::max(v, -1.0));
    wn.push_back(v);
  }
  expectCloseTo(both->at(0), x->dims(), wb, 0, 0);
  expectCloseTo(onlyHi->at(0), x->dims(), wh, 0, 0);
  expectCloseTo(onlyLo->at(0), x->dims(), wl, 0, 0);
  expectCloseTo(none->at(0), x->dims(), wn, 0, 0);

  auto xi = makeInt64({5}, {-10, -2, 0, 3, 100});
  auto ci = runOp(OpKind::kClip, {}, {OpInput::value(xi), OpInput::value(ir::TensorData::scalarInt64(-3)),
                                      OpInput::value(ir::TensorData::scalarInt64(5))});
  ASSERT_TRUE(ci.isOk()) << ci.status().toString();
  expectEqual(ci->at(0), *makeInt64({5}, {-3, -2, 0, 3, 5}));
  // min > max: everything becomes max (numpy.clip).
  auto inv = runOp(OpKind::kClip, {}, {OpInput::value(xi), OpInput::value(ir::TensorData::scalarInt64(5)),
                                       OpInput::value(ir::TensorData::scalarInt64(1))});
  ASSERT_TRUE(inv.isOk());
  expectEqual(inv->at(0), *makeInt64({5}, {1, 1, 1, 1, 1}));

  auto badShape = runOp(OpKind::kClip, {}, {OpInput::value(x), OpInput::value(makeFloat({2}, {0, 1}))});
  ASSERT_FALSE(badShape.isOk());
  EXPECT_NE(badShape.status().message().find("scalar"), std::string::npos) << badShape.status().message();
  auto badType = runOp(OpKind::kClip, {}, {OpInput::value(x), OpInput::value(ir::TensorData::scalarInt64(0))});
  ASSERT_FALSE(badType.isOk());
}

TEST(UnaryOps, Identity) {
  std::mt19937 rng(12);
  for (DataType t : {DataType::kFLOAT, DataType::kINT64, DataType::kBOOL, DataType::kHALF, DataType::kUINT16}) {
    auto x = randomTensor(t, {3, 4}, rng, -5, 5);
    auto out = runOp(OpKind::kIdentity, {}, {OpInput::value(x)});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    expectEqual(out->at(0), *x);
  }
}

// Cast bit patterns: float32 -> float16/bfloat16 round to nearest, ties to even.
uint16_t castToHalfBits(float f, DataType to) {
  ir::Attributes a;
  a.setInt("to", static_cast<int64_t>(to));
  auto out = runOp(OpKind::kCast, a, {OpInput::value(makeFloat({1}, {f}))});
  EXPECT_TRUE(out.isOk()) << out.status().toString();
  if (!out.isOk()) return 0;
  uint16_t bits;
  std::memcpy(&bits, out->at(0).data(), 2);
  return bits;
}

TEST(UnaryOps, CastFloatToHalfBitPatterns) {
  const float p = 1.0f;
  EXPECT_EQ(castToHalfBits(p, DataType::kHALF), 0x3C00);
  EXPECT_EQ(castToHalfBits(-2.0f, DataType::kHALF), 0xC000);
  EXPECT_EQ(castToHalfBits(65504.0f, DataType::kHALF), 0x7BFF);            // largest half
  EXPECT_EQ(castToHalfBits(65519.0f, DataType::kHALF), 0x7BFF);            // below the midpoint
  EXPECT_EQ(castToHalfBits(65520.0f, DataType::kHALF), 0x7C00);            // tie -> even = inf
  EXPECT_EQ(castToHalfBits(1.0f + 0x1p-11f, DataType::kHALF), 0x3C00);     // tie -> even (down)
  EXPECT_EQ(castToHalfBits(1.0f + 3 * 0x1p-11f, DataType::kHALF), 0x3C02); // tie -> even (up)
  EXPECT_EQ(castToHalfBits(1.0f + 0x1p-11f + 0x1p-20f, DataType::kHALF), 0x3C01);  // above tie
  EXPECT_EQ(castToHalfBits(0.1f, DataType::kHALF), 0x2E66);
  EXPECT_EQ(castToHalfBits(0x1p-24f, DataType::kHALF), 0x0001);            // smallest subnormal
  EXPECT_EQ(castToHalfBits(0x1p-25f, DataType::kHALF), 0x0000);            // tie -> even (zero)
  EXPECT_EQ(castToHalfBits(3 * 0x1p-26f, DataType::kHALF), 0x0001);
  EXPECT_EQ(castToHalfBits(std::numeric_limits<float>::infinity(), DataType::kHALF), 0x7C00);
  EXPECT_EQ(castToHalfBits(1.0f, DataType::kBF16), 0x3F80);
  EXPECT_EQ(castToHalfBits(1.0f + 0x1p-8f, DataType::kBF16), 0x3F80);      // tie -> even (down)
  EXPECT_EQ(castToHalfBits(1.0f + 3 * 0x1p-8f, DataType::kBF16), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(castToHalfBits(0.1f, DataType::kBF16), 0x3DCD);
  EXPECT_EQ(castToHalfBits(-3.0e38f, DataType::kBF16), 0xFF62);
}

TEST(UnaryOps, CastDoubleToHalfRoundsOnce) {
  // 1 + 2^-11 + 2^-40 lies just above the midpoint between half values 1 and 1 + 2^-10; going
  // through float32 first would drop the 2^-40 and round the tie down to 1 (0x3C00).
  const double d = 1.0 + 0x1p-11 + 0x1p-40;
  auto x = ir::TensorData::fromVector<double>(DataType::kDOUBLE, {1}, {d});
  ir::Attributes a;
  a.setInt("to", static_cast<int64_t>(DataType::kHALF));
  auto out = runOp(OpKind::kCast, a, {OpInput::value(x)});
  ASSERT_TRUE(out.isOk());
  uint16_t bits;
  std::memcpy(&bits, out->at(0).data(), 2);
  EXPECT_EQ(bits, 0x3C01);
}

// Runs Cast(x) to `to` and returns the result.
std::shared_ptr<ir::TensorData> castTo(const std::shared_ptr<ir::TensorData>& x, DataType to) {
  ir::Attributes a;
  a.setInt("to", static_cast<int64_t>(to));
  auto out = runOp(OpKind::kCast, a, {OpInput::value(x)});
  EXPECT_TRUE(out.isOk()) << out.status().toString();
  if (!out.isOk()) return nullptr;
  EXPECT_EQ(out->at(0).dtype(), to);
  return out->outputs[0];
}

TEST(UnaryOps, CastMatrix) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto f = makeFloat({7}, {-2.7f, 2.7f, -0.5f, 1e10f, -1e10f, nan, 300.f});
  // float -> int truncates toward zero; out of range saturates; NaN -> 0.
  auto i32 = castTo(f, DataType::kINT32);
  ASSERT_TRUE(i32);
  expectEqual(*i32, *makeInt32({7}, {-2, 2, 0, std::numeric_limits<int32_t>::max(),
                                     std::numeric_limits<int32_t>::min(), 0, 300}));
  auto i64 = castTo(f, DataType::kINT64);
  ASSERT_TRUE(i64);
  expectEqual(*i64, *makeInt64({7}, {-2, 2, 0, 10000000000LL, -10000000000LL, 0, 300}));
  auto u8 = castTo(f, DataType::kUINT8);
  ASSERT_TRUE(u8);
  expectCloseTo(*u8, {7}, {0, 2, 0, 255, 0, 0, 255}, 0, 0);
  auto i8 = castTo(f, DataType::kINT8);
  ASSERT_TRUE(i8);
  expectCloseTo(*i8, {7}, {-2, 2, 0, 127, -128, 0, 127}, 0, 0);
  // float -> bool: x != 0 (NaN is true).
  auto b = castTo(makeFloat({5}, {0.f, -0.f, 0.1f, nan, -3.f}), DataType::kBOOL);
  ASSERT_TRUE(b);
  expectEqual(*b, *makeBool({5}, {false, false, true, true, true}));
  // bool -> float / int64.
  auto bf = castTo(makeBool({3}, {true, false, true}), DataType::kFLOAT);
  ASSERT_TRUE(bf);
  expectEqual(*bf, *makeFloat({3}, {1.f, 0.f, 1.f}));
  auto bi = castTo(makeBool({2}, {false, true}), DataType::kINT64);
  ASSERT_TRUE(bi);
  expectEqual(*bi, *makeInt64({2}, {0, 1}));
  // int64 -> int32 wraps modulo 2^32.
  auto w = castTo(makeInt64({3}, {(int64_t{1} << 32) + 5, -1, int64_t{1} << 31}), DataType::kINT32);
  ASSERT_TRUE(w);
  expectEqual(*w, *makeInt32({3}, {5, -1, std::numeric_limits<int32_t>::min()}));
  // int32 -> float and float64, int64 -> float16.
  auto fi = castTo(makeInt32({3}, {-7, 0, 16777217}), DataType::kFLOAT);
  ASSERT_TRUE(fi);
  expectEqual(*fi, *makeFloat({3}, {-7.f, 0.f, 16777216.f}));
  auto di = castTo(makeInt32({2}, {-7, 16777217}), DataType::kDOUBLE);
  ASSERT_TRUE(di);
  expectCloseTo(*di, {2}, {-7, 16777217}, 0, 0);
  auto hi = castTo(makeInt64({3}, {3, -2049, 100000}), DataType::kHALF);
  ASSERT_TRUE(hi);
  // -2049 is a tie between -2048 and -2050 (spacing 2): even mantissa -> -2048; 1e5 -> inf.
  expectCloseTo(*hi, {3}, {3, -2048, std::numeric_limits<double>::infinity()}, 0, 0);
  // float16 -> float32 exact; float16 -> int truncates; float32 -> float64 exact.
  std::mt19937 rng(13);
  auto h = randomTensor(DataType::kHALF, {16}, rng, -100, 100);
  auto hf = castTo(h, DataType::kFLOAT);
  ASSERT_TRUE(hf);
  auto hInt = castTo(h, DataType::kINT16);
  ASSERT_TRUE(hInt);
  auto bfl = castTo(h, DataType::kBF16);
  ASSERT_TRUE(bfl);
  std::vector<double> wantF, wantI, wantB;
  for (int64_t i = 0; i < h->numel(); ++i) {
    double v = h->doubleAt(i);
    wantF.push_back(v);
    wantI.push_back(std::trunc(v));
    wantB.push_back(v);
  }
  expectCloseTo(*hf, {16}, wantF, 0, 0);
  expectCloseTo(*hInt, {16}, wantI, 0, 0);
  expectCloseTo(*bfl, {16}, wantB, 4e-3, 0);  // 8 significand bits
  auto fd = castTo(f, DataType::kDOUBLE);
  ASSERT_TRUE(fd);
  expectCloseTo(*fd, {7}, {-2.7f, 2.7f, -0.5f, 1e10f, -1e10f, std::nan(""), 300.f}, 0, 0);
  // int8 -> uint8 wraps.
  auto i8b = castTo(i8, DataType::kUINT8);
  ASSERT_TRUE(i8b);
  expectCloseTo(*i8b, {7}, {254, 2, 0, 127, 128, 0, 127}, 0, 0);
}

TEST(UnaryOps, Errors) {
  auto i = makeInt32({2}, {1, 2});
  auto sq = runOp(OpKind::kSqrt, {}, {OpInput::value(i)});
  ASSERT_FALSE(sq.isOk());
  EXPECT_NE(sq.status().message().find("Sqrt 'node'"), std::string::npos) << sq.status().message();
  EXPECT_NE(sq.status().message().find("int32"), std::string::npos) << sq.status().message();
  auto nf = runOp(OpKind::kNot, {}, {OpInput::value(makeFloat({1}, {1.f}))});
  ASSERT_FALSE(nf.isOk());
  auto bn = runOp(OpKind::kBitwiseNot, {}, {OpInput::value(makeFloat({1}, {1.f}))});
  ASSERT_FALSE(bn.isOk());
  ir::Attributes bad;
  bad.setInt("to", 6);
  auto c6 = runOp(OpKind::kCast, bad, {OpInput::value(i)});
  ASSERT_FALSE(c6.isOk());
  EXPECT_NE(c6.status().message().find("to=6"), std::string::npos) << c6.status().message();
  auto noTo = runOp(OpKind::kCast, {}, {OpInput::value(i)});
  ASSERT_FALSE(noTo.isOk());
  auto two = runOp(OpKind::kRelu, {}, {OpInput::value(i), OpInput::value(i)});
  ASSERT_FALSE(two.isOk());
  auto celu0 = runOp(OpKind::kCelu, floatAttrs({{"alpha", 0.f}}), {OpInput::value(makeFloat({1}, {1.f}))});
  ASSERT_FALSE(celu0.isOk());
}

TEST(UnaryOps, ValuePropagation) {
  ir::Graph g;
  const ir::DimExpr n = ir::DimExpr::symbol("n");
  ir::Value* shape = g.addInput("shape", DataType::kINT64, {2});
  shape->shapeValue = std::vector<ir::DimExpr>{n, 8};
  ir::Attributes to32;
  to32.setInt("to", static_cast<int64_t>(DataType::kINT32));
  ir::Node* cast = g.addNode(OpKind::kCast, "cast", {shape}, to32);
  ir::Node* neg = g.addNode(OpKind::kNeg, "neg", {cast->outputs[0]}, {});
  ir::Node* id = g.addNode(OpKind::kIdentity, "id", {neg->outputs[0]}, {});
  ir::Attributes toF;
  toF.setInt("to", static_cast<int64_t>(DataType::kFLOAT));
  ir::Node* castF = g.addNode(OpKind::kCast, "castf", {shape}, toF);
  Status st = ir::inferGraphInPlace(g);
  ASSERT_TRUE(st.isOk()) << st.toString();
  EXPECT_EQ(cast->outputs[0]->dtype, DataType::kINT32);
  ASSERT_TRUE(id->outputs[0]->shapeValue.has_value());
  const auto& v = *id->outputs[0]->shapeValue;
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].substitute({{"n", 3}}).constValue(), -3);
  EXPECT_EQ(v[1].constValue(), -8);
  // Integer values cast to a float type stay known (Range(0, Cast(n), 1) sizes from n) while the
  // type holds them exactly: float32 up to 2^24, float16 up to 2^11.
  ASSERT_TRUE(castF->outputs[0]->shapeValue.has_value());
  EXPECT_EQ(castF->outputs[0]->shapeValue->at(0).substitute({{"n", 3}}).constValue(), 3);
  EXPECT_EQ(castF->outputs[0]->shapeValue->at(1).constValue(), 8);
  EXPECT_EQ(castF->outputs[0]->dtype, DataType::kFLOAT);
  ir::Graph g2;
  ir::Value* big = g2.addInput("big", DataType::kINT64, {2});
  big->shapeValue = std::vector<ir::DimExpr>{2048, 4096};
  ir::Attributes toH;
  toH.setInt("to", static_cast<int64_t>(DataType::kHALF));
  ir::Node* castH = g2.addNode(OpKind::kCast, "casth", {big}, toH);
  ir::Attributes toF2;
  toF2.setInt("to", static_cast<int64_t>(DataType::kFLOAT));
  ir::Node* castF2 = g2.addNode(OpKind::kCast, "castf2", {big}, toF2);
  ASSERT_TRUE(ir::inferGraphInPlace(g2).isOk());
  EXPECT_FALSE(castH->outputs[0]->shapeValue.has_value());  // 4096 > 2^11
  ASSERT_TRUE(castF2->outputs[0]->shapeValue.has_value());
  EXPECT_EQ(castF2->outputs[0]->shapeValue->at(1).constValue(), 4096);
}

// ---------------------------------------------------------------------------------------------
// Cast with the low-precision types. Expected codes are worked out by hand from the formats:
// e4m3fn = S.EEEE.MMM (bias 7), e4m3fnuz (bias 8, NaN 0x80), e5m2 = S.EEEEE.MM (bias 15),
// e8m0 = 2^(code-127), sub-byte integers one per byte.

std::shared_ptr<ir::TensorData> codes(DataType t, const std::vector<uint8_t>& b) {
  return ir::TensorData::fromBytes(t, {static_cast<int64_t>(b.size())}, b.data());
}
std::vector<uint8_t> bytesOf(const ir::TensorData& t) {
  const auto* p = static_cast<const uint8_t*>(t.data());
  return std::vector<uint8_t>(p, p + t.bytes());
}
// Cast(x) to `to` with saturate / round_mode; the output's bytes (empty on error).
std::vector<uint8_t> castBytes(const std::shared_ptr<ir::TensorData>& x, DataType to,
                               int64_t saturate = 1, const std::string& roundMode = "") {
  ir::Attributes a;
  a.setInt("to", static_cast<int64_t>(to));
  a.setInt("saturate", saturate);
  if (!roundMode.empty()) a.setString("round_mode", roundMode);
  auto out = runOp(OpKind::kCast, a, {OpInput::value(x)});
  EXPECT_TRUE(out.isOk()) << out.status().toString();
  if (!out.isOk()) return {};
  EXPECT_EQ(out->at(0).dtype(), to);
  return bytesOf(out->at(0));
}
using Bytes = std::vector<uint8_t>;

TEST(UnaryOps, CastFloatToFloat8ByHand) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // 1 = 0.0111.000; -3 = 1.1000.100; 0.4789 = 1.916 * 2^-2 -> 1.875 = 0.0101.111; 448 = max;
  // 2^-10 ties between 0 and 2^-9 -> 0; 3 * 2^-10 ties between 2^-9 and 2^-8 -> 2^-8 (even).
  auto x = makeFloat(
      {10}, {1.f, -3.f, 0.4789254665f, 448.f, 1000.f, -inf, nan, -0.0f, 0x1p-10f, 3 * 0x1p-10f});
  EXPECT_EQ(castBytes(x, DataType::kFP8E4M3FN, 1),
            (Bytes{0x38, 0xc4, 0x2f, 0x7e, 0x7e, 0xfe, 0x7f, 0x80, 0x00, 0x02}));
  EXPECT_EQ(castBytes(x, DataType::kFP8E4M3FN, 0),
            (Bytes{0x38, 0xc4, 0x2f, 0x7e, 0x7f, 0xff, 0x7f, 0x80, 0x00, 0x02}));
  // e4m3fnuz: bias 8 (1 = 0.1000.000), max 240, no -0, NaN and overflow (saturate=0) -> 0x80.
  auto u = makeFloat({5}, {1.f, 240.f, -0.0f, nan, 1000.f});
  EXPECT_EQ(castBytes(u, DataType::kFP8E4M3FNUZ, 1), (Bytes{0x40, 0x7f, 0x00, 0x80, 0x7f}));
  EXPECT_EQ(castBytes(u, DataType::kFP8E4M3FNUZ, 0), (Bytes{0x40, 0x7f, 0x00, 0x80, 0x80}));
  // e5m2: 1 = 0.01111.00, max 57344 = 0.11110.11; 61440 ties up to 2^16 = overflow; 1.125 ties
  // to 1 (mantissa 00), 1.375 ties to 1.5 (mantissa 10).
  auto e = makeFloat({6}, {1.f, 57344.f, 61440.f, -1e6f, 1.125f, 1.375f});
  EXPECT_EQ(castBytes(e, DataType::kFP8E5M2, 1), (Bytes{0x3c, 0x7b, 0x7b, 0xfb, 0x3c, 0x3e}));
  EXPECT_EQ(castBytes(e, DataType::kFP8E5M2, 0), (Bytes{0x3c, 0x7b, 0x7c, 0xfc, 0x3c, 0x3e}));
  // float16 input goes through the same rounding: 1000 -> 448.
  auto h = ir::TensorData::fromVector<Half>(DataType::kHALF, {2}, {Half(1000.f), Half(-0.5f)});
  EXPECT_EQ(castBytes(h, DataType::kFP8E4M3FN, 1), (Bytes{0x7e, 0xb0}));
  // float4e2m1: 0.25 ties to 0; -3.5 ties to -4 (1.110); 9 and inf saturate to 6 (0.111).
  auto f4 = makeFloat({4}, {0.25f, -3.5f, 9.f, inf});
  EXPECT_EQ(castBytes(f4, DataType::kFP4E2M1, 0), (Bytes{0x0, 0xe, 0x7, 0x7}));
}

TEST(UnaryOps, CastFromFloat8ByHand) {
  auto x = codes(DataType::kFP8E4M3FN, {0x38, 0xc4, 0x7f, 0x01, 0x80});  // 1, -3, NaN, 2^-9, -0
  auto f = runOp(OpKind::kCast,
                 [] {
                   ir::Attributes a;
                   a.setInt("to", static_cast<int64_t>(DataType::kFLOAT));
                   return a;
                 }(),
                 {OpInput::value(x)});
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  const std::vector<double> v = toDoubles(f->at(0));
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], -3.0);
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], 0x1p-9);
  EXPECT_TRUE(v[4] == 0.0 && std::signbit(v[4]));
  // -> int32 truncates (NaN -> 0); -> bool is x != 0 (NaN -> true).
  Bytes i32 = castBytes(x, DataType::kINT32);
  ASSERT_EQ(i32.size(), 20u);
  int32_t iv[5];
  std::memcpy(iv, i32.data(), 20);
  EXPECT_EQ(std::vector<int32_t>(iv, iv + 5), (std::vector<int32_t>{1, -3, 0, 0, 0}));
  EXPECT_EQ(castBytes(x, DataType::kBOOL), (Bytes{1, 1, 1, 1, 0}));
  // e5m2 inf -> e4m3fn: max with saturate, NaN without.
  auto inf5 = codes(DataType::kFP8E5M2, {0x7c, 0xfc});
  EXPECT_EQ(castBytes(inf5, DataType::kFP8E4M3FN, 1), (Bytes{0x7e, 0xfe}));
  EXPECT_EQ(castBytes(inf5, DataType::kFP8E4M3FN, 0), (Bytes{0x7f, 0xff}));
  // float4 codes -> float16 bits: 1.5 = 0x3e00, -6 = 0xc600.
  Bytes hb = castBytes(codes(DataType::kFP4E2M1, {0x3, 0xf}), DataType::kHALF);
  EXPECT_EQ(hb, (Bytes{0x00, 0x3e, 0x00, 0xc6}));
}

TEST(UnaryOps, CastSubByteIntegersByHand) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // float -> int4/uint4: truncate, then keep the low 4 bits (-9 -> 7, 15 -> -1), NaN -> 0.
  auto x = makeFloat({5}, {-9.f, -8.5f, 7.9f, 15.f, nan});
  EXPECT_EQ(castBytes(x, DataType::kINT4), (Bytes{0x07, 0xf8, 0x07, 0xff, 0x00}));
  EXPECT_EQ(castBytes(x, DataType::kUINT4), (Bytes{7, 8, 7, 15, 0}));
  // int32 -> int4 / uint2 / int2 wrap.
  auto i = makeInt32({2}, {100, -1});
  EXPECT_EQ(castBytes(i, DataType::kINT4), (Bytes{4, 0xff}));
  EXPECT_EQ(castBytes(i, DataType::kUINT2), (Bytes{0, 3}));
  EXPECT_EQ(castBytes(makeInt32({2}, {2, 3}), DataType::kINT2), (Bytes{0xfe, 0xff}));
  // int4 -> int8 (sign-extended), -> uint8 (wraps as int8 does), -> float.
  auto q = codes(DataType::kINT4, {0xf8, 0x07});  // -8, 7
  EXPECT_EQ(castBytes(q, DataType::kINT8), (Bytes{0xf8, 0x07}));
  EXPECT_EQ(castBytes(q, DataType::kUINT8), (Bytes{248, 7}));
  Bytes fb = castBytes(q, DataType::kFLOAT);
  ASSERT_EQ(fb.size(), 8u);
  float fv[2];
  std::memcpy(fv, fb.data(), 8);
  EXPECT_EQ(fv[0], -8.f);
  EXPECT_EQ(fv[1], 7.f);
  // uint4 15 -> e4m3fn: 15 = 1.875 * 2^3 = 0.1010.111.
  EXPECT_EQ(castBytes(codes(DataType::kUINT4, {15}), DataType::kFP8E4M3FN), (Bytes{0x57}));
}

TEST(UnaryOps, CastFloat8E8M0RoundModes) {
  // 3 = 1.5 * 2: up 4, down 2, nearest 4 (ties up); 0.3: up 0.5, down 0.25, nearest 0.25;
  // 0 saturates to 2^-127 (code 0).
  auto x = makeFloat({3}, {3.f, 0.3f, 0.f});
  EXPECT_EQ(castBytes(x, DataType::kFP8E8M0, 1, "up"), (Bytes{0x81, 0x7e, 0x00}));
  EXPECT_EQ(castBytes(x, DataType::kFP8E8M0, 1, ""), (Bytes{0x81, 0x7e, 0x00}));  // default up
  EXPECT_EQ(castBytes(x, DataType::kFP8E8M0, 1, "down"), (Bytes{0x80, 0x7d, 0x00}));
  EXPECT_EQ(castBytes(x, DataType::kFP8E8M0, 1, "nearest"), (Bytes{0x81, 0x7d, 0x00}));
  EXPECT_EQ(castBytes(x, DataType::kFP8E8M0, 0, "nearest"), (Bytes{0x81, 0x7d, 0xff}));
  auto back = runOp(OpKind::kCast,
                    [] {
                      ir::Attributes a;
                      a.setInt("to", static_cast<int64_t>(DataType::kFLOAT));
                      return a;
                    }(),
                    {OpInput::value(codes(DataType::kFP8E8M0, {0x7f, 0x80, 0xff, 0x00}))});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  const std::vector<double> v = toDoubles(back->at(0));
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], 2.0);
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], std::ldexp(1.0, -127));
  ir::Attributes bad;
  bad.setInt("to", static_cast<int64_t>(DataType::kFP8E8M0));
  bad.setString("round_mode", "sideways");
  auto r = runOp(OpKind::kCast, bad, {OpInput::value(x)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("round_mode 'sideways'"), std::string::npos)
      << r.status().message();
}

// Ops other than Cast / QuantizeLinear / DequantizeLinear refuse the low-precision types with an
// error naming the type (no silent byte reinterpretation).
TEST(UnaryOps, LowPrecisionTypesRejectedElsewhere) {
  struct Case {
    OpKind op;
    DataType t;
    int inputs;
  };
  for (const Case& c :
       {Case{OpKind::kRelu, DataType::kFP8E4M3FN, 1}, Case{OpKind::kAbs, DataType::kINT4, 1},
        Case{OpKind::kIdentity, DataType::kFP4E2M1, 1}, Case{OpKind::kNeg, DataType::kINT2, 1},
        Case{OpKind::kAdd, DataType::kFP8E5M2, 2}, Case{OpKind::kMul, DataType::kUINT4, 2},
        Case{OpKind::kMatMul, DataType::kFP8E4M3FNUZ, 2},
        Case{OpKind::kSoftmax, DataType::kFP8E8M0, 1}}) {
    auto x = codes(c.t, {0x01, 0x02});
    std::vector<OpInput> in(static_cast<size_t>(c.inputs), OpInput::value(x));
    if (c.op == OpKind::kMatMul)
      in = {OpInput::value(codes(c.t, {1, 2})), OpInput::value(codes(c.t, {1, 2}))};
    auto r = runOp(c.op, {}, in);
    ASSERT_FALSE(r.isOk()) << ir::opName(c.op) << " accepted " << dataTypeName(c.t);
    EXPECT_NE(r.status().message().find(dataTypeName(c.t)), std::string::npos)
        << ir::opName(c.op) << ": " << r.status().message();
  }
}

}  // namespace
}  // namespace kiln::test
