// Linear family: MatMul, Gemm, Einsum, Conv, ConvTranspose against plain double loops.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;



// ---------------------------------------------------------------------------------------------
// MatMul

// Reference for matmul of [.., M, K] x [.., K, N] with explicit batch broadcasting (rank-2+ only).
std::vector<double> refMatMul(const ir::TensorData& a, const ir::TensorData& b, Dims* outDims) {
  Dims ad = a.dims(), bd = b.dims();
  const size_t r = std::max(ad.size(), bd.size());
  while (ad.size() < r) ad.insert(ad.begin(), 1);
  while (bd.size() < r) bd.insert(bd.begin(), 1);
  const int64_t m = ad[r - 2], k = ad[r - 1], n = bd[r - 1];
  Dims od(r);
  for (size_t i = 0; i + 2 < r; ++i) od[i] = std::max(ad[i], bd[i]);
  od[r - 2] = m;
  od[r - 1] = n;
  *outDims = od;
  std::vector<double> out(static_cast<size_t>(volume(od)));
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

TEST(LinearMatMul, Random2DAndBatchedBroadcast) {
  std::mt19937 rng(1);
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{5, 7}, {7, 3}}, {{2, 1, 3, 4}, {3, 4, 5}}, {{4, 6}, {2, 6, 3}}, {{2, 3, 1, 5}, {1, 5, 2}}, {{16, 33}, {33, 17}}};
  for (const auto& [ad, bd] : cases) {
    auto a = randomTensor(DataType::kFLOAT, ad, rng);
    auto b = randomTensor(DataType::kFLOAT, bd, rng);
    auto r = runOp(OpKind::kMatMul, {}, {OpInput::value(a), OpInput::value(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    Dims od;
    std::vector<double> want = refMatMul(*a, *b, &od);
    expectCloseTo(r->at(0), od, want, 1e-5, 1e-6);
  }
}

TEST(LinearMatMul, OneDimensionalPromotion) {
  std::mt19937 rng(2);
  auto v4 = randomTensor(DataType::kFLOAT, {4}, rng);
  auto m45 = randomTensor(DataType::kFLOAT, {4, 5}, rng);
  auto b234 = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
  auto w4 = randomTensor(DataType::kFLOAT, {4}, rng);
  const auto v = toDoubles(*v4), m = toDoubles(*m45), b = toDoubles(*b234), w = toDoubles(*w4);
  {  // [4] x [4,5] -> [5]
    auto r = runOp(OpKind::kMatMul, {}, {OpInput::value(v4), OpInput::value(m45)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(5, 0.0);
    for (int j = 0; j < 5; ++j)
      for (int p = 0; p < 4; ++p) want[j] += v[p] * m[p * 5 + j];
    expectCloseTo(r->at(0), {5}, want);
  }
  {  // [2,3,4] x [4] -> [2,3]
    auto r = runOp(OpKind::kMatMul, {}, {OpInput::value(b234), OpInput::value(w4)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(6, 0.0);
    for (int i = 0; i < 6; ++i)
      for (int p = 0; p < 4; ++p) want[i] += b[i * 4 + p] * w[p];
    expectCloseTo(r->at(0), {2, 3}, want);
  }
  {  // [4] x [4] -> scalar
    auto r = runOp(OpKind::kMatMul, {}, {OpInput::value(v4), OpInput::value(w4)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    double dot = 0;
    for (int p = 0; p < 4; ++p) dot += v[p] * w[p];
    expectCloseTo(r->at(0), {}, {dot});
  }
}

TEST(LinearMatMul, OtherTypes) {
  std::mt19937 rng(3);
  for (DataType t : {DataType::kDOUBLE, DataType::kHALF, DataType::kBF16, DataType::kINT32, DataType::kINT64}) {
    const bool isInt = t == DataType::kINT32 || t == DataType::kINT64;
    auto a = randomTensor(t, {2, 3, 6}, rng, isInt ? -20 : -1, isInt ? 20 : 1);
    auto b = randomTensor(t, {6, 4}, rng, isInt ? -20 : -1, isInt ? 20 : 1);
    auto r = runOp(OpKind::kMatMul, {}, {OpInput::value(a), OpInput::value(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    ASSERT_EQ(r->at(0).dtype(), t);
    Dims od;
    std::vector<double> want = refMatMul(*a, *b, &od);
    // float16/bfloat16 results are rounded once from float32: tolerance of their precision.
    const double rtol = t == DataType::kHALF ? 1e-3 : t == DataType::kBF16 ? 8e-3 : 1e-12;
    expectCloseTo(r->at(0), od, want, rtol, t == DataType::kBF16 ? 1e-2 : 1e-3 * (rtol > 1e-9));
  }
}

TEST(LinearMatMul, InnerDimMismatchIsAnError) {
  std::mt19937 rng(4);
  auto a = randomTensor(DataType::kFLOAT, {3, 4}, rng);
  auto b = randomTensor(DataType::kFLOAT, {5, 2}, rng);
  auto r = runOp(OpKind::kMatMul, {}, {OpInput::value(a), OpInput::value(b)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("MatMul 'node'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("inner dimensions do not match"), std::string::npos) << r.status().message();
  auto bad = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
  auto bad2 = randomTensor(DataType::kFLOAT, {3, 4, 2}, rng);
  auto r2 = runOp(OpKind::kMatMul, {}, {OpInput::value(bad), OpInput::value(bad2)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("cannot broadcast"), std::string::npos) << r2.status().message();
}

TEST(LinearMatMul, SymbolicBatchFlows) {
  ir::Graph g;
  ir::Value* a = g.addInput("a", DataType::kFLOAT, {ir::DimExpr::symbol("n"), ir::DimExpr::symbol("s"), 8});
  ir::Value* b = g.addInput("b", DataType::kFLOAT, {8, 3});
  ir::Node* n = g.addNode(OpKind::kMatMul, "mm", {a, b}, {});
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  const ir::Shape& s = n->outputs[0]->shape;
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].toString(), "n");
  EXPECT_EQ(s[1].toString(), "s");
  EXPECT_TRUE(s[2].isConst() && s[2].constValue() == 3);
}

// ---------------------------------------------------------------------------------------------
// Gemm

TEST(LinearGemm, TransposesAlphaBetaAndCBroadcast) {
  std::mt19937 rng(5);
  const int64_t m = 4, n = 5, k = 3;
  const std::vector<Dims> cShapes = {{}, {n}, {m, 1}, {1, n}, {m, n}, {1}};
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (size_t ci = 0; ci <= cShapes.size(); ++ci) {
        const bool hasC = ci < cShapes.size();
        auto a = randomTensor(DataType::kFLOAT, ta ? Dims{k, m} : Dims{m, k}, rng);
        auto b = randomTensor(DataType::kFLOAT, tb ? Dims{n, k} : Dims{k, n}, rng);
        auto c = hasC ? randomTensor(DataType::kFLOAT, cShapes[ci], rng) : nullptr;
        ir::Attributes at;
        at.setInt("transA", ta);
        at.setInt("transB", tb);
        at.setFloat("alpha", 0.75f);
        at.setFloat("beta", -1.5f);
        std::vector<OpInput> in{OpInput::value(a), OpInput::value(b)};
        if (hasC) in.push_back(OpInput::value(c));
        auto r = runOp(OpKind::kGemm, at, in);
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        const auto av = toDoubles(*a), bv = toDoubles(*b);
        const auto cv = hasC ? toDoubles(*c) : std::vector<double>{};
        std::vector<double> want(static_cast<size_t>(m * n));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t p = 0; p < k; ++p)
              s += (ta ? av[p * m + i] : av[i * k + p]) * (tb ? bv[j * k + p] : bv[p * n + j]);
            double cval = 0;
            if (hasC) {
              const Dims& cs = cShapes[ci];
              const int64_t rows = cs.size() == 2 ? cs[0] : 1, cols = cs.empty() ? 1 : cs.back();
              cval = cv[static_cast<size_t>((rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j))];
            }
            want[static_cast<size_t>(i * n + j)] = 0.75 * s - 1.5 * cval;
          }
        expectCloseTo(r->at(0), {m, n}, want);
      }
}

TEST(LinearGemm, IntegerAndErrors) {
  auto a = makeInt64({2, 2}, {1, 2, 3, 4});
  auto b = makeInt64({2, 2}, {5, 6, 7, 8});
  auto c = makeInt64({2}, {100, 200});
  ir::Attributes at;
  at.setFloat("alpha", 2.f);
  auto r = runOp(OpKind::kGemm, at, {OpInput::value(a), OpInput::value(b), OpInput::value(c)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  // [[19,22],[43,50]]*2 + [100,200]
  expectEqual(r->at(0), *makeInt64({2, 2}, {138, 244, 186, 300}));

  std::mt19937 rng(6);
  auto x = randomTensor(DataType::kFLOAT, {3, 4}, rng);
  auto y = randomTensor(DataType::kFLOAT, {3, 4}, rng);
  auto bad = runOp(OpKind::kGemm, {}, {OpInput::value(x), OpInput::value(y)});
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("inner dimensions do not match"), std::string::npos);
  auto cBad = randomTensor(DataType::kFLOAT, {2, 4}, rng);
  ir::Attributes tb;
  tb.setInt("transB", 1);
  auto bad2 = runOp(OpKind::kGemm, tb, {OpInput::value(x), OpInput::value(y), OpInput::value(cBad)});
  ASSERT_FALSE(bad2.isOk());
  EXPECT_NE(bad2.status().message().find("cannot be broadcast"), std::string::npos) << bad2.status().message();
}

// ---------------------------------------------------------------------------------------------
// Einsum (references are explicit loops per equation)

StatusOr<OpResult> runEinsum(const std::string& eq, const std::vector<std::shared_ptr<ir::TensorData>>& ins) {
  ir::Attributes at;
  at.setString("equation", eq);
  std::vector<OpInput> in;
  for (const auto& t : ins) in.push_back(OpInput::value(t));
  return runOp(OpKind::kEinsum, at, in);
}

TEST(LinearEinsum, MatmulLikeEquations) {
  std::mt19937 rng(7);
  auto a = randomTensor(DataType::kFLOAT, {3, 4}, rng);
  auto b = randomTensor(DataType::kFLOAT, {4, 5}, rng);
  const auto av = toDoubles(*a), bv = toDoubles(*b);
  std::vector<double> mm(15, 0.0);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 5; ++k)
      for (int j = 0; j < 4; ++j) mm[i * 5 + k] += av[i * 4 + j] * bv[j * 5 + k];
  for (const char* eq : {"ij,jk->ik", "ij,jk", "ab , bc -> ac"}) {
    auto r = runEinsum(eq, {a, b});
    ASSERT_TRUE(r.isOk()) << eq << ": " << r.status().toString();
    expectCloseTo(r->at(0), {3, 5}, mm);
  }
  {  // transposed output: ij,jk->ki
    auto r = runEinsum("ij,jk->ki", {a, b});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(15);
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 5; ++k) want[k * 3 + i] = mm[i * 5 + k];
    expectCloseTo(r->at(0), {5, 3}, want);
  }
  {  // ij->ji
    auto r = runEinsum("ij->ji", {a});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(12);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want[j * 3 + i] = av[i * 4 + j];
    expectCloseTo(r->at(0), {4, 3}, want);
  }
  {  // ij-> (sum of all) and ij->i (row sums)
    auto r = runEinsum("ij->", {a});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    double s = 0;
    for (double v : av) s += v;
    expectCloseTo(r->at(0), {}, {s});
    auto r2 = runEinsum("ij->i", {a});
    ASSERT_TRUE(r2.isOk()) << r2.status().toString();
    std::vector<double> rows(3, 0.0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) rows[i] += av[i * 4 + j];
    expectCloseTo(r2->at(0), {3}, rows);
  }
  {  // i,i-> dot product
    auto x = randomTensor(DataType::kFLOAT, {6}, rng);
    auto y = randomTensor(DataType::kFLOAT, {6}, rng);
    auto r = runEinsum("i,i->", {x, y});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    double dot = 0;
    for (int i = 0; i < 6; ++i) dot += x->doubleAt(i) * y->doubleAt(i);
    expectCloseTo(r->at(0), {}, {dot});
  }
}

TEST(LinearEinsum, BatchedAndAttentionForms) {
  std::mt19937 rng(8);
  {
    auto a = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
    auto b = randomTensor(DataType::kFLOAT, {2, 4, 5}, rng);
    auto r = runEinsum("bij,bjk->bik", {a, b});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    Dims od;
    expectCloseTo(r->at(0), {2, 3, 5}, refMatMul(*a, *b, &od));
  }
  {  // bhid,bhjd->bhij: q @ k^T per (batch, head)
    const int B = 2, H = 3, I = 4, J = 5, D = 6;
    auto q = randomTensor(DataType::kFLOAT, {B, H, I, D}, rng);
    auto k = randomTensor(DataType::kFLOAT, {B, H, J, D}, rng);
    auto r = runEinsum("bhid,bhjd->bhij", {q, k});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    const auto qv = toDoubles(*q), kv = toDoubles(*k);
    std::vector<double> want(B * H * I * J, 0.0);
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h)
        for (int i = 0; i < I; ++i)
          for (int j = 0; j < J; ++j)
            for (int d = 0; d < D; ++d)
              want[((b * H + h) * I + i) * J + j] += qv[((b * H + h) * I + i) * D + d] * kv[((b * H + h) * J + j) * D + d];
    expectCloseTo(r->at(0), {B, H, I, J}, want);
  }
  {  // ellipsis with broadcast batch dims: [2,1,3,4] x [3,4,5]
    auto a = randomTensor(DataType::kFLOAT, {2, 1, 3, 4}, rng);
    auto b = randomTensor(DataType::kFLOAT, {3, 4, 5}, rng);
    auto r = runEinsum("...ij,...jk->...ik", {a, b});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    Dims od;
    std::vector<double> want = refMatMul(*a, *b, &od);
    expectCloseTo(r->at(0), od, want);
  }
  {  // diagonal: ii->i
    auto a = randomTensor(DataType::kFLOAT, {4, 4}, rng);
    auto r = runEinsum("ii->i", {a});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectCloseTo(r->at(0), {4}, {a->doubleAt(0), a->doubleAt(5), a->doubleAt(10), a->doubleAt(15)});
  }
  {  // int64
    auto a = makeInt64({2, 2}, {1, 2, 3, 4});
    auto b = makeInt64({2, 2}, {5, 6, 7, 8});
    auto r = runEinsum("ij,jk->ik", {a, b});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectEqual(r->at(0), *makeInt64({2, 2}, {19, 22, 43, 50}));
  }
}

TEST(LinearEinsum, Errors) {
  std::mt19937 rng(9);
  auto a = randomTensor(DataType::kFLOAT, {3, 4}, rng);
  auto b = randomTensor(DataType::kFLOAT, {5, 6}, rng);
  auto r = runEinsum("ij,jk->ik", {a, b});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("label 'j'"), std::string::npos) << r.status().message();
  auto r2 = runEinsum("ijk->i", {a});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("has 3 labels but input 0 has rank 2"), std::string::npos)
      << r2.status().message();
  auto r3 = runEinsum("ij->iz", {a});
  ASSERT_FALSE(r3.isOk());
  EXPECT_NE(r3.status().message().find("'z' does not appear"), std::string::npos) << r3.status().message();
  auto r4 = runEinsum("ij,jk->ik", {a});
  ASSERT_FALSE(r4.isOk());
  EXPECT_NE(r4.status().message().find("2 input terms but the node has 1 inputs"), std::string::npos)
      << r4.status().message();
}

// ---------------------------------------------------------------------------------------------
// Conv and ConvTranspose: naive direct loops in double.

struct ConvCase {
  ConvCase(Dims x_, Dims w_, int64_t group_ = 1, Dims strides_ = {}, Dims dilations_ = {}, Dims pads_ = {},
           std::string autoPad_ = "", bool bias_ = true)
      : x(std::move(x_)), w(std::move(w_)), group(group_), strides(std::move(strides_)),
        dilations(std::move(dilations_)), pads(std::move(pads_)), autoPad(std::move(autoPad_)), bias(bias_) {}
  Dims x, w;
  int64_t group = 1;
  Dims strides, dilations, pads;  // empty: attribute absent
  std::string autoPad;             // empty: absent
  bool bias = true;
  bool kernelShapeAttr = false;
  Dims outputPadding, outputShape;  // ConvTranspose only
};

// Pads [begins, ends] the way ONNX defines them for each auto_pad mode.
Dims convPads(const ConvCase& c, size_t nsp, const Dims& k, const Dims& s, const Dims& d) {
  Dims pads(2 * nsp, 0);
  if (c.autoPad == "SAME_UPPER" || c.autoPad == "SAME_LOWER") {
    for (size_t i = 0; i < nsp; ++i) {
      const int64_t in = c.x[i + 2], out = (in + s[i] - 1) / s[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - in);
      pads[i] = c.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[i + nsp] = total - pads[i];
    }
  } else if (c.autoPad != "VALID" && !c.pads.empty()) {
    pads = c.pads;
  }
  return pads;
}

ir::Attributes convAttrs(const ConvCase& c) {
  ir::Attributes at;
  if (c.group != 1) at.setInt("group", c.group);
  if (!c.strides.empty()) at.setInts("strides", c.strides);
  if (!c.dilations.empty()) at.setInts("dilations", c.dilations);
  if (!c.pads.empty()) at.setInts("pads", c.pads);
  if (!c.autoPad.empty()) at.setString("auto_pad", c.autoPad);
  if (c.kernelShapeAttr) at.setInts("kernel_shape", Dims(c.w.begin() + 2, c.w.end()));
  if (!c.outputPadding.empty()) at.setInts("output_padding", c.outputPadding);
  if (!c.outputShape.empty()) at.setInts("output_shape", c.outputShape);
  return at;
}

std::vector<double> refConv(const ConvCase& c, const ir::TensorData& x, const ir::TensorData& w,
                            const ir::TensorData* b, Dims* outDims) {
  const size_t nsp = c.x.size() - 2;
  const Dims k(c.w.begin() + 2, c.w.end());
  const Dims s = c.strides.empty() ? Dims(nsp, 1) : c.strides;
  const Dims d = c.dilations.empty() ? Dims(nsp, 1) : c.dilations;
  const Dims pads = convPads(c, nsp, k, s, d);
  const int64_t n = c.x[0], cin = c.x[1], m = c.w[0], cg = cin / c.group, mg = m / c.group;
  Dims od{n, m};
  for (size_t i = 0; i < nsp; ++i)
    od.push_back((c.x[i + 2] + pads[i] + pads[i + nsp] - d[i] * (k[i] - 1) - 1) / s[i] + 1);
  *outDims = od;
  const auto xv = toDoubles(x), wv = toDoubles(w);
  std::vector<double> out(static_cast<size_t>(volume(od)));
  Dims oi(od.size(), 0);
  do {
    const int64_t bn = oi[0], oc = oi[1], g = oc / mg;
    double acc = b ? b->doubleAt(oc) : 0.0;
    for (int64_t ci = 0; ci < cg; ++ci) {
      Dims ki(nsp, 0);
      do {
        Dims xi{bn, g * cg + ci};
        bool inside = true;
        for (size_t a = 0; a < nsp; ++a) {
          const int64_t p = oi[a + 2] * s[a] - pads[a] + ki[a] * d[a];
          inside = inside && p >= 0 && p < c.x[a + 2];
          xi.push_back(p);
        }
        if (!inside) continue;
        Dims wi{oc, ci};
        wi.insert(wi.end(), ki.begin(), ki.end());
        acc += xv[static_cast<size_t>(flatIndex(c.x, xi))] * wv[static_cast<size_t>(flatIndex(c.w, wi))];
      } while (nextIndex(ki, k));
    }
    out[static_cast<size_t>(flatIndex(od, oi))] = acc;
  } while (nextIndex(oi, od));
  return out;
}

TEST(LinearConv, RandomAgainstDirectLoop) {
  std::vector<ConvCase> cases;
  cases.push_back({{2, 3, 9}, {4, 3, 3}});                                                 // 1-D
  cases.push_back({{1, 2, 11}, {4, 1, 4}, 2, {2}, {2}, {1, 2}});                           // 1-D group, dil, stride
  cases.push_back({{2, 3, 7, 8}, {5, 3, 3, 3}, 1, {}, {}, {1, 1, 1, 1}});                  // 2-D pad 1
  cases.push_back({{1, 4, 9, 10}, {6, 2, 3, 2}, 2, {2, 3}, {1, 2}, {1, 0, 2, 1}});          // grouped, asym
  cases.push_back({{2, 6, 8, 8}, {6, 1, 3, 3}, 6, {1, 1}, {}, {1, 1, 1, 1}});               // depthwise
  cases.push_back({{1, 3, 10, 7}, {2, 3, 3, 3}, 1, {2, 2}, {}, {}, "SAME_UPPER"});         // SAME_UPPER
  cases.push_back({{1, 3, 10, 7}, {2, 3, 4, 2}, 1, {3, 2}, {}, {}, "SAME_LOWER"});         // SAME_LOWER
  cases.push_back({{1, 2, 9, 9}, {3, 2, 3, 3}, 1, {2, 2}, {2, 2}, {5, 5, 5, 5}, "VALID"}); // VALID ignores pads
  cases.push_back({{2, 3, 6, 6}, {4, 3, 1, 1}, 1, {}, {}, {}, "", false});                 // 1x1, no bias
  cases.push_back({{1, 2, 5, 6, 7}, {3, 2, 3, 2, 3}, 1, {1, 2, 2}, {1, 1, 2}, {1, 0, 1, 1, 1, 0}});  // 3-D
  cases.push_back({{1, 4, 5, 5, 4}, {4, 2, 2, 3, 2}, 2, {2, 1, 1}, {}, {}, "SAME_UPPER"});          // 3-D groups SAME
  cases.back().kernelShapeAttr = true;
  std::mt19937 rng(10);
  for (size_t i = 0; i < cases.size(); ++i) {
    const ConvCase& c = cases[i];
    auto x = randomTensor(DataType::kFLOAT, c.x, rng);
    auto w = randomTensor(DataType::kFLOAT, c.w, rng);
    auto b = randomTensor(DataType::kFLOAT, {c.w[0]}, rng);
    std::vector<OpInput> in{OpInput::value(x), OpInput::constant(w)};
    if (c.bias) in.push_back(OpInput::constant(b));
    auto r = runOp(OpKind::kConv, convAttrs(c), in);
    ASSERT_TRUE(r.isOk()) << "case " << i << ": " << r.status().toString();
    Dims od;
    std::vector<double> want = refConv(c, *x, *w, c.bias ? b.get() : nullptr, &od);
    SCOPED_TRACE("case " + std::to_string(i));
    expectCloseTo(r->at(0), od, want, 1e-5, 1e-5);
  }
}

TEST(LinearConv, HalfAndDouble) {
  std::mt19937 rng(11);
  ConvCase c{{1, 2, 6, 6}, {3, 2, 3, 3}, 1, {2, 1}, {}, {1, 1, 1, 1}};
  for (DataType t : {DataType::kDOUBLE, DataType::kHALF}) {
    auto x = randomTensor(t, c.x, rng);
    auto w = randomTensor(t, c.w, rng);
    auto b = randomTensor(t, {3}, rng);
    auto r = runOp(OpKind::kConv, convAttrs(c), {OpInput::value(x), OpInput::constant(w), OpInput::constant(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(r->at(0).dtype(), t);
    Dims od;
    std::vector<double> want = refConv(c, *x, *w, b.get(), &od);
    expectCloseTo(r->at(0), od, want, t == DataType::kHALF ? 2e-3 : 1e-12, t == DataType::kHALF ? 4e-3 : 1e-12);
  }
}

TEST(LinearConv, ChannelAndGroupErrors) {
  std::mt19937 rng(12);
  auto x = randomTensor(DataType::kFLOAT, {1, 3, 5, 5}, rng);
  auto w = randomTensor(DataType::kFLOAT, {4, 2, 3, 3}, rng);
  auto r = runOp(OpKind::kConv, {}, {OpInput::value(x), OpInput::constant(w)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("Conv 'node': input channels mismatch"), std::string::npos)
      << r.status().message();

  auto x4 = randomTensor(DataType::kFLOAT, {1, 4, 5, 5}, rng);
  auto w4 = randomTensor(DataType::kFLOAT, {6, 1, 3, 3}, rng);
  ir::Attributes g3;
  g3.setInt("group", 3);
  auto r2 = runOp(OpKind::kConv, g3, {OpInput::value(x4), OpInput::constant(w4)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("group=3 does not divide the input channels 4"), std::string::npos)
      << r2.status().message();

  auto w5 = randomTensor(DataType::kFLOAT, {5, 2, 3, 3}, rng);
  ir::Attributes g2;
  g2.setInt("group", 2);
  auto r3 = runOp(OpKind::kConv, g2, {OpInput::value(x4), OpInput::constant(w5)});
  ASSERT_FALSE(r3.isOk());
  EXPECT_NE(r3.status().message().find("group=2 does not divide the output channels 5"), std::string::npos)
      << r3.status().message();

  ir::Attributes badStrides;
  badStrides.setInts("strides", {1, 1, 1});
  auto r4 = runOp(OpKind::kConv, badStrides,
                  {OpInput::value(x4), OpInput::constant(randomTensor(DataType::kFLOAT, {6, 4, 3, 3}, rng))});
  ASSERT_FALSE(r4.isOk());
  EXPECT_NE(r4.status().message().find("strides=[1,1,1] has 3 values, expected 2"), std::string::npos)
      << r4.status().message();

  auto b = randomTensor(DataType::kFLOAT, {3}, rng);
  auto r5 = runOp(OpKind::kConv, {}, {OpInput::value(x4), OpInput::constant(randomTensor(DataType::kFLOAT, {6, 4, 3, 3}, rng)),
                                      OpInput::constant(b)});
  ASSERT_FALSE(r5.isOk());
  EXPECT_NE(r5.status().message().find("bias B must have shape [6]"), std::string::npos) << r5.status().message();
}

TEST(LinearConv, SymbolicOutputDims) {
  std::mt19937 rng(13);
  struct Case {
    ir::Attributes at;
    std::function<int64_t(int64_t)> outH, outW;
  };
  ir::Attributes explicitPads;
  explicitPads.setInts("pads", {1, 2, 1, 0});
  explicitPads.setInts("strides", {2, 3});
  explicitPads.setInts("dilations", {1, 2});
  ir::Attributes same;
  same.setString("auto_pad", "SAME_UPPER");
  same.setInts("strides", {2, 3});
  std::vector<Case> cases;
  // out = floor((in + pb + pe - d*(k-1) - 1) / s) + 1 with k = 3
  cases.push_back({explicitPads, [](int64_t h) { return (h + 2 - 3) / 2 + 1; },
                   [](int64_t w) { return (w + 2 - 5) / 3 + 1; }});
  cases.push_back({same, [](int64_t h) { return (h + 1) / 2; }, [](int64_t w) { return (w + 2) / 3; }});
  for (const Case& c : cases) {
    ir::Graph g;
    ir::Value* x = g.addInput("x", DataType::kFLOAT,
                              {ir::DimExpr::symbol("n"), 3, ir::DimExpr::symbol("h"), ir::DimExpr::symbol("w")});
    ir::Value* w = g.addConstant("w", randomTensor(DataType::kFLOAT, {8, 3, 3, 3}, rng));
    ir::Node* n = g.addNode(OpKind::kConv, "conv", {x, w}, c.at);
    ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
    const ir::Shape& s = n->outputs[0]->shape;
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(s[0].toString(), "n");
    EXPECT_TRUE(s[1].isConst() && s[1].constValue() == 8);
    EXPECT_FALSE(s[2].isConst());
    for (int64_t h : {5, 6, 7, 32, 224})
      for (int64_t wd : {5, 9, 10, 11, 224}) {
        const std::map<std::string, int64_t> vals{{"n", 2}, {"h", h}, {"w", wd}};
        const ir::DimExpr oh = s[2].substitute(vals), ow = s[3].substitute(vals);
        ASSERT_TRUE(oh.isConst() && ow.isConst());
        EXPECT_EQ(oh.constValue(), c.outH(h)) << "h=" << h << " " << s[2].toString();
        EXPECT_EQ(ow.constValue(), c.outW(wd)) << "w=" << wd << " " << s[3].toString();
      }
  }
}

// ConvTranspose reference: every input element scatters x * w into out[i*s - pb + k*d].
std::vector<double> refConvTranspose(const ConvCase& c, const ir::TensorData& x, const ir::TensorData& w,
                                     const ir::TensorData* b, const Dims& pads, const Dims& outSpatial) {
  const size_t nsp = c.x.size() - 2;
  const Dims k(c.w.begin() + 2, c.w.end());
  const Dims s = c.strides.empty() ? Dims(nsp, 1) : c.strides;
  const Dims d = c.dilations.empty() ? Dims(nsp, 1) : c.dilations;
  const int64_t n = c.x[0], cin = c.x[1], mg = c.w[1], m = mg * c.group, cg = cin / c.group;
  Dims od{n, m};
  od.insert(od.end(), outSpatial.begin(), outSpatial.end());
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
          const int64_t p = xi[a + 2] * s[a] - pads[a] + ki[a] * d[a];
          inside = inside && p >= 0 && p < outSpatial[a];
          oi.push_back(p);
        }
        if (!inside) continue;
        Dims wi{xi[1], ml};
        wi.insert(wi.end(), ki.begin(), ki.end());
        out[static_cast<size_t>(flatIndex(od, oi))] +=
            xv[static_cast<size_t>(flatIndex(c.x, xi))] * wv[static_cast<size_t>(flatIndex(c.w, wi))];
      } while (nextIndex(ki, k));
    }
  } while (nextIndex(xi, c.x));
  if (b) {
    const int64_t sp = volume(outSpatial);
    for (int64_t i = 0; i < volume(od); ++i) out[static_cast<size_t>(i)] += b->doubleAt((i / sp) % m);
  }
  return out;
}

TEST(LinearConvTranspose, RandomAgainstScatterLoop) {
  struct TCase {
    ConvCase c;
    Dims pads;        // expected effective pads [begins, ends]
    Dims outSpatial;  // expected output spatial dims
  };
  std::vector<TCase> cases;
  // out = s*(in-1) + output_padding + d*(k-1) + 1 - pb - pe
  cases.push_back({{{2, 3, 5}, {3, 2, 3}}, {0, 0}, {7}});
  cases.push_back({{{1, 2, 4, 5}, {2, 3, 3, 3}, 1, {2, 2}, {}, {1, 1, 1, 1}}, {1, 1, 1, 1}, {7, 9}});
  cases.push_back({{{1, 4, 3, 4}, {4, 2, 3, 2}, 2, {3, 2}, {2, 1}, {1, 0, 0, 1}}, {1, 0, 0, 1}, {10, 7}});
  {  // output_padding
    ConvCase c{{1, 2, 3, 3}, {2, 2, 3, 3}, 1, {2, 3}, {}, {}};
    c.outputPadding = {1, 2};
    cases.push_back({c, {0, 0, 0, 0}, {8, 11}});
  }
  {  // output_shape larger than the natural size by 1 (total padding -1: pe = -1 extends the end)
    ConvCase c{{1, 1, 3, 3}, {1, 2, 3, 3}, 1, {3, 2}, {}, {}};
    c.outputShape = {10, 8};
    cases.push_back({c, {0, 0, -1, -1}, {10, 8}});
  }
  {  // output_shape smaller than natural: total = s*(in-1)+ek-out = 2*4+3-9 = 2, split 1/1
    ConvCase c{{1, 2, 5}, {2, 1, 3}, 1, {2}, {}, {}};
    c.outputShape = {9};
    cases.push_back({c, {1, 1}, {9}});
  }
  {  // SAME_UPPER: out = in*s; total = s*(in-1)+ek-out = 2*3+4-8 = 2 -> pads 1/1 ; dim1: 1*3+3-4=2?
    ConvCase c{{1, 2, 4, 4}, {2, 3, 4, 3}, 1, {2, 1}, {}, {}, "SAME_UPPER"};
    // dim0: total = 2*3 + 4 - 8 = 2 -> (1, 1); dim1: total = 1*3 + 3 - 4 = 2 -> (1, 1)
    cases.push_back({c, {1, 1, 1, 1}, {8, 4}});
  }
  {  // SAME_LOWER with odd total: dim0 total = 2*2+2-6 = 0; dim1 total = 3*2+2-9 = -1 -> pb = 0, pe = -1
    ConvCase c{{1, 1, 3, 3}, {1, 1, 2, 2}, 1, {2, 3}, {}, {}, "SAME_LOWER"};
    cases.push_back({c, {0, 0, 0, -1}, {6, 9}});
  }
  {  // SAME_UPPER with odd total 3: pb = 1, pe = 2
    ConvCase c{{1, 1, 4}, {1, 1, 5}, 1, {2}, {}, {}, "SAME_UPPER"};
    // total = 2*3 + 5 - 8 = 3
    cases.push_back({c, {1, 2}, {8}});
  }
  // 3-D with groups and dilation
  cases.push_back({{{1, 4, 3, 2, 3}, {4, 1, 2, 3, 2}, 2, {2, 1, 2}, {1, 2, 1}, {0, 1, 0, 1, 0, 1}},
                   {0, 1, 0, 1, 0, 1},
                   {5, 5, 5}});
  std::mt19937 rng(14);
  for (size_t i = 0; i < cases.size(); ++i) {
    const ConvCase& c = cases[i].c;
    auto x = randomTensor(DataType::kFLOAT, c.x, rng);
    auto w = randomTensor(DataType::kFLOAT, c.w, rng);
    auto b = randomTensor(DataType::kFLOAT, {c.w[1] * c.group}, rng);
    std::vector<OpInput> in{OpInput::value(x), OpInput::constant(w)};
    if (c.bias) in.push_back(OpInput::constant(b));
    auto r = runOp(OpKind::kConvTranspose, convAttrs(c), in);
    ASSERT_TRUE(r.isOk()) << "case " << i << ": " << r.status().toString();
    std::vector<double> want = refConvTranspose(c, *x, *w, c.bias ? b.get() : nullptr, cases[i].pads, cases[i].outSpatial);
    Dims od{c.x[0], c.w[1] * c.group};
    od.insert(od.end(), cases[i].outSpatial.begin(), cases[i].outSpatial.end());
    SCOPED_TRACE("case " + std::to_string(i));
    expectCloseTo(r->at(0), od, want, 1e-5, 1e-5);
  }
}

TEST(LinearConvTranspose, Errors) {
  std::mt19937 rng(15);
  auto x = randomTensor(DataType::kFLOAT, {1, 3, 4, 4}, rng);
  auto w = randomTensor(DataType::kFLOAT, {2, 2, 3, 3}, rng);
  auto r = runOp(OpKind::kConvTranspose, {}, {OpInput::value(x), OpInput::constant(w)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("ConvTranspose 'node': input channels mismatch"), std::string::npos)
      << r.status().message();
  ir::Attributes op;
  op.setInts("output_padding", {2, 0});
  op.setInts("strides", {2, 2});
  auto w3 = randomTensor(DataType::kFLOAT, {3, 2, 3, 3}, rng);
  auto r2 = runOp(OpKind::kConvTranspose, op, {OpInput::value(x), OpInput::constant(w3)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("output_padding=[2,0] must be smaller"), std::string::npos)
      << r2.status().message();
}

}  // namespace
}  // namespace kiln::test
