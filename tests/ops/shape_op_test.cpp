// ShapeOp family: data movement and shape ops against loops / hand values, Resize against
// values from onnx.reference, symbolic shape inference and value propagation, errors.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>

#include <gtest/gtest.h>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::DimExpr;
using ir::OpKind;
using ir::TensorData;

std::shared_ptr<TensorData> i64(const std::vector<int64_t>& v) { return TensorData::vectorInt64(v); }

std::vector<int64_t> coordsOf(int64_t flat, const std::vector<int64_t>& dims) {
  std::vector<int64_t> c(dims.size());
  for (size_t a = dims.size(); a-- > 0;) {
    c[a] = flat % dims[a];
    flat /= dims[a];
  }
  return c;
}
int64_t flatOf(const std::vector<int64_t>& c, const std::vector<int64_t>& dims) {
  int64_t f = 0;
  for (size_t a = 0; a < dims.size(); ++a) f = f * dims[a] + c[a];
  return f;
}

// Builds the expected tensor by out[c] = x[src(c)] over the output dims.
std::shared_ptr<TensorData> mapped(const TensorData& x, const std::vector<int64_t>& outDims,
                                   const std::function<std::vector<int64_t>(const std::vector<int64_t>&)>& src) {
  auto y = std::make_shared<TensorData>(x.dtype(), outDims);
  const size_t es = dataTypeSize(x.dtype());
  for (int64_t i = 0; i < y->numel(); ++i) {
    const int64_t s = flatOf(src(coordsOf(i, outDims)), x.dims());
    std::memcpy(static_cast<uint8_t*>(y->data()) + i * es,
                static_cast<const uint8_t*>(x.data()) + s * es, es);
  }
  return y;
}

std::shared_ptr<TensorData> withDims(const TensorData& x, std::vector<int64_t> dims) {
  return TensorData::fromBytes(x.dtype(), std::move(dims), x.data());
}

void expectErrorContains(const StatusOr<OpResult>& r, const std::string& text) {
  ASSERT_FALSE(r.isOk()) << "expected an error containing: " << text;
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
}

// --- Reshape, Flatten, Squeeze, Unsqueeze, Transpose -------------------------------------------

TEST(ShapeOpTest, ReshapeZeroCopyAndMinusOne) {
  std::mt19937 rng(1);
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
  auto out = runOp(OpKind::kReshape, {}, {OpInput::value(x), OpInput::constant(i64({0, -1}))});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectEqual(out->at(0), *withDims(*x, {2, 12}));

  auto out2 = runOp(OpKind::kReshape, {}, {OpInput::value(x), OpInput::constant(i64({4, 0, 2}))});
  ASSERT_TRUE(out2.isOk()) << out2.status().toString();
  expectEqual(out2->at(0), *withDims(*x, {4, 3, 2}));

  // allowzero=1: 0 is a real zero-size dim.
  auto empty = std::make_shared<TensorData>(DataType::kINT32, std::vector<int64_t>{0, 3});
  ir::Attributes a;
  a.setInt("allowzero", 1);
  auto z = runOp(OpKind::kReshape, a, {OpInput::value(empty), OpInput::constant(i64({3, 0}))});
  ASSERT_TRUE(z.isOk()) << z.status().toString();
  EXPECT_EQ(z->at(0).dims(), (std::vector<int64_t>{3, 0}));
}

TEST(ShapeOpTest, FlattenSqueezeUnsqueeze) {
  std::mt19937 rng(2);
  auto x = randomTensor(DataType::kHALF, {2, 1, 3, 1}, rng);
  ir::Attributes f;
  f.setInt("axis", 2);
  auto fl = runOp(OpKind::kFlatten, f, {OpInput::value(x)});
  ASSERT_TRUE(fl.isOk()) << fl.status().toString();
  expectEqual(fl->at(0), *withDims(*x, {2, 3}));
  f.setInt("axis", 0);
  auto fl0 = runOp(OpKind::kFlatten, f, {OpInput::value(x)});
  ASSERT_TRUE(fl0.isOk()) << fl0.status().toString();
  expectEqual(fl0->at(0), *withDims(*x, {1, 6}));
  f.setInt("axis", -1);
  auto flm = runOp(OpKind::kFlatten, f, {OpInput::value(x)});
  ASSERT_TRUE(flm.isOk()) << flm.status().toString();
  expectEqual(flm->at(0), *withDims(*x, {6, 1}));

  auto sq = runOp(OpKind::kSqueeze, {}, {OpInput::value(x)});
  ASSERT_TRUE(sq.isOk()) << sq.status().toString();
  expectEqual(sq->at(0), *withDims(*x, {2, 3}));
  auto sq1 = runOp(OpKind::kSqueeze, {}, {OpInput::value(x), OpInput::constant(i64({-1}))});
  ASSERT_TRUE(sq1.isOk()) << sq1.status().toString();
  expectEqual(sq1->at(0), *withDims(*x, {2, 1, 3}));

  auto y = randomTensor(DataType::kINT64, {2, 3}, rng, -100, 100);
  auto un = runOp(OpKind::kUnsqueeze, {}, {OpInput::value(y), OpInput::constant(i64({-1, 0}))});
  ASSERT_TRUE(un.isOk()) << un.status().toString();
  expectEqual(un->at(0), *withDims(*y, {1, 2, 3, 1}));
}

TEST(ShapeOpTest, TransposeAgainstLoop) {
  std::mt19937 rng(3);
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
  ir::Attributes a;
  a.setInts("perm", {2, 0, 1});
  auto out = runOp(OpKind::kTranspose, a, {OpInput::value(x)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectEqual(out->at(0), *mapped(*x, {4, 2, 3}, [](const std::vector<int64_t>& c) {
    return std::vector<int64_t>{c[1], c[2], c[0]};
  }));
  auto rev = runOp(OpKind::kTranspose, {}, {OpInput::value(x)});
  ASSERT_TRUE(rev.isOk()) << rev.status().toString();
  expectEqual(rev->at(0), *mapped(*x, {4, 3, 2}, [](const std::vector<int64_t>& c) {
    return std::vector<int64_t>{c[2], c[1], c[0]};
  }));
}

// --- Concat, Split ---------------------------------------------------------------------------------

TEST(ShapeOpTest, ConcatSeveralTypes) {
  std::mt19937 rng(4);
  for (DataType dt : {DataType::kFLOAT, DataType::kINT64, DataType::kHALF, DataType::kBOOL, DataType::kUINT8}) {
    auto a = randomTensor(dt, {2, 1, 3}, rng, -50, 50);
    auto b = randomTensor(dt, {2, 4, 3}, rng, -50, 50);
    auto c = randomTensor(dt, {2, 2, 3}, rng, -50, 50);
    ir::Attributes at;
    at.setInt("axis", -2);
    auto out = runOp(OpKind::kConcat, at, {OpInput::value(a), OpInput::value(b), OpInput::value(c)});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    auto want = std::make_shared<TensorData>(dt, std::vector<int64_t>{2, 7, 3});
    const size_t es = dataTypeSize(dt);
    for (int64_t i = 0; i < want->numel(); ++i) {
      auto co = coordsOf(i, {2, 7, 3});
      const TensorData* src = co[1] < 1 ? a.get() : co[1] < 5 ? b.get() : c.get();
      co[1] -= co[1] < 1 ? 0 : co[1] < 5 ? 1 : 5;
      std::memcpy(static_cast<uint8_t*>(want->data()) + i * es,
                  static_cast<const uint8_t*>(src->data()) + flatOf(co, src->dims()) * es, es);
    }
    SCOPED_TRACE(dataTypeName(dt));
    expectEqual(out->at(0), *want);
  }
}

TEST(ShapeOpTest, SplitVariants) {
  std::mt19937 rng(5);
  auto x = randomTensor(DataType::kFLOAT, {2, 7}, rng);
  auto cols = [&](int64_t from, int64_t n) {
    return mapped(*x, {2, n}, [from](const std::vector<int64_t>& c) { return std::vector<int64_t>{c[0], c[1] + from}; });
  };
  ir::Attributes a;
  a.setInt("axis", 1);
  auto s = runOp(OpKind::kSplit, a, {OpInput::value(x), OpInput::constant(i64({2, 0, 5}))}, 3);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  expectEqual(s->at(0), *cols(0, 2));
  EXPECT_EQ(s->at(1).dims(), (std::vector<int64_t>{2, 0}));
  expectEqual(s->at(2), *cols(2, 5));

  // Opset 18 uneven split: ceil(7/3) = 3, 3, then 1.
  a.setInt("axis", -1);
  a.setInt("num_outputs", 3);
  auto u = runOp(OpKind::kSplit, a, {OpInput::value(x)}, 3);
  ASSERT_TRUE(u.isOk()) << u.status().toString();
  expectEqual(u->at(0), *cols(0, 3));
  expectEqual(u->at(1), *cols(3, 3));
  expectEqual(u->at(2), *cols(6, 1));

  // Without split or num_outputs: equal parts by output count.
  ir::Attributes e;
  auto y = randomTensor(DataType::kINT32, {4, 2}, rng, -9, 9);
  auto eq = runOp(OpKind::kSplit, e, {OpInput::value(y)}, 2);
  ASSERT_TRUE(eq.isOk()) << eq.status().toString();
  expectEqual(eq->at(1), *mapped(*y, {2, 2}, [](const std::vector<int64_t>& c) { return std::vector<int64_t>{c[0] + 2, c[1]}; }));

  auto bad = runOp(OpKind::kSplit, a, {OpInput::value(x), OpInput::constant(i64({2, 2, 2}))}, 3);
  expectErrorContains(bad, "split sizes sum to 6 but axis 1 has size 7");
}

// --- Slice -----------------------------------------------------------------------------------------

// CPython's slice.indices(): the indices a slice visits (ONNX Slice uses the same rules).
std::vector<int64_t> pythonSlice(int64_t d, int64_t s, int64_t e, int64_t step) {
  const int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? d : d - 1;
  auto fix = [&](int64_t v) {
    if (v < 0) {
      v = v < -d ? lower : v + d;  // avoids overflow for INT64_MIN
      return std::max(v, lower);
    }
    return std::min(v, upper);
  };
  std::vector<int64_t> r;
  for (int64_t i = fix(s), end = fix(e); step > 0 ? i < end : i > end; i += step) r.push_back(i);
  return r;
}

TEST(ShapeOpTest, SliceAgainstPythonSemantics) {
  std::mt19937 rng(6);
  auto x = randomTensor(DataType::kFLOAT, {5, 6, 7}, rng);
  const int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  struct Case {
    std::vector<int64_t> starts, ends, axes, steps;
  };
  const Case cases[] = {
      {{1, -4}, {4, kMax}, {0, 2}, {1, 2}},
      {{-1}, {kMin}, {1}, {-1}},         // full reverse
      {{10, 2, -2}, {-10, 100, 0}, {2, 0, -2}, {-3, 1, -2}},
      {{3}, {1}, {0}, {1}},               // empty
      {{-100}, {3}, {-1}, {2}},
      {{-100}, {0}, {2}, {-1}},           // reverse from before the start: empty
      {{kMax, 1}, {kMin, kMin}, {0, 2}, {-2, -3}},
  };
  for (const Case& c : cases) {
    std::vector<std::vector<int64_t>> idx{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6}};
    for (size_t k = 0; k < c.axes.size(); ++k) {
      const size_t a = static_cast<size_t>(c.axes[k] < 0 ? c.axes[k] + 3 : c.axes[k]);
      idx[a] = pythonSlice(x->dims()[a], c.starts[k], c.ends[k], c.steps[k]);
    }
    std::vector<int64_t> dims{static_cast<int64_t>(idx[0].size()), static_cast<int64_t>(idx[1].size()),
                              static_cast<int64_t>(idx[2].size())};
    auto want = mapped(*x, dims, [&](const std::vector<int64_t>& co) {
      return std::vector<int64_t>{idx[0][static_cast<size_t>(co[0])], idx[1][static_cast<size_t>(co[1])],
                                  idx[2][static_cast<size_t>(co[2])]};
    });
    auto out = runOp(OpKind::kSlice, {},
                     {OpInput::value(x), OpInput::constant(i64(c.starts)), OpInput::constant(i64(c.ends)),
                      OpInput::constant(i64(c.axes)), OpInput::constant(i64(c.steps))});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    expectEqual(out->at(0), *want);
  }
  // Without axes and steps: leading axes, step 1.
  auto out = runOp(OpKind::kSlice, {}, {OpInput::value(x), OpInput::constant(i64({1})), OpInput::constant(i64({3}))});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectEqual(out->at(0), *mapped(*x, {2, 6, 7}, [](const std::vector<int64_t>& c) {
    return std::vector<int64_t>{c[0] + 1, c[1], c[2]};
  }));
}

// --- Gather, GatherElements -------------------------------------------------------------------------

TEST(ShapeOpTest, GatherAxesAndIndexTypes) {
  std::mt19937 rng(7);
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 4}, rng);
  ir::Attributes a;
  a.setInt("axis", 1);
  auto idx = makeInt32({2, 2}, {2, -3, -1, 1});  // -3 -> 0, -1 -> 2
  auto out = runOp(OpKind::kGather, a, {OpInput::value(x), OpInput::value(idx)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  const int64_t norm[4] = {2, 0, 2, 1};
  expectEqual(out->at(0), *mapped(*x, {2, 2, 2, 4}, [&](const std::vector<int64_t>& c) {
    return std::vector<int64_t>{c[0], norm[c[1] * 2 + c[2]], c[3]};
  }));

  auto y = makeInt64({4}, {10, 20, 30, 40});
  auto s = runOp(OpKind::kGather, {}, {OpInput::value(y), OpInput::value(TensorData::scalarInt64(-1))});
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  expectEqual(s->at(0), *makeInt64({}, {40}));
}

TEST(ShapeOpTest, GatherIndexOutOfRangeAtRunTime) {
  auto x = makeFloat({3}, {1.f, 2.f, 3.f});
  // Indices are a graph input, so only the kernel sees them.
  auto out = runOp(OpKind::kGather, {}, {OpInput::value(x), OpInput::value(makeInt64({2}, {0, 3}))});
  expectErrorContains(out, "Gather 'node': index 3 (at position 1 of the indices) is out of range for axis 0 of size 3");
  // Constant indices are rejected by shape inference already.
  auto c = runOp(OpKind::kGather, {}, {OpInput::value(x), OpInput::constant(makeInt64({1}, {-4}))});
  expectErrorContains(c, "index -4 is out of range for axis 0 of size 3");
}

TEST(ShapeOpTest, GatherElementsAgainstLoop) {
  std::mt19937 rng(8);
  auto x = randomTensor(DataType::kFLOAT, {3, 4}, rng);
  auto idx = makeInt64({3, 2}, {3, 0, -1, 1, 2, 2});
  ir::Attributes a;
  a.setInt("axis", 1);
  auto out = runOp(OpKind::kGatherElements, a, {OpInput::value(x), OpInput::value(idx)});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectEqual(out->at(0), *mapped(*x, {3, 2}, [&](const std::vector<int64_t>& c) {
    int64_t j = idx->as<int64_t>()[c[0] * 2 + c[1]];
    return std::vector<int64_t>{c[0], j < 0 ? j + 4 : j};
  }));
  a.setInt("axis", 0);
  auto idx0 = makeInt64({2, 4}, {2, 1, 0, 2, 0, 0, 1, 1});
  auto out0 = runOp(OpKind::kGatherElements, a, {OpInput::value(x), OpInput::value(idx0)});
  ASSERT_TRUE(out0.isOk()) << out0.status().toString();
  expectEqual(out0->at(0), *mapped(*x, {2, 4}, [&](const std::vector<int64_t>& c) {
    return std::vector<int64_t>{idx0->as<int64_t>()[c[0] * 4 + c[1]], c[1]};
  }));
}

// --- Expand, Tile, Pad -----------------------------------------------------------------------------

TEST(ShapeOpTest, ExpandBidirectional) {
  std::mt19937 rng(9);
  auto x = randomTensor(DataType::kINT32, {3, 1}, rng, -9, 9);
  auto out = runOp(OpKind::kExpand, {}, {OpInput::value(x), OpInput::constant(i64({2, 1, 4}))});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectEqual(out->at(0), *mapped(*x, {2, 3, 4}, [](const std::vector<int64_t>& c) {
    return std::vector<int64_t>{c[1], 0};
  }));
  auto bad = runOp(OpKind::kExpand, {}, {OpInput::value(x), OpInput::constant(i64({2, 4}))});
  expectErrorContains(bad, "cannot broadcast");
}

TEST(ShapeOpTest, TileAgainstLoop) {
  std::mt19937 rng(10);
  auto x = randomTensor(DataType::kFLOAT, {2, 3}, rng);
  auto out = runOp(OpKind::kTile, {}, {OpInput::value(x), OpInput::constant(i64({3, 2}))});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectEqual(out->at(0), *mapped(*x, {6, 6}, [](const std::vector<int64_t>& c) {
    return std::vector<int64_t>{c[0] % 2, c[1] % 3};
  }));
}

TEST(ShapeOpTest, PadModes) {
  // Expected values from numpy.pad (computed offline) for x = [[1,2,3],[4,5,6]].
  auto x = makeFloat({2, 3}, {1, 2, 3, 4, 5, 6});
  auto run = [&](const std::string& mode, std::vector<int64_t> pads, OpInput value = OpInput::absent(),
                 OpInput axes = OpInput::absent()) {
    ir::Attributes a;
    a.setString("mode", mode);
    return runOp(OpKind::kPad, a, {OpInput::value(x), OpInput::constant(i64(pads)), value, axes});
  };
  auto reflect = run("reflect", {0, 2, 0, 1});
  ASSERT_TRUE(reflect.isOk()) << reflect.status().toString();
  expectEqual(reflect->at(0), *makeFloat({2, 6}, {3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}));
  auto edge = run("edge", {1, 0, 1, 0});
  ASSERT_TRUE(edge.isOk()) << edge.status().toString();
  expectEqual(edge->at(0), *makeFloat({4, 3}, {1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}));
  auto wrap = run("wrap", {1, 2, 0, 4});
  ASSERT_TRUE(wrap.isOk()) << wrap.status().toString();
  expectEqual(wrap->at(0), *makeFloat({3, 9}, {5, 6, 4, 5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1, 2, 3, 1,
                                                5, 6, 4, 5, 6, 4, 5, 6, 4}));
  auto cst = run("constant", {0, 1, 1, 0}, OpInput::constant(TensorData::scalarFloat(9.f)));
  ASSERT_TRUE(cst.isOk()) << cst.status().toString();
  expectEqual(cst->at(0), *makeFloat({3, 4}, {9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9}));
  // Negative pads crop; axes select which dims the pads apply to.
  auto crop = run("constant", {-1, 0}, OpInput::absent(), OpInput::constant(i64({-1})));
  ASSERT_TRUE(crop.isOk()) << crop.status().toString();
  expectEqual(crop->at(0), *makeFloat({2, 2}, {2, 3, 5, 6}));
  // Default constant is 0, on an int64 tensor.
  auto xi = makeInt64({2}, {7, 8});
  auto zi = runOp(OpKind::kPad, {}, {OpInput::value(xi), OpInput::constant(i64({1, 2}))});
  ASSERT_TRUE(zi.isOk()) << zi.status().toString();
  expectEqual(zi->at(0), *makeInt64({5}, {0, 7, 8, 0, 0}));
}

// --- Resize ---------------------------------------------------------------------------------------

// Expected values come from onnx.reference.ReferenceEvaluator (onnx 1.19.1, opset 19), produced
// offline by tests/ops/gen_resize_expected.py (same inputs, attributes, scales/sizes/roi).
struct ResizeCase {
  const char* name;
  int input;  // 4: x4 [1,1,3,4]; 3: x3 [2,3,4]
  std::map<std::string, ir::AttrValue> attrs;
  std::vector<float> roi, scales;
  std::vector<int64_t> sizes;
  std::vector<int64_t> dims;
  std::vector<double> want;
};

TEST(ResizeTest, MatchesOnnxReference) {
  // x4[i] = ((i*7) % 12)/4 - 1.3 and x3[i] = ((i*5) % 24)/8 - 1.1, rounded to float.
  std::vector<float> v4, v3;
  for (int i = 0; i < 12; ++i) v4.push_back(static_cast<float>(((i * 7) % 12) / 4.0 - 1.3));
  for (int i = 0; i < 24; ++i) v3.push_back(static_cast<float>(((i * 5) % 24) / 8.0 - 1.1));
  auto x4 = makeFloat({1, 1, 3, 4}, v4);
  auto x3 = makeFloat({2, 3, 4}, v3);
  const ResizeCase cases[] = {
    {"NearestHalfPixelPreferFloor", 4, {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("half_pixel")}, {"nearest_mode", std::string("round_prefer_floor")}},
     {}, {1.0f, 1.0f, 1.5f, 0.75f}, {},
     {1, 1, 4, 3},
     {-1.29999995, 0.449999988, 0.949999988, -1.29999995, 0.449999988, 0.949999988, -0.300000012, 1.45000005, -1.04999995, 0.699999988, -0.550000012, -0.0500000007}},
    {"NearestAsymmetricPreferCeil", 4, {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("asymmetric")}, {"nearest_mode", std::string("round_prefer_ceil")}},
     {}, {}, {1, 1, 5, 7},
     {1, 1, 5, 7},
     {-1.29999995, 0.449999988, 0.449999988, -0.800000012, -0.800000012, 0.949999988, 0.949999988, -0.300000012, 1.45000005, 1.45000005, 0.200000003, 0.200000003, -1.04999995, -1.04999995, -0.300000012, 1.45000005, 1.45000005, 0.200000003, 0.200000003, -1.04999995, -1.04999995, 0.699999988, -0.550000012, -0.550000012, 1.20000005, 1.20000005, -0.0500000007, -0.0500000007, 0.699999988, -0.550000012, -0.550000012, 1.20000005, 1.20000005, -0.0500000007, -0.0500000007}},
    {"NearestAlignCornersFloor", 4, {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("align_corners")}, {"nearest_mode", std::string("floor")}},
     {}, {1.0f, 1.0f, 2.0f, 2.0f}, {},
     {1, 1, 6, 8},
     {-1.29999995, -1.29999995, -1.29999995, 0.449999988, 0.449999988, -0.800000012, -0.800000012, 0.949999988, -1.29999995, -1.29999995, -1.29999995, 0.449999988, 0.449999988, -0.800000012, -0.800000012, 0.949999988, -1.29999995, -1.29999995, -1.29999995, 0.449999988, 0.449999988, -0.800000012, -0.800000012, 0.949999988, -0.300000012, -0.300000012, -0.300000012, 1.45000005, 1.45000005, 0.200000003, 0.200000003, -1.04999995, -0.300000012, -0.300000012, -0.300000012, 1.45000005, 1.45000005, 0.200000003, 0.200000003, -1.04999995, 0.699999988, 0.699999988, 0.699999988, -0.550000012, -0.550000012, 1.20000005, 1.20000005, -0.0500000007}},
    {"NearestPytorchCeil", 4, {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("pytorch_half_pixel")}, {"nearest_mode", std::string("ceil")}},
     {}, {}, {1, 1, 1, 3},
     {1, 1, 1, 3},
     {0.449999988, -0.800000012, 0.949999988}},
    {"LinearHalfPixel", 4, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("half_pixel")}},
     {}, {1.0f, 1.0f, 2.0f, 1.5f}, {},
     {1, 1, 6, 6},
     {-1.29999995, -0.424999982, 0.24166666, -0.591666698, 0.0749999881, 0.949999988, -1.04999995, -0.174999982, 0.491666675, -0.341666669, -0.0500000045, 0.449999988, -0.550000012, 0.325000018, 0.991666675, 0.158333331, -0.299999982, -0.549999952, -0.0500000119, 0.450000018, 0.866666675, 0.533333361, -0.174999982, -0.799999952, 0.449999988, 0.199999988, 0.116666675, 0.783333361, 0.325000018, -0.299999982, 0.699999988, 0.0749999881, -0.258333325, 0.908333361, 0.575000048, -0.0500000007}},
    {"LinearAlignCorners", 4, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("align_corners")}},
     {}, {}, {1, 1, 4, 7},
     {1, 1, 4, 7},
     {-1.29999995, -0.424999982, 0.449999988, -0.175000012, -0.800000012, 0.0749999881, 0.949999988, -0.633333325, 0.24166669, 1.11666667, 0.491666675, -0.13333334, -0.258333325, -0.383333296, 0.0333333202, 0.408333331, 0.783333361, 0.658333361, 0.533333361, -0.0916666389, -0.716666639, 0.699999988, 0.0749999881, -0.550000012, 0.325000018, 1.20000005, 0.575000048, -0.0500000007}},
    {"LinearAsymmetricDown", 4, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("asymmetric")}},
     {}, {1.0f, 1.0f, 0.5f, 0.5f}, {},
     {1, 1, 1, 2},
     {-1.29999995, -0.800000012}},
    {"LinearPytorchHalfPixel", 4, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("pytorch_half_pixel")}},
     {}, {}, {1, 1, 5, 1},
     {1, 1, 5, 1},
     {-1.29999995, -0.899999976, -0.300000012, 0.299999982, 0.699999988}},
    {"LinearHalfPixelSymmetric", 4, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("half_pixel_symmetric")}},
     {}, {1.0f, 1.0f, 1.7f, 0.8f}, {},
     {1, 1, 5, 3},
     {-0.862499952, -0.175000012, 0.512499928, -0.450735152, 0.236764789, -0.00220599049, 0.137500048, 0.824999988, -0.737499893, 0.284558833, 0.530882359, -0.149264604, 0.387499958, 0.325000018, 0.262500048}},
    {"LinearTfCropAndResize", 4, {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("tf_crop_and_resize")}, {"extrapolation_value", 7.5f}},
     {0.0f, 0.0f, 0.2f, 0.1f, 1.0f, 1.0f, 0.9f, 1.2f}, {}, {1, 1, 4, 5},
     {1, 1, 4, 5},
     {-0.37499994, 0.693749964, -0.337500066, 0.0262500364, 7.5, 0.091666691, 1.1604166, 0.129166603, -0.592083335, 7.5, 0.258333355, 0.752083361, 0.545833349, -0.435416728, 7.5, 0.304999977, -0.00624993164, 0.942500055, 0.0312499162, 7.5}},
    {"CubicHalfPixel", 4, {{"mode", std::string("cubic")}, {"coordinate_transformation_mode", std::string("half_pixel")}},
     {}, {1.0f, 1.0f, 2.0f, 2.0f}, {},
     {1, 1, 6, 8},
     {-1.59003901, -0.965039015, 0.079882808, 0.173251316, -0.778683484, -0.569134533, 0.64882201, 1.37887871, -1.30428767, -0.640560865, 0.469454974, 0.597842395, -0.349148571, -0.509060681, 0.171572879, 0.57460326, -0.849972546, -0.108792104, 1.13141179, 1.31747746, 0.355654895, -0.426449597, -0.628201246, -0.762493849, -0.0808532983, 0.294573963, 0.920001268, 1.14108586, 0.864077806, 0.116992205, -0.699536085, -1.19958186, 0.568743885, 0.341754138, -0.0453918502, 0.168276995, 0.889010668, 0.81437993, -0.00214841822, -0.489834577, 0.970675647, 0.377932727, -0.62398988, -0.414028943, 0.914065599, 1.24020696, 0.411318988, -0.0763671994}},
    {"CubicAlignCornersExclude", 4, {{"mode", std::string("cubic")}, {"coordinate_transformation_mode", std::string("align_corners")}, {"cubic_coeff_a", -0.5f}, {"exclude_outside", int64_t{1}}},
     {}, {}, {1, 1, 5, 3},
     {1, 1, 5, 3},
     {-1.29999995, -0.175000012, 0.949999988, -0.888235271, 0.424264699, -0.0499999821, -0.300000012, 1.01250005, -1.04999995, 0.288235277, 0.718382359, -0.638235271, 0.699999988, 0.325000018, -0.0500000007}},
    {"CubicAsymmetricDown", 4, {{"mode", std::string("cubic")}, {"coordinate_transformation_mode", std::string("asymmetric")}},
     {}, {1.0f, 1.0f, 0.8f, 0.6f}, {},
     {1, 1, 2, 2},
     {-1.29999995, -0.503703594, 0.0320312083, 0.945081115}},
    {"LinearAxesNotLarger", 4, {{"mode", std::string("linear")}, {"axes", std::vector<int64_t>{2, 3}}, {"keep_aspect_ratio_policy", std::string("not_larger")}},
     {}, {}, {5, 9},
     {1, 1, 5, 7},
     {-1.29999995, -0.599999964, 0.449999988, -0.300000012, -0.450000018, 0.599999964, 0.949999988, -0.899999976, -0.199999988, 0.850000024, 0.100000001, -0.289999992, 0.0400000066, 0.150000006, -0.300000012, 0.400000006, 1.45000005, 0.700000048, -0.0499999896, -0.799999952, -1.04999995, 0.299999982, 0.280000001, 0.25, 0.580000043, 0.550000012, -0.199999973, -0.449999988, 0.699999988, 0.199999988, -0.550000012, 0.5, 0.950000048, 0.200000003, -0.0500000007}},
    {"NearestAxesNotSmaller", 4, {{"mode", std::string("nearest")}, {"axes", std::vector<int64_t>{-1, -2}}, {"keep_aspect_ratio_policy", std::string("not_smaller")}},
     {}, {}, {6, 4},
     {1, 1, 5, 6},
     {-1.29999995, -1.29999995, 0.449999988, -0.800000012, -0.800000012, 0.949999988, -1.29999995, -1.29999995, 0.449999988, -0.800000012, -0.800000012, 0.949999988, -0.300000012, -0.300000012, 1.45000005, 0.200000003, 0.200000003, -1.04999995, 0.699999988, 0.699999988, -0.550000012, 1.20000005, 1.20000005, -0.0500000007, 0.699999988, 0.699999988, -0.550000012, 1.20000005, 1.20000005, -0.0500000007}},
    {"Trilinear", 3, {{"mode", std::string("linear")}},
     {}, {2.0f, 1.5f, 0.5f}, {},
     {4, 4, 2},
     {-0.787500024, 0.462499976, -0.287500024, 0.212500006, 0.379166633, -0.12083333, 1.04583335, -0.454166681, -0.412500024, 0.462499976, -0.100000016, 0.400000006, 0.316666633, 0.254166663, 0.73333329, -0.0791666806, 0.337499976, 0.462499976, 0.274999976, 0.774999976, 0.191666648, 1.0041666, 0.108333319, 0.67083329, 0.712499976, 0.462499976, 0.462499976, 0.962499976, 0.129166648, 1.3791666, -0.204166681, 1.04583335}},
  };
  for (const ResizeCase& c : cases) {
    SCOPED_TRACE(c.name);
    ir::Attributes a;
    for (const auto& [k, v] : c.attrs) a.set(k, v);
    auto flt = [](const std::vector<float>& v) {
      return OpInput::constant(TensorData::fromVector(DataType::kFLOAT, {static_cast<int64_t>(v.size())}, v));
    };
    OpInput roi = c.roi.empty() ? OpInput::absent() : flt(c.roi);
    OpInput scales = c.scales.empty() ? OpInput::absent() : flt(c.scales);
    OpInput sizes = c.sizes.empty() ? OpInput::absent() : OpInput::constant(i64(c.sizes));
    auto out = runOp(OpKind::kResize, a, {OpInput::value(c.input == 4 ? x4 : x3), roi, scales, sizes});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    expectCloseTo(out->at(0), c.dims, c.want, 1e-5, 1e-6);
  }
}

TEST(ResizeTest, SymbolicIntegerScaleAndErrors) {
  ir::Graph g;
  auto* x = g.addInput("x", DataType::kFLOAT, {1, 3, DimExpr::symbol("h"), DimExpr::symbol("w")});
  auto* scales = g.addConstant("scales", TensorData::fromVector(DataType::kFLOAT, {4}, std::vector<float>{1, 1, 2, 0.5f}));
  ir::Attributes a;
  a.setString("mode", "nearest");
  auto* y = g.addNode(OpKind::kResize, "up", {x, nullptr, scales}, a)->outputs[0];
  g.markOutput(y);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  std::map<std::string, int64_t> bind{{"h", 7}, {"w", 9}};
  EXPECT_EQ(y->shape[2].substitute(bind).constValue(), 14);
  EXPECT_EQ(y->shape[3].substitute(bind).constValue(), 4);

  auto xs = makeFloat({1, 2}, {1, 2});
  ir::Attributes bad;
  bad.setString("mode", "bicubic");
  auto r = runOp(OpKind::kResize, bad, {OpInput::value(xs), OpInput::absent(), OpInput::absent(), OpInput::constant(i64({1, 4}))});
  expectErrorContains(r, "mode 'bicubic' is not one of nearest, linear, cubic");
  auto none = runOp(OpKind::kResize, {}, {OpInput::value(xs)});
  expectErrorContains(none, "exactly one of scales and sizes must be given");
}

// --- Shape, Size, ConstantOfShape, Range ------------------------------------------------------------

TEST(ShapeOpTest, ShapeSizeConstantOfShape) {
  auto x = std::make_shared<TensorData>(DataType::kFLOAT, std::vector<int64_t>{2, 3, 5, 7});
  auto s = runOp(OpKind::kShape, {}, {OpInput::value(x)});
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  expectEqual(s->at(0), *makeInt64({4}, {2, 3, 5, 7}));
  ir::Attributes a;
  a.setInt("start", 1);
  a.setInt("end", -1);
  auto s2 = runOp(OpKind::kShape, a, {OpInput::value(x)});
  ASSERT_TRUE(s2.isOk()) << s2.status().toString();
  expectEqual(s2->at(0), *makeInt64({2}, {3, 5}));
  a.setInt("start", -10);  // clamped to 0
  a.setInt("end", 100);
  auto s3 = runOp(OpKind::kShape, a, {OpInput::value(x)});
  ASSERT_TRUE(s3.isOk()) << s3.status().toString();
  expectEqual(s3->at(0), *makeInt64({4}, {2, 3, 5, 7}));

  auto n = runOp(OpKind::kSize, {}, {OpInput::value(x)});
  ASSERT_TRUE(n.isOk()) << n.status().toString();
  expectEqual(n->at(0), *makeInt64({}, {210}));

  auto c = runOp(OpKind::kConstantOfShape, {}, {OpInput::constant(i64({2, 3}))});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  expectEqual(c->at(0), *makeFloat({2, 3}, {0, 0, 0, 0, 0, 0}));
  ir::Attributes v;
  v.setTensor("value", makeInt32({1}, {-4}));
  auto ci = runOp(OpKind::kConstantOfShape, v, {OpInput::constant(i64({3}))});
  ASSERT_TRUE(ci.isOk()) << ci.status().toString();
  expectEqual(ci->at(0), *makeInt32({3}, {-4, -4, -4}));
}

TEST(ShapeOpTest, RangeIntAndFloat) {
  auto run = [](std::shared_ptr<TensorData> s, std::shared_ptr<TensorData> l, std::shared_ptr<TensorData> d) {
    return runOp(OpKind::kRange, {}, {OpInput::constant(s), OpInput::constant(l), OpInput::constant(d)});
  };
  auto r = run(TensorData::scalarInt64(10), TensorData::scalarInt64(-3), TensorData::scalarInt64(-4));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeInt64({4}, {10, 6, 2, -2}));  // ceil(13/4) = 4
  auto e = run(TensorData::scalarInt64(5), TensorData::scalarInt64(1), TensorData::scalarInt64(1));
  ASSERT_TRUE(e.isOk()) << e.status().toString();
  EXPECT_EQ(e->at(0).dims(), (std::vector<int64_t>{0}));
  auto f = run(TensorData::scalarFloat(0.5f), TensorData::scalarFloat(2.0f), TensorData::scalarFloat(0.4f));
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  // ceil(1.5 / 0.4) = 4 elements: 0.5 + k * 0.4.
  expectCloseTo(f->at(0), {4}, {0.5, 0.9, 1.3, 1.7}, 1e-6, 1e-6);
  auto z = run(TensorData::scalarInt64(0), TensorData::scalarInt64(4), TensorData::scalarInt64(0));
  expectErrorContains(z, "delta must not be 0");
}

// --- TopK --------------------------------------------------------------------------------------------

TEST(ShapeOpTest, TopKLargestSmallestTies) {
  auto x = makeFloat({2, 5}, {3, 1, 3, 7, 1, -2, 0, -2, 5, 5});
  ir::Attributes a;
  auto k3 = runOp(OpKind::kTopK, a, {OpInput::value(x), OpInput::constant(i64({3}))}, 2);
  ASSERT_TRUE(k3.isOk()) << k3.status().toString();
  expectEqual(k3->at(0), *makeFloat({2, 3}, {7, 3, 3, 5, 5, 0}));
  expectEqual(k3->at(1), *makeInt64({2, 3}, {3, 0, 2, 3, 4, 1}));  // ties: lower index first
  a.setInt("largest", 0);
  a.setInt("axis", 0);
  auto k1 = runOp(OpKind::kTopK, a, {OpInput::value(x), OpInput::constant(i64({1}))}, 2);
  ASSERT_TRUE(k1.isOk()) << k1.status().toString();
  expectEqual(k1->at(0), *makeFloat({1, 5}, {-2, 0, -2, 5, 1}));
  expectEqual(k1->at(1), *makeInt64({1, 5}, {1, 1, 1, 1, 0}));

  // Random data against a full sort.
  std::mt19937 rng(11);
  auto r = randomTensor(DataType::kFLOAT, {4, 9}, rng);
  auto out = runOp(OpKind::kTopK, {}, {OpInput::value(r), OpInput::constant(i64({4}))}, 2);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  for (int64_t row = 0; row < 4; ++row) {
    std::vector<std::pair<double, int64_t>> v;
    for (int64_t j = 0; j < 9; ++j) v.push_back({-r->doubleAt(row * 9 + j), j});
    std::sort(v.begin(), v.end());
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_EQ(out->at(1).intAt(row * 4 + j), v[static_cast<size_t>(j)].second);
      EXPECT_EQ(out->at(0).doubleAt(row * 4 + j), -v[static_cast<size_t>(j)].first);
    }
  }
}

TEST(ShapeOpTest, TopKLargerThanDimFails) {
  auto x = makeFloat({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = runOp(OpKind::kTopK, {}, {OpInput::value(x), OpInput::constant(i64({4}))}, 2);
  expectErrorContains(out, "TopK 'node': K = 4 is larger than axis 1 of size 3");
  // K known only at run time: the kernel checks it.
  auto rt = runOp(OpKind::kTopK, {}, {OpInput::value(x), OpInput::value(i64({4}))}, 2);
  ASSERT_FALSE(rt.isOk());
}

// --- DepthToSpace, SpaceToDepth ----------------------------------------------------------------------

TEST(ShapeOpTest, DepthToSpaceAndBack) {
  std::mt19937 rng(12);
  const int64_t b = 2, n = 2, c = 3, h = 2, w = 3;
  auto x = randomTensor(DataType::kFLOAT, {n, c * b * b, h, w}, rng);
  for (const char* mode : {"DCR", "CRD"}) {
    ir::Attributes a;
    a.setInt("blocksize", b);
    a.setString("mode", mode);
    auto out = runOp(OpKind::kDepthToSpace, a, {OpInput::value(x)});
    ASSERT_TRUE(out.isOk()) << out.status().toString();
    const bool dcr = std::string(mode) == "DCR";
    // ONNX: DCR takes channel (i*b + j)*C' + c, CRD takes c*b*b + i*b + j for y[n,c,h*b+i,w*b+j].
    expectEqual(out->at(0), *mapped(*x, {n, c, h * b, w * b}, [&](const std::vector<int64_t>& o) {
      const int64_t i = o[2] % b, j = o[3] % b;
      const int64_t ch = dcr ? (i * b + j) * c + o[1] : o[1] * b * b + i * b + j;
      return std::vector<int64_t>{o[0], ch, o[2] / b, o[3] / b};
    }));
    if (dcr) {
      // SpaceToDepth inverts DCR DepthToSpace.
      ir::Attributes s;
      s.setInt("blocksize", b);
      auto back = runOp(OpKind::kSpaceToDepth, s, {OpInput::value(out->outputs[0])});
      ASSERT_TRUE(back.isOk()) << back.status().toString();
      expectEqual(back->at(0), *x);
    }
  }
  ir::Attributes a;
  a.setInt("blocksize", 2);
  auto bad = runOp(OpKind::kDepthToSpace, a, {OpInput::value(randomTensor(DataType::kFLOAT, {1, 6, 2, 2}, rng))});
  expectErrorContains(bad, "channels 6 are not divisible by blocksize^2 = 4");
}

// --- Symbolic shape inference and value propagation ---------------------------------------------------

// x:[batch, seq, 8] -> Shape -> Gather(0) -> Unsqueeze -> Concat with [-1, 8] -> Reshape(x).
TEST(ShapeOpSymbolicTest, ShapeChainIntoReshapeStaysSymbolic) {
  ir::Graph g;
  const DimExpr batch = DimExpr::symbol("batch"), seq = DimExpr::symbol("seq");
  auto* x = g.addInput("x", DataType::kFLOAT, {batch, seq, 8});
  auto* shape = g.addNode(OpKind::kShape, "shape", {x}, {})->outputs[0];
  auto* zero = g.addConstant("zero", TensorData::scalarInt64(0));
  auto* b = g.addNode(OpKind::kGather, "gather", {shape, zero}, {})->outputs[0];
  auto* axes = g.addConstant("axes", TensorData::vectorInt64({0}));
  auto* b1 = g.addNode(OpKind::kUnsqueeze, "unsq", {b, axes}, {})->outputs[0];
  auto* rest = g.addConstant("rest", TensorData::vectorInt64({-1, 8}));
  auto* target = g.addNode(OpKind::kConcat, "concat", {b1, rest}, {})->outputs[0];
  auto* y = g.addNode(OpKind::kReshape, "reshape", {x, target}, {})->outputs[0];
  g.markOutput(y);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());

  ASSERT_TRUE(shape->shapeValue.has_value());
  EXPECT_EQ(ir::shapeToString(*shape->shapeValue), "[batch,seq,8]");
  EXPECT_TRUE(b->shape.empty());
  EXPECT_EQ(ir::shapeToString(*b->shapeValue), "[batch]");
  EXPECT_EQ(ir::shapeToString(b1->shape), "[1]");
  EXPECT_EQ(ir::shapeToString(*target->shapeValue), "[batch,-1,8]");
  ASSERT_EQ(y->shape.size(), 3u);
  EXPECT_TRUE(y->shape[0].equals(batch));
  EXPECT_EQ(y->shape[2].constValue(), 8);
  // The -1 is volume / (batch * 8) = seq; it must substitute correctly for any binding.
  for (auto [bv, sv] : {std::pair<int64_t, int64_t>{1, 1}, {3, 5}, {7, 128}}) {
    std::map<std::string, int64_t> bind{{"batch", bv}, {"seq", sv}};
    EXPECT_EQ(y->shape[1].substitute(bind).constValue(), sv) << y->shape[1].toString();
  }
}

TEST(ShapeOpSymbolicTest, ReshapeMinusOneFloorDivWhenNotCancellable) {
  ir::Graph g;
  auto* x = g.addInput("x", DataType::kFLOAT, {DimExpr::symbol("n"), 6});
  auto* t = g.addConstant("t", TensorData::vectorInt64({4, -1}));
  auto* y = g.addNode(OpKind::kReshape, "r", {x, t}, {})->outputs[0];
  g.markOutput(y);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  EXPECT_EQ(y->shape[0].constValue(), 4);
  // (n*6)/4 = floordiv(n*3, 2) after cancelling gcd(6, 4) = 2.
  for (int64_t n : {2, 4, 10}) EXPECT_EQ(y->shape[1].substitute({{"n", n}}).constValue(), n * 6 / 4);
}

TEST(ShapeOpSymbolicTest, SliceSymbolicDims) {
  ir::Graph g;
  const DimExpr seq = DimExpr::symbol("seq");
  auto* x = g.addInput("x", DataType::kFLOAT, {2, seq, 16});
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  // x[:, 1:, :], x[:, -3:, :], x[:, :5], x[:, ::-2], x[:, 2:-1:3]
  struct Case {
    int64_t s, e, step;
  } cases[] = {{1, kMax, 1}, {-3, kMax, 1}, {0, 5, 1}, {-1, std::numeric_limits<int64_t>::min(), -2}, {2, -1, 3}};
  std::vector<ir::Value*> outs;
  for (const Case& c : cases) {
    auto* st = g.addConstant(g.uniqueName("s"), TensorData::vectorInt64({c.s}));
    auto* en = g.addConstant(g.uniqueName("e"), TensorData::vectorInt64({c.e}));
    auto* ax = g.addConstant(g.uniqueName("a"), TensorData::vectorInt64({1}));
    auto* sp = g.addConstant(g.uniqueName("p"), TensorData::vectorInt64({c.step}));
    outs.push_back(g.addNode(OpKind::kSlice, g.uniqueName("slice"), {x, st, en, ax, sp}, {})->outputs[0]);
    g.markOutput(outs.back());
  }
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  for (int64_t s : {0, 1, 2, 3, 4, 6, 11}) {
    for (size_t k = 0; k < outs.size(); ++k) {
      const int64_t want = static_cast<int64_t>(pythonSlice(s, cases[k].s, cases[k].e, cases[k].step).size());
      EXPECT_EQ(outs[k]->shape[1].substitute({{"seq", s}}).constValue(), want)
          << "case " << k << " seq=" << s << ": " << outs[k]->shape[1].toString();
      EXPECT_EQ(outs[k]->shape[2].constValue(), 16);
    }
  }
}

TEST(ShapeOpSymbolicTest, ValuesThroughSliceConcatRangeConstantOfShape) {
  ir::Graph g;
  const DimExpr batch = DimExpr::symbol("batch"), seq = DimExpr::symbol("seq");
  auto* x = g.addInput("x", DataType::kFLOAT, {batch, seq, 8});
  auto* shape = g.addNode(OpKind::kShape, "shape", {x}, {})->outputs[0];
  // shape[1:] -> [seq, 8]
  auto* one = g.addConstant("one", TensorData::vectorInt64({1}));
  auto* big = g.addConstant("big", TensorData::vectorInt64({std::numeric_limits<int64_t>::max()}));
  auto* tail = g.addNode(OpKind::kSlice, "tail", {shape, one, big}, {})->outputs[0];
  // Range(0, seq, 1): position ids with a symbolic length.
  auto* seqScalar = g.addNode(OpKind::kGather, "g1", {shape, g.addConstant("i1", TensorData::scalarInt64(1))}, {})->outputs[0];
  auto* pos = g.addNode(OpKind::kRange, "range",
                        {g.addConstant("r0", TensorData::scalarInt64(0)), seqScalar,
                         g.addConstant("r1", TensorData::scalarInt64(1))}, {})->outputs[0];
  // ConstantOfShape(shape) has the input's (symbolic) shape.
  auto* zeros = g.addNode(OpKind::kConstantOfShape, "zeros", {shape}, {})->outputs[0];
  auto* size = g.addNode(OpKind::kSize, "size", {x}, {})->outputs[0];
  // Concat of [batch] with [seq, 8] and a Squeeze/Expand of known values.
  auto* cat = g.addNode(OpKind::kConcat, "cat", {tail, one}, {})->outputs[0];
  for (auto* v : {tail, pos, zeros, size, cat}) g.markOutput(v);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  EXPECT_EQ(ir::shapeToString(*tail->shapeValue), "[seq,8]");
  EXPECT_EQ(ir::shapeToString(pos->shape), "[seq]");
  EXPECT_TRUE(shapesEqual(zeros->shape, x->shape));
  EXPECT_EQ(size->shapeValue->at(0).substitute({{"batch", 2}, {"seq", 3}}).constValue(), 48);
  EXPECT_EQ(ir::shapeToString(*cat->shapeValue), "[seq,8,1]");
}

TEST(ShapeOpSymbolicTest, SmallKnownValuesFold) {
  ir::Graph g;
  auto* v = g.addConstant("v", TensorData::vectorInt64({2, 3}));
  auto* tiled = g.addNode(OpKind::kTile, "tile", {v, g.addConstant("r", TensorData::vectorInt64({2}))}, {})->outputs[0];
  auto* col = g.addNode(OpKind::kUnsqueeze, "u", {v, g.addConstant("a", TensorData::vectorInt64({1}))}, {})->outputs[0];
  auto* ex = g.addNode(OpKind::kExpand, "ex", {col, g.addConstant("s", TensorData::vectorInt64({2, 2}))}, {})->outputs[0];
  auto* flat = g.addNode(OpKind::kReshape, "flat", {ex, g.addConstant("m", TensorData::vectorInt64({-1}))}, {})->outputs[0];
  for (auto* o : {tiled, flat}) g.markOutput(o);
  ASSERT_TRUE(ir::inferGraphInPlace(g).isOk());
  ASSERT_TRUE(tiled->shapeValue.has_value());
  EXPECT_EQ(ir::shapeToString(*tiled->shapeValue), "[2,3,2,3]");
  ASSERT_TRUE(flat->shapeValue.has_value());
  EXPECT_EQ(ir::shapeToString(*flat->shapeValue), "[2,2,3,3]");
}

// --- Errors ---------------------------------------------------------------------------------------------

TEST(ShapeOpErrorTest, ClearMessages) {
  std::mt19937 rng(13);
  auto x = randomTensor(DataType::kFLOAT, {2, 3}, rng);
  ir::Attributes a;
  a.setInt("axis", 2);
  expectErrorContains(runOp(OpKind::kConcat, a, {OpInput::value(x), OpInput::value(x)}),
                      "Concat 'node': axis 2 is out of range for rank 2");
  expectErrorContains(runOp(OpKind::kConcat, {}, {OpInput::value(x), OpInput::value(randomTensor(DataType::kFLOAT, {2, 4}, rng))}),
                      "only the concat axis 0 may differ");
  expectErrorContains(runOp(OpKind::kReshape, {}, {OpInput::value(x), OpInput::constant(i64({4, 2}))}),
                      "Reshape 'node': cannot reshape [2,3] (6 elements) to [4,2] (8 elements)");
  expectErrorContains(runOp(OpKind::kReshape, {}, {OpInput::value(x), OpInput::constant(i64({4, -1}))}),
                      "6 is not divisible by 4");
  expectErrorContains(runOp(OpKind::kReshape, {}, {OpInput::value(x), OpInput::constant(i64({-1, -1}))}),
                      "more than one -1");
  expectErrorContains(runOp(OpKind::kSqueeze, {}, {OpInput::value(x), OpInput::constant(i64({0}))}),
                      "cannot squeeze axis 0 of shape [2,3]: its size is 2, not 1");
  ir::Attributes p;
  p.setInts("perm", {0, 0});
  expectErrorContains(runOp(OpKind::kTranspose, p, {OpInput::value(x)}), "perm must be a permutation");
  expectErrorContains(runOp(OpKind::kSlice, {}, {OpInput::value(x), OpInput::constant(i64({0})), OpInput::constant(i64({1})),
                                                 OpInput::constant(i64({0})), OpInput::constant(i64({0}))}),
                      "steps must not be 0");
  // Reshape's target computed from tensor data cannot be used.
  expectErrorContains(runOp(OpKind::kReshape, {}, {OpInput::value(x), OpInput::value(i64({6}))}),
                      "computed from tensor data");

  // Squeeze without axes on a symbolic dim cannot decide.
  ir::Graph g;
  auto* in = g.addInput("in", DataType::kFLOAT, {DimExpr::symbol("n"), 1});
  g.markOutput(g.addNode(OpKind::kSqueeze, "sq", {in}, {})->outputs[0]);
  Status st = ir::inferGraphInPlace(g);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("Squeeze 'sq': Squeeze without axes must know which dims are 1"), std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace kiln::test
