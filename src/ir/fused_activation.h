// The activation a fused layer applies to its result (FusedMatMul, FusedConv, ...): one
// definition shared by the fusion passes, the CPU kernels and the CUDA kernels, so that every
// backend computes the same function.
//
// Attributes of a fused layer: activation (string, one of the names below, "" = none),
// activation_alpha and activation_beta (floats; their meaning depends on the activation):
//
//   ""           y = x
//   "Relu"       y = max(0, x)
//   "LeakyRelu"  y = x < 0 ? alpha * x : x
//   "Clip"       y = min(max(x, alpha), beta)          (Relu6: alpha 0, beta 6)
//   "Sigmoid"    y = 1 / (1 + exp(-x))
//   "Tanh"       y = tanh(x)
//   "Gelu"       y = x/2 * (1 + erf(x / sqrt(2)))
//   "GeluTanh"   y = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
//   "HardSwish"  y = x * max(0, min(1, x / 6 + 0.5))
//   "Silu"       y = x * sigmoid(x)                     (Swish with beta 1)
//
// applyFusedActivation computes in the type it is given (float for float32/float16/bfloat16
// data, double on the CPU where the kernel computes in double) and compiles for the host and,
// under nvcc, for the device.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "ir/attributes.h"

#if defined(__CUDACC__)
#define KILN_FUSED_ACT_HD __host__ __device__
#else
#define KILN_FUSED_ACT_HD
#endif

namespace kiln::ir {

enum class FusedActivation : uint8_t {
  kNone = 0,
  kRelu,
  kLeakyRelu,
  kClip,
  kSigmoid,
  kTanh,
  kGelu,
  kGeluTanh,
  kHardSwish,
  kSilu,
};

struct FusedActivationParams {
  FusedActivation kind = FusedActivation::kNone;
  float alpha = 0.f;
  float beta = 0.f;
};

// The attribute spelling of `kind` ("" for kNone).
const char* fusedActivationName(FusedActivation kind);

// Reads activation / activation_alpha / activation_beta; an unknown name is an error that
// lists the known ones.
StatusOr<FusedActivationParams> parseFusedActivation(const Attributes& attrs);

// Writes the three attributes (activation_alpha/beta only where the activation uses them).
void setFusedActivation(Attributes& attrs, const FusedActivationParams& p);

template <typename T>
KILN_FUSED_ACT_HD inline T applyFusedActivation(FusedActivation kind, T alpha, T beta, T x) {
  using std::erf;
  using std::exp;
  using std::tanh;
  switch (kind) {
    case FusedActivation::kNone: return x;
    case FusedActivation::kRelu: return x < T(0) ? T(0) : x;  // NaN stays NaN
    case FusedActivation::kLeakyRelu: return x < T(0) ? alpha * x : x;
    case FusedActivation::kClip: return x < alpha ? alpha : (beta < x ? beta : x);
    case FusedActivation::kSigmoid: return T(1) / (T(1) + exp(-x));
    case FusedActivation::kTanh: return tanh(x);
    case FusedActivation::kGelu:
      return T(0.5) * x * (T(1) + erf(x * T(0.70710678118654752440084436210485)));
    case FusedActivation::kGeluTanh: {
      const T inner = T(0.79788456080286535587989211986876) * (x + T(0.044715) * x * x * x);
      return x / (T(1) + exp(T(-2) * inner));  // x/2 * (1 + tanh(y)) = x * sigmoid(2y)
    }
    case FusedActivation::kHardSwish: {
      T g = x / T(6) + T(0.5);
      g = g < T(0) ? T(0) : (T(1) < g ? T(1) : g);
      return x * g;
    }
    case FusedActivation::kSilu: return x / (T(1) + exp(-x));
  }
  return x;
}

}  // namespace kiln::ir
