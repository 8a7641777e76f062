// Norm family: BatchNormalization, LayerNormalization, InstanceNormalization,
// GroupNormalization, Softmax, LogSoftmax against double-precision formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

int64_t prod(const Dims& d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= d[i];
  return n;
}

TEST(NormBatchNormalization, RandomInference) {
  std::mt19937 rng(30);
  for (const Dims& dims : {Dims{2, 3, 4, 5}, Dims{4, 3}, Dims{1, 3, 2, 2, 3}}) {
    const int64_t c = dims[1], inner = prod(dims, 2, dims.size());
    auto x = randomTensor(DataType::kFLOAT, dims, rng, -3, 3);
    auto scale = randomTensor(DataType::kFLOAT, {c}, rng);
    auto bias = randomTensor(DataType::kFLOAT, {c}, rng);
    auto mean = randomTensor(DataType::kFLOAT, {c}, rng);
    auto var = randomTensor(DataType::kFLOAT, {c}, rng, 0.1, 2.0);
    ir::Attributes at;
    at.setFloat("epsilon", 1e-3f);
    auto r = runOp(OpKind::kBatchNormalization, at,
                   {OpInput::value(x), OpInput::constant(scale), OpInput::constant(bias), OpInput::constant(mean),
                    OpInput::constant(var)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(static_cast<size_t>(x->numel()));
    const double eps = static_cast<double>(1e-3f);
    for (int64_t i = 0; i < x->numel(); ++i) {
      const int64_t ch = (i / inner) % c;
      want[i] = (x->doubleAt(i) - mean->doubleAt(ch)) / std::sqrt(var->doubleAt(ch) + eps) * scale->doubleAt(ch) +
                bias->doubleAt(ch);
    }
    expectCloseTo(r->at(0), dims, want);
  }
}

TEST(NormBatchNormalization, Errors) {
  std::mt19937 rng(31);
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
  auto p3 = randomTensor(DataType::kFLOAT, {3}, rng, 0.5, 1);
  auto p4 = randomTensor(DataType::kFLOAT, {4}, rng, 0.5, 1);
  ir::Attributes train;
  train.setInt("training_mode", 1);
  auto r = runOp(OpKind::kBatchNormalization, train,
                 {OpInput::value(x), OpInput::constant(p3), OpInput::constant(p3), OpInput::constant(p3),
                  OpInput::constant(p3)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("training_mode=1 is not supported"), std::string::npos) << r.status().message();
  auto r2 = runOp(OpKind::kBatchNormalization, {},
                  {OpInput::value(x), OpInput::constant(p3), OpInput::constant(p4), OpInput::constant(p3),
                   OpInput::constant(p3)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("B must have shape [3]"), std::string::npos) << r2.status().message();
}

// Reference layer norm over dims [axis, rank) with Scale/B of shape `pshape` right-aligned to the
// normalized block (dims of 1 broadcast).
struct LnRef {
  std::vector<double> y, mean, invStd;
};
LnRef refLayerNorm(const ir::TensorData& x, int64_t axis, const ir::TensorData& scale, const ir::TensorData* bias,
                   double eps) {
  const Dims& d = x.dims();
  const int64_t outer = prod(d, 0, static_cast<size_t>(axis)), inner = prod(d, static_cast<size_t>(axis), d.size());
  const Dims block(d.begin() + axis, d.end());
  auto paramAt = [&](const ir::TensorData& p, int64_t j) {
    // Decompose j over the block, re-index into p's (broadcast) shape.
    const Dims& ps = p.dims();
    int64_t at = 0, stride = 1, rem = j;
    for (size_t k = block.size(); k-- > 0;) {
      const int64_t coord = rem % block[k];
      rem /= block[k];
      const size_t off = block.size() - ps.size();
      if (k >= off) {
        const int64_t pd = ps[k - off];
        at += (pd == 1 ? 0 : coord) * stride;
        stride *= pd;
      }
    }
    return p.doubleAt(at);
  };
  LnRef r;
  for (int64_t o = 0; o < outer; ++o) {
    double m = 0;
    for (int64_t j = 0; j < inner; ++j) m += x.doubleAt(o * inner + j);
    m /= static_cast<double>(inner);
    double v = 0;
    for (int64_t j = 0; j < inner; ++j) v += std::pow(x.doubleAt(o * inner + j) - m, 2);
    v /= static_cast<double>(inner);
    const double inv = 1.0 / std::sqrt(v + eps);
    r.mean.push_back(m);
    r.invStd.push_back(inv);
    for (int64_t j = 0; j < inner; ++j)
      r.y.push_back((x.doubleAt(o * inner + j) - m) * inv * paramAt(scale, j) + (bias ? paramAt(*bias, j) : 0.0));
  }
  return r;
}

TEST(NormLayerNormalization, AxesBroadcastAndStats) {
  std::mt19937 rng(32);
  const Dims dims{2, 3, 4, 5};
  struct Case {
    int64_t axis;
    Dims scale, bias;  // bias empty: absent
  };
  const std::vector<Case> cases = {
      {-1, {5}, {5}}, {3, {5}, {}}, {2, {4, 5}, {1, 5}}, {1, {3, 4, 5}, {3, 1, 5}}, {0, {2, 3, 4, 5}, {5}}, {-2, {1, 5}, {4, 1}}};
  for (const Case& c : cases) {
    SCOPED_TRACE("axis " + std::to_string(c.axis));
    auto x = randomTensor(DataType::kFLOAT, dims, rng, -2, 2);
    auto scale = randomTensor(DataType::kFLOAT, c.scale, rng);
    auto bias = c.bias.empty() ? nullptr : randomTensor(DataType::kFLOAT, c.bias, rng);
    ir::Attributes at;
    at.setInt("axis", c.axis);
    at.setFloat("epsilon", 1e-4f);
    std::vector<OpInput> in{OpInput::value(x), OpInput::constant(scale)};
    if (bias) in.push_back(OpInput::constant(bias));
    auto r = runOp(OpKind::kLayerNormalization, at, in, 3);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    const int64_t axis = c.axis < 0 ? c.axis + 4 : c.axis;
    const LnRef ref = refLayerNorm(*x, axis, *scale, bias.get(), static_cast<double>(1e-4f));
    expectCloseTo(r->at(0), dims, ref.y);
    Dims statDims(dims.begin(), dims.begin() + axis);
    statDims.resize(dims.size(), 1);
    ASSERT_EQ(r->at(1).dtype(), DataType::kFLOAT);
    expectCloseTo(r->at(1), statDims, ref.mean);
    expectCloseTo(r->at(2), statDims, ref.invStd);
    // Single-output form gives the same Y.
    auto r1 = runOp(OpKind::kLayerNormalization, at, in);
    ASSERT_TRUE(r1.isOk()) << r1.status().toString();
    expectCloseTo(r1->at(0), dims, ref.y);
  }
}

TEST(NormLayerNormalization, HalfAndErrors) {
  std::mt19937 rng(33);
  auto x = randomTensor(DataType::kHALF, {3, 8}, rng);
  auto s = randomTensor(DataType::kHALF, {8}, rng);
  auto b = randomTensor(DataType::kHALF, {8}, rng);
  auto r = runOp(OpKind::kLayerNormalization, {}, {OpInput::value(x), OpInput::constant(s), OpInput::constant(b)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->at(0).dtype(), DataType::kHALF);
  expectCloseTo(r->at(0), {3, 8}, refLayerNorm(*x, 1, *s, b.get(), static_cast<double>(1e-5f)).y, 2e-3, 2e-3);

  auto bad = randomTensor(DataType::kHALF, {3}, rng);
  auto e = runOp(OpKind::kLayerNormalization, {}, {OpInput::value(x), OpInput::constant(bad)});
  ASSERT_FALSE(e.isOk());
  EXPECT_NE(e.status().message().find("Scale of shape [3] cannot be broadcast to the normalized shape [8]"),
            std::string::npos)
      << e.status().message();
  ir::Attributes ax;
  ax.setInt("axis", 2);
  auto e2 = runOp(OpKind::kLayerNormalization, ax, {OpInput::value(x), OpInput::constant(s)});
  ASSERT_FALSE(e2.isOk());
  EXPECT_NE(e2.status().message().find("axis 2 is out of range for rank 2"), std::string::npos) << e2.status().message();
}

// Group normalization reference; instance normalization is groups == C.
std::vector<double> refGroupNorm(const ir::TensorData& x, int64_t groups, const ir::TensorData& scale,
                                 const ir::TensorData& bias, double eps) {
  const Dims& d = x.dims();
  const int64_t n = d[0], c = d[1], sp = prod(d, 2, d.size()), cpg = c / groups;
  std::vector<double> y(static_cast<size_t>(x.numel()));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t g = 0; g < groups; ++g) {
      double m = 0, v = 0;
      const int64_t cnt = cpg * sp;
      for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ++ch)
        for (int64_t s = 0; s < sp; ++s) m += x.doubleAt((b * c + ch) * sp + s);
      m /= static_cast<double>(cnt);
      for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ++ch)
        for (int64_t s = 0; s < sp; ++s) v += std::pow(x.doubleAt((b * c + ch) * sp + s) - m, 2);
      v /= static_cast<double>(cnt);
      for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ++ch)
        for (int64_t s = 0; s < sp; ++s) {
          const int64_t i = (b * c + ch) * sp + s;
          y[static_cast<size_t>(i)] = (x.doubleAt(i) - m) / std::sqrt(v + eps) * scale.doubleAt(ch) + bias.doubleAt(ch);
        }
    }
  return y;
}

TEST(NormInstanceNormalization, Random) {
  std::mt19937 rng(34);
  for (const Dims& dims : {Dims{2, 3, 7}, Dims{2, 4, 3, 5}, Dims{1, 2, 2, 3, 4}}) {
    auto x = randomTensor(DataType::kFLOAT, dims, rng, -2, 3);
    auto s = randomTensor(DataType::kFLOAT, {dims[1]}, rng);
    auto b = randomTensor(DataType::kFLOAT, {dims[1]}, rng);
    auto r = runOp(OpKind::kInstanceNormalization, {}, {OpInput::value(x), OpInput::constant(s), OpInput::constant(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), dims, refGroupNorm(*x, dims[1], *s, *b, static_cast<double>(1e-5f)));
  }
}

TEST(NormGroupNormalization, RandomAndErrors) {
  std::mt19937 rng(35);
  for (int64_t groups : {1, 2, 3, 6}) {
    const Dims dims{2, 6, 4, 3};
    auto x = randomTensor(DataType::kFLOAT, dims, rng, -2, 3);
    auto s = randomTensor(DataType::kFLOAT, {6}, rng);
    auto b = randomTensor(DataType::kFLOAT, {6}, rng);
    ir::Attributes at;
    at.setInt("num_groups", groups);
    at.setFloat("epsilon", 1e-3f);
    auto r = runOp(OpKind::kGroupNormalization, at, {OpInput::value(x), OpInput::constant(s), OpInput::constant(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), dims, refGroupNorm(*x, groups, *s, *b, static_cast<double>(1e-3f)));
  }
  auto x = randomTensor(DataType::kFLOAT, {1, 6, 4}, rng);
  auto s = randomTensor(DataType::kFLOAT, {6}, rng);
  ir::Attributes at;
  at.setInt("num_groups", 4);
  auto r = runOp(OpKind::kGroupNormalization, at, {OpInput::value(x), OpInput::constant(s), OpInput::constant(s)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("num_groups=4 does not divide the channel count 6"), std::string::npos)
      << r.status().message();
}

std::vector<double> refSoftmax(const ir::TensorData& x, int64_t axis, bool isLog) {
  const Dims& d = x.dims();
  const int64_t outer = prod(d, 0, static_cast<size_t>(axis)), len = d[static_cast<size_t>(axis)],
                inner = prod(d, static_cast<size_t>(axis) + 1, d.size());
  std::vector<double> y(static_cast<size_t>(x.numel()));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < len; ++k) mx = std::max(mx, x.doubleAt((o * len + k) * inner + i));
      for (int64_t k = 0; k < len; ++k) sum += std::exp(x.doubleAt((o * len + k) * inner + i) - mx);
      for (int64_t k = 0; k < len; ++k) {
        const double v = x.doubleAt((o * len + k) * inner + i);
        y[static_cast<size_t>((o * len + k) * inner + i)] = isLog ? v - mx - std::log(sum) : std::exp(v - mx) / sum;
      }
    }
  return y;
}

TEST(NormSoftmax, AxesAndLog) {
  std::mt19937 rng(36);
  const Dims dims{3, 4, 5};
  for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax})
    for (int64_t axis : {0, 1, 2, -1, -3}) {
      auto x = randomTensor(DataType::kFLOAT, dims, rng, -5, 5);
      ir::Attributes at;
      at.setInt("axis", axis);
      auto r = runOp(op, at, {OpInput::value(x)});
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      expectCloseTo(r->at(0), dims, refSoftmax(*x, axis < 0 ? axis + 3 : axis, op == OpKind::kLogSoftmax));
    }
  // Default axis is -1.
  auto x = randomTensor(DataType::kDOUBLE, {2, 6}, rng, -5, 5);
  auto r = runOp(OpKind::kSoftmax, {}, {OpInput::value(x)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {2, 6}, refSoftmax(*x, 1, false), 1e-12, 1e-15);
}

TEST(NormSoftmax, ExtremeLogitsStayFinite) {
  auto x = makeFloat({2, 4}, {1000.f, 1001.f, -1000.f, 999.f, -1e38f, 1e38f, 0.f, 88.f});
  auto r = runOp(OpKind::kSoftmax, {}, {OpInput::value(x)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const double e1 = std::exp(-1.0), e2 = std::exp(-2.0), s = 1 + e1 + e2;
  expectCloseTo(r->at(0), {2, 4}, {e1 / s, 1 / s, 0, e2 / s, 0, 1, 0, 0});
  auto l = runOp(OpKind::kLogSoftmax, {}, {OpInput::value(x)});
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  for (int64_t i = 0; i < 8; ++i) EXPECT_TRUE(std::isfinite(l->at(0).doubleAt(i))) << i;
  EXPECT_NEAR(l->at(0).doubleAt(1), -std::log(s), 1e-6);
  EXPECT_NEAR(l->at(0).doubleAt(0), -1 - std::log(s), 1e-6);
  EXPECT_NEAR(l->at(0).doubleAt(5), 0.0, 1e-6);
  // float16: 60000 is near the top of its range; exp without the max shift would overflow.
  auto h = std::make_shared<ir::TensorData>(DataType::kHALF, Dims{3});
  h->as<Half>()[0] = Half(60000.f);
  h->as<Half>()[1] = Half(60000.f);
  h->as<Half>()[2] = Half(-60000.f);
  auto rh = runOp(OpKind::kSoftmax, {}, {OpInput::value(h)});
  ASSERT_TRUE(rh.isOk()) << rh.status().toString();
  expectCloseTo(rh->at(0), {3}, {0.5, 0.5, 0.0});
}

TEST(NormSoftmax, BadAxis) {
  std::mt19937 rng(37);
  auto x = randomTensor(DataType::kFLOAT, {2, 3}, rng);
  ir::Attributes at;
  at.setInt("axis", 2);
  auto r = runOp(OpKind::kSoftmax, at, {OpInput::value(x)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("Softmax 'node': axis 2 is out of range for rank 2"), std::string::npos)
      << r.status().message();
  auto xi = randomTensor(DataType::kINT32, {2, 3}, rng);
  auto r2 = runOp(OpKind::kLogSoftmax, {}, {OpInput::value(xi)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("int32"), std::string::npos) << r2.status().message();
}

}  // namespace
}  // namespace kiln::test
