// Transformer and quantization ops: RMSNormalization, Attention, RotaryEmbedding, GridSample,
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, ConvInteger,
// QLinearMatMul, QLinearConv, against double-precision loops written here, hand-computed values,
// and (GridSample) values produced offline with onnx.reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <map>
#include <string>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;
constexpr double kInf = std::numeric_limits<double>::infinity();

std::shared_ptr<ir::TensorData> makeTyped(DataType t, const Dims& dims, const std::vector<int64_t>& v) {
  auto out = std::make_shared<ir::TensorData>(t, dims);
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t) {
      case DataType::kINT8: out->as<int8_t>()[i] = static_cast<int8_t>(v[i]); break;
      case DataType::kUINT8: out->as<uint8_t>()[i] = static_cast<uint8_t>(v[i]); break;
      case DataType::kINT16: out->as<int16_t>()[i] = static_cast<int16_t>(v[i]); break;
      case DataType::kUINT16: out->as<uint16_t>()[i] = static_cast<uint16_t>(v[i]); break;
      case DataType::kINT32: out->as<int32_t>()[i] = static_cast<int32_t>(v[i]); break;
      default: ADD_FAILURE() << "makeTyped: unexpected type";
    }
  }
  return out;
}

std::vector<int64_t> ints(const ir::TensorData& t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.intAt(i));
  return v;
}

// ---------------------------------------------------------------------------------------------
// RMSNormalization

TEST(TransformerRMSNormalization, RandomAxesAndScaleBroadcast) {
  std::mt19937 rng(140);
  struct Case {
    Dims x, scale;
    int64_t axis;
    float eps;
  };
  for (const Case& c : {Case{{2, 3, 4}, {3, 4}, 1, 1e-5f}, Case{{2, 3, 4}, {4}, -1, 0.1f},
                        Case{{3, 5}, {3, 5}, 0, 1e-3f}, Case{{2, 2, 3, 4}, {1, 4}, 2, 1e-5f}}) {
    auto x = randomTensor(DataType::kFLOAT, c.x, rng, -2, 2);
    auto s = randomTensor(DataType::kFLOAT, c.scale, rng, 0.5, 1.5);
    ir::Attributes at;
    at.setInt("axis", c.axis);
    at.setFloat("epsilon", c.eps);
    auto r = runOp(OpKind::kRMSNormalization, at, {OpInput::value(x), OpInput::constant(s)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    const size_t ax = static_cast<size_t>(c.axis < 0 ? c.axis + static_cast<int64_t>(c.x.size()) : c.axis);
    int64_t inner = 1;
    for (size_t d = ax; d < c.x.size(); ++d) inner *= c.x[d];
    const int64_t sn = s->numel();  // scale repeats with period sn over the normalized block
    std::vector<double> want(static_cast<size_t>(x->numel()));
    for (int64_t o = 0; o < x->numel() / inner; ++o) {
      double ms = 0;
      for (int64_t i = 0; i < inner; ++i) ms += std::pow(x->doubleAt(o * inner + i), 2);
      ms /= static_cast<double>(inner);
      for (int64_t i = 0; i < inner; ++i)
        want[static_cast<size_t>(o * inner + i)] =
            x->doubleAt(o * inner + i) / std::sqrt(ms + static_cast<double>(c.eps)) * s->doubleAt(i % sn);
    }
    expectCloseTo(r->at(0), c.x, want);
  }
}

TEST(TransformerRMSNormalization, BadScaleShapeIsAnError) {
  std::mt19937 rng(141);
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
  auto s = randomTensor(DataType::kFLOAT, {3}, rng);
  auto r = runOp(OpKind::kRMSNormalization, {}, {OpInput::value(x), OpInput::constant(s)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("cannot be broadcast"), std::string::npos) << r.status().message();
}

// ---------------------------------------------------------------------------------------------
// Attention: a naive 4-D reference. KV heads are repeated to the query heads, the bias matrix is
// built in full ([B, Hq, Lq, T]), then scores -> softcap -> + bias -> softmax -> @ V.

struct AttnRef {
  Dims q, k, v;  // 4-D
  const ir::TensorData* qd = nullptr;
  const ir::TensorData* kd = nullptr;
  const ir::TensorData* vd = nullptr;
  const ir::TensorData* mask = nullptr;  // rank <= 4, bool or float
  const ir::TensorData* pastK = nullptr;
  const ir::TensorData* pastV = nullptr;
  std::vector<int64_t> nonpad;
  bool causal = false;
  double scale = 0;  // 0: 1/sqrt(D)
  double softcap = 0;
  int mode = 0;
  int64_t left = -1, right = -1;  // sliding window (opset 25); -1: unbounded
  std::vector<double> y, presentK, presentV, qk;

  void run() {
    const int64_t b = q[0], hq = q[1], lq = q[2], d = q[3], hkv = k[1], lkv = k[2], dv = v[3];
    const int64_t lp = pastK ? pastK->dims()[2] : 0, t = lp + lkv;
    presentK.assign(static_cast<size_t>(b * hkv * t * d), 0);
    presentV.assign(static_cast<size_t>(b * hkv * t * dv), 0);
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t h = 0; h < hkv; ++h) {
        for (int64_t j = 0; j < t; ++j) {
          for (int64_t e = 0; e < d; ++e)
            presentK[static_cast<size_t>(((bi * hkv + h) * t + j) * d + e)] =
                j < lp ? pastK->doubleAt(((bi * hkv + h) * lp + j) * d + e)
                       : kd->doubleAt(((bi * hkv + h) * lkv + j - lp) * d + e);
          for (int64_t e = 0; e < dv; ++e)
            presentV[static_cast<size_t>(((bi * hkv + h) * t + j) * dv + e)] =
                j < lp ? pastV->doubleAt(((bi * hkv + h) * lp + j) * dv + e)
                       : vd->doubleAt(((bi * hkv + h) * lkv + j - lp) * dv + e);
        }
      }
    const double sc = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(d));
    y.assign(static_cast<size_t>(b * hq * lq * dv), 0);
    qk.assign(static_cast<size_t>(b * hq * lq * t), 0);
    Dims md(4, 1);
    if (mask)
      for (size_t i = 0; i < mask->dims().size(); ++i) md[4 - mask->dims().size() + i] = mask->dims()[i];
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t h = 0; h < hq; ++h) {
        const int64_t hk = h * hkv / hq;  // repeated heads [h0, h0, h1, h1, ...]
        for (int64_t i = 0; i < lq; ++i) {
          std::vector<double> raw(t), capped(t), bias(t, 0.0), z(t), p(t);
          for (int64_t j = 0; j < t; ++j) {
            double dot = 0;
            for (int64_t e = 0; e < d; ++e)
              dot += qd->doubleAt(((bi * hq + h) * lq + i) * d + e) *
                     presentK[static_cast<size_t>(((bi * hkv + hk) * t + j) * d + e)];
            raw[j] = dot * sc;
            capped[j] = softcap > 0 ? softcap * std::tanh(raw[j] / softcap) : raw[j];
            if (mask) {
              if (j >= md[3]) {
                bias[j] = -kInf;
              } else {
                const int64_t idx = (((md[0] > 1 ? bi : 0) * md[1] + (md[1] > 1 ? h : 0)) * md[2] + (md[2] > 1 ? i : 0)) *
                                        md[3] + j;
                bias[j] = mask->dtype() == DataType::kBOOL ? (mask->intAt(idx) ? 0.0 : -kInf) : mask->doubleAt(idx);
              }
            }
            const int64_t off = pastK ? lp : (!nonpad.empty() ? nonpad[bi] - lq : 0);
            if (causal && j > i + off) bias[j] = -kInf;
            if (!nonpad.empty() && j >= nonpad[bi]) bias[j] = -kInf;
            // Query i is at key position i + off: keys more than `left` before or `right` after it are out.
            if (left >= 0 && j < i + off - left) bias[j] = -kInf;
            if (right >= 0 && j > i + off + right) bias[j] = -kInf;
            z[j] = capped[j] + bias[j];
          }
          bool allMasked = true;
          for (int64_t j = 0; j < t; ++j) allMasked = allMasked && bias[j] == -kInf;
          double mx = -kInf, sum = 0;
          for (int64_t j = 0; j < t; ++j) mx = std::max(mx, z[j]);
          for (int64_t j = 0; j < t; ++j) sum += p[j] = allMasked ? 0.0 : std::exp(z[j] - mx);
          for (int64_t j = 0; j < t; ++j) p[j] = allMasked ? 0.0 : p[j] / sum;
          for (int64_t j = 0; j < t; ++j)
            qk[static_cast<size_t>(((bi * hq + h) * lq + i) * t + j)] =
                mode == 0 ? raw[j] : mode == 1 ? capped[j] : mode == 2 ? z[j] : p[j];
          for (int64_t e = 0; e < dv; ++e) {
            double acc = 0;
            for (int64_t j = 0; j < t; ++j)
              acc += p[j] * presentV[static_cast<size_t>(((bi * hkv + hk) * t + j) * dv + e)];
            y[static_cast<size_t>(((bi * hq + h) * lq + i) * dv + e)] = acc;
          }
        }
      }
  }
};

TEST(TransformerAttention, GqaMaskCausalPastSoftcapQkOutput) {
  std::mt19937 rng(142);
  const int64_t b = 2, hq = 4, hkv = 2, lq = 3, lkv = 4, lp = 2, d = 5, dv = 6;
  auto q = randomTensor(DataType::kFLOAT, {b, hq, lq, d}, rng);
  auto k = randomTensor(DataType::kFLOAT, {b, hkv, lkv, d}, rng);
  auto v = randomTensor(DataType::kFLOAT, {b, hkv, lkv, dv}, rng);
  auto pk = randomTensor(DataType::kFLOAT, {b, hkv, lp, d}, rng);
  auto pv = randomTensor(DataType::kFLOAT, {b, hkv, lp, dv}, rng);
  // A float mask over 5 of the 6 keys (the last key column is padded with -inf), per batch.
  auto mask = randomTensor(DataType::kFLOAT, {b, 1, lq, 5}, rng, -1, 1);
  for (int mode = 0; mode < 4; ++mode)
    for (int causal = 0; causal < 2; ++causal) {
      ir::Attributes at;
      at.setInt("is_causal", causal);
      at.setFloat("softcap", 1.5f);
      at.setFloat("scale", 0.3f);
      at.setInt("qk_matmul_output_mode", mode);
      auto r = runOp(OpKind::kAttention, at,
                     {OpInput::value(q), OpInput::value(k), OpInput::value(v), OpInput::value(mask), OpInput::value(pk),
                      OpInput::value(pv)},
                     4);
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      AttnRef ref;
      ref.q = {b, hq, lq, d}, ref.k = {b, hkv, lkv, d}, ref.v = {b, hkv, lkv, dv};
      ref.qd = q.get(), ref.kd = k.get(), ref.vd = v.get(), ref.mask = mask.get(), ref.pastK = pk.get(),
      ref.pastV = pv.get();
      ref.causal = causal != 0, ref.scale = static_cast<double>(0.3f), ref.softcap = 1.5, ref.mode = mode;
      ref.run();
      expectCloseTo(r->at(0), {b, hq, lq, dv}, ref.y);
      expectCloseTo(r->at(1), {b, hkv, lp + lkv, d}, ref.presentK, 0, 0);
      expectCloseTo(r->at(2), {b, hkv, lp + lkv, dv}, ref.presentV, 0, 0);
      expectCloseTo(r->at(3), {b, hq, lq, lp + lkv}, ref.qk);
    }
}

TEST(TransformerAttention, ThreeDInputsMatchFourDLayout) {
  std::mt19937 rng(143);
  const int64_t b = 2, hq = 3, hkv = 1, lq = 4, lkv = 5, d = 4, dv = 2;
  // 3-D [B, L, H*D] tensors; the 4-D reference reads them as [B, H, L, D] copies.
  auto q3 = randomTensor(DataType::kFLOAT, {b, lq, hq * d}, rng);
  auto k3 = randomTensor(DataType::kFLOAT, {b, lkv, hkv * d}, rng);
  auto v3 = randomTensor(DataType::kFLOAT, {b, lkv, hkv * dv}, rng);
  auto to4 = [](const ir::TensorData& t, int64_t heads, int64_t hs) {
    const int64_t bb = t.dims()[0], l = t.dims()[1];
    auto out = std::make_shared<ir::TensorData>(DataType::kFLOAT, Dims{bb, heads, l, hs});
    for (int64_t x = 0; x < bb; ++x)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < l; ++i)
          for (int64_t e = 0; e < hs; ++e)
            out->as<float>()[((x * heads + h) * l + i) * hs + e] = t.as<float>()[(x * l + i) * heads * hs + h * hs + e];
    return out;
  };
  auto q4 = to4(*q3, hq, d), k4 = to4(*k3, hkv, d), v4 = to4(*v3, hkv, dv);
  auto mask = makeBool({lq, lkv}, {1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1});
  ir::Attributes at;
  at.setInt("q_num_heads", hq);
  at.setInt("kv_num_heads", hkv);
  at.setInt("is_causal", 1);
  auto r = runOp(OpKind::kAttention, at, {OpInput::value(q3), OpInput::value(k3), OpInput::value(v3), OpInput::value(mask)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  AttnRef ref;
  ref.q = {b, hq, lq, d}, ref.k = {b, hkv, lkv, d}, ref.v = {b, hkv, lkv, dv};
  ref.qd = q4.get(), ref.kd = k4.get(), ref.vd = v4.get(), ref.mask = mask.get(), ref.causal = true;
  ref.run();
  // Row i=2 of the mask is fully false: its outputs are exactly zero.
  std::vector<double> want(static_cast<size_t>(b * lq * hq * dv));
  for (int64_t x = 0; x < b; ++x)
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < lq; ++i)
        for (int64_t e = 0; e < dv; ++e)
          want[static_cast<size_t>((x * lq + i) * hq * dv + h * dv + e)] = ref.y[static_cast<size_t>(((x * hq + h) * lq + i) * dv + e)];
  expectCloseTo(r->at(0), {b, lq, hq * dv}, want);
  for (int64_t e = 0; e < hq * dv; ++e) EXPECT_EQ(r->at(0).as<float>()[2 * hq * dv + e], 0.0f);
}

TEST(TransformerAttention, NonpadKvSeqlenOffsetsTheCausalFrontier) {
  std::mt19937 rng(144);
  const int64_t b = 3, h = 2, lq = 2, lkv = 6, d = 4;
  auto q = randomTensor(DataType::kFLOAT, {b, h, lq, d}, rng);
  auto k = randomTensor(DataType::kFLOAT, {b, h, lkv, d}, rng);
  auto v = randomTensor(DataType::kFLOAT, {b, h, lkv, d}, rng);
  auto nonpad = makeInt64({b}, {2, 6, 4});
  ir::Attributes at;
  at.setInt("is_causal", 1);
  auto r = runOp(OpKind::kAttention, at,
                 {OpInput::value(q), OpInput::value(k), OpInput::value(v), OpInput::absent(), OpInput::absent(),
                  OpInput::absent(), OpInput::value(nonpad)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  AttnRef ref;
  ref.q = {b, h, lq, d}, ref.k = {b, h, lkv, d}, ref.v = {b, h, lkv, d};
  ref.qd = q.get(), ref.kd = k.get(), ref.vd = v.get(), ref.causal = true, ref.nonpad = {2, 6, 4};
  ref.run();
  expectCloseTo(r->at(0), {b, h, lq, d}, ref.y);
}

TEST(TransformerAttention, SlidingWindows) {
  std::mt19937 rng(157);
  const int64_t b = 1, h = 2, lq = 4, lkv = 3, lp = 3, d = 4;
  auto q = randomTensor(DataType::kFLOAT, {b, h, lq, d}, rng);
  auto k = randomTensor(DataType::kFLOAT, {b, h, lkv, d}, rng);
  auto v = randomTensor(DataType::kFLOAT, {b, h, lkv, d}, rng);
  auto pk = randomTensor(DataType::kFLOAT, {b, h, lp, d}, rng);
  auto pv = randomTensor(DataType::kFLOAT, {b, h, lp, d}, rng);
  struct Case {
    int64_t left, right;
    int causal;
    bool past;
  };
  for (const Case& c : {Case{1, 2, 0, false}, Case{2, -1, 1, true}, Case{-1, 0, 0, true}, Case{0, 0, 0, false}}) {
    ir::Attributes at;
    at.setInt("left_window_size", c.left);
    at.setInt("right_window_size", c.right);
    at.setInt("is_causal", c.causal);
    std::vector<OpInput> in{OpInput::value(q), OpInput::value(k), OpInput::value(v)};
    if (c.past) {
      in.push_back(OpInput::absent());
      in.push_back(OpInput::value(pk));
      in.push_back(OpInput::value(pv));
    }
    auto r = runOp(OpKind::kAttention, at, in);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    AttnRef ref;
    ref.q = {b, h, lq, d}, ref.k = {b, h, lkv, d}, ref.v = {b, h, lkv, d};
    ref.qd = q.get(), ref.kd = k.get(), ref.vd = v.get();
    if (c.past) ref.pastK = pk.get(), ref.pastV = pv.get();
    ref.causal = c.causal != 0, ref.left = c.left, ref.right = c.right;
    ref.run();
    SCOPED_TRACE("left=" + std::to_string(c.left) + " right=" + std::to_string(c.right));
    expectCloseTo(r->at(0), {b, h, lq, d}, ref.y);
  }
}

TEST(TransformerAttention, SymbolicShapesWithPast) {
  ir::Graph g;
  const ir::DimExpr batch = ir::DimExpr::symbol("b"), seq = ir::DimExpr::symbol("s"), past = ir::DimExpr::symbol("p");
  ir::Value* q = g.addInput("q", DataType::kFLOAT, {batch, seq, 64});
  ir::Value* k = g.addInput("k", DataType::kFLOAT, {batch, seq, 32});
  ir::Value* v = g.addInput("v", DataType::kFLOAT, {batch, seq, 48});
  ir::Value* pk = g.addInput("pk", DataType::kFLOAT, {batch, 2, past, 16});
  ir::Value* pv = g.addInput("pv", DataType::kFLOAT, {batch, 2, past, 24});
  ir::Attributes at;
  at.setInt("q_num_heads", 4);
  at.setInt("kv_num_heads", 2);
  ir::Node* n = g.addNode(OpKind::kAttention, "attn", {q, k, v, nullptr, pk, pv}, at, 4);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  const std::map<std::string, int64_t> vals{{"b", 3}, {"s", 7}, {"p", 5}};
  auto dims = [&](size_t i) {
    Dims out;
    for (const ir::DimExpr& e : n->outputs[i]->shape) out.push_back(e.substitute(vals).constValue());
    return out;
  };
  EXPECT_EQ(dims(0), (Dims{3, 7, 4 * 24}));
  EXPECT_EQ(dims(1), (Dims{3, 2, 12, 16}));
  EXPECT_EQ(dims(2), (Dims{3, 2, 12, 24}));
  EXPECT_EQ(dims(3), (Dims{3, 4, 7, 12}));
  EXPECT_EQ(n->outputs[0]->shape[0].toString(), "b");
}

TEST(TransformerAttention, Errors) {
  std::mt19937 rng(145);
  auto q = randomTensor(DataType::kFLOAT, {1, 2, 12}, rng);
  auto r = runOp(OpKind::kAttention, {}, {OpInput::value(q), OpInput::value(q), OpInput::value(q)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("q_num_heads"), std::string::npos) << r.status().message();
  auto q4 = randomTensor(DataType::kFLOAT, {1, 3, 2, 4}, rng);
  auto k4 = randomTensor(DataType::kFLOAT, {1, 2, 2, 4}, rng);
  auto r2 = runOp(OpKind::kAttention, {}, {OpInput::value(q4), OpInput::value(k4), OpInput::value(k4)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("multiple of the key/value heads"), std::string::npos) << r2.status().message();
}

// ---------------------------------------------------------------------------------------------
// RotaryEmbedding: the rotation as a complex product (x1 + i x2) * (cos + i sin).

TEST(TransformerRotaryEmbedding, PositionIdsInterleavedAndPartial) {
  std::mt19937 rng(146);
  const int64_t b = 2, h = 3, s = 4, d = 8, maxPos = 10;
  auto x = randomTensor(DataType::kFLOAT, {b, h, s, d}, rng);
  auto pos = makeInt64({b, s}, {0, 3, 5, 9, 1, 1, 2, 7});
  for (int interleaved = 0; interleaved < 2; ++interleaved)
    for (int64_t rot : {int64_t{0}, int64_t{4}}) {
      const int64_t r = rot == 0 ? d : rot, half = r / 2;
      auto cosC = randomTensor(DataType::kFLOAT, {maxPos, half}, rng);
      auto sinC = randomTensor(DataType::kFLOAT, {maxPos, half}, rng);
      ir::Attributes at;
      at.setInt("interleaved", interleaved);
      at.setInt("rotary_embedding_dim", rot);
      auto out = runOp(OpKind::kRotaryEmbedding, at,
                       {OpInput::value(x), OpInput::value(cosC), OpInput::value(sinC), OpInput::value(pos)});
      ASSERT_TRUE(out.isOk()) << out.status().toString();
      std::vector<double> want(static_cast<size_t>(x->numel()));
      for (int64_t bi = 0; bi < b; ++bi)
        for (int64_t hi = 0; hi < h; ++hi)
          for (int64_t si = 0; si < s; ++si) {
            const int64_t base = ((bi * h + hi) * s + si) * d, p = pos->intAt(bi * s + si);
            for (int64_t e = 0; e < d; ++e) want[base + e] = x->doubleAt(base + e);
            for (int64_t kk = 0; kk < half; ++kk) {
              const int64_t a = interleaved ? 2 * kk : kk, c = interleaved ? 2 * kk + 1 : kk + half;
              const std::complex<double> z(x->doubleAt(base + a), x->doubleAt(base + c));
              const std::complex<double> w(cosC->doubleAt(p * half + kk), sinC->doubleAt(p * half + kk));
              want[base + a] = (z * w).real();
              want[base + c] = (z * w).imag();
            }
          }
      expectCloseTo(out->at(0), {b, h, s, d}, want);
    }
}

TEST(TransformerRotaryEmbedding, ThreeDWithoutPositionIds) {
  std::mt19937 rng(147);
  const int64_t b = 2, s = 3, h = 2, d = 4;
  auto x = randomTensor(DataType::kFLOAT, {b, s, h * d}, rng);
  auto cosC = randomTensor(DataType::kFLOAT, {b, s, d / 2}, rng);
  auto sinC = randomTensor(DataType::kFLOAT, {b, s, d / 2}, rng);
  ir::Attributes at;
  at.setInt("num_heads", h);
  auto out = runOp(OpKind::kRotaryEmbedding, at, {OpInput::value(x), OpInput::value(cosC), OpInput::value(sinC)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  std::vector<double> want(static_cast<size_t>(x->numel()));
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t si = 0; si < s; ++si)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t kk = 0; kk < d / 2; ++kk) {
          const int64_t base = (bi * s + si) * h * d + hi * d, ci = (bi * s + si) * (d / 2) + kk;
          const double c = cosC->doubleAt(ci), sn = sinC->doubleAt(ci);
          const double x1 = x->doubleAt(base + kk), x2 = x->doubleAt(base + kk + d / 2);
          want[base + kk] = c * x1 - sn * x2;
          want[base + kk + d / 2] = sn * x1 + c * x2;
        }
  expectCloseTo(out->at(0), {b, s, h * d}, want);
  auto badPos = makeInt64({b, s}, {0, 1, 2, 3, 4, 99});
  auto cache = randomTensor(DataType::kFLOAT, {10, d / 2}, rng);
  auto r2 = runOp(OpKind::kRotaryEmbedding, at,
                  {OpInput::value(x), OpInput::value(cache), OpInput::value(cache), OpInput::value(badPos)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("outside the cache"), std::string::npos) << r2.status().message();
}

// ---------------------------------------------------------------------------------------------
// GridSample: expected values produced offline with onnx.reference.ReferenceEvaluator (onnx
// 1.19.1, GridSample opset 22) for X = 0.5 * arange(12) - 1 reshaped [1, 1, 3, 4] with
// X[0, 0, 1, 2] = 3, and the grid below ([1, 2, 3, 2]).

TEST(TransformerGridSample, AllModesPaddingsAndAlignments) {
  auto x = makeFloat({1, 1, 3, 4}, {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 3.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.5f});
  auto grid = makeFloat({1, 2, 3, 2}, {-1.2f, -1.0f, -0.55f, 0.3f, 0.0f, 0.0f, 0.9f, -0.75f, 1.3f, 1.1f, 0.25f, -1.4f});
  struct Case {
    const char* mode;
    const char* pad;
    int align;
    std::vector<double> y;
  };
  const std::vector<Case> cases = {
      {"linear", "zeros", 0, {-0.0499999523, 2.0999999, 2.25, 0.306250036, 0, 0}},
      {"linear", "zeros", 1, {-0.699999928, 1.93749976, 2.25, 0.962499976, 2.22750092, -0.0375000015}},
      {"linear", "border", 0, {-1, 2.0999999, 2.25, 0.5, 4.5, 0}},
      {"linear", "border", 1, {-1, 1.93749976, 2.25, 0.962499976, 4.5, -0.0625}},
      {"linear", "reflection", 0, {-1, 2.0999999, 2.25, 0.5, 4.44999981, 0.299999714}},
      {"linear", "reflection", 1, {-0.849999964, 1.93749976, 2.25, 0.962499976, 4.12000036, 1.08749986}},
      {"nearest", "zeros", 0, {0, 1, 3, 0.5, 0, 0}},
      {"nearest", "zeros", 1, {-1, 1.5, 3, 0.5, 4.5, 0}},
      {"nearest", "border", 0, {-1, 1, 3, 0.5, 4.5, 0}},
      {"nearest", "border", 1, {-1, 1.5, 3, 0.5, 4.5, 0}},
      {"nearest", "reflection", 0, {-1, 1, 3, 0.5, 4.5, 0}},
      {"nearest", "reflection", 1, {-1, 1.5, 3, 0.5, 4.5, 0}},
      {"cubic", "zeros", 0, {-0.0580623746, 2.71918654, 2.34375, 0.276605934, -0.0982722491, 0}},
      {"cubic", "zeros", 1, {-0.776125073, 2.23595738, 2.34375, 0.986112475, 2.41825199, -0.371267706}},
      {"cubic", "border", 0, {-1.1875, 2.20241618, 2.34375, 0.419483721, 4.5, 0}},
      {"cubic", "border", 1, {-1, 1.97775102, 2.34375, 0.863312602, 4.5, -0.0830078125}},
      {"cubic", "reflection", 0, {-1.40875006, 2.20241618, 2.34375, 0.427607387, 4.78848171, 0.239249229}},
      {"cubic", "reflection", 1, {-0.939250112, 2.05076265, 2.34375, 0.665335774, 4.35381413, 0.673475385}},
  };
  for (const Case& c : cases) {
    ir::Attributes at;
    at.setString("mode", c.mode);
    at.setString("padding_mode", c.pad);
    at.setInt("align_corners", c.align);
    auto r = runOp(OpKind::kGridSample, at, {OpInput::value(x), OpInput::value(grid)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    SCOPED_TRACE(std::string(c.mode) + " " + c.pad + " align=" + std::to_string(c.align));
    expectCloseTo(r->at(0), {1, 1, 2, 3}, c.y, 1e-5, 1e-6);
  }
}

TEST(TransformerGridSample, VolumetricLinearIsTrilinear) {
  std::mt19937 rng(148);
  auto x = randomTensor(DataType::kFLOAT, {1, 2, 3, 4, 5}, rng);
  // Interior points (no padding involved): trilinear interpolation written out.
  auto grid = makeFloat({1, 1, 1, 2, 3}, {0.1f, -0.3f, 0.4f, -0.6f, 0.5f, -0.2f});
  ir::Attributes at;
  at.setInt("align_corners", 1);
  auto r = runOp(OpKind::kGridSample, at, {OpInput::value(x), OpInput::value(grid)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const Dims in{3, 4, 5};
  std::vector<double> want;
  for (int64_t c = 0; c < 2; ++c)
    for (int p = 0; p < 2; ++p) {
      double pos[3];
      for (int dd = 0; dd < 3; ++dd)  // grid (x, y, z) -> dims (W, H, D)
        pos[dd] = (grid->doubleAt(p * 3 + (2 - dd)) + 1) / 2 * static_cast<double>(in[dd] - 1);
      double acc = 0;
      for (int corner = 0; corner < 8; ++corner) {
        double w = 1;
        int64_t flat = 0;
        for (int dd = 0; dd < 3; ++dd) {
          const int bit = (corner >> (2 - dd)) & 1;
          const double f = std::floor(pos[dd]);
          w *= bit ? pos[dd] - f : 1 - (pos[dd] - f);
          flat = flat * in[dd] + static_cast<int64_t>(f) + bit;
        }
        acc += w * x->doubleAt(c * 60 + flat);
      }
      want.push_back(acc);
    }
  expectCloseTo(r->at(0), {1, 2, 1, 1, 2}, want);
}

TEST(TransformerGridSample, GridMustMatchSpatialRank) {
  std::mt19937 rng(149);
  auto x = randomTensor(DataType::kFLOAT, {1, 1, 3, 4}, rng);
  auto grid = randomTensor(DataType::kFLOAT, {1, 2, 2, 3}, rng);
  auto r = runOp(OpKind::kGridSample, {}, {OpInput::value(x), OpInput::value(grid)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("grid must have shape"), std::string::npos) << r.status().message();
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear

TEST(QuantQuantizeLinear, HalfToEvenAndSaturationByHand) {
  auto x = makeFloat({10}, {0.f, 1.f, 3.f, 5.f, -3.f, -5.f, 600.f, -600.f, 6.9f, 255.f});
  auto scale = makeFloat({}, {2.f});
  // x / 2 = 0, 0.5, 1.5, 2.5, -1.5, -2.5, 300, -300, 3.45, 127.5 -> half-even 0, 0, 2, 2, -2, -2, ...
  auto zpU = makeTyped(DataType::kUINT8, {}, {128});
  auto r = runOp(OpKind::kQuantizeLinear, {}, {OpInput::value(x), OpInput::value(scale), OpInput::value(zpU)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->at(0).dtype(), DataType::kUINT8);
  EXPECT_EQ(ints(r->at(0)), (std::vector<int64_t>{128, 128, 130, 130, 126, 126, 255, 0, 131, 255}));
  auto zpS = makeTyped(DataType::kINT8, {}, {-1});
  auto r2 = runOp(OpKind::kQuantizeLinear, {}, {OpInput::value(x), OpInput::value(scale), OpInput::value(zpS)});
  ASSERT_TRUE(r2.isOk()) << r2.status().toString();
  EXPECT_EQ(ints(r2->at(0)), (std::vector<int64_t>{-1, -1, 1, 1, -3, -3, 127, -128, 2, 127}));
  // No zero point: uint8; output_dtype int16 (Kiln numbering) without a zero point.
  auto r3 = runOp(OpKind::kQuantizeLinear, {}, {OpInput::value(x), OpInput::value(scale)});
  ASSERT_TRUE(r3.isOk()) << r3.status().toString();
  EXPECT_EQ(ints(r3->at(0)), (std::vector<int64_t>{0, 0, 2, 2, 0, 0, 255, 0, 3, 128}));
  ir::Attributes at;
  at.setInt("output_dtype", static_cast<int64_t>(DataType::kINT16));
  auto r4 = runOp(OpKind::kQuantizeLinear, at, {OpInput::value(x), OpInput::value(scale)});
  ASSERT_TRUE(r4.isOk()) << r4.status().toString();
  EXPECT_EQ(r4->at(0).dtype(), DataType::kINT16);
  EXPECT_EQ(ints(r4->at(0)), (std::vector<int64_t>{0, 0, 2, 2, -2, -2, 300, -300, 3, 128}));
}

// Per-axis and blocked layouts against a loop over coordinates.
TEST(QuantQuantizeLinear, PerAxisAndBlockedRandom) {
  std::mt19937 rng(150);
  const Dims xd{2, 5, 3};
  auto x = randomTensor(DataType::kFLOAT, xd, rng, -40, 40);
  struct Case {
    int64_t axis, block;
    Dims pd;
  };
  for (const Case& c : {Case{1, 0, {5}}, Case{-1, 0, {3}}, Case{1, 2, {2, 3, 3}}, Case{2, 2, {2, 5, 2}}}) {
    auto scale = randomTensor(DataType::kFLOAT, c.pd, rng, 0.05, 0.5);
    auto zp = randomTensor(DataType::kINT8, c.pd, rng, -20, 20);
    ir::Attributes at;
    at.setInt("axis", c.axis);
    at.setInt("block_size", c.block);
    auto r = runOp(OpKind::kQuantizeLinear, at, {OpInput::value(x), OpInput::value(scale), OpInput::value(zp)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    auto dq = runOp(OpKind::kDequantizeLinear, at, {OpInput::value(r->outputs[0]), OpInput::value(scale), OpInput::value(zp)});
    ASSERT_TRUE(dq.isOk()) << dq.status().toString();
    const int64_t ax = c.axis < 0 ? c.axis + 3 : c.axis;
    std::vector<int64_t> wantQ;
    std::vector<double> wantD;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 5; ++j)
        for (int64_t k = 0; k < 3; ++k) {
          int64_t coord[3] = {i, j, k};
          int64_t pi;
          if (c.block == 0) {
            pi = coord[ax];
          } else {
            coord[ax] /= c.block;
            pi = (coord[0] * c.pd[1] + coord[1]) * c.pd[2] + coord[2];
          }
          const float s = scale->as<float>()[pi];
          const double q = std::nearbyint(static_cast<double>(x->as<float>()[(i * 5 + j) * 3 + k] / s)) + zp->intAt(pi);
          const int64_t qi = static_cast<int64_t>(std::min(127.0, std::max(-128.0, q)));
          wantQ.push_back(qi);
          wantD.push_back(static_cast<double>(static_cast<float>(qi - zp->intAt(pi)) * s));
        }
    EXPECT_EQ(ints(r->at(0)), wantQ) << "axis " << c.axis << " block " << c.block;
    expectCloseTo(dq->at(0), xd, wantD, 0, 0);
  }
}

TEST(QuantDequantizeLinear, Int32AndUint16ByHand) {
  auto x = makeTyped(DataType::kINT32, {3}, {-7, 0, 1000000});
  auto s = makeFloat({}, {0.5f});
  auto r = runOp(OpKind::kDequantizeLinear, {}, {OpInput::value(x), OpInput::value(s)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {3}, {-3.5, 0, 500000}, 0, 0);
  auto xu = makeTyped(DataType::kUINT16, {2, 2}, {0, 65535, 30000, 1});
  auto su = makeFloat({2}, {0.25f, 2.f});
  auto zu = makeTyped(DataType::kUINT16, {2}, {32768, 1});
  ir::Attributes at;
  at.setInt("axis", 0);
  auto r2 = runOp(OpKind::kDequantizeLinear, at, {OpInput::value(xu), OpInput::value(su), OpInput::value(zu)});
  ASSERT_TRUE(r2.isOk()) << r2.status().toString();
  expectCloseTo(r2->at(0), {2, 2}, {-8192, 8191.75, 59998, 0}, 0, 0);
}

TEST(QuantQuantizeLinear, Errors) {
  std::mt19937 rng(151);
  auto x = randomTensor(DataType::kFLOAT, {2, 3}, rng);
  auto s = randomTensor(DataType::kFLOAT, {4}, rng, 0.1, 1);
  auto r = runOp(OpKind::kQuantizeLinear, {}, {OpInput::value(x), OpInput::value(s)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("x.shape[axis=1]"), std::string::npos) << r.status().message();
  auto zp = makeTyped(DataType::kINT8, {}, {0});
  ir::Attributes at;
  at.setInt("output_dtype", static_cast<int64_t>(DataType::kUINT8));
  auto s1 = makeFloat({}, {1.f});
  auto r2 = runOp(OpKind::kQuantizeLinear, at, {OpInput::value(x), OpInput::value(s1), OpInput::value(zp)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("differs from y_zero_point"), std::string::npos) << r2.status().message();
}

// ONNX's documented example: x = [0, 2, -3, -2.5, 1.34, 0.5] -> scale (2 + 3) / 255,
// zero point round(3 / scale) = 153, y = [153, 255, 0, 26, 221, 179].
TEST(QuantDynamicQuantizeLinear, DocumentedExample) {
  auto x = makeFloat({2, 3}, {0.f, 2.f, -3.f, -2.5f, 1.34f, 0.5f});
  auto r = runOp(OpKind::kDynamicQuantizeLinear, {}, {OpInput::value(x)}, 3);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(ints(r->at(0)), (std::vector<int64_t>{153, 255, 0, 26, 221, 179}));
  EXPECT_FLOAT_EQ(r->at(1).as<float>()[0], 5.f / 255.f);
  EXPECT_EQ(r->at(2).intAt(0), 153);
  // All positive: min is clamped to 0, so the zero point is 0.
  auto xp = makeFloat({3}, {1.f, 2.f, 5.1f});
  auto rp = runOp(OpKind::kDynamicQuantizeLinear, {}, {OpInput::value(xp)}, 3);
  ASSERT_TRUE(rp.isOk()) << rp.status().toString();
  EXPECT_EQ(rp->at(2).intAt(0), 0);
  EXPECT_EQ(ints(rp->at(0)), (std::vector<int64_t>{50, 100, 255}));
}

// ---------------------------------------------------------------------------------------------
// Integer matmul / conv and their QLinear forms.

TEST(QuantMatMulInteger, BatchedBroadcastWithPerRowAndColumnZeroPoints) {
  std::mt19937 rng(152);
  const int64_t m = 3, k = 5, n = 4;
  auto a = randomTensor(DataType::kUINT8, {2, 1, m, k}, rng, 0, 255);
  auto b = randomTensor(DataType::kINT8, {3, k, n}, rng, -128, 127);
  auto za = randomTensor(DataType::kUINT8, {m}, rng, 100, 150);
  auto zb = randomTensor(DataType::kINT8, {n}, rng, -5, 5);
  auto r = runOp(OpKind::kMatMulInteger, {}, {OpInput::value(a), OpInput::value(b), OpInput::value(za), OpInput::value(zb)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dims(), (Dims{2, 3, m, n}));
  std::vector<int64_t> want;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t row = 0; row < m; ++row)
        for (int64_t col = 0; col < n; ++col) {
          int64_t acc = 0;
          for (int64_t t = 0; t < k; ++t)
            acc += (a->intAt((i * m + row) * k + t) - za->intAt(row)) * (b->intAt((j * k + t) * n + col) - zb->intAt(col));
          want.push_back(acc);
        }
  EXPECT_EQ(r->at(0).dtype(), DataType::kINT32);
  EXPECT_EQ(ints(r->at(0)), want);
}

TEST(QuantQLinearMatMul, RequantizesWithHalfToEven) {
  std::mt19937 rng(153);
  const int64_t m = 4, k = 6, n = 3;
  auto a = randomTensor(DataType::kINT8, {m, k}, rng, -128, 127);
  auto b = randomTensor(DataType::kINT8, {k, n}, rng, -128, 127);
  const float as = 0.02f, bs = 0.03f, ys = 0.5f;
  auto r = runOp(OpKind::kQLinearMatMul, {},
                 {OpInput::value(a), OpInput::value(makeFloat({}, {as})), OpInput::value(makeTyped(DataType::kINT8, {}, {3})),
                  OpInput::value(b), OpInput::value(makeFloat({}, {bs})), OpInput::value(makeTyped(DataType::kINT8, {}, {-2})),
                  OpInput::value(makeFloat({}, {ys})), OpInput::value(makeTyped(DataType::kINT8, {}, {10}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const double mult = static_cast<double>(static_cast<float>(as * bs) / ys);
  std::vector<int64_t> want;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t acc = 0;
      for (int64_t t = 0; t < k; ++t) acc += (a->intAt(i * k + t) - 3) * (b->intAt(t * n + j) + 2);
      want.push_back(static_cast<int64_t>(std::clamp(std::nearbyint(static_cast<double>(acc) * mult) + 10, -128.0, 127.0)));
    }
  EXPECT_EQ(r->at(0).dtype(), DataType::kINT8);
  EXPECT_EQ(ints(r->at(0)), want);
}

// Direct convolution reference for one (n, m, oh, ow) with zero points.
int64_t convRef(const ir::TensorData& x, const ir::TensorData& w, int64_t zx, int64_t zw, int64_t n, int64_t m,
                int64_t oh, int64_t ow, int64_t stride, int64_t pad) {
  const int64_t c = x.dims()[1], h = x.dims()[2], wd = x.dims()[3], kh = w.dims()[2], kw = w.dims()[3];
  int64_t acc = 0;
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) {
        const int64_t y = oh * stride - pad + i, xx = ow * stride - pad + j;
        if (y < 0 || y >= h || xx < 0 || xx >= wd) continue;
        acc += (x.intAt(((n * c + ci) * h + y) * wd + xx) - zx) * (w.intAt(((m * c + ci) * kh + i) * kw + j) - zw);
      }
  return acc;
}

TEST(QuantConvInteger, PaddingStrideAndPerChannelWeightZeroPoint) {
  std::mt19937 rng(154);
  auto x = randomTensor(DataType::kUINT8, {2, 3, 5, 6}, rng, 0, 255);
  auto w = randomTensor(DataType::kUINT8, {4, 3, 3, 3}, rng, 0, 255);
  auto zx = makeTyped(DataType::kUINT8, {}, {120});
  auto zw = makeTyped(DataType::kUINT8, {4}, {3, 100, 128, 0});
  ir::Attributes at;
  at.setInts("pads", {1, 1, 1, 1});
  at.setInts("strides", {2, 2});
  auto r = runOp(OpKind::kConvInteger, at, {OpInput::value(x), OpInput::value(w), OpInput::value(zx), OpInput::value(zw)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dims(), (Dims{2, 4, 3, 3}));
  std::vector<int64_t> want;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t m = 0; m < 4; ++m)
      for (int64_t oh = 0; oh < 3; ++oh)
        for (int64_t ow = 0; ow < 3; ++ow) want.push_back(convRef(*x, *w, 120, zw->intAt(m), n, m, oh, ow, 2, 1));
  EXPECT_EQ(ints(r->at(0)), want);
}

TEST(QuantQLinearConv, PerChannelScalesBiasAndSaturation) {
  std::mt19937 rng(155);
  auto x = randomTensor(DataType::kINT8, {1, 2, 4, 4}, rng, -128, 127);
  auto w = randomTensor(DataType::kINT8, {3, 2, 2, 2}, rng, -128, 127);
  const std::vector<float> ws{0.01f, 0.002f, 0.05f};
  auto bias = makeTyped(DataType::kINT32, {3}, {100, -2000, 7});
  const float xs = 0.05f, ys = 0.1f;
  auto r = runOp(OpKind::kQLinearConv, {},
                 {OpInput::value(x), OpInput::value(makeFloat({}, {xs})), OpInput::value(makeTyped(DataType::kINT8, {}, {1})),
                  OpInput::value(w), OpInput::value(makeFloat({3}, ws)), OpInput::value(makeTyped(DataType::kINT8, {3}, {0, 0, 0})),
                  OpInput::value(makeFloat({}, {ys})), OpInput::value(makeTyped(DataType::kUINT8, {}, {128})),
                  OpInput::value(bias)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dims(), (Dims{1, 3, 3, 3}));
  EXPECT_EQ(r->at(0).dtype(), DataType::kUINT8);
  std::vector<int64_t> want;
  bool saturated = false;
  for (int64_t m = 0; m < 3; ++m)
    for (int64_t oh = 0; oh < 3; ++oh)
      for (int64_t ow = 0; ow < 3; ++ow) {
        const int64_t acc = convRef(*x, *w, 1, 0, 0, m, oh, ow, 1, 0) + bias->intAt(m);
        const double mult = static_cast<double>(static_cast<float>(xs * ws[m]) / ys);
        const double q = std::nearbyint(static_cast<double>(acc) * mult) + 128;
        saturated = saturated || q < 0 || q > 255;
        want.push_back(static_cast<int64_t>(std::clamp(q, 0.0, 255.0)));
      }
  EXPECT_EQ(ints(r->at(0)), want);
  EXPECT_TRUE(saturated) << "the case should exercise saturation";
}

TEST(QuantConvInteger, ChannelMismatchIsAnError) {
  std::mt19937 rng(156);
  auto x = randomTensor(DataType::kUINT8, {1, 3, 4, 4}, rng, 0, 255);
  auto w = randomTensor(DataType::kUINT8, {2, 2, 2, 2}, rng, 0, 255);
  auto r = runOp(OpKind::kConvInteger, {}, {OpInput::value(x), OpInput::value(w)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("input channels mismatch"), std::string::npos) << r.status().message();
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear with float8, float4 and sub-byte integer types (hand-computed;
// low-precision tensors hold one element per byte).

std::shared_ptr<ir::TensorData> lowCodes(DataType t, const Dims& dims,
                                         const std::vector<uint8_t>& b) {
  return ir::TensorData::fromBytes(t, dims, b.data());
}
std::vector<uint8_t> lowBytes(const ir::TensorData& t) {
  const auto* p = static_cast<const uint8_t*>(t.data());
  return std::vector<uint8_t>(p, p + t.bytes());
}
using Bytes = std::vector<uint8_t>;

TEST(QuantLowPrecision, QuantizeToFloat8) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // x / 2 = 0, 0.5, 1, 500, -500, NaN, -0.05 -> e4m3fn 0, 0.0110.000, 0.0111.000, max 0x7e
  // (saturate) or NaN 0x7f, -max, NaN; -0.05 = -1.6 * 2^-5 -> 1.0010.101 (1.625).
  auto x = makeFloat({7}, {0.f, 1.f, 2.f, 1000.f, -1000.f, nan, -0.1f});
  auto scale = makeFloat({}, {2.f});
  auto zp = lowCodes(DataType::kFP8E4M3FN, {1}, {0x00});
  auto r = runOp(OpKind::kQuantizeLinear, {},
                 {OpInput::value(x), OpInput::value(scale), OpInput::value(zp)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->at(0).dtype(), DataType::kFP8E4M3FN);
  EXPECT_EQ(lowBytes(r->at(0)), (Bytes{0x00, 0x30, 0x38, 0x7e, 0xfe, 0x7f, 0x95}));
  ir::Attributes noSat;
  noSat.setInt("saturate", 0);
  auto r0 = runOp(OpKind::kQuantizeLinear, noSat,
                  {OpInput::value(x), OpInput::value(scale), OpInput::value(zp)});
  ASSERT_TRUE(r0.isOk()) << r0.status().toString();
  EXPECT_EQ(lowBytes(r0->at(0)), (Bytes{0x00, 0x30, 0x38, 0x7f, 0xff, 0x7f, 0x95}));
  // output_dtype e5m2 without a zero point: 500 -> 512 = 0.11000.00 (0x60); saturate=0 keeps it.
  ir::Attributes e5;
  e5.setInt("output_dtype", static_cast<int64_t>(DataType::kFP8E5M2));
  auto r5 = runOp(OpKind::kQuantizeLinear, e5,
                  {OpInput::value(makeFloat({2}, {1000.f, 2.f})), OpInput::value(scale)});
  ASSERT_TRUE(r5.isOk()) << r5.status().toString();
  EXPECT_EQ(r5->at(0).dtype(), DataType::kFP8E5M2);
  EXPECT_EQ(lowBytes(r5->at(0)), (Bytes{0x60, 0x3c}));
  // float4: x / 1 + 0 = 0.25 (tie -> 0), 0.75 (tie -> 1 = 0.01.0), 5 (tie -> 4 = 0.11.0), -100
  // (saturates to -6 = 1.11.1), -0 (+ zero point +0 -> +0).
  auto r4 = runOp(OpKind::kQuantizeLinear, {},
                  {OpInput::value(makeFloat({5}, {0.25f, 0.75f, 5.f, -100.f, -0.0f})),
                   OpInput::value(makeFloat({}, {1.f})),
                   OpInput::value(lowCodes(DataType::kFP4E2M1, {1}, {0x0}))});
  ASSERT_TRUE(r4.isOk()) << r4.status().toString();
  EXPECT_EQ(lowBytes(r4->at(0)), (Bytes{0x0, 0x2, 0x6, 0xf, 0x0}));
}

TEST(QuantLowPrecision, QuantizeToSubByteIntegers) {
  // Per axis 0 with int4 zero points: row 0 (scale 1, zp 0): 1, -20 -> clamp -8; row 1 (scale 2,
  // zp 1): 1.5 -> 2 (half to even) + 1 = 3, 2 + 1 = 3; row 2 (scale 0.5, zp -1): 10 - 1 = 9 -> 7,
  // 200 - 1 -> 7.
  auto x = makeFloat({3, 2}, {1.f, -20.f, 3.f, 4.f, 5.f, 100.f});
  auto scale = makeFloat({3}, {1.f, 2.f, 0.5f});
  auto zp = lowCodes(DataType::kINT4, {3}, {0x00, 0x01, 0xff});
  ir::Attributes ax0;
  ax0.setInt("axis", 0);
  auto r = runOp(OpKind::kQuantizeLinear, ax0,
                 {OpInput::value(x), OpInput::value(scale), OpInput::value(zp)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->at(0).dtype(), DataType::kINT4);
  EXPECT_EQ(ints(r->at(0)), (std::vector<int64_t>{1, -8, 3, 3, 7, 7}));
  // uint2 per tensor, no rounding surprises: 0, 1, 2, 3, 10 -> 3, -1 -> 0, 2.5 -> 2.
  ir::Attributes u2;
  u2.setInt("output_dtype", static_cast<int64_t>(DataType::kUINT2));
  auto r2 = runOp(OpKind::kQuantizeLinear, u2,
                  {OpInput::value(makeFloat({7}, {0.f, 1.f, 2.f, 3.f, 10.f, -1.f, 2.5f})),
                   OpInput::value(makeFloat({}, {1.f}))});
  ASSERT_TRUE(r2.isOk()) << r2.status().toString();
  EXPECT_EQ(lowBytes(r2->at(0)), (Bytes{0, 1, 2, 3, 3, 0, 2}));
  // int2 blocked (axis 1, block 2): scales [1, 4] for columns {0,1} and {2,3}: 1, -3 -> -2,
  // 4/4 = 1, 8/4 = 2 -> 1.
  ir::Attributes blk;
  blk.setInt("axis", 1);
  blk.setInt("block_size", 2);
  blk.setInt("output_dtype", static_cast<int64_t>(DataType::kINT2));
  auto r3 = runOp(OpKind::kQuantizeLinear, blk,
                  {OpInput::value(makeFloat({1, 4}, {1.f, -3.f, 4.f, 8.f})),
                   OpInput::value(makeFloat({1, 2}, {1.f, 4.f}))});
  ASSERT_TRUE(r3.isOk()) << r3.status().toString();
  EXPECT_EQ(ints(r3->at(0)), (std::vector<int64_t>{1, -2, 1, 1}));
}

TEST(QuantLowPrecision, Dequantize) {
  // e4m3fn codes 1, -3, NaN times 2.
  auto r = runOp(OpKind::kDequantizeLinear, {},
                 {OpInput::value(lowCodes(DataType::kFP8E4M3FN, {3}, {0x38, 0xc4, 0x7f})),
                  OpInput::value(makeFloat({}, {2.f}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::vector<double> v = toDoubles(r->at(0));
  EXPECT_EQ(v[0], 2.0);
  EXPECT_EQ(v[1], -6.0);
  EXPECT_TRUE(std::isnan(v[2]));
  // int4 (-8, 7, 1) - zp 1, times 0.5 -> -4.5, 3, 0.
  auto r4 = runOp(OpKind::kDequantizeLinear, {},
                  {OpInput::value(lowCodes(DataType::kINT4, {3}, {0xf8, 0x07, 0x01})),
                   OpInput::value(makeFloat({}, {0.5f})),
                   OpInput::value(lowCodes(DataType::kINT4, {1}, {0x01}))});
  ASSERT_TRUE(r4.isOk()) << r4.status().toString();
  EXPECT_EQ(toDoubles(r4->at(0)), (std::vector<double>{-4.5, 3.0, 0.0}));
  // uint2 per axis 1 with zero points (0, 2): [[3, 0], [1, 2]] * scales (1, 10) -> 3, -20, 1, 0.
  ir::Attributes ax1;
  ax1.setInt("axis", 1);
  auto r2 = runOp(OpKind::kDequantizeLinear, ax1,
                  {OpInput::value(lowCodes(DataType::kUINT2, {2, 2}, {3, 0, 1, 2})),
                   OpInput::value(makeFloat({2}, {1.f, 10.f})),
                   OpInput::value(lowCodes(DataType::kUINT2, {2}, {0, 2}))});
  ASSERT_TRUE(r2.isOk()) << r2.status().toString();
  EXPECT_EQ(toDoubles(r2->at(0)), (std::vector<double>{3.0, -20.0, 1.0, 0.0}));
  // float4 6 and -1.5 times 3.
  auto rf = runOp(OpKind::kDequantizeLinear, {},
                  {OpInput::value(lowCodes(DataType::kFP4E2M1, {2}, {0x7, 0xb})),
                   OpInput::value(makeFloat({}, {3.f}))});
  ASSERT_TRUE(rf.isOk()) << rf.status().toString();
  EXPECT_EQ(toDoubles(rf->at(0)), (std::vector<double>{18.0, -4.5}));
}

TEST(QuantLowPrecision, Errors) {
  // float8e8m0 is a scale type, not a quantized type; the error names it.
  auto x = makeFloat({2}, {1.f, 2.f});
  auto r = runOp(OpKind::kQuantizeLinear, {},
                 {OpInput::value(x), OpInput::value(makeFloat({}, {1.f})),
                  OpInput::value(lowCodes(DataType::kFP8E8M0, {1}, {0x7f}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("float8e8m0"), std::string::npos) << r.status().message();
  auto d = runOp(OpKind::kDequantizeLinear, {},
                 {OpInput::value(lowCodes(DataType::kFP8E8M0, {2}, {0x7f, 0x80})),
                  OpInput::value(makeFloat({}, {1.f}))});
  ASSERT_FALSE(d.isOk());
  EXPECT_NE(d.status().message().find("float8e8m0"), std::string::npos) << d.status().message();
  // Zero point of another type than x.
  auto z = runOp(
      OpKind::kDequantizeLinear, {},
      {OpInput::value(lowCodes(DataType::kINT4, {2}, {1, 2})), OpInput::value(makeFloat({}, {1.f})),
       OpInput::value(lowCodes(DataType::kUINT4, {1}, {0}))});
  ASSERT_FALSE(z.isOk());
  EXPECT_NE(z.status().message().find("uint4"), std::string::npos) << z.status().message();
  // MatMulInteger does not take int4.
  auto m = runOp(OpKind::kMatMulInteger, {},
                 {OpInput::value(lowCodes(DataType::kINT4, {1, 2}, {1, 2})),
                  OpInput::value(lowCodes(DataType::kINT4, {2, 1}, {1, 2}))});
  ASSERT_FALSE(m.isOk());
  EXPECT_NE(m.status().message().find("int4"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace kiln::test
