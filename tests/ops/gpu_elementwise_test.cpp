// Elementwise families (Binary, Unary, Cast) on shapes and values aimed at the CUDA kernels:
// vector paths and their tails (sizes around the 16-byte vector width), scalar and general
// broadcasting (collapsed dims, size-1 dims, rank 0, empty tensors), variadic ops over several
// passes, every unary op on every float type with special values, integer edge cases and Cast
// between every pair of types. runOp runs the CPU kernel and, where a GPU is present, the CUDA
// kernel too and compares them; the expectations written here are exact hand-computed values.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/half.h"
#include "common/small_float.h"
#include "ir/graph.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;

const std::vector<DataType> kFloatTypes = {DataType::kFLOAT, DataType::kDOUBLE, DataType::kHALF,
                                           DataType::kBF16};
const std::vector<DataType> kIntTypes = {DataType::kINT8,   DataType::kINT16, DataType::kINT32,
                                         DataType::kINT64,  DataType::kUINT8, DataType::kUINT16,
                                         DataType::kUINT32, DataType::kUINT64};
const std::vector<DataType> kAllTypes = {
    DataType::kFLOAT,  DataType::kDOUBLE, DataType::kHALF,  DataType::kBF16,  DataType::kINT8,
    DataType::kINT16,  DataType::kINT32,  DataType::kINT64, DataType::kUINT8, DataType::kUINT16,
    DataType::kUINT32, DataType::kUINT64, DataType::kBOOL};

bool isUnsigned(DataType t) {
  return t == DataType::kUINT8 || t == DataType::kUINT16 || t == DataType::kUINT32 ||
         t == DataType::kUINT64;
}

// A tensor of `dtype` holding `v` (values must be representable: in range for integers).
std::shared_ptr<ir::TensorData> fromDoubles(DataType dtype, const std::vector<int64_t>& dims,
                                            const std::vector<double>& v) {
  auto t = std::make_shared<ir::TensorData>(dtype, dims);
  EXPECT_EQ(static_cast<int64_t>(v.size()), t->numel());
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = v[i];
    switch (dtype) {
      case DataType::kFLOAT: t->as<float>()[i] = static_cast<float>(x); break;
      case DataType::kDOUBLE: t->as<double>()[i] = x; break;
      case DataType::kHALF: t->as<Half>()[i] = Half(static_cast<float>(x)); break;
      case DataType::kBF16: t->as<BFloat16>()[i] = BFloat16(static_cast<float>(x)); break;
      case DataType::kINT8: t->as<int8_t>()[i] = static_cast<int8_t>(x); break;
      case DataType::kINT16: t->as<int16_t>()[i] = static_cast<int16_t>(x); break;
      case DataType::kINT32: t->as<int32_t>()[i] = static_cast<int32_t>(x); break;
      case DataType::kINT64: t->as<int64_t>()[i] = static_cast<int64_t>(x); break;
      case DataType::kUINT8: t->as<uint8_t>()[i] = static_cast<uint8_t>(x); break;
      case DataType::kUINT16: t->as<uint16_t>()[i] = static_cast<uint16_t>(x); break;
      case DataType::kUINT32: t->as<uint32_t>()[i] = static_cast<uint32_t>(x); break;
      case DataType::kUINT64: t->as<uint64_t>()[i] = static_cast<uint64_t>(x); break;
      case DataType::kBOOL:
        t->as<uint8_t>()[i] = x != 0 ? 1 : 0;
        break;
      KILN_CASE_LOW_PRECISION_TYPES:
        ADD_FAILURE() << "fromDoubles: " << dataTypeName(dtype);
        break;
    }
  }
  return t;
}

// Random values of t in a range every type can hold (unsigned: non-negative).
std::shared_ptr<ir::TensorData> randomOf(DataType t, const std::vector<int64_t>& dims,
                                         std::mt19937& rng) {
  if (t == DataType::kBOOL || isUnsigned(t)) return randomTensor(t, dims, rng, 0, 60);
  return randomTensor(t, dims, rng, -60, 60);
}

StatusOr<OpResult> run1(OpKind op, const ir::Attributes& a,
                        const std::shared_ptr<ir::TensorData>& x) {
  return runOp(op, a, {OpInput::value(x)});
}
StatusOr<OpResult> run2(OpKind op, const std::shared_ptr<ir::TensorData>& x,
                        const std::shared_ptr<ir::TensorData>& y, const ir::Attributes& a = {}) {
  return runOp(op, a, {OpInput::value(x), OpInput::value(y)});
}

// Sizes around the vector widths (2, 4, 8, 16 elements per 16 bytes) and a multi-block size.
const std::vector<int64_t> kSizes = {1, 15, 17, 4099};

TEST(GpuElementwise, BinaryVectorPathsTailsAndScalars) {
  std::mt19937 rng(11);
  for (DataType t : kAllTypes) {
    for (int64_t n : kSizes) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " n=" + std::to_string(n));
      auto a = randomOf(t, {n}, rng);
      auto b = randomOf(t, {n}, rng);
      auto s = randomOf(t, {}, rng);
      std::vector<OpKind> ops = {OpKind::kEqual};
      if (t == DataType::kBOOL) {
        ops.insert(ops.end(), {OpKind::kAnd, OpKind::kOr, OpKind::kXor});
      } else {
        ops.insert(ops.end(), {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kMax, OpKind::kMin,
                               OpKind::kLess, OpKind::kLessOrEqual, OpKind::kGreater,
                               OpKind::kGreaterOrEqual});
        if (dataTypeSize(t) >= 4) ops.push_back(OpKind::kPRelu);  // float, float16/bfloat16 too
      }
      if (t == DataType::kHALF || t == DataType::kBF16) ops.push_back(OpKind::kPRelu);
      if (t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
          t == DataType::kBF16)
        ops.insert(ops.end(), {OpKind::kDiv, OpKind::kSum, OpKind::kMean});
      else if (t != DataType::kBOOL)
        ops.insert(ops.end(), {OpKind::kBitwiseAnd, OpKind::kBitwiseOr, OpKind::kBitwiseXor});
      for (OpKind op : ops) {
        SCOPED_TRACE(static_cast<int>(op));
        ASSERT_TRUE(run2(op, a, b).isOk()) << run2(op, a, b).status().toString();
        if (n == 4099) {
          ASSERT_TRUE(run2(op, a, s).isOk());    // scalar second input
          if (op != OpKind::kPRelu) {            // PRelu's slope may not grow X
            ASSERT_TRUE(run2(op, s, a).isOk());  // scalar first input
          }
        }
      }
    }
  }
}

TEST(GpuElementwise, BroadcastPatterns) {
  std::mt19937 rng(12);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{2, 3, 5, 7}, {3, 1, 1}},                             // per-channel bias on NCHW
      {{2, 3, 5, 7}, {1, 3, 5, 7}},                          // leading broadcast
      {{2, 1, 3, 1, 5}, {1, 4, 1, 6, 1}},                    // alternating: no dims merge
      {{2, 1, 2, 1, 2, 1, 2, 1}, {1, 2, 1, 2, 1, 2, 1, 2}},  // rank 8, nothing merges
      {{1, 1, 1}, {}},                                       // all ones vs scalar
      {{}, {}},                                              // rank 0
      {{0, 4}, {1, 4}},                                      // empty output
      {{4, 0}, {}},                                          // empty output, scalar
      {{7, 1, 33}, {1, 5, 1}},
      {{1, 1029}, {3, 1}},
      // A row repeated over the leading dims (bias adds; the row vector path when a row is a
      // whole number of 16-byte vectors, either operand, and the scalar path otherwise).
      {{5, 64}, {64}},
      {{64}, {3, 5, 64}},
      {{2, 3, 16}, {3, 16}},
      {{7, 24}, {1, 24}},
      {{5, 12}, {12}},
      {{33, 1032}, {1032}},
  };
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kINT8, DataType::kINT64}) {
    for (const auto& [da, db] : cases) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " " + ir::dimsToString(da) + " x " +
                   ir::dimsToString(db));
      auto a = randomOf(t, da, rng);
      auto b = randomOf(t, db, rng);
      for (OpKind op : {OpKind::kAdd, OpKind::kMul, OpKind::kMax, OpKind::kLess, OpKind::kEqual})
        ASSERT_TRUE(run2(op, a, b).isOk()) << run2(op, a, b).status().toString();
    }
  }
}

// Add of a broadcast bias, checked exactly on integers (an independent index computation).
TEST(GpuElementwise, BroadcastValuesExact) {
  std::vector<double> av, bv;
  for (int i = 0; i < 2 * 3 * 4; ++i) av.push_back(i * 100);
  for (int i = 0; i < 3; ++i) bv.push_back(i);
  auto a = fromDoubles(DataType::kINT32, {2, 3, 4}, av);
  auto b = fromDoubles(DataType::kINT32, {3, 1}, bv);
  auto out = run2(OpKind::kAdd, a, b);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  std::vector<int32_t> want;
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int w = 0; w < 4; ++w) want.push_back(((n * 3 + c) * 4 + w) * 100 + c);
  expectEqual(out->at(0), *makeInt32({2, 3, 4}, want));
}

TEST(GpuElementwise, LargeFlatTensors) {
  std::mt19937 rng(13);
  const int64_t n = (int64_t{1} << 20) + 5;
  for (DataType t : {DataType::kFLOAT, DataType::kHALF}) {
    SCOPED_TRACE(dataTypeName(t));
    auto a = randomTensor(t, {n}, rng, -4, 4);
    auto b = randomTensor(t, {n}, rng, -4, 4);
    ASSERT_TRUE(run2(OpKind::kAdd, a, b).isOk());
    ASSERT_TRUE(run2(OpKind::kMul, a, randomTensor(t, {}, rng)).isOk());
    ASSERT_TRUE(run1(OpKind::kRelu, {}, a).isOk());
    ASSERT_TRUE(run1(OpKind::kSigmoid, {}, a).isOk());
    ASSERT_TRUE(run1(OpKind::kGelu, {}, a).isOk());
    ir::Attributes c;
    c.setInt("to",
             static_cast<int64_t>(t == DataType::kFLOAT ? DataType::kHALF : DataType::kFLOAT));
    ASSERT_TRUE(run1(OpKind::kCast, c, a).isOk());
  }
}

// Sum/Mean/Max/Min over 3 to 17 inputs (several passes of the GPU kernel), broadcasting.
TEST(GpuElementwise, VariadicManyInputs) {
  std::mt19937 rng(14);
  for (DataType t :
       {DataType::kFLOAT, DataType::kHALF, DataType::kDOUBLE, DataType::kINT32, DataType::kUINT8}) {
    for (int count : {1, 3, 8, 9, 17}) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " inputs=" + std::to_string(count));
      std::vector<OpInput> ins;
      for (int k = 0; k < count; ++k) {
        std::vector<int64_t> dims = k % 3 == 0   ? std::vector<int64_t>{4, 1, 37}
                                    : k % 3 == 1 ? std::vector<int64_t>{5, 1}
                                                 : std::vector<int64_t>{4, 5, 37};
        if (count == 1) dims = {4, 5, 37};
        ins.push_back(OpInput::value(randomOf(t, dims, rng)));
      }
      std::vector<OpKind> ops = {OpKind::kMax, OpKind::kMin};
      if (t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kDOUBLE)
        ops.insert(ops.end(), {OpKind::kSum, OpKind::kMean});
      for (OpKind op : ops) {
        auto out = runOp(op, {}, ins);
        ASSERT_TRUE(out.isOk()) << out.status().toString();
      }
    }
  }
  // Exact: Sum of 10 float inputs of small integers, Max with a NaN.
  std::vector<OpInput> ins;
  for (int k = 0; k < 10; ++k)
    ins.push_back(OpInput::value(makeFloat({3}, {float(k), float(2 * k), -float(k)})));
  auto sum = runOp(OpKind::kSum, {}, ins);
  ASSERT_TRUE(sum.isOk()) << sum.status().toString();
  expectCloseTo(sum->at(0), {3}, {45, 90, -45}, 0, 0);
  auto mean = runOp(OpKind::kMean, {}, ins);
  ASSERT_TRUE(mean.isOk());
  expectCloseTo(mean->at(0), {3}, {4.5, 9, -4.5}, 0, 0);
  ins[4] = OpInput::value(makeFloat({3}, {std::nanf(""), 0.f, 100.f}));
  auto mx = runOp(OpKind::kMax, {}, ins);
  ASSERT_TRUE(mx.isOk());
  expectCloseTo(mx->at(0), {3}, {std::nan(""), 18, 100}, 0, 0);
}

// Every unary op on every float type: random values plus specials (NaN, +-inf, +-0, ties).
TEST(GpuElementwise, UnaryAllOpsAllFloatTypes) {
  std::mt19937 rng(15);
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> vals = {std::nan(""), inf,  -inf, 0.0,  -0.0, 0.5, -0.5, 1.5,
                              2.5,          -2.5, 1.0,  -1.0, 1e-8, 700, -700};
  std::uniform_real_distribution<double> uni(-6, 6);
  while (vals.size() < 1031) vals.push_back(uni(rng));
  const std::vector<OpKind> ops = {OpKind::kRelu,
                                   OpKind::kLeakyRelu,
                                   OpKind::kElu,
                                   OpKind::kSelu,
                                   OpKind::kCelu,
                                   OpKind::kSigmoid,
                                   OpKind::kHardSigmoid,
                                   OpKind::kHardSwish,
                                   OpKind::kTanh,
                                   OpKind::kSoftplus,
                                   OpKind::kSoftsign,
                                   OpKind::kMish,
                                   OpKind::kThresholdedRelu,
                                   OpKind::kShrink,
                                   OpKind::kClip,
                                   OpKind::kGelu,
                                   OpKind::kErf,
                                   OpKind::kExp,
                                   OpKind::kLog,
                                   OpKind::kSqrt,
                                   OpKind::kReciprocal,
                                   OpKind::kNeg,
                                   OpKind::kAbs,
                                   OpKind::kSign,
                                   OpKind::kFloor,
                                   OpKind::kCeil,
                                   OpKind::kRound,
                                   OpKind::kSin,
                                   OpKind::kCos,
                                   OpKind::kTan,
                                   OpKind::kAsin,
                                   OpKind::kAcos,
                                   OpKind::kAtan,
                                   OpKind::kSinh,
                                   OpKind::kCosh,
                                   OpKind::kAsinh,
                                   OpKind::kAcosh,
                                   OpKind::kAtanh,
                                   OpKind::kIsNaN,
                                   OpKind::kIsInf,
                                   OpKind::kIdentity};
  for (DataType t : kFloatTypes) {
    auto x = fromDoubles(t, {1031}, vals);
    for (OpKind op : ops) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " op " + std::to_string(static_cast<int>(op)));
      auto out = run1(op, {}, x);
      ASSERT_TRUE(out.isOk()) << out.status().toString();
    }
    ir::Attributes tanhGelu;
    tanhGelu.setString("approximate", "tanh");
    ASSERT_TRUE(run1(OpKind::kGelu, tanhGelu, x).isOk());
    ir::Attributes posOnly;
    posOnly.setInt("detect_negative", 0);
    ASSERT_TRUE(run1(OpKind::kIsInf, posOnly, x).isOk());
    ir::Attributes hs;
    hs.setFloat("alpha", 0.3f);
    hs.setFloat("beta", 0.1f);
    ASSERT_TRUE(run1(OpKind::kHardSigmoid, hs, x).isOk());
  }
  // Round: half to even.
  auto r = run1(OpKind::kRound, {}, makeFloat({6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f}));
  ASSERT_TRUE(r.isOk());
  expectCloseTo(r->at(0), {6}, {0, 2, 2, -0.0, -2, 2}, 0, 0);
  // HardSigmoid of NaN is NaN (as onnxruntime and PyTorch give), like Relu.
  auto h = run1(OpKind::kHardSigmoid, {}, makeFloat({1}, {std::nanf("")}));
  ASSERT_TRUE(h.isOk());
  EXPECT_TRUE(std::isnan(h->at(0).as<float>()[0]));
}

TEST(GpuElementwise, IntegerUnaryEdgeCases) {
  for (DataType t : kIntTypes) {
    SCOPED_TRACE(dataTypeName(t));
    std::vector<double> v;
    if (isUnsigned(t)) {
      v = {0, 1, 2, 7, 100, 255};
    } else {
      const double lo = t == DataType::kINT8    ? -128
                        : t == DataType::kINT16 ? -32768
                        : t == DataType::kINT32 ? -2147483648.0
                                                : -9223372036854775808.0;
      v = {lo, -7, -1, 0, 1, 7, 100, 127};
    }
    v.resize(37, 3);
    auto x = fromDoubles(t, {37}, v);
    std::vector<OpKind> ops = {OpKind::kAbs, OpKind::kSign, OpKind::kBitwiseNot, OpKind::kShrink,
                               OpKind::kIdentity};
    if (!isUnsigned(t)) ops.insert(ops.end(), {OpKind::kRelu, OpKind::kNeg});
    for (OpKind op : ops) {
      auto out = run1(op, {}, x);
      ASSERT_TRUE(out.isOk()) << out.status().toString();
    }
    ir::Attributes sh;
    sh.setFloat("lambd", 2.f);
    sh.setFloat("bias", 1.5f);
    ASSERT_TRUE(run1(OpKind::kShrink, sh, x).isOk());
  }
  auto n = run1(OpKind::kNeg, {}, makeInt32({2}, {std::numeric_limits<int32_t>::min(), 5}));
  ASSERT_TRUE(n.isOk());
  expectEqual(n->at(0), *makeInt32({2}, {std::numeric_limits<int32_t>::min(), -5}));
  auto nb = run1(OpKind::kNot, {}, makeBool({5}, {true, false, false, true, true}));
  ASSERT_TRUE(nb.isOk());
  expectEqual(nb->at(0), *makeBool({5}, {false, true, true, false, false}));
}

// Clip's bounds as run-time inputs (read on the device), constants, or absent.
TEST(GpuElementwise, ClipBounds) {
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kINT32, DataType::kUINT8}) {
    SCOPED_TRACE(dataTypeName(t));
    std::vector<double> v;
    for (int i = 0; i < 100; ++i) v.push_back(i % 20);
    auto x = fromDoubles(t, {100}, v);
    auto lo = fromDoubles(t, {}, {3});
    auto hi = fromDoubles(t, {}, {12});
    auto both =
        runOp(OpKind::kClip, {}, {OpInput::value(x), OpInput::value(lo), OpInput::value(hi)});
    ASSERT_TRUE(both.isOk()) << both.status().toString();
    std::vector<double> want;
    for (double e : v) want.push_back(std::min(std::max(e, 3.0), 12.0));
    expectCloseTo(both->at(0), {100}, want, 0, 0);
    auto onlyMax =
        runOp(OpKind::kClip, {}, {OpInput::value(x), OpInput::absent(), OpInput::constant(hi)});
    ASSERT_TRUE(onlyMax.isOk()) << onlyMax.status().toString();
    auto onlyMin = runOp(OpKind::kClip, {}, {OpInput::value(x), OpInput::constant(lo)});
    ASSERT_TRUE(onlyMin.isOk()) << onlyMin.status().toString();
    auto none = runOp(OpKind::kClip, {}, {OpInput::value(x)});
    ASSERT_TRUE(none.isOk()) << none.status().toString();
    expectEqual(none->at(0), *x);
  }
}

TEST(GpuElementwise, IntegerBinaryEdgeCases) {
  for (DataType t : kIntTypes) {
    SCOPED_TRACE(dataTypeName(t));
    std::vector<double> a, b;
    if (isUnsigned(t)) {
      a = {0, 1, 7, 200, 255, 13, 9, 100};
      b = {1, 3, 2, 7, 255, 4, 9, 1};
    } else {
      const double lo = t == DataType::kINT8    ? -128
                        : t == DataType::kINT16 ? -32768
                        : t == DataType::kINT32 ? -2147483648.0
                                                : -9223372036854775808.0;
      a = {lo, lo, -7, 7, -7, 7, 100, -1};
      b = {-1, 1, 3, -3, -3, 3, 7, -1};
    }
    auto x = fromDoubles(t, {8}, a);
    auto y = fromDoubles(t, {8}, b);
    for (OpKind op : {OpKind::kDiv, OpKind::kMod, OpKind::kAdd, OpKind::kSub, OpKind::kMul})
      ASSERT_TRUE(run2(op, x, y).isOk()) << run2(op, x, y).status().toString();
    if (dataTypeSize(t) >= 4) {
      ASSERT_TRUE(run2(OpKind::kPRelu, x, y).isOk());
    }
    ir::Attributes f;
    f.setInt("fmod", 1);
    ASSERT_TRUE(run2(OpKind::kMod, x, y, f).isOk());
    // Shifts by 0, 1, width-1, width, more, and negative amounts (signed types).
    const double bits = static_cast<double>(dataTypeSize(t) * 8);
    std::vector<double> s = {0, 1, bits - 1, bits, bits + 1, 3, 2, isUnsigned(t) ? 5.0 : -1.0};
    auto sh = fromDoubles(t, {8}, s);
    for (const char* dir : {"LEFT", "RIGHT"}) {
      ir::Attributes d;
      d.setString("direction", dir);
      ASSERT_TRUE(run2(OpKind::kBitShift, x, sh, d).isOk())
          << run2(OpKind::kBitShift, x, sh, d).status().toString();
    }
  }
  // INT8 wrap-around and truncation, exact.
  auto a8 = fromDoubles(DataType::kINT8, {4}, {-128, -7, 100, 64});
  auto b8 = fromDoubles(DataType::kINT8, {4}, {-1, 2, 100, 2});
  auto q = run2(OpKind::kDiv, a8, b8);
  ASSERT_TRUE(q.isOk());
  expectEqual(q->at(0), *fromDoubles(DataType::kINT8, {4}, {-128, -3, 1, 32}));
  auto m = run2(OpKind::kMul, a8, b8);
  ASSERT_TRUE(m.isOk());
  expectEqual(m->at(0), *fromDoubles(DataType::kINT8, {4}, {-128, -14, 16, -128}));
}

TEST(GpuElementwise, ConstantZeroDivisorIsAnError) {
  auto a = makeInt32({3}, {1, 2, 3});
  auto b = makeInt32({3}, {1, 0, 1});
  auto q = runOp(OpKind::kDiv, {}, {OpInput::value(a), OpInput::constant(b)});
  ASSERT_FALSE(q.isOk());
  EXPECT_NE(q.status().message().find("division by zero"), std::string::npos)
      << q.status().message();
}

TEST(GpuElementwise, PowExponentTypes) {
  std::mt19937 rng(16);
  for (DataType bt :
       {DataType::kFLOAT, DataType::kHALF, DataType::kDOUBLE, DataType::kINT32, DataType::kINT64}) {
    const bool fb = bt == DataType::kFLOAT || bt == DataType::kHALF || bt == DataType::kDOUBLE;
    auto base = fb ? randomTensor(bt, {3, 17}, rng, 0.1, 3) : randomTensor(bt, {3, 17}, rng, -3, 3);
    for (DataType et : {DataType::kFLOAT, DataType::kHALF, DataType::kDOUBLE, DataType::kINT32,
                        DataType::kINT64, DataType::kUINT8, DataType::kUINT64, DataType::kINT8}) {
      SCOPED_TRACE(std::string(dataTypeName(bt)) + " ^ " + dataTypeName(et));
      auto e =
          isUnsigned(et) ? randomTensor(et, {17}, rng, 0, 5) : randomTensor(et, {17}, rng, -2, 4);
      auto out = run2(OpKind::kPow, base, e);
      ASSERT_TRUE(out.isOk()) << out.status().toString();
      ASSERT_TRUE(run2(OpKind::kPow, base, randomTensor(et, {}, rng, 0, 3)).isOk());
    }
  }
  // Integer powers: wrap-around and negative exponents, exact.
  auto ib = makeInt64({5}, {2, 3, -1, 1, 2});
  auto ie = makeInt64({5}, {62, 3, -3, -5, -1});
  auto p = run2(OpKind::kPow, ib, ie);
  ASSERT_TRUE(p.isOk());
  expectEqual(p->at(0), *makeInt64({5}, {int64_t{1} << 62, 27, -1, 1, 0}));
}

TEST(GpuElementwise, WhereElementSizesAndBroadcast) {
  std::mt19937 rng(17);
  for (DataType t : {DataType::kBOOL, DataType::kHALF, DataType::kFLOAT, DataType::kINT64}) {
    SCOPED_TRACE(dataTypeName(t));
    auto c = randomTensor(DataType::kBOOL, {4, 1, 9}, rng);
    auto x = randomOf(t, {1, 3, 9}, rng);
    auto y = randomOf(t, {4, 3, 1}, rng);
    auto out = runOp(OpKind::kWhere, {}, {OpInput::value(c), OpInput::value(x), OpInput::value(y)});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    auto same =
        runOp(OpKind::kWhere, {},
              {OpInput::value(randomTensor(DataType::kBOOL, {1001}, rng)),
               OpInput::value(randomOf(t, {1001}, rng)), OpInput::value(randomOf(t, {}, rng))});
    ASSERT_TRUE(same.isOk()) << same.status().toString();
  }
  auto w = runOp(OpKind::kWhere, {},
                 {OpInput::value(makeBool({2, 1}, {true, false})),
                  OpInput::value(makeInt32({3}, {1, 2, 3})), OpInput::value(makeInt32({}, {-1}))});
  ASSERT_TRUE(w.isOk());
  expectEqual(w->at(0), *makeInt32({2, 3}, {1, 2, 3, -1, -1, -1}));
}

// Cast between every pair of types, on values that hit saturation, NaN, rounding ties and
// wrap-around. Sources are built per type from values that type can hold.
TEST(GpuElementwise, CastAllPairs) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> floats = {
      std::nan(""),  inf,     -inf,    0.0,    -0.0,  0.5,   -0.5,
      1.5,           2.5,     -2.5,    127.5,  128.0, 255.9, 256.0,
      -129.0,        65504.0, 65520.0, 1e10,   -1e10, 3e38,  2147483648.0,
      -2147483649.0, 9.3e18,  -9.3e18, 1.9e19, 1e-40, 0.1,   1.0 + 0x1p-11};
  for (DataType from : kAllTypes) {
    std::vector<double> v;
    if (from == DataType::kFLOAT || from == DataType::kDOUBLE || from == DataType::kHALF ||
        from == DataType::kBF16) {
      v = floats;
    } else if (from == DataType::kBOOL) {
      v = {0, 1, 1, 0};
    } else if (isUnsigned(from)) {
      v = {0, 1, 127, 128, 255};
      if (from != DataType::kUINT8) v.insert(v.end(), {256, 65535});
      if (from == DataType::kUINT32 || from == DataType::kUINT64)
        v.insert(v.end(), {16777217, 4294967295.0});
      if (from == DataType::kUINT64)
        v.insert(v.end(), {9007199254740993.0, 18446744073709549568.0});
    } else {
      v = {0, 1, -1, 127, -128};
      if (from != DataType::kINT8) v.insert(v.end(), {255, -32768, 32767});
      if (from == DataType::kINT32 || from == DataType::kINT64)
        v.insert(v.end(), {16777217, -2147483648.0, 65521});
      if (from == DataType::kINT64) v.insert(v.end(), {9007199254740993.0, -9223372036854775808.0});
    }
    v.resize(v.size() + 21, 1);  // past a vector width: exercises the vector path and tail
    auto x = fromDoubles(from, {static_cast<int64_t>(v.size())}, v);
    for (DataType to : kAllTypes) {
      SCOPED_TRACE(std::string(dataTypeName(from)) + " -> " + dataTypeName(to));
      ir::Attributes a;
      a.setInt("to", static_cast<int64_t>(to));
      auto out = run1(OpKind::kCast, a, x);
      ASSERT_TRUE(out.isOk()) << out.status().toString();
    }
  }
  // Float -> int saturates and maps NaN to 0; int -> int wraps.
  ir::Attributes to8;
  to8.setInt("to", static_cast<int64_t>(DataType::kINT8));
  auto s = run1(OpKind::kCast, to8, makeFloat({5}, {std::nanf(""), 1e9f, -1e9f, -2.9f, 127.9f}));
  ASSERT_TRUE(s.isOk());
  expectEqual(s->at(0), *fromDoubles(DataType::kINT8, {5}, {0, 127, -128, -2, 127}));
  auto w = run1(OpKind::kCast, to8, makeInt32({3}, {255, 256, -129}));
  ASSERT_TRUE(w.isOk());
  expectEqual(w->at(0), *fromDoubles(DataType::kINT8, {3}, {-1, 0, 127}));
}

TEST(GpuElementwise, EmptyTensors) {
  auto e = std::make_shared<ir::TensorData>(DataType::kFLOAT, std::vector<int64_t>{0, 5});
  ASSERT_TRUE(run1(OpKind::kRelu, {}, e).isOk());
  ASSERT_TRUE(run2(OpKind::kAdd, e, makeFloat({5}, {1, 2, 3, 4, 5})).isOk());
  ir::Attributes a;
  a.setInt("to", static_cast<int64_t>(DataType::kHALF));
  ASSERT_TRUE(run1(OpKind::kCast, a, e).isOk());
  ASSERT_TRUE(run1(OpKind::kIdentity, {}, e).isOk());
  auto ie = std::make_shared<ir::TensorData>(DataType::kINT32, std::vector<int64_t>{0});
  ASSERT_TRUE(run2(OpKind::kDiv, ie, makeInt32({1}, {0})).isOk());  // nothing divides by zero
}

}  // namespace
}  // namespace kiln::test
