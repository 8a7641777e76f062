// CPU reference kernels for the signal ops (see ops.def): DFT, STFT, MelWeightMatrix.
//
// Transforms are direct O(n^2) sums in double (the twiddle angle reduced exactly as
// 2*pi*((k*t) mod n)/n), rounded once into the output type: clarity over speed.
#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernel_util.h"

namespace kiln::cpu {

namespace {

using cd = std::complex<double>;

// e^{sign * 2 pi i * k * t / n}
cd twiddle(int64_t k, int64_t t, int64_t n, double sign) {
  const int64_t r = (k % n) * (t % n) % n;
  const double a = sign * 2.0 * std::numbers::pi * static_cast<double>(r) / static_cast<double>(n);
  return {std::cos(a), std::sin(a)};
}

// y[k] = sum_{t < x.size()} x[t] e^{sign 2 pi i k t / n} for k < outLen (x already cut to <= n).
void dft(const std::vector<cd>& x, int64_t n, int64_t outLen, double sign, std::vector<cd>& y) {
  y.assign(static_cast<size_t>(outLen), cd(0.0, 0.0));
  for (int64_t k = 0; k < outLen; ++k) {
    cd acc(0.0, 0.0);
    for (size_t t = 0; t < x.size(); ++t)
      acc += x[t] * twiddle(k, static_cast<int64_t>(t), n, sign);
    y[static_cast<size_t>(k)] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// DFT: input [outer..., D (axis), inner..., 1|2] -> [outer..., outLen, inner..., 2] (or 1 for the
// inverse one-sided transform, which completes the Hermitian spectrum and returns its real part).
Status dftKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& out = ctx.outputs[0];
  const int64_t r = x.rank();
  int64_t axis = ctx.hasInput(2) ? ctx.inputs[2].intAt(0) : -2;
  if (axis < 0) axis += r;
  const bool inverse = ctx.attrs().getInt("inverse", 0) != 0;
  const bool onesided = ctx.attrs().getInt("onesided", 0) != 0;
  const int64_t D = x.dims[static_cast<size_t>(axis)];
  const int64_t outLen = out.dims[static_cast<size_t>(axis)];
  // The transform length: dft_length, else the axis dim (irfft: 2 * (D - 1)); the output shape
  // already holds it except for a forward one-sided transform.
  int64_t n = outLen;
  if (!inverse && onesided) n = ctx.hasInput(1) ? ctx.inputs[1].intAt(0) : D;
  if (n < 1) return ctx.error("the transform length %lld is not positive", ll(n));
  const int64_t inC = x.dims.back(), outC = out.dims.back();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dims[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < r - 1; ++d) inner *= x.dims[static_cast<size_t>(d)];

  const bool irfft = inverse && onesided;
  const int64_t half = n / 2 + 1;
  // Samples read from the input: the first min(D, n) (irfft: min(D, n/2+1) bins).
  const int64_t used = std::min(D, irfft ? half : n);
  std::vector<cd> seq, res;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      seq.assign(static_cast<size_t>(used), cd(0.0, 0.0));
      for (int64_t t = 0; t < used; ++t) {
        const int64_t base = ((o * D + t) * inner + i) * inC;
        seq[static_cast<size_t>(t)] = cd(x.doubleAt(base), inC == 2 ? x.doubleAt(base + 1) : 0.0);
      }
      if (irfft) {
        std::vector<cd> full(static_cast<size_t>(n), cd(0.0, 0.0));
        for (int64_t k = 0; k < n; ++k) {
          const int64_t src = k < half ? k : n - k;
          const cd v = src < used ? seq[static_cast<size_t>(src)] : cd(0.0, 0.0);
          full[static_cast<size_t>(k)] = k < half ? v : std::conj(v);
        }
        seq.swap(full);
      }
      dft(seq, n, outLen, inverse ? 1.0 : -1.0, res);
      const double norm = inverse ? 1.0 / static_cast<double>(n) : 1.0;
      for (int64_t k = 0; k < outLen; ++k) {
        const int64_t base = ((o * outLen + k) * inner + i) * outC;
        storeDouble(out, base, res[static_cast<size_t>(k)].real() * norm);
        if (outC == 2) storeDouble(out, base + 1, res[static_cast<size_t>(k)].imag() * norm);
      }
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// STFT: frame f of batch b is signal[b, f*step : f*step + frame_length] times the window, and its
// DFT of length frame_length gives output[b, f, :, :] (the first frame_length/2+1 bins when
// onesided).
Status stftKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& out = ctx.outputs[0];
  const int64_t B = x.dims[0], L = x.dims[1], C = x.dims[2];
  const int64_t step = ctx.inputs[1].intAt(0);
  const int64_t frames = out.dims[1], bins = out.dims[2];
  int64_t fl = L;
  if (ctx.hasInput(2)) fl = ctx.inputs[2].dims[0];
  if (ctx.hasInput(3)) fl = ctx.inputs[3].intAt(0);
  if (step < 1 || fl < 1 || fl > L)
    return ctx.error("frame_step %lld and frame_length %lld do not fit a signal of %lld samples",
                     ll(step), ll(fl), ll(L));
  std::vector<cd> frame(static_cast<size_t>(fl)), res;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      for (int64_t s = 0; s < fl; ++s) {
        const int64_t t = f * step + s;
        cd v(0.0, 0.0);
        if (t < L)
          v = cd(x.doubleAt((b * L + t) * C), C == 2 ? x.doubleAt((b * L + t) * C + 1) : 0.0);
        if (ctx.hasInput(2)) v *= ctx.inputs[2].doubleAt(s);
        frame[static_cast<size_t>(s)] = v;
      }
      dft(frame, fl, bins, -1.0, res);
      for (int64_t k = 0; k < bins; ++k) {
        const int64_t base = ((b * frames + f) * bins + k) * 2;
        storeDouble(out, base, res[static_cast<size_t>(k)].real());
        storeDouble(out, base + 1, res[static_cast<size_t>(k)].imag());
      }
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// MelWeightMatrix: num_mel_bins triangular filters over the one-sided spectrum. The mel range
// [mel(lower), mel(upper)] (mel(f) = 2595 log10(1 + f/700)) is cut into num_mel_bins + 2 points
// spaced (high - low) / (num_mel_bins + 2) apart (ONNX's definition); point p maps to spectrum
// bin floor((dft_length + 1) * hz(p) / sample_rate). Filter i rises linearly from point i to
// point i+1 (value 1) and falls to 0 at point i+2.
Status melWeightMatrixKernel(CpuKernelContext& ctx) {
  CpuTensor& out = ctx.outputs[0];
  const int64_t mels = out.dims[1];  // num_mel_bins, as inference read it
  const int64_t n = ctx.inputs[1].intAt(0);
  const int64_t rate = ctx.inputs[2].intAt(0);
  const double lo = ctx.inputs[3].doubleAt(0), hi = ctx.inputs[4].doubleAt(0);
  const int64_t specBins = out.dims[0];
  if (rate <= 0) return ctx.error("sample_rate %lld is not positive", ll(rate));
  const double lowMel = 2595.0 * std::log10(1.0 + lo / 700.0);
  const double highMel = 2595.0 * std::log10(1.0 + hi / 700.0);
  const double melStep = (highMel - lowMel) / static_cast<double>(mels + 2);
  std::vector<int64_t> point(static_cast<size_t>(mels + 2));
  for (int64_t p = 0; p < mels + 2; ++p) {
    const double hz =
        700.0 * (std::pow(10.0, (static_cast<double>(p) * melStep + lowMel) / 2595.0) - 1.0);
    const double bin = std::floor(static_cast<double>(n + 1) * hz / static_cast<double>(rate));
    if (!(std::fabs(bin) <= static_cast<double>(specBins)))  // NaN too
      return ctx.error(
          "lower_edge_hertz %g and upper_edge_hertz %g give mel band edges outside the %lld "
          "spectrum bins (sample_rate %lld)",
          lo, hi, ll(specBins), ll(rate));
    point[static_cast<size_t>(p)] = static_cast<int64_t>(bin);
  }
  std::vector<double> w(static_cast<size_t>(specBins * mels), 0.0);
  auto set = [&](int64_t bin, int64_t m, double v) -> Status {
    if (bin < 0 || bin >= specBins)
      return ctx.error(
          "mel band %lld reaches spectrum bin %lld, outside [0, %lld): check lower_edge_hertz, "
          "upper_edge_hertz and sample_rate",
          ll(m), ll(bin), ll(specBins));
    w[static_cast<size_t>(bin * mels + m)] = v;
    return Status::ok();
  };
  for (int64_t m = 0; m < mels; ++m) {
    const int64_t left = point[static_cast<size_t>(m)], center = point[static_cast<size_t>(m + 1)],
                  right = point[static_cast<size_t>(m + 2)];
    if (center == left) {
      KILN_RETURN_IF_ERROR(set(center, m, 1.0));
    } else {
      for (int64_t j = left; j <= center; ++j)
        KILN_RETURN_IF_ERROR(
            set(j, m, static_cast<double>(j - left) / static_cast<double>(center - left)));
    }
    for (int64_t j = center; j < right; ++j)
      KILN_RETURN_IF_ERROR(
          set(j, m, static_cast<double>(right - j) / static_cast<double>(right - center)));
  }
  for (int64_t i = 0; i < out.numel(); ++i) storeDouble(out, i, w[static_cast<size_t>(i)]);
  return Status::ok();
}

}  // namespace

void registerSignalKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kDFT)] = &dftKernel;
  t[static_cast<size_t>(ir::OpKind::kSTFT)] = &stftKernel;
  t[static_cast<size_t>(ir::OpKind::kMelWeightMatrix)] = &melWeightMatrixKernel;
}

}  // namespace kiln::cpu
