// AffineGrid, Col2Im, CenterCropPad, MaxUnpool, RoiAlign, DeformConv: hand-computed values (from
// the ONNX operator definitions), a direct convolution written here for DeformConv with zero
// offsets, and error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

TEST(AffineGrid, Identity2DBothAlignments) {
  auto theta = makeFloat({1, 2, 3}, {1, 0, 0, 0, 1, 0});
  auto size = makeInt64({4}, {1, 1, 2, 3});  // H 2, W 3
  auto r = runOp(OpKind::kAffineGrid, {}, {OpInput::value(theta), OpInput::constant(size)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  // align_corners 0: x in {-2/3, 0, 2/3}, y in {-1/2, 1/2}; grid[h][w] = (x_w, y_h).
  const double a = 2.0 / 3;
  expectCloseTo(r->at(0), {1, 2, 3, 2}, {-a, -0.5, 0, -0.5, a, -0.5, -a, 0.5, 0, 0.5, a, 0.5});
  ir::Attributes ac;
  ac.setInt("align_corners", 1);
  r = runOp(OpKind::kAffineGrid, ac, {OpInput::value(theta), OpInput::constant(size)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 2, 3, 2}, {-1, -1, 0, -1, 1, -1, -1, 1, 0, 1, 1, 1});
}

TEST(AffineGrid, Affine3D) {
  // theta maps (x, y, z, 1) to (2x + 1, z, y - 3); size D 1, H 2, W 1 with align_corners 1
  // (a size-1 axis sits at 0): points (0, -1, 0) and (0, 1, 0).
  auto theta = makeFloat({1, 3, 4}, {2, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, -3});
  ir::Attributes ac;
  ac.setInt("align_corners", 1);
  auto r = runOp(OpKind::kAffineGrid, ac,
                 {OpInput::value(theta), OpInput::constant(makeInt64({5}, {1, 1, 1, 2, 1}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 2, 1, 3}, {1, 0, -4, 1, 0, -2});
}

TEST(AffineGrid, Errors) {
  auto theta = makeFloat({1, 2, 3}, {1, 0, 0, 0, 1, 0});
  auto r = runOp(OpKind::kAffineGrid, {},
                 {OpInput::value(theta), OpInput::constant(makeInt64({5}, {1, 1, 2, 2, 2}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("theta"), std::string::npos) << r.status().toString();
  r = runOp(OpKind::kAffineGrid, {},
            {OpInput::value(theta), OpInput::constant(makeInt64({3}, {1, 2, 2}))});
  ASSERT_FALSE(r.isOk());
}

// ---------------------------------------------------------------------------------------------

TEST(Col2Im, OverlappingBlocks1D) {
  // image [1, 4], block [1, 2], stride 1: 3 blocks; columns c0 = offset 0, c1 = offset 1.
  // out[w] = sum of entries landing on w: out = [a0, a1 + b0, a2 + b1, b2].
  auto x = makeFloat({1, 2, 3}, {1, 2, 3, 10, 20, 30});
  auto r = runOp(OpKind::kCol2Im, {},
                 {OpInput::value(x), OpInput::constant(makeInt64({2}, {1, 4})),
                  OpInput::constant(makeInt64({2}, {1, 2}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 1, 4}, {1, 12, 23, 30});
}

TEST(Col2Im, PadsStridesDilationsTwoChannels) {
  // image [1, 5], block [1, 2], dilation 2, stride 2, pads w 1/1: effective block 3,
  // blocks (5 + 2 - 3) / 2 + 1 = 3 starting at w = -1, 1, 3; taps at +0 and +2.
  // Channel c, tap k, block b holds 100c + 10k + b. Landing: tap0: -1 (drop), 1, 3; tap1: 1, 3, 5
  // (drop).
  std::vector<float> v;
  for (int c = 0; c < 2; ++c)
    for (int k = 0; k < 2; ++k)
      for (int b = 0; b < 3; ++b) v.push_back(static_cast<float>(100 * c + 10 * k + b));
  ir::Attributes a;
  a.setInts("dilations", {1, 2});
  a.setInts("strides", {1, 2});
  a.setInts("pads", {0, 1, 0, 1});
  auto r =
      runOp(OpKind::kCol2Im, a,
            {OpInput::value(makeFloat({1, 4, 3}, v)), OpInput::constant(makeInt64({2}, {1, 5})),
             OpInput::constant(makeInt64({2}, {1, 2}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  // w1 = tap0 b1 + tap1 b0 = 1 + 10; w3 = tap0 b2 + tap1 b1 = 2 + 11.
  expectCloseTo(r->at(0), {1, 2, 1, 5}, {0, 11, 0, 13, 0, 0, 211, 0, 213, 0});
}

TEST(Col2Im, Errors) {
  auto x = makeFloat({1, 2, 4}, std::vector<float>(8, 1.f));
  auto r = runOp(OpKind::kCol2Im, {},
                 {OpInput::value(x), OpInput::constant(makeInt64({2}, {1, 4})),
                  OpInput::constant(makeInt64({2}, {1, 2}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("sliding blocks"), std::string::npos)
      << r.status().toString();
  r = runOp(OpKind::kCol2Im, {},
            {OpInput::value(x), OpInput::constant(makeInt64({2}, {1, 4})),
             OpInput::constant(makeInt64({2}, {1, 3}))});
  ASSERT_FALSE(r.isOk());
}

// ---------------------------------------------------------------------------------------------

TEST(CenterCropPad, CropOddAndPadOddInt64) {
  // [3, 4] -> [2, 7]: axis 0 crops 1 (start 0), axis 1 pads 3 (1 before, 2 after).
  auto x = makeInt64({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  auto r = runOp(OpKind::kCenterCropPad, {},
                 {OpInput::value(x), OpInput::constant(makeInt64({2}, {2, 7}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeInt64({2, 7}, {0, 1, 2, 3, 4, 0, 0, 0, 5, 6, 7, 8, 0, 0}));
}

TEST(CenterCropPad, NegativeAxesCropEven) {
  // [1, 4, 2] axes [-2]: 4 -> 2 crops rows 1..2.
  auto x = makeFloat({1, 4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  ir::Attributes a;
  a.setInts("axes", {-2});
  auto r =
      runOp(OpKind::kCenterCropPad, a, {OpInput::value(x), OpInput::constant(makeInt64({1}, {2}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectEqual(r->at(0), *makeFloat({1, 2, 2}, {3, 4, 5, 6}));
}

TEST(CenterCropPad, Errors) {
  auto x = makeFloat({2, 2}, {1, 2, 3, 4});
  auto r = runOp(OpKind::kCenterCropPad, {},
                 {OpInput::value(x), OpInput::constant(makeInt64({1}, {2}))});
  ASSERT_FALSE(r.isOk());
  ir::Attributes a;
  a.setInts("axes", {0, -2});
  r = runOp(OpKind::kCenterCropPad, a,
            {OpInput::value(x), OpInput::constant(makeInt64({2}, {1, 1}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("twice"), std::string::npos) << r.status().toString();
}

// ---------------------------------------------------------------------------------------------

TEST(MaxUnpool, DefaultAndOutputShape) {
  // X [1,1,2,2] from a 2x2/2 pool of a 4x4 tensor; indices into the 4x4 layout.
  auto x = makeFloat({1, 1, 2, 2}, {5, 6, 7, 8});
  auto i = makeInt64({1, 1, 2, 2}, {0, 3, 9, 14});
  ir::Attributes a;
  a.setInts("kernel_shape", {2, 2});
  a.setInts("strides", {2, 2});
  auto r = runOp(OpKind::kMaxUnpool, a, {OpInput::value(x), OpInput::value(i)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 4, 4}, {5, 0, 0, 6, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 8, 0});
  // output_shape 5x5: the 4x4 result sits at the top left.
  r = runOp(
      OpKind::kMaxUnpool, a,
      {OpInput::value(x), OpInput::value(i), OpInput::constant(makeInt64({4}, {1, 1, 5, 5}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 5, 5},
                {5, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0});
}

TEST(MaxUnpool, Errors) {
  auto x = makeFloat({1, 1, 2, 2}, {5, 6, 7, 8});
  ir::Attributes a;
  a.setInts("kernel_shape", {2, 2});
  a.setInts("strides", {2, 2});
  auto r = runOp(OpKind::kMaxUnpool, a,
                 {OpInput::value(x), OpInput::value(makeInt64({1, 1, 2, 2}, {0, 3, 9, 16}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("outside"), std::string::npos) << r.status().toString();
  r = runOp(OpKind::kMaxUnpool, {},
            {OpInput::value(x), OpInput::value(makeInt64({1, 1, 2, 2}, {0, 1, 2, 3}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("kernel_shape"), std::string::npos) << r.status().toString();
  r = runOp(OpKind::kMaxUnpool, a,
            {OpInput::value(x), OpInput::value(makeInt64({1, 1, 2, 2}, {0, 3, 9, 14})),
             OpInput::constant(makeInt64({4}, {1, 1, 3, 3}))});
  ASSERT_FALSE(r.isOk());
}

// ---------------------------------------------------------------------------------------------

TEST(RoiAlign, AverageOfARampAndMax) {
  // X[h][w] = w on 5x5; roi (0,0)-(4,4), output 2x2, sampling 2, output_half_pixel: bin width 2,
  // samples at x = 0.5, 1.5 (bin 0) and 2.5, 3.5 (bin 1): averages 1 and 3 in every row.
  std::vector<float> v;
  for (int h = 0; h < 5; ++h)
    for (int w = 0; w < 5; ++w) v.push_back(static_cast<float>(w));
  auto x = makeFloat({1, 1, 5, 5}, v);
  auto rois = makeFloat({1, 4}, {0, 0, 4, 4});
  auto bi = makeInt64({1}, {0});
  ir::Attributes a;
  a.setString("coordinate_transformation_mode", "output_half_pixel");
  a.setInt("output_height", 2);
  a.setInt("output_width", 2);
  a.setInt("sampling_ratio", 2);
  auto r =
      runOp(OpKind::kRoiAlign, a, {OpInput::value(x), OpInput::value(rois), OpInput::value(bi)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 2, 2}, {1, 3, 1, 3});
  // half_pixel shifts by -0.5: samples at 0, 1 and 2, 3 -> 0.5 and 2.5.
  a.setString("coordinate_transformation_mode", "half_pixel");
  r = runOp(OpKind::kRoiAlign, a, {OpInput::value(x), OpInput::value(rois), OpInput::value(bi)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 2, 2}, {0.5, 2.5, 0.5, 2.5});
  // max: the largest weighted corner; samples at x = 0.5, 1.5 (output_half_pixel) on y = 0.5,
  // 1.5: corners weigh 0.25 each, so bin 0 gives 0.25 * 2 = 0.5 and bin 1 0.25 * 4 = 1.
  a.setString("coordinate_transformation_mode", "output_half_pixel");
  a.setString("mode", "max");
  r = runOp(OpKind::kRoiAlign, a, {OpInput::value(x), OpInput::value(rois), OpInput::value(bi)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 2, 2}, {0.5, 1, 0.5, 1});
}

TEST(RoiAlign, Errors) {
  auto x = makeFloat({1, 1, 2, 2}, {1, 2, 3, 4});
  auto rois = makeFloat({1, 4}, {0, 0, 1, 1});
  auto r = runOp(OpKind::kRoiAlign, {},
                 {OpInput::value(x), OpInput::value(rois), OpInput::value(makeInt64({1}, {1}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("batch_indices"), std::string::npos)
      << r.status().toString();
  r = runOp(OpKind::kRoiAlign, {},
            {OpInput::value(x), OpInput::value(makeFloat({1, 3}, {0, 0, 1})),
             OpInput::value(makeInt64({1}, {0}))});
  ASSERT_FALSE(r.isOk());
  auto nanRoi = makeFloat({1, 4}, {0, std::nanf(""), 1, 1});
  r = runOp(OpKind::kRoiAlign, {},
            {OpInput::value(x), OpInput::value(nanRoi), OpInput::value(makeInt64({1}, {0}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("non-finite"), std::string::npos) << r.status().toString();
  ir::Attributes a;
  a.setString("mode", "median");
  r = runOp(OpKind::kRoiAlign, a,
            {OpInput::value(x), OpInput::value(rois), OpInput::value(makeInt64({1}, {0}))});
  ASSERT_FALSE(r.isOk());
}

// ---------------------------------------------------------------------------------------------

TEST(DeformConv, ZeroOffsetsIsConvolutionWithGroups) {
  // group 2, offset_group 2, pads 1, stride 2, zero offsets and a mask of ones: a plain grouped
  // convolution, computed here directly.
  std::mt19937 rng(9);
  const int64_t N = 1, C = 4, H = 5, W = 4, OC = 2, K = 3;
  auto x = randomTensor(DataType::kFLOAT, {N, C, H, W}, rng);
  auto w = randomTensor(DataType::kFLOAT, {OC, C / 2, K, K}, rng);
  auto b = randomTensor(DataType::kFLOAT, {OC}, rng);
  const int64_t OH = (H + 2 - K) / 2 + 1, OW = (W + 2 - K) / 2 + 1;
  auto off = makeFloat({N, 2 * K * K * 2, OH, OW},
                       std::vector<float>(static_cast<size_t>(2 * K * K * 2 * OH * OW), 0.f));
  auto mask = makeFloat({N, 2 * K * K, OH, OW},
                        std::vector<float>(static_cast<size_t>(2 * K * K * OH * OW), 1.f));
  ir::Attributes a;
  a.setInt("group", 2);
  a.setInt("offset_group", 2);
  a.setInts("pads", {1, 1, 1, 1});
  a.setInts("strides", {2, 2});
  auto r = runOp(OpKind::kDeformConv, a,
                 {OpInput::value(x), OpInput::value(w), OpInput::value(off), OpInput::value(b),
                  OpInput::value(mask)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const auto xd = toDoubles(*x), wd = toDoubles(*w), bd = toDoubles(*b);
  std::vector<double> want;
  for (int64_t oc = 0; oc < OC; ++oc)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j) {
        double acc = bd[static_cast<size_t>(oc)];
        for (int64_t icg = 0; icg < C / 2; ++icg)
          for (int64_t p = 0; p < K; ++p)
            for (int64_t q = 0; q < K; ++q) {
              const int64_t h = i * 2 - 1 + p, ww = j * 2 - 1 + q, ic = oc * (C / 2) + icg;
              if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
              acc += xd[static_cast<size_t>((ic * H + h) * W + ww)] *
                     wd[static_cast<size_t>(((oc * (C / 2) + icg) * K + p) * K + q)];
            }
        want.push_back(acc);
      }
  expectCloseTo(r->at(0), {N, OC, OH, OW}, want, 1e-5, 1e-6);
}

TEST(DeformConv, FractionalOffsetAndMask) {
  // 1x1 kernel on X = [[0, 1], [2, 3]], output 2x2; offset (0.5, 0.5) everywhere and mask 2:
  // samples at (i + .5, j + .5) with zero padding: (0,0) -> (0+1+2+3)/4 = 1.5; (0,1) -> (1+3)/4;
  // (1,0) -> (2+3)/4; (1,1) -> 3/4. Times the weight 1 and the mask 2.
  auto x = makeFloat({1, 1, 2, 2}, {0, 1, 2, 3});
  auto w = makeFloat({1, 1, 1, 1}, {1});
  auto off = makeFloat({1, 2, 2, 2}, std::vector<float>(8, 0.5f));
  auto mask = makeFloat({1, 1, 2, 2}, std::vector<float>(4, 2.f));
  auto r = runOp(OpKind::kDeformConv, {},
                 {OpInput::value(x), OpInput::value(w), OpInput::value(off), OpInput::absent(),
                  OpInput::value(mask)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 2, 2}, {3, 2, 2.5, 1.5});
}

TEST(DeformConv, FarAndNanOffsetsReadZeros) {
  // Offsets far outside the image (or NaN) sample nothing: the output is the bias.
  auto x = makeFloat({1, 1, 2, 2}, {1, 2, 3, 4});
  auto w = makeFloat({1, 1, 1, 1}, {1});
  auto off =
      makeFloat({1, 2, 2, 2}, {1e30f, -1e30f, std::nanf(""), 2.f, 0.f, 5.f, 0.f, std::nanf("")});
  auto r = runOp(OpKind::kDeformConv, {},
                 {OpInput::value(x), OpInput::value(w), OpInput::value(off),
                  OpInput::value(makeFloat({1}, {7}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 1, 2, 2}, {7, 7, 7, 7});
}

TEST(DeformConv, Errors) {
  auto x = makeFloat({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  auto w = makeFloat({1, 1, 2, 2}, {1, 1, 1, 1});
  auto badOff = makeFloat({1, 4, 2, 2}, std::vector<float>(16, 0.f));
  auto r = runOp(OpKind::kDeformConv, {},
                 {OpInput::value(x), OpInput::value(w), OpInput::value(badOff)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("offset"), std::string::npos) << r.status().toString();
  auto x1 = makeFloat({1, 1, 3}, std::vector<float>(3, 1.f));
  r = runOp(OpKind::kDeformConv, {},
            {OpInput::value(x1), OpInput::value(makeFloat({1, 1, 2}, {1, 1})),
             OpInput::value(makeFloat({1, 2, 2}, {0, 0, 0, 0}))});
  ASSERT_FALSE(r.isOk());
}

}  // namespace
}  // namespace kiln::test
