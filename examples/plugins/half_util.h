// IEEE 754 binary16 <-> binary32 for the example plugins' float16 paths (plugins link nothing
// from Kiln, so they carry their own conversion).
//
// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Normal values are
// 2^(e-15) * 1.m, subnormals (e = 0) are 2^-24 * m, e = 31 is inf/NaN. Float -> half rounds to
// nearest, ties to even, and overflows to inf from 65520 on (the midpoint above 65504).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace kiln_examples {

inline float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float f = static_cast<float>(mantissa) * 5.9604644775390625e-08f;  // m * 2^-24
    return sign ? -f : f;
  }
  uint32_t bits;
  if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);  // rebias 15 -> 127
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude >= 0x7f800000u)  // inf, NaN (kept quiet)
    return static_cast<uint16_t>(sign | (magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520
  if (magnitude < 0x38800000u) {
    // Below 2^-14: a subnormal half, m = round(|f| * 2^24); the scaling is exact, and
    // nearbyint rounds ties to even. m = 0x400 is the smallest normal, encoded the same way.
    float a;
    std::memcpy(&a, &magnitude, sizeof a);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  // Normal: rebias 127 -> 15 and drop 13 mantissa bits, rounding to nearest even; a carry out
  // of the mantissa correctly increments the exponent.
  uint32_t h = (((magnitude >> 23) - 112u) << 10) | ((magnitude & 0x7fffffu) >> 13);
  const uint32_t rest = magnitude & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

}  // namespace kiln_examples
