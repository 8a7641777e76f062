// Pool family cases aimed at the CUDA kernels (runOp also runs the GPU and compares with the CPU
// when a GPU is present): CNN plane sizes for the global pools (warp-per-plane and
// block-per-plane paths, 16-byte and scalar loads), every float type, NaN propagation, 1-D and
// 3-D windows with dilations, ceil_mode, count_include_pad, MaxPool indices in both storage
// orders, int8/uint8 MaxPool and LpPool.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

double tol(DataType t) { return t == DataType::kHALF ? 2e-3 : t == DataType::kBF16 ? 1e-2 : 1e-6; }

// Global pools against a direct reduction of each (n, c) plane.
void checkGlobal(DataType t, const Dims& dims, std::mt19937& rng, bool withNaN) {
  SCOPED_TRACE(std::string(dataTypeName(t)) + " " + ir::dimsToString(dims));
  auto x = randomTensor(t, dims, rng, -4, 4);
  const int64_t planes = dims[0] * dims[1];
  const int64_t vol = planes == 0 ? 0 : x->numel() / planes;
  if (withNaN && vol > 3 && t != DataType::kBF16 && t != DataType::kHALF) {
    // A NaN in the middle of plane 1 (and at the end of the last plane).
    for (int64_t p : {int64_t{1}, planes - 1}) {
      const int64_t at = p * vol + (p == 1 ? vol / 2 : vol - 1);
      if (t == DataType::kFLOAT) x->as<float>()[at] = std::nanf("");
      if (t == DataType::kDOUBLE) x->as<double>()[at] = std::nan("");
    }
  }
  Dims outDims = dims;
  for (size_t i = 2; i < outDims.size(); ++i) outDims[i] = 1;
  std::vector<double> avg(static_cast<size_t>(planes)), mx(static_cast<size_t>(planes));
  for (int64_t p = 0; p < planes; ++p) {
    double s = 0, m = -std::numeric_limits<double>::infinity();
    bool nan = false;
    for (int64_t i = 0; i < vol; ++i) {
      const double v = ir::elementAsDouble(t, x->data(), p * vol + i);
      s += v;
      if (std::isnan(v)) nan = true;
      m = std::max(m, v);
    }
    avg[static_cast<size_t>(p)] = vol > 0 ? s / static_cast<double>(vol) : std::nan("");
    mx[static_cast<size_t>(p)] = nan ? std::nan("") : m;
  }
  auto a = runOp(OpKind::kGlobalAveragePool, {}, {OpInput::value(x)});
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  expectCloseTo(a->at(0), outDims, avg, tol(t), tol(t));
  auto m = runOp(OpKind::kGlobalMaxPool, {}, {OpInput::value(x)});
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  expectCloseTo(m->at(0), outDims, mx, 0, 0);
}

TEST(GpuPoolGlobal, CnnPlaneSizesAllFloatTypes) {
  std::mt19937 rng(101);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kDOUBLE}) {
    checkGlobal(t, {2, 64, 7, 7}, rng, true);     // warp per plane, scalar loads
    checkGlobal(t, {1, 64, 56, 56}, rng, true);   // block per plane, 16-byte loads
    checkGlobal(t, {2, 8, 14, 14}, rng, false);   // warp per plane, 16-byte loads (float)
    checkGlobal(t, {1, 3, 45, 47}, rng, true);    // block per plane, odd size
    checkGlobal(t, {2, 3, 5, 6, 7}, rng, false);  // 3-D
    checkGlobal(t, {3, 5, 1, 1}, rng, false);     // one element per plane
    checkGlobal(t, {2, 3, 33}, rng, false);       // 1-D
  }
}

TEST(GpuPoolGlobal, ManyLargePlanes) {
  std::mt19937 rng(102);
  checkGlobal(DataType::kFLOAT, {9, 1000, 32, 33}, rng, true);  // enough planes for warp-per-plane
  checkGlobal(DataType::kHALF, {1, 4, 256, 256}, rng, false);   // few big planes: blocks
}

ir::Attributes windowAttrs(const Dims& kernel, const Dims& strides, const Dims& dilations,
                           const Dims& pads, const std::string& autoPad, bool ceil) {
  ir::Attributes at;
  at.setInts("kernel_shape", kernel);
  if (!strides.empty()) at.setInts("strides", strides);
  if (!dilations.empty()) at.setInts("dilations", dilations);
  if (!pads.empty()) at.setInts("pads", pads);
  if (!autoPad.empty()) at.setString("auto_pad", autoPad);
  if (ceil) at.setInt("ceil_mode", 1);
  return at;
}

struct WindowCase {
  Dims x, kernel, strides, dilations, pads;
  std::string autoPad;
  bool ceil = false;
};

std::vector<WindowCase> windowCases() {
  return {
      {{2, 3, 17}, {3}, {2}, {2}, {1, 2}, "", true},                    // 1-D, dilated, ceil
      {{1, 2, 9}, {4}, {1}, {}, {}, "SAME_LOWER", false},               // 1-D SAME
      {{2, 3, 11, 13}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "", false},    // 2-D
      {{1, 4, 10, 9}, {3, 2}, {2, 3}, {2, 1}, {0, 1, 2, 0}, "", true},  // 2-D dilated ceil
      {{1, 2, 8, 8}, {3, 3}, {3, 3}, {}, {}, "SAME_UPPER", false},      // 2-D SAME
      {{1, 2, 5, 5}, {2, 2}, {1, 1}, {3, 3}, {2, 2, 2, 2}, "", false},  // padding-only windows
      {{2, 2, 6, 7, 5}, {2, 3, 2}, {2, 1, 2}, {1, 2, 1}, {1, 0, 1, 0, 1, 1}, "", true},  // 3-D
      {{1, 3, 7, 6, 8}, {3, 3, 3}, {2, 2, 2}, {}, {}, "VALID", false},  // 3-D VALID
      {{1, 1, 3, 4, 3, 4},
       {2, 2, 2, 2},
       {1, 2, 1, 2},
       {},
       {1, 0, 1, 0, 0, 1, 0, 1},
       "",
       false},  // 4-D: generic path
  };
}

TEST(GpuPoolWindow, MaxPoolIndicesEveryTypeAndRank) {
  std::mt19937 rng(103);
  const auto cases = windowCases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const WindowCase& c = cases[i];
    for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kDOUBLE,
                       DataType::kINT8, DataType::kUINT8}) {
      SCOPED_TRACE("case " + std::to_string(i) + " " + dataTypeName(t));
      // Small integer range: ties are common, so the first-maximum rule is exercised.
      auto x = randomTensor(t, c.x, rng, -5, 5);
      for (int order = 0; order < 2; ++order) {
        ir::Attributes at =
            windowAttrs(c.kernel, c.strides, c.dilations, c.pads, c.autoPad, c.ceil);
        at.setInt("storage_order", order);
        auto r = runOp(OpKind::kMaxPool, at, {OpInput::value(x)}, 2);
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        EXPECT_EQ(r->at(0).dtype(), t);
        EXPECT_EQ(r->at(1).dtype(), DataType::kINT64);
      }
    }
  }
}

TEST(GpuPoolWindow, MaxPoolNaN) {
  std::mt19937 rng(104);
  auto x = randomTensor(DataType::kFLOAT, {1, 2, 6, 6}, rng);
  x->as<float>()[7] = std::nanf("");
  x->as<float>()[40] = std::nanf("");
  auto r = runOp(OpKind::kMaxPool, windowAttrs({3, 3}, {1, 1}, {}, {1, 1, 1, 1}, "", false),
                 {OpInput::value(x)}, 2);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(std::isnan(r->at(0).as<float>()[0]));
  EXPECT_EQ(r->at(1).as<int64_t>()[0], 7);
}

TEST(GpuPoolWindow, AverageAndLpPool) {
  std::mt19937 rng(105);
  const auto cases = windowCases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const WindowCase& c = cases[i];
    for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kDOUBLE}) {
      SCOPED_TRACE("case " + std::to_string(i) + " " + dataTypeName(t));
      auto x = randomTensor(t, c.x, rng, -2, 2);
      for (int cip = 0; cip < 2; ++cip) {
        ir::Attributes at =
            windowAttrs(c.kernel, c.strides, c.dilations, c.pads, c.autoPad, c.ceil);
        at.setInt("count_include_pad", cip);
        auto r = runOp(OpKind::kAveragePool, at, {OpInput::value(x)});
        ASSERT_TRUE(r.isOk()) << r.status().toString();
      }
      for (int p : {1, 2, 3}) {
        ir::Attributes at =
            windowAttrs(c.kernel, c.strides, c.dilations, c.pads, c.autoPad, c.ceil);
        at.setInt("p", p);
        auto r = runOp(OpKind::kLpPool, at, {OpInput::value(x)});
        ASSERT_TRUE(r.isOk()) << r.status().toString();
      }
    }
  }
}

TEST(GpuPoolWindow, LargeResNetStem) {
  // ResNet's stem pool: 3x3 stride 2 pad 1 over 112x112, enough outputs for a full grid.
  std::mt19937 rng(106);
  auto x = randomTensor(DataType::kFLOAT, {8, 64, 112, 112}, rng);
  auto r = runOp(OpKind::kMaxPool, windowAttrs({3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "", false),
                 {OpInput::value(x)}, 2);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->at(0).dims(), (Dims{8, 64, 56, 56}));
  auto a = runOp(OpKind::kAveragePool, windowAttrs({3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "", false),
                 {OpInput::value(x)});
  ASSERT_TRUE(a.isOk()) << a.status().toString();
}

}  // namespace
}  // namespace kiln::test
