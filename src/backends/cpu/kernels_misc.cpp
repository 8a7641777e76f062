// CPU reference kernels for the losses and small ops of ops.def (group "misc"):
// SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss, Swish, SwiGLU, EyeLike, ReverseSequence,
// Det, HannWindow, HammingWindow, BlackmanWindow.
//
// Floating-point math is done in double and stored once in the output type. Label values are
// checked at run time: a label outside [0, C) that is not ignore_index is an error naming the
// node. ReverseSequence moves elements by their byte size, so it works for every data type.
#include <cmath>
#include <cstring>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/elementwise_util.h"

namespace kiln::cpu {

namespace {

// --- SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss ------------------------------------------

// Inputs viewed as x [N, C, D] and labels [N, D] (D = d1 * ... * dk, 1 for 2-D inputs). With
// lp[n, c, d] the log-probabilities (SoftmaxCrossEntropyLoss: LogSoftmax of the scores over C;
// NegativeLogLikelihoodLoss: the input itself), label c = labels[n, d] and w = weights[c] (1
// without weights):
//   loss[n, d] = -lp[n, c, d] * w, and 0 with w = 0 when c == ignore_index;
//   "none": loss; "sum": sum(loss); "mean": sum(loss) / sum(w) (the plain mean without weights
//   and ignored labels). Everything accumulates in double.
template <typename T>
Status lossTyped(CpuKernelContext& ctx, bool softmax) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& labels = ctx.inputs[1];
  const bool hasWeights = ctx.hasInput(2);
  const int64_t n = x.dims[0], c = x.dims[1];
  int64_t d = 1;  // d1 * ... * dk, from the labels (defined even when C = 0)
  for (size_t k = 1; k < labels.dims.size(); ++k) d *= labels.dims[k];
  const std::string reduction = ctx.attrs().getString("reduction", "mean");
  const bool hasIgnore = ctx.attrs().has("ignore_index");
  const int64_t ignore = ctx.attrs().getInt("ignore_index", 0);
  const T* xp = x.as<const T>();

  // Log-probabilities as doubles, [N, C, D].
  std::vector<double> lp(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      auto at = [&](int64_t k) { return (i * c + k) * d + j; };
      if (!softmax) {
        for (int64_t k = 0; k < c; ++k) lp[static_cast<size_t>(at(k))] = loadAsDouble(xp[at(k)]);
        continue;
      }
      double m = -INFINITY;
      for (int64_t k = 0; k < c; ++k) m = std::max(m, loadAsDouble(xp[at(k)]));
      double s = 0;
      for (int64_t k = 0; k < c; ++k) s += std::exp(loadAsDouble(xp[at(k)]) - m);
      const double logSum = m + std::log(s);
      for (int64_t k = 0; k < c; ++k)
        lp[static_cast<size_t>(at(k))] = loadAsDouble(xp[at(k)]) - logSum;
    }
  }
  if (softmax && ctx.outputs.size() > 1 && ctx.outputs[1].present()) {
    T* out = ctx.outputs[1].as<T>();
    for (int64_t e = 0; e < x.numel(); ++e) out[e] = storeFromDouble<T>(lp[static_cast<size_t>(e)]);
  }

  std::vector<double> loss(static_cast<size_t>(n * d));
  double lossSum = 0, weightSum = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      const int64_t label = labels.intAt(i * d + j);
      double l = 0;
      if (!(hasIgnore && label == ignore)) {
        if (label < 0 || label >= c)
          return ctx.error(
              "label %lld at flat index %lld is outside [0, %lld) and is not ignore_index",
              static_cast<long long>(label), static_cast<long long>(i * d + j),
              static_cast<long long>(c));
        const double w = hasWeights ? ctx.inputs[2].doubleAt(label) : 1.0;
        l = -lp[static_cast<size_t>((i * c + label) * d + j)] * w;
        weightSum += w;
      }
      loss[static_cast<size_t>(i * d + j)] = l;
      lossSum += l;
    }
  }
  T* out = ctx.outputs[0].as<T>();
  if (reduction == "none") {
    for (size_t e = 0; e < loss.size(); ++e) out[e] = storeFromDouble<T>(loss[e]);
  } else if (reduction == "sum") {
    out[0] = storeFromDouble<T>(lossSum);
  } else if (reduction == "mean") {
    out[0] = storeFromDouble<T>(lossSum / weightSum);  // NaN when every label is ignored
  } else {
    return ctx.error("reduction must be \"none\", \"sum\" or \"mean\", got \"%s\"",
                     reduction.c_str());
  }
  return Status::ok();
}

Status lossKernel(CpuKernelContext& ctx) {
  const bool softmax = ctx.node.op == ir::OpKind::kSoftmaxCrossEntropyLoss;
  const CpuTensor& x = ctx.inputs[0];
  if (x.rank() < 2 || ctx.inputs[1].rank() != x.rank() - 1)
    return ctx.error("expects inputs of shapes [N, C, d...] and [N, d...], got %s and %s",
                     ir::dimsToString(x.dims).c_str(),
                     ir::dimsToString(ctx.inputs[1].dims).c_str());
  if (ctx.hasInput(2) && ctx.inputs[2].numel() != x.dims[1])
    return ctx.error("weights must have C = %lld elements, got %lld",
                     static_cast<long long>(x.dims[1]),
                     static_cast<long long>(ctx.inputs[2].numel()));
  return dispatchFloatTypes(ctx, x.dtype,
                            [&](auto tag) { return lossTyped<decltype(tag)>(ctx, softmax); });
}

// --- Swish, SwiGLU
// --------------------------------------------------------------------------------

double swish(double x, double alpha) { return x / (1.0 + std::exp(-alpha * x)); }

Status swishKernel(CpuKernelContext& ctx) {
  const double alpha = ctx.attrs().getFloat("alpha", 1.f);
  const CpuTensor& x = ctx.inputs[0];
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = ctx.outputs[0].as<T>();
    for (int64_t i = 0; i < x.numel(); ++i)
      yp[i] = storeFromDouble<T>(swish(loadAsDouble(xp[i]), alpha));
    return Status::ok();
  });
}

// Y = Swish_alpha(A) * B, elementwise over identical shapes.
Status swiGluKernel(CpuKernelContext& ctx) {
  const double alpha = ctx.attrs().getFloat("alpha", 1.f);
  const CpuTensor& a = ctx.inputs[0];
  const CpuTensor& b = ctx.inputs[1];
  if (a.dims != b.dims)
    return ctx.error("A and B must have the same shape, got %s and %s",
                     ir::dimsToString(a.dims).c_str(), ir::dimsToString(b.dims).c_str());
  return dispatchFloatTypes(ctx, a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* ap = a.as<const T>();
    const T* bp = b.as<const T>();
    T* yp = ctx.outputs[0].as<T>();
    for (int64_t i = 0; i < a.numel(); ++i)
      yp[i] = storeFromDouble<T>(swish(loadAsDouble(ap[i]), alpha) * loadAsDouble(bp[i]));
    return Status::ok();
  });
}

// --- EyeLike, ReverseSequence, Det
// ----------------------------------------------------------------

// Ones where column - row == k, zeros elsewhere.
Status eyeLikeKernel(CpuKernelContext& ctx) {
  CpuTensor& y = ctx.outputs[0];
  const int64_t k = ctx.attrs().getInt("k", 0);
  const int64_t rows = y.dims[0], cols = y.dims[1];
  return ew::dispatchType<ew::kSetAll>(ctx, y.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* yp = y.as<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t col = 0; col < cols; ++col)
        yp[r * cols + col] = storeFromDouble<T>(col - r == k ? 1.0 : 0.0);
    return Status::ok();
  });
}

// For batch entry b, the first sequence_lens[b] steps along the time axis are reversed and the
// rest copied. batch_axis and time_axis are 0 and 1 in some order; dims past them are moved
// together as one block.
Status reverseSequenceKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& lens = ctx.inputs[1];
  const bool timeFirst = ctx.attrs().getInt("time_axis", 0) == 0;
  const int64_t d0 = x.dims[0], d1 = x.dims[1];
  const int64_t batch = timeFirst ? d1 : d0, steps = timeFirst ? d0 : d1;
  if (lens.numel() != batch)
    return ctx.error("sequence_lens has %lld entries for a batch of %lld",
                     static_cast<long long>(lens.numel()), static_cast<long long>(batch));
  const size_t block =
      dataTypeSize(x.dtype) * static_cast<size_t>(d0 == 0 || d1 == 0 ? 0 : x.numel() / (d0 * d1));
  auto offset = [&](int64_t b, int64_t t) {
    return static_cast<size_t>(timeFirst ? t * d1 + b : b * d1 + t) * block;
  };
  const auto* src = static_cast<const uint8_t*>(x.data);
  auto* dst = static_cast<uint8_t*>(ctx.outputs[0].data);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = lens.intAt(b);
    if (len < 0 || len > steps)
      return ctx.error("sequence_lens[%lld] = %lld is outside [0, %lld]", static_cast<long long>(b),
                       static_cast<long long>(len), static_cast<long long>(steps));
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t from = t < len ? len - 1 - t : t;
      if (block > 0) std::memcpy(dst + offset(b, t), src + offset(b, from), block);
    }
  }
  return Status::ok();
}

// Determinant by LU decomposition with partial pivoting, in double: the product of the pivots,
// negated once per row swap.
double determinant(std::vector<double> a, int64_t m) {
  double det = 1.0;
  for (int64_t col = 0; col < m; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < m; ++r)
      if (std::fabs(a[static_cast<size_t>(r * m + col)]) >
          std::fabs(a[static_cast<size_t>(pivot * m + col)]))
        pivot = r;
    const double p = a[static_cast<size_t>(pivot * m + col)];
    if (p == 0.0) return 0.0;
    if (pivot != col) {
      for (int64_t k = 0; k < m; ++k)
        std::swap(a[static_cast<size_t>(pivot * m + k)], a[static_cast<size_t>(col * m + k)]);
      det = -det;
    }
    det *= p;
    for (int64_t r = col + 1; r < m; ++r) {
      const double f = a[static_cast<size_t>(r * m + col)] / p;
      if (f == 0.0) continue;
      for (int64_t k = col; k < m; ++k)
        a[static_cast<size_t>(r * m + k)] -= f * a[static_cast<size_t>(col * m + k)];
    }
  }
  return det;
}

Status detKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  if (x.rank() < 2 || x.dims[x.dims.size() - 1] != x.dims[x.dims.size() - 2])
    return ctx.error("X must have shape [*, M, M], got %s", ir::dimsToString(x.dims).c_str());
  const int64_t m = x.dims.back();
  const int64_t count = ctx.outputs[0].numel();
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = ctx.outputs[0].as<T>();
    std::vector<double> a(static_cast<size_t>(m * m));
    for (int64_t b = 0; b < count; ++b) {
      for (int64_t e = 0; e < m * m; ++e)
        a[static_cast<size_t>(e)] = loadAsDouble(xp[b * m * m + e]);
      yp[b] = storeFromDouble<T>(determinant(a, m));  // M = 0: the empty product, 1
    }
    return Status::ok();
  });
}

// --- HannWindow, HammingWindow, BlackmanWindow
// ------------------------------------------------------

// w[n] = a0 - a1 cos(2 pi n / L) + a2 cos(4 pi n / L) for n in [0, size), L = size (periodic=1)
// or size - 1 (periodic=0). Hann: a0 = a1 = 0.5; Hamming: a0 = 25/46, a1 = 21/46; Blackman:
// a0 = 0.42, a1 = 0.5, a2 = 0.08. A symmetric window of size 1 (L = 0) is [1].
Status windowKernel(CpuKernelContext& ctx) {
  CpuTensor& y = ctx.outputs[0];
  const int64_t size = ctx.inputs[0].intAt(0);
  if (size != y.numel())
    return ctx.error("size %lld does not match the output's %lld elements",
                     static_cast<long long>(size), static_cast<long long>(y.numel()));
  double a0 = 0.5, a1 = 0.5, a2 = 0.0;
  if (ctx.node.op == ir::OpKind::kHammingWindow) {
    a0 = 25.0 / 46.0;
    a1 = 21.0 / 46.0;
  } else if (ctx.node.op == ir::OpKind::kBlackmanWindow) {
    a0 = 0.42;
    a1 = 0.5;
    a2 = 0.08;
  }
  const bool periodic = ctx.attrs().getInt("periodic", 1) != 0;
  const double len = static_cast<double>(periodic ? size : size - 1);
  return ew::dispatchType<ew::kSetNumeric>(ctx, y.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* yp = y.as<T>();
    for (int64_t i = 0; i < size; ++i) {
      double w = 1.0;
      if (len > 0) {
        const double phase = 2.0 * std::numbers::pi * static_cast<double>(i) / len;
        w = a0 - a1 * std::cos(phase) + a2 * std::cos(2.0 * phase);
      }
      yp[i] = storeFromDouble<T>(w);
    }
    return Status::ok();
  });
}

}  // namespace

void registerMiscKernels(CpuKernelTable& t) {
  auto set = [&t](ir::OpKind op, CpuKernelFn fn) { t[static_cast<size_t>(op)] = fn; };
  set(ir::OpKind::kSoftmaxCrossEntropyLoss, &lossKernel);
  set(ir::OpKind::kNegativeLogLikelihoodLoss, &lossKernel);
  set(ir::OpKind::kSwish, &swishKernel);
  set(ir::OpKind::kSwiGLU, &swiGluKernel);
  set(ir::OpKind::kEyeLike, &eyeLikeKernel);
  set(ir::OpKind::kReverseSequence, &reverseSequenceKernel);
  set(ir::OpKind::kDet, &detKernel);
  set(ir::OpKind::kHannWindow, &windowKernel);
  set(ir::OpKind::kHammingWindow, &windowKernel);
  set(ir::OpKind::kBlackmanWindow, &windowKernel);
}

}  // namespace kiln::cpu
