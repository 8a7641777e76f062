// Attention cases shaped for the CUDA backend's fused path (flash-attention style kernel in
// src/backends/cuda/kernels_attention.cu): no past/nonpad/softcap, one output, equal
// head sizes <= 128, float16/bfloat16/float32, mask absent / additive (Q's type or float32) /
// bool, broadcast over batch and heads, causal or not, 3-D and 4-D, sequence lengths that are
// not multiples of the 64-row tiles, fully masked rows. Each case is checked against a naive
// double-precision loop written here; runOp also compares the GPU with the CPU when a GPU is
// present (float32 1e-5, float16 1e-3, bfloat16 8e-3 relative to the output's scale).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "common/half.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Case {
  std::string name;
  DataType dtype = DataType::kHALF;
  int64_t b = 1, hq = 1, hkv = 1, lq = 1, lkv = 1, d = 64;
  bool threeD = false;
  bool causal = false;
  double scale = 0;  // 0: attribute absent (1/sqrt(D))
  // Mask: none, additive (values in maskVals, of maskType) or bool; dims right-aligned.
  using Mask = AttnMask;
  Mask mask = Mask::kNone;
  DataType maskType = DataType::kFLOAT;
  Dims maskDims;
  std::vector<double> maskVals;  // float: the values; bool: 0/1
  double lo = -1.5, hi = 1.5;    // Q/K/V range
};

// Element (b, h, i, e) of a 4-D [B, H, L, E] or 3-D [B, L, H*E] tensor.
double at(const ir::TensorData& t, bool threeD, int64_t heads, int64_t len, int64_t hs, int64_t b,
          int64_t h, int64_t i, int64_t e) {
  return threeD ? t.doubleAt((b * len + i) * heads * hs + h * hs + e)
                : t.doubleAt(((b * heads + h) * len + i) * hs + e);
}

// softmax(scale Q K^T + bias) V in double; a row whose bias is -inf everywhere gives 0.
std::vector<double> reference(const Case& c, const ir::TensorData& q, const ir::TensorData& k,
                              const ir::TensorData& v) {
  const AttentionRef r = attentionRefOf(c, c.d);
  std::vector<double> y(static_cast<size_t>(c.b * c.hq * c.lq * c.d), 0.0);
  referenceAttention(
      r,
      [&](int64_t b, int64_t h, int64_t i, int64_t e) {
        return at(q, c.threeD, c.hq, c.lq, c.d, b, h, i, e);
      },
      [&](int64_t b, int64_t h, int64_t j, int64_t e) {
        return at(k, c.threeD, c.hkv, c.lkv, c.d, b, h, j, e);
      },
      [&](int64_t b, int64_t h, int64_t j, int64_t e) {
        return at(v, c.threeD, c.hkv, c.lkv, c.d, b, h, j, e);
      },
      [&](int64_t b, int64_t h, int64_t i, int64_t e, double value) {
        const int64_t yi = c.threeD ? (b * c.lq + i) * c.hq * c.d + h * c.d + e
                                    : ((b * c.hq + h) * c.lq + i) * c.d + e;
        y[static_cast<size_t>(yi)] = value;
      });
  return y;
}

// Runs the case (CPU, and the GPU compared with it when present) and checks the CPU output
// against the reference. Returns the output for further checks.
std::shared_ptr<ir::TensorData> runCase(const Case& c, uint32_t seed) {
  SCOPED_TRACE(c.name);
  std::mt19937 rng(seed);
  const Dims qd = c.threeD ? Dims{c.b, c.lq, c.hq * c.d} : Dims{c.b, c.hq, c.lq, c.d};
  const Dims kd = c.threeD ? Dims{c.b, c.lkv, c.hkv * c.d} : Dims{c.b, c.hkv, c.lkv, c.d};
  auto q = randomTensor(c.dtype, qd, rng, c.lo, c.hi);
  auto k = randomTensor(c.dtype, kd, rng, c.lo, c.hi);
  auto v = randomTensor(c.dtype, kd, rng, c.lo, c.hi);
  std::vector<OpInput> in = {OpInput::value(q), OpInput::value(k), OpInput::value(v)};
  if (c.mask != AttnMask::kNone)
    in.push_back(attentionMaskInput(c.mask, c.maskType, c.maskDims, c.maskVals));
  ir::Attributes a;
  if (c.causal) a.setInt("is_causal", 1);
  if (c.scale > 0) a.setFloat("scale", static_cast<float>(c.scale));
  if (c.threeD) {
    a.setInt("q_num_heads", c.hq);
    a.setInt("kv_num_heads", c.hkv);
  }
  auto r = runOp(OpKind::kAttention, a, in);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  if (!r.isOk()) return nullptr;
  const std::vector<double> want = reference(c, *q, *k, *v);
  // One rounding of a double result to the output type.
  const double rtol = c.dtype == DataType::kFLOAT ? 1e-5 : c.dtype == DataType::kHALF ? 1e-3 : 8e-3;
  const Dims yd = c.threeD ? Dims{c.b, c.lq, c.hq * c.d} : Dims{c.b, c.hq, c.lq, c.d};
  expectCloseTo(r->at(0), yd, want, rtol, rtol * 1e-2);
  return r->outputs[0];
}

// BERT's additive mask [B, 1, 1, S]: 0 for tokens, -10000 for padding at the end of each
// sequence (a different length per batch), one -inf entry; no row fully masked.
std::vector<double> bertMask(int64_t b, int64_t s) {
  std::vector<double> m(static_cast<size_t>(b * s), 0.0);
  for (int64_t x = 0; x < b; ++x)
    for (int64_t j = s - 5 - 7 * x; j < s; ++j) m[static_cast<size_t>(x * s + j)] = -10000.0;
  m[3] = -kInf;
  return m;
}

TEST(GpuAttention, BertMaskedFloat16AndFloat32) {
  for (DataType t : {DataType::kHALF, DataType::kFLOAT, DataType::kBF16}) {
    Case c;
    c.name = std::string("bert ") + dataTypeName(t);
    c.dtype = t;
    c.b = 2, c.hq = c.hkv = 12, c.lq = c.lkv = 128, c.d = 64;
    c.mask = Case::Mask::kFloat;
    c.maskType = t;  // the mask in Q's type
    c.maskDims = {c.b, 1, 1, c.lkv};
    c.maskVals = bertMask(c.b, c.lkv);
    runCase(c, 501);
    if (t != DataType::kFLOAT) {
      c.name += " float32 mask";
      c.maskType = DataType::kFLOAT;
      runCase(c, 502);
    }
  }
}

TEST(GpuAttention, VitUnmaskedSequenceNotAMultipleOf64) {
  for (DataType t : {DataType::kHALF, DataType::kFLOAT}) {
    Case c;
    c.name = std::string("vit ") + dataTypeName(t);
    c.dtype = t;
    c.b = 2, c.hq = c.hkv = 12, c.lq = c.lkv = 197, c.d = 64;
    runCase(c, 503);
  }
}

TEST(GpuAttention, CausalHeadSizes) {
  // S = 100 (two query tiles, the second partial); head sizes 32, 128 and the non-power-of-two
  // 80 (zero-padded to 128 in the kernel), explicit scale on one.
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kFLOAT})
    for (int64_t d : {32, 80, 128}) {
      Case c;
      c.name = std::string("causal ") + dataTypeName(t) + " D=" + std::to_string(d);
      c.dtype = t;
      c.b = 1, c.hq = c.hkv = 3, c.lq = c.lkv = 100, c.d = d;
      c.causal = true;
      if (d == 80) c.scale = 0.2;
      runCase(c, 504 + static_cast<uint32_t>(d));
    }
}

TEST(GpuAttention, CrossAttentionAndGroupedHeads) {
  // Sq != Skv (65 queries over 150 keys, causal on too: offset 0 as in ONNX), GQA 8 -> 2.
  for (DataType t : {DataType::kHALF, DataType::kFLOAT}) {
    Case c;
    c.name = std::string("cross ") + dataTypeName(t);
    c.dtype = t;
    c.b = 2, c.hq = 8, c.hkv = 2, c.lq = 65, c.lkv = 150, c.d = 64;
    runCase(c, 510);
    c.causal = true;
    c.name += " causal";
    runCase(c, 511);
  }
}

TEST(GpuAttention, ThreeDInputsWithHeadCounts) {
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kFLOAT}) {
    Case c;
    c.name = std::string("3-D ") + dataTypeName(t);
    c.dtype = t;
    c.threeD = true;
    c.b = 2, c.hq = 4, c.hkv = 2, c.lq = 70, c.lkv = 70, c.d = 64;
    c.causal = true;
    runCase(c, 520);
  }
}

TEST(GpuAttention, BoolMaskBroadcastOverBatchAndHeads) {
  // A [S, S] bool mask (broadcast over B and H) with a random pattern, diagonal always open.
  for (DataType t : {DataType::kHALF, DataType::kFLOAT}) {
    Case c;
    c.name = std::string("bool mask ") + dataTypeName(t);
    c.dtype = t;
    c.b = 2, c.hq = c.hkv = 4, c.lq = c.lkv = 90, c.d = 32;
    c.mask = Case::Mask::kBool;
    c.maskDims = {c.lq, c.lkv};
    std::mt19937 rng(530);
    for (int64_t i = 0; i < c.lq; ++i)
      for (int64_t j = 0; j < c.lkv; ++j)
        c.maskVals.push_back(i == j || rng() % 3 != 0 ? 1.0 : 0.0);
    runCase(c, 531);
  }
}

TEST(GpuAttention, FullyMaskedRowsGiveZero) {
  // Row 5 of every head is fully masked: by a bool mask [1, 1, S, S] (all false in that row),
  // and by an additive [B, H, S, S] float mask of -inf in that row. Outputs there are exactly 0.
  const int64_t s = 70, d = 64, b = 1, h = 2;
  for (DataType t : {DataType::kHALF, DataType::kFLOAT}) {
    for (bool boolMask : {true, false}) {
      Case c;
      c.name = std::string("fully masked ") + (boolMask ? "bool " : "float ") + dataTypeName(t);
      c.dtype = t;
      c.b = b, c.hq = c.hkv = h, c.lq = c.lkv = s, c.d = d;
      c.mask = boolMask ? Case::Mask::kBool : Case::Mask::kFloat;
      c.maskType = t;
      c.maskDims = boolMask ? Dims{1, 1, s, s} : Dims{b, h, s, s};
      const int64_t reps = boolMask ? 1 : b * h;
      for (int64_t r = 0; r < reps; ++r)
        for (int64_t i = 0; i < s; ++i)
          for (int64_t j = 0; j < s; ++j) {
            const bool open = i != 5 && (j % 7 != 3);
            c.maskVals.push_back(boolMask ? (open ? 1.0 : 0.0) : (open ? 0.25 : -kInf));
          }
      auto y = runCase(c, 540);
      ASSERT_NE(y, nullptr);
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t e = 0; e < d; ++e) EXPECT_EQ(y->doubleAt(((0 * h + hh) * s + 5) * d + e), 0.0);
    }
  }
}

TEST(GpuAttention, MaskShorterThanKeysAndOneRowQueries) {
  // A mask over 100 of 130 keys (the rest are masked, Attention's padding rule), and a decode
  // step (1 query over 130 keys).
  for (DataType t : {DataType::kHALF, DataType::kFLOAT}) {
    Case c;
    c.name = std::string("short mask ") + dataTypeName(t);
    c.dtype = t;
    c.b = 2, c.hq = c.hkv = 2, c.lq = 1, c.lkv = 130, c.d = 64;
    c.mask = Case::Mask::kFloat;
    c.maskType = DataType::kFLOAT;
    c.maskDims = {c.b, 1, 1, 100};
    std::mt19937 rng(550);
    for (int64_t i = 0; i < c.b * 100; ++i)
      c.maskVals.push_back(static_cast<double>(rng() % 5) * -0.5);
    runCase(c, 551);
  }
}

}  // namespace
}  // namespace kiln::test
