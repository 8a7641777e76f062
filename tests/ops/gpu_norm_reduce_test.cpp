// GPU-oriented cases for the Norm and Reduce families: shapes that exercise the CUDA kernels'
// paths (sub-warp rows, warp rows, block rows, split reductions with a second pass, column
// reductions, general axis sets, vectorized and scalar loads, float16/bfloat16/float64, integer
// types, NaN and empty inputs). runOp() runs each case on the CPU and, when a GPU is present, on
// the GPU too and compares the two, so these tests mostly check that every case runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

void run(OpKind op, const ir::Attributes& a, const std::vector<OpInput>& in, int numOutputs = 1) {
  SCOPED_TRACE(std::string(ir::opName(op)));
  auto r = runOp(op, a, in, numOutputs);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
}

ir::Attributes axisAttr(int64_t axis) {
  ir::Attributes a;
  a.setInt("axis", axis);
  return a;
}

// Row lengths around each path's thresholds: 1 lane per row, sub-warp groups, a warp, a block,
// with lengths that are and are not multiples of the vector width.
const int64_t kRowLengths[] = {1, 3, 8, 37, 256, 1001, 2048, 2051, 8192, 40000};

TEST(GpuNorm, SoftmaxLogSoftmaxRows) {
  std::mt19937 rng(100);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kDOUBLE}) {
    for (int64_t len : kRowLengths) {
      auto x = randomTensor(t, {3, len}, rng, -8, 8);
      run(OpKind::kSoftmax, {}, {OpInput::value(x)});
      run(OpKind::kLogSoftmax, {}, {OpInput::value(x)});
    }
  }
}

TEST(GpuNorm, SoftmaxStridedAxisAndManyRows) {
  std::mt19937 rng(101);
  auto x = randomTensor(DataType::kFLOAT, {4, 300, 5}, rng, -5, 5);
  run(OpKind::kSoftmax, axisAttr(1), {OpInput::value(x)});
  run(OpKind::kLogSoftmax, axisAttr(0), {OpInput::value(x)});
  run(OpKind::kHardmax, axisAttr(1), {OpInput::value(x)});
  run(OpKind::kLpNormalization, axisAttr(1), {OpInput::value(x)});
  auto many = randomTensor(DataType::kHALF, {5000, 12}, rng, -5, 5);
  run(OpKind::kSoftmax, {}, {OpInput::value(many)});
}

TEST(GpuNorm, SoftmaxExtremeAndNaN) {
  auto x = makeFloat({3, 4}, {1e30f, -1e30f, 0.f, 5.f,                                 //
                              -std::numeric_limits<float>::infinity(), 1.f, 2.f, 3.f,  //
                              std::nanf(""), 1.f, 2.f, 3.f});
  run(OpKind::kSoftmax, {}, {OpInput::value(x)});
  run(OpKind::kLogSoftmax, {}, {OpInput::value(x)});
  run(OpKind::kHardmax, {}, {OpInput::value(x)});
}

TEST(GpuNorm, HardmaxTiesAndLpNorm) {
  std::mt19937 rng(102);
  for (int64_t len : kRowLengths) {
    // Few distinct values: many ties, the first maximum must win.
    auto x = randomTensor(DataType::kFLOAT, {4, len}, rng, 0, 3);
    for (int64_t i = 0; i < x->numel(); ++i) x->as<float>()[i] = std::floor(x->as<float>()[i]);
    run(OpKind::kHardmax, {}, {OpInput::value(x)});
    ir::Attributes p1;
    p1.setInt("p", 1);
    run(OpKind::kLpNormalization, p1, {OpInput::value(x)});
    run(OpKind::kLpNormalization, {}, {OpInput::value(x)});
  }
  auto zeros = std::make_shared<ir::TensorData>(DataType::kHALF, Dims{2, 64});
  run(OpKind::kLpNormalization, {}, {OpInput::value(zeros)});
}

TEST(GpuNorm, LayerNormRowsStatsAndBroadcast) {
  std::mt19937 rng(103);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kDOUBLE}) {
    for (int64_t len : kRowLengths) {
      auto x = randomTensor(t, {3, len}, rng, -2, 4);
      auto s = randomTensor(t, {len}, rng);
      auto b = randomTensor(t, {len}, rng);
      run(OpKind::kLayerNormalization, {},
          {OpInput::value(x), OpInput::constant(s), OpInput::constant(b)}, 3);
      run(OpKind::kRMSNormalization, {}, {OpInput::value(x), OpInput::constant(s)});
    }
  }
  // axis=1 over a [2, 3, 4, 5] block with Scale broadcast from [4, 1] and B a scalar; no bias.
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 4, 5}, rng);
  auto s = randomTensor(DataType::kFLOAT, {4, 1}, rng);
  auto b = randomTensor(DataType::kFLOAT, {1}, rng);
  run(OpKind::kLayerNormalization, axisAttr(1),
      {OpInput::value(x), OpInput::constant(s), OpInput::constant(b)}, 3);
  run(OpKind::kLayerNormalization, axisAttr(-2), {OpInput::value(x), OpInput::value(s)}, 2);
  run(OpKind::kRMSNormalization, axisAttr(1), {OpInput::value(x), OpInput::constant(s)});
  // float16 X with a float32 scale (RMSNormalization allows different types).
  auto xh = randomTensor(DataType::kHALF, {6, 4096}, rng);
  auto sf = randomTensor(DataType::kFLOAT, {4096}, rng);
  run(OpKind::kRMSNormalization, {}, {OpInput::value(xh), OpInput::constant(sf)});
}

TEST(GpuNorm, GroupInstanceBatchNorm) {
  std::mt19937 rng(104);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF}) {
    for (const Dims& d : {Dims{2, 8, 40, 40}, Dims{1, 32, 7, 3}, Dims{3, 4}, Dims{2, 6, 1, 1}}) {
      const int64_t c = d[1];
      auto x = randomTensor(t, d, rng, -3, 3);
      auto sc = randomTensor(t, {c}, rng);
      auto bi = randomTensor(t, {c}, rng);
      ir::Attributes g;
      g.setInt("num_groups", c / 2);
      run(OpKind::kGroupNormalization, g,
          {OpInput::value(x), OpInput::constant(sc), OpInput::constant(bi)});
      if (d.size() >= 3)
        run(OpKind::kInstanceNormalization, {},
            {OpInput::value(x), OpInput::constant(sc), OpInput::constant(bi)});
      auto mean = randomTensor(t, {c}, rng);
      auto var = randomTensor(t, {c}, rng, 0.1, 2);
      run(OpKind::kBatchNormalization, {},
          {OpInput::value(x), OpInput::constant(sc), OpInput::constant(bi), OpInput::constant(mean),
           OpInput::constant(var)});
    }
  }
  // Odd spatial size (scalar path) with parameters given as runtime inputs.
  auto x = randomTensor(DataType::kFLOAT, {2, 5, 7, 3}, rng);
  auto p = randomTensor(DataType::kFLOAT, {5}, rng, 0.5, 1.5);
  run(OpKind::kBatchNormalization, {},
      {OpInput::value(x), OpInput::value(p), OpInput::value(p), OpInput::value(p),
       OpInput::value(p)});
}

TEST(GpuNorm, MeanVarianceNormalizationAxisSets) {
  std::mt19937 rng(105);
  auto x = randomTensor(DataType::kFLOAT, {2, 3, 17, 9}, rng, -2, 2);
  run(OpKind::kMeanVarianceNormalization, {}, {OpInput::value(x)});  // [0, 2, 3]: general
  for (const Dims& axes : {Dims{1}, Dims{2, 3}, Dims{0}, Dims{0, 1, 2, 3}, Dims{1, 3}}) {
    ir::Attributes a;
    a.setInts("axes", axes);
    run(OpKind::kMeanVarianceNormalization, a, {OpInput::value(x)});
  }
  auto h = randomTensor(DataType::kHALF, {4, 8, 16, 16}, rng);
  run(OpKind::kMeanVarianceNormalization, {}, {OpInput::value(h)});
}

TEST(GpuNorm, Lrn) {
  std::mt19937 rng(106);
  for (int64_t size : {1, 3, 4, 5}) {
    ir::Attributes a;
    a.setInt("size", size);
    a.setFloat("alpha", 1e-3f);
    run(OpKind::kLRN, a,
        {OpInput::value(randomTensor(DataType::kFLOAT, {2, 7, 5, 5}, rng, -3, 3))});
    run(OpKind::kLRN, a, {OpInput::value(randomTensor(DataType::kHALF, {1, 9, 4}, rng, -3, 3))});
  }
}

// --- Register-resident row fast path (kernels_norm.cu): contiguous rows of 1..8192 float32/
// float16/bfloat16 elements of LayerNormalization, RMSNormalization, Softmax and LogSoftmax, with
// 16-byte chunks (length a multiple of 16 / element size) or scalar ones, 1..32 lanes per row
// (several rows per block: row counts that are not a multiple of the rows per block) or a whole
// block. Besides the GPU-vs-CPU comparison runOp does, each CPU result is checked against a
// double-precision reference computed here.

// Tolerances of a result rounded to `t` against a double reference (one rounding plus slack).
double refTol(DataType t) {
  return t == DataType::kFLOAT ? 1e-5 : t == DataType::kHALF ? 2e-3 : 1.6e-2;
}

// Compares `got` with `want` (row-major, same dims) with refTol and an absolute floor scaled by
// the largest expected magnitude.
void expectNearReference(const ir::TensorData& got, const std::vector<double>& want) {
  double maxAbs = 0;
  for (double w : want) maxAbs = std::max(maxAbs, std::fabs(w));
  const double tol = refTol(got.dtype());
  expectCloseTo(got, got.dims(), want, tol, tol * std::max(maxAbs, 1e-30));
}

// Row-wise references in double over [rows, len].
std::vector<double> softmaxRef(const ir::TensorData& x, int64_t len, bool log) {
  const std::vector<double> v = toDoubles(x);
  std::vector<double> out(v.size());
  for (size_t r0 = 0; r0 < v.size(); r0 += static_cast<size_t>(len)) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < len; ++k) mx = std::max(mx, v[r0 + static_cast<size_t>(k)]);
    double sum = 0;
    for (int64_t k = 0; k < len; ++k) sum += std::exp(v[r0 + static_cast<size_t>(k)] - mx);
    for (int64_t k = 0; k < len; ++k) {
      const double d = v[r0 + static_cast<size_t>(k)] - mx;
      out[r0 + static_cast<size_t>(k)] = log ? d - std::log(sum) : std::exp(d) / sum;
    }
  }
  return out;
}

std::vector<double> layerNormRef(const ir::TensorData& x, const ir::TensorData& scale,
                                 const ir::TensorData* bias, int64_t len, bool rms,
                                 double eps = 1e-5) {
  const std::vector<double> v = toDoubles(x), s = toDoubles(scale);
  const std::vector<double> b = bias ? toDoubles(*bias) : std::vector<double>(s.size(), 0.0);
  std::vector<double> out(v.size());
  for (size_t r0 = 0; r0 < v.size(); r0 += static_cast<size_t>(len)) {
    double mean = 0;
    if (!rms) {
      for (int64_t k = 0; k < len; ++k) mean += v[r0 + static_cast<size_t>(k)];
      mean /= static_cast<double>(len);
    }
    double var = 0;
    for (int64_t k = 0; k < len; ++k) {
      const double d = v[r0 + static_cast<size_t>(k)] - mean;
      var += d * d;
    }
    var /= static_cast<double>(len);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t k = 0; k < len; ++k) {
      const size_t i = r0 + static_cast<size_t>(k), j = static_cast<size_t>(k);
      out[i] = (v[i] - mean) * inv * s[j] + b[j];
    }
  }
  return out;
}

// Row lengths for the fast path: 1..32 chunks (sub-warp groups, one chunk per lane), a warp with
// 2/4/8 chunks per lane, a block of 64..1024 threads; lengths that are multiples of 8 (16-byte
// chunks for every type), of 4 only (16-byte chunks for float32, scalar for 16-bit types) and odd
// ones (scalar everywhere); 8192 is the longest row the fast path takes, 8193 the shortest it
// leaves to the general path.
const int64_t kFastLengths[] = {1,   2,   7,    32,   64,   100,  128,  197,  256,
                                768, 999, 1000, 2050, 3000, 4096, 8191, 8192, 8193};

TEST(GpuNormFastPath, LayerNormRows) {
  std::mt19937 rng(120);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    for (int64_t len : kFastLengths) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " len " + std::to_string(len));
      // 37 rows: not a multiple of the rows per block of the sub-warp configurations.
      const int64_t rows = len > 4096 ? 5 : 37;
      auto x = randomTensor(t, {rows, len}, rng, -2, 4);
      auto s = randomTensor(t, {len}, rng, 0.5, 1.5);
      auto b = randomTensor(t, {len}, rng);
      auto withBias = runOp(OpKind::kLayerNormalization, {},
                            {OpInput::value(x), OpInput::constant(s), OpInput::constant(b)});
      ASSERT_TRUE(withBias.isOk()) << withBias.status().toString();
      expectNearReference(withBias->at(0), layerNormRef(*x, *s, b.get(), len, false));
      auto noBias =
          runOp(OpKind::kLayerNormalization, {}, {OpInput::value(x), OpInput::constant(s)});
      ASSERT_TRUE(noBias.isOk()) << noBias.status().toString();
      expectNearReference(noBias->at(0), layerNormRef(*x, *s, nullptr, len, false));
    }
  }
}

TEST(GpuNormFastPath, LayerNormTransformerShapes) {
  std::mt19937 rng(121);
  // ViT-B/16 [B, 197, 768] and BERT [B, 128, 768] over the last axis, Scale/B as runtime inputs
  // too, a non-default epsilon, and a 3-D block (axis = 1: rows of 197 * 8 elements).
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    SCOPED_TRACE(dataTypeName(t));
    for (const Dims& d : {Dims{3, 197, 768}, Dims{2, 128, 768}}) {
      auto x = randomTensor(t, d, rng, -3, 3);
      auto s = randomTensor(t, {768}, rng, 0.5, 1.5);
      auto b = randomTensor(t, {768}, rng);
      ir::Attributes a;
      a.setInt("axis", -1);
      a.setFloat("epsilon", 1e-6f);
      auto r = runOp(OpKind::kLayerNormalization, a,
                     {OpInput::value(x), OpInput::value(s), OpInput::value(b)});
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      expectNearReference(r->at(0), layerNormRef(*x, *s, b.get(), 768, false, 1e-6f));
    }
    auto x = randomTensor(t, {4, 197, 8}, rng, -3, 3);
    auto s = randomTensor(t, {197, 8}, rng, 0.5, 1.5);
    auto b = randomTensor(t, {197, 8}, rng);
    auto r = runOp(OpKind::kLayerNormalization, axisAttr(1),
                   {OpInput::value(x), OpInput::constant(s), OpInput::constant(b)});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    expectNearReference(r->at(0), layerNormRef(*x, *s, b.get(), 197 * 8, false));
  }
  // Constant rows (variance 0): y = bias.
  auto c = std::make_shared<ir::TensorData>(DataType::kHALF, Dims{9, 768});
  auto s = randomTensor(DataType::kHALF, {768}, rng);
  auto b = randomTensor(DataType::kHALF, {768}, rng);
  run(OpKind::kLayerNormalization, {},
      {OpInput::value(c), OpInput::constant(s), OpInput::constant(b)});
}

TEST(GpuNormFastPath, RmsNormRows) {
  std::mt19937 rng(122);
  for (DataType t : {DataType::kHALF, DataType::kFLOAT, DataType::kBF16}) {
    for (int64_t len : {int64_t{4096}, int64_t{197}, int64_t{8}, int64_t{2050}}) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " len " + std::to_string(len));
      auto x = randomTensor(t, {11, len}, rng, -2, 2);
      auto s = randomTensor(t, {len}, rng, 0.5, 1.5);
      auto r = runOp(OpKind::kRMSNormalization, {}, {OpInput::value(x), OpInput::constant(s)});
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      expectNearReference(r->at(0), layerNormRef(*x, *s, nullptr, len, true));
    }
  }
}

TEST(GpuNormFastPath, SoftmaxRows) {
  std::mt19937 rng(123);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    for (int64_t len : kFastLengths) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " len " + std::to_string(len));
      const int64_t rows = len > 4096 ? 5 : 300;  // 300: not a multiple of 128 rows per block
      auto x = randomTensor(t, {rows, len}, rng, -6, 6);
      for (bool log : {false, true}) {
        auto r = runOp(log ? OpKind::kLogSoftmax : OpKind::kSoftmax, {}, {OpInput::value(x)});
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        expectNearReference(r->at(0), softmaxRef(*x, len, log));
      }
    }
  }
}

TEST(GpuNormFastPath, SoftmaxAttentionScores) {
  std::mt19937 rng(124);
  // ViT attention probabilities [B, H, 197, 197] (scalar loads: 197 is odd) and BERT's
  // [B, H, 128, 128] (16-byte loads), axis -1.
  for (DataType t : {DataType::kHALF, DataType::kFLOAT}) {
    for (const Dims& d : {Dims{2, 3, 197, 197}, Dims{2, 4, 128, 128}}) {
      SCOPED_TRACE(std::string(dataTypeName(t)) + " " + std::to_string(d[3]));
      auto x = randomTensor(t, d, rng, -10, 10);
      for (bool log : {false, true}) {
        auto r =
            runOp(log ? OpKind::kLogSoftmax : OpKind::kSoftmax, axisAttr(-1), {OpInput::value(x)});
        ASSERT_TRUE(r.isOk()) << r.status().toString();
        expectNearReference(r->at(0), softmaxRef(*x, d[3], log));
      }
    }
  }
  // Rows with -inf (masked) entries, an all -inf row (NaN) and a NaN, through 16-byte chunks.
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v(3 * 8, 0.5f);
  v[1] = -inf;
  v[5] = 3.f;
  for (int k = 8; k < 16; ++k) v[static_cast<size_t>(k)] = -inf;
  v[20] = std::nanf("");
  auto x = makeFloat({3, 8}, v);
  run(OpKind::kSoftmax, {}, {OpInput::value(x)});
  run(OpKind::kLogSoftmax, {}, {OpInput::value(x)});
}

// --- Reduce
// ---------------------------------------------------------------------------------------

const OpKind kFloatReductions[] = {
    OpKind::kReduceSum,    OpKind::kReduceMean,     OpKind::kReduceMax, OpKind::kReduceMin,
    OpKind::kReduceProd,   OpKind::kReduceL1,       OpKind::kReduceL2,  OpKind::kReduceSumSquare,
    OpKind::kReduceLogSum, OpKind::kReduceLogSumExp};

void runReduce(OpKind op, const ir::TensorDataPtr& x, const Dims& axes, int64_t keepdims = 1) {
  ir::Attributes a;
  a.setInt("keepdims", keepdims);
  run(op, a, {OpInput::value(x), OpInput::constant(ir::TensorData::vectorInt64(axes))});
}

TEST(GpuReduce, AxisLayouts) {
  std::mt19937 rng(110);
  // Positive data (LogSum), close to 1 (Prod stays finite).
  auto x = randomTensor(DataType::kFLOAT, {6, 7, 8, 9}, rng, 0.9, 1.1);
  const Dims axesSets[] = {{3}, {2, 3}, {0}, {1}, {1, 2}, {0, 2}, {1, 3}, {0, 1, 2, 3}, {0, 3}};
  for (OpKind op : kFloatReductions)
    for (const Dims& axes : axesSets) runReduce(op, x, axes, axes.size() % 2);
}

TEST(GpuReduce, LongRowsSplitAndColumns) {
  std::mt19937 rng(111);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kDOUBLE, DataType::kBF16}) {
    auto row = randomTensor(t, {1, 1 << 20}, rng, 0.5, 1.5);    // one long row: split + second pass
    auto cols = randomTensor(t, {2, 50000, 6}, rng, 0.5, 1.5);  // few long columns: split columns
    for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax,
                      OpKind::kReduceMin, OpKind::kReduceL2, OpKind::kReduceLogSumExp}) {
      runReduce(op, row, {1});
      runReduce(op, cols, {1}, 0);
    }
  }
  auto odd = randomTensor(DataType::kFLOAT, {3, 100003}, rng);
  runReduce(OpKind::kReduceSum, odd, {1});
  runReduce(OpKind::kReduceMax, odd, {0});
}

TEST(GpuReduce, IntegersExact) {
  std::mt19937 rng(112);
  for (DataType t : {DataType::kINT32, DataType::kINT64}) {
    auto x = randomTensor(t, {5, 3000, 3}, rng, -1000, 1000);
    for (OpKind op : {OpKind::kReduceSum, OpKind::kReduceMean, OpKind::kReduceMax,
                      OpKind::kReduceMin, OpKind::kReduceL1, OpKind::kReduceSumSquare}) {
      runReduce(op, x, {1});
      runReduce(op, x, {2});
      runReduce(op, x, {0, 2});
    }
    auto small = randomTensor(t, {4, 20}, rng, -3, 3);
    runReduce(OpKind::kReduceProd, small, {1});
  }
}

TEST(GpuReduce, NaNEmptyAndNoop) {
  auto x = makeFloat({2, 3},
                     {1.f, std::nanf(""), 3.f, -std::numeric_limits<float>::infinity(), 2.f, 0.f});
  for (OpKind op : kFloatReductions) runReduce(op, x, {1});
  auto empty = std::make_shared<ir::TensorData>(DataType::kHALF, Dims{3, 0, 4});
  for (OpKind op : kFloatReductions) runReduce(op, empty, {1});
  ir::Attributes noop;
  noop.setInt("noop_with_empty_axes", 1);
  for (OpKind op : kFloatReductions) run(op, noop, {OpInput::value(x)});
  // No axes: reduce everything to a scalar.
  std::mt19937 rng(113);
  auto big = randomTensor(DataType::kFLOAT, {64, 1000}, rng);
  ir::Attributes flat;
  flat.setInt("keepdims", 0);
  run(OpKind::kReduceSum, flat, {OpInput::value(big)});
}

TEST(GpuReduce, ArgMaxArgMin) {
  std::mt19937 rng(114);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kINT32, DataType::kINT8,
                     DataType::kUINT8, DataType::kINT64, DataType::kDOUBLE}) {
    for (const Dims& d : {Dims{4, 5000}, Dims{3, 2000, 5}, Dims{7, 33}, Dims{1, 300000}}) {
      auto x = randomTensor(t, d, rng, 0, 20);  // many ties
      for (int64_t last : {0, 1}) {
        ir::Attributes a;
        a.setInt("axis", 1);
        a.setInt("select_last_index", last);
        run(OpKind::kArgMax, a, {OpInput::value(x)});
        run(OpKind::kArgMin, a, {OpInput::value(x)});
        a.setInt("axis", 0);
        a.setInt("keepdims", 0);
        run(OpKind::kArgMax, a, {OpInput::value(x)});
      }
    }
  }
  auto nan = makeFloat({2, 4}, {1.f, std::nanf(""), 5.f, std::nanf(""), 2.f, 2.f, 1.f, 2.f});
  ir::Attributes a;
  a.setInt("axis", 1);
  run(OpKind::kArgMax, a, {OpInput::value(nan)});
  run(OpKind::kArgMin, a, {OpInput::value(nan)});
}

TEST(GpuReduce, CumSum) {
  std::mt19937 rng(115);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kDOUBLE, DataType::kINT32,
                     DataType::kINT64, DataType::kUINT8, DataType::kINT8}) {
    for (const Dims& d : {Dims{3, 5000}, Dims{2, 300, 3}, Dims{5, 40}, Dims{70}}) {
      auto x = randomTensor(t, d, rng, -10, 10);
      for (int64_t axis : {int64_t{-1}, int64_t{0}}) {
        for (int flags = 0; flags < 4; ++flags) {
          ir::Attributes a;
          a.setInt("exclusive", flags & 1);
          a.setInt("reverse", (flags >> 1) & 1);
          run(OpKind::kCumSum, a,
              {OpInput::value(x), OpInput::constant(ir::TensorData::scalarInt64(axis))});
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::test
