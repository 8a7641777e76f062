// CPU reference kernels for the indexing group of ops.def: BitwiseAnd/Or/Xor, LpPool, Hardmax,
// LpNormalization, MeanVarianceNormalization, LRN, CumSum, Trilu, GatherND, ScatterElements,
// ScatterND, OneHot.
//
// Floating-point math is done in double and stored once in the output type. Index data is
// checked at run time: an index out of range is an error naming the node, never a wild write.
// Pure data movement (Trilu, GatherND, OneHot, Scatter* without reduction) copies elements by
// their byte size, so it works for every data type.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/elementwise_util.h"
#include "ir/window_params.h"

namespace kiln::cpu {

namespace {

// Row-major strides in elements.
std::vector<int64_t> stridesOf(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

int64_t product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < dims.size(); ++i) p *= dims[i];
  return p;
}

// Normalizes axis into [0, rank); false when out of range.
bool normalizeAxis(int64_t& axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return false;
  if (axis < 0) axis += rank;
  return true;
}

// Normalizes index i of an axis of size n (negative counts from the end); false when outside
// [-n, n).
bool normalizeIndex(int64_t& i, int64_t n) {
  if (i < -n || i >= n) return false;
  if (i < 0) i += n;
  return true;
}

// Views a tensor as [outer, n, inner] around `axis`.
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisView axisView(const std::vector<int64_t>& dims, int64_t axis) {
  const auto a = static_cast<size_t>(axis);
  return {product(dims, 0, a), dims[a], product(dims, a + 1, dims.size())};
}

// --- BitwiseAnd / BitwiseOr / BitwiseXor ----------------------------------------------------------

template <typename Op>
Status bitwiseKernel(CpuKernelContext& ctx, Op op) {
  return ew::dispatchType<ew::kSetInt>(ctx, ctx.outputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return ew::binaryMap<T, T, T>(ctx, ctx.inputs[0], ctx.inputs[1], ctx.outputs[0],
                                  [&](T a, T b) { return static_cast<T>(op(a, b)); });
  });
}
Status bitwiseAndKernel(CpuKernelContext& ctx) {
  return bitwiseKernel(ctx, [](auto a, auto b) { return a & b; });
}
Status bitwiseOrKernel(CpuKernelContext& ctx) {
  return bitwiseKernel(ctx, [](auto a, auto b) { return a | b; });
}
Status bitwiseXorKernel(CpuKernelContext& ctx) {
  return bitwiseKernel(ctx, [](auto a, auto b) { return a ^ b; });
}

// --- LpPool ---------------------------------------------------------------------------------------

// y = (sum over the window's in-bounds taps of |x|^p)^(1/p). Padding contributes 0 (it is zero
// padding), so a window that sees only padding yields 0.
Status lpPoolKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  if (x.rank() < 3) return ctx.error("input must have rank >= 3, got %s", ir::dimsToString(x.dims).c_str());
  const size_t nsp = static_cast<size_t>(x.rank() - 2);
  KILN_ASSIGN_OR_RETURN(ir::WindowParams w, ir::parseWindowParams(ctx.attrs(), nsp, {}, true, ctx.node.describe()));
  const auto p = static_cast<double>(ctx.attrs().getInt("p", 2));
  if (p < 1) return ctx.error("p must be a positive integer, got %g", p);
  const std::vector<int64_t> in(x.dims.begin() + 2, x.dims.end());
  const std::vector<int64_t> out(y.dims.begin() + 2, y.dims.end());
  for (size_t i = 0; i < nsp; ++i) {
    const ir::DimExpr o = ir::windowOutputDim(w, i, ir::DimExpr(in[i]));
    if (!o.isConst() || o.constValue() != out[i])
      return internalError("%s: output dims %s disagree with the pooling geometry", ctx.node.describe().c_str(),
                           ir::dimsToString(y.dims).c_str());
  }
  const std::vector<int64_t> pads = ir::resolveWindowPads(w, in);
  const int64_t planes = x.dims[0] * x.dims[1];
  const int64_t inVol = product(in, 0, nsp), outVol = product(out, 0, nsp);
  const int64_t kernelVol = product(w.kernel, 0, nsp);
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = y.as<T>();
    std::vector<int64_t> oc(nsp), kc(nsp);
    for (int64_t plane = 0; plane < planes; ++plane) {
      std::fill(oc.begin(), oc.end(), 0);
      for (int64_t o = 0; o < outVol; ++o) {
        double sum = 0;
        std::fill(kc.begin(), kc.end(), 0);
        for (int64_t k = 0; k < kernelVol; ++k) {
          int64_t row = 0;
          bool inside = true;
          for (size_t d = 0; d < nsp; ++d) {
            const int64_t pos = oc[d] * w.strides[d] - pads[d] + kc[d] * w.dilations[d];
            inside = inside && pos >= 0 && pos < in[d];
            row = row * in[d] + pos;
          }
          if (inside) sum += std::pow(std::fabs(loadAsDouble(xp[plane * inVol + row])), p);
          for (size_t d = nsp; d-- > 0;) {
            if (++kc[d] < w.kernel[d]) break;
            kc[d] = 0;
          }
        }
        yp[plane * outVol + o] = storeFromDouble<T>(std::pow(sum, 1.0 / p));
        for (size_t d = nsp; d-- > 0;) {
          if (++oc[d] < out[d]) break;
          oc[d] = 0;
        }
      }
    }
    return Status::ok();
  });
}

// --- Hardmax, LpNormalization -----------------------------------------------------------------

StatusOr<AxisView> axisViewOf(const CpuKernelContext& ctx, const CpuTensor& x) {
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (!normalizeAxis(axis, x.rank()))
    return ctx.error("axis %lld is out of range for input of shape %s", static_cast<long long>(axis),
                     ir::dimsToString(x.dims).c_str());
  return axisView(x.dims, axis);
}

// Hardmax: 1 at the first maximum along the axis, 0 elsewhere (a NaN counts as the maximum, as
// in numpy.argmax).
Status hardmaxKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  KILN_ASSIGN_OR_RETURN(AxisView v, axisViewOf(ctx, x));
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = ctx.outputs[0].as<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        const int64_t base = o * v.n * v.inner + i;
        int64_t best = 0;
        double bestV = loadAsDouble(xp[base]);
        for (int64_t j = 1; j < v.n && !std::isnan(bestV); ++j) {
          const double cur = loadAsDouble(xp[base + j * v.inner]);
          if (cur > bestV || std::isnan(cur)) {
            bestV = cur;
            best = j;
          }
        }
        for (int64_t j = 0; j < v.n; ++j) yp[base + j * v.inner] = storeFromDouble<T>(j == best ? 1.0 : 0.0);
      }
    }
    return Status::ok();
  });
}

// LpNormalization: y = x / ||x||_p along the axis, ||x||_1 = sum |x|, ||x||_2 = sqrt(sum x^2).
// A vector whose norm is 0 (all zeros) stays 0 instead of 0/0 = NaN, as onnxruntime does and
// ONNX's conformance outputs (onnx 1.23) expect.
Status lpNormalizationKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t p = ctx.attrs().getInt("p", 2);
  if (p != 1 && p != 2) return ctx.error("p must be 1 or 2, got %lld", static_cast<long long>(p));
  KILN_ASSIGN_OR_RETURN(AxisView v, axisViewOf(ctx, x));
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = ctx.outputs[0].as<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        const int64_t base = o * v.n * v.inner + i;
        double acc = 0;
        for (int64_t j = 0; j < v.n; ++j) {
          const double e = loadAsDouble(xp[base + j * v.inner]);
          acc += p == 1 ? std::fabs(e) : e * e;
        }
        const double norm = p == 1 ? acc : std::sqrt(acc);
        for (int64_t j = 0; j < v.n; ++j)
          yp[base + j * v.inner] = storeFromDouble<T>(norm == 0 ? 0.0 : loadAsDouble(xp[base + j * v.inner]) / norm);
      }
    }
    return Status::ok();
  });
}

// --- MeanVarianceNormalization ----------------------------------------------------------------

// Per group of elements that agree on every axis outside `axes`:
//   y = (x - mean) / (sqrt(var) + 1e-9),  var = mean((x - mean)^2)
// (ONNX's function body computes var as E[x^2] - E[x]^2 and adds the epsilon to the standard
// deviation; the two-pass variance is the same quantity without the cancellation.)
Status meanVarianceNormalizationKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t rank = x.rank();
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t a : ctx.attrs().getInts("axes", {0, 2, 3})) {
    if (!normalizeAxis(a, rank))
      return ctx.error("axes entry %lld is out of range for input of shape %s", static_cast<long long>(a),
                       ir::dimsToString(x.dims).c_str());
    reduced[static_cast<size_t>(a)] = true;
  }
  // group(e) = e's coordinates on the kept axes, flattened.
  const int64_t n = x.numel();
  std::vector<int64_t> group(static_cast<size_t>(n));
  int64_t numGroups = 1;
  for (int64_t a = 0; a < rank; ++a)
    if (!reduced[static_cast<size_t>(a)]) numGroups *= x.dims[static_cast<size_t>(a)];
  {
    std::vector<int64_t> coord(static_cast<size_t>(rank), 0);
    for (int64_t e = 0; e < n; ++e) {
      int64_t g = 0;
      for (size_t a = 0; a < static_cast<size_t>(rank); ++a)
        if (!reduced[a]) g = g * x.dims[a] + coord[a];
      group[static_cast<size_t>(e)] = g;
      for (size_t a = static_cast<size_t>(rank); a-- > 0;) {
        if (++coord[a] < x.dims[a]) break;
        coord[a] = 0;
      }
    }
  }
  const double count = numGroups == 0 ? 0.0 : static_cast<double>(n / numGroups);
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = ctx.outputs[0].as<T>();
    std::vector<double> mean(static_cast<size_t>(numGroups), 0.0), var(static_cast<size_t>(numGroups), 0.0);
    for (int64_t e = 0; e < n; ++e) mean[static_cast<size_t>(group[static_cast<size_t>(e)])] += loadAsDouble(xp[e]);
    for (double& m : mean) m /= count;
    for (int64_t e = 0; e < n; ++e) {
      const auto g = static_cast<size_t>(group[static_cast<size_t>(e)]);
      const double d = loadAsDouble(xp[e]) - mean[g];
      var[g] += d * d;
    }
    for (double& v : var) v /= count;
    for (int64_t e = 0; e < n; ++e) {
      const auto g = static_cast<size_t>(group[static_cast<size_t>(e)]);
      yp[e] = storeFromDouble<T>((loadAsDouble(xp[e]) - mean[g]) / (std::sqrt(var[g]) + 1e-9));
    }
    return Status::ok();
  });
}

// --- LRN ------------------------------------------------------------------------------------------

// Across channels: for channel c the window is [c - floor((size-1)/2), c + ceil((size-1)/2)]
// clipped to [0, C-1];  y = x / (bias + alpha / size * sum over the window of x^2)^beta.
Status lrnKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  if (x.rank() < 2) return ctx.error("input must have rank >= 2, got %s", ir::dimsToString(x.dims).c_str());
  const int64_t size = ctx.attrs().getInt("size", 0);
  if (size < 1) return ctx.error("size must be >= 1, got %lld", static_cast<long long>(size));
  const double alpha = ctx.attrs().getFloat("alpha", 1e-4f);
  const double beta = ctx.attrs().getFloat("beta", 0.75f);
  const double bias = ctx.attrs().getFloat("bias", 1.0f);
  const int64_t before = (size - 1) / 2, after = size - 1 - before;  // floor and ceil of (size-1)/2
  const AxisView v = axisView(x.dims, 1);
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = ctx.outputs[0].as<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t c = 0; c < v.n; ++c) {
        const int64_t lo = std::max<int64_t>(0, c - before), hi = std::min(v.n - 1, c + after);
        for (int64_t i = 0; i < v.inner; ++i) {
          double sq = 0;
          for (int64_t j = lo; j <= hi; ++j) {
            const double e = loadAsDouble(xp[(o * v.n + j) * v.inner + i]);
            sq += e * e;
          }
          const int64_t at = (o * v.n + c) * v.inner + i;
          yp[at] = storeFromDouble<T>(loadAsDouble(xp[at]) / std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
        }
      }
    }
    return Status::ok();
  });
}

// --- CumSum, CumProd -----------------------------------------------------------------------------

// y[j] = sum (CumSum) or product (CumProd) of x[i] for i <= j (exclusive: i < j; reverse: i >= j
// / i > j) along the axis. Floats accumulate in double; integers wrap (accumulated modulo 2^64,
// then truncated, which is the same as wrapping in the element type, for sums and products).
template <bool kProduct>
Status cumulativeKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  int64_t axis = ctx.inputs[1].intAt(0);
  if (!normalizeAxis(axis, x.rank()))
    return ctx.error("axis %lld is out of range for input of shape %s",
                     static_cast<long long>(axis), ir::dimsToString(x.dims).c_str());
  const bool exclusive = ctx.attrs().getInt("exclusive", 0) != 0;
  const bool reverse = ctx.attrs().getInt("reverse", 0) != 0;
  const AxisView v = axisView(x.dims, axis);
  return ew::dispatchType<ew::kSetNumeric>(ctx, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = std::conditional_t<ew::kIsFloat<T>, double, uint64_t>;
    const T* xp = x.as<const T>();
    T* yp = ctx.outputs[0].as<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        Acc acc{kProduct ? 1 : 0};
        for (int64_t s = 0; s < v.n; ++s) {
          const int64_t j = reverse ? v.n - 1 - s : s;
          const int64_t at = (o * v.n + j) * v.inner + i;
          Acc e;
          if constexpr (ew::kIsFloat<T>) {
            e = loadAsDouble(xp[at]);
          } else {
            e = static_cast<uint64_t>(xp[at]);
          }
          auto accumulate = [&] {
            if constexpr (kProduct) {
              acc *= e;
            } else {
              acc += e;
            }
          };
          if (!exclusive) accumulate();
          if constexpr (ew::kIsFloat<T>) {
            yp[at] = storeFromDouble<T>(acc);
          } else {
            yp[at] = static_cast<T>(acc);
          }
          if (exclusive) accumulate();
        }
      }
    }
    return Status::ok();
  });
}

// --- Trilu ----------------------------------------------------------------------------------------

// Over the last two dims [N, M]: upper keeps elements with j - i >= k, lower those with
// j - i <= k; the rest are zero.
Status triluKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  if (x.rank() < 2) return ctx.error("input must have rank >= 2, got %s", ir::dimsToString(x.dims).c_str());
  int64_t k = 0;
  if (ctx.hasInput(1)) {
    if (ctx.inputs[1].numel() != 1)
      return ctx.error("k must have one element, got %lld", static_cast<long long>(ctx.inputs[1].numel()));
    k = ctx.inputs[1].intAt(0);
  }
  const bool upper = ctx.attrs().getInt("upper", 1) != 0;
  const size_t es = dataTypeSize(x.dtype);
  const int64_t rows = x.dims[static_cast<size_t>(x.rank() - 2)], cols = x.dims[static_cast<size_t>(x.rank() - 1)];
  const int64_t mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  const auto* src = static_cast<const uint8_t*>(x.data);
  auto* dst = static_cast<uint8_t*>(y.data);
  for (int64_t m = 0; m < mats; ++m) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t diag = j - i;  // |j - i| < 2^62: no overflow against any k
        const bool keep = upper ? diag >= k : diag <= k;
        const auto at = static_cast<size_t>((m * rows + i) * cols + j) * es;
        if (keep) {
          std::memcpy(dst + at, src + at, es);
        } else {
          std::memset(dst + at, 0, es);  // all-zero bytes are 0 in every data type
        }
      }
    }
  }
  return Status::ok();
}

// --- GatherND -------------------------------------------------------------------------------------

// With b = batch_dims and m = the index tuple length, data viewed as [B, D_b..D_{b+m-1}, S]
// and indices as [B, J, m]: out[bi, j, :] = data[bi, idx[bi, j, 0], ..., idx[bi, j, m-1], :].
Status gatherNDKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& idx = ctx.inputs[1];
  const int64_t b = ctx.attrs().getInt("batch_dims", 0);
  const int64_t r = x.rank(), q = idx.rank();
  if (q < 1 || b < 0 || b >= std::min(r, q)) return ctx.error("batch_dims=%lld is invalid", static_cast<long long>(b));
  const int64_t m = idx.dims.back();
  if (m < 1 || b + m > r) return ctx.error("the last dim of indices (%lld) is invalid", static_cast<long long>(m));
  const auto ub = static_cast<size_t>(b), um = static_cast<size_t>(m);
  for (size_t i = 0; i < ub; ++i)
    if (x.dims[i] != idx.dims[i])
      return ctx.error("batch dim %zu differs between data (%lld) and indices (%lld)", i,
                       static_cast<long long>(x.dims[i]), static_cast<long long>(idx.dims[i]));
  const int64_t batches = product(x.dims, 0, ub);
  const int64_t tuples = product(idx.dims, ub, idx.dims.size() - 1);  // per batch
  const int64_t slice = product(x.dims, ub + um, x.dims.size());
  const int64_t batchStride = product(x.dims, ub, x.dims.size());
  const std::vector<int64_t> xs = stridesOf(x.dims);
  const size_t es = dataTypeSize(x.dtype);
  const auto* src = static_cast<const uint8_t*>(x.data);
  auto* dst = static_cast<uint8_t*>(ctx.outputs[0].data);
  for (int64_t bi = 0; bi < batches; ++bi) {
    for (int64_t j = 0; j < tuples; ++j) {
      const int64_t t = bi * tuples + j;
      int64_t off = bi * batchStride;
      for (size_t k = 0; k < um; ++k) {
        int64_t i = idx.intAt(t * m + static_cast<int64_t>(k));
        const int64_t n = x.dims[ub + k];
        if (!normalizeIndex(i, n))
          return ctx.error("index %lld (index tuple %lld, position %zu) is out of range for data dim %zu of size %lld",
                           static_cast<long long>(idx.intAt(t * m + static_cast<int64_t>(k))),
                           static_cast<long long>(t), k, ub + k, static_cast<long long>(n));
        off += i * xs[ub + k];
      }
      std::memcpy(dst + static_cast<size_t>(t * slice) * es, src + static_cast<size_t>(off) * es,
                  static_cast<size_t>(slice) * es);
    }
  }
  return Status::ok();
}

// --- ScatterElements, ScatterND ---------------------------------------------------------------

enum class Reduction : uint8_t { kNone, kAdd, kMul, kMax, kMin };

StatusOr<Reduction> reductionOf(const CpuKernelContext& ctx) {
  const std::string r = ctx.attrs().getString("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return ctx.error("reduction must be \"none\", \"add\", \"mul\", \"max\" or \"min\", got \"%s\"", r.c_str());
}

// Applies updates to the output: out[dstOff[u]] = red(out[dstOff[u]], upd[u]) for u in order
// (with "none" a later update of one element replaces an earlier one). Integer add/mul wrap;
// bool add is "or" and mul is "and".
template <typename T>
void applyUpdates(Reduction red, T* out, const T* upd, const std::vector<int64_t>& dstOff) {
  for (size_t u = 0; u < dstOff.size(); ++u) {
    T& o = out[dstOff[u]];
    const T v = upd[u];
    if constexpr (std::is_same_v<T, bool>) {
      switch (red) {
        case Reduction::kNone: o = v; break;
        case Reduction::kAdd:
        case Reduction::kMax: o = o || v; break;
        case Reduction::kMul:
        case Reduction::kMin: o = o && v; break;
      }
    } else {
      using C = ew::Compute<T>;
      const C a = ew::load(o), c = ew::load(v);
      switch (red) {
        case Reduction::kNone: o = v; break;
        case Reduction::kAdd:
          if constexpr (ew::kIsInt<T>) o = ew::wrapAdd(o, v);
          else o = ew::store<T>(a + c);
          break;
        case Reduction::kMul:
          if constexpr (ew::kIsInt<T>) o = ew::wrapMul(o, v);
          else o = ew::store<T>(a * c);
          break;
        case Reduction::kMax: o = ew::store<T>(a < c ? c : a); break;
        case Reduction::kMin: o = ew::store<T>(c < a ? c : a); break;
      }
    }
  }
}

// Copies data to the output, then applies the updates at the given element offsets.
Status scatterInto(CpuKernelContext& ctx, const std::vector<int64_t>& dstOff) {
  KILN_ASSIGN_OR_RETURN(Reduction red, reductionOf(ctx));
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  std::memcpy(y.data, x.data, static_cast<size_t>(x.numel()) * dataTypeSize(x.dtype));
  if (red == Reduction::kNone) {
    const size_t es = dataTypeSize(x.dtype);
    const auto* upd = static_cast<const uint8_t*>(ctx.inputs[2].data);
    auto* dst = static_cast<uint8_t*>(y.data);
    for (size_t u = 0; u < dstOff.size(); ++u)
      std::memcpy(dst + static_cast<size_t>(dstOff[u]) * es, upd + u * es, es);
    return Status::ok();
  }
  return ew::dispatchType<ew::kSetAll>(ctx, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    applyUpdates<T>(red, y.as<T>(), ctx.inputs[2].as<const T>(), dstOff);
    return Status::ok();
  });
}

// ScatterElements: update element at coordinate c (in indices' shape) goes to c with its axis
// coordinate replaced by indices[c].
Status scatterElementsKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& idx = ctx.inputs[1];
  const CpuTensor& upd = ctx.inputs[2];
  const int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", 0);
  if (!normalizeAxis(axis, rank) || idx.rank() != rank || upd.dims != idx.dims)
    return ctx.error("data %s, indices %s and updates %s do not fit (same rank, indices and updates "
                     "of one shape, axis in range)",
                     ir::dimsToString(x.dims).c_str(), ir::dimsToString(idx.dims).c_str(),
                     ir::dimsToString(upd.dims).c_str());
  for (size_t a = 0; a < static_cast<size_t>(rank); ++a)
    if (static_cast<int64_t>(a) != axis && idx.dims[a] > x.dims[a])
      return ctx.error("indices dim %zu (%lld) exceeds the data's (%lld)", a, static_cast<long long>(idx.dims[a]),
                       static_cast<long long>(x.dims[a]));
  const std::vector<int64_t> xs = stridesOf(x.dims);
  const int64_t n = x.dims[static_cast<size_t>(axis)];
  std::vector<int64_t> dstOff(static_cast<size_t>(idx.numel()));
  std::vector<int64_t> coord(static_cast<size_t>(rank), 0);
  for (int64_t u = 0; u < idx.numel(); ++u) {
    int64_t i = idx.intAt(u);
    if (!normalizeIndex(i, n))
      return ctx.error("index %lld is out of range for axis %lld of size %lld", static_cast<long long>(idx.intAt(u)),
                       static_cast<long long>(axis), static_cast<long long>(n));
    int64_t off = 0;
    for (size_t a = 0; a < static_cast<size_t>(rank); ++a)
      off += (static_cast<int64_t>(a) == axis ? i : coord[a]) * xs[a];
    dstOff[static_cast<size_t>(u)] = off;
    for (size_t a = static_cast<size_t>(rank); a-- > 0;) {
      if (++coord[a] < idx.dims[a]) break;
      coord[a] = 0;
    }
  }
  return scatterInto(ctx, dstOff);
}

// ScatterND: index tuple t (length m) addresses the slice data[idx[t][0], ..., idx[t][m-1], :]
// of `slice` elements, which receives updates[t, :].
Status scatterNDKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& idx = ctx.inputs[1];
  if (idx.rank() < 1) return ctx.error("indices must have rank >= 1");
  const int64_t m = idx.dims.back();
  if (m < 1 || m > x.rank()) return ctx.error("the last dim of indices (%lld) is invalid", static_cast<long long>(m));
  const auto um = static_cast<size_t>(m);
  const int64_t tuples = m == 0 ? 0 : idx.numel() / m;
  const int64_t slice = product(x.dims, um, x.dims.size());
  if (ctx.inputs[2].numel() != tuples * slice)
    return ctx.error("updates have %lld elements, expected %lld", static_cast<long long>(ctx.inputs[2].numel()),
                     static_cast<long long>(tuples * slice));
  const std::vector<int64_t> xs = stridesOf(x.dims);
  std::vector<int64_t> dstOff;
  dstOff.reserve(static_cast<size_t>(tuples * slice));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (size_t k = 0; k < um; ++k) {
      int64_t i = idx.intAt(t * m + static_cast<int64_t>(k));
      if (!normalizeIndex(i, x.dims[k]))
        return ctx.error("index %lld (index tuple %lld, position %zu) is out of range for data dim %zu of size %lld",
                         static_cast<long long>(idx.intAt(t * m + static_cast<int64_t>(k))),
                         static_cast<long long>(t), k, k, static_cast<long long>(x.dims[k]));
      off += i * xs[k];
    }
    for (int64_t e = 0; e < slice; ++e) dstOff.push_back(off + e);
  }
  return scatterInto(ctx, dstOff);
}

// --- OneHot ---------------------------------------------------------------------------------------

// out has indices' dims with depth inserted at axis; out[o, d, i] = on when the index at [o, i]
// (negative ones count from depth) equals d, else off. Indices outside [-depth, depth) give a
// row of off values. Float indices are truncated toward zero.
Status oneHotKernel(CpuKernelContext& ctx) {
  const CpuTensor& idx = ctx.inputs[0];
  const CpuTensor& values = ctx.inputs[2];
  CpuTensor& y = ctx.outputs[0];
  if (values.numel() != 2) return ctx.error("values must have 2 elements, got %lld", static_cast<long long>(values.numel()));
  const double depthD = ctx.inputs[1].doubleAt(0);
  const int64_t rank = idx.rank();
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (!normalizeAxis(axis, rank + 1))
    return ctx.error("axis %lld is out of range for indices of rank %lld", static_cast<long long>(axis),
                     static_cast<long long>(rank));
  const int64_t depth = y.dims[static_cast<size_t>(axis)];
  if (!(std::trunc(depthD) == static_cast<double>(depth)))
    return ctx.error("depth %g differs from the %lld the engine was built for", depthD, static_cast<long long>(depth));
  const int64_t outer = product(idx.dims, 0, static_cast<size_t>(axis));
  const int64_t inner = product(idx.dims, static_cast<size_t>(axis), idx.dims.size());
  const size_t es = dataTypeSize(values.dtype);
  const auto* off = static_cast<const uint8_t*>(values.data);
  const uint8_t* on = off + es;
  auto* dst = static_cast<uint8_t*>(y.data);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const double raw = idx.doubleAt(o * inner + i);
      int64_t hot = -1;
      if (std::isfinite(raw) && std::fabs(raw) < 9.0e18) {
        hot = static_cast<int64_t>(raw);
        if (!normalizeIndex(hot, depth)) hot = -1;
      }
      for (int64_t d = 0; d < depth; ++d)
        std::memcpy(dst + static_cast<size_t>((o * depth + d) * inner + i) * es, d == hot ? on : off, es);
    }
  }
  return Status::ok();
}

}  // namespace

void registerIndexingKernels(CpuKernelTable& t) {
  auto set = [&t](ir::OpKind op, CpuKernelFn fn) { t[static_cast<size_t>(op)] = fn; };
  set(ir::OpKind::kBitwiseAnd, &bitwiseAndKernel);
  set(ir::OpKind::kBitwiseOr, &bitwiseOrKernel);
  set(ir::OpKind::kBitwiseXor, &bitwiseXorKernel);
  set(ir::OpKind::kLpPool, &lpPoolKernel);
  set(ir::OpKind::kHardmax, &hardmaxKernel);
  set(ir::OpKind::kLpNormalization, &lpNormalizationKernel);
  set(ir::OpKind::kMeanVarianceNormalization, &meanVarianceNormalizationKernel);
  set(ir::OpKind::kLRN, &lrnKernel);
  set(ir::OpKind::kCumSum, &cumulativeKernel<false>);
  set(ir::OpKind::kCumProd, &cumulativeKernel<true>);
  set(ir::OpKind::kTrilu, &triluKernel);
  set(ir::OpKind::kGatherND, &gatherNDKernel);
  set(ir::OpKind::kScatterElements, &scatterElementsKernel);
  set(ir::OpKind::kScatterND, &scatterNDKernel);
  set(ir::OpKind::kOneHot, &oneHotKernel);
}

}  // namespace kiln::cpu
