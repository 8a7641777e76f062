// FusedMatMul (the matmul-epilogue-fusion pass's layer): Y = act(A @ B + bias + Z).
//
// (a) Tiny cases with exact, hand-computed products for every activation (the activation
//     formulas written out here, in double, from their ONNX definitions); (b) shapes aimed at
//     the CUDA kernel (cuBLASLt epilogues and the fallback epilogue kernel): float32, float16,
//     bfloat16, M/N/K not multiples of 8, batch dims folded into M, with and without bias, N = 1,
//     K = 1, checked against a double-precision loop (runOp also compares the GPU with the CPU
//     when a GPU is present); (c) bad inputs give errors naming the node; (d) the residual Z
//     (4th input, the output's shape): hand-computed, then the CUDA paths (cuBLASLt's C with
//     beta = 1 under every epilogue, the direct GEMM for float64, the copy for K = 0).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

struct Act {
  const char* name;  // "" = none
  float alpha = 0.f, beta = 0.f;
};

// The activations from their definitions (ONNX operator docs), in double.
double refAct(const Act& act, double x) {
  const std::string n = act.name;
  if (n.empty()) return x;
  if (n == "Relu") return x > 0 ? x : 0.0;
  if (n == "LeakyRelu") return x >= 0 ? x : act.alpha * x;
  if (n == "Clip")
    return std::min(std::max(x, static_cast<double>(act.alpha)), static_cast<double>(act.beta));
  if (n == "Sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (n == "Tanh") return std::tanh(x);
  if (n == "Gelu") return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  if (n == "GeluTanh") {
    const double pi = std::acos(-1.0);
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
  }
  if (n == "HardSwish") return x * std::max(0.0, std::min(1.0, x / 6.0 + 0.5));
  if (n == "Silu") return x / (1.0 + std::exp(-x));
  ADD_FAILURE() << "no reference for activation " << n;
  return 0;
}

ir::Attributes actAttrs(const Act& act) {
  ir::Attributes at;
  at.setString("activation", act.name);
  const std::string n = act.name;
  if (n == "LeakyRelu" || n == "Clip") at.setFloat("activation_alpha", act.alpha);
  if (n == "Clip") at.setFloat("activation_beta", act.beta);
  return at;
}

const std::vector<Act>& allActs() {
  static const std::vector<Act> kActs = {
      {""},     {"Relu"}, {"LeakyRelu", 0.1f}, {"Clip", 0.f, 6.f}, {"Sigmoid"},
      {"Tanh"}, {"Gelu"}, {"GeluTanh"},        {"HardSwish"},      {"Silu"},
  };
  return kActs;
}

// act(A @ B + bias + z) in double; A [..., M, K], B [K, N], z (optional) [..., M, N].
std::vector<double> refFused(const ir::TensorData& a, const ir::TensorData& b,
                             const ir::TensorData* bias, const Act& act,
                             const ir::TensorData* z = nullptr) {
  const int64_t k = a.dims().back(), n = b.dims()[1];
  const int64_t rows = k == 0 ? volume(Dims(a.dims().begin(), a.dims().end() - 1)) : a.numel() / k;
  const std::vector<double> av = toDoubles(a), bv = toDoubles(b);
  const std::vector<double> cv = bias ? toDoubles(*bias) : std::vector<double>{};
  const std::vector<double> zv = z ? toDoubles(*z) : std::vector<double>{};
  std::vector<double> out(static_cast<size_t>(rows * n));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += av[static_cast<size_t>(i * k + p)] * bv[static_cast<size_t>(p * n + j)];
      if (bias) s += cv[static_cast<size_t>(j)];
      if (z) s += zv[static_cast<size_t>(i * n + j)];
      out[static_cast<size_t>(i * n + j)] = refAct(act, s);
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// (a) exact products

TEST(FusedMatMul, HandComputedEveryActivation) {
  // A [1, 2, 2] @ B [2, 3] = [[1, 2, 3], [3, 4, 5]]; + bias [0.5, -10, 1] =
  // [[1.5, -8, 4], [3.5, -6, 6]] (all exact in float32).
  auto a = makeFloat({1, 2, 2}, {1, 2, 3, 4});
  auto b = makeFloat({2, 3}, {1, 0, -1, 0, 1, 2});
  auto bias = makeFloat({3}, {0.5f, -10.f, 1.f});
  const std::vector<double> pre = {1.5, -8, 4, 3.5, -6, 6};
  const std::vector<double> noBias = {1, 2, 3, 3, 4, 5};
  // Hand-written for the piecewise-linear activations.
  const std::vector<double> relu = {1.5, 0, 4, 3.5, 0, 6};
  const std::vector<double> leaky = {1.5, -0.8, 4, 3.5, -0.6, 6};
  const std::vector<double> clip05 = {1.5, 0, 4, 3.5, 0, 5};
  const std::vector<double> hardSwish = {1.5 * (1.5 / 6 + 0.5), 0, 4, 3.5, 0, 6};
  for (const Act& act : allActs()) {
    SCOPED_TRACE(act.name);
    auto r = runOp(OpKind::kFusedMatMul, actAttrs(act),
                   {OpInput::value(a), OpInput::constant(b), OpInput::constant(bias)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    ASSERT_EQ(r->at(0).dims(), (Dims{1, 2, 3}));
    std::vector<double> want(pre.size());
    for (size_t i = 0; i < pre.size(); ++i) want[i] = refAct(act, pre[i]);
    expectCloseTo(r->at(0), {1, 2, 3}, want, 1e-6, 1e-7);
  }
  auto check = [&](const Act& act, bool withBias, const std::vector<double>& want) {
    SCOPED_TRACE(std::string(act.name) + (withBias ? " bias" : " no bias"));
    std::vector<OpInput> in{OpInput::value(a), OpInput::constant(b)};
    if (withBias) in.push_back(OpInput::constant(bias));
    auto r = runOp(OpKind::kFusedMatMul, actAttrs(act), in);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), {1, 2, 3}, want, 1e-7, 0);  // float32 rounding of alpha only
  };
  check({""}, true, pre);
  check({""}, false, noBias);
  check({"Relu"}, true, relu);
  check({"LeakyRelu", 0.1f}, true, leaky);
  check({"Clip", 0.f, 5.f}, true, clip05);
  check({"Clip", 2.5f, 3.25f}, false, {2.5, 2.5, 3, 3, 3.25, 3.25});
  auto r = runOp(OpKind::kFusedMatMul, actAttrs({"HardSwish"}),
                 {OpInput::value(a), OpInput::constant(b), OpInput::constant(bias)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 2, 3}, hardSwish, 1e-7, 0);
}

TEST(FusedMatMul, ActivationValuesAtKnownPoints) {
  // A [2, 1] @ B [1, 2] with bias 0: pre-activations -2, 0, 1, 2 (exact).
  auto a = makeFloat({2, 1}, {1, -1});
  auto b = makeFloat({1, 2}, {-2, 0});
  auto bias = makeFloat({2}, {0, 0});
  // x = [-2, 0, 2, 0]: hand values (to float32 precision).
  const std::vector<std::pair<Act, std::vector<double>>> cases = {
      {{"Sigmoid"}, {0.11920292202211755, 0.5, 0.8807970779778823, 0.5}},
      {{"Tanh"}, {-0.9640275800758169, 0, 0.9640275800758169, 0}},
      {{"Gelu"}, {-0.04550026389635842, 0, 1.9544997361036416, 0}},
      {{"GeluTanh"}, {-0.04540230591222596, 0, 1.954597694087774, 0}},
      {{"HardSwish"}, {-0.3333333333333333, 0, 1.6666666666666667, 0}},
      {{"Silu"}, {-0.23840584404423515, 0, 1.7615941559557646, 0}},
  };
  for (const auto& [act, want] : cases) {
    SCOPED_TRACE(act.name);
    auto r = runOp(OpKind::kFusedMatMul, actAttrs(act),
                   {OpInput::value(a), OpInput::constant(b), OpInput::constant(bias)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), {2, 2}, want, 1e-6, 1e-7);
  }
}

// ---------------------------------------------------------------------------------------------
// (b) shapes for the CUDA kernel

void checkFused(DataType t, const Dims& ad, int64_t n, bool withBias, const Act& act,
                std::mt19937& rng, bool constB = true) {
  SCOPED_TRACE(strFormat("%s A=%s N=%lld bias=%d act=%s constB=%d", dataTypeName(t),
                         ir::dimsToString(ad).c_str(), static_cast<long long>(n), withBias,
                         act.name, constB));
  const int64_t k = ad.back();
  auto a = randomTensor(t, ad, rng, -1.0, 1.0);
  auto b = randomTensor(t, {k, n}, rng, -1.0, 1.0);
  auto bias = withBias ? randomTensor(t, {n}, rng, -1.0, 1.0) : nullptr;
  std::vector<OpInput> in{OpInput::value(a), constB ? OpInput::constant(b) : OpInput::value(b)};
  if (bias) in.push_back(OpInput::constant(bias));
  auto r = runOp(OpKind::kFusedMatMul, actAttrs(act), in);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dtype(), t);
  Dims od(ad.begin(), ad.end() - 1);
  od.push_back(n);
  const OpTol tol = opTolFor(t, 2e-5);
  expectCloseTo(r->at(0), od, refFused(*a, *b, bias.get(), act), tol.rtol, tol.atol);
}

TEST(GpuFusedMatMul, EveryActivationWithAndWithoutBias) {
  // M = 37, N = 53, K = 29: no multiple of 8 anywhere (alignment-limited cuBLASLt algorithms).
  std::mt19937 rng(301);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16})
    for (const Act& act : allActs())
      for (bool bias : {true, false}) checkFused(t, {37, 29}, 53, bias, act, rng);
}

TEST(GpuFusedMatMul, BatchDimsFoldIntoM) {
  std::mt19937 rng(302);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    checkFused(t, {2, 3, 13, 17}, 11, true, {"Relu"}, rng);
    checkFused(t, {2, 3, 13, 17}, 11, true, {"GeluTanh"}, rng);
    checkFused(t, {4, 5, 24}, 40, true, {"Gelu"}, rng);
    checkFused(t, {4, 5, 24}, 40, false, {"Silu"}, rng);
    checkFused(t, {1, 1, 7, 9}, 5, false, {""}, rng, false);  // B not a constant
  }
}

TEST(GpuFusedMatMul, NarrowShapes) {
  std::mt19937 rng(303);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    for (const Act& act : {Act{""}, Act{"Relu"}, Act{"Sigmoid"}, Act{"GeluTanh"}}) {
      checkFused(t, {19, 23}, 1, true, act, rng);    // N = 1
      checkFused(t, {19, 1}, 21, true, act, rng);    // K = 1
      checkFused(t, {1, 23}, 17, true, act, rng);    // M = 1
      checkFused(t, {3, 7, 1}, 1, false, act, rng);  // N = K = 1
    }
  }
}

TEST(GpuFusedMatMul, AlignedTransformerLikeShapes) {
  // Multiples of 8 / 16 (the cuBLASLt epilogue fast paths), K large enough that TF32 would miss
  // the float32 tolerance.
  std::mt19937 rng(304);
  checkFused(DataType::kFLOAT, {2, 64, 256}, 96, true, {"GeluTanh"}, rng);
  checkFused(DataType::kFLOAT, {128, 256}, 64, true, {"Relu"}, rng);
  checkFused(DataType::kHALF, {2, 64, 128}, 256, true, {"Gelu"}, rng);
  checkFused(DataType::kHALF, {128, 64}, 128, true, {"Relu"}, rng);
  checkFused(DataType::kBF16, {64, 64}, 64, true, {"GeluTanh"}, rng);
  checkFused(DataType::kHALF, {32, 64}, 48, false, {"Relu"}, rng);
  checkFused(DataType::kHALF, {32, 64}, 48, false, {"GeluTanh"}, rng);
}

TEST(GpuFusedMatMul, ClipAndLeakyParametersAndDouble) {
  std::mt19937 rng(305);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kDOUBLE}) {
    checkFused(t, {9, 10}, 12, true, {"Clip", -0.25f, 0.5f}, rng);
    checkFused(t, {9, 10}, 12, true, {"LeakyRelu", 0.2f}, rng);
    checkFused(t, {9, 10}, 12, false, {"HardSwish"}, rng);
  }
}

TEST(GpuFusedMatMul, EmptyDims) {
  std::mt19937 rng(306);
  checkFused(DataType::kFLOAT, {0, 4}, 5, true, {"Relu"}, rng);
  checkFused(DataType::kFLOAT, {3, 0}, 5, true, {"Sigmoid"}, rng);  // K = 0: act(bias)
  checkFused(DataType::kHALF, {2, 0, 3}, 4, false, {""}, rng);
  checkFused(DataType::kHALF, {2, 2, 0}, 4, false, {"Relu"}, rng);  // K = 0 without bias: act(0)
}

// ---------------------------------------------------------------------------------------------
// (c) bad inputs

void expectError(const ir::Attributes& at, const std::vector<OpInput>& in, const char* what) {
  auto r = runOp(OpKind::kFusedMatMul, at, in);
  ASSERT_FALSE(r.isOk()) << what;
  EXPECT_NE(r.status().message().find("FusedMatMul 'node'"), std::string::npos)
      << r.status().toString();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().toString();
}

TEST(FusedMatMul, BadInputsAreErrorsNamingTheNode) {
  std::mt19937 rng(307);
  auto a = randomTensor(DataType::kFLOAT, {4, 3}, rng);
  auto b = randomTensor(DataType::kFLOAT, {3, 5}, rng);
  auto bias = randomTensor(DataType::kFLOAT, {5}, rng);
  ir::Attributes none = actAttrs({""});
  expectError(none,
              {OpInput::value(a), OpInput::value(randomTensor(DataType::kFLOAT, {2, 3, 5}, rng))},
              "B must be 2-D");
  expectError(none, {OpInput::value(randomTensor(DataType::kFLOAT, {3}, rng)), OpInput::value(b)},
              "rank >= 2");
  expectError(none,
              {OpInput::value(a), OpInput::value(randomTensor(DataType::kFLOAT, {4, 5}, rng))},
              "inner dimensions do not match");
  expectError(none,
              {OpInput::value(a), OpInput::value(b),
               OpInput::value(randomTensor(DataType::kFLOAT, {4}, rng))},
              "bias must be 1-D with N=5");
  expectError(none,
              {OpInput::value(a), OpInput::value(b),
               OpInput::value(randomTensor(DataType::kFLOAT, {1, 5}, rng))},
              "bias must be 1-D");
  expectError(none, {OpInput::value(a), OpInput::value(randomTensor(DataType::kHALF, {3, 5}, rng))},
              "must have A's data type");
  expectError(none,
              {OpInput::value(randomTensor(DataType::kINT32, {4, 3}, rng)),
               OpInput::value(randomTensor(DataType::kINT32, {3, 5}, rng))},
              "not supported");
  ir::Attributes bad;
  bad.setString("activation", "Softplus");
  expectError(bad, {OpInput::value(a), OpInput::value(b), OpInput::value(bias)},
              "unknown fused activation");
}

// ---------------------------------------------------------------------------------------------
// (d) the residual Z

TEST(FusedMatMul, ResidualHandComputed) {
  // A [1, 2, 2] @ B [2, 3] = [[1, 2, 3], [3, 4, 5]]; + bias [0.5, -10, 1] + Z.
  auto a = makeFloat({1, 2, 2}, {1, 2, 3, 4});
  auto b = makeFloat({2, 3}, {1, 0, -1, 0, 1, 2});
  auto bias = makeFloat({3}, {0.5f, -10.f, 1.f});
  auto z = makeFloat({1, 2, 3}, {0.25f, 9.f, -5.f, -4.f, 1.f, 0.5f});
  auto run = [&](const Act& act, bool withBias) {
    return runOp(OpKind::kFusedMatMul, actAttrs(act),
                 {OpInput::value(a), OpInput::constant(b),
                  withBias ? OpInput::constant(bias) : OpInput::absent(), OpInput::value(z)});
  };
  // With the bias: [[1.75, 1, -1], [-0.5, -5, 6.5]]; Relu after the residual Add.
  auto r = run({""}, true);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 2, 3}, {1.75, 1, -1, -0.5, -5, 6.5}, 1e-7, 0);
  r = run({"Relu"}, true);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 2, 3}, {1.75, 1, 0, 0, 0, 6.5}, 1e-7, 0);
  // Without the bias: [[1.25, 11, -2], [-1, 5, 5.5]].
  r = run({""}, false);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 2, 3}, {1.25, 11, -2, -1, 5, 5.5}, 1e-7, 0);
  r = run({"Clip", 0.f, 5.f}, false);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 2, 3}, {1.25, 5, 0, 0, 5, 5}, 1e-7, 0);
}

void checkResidual(DataType t, const Dims& ad, int64_t n, bool withBias, const Act& act,
                   std::mt19937& rng) {
  SCOPED_TRACE(strFormat("residual %s A=%s N=%lld bias=%d act=%s", dataTypeName(t),
                         ir::dimsToString(ad).c_str(), static_cast<long long>(n), withBias,
                         act.name));
  const int64_t k = ad.back();
  Dims od(ad.begin(), ad.end() - 1);
  od.push_back(n);
  auto a = randomTensor(t, ad, rng, -1.0, 1.0);
  auto b = randomTensor(t, {k, n}, rng, -1.0, 1.0);
  auto bias = withBias ? randomTensor(t, {n}, rng, -1.0, 1.0) : nullptr;
  // Z larger than the product's typical size, so a missing or doubled residual shows.
  auto z = randomTensor(t, od, rng, -3.0, 3.0);
  auto r = runOp(OpKind::kFusedMatMul, actAttrs(act),
                 {OpInput::value(a), OpInput::constant(b),
                  bias ? OpInput::constant(bias) : OpInput::absent(), OpInput::value(z)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dtype(), t);
  const OpTol tol = opTolFor(t, 2e-5);
  expectCloseTo(r->at(0), od, refFused(*a, *b, bias.get(), act, z.get()), tol.rtol, tol.atol);
}

TEST(GpuFusedMatMul, ResidualWithAndWithoutBiasEveryEpilogue) {
  // None (BIAS / DEFAULT + C), Relu (RELU_BIAS / RELU + C), GeluTanh (GELU_BIAS + C for the
  // 16-bit types; float32 takes the epilogue kernel), Gelu and Sigmoid (the epilogue kernel after
  // a GEMM that already added C).
  std::mt19937 rng(308);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16})
    for (const Act& act : {Act{""}, Act{"Relu"}, Act{"GeluTanh"}, Act{"Gelu"}, Act{"Sigmoid"}})
      for (bool bias : {true, false}) {
        checkResidual(t, {37, 29}, 53, bias, act, rng);      // no multiple of 8
        checkResidual(t, {2, 64, 96}, 128, bias, act, rng);  // aligned, batch dims fold into M
      }
}

TEST(GpuFusedMatMul, ResidualBatchedNarrowDoubleAndEmpty) {
  std::mt19937 rng(309);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    checkResidual(t, {2, 3, 13, 17}, 11, true, {"Relu"}, rng);  // batched A
    checkResidual(t, {4, 5, 24}, 40, false, {"GeluTanh"}, rng);
    checkResidual(t, {19, 23}, 1, true, {""}, rng);      // N = 1
    checkResidual(t, {19, 1}, 21, true, {"Relu"}, rng);  // K = 1
    checkResidual(t, {1, 23}, 17, false, {""}, rng);     // M = 1
  }
  // float64: the direct GEMM kernel with C = Z (cuBLASLt takes no epilogue for it) or cuBLASLt
  // DEFAULT with C.
  checkResidual(DataType::kDOUBLE, {9, 10}, 12, true, {"Relu"}, rng);
  checkResidual(DataType::kDOUBLE, {2, 9, 10}, 12, false, {""}, rng);
  // K = 0: Y = act(bias + Z) (Z copied into Y, then the epilogue kernel).
  checkResidual(DataType::kFLOAT, {3, 0}, 5, true, {"Sigmoid"}, rng);
  checkResidual(DataType::kHALF, {2, 2, 0}, 4, false, {""}, rng);
  checkResidual(DataType::kHALF, {2, 2, 0}, 4, true, {"Relu"}, rng);
  // Empty output.
  checkResidual(DataType::kFLOAT, {0, 4}, 5, true, {"Relu"}, rng);
}

TEST(FusedMatMul, BadResidualIsAnErrorNamingTheNode) {
  std::mt19937 rng(310);
  auto a = randomTensor(DataType::kFLOAT, {2, 4, 3}, rng);
  auto b = randomTensor(DataType::kFLOAT, {3, 5}, rng);
  auto bias = randomTensor(DataType::kFLOAT, {5}, rng);
  ir::Attributes none = actAttrs({""});
  // Broadcasting shapes are not taken: exactly [2, 4, 5].
  for (const Dims& zd : {Dims{5}, Dims{4, 5}, Dims{1, 4, 5}, Dims{2, 4, 1}, Dims{2, 4, 6}}) {
    SCOPED_TRACE(ir::dimsToString(zd));
    expectError(none,
                {OpInput::value(a), OpInput::value(b), OpInput::value(bias),
                 OpInput::value(randomTensor(DataType::kFLOAT, zd, rng))},
                "residual Z must have exactly the output's shape");
  }
  expectError(none,
              {OpInput::value(a), OpInput::value(b), OpInput::absent(),
               OpInput::value(randomTensor(DataType::kHALF, {2, 4, 5}, rng))},
              "residual Z must have the output's data type");
}

}  // namespace
}  // namespace kiln::test
