// GPU-specific cases for the ShapeOp family: shapes and dtypes that exercise the CUDA kernels'
// separate paths (16-byte units, misaligned slices, tiled transposes, batched copies, the
// last-writer election of ScatterND, TopK's global sort, every Resize mode). runOp runs each case
// on the CPU and, when a GPU is present, on the GPU too and compares the two; the CPU result is
// the oracle, so these tests only check that the CPU run succeeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/half.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using ir::TensorData;

std::shared_ptr<TensorData> i64(const std::vector<int64_t>& v) {
  return TensorData::vectorInt64(v);
}
std::shared_ptr<TensorData> f32(const std::vector<float>& v) {
  return TensorData::fromVector(DataType::kFLOAT, {static_cast<int64_t>(v.size())}, v);
}

void expectOk(const StatusOr<OpResult>& r) { ASSERT_TRUE(r.isOk()) << r.status().toString(); }

const DataType kMoveTypes[] = {DataType::kFLOAT, DataType::kHALF, DataType::kINT8,
                               DataType::kDOUBLE, DataType::kBOOL};

TEST(GpuShapeOpTest, TransposeTiledAndStrided) {
  std::mt19937 rng(1);
  for (DataType t : kMoveTypes) {
    SCOPED_TRACE(dataTypeName(t));
    auto x = randomTensor(t, {3, 67, 45}, rng, -100, 100);
    for (const std::vector<int64_t>& perm :
         std::vector<std::vector<int64_t>>{{0, 2, 1}, {2, 1, 0}, {1, 0, 2}, {2, 0, 1}}) {
      ir::Attributes a;
      a.setInts("perm", perm);
      expectOk(runOp(OpKind::kTranspose, a, {OpInput::value(x)}));
    }
  }
  // NCHW -> NHWC and back, a rank-6 permutation, and the default (reversed) permutation.
  auto nchw = randomTensor(DataType::kHALF, {2, 3, 33, 47}, rng);
  ir::Attributes toNhwc;
  toNhwc.setInts("perm", {0, 2, 3, 1});
  expectOk(runOp(OpKind::kTranspose, toNhwc, {OpInput::value(nchw)}));
  auto nhwc = randomTensor(DataType::kFLOAT, {2, 33, 47, 40}, rng);
  ir::Attributes toNchw;
  toNchw.setInts("perm", {0, 3, 1, 2});
  expectOk(runOp(OpKind::kTranspose, toNchw, {OpInput::value(nhwc)}));
  auto r6 = randomTensor(DataType::kFLOAT, {2, 3, 4, 5, 6, 7}, rng);
  ir::Attributes p6;
  p6.setInts("perm", {5, 3, 1, 0, 2, 4});
  expectOk(runOp(OpKind::kTranspose, p6, {OpInput::value(r6)}));
  expectOk(runOp(OpKind::kTranspose, {}, {OpInput::value(r6)}));
  // Attention-style [B, S, H, D] -> [B, H, S, D]: contiguous rows of D move as 16-byte units.
  auto bshd = randomTensor(DataType::kHALF, {2, 17, 4, 64}, rng);
  ir::Attributes bhsd;
  bhsd.setInts("perm", {0, 2, 1, 3});
  expectOk(runOp(OpKind::kTranspose, bhsd, {OpInput::value(bshd)}));
}

// Transpose by index math (bytes moved as they are): the reference for the cases below.
std::shared_ptr<TensorData> transposeRef(const TensorData& x, const std::vector<int64_t>& perm) {
  const std::vector<int64_t>& in = x.dims();
  std::vector<int64_t> out;
  for (int64_t a : perm) out.push_back(in[static_cast<size_t>(a)]);
  auto y = std::make_shared<TensorData>(x.dtype(), out);
  const size_t es = dataTypeSize(x.dtype());
  std::vector<int64_t> idx(out.size(), 0), src(in.size(), 0);
  if (volume(out) == 0) return y;
  int64_t o = 0;
  do {
    for (size_t k = 0; k < perm.size(); ++k) src[static_cast<size_t>(perm[k])] = idx[k];
    std::memcpy(static_cast<char*>(y->data()) + static_cast<size_t>(o) * es,
                static_cast<const char*>(x.data()) + static_cast<size_t>(flatIndex(in, src)) * es,
                es);
    ++o;
  } while (nextIndex(idx, out));
  return y;
}

void expectTranspose(const std::shared_ptr<TensorData>& x, const std::vector<int64_t>& perm) {
  ir::Attributes a;
  a.setInts("perm", perm);
  auto r = runOp(OpKind::kTranspose, a, {OpInput::value(x)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *transposeRef(*x, perm));
}

TEST(GpuShapeOpTest, TransposeKeepingInnermostRun) {
  std::mt19937 rng(7);
  // The attention heads split [B, S, H, D] -> [B, H, S, D] and merge [B, H, S, D] -> [B, S, H, D]
  // (perm [0, 2, 1, 3] both ways): D = 64 moves 16-byte units, D = 4 (float16) 8-byte ones, D = 2
  // (float16) 4-byte ones, D = 3 element-sized ones (runs not 4-byte aligned).
  for (DataType t : {DataType::kHALF, DataType::kFLOAT, DataType::kBF16}) {
    for (int64_t d : {64, 4, 2, 3}) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " D " + std::to_string(d));
      expectTranspose(randomTensor(t, {2, 197, 3, d}, rng, -100, 100), {0, 2, 1, 3});  // split
      expectTranspose(randomTensor(t, {2, 3, 197, d}, rng, -100, 100), {0, 2, 1, 3});  // merge
    }
  }
  // ViT-sized split in float16 (several thousand blocks' worth of units: 4 per thread), B = 1
  // (rank 3 after dropping the unit dim), rank 5, 1- and 8-byte elements, and a permutation that
  // keeps the innermost run but also reverses the outer axes.
  expectTranspose(randomTensor(DataType::kHALF, {4, 197, 12, 64}, rng), {0, 2, 1, 3});
  expectTranspose(randomTensor(DataType::kHALF, {1, 50, 12, 64}, rng), {0, 2, 1, 3});
  expectTranspose(randomTensor(DataType::kFLOAT, {2, 3, 5, 7, 8}, rng), {3, 1, 0, 2, 4});
  expectTranspose(randomTensor(DataType::kINT8, {3, 33, 5, 24}, rng, -100, 100), {0, 2, 1, 3});
  expectTranspose(randomTensor(DataType::kDOUBLE, {3, 33, 5, 6}, rng), {2, 0, 1, 3});
  // Permutations that move the innermost axis (the tiled transpose): K^T of attention
  // [B, H, S, D] -> [B, H, D, S], [B, S, H, D] -> [B, H, D, S], and an odd-sized 2-D one.
  for (DataType t : {DataType::kHALF, DataType::kFLOAT}) {
    SCOPED_TRACE(dataTypeName(t));
    expectTranspose(randomTensor(t, {2, 3, 197, 64}, rng), {0, 1, 3, 2});
    expectTranspose(randomTensor(t, {2, 197, 3, 64}, rng), {0, 2, 3, 1});
    expectTranspose(randomTensor(t, {37, 45}, rng), {1, 0});
  }
}

TEST(GpuShapeOpTest, ConcatSplitManyInputs) {
  std::mt19937 rng(2);
  for (DataType t : kMoveTypes) {
    SCOPED_TRACE(dataTypeName(t));
    std::vector<OpInput> ins;
    for (int64_t n : {5, 7, 1, 8, 3, 16})
      ins.push_back(OpInput::value(randomTensor(t, {4, n, 6}, rng, -50, 50)));
    ir::Attributes a;
    a.setInt("axis", 1);
    expectOk(runOp(OpKind::kConcat, a, ins));
    a.setInt("axis", -1);
    expectOk(runOp(OpKind::kConcat, a,
                   {OpInput::value(randomTensor(t, {3, 2, 8}, rng)),
                    OpInput::value(randomTensor(t, {3, 2, 5}, rng))}));
    a.setInt("axis", 0);  // plain memcpys
    expectOk(runOp(OpKind::kConcat, a,
                   {OpInput::value(randomTensor(t, {3, 2, 8}, rng)),
                    OpInput::value(randomTensor(t, {1, 2, 8}, rng))}));
    auto x = randomTensor(t, {6, 10, 12}, rng, -50, 50);
    ir::Attributes s;
    s.setInt("axis", 2);
    expectOk(
        runOp(OpKind::kSplit, s, {OpInput::value(x), OpInput::constant(i64({3, 4, 5, 0}))}, 4));
    s.setInt("axis", 1);
    s.setInt("num_outputs", 3);
    expectOk(runOp(OpKind::kSplit, s, {OpInput::value(x)}, 3));
  }
  // An empty input among others.
  ir::Attributes a;
  a.setInt("axis", 0);
  expectOk(runOp(
      OpKind::kConcat, a,
      {OpInput::value(std::make_shared<TensorData>(DataType::kFLOAT, std::vector<int64_t>{0, 3})),
       OpInput::value(randomTensor(DataType::kFLOAT, {2, 3}, rng))}));
}

TEST(GpuShapeOpTest, SliceStepsAndMisalignedStarts) {
  std::mt19937 rng(3);
  for (DataType t : kMoveTypes) {
    SCOPED_TRACE(dataTypeName(t));
    auto x = randomTensor(t, {10, 20, 36}, rng, -50, 50);
    // Negative steps, clamped bounds, an odd start on the contiguous axis (misaligned units).
    expectOk(runOp(OpKind::kSlice, {},
                   {OpInput::value(x), OpInput::constant(i64({1, -1, 3})),
                    OpInput::constant(i64({9, -21, 100})), OpInput::constant(i64({0, 1, 2})),
                    OpInput::constant(i64({2, -3, 1}))}));
    expectOk(runOp(OpKind::kSlice, {},
                   {OpInput::value(x), OpInput::constant(i64({4})), OpInput::constant(i64({36})),
                    OpInput::constant(i64({-1}))}));
    expectOk(
        runOp(OpKind::kSlice, {},
              {OpInput::value(x), OpInput::constant(i64({100})), OpInput::constant(i64({-100})),
               OpInput::constant(i64({2})), OpInput::constant(i64({-1}))}));
    expectOk(runOp(OpKind::kSlice, {},
                   {OpInput::value(x), OpInput::constant(i64({2})), OpInput::constant(i64({7})),
                    OpInput::constant(i64({0}))}));
  }
}

TEST(GpuShapeOpTest, ExpandTileDepthSpace) {
  std::mt19937 rng(4);
  for (DataType t : kMoveTypes) {
    SCOPED_TRACE(dataTypeName(t));
    expectOk(runOp(
        OpKind::kExpand, {},
        {OpInput::value(randomTensor(t, {1, 64, 1}, rng)), OpInput::constant(i64({8, 64, 40}))}));
    expectOk(
        runOp(OpKind::kExpand, {},
              {OpInput::value(randomTensor(t, {48}, rng)), OpInput::constant(i64({3, 5, 48}))}));
    expectOk(runOp(OpKind::kExpand, {},
                   {OpInput::value(randomTensor(t, {}, rng)), OpInput::constant(i64({7, 3}))}));
    expectOk(runOp(
        OpKind::kTile, {},
        {OpInput::value(randomTensor(t, {3, 5, 8}, rng)), OpInput::constant(i64({2, 1, 3}))}));
    auto x = randomTensor(t, {2, 16, 9, 7}, rng);
    for (const char* mode : {"DCR", "CRD"}) {
      ir::Attributes a;
      a.setInt("blocksize", 2);
      a.setString("mode", mode);
      expectOk(runOp(OpKind::kDepthToSpace, a, {OpInput::value(x)}));
    }
    ir::Attributes b;
    b.setInt("blocksize", 3);
    expectOk(
        runOp(OpKind::kSpaceToDepth, b, {OpInput::value(randomTensor(t, {2, 5, 9, 33}, rng))}));
  }
}

TEST(GpuShapeOpTest, PadEveryModeAndCrop) {
  std::mt19937 rng(5);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kINT64, DataType::kUINT8}) {
    SCOPED_TRACE(dataTypeName(t));
    auto x = randomTensor(t, {2, 3, 17, 19}, rng, 0, 100);
    for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
      SCOPED_TRACE(mode);
      ir::Attributes a;
      a.setString("mode", mode);
      expectOk(runOp(OpKind::kPad, a,
                     {OpInput::value(x), OpInput::constant(i64({0, 0, 5, 3, 0, 0, 2, 21}))}));
      // Negative pads crop; axes select the padded axes.
      expectOk(runOp(OpKind::kPad, a,
                     {OpInput::value(x), OpInput::constant(i64({-2, 4, 1, -3})), OpInput::absent(),
                      OpInput::constant(i64({2, -1}))}));
    }
    ir::Attributes c;
    c.setString("mode", "constant");
    auto value = randomTensor(t, {}, rng, 1, 50);
    expectOk(runOp(OpKind::kPad, c,
                   {OpInput::value(x), OpInput::constant(i64({1, 0, 2, 3, 0, 1, 4, 5})),
                    OpInput::value(value)}));
  }
}

TEST(GpuShapeOpTest, GatherFamily) {
  std::mt19937 rng(6);
  // Embedding lookup: float16 rows of 64 (16-byte units), int32 and int64 ids with negatives.
  auto table = randomTensor(DataType::kHALF, {1000, 64}, rng);
  auto ids32 = randomTensor(DataType::kINT32, {4, 33}, rng, -1000, 999);
  auto ids64 = randomTensor(DataType::kINT64, {4, 33}, rng, -1000, 999);
  expectOk(runOp(OpKind::kGather, {}, {OpInput::value(table), OpInput::value(ids32)}));
  expectOk(runOp(OpKind::kGather, {}, {OpInput::value(table), OpInput::value(ids64)}));
  ir::Attributes axis1;
  axis1.setInt("axis", 1);
  auto x = randomTensor(DataType::kFLOAT, {5, 30, 7}, rng);
  expectOk(runOp(
      OpKind::kGather, axis1,
      {OpInput::value(x), OpInput::value(randomTensor(DataType::kINT64, {3, 4}, rng, -30, 29))}));
  expectOk(runOp(OpKind::kGather, axis1,
                 {OpInput::value(x), OpInput::constant(TensorData::scalarInt64(-2))}));

  ir::Attributes e;
  e.setInt("axis", 1);
  expectOk(runOp(OpKind::kGatherElements, e,
                 {OpInput::value(randomTensor(DataType::kDOUBLE, {4, 9, 5}, rng)),
                  OpInput::value(randomTensor(DataType::kINT32, {3, 12, 5}, rng, -9, 8))}));

  ir::Attributes nd;
  nd.setInt("batch_dims", 1);
  expectOk(runOp(OpKind::kGatherND, nd,
                 {OpInput::value(randomTensor(DataType::kHALF, {3, 6, 5, 8}, rng)),
                  OpInput::value(randomTensor(DataType::kINT64, {3, 7, 2}, rng, -5, 4))}));
  expectOk(runOp(OpKind::kGatherND, {},
                 {OpInput::value(randomTensor(DataType::kINT8, {6, 5, 4}, rng, -100, 100)),
                  OpInput::value(randomTensor(DataType::kINT32, {10, 3}, rng, 0, 3))}));
}

TEST(GpuShapeOpTest, ScatterDuplicatesAndReductions) {
  std::mt19937 rng(7);
  // ScatterND "none" with duplicate tuples: the last update wins. Small (pairwise) and large
  // (elected) tuple counts.
  for (int64_t tuples : {50, 6000}) {
    SCOPED_TRACE(tuples);
    auto data = randomTensor(DataType::kFLOAT, {40, 30, 8}, rng);
    auto idx = randomTensor(DataType::kINT64, {tuples, 2}, rng, 0, 9);
    auto upd = randomTensor(DataType::kFLOAT, {tuples, 8}, rng);
    expectOk(runOp(OpKind::kScatterND, {},
                   {OpInput::value(data), OpInput::value(idx), OpInput::value(upd)}));
    for (const char* red : {"add", "mul", "max", "min"}) {
      ir::Attributes a;
      a.setString("reduction", red);
      expectOk(runOp(OpKind::kScatterND, a,
                     {OpInput::value(data), OpInput::value(idx), OpInput::value(upd)}));
      auto di = randomTensor(DataType::kINT32, {40, 30, 8}, rng, -100, 100);
      auto ui = randomTensor(DataType::kINT32, {tuples, 8}, rng, -100, 100);
      expectOk(runOp(OpKind::kScatterND, a,
                     {OpInput::value(di), OpInput::value(idx), OpInput::value(ui)}));
      auto dh = randomTensor(DataType::kHALF, {40, 30, 8}, rng);
      auto uh = randomTensor(DataType::kHALF, {tuples, 8}, rng);
      expectOk(runOp(OpKind::kScatterND, a,
                     {OpInput::value(dh), OpInput::value(idx), OpInput::value(uh)}));
    }
  }
  // ScatterElements: duplicates along the axis, every reduction, int8 wrap-around and bool.
  auto data = randomTensor(DataType::kFLOAT, {6, 50}, rng);
  auto idx = randomTensor(DataType::kINT64, {6, 200}, rng, -50, 49);
  auto upd = randomTensor(DataType::kFLOAT, {6, 200}, rng);
  ir::Attributes a;
  a.setInt("axis", 1);
  expectOk(runOp(OpKind::kScatterElements, a,
                 {OpInput::value(data), OpInput::value(idx), OpInput::value(upd)}));
  // Few long lines: the elected path.
  auto idx1 = randomTensor(DataType::kINT32, {3000}, rng, -100, 99);
  ir::Attributes a0;
  expectOk(runOp(OpKind::kScatterElements, a0,
                 {OpInput::value(randomTensor(DataType::kHALF, {100}, rng)), OpInput::value(idx1),
                  OpInput::value(randomTensor(DataType::kHALF, {3000}, rng))}));
  for (const char* red : {"add", "mul", "max", "min"}) {
    a.setString("reduction", red);
    expectOk(runOp(OpKind::kScatterElements, a,
                   {OpInput::value(data), OpInput::value(idx), OpInput::value(upd)}));
    expectOk(runOp(OpKind::kScatterElements, a,
                   {OpInput::value(randomTensor(DataType::kINT8, {6, 50}, rng, -100, 100)),
                    OpInput::value(idx),
                    OpInput::value(randomTensor(DataType::kINT8, {6, 200}, rng, -100, 100))}));
    expectOk(
        runOp(OpKind::kScatterElements, a,
              {OpInput::value(randomTensor(DataType::kBOOL, {6, 50}, rng)), OpInput::value(idx),
               OpInput::value(randomTensor(DataType::kBOOL, {6, 200}, rng))}));
  }
}

TEST(GpuShapeOpTest, TopKSharedAndGlobalSorts) {
  std::mt19937 rng(8);
  for (int64_t n : {1, 37, 4096, 5000, 20000}) {
    SCOPED_TRACE(n);
    // Integer-valued floats: many ties, which must keep the lower index first.
    auto x = randomTensor(DataType::kFLOAT, {3, n}, rng, -20, 20);
    for (float* p = x->as<float>(); p != x->as<float>() + x->numel(); ++p) *p = std::round(*p);
    for (int largest : {1, 0}) {
      ir::Attributes a;
      a.setInt("largest", largest);
      expectOk(runOp(OpKind::kTopK, a,
                     {OpInput::value(x), OpInput::constant(i64({std::min<int64_t>(n, 17)}))}, 2));
      expectOk(runOp(OpKind::kTopK, a, {OpInput::value(x), OpInput::constant(i64({n}))}, 2));
    }
  }
  ir::Attributes axis0;
  axis0.setInt("axis", 0);
  expectOk(runOp(
      OpKind::kTopK, axis0,
      {OpInput::value(randomTensor(DataType::kHALF, {50, 6, 7}, rng)), OpInput::constant(i64({5}))},
      2));
  expectOk(runOp(OpKind::kTopK, {},
                 {OpInput::value(randomTensor(DataType::kINT64, {4, 300}, rng, -1e6, 1e6)),
                  OpInput::constant(i64({10}))},
                 2));
  expectOk(runOp(OpKind::kTopK, {},
                 {OpInput::value(randomTensor(DataType::kINT32, {4, 30}, rng, -5, 5)),
                  OpInput::constant(i64({0}))},
                 2));
}

TEST(GpuShapeOpTest, ResizeEveryMode) {
  std::mt19937 rng(9);
  auto x = randomTensor(DataType::kFLOAT, {1, 3, 13, 17}, rng);
  auto xh = randomTensor(DataType::kHALF, {2, 2, 9, 11}, rng);
  const char* ctms[] = {"half_pixel", "pytorch_half_pixel",   "align_corners",
                        "asymmetric", "half_pixel_symmetric", "tf_crop_and_resize"};
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    for (const char* ctm : ctms) {
      SCOPED_TRACE(std::string(mode) + " " + ctm);
      ir::Attributes a;
      a.setString("mode", mode);
      a.setString("coordinate_transformation_mode", ctm);
      const bool crop = std::string(ctm) == "tf_crop_and_resize";
      if (crop) a.setFloat("extrapolation_value", 7.5f);
      OpInput roi =
          crop ? OpInput::constant(f32({0, 0, 0.1f, -0.2f, 1, 1, 0.8f, 1.3f})) : OpInput::absent();
      // Up and down by scales, and to sizes.
      expectOk(runOp(OpKind::kResize, a,
                     {OpInput::value(x), roi, OpInput::constant(f32({1, 1, 2.3f, 0.6f}))}));
      expectOk(runOp(
          OpKind::kResize, a,
          {OpInput::value(x), roi, OpInput::absent(), OpInput::constant(i64({1, 3, 32, 8}))}));
      expectOk(runOp(OpKind::kResize, a,
                     {OpInput::value(xh), roi, OpInput::constant(f32({1, 1, 1.5f, 2}))}));
    }
  }
  for (const char* nm : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
    ir::Attributes a;
    a.setString("nearest_mode", nm);
    a.setString("coordinate_transformation_mode", "asymmetric");
    expectOk(runOp(OpKind::kResize, a,
                   {OpInput::value(x), OpInput::absent(), OpInput::constant(f32({1, 1, 2, 3}))}));
  }
  ir::Attributes cubic;
  cubic.setString("mode", "cubic");
  cubic.setFloat("cubic_coeff_a", -0.5f);
  cubic.setInt("exclude_outside", 1);
  expectOk(
      runOp(OpKind::kResize, cubic,
            {OpInput::value(x), OpInput::absent(), OpInput::constant(f32({1, 1, 1.7f, 0.45f}))}));
  // Trilinear over three axes, four resized axes (the generic kernel), and nothing resized.
  auto v = randomTensor(DataType::kDOUBLE, {1, 2, 5, 6, 7}, rng);
  ir::Attributes lin;
  lin.setString("mode", "linear");
  expectOk(
      runOp(OpKind::kResize, lin,
            {OpInput::value(v), OpInput::absent(), OpInput::constant(f32({1, 1, 2, 1.5f, 0.5f}))}));
  expectOk(
      runOp(OpKind::kResize, lin,
            {OpInput::value(v), OpInput::absent(), OpInput::constant(f32({1, 2, 2, 1.5f, 0.5f}))}));
  expectOk(runOp(OpKind::kResize, lin,
                 {OpInput::value(v), OpInput::absent(), OpInput::constant(f32({1, 1, 1, 1, 1}))}));
  ir::Attributes ax;
  ax.setString("mode", "nearest");
  ax.setInts("axes", {3, 2});
  ax.setString("keep_aspect_ratio_policy", "not_larger");
  expectOk(runOp(
      OpKind::kResize, ax,
      {OpInput::value(x), OpInput::absent(), OpInput::absent(), OpInput::constant(i64({40, 20}))}));
}

TEST(GpuShapeOpTest, GridSampleEveryMode) {
  std::mt19937 rng(10);
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 9, 11}, rng);
  auto grid = randomTensor(DataType::kFLOAT, {2, 6, 7, 2}, rng, -1.3, 1.3);
  auto x3 = randomTensor(DataType::kHALF, {1, 2, 4, 5, 6}, rng);
  auto grid3 = randomTensor(DataType::kFLOAT, {1, 3, 4, 5, 3}, rng, -1.2, 1.2);
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    for (const char* pad : {"zeros", "border", "reflection"}) {
      for (int align : {0, 1}) {
        SCOPED_TRACE(std::string(mode) + " " + pad + " " + std::to_string(align));
        ir::Attributes a;
        a.setString("mode", mode);
        a.setString("padding_mode", pad);
        a.setInt("align_corners", align);
        expectOk(runOp(OpKind::kGridSample, a, {OpInput::value(x), OpInput::value(grid)}));
        expectOk(runOp(OpKind::kGridSample, a, {OpInput::value(x3), OpInput::value(grid3)}));
      }
    }
  }
}

TEST(GpuShapeOpTest, SmallOps) {
  std::mt19937 rng(11);
  // Range: integer and float, positive and negative deltas.
  expectOk(runOp(OpKind::kRange, {},
                 {OpInput::constant(TensorData::scalarInt64(-7)),
                  OpInput::constant(TensorData::scalarInt64(300)),
                  OpInput::constant(TensorData::scalarInt64(3))}));
  expectOk(runOp(OpKind::kRange, {},
                 {OpInput::constant(TensorData::scalarFloat(1.5f)),
                  OpInput::constant(TensorData::scalarFloat(-2.f)),
                  OpInput::constant(TensorData::scalarFloat(-0.1f))}));
  // Trilu with k as a constant and as a graph input (read on the device).
  auto m = randomTensor(DataType::kHALF, {3, 7, 9}, rng);
  for (int upper : {0, 1}) {
    ir::Attributes a;
    a.setInt("upper", upper);
    expectOk(runOp(OpKind::kTrilu, a,
                   {OpInput::value(m), OpInput::constant(TensorData::scalarInt64(-2))}));
    expectOk(
        runOp(OpKind::kTrilu, a, {OpInput::value(m), OpInput::value(TensorData::scalarInt64(3))}));
    expectOk(runOp(OpKind::kTrilu, a, {OpInput::value(m)}));
  }
  // OneHot with float indices (truncated) and out-of-range ones.
  auto ind = randomTensor(DataType::kFLOAT, {4, 6}, rng, -12, 12);
  auto values = TensorData::fromVector(DataType::kINT32, {2}, std::vector<int32_t>{-3, 9});
  for (int64_t axis : {-1, 0, 1}) {
    ir::Attributes a;
    a.setInt("axis", axis);
    expectOk(runOp(OpKind::kOneHot, a,
                   {OpInput::value(ind), OpInput::constant(TensorData::scalarInt64(10)),
                    OpInput::value(values)}));
  }
  // ConstantOfShape with a non-zero value (16-byte pattern stores) and the default.
  ir::Attributes c;
  c.setTensor("value", TensorData::fromVector(DataType::kHALF, {1}, std::vector<Half>{Half(2.5f)}));
  expectOk(runOp(OpKind::kConstantOfShape, c, {OpInput::constant(i64({5, 37}))}));
  expectOk(runOp(OpKind::kConstantOfShape, {}, {OpInput::constant(i64({3, 4}))}));
}

}  // namespace
}  // namespace kiln::test
