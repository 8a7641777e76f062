// CPU reference kernels for the Norm family (see ops.def): BatchNormalization (inference form),
// LayerNormalization, InstanceNormalization, GroupNormalization, Softmax, LogSoftmax.
//
// Every kernel reads its elements in their storage type and computes in double (the oracle is
// at least as precise as any precision a model asks for, stash_type included), then rounds once.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

namespace {

int64_t product(const std::vector<int64_t>& d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= d[i];
  return n;
}

// Writes v into element i of a float tensor of any float dtype.
void storeDoubleAt(CpuTensor& t, int64_t i, double v) {
  switch (t.dtype) {
    case DataType::kFLOAT: t.as<float>()[i] = static_cast<float>(v); return;
    case DataType::kDOUBLE: t.as<double>()[i] = v; return;
    case DataType::kHALF: t.as<Half>()[i] = Half(static_cast<float>(v)); return;
    case DataType::kBF16: t.as<BFloat16>()[i] = BFloat16(static_cast<float>(v)); return;
    default: KILN_CHECK_MSG(false, "storeDoubleAt: not a float tensor");
  }
}

Status expectPerChannel(const CpuKernelContext& ctx, size_t i, const char* what, int64_t c) {
  if (ctx.inputs[i].numel() != c)
    return ctx.error("%s has %lld values, expected %lld (one per channel)", what,
                     static_cast<long long>(ctx.inputs[i].numel()), static_cast<long long>(c));
  return Status::ok();
}

// Y = (X - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c], c = index along axis 1.
Status batchNormKernel(CpuKernelContext& ctx) {
  if (ctx.attrs().getInt("training_mode", 0) != 0)
    return unsupported("%s: training_mode=1 is not supported (Kiln runs inference only)", ctx.node.describe().c_str());
  const CpuTensor& x = ctx.inputs[0];
  if (x.rank() < 2) return ctx.error("X must have rank >= 2");
  const int64_t c = x.dims[1];
  const char* names[] = {"scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) KILN_RETURN_IF_ERROR(expectPerChannel(ctx, i, names[i - 1], c));
  const double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  const std::vector<double> scale = tensorToDoubles(ctx.inputs[1]), bias = tensorToDoubles(ctx.inputs[2]),
                            mean = tensorToDoubles(ctx.inputs[3]), var = tensorToDoubles(ctx.inputs[4]);
  const int64_t outer = x.dims[0], inner = product(x.dims, 2, x.dims.size());
  CpuTensor& y = ctx.outputs[0];
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = y.as<T>();
    for (int64_t n = 0; n < outer; ++n)
      for (int64_t ch = 0; ch < c; ++ch) {
        const size_t k = static_cast<size_t>(ch);
        const double mul = scale[k] / std::sqrt(var[k] + eps);
        const double add = bias[k] - mean[k] * mul;
        const int64_t base = (n * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) yp[base + i] = storeFromDouble<T>(loadAsDouble(xp[base + i]) * mul + add);
      }
    return Status::ok();
  });
}

// Mean and 1/sqrt(variance + eps) of `count` values (two passes: no cancellation).
template <typename T, typename Index>
void momentsOf(const T* x, int64_t count, Index&& at, double eps, double* mean, double* invStd) {
  double s = 0;
  for (int64_t i = 0; i < count; ++i) s += loadAsDouble(x[at(i)]);
  const double m = count > 0 ? s / static_cast<double>(count) : 0.0;
  double v = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = loadAsDouble(x[at(i)]) - m;
    v += d * d;
  }
  v = count > 0 ? v / static_cast<double>(count) : 0.0;
  *mean = m;
  *invStd = 1.0 / std::sqrt(v + eps);
}

// For every position j of the normalized block X.shape[axis:], the element of a parameter of
// shape `p` (unidirectionally broadcast to that block) it uses.
StatusOr<std::vector<int64_t>> broadcastIndex(const CpuKernelContext& ctx, const std::vector<int64_t>& block,
                                              const std::vector<int64_t>& p, const char* what) {
  if (p.size() > block.size()) return ctx.error("%s has a higher rank than the normalized shape", what);
  const size_t off = block.size() - p.size();
  std::vector<int64_t> stride(block.size(), 0);
  int64_t s = 1;
  for (size_t i = p.size(); i-- > 0;) {
    if (p[i] != 1 && p[i] != block[off + i])
      return ctx.error("%s of shape %s cannot be broadcast to the normalized shape %s", what,
                       ir::dimsToString(p).c_str(), ir::dimsToString(block).c_str());
    stride[off + i] = p[i] == 1 ? 0 : s;
    s *= p[i];
  }
  const int64_t vol = product(block, 0, block.size());
  std::vector<int64_t> out(static_cast<size_t>(vol));
  std::vector<int64_t> idx(block.size(), 0);
  for (int64_t j = 0; j < vol; ++j) {
    int64_t at = 0;
    for (size_t d = 0; d < block.size(); ++d) at += idx[d] * stride[d];
    out[static_cast<size_t>(j)] = at;
    for (size_t d = block.size(); d-- > 0;) {
      if (++idx[d] < block[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// Y = (X - mean) * invStd * Scale + B over the block X.shape[axis:].
Status layerNormKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return ctx.error("axis is out of range for rank %lld", static_cast<long long>(rank));
  const std::vector<int64_t> block(x.dims.begin() + axis, x.dims.end());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> scaleAt, broadcastIndex(ctx, block, ctx.inputs[1].dims, "Scale"));
  std::vector<int64_t> biasAt;
  if (ctx.hasInput(2)) {
    KILN_ASSIGN_OR_RETURN(biasAt, broadcastIndex(ctx, block, ctx.inputs[2].dims, "B"));
  }
  const std::vector<double> scale = tensorToDoubles(ctx.inputs[1]);
  const std::vector<double> bias = ctx.hasInput(2) ? tensorToDoubles(ctx.inputs[2]) : std::vector<double>{};
  const double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  const int64_t outer = product(x.dims, 0, static_cast<size_t>(axis));
  const int64_t inner = product(x.dims, static_cast<size_t>(axis), x.dims.size());
  CpuTensor& y = ctx.outputs[0];
  CpuTensor* meanOut = ctx.outputs.size() > 1 && ctx.outputs[1].present() ? &ctx.outputs[1] : nullptr;
  CpuTensor* invStdOut = ctx.outputs.size() > 2 && ctx.outputs[2].present() ? &ctx.outputs[2] : nullptr;
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = y.as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = xp + o * inner;
      double mean = 0, invStd = 0;
      momentsOf(row, inner, [](int64_t i) { return i; }, eps, &mean, &invStd);
      for (int64_t j = 0; j < inner; ++j) {
        double v = (loadAsDouble(row[j]) - mean) * invStd * scale[static_cast<size_t>(scaleAt[static_cast<size_t>(j)])];
        if (!bias.empty()) v += bias[static_cast<size_t>(biasAt[static_cast<size_t>(j)])];
        yp[o * inner + j] = storeFromDouble<T>(v);
      }
      if (meanOut) storeDoubleAt(*meanOut, o, mean);
      if (invStdOut) storeDoubleAt(*invStdOut, o, invStd);
    }
    return Status::ok();
  });
}

// Instance (groups == C) and group normalization: per (n, group) statistics over the group's
// channels and all spatial positions, then per-channel scale and bias.
Status groupNormCommon(CpuKernelContext& ctx, int64_t groups) {
  const CpuTensor& x = ctx.inputs[0];
  if (x.rank() < 2) return ctx.error("input must have rank >= 2");
  const int64_t n = x.dims[0], c = x.dims[1], spatial = product(x.dims, 2, x.dims.size());
  if (groups < 1 || c % groups != 0)
    return ctx.error("num_groups=%lld does not divide the channel count %lld", static_cast<long long>(groups),
                     static_cast<long long>(c));
  KILN_RETURN_IF_ERROR(expectPerChannel(ctx, 1, "scale", c));
  KILN_RETURN_IF_ERROR(expectPerChannel(ctx, 2, "bias", c));
  const std::vector<double> scale = tensorToDoubles(ctx.inputs[1]), bias = tensorToDoubles(ctx.inputs[2]);
  const double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  const int64_t perGroup = c / groups * spatial;  // contiguous: channels of a group are adjacent
  CpuTensor& y = ctx.outputs[0];
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = y.as<T>();
    for (int64_t b = 0; b < n * groups; ++b) {
      const T* blk = xp + b * perGroup;
      double mean = 0, invStd = 0;
      momentsOf(blk, perGroup, [](int64_t i) { return i; }, eps, &mean, &invStd);
      for (int64_t i = 0; i < perGroup; ++i) {
        const size_t ch = static_cast<size_t>((b % groups) * (c / groups) + i / std::max<int64_t>(spatial, 1));
        yp[b * perGroup + i] = storeFromDouble<T>((loadAsDouble(blk[i]) - mean) * invStd * scale[ch] + bias[ch]);
      }
    }
    return Status::ok();
  });
}

Status instanceNormKernel(CpuKernelContext& ctx) {
  if (ctx.inputs[0].rank() < 3) return ctx.error("input must have rank >= 3");
  return groupNormCommon(ctx, ctx.inputs[0].dims[1]);
}

Status groupNormKernel(CpuKernelContext& ctx) { return groupNormCommon(ctx, ctx.attrs().getInt("num_groups", 0)); }

// softmax(x)_i = exp(x_i - max) / sum_j exp(x_j - max); log-softmax = x_i - max - log(sum).
// Subtracting the max keeps every exponent <= 0, so large logits cannot overflow.
Status softmaxKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return ctx.error("axis is out of range for rank %lld", static_cast<long long>(rank));
  const bool isLog = ctx.node.op == ir::OpKind::kLogSoftmax;
  const int64_t outer = product(x.dims, 0, static_cast<size_t>(axis));
  const int64_t len = x.dims[static_cast<size_t>(axis)];
  const int64_t inner = product(x.dims, static_cast<size_t>(axis) + 1, x.dims.size());
  CpuTensor& y = ctx.outputs[0];
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    T* yp = y.as<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        const int64_t base = o * len * inner + in;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < len; ++k) mx = std::max(mx, loadAsDouble(xp[base + k * inner]));
        double sum = 0;
        for (int64_t k = 0; k < len; ++k) sum += std::exp(loadAsDouble(xp[base + k * inner]) - mx);
        const double logSum = std::log(sum);
        for (int64_t k = 0; k < len; ++k) {
          const double shifted = loadAsDouble(xp[base + k * inner]) - mx;
          yp[base + k * inner] = storeFromDouble<T>(isLog ? shifted - logSum : std::exp(shifted) / sum);
        }
      }
    return Status::ok();
  });
}

}  // namespace

void registerNormKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kBatchNormalization)] = &batchNormKernel;
  t[static_cast<size_t>(ir::OpKind::kLayerNormalization)] = &layerNormKernel;
  t[static_cast<size_t>(ir::OpKind::kInstanceNormalization)] = &instanceNormKernel;
  t[static_cast<size_t>(ir::OpKind::kGroupNormalization)] = &groupNormKernel;
  t[static_cast<size_t>(ir::OpKind::kSoftmax)] = &softmaxKernel;
  t[static_cast<size_t>(ir::OpKind::kLogSoftmax)] = &softmaxKernel;
}

}  // namespace kiln::cpu
