// Channels-last (NHWC) layers (attribute channels_last = 1, ir/channels_last.h; the channels-last
// pass): Conv and FusedConv with X [N, H, W, C], KRSC weights [M, kh, kw, C/group] and Y
// [N, OH, OW, M]; MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool with NHWC X and Y.
// Each case draws NCHW data, computes the reference in double with ONNX's NCHW definitions
// (referenceConv, or the pooling loops written here), and runs the op on the NHWC transposes;
// the result is compared in NHWC order. runOp also runs every case on the GPU (cuDNN with NHWC
// descriptors, the NHWC epilogue and pool kernels) and compares it with the CPU.
// Shapes cover C a multiple of 8 (vectorized GPU paths) and not (C = 3 at a network's entry),
// 1x1 / 3x3 / 7x7 kernels, stride 2, groups and depthwise, float16 and bfloat16 (float32 too).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "common/status.h"
#include "ir/channels_last.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

// [A, B, C, D] -> [A, C, D, B] (NCHW -> NHWC; also OIHW -> OHWI, the KRSC weight).
std::shared_ptr<ir::TensorData> toNhwc(const ir::TensorData& t) {
  const Dims& d = t.dims();
  auto o = std::make_shared<ir::TensorData>(t.dtype(), Dims{d[0], d[2], d[3], d[1]});
  const size_t e = dataTypeSize(t.dtype());
  const auto* src = static_cast<const unsigned char*>(t.data());
  auto* dst = static_cast<unsigned char*>(o->data());
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t c = 0; c < d[1]; ++c)
      for (int64_t h = 0; h < d[2]; ++h)
        for (int64_t w = 0; w < d[3]; ++w) {
          const int64_t from = ((n * d[1] + c) * d[2] + h) * d[3] + w;
          const int64_t to = ((n * d[2] + h) * d[3] + w) * d[1] + c;
          std::memcpy(dst + static_cast<size_t>(to) * e, src + static_cast<size_t>(from) * e, e);
        }
  return o;
}

// A double NCHW array [N, C, H, W] in NHWC order.
std::vector<double> toNhwc(const std::vector<double>& v, const Dims& d) {
  std::vector<double> o(v.size());
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t c = 0; c < d[1]; ++c)
      for (int64_t h = 0; h < d[2]; ++h)
        for (int64_t w = 0; w < d[3]; ++w)
          o[static_cast<size_t>(((n * d[2] + h) * d[3] + w) * d[1] + c)] =
              v[static_cast<size_t>(((n * d[1] + c) * d[2] + h) * d[3] + w)];
  return o;
}

Dims nhwcDims(const Dims& d) { return {d[0], d[2], d[3], d[1]}; }

// ---------------------------------------------------------------------------------------------
// Conv / FusedConv

struct ConvSpec {
  Dims x, w;  // NCHW, OIHW
  int64_t group = 1;
  Dims strides, pads;  // empty: defaults
};

ir::Attributes convAttrs(const ConvSpec& s) {
  ir::Attributes at;
  at.setInt(ir::kChannelsLastAttr, 1);
  if (s.group != 1) at.setInt("group", s.group);
  if (!s.strides.empty()) at.setInts("strides", s.strides);
  if (!s.pads.empty()) at.setInts("pads", s.pads);
  return at;
}

// Relu, or no activation; FusedConv only.
void checkConv(OpKind op, DataType t, const ConvSpec& s, bool withB, bool withZ, bool relu,
               std::mt19937& rng) {
  SCOPED_TRACE(strFormat("%s %s X%s W%s group=%lld B=%d Z=%d relu=%d", ir::opName(op),
                         dataTypeName(t), ir::dimsToString(s.x).c_str(),
                         ir::dimsToString(s.w).c_str(), static_cast<long long>(s.group), withB,
                         withZ, relu));
  auto x = randomTensor(t, s.x, rng);
  auto w = randomTensor(t, s.w, rng, -0.5, 0.5);
  auto b = randomTensor(t, {s.w[0]}, rng);
  Dims od;
  std::vector<double> want =
      referenceConv(*x, *w, withB ? b.get() : nullptr, s.group, s.strides, {}, s.pads, "", &od);
  auto z = randomTensor(t, od, rng);
  for (size_t i = 0; i < want.size(); ++i) {
    if (withZ) want[i] += z->doubleAt(static_cast<int64_t>(i));
    if (relu) want[i] = want[i] > 0 ? want[i] : 0.0;
  }
  ir::Attributes at = convAttrs(s);
  if (relu) at.setString("activation", "Relu");
  std::vector<OpInput> in{OpInput::value(toNhwc(*x)), OpInput::constant(toNhwc(*w))};
  in.push_back(withB ? OpInput::constant(b) : OpInput::absent());
  if (withZ) in.push_back(OpInput::value(toNhwc(*z)));
  auto r = runOp(op, at, in);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->at(0).dtype(), t);
  const OpTol tol = opTolFor(t);
  expectCloseTo(r->at(0), nhwcDims(od), toNhwc(want, od), tol.rtol, tol.atol);
}

std::vector<ConvSpec> convSpecs() {
  return {
      {{2, 3, 23, 21}, {16, 3, 7, 7}, 1, {2, 2}, {3, 3, 3, 3}},    // network entry: C = 3, 7x7/2
      {{2, 16, 9, 11}, {32, 16, 3, 3}, 1, {}, {1, 1, 1, 1}},       // 3x3, C and M multiples of 8
      {{1, 64, 7, 7}, {24, 64, 1, 1}, 1, {}, {}},                  // 1x1
      {{2, 32, 10, 10}, {64, 32, 1, 1}, 1, {2, 2}, {}},            // 1x1 stride 2 (downsample)
      {{1, 32, 13, 13}, {32, 1, 3, 3}, 32, {2, 2}, {1, 1, 1, 1}},  // depthwise, stride 2
      {{2, 16, 8, 9}, {16, 4, 3, 3}, 4, {}, {1, 0, 1, 2}},         // grouped, asymmetric pads
      {{1, 5, 6, 7}, {6, 5, 3, 3}, 1, {}, {1, 1, 1, 1}},           // C, M not multiples of 8
  };
}

TEST(ChannelsLastConv, FusedConvHalfAndBFloat16) {
  std::mt19937 rng(901);
  for (DataType t : {DataType::kHALF, DataType::kBF16}) {
    int k = 0;
    for (const ConvSpec& s : convSpecs()) {
      // Rotate bias / residual / activation combinations over the shapes.
      checkConv(OpKind::kFusedConv, t, s, k % 2 == 0, k % 3 != 1, k % 4 != 3, rng);
      ++k;
    }
    // Residual + bias + Relu on the ResNet-like 3x3 shape in both types.
    checkConv(OpKind::kFusedConv, t, convSpecs()[1], true, true, true, rng);
  }
}

TEST(ChannelsLastConv, ConvWithAndWithoutBias) {
  std::mt19937 rng(902);
  for (DataType t : {DataType::kHALF, DataType::kBF16}) {
    const std::vector<ConvSpec> ss = convSpecs();
    for (size_t i = 0; i < ss.size(); ++i)
      checkConv(OpKind::kConv, t, ss[i], i % 2 == 0, false, false, rng);
  }
}

TEST(ChannelsLastConv, Float32) {
  std::mt19937 rng(903);
  checkConv(OpKind::kConv, DataType::kFLOAT, convSpecs()[1], true, false, false, rng);
  checkConv(OpKind::kFusedConv, DataType::kFLOAT, convSpecs()[0], true, true, true, rng);
}

TEST(ChannelsLastConv, ShapesAndErrors) {
  std::mt19937 rng(904);
  // The KRSC weight's channel dim must match X's last dim.
  auto x = randomTensor(DataType::kHALF, {1, 6, 6, 8}, rng);
  auto w = randomTensor(DataType::kHALF, {4, 3, 3, 6}, rng);
  ir::Attributes at;
  at.setInt(ir::kChannelsLastAttr, 1);
  auto r = runOp(OpKind::kConv, at, {OpInput::value(x), OpInput::constant(w)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("Conv"), std::string::npos) << r.status().toString();
  // 1-D convolutions have no channels-last form.
  auto x3 = randomTensor(DataType::kHALF, {1, 6, 8}, rng);
  auto w3 = randomTensor(DataType::kHALF, {4, 8, 3}, rng);
  auto r3 = runOp(OpKind::kConv, at, {OpInput::value(x3), OpInput::constant(w3)});
  ASSERT_FALSE(r3.isOk());
  EXPECT_NE(r3.status().message().find("4-D"), std::string::npos) << r3.status().toString();
}

// ---------------------------------------------------------------------------------------------
// Pools (references written on NCHW indices, compared in NHWC order)

struct PoolSpec {
  Dims x;  // NCHW
  Dims kernel, strides, pads;
  bool countIncludePad = false;
};

// MaxPool (isMax) or AveragePool over NCHW data in double; padding never wins a max and counts
// for the average only with count_include_pad.
std::vector<double> refPool(const ir::TensorData& x, const PoolSpec& s, bool isMax, Dims* od) {
  const Dims& d = x.dims();
  const int64_t sh = s.strides.empty() ? 1 : s.strides[0],
                sw = s.strides.empty() ? 1 : s.strides[1];
  const int64_t pt = s.pads.empty() ? 0 : s.pads[0], pl = s.pads.empty() ? 0 : s.pads[1];
  const int64_t pb = s.pads.empty() ? 0 : s.pads[2], pr = s.pads.empty() ? 0 : s.pads[3];
  const int64_t oh = (d[2] + pt + pb - s.kernel[0]) / sh + 1;
  const int64_t ow = (d[3] + pl + pr - s.kernel[1]) / sw + 1;
  *od = {d[0], d[1], oh, ow};
  std::vector<double> out;
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t c = 0; c < d[1]; ++c)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t inside = 0;
          for (int64_t a = 0; a < s.kernel[0]; ++a)
            for (int64_t b = 0; b < s.kernel[1]; ++b) {
              const int64_t h = i * sh - pt + a, w = j * sw - pl + b;
              if (h < 0 || h >= d[2] || w < 0 || w >= d[3]) continue;
              const double v = x.doubleAt(((n * d[1] + c) * d[2] + h) * d[3] + w);
              best = std::max(best, v);
              sum += v;
              ++inside;
            }
          if (isMax) {
            out.push_back(best);
          } else {
            // Windows clipped by the padded border count only their padded-input taps.
            int64_t padded = 0;
            for (int64_t a = 0; a < s.kernel[0]; ++a)
              for (int64_t b = 0; b < s.kernel[1]; ++b) {
                const int64_t h = i * sh - pt + a, w = j * sw - pl + b;
                padded += h < d[2] + pb && w < d[3] + pr ? 1 : 0;
              }
            out.push_back(sum / static_cast<double>(s.countIncludePad ? padded : inside));
          }
        }
  return out;
}

void checkPool(OpKind op, DataType t, const PoolSpec& s, std::mt19937& rng) {
  SCOPED_TRACE(strFormat("%s %s X%s k%s cip=%d", ir::opName(op), dataTypeName(t),
                         ir::dimsToString(s.x).c_str(), ir::dimsToString(s.kernel).c_str(),
                         s.countIncludePad));
  auto x = randomTensor(t, s.x, rng, -2.0, 2.0);
  Dims od;
  const std::vector<double> want = refPool(*x, s, op == OpKind::kMaxPool, &od);
  ir::Attributes at;
  at.setInt(ir::kChannelsLastAttr, 1);
  at.setInts("kernel_shape", s.kernel);
  if (!s.strides.empty()) at.setInts("strides", s.strides);
  if (!s.pads.empty()) at.setInts("pads", s.pads);
  if (op == OpKind::kAveragePool && s.countIncludePad) at.setInt("count_include_pad", 1);
  auto r = runOp(op, at, {OpInput::value(toNhwc(*x))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const OpTol tol = op == OpKind::kMaxPool ? OpTol{0, 0} : opTolFor(t);
  expectCloseTo(r->at(0), nhwcDims(od), toNhwc(want, od), tol.rtol, tol.atol);
}

std::vector<PoolSpec> poolSpecs() {
  return {
      {{2, 64, 15, 15}, {3, 3}, {2, 2}, {1, 1, 1, 1}},      // ResNet's stem pool, C % 8 == 0
      {{1, 3, 9, 10}, {3, 3}, {2, 2}, {1, 1, 1, 1}},        // C = 3
      {{2, 16, 8, 8}, {2, 2}, {2, 2}, {}},                  // 2x2/2
      {{1, 24, 7, 9}, {3, 2}, {1, 2}, {0, 1, 2, 1}, true},  // asymmetric, count_include_pad
      {{1, 5, 6, 6}, {3, 3}, {1, 1}, {1, 1, 1, 1}, true},   // C = 5, count_include_pad
  };
}

TEST(ChannelsLastPool, MaxPool) {
  std::mt19937 rng(911);
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kFLOAT})
    for (const PoolSpec& s : poolSpecs()) checkPool(OpKind::kMaxPool, t, s, rng);
}

TEST(ChannelsLastPool, AveragePool) {
  std::mt19937 rng(912);
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kFLOAT})
    for (const PoolSpec& s : poolSpecs()) checkPool(OpKind::kAveragePool, t, s, rng);
}

void checkGlobal(bool isMax, DataType t, const Dims& xd, std::mt19937& rng) {
  SCOPED_TRACE(strFormat("%s %s X%s", isMax ? "GlobalMaxPool" : "GlobalAveragePool",
                         dataTypeName(t), ir::dimsToString(xd).c_str()));
  auto x = randomTensor(t, xd, rng, -2.0, 2.0);
  std::vector<double> want;
  for (int64_t n = 0; n < xd[0]; ++n)
    for (int64_t c = 0; c < xd[1]; ++c) {
      double best = -std::numeric_limits<double>::infinity(), sum = 0;
      for (int64_t s = 0; s < xd[2] * xd[3]; ++s) {
        const double v = x->doubleAt((n * xd[1] + c) * xd[2] * xd[3] + s);
        best = std::max(best, v);
        sum += v;
      }
      want.push_back(isMax ? best : sum / static_cast<double>(xd[2] * xd[3]));
    }
  ir::Attributes at;
  at.setInt(ir::kChannelsLastAttr, 1);
  auto r = runOp(isMax ? OpKind::kGlobalMaxPool : OpKind::kGlobalAveragePool, at,
                 {OpInput::value(toNhwc(*x))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  // [N, C, 1, 1] in NCHW is [N, 1, 1, C] in NHWC: the same element order.
  const OpTol tol = isMax ? OpTol{0, 0} : opTolFor(t);
  expectCloseTo(r->at(0), {xd[0], 1, 1, xd[1]}, want, tol.rtol, tol.atol);
}

TEST(ChannelsLastPool, GlobalAverageAndMax) {
  std::mt19937 rng(913);
  const std::vector<Dims> shapes = {
      {4, 256, 7, 7},   // ResNet's head (C % 8 == 0, several channel tiles)
      {2, 64, 14, 14},  // more pixels than threads per channel vector
      {3, 3, 5, 5},     // C = 3
      {2, 40, 1, 1},    // 1x1 plane, C % 8 == 0
      {1, 13, 4, 6},    // C odd
  };
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kFLOAT})
    for (const Dims& d : shapes)
      for (bool isMax : {false, true}) checkGlobal(isMax, t, d, rng);
}

TEST(ChannelsLastPool, MaxPoolIndicesOutputIsRefused) {
  std::mt19937 rng(914);
  ir::Attributes at;
  at.setInt(ir::kChannelsLastAttr, 1);
  at.setInts("kernel_shape", {2, 2});
  auto r = runOp(OpKind::kMaxPool, at,
                 {OpInput::value(randomTensor(DataType::kHALF, {1, 4, 4, 8}, rng))}, 2);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("one output"), std::string::npos) << r.status().toString();
}

}  // namespace
}  // namespace kiln::test
