// DFT, STFT and MelWeightMatrix: hand-computed transforms, a direct double-precision DFT written
// here, the inverse-of-forward property, values from ONNX's reference implementation, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <string>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;
using cd = std::complex<double>;

std::shared_ptr<ir::TensorData> scalarI64(int64_t v) { return makeInt64({}, {v}); }

// X[k] = sum_t x[t] e^{-2 pi i k t / n} (x cut or zero-padded to n).
std::vector<cd> refDft(const std::vector<cd>& x, int64_t n, double sign = -1.0) {
  std::vector<cd> y(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k)
    for (int64_t t = 0; t < n && t < static_cast<int64_t>(x.size()); ++t)
      y[static_cast<size_t>(k)] +=
          x[static_cast<size_t>(t)] *
          std::polar(1.0, sign * 2.0 * std::numbers::pi * static_cast<double>(k * t) /
                              static_cast<double>(n));
  return y;
}

TEST(DFT, HandComputedRealForwardAndOnesided) {
  // x = [1, 2, 3, 4]: X = [10, -2+2i, -2, -2-2i].
  auto x = makeFloat({1, 4, 1}, {1, 2, 3, 4});
  auto r = runOp(OpKind::kDFT, {}, {OpInput::value(x)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 4, 2}, {10, 0, -2, 2, -2, 0, -2, -2}, 1e-6, 1e-6);
  ir::Attributes a;
  a.setInt("onesided", 1);
  r = runOp(OpKind::kDFT, a, {OpInput::value(x)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 3, 2}, {10, 0, -2, 2, -2, 0}, 1e-6, 1e-6);
}

TEST(DFT, ComplexAlongAxis0WithDftLength) {
  // input [5, 3, 2] complex, DFT along axis 0 with dft_length 7 (zero padded) and 3 (cut).
  std::mt19937 rng(3);
  auto x = randomTensor(DataType::kFLOAT, {5, 3, 2}, rng);
  const auto xd = toDoubles(*x);
  for (int64_t n : {7, 3}) {
    SCOPED_TRACE(n);
    auto r = runOp(
        OpKind::kDFT, {},
        {OpInput::value(x), OpInput::constant(scalarI64(n)), OpInput::constant(scalarI64(0))});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::vector<double> want(static_cast<size_t>(n * 3 * 2));
    for (int64_t col = 0; col < 3; ++col) {
      std::vector<cd> seq;
      for (int64_t t = 0; t < 5; ++t)
        seq.emplace_back(xd[static_cast<size_t>((t * 3 + col) * 2)],
                         xd[static_cast<size_t>((t * 3 + col) * 2 + 1)]);
      auto y = refDft(seq, n);
      for (int64_t k = 0; k < n; ++k) {
        want[static_cast<size_t>((k * 3 + col) * 2)] = y[static_cast<size_t>(k)].real();
        want[static_cast<size_t>((k * 3 + col) * 2 + 1)] = y[static_cast<size_t>(k)].imag();
      }
    }
    expectCloseTo(r->at(0), {n, 3, 2}, want, 1e-5, 1e-5);
  }
}

TEST(DFT, InverseUndoesForward) {
  std::mt19937 rng(5);
  auto x = randomTensor(DataType::kDOUBLE, {2, 6, 2}, rng);
  auto fwd = runOp(OpKind::kDFT, {}, {OpInput::value(x)});
  ASSERT_TRUE(fwd.isOk()) << fwd.status().toString();
  ir::Attributes a;
  a.setInt("inverse", 1);
  auto back = runOp(OpKind::kDFT, a, {OpInput::value(fwd->outputs[0])});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  expectCloseTo(back->at(0), {2, 6, 2}, toDoubles(*x), 1e-12, 1e-12);
}

TEST(DFT, InverseOnesidedRestoresRealSignal) {
  // irfft(rfft(x)) == x for even and odd lengths (the odd one needs dft_length).
  for (int64_t n : {8, 7}) {
    SCOPED_TRACE(n);
    std::mt19937 rng(static_cast<unsigned>(n));
    auto x = randomTensor(DataType::kFLOAT, {3, n, 1}, rng);
    ir::Attributes f;
    f.setInt("onesided", 1);
    auto spec = runOp(OpKind::kDFT, f, {OpInput::value(x)});
    ASSERT_TRUE(spec.isOk()) << spec.status().toString();
    ASSERT_EQ(spec->at(0).dims(), (Dims{3, n / 2 + 1, 2}));
    ir::Attributes inv;
    inv.setInt("onesided", 1);
    inv.setInt("inverse", 1);
    auto back = runOp(OpKind::kDFT, inv,
                      {OpInput::value(spec->outputs[0]), OpInput::constant(scalarI64(n))});
    ASSERT_TRUE(back.isOk()) << back.status().toString();
    expectCloseTo(back->at(0), {3, n, 1}, toDoubles(*x), 1e-5, 1e-6);
  }
}

TEST(DFT, Errors) {
  auto x = makeFloat({1, 4, 3}, std::vector<float>(12, 1.f));
  auto r = runOp(OpKind::kDFT, {}, {OpInput::value(x)});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("last dimension"), std::string::npos)
      << r.status().toString();
  auto y = makeFloat({1, 4, 1}, std::vector<float>(4, 1.f));
  r = runOp(OpKind::kDFT, {},
            {OpInput::value(y), OpInput::absent(), OpInput::constant(scalarI64(-1))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("axis"), std::string::npos) << r.status().toString();
  r = runOp(OpKind::kDFT, {}, {OpInput::value(y), OpInput::constant(scalarI64(0))});
  ASSERT_FALSE(r.isOk());
}

// ---------------------------------------------------------------------------------------------

TEST(STFT, WindowedFramesAgainstDirectDft) {
  // signal [2, 10, 1], frame_step 3, window of 4 -> frames 1 + (10 - 4) / 3 = 3, bins 3.
  std::mt19937 rng(11);
  auto x = randomTensor(DataType::kFLOAT, {2, 10, 1}, rng);
  auto win = makeFloat({4}, {0.f, 0.5f, 1.f, 0.5f});
  const auto xd = toDoubles(*x), wd = toDoubles(*win);
  auto r = runOp(OpKind::kSTFT, {},
                 {OpInput::value(x), OpInput::constant(scalarI64(3)), OpInput::value(win)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::vector<double> want;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t f = 0; f < 3; ++f) {
      std::vector<cd> frame;
      for (int64_t s = 0; s < 4; ++s)
        frame.emplace_back(xd[static_cast<size_t>(b * 10 + f * 3 + s)] * wd[static_cast<size_t>(s)],
                           0.0);
      auto y = refDft(frame, 4);
      for (int64_t k = 0; k < 3; ++k) {
        want.push_back(y[static_cast<size_t>(k)].real());
        want.push_back(y[static_cast<size_t>(k)].imag());
      }
    }
  expectCloseTo(r->at(0), {2, 3, 3, 2}, want, 1e-5, 1e-6);
}

TEST(STFT, FrameLengthTwoSidedHandComputed) {
  // signal 0..5, frame_length 2, step 2, no window, onesided 0: frames [0,1], [2,3], [4,5];
  // X = [a + b, a - b].
  auto x = makeFloat({1, 6, 1}, {0, 1, 2, 3, 4, 5});
  ir::Attributes a;
  a.setInt("onesided", 0);
  auto r = runOp(OpKind::kSTFT, a,
                 {OpInput::value(x), OpInput::constant(scalarI64(2)), OpInput::absent(),
                  OpInput::constant(scalarI64(2))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  expectCloseTo(r->at(0), {1, 3, 2, 2}, {1, 0, -1, 0, 5, 0, -1, 0, 9, 0, -1, 0}, 1e-6, 1e-6);
}

TEST(STFT, Errors) {
  auto x = makeFloat({1, 6, 1}, std::vector<float>(6, 1.f));
  auto r = runOp(OpKind::kSTFT, {},
                 {OpInput::value(x), OpInput::constant(scalarI64(2)), OpInput::absent(),
                  OpInput::constant(scalarI64(8))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("longer than the signal"), std::string::npos)
      << r.status().toString();
  r = runOp(OpKind::kSTFT, {}, {OpInput::value(x), OpInput::constant(scalarI64(0))});
  ASSERT_FALSE(r.isOk());
  r = runOp(OpKind::kSTFT, {},
            {OpInput::value(x), OpInput::constant(scalarI64(1)),
             OpInput::value(makeFloat({3}, {1, 1, 1})), OpInput::constant(scalarI64(4))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("window"), std::string::npos) << r.status().toString();
}

// ---------------------------------------------------------------------------------------------

TEST(MelWeightMatrix, MatchesOnnxReference) {
  // num_mel_bins 3, dft_length 32, sample_rate 8000, 0..4000 Hz; expected values from
  // onnx.reference (ReferenceEvaluator, opset 17).
  auto r = runOp(OpKind::kMelWeightMatrix, {},
                 {OpInput::constant(makeInt32({}, {3})), OpInput::constant(makeInt32({}, {32})),
                  OpInput::constant(makeInt32({}, {8000})), OpInput::value(makeFloat({}, {0.f})),
                  OpInput::value(makeFloat({}, {4000.f}))});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::vector<double> want(17 * 3, 0.0);
  const double rows[][3] = {{0, 0, 0},
                            {1, 0, 0},
                            {0.5, 0.5, 0},
                            {0, 1, 0},
                            {0, 2.0 / 3, 1.0 / 3},
                            {0, 1.0 / 3, 2.0 / 3},
                            {0, 0, 1},
                            {0, 0, 0.75},
                            {0, 0, 0.5},
                            {0, 0, 0.25}};
  for (size_t i = 0; i < 10; ++i)
    for (size_t j = 0; j < 3; ++j) want[i * 3 + j] = rows[i][j];
  expectCloseTo(r->at(0), {17, 3}, want, 1e-6, 1e-6);
}

TEST(MelWeightMatrix, Errors) {
  auto r = runOp(OpKind::kMelWeightMatrix, {},
                 {OpInput::constant(makeInt32({}, {0})), OpInput::constant(makeInt32({}, {32})),
                  OpInput::constant(makeInt32({}, {8000})), OpInput::value(makeFloat({}, {0.f})),
                  OpInput::value(makeFloat({}, {4000.f}))});
  ASSERT_FALSE(r.isOk());
  // An upper edge past the Nyquist frequency reaches beyond the spectrum.
  r = runOp(OpKind::kMelWeightMatrix, {},
            {OpInput::constant(makeInt32({}, {3})), OpInput::constant(makeInt32({}, {32})),
             OpInput::constant(makeInt32({}, {8000})), OpInput::value(makeFloat({}, {0.f})),
             OpInput::value(makeFloat({}, {16000.f}))});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().toString().find("outside"), std::string::npos) << r.status().toString();
}

}  // namespace
}  // namespace kiln::test
