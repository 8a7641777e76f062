// FusedAttention (internal op of the attention-layout pass; src/ir/fused_attention.h): the CPU
// kernel against (a) the conformance-tested ONNX Attention CPU kernel run on explicitly
// rearranged 4-D BHSD copies of the same logical operands (the buffers' layouts are written here
// from the op's contract, not with the kernel's helpers), (b) hand-computed values, and its
// shape function's errors on bad inputs, naming the node.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/half.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;

enum class L { kBHSD, kBSHD, kSBHD };

const char* name(L l) { return l == L::kBHSD ? "BHSD" : (l == L::kBSHD ? "BSHD" : "SBHD"); }

// The buffer dims of logical [B, H, S, D] in layout l with rank r (BHSD: always 4).
std::vector<int64_t> bufDims(L l, int64_t B, int64_t H, int64_t S, int64_t D, int r) {
  if (l == L::kBHSD) return {B, H, S, D};
  if (l == L::kBSHD)
    return r == 3 ? std::vector<int64_t>{B, S, H * D} : std::vector<int64_t>{B, S, H, D};
  return r == 3 ? std::vector<int64_t>{S, B, H * D} : std::vector<int64_t>{S, B, H, D};
}

// Flat offset of logical (b, h, s, d) in the buffer (row-major over bufDims).
int64_t offsetOf(L l, int64_t B, int64_t H, int64_t S, int64_t D, int64_t b, int64_t h, int64_t s,
                 int64_t d) {
  switch (l) {
    case L::kBHSD: return ((b * H + h) * S + s) * D + d;
    case L::kBSHD: return ((b * S + s) * H + h) * D + d;
    case L::kSBHD: return ((s * B + b) * H + h) * D + d;
  }
  return 0;
}

// A logical operand: its BHSD copy and its buffer in layout l.
struct Operand {
  ir::TensorDataPtr bhsd, buf;
};

Operand makeOperand(DataType t, L l, int r, int64_t B, int64_t H, int64_t S, int64_t D,
                    std::mt19937& rng) {
  Operand o;
  o.bhsd = randomTensor(t, {B, H, S, D}, rng);
  auto buf = std::make_shared<ir::TensorData>(t, bufDims(l, B, H, S, D, r));
  const size_t es = dataTypeSize(t);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t d = 0; d < D; ++d)
          std::memcpy(
              static_cast<char*>(buf->data()) + offsetOf(l, B, H, S, D, b, h, s, d) * es,
              static_cast<const char*>(o.bhsd->data()) + (((b * H + h) * S + s) * D + d) * es, es);
  o.buf = buf;
  return o;
}

ir::Attributes fusedAttrs(L q, L k, L v, L y, int64_t hq, int64_t hkv, float scale, int causal,
                          int yRank) {
  ir::Attributes a;
  a.setString("q_layout", name(q));
  a.setString("k_layout", name(k));
  a.setString("v_layout", name(v));
  a.setString("y_layout", name(y));
  a.setInt("q_num_heads", hq);
  a.setInt("kv_num_heads", hkv);
  a.setFloat("scale", scale);
  a.setInt("is_causal", causal);
  a.setInt("y_rank", yRank);
  return a;
}

struct Case {
  L q, k, v, y;
  int qr = 3, kr = 3, vr = 3, yr = 3;
  int64_t B = 2, Hq = 2, Hkv = 2, Sq = 3, Skv = 4, D = 4, Dv = 3;
  int causal = 0;
  int mask = 0;  // 0 none, 1 float [B,1,Sq,Skv], 2 bool [Sq,Skv], 3 float [Hq,Sq,Skv-1] (short)
  DataType t = DataType::kFLOAT;
};

// Runs FusedAttention and Attention(4-D, on the BHSD copies) and compares Y element by element.
void check(const Case& c, uint32_t seed) {
  SCOPED_TRACE(std::string("Q ") + name(c.q) + " K " + name(c.k) + " V " + name(c.v) + " Y " +
               name(c.y) + " yRank " + std::to_string(c.yr) + " mask " + std::to_string(c.mask) +
               " causal " + std::to_string(c.causal) + " " + dataTypeName(c.t));
  std::mt19937 rng(seed);
  Operand q = makeOperand(c.t, c.q, c.qr, c.B, c.Hq, c.Sq, c.D, rng);
  Operand k = makeOperand(c.t, c.k, c.kr, c.B, c.Hkv, c.Skv, c.D, rng);
  Operand v = makeOperand(c.t, c.v, c.vr, c.B, c.Hkv, c.Skv, c.Dv, rng);
  ir::TensorDataPtr mask;
  if (c.mask == 1) mask = randomTensor(c.t, {c.B, 1, c.Sq, c.Skv}, rng, -2, 2);
  if (c.mask == 2) {
    std::vector<bool> m(static_cast<size_t>(c.Sq * c.Skv));
    for (size_t i = 0; i < m.size(); ++i) m[i] = (i * 7 + 3) % 5 != 0;
    m[0] = false;  // with causal, query row 0 is then fully masked: 0
    mask = makeBool({c.Sq, c.Skv}, m);
  }
  if (c.mask == 3) mask = randomTensor(c.t, {c.Hq, c.Sq, c.Skv - 1}, rng, -2, 2);
  const float scale = 0.37f;
  std::vector<OpInput> fin = {OpInput::value(q.buf), OpInput::value(k.buf), OpInput::value(v.buf)};
  std::vector<OpInput> ain = {OpInput::value(q.bhsd), OpInput::value(k.bhsd),
                              OpInput::value(v.bhsd)};
  if (mask) {
    fin.push_back(OpInput::value(mask));
    ain.push_back(OpInput::value(mask));
  }
  auto r = runOp(OpKind::kFusedAttention,
                 fusedAttrs(c.q, c.k, c.v, c.y, c.Hq, c.Hkv, scale, c.causal, c.yr), fin);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ir::Attributes aa;
  aa.setFloat("scale", scale);
  aa.setInt("is_causal", c.causal);
  auto ref = runOp(OpKind::kAttention, aa, ain);
  ASSERT_TRUE(ref.isOk()) << ref.status().toString();
  const ir::TensorData& want = ref->at(0);  // [B, Hq, Sq, Dv]
  const std::vector<int64_t> yd = bufDims(c.y, c.B, c.Hq, c.Sq, c.Dv, c.yr);
  std::vector<double> w(static_cast<size_t>(volume(yd)));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.Hq; ++h)
      for (int64_t s = 0; s < c.Sq; ++s)
        for (int64_t d = 0; d < c.Dv; ++d)
          w[static_cast<size_t>(offsetOf(c.y, c.B, c.Hq, c.Sq, c.Dv, b, h, s, d))] =
              want.doubleAt(((b * c.Hq + h) * c.Sq + s) * c.Dv + d);
  // Both kernels compute in double and round once: equal up to that rounding.
  const double tol = c.t == DataType::kFLOAT ? 1e-6 : (c.t == DataType::kDOUBLE ? 1e-12 : 1e-3);
  EXPECT_EQ(r->at(0).dtype(), c.t);
  expectCloseTo(r->at(0), yd, w, tol, tol);
}

TEST(FusedAttention, EveryLayoutMatchesAttentionOnRearrangedOperands) {
  const L all[3] = {L::kBHSD, L::kBSHD, L::kSBHD};
  uint32_t seed = 1;
  for (L q : all)
    for (L k : all)
      for (L v : all)
        for (L y : all) {
          Case c{q, k, v, y};
          c.qr = q == L::kBHSD ? 4 : 3 + static_cast<int>(seed % 2);
          c.kr = k == L::kBHSD ? 4 : 3 + static_cast<int>((seed / 2) % 2);
          c.vr = v == L::kBHSD ? 4 : 3;
          c.yr = y == L::kBHSD ? 4 : 3 + static_cast<int>((seed / 3) % 2);
          check(c, seed++);
        }
}

TEST(FusedAttention, GqaMasksAndCausal) {
  for (int mask = 0; mask < 4; ++mask)
    for (int causal = 0; causal < 2; ++causal) {
      Case c{L::kSBHD, L::kBSHD, L::kBSHD, L::kSBHD};
      c.Hq = 4, c.Hkv = 2, c.Sq = 5, c.Skv = 5, c.mask = mask, c.causal = causal;
      check(c, 100u + static_cast<uint32_t>(mask * 2 + causal));
      // Sq != Skv (upper-left aligned causal), BHSD output.
      Case d{L::kBSHD, L::kSBHD, L::kBHSD, L::kBHSD};
      d.vr = 4, d.yr = 4, d.Hq = 6, d.Hkv = 3, d.Sq = 3, d.Skv = 6, d.mask = mask,
      d.causal = causal;
      check(d, 200u + static_cast<uint32_t>(mask * 2 + causal));
    }
}

TEST(FusedAttention, HalfBFloatAndDouble) {
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kDOUBLE}) {
    Case c{L::kBSHD, L::kBSHD, L::kBSHD, L::kBSHD};
    c.t = t, c.mask = 1;
    check(c, 300);
    Case d{L::kSBHD, L::kSBHD, L::kSBHD, L::kSBHD};
    d.t = t, d.causal = 1, d.Hq = 4, d.Hkv = 1;
    check(d, 301);
  }
}

TEST(FusedAttention, HandComputedUniformAttention) {
  // Q = 0: every score is 0, so query i averages V over the keys it sees (all of them, or
  // 0..i when causal). V in SBHD [S, B, Hkv*Dv] with v[s, b, h, d] = 100*s + 10*h + d + b/2;
  // Y in BSHD 3-D [B, Sq, Hq*Dv]; Hq = 4 query heads share Hkv = 2 (head h reads kv head h/2).
  const int64_t B = 2, Hq = 4, Hkv = 2, S = 3, D = 2, Dv = 2;
  auto q = std::make_shared<ir::TensorData>(DataType::kFLOAT, std::vector<int64_t>{B, S, Hq * D});
  std::mt19937 rng(7);
  auto k = randomTensor(DataType::kFLOAT, {B, Hkv, S, D}, rng);
  std::vector<float> vv(static_cast<size_t>(S * B * Hkv * Dv));
  for (int64_t s = 0; s < S; ++s)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < Hkv; ++h)
        for (int64_t d = 0; d < Dv; ++d)
          vv[static_cast<size_t>(((s * B + b) * Hkv + h) * Dv + d)] =
              static_cast<float>(100 * s + 10 * h + d) + 0.5f * static_cast<float>(b);
  auto v = makeFloat({S, B, Hkv * Dv}, vv);
  for (int causal = 0; causal < 2; ++causal) {
    auto r = runOp(OpKind::kFusedAttention,
                   fusedAttrs(L::kBSHD, L::kBHSD, L::kSBHD, L::kBSHD, Hq, Hkv, 1.f, causal, 3),
                   {OpInput::value(q), OpInput::value(k), OpInput::value(v)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(static_cast<size_t>(B * S * Hq * Dv));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < S; ++i)
        for (int64_t h = 0; h < Hq; ++h)
          for (int64_t d = 0; d < Dv; ++d) {
            // mean over s of 100*s: all keys 100 (s = 0,1,2); causal: 50*i.
            const double meanS = causal ? 50.0 * static_cast<double>(i) : 100.0;
            want[static_cast<size_t>(((b * S + i) * Hq + h) * Dv + d)] =
                meanS + 10.0 * static_cast<double>(h / 2) + static_cast<double>(d) +
                0.5 * static_cast<double>(b);
          }
    expectCloseTo(r->at(0), {B, S, Hq * Dv}, want);
  }
}

TEST(FusedAttention, BadInputsAreErrorsNamingTheNode) {
  std::mt19937 rng(9);
  auto q3 = randomTensor(DataType::kFLOAT, {2, 3, 8}, rng);  // BSHD, 2 heads of 4
  auto k3 = randomTensor(DataType::kFLOAT, {2, 5, 8}, rng);
  auto v3 = randomTensor(DataType::kFLOAT, {2, 5, 8}, rng);
  auto good = fusedAttrs(L::kBSHD, L::kBSHD, L::kBSHD, L::kBSHD, 2, 2, 0.5f, 0, 3);
  {
    auto r = runOp(OpKind::kFusedAttention, good,
                   {OpInput::value(q3), OpInput::value(k3), OpInput::value(v3)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(r->at(0).dims(), (std::vector<int64_t>{2, 3, 8}));
  }
  auto expectError = [&](ir::Attributes a, std::vector<OpInput> in, const char* what) {
    auto r = runOp(OpKind::kFusedAttention, a, in);
    ASSERT_FALSE(r.isOk()) << what;
    EXPECT_NE(r.status().message().find("FusedAttention"), std::string::npos)
        << what << ": " << r.status().toString();
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().toString();
  };
  const std::vector<OpInput> in = {OpInput::value(q3), OpInput::value(k3), OpInput::value(v3)};
  ir::Attributes a = good;
  a.setString("q_layout", "BHDS");
  expectError(a, in, "q_layout");
  a = good;
  a.erase("y_layout");
  expectError(a, in, "y_layout");
  a = good;
  a.setInt("q_num_heads", 3);  // 8 not divisible by 3
  a.setInt("kv_num_heads", 3);
  expectError(a, in, "divisible");
  a = good;
  a.setInt("kv_num_heads", 0);
  expectError(a, in, "kv_num_heads");
  a = good;
  a.setInt("q_num_heads", 3);
  expectError(a,
              {OpInput::value(randomTensor(DataType::kFLOAT, {2, 3, 9}, rng)), OpInput::value(k3),
               OpInput::value(v3)},
              "multiple");
  a = good;
  a.erase("scale");
  expectError(a, in, "scale");
  a = good;
  a.setInt("y_rank", 5);
  expectError(a, in, "y_rank");
  a = good;
  a.setString("y_layout", "BHSD");  // needs y_rank 4
  expectError(a, in, "y_rank");
  a = good;
  a.setString("q_layout", "BHSD");  // Q is 3-D
  expectError(a, in, "4-D");
  a = good;
  a.setInt("is_causal", 2);
  expectError(a, in, "is_causal");
  // Head sizes / batch / key lengths that do not agree.
  expectError(good,
              {OpInput::value(q3), OpInput::value(randomTensor(DataType::kFLOAT, {2, 5, 6}, rng)),
               OpInput::value(v3)},
              "head size");
  expectError(good,
              {OpInput::value(q3), OpInput::value(k3),
               OpInput::value(randomTensor(DataType::kFLOAT, {2, 4, 8}, rng))},
              "sequence length");
  expectError(good,
              {OpInput::value(q3), OpInput::value(randomTensor(DataType::kFLOAT, {3, 5, 8}, rng)),
               OpInput::value(v3)},
              "batch");
  // 4-D BSHD with the wrong number of heads.
  expectError(good,
              {OpInput::value(randomTensor(DataType::kFLOAT, {2, 3, 4, 2}, rng)),
               OpInput::value(k3), OpInput::value(v3)},
              "heads");
  // Types.
  expectError(good,
              {OpInput::value(q3), OpInput::value(randomTensor(DataType::kHALF, {2, 5, 8}, rng)),
               OpInput::value(v3)},
              "data type");
  // Masks: rank 1, not broadcastable, longer than the keys, integer.
  auto withMask = [&](ir::TensorDataPtr m) {
    return std::vector<OpInput>{OpInput::value(q3), OpInput::value(k3), OpInput::value(v3),
                                OpInput::value(m)};
  };
  expectError(good, withMask(randomTensor(DataType::kFLOAT, {5}, rng)), "rank 2 to 4");
  expectError(good, withMask(randomTensor(DataType::kFLOAT, {4, 5}, rng)), "broadcast");
  expectError(good, withMask(randomTensor(DataType::kFLOAT, {3, 6}, rng)), "longer");
  expectError(good, withMask(makeInt64({3, 5}, std::vector<int64_t>(15, 1))), "attn_mask");
}

}  // namespace
}  // namespace kiln::test
