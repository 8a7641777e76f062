// float8 / float4 / float8e8m0 conversions (src/common/small_float.h) against values produced
// offline by ml_dtypes and ONNX's reference (gen_small_float_ref.py -> small_float_ref.inc), plus
// hand-checked values from the ONNX spec.
#include "common/small_float.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kiln {
namespace {

struct EncodeCase {
  uint32_t in;
  uint8_t sat, nonsat;  // expected codes with saturate=1 / saturate=0
};
struct E8M0Case {
  uint32_t in;
  uint8_t codes[6];  // up, down, nearest with saturate=1, then with saturate=0
};

#include "small_float_ref.inc"

std::string hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", v);
  return b;
}

// Every code decodes to the reference float (NaN for NaN codes).
template <size_t N>
void checkDecode(DataType t, const uint32_t (&ref)[N]) {
  for (uint32_t c = 0; c < N; ++c) {
    const float got = smallFloatToFloat(t, static_cast<uint8_t>(c));
    const float want = bitsFloat(ref[c]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << dataTypeName(t) << " code " << hex(c) << " got " << got;
    } else {
      EXPECT_EQ(floatBits(got), ref[c])
          << dataTypeName(t) << " code " << hex(c) << " got " << got << " want " << want;
    }
  }
}

// Codes are equal, or both are NaN codes of type t.
bool sameCode(DataType t, uint8_t a, uint8_t b) {
  return a == b || (std::isnan(smallFloatToFloat(t, a)) && std::isnan(smallFloatToFloat(t, b)));
}

template <size_t N>
void checkEncode(DataType t, const EncodeCase (&cases)[N]) {
  int failures = 0;
  for (const EncodeCase& c : cases) {
    const float x = bitsFloat(c.in);
    const uint8_t s = floatToSmallFloat(t, x, true), u = floatToSmallFloat(t, x, false);
    if (!sameCode(t, s, c.sat) && failures++ < 10)
      ADD_FAILURE() << dataTypeName(t) << " saturate=1 x=" << x << " (" << hex(c.in) << "): got "
                    << hex(s) << " want " << hex(c.sat);
    if (!sameCode(t, u, c.nonsat) && failures++ < 10)
      ADD_FAILURE() << dataTypeName(t) << " saturate=0 x=" << x << " (" << hex(c.in) << "): got "
                    << hex(u) << " want " << hex(c.nonsat);
  }
  EXPECT_EQ(failures, 0);
  EXPECT_GT(N, 500u);  // the table covers every value, tie and neighbour
}

TEST(SmallFloat, DecodeAllCodesMatchMlDtypes) {
  checkDecode(DataType::kFP8E4M3FN, kE4M3FNDecode);
  checkDecode(DataType::kFP8E4M3FNUZ, kE4M3FNUZDecode);
  checkDecode(DataType::kFP8E5M2, kE5M2Decode);
  checkDecode(DataType::kFP8E5M2FNUZ, kE5M2FNUZDecode);
  checkDecode(DataType::kFP4E2M1, kE2M1Decode);
  checkDecode(DataType::kFP8E8M0, kE8M0Decode);
}

TEST(SmallFloat, EncodeMatchesReferences) {
  checkEncode(DataType::kFP8E4M3FN, kE4M3FNEncode);
  checkEncode(DataType::kFP8E4M3FNUZ, kE4M3FNUZEncode);
  checkEncode(DataType::kFP8E5M2, kE5M2Encode);
  checkEncode(DataType::kFP8E5M2FNUZ, kE5M2FNUZEncode);
}

TEST(SmallFloat, Float4MatchesMlDtypes) {
  int failures = 0;
  for (const EncodeCase& c : kE2M1Encode) {
    const float x = bitsFloat(c.in);
    for (bool sat : {true, false}) {  // float4 always saturates
      const uint8_t got = floatToSmallFloat(DataType::kFP4E2M1, x, sat);
      if (got != c.sat && failures++ < 10)
        ADD_FAILURE() << "float4e2m1 x=" << x << ": got " << hex(got) << " want " << hex(c.sat);
    }
  }
  EXPECT_EQ(failures, 0);
}

// Every finite code survives decode -> encode (both saturate modes).
TEST(SmallFloat, RoundTripEveryFiniteCode) {
  for (DataType t : {DataType::kFP8E4M3FN, DataType::kFP8E4M3FNUZ, DataType::kFP8E5M2,
                     DataType::kFP8E5M2FNUZ, DataType::kFP8E8M0, DataType::kFP4E2M1}) {
    const int n = t == DataType::kFP4E2M1 ? 16 : 256;
    for (int c = 0; c < n; ++c) {
      const float v = smallFloatToFloat(t, static_cast<uint8_t>(c));
      if (std::isnan(v) || std::isinf(v)) continue;
      for (bool sat : {true, false})
        EXPECT_EQ(floatToSmallFloat(t, v, sat, E8M0Rounding::kNearest), c)
            << dataTypeName(t) << " code " << hex(static_cast<uint32_t>(c)) << " value " << v;
    }
  }
}

// Hand-checked values (ONNX float8 / float4 specs).
TEST(SmallFloat, HandCheckedValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Maxima.
  EXPECT_EQ(smallFloatToFloat(DataType::kFP8E4M3FN, 0x7e), 448.0f);
  EXPECT_EQ(smallFloatToFloat(DataType::kFP8E4M3FNUZ, 0x7f), 240.0f);
  EXPECT_EQ(smallFloatToFloat(DataType::kFP8E5M2, 0x7b), 57344.0f);
  EXPECT_EQ(smallFloatToFloat(DataType::kFP8E5M2FNUZ, 0x7f), 57344.0f);
  EXPECT_EQ(smallFloatToFloat(DataType::kFP4E2M1, 0x7), 6.0f);
  // float4 values 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives.
  const float fp4[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int c = 0; c < 8; ++c) {
    EXPECT_EQ(smallFloatToFloat(DataType::kFP4E2M1, static_cast<uint8_t>(c)), fp4[c]);
    EXPECT_EQ(smallFloatToFloat(DataType::kFP4E2M1, static_cast<uint8_t>(c | 8)), -fp4[c]);
  }
  // FNUZ: 0x80 is the only NaN; -0 becomes +0.
  EXPECT_TRUE(std::isnan(smallFloatToFloat(DataType::kFP8E4M3FNUZ, 0x80)));
  EXPECT_TRUE(std::isnan(smallFloatToFloat(DataType::kFP8E5M2FNUZ, 0x80)));
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FNUZ, -0.0f, true), 0x00);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FNUZ, nan, true), 0x80);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E5M2FNUZ, -inf, false), 0x80);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, -0.0f, true), 0x80);
  // Saturation of infinities and overflow.
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, inf, true), 0x7e);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, -inf, true), 0xfe);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, inf, false), 0x7f);    // NaN
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, -1e6f, false), 0xff);  // -NaN
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E5M2, 1e6f, true), 0x7b);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E5M2, 1e6f, false), 0x7c);  // inf
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E5M2, -inf, false), 0xfc);
  // Rounding to nearest even: 464 is halfway between 448 (mantissa 110) and 480 (would be 111 =
  // NaN): ties to 448; just above it overflows.
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, 464.0f, false), 0x7e);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, 465.0f, false), 0x7f);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, 465.0f, true), 0x7e);
  // 1.0625 is halfway between 1 (0x38) and 1.125 (0x39): even -> 1; 1.1875 -> 1.25 (0x3a).
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, 1.0625f, true), 0x38);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, 1.1875f, true), 0x3a);
  // Subnormal ties: e4m3fn's smallest subnormal is 2^-9; 2^-10 ties to 0, 3 * 2^-10 to 2^-8.
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, std::ldexp(1.0f, -10), true), 0x00);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP8E4M3FN, std::ldexp(3.0f, -10), true), 0x02);
  // float4: ties to even (0.25 -> 0, 0.75 -> 1, 2.5 -> 2, 3.5 -> 4, 5 -> 4), saturation, and NaN
  // -> +6 per ONNX's float4 spec (ml_dtypes and the ONNX test data give -0 instead).
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, 0.25f, false), 0x0);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, 0.75f, false), 0x2);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, 2.5f, false), 0x4);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, -3.5f, false), 0xe);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, 5.0f, false), 0x6);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, 1e9f, false), 0x7);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, -inf, false), 0xf);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, nan, false), 0x7);
  EXPECT_EQ(floatToSmallFloat(DataType::kFP4E2M1, -0.0f, false), 0x8);
}

TEST(SmallFloat, E8M0MatchesOnnxReference) {
  const E8M0Rounding modes[3] = {E8M0Rounding::kUp, E8M0Rounding::kDown, E8M0Rounding::kNearest};
  int failures = 0;
  for (const E8M0Case& c : kE8M0Encode) {
    const float x = bitsFloat(c.in);
    for (int k = 0; k < 6; ++k) {
      const uint8_t got = floatToE8M0(x, k < 3, modes[k % 3]);
      if (got != c.codes[k] && failures++ < 10)
        ADD_FAILURE() << "e8m0 x=" << x << " (" << hex(c.in) << ") mode " << k % 3
                      << " saturate=" << (k < 3) << ": got " << hex(got) << " want "
                      << hex(c.codes[k]);
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_GT(std::size(kE8M0Encode), 1000u);
}

// ONNX Cast spec table for e8m0 (saturate + up; non-saturate + nearest) and the suite's values.
TEST(SmallFloat, E8M0Specials) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(floatToE8M0(0.0f, true, E8M0Rounding::kUp), 0x00);
  EXPECT_EQ(floatToE8M0(0.0f, false, E8M0Rounding::kNearest), 0xff);
  EXPECT_EQ(floatToE8M0(nan, true, E8M0Rounding::kUp), 0xff);
  EXPECT_EQ(floatToE8M0(inf, true, E8M0Rounding::kUp), 0xfe);
  EXPECT_EQ(floatToE8M0(inf, false, E8M0Rounding::kNearest), 0xff);
  EXPECT_EQ(floatToE8M0(3e38f, true, E8M0Rounding::kUp), 0xfe);        // > 2^127 -> max
  EXPECT_EQ(floatToE8M0(3e38f, false, E8M0Rounding::kNearest), 0xff);  // rounds to 2^128
  EXPECT_EQ(floatToE8M0(1e-40f, true, E8M0Rounding::kNearest), 0x00);  // < 2^-127 -> min
  EXPECT_EQ(floatToE8M0(1e-40f, false, E8M0Rounding::kNearest), 0xff);
  EXPECT_EQ(floatToE8M0(1e-40f, false, E8M0Rounding::kUp), 0xff);    // up to 2^-132: below
  EXPECT_EQ(floatToE8M0(5e-39f, false, E8M0Rounding::kUp), 0x00);    // up to 2^-127: in range
  EXPECT_EQ(floatToE8M0(5e-39f, false, E8M0Rounding::kDown), 0xff);  // down to 2^-128: below
  EXPECT_EQ(floatToE8M0(-4.0f, true, E8M0Rounding::kUp), 0x81);      // sign ignored (|x|)
  // test_cast_e8m0_FLOAT_to_FLOAT8E8M0: 0.124 -> 2^-3, 0.25 -> 2^-2, 1.1 -> 2 (round up).
  EXPECT_EQ(floatToE8M0(0.124f, true, E8M0Rounding::kUp), 0x7c);
  EXPECT_EQ(floatToE8M0(0.25f, true, E8M0Rounding::kUp), 0x7d);
  EXPECT_EQ(floatToE8M0(1.1f, true, E8M0Rounding::kUp), 0x80);
  EXPECT_EQ(floatToE8M0(1.1f, true, E8M0Rounding::kDown), 0x7f);
  EXPECT_EQ(floatToE8M0(1.5f, true, E8M0Rounding::kNearest), 0x80);  // ties up
  EXPECT_EQ(e8m0ToFloat(0x00), std::ldexp(1.0f, -127));
  EXPECT_EQ(e8m0ToFloat(0xfe), std::ldexp(1.0f, 127));
}

TEST(SmallFloat, SubByteIntegers) {
  EXPECT_EQ(static_cast<int8_t>(wrapToSubByte(DataType::kINT4, -9)), 7);
  EXPECT_EQ(static_cast<int8_t>(wrapToSubByte(DataType::kINT4, 8)), -8);
  EXPECT_EQ(static_cast<int8_t>(wrapToSubByte(DataType::kINT4, -1)), -1);
  EXPECT_EQ(wrapToSubByte(DataType::kUINT4, -1), 15);
  EXPECT_EQ(wrapToSubByte(DataType::kUINT4, 17), 1);
  EXPECT_EQ(static_cast<int8_t>(wrapToSubByte(DataType::kINT2, 3)), -1);
  EXPECT_EQ(static_cast<int8_t>(wrapToSubByte(DataType::kINT2, 2)), -2);
  EXPECT_EQ(wrapToSubByte(DataType::kUINT2, -3), 1);
  int64_t lo = 0, hi = 0;
  subByteRange(DataType::kINT4, &lo, &hi);
  EXPECT_EQ(lo, -8);
  EXPECT_EQ(hi, 7);
  subByteRange(DataType::kUINT2, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 3);
  for (DataType t : {DataType::kFP8E4M3FN, DataType::kINT4, DataType::kUINT2, DataType::kFP4E2M1})
    EXPECT_EQ(dataTypeSize(t), 1u) << dataTypeName(t);  // stored unpacked
  DataType parsed = DataType::kFLOAT;
  EXPECT_TRUE(parseDataType("float8e4m3fn", &parsed));
  EXPECT_EQ(parsed, DataType::kFP8E4M3FN);
  EXPECT_TRUE(parseDataType("int2", &parsed));
  EXPECT_EQ(parsed, DataType::kINT2);
}

}  // namespace
}  // namespace kiln
