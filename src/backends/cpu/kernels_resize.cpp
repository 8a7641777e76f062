// Resize: nearest, (multi-)linear and cubic interpolation with every ONNX coordinate
// transformation mode.
//
// Resize is separable: each axis maps an output index to a few input taps (index, weight), and
// an output element is the tensor product over axes:
//   y[c] = sum over tap choices t_a of  prod_a w_a(t_a) * x[idx_0(t_0), ..., idx_{r-1}(t_{r-1})]
// Taps with zero weight are dropped, so unresized axes cost one tap and nearest is a gather.
// The per-axis mapping (ONNX Resize-19):
//   x_orig = transform(x_out) (half_pixel: (x+0.5)/scale-0.5, asymmetric: x/scale, ...)
//   nearest: round x_orig by nearest_mode, clamp to [0, in-1]
//   linear:  i = floor(x_orig), r = x_orig - i; taps (i, 1-r), (i+1, r), indices clamped
//   cubic:   taps i-1..i+2 with Keys' coefficients for A = cubic_coeff_a; indices clamped, or
//            with exclude_outside=1 out-of-range taps get weight 0 and the rest renormalize
// tf_crop_and_resize maps into the roi box; outputs that fall outside the input take
// extrapolation_value. `scale` is the scales entry, or out/in for sizes (one shared scale
// under keep_aspect_ratio_policy not_larger/not_smaller).
// align_corners and tf_crop_and_resize divide by (length_resized - 1), where the spec's
// length_resized is in * scale as a real number, not the output length floor(in * scale):
// downsampling 4 -> floor(4 * 0.6) = 2 with align_corners maps x to x * 3 / 1.4, not x * 3 / 1.
// With sizes (and no aspect-ratio policy) in * scale is the output length itself.
// antialias=1 (linear and cubic, when an axis is downsampled, scale < 1): the filter is stretched
// by 1 / scale, so each output averages over more input taps. With x_orig = b + t, t in (0, 1]
// (t = 1 when x_orig is an integer), taps b + k for k in [k0, 1 - k0] weigh f((k - t) * scale),
// normalized to sum 1; k0 = floor(-1 / scale) + 1 for linear (f(d) = max(0, 1 - |d|)) and
// floor(-2 / scale) + 1 for cubic (Keys' kernel with A = cubic_coeff_a). Nearest ignores it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/resize_kernel.h"
#include "common/half.h"

namespace kiln::cpu {

namespace {

struct Tap {
  int64_t offset;  // input index * stride
  double weight;
};

struct AxisMap {
  std::vector<std::vector<Tap>> taps;  // per output index
  std::vector<bool> outside;           // tf_crop_and_resize: maps outside the input
};

double originalCoordinate(const std::string& ctm, double x, double scale, int64_t inLen,
                          int64_t outLen, double lenResized, double roiStart, double roiEnd) {
  const double in = static_cast<double>(inLen), out = static_cast<double>(outLen);
  if (ctm == "half_pixel") return (x + 0.5) / scale - 0.5;
  if (ctm == "pytorch_half_pixel") return outLen > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
  if (ctm == "align_corners") return lenResized == 1.0 ? 0.0 : x * (in - 1) / (lenResized - 1);
  if (ctm == "asymmetric") return x / scale;
  if (ctm == "half_pixel_symmetric") {
    // The output canvas (out) is centred on the scaled input (scale * in).
    const double adjustment = out / (scale * in);
    const double offset = in / 2 * (1 - adjustment);
    return offset + (x + 0.5) / scale - 0.5;
  }
  // tf_crop_and_resize
  if (lenResized != 1.0)
    return roiStart * (in - 1) + x * (roiEnd - roiStart) * (in - 1) / (lenResized - 1);
  return 0.5 * (roiStart + roiEnd) * (in - 1);
}

int64_t nearestIndex(double x, const std::string& nm) {
  const double f = std::floor(x);
  const double r = x - f;
  int64_t i = static_cast<int64_t>(f);
  if (r == 0) return i;
  if (nm == "floor") return i;
  if (nm == "ceil") return i + 1;
  if (nm == "round_prefer_ceil") return r < 0.5 ? i : i + 1;
  return r <= 0.5 ? i : i + 1;  // round_prefer_floor
}

// Keys' cubic kernel at distance d (|d| < 2, else 0).
double keys(double d, double a) {
  d = std::fabs(d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0.0;
}

// Antialiased taps (index, weight) for x_orig = floor + r on an axis downsampled by `scale` < 1.
std::vector<std::pair<int64_t, double>> antialiasTaps(int64_t floorIdx, double r, double scale,
                                                      bool cubic, double a) {
  int64_t base = floorIdx;
  double t = r;
  if (r == 0) {  // the left tap at distance 1, as for a fraction of 1
    base = floorIdx - 1;
    t = 1.0;
  }
  const int64_t k0 = static_cast<int64_t>(std::floor((cubic ? -2.0 : -1.0) / scale)) + 1;
  std::vector<std::pair<int64_t, double>> taps;
  double sum = 0;
  for (int64_t k = k0; k <= 1 - k0; ++k) {
    const double d = (static_cast<double>(k) - t) * scale;
    const double w = cubic ? keys(d, a) : std::max(0.0, 1.0 - std::fabs(d));
    taps.push_back({base + k, w});
    sum += w;
  }
  for (auto& tap : taps) tap.second /= sum;
  return taps;
}

// Keys' cubic convolution weights for taps at distances 1+r, r, 1-r, 2-r.
void cubicCoeffs(double r, double a, double c[4]) {
  const double s = 1 - r;
  c[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
  c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
  c[2] = ((a + 2) * s - (a + 3)) * s * s + 1;
  c[3] = ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a;
}

template <typename T>
double load(const T& v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

template <typename T>
void interpolate(const T* x, T* y, const std::vector<int64_t>& outDims,
                 const std::vector<AxisMap>& maps, double extrapolation) {
  const size_t rank = outDims.size();
  const int64_t total = ir::volumeOf(outDims);
  parallelFor(total, [&](int64_t b, int64_t e) {
    std::vector<int64_t> coord(rank, 0);
    int64_t rem = b;
    for (size_t a = rank; a-- > 0;) {
      coord[a] = rem % outDims[a];
      rem /= outDims[a];
    }
    std::vector<size_t> pick(rank, 0);
    for (int64_t o = b; o < e; ++o) {
      bool outside = false;
      for (size_t a = 0; a < rank; ++a) outside = outside || maps[a].outside[static_cast<size_t>(coord[a])];
      double acc = 0;
      if (outside) {
        acc = extrapolation;
      } else {
        // Odometer over the tap choices of every axis.
        std::fill(pick.begin(), pick.end(), 0);
        while (true) {
          int64_t off = 0;
          double w = 1;
          for (size_t a = 0; a < rank; ++a) {
            const Tap& t = maps[a].taps[static_cast<size_t>(coord[a])][pick[a]];
            off += t.offset;
            w *= t.weight;
          }
          acc += w * load(x[off]);
          size_t a = rank;
          while (a-- > 0) {
            if (++pick[a] < maps[a].taps[static_cast<size_t>(coord[a])].size()) break;
            pick[a] = 0;
          }
          if (a == static_cast<size_t>(-1)) break;
        }
      }
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
        y[o] = T(static_cast<float>(acc));
      } else {
        y[o] = static_cast<T>(acc);
      }
      for (size_t a = rank; a-- > 0;) {
        if (++coord[a] < outDims[a]) break;
        coord[a] = 0;
      }
    }
  }, 4096);
}

}  // namespace

Status resizeKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  const int64_t rank = x.rank();
  const std::string mode = ctx.attrs().getString("mode", "nearest");
  const std::string ctm = ctx.attrs().getString("coordinate_transformation_mode", "half_pixel");
  const std::string nm = ctx.attrs().getString("nearest_mode", "round_prefer_floor");
  const double cubicA = ctx.attrs().getFloat("cubic_coeff_a", -0.75f);
  const bool excludeOutside = ctx.attrs().getInt("exclude_outside", 0) != 0;
  const double extrapolation = ctx.attrs().getFloat("extrapolation_value", 0.f);
  const std::string policy = ctx.attrs().getString("keep_aspect_ratio_policy", "stretch");
  const bool antialias = ctx.attrs().getInt("antialias", 0) != 0;

  std::vector<int64_t> axes = ctx.attrs().getInts("axes");
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  for (int64_t& a : axes) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return ctx.error("resize axis out of range");
  }
  // Per-axis scale and roi (defaults: 1 and [0, 1]).
  std::vector<double> scale(static_cast<size_t>(rank), 1.0), roiStart(static_cast<size_t>(rank), 0.0),
      roiEnd(static_cast<size_t>(rank), 1.0);
  bool exactSizes = false;  // sizes given and used as they are: length_resized = out
  const size_t na = axes.size();
  if (ctx.hasInput(2) && ctx.inputs[2].numel() > 0) {
    if (static_cast<size_t>(ctx.inputs[2].numel()) != na) return ctx.error("scales has the wrong length");
    for (size_t k = 0; k < na; ++k) scale[static_cast<size_t>(axes[k])] = ctx.inputs[2].doubleAt(static_cast<int64_t>(k));
  } else if (ctx.hasInput(3)) {
    if (static_cast<size_t>(ctx.inputs[3].numel()) != na) return ctx.error("sizes has the wrong length");
    double common = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
    for (size_t k = 0; k < na; ++k) {
      const size_t a = static_cast<size_t>(axes[k]);
      const double r = static_cast<double>(ctx.inputs[3].intAt(static_cast<int64_t>(k))) / static_cast<double>(x.dims[a]);
      scale[a] = r;
      common = policy == "not_larger" ? std::min(common, r) : std::max(common, r);
    }
    if (policy != "stretch")
      for (size_t k = 0; k < na; ++k) scale[static_cast<size_t>(axes[k])] = common;
    exactSizes = policy == "stretch";
  } else {
    return ctx.error("needs scales or sizes");
  }
  if (ctm == "tf_crop_and_resize") {
    if (!ctx.hasInput(1) || static_cast<size_t>(ctx.inputs[1].numel()) != 2 * na)
      return ctx.error("roi must have 2 * %zu entries for tf_crop_and_resize", na);
    for (size_t k = 0; k < na; ++k) {
      roiStart[static_cast<size_t>(axes[k])] = ctx.inputs[1].doubleAt(static_cast<int64_t>(k));
      roiEnd[static_cast<size_t>(axes[k])] = ctx.inputs[1].doubleAt(static_cast<int64_t>(na + k));
    }
  }

  std::vector<int64_t> strides(static_cast<size_t>(rank), 1);
  for (size_t i = static_cast<size_t>(rank); i-- > 1;) strides[i - 1] = strides[i] * x.dims[i];
  std::vector<AxisMap> maps(static_cast<size_t>(rank));
  for (size_t a = 0; a < static_cast<size_t>(rank); ++a) {
    const int64_t in = x.dims[a], out = y.dims[a];
    if (in == 0 && out > 0) return ctx.error("cannot resize an empty axis %zu to %lld", a, static_cast<long long>(out));
    AxisMap& m = maps[a];
    m.taps.resize(static_cast<size_t>(out));
    m.outside.assign(static_cast<size_t>(out), false);
    auto clampIdx = [in](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
    for (int64_t c = 0; c < out; ++c) {
      std::vector<Tap>& taps = m.taps[static_cast<size_t>(c)];
      if (in == out && scale[a] == 1.0 && ctm != "tf_crop_and_resize") {
        taps.push_back({c * strides[a], 1.0});  // untouched axis
        continue;
      }
      const double lenResized =
          exactSizes ? static_cast<double>(out) : scale[a] * static_cast<double>(in);
      const double xo = originalCoordinate(ctm, static_cast<double>(c), scale[a], in, out,
                                           lenResized, roiStart[a], roiEnd[a]);
      if (ctm == "tf_crop_and_resize" && (xo < 0 || xo > static_cast<double>(in - 1))) {
        m.outside[static_cast<size_t>(c)] = true;
        taps.push_back({0, 0.0});
        continue;
      }
      if (mode == "nearest") {
        taps.push_back({clampIdx(nearestIndex(xo, nm)) * strides[a], 1.0});
        continue;
      }
      const double f = std::floor(xo);
      const double r = xo - f;
      const int64_t i0 = static_cast<int64_t>(f);
      std::vector<std::pair<int64_t, double>> raw;
      if (antialias && scale[a] < 1.0) {
        raw = antialiasTaps(i0, r, scale[a], mode == "cubic", cubicA);
      } else if (mode == "linear") {
        raw = {{i0, 1 - r}, {i0 + 1, r}};
      } else {
        double cf[4];
        cubicCoeffs(r, cubicA, cf);
        raw = {{i0 - 1, cf[0]}, {i0, cf[1]}, {i0 + 1, cf[2]}, {i0 + 2, cf[3]}};
      }
      if (excludeOutside) {  // any filter: out-of-range taps get 0, the rest renormalize
        double sum = 0;
        for (auto& [i, w] : raw) {
          if (i < 0 || i >= in) w = 0;
          sum += w;
        }
        for (auto& [i, w] : raw) w /= sum;
      }
      for (const auto& [i, w] : raw)
        if (w != 0) taps.push_back({clampIdx(i) * strides[a], w});
      if (taps.empty()) taps.push_back({clampIdx(i0) * strides[a], 0.0});
    }
  }
  switch (x.dtype) {
    case DataType::kFLOAT: interpolate(x.as<float>(), y.as<float>(), y.dims, maps, extrapolation); break;
    case DataType::kDOUBLE: interpolate(x.as<double>(), y.as<double>(), y.dims, maps, extrapolation); break;
    case DataType::kHALF: interpolate(x.as<Half>(), y.as<Half>(), y.dims, maps, extrapolation); break;
    case DataType::kBF16: interpolate(x.as<BFloat16>(), y.as<BFloat16>(), y.dims, maps, extrapolation); break;
    default: return ctx.unsupportedType(x.dtype);
  }
  return Status::ok();
}

}  // namespace kiln::cpu
