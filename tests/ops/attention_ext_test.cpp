// LinearAttention, CausalConvWithState and TensorScatter: against a double-precision loop written
// here from the ONNX operator definitions (one batch entry, head and step at a time), hand-computed
// values, and error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

struct LaConfig {
  int64_t B = 2, T = 3, hq = 4, hkv = 2, dk = 3, dv = 2;
  std::string rule = "gated_delta";
  bool past = false, erase = false, perHeadDecay = false, scalarBeta = false;
  float scale = 0.f;  // 0: default 1/sqrt(dk)
};

// The recurrence of ONNX LinearAttention for one (b, kv head), state S[dk][dv]:
//   S *= exp(decay)  (gated);  v' = beta * (v - S^T (erase * k))  (delta);  S += k v'^T;
//   o[q head] = scale * q^T S for the query heads of this kv head.
void laReference(const LaConfig& c, const std::vector<double>& q, const std::vector<double>& k,
                 const std::vector<double>& v, const std::vector<double>* past,
                 const std::vector<double>* decay, const std::vector<double>* beta,
                 const std::vector<double>* erase, std::vector<double>& out,
                 std::vector<double>& state) {
  const int64_t group = c.hq / c.hkv;
  const double scale = c.scale == 0.f ? 1.0 / std::sqrt(static_cast<double>(c.dk)) : c.scale;
  out.assign(static_cast<size_t>(c.B * c.T * c.hq * c.dv), 0.0);
  state.assign(static_cast<size_t>(c.B * c.hkv * c.dk * c.dv), 0.0);
  if (past) state = *past;
  auto at = [](const std::vector<double>& x, int64_t i) { return x[static_cast<size_t>(i)]; };
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.hkv; ++h) {
      auto S = [&](int64_t i, int64_t j) -> double& {
        return state[static_cast<size_t>(((b * c.hkv + h) * c.dk + i) * c.dv + j)];
      };
      for (int64_t t = 0; t < c.T; ++t) {
        const int64_t bt = b * c.T + t;
        if (decay)
          for (int64_t i = 0; i < c.dk; ++i) {
            const double g = c.perHeadDecay ? at(*decay, bt * c.hkv + h)
                                            : at(*decay, (bt * c.hkv + h) * c.dk + i);
            for (int64_t j = 0; j < c.dv; ++j) S(i, j) *= std::exp(g);
          }
        std::vector<double> vt(static_cast<size_t>(c.dv));
        for (int64_t j = 0; j < c.dv; ++j)
          vt[static_cast<size_t>(j)] = at(v, (bt * c.hkv + h) * c.dv + j);
        if (beta) {
          const double bb = c.scalarBeta ? at(*beta, bt) : at(*beta, bt * c.hkv + h);
          for (int64_t j = 0; j < c.dv; ++j) {
            double r = 0;
            for (int64_t i = 0; i < c.dk; ++i) {
              double ki = at(k, (bt * c.hkv + h) * c.dk + i);
              if (erase) ki *= at(*erase, (bt * c.hkv + h) * c.dk + i);
              r += S(i, j) * ki;
            }
            vt[static_cast<size_t>(j)] = bb * (vt[static_cast<size_t>(j)] - r);
          }
        }
        for (int64_t i = 0; i < c.dk; ++i)
          for (int64_t j = 0; j < c.dv; ++j)
            S(i, j) += at(k, (bt * c.hkv + h) * c.dk + i) * vt[static_cast<size_t>(j)];
        for (int64_t g = 0; g < group; ++g) {
          const int64_t qh = h * group + g;
          for (int64_t j = 0; j < c.dv; ++j) {
            double o = 0;
            for (int64_t i = 0; i < c.dk; ++i) o += at(q, (bt * c.hq + qh) * c.dk + i) * S(i, j);
            out[static_cast<size_t>((bt * c.hq + qh) * c.dv + j)] = scale * o;
          }
        }
      }
    }
}

void runLinearAttention(const LaConfig& c) {
  std::mt19937 rng(7);
  const bool gating = c.rule == "gated" || c.rule == "gated_delta";
  const bool delta = c.rule == "delta" || c.rule == "gated_delta";
  auto q = randomTensor(DataType::kFLOAT, {c.B, c.T, c.hq * c.dk}, rng);
  auto k = randomTensor(DataType::kFLOAT, {c.B, c.T, c.hkv * c.dk}, rng);
  auto v = randomTensor(DataType::kFLOAT, {c.B, c.T, c.hkv * c.dv}, rng);
  auto past = randomTensor(DataType::kFLOAT, {c.B, c.hkv, c.dk, c.dv}, rng);
  auto decay = randomTensor(DataType::kFLOAT, {c.B, c.T, c.perHeadDecay ? c.hkv : c.hkv * c.dk},
                            rng, -0.5, 0.0);
  auto beta = randomTensor(DataType::kFLOAT, {c.B, c.T, c.scalarBeta ? 1 : c.hkv}, rng, 0.0, 1.0);
  auto erase = randomTensor(DataType::kFLOAT, {c.B, c.T, c.hkv * c.dk}, rng, 0.0, 1.0);
  ir::Attributes a;
  a.setInt("q_num_heads", c.hq);
  a.setInt("kv_num_heads", c.hkv);
  a.setString("update_rule", c.rule);
  if (c.scale != 0.f) a.setFloat("scale", c.scale);
  std::vector<OpInput> in = {OpInput::value(q),
                             OpInput::value(k),
                             OpInput::value(v),
                             c.past ? OpInput::value(past) : OpInput::absent(),
                             gating ? OpInput::value(decay) : OpInput::absent(),
                             delta ? OpInput::value(beta) : OpInput::absent()};
  if (c.erase) in.push_back(OpInput::value(erase));
  while (!in.back().data) in.pop_back();
  auto r = runOp(OpKind::kLinearAttention, a, in, 2);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const auto vd = toDoubles(*v), kd = toDoubles(*k), qd = toDoubles(*q), pd = toDoubles(*past),
             dd = toDoubles(*decay), bd = toDoubles(*beta), ed = toDoubles(*erase);
  std::vector<double> out, state;
  laReference(c, qd, kd, vd, c.past ? &pd : nullptr, gating ? &dd : nullptr, delta ? &bd : nullptr,
              c.erase ? &ed : nullptr, out, state);
  expectCloseTo(r->at(0), {c.B, c.T, c.hq * c.dv}, out, 1e-5, 1e-6);
  expectCloseTo(r->at(1), {c.B, c.hkv, c.dk, c.dv}, state, 1e-5, 1e-6);
}

TEST(LinearAttention, GatedDeltaGqaWithPastAndEraseGate) {
  LaConfig c;
  c.past = true;
  c.erase = true;
  runLinearAttention(c);
}

TEST(LinearAttention, PerHeadDecayScalarBetaExplicitScale) {
  LaConfig c;
  c.perHeadDecay = true;
  c.scalarBeta = true;
  c.scale = 0.3f;
  runLinearAttention(c);
}

TEST(LinearAttention, EveryRule) {
  for (const char* rule : {"linear", "gated", "delta", "gated_delta"}) {
    SCOPED_TRACE(rule);
    LaConfig c;
    c.rule = rule;
    c.hq = 2;
    c.hkv = 2;
    c.past = true;
    runLinearAttention(c);
  }
}

TEST(LinearAttention, HandComputedLinearStep) {
  // One head, dk = dv = 1, rule linear, scale 1: S_t = S_{t-1} + k_t v_t, o_t = q_t S_t.
  ir::Attributes a;
  a.setInt("q_num_heads", 1);
  a.setInt("kv_num_heads", 1);
  a.setString("update_rule", "linear");
  a.setFloat("scale", 1.f);
  auto r = runOp(
      OpKind::kLinearAttention, a,
      {OpInput::value(makeFloat({1, 2, 1}, {2, 3})), OpInput::value(makeFloat({1, 2, 1}, {1, 2})),
       OpInput::value(makeFloat({1, 2, 1}, {5, 7})), OpInput::value(makeFloat({1, 1, 1, 1}, {10}))},
      2);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  // S1 = 10 + 5 = 15, o1 = 30; S2 = 15 + 14 = 29, o2 = 87.
  expectCloseTo(r->at(0), {1, 2, 1}, {30, 87});
  expectCloseTo(r->at(1), {1, 1, 1, 1}, {29});
}

TEST(LinearAttention, Errors) {
  auto x = makeFloat({1, 2, 4}, std::vector<float>(8, 0.5f));
  auto g = makeFloat({1, 2, 4}, std::vector<float>(8, -0.1f));
  ir::Attributes a;
  a.setInt("q_num_heads", 2);
  a.setInt("kv_num_heads", 2);
  // gated_delta (default) without decay and beta.
  auto r = runOp(OpKind::kLinearAttention, a,
                 {OpInput::value(x), OpInput::value(x), OpInput::value(x)}, 2);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("requires the decay"), std::string::npos)
      << r.status().toString();
  a.setString("update_rule", "linear");
  r = runOp(OpKind::kLinearAttention, a,
            {OpInput::value(x), OpInput::value(x), OpInput::value(x), OpInput::absent(),
             OpInput::value(g)},
            2);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("forbids the decay"), std::string::npos)
      << r.status().toString();
  a.setInt("kv_num_heads", 3);
  r = runOp(OpKind::kLinearAttention, a, {OpInput::value(x), OpInput::value(x), OpInput::value(x)},
            2);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("multiple of kv_num_heads"), std::string::npos)
      << r.status().toString();
  a.setInt("kv_num_heads", 2);
  a.setString("update_rule", "softmax");
  r = runOp(OpKind::kLinearAttention, a, {OpInput::value(x), OpInput::value(x), OpInput::value(x)},
            2);
  ASSERT_FALSE(r.isOk());
  a.setString("update_rule", "linear");
  auto wrongState = makeFloat({1, 2, 3, 2}, std::vector<float>(12, 0.f));
  r = runOp(OpKind::kLinearAttention, a,
            {OpInput::value(x), OpInput::value(x), OpInput::value(x), OpInput::value(wrongState)},
            2);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("past_state"), std::string::npos) << r.status().toString();
}

// ---------------------------------------------------------------------------------------------

TEST(CausalConvWithState, HandComputed) {
  // Channel 0: weight [1, 10], past [5]: padded [5, 1, 2, 3] -> [5+10, 1+20, 2+30] + bias 1.
  // Channel 1: weight [2, -1], past [0]: padded [0, 4, 5, 6] -> [-4, 3, 4] + bias -1.
  auto x = makeFloat({1, 2, 3}, {1, 2, 3, 4, 5, 6});
  auto w = makeFloat({2, 1, 2}, {1, 10, 2, -1});
  auto b = makeFloat({2}, {1, -1});
  auto past = makeFloat({1, 2, 1}, {5, 0});
  auto r =
      runOp(OpKind::kCausalConvWithState, {},
            {OpInput::value(x), OpInput::value(w), OpInput::value(b), OpInput::value(past)}, 2);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 2, 3}, {16, 22, 33, -5, 2, 3});
  expectCloseTo(r->at(1), {1, 2, 1}, {3, 6});
}

TEST(CausalConvWithState, SiluNoPastLongKernel) {
  // k = 4 > L = 2: zeros fill the past; present_state keeps the last 3 padded positions.
  auto x = makeFloat({1, 1, 2}, {1, 2});
  auto w = makeFloat({1, 1, 4}, {1, 1, 1, 1});
  ir::Attributes a;
  a.setString("activation", "silu");
  auto r = runOp(OpKind::kCausalConvWithState, a, {OpInput::value(x), OpInput::value(w)}, 2);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };
  expectCloseTo(r->at(0), {1, 1, 2}, {silu(1), silu(3)});
  expectCloseTo(r->at(1), {1, 1, 3}, {0, 1, 2});
}

TEST(CausalConvWithState, Errors) {
  auto x = makeFloat({1, 2, 3}, std::vector<float>(6, 1.f));
  auto w = makeFloat({3, 1, 2}, std::vector<float>(6, 1.f));
  auto r = runOp(OpKind::kCausalConvWithState, {}, {OpInput::value(x), OpInput::value(w)}, 2);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("weight"), std::string::npos) << r.status().toString();
  auto w2 = makeFloat({2, 1, 3}, std::vector<float>(6, 1.f));
  auto badPast = makeFloat({1, 2, 1}, {0, 0});
  r = runOp(OpKind::kCausalConvWithState, {},
            {OpInput::value(x), OpInput::value(w2), OpInput::absent(), OpInput::value(badPast)}, 2);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("past_state"), std::string::npos) << r.status().toString();
  ir::Attributes a;
  a.setString("activation", "relu");
  r = runOp(OpKind::kCausalConvWithState, a, {OpInput::value(x), OpInput::value(w2)}, 2);
  ASSERT_FALSE(r.isOk());
}

// ---------------------------------------------------------------------------------------------

TEST(TensorScatter, CircularInt32Axis1) {
  // past [2, 4, 1] int32, update [2, 3, 1] along axis 1, write indices [1, 3] (circular).
  auto past = makeInt32({2, 4, 1}, {0, 1, 2, 3, 10, 11, 12, 13});
  auto upd = makeInt32({2, 3, 1}, {-1, -2, -3, -4, -5, -6});
  ir::Attributes a;
  a.setInt("axis", 1);
  a.setString("mode", "circular");
  auto r =
      runOp(OpKind::kTensorScatter, a,
            {OpInput::value(past), OpInput::value(upd), OpInput::value(makeInt64({2}, {1, 3}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  // Batch 0 writes positions 1, 2, 3; batch 1 writes 3, 0, 1.
  expectEqual(r->at(0), *makeInt32({2, 4, 1}, {0, -1, -2, -3, -5, -6, 12, -4}));
}

TEST(TensorScatter, LinearDefaultsAndInnerPrefix) {
  // past [1, 2, 3, 2] (axis -2 = 2), no write_indices: rows 0..1 of each [b, d1] block.
  std::vector<float> p(12, 0.f), u(8);
  for (int i = 0; i < 8; ++i) u[static_cast<size_t>(i)] = static_cast<float>(i + 1);
  auto r = runOp(
      OpKind::kTensorScatter, {},
      {OpInput::value(makeFloat({1, 2, 3, 2}, p)), OpInput::value(makeFloat({1, 2, 2, 2}, u))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeFloat({1, 2, 3, 2}, {1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0}));
}

TEST(TensorScatter, Errors) {
  auto past = makeFloat({2, 4, 1}, std::vector<float>(8, 0.f));
  auto upd = makeFloat({2, 2, 1}, std::vector<float>(4, 1.f));
  ir::Attributes a;
  a.setInt("axis", 1);
  // Linear mode: 3 + 2 > 4.
  auto r =
      runOp(OpKind::kTensorScatter, a,
            {OpInput::value(past), OpInput::value(upd), OpInput::value(makeInt64({2}, {0, 3}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("outside the cache"), std::string::npos)
      << r.status().toString();
  a.setInt("axis", 0);
  r = runOp(OpKind::kTensorScatter, a, {OpInput::value(past), OpInput::value(upd)});
  ASSERT_FALSE(r.isOk());
  a.setInt("axis", 1);
  auto tooLong = makeFloat({2, 5, 1}, std::vector<float>(10, 1.f));
  r = runOp(OpKind::kTensorScatter, a, {OpInput::value(past), OpInput::value(tooLong)});
  ASSERT_FALSE(r.isOk());
  auto wrongInner = makeFloat({2, 2, 2}, std::vector<float>(8, 1.f));
  r = runOp(OpKind::kTensorScatter, a, {OpInput::value(past), OpInput::value(wrongInner)});
  ASSERT_FALSE(r.isOk());
}

}  // namespace
}  // namespace kiln::test
