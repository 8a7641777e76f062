// CPU reference kernels of the ops whose output shapes depend on input data: NonZero, Compress,
// Unique, NonMaxSuppression.
//
// Their outputs were sized by the shape function from the same data with the same selection
// algorithm (ir/data_dependent.h); each kernel recomputes the selection, checks it matches the
// output dims it was given (an internal error otherwise, never a write out of bounds) and fills
// every element. Data moves by element size, so Compress and Unique's Y work for every type.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "ir/data_dependent.h"

namespace kiln::cpu {

namespace {

Status checkOutputDims(const CpuKernelContext& ctx, size_t i, const std::vector<int64_t>& want) {
  if (i >= ctx.outputs.size()) return Status::ok();
  if (ctx.outputs[i].dims != want)
    return internalError(
        "%s: output %zu was allocated as %s, but the data gives %s", ctx.node.describe().c_str(), i,
        ir::dimsToString(ctx.outputs[i].dims).c_str(), ir::dimsToString(want).c_str());
  return Status::ok();
}

Status checkOutputCount(const CpuKernelContext& ctx, size_t minOutputs, size_t maxOutputs) {
  if (ctx.outputs.size() < minOutputs || ctx.outputs.size() > maxOutputs)
    return ctx.error("expects %zu to %zu outputs, got %zu", minOutputs, maxOutputs,
                     ctx.outputs.size());
  return Status::ok();
}

// --- NonZero -------------------------------------------------------------------------------------

// out[d, k] = coordinate d of the k-th non-zero element in row-major order (a scalar is a
// 1-element vector).
Status nonZeroKernel(CpuKernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkOutputCount(ctx, 1, 1));
  if (ctx.inputs.size() != 1) return ctx.error("expects 1 input, got %zu", ctx.inputs.size());
  const CpuTensor& x = ctx.inputs[0];
  const int64_t numel = x.numel();
  if (numel > 0 && !x.present()) return ctx.error("input 0 (X) is required");
  const int64_t nnz = ir::datadep::countNonZero(x.dtype, x.data, numel);
  const std::vector<int64_t> dims = x.dims.empty() ? std::vector<int64_t>{1} : x.dims;
  const auto rank = static_cast<int64_t>(dims.size());
  KILN_RETURN_IF_ERROR(checkOutputDims(ctx, 0, {rank, nnz}));
  auto* out = ctx.outputs[0].as<int64_t>();
  int64_t k = 0;
  for (int64_t i = 0; i < numel; ++i) {
    if (!ir::datadep::isNonZero(x.dtype, x.data, i)) continue;
    int64_t rest = i;
    for (int64_t d = rank - 1; d >= 0; --d) {
      const int64_t extent = dims[static_cast<size_t>(d)];
      out[d * nnz + k] = rest % extent;
      rest /= extent;
    }
    ++k;
  }
  return Status::ok();
}

// --- Compress ------------------------------------------------------------------------------------

// Copies the slices along `axis` (elements of the flattened input without it) whose condition
// entry is true.
Status compressKernel(CpuKernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkOutputCount(ctx, 1, 1));
  if (ctx.inputs.size() != 2) return ctx.error("expects 2 inputs, got %zu", ctx.inputs.size());
  const CpuTensor& in = ctx.inputs[0];
  const CpuTensor& cond = ctx.inputs[1];
  if (cond.dtype != DataType::kBOOL || cond.rank() != 1)
    return ctx.error("condition must be a 1-D bool tensor, got %s %s", dataTypeName(cond.dtype),
                     ir::dimsToString(cond.dims).c_str());
  int64_t outer = 1, n = in.numel(), inner = 1;
  std::vector<int64_t> outDims;
  const bool hasAxis = ctx.attrs().has("axis");
  int64_t axis = 0;
  if (hasAxis) {
    axis = ctx.attrs().getInt("axis", 0);
    if (axis < 0) axis += in.rank();
    if (axis < 0 || axis >= in.rank())
      return ctx.error("axis %lld is out of range for rank %lld",
                       static_cast<long long>(ctx.attrs().getInt("axis", 0)),
                       static_cast<long long>(in.rank()));
    n = in.dims[static_cast<size_t>(axis)];
    for (int64_t k = 0; k < axis; ++k) outer *= in.dims[static_cast<size_t>(k)];
    for (int64_t k = axis + 1; k < in.rank(); ++k) inner *= in.dims[static_cast<size_t>(k)];
  }
  const int64_t kept = ir::datadep::countKept(cond.data, cond.numel(), n);
  if (hasAxis) {
    outDims = in.dims;
    outDims[static_cast<size_t>(axis)] = kept;
  } else {
    outDims = {kept};
  }
  KILN_RETURN_IF_ERROR(checkOutputDims(ctx, 0, outDims));
  const auto* c = cond.as<const uint8_t>();
  const size_t rowBytes = static_cast<size_t>(inner) * dataTypeSize(in.dtype);
  const auto* src = in.as<const uint8_t>();
  auto* dst = ctx.outputs[0].as<uint8_t>();
  for (int64_t o = 0; rowBytes > 0 && o < outer; ++o) {
    for (int64_t j = 0; j < std::min(n, cond.numel()); ++j) {
      if (!c[j]) continue;
      std::memcpy(dst, src + static_cast<size_t>(o * n + j) * rowBytes, rowBytes);
      dst += rowBytes;
    }
  }
  return Status::ok();
}

// --- Unique --------------------------------------------------------------------------------------

Status uniqueKernel(CpuKernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkOutputCount(ctx, 1, 4));
  if (ctx.inputs.size() != 1) return ctx.error("expects 1 input, got %zu", ctx.inputs.size());
  const CpuTensor& x = ctx.inputs[0];
  if (!ir::datadep::uniqueSupportsType(x.dtype)) return ctx.unsupportedType(x.dtype);
  const bool sorted = ctx.attrs().getInt("sorted", 1) != 0;
  int64_t outer = 1, n = x.numel(), inner = 1;
  const bool hasAxis = ctx.attrs().has("axis");
  int64_t axis = 0;
  if (hasAxis) {
    axis = ctx.attrs().getInt("axis", 0);
    if (axis < 0) axis += x.rank();
    if (axis < 0 || axis >= x.rank())
      return ctx.error("axis %lld is out of range for rank %lld",
                       static_cast<long long>(ctx.attrs().getInt("axis", 0)),
                       static_cast<long long>(x.rank()));
    n = x.dims[static_cast<size_t>(axis)];
    for (int64_t k = 0; k < axis; ++k) outer *= x.dims[static_cast<size_t>(k)];
    for (int64_t k = axis + 1; k < x.rank(); ++k) inner *= x.dims[static_cast<size_t>(k)];
  }
  const ir::datadep::UniqueGroups g =
      ir::datadep::uniqueSlices(x.dtype, x.data, outer, n, inner, sorted);
  const auto u = static_cast<int64_t>(g.first.size());
  std::vector<int64_t> yDims = {u};
  if (hasAxis) {
    yDims = x.dims;
    yDims[static_cast<size_t>(axis)] = u;
  }
  KILN_RETURN_IF_ERROR(checkOutputDims(ctx, 0, yDims));
  KILN_RETURN_IF_ERROR(checkOutputDims(ctx, 1, {u}));
  KILN_RETURN_IF_ERROR(checkOutputDims(ctx, 2, {n}));
  KILN_RETURN_IF_ERROR(checkOutputDims(ctx, 3, {u}));

  // Y[o, k, :] = X[o, first[k], :].
  const size_t rowBytes = static_cast<size_t>(inner) * dataTypeSize(x.dtype);
  const auto* src = x.as<const uint8_t>();
  auto* y = ctx.outputs[0].as<uint8_t>();
  for (int64_t o = 0; rowBytes > 0 && o < outer; ++o)
    for (int64_t k = 0; k < u; ++k)
      std::memcpy(y + static_cast<size_t>(o * u + k) * rowBytes,
                  src + static_cast<size_t>(o * n + g.first[static_cast<size_t>(k)]) * rowBytes,
                  rowBytes);
  auto write = [&](size_t i, const std::vector<int64_t>& v) {
    if (i < ctx.outputs.size() && ctx.outputs[i].present() && !v.empty())
      std::memcpy(ctx.outputs[i].data, v.data(), v.size() * sizeof(int64_t));
  };
  write(1, g.first);
  write(2, g.inverse);
  write(3, g.counts);
  return Status::ok();
}

// --- NonMaxSuppression ---------------------------------------------------------------------------

// Reads the optional scalar input i (absent or empty: not given).
const CpuTensor* scalarInput(const CpuKernelContext& ctx, size_t i) {
  return ctx.hasInput(i) && ctx.inputs[i].numel() == 1 ? &ctx.inputs[i] : nullptr;
}

Status nonMaxSuppressionKernel(CpuKernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkOutputCount(ctx, 1, 1));
  if (ctx.inputs.size() < 2 || !ctx.hasInput(0) || !ctx.hasInput(1))
    return ctx.error("boxes and scores are required");
  const CpuTensor& boxes = ctx.inputs[0];
  const CpuTensor& scores = ctx.inputs[1];
  if (boxes.dtype != DataType::kFLOAT || scores.dtype != DataType::kFLOAT)
    return ctx.unsupportedType(boxes.dtype != DataType::kFLOAT ? boxes.dtype : scores.dtype);
  if (boxes.rank() != 3 || boxes.dims[2] != 4 || scores.rank() != 3 ||
      boxes.dims[0] != scores.dims[0] || boxes.dims[1] != scores.dims[2])
    return ctx.error("boxes %s and scores %s must have shapes [B, N, 4] and [B, C, N]",
                     ir::dimsToString(boxes.dims).c_str(), ir::dimsToString(scores.dims).c_str());
  ir::datadep::NmsOptions opt;
  opt.centerPointBox = ctx.attrs().getInt("center_point_box", 0) == 1;
  if (const CpuTensor* t = scalarInput(ctx, 2)) opt.maxPerClass = t->intAt(0);
  if (const CpuTensor* t = scalarInput(ctx, 3))
    opt.iouThreshold = static_cast<float>(t->doubleAt(0));
  if (const CpuTensor* t = scalarInput(ctx, 4)) {
    opt.hasScoreThreshold = true;
    opt.scoreThreshold = static_cast<float>(t->doubleAt(0));
  }
  if (!(opt.iouThreshold >= 0.f && opt.iouThreshold <= 1.f))
    return ctx.error("iou_threshold must be in [0, 1], got %g",
                     static_cast<double>(opt.iouThreshold));
  const auto selected =
      ir::datadep::nonMaxSuppression(boxes.as<const float>(), scores.as<const float>(),
                                     boxes.dims[0], scores.dims[1], boxes.dims[1], opt);
  KILN_RETURN_IF_ERROR(checkOutputDims(ctx, 0, {static_cast<int64_t>(selected.size()), 3}));
  auto* out = ctx.outputs[0].as<int64_t>();
  for (size_t k = 0; k < selected.size(); ++k)
    for (size_t j = 0; j < 3; ++j) out[k * 3 + j] = selected[k][j];
  return Status::ok();
}

}  // namespace

void registerDataDepKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kNonZero)] = nonZeroKernel;
  t[static_cast<size_t>(ir::OpKind::kCompress)] = compressKernel;
  t[static_cast<size_t>(ir::OpKind::kUnique)] = uniqueKernel;
  t[static_cast<size_t>(ir::OpKind::kNonMaxSuppression)] = nonMaxSuppressionKernel;
}

}  // namespace kiln::cpu
