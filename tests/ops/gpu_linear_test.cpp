// Linear family cases aimed at the CUDA kernels (cuBLASLt / cuDNN / direct fallbacks): bias
// broadcasting with M != N, batch broadcasting patterns the GEMM path folds, loops or strides,
// 1-D operands, grouped / dilated / strided / asymmetric convolutions and transposed
// convolutions, fp16/bf16/double variants, misaligned batch strides, empty dims. Every case is
// checked against a double-precision loop here; runOp also compares the GPU with the CPU when a
// GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

// Tolerances of a result rounded once from float32 (float16/bfloat16) or computed in the type.
struct Tol {
  double rtol, atol;
};
Tol tolFor(DataType t, bool largeSums = false) {
  switch (t) {
    case DataType::kHALF: return {2e-3, 4e-3};
    case DataType::kBF16: return {8e-3, 2e-2};
    case DataType::kDOUBLE: return {1e-12, 1e-12};
    case DataType::kFLOAT: return {1e-5, largeSums ? 5e-5 : 1e-5};
    default: return {0, 0};
  }
}

// ---------------------------------------------------------------------------------------------
// MatMul

// numpy matmul in double, including 1-D promotion.
std::vector<double> refMatMul(const ir::TensorData& a, const ir::TensorData& b, Dims* outDims) {
  Dims ad = a.dims(), bd = b.dims();
  const bool aVec = ad.size() == 1, bVec = bd.size() == 1;
  if (aVec) ad.insert(ad.begin(), 1);
  if (bVec) bd.push_back(1);
  const size_t r = std::max(ad.size(), bd.size());
  while (ad.size() < r) ad.insert(ad.begin(), 1);
  while (bd.size() < r) bd.insert(bd.begin(), 1);
  const int64_t m = ad[r - 2], k = ad[r - 1], n = bd[r - 1];
  Dims od(r);
  for (size_t i = 0; i + 2 < r; ++i)
    od[i] = (ad[i] == 0 || bd[i] == 0) ? 0 : std::max(ad[i], bd[i]);
  od[r - 2] = m;
  od[r - 1] = n;
  // The promoted axis of a 1-D operand is removed from the result.
  Dims shown(od.begin(), od.end() - 2);
  if (!aVec) shown.push_back(m);
  if (!bVec) shown.push_back(n);
  *outDims = shown;
  std::vector<double> out(static_cast<size_t>(volume(od)), 0.0);
  if (out.empty()) return out;
  const std::vector<double> av = toDoubles(a), bv = toDoubles(b);
  Dims idx(r, 0);
  int64_t o = 0;
  do {
    Dims ia(r), ib(r);
    for (size_t i = 0; i + 2 < r; ++i) {
      ia[i] = ad[i] == 1 ? 0 : idx[i];
      ib[i] = bd[i] == 1 ? 0 : idx[i];
    }
    double s = 0;
    for (int64_t p = 0; p < k; ++p) {
      ia[r - 2] = idx[r - 2];
      ia[r - 1] = p;
      ib[r - 2] = p;
      ib[r - 1] = idx[r - 1];
      s += av[static_cast<size_t>(flatIndex(ad, ia))] * bv[static_cast<size_t>(flatIndex(bd, ib))];
    }
    out[static_cast<size_t>(o++)] = s;
  } while (nextIndex(idx, od));
  return out;
}

void checkMatMul(DataType t, const Dims& ad, const Dims& bd, std::mt19937& rng,
                 bool largeSums = false) {
  SCOPED_TRACE(std::string(dataTypeName(t)) + " " + ir::dimsToString(ad) + " x " +
               ir::dimsToString(bd));
  const bool isInt = t == DataType::kINT32 || t == DataType::kINT64 || t == DataType::kUINT32;
  auto a = randomTensor(t, ad, rng, isInt ? -9 : -1, isInt ? 9 : 1);
  auto b = randomTensor(t, bd, rng, isInt ? -9 : -1, isInt ? 9 : 1);
  auto r = runOp(OpKind::kMatMul, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dtype(), t);
  Dims od;
  const std::vector<double> want = refMatMul(*a, *b, &od);
  const Tol tol = tolFor(t, largeSums);
  expectCloseTo(r->at(0), od, want, tol.rtol, tol.atol);
}

TEST(GpuLinearMatMul, BatchBroadcastPatterns) {
  std::mt19937 rng(101);
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{2, 1, 3, 4}, {5, 4, 6}},           // strided batch over B, loop over A's batch
      {{3, 1, 5, 8}, {1, 4, 8, 7}},        // both broadcast
      {{4, 6, 32, 16}, {16, 24}},          // A stack x one B: folded into one GEMM
      {{33, 17}, {2, 3, 17, 9}},           // one A x B stack: stride-0 A
      {{2, 3, 4, 5, 6}, {2, 1, 4, 6, 3}},  // rank 5, inner broadcast
      {{1, 1, 7, 5}, {5, 2}},              // unit batch dims only
      {{6, 19, 23}, {6, 23, 31}},          // plain strided batch, odd sizes
      {{64, 96}, {96, 80}},                // plain GEMM
  };
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kDOUBLE})
    for (const auto& [ad, bd] : cases) checkMatMul(t, ad, bd, rng);
}

TEST(GpuLinearMatMul, OneDimensionalOperands) {
  std::mt19937 rng(102);
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{37}, {37}},       {{37}, {37, 11}}, {{37}, {3, 37, 5}},
      {{2, 9, 37}, {37}}, {{9, 37}, {37}},  {{1}, {1, 4}},
  };
  for (DataType t : {DataType::kFLOAT, DataType::kHALF})
    for (const auto& [ad, bd] : cases) checkMatMul(t, ad, bd, rng);
}

TEST(GpuLinearMatMul, LargerFloat32StaysFullPrecision) {
  // TF32 products would miss the float32 tolerance by orders of magnitude at this K.
  std::mt19937 rng(103);
  checkMatMul(DataType::kFLOAT, {3, 128, 256}, {256, 96}, rng, true);
  checkMatMul(DataType::kFLOAT, {200, 256}, {256, 136}, rng, true);
}

TEST(GpuLinearMatMul, MisalignedBatchStrides) {
  // Batch strides of 35 and 63 halves (70 and 126 bytes) leave later matrices 2-byte aligned.
  std::mt19937 rng(104);
  checkMatMul(DataType::kHALF, {3, 5, 7}, {3, 7, 9}, rng);
  checkMatMul(DataType::kFLOAT, {4, 3, 5}, {5, 7}, rng);
  checkMatMul(DataType::kBF16, {5, 3, 3}, {5, 3, 1}, rng);
}

TEST(GpuLinearMatMul, IntegersWithBroadcast) {
  std::mt19937 rng(105);
  for (DataType t : {DataType::kINT32, DataType::kINT64, DataType::kUINT32}) {
    checkMatMul(t, {2, 1, 3, 4}, {5, 4, 6}, rng);
    checkMatMul(t, {7}, {2, 7, 3}, rng);
  }
}

TEST(GpuLinearMatMul, EmptyDims) {
  std::mt19937 rng(106);
  checkMatMul(DataType::kFLOAT, {0, 4}, {4, 5}, rng);
  checkMatMul(DataType::kFLOAT, {3, 0}, {0, 5}, rng);  // K = 0: zeros
  checkMatMul(DataType::kHALF, {2, 0, 3}, {3, 4}, rng);
}

// ---------------------------------------------------------------------------------------------
// Gemm

void checkGemm(DataType t, int64_t m, int64_t n, int64_t k, bool ta, bool tb, const Dims* cShape,
               float alpha, float beta, std::mt19937& rng) {
  SCOPED_TRACE(strFormat("%s M=%lld N=%lld K=%lld tA=%d tB=%d C=%s alpha=%g beta=%g",
                         dataTypeName(t), static_cast<long long>(m), static_cast<long long>(n),
                         static_cast<long long>(k), ta, tb,
                         cShape ? ir::dimsToString(*cShape).c_str() : "none", alpha, beta));
  auto a = randomTensor(t, ta ? Dims{k, m} : Dims{m, k}, rng);
  auto b = randomTensor(t, tb ? Dims{n, k} : Dims{k, n}, rng);
  auto c = cShape ? randomTensor(t, *cShape, rng) : nullptr;
  ir::Attributes at;
  at.setInt("transA", ta);
  at.setInt("transB", tb);
  at.setFloat("alpha", alpha);
  at.setFloat("beta", beta);
  std::vector<OpInput> in{OpInput::value(a), OpInput::constant(b)};
  if (c) in.push_back(OpInput::constant(c));
  auto r = runOp(OpKind::kGemm, at, in);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const auto av = toDoubles(*a), bv = toDoubles(*b);
  const auto cv = c ? toDoubles(*c) : std::vector<double>{};
  std::vector<double> want(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += (ta ? av[p * m + i] : av[i * k + p]) * (tb ? bv[j * k + p] : bv[p * n + j]);
      double cval = 0;
      if (c) {
        const int64_t rows = cShape->size() == 2 ? (*cShape)[0] : 1,
                      cols = cShape->empty() ? 1 : cShape->back();
        cval = cv[static_cast<size_t>((rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j))];
      }
      want[static_cast<size_t>(i * n + j)] = alpha * s + beta * cval;
    }
  const Tol tol = tolFor(t);
  expectCloseTo(r->at(0), {m, n}, want, tol.rtol, tol.atol);
}

TEST(GpuLinearGemm, BiasBroadcastWithMNotN) {
  // M != N catches a bias applied along the wrong axis; beta = 1 with a row vector is the
  // cuBLASLt BIAS epilogue, the other shapes broadcast C into Y first.
  std::mt19937 rng(201);
  const int64_t m = 37, n = 53, k = 29;
  const std::vector<Dims> cShapes = {{n}, {1, n}, {m, 1}, {m, n}, {}, {1}};
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kDOUBLE})
    for (const Dims& cs : cShapes) {
      checkGemm(t, m, n, k, false, true, &cs, 1.f, 1.f, rng);  // Linear layer form, bias epilogue
      checkGemm(t, m, n, k, true, false, &cs, 0.5f, -1.25f, rng);
    }
}

TEST(GpuLinearGemm, TransposesAndNoC) {
  std::mt19937 rng(202);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        checkGemm(t, 65, 33, 47, ta, tb, nullptr, 1.5f, 1.f, rng);
        const Dims cs{33};
        checkGemm(t, 65, 33, 47, ta, tb, &cs, 1.f, 0.f, rng);  // beta = 0: C ignored
      }
}

TEST(GpuLinearGemm, EmptyK) {
  std::mt19937 rng(203);
  const Dims cs{4, 1};
  checkGemm(DataType::kFLOAT, 4, 6, 0, false, false, &cs, 1.f, 2.f, rng);   // Y = beta * C
  checkGemm(DataType::kHALF, 4, 6, 0, true, true, nullptr, 1.f, 1.f, rng);  // zeros
}

TEST(GpuLinearGemm, Integers) {
  auto a = makeInt32({2, 3}, {1, -2, 3, 4, 5, -6});
  auto b = makeInt32({3, 2}, {7, 8, 9, 10, -11, 12});
  auto c = makeInt32({2}, {100, -200});
  ir::Attributes at;
  at.setFloat("alpha", 3.f);
  at.setFloat("beta", -2.f);
  auto r = runOp(OpKind::kGemm, at, {OpInput::value(a), OpInput::value(b), OpInput::value(c)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  // A*B = [[1*7-2*9-3*11, 1*8-2*10+3*12], [4*7+5*9+6*11, 4*8+5*10-6*12]] = [[-44, 24], [139, 10]]
  expectEqual(r->at(0),
              *makeInt32({2, 2}, {-44 * 3 - 200, 24 * 3 + 400, 139 * 3 - 200, 10 * 3 + 400}));
}

// ---------------------------------------------------------------------------------------------
// Conv and ConvTranspose

struct ConvSpec {
  ConvSpec(Dims x_, Dims w_, int64_t group_ = 1, Dims strides_ = {}, Dims dilations_ = {},
           Dims pads_ = {}, std::string autoPad_ = "", bool bias_ = true)
      : x(std::move(x_)),
        w(std::move(w_)),
        group(group_),
        strides(std::move(strides_)),
        dilations(std::move(dilations_)),
        pads(std::move(pads_)),
        autoPad(std::move(autoPad_)),
        bias(bias_) {}
  Dims x, w;
  int64_t group = 1;
  Dims strides, dilations, pads;  // empty: absent
  std::string autoPad;
  bool bias = true;
  Dims outputPadding, outputShape;  // ConvTranspose
};

ir::Attributes convAttrs(const ConvSpec& c) {
  ir::Attributes at;
  if (c.group != 1) at.setInt("group", c.group);
  if (!c.strides.empty()) at.setInts("strides", c.strides);
  if (!c.dilations.empty()) at.setInts("dilations", c.dilations);
  if (!c.pads.empty()) at.setInts("pads", c.pads);
  if (!c.autoPad.empty()) at.setString("auto_pad", c.autoPad);
  if (!c.outputPadding.empty()) at.setInts("output_padding", c.outputPadding);
  if (!c.outputShape.empty()) at.setInts("output_shape", c.outputShape);
  return at;
}

int64_t floorDiv2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

std::vector<double> refConv(const ConvSpec& c, const ir::TensorData& x, const ir::TensorData& w,
                            const ir::TensorData* b, Dims* outDims) {
  return referenceConv(x, w, b, c.group, c.strides, c.dilations, c.pads, c.autoPad, outDims);
}

// ConvTranspose in double: every input element scatters x * w into out[i*s - pb + k*d].
std::vector<double> refConvTranspose(const ConvSpec& c, const ir::TensorData& x,
                                     const ir::TensorData& w, const ir::TensorData* b,
                                     Dims* outDims) {
  const size_t nsp = c.x.size() - 2;
  const Dims k(c.w.begin() + 2, c.w.end());
  const Dims s = c.strides.empty() ? Dims(nsp, 1) : c.strides;
  const Dims d = c.dilations.empty() ? Dims(nsp, 1) : c.dilations;
  const Dims op = c.outputPadding.empty() ? Dims(nsp, 0) : c.outputPadding;
  const bool same = c.autoPad == "SAME_UPPER" || c.autoPad == "SAME_LOWER";
  Dims pb(nsp, 0), outSp(nsp);
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t in = c.x[i + 2], ek = d[i] * (k[i] - 1) + 1;
    if (!c.outputShape.empty() || same) {
      outSp[i] = c.outputShape.empty() ? in * s[i] : c.outputShape[i];
      const int64_t total = s[i] * (in - 1) + op[i] + ek - outSp[i];
      const int64_t half = floorDiv2(total);
      pb[i] = c.autoPad == "SAME_UPPER" ? half : total - half;
    } else {
      const int64_t b0 = c.pads.empty() || c.autoPad == "VALID" ? 0 : c.pads[i];
      const int64_t e0 = c.pads.empty() || c.autoPad == "VALID" ? 0 : c.pads[i + nsp];
      pb[i] = b0;
      outSp[i] = s[i] * (in - 1) + op[i] + ek - b0 - e0;
    }
  }
  const int64_t cin = c.x[1], mg = c.w[1], m = mg * c.group, cg = cin / c.group;
  Dims od{c.x[0], m};
  od.insert(od.end(), outSp.begin(), outSp.end());
  *outDims = od;
  const auto xv = toDoubles(x), wv = toDoubles(w);
  std::vector<double> out(static_cast<size_t>(volume(od)), 0.0);
  Dims xi(c.x.size(), 0);
  do {
    const int64_t g = xi[1] / cg;
    for (int64_t ml = 0; ml < mg; ++ml) {
      Dims ki(nsp, 0);
      do {
        Dims oi{xi[0], g * mg + ml};
        bool inside = true;
        for (size_t a = 0; a < nsp; ++a) {
          const int64_t p = xi[a + 2] * s[a] - pb[a] + ki[a] * d[a];
          inside = inside && p >= 0 && p < outSp[a];
          oi.push_back(p);
        }
        if (!inside) continue;
        Dims wi{xi[1], ml};
        wi.insert(wi.end(), ki.begin(), ki.end());
        out[static_cast<size_t>(flatIndex(od, oi))] += xv[static_cast<size_t>(flatIndex(c.x, xi))] *
                                                       wv[static_cast<size_t>(flatIndex(c.w, wi))];
      } while (nextIndex(ki, k));
    }
  } while (nextIndex(xi, c.x));
  if (b) {
    const int64_t sp = volume(outSp);
    for (int64_t i = 0; i < volume(od); ++i)
      out[static_cast<size_t>(i)] += b->doubleAt((i / sp) % m);
  }
  return out;
}

void checkConv(OpKind op, DataType t, const ConvSpec& c, std::mt19937& rng,
               bool largeSums = false) {
  const bool transposed = op == OpKind::kConvTranspose;
  SCOPED_TRACE(strFormat("%s %s X%s W%s group=%lld", transposed ? "ConvTranspose" : "Conv",
                         dataTypeName(t), ir::dimsToString(c.x).c_str(),
                         ir::dimsToString(c.w).c_str(), static_cast<long long>(c.group)));
  auto x = randomTensor(t, c.x, rng);
  auto w = randomTensor(t, c.w, rng);
  auto b = randomTensor(t, {transposed ? c.w[1] * c.group : c.w[0]}, rng);
  std::vector<OpInput> in{OpInput::value(x), OpInput::constant(w)};
  if (c.bias) in.push_back(OpInput::constant(b));
  auto r = runOp(op, convAttrs(c), in);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dtype(), t);
  Dims od;
  const ir::TensorData* bp = c.bias ? b.get() : nullptr;
  const std::vector<double> want =
      transposed ? refConvTranspose(c, *x, *w, bp, &od) : refConv(c, *x, *w, bp, &od);
  const Tol tol = tolFor(t, largeSums);
  expectCloseTo(r->at(0), od, want, tol.rtol, tol.atol);
}

std::vector<ConvSpec> convCases() {
  std::vector<ConvSpec> cs;
  cs.push_back(
      {{2, 8, 17, 19}, {16, 2, 3, 3}, 4, {2, 1}, {2, 3}, {1, 2, 0, 3}});  // grouped, dilated, asym
  cs.push_back(
      {{1, 16, 15, 15}, {16, 1, 5, 5}, 16, {2, 2}, {}, {}, "SAME_UPPER"});  // depthwise SAME
  cs.push_back({{3, 6, 40}, {9, 2, 5}, 3, {3}, {2}, {2, 1}});               // 1-D grouped
  cs.push_back(
      {{1, 4, 6, 7, 8}, {6, 2, 3, 3, 2}, 2, {1, 2, 2}, {}, {1, 1, 0, 1, 0, 1}});  // 3-D grouped
  cs.push_back({{1, 3, 10, 11}, {8, 3, 4, 4}, 1, {2, 2}, {}, {}, "SAME_LOWER"});  // SAME_LOWER
  cs.push_back({{2, 32, 9, 9}, {64, 32, 1, 1}, 1, {}, {}, {}, "", false});        // 1x1, no bias
  cs.push_back(
      {{1, 5, 9, 9}, {4, 5, 3, 3}, 1, {2, 2}, {}, {4, 4, 4, 4}, "VALID"});  // VALID ignores pads
  return cs;
}

TEST(GpuLinearConv, GroupedDilatedStridedFloat32) {
  std::mt19937 rng(301);
  for (const ConvSpec& c : convCases()) checkConv(OpKind::kConv, DataType::kFLOAT, c, rng);
  // A real-sized layer: 288 products per output.
  checkConv(OpKind::kConv, DataType::kFLOAT,
            {{2, 32, 14, 14}, {64, 32, 3, 3}, 1, {}, {}, {1, 1, 1, 1}}, rng, true);
}

TEST(GpuLinearConv, HalfBFloatAndDouble) {
  std::mt19937 rng(302);
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kDOUBLE})
    for (const ConvSpec& c : convCases()) checkConv(OpKind::kConv, t, c, rng);
  checkConv(OpKind::kConv, DataType::kHALF,
            {{1, 32, 14, 14}, {64, 32, 3, 3}, 1, {}, {}, {1, 1, 1, 1}}, rng);
}

std::vector<ConvSpec> convTransposeCases() {
  std::vector<ConvSpec> cs;
  {  // grouped, strided, dilated, asymmetric pads, output_padding
    ConvSpec c{{2, 4, 5, 6}, {4, 3, 3, 3}, 2, {2, 3}, {1, 2}, {1, 0, 0, 1}};
    c.outputPadding = {1, 2};
    cs.push_back(c);
  }
  cs.push_back({{2, 6, 9}, {6, 2, 4}, 3, {2}, {}, {1, 2}});  // 1-D grouped
  {  // output_shape one larger than natural on H (pe = -1)
    ConvSpec c{{1, 2, 4, 4}, {2, 3, 3, 3}, 1, {2, 2}, {}, {}};
    c.outputShape = {10, 9};
    cs.push_back(c);
  }
  cs.push_back(
      {{1, 4, 3, 4, 3}, {4, 2, 2, 3, 2}, 2, {2, 1, 2}, {1, 2, 1}, {0, 1, 0, 1, 0, 1}});  // 3-D
  cs.push_back({{1, 3, 5, 5}, {3, 4, 3, 3}, 1, {2, 2}, {}, {}, "SAME_UPPER"});
  // SAME_LOWER with kernel smaller than the stride: negative begin pad (direct fallback on GPU).
  cs.push_back({{1, 2, 4}, {2, 2, 1}, 1, {3}, {}, {}, "SAME_LOWER"});
  cs.push_back(
      {{2, 16, 7, 7}, {16, 8, 4, 4}, 1, {2, 2}, {}, {1, 1, 1, 1}, "", false});  // upsampling,
                                                                                // no bias
  return cs;
}

TEST(GpuLinearConvTranspose, GroupedStridedOutputPadding) {
  std::mt19937 rng(303);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kDOUBLE})
    for (const ConvSpec& c : convTransposeCases()) checkConv(OpKind::kConvTranspose, t, c, rng);
}

// ---------------------------------------------------------------------------------------------
// Einsum

TEST(GpuLinearEinsum, BatchedDiagonalAndTypes) {
  std::mt19937 rng(401);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kDOUBLE}) {
    auto a = randomTensor(t, {3, 4, 5}, rng);
    auto b = randomTensor(t, {3, 5, 6}, rng);
    ir::Attributes at;
    at.setString("equation", "bij,bjk->bik");
    auto r = runOp(OpKind::kEinsum, at, {OpInput::value(a), OpInput::value(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    Dims od;
    const Tol tol = tolFor(t);
    expectCloseTo(r->at(0), {3, 4, 6}, refMatMul(*a, *b, &od), tol.rtol, tol.atol);
  }
  {  // diagonal: ii->i
    auto a = randomTensor(DataType::kFLOAT, {5, 5}, rng);
    ir::Attributes at;
    at.setString("equation", "ii->i");
    auto r = runOp(OpKind::kEinsum, at, {OpInput::value(a)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want;
    for (int64_t i = 0; i < 5; ++i) want.push_back(a->doubleAt(i * 6));
    expectCloseTo(r->at(0), {5}, want);
  }
  {  // int32 row dot products: ij,ij->i
    auto a = makeInt32({2, 3}, {1, 2, 3, -4, 5, 6});
    auto b = makeInt32({2, 3}, {7, -8, 9, 10, 11, 12});
    ir::Attributes at;
    at.setString("equation", "ij,ij->i");
    auto r = runOp(OpKind::kEinsum, at, {OpInput::value(a), OpInput::value(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectEqual(r->at(0), *makeInt32({2}, {7 - 16 + 27, -40 + 55 + 72}));
  }
}

}  // namespace
}  // namespace kiln::test
