// Helpers for per-op tests: run one op through shape inference and its CPU kernel.
//
//   auto x = randomTensor(DataType::kFLOAT, {2, 3}, rng);
//   auto out = runOp(OpKind::kRelu, {}, {OpInput::data(x)});
//   ASSERT_TRUE(out.isOk()) << out.status().toString();
//   expectClose(out->at(0), expected, 1e-6);
//
// Inputs are graph inputs (shapes bound concretely) unless given with OpInput::constant(...),
// which makes them constants (as ONNX initializers are); shape-like inputs (Reshape's shape,
// Slice's starts...) must usually be constants. Outputs are poisoned before the kernel runs so
// unwritten elements show (floats: NaN; integers: 0x5A bytes).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "ir/attributes.h"
#include "ir/op.h"
#include "ir/tensor_data.h"

namespace kiln::test {

struct OpInput {
  ir::TensorDataPtr data;  // null: absent optional input
  bool isConstant = false;
  static OpInput value(ir::TensorDataPtr d) { return {std::move(d), false}; }
  static OpInput constant(ir::TensorDataPtr d) { return {std::move(d), true}; }
  static OpInput absent() { return {nullptr, false}; }
};

struct OpResult {
  std::vector<std::shared_ptr<ir::TensorData>> outputs;
  const ir::TensorData& at(size_t i) const { return *outputs.at(i); }
};

// Runs `op` once: builds a one-node graph, infers shapes symbolically (inputs declared with
// their concrete shapes), runs the CPU kernel. Errors from inference or the kernel come back.
StatusOr<OpResult> runOp(ir::OpKind op, const ir::Attributes& attrs,
                         const std::vector<OpInput>& inputs, int numOutputs = 1);

// GPU checks: runOp also runs the op on the CUDA backend when Kiln was built with CUDA and a GPU
// is present (KILN_TEST_NO_GPU=1 turns this off) and compares with the CPU output: exact for
// integers and booleans, relative 1e-5 for float32 (1e-3 float16, 8e-3 bfloat16) with an absolute
// floor scaled by the output's largest magnitude. An op the GPU does not support is noted and
// reported at exit (KILN_GPU_STRICT=1 makes it a failure).
bool gpuTestsEnabled();
void noteGpuUnsupported(const std::string& op, const std::string& message);
void expectGpuMatchesCpu(const ir::TensorData& gpu, const ir::TensorData& cpu,
                         const std::string& op, size_t output);

// Random tensors (fixed-seed generator owned by the caller). Floats uniform in [lo, hi];
// integers uniform in [lo, hi] (rounded); bools 0/1.
std::shared_ptr<ir::TensorData> randomTensor(DataType dtype, const std::vector<int64_t>& dims,
                                             std::mt19937& rng, double lo = -1.0, double hi = 1.0);
std::shared_ptr<ir::TensorData> makeFloat(const std::vector<int64_t>& dims,
                                          const std::vector<float>& v);
std::shared_ptr<ir::TensorData> makeInt64(const std::vector<int64_t>& dims,
                                          const std::vector<int64_t>& v);
std::shared_ptr<ir::TensorData> makeInt32(const std::vector<int64_t>& dims,
                                          const std::vector<int32_t>& v);
std::shared_ptr<ir::TensorData> makeBool(const std::vector<int64_t>& dims,
                                         const std::vector<bool>& v);

// A float tensor (float32, float64, float16 or bfloat16) holding `v`, rounded once (float16 and
// bfloat16 through float32).
std::shared_ptr<ir::TensorData> makeTyped(DataType dtype, const std::vector<int64_t>& dims,
                                          const std::vector<double>& v);

// Reference attention for tests: softmax(scale Q K^T + bias) V in double over logical
// [B, H, S, D] operands (grouped heads: query head h reads key/value head h / (hq / hkv)).
// The bias: the mask (additive values, or bool 0/1 where 0 gives -inf; dims right-aligned to
// [B, H, Lq, mask length] and broadcast where 1; keys past the mask's length get -inf), then
// -inf above the diagonal when causal.
enum class AttnMask { kNone, kFloat, kBool };
struct AttentionRef {
  int64_t b = 1, hq = 1, hkv = 1, lq = 1, lkv = 1, d = 1, dv = 1;
  double scale = 1;
  bool causal = false;
  AttnMask mask = AttnMask::kNone;
  std::vector<int64_t> maskDims;
  std::vector<double> maskVals;
};
// The AttentionRef of a test case with the members b, hq, hkv, lq, lkv, d, scale (0: 1/sqrt(d)),
// causal, mask (AttnMask), maskDims and maskVals; value head size dv.
template <typename Case>
AttentionRef attentionRefOf(const Case& c, int64_t dv) {
  AttentionRef r;
  r.b = c.b, r.hq = c.hq, r.hkv = c.hkv, r.lq = c.lq, r.lkv = c.lkv, r.d = c.d, r.dv = dv;
  r.scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.d));
  r.causal = c.causal;
  r.mask = c.mask;
  r.maskDims = c.maskDims;
  r.maskVals = c.maskVals;
  return r;
}

// The mask operand of an attention test (absent for kNone): `vals` in maskType for kFloat, bool
// (nonzero: 1) for kBool.
OpInput attentionMaskInput(AttnMask mask, DataType maskType, const std::vector<int64_t>& dims,
                           const std::vector<double>& vals);
// q(b, h, i, e), k(b, hk, j, e) and v(b, hk, j, e) read the operands; y(b, h, i, e, value) gets
// every output element, except those of a row whose bias is -inf for every key (all masked),
// which are left to the caller (0).
template <typename Q, typename K, typename V, typename Y>
void referenceAttention(const AttentionRef& r, Q q, K k, V v, Y y) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  std::vector<int64_t> md(4, 1);
  for (size_t i = 0; i < r.maskDims.size(); ++i) md[4 - r.maskDims.size() + i] = r.maskDims[i];
  for (int64_t b = 0; b < r.b; ++b)
    for (int64_t h = 0; h < r.hq; ++h) {
      const int64_t hk = h / (r.hq / r.hkv);
      for (int64_t i = 0; i < r.lq; ++i) {
        std::vector<double> z(static_cast<size_t>(r.lkv));
        bool anyOpen = false;
        for (int64_t j = 0; j < r.lkv; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < r.d; ++e) dot += q(b, h, i, e) * k(b, hk, j, e);
          double bias = 0;
          if (r.mask != AttnMask::kNone) {
            if (j >= md[3]) {
              bias = kNegInf;
            } else {
              const int64_t mi = (((md[0] > 1 ? b : 0) * md[1] + (md[1] > 1 ? h : 0)) * md[2] +
                                  (md[2] > 1 ? i : 0)) *
                                     md[3] +
                                 j;
              const double m = r.maskVals[static_cast<size_t>(mi)];
              bias = r.mask == AttnMask::kBool ? (m != 0 ? 0.0 : kNegInf) : m;
            }
          }
          if (r.causal && j > i) bias = kNegInf;
          anyOpen = anyOpen || bias != kNegInf;
          z[static_cast<size_t>(j)] = dot * r.scale + bias;
        }
        if (!anyOpen) continue;  // fully masked: left to the caller
        double mx = kNegInf, sum = 0;
        for (double x : z) mx = std::max(mx, x);
        for (double& x : z) sum += x = x == kNegInf ? 0.0 : std::exp(x - mx);
        for (int64_t e = 0; e < r.dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < r.lkv; ++j)
            acc += z[static_cast<size_t>(j)] / sum * v(b, hk, j, e);
          y(b, h, i, e, acc);
        }
      }
    }
}

// Tolerances (relative, absolute) of the fused-op and GPU-shaped op tests by data type: float16
// {2e-3, 4e-3}, bfloat16 {8e-3, 2e-2}, float64 {1e-12, 1e-12}, others (float32) {1e-5, floatAtol}.
struct OpTol {
  double rtol, atol;
};
inline OpTol opTolFor(DataType t, double floatAtol = 1e-5) {
  switch (t) {
    case DataType::kHALF: return {2e-3, 4e-3};
    case DataType::kBF16: return {8e-3, 2e-2};
    case DataType::kDOUBLE: return {1e-12, 1e-12};
    default: return {1e-5, floatAtol};
  }
}

// Index helpers for references written in tests (row-major, std::vector dims).
std::vector<double> toDoubles(const ir::TensorData& t);
int64_t volume(const std::vector<int64_t>& dims);
// Row-major flat offset of `idx` in `dims`.
int64_t flatIndex(const std::vector<int64_t>& dims, const std::vector<int64_t>& idx);
// Advances an odometer over `dims`; returns false after the last index.
bool nextIndex(std::vector<int64_t>& idx, const std::vector<int64_t>& dims);

// Conv in double with ONNX's geometry (x [N, C, spatial...], w [M, C/group, k...]; strides,
// dilations and pads empty = defaults; autoPad "", "NOTSET", "VALID", "SAME_UPPER" or
// "SAME_LOWER"); b (optional) per output channel. *outDims receives the output dims.
std::vector<double> referenceConv(const ir::TensorData& x, const ir::TensorData& w,
                                  const ir::TensorData* b, int64_t group,
                                  const std::vector<int64_t>& strides,
                                  const std::vector<int64_t>& dilations,
                                  const std::vector<int64_t>& pads, const std::string& autoPad,
                                  std::vector<int64_t>* outDims);

// Elementwise comparison: |got - want| <= atol + rtol * |want| for every element, dims and
// dtype equal; failures report the first bad index. NaN matches NaN.
void expectClose(const ir::TensorData& got, const ir::TensorData& want, double rtol = 1e-5,
                 double atol = 1e-6);
// Same, against doubles (for references computed in double precision in the test).
void expectCloseTo(const ir::TensorData& got, const std::vector<int64_t>& dims,
                   const std::vector<double>& want, double rtol = 1e-5, double atol = 1e-6);
// Exact comparison (integers, bools, and data movement ops on floats).
void expectEqual(const ir::TensorData& got, const ir::TensorData& want);

}  // namespace kiln::test
