// Pool family: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool against direct loops.
#include <gtest/gtest.h>

#include <cmath>
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

struct PoolCase {
  PoolCase(Dims x_, Dims kernel_, Dims strides_ = {}, Dims dilations_ = {}, Dims pads_ = {}, std::string autoPad_ = "",
           bool ceil_ = false)
      : x(std::move(x_)), kernel(std::move(kernel_)), strides(std::move(strides_)), dilations(std::move(dilations_)),
        pads(std::move(pads_)), autoPad(std::move(autoPad_)), ceil(ceil_) {}
  Dims x, kernel;
  Dims strides, dilations, pads;  // empty: absent
  std::string autoPad;
  bool ceil = false;
  bool countIncludePad = false;
};

ir::Attributes poolAttrs(const PoolCase& c, bool isMax) {
  ir::Attributes at;
  at.setInts("kernel_shape", c.kernel);
  if (!c.strides.empty()) at.setInts("strides", c.strides);
  if (!c.dilations.empty()) at.setInts("dilations", c.dilations);
  if (!c.pads.empty()) at.setInts("pads", c.pads);
  if (!c.autoPad.empty()) at.setString("auto_pad", c.autoPad);
  if (c.ceil) at.setInt("ceil_mode", 1);
  if (!isMax && c.countIncludePad) at.setInt("count_include_pad", 1);
  return at;
}

struct PoolRef {
  Dims outDims;
  std::vector<double> values;
  std::vector<int64_t> argmaxRow, argmaxCol;  // flat input indices, row- and column-major spatial
};

// Direct pooling loop. Output size: floor or ceil of (in + pads - dilated kernel) / stride + 1,
// and in ceil mode a window must start inside the input or the left padding.
PoolRef refPool(const PoolCase& c, const ir::TensorData& x, bool isMax) {
  const size_t nsp = c.kernel.size();
  const Dims s = c.strides.empty() ? Dims(nsp, 1) : c.strides;
  const Dims d = c.dilations.empty() ? Dims(nsp, 1) : c.dilations;
  Dims pads = c.pads.empty() ? Dims(2 * nsp, 0) : c.pads;
  Dims out(nsp);
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t in = c.x[i + 2], ek = d[i] * (c.kernel[i] - 1) + 1;
    if (c.autoPad == "SAME_UPPER" || c.autoPad == "SAME_LOWER") {
      out[i] = (in + s[i] - 1) / s[i];
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * s[i] + ek - in);
      pads[i] = c.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[i + nsp] = total - pads[i];
      continue;
    }
    if (c.autoPad == "VALID") pads[i] = pads[i + nsp] = 0;
    const int64_t span = in + pads[i] + pads[i + nsp] - ek;
    out[i] = (c.ceil ? (span + s[i] - 1) / s[i] : span / s[i]) + 1;
    if (c.ceil && (out[i] - 1) * s[i] >= in + pads[i]) --out[i];
  }
  PoolRef r;
  r.outDims = {c.x[0], c.x[1]};
  r.outDims.insert(r.outDims.end(), out.begin(), out.end());
  const int64_t planes = c.x[0] * c.x[1];
  int64_t inVol = 1;
  for (size_t i = 0; i < nsp; ++i) inVol *= c.x[i + 2];
  for (int64_t p = 0; p < planes; ++p) {
    Dims o(nsp, 0);
    do {
      double best = -std::numeric_limits<double>::infinity(), sum = 0;
      int64_t bestRow = -1, bestCol = -1, inside = 0, padded = 0;
      Dims k(nsp, 0);
      do {
        bool in = true, inPad = true;
        int64_t row = 0, col = 0, colStride = 1;
        for (size_t a = 0; a < nsp; ++a) {
          const int64_t pos = o[a] * s[a] - pads[a] + k[a] * d[a];
          in = in && pos >= 0 && pos < c.x[a + 2];
          inPad = inPad && pos >= -pads[a] && pos < c.x[a + 2] + pads[a + nsp];
          row = row * c.x[a + 2] + pos;
          col += pos * colStride;
          colStride *= c.x[a + 2];
        }
        if (inPad) ++padded;
        if (!in) continue;
        const double v = x.doubleAt(p * inVol + row);
        ++inside;
        sum += v;
        if (v > best) {
          best = v;
          bestRow = row;
          bestCol = col;
        }
      } while (nextIndex(k, c.kernel));
      if (isMax) {
        r.values.push_back(best);
        r.argmaxRow.push_back(p * inVol + bestRow);
        r.argmaxCol.push_back(p * inVol + bestCol);
      } else {
        r.values.push_back(sum / static_cast<double>(c.countIncludePad ? padded : inside));
      }
    } while (nextIndex(o, out));
  }
  return r;
}

std::vector<PoolCase> poolCases() {
  std::vector<PoolCase> cs;
  cs.push_back({{2, 3, 10}, {3}, {2}});                                            // 1-D
  cs.push_back({{1, 2, 9}, {3}, {2}, {2}, {1, 2}, "", true});                       // 1-D dil, pads, ceil
  cs.push_back({{2, 2, 7, 8}, {3, 3}, {2, 2}});                                    // 2-D floor
  cs.push_back({{1, 3, 7, 8}, {3, 2}, {2, 3}, {}, {1, 0, 1, 1}, "", true});         // 2-D ceil + pads
  cs.push_back({{1, 2, 6, 6}, {3, 3}, {2, 2}, {}, {}, "", true});                   // ceil without pads
  cs.push_back({{1, 2, 9, 9}, {2, 3}, {1, 2}, {2, 2}, {1, 1, 1, 1}});               // dilations
  cs.push_back({{1, 2, 7, 5}, {3, 3}, {2, 2}, {}, {}, "SAME_UPPER"});
  cs.push_back({{1, 2, 7, 5}, {4, 2}, {3, 2}, {}, {}, "SAME_LOWER"});
  cs.push_back({{1, 2, 7, 5}, {3, 2}, {2, 2}, {}, {2, 2, 2, 2}, "VALID"});
  cs.push_back({{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 2, 3}, {}, {1, 1, 0, 0, 1, 1}, "", true});  // 3-D
  return cs;
}

TEST(PoolMaxPool, RandomWithIndices) {
  std::mt19937 rng(20);
  const auto cases = poolCases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const PoolCase& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i));
    auto x = randomTensor(DataType::kFLOAT, c.x, rng);
    const PoolRef ref = refPool(c, *x, true);
    for (int order = 0; order < 2; ++order) {
      ir::Attributes at = poolAttrs(c, true);
      at.setInt("storage_order", order);
      auto r = runOp(OpKind::kMaxPool, at, {OpInput::value(x)}, 2);
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      expectCloseTo(r->at(0), ref.outDims, ref.values, 0, 0);
      ASSERT_EQ(r->at(1).dtype(), DataType::kINT64);
      expectEqual(r->at(1), *makeInt64(ref.outDims, order ? ref.argmaxCol : ref.argmaxRow));
    }
    auto r1 = runOp(OpKind::kMaxPool, poolAttrs(c, true), {OpInput::value(x)});
    ASSERT_TRUE(r1.isOk()) << r1.status().toString();
    expectCloseTo(r1->at(0), ref.outDims, ref.values, 0, 0);
  }
}

TEST(PoolMaxPool, Int8AndHalf) {
  std::mt19937 rng(21);
  PoolCase c{{1, 2, 6, 6}, {2, 2}, {2, 2}, {}, {1, 1, 1, 1}};
  for (DataType t : {DataType::kINT8, DataType::kUINT8, DataType::kHALF, DataType::kDOUBLE}) {
    auto x = randomTensor(t, c.x, rng, -100, 100);
    auto r = runOp(OpKind::kMaxPool, poolAttrs(c, true), {OpInput::value(x)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(r->at(0).dtype(), t);
    const PoolRef ref = refPool(c, *x, true);
    expectCloseTo(r->at(0), ref.outDims, ref.values, 0, 0);  // max is exact in every type
  }
}

TEST(PoolAveragePool, RandomCountIncludePad) {
  std::mt19937 rng(22);
  const auto cases = poolCases();
  for (size_t i = 0; i < cases.size(); ++i) {
    for (int cip = 0; cip < 2; ++cip) {
      PoolCase c = cases[i];
      c.countIncludePad = cip == 1;
      SCOPED_TRACE("case " + std::to_string(i) + " count_include_pad=" + std::to_string(cip));
      auto x = randomTensor(DataType::kFLOAT, c.x, rng);
      auto r = runOp(OpKind::kAveragePool, poolAttrs(c, false), {OpInput::value(x)});
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      const PoolRef ref = refPool(c, *x, false);
      expectCloseTo(r->at(0), ref.outDims, ref.values);
    }
  }
}

TEST(PoolAveragePool, HandComputedCeilMode) {
  // X = 1..16 as 4x4, kernel 3, stride 2, ceil_mode: windows rows {0-2, 2-3} x cols {0-2, 2-3}.
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i + 1);
  auto x = makeFloat({1, 1, 4, 4}, v);
  ir::Attributes at;
  at.setInts("kernel_shape", {3, 3});
  at.setInts("strides", {2, 2});
  at.setInt("ceil_mode", 1);
  auto avg = runOp(OpKind::kAveragePool, at, {OpInput::value(x)});
  ASSERT_TRUE(avg.isOk()) << avg.status().toString();
  expectCloseTo(avg->at(0), {1, 1, 2, 2}, {6, 7.5, 12, 13.5});
  auto mx = runOp(OpKind::kMaxPool, at, {OpInput::value(x)});
  ASSERT_TRUE(mx.isOk()) << mx.status().toString();
  expectCloseTo(mx->at(0), {1, 1, 2, 2}, {11, 12, 15, 16});

  // The last window would start in the right padding (start 4 >= in 4 + left pad 0): dropped,
  // so the output has 2 columns, not ceil((4 + 2 - 3) / 2) + 1 = 3.
  auto row = makeFloat({1, 1, 4}, {1, 2, 3, 4});
  ir::Attributes at1;
  at1.setInts("kernel_shape", {3});
  at1.setInts("strides", {2});
  at1.setInts("pads", {0, 2});
  at1.setInt("ceil_mode", 1);
  auto a1 = runOp(OpKind::kAveragePool, at1, {OpInput::value(row)});
  ASSERT_TRUE(a1.isOk()) << a1.status().toString();
  expectCloseTo(a1->at(0), {1, 1, 2}, {2, 3.5});
  at1.setInt("count_include_pad", 1);
  auto a2 = runOp(OpKind::kAveragePool, at1, {OpInput::value(row)});
  ASSERT_TRUE(a2.isOk()) << a2.status().toString();
  expectCloseTo(a2->at(0), {1, 1, 2}, {2, 7.0 / 3.0});
}

TEST(PoolGlobal, AverageAndMax) {
  std::mt19937 rng(23);
  for (const Dims& dims : {Dims{2, 3, 5}, Dims{2, 3, 4, 5}, Dims{1, 2, 3, 4, 2}}) {
    auto x = randomTensor(DataType::kFLOAT, dims, rng);
    const int64_t planes = dims[0] * dims[1], vol = x->numel() / planes;
    std::vector<double> mean(planes, 0.0), mx(planes, -1e300);
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t i = 0; i < vol; ++i) {
        mean[p] += x->doubleAt(p * vol + i) / static_cast<double>(vol);
        mx[p] = std::max(mx[p], x->doubleAt(p * vol + i));
      }
    Dims od(dims.size(), 1);
    od[0] = dims[0];
    od[1] = dims[1];
    auto a = runOp(OpKind::kGlobalAveragePool, {}, {OpInput::value(x)});
    ASSERT_TRUE(a.isOk()) << a.status().toString();
    expectCloseTo(a->at(0), od, mean);
    auto m = runOp(OpKind::kGlobalMaxPool, {}, {OpInput::value(x)});
    ASSERT_TRUE(m.isOk()) << m.status().toString();
    expectCloseTo(m->at(0), od, mx, 0, 0);
  }
}

TEST(PoolErrors, Messages) {
  std::mt19937 rng(24);
  auto x = randomTensor(DataType::kFLOAT, {1, 2, 5, 5}, rng);
  auto r = runOp(OpKind::kMaxPool, {}, {OpInput::value(x)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("MaxPool 'node': attribute kernel_shape is required"), std::string::npos)
      << r.status().message();
  ir::Attributes at;
  at.setInts("kernel_shape", {2, 2});
  at.setInts("pads", {1, 1});
  auto r2 = runOp(OpKind::kAveragePool, at, {OpInput::value(x)});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("pads=[1,1] has 2 values, expected 4"), std::string::npos)
      << r2.status().message();
  auto flat = randomTensor(DataType::kFLOAT, {2, 5}, rng);
  auto r3 = runOp(OpKind::kGlobalAveragePool, {}, {OpInput::value(flat)});
  ASSERT_FALSE(r3.isOk());
  EXPECT_NE(r3.status().message().find("rank >= 3"), std::string::npos) << r3.status().message();
  ir::Attributes big;
  big.setInts("kernel_shape", {2, 2});
  big.setInts("pads", {2, 0, 0, 0});
  auto r4 = runOp(OpKind::kMaxPool, big, {OpInput::value(x)});
  ASSERT_FALSE(r4.isOk());
  EXPECT_NE(r4.status().message().find("pads must be smaller than the (dilated) kernel"), std::string::npos)
      << r4.status().message();
  ir::Attributes wide;
  wide.setInts("kernel_shape", {6, 2});
  auto r5 = runOp(OpKind::kAveragePool, wide, {OpInput::value(x)});
  ASSERT_FALSE(r5.isOk());
  EXPECT_NE(r5.status().message().find("kernel 6 is larger than the padded input on spatial axis 0"), std::string::npos)
      << r5.status().message();
}

TEST(PoolShapes, SymbolicCeilMode) {
  ir::Graph g;
  ir::Value* x = g.addInput("x", DataType::kFLOAT,
                            {ir::DimExpr::symbol("n"), 3, ir::DimExpr::symbol("h"), ir::DimExpr::symbol("w")});
  ir::Attributes at;
  at.setInts("kernel_shape", {3, 3});
  at.setInts("strides", {2, 2});
  at.setInts("pads", {0, 1, 2, 1});
  at.setInt("ceil_mode", 1);
  ir::Node* n = g.addNode(OpKind::kMaxPool, "pool", {x}, at);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  const ir::Shape& s = n->outputs[0]->shape;
  ASSERT_EQ(s.size(), 4u);
  for (int64_t h = 3; h < 20; ++h) {
    // Rows: pads (0, 2); cols: pads (1, 1).
    int64_t oh = (h + 2 - 3 + 1) / 2 + 1;
    if ((oh - 1) * 2 >= h + 0) --oh;
    int64_t ow = (h + 2 - 3 + 1) / 2 + 1;
    if ((ow - 1) * 2 >= h + 1) --ow;
    const std::map<std::string, int64_t> vals{{"n", 1}, {"h", h}, {"w", h}};
    EXPECT_EQ(s[2].substitute(vals).constValue(), oh) << "h=" << h << " " << s[2].toString();
    EXPECT_EQ(s[3].substitute(vals).constValue(), ow) << "w=" << h << " " << s[3].toString();
  }
}

}  // namespace
}  // namespace kiln::test
