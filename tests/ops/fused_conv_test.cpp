// FusedConv (Y = act(Conv(X, W) + B + Z)): the CPU kernel against hand-computed values for every
// activation, GPU-shaped cases (float32/float16/bfloat16, grouped, depthwise, strided, dilated,
// padded, with and without B and Z, odd and even spatial sizes) against a double-precision loop
// written here, and bad inputs. runOp also compares the GPU with the CPU when a GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "common/status.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

// The activations the op takes, written out independently of ir/fused_activation.h.
struct Act {
  std::string name;
  float alpha = 0.f, beta = 0.f;
};

double applyAct(const Act& a, double v) {
  if (a.name.empty()) return v;
  if (a.name == "Relu") return v > 0 ? v : 0.0;
  if (a.name == "LeakyRelu") return v >= 0 ? v : a.alpha * v;
  if (a.name == "Clip") return std::min<double>(std::max<double>(v, a.alpha), a.beta);
  if (a.name == "Sigmoid") return 1.0 / (1.0 + std::exp(-v));
  if (a.name == "Tanh") return std::tanh(v);
  if (a.name == "Gelu") return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
  if (a.name == "GeluTanh") {
    const double k = std::sqrt(2.0 / 3.14159265358979323846);
    return 0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v)));
  }
  if (a.name == "HardSwish") return v * std::min(1.0, std::max(0.0, v / 6.0 + 0.5));
  if (a.name == "Silu") return v / (1.0 + std::exp(-v));
  ADD_FAILURE() << "unknown activation " << a.name;
  return v;
}

ir::Attributes actAttrs(ir::Attributes at, const Act& a) {
  at.setString("activation", a.name);
  if (a.name == "LeakyRelu" || a.name == "Clip") at.setFloat("activation_alpha", a.alpha);
  if (a.name == "Clip") at.setFloat("activation_beta", a.beta);
  return at;
}

std::vector<Act> allActs() {
  return {{""},
          {"Relu"},
          {"LeakyRelu", 0.1f},
          {"Clip", 0.f, 6.f},
          {"Clip", -0.25f, 0.5f},
          {"Sigmoid"},
          {"Tanh"},
          {"Gelu"},
          {"GeluTanh"},
          {"HardSwish"},
          {"Silu"}};
}

// ---------------------------------------------------------------------------------------------
// Tiny exact cases

// X [1,1,3,3] = 1..9; W [2,1,2,2]: channel 0 = [[1,0],[0,-1]], channel 1 = all 0.5;
// B = [1, -10]; Z = [[0.5,-0.5],[1,2]], [[0,1],[-1,3]].
//   Conv:      ch0 = x[i][j] - x[i+1][j+1] = -4 everywhere; ch1 = half the 2x2 sums = 6, 8, 12, 14
//   + B:       ch0 = -3, -3, -3, -3;  ch1 = -4, -2, 2, 4
//   + Z:       ch0 = -2.5, -3.5, -2, -1;  ch1 = -4, -1, 1, 7
const std::vector<double> kPreAct = {-2.5, -3.5, -2, -1, -4, -1, 1, 7};
const std::vector<double> kPreActNoZ = {-3, -3, -3, -3, -4, -2, 2, 4};

StatusOr<OpResult> runTiny(const Act& a, bool withZ, DataType t = DataType::kFLOAT) {
  auto x = makeFloat({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto w = makeFloat({2, 1, 2, 2}, {1, 0, 0, -1, 0.5f, 0.5f, 0.5f, 0.5f});
  auto b = makeFloat({2}, {1, -10});
  auto z = makeFloat({1, 2, 2, 2}, {0.5f, -0.5f, 1, 2, 0, 1, -1, 3});
  auto cast = [&](std::shared_ptr<ir::TensorData> f) {
    if (t == DataType::kFLOAT) return f;
    auto o = std::make_shared<ir::TensorData>(t, f->dims());
    for (int64_t i = 0; i < f->numel(); ++i) {
      if (t == DataType::kHALF) o->as<Half>()[i] = Half(f->as<float>()[i]);
      if (t == DataType::kBF16) o->as<BFloat16>()[i] = BFloat16(f->as<float>()[i]);
      if (t == DataType::kDOUBLE) o->as<double>()[i] = f->as<float>()[i];
    }
    return o;
  };
  std::vector<OpInput> in{OpInput::value(cast(x)), OpInput::constant(cast(w)),
                          OpInput::constant(cast(b))};
  if (withZ) in.push_back(OpInput::value(cast(z)));
  return runOp(OpKind::kFusedConv, actAttrs({}, a), in);
}

TEST(FusedConv, HandComputedPiecewiseActivations) {
  struct Case {
    Act act;
    std::vector<double> want;
  };
  const std::vector<Case> cases = {
      {{""}, kPreAct},
      {{"Relu"}, {0, 0, 0, 0, 0, 0, 1, 7}},
      {{"LeakyRelu", 0.1f}, {-0.25, -0.35, -0.2, -0.1, -0.4, -0.1, 1, 7}},
      {{"Clip", 0.f, 6.f}, {0, 0, 0, 0, 0, 0, 1, 6}},
      {{"Clip", -3.f, 2.f}, {-2.5, -3, -2, -1, -3, -1, 1, 2}},
      // HardSwish: v * clamp(v/6 + 1/2, 0, 1): zero below -3, v above 3.
      {{"HardSwish"},
       {-2.5 * (0.5 - 2.5 / 6), 0, -2 * (0.5 - 2.0 / 6), -1 * (0.5 - 1.0 / 6), 0,
        -1 * (0.5 - 1.0 / 6), 1 * (0.5 + 1.0 / 6), 7}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("activation " + c.act.name);
    auto r = runTiny(c.act, true);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), {1, 2, 2, 2}, c.want, 1e-6, 1e-7);
  }
  // Without Z.
  auto r = runTiny({"Relu"}, false);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 2, 2, 2}, {0, 0, 0, 0, 0, 0, 2, 4}, 1e-6, 1e-7);
}

TEST(FusedConv, HandComputedSmoothActivations) {
  // The pre-activation values above are exact; the activations' closed forms give the rest.
  for (const Act& a : {Act{"Sigmoid"}, Act{"Tanh"}, Act{"Gelu"}, Act{"GeluTanh"}, Act{"Silu"}}) {
    SCOPED_TRACE("activation " + a.name);
    std::vector<double> want;
    for (double v : kPreAct) want.push_back(applyAct(a, v));
    auto r = runTiny(a, true);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), {1, 2, 2, 2}, want, 1e-6, 1e-7);
    // Spot checks of the reference itself: sigmoid(-1) = 0.2689414, tanh(7) = 0.9999983.
    if (a.name == "Sigmoid") {
      EXPECT_NEAR(want[3], 0.2689414213699951, 1e-12);
    }
    if (a.name == "Tanh") {
      EXPECT_NEAR(want[7], 0.9999983369439447, 1e-12);
    }
  }
}

TEST(FusedConv, HandComputedInEveryFloatType) {
  // Every pre-activation value is exact in float16/bfloat16 too.
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kDOUBLE}) {
    SCOPED_TRACE(dataTypeName(t));
    auto r = runTiny({"LeakyRelu", 0.5f}, true, t);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    ASSERT_EQ(r->at(0).dtype(), t);
    expectCloseTo(r->at(0), {1, 2, 2, 2}, {-1.25, -1.75, -1, -0.5, -2, -0.5, 1, 7}, 0, 0);
    auto noZ = runTiny({"Clip", -3.5f, 3.f}, false, t);
    ASSERT_TRUE(noZ.isOk()) << noZ.status().toString();
    expectCloseTo(noZ->at(0), {1, 2, 2, 2}, {-3, -3, -3, -3, -3.5, -2, 2, 3}, 0, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// GPU-shaped cases against a double loop

struct Spec {
  Dims x, w;
  int64_t group = 1;
  Dims strides, dilations, pads;  // empty: absent
  std::string autoPad;
};

ir::Attributes convAttrs(const Spec& s) {
  ir::Attributes at;
  if (s.group != 1) at.setInt("group", s.group);
  if (!s.strides.empty()) at.setInts("strides", s.strides);
  if (!s.dilations.empty()) at.setInts("dilations", s.dilations);
  if (!s.pads.empty()) at.setInts("pads", s.pads);
  if (!s.autoPad.empty()) at.setString("auto_pad", s.autoPad);
  return at;
}

// Conv(X, W) + B in double (pads explicit or SAME_UPPER), output dims in *od.
std::vector<double> refConv(const Spec& s, const ir::TensorData& x, const ir::TensorData& w,
                            const ir::TensorData* b, Dims* od) {
  return referenceConv(x, w, b, s.group, s.strides, s.dilations, s.pads, s.autoPad, od);
}

Dims outDims(const Spec& s) {
  std::mt19937 rng(0);
  auto x = randomTensor(DataType::kFLOAT, s.x, rng);
  auto w = randomTensor(DataType::kFLOAT, s.w, rng);
  Dims od;
  refConv(s, *x, *w, nullptr, &od);
  return od;
}

void checkFused(DataType t, const Spec& s, const Act& a, bool withB, bool withZ,
                std::mt19937& rng) {
  SCOPED_TRACE(strFormat("%s X%s W%s group=%lld act=%s B=%d Z=%d", dataTypeName(t),
                         ir::dimsToString(s.x).c_str(), ir::dimsToString(s.w).c_str(),
                         static_cast<long long>(s.group), a.name.c_str(), withB, withZ));
  const Dims od = outDims(s);
  auto x = randomTensor(t, s.x, rng);
  auto w = randomTensor(t, s.w, rng, -0.5, 0.5);
  auto b = randomTensor(t, {s.w[0]}, rng);
  auto z = randomTensor(t, od, rng);
  std::vector<OpInput> in{OpInput::value(x), OpInput::constant(w)};
  in.push_back(withB ? OpInput::constant(b) : OpInput::absent());
  if (withZ) in.push_back(OpInput::value(z));
  auto r = runOp(OpKind::kFusedConv, actAttrs(convAttrs(s), a), in);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dtype(), t);
  Dims got;
  std::vector<double> want = refConv(s, *x, *w, withB ? b.get() : nullptr, &got);
  ASSERT_EQ(got, od);
  for (size_t i = 0; i < want.size(); ++i) {
    if (withZ) want[i] += z->doubleAt(static_cast<int64_t>(i));
    want[i] = applyAct(a, want[i]);
  }
  const OpTol tol = opTolFor(t);
  expectCloseTo(r->at(0), od, want, tol.rtol, tol.atol);
}

std::vector<Spec> specs() {
  return {
      {{2, 8, 13, 11}, {16, 8, 3, 3}, 1, {}, {}, {1, 1, 1, 1}, ""},         // dense 3x3, odd H*W
      {{1, 16, 15, 15}, {16, 1, 3, 3}, 16, {2, 2}, {}, {}, "SAME_UPPER"},   // depthwise strided
      {{2, 8, 9, 12}, {12, 2, 3, 3}, 4, {1, 2}, {2, 1}, {2, 1, 1, 0}, ""},  // grouped, dilated
      {{1, 32, 8, 8}, {24, 32, 1, 1}, 1, {}, {}, {}, ""},                   // 1x1, even inner size
      {{2, 6, 17}, {10, 3, 5}, 2, {2}, {}, {2, 2}, ""},  // 1-D grouped, odd length
  };
}

TEST(FusedConv, EveryActivationFloat32) {
  std::mt19937 rng(501);
  const std::vector<Spec> ss = specs();
  size_t i = 0;
  for (const Act& a : allActs()) {
    const Spec& s = ss[i++ % ss.size()];
    checkFused(DataType::kFLOAT, s, a, true, true, rng);
  }
}

TEST(FusedConv, ShapesWithAndWithoutBiasAndResidual) {
  std::mt19937 rng(502);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16})
    for (const Spec& s : specs())
      for (int mask = 0; mask < 4; ++mask)
        checkFused(t, s, mask % 2 ? Act{"Relu"} : Act{"Silu"}, mask & 1, mask & 2, rng);
}

TEST(FusedConv, EveryActivationHalfAndBFloat) {
  std::mt19937 rng(503);
  const std::vector<Spec> ss = specs();
  for (DataType t : {DataType::kHALF, DataType::kBF16}) {
    size_t i = 0;
    for (const Act& a : allActs()) checkFused(t, ss[i++ % ss.size()], a, true, true, rng);
  }
}

TEST(FusedConv, DoubleAndALargerLayer) {
  std::mt19937 rng(504);
  checkFused(DataType::kDOUBLE, specs()[2], {"HardSwish"}, true, true, rng);
  // ResNet-sized: 576 products per output, residual and Relu.
  checkFused(DataType::kFLOAT, {{1, 64, 14, 14}, {64, 64, 3, 3}, 1, {}, {}, {1, 1, 1, 1}, ""},
             {"Relu"}, true, true, rng);
  checkFused(DataType::kHALF, {{1, 64, 14, 14}, {64, 64, 3, 3}, 1, {}, {}, {1, 1, 1, 1}, ""},
             {"Clip", 0.f, 6.f}, true, true, rng);
}

// ---------------------------------------------------------------------------------------------
// Bad inputs

TEST(FusedConv, BadInputsAreErrorsNamingTheNode) {
  std::mt19937 rng(505);
  auto x = randomTensor(DataType::kFLOAT, {1, 4, 5, 5}, rng);
  auto w = randomTensor(DataType::kFLOAT, {6, 4, 3, 3}, rng);
  auto b = randomTensor(DataType::kFLOAT, {6}, rng);
  auto expectError = [&](const std::vector<OpInput>& in, const ir::Attributes& at,
                         const std::string& fragment) {
    auto r = runOp(OpKind::kFusedConv, at, in);
    ASSERT_FALSE(r.isOk()) << fragment;
    EXPECT_NE(r.status().message().find("FusedConv"), std::string::npos) << r.status().toString();
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().toString();
  };
  ir::Attributes relu;
  relu.setString("activation", "Relu");
  // Z broadcast (per channel) is not a residual.
  expectError({OpInput::value(x), OpInput::constant(w), OpInput::constant(b),
               OpInput::value(randomTensor(DataType::kFLOAT, {1, 6, 1, 1}, rng))},
              relu, "residual Z must have exactly the output's shape");
  // Z of another type.
  expectError({OpInput::value(x), OpInput::constant(w), OpInput::constant(b),
               OpInput::value(randomTensor(DataType::kHALF, {1, 6, 3, 3}, rng))},
              relu, "residual Z must have the output's data type");
  // Unknown activation.
  ir::Attributes bad;
  bad.setString("activation", "Softplus");
  expectError({OpInput::value(x), OpInput::constant(w)}, bad, "unknown fused activation");
  // Conv's own checks apply, naming the FusedConv.
  expectError(
      {OpInput::value(x), OpInput::constant(randomTensor(DataType::kFLOAT, {6, 3, 3, 3}, rng))},
      relu, "input channels mismatch");
  expectError({OpInput::value(x), OpInput::constant(w),
               OpInput::constant(randomTensor(DataType::kFLOAT, {5}, rng))},
              relu, "bias B must have shape");
  // Too many inputs.
  expectError(
      {OpInput::value(x), OpInput::constant(w), OpInput::constant(b),
       OpInput::value(randomTensor(DataType::kFLOAT, {1, 6, 3, 3}, rng)), OpInput::value(x)},
      relu, "expects 2 to 4 inputs");
}

}  // namespace
}  // namespace kiln::test
