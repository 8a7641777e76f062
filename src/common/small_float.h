// Low-precision element types: exact float32 <-> float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz),
// float8e8m0 and float4e2m1 conversions, and the sub-byte integer helpers (int4/uint4/int2/uint2).
// Table-free bit arithmetic; the semantics are ONNX's (Cast, QuantizeLinear):
//
//   float8 (round to nearest even, after which a magnitude above the format's max overflows):
//                      e4m3fn        e4m3fnuz     e5m2          e5m2fnuz
//     max finite       448 (0x7e)    240 (0x7f)   57344 (0x7b)  57344 (0x7f)
//     NaN              S.1111.111    0x80 only    S.11111.xx    0x80 only (xx != 0; Kiln
//                                                               writes S.11111.10)
//     -0               0x80          +0           0x80          +0
//     saturate=1:  +-inf and overflow -> +-max finite; NaN -> NaN.
//     saturate=0:  overflow and +-inf -> +-inf (e5m2), +-NaN (e4m3fn), NaN 0x80 (fnuz).
//   float4e2m1 (codes S.EE.M, values 0, 0.5, 1, 1.5, 2, 3, 4, 6; no inf or NaN): round to
//     nearest even, always saturating: |x| > 6 and +-inf -> +-6; NaN -> +6 (ONNX's float4 spec).
//   float8e8m0 (2^(code - 127), code 0xFF = NaN, no sign, no zero): |x| rounded to a power of
//     two by `E8M0Rounding` (kUp: the smallest power >= |x|; kDown: the largest <= |x|;
//     kNearest: the nearer one, ties (|x| = 1.5 * 2^e) up). A result outside [2^-127, 2^127] is
//     out of range: saturate=1 clamps it (so 0 -> 2^-127 and +inf -> 2^127), saturate=0 gives
//     NaN. NaN -> NaN. ONNX leaves negative inputs undefined; Kiln uses |x|.
//
// Sub-byte integers are stored unpacked, one per byte (see include/kiln/types.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/half.h"
#include "kiln/types.h"

// The case labels of every low-precision DataType: KILN_CASE_LOW_PRECISION_TYPES (kiln/types.h).

namespace kiln {

// A float8/float4 format, described by its field widths and special-value convention.
struct MiniFloatFormat {
  enum Special : uint8_t {
    kIeee,    // all-ones exponent: inf (mantissa 0) or NaN (e5m2)
    kFinite,  // no inf; all-ones exponent and mantissa is NaN (e4m3fn)
    kFnuz,    // no inf, no -0; the single NaN is 0x80
    kNoNan,   // no inf, no NaN (e2m1)
  };
  int expBits;
  int mantBits;
  int bias;
  Special special;
  uint8_t maxCode;  // magnitude code of the largest finite value
};

inline constexpr MiniFloatFormat kFormatE4M3FN{4, 3, 7, MiniFloatFormat::kFinite, 0x7e};
inline constexpr MiniFloatFormat kFormatE4M3FNUZ{4, 3, 8, MiniFloatFormat::kFnuz, 0x7f};
inline constexpr MiniFloatFormat kFormatE5M2{5, 2, 15, MiniFloatFormat::kIeee, 0x7b};
inline constexpr MiniFloatFormat kFormatE5M2FNUZ{5, 2, 16, MiniFloatFormat::kFnuz, 0x7f};
inline constexpr MiniFloatFormat kFormatE2M1{2, 1, 1, MiniFloatFormat::kNoNan, 0x7};

// Decodes a code of format f (exact: every value is a float32).
inline float miniFloatToFloat(const MiniFloatFormat& f, uint8_t code) {
  const int bits = 1 + f.expBits + f.mantBits;
  const uint32_t signBit = 1u << (bits - 1);
  const uint32_t mag = code & (signBit - 1u);
  const bool neg = (code & signBit) != 0;
  const uint32_t expField = mag >> f.mantBits;
  const uint32_t mant = mag & ((1u << f.mantBits) - 1u);
  const uint32_t expMax = (1u << f.expBits) - 1u;
  switch (f.special) {
    case MiniFloatFormat::kFnuz:
      if (code == signBit) return std::numeric_limits<float>::quiet_NaN();
      break;
    case MiniFloatFormat::kFinite:
      if (mag == signBit - 1u)
        return neg ? -std::numeric_limits<float>::quiet_NaN()
                   : std::numeric_limits<float>::quiet_NaN();
      break;
    case MiniFloatFormat::kIeee:
      if (expField == expMax) {
        if (mant == 0)
          return neg ? -std::numeric_limits<float>::infinity()
                     : std::numeric_limits<float>::infinity();
        return neg ? -std::numeric_limits<float>::quiet_NaN()
                   : std::numeric_limits<float>::quiet_NaN();
      }
      break;
    case MiniFloatFormat::kNoNan: break;
  }
  // value = significand * 2^(exponent - mantBits), significand with its implicit bit.
  const int e = expField == 0 ? 1 - f.bias : static_cast<int>(expField) - f.bias;
  const uint32_t sig = expField == 0 ? mant : (mant | (1u << f.mantBits));
  const float v = std::ldexp(static_cast<float>(sig), e - f.mantBits);
  return neg ? -v : v;
}

// float32 -> format f, round to nearest even; `saturate` as in ONNX Cast (see the top).
inline uint8_t floatToMiniFloat(const MiniFloatFormat& f, float x, bool saturate) {
  const int bits = 1 + f.expBits + f.mantBits;
  const uint32_t signBit = 1u << (bits - 1);
  const uint32_t xb = floatBits(x);
  const bool neg = (xb >> 31) != 0;
  const uint32_t sign = neg ? signBit : 0u;
  const uint32_t absx = xb & 0x7fffffffu;
  const uint32_t expMax = (1u << f.expBits) - 1u;
  // The codes a NaN and an overflow produce.
  uint32_t nanCode = 0, overflowCode = 0;
  switch (f.special) {
    case MiniFloatFormat::kIeee:  // quiet NaN: top mantissa bit set
      nanCode = sign | (expMax << f.mantBits) | (1u << (f.mantBits - 1));
      overflowCode = sign | (expMax << f.mantBits);  // inf
      break;
    case MiniFloatFormat::kFinite:
      nanCode = sign | (signBit - 1u);
      overflowCode = nanCode;
      break;
    case MiniFloatFormat::kFnuz:
      nanCode = signBit;
      overflowCode = signBit;
      break;
    case MiniFloatFormat::kNoNan:
      nanCode = f.maxCode;  // NaN -> +max (ONNX float4 spec)
      overflowCode = sign | f.maxCode;
      saturate = true;
      break;
  }
  if (absx > 0x7f800000u) return static_cast<uint8_t>(nanCode);
  if (absx == 0x7f800000u)
    return static_cast<uint8_t>(saturate ? (sign | f.maxCode) : overflowCode);
  const int fe = static_cast<int>(absx >> 23);  // biased float32 exponent
  // float32 subnormals (< 2^-126) are far below half the smallest float8 subnormal: they and
  // zeros round to zero.
  if (fe == 0) return static_cast<uint8_t>(f.special == MiniFloatFormat::kFnuz ? 0u : sign);
  const int e = fe - 127;                               // x = sig * 2^(e - 23)
  const uint32_t sig = (absx & 0x7fffffu) | 0x800000u;  // 24 bits with the implicit one
  const int emin = 1 - f.bias;                          // smallest normal exponent
  // Keep mantBits fraction bits at exponent max(e, emin): drop `shift` low bits of sig.
  int shift = 23 - f.mantBits + (e < emin ? emin - e : 0);
  uint32_t q;
  if (shift > 25) {
    q = 0;  // below half the smallest subnormal
  } else {
    q = sig >> shift;
    const uint32_t rem = sig & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
  }
  // q holds the significand (with its implicit bit when normal); a carry out of the mantissa
  // moves into the exponent field by plain addition.
  const int64_t mag =
      (e < emin) ? static_cast<int64_t>(q)
                 : (static_cast<int64_t>(e - emin) << f.mantBits) + static_cast<int64_t>(q);
  if (mag > static_cast<int64_t>(f.maxCode))
    return static_cast<uint8_t>(saturate ? (sign | f.maxCode) : overflowCode);
  if (mag == 0 && f.special == MiniFloatFormat::kFnuz) return 0;
  return static_cast<uint8_t>(sign | static_cast<uint32_t>(mag));
}

enum class E8M0Rounding { kUp, kDown, kNearest };

inline float e8m0ToFloat(uint8_t code) {
  if (code == 0xff) return std::numeric_limits<float>::quiet_NaN();
  return std::ldexp(1.0f, static_cast<int>(code) - 127);
}

inline uint8_t floatToE8M0(float x, bool saturate, E8M0Rounding mode) {
  if (std::isnan(x)) return 0xff;
  const float a = std::fabs(x);
  int k;  // the chosen power of two's exponent
  if (std::isinf(a)) {
    k = 1000;
  } else if (a == 0.0f) {
    k = -1000;
  } else {
    int e;
    const float m = std::frexp(a, &e) * 2.0f;  // a = m * 2^(e-1), m in [1, 2), exact
    k = e - 1;
    if (mode == E8M0Rounding::kUp && m > 1.0f) ++k;
    if (mode == E8M0Rounding::kNearest && m >= 1.5f) ++k;
  }
  if (k < -127) return saturate ? 0x00 : 0xff;
  if (k > 127) return saturate ? 0xfe : 0xff;
  return static_cast<uint8_t>(k + 127);
}

// The float-like low-precision types (decoded to float32 exactly).
inline bool isSmallFloatType(DataType t) {
  return t == DataType::kFP8E4M3FN || t == DataType::kFP8E4M3FNUZ || t == DataType::kFP8E5M2 ||
         t == DataType::kFP8E5M2FNUZ || t == DataType::kFP8E8M0 || t == DataType::kFP4E2M1;
}
// The sub-byte integer types (stored one per byte: INT4/INT2 as int8, UINT4/UINT2 as uint8).
inline bool isSubByteIntType(DataType t) {
  return t == DataType::kINT4 || t == DataType::kUINT4 || t == DataType::kINT2 ||
         t == DataType::kUINT2;
}
inline bool isLowPrecisionType(DataType t) { return isSmallFloatType(t) || isSubByteIntType(t); }

// Bits per element of a sub-byte integer type (4 or 2), 0 otherwise; fp4 counts as 4.
inline int subByteBits(DataType t) {
  if (t == DataType::kINT4 || t == DataType::kUINT4 || t == DataType::kFP4E2M1) return 4;
  if (t == DataType::kINT2 || t == DataType::kUINT2) return 2;
  return 0;
}
inline bool isSignedSubByte(DataType t) { return t == DataType::kINT4 || t == DataType::kINT2; }

// [lo, hi] of a sub-byte integer type.
inline void subByteRange(DataType t, int64_t* lo, int64_t* hi) {
  const int b = subByteBits(t);
  if (isSignedSubByte(t)) {
    *lo = -(int64_t{1} << (b - 1));
    *hi = (int64_t{1} << (b - 1)) - 1;
  } else {
    *lo = 0;
    *hi = (int64_t{1} << b) - 1;
  }
}

// The low `bits` bits of v as a value of the sub-byte type t (two's complement wrap, as ONNX's
// integer -> narrower integer Cast), in its unpacked storage byte.
inline uint8_t wrapToSubByte(DataType t, int64_t v) {
  const int b = subByteBits(t);
  const uint32_t low = static_cast<uint32_t>(static_cast<uint64_t>(v) & ((1u << b) - 1u));
  if (isSignedSubByte(t) && (low >> (b - 1)) != 0) return static_cast<uint8_t>(low | (0xffu << b));
  return static_cast<uint8_t>(low);
}

// The stored byte of a small-float type decoded to float32; `t` must be isSmallFloatType.
inline float smallFloatToFloat(DataType t, uint8_t code) {
  switch (t) {
    case DataType::kFP8E4M3FN: return miniFloatToFloat(kFormatE4M3FN, code);
    case DataType::kFP8E4M3FNUZ: return miniFloatToFloat(kFormatE4M3FNUZ, code);
    case DataType::kFP8E5M2: return miniFloatToFloat(kFormatE5M2, code);
    case DataType::kFP8E5M2FNUZ: return miniFloatToFloat(kFormatE5M2FNUZ, code);
    case DataType::kFP8E8M0: return e8m0ToFloat(code);
    case DataType::kFP4E2M1:
      return miniFloatToFloat(kFormatE2M1, static_cast<uint8_t>(code & 0xfu));
    default: return std::numeric_limits<float>::quiet_NaN();
  }
}

// float32 -> the stored byte of small-float type t (`saturate` and `e8m0` as above).
inline uint8_t floatToSmallFloat(DataType t, float x, bool saturate,
                                 E8M0Rounding e8m0 = E8M0Rounding::kUp) {
  switch (t) {
    case DataType::kFP8E4M3FN: return floatToMiniFloat(kFormatE4M3FN, x, saturate);
    case DataType::kFP8E4M3FNUZ: return floatToMiniFloat(kFormatE4M3FNUZ, x, saturate);
    case DataType::kFP8E5M2: return floatToMiniFloat(kFormatE5M2, x, saturate);
    case DataType::kFP8E5M2FNUZ: return floatToMiniFloat(kFormatE5M2FNUZ, x, saturate);
    case DataType::kFP8E8M0: return floatToE8M0(x, saturate, e8m0);
    case DataType::kFP4E2M1: return floatToMiniFloat(kFormatE2M1, x, true);
    default: return 0;
  }
}

}  // namespace kiln
